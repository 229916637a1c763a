//! A sync, ingest through every source, then a second sync with a newer snapshot.

use std::sync::{Arc, Mutex};

use lambda_harness::moto::inbound_rules;
use lambda_harness::{RuntimeApi, runtime_api::spawn_function};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{REGION, fresh_database, invoke};

/// The ip-ranges.json snapshot of `date`, as AWS serves it (committed, or `IP_RANGES_FIXTURES`).
fn snapshot(date: &str) -> Vec<u8> {
    test_support::ip_ranges::fixtures()
        .snapshot(date)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Serves whatever `body` holds at any path, over plain HTTP on loopback.
async fn ranges_server(body: Arc<Mutex<Vec<u8>>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/ip-ranges.json", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let body = body.lock().unwrap().clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let _ = s.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
            });
        }
    });
    url
}

/// The SNS event that delivers the notification of the snapshot of `date`.
fn sns(date: &str) -> Value {
    let message = test_support::ip_ranges::fixtures()
        .notification(date)
        .unwrap_or_else(|e| panic!("{e}"));
    lambda_harness::events::sns_event(&message)
}

/// The fields `names` of a sync's report, in that order.
fn counts<const N: usize>(report: &Value, names: [&str; N]) -> [Value; N] {
    names.map(|name| report[name].clone())
}

