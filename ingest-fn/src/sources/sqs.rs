//! SQS batches: valid records are written, invalid ones reported in `batchItemFailures` so
//! they reach the dead-letter queue; a database that is unavailable fails the whole batch (it
//! comes again); one that rejects the write has every message reported, so that they too
//! reach the dead-letter queue after the queue's receives instead of coming back for ever.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use chrono::NaiveDateTime;
use md5::{Digest, Md5};
use serde_json::Value;

use crate::batch::{EventBatch, Outcome};
use crate::error::IngestError;
use crate::event::FieldError;
use crate::store::EventStore;

/// The key of a message whose event has no `event_id`: `sqs:` and the MD5 of its body in hex,
/// the digest SQS itself reports as `md5OfBody`. Not the `messageId`: a message redriven from
/// the dead-letter queue is a new message with a new `messageId` (and a new enqueue time, so not
/// `SentTimestamp` either), but its body is the one sent; keyed by the body, a redriven message
/// that was stored before is a duplicate, not a second row. docs/decisions/sqs-event-key.md
pub(crate) fn message_key(body: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // Written digit by digit rather than through `format!("{:x}")`, whose formatter machinery
    // cost more than the digest itself, once per message of every batch.
    let mut key = String::with_capacity(KEY_PREFIX.len() + 32);
    key.push_str(KEY_PREFIX);
    for byte in Md5::digest(body.as_bytes()) {
        key.push(char::from(HEX[usize::from(byte >> 4)]));
        key.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    key
}

const KEY_PREFIX: &str = "sqs:";

/// The SQS event in `payload`, the invocation's JSON as sent, read straight into its records:
/// one pass, where reading it into a `Value` first (as [`crate::handler::handle`] is given it)
/// builds and frees a map for every record, then reads the records out of those. `None` when
/// the payload is not an SQS event as [`super::Source::detect`] tells one (the first record's
/// `eventSource` is `aws:sqs`), or does not read as one (a duplicate field, say): the caller
/// then reads it into a `Value` and handles it as any event, which reports a malformed one.
pub(crate) fn read(payload: &str) -> Option<SqsEvent> {
    // Any other event is searched here, not parsed twice; one whose source is written with
    // escapes is not recognised here, and takes the general path.
    if !payload.contains("\"aws:sqs\"") {
        return None;
    }
    let event: SqsEvent = serde_json::from_str(payload).ok()?;
    let first = event.records.first()?;
    (first.event_source.as_deref() == Some("aws:sqs")).then_some(event)
}

pub(crate) async fn handle<S: EventStore>(
    store: &S,
    event: SqsEvent,
    received_at: NaiveDateTime,
    outcome: &mut Outcome,
) -> Result<SqsBatchResponse, IngestError> {
    let mut batch = EventBatch::new(received_at);
    let mut ids = Vec::with_capacity(event.records.len());
    for record in event.records {
        let body = record.body.as_deref().unwrap_or_default();
        match serde_json::from_str::<Value>(body) {
            // Redelivered or redriven, a message keeps its body, so it keeps its key.
            Ok(item) => batch.push(&item, || message_key(body)),
            Err(e) => batch.reject(vec![FieldError {
                field: String::new(),
                problem: format!("body is not JSON: {e}"),
            }]),
        }
        ids.push(record.message_id.unwrap_or_default());
    }
    super::write_batch(
        store,
        &batch,
        ids.len(),
        outcome,
        |i| ids[i].clone(),
        |r| tracing::warn!(message_id = %ids[r.index], errors = ?r.errors, "invalid SQS message left for the dead-letter queue"),
        |e| tracing::error!(mysql_error = e.mysql_code(), messages = ids.len(), error = %e, "the database rejected the batch; every message reported as failed, for the dead-letter queue"),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::batch_tests::{
        a_rejected_write, a_store_failure_fails_the_whole_batch, handled_twice,
    };
    use crate::store::memory::{MemoryStore, received_at as now};

    fn sqs(bodies: &[(&str, &str)]) -> SqsEvent {
        serde_json::from_value(lambda_harness::events::sqs_event(bodies)).unwrap()
    }

    fn failed(r: &SqsBatchResponse) -> Vec<&str> {
        r.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    const ONE: &str = r#"{"source": "q", "val1": 1, "val2": 2}"#;
    const FOUR: &str = r#"{"source": "q", "val1": 4, "val2": 2}"#;

    #[tokio::test]
    async fn invalid_messages_are_reported_by_message_id_and_the_rest_written_by_body() {
        let event = sqs(&[
            ("m-1", ONE),
            ("m-2", r#"{"source": "q"}"#),
            ("m-3", "not json"),
            ("m-4", FOUR),
        ]);
        let (r, keys, rows_after_redelivery) = handled_twice(event).await;
        // Failures are reported as SQS knows them, by messageId.
        assert_eq!(failed(&r), ["m-2", "m-3"]);
        let mut expected = [message_key(ONE), message_key(FOUR)];
        expected.sort();
        assert_eq!(keys, expected);
        // A redelivery stores nothing twice.
        assert_eq!(rows_after_redelivery, 2);
    }

    // The key is the body's MD5, the digest SQS reports as md5OfBody ("An MD5 digest of the
    // non-URL-encoded message body string",
    // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_Message.html):
    // "Test message." is AWS's sample body, e4e68fb7… its md5OfBody in Lambda's sample SQS event.
    // Whatever the messageId, the same body has the same key; another body has another.
    #[test]
    fn the_key_is_the_bodys_digest_and_fits_an_event_id() {
        assert_eq!(
            message_key("Test message."),
            "sqs:e4e68fb7bd0e697a0ae8f1bb342846b3"
        );
        assert_eq!(message_key(ONE), message_key(ONE));
        assert_ne!(message_key(ONE), message_key(FOUR));
        // One byte apart is another message.
        assert_ne!(message_key(ONE), message_key(&format!("{ONE} ")));
        let key = message_key(ONE);
        assert_eq!(key.len(), 36);
        assert_eq!(crate::event::check_event_id(&key), Ok(()));
    }

    // "All redriven messages are considered new messages with a new messageID and enqueueTime"
    // (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue-redrive.html):
    // the same body under another messageId, as a redrive from the dead-letter queue delivers
    // it, is a duplicate, not a second row; an event_id in the body still wins over the key.
    #[tokio::test]
    async fn a_message_redriven_under_a_new_message_id_is_not_written_twice() {
        let store = MemoryStore::default();
        let mut outcome = Outcome::default();
        let first = sqs(&[("m-1", ONE), ("m-2", FOUR)]);
        let r = handle(&store, first, now(), &mut outcome).await.unwrap();
        assert!(r.batch_item_failures.is_empty());
        let redriven = sqs(&[
            ("redriven-7f3c", ONE),
            ("m-5", r#"{"source": "q", "val1": 5, "val2": 2}"#),
        ]);
        let mut outcome = Outcome::default();
        let r = handle(&store, redriven, now(), &mut outcome).await.unwrap();
        assert!(r.batch_item_failures.is_empty());
        assert_eq!((outcome.written, outcome.duplicates), (1, 1));
        assert_eq!(store.rows().len(), 3, "{:?}", store.rows().keys());
        assert!(store.rows().contains_key(&message_key(ONE)));
        let own = r#"{"event_id": "dev-1:42", "source": "q", "val1": 1, "val2": 2}"#;
        handle(&store, sqs(&[("m-8", own)]), now(), &mut Outcome::default())
            .await
            .unwrap();
        handle(&store, sqs(&[("m-9", own)]), now(), &mut Outcome::default())
            .await
            .unwrap();
        assert!(store.rows().contains_key("dev-1:42"));
        assert_eq!(store.rows().len(), 4);
    }

    // Read straight from the payload, a batch is the event read through a `Value`; anything
    // that is not one, or does not read as one, is left to the general path.
    #[test]
    fn a_batch_read_from_the_payload_is_the_batch_read_through_a_value() {
        let value = lambda_harness::events::sqs_event(&[("m-1", ONE), ("m-2", "not json")]);
        let straight = read(&value.to_string()).unwrap();
        let through_value: SqsEvent = serde_json::from_value(value).unwrap();
        assert_eq!(straight, through_value);
        for other in [
            r#"{"source": "aws:sqs", "val1": 1, "val2": 2}"#,
            r#"{"Records": [{"eventSource": "aws:kinesis"}, {"eventSource": "aws:sqs"}]}"#,
            r#"{"Records": [{"eventSource": "aws:sqs", "body": 5}]}"#,
            r#"{"Records": [{"eventSource": "aws:sqs"}], "Records": []}"#,
            r#"{"Records": []}"#,
        ] {
            assert_eq!(read(other), None, "{other}");
        }
        let minimal = read(r#"{"Records": [{"eventSource": "aws:sqs"}]}"#).unwrap();
        assert_eq!(minimal.records.len(), 1);
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
