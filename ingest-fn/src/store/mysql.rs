//! [`EventStore`] on MySQL: one multi-row `INSERT` through a pool built once per execution
//! environment. A connection the server dropped while the environment was frozen is detected
//! on use (an error, or silence past `DB_WRITE_TIMEOUT_MS`), replaced, and the write retried
//! once (safe: writes are idempotent by `event_id`). A refused login renews the credential
//! (a new IAM token, or the secret read again after a rotation) and is retried once.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use sqlx::mysql::MySqlArguments;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Arguments, AssertSqlSafe, Executor, MySql, SqlSafeStr, SqlStr};

use crate::config::{Auth, Config};
use crate::login::{SecretValue, TokenSigner};
use crate::store::{EventStore, Row, StoreError, Wait, Written, class};

/// IAM tokens admit new connections for 15 minutes; renew well before.
const TOKEN_RENEWAL: Duration = Duration::from_secs(10 * 60);

/// Whether a token issued at `issued` must be replaced at `now`. Wall-clock time on purpose:
/// a monotonic clock need not advance while Lambda freezes the environment, so a token timed
/// with it could be hours old. A clock that went backwards also renews.
pub(crate) fn token_due(issued: SystemTime, now: SystemTime) -> bool {
    now.duration_since(issued)
        .map_or(true, |age| age >= TOKEN_RENEWAL)
}

struct IamAuth {
    signer: TokenSigner,
    sdk: aws_config::SdkConfig,
    /// When the token in the pool's options was signed; `None` before the first.
    issued: Mutex<Option<SystemTime>>,
}

struct SecretAuth {
    arn: String,
    client: aws_sdk_secretsmanager::Client,
    /// `DB_USER` wins over the secret's `username`.
    user_set: bool,
}

/// How new connections log in.
enum Credentials {
    /// `DATABASE_URL`'s own password: nothing to renew.
    Fixed,
    Secret(SecretAuth),
    Iam(Box<IamAuth>),
}

/// [`EventStore`] on MySQL (RDS) or MariaDB.
///
/// What is often called "the pool" is three pieces here: `opener`, a sqlx pool used only to open
/// connections with the current credentials; `parked`, the connections kept between writes;
/// `slots`, the semaphore that bounds the connections in use to `DB_POOL_MAX`.
/// docs/decisions/parked-connections.md says why.
pub struct MySqlStore {
    /// Opens connections (up to `DB_POOL_MAX`) with the credentials [`MySqlStore::renew`] puts
    /// in its options. A connection taken from it is never handed back while healthy (see
    /// `parked`).
    opener: MySqlPool,
    /// Healthy connections between writes. Works around sqlx pinging a connection returned to
    /// its pool in a background task with no timeout: if Lambda freezes the environment first
    /// and the connection dies meanwhile, that ping hangs on thaw holding the pool's only
    /// permit for good (https://github.com/transact-rs/sqlx/issues/4349; the fixes,
    /// https://github.com/transact-rs/sqlx/pull/4350 and /pull/4363, are not merged). Parked,
    /// a connection is never returned, so never pinged.
    parked: Mutex<Vec<PoolConnection<MySql>>>,
    /// One permit per write in flight; at most `DB_POOL_MAX`. The opener counts a parked
    /// connection as taken, so a write that went to it with every connection parked would wait
    /// out its timeout: with a permit, a write finds a parked connection or room to open one.
    slots: tokio::sync::Semaphore,
    base: MySqlConnectOptions,
    credentials: Credentials,
    connect_timeout: Duration,
    http_connect_timeout: Duration,
    write_timeout: Duration,
    /// The last write's statement text and its row count: a delivery of the same size as the
    /// last (the usual case behind a queue) reuses it instead of building it again.
    last_insert: Mutex<Option<(usize, SqlStr)>>,
}

/// What one attempt may wait for a connection, and the setting that says so, for the message.
struct Budget {
    left: Duration,
    setting: &'static str,
    configured: Duration,
}

