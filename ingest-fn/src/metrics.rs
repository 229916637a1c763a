//! What one invocation did, as counted for its metrics line (CloudWatch embedded metric
//! format, see the `emf` crate): every received item ends as written, duplicate or rejected.
//! The line is written once the invocation's response has been posted ([`MetricsLayer`]).

use std::time::{Duration, Instant};

use emf::{Metric, Unit};

use crate::batch::EventBatch;
use crate::store::{EventStore, StoreError, Wait, Written};

/// New rows.
pub const EVENTS_WRITTEN: &str = "EventsWritten";
/// Events already stored (a retry, a redelivery).
pub const EVENTS_DUPLICATE: &str = "EventsDuplicate";
/// Events refused as invalid, each item of a request refused as a whole included.
pub const EVENTS_REJECTED: &str = "EventsRejected";
/// 1 when the invocation could not write because the database was unavailable. A write the
/// database rejected (`StoreRejected`) counts here as nowhere else: not at all (see [`Tally::write`]).
pub const STORE_UNAVAILABLE: &str = "StoreUnavailable";
/// Lost connections the store replaced during the invocation.
pub const RECONNECTS: &str = "Reconnects";
/// The write's duration, retries included; only in a line whose invocation wrote.
pub(crate) const WRITE_LATENCY: &str = "WriteLatency";

/// One invocation's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Tally {
    pub(crate) written: u64,
    pub(crate) duplicates: u64,
    pub(crate) rejected: u64,
    pub(crate) store_unavailable: bool,
    pub(crate) reconnects: u64,
    /// `None` when nothing was written or tried.
    pub(crate) write_latency: Option<Duration>,
}

impl Tally {
    /// Counts `n` items of a request refused as a whole.
    pub(crate) fn refuse(&mut self, n: usize) {
        self.rejected += n as u64;
    }

    /// Writes `batch`'s rows, counting what the write did and the items `batch` rejected. A
    /// failed write counts none of them: the whole delivery fails and comes again. A write the
    /// database rejected is not an outage, and its events are not invalid: it counts in no
    /// metric (`EventsRejected` stays invalid input only); Lambda's Errors, the Function URL's
    /// 5xx and the dead-letter queue show it, and its log line names the MySQL error.
    pub(crate) async fn write(
        &mut self,
        batch: &EventBatch,
        store: &impl EventStore,
        wait: Wait,
    ) -> Result<Written, StoreError> {
        let started = Instant::now();
        let result = batch.write(store, wait).await;
        if !batch.rows.is_empty() {
            self.write_latency = Some(started.elapsed());
        }
        match &result {
            Ok(w) => {
                self.reconnects += w.reconnects;
                self.written += w.inserted;
                self.duplicates += w.duplicates;
                self.rejected += batch.rejected.len() as u64;
            }
            Err(e) => self.store_unavailable = !e.is_permanent(),
        }
        result
    }

    /// The line's metrics.
    pub(crate) fn metrics(&self) -> Vec<Metric> {
        let mut metrics = vec![
            Metric::count(EVENTS_WRITTEN, self.written),
            Metric::count(EVENTS_DUPLICATE, self.duplicates),
            Metric::count(EVENTS_REJECTED, self.rejected),
            Metric::count(STORE_UNAVAILABLE, u64::from(self.store_unavailable)),
            Metric::count(RECONNECTS, self.reconnects),
        ];
        if let Some(latency) = self.write_latency {
            metrics.push(Metric {
                name: WRITE_LATENCY,
                unit: Unit::Milliseconds,
                value: latency.as_secs_f64() * 1e3,
            });
        }
        metrics
    }
}

/// The line itself is `emf::lambda`'s, shared with sg-sync-fn: [`metered`] around each
/// invocation, [`MetricsLayer`] around lambda_runtime's service in the function.
pub use emf::lambda::{MetricsLayer, metered};

