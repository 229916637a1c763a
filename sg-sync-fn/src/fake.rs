//! An in-memory EC2 that enforces what moto does not: the per-family rule quota, atomic
//! duplicate/not-found failures, and prefix-list versions, max entries and the 100-entry limit.
//! Each call is atomic, as EC2's are: it checks everything first and changes nothing when it
//! fails.

use std::collections::BTreeMap;
use std::sync::Mutex;

use ipnet::IpNet;
use reqwest::Url;

use crate::error::{Ec2Error, Ec2Reply};
use crate::publication::{FetchError, FetchRanges, SyncToken};
use crate::reconcile::prefix_list::{EntryBatch, ListCall, ListChange, MAX_ENTRIES_PER_CALL};
use crate::reconcile::security_groups::RuleCall;
use crate::reconcile::{GroupState, PrefixListApi, PrefixListState, SecurityGroupApi};
use crate::report::Action;
use crate::rules::{Family, Rule, rule};

#[derive(Default, Clone, Debug)]
pub(crate) struct FakeGroup {
    pub rules: Vec<(Rule, String)>,
    pub tag: Option<SyncToken>,
}

#[derive(Clone, Debug)]
pub(crate) struct FakeList {
    pub family: Family,
    pub version: i64,
    pub max_entries: usize,
    pub entries: Vec<(IpNet, String)>,
    pub tag: Option<SyncToken>,
}

#[derive(Default)]
pub(crate) struct World {
    pub groups: BTreeMap<String, FakeGroup>,
    pub lists: BTreeMap<String, FakeList>,
    /// Every call, in order: `describe`, `authorize sg-x tcp/3306 n`, ...
    pub calls: Vec<String>,
}

type Hook = Box<dyn FnMut(&mut World, &str) + Send>;

pub(crate) struct FakeEc2 {
    pub world: Mutex<World>,
    pub quota: usize,
    /// Runs before each mutating call: how a test plays an overlapping run.
    pub hook: Mutex<Option<Hook>>,
    /// How many calls from now on answer `UnauthorizedOperation`: a role whose new policy is
    /// not in effect yet.
    pub unauthorized: Mutex<usize>,
}

impl FakeEc2 {
    pub(crate) fn new(quota: usize, groups: &[&str]) -> Self {
        let mut world = World::default();
        for g in groups {
            world.groups.insert(g.to_string(), FakeGroup::default());
        }
        FakeEc2 {
            world: Mutex::new(world),
            quota,
            hook: Mutex::new(None),
            unauthorized: Mutex::new(0),
        }
    }

    pub(crate) fn mutations(&self) -> Vec<String> {
        self.world
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| !c.starts_with("describe"))
            .cloned()
            .collect()
    }

    pub(crate) fn managed(&self, group: &str) -> Vec<Rule> {
        let w = self.world.lock().unwrap();
        let mut v: Vec<Rule> = w.groups[group]
            .rules
            .iter()
            .filter(|(_, d)| rule::is_managed(Some(d)))
            .map(|(r, _)| *r)
            .collect();
        v.sort();
        v
    }

    /// Counts down [`FakeEc2::unauthorized`]: `Err` while it is above zero.
    fn authorized(&self, op: &'static str, resource: &str) -> Result<(), Ec2Error> {
        let mut left = self.unauthorized.lock().unwrap();
        if *left == 0 {
            return Ok(());
        }
        *left -= 1;
        Err(refused(
            op,
            resource,
            "UnauthorizedOperation",
            "You are not authorized to perform this operation.",
        ))
    }

    fn authorize(&self, call: &RuleCall<'_>) -> Result<(), Ec2Error> {
        let (group_id, port, rules) = (call.group_id, call.port, &call.rules);
        self.authorized("AuthorizeSecurityGroupIngress", group_id)?;
        let mut w = self.before(format!("authorize {group_id} {port} {}", rules.len()));
        let quota = self.quota;
        let g = w.groups.get_mut(group_id).ok_or_else(|| {
            refused(
                "AuthorizeSecurityGroupIngress",
                group_id,
                "InvalidGroup.NotFound",
                "no such group",
            )
        })?;
        for (net, _) in rules {
            if g.rules.iter().any(|(r, _)| r.port == port && r.net == *net) {
                return Err(refused(
                    "AuthorizeSecurityGroupIngress",
                    group_id,
                    "InvalidPermission.Duplicate",
                    &format!("the specified rule \"peer: {net}, {port}\" already exists"),
                ));
            }
        }
        for family in [Family::V4, Family::V6] {
            let have = g.rules.iter().filter(|(r, _)| r.family() == family).count();
            let new = rules
                .iter()
                .filter(|(n, _)| Family::of(n) == family)
                .count();
            if have + new > quota {
                return Err(refused(
                    "AuthorizeSecurityGroupIngress",
                    group_id,
                    "RulesPerSecurityGroupLimitExceeded",
                    "The maximum number of rules per security group has been reached.",
                ));
            }
        }
        g.rules.extend(
            rules
                .iter()
                .map(|(net, d)| (Rule { port, net: *net }, d.to_string())),
        );
        Ok(())
    }

    fn revoke(&self, call: &RuleCall<'_>) -> Result<(), Ec2Error> {
        let (group_id, port) = (call.group_id, call.port);
        let nets: Vec<IpNet> = call.rules.iter().map(|&(net, _)| net).collect();
        let mut w = self.before(format!("revoke {group_id} {port} {}", nets.len()));
        let g = w.groups.get_mut(group_id).ok_or_else(|| {
            refused(
                "RevokeSecurityGroupIngress",
                group_id,
                "InvalidGroup.NotFound",
                "no such group",
            )
        })?;
        for net in &nets {
            if !g.rules.iter().any(|(r, _)| r.port == port && r.net == *net) {
                return Err(refused(
                    "RevokeSecurityGroupIngress",
                    group_id,
                    "InvalidPermission.NotFound",
                    &format!("the specified rule \"peer: {net}, {port}\" does not exist"),
                ));
            }
        }
        g.rules
            .retain(|(r, _)| !(r.port == port && nets.contains(&r.net)));
        Ok(())
    }

    fn before(&self, call: String) -> std::sync::MutexGuard<'_, World> {
        let mut w = self.world.lock().unwrap();
        if let Some(h) = self.hook.lock().unwrap().as_mut() {
            h(&mut w, &call);
        }
        w.calls.push(call);
        w
    }
}

