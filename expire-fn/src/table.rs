//! [`EventsTable`] on MySQL: one connection per run, each statement autocommitted on its own and
//! bounded in time, with short lock waits. The account needs `SELECT` and `DELETE` on `events`
//! and nothing more.

use std::time::Duration;

use chrono::NaiveDateTime;
use ingest::{Config, MySqlStore};
use sqlx::mysql::MySqlConnection;
use sqlx::{Connection, Row};

use crate::archive::ArchivedEvent;
use crate::chunk::{Chunk, Survey};
use crate::error::{ExpireError, TableError};
use crate::run::EventsTable;

/// How long a statement of this job waits for a row lock (`innodb_lock_wait_timeout`) or a
/// table's metadata lock (`lock_wait_timeout`, held by DDL such as the online index build) before
/// it gives up: 1 s, the smallest MySQL takes, below ingest-fn's `DB_WRITE_TIMEOUT_MS` (5 s by
/// default). The job yields: a chunk that cannot be had now is left to the next run, and the job
/// never queues behind DDL with ingest's writes queued behind it.
/// https://dev.mysql.com/doc/refman/8.4/en/innodb-parameters.html#sysvar_innodb_lock_wait_timeout
/// https://dev.mysql.com/doc/refman/8.4/en/server-system-variables.html#sysvar_lock_wait_timeout
/// https://mariadb.com/kb/en/innodb-system-variables/#innodb_lock_wait_timeout
pub const LOCK_WAIT_SECONDS: u32 = 1;

/// The events table, through one connection of the job's own.
pub struct MySqlTable {
    conn: MySqlConnection,
    /// Bounds each statement's round trip (`DB_WRITE_TIMEOUT_MS`).
    timeout: Duration,
    /// A statement that timed out leaves the connection in an unknown state: nothing more is
    /// sent on it.
    broken: bool,
}

impl MySqlTable {
    /// Logs in as ingest-fn does ([`Config`]: `DATABASE_URL`, or `DB_HOST` with a secret or an
    /// IAM token, read or signed now with `aws`, so that every run uses fresh credentials), takes
    /// one connection and sets its lock waits. A run is minutes apart from the next: a
    /// connection is not kept between them.
    pub async fn connect(
        config: &Config,
        aws: Option<&aws_config::SdkConfig>,
    ) -> Result<MySqlTable, ExpireError> {
        let login = |e: Box<dyn std::error::Error + Send + Sync>| ExpireError::Login { source: e };
        let timeout = config.write_timeout;
        let connect_timeout = config.connect_timeout;
        let store = MySqlStore::new(config.clone(), aws)
            .await
            .map_err(|e| login(Box::new(e)))?;
        let acquired = tokio::time::timeout(connect_timeout, store.pool().acquire()).await;
        let conn = match acquired {
            Ok(Ok(conn)) => conn.detach(),
            Ok(Err(e)) => return Err(login(Box::new(e))),
            Err(_) => {
                return Err(login(
                    format!(
                        "no connection within DB_CONNECT_TIMEOUT_MS={}",
                        connect_timeout.as_millis()
                    )
                    .into(),
                ));
            }
        };
        // The connection is the run's own now; the pool has nothing left to hold.
        store.close().await;
        let mut table = MySqlTable {
            conn,
            timeout,
            broken: false,
        };
        let set = format!(
            "SET SESSION innodb_lock_wait_timeout = {LOCK_WAIT_SECONDS}, \
             SESSION lock_wait_timeout = {LOCK_WAIT_SECONDS}"
        );
        table
            .bounded("setting the session's lock waits", None, async |conn| {
                sqlx::query(sqlx::AssertSqlSafe(set))
                    .execute(conn)
                    .await
                    .map(|_| ())
            })
            .await?;
        Ok(table)
    }

    /// Ends the session politely (COM_QUIT), so that the server frees it now.
    pub async fn close(self) {
        if !self.broken
            && let Err(e) = self.conn.close().await
        {
            tracing::warn!(error = %e, "closing the database connection failed");
        }
    }

