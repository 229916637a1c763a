//! Where a row is written: the [`EventStore`] seam, its MySQL implementation ([`mysql`]) and,
//! for the adapters' unit tests, one in memory.

pub(crate) mod class;
#[cfg(test)]
pub(crate) mod memory;
pub(crate) mod mysql;

use std::future::Future;

use chrono::NaiveDateTime;
use serde::Serialize;

pub(crate) use class::{Class, Kind, classify};
pub use mysql::MySqlStore;

/// An `events` row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub event_id: String,
    pub source: String,
    pub recorded_at: NaiveDateTime,
    pub received_at: NaiveDateTime,
    pub val1: f64,
    pub val2: f64,
    pub payload: Option<String>,
}

/// What the store wrote: new rows and events that were already stored. The reconnects are the
/// write's own, not a store-wide counter read before and after, so that an invocation's
/// metrics line counts only what its own write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Written {
    /// Rows that were new.
    pub inserted: u64,
    /// Rows whose `event_id` was already stored (a retry, a redelivery).
    pub duplicates: u64,
    /// Lost connections the write replaced with one that worked; for the metrics only.
    #[serde(skip)]
    pub reconnects: u64,
}

impl Written {
    /// `inserted` of `rows` were new; the rest were already stored.
    pub(crate) fn of(rows: &[Row], inserted: u64, reconnects: u64) -> Written {
        Written {
            inserted,
            duplicates: rows.len() as u64 - inserted,
            reconnects,
        }
    }
}

/// How long a write may wait for a database connection: as long as whoever waits for its
/// outcome can.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Each attempt up to `DB_CONNECT_TIMEOUT_MS`: a delivery that comes again if the write
    /// fails and that nobody is waiting on, so the longer wait costs nothing but the function's
    /// time (SQS, Kinesis; a direct invoke, which AWS IoT makes asynchronously, through Lambda's
    /// own queue: https://docs.aws.amazon.com/lambda/latest/dg/services-iot.html).
    Full,
    /// Every attempt together up to `DB_HTTP_CONNECT_TIMEOUT_MS`: an HTTP caller is waiting,
    /// and hears 503 with `Retry-After` instead of waiting out a resuming database. The attempt
    /// that was cut short has already woken a paused Aurora instance ("A connection attempt that
    /// doesn't include valid credentials still causes the DB instance to resume":
    /// https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html#auto-pause-waking),
    /// so the caller's retry finds it resumed.
    Short,
}

/// The seam between the core and the database.
pub trait EventStore: Send + Sync {
    /// Writes `rows` in one statement, waiting for a connection as `wait` allows: how many were
    /// new, how many already there, and the reconnects it took.
    fn insert(
        &self,
        rows: &[Row],
        wait: Wait,
    ) -> impl Future<Output = Result<Written, StoreError>> + Send;
}

/// Why a write failed, split by what helps: [`StoreError::is_permanent`] tells the caller
/// whether retrying can. Each keeps the driver's error as its source, and the MySQL error
/// number and SQLSTATE when the server sent them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The connection was lost, or none came in time, and a new one did not help either.
    #[error("lost the database connection{}: {detail}", number(*code))]
    Lost {
        code: Option<u16>,
        detail: String,
        #[source]
        source: Option<sqlx::Error>,
    },
    /// The server refused the login, renewed credentials included.
    #[error("the database refused the login{}: {}", number(*code), says(source))]
    Denied {
        code: Option<u16>,
        #[source]
        source: sqlx::Error,
    },
    /// The server cannot take the write now (too many connections, a lock, read-only while it
    /// fails over).
    #[error("the database cannot take the write now{}: {}", number(*code), says(source))]
    Busy {
        code: Option<u16>,
        sqlstate: Option<String>,
        #[source]
        source: sqlx::Error,
    },
    /// The statement fails as written against this database: retrying cannot help.
    #[error("the database rejected the write{}: {}", number(*code), says(source))]
    Rejected {
        code: Option<u16>,
        sqlstate: Option<String>,
        #[source]
        source: sqlx::Error,
    },
    /// The login's credentials could not be had (Secrets Manager, an IAM token).
    #[error("could not get database credentials: {0}")]
    Credentials(String),
}

