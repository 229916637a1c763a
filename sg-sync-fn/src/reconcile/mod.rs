//! Where the managed rules live, and the one loop that makes a target hold exactly the wanted
//! rules: plan, guard, dry run, apply (additions before removals), read again, converge.
//! Each target supplies read, plan and apply; the loop, the removal guard and the convergence
//! after overlapping runs exist here once.

pub mod prefix_list;
pub mod security_groups;

use std::future::Future;

use crate::error::{Ec2Error, MAX_ATTEMPTS, PlanError, SyncError};
use crate::publication::SyncToken;
use crate::report::{Change, GroupReport, SyncReport};
use crate::rules::Wanted;

pub use prefix_list::{PrefixList, PrefixListApi, PrefixListState};
pub use security_groups::{GroupState, Plan, SecurityGroupApi, SecurityGroups};

/// A planned change, whatever the target.
pub trait Changes {
    /// Wanted rules (or entries) this target should hold.
    fn wanted(&self) -> usize;
    fn added(&self) -> usize;
    fn removed(&self) -> usize;
    /// Managed rules (or entries) before the change, duplicates included.
    fn managed_before(&self) -> usize;
    fn is_empty(&self) -> bool;
    /// The changes, for a dry run's report.
    fn describe(&self) -> Vec<Change>;
}

/// What one target supplies to [`reconcile`].
pub trait Target: Sync {
    type State: Send + Sync;
    type Plan: Changes + Send + Sync;
    /// What the unconverged error counts: "changes", "entry changes".
    const CHANGES: &'static str;

    /// What the target holds now.
    fn read(&self) -> impl Future<Output = Result<Self::State, Ec2Error>> + Send;
    /// The publication the target holds, if every part of it records one.
    fn applied(&self, state: &Self::State) -> Option<SyncToken>;
    fn plan(&self, wanted: &Wanted, state: &Self::State) -> Result<Self::Plan, PlanError>;
    /// Applies `plan` to `state`, recording each call's changes in `done` as it succeeds.
    fn apply(
        &self,
        plan: &Self::Plan,
        state: &Self::State,
        done: &mut Applied,
    ) -> impl Future<Output = Result<(), Ec2Error>> + Send;
    /// Records the applied publication on the target.
    fn record(&self, token: SyncToken) -> impl Future<Output = Result<(), Ec2Error>> + Send;
    /// Per-resource figures: as `state` is, or as it will be once `plan` is applied.
    fn report(&self, state: &Self::State, plan: Option<&Self::Plan>) -> Vec<GroupReport>;
}

/// What the calls made so far changed.
#[derive(Debug, Default)]
pub struct Applied {
    pub added: usize,
    pub removed: usize,
    pub changes: Vec<Change>,
}

/// A publication to reconcile a target with, and how.
pub struct Run<'a> {
    pub wanted: &'a Wanted,
    /// The publication's selected ranges, after aggregation.
    pub ranges: usize,
    pub sync_token: SyncToken,
    pub create_date: &'a str,
    /// The token the target held when the run started.
    pub applied: Option<SyncToken>,
    pub dry_run: bool,
    pub max_removal_ratio: f64,
}

/// Refuses a plan that removes more than `max_ratio` of the managed rules at once.
pub fn check_removals(plan: &impl Changes, max_ratio: f64) -> Result<(), PlanError> {
    let (removing, managed) = (plan.removed(), plan.managed_before());
    if managed > 0 && removing as f64 > max_ratio * managed as f64 {
        return Err(PlanError::RemovalGuard {
            removing,
            managed,
            max_ratio,
        });
    }
    Ok(())
}

/// Plans, applies and re-reads until `target` holds exactly the wanted rules: the re-read
/// catches an overlapping run's writes (say, the same rule in another group). A dry run
/// returns the first plan, with the guard it would hit as its reason.
pub async fn reconcile<T: Target>(
    target: &T,
    mut state: T::State,
    run: &Run<'_>,
) -> Result<SyncReport, SyncError> {
    let mut done = Applied::default();
    let mut attempt = 0;
    let converged = loop {
        let plan = target.plan(run.wanted, &state)?;
        let guard = check_removals(&plan, run.max_removal_ratio);
        if run.dry_run {
            let mut report = run.report(&plan, plan.added(), plan.removed());
            report.groups = target.report(&state, Some(&plan));
            report.reason = guard.err().map(|e| e.to_string());
            report.changes = plan.describe();
            return Ok(report);
        }
        if plan.is_empty() {
            break plan;
        }
        guard?;
        attempt += 1;
        if attempt > MAX_ATTEMPTS {
            let left = plan.added() + plan.removed();
            return Err(SyncError::Unconverged(format!(
                "{left} {} still planned",
                T::CHANGES
            )));
        }
        match target.apply(&plan, &state, &mut done).await {
            Ok(()) => {}
            Err(e @ Ec2Error::Conflict { .. }) => {
                tracing::warn!(error = %e, attempt, "conflict with another run; re-reading")
            }
            Err(e) => return Err(e.into()),
        }
        state = target.read().await?;
    };
    if run.applied != Some(run.sync_token) {
        target.record(run.sync_token).await?;
    }
    let mut report = run.report(&converged, done.added, done.removed);
    report.groups = target.report(&state, Some(&converged));
    report.changes = done.changes;
    Ok(report)
}

impl Run<'_> {
    fn report(&self, plan: &impl Changes, added: usize, removed: usize) -> SyncReport {
        SyncReport {
            sync_token: Some(self.sync_token),
            create_date: Some(self.create_date.to_owned()),
            wanted: plan.wanted(),
            wanted_ranges: Some(self.ranges),
            added,
            removed,
            // Wanted rules this run did not have to create (some another run may have).
            unchanged: plan.wanted().saturating_sub(added),
            skipped: false,
            dry_run: self.dry_run,
            groups: Vec::new(),
            reason: None,
            changes: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counts {
        removed: usize,
        managed: usize,
    }

    impl Changes for Counts {
        fn wanted(&self) -> usize {
            0
        }
        fn added(&self) -> usize {
            0
        }
        fn removed(&self) -> usize {
            self.removed
        }
        fn managed_before(&self) -> usize {
            self.managed
        }
        fn is_empty(&self) -> bool {
            self.removed == 0
        }
        fn describe(&self) -> Vec<Change> {
            Vec::new()
        }
    }

    #[test]
    fn the_removal_guard_refuses_more_than_the_ratio() {
        let plan = Counts {
            removed: 6,
            managed: 10,
        };
        assert!(matches!(
            check_removals(&plan, 0.5),
            Err(PlanError::RemovalGuard {
                removing: 6,
                managed: 10,
                ..
            })
        ));
        assert!(check_removals(&plan, 0.6).is_ok());
        // Nothing managed yet: the first sync may add everything.
        let first = Counts {
            removed: 0,
            managed: 0,
        };
        assert!(check_removals(&first, 0.0).is_ok());
    }
}
