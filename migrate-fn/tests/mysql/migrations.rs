//! The migrations themselves: every one idempotent (the rule migrate's recovery rests on), and a
//! migration a run left half-applied (killed by the deploy's limit mid-ALTER, or given up on its
//! lock wait) applied again by the next run, which sqlx alone refuses (`MigrateError::Dirty`).

use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{Executor, MySqlConnection};

use super::seed::seed_events;
use super::*;

/// The online index migration (migrations/20261207000000_index_events_received_at.sql).
const INDEX_VERSION: i64 = 20261207000000;

/// Rows for the index build to take long enough to be killed midway: MariaDB 10.11 here builds
/// the index on 300,000 rows in about 0.26 s (benches/online_index.rs measures a million), so
/// this is about half a second, against a kill that lands some 50 ms after the ALTER starts.
const KILL_ROWS: u64 = 600_000;

/// The table as the server shows it, without its AUTO_INCREMENT counter.
async fn create_table(pool: &MySqlPool) -> String {
    let (_, create): (String, String) = sqlx::query_as("SHOW CREATE TABLE events")
        .fetch_one(pool)
        .await
        .unwrap();
    create
        .split_whitespace()
        .filter(|w| !w.starts_with("AUTO_INCREMENT="))
        .collect::<Vec<_>>()
        .join(" ")
}

async fn index_exists(db: &TestDb) -> bool {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() \
         AND table_name = 'events' AND index_name = 'events_received_at'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    n > 0
}

/// The index migration's row: `Some(success)`, or None without one.
async fn index_row(db: &TestDb) -> Option<bool> {
    sqlx::query_scalar("SELECT success FROM _sqlx_migrations WHERE version = ?")
        .bind(INDEX_VERSION)
        .fetch_optional(&db.pool)
        .await
        .unwrap()
}

/// The database as a release before the index left it: the index and its row gone.
async fn before_the_index(db: &TestDb) {
    db.execute("ALTER TABLE events DROP INDEX events_received_at".into())
        .await;
    db.execute(format!(
        "DELETE FROM _sqlx_migrations WHERE version = {INDEX_VERSION}"
    ))
    .await;
}

/// What sqlx alone makes of the database: its run refuses the dirty version, as every deploy
/// would before migrate recovered.
async fn sqlx_alone_refuses(db: &TestDb) {
    match MIGRATOR.run(&db.pool).await {
        Err(MigrateError::Dirty(version)) => assert_eq!(version, INDEX_VERSION),
        other => panic!("sqlx should refuse the dirty migration: {other:?}"),
    }
}

/// The next run applies it again: answers which, leaves the index and the row marked done, and
/// the run after it has nothing to recover.
async fn next_run_recovers(db: &TestDb) {
    let answer = migrate_for(db).handle(&json!({})).await.unwrap();
    assert_eq!(answer["recovered"], json!([INDEX_VERSION]), "{answer}");
    assert!(index_exists(db).await);
    assert_eq!(index_row(db).await, Some(true));
    let answer = migrate_for(db).handle(&json!({})).await.unwrap();
    assert_eq!(answer["recovered"], json!([]), "{answer}");
}

// The rule: every migration can run again over its own result without error and without
// changing it, so that migrate may apply again one a killed run left half-applied.
#[tokio::test]
async fn every_migration_applies_twice_without_error_and_to_the_same_schema() {
    let reference = TestDb::new().await;
    let empty = Migrator::with_migrations(Vec::new());
    let twice = ScratchDatabase::with_migrator(&empty, "migrate_twice")
        .await
        .unwrap_or_else(|e| panic!("a database on the test server: {e}"));
    let pool = MySqlPool::connect_with(twice.options.clone())
        .await
        .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    for migration in MIGRATOR.iter() {
        for pass in ["first", "second"] {
            let conn: &mut MySqlConnection = &mut conn;
            conn.execute(migration.sql.clone())
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "migration {} ({}), {pass} time: {e}",
                        migration.version, migration.description
                    )
                });
        }
    }
    drop(conn);
    assert_eq!(
        create_table(&pool).await,
        create_table(&reference.pool).await
    );
    pool.close().await;
}

