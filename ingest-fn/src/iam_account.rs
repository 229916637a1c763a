//! The MySQL account ingest-fn logs in as with RDS IAM tokens. `migrate` creates it after the
//! migrations (`DB_IAM_USER`), logged in as the admin, because only an account that exists with
//! the `AWSAuthenticationPlugin` can log in with a token.

use sqlx::{AssertSqlSafe, MySqlPool};

use crate::config::ConfigError;

/// An account name checked to be safe to splice into SQL: MySQL takes no bind parameters in
/// `CREATE USER` or `GRANT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamAccount(String);

#[derive(Debug, thiserror::Error)]
#[error("{action} for IAM account {account:?} failed: {source}")]
pub struct IamAccountError {
    pub action: &'static str,
    pub account: String,
    #[source]
    pub source: sqlx::Error,
}

impl IamAccount {
    /// 1 to 32 letters, digits or underscores (MySQL's user name limit).
    pub fn parse(name: &str) -> Result<IamAccount, ConfigError> {
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
    pub fn statements(&self, database: &str) -> [String; 2] {
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
    pub async fn ensure(&self, pool: &MySqlPool) -> Result<(), IamAccountError> {
        let fail = |action| {
            let account = self.0.clone();
            move |source| IamAccountError {
                action,
                account,
                source,
            }
        };
        let database: Option<String> = sqlx::query_scalar("SELECT DATABASE()")
            .fetch_one(pool)
            .await
            .map_err(fail("reading the current database"))?;
        let database = database.ok_or_else(|| IamAccountError {
            action: "finding the database to grant on",
            account: self.0.clone(),
            source: sqlx::Error::Configuration("the connection names no database".into()),
        })?;
        let [create, grant] = self.statements(&database);
        sqlx::query(AssertSqlSafe(create))
            .execute(pool)
            .await
            .map_err(fail("CREATE USER"))?;
        sqlx::query(AssertSqlSafe(grant))
            .execute(pool)
            .await
            .map_err(fail("GRANT"))?;
        Ok(())
    }
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
}
