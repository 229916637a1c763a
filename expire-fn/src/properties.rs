//! The guarantees as properties, over generated tables: ids with gaps, `received_at`
//! skewed between environments (not increasing with the id), `recorded_at` anywhere (a device's
//! clock), any cutoff and chunk size.
//!
//! - Nothing younger than the cutoff is ever deleted, by the chunk rule alone (the fake's
//!   DELETE is run without its `received_at` guard).
//! - Every deleted row is in exactly one archive object; every chunk before the first one that
//!   holds a young row is deleted; `recorded_at` changes nothing.
//! - A run killed at any DELETE, then run again, ends where one uninterrupted run ends, with no
//!   row archived twice; so do two runs at once.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, NaiveDateTime};
use proptest::prelude::*;

use crate::archive::ArchivedEvent;
use crate::chunk::Chunk;
use crate::fake::{FakeBucket, FakeTable};
use crate::run::{Plan, run};

fn t0() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
}

/// Up to 150 rows: each id 1 to 4 above the last; row `i` received about `i` minutes after
/// [`t0`], give or take `skew` seconds (another environment's clock); recorded whenever the
/// device says, within ±20 years.
fn rows() -> impl Strategy<Value = Vec<ArchivedEvent>> {
    (0i64..300).prop_flat_map(|skew| {
        proptest::collection::vec(
            (1u64..=4, -skew..=skew, -631_152_000i64..631_152_000),
            0..150,
        )
        .prop_map(|specs| {
            let mut id = 0;
            specs
                .into_iter()
                .enumerate()
                .map(|(i, (gap, skew, recorded))| {
                    id += gap;
                    let received_at = t0() + Duration::minutes(i as i64) + Duration::seconds(skew);
                    ArchivedEvent {
                        id,
                        event_id: format!("e-{id}"),
                        source: "dev".into(),
                        recorded_at: t0() + Duration::seconds(recorded),
                        received_at,
                        val1: id as f64,
                        val2: 0.0,
                        payload: None,
                    }
                })
                .collect()
        })
    })
}

/// A cutoff: a minute from [`t0`], or (the edge the rule must get right) exactly some row's
/// `received_at`.
#[derive(Debug, Clone)]
enum At {
    Minute(i64),
    Row(proptest::sample::Index),
}

fn at() -> impl Strategy<Value = At> {
    prop_oneof![
        (-10i64..170).prop_map(At::Minute),
        any::<proptest::sample::Index>().prop_map(At::Row),
    ]
}

fn plan(rows: &[ArchivedEvent], at: &At, chunk_size: u64) -> Plan {
    let cutoff = match at {
        At::Row(i) if !rows.is_empty() => rows[i.index(rows.len())].received_at,
        At::Row(_) => t0(),
        At::Minute(m) => t0() + Duration::minutes(*m),
    };
    Plan {
        cutoff,
        chunk_size,
        pause: std::time::Duration::ZERO,
        dry_run: false,
        stop_at: None,
        archive_prefix: "events/".into(),
    }
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(f)
}

/// The table after `table` ran to the end, without the DELETE's guard.
fn unguarded(rows: &[ArchivedEvent]) -> FakeTable {
    let table = FakeTable::new(rows.iter().cloned());
    table.lock().guard = false;
    table
}

