//! ingest-table-size: ingest throughput as the events table grows.
//!
//! For each kind of event id (time-ordered UUIDv7, what ingest-fn makes when a client sends no
//! key; random UUIDv4, what many devices send) it grows a table of its own to each size in
//! `--sizes` (default 0, 1 million, 10 million rows; seeded in bulk, not through the function)
//! and measures events/s through `--environments` ingest-fn environments sending batches of
//! 100 with ids of that kind. Prints a table, writes `table-size.json` into `--out`, and drops
//! its databases at the end.
//!
//!     cargo build --release --bin ingest-fn --bin migrate
//!     cargo build -p local-stack --bin ingest-table-size
//!     target/debug/ingest-table-size --function target/release/ingest-fn

use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use lambda_harness::scratch::ScratchDatabase;
use load::cost::Delivery;
use load::events::{Events, Ids};
use load::flags::{MAX_ENVIRONMENTS, MAX_SECONDS, MIN_SECONDS, within};
use local_stack::capacity::{self, LocalFunction, Point};
use local_stack::seed::seed;
use serde::Serialize;
use sqlx::ConnectOptions;
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};

#[derive(Parser)]
#[command(
    name = "ingest-table-size",
    about = "Ingest throughput at growing table sizes, with time-ordered and random event ids"
)]
struct Args {
    /// The ingest-fn binary each environment runs (default: the one beside this binary).
    #[arg(long)]
    function: Option<PathBuf>,
    /// Table sizes in rows, ascending, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0,1000000,10000000",
          value_parser = within(0..=MAX_ROWS, "rows"))]
    sizes: Vec<u64>,
    /// Environments (and requests in flight).
    #[arg(long, default_value_t = 4, value_parser = within(1..=MAX_ENVIRONMENTS, "environments"))]
    environments: usize,
    /// Seconds measured per point.
    #[arg(long, default_value_t = 10.0, value_parser = within(MIN_SECONDS..=MAX_SECONDS, "seconds"))]
    duration: f64,
    /// Seconds of load before each measurement.
    #[arg(long, default_value_t = 2.0, value_parser = within(0.0..=MAX_SECONDS, "seconds"))]
    warmup: f64,
    /// The kinds of ids, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "time-ordered,random")]
    ids: Vec<IdKind>,
    /// Where table-size.json goes.
    #[arg(long, default_value = "ingest-table-size")]
    out: PathBuf,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum IdKind {
    TimeOrdered,
    Random,
}

/// Events per request: the benchmark's fixed batch.
const BATCH: usize = 100;

/// The largest table seeded: a billion rows (about 55 GB of `event_id` index alone).
const MAX_ROWS: u64 = 1_000_000_000;

#[derive(Serialize)]
struct Row {
    ids: &'static str,
    rows: u64,
    seed_s: f64,
    /// The unique index on event_id after seeding, and the buffer pool it competes for.
    event_id_index_mb: f64,
    buffer_pool_mb: f64,
    /// events/s relative to the empty table with the same kind of ids.
    relative: f64,
    point: Point,
}

async fn index_mb(db: &mut MySqlConnection, database: &str) -> Result<f64> {
    // stat_value of size is in pages; ANALYZE TABLE refreshed it after seeding.
    let pages: Option<f64> = sqlx::query_scalar(
        "SELECT CAST(stat_value AS DOUBLE) FROM mysql.innodb_index_stats \
         WHERE database_name = ? AND table_name = 'events' AND index_name = 'event_id' \
         AND stat_name = 'size'",
    )
    .bind(database)
    .fetch_optional(&mut *db)
    .await?;
    let page: f64 = sqlx::query_scalar("SELECT CAST(@@innodb_page_size AS DOUBLE)")
        .fetch_one(&mut *db)
        .await?;
    Ok(pages.unwrap_or(0.0) * page / 1048576.0)
}

