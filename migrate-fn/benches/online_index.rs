//! The online index migration (migrations/20261207000000_index_events_received_at.sql) on a
//! table of a million rows: how long migrate takes to build it, and whether ingest keeps writing
//! meanwhile, with what latency, against the same writes before and after.
//!
//!     DATABASE_URL=mysql://user:password@127.0.0.1:3306/db cargo bench -p migrate-fn --bench online_index
//!
//! Without `DATABASE_URL` it runs against a container through testcontainers
//! (`lambda_harness::mysql`). The table is a scratch database's as a release before the index
//! left it (migrated, then the index and its row dropped), filled by the server
//! (tests/mysql/seed.rs: received over 60 days, oldest first). Ingest is driven in this process
//! through its handler and store (`ingest::handle` on a `MySqlStore`, the code the function
//! runs), by `INDEX_BENCH_WRITERS` (4) writers in a closed loop, each invocation one event, so
//! one single-row `INSERT IGNORE`. Three phases: `INDEX_BENCH_SECONDS` (20) before the
//! migration, as long as migrate runs (`Migrate::handle`, what the deploy invokes), and
//! `INDEX_BENCH_SECONDS` after. `INDEX_BENCH_ROWS` (1,000,000) sets the table's size.

#[path = "../tests/mysql/seed.rs"]
mod seed;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ingest::{Config, MIGRATOR, MySqlStore, handle};
use lambda_harness::scratch::ScratchDatabase;
use lambda_harness::whole_number_setting;
use lambda_runtime::{Context, LambdaEvent};
use migrate_fn::{Migrate, MigrateConfig};
use serde_json::json;
use sqlx::mysql::MySqlPool;
use tokio::task::JoinHandle;

/// The online index migration's version.
const INDEX_VERSION: i64 = 20261207000000;

/// One phase's writes: every invocation's latency (µs) and the failed ones.
struct Writes {
    latency: Histogram<u64>,
    errors: u64,
    took: Duration,
}

/// Latencies in µs, up to a minute (a longer one is counted as a minute).
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("a histogram")
}

/// `writers` tasks writing one event per invocation through `store` until `stop` is set.
fn start_writers(
    store: &Arc<MySqlStore>,
    writers: u64,
    sequence: &Arc<AtomicU64>,
    stop: &Arc<AtomicBool>,
) -> Vec<JoinHandle<(Histogram<u64>, u64)>> {
    (0..writers)
        .map(|_| {
            let (store, sequence, stop) = (store.clone(), sequence.clone(), stop.clone());
            tokio::spawn(async move {
                let mut latency = histogram();
                let mut errors = 0;
                while !stop.load(Ordering::Relaxed) {
                    let n = sequence.fetch_add(1, Ordering::Relaxed);
                    let mut context = Context::default();
                    context.request_id = format!("index-bench-{n}");
                    let event = json!([{"source": "bench", "val1": n, "val2": 1.5}]);
                    let started = Instant::now();
                    let result = handle(&*store, LambdaEvent::new(event, context)).await;
                    latency.saturating_record(started.elapsed().as_micros() as u64);
                    errors += u64::from(result.is_err());
                }
                (latency, errors)
            })
        })
        .collect()
}

/// Runs the writers while `work` runs (or for `length` when there is none); their figures.
async fn phase<F: std::future::Future>(
    store: &Arc<MySqlStore>,
    writers: u64,
    sequence: &Arc<AtomicU64>,
    work: F,
) -> (Writes, F::Output) {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks = start_writers(store, writers, sequence, &stop);
    let output = work.await;
    stop.store(true, Ordering::Relaxed);
    let took = started.elapsed();
    let mut latency = histogram();
    let mut errors = 0;
    for task in tasks {
        let (h, e) = task.await.expect("a writer");
        latency.add(h).expect("histograms of the same range");
        errors += e;
    }
    let writes = Writes {
        latency,
        errors,
        took,
    };
    (writes, output)
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

async fn index_exists(pool: &MySqlPool) -> bool {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() \
         AND table_name = 'events' AND index_name = 'events_received_at'",
    )
    .fetch_one(pool)
    .await
    .expect("reading information_schema");
    n > 0
}

