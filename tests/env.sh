# Sourced by the scripts in tests/ and infra/: the cache folder, the cargo target folder, the
# project's Python virtualenv (moto, cfn-lint, cargo-lambda: on PATH after ensure_venv), and the
# checks that a MySQL answers and lets the tests' account in. moto's server is started by the
# Rust code that uses it (test_support::moto), one per test binary or local stack, and stops
# with it.
# shellcheck shell=bash

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${PROJECT_CACHE:-${HOME:-/root}/.cache/lambda-rds-ingest}
mkdir -p "$cache"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$cache/target}
venv=$cache/venv

# Installs tests/requirements.txt into the virtualenv when it (or a file it includes) changed
# since the last install.
ensure_venv() {
    venv_install requirements.txt "$(requirements_hash)"
    export PATH=$venv/bin:$PATH
}

requirements_hash() {
    cat "$root/tests/requirements.txt" "$root/tests/requirements-local-stack.txt" \
        "$root/tests/requirements-check.txt" | sha256sum | cut -d' ' -f1
}

# What tests/local-stack.sh needs (requirements-local-stack.txt: moto, cargo-lambda, PyMySQL):
# nothing when the whole of requirements.txt is installed and current, else only that part.
ensure_local_stack_venv() {
    if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$(requirements_hash)" ]; then
        venv_install requirements-local-stack.txt \
            "$(cat "$root/tests/requirements-local-stack.txt" "$root/tests/requirements-check.txt" | sha256sum | cut -d' ' -f1)"
    fi
    export PATH=$venv/bin:$PATH
}

# venv_install FILE HASH: pip-installs tests/FILE into the virtualenv unless the install stamped
# with HASH (the hash of FILE and the files it includes) is already there.
venv_install() {
    local stamp=$venv/.${1%.txt}.sha256
    if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$2" ]; then
        echo "installing tests/$1 into $venv" >&2
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/tests/$1"
        echo "$2" >"$stamp"
    fi
}

# Installs only tests/requirements-check.txt (PyMySQL, seconds on a fresh machine) into the same
# virtualenv, for require_mysql's login check before ensure_venv installs everything else.
ensure_check_venv() {
    local stamp=$venv/.requirements-check.sha256 want
    want=$(sha256sum "$root/tests/requirements-check.txt" | cut -d' ' -f1)
    if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "installing tests/requirements-check.txt into $venv" >&2
        python3 -m venv "$venv" &&
            "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/tests/requirements-check.txt" || {
            echo "installing tests/requirements-check.txt (PyMySQL, for the login check) failed" >&2
            return 1
        }
        echo "$want" >"$stamp"
    fi
}

# The Node.js infra/ runs on when the machine's is older than 22 (20 reached its end of life on
# 2026-04-30): an LTS release from npm's node-linux-<arch> package, which ships only the node
# binary, so the machine's npm and npx run on it through their `#!/usr/bin/env node`.
node_version=24.22.3

# Puts a Node.js 22 or newer first on PATH: the machine's when it is recent enough, else
# node_version, installed once under the cache folder (no global install).
ensure_node() {
    local have major arch dir
    have=$(node --version 2>/dev/null)
    major=${have#v}
    major=${major%%.*}
    [[ $major =~ ^[0-9]+$ ]] && [ "$major" -ge 22 ] && return 0
    case $(uname -m) in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *)
        echo "node ${have:-(none)} is older than 22 and npm has no node-linux package for $(uname -m):" \
            "install Node.js 22 or newer" >&2
        return 1
        ;;
    esac
    dir=$cache/node-$node_version
    if ! "$dir/node_modules/node-linux-$arch/bin/node" --version >/dev/null 2>&1; then
        echo "node ${have:-(none)} is older than 22: installing node-linux-$arch@$node_version into $dir" >&2
        # Into a scratch folder of this shell's own first, so an interrupted install is never
        # taken for a finished one, and two scripts installing at once do not share one.
        local partial=$dir.partial.$$
        rm -rf "$partial"
        npm install --prefix "$partial" --no-audit --no-fund --loglevel=error \
            "node-linux-$arch@$node_version" || {
            rm -rf "$partial"
            echo "npm install node-linux-$arch@$node_version failed: install Node.js 22 or newer" >&2
            return 1
        }
        # Another script may have finished first: its copy is as good as this one.
        if "$dir/node_modules/node-linux-$arch/bin/node" --version >/dev/null 2>&1; then
            rm -rf "$partial"
        else
            rm -rf "$dir" && mv "$partial" "$dir" || return 1
        fi
    fi
    export PATH=$dir/node_modules/node-linux-$arch/bin:$PATH
}

