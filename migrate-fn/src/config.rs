//! migrate's settings: the database it logs in to as the admin, read as ingest-fn reads its own
//! ([`Config`]) but with the admin's secret in `DB_ADMIN_SECRET_ARN`; the account it creates for
//! ingest-fn; the read-only account it creates and answers verify requests with; and the account
//! it creates for ingest-expire, when the stack runs the retention job.

use ingest::config::{Auth, Config, ConfigError, setting};
use sqlx::mysql::MySqlSslMode;

use crate::accounts::{IamAccount, Role};

/// The setting that names the admin's secret. Not ingest-fn's `DB_SECRET_ARN`: one name, one
/// account.
pub const ADMIN_SECRET_SETTING: &str = "DB_ADMIN_SECRET_ARN";

/// An account migrate creates, by how it logs in.
pub enum Account {
    Iam(IamAccount),
    /// The secret's ARN: read on every run, so a rotated password takes effect.
    Password(String),
}

impl Account {
    /// `role`'s account: its IAM setting or its secret setting ([`Role`]), not both, through
    /// `var`; a blank value counts as unset.
    pub fn from_lookup(
        role: Role,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Account>, ConfigError> {
        let get = |name: &str| setting(&var, name);
        let (iam, secret) = (role.iam_setting(), role.secret_setting());
        match (get(iam), get(secret)) {
            (Some(_), Some(_)) => Err(ConfigError {
                name: secret,
                reason: format!("set it or {iam}, not both"),
            }),
            (Some(name), None) => Ok(Some(Account::Iam(IamAccount::parse(role, &name)?))),
            (None, Some(arn)) => Ok(Some(Account::Password(arn))),
            (None, None) => Ok(None),
        }
    }
}

/// migrate's settings.
pub struct MigrateConfig {
    /// The database, and the admin's login to it.
    pub database: Config,
    /// ingest-fn's account, if migrate creates one.
    pub ingest_account: Option<Account>,
    /// The account verify requests read with. Without one, only `DATABASE_URL`'s account (a
    /// database of one's own, no admin secret) answers them.
    pub reader: Option<Account>,
    /// ingest-expire's account (`DB_EXPIRE_IAM_USER` or `DB_EXPIRE_SECRET_ARN`), if the stack
    /// runs the retention job. migrate never logs in as it, so, unlike the reader's, an IAM
    /// one needs no TLS of migrate's.
    pub expire: Option<Account>,
}

impl MigrateConfig {
    /// Each role's account as set, in the order migrate creates them.
    pub fn accounts(&self) -> [(Role, &Option<Account>); 3] {
        [
            (Role::Ingest, &self.ingest_account),
            (Role::Reader, &self.reader),
            (Role::Expire, &self.expire),
        ]
    }
}

/// The error for an account named twice: `name`, set for `role`, is already `taken_by`'s.
/// Sharing would grant one account both roles' privileges (the reader could write, ingest-fn
/// could delete). `setting` is the one that names it for `role`.
pub(crate) fn shared_account(
    setting: &'static str,
    name: &str,
    role: Role,
    taken_by: Role,
) -> ConfigError {
    ConfigError {
        name: setting,
        reason: format!(
            "{name:?} is already {} ({} or {}): {} must be an account of its own, with only its \
             own grants",
            taken_by.owner(),
            taken_by.iam_setting(),
            taken_by.secret_setting(),
            role.owner()
        ),
    }
}

impl MigrateConfig {
    /// Reads the settings through `var`, as [`Config::from_lookup`] does.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<MigrateConfig, ConfigError> {
        let config = MigrateConfig {
            database: Config::from_lookup_with_secret(&var, ADMIN_SECRET_SETTING)?,
            ingest_account: Account::from_lookup(Role::Ingest, &var)?,
            reader: Account::from_lookup(Role::Reader, &var)?,
            expire: Account::from_lookup(Role::Expire, &var)?,
        };
        // IAM names are known now; a password account's name is in its secret, checked when
        // migrate reads it (Migrate::ensure).
        let accounts = config.accounts();
        for (i, (role, account)) in accounts.iter().enumerate() {
            let Some(Account::Iam(account)) = account else {
                continue;
            };
            for (taken_by, earlier) in &accounts[..i] {
                if let Some(Account::Iam(earlier)) = earlier
                    && earlier.name() == account.name()
                {
                    return Err(shared_account(
                        role.iam_setting(),
                        account.name(),
                        *role,
                        *taken_by,
                    ));
                }
            }
        }
        // A token travels as a cleartext password, which only TLS makes safe (as ingest-fn's
        // own DB_IAM_AUTH requires).
        if matches!(config.reader, Some(Account::Iam(_)))
            && matches!(
                config.database.options.get_ssl_mode(),
                MySqlSslMode::Disabled | MySqlSslMode::Preferred
            )
        {
            return Err(ConfigError {
                name: "DB_TLS",
                reason: format!(
                    "an IAM reader ({}) logs in with a token, which needs required, verify-ca or \
                     verify-identity",
                    Role::Reader.iam_setting()
                ),
            });
        }
        Ok(config)
    }

