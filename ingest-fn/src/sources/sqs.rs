//! SQS batches: valid records are written, invalid ones reported in `batchItemFailures` so
//! they reach the dead-letter queue; a database failure fails the whole batch.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use chrono::NaiveDateTime;
use serde_json::Value;

use crate::batch::EventBatch;
use crate::event::FieldError;
use crate::handler::IngestError;
use crate::store::EventStore;

pub async fn handle<S: EventStore>(
    store: &S,
    event: SqsEvent,
    received_at: NaiveDateTime,
) -> Result<SqsBatchResponse, IngestError> {
    let mut batch = EventBatch::new(received_at);
    let mut ids = Vec::with_capacity(event.records.len());
    for record in &event.records {
        let id = record.message_id.clone().unwrap_or_default();
        match serde_json::from_str::<Value>(record.body.as_deref().unwrap_or_default()) {
            // A redelivered message keeps its messageId, so it keeps its key.
            Ok(item) => batch.push(&item, || id.clone()),
            Err(e) => batch.reject(vec![FieldError {
                field: String::new(),
                problem: format!("body is not JSON: {e}"),
            }]),
        }
        ids.push(id);
    }
    batch.write(store).await?;
    let mut response = SqsBatchResponse::default();
    for r in &batch.rejected {
        tracing::warn!(message_id = %ids[r.index], errors = ?r.errors, "invalid SQS message left for the dead-letter queue");
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = ids[r.index].clone();
        response.batch_item_failures.push(failure);
    }
    Ok(response)
}
