//! One sync run: read the target, fetch and verify the publication, plan, guard, apply
//! (authorize before revoke), record the token. I/O goes through [`Ec2`] and [`FetchRanges`].

use std::time::Duration;

use serde::Serialize;

use crate::ec2::{Ec2, Ec2Error, IAM_SETTLE};
use crate::fetch::{FetchError, FetchRanges, md5_hex};
use crate::ip_ranges::{IpRanges, IpRangesError};
use crate::notification::{Notification, SyncToken};
use crate::plan::{self, GroupReport, GroupState, Plan, PlanError, Wanted};
use crate::prefix_list::{PrefixListPlan, PrefixListState, plan_prefix_list};
use crate::range_set::RangeSet;
use crate::rule::Family;
use crate::settings::{Settings, Target};

/// Conflicting runs converge within a few re-reads; more means something else is wrong.
const MAX_ATTEMPTS: usize = 4;

/// What started the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// An `AmazonIpSpaceChanged` notification: verified against its md5, skipped when stale.
    Notification(Notification),
    /// The backstop schedule: fetch and apply; nothing to verify against.
    Scheduled,
    /// A direct invoke or the CLI.
    Direct { dry_run: bool },
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(
        "ChecksumMismatch: {url} has md5 {actual} twice, the notification for sync token {notified} says {expected}, \
         and the file's own syncToken {file_token} is not newer; nothing was changed"
    )]
    ChecksumMismatch {
        url: String,
        expected: String,
        actual: String,
        notified: SyncToken,
        file_token: String,
    },
    #[error(transparent)]
    IpRanges(#[from] IpRangesError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Ec2(#[from] Ec2Error),
    #[error(
        "{source}; still refused after retrying for {waited_s} s: IAM changes can take that long to \
         take effect, so check that the function's role allows this call on these resources"
    )]
    IamNotSettled { source: Ec2Error, waited_s: u64 },
    #[error("gave up after {MAX_ATTEMPTS} attempts: other runs kept changing the same rules ({0})")]
    Unconverged(String),
}

impl SyncError {
    /// The error's name as the Lambda reports it in `errorType`.
    pub fn kind(&self) -> &'static str {
        match self {
            SyncError::Fetch(_) => "FetchFailed",
            SyncError::ChecksumMismatch { .. } => "ChecksumMismatch",
            SyncError::IpRanges(_) => "InvalidIpRanges",
            SyncError::Plan(PlanError::EmptyWantedSet(_)) => "EmptyWantedSet",
            SyncError::Plan(PlanError::TooBroad { .. }) => "PrefixTooBroad",
            SyncError::Plan(PlanError::CapacityExceeded { .. }) => "CapacityExceeded",
            SyncError::Plan(PlanError::RemovalGuard { .. }) => "RemovalGuard",
            SyncError::Ec2(_) | SyncError::IamNotSettled { .. } => "Ec2Failed",
            SyncError::Unconverged(_) => "Unconverged",
        }
    }
}

/// One rule change, for people and machines reading a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub target: String,
    pub action: &'static str,
    pub rule: String,
}

/// The outcome of a run; also logged as one JSON line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncReport {
    pub sync_token: Option<SyncToken>,
    pub create_date: Option<String>,
    pub wanted: usize,
    pub added: usize,
    pub removed: usize,
    pub unchanged: usize,
    pub skipped: bool,
    pub dry_run: bool,
    pub groups: Vec<GroupReport>,
    /// Why a run was skipped, or which guard a dry run would have hit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The changes planned (a dry run) or made.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
}

impl SyncReport {
    fn skipped(
        applied: Option<SyncToken>,
        groups: Vec<GroupReport>,
        dry_run: bool,
        reason: String,
    ) -> Self {
        SyncReport {
            sync_token: applied,
            create_date: None,
            wanted: 0,
            added: 0,
            removed: 0,
            unchanged: 0,
            skipped: true,
            dry_run,
            groups,
            reason: Some(reason),
            changes: Vec::new(),
        }
    }
}

/// The verified publication, reduced to what the plan needs.
struct Publication {
    sync_token: SyncToken,
    create_date: String,
    wanted: Wanted,
}