    pub fn from_env() -> Result<MigrateConfig, ConfigError> {
        MigrateConfig::from_lookup(|k| std::env::var(k).ok())
    }

    /// Whether a login or an account needs the AWS SDK: a secret to read or a token to sign.
    pub fn needs_aws(&self) -> bool {
        self.database.auth != Auth::Url
            || matches!(self.ingest_account, Some(Account::Password(_)))
            || matches!(self.expire, Some(Account::Password(_)))
            || self.reader.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migrate_config(vars: &[(&str, &str)]) -> Result<MigrateConfig, ConfigError> {
        MigrateConfig::from_lookup(lambda_harness::lookup(vars))
    }

    #[test]
    fn migrate_reads_the_database_and_the_account_to_create() {
        let url = ("DATABASE_URL", "mysql://admin:p@127.0.0.1:3306/db");
        let c = migrate_config(&[url]).unwrap();
        assert!(c.ingest_account.is_none() && c.reader.is_none() && !c.needs_aws());
        let c = migrate_config(&[url, ("DB_IAM_USER", " ingest_iam ")]).unwrap();
        assert!(matches!(&c.ingest_account, Some(Account::Iam(a)) if a.name() == "ingest_iam"));
        assert!(!c.needs_aws(), "an IAM account is created with SQL alone");
        let arn = "arn:aws:secretsmanager:r:1:secret:ingest";
        let c =
            migrate_config(&[url, ("DB_INGEST_SECRET_ARN", arn), ("DB_IAM_USER", " ")]).unwrap();
        assert!(matches!(&c.ingest_account, Some(Account::Password(a)) if a == arn));
        assert!(c.needs_aws(), "the account's password is in the secret");
        let admin = [("DB_HOST", "h"), ("DB_NAME", "n")];
        let c = migrate_config(&[&admin[..], &[("DB_ADMIN_SECRET_ARN", arn)]].concat()).unwrap();
        assert_eq!(c.database.auth, Auth::Secret { arn: arn.into() });
        assert!(c.needs_aws(), "the admin's password is in the secret");
    }

    // DB_SECRET_ARN is ingest-fn's own account's secret; migrate's admin is DB_ADMIN_SECRET_ARN.
    #[test]
    fn the_admin_secret_is_db_admin_secret_arn_not_ingest_fns_db_secret_arn() {
        let arn = "arn:aws:secretsmanager:r:1:secret:admin";
        let admin = [("DB_HOST", "h"), ("DB_NAME", "n")];
        let e = migrate_config(&[&admin[..], &[("DB_SECRET_ARN", arn)]].concat())
            .err()
            .unwrap();
        assert_eq!(e.name, "DB_ADMIN_SECRET_ARN");
        assert!(
            e.reason
                .contains("set DB_ADMIN_SECRET_ARN or DB_IAM_AUTH=true"),
            "{e}"
        );
        let both = [
            ("DB_ADMIN_SECRET_ARN", arn),
            ("DB_IAM_AUTH", "true"),
            ("DB_USER", "u"),
        ];
        let e = migrate_config(&[&admin[..], &both].concat()).err().unwrap();
        assert_eq!(e.name, "DB_ADMIN_SECRET_ARN");
    }

    #[test]
    fn the_reader_is_an_iam_account_or_a_password_account_of_its_own() {
        let tls = [
            ("DATABASE_URL", "mysql://admin:p@127.0.0.1:3306/db"),
            ("DB_TLS", "verify-identity"),
        ];
        let with = |vars: &[(&str, &str)]| migrate_config(&[&tls[..], vars].concat());
        let c = with(&[("DB_READER_IAM_USER", "ingest_reader")]).unwrap();
        assert!(matches!(&c.reader, Some(Account::Iam(a)) if a.name() == "ingest_reader"));
        assert!(c.needs_aws(), "verify signs a token for the reader");
        let arn = "arn:aws:secretsmanager:r:1:secret:reader";
        let c = with(&[("DB_READER_SECRET_ARN", arn)]).unwrap();
        assert!(matches!(&c.reader, Some(Account::Password(a)) if a == arn));
        assert!(c.needs_aws(), "the reader's password is in the secret");
        let c = with(&[
            ("DB_IAM_USER", "ingest_fn"),
            ("DB_READER_IAM_USER", "ingest_reader"),
        ])
        .unwrap();
        assert!(c.ingest_account.is_some() && c.reader.is_some());
    }

    // Set only when the stack runs the retention job: without it, no account is created.
    #[test]
    fn the_expire_account_is_an_iam_account_or_a_password_account_of_its_own() {
        let url = ("DATABASE_URL", "mysql://admin:p@127.0.0.1:3306/db");
        let c = migrate_config(&[url]).unwrap();
        assert!(c.expire.is_none());
        // migrate never logs in as it: an IAM account needs no TLS setting and no AWS.
        let c = migrate_config(&[url, ("DB_EXPIRE_IAM_USER", " ingest_expire ")]).unwrap();
        assert!(matches!(&c.expire, Some(Account::Iam(a)) if a.name() == "ingest_expire"));
        assert!(!c.needs_aws(), "an IAM account is created with SQL alone");
        let arn = "arn:aws:secretsmanager:r:1:secret:expire";
        let c = migrate_config(&[url, ("DB_EXPIRE_SECRET_ARN", arn)]).unwrap();
        assert!(matches!(&c.expire, Some(Account::Password(a)) if a == arn));
        assert!(c.needs_aws(), "the account's password is in the secret");
        let all = migrate_config(&[
            url,
            ("DB_TLS", "required"),
            ("DB_IAM_USER", "ingest_fn"),
            ("DB_READER_IAM_USER", "ingest_reader"),
            ("DB_EXPIRE_IAM_USER", "ingest_expire"),
        ])
        .unwrap();
        let roles: Vec<Role> = all
            .accounts()
            .iter()
            .filter(|(_, a)| a.is_some())
            .map(|(r, _)| *r)
            .collect();
        assert_eq!(roles, [Role::Ingest, Role::Reader, Role::Expire]);
    }

    // One account with two roles' grants: ingest-fn could delete, or the reader could.
    #[test]
    fn the_expire_account_is_neither_ingest_fns_nor_the_readers() {
        let base = [
            ("DATABASE_URL", "mysql://h/db"),
            ("DB_TLS", "required"),
            ("DB_EXPIRE_IAM_USER", "shared"),
        ];
        for other in ["DB_IAM_USER", "DB_READER_IAM_USER"] {
            let e = migrate_config(&[&base[..], &[(other, "shared")]].concat())
                .err()
                .unwrap();
            assert_eq!(e.name, "DB_EXPIRE_IAM_USER", "{other}: {e}");
            assert!(e.reason.contains(other), "{other}: {e}");
            assert!(e.reason.contains("ingest-expire's account"), "{e}");
        }
        let e = migrate_config(&[
            ("DATABASE_URL", "mysql://h/db"),
            ("DB_EXPIRE_IAM_USER", "x"),
            ("DB_EXPIRE_SECRET_ARN", "arn"),
        ])
        .err()
        .unwrap();
        assert_eq!(e.name, "DB_EXPIRE_SECRET_ARN");
        let e = migrate_config(&[
            ("DATABASE_URL", "mysql://h/db"),
            ("DB_EXPIRE_IAM_USER", "a-b"),
        ])
        .err()
        .unwrap();
        assert_eq!(e.name, "DB_EXPIRE_IAM_USER");
    }

    #[test]
    fn migrate_errors_name_the_setting() {
        let name = |vars: &[(&str, &str)]| migrate_config(vars).err().unwrap().name;
        let url = ("DATABASE_URL", "mysql://h/db");
        assert_eq!(name(&[]), "DB_HOST");
        assert_eq!(name(&[url, ("DB_POOL_MAX", "0")]), "DB_POOL_MAX");
        assert_eq!(
            name(&[url, ("DB_IAM_USER", "u"), ("DB_INGEST_SECRET_ARN", "arn")]),
            "DB_INGEST_SECRET_ARN"
        );
        assert_eq!(name(&[url, ("DB_IAM_USER", "no-dashes")]), "DB_IAM_USER");
        assert_eq!(
            name(&[
                url,
                ("DB_READER_IAM_USER", "r"),
                ("DB_READER_SECRET_ARN", "arn")
            ]),
            "DB_READER_SECRET_ARN"
        );
        assert_eq!(
            name(&[
                url,
                ("DB_TLS", "required"),
                ("DB_READER_IAM_USER", "no-dashes")
            ]),
            "DB_READER_IAM_USER"
        );
        // The reader's token needs TLS; ingest-fn's account is no reader.
        assert_eq!(name(&[url, ("DB_READER_IAM_USER", "reader")]), "DB_TLS");
        let e = migrate_config(&[
            url,
            ("DB_TLS", "required"),
            ("DB_IAM_USER", "ingest_fn"),
            ("DB_READER_IAM_USER", "ingest_fn"),
        ])
        .err()
        .unwrap();
        assert_eq!(e.name, "DB_READER_IAM_USER");
        assert!(e.reason.contains("DB_IAM_USER"), "{e}");
    }
}
