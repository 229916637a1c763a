//! The Lambda entry point: detect the source, hand the event to its adapter.

use chrono::Utc;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;

use crate::batch::Rejections;
use crate::sources::{Source, direct, http, kinesis, sqs};
use crate::store::{EventStore, StoreError};

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

fn shape<T: serde::de::DeserializeOwned>(event: Value, what: &str) -> Result<T, IngestError> {
    serde_json::from_value(event)
        .map_err(|e| IngestError::InvalidEvent(format!("malformed {what} event: {e}")))
}

fn to_value<T: serde::Serialize>(response: T) -> Result<Value, IngestError> {
    serde_json::to_value(response)
        .map_err(|e| IngestError::InvalidEvent(format!("response could not be encoded: {e}")))
}

/// Handles one invocation of any supported source.
pub async fn handle<S: EventStore>(
    store: &S,
    event: LambdaEvent<Value>,
) -> Result<Value, IngestError> {
    let received_at = Utc::now().naive_utc();
    let (payload, context) = event.into_parts();
    let source = Source::detect(&payload);
    let result = match source {
        Source::Sqs => to_value(sqs::handle(store, shape(payload, "SQS")?, received_at).await?),
        Source::Kinesis => {
            to_value(kinesis::handle(store, shape(payload, "Kinesis")?, received_at).await?)
        }
        Source::Http => to_value(http::handle(store, shape(payload, "HTTP")?, received_at).await),
        Source::HttpV1 => {
            to_value(http::handle_v1(store, shape(payload, "REST API")?, received_at).await)
        }
        Source::Direct => {
            to_value(direct::handle(store, payload, &context.request_id, received_at).await?)
        }
    };
    if let Err(e) = &result {
        tracing::warn!(source = ?source, error_type = e.error_type(), error = %e, "invocation failed");
    }
    result
}
