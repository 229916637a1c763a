//! The Lambda entry point: detect the source, hand the event to its adapter, and, around it,
//! record what the delivery came to as the invocation's metrics line.

use chrono::{NaiveDateTime, Utc};
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::batch::Outcome;
use crate::error::IngestError;
use crate::metrics;
use crate::sources::{Source, direct, http, kinesis, sqs};
use crate::store::EventStore;

fn shape<T: serde::de::DeserializeOwned>(event: Value, what: &str) -> Result<T, IngestError> {
    serde_json::from_value(event)
        .map_err(|e| IngestError::InvalidEvent(format!("malformed {what} event: {e}")))
}

/// The source's answer as JSON. Failing here is the function's fault, not the event's.
fn to_value<T: serde::Serialize>(response: T) -> Result<Value, IngestError> {
    serde_json::to_value(response).map_err(|source| IngestError::InternalError {
        what: "encoding the response",
        source,
    })
}

/// Handles one invocation of any supported source, the event already read into a `Value` (the
/// function itself hands its payload unread to [`handle_payload`]). The adapter reports
/// what the delivery came to ([`Outcome`]); its metrics go to the [`metrics::metered`] scope
/// the handler runs in, which writes them as one line (in the function, after
/// the response is posted: [`metrics::MetricsLayer`]).
pub async fn handle<S: EventStore>(
    store: &S,
    event: LambdaEvent<Value>,
) -> Result<Value, IngestError> {
    let mut outcome = Outcome::default();
    let result = run(store, event, &mut outcome).await;
    metrics::record(&outcome);
    result
}