impl MySqlStore {
    /// Builds the store and fetches its credentials (the secret read, or an IAM token signed
    /// with `aws`); opens no connection ([`MySqlStore::warm_up`] opens the first). `aws` is the
    /// AWS configuration, needed when [`Auth::needs_aws`]. Call once per execution environment,
    /// before the runtime loop.
    pub async fn new(
        config: Config,
        aws: Option<&aws_config::SdkConfig>,
    ) -> Result<Self, StoreError> {
        let options = config.options.clone();
        let aws = || {
            aws.ok_or_else(|| {
                StoreError::Credentials(
                    "DB_SECRET_ARN or DB_IAM_AUTH is set, and no AWS configuration was given"
                        .into(),
                )
            })
        };
        let credentials = match &config.auth {
            Auth::Url => Credentials::Fixed,
            Auth::Secret { arn } => Credentials::Secret(SecretAuth {
                arn: arn.clone(),
                client: aws_sdk_secretsmanager::Client::new(aws()?),
                user_set: config.user.is_some(),
            }),
            Auth::Iam => Credentials::Iam(Box::new(IamAuth {
                signer: TokenSigner::for_options(&options),
                sdk: aws()?.clone(),
                issued: Mutex::new(None),
            })),
        };
        let opener = MySqlPoolOptions::new()
            .max_connections(config.pool_max)
            .min_connections(0)
            .acquire_timeout(config.connect_timeout)
            // A warm invocation is one round trip: no ping before each use, sqlx's default
            // (`test_before_acquire(true)`), which would also wait without a timeout of its own
            // (https://github.com/transact-rs/sqlx/pull/4146, closed unmerged). Dead
            // connections are caught on use instead.
            .test_before_acquire(false)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(options.clone());
        let store = MySqlStore {
            opener,
            parked: Mutex::new(Vec::new()),
            slots: tokio::sync::Semaphore::new(config.pool_max as usize),
            base: options,
            credentials,
            connect_timeout: config.connect_timeout,
            http_connect_timeout: config.http_connect_timeout,
            write_timeout: config.write_timeout,
            last_insert: Mutex::new(None),
        };
        store.renew(true).await?;
        Ok(store)
    }

    /// The sqlx pool that opens the store's connections, for a caller that wants one of its
    /// own with the same login (expire-fn, tests).
    pub fn pool(&self) -> &MySqlPool {
        &self.opener
    }