# Installs the CDK app's packages (`npm ci`) when infra/package-lock.json changed since.
ensure_infra_packages() {
    local lock
    lock=$(sha256sum "$root/infra/package-lock.json" | cut -d' ' -f1)
    if [ "$(cat "$root/infra/node_modules/.lock.sha256" 2>/dev/null)" != "$lock" ]; then
        (cd "$root/infra" && npm ci --no-audit --no-fund --loglevel=error) || return 1
        echo "$lock" >"$root/infra/node_modules/.lock.sha256"
    fi
}

# mysql_answers URL: true when a server at URL's host and port sends a MySQL greeting (the
# server speaks first) within 3 s. Needs no client: bash's /dev/tcp.
mysql_answers() {
    local hostport host port
    hostport=${1#*://}
    hostport=${hostport##*@}
    hostport=${hostport%%[/?]*}
    host=${hostport%:*} port=${hostport##*:}
    [ "$host" != "$hostport" ] || port=3306
    host=${host#[} host=${host%]}
    [ "$(timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/$2" && head -c 5 <&3' _ "$host" "$port" 2>/dev/null | wc -c)" -eq 5 ]
}

# docker_answers: true when a Docker engine answers within 10 s where testcontainers looks
# for it (DOCKER_HOST, else /var/run/docker.sock).
docker_answers() {
    if command -v docker >/dev/null; then
        timeout 10 docker info >/dev/null 2>&1
    else
        local socket=${DOCKER_HOST:-unix:///var/run/docker.sock}
        [[ $socket == unix://* ]] && command -v curl >/dev/null &&
            timeout 10 curl -sf --unix-socket "${socket#unix://}" http://docker/_ping >/dev/null
    fi
}

# require_mysql: within seconds, before anything is built, that the tests will have a MySQL:
# DATABASE_URL answering and letting its account in with the grants the tests need, on a server
# no older than MySQL 8.4 or MariaDB 10.11; or (without DATABASE_URL) Docker for a
# testcontainers MySQL (TESTCONTAINERS_MYSQL_IMAGE, default mysql:8.4). Otherwise says in one
# line what is missing and fails.
require_mysql() {
    local image=${TESTCONTAINERS_MYSQL_IMAGE:-mysql:8.4}
    if [ -n "${DATABASE_URL:-}" ]; then
        if mysql_answers "$DATABASE_URL"; then
            # Then the login the tests will make: the version, the password, the database and
            # the grants, each failure said in one line (tests/mysql-check.py).
            ensure_check_venv && "$venv/bin/python" "$root/tests/mysql-check.py"
            return
        fi
        echo "DATABASE_URL=$(sed 's#//\([^:/@]*\):[^@]*@#//\1:***@#' <<<"$DATABASE_URL"): no MySQL" \
            "answers there within 3 s; start that server, or unset DATABASE_URL to run $image" \
            "through testcontainers (needs Docker)" >&2
        return 1
    fi
    if docker_answers; then
        echo "MySQL: $image through testcontainers (DATABASE_URL is not set)" >&2
        return 0
    fi
    echo "no MySQL: set DATABASE_URL=mysql://user:password@host:3306/db for a server you run" \
        "(MySQL 8.4 or MariaDB 10.11), or start Docker (${DOCKER_HOST:-/var/run/docker.sock}" \
        "does not answer) so that $image runs through testcontainers" >&2
    return 1
}
