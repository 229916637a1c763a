//! SQS and Kinesis: each batch's invalid items reported by identifier, redeliveries stored once.

use ingest::handle;
use lambda_harness::events;
use serde_json::json;
use sqlx::Row;

use crate::{TestDb, event, invoke};

/// The key of an SQS message without `event_id`: `sqs:` and its body's MD5 (its `md5OfBody`),
/// which a redrive from the dead-letter queue keeps (docs/decisions/sqs-event-key.md).
pub(crate) fn sqs_key(body: &str) -> String {
    use md5::Digest as _;
    format!("sqs:{:x}", md5::Md5::digest(body.as_bytes()))
}

#[tokio::test]
async fn sqs_writes_the_valid_and_reports_the_invalid() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let ev = events::sqs_event(&[
        ("m-1", event("q", 1.0).to_string()),
        ("m-2", json!({"source": "q"}).to_string()),
        ("m-3", "not json".into()),
        ("m-4", event("q", 4.0).to_string()),
    ]);
    let r = handle(&store, invoke(ev.clone(), "r")).await.unwrap();
    assert_eq!(
        r,
        json!({"batchItemFailures": [{"itemIdentifier": "m-2"}, {"itemIdentifier": "m-3"}]})
    );
    assert_eq!(db.count().await, 2);
    // SQS redelivers the same messages: no second row.
    handle(&store, invoke(ev, "r2")).await.unwrap();
    assert_eq!(db.count().await, 2);
    // Stored under its body's digest, which a redrive from the dead-letter queue keeps.
    let key = sqs_key(&event("q", 4.0).to_string());
    assert_eq!(db.row(&key).await.get::<f64, _>("val1"), 4.0);
}

#[tokio::test]
async fn kinesis_reports_failures_by_sequence_number() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let good = serde_json::to_vec(&event("k", 1.0)).unwrap();
    let s1 = "49590338271490256608559692538361571095921575989136588898";
    let s2 = "49590338271490256608559692540925702759324208523137515618";
    let ev = events::kinesis_event(&[(s1, &good), (s2, b"{\"source\": 1}")]);
    let r = handle(&store, invoke(ev.clone(), "r")).await.unwrap();
    assert_eq!(r, json!({"batchItemFailures": [{"itemIdentifier": s2}]}));
    handle(&store, invoke(ev, "r2")).await.unwrap();
    assert_eq!(db.count().await, 1);
}
