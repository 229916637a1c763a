"""Logs in to DATABASE_URL's server as the tests will, and says in one line what is wrong.

tests/env.sh's require_mysql runs this within seconds, before anything is built, with PyMySQL
alone (tests/requirements-check.txt): a server older than the README's minimum, a refused login
(and for which user@host), a database that does not exist, or grants the tests need and the
account lacks, exactly those .ci/run grants: ALL PRIVILEGES ON `ingest%`.* WITH GRANT OPTION
(the tests create and drop `ingest_<purpose>_<id>` databases; migrate creates ingest-fn's account
and grants it the events table), CREATE USER ON *.*, and SELECT ON mysql.* (migrate reads back
what it created). Exit status 0 and one line on stderr when all is well, 1 and the problem
otherwise.

TLS is used whenever the server offers it (unless the URL says ssl-mode=disabled): MySQL 8.4's
caching_sha2_password sends the password in full only over TLS (or RSA, which would need the
cryptography package). The server's certificate is not verified: this is a prerequisite check
against the server the tests then use with the same URL.

Usage: python3 tests/mysql-check.py  (reads DATABASE_URL)
"""

import os
import re
import sys
from urllib.parse import parse_qs, unquote, urlsplit

import pymysql

# The README's minimum versions.
MINIMUM = {"MySQL": (8, 4), "MariaDB": (10, 11)}

# The database-level privileges that ALL grants on both engines (MariaDB adds DELETE HISTORY,
# later versions a few more, which the tests do not use).
DATABASE_PRIVILEGES = [
    "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "REFERENCES", "INDEX", "ALTER",
    "CREATE TEMPORARY TABLES", "LOCK TABLES", "EXECUTE", "CREATE VIEW", "SHOW VIEW",
    "CREATE ROUTINE", "ALTER ROUTINE", "EVENT", "TRIGGER",
]
# The tests' scratch databases are ingest_<purpose>_<id>: any such name stands for them all.
SCRATCH_DATABASE = "ingest_check"

# Server errors that say the login itself was refused.
ACCESS_DENIED = {1045, 1698}
DATABASE_ACCESS_DENIED = 1044
UNKNOWN_DATABASE = 1049


class Problem(Exception):
    """What is wrong, said in one line."""


def shown(url):
    """The URL without its password, as the messages quote it."""
    return re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", url)


def parse(url):
    parts = urlsplit(url)
    if parts.scheme not in ("mysql", "mariadb"):
        raise Problem("not a mysql://user:password@host:port/database URL")
    try:
        port = parts.port or 3306
    except ValueError as e:
        raise Problem(f"bad port: {e}") from None
    query = parse_qs(parts.query)
    return {
        "host": parts.hostname or "localhost",
        "port": port,
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "database": unquote(parts.path.lstrip("/")) or None,
        "tls": query.get("ssl-mode", ["preferred"])[-1].lower() != "disabled",
    }


def engine_and_version(server_version):
    """('MariaDB', (10, 11, 19), '10.11.19-MariaDB-...') from the greeting's version string.
    MariaDB before 11 prefixes it with 5.5.5- for old clients."""
    text = server_version
    engine = "MariaDB" if "MariaDB" in text else "MySQL"
    if engine == "MariaDB" and text.startswith("5.5.5-"):
        text = text[len("5.5.5-"):]
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    numbers = tuple(int(n) for n in m.groups("0")) if m else (0, 0, 0)
    return engine, numbers, text


def connect(target, database):
    """A connection, or the PyMySQL error with the connection as far as it got: past the
    greeting, it holds the server's version. PyMySQL 1.2 uses TLS when the server offers it
    (its preferred mode, the certificate unverified) unless told not to."""
    conn = pymysql.connections.Connection(
        host=target["host"],
        port=target["port"],
        user=target["user"],
        password=target["password"],
        database=database,
        connect_timeout=3,
        read_timeout=5,
        write_timeout=5,
        ssl_disabled=not target["tls"],
        defer_connect=True,
    )
    try:
        conn.connect()
        return conn, None
    except (pymysql.err.MySQLError, RuntimeError) as e:
        return conn, e


def require_version(conn):
    version = getattr(conn, "server_version", None)
    if not version:
        return None
    engine, numbers, text = engine_and_version(version)
    minimum = MINIMUM[engine]
    if numbers[:2] < minimum:
        raise Problem(
            f"the server is {engine} {text}, older than {engine} {minimum[0]}.{minimum[1]}; "
            "the tests need MySQL 8.4 or newer, or MariaDB 10.11 or newer"
        )
    return f"{engine} {text}"


