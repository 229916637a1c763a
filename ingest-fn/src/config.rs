//! Where the database is and how to log in: `DATABASE_URL` locally; in AWS `DB_HOST`, `DB_PORT`,
//! `DB_NAME`, `DB_USER` with either a Secrets Manager secret or IAM authentication.

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use emf::{EmfError, Emitter};
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("setting {name}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub reason: String,
}

fn err(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        name,
        reason: reason.into(),
    }
}

/// Setting `name`'s `value` as a whole number within `range`.
fn whole_number<T>(
    name: &'static str,
    value: &str,
    range: RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + std::fmt::Display,
{
    value
        .parse::<T>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            err(
                name,
                format!(
                    "{value:?} is not a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )
        })
}

/// How the function logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// The password, if any, is in `DATABASE_URL`.
    Url,
    /// A Secrets Manager secret holding JSON with `username` and `password`, read once per
    /// execution environment.
    Secret { arn: String },
    /// RDS IAM authentication tokens, renewed before their 15 minutes run out.
    Iam,
}

impl Auth {
    /// True when logging in takes AWS credentials (Secrets Manager, an IAM token): the caller
    /// then loads the AWS configuration once and hands it to the store.
    pub fn needs_aws(&self) -> bool {
        !matches!(self, Auth::Url)
    }
}

/// Where the database is and how to log in. Deliberately not `Debug`: the options may hold a
/// password.
#[derive(Clone)]
pub struct Config {
    pub options: MySqlConnectOptions,
    pub auth: Auth,
    /// `DB_USER`; a secret's `username` fills it when unset.
    pub user: Option<String>,
    /// Connections per execution environment: `DB_POOL_MAX`, else 1, for the one invocation an
    /// environment runs at a time.
    pub pool_max: u32,
    /// Bounds getting a usable connection: a free pool slot, TCP, TLS and login. What a queued
    /// delivery (SQS, Kinesis, a direct invoke) waits, each attempt of its write.
    pub connect_timeout: Duration,
    /// The same bound for an HTTP request (`DB_HTTP_CONNECT_TIMEOUT_MS`), over all its attempts,
    /// and for the first connection during init: a caller is waiting for the answer, which is a
    /// 503 with `Retry-After` when no connection came in time. At most `connect_timeout`.
    pub http_connect_timeout: Duration,
    /// Bounds one write's round trip. A connection that went silent while the environment was
    /// frozen (no reset, no FIN) would otherwise hang the write until the function times out.
    pub write_timeout: Duration,
}

/// A duration setting in milliseconds, from 10 ms to a minute (well below Lambda's timeout).
fn millis(
    name: &'static str,
    value: Option<String>,
    default_ms: u64,
) -> Result<Duration, ConfigError> {
    let Some(v) = value else {
        return Ok(Duration::from_millis(default_ms));
    };
    whole_number(name, &v, 10..=60_000).map(Duration::from_millis)
}

/// `DB_HTTP_CONNECT_TIMEOUT_MS`'s default: an HTTP caller hears within a few seconds that the
/// database is not there yet (as while an Aurora Serverless v2 instance resumes from auto-pause,
/// "approximately 15 seconds", "30 seconds or longer" after a pause of more than a day:
/// https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html#auto-pause-resuming),
/// while a new connection to a running server (TCP, TLS, login) takes well under a second.
const HTTP_CONNECT_TIMEOUT_MS: u64 = 3_000;

/// `DB_HTTP_CONNECT_TIMEOUT_MS`: at most `DB_CONNECT_TIMEOUT_MS` (`connect`), which also caps the
/// default; a longer HTTP wait than the queued sources' would make no sense.
fn http_connect_timeout(value: Option<String>, connect: Duration) -> Result<Duration, ConfigError> {
    const NAME: &str = "DB_HTTP_CONNECT_TIMEOUT_MS";
    let default = Duration::from_millis(HTTP_CONNECT_TIMEOUT_MS).min(connect);
    let wait = millis(NAME, value, default.as_millis() as u64)?;
    if wait > connect {
        return Err(err(
            NAME,
            format!(
                "{} ms is longer than DB_CONNECT_TIMEOUT_MS ({} ms): an HTTP caller waits at most \
                 as long as a queued delivery",
                wait.as_millis(),
                connect.as_millis()
            ),
        ));
    }
    Ok(wait)
}

