//! The `migrate` function, logged in as the database's admin: a migration (the deploy's
//! trigger, the CLI) applies `migrations/` and creates ingest-fn's least-privilege account; a
//! verify request (`{"verify": …}`, from `ingest-load --verify-function`) answers what is
//! stored of a load run ([`crate::verify`]), read-only.
//!
//! Credentials are read and the login made on every invocation, inside the handler: the admin
//! secret may have rotated since the last, and a first call that meets a policy not yet in
//! effect is retried while IAM settles ([`crate::iam_settle`]), which Lambda's 10 s init phase
//! would not leave time for.

use std::time::Duration;

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use lambda_runtime::Diagnostic;
use serde_json::{Value, json};
use sqlx::MySqlPool;
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};

use crate::MIGRATOR;
pub use crate::config::Account;
use crate::config::{Auth, Config, ConfigError, MigrateConfig};
use crate::iam_account::{IamAccountError, PasswordAccount};
use crate::iam_settle::{self, Backoff, Denial, NotSettled, Retried};
use crate::login::{SecretValue, TokenSigner};
use crate::store::mysql_code;
use crate::verify::{self, VerifyError, VerifyRequest};

/// What an invocation asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    Migrate,
    Verify(VerifyRequest),
}

impl Request {
    /// `{"verify": {…}}` is a verify request; anything else is a migration, as before: CDK's
    /// trigger invokes with no payload (`triggers.Trigger` sends none), which Lambda delivers
    /// as `{}`.
    pub(crate) fn parse(event: &Value) -> Result<Request, MigrateError> {
        match verify::request_in(event) {
            None => Ok(Request::Migrate),
            Some(request) => Ok(Request::Verify(request?)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Credentials(String),
    #[error(transparent)]
    IamNotSettled(#[from] NotSettled),
    #[error("logging in to the database as {user}@{host}: {source}")]
    Login {
        user: String,
        host: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("applying the migrations: {0}")]
    Migrations(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Account(#[from] IamAccountError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
}

impl MigrateError {
    /// The `errorType` the caller sees (the trigger prints it when the deploy fails).
    pub fn error_type(&self) -> &'static str {
        match self {
            MigrateError::Config(_) => "InvalidConfig",
            MigrateError::Credentials(_) => "Credentials",
            MigrateError::IamNotSettled(_) => "IamNotSettled",
            MigrateError::Login { .. } => "Login",
            MigrateError::Migrations(_) => "Migrations",
            MigrateError::Account(_) => "Account",
            MigrateError::Verify(VerifyError::Query { .. }) => "VerifyFailed",
            MigrateError::Verify(_) => "InvalidVerifyRequest",
        }
    }
}

impl From<MigrateError> for Diagnostic {
    fn from(e: MigrateError) -> Diagnostic {
        Diagnostic {
            error_type: e.error_type().to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// A step's error, whether it failed on its own or its denials outlasted the wait.
fn settled<T>(r: Result<T, Retried<MigrateError>>) -> Result<T, MigrateError> {
    r.map_err(|e| match e {
        Retried::Failed(e) => e,
        Retried::NotSettled(e) => e.into(),
    })
}

/// Reads a database secret (`GetSecretValue`), waiting while IAM settles; errors name the
/// secret and the setting, never the value.
async fn read_secret(
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

/// migrate's settings and clients, built once per execution environment.
pub struct Migrate {
    config: MigrateConfig,
    /// Loaded only when a secret or an IAM token needs it.
    sdk: Option<aws_config::SdkConfig>,
    backoff: Backoff,
}

impl Migrate {
    /// From the environment: [`MigrateConfig`]'s settings, and the AWS SDK's when a secret or
    /// an IAM token needs it.
    pub async fn from_env() -> Result<Migrate, MigrateError> {
        let config = MigrateConfig::from_env()?;
        let needs_aws = config.needs_aws();
        let migrate = Migrate::new(config.database, config.account);
        Ok(match needs_aws {
            true => migrate
                .with_aws(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await),
            false => migrate,
        })
    }

    /// Without AWS: `DATABASE_URL` and an IAM account only, until [`Migrate::with_aws`].
    pub fn new(database: Config, account: Option<Account>) -> Migrate {
        Migrate {
            config: MigrateConfig { database, account },
            sdk: None,
            backoff: Backoff::IAM,
        }
    }

    /// Reads secrets and signs IAM tokens with `sdk`.
    pub fn with_aws(self, sdk: aws_config::SdkConfig) -> Migrate {
        Migrate {
            sdk: Some(sdk),
            ..self
        }
    }

    /// Retries denials on `backoff` instead of [`Backoff::IAM`] (for tests).
    pub fn with_backoff(self, backoff: Backoff) -> Migrate {
        Migrate { backoff, ..self }
    }

    fn secrets(&self) -> Result<aws_sdk_secretsmanager::Client, MigrateError> {
        self.sdk
            .as_ref()
            .map(aws_sdk_secretsmanager::Client::new)
            .ok_or_else(no_aws)
    }

    /// One invocation: a migration or a verify request; its answer as JSON.
    pub async fn handle(&self, event: &Value) -> Result<Value, MigrateError> {
        let request = Request::parse(event)?;
        // Boxed: the nested SDK and sqlx futures otherwise exceed rustc's layout depth limit.
        let pool = Box::pin(self.connect()).await?;
        let answer = match request {
            Request::Migrate => Box::pin(self.migrate(&pool)).await,
            Request::Verify(r) => {
                let v = Box::pin(verify::check(&pool, &r)).await?;
                tracing::info!(
                    run_id = v.run_id,
                    checked = v.checked,
                    missing = v.missing,
                    doubled = v.doubled,
                    "verified a load run"
                );
                Ok(json!(v))
            }
        };
        pool.close().await;
        answer
    }

    /// Logs in as the admin: `DATABASE_URL`'s password, the secret's, or an IAM token; the
    /// secret read and a token login are retried while IAM settles.
    async fn connect(&self) -> Result<MySqlPool, MigrateError> {
        let database = &self.config.database;
        let mut options = database.options.clone();
        if let Auth::Secret { arn } = &database.auth {
            let secret = read_secret(&self.secrets()?, "DB_SECRET_ARN", arn, self.backoff).await?;
            options = secret
                .log_in(options, database.user.is_some())
                .ok_or_else(|| {
                    MigrateError::Credentials(format!(
                        "DB_SECRET_ARN: secret {arn} has no username and DB_USER is not set"
                    ))
                })?;
        }
        let iam = database.auth == Auth::Iam;
        let token = match (iam, &self.sdk) {
            (true, Some(sdk)) => Some((TokenSigner::for_options(&options), sdk)),
            (true, None) => return Err(no_aws()),
            (false, _) => None,
        };
        let (user, host) = (
            options.get_username().to_owned(),
            options.get_host().to_owned(),
        );
        let attempt = || async {
            let mut options = options.clone();
            if let Some((signer, sdk)) = &token {
                let token = signer.token(sdk).await.map_err(|e| {
                    MigrateError::Credentials(format!("RDS IAM auth token for {user}: {e}"))
                })?;
                options = options.password(&token);
            }
            pool(database, options)
                .await
                .map_err(|source| MigrateError::Login {
                    user: user.clone(),
                    host: host.clone(),
                    source,
                })
        };
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
        settled(
            iam_settle::retry(
                "logging in with an IAM token",
                self.backoff,
                denial,
                attempt,
            )
            .await,
        )
    }

    async fn migrate(&self, pool: &MySqlPool) -> Result<Value, MigrateError> {
        MIGRATOR.run(pool).await?;
        let latest = MIGRATOR.iter().map(|m| m.version).max();
        tracing::info!(
            migrations = MIGRATOR.iter().count(),
            latest,
            "database schema is current"
        );
        let created = match &self.config.account {
            None => None,
            Some(Account::Iam(account)) => {
                account.ensure(pool).await?;
                Some(account.name().to_owned())
            }
            Some(Account::Password(arn)) => {
                let secret =
                    read_secret(&self.secrets()?, "DB_INGEST_SECRET_ARN", arn, self.backoff)
                        .await?;
                let name = secret.username.ok_or_else(|| {
                    MigrateError::Credentials(format!(
                        "DB_INGEST_SECRET_ARN: secret {arn} has no username"
                    ))
                })?;
                PasswordAccount::new(&name, &secret.password)?
                    .ensure(pool)
                    .await?;
                Some(name)
            }
        };
        if let Some(name) = &created {
            tracing::info!(
                account = name,
                "ingest-fn's database account exists with its grants"
            );
        }
        let iam_user = match &self.config.account {
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
}

/// A secret or an IAM token asked of a [`Migrate`] built without [`Migrate::with_aws`].
fn no_aws() -> MigrateError {
    MigrateError::Credentials(
        "a secret or an IAM token needs the AWS SDK's configuration (Migrate::with_aws)".into(),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingest_loads_verify_payload_is_a_verify_request_and_anything_else_a_migration() {
        let ids = ["load-r-0".to_owned(), "load-r-1".to_owned()];
        let request = VerifyRequest::for_ids("load-r", &ids, 10).unwrap();
        let payload = verify::invoke_payload(&request);
        assert_eq!(Request::parse(&payload).unwrap(), Request::Verify(request));
        assert_eq!(Request::parse(&json!({})).unwrap(), Request::Migrate);
        let e = Request::parse(&json!({"verify": {"run_id": "r"}})).unwrap_err();
        assert_eq!(e.error_type(), "InvalidVerifyRequest", "{e}");
    }
}
