//! Where a row is written: the [`EventStore`] seam, its MySQL implementation ([`mysql`]) and,
//! for the adapters' unit tests, one in memory.

#[cfg(test)]
pub mod memory;
pub mod mysql;

use std::future::Future;

use chrono::NaiveDateTime;
use serde::Serialize;

pub use mysql::MySqlStore;

/// An `events` row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub event_id: String,
    pub source: String,
    pub recorded_at: NaiveDateTime,
    pub received_at: NaiveDateTime,
    pub val1: f64,
    pub val2: f64,
    pub payload: Option<String>,
}

/// What a write did: new rows and events that were already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Written {
    pub inserted: u64,
    pub duplicates: u64,
}

/// The seam between the core and the database.
pub trait EventStore: Send + Sync {
    /// Writes `rows` in one statement; returns how many were new (the rest were already there).
    fn insert(&self, rows: &[Row]) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Lost connections replaced by one that worked, over the store's life: an invocation's count is the
    /// difference across it (one invocation at a time runs in an execution environment).
    fn reconnects(&self) -> u64 {
        0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("could not get database credentials: {0}")]
    Credentials(String),
}

/// Writes `rows` in one statement: how many were new, how many were already stored.
pub async fn write(store: &impl EventStore, rows: &[Row]) -> Result<Written, StoreError> {
    if rows.is_empty() {
        return Ok(Written::default());
    }
    let inserted = store.insert(rows).await?;
    Ok(Written {
        inserted,
        duplicates: rows.len() as u64 - inserted,
    })
}
