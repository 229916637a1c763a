//! The pool: security groups in placement order, each with a quota of rules per IP family.
//! From the wanted rules and what the groups hold now, the smallest set of changes: which rules
//! to authorize in which group (first fit), which to revoke. The planning is pure; the calls go
//! through [`SecurityGroupApi`].

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use ipnet::IpNet;

use crate::error::{Ec2Error, PlanError};
use crate::publication::SyncToken;
use crate::report::{Action, Change, GroupReport};

use crate::config::Config;
use crate::fence::ForeignRule;
use crate::reconcile::{Applied, Interrupted, Plan, PlanSummary};
use crate::rules::{Family, PerFamily, PortRange, Rule, Wanted};

/// The calls the sync makes. Implemented on aws-sdk-ec2 by [`crate::ec2::Ec2Client`] and in
/// memory by the tests.
pub trait SecurityGroupApi: Send + Sync {
    /// The groups in the given order, with every inbound rule read (all pages).
    fn describe_groups(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<GroupState>, Ec2Error>> + Send;
    /// One call: opens (or closes) a port to some CIDRs in one group.
    fn change_rules(
        &self,
        call: &RuleCall<'_>,
    ) -> impl Future<Output = Result<(), Ec2Error>> + Send;
    /// Tags every group with the applied publication's token.
    fn tag_groups(
        &self,
        ids: &[String],
        token: SyncToken,
    ) -> impl Future<Output = Result<(), Ec2Error>> + Send;
}

/// What one security group holds now, as far as planning cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupState {
    pub id: String,
    /// Rules this function created (description starts with [`crate::rules::MARKER`]).
    pub managed: Vec<Rule>,
    /// Quota slots taken by every other inbound rule, on any port, per family.
    pub other: PerFamily<usize>,
    /// Those other rules, for the fence check ([`crate::fence`]).
    pub foreign: Vec<ForeignRule>,
    /// The sync token tag, if this group was synced before.
    pub sync_token: Option<SyncToken>,
}

impl GroupState {
    pub fn new(id: impl Into<String>) -> Self {
        GroupState {
            id: id.into(),
            managed: Vec::new(),
            other: PerFamily::default(),
            foreign: Vec::new(),
            sync_token: None,
        }
    }

    fn used(&self, family: Family) -> usize {
        self.other[family] + self.managed.iter().filter(|r| r.family() == family).count()
    }
}

/// The changes for one group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Placement {
    pub(crate) group_id: String,
    /// New rules placed in this group, with their descriptions.
    pub(crate) authorize: Vec<(Rule, String)>,
    pub(crate) revoke: Vec<Rule>,
}

/// Rules by port: each port's rules are one EC2 call.
fn by_port<'a>(
    rules: impl Iterator<Item = (&'a Rule, &'a str)>,
) -> BTreeMap<PortRange, Vec<(IpNet, &'a str)>> {
    let mut by_port: BTreeMap<PortRange, Vec<(IpNet, &str)>> = BTreeMap::new();
    for (r, d) in rules {
        by_port.entry(r.port).or_default().push((r.net, d));
    }
    by_port
}

impl Placement {
    /// Rules to authorize, one batch per port.
    fn authorize_by_port(&self) -> BTreeMap<PortRange, Vec<(IpNet, &str)>> {
        by_port(self.authorize.iter().map(|(r, d)| (r, d.as_str())))
    }

    /// Rules to revoke, one batch per port (a revoke names no description).
    fn revoke_by_port(&self) -> BTreeMap<PortRange, Vec<(IpNet, &str)>> {
        by_port(self.revoke.iter().map(|r| (r, "")))
    }
}

/// One EC2 call of a change: in a group, open (authorize) or close (revoke) a port to some
/// CIDRs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCall<'a> {
    pub group_id: &'a str,
    pub action: Action,
    pub port: PortRange,
    /// The CIDRs, each with its description (empty in a revoke, which names none).
    pub rules: Vec<(IpNet, &'a str)>,
}

