//! Fills the events table fast, for the tests and the benchmark (benches/online_index.rs)
//! that need a table big enough for an index build to take a while: the rows are made by the
//! server (a recursive CTE of 1,000 numbers crossed with itself), nothing crosses the network
//! but the statements. Portable to MySQL 8.4 (whose CTE recursion limit is 1,000) and MariaDB.

use sqlx::mysql::MySqlPool;
use sqlx::{AssertSqlSafe, Executor};

/// Rows per statement: 100 blocks of 1,000.
const PER_STATEMENT: u64 = 100_000;

/// Adds `rows` events `seed-<n>` (n from 0), received evenly over the 60 days before now, oldest
/// first, as a table written in order of arrival is; each with a small JSON payload, as the
/// benchmark of the retention job fills it (expire-fn/benches/ingest_p99.rs).
pub async fn seed_events(pool: &MySqlPool, rows: u64) -> Result<(), sqlx::Error> {
    // Microseconds between two rows' received_at.
    let step = (60 * 86_400 * 1_000_000) / rows.max(1);
    let mut first = 0;
    while first < rows {
        // Within one million: the numbers are base + 1000 a + b, for a in lo..=hi, b in 0..1000.
        let base = first / 1_000_000 * 1_000_000;
        let last = rows.min(first + PER_STATEMENT).min(base + 1_000_000);
        let (lo, hi) = ((first - base) / 1000, (last - 1 - base) / 1000);
        let statement = format!(
            "INSERT INTO events (event_id, source, recorded_at, received_at, val1, val2, payload) \
             SELECT CONCAT('seed-', i), CONCAT('dev-', i MOD 1000), at, at, i, 0.5, \
                    '{{\"temp\": 21.5, \"unit\": \"C\"}}' \
             FROM (SELECT i, start + INTERVAL (i * {step}) MICROSECOND AS at \
                   FROM (WITH RECURSIVE d(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM d WHERE n < 999) \
                         SELECT {base} + a.n * 1000 + b.n AS i FROM d AS a CROSS JOIN d AS b \
                         WHERE a.n BETWEEN {lo} AND {hi}) AS numbers \
                   CROSS JOIN (SELECT NOW(6) - INTERVAL 60 DAY AS start) AS origin \
                   WHERE i >= {first} AND i < {last}) AS seq"
        );
        pool.execute(AssertSqlSafe(statement)).await?;
        first = last;
    }
    Ok(())
}
