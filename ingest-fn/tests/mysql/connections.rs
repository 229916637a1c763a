//! The connection: killed between invocations, the whole path down, a rotated password, a path
//! gone silent, a pool with no connection free, a server at max_connections. Every fault but
//! the KILL goes through [`FaultProxy`]; each test's metrics or error type says what the store
//! made of it.

use std::collections::HashMap;
use std::time::Duration;

use ingest::{Config, MySqlStore, handle};
use lambda_harness::FaultProxy;
use lambda_harness::events;
use lambda_harness::fault_proxy::Arrival;
use serde_json::{Value, json};
use sqlx::AssertSqlSafe;

use crate::http::http;
use crate::{TestDb, diagnostic, event, invoke, mysql_err_packet, within};

/// A deadline for the proxy's connections to close once cut, not a measurement.
const CLOSE_WITHIN: Duration = Duration::from_secs(10);

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
    lambda_harness::poll::until(
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

#[tokio::test]
async fn an_unreachable_server_is_store_unavailable_until_it_is_back() {
    let db = TestDb::new().await;
    let proxy = db.proxy().await;
    let store = db.store_through(&proxy, &[]).await;
    handle(&store, invoke(event("o", 1.0), "up-1"))
        .await
        .unwrap();
    proxy.outage(CLOSE_WITHIN).await.unwrap();
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
    proxy.set_arrival(Arrival::Relay);
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
    let proxy = db.proxy().await;
    let store = db.store_through(&proxy, &[]).await;
    let (metrics, lines) = emf::Emitter::in_memory("LambdaRdsIngest", "ingest-fn").unwrap();
    let counted = async |payload: Value, request_id: &str| {
        let r = ingest::metered(
            &metrics,
            ingest::handle(&store, invoke(payload, request_id)),
        )
        .await;
        let [line]: [String; 1] = lines.take().try_into().unwrap();
        let doc = emf::parse(&line).unwrap();
        let names = ["EventsWritten", "EventsDuplicate", "EventsInvalid"];
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
    proxy.outage(CLOSE_WITHIN).await.unwrap();
    proxy.set_arrival(Arrival::Relay);
    let (r, figures) = counted(event("m", 1.0), "after-cut").await;
    assert_eq!(r.unwrap()["inserted"], 1);
    assert_eq!(figures, [1.0, 0.0, 0.0, 0.0, 1.0]);

    // The network stays down: nothing replaced, the store unavailable.
    proxy.outage(CLOSE_WITHIN).await.unwrap();
    let (r, figures) = counted(event("m", 2.0), "down").await;
    assert_eq!(r.unwrap_err().error_type(), "StoreUnavailable");
    assert_eq!(figures, [0.0, 0.0, 0.0, 1.0, 0.0]);
    assert_eq!(db.count().await, 4);
}

// A rotated password: the server refuses the old one (1045), the store reads the secret again
// and retries once. Secrets Manager is moto's; the AWS configuration is loaded from the
// environment, as the function's main does on Lambda, so the test runs where AWS_ENDPOINT_URL names moto (lambda_harness::moto).
#[tokio::test]
async fn a_refused_login_reads_the_rotated_secret_and_retries_once() {
    // Its full name in this binary, module path included: the child runs it with --exact.
    if !lambda_harness::moto::in_environment_pointing_at_moto(
        "connections::a_refused_login_reads_the_rotated_secret_and_retries_once",
    ) {
        return;
    }
    let db = TestDb::new().await;
    let secret = lambda_harness::moto::TestSecret::create("ingest_rot", "first-Password-1").await;
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
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = MySqlStore::new(
        Config::from_lookup(|k| vars.get(k).cloned()).unwrap(),
        Some(&aws),
    )
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

const SHORT_TIMEOUTS: &[(&str, &str)] = &[
    ("DB_CONNECT_TIMEOUT_MS", "500"),
    ("DB_WRITE_TIMEOUT_MS", "300"),
];

/// A store with short timeouts behind a [`FaultProxy`], its connection open after one event.
/// [`FaultProxy::silence_open`] then plays a connection dropped somewhere on the path while
/// Lambda had the environment frozen: bytes stop flowing both ways, but neither side sees a
/// reset or a FIN.
async fn one_event_through_a_proxy() -> (TestDb, FaultProxy, MySqlStore) {
    let db = TestDb::new().await;
    let proxy = db.proxy().await;
    let store = db.store_through(&proxy, SHORT_TIMEOUTS).await;
    handle(&store, invoke(event("s", 1.0), "before"))
        .await
        .unwrap();
    (db, proxy, store)
}

// A write on a connection that went silent would hang until the function's own timeout:
// DB_WRITE_TIMEOUT_MS bounds it, the connection is replaced, and the write retried once.
#[tokio::test]
async fn a_connection_that_went_silent_during_a_freeze_is_replaced_after_the_write_timeout() {
    let (db, proxy, store) = one_event_through_a_proxy().await;
    proxy.silence_open();
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
    let (db, proxy, store) = one_event_through_a_proxy().await;
    // New connections too: the server is gone silent, not one connection to it.
    proxy.set_arrival(Arrival::BlackHole);
    proxy.silence_open();
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
    // Every connection is answered with the ERR packet and closed: the upstream, a port
    // nothing listens on, is never dialled.
    let server = FaultProxy::start("127.0.0.1", 9).await.unwrap();
    server.set_arrival(Arrival::Answer(mysql_err_packet(
        0,
        1040,
        b"08004",
        b"Too many connections",
    )));
    let port = server.port();
    let vars: HashMap<&str, String> = HashMap::from([
        (
            "DATABASE_URL",
            format!("mysql://ingest@127.0.0.1:{port}/ingest"),
        ),
        ("DB_CONNECT_TIMEOUT_MS", "500".to_owned()),
    ]);
    let store = MySqlStore::new(Config::from_lookup(|k| vars.get(k).cloned()).unwrap(), None)
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
