//! ingest-expire's account (`DB_EXPIRE_SECRET_ARN` here; `DB_EXPIRE_IAM_USER` needs RDS's IAM
//! plugin, which the test servers lack: its statements are checked in migrate_fn::accounts):
//! created as the reader is, only when its setting is present, with SELECT and DELETE on the
//! events table and nothing else.

use super::*;

const EXPIRE_PASSWORD: &str = "Expire-password-0123456789";

// The retention job reads a chunk and deletes it; it may not write or change events, read
// migrate's bookkeeping, or create anything. Only over TLS, as the other accounts.
#[tokio::test]
async fn the_expire_account_may_read_and_delete_events_and_nothing_else() {
    let db = TestDb::new().await;
    let secret = TestSecret::create("expire", EXPIRE_PASSWORD).await;
    let sdk = moto::sdk_config(moto::endpoint(), REGION).await;
    let migrate = migrate_at(&db, &[("DB_EXPIRE_SECRET_ARN", secret.arn.as_str())]).with_aws(sdk);
    let answer = migrate.handle(&json!({})).await.unwrap();
    let _expire = DropUser::new(&db, &secret.user);
    assert_eq!(answer["expire"], json!(secret.user), "{answer}");
    assert_eq!(
        (&answer["account"], &answer["reader"]),
        (&Value::Null, &Value::Null),
        "only the account whose setting is present: {answer}"
    );
    let user = &secret.user;
    assert_holds_only(&db.pool, db.name(), user, "SELECT, DELETE").await;
    // Every release runs migrate again: a second run changes nothing and succeeds.
    let again = migrate.handle(&json!({})).await.unwrap();
    assert_eq!(again["expire"], json!(secret.user), "{again}");

    // Logged in as the account itself.
    let mut expire = logged_in_as(&db, user, EXPIRE_PASSWORD, "load-e", 3).await;
    let deleted = sqlx::query("DELETE FROM events WHERE event_id = 'load-e-0'")
        .execute(&mut expire)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(deleted, 1);
    assert_each_denied(
        &mut expire,
        &[
            "INSERT INTO events (event_id, source, recorded_at, received_at, val1, val2) VALUES ('x', 's', NOW(), NOW(), 1, 2)",
            "UPDATE events SET val1 = 0",
            "SELECT COUNT(*) FROM _sqlx_migrations",
            "DELETE FROM _sqlx_migrations",
            "CREATE TABLE other (id INT)",
        ],
    )
    .await;
    expire.close().await.unwrap();
    assert_eq!(db.count().await, 2, "one deleted, nothing written");
}

// One account for two roles would hold both grants: ingest-fn could delete, or the reader could.
// Refused before the expire account's grant, naming its setting; the other keeps its own grants.
#[tokio::test]
async fn an_expire_account_that_is_another_roles_account_is_refused() {
    let db = TestDb::new().await;
    let client =
        aws_sdk_secretsmanager::Client::new(&moto::sdk_config(moto::endpoint(), REGION).await);
    for (other_setting, other_privileges) in [
        ("DB_INGEST_SECRET_ARN", "SELECT, INSERT"),
        ("DB_READER_SECRET_ARN", "SELECT"),
    ] {
        let other = TestSecret::create("other_pw", "Other-password-0123456789").await;
        let _other = DropUser::new(&db, &other.user);
        let same_user = client
            .create_secret()
            .name(format!("expire-as-{}", other.user))
            .secret_string(json!({"username": other.user, "password": EXPIRE_PASSWORD}).to_string())
            .send()
            .await
            .unwrap();
        let sdk = moto::sdk_config(moto::endpoint(), REGION).await;
        let e = migrate_at(
            &db,
            &[
                (other_setting, other.arn.as_str()),
                ("DB_EXPIRE_SECRET_ARN", same_user.arn().unwrap()),
            ],
        )
        .with_aws(sdk)
        .handle(&json!({}))
        .await
        .unwrap_err();
        assert_eq!(e.error_type(), "InvalidConfig", "{other_setting}: {e}");
        let message = e.to_string();
        assert!(
            message.contains("DB_EXPIRE_SECRET_ARN") && message.contains(other_setting),
            "{message}"
        );
        let grants = grants(&db.pool, &other.user).await;
        assert!(
            grants.len() == 2
                && grants.iter().any(|g| g.contains(&format!(
                    "GRANT {other_privileges} ON `{}`.`events`",
                    db.name()
                )))
                && !grants.iter().any(|g| g.contains("DELETE")),
            "{other_setting}: its own grants alone: {grants:?}"
        );
    }
}
