//! The functions through their real Lambda entry points (the release-shaped binaries behind a
//! Runtime API), against a real MySQL-compatible server (`DATABASE_URL`, else a container for
//! this test binary through testcontainers: `lambda_harness::mysql`) and moto
//! (`AWS_ENDPOINT_URL`, or `moto_server` started here).
//!
//! One module per story: a sync, ingest through every source and a second sync with a newer
//! snapshot served over loopback HTTP; a verified ingest-load run; migrate's accounts; the
//! functions' connections to the database (TCP_NODELAY, the polite close at shutdown), through
//! `lambda_harness::fault_proxy`; and the environment's life (logs, metrics before a freeze, an
//! exit during init).

mod connections;
mod lifecycle;
mod load;
mod migrate;
mod sync_and_ingest;

use lambda_harness::RuntimeApi;
use lambda_harness::scratch::ScratchDatabase;
use serde_json::Value;
use sqlx::mysql::MySqlPool;

const REGION: &str = "ap-northeast-1";

/// A DATABASE_URL with no server behind it, for tests whose events are refused before the
/// database is needed.
const NO_DATABASE: &str = "mysql://nobody:x@127.0.0.1:9/nowhere";

async fn invoke(api: &RuntimeApi, event: Value) -> Value {
    let out = api.invoke(event.to_string()).await;
    assert!(!out.error, "function error: {}", out.body);
    serde_json::from_str(&out.body).unwrap()
}

/// A fresh database beside the test server's own, migrated by the migrate binary, and a pool
/// on it.
async fn fresh_database(bin: &std::path::Path) -> (ScratchDatabase, MySqlPool) {
    let db = ScratchDatabase::create(&bin.join("migrate"), "e2e")
        .await
        .unwrap();
    let pool = MySqlPool::connect(&db.url).await.unwrap();
    (db, pool)
}
