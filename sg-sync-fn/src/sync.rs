//! One sync run: read the groups, skip a stale notification, fetch and verify the
//! publication, skip a stale file, then reconcile the groups with it (see [`crate::reconcile`]);
//! every run that gets that far, a dry run too, also reports the fence ([`crate::fence`]).
//! Right after a deploy it retries EC2's `UnauthorizedOperation` while IAM settles.

use std::time::Duration;

use ipnet::IpNet;

use crate::config::Config;
use crate::error::{Ec2Error, SyncError};
use crate::fence;
use crate::publication::{self, FetchRanges, Notification, SyncToken};
use crate::reconcile::{Run, SecurityGroupApi, SecurityGroups, reconcile};
use crate::report::SyncReport;
use crate::retry::IAM_SETTLE;
use crate::rules::Wanted;

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

impl Trigger {
    fn notification(&self) -> Option<&Notification> {
        match self {
            Trigger::Notification(n) => Some(n),
            _ => None,
        }
    }
}

/// The Lambda's and the CLI's syncer: the pool of groups the configuration names, on `ec2`,
/// and where the publication comes from; built once and run for each trigger.
pub struct Syncer<E, F> {
    config: Config,
    pub(crate) pool: SecurityGroups<E>,
    pub(crate) fetcher: F,
}

impl<E, F> Syncer<E, F> {
    pub fn new(config: Config, ec2: E, fetcher: F) -> Self {
        let pool = SecurityGroups::new(ec2, &config);
        Syncer {
            config,
            pool,
            fetcher,
        }
    }
}

