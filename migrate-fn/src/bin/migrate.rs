//! Applies `migrations/` to the configured database and creates the least-privilege accounts:
//! from the command line, or as a Lambda that the deploy invokes once per release. ingest-fn's
//! (`DB_IAM_USER` an account for RDS IAM authentication, `DB_INGEST_SECRET_ARN` a password
//! account from that secret) gets SELECT, INSERT on the events table and nothing else; the
//! reader (`DB_READER_IAM_USER`, `DB_READER_SECRET_ARN`), SELECT on it; ingest-expire's
//! (`DB_EXPIRE_IAM_USER`, `DB_EXPIRE_SECRET_ARN`), SELECT, DELETE on it. As a Lambda it also
//! answers `ingest-load --verify-function`, logged in as the reader ([`migrate_fn::Migrate`]).

use lambda_runtime::tracing::subscriber::fmt::writer::MakeWriterExt;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use migrate_fn::Migrate;
use serde_json::Value;

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
    let lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    if lambda {
        lambda_runtime::tracing::init_default_subscriber();
    } else if std::env::var_os("RUST_LOG").is_some() {
        // Warnings on stderr unless RUST_LOG asks for more: stdout is the command's output.
        lambda_runtime::tracing::init_default_subscriber_with_writer(std::io::stderr);
    } else {
        let warnings = std::io::stderr.with_max_level(tracing::Level::WARN);
        lambda_runtime::tracing::init_default_subscriber_with_writer(warnings);
    }
    let migrate = Migrate::from_env().await?;
    if lambda {
        let migrate = &migrate;
        lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
            migrate.handle(&event.payload).await
        }))
        .await
    } else {
        println!("{}", migrate.handle(&Value::Null).await?);
        Ok(())
    }
}
