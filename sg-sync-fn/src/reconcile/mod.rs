//! The one loop that makes the pool of security groups hold exactly the wanted rules: plan,
//! guard, dry run, apply (additions before removals), read again, converge. The groups are read
//! and changed through [`SecurityGroups`]; the plan is made by the state read ([`Groups`]).

pub(crate) mod security_groups;
pub(crate) mod weights;

use crate::error::{Ec2Error, PlanError, SyncError};
use crate::publication::SyncToken;
use crate::report::{Change, GroupReport, SyncReport};
use crate::retry::MAX_ATTEMPTS;
use crate::rules::Wanted;

pub(crate) use security_groups::SecurityGroups;
pub use security_groups::{GroupChanges, GroupState, Groups, RuleCall, SecurityGroupApi};

/// What a planned change amounts to: what the loop, the removal guard and the report read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlanSummary {
    /// Wanted rules the pool should hold.
    pub wanted: usize,
    /// Managed rules before the change, duplicates included.
    pub managed_before: usize,
    /// Every change, in the order they are made.
    pub changes: Vec<Change>,
    /// Per-group figures once the change is made.
    pub groups: Vec<GroupReport>,
}

impl PlanSummary {
    pub fn added(&self) -> usize {
        count(&self.changes, true)
    }

    pub fn removed(&self) -> usize {
        count(&self.changes, false)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

fn count(changes: &[Change], adds: bool) -> usize {
    changes.iter().filter(|c| c.action.adds() == adds).count()
}

/// The pool's change: the EC2 calls, and their summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub steps: GroupChanges,
    pub summary: PlanSummary,
}

/// What the calls made so far changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Applied {
    pub(crate) changes: Vec<Change>,
}

impl Applied {
    pub(crate) fn added(&self) -> usize {
        count(&self.changes, true)
    }

    pub(crate) fn removed(&self) -> usize {
        count(&self.changes, false)
    }

    /// A call failed: what was applied up to it, and why it failed.
    pub(crate) fn interrupted(&mut self, error: Ec2Error) -> Interrupted {
        Interrupted {
            applied: std::mem::take(self),
            error,
        }
    }
}

/// An apply that stopped at a failed call; the changes before it were made.
#[derive(Debug)]
pub(crate) struct Interrupted {
    pub(crate) applied: Applied,
    pub(crate) error: Ec2Error,
}

/// A publication to reconcile the pool with, and how.
pub(crate) struct Run<'a> {
    pub wanted: &'a Wanted,
    /// The publication's selected ranges, after aggregation.
    pub ranges: usize,
    pub sync_token: SyncToken,
    pub create_date: &'a str,
    /// The token the groups held when the run started.
    pub applied: Option<SyncToken>,
    pub dry_run: bool,
    pub max_removal_ratio: f64,
}

/// Refuses a plan that removes more than `max_ratio` of the managed rules at once.
pub(crate) fn check_removals(plan: &PlanSummary, max_ratio: f64) -> Result<(), PlanError> {
    let (removing, managed) = (plan.removed(), plan.managed_before);
    if managed > 0 && removing as f64 > max_ratio * managed as f64 {
        return Err(PlanError::RemovalGuard {
            removing,
            managed,
            max_ratio,
        });
    }
    Ok(())
}

