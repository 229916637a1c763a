//! The ingest Lambda.

use std::sync::Arc;
use std::time::Duration;

use ingest::{Config, MetricsLayer, MySqlStore, handle};
use lambda_runtime::layers::TracingLayer;
use lambda_runtime::{Error, LambdaEvent, Runtime, service_fn};
use serde_json::Value;

/// Lambda allows 500 ms between SIGTERM and SIGKILL when only internal extensions registered;
/// closing one idle connection takes a round trip.
/// https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html#runtimes-lifecycle-shutdown
const CLOSE_WITHIN: Duration = Duration::from_millis(300);

fn main() -> Result<(), Error> {
    // JSON lines when the function's log format is JSON (AWS_LAMBDA_LOG_FORMAT), at
    // AWS_LAMBDA_LOG_LEVEL; each line written during an invocation carries its requestId.
    // Lambda sets both variables for a custom runtime from the function's logging config:
    // https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    // One invocation at a time (Lambda's default model): one thread, the fastest start. On
    // Lambda Managed Instances the environment runs AWS_LAMBDA_MAX_CONCURRENCY at once on
    // its vCPUs (https://docs.aws.amazon.com/lambda/latest/dg/lambda-managed-instances-rust.html):
    // a worker thread per vCPU.
    let runtime = if config.max_concurrency > 1 {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    .build()?;
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> Result<(), Error> {
    // Once per execution environment: configuration, credentials, the pool and its first
    // connection, all before the first event.
    let metrics = Config::metrics_from_env()?;
    if config.pool_max < config.max_concurrency {
        tracing::warn!(
            pool_max = config.pool_max,
            max_concurrency = config.max_concurrency,
            "DB_POOL_MAX is below AWS_LAMBDA_MAX_CONCURRENCY: invocations beyond the pool wait \
             for a connection, up to DB_CONNECT_TIMEOUT_MS"
        );
    }
    let store = Arc::new(MySqlStore::connect(config).await?);
    store.warm_up().await;
    // Lambda sends SIGTERM only to a runtime with a registered extension: this registers a
    // no-op one, and on SIGTERM closes the pool so the server frees the connection slots now,
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
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let store = store.clone();
        async move { handle(&*store, event).await }
    });
    // What `lambda_runtime::run_concurrent` builds (the handler in a span carrying the
    // requestId), plus each invocation's metrics line, written once its response is posted.
    // One `next` loop per AWS_LAMBDA_MAX_CONCURRENCY; without the variable, the same single
    // loop as `lambda_runtime::run`.
    Runtime::new(handler)
        .layer(MetricsLayer::new(metrics))
        .layer(TracingLayer::new())
        .run_concurrent()
        .await
}
