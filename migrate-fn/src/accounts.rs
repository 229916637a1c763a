//! The least-privilege MySQL accounts `migrate` creates after the migrations, logged in as the
//! admin: ingest-fn's (SELECT, INSERT on the events table), the reader that answers verify
//! requests (SELECT only), and ingest-expire's (SELECT, DELETE: it reads a chunk, archives it,
//! deletes it), so that no function holds the admin's credentials for its work. Each is an account for RDS IAM tokens (only an account that exists with the
//! `AWSAuthenticationPlugin` can log in with a token), or a password account from its own
//! Secrets Manager secret.

use ingest::config::ConfigError;
use sqlx::{AssertSqlSafe, MySqlPool};

/// Whom an account is for: what it may do on the events table, and the settings that name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// ingest-fn's account: INSERT for writes, SELECT for reads of its own rows.
    Ingest,
    /// The account verify requests read with (`ingest-load --verify-function`).
    Reader,
    /// ingest-expire's account: SELECT to find and archive a chunk, DELETE to expire it; never
    /// INSERT or UPDATE, so the retention job cannot change what it keeps.
    Expire,
}

impl Role {
    /// What the account is granted on the events table, and nothing else.
    pub fn privileges(self) -> &'static str {
        match self {
            Role::Ingest => "SELECT, INSERT",
            Role::Reader => "SELECT",
            Role::Expire => "SELECT, DELETE",
        }
    }

    /// Whose account this is, for messages.
    pub fn owner(self) -> &'static str {
        match self {
            Role::Ingest => "ingest-fn's account, which may insert",
            Role::Reader => "the reader, which verify requests read with",
            Role::Expire => "ingest-expire's account, which may delete",
        }
    }

    /// The setting that names an IAM account of this role.
    pub fn iam_setting(self) -> &'static str {
        match self {
            Role::Ingest => "DB_IAM_USER",
            Role::Reader => "DB_READER_IAM_USER",
            Role::Expire => "DB_EXPIRE_IAM_USER",
        }
    }

    /// The setting that names the secret of a password account of this role.
    pub fn secret_setting(self) -> &'static str {
        match self {
            Role::Ingest => "DB_INGEST_SECRET_ARN",
            Role::Reader => "DB_READER_SECRET_ARN",
            Role::Expire => "DB_EXPIRE_SECRET_ARN",
        }
    }
}

/// An IAM account: a name checked to be safe to splice into SQL (MySQL takes no bind
/// parameters in `CREATE USER` or `GRANT`), and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamAccount {
    name: String,
    role: Role,
}

#[derive(Debug, thiserror::Error)]
#[error("{action} for {kind} account {account:?} failed: {source}")]
pub struct AccountError {
    pub action: &'static str,
    /// `IAM` or `password`.
    pub kind: &'static str,
    pub account: String,
    #[source]
    pub source: sqlx::Error,
}

/// `name` as an account name: 1 to 32 letters, digits or underscores (MySQL's user name
/// limit). An error names `setting`.
fn account_name(setting: &'static str, name: &str) -> Result<String, ConfigError> {
    let ok = (1..=32).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(name.to_owned())
    } else {
        Err(ConfigError {
            name: setting,
            reason: format!("{name:?} is not 1 to 32 letters, digits or underscores"),
        })
    }
}

