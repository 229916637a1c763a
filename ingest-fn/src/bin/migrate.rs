//! Applies `migrations/` to the configured database: from the command line, or as a Lambda
//! that the deploy invokes once per release. With `DB_IAM_USER` it then creates that account
//! for RDS IAM authentication (RDS MySQL only) and grants it the events table.

use ingest::{DbConfig, IamAccount, MIGRATOR, MySqlStore, telemetry};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn migrate(store: &MySqlStore, account: Option<&IamAccount>) -> Result<Value, Error> {
    MIGRATOR.run(store.pool()).await?;
    let latest = MIGRATOR.iter().map(|m| m.version).max();
    tracing::info!(
        migrations = MIGRATOR.iter().count(),
        latest,
        "database schema is current"
    );
    if let Some(account) = account {
        account.ensure(store.pool()).await?;
        tracing::info!(
            account = account.name(),
            "IAM database account exists with its grants"
        );
    }
    Ok(json!({
        "migrations": MIGRATOR.iter().count(),
        "latest": latest,
        "iam_user": account.map(IamAccount::name),
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Display, not Debug: the message names the setting or the statement that failed.
            eprintln!("migrate: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Error> {
    let config = DbConfig::from_env()?;
    let account = match std::env::var("DB_IAM_USER") {
        Ok(name) if !name.trim().is_empty() => Some(IamAccount::parse(name.trim())?),
        _ => None,
    };
    let store = MySqlStore::connect(config).await?;
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        telemetry::init_json();
        let (store, account) = (&store, account.as_ref());
        lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| {
            migrate(store, account)
        }))
        .await
    } else {
        telemetry::init_cli();
        println!("{}", migrate(&store, account.as_ref()).await?);
        Ok(())
    }
}
