//! Both functions through their real Lambda entry points (the release-shaped binaries behind a
//! Runtime API), against a real MySQL-compatible server (`DATABASE_URL`, else a container for
//! this test binary through testcontainers: `e2e::mysql`) and moto's EC2
//! (`AWS_ENDPOINT_URL`, or `moto_server` started here): a sync, ingest through every source,
//! then a second sync with a newer snapshot served over loopback HTTP.

use std::process::Command;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use e2e::moto::inbound_rules;
use e2e::mysql::test_server_url;
use e2e::scratch::ScratchDatabase;
use e2e::{RuntimeApi, runtime_api::spawn_function};
use serde_json::{Value, json};
use sqlx::AssertSqlSafe;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REGION: &str = "ap-northeast-1";

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
    e2e::events::sns_event(&message)
}

/// The fields `names` of a sync's report, in that order.
fn counts<const N: usize>(report: &Value, names: [&str; N]) -> [Value; N] {
    names.map(|name| report[name].clone())
}

/// A DATABASE_URL with no server behind it, for tests whose events are refused before the
/// database is needed.
const NO_DATABASE: &str = "mysql://nobody:x@127.0.0.1:9/nowhere";

async fn invoke(api: &RuntimeApi, event: Value) -> Value {
    let out = api.invoke(event.to_string()).await;
    assert!(!out.error, "function error: {}", out.body);
    serde_json::from_str(&out.body).unwrap()
}

