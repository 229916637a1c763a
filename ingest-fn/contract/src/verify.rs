//! Verifying a load run: is every event that ingest-fn acknowledged stored, and stored once?
//!
//! ingest-load names its events `<run id>-<sequence>` ([`event_id`]), so a run's acknowledged
//! events are its id and ranges of sequence numbers ([`VerifyRequest`]): a few bytes for a run
//! of millions, where their ids would not fit Lambda's invoke payload. The same [`check`]
//! answers `ingest-load --verify DATABASE_URL` directly and `--verify-function` through
//! `migrate`, which runs inside the database's fence: point lookups of at most
//! [`CHUNK`] ids on the unique `event_id` index, in a read-only transaction, folded by
//! the pure [`Tally`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{MySql, MySqlPool, QueryBuilder};

/// Ids per query: bounded work per round trip, and far below MySQL's 65,535 placeholders.
pub const CHUNK: usize = 1000;

/// Ranges per request. With sequence numbers below [`MAX_EVENTS`] each range takes at most
/// 20 bytes of JSON, so a request stays near 2 MB, well inside Lambda's 6 MB synchronous
/// invoke payload (tested below).
pub const MAX_RANGES: usize = 100_000;

/// Events per request: ten million lookups take about a minute, inside migrate's timeout.
pub const MAX_EVENTS: u64 = 10_000_000;

/// The most ids a verification lists; the counts are always complete.
pub const MAX_LISTED: usize = 1000;

/// How many missing and doubled ids a verification lists when the request does not say.
pub const DEFAULT_LISTED: usize = 100;

/// The `event_id` ingest-load gives the `seq`-th event of run `run_id`.
pub fn event_id(run_id: &str, seq: u64) -> String {
    format!("{run_id}-{seq}")
}

/// Which events to look for: `{run_id}-{seq}` for every `seq` in the half-open `[start, end)`
/// ranges of `acked`, ascending and apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    pub run_id: String,
    pub acked: Vec<[u64; 2]>,
    /// How many missing and doubled ids to list (at most [`MAX_LISTED`]).
    #[serde(default = "default_listed")]
    pub list: usize,
}

fn default_listed() -> usize {
    DEFAULT_LISTED
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("verify request: {0}")]
    Invalid(String),
    #[error("verify request: event id {id:?} is not <run id>-<sequence> of run {run_id:?}")]
    ForeignId { id: String, run_id: String },
    #[error("verifying run {run_id}: {step}: {source}")]
    Query {
        run_id: String,
        /// e.g. `looking up 1000 ids from load-…-0`.
        step: String,
        #[source]
        source: sqlx::Error,
    },
}

fn invalid(what: String) -> VerifyError {
    VerifyError::Invalid(what)
}

impl VerifyRequest {
    /// The request for `ids`, all of run `run_id`, in any order.
    pub fn for_ids(
        run_id: &str,
        ids: &[String],
        list: usize,
    ) -> Result<VerifyRequest, VerifyError> {
        let prefix = format!("{run_id}-");
        let mut seqs = ids
            .iter()
            .map(|id| {
                id.strip_prefix(&prefix)
                    .and_then(|s| s.parse::<u64>().ok())
                    // Only the canonical spelling: "01" or "+1" would name another id.
                    .filter(|seq| event_id(run_id, *seq) == *id)
                    .ok_or_else(|| VerifyError::ForeignId {
                        id: id.clone(),
                        run_id: run_id.to_owned(),
                    })
            })
            .collect::<Result<Vec<u64>, _>>()?;
        seqs.sort_unstable();
        seqs.dedup();
        let mut acked: Vec<[u64; 2]> = Vec::new();
        for seq in seqs {
            match acked.last_mut() {
                Some(last) if last[1] == seq => last[1] = seq + 1,
                _ => acked.push([seq, seq + 1]),
            }
        }
        let request = VerifyRequest {
            run_id: run_id.to_owned(),
            acked,
            list,
        };
        request.validate()?;
        Ok(request)
    }