/// EC2's answer with `code`, through the classifier the SDK path uses.
fn refused(op: &'static str, resource: &str, code: &str, message: &str) -> Ec2Error {
    Ec2Error::from_reply(op, resource, Ec2Reply::new(code, message))
}

impl SecurityGroupApi for FakeEc2 {
    async fn describe_groups(&self, ids: &[String]) -> Result<Vec<GroupState>, Ec2Error> {
        self.authorized("DescribeSecurityGroups", &ids.join(","))?;
        let mut w = self.world.lock().unwrap();
        w.calls.push("describe groups".into());
        ids.iter()
            .map(|id| {
                let g = w.groups.get(id).ok_or_else(|| {
                    refused(
                        "DescribeSecurityGroups",
                        id,
                        "InvalidGroup.NotFound",
                        "no such group",
                    )
                })?;
                let mut s = GroupState::new(id.clone());
                s.sync_token = g.tag;
                for (r, d) in &g.rules {
                    if rule::is_managed(Some(d)) {
                        s.managed.push(*r);
                    } else {
                        s.other[r.family()] += 1;
                    }
                }
                Ok(s)
            })
            .collect()
    }

    async fn change_rules(&self, call: &RuleCall<'_>) -> Result<(), Ec2Error> {
        match call.action {
            Action::Authorize => self.authorize(call),
            _ => self.revoke(call),
        }
    }

    async fn tag_groups(&self, ids: &[String], token: SyncToken) -> Result<(), Ec2Error> {
        let mut w = self.before(format!("tag {} {token}", ids.join(",")));
        for id in ids {
            if let Some(g) = w.groups.get_mut(id) {
                g.tag = Some(token);
            }
        }
        Ok(())
    }
}

impl PrefixListApi for FakeEc2 {
    async fn tag_prefix_list(&self, id: &str, token: SyncToken) -> Result<(), Ec2Error> {
        let mut w = self.before(format!("tag {id} {token}"));
        if let Some(l) = w.lists.get_mut(id) {
            l.tag = Some(token);
        }
        Ok(())
    }

    async fn describe_prefix_list(&self, id: &str) -> Result<PrefixListState, Ec2Error> {
        let mut w = self.world.lock().unwrap();
        w.calls.push("describe list".into());
        let l = w.lists.get(id).ok_or_else(|| {
            refused(
                "DescribeManagedPrefixLists",
                id,
                "InvalidPrefixListID.NotFound",
                "no such list",
            )
        })?;
        let (managed, other): (Vec<_>, Vec<_>) = l
            .entries
            .iter()
            .partition(|(_, d)| rule::is_managed(Some(d)));
        Ok(PrefixListState {
            id: id.into(),
            family: l.family,
            version: l.version,
            max_entries: l.max_entries,
            managed: managed.into_iter().map(|(n, _)| *n).collect(),
            other: other.into_iter().map(|(n, _)| *n).collect(),
            sync_token: l.tag,
        })
    }

    async fn modify_prefix_list(&self, call: &ListCall<'_>) -> Result<i64, Ec2Error> {
        match call.change {
            ListChange::Resize(max_entries) => self.resize(call.id, call.version, max_entries),
            ListChange::Entries(batch) => self.modify_entries(call.id, call.version, batch),
        }
    }
}

impl FakeEc2 {
    fn resize(&self, id: &str, version: i64, max_entries: usize) -> Result<i64, Ec2Error> {
        let call = format!("resize {id} v{version} {max_entries}");
        self.modify_list(call, id, version, |l| {
            if max_entries < l.entries.len() {
                return Err((
                    "InvalidParameterValue",
                    "MaxEntries cannot be below the number of entries",
                ));
            }
            l.max_entries = max_entries;
            Ok(())
        })
    }