#[tokio::test]
async fn sync_ingest_through_every_source_then_sync_again() {
    let bin = e2e::built_binaries();
    let endpoint = e2e::moto::endpoint().to_owned();
    let aws = e2e::moto::sdk_config(&endpoint, REGION).await;
    let ec2 = aws_sdk_ec2::Client::new(&aws);

    // The database's security groups, one of them with a rule someone else made.
    let groups = e2e::moto::security_groups(&ec2, "e2e", 2).await.unwrap();
    e2e::moto::add_rule(&ec2, &groups[0], 3306, "198.51.100.7/32", "office")
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
    assert_eq!(applied["migrations"], 1);
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
        e2e::events::function_url_event(e2e::events::Request {
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
        e2e::events::sqs_event(&[
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
        e2e::events::kinesis_event(&[(
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

/// A fresh database beside the test server's own, migrated by the migrate binary, and a pool
/// on it.
async fn fresh_database(bin: &std::path::Path) -> (ScratchDatabase, MySqlPool) {
    let db = ScratchDatabase::create(&bin.join("migrate"), "e2e")
        .await
        .unwrap();
    let pool = MySqlPool::connect(&db.url).await.unwrap();
    (db, pool)
}

// The load tester runs as a child process while this test serves its Invoke API: two threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_load_verifies_every_acknowledged_event() {
    let bin = e2e::built_binaries();
    let (db, pool) = fresh_database(&bin).await;
    let runtime = Arc::new(RuntimeApi::start().await);
    let (mut function, _) = spawn_function(
        bin.join("ingest-fn").to_str().unwrap(),
        &runtime,
        &[("DATABASE_URL", &db.url)],
    );
    let endpoint = e2e::invoke_api::start(runtime.clone()).await;
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

// `DB_IAM_USER` asks migrate for an account with RDS's `AWSAuthenticationPlugin`, which only
// RDS MySQL has: elsewhere the migrations still apply and migrate fails naming the account.
#[tokio::test]
async fn migrate_names_the_iam_account_it_could_not_create() {
    let bin = e2e::built_binaries();
    let (db, pool) = fresh_database(&bin).await;

    // migrate with DB_IAM_USER=user must fail; its stderr.
    let failing = |user: &str| {
        let out = Command::new(bin.join("migrate"))
            .env("DATABASE_URL", &db.url)
            .env("DB_IAM_USER", user)
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "migrate with DB_IAM_USER={user} succeeded"
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let refused = failing("ingest'fn");
    assert!(
        refused.contains("DB_IAM_USER") && refused.contains("\"ingest'fn\""),
        "{refused}"
    );
    let failed = failing("ingest_fn");
    assert!(
        failed.contains("CREATE USER for IAM account \"ingest_fn\" failed"),
        "{failed}"
    );
    let tables: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'events'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(tables, 1);

    pool.close().await;
    db.drop_database().await.unwrap();
}

/// Runs migrate against `db_url` with `DB_INGEST_SECRET_ARN=arn`; its status and output.
fn migrate_with_secret(bin: &std::path::Path, db_url: &str, arn: &str) -> (bool, String) {
    let out = Command::new(bin.join("migrate"))
        .env("DATABASE_URL", db_url)
        .env("DB_INGEST_SECRET_ARN", arn)
        .env("AWS_ENDPOINT_URL", e2e::moto::endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

// dbAuth=secret: ingest-fn logs in as a least-privilege password account from its own secret,
// never as the admin (https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege).
// migrate creates it with SELECT, INSERT on events only and REQUIRE SSL, and a rotated secret
// takes effect on the next run.
#[tokio::test]
async fn migrate_creates_the_password_account_from_its_secret() {
    let bin = e2e::built_binaries();
    let (db, pool) = fresh_database(&bin).await;
    let secret = e2e::moto::TestSecret::create("ingest_pw", "First-password-0123456789").await;
    let (arn, user) = (secret.arn.clone(), secret.user.clone());

    let (ok, out) = migrate_with_secret(&bin, &db.url, &arn);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("\"account\":\"{user}\"")), "{out}");
    let grants: Vec<String> =
        sqlx::query_scalar(AssertSqlSafe(format!("SHOW GRANTS FOR '{user}'@'%'")))
            .fetch_all(&pool)
            .await
            .unwrap();
    let all = grants.join("\n");
    assert!(
        all.contains(&format!("GRANT SELECT, INSERT ON `{}`.`events`", db.name)),
        "{all}"
    );
    assert_eq!(
        grants.len(),
        2,
        "USAGE plus the events table, nothing more: {all}"
    );
    let create: String =
        sqlx::query_scalar(AssertSqlSafe(format!("SHOW CREATE USER '{user}'@'%'")))
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(create.contains("REQUIRE SSL"), "{create}");

    // Rotation: a new value in the secret, migrate again, the account's password follows.
    secret.rotate("Second-password-0123456789").await;
    let before: String =
        sqlx::query_scalar(AssertSqlSafe(format!("SHOW CREATE USER '{user}'@'%'")))
            .fetch_one(&pool)
            .await
            .unwrap();
    let (ok, out) = migrate_with_secret(&bin, &db.url, &arn);
    assert!(ok, "{out}");
    let after: String = sqlx::query_scalar(AssertSqlSafe(format!("SHOW CREATE USER '{user}'@'%'")))
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_ne!(before, after, "the password hash changed");

    // A password that could break out of the SQL quotes is refused, and not echoed.
    secret.rotate("x' OR '1'='1-padding-padding").await;
    let (ok, out) = migrate_with_secret(&bin, &db.url, &arn);
    assert!(!ok);
    assert!(
        out.contains("DB_INGEST_SECRET_ARN") && !out.contains("OR '1'"),
        "{out}"
    );

    sqlx::query(AssertSqlSafe(format!("DROP USER '{user}'@'%'")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    db.drop_database().await.unwrap();
}

/// A TCP proxy in front of the test server that records whether a client ended its
/// session with COM_QUIT (the packet `01 00 00 00 01`) before closing.
/// A pass-through proxy to the test server counting the COM_QUITs clients send, and the
/// connections still open through it (a client's COM_QUIT is counted before its connection
/// ends).
async fn quit_watching_proxy() -> (
    u16,
    Arc<std::sync::atomic::AtomicUsize>,
    Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let url = MySqlConnectOptions::from_str(test_server_url().await).unwrap();
    let target = (url.get_host().to_owned(), url.get_port());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let quits = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicUsize::new(0));
    let (seen, live) = (quits.clone(), open.clone());
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let mut server = tokio::net::TcpStream::connect(target.clone())
                .await
                .unwrap();
            let (seen, live) = (seen.clone(), live.clone());
            live.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let (mut cr, mut cw) = client.split();
                let (mut sr, mut sw) = server.split();
                let upstream = async {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = cr.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        if buf[..n].ends_with(&[1, 0, 0, 0, 1]) {
                            seen.fetch_add(1, Ordering::SeqCst);
                        }
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                };
                tokio::select! {
                    _ = upstream => {}
                    _ = tokio::io::copy(&mut sr, &mut cw) => {}
                }
                live.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (port, quits, open)
}

/// A pass-through proxy to `target` that holds its first connection's first answer from the
/// client until the test lets it go (the sender it hands over), so the client's socket can be
/// read while it is surely open and set up: the server speaks first (its greeting), and the
/// client answers only after its connect returned and the driver set the socket's options.
/// migrate connects inside an invocation and closes before answering. Later connections pass.
async fn gated_proxy(
    target: std::net::SocketAddr,
) -> (
    u16,
    tokio::sync::oneshot::Receiver<tokio::sync::oneshot::Sender<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (held, first) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut held = Some(held);
        while let Ok((client, _)) = listener.accept().await {
            let held = held.take();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(target).await else {
                    return;
                };
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                tokio::spawn(
                    async move { tokio::io::copy(&mut from_server, &mut to_client).await },
                );
                let mut answer = vec![0u8; 16 * 1024];
                let n = from_client.read(&mut answer).await.unwrap_or(0);
                if let Some(held) = held {
                    let (go, gate) = tokio::sync::oneshot::channel::<()>();
                    let _ = held.send(go);
                    let _ = gate.await;
                }
                if n > 0 && to_server.write_all(&answer[..n]).await.is_ok() {
                    let _ = tokio::io::copy(&mut from_client, &mut to_server).await;
                }
            });
        }
    });
    (port, first)
}

// Both binaries as deployed keep TCP_NODELAY on their connections to the database (why: the
// ingest-fn mysql test `the_stores_connection_sets_tcp_nodelay`), read back from each running
// process's own socket while the gated proxy holds it open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_functions_connections_to_the_database_set_tcp_nodelay() {
    use std::net::ToSocketAddrs;
    let bin = e2e::built_binaries();
    let (db, pool) = fresh_database(&bin).await;
    let url = url::Url::parse(&db.url).unwrap();
    let server = (url.host_str().unwrap(), url.port().unwrap_or(3306))
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap();
    let first_event = json!({"source": "nodelay", "val1": 1, "val2": 2});
    for (name, event) in [("migrate", json!({})), ("ingest-fn", first_event)] {
        let (port, first) = gated_proxy(server).await;
        let mut via_proxy = url.clone();
        via_proxy.set_host(Some("127.0.0.1")).unwrap();
        via_proxy.set_port(Some(port)).unwrap();
        let api = Arc::new(RuntimeApi::start().await);
        let env = [("DATABASE_URL", via_proxy.as_str())];
        let (mut function, _) = spawn_function(bin.join(name).to_str().unwrap(), &api, &env);
        let invocation = tokio::spawn({
            let api = api.clone();
            async move { invoke(&api, event).await }
        });
        let go = tokio::time::timeout(std::time::Duration::from_secs(30), first)
            .await
            .unwrap_or_else(|_| panic!("{name} opened no connection to the database"))
            .unwrap();
        let peer = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let sockets = e2e::socket::tcp_sockets_to(function.id(), peer).unwrap();
        go.send(()).unwrap();
        invocation.await.unwrap();
        function.kill().unwrap();
        function.wait().unwrap();
        assert!(!sockets.is_empty(), "{name} holds no socket to {peer}");
        for socket in &sockets {
            assert!(
                socket.nodelay,
                "{name}: Nagle's algorithm is on: {socket:?}"
            );
        }
    }
    pool.close().await;
    db.drop_database().await.unwrap();
}

// Lambda sends SIGTERM at shutdown only to a runtime that registered an extension, and kills
// it 500 ms later; ingest-fn registers one and closes its pool, so the server frees the
// connection slot at once instead of at wait_timeout.
// https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html#runtimes-lifecycle-shutdown
#[tokio::test]
async fn lambda_shutdown_sigterm_closes_the_database_connection_politely() {
    use std::sync::atomic::Ordering;
    /// A deadline, not a measurement: a killed process's sockets close at once.
    const CLOSE_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);
    let bin = e2e::built_binaries();
    let (db, pool) = fresh_database(&bin).await;
    let (port, quits, open) = quit_watching_proxy().await;
    // Every connection through the proxy has ended, so every COM_QUIT sent is counted.
    let all_closed = || std::future::ready(open.load(Ordering::SeqCst) == 0);
    let mut via_proxy = url::Url::parse(&db.url).unwrap();
    via_proxy.set_host(Some("127.0.0.1")).unwrap();
    via_proxy.set_port(Some(port)).unwrap();
    let env = [("DATABASE_URL", via_proxy.as_str())];
    // An environment whose connection is open: ingest-fn after one event.
    let after_one_event = |id: &'static str| {
        let (bin, env) = (&bin, &env);
        async move {
            let api = RuntimeApi::start().await;
            let (function, _) = spawn_function(bin.join("ingest-fn").to_str().unwrap(), &api, env);
            let out = invoke(
                &api,
                json!({"event_id": id, "source": "shutdown", "val1": 1, "val2": 1}),
            )
            .await;
            assert_eq!(out["inserted"], 1, "{out}");
            (api, function)
        }
    };

    // Killed without SIGTERM (what Lambda does when no extension registered): no COM_QUIT.
    let (_api, mut function) = after_one_event("shutdown-1").await;
    function.kill().unwrap();
    function.wait().unwrap();
    e2e::poll::until(
        "the killed function's connections closed",
        CLOSE_WITHIN,
        all_closed,
    )
    .await;
    assert_eq!(quits.load(Ordering::SeqCst), 0);

    // Through Lambda's shutdown phase: the extension registered, SIGTERM, a polite close.
    let (api, mut function) = after_one_event("shutdown-2").await;
    assert_eq!(
        api.extensions(),
        ["_lambda-rust-runtime-no-op-graceful-shutdown-helper"]
    );
    let shutdown = api.shutdown(&mut function).await;
    assert!(shutdown.sigterm && shutdown.exited_in_time, "{shutdown:?}");
    assert!(shutdown.status.success(), "{shutdown:?}");
    e2e::poll::until(
        "the function's connections closed",
        CLOSE_WITHIN,
        all_closed,
    )
    .await;
    assert_eq!(quits.load(Ordering::SeqCst), 1, "the pool sent COM_QUIT");

    pool.close().await;
    db.drop_database().await.unwrap();
}

// With the function's log format set to JSON, Lambda sets AWS_LAMBDA_LOG_FORMAT=JSON and
// AWS_LAMBDA_LOG_LEVEL; a line the function writes during an invocation must carry that
// invocation's request id, so an operator can follow one request through the logs.
// https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html
#[tokio::test]
async fn a_line_logged_during_an_invocation_carries_its_request_id_in_json() {
    use std::io::BufRead;

    let bin = e2e::built_binaries();
    let api = RuntimeApi::start().await;
    let env = [
        ("DATABASE_URL", NO_DATABASE),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
    ];
    let (mut function, _) = e2e::runtime_api::spawn_function_logging(
        bin.join("ingest-fn").to_str().unwrap(),
        &api,
        &env,
        std::process::Stdio::piped(),
    );
    let stdout = function.stdout.take().unwrap();
    let lines = std::thread::spawn(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let outcomes = [
        api.invoke("[]".into()).await,
        api.invoke(r#"{"source": 1}"#.into()).await,
    ];
    api.shutdown(&mut function).await;
    let lines = lines.join().unwrap();
    for outcome in &outcomes {
        assert!(outcome.error, "{}", outcome.body);
        let line = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| {
                l["fields"]["message"] == "invocation failed"
                    && l["span"]["requestId"] == outcome.request_id.as_str()
            });
        assert!(
            line.is_some(),
            "no JSON line for {} carries its requestId:\n{}",
            outcome.request_id,
            lines.join("\n")
        );
    }
}

// ingest-fn writes an invocation's metrics line once the response is posted, so the caller does
// not wait for it, yet before the runtime asks for the next event: from then on Lambda may
// freeze the environment, and a line still to be written would wait, frozen, for the next
// invocation or be lost with the environment.
// https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html
#[tokio::test]
async fn every_metrics_line_is_out_before_the_environment_is_frozen() {
    let bin = e2e::built_binaries();
    let api = RuntimeApi::start().await.freezing();
    let path = std::env::temp_dir().join(format!("ingest-fn-freeze-{}.log", std::process::id()));
    let stdout = std::fs::File::create(&path).unwrap();
    let env = [("DATABASE_URL", NO_DATABASE)];
    let (mut function, _) = e2e::runtime_api::spawn_function_logging(
        bin.join("ingest-fn").to_str().unwrap(),
        &api,
        &env,
        stdout.into(),
    );
    for n in 1..=5 {
        let outcome = api.invoke(r#"{"source": 1}"#.into()).await;
        assert!(outcome.error, "{}", outcome.body);
        api.frozen().await;
        let log = std::fs::read_to_string(&path).unwrap();
        let rejected: Vec<Option<f64>> = log
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l.get("_aws").is_some())
            .map(|l| l["EventsRejected"].as_f64())
            .collect();
        assert_eq!(
            rejected,
            vec![Some(1.0); n],
            "after {n} invocations:\n{log}"
        );
    }
    api.shutdown(&mut function).await;
    std::fs::remove_file(&path).unwrap();
}

// A function that exits during init (here ingest-fn refusing its configuration) fails the
// invocation at once with its last log lines; before, the test waited for an answer forever.
#[tokio::test]
async fn a_function_that_exits_during_init_fails_the_invocation_with_its_log() {
    let bin = e2e::built_binaries();
    // The timeout is far away: only the process's exit can end the invocation.
    let api = RuntimeApi::start()
        .await
        .with_invoke_timeout(std::time::Duration::from_secs(3600));
    let env = [("DATABASE_URL", NO_DATABASE), ("DB_TLS", "sometimes")];
    let (mut function, _) = spawn_function(bin.join("ingest-fn").to_str().unwrap(), &api, &env);
    let error = api.try_invoke(json!({}).to_string()).await.unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, e2e::runtime_api::InvokeError::Exited { .. }),
        "{message}"
    );
    assert!(
        message.starts_with("ingest-fn exited (exit status 1) before answering"),
        "{message}"
    );
    assert!(
        message.contains("DB_TLS"),
        "the log tail names the setting: {message}"
    );
    assert!(!function.wait().unwrap().success());
}