    /// Opens the first connection ahead of the first event (during Lambda's init phase), waiting
    /// at most `DB_HTTP_CONNECT_TIMEOUT_MS`: the first event may be an HTTP request, whose caller
    /// should not wait out a resuming database here either. The attempt has woken a paused
    /// instance all the same.
    pub async fn warm_up(&self) {
        match tokio::time::timeout(self.http_connect_timeout, self.opener.acquire()).await {
            Ok(Ok(conn)) => self.park(conn),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not open the first database connection; will retry on the first event")
            }
            Err(_) => tracing::warn!(
                wait_ms = self.http_connect_timeout.as_millis() as u64,
                "no first database connection within DB_HTTP_CONNECT_TIMEOUT_MS; will retry on the first event"
            ),
        }
    }

    /// What the next attempt of a write may wait for a connection, having waited `waited`
    /// already: each attempt of a [`Wait::Full`] write gets `DB_CONNECT_TIMEOUT_MS`; the
    /// attempts of a [`Wait::Short`] write share `DB_HTTP_CONNECT_TIMEOUT_MS`. Only the waits for
    /// a connection count: a write that failed fast on a connection lost during a freeze still
    /// leaves its retry the time to connect again.
    fn budget(&self, wait: Wait, waited: Duration) -> Budget {
        match wait {
            Wait::Full => Budget {
                left: self.connect_timeout,
                setting: "DB_CONNECT_TIMEOUT_MS",
                configured: self.connect_timeout,
            },
            Wait::Short => Budget {
                left: self.http_connect_timeout.saturating_sub(waited),
                setting: "DB_HTTP_CONNECT_TIMEOUT_MS",
                configured: self.http_connect_timeout,
            },
        }
    }

    /// Closes every connection politely (COM_QUIT), so the server frees their slots at once
    /// instead of at `wait_timeout`. For Lambda's shutdown phase.
    pub async fn close(&self) {
        let parked: Vec<_> = self
            .parked
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        for conn in parked {
            if let Err(e) = conn.close().await {
                tracing::warn!(error = %e, "closing a database connection failed");
            }
        }
        self.opener.close().await;
    }

    /// Keeps a healthy connection for the next write.
    fn park(&self, conn: PoolConnection<MySql>) {
        if let Ok(mut parked) = self.parked.lock() {
            parked.push(conn);
        }
    }

    /// A parked connection, else a new one from the opener.
    async fn checkout(&self) -> Result<PoolConnection<MySql>, sqlx::Error> {
        let parked = self.parked.lock().ok().and_then(|mut v| v.pop());
        match parked {
            Some(conn) => Ok(conn),
            None => self.opener.acquire().await,
        }
    }

    /// Puts fresh credentials into the options for connections opened from now on: an IAM
    /// token when the current one is due (or `force`), the secret read again only on `force`.
    async fn renew(&self, force: bool) -> Result<(), StoreError> {
        let options = match &self.credentials {
            Credentials::Fixed => return Ok(()),
            Credentials::Iam(iam) => {
                let now = SystemTime::now();
                let issued = iam.issued.lock().map(|t| *t).unwrap_or(None);
                if !force && issued.is_some_and(|t| !token_due(t, now)) {
                    return Ok(());
                }
                let token = iam
                    .signer
                    .token(&iam.sdk)
                    .await
                    .map_err(|e| StoreError::Credentials(format!("RDS IAM auth token: {e}")))?;
                if let Ok(mut t) = iam.issued.lock() {
                    *t = Some(now);
                }
                self.base.clone().password(&token)
            }
            Credentials::Secret(secret) => {
                if !force {
                    return Ok(());
                }
                let value = fetch_secret(&secret.client, &secret.arn).await?;
                value
                    .log_in(self.base.clone(), secret.user_set)
                    .ok_or_else(|| {
                        StoreError::Credentials(format!(
                            "secret {} has no username and DB_USER is not set",
                            secret.arn
                        ))
                    })?
            }
        };
        self.opener.set_connect_options(options);
        Ok(())
    }

    /// One attempt: a connection within `budget`, the write within `write_timeout`; the time
    /// spent getting the connection is added to `waited`. A [`StoreError::Lost`] or
    /// [`StoreError::Denied`] may go away with a second attempt.
    async fn try_insert(
        &self,
        rows: &[Row],
        budget: &Budget,
        waited: &mut Duration,
    ) -> Result<u64, StoreError> {
        let (setting, connect_ms) = (budget.setting, budget.configured.as_millis());
        let acquire = async {
            let permit = self
                .slots
                .acquire()
                .await
                .map_err(|_| sqlx::Error::PoolClosed)?;
            Ok::<_, sqlx::Error>((permit, self.checkout().await?))
        };
        let started = Instant::now();
        let acquired = tokio::time::timeout(budget.left, acquire).await;
        *waited += started.elapsed();
        let (_permit, mut conn) = match acquired {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                return Err(StoreError::from_sqlx(e, || {
                    format!("connecting ({setting}={connect_ms})")
                }));
            }
            Err(_) => {
                return Err(StoreError::Lost {
                    code: None,
                    detail: format!("no connection within {setting}={connect_ms}"),
                    source: None,
                });
            }
        };
        let arguments = insert_arguments(rows)
            .map_err(|e| StoreError::from_sqlx(sqlx::Error::Encode(e), || "writing".to_owned()))?;
        let insert = sqlx::query_with(self.insert_statement(rows.len()), arguments);
        match tokio::time::timeout(self.write_timeout, conn.execute(insert)).await {
            Ok(Ok(done)) => {
                self.park(conn);
                Ok(done.rows_affected())
            }
            Ok(Err(e)) => {
                let e = StoreError::from_sqlx(e, || "writing".to_owned());
                if matches!(e, StoreError::Lost { .. }) || class::read_only(e.mysql_code()) {
                    // Gone, or on a server that will refuse every write (a writer demoted by a
                    // failover): the next attempt connects anew, through the endpoint.
                    conn.close_on_drop();
                } else {
                    // The statement failed; the connection is fine.
                    self.park(conn);
                }
                Err(e)
            }
            Err(_) => {
                // A silent peer would never answer a polite close either: drop the socket.
                drop(conn.detach());
                Err(StoreError::Lost {
                    code: None,
                    detail: format!(
                        "no answer to the write within DB_WRITE_TIMEOUT_MS={}",
                        self.write_timeout.as_millis()
                    ),
                    source: None,
                })
            }
        }
    }
}

/// Reads a database secret (`GetSecretValue`); errors name the secret, never its value.
pub(crate) async fn fetch_secret(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
) -> Result<SecretValue, StoreError> {
    let out = client
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
    SecretValue::parse(out.secret_string()).ok_or_else(|| {
        StoreError::Credentials(format!(
            "secret {arn} is not JSON with username and password"
        ))
    })
}

