#!/usr/bin/env bash
# The main job on one machine (see README): a MySQL (DATABASE_URL, or a testcontainers MySQL
# when Docker runs), moto's EC2 API with stand-ins for the database's security groups, the
# migrations, both functions under `cargo lambda watch`, a sync from ip-ranges.json, the groups
# as a table, and a short ingest-load run verified by migrate (--verify-function), its table,
# JSON report and plot.
# Everything it starts is stopped again on exit, also on Ctrl-C.
#
# IP_RANGES_URL picks the file (default: the live one; on a machine without internet, e.g.
# IP_RANGES_URL=file://$PWD/../shared/fixtures/ip-ranges/ip-ranges-2026-08-22.json).
# LOCAL_STACK_DIR is where the logs, the report and the plot go.
set -euo pipefail
source "$(dirname "$0")/env.sh"

# What the run needs and cannot build, checked before the build.
require_mysql
case "${IP_RANGES_URL:-}" in
file://*)
    [ -f "${IP_RANGES_URL#file://}" ] || {
        echo "IP_RANGES_URL=$IP_RANGES_URL: no such file" >&2
        exit 1
    }
    ;;
esac
ensure_venv

export LOCAL_STACK_DIR=${LOCAL_STACK_DIR:-$cache/local-stack}
mkdir -p "$LOCAL_STACK_DIR"
cd "$root"
echo "building the binaries (both functions, migrate, ingest-load, local-stack)" >&2
# Every binary and nothing else, the one build of the run: `cargo lambda watch` then runs
# `cargo run --bin <function>` from the workspace root, in the same target folder and profile,
# and a --bin of a virtual workspace resolves features for all its members, as --workspace
# does; without test targets, dev-dependencies add no features either. So watch finds both
# functions fresh instead of compiling them again on their first invoke. (With --tests, tokio
# gains features and everything above it would be built twice.)
cargo build --quiet --locked --workspace --bins
exec "$CARGO_TARGET_DIR/debug/local-stack"
