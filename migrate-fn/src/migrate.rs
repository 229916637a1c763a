//! The `migrate` function. A migration (the deploy's trigger, the CLI) logs in as the database's
//! admin, applies `migrations/` (first recovering any a killed run left half-applied,
//! [`crate::recovery`]) and creates the least-privilege accounts: ingest-fn's, the reader's, and
//! ingest-expire's when the stack runs the retention job. A verify request (`{"verify": …}`, from `ingest-load --verify-function`) logs in
//! as the reader, which may only SELECT from the events table, and answers what is stored of a
//! load run ([`contract::verify`]) in a read-only transaction.
//!
//! Credentials are read and the login made on every invocation, inside the handler: a secret
//! may have rotated since the last, and a first call that meets a policy not yet in effect is
//! retried while IAM settles ([`crate::iam_settle`]), which Lambda's 10 s init phase would not
//! leave time for.

use contract::verify::{self, VerifyRequest};
use ingest::MIGRATOR;
use ingest::config::{Auth, Config, ConfigError};
use serde_json::{Value, json};
use sqlx::MySqlPool;

use crate::accounts::{PasswordAccount, Role};
use crate::config::{ADMIN_SECRET_SETTING, Account, MigrateConfig, shared_account};
use crate::connect::{log_in, read_secret};
use crate::error::MigrateError;
use crate::iam_settle::Backoff;
use crate::recovery::migrate_recovering;

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
        let migrate = Migrate::new(config);
        Ok(match needs_aws {
            true => migrate
                .with_aws(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await),
            false => migrate,
        })
    }

    /// Without AWS: `DATABASE_URL` and IAM accounts only, until [`Migrate::with_aws`].
    pub fn new(config: MigrateConfig) -> Migrate {
        Migrate {
            config,
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

    fn sdk(&self) -> Result<&aws_config::SdkConfig, MigrateError> {
        self.sdk.as_ref().ok_or_else(no_aws)
    }

    fn secrets(&self) -> Result<aws_sdk_secretsmanager::Client, MigrateError> {
        self.sdk().map(aws_sdk_secretsmanager::Client::new)
    }

    fn database(&self) -> &Config {
        &self.config.database
    }

    /// One invocation: a migration or a verify request; its answer as JSON.
    pub async fn handle(&self, event: &Value) -> Result<Value, MigrateError> {
        // Boxed: the nested SDK and sqlx futures otherwise exceed rustc's layout depth limit.
        match Request::parse(event)? {
            Request::Migrate => {
                let pool = Box::pin(self.log_in_as_admin()).await?;
                let answer = Box::pin(self.migrate(&pool)).await;
                pool.close().await;
                answer
            }
            Request::Verify(request) => {
                let pool = Box::pin(self.log_in_as_reader()).await?;
                let checked = Box::pin(verify::check(&pool, &request)).await;
                pool.close().await;
                let v = checked?;
                tracing::info!(
                    run_id = v.run_id,
                    checked = v.checked,
                    missing = v.missing,
                    doubled = v.doubled,
                    "verified a load run"
                );
                Ok(json!(v))
            }
        }
    }

    /// Logs in as the admin: `DATABASE_URL`'s password, the admin secret's
    /// (`DB_ADMIN_SECRET_ARN`), or an IAM token.
    async fn log_in_as_admin(&self) -> Result<MySqlPool, MigrateError> {
        let database = self.database();
        let mut options = database.options.clone();
        if let Auth::Secret { arn } = &database.auth {
            let secret =
                read_secret(&self.secrets()?, ADMIN_SECRET_SETTING, arn, self.backoff).await?;
            options = secret
                .log_in(options, database.user.is_some())
                .ok_or_else(|| {
                    MigrateError::Credentials(format!(
                        "{ADMIN_SECRET_SETTING}: secret {arn} has no username and DB_USER is not set"
                    ))
                })?;
        }
        let token = match database.auth {
            Auth::Iam => Some(self.sdk()?),
            Auth::Url | Auth::Secret { .. } => None,
        };
        log_in(database, options, token, self.backoff).await
    }

    /// Logs in as the reader, never as the admin: with its IAM token or its secret's password,
    /// to the admin's database over the admin's TLS settings. Without a reader, only
    /// `DATABASE_URL`'s account (a database of one's own, where there is no admin secret to
    /// keep out of reach) answers.
    async fn log_in_as_reader(&self) -> Result<MySqlPool, MigrateError> {
        let database = self.database();
        let options = database.options.clone();
        match &self.config.reader {
            Some(Account::Iam(reader)) => {
                // A token travels as a cleartext password, over the TLS the settings require.
                let options = options
                    .username(reader.name())
                    .enable_cleartext_plugin(true);
                log_in(database, options, Some(self.sdk()?), self.backoff).await
            }
            Some(Account::Password(arn)) => {
                let setting = Role::Reader.secret_setting();
                let secret = read_secret(&self.secrets()?, setting, arn, self.backoff).await?;
                let options = secret.log_in(options, false).ok_or_else(|| {
                    MigrateError::Credentials(format!("{setting}: secret {arn} has no username"))
                })?;
                log_in(database, options, None, self.backoff).await
            }
            None if database.auth == Auth::Url => {
                log_in(database, options, None, self.backoff).await
            }
            None => Err(ConfigError {
                name: Role::Reader.secret_setting(),
                reason: format!(
                    "a verify request reads as a read-only account, never as the admin: set {} \
                     or {}, and run a migration to create it",
                    Role::Reader.iam_setting(),
                    Role::Reader.secret_setting()
                ),
            }
            .into()),
        }
    }

    async fn migrate(&self, pool: &MySqlPool) -> Result<Value, MigrateError> {
        let recovered = migrate_recovering(pool, &MIGRATOR).await?;
        let latest = MIGRATOR.iter().map(|m| m.version).max();
        tracing::info!(
            migrations = MIGRATOR.iter().count(),
            latest,
            recovered = recovered.len(),
            "database schema is current"
        );
        // Each account in turn; a name one of them has already is refused before its grant.
        let mut created: Vec<(Role, String)> = Vec::new();
        for (role, account) in self.config.accounts() {
            if let Some(name) = Box::pin(self.ensure(pool, role, account, &created)).await? {
                created.push((role, name));
            }
        }
        let name_of = |role: Role| {
            created
                .iter()
                .find(|(r, _)| *r == role)
                .map(|(_, name)| name.clone())
        };
        let iam_user = match &self.config.ingest_account {
            Some(Account::Iam(a)) => Some(a.name().to_owned()),
            _ => None,
        };
        let recovered: Vec<i64> = recovered.iter().map(|d| d.version).collect();
        Ok(json!({
            "migrations": MIGRATOR.iter().count(),
            "latest": latest,
            "recovered": recovered,
            "iam_user": iam_user,
            "account": name_of(Role::Ingest),
            "reader": name_of(Role::Reader),
            "expire": name_of(Role::Expire),
        }))
    }

    /// Creates `role`'s account if it has one, with its grants; its name. `taken` are the
    /// accounts created before it, whose names it must not share: one account would hold both
    /// roles' grants (the reader could write, ingest-fn could delete).
    async fn ensure(
        &self,
        pool: &MySqlPool,
        role: Role,
        account: &Option<Account>,
        taken: &[(Role, String)],
    ) -> Result<Option<String>, MigrateError> {
        let refuse_taken =
            |setting: &'static str, name: &str| match taken.iter().find(|(_, taken)| taken == name)
            {
                None => Ok(()),
                Some((taken_by, _)) => Err(shared_account(setting, name, role, *taken_by)),
            };
        let name = match account {
            None => return Ok(None),
            Some(Account::Iam(account)) => {
                refuse_taken(role.iam_setting(), account.name())?;
                account.ensure(pool).await?;
                account.name().to_owned()
            }
            Some(Account::Password(arn)) => {
                let setting = role.secret_setting();
                let secret = read_secret(&self.secrets()?, setting, arn, self.backoff).await?;
                let name = secret.username.ok_or_else(|| {
                    MigrateError::Credentials(format!("{setting}: secret {arn} has no username"))
                })?;
                refuse_taken(setting, &name)?;
                let account = PasswordAccount::new(role, &name, &secret.password)?;
                account.ensure(pool).await?;
                name
            }
        };
        tracing::info!(
            account = name,
            role = ?role,
            privileges = role.privileges(),
            "the account exists with its grants on the events table"
        );
        Ok(Some(name))
    }
}

/// A secret or an IAM token asked of a [`Migrate`] built without [`Migrate::with_aws`].
fn no_aws() -> MigrateError {
    MigrateError::Credentials(
        "a secret or an IAM token needs the AWS SDK's configuration (Migrate::with_aws)".into(),
    )
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

    // A deployed migrate logs in as the admin with a secret: without a reader it refuses a
    // verify request before logging in at all, naming the settings.
    #[tokio::test]
    async fn without_a_reader_a_verify_request_never_logs_in_as_the_admin() {
        let vars = [
            ("DB_HOST", "db.invalid"),
            ("DB_NAME", "ingest"),
            (
                "DB_ADMIN_SECRET_ARN",
                "arn:aws:secretsmanager:r:1:secret:admin",
            ),
        ];
        let config = MigrateConfig::from_lookup(lambda_harness::lookup(&vars)).unwrap();
        // No AWS configuration: reading the admin secret would fail as Credentials.
        let migrate = Migrate::new(config);
        let request = verify::invoke_payload(&VerifyRequest::for_ids("load-r", &[], 1).unwrap());
        let e = migrate.handle(&request).await.unwrap_err();
        assert_eq!(e.error_type(), "InvalidConfig", "{e}");
        let message = e.to_string();
        for part in [
            "DB_READER_IAM_USER",
            "DB_READER_SECRET_ARN",
            "never as the admin",
        ] {
            assert!(message.contains(part), "{part:?} in {message}");
        }
    }
}