impl IamAccount {
    /// The `role` account named `name` ([`Role::iam_setting`]'s value).
    pub fn parse(role: Role, name: &str) -> Result<IamAccount, ConfigError> {
        Ok(IamAccount {
            name: account_name(role.iam_setting(), name)?,
            role,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Idempotent: creates the account if missing and grants its role's privileges on the
    /// events table.
    pub(crate) fn statements(&self, database: &str) -> [String; 2] {
        let user = &self.name;
        let database = database.replace('`', "``");
        [
            format!(
                "CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL"
            ),
            grant(self.role, &database, user),
        ]
    }

    /// Runs [`IamAccount::statements`] against the pool's current database.
    pub(crate) async fn ensure(&self, pool: &MySqlPool) -> Result<(), AccountError> {
        let database = current_database(pool, &self.name).await?;
        let statements = self.statements(&database);
        run_statements(
            pool,
            "IAM",
            &self.name,
            statements.into_iter().zip(["CREATE USER", "GRANT"]),
            None,
        )
        .await
    }
}

/// The role's privileges on the events table of `database` (its backticks already doubled).
fn grant(role: Role, database: &str, user: &str) -> String {
    format!(
        "GRANT {} ON `{database}`.`events` TO '{user}'@'%'",
        role.privileges()
    )
}

/// A password account (`dbAuth=secret`): its name and password come from its own secret.
/// Deliberately not `Debug`: it holds the password.
pub(crate) struct PasswordAccount {
    name: String,
    password: String,
    role: Role,
}

impl PasswordAccount {
    /// The name as [`IamAccount::parse`] takes it; the password 16 to 128 printable ASCII
    /// characters without quotes, backslashes or spaces (the infra's generated secrets exclude
    /// them), because `IDENTIFIED BY` takes no bind parameter either. Errors name the role's
    /// secret setting.
    pub(crate) fn new(
        role: Role,
        name: &str,
        password: &str,
    ) -> Result<PasswordAccount, ConfigError> {
        let setting = role.secret_setting();
        let name = account_name(setting, name).map_err(|e| ConfigError {
            name: setting,
            reason: format!("the secret's username: {}", e.reason),
        })?;
        let ok = (16..=128).contains(&password.len())
            && password
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'\'' | b'\\' | b'"' | b'`'));
        if !ok {
            return Err(ConfigError {
                name: setting,
                reason: format!(
                    "the password of account {name:?} is not 16 to 128 printable ASCII characters \
                     without quotes, backslashes or spaces"
                ),
            });
        }
        Ok(PasswordAccount {
            name,
            password: password.to_owned(),
            role,
        })
    }

    /// Idempotent: creates the account if missing, sets its password to the secret's (so a
    /// rotated secret takes effect on the next migrate), and grants its role's privileges on
    /// the events table.
    pub(crate) fn statements(&self, database: &str) -> [String; 3] {
        let (user, password) = (&self.name, &self.password);
        let database = database.replace('`', "``");
        [
            format!(
                "CREATE USER IF NOT EXISTS '{user}'@'%' IDENTIFIED BY '{password}' REQUIRE SSL"
            ),
            format!("ALTER USER '{user}'@'%' IDENTIFIED BY '{password}' REQUIRE SSL"),
            grant(self.role, &database, user),
        ]
    }

    /// Runs [`PasswordAccount::statements`] against the pool's current database. Errors name the
    /// account and the statement, never the password.
    pub(crate) async fn ensure(&self, pool: &MySqlPool) -> Result<(), AccountError> {
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
) -> Result<(), AccountError> {
    for (sql, action) in statements {
        sqlx::query(AssertSqlSafe(sql))
            .execute(pool)
            .await
            .map_err(|source| AccountError {
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

async fn current_database(pool: &MySqlPool, account: &str) -> Result<String, AccountError> {
    let database: Option<String> = sqlx::query_scalar("SELECT DATABASE()")
        .fetch_one(pool)
        .await
        .map_err(|source| AccountError {
            action: "reading the current database",
            kind: "database",
            account: account.to_owned(),
            source,
        })?;
    database.ok_or_else(|| AccountError {
        action: "finding the database to grant on",
        kind: "database",
        account: account.to_owned(),
        source: sqlx::Error::Configuration("the connection names no database".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_ROLES: [Role; 3] = [Role::Ingest, Role::Reader, Role::Expire];

    #[test]
    fn statements_create_a_token_account_with_table_grants() {
        let account = IamAccount::parse(Role::Ingest, "ingest_fn").unwrap();
        assert_eq!(
            account.statements("ingest"),
            [
                "CREATE USER IF NOT EXISTS 'ingest_fn'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL".to_owned(),
                "GRANT SELECT, INSERT ON `ingest`.`events` TO 'ingest_fn'@'%'".to_owned(),
            ]
        );
        assert!(account.statements("we`ird")[1].contains("`we``ird`.`events`"));
    }

    // The reader answers verify requests: it may read the events table and nothing else.
    #[test]
    fn the_reader_is_granted_select_on_the_events_table_only() {
        let account = IamAccount::parse(Role::Reader, "ingest_reader").unwrap();
        assert_eq!(
            account.statements("ingest"),
            [
                "CREATE USER IF NOT EXISTS 'ingest_reader'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL".to_owned(),
                "GRANT SELECT ON `ingest`.`events` TO 'ingest_reader'@'%'".to_owned(),
            ]
        );
        let account =
            PasswordAccount::new(Role::Reader, "ingest_reader_pw", "Abcdefgh12345678-_=.,^")
                .unwrap();
        assert_eq!(
            account.statements("ingest")[2],
            "GRANT SELECT ON `ingest`.`events` TO 'ingest_reader_pw'@'%'"
        );
    }

    // ingest-expire deletes old events: it may read and delete them, never insert or update.
    #[test]
    fn the_expire_account_is_granted_select_and_delete_on_the_events_table_only() {
        let account = IamAccount::parse(Role::Expire, "ingest_expire").unwrap();
        assert_eq!(
            account.statements("ingest"),
            [
                "CREATE USER IF NOT EXISTS 'ingest_expire'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL".to_owned(),
                "GRANT SELECT, DELETE ON `ingest`.`events` TO 'ingest_expire'@'%'".to_owned(),
            ]
        );
        let account =
            PasswordAccount::new(Role::Expire, "ingest_expire_pw", "Abcdefgh12345678-_=.,^")
                .unwrap();
        let statements = account.statements("ingest");
        assert_eq!(
            statements[2],
            "GRANT SELECT, DELETE ON `ingest`.`events` TO 'ingest_expire_pw'@'%'"
        );
        assert!(statements[0].ends_with("REQUIRE SSL"), "{}", statements[0]);
        assert_eq!(
            (Role::Expire.iam_setting(), Role::Expire.secret_setting()),
            ("DB_EXPIRE_IAM_USER", "DB_EXPIRE_SECRET_ARN")
        );
    }

    #[test]
    fn names_that_could_break_out_of_the_quotes_are_refused() {
        for bad in ["", "a'b", "a b", "x;DROP", "ingest-fn", &"a".repeat(33)] {
            for role in ALL_ROLES {
                let e = IamAccount::parse(role, bad).unwrap_err();
                assert_eq!(e.name, role.iam_setting(), "{bad:?}");
                assert!(e.reason.contains(&format!("{bad:?}")), "{}", e.reason);
            }
        }
        assert_eq!(
            IamAccount::parse(Role::Ingest, "Ingest_2").unwrap().name(),
            "Ingest_2"
        );
    }

    #[test]
    fn a_password_account_gets_its_secret_password_and_only_the_events_table() {
        let account =
            PasswordAccount::new(Role::Ingest, "ingest_fn_pw", "Abcdefgh12345678-_=.,^").unwrap();
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
            for role in ALL_ROLES {
                let e = PasswordAccount::new(role, "ingest_fn_pw", bad)
                    .err()
                    .unwrap();
                assert_eq!(e.name, role.secret_setting(), "{bad:?}");
                assert!(!e.reason.contains(bad), "{}", e.reason);
            }
        }
        let e = PasswordAccount::new(Role::Ingest, "ingest-fn", "Abcdefgh12345678")
            .err()
            .unwrap();
        assert!(e.reason.contains("username"), "{}", e.reason);
        assert_eq!(e.name, "DB_INGEST_SECRET_ARN");
    }
}
