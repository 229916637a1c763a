//! The Lambda entry point: detect the source, hand the event to its adapter.

use chrono::Utc;
use lambda_runtime::LambdaEvent;
use serde_json::Value;

use crate::error::IngestError;
use crate::sources::{Source, direct, http, kinesis, sqs};
use crate::store::EventStore;

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
    // An async block, so that `?` ends the adapter, not this function: every failure is logged.
    let result = async {
        match source {
            Source::Sqs => to_value(sqs::handle(store, shape(payload, "SQS")?, received_at).await?),
            Source::Kinesis => {
                to_value(kinesis::handle(store, shape(payload, "Kinesis")?, received_at).await?)
            }
            Source::Http => {
                to_value(http::handle(store, shape(payload, "HTTP")?, received_at).await)
            }
            Source::HttpV1 => {
                to_value(http::handle_v1(store, shape(payload, "REST API")?, received_at).await)
            }
            Source::Direct => {
                to_value(direct::handle(store, payload, &context.request_id, received_at).await?)
            }
        }
    }
    .await;
    if let Err(e) = &result {
        tracing::warn!(source = ?source, error_type = e.error_type(), error = %e, "invocation failed");
    }
    result
}
