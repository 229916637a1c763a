//! The sync Lambda: SNS notifications, the backstop schedule and direct invokes.

use std::sync::Arc;

use aws_config::BehaviorVersion;
use emf::lambda::MetricsLayer;
use lambda_runtime::layers::TracingLayer;
use lambda_runtime::{Error, LambdaEvent, Runtime, service_fn};
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
    let syncer = Arc::new(Syncer::new(config, Ec2Client::new(&aws), Fetcher::new()?));
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let syncer = syncer.clone();
        async move { invocation::handle_metered(&syncer, event).await }
    });
    // What `lambda_runtime::run` builds (the handler in a span carrying the requestId), plus
    // each invocation's metrics line, written once its response is posted and before the
    // runtime asks for the next event.
    Runtime::new(handler)
        .layer(MetricsLayer::new(metrics))
        .layer(TracingLayer::new())
        .run()
        .await
}
