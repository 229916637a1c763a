//! One thin adapter per event source, each turning a delivery into an [`EventBatch`]
//! and its write's outcome into the response that source expects.
//!
//! [`EventBatch`]: crate::batch::EventBatch

pub(crate) mod direct;
pub(crate) mod http;
pub(crate) mod kinesis;
pub(crate) mod sqs;

use serde_json::Value;

/// Which source a Lambda event came from, told by its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Direct,
    /// A Function URL or HTTP API (payload format 2.0).
    Http,
    /// A REST API, or an HTTP API set to payload format 1.0.
    HttpV1,
    Sqs,
    Kinesis,
}

impl Source {
    pub(crate) fn detect(event: &Value) -> Source {
        let records_from = |source: &str| {
            event
                .get("Records")
                .and_then(|r| r.get(0))
                .and_then(|r| r.get("eventSource"))
                .and_then(Value::as_str)
                == Some(source)
        };
        if records_from("aws:sqs") {
            Source::Sqs
        } else if records_from("aws:kinesis") {
            Source::Kinesis
        } else if event
            .get("requestContext")
            .and_then(|c| c.get("http"))
            .is_some()
            && event.get("rawPath").is_some()
        {
            Source::Http
        } else if event.get("httpMethod").is_some_and(Value::is_string)
            && event
                .get("requestContext")
                .and_then(|c| c.get("httpMethod"))
                .is_some()
        {
            // https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html#http-api-develop-integrations-lambda.proxy-format
            Source::HttpV1
        } else {
            Source::Direct
        }
    }
}

/// What the SQS and Kinesis adapters' tests share: both write a batch, fail the whole
/// delivery for a retry when the store is down, and report every item when it rejects the write.
#[cfg(test)]
pub(crate) mod batch_tests {
    use crate::error::IngestError;
    use crate::store::memory::{MemoryStore, NO_GRANT, ServerSays};

    /// A batch delivery and its source's handler.
    pub(crate) trait Delivery: Clone {
        type Response: std::fmt::Debug;
        async fn handle(self, store: &MemoryStore) -> Result<Self::Response, IngestError>;
    }

    /// Handles `event` and then its redelivery against one store: the first response, the
    /// keys stored after it, and how many rows the store holds after the redelivery.
    pub(crate) async fn handled_twice<E: Delivery>(event: E) -> (E::Response, Vec<String>, usize) {
        let store = MemoryStore::default();
        let r = event.clone().handle(&store).await.unwrap();
        let keys = store.rows().into_keys().collect();
        event.handle(&store).await.unwrap();
        (r, keys, store.rows().len())
    }

    /// A store that is unavailable fails the whole delivery, with nothing written, so it comes again.
    pub(crate) async fn a_store_failure_fails_the_whole_batch<E: Delivery>(event: E) {
        let store = MemoryStore::failing(1);
        let e = event.handle(&store).await.unwrap_err();
        assert_eq!(e.error_type(), "StoreUnavailable");
        assert!(store.rows().is_empty());
    }

    /// A write the database rejects (no grant) writes nothing and answers with the response
    /// returned here, for the caller to check every item is reported; `outage` instead fails
    /// the whole delivery.
    pub(crate) async fn a_rejected_write<E: Delivery>(event: E, outage: ServerSays) -> E::Response {
        let store = MemoryStore::failing_with(1, NO_GRANT);
        let r = event.clone().handle(&store).await.unwrap();
        assert!(store.rows().is_empty());
        let store = MemoryStore::failing_with(1, outage);
        let e = event.handle(&store).await.unwrap_err();
        assert_eq!(e.error_type(), "StoreUnavailable");
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tells_sources_apart() {
        assert_eq!(
            Source::detect(&json!({"Records": [{"eventSource": "aws:sqs"}]})),
            Source::Sqs
        );
        assert_eq!(
            Source::detect(&json!({"Records": [{"eventSource": "aws:kinesis"}]})),
            Source::Kinesis
        );
        assert_eq!(
            Source::detect(&json!({"rawPath": "/", "requestContext": {"http": {}}})),
            Source::Http
        );
        assert_eq!(
            Source::detect(&json!({
                "httpMethod": "POST", "path": "/events",
                "requestContext": {"httpMethod": "POST"}, "isBase64Encoded": false
            })),
            Source::HttpV1
        );
        assert_eq!(
            Source::detect(&json!({"source": "d", "val1": 1, "val2": 2})),
            Source::Direct
        );
        // An event that merely has a field called httpMethod is still a direct invoke.
        assert_eq!(
            Source::detect(&json!({"source": "d", "httpMethod": "POST"})),
            Source::Direct
        );
        assert_eq!(Source::detect(&json!([{"source": "d"}])), Source::Direct);
        // An event object that merely has a field called Records is still a direct invoke.
        assert_eq!(Source::detect(&json!({"Records": 1})), Source::Direct);
    }
}