fn tls_mode(value: &str) -> Result<MySqlSslMode, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "disabled" => Ok(MySqlSslMode::Disabled),
        "preferred" => Ok(MySqlSslMode::Preferred),
        "required" => Ok(MySqlSslMode::Required),
        "verify-ca" => Ok(MySqlSslMode::VerifyCa),
        "verify-identity" => Ok(MySqlSslMode::VerifyIdentity),
        other => Err(err(
            "DB_TLS",
            format!(
                "{other:?} is not one of disabled, preferred, required, verify-ca, verify-identity"
            ),
        )),
    }
}

/// The setting that names the secret ingest-fn logs in with: its own account's.
pub const SECRET_SETTING: &str = "DB_SECRET_ARN";

impl Config {
    /// Reads the configuration through `var`, which returns a variable's value if it is set; a
    /// blank value counts as unset.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        Config::from_lookup_with_secret(var, SECRET_SETTING)
    }

    /// The same, with the secret in setting `secret` instead of [`SECRET_SETTING`]: migrate
    /// reads the admin's from its own (`DB_ADMIN_SECRET_ARN`), so that no one variable name
    /// means two accounts.
    pub fn from_lookup_with_secret(
        var: impl Fn(&str) -> Option<String>,
        secret: &'static str,
    ) -> Result<Config, ConfigError> {
        let get = |name: &str| setting(&var, name);
        let pool_max = match get("DB_POOL_MAX") {
            None => 1,
            Some(v) => whole_number("DB_POOL_MAX", &v, 1..=POOL_MAX)?,
        };
        let connect_timeout = millis("DB_CONNECT_TIMEOUT_MS", get("DB_CONNECT_TIMEOUT_MS"), 3_000)?;
        let http_connect_timeout =
            http_connect_timeout(get("DB_HTTP_CONNECT_TIMEOUT_MS"), connect_timeout)?;
        let write_timeout = millis("DB_WRITE_TIMEOUT_MS", get("DB_WRITE_TIMEOUT_MS"), 5_000)?;
        let (options, auth, user) = match get("DATABASE_URL") {
            Some(url) => (database_url(&url)?, Auth::Url, None),
            None => rds(&get, secret)?,
        };
        let options = tls(options, &auth, get("DB_TLS"), get("DB_CA_BUNDLE"))?;
        Ok(Config {
            options,
            auth,
            user,
            pool_max,
            connect_timeout,
            http_connect_timeout,
            write_timeout,
        })
    }

    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// [`metrics`] from the environment.
    pub fn metrics_from_env() -> Result<Emitter, ConfigError> {
        metrics(|k| std::env::var(k).ok())
    }
}