impl RuleCall<'_> {
    fn changes(&self) -> impl Iterator<Item = Change> + '_ {
        self.rules.iter().map(|&(net, _)| Change {
            target: self.group_id.to_owned(),
            action: self.action,
            rule: Rule {
                port: self.port,
                net,
            }
            .to_string(),
        })
    }
}

/// The whole change, group by group in `SECURITY_GROUP_IDS` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupChanges {
    pub(crate) placements: Vec<Placement>,
    /// Managed rules that stay where they are.
    pub(crate) unchanged: usize,
}

impl GroupChanges {
    /// The calls in the order they are made: every authorize (group by group, a call per port),
    /// then every revoke, so that a wanted address is never missing mid-sync.
    fn calls(&self) -> Vec<RuleCall<'_>> {
        let authorize = self.placements.iter().flat_map(|p| {
            p.authorize_by_port()
                .into_iter()
                .map(|(port, rules)| (&p.group_id, Action::Authorize, port, rules))
        });
        let revoke = self.placements.iter().flat_map(|p| {
            p.revoke_by_port()
                .into_iter()
                .map(|(port, rules)| (&p.group_id, Action::Revoke, port, rules))
        });
        authorize
            .chain(revoke)
            .map(|(group_id, action, port, rules)| RuleCall {
                group_id,
                action,
                port,
                rules,
            })
            .collect()
    }

    /// The groups as they will be once the change is made.
    fn apply_to(&self, groups: &[GroupState]) -> Vec<GroupState> {
        groups
            .iter()
            .map(|g| {
                let mut g = g.clone();
                if let Some(p) = self.placements.iter().find(|p| p.group_id == g.id) {
                    let revoke: BTreeSet<&Rule> = p.revoke.iter().collect();
                    g.managed.retain(|r| !revoke.contains(r));
                    g.managed.extend(p.authorize.iter().map(|(r, _)| *r));
                }
                g
            })
            .collect()
    }
}

/// The security groups as read (in placement order), with what planning and reporting them take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Groups {
    pub groups: Vec<GroupState>,
    /// Rules per group and family (`RULES_PER_GROUP`).
    pub quota: usize,
    /// The families this sync manages, for the free slots it reports.
    pub families: &'static [Family],
}

/// Per-group figures of `groups` as they are, for the families in `families`.
fn reports(groups: &[GroupState], quota: usize, families: &[Family]) -> Vec<GroupReport> {
    groups
        .iter()
        .map(|g| GroupReport {
            id: g.id.clone(),
            managed: g.managed.len(),
            other: g.other.total(),
            free: families
                .iter()
                .map(|&f| quota.saturating_sub(g.used(f)))
                .sum(),
        })
        .collect()
}

impl Groups {
    /// The publication the groups hold, if every one of them records one.
    pub fn applied(&self) -> Option<SyncToken> {
        applied_token(self.groups.iter().map(|g| g.sync_token))
    }

    /// Per-group figures as the groups are now.
    pub fn report(&self) -> Vec<GroupReport> {
        reports(&self.groups, self.quota, self.families)
    }

    /// Every rule of others on the groups, for the fence.
    pub fn foreign(&self) -> Vec<ForeignRule> {
        self.groups.iter().flat_map(|g| g.foreign.clone()).collect()
    }

    /// The CIDRs the managed rules open: the ranges of the publication the groups hold.
    pub fn held(&self) -> Vec<IpNet> {
        self.groups
            .iter()
            .flat_map(|g| g.managed.iter().map(|r| r.net))
            .collect()
    }

    /// Managed rules that stay wanted stay where they are; new ones go first-fit into the free
    /// slots; removed and duplicate rules are revoked.
    pub fn plan(&self, wanted: &Wanted) -> Result<Plan, PlanError> {
        let steps = place(wanted, &self.groups, self.quota)?;
        let changes = steps.calls().iter().flat_map(RuleCall::changes).collect();
        let after = steps.apply_to(&self.groups);
        Ok(Plan {
            summary: PlanSummary {
                wanted: wanted.len(),
                managed_before: self.groups.iter().map(|g| g.managed.len()).sum(),
                changes,
                groups: reports(&after, self.quota, self.families),
            },
            steps,
        })
    }
}