/// [`handle`] for the event as the Runtime API sent it, not yet read: the function's handler.
/// An SQS batch is read straight into its records ([`sqs::read`]), not first into a `Value`
/// of the whole batch and then out of it (most of a batch's cost beyond its floor); any other
/// event is read into a `Value` and handled as [`handle`] handles it.
pub async fn handle_payload<S: EventStore>(
    store: &S,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<Value, IngestError> {
    let mut outcome = Outcome::default();
    let received_at = Utc::now().naive_utc();
    let (payload, context) = event.into_parts();
    let result = match sqs::read(payload.get()) {
        Some(batch) => logged(
            Source::Sqs,
            async { to_value(sqs::handle(store, batch, received_at, &mut outcome).await?) }.await,
        ),
        // The Runtime API's payload is JSON (it has read as a RawValue), but a `Value` nests
        // at most 128 deep, as the runtime's own reading into one did.
        None => match serde_json::from_str(payload.get()) {
            Ok(payload) => {
                adapt(
                    store,
                    payload,
                    &context.request_id,
                    received_at,
                    &mut outcome,
                )
                .await
            }
            Err(e) => {
                let e = IngestError::InvalidEvent(format!("the event is not readable JSON: {e}"));
                tracing::warn!(error_type = e.error_type(), error = %e, "invocation failed");
                Err(e)
            }
        },
    };
    metrics::record(&outcome);
    result
}

async fn run<S: EventStore>(
    store: &S,
    event: LambdaEvent<Value>,
    outcome: &mut Outcome,
) -> Result<Value, IngestError> {
    let received_at = Utc::now().naive_utc();
    let (payload, context) = event.into_parts();
    adapt(store, payload, &context.request_id, received_at, outcome).await
}

/// Tells the source of `payload` and hands it to its adapter; logs a failure.
async fn adapt<S: EventStore>(
    store: &S,
    payload: Value,
    request_id: &str,
    received_at: NaiveDateTime,
    outcome: &mut Outcome,
) -> Result<Value, IngestError> {
    let source = Source::detect(&payload);
    // An async block, so that `?` ends the adapter, not this function: every failure is logged.
    let result = async {
        match source {
            Source::Sqs => {
                to_value(sqs::handle(store, shape(payload, "SQS")?, received_at, outcome).await?)
            }
            Source::Kinesis => to_value(
                kinesis::handle(store, shape(payload, "Kinesis")?, received_at, outcome).await?,
            ),
            Source::Http => {
                to_value(http::handle(store, shape(payload, "HTTP")?, received_at, outcome).await)
            }
            Source::HttpV1 => to_value(
                http::handle_v1(store, shape(payload, "REST API")?, received_at, outcome).await,
            ),
            Source::Direct => {
                to_value(direct::handle(store, payload, request_id, received_at, outcome).await?)
            }
        }
    }
    .await;
    logged(source, result)
}

/// Logs a failed invocation with its source and error type; passes `result` on.
fn logged(source: Source, result: Result<Value, IngestError>) -> Result<Value, IngestError> {
    if let Err(e) = &result {
        tracing::warn!(source = ?source, error_type = e.error_type(), mysql_error = e.mysql_code(), error = %e, "invocation failed");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::metered;
    use crate::store::memory::MemoryStore;
    use emf::Emitter;
    use lambda_runtime::Context;
    use serde_json::json;

    /// Invokes as the Lambda does and reads back the one metrics line, checked against the EMF
    /// specification (`emf::parse`).
    async fn invoke(
        store: &MemoryStore,
        payload: Value,
    ) -> (Result<Value, IngestError>, emf::Document) {
        line_of(handle(store, LambdaEvent::new(payload, Context::default()))).await
    }

    /// [`invoke`] as the function itself invokes, the payload unread ([`handle_payload`]),
    /// with the request id `request_id` (a direct invoke's keys derive from it).
    async fn invoke_unread(
        store: &MemoryStore,
        payload: &str,
        request_id: &str,
    ) -> (Result<Value, IngestError>, emf::Document) {
        let payload = RawValue::from_string(payload.to_owned()).unwrap();
        line_of(handle_payload(
            store,
            LambdaEvent::new(payload, context(request_id)),
        ))
        .await
    }

    fn context(request_id: &str) -> Context {
        let mut context = Context::default();
        context.request_id = request_id.to_owned();
        context
    }

    async fn line_of(
        invocation: impl Future<Output = Result<Value, IngestError>>,
    ) -> (Result<Value, IngestError>, emf::Document) {
        let (metrics, lines) = Emitter::in_memory("LambdaRdsIngest", "ingest-fn").unwrap();
        let r = metered(&metrics, invocation).await;
        let lines = lines.take();
        let [line] = lines.as_slice() else {
            panic!("one line per invocation: {lines:?}")
        };
        let doc = emf::parse(line).unwrap();
        assert_eq!(doc.namespace, "LambdaRdsIngest");
        assert_eq!(doc.dimension_sets, [["FunctionName"]]);
        assert_eq!(doc.dimensions["FunctionName"], "ingest-fn");
        (r, doc)
    }

    fn counts(doc: &emf::Document) -> [f64; 5] {
        [
            "EventsWritten",
            "EventsDuplicate",
            "EventsInvalid",
            "StoreUnavailable",
            "Reconnects",
        ]
        .map(|m| doc.sum(m))
    }

    fn sqs(bodies: &[&str]) -> Value {
        let messages: Vec<(String, &str)> = (0..bodies.len())
            .map(|i| format!("m-{i}"))
            .zip(bodies.iter().copied())
            .collect();
        lambda_harness::events::sqs_event(&messages)
    }

    #[tokio::test]
    async fn three_written_one_duplicate_one_invalid_is_3_1_1() {
        let store = MemoryStore::default();
        let event =
            |id: &str| format!(r#"{{"event_id": "{id}", "source": "q", "val1": 1, "val2": 2}}"#);
        let batch = sqs(&[
            &event("a"),
            &event("b"),
            &event("c"),
            &event("a"),
            r#"{"source": "q"}"#,
        ]);
        let (r, line) = invoke(&store, batch).await;
        assert_eq!(r.unwrap()["batchItemFailures"][0]["itemIdentifier"], "m-4");
        assert_eq!(counts(&line), [3.0, 1.0, 1.0, 0.0, 0.0]);
        let latency = &line.metrics["WriteLatency"];
        assert_eq!(latency.unit.as_deref(), Some("Milliseconds"));
        assert!(latency.values[0] >= 0.0);
    }

    #[tokio::test]
    async fn an_outage_counts_store_unavailable_and_no_events() {
        let store = MemoryStore::failing(1);
        let (r, line) = invoke(&store, sqs(&[r#"{"source": "q", "val1": 1, "val2": 2}"#])).await;
        assert_eq!(r.unwrap_err().error_type(), "StoreUnavailable");
        assert_eq!(counts(&line), [0.0, 0.0, 0.0, 1.0, 0.0]);
    }

    // A write the database rejects is neither an outage nor invalid input: it counts in none
    // of the five; a full server (1040) is an outage.
    #[tokio::test]
    async fn a_rejected_write_counts_nowhere_and_a_full_server_as_unavailable() {
        use crate::store::memory::{NO_GRANT, TOO_MANY};
        let one = r#"{"source": "q", "val1": 1, "val2": 2}"#;
        let store = MemoryStore::failing_with(1, NO_GRANT);
        let (r, line) = invoke(&store, sqs(&[one, r#"{"source": "q"}"#])).await;
        assert_eq!(r.unwrap()["batchItemFailures"].as_array().unwrap().len(), 2);
        assert_eq!(counts(&line), [0.0; 5]);
        let store = MemoryStore::failing_with(1, NO_GRANT);
        let (r, line) = invoke(&store, json!({"source": "d", "val1": 1, "val2": 2})).await;
        assert_eq!(r.unwrap_err().error_type(), "StoreRejected");
        assert_eq!(counts(&line), [0.0; 5]);
        let store = MemoryStore::failing_with(1, TOO_MANY);
        let (r, line) = invoke(&store, sqs(&[one])).await;
        assert_eq!(r.unwrap_err().error_type(), "StoreUnavailable");
        assert_eq!(counts(&line), [0.0, 0.0, 0.0, 1.0, 0.0]);
    }

    // Only an HTTP caller is waiting for the answer: its write waits briefly for a connection
    // (DB_HTTP_CONNECT_TIMEOUT_MS); every other source's, the whole DB_CONNECT_TIMEOUT_MS.
    #[tokio::test]
    async fn only_http_writes_wait_briefly_for_a_connection() {
        use crate::store::Wait;
        let one = r#"{"source": "w", "val1": 1, "val2": 2}"#;
        let request = lambda_harness::events::Request {
            method: "POST",
            headers: &[("content-type", "application/json")],
            body: Some(one),
            base64: false,
        };
        let cases = [
            (
                "Function URL",
                lambda_harness::events::function_url_event(request),
                Wait::Short,
            ),
            (
                "REST API",
                lambda_harness::events::rest_api_event("example-apigw-request.json", request),
                Wait::Short,
            ),
            ("SQS", sqs(&[one]), Wait::Full),
            (
                "Kinesis",
                lambda_harness::events::kinesis_event(&[(
                    "4959033827149025660855969253836157109592",
                    one.as_bytes(),
                )]),
                Wait::Full,
            ),
            ("direct", serde_json::from_str(one).unwrap(), Wait::Full),
        ];
        for (source, payload, wait) in cases {
            let store = MemoryStore::default();
            let (r, _) = invoke(&store, payload).await;
            assert!(r.is_ok(), "{source}: {r:?}");
            assert_eq!(store.waits(), [wait], "{source}");
            assert_eq!(store.rows().len(), 1, "{source}");
        }
    }

    /// A server that accepts TCP connections and never says a word: a MySQL client waits for
    /// its greeting, as it waits on an Aurora Serverless v2 instance resuming from auto-pause
    /// ("Any requested connections are established after the DB instance finishes resuming").
    /// The port, and how many connections it has accepted.
    async fn silent_server() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = std::sync::Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                held.push(socket);
            }
        });
        (port, accepted)
    }

    // A resume takes "approximately 15 seconds", "30 seconds or longer" after a pause of more
    // than a day, and AWS recommends "connection timeouts to 30 seconds or more"
    // (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html#auto-pause-resuming).
    // A queued delivery can wait that long (DB_CONNECT_TIMEOUT_MS, here 2 s for the test); an
    // HTTP caller hears 503 with Retry-After after DB_HTTP_CONNECT_TIMEOUT_MS (here 100 ms),
    // with no second attempt, and its retry finds the instance resumed. Only the order is
    // checked, not speed: the HTTP answer comes before the long budget, the SQS error after it.
    #[tokio::test]
    async fn while_the_database_resumes_http_answers_503_before_the_long_budget_and_sqs_waits_it() {
        use std::sync::atomic::Ordering;
        use std::time::Instant;
        let (port, accepted) = silent_server().await;
        let url = format!("mysql://ingest@127.0.0.1:{port}/ingest");
        let config = crate::Config::from_lookup(lambda_harness::lookup(&[
            ("DATABASE_URL", &url),
            ("DB_CONNECT_TIMEOUT_MS", "2000"),
            ("DB_HTTP_CONNECT_TIMEOUT_MS", "100"),
        ]))
        .unwrap();
        let long = config.connect_timeout;
        let store = crate::MySqlStore::new(config, None).await.unwrap();
        let post = lambda_harness::events::function_url_event(lambda_harness::events::Request {
            method: "POST",
            headers: &[("content-type", "application/json")],
            body: Some(r#"{"source": "r", "val1": 1, "val2": 2}"#),
            base64: false,
        });
        let started = Instant::now();
        let r = handle(&store, LambdaEvent::new(post, Context::default()))
            .await
            .unwrap();
        let http_took = started.elapsed();
        assert_eq!(r["statusCode"], 503, "{r}");
        assert_eq!(r["headers"]["retry-after"], "1", "{r}");
        let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["error"], "StoreUnavailable");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("DB_HTTP_CONNECT_TIMEOUT_MS=100"),
            "{message}"
        );
        assert!(
            http_took < long,
            "the 503 took {http_took:?}, the long budget is {long:?}"
        );
        // One attempt: the budget was spent waiting for the first connection.
        assert_eq!(accepted.load(Ordering::SeqCst), 1);

        let started = Instant::now();
        let e = handle(
            &store,
            LambdaEvent::new(
                sqs(&[r#"{"source": "r", "val1": 1, "val2": 2}"#]),
                Context::default(),
            ),
        )
        .await
        .unwrap_err();
        let sqs_took = started.elapsed();
        assert_eq!(e.error_type(), "StoreUnavailable");
        assert!(e.to_string().contains("DB_CONNECT_TIMEOUT_MS=2000"), "{e}");
        assert!(
            sqs_took >= long,
            "the batch failed after {sqs_took:?}, before {long:?}"
        );
        // The first attempt and the retry after a lost connection, each its own connection.
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    // An answer that cannot be encoded is the function's fault: InternalError, which the
    // caller does not mistake for invalid input (InvalidEvent).
    #[test]
    fn a_response_that_cannot_be_encoded_is_an_internal_error() {
        // JSON object keys must be strings: serde_json refuses a map keyed by pairs.
        let unencodable = std::collections::BTreeMap::from([((1, 2), 3)]);
        let e = to_value(unencodable).unwrap_err();
        assert_eq!(e.error_type(), "InternalError");
        assert!(e.to_string().starts_with("encoding the response: "), "{e}");
        assert!(
            std::error::Error::source(&e).is_some(),
            "keeps serde's error"
        );
        let d = lambda_runtime::Diagnostic::from(e);
        assert_eq!(d.error_type, "InternalError");
        assert_eq!(to_value(json!({"ok": true})).unwrap(), json!({"ok": true}));
    }

    #[tokio::test]
    async fn a_request_refused_whole_counts_each_of_its_events() {
        let store = MemoryStore::default();
        let ok = json!({"source": "d", "val1": 1, "val2": 2});
        let (r, line) = invoke(&store, json!([ok, {"source": "d"}, ok])).await;
        assert_eq!(r.unwrap_err().error_type(), "InvalidEvent");
        assert_eq!(counts(&line), [0.0, 0.0, 3.0, 0.0, 0.0]);
        // Nothing was written, so no latency either.
        assert!(!line.metrics.contains_key("WriteLatency"));
        // An HTTP body that is not JSON is one event refused.
        let post = lambda_harness::events::function_url_event(lambda_harness::events::Request {
            method: "POST",
            headers: &[],
            body: Some("not json"),
            base64: false,
        });
        let (r, line) = invoke(&store, post).await;
        assert_eq!(r.unwrap()["statusCode"], 400);
        assert_eq!(counts(&line), [0.0, 0.0, 1.0, 0.0, 0.0]);
    }

    // The function reads an SQS batch straight from the payload and any other event into a
    // `Value` first: either way it answers, stores and counts what `handle` does with the
    // event read, a malformed event and one that only looks like a batch included.
    #[tokio::test]
    async fn the_payload_unread_is_handled_as_the_event_read() {
        let event =
            |id: &str| format!(r#"{{"event_id": "{id}", "source": "q", "val1": 1, "val2": 2}}"#);
        let batch = sqs(&[
            &event("a"),
            r#"{"source": "q", "val1": 3, "val2": 4}"#,
            &event("a"),
            r#"{"source": "q"}"#,
            "not json",
        ]);
        let text = batch.to_string();
        let records = text.find(r#""Records""#).unwrap();
        let payloads = [
            text.clone(),
            // A duplicate field, which the batch's own reading refuses and a `Value` keeps
            // the last of.
            format!(r#"{{"Records": [], {}"#, &text[records..]),
            // A record that is not an SQS message.
            r#"{"Records": [{"eventSource": "aws:sqs", "body": 5}]}"#.to_owned(),
            r#"{"Records": [{"eventSource": "aws:kinesis"}]}"#.to_owned(),
            r#"{"source": "aws:sqs", "val1": 1, "val2": 2}"#.to_owned(),
            json!([{"source": "d", "val1": 1, "val2": 2}, {"source": "d"}]).to_string(),
            lambda_harness::events::function_url_event(lambda_harness::events::Request {
                method: "POST",
                headers: &[("content-type", "application/json")],
                body: Some(&event("h")),
                base64: false,
            })
            .to_string(),
        ];
        for payload in payloads {
            let (read, unread) = (MemoryStore::default(), MemoryStore::default());
            let value: Value = serde_json::from_str(&payload).unwrap();
            let (expected, expected_line) =
                line_of(handle(&read, LambdaEvent::new(value, context("r-1")))).await;
            let (got, line) = invoke_unread(&unread, &payload, "r-1").await;
            match (&expected, &got) {
                (Ok(expected), Ok(got)) => assert_eq!(got, expected, "{payload}"),
                (Err(expected), Err(got)) => {
                    assert_eq!(got.error_type(), expected.error_type(), "{payload}");
                    assert_eq!(got.to_string(), expected.to_string(), "{payload}");
                }
                _ => panic!("{payload}: {got:?}, expected {expected:?}"),
            }
            assert_eq!(counts(&line), counts(&expected_line), "{payload}");
            let keys = |s: &MemoryStore| s.rows().into_keys().collect::<Vec<_>>();
            assert_eq!(keys(&unread), keys(&read), "{payload}");
        }
    }

    // A payload nested deeper than a `Value` reads (128) was refused by the runtime itself;
    // read unread, it is an invalid event.
    #[tokio::test]
    async fn a_payload_too_deep_to_read_is_an_invalid_event() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let (r, line) = invoke_unread(&MemoryStore::default(), &deep, "r-1").await;
        let e = r.unwrap_err();
        assert_eq!(e.error_type(), "InvalidEvent");
        assert!(e.to_string().contains("recursion limit"), "{e}");
        assert_eq!(counts(&line), [0.0; 5]);
    }
}
