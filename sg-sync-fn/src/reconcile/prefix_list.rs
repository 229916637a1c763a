//! The second target: a customer-managed prefix list kept equal to the wanted set. Security
//! groups reference it in one rule, which counts against each group's quota by the list's
//! `MaxEntries`, not by its current size.

use std::collections::BTreeSet;
use std::future::Future;

use ipnet::IpNet;

use crate::error::{Ec2Error, PlanError};
use crate::publication::SyncToken;
use crate::reconcile::{Applied, Interrupted, Plan, PlanSummary, Target, TargetState};
use crate::report::{Action, Change, GroupReport};
use crate::rules::{Family, Wanted, WantedError};

/// EC2 takes at most 100 entry changes in one `ModifyManagedPrefixList` call.
pub(crate) const MAX_ENTRIES_PER_CALL: usize = 100;

/// The calls the prefix-list target makes. Implemented on aws-sdk-ec2 by
/// [`crate::ec2::Ec2Client`] and in memory by the tests.
pub trait PrefixListApi: Send + Sync {
    fn describe_prefix_list(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<PrefixListState, Ec2Error>> + Send;
    /// One `ModifyManagedPrefixList` call, once the list has applied it; returns the list's
    /// new version.
    fn modify_prefix_list(
        &self,
        call: &ListCall<'_>,
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

/// One `ModifyManagedPrefixList` call: it names the version it changes, which EC2 checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCall<'a> {
    pub id: &'a str,
    pub version: i64,
    pub change: ListChange<'a>,
}

/// What one call changes: EC2 does not resize a list and change its entries in one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListChange<'a> {
    /// Raises `MaxEntries` to this.
    Resize(usize),
    /// At most 100 entry changes (`MAX_ENTRIES_PER_CALL`).
    Entries(&'a EntryBatch),
}

/// The list's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListChanges {
    /// The version the change was planned on: the first call names it.
    pub(crate) version: i64,
    /// Raise `MaxEntries` to this first, in its own call (EC2 does not resize and change entries
    /// in one call).
    pub(crate) resize_to: Option<usize>,
    /// All additions come before any removal, so no wanted address is ever missing.
    pub(crate) batches: Vec<EntryBatch>,
    /// Managed entries that stay.
    pub(crate) unchanged: usize,
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

impl PrefixListState {
    /// The list's figures with `managed` entries in a list of `max_entries`.
    fn figures(&self, managed: usize, max_entries: usize) -> Vec<GroupReport> {
        let other = self.other.len();
        vec![GroupReport {
            id: self.id.clone(),
            managed,
            other,
            free: max_entries.saturating_sub(managed + other),
        }]
    }
}

impl TargetState for PrefixListState {
    type Steps = ListChanges;

    fn applied(&self) -> Option<SyncToken> {
        self.sync_token
    }

    fn report(&self) -> Vec<GroupReport> {
        self.figures(self.managed.len(), self.max_entries)
    }

    /// The change to the wanted CIDRs of the list's own family (ports do not apply to a prefix
    /// list). Duplicated entries cannot exist in a prefix list, so there are none to remove.
    /// A resize is never planned alone (only additions need room), so a plan without entry
    /// changes is empty.
    fn plan(&self, wanted: &Wanted) -> Result<Plan<ListChanges>, PlanError> {
        let mut want: BTreeSet<(IpNet, &str)> = BTreeSet::new();
        let mut seen: BTreeSet<IpNet> = BTreeSet::new();
        for (r, d) in &wanted.rules {
            if r.family() == self.family && seen.insert(r.net) {
                want.insert((r.net, d.as_str()));
            }
        }
        if want.is_empty() {
            return Err(WantedError::EmptyWantedSet(format!(
                "no {} range for prefix list {}",
                self.family, self.id
            ))
            .into());
        }
        let current: BTreeSet<IpNet> = self.managed.iter().copied().collect();
        let other: BTreeSet<IpNet> = self.other.iter().copied().collect();
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
        let peak = self.other.len() + current.len() + add.len();
        // Only additions need room; the list already holds what it has.
        let resize_to = (!add.is_empty() && peak > self.max_entries).then_some(peak);
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
        let unchanged = current.intersection(&seen).count();
        let max_entries = resize_to.unwrap_or(self.max_entries);
        Ok(Plan {
            summary: PlanSummary {
                wanted: want.len(),
                managed_before: current.len(),
                changes: batches.iter().flat_map(|b| b.changes(&self.id)).collect(),
                groups: self.figures(unchanged + add.len(), max_entries),
            },
            steps: ListChanges {
                version: self.version,
                resize_to,
                batches,
                unchanged,
            },
        })
    }
}

/// The prefix list of `PREFIX_LIST_ID` as a [`Target`].
pub(crate) struct PrefixList<A> {
    pub(crate) api: A,
    pub(crate) id: String,
}

impl<A: PrefixListApi> Target for PrefixList<A> {
    type State = PrefixListState;

    async fn read(&self) -> Result<PrefixListState, Ec2Error> {
        self.api.describe_prefix_list(&self.id).await
    }

    /// Resizes first, then every batch, each naming the version the previous call returned.
    async fn apply(&self, steps: &ListChanges) -> Result<Applied, Interrupted> {
        let mut done = Applied::default();
        let mut version = steps.version;
        let resize = steps.resize_to.map(ListChange::Resize);
        let batches = steps.batches.iter().map(ListChange::Entries);
        for change in resize.into_iter().chain(batches) {
            let call = ListCall {
                id: &self.id,
                version,
                change,
            };
            version = match self.api.modify_prefix_list(&call).await {
                Ok(v) => v,
                Err(e) => return Err(done.interrupted(e)),
            };
            if let ListChange::Entries(batch) = change {
                done.changes.extend(batch.changes(&self.id));
            }
        }
        Ok(done)
    }

    async fn record(&self, token: SyncToken) -> Result<(), Ec2Error> {
        self.api.tag_prefix_list(&self.id, token).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::tests::{self, net};
    use crate::rules::PortRange;

    fn wanted(ids: impl IntoIterator<Item = u32>) -> Wanted {
        tests::wanted(ids, &[PortRange::tcp(3306), PortRange::tcp(33060)])
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
        let p = state(240..260, 50).plan(&wanted(0..250)).unwrap();
        // 1 other + 20 current + 240 new at the peak.
        assert_eq!(p.steps.resize_to, Some(261));
        let s = p.summary;
        assert_eq!((s.added(), s.removed(), p.steps.unchanged), (240, 10, 10));
        assert!(
            p.steps
                .batches
                .iter()
                .all(|b| b.add.len() + b.remove.len() <= MAX_ENTRIES_PER_CALL)
        );
        let first_removal = p
            .steps
            .batches
            .iter()
            .position(|b| !b.remove.is_empty())
            .unwrap();
        assert!(
            p.steps.batches[..first_removal]
                .iter()
                .all(|b| b.remove.is_empty())
        );
        assert!(
            p.steps.batches[first_removal..]
                .iter()
                .all(|b| b.add.is_empty())
        );
        assert_eq!(p.steps.batches.len(), 4);
    }

    #[test]
    fn steady_state_is_empty_and_ports_do_not_multiply_entries() {
        let p = state(0..5, 10).plan(&wanted(0..5)).unwrap();
        assert!(p.summary.is_empty());
        assert_eq!(p.summary.wanted, 5);
        assert_eq!(p.summary.groups[0].free, 4);
    }

    #[test]
    fn other_family_only_is_empty() {
        let mut s = state([], 10);
        s.family = Family::V6;
        assert!(matches!(
            s.plan(&wanted(0..3)),
            Err(PlanError::Wanted(WantedError::EmptyWantedSet(_)))
        ));
    }
}
