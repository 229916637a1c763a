//! What a failed database operation means for the write: the one place that reads MySQL error
//! numbers and SQLSTATEs.
//!
//! Numbers from MySQL's server and client error references
//! (https://dev.mysql.com/doc/mysql-errors/8.4/en/server-error-reference.html,
//! https://dev.mysql.com/doc/mysql-errors/8.4/en/client-error-reference.html) and MariaDB's
//! (https://mariadb.com/docs/server/reference/error-codes/mariadb-error-code-reference), which
//! share them up to 1800 and differ above: MariaDB reports a read-only server as 1836
//! (https://mariadb.com/kb/en/e1836), MySQL as 1290 with the option's name
//! (https://mariadb.com/kb/en/e1290 says the same of MariaDB's `--read-only`).

/// What a failure means for the write, and so what helps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// The connection is gone, or none came in time: a new connection may work at once.
    Lost,
    /// The server refused the login (1045): renewed credentials may work at once.
    Denied,
    /// The server cannot take the write now (full, locked, read-only while it fails over): the
    /// same write later may work.
    Transient,
    /// The statement fails as written against this database (a missing grant, table or column,
    /// a value that does not fit): every retry fails the same way until someone changes the
    /// database.
    Permanent,
}

/// The driver's error kinds that matter here, apart from what the server said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The socket, TLS or the wire protocol failed.
    Transport,
    /// No pool connection within the connect timeout.
    PoolTimedOut,
    /// The pool was closed (the environment is shutting down).
    PoolClosed,
    /// The server answered with an error packet.
    Server,
    /// Anything else the driver reports (encoding, decoding, configuration).
    Other,
}

/// Classifies a failure by its MySQL error number (`code`), SQLSTATE and driver kind. The
/// number wins; the SQLSTATE class decides for numbers not listed; the kind decides without
/// either. An unknown server error is permanent: retrying what the server refused for a reason
/// nobody listed would only hide it.
pub(crate) fn classify(code: Option<u16>, sqlstate: Option<&str>, kind: Kind) -> Class {
    match code {
        // 1053 server shutdown, 1927 connection killed (MariaDB), 2006 server has gone away,
        // 2013 lost connection during query, 4031 disconnected for inactivity (MySQL 8).
        Some(1053 | 1927 | 2006 | 2013 | 4031) => return Class::Lost,
        // ER_ACCESS_DENIED_ERROR: an expired IAM token or a rotated password.
        Some(1045) => return Class::Denied,
        // 1040 too many connections, 1203 the account's max_user_connections, 1205 lock wait
        // timeout, 1213 deadlock, 1290 --read-only (MySQL; an RDS primary being demoted),
        // 1836 read-only mode (MariaDB), 9501 RDS Proxy timed out waiting for a database
        // connection (its pool is full: `-c proxy=true`).
        // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.troubleshooting.html
        Some(1040 | 1203 | 1205 | 1213 | 1290 | 1836 | 9501) => return Class::Transient,
        _ => {}
    }
    match sqlstate.map(|s| s.get(..2).unwrap_or(s)) {
        // Connection exception.
        Some("08") => return Class::Lost,
        // Transaction rollback (serialization failure, deadlock).
        Some("40") => return Class::Transient,
        _ => {}
    }
    match kind {
        Kind::Transport | Kind::PoolTimedOut => Class::Lost,
        Kind::PoolClosed => Class::Transient,
        Kind::Server | Kind::Other => Class::Permanent,
    }
}

/// Whether the server behind a connection refused the write because it is read-only: MySQL's
/// 1290 (ER_OPTION_PREVENTS_STATEMENT, `--read-only`) or MariaDB's 1836. After an Aurora
/// failover "The old writer restarts and is then set to read-only mode"
/// (https://repost.aws/knowledge-center/aurora-mysql-db-cluser-read-only-error): a connection
/// that still reaches it answers every write so, and only a new one, through the writer
/// endpoint, reaches the new writer. So the store drops such a connection instead of keeping
/// it for the next write.
pub(crate) fn read_only(code: Option<u16>) -> bool {
    matches!(code, Some(1290 | 1836))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_only_server_is_told_apart_from_other_transient_errors() {
        assert!(read_only(Some(1290)) && read_only(Some(1836)));
        for other in [
            None,
            Some(1040),
            Some(1205),
            Some(1213),
            Some(2013),
            Some(1142),
        ] {
            assert!(!read_only(other), "{other:?}");
        }
    }

    #[test]
    fn every_known_code_has_its_class() {
        use Class::*;
        let table: &[(u16, &str, Class, &str)] = &[
            (1053, "08S01", Lost, "server shutdown in progress"),
            (1927, "70100", Lost, "connection killed (MariaDB)"),
            (2006, "HY000", Lost, "server has gone away"),
            (2013, "HY000", Lost, "lost connection during query"),
            (4031, "HY000", Lost, "disconnected for inactivity (MySQL 8)"),
            (1045, "28000", Denied, "access denied: token, password"),
            (1040, "08004", Transient, "too many connections"),
            (1203, "42000", Transient, "max_user_connections"),
            (1205, "HY000", Transient, "lock wait timeout"),
            (1213, "40001", Transient, "deadlock"),
            (1290, "HY000", Transient, "--read-only (MySQL failover)"),
            (1836, "HY000", Transient, "read-only mode (MariaDB)"),
            (
                9501,
                "HY000",
                Transient,
                "RDS Proxy: no database connection in time",
            ),
            (1142, "42000", Permanent, "missing INSERT grant"),
            (1146, "42S02", Permanent, "table doesn't exist"),
            (1054, "42S22", Permanent, "unknown column"),
            (1406, "22001", Permanent, "data too long"),
            (1044, "42000", Permanent, "access denied to the database"),
            (1049, "42000", Permanent, "unknown database"),
            (1064, "42000", Permanent, "syntax error"),
            (1366, "HY000", Permanent, "incorrect value for a column"),
        ];
        for &(code, sqlstate, class, what) in table {
            assert_eq!(
                classify(Some(code), Some(sqlstate), Kind::Server),
                class,
                "{code} {what}"
            );
        }
    }

    #[test]
    fn without_a_listed_number_the_sqlstate_then_the_kind_decides() {
        assert_eq!(
            classify(Some(9999), Some("08S01"), Kind::Server),
            Class::Lost
        );
        assert_eq!(
            classify(Some(9999), Some("40001"), Kind::Server),
            Class::Transient
        );
        assert_eq!(
            classify(Some(9999), Some("HY000"), Kind::Server),
            Class::Permanent
        );
        assert_eq!(classify(None, None, Kind::Transport), Class::Lost);
        assert_eq!(classify(None, None, Kind::PoolTimedOut), Class::Lost);
        assert_eq!(classify(None, None, Kind::PoolClosed), Class::Transient);
        assert_eq!(classify(None, None, Kind::Other), Class::Permanent);
        // A number decides even when the kind says otherwise.
        assert_eq!(classify(Some(2013), None, Kind::Other), Class::Lost);
    }
}
