//! Direct invokes (AWS IoT rules, SDK callers): one event object or an array of up to 1,000,
//! all or nothing.

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::Value;

use crate::batch::{EventBatch, MAX_ITEMS, Outcome, Rejections};
use crate::error::IngestError;
use crate::store::{EventStore, Wait};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct DirectResponse {
    pub(crate) inserted: u64,
    pub(crate) duplicates: u64,
    /// The key each event is stored under, in request order (derived ones included).
    pub(crate) event_ids: Vec<String>,
}

/// Items of a request body (a direct invoke or an HTTP POST): an object or a non-empty array
/// of at most [`MAX_ITEMS`]. `key(i)` is the derived key of item `i`.
pub(crate) fn batch(
    body: &Value,
    received_at: NaiveDateTime,
    key: impl Fn(Option<usize>) -> String,
) -> Result<EventBatch, IngestError> {
    let mut batch = EventBatch::new(received_at);
    match body {
        Value::Array(items) if items.is_empty() => {
            return Err(IngestError::InvalidEvent(
                "empty array: send one event or an array of 1 to 1000".into(),
            ));
        }
        Value::Array(items) if items.len() > MAX_ITEMS => {
            return Err(IngestError::InvalidEvent(format!(
                "{} events in one request, over the limit of {MAX_ITEMS}; nothing was written",
                items.len()
            )));
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                batch.push(item, || key(Some(i)));
            }
        }
        item => batch.push(item, || key(None)),
    }
    if !batch.rejected.is_empty() {
        return Err(Rejections {
            items: batch.rejected,
            single: !body.is_array(),
        }
        .into());
    }
    Ok(batch)
}

/// How many events a request body carries: an array's items, else one.
pub(crate) fn items_in(body: &Value) -> usize {
    match body {
        Value::Array(items) => items.len(),
        _ => 1,
    }
}

/// The key of item `index` of a request whose own key (Lambda's request id, a client's
/// `Idempotency-Key`) stays the same when the request is retried: so does the derived key.
pub(crate) fn request_key(key: &str, index: Option<usize>) -> String {
    match index {
        Some(i) => format!("{key}:{i}"),
        None => key.to_owned(),
    }
}

pub(crate) async fn handle<S: EventStore>(
    store: &S,
    payload: Value,
    request_id: &str,
    received_at: NaiveDateTime,
    outcome: &mut Outcome,
) -> Result<DirectResponse, IngestError> {
    // One id for the whole request even when Lambda gave none (local tools).
    let request_id = if request_id.is_empty() {
        uuid::Uuid::now_v7().to_string()
    } else {
        request_id.to_owned()
    };
    let batch = batch(&payload, received_at, |i| request_key(&request_id, i))
        .inspect_err(|_| outcome.refuse(items_in(&payload)))?;
    let written = batch.write(store, Wait::Full, outcome).await?;
    Ok(DirectResponse {
        inserted: written.inserted,
        duplicates: written.duplicates,
        event_ids: batch.event_ids(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::{MemoryStore, received_at as now};
    use serde_json::json;

    async fn call(
        store: &MemoryStore,
        payload: Value,
        request_id: &str,
    ) -> Result<DirectResponse, IngestError> {
        handle(store, payload, request_id, now(), &mut Outcome::default()).await
    }

    fn event(val1: f64) -> Value {
        json!({"source": "dev", "val1": val1, "val2": 2})
    }

    #[tokio::test]
    async fn keys_derive_from_the_request_id_and_a_retry_is_a_duplicate() {
        let store = MemoryStore::default();
        let r = call(&store, json!([event(1.0), event(2.0)]), "req-1")
            .await
            .unwrap();
        assert_eq!(
            r,
            DirectResponse {
                inserted: 2,
                duplicates: 0,
                event_ids: vec!["req-1:0".into(), "req-1:1".into()],
            }
        );
        let retry = call(&store, json!([event(1.0), event(2.0)]), "req-1")
            .await
            .unwrap();
        assert_eq!((retry.inserted, retry.duplicates), (0, 2));
        let one = call(&store, event(3.0), "req-2").await.unwrap();
        assert_eq!(one.event_ids, ["req-2"]);
        assert_eq!(store.rows().len(), 3);
        assert_eq!(store.rows()["req-1:1"].val1, 2.0);
    }

    #[tokio::test]
    async fn one_invalid_item_writes_nothing() {
        let store = MemoryStore::default();
        let e = call(&store, json!([event(1.0), {"source": "dev"}]), "r")
            .await
            .unwrap_err();
        assert_eq!(e.error_type(), "InvalidEvent");
        assert!(e.to_string().contains("[1].val1"), "{e}");
        for bad in [json!([]), Value::Array(vec![event(1.0); MAX_ITEMS + 1])] {
            let e = call(&store, bad, "r").await.unwrap_err();
            assert_eq!(e.error_type(), "InvalidEvent");
        }
        assert!(store.rows().is_empty());
    }

    #[tokio::test]
    async fn a_store_failure_is_retryable_and_writes_nothing() {
        let store = MemoryStore::failing(1);
        let e = call(&store, event(1.0), "r").await.unwrap_err();
        assert_eq!(e.error_type(), "StoreUnavailable");
        assert!(e.to_string().contains("retry later"), "{e}");
        assert!(store.rows().is_empty());
        // The caller's retry, with the same request id, succeeds.
        let r = call(&store, event(1.0), "r").await.unwrap();
        assert_eq!(r.inserted, 1);
    }

    #[tokio::test]
    async fn each_store_failure_is_unavailable_or_rejected_by_its_class() {
        use crate::store::memory::{DENIED, LOST, NO_GRANT, TOO_MANY};
        for (says, error_type) in [
            (LOST, "StoreUnavailable"),
            (DENIED, "StoreUnavailable"),
            (TOO_MANY, "StoreUnavailable"),
            (NO_GRANT, "StoreRejected"),
        ] {
            let store = MemoryStore::failing_with(1, says);
            let e = call(&store, event(1.0), "r").await.unwrap_err();
            assert_eq!(e.error_type(), error_type, "{e}");
            assert_eq!(e.mysql_code(), Some(says.0));
            assert!(
                e.to_string().contains(&format!("MySQL error {}", says.0)),
                "{e}"
            );
            assert!(store.rows().is_empty());
        }
        // A rejection says a retry will not help, and keeps the server's words and the cause.
        let store = MemoryStore::failing_with(1, NO_GRANT);
        let e = call(&store, event(1.0), "r").await.unwrap_err();
        assert!(!e.to_string().contains("retry later"), "{e}");
        assert!(e.to_string().contains("INSERT command denied"), "{e}");
        let store_error = std::error::Error::source(&e).unwrap();
        assert!(std::error::Error::source(store_error).is_some());
    }
}