/// Places the change from `groups` (in placement order) to `wanted`, with `quota` rules per
/// group and family.
fn place(wanted: &Wanted, groups: &[GroupState], quota: usize) -> Result<GroupChanges, PlanError> {
    let mut placements: Vec<Placement> = groups
        .iter()
        .map(|g| Placement {
            group_id: g.id.clone(),
            ..Placement::default()
        })
        .collect();
    let mut kept: BTreeSet<Rule> = BTreeSet::new();
    for (g, p) in groups.iter().zip(&mut placements) {
        for r in &g.managed {
            // A rule wanted and not yet kept stays in the first group holding it; any other
            // copy (an overlapping run's leftover) is revoked.
            if !(wanted.rules.contains_key(r) && kept.insert(*r)) {
                p.revoke.push(*r);
            }
        }
    }
    // Authorize runs before revoke, so only slots free before this sync can take new rules.
    let mut free: Vec<PerFamily<usize>> = groups
        .iter()
        .map(|g| PerFamily::from_fn(|f| quota.saturating_sub(g.used(f))))
        .collect();
    let mut unplaced = PerFamily::<usize>::default();
    let mut needed = PerFamily::<usize>::default();
    for (r, d) in &wanted.rules {
        if kept.contains(r) {
            continue;
        }
        let f = r.family();
        needed[f] += 1;
        match free.iter().position(|slots| slots[f] > 0) {
            Some(i) => {
                free[i][f] -= 1;
                placements[i].authorize.push((*r, d.clone()));
            }
            None => unplaced[f] += 1,
        }
    }
    for f in Family::ALL {
        if unplaced[f] > 0 {
            let used: Vec<usize> = groups.iter().map(|g| g.used(f)).collect();
            let free_before = needed[f] - unplaced[f];
            let quota_needed = (quota..)
                .find(|q| used.iter().map(|u| q.saturating_sub(*u)).sum::<usize>() >= needed[f])
                .unwrap_or(quota);
            return Err(PlanError::CapacityExceeded {
                family: f,
                needed: needed[f],
                free: free_before,
                groups: groups.len(),
                quota,
                more_groups: unplaced[f].div_ceil(quota.max(1)),
                quota_needed,
            });
        }
    }
    Ok(GroupChanges {
        placements,
        unchanged: kept.len(),
    })
}

/// The security groups of `SECURITY_GROUP_IDS` on EC2: read, changed, and tagged with the
/// publication they hold.
pub(crate) struct SecurityGroups<A> {
    pub(crate) api: A,
    ids: Vec<String>,
    quota: usize,
    families: &'static [Family],
}

impl<A> SecurityGroups<A> {
    /// The groups `config` names, and its quota and families, on `api`.
    pub(crate) fn new(api: A, config: &Config) -> Self {
        let families: &'static [Family] = if config.selector.ipv6 {
            &Family::ALL
        } else {
            &[Family::V4]
        };
        SecurityGroups {
            api,
            ids: config.security_group_ids.clone(),
            quota: config.rules_per_group,
            families,
        }
    }
}

impl<A: SecurityGroupApi> SecurityGroups<A> {
    /// What the groups hold now.
    pub(crate) async fn read(&self) -> Result<Groups, Ec2Error> {
        Ok(Groups {
            groups: self.api.describe_groups(&self.ids).await?,
            quota: self.quota,
            families: self.families,
        })
    }

    /// Makes a planned change: every change made, or those made before a call failed.
    pub(crate) async fn apply(&self, steps: &GroupChanges) -> Result<Applied, Interrupted> {
        let mut done = Applied::default();
        for call in steps.calls() {
            if let Err(e) = self.api.change_rules(&call).await {
                return Err(done.interrupted(e));
            }
            done.changes.extend(call.changes());
        }
        Ok(done)
    }

    /// Records the applied publication on every group.
    pub(crate) async fn record(&self, token: SyncToken) -> Result<(), Ec2Error> {
        self.api.tag_groups(&self.ids, token).await
    }
}

