//! `ingest-expire`: the retention job. A Lambda function when Lambda runs it
//! (`AWS_LAMBDA_RUNTIME_API` is set; an EventBridge schedule invokes it); otherwise a command
//! against `DATABASE_URL`:
//!
//!     ingest-expire --older-than-days 30 [--dry-run]
//!     ingest-expire restore events-….jsonl.gz
//!
//! The command prints its report as JSON on stdout; errors go to stderr.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, CommandFactory, Parser, Subcommand};
use emf::lambda::MetricsLayer;
use expire::config::{self, ArchiveSettings, JobSettings};
use expire::{Failed, Job, Request, archive, job, restore, s3};
use lambda_runtime::layers::TracingLayer;
use lambda_runtime::tracing::subscriber::fmt::writer::MakeWriterExt;
use lambda_runtime::{LambdaEvent, Runtime, service_fn};
use serde_json::Value;

#[derive(Parser)]
#[command(
    name = "ingest-expire",
    version,
    about = "Delete events older than N days in bounded chunks, archiving each to S3 first if asked",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    expire: Expire,
}

#[derive(Subcommand)]
enum Command {
    /// Load an archive object back into the events table (INSERT IGNORE, original ids). The
    /// account needs INSERT; rows older than the retention go again on the next run.
    Restore {
        /// An archive object (gzip-compressed JSON Lines), as downloaded from the bucket.
        file: PathBuf,
    },
}

/// Each flag but the first two is backed by the function's environment variable of the same
/// meaning, parsed by the same function.
#[derive(Args)]
struct Expire {
    /// Delete events received before the start of the UTC day N days ago (1 to 36500).
    #[arg(long, value_name = "N", value_parser = |v: &str| config::whole_number(v, config::DAYS))]
    older_than_days: Option<u32>,
    /// Count what would be deleted; delete and archive nothing.
    #[arg(long)]
    dry_run: bool,
    /// Ids per chunk, 10 to 100000 [default: 1000].
    #[arg(long, env = "EXPIRE_CHUNK_SIZE", value_parser = |v: &str| config::whole_number(v, config::CHUNK_SIZE))]
    chunk_size: Option<u64>,
    /// Pause between chunks in ms, 0 to 60000 [default: 100].
    #[arg(long, env = "EXPIRE_PAUSE_MS", value_parser = |v: &str| config::whole_number(v, config::PAUSE_MS))]
    pause_ms: Option<u64>,
    /// Stop starting chunks after this many seconds [default: no limit].
    #[arg(long, env = "EXPIRE_TIME_BUDGET_SECONDS", value_parser = |v: &str| config::whole_number(v, config::BUDGET_SECONDS))]
    time_budget_seconds: Option<u64>,
    /// Archive each chunk to this S3 bucket before deleting it.
    #[arg(long, env = "ARCHIVE_BUCKET", value_parser = s3::bucket)]
    archive_bucket: Option<String>,
    /// The archive's key prefix [default: events/].
    #[arg(long, env = "ARCHIVE_PREFIX", value_parser = archive::prefix)]
    archive_prefix: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return match lambda().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ingest-expire: {e}");
                ExitCode::FAILURE
            }
        };
    }
    // Warnings on stderr unless RUST_LOG asks for more: stdout is the command's output.
    if std::env::var_os("RUST_LOG").is_some() {
        lambda_runtime::tracing::init_default_subscriber_with_writer(std::io::stderr);
    } else {
        let warnings = std::io::stderr.with_max_level(tracing::Level::WARN);
        lambda_runtime::tracing::init_default_subscriber_with_writer(warnings);
    }
    match command(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            // Display with causes, not Debug: the message names the setting or the input.
            eprintln!("ingest-expire: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The function: settings and the archive's client once per execution environment, a run per
/// invocation, its metrics line written after the response is posted.
async fn lambda() -> Result<(), lambda_runtime::Error> {
    // JSON lines at AWS_LAMBDA_LOG_LEVEL when the function's log format is JSON, as Lambda sets
    // them for a custom runtime:
    // https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html
    lambda_runtime::tracing::init_default_subscriber();
    let job = Arc::new(Job::from_env().await?);
    let metrics = ingest::Config::metrics_from_env()?;
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let job = job.clone();
        async move { job::handle(&job, event).await }
    });
    Runtime::new(handler)
        .layer(MetricsLayer::new(metrics))
        .layer(TracingLayer::new())
        .run()
        .await
}

async fn command(cli: Cli) -> Result<ExitCode> {
    let database = || ingest::Config::from_env().context("the database (DATABASE_URL)");
    if let Some(Command::Restore { file }) = cli.command {
        let database = database()?;
        let open =
            std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
        let rows = archive::decode(open).with_context(|| format!("reading {}", file.display()))?;
        let aws = job::aws_settings(database.auth.needs_aws()).await;
        let mut table = expire::table::MySqlTable::connect(&database, aws.as_ref()).await?;
        let restored = restore::restore(&mut table, &rows).await;
        table.close().await;
        let restored = restored.with_context(|| format!("restoring {}", file.display()))?;
        println!("{}", serde_json::to_string_pretty(&restored)?);
        return Ok(ExitCode::SUCCESS);
    }
    let e = cli.expire;
    let Some(retention_days) = e.older_than_days else {
        Cli::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "--older-than-days N is required (or the restore command)",
            )
            .exit();
    };
    let database = database()?;
    let archive = e.archive_bucket.map(|bucket| ArchiveSettings {
        bucket,
        prefix: e
            .archive_prefix
            .unwrap_or_else(|| config::DEFAULT_PREFIX.into()),
    });
    let archive_to = archive.as_ref().filter(|_| !e.dry_run);
    let aws = job::aws_settings(database.auth.needs_aws() || archive_to.is_some()).await;
    let client = match (archive_to, &aws) {
        (Some(a), Some(sdk)) => Some(job::archive_client(&a.bucket, sdk)?),
        _ => None,
    };
    let settings = JobSettings {
        retention_days,
        archive,
        chunk_size: e.chunk_size.unwrap_or(config::DEFAULT_CHUNK_SIZE),
        pause: Duration::from_millis(e.pause_ms.unwrap_or(config::DEFAULT_PAUSE_MS)),
        deadline_margin: Duration::ZERO,
        time_budget: e.time_budget_seconds.map(Duration::from_secs),
    };
    let job = Job::new(database, settings, client).with_aws(aws);
    let request = Request {
        dry_run: e.dry_run,
        deadline: None,
    };
    match job.run(request).await {
        Ok(report) => {
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(Failed { report, error }) => {
            // What was done stands: the report says how far the run got.
            println!("{}", serde_json::to_string_pretty(&report)?);
            eprintln!("ingest-expire: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}
