//! ingest-fn through its real Lambda types against a real MySQL-compatible server:
//! `DATABASE_URL` when set, otherwise one container for this test binary through testcontainers
//! (`e2e::mysql`). Each test gets a fresh database beside the server's own.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine;
use e2e::events;
use e2e::mariadb::tls_server;
use e2e::scratch::{ScratchDatabase, after_drop};
use ingest::{Config, IngestError, MIGRATOR, MySqlStore, handle};
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde_json::{Value, json};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool};
use sqlx::{AssertSqlSafe, ConnectOptions, Row};
use tokio::net::TcpListener;

/// A fresh database with the migrations applied (`e2e::scratch`, which drops it again), a pool
/// on it, and what the tests read back.
struct TestDb {
    scratch: ScratchDatabase,
    options: MySqlConnectOptions,
    name: String,
    pool: MySqlPool,
}

impl TestDb {
    async fn new() -> TestDb {
        let scratch = ScratchDatabase::with_migrator(&MIGRATOR, "test")
            .await
            .unwrap_or_else(|e| panic!("a database on the test server: {e}"));
        let pool = MySqlPool::connect_with(scratch.options.clone())
            .await
            .unwrap();
        TestDb {
            options: scratch.options.clone(),
            name: scratch.name.clone(),
            pool,
            scratch,
        }
    }

    /// The database's URL with the server's account, at `host_port` (a proxy) if given.
    fn url(&self, host_port: Option<(&str, u16)>) -> String {
        let mut url = url::Url::parse(&self.scratch.url).unwrap();
        if let Some((host, port)) = host_port {
            url.set_host(Some(host)).unwrap();
            url.set_port(Some(port)).unwrap();
        }
        url.to_string()
    }

    async fn store(&self) -> MySqlStore {
        self.store_at(None, &[]).await
    }

    async fn store_at(&self, host_port: Option<(&str, u16)>, extra: &[(&str, &str)]) -> MySqlStore {
        store_for(self.url(host_port), extra).await
    }

    async fn count(&self) -> i64 {
        sqlx::query("SELECT COUNT(*) FROM events")
            .fetch_one(&self.pool)
            .await
            .unwrap()
            .get(0)
    }

