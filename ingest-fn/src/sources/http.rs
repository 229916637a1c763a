//! HTTP POST through a Function URL or an API Gateway HTTP API (payload format 2.0), or through
//! an API Gateway REST API (payload format 1.0, also what an HTTP API sends when set to 1.0).
//! Both formats carry the same request (method, headers, body, base64 flag) and get the same
//! answers; only the envelopes differ.

use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayV2httpRequest,
    ApiGatewayV2httpResponse,
};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue, Method, header};
use base64::Engine;
use chrono::NaiveDateTime;
use serde_json::{Value, json};

use crate::batch::Outcome;
use crate::error::IngestError;
use crate::sources::direct;
use crate::store::{EventStore, Wait};

/// A request body larger than this is refused with 413 before it is parsed.
pub(crate) const MAX_BODY_BYTES: usize = 1 << 20;

/// What either payload format delivers.
struct Request<'a> {
    method: &'a Method,
    headers: &'a HeaderMap,
    body: Option<&'a str>,
    is_base64_encoded: bool,
}

/// The answer, before it is put in the front end's envelope.
struct Reply {
    status: i64,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn json(status: i64, body: Value) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Reply {
            status,
            headers,
            body: body.to_string(),
        }
    }

    fn error(status: i64, error: &str, message: impl Into<String>) -> Reply {
        Reply::json(status, json!({"error": error, "message": message.into()}))
    }
}

impl From<Reply> for ApiGatewayV2httpResponse {
    fn from(reply: Reply) -> Self {
        let mut r = ApiGatewayV2httpResponse::default();
        r.status_code = reply.status;
        r.headers = reply.headers;
        r.body = Some(Body::Text(reply.body));
        r
    }
}

impl From<Reply> for ApiGatewayProxyResponse {
    fn from(reply: Reply) -> Self {
        let mut r = ApiGatewayProxyResponse::default();
        r.status_code = reply.status;
        r.headers = reply.headers;
        r.body = Some(Body::Text(reply.body));
        r
    }
}

/// A request refused before it reaches the database.
struct Refusal {
    status: i64,
    error: &'static str,
    message: String,
}

fn refuse(status: i64, error: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        error,
        message: message.into(),
    }
}