/// Plans, applies and re-reads until `pool` holds exactly the wanted rules: the re-read
/// catches an overlapping run's writes (say, the same rule in another group). A dry run
/// returns the first plan, with the guard it would hit as its reason.
pub(crate) async fn reconcile<A: SecurityGroupApi>(
    pool: &SecurityGroups<A>,
    mut state: Groups,
    run: &Run<'_>,
) -> Result<SyncReport, SyncError> {
    let mut done = Applied::default();
    let mut attempt = 0;
    let converged = loop {
        let Plan { steps, summary } = state.plan(run.wanted)?;
        let guard = check_removals(&summary, run.max_removal_ratio);
        if run.dry_run {
            let mut report = run.report(&summary, summary.added(), summary.removed());
            report.reason = guard.err().map(|e| e.to_string());
            report.groups = summary.groups;
            report.changes = summary.changes;
            return Ok(report);
        }
        if summary.is_empty() {
            break summary;
        }
        guard?;
        attempt += 1;
        if attempt > MAX_ATTEMPTS {
            let left = summary.changes.len();
            return Err(SyncError::Unconverged(format!(
                "{left} changes still planned"
            )));
        }
        match pool.apply(&steps).await {
            Ok(applied) => done.changes.extend(applied.changes),
            Err(Interrupted {
                applied,
                error: e @ Ec2Error::Conflict { .. },
            }) => {
                done.changes.extend(applied.changes);
                tracing::warn!(error = %e, attempt, "conflict with another run; re-reading")
            }
            Err(Interrupted { error, .. }) => return Err(error.into()),
        }
        state = pool.read().await?;
    };
    if run.applied != Some(run.sync_token) {
        pool.record(run.sync_token).await?;
    }
    let mut report = run.report(&converged, done.added(), done.removed());
    report.groups = converged.groups;
    report.changes = done.changes;
    Ok(report)
}

impl Run<'_> {
    fn report(&self, plan: &PlanSummary, added: usize, removed: usize) -> SyncReport {
        SyncReport {
            sync_token: Some(self.sync_token),
            create_date: Some(self.create_date.to_owned()),
            wanted: plan.wanted,
            wanted_ranges: Some(self.ranges),
            added,
            removed,
            // Wanted rules this run did not have to create (some another run may have).
            unchanged: plan.wanted.saturating_sub(added),
            skipped: false,
            dry_run: self.dry_run,
            groups: Vec::new(),
            reason: None,
            changes: Vec::new(),
            fence_openings: Vec::new(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::publication::range_set::{Range, RangeSet};
    use crate::report::Action;
    use crate::rules::PortRange;
    use ipnet::IpNet;

    /// The `i`th /24 of 10.0.0.0/8.
    pub(crate) fn net(i: u32) -> IpNet {
        IpNet::V4(ipnet::Ipv4Net::new((0x0a00_0000 + (i << 8)).into(), 24).unwrap())
    }

    /// The rules of one /24 per id (see [`net`]) on `ports`.
    pub(crate) fn wanted(ids: impl IntoIterator<Item = u32>, ports: &[PortRange]) -> Wanted {
        let set = RangeSet {
            ranges: ids
                .into_iter()
                .map(|i| Range {
                    net: net(i),
                    origin: "EC2/r".into(),
                })
                .collect(),
            matched: 0,
        };
        Wanted::new(&set, ports, "test").unwrap()
    }

    /// `removed` revocations of `managed` managed rules.
    fn counts(removed: usize, managed: usize) -> PlanSummary {
        PlanSummary {
            wanted: 0,
            managed_before: managed,
            changes: (0..removed)
                .map(|i| Change {
                    target: "sg-a".into(),
                    action: Action::Revoke,
                    rule: format!("tcp/3306 10.0.{i}.0/24"),
                })
                .collect(),
            groups: Vec::new(),
        }
    }

    #[test]
    fn the_removal_guard_refuses_more_than_the_ratio() {
        let plan = counts(6, 10);
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
        let first = counts(0, 0);
        assert!(check_removals(&first, 0.0).is_ok());
    }

    #[test]
    fn an_interrupted_apply_keeps_what_it_applied() {
        let mut done = Applied::default();
        done.changes.push(Change {
            target: "sg-a".into(),
            action: Action::Authorize,
            rule: "tcp/3306 10.0.0.0/24".into(),
        });
        let e = Ec2Error::from_reply(
            "RevokeSecurityGroupIngress",
            "sg-a",
            crate::error::Ec2Reply::new("InvalidPermission.NotFound", ""),
        );
        let Interrupted { applied, error } = done.interrupted(e);
        assert_eq!((applied.added(), applied.removed()), (1, 0));
        assert!(matches!(error, Ec2Error::Conflict { .. }));
        assert!(done.changes.is_empty());
    }
}