    async fn row(&self, event_id: &str) -> sqlx::mysql::MySqlRow {
        sqlx::query("SELECT source, val1, val2, CAST(recorded_at AS CHAR) AS recorded_at, payload, received_at FROM events WHERE event_id = ?")
            .bind(event_id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

/// A store on `url`, with the tests' connect timeout and `extra` settings over it.
async fn store_for(url: String, extra: &[(&str, &str)]) -> MySqlStore {
    let mut vars: HashMap<String, String> = HashMap::from([("DATABASE_URL".into(), url)]);
    vars.insert("DB_CONNECT_TIMEOUT_MS".into(), "1500".into());
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = Config::from_lookup(|k| vars.get(k).cloned()).unwrap();
    MySqlStore::connect(config).await.unwrap()
}

fn invoke(payload: Value, request_id: &str) -> LambdaEvent<Value> {
    let mut context = Context::default();
    context.request_id = request_id.to_owned();
    LambdaEvent::new(payload, context)
}

fn event(source: &str, v: f64) -> Value {
    json!({"source": source, "val1": v, "val2": v * 2.0})
}

fn diagnostic(e: IngestError) -> Diagnostic {
    e.into()
}

// ---------- direct invokes ----------

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

// ---------- HTTP ----------

/// The two envelopes an HTTP POST arrives in.
#[derive(Debug, Clone, Copy)]
enum Front {
    /// A Function URL or HTTP API: payload format 2.0.
    FunctionUrl,
    /// A REST API: payload format 1.0, built on one of aws_lambda_events' own fixtures.
    RestApi(&'static str),
}

fn http(method: &str, body: Option<&[u8]>, base64: bool, key: Option<&str>) -> Value {
    http_via(Front::FunctionUrl, method, body, base64, key)
}

fn http_via(
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

fn status_body(r: &Value) -> (i64, Value) {
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

// ---------- SQS and Kinesis ----------

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

// ---------- connections ----------

#[tokio::test]
async fn a_connection_killed_between_invocations_is_replaced() {
    let db = TestDb::new().await;
    let store = db.store().await;
    handle(&store, invoke(event("k", 1.0), "before"))
        .await
        .unwrap();
    // The server drops the function's connection while it is frozen: every connection to this
    // database but the one asking (the test's own pool reconnects by itself).
    let mut admin = db.pool.acquire().await.unwrap();
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()",
    )
    .fetch_all(&mut *admin)
    .await
    .unwrap();
    assert!(!ids.is_empty());
    for id in &ids {
        sqlx::query(AssertSqlSafe(format!("KILL {id}")))
            .execute(&mut *admin)
            .await
            .unwrap();
    }
    drop(admin);
    // KILL returns before the server has closed the connections.
    let killed = format!(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID IN ({})",
        ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
    );
    e2e::poll::until(
        "the killed connections gone from PROCESSLIST",
        Duration::from_secs(10),
        || {
            let (pool, sql) = (db.pool.clone(), killed.clone());
            async move {
                let left: i64 = sqlx::query_scalar(AssertSqlSafe(sql))
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                left == 0
            }
        },
    )
    .await;
    let r = handle(&store, invoke(event("k", 2.0), "after"))
        .await
        .unwrap();
    assert_eq!(r["inserted"], 1);
    assert_eq!(db.count().await, 2);
}

/// A TCP proxy in front of the server that can be cut and restored, to play an outage.
struct Outage {
    up: Arc<tokio::sync::watch::Sender<bool>>,
    /// Connections being relayed now.
    relays: Arc<std::sync::atomic::AtomicUsize>,
    port: u16,
}

impl Outage {
    async fn start(target: (String, u16)) -> Outage {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(tokio::sync::watch::Sender::new(true));
        let relays = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (flag, count) = (up.clone(), relays.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let mut up = flag.subscribe();
                if !*up.borrow_and_update() {
                    continue; // refused: dropped at once
                }
                let target = target.clone();
                let count = count.clone();
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        let (mut cr, mut cw) = client.split();
                        let (mut sr, mut sw) = server.split();
                        tokio::select! {
                            _ = tokio::io::copy(&mut cr, &mut sw) => {}
                            _ = tokio::io::copy(&mut sr, &mut cw) => {}
                            _ = up.wait_for(|up| !up) => {}
                        }
                    }
                    drop(client);
                    count.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Outage { up, relays, port }
    }

    fn set(&self, up: bool) {
        self.up.send_replace(up);
    }

    /// Cuts the proxy and returns once every connection it relayed is closed.
    async fn cut(&self) {
        self.set(false);
        let relays = &self.relays;
        e2e::poll::until(
            "the proxy's connections closed",
            Duration::from_secs(10),
            || std::future::ready(relays.load(Ordering::SeqCst) == 0),
        )
        .await;
    }
}

#[tokio::test]
async fn an_unreachable_server_is_store_unavailable_until_it_is_back() {
    let db = TestDb::new().await;
    let proxy = Outage::start((db.options.get_host().to_owned(), db.options.get_port())).await;
    let store = db.store_at(Some(("127.0.0.1", proxy.port)), &[]).await;
    handle(&store, invoke(event("o", 1.0), "up-1"))
        .await
        .unwrap();
    proxy.cut().await;
    let d = diagnostic(
        handle(&store, invoke(event("o", 2.0), "down"))
            .await
            .unwrap_err(),
    );
    assert_eq!(d.error_type, "StoreUnavailable");
    assert!(!d.error_message.contains("password"));
    // HTTP says 503, SQS fails the whole batch.
    let body = serde_json::to_vec(&event("o", 3.0)).unwrap();
    let r = handle(
        &store,
        invoke(http("POST", Some(&body), false, None), "down-http"),
    )
    .await
    .unwrap();
    assert_eq!(r["statusCode"], 503);
    let d = diagnostic(
        handle(
            &store,
            invoke(
                events::sqs_event(&[("m-9", event("o", 4.0).to_string())]),
                "down-sqs",
            ),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(d.error_type, "StoreUnavailable");
    proxy.set(true);
    let r = handle(&store, invoke(event("o", 5.0), "up-2"))
        .await
        .unwrap();
    assert_eq!(r["inserted"], 1);
    assert_eq!(db.count().await, 2);
}

// Each invocation's metrics line (CloudWatch embedded metric format), through the real store:
// 3 new, 1 duplicate and 1 invalid SQS message give 3/1/1; a connection that was lost and that
// the store replaced is one Reconnect; an unreachable server is StoreUnavailable.
#[tokio::test]
async fn metrics_lines_count_what_the_store_did() {
    let db = TestDb::new().await;
    let proxy = Outage::start((db.options.get_host().to_owned(), db.options.get_port())).await;
    let store = db.store_at(Some(("127.0.0.1", proxy.port)), &[]).await;
    let (metrics, lines) = emf::Emitter::in_memory("LambdaRdsIngest", "ingest-fn").unwrap();
    let counted = async |payload: Value, request_id: &str| {
        let r = ingest::metered(
            &metrics,
            ingest::handle(&store, invoke(payload, request_id)),
        )
        .await;
        let [line]: [String; 1] = lines.take().try_into().unwrap();
        let doc = emf::parse(&line).unwrap();
        let names = ["EventsWritten", "EventsDuplicate", "EventsRejected"];
        let figures = names
            .into_iter()
            .chain(["StoreUnavailable", "Reconnects"])
            .map(|m| doc.sum(m))
            .collect::<Vec<_>>();
        (r, figures)
    };
    let e = |id: &str| json!({"event_id": id, "source": "m", "val1": 1, "val2": 2}).to_string();
    let batch = events::sqs_event(&[
        ("m-1", e("a")),
        ("m-2", e("b")),
        ("m-3", e("c")),
        ("m-4", e("a")),
        ("m-5", "{}".into()),
    ]);
    let (r, figures) = counted(batch, "sqs").await;
    assert_eq!(
        r.unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "m-5"}]})
    );
    assert_eq!(figures, [3.0, 1.0, 1.0, 0.0, 0.0]);

    // The connection is lost between invocations and the network is back: replaced.
    proxy.cut().await;
    proxy.set(true);
    let (r, figures) = counted(event("m", 1.0), "after-cut").await;
    assert_eq!(r.unwrap()["inserted"], 1);
    assert_eq!(figures, [1.0, 0.0, 0.0, 0.0, 1.0]);

    // The network stays down: nothing replaced, the store unavailable.
    proxy.cut().await;
    let (r, figures) = counted(event("m", 2.0), "down").await;
    assert_eq!(r.unwrap_err().error_type(), "StoreUnavailable");
    assert_eq!(figures, [0.0, 0.0, 0.0, 1.0, 0.0]);
    assert_eq!(db.count().await, 4);
}

// A rotated password: the server refuses the old one (1045), the store reads the secret again
// and retries once. Secrets Manager is moto's; the store builds its client from the
// environment, as on Lambda, so the test runs where AWS_ENDPOINT_URL names moto (e2e::moto).
#[tokio::test]
async fn a_refused_login_reads_the_rotated_secret_and_retries_once() {
    if !e2e::moto::in_environment_pointing_at_moto(
        "a_refused_login_reads_the_rotated_secret_and_retries_once",
    ) {
        return;
    }
    let db = TestDb::new().await;
    let secret = e2e::moto::TestSecret::create("ingest_rot", "first-Password-1").await;
    let (arn, user) = (secret.arn.clone(), secret.user.clone());
    for sql in [
        format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'first-Password-1'"),
        format!("GRANT INSERT ON `{}`.`events` TO '{user}'@'%'", db.name),
    ] {
        sqlx::query(AssertSqlSafe(sql))
            .execute(&db.pool)
            .await
            .unwrap();
    }
    let port = db.options.get_port().to_string();
    let vars: HashMap<&str, String> = HashMap::from([
        ("DB_HOST", db.options.get_host().to_owned()),
        ("DB_PORT", port),
        ("DB_NAME", db.name.clone()),
        ("DB_SECRET_ARN", arn.clone()),
        ("DB_TLS", "disabled".to_owned()),
    ]);
    let store = MySqlStore::connect(Config::from_lookup(|k| vars.get(k).cloned()).unwrap())
        .await
        .unwrap();
    handle(&store, invoke(event("r", 1.0), "first"))
        .await
        .unwrap();

    // Rotation: new password on the server and in the secret; the store's connection is gone.
    sqlx::query(AssertSqlSafe(format!(
        "ALTER USER '{user}'@'%' IDENTIFIED BY 'second-Password-2'"
    )))
    .execute(&db.pool)
    .await
    .unwrap();
    secret.rotate("second-Password-2").await;
    let ids: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '{user}'"
    )))
    .fetch_all(&db.pool)
    .await
    .unwrap();
    for id in ids {
        sqlx::query(AssertSqlSafe(format!("KILL {id}")))
            .execute(&db.pool)
            .await
            .unwrap();
    }
    let r = handle(&store, invoke(event("r", 2.0), "after-rotation"))
        .await
        .unwrap();
    assert_eq!(r["inserted"], 1);
    assert_eq!(db.count().await, 2);
    sqlx::query(AssertSqlSafe(format!("DROP USER '{user}'@'%'")))
        .execute(&db.pool)
        .await
        .unwrap();
}

