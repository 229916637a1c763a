//! ingest-fn through its real Lambda types against a real MySQL-compatible server:
//! `DATABASE_URL` when set, otherwise one container for this test binary through testcontainers
//! (`lambda_harness::mysql`). Each test gets a fresh database beside the server's own.
//!
//! One module per way in or way to fail, in the order a reader meets them: the direct invoke,
//! HTTP, SQS and Kinesis; then the connection (lost, silent, refused, exhausted, a rotated
//! password), a failover's read-only writer, the socket, TLS, and the writes no retry changes.
//! The faults go through one TCP relay, `lambda_harness::fault_proxy`; what is MySQL about them
//! (an ERR packet) is here.

mod connections;
mod direct;
mod failover;
mod http;
mod permanent;
mod socket;
mod sqs_kinesis;
mod tls;

use std::collections::HashMap;
use std::time::Duration;

use ingest::{Config, IngestError, MIGRATOR, MySqlStore};
use lambda_harness::FaultProxy;
use lambda_harness::scratch::ScratchDatabase;
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool};

/// A fresh database with the migrations applied (`lambda_harness::scratch`, which drops it
/// again), a pool on it, and what the tests read back.
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

    /// A fault proxy in front of the test server ([`FaultProxy`]), relaying until told
    /// otherwise.
    async fn proxy(&self) -> FaultProxy {
        FaultProxy::start(self.options.get_host(), self.options.get_port())
            .await
            .unwrap()
    }

    /// A store that reaches the server through `proxy`, with `extra` settings.
    async fn store_through(&self, proxy: &FaultProxy, extra: &[(&str, &str)]) -> MySqlStore {
        self.store_at(Some(("127.0.0.1", proxy.port())), extra)
            .await
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
    MySqlStore::new(config, None).await.unwrap()
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

/// Fails the test instead of hanging it: a liveness guard, not a speed check.
async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(25), f)
        .await
        .unwrap_or_else(|_| panic!("{what} hung"))
}

/// A MySQL ERR packet: a 3-byte little-endian length and the `sequence` number, then 0xff,
/// the error `code` (little-endian), '#', the 5-character `sqlstate` and the message.
/// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_err_packet.html
fn mysql_err_packet(sequence: u8, code: u16, sqlstate: &[u8; 5], message: &[u8]) -> Vec<u8> {
    let mut payload = vec![0xff];
    payload.extend_from_slice(&code.to_le_bytes());
    payload.push(b'#');
    payload.extend_from_slice(sqlstate);
    payload.extend_from_slice(message);
    let mut packet = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    packet.push(sequence);
    packet.extend_from_slice(&payload);
    packet
}
