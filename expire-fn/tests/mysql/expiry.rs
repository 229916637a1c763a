use expire::chunk::Chunk;
use expire::{ExpireError, Job};

use crate::support::{DAYS, TestDb, run, settings};

/// What the chunk rule allows on `seeded` with `cutoff` and chunks of `size`: the ids before
/// the first chunk holding a row at or after the cutoff go, everything from there stays.
fn expected_left(
    seeded: &[expire::archive::ArchivedEvent],
    cutoff: chrono::NaiveDateTime,
    size: u64,
) -> Vec<u64> {
    let first_young = seeded
        .iter()
        .find(|r| r.received_at >= cutoff)
        .map_or(u64::MAX, |r| Chunk::containing(r.id, size).first);
    seeded
        .iter()
        .map(|r| r.id)
        .filter(|id| *id >= first_young)
        .collect()
}

#[tokio::test]
async fn expires_whole_chunks_older_than_the_cutoff_and_nothing_younger() {
    let db = TestDb::new().await;
    let seeded = db.seed(2_000).await;
    let job = Job::new(db.config(db.url(None)), settings(100, None), None);
    let report = run(&job, false).await.unwrap();

    let left = db.rows().await;
    let left_ids: Vec<u64> = left.iter().map(|r| r.id).collect();
    assert_eq!(left_ids, expected_left(&seeded, report.cutoff, 100));
    for row in seeded.iter().filter(|r| !left_ids.contains(&r.id)) {
        assert!(row.received_at < report.cutoff, "deleted {row:?}");
    }
    // About half the rows were older than the cutoff (60 days seeded, the cutoff 30 to 31
    // days back), less the chunk that straddles it.
    let deleted = (seeded.len() - left.len()) as u64;
    assert!((850..=1000).contains(&deleted), "{deleted} deleted");
    assert_eq!(report.expired, deleted);
    assert_eq!(report.chunks, deleted.div_ceil(100));
    assert!(report.reached_cutoff && !report.stopped_by_budget && !report.dry_run);
    assert_eq!(report.archived, 0);
    assert_eq!(
        report.oldest_received_at,
        left.iter().map(|r| r.received_at).min()
    );
    // The oldest row left is the first of the chunk that straddles the cutoff: at least the
    // retention old, at most the cutoff's age (under a day more) plus that chunk's span (100
    // rows, 43 minutes apart: about 3 days).
    let age = report.oldest_event_age_seconds.unwrap();
    let oldest = report.oldest_received_at.unwrap();
    let since_oldest = (chrono::Utc::now().naive_utc() - oldest).num_seconds() as u64;
    assert!(since_oldest.abs_diff(age) <= 60, "{age} s, oldest {oldest}");
    let days = |d: u64| d * 86_400;
    assert!(
        (days(DAYS.into())..=days(u64::from(DAYS) + 1 + 3)).contains(&age),
        "{age}"
    );
    // Nothing more to do on the same day.
    let again = run(&job, false).await.unwrap();
    assert_eq!((again.expired, again.chunks), (0, 0));
    assert_eq!(db.ids().await, left_ids);
    db.done().await;
}

#[tokio::test]
async fn a_dry_run_deletes_nothing_and_counts_what_a_run_deletes() {
    let db = TestDb::new().await;
    let seeded = db.seed(1_000).await;
    let job = Job::new(db.config(db.url(None)), settings(50, None), None);
    let dry = run(&job, true).await.unwrap();
    assert!(dry.dry_run && dry.expired > 0);
    assert_eq!(db.rows().await, seeded, "not a row changed");
    let real = run(&job, false).await.unwrap();
    assert_eq!((real.expired, real.chunks), (dry.expired, dry.chunks));
    db.done().await;
}

// migrate gives the job's account SELECT and DELETE on the events table and nothing else: a run
// needs no more (not even to set its lock waits). Without DELETE it stops at the first chunk,
// saying which grant and that retrying will not help.
#[tokio::test]
async fn runs_with_exactly_select_and_delete_on_events() {
    let db = TestDb::new().await;
    let seeded = db.seed(500).await;
    let (user, password) = db.account("SELECT, DELETE").await;
    let job = Job::new(
        db.config(db.url(Some((&user, password)))),
        settings(100, None),
        None,
    );
    let report = run(&job, false).await.unwrap();
    assert!(report.expired > 0);
    assert_eq!(db.ids().await, expected_left(&seeded, report.cutoff, 100));
    db.drop_account(&user).await;
    db.done().await;

    let db = TestDb::new().await;
    db.seed(500).await;
    let (user, password) = db.account("SELECT").await;
    let job = Job::new(
        db.config(db.url(Some((&user, password)))),
        settings(100, None),
        None,
    );
    let failed = run(&job, false).await.unwrap_err();
    let ExpireError::Table { source } = &failed.error else {
        panic!("a table error: {}", failed.error)
    };
    assert_eq!(source.mysql_code(), Some(1142), "{}", failed.error);
    assert!(!failed.error.retry_helps());
    let message = failed.error.to_string();
    assert!(message.starts_with("deleting of ids 0..=99: "), "{message}");
    assert!(message.contains("retrying will not help"), "{message}");
    assert_eq!(db.ids().await.len(), 500);
    assert_eq!(failed.report.expired, 0);
    assert!(failed.report.oldest_event_age_seconds.is_some());
    db.drop_account(&user).await;
    db.done().await;
}

#[tokio::test]
async fn a_refused_login_names_the_step_and_says_to_retry() {
    let db = TestDb::new().await;
    let job = Job::new(
        db.config(db.url(Some(("nobody_here", "wrong")))),
        settings(100, None),
        None,
    );
    let failed = run(&job, false).await.unwrap_err();
    assert!(
        matches!(failed.error, ExpireError::Login { .. }),
        "{}",
        failed.error
    );
    assert!(
        failed
            .error
            .to_string()
            .starts_with("logging in to the database: ")
    );
    assert_eq!(
        failed.report.oldest_event_age_seconds, None,
        "no metric, so the alarm sees it missing"
    );
    db.done().await;
}
