//! One run: from the table's first row, chunk after chunk, each archived (when an archive is
//! configured) and then deleted on its own, with a pause between chunks, until the chunks reach
//! the cutoff, the table ends, or the time budget is spent. The database and S3 are behind
//! [`EventsTable`] and [`ArchiveStore`], so that the loop is tested with fakes.
//!
//! Stateless: a run starts from the table's first id, so a run that stopped (its budget, an
//! error, Lambda's timeout killing it mid-chunk) is resumed by the next one, which finds the
//! chunks it left. Nothing is lost in between: a chunk's rows are deleted by one statement,
//! after its archive object was stored, and a chunk whose object is already there (412: the
//! earlier run stored it, then died before its DELETE) is deleted without being archived twice.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use emf::{Metric, Unit};
use serde::Serialize;
use tokio::time::Instant;

use crate::archive::{ArchivedEvent, Object};
use crate::chunk::{Chunk, Survey, Verdict, judge};
use crate::error::{ArchiveError, ExpireError, TableError};

/// Rows deleted by the run.
pub const EVENTS_EXPIRED: &str = "EventsExpired";
/// Rows the run wrote to new archive objects (not those a 412 found archived already).
pub const EVENTS_ARCHIVED: &str = "EventsArchived";
/// Age of the oldest row left, by `received_at`; 0 when the table is empty. The alarm watches it
/// against the retention plus a day.
pub const OLDEST_EVENT_AGE: &str = "OldestEventAgeSeconds";

/// The statements a run needs, each on one chunk of ids and short.
pub trait EventsTable {
    /// The smallest id at or after `from`: `SELECT MIN(id) FROM events WHERE id >= ?`, which
    /// skips the empty ranges that earlier runs left.
    fn first_id_from(
        &mut self,
        from: u64,
    ) -> impl Future<Output = Result<Option<u64>, TableError>> + Send;
    /// How many rows `chunk` holds and the newest `received_at` among them.
    fn survey(&mut self, chunk: Chunk) -> impl Future<Output = Result<Survey, TableError>> + Send;
    /// The rows of `chunk` older than `cutoff`, every column, in id order.
    fn expired_rows(
        &mut self,
        chunk: Chunk,
        cutoff: NaiveDateTime,
    ) -> impl Future<Output = Result<Vec<ArchivedEvent>, TableError>> + Send;
    /// Deletes the rows of `chunk` older than `cutoff` in one statement; how many it deleted.
    fn delete(
        &mut self,
        chunk: Chunk,
        cutoff: NaiveDateTime,
    ) -> impl Future<Output = Result<u64, TableError>> + Send;
    /// The oldest `received_at` in the table, `None` when it is empty.
    fn oldest(&mut self) -> impl Future<Output = Result<Option<NaiveDateTime>, TableError>> + Send;
}

/// What a conditional `PutObject` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// 200: this run stored the object.
    Created,
    /// 412: an object had the key already (an earlier or overlapping run's): the chunk is
    /// archived.
    AlreadyArchived,
    /// 409 ConditionalRequestConflict: a concurrent write to the key; retry.
    Conflict,
}

/// Where chunks are archived: `PutObject` with `If-None-Match: *`.
pub trait ArchiveStore {
    fn put_new(
        &self,
        object: &Object,
    ) -> impl Future<Output = Result<PutOutcome, ArchiveError>> + Send;
}

/// What S3 says to do on 409 ConditionalRequestConflict is retry: this many attempts in all,
/// a short wait between them.
pub const PUT_ATTEMPTS: u32 = 3;
const CONFLICT_BACKOFF: Duration = Duration::from_millis(200);

/// What a run does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Rows received before it are expired ([`crate::chunk::cutoff`]).
    pub cutoff: NaiveDateTime,
    pub chunk_size: u64,
    /// Between two chunks, for ingest's writes to have the server to themselves.
    pub pause: Duration,
    /// Count what would be expired; archive and delete nothing.
    pub dry_run: bool,
    /// No chunk is started after this instant.
    pub stop_at: Option<Instant>,
    /// The archive's key prefix, when there is an archive.
    pub archive_prefix: String,
}

/// What a run did: the invocation's response and the command's output.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    #[serde(serialize_with = "utc")]
    pub cutoff: NaiveDateTime,
    pub dry_run: bool,
    /// Chunks deleted (in a dry run: that would be).
    pub chunks: u64,
    /// Rows deleted (in a dry run: that would be).
    pub expired: u64,
    /// Rows written to new archive objects.
    pub archived: u64,
    /// Chunks whose archive object was there already (412), deleted without archiving again.
    pub already_archived_chunks: u64,
    /// The time budget ran out before the run was done; the next run goes on.
    pub stopped_by_budget: bool,
    /// The run stopped at a chunk holding rows at or after the cutoff: everything before it is
    /// expired.
    pub reached_cutoff: bool,
    /// Where the run stopped, when it did before the table's end: the next run starts from
    /// the table's first id, which is this or, if rows remained before, earlier.
    pub stopped_at_id: Option<u64>,
    #[serde(serialize_with = "utc_opt")]
    pub oldest_received_at: Option<NaiveDateTime>,
    /// `None` when it could not be read.
    pub oldest_event_age_seconds: Option<u64>,
}

fn utc<S: serde::Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&t.format("%Y-%m-%dT%H:%M:%S%.6fZ"))
}

fn utc_opt<S: serde::Serializer>(t: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => utc(t, s),
        None => s.serialize_none(),
    }
}

