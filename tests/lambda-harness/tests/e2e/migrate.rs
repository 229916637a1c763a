//! migrate as a process: the IAM account it could not create, and ingest-fn's password account
//! from its secret.

use sqlx::AssertSqlSafe;

use crate::{REGION, fresh_database};

// `DB_IAM_USER` asks migrate for an account with RDS's `AWSAuthenticationPlugin`, which only
// RDS MySQL has: elsewhere the migrations still apply and migrate fails naming the account.
#[tokio::test]
async fn migrate_names_the_iam_account_it_could_not_create() {
    let bin = lambda_harness::built_binaries();
    let (db, pool) = fresh_database(&bin).await;

    // migrate with DB_IAM_USER=user must fail; its stderr.
    let failing = |user: &str| {
        let out = lambda_harness::function_command(bin.join("migrate"))
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
    let out = lambda_harness::function_command(bin.join("migrate"))
        .env("DATABASE_URL", db_url)
        .env("DB_INGEST_SECRET_ARN", arn)
        .env("AWS_ENDPOINT_URL", lambda_harness::moto::endpoint())
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
    let bin = lambda_harness::built_binaries();
    let (db, pool) = fresh_database(&bin).await;
    let secret =
        lambda_harness::moto::TestSecret::create("ingest_pw", "First-password-0123456789").await;
    let (arn, user) = (secret.arn.clone(), secret.user.clone());

    let (ok, out) = migrate_with_secret(&bin, &db.url, &arn);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("\"account\":\"{user}\"")), "{out}");
    lambda_harness::accounts::assert_holds_only(&pool, &db.name, &user, "SELECT, INSERT").await;

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
