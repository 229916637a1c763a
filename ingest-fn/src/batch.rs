//! One delivery's items, each parsed into a row or rejected with its reasons: the core every
//! source adapter feeds.

use std::fmt;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use serde::Serialize;
use serde_json::Value;

use crate::event::{Event, FieldError, check_event_id, parse_event};
use crate::store::{EventStore, Row, StoreError, Wait, Written};

pub use contract::MAX_ITEMS;

/// What one delivery came to, as its adapter reports it: the handler turns it into the
/// invocation's metrics line (`metrics::record`). Every received item ends as written,
/// duplicate or invalid, except those of a write that failed: the whole delivery fails and
/// comes again, so none of them is counted.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Outcome {
    /// New rows.
    pub(crate) written: u64,
    /// Events already stored.
    pub(crate) duplicates: u64,
    /// Items refused as invalid, each item of a request refused as a whole included.
    pub(crate) invalid: u64,
    /// The write failed because the database was unavailable. A write the database rejected
    /// (`StoreRejected`) is not an outage, and its events are not invalid: it counts nowhere;
    /// Lambda's Errors, the Function URL's 5xx and the dead-letter queue show it, and its log
    /// line names the MySQL error.
    pub(crate) store_unavailable: bool,
    /// Lost connections the store replaced during the write.
    pub(crate) reconnects: u64,
    /// The write's duration, retries included; `None` when there was nothing to write.
    pub(crate) write_latency: Option<Duration>,
}

impl Outcome {
    /// Counts `n` items of a request refused as a whole.
    pub(crate) fn refuse(&mut self, n: usize) {
        self.invalid += n as u64;
    }
}

/// An item that will not be written, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Rejected {
    pub(crate) index: usize,
    pub(crate) errors: Vec<FieldError>,
}

/// The items of one delivery, in order.
#[derive(Debug, Clone)]
pub(crate) struct EventBatch {
    received_at: NaiveDateTime,
    pub(crate) rows: Vec<Row>,
    pub(crate) rejected: Vec<Rejected>,
    len: usize,
}

impl EventBatch {
    pub(crate) fn new(received_at: NaiveDateTime) -> Self {
        EventBatch {
            received_at,
            rows: Vec::new(),
            rejected: Vec::new(),
            len: 0,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    /// Adds the next item. `key` gives the idempotency key for an item without `event_id`:
    /// one that stays the same when the same delivery is retried.
    pub(crate) fn push(&mut self, item: &Value, key: impl FnOnce() -> String) {
        match parse_event(item) {
            Ok(event) => self.accept(event, key),
            Err(errors) => self.reject(errors),
        }
    }

    fn accept(&mut self, e: Event, key: impl FnOnce() -> String) {
        let event_id = match e.event_id {
            Some(id) => id,
            None => {
                let derived = key();
                if let Err(p) = check_event_id(&derived) {
                    let problem = format!(
                        "absent, and the key derived from the delivery ({derived:?}) is unusable: {p}"
                    );
                    return self.reject(vec![FieldError {
                        field: "event_id".into(),
                        problem,
                    }]);
                }
                derived
            }
        };
        self.rows.push(Row {
            event_id,
            source: e.source,
            recorded_at: e.recorded_at.unwrap_or(self.received_at),
            received_at: self.received_at,
            val1: e.val1,
            val2: e.val2,
            payload: e.payload,
        });
        self.len += 1;
    }

    /// Adds an item that could not even be read (a body that is not JSON, say).
    pub(crate) fn reject(&mut self, errors: Vec<FieldError>) {
        self.rejected.push(Rejected {
            index: self.len,
            errors,
        });
        self.len += 1;
    }

    pub(crate) fn event_ids(&self) -> Vec<String> {
        self.rows.iter().map(|r| r.event_id.clone()).collect()
    }

    /// Writes the accepted rows in one statement, waiting for a connection as `wait` allows,
    /// and notes in `outcome` what the write did and the items found invalid.
    pub(crate) async fn write(
        &self,
        store: &impl EventStore,
        wait: Wait,
        outcome: &mut Outcome,
    ) -> Result<Written, StoreError> {
        if self.rows.is_empty() {
            outcome.invalid += self.rejected.len() as u64;
            return Ok(Written::default());
        }
        let started = Instant::now();
        let result = store.insert(&self.rows, wait).await;
        outcome.write_latency = Some(started.elapsed());
        match &result {
            Ok(w) => {
                outcome.written += w.inserted;
                outcome.duplicates += w.duplicates;
                outcome.reconnects += w.reconnects;
                outcome.invalid += self.rejected.len() as u64;
            }
            Err(e) => outcome.store_unavailable = !e.is_permanent(),
        }
        result
    }
}

/// Every rejected item of an all-or-nothing request, for the error message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Rejections {
    pub(crate) items: Vec<Rejected>,
    /// A single object rather than an array: no index to show.
    #[serde(skip)]
    pub(crate) single: bool,
}

impl fmt::Display for Rejections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.items.len();
        if !self.single {
            write!(
                f,
                "{n} invalid item{}, nothing was written: ",
                if n == 1 { "" } else { "s" }
            )?;
        } else {
            write!(f, "invalid event, nothing was written: ")?;
        }
        let mut first = true;
        for item in &self.items {
            for e in &item.errors {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                match (self.single, e.field.is_empty()) {
                    (true, true) => write!(f, "{}", e.problem)?,
                    (true, false) => write!(f, "{e}")?,
                    (false, true) => write!(f, "[{}]: {}", item.index, e.problem)?,
                    (false, false) => write!(f, "[{}].{e}", item.index)?,
                }
            }
        }
        Ok(())
    }
}