/// Hands the invocation's figures to the [`metered`] scope it runs in, whose line is written
/// once the response is posted; outside one they are dropped.
pub(crate) fn record(tally: Tally) {
    emf::lambda::record(tally.metrics());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::{MemoryStore, received_at as now};
    use emf::Emitter;
    use serde_json::json;

    #[tokio::test]
    async fn a_write_counts_new_duplicate_and_rejected_items() {
        let store = MemoryStore::default();
        let mut batch = EventBatch::new(now());
        for (i, id) in ["a", "b", "a"].iter().enumerate() {
            batch.push(
                &json!({"event_id": id, "source": "t", "val1": i, "val2": 0}),
                || unreachable!(),
            );
        }
        batch.push(&json!({"source": "t"}), || "c".into());
        let mut tally = Tally::default();
        tally.write(&batch, &store, Wait::Full).await.unwrap();
        assert_eq!((tally.written, tally.duplicates, tally.rejected), (2, 1, 1));
        assert!(tally.write_latency.is_some());
        let names: Vec<_> = tally.metrics().iter().map(|m| m.name).collect();
        assert_eq!(
            names,
            [
                "EventsWritten",
                "EventsDuplicate",
                "EventsRejected",
                "StoreUnavailable",
                "Reconnects",
                "WriteLatency"
            ]
        );
    }

    #[tokio::test]
    async fn a_failed_write_counts_the_outage_and_nothing_else() {
        let store = MemoryStore::failing(1);
        let mut batch = EventBatch::new(now());
        batch.push(&json!({"source": "t", "val1": 1, "val2": 2}), || "k".into());
        batch.push(&json!({"source": "t"}), || "k2".into());
        let mut tally = Tally::default();
        assert!(tally.write(&batch, &store, Wait::Full).await.is_err());
        assert_eq!((tally.written, tally.duplicates, tally.rejected), (0, 0, 0));
        assert!(tally.store_unavailable);
        // Nothing to write, nothing timed.
        let mut tally = Tally::default();
        tally
            .write(&EventBatch::new(now()), &store, Wait::Full)
            .await
            .unwrap();
        assert_eq!(tally.write_latency, None);
        assert!(!tally.metrics().iter().any(|m| m.name == WRITE_LATENCY));
    }

    fn written(n: u64) -> Tally {
        Tally {
            written: n,
            ..Tally::default()
        }
    }

    // In the function the metered future includes the POST of the response: the line must
    // come after it, and before `metered` returns (the runtime then asks for the next event).
    #[tokio::test]
    async fn the_line_is_written_after_the_invocation_and_before_metered_returns() {
        let (emitter, lines) = Emitter::in_memory("LambdaRdsIngest", "ingest-fn").unwrap();
        let answer = metered(&emitter, async {
            record(written(3));
            tokio::task::yield_now().await;
            // The response is being posted: no line yet.
            assert!(lines.take().is_empty());
            "response"
        })
        .await;
        assert_eq!(answer, "response");
        let [line]: [String; 1] = lines.take().try_into().unwrap();
        assert_eq!(emf::parse(&line).unwrap().sum(EVENTS_WRITTEN), 3.0);
    }

    // An invocation whose handler never ran (lambda_runtime refused the event) has no figures.
    #[tokio::test]
    async fn an_invocation_that_recorded_nothing_writes_no_line() {
        let (emitter, lines) = Emitter::in_memory("LambdaRdsIngest", "ingest-fn").unwrap();
        metered(&emitter, async {}).await;
        assert!(lines.take().is_empty());
        // Outside any scope, recording is a no-op rather than a panic.
        record(written(1));
    }

    // Lambda Managed Instances run invocations side by side: each line has its own figures.
    #[tokio::test]
    async fn invocations_in_flight_together_each_write_their_own_figures() {
        let (emitter, lines) = Emitter::in_memory("LambdaRdsIngest", "ingest-fn").unwrap();
        let invocation = |n: u64| {
            metered(&emitter, async move {
                tokio::task::yield_now().await;
                record(written(n));
                tokio::task::yield_now().await;
            })
        };
        tokio::join!(invocation(1), invocation(2), invocation(4));
        let mut figures: Vec<f64> = lines
            .take()
            .iter()
            .map(|l| emf::parse(l).unwrap().sum(EVENTS_WRITTEN))
            .collect();
        figures.sort_by(f64::total_cmp);
        assert_eq!(figures, [1.0, 2.0, 4.0]);
    }
}
