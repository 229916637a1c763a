//! The second target: a customer-managed prefix list kept equal to the wanted set. Security
//! groups reference it in one rule, which counts against each group's quota by the list's
//! `MaxEntries`, not by its current size.

use std::collections::BTreeSet;
use std::future::Future;

use ipnet::IpNet;

use crate::error::{Ec2Error, PlanError};
use crate::publication::SyncToken;
use crate::reconcile::{Applied, Changes, Interrupted, PlanSummary, Target};
use crate::report::{Action, Change, GroupReport};
use crate::rules::{Family, Wanted, WantedError};

/// EC2 takes at most 100 entry changes in one `ModifyManagedPrefixList` call.
pub const MAX_ENTRIES_PER_CALL: usize = 100;

/// The calls the prefix-list target makes. Implemented on aws-sdk-ec2 by
/// [`crate::ec2::Ec2Client`] and in memory by the tests.
pub trait PrefixListApi: Send + Sync {
    fn describe_prefix_list(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<PrefixListState, Ec2Error>> + Send;
    /// Raises `MaxEntries`; returns the list's new version.
    fn resize_prefix_list(
        &self,
        id: &str,
        version: i64,
        max_entries: usize,
    ) -> impl Future<Output = Result<i64, Ec2Error>> + Send;
    /// Applies one batch of at most 100 entry changes; returns the list's new version.
    fn modify_prefix_list(
        &self,
        id: &str,
        version: i64,
        batch: &EntryBatch,
    ) -> impl Future<Output = Result<i64, Ec2Error>> + Send;
    /// Tags the list with the applied publication's token.
    fn tag_prefix_list(
        &self,
        id: &str,
        token: SyncToken,
    ) -> impl Future<Output = Result<(), Ec2Error>> + Send;
}

/// What the prefix list holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixListState {
    pub id: String,
    pub family: Family,
    /// Every modification must name this; EC2 refuses a stale one.
    pub version: i64,
    pub max_entries: usize,
    pub managed: Vec<IpNet>,
    /// Entries this function did not create.
    pub other: Vec<IpNet>,
    pub sync_token: Option<SyncToken>,
}

/// One `ModifyManagedPrefixList` call's worth of entry changes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntryBatch {
    pub add: Vec<(IpNet, String)>,
    pub remove: Vec<IpNet>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixListPlan {
    pub id: String,
    /// Raise `MaxEntries` to this first, in its own call (EC2 does not resize and change entries
    /// in one call).
    pub resize_to: Option<usize>,
    /// All additions come before any removal, so no wanted address is ever missing.
    pub batches: Vec<EntryBatch>,
    pub wanted: usize,
    pub unchanged: usize,
    pub managed_before: usize,
}

impl Changes for PrefixListPlan {
    /// A resize is never planned alone (only additions need room), so a plan without entry
    /// changes is empty.
    fn summary(&self) -> PlanSummary {
        PlanSummary {
            wanted: self.wanted,
            managed_before: self.managed_before,
            changes: self
                .batches
                .iter()
                .flat_map(|b| b.changes(&self.id))
                .collect(),
        }
    }
}

impl EntryBatch {
    fn changes<'a>(&'a self, id: &'a str) -> impl Iterator<Item = Change> + 'a {
        let change = move |action, net: &IpNet| Change {
            target: id.to_owned(),
            action,
            rule: net.to_string(),
        };
        let adds = self.add.iter().map(move |(n, _)| change(Action::Add, n));
        let removes = self.remove.iter().map(move |n| change(Action::Remove, n));
        adds.chain(removes)
    }
}

impl PrefixListPlan {
    pub fn report(&self, state: &PrefixListState) -> GroupReport {
        let added: usize = self.batches.iter().map(|b| b.add.len()).sum();
        let managed = self.unchanged + added;
        let max = self.resize_to.unwrap_or(state.max_entries);
        GroupReport {
            id: state.id.clone(),
            managed,
            other: state.other.len(),
            free: max.saturating_sub(managed + state.other.len()),
        }
    }
}

/// Plans the list's change to the wanted CIDRs of its own family (ports do not apply to a
/// prefix list). Duplicated entries cannot exist in a prefix list, so there are none to remove.
pub fn plan_prefix_list(
    wanted: &Wanted,
    state: &PrefixListState,
) -> Result<PrefixListPlan, PlanError> {
    let mut want: BTreeSet<(IpNet, &str)> = BTreeSet::new();
    let mut seen: BTreeSet<IpNet> = BTreeSet::new();
    for (r, d) in &wanted.rules {
        if r.family() == state.family && seen.insert(r.net) {
            want.insert((r.net, d.as_str()));
        }
    }
    if want.is_empty() {
        return Err(WantedError::EmptyWantedSet(format!(
            "no {} range for prefix list {}",
            state.family, state.id
        ))
        .into());
    }
    let current: BTreeSet<IpNet> = state.managed.iter().copied().collect();
    let other: BTreeSet<IpNet> = state.other.iter().copied().collect();
    // An entry someone else added already covers that CIDR; the list cannot hold it twice.
    let add: Vec<(IpNet, String)> = want
        .iter()
        .filter(|(n, _)| !current.contains(n) && !other.contains(n))
        .map(|(n, d)| (*n, (*d).to_owned()))
        .collect();
    let remove: Vec<IpNet> = current
        .iter()
        .filter(|n| !seen.contains(n))
        .copied()
        .collect();
    let peak = state.other.len() + current.len() + add.len();
    // Only additions need room; the list already holds what it has.
    let resize_to = (!add.is_empty() && peak > state.max_entries).then_some(peak);
    let mut batches: Vec<EntryBatch> = add
        .chunks(MAX_ENTRIES_PER_CALL)
        .map(|c| EntryBatch {
            add: c.to_vec(),
            remove: Vec::new(),
        })
        .collect();
    batches.extend(remove.chunks(MAX_ENTRIES_PER_CALL).map(|c| EntryBatch {
        add: Vec::new(),
        remove: c.to_vec(),
    }));
    Ok(PrefixListPlan {
        id: state.id.clone(),
        resize_to,
        batches,
        wanted: want.len(),
        unchanged: current.intersection(&seen).count(),
        managed_before: current.len(),
    })
}