    fn modify_entries(&self, id: &str, version: i64, batch: &EntryBatch) -> Result<i64, Ec2Error> {
        let (add, remove) = (&batch.add, &batch.remove);
        let call = format!("modify {id} v{version} +{} -{}", add.len(), remove.len());
        self.modify_list(call, id, version, |l| {
            if add.len() + remove.len() > MAX_ENTRIES_PER_CALL {
                return Err((
                    "InvalidParameterValue",
                    "a request can add or remove at most 100 entries",
                ));
            }
            let held = |n: &IpNet| l.entries.iter().any(|(e, _)| e == n);
            if add.iter().any(|(n, _)| held(n)) || remove.iter().any(|n| !held(n)) {
                return Err((
                    "InvalidPrefixListModification",
                    "an added entry exists or a removed one does not",
                ));
            }
            let mut entries = l.entries.clone();
            entries.retain(|(n, _)| !remove.contains(n));
            entries.extend(add.iter().cloned());
            if entries.len() > l.max_entries {
                return Err((
                    "PrefixListMaxEntriesExceeded",
                    "the change exceeds the list's MaxEntries",
                ));
            }
            l.entries = entries;
            Ok(())
        })
    }

    /// One `ModifyManagedPrefixList` call on list `id`, atomic as EC2's: refused at another
    /// version than the list's; otherwise `change` checks everything before it changes
    /// anything (refusing with EC2's code and a message), and a change makes a new version.
    fn modify_list(
        &self,
        call: String,
        id: &str,
        version: i64,
        change: impl FnOnce(&mut FakeList) -> Result<(), (&'static str, &'static str)>,
    ) -> Result<i64, Ec2Error> {
        let mut w = self.before(call);
        let refuse = |code, message: &str| refused("ModifyManagedPrefixList", id, code, message);
        let l = w
            .lists
            .get_mut(id)
            .ok_or_else(|| refuse("InvalidPrefixListID.NotFound", "no such list"))?;
        if l.version != version {
            let current = l.version;
            let message = format!("current version is {current}, not {version}");
            return Err(refuse("PrefixListVersionMismatch", &message));
        }
        change(l).map_err(|(code, message)| refuse(code, message))?;
        l.version += 1;
        Ok(l.version)
    }
}

/// Serves canned bodies per URL, in order; the last one repeats.
#[derive(Default)]
pub(crate) struct FakeFetcher {
    pub bodies: Mutex<Vec<Vec<u8>>>,
    pub fetches: Mutex<usize>,
}

impl FakeFetcher {
    pub(crate) fn serving(bodies: Vec<Vec<u8>>) -> Self {
        FakeFetcher {
            bodies: Mutex::new(bodies),
            fetches: Mutex::new(0),
        }
    }
}

impl FetchRanges for FakeFetcher {
    async fn fetch(&self, _url: &Url) -> Result<Vec<u8>, FetchError> {
        let mut n = self.fetches.lock().unwrap();
        let bodies = self.bodies.lock().unwrap();
        let body = bodies
            .get(*n)
            .or(bodies.last())
            .cloned()
            .unwrap_or_default();
        *n += 1;
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(max_entries: usize, entries: &[&str]) -> FakeList {
        FakeList {
            family: Family::V4,
            version: 7,
            max_entries,
            entries: entries
                .iter()
                .map(|n| (n.parse().unwrap(), "sg-sync-fn".to_owned()))
                .collect(),
            tag: None,
        }
    }

    fn entry(net: &str) -> (IpNet, String) {
        (net.parse().unwrap(), "sg-sync-fn".to_owned())
    }

    // Adding or removing entries creates a new version; a refused request creates none and
    // leaves the entries as they were.
    // https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyManagedPrefixList.html
    #[tokio::test]
    async fn a_modify_beyond_max_entries_changes_nothing() {
        let ec2 = FakeEc2::new(60, &[]);
        let before = list(2, &["192.0.2.0/24", "198.51.100.0/24"]);
        ec2.world
            .lock()
            .unwrap()
            .lists
            .insert("pl-1".into(), before.clone());
        let batch = EntryBatch {
            add: vec![entry("203.0.113.0/24"), entry("203.0.113.128/25")],
            remove: vec!["192.0.2.0/24".parse().unwrap()],
        };
        let refused = ec2.modify_entries("pl-1", 7, &batch);
        assert!(
            format!("{refused:?}").contains("PrefixListMaxEntriesExceeded"),
            "{refused:?}"
        );
        let after = ec2.world.lock().unwrap().lists["pl-1"].clone();
        assert_eq!(
            (after.version, &after.entries),
            (before.version, &before.entries)
        );
        // The same batch within MaxEntries applies whole, as one new version.
        let fits = EntryBatch {
            add: vec![entry("203.0.113.0/24")],
            remove: vec!["192.0.2.0/24".parse().unwrap()],
        };
        assert_eq!(ec2.modify_entries("pl-1", 7, &fits).unwrap(), 8);
        let after = ec2.world.lock().unwrap().lists["pl-1"].clone();
        assert_eq!(
            after.entries,
            [entry("198.51.100.0/24"), entry("203.0.113.0/24")]
        );
    }
}