    /// Runs `statement` within the timeout.
    pub(crate) async fn bounded<T>(
        &mut self,
        what: &'static str,
        chunk: Option<Chunk>,
        statement: impl AsyncFnOnce(&mut MySqlConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, TableError> {
        if self.broken {
            return Err(TableError::TimedOut {
                what,
                chunk,
                timeout_ms: self.timeout.as_millis(),
            });
        }
        match tokio::time::timeout(self.timeout, statement(&mut self.conn)).await {
            Ok(result) => result.map_err(TableError::sql(what, chunk)),
            Err(_) => {
                self.broken = true;
                Err(TableError::TimedOut {
                    what,
                    chunk,
                    timeout_ms: self.timeout.as_millis(),
                })
            }
        }
    }
}

impl EventsTable for MySqlTable {
    async fn first_id_from(&mut self, from: u64) -> Result<Option<u64>, TableError> {
        self.bounded("finding the next id", None, async |conn| {
            sqlx::query_scalar("SELECT MIN(id) FROM events WHERE id >= ?")
                .bind(from)
                .fetch_one(conn)
                .await
        })
        .await
    }

    async fn survey(&mut self, chunk: Chunk) -> Result<Survey, TableError> {
        let row = self
            .bounded("surveying", Some(chunk), async |conn| {
                sqlx::query(
                    "SELECT COUNT(*), MAX(received_at) FROM events WHERE id BETWEEN ? AND ?",
                )
                .bind(chunk.first)
                .bind(chunk.last)
                .fetch_one(conn)
                .await
            })
            .await?;
        let rows: i64 = row
            .try_get(0)
            .map_err(TableError::sql("surveying", Some(chunk)))?;
        let newest: Option<NaiveDateTime> = row
            .try_get(1)
            .map_err(TableError::sql("surveying", Some(chunk)))?;
        Ok(Survey {
            rows: rows.max(0) as u64,
            newest,
        })
    }

    async fn expired_rows(
        &mut self,
        chunk: Chunk,
        cutoff: NaiveDateTime,
    ) -> Result<Vec<ArchivedEvent>, TableError> {
        const WHAT: &str = "reading the rows to archive";
        let rows = self
            .bounded(WHAT, Some(chunk), async |conn| {
                // The payload as the server's text: MySQL's JSON type and MariaDB's LONGTEXT
                // both come back as a string this way.
                sqlx::query(
                    "SELECT id, event_id, source, recorded_at, received_at, val1, val2, \
                     CAST(payload AS CHAR) AS payload FROM events \
                     WHERE id BETWEEN ? AND ? AND received_at < ? ORDER BY id",
                )
                .bind(chunk.first)
                .bind(chunk.last)
                .bind(cutoff)
                .fetch_all(conn)
                .await
            })
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ArchivedEvent {
                    id: r.try_get("id")?,
                    event_id: r.try_get("event_id")?,
                    source: r.try_get("source")?,
                    recorded_at: r.try_get("recorded_at")?,
                    received_at: r.try_get("received_at")?,
                    val1: r.try_get("val1")?,
                    val2: r.try_get("val2")?,
                    payload: r.try_get("payload")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(TableError::sql(WHAT, Some(chunk)))
    }

    async fn delete(&mut self, chunk: Chunk, cutoff: NaiveDateTime) -> Result<u64, TableError> {
        self.bounded("deleting", Some(chunk), async |conn| {
            // The chunk rule said every row is older than the cutoff; the guard makes sure.
            sqlx::query("DELETE FROM events WHERE id BETWEEN ? AND ? AND received_at < ?")
                .bind(chunk.first)
                .bind(chunk.last)
                .bind(cutoff)
                .execute(conn)
                .await
                .map(|done| done.rows_affected())
        })
        .await
    }

    /// `MIN(received_at)`: one look into the `received_at` index where there is one, a scan of
    /// the table where there is none.
    async fn oldest(&mut self) -> Result<Option<NaiveDateTime>, TableError> {
        self.bounded("reading the oldest row", None, async |conn| {
            sqlx::query_scalar("SELECT MIN(received_at) FROM events")
                .fetch_one(conn)
                .await
        })
        .await
    }
}