/// The prefix list of `PREFIX_LIST_ID` as a [`Target`].
pub struct PrefixList<'a, A> {
    pub api: &'a A,
    pub id: &'a str,
}

impl<A: PrefixListApi> Target for PrefixList<'_, A> {
    type State = PrefixListState;
    type Plan = PrefixListPlan;
    const CHANGES: &'static str = "entry changes";

    async fn read(&self) -> Result<PrefixListState, Ec2Error> {
        self.api.describe_prefix_list(self.id).await
    }

    fn applied(&self, state: &PrefixListState) -> Option<SyncToken> {
        state.sync_token
    }

    fn plan(&self, wanted: &Wanted, state: &PrefixListState) -> Result<PrefixListPlan, PlanError> {
        plan_prefix_list(wanted, state)
    }

    /// Resizes first, then every batch, each naming the version the previous call returned.
    async fn apply(
        &self,
        plan: &PrefixListPlan,
        state: &PrefixListState,
    ) -> Result<Applied, Interrupted> {
        let mut done = Applied::default();
        let mut version = state.version;
        if let Some(max) = plan.resize_to {
            version = match self.api.resize_prefix_list(self.id, version, max).await {
                Ok(v) => v,
                Err(e) => return Err(done.interrupted(e)),
            };
        }
        for batch in &plan.batches {
            version = match self.api.modify_prefix_list(self.id, version, batch).await {
                Ok(v) => v,
                Err(e) => return Err(done.interrupted(e)),
            };
            done.changes.extend(batch.changes(self.id));
        }
        Ok(done)
    }

    async fn record(&self, token: SyncToken) -> Result<(), Ec2Error> {
        self.api.tag_prefix_list(self.id, token).await
    }

    fn report(&self, state: &PrefixListState, plan: Option<&PrefixListPlan>) -> Vec<GroupReport> {
        let report = match plan {
            Some(p) => p.report(state),
            None => GroupReport {
                id: state.id.clone(),
                managed: state.managed.len(),
                other: state.other.len(),
                free: state
                    .max_entries
                    .saturating_sub(state.managed.len() + state.other.len()),
            },
        };
        vec![report]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publication::range_set::{Range, RangeSet};
    use crate::rules::PortRange;

    fn net(i: u32) -> IpNet {
        IpNet::V4(ipnet::Ipv4Net::new((0x0a00_0000 + (i << 8)).into(), 24).unwrap())
    }

    fn wanted(ids: impl IntoIterator<Item = u32>) -> Wanted {
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
        Wanted::new(&set, &[PortRange::tcp(3306), PortRange::tcp(33060)], "t").unwrap()
    }

    fn state(managed: impl IntoIterator<Item = u32>, max: usize) -> PrefixListState {
        PrefixListState {
            id: "pl-1".into(),
            family: Family::V4,
            version: 3,
            max_entries: max,
            managed: managed.into_iter().map(net).collect(),
            other: vec![net(1000)],
            sync_token: None,
        }
    }

    #[test]
    fn raises_max_entries_first_then_changes_at_most_100_per_call() {
        let p = plan_prefix_list(&wanted(0..250), &state(240..260, 50)).unwrap();
        // 1 other + 20 current + 240 new at the peak.
        assert_eq!(p.resize_to, Some(261));
        let s = p.summary();
        assert_eq!((s.added(), s.removed(), p.unchanged), (240, 10, 10));
        assert!(
            p.batches
                .iter()
                .all(|b| b.add.len() + b.remove.len() <= MAX_ENTRIES_PER_CALL)
        );
        let first_removal = p.batches.iter().position(|b| !b.remove.is_empty()).unwrap();
        assert!(
            p.batches[..first_removal]
                .iter()
                .all(|b| b.remove.is_empty())
        );
        assert!(p.batches[first_removal..].iter().all(|b| b.add.is_empty()));
        assert_eq!(p.batches.len(), 4);
    }

    #[test]
    fn steady_state_is_empty_and_ports_do_not_multiply_entries() {
        let p = plan_prefix_list(&wanted(0..5), &state(0..5, 10)).unwrap();
        assert!(p.summary().is_empty());
        assert_eq!(p.wanted, 5);
        assert_eq!(p.report(&state(0..5, 10)).free, 4);
    }

    #[test]
    fn other_family_only_is_empty() {
        let mut s = state([], 10);
        s.family = Family::V6;
        assert!(matches!(
            plan_prefix_list(&wanted(0..3), &s),
            Err(PlanError::Wanted(WantedError::EmptyWantedSet(_)))
        ));
    }
}
