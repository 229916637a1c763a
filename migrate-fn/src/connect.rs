//! Logging in, on every invocation: reading a secret and logging in (with its password or a
//! fresh IAM token), each retried while a denial may only mean that IAM has not settled
//! ([`crate::iam_settle`]).

use std::time::Duration;

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use ingest::Config;
use ingest::login::{SecretValue, TokenSigner};
use ingest::server_error::mysql_code;
use sqlx::MySqlPool;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};

use crate::error::MigrateError;
use crate::iam_settle::{self, Backoff, Denial, Retried};

/// A step's error, whether it failed on its own or its denials outlasted the wait.
fn settled<T>(r: Result<T, Retried<MigrateError>>) -> Result<T, MigrateError> {
    r.map_err(|e| match e {
        Retried::Failed(e) => e,
        Retried::NotSettled(e) => e.into(),
    })
}

/// Reads a database secret (`GetSecretValue`), waiting while IAM settles; errors name the
/// secret and the setting, never the value.
pub(crate) async fn read_secret(
    client: &aws_sdk_secretsmanager::Client,
    setting: &'static str,
    arn: &str,
    backoff: Backoff,
) -> Result<SecretValue, MigrateError> {
    // The denial is recognized from the SDK's error code, before the error becomes text.
    let attempt = || async {
        let out = client.get_secret_value().secret_id(arn).send().await;
        let out = out.map_err(|e| {
            let denial = iam_settle::secrets_manager_unsettled(e.code()).then(|| Denial {
                code: e.code().unwrap_or_default().to_owned(),
                action: format!("secretsmanager:GetSecretValue on {arn} ({setting})"),
                message: e.message().unwrap_or_default().to_owned(),
            });
            let text = aws_sdk_secretsmanager::error::DisplayErrorContext(&e);
            let e = format!("{setting}: GetSecretValue {arn}: {text}");
            (denial, MigrateError::Credentials(e))
        })?;
        SecretValue::parse(out.secret_string()).ok_or_else(|| {
            let e = format!("{setting}: secret {arn} is not JSON with username and password");
            (None, MigrateError::Credentials(e))
        })
    };
    let denial = |(denial, _): &(Option<Denial>, MigrateError)| denial.clone();
    match iam_settle::retry("reading a secret", backoff, denial, attempt).await {
        Ok(secret) => Ok(secret),
        Err(Retried::Failed((_, e))) => Err(e),
        Err(Retried::NotSettled(e)) => Err(e.into()),
    }
}

/// Logs in with `options` (a password already in them), or with an IAM token for their host,
/// port and user that `token` signs afresh for each attempt; a token login refused is retried
/// while IAM settles.
pub(crate) async fn log_in(
    config: &Config,
    options: MySqlConnectOptions,
    token: Option<&aws_config::SdkConfig>,
    backoff: Backoff,
) -> Result<MySqlPool, MigrateError> {
    let signer = token.map(|sdk| (TokenSigner::for_options(&options), sdk));
    let (user, host) = (
        options.get_username().to_owned(),
        options.get_host().to_owned(),
    );
    let attempt = || async {
        let mut options = options.clone();
        if let Some((signer, sdk)) = &signer {
            let token = signer.token(sdk).await.map_err(|e| {
                MigrateError::Credentials(format!("RDS IAM auth token for {user}: {e}"))
            })?;
            options = options.password(&token);
        }
        pool(config, options)
            .await
            .map_err(|source| MigrateError::Login {
                user: user.clone(),
                host: host.clone(),
                source,
            })
    };
    let iam = signer.is_some();
    let denial = |e: &MigrateError| match e {
        MigrateError::Login { source, .. }
            if iam_settle::iam_login_unsettled(iam, mysql_code(source)) =>
        {
            Some(Denial {
                code: "MySQL 1045".into(),
                action: format!("rds-db:connect as {user} to {host}"),
                message: source.to_string(),
            })
        }
        _ => None,
    };
    settled(iam_settle::retry("logging in with an IAM token", backoff, denial, attempt).await)
}

/// A pool of `DB_POOL_MAX` connections that opens the first now, so a refused login shows here.
/// Off the request path, the first connection gets at least 5 s (`DB_CONNECT_TIMEOUT_MS` is
/// sized for ingest-fn's callers): TCP, TLS and login to a database that may have just started.
async fn pool(config: &Config, options: MySqlConnectOptions) -> Result<MySqlPool, sqlx::Error> {
    MySqlPoolOptions::new()
        .max_connections(config.pool_max)
        .acquire_timeout(config.connect_timeout.max(Duration::from_secs(5)))
        .connect_with(options)
        .await
}