/// Where the metrics go: `METRICS_NAMESPACE` (`LambdaRdsIngest` when unset), with the
/// `FunctionName` dimension from `AWS_LAMBDA_FUNCTION_NAME`, which Lambda sets (`ingest-fn`
/// when unset, as it is for local tools).
pub fn metrics(var: impl Fn(&str) -> Option<String>) -> Result<Emitter, ConfigError> {
    let get = |name: &str| setting(&var, name);
    let namespace = get("METRICS_NAMESPACE").unwrap_or_else(|| emf::DEFAULT_NAMESPACE.into());
    let function = get("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| "ingest-fn".into());
    Emitter::stdout(&namespace, &function).map_err(|e| match e {
        EmfError::Namespace { .. } => err("METRICS_NAMESPACE", e.to_string()),
        e => err("AWS_LAMBDA_FUNCTION_NAME", e.to_string()),
    })
}

/// A setting through `var`, trimmed; a blank value counts as unset.
pub fn setting(var: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    var(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The most connections one execution environment may hold (`DB_POOL_MAX`).
const POOL_MAX: u32 = 100;

/// `DATABASE_URL`: `mysql://` or `mariadb://`. It may hold a password: never repeated in an
/// error.
fn database_url(url: &str) -> Result<MySqlConnectOptions, ConfigError> {
    let invalid = || {
        err(
            "DATABASE_URL",
            "not a valid mysql://user:password@host:port/database URL",
        )
    };
    if !(url.starts_with("mysql://") || url.starts_with("mariadb://")) {
        return Err(invalid());
    }
    MySqlConnectOptions::from_str(url).map_err(|_| invalid())
}

/// The database in AWS: `DB_HOST`, `DB_PORT`, `DB_NAME`, `DB_USER`, and how to log in: the
/// secret in setting `secret`, or IAM. TLS defaults to verify-identity.
fn rds(
    get: &impl Fn(&str) -> Option<String>,
    secret: &'static str,
) -> Result<(MySqlConnectOptions, Auth, Option<String>), ConfigError> {
    let host =
        get("DB_HOST").ok_or_else(|| err("DB_HOST", "required when DATABASE_URL is not set"))?;
    let port = match get("DB_PORT") {
        None => 3306,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| err("DB_PORT", format!("{p:?} is not a port number")))?,
    };
    let name =
        get("DB_NAME").ok_or_else(|| err("DB_NAME", "required when DATABASE_URL is not set"))?;
    let user = get("DB_USER");
    let auth = auth(secret, get(secret), iam_auth(get("DB_IAM_AUTH"))?, &user)?;
    let mut options = MySqlConnectOptions::new()
        .host(&host)
        .port(port)
        .database(&name)
        .ssl_mode(MySqlSslMode::VerifyIdentity)
        // RDS IAM tokens travel as a cleartext password, which only TLS makes safe.
        .enable_cleartext_plugin(auth == Auth::Iam);
    if let Some(u) = &user {
        options = options.username(u);
    }
    Ok((options, auth, user))
}

/// `DB_IAM_AUTH`: true or false.
fn iam_auth(value: Option<String>) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(err(
            "DB_IAM_AUTH",
            format!("{other:?} is not true or false"),
        )),
    }
}

/// Exactly one of a secret (`secret_arn`, from setting `setting`) and IAM authentication; IAM
/// needs `DB_USER`.
fn auth(
    setting: &'static str,
    secret_arn: Option<String>,
    iam: bool,
    user: &Option<String>,
) -> Result<Auth, ConfigError> {
    match (secret_arn, iam) {
        (Some(_), true) => Err(err(
            setting,
            format!("set {setting} or DB_IAM_AUTH=true, not both"),
        )),
        (Some(arn), false) => Ok(Auth::Secret { arn }),
        (None, true) if user.is_none() => Err(err("DB_USER", "required with DB_IAM_AUTH=true")),
        (None, true) => Ok(Auth::Iam),
        (None, false) => Err(err(setting, format!("set {setting} or DB_IAM_AUTH=true"))),
    }
}

