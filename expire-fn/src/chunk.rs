//! Which rows a run may delete, as plain functions: the cutoff, the chunks of ids, and the rule
//! that decides whether a chunk is expired.

use std::fmt;

use chrono::{DateTime, Days, NaiveDateTime, NaiveTime, Utc};
use serde::Serialize;

/// The cutoff of a run on `now` keeping `days` days: rows whose `received_at` is before it are
/// expired.
///
/// **`received_at`, not `recorded_at`.** `received_at` is ingest-fn's clock when the event
/// arrived; `recorded_at` is whatever the device's clock said, and ingest accepts it as given
/// (a device with a wrong clock, one replaying a week-old backlog, one set to 2038). Retention is
/// "kept N days after we received it": a device cannot have an event deleted on arrival by
/// claiming an old `recorded_at`, nor kept forever by a future one, and the deletion order
/// follows the primary key, which ingest assigns in arrival order too.
///
/// **Truncated to the start of the UTC day, then N days back.** Every run on the same UTC day
/// computes the same cutoff, whatever its clock's seconds say: two overlapping runs (a retry of
/// the schedule beside a run by hand) agree on which rows of a chunk are expired, so they read
/// the same rows and build the same archive key, and the second one's `PutObject` meets the
/// first one's object (412) instead of writing a second, different archive of half the chunk.
/// A row is therefore kept at least N whole days and less than N + 1.
///
/// A date before the calendar's start saturates to its start: nothing is that old.
pub fn cutoff(now: DateTime<Utc>, days: u32) -> NaiveDateTime {
    now.date_naive()
        .and_time(NaiveTime::MIN)
        .checked_sub_days(Days::new(days.into()))
        .unwrap_or(NaiveDateTime::MIN)
}

/// A range of primary keys, `first..=last`, aligned on the chunk size: chunk `k` of size `S` is
/// `k*S ..= (k+1)*S - 1`. Aligned ranges make the chunks (and so the archive keys) the same for
/// every run whatever id it started from, so overlapping runs work on the same chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Chunk {
    pub first: u64,
    pub last: u64,
}

impl Chunk {
    /// The chunk of size `size` (at least 1) that holds `id`. The last chunk of the id space
    /// ends at `u64::MAX`.
    pub fn containing(id: u64, size: u64) -> Chunk {
        let size = size.max(1);
        let first = id - id % size;
        Chunk {
            first,
            last: first.saturating_add(size - 1),
        }
    }

    /// The first id after this chunk, if there is one.
    pub fn next_id(&self) -> Option<u64> {
        self.last.checked_add(1)
    }

    pub fn contains(&self, id: u64) -> bool {
        (self.first..=self.last).contains(&id)
    }
}

impl fmt::Display for Chunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ids {}..={}", self.first, self.last)
    }
}

/// What a chunk holds, as far as the rule needs: how many rows and the newest `received_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Survey {
    pub rows: u64,
    pub newest: Option<NaiveDateTime>,
}

/// What a run does with a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing in it (another run emptied it since the chunk was found): move on.
    Empty,
    /// Every row in it is older than the cutoff: archive it and delete it.
    Expired { rows: u64 },
    /// Some row is at or after the cutoff: the chunk waits for a later run, and so does
    /// everything after it.
    Waits { newest: NaiveDateTime },
}

