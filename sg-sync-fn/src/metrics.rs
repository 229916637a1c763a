//! What one sync run reports as metrics (CloudWatch embedded metric format, see the `emf`
//! crate): what it changed, how much room is left, whether it worked, how old the data is.

use std::time::{SystemTime, UNIX_EPOCH};

use emf::{Metric, Unit};

use crate::report::SyncReport;

/// Rules the run created.
pub const RULES_ADDED: &str = "RulesAdded";
/// Rules the run removed.
pub const RULES_REMOVED: &str = "RulesRemoved";
/// Ranges the publication selects, after aggregation; not in the line of a skipped run, which
/// does not read them.
pub(crate) const WANTED_RANGES: &str = "WantedRanges";
/// Slots left across the groups (the quota per group and family, less the rules they hold).
pub(crate) const FREE_RULE_SLOTS: &str = "FreeRuleSlots";
/// 1 for a run that left the groups holding what is wanted (changing it, or finding it so, or
/// skipping an older publication), 0 for a failed one.
pub const SYNC_SUCCEEDED: &str = "SyncSucceeded";
/// Rules of others on the groups that admit the port from outside the published ranges
/// ([`crate::fence`]); 0 when the fence is closed.
pub const FENCE_OPENINGS: &str = "FenceOpenings";
/// Seconds since AWS published the ranges the groups now hold (now − their syncToken).
pub(crate) const PUBLICATION_AGE_SECONDS: &str = "PublicationAgeSeconds";

/// The metrics of a run that ended with `report`, at `now`. A dry run changes nothing and is
/// no sync: it has none.
pub(crate) fn of_report(report: &SyncReport, now: SystemTime) -> Option<Vec<Metric>> {
    if report.dry_run {
        return None;
    }
    let free: usize = report.groups.iter().map(|g| g.free).sum();
    let mut metrics = vec![
        Metric::count(RULES_ADDED, report.added as u64),
        Metric::count(RULES_REMOVED, report.removed as u64),
        Metric::count(FREE_RULE_SLOTS, free as u64),
        Metric::count(SYNC_SUCCEEDED, 1),
        Metric::count(FENCE_OPENINGS, report.fence_openings.len() as u64),
    ];
    if let Some(ranges) = report.wanted_ranges {
        metrics.push(Metric::count(WANTED_RANGES, ranges as u64));
    }
    if let Some(token) = report.sync_token {
        let now_s = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        metrics.push(Metric {
            name: PUBLICATION_AGE_SECONDS,
            unit: Unit::Seconds,
            // A token from the future (a skewed clock) is no age.
            value: now_s.saturating_sub(token.0) as f64,
        });
    }
    Some(metrics)
}

/// The metrics of a failed run: nothing else is known for sure, the fence included (the run
/// may have failed before reading the groups).
pub(crate) fn of_failure() -> Vec<Metric> {
    vec![Metric::count(SYNC_SUCCEEDED, 0)]
}