async fn one_kind(
    args: &Args,
    function: &str,
    migrate: &std::path::Path,
    ids: Ids,
) -> Result<Vec<Row>> {
    let name = match ids {
        Ids::Random => "random-uuidv4",
        _ => "time-ordered-uuidv7",
    };
    let scratch = ScratchDatabase::create(migrate, "tablesize").await?;
    let outcome = async {
        let mut db = MySqlConnectOptions::from_str(&scratch.url)?.connect().await?;
        let database = capacity::database_pid(&mut db).await;
        let buffer_pool_mb: f64 =
            sqlx::query_scalar("SELECT CAST(@@innodb_buffer_pool_size AS DOUBLE) / 1048576")
                .fetch_one(&mut db)
                .await?;
        let mut rows: Vec<Row> = Vec::new();
        let mut seeded = 0;
        for &size in &args.sizes {
            let began = Instant::now();
            seed(&mut db, ids, seeded, size).await?;
            seeded = size;
            let seed_s = began.elapsed().as_secs_f64();
            let event_id_index_mb = index_mb(&mut db, &scratch.name).await?;
            let local =
                LocalFunction::start(function, args.environments, &scratch.url, database).await;
            let point = local
                .measure(
                    BATCH,
                    || Events::with_ids(ids),
                    Delivery::Lambda,
                    Duration::from_secs_f64(args.warmup),
                    Duration::from_secs_f64(args.duration),
                    &mut db,
                )
                .await?;
            local.shutdown().await;
            let first = rows.first().map_or(point.events_per_s, |r| r.point.events_per_s);
            let row = Row {
                ids: name,
                rows: size,
                seed_s,
                event_id_index_mb,
                buffer_pool_mb,
                relative: point.events_per_s / first,
                point,
            };
            println!(
                "{:<20} {:>10} rows  {:>8.0} events/s  {:>5.0} %  p99 {:>7.2} ms  index {:>6.0} MB / pool {:.0} MB  seeded in {:.0} s",
                row.ids,
                row.rows,
                row.point.events_per_s,
                row.relative * 100.0,
                row.point.p99_ms,
                row.event_id_index_mb,
                row.buffer_pool_mb,
                row.seed_s
            );
            rows.push(row);
        }
        anyhow::Ok(rows)
    }
    .await;
    scratch.drop_database().await?;
    outcome
}

#[tokio::main]
async fn main() -> Result<()> {
    // Every number is in range already (the flags' value parsers); the order is checked here.
    let args = Args::parse();
    if args.sizes.windows(2).any(|w| w[0] > w[1]) {
        bail!("--sizes {:?}: expected ascending row counts", args.sizes);
    }
    let (bin, function) = lambda_harness::environments::ingest_fn_binary(args.function.clone())
        .map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("{}", args.out.display()))?;
    let function = function.to_string_lossy().into_owned();
    let mut rows = Vec::new();
    for kind in &args.ids {
        let ids = match kind {
            IdKind::TimeOrdered => Ids::TimeOrdered,
            IdKind::Random => Ids::Random,
        };
        rows.extend(one_kind(&args, &function, &bin.join("migrate"), ids).await?);
    }
    let json = args.out.join("table-size.json");
    let report =
        serde_json::json!({"batch": BATCH, "environments": args.environments, "rows": rows});
    std::fs::write(&json, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("{}", json.display()))?;
    println!("written: {}", json.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use load::flags::check_refused;

    use super::*;

    fn parse(flags: &[&str]) -> Result<Args, String> {
        Args::try_parse_from([&["ingest-table-size"], flags].concat()).map_err(|e| e.to_string())
    }

    // `--duration 0` measured nothing and divided by it; every numeric flag is now refused
    // outside its range, naming the flag, the value and the range.
    #[test]
    fn every_numeric_flag_is_range_checked() {
        let args = parse(&[]).unwrap();
        assert_eq!(
            (args.sizes, args.environments, args.duration, args.warmup),
            (vec![0, 1_000_000, 10_000_000], 4, 10.0, 2.0)
        );
        let cases: &[(&str, &str, &str)] = &[
            ("--duration", "0", "seconds from 0.1 to 86400"),
            ("--duration", "-5", "seconds from 0.1 to 86400"),
            ("--warmup", "-0.5", "seconds from 0 to 86400"),
            ("--environments", "0", "environments from 1 to 64"),
            ("--sizes", "-1", "rows from 0 to 1000000000"),
            ("--sizes", "1000000001", "rows from 0 to 1000000000"),
        ];
        for &(flag, bad, expected) in cases {
            check_refused(parse, flag, bad, expected).unwrap();
        }
        assert!(parse(&["--duration", "0.1", "--warmup", "0", "--sizes", "0,10"]).is_ok());
    }
}
