//! Kinesis batches: as SQS, with partial batch responses by sequence number.

use aws_lambda_events::kinesis::KinesisEvent;
use aws_lambda_events::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use chrono::NaiveDateTime;
use md5::{Digest, Md5};
use serde_json::Value;

use crate::batch::EventBatch;
use crate::event::FieldError;
use crate::handler::IngestError;
use crate::store::EventStore;

/// A Kinesis `eventID` (`shardId-…:<sequence number>`) is longer than an event_id may be; its
/// digest is as stable across retries and fits.
pub fn record_key(event_id: &str) -> String {
    let digest = Md5::digest(event_id.as_bytes());
    let mut key = String::with_capacity(40);
    key.push_str("kinesis:");
    for b in digest {
        key.push_str(&format!("{b:02x}"));
    }
    key
}

pub async fn handle<S: EventStore>(
    store: &S,
    event: KinesisEvent,
    received_at: NaiveDateTime,
) -> Result<KinesisEventResponse, IngestError> {
    let mut batch = EventBatch::new(received_at);
    for record in &event.records {
        let key = || {
            let id = record
                .event_id
                .clone()
                .unwrap_or_else(|| record.kinesis.sequence_number.clone());
            record_key(&id)
        };
        match serde_json::from_slice::<Value>(&record.kinesis.data.0) {
            Ok(item) => batch.push(&item, key),
            Err(e) => batch.reject(vec![FieldError {
                field: String::new(),
                problem: format!("data is not JSON: {e}"),
            }]),
        }
    }
    batch.write(store).await?;
    let mut response = KinesisEventResponse::default();
    for r in &batch.rejected {
        let seq = &event.records[r.index].kinesis.sequence_number;
        tracing::warn!(sequence_number = %seq, errors = ?r.errors, "invalid Kinesis record reported as failed");
        let mut failure = KinesisBatchItemFailure::default();
        failure.item_identifier = Some(seq.clone());
        response.batch_item_failures.push(failure);
    }
    Ok(response)
}
