//! `ingest-expire restore FILE.jsonl.gz`: loads an archive object back into the events table
//! with its original ids, skipping rows that are there already (`INSERT IGNORE`: the id and the
//! `event_id` are unique), so that loading a file twice, or a file whose rows were never
//! deleted, changes nothing.
//!
//! It needs `INSERT` on the table, which the job's own account does not have: run it with an
//! account that does (`DATABASE_URL`). Rows older than the retention are expired again by the
//! next run: to read old rows, load them into another database (a `DATABASE_URL` naming it,
//! migrated first), or raise the retention before loading them back.

use serde::Serialize;
use sqlx::{MySql, QueryBuilder};

use crate::archive::ArchivedEvent;
use crate::error::TableError;
use crate::table::MySqlTable;

/// Rows per `INSERT`: one short statement each.
const BATCH: usize = 500;

/// What a restore did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Restored {
    /// Rows in the file.
    pub rows: u64,
    /// Rows written; the others were in the table already.
    pub inserted: u64,
}

/// Inserts `rows` with their ids, in batches.
pub async fn restore(
    table: &mut MySqlTable,
    rows: &[ArchivedEvent],
) -> Result<Restored, TableError> {
    let mut inserted = 0;
    for batch in rows.chunks(BATCH) {
        inserted += table
            .bounded("restoring rows", None, async |conn| {
                insert_rows(batch, OnDuplicate::Skip)
                    .build()
                    .execute(conn)
                    .await
                    .map(|d| d.rows_affected())
            })
            .await?;
    }
    Ok(Restored {
        rows: rows.len() as u64,
        inserted,
    })
}

/// What an insert does with a row whose id or `event_id` is in the table already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDuplicate {
    /// Skips it (`INSERT IGNORE`), as a restore does, so that loading twice changes nothing.
    Skip,
    /// Fails the statement (a plain `INSERT`), for callers that must write every row.
    Fail,
}

/// One `INSERT` of `rows` with their ids and every column, as an archive object holds them:
/// the statement a restore runs per batch, public so that tests and the local stack seed the
/// table with the same columns and bindings. `rows` must not be empty, and should be short
/// enough for one statement (a restore uses 500).
pub fn insert_rows(rows: &[ArchivedEvent], on_duplicate: OnDuplicate) -> QueryBuilder<MySql> {
    let mut q = QueryBuilder::new(match on_duplicate {
        OnDuplicate::Skip => {
            "INSERT IGNORE INTO events \
             (id, event_id, source, recorded_at, received_at, val1, val2, payload) "
        }
        OnDuplicate::Fail => {
            "INSERT INTO events \
             (id, event_id, source, recorded_at, received_at, val1, val2, payload) "
        }
    });
    q.push_values(rows, |mut b, r| {
        b.push_bind(r.id)
            .push_bind(&r.event_id)
            .push_bind(&r.source)
            .push_bind(r.recorded_at)
            .push_bind(r.received_at)
            .push_bind(r.val1)
            .push_bind(r.val2)
            .push_bind(&r.payload);
    });
    q
}
