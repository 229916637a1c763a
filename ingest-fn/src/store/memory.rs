//! An [`EventStore`] in memory, for the adapters' unit tests: unique by `event_id` as the
//! table is, and able to fail the way the database does.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::NaiveDateTime;

use crate::store::{EventStore, Kind, Row, StoreError, Wait, Written};

#[derive(Default)]
pub(crate) struct MemoryStore {
    rows: Mutex<BTreeMap<String, Row>>,
    /// How many writes from now on fail, and as what server error.
    failures: Mutex<usize>,
    failure: Option<ServerSays>,
    /// How long each write was allowed to wait for a connection, in order.
    waits: Mutex<Vec<Wait>>,
}

/// A server's error packet: number, SQLSTATE and message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerSays(
    pub(crate) u16,
    pub(crate) &'static str,
    pub(crate) &'static str,
);

/// 2013: the connection is gone, and (in memory) so is the retry's.
pub(crate) const LOST: ServerSays =
    ServerSays(2013, "HY000", "Lost connection to server during query");
/// 1045: a refused login, renewed credentials included.
pub(crate) const DENIED: ServerSays = ServerSays(1045, "28000", "Access denied for user 'ingest'");
/// 1040: the server is full.
pub(crate) const TOO_MANY: ServerSays = ServerSays(1040, "08004", "Too many connections");
/// 1142: the account lacks the INSERT grant.
pub(crate) const NO_GRANT: ServerSays = ServerSays(
    1142,
    "42000",
    "INSERT command denied to user 'ingest'@'%' for table `events`",
);

impl MemoryStore {
    /// A store whose next `n` writes fail as an unreachable database would (2013).
    pub(crate) fn failing(n: usize) -> Self {
        MemoryStore::failing_with(n, LOST)
    }

    /// A store whose next `n` writes fail with `says`, classified as the MySQL store does.
    pub(crate) fn failing_with(n: usize, says: ServerSays) -> Self {
        MemoryStore {
            failures: Mutex::new(n),
            failure: Some(says),
            ..MemoryStore::default()
        }
    }

    /// The stored rows, by `event_id`.
    pub(crate) fn rows(&self) -> BTreeMap<String, Row> {
        self.rows.lock().unwrap().clone()
    }

    /// The `wait` of every write so far, failed ones included.
    pub(crate) fn waits(&self) -> Vec<Wait> {
        self.waits.lock().unwrap().clone()
    }
}

impl EventStore for MemoryStore {
    async fn insert(&self, rows: &[Row], wait: Wait) -> Result<Written, StoreError> {
        self.waits.lock().unwrap().push(wait);
        let mut failures = self.failures.lock().unwrap();
        if let (1.., Some(says)) = (*failures, self.failure) {
            *failures -= 1;
            let ServerSays(code, sqlstate, _) = says;
            return Err(StoreError::classified(
                Some(code),
                Some(sqlstate.to_owned()),
                Kind::Server,
                sqlx::Error::Database(Box::new(FakeServerError(says))),
                || "writing (in memory)".to_owned(),
            ));
        }
        let mut stored = self.rows.lock().unwrap();
        let mut inserted = 0;
        // One statement: all or nothing, and a repeated event_id is a duplicate, not an error.
        for r in rows {
            if !stored.contains_key(&r.event_id) {
                stored.insert(r.event_id.clone(), r.clone());
                inserted += 1;
            }
        }
        Ok(Written::of(rows, inserted, 0))
    }
}

/// The time the tests' deliveries are received at: 2026-08-22T15:17:05Z.
pub(crate) fn received_at() -> NaiveDateTime {
    chrono::DateTime::from_timestamp(1_787_411_825, 0)
        .unwrap_or_default()
        .naive_utc()
}

/// [`ServerSays`] as the driver reports a server's error.
#[derive(Debug)]
struct FakeServerError(ServerSays);

impl std::fmt::Display for FakeServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ServerSays(code, sqlstate, message) = self.0;
        write!(f, "{code} ({sqlstate}): {message}")
    }
}

impl std::error::Error for FakeServerError {}

impl sqlx::error::DatabaseError for FakeServerError {
    fn message(&self) -> &str {
        self.0.2
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(self.0.1))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        sqlx::error::ErrorKind::Other
    }
}
