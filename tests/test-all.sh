#!/usr/bin/env bash
# Runs every check of the project: formatting, clippy, the Rust unit, property, integration
# and end-to-end tests, then the infra checks (infra/check.sh). Ends with one summary line.
#
# Needs a MySQL-compatible server: DATABASE_URL=mysql://user:password@host:3306/db (the tests
# create and drop their own databases beside it); without it, every test binary that needs
# MySQL starts one container through testcontainers, which needs Docker (the image:
# TESTCONTAINERS_MYSQL_IMAGE, default mysql:8.4). With DATABASE_URL, also a MariaDB server
# binary (mariadbd, or MARIADBD) for the TLS test's server of its own; without it, that server
# is a container too. Both are checked first, before anything is built. moto's server and the
# other Python tools are installed into a virtualenv under the cache folder and put on PATH;
# each test binary that needs moto starts its own (test_support::moto). The ip-ranges.json
# snapshots are the committed tests/fixtures/ip-ranges, or IP_RANGES_FIXTURES's folder.
#
# `tests/test-all.sh --mysql-only` runs only the MySQL-backed test binaries (each crate's
# `mysql`, the end-to-end tests): CI runs them a second time through testcontainers.
set -euo pipefail
source "$(dirname "$0")/env.sh"
mysql_only=false
case "${1:-}" in
--mysql-only) mysql_only=true ;;
"") ;;
*)
    echo "usage: tests/test-all.sh [--mysql-only]" >&2
    exit 2
    ;;
esac

# Within seconds, before anything is built: a MySQL that answers, or Docker for one per test
# binary.
require_mysql
# ingest-fn's TLS test starts a server of its own with a CA it makes: beside DATABASE_URL's
# server the machine's mariadbd, else a container (lambda_harness::mariadb).
if [ -n "${DATABASE_URL:-}" ]; then
    mariadbd=${MARIADBD:-/usr/sbin/mariadbd}
    [ -x "$mariadbd" ] || {
        echo "no MariaDB server binary at $mariadbd (with DATABASE_URL set, the TLS test runs one):" \
            "install mariadb-server, set MARIADBD to its path, or unset DATABASE_URL to run it" \
            "through testcontainers" >&2
        exit 1
    }
fi
# Another folder of snapshots (test_support::ip_ranges) must hold every one the tests replay.
if [ -n "${IP_RANGES_FIXTURES:-}" ]; then
    for committed in "$root"/tests/fixtures/ip-ranges/ip-ranges-*.json.gz; do
        date=${committed##*/ip-ranges-}
        date=${date%.json.gz}
        [ -f "$IP_RANGES_FIXTURES/ip-ranges-$date.json" ] || [ -f "$IP_RANGES_FIXTURES/ip-ranges-$date.json.gz" ] || {
            echo "IP_RANGES_FIXTURES=$IP_RANGES_FIXTURES holds no ip-ranges-$date.json or .json.gz" \
                "(the tests replay every snapshot of tests/fixtures/ip-ranges); unset it to use those" >&2
            exit 1
        }
        [ -f "$IP_RANGES_FIXTURES/notification-$date.json" ] || {
            echo "IP_RANGES_FIXTURES=$IP_RANGES_FIXTURES holds no notification-$date.json" >&2
            exit 1
        }
    done
fi
ensure_venv
ensure_node
ensure_infra_packages
# The RDS CA bundle the functions are deployed with, under the name they read it by: the TLS
# test checks sqlx accepts it (the functions the tests start do not inherit it).
export DB_CA_BUNDLE=$cache/rds-ca-bundle.pem
(cd "$root/infra" && npx tsx scripts/write-ca-bundle.ts "$DB_CA_BUNDLE")
cd "$root"
if $mysql_only; then
    rust_log=$cache/cargo-test-mysql.log
    status=0
    # --workspace: the same feature set as the full run, so nothing is rebuilt.
    cargo test --workspace --locked --no-fail-fast --test mysql --test e2e 2>&1 | tee "$rust_log" || status=1
    read -r passed failed < <(awk '/^test result:/ { p += $4; f += $6 } END { print p + 0, f + 0 }' "$rust_log")
    echo "mysql suites: $passed passed, $failed failed"
    [ "$passed" -gt 0 ] || status=1
    exit $status
fi
# Every function's environment as infra/ synthesizes it in all four modes: the crates'
# infra_environment tests feed each to the binary's own parser, and fail without this file.
export INFRA_FUNCTION_ENVIRONMENTS=$cache/function-environments.json
(cd "$root/infra" && npx tsx scripts/function-environments.ts "$INFRA_FUNCTION_ENVIRONMENTS")
cargo fmt --all -- --check
tests/rust-version.sh
cargo clippy --workspace --all-targets --locked -- -D warnings
rust_log=$cache/cargo-test.log
status=0
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$rust_log" || status=1
infra_log=$cache/infra-check.log
infra/check.sh 2>&1 | tee "$infra_log" || status=1

read -r rust_passed rust_failed < <(awk '/^test result:/ { p += $4; f += $6 } END { print p + 0, f + 0 }' "$rust_log")
read -r infra_passed infra_failed < <(sed -n 's/^infra: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$infra_log" | tail -1)
echo "rust: $rust_passed passed, $rust_failed failed"
echo "total: $((rust_passed + ${infra_passed:-0})) passed, $((rust_failed + ${infra_failed:-1})) failed"
exit $status
