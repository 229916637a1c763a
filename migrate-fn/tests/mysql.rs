//! migrate through its handler against a real MySQL-compatible server (`DATABASE_URL` when set,
//! otherwise one container for this test binary through testcontainers, `lambda_harness::mysql`):
//! verify requests from ingest-load, read as the reader it creates; and the secrets it reads.
//! Secrets Manager is moto's (`lambda_harness::moto`: AWS_ENDPOINT_URL, else one it starts) or a
//! stub on loopback. Each test gets a fresh database beside the server's own.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ingest::{Config, MIGRATOR};
use lambda_harness::moto::{self, TestSecret};
use lambda_harness::scratch::{ScratchDatabase, after_drop};
use migrate_fn::iam_settle::Backoff;
use migrate_fn::{Migrate, MigrateConfig};
use serde_json::{Value, json};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

const REGION: &str = "ap-northeast-1";

/// A fresh database with the migrations applied (`lambda_harness::scratch`, which drops it
/// again) and a pool on it as the server's account.
struct TestDb {
    scratch: ScratchDatabase,
    pool: MySqlPool,
}

impl TestDb {
    async fn new() -> TestDb {
        let scratch = ScratchDatabase::with_migrator(&MIGRATOR, "migrate")
            .await
            .unwrap_or_else(|e| panic!("a database on the test server: {e}"));
        let pool = MySqlPool::connect_with(scratch.options.clone())
            .await
            .unwrap();
        TestDb { scratch, pool }
    }

    fn options(&self) -> &MySqlConnectOptions {
        &self.scratch.options
    }

    fn name(&self) -> &str {
        &self.scratch.name
    }

