//! What one invocation did, as counted for its metrics line (CloudWatch embedded metric
//! format, see the `emf` crate): every received item ends as written, duplicate or rejected.

use std::time::{Duration, Instant};

use emf::{Metric, Unit};

use crate::batch::EventBatch;
use crate::store::{EventStore, StoreError, Written};

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
    ) -> Result<Written, StoreError> {
        let started = Instant::now();
        let result = batch.write(store).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::{MemoryStore, received_at as now};
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
        tally.write(&batch, &store).await.unwrap();
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
        assert!(tally.write(&batch, &store).await.is_err());
        assert_eq!((tally.written, tally.duplicates, tally.rejected), (0, 0, 0));
        assert!(tally.store_unavailable);
        // Nothing to write, nothing timed.
        let mut tally = Tally::default();
        tally.write(&EventBatch::new(now()), &store).await.unwrap();
        assert_eq!(tally.write_latency, None);
        assert!(!tally.metrics().iter().any(|m| m.name == WRITE_LATENCY));
    }
}
