//! Why a run stopped short: each error names what failed with which input (the chunk, the
//! statement, the object key, S3's status and code) and says whether retrying helps.

use std::error::Error as StdError;

use ingest::config::ConfigError;
use ingest::server_error::{mysql_code, number, says};
use lambda_runtime::Diagnostic;

use crate::chunk::Chunk;

type Cause = Box<dyn StdError + Send + Sync>;

/// A statement on the events table failed.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{what}{}: {}{}", on(chunk), says(source), number(*code))]
    Sql {
        what: &'static str,
        chunk: Option<Chunk>,
        code: Option<u16>,
        #[source]
        source: sqlx::Error,
    },
    #[error("{what}{}: no answer within {timeout_ms} ms", on(chunk))]
    TimedOut {
        what: &'static str,
        chunk: Option<Chunk>,
        timeout_ms: u128,
    },
}

/// MySQL's errors that go away by themselves: a lock held too long (1205) or a deadlock (1213),
/// too many connections (1040), a server going away or shutting down (1053, 2006, 2013), a
/// read-only server during a failover (1290, 1836).
const TRANSIENT: [u16; 8] = [1040, 1053, 1205, 1213, 1290, 1836, 2006, 2013];

impl TableError {
    pub(crate) fn sql(
        what: &'static str,
        chunk: Option<Chunk>,
    ) -> impl FnOnce(sqlx::Error) -> TableError {
        move |source| TableError::Sql {
            what,
            chunk,
            code: mysql_code(&source),
            source,
        }
    }

    /// The MySQL error number, when the server gave one.
    pub fn mysql_code(&self) -> Option<u16> {
        match self {
            TableError::Sql { code, .. } => *code,
            TableError::TimedOut { .. } => None,
        }
    }

    /// Whether the same statement may succeed later: a lost connection, a timeout, a lock; not a
    /// missing grant, table or column.
    pub fn retry_helps(&self) -> bool {
        match self {
            TableError::TimedOut { .. } => true,
            TableError::Sql { code: Some(c), .. } => TRANSIENT.contains(c),
            TableError::Sql { source, .. } => !matches!(
                source,
                sqlx::Error::ColumnDecode { .. }
                    | sqlx::Error::ColumnNotFound(_)
                    | sqlx::Error::Decode(_)
                    | sqlx::Error::TypeNotFound { .. }
            ),
        }
    }
}

/// The archive's `PutObject` did not store the object: the chunk must not be deleted.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("PutObject {key}: HTTP {status} {}({message})", code.as_deref().map(|c| format!("{c} ")).unwrap_or_default())]
    Refused {
        key: String,
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// No complete answer: refused connection, timeout, a connection cut mid-upload. S3 never
    /// keeps a partial object, and it checks the checksum of what it got.
    #[error("PutObject {key}: no answer: {}", chain(source.as_ref()))]
    Transport {
        key: String,
        #[source]
        source: Cause,
    },
    #[error("PutObject {key}: 409 ConditionalRequestConflict {attempts} times in a row")]
    Conflict { key: String, attempts: u32 },
    #[error("PutObject {key}: AWS credentials: {detail}")]
    Credentials { key: String, detail: String },
    #[error("PutObject {key}: {detail}")]
    Signing { key: String, detail: String },
    #[error("encoding the archive object: {0}")]
    Encode(#[source] std::io::Error),
}

/// S3's error codes that go away by themselves (besides 5xx and 429): a slow or interrupted
/// upload, throttling, credentials that expired meanwhile, a body damaged on the way, a
/// concurrent operation. https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
const S3_TRANSIENT: [&str; 7] = [
    "RequestTimeout",
    "SlowDown",
    "ExpiredToken",
    "BadDigest",
    "XAmzContentSHA256Mismatch",
    "OperationAborted",
    "RequestTimeTooSkewed",
];

impl ArchiveError {
    pub fn retry_helps(&self) -> bool {
        match self {
            ArchiveError::Refused { status, code, .. } => {
                *status >= 500
                    || *status == 429
                    || code.as_deref().is_some_and(|c| S3_TRANSIENT.contains(&c))
            }
            ArchiveError::Transport { .. }
            | ArchiveError::Conflict { .. }
            | ArchiveError::Credentials { .. } => true,
            ArchiveError::Signing { .. } | ArchiveError::Encode(_) => false,
        }
    }
}

/// Why a run stopped before it was done. What it did until then stands (each chunk is deleted
/// on its own, after its archive object was stored); the next run resumes from the table's
/// oldest row.
#[derive(Debug, thiserror::Error)]
pub enum ExpireError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("logging in to the database: {}; {}", chain(source.as_ref()), advice(true))]
    Login {
        #[source]
        source: Cause,
    },
    #[error("{source}; {}", advice(source.retry_helps()))]
    Table {
        #[from]
        source: TableError,
    },
    #[error("archiving {chunk}, so nothing of it was deleted: {source}; {}", advice(source.retry_helps()))]
    Archive {
        chunk: Chunk,
        #[source]
        source: ArchiveError,
    },
}