/// `DB_TLS` and `DB_CA_BUNDLE` over the defaults; IAM tokens only over TLS.
fn tls(
    mut options: MySqlConnectOptions,
    auth: &Auth,
    mode: Option<String>,
    ca_bundle: Option<String>,
) -> Result<MySqlConnectOptions, ConfigError> {
    if let Some(v) = mode {
        options = options.ssl_mode(tls_mode(&v)?);
    }
    if let Some(path) = ca_bundle {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(err(
                "DB_CA_BUNDLE",
                format!("{} is not a readable file", path.display()),
            ));
        }
        options = options.ssl_ca(path);
    }
    if *auth == Auth::Iam
        && matches!(
            options.get_ssl_mode(),
            MySqlSslMode::Disabled | MySqlSslMode::Preferred
        )
    {
        return Err(err(
            "DB_TLS",
            "IAM authentication needs required, verify-ca or verify-identity",
        ));
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(lambda_harness::lookup(vars))
    }

    #[test]
    fn metrics_namespace_and_function_name() {
        let m = metrics(lambda_harness::lookup(&[])).unwrap();
        assert_eq!(
            (m.namespace(), m.function_name()),
            ("LambdaRdsIngest", "ingest-fn")
        );
        let m = metrics(lambda_harness::lookup(&[
            ("METRICS_NAMESPACE", " Ingest/Prod "),
            ("AWS_LAMBDA_FUNCTION_NAME", "stack-IngestFunction-1A2B"),
        ]))
        .unwrap();
        assert_eq!(
            (m.namespace(), m.function_name()),
            ("Ingest/Prod", "stack-IngestFunction-1A2B")
        );
        let e = metrics(lambda_harness::lookup(&[(
            "METRICS_NAMESPACE",
            "AWS/Lambda",
        )]))
        .unwrap_err();
        assert_eq!(e.name, "METRICS_NAMESPACE");
        assert!(e.reason.contains("reserved"), "{e}");
    }

    #[test]
    fn local_url() {
        let c = config(&[("DATABASE_URL", "mysql://u:p@127.0.0.1:3306/db")]).unwrap();
        assert_eq!(c.auth, Auth::Url);
        assert_eq!(
            (c.pool_max, c.connect_timeout, c.write_timeout),
            (1, Duration::from_secs(3), Duration::from_secs(5))
        );
        assert_eq!(c.http_connect_timeout, Duration::from_secs(3));
        let c = config(&[
            ("DATABASE_URL", "mysql://u:p@127.0.0.1:3306/db"),
            ("DB_CONNECT_TIMEOUT_MS", "250"),
            ("DB_WRITE_TIMEOUT_MS", "750"),
        ])
        .unwrap();
        assert_eq!(
            (c.connect_timeout, c.write_timeout),
            (Duration::from_millis(250), Duration::from_millis(750))
        );
        assert_eq!(c.options.get_database(), Some("db"));
    }

    #[test]
    fn aws_defaults_to_verify_identity() {
        let c = config(&[
            ("DB_HOST", "db.example"),
            ("DB_NAME", "ingest"),
            ("DB_USER", "ingest"),
            ("DB_IAM_AUTH", "true"),
        ])
        .unwrap();
        assert_eq!(c.auth, Auth::Iam);
        assert!(matches!(
            c.options.get_ssl_mode(),
            MySqlSslMode::VerifyIdentity
        ));
        let c = config(&[
            ("DB_HOST", "h"),
            ("DB_NAME", "n"),
            ("DB_SECRET_ARN", "arn:aws:secretsmanager:r:1:secret:x"),
            ("DB_TLS", "required"),
            ("DB_POOL_MAX", "4"),
        ])
        .unwrap();
        assert_eq!(
            c.auth,
            Auth::Secret {
                arn: "arn:aws:secretsmanager:r:1:secret:x".into()
            }
        );
        assert!(matches!(c.options.get_ssl_mode(), MySqlSslMode::Required));
        assert_eq!(c.pool_max, 4);
    }

    // One invocation at a time per environment (docs/decisions/managed-instances-removed.md):
    // one connection unless DB_POOL_MAX says otherwise; AWS_LAMBDA_MAX_CONCURRENCY, which only
    // Managed Instances set, is not read.
    #[test]
    fn the_pool_is_one_connection_unless_db_pool_max_says() {
        let url = ("DATABASE_URL", "mysql://u:p@127.0.0.1:3306/db");
        let size = |vars: &[(&str, &str)]| config(&[&[url][..], vars].concat()).map(|c| c.pool_max);
        assert_eq!(size(&[]), Ok(1));
        assert_eq!(size(&[("AWS_LAMBDA_MAX_CONCURRENCY", "16")]), Ok(1));
        assert_eq!(size(&[("DB_POOL_MAX", "100")]), Ok(100));
        for bad in ["0", "101", "eight", "-1"] {
            let e = size(&[("DB_POOL_MAX", bad)]).unwrap_err();
            assert_eq!(e.name, "DB_POOL_MAX");
            assert!(e.reason.contains(&format!("{bad:?}")), "{}", e.reason);
        }
    }

    #[test]
    fn errors_name_the_setting_and_never_the_password() {
        let name = |vars: &[(&str, &str)]| config(vars).err().unwrap().name;
        let e = config(&[("DATABASE_URL", "postgres://u:s3cret@h/db")])
            .err()
            .unwrap();
        assert_eq!(e.name, "DATABASE_URL");
        assert!(!e.to_string().contains("s3cret"));
        assert_eq!(name(&[]), "DB_HOST");
        assert_eq!(name(&[("DB_HOST", "h")]), "DB_NAME");
        assert_eq!(name(&[("DB_HOST", "h"), ("DB_NAME", "n")]), "DB_SECRET_ARN");
        assert_eq!(
            name(&[("DB_HOST", "h"), ("DB_NAME", "n"), ("DB_IAM_AUTH", "true")]),
            "DB_USER"
        );
        assert_eq!(
            name(&[
                ("DB_HOST", "h"),
                ("DB_NAME", "n"),
                ("DB_USER", "u"),
                ("DB_IAM_AUTH", "true"),
                ("DB_TLS", "preferred")
            ]),
            "DB_TLS"
        );
        assert_eq!(
            name(&[("DATABASE_URL", "mysql://h/db"), ("DB_TLS", "sometimes")]),
            "DB_TLS"
        );
        assert_eq!(
            name(&[("DATABASE_URL", "mysql://h/db"), ("DB_POOL_MAX", "0")]),
            "DB_POOL_MAX"
        );
        assert_eq!(
            name(&[
                ("DATABASE_URL", "mysql://h/db"),
                ("DB_CA_BUNDLE", "/nonexistent.pem")
            ]),
            "DB_CA_BUNDLE"
        );
        for setting in ["DB_CONNECT_TIMEOUT_MS", "DB_WRITE_TIMEOUT_MS"] {
            for bad in ["0", "5", "60001", "soon"] {
                let e = config(&[("DATABASE_URL", "mysql://h/db"), (setting, bad)])
                    .err()
                    .unwrap();
                assert_eq!(e.name, setting);
                assert!(e.reason.contains(&format!("{bad:?}")), "{}", e.reason);
            }
        }
    }

    // An HTTP caller waits a few seconds for a connection, a queued delivery up to the whole
    // DB_CONNECT_TIMEOUT_MS (30 s where an Aurora cluster may pause, "connection timeouts to 30
    // seconds or more":
    // https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-serverless-v2-auto-pause.html#auto-pause-resuming).
    #[test]
    fn http_requests_wait_for_a_connection_less_than_queued_deliveries() {
        let url = ("DATABASE_URL", "mysql://u:p@127.0.0.1:3306/db");
        let waits = |vars: &[(&str, &str)]| {
            let c = config(&[&[url][..], vars].concat()).unwrap();
            (
                c.connect_timeout.as_millis(),
                c.http_connect_timeout.as_millis(),
            )
        };
        assert_eq!(waits(&[]), (3_000, 3_000));
        assert_eq!(
            waits(&[("DB_CONNECT_TIMEOUT_MS", "30000")]),
            (30_000, 3_000)
        );
        assert_eq!(
            waits(&[
                ("DB_CONNECT_TIMEOUT_MS", "30000"),
                ("DB_HTTP_CONNECT_TIMEOUT_MS", "5000")
            ]),
            (30_000, 5_000)
        );
        // The default never exceeds a shorter DB_CONNECT_TIMEOUT_MS.
        assert_eq!(waits(&[("DB_CONNECT_TIMEOUT_MS", "500")]), (500, 500));
        let e = config(&[
            url,
            ("DB_CONNECT_TIMEOUT_MS", "2000"),
            ("DB_HTTP_CONNECT_TIMEOUT_MS", "2001"),
        ])
        .err()
        .unwrap();
        assert_eq!(e.name, "DB_HTTP_CONNECT_TIMEOUT_MS");
        assert!(
            e.reason.contains("DB_CONNECT_TIMEOUT_MS (2000 ms)"),
            "{}",
            e.reason
        );
        for bad in ["0", "9", "60001", "soon"] {
            let e = config(&[url, ("DB_HTTP_CONNECT_TIMEOUT_MS", bad)])
                .err()
                .unwrap();
            assert_eq!(e.name, "DB_HTTP_CONNECT_TIMEOUT_MS");
            assert!(e.reason.contains(&format!("{bad:?}")), "{}", e.reason);
            assert!(e.reason.contains("from 10 to 60000"), "{}", e.reason);
        }
    }
}