/// Computes the md5 and parses at once: the two dominate a run's CPU time and are independent.
pub fn digest_and_parse(
    bytes: &[u8],
    digest: bool,
) -> (Option<String>, Result<IpRanges<'_>, IpRangesError>) {
    if !digest {
        return (None, IpRanges::parse(bytes));
    }
    std::thread::scope(|s| {
        let md5 = s.spawn(|| md5_hex(bytes));
        let doc = IpRanges::parse(bytes);
        (md5.join().ok(), doc)
    })
}

/// Runs syncs with clients built once.
pub struct Syncer<E, F> {
    pub settings: Settings,
    ec2: E,
    fetcher: F,
}

impl<E: Ec2, F: FetchRanges> Syncer<E, F> {
    pub fn new(settings: Settings, ec2: E, fetcher: F) -> Self {
        Syncer {
            settings,
            ec2,
            fetcher,
        }
    }

    pub fn ec2(&self) -> &E {
        &self.ec2
    }

    /// Fetches, verifies against the notification (if any), parses and selects.
    async fn publication(&self, trigger: &Trigger) -> Result<Publication, SyncError> {
        let url = &self.settings.ip_ranges_url;
        let notification = match trigger {
            Trigger::Notification(n) => Some(n),
            _ => None,
        };
        let first = self.fetcher.fetch(url).await?;
        let (mut md5, mut doc) = digest_and_parse(&first, notification.is_some());
        let second;
        if let Some(n) = notification
            && md5.as_deref() != Some(n.md5.as_str())
        {
            // The CDN may still serve the previous file for a moment.
            tracing::warn!(url = %url, expected = %n.md5, actual = ?md5, "md5 mismatch, fetching once more");
            second = self.fetcher.fetch(url).await?;
            (md5, doc) = digest_and_parse(&second, true);
        }
        if let Some(n) = notification.filter(|n| md5.as_deref() != Some(n.md5.as_str())) {
            let file_token = doc.as_ref().map(|d| d.sync_token);
            if !file_token.as_ref().is_ok_and(|t| *t > n.sync_token) {
                return Err(SyncError::ChecksumMismatch {
                    url: url.to_string(),
                    expected: n.md5.clone(),
                    actual: md5.unwrap_or_default(),
                    notified: n.sync_token,
                    file_token: file_token
                        .map(|t| t.to_string())
                        .unwrap_or_else(|e| format!("unreadable ({e})")),
                });
            }
            tracing::info!(notified = %n.sync_token, file = ?file_token.ok(), "a newer file supersedes the notification");
        }
        let doc = doc?;
        let set = RangeSet::select(&doc, &self.settings.selector);
        let wanted = Wanted::new(&set, &self.settings.ports, &self.settings.filter())?;
        tracing::info!(sync_token = %doc.sync_token, matched = set.matched, aggregated = set.len(), "publication selected");
        Ok(Publication {
            sync_token: doc.sync_token,
            create_date: doc.create_date,
            wanted,
        })
    }

    fn dry_run(&self, trigger: &Trigger) -> bool {
        self.settings.dry_run || matches!(trigger, Trigger::Direct { dry_run: true })
    }

    fn families(&self) -> Vec<Family> {
        if self.settings.selector.ipv6 {
            vec![Family::V4, Family::V6]
        } else {
            vec![Family::V4]
        }
    }

    pub async fn run(&self, trigger: Trigger) -> Result<SyncReport, SyncError> {
        let report = self.run_once_authorized(&trigger).await?;
        tracing::info!(
            sync_token = ?report.sync_token.map(|t| t.0),
            create_date = report.create_date.as_deref(),
            wanted = report.wanted,
            added = report.added,
            removed = report.removed,
            unchanged = report.unchanged,
            skipped = report.skipped,
            dry_run = report.dry_run,
            groups = %serde_json::to_string(&report.groups).unwrap_or_default(),
            reason = report.reason.as_deref(),
            "sync finished"
        );
        Ok(report)
    }

