//! ingest-load: load-tests ingest-fn, deployed or local, and reports latency cold and warm,
//! throughput, errors and (with --verify or --verify-function) whether every acknowledged
//! event was stored once.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use contract::MAX_ITEMS;
use indicatif::{ProgressBar, ProgressStyle};
use load::cost::{self, Cost};
use load::endpoint::{Endpoint, lambda_client};
use load::events::Events;
use load::flags::{MAX_SECONDS, MIN_SECONDS, within};
use load::run::{Latency, Limits, Results, Shape, run};
use load::verify::{DEFAULT_LISTED, Verification, VerifyRequest};
use serde_json::json;

/// More requests in flight than ten times Lambda's default account concurrency (1,000) measure
/// throttling, not the function.
const MAX_CONCURRENCY: usize = 10_000;
/// An open loop's rate: from one request in about 17 minutes to what one machine can schedule.
const MIN_RATE: f64 = 0.001;
const MAX_RATE: f64 = 100_000.0;
const MAX_REQUESTS: u64 = 1_000_000_000;
/// Lambda's longest timeout (900 s): no invocation's latency can exceed it.
const MAX_P99_MS: f64 = 900_000.0;

#[derive(Parser)]
#[command(
    name = "ingest-load",
    version,
    about = "Load-test ingest-fn and verify what it stored"
)]
struct Args {
    /// Invoke this function through the Lambda Invoke API.
    #[arg(long, conflicts_with = "url")]
    function: Option<String>,
    /// The Invoke API's address for --function and --verify-function, e.g.
    /// http://127.0.0.1:9000 for `cargo lambda watch`.
    #[arg(long)]
    endpoint: Option<String>,
    /// POST to this Function URL instead, SigV4-signed with the default credentials (IAM auth).
    #[arg(long)]
    url: Option<String>,
    /// Send --url requests unsigned (a Function URL with AuthType NONE).
    #[arg(long, requires = "url")]
    unsigned: bool,
    /// Closed loop: this many requests in flight.
    #[arg(long, conflicts_with = "rate", value_parser = within(1..=MAX_CONCURRENCY, "requests in flight"))]
    concurrency: Option<usize>,
    /// Open loop: this many requests per second, latencies from each request's intended start.
    #[arg(long, value_parser = within(MIN_RATE..=MAX_RATE, "requests per second"))]
    rate: Option<f64>,
    /// Stop after this many seconds.
    #[arg(long, value_parser = within(MIN_SECONDS..=MAX_SECONDS, "seconds"))]
    duration: Option<f64>,
    /// Stop after this many requests.
    #[arg(long, value_parser = within(1..=MAX_REQUESTS, "requests"))]
    requests: Option<u64>,
    /// Events per request (1 sends an object, more an array).
    #[arg(long, default_value_t = 1, value_parser = within(1..=MAX_ITEMS, "events per request"))]
    batch: usize,
    /// Event templates: a JSON array or JSON lines; each sent event gets a unique event_id.
    #[arg(long)]
    events: Option<String>,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<String>,
    /// Draw latency over time and the latency distribution into this .svg or .png file.
    #[arg(long)]
    plot: Option<String>,
    /// Exit non-zero if the warm p99 client latency exceeds this many milliseconds.
    #[arg(long, value_parser = within(0.001..=MAX_P99_MS, "milliseconds"))]
    max_p99: Option<f64>,
    /// Exit non-zero if the share of failed requests exceeds this (0 to 1).
    #[arg(long, value_parser = within(0.0..=1.0, "a share of requests"))]
    max_error_rate: Option<f64>,
    /// After the run, check every acknowledged event is in this database exactly once.
    #[arg(long, value_name = "DATABASE_URL", conflicts_with = "verify_function")]
    verify: Option<String>,
    /// After the run, ask this function (the stack's migrate: output MigrateFunctionName),
    /// which reaches the database, whether every acknowledged event is stored exactly once.
    /// Needs lambda:InvokeFunction on it.
    #[arg(long, value_name = "NAME")]
    verify_function: Option<String>,
    /// The function's architecture, for the cost estimate from billed durations.
    #[arg(long, value_enum, default_value_t = Architecture::Arm64)]
    architecture: Architecture,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Architecture {
    Arm64,
    #[value(name = "x86_64")]
    X86_64,
}

/// The cost of a million events at the billed durations of the run, when its REPORT lines
/// gave them. ingest-load invokes the function or POSTs to its URL: no queue in between.
fn cost(r: &Results, architecture: Architecture) -> Option<Cost> {
    let price = match architecture {
        Architecture::Arm64 => cost::USD_PER_GB_SECOND_ARM64,
        Architecture::X86_64 => cost::USD_PER_GB_SECOND_X86_64,
    };
    cost::per_million_events(
        r.events,
        r.requests,
        r.billed_ms,
        r.memory_size_mb,
        price,
        cost::Delivery::Lambda,
    )
}

fn print_table(r: &Results, cost: Option<Cost>) {
    let secs = r.elapsed.as_secs_f64();
    println!(
        "requests {}  events {}  errors {}  in {:.2} s",
        r.requests,
        r.events,
        r.error_count(),
        secs
    );
    for (kind, n) in &r.errors {
        println!("  error {kind}: {n}");
    }
    println!(
        "throughput {:.0} requests/s, {:.0} events/s",
        r.requests as f64 / secs,
        r.events as f64 / secs
    );
    println!(
        "{:<26} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "latency (ms)", "n", "p50", "p90", "p99", "p99.9", "max"
    );
    for (name, h) in [
        ("client, warm", &r.warm),
        ("client, cold", &r.cold),
        ("function Duration", &r.function),
        ("function Init Duration", &r.init),
    ] {
        if h.is_empty() {
            continue;
        }
        let l = Latency::of(h);
        println!(
            "{name:<26} {:>7} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
            l.count, l.p50, l.p90, l.p99, l.p999, l.max
        );
    }
    if r.max_memory_mb > 0.0 {
        println!("function Max Memory Used {:.0} MB", r.max_memory_mb);
    }
    if let Some(c) = cost {
        println!(
            "cost per million events ${:.4}: requests ${:.4} + duration ${:.4} at {:.0} MB \
             (Lambda, Tokyo prices)",
            c.total_usd, c.requests_usd, c.duration_usd, r.memory_size_mb
        );
    }
}

/// The live progress bar: position in requests or seconds, the rate over the last tick, the
/// warm p99 so far and the errors. Drawn only on a terminal.
struct Progress {
    bar: ProgressBar,
    by_requests: bool,
    last: std::cell::Cell<(u64, f64)>,
}

impl Progress {
    fn new(limits: &Limits) -> Progress {
        let (len, by_requests, unit) = match (limits.requests, limits.duration) {
            (Some(n), _) => (n, true, "requests"),
            (None, Some(d)) => (d.as_millis() as u64, false, "ms"),
            (None, None) => (0, true, "requests"),
        };
        let bar = ProgressBar::new(len);
        let template = format!(
            "{{elapsed_precise}} [{{bar:32.cyan/blue}}] {{human_pos}}/{{human_len}} {unit}  {{msg}}"
        );
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress {
            bar,
            by_requests,
            last: (0, 0.0).into(),
        }
    }