    /// What [`check`] relies on: a run id that only ingest-load's characters make up (it goes
    /// into ids compared byte for byte), ascending disjoint ranges, and the bounds above.
    pub fn validate(&self) -> Result<(), VerifyError> {
        let id_ok = (1..=40).contains(&self.run_id.len())
            && self
                .run_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(invalid(format!(
                "run_id {:?} is not 1 to 40 letters, digits, '-' or '_'",
                self.run_id
            )));
        }
        if self.acked.len() > MAX_RANGES {
            return Err(invalid(format!(
                "{} ranges; at most {MAX_RANGES}",
                self.acked.len()
            )));
        }
        let mut previous_end = 0;
        for (i, &[start, end]) in self.acked.iter().enumerate() {
            if start >= end || (i > 0 && start <= previous_end) || end > MAX_EVENTS {
                return Err(invalid(format!(
                    "range {i} [{start}, {end}) is empty, out of order, overlaps or touches the \
                     one before, or ends past {MAX_EVENTS}"
                )));
            }
            previous_end = end;
        }
        if self.events() > MAX_EVENTS {
            return Err(invalid(format!(
                "{} events; at most {MAX_EVENTS}",
                self.events()
            )));
        }
        if self.list > MAX_LISTED {
            return Err(invalid(format!("list {}: at most {MAX_LISTED}", self.list)));
        }
        Ok(())
    }

    /// How many events the request names.
    pub fn events(&self) -> u64 {
        self.acked.iter().map(|[start, end]| end - start).sum()
    }

    /// The ids, in sending order, [`CHUNK`] at a time.
    pub fn chunks(&self) -> impl Iterator<Item = Vec<String>> + '_ {
        let mut seqs = self.acked.iter().flat_map(|&[start, end]| start..end);
        std::iter::from_fn(move || {
            let chunk: Vec<String> = seqs
                .by_ref()
                .take(CHUNK)
                .map(|seq| event_id(&self.run_id, seq))
                .collect();
            (!chunk.is_empty()).then_some(chunk)
        })
    }
}

/// The payload that asks `migrate` to answer `request`: `{"verify": {…}}`.
pub fn invoke_payload(request: &VerifyRequest) -> Value {
    json!({ "verify": request })
}

/// The verify request in a payload `migrate` was invoked with, checked; `None` when the
/// payload asks for something else (a migration).
pub fn request_in(payload: &Value) -> Option<Result<VerifyRequest, VerifyError>> {
    let request = payload.get("verify")?;
    Some(
        VerifyRequest::deserialize(request)
            .map_err(|e| VerifyError::Invalid(e.to_string()))
            .and_then(|r| r.validate().map(|()| r)),
    )
}

/// What is stored of a run's acknowledged events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub run_id: String,
    /// Acknowledged events looked for.
    pub checked: u64,
    /// Of those, how many have a row.
    pub stored: u64,
    /// How many have none, and the first of them in sending order.
    pub missing: u64,
    pub missing_ids: Vec<String>,
    /// How many have more than one row, and the first of them. The unique `event_id` index
    /// makes this impossible today; the check stays so a schema that loses the index (MySQL
    /// partitioning, for one, admits only unique keys that include the partitioning columns)
    /// cannot double events unnoticed. An event stored under another key than its own id would
    /// count as missing.
    pub doubled: u64,
    pub doubled_ids: Vec<String>,
}

impl Verification {
    /// Every acknowledged event stored exactly once.
    pub fn passed(&self) -> bool {
        self.missing == 0 && self.doubled == 0
    }
}

/// Folds what the database returns, chunk by chunk, into a [`Verification`].
#[derive(Debug)]
struct Tally {
    verification: Verification,
    list: usize,
}

impl Tally {
    fn new(run_id: &str, list: usize) -> Tally {
        Tally {
            verification: Verification {
                run_id: run_id.to_owned(),
                ..Verification::default()
            },
            list,
        }
    }

