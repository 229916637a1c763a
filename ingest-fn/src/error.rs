//! The function's error: what the caller is told, and whether to retry.

use lambda_runtime::Diagnostic;

use crate::batch::Rejections;
use crate::store::StoreError;

/// A function error, with the `errorType` that tells the caller whether to retry.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Do not retry: the request itself is wrong.
    #[error("{0}")]
    InvalidEvent(String),
    /// Retry: the events are fine, the database is not reachable right now.
    #[error("{0}; retry later, nothing was written")]
    StoreUnavailable(#[source] StoreError),
    /// Do not retry: the database refuses the write itself (a missing grant, table or column),
    /// and will until someone changes it. Nothing was written.
    #[error("{0}; nothing was written, and a retry fails the same way until the database is fixed")]
    StoreRejected(#[source] StoreError),
    /// A fault of the function, not of the request or the database: the answer to a handled
    /// request could not be encoded. The write may have happened; a retry writes nothing twice
    /// (writes are idempotent by `event_id`) but likely fails the same way until the function
    /// is fixed.
    #[error("{what}: {source}")]
    InternalError {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl IngestError {
    pub fn error_type(&self) -> &'static str {
        match self {
            IngestError::InvalidEvent(_) => "InvalidEvent",
            IngestError::StoreUnavailable(_) => "StoreUnavailable",
            IngestError::StoreRejected(_) => "StoreRejected",
            IngestError::InternalError { .. } => "InternalError",
        }
    }

    /// The MySQL error number behind a store failure, if the server gave one.
    pub(crate) fn mysql_code(&self) -> Option<u16> {
        match self {
            IngestError::InvalidEvent(_) | IngestError::InternalError { .. } => None,
            IngestError::StoreUnavailable(e) | IngestError::StoreRejected(e) => e.mysql_code(),
        }
    }
}

impl From<Rejections> for IngestError {
    fn from(r: Rejections) -> Self {
        IngestError::InvalidEvent(r.to_string())
    }
}

impl From<StoreError> for IngestError {
    fn from(e: StoreError) -> Self {
        if e.is_permanent() {
            IngestError::StoreRejected(e)
        } else {
            IngestError::StoreUnavailable(e)
        }
    }
}

impl From<IngestError> for Diagnostic {
    fn from(e: IngestError) -> Diagnostic {
        Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}