/// The chunk rule: a chunk is expired only when every row in it is older than the cutoff
/// (`MAX(received_at) < cutoff`). A chunk straddling the cutoff is left whole, rows older than
/// the cutoff included: ids are assigned in arrival order, so the chunks after it are younger
/// still, and the run stops there. Its older rows go with the chunk on a later day; the price
/// is up to one chunk of rows kept a little longer, in exchange for never deleting part of a
/// chunk (an archive object per chunk holds exactly the rows that were deleted).
///
/// Clock skew between environments (two ingest-fn instances whose clocks differ by a second)
/// makes `received_at` not quite increase with the id; the rule holds whatever the order,
/// since it looks at every row of the chunk. The DELETE still carries `received_at < cutoff`
/// as a guard, so that not even a row that arrived between the check and the DELETE could go.
pub fn judge(survey: Survey, cutoff: NaiveDateTime) -> Verdict {
    match survey.newest {
        None => Verdict::Empty,
        Some(_) if survey.rows == 0 => Verdict::Empty,
        Some(newest) if newest >= cutoff => Verdict::Waits { newest },
        Some(_) => Verdict::Expired { rows: survey.rows },
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, NaiveDate, TimeZone};
    use proptest::prelude::*;

    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, s).unwrap()
    }

    #[test]
    fn the_cutoff_is_midnight_utc_n_days_back() {
        let midnight = |y, m, d| {
            NaiveDate::from_ymd_opt(y, m, d)
                .unwrap()
                .and_time(NaiveTime::MIN)
        };
        assert_eq!(cutoff(at(2026, 3, 10, 0, 0, 0), 30), midnight(2026, 2, 8));
        assert_eq!(
            cutoff(at(2026, 3, 10, 23, 59, 59), 30),
            midnight(2026, 2, 8)
        );
        assert_eq!(cutoff(at(2026, 3, 11, 0, 0, 0), 30), midnight(2026, 2, 9));
        assert_eq!(cutoff(at(2026, 3, 1, 12, 0, 0), 1), midnight(2026, 2, 28));
        assert_eq!(cutoff(at(2024, 3, 1, 12, 0, 0), 1), midnight(2024, 2, 29));
        assert_eq!(cutoff(DateTime::<Utc>::MIN_UTC, 1), NaiveDateTime::MIN);
    }

    #[test]
    fn chunks_are_aligned_and_the_last_ends_at_the_top_of_the_id_space() {
        assert_eq!(
            Chunk::containing(1, 1000),
            Chunk {
                first: 0,
                last: 999
            }
        );
        assert_eq!(Chunk::containing(999, 1000), Chunk::containing(0, 1000));
        assert_eq!(Chunk::containing(1000, 1000).first, 1000);
        assert_eq!(Chunk::containing(1000, 1000).next_id(), Some(2000));
        let top = Chunk::containing(u64::MAX, 1000);
        assert_eq!(top.last, u64::MAX);
        assert!(top.contains(u64::MAX) && top.first.is_multiple_of(1000));
        assert_eq!(top.next_id(), None);
        assert_eq!(
            Chunk::containing(7, 1),
            Chunk { first: 7, last: 7 },
            "a chunk of one id"
        );
        assert_eq!(Chunk::containing(1234, 1000).to_string(), "ids 1000..=1999");
    }

    #[test]
    fn a_chunk_is_expired_only_when_its_newest_row_is_older_than_the_cutoff() {
        let cut = at(2026, 3, 1, 0, 0, 0).naive_utc();
        let survey = |rows, newest| Survey { rows, newest };
        assert_eq!(judge(survey(0, None), cut), Verdict::Empty);
        let older = cut - Duration::microseconds(1);
        assert_eq!(
            judge(survey(5, Some(older)), cut),
            Verdict::Expired { rows: 5 }
        );
        // At the cutoff exactly is not older than it.
        assert_eq!(
            judge(survey(5, Some(cut)), cut),
            Verdict::Waits { newest: cut }
        );
    }

    proptest! {
        // Overlapping runs on one UTC day share the cutoff; it keeps at least N whole days and
        // less than N + 1.
        #[test]
        fn runs_of_one_day_share_the_cutoff(
            secs in 0i64..4_000_000_000,
            later in 0i64..86_400,
            days in 1u32..36_500,
        ) {
            let now = DateTime::from_timestamp(secs, 0).unwrap();
            let c = cutoff(now, days);
            let n = Duration::days(days.into());
            prop_assert!(c <= now.naive_utc() - n);
            prop_assert!(c > now.naive_utc() - n - Duration::days(1));
            prop_assert_eq!(c.time(), NaiveTime::MIN);
            let same_day = now.date_naive().and_time(NaiveTime::MIN) + Duration::seconds(later);
            prop_assert_eq!(cutoff(same_day.and_utc(), days), c);
        }

        #[test]
        fn every_id_is_in_exactly_its_chunk(id in any::<u64>(), size in 1u64..1_000_000) {
            let c = Chunk::containing(id, size);
            prop_assert!(c.contains(id));
            prop_assert_eq!(c.first % size, 0);
            prop_assert!(c.last - c.first < size);
            if let Some(next) = c.next_id() {
                prop_assert_eq!(c.last - c.first, size - 1);
                prop_assert_eq!(Chunk::containing(next, size).first, next);
            }
        }
    }
}