/// A TCP proxy whose connections can go silent: bytes stop flowing both ways, but neither side
/// sees a reset or a FIN, as when a connection is dropped somewhere on the path while Lambda
/// has the environment frozen.
struct SilentProxy {
    port: u16,
    /// Connections accepted before the current epoch are silent.
    epoch: Arc<std::sync::atomic::AtomicUsize>,
    /// New connections are accepted and then never answered.
    all: Arc<AtomicBool>,
}

impl SilentProxy {
    async fn start(target: (String, u16)) -> SilentProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let epoch = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let all = Arc::new(AtomicBool::new(false));
        let (e, a) = (epoch.clone(), all.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let (epoch, all, target) = (e.clone(), a.clone(), target.clone());
                tokio::spawn(async move {
                    let mut server = tokio::net::TcpStream::connect(target).await.unwrap();
                    let born = epoch.load(Ordering::SeqCst);
                    // Checked before every chunk is passed on, so silence takes effect at once.
                    let alive =
                        || !all.load(Ordering::SeqCst) && epoch.load(Ordering::SeqCst) == born;
                    let (mut cr, mut cw) = client.split();
                    let (mut sr, mut sw) = server.split();
                    tokio::join!(
                        pump(&mut cr, &mut sw, &alive),
                        pump(&mut sr, &mut cw, &alive)
                    );
                });
            }
        });
        SilentProxy { port, epoch, all }
    }

    /// Every connection open now goes silent; new ones still work.
    fn silence_existing(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Every connection, open or new, goes silent.
    fn silence_all(&self) {
        self.all.store(true, Ordering::SeqCst);
        self.silence_existing();
    }
}

/// Passes bytes on while `alive`; once it is not, holds both sockets open and passes nothing.
async fn pump(
    from: &mut (impl tokio::io::AsyncRead + Unpin),
    to: &mut (impl tokio::io::AsyncWrite + Unpin),
    alive: &impl Fn() -> bool,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await.unwrap_or(0);
        if !alive() {
            return std::future::pending().await;
        }
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Fails the test instead of hanging it: a liveness guard, not a speed check.
async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(25), f)
        .await
        .unwrap_or_else(|_| panic!("{what} hung"))
}

const SHORT_TIMEOUTS: &[(&str, &str)] = &[
    ("DB_CONNECT_TIMEOUT_MS", "500"),
    ("DB_WRITE_TIMEOUT_MS", "300"),
];

/// A store with short timeouts behind a [`SilentProxy`], its connection open after one event.
async fn one_event_through_a_silent_proxy() -> (TestDb, SilentProxy, MySqlStore) {
    let db = TestDb::new().await;
    let proxy = SilentProxy::start((db.options.get_host().to_owned(), db.options.get_port())).await;
    let store = db
        .store_at(Some(("127.0.0.1", proxy.port)), SHORT_TIMEOUTS)
        .await;
    handle(&store, invoke(event("s", 1.0), "before"))
        .await
        .unwrap();
    (db, proxy, store)
}

// A write on a connection that went silent would hang until the function's own timeout:
// DB_WRITE_TIMEOUT_MS bounds it, the connection is replaced, and the write retried once.
#[tokio::test]
async fn a_connection_that_went_silent_during_a_freeze_is_replaced_after_the_write_timeout() {
    let (db, proxy, store) = one_event_through_a_silent_proxy().await;
    proxy.silence_existing();
    let r = within(
        "the write",
        handle(&store, invoke(event("s", 2.0), "after")),
    )
    .await
    .unwrap();
    assert_eq!(r["inserted"], 1);
    assert_eq!(db.count().await, 2);
}