impl<E: SecurityGroupApi, F: FetchRanges> Syncer<E, F> {
    pub async fn run(&self, trigger: Trigger) -> Result<SyncReport, SyncError> {
        let report = self.run_once_authorized(&trigger).await?;
        report.log();
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
            // Boxed: the nested SDK futures otherwise exceed rustc's layout depth limit.
            let result = Box::pin(self.sync(trigger)).await;
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

    /// Reads the groups, skips what is stale, and reconciles them with the publication.
    async fn sync(&self, trigger: &Trigger) -> Result<SyncReport, SyncError> {
        let dry_run = self.config.dry_run || matches!(trigger, Trigger::Direct { dry_run: true });
        let state = self.pool.read().await?;
        let applied = state.applied();
        // The fence is checked against the ranges this run opens the port to; a skipped run
        // against those the groups hold already.
        let foreign = state.foreign();
        let config = &self.config;
        let fence = |published: &[IpNet]| {
            let allowed = &config.fence_allowed_cidrs;
            fence::openings(&foreign, &config.ports, published, allowed)
        };
        let skip = |reason| SyncReport {
            fence_openings: fence(&state.held()),
            ..SyncReport::skipped(applied, state.report(), dry_run, reason)
        };
        if let Some(n) = trigger.notification()
            && let Some(reason) = stale_notification(applied, n.sync_token)
        {
            return Ok(skip(reason));
        }
        let publication = publication::fetch(
            &self.fetcher,
            &config.ip_ranges_url,
            trigger.notification(),
            &config.selector,
        )
        .await?;
        if let Some(reason) = stale_file(applied, publication.sync_token) {
            return Ok(skip(reason));
        }
        let wanted = Wanted::new(&publication.ranges, &config.ports, &config.filter())?;
        let run = Run {
            wanted: &wanted,
            ranges: publication.ranges.ranges.len(),
            sync_token: publication.sync_token,
            create_date: &publication.create_date,
            applied,
            dry_run,
            max_removal_ratio: config.max_removal_ratio,
        };
        let published: Vec<IpNet> = publication.ranges.ranges.iter().map(|r| r.net).collect();
        let mut report = reconcile(&self.pool, state, &run).await?;
        report.fence_openings = fence(&published);
        Ok(report)
    }
}

/// Why a notification that is not newer than what the groups hold changes nothing.
fn stale_notification(applied: Option<SyncToken>, notified: SyncToken) -> Option<String> {
    applied
        .filter(|a| notified <= *a)
        .map(|a| format!("notification sync token {notified} is not newer than the applied {a}"))
}

/// Why a file older than what the groups hold changes nothing (CDN lag, a late retry). The
/// same file again is applied: that is how a scheduled run repairs drift.
fn stale_file(applied: Option<SyncToken>, file: SyncToken) -> Option<String> {
    applied
        .filter(|a| file < *a)
        .map(|a| format!("file sync token {file} is older than the applied {a}"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::fake::{FakeEc2, FakeFetcher};
    use crate::publication::ip_ranges::tests::document;
    use crate::publication::md5_hex;
    use crate::rules::Rule;
    use crate::rules::rule::description;

    const REGION: &str = "ap-northeast-1";

    fn cidr(i: u32) -> String {
        // Every other /24, so that nothing aggregates.
        std::net::Ipv4Addr::from(0x0a00_0000 + ((2 * i) << 8)).to_string() + "/24"
    }

    /// A publication of one /24 per id, none adjacent, in the test region.
    pub(crate) fn doc(token: u64, ids: impl IntoIterator<Item = u32>) -> Vec<u8> {
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
        })
    }

    fn config(vars: &[(&str, &str)]) -> Config {
        let mut all = vec![
            ("SECURITY_GROUP_IDS", "sg-a,sg-b,sg-c"),
            ("AWS_REGION", REGION),
        ];
        all.extend_from_slice(vars);
        Config::from_lookup(test_support::lookup(&all)).unwrap()
    }

    /// The Lambda's syncer on three groups of 60 rules, serving `bodies` in turn.
    pub(crate) fn syncer(
        vars: &[(&str, &str)],
        bodies: Vec<Vec<u8>>,
    ) -> Syncer<FakeEc2, FakeFetcher> {
        let ec2 = FakeEc2::new(60, &["sg-a", "sg-b", "sg-c"]);
        Syncer::new(config(vars), ec2, FakeFetcher::serving(bodies))
    }

    fn mysql(i: u32) -> Rule {
        Rule {
            port: crate::rules::PortRange::tcp(3306),
            net: cidr(i).parse().unwrap(),
        }
    }

    #[tokio::test]
    async fn shards_past_the_quota_and_then_holds_still() {
        let body = doc(100, 0..70);
        let s = syncer(&[], vec![body.clone()]);
        s.pool
            .api
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
        assert_eq!(s.pool.api.managed("sg-a").len(), 59);
        assert_eq!(s.pool.api.managed("sg-b").len(), 11);
        assert_eq!(r.groups[0].free, 0);
        assert_eq!(r.groups[1].free, 49);
        // One authorize per group and port, then the tag.
        assert_eq!(
            s.pool.api.mutations(),
            [
                "authorize sg-a tcp/3306 59",
                "authorize sg-b tcp/3306 11",
                "tag sg-a,sg-b,sg-c 100"
            ]
        );

        // A scheduled run with the same file makes no mutating call.
        let before = s.pool.api.mutations().len();
        let r = s.run(Trigger::Scheduled).await.unwrap();
        assert_eq!(
            (r.added, r.removed, r.unchanged, r.skipped),
            (0, 0, 70, false)
        );
        assert_eq!(s.pool.api.mutations().len(), before);
        // The unmanaged rule is still there.
        assert!(
            s.pool.api.world.lock().unwrap().groups["sg-a"]
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
        *s.pool.api.unauthorized.lock().unwrap() = 3;
        let started = tokio::time::Instant::now();
        let r = s.run(Trigger::Scheduled).await.unwrap();
        assert_eq!(r.added, 5);
        assert!(started.elapsed() >= Duration::from_secs(1 + 2 + 4));
        assert!(started.elapsed() < IAM_SETTLE);

        // Never authorized: fails after about a minute, saying why.
        let s = syncer(&[], vec![body]);
        *s.pool.api.unauthorized.lock().unwrap() = usize::MAX;
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
        assert!(s.pool.api.mutations().is_empty());
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
        assert!(s.pool.api.mutations().is_empty());
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
        assert!(s.pool.api.mutations().is_empty());
        // A malformed document.
        let s = syncer(&[], vec![b"{\"syncToken\": \"1\"".to_vec()]);
        assert_eq!(
            s.run(Trigger::Scheduled).await.unwrap_err().kind(),
            "InvalidIpRanges"
        );
        assert!(s.pool.api.mutations().is_empty());
        // Removing 6 of 10 is over 0.5; a dry run reports the plan and the guard.
        let s = syncer(&[], vec![doc(1, 0..10), doc(2, 0..4)]);
        s.run(Trigger::Scheduled).await.unwrap();
        let before = s.pool.api.mutations().len();
        assert_eq!(
            s.run(Trigger::Scheduled).await.unwrap_err().kind(),
            "RemovalGuard"
        );
        let r = s.run(Trigger::Direct { dry_run: true }).await.unwrap();
        assert_eq!((r.removed, r.dry_run), (6, true));
        assert!(r.reason.unwrap().contains("MAX_REMOVAL_RATIO"));
        assert_eq!(r.changes.len(), 6);
        assert_eq!(s.pool.api.mutations().len(), before);
    }

    #[tokio::test]
    async fn authorizes_everything_before_revoking_anything() {
        let s = syncer(
            &[("PORTS", "tcp/3306,tcp/33060")],
            vec![doc(1, 0..10), doc(2, 3..13)],
        );
        s.run(Trigger::Scheduled).await.unwrap();
        let before = s.pool.api.mutations().len();
        let r = s.run(Trigger::Scheduled).await.unwrap();
        assert_eq!((r.added, r.removed, r.unchanged), (6, 6, 14));
        let calls = &s.pool.api.mutations()[before..];
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
        s.pool.api.other_run_adds(
            "sg-b",
            vec![
                (mysql(0), description("EC2/ap-northeast-1")),
                (mysql(1), description("EC2/ap-northeast-1")),
            ],
        );
        let r = s.run(notification(7, &body)).await.unwrap();
        let all: Vec<Rule> = ["sg-a", "sg-b", "sg-c"]
            .iter()
            .flat_map(|g| s.pool.api.managed(g))
            .collect();
        assert_eq!(all.len(), 10, "each rule exactly once");
        // The re-read after our writes found the other run's copies in sg-b and revoked them.
        assert_eq!((r.added, r.removed), (10, 2));
        assert!(s.pool.api.managed("sg-b").is_empty());

        // This time the other run writes into the same group first: our authorize fails with
        // InvalidPermission.Duplicate, we re-read and add only the rest.
        let s = syncer(&[], vec![body.clone()]);
        s.pool
            .api
            .other_run_adds("sg-a", vec![(mysql(3), description("EC2/ap-northeast-1"))]);
        let r = s.run(notification(7, &body)).await.unwrap();
        assert_eq!((r.added, r.removed, r.unchanged), (9, 0, 1));
        assert_eq!(s.pool.api.managed("sg-a").len(), 10);
        assert_eq!(
            s.pool
                .api
                .mutations()
                .iter()
                .filter(|c| c.starts_with("authorize"))
                .count(),
            2
        );
    }

    /// `group rule ports source` of each fence opening `r` reports.
    fn fence(r: &SyncReport) -> Vec<String> {
        r.fence_openings
            .iter()
            .map(|o| {
                let id = o.rule_id.as_deref().unwrap_or("-");
                format!("{} {id} {} {}", o.group, o.ports, o.source)
            })
            .collect()
    }

    #[tokio::test]
    async fn the_fence_reports_others_rules_that_open_the_port_and_changes_none() {
        let body = doc(100, 0..5);
        let s = syncer(
            &[("FENCE_ALLOWED_CIDRS", "192.0.2.0/24")],
            vec![body.clone()],
        );
        let others = [
            ("tcp/3306", "0.0.0.0/0".to_owned()),
            ("tcp/3300-3310", "198.51.100.0/24".to_owned()),
            // Another port, a range the publication opens, an allowed source.
            ("tcp/22", "0.0.0.0/0".to_owned()),
            ("tcp/3306", cidr(3)),
            ("tcp/3306", "192.0.2.0/25".to_owned()),
        ];
        let rules: Vec<(Rule, String)> = others
            .iter()
            .map(|(port, net)| {
                let rule = Rule {
                    port: port.parse().unwrap(),
                    net: net.parse().unwrap(),
                };
                (rule, "someone else's".to_owned())
            })
            .collect();
        let other_rules = || {
            s.pool.api.world.lock().unwrap().groups["sg-b"]
                .rules
                .clone()
        };
        s.pool
            .api
            .world
            .lock()
            .unwrap()
            .groups
            .get_mut("sg-b")
            .unwrap()
            .rules = rules.clone();
        let expected = [
            "sg-b sgr-0 3306 0.0.0.0/0",
            "sg-b sgr-1 3300-3310 198.51.100.0/24",
        ];
        // A dry run looks too, before anything is managed: against the publication's ranges.
        let r = s.run(Trigger::Direct { dry_run: true }).await.unwrap();
        assert_eq!(fence(&r), expected);
        // An applying run reports them and leaves them as they are.
        let r = s.run(notification(100, &body)).await.unwrap();
        assert_eq!(
            (r.added, fence(&r)),
            (5, expected.map(String::from).to_vec())
        );
        assert_eq!(other_rules(), rules);
        // A skipped run checks against the ranges the groups hold.
        let r = s.run(notification(100, &body)).await.unwrap();
        assert!(r.skipped);
        assert_eq!(fence(&r), expected);
        // Without the allowance, the office's rule is an opening as well.
        let s = syncer(&[], vec![body.clone()]);
        s.pool
            .api
            .world
            .lock()
            .unwrap()
            .groups
            .get_mut("sg-c")
            .unwrap()
            .rules = rules;
        let r = s.run(Trigger::Scheduled).await.unwrap();
        assert_eq!(
            fence(&r),
            [
                "sg-c sgr-0 3306 0.0.0.0/0",
                "sg-c sgr-1 3300-3310 198.51.100.0/24",
                "sg-c sgr-4 3306 192.0.2.0/25"
            ]
        );
    }

    // A rule quota hit mid-run (another run filled the group after this one read it) comes back
    // as RulesPerSecurityGroupLimitExceeded, a conflict: the sync re-reads and places the rules
    // where there is room.
    // https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
    #[tokio::test]
    async fn a_quota_hit_mid_run_converges() {
        let body = doc(9, 0..10);
        let s = syncer(&[], vec![body.clone()]);
        // 55 rules someone else added: 5 slots left of 60, 10 wanted.
        s.pool.api.other_run_adds(
            "sg-a",
            (100..155)
                .map(|i| (mysql(i), "someone else".to_owned()))
                .collect(),
        );
        let r = s.run(notification(9, &body)).await.unwrap();
        assert_eq!((r.added, r.removed, r.unchanged), (10, 0, 0));
        assert_eq!(
            s.pool.api.mutations(),
            [
                "authorize sg-a tcp/3306 10",
                "authorize sg-a tcp/3306 5",
                "authorize sg-b tcp/3306 5",
                "tag sg-a,sg-b,sg-c 9"
            ]
        );
        assert_eq!(
            s.pool.api.managed("sg-a").len() + s.pool.api.managed("sg-b").len(),
            10
        );
    }
}
