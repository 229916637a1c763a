//! SQS batches of 100 through ingest-fn, beside their floor: the no-op function handed the same
//! batches plus one 100-row `INSERT IGNORE` over an open connection, the statement ingest-fn
//! sends for them. Rounds alternate (ingest-fn, floor, ingest-fn, ...) so that the ratio
//! compares the same minutes: the absolute rate swings 18 to 43 k events/s between runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_harness::runtime_api::RuntimeApi;
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, MySqlConnection};

use crate::{reading, report};

pub(crate) const SQS_BATCH: usize = 100;
/// Rounds per side, alternating.
const ROUNDS: usize = 6;
const BATCHES_PER_ROUND: usize = 50;
/// Timed batches per side; each side also gets one untimed batch first, which prepares its
/// statement.
pub(crate) const SQS_BATCHES: usize = ROUNDS * BATCHES_PER_ROUND;
/// What ingest-fn answers a batch with no invalid message, and what the no-op function answers
/// an SQS event.
pub(crate) const NO_FAILURES: &str = r#"{"batchItemFailures":[]}"#;

/// Batch `b` as SQS delivers it: messages `m-{b}-{i}` whose bodies are [`reading`]s.
pub(crate) fn sqs_batch(b: usize) -> Value {
    let messages: Vec<(String, String)> = (0..SQS_BATCH)
        .map(|i| (format!("m-{b}-{i}"), reading(b * SQS_BATCH + i).to_string()))
        .collect();
    let mut event = lambda_harness::events::sqs_event(&messages);
    // As the queue delivers what ingest-load and other senders of this project send: no
    // message attributes (AWS's sample carries three, 2.5 times the record's JSON).
    for record in event["Records"].as_array_mut().into_iter().flatten() {
        record["messageAttributes"] = json!({});
        record["md5OfMessageAttributes"] = Value::Null;
    }
    event
}

/// One row of the floor's statement: what ingest-fn stores for a message, under a key of the
/// same length as its `sqs:` + MD5 key, prefixed `bare-` to be told apart.
struct FloorRow {
    event_id: String,
    source: String,
    val1: f64,
    val2: f64,
}

fn floor_rows(b: usize) -> Vec<FloorRow> {
    (0..SQS_BATCH)
        .map(|i| {
            let n = b * SQS_BATCH + i;
            let r = reading(n);
            FloorRow {
                event_id: format!("bare-{n:031x}"),
                source: r["source"].as_str().unwrap().to_owned(),
                val1: r["val1"].as_f64().unwrap(),
                val2: r["val2"].as_f64().unwrap(),
            }
        })
        .collect()
}

/// The statement ingest-fn builds for a batch of [`SQS_BATCH`] rows (`store/mysql.rs`,
/// `insert_query`), built once here.
fn floor_statement() -> Arc<str> {
    let rows = vec!["(?, ?, ?, ?, ?, ?, ?)"; SQS_BATCH].join(", ");
    format!(
        "INSERT IGNORE INTO events (event_id, source, recorded_at, received_at, val1, val2, payload) VALUES {rows}"
    )
    .into()
}

/// The floor's write of one batch: its rows in one prepared statement, all of them new.
async fn floor_insert(conn: &mut MySqlConnection, statement: &Arc<str>, rows: &[FloorRow]) {
    // Like ingest-fn, the time of receipt is taken per delivery.
    let now = chrono::Utc::now().naive_utc();
    let mut q = sqlx::query(AssertSqlSafe(statement.clone()));
    for r in rows {
        q = q
            .bind(&r.event_id)
            .bind(&r.source)
            .bind(now)
            .bind(now)
            .bind(r.val1)
            .bind(r.val2)
            .bind(None::<String>);
    }
    let done = q.execute(conn).await.expect("the floor's INSERT IGNORE");
    assert_eq!(
        done.rows_affected(),
        rows.len() as u64,
        "every floor row new"
    );
}

/// What the rounds measured.
pub(crate) struct SqsFigures {
    /// ingest-fn's latency per batch, as the Runtime API saw it.
    pub(crate) ingest: Vec<Duration>,
    /// The floor's parts per batch: the no-op function's latency and the INSERT's.
    noop: Vec<Duration>,
    insert: Vec<Duration>,
    /// Wall time of each round (consecutive batches, the function's turnaround between them
    /// included), ingest-fn's and the floor's.
    ingest_rounds: Vec<Duration>,
    floor_rounds: Vec<Duration>,
    /// What building one event took this process (not counted in either side's figures).
    built: Duration,
}

