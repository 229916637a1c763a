//! The ingest Lambda.

use std::sync::Arc;
use std::time::Duration;

use ingest::{Config, MetricsLayer, MySqlStore, handle_payload};
use lambda_runtime::layers::TracingLayer;
use lambda_runtime::{Error, LambdaEvent, Runtime, service_fn};
use serde_json::value::RawValue;

/// Lambda allows 500 ms between SIGTERM and SIGKILL when only internal extensions registered;
/// closing one idle connection takes a round trip.
/// https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html#runtimes-lifecycle-shutdown
const CLOSE_WITHIN: Duration = Duration::from_millis(300);

/// One invocation at a time, Lambda's model for a function outside Managed Instances
/// (docs/decisions/managed-instances-removed.md): one thread, the fastest start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // JSON lines when the function's log format is JSON (AWS_LAMBDA_LOG_FORMAT), at
    // AWS_LAMBDA_LOG_LEVEL; each line written during an invocation carries its requestId.
    // Lambda sets both variables for a custom runtime from the function's logging config:
    // https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html
    lambda_runtime::tracing::init_default_subscriber();
    serve(Config::from_env()?).await
}

async fn serve(config: Config) -> Result<(), Error> {
    // Once per execution environment, all before the first event: configuration, the AWS
    // configuration when the login needs it (a secret, an IAM token), the store with its
    // credentials, and its first connection. Each invocation borrows the store.
    let metrics = Config::metrics_from_env()?;
    let aws = if config.auth.needs_aws() {
        Some(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
    } else {
        None
    };
    let store = Arc::new(MySqlStore::new(config, aws.as_ref()).await?);
    // Lambda sends SIGTERM only to a runtime with a registered extension: this registers a
    // no-op one, and on SIGTERM closes the store's connections so the server frees their slots now,
    // not after wait_timeout (a deploy retires every environment at once).
    let closing = store.clone();
    let on_sigterm = lambda_runtime::spawn_graceful_shutdown_handler(move || async move {
        if tokio::time::timeout(CLOSE_WITHIN, closing.close())
            .await
            .is_err()
        {
            tracing::warn!("database connections not closed within the shutdown limit");
        }
    });
    // The first connection and the extension's registration both wait on the network (the
    // database, the Runtime API's extensions endpoint): side by side, the cold start waits for
    // the longer one only.
    tokio::join!(store.warm_up(), on_sigterm);
    // The payload unread: the handler reads an SQS batch straight into its records.
    let handler = service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        let store = store.clone();
        async move { handle_payload(&*store, event).await }
    });
    // What `lambda_runtime::run` builds (the handler in a span carrying the requestId), plus
    // each invocation's metrics line, written once its response is posted.
    Runtime::new(handler)
        .layer(MetricsLayer::new(metrics))
        .layer(TracingLayer::new())
        .run()
        .await
}