impl std::error::Error for Rejections {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::{MemoryStore, received_at as now};
    use serde_json::json;

    #[tokio::test]
    async fn a_write_counts_new_duplicate_and_invalid_items() {
        let store = MemoryStore::default();
        let mut batch = EventBatch::new(now());
        for (i, id) in ["a", "b", "a"].iter().enumerate() {
            batch.push(
                &json!({"event_id": id, "source": "t", "val1": i, "val2": 0}),
                || unreachable!(),
            );
        }
        batch.push(&json!({"source": "t"}), || "c".into());
        let mut outcome = Outcome::default();
        batch.write(&store, Wait::Full, &mut outcome).await.unwrap();
        assert_eq!(
            (outcome.written, outcome.duplicates, outcome.invalid),
            (2, 1, 1)
        );
        assert!(outcome.write_latency.is_some());
    }

    #[tokio::test]
    async fn a_failed_write_counts_the_outage_and_nothing_else() {
        let store = MemoryStore::failing(1);
        let mut batch = EventBatch::new(now());
        batch.push(&json!({"source": "t", "val1": 1, "val2": 2}), || "k".into());
        batch.push(&json!({"source": "t"}), || "k2".into());
        let mut outcome = Outcome::default();
        assert!(batch.write(&store, Wait::Full, &mut outcome).await.is_err());
        assert_eq!(
            (outcome.written, outcome.duplicates, outcome.invalid),
            (0, 0, 0)
        );
        assert!(outcome.store_unavailable);
        // Nothing to write, nothing timed.
        let mut outcome = Outcome::default();
        EventBatch::new(now())
            .write(&store, Wait::Full, &mut outcome)
            .await
            .unwrap();
        assert_eq!(outcome.write_latency, None);
    }

    #[test]
    fn keys_and_times_default_from_the_delivery() {
        let mut b = EventBatch::new(now());
        b.push(&json!({"source": "a", "val1": 1, "val2": 2}), || {
            "req-1:0".into()
        });
        b.push(
            &json!({"source": "a", "val1": 1, "val2": 2, "event_id": "mine"}),
            || unreachable!(),
        );
        b.push(&json!({"source": "a"}), || "req-1:2".into());
        assert_eq!(b.event_ids(), ["req-1:0", "mine"]);
        assert_eq!(b.rows[0].recorded_at, now());
        assert_eq!(b.rejected[0].index, 2);
        assert_eq!(b.len(), 3);
    }

    #[test]
    fn rejections_read_as_a_person_would_want() {
        let r = Rejections {
            items: vec![
                Rejected {
                    index: 0,
                    errors: vec![FieldError {
                        field: "val1".into(),
                        problem: "required".into(),
                    }],
                },
                Rejected {
                    index: 3,
                    errors: vec![FieldError {
                        field: "".into(),
                        problem: "expected an event object".into(),
                    }],
                },
            ],
            single: false,
        };
        assert_eq!(
            r.to_string(),
            "2 invalid items, nothing was written: [0].val1: required; [3]: expected an event object"
        );
    }
}
