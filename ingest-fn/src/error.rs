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
    StoreUnavailable(String),
}

impl IngestError {
    pub fn error_type(&self) -> &'static str {
        match self {
            IngestError::InvalidEvent(_) => "InvalidEvent",
            IngestError::StoreUnavailable(_) => "StoreUnavailable",
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
        IngestError::StoreUnavailable(e.to_string())
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
