//! From the wanted rules and what the groups hold now, the smallest set of changes: which rules
//! to authorize in which group, which to revoke. Pure: no AWS here.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use serde::Serialize;

use crate::notification::SyncToken;
use crate::port::PortRange;
use crate::range_set::RangeSet;
use crate::rule::{self, Family, Rule};

/// Prefixes broader than these are refused outright: no publication should ever open a
/// database to a /7 or to the whole internet.
pub const MIN_V4_PREFIX: u8 = 8;
pub const MIN_V6_PREFIX: u8 = 24;

/// What one security group holds now, as far as planning cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupState {
    pub id: String,
    /// Rules this function created (description starts with [`rule::MARKER`]).
    pub managed: Vec<Rule>,
    /// Quota slots taken by every other inbound rule, on any port, per family: `[IPv4, IPv6]`.
    pub other: [usize; 2],
    /// The sync token tag, if this group was synced before.
    pub sync_token: Option<SyncToken>,
}

impl GroupState {
    pub fn new(id: impl Into<String>) -> Self {
        GroupState {
            id: id.into(),
            managed: Vec::new(),
            other: [0, 0],
            sync_token: None,
        }
    }

    fn used(&self, family: Family) -> usize {
        self.other[slot(family)] + self.managed.iter().filter(|r| r.family() == family).count()
    }
}

fn slot(f: Family) -> usize {
    match f {
        Family::V4 => 0,
        Family::V6 => 1,
    }
}

/// Every rule that should exist, with the description it is created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub rules: BTreeMap<Rule, String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error("the wanted set is empty ({0}): refusing to remove every managed rule")]
    EmptyWantedSet(String),
    #[error(
        "refusing {net} ({origin}): broader than /{min}, the narrowest prefix length accepted for this family"
    )]
    TooBroad { net: IpNet, origin: String, min: u8 },
    #[error(
        "{family}: {needed} new rules need a slot but only {free} are free across {groups} group(s) of {quota} rules \
         (authorize runs before revoke, so slots this sync frees do not count); \
         add {more_groups} more group(s) to SECURITY_GROUP_IDS or raise RULES_PER_GROUP to at least {quota_needed}"
    )]
    CapacityExceeded {
        family: Family,
        needed: usize,
        free: usize,
        groups: usize,
        quota: usize,
        more_groups: usize,
        quota_needed: usize,
    },
    #[error(
        "refusing to remove {removing} of {managed} managed rules ({:.0}% > MAX_REMOVAL_RATIO {:.0}%): \
         a publication this different is more likely broken than real; run with a higher MAX_REMOVAL_RATIO to accept it",
        *removing as f64 / *managed as f64 * 100.0, max_ratio * 100.0
    )]
    RemovalGuard {
        removing: usize,
        managed: usize,
        max_ratio: f64,
    },
}

impl Wanted {
    /// One rule per range and port. `filter` describes the selection for the empty-set error.
    pub fn new(set: &RangeSet, ports: &[PortRange], filter: &str) -> Result<Wanted, PlanError> {
        if set.is_empty() || ports.is_empty() {
            return Err(PlanError::EmptyWantedSet(filter.to_owned()));
        }
        let mut rules = BTreeMap::new();
        for r in &set.ranges {
            let min = match r.net {
                IpNet::V4(_) => MIN_V4_PREFIX,
                IpNet::V6(_) => MIN_V6_PREFIX,
            };
            if r.net.prefix_len() < min {
                return Err(PlanError::TooBroad {
                    net: r.net,
                    origin: r.origin.clone(),
                    min,
                });
            }
            for &port in ports {
                rules.insert(Rule { port, net: r.net }, rule::description(&r.origin));
            }
        }
        Ok(Wanted { rules })
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// The changes for one group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Placement {
    pub group_id: String,
    /// New rules placed in this group, with their descriptions.
    pub authorize: Vec<(Rule, String)>,
    pub revoke: Vec<Rule>,
}

impl Placement {
    /// Rules to authorize, one batch per port: each batch is one EC2 call.
    pub fn authorize_by_port(&self) -> BTreeMap<PortRange, Vec<(IpNet, &str)>> {
        let mut by_port: BTreeMap<PortRange, Vec<(IpNet, &str)>> = BTreeMap::new();
        for (r, d) in &self.authorize {
            by_port.entry(r.port).or_default().push((r.net, d.as_str()));
        }
        by_port
    }

