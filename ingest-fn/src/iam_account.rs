//! The least-privilege MySQL account ingest-fn logs in as, which `migrate` creates after the
//! migrations, logged in as the admin: with RDS IAM tokens (`DB_IAM_USER`: only an account
//! that exists with the `AWSAuthenticationPlugin` can log in with a token), or with the
//! password of its own Secrets Manager secret (`DB_INGEST_SECRET_ARN`), so ingest-fn never
//! holds the admin's credentials.

use sqlx::{AssertSqlSafe, MySqlPool};

use crate::config::ConfigError;

/// An account name checked to be safe to splice into SQL: MySQL takes no bind parameters in
/// `CREATE USER` or `GRANT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamAccount(String);

#[derive(Debug, thiserror::Error)]
#[error("{action} for {kind} account {account:?} failed: {source}")]
pub struct IamAccountError {
    pub action: &'static str,
    /// `IAM` or `password`.
    pub kind: &'static str,
    pub account: String,
    #[source]
    pub source: sqlx::Error,
}

impl IamAccount {
    /// 1 to 32 letters, digits or underscores (MySQL's user name limit).
    pub(crate) fn parse(name: &str) -> Result<IamAccount, ConfigError> {
        let ok = (1..=32).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok {
            Ok(IamAccount(name.to_owned()))
        } else {
            Err(ConfigError {
                name: "DB_IAM_USER",
                reason: format!("{name:?} is not 1 to 32 letters, digits or underscores"),
            })
        }
    }

    pub fn name(&self) -> &str {
        &self.0
    }

    /// Idempotent: creates the account if missing and grants what ingest-fn uses on the
    /// events table (INSERT for writes, SELECT for reads of its own rows).
    pub(crate) fn statements(&self, database: &str) -> [String; 2] {
        let user = &self.0;
        let database = database.replace('`', "``");
        [
            format!(
                "CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL"
            ),
            format!("GRANT SELECT, INSERT ON `{database}`.`events` TO '{user}'@'%'"),
        ]
    }

    /// Runs [`IamAccount::statements`] against the pool's current database.
    pub(crate) async fn ensure(&self, pool: &MySqlPool) -> Result<(), IamAccountError> {
        let database = current_database(pool, &self.0).await?;
        let statements = self.statements(&database);
        run_statements(
            pool,
            "IAM",
            &self.0,
            statements.into_iter().zip(["CREATE USER", "GRANT"]),
            None,
        )
        .await
    }
}

/// A password account (`dbAuth=secret`): its name and password come from its own secret.
/// Deliberately not `Debug`: it holds the password.
pub(crate) struct PasswordAccount {
    name: String,
    password: String,
}

impl PasswordAccount {
    /// The name as [`IamAccount::parse`] takes it; the password 16 to 128 printable ASCII
    /// characters without quotes, backslashes or spaces (the infra's generated secrets exclude
    /// them), because `IDENTIFIED BY` takes no bind parameter either.
    pub(crate) fn new(name: &str, password: &str) -> Result<PasswordAccount, ConfigError> {
        let name = IamAccount::parse(name)
            .map_err(|e| ConfigError {
                name: "DB_INGEST_SECRET_ARN",
                reason: format!("the secret's username: {}", e.reason),
            })?
            .0;
        let ok = (16..=128).contains(&password.len())
            && password
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'\'' | b'\\' | b'"' | b'`'));
        if !ok {
            return Err(ConfigError {
                name: "DB_INGEST_SECRET_ARN",
                reason: format!(
                    "the password of account {name:?} is not 16 to 128 printable ASCII characters \
                     without quotes, backslashes or spaces"
                ),
            });
        }
        Ok(PasswordAccount {
            name,
            password: password.to_owned(),
        })
    }

    /// Idempotent: creates the account if missing, sets its password to the secret's (so a
    /// rotated secret takes effect on the next migrate), and grants the events table.
    pub(crate) fn statements(&self, database: &str) -> [String; 3] {
        let (user, password) = (&self.name, &self.password);
        let database = database.replace('`', "``");
        [
            format!(
                "CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{password}' REQUIRE SSL"
            ),
            format!("ALTER USER '{user}'@'%' IDENTIFIED BY '{password}' REQUIRE SSL"),
            format!("GRANT SELECT, INSERT ON `{database}`.`events` TO '{user}'@'%'"),
        ]
    }

    /// Runs [`PasswordAccount::statements`] against the pool's current database. Errors name the
    /// account and the statement, never the password.
    pub(crate) async fn ensure(&self, pool: &MySqlPool) -> Result<(), IamAccountError> {
        let database = current_database(pool, &self.name).await?;
        let statements = self.statements(&database);
        let actions = ["CREATE USER", "ALTER USER", "GRANT"];
        run_statements(
            pool,
            "password",
            &self.name,
            statements.into_iter().zip(actions),
            Some(&self.password),
        )
        .await
    }
}