/// Runs the rounds: ingest-fn behind `ingest`, the no-op function behind `noop`, the floor's
/// INSERTs over `conn`. Batch 0 is each side's untimed first; the timed ones are 1 to
/// [`SQS_BATCHES`], the same events for both sides.
pub(crate) async fn sqs_rounds(
    ingest: &RuntimeApi,
    noop: &RuntimeApi,
    conn: &mut MySqlConnection,
) -> SqsFigures {
    // Built before any clock runs: the events, a copy for each side (the Runtime API takes
    // them by value), and the floor's rows. Timed all the same: a loop that builds each event
    // as it goes counts this against the function.
    let building = Instant::now();
    let events: Vec<String> = (0..=SQS_BATCHES)
        .map(|b| sqs_batch(b).to_string())
        .collect();
    let built = building.elapsed() / events.len() as u32;
    let mut ingest_events = events.clone().into_iter();
    let mut noop_events = events.into_iter();
    let rows: Vec<Vec<FloorRow>> = (0..=SQS_BATCHES).map(floor_rows).collect();
    let mut floor_rows = rows.iter();
    let statement = floor_statement();

    let mut figures = SqsFigures {
        built,
        ingest: Vec::with_capacity(SQS_BATCHES),
        noop: Vec::with_capacity(SQS_BATCHES),
        insert: Vec::with_capacity(SQS_BATCHES),
        ingest_rounds: Vec::with_capacity(ROUNDS),
        floor_rounds: Vec::with_capacity(ROUNDS),
    };
    for round in 0..=ROUNDS {
        // Round 0 is the untimed first batch of each side.
        let batches = if round == 0 { 1 } else { BATCHES_PER_ROUND };
        let started = Instant::now();
        for event in ingest_events.by_ref().take(batches) {
            let out = ingest.invoke(event).await;
            assert_eq!(out.body, NO_FAILURES);
            if round > 0 {
                figures.ingest.push(out.latency);
            }
        }
        let ingest_took = started.elapsed();
        let started = Instant::now();
        for (event, rows) in noop_events.by_ref().take(batches).zip(floor_rows.by_ref()) {
            let out = noop.invoke(event).await;
            assert_eq!(out.body, NO_FAILURES);
            let inserting = Instant::now();
            floor_insert(conn, &statement, rows).await;
            if round > 0 {
                figures.noop.push(out.latency);
                figures.insert.push(inserting.elapsed());
            }
        }
        let floor_took = started.elapsed();
        if round > 0 {
            figures.ingest_rounds.push(ingest_took);
            figures.floor_rounds.push(floor_took);
        }
    }
    figures
}

fn events_per_second(rounds: &[Duration]) -> f64 {
    let events = rounds.len() * BATCHES_PER_ROUND * SQS_BATCH;
    events as f64 / rounds.iter().sum::<Duration>().as_secs_f64()
}

impl SqsFigures {
    /// Prints the per-batch series, both rates and their ratio; returns ingest-fn's rate.
    pub(crate) fn report(&self) -> f64 {
        report(
            &format!("ingest-fn, SQS batch of {SQS_BATCH}"),
            self.ingest.clone(),
        );
        report("floor: no-op function, the same batch", self.noop.clone());
        report(
            &format!("floor: one {SQS_BATCH}-row INSERT IGNORE"),
            self.insert.clone(),
        );
        let rate = events_per_second(&self.ingest_rounds);
        let floor = events_per_second(&self.floor_rounds);
        let mut pairs: Vec<f64> = self
            .ingest_rounds
            .iter()
            .zip(&self.floor_rounds)
            .map(|(i, f)| f.as_secs_f64() / i.as_secs_f64())
            .collect();
        pairs.sort_by(f64::total_cmp);
        println!(
            "SQS throughput: ingest-fn {rate:.0} events/s, floor {floor:.0} events/s: {:.2} x the \
             floor (goal >= 0.8 x; {ROUNDS} interleaved rounds of {BATCHES_PER_ROUND} batches, \
             per round {:.2} to {:.2})",
            rate / floor,
            pairs.first().unwrap_or(&f64::NAN),
            pairs.last().unwrap_or(&f64::NAN),
        );
        println!(
            "building one batch's event in this process: {:.3} ms (before the clocks run)",
            self.built.as_secs_f64() * 1e3
        );
        rate
    }
}