#[tokio::test]
async fn sync_ingest_through_every_source_then_sync_again() {
    let bin = lambda_harness::built_binaries();
    let endpoint = lambda_harness::moto::endpoint().to_owned();
    let aws = lambda_harness::moto::sdk_config(&endpoint, REGION).await;
    let ec2 = aws_sdk_ec2::Client::new(&aws);

    // The database's security groups, one of them with a rule someone else made.
    let groups = lambda_harness::moto::security_groups(&ec2, "e2e", 2)
        .await
        .unwrap();
    lambda_harness::moto::add_rule(&ec2, &groups[0], 3306, "198.51.100.7/32", "office")
        .await
        .unwrap();

    // A fresh database, migrated by the migrate binary.
    let (db, pool) = fresh_database(&bin).await;
    // The deploy runs migrate as a Lambda once per release: a second run changes nothing.
    let migrate_api = RuntimeApi::start().await;
    let (mut migrate_fn, _) = spawn_function(
        bin.join("migrate").to_str().unwrap(),
        &migrate_api,
        &[("DATABASE_URL", &db.url)],
    );
    let applied = invoke(&migrate_api, json!({})).await;
    // One for each file of migrations/, which migrate compiles in.
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations"))
        .unwrap()
        .filter(|f| f.as_ref().unwrap().path().extension() == Some("sql".as_ref()))
        .count();
    assert!(files >= 2, "{files} migration files");
    assert_eq!(applied["migrations"], files);
    migrate_fn.kill().unwrap();

    // 1. The first sync, from the 2026-07-24 publication.
    let published = Arc::new(Mutex::new(snapshot("2026-07-24")));
    let ranges_url = ranges_server(published.clone()).await;
    let sync_api = RuntimeApi::start().await;
    let sg_env = [
        ("SECURITY_GROUP_IDS", groups.join(",")),
        ("REGIONS", REGION.to_owned()),
        ("IP_RANGES_URL", ranges_url.clone()),
        ("AWS_ENDPOINT_URL", endpoint.clone()),
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
    ];
    let sg_env: Vec<(&str, &str)> = sg_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (mut sync_fn, _) =
        spawn_function(bin.join("sg-sync-fn").to_str().unwrap(), &sync_api, &sg_env);
    let first = invoke(&sync_api, sns("2026-07-24")).await;
    assert_eq!(
        counts(&first, ["wanted", "added", "removed"]),
        [json!(69), json!(69), json!(0)]
    );
    assert_eq!(first["sync_token"], "1784890025");

    // 2. Ingest through every source.
    let ingest_api = RuntimeApi::start().await;
    let (mut ingest_fn, _) = spawn_function(
        bin.join("ingest-fn").to_str().unwrap(),
        &ingest_api,
        &[("DATABASE_URL", &db.url)],
    );
    let direct = invoke(
        &ingest_api,
        json!({"source": "e2e", "val1": 1, "val2": 2, "event_id": "direct-1"}),
    )
    .await;
    assert_eq!(
        direct,
        json!({"inserted": 1, "duplicates": 0, "event_ids": ["direct-1"]})
    );
    let array = invoke(
        &ingest_api,
        json!([{"source": "e2e", "val1": 2, "val2": 3}, {"source": "e2e", "val1": 3, "val2": 4}]),
    )
    .await;
    assert_eq!(array["inserted"], 2);
    let body = json!({"source": "e2e-http", "val1": 4, "val2": 5}).to_string();
    let http = invoke(
        &ingest_api,
        lambda_harness::events::function_url_event(lambda_harness::events::Request {
            method: "POST",
            headers: &[
                ("content-type", "application/json"),
                ("idempotency-key", "http-1"),
            ],
            body: Some(&body),
            base64: false,
        }),
    )
    .await;
    assert_eq!(http["statusCode"], 201);
    let sqs_body = json!({"source": "e2e-sqs", "val1": 5, "val2": 6}).to_string();
    let sqs = invoke(
        &ingest_api,
        lambda_harness::events::sqs_event(&[
            ("sqs-1", sqs_body.as_str()),
            ("sqs-2", "{\"source\": \"e2e-sqs\"}"),
        ]),
    )
    .await;
    assert_eq!(
        sqs,
        json!({"batchItemFailures": [{"itemIdentifier": "sqs-2"}]})
    );
    let data = json!({"source": "e2e-kinesis", "val1": 6, "val2": 7}).to_string();
    let kinesis = invoke(
        &ingest_api,
        lambda_harness::events::kinesis_event(&[(
            "49590338271490256608559692538361571095921575989136588898",
            data.as_bytes(),
        )]),
    )
    .await;
    assert_eq!(kinesis, json!({"batchItemFailures": []}));
    // A bad direct invoke is a typed function error, and writes nothing.
    let bad = ingest_api
        .invoke(json!({"source": "e2e", "val1": "NaN", "val2": 1}).to_string())
        .await;
    assert!(bad.error);
    assert!(
        bad.body.contains("InvalidEvent") && bad.body.contains("val1"),
        "{}",
        bad.body
    );
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT event_id, source FROM events ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 6, "{rows:?}");
    assert!(rows.contains(&("http-1".into(), "e2e-http".into())));
    // An SQS message without event_id is keyed by its body's MD5, which a redrive keeps
    // (docs/decisions/sqs-event-key.md): md5(sqs_body).
    assert!(rows.contains(&(
        "sqs:9f55d206bb5d8f689ee08a030da69397".into(),
        "e2e-sqs".into()
    )));

    // 3. AWS publishes 2026-08-22 (one prefix more); the same environment syncs again.
    *published.lock().unwrap() = snapshot("2026-08-22");
    let second = invoke(&sync_api, sns("2026-08-22")).await;
    assert_eq!(
        counts(&second, ["added", "removed", "unchanged"]),
        [json!(1), json!(0), json!(69)]
    );
    let all: Vec<(String, String)> = [
        inbound_rules(&ec2, &groups[0]).await.unwrap(),
        inbound_rules(&ec2, &groups[1]).await.unwrap(),
    ]
    .concat()
    .into_iter()
    .map(|r| (r.cidr, r.description))
    .collect();
    assert_eq!(
        all.iter()
            .filter(|(_, d)| d.starts_with("sg-sync-fn:"))
            .count(),
        70
    );
    assert!(
        all.contains(&("198.51.100.7/32".into(), "office".into())),
        "the unmanaged rule survived"
    );
    // The old notification again (SNS retry, out of order): skipped.
    let again = invoke(&sync_api, sns("2026-07-24")).await;
    assert_eq!(again["skipped"], true);

    sync_fn.kill().unwrap();
    ingest_fn.kill().unwrap();
    pool.close().await;
    db.drop_database().await.unwrap();
}
