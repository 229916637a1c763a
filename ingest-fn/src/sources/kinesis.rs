//! Kinesis batches: as SQS, with partial batch responses by sequence number. A write the
//! database rejects reports every record, so the retries end at the event source's limit and
//! its on-failure destination instead of blocking the shard for ever.

use aws_lambda_events::kinesis::KinesisEvent;
use aws_lambda_events::streams::KinesisEventResponse;
use chrono::NaiveDateTime;
use md5::{Digest, Md5};
use serde_json::Value;

use crate::batch::{EventBatch, Outcome};
use crate::error::IngestError;
use crate::event::FieldError;
use crate::store::EventStore;

/// A Kinesis `eventID` (`shardId-…:<sequence number>`) is longer than an event_id may be; its
/// digest is as stable across retries and fits.
pub(crate) fn record_key(event_id: &str) -> String {
    format!("kinesis:{:x}", Md5::digest(event_id.as_bytes()))
}

pub(crate) async fn handle<S: EventStore>(
    store: &S,
    event: KinesisEvent,
    received_at: NaiveDateTime,
    outcome: &mut Outcome,
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
    let sequence_number = |i: usize| &event.records[i].kinesis.sequence_number;
    super::write_batch(
        store,
        &batch,
        event.records.len(),
        outcome,
        |i| sequence_number(i).clone(),
        |r| tracing::warn!(sequence_number = %sequence_number(r.index), errors = ?r.errors, "invalid Kinesis record reported as failed"),
        |e| tracing::error!(mysql_error = e.mysql_code(), records = event.records.len(), error = %e, "the database rejected the batch; every record reported as failed"),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::batch_tests::{
        a_rejected_write, a_store_failure_fails_the_whole_batch, handled_twice,
    };

    /// The sequence numbers a response reports as failed.
    fn failed_ids(r: &KinesisEventResponse) -> Vec<Option<&str>> {
        r.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_deref())
            .collect()
    }

    fn kinesis(records: &[(&str, &[u8])]) -> KinesisEvent {
        serde_json::from_value(lambda_harness::events::kinesis_event(records)).unwrap()
    }

    #[tokio::test]
    async fn invalid_records_are_reported_by_sequence_number() {
        let event = kinesis(&[
            ("101", br#"{"source": "k", "val1": 1, "val2": 2}"#),
            ("102", br#"{"source": 1}"#),
            ("103", b"\xff not json"),
        ]);
        let (r, keys, rows_after_retry) = handled_twice(event).await;
        let failed = failed_ids(&r);
        assert_eq!(failed, [Some("102"), Some("103")]);
        let key = record_key("shardId-000000000000:101");
        assert_eq!(keys, std::slice::from_ref(&key));
        // Digest of the eventID: stable across retries, and within event_id's length.
        assert_eq!(key.len(), "kinesis:".len() + 32);
        assert_eq!(rows_after_retry, 1);
    }

    #[tokio::test]
    async fn a_store_failure_fails_the_whole_batch_for_a_retry() {
        let event = kinesis(&[("101", br#"{"source": "k", "val1": 1, "val2": 2}"#)]);
        a_store_failure_fails_the_whole_batch(event).await;
    }

    #[tokio::test]
    async fn a_rejected_write_reports_every_record() {
        use crate::store::memory::DENIED;
        let event = kinesis(&[
            ("101", br#"{"source": "k", "val1": 1, "val2": 2}"#),
            ("102", br#"{"source": 1}"#),
        ]);
        let r = a_rejected_write(event, DENIED).await;
        let failed = failed_ids(&r);
        assert_eq!(failed, [Some("101"), Some("102")]);
    }
}