fn by_id(rows: &[ArchivedEvent]) -> BTreeMap<u64, ArchivedEvent> {
    rows.iter().map(|r| (r.id, r.clone())).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn nothing_younger_than_the_cutoff_is_ever_deleted(
        rows in rows(),
        at in at(),
        chunk_size in 1u64..40,
    ) {
        let plan = plan(&rows, &at, chunk_size);
        let table = unguarded(&rows);
        let bucket = FakeBucket::default();
        let report = block_on(run(&mut table.clone(), Some(&bucket), &plan)).unwrap();
        let left = table.lock().rows.clone();
        let deleted: Vec<&ArchivedEvent> = rows.iter().filter(|r| !left.contains_key(&r.id)).collect();
        for row in &deleted {
            prop_assert!(row.received_at < plan.cutoff, "deleted {row:?}, cutoff {}", plan.cutoff);
        }
        // The chunk rule: a deleted chunk was wholly older; the first chunk with a young row
        // and everything after it are kept whole; everything before it is gone.
        let first_young = rows.iter().find(|r| r.received_at >= plan.cutoff)
            .map(|r| Chunk::containing(r.id, chunk_size).first);
        for row in &rows {
            let kept = left.contains_key(&row.id);
            match first_young {
                Some(first) if row.id >= first => prop_assert!(kept, "{row:?} after the first young chunk"),
                _ => prop_assert!(!kept, "{row:?} before the first young chunk is still there"),
            }
        }
        // Every deleted row archived, exactly once, every column as it was.
        let archived = bucket.archived();
        prop_assert_eq!(archived.len(), deleted.len());
        prop_assert_eq!(by_id(&archived), deleted.iter().map(|r| (r.id, (*r).clone())).collect::<BTreeMap<_, _>>());
        prop_assert_eq!(report.expired, deleted.len() as u64);
        prop_assert_eq!(report.archived, deleted.len() as u64);
    }

    // The device's clock is never consulted: another recorded_at for every row, the same rows
    // deleted.
    #[test]
    fn recorded_at_changes_nothing(
        rows in rows(),
        at in at(),
        chunk_size in 1u64..40,
        shift in -631_152_000i64..631_152_000,
    ) {
        let plan = plan(&rows, &at, chunk_size);
        let shifted: Vec<ArchivedEvent> = rows.iter().cloned()
            .map(|mut r| { r.recorded_at = t0() + Duration::seconds(shift); r })
            .collect();
        let (one, two) = (FakeTable::new(rows), FakeTable::new(shifted));
        block_on(run(&mut one.clone(), None::<&FakeBucket>, &plan)).unwrap();
        block_on(run(&mut two.clone(), None::<&FakeBucket>, &plan)).unwrap();
        prop_assert_eq!(one.ids(), two.ids());
    }

    #[test]
    fn a_run_killed_at_any_delete_is_finished_by_the_next_without_loss(
        rows in rows(),
        at in at(),
        chunk_size in 1u64..40,
        kill_at in 0usize..20,
    ) {
        let plan = plan(&rows, &at, chunk_size);
        let whole = FakeTable::new(rows.iter().cloned());
        let whole_bucket = FakeBucket::default();
        block_on(run(&mut whole.clone(), Some(&whole_bucket), &plan)).unwrap();

        let killed = FakeTable::new(rows.iter().cloned());
        killed.lock().deletes_before_kill = Some(kill_at);
        let bucket = FakeBucket::default();
        let _ = block_on(run(&mut killed.clone(), Some(&bucket), &plan));
        {
            let mut state = killed.lock();
            state.killed = false;
            state.deletes_before_kill = None;
        }
        block_on(run(&mut killed.clone(), Some(&bucket), &plan)).unwrap();
        prop_assert_eq!(killed.ids(), whole.ids());
        let (archived, expected) = (bucket.archived(), whole_bucket.archived());
        prop_assert_eq!(archived.len(), expected.len(), "no row archived twice");
        prop_assert_eq!(by_id(&archived), by_id(&expected));
    }

    #[test]
    fn two_runs_at_once_end_as_one(
        rows in rows(),
        at in at(),
        chunk_size in 1u64..40,
    ) {
        let plan = plan(&rows, &at, chunk_size);
        let whole = FakeTable::new(rows.iter().cloned());
        block_on(run(&mut whole.clone(), None::<&FakeBucket>, &plan)).unwrap();

        let shared = FakeTable::new(rows.iter().cloned());
        let bucket = FakeBucket::default();
        let (mut a, mut b) = (shared.clone(), shared.clone());
        let (ra, rb) = block_on(async {
            tokio::join!(run(&mut a, Some(&bucket), &plan), run(&mut b, Some(&bucket), &plan))
        });
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        prop_assert_eq!(shared.ids(), whole.ids());
        let deleted = rows.len() - whole.ids().len();
        prop_assert_eq!((ra.expired + rb.expired) as usize, deleted);
        prop_assert_eq!(bucket.archived().len(), deleted, "no row archived twice");
        prop_assert_eq!((ra.archived + rb.archived) as usize, deleted);
    }
}
