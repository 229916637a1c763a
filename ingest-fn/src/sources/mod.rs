//! One thin adapter per event source, each turning a delivery into an [`EventBatch`]
//! and its write's outcome into the response that source expects.
//!
//! [`EventBatch`]: crate::batch::EventBatch

pub(crate) mod direct;
pub(crate) mod http;
pub(crate) mod kinesis;
pub(crate) mod sqs;

use serde_json::Value;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse};
use aws_lambda_events::streams::{KinesisBatchItemFailure, KinesisEventResponse};

use crate::batch::{EventBatch, Outcome, Rejected};
use crate::error::IngestError;
use crate::store::{EventStore, Wait};

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

/// A partial batch response, which names the items that failed; the event source retries
/// only those (or sends them to its dead-letter queue / on-failure destination).
/// https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html#services-sqs-batchfailurereporting
/// https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html
pub(crate) trait PartialBatchResponse: Default {
    /// Reports the item `id` (a `messageId`, a sequence number) as failed.
    fn fail(&mut self, id: String);
}

impl PartialBatchResponse for SqsBatchResponse {
    fn fail(&mut self, id: String) {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        self.batch_item_failures.push(failure);
    }
}

impl PartialBatchResponse for KinesisEventResponse {
    fn fail(&mut self, id: String) {
        let mut failure = KinesisBatchItemFailure::default();
        failure.item_identifier = Some(id);
        self.batch_item_failures.push(failure);
    }
}

/// Writes an SQS or Kinesis batch of `items` records and answers with the partial batch
/// response (`id` names item i as the source knows it): the invalid items reported as failed
/// (`invalid` logs each), or every one when the database rejected the write (`rejected` logs
/// it), so that they too reach the dead-letter queue or on-failure destination instead of
/// coming back for ever. A database that is unavailable fails the whole delivery, which comes
/// again.
pub(crate) async fn write_batch<S: EventStore, R: PartialBatchResponse>(
    store: &S,
    batch: &EventBatch,
    items: usize,
    outcome: &mut Outcome,
    id: impl Fn(usize) -> String,
    invalid: impl Fn(&Rejected),
    rejected: impl FnOnce(&crate::store::StoreError),
) -> Result<R, IngestError> {
    let failed: Vec<usize> = match batch.write(store, Wait::Full, outcome).await {
        Ok(_) => batch
            .rejected
            .iter()
            .map(|r| {
                invalid(r);
                r.index
            })
            .collect(),
        Err(e) if e.is_permanent() => {
            rejected(&e);
            (0..items).collect()
        }
        Err(e) => return Err(e.into()),
    };
    let mut response = R::default();
    for i in failed {
        response.fail(id(i));
    }
    Ok(response)
}

/// What the SQS and Kinesis adapters' tests share: both write a batch, fail the whole
/// delivery for a retry when the store is down, and report every item when it rejects the write.
#[cfg(test)]
pub(crate) mod batch_tests {
    use aws_lambda_events::kinesis::KinesisEvent;
    use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
    use aws_lambda_events::streams::KinesisEventResponse;

    use crate::batch::Outcome;
    use crate::error::IngestError;
    use crate::sources::{kinesis, sqs};
    use crate::store::memory::{MemoryStore, NO_GRANT, ServerSays, received_at as now};

    /// A batch delivery and its source's handler.
    pub(crate) trait Delivery: Clone {
        type Response: std::fmt::Debug;
        async fn handle(self, store: &MemoryStore) -> Result<Self::Response, IngestError>;
    }

    impl Delivery for SqsEvent {
        type Response = SqsBatchResponse;
        async fn handle(self, store: &MemoryStore) -> Result<SqsBatchResponse, IngestError> {
            sqs::handle(store, self, now(), &mut Outcome::default()).await
        }
    }

    impl Delivery for KinesisEvent {
        type Response = KinesisEventResponse;
        async fn handle(self, store: &MemoryStore) -> Result<KinesisEventResponse, IngestError> {
            kinesis::handle(store, self, now(), &mut Outcome::default()).await
        }
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