impl ExpireError {
    pub fn retry_helps(&self) -> bool {
        match self {
            ExpireError::Config(_) => false,
            ExpireError::Login { .. } => true,
            ExpireError::Table { source } => source.retry_helps(),
            ExpireError::Archive { source, .. } => source.retry_helps(),
        }
    }

    /// The `errorType` of the invocation's failure.
    pub fn error_type(&self) -> &'static str {
        match self {
            ExpireError::Config(_) => "InvalidConfig",
            ExpireError::Login { .. } => "Login",
            ExpireError::Table { .. } => "Database",
            ExpireError::Archive { .. } => "Archive",
        }
    }
}

impl From<ExpireError> for Diagnostic {
    fn from(e: ExpireError) -> Diagnostic {
        Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

fn advice(retry_helps: bool) -> &'static str {
    if retry_helps {
        "retrying may help: the next run resumes from the oldest row left"
    } else {
        "retrying will not help until the cause is fixed"
    }
}

fn on(chunk: &Option<Chunk>) -> String {
    chunk.map(|c| format!(" of {c}")).unwrap_or_default()
}

/// An error and its causes, `: `-separated: reqwest's own message ("error sending request")
/// says little without its source ("connection reset by peer").
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_input_and_say_whether_retrying_helps() {
        let chunk = Chunk {
            first: 1000,
            last: 1999,
        };
        let e = ExpireError::from(TableError::TimedOut {
            what: "deleting",
            chunk: Some(chunk),
            timeout_ms: 5000,
        });
        assert_eq!(
            e.to_string(),
            "deleting of ids 1000..=1999: no answer within 5000 ms; retrying may help: the next \
             run resumes from the oldest row left"
        );
        assert_eq!(e.error_type(), "Database");
        let e = ExpireError::Archive {
            chunk,
            source: ArchiveError::Refused {
                key: "events/k.jsonl.gz".into(),
                status: 403,
                code: Some("AccessDenied".into()),
                message: "Access Denied".into(),
            },
        };
        assert_eq!(
            e.to_string(),
            "archiving ids 1000..=1999, so nothing of it was deleted: PutObject \
             events/k.jsonl.gz: HTTP 403 AccessDenied (Access Denied); retrying will not help \
             until the cause is fixed"
        );
        assert!(!e.retry_helps());
        let d: Diagnostic = e.into();
        assert_eq!(d.error_type, "Archive");
        let cut = ArchiveError::Transport {
            key: "k".into(),
            source: Box::new(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection reset by peer",
            )),
        };
        assert!(cut.retry_helps());
        assert_eq!(
            cut.to_string(),
            "PutObject k: no answer: connection reset by peer"
        );
    }

    #[test]
    fn lock_waits_and_lost_connections_are_transient_missing_grants_are_not() {
        let sql = |code| TableError::Sql {
            what: "deleting",
            chunk: None,
            code: Some(code),
            source: sqlx::Error::Protocol("stand-in".into()),
        };
        assert!(sql(1205).retry_helps() && sql(2013).retry_helps());
        assert!(!sql(1142).retry_helps() && !sql(1146).retry_helps());
        assert_eq!(sql(1205).mysql_code(), Some(1205));
        assert!(sql(1205).to_string().ends_with("(MySQL error 1205)"));
    }
}