fn main() {
    let rows = whole_number_setting("INDEX_BENCH_ROWS", 1_000_000);
    let length = Duration::from_secs(whole_number_setting("INDEX_BENCH_SECONDS", 20));
    let writers = whole_number_setting("INDEX_BENCH_WRITERS", 4);
    lambda_harness::bench_runtime().block_on(async {
        let db = ScratchDatabase::with_migrator(&MIGRATOR, "bench_index")
            .await
            .unwrap_or_else(|e| panic!("a database on the server: {e}"));
        let pool = MySqlPool::connect_with(db.options.clone())
            .await
            .expect("connecting");
        // As a release before the index left the database; filled faster without it, too.
        for statement in [
            "ALTER TABLE events DROP INDEX events_received_at".to_owned(),
            format!("DELETE FROM _sqlx_migrations WHERE version = {INDEX_VERSION}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(&pool)
                .await
                .expect("the database before the index");
        }
        let started = Instant::now();
        seed::seed_events(&pool, rows)
            .await
            .expect("filling the table");
        println!(
            "filled {rows} rows in {:.0} s",
            started.elapsed().as_secs_f64()
        );
        let vars = [
            ("DATABASE_URL", db.url.clone()),
            ("DB_POOL_MAX", writers.to_string()),
        ];
        let lookup = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        // As ingest-fn builds it (DATABASE_URL: no AWS), its first connection opened ahead.
        let config = Config::from_lookup(lookup).expect("the bench's settings");
        let store = Arc::new(MySqlStore::new(config, None).await.expect("the store"));
        store.warm_up().await;
        let migrate = Migrate::new(
            MigrateConfig::from_lookup(|k| (k == "DATABASE_URL").then(|| db.url.clone()))
                .expect("migrate's settings"),
        );
        let sequence = Arc::new(AtomicU64::new(0));
        // Warm-up, not counted: connections open, statements prepared.
        phase(
            &store,
            writers,
            &sequence,
            tokio::time::sleep(Duration::from_secs(5)),
        )
        .await;
        let (before, ()) = phase(&store, writers, &sequence, tokio::time::sleep(length)).await;
        let (during, migrated) = phase(&store, writers, &sequence, async {
            let started = Instant::now();
            let answer = migrate.handle(&json!({})).await;
            (answer, started.elapsed())
        })
        .await;
        let (after, ()) = phase(&store, writers, &sequence, tokio::time::sleep(length)).await;
        let (answer, build) = migrated;
        let answer = answer.unwrap_or_else(|e| panic!("migrate failed: {e}"));
        assert!(
            index_exists(&pool).await,
            "migrate answered {answer} without building the index"
        );

        println!(
            "\n{writers} writers, one event (a single-row INSERT IGNORE) per invocation, on \
             {rows} rows\n"
        );
        println!(
            "{:<24} {:>8} {:>7} {:>8} {:>8} {:>8} {:>8} {:>7}",
            "phase", "seconds", "writes", "per s", "p50 ms", "p99 ms", "max ms", "errors"
        );
        for (name, w) in [
            ("before the migration", &before),
            ("while the index builds", &during),
            ("after", &after),
        ] {
            let h = &w.latency;
            println!(
                "{:<24} {:>8.1} {:>7} {:>8.0} {:>8.2} {:>8.2} {:>8.2} {:>7}",
                name,
                w.took.as_secs_f64(),
                h.len(),
                h.len() as f64 / w.took.as_secs_f64(),
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.99)),
                ms(h.max()),
                w.errors
            );
        }
        let seconds = build.as_secs_f64();
        println!(
            "\nmigrate (the index build) took {seconds:.1} s for {rows} rows: {:.1} s per million \
             rows; {} writes completed meanwhile, the slowest in {:.0} ms",
            seconds * 1_000_000.0 / rows as f64,
            during.latency.len(),
            ms(during.latency.max())
        );
        store.close().await;
        pool.close().await;
        db.drop_database()
            .await
            .expect("dropping the scratch database");
    });
}
