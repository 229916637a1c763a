#!/bin/sh
# The image's entrypoint. Honours the environment of testcontainers' MariaDB module, with the
# official image's names: MARIADB_DATABASE, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD,
# MARIADB_ROOT_PASSWORD (and MARIADB_USER with MARIADB_PASSWORD). On the first start it
# initialises the data directory without opening a port, then runs mariadbd in the foreground:
# its "mariadbd: ready for connections." and "port: 3306" lines on stderr are what the module
# waits for, so they must come from the server that serves, and only from it.
set -eu
datadir=/var/lib/mysql

# A value as an SQL string literal, and a name as an identifier.
sql_string() { printf "'%s'" "$(printf %s "$1" | sed -e 's/\\/\\\\/g' -e "s/'/''/g")"; }
sql_name() { printf '`%s`' "$(printf %s "$1" | sed 's/`/``/g')"; }

initial_sql() {
    password=$(sql_string "${MARIADB_ROOT_PASSWORD:-}")
    # mariadb-install-db made root@localhost; clients reach the container through Docker's
    # bridge, so root needs a remote account too.
    echo "FLUSH PRIVILEGES;"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $password;"
    echo "CREATE USER 'root'@'%' IDENTIFIED BY $password;"
    echo "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    if [ -n "${MARIADB_DATABASE:-}" ]; then
        echo "CREATE DATABASE IF NOT EXISTS $(sql_name "$MARIADB_DATABASE");"
    fi
    if [ -n "${MARIADB_USER:-}" ]; then
        echo "CREATE USER $(sql_string "$MARIADB_USER")@'%' IDENTIFIED BY $(sql_string "${MARIADB_PASSWORD:-}");"
        if [ -n "${MARIADB_DATABASE:-}" ]; then
            echo "GRANT ALL PRIVILEGES ON $(sql_name "$MARIADB_DATABASE").* TO $(sql_string "$MARIADB_USER")@'%';"
        fi
    fi
}

mkdir -p "$datadir" /run/mysqld
chown mysql:mysql "$datadir" /run/mysqld
if [ ! -d "$datadir/mysql" ]; then
    if [ -z "${MARIADB_ROOT_PASSWORD:-}" ] && [ -z "${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-}" ]; then
        echo "entrypoint: set MARIADB_ROOT_PASSWORD, or MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1" >&2
        exit 1
    fi
    echo "entrypoint: initialising $datadir" >&2
    mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db \
        --auth-root-authentication-method=normal >/dev/null
    initial_sql | mariadbd --user=mysql --datadir="$datadir" --bootstrap --skip-networking
fi
exec mariadbd --user=mysql --datadir="$datadir" --bind-address=0.0.0.0 --port=3306 \
    --skip-name-resolve "$@"