    /// `ids` looked for, and the rows per id found (an id not in `rows` has none).
    fn add(&mut self, ids: &[String], rows: &HashMap<String, i64>) {
        let v = &mut self.verification;
        for id in ids {
            v.checked += 1;
            match rows.get(id).copied().unwrap_or(0) {
                0 => {
                    v.missing += 1;
                    if v.missing_ids.len() < self.list {
                        v.missing_ids.push(id.clone());
                    }
                }
                n => {
                    v.stored += 1;
                    if n > 1 {
                        v.doubled += 1;
                        if v.doubled_ids.len() < self.list {
                            v.doubled_ids.push(id.clone());
                        }
                    }
                }
            }
        }
    }

    fn finish(self) -> Verification {
        self.verification
    }
}

/// Answers `request` from the events table, in one read-only transaction so it cannot write
/// whatever account runs it. Parameterized: ids are bound, never spliced.
/// <https://dev.mysql.com/doc/refman/8.4/en/commit.html> (`START TRANSACTION READ ONLY`)
pub async fn check(pool: &MySqlPool, request: &VerifyRequest) -> Result<Verification, VerifyError> {
    request.validate()?;
    let failed = |step: String| {
        let run_id = request.run_id.clone();
        move |source| VerifyError::Query {
            run_id,
            step,
            source,
        }
    };
    // sqlx's transaction runs this statement as text (MySQL does not prepare it) and rolls
    // back if dropped half-way.
    let mut tx = pool
        .begin_with("START TRANSACTION READ ONLY")
        .await
        .map_err(failed("starting a read-only transaction".into()))?;
    let mut tally = Tally::new(&request.run_id, request.list);
    for ids in request.chunks() {
        let mut q =
            QueryBuilder::<MySql>::new("SELECT event_id, COUNT(*) FROM events WHERE event_id IN (");
        let mut list = q.separated(", ");
        for id in &ids {
            list.push_bind(id);
        }
        q.push(") GROUP BY event_id");
        let rows: Vec<(String, i64)> =
            q.build_query_as()
                .fetch_all(&mut *tx)
                .await
                .map_err(failed(format!(
                    "looking up {} ids from {}",
                    ids.len(),
                    ids[0]
                )))?;
        tally.add(&ids, &rows.into_iter().collect());
    }
    tx.commit()
        .await
        .map_err(failed("ending the read-only transaction".into()))?;
    Ok(tally.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(run: &str, seqs: impl IntoIterator<Item = u64>) -> Vec<String> {
        seqs.into_iter().map(|s| event_id(run, s)).collect()
    }

    #[test]
    fn acknowledged_ids_become_ranges_and_back() {
        let run = "load-0190abcdef";
        let acked: Vec<u64> = (0..5).chain(7..9).chain([20]).collect();
        let mut shuffled = ids(run, acked.iter().rev().copied());
        shuffled.push(event_id(run, 3));
        let r = VerifyRequest::for_ids(run, &shuffled, 10).unwrap();
        assert_eq!(r.acked, [[0, 5], [7, 9], [20, 21]]);
        assert_eq!(r.events(), 8);
        let back: Vec<String> = r.chunks().flatten().collect();
        assert_eq!(back, ids(run, acked));
        // Serialized, a request is its id and its ranges, whatever the run's size.
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"run_id":"load-0190abcdef","acked":[[0,5],[7,9],[20,21]],"list":10}"#
        );
    }

    #[test]
    fn ids_of_another_run_or_shape_are_refused() {
        let run = "load-a";
        for id in [
            "load-b-1",
            "load-a-",
            "load-a-x",
            "load-a-01",
            "load-a-+1",
            "load-a1",
        ] {
            let e = VerifyRequest::for_ids(run, &[id.to_owned()], 10).unwrap_err();
            assert!(e.to_string().contains(id), "{e}");
        }
    }

    #[test]
    fn requests_out_of_bounds_are_refused() {
        let request = |run_id: &str, acked: Vec<[u64; 2]>, list| VerifyRequest {
            run_id: run_id.into(),
            acked,
            list,
        };
        let refused = |r: VerifyRequest| r.validate().unwrap_err().to_string();
        assert!(refused(request("a'b", vec![[0, 1]], 1)).contains("run_id"));
        assert!(refused(request("", vec![[0, 1]], 1)).contains("run_id"));
        assert!(refused(request("r", vec![[1, 1]], 1)).contains("range 0"));
        assert!(refused(request("r", vec![[0, 2], [2, 3]], 1)).contains("range 1"));
        assert!(refused(request("r", vec![[5, 6], [0, 1]], 1)).contains("range 1"));
        assert!(refused(request("r", vec![[0, MAX_EVENTS + 1]], 1)).contains("range 0"));
        assert!(refused(request("r", vec![[0, 1]], MAX_LISTED + 1)).contains("list"));
        let many = (0..=MAX_RANGES as u64)
            .map(|i| [2 * i, 2 * i + 1])
            .collect();
        assert!(refused(request("r", many, 1)).contains("ranges"));
        assert!(request("r", vec![], 0).validate().is_ok());
        let unknown =
            serde_json::from_str::<VerifyRequest>(r#"{"run_id":"r","acked":[],"ids":[]}"#);
        assert!(unknown.is_err());
        let defaulted: VerifyRequest =
            serde_json::from_str(r#"{"run_id":"r","acked":[]}"#).unwrap();
        assert_eq!(defaulted.list, DEFAULT_LISTED);
    }

    // Lambda's synchronous invoke takes at most 6 MB of payload; the largest request that
    // passes validation must fit, whatever the run.
    // https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
    // https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html
    #[test]
    fn the_largest_valid_request_fits_lambdas_6_mb_invoke_payload() {
        let first = MAX_EVENTS - 2 * MAX_RANGES as u64;
        let r = VerifyRequest {
            run_id: "x".repeat(40),
            acked: (0..MAX_RANGES as u64)
                .map(|i| [first + 2 * i, first + 2 * i + 1])
                .collect(),
            list: MAX_LISTED,
        };
        r.validate().unwrap();
        let payload = invoke_payload(&r).to_string();
        assert!(payload.len() < 6 * 1000 * 1000, "{} bytes", payload.len());
        // And the largest answer: every listed id at the longest an id of such a run can be.
        let longest = event_id(&r.run_id, MAX_EVENTS - 1);
        assert!(longest.len() <= 64, "event_id is VARCHAR(64): {longest}");
        let v = Verification {
            missing_ids: vec![longest.clone(); MAX_LISTED],
            doubled_ids: vec![longest; MAX_LISTED],
            ..Verification::default()
        };
        assert!(serde_json::to_string(&v).unwrap().len() < 6 * 1000 * 1000);
    }

    #[test]
    fn the_tally_counts_stored_missing_and_doubled_and_lists_the_first() {
        let run = "load-r";
        let mut t = Tally::new(run, 2);
        let chunk = ids(run, 0..5);
        let rows = HashMap::from([(chunk[0].clone(), 1), (chunk[2].clone(), 2)]);
        t.add(&chunk, &rows);
        let chunk = ids(run, 5..7);
        t.add(&chunk, &HashMap::from([(chunk[1].clone(), 3)]));
        let v = t.finish();
        assert_eq!(
            (v.checked, v.stored, v.missing, v.doubled),
            (7, 3, 4, 2),
            "{v:?}"
        );
        assert_eq!(v.missing_ids, ids(run, [1, 3]));
        assert_eq!(v.doubled_ids, ids(run, [2, 6]));
        assert!(!v.passed());
        let mut t = Tally::new(run, 2);
        let chunk = ids(run, 0..2);
        t.add(&chunk, &chunk.iter().map(|id| (id.clone(), 1)).collect());
        let v = t.finish();
        assert!(
            v.passed() && v.stored == 2 && v.missing_ids.is_empty(),
            "{v:?}"
        );
    }
}