impl MySqlStore {
    /// The statement for `rows` rows: the last one when it had as many, else built and kept.
    fn insert_statement(&self, rows: usize) -> SqlStr {
        let mut last = self.last_insert.lock().ok();
        if let Some(Some((n, sql))) = last.as_deref()
            && *n == rows
        {
            return sql.clone();
        }
        let sql = AssertSqlSafe(insert_sql(rows)).into_sql_str();
        if let Some(last) = last.as_deref_mut() {
            *last = Some((rows, sql.clone()));
        }
        sql
    }
}

/// The multi-row INSERT for `rows` rows, one placeholder per column ([`insert_arguments`]).
fn insert_sql(rows: usize) -> String {
    // IGNORE skips rows whose event_id is already stored; rows are validated beforehand, so
    // nothing else is ever ignored.
    const HEAD: &str = "INSERT IGNORE INTO events \
        (event_id, source, recorded_at, received_at, val1, val2, payload) VALUES ";
    const ROW: &str = "(?, ?, ?, ?, ?, ?, ?)";
    let mut sql = String::with_capacity(HEAD.len() + rows * (ROW.len() + 2));
    sql.push_str(HEAD);
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(ROW);
    }
    sql
}

/// The values of `rows`, in the order of [`insert_sql`]'s placeholders.
fn insert_arguments(rows: &[Row]) -> Result<MySqlArguments, sqlx::error::BoxDynError> {
    let mut arguments = MySqlArguments::default();
    for r in rows {
        arguments.add(&r.event_id)?;
        arguments.add(&r.source)?;
        arguments.add(r.recorded_at)?;
        arguments.add(r.received_at)?;
        arguments.add(r.val1)?;
        arguments.add(r.val2)?;
        arguments.add(&r.payload)?;
    }
    Ok(arguments)
}

impl EventStore for MySqlStore {
    async fn insert(&self, rows: &[Row], wait: Wait) -> Result<Written, StoreError> {
        self.renew(false).await?;
        // One retry for a lost connection and one for a refused login, each at most once: after
        // a freeze both can happen in a row (the connection dropped, then the reconnect meets a
        // password rotated meanwhile). An HTTP write retries only while its connection budget
        // lasts: one that ran out waiting for a connection answers 503 at once.
        let (mut reconnected, mut renewed) = (false, false);
        let mut waited = Duration::ZERO;
        loop {
            let budget = self.budget(wait, waited);
            let result = self.try_insert(rows, &budget, &mut waited).await;
            let budget_left = !self.budget(wait, waited).left.is_zero();
            match result {
                Ok(inserted) => return Ok(Written::of(rows, inserted, reconnected.into())),
                Err(e @ StoreError::Lost { .. }) if !reconnected && budget_left => {
                    reconnected = true;
                    tracing::warn!(error = %e, "database connection lost; retrying once");
                }
                Err(e @ StoreError::Denied { .. }) if !renewed && budget_left => {
                    renewed = true;
                    self.renew(true).await?;
                    tracing::warn!(error = %e, "database login refused; renewed the credentials, retrying once");
                }
                Err(e) => {
                    if e.is_permanent() {
                        // Named by number: the operator's first question is which grant,
                        // table or column.
                        tracing::error!(mysql_error = e.mysql_code(), error = %e, "the database rejected the write; retrying cannot help");
                    }
                    return Err(e);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The statement has one placeholder per value bound, seven a row; `tests/mysql` writes
    // through it.
    #[test]
    fn the_insert_has_a_placeholder_for_each_value() {
        assert_eq!(
            insert_sql(2),
            "INSERT IGNORE INTO events (event_id, source, recorded_at, received_at, val1, val2, \
             payload) VALUES (?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?)"
        );
        let row = Row {
            event_id: "e".into(),
            source: "s".into(),
            recorded_at: crate::store::memory::received_at(),
            received_at: crate::store::memory::received_at(),
            val1: 1.0,
            val2: 2.0,
            payload: None,
        };
        for n in [1, 3, 100] {
            let rows = vec![row.clone(); n];
            let placeholders = insert_sql(n).matches('?').count();
            assert_eq!(insert_arguments(&rows).unwrap().len(), placeholders);
            assert_eq!(placeholders, 7 * n);
        }
    }

    #[test]
    fn tokens_are_timed_by_the_wall_clock_across_a_freeze() {
        let issued = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert!(!token_due(issued, issued));
        assert!(!token_due(issued, issued + Duration::from_secs(9 * 60)));
        // Frozen for 11 minutes: a monotonic clock may show no time passed; the wall clock does.
        assert!(token_due(issued, issued + Duration::from_secs(11 * 60)));
        assert!(token_due(issued, issued - Duration::from_secs(1)));
    }
}