    /// Rules to revoke, one batch per port: each batch is one EC2 call.
    pub fn revoke_by_port(&self) -> BTreeMap<PortRange, Vec<IpNet>> {
        let mut by_port: BTreeMap<PortRange, Vec<IpNet>> = BTreeMap::new();
        for r in &self.revoke {
            by_port.entry(r.port).or_default().push(r.net);
        }
        by_port
    }
}

/// The whole change, group by group in `SECURITY_GROUP_IDS` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub placements: Vec<Placement>,
    pub wanted: usize,
    pub unchanged: usize,
    /// Managed rules before the change, duplicates included.
    pub managed_before: usize,
}

/// One group after the plan, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupReport {
    pub id: String,
    pub managed: usize,
    pub other: usize,
    /// Free slots left in the families this sync manages.
    pub free: usize,
}

impl Plan {
    pub fn added(&self) -> usize {
        self.placements.iter().map(|p| p.authorize.len()).sum()
    }

    pub fn removed(&self) -> usize {
        self.placements.iter().map(|p| p.revoke.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.added() == 0 && self.removed() == 0
    }

    /// Guards against a publication that would remove too much at once.
    pub fn check_removals(&self, max_ratio: f64) -> Result<(), PlanError> {
        let removing = self.removed();
        if self.managed_before > 0 && removing as f64 > max_ratio * self.managed_before as f64 {
            return Err(PlanError::RemovalGuard {
                removing,
                managed: self.managed_before,
                max_ratio,
            });
        }
        Ok(())
    }

    /// The groups as they will be once the plan is applied.
    pub fn apply_to(&self, groups: &[GroupState]) -> Vec<GroupState> {
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

    /// Per-group figures after the plan, for the families in `families`.
    pub fn report(
        &self,
        groups: &[GroupState],
        quota: usize,
        families: &[Family],
    ) -> Vec<GroupReport> {
        reports(&self.apply_to(groups), quota, families)
    }
}

/// Per-group figures of `groups` as they are, for the families in `families`.
pub fn reports(groups: &[GroupState], quota: usize, families: &[Family]) -> Vec<GroupReport> {
    groups
        .iter()
        .map(|g| GroupReport {
            id: g.id.clone(),
            managed: g.managed.len(),
            other: g.other.iter().sum(),
            free: families
                .iter()
                .map(|&f| quota.saturating_sub(g.used(f)))
                .sum(),
        })
        .collect()
}

/// Plans the change from `groups` (in placement order) to `wanted`, with `quota` rules per
/// group and family. Managed rules that stay wanted stay where they are; new ones go first-fit
/// into the free slots; removed and duplicate rules are revoked.
pub fn plan(wanted: &Wanted, groups: &[GroupState], quota: usize) -> Result<Plan, PlanError> {
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
    let mut free: Vec<[usize; 2]> = groups
        .iter()
        .map(|g| {
            [
                quota.saturating_sub(g.used(Family::V4)),
                quota.saturating_sub(g.used(Family::V6)),
            ]
        })
        .collect();
    let mut unplaced = [0usize; 2];
    let mut needed = [0usize; 2];
    for (r, d) in &wanted.rules {
        if kept.contains(r) {
            continue;
        }
        let f = slot(r.family());
        needed[f] += 1;
        match free.iter().position(|slots| slots[f] > 0) {
            Some(i) => {
                free[i][f] -= 1;
                placements[i].authorize.push((*r, d.clone()));
            }
            None => unplaced[f] += 1,
        }
    }
    for family in [Family::V4, Family::V6] {
        let f = slot(family);
        if unplaced[f] > 0 {
            let used: Vec<usize> = groups.iter().map(|g| g.used(family)).collect();
            let free_before = needed[f] - unplaced[f];
            let quota_needed = (quota..)
                .find(|q| used.iter().map(|u| q.saturating_sub(*u)).sum::<usize>() >= needed[f])
                .unwrap_or(quota);
            return Err(PlanError::CapacityExceeded {
                family,
                needed: needed[f],
                free: free_before,
                groups: groups.len(),
                quota,
                more_groups: unplaced[f].div_ceil(quota.max(1)),
                quota_needed,
            });
        }
    }
    Ok(Plan {
        placements,
        wanted: wanted.len(),
        unchanged: kept.len(),
        managed_before: groups.iter().map(|g| g.managed.len()).sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::range_set::Range;
    use proptest::prelude::*;

    const MYSQL: PortRange = PortRange::tcp(3306);

    fn net(i: u32) -> IpNet {
        IpNet::V4(ipnet::Ipv4Net::new((0x0a00_0000 + (i << 8)).into(), 24).unwrap())
    }

    fn rule(i: u32) -> Rule {
        Rule {
            port: MYSQL,
            net: net(i),
        }
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
        Wanted::new(&set, &[MYSQL], "test").unwrap()
    }

    fn group(id: &str, managed: impl IntoIterator<Item = u32>, other: usize) -> GroupState {
        GroupState {
            managed: managed.into_iter().map(rule).collect(),
            other: [other, 0],
            ..GroupState::new(id)
        }
    }

    #[test]
    fn new_rules_fill_groups_first_fit_in_order() {
        let groups = [group("sg-a", [], 58), group("sg-b", [], 0)];
        let p = plan(&wanted(0..5), &groups, 60).unwrap();
        assert_eq!(p.placements[0].authorize.len(), 2);
        assert_eq!(p.placements[1].authorize.len(), 3);
        assert_eq!((p.added(), p.removed(), p.unchanged), (5, 0, 0));
    }

    #[test]
    fn kept_rules_stay_and_one_new_prefix_costs_one_authorize() {
        let groups = [group("sg-a", 0..3, 0), group("sg-b", 3..6, 0)];
        let p = plan(&wanted((0..6).chain([9])), &groups, 60).unwrap();
        assert_eq!(p.added(), 1);
        assert_eq!(p.removed(), 0);
        assert_eq!(p.unchanged, 6);
        assert_eq!(p.placements[0].authorize[0].0, rule(9));
    }

    #[test]
    fn stale_and_duplicate_rules_are_revoked() {
        let groups = [group("sg-a", [0, 1], 0), group("sg-b", [1, 7], 0)];
        let p = plan(&wanted([0, 1]), &groups, 60).unwrap();
        assert_eq!(p.placements[1].revoke, vec![rule(1), rule(7)]);
        assert_eq!(p.unchanged, 2);
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
    fn guards_refuse_empty_and_broad_sets_and_mass_removal() {
        let empty = RangeSet::default();
        assert!(matches!(
            Wanted::new(&empty, &[MYSQL], "EC2"),
            Err(PlanError::EmptyWantedSet(_))
        ));
        for broad in ["0.0.0.0/0", "8.0.0.0/7", "::/0", "2400::/23"] {
            let set = RangeSet {
                ranges: vec![Range {
                    net: broad.parse().unwrap(),
                    origin: "x".into(),
                }],
                matched: 1,
            };
            assert!(
                matches!(
                    Wanted::new(&set, &[MYSQL], "x"),
                    Err(PlanError::TooBroad { .. })
                ),
                "{broad}"
            );
        }
        let groups = [group("sg-a", 0..10, 0)];
        let p = plan(&wanted(0..4), &groups, 60).unwrap();
        assert!(matches!(
            p.check_removals(0.5),
            Err(PlanError::RemovalGuard {
                removing: 6,
                managed: 10,
                ..
            })
        ));
        assert!(p.check_removals(0.6).is_ok());
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
                other: [60, 0],
                ..GroupState::new("sg-a")
            },
            GroupState::new("sg-b"),
        ];
        let p = plan(&w, &groups, 60).unwrap();
        assert_eq!(p.placements[0].authorize.len(), 1);
        assert_eq!(p.placements[0].authorize[0].0.family(), Family::V6);
        assert_eq!(p.placements[1].authorize[0].0.family(), Family::V4);
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
        let batches = p.placements[0].authorize_by_port();
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
                    let after = p.apply_to(&groups);
                    let mut all: Vec<Rule> = after.iter().flat_map(|g| g.managed.clone()).collect();
                    all.sort();
                    let expect: Vec<Rule> = w.rules.keys().copied().collect();
                    prop_assert_eq!(&all, &expect);
                    for (before, after) in groups.iter().zip(&after) {
                        // Peak occupancy (after authorize, before revoke) stays within quota
                        // unless the group was already over it and got nothing new.
                        let added = p.placements.iter().find(|x| x.group_id == before.id).unwrap().authorize.len();
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
                    prop_assert_eq!(p.added() + p.removed(), diff + dupes);
                    prop_assert_eq!(p.unchanged + p.added(), w.len());
                }
                Err(PlanError::CapacityExceeded { needed, free, .. }) => prop_assert!(needed > free),
                Err(e) => prop_assert!(false, "unexpected {e}"),
            }
        }
    }
}
