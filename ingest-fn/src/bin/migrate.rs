//! Applies `migrations/` to the configured database: from the command line, or as a Lambda
//! that the deploy invokes once per release. Then it creates ingest-fn's least-privilege
//! account: with `DB_IAM_USER` one for RDS IAM authentication (RDS MySQL only), with
//! `DB_INGEST_SECRET_ARN` a password account from that secret; both get SELECT, INSERT on
//! the events table and nothing else.

use ingest::store::mysql::fetch_secret;
use ingest::{Config, IamAccount, MIGRATOR, MySqlStore, PasswordAccount};
use lambda_runtime::tracing::subscriber::fmt::writer::MakeWriterExt;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

/// The account migrate creates for ingest-fn, if any.
enum Account {
    Iam(IamAccount),
    /// The secret's ARN: read on every run, so a rotated password takes effect.
    Password(String),
}

impl Account {
    fn from_env() -> Result<Option<Account>, Error> {
        let var = |k: &str| {
            std::env::var(k)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        match (var("DB_IAM_USER"), var("DB_INGEST_SECRET_ARN")) {
            (Some(_), Some(_)) => {
                Err("setting DB_INGEST_SECRET_ARN: set it or DB_IAM_USER, not both".into())
            }
            (Some(name), None) => Ok(Some(Account::Iam(IamAccount::parse(&name)?))),
            (None, Some(arn)) => Ok(Some(Account::Password(arn))),
            (None, None) => Ok(None),
        }
    }

    /// Creates the account with its grants; returns its name.
    async fn ensure(&self, store: &MySqlStore) -> Result<String, Error> {
        match self {
            Account::Iam(account) => {
                account.ensure(store.pool()).await?;
                Ok(account.name().to_owned())
            }
            Account::Password(arn) => {
                let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
                let secret = fetch_secret(&aws_sdk_secretsmanager::Client::new(&sdk), arn).await?;
                let name = secret.username.ok_or_else(|| {
                    format!("setting DB_INGEST_SECRET_ARN: secret {arn} has no username")
                })?;
                let account = PasswordAccount::new(&name, &secret.password)?;
                account.ensure(store.pool()).await?;
                Ok(name)
            }
        }
    }
}

async fn migrate(store: &MySqlStore, account: Option<&Account>) -> Result<Value, Error> {
    MIGRATOR.run(store.pool()).await?;
    let latest = MIGRATOR.iter().map(|m| m.version).max();
    tracing::info!(
        migrations = MIGRATOR.iter().count(),
        latest,
        "database schema is current"
    );
    let mut created = None;
    if let Some(account) = account {
        let name = account.ensure(store).await?;
        tracing::info!(
            account = name,
            "ingest-fn's database account exists with its grants"
        );
        created = Some(name);
    }
    let iam_user = match account {
        Some(Account::Iam(a)) => Some(a.name().to_owned()),
        _ => None,
    };
    Ok(json!({
        "migrations": MIGRATOR.iter().count(),
        "latest": latest,
        "iam_user": iam_user,
        "account": created,
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
    let config = Config::from_env()?;
    let account = Account::from_env()?;
    let store = MySqlStore::connect(config).await?;
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        lambda_runtime::tracing::init_default_subscriber();
        let (store, account) = (&store, account.as_ref());
        lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| {
            migrate(store, account)
        }))
        .await
    } else {
        // Warnings on stderr unless RUST_LOG asks for more: stdout is the command's output.
        if std::env::var_os("RUST_LOG").is_some() {
            lambda_runtime::tracing::init_default_subscriber_with_writer(std::io::stderr);
        } else {
            let warnings = std::io::stderr.with_max_level(tracing::Level::WARN);
            lambda_runtime::tracing::init_default_subscriber_with_writer(warnings);
        }
        println!("{}", migrate(&store, account.as_ref()).await?);
        Ok(())
    }
}
