//! An [`EventStore`] in memory, for the adapters' unit tests: unique by `event_id` as the
//! table is, and able to fail the way the database does.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::NaiveDateTime;

use crate::store::{EventStore, Row, StoreError};

#[derive(Default)]
pub struct MemoryStore {
    rows: Mutex<BTreeMap<String, Row>>,
    /// How many writes from now on fail as an unreachable database would.
    failures: Mutex<usize>,
}

impl MemoryStore {
    /// A store whose next `n` writes fail with [`StoreError::Unavailable`].
    pub fn failing(n: usize) -> Self {
        MemoryStore {
            failures: Mutex::new(n),
            ..MemoryStore::default()
        }
    }

    /// The stored rows, by `event_id`.
    pub fn rows(&self) -> BTreeMap<String, Row> {
        self.rows.lock().unwrap().clone()
    }
}

impl EventStore for MemoryStore {
    async fn insert(&self, rows: &[Row]) -> Result<u64, StoreError> {
        let mut failures = self.failures.lock().unwrap();
        if *failures > 0 {
            *failures -= 1;
            return Err(StoreError::Unavailable(
                "connection refused (in memory)".into(),
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
        Ok(inserted)
    }
}

/// The time the tests' deliveries are received at: 2026-08-22T15:17:05Z.
pub fn received_at() -> NaiveDateTime {
    chrono::DateTime::from_timestamp(1_787_411_825, 0)
        .unwrap_or_default()
        .naive_utc()
}
