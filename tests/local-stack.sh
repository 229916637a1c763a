#!/usr/bin/env bash
# The main job on one machine (docs/testing.md): a MySQL (DATABASE_URL, or a testcontainers MySQL
# when Docker runs) and on it the stack's own database (ingest_local_stack, created afresh), moto's
# EC2 API with stand-ins for the database's security groups, the migrations, both functions under
# `cargo lambda watch`, a sync from ip-ranges.json with the fence openings it reports, the groups
# as a table, a short ingest-load run verified by migrate (--verify-function), its table, JSON
# report and plot, and retention: ingest-expire expiring a few aged rows into moto's S3.
# Everything it starts is stopped again on exit, also on Ctrl-C.
#
# IP_RANGES_URL picks the file. By default the run is offline: the newest committed snapshot
# (tests/fixtures/ip-ranges, decompressed into the cache folder). The live file is one setting
# away: IP_RANGES_URL=https://ip-ranges.amazonaws.com/ip-ranges.json (or any file:// URL).
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
"")
    # sg-sync-fn reads plain JSON; the glob sorts, and ISO dates sort by time.
    snapshots=("$root"/tests/fixtures/ip-ranges/ip-ranges-*.json.gz)
    newest=${snapshots[-1]}
    plain=$cache/ip-ranges/$(basename "$newest" .gz)
    mkdir -p "$cache/ip-ranges"
    gzip -dc "$newest" >"$plain.partial" && mv "$plain.partial" "$plain" || {
        echo "decompressing $newest into $plain failed" >&2
        exit 1
    }
    export IP_RANGES_URL=file://$plain
    ;;
esac
ensure_local_stack_venv

export LOCAL_STACK_DIR=${LOCAL_STACK_DIR:-$cache/local-stack}
mkdir -p "$LOCAL_STACK_DIR"
cd "$root"
# The binaries this run starts, and nothing else, in one build: `cargo lambda watch` then runs
# `cargo run --bin <function>` from the workspace root, in the same target folder, profile and
# feature set, so it finds both functions fresh instead of compiling them again on their first
# invoke. A --bin at a virtual workspace's root resolves features over every member, as watch's
# `cargo run` does; no test targets, so no dev-dependency adds a feature. The testcontainers
# stack is compiled only for the Docker path (the `docker` feature, which local-stack passes
# on to watch).
bins=(--bin ingest-fn --bin sg-sync-fn --bin migrate --bin sg-sync --bin ingest-load --bin ingest-expire --bin local-stack)
features=()
[ -n "${DATABASE_URL:-}" ] || features=(--features local-stack/docker)
echo "building ${bins[*]} ${features[*]:-}" >&2
cargo build --quiet --locked "${bins[@]}" "${features[@]}"
exec "$CARGO_TARGET_DIR/debug/local-stack"