#[tokio::test]
async fn a_server_that_goes_silent_is_store_unavailable_not_a_hang() {
    let (db, proxy, store) = one_event_through_a_silent_proxy().await;
    proxy.silence_all();
    let d = diagnostic(
        within(
            "the write",
            handle(&store, invoke(event("s", 2.0), "silent")),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(d.error_type, "StoreUnavailable");
    assert!(
        d.error_message.contains("DB_CONNECT_TIMEOUT_MS=500"),
        "{}",
        d.error_message
    );
    assert_eq!(db.count().await, 1);
}

// Every connection the pool may open is in use: retry later, the event is fine.
#[tokio::test]
async fn an_exhausted_pool_is_store_unavailable_never_invalid_event() {
    let db = TestDb::new().await;
    let store = db.store_at(None, SHORT_TIMEOUTS).await;
    let held = store.pool().acquire().await.unwrap();
    let d = diagnostic(
        within(
            "the write",
            handle(&store, invoke(event("p", 1.0), "exhausted")),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(d.error_type, "StoreUnavailable", "{}", d.error_message);
    drop(held);
    let r = handle(&store, invoke(event("p", 2.0), "freed"))
        .await
        .unwrap();
    assert_eq!(r["inserted"], 1);
}

// A MySQL server at max_connections answers a new connection with an error packet, 1040 Too
// many connections, instead of its handshake: a retry later, not a bad event.
// https://dev.mysql.com/doc/refman/8.4/en/too-many-connections.html
#[tokio::test]
async fn a_server_at_max_connections_is_store_unavailable_never_invalid_event() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut client, _)) = listener.accept().await {
            // ERR packet: 0xff, error code 1040 (LE), '#', SQLSTATE 08004, message.
            let mut payload = vec![0xff, 0x10, 0x04, b'#'];
            payload.extend_from_slice(b"08004Too many connections");
            let mut packet = (payload.len() as u32).to_le_bytes()[..3].to_vec();
            packet.push(0);
            packet.extend_from_slice(&payload);
            let _ = client.write_all(&packet).await;
        }
    });
    let vars: HashMap<&str, String> = HashMap::from([
        (
            "DATABASE_URL",
            format!("mysql://ingest@127.0.0.1:{port}/ingest"),
        ),
        ("DB_CONNECT_TIMEOUT_MS", "500".to_owned()),
    ]);
    let store = MySqlStore::connect(Config::from_lookup(|k| vars.get(k).cloned()).unwrap())
        .await
        .unwrap();
    let d = diagnostic(
        within("the write", handle(&store, invoke(event("m", 1.0), "full")))
            .await
            .unwrap_err(),
    );
    assert_eq!(d.error_type, "StoreUnavailable", "{}", d.error_message);
    // A transient server condition, by its number: HTTP says 503 with Retry-After, SQS fails
    // the whole batch (it comes again), unlike a rejected write.
    assert!(
        d.error_message.contains("MySQL error 1040"),
        "{}",
        d.error_message
    );
    let body = serde_json::to_vec(&event("m", 2.0)).unwrap();
    let r = within(
        "the POST",
        handle(
            &store,
            invoke(http("POST", Some(&body), false, None), "full-http"),
        ),
    )
    .await
    .unwrap();
    assert_eq!(r["statusCode"], 503);
    assert_eq!(r["headers"]["retry-after"], "1");
    let ev = events::sqs_event(&[("m-1", event("m", 3.0).to_string())]);
    let d = diagnostic(
        within("the batch", handle(&store, invoke(ev, "full-sqs")))
            .await
            .unwrap_err(),
    );
    assert_eq!(d.error_type, "StoreUnavailable", "{}", d.error_message);
}

// ---------- a read-only server (a failover) ----------

/// The key of an SQS message without `event_id`: `sqs:` and its body's MD5 (its `md5OfBody`),
/// which a redrive from the dead-letter queue keeps (docs/decisions/sqs-event-key.md).
fn sqs_key(body: &str) -> String {
    use md5::Digest as _;
    format!("sqs:{:x}", md5::Md5::digest(body.as_bytes()))
}

/// What a writer demoted by an Aurora failover answers a write: "The MySQL server is running
/// with the --read-only option so it cannot execute this statement"
/// (https://repost.aws/knowledge-center/aurora-mysql-db-cluser-read-only-error), MySQL error
/// 1290, ER_OPTION_PREVENTS_STATEMENT, SQLSTATE HY000
/// (https://dev.mysql.com/doc/mysql-errors/8.4/en/server-error-reference.html).
const READ_ONLY: &[u8] =
    b"The MySQL server is running with the --read-only option so it cannot execute this statement";

/// A relay in front of the server that, once armed, answers the next execution of a prepared
/// INSERT with an ERR packet 1290 instead of passing it on: the statement never reaches the
/// server, as on one that has just turned read-only, and the relay disarms. It reads the
/// client's packets (3-byte length, sequence number, payload: COM_STMT_PREPARE 0x16 with the
/// SQL, COM_STMT_EXECUTE 0x17, each the first packet of its command), so the store must
/// connect without TLS. The flag, not `read_only` on the shared server, keeps other tests
/// writing.
struct ReadOnlyOnce {
    port: u16,
    armed: Arc<AtomicBool>,
    /// INSERTs answered with 1290.
    refused: Arc<std::sync::atomic::AtomicUsize>,
    /// Connections the store opened through the relay.
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl ReadOnlyOnce {
    async fn start(target: (String, u16)) -> ReadOnlyOnce {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        const COM_STMT_PREPARE: u8 = 0x16;
        const COM_STMT_EXECUTE: u8 = 0x17;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let armed = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (flag, count, opened) = (armed.clone(), refused.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                opened.fetch_add(1, Ordering::SeqCst);
                let server = tokio::net::TcpStream::connect(target.clone())
                    .await
                    .unwrap();
                let (mut from_client, to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                // Both directions answer the client: the server's bytes, and the relay's ERR.
                let to_client = Arc::new(tokio::sync::Mutex::new(to_client));
                let answers = to_client.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = from_server.read(&mut buf).await.unwrap_or(0);
                        if n == 0 || answers.lock().await.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = answers.lock().await.shutdown().await;
                });
                let (flag, count) = (flag.clone(), count.clone());
                tokio::spawn(async move {
                    let mut insert_prepared = false;
                    loop {
                        let mut header = [0u8; 4];
                        if from_client.read_exact(&mut header).await.is_err() {
                            break;
                        }
                        let len = u32::from_le_bytes([header[0], header[1], header[2], 0]);
                        let mut payload = vec![0u8; len as usize];
                        if from_client.read_exact(&mut payload).await.is_err() {
                            break;
                        }
                        let command = (header[3] == 0).then(|| payload.first().copied()).flatten();
                        if command == Some(COM_STMT_PREPARE) {
                            let sql = payload[1..].trim_ascii_start().to_ascii_uppercase();
                            insert_prepared |= sql.starts_with(b"INSERT");
                        }
                        if command == Some(COM_STMT_EXECUTE)
                            && insert_prepared
                            && flag.swap(false, Ordering::SeqCst)
                        {
                            count.fetch_add(1, Ordering::SeqCst);
                            // ERR packet: 0xff, error code 1290 (LE), '#', SQLSTATE HY000,
                            // message; sequence number 1, the answer to the command's 0.
                            let mut err = vec![0xff];
                            err.extend_from_slice(&1290u16.to_le_bytes());
                            err.extend_from_slice(b"#HY000");
                            err.extend_from_slice(READ_ONLY);
                            let mut packet = (err.len() as u32).to_le_bytes()[..3].to_vec();
                            packet.push(1);
                            packet.extend_from_slice(&err);
                            if to_client.lock().await.write_all(&packet).await.is_err() {
                                break;
                            }
                            continue;
                        }
                        if to_server.write_all(&header).await.is_err()
                            || to_server.write_all(&payload).await.is_err()
                        {
                            break;
                        }
                    }
                });
            }
        });
        ReadOnlyOnce {
            port,
            armed,
            refused,
            connections,
        }
    }

    /// The next INSERT executed through the relay meets a read-only server.
    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