/// Runs each statement in order; an error names its action and the account, with `secret`
/// (a password spliced into the statement) redacted from the server's message.
async fn run_statements(
    pool: &MySqlPool,
    kind: &'static str,
    account: &str,
    statements: impl IntoIterator<Item = (String, &'static str)>,
    secret: Option<&str>,
) -> Result<(), IamAccountError> {
    for (sql, action) in statements {
        sqlx::query(AssertSqlSafe(sql))
            .execute(pool)
            .await
            .map_err(|source| IamAccountError {
                action,
                kind,
                account: account.to_owned(),
                source: match secret {
                    Some(secret) => redact(source, secret),
                    None => source,
                },
            })?;
    }
    Ok(())
}

/// A server error can quote the statement; keep the password out of it.
fn redact(e: sqlx::Error, password: &str) -> sqlx::Error {
    let text = e.to_string();
    if text.contains(password) {
        sqlx::Error::Configuration(text.replace(password, "<redacted>").into())
    } else {
        e
    }
}

async fn current_database(pool: &MySqlPool, account: &str) -> Result<String, IamAccountError> {
    let database: Option<String> = sqlx::query_scalar("SELECT DATABASE()")
        .fetch_one(pool)
        .await
        .map_err(|source| IamAccountError {
            action: "reading the current database",
            kind: "database",
            account: account.to_owned(),
            source,
        })?;
    database.ok_or_else(|| IamAccountError {
        action: "finding the database to grant on",
        kind: "database",
        account: account.to_owned(),
        source: sqlx::Error::Configuration("the connection names no database".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_create_a_token_account_with_table_grants() {
        let account = IamAccount::parse("ingest_fn").unwrap();
        assert_eq!(
            account.statements("ingest"),
            [
                "CREATE USER IF NOT EXISTS 'ingest_fn'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL".to_owned(),
                "GRANT SELECT, INSERT ON `ingest`.`events` TO 'ingest_fn'@'%'".to_owned(),
            ]
        );
        assert!(account.statements("we`ird")[1].contains("`we``ird`.`events`"));
    }

    #[test]
    fn names_that_could_break_out_of_the_quotes_are_refused() {
        for bad in ["", "a'b", "a b", "x;DROP", "ingest-fn", &"a".repeat(33)] {
            let e = IamAccount::parse(bad).unwrap_err();
            assert_eq!(e.name, "DB_IAM_USER", "{bad:?}");
            assert!(e.reason.contains(&format!("{bad:?}")), "{}", e.reason);
        }
        assert_eq!(IamAccount::parse("Ingest_2").unwrap().name(), "Ingest_2");
    }

    #[test]
    fn a_password_account_gets_its_secret_password_and_only_the_events_table() {
        let account = PasswordAccount::new("ingest_fn_pw", "Abcdefgh12345678-_=.,^").unwrap();
        assert_eq!(
            account.statements("ingest"),
            [
                "CREATE USER IF NOT EXISTS 'ingest_fn_pw'@'%' IDENTIFIED BY 'Abcdefgh12345678-_=.,^' REQUIRE SSL".to_owned(),
                "ALTER USER 'ingest_fn_pw'@'%' IDENTIFIED BY 'Abcdefgh12345678-_=.,^' REQUIRE SSL".to_owned(),
                "GRANT SELECT, INSERT ON `ingest`.`events` TO 'ingest_fn_pw'@'%'".to_owned(),
            ]
        );
    }

    #[test]
    fn passwords_that_could_break_out_of_the_quotes_are_refused_without_echoing_them() {
        for bad in [
            "short",
            "sixteen chars ok",
            "quote'quote'quote'",
            "back\\slash\\back\\slash",
            "double\"quote\"quote\"",
            "tick`tick`tick`tick",
        ] {
            let e = PasswordAccount::new("ingest_fn_pw", bad).err().unwrap();
            assert_eq!(e.name, "DB_INGEST_SECRET_ARN", "{bad:?}");
            assert!(!e.reason.contains(bad), "{}", e.reason);
        }
        let e = PasswordAccount::new("ingest-fn", "Abcdefgh12345678")
            .err()
            .unwrap();
        assert!(e.reason.contains("username"), "{}", e.reason);
    }
}
