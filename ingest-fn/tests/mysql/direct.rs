//! The direct invoke: one event or an array, Lambda's retries, bad input, and what the database
//! keeps of an event byte for byte.

use ingest::handle;
use serde_json::{Value, json};
use sqlx::Row;

use crate::{TestDb, diagnostic, event, invoke};

#[tokio::test]
async fn direct_invoke_writes_one_event_and_an_array() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let r = handle(
        &store,
        invoke(
            json!({"source": "dev-1", "val1": 1.5, "val2": 2.5, "event_id": "e-1",
        "recorded_at": "2026-08-22T15:17:05.123456Z", "payload": {"temp": 21.5}}),
            "req-1",
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        r,
        json!({"inserted": 1, "duplicates": 0, "event_ids": ["e-1"]})
    );
    let row = db.row("e-1").await;
    assert_eq!(row.get::<String, _>("source"), "dev-1");
    assert_eq!(
        (row.get::<f64, _>("val1"), row.get::<f64, _>("val2")),
        (1.5, 2.5)
    );
    assert_eq!(
        row.get::<String, _>("recorded_at"),
        "2026-08-22 15:17:05.123456"
    );
    let payload: Value = serde_json::from_str(&row.get::<String, _>("payload")).unwrap();
    assert_eq!(payload, json!({"temp": 21.5}));

    let items: Vec<Value> = (0..3).map(|i| event("dev-2", i as f64)).collect();
    let r = handle(&store, invoke(Value::Array(items), "req-2"))
        .await
        .unwrap();
    assert_eq!(
        r,
        json!({"inserted": 3, "duplicates": 0, "event_ids": ["req-2:0", "req-2:1", "req-2:2"]})
    );
    // recorded_at defaults to the time of receipt.
    let row = db.row("req-2:1").await;
    assert_eq!(row.get::<String, _>("recorded_at").len(), 26);
    assert_eq!(db.count().await, 4);
}

#[tokio::test]
async fn retries_and_duplicates_write_one_row() {
    let db = TestDb::new().await;
    let store = db.store().await;
    // Lambda retries an invoke with the same request id.
    let first = handle(&store, invoke(event("dev", 1.0), "req-same"))
        .await
        .unwrap();
    let again = handle(&store, invoke(event("dev", 1.0), "req-same"))
        .await
        .unwrap();
    assert_eq!(first["inserted"], 1);
    assert_eq!(
        again,
        json!({"inserted": 0, "duplicates": 1, "event_ids": ["req-same"]})
    );
    // The same event_id twice in one array, and again later.
    let e = json!({"source": "dev", "val1": 1, "val2": 2, "event_id": "k-1"});
    let r = handle(&store, invoke(json!([e, e]), "req-x"))
        .await
        .unwrap();
    assert_eq!(
        (r["inserted"].clone(), r["duplicates"].clone()),
        (json!(1), json!(1))
    );
    let r = handle(&store, invoke(e.clone(), "req-y")).await.unwrap();
    assert_eq!(r["duplicates"], 1);
    assert_eq!(db.count().await, 2);
}

#[tokio::test]
async fn bad_input_is_named_and_nothing_is_written() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let too_many: Vec<Value> = (0..1001).map(|i| event("d", i as f64)).collect();
    let cases: Vec<(Value, &[&str])> = vec![
        (
            json!({"source": 5, "val1": "1", "val2": 2}),
            &["source", "val1"],
        ),
        (
            json!({"source": "d", "val1": "NaN", "val2": "Infinity"}),
            &["val1", "val2"],
        ),
        (
            json!({"source": "d", "val1": 1, "val2": 2, "recorded_at": "0001-01-01T00:00:00Z"}),
            &["recorded_at"],
        ),
        (
            json!({"source": "d", "val1": 1, "val2": 2, "recorded_at": "2026-02-30T00:00:00Z"}),
            &["recorded_at"],
        ),
        (
            json!({"source": "d", "val1": 1, "val2": 2, "payload": {"x": "y".repeat(17 * 1024)}}),
            &["payload"],
        ),
        (
            json!({"source": "d", "val1": 1, "val2": 2, "vall": 3}),
            &["vall"],
        ),
        (json!({"source": "d", "val1": 1}), &["val2"]),
        (json!([]), &["empty array"]),
        (Value::Array(too_many), &["1001 events", "1000"]),
        (
            json!([event("ok", 1.0), {"source": "d"}, event("ok", 2.0), "text"]),
            &["[1].val1", "[1].val2", "[3]"],
        ),
        (json!(42), &["expected an event object"]),
    ];
    for (payload, mentions) in cases {
        let e = handle(&store, invoke(payload.clone(), "req-bad"))
            .await
            .unwrap_err();
        let d = diagnostic(e);
        assert_eq!(d.error_type, "InvalidEvent", "{payload}");
        for m in mentions {
            assert!(
                d.error_message.contains(m),
                "{:?} does not mention {m}",
                d.error_message
            );
        }
    }
    assert_eq!(db.count().await, 0, "nothing written for rejected requests");
}

#[tokio::test]
async fn sql_metacharacters_and_unicode_are_stored_verbatim() {
    let db = TestDb::new().await;
    let store = db.store().await;
    let nasty = "x'); DROP TABLE events; -- \\ \" ` % _ 😀 \u{0}";
    let r = handle(
        &store,
        invoke(
            json!({"source": nasty, "val1": -0.0, "val2": 1e308, "event_id": "q'\"`;--",
        "payload": {"sql": "' OR 1=1 --", "nested": {"a": [1, null, true]}}}),
            "r",
        ),
    )
    .await
    .unwrap();
    assert_eq!(r["inserted"], 1);
    let row = db.row("q'\"`;--").await;
    assert_eq!(row.get::<String, _>("source"), nasty);
    assert_eq!(row.get::<f64, _>("val2"), 1e308);
    let payload: Value = serde_json::from_str(&row.get::<String, _>("payload")).unwrap();
    assert_eq!(payload["sql"], "' OR 1=1 --");
}
