//! A run as the function and the command start it: the cutoff from the clock, the time budget
//! from the deadline, a connection of its own, [`crate::run::run`], and for the function the
//! response and the metrics line.

use std::time::{Duration, SystemTime};

use chrono::Utc;
use ingest::config::ConfigError;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use tokio::time::Instant;

use crate::chunk::cutoff;
use crate::config::{JobSettings, Settings};
use crate::run::{self, Failed, Plan, Report};
use crate::s3::S3Archive;
use crate::table::MySqlTable;

/// The settings and the clients, built once per execution environment.
pub struct Job {
    database: ingest::Config,
    settings: JobSettings,
    archive: Option<S3Archive>,
    /// The AWS SDK's settings, for a login with a secret or an IAM token ([`Job::with_aws`]).
    aws: Option<aws_config::SdkConfig>,
}

/// What one run is asked.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request {
    /// Count what would go; change nothing.
    pub dry_run: bool,
    /// Lambda's deadline for the invocation: the run stops starting chunks the settings' margin
    /// before it.
    pub deadline: Option<SystemTime>,
}

impl Job {
    pub fn new(database: ingest::Config, settings: JobSettings, archive: Option<S3Archive>) -> Job {
        Job {
            database,
            settings,
            archive,
            aws: None,
        }
    }

    /// Logs in with a secret or an IAM token through `aws` (the database's settings name which).
    pub fn with_aws(self, aws: Option<aws_config::SdkConfig>) -> Job {
        Job { aws, ..self }
    }

    /// From the environment ([`Settings`]); the AWS SDK's settings (region, credentials) loaded
    /// once when the login or the archive (`ARCHIVE_BUCKET`) needs them.
    pub async fn from_env() -> Result<Job, ConfigError> {
        let Settings { database, job } = Settings::from_env()?;
        let aws = aws_settings(database.auth.needs_aws() || job.archive.is_some()).await;
        let archive = match (&job.archive, &aws) {
            (Some(a), Some(sdk)) => Some(archive_client(&a.bucket, sdk)?),
            _ => None,
        };
        Ok(Job::new(database, job, archive).with_aws(aws))
    }

    pub fn settings(&self) -> &JobSettings {
        &self.settings
    }

    /// When the run must stop starting chunks: the time budget, and the deadline less the
    /// margin, whichever comes first.
    fn stop_at(&self, deadline: Option<SystemTime>) -> Option<Instant> {
        let now = Instant::now();
        let budget = self.settings.time_budget.map(|b| now + b);
        let deadline = deadline.map(|d| {
            let left = d
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            now + left.saturating_sub(self.settings.deadline_margin)
        });
        match (budget, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// One run now.
    pub async fn run(&self, request: Request) -> Result<Report, Failed> {
        let plan = Plan {
            cutoff: cutoff(Utc::now(), self.settings.retention_days),
            chunk_size: self.settings.chunk_size,
            pause: self.settings.pause,
            dry_run: request.dry_run,
            stop_at: self.stop_at(request.deadline),
            archive_prefix: self
                .settings
                .archive
                .as_ref()
                .map(|a| a.prefix.clone())
                .unwrap_or_default(),
        };
        let mut table = MySqlTable::connect(&self.database, self.aws.as_ref())
            .await
            .map_err(|error| Failed {
                report: Report {
                    cutoff: plan.cutoff,
                    dry_run: plan.dry_run,
                    ..Report::default()
                },
                error,
            })?;
        let archive = self.archive.as_ref().filter(|_| !request.dry_run);
        let result = run::run(&mut table, archive, &plan).await;
        table.close().await;
        result
    }
}

/// The AWS SDK's settings from the environment, when `needed`.
pub async fn aws_settings(needed: bool) -> Option<aws_config::SdkConfig> {
    match needed {
        true => Some(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await),
        false => None,
    }
}

/// The archive bucket's client, with the AWS SDK's region and credentials and the endpoint the
/// environment names.
pub fn archive_client(bucket: &str, sdk: &aws_config::SdkConfig) -> Result<S3Archive, ConfigError> {
    S3Archive::from_sdk(bucket.to_owned(), sdk, |k| std::env::var(k).ok())
}

/// The function's handler: an EventBridge schedule's event (whose content does not matter), or
/// `{"dry_run": true}` from someone invoking it by hand. The report is the response; its metrics
/// go to the invocation's line ([`emf::lambda`]), a failed run's too, with what it did.
pub async fn handle(job: &Job, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let dry_run = match event.payload.get("dry_run") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(Diagnostic {
                error_type: "InvalidRequest".into(),
                error_message: format!("dry_run: {other} is not true or false"),
            });
        }
    };
    let request = Request {
        dry_run,
        deadline: Some(event.context.deadline()),
    };
    match job.run(request).await {
        Ok(report) => {
            emf::lambda::record(report.metrics());
            tracing::info!(
                expired = report.expired,
                archived = report.archived,
                chunks = report.chunks,
                stopped_by_budget = report.stopped_by_budget,
                dry_run,
                "run done"
            );
            serde_json::to_value(&report).map_err(|e| Diagnostic {
                error_type: "Response".into(),
                error_message: e.to_string(),
            })
        }
        Err(Failed { report, error }) => {
            emf::lambda::record(report.metrics());
            tracing::error!(
                expired = report.expired,
                archived = report.archived,
                retry_helps = error.retry_helps(),
                error = %error,
                "run stopped"
            );
            Err(error.into())
        }
    }
}
