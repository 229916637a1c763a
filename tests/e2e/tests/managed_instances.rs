//! ingest-fn on Lambda Managed Instances: one execution environment (one process) serves
//! `AWS_LAMBDA_MAX_CONCURRENCY` invocations at once through concurrent `next` calls to the same
//! Runtime API (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html), each with a
//! database connection of its own from a pool of that size, unless `DB_POOL_MAX` caps it.
//!
//! Whether the invocations really overlap is read from the server, not from timings: the test
//! holds, in a transaction of its own, a locking read of the `event_id` each invocation writes
//! (a gap lock, as none is stored yet), so every invocation's INSERT waits on it inside the
//! database. The statements waiting there at the same time are the invocations that had a
//! connection at the same time. (Holding the ids by inserting them would not do: INSERTs that
//! waited on a duplicate key deadlock with each other once it is rolled back.)

use std::time::Duration;

use e2e::RuntimeApi;
use e2e::runtime_api::spawn_function;
use e2e::scratch::ScratchDatabase;
use serde_json::{Value, json};
use sqlx::mysql::MySqlConnection;
use sqlx::{Connection, Row};

/// A deadline for the server to show what the test waits for, not a measurement.
const WITHIN: Duration = Duration::from_secs(60);

/// The events table's INSERTs under way in `database` on other connections than `own`, and the
/// connections open there besides `own`.
async fn in_database(own: &mut MySqlConnection, database: &str) -> (i64, i64) {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(INFO LIKE 'INSERT IGNORE INTO events%'), 0) AS SIGNED), \
                CAST(COUNT(*) AS SIGNED) \
         FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()",
    )
    .bind(database)
    .fetch_one(own)
    .await
    .unwrap();
    (row.get(0), row.get(1))
}