def login_problem(error, target):
    code = error.args[0] if error.args and isinstance(error.args[0], int) else None
    text = error.args[1] if len(error.args) > 1 else str(error)
    if code in ACCESS_DENIED:
        return Problem(f"login refused: {text} (check the user and password in DATABASE_URL)")
    if code == UNKNOWN_DATABASE:
        name = target["database"]
        return Problem(
            f"the database `{name}` does not exist: create it as root (CREATE DATABASE `{name}`, "
            "as .ci/run does), or name an existing one in DATABASE_URL"
        )
    if isinstance(error, RuntimeError):
        # PyMySQL asks for the cryptography package when the server wants RSA.
        return Problem(
            f"login needs RSA key exchange ({error}): the server offered no TLS for "
            "caching_sha2_password; enable TLS on the server"
        )
    if code in (2003, 2013):
        return Problem(f"no MySQL login: {text}")
    return Problem(f"login failed: {error}")


def grantee(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT CURRENT_USER()")
        user, _, host = cur.fetchone()[0].rpartition("@")
    return f"'{user}'@'{host}'"


def privileges(conn, who, database):
    """{privilege: grantable} that apply to `database` (global or through a matching
    database-level grant, wildcards included)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.USER_PRIVILEGES "
            "WHERE GRANTEE = %s",
            (who,),
        )
        rows = list(cur.fetchall())
        if database is not None:
            cur.execute(
                "SELECT PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.SCHEMA_PRIVILEGES "
                "WHERE GRANTEE = %s AND %s LIKE TABLE_SCHEMA",
                (who, database),
            )
            rows += list(cur.fetchall())
    held = {}
    for privilege, grantable in rows:
        held[privilege] = held.get(privilege, False) or grantable == "YES"
    return held


def missing_grants(conn, target):
    """The grants .ci/run gives that the account lacks, each as a GRANT would name it."""
    who = grantee(conn)
    global_held = privileges(conn, who, None)
    missing = []
    databases = [("`ingest%`", SCRATCH_DATABASE)]
    name = target["database"]
    if name is not None and not name.startswith("ingest"):
        databases.append((f"`{name}`", name))
    for shown_name, database in databases:
        held = privileges(conn, who, database)
        lacking = [p for p in DATABASE_PRIVILEGES if p not in held]
        ungrantable = "GRANT OPTION" if not any(held.values()) else None
        if len(lacking) == len(DATABASE_PRIVILEGES):
            missing.append(f"ALL PRIVILEGES ON {shown_name}.* WITH GRANT OPTION")
        elif lacking:
            missing.append(
                f"ALL PRIVILEGES ON {shown_name}.* WITH GRANT OPTION (lacks {', '.join(lacking)})"
            )
        elif ungrantable:
            missing.append(f"GRANT OPTION ON {shown_name}.*")
    if "CREATE USER" not in global_held:
        missing.append("CREATE USER ON *.*")
    if "SELECT" not in privileges(conn, who, "mysql"):
        missing.append("SELECT ON mysql.*")
    if missing:
        raise Problem(
            f"{who} lacks grants the tests need: {'; '.join(missing)} "
            "(grant them as root, as .ci/run does)"
        )
    return who


def check(url):
    target = parse(url)
    conn, error = connect(target, target["database"])
    server = require_version(conn)
    if error is not None and error.args and error.args[0] == DATABASE_ACCESS_DENIED:
        # No rights on the named database: the grants say which are missing.
        conn, error = connect(target, None)
        if error is None:
            missing_grants(conn, target)
            raise Problem(f"login refused for the database `{target['database']}`")
    if error is not None:
        raise login_problem(error, target)
    try:
        server = server or require_version(conn)
        who = missing_grants(conn, target)
    finally:
        conn.close()
    return f"{server}, logged in as {who} with the grants the tests need"


def main():
    url = os.environ.get("DATABASE_URL", "")
    try:
        print(f"MySQL: DATABASE_URL={shown(url)}: {check(url)}", file=sys.stderr)
    except Problem as e:
        print(f"DATABASE_URL={shown(url)}: {e}", file=sys.stderr)
        sys.exit(1)
    except pymysql.err.MySQLError as e:
        print(f"DATABASE_URL={shown(url)}: checking the login's grants failed: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