impl Report {
    /// The run's metrics line: rows expired and archived (0 in a dry run, which changes
    /// nothing), and the oldest row's age when it could be read (else left out, and the alarm,
    /// which treats missing data as breaching, notices).
    pub fn metrics(&self) -> Vec<Metric> {
        let (expired, archived) = if self.dry_run {
            (0, 0)
        } else {
            (self.expired, self.archived)
        };
        let mut metrics = vec![
            Metric::count(EVENTS_EXPIRED, expired),
            Metric::count(EVENTS_ARCHIVED, archived),
        ];
        if let Some(age) = self.oldest_event_age_seconds {
            metrics.push(Metric {
                name: OLDEST_EVENT_AGE,
                unit: Unit::Seconds,
                value: age as f64,
            });
        }
        metrics
    }

    fn set_oldest(&mut self, oldest: Option<NaiveDateTime>, now: DateTime<Utc>) {
        self.oldest_received_at = oldest;
        let age = oldest.map_or(0, |t| (now.naive_utc() - t).num_seconds().max(0) as u64);
        self.oldest_event_age_seconds = Some(age);
    }
}

/// A run that stopped on an error, with what it had done until then.
#[derive(Debug)]
pub struct Failed {
    pub report: Report,
    pub error: ExpireError,
}

/// Runs `plan` on `table`, archiving to `archive` when given, then reads the oldest row left.
pub async fn run<T, A>(table: &mut T, archive: Option<&A>, plan: &Plan) -> Result<Report, Failed>
where
    T: EventsTable,
    A: ArchiveStore,
{
    let mut report = Report {
        cutoff: plan.cutoff,
        dry_run: plan.dry_run,
        ..Report::default()
    };
    let result = expire_chunks(table, archive, plan, &mut report).await;
    let oldest = table.oldest().await;
    match (result, oldest) {
        (Ok(()), Ok(oldest)) => {
            report.set_oldest(oldest, Utc::now());
            Ok(report)
        }
        (Ok(()), Err(e)) => Err(Failed {
            report,
            error: e.into(),
        }),
        (Err(error), oldest) => {
            if let Ok(oldest) = oldest {
                report.set_oldest(oldest, Utc::now());
            }
            Err(Failed { report, error })
        }
    }
}

async fn expire_chunks<T, A>(
    table: &mut T,
    archive: Option<&A>,
    plan: &Plan,
    report: &mut Report,
) -> Result<(), ExpireError>
where
    T: EventsTable,
    A: ArchiveStore,
{
    let mut from = Some(0);
    let mut worked = false;
    while let Some(start) = from {
        if worked && !plan.pause.is_zero() {
            tokio::time::sleep(plan.pause).await;
        }
        if plan.stop_at.is_some_and(|at| Instant::now() >= at) {
            report.stopped_by_budget = true;
            report.stopped_at_id = Some(start);
            return Ok(());
        }
        let Some(first) = table.first_id_from(start).await? else {
            return Ok(());
        };
        let chunk = Chunk::containing(first, plan.chunk_size);
        from = chunk.next_id();
        worked = false;
        match judge(table.survey(chunk).await?, plan.cutoff) {
            Verdict::Empty => {}
            Verdict::Waits { newest } => {
                tracing::debug!(%chunk, %newest, "the chunk holds rows at or after the cutoff: done");
                report.reached_cutoff = true;
                report.stopped_at_id = Some(first);
                return Ok(());
            }
            Verdict::Expired { rows } if plan.dry_run => {
                report.chunks += 1;
                report.expired += rows;
                worked = true;
            }
            Verdict::Expired { .. } => {
                expire_chunk(table, archive, plan, chunk, report).await?;
                worked = true;
            }
        }
    }
    Ok(())
}

/// Archives `chunk` (when there is an archive) and deletes it: the DELETE runs only once the
/// object is stored, by this run (200) or an earlier one (412).
async fn expire_chunk<T, A>(
    table: &mut T,
    archive: Option<&A>,
    plan: &Plan,
    chunk: Chunk,
    report: &mut Report,
) -> Result<(), ExpireError>
where
    T: EventsTable,
    A: ArchiveStore,
{
    if let Some(archive) = archive {
        let rows = table.expired_rows(chunk, plan.cutoff).await?;
        if rows.is_empty() {
            // An overlapping run deleted the chunk since it was surveyed.
            return Ok(());
        }
        let failed = |source| ExpireError::Archive { chunk, source };
        let object = Object::of(&plan.archive_prefix, chunk, &rows)
            .map_err(ArchiveError::Encode)
            .map_err(failed)?;
        match put(archive, &object).await.map_err(failed)? {
            PutOutcome::Created => report.archived += object.rows,
            PutOutcome::AlreadyArchived => {
                tracing::info!(%chunk, key = %object.key, "archived already (412): deleting it");
                report.already_archived_chunks += 1;
            }
            PutOutcome::Conflict => unreachable!("put retries conflicts"),
        }
    }
    let deleted = table.delete(chunk, plan.cutoff).await?;
    tracing::debug!(%chunk, deleted, "expired");
    report.chunks += 1;
    report.expired += deleted;
    Ok(())
}

/// `PutObject`, retried on 409 ConditionalRequestConflict up to [`PUT_ATTEMPTS`] in all.
async fn put(archive: &impl ArchiveStore, object: &Object) -> Result<PutOutcome, ArchiveError> {
    for attempt in 1..=PUT_ATTEMPTS {
        match archive.put_new(object).await? {
            PutOutcome::Conflict if attempt < PUT_ATTEMPTS => {
                tracing::warn!(key = %object.key, attempt, "409 ConditionalRequestConflict; retrying");
                tokio::time::sleep(CONFLICT_BACKOFF * attempt).await;
            }
            PutOutcome::Conflict => break,
            done => return Ok(done),
        }
    }
    Err(ArchiveError::Conflict {
        key: object.key.clone(),
        attempts: PUT_ATTEMPTS,
    })
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
