//! migrate's error, and the `errorType` its caller sees.

use contract::verify::VerifyError;
use ingest::config::ConfigError;
use lambda_runtime::Diagnostic;

use crate::accounts::AccountError;
use crate::iam_settle::NotSettled;
use crate::recovery::RecoveryError;

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
    /// A migration a killed run left half-applied that this release cannot apply again.
    #[error("applying the migrations: {0}")]
    Recovery(#[from] RecoveryError),
    #[error(transparent)]
    Account(#[from] AccountError),
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
            MigrateError::Migrations(_) | MigrateError::Recovery(_) => "Migrations",
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