/// The token every group holds: the oldest one, or none if any group has none.
fn applied_token(tokens: impl Iterator<Item = Option<SyncToken>>) -> Option<SyncToken> {
    tokens
        .fold(None, |acc: Option<Option<SyncToken>>, t| {
            Some(match acc {
                None => t,
                Some(a) => a.zip(t).map(|(a, t)| a.min(t)),
            })
        })
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publication::range_set::{Range, RangeSet};
    use crate::reconcile::check_removals;
    use crate::reconcile::tests::{self, net};
    use proptest::prelude::*;

    const MYSQL: PortRange = PortRange::tcp(3306);

    fn rule(i: u32) -> Rule {
        Rule {
            port: MYSQL,
            net: net(i),
        }
    }

    fn wanted(ids: impl IntoIterator<Item = u32>) -> Wanted {
        tests::wanted(ids, &[MYSQL])
    }

    /// The plan for `groups` with `quota`, reporting IPv4's free slots.
    fn plan(wanted: &Wanted, groups: &[GroupState], quota: usize) -> Result<Plan, PlanError> {
        let families = &[Family::V4];
        let groups = groups.to_vec();
        Groups {
            groups,
            quota,
            families,
        }
        .plan(wanted)
    }

    fn group(id: &str, managed: impl IntoIterator<Item = u32>, other: usize) -> GroupState {
        GroupState {
            managed: managed.into_iter().map(rule).collect(),
            other: PerFamily { v4: other, v6: 0 },
            ..GroupState::new(id)
        }
    }

    #[test]
    fn new_rules_fill_groups_first_fit_in_order() {
        let groups = [group("sg-a", [], 58), group("sg-b", [], 0)];
        let p = plan(&wanted(0..5), &groups, 60).unwrap();
        assert_eq!(p.steps.placements[0].authorize.len(), 2);
        assert_eq!(p.steps.placements[1].authorize.len(), 3);
        let s = p.summary;
        assert_eq!((s.added(), s.removed(), p.steps.unchanged), (5, 0, 0));
    }

    #[test]
    fn kept_rules_stay_and_one_new_prefix_costs_one_authorize() {
        let groups = [group("sg-a", 0..3, 0), group("sg-b", 3..6, 0)];
        let p = plan(&wanted((0..6).chain([9])), &groups, 60).unwrap();
        assert_eq!(p.summary.added(), 1);
        assert_eq!(p.summary.removed(), 0);
        assert_eq!(p.steps.unchanged, 6);
        assert_eq!(p.steps.placements[0].authorize[0].0, rule(9));
    }

    #[test]
    fn stale_and_duplicate_rules_are_revoked() {
        let groups = [group("sg-a", [0, 1], 0), group("sg-b", [1, 7], 0)];
        let p = plan(&wanted([0, 1]), &groups, 60).unwrap();
        assert_eq!(p.steps.placements[1].revoke, vec![rule(1), rule(7)]);
        assert_eq!(p.steps.unchanged, 2);
    }

    #[test]
    fn capacity_exceeded_names_what_would_fit() {
        let groups = [group("sg-a", [], 50), group("sg-b", [], 55)];
        let e = plan(&wanted(0..20), &groups, 60).unwrap_err();
        assert_eq!(
            e,
            PlanError::CapacityExceeded {
                family: Family::V4,
                needed: 20,
                free: 15,
                groups: 2,
                quota: 60,
                more_groups: 1,
                quota_needed: 63
            }
        );
        assert!(e.to_string().contains("at least 63"));
    }

    #[test]
    fn the_removal_guard_counts_this_plan() {
        let groups = [group("sg-a", 0..10, 0)];
        let p = plan(&wanted(0..4), &groups, 60).unwrap();
        assert!(matches!(
            check_removals(&p.summary, 0.5),
            Err(PlanError::RemovalGuard {
                removing: 6,
                managed: 10,
                ..
            })
        ));
        assert!(check_removals(&p.summary, 0.6).is_ok());
    }

    #[test]
    fn families_have_their_own_quota() {
        let v6 = Range {
            net: "2406:da14::/36".parse().unwrap(),
            origin: "EC2/r".into(),
        };
        let set = RangeSet {
            ranges: vec![
                Range {
                    net: net(1),
                    origin: "EC2/r".into(),
                },
                v6,
            ],
            matched: 2,
        };
        let w = Wanted::new(&set, &[MYSQL], "x").unwrap();
        let groups = [
            GroupState {
                other: PerFamily { v4: 60, v6: 0 },
                ..GroupState::new("sg-a")
            },
            GroupState::new("sg-b"),
        ];
        let p = plan(&w, &groups, 60).unwrap();
        assert_eq!(p.steps.placements[0].authorize.len(), 1);
        assert_eq!(p.steps.placements[0].authorize[0].0.family(), Family::V6);
        assert_eq!(p.steps.placements[1].authorize[0].0.family(), Family::V4);
    }

    #[test]
    fn batches_are_one_per_port() {
        let set = RangeSet {
            ranges: (0..3)
                .map(|i| Range {
                    net: net(i),
                    origin: "o".into(),
                })
                .collect(),
            matched: 3,
        };
        let ports = [MYSQL, "tcp/8000-8100".parse().unwrap()];
        let w = Wanted::new(&set, &ports, "x").unwrap();
        let p = plan(&w, &[GroupState::new("sg-a")], 60).unwrap();
        let batches = p.steps.placements[0].authorize_by_port();
        assert_eq!(batches.len(), 2);
        assert!(batches.values().all(|b| b.len() == 3));
    }

    fn arb_groups() -> impl Strategy<Value = Vec<GroupState>> {
        prop::collection::vec(
            (prop::collection::btree_set(0u32..40, 0..25), 0usize..30),
            1..4,
        )
        .prop_map(|gs| {
            gs.into_iter()
                .enumerate()
                .map(|(i, (m, o))| group(&format!("sg-{i}"), m, o))
                .collect()
        })
    }

    proptest! {
        /// Applying the plan yields exactly the wanted rules, once each; nothing that stays
        /// wanted moves; no group exceeds its quota at any point; changes equal the diff.
        #[test]
        fn plan_properties(groups in arb_groups(), want in prop::collection::btree_set(0u32..40, 1..40), quota in 20usize..70) {
            let w = wanted(want.iter().copied());
            match plan(&w, &groups, quota) {
                Ok(p) => {
                    let after = p.steps.apply_to(&groups);
                    let mut all: Vec<Rule> = after.iter().flat_map(|g| g.managed.clone()).collect();
                    all.sort();
                    let expect: Vec<Rule> = w.rules.keys().copied().collect();
                    prop_assert_eq!(&all, &expect);
                    for (before, after) in groups.iter().zip(&after) {
                        // Peak occupancy (after authorize, before revoke) stays within quota
                        // unless the group was already over it and got nothing new.
                        let added = p.steps.placements.iter().find(|x| x.group_id == before.id).unwrap().authorize.len();
                        prop_assert!(added == 0 || before.used(Family::V4) + added <= quota);
                        for r in &after.managed {
                            if let Some(home) = groups.iter().find(|g| g.managed.contains(r)) {
                                prop_assert_eq!(&home.id, &after.id, "rule {} moved", r);
                            }
                        }
                    }
                    let current: BTreeSet<Rule> = groups.iter().flat_map(|g| g.managed.clone()).collect();
                    let dupes: usize = groups.iter().map(|g| g.managed.len()).sum::<usize>() - current.len();
                    let diff = w.rules.keys().filter(|r| !current.contains(r)).count()
                        + current.iter().filter(|r| !w.rules.contains_key(r)).count();
                    let s = p.summary;
                    prop_assert_eq!(s.added() + s.removed(), diff + dupes);
                    prop_assert_eq!(p.steps.unchanged + s.added(), w.len());
                }
                Err(PlanError::CapacityExceeded { needed, free, .. }) => prop_assert!(needed > free),
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
    }

    #[test]
    fn applied_token_is_the_oldest_and_needs_every_group() {
        let t = |v: &[Option<u64>]| applied_token(v.iter().map(|x| x.map(SyncToken)));
        assert_eq!(t(&[Some(5), Some(3)]), Some(SyncToken(3)));
        assert_eq!(t(&[Some(5), None]), None);
        assert_eq!(t(&[]), None);
    }
}
