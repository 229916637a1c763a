#!/usr/bin/env bash
# Runs every check of the workspace: formatting, clippy, unit, property and integration tests.
#
# Needs a MySQL-compatible server: DATABASE_URL=mysql://user:password@host:3306/db (the tests
# create and drop their own databases beside it); without it the tests start MySQL through
# testcontainers, which needs Docker. moto's EC2 server is installed into a virtualenv under
# the cache folder and started here on a free loopback port.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${PROJECT_CACHE:-${HOME:-/root}/.cache/lambda-rds-ingest}
mkdir -p "$cache"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$cache/target}
export IP_RANGES_FIXTURES=${IP_RANGES_FIXTURES:-$root/../shared/fixtures/ip-ranges}
[ -f "$IP_RANGES_FIXTURES/ip-ranges-2026-08-22.json" ] || {
    echo "IP_RANGES_FIXTURES=$IP_RANGES_FIXTURES holds no ip-ranges snapshots" >&2
    exit 1
}

venv=$cache/venv
if [ ! -x "$venv/bin/moto_server" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5,<6'
fi

port=$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$cache/moto.log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.2
done
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=ap-northeast-1

cd "$root"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