// The writer turns read-only under a write (1290, as during an Aurora failover): the error is
// transient (store::classify), so SQS fails the whole batch and HTTP answers 503 with
// Retry-After, with nothing written; the connection that met the read-only server is dropped,
// so the redelivery and the client's retry connect anew and write, and an event stored before
// the failover and delivered again is a duplicate, not a second row.
#[tokio::test]
async fn a_read_only_error_mid_write_is_transient_and_the_retry_writes_nothing_twice() {
    let db = TestDb::new().await;
    let proxy =
        ReadOnlyOnce::start((db.options.get_host().to_owned(), db.options.get_port())).await;
    let store = db
        .store_at(Some(("127.0.0.1", proxy.port)), &[("DB_TLS", "disabled")])
        .await;
    let (a, b) = (event("f", 1.0).to_string(), event("f", 2.0).to_string());
    handle(&store, invoke(events::sqs_event(&[("m-1", &a)]), "before"))
        .await
        .unwrap();
    assert_eq!(db.count().await, 1);

    // A again (its redelivery) and B, as the writer turns read-only.
    proxy.arm();
    let batch = events::sqs_event(&[("m-1", &a), ("m-2", &b)]);
    let d = diagnostic(
        within(
            "the batch",
            handle(&store, invoke(batch.clone(), "read-only")),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(d.error_type, "StoreUnavailable", "{}", d.error_message);
    assert!(
        d.error_message.contains("MySQL error 1290") && d.error_message.contains("--read-only"),
        "{}",
        d.error_message
    );
    assert_eq!(
        proxy.refused(),
        1,
        "the relay answered the INSERT with 1290"
    );
    assert_eq!(db.count().await, 1);
    // SQS delivers the batch again: B is written, A is a duplicate.
    let r = handle(&store, invoke(batch, "redelivered")).await.unwrap();
    assert_eq!(r, json!({"batchItemFailures": []}));
    assert_eq!(db.count().await, 2);
    for body in [&a, &b] {
        assert_eq!(db.row(&sqs_key(body)).await.get::<String, _>("source"), "f");
    }
    assert_eq!(
        proxy.connections(),
        2,
        "the read-only server's connection was dropped"
    );

    // Through HTTP: 503 with Retry-After, then the client's retry under its key writes once.
    proxy.arm();
    let body = serde_json::to_vec(&event("f", 3.0)).unwrap();
    let post = http("POST", Some(&body), false, Some("k-read-only"));
    let r = within("the POST", handle(&store, invoke(post.clone(), "http")))
        .await
        .unwrap();
    let (status, answer) = status_body(&r);
    assert_eq!(
        (status, answer["error"].as_str()),
        (503, Some("StoreUnavailable"))
    );
    assert_eq!(r["headers"]["retry-after"], "1");
    assert_eq!(db.count().await, 2);
    let r = handle(&store, invoke(post.clone(), "http-retry"))
        .await
        .unwrap();
    assert_eq!(
        status_body(&r),
        (201, json!({"inserted": 1, "duplicates": 0}))
    );
    let r = handle(&store, invoke(post, "http-again")).await.unwrap();
    assert_eq!(
        status_body(&r),
        (201, json!({"inserted": 0, "duplicates": 1}))
    );
    assert_eq!(db.count().await, 3);
    assert_eq!((proxy.refused(), proxy.connections()), (2, 3));
}

// ---------- the socket ----------

// Without TCP_NODELAY, the last segment of a request sent in more than one write waits for the
// server's delayed ACK (Nagle's algorithm): about 40 ms per new TLS connection and per such
// statement. sqlx 0.9.0 dropped the option (transact-rs/sqlx#4335) and 0.9.1 sets it again
// (transact-rs/sqlx#4336): this guards against it going missing once more.
// Read back from the store's own socket, found by its unique peer: a pass-through proxy.
#[tokio::test]
async fn the_stores_connection_sets_tcp_nodelay() {
    let db = TestDb::new().await;
    let proxy = Outage::start((db.options.get_host().to_owned(), db.options.get_port())).await;
    let store = db.store_at(Some(("127.0.0.1", proxy.port)), &[]).await;
    handle(&store, invoke(event("n", 1.0), "nodelay"))
        .await
        .unwrap();
    let peer = std::net::SocketAddr::from(([127, 0, 0, 1], proxy.port));
    let sockets = e2e::socket::tcp_sockets_to(std::process::id(), peer).unwrap();
    assert!(
        !sockets.is_empty(),
        "the store holds no connection to {peer}"
    );
    for socket in &sockets {
        assert!(socket.nodelay, "Nagle's algorithm is on: {socket:?}");
    }
}

// ---------- TLS ----------

#[tokio::test]
async fn tls_verify_identity_accepts_the_servers_ca_and_refuses_another() {
    // A server of its own with its own CA: the machine's mariadbd beside DATABASE_URL's
    // server, else a container of TESTCONTAINERS_MYSQL_IMAGE (e2e::mariadb).
    let (server, right, wrong) = tls_server(&[]).await.unwrap_or_else(|e| panic!("{e}"));
    // With RDS_CA_BUNDLE (tests/test-all.sh writes the bundle the infra deploys), each CA file
    // is that bundle plus the test CA: sqlx must read all of it, and still trust only it.
    let with_rds = |ca: std::path::PathBuf| match std::env::var("RDS_CA_BUNDLE") {
        Ok(bundle) => {
            let rds = std::fs::read_to_string(&bundle).expect("RDS_CA_BUNDLE is readable");
            assert!(rds.matches("BEGIN CERTIFICATE").count() > 100, "{bundle}");
            let both = ca.with_extension("with-rds.pem");
            std::fs::write(&both, rds + &std::fs::read_to_string(&ca).unwrap()).unwrap();
            both
        }
        Err(_) => ca,
    };
    let (right, wrong) = (with_rds(right), with_rds(wrong));
    let vars = |ca: &std::path::Path, mode: &str| {
        let map: HashMap<&str, String> = HashMap::from([
            (
                "DATABASE_URL",
                format!("mysql://root@localhost:{}/tlsdb", server.port),
            ),
            ("DB_TLS", mode.to_owned()),
            ("DB_CA_BUNDLE", ca.display().to_string()),
            ("DB_CONNECT_TIMEOUT_MS", "3000".to_owned()),
        ]);
        Config::from_lookup(move |k| map.get(k).cloned()).unwrap()
    };
    // Schema over a verified connection.
    let config = vars(&right, "verify-identity");
    let mut admin = config
        .options
        .clone()
        .database("mysql")
        .connect()
        .await
        .expect("TLS with the right CA");
    sqlx::query("CREATE DATABASE tlsdb")
        .execute(&mut admin)
        .await
        .unwrap();
    let cipher: (String, String) = sqlx::query_as("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(!cipher.1.is_empty(), "the session is encrypted");
    let pool = MySqlPool::connect_with(config.options.clone())
        .await
        .unwrap();
    MIGRATOR.run(&pool).await.unwrap();

    let store = MySqlStore::connect(vars(&right, "verify-identity"))
        .await
        .unwrap();
    let r = handle(&store, invoke(event("tls", 1.0), "tls-1"))
        .await
        .unwrap();
    assert_eq!(r["inserted"], 1);
    // TCP_NODELAY on the TLS connection too (the socket section says why): a TLS handshake's
    // last records are the writes that would wait for a delayed ACK.
    let sockets: Vec<_> = [
        std::net::SocketAddr::from(([127, 0, 0, 1], server.port)),
        std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, server.port)),
    ]
    .into_iter()
    .flat_map(|peer| e2e::socket::tcp_sockets_to(std::process::id(), peer).unwrap())
    .collect();
    assert!(
        !sockets.is_empty(),
        "the store holds no connection to port {}",
        server.port
    );
    for socket in &sockets {
        assert!(
            socket.nodelay,
            "Nagle's algorithm is on over TLS: {socket:?}"
        );
    }
    // The same server with a CA that did not sign its certificate: refused.
    let store = MySqlStore::connect(vars(&wrong, "verify-identity"))
        .await
        .unwrap();
    let d = diagnostic(
        handle(&store, invoke(event("tls", 2.0), "tls-2"))
            .await
            .unwrap_err(),
    );
    assert_eq!(d.error_type, "StoreUnavailable");
    let store = MySqlStore::connect(vars(&wrong, "verify-ca"))
        .await
        .unwrap();
    assert!(
        handle(&store, invoke(event("tls", 3.0), "tls-3"))
            .await
            .is_err()
    );
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

// migrate, through its handler: verify requests from ingest-load, and the secrets it reads.

use ingest::migrate::Migrate;
use tokio::io::AsyncWriteExt;

/// migrate logged in through `DATABASE_URL`, with no account to create.
fn migrate_for(db: &TestDb) -> Migrate {
    let url = db.url(None);
    Migrate::new(
        Config::from_lookup(e2e::lookup(&[("DATABASE_URL", &url)])).unwrap(),
        None,
    )
}

/// Rows for events `seqs` of load run `run`, in one statement.
async fn store_run(db: &TestDb, run: &str, seqs: impl IntoIterator<Item = u64>) {
    let mut q = sqlx::QueryBuilder::new(
        "INSERT INTO events (event_id, source, recorded_at, received_at, val1, val2) ",
    );
    q.push_values(seqs, |mut row, seq| {
        row.push_bind(ingest::verify::event_id(run, seq))
            .push_bind("load")
            .push("NOW(6)")
            .push("NOW(6)")
            .push_bind(seq as f64)
            .push_bind(0.0);
    });
    q.build().execute(&db.pool).await.unwrap();
}

#[tokio::test]
async fn migrate_answers_a_verify_request_from_the_table() {
    let db = TestDb::new().await;
    let migrate = migrate_for(&db);
    let run = "load-0190verify";
    // 2500 acknowledged events: three queries' worth (ingest::verify::CHUNK); two never stored;
    // rows of another run do not count.
    store_run(&db, run, (0..2500).filter(|s| ![3, 2400].contains(s))).await;
    store_run(&db, "load-other", 0..5).await;
    let request = json!({"verify": {"run_id": run, "acked": [[0, 2500]], "list": 1}});
    let v = migrate.handle(&request).await.unwrap();
    assert_eq!(
        (&v["checked"], &v["stored"], &v["missing"], &v["doubled"]),
        (&json!(2500), &json!(2498), &json!(2), &json!(0)),
        "{v}"
    );
    assert_eq!(
        v["missing_ids"],
        json!([format!("{run}-3")]),
        "the first, up to list"
    );
    assert_eq!(v["doubled_ids"], json!([]));

    // Only acknowledged events are looked for: 3 and 2400 were not acknowledged, say.
    let request = json!({"verify": {"run_id": run, "acked": [[0, 3], [4, 2400], [2401, 2500]]}});
    let v = migrate.handle(&request).await.unwrap();
    assert_eq!(
        (&v["checked"], &v["missing"]),
        (&json!(2498), &json!(0)),
        "{v}"
    );

    // The unique event_id index makes a doubled event impossible; without it (a schema that
    // lost it), one is found and named.
    sqlx::query("ALTER TABLE events DROP INDEX event_id")
        .execute(&db.pool)
        .await
        .unwrap();
    store_run(&db, run, [5]).await;
    let v = migrate.handle(&request).await.unwrap();
    assert_eq!(
        (&v["stored"], &v["doubled"], &v["doubled_ids"]),
        (&json!(2498), &json!(1), &json!([format!("{run}-5")])),
        "{v}"
    );
}

#[tokio::test]
async fn a_migration_invoke_answers_as_before_and_a_bad_verify_request_is_named() {
    let db = TestDb::new().await;
    let migrate = migrate_for(&db);
    // CDK's trigger sends no payload: Lambda delivers `{}`.
    for event in [json!({}), Value::Null] {
        let r = migrate.handle(&event).await.unwrap();
        assert_eq!(
            r,
            json!({
                "migrations": MIGRATOR.iter().count(),
                "latest": MIGRATOR.iter().map(|m| m.version).max(),
                "iam_user": null,
                "account": null,
            })
        );
    }
    for (request, part) in [
        (
            json!({"run_id": "x'; DROP TABLE events; --", "acked": []}),
            "run_id",
        ),
        (json!({"run_id": "load-a", "acked": [[5, 1]]}), "range 0"),
        (
            json!({"run_id": "load-a", "acked": [], "ids": ["a"]}),
            "unknown field",
        ),
    ] {
        let e = migrate
            .handle(&json!({ "verify": request }))
            .await
            .unwrap_err();
        assert_eq!(e.error_type(), "InvalidVerifyRequest");
        assert!(e.to_string().contains(part), "{part:?} in {e}");
    }
    assert_eq!(db.count().await, 0);
}

/// migrate logged in as `user` with the password from secret `arn`.
fn migrate_with_secret(db: &TestDb, arn: &str, user: &str, sdk: aws_config::SdkConfig) -> Migrate {
    let port = db.options.get_port().to_string();
    let vars = [
        ("DB_HOST", db.options.get_host()),
        ("DB_PORT", port.as_str()),
        ("DB_NAME", db.name.as_str()),
        ("DB_USER", user),
        ("DB_SECRET_ARN", arn),
        ("DB_TLS", "disabled"),
    ];
    let config = Config::from_lookup(e2e::lookup(&vars)).unwrap();
    Migrate::new(config, None).with_aws(sdk)
}

// Secrets Manager is moto's (e2e::moto: AWS_ENDPOINT_URL, else one it starts): the admin
// secret is read on every run; a secret that does not exist (ResourceNotFoundException) is not IAM
// settling and fails at once.
#[tokio::test]
async fn migrate_logs_in_with_the_admin_secret_and_does_not_wait_on_a_missing_one() {
    let db = TestDb::new().await;
    // A secret holds a password; the test server's own account may have none (a container's root).
    let account = Account::create(&db, "ALL PRIVILEGES").await;
    let (user, password) = (account.user.clone(), Account::PASSWORD.to_owned());
    let secret = e2e::moto::TestSecret::create("migrate_admin", &password).await;
    let sdk = e2e::moto::sdk_config(e2e::moto::endpoint(), "ap-northeast-1").await;
    let migrate = migrate_with_secret(&db, &secret.arn, &user, sdk.clone());
    let r = migrate.handle(&json!({})).await.unwrap();
    assert_eq!(r["migrations"], MIGRATOR.iter().count());

    let missing = secret.arn.replace("migrate_admin", "migrate_gone");
    let e = migrate_with_secret(&db, &missing, &user, sdk)
        .handle(&json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.error_type(), "Credentials", "{e}");
    assert!(e.to_string().contains("ResourceNotFoundException"), "{e}");
}

/// A Secrets Manager on loopback that answers GetSecretValue with AWS's JSON error for a caller
/// not yet allowed (`AccessDeniedException`, HTTP 400) `denials` times, then with the secret.
/// moto cannot stand in here: its denial is `AccessDenied` (HTTP 403), not AWS's code.
/// <https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html>
struct DenyingSecrets {
    endpoint: String,
    calls: Arc<std::sync::atomic::AtomicUsize>,
}

impl DenyingSecrets {
    async fn start(denials: usize, secret: Value) -> DenyingSecrets {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = calls.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (counter, secret) = (counter.clone(), secret.clone());
                tokio::spawn(async move {
                    let mut socket = tokio::io::BufReader::new(socket);
                    while read_request(&mut socket).await {
                        let n = counter.fetch_add(1, Ordering::SeqCst);
                        let (status, body) = if n < denials {
                            (
                                "400 Bad Request",
                                json!({
                                    "__type": "AccessDeniedException",
                                    "message": "User: arn:aws:sts::123456789012:assumed-role/migrate/fn is not authorized to perform: secretsmanager:GetSecretValue because no identity-based policy allows the secretsmanager:GetSecretValue action"
                                }),
                            )
                        } else {
                            ("200 OK", secret.clone())
                        };
                        let body = body.to_string();
                        let response = format!(
                            "HTTP/1.1 {status}\r\ncontent-type: application/x-amz-json-1.1\r\n\
                             content-length: {}\r\n\r\n{body}",
                            body.len()
                        );
                        if socket
                            .get_mut()
                            .write_all(response.as_bytes())
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        DenyingSecrets { endpoint, calls }
    }
}

/// Reads one HTTP/1.1 request (headers, then a `content-length` body); false at the end.
async fn read_request(socket: &mut tokio::io::BufReader<tokio::net::TcpStream>) -> bool {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let mut length = 0;
    loop {
        let mut line = String::new();
        match socket.read_line(&mut line).await {
            Ok(0) | Err(_) => return false,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => {
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
    }
    let mut body = vec![0; length];
    socket.read_exact(&mut body).await.is_ok()
}

// Right after a deploy the role's new policy may not be in effect yet: migrate waits while
// Secrets Manager answers AccessDeniedException, then logs in; a denial that outlasts the wait
// fails naming the code and what was denied.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
#[tokio::test]
async fn migrate_waits_while_secrets_manager_denies_access_then_names_the_denial() {
    let db = TestDb::new().await;
    // A secret holds a password; the test server's own account may have none (a container's root).
    let account = Account::create(&db, "ALL PRIVILEGES").await;
    let (user, password) = (account.user.clone(), Account::PASSWORD.to_owned());
    let arn = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:admin-AbCdEf";
    let secret_with = |password: &str| {
        json!({
            "ARN": arn, "Name": "admin", "VersionId": "v1", "VersionStages": ["AWSCURRENT"],
            "SecretString": json!({"username": user, "password": password}).to_string(),
            "CreatedDate": 1.8e9,
        })
    };
    let secret = secret_with(&password);
    // Short pauses: the schedule itself is tested in ingest::iam_settle.
    let backoff = ingest::iam_settle::Backoff {
        first: Duration::from_millis(10),
        max: Duration::from_millis(20),
        limit: Duration::from_secs(30),
    };
    let stub = DenyingSecrets::start(2, secret.clone()).await;
    let sdk = e2e::moto::sdk_config(&stub.endpoint, "ap-northeast-1").await;
    let r = migrate_with_secret(&db, arn, &user, sdk)
        .with_backoff(backoff)
        .handle(&json!({}))
        .await
        .unwrap();
    assert_eq!(r["migrations"], MIGRATOR.iter().count());
    assert_eq!(
        stub.calls.load(Ordering::SeqCst),
        3,
        "two denials, then the secret"
    );

    let stub = DenyingSecrets::start(usize::MAX, secret).await;
    let sdk = e2e::moto::sdk_config(&stub.endpoint, "ap-northeast-1").await;
    let backoff = ingest::iam_settle::Backoff {
        limit: Duration::from_millis(100),
        ..backoff
    };
    let e = migrate_with_secret(&db, arn, &user, sdk)
        .with_backoff(backoff)
        .handle(&json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.error_type(), "IamNotSettled", "{e}");
    let message = e.to_string();
    for part in [
        "AccessDeniedException",
        &format!("secretsmanager:GetSecretValue on {arn} (DB_SECRET_ARN)"),
        "for IAM to settle",
    ] {
        assert!(message.contains(part), "{part:?} in {message}");
    }
    assert!(stub.calls.load(Ordering::SeqCst) > 1);

    // A password the server refuses (1045) is not IAM settling: it fails at once, on the
    // real schedule (a wrong classification would end in IamNotSettled instead).
    let stub = DenyingSecrets::start(0, secret_with("not-the-Password-1")).await;
    let sdk = e2e::moto::sdk_config(&stub.endpoint, "ap-northeast-1").await;
    let e = migrate_with_secret(&db, arn, &user, sdk)
        .handle(&json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.error_type(), "Login", "{e}");
    assert!(e.to_string().contains("1045"), "{e}");
}

// ---------- permanent is not transient ----------

/// A new account with only `grant` on the test database; dropping it drops the user if the
/// test did not (best effort, as TestDb's database).
struct Account {
    user: String,
    /// The server, for the account's DROP USER.
    server: MySqlConnectOptions,
}

impl Account {
    const PASSWORD: &str = "only-Select-1";

    async fn create(db: &TestDb, grant: &str) -> Account {
        let user = format!(
            "ingest_ro_{}",
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        );
        for sql in [
            format!(
                "CREATE USER '{user}'@'%' IDENTIFIED BY '{}'",
                Account::PASSWORD
            ),
            format!("GRANT {grant} ON `{}`.* TO '{user}'@'%'", db.name),
        ] {
            sqlx::query(AssertSqlSafe(sql))
                .execute(&db.pool)
                .await
                .unwrap();
        }
        Account {
            user,
            server: db.scratch.server().clone(),
        }
    }

    async fn store(&self, db: &TestDb) -> MySqlStore {
        let url = format!(
            "mysql://{}:{}@{}:{}/{}",
            self.user,
            Account::PASSWORD,
            db.options.get_host(),
            db.options.get_port(),
            db.name
        );
        store_for(url, &[]).await
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        after_drop(
            &self.server,
            format!("DROP USER IF EXISTS '{}'@'%'", self.user),
        );
    }
}

/// Every way in, against a store whose write the server refuses with MySQL error `code`: a
/// direct invoke fails with StoreRejected naming the number; HTTP answers 500 without
/// Retry-After; SQS and Kinesis report every item, so the queue's receives end in the
/// dead-letter queue rather than coming back for ever. Nothing is written.
async fn every_source_reports_a_rejection(store: &MySqlStore, code: u16) {
    let d = diagnostic(
        handle(store, invoke(event("x", 1.0), "direct"))
            .await
            .unwrap_err(),
    );
    assert_eq!(d.error_type, "StoreRejected", "{}", d.error_message);
    assert!(
        d.error_message.contains(&format!("MySQL error {code}")),
        "{}",
        d.error_message
    );
    assert!(
        !d.error_message.contains("retry later"),
        "{}",
        d.error_message
    );

    let body = serde_json::to_vec(&event("x", 2.0)).unwrap();
    for front in [
        Front::FunctionUrl,
        Front::RestApi(events::REST_API_SAMPLES[0]),
    ] {
        let r = handle(
            store,
            invoke(
                http_via(front, "POST", Some(&body), false, Some("k")),
                "http",
            ),
        )
        .await
        .unwrap();
        let (status, body) = status_body(&r);
        assert_eq!(
            (status, body["error"].as_str()),
            (500, Some("StoreRejected"))
        );
        let headers = r["headers"].as_object().cloned().unwrap_or_default();
        assert!(
            !headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("retry-after")),
            "{headers:?}"
        );
    }

    let ev = events::sqs_event(&[
        ("m-1", event("x", 3.0).to_string()),
        ("m-2", json!({"source": "x"}).to_string()),
    ]);
    let r = handle(store, invoke(ev, "sqs")).await.unwrap();
    assert_eq!(
        r,
        json!({"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]})
    );
    let data = event("x", 4.0).to_string();
    let ev = events::kinesis_event(&[("101", data.as_bytes())]);
    let r = handle(store, invoke(ev, "kinesis")).await.unwrap();
    assert_eq!(r, json!({"batchItemFailures": [{"itemIdentifier": "101"}]}));
}

// A SELECT-only account: the server refuses the INSERT with 1142 (ER_TABLEACCESS_DENIED_ERROR),
// which no retry changes. https://mariadb.com/kb/en/e1142
#[tokio::test]
async fn a_select_only_account_is_store_rejected_never_retry_later() {
    let db = TestDb::new().await;
    let account = Account::create(&db, "SELECT").await;
    let store = account.store(&db).await;
    every_source_reports_a_rejection(&store, 1142).await;
    assert_eq!(db.count().await, 0);
    // Granted INSERT, the same store writes: the connection was fine all along. (A table's
    // grant applies to open sessions at their next statement, a database's only after a USE.)
    sqlx::query(AssertSqlSafe(format!(
        "GRANT INSERT ON `{}`.`events` TO '{}'@'%'",
        db.name, account.user
    )))
    .execute(&db.pool)
    .await
    .unwrap();
    let r = handle(&store, invoke(event("x", 5.0), "granted"))
        .await
        .unwrap();
    assert_eq!(r["inserted"], 1);
    store.close().await;
    sqlx::query(AssertSqlSafe(format!("DROP USER '{}'@'%'", account.user)))
        .execute(&db.pool)
        .await
        .unwrap();
}

// A missing table (1146, ER_NO_SUCH_TABLE: a migration not applied) is permanent too.
// https://mariadb.com/kb/en/e1146
#[tokio::test]
async fn a_missing_table_is_store_rejected() {
    let db = TestDb::new().await;
    let store = db.store().await;
    sqlx::query("DROP TABLE events")
        .execute(&db.pool)
        .await
        .unwrap();
    every_source_reports_a_rejection(&store, 1146).await;
}
