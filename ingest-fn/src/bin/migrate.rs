//! Applies `migrations/` to the configured database: from the command line, or as a Lambda
//! that the deploy invokes once per release.

use ingest::{DbConfig, MIGRATOR, MySqlStore, telemetry};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn migrate(store: &MySqlStore) -> Result<Value, Error> {
    MIGRATOR.run(store.pool()).await?;
    let latest = MIGRATOR.iter().map(|m| m.version).max();
    tracing::info!(
        migrations = MIGRATOR.iter().count(),
        latest,
        "database schema is current"
    );
    Ok(json!({"migrations": MIGRATOR.iter().count(), "latest": latest}))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let store = MySqlStore::connect(DbConfig::from_env()?).await?;
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        telemetry::init_json();
        let store = &store;
        lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| migrate(store))).await
    } else {
        telemetry::init_cli();
        println!("{}", migrate(&store).await?);
        Ok(())
    }
}