impl StoreError {
    /// An error the driver reported, put in its [`Class`] by [`classify`]; `detail` says what
    /// was being done when a lost connection is the answer.
    pub(crate) fn from_sqlx(e: sqlx::Error, detail: impl FnOnce() -> String) -> StoreError {
        let code = mysql_code(&e);
        let sqlstate = e
            .as_database_error()
            .and_then(|db| db.code().map(|c| c.into_owned()));
        let kind = match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Kind::Transport,
            sqlx::Error::PoolTimedOut => Kind::PoolTimedOut,
            sqlx::Error::PoolClosed => Kind::PoolClosed,
            sqlx::Error::Database(_) => Kind::Server,
            _ => Kind::Other,
        };
        StoreError::classified(code, sqlstate, kind, e, detail)
    }

    /// The error of the class [`classify`] gives `code`, `sqlstate` and `kind`, with `e` as
    /// its source.
    pub(crate) fn classified(
        code: Option<u16>,
        sqlstate: Option<String>,
        kind: Kind,
        e: sqlx::Error,
        detail: impl FnOnce() -> String,
    ) -> StoreError {
        match classify(code, sqlstate.as_deref(), kind) {
            Class::Lost => StoreError::Lost {
                code,
                detail: format!("{}: {}", detail(), says(&e)),
                source: Some(e),
            },
            Class::Denied => StoreError::Denied { code, source: e },
            Class::Transient => StoreError::Busy {
                code,
                sqlstate,
                source: e,
            },
            Class::Permanent => StoreError::Rejected {
                code,
                sqlstate,
                source: e,
            },
        }
    }

    /// True when retrying the write cannot help until someone changes the database.
    pub(crate) fn is_permanent(&self) -> bool {
        matches!(self, StoreError::Rejected { .. })
    }

    /// The MySQL error number the server answered with, if it did.
    pub(crate) fn mysql_code(&self) -> Option<u16> {
        match self {
            StoreError::Lost { code, .. }
            | StoreError::Denied { code, .. }
            | StoreError::Busy { code, .. }
            | StoreError::Rejected { code, .. } => *code,
            StoreError::Credentials(_) => None,
        }
    }
}

pub(crate) use crate::server_error::mysql_code;
use crate::server_error::{number, says};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::{DENIED, LOST, MemoryStore, NO_GRANT, TOO_MANY};

    #[tokio::test]
    async fn a_server_error_keeps_its_number_sqlstate_and_source_in_its_class() {
        let cases = [
            (LOST, "lost the database connection (MySQL error 2013)"),
            (DENIED, "the database refused the login (MySQL error 1045)"),
            (
                TOO_MANY,
                "the database cannot take the write now (MySQL error 1040)",
            ),
            (
                NO_GRANT,
                "the database rejected the write (MySQL error 1142)",
            ),
        ];
        for (says, starts) in cases {
            let store = MemoryStore::failing_with(1, says);
            let e = store.insert(&[], Wait::Full).await.unwrap_err();
            assert!(e.to_string().starts_with(starts), "{e}");
            assert!(e.to_string().contains(says.2), "{e}");
            assert_eq!(e.mysql_code(), Some(says.0));
            assert_eq!(e.is_permanent(), says.0 == 1142);
            let source = std::error::Error::source(&e).unwrap();
            assert!(source.to_string().contains(says.1), "{source}");
        }
        let store = MemoryStore::failing_with(1, NO_GRANT);
        let Err(StoreError::Rejected { sqlstate, .. }) = store.insert(&[], Wait::Full).await else {
            panic!("a rejection")
        };
        assert_eq!(sqlstate.as_deref(), Some("42000"));
    }
}
