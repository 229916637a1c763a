//! The ingest Lambda.

use ingest::{DbConfig, MySqlStore, handle, telemetry};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init_json();
    // Once per execution environment: configuration, credentials, the pool and its first
    // connection, all before the first event.
    let store = MySqlStore::connect(DbConfig::from_env()?).await?;
    store.warm_up().await;
    let store = &store;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        handle(store, event)
    }))
    .await
}
