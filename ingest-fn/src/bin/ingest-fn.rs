//! The ingest Lambda.

use std::sync::Arc;
use std::time::Duration;

use ingest::{Config, MySqlStore, handle_metered};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

/// Lambda allows 500 ms between SIGTERM and SIGKILL when only internal extensions registered;
/// closing one idle connection takes a round trip.
/// https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html#runtimes-lifecycle-shutdown
const CLOSE_WITHIN: Duration = Duration::from_millis(300);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // JSON lines when the function's log format is JSON (AWS_LAMBDA_LOG_FORMAT), at
    // AWS_LAMBDA_LOG_LEVEL; each line written during an invocation carries its requestId.
    // Lambda sets both variables for a custom runtime from the function's logging config:
    // https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html
    lambda_runtime::tracing::init_default_subscriber();
    // Once per execution environment: configuration, credentials, the pool and its first
    // connection, all before the first event.
    let metrics = Config::metrics_from_env()?;
    let store = Arc::new(MySqlStore::connect(Config::from_env()?).await?);
    store.warm_up().await;
    // Lambda sends SIGTERM only to a runtime with a registered extension: this registers a
    // no-op one, and on SIGTERM closes the pool so the server frees the connection slot now,
    // not after wait_timeout (a deploy retires every environment at once).
    let closing = store.clone();
    lambda_runtime::spawn_graceful_shutdown_handler(move || async move {
        if tokio::time::timeout(CLOSE_WITHIN, closing.close())
            .await
            .is_err()
        {
            tracing::warn!("database connections not closed within the shutdown limit");
        }
    })
    .await;
    let (store, metrics) = (&*store, &metrics);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        handle_metered(store, metrics, event)
    }))
    .await
}
