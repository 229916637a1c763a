//! Where a row is written: one multi-row `INSERT` through a pool built once per execution
//! environment. A connection the server dropped while the environment was frozen is detected
//! on use, replaced, and the write retried once (safe: writes are idempotent by `event_id`).

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_rds::auth_token::{AuthTokenGenerator, Config as TokenConfig};
use serde::Deserialize;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{Executor, MySql, QueryBuilder};

use crate::batch::Row;
use crate::config::{Auth, DbConfig};

/// The seam between the core and the database.
pub trait EventStore: Send + Sync {
    /// Writes `rows` in one statement; returns how many were new (the rest were already there).
    fn insert(&self, rows: &[Row]) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("could not get database credentials: {0}")]
    Credentials(String),
}

/// IAM tokens live 15 minutes; renew well before.
const TOKEN_RENEWAL: Duration = Duration::from_secs(10 * 60);

struct IamAuth {
    generator: AuthTokenGenerator,
    sdk: aws_config::SdkConfig,
    renew_at: Mutex<Instant>,
}

/// [`EventStore`] on MySQL (RDS) or MariaDB.
pub struct MySqlStore {
    pool: MySqlPool,
    base: MySqlConnectOptions,
    iam: Option<IamAuth>,
}

#[derive(Deserialize)]
struct SecretValue {
    username: Option<String>,
    password: String,
}

/// True when the error means the connection itself is gone (server idle timeout, failover,
/// restart, `KILL`), as opposed to the statement failing.
pub fn is_connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db
                .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                .map(|e| e.number());
            // 1053 server shutdown, 1927 connection killed (MariaDB), 2006 gone away,
            // 2013 lost connection, 4031 disconnected for inactivity (MySQL 8).
            matches!(code, Some(1053 | 1927 | 2006 | 2013 | 4031))
        }
        _ => false,
    }
}

fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl MySqlStore {
    /// Builds the pool (without connecting) and fetches credentials. Call once per execution
    /// environment, before the runtime loop.
    pub async fn connect(config: DbConfig) -> Result<Self, StoreError> {
        let mut options = config.options.clone();
        let mut iam = None;
        match &config.auth {
            Auth::Url => {}
            Auth::Secret { arn } => {
                let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
                let out = aws_sdk_secretsmanager::Client::new(&sdk)
                    .get_secret_value()
                    .secret_id(arn)
                    .send()
                    .await
                    .map_err(|e| {
                        StoreError::Credentials(format!(
                            "GetSecretValue {arn}: {}",
                            aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                        ))
                    })?;
                let secret: SecretValue = serde_json::from_str(
                    out.secret_string().unwrap_or_default(),
                )
                .map_err(|_| {
                    StoreError::Credentials(format!(
                        "secret {arn} is not JSON with username and password"
                    ))
                })?;
                if config.user.is_none() {
                    let user = secret.username.ok_or_else(|| {
                        StoreError::Credentials(format!(
                            "secret {arn} has no username and DB_USER is not set"
                        ))
                    })?;
                    options = options.username(&user);
                }
                options = options.password(&secret.password);
            }
            Auth::Iam => {
                let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
                let token_config = TokenConfig::builder()
                    .hostname(options.get_host())
                    .port(u64::from(options.get_port()))
                    .username(options.get_username())
                    .build()
                    .map_err(|e| StoreError::Credentials(format!("IAM token settings: {e}")))?;
                iam = Some(IamAuth {
                    generator: AuthTokenGenerator::new(token_config),
                    sdk,
                    renew_at: Mutex::new(Instant::now()),
                });
            }
        }
        let pool = MySqlPoolOptions::new()
            .max_connections(config.pool_max)
            .min_connections(0)
            .acquire_timeout(config.acquire_timeout)
            // A warm invocation is one round trip: no ping before each use. Dead connections
            // are caught on use instead.
            .test_before_acquire(false)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(options.clone());
        let store = MySqlStore {
            pool,
            base: options,
            iam,
        };
        store.renew_token().await?;
        Ok(store)
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// Opens the first connection ahead of the first event (during Lambda's init phase).
    pub async fn warm_up(&self) {
        if let Err(e) = self.pool.acquire().await {
            tracing::warn!(error = %e, "could not open the first database connection; will retry on the first event");
        }
    }

    /// With IAM auth, puts a fresh token into the options for connections opened from now on.
    async fn renew_token(&self) -> Result<(), StoreError> {
        let Some(iam) = &self.iam else { return Ok(()) };
        let due = iam
            .renew_at
            .lock()
            .map(|t| Instant::now() >= *t)
            .unwrap_or(true);
        if !due {
            return Ok(());
        }
        let token = iam
            .generator
            .auth_token(&iam.sdk)
            .await
            .map_err(|e| StoreError::Credentials(format!("RDS IAM auth token: {e}")))?;
        self.pool
            .set_connect_options(self.base.clone().password(token.as_str()));
        if let Ok(mut t) = iam.renew_at.lock() {
            *t = Instant::now() + TOKEN_RENEWAL;
        }
        Ok(())
    }
}

fn insert_query(rows: &[Row]) -> QueryBuilder<MySql> {
    // IGNORE skips rows whose event_id is already stored; rows are validated beforehand, so
    // nothing else is ever ignored.
    let mut q = QueryBuilder::new(
        "INSERT IGNORE INTO events (event_id, source, recorded_at, received_at, val1, val2, payload) ",
    );
    q.push_values(rows, |mut b, r| {
        b.push_bind(&r.event_id)
            .push_bind(&r.source)
            .push_bind(r.recorded_at)
            .push_bind(r.received_at)
            .push_bind(r.val1)
            .push_bind(r.val2)
            .push_bind(&r.payload);
    });
    q
}

impl EventStore for MySqlStore {
    async fn insert(&self, rows: &[Row]) -> Result<u64, StoreError> {
        self.renew_token().await?;
        let mut retried = false;
        loop {
            let mut conn = self.pool.acquire().await.map_err(unavailable)?;
            let mut q = insert_query(rows);
            match conn.execute(q.build()).await {
                Ok(done) => return Ok(done.rows_affected()),
                Err(e) if is_connection_lost(&e) => {
                    conn.close_on_drop();
                    if retried {
                        return Err(unavailable(e));
                    }
                    tracing::warn!(error = %e, "database connection lost; reconnecting and retrying once");
                    retried = true;
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
    }
}
