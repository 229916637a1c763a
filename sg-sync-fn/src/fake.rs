//! An in-memory EC2 that enforces what moto does not: the per-family rule quota, and atomic
//! duplicate/not-found failures. Each call is atomic, as EC2's are: it checks everything first
//! and changes nothing when it fails.

use std::collections::BTreeMap;
use std::sync::Mutex;

use ipnet::IpNet;
use reqwest::Url;

use crate::error::{Ec2Error, Ec2Reply};
use crate::fence::{ForeignRule, Source};
use crate::publication::{FetchError, FetchRanges, SyncToken};
use crate::reconcile::security_groups::RuleCall;
use crate::reconcile::{GroupState, SecurityGroupApi};
use crate::report::Action;
use crate::rules::{Family, Rule, rule};

#[derive(Default, Clone, Debug)]
pub(crate) struct FakeGroup {
    pub rules: Vec<(Rule, String)>,
    pub tag: Option<SyncToken>,
}

#[derive(Default)]
pub(crate) struct World {
    pub groups: BTreeMap<String, FakeGroup>,
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

    /// Plays a run that overlaps ours: just before our first `authorize sg-a`, `rules` appear in
    /// `group` (once), as if the other run had written them a moment earlier.
    pub(crate) fn other_run_adds(&self, group: &'static str, rules: Vec<(Rule, String)>) {
        let mut pending = Some(rules);
        *self.hook.lock().unwrap() = Some(Box::new(move |w, call| {
            if call.starts_with("authorize sg-a")
                && let Some(rules) = pending.take()
            {
                w.groups.get_mut(group).unwrap().rules.extend(rules);
            }
        }));
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
                for (i, (r, d)) in g.rules.iter().enumerate() {
                    if rule::is_managed(Some(d)) {
                        s.managed.push(*r);
                    } else {
                        s.other[r.family()] += 1;
                        s.foreign.push(ForeignRule {
                            group_id: id.clone(),
                            rule_id: Some(format!("sgr-{i}")),
                            protocol: r.port.protocol.as_str().to_owned(),
                            from_port: Some(r.port.from.into()),
                            to_port: Some(r.port.to.into()),
                            source: Source::Cidr(r.net),
                        });
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
