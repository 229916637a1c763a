//! HTTP: a Function URL or HTTP API (payload format 2.0) and a REST API (1.0), built on
//! aws_lambda_events' own fixtures, answered with the same statuses.

use base64::Engine;
use ingest::handle;
use lambda_harness::events;
use serde_json::{Value, json};

use crate::{TestDb, event, invoke};

/// The two envelopes an HTTP POST arrives in.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Front {
    /// A Function URL or HTTP API: payload format 2.0.
    FunctionUrl,
    /// A REST API: payload format 1.0, built on one of aws_lambda_events' own fixtures.
    RestApi(&'static str),
}

pub(crate) fn http(method: &str, body: Option<&[u8]>, base64: bool, key: Option<&str>) -> Value {
    http_via(Front::FunctionUrl, method, body, base64, key)
}

pub(crate) fn http_via(
    front: Front,
    method: &str,
    body: Option<&[u8]>,
    base64: bool,
    key: Option<&str>,
) -> Value {
    let body = body.map(|b| {
        if base64 {
            base64::engine::general_purpose::STANDARD.encode(b)
        } else {
            String::from_utf8(b.to_vec()).unwrap()
        }
    });
    let request = |headers| events::Request {
        method,
        headers,
        body: body.as_deref(),
        base64,
    };
    match front {
        // A Function URL lowercases header names.
        Front::FunctionUrl => {
            let mut headers = vec![
                ("content-type", "application/json"),
                ("host", "abc.lambda-url.ap-northeast-1.on.aws"),
            ];
            headers.extend(key.map(|k| ("idempotency-key", k)));
            events::function_url_event(request(&headers))
        }
        // A REST API keeps the client's header case; the names compare case-insensitively.
        Front::RestApi(sample) => {
            let headers: Vec<_> = key.map(|k| ("Idempotency-Key", k)).into_iter().collect();
            events::rest_api_event(sample, request(&headers))
        }
    }
}

pub(crate) fn status_body(r: &Value) -> (i64, Value) {
    (
        r["statusCode"].as_i64().unwrap(),
        serde_json::from_str(r["body"].as_str().unwrap_or("null")).unwrap(),
    )
}

async fn http_posts_answer_with_the_right_status_via(front: Front) {
    let db = TestDb::new().await;
    let store = db.store().await;
    let one = serde_json::to_vec(&event("web", 1.0)).unwrap();
    let r = handle(
        &store,
        invoke(
            http_via(front, "POST", Some(&one), false, Some("client-key-1")),
            "r1",
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        status_body(&r),
        (201, json!({"inserted": 1, "duplicates": 0}))
    );
    // The client retries with the same key: a duplicate, still 201.
    let r = handle(
        &store,
        invoke(
            http_via(front, "POST", Some(&one), true, Some("client-key-1")),
            "r2",
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        status_body(&r),
        (201, json!({"inserted": 0, "duplicates": 1}))
    );
    let many = serde_json::to_vec(&json!([event("web", 2.0), event("web", 3.0)])).unwrap();
    let r = handle(
        &store,
        invoke(http_via(front, "POST", Some(&many), false, None), "r3"),
    )
    .await
    .unwrap();
    assert_eq!(status_body(&r).0, 201);
    assert_eq!(db.count().await, 3);

    let bad = serde_json::to_vec(&json!({"source": "web", "val1": "x", "val2": 1})).unwrap();
    let (status, body) = status_body(
        &handle(
            &store,
            invoke(http_via(front, "POST", Some(&bad), false, None), "r4"),
        )
        .await
        .unwrap(),
    );
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("val1"), "{body}");
    let (status, body) = status_body(
        &handle(
            &store,
            invoke(
                http_via(
                    front,
                    "POST",
                    Some(b"{\"source\": \"\xff\xfe\"}"),
                    true,
                    None,
                ),
                "r5",
            ),
        )
        .await
        .unwrap(),
    );
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("UTF-8"),
        "{body}"
    );
    let (status, _) = status_body(
        &handle(
            &store,
            invoke(
                http_via(front, "POST", Some(b"{not json"), false, None),
                "r6",
            ),
        )
        .await
        .unwrap(),
    );
    assert_eq!(status, 400);
    let huge = vec![b' '; (1 << 20) + 1];
    let (status, _) = status_body(
        &handle(
            &store,
            invoke(http_via(front, "POST", Some(&huge), true, None), "r7"),
        )
        .await
        .unwrap(),
    );
    assert_eq!(status, 413);
    let r = handle(
        &store,
        invoke(http_via(front, "GET", None, false, None), "r8"),
    )
    .await
    .unwrap();
    assert_eq!(r["statusCode"], 405);
    assert_eq!(r["headers"]["allow"], "POST");
    assert_eq!(db.count().await, 3);
}

#[tokio::test]
async fn http_posts_answer_with_the_right_status() {
    http_posts_answer_with_the_right_status_via(Front::FunctionUrl).await;
}

// A REST API sends payload format 1.0: handled exactly as a Function URL.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-input-format
#[tokio::test]
async fn rest_api_posts_answer_exactly_as_function_url_posts() {
    for fixture in events::REST_API_SAMPLES {
        http_posts_answer_with_the_right_status_via(Front::RestApi(fixture)).await;
    }
}

#[tokio::test]
async fn rest_api_fixtures_as_aws_lambda_events_ships_them_are_http_not_direct_invokes() {
    let db = TestDb::new().await;
    let store = db.store().await;
    for fixture in events::REST_API_SAMPLES {
        let r = handle(&store, invoke(events::sample(fixture), "r1"))
            .await
            .unwrap_or_else(|e| panic!("{fixture}: {e}"));
        let (status, body) = status_body(&r);
        if events::sample(fixture)["httpMethod"] == "POST" {
            // Their body, {"a": 1}, is not an event: a 400 naming what is missing.
            assert_eq!(status, 400, "{fixture}: {body}");
            assert!(
                body["message"].as_str().unwrap().contains("source"),
                "{fixture}: {body}"
            );
        } else {
            assert_eq!(status, 405, "{fixture}: {body}");
        }
    }
    assert_eq!(db.count().await, 0);
}
