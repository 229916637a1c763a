//! How a connection logs in, beyond what the settings say: a database secret's password (and
//! username) over the connect options, or an RDS IAM token's generator for them. Shared by the
//! function's store and migrate, which each read secrets and sign tokens on their own schedule.

use aws_sdk_rds::auth_token::{AuthTokenGenerator, Config as TokenConfig};
use serde::Deserialize;
use sqlx::mysql::MySqlConnectOptions;

/// A database secret as RDS and the infra write it: JSON with `username` and `password`.
/// Deliberately not `Debug`.
#[derive(Deserialize)]
pub(crate) struct SecretValue {
    pub(crate) username: Option<String>,
    pub(crate) password: String,
}

impl SecretValue {
    /// A `GetSecretValue` answer's `SecretString`; `None` unless it is JSON with a password.
    /// The reason is left out on purpose: serde's message may quote the secret.
    pub(crate) fn parse(secret_string: Option<&str>) -> Option<SecretValue> {
        serde_json::from_str(secret_string.unwrap_or_default()).ok()
    }

    /// `options` logging in with this secret: its password, and its username unless `DB_USER`
    /// named the account (`user_set`). `None` when neither names it.
    pub(crate) fn log_in(
        self,
        options: MySqlConnectOptions,
        user_set: bool,
    ) -> Option<MySqlConnectOptions> {
        let options = options.password(&self.password);
        match (user_set, self.username) {
            (true, _) => Some(options),
            (false, Some(user)) => Some(options.username(&user)),
            (false, None) => None,
        }
    }
}

/// Signs RDS IAM auth tokens for the host, port and user of `options`.
/// <https://docs.aws.amazon.com/cli/latest/reference/rds/generate-db-auth-token.html>
pub(crate) fn token_generator(options: &MySqlConnectOptions) -> Result<AuthTokenGenerator, String> {
    let config = TokenConfig::builder()
        .hostname(options.get_host())
        .port(u64::from(options.get_port()))
        .username(options.get_username())
        .build()
        .map_err(|e| format!("IAM token settings: {e}"))?;
    Ok(AuthTokenGenerator::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> MySqlConnectOptions {
        MySqlConnectOptions::new()
            .host("db")
            .username("from-settings")
    }

    #[test]
    fn a_secret_logs_in_as_its_user_unless_db_user_named_one() {
        let secret = || SecretValue::parse(Some(r#"{"username":"admin","password":"pw"}"#));
        let o = secret().unwrap().log_in(options(), false).unwrap();
        assert_eq!(o.get_username(), "admin");
        let o = secret().unwrap().log_in(options(), true).unwrap();
        assert_eq!(o.get_username(), "from-settings");
        let anonymous = SecretValue::parse(Some(r#"{"password":"pw"}"#)).unwrap();
        assert!(anonymous.log_in(options(), false).is_none());
        for not_a_secret in [None, Some(""), Some("pw"), Some(r#"{"username":"u"}"#)] {
            assert!(
                SecretValue::parse(not_a_secret).is_none(),
                "{not_a_secret:?}"
            );
        }
    }
}