/// The body as text: base64-decoded when the front end encoded it, refused when not UTF-8.
fn body_text(req: &Request) -> Result<String, Refusal> {
    let raw = req.body.unwrap_or_default();
    let bytes = if req.is_base64_encoded {
        base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|e| {
                refuse(
                    400,
                    "InvalidEvent",
                    format!("body is marked base64 but does not decode: {e}"),
                )
            })?
    } else {
        raw.as_bytes().to_vec()
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(refuse(
            413,
            "PayloadTooLarge",
            format!(
                "body is {} bytes, over the limit of {MAX_BODY_BYTES}",
                bytes.len()
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        refuse(
            400,
            "InvalidEvent",
            format!(
                "body is not valid UTF-8 (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// The client's `Idempotency-Key`, when it sent one. Header names compare case-insensitively,
/// so a REST API's original case and a Function URL's lower case are the same header.
fn idempotency_key(req: &Request) -> Result<Option<String>, Refusal> {
    let Some(v) = req.headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .map_err(|_| refuse(400, "InvalidEvent", "Idempotency-Key header is not ASCII"))?;
    // Arrays append ":<index>", up to 4 more characters.
    if key.is_empty() || key.len() > 59 || !key.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(refuse(
            400,
            "InvalidEvent",
            "Idempotency-Key header: expected 1 to 59 printable ASCII characters",
        ));
    }
    Ok(Some(key.to_owned()))
}

/// A Function URL or HTTP API request (payload format 2.0).
pub(crate) async fn handle<S: EventStore>(
    store: &S,
    req: ApiGatewayV2httpRequest,
    received_at: NaiveDateTime,
    outcome: &mut Outcome,
) -> ApiGatewayV2httpResponse {
    let request = Request {
        method: &req.request_context.http.method,
        headers: &req.headers,
        body: req.body.as_deref(),
        is_base64_encoded: req.is_base64_encoded,
    };
    reply(store, request, received_at, outcome).await.into()
}

/// A REST API request (payload format 1.0).
pub(crate) async fn handle_v1<S: EventStore>(
    store: &S,
    req: ApiGatewayProxyRequest,
    received_at: NaiveDateTime,
    outcome: &mut Outcome,
) -> ApiGatewayProxyResponse {
    let request = Request {
        method: &req.http_method,
        headers: &req.headers,
        body: req.body.as_deref(),
        is_base64_encoded: req.is_base64_encoded,
    };
    reply(store, request, received_at, outcome).await.into()
}

async fn reply<S: EventStore>(
    store: &S,
    req: Request<'_>,
    received_at: NaiveDateTime,
    outcome: &mut Outcome,
) -> Reply {
    if *req.method != Method::POST {
        let mut r = Reply::error(
            405,
            "MethodNotAllowed",
            format!("{} is not supported; POST events", req.method),
        );
        r.headers
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let (text, key) = match body_text(&req).and_then(|t| Ok((t, idempotency_key(&req)?))) {
        Ok(v) => v,
        Err(r) => {
            // A body that cannot be read: one event refused, as an unreadable SQS message is.
            outcome.refuse(1);
            return Reply::error(r.status, r.error, r.message);
        }
    };
    let body: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            outcome.refuse(1);
            return Reply::error(400, "InvalidEvent", format!("body is not JSON: {e}"));
        }
    };
    // Without a client key every attempt is a new event: a fresh, time-ordered UUID.
    let derive = |i: Option<usize>| match &key {
        Some(k) => direct::request_key(k, i),
        None => uuid::Uuid::now_v7().to_string(),
    };
    let batch = match direct::batch(&body, received_at, derive) {
        Ok(b) => b,
        Err(e) => {
            outcome.refuse(direct::items_in(&body));
            return Reply::error(400, e.error_type(), e.to_string());
        }
    };
    match batch.write(store, Wait::Short, outcome).await {
        Ok(w) => Reply::json(
            201,
            json!({"inserted": w.inserted, "duplicates": w.duplicates}),
        ),
        // Refused for good: a server error, and no Retry-After to invite the same request.
        Err(e) if e.is_permanent() => {
            let e = IngestError::from(e);
            Reply::error(500, e.error_type(), e.to_string())
        }
        Err(e) => {
            let e = IngestError::from(e);
            let mut r = Reply::error(503, e.error_type(), e.to_string());
            r.headers
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::{MemoryStore, received_at as now};

    fn request(method: &str, body: &str, base64: bool, key: Option<&str>) -> Value {
        let mut headers = vec![("content-type", "application/json")];
        headers.extend(key.map(|k| ("idempotency-key", k)));
        lambda_harness::events::function_url_event(lambda_harness::events::Request {
            method,
            headers: &headers,
            body: Some(body),
            base64,
        })
    }

    /// A REST API POST of `ONE` with `headers`, in API Gateway's own sample envelope.
    fn rest_api_post(headers: &[(&str, &str)]) -> Value {
        lambda_harness::events::rest_api_event(
            "example-apigw-request.json",
            lambda_harness::events::Request {
                method: "POST",
                headers,
                body: Some(ONE),
                base64: false,
            },
        )
    }

    async fn post(store: &MemoryStore, event: Value) -> (i64, Value, HeaderMap) {
        let req: ApiGatewayV2httpRequest = serde_json::from_value(event).unwrap();
        let r = handle(store, req, now(), &mut Outcome::default()).await;
        let Some(Body::Text(body)) = r.body else {
            panic!("a text body")
        };
        (
            r.status_code,
            serde_json::from_str(&body).unwrap(),
            r.headers,
        )
    }

    const ONE: &str = r#"{"source": "web", "val1": 1, "val2": 2}"#;

    #[tokio::test]
    async fn created_then_duplicate_under_the_clients_key() {
        let store = MemoryStore::default();
        let event = request("POST", &format!("[{ONE},{ONE}]"), false, Some("k-1"));
        let (status, body, _) = post(&store, event.clone()).await;
        assert_eq!(
            (status, body),
            (201, json!({"inserted": 2, "duplicates": 0}))
        );
        let (status, body, _) = post(&store, event).await;
        assert_eq!(
            (status, body),
            (201, json!({"inserted": 0, "duplicates": 2}))
        );
        assert_eq!(store.rows().keys().collect::<Vec<_>>(), ["k-1:0", "k-1:1"]);
        // Base64 bodies are decoded; without a key each request is new.
        let b64 = base64::engine::general_purpose::STANDARD.encode(ONE);
        let (status, _, _) = post(&store, request("POST", &b64, true, None)).await;
        assert_eq!(status, 201);
        assert_eq!(store.rows().len(), 3);
    }

    #[tokio::test]
    async fn refusals_name_the_problem_and_write_nothing() {
        let store = MemoryStore::default();
        let (status, body, headers) = post(&store, request("GET", "", false, None)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (405, Some("MethodNotAllowed"))
        );
        assert_eq!(headers[header::ALLOW], "POST");
        let cases = [
            (request("POST", "not json", false, None), 400, "not JSON"),
            (request("POST", "%%%", true, None), 400, "base64"),
            (
                request("POST", r#"{"source": "web"}"#, false, None),
                400,
                "val1",
            ),
            (
                request("POST", ONE, false, Some("")),
                400,
                "Idempotency-Key",
            ),
            (
                request("POST", &"x".repeat(MAX_BODY_BYTES + 1), false, None),
                413,
                "over the limit",
            ),
        ];
        for (event, want, says) in cases {
            let (status, body, _) = post(&store, event).await;
            let message = body["message"].as_str().unwrap();
            assert_eq!(status, want, "{message}");
            assert!(message.contains(says), "{message}");
        }
        assert!(store.rows().is_empty());
    }

    #[tokio::test]
    async fn a_store_failure_is_503_with_retry_after() {
        let store = MemoryStore::failing(1);
        let (status, body, headers) = post(&store, request("POST", ONE, false, Some("k"))).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (503, Some("StoreUnavailable"))
        );
        assert_eq!(headers[header::RETRY_AFTER], "1");
        assert!(store.rows().is_empty());
    }

    #[tokio::test]
    async fn a_rejected_write_is_500_without_retry_after_and_a_full_server_503() {
        use crate::store::memory::{NO_GRANT, TOO_MANY};
        let store = MemoryStore::failing_with(1, NO_GRANT);
        let (status, body, headers) = post(&store, request("POST", ONE, false, Some("k"))).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (500, Some("StoreRejected"))
        );
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("MySQL error 1142")
        );
        assert!(!headers.contains_key(header::RETRY_AFTER));
        let store = MemoryStore::failing_with(1, TOO_MANY);
        let (status, body, headers) = post(&store, request("POST", ONE, false, Some("k"))).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (503, Some("StoreUnavailable"))
        );
        assert_eq!(headers[header::RETRY_AFTER], "1");
        // The REST API's envelope carries the same answer.
        let store = MemoryStore::failing_with(1, NO_GRANT);
        let event = rest_api_post(&[]);
        let req: ApiGatewayProxyRequest = serde_json::from_value(event).unwrap();
        let r = handle_v1(&store, req, now(), &mut Outcome::default()).await;
        assert_eq!(r.status_code, 500);
        assert!(!r.headers.contains_key(header::RETRY_AFTER));
        assert!(store.rows().is_empty());
    }

    #[tokio::test]
    async fn a_rest_api_request_gets_the_same_answer_in_its_envelope() {
        let store = MemoryStore::failing(1);
        let event = rest_api_post(&[("Idempotency-Key", "k")]);
        let req: ApiGatewayProxyRequest = serde_json::from_value(event.clone()).unwrap();
        assert_eq!(
            handle_v1(&store, req, now(), &mut Outcome::default())
                .await
                .status_code,
            503
        );
        let req: ApiGatewayProxyRequest = serde_json::from_value(event).unwrap();
        let r = handle_v1(&store, req, now(), &mut Outcome::default()).await;
        assert_eq!(r.status_code, 201);
        assert_eq!(store.rows().keys().collect::<Vec<_>>(), ["k"]);
    }
}
