//! Verify requests from ingest-load, read as the reader migrate creates.

use super::*;

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
    assert_holds_only(&db.pool, db.name(), user, "SELECT").await;
    // A second migration changes nothing and still succeeds (the trigger runs on every release).
    migrate.handle(&json!({})).await.unwrap();

    // Logged in as the reader itself.
    let mut reader = logged_in_as(&db, user, READER_PASSWORD, "load-r", 2).await;
    assert_each_denied(
        &mut reader,
        &[
            "INSERT INTO events (event_id, source, recorded_at, received_at, val1, val2) VALUES ('x', 's', NOW(), NOW(), 1, 2)",
            "DELETE FROM events",
            "UPDATE events SET val1 = 0",
            "SELECT COUNT(*) FROM _sqlx_migrations",
            "CREATE TABLE other (id INT)",
        ],
    )
    .await;
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
                "recovered": [],
                "iam_user": null,
                "account": null,
                "reader": null,
                "expire": null,
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