/// Waits until the migration's row is committed as `success = FALSE` (sqlx inserts it first;
/// the ALTER's implicit commit commits it just before the ALTER starts), lets the index build
/// run 50 ms, and kills the connection that runs it. Returns the connection's id; panics when
/// the migration finished first (the table too small for this server).
async fn kill_during_the_alter(db: &TestDb) -> i64 {
    let mut watcher = db.pool.acquire().await.unwrap();
    loop {
        match index_row(db).await {
            Some(false) => break,
            Some(true) => panic!(
                "the index build finished before it could be killed: raise KILL_ROWS for this \
                 server"
            ),
            None => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let id: i64 = sqlx::query_scalar(
        "SELECT CAST(ID AS SIGNED) FROM information_schema.processlist \
         WHERE DB = DATABASE() AND COMMAND = 'Query' AND ID <> CONNECTION_ID() \
         AND INFO LIKE '%events_received_at%'",
    )
    .fetch_one(&mut *watcher)
    .await
    .expect("the connection running the index migration, in the process list");
    sqlx::query(AssertSqlSafe(format!("KILL CONNECTION {id}")))
        .execute(&mut *watcher)
        .await
        .unwrap();
    id
}

// The deploy's 5-minute limit kills migrate while the index builds: the connection dies mid-
// ALTER, the ALTER rolls back, and the row stays marked failed. sqlx alone would refuse every
// later run; the next migrate applies it again.
#[tokio::test]
async fn a_migration_killed_during_its_alter_is_applied_again_by_the_next_run() {
    let db = TestDb::new().await;
    before_the_index(&db).await;
    seed_events(&db.pool, KILL_ROWS).await.unwrap();
    let migrate = migrate_for(&db);
    let invoke = json!({});
    let (killed, id) = tokio::join!(migrate.handle(&invoke), kill_during_the_alter(&db));
    let e = killed.expect_err("the migration's connection was killed");
    assert_eq!(e.error_type(), "Migrations", "connection {id}: {e}");
    assert_eq!(index_row(&db).await, Some(false), "the row left dirty");
    // A kill that landed after the build (the index there, the row still dirty) is the case of
    // a_migration_done_but_not_marked_is_applied_again_as_a_no_op; here it must land midway.
    assert!(
        !index_exists(&db).await,
        "a killed ALTER rolls back; the index exists, so the kill came after the build: raise \
         KILL_ROWS for this server"
    );
    sqlx_alone_refuses(&db).await;

    next_run_recovers(&db).await;
    assert_eq!(db.count().await, KILL_ROWS as i64, "no row lost or added");
}

// A transaction that has read the table holds its metadata lock: the ALTER waits for it, every
// write would queue behind the ALTER, and so the ALTER gives up after its lock_wait_timeout
// (error 1205), leaving its row dirty. Once the transaction ends, the next run applies it.
#[tokio::test]
async fn an_alter_behind_a_long_transaction_gives_up_and_the_next_run_applies_it() {
    let db = TestDb::new().await;
    before_the_index(&db).await;
    store_run(&db, "load-lock", 0..3).await;
    let mut holder = db.pool.acquire().await.unwrap();
    let long: &mut MySqlConnection = &mut holder;
    long.execute("BEGIN").await.unwrap();
    long.execute("SELECT COUNT(*) FROM events").await.unwrap();

    let e = migrate_for(&db).handle(&json!({})).await.unwrap_err();
    assert_eq!(e.error_type(), "Migrations", "{e}");
    let message = e.to_string();
    assert!(
        message.contains("1205") || message.contains("Lock wait timeout"),
        "{message}"
    );
    assert!(message.contains(&INDEX_VERSION.to_string()), "{message}");
    assert_eq!(index_row(&db).await, Some(false), "the row left dirty");
    assert!(!index_exists(&db).await);

    long.execute("COMMIT").await.unwrap();
    next_run_recovers(&db).await;
}

// Killed after the ALTER finished but before sqlx marked the row: the index is there, the row
// is dirty. Applied again, the migration finds the index and does nothing.
#[tokio::test]
async fn a_migration_done_but_not_marked_is_applied_again_as_a_no_op() {
    let db = TestDb::new().await;
    db.execute(format!(
        "UPDATE _sqlx_migrations SET success = FALSE WHERE version = {INDEX_VERSION}"
    ))
    .await;
    sqlx_alone_refuses(&db).await;
    let before = create_table(&db.pool).await;
    next_run_recovers(&db).await;
    assert_eq!(create_table(&db.pool).await, before);
}

// A dirty row of a migration this release does not have (a newer release's, interrupted):
// refused, naming it and what to do; nothing deleted, not even a dirty row of our own.
#[tokio::test]
async fn an_unknown_dirty_migration_is_refused_naming_it() {
    let db = TestDb::new().await;
    let unknown = 20991231000000_i64;
    db.execute(format!(
        "UPDATE _sqlx_migrations SET success = FALSE WHERE version = {INDEX_VERSION}"
    ))
    .await;
    db.execute(format!(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ({unknown}, 'from the future', FALSE, x'00', -1)"
    ))
    .await;
    let e = migrate_for(&db).handle(&json!({})).await.unwrap_err();
    assert_eq!(e.error_type(), "Migrations", "{e}");
    let message = e.to_string();
    for part in [
        format!("migration {unknown} (\"from the future\")"),
        format!("its newest is {INDEX_VERSION}"),
        format!("DELETE FROM _sqlx_migrations WHERE version = {unknown}"),
    ] {
        assert!(message.contains(&part), "{part:?} in {message}");
    }
    let dirty: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE NOT success")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(dirty, 2, "nothing deleted");
}
