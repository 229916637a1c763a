//! One invocation's metrics line (CloudWatch embedded metric format, see the `emf` crate),
//! made by the handler from what the delivery came to ([`Outcome`]): observed around the
//! write, never part of it. The line is written once the invocation's response has been posted
//! ([`MetricsLayer`]).

use emf::{Metric, Unit};

use crate::batch::Outcome;

/// New rows.
pub const EVENTS_WRITTEN: &str = "EventsWritten";
/// Events already stored (a retry, a redelivery).
pub const EVENTS_DUPLICATE: &str = "EventsDuplicate";
/// Events refused as invalid, each item of a request refused as a whole included. Named for
/// the error type it counts (`InvalidEvent`): "rejected" is the database's refusal alone
/// (`StoreRejected`), which no metric counts.
pub const EVENTS_INVALID: &str = "EventsInvalid";
/// 1 when the invocation could not write because the database was unavailable. A write the
/// database rejected (`StoreRejected`) counts here as nowhere else: not at all (see [`Outcome::store_unavailable`]).
pub const STORE_UNAVAILABLE: &str = "StoreUnavailable";
/// Lost connections the store replaced during the invocation.
pub const RECONNECTS: &str = "Reconnects";
/// The write's duration, retries included; only in a line whose invocation wrote.
pub(crate) const WRITE_LATENCY: &str = "WriteLatency";

/// The line's metrics for `outcome`.
pub(crate) fn metrics(outcome: &Outcome) -> Vec<Metric> {
    let mut metrics = vec![
        Metric::count(EVENTS_WRITTEN, outcome.written),
        Metric::count(EVENTS_DUPLICATE, outcome.duplicates),
        Metric::count(EVENTS_INVALID, outcome.invalid),
        Metric::count(STORE_UNAVAILABLE, u64::from(outcome.store_unavailable)),
        Metric::count(RECONNECTS, outcome.reconnects),
    ];
    if let Some(latency) = outcome.write_latency {
        metrics.push(Metric {
            name: WRITE_LATENCY,
            unit: Unit::Milliseconds,
            value: latency.as_secs_f64() * 1e3,
        });
    }
    metrics
}

/// The line itself is `emf::lambda`'s, shared with sg-sync-fn: [`metered`] around each
/// invocation, [`MetricsLayer`] around lambda_runtime's service in the function.
pub use emf::lambda::{MetricsLayer, metered};

/// Hands the invocation's figures to the [`metered`] scope it runs in, whose line is written
/// once the response is posted; outside one they are dropped.
pub(crate) fn record(outcome: &Outcome) {
    emf::lambda::record(metrics(outcome));
}

// How the line is scoped and written (after the response, one per invocation, each with its
// own figures) is `emf::lambda`'s, and tested there.
#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_line_has_the_five_counts_and_the_latency_of_a_write() {
        let outcome = Outcome {
            written: 2,
            duplicates: 1,
            invalid: 1,
            write_latency: Some(Duration::from_millis(3)),
            ..Outcome::default()
        };
        let names: Vec<_> = metrics(&outcome).iter().map(|m| m.name).collect();
        assert_eq!(
            names,
            [
                "EventsWritten",
                "EventsDuplicate",
                "EventsInvalid",
                "StoreUnavailable",
                "Reconnects",
                "WriteLatency"
            ]
        );
        let values: Vec<_> = metrics(&outcome).iter().map(|m| m.value).collect();
        assert_eq!(values, [2.0, 1.0, 1.0, 0.0, 0.0, 3.0]);
        // Nothing written or tried, nothing timed.
        let nothing = Outcome::default();
        assert!(!metrics(&nothing).iter().any(|m| m.name == WRITE_LATENCY));
        // Outside any metered scope, recording is a no-op rather than a panic.
        record(&nothing);
    }
}
