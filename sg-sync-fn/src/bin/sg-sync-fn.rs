//! The sync Lambda: SNS notifications, the backstop schedule and direct invokes.

use aws_config::BehaviorVersion;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use sg_sync::ec2::Ec2Client;
use sg_sync::publication::Fetcher;
use sg_sync::{Config, Syncer, invocation};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // JSON lines when the function's log format is JSON (AWS_LAMBDA_LOG_FORMAT), at
    // AWS_LAMBDA_LOG_LEVEL; each line written during an invocation carries its requestId.
    // Lambda sets both variables for a custom runtime from the function's logging config:
    // https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html
    lambda_runtime::tracing::init_default_subscriber();
    // Built once per execution environment and reused by every invocation.
    let config = Config::from_env()?;
    let metrics = sg_sync::config::metrics_from_env()?;
    let aws = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let syncer = Syncer::new(config, Ec2Client::new(&aws), Fetcher::new()?);
    let (syncer, metrics) = (&syncer, &metrics);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        invocation::handle_metered(syncer, metrics, event)
    }))
    .await
}
