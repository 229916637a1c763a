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
ensure_venv

export LOCAL_STACK_DIR=${LOCAL_STACK_DIR:-$cache/local-stack}
mkdir -p "$LOCAL_STACK_DIR"
cd "$root"
echo "building the workspace (migrate, ingest-load, local-stack)" >&2
# The targets `cargo test --workspace` builds (features unify the same way), and every binary:
# `--tests` alone leaves out the binaries of a package without integration tests (local-stack,
# ingest-load), and a stale one of the same name in the shared target folder would run instead.
cargo build --quiet --locked --workspace --bins --tests
exec "$CARGO_TARGET_DIR/debug/local-stack"
