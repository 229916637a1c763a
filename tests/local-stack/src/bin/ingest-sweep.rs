//! ingest-sweep: how ingest scales with concurrency and batch size on one database.
//!
//! For each N (`--environments`, default 1,2,4,8,16) it starts N ingest-fn environments
//! (separate processes, each behind its own Runtime API with its own connection, as Lambda
//! runs them) behind one local Invoke API, and for each batch size (`--batches`, default
//! 1,10,100) drives them with ingest-load's closed loop of N requests in flight. Each point
//! reports events/s, warm p50 and p99, and what the machine's CPU, the database's commit
//! fsyncs and connections did, and names what bounded it. Writes `sweep.json` and `sweep.png`
//! into `--out`.
//!
//!     cargo build --release --bin ingest-fn --bin migrate
//!     cargo build -p local-stack --bin ingest-sweep
//!     target/debug/ingest-sweep --function target/release/ingest-fn
//!
//! The database is `DATABASE_URL`'s server, else a container through testcontainers; the
//! sweep works in a database of its own and drops it at the end.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use ingest::batch::MAX_ITEMS;
use lambda_harness::scratch::ScratchDatabase;
use load::cost::Delivery;
use load::events::{Envelope, Events, Ids};
use load::flags::{MAX_ENVIRONMENTS, MAX_SECONDS, MIN_SECONDS, within};
use local_stack::capacity::{self, LocalFunction, Point};
use sqlx::ConnectOptions;
use sqlx::mysql::MySqlConnectOptions;

#[derive(Parser)]
#[command(
    name = "ingest-sweep",
    about = "Throughput and latency of ingest-fn against N environments and batch sizes"
)]
struct Args {
    /// The ingest-fn binary each environment runs (default: the one beside this binary).
    /// Build it with --release: a debug build measures the compiler, not the design.
    #[arg(long)]
    function: Option<PathBuf>,
    /// The numbers of environments, comma-separated (1 to 64 each).
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16",
          value_parser = within(1..=MAX_ENVIRONMENTS, "environments"))]
    environments: Vec<usize>,
    /// The events per request, comma-separated (1 to 1000 each).
    #[arg(long, value_delimiter = ',', default_value = "1,10,100",
          value_parser = within(1..=MAX_ITEMS, "events per request"))]
    batches: Vec<usize>,
    /// How the events reach the function: a direct invoke, a Function URL POST, an SQS batch.
    #[arg(long, value_enum, default_value_t = Envelope::Direct)]
    envelope: Envelope,
    /// Seconds measured per point.
    #[arg(long, default_value_t = 5.0, value_parser = within(MIN_SECONDS..=MAX_SECONDS, "seconds"))]
    duration: f64,
    /// Seconds of load before each point's measurement (cold starts, buffer pool).
    #[arg(long, default_value_t = 1.0, value_parser = within(0.0..=MAX_SECONDS, "seconds"))]
    warmup: f64,
    /// Where sweep.json and sweep.png go.
    #[arg(long, default_value = "ingest-sweep")]
    out: PathBuf,
}

/// What delivers the events, for the cost: with `--envelope sqs` one queue message per event,
/// as large as the sweep's events.
fn delivery(envelope: Envelope) -> Delivery {
    match envelope {
        Envelope::Direct | Envelope::FunctionUrl => Delivery::Lambda,
        Envelope::Sqs => {
            // A direct request of one event is that event's JSON, what a message's body holds.
            let (body, _) = Events::with_ids(Ids::Run).next_request(1);
            Delivery::Sqs {
                message_bytes: body.len() as u64,
            }
        }
    }
}

async fn sweep(args: &Args, function: &str, scratch: &ScratchDatabase) -> Result<Vec<Point>> {
    let mut db = MySqlConnectOptions::from_str(&scratch.url)?
        .connect()
        .await
        .context("connecting for the server's counters")?;
    let database = capacity::database_pid(&mut db).await;
    if database.is_none() {
        eprintln!("the database server's CPU is not measured: its pid file is not readable here");
    }
    let mut points = Vec::new();
    for &n in &args.environments {
        let local = LocalFunction::start(function, n, &scratch.url, database).await;
        for &batch in &args.batches {
            let p = local
                .measure(
                    batch,
                    || Events::with_ids(Ids::Run).in_envelope(args.envelope),
                    delivery(args.envelope),
                    Duration::from_secs_f64(args.warmup),
                    Duration::from_secs_f64(args.duration),
                    &mut db,
                )
                .await?;
            println!(
                "{:>3} environments  batch {:>3}  {:>8.0} events/s  p50 {:>7.3} ms  p99 {:>7.3} ms  \
                 billed {:>4.1} ms  ${:.4}/M events  errors {}  {}",
                p.environments,
                p.batch,
                p.events_per_s,
                p.p50_ms,
                p.p99_ms,
                p.billed_ms_per_request,
                p.cost_per_million_events.map_or(0.0, |c| c.total_usd),
                p.errors,
                p.bound
            );
            points.push(p);
        }
        local.shutdown().await;
    }
    Ok(points)
}

#[tokio::main]
async fn main() -> Result<()> {
    // Every number is in range already (the flags' value parsers).
    let args = Args::parse();
    let (bin, function) = lambda_harness::environments::ingest_fn_binary(args.function.clone())
        .map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("{}", args.out.display()))?;
    let scratch = ScratchDatabase::create(&bin.join("migrate"), "sweep").await?;
    let function = function.to_string_lossy().into_owned();
    let outcome = sweep(&args, &function, &scratch).await;
    scratch.drop_database().await?;
    let points = outcome?;
    let json = args.out.join("sweep.json");
    let report = serde_json::json!({
        "machine": {"cores": std::thread::available_parallelism().map_or(1, |c| c.get())},
        "function": function,
        "envelope": format!("{:?}", args.envelope),
        "duration_s": args.duration,
        "points": points,
    });
    std::fs::write(&json, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("{}", json.display()))?;
    let png = args.out.join("sweep.png");
    local_stack::plot::sweep(&points, &png.to_string_lossy()).map_err(anyhow::Error::msg)?;
    println!("written: {} and {}", json.display(), png.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use load::flags::check_refused;

    use super::*;

    fn parse(flags: &[&str]) -> Result<Args, String> {
        Args::try_parse_from([&["ingest-sweep"], flags].concat()).map_err(|e| e.to_string())
    }

    #[test]
    fn every_numeric_flag_is_range_checked() {
        let args = parse(&[]).unwrap();
        assert_eq!(
            (args.environments, args.batches, args.duration, args.warmup),
            (vec![1, 2, 4, 8, 16], vec![1, 10, 100], 5.0, 1.0)
        );
        let cases: &[(&str, &str, &str)] = &[
            ("--environments", "0", "environments from 1 to 64"),
            ("--environments", "65", "environments from 1 to 64"),
            ("--batches", "1001", "events per request from 1 to 1000"),
            ("--duration", "0", "seconds from 0.1 to 86400"),
            ("--warmup", "-1", "seconds from 0 to 86400"),
        ];
        for &(flag, bad, expected) in cases {
            check_refused(parse, flag, bad, expected).unwrap();
        }
        // One bad number in a list is named.
        let e = parse(&["--batches", "10,0,100"]).err().unwrap();
        assert!(e.contains("invalid value '0' for '--batches "), "{e}");
        assert!(parse(&["--warmup", "0", "--duration", "0.1"]).is_ok());
    }
}
