//! migrate through its handler against a real MySQL-compatible server (`DATABASE_URL` when set,
//! otherwise one container for this test binary through testcontainers, `lambda_harness::mysql`):
//! verify requests from ingest-load, read as the reader it creates ([`verify`]); the admin secret
//! it reads ([`admin_secret`]); ingest-expire's account ([`expire_account`]); and the migrations
//! themselves: each idempotent, and one a killed run left half-applied applied again by the next
//! ([`migrations`]). Secrets Manager is moto's (`lambda_harness::moto`: AWS_ENDPOINT_URL, else
//! one it starts) or a stub on loopback. Each test gets a fresh database beside the server's own.

mod admin_secret;
mod expire_account;
mod migrations;
mod seed;
mod verify;

use ingest::MIGRATOR;
use lambda_harness::accounts::{assert_holds_only, grants};
use lambda_harness::moto::{self, TestSecret};
use lambda_harness::scratch::{ScratchDatabase, after_drop};
use migrate_fn::{Migrate, MigrateConfig};
use serde_json::{Value, json};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

const REGION: &str = "ap-northeast-1";

/// A fresh database with the migrations applied (`lambda_harness::scratch`, which drops it
/// again) and a pool on it as the server's account.
struct TestDb {
    scratch: ScratchDatabase,
    pool: MySqlPool,
}

impl TestDb {
    async fn new() -> TestDb {
        let (scratch, pool) = ScratchDatabase::with_migrator_and_pool(&MIGRATOR, "migrate")
            .await
            .unwrap_or_else(|e| panic!("a database on the test server: {e}"));
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

/// A connection to the test database as `user`, whose `REQUIRE SSL` the caller lifted (the
/// test server may serve no TLS), with `n_rows` of load run `run` stored first: what a test of
/// an account's rights runs its statements on. The rows it sees, counted on it, must be `n_rows`.
async fn logged_in_as(
    db: &TestDb,
    user: &str,
    password: &str,
    run: &str,
    n_rows: u64,
) -> sqlx::mysql::MySqlConnection {
    db.execute(format!("ALTER USER '{user}'@'%' REQUIRE NONE"))
        .await;
    store_run(db, run, 0..n_rows).await;
    let mut conn = db
        .options()
        .clone()
        .username(user)
        .password(password)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("logging in as {user}: {e}"));
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows, n_rows as i64, "{user} reads the events table");
    conn
}

/// Asserts that each of `statements` is refused on `conn` for want of a table grant
/// (ER_TABLEACCESS_DENIED_ERROR, 1142).
async fn assert_each_denied(conn: &mut sqlx::mysql::MySqlConnection, statements: &[&'static str]) {
    for statement in statements {
        let e = sqlx::query(*statement)
            .execute(&mut *conn)
            .await
            .expect_err(statement);
        let number = e
            .as_database_error()
            .and_then(|d| d.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
            .map(|d| d.number());
        // ER_TABLEACCESS_DENIED_ERROR
        assert_eq!(number, Some(1142), "{statement}: {e}");
    }
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
