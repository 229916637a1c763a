//! The run loop against the fakes ([`crate::fake`]): the chunk rule, the archive's answers,
//! the budget and the pause, a run killed mid-chunk, two runs at once.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};
use tokio::time::Instant;

use super::*;
use crate::archive::tests::event;
use crate::fake::{Answer, FakeBucket, FakeTable};

fn t0() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
}

/// Rows `ids`, row `id` received `id` hours after [`t0`].
fn table(ids: impl IntoIterator<Item = u64>) -> FakeTable {
    FakeTable::new(
        ids.into_iter()
            .map(|id| event(id, t0() + chrono::Duration::hours(id as i64))),
    )
}

/// Expires rows received before hour `hour`, chunks of 10 ids, no pause.
fn plan(hour: i64) -> Plan {
    Plan {
        cutoff: t0() + chrono::Duration::hours(hour),
        chunk_size: 10,
        pause: Duration::ZERO,
        dry_run: false,
        stop_at: None,
        archive_prefix: "events/".into(),
    }
}

async fn run_with(
    table: &FakeTable,
    bucket: Option<&FakeBucket>,
    plan: &Plan,
) -> Result<Report, Failed> {
    run(&mut table.clone(), bucket, plan).await
}

fn ids(rows: &[ArchivedEvent]) -> Vec<u64> {
    rows.iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn whole_chunks_go_and_the_run_stops_at_the_chunk_that_straddles_the_cutoff() {
    let table = table(1..=35);
    let bucket = FakeBucket::default();
    let report = run_with(&table, Some(&bucket), &plan(25)).await.unwrap();
    // 0..=9 and 10..=19 are wholly older; 20..=29 holds rows 25..=29, so it waits, rows
    // 20..=24 with it, and so does everything after it.
    assert_eq!(table.ids(), (20..=35).collect::<Vec<_>>());
    assert_eq!(
        table.lock().deleted_chunks,
        [
            Chunk { first: 0, last: 9 },
            Chunk {
                first: 10,
                last: 19
            }
        ]
    );
    assert_eq!(ids(&bucket.archived()), (1..=19).collect::<Vec<_>>());
    assert_eq!(
        bucket.objects.lock().unwrap().len(),
        2,
        "one object per chunk"
    );
    assert_eq!(
        (report.chunks, report.expired, report.archived),
        (2, 19, 19)
    );
    assert!(report.reached_cutoff && !report.stopped_by_budget);
    assert_eq!(report.stopped_at_id, Some(20));
    assert_eq!(
        report.oldest_received_at,
        Some(t0() + chrono::Duration::hours(20))
    );
    assert!(report.oldest_event_age_seconds.unwrap() > 0);
}

#[tokio::test]
async fn without_an_archive_chunks_are_only_deleted() {
    let table = table(1..=35);
    let report = run_with(&table, None::<&FakeBucket>, &plan(30))
        .await
        .unwrap();
    assert_eq!(table.ids(), (30..=35).collect::<Vec<_>>());
    assert_eq!((report.chunks, report.expired, report.archived), (3, 29, 0));
    let metrics = report.metrics();
    assert_eq!(metrics[0], Metric::count(EVENTS_EXPIRED, 29));
    assert_eq!(metrics[1], Metric::count(EVENTS_ARCHIVED, 0));
    assert_eq!(
        (metrics[2].name, metrics[2].unit),
        (OLDEST_EVENT_AGE, Unit::Seconds)
    );
}

#[tokio::test]
async fn a_dry_run_counts_and_changes_nothing() {
    let table = table(1..=35);
    let bucket = FakeBucket::default();
    let report = run_with(
        &table,
        Some(&bucket),
        &Plan {
            dry_run: true,
            ..plan(25)
        },
    )
    .await
    .unwrap();
    assert_eq!(table.ids(), (1..=35).collect::<Vec<_>>());
    assert_eq!(*bucket.puts.lock().unwrap(), 0);
    assert_eq!((report.chunks, report.expired, report.archived), (2, 19, 0));
    assert!(report.dry_run && report.reached_cutoff);
    let metrics = report.metrics();
    assert_eq!(metrics[0].value, 0.0, "a dry run expires nothing");
    assert_eq!(metrics[1].value, 0.0);
}

#[tokio::test]
async fn empty_ranges_are_skipped_in_one_statement_and_an_empty_table_is_zero_days_old() {
    let table = table([3, 50_000, 90_001]);
    let report = run_with(&table, None::<&FakeBucket>, &plan(1_000_000))
        .await
        .unwrap();
    assert!(table.ids().is_empty());
    assert_eq!(report.chunks, 3);
    // Per chunk: find, survey, delete; then one more find and the oldest row.
    assert_eq!(table.lock().statements, 3 * 3 + 2);
    assert_eq!(report.oldest_received_at, None);
    assert_eq!(report.oldest_event_age_seconds, Some(0));
    assert_eq!(report.metrics()[2].value, 0.0);
    assert!(!report.reached_cutoff && report.stopped_at_id.is_none());
}

#[tokio::test]
async fn a_conflict_is_retried() {
    let table = table(1..=9);
    let bucket = FakeBucket::scripted([Answer::Conflict, Answer::Conflict]);
    let report = run_with(&table, Some(&bucket), &plan(100)).await.unwrap();
    assert_eq!(*bucket.puts.lock().unwrap(), 3);
    assert_eq!((report.expired, report.archived), (9, 9));
    assert!(table.ids().is_empty());
}

#[tokio::test]
async fn conflicts_that_do_not_end_delete_nothing() {
    let table = table(1..=9);
    let bucket = FakeBucket::scripted([Answer::Conflict; 3]);
    let failed = run_with(&table, Some(&bucket), &plan(100))
        .await
        .unwrap_err();
    assert!(
        matches!(
            failed.error,
            ExpireError::Archive {
                source: ArchiveError::Conflict { attempts: 3, .. },
                ..
            }
        ),
        "{}",
        failed.error
    );
    assert!(failed.error.retry_helps());
    assert_eq!(table.ids().len(), 9);
}

#[tokio::test]
async fn a_cut_upload_deletes_nothing_of_its_chunk_and_stops_the_run() {
    let table = table(1..=35);
    // The first chunk's upload goes through, the second's connection is cut.
    let bucket = FakeBucket::scripted([Answer::Pass, Answer::Cut]);
    let failed = run_with(&table, Some(&bucket), &plan(30))
        .await
        .unwrap_err();
    let ExpireError::Archive { chunk, source } = &failed.error else {
        panic!("an archive error: {}", failed.error)
    };
    assert_eq!(
        *chunk,
        Chunk {
            first: 10,
            last: 19
        }
    );
    assert!(matches!(source, ArchiveError::Transport { .. }));
    assert!(failed.error.retry_helps());
    assert!(
        failed
            .error
            .to_string()
            .contains("archiving ids 10..=19, so nothing of it was deleted"),
        "{}",
        failed.error
    );
    // Nothing of 10..=19 nor after it went; the report says what the run did before.
    assert_eq!(table.ids(), (10..=35).collect::<Vec<_>>());
    assert_eq!((failed.report.chunks, failed.report.expired), (1, 9));
    assert_eq!(
        failed.report.oldest_received_at,
        Some(t0() + chrono::Duration::hours(10))
    );
    // The next run archives and deletes the rest.
    let report = run_with(&table, Some(&bucket), &plan(30)).await.unwrap();
    assert_eq!((report.chunks, report.archived), (2, 20));
    assert_eq!(ids(&bucket.archived()), (1..=29).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_refused_upload_says_retrying_will_not_help() {
    let table = table(1..=9);
    let bucket = FakeBucket::scripted([Answer::Refused(403, "AccessDenied")]);
    let failed = run_with(&table, Some(&bucket), &plan(100))
        .await
        .unwrap_err();
    assert!(!failed.error.retry_helps());
    assert!(
        failed.error.to_string().contains("HTTP 403 AccessDenied"),
        "{}",
        failed.error
    );
    assert_eq!(table.ids().len(), 9);
}

// Lambda's timeout kills the run after a chunk's object was stored and before its DELETE: the
// next run finds the object (412), deletes the chunk without archiving it twice, and goes on.
#[tokio::test]
async fn a_run_killed_mid_chunk_loses_nothing_and_the_next_resumes() {
    let table = table(1..=45);
    let bucket = FakeBucket::default();
    table.lock().deletes_before_kill = Some(1);
    let failed = run_with(&table, Some(&bucket), &plan(40))
        .await
        .unwrap_err();
    assert!(failed.error.retry_helps(), "{}", failed.error);
    assert_eq!(
        table.ids(),
        (10..=45).collect::<Vec<_>>(),
        "the second chunk's DELETE never ran"
    );
    assert_eq!(
        bucket.objects.lock().unwrap().len(),
        2,
        "but its object was stored"
    );

    let next = FakeTable {
        state: table.state.clone(),
        latency: Duration::ZERO,
    };
    {
        let mut state = next.lock();
        state.killed = false;
        state.deletes_before_kill = None;
    }
    let report = run_with(&next, Some(&bucket), &plan(40)).await.unwrap();
    assert_eq!(report.already_archived_chunks, 1);
    assert_eq!(
        (report.chunks, report.expired, report.archived),
        (3, 30, 20)
    );
    assert_eq!(table.ids(), (40..=45).collect::<Vec<_>>());
    let archived = ids(&bucket.archived());
    assert_eq!(
        archived,
        (1..=39).collect::<Vec<_>>(),
        "each row archived once"
    );
}

// The same when the answer to a stored object is lost: the object is there, the run stops, the
// next one gets 412 and deletes.
#[tokio::test]
async fn an_answer_lost_after_the_object_was_stored_costs_nothing() {
    let table = table(1..=19);
    let bucket = FakeBucket::scripted([Answer::StoredButCut]);
    run_with(&table, Some(&bucket), &plan(100))
        .await
        .unwrap_err();
    assert_eq!(table.ids().len(), 19);
    let report = run_with(&table, Some(&bucket), &plan(100)).await.unwrap();
    assert_eq!((report.already_archived_chunks, report.archived), (1, 10));
    assert!(table.ids().is_empty());
    assert_eq!(ids(&bucket.archived()), (1..=19).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn the_budget_stops_the_run_cleanly_and_the_next_run_goes_on() {
    let mut table = table(1..=100);
    table.latency = Duration::from_millis(100);
    let bucket = FakeBucket::default();
    let started = Instant::now();
    let budget = Plan {
        pause: Duration::from_secs(1),
        stop_at: Some(started + Duration::from_millis(3_500)),
        ..plan(1_000)
    };
    let report = run_with(&table, Some(&bucket), &budget).await.unwrap();
    assert!(report.stopped_by_budget && !report.reached_cutoff);
    // Each chunk: 4 statements (find, survey, read, delete) of 100 ms, then a 1 s pause.
    assert_eq!(report.chunks, 3);
    assert_eq!(report.stopped_at_id, Some(30));
    assert_eq!(table.ids().first(), Some(&30));
    let report = run_with(
        &table,
        Some(&bucket),
        &Plan {
            stop_at: None,
            ..budget
        },
    )
    .await
    .unwrap();
    assert_eq!(report.chunks, 8);
    assert!(table.ids().is_empty());
    assert_eq!(ids(&bucket.archived()), (1..=100).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn chunks_are_paused_between() {
    let table = table(1..=49);
    let started = Instant::now();
    let paced = Plan {
        pause: Duration::from_millis(250),
        ..plan(1_000)
    };
    let report = run_with(&table, None::<&FakeBucket>, &paced).await.unwrap();
    assert_eq!(report.chunks, 5);
    // Four pauses between five chunks, and one after the last (the run learns it was the last
    // only by looking for the next).
    assert_eq!(started.elapsed(), Duration::from_millis(5 * 250));
}

// Two runs at once on the same table and bucket (a retry beside a run by hand): neither fails,
// no row is archived twice, every expired row is archived and deleted once.
#[tokio::test]
async fn two_overlapping_runs_neither_fail_nor_archive_twice() {
    let table = table(1..=95);
    let bucket = FakeBucket::default();
    let (mut one, mut two) = (table.clone(), table.clone());
    let plan = plan(90);
    let (a, b) = tokio::join!(
        run(&mut one, Some(&bucket), &plan),
        run(&mut two, Some(&bucket), &plan)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.expired + b.expired, 89);
    assert_eq!(table.ids(), (90..=95).collect::<Vec<_>>());
    let archived = ids(&bucket.archived());
    assert_eq!(archived.len(), 89);
    assert_eq!(
        archived.iter().collect::<BTreeSet<_>>().len(),
        89,
        "no row twice"
    );
    assert_eq!(a.archived + b.archived, 89);
}

#[test]
fn the_report_is_the_response() {
    let report = Report {
        cutoff: t0(),
        oldest_received_at: Some(t0()),
        ..Report::default()
    };
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["cutoff"], "2026-01-01T00:00:00.000000Z");
    assert_eq!(json["oldest_received_at"], "2026-01-01T00:00:00.000000Z");
    for field in [
        "dry_run",
        "chunks",
        "expired",
        "archived",
        "already_archived_chunks",
        "stopped_by_budget",
        "reached_cutoff",
        "stopped_at_id",
        "oldest_event_age_seconds",
    ] {
        assert!(json.get(field).is_some(), "{field} in {json}");
    }
}
