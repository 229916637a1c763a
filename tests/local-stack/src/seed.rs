//! Fills the events table in bulk, without the function: for the table-size benchmark, which
//! needs millions of rows fast. One `INSERT … SELECT` per million rows from a generated sequence
//! (ten digits cross-joined, which MySQL and MariaDB both run), with the secondary indexes
//! dropped meanwhile and built again by sorting at the end, as a bulk load should.

use sqlx::mysql::MySqlConnection;
use sqlx::{AssertSqlSafe, Connection};

use load::events::Ids;

/// Rows per statement.
const CHUNK: u64 = 1_000_000;

#[derive(Debug, thiserror::Error)]
#[error("seeding the events table ({what}): {source}")]
pub struct SeedError {
    what: String,
    source: sqlx::Error,
}

/// The `event_id` expression for row `n` (`h`: 12 hex digits of its millisecond; `m`: 32 hex
/// digits of hash), shaped as the ids of `ids`: UUIDv7 ordered by `n`, or random UUIDv4.
fn id_expression(ids: Ids) -> &'static str {
    match ids {
        Ids::Random => {
            "CONCAT(SUBSTR(m,1,8),'-',SUBSTR(m,9,4),'-4',SUBSTR(m,13,3),'-a',SUBSTR(m,16,3),'-',SUBSTR(m,19,12))"
        }
        // A time-ordered id, as ingest-fn or a client makes them, from before the run.
        Ids::TimeOrdered | Ids::Run => {
            "CONCAT(SUBSTR(h,1,8),'-',SUBSTR(h,9,4),'-7',SUBSTR(m,1,3),'-8',SUBSTR(m,4,3),'-',SUBSTR(m,7,12))"
        }
    }
}

/// The statement that inserts rows `from..to`, which lie within one [`CHUNK`]-aligned chunk.
pub fn chunk_statement(ids: Ids, from: u64, to: u64, first_ms: u64) -> String {
    let base = from - from % CHUNK;
    let digits = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 \
                  UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 \
                  UNION ALL SELECT 8 UNION ALL SELECT 9)";
    let hash = match ids {
        Ids::Random => "MD5(CONCAT(n, '-', RAND()))",
        Ids::TimeOrdered | Ids::Run => "MD5(n)",
    };
    format!(
        "INSERT INTO events (event_id, source, recorded_at, received_at, val1, val2, payload) \
         SELECT {id}, CONCAT('seed-', n % 32), t, t, n, n * 0.5, NULL FROM ( \
           SELECT n, LOWER(LPAD(HEX({first_ms} + n), 12, '0')) AS h, {hash} AS m, \
                  TIMESTAMPADD(MICROSECOND, n * 1000, '2026-01-01') AS t FROM ( \
             SELECT {base} + a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 100000 * g.d AS n \
             FROM {digits} a CROSS JOIN {digits} b CROSS JOIN {digits} c \
               CROSS JOIN {digits} e CROSS JOIN {digits} f CROSS JOIN {digits} g) s \
           WHERE n >= {from} AND n < {to}) r",
        id = id_expression(ids),
    )
}

async fn run(db: &mut MySqlConnection, sql: String, what: &str) -> Result<u64, SeedError> {
    sqlx::query(AssertSqlSafe(sql))
        .execute(&mut *db)
        .await
        .map(|r| r.rows_affected())
        .map_err(|source| SeedError {
            what: what.to_owned(),
            source,
        })
}

/// Grows the table from `from` rows to `to` rows (row numbers `from..to`). Time-ordered ids
/// lie in the past, so the run's own ids come after them, as in a table that grew over time.
pub async fn seed(db: &mut MySqlConnection, ids: Ids, from: u64, to: u64) -> Result<(), SeedError> {
    if to <= from {
        return Ok(());
    }
    // One millisecond per row, ending an hour before now.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let first_ms = now_ms.saturating_sub(3_600_000 + to);
    run(
        db,
        "ALTER TABLE events DROP INDEX event_id, DROP INDEX events_source_recorded_at".into(),
        "dropping the secondary indexes",
    )
    .await?;
    let mut start = from;
    while start < to {
        let end = ((start / CHUNK + 1) * CHUNK).min(to);
        let mut tx = db.begin().await.map_err(|source| SeedError {
            what: "BEGIN".into(),
            source,
        })?;
        let sql = chunk_statement(ids, start, end, first_ms);
        run(&mut tx, sql, &format!("rows {start} to {end}")).await?;
        tx.commit().await.map_err(|source| SeedError {
            what: "COMMIT".into(),
            source,
        })?;
        start = end;
    }
    run(
        db,
        "ALTER TABLE events ADD UNIQUE INDEX event_id (event_id), \
         ADD INDEX events_source_recorded_at (source, recorded_at)"
            .into(),
        "building the secondary indexes",
    )
    .await?;
    run(db, "ANALYZE TABLE events".into(), "ANALYZE TABLE").await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_covers_its_rows_only() {
        let sql = chunk_statement(Ids::TimeOrdered, 2_300_000, 2_500_000, 1_700_000_000_000);
        assert!(sql.contains("SELECT 2000000 + a.d"));
        assert!(sql.contains("WHERE n >= 2300000 AND n < 2500000"));
        assert!(sql.contains("'-7'") && sql.contains("MD5(n)"));
        let random = chunk_statement(Ids::Random, 0, 10, 0);
        assert!(random.contains("'-4'") && random.contains("RAND()"));
    }
}