    /// One sync, started over while EC2 answers `UnauthorizedOperation`, for up to
    /// [`IAM_SETTLE`]: right after a deploy the role's new policy may not be in effect yet.
    /// Starting over is safe: every step reads the current state first.
    /// https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
    async fn run_once_authorized(&self, trigger: &Trigger) -> Result<SyncReport, SyncError> {
        let started = tokio::time::Instant::now();
        let mut backoff = Duration::from_secs(1);
        loop {
            let result = match &self.settings.target {
                Target::SecurityGroups(ids) => self.sync_groups(ids, trigger).await,
                Target::PrefixList(id) => self.sync_prefix_list(id, trigger).await,
            };
            let Err(SyncError::Ec2(e @ Ec2Error::Unauthorized { .. })) = result else {
                return result;
            };
            let waited = started.elapsed();
            if waited + backoff > IAM_SETTLE {
                return Err(SyncError::IamNotSettled {
                    source: e,
                    waited_s: waited.as_secs(),
                });
            }
            tracing::warn!(error = %e, waited_ms = waited.as_millis() as u64, "not authorized yet; IAM may still be settling, retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(8));
        }
    }

    async fn sync_groups(
        &self,
        ids: &[String],
        trigger: &Trigger,
    ) -> Result<SyncReport, SyncError> {
        let dry_run = self.dry_run(trigger);
        let quota = self.settings.rules_per_group;
        let families = self.families();
        let mut groups = self.ec2.describe_groups(ids).await?;
        let applied = applied_token(groups.iter().map(|g| g.sync_token));
        let idle = |g: &[GroupState]| plan::reports(g, quota, &families);
        if let Trigger::Notification(n) = trigger
            && let Some(reason) = stale_notification(applied, n.sync_token)
        {
            return Ok(SyncReport::skipped(applied, idle(&groups), dry_run, reason));
        }
        let publication = self.publication(trigger).await?;
        if let Some(reason) = stale_file(applied, publication.sync_token) {
            return Ok(SyncReport::skipped(applied, idle(&groups), dry_run, reason));
        }
        let (mut added, mut removed, mut changes) = (0, 0, Vec::new());
        let mut attempt = 0;
        // Plan, apply, re-read until the groups hold exactly the wanted rules: the re-read
        // catches an overlapping run's writes (say, the same rule in another group).
        let final_plan = loop {
            let plan = plan::plan(&publication.wanted, &groups, quota)?;
            let guard = plan.check_removals(self.settings.max_removal_ratio);
            if dry_run {
                let mut report = self.report(
                    &publication,
                    &plan,
                    &groups,
                    plan.added(),
                    plan.removed(),
                    true,
                );
                report.reason = guard.err().map(|e| e.to_string());
                report.changes = describe_changes(&plan);
                return Ok(report);
            }
            if plan.is_empty() {
                break plan;
            }
            guard?;
            attempt += 1;
            if attempt > MAX_ATTEMPTS {
                return Err(SyncError::Unconverged(format!(
                    "{} changes still planned",
                    plan.added() + plan.removed()
                )));
            }
            match self
                .apply(&plan, &mut added, &mut removed, &mut changes)
                .await
            {
                Ok(()) => {}
                Err(e @ Ec2Error::Conflict { .. }) => {
                    tracing::warn!(error = %e, attempt, "conflict with another run; re-reading")
                }
                Err(e) => return Err(e.into()),
            }
            groups = self.ec2.describe_groups(ids).await?;
        };
        if applied != Some(publication.sync_token) {
            self.ec2.tag_sync_token(ids, publication.sync_token).await?;
        }
        let mut report = self.report(&publication, &final_plan, &groups, added, removed, false);
        report.changes = changes;
        Ok(report)
    }

    /// Every authorize, then every revoke: a wanted address is never missing mid-sync.
    async fn apply(
        &self,
        plan: &Plan,
        added: &mut usize,
        removed: &mut usize,
        changes: &mut Vec<Change>,
    ) -> Result<(), Ec2Error> {
        for p in &plan.placements {
            for (port, rules) in p.authorize_by_port() {
                self.ec2.authorize(&p.group_id, port, &rules).await?;
                *added += rules.len();
                changes.extend(rules.iter().map(|(net, _)| Change {
                    target: p.group_id.clone(),
                    action: "authorize",
                    rule: format!("{port} {net}"),
                }));
            }
        }
        for p in &plan.placements {
            for (port, nets) in p.revoke_by_port() {
                self.ec2.revoke(&p.group_id, port, &nets).await?;
                *removed += nets.len();
                changes.extend(nets.iter().map(|net| Change {
                    target: p.group_id.clone(),
                    action: "revoke",
                    rule: format!("{port} {net}"),
                }));
            }
        }
        Ok(())
    }

    fn report(
        &self,
        publication: &Publication,
        plan: &Plan,
        groups: &[GroupState],
        added: usize,
        removed: usize,
        dry_run: bool,
    ) -> SyncReport {
        SyncReport {
            sync_token: Some(publication.sync_token),
            create_date: Some(publication.create_date.clone()),
            wanted: publication.wanted.len(),
            added,
            removed,
            // Wanted rules this run did not have to create (some another run may have).
            unchanged: publication.wanted.len().saturating_sub(added),
            skipped: false,
            dry_run,
            groups: plan.report(groups, self.settings.rules_per_group, &self.families()),
            reason: None,
            changes: Vec::new(),
        }
    }

    async fn sync_prefix_list(&self, id: &str, trigger: &Trigger) -> Result<SyncReport, SyncError> {
        let dry_run = self.dry_run(trigger);
        let mut state = self.ec2.describe_prefix_list(id).await?;
        let applied = state.sync_token;
        let idle = |s: &PrefixListState| GroupReport {
            id: s.id.clone(),
            managed: s.managed.len(),
            other: s.other.len(),
            free: s
                .max_entries
                .saturating_sub(s.managed.len() + s.other.len()),
        };
        if let Trigger::Notification(n) = trigger
            && let Some(reason) = stale_notification(applied, n.sync_token)
        {
            return Ok(SyncReport::skipped(
                applied,
                vec![idle(&state)],
                dry_run,
                reason,
            ));
        }
        let publication = self.publication(trigger).await?;
        if let Some(reason) = stale_file(applied, publication.sync_token) {
            return Ok(SyncReport::skipped(
                applied,
                vec![idle(&state)],
                dry_run,
                reason,
            ));
        }
        let (mut added, mut removed, mut changes) = (0, 0, Vec::new());
        let mut attempt = 0;
        let final_report = loop {
            let plan = plan_prefix_list(&publication.wanted, &state)?;
            let guard = plan.check_removals(self.settings.max_removal_ratio);
            let report = |added, removed, dry_run| SyncReport {
                sync_token: Some(publication.sync_token),
                create_date: Some(publication.create_date.clone()),
                wanted: plan.wanted,
                added,
                removed,
                unchanged: plan.wanted.saturating_sub(added),
                skipped: false,
                dry_run,
                groups: vec![plan.report(&state)],
                reason: None,
                changes: Vec::new(),
            };
            if dry_run {
                let mut r = report(plan.added(), plan.removed(), true);
                r.reason = guard.err().map(|e| e.to_string());
                r.changes = describe_list_changes(&plan);
                return Ok(r);
            }
            if plan.is_empty() {
                let mut r = report(added, removed, false);
                r.changes = std::mem::take(&mut changes);
                break r;
            }
            guard?;
            attempt += 1;
            if attempt > MAX_ATTEMPTS {
                return Err(SyncError::Unconverged(format!(
                    "{} entry changes still planned",
                    plan.added() + plan.removed()
                )));
            }
            match self
                .apply_prefix_list(&plan, &state, &mut added, &mut removed, &mut changes)
                .await
            {
                Ok(()) => {}
                Err(e @ Ec2Error::Conflict { .. }) => {
                    tracing::warn!(error = %e, attempt, "conflict with another run; re-reading")
                }
                Err(e) => return Err(e.into()),
            }
            state = self.ec2.describe_prefix_list(id).await?;
        };
        if applied != Some(publication.sync_token) {
            self.ec2
                .tag_sync_token(&[id.to_owned()], publication.sync_token)
                .await?;
        }
        Ok(final_report)
    }

    async fn apply_prefix_list(
        &self,
        plan: &PrefixListPlan,
        state: &PrefixListState,
        added: &mut usize,
        removed: &mut usize,
        changes: &mut Vec<Change>,
    ) -> Result<(), Ec2Error> {
        let mut version = state.version;
        if let Some(max) = plan.resize_to {
            version = self.ec2.resize_prefix_list(&plan.id, version, max).await?;
        }
        for batch in &plan.batches {
            version = self
                .ec2
                .modify_prefix_list(&plan.id, version, batch)
                .await?;
            *added += batch.add.len();
            *removed += batch.remove.len();
            changes.extend(batch_changes(&plan.id, batch));
        }
        Ok(())
    }
}

/// Why a notification that is not newer than what the target holds changes nothing.
fn stale_notification(applied: Option<SyncToken>, notified: SyncToken) -> Option<String> {
    applied
        .filter(|a| notified <= *a)
        .map(|a| format!("notification sync token {notified} is not newer than the applied {a}"))
}

/// Why a file older than what the target holds changes nothing (CDN lag, a late retry). The
/// same file again is applied: that is how a scheduled run repairs drift.
fn stale_file(applied: Option<SyncToken>, file: SyncToken) -> Option<String> {
    applied
        .filter(|a| file < *a)
        .map(|a| format!("file sync token {file} is older than the applied {a}"))
}

/// The token every target holds: the oldest one, or none if any target has none.
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

fn describe_changes(plan: &Plan) -> Vec<Change> {
    let mut changes = Vec::new();
    for p in &plan.placements {
        changes.extend(p.authorize.iter().map(|(r, _)| Change {
            target: p.group_id.clone(),
            action: "authorize",
            rule: r.to_string(),
        }));
        changes.extend(p.revoke.iter().map(|r| Change {
            target: p.group_id.clone(),
            action: "revoke",
            rule: r.to_string(),
        }));
    }
    changes
}

fn batch_changes<'a>(
    id: &'a str,
    batch: &'a crate::prefix_list::EntryBatch,
) -> impl Iterator<Item = Change> + 'a {
    let adds = batch.add.iter().map(move |(n, _)| Change {
        target: id.to_owned(),
        action: "add",
        rule: n.to_string(),
    });
    let removes = batch.remove.iter().map(move |n| Change {
        target: id.to_owned(),
        action: "remove",
        rule: n.to_string(),
    });
    adds.chain(removes)
}