    async fn count(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    async fn execute(&self, sql: String) {
        sqlx::query(AssertSqlSafe(sql))
            .execute(&self.pool)
            .await
            .unwrap();
    }
}

/// migrate with `vars` beside `DATABASE_URL` (the test server's account as the admin).
fn migrate_at(db: &TestDb, vars: &[(&str, &str)]) -> Migrate {
    let url = [("DATABASE_URL", db.scratch.url.as_str())];
    let lookup = lambda_harness::lookup(&[&url[..], vars].concat());
    Migrate::new(MigrateConfig::from_lookup(lookup).unwrap())
}

/// migrate logged in through `DATABASE_URL`, with no account to create.
fn migrate_for(db: &TestDb) -> Migrate {
    migrate_at(db, &[])
}

/// Rows for events `seqs` of load run `run`, in one statement.
async fn store_run(db: &TestDb, run: &str, seqs: impl IntoIterator<Item = u64>) {
    let mut q = sqlx::QueryBuilder::new(
        "INSERT INTO events (event_id, source, recorded_at, received_at, val1, val2) ",
    );
    q.push_values(seqs, |mut row, seq| {
        row.push_bind(contract::verify::event_id(run, seq))
            .push_bind("load")
            .push("NOW(6)")
            .push("NOW(6)")
            .push_bind(seq as f64)
            .push_bind(0.0);
    });
    q.build().execute(&db.pool).await.unwrap();
}

/// Drops a user the test made (or had migrate make) when dropped, as TestDb's database is.
struct DropUser {
    user: String,
    server: MySqlConnectOptions,
}

impl DropUser {
    fn new(db: &TestDb, user: &str) -> DropUser {
        DropUser {
            user: user.to_owned(),
            server: db.scratch.server().clone(),
        }
    }
}

impl Drop for DropUser {
    fn drop(&mut self) {
        after_drop(
            &self.server,
            format!("DROP USER IF EXISTS '{}'@'%'", self.user),
        );
    }
}

// ---------- verify requests, read as the reader ----------

const READER_PASSWORD: &str = "Reader-password-0123456789";

/// migrate with a password reader (`DB_READER_SECRET_ARN`, a secret in moto), after the
/// migration that creates it, and the reader's name. The test server may serve no TLS (the CI's
/// MariaDB does not), so the reader's `REQUIRE SSL` (checked in
/// `the_reader_may_read_the_events_table_and_nothing_else`) is lifted for it to log in here.
async fn migrate_with_reader(db: &TestDb) -> (Migrate, DropUser) {
    let secret = TestSecret::create("reader", READER_PASSWORD).await;
    let sdk = moto::sdk_config(moto::endpoint(), REGION).await;
    let migrate = migrate_at(db, &[("DB_READER_SECRET_ARN", secret.arn.as_str())]).with_aws(sdk);
    let answer = migrate.handle(&json!({})).await.unwrap();
    assert_eq!(answer["reader"], json!(secret.user), "{answer}");
    assert_eq!(answer["account"], Value::Null, "{answer}");
    let reader = DropUser::new(db, &secret.user);
    db.execute(format!("ALTER USER '{}'@'%' REQUIRE NONE", secret.user))
        .await;
    (migrate, reader)
}

#[tokio::test]
async fn migrate_answers_a_verify_request_from_the_table() {
    let db = TestDb::new().await;
    let (migrate, _reader) = migrate_with_reader(&db).await;
    let run = "load-0190verify";
    // 2500 acknowledged events: three queries' worth (contract::verify::CHUNK); two never stored;
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
    db.execute("ALTER TABLE events DROP INDEX event_id".into())
        .await;
    store_run(&db, run, [5]).await;
    let v = migrate.handle(&request).await.unwrap();
    assert_eq!(
        (&v["stored"], &v["doubled"], &v["doubled_ids"]),
        (&json!(2498), &json!(1), &json!([format!("{run}-5")])),
        "{v}"
    );
}

// The reader answers verify requests: SELECT on the events table, nothing else, and only over
// TLS, as ingest-fn's account.
#[tokio::test]
async fn the_reader_may_read_the_events_table_and_nothing_else() {
    let db = TestDb::new().await;
    let secret = TestSecret::create("reader", READER_PASSWORD).await;
    let sdk = moto::sdk_config(moto::endpoint(), REGION).await;
    let migrate = migrate_at(&db, &[("DB_READER_SECRET_ARN", secret.arn.as_str())]).with_aws(sdk);
    migrate.handle(&json!({})).await.unwrap();
    let _reader = DropUser::new(&db, &secret.user);
    let user = &secret.user;
    let grants: Vec<String> =
        sqlx::query_scalar(AssertSqlSafe(format!("SHOW GRANTS FOR '{user}'@'%'")))
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let all = grants.join("\n");
    assert!(
        all.contains(&format!("GRANT SELECT ON `{}`.`events`", db.name())),
        "{all}"
    );
    assert_eq!(
        grants.len(),
        2,
        "USAGE plus SELECT on events, nothing more: {all}"
    );
    let create: String =
        sqlx::query_scalar(AssertSqlSafe(format!("SHOW CREATE USER '{user}'@'%'")))
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(create.contains("REQUIRE SSL"), "{create}");
    // A second migration changes nothing and still succeeds (the trigger runs on every release).
    migrate.handle(&json!({})).await.unwrap();

    // Logged in as the reader itself (REQUIRE SSL lifted: see migrate_with_reader).
    db.execute(format!("ALTER USER '{user}'@'%' REQUIRE NONE"))
        .await;
    store_run(&db, "load-r", 0..2).await;
    let mut reader = db
        .options()
        .clone()
        .username(user)
        .password(READER_PASSWORD)
        .connect()
        .await
        .unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(&mut reader)
        .await
        .unwrap();
    assert_eq!(rows, 2);
    for statement in [
        "INSERT INTO events (event_id, source, recorded_at, received_at, val1, val2) VALUES ('x', 's', NOW(), NOW(), 1, 2)",
        "DELETE FROM events",
        "UPDATE events SET val1 = 0",
        "SELECT COUNT(*) FROM _sqlx_migrations",
        "CREATE TABLE other (id INT)",
    ] {
        let e = sqlx::query(statement)
            .execute(&mut reader)
            .await
            .expect_err(statement);
        let number = e
            .as_database_error()
            .and_then(|d| d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
            .map(|d| d.number());
        // ER_TABLEACCESS_DENIED_ERROR
        assert_eq!(number, Some(1142), "{statement}: {e}");
    }
    reader.close().await.unwrap();
    assert_eq!(db.count().await, 2, "nothing written or deleted");
}

// The verification reads as the reader, never as the admin: once the reader loses its grant
// it cannot even open the database (1044), though the admin could, and once it is gone it cannot
// log in (1045; MariaDB says 1698 for an account that does not exist). Each failure names the
// reader.
#[tokio::test]
async fn verify_logs_in_as_the_reader_not_the_admin() {
    let db = TestDb::new().await;
    let (migrate, reader) = migrate_with_reader(&db).await;
    let request = json!({"verify": {"run_id": "load-r", "acked": [[0, 1]]}});
    store_run(&db, "load-r", 0..1).await;
    let v = migrate.handle(&request).await.unwrap();
    assert_eq!(v["stored"], 1, "{v}");

    let grant = format!("ON `{}`.`events` FROM '{}'@'%'", db.name(), reader.user);
    db.execute(format!("REVOKE SELECT {grant}")).await;
    for (step, code) in [("revoked", "1044"), ("dropped", "Access denied")] {
        if step == "dropped" {
            db.execute(format!("DROP USER '{}'@'%'", reader.user)).await;
        }
        let e = migrate.handle(&request).await.unwrap_err();
        assert_eq!(e.error_type(), "Login", "{step}: {e}");
        let message = e.to_string();
        assert!(
            message.contains(&format!("as {}@", reader.user)) && message.contains(code),
            "{step}: {message}"
        );
    }
    // A migration still logs in as the admin, and creates the reader again.
    let r = migrate.handle(&json!({})).await.unwrap();
    assert_eq!(r["reader"], json!(reader.user));
}

// A local database of one's own (DATABASE_URL, no admin secret) without a reader: its account
// answers. A deployed migrate without one refuses instead (migrate.rs's unit test).
#[tokio::test]
async fn without_a_reader_database_urls_account_answers() {
    let db = TestDb::new().await;
    store_run(&db, "load-local", 0..3).await;
    let request = json!({"verify": {"run_id": "load-local", "acked": [[0, 4]]}});
    let v = migrate_for(&db).handle(&request).await.unwrap();
    assert_eq!((&v["stored"], &v["missing"]), (&json!(3), &json!(1)), "{v}");
}

// ingest-fn's account may write: a reader that names it is refused before any grant.
#[tokio::test]
async fn a_reader_that_is_ingest_fns_account_is_refused() {
    let db = TestDb::new().await;
    let ingest = TestSecret::create("ingest_pw", "Ingest-password-0123456789").await;
    let client =
        aws_sdk_secretsmanager::Client::new(&moto::sdk_config(moto::endpoint(), REGION).await);
    let same_user = client
        .create_secret()
        .name(format!("reader-as-{}", ingest.user))
        .secret_string(json!({"username": ingest.user, "password": READER_PASSWORD}).to_string())
        .send()
        .await
        .unwrap();
    let sdk = moto::sdk_config(moto::endpoint(), REGION).await;
    let _ingest = DropUser::new(&db, &ingest.user);
    let e = migrate_at(
        &db,
        &[
            ("DB_INGEST_SECRET_ARN", ingest.arn.as_str()),
            ("DB_READER_SECRET_ARN", same_user.arn().unwrap()),
        ],
    )
    .with_aws(sdk)
    .handle(&json!({}))
    .await
    .unwrap_err();
    assert_eq!(e.error_type(), "InvalidConfig", "{e}");
    assert!(e.to_string().contains("DB_READER_SECRET_ARN"), "{e}");
    let grants: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SHOW GRANTS FOR '{}'@'%'",
        ingest.user
    )))
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(
        grants.iter().any(|g| g.contains("SELECT, INSERT")) && grants.len() == 2,
        "ingest-fn's grants alone: {grants:?}"
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
                "reader": null,
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

// ---------- the admin secret ----------

/// A new account with all privileges on the test database, for the admin secret to hold: the
/// test server's own account may have no password (a container's root).
struct Admin {
    user: DropUser,
}

impl Admin {
    const PASSWORD: &str = "only-Select-1";

    async fn create(db: &TestDb) -> Admin {
        let user = format!(
            "migrate_admin_{}",
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        );
        db.execute(format!(
            "CREATE USER '{user}'@'%' IDENTIFIED BY '{}'",
            Admin::PASSWORD
        ))
        .await;
        let admin = Admin {
            user: DropUser::new(db, &user),
        };
        db.execute(format!(
            "GRANT ALL PRIVILEGES ON `{}`.* TO '{user}'@'%'",
            db.name()
        ))
        .await;
        admin
    }
}

/// migrate logged in as `user` with the password from the admin secret `arn`.
fn migrate_with_secret(db: &TestDb, arn: &str, user: &str, sdk: aws_config::SdkConfig) -> Migrate {
    let port = db.options().get_port().to_string();
    let vars = [
        ("DB_HOST", db.options().get_host()),
        ("DB_PORT", port.as_str()),
        ("DB_NAME", db.name()),
        ("DB_USER", user),
        ("DB_ADMIN_SECRET_ARN", arn),
        ("DB_TLS", "disabled"),
    ];
    let config = MigrateConfig::from_lookup(lambda_harness::lookup(&vars)).unwrap();
    // ingest-fn's own setting names no admin.
    assert!(matches!(
        Config::from_lookup(lambda_harness::lookup(&vars)),
        Err(e) if e.name == "DB_SECRET_ARN"
    ));
    Migrate::new(config).with_aws(sdk)
}

// The admin secret is read on every run; a secret that does not exist
// (ResourceNotFoundException) is not IAM settling and fails at once.
#[tokio::test]
async fn migrate_logs_in_with_the_admin_secret_and_does_not_wait_on_a_missing_one() {
    let db = TestDb::new().await;
    let admin = Admin::create(&db).await;
    let user = admin.user.user.clone();
    let secret = TestSecret::create("migrate_admin", Admin::PASSWORD).await;
    let sdk = moto::sdk_config(moto::endpoint(), REGION).await;
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
    calls: Arc<AtomicUsize>,
}

impl DenyingSecrets {
    async fn start(denials: usize, secret: Value) -> DenyingSecrets {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(AtomicUsize::new(0));
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
    let admin = Admin::create(&db).await;
    let (user, password) = (admin.user.user.clone(), Admin::PASSWORD.to_owned());
    let arn = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret:admin-AbCdEf";
    let secret_with = |password: &str| {
        json!({
            "ARN": arn, "Name": "admin", "VersionId": "v1", "VersionStages": ["AWSCURRENT"],
            "SecretString": json!({"username": user, "password": password}).to_string(),
            "CreatedDate": 1.8e9,
        })
    };
    let secret = secret_with(&password);
    // Short pauses: the schedule itself is tested in migrate_fn::iam_settle.
    let backoff = Backoff {
        first: Duration::from_millis(10),
        max: Duration::from_millis(20),
        limit: Duration::from_secs(30),
    };
    let stub = DenyingSecrets::start(2, secret.clone()).await;
    let sdk = moto::sdk_config(&stub.endpoint, REGION).await;
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
    let sdk = moto::sdk_config(&stub.endpoint, REGION).await;
    let backoff = Backoff {
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
        &format!("secretsmanager:GetSecretValue on {arn} (DB_ADMIN_SECRET_ARN)"),
        "for IAM to settle",
    ] {
        assert!(message.contains(part), "{part:?} in {message}");
    }
    assert!(stub.calls.load(Ordering::SeqCst) > 1);

    // A password the server refuses (1045) is not IAM settling: it fails at once, on the
    // real schedule (a wrong classification would end in IamNotSettled instead).
    let stub = DenyingSecrets::start(0, secret_with("not-the-Password-1")).await;
    let sdk = moto::sdk_config(&stub.endpoint, REGION).await;
    let e = migrate_with_secret(&db, arn, &user, sdk)
        .handle(&json!({}))
        .await
        .unwrap_err();
    assert_eq!(e.error_type(), "Login", "{e}");
    assert!(e.to_string().contains("1045"), "{e}");
}
