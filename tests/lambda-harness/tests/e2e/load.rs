//! ingest-load against ingest-fn behind the Invoke API: every acknowledged event verified.

use std::process::Command;
use std::sync::Arc;

use lambda_harness::{RuntimeApi, runtime_api::spawn_function};
use serde_json::{Value, json};

use crate::{REGION, fresh_database};

// The load tester runs as a child process while this test serves its Invoke API: two threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_load_verifies_every_acknowledged_event() {
    let bin = lambda_harness::built_binaries();
    let (db, pool) = fresh_database(&bin).await;
    let runtime = Arc::new(RuntimeApi::start().await);
    let (mut function, _) = spawn_function(
        bin.join("ingest-fn").to_str().unwrap(),
        &runtime,
        &[("DATABASE_URL", &db.url)],
    );
    let endpoint = lambda_harness::invoke_api::start(runtime.clone()).await;
    let out_dir =
        std::env::temp_dir().join(format!("ingest-load-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&out_dir).unwrap();
    // ingest-load against ingest-fn at `endpoint`, with `args`.
    let load = |endpoint: &str, args: &[&str]| {
        Command::new(bin.join("ingest-load"))
            .args(["--function", "ingest-fn", "--endpoint", endpoint])
            .args(args)
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .output()
            .unwrap()
    };
    // A run that must not fail a request, checks every acknowledged event is in `db` once,
    // and writes its report to `json`.
    let verified_load = |json: &std::path::Path, args: &[&str]| {
        let json = json.to_str().unwrap();
        let checked = ["--verify", &db.url, "--json", json, "--max-error-rate", "0"];
        load(&endpoint, &[args, &checked].concat())
    };
    let json_path = out_dir.join("closed.json");
    let plot_path = out_dir.join("closed.svg");
    let out = verified_load(
        &json_path,
        &[
            "--requests",
            "200",
            "--concurrency",
            "2",
            "--batch",
            "5",
            "--plot",
            plot_path.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(
        (report["requests"].clone(), report["events"].clone()),
        (json!(200), json!(1000))
    );
    assert_eq!(
        (&report["verify"]["stored"], &report["verify"]["missing"]),
        (&json!(1000), &json!(0))
    );
    assert_eq!(report["verify"]["doubled"], 0);
    assert_eq!(report["latency_ms"]["client_cold"]["count"], 1);
    let svg = std::fs::read_to_string(&plot_path).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("latency over time") && svg.contains("<circle")
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1000 acknowledged events checked, 1000 stored, 0 missing, 0 doubled"),
        "{stdout}"
    );
    // An open loop at a fixed rate. How many requests fit in its second depends on the
    // machine; that every acknowledged event is in the table, once, does not.
    let open_json = out_dir.join("open.json");
    let out = verified_load(&open_json, &["--rate", "100", "--duration", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It succeeded: --verify found every acknowledged event once, and none failed.
    let open: Value = serde_json::from_slice(&std::fs::read(&open_json).unwrap()).unwrap();
    assert_eq!(open["errors"], json!({}), "{open}");
    let sent = open["events"].as_i64().unwrap();
    assert!(sent > 0, "{open}");
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 1000 + sent, "{open}");
    // A threshold that cannot be met exits 2; bad input exits 1 with a message.
    let out = load(&endpoint, &["--requests", "5", "--max-p99", "0.000001"]);
    assert_eq!(out.status.code(), Some(2));
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = load(&format!("http://127.0.0.1:{closed}"), &["--requests", "5"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not answer"));
    let bad_events = out_dir.join("bad.jsonl");
    std::fs::write(&bad_events, "{\"source\": \"x\"}\nnot json\n").unwrap();
    let out = load(
        &endpoint,
        &["--requests", "5", "--events", bad_events.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"));
    function.kill().unwrap();
    pool.close().await;
    let _ = std::fs::remove_dir_all(&out_dir);
    db.drop_database().await.unwrap();
}
