//! Permanent is not transient: a write the server refuses for a reason no retry changes (a
//! missing grant, a missing table) is StoreRejected from every source, never "retry later".

use ingest::{MySqlStore, handle};
use lambda_harness::events;
use lambda_harness::scratch::after_drop;
use serde_json::json;
use sqlx::AssertSqlSafe;
use sqlx::mysql::MySqlConnectOptions;

use crate::http::{Front, http_via, status_body};
use crate::{TestDb, diagnostic, event, invoke, store_for};

/// A new account with only `grant` on the test database; dropping it drops the user if the
/// test did not (best effort, as TestDb's database).
struct Account {
    user: String,
    /// The server, for the account's DROP USER.
    server: MySqlConnectOptions,
}

impl Account {
    const PASSWORD: &str = "only-Select-1";

    async fn create(db: &TestDb, grant: &str) -> Account {
        let user = format!(
            "ingest_ro_{}",
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        );
        for sql in [
            format!(
                "CREATE USER '{user}'@'%' IDENTIFIED BY '{}'",
                Account::PASSWORD
            ),
            format!("GRANT {grant} ON `{}`.* TO '{user}'@'%'", db.name),
        ] {
            sqlx::query(AssertSqlSafe(sql))
                .execute(&db.pool)
                .await
                .unwrap();
        }
        Account {
            user,
            server: db.scratch.server().clone(),
        }
    }

    async fn store(&self, db: &TestDb) -> MySqlStore {
        let url = format!(
            "mysql://{}:{}@{}:{}/{}",
            self.user,
            Account::PASSWORD,
            db.options.get_host(),
            db.options.get_port(),
            db.name
        );
        store_for(url, &[]).await
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        after_drop(
            &self.server,
            format!("DROP USER IF EXISTS '{}'@'%'", self.user),
        );
    }
}

/// Every way in, against a store whose write the server refuses with MySQL error `code`: a
/// direct invoke fails with StoreRejected naming the number; HTTP answers 500 without
/// Retry-After; SQS and Kinesis report every item, so the queue's receives end in the
/// dead-letter queue rather than coming back for ever. Nothing is written.
async fn every_source_reports_a_rejection(store: &MySqlStore, code: u16) {
    let d = diagnostic(
        handle(store, invoke(event("x", 1.0), "direct"))
            .await
            .unwrap_err(),
    );
    assert_eq!(d.error_type, "StoreRejected", "{}", d.error_message);
    assert!(
        d.error_message.contains(&format!("MySQL error {code}")),
        "{}",
        d.error_message
    );
    assert!(
        !d.error_message.contains("retry later"),
        "{}",
        d.error_message
    );

    let body = serde_json::to_vec(&event("x", 2.0)).unwrap();
    for front in [
        Front::FunctionUrl,
        Front::RestApi(events::REST_API_SAMPLES[0]),
    ] {
        let r = handle(
            store,
            invoke(
                http_via(front, "POST", Some(&body), false, Some("k")),
                "http",
            ),
        )
        .await
        .unwrap();
        let (status, body) = status_body(&r);
        assert_eq!(
            (status, body["error"].as_str()),
            (500, Some("StoreRejected"))
        );
        let headers = r["headers"].as_object().cloned().unwrap_or_default();
        assert!(
            !headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("retry-after")),
            "{headers:?}"
        );
    }

    let ev = events::sqs_event(&[
        ("m-1", event("x", 3.0).to_string()),
        ("m-2", json!({"source": "x"}).to_string()),
    ]);
    let r = handle(store, invoke(ev, "sqs")).await.unwrap();
    assert_eq!(
        r,
        json!({"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]})
    );
    let data = event("x", 4.0).to_string();
    let ev = events::kinesis_event(&[("101", data.as_bytes())]);
    let r = handle(store, invoke(ev, "kinesis")).await.unwrap();
    assert_eq!(r, json!({"batchItemFailures": [{"itemIdentifier": "101"}]}));
}

// A SELECT-only account: the server refuses the INSERT with 1142 (ER_TABLEACCESS_DENIED_ERROR),
// which no retry changes. https://mariadb.com/kb/en/e1142
#[tokio::test]
async fn a_select_only_account_is_store_rejected_never_retry_later() {
    let db = TestDb::new().await;
    let account = Account::create(&db, "SELECT").await;
    let store = account.store(&db).await;
    every_source_reports_a_rejection(&store, 1142).await;
    assert_eq!(db.count().await, 0);
    // Granted INSERT, the same store writes: the connection was fine all along. (A table's
    // grant applies to open sessions at their next statement, a database's only after a USE.)
    sqlx::query(AssertSqlSafe(format!(
        "GRANT INSERT ON `{}`.`events` TO '{}'@'%'",
        db.name, account.user
    )))
    .execute(&db.pool)
    .await
    .unwrap();
    let r = handle(&store, invoke(event("x", 5.0), "granted"))
        .await
        .unwrap();
    assert_eq!(r["inserted"], 1);
    store.close().await;
    sqlx::query(AssertSqlSafe(format!("DROP USER '{}'@'%'", account.user)))
        .execute(&db.pool)
        .await
        .unwrap();
}

// A missing table (1146, ER_NO_SUCH_TABLE: a migration not applied) is permanent too.
// https://mariadb.com/kb/en/e1146
#[tokio::test]
async fn a_missing_table_is_store_rejected() {
    let db = TestDb::new().await;
    let store = db.store().await;
    sqlx::query("DROP TABLE events")
        .execute(&db.pool)
        .await
        .unwrap();
    every_source_reports_a_rejection(&store, 1146).await;
}
