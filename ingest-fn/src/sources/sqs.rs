//! SQS batches: valid records are written, invalid ones reported in `batchItemFailures` so
//! they reach the dead-letter queue; a database that is unavailable fails the whole batch (it
//! comes again); one that rejects the write has every message reported, so that they too
//! reach the dead-letter queue after the queue's receives instead of coming back for ever.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use chrono::NaiveDateTime;
use serde_json::Value;

use crate::batch::EventBatch;
use crate::error::IngestError;
use crate::event::FieldError;
use crate::metrics::Tally;
use crate::store::EventStore;

pub(crate) async fn handle<S: EventStore>(
    store: &S,
    event: SqsEvent,
    received_at: NaiveDateTime,
    tally: &mut Tally,
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
    let failed: Vec<usize> = match tally.write(&batch, store).await {
        Ok(_) => batch
            .rejected
            .iter()
            .map(|r| {
                tracing::warn!(message_id = %ids[r.index], errors = ?r.errors, "invalid SQS message left for the dead-letter queue");
                r.index
            })
            .collect(),
        Err(e) if e.is_permanent() => {
            tracing::error!(mysql_error = e.mysql_code(), messages = ids.len(), error = %e, "the database rejected the batch; every message reported as failed, for the dead-letter queue");
            (0..ids.len()).collect()
        }
        Err(e) => return Err(e.into()),
    };
    let mut response = SqsBatchResponse::default();
    for i in failed {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = ids[i].clone();
        response.batch_item_failures.push(failure);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::batch_tests::{
        Delivery, a_rejected_write, a_store_failure_fails_the_whole_batch, handled_twice,
    };
    use crate::store::memory::{MemoryStore, received_at as now};

    impl Delivery for SqsEvent {
        type Response = SqsBatchResponse;
        async fn handle(self, store: &MemoryStore) -> Result<SqsBatchResponse, IngestError> {
            handle(store, self, now(), &mut Tally::default()).await
        }
    }

    fn sqs(bodies: &[(&str, &str)]) -> SqsEvent {
        serde_json::from_value(e2e::events::sqs_event(bodies)).unwrap()
    }

    fn failed(r: &SqsBatchResponse) -> Vec<&str> {
        r.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    #[tokio::test]
    async fn invalid_messages_are_reported_and_the_rest_written_by_message_id() {
        let event = sqs(&[
            ("m-1", r#"{"source": "q", "val1": 1, "val2": 2}"#),
            ("m-2", r#"{"source": "q"}"#),
            ("m-3", "not json"),
            ("m-4", r#"{"source": "q", "val1": 4, "val2": 2}"#),
        ]);
        let (r, keys, rows_after_redelivery) = handled_twice(event).await;
        assert_eq!(failed(&r), ["m-2", "m-3"]);
        assert_eq!(keys, ["m-1", "m-4"]);
        // A redelivery stores nothing twice.
        assert_eq!(rows_after_redelivery, 2);
    }

    #[tokio::test]
    async fn a_store_failure_fails_the_whole_batch_for_redelivery() {
        let event = sqs(&[("m-1", r#"{"source": "q", "val1": 1, "val2": 2}"#)]);
        a_store_failure_fails_the_whole_batch(event).await;
    }

    #[tokio::test]
    async fn a_rejected_write_reports_every_message_for_the_dead_letter_queue() {
        use crate::store::memory::TOO_MANY;
        let event = sqs(&[
            ("m-1", r#"{"source": "q", "val1": 1, "val2": 2}"#),
            ("m-2", r#"{"source": "q"}"#),
            ("m-3", r#"{"source": "q", "val1": 3, "val2": 2}"#),
        ]);
        // A full server is an outage: the whole batch fails and comes again.
        let r = a_rejected_write(event, TOO_MANY).await;
        assert_eq!(failed(&r), ["m-1", "m-2", "m-3"]);
    }
}