/// Runs `invocations` direct invokes at once against one ingest-fn process started with `env`
/// while the test holds their event ids, and returns how many of their INSERTs the server
/// showed waiting at once (polled until `expect_waiting` is reached), the most connections the
/// process held while they waited, and the responses once the hold is released.
async fn concurrent_invocations(
    bin: &std::path::Path,
    db: &ScratchDatabase,
    env: &[(&str, &str)],
    invocations: usize,
    expect_waiting: i64,
) -> (i64, i64, Vec<Value>) {
    let ids: Vec<String> = (0..invocations)
        .map(|i| format!("lmi-{}-{i}", uuid::Uuid::now_v7().simple()))
        .collect();
    let mut holder = MySqlConnection::connect(&db.url).await.unwrap();
    // Count this process's connections only: an earlier one's may still be closing.
    let deadline = tokio::time::Instant::now() + WITHIN;
    while in_database(&mut holder, &db.name).await.1 > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "other connections to the database stayed open for {WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let api = RuntimeApi::start().await;
    let (mut function, _) = spawn_function(bin.join("ingest-fn").to_str().unwrap(), &api, env);

    // The hold: a locking read of each event id, in a transaction kept open. Under REPEATABLE
    // READ it locks the gap where the id would go, which blocks inserting it.
    for statement in [
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        "START TRANSACTION",
    ] {
        sqlx::query(statement).execute(&mut holder).await.unwrap();
    }
    for id in &ids {
        let held = sqlx::query("SELECT id FROM events WHERE event_id = ? FOR UPDATE")
            .bind(id)
            .fetch_all(&mut holder)
            .await
            .unwrap();
        assert!(held.is_empty(), "{id} is already stored");
    }

    let calls = ids.iter().map(|id| {
        let event = json!({"event_id": id, "source": "lmi", "val1": 1, "val2": 2}).to_string();
        api.invoke(event)
    });
    let all = join_all(calls);
    tokio::pin!(all);

    // Drive the invocations while watching the server until the expected number wait at once.
    let deadline = tokio::time::Instant::now() + WITHIN;
    let (mut waiting, mut connections) = (0, 0);
    loop {
        tokio::select! {
            outcomes = &mut all => panic!("answered while the hold was on: {outcomes:?}"),
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        let (w, c) = in_database(&mut holder, &db.name).await;
        (waiting, connections) = (waiting.max(w), connections.max(c));
        if waiting >= expect_waiting {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{waiting} of the {expect_waiting} INSERTs expected waited in the database at once \
             within {WITHIN:?}"
        );
    }
    // A few more looks: none beyond the pool may appear while the rest wait for a connection.
    for _ in 0..10 {
        tokio::select! {
            outcomes = &mut all => panic!("answered while the hold was on: {outcomes:?}"),
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        let (w, c) = in_database(&mut holder, &db.name).await;
        (waiting, connections) = (waiting.max(w), connections.max(c));
    }

    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    let outcomes = all.await;
    holder.close().await.unwrap();
    api.shutdown(&mut function).await;
    let responses = outcomes
        .into_iter()
        .map(|o| {
            assert!(!o.error, "function error: {}", o.body);
            serde_json::from_str(&o.body).unwrap()
        })
        .collect();
    (waiting, connections, responses)
}

/// `join_all` without the futures crate: the invocations run concurrently on this task.
async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut outputs: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, out) in set.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *out = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// Each event id's rows in the table.
async fn stored(db: &ScratchDatabase) -> Vec<(String, i64)> {
    let mut conn = MySqlConnection::connect(&db.url).await.unwrap();
    let rows = sqlx::query(
        "SELECT CAST(event_id AS CHAR), CAST(COUNT(*) AS SIGNED) FROM events \
         GROUP BY event_id ORDER BY event_id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

// AWS_LAMBDA_MAX_CONCURRENCY=4 and no DB_POOL_MAX: four invocations in one process each have a
// connection at once (none waits for another's), and each event is stored once. With
// DB_POOL_MAX=2 the process holds two connections, two invocations wait for one, and all four
// still complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_environment_serves_concurrent_invocations_with_a_connection_each() {
    let bin = e2e::built_binaries();
    let db = ScratchDatabase::create(&bin.join("migrate"), "lmi")
        .await
        .unwrap();
    // The held rows must outlast the write timeout's default (5 s) on a loaded machine; the
    // hold ends when the test has seen what it waits for.
    let base = [
        ("DATABASE_URL", db.url.as_str()),
        ("AWS_LAMBDA_MAX_CONCURRENCY", "4"),
        ("DB_WRITE_TIMEOUT_MS", "60000"),
        ("DB_CONNECT_TIMEOUT_MS", "60000"),
    ];

    let (waiting, connections, responses) = concurrent_invocations(&bin, &db, &base, 4, 4).await;
    assert_eq!(
        waiting, 4,
        "all four INSERTs waited in the database at once"
    );
    assert_eq!(connections, 4, "one connection per concurrent invocation");
    for r in &responses {
        assert_eq!(
            (&r["inserted"], &r["duplicates"]),
            (&json!(1), &json!(0)),
            "{r}"
        );
    }

    let capped = [&base[..], &[("DB_POOL_MAX", "2")][..]].concat();
    let (waiting, connections, responses) = concurrent_invocations(&bin, &db, &capped, 4, 2).await;
    assert_eq!(
        waiting, 2,
        "only the pool's two INSERTs reached the database"
    );
    assert_eq!(
        connections, 2,
        "DB_POOL_MAX caps the environment's connections"
    );
    for r in &responses {
        assert_eq!(
            (&r["inserted"], &r["duplicates"]),
            (&json!(1), &json!(0)),
            "{r}"
        );
    }

    let rows = stored(&db).await;
    assert_eq!(rows.len(), 8, "{rows:?}");
    assert!(
        rows.iter().all(|(_, n)| *n == 1),
        "each event once: {rows:?}"
    );
    db.drop_database().await.unwrap();
}
