#!/usr/bin/env bash
# Runs every check of the project: formatting, clippy, the Rust unit, property, integration
# and end-to-end tests, then the infra checks (infra/check.sh). Ends with one summary line.
#
# Needs a MySQL-compatible server: DATABASE_URL=mysql://user:password@host:3306/db (the tests
# create and drop their own databases beside it); without it ingest-fn's tests start MySQL
# through testcontainers, which needs Docker. moto's EC2 server and the other Python tools are
# installed into a virtualenv under the cache folder; moto is started on a free port.
set -euo pipefail
source "$(dirname "$0")/env.sh"

export IP_RANGES_FIXTURES=${IP_RANGES_FIXTURES:-$root/../shared/fixtures/ip-ranges}
[ -f "$IP_RANGES_FIXTURES/ip-ranges-2026-08-22.json" ] || {
    echo "IP_RANGES_FIXTURES=$IP_RANGES_FIXTURES holds no ip-ranges snapshots" >&2
    exit 1
}
ensure_venv
ensure_infra_packages
# The RDS CA bundle the functions are deployed with: the TLS test checks sqlx accepts it.
export RDS_CA_BUNDLE=$cache/rds-ca-bundle.pem
(cd "$root/infra" && npx ts-node scripts/write-ca-bundle.ts "$RDS_CA_BUNDLE")
start_moto

cd "$root"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
rust_log=$cache/cargo-test.log
status=0
cargo test --workspace --locked 2>&1 | tee "$rust_log" || status=1
infra_log=$cache/infra-check.log
infra/check.sh 2>&1 | tee "$infra_log" || status=1

read -r rust_passed rust_failed < <(awk '/^test result:/ { p += $4; f += $6 } END { print p + 0, f + 0 }' "$rust_log")
read -r infra_passed infra_failed < <(sed -n 's/^infra: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$infra_log" | tail -1)
echo "rust: $rust_passed passed, $rust_failed failed"
echo "total: $((rust_passed + ${infra_passed:-0})) passed, $((rust_failed + ${infra_failed:-1})) failed"
exit $status