    fn update(&self, r: &Results, t: Duration) {
        let (requests, seconds) = self.last.get();
        let window = t.as_secs_f64() - seconds;
        let rate = if window > 0.0 {
            (r.requests - requests) as f64 / window
        } else {
            0.0
        };
        self.last.set((r.requests, t.as_secs_f64()));
        self.bar.set_position(if self.by_requests {
            r.requests
        } else {
            t.as_millis() as u64
        });
        self.bar.set_message(format!(
            "{rate:>7.0} req/s  p99 {:>7.3} ms  errors {}",
            Latency::of(&r.warm).p99,
            r.error_count()
        ));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The load's shape and when to stop, from the flags.
fn plan(args: &Args) -> Result<(Shape, Limits)> {
    // The numbers are in range already (their value parsers).
    let shape = match (args.concurrency, args.rate) {
        (Some(c), None) => Shape::Closed { concurrency: c },
        (None, Some(r)) => Shape::Open { rate: r },
        (None, None) => Shape::Closed { concurrency: 1 },
        (Some(_), Some(_)) => unreachable!("clap rejects --concurrency with --rate"),
    };
    if args.endpoint.is_some() && args.function.is_none() && args.verify_function.is_none() {
        bail!("--endpoint is the Invoke API of --function or --verify-function: name one");
    }
    let limits = Limits {
        requests: args.requests,
        duration: args.duration.map(Duration::from_secs_f64),
    };
    if limits.requests.is_none() && limits.duration.is_none() {
        bail!("say when to stop: --requests N or --duration SECONDS");
    }
    Ok((shape, limits))
}

/// `--verify` or `--verify-function`: every acknowledged event of run `run_id` stored exactly
/// once.
async fn verified(args: &Args, run_id: &str, results: &Results) -> Result<Option<Verification>> {
    if args.verify.is_none() && args.verify_function.is_none() {
        return Ok(None);
    }
    let request = VerifyRequest::for_ids(run_id, &results.acked, DEFAULT_LISTED)
        .context("the acknowledged events")?;
    let v = match (&args.verify, &args.verify_function) {
        (Some(url), _) => load::verify::database(url, &request)
            .await
            .context("--verify: reading the events table")?,
        (None, Some(function)) => {
            let client =
                lambda_client(args.endpoint.as_deref(), load::verify::INVOKE_TIMEOUT).await;
            load::verify::function(&client, function, &request)
                .await
                .context("--verify-function")?
        }
        (None, None) => return Ok(None),
    };
    println!("{}", load::verify::summary(&v));
    Ok(Some(v))
}

fn error_rate(results: &Results) -> f64 {
    if results.requests == 0 {
        0.0
    } else {
        results.error_count() as f64 / results.requests as f64
    }
}

/// The thresholds (`--max-p99`, `--max-error-rate`, `--verify`) the run failed.
fn failed_thresholds(
    args: &Args,
    results: &Results,
    verification: Option<&Verification>,
) -> Vec<String> {
    let warm = Latency::of(&results.warm);
    let error_rate = error_rate(results);
    let mut failures = Vec::new();
    if let Some(max) = args.max_p99
        && warm.p99 > max
    {
        failures.push(format!("warm p99 {:.3} ms > --max-p99 {max}", warm.p99));
    }
    if let Some(max) = args.max_error_rate
        && error_rate > max
    {
        failures.push(format!(
            "error rate {error_rate:.4} > --max-error-rate {max}"
        ));
    }
    if let Some(v) = verification
        && !v.passed()
    {
        failures.push(format!(
            "{} events missing, {} doubled",
            v.missing, v.doubled
        ));
    }
    failures
}

/// `--json`: the whole run as one document.
fn write_json(
    path: &str,
    results: &Results,
    cost: Option<Cost>,
    verification: Option<&Verification>,
    failures: &[String],
) -> Result<()> {
    let elapsed = results.elapsed.as_secs_f64();
    let report = json!({
        "requests": results.requests,
        "events": results.events,
        "errors": results.errors,
        "error_rate": error_rate(results),
        "elapsed_s": elapsed,
        "throughput": {"requests_per_s": results.requests as f64 / elapsed,
                       "events_per_s": results.events as f64 / elapsed},
        "latency_ms": {"client_warm": Latency::of(&results.warm), "client_cold": Latency::of(&results.cold),
                       "function_duration": Latency::of(&results.function), "function_init": Latency::of(&results.init)},
        "max_memory_mb": results.max_memory_mb,
        "cost_per_million_events_usd": cost,
        "verify": verification,
        "failed_thresholds": failures,
    });
    std::fs::write(path, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("--json {path}"))?;
    println!("results written to {path}");
    Ok(())
}

async fn main_result() -> Result<bool> {
    let args = Args::parse();
    let (shape, limits) = plan(&args)?;
    let events = match &args.events {
        Some(path) => Events::from_file(path)?,
        None => Events::generated(),
    };
    let run_id = events.run_id().to_owned();
    let endpoint = match (&args.function, &args.url) {
        (Some(f), None) => Endpoint::lambda(f, args.endpoint.as_deref()).await,
        (None, Some(u)) => Endpoint::url(u, !args.unsigned).await?,
        _ => bail!("name the endpoint under load: --function NAME [--endpoint URL] or --url URL"),
    };
    endpoint
        .probe()
        .await
        .context("the endpoint does not answer")?;
    let progress = Progress::new(&limits);
    let results = run(endpoint, events, shape, limits, args.batch, |r, t| {
        progress.update(r, t)
    })
    .await?;
    progress.finish();
    let cost = cost(&results, args.architecture);
    print_table(&results, cost);
    let verification = verified(&args, &run_id, &results).await?;
    let failures = failed_thresholds(&args, &results, verification.as_ref());
    if let Some(path) = &args.json {
        write_json(path, &results, cost, verification.as_ref(), &failures)?;
    }
    if let Some(path) = &args.plot {
        load::plot::plot(&results, path).map_err(anyhow::Error::msg)?;
        println!("plot written to {path}");
    }
    for f in &failures {
        eprintln!("threshold failed: {f}");
    }
    Ok(failures.is_empty())
}

#[tokio::main]
async fn main() -> ExitCode {
    match main_result().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("ingest-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use load::flags::check_refused;

    use super::*;

    fn parse(flags: &[&str]) -> Result<Args, String> {
        Args::try_parse_from([&["ingest-load", "--function", "f"], flags].concat())
            .map_err(|e| e.to_string())
    }

    // Every numeric flag refuses a value outside its range, naming the flag, the value and the
    // range; the bounds themselves are accepted.
    #[test]
    fn every_numeric_flag_is_range_checked() {
        let cases: &[(&str, &str, &str, &str)] = &[
            (
                "--concurrency",
                "0",
                "10000",
                "requests in flight from 1 to 10000",
            ),
            (
                "--rate",
                "0",
                "100000",
                "requests per second from 0.001 to 100000",
            ),
            ("--duration", "0", "86400", "seconds from 0.1 to 86400"),
            (
                "--requests",
                "0",
                "1000000000",
                "requests from 1 to 1000000000",
            ),
            (
                "--batch",
                "1001",
                "1000",
                "events per request from 1 to 1000",
            ),
            (
                "--max-p99",
                "0",
                "900000",
                "milliseconds from 0.001 to 900000",
            ),
            (
                "--max-error-rate",
                "1.5",
                "1",
                "a share of requests from 0 to 1",
            ),
        ];
        for &(flag, bad, edge, expected) in cases {
            check_refused(parse, flag, bad, expected).unwrap();
            assert!(parse(&[flag, edge]).is_ok(), "{flag} {edge}");
        }
        for bad in ["-1", "NaN", "inf"] {
            assert!(
                parse(&[&format!("--duration={bad}")]).is_err(),
                "--duration {bad}"
            );
        }
    }

    #[test]
    fn the_plan_follows_the_flags() {
        let args = parse(&["--rate", "2.5", "--duration", "0.5"]).unwrap();
        let (shape, limits) = plan(&args).unwrap();
        assert!(matches!(shape, Shape::Open { rate } if rate == 2.5));
        assert_eq!(limits.duration, Some(Duration::from_millis(500)));
        let args = parse(&["--concurrency", "4", "--requests", "10"]).unwrap();
        let (shape, limits) = plan(&args).unwrap();
        assert!(matches!(shape, Shape::Closed { concurrency: 4 }));
        assert_eq!(limits.requests, Some(10));
        let e = plan(&parse(&[]).unwrap()).err().unwrap();
        assert!(e.to_string().contains("say when to stop"), "{e}");
    }
}