fn describe_list_changes(plan: &PrefixListPlan) -> Vec<Change> {
    plan.batches
        .iter()
        .flat_map(|b| batch_changes(&plan.id, b))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeEc2, FakeFetcher, FakeList};
    use crate::ip_ranges::tests::document;
    use crate::rule::{Rule, description};
    use ipnet::IpNet;
    use std::collections::HashMap;

    const REGION: &str = "ap-northeast-1";

    fn cidr(i: u32) -> String {
        // Every other /24, so that nothing aggregates.
        std::net::Ipv4Addr::from(0x0a00_0000 + ((2 * i) << 8)).to_string() + "/24"
    }

    fn doc(token: u64, ids: impl IntoIterator<Item = u32>) -> Vec<u8> {
        let cidrs: Vec<String> = ids.into_iter().map(cidr).collect();
        let v4: Vec<(&str, &str, &str, &str)> = cidrs
            .iter()
            .map(|c| (c.as_str(), REGION, "EC2", REGION))
            .collect();
        document(token, &v4, &[]).into_bytes()
    }

    fn notification(token: u64, body: &[u8]) -> Trigger {
        Trigger::Notification(Notification {
            create_time: "2026-08-22T15:17:05+00:00".into(),
            sync_token: SyncToken(token),
            md5: md5_hex(body),
            url: None,
        })
    }

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let mut map: HashMap<String, String> = [
            ("SECURITY_GROUP_IDS", "sg-a,sg-b,sg-c"),
            ("AWS_REGION", REGION),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        map.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Settings::from_lookup(|k| map.get(k).cloned()).unwrap()
    }

    fn syncer(vars: &[(&str, &str)], bodies: Vec<Vec<u8>>) -> Syncer<FakeEc2, FakeFetcher> {
        Syncer::new(
            settings(vars),
            FakeEc2::new(60, &["sg-a", "sg-b", "sg-c"]),
            FakeFetcher::serving(bodies),
        )
    }

    fn mysql(i: u32) -> Rule {
        Rule {
            port: crate::port::PortRange::tcp(3306),
            net: cidr(i).parse().unwrap(),
        }
    }

    #[tokio::test]
    async fn shards_past_the_quota_and_then_holds_still() {
        let body = doc(100, 0..70);
        let s = syncer(&[], vec![body.clone()]);
        s.ec2()
            .world
            .lock()
            .unwrap()
            .groups
            .get_mut("sg-a")
            .unwrap()
            .rules
            .push((mysql(500), "office".into()));
        let r = s.run(notification(100, &body)).await.unwrap();
        assert_eq!((r.wanted, r.added, r.removed, r.unchanged), (70, 70, 0, 0));
        assert_eq!(s.ec2().managed("sg-a").len(), 59);
        assert_eq!(s.ec2().managed("sg-b").len(), 11);
        assert_eq!(r.groups[0].free, 0);
        assert_eq!(r.groups[1].free, 49);
        // One authorize per group and port, then the tag.
        assert_eq!(
            s.ec2().mutations(),
            [
                "authorize sg-a tcp/3306 59",
                "authorize sg-b tcp/3306 11",
                "tag sg-a,sg-b,sg-c 100"
            ]
        );

        // A scheduled run with the same file makes no mutating call.
        let before = s.ec2().mutations().len();
        let r = s.run(Trigger::Scheduled).await.unwrap();
        assert_eq!(
            (r.added, r.removed, r.unchanged, r.skipped),
            (0, 0, 70, false)
        );
        assert_eq!(s.ec2().mutations().len(), before);
        // The unmanaged rule is still there.
        assert!(
            s.ec2().world.lock().unwrap().groups["sg-a"]
                .rules
                .iter()
                .any(|(_, d)| d == "office")
        );
    }

    // IAM is eventually consistent: a policy the deploy just attached may not be in effect for
    // a while, and EC2 answers UnauthorizedOperation meanwhile.
    // https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
    #[tokio::test(start_paused = true)]
    async fn iam_eventual_consistency_unauthorized_is_retried_for_up_to_60_s() {
        let body = doc(100, 0..5);
        let s = syncer(&[], vec![body.clone()]);
        // Describe refused twice, then authorize refused once: the run starts over and succeeds.
        *s.ec2().unauthorized.lock().unwrap() = 3;
        let started = tokio::time::Instant::now();
        let r = s.run(Trigger::Scheduled).await.unwrap();
        assert_eq!(r.added, 5);
        assert!(started.elapsed() >= Duration::from_secs(1 + 2 + 4));
        assert!(started.elapsed() < IAM_SETTLE);

        // Never authorized: fails after about a minute, saying why.
        let s = syncer(&[], vec![body]);
        *s.ec2().unauthorized.lock().unwrap() = usize::MAX;
        let started = tokio::time::Instant::now();
        let e = s.run(Trigger::Scheduled).await.unwrap_err();
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(45) && waited <= IAM_SETTLE,
            "{waited:?}"
        );
        assert_eq!(e.kind(), "Ec2Failed");
        let message = e.to_string();
        assert!(message.contains("UnauthorizedOperation"), "{message}");
        assert!(
            message.contains("IAM changes can take that long"),
            "{message}"
        );
        assert!(s.ec2().mutations().is_empty());
    }

    #[tokio::test]
    async fn a_stale_notification_is_skipped_without_fetching() {
        let body = doc(100, 0..5);
        let s = syncer(&[], vec![body.clone()]);
        s.run(notification(100, &body)).await.unwrap();
        let fetched = *s.fetcher.fetches.lock().unwrap();
        for token in [99, 100] {
            let r = s.run(notification(token, &body)).await.unwrap();
            assert!(r.skipped, "{token}");
            assert!(r.reason.unwrap().contains("not newer"));
        }
        assert_eq!(*s.fetcher.fetches.lock().unwrap(), fetched);
    }

    #[tokio::test]
    async fn md5_mismatch_refetches_then_fails_unless_the_file_is_newer() {
        let good = doc(100, 0..5);
        let wrong = doc(99, 0..4);
        // Stale CDN copy first, then the right file: succeeds after one more fetch.
        let s = syncer(&[], vec![wrong.clone(), good.clone()]);
        let r = s.run(notification(100, &good)).await.unwrap();
        assert_eq!(r.added, 5);
        assert_eq!(*s.fetcher.fetches.lock().unwrap(), 2);
        // Wrong twice and not newer: ChecksumMismatch, nothing changed.
        let s = syncer(&[], vec![wrong.clone()]);
        let e = s.run(notification(100, &good)).await.unwrap_err();
        assert_eq!(e.kind(), "ChecksumMismatch");
        assert!(s.ec2().mutations().is_empty());
        // A newer file supersedes the notification.
        let newer = doc(101, 0..6);
        let s = syncer(&[], vec![newer]);
        let r = s.run(notification(100, &good)).await.unwrap();
        assert_eq!((r.sync_token, r.added), (Some(SyncToken(101)), 6));
    }

    #[tokio::test]
    async fn guards_change_nothing() {
        // Empty set (no prefix in the region).
        let s = syncer(&[("REGIONS", "eu-west-3")], vec![doc(1, 0..5)]);
        assert_eq!(
            s.run(Trigger::Scheduled).await.unwrap_err().kind(),
            "EmptyWantedSet"
        );
        // Capacity: 3 groups of 60 hold 180.
        let s = syncer(&[], vec![doc(1, 0..181)]);
        let e = s.run(Trigger::Scheduled).await.unwrap_err();
        assert_eq!(e.kind(), "CapacityExceeded");
        assert!(e.to_string().contains("1 more group"), "{e}");
        assert!(s.ec2().mutations().is_empty());
        // A malformed document.
        let s = syncer(&[], vec![b"{\"syncToken\": \"1\"".to_vec()]);
        assert_eq!(
            s.run(Trigger::Scheduled).await.unwrap_err().kind(),
            "InvalidIpRanges"
        );
        assert!(s.ec2().mutations().is_empty());
        // Removing 6 of 10 is over 0.5; a dry run reports the plan and the guard.
        let s = syncer(&[], vec![doc(1, 0..10), doc(2, 0..4)]);
        s.run(Trigger::Scheduled).await.unwrap();
        let before = s.ec2().mutations().len();
        assert_eq!(
            s.run(Trigger::Scheduled).await.unwrap_err().kind(),
            "RemovalGuard"
        );
        let r = s.run(Trigger::Direct { dry_run: true }).await.unwrap();
        assert_eq!((r.removed, r.dry_run), (6, true));
        assert!(r.reason.unwrap().contains("MAX_REMOVAL_RATIO"));
        assert_eq!(r.changes.len(), 6);
        assert_eq!(s.ec2().mutations().len(), before);
    }

    #[tokio::test]
    async fn authorizes_everything_before_revoking_anything() {
        let s = syncer(
            &[("PORTS", "tcp/3306,tcp/33060")],
            vec![doc(1, 0..10), doc(2, 3..13)],
        );
        s.run(Trigger::Scheduled).await.unwrap();
        let before = s.ec2().mutations().len();
        let r = s.run(Trigger::Scheduled).await.unwrap();
        assert_eq!((r.added, r.removed, r.unchanged), (6, 6, 14));
        let calls = &s.ec2().mutations()[before..];
        assert_eq!(
            calls,
            [
                "authorize sg-a tcp/3306 3",
                "authorize sg-a tcp/33060 3",
                "revoke sg-a tcp/3306 3",
                "revoke sg-a tcp/33060 3",
                "tag sg-a,sg-b,sg-c 2"
            ]
        );
    }

    #[tokio::test]
    async fn overlapping_runs_converge() {
        let body = doc(7, 0..10);
        let s = syncer(&[], vec![body.clone()]);
        // Another run authorizes two of the same rules, in another group, just before ours.
        *s.ec2().hook.lock().unwrap() = Some(Box::new(|w, call| {
            if call.starts_with("authorize sg-a") && w.groups["sg-b"].rules.is_empty() {
                let g = w.groups.get_mut("sg-b").unwrap();
                g.rules.push((mysql(0), description("EC2/ap-northeast-1")));
                g.rules.push((mysql(1), description("EC2/ap-northeast-1")));
            }
        }));
        let r = s.run(notification(7, &body)).await.unwrap();
        let all: Vec<Rule> = ["sg-a", "sg-b", "sg-c"]
            .iter()
            .flat_map(|g| s.ec2().managed(g))
            .collect();
        assert_eq!(all.len(), 10, "each rule exactly once");
        // The re-read after our writes found the other run's copies in sg-b and revoked them.
        assert_eq!((r.added, r.removed), (10, 2));
        assert!(s.ec2().managed("sg-b").is_empty());

        // This time the other run writes into the same group first: our authorize fails with
        // InvalidPermission.Duplicate, we re-read and add only the rest.
        let s = syncer(&[], vec![body.clone()]);
        *s.ec2().hook.lock().unwrap() = Some(Box::new(|w, call| {
            if call.starts_with("authorize sg-a") && w.groups["sg-a"].rules.is_empty() {
                let g = w.groups.get_mut("sg-a").unwrap();
                g.rules.push((mysql(3), description("EC2/ap-northeast-1")));
            }
        }));
        let r = s.run(notification(7, &body)).await.unwrap();
        assert_eq!((r.added, r.removed, r.unchanged), (9, 0, 1));
        assert_eq!(s.ec2().managed("sg-a").len(), 10);
        assert_eq!(
            s.ec2()
                .mutations()
                .iter()
                .filter(|c| c.starts_with("authorize"))
                .count(),
            2
        );
    }

    #[tokio::test]
    async fn prefix_list_mode_resizes_first_and_passes_versions() {
        let s = Syncer::new(
            settings(&[("SECURITY_GROUP_IDS", ""), ("PREFIX_LIST_ID", "pl-0f")]),
            FakeEc2::new(60, &[]),
            FakeFetcher::serving(vec![doc(3, 0..230), doc(4, 10..240)]),
        );
        let other: IpNet = "192.0.2.0/24".parse().unwrap();
        s.ec2().world.lock().unwrap().lists.insert(
            "pl-0f".into(),
            FakeList {
                family: Family::V4,
                version: 1,
                max_entries: 20,
                entries: vec![(other, "partner".into())],
                tag: None,
            },
        );
        let r = s.run(Trigger::Scheduled).await.unwrap();
        assert_eq!((r.added, r.wanted), (230, 230));
        assert_eq!(
            s.ec2().mutations(),
            [
                "resize pl-0f v1 231",
                "modify pl-0f v2 +100 -0",
                "modify pl-0f v3 +100 -0",
                "modify pl-0f v4 +30 -0",
                "tag pl-0f 3"
            ]
        );
        let before = s.ec2().mutations().len();
        let r = s.run(Trigger::Scheduled).await.unwrap();
        assert_eq!((r.added, r.removed), (10, 10));
        assert_eq!(
            &s.ec2().mutations()[before..],
            [
                "resize pl-0f v5 241",
                "modify pl-0f v6 +10 -0",
                "modify pl-0f v7 +0 -10",
                "tag pl-0f 4"
            ]
        );
        let w = s.ec2().world.lock().unwrap();
        assert!(w.lists["pl-0f"].entries.iter().any(|(n, _)| *n == other));
        assert_eq!(w.lists["pl-0f"].entries.len(), 231);
    }

    #[test]
    fn applied_token_is_the_oldest_and_needs_every_group() {
        let t = |v: &[Option<u64>]| applied_token(v.iter().map(|x| x.map(SyncToken)));
        assert_eq!(t(&[Some(5), Some(3)]), Some(SyncToken(3)));
        assert_eq!(t(&[Some(5), None]), None);
        assert_eq!(t(&[]), None);
    }
}
