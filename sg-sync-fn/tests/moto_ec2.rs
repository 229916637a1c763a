//! sg-sync against moto's EC2 server through the real aws-sdk-ec2, with AWS's real
//! ip-ranges.json snapshots. moto comes from `test_support::moto` (`AWS_ENDPOINT_URL`, or started
//! here); the snapshots are the committed ones, or those of `IP_RANGES_FIXTURES`
//! (`test_support::ip_ranges`). Rules moto does not enforce (per-family quotas, atomic
//! failures) are tested in the library's own tests against an enforcing fake.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;
use sg_sync::ec2::{Ec2Client, SYNC_TOKEN_TAG};
use sg_sync::publication::Fetcher;
use sg_sync::{Config, Notification, SyncReport, Syncer, Trigger, invocation};

const REGION: &str = "ap-northeast-1";
const SNAPSHOTS: [&str; 7] = [
    "2025-06-02",
    "2025-06-27",
    "2025-06-28",
    "2026-01-02",
    "2026-07-24",
    "2026-08-12",
    "2026-08-22",
];

fn endpoint() -> &'static str {
    test_support::moto::endpoint()
}

async fn sdk_config() -> aws_config::SdkConfig {
    test_support::moto::sdk_config(endpoint(), REGION).await
}

/// The snapshot of `date` as a plain JSON file, which the fetcher and the CLI read.
fn snapshot_file(date: &str) -> PathBuf {
    let path = test_support::ip_ranges::fixtures()
        .snapshot_file(date)
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::canonicalize(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn snapshot_url(date: &str) -> String {
    reqwest::Url::from_file_path(snapshot_file(date))
        .unwrap()
        .to_string()
}

fn notification_text(date: &str) -> String {
    test_support::ip_ranges::fixtures()
        .notification(date)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn notification(date: &str) -> Trigger {
    Trigger::Notification(Notification::parse(&notification_text(date)).unwrap())
}

/// A fresh VPC with `n` empty security groups in it.
async fn groups(n: usize) -> Vec<String> {
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config().await);
    test_support::moto::security_groups(&ec2, "db", n)
        .await
        .unwrap()
}

fn config(groups: &[String], url: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("SECURITY_GROUP_IDS".into(), groups.join(",")),
        ("REGIONS".into(), REGION.into()),
        ("IP_RANGES_URL".into(), url.into()),
    ]);
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_lookup(|k| vars.get(k).cloned()).unwrap()
}

async fn syncer(config: Config) -> Syncer<Ec2Client, Fetcher> {
    Syncer::new(
        config,
        Ec2Client::new(&sdk_config().await),
        Fetcher::new().unwrap(),
    )
}

/// Every inbound rule of a group as (port, cidr, description).
async fn rules(group: &str) -> Vec<(i32, String, String)> {
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config().await);
    let mut v: Vec<_> = test_support::moto::inbound_rules(&ec2, group)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.port, r.cidr, r.description))
        .collect();
    v.sort();
    v
}

async fn managed(groups: &[String]) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for g in groups {
        let rs = rules(g).await;
        all.push(
            rs.into_iter()
                .filter(|(_, _, d)| d.starts_with(sg_sync::rules::MARKER))
                .map(|(_, c, _)| c)
                .collect(),
        );
    }
    all
}

async fn add_unmanaged(group: &str) {
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config().await);
    for (port, cidr, desc) in [
        (22, "203.0.113.0/24", "bastion"),
        (3306, "198.51.100.7/32", "office"),
    ] {
        test_support::moto::add_rule(&ec2, group, port, cidr, desc)
            .await
            .unwrap();
    }
}

async fn tag(group: &str) -> Option<String> {
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config().await);
    let out = ec2
        .describe_security_groups()
        .group_ids(group)
        .send()
        .await
        .unwrap();
    out.security_groups()[0]
        .tags()
        .iter()
        .find(|t| t.key() == Some(SYNC_TOKEN_TAG))
        .and_then(|t| t.value().map(str::to_owned))
}

fn counts(r: &SyncReport) -> (usize, usize, usize, usize) {
    (r.wanted, r.added, r.removed, r.unchanged)
}

/// The real publications in date order, each verified against its notification, with the
/// adds and removes that Python's ipaddress.collapse_addresses predicts.
#[tokio::test]
async fn replays_the_real_snapshot_sequence_across_three_groups() {
    let ids = groups(3).await;
    add_unmanaged(&ids[0]).await;
    // (wanted, added, removed, unchanged)
    let expected = [
        (48, 48, 0, 0),
        (52, 4, 0, 48),
        (51, 0, 1, 51),
        (60, 10, 1, 50),
        (69, 10, 1, 59),
        (70, 1, 0, 69),
        (70, 0, 0, 70),
    ];
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for (date, want) in SNAPSHOTS.iter().zip(expected) {
        let s = syncer(config(&ids, &snapshot_url(date), &[])).await;
        let before = managed(&ids).await;
        let r = s.run(notification(date)).await.unwrap();
        assert_eq!(counts(&r), want, "{date}");
        let after = managed(&ids).await;
        // Nothing moved: a rule in a group before is in the same group after, or gone.
        for (b, a) in before.iter().zip(&after) {
            for c in b {
                assert!(
                    a.contains(c) || !after.iter().flatten().any(|x| x == c),
                    "{c} moved on {date}"
                );
            }
        }
        seen.extend(after.iter().flatten().cloned());
        assert_eq!(after.iter().map(Vec::len).sum::<usize>(), want.0, "{date}");
        // The group with two unmanaged rules fills first, to the quota of 60.
        assert!(after[0].len() <= 58);
        assert_eq!(
            tag(&ids[0]).await.unwrap(),
            r.sync_token.unwrap().to_string()
        );
    }
    let final_rules = managed(&ids).await;
    assert_eq!(final_rules[0].len(), 58, "first group full");
    assert_eq!(final_rules[1].len(), 12);
    assert!(final_rules[2].is_empty());
    // The unmanaged rules are untouched.
    let first = rules(&ids[0]).await;
    assert!(first.contains(&(22, "203.0.113.0/24".into(), "bastion".into())));
    assert!(first.contains(&(3306, "198.51.100.7/32".into(), "office".into())));
    assert!(seen.len() > 70);
}

#[tokio::test]
async fn two_groups_hold_the_latest_ranges_and_a_second_run_changes_nothing() {
    let ids = groups(2).await;
    let s = syncer(config(&ids, &snapshot_url("2026-08-22"), &[])).await;
    let r = s.run(notification("2026-08-22")).await.unwrap();
    assert_eq!(counts(&r), (70, 70, 0, 0));
    assert_eq!(
        r.groups
            .iter()
            .map(|g| (g.managed, g.free))
            .collect::<Vec<_>>(),
        [(60, 0), (10, 50)]
    );
    let r = s.run(Trigger::Scheduled).await.unwrap();
    assert_eq!(counts(&r), (70, 0, 0, 70));
    // With the Local Zone the same document needs 72 rules.
    let s = syncer(config(
        &ids,
        &snapshot_url("2026-08-22"),
        &[("NETWORK_BORDER_GROUPS", "*")],
    ))
    .await;
    let r = s.run(Trigger::Direct { dry_run: true }).await.unwrap();
    assert_eq!((r.wanted, r.added), (72, 2));
}

#[tokio::test]
async fn stale_and_mismatched_notifications_change_nothing() {
    let ids = groups(2).await;
    let s = syncer(config(&ids, &snapshot_url("2026-08-12"), &[])).await;
    s.run(notification("2026-08-12")).await.unwrap();
    let before = managed(&ids).await;
    // Older notification: skipped.
    let r = s.run(notification("2026-07-24")).await.unwrap();
    assert!(r.skipped);
    // A newer notification whose file the URL does not serve (md5 differs twice, and the
    // served file is not newer): ChecksumMismatch.
    let e = s.run(notification("2026-08-22")).await.unwrap_err();
    assert_eq!(e.kind(), "ChecksumMismatch");
    // A newer file than the notification supersedes it.
    let s = syncer(config(&ids, &snapshot_url("2026-08-22"), &[])).await;
    let ok = s.run(notification("2026-08-22")).await.unwrap();
    assert!(!ok.skipped);
    assert_eq!(before.concat().len(), 70);
    assert_eq!(tag(&ids[1]).await.unwrap(), "1787411825");
}

#[tokio::test]
async fn guards_refuse_and_change_nothing() {
    let ids = groups(1).await;
    // Empty set: a region with no EC2 ranges.
    let s = syncer(config(
        &ids,
        &snapshot_url("2026-08-22"),
        &[("REGIONS", "xx-nowhere-1")],
    ))
    .await;
    assert_eq!(
        s.run(Trigger::Scheduled).await.unwrap_err().kind(),
        "EmptyWantedSet"
    );
    // Capacity: one group of 60 cannot hold 70.
    let s = syncer(config(&ids, &snapshot_url("2026-08-22"), &[])).await;
    let e = s.run(Trigger::Scheduled).await.unwrap_err();
    assert_eq!(e.kind(), "CapacityExceeded");
    assert!(
        e.to_string().contains("RULES_PER_GROUP to at least 70"),
        "{e}"
    );
    assert!(managed(&ids).await[0].is_empty());
    // Removal guard: from 2025-06-02's 48 rules to a filter matching only a few.
    let s = syncer(config(&ids, &snapshot_url("2025-06-02"), &[])).await;
    s.run(Trigger::Scheduled).await.unwrap();
    let narrow = syncer(config(
        &ids,
        &snapshot_url("2025-06-02"),
        &[("NETWORK_BORDER_GROUPS", "ap-northeast-1-tpe-1")],
    ))
    .await;
    assert_eq!(
        narrow.run(Trigger::Scheduled).await.unwrap_err().kind(),
        "RemovalGuard"
    );
    let dry = narrow.run(Trigger::Direct { dry_run: true }).await.unwrap();
    assert_eq!(dry.removed, 48);
    assert!(dry.reason.unwrap().contains("MAX_REMOVAL_RATIO"));
    assert_eq!(managed(&ids).await[0].len(), 48);
}

#[tokio::test]
async fn two_overlapping_runs_converge() {
    let ids = groups(3).await;
    let a = syncer(config(&ids, &snapshot_url("2026-08-22"), &[])).await;
    let b = syncer(config(&ids, &snapshot_url("2026-08-22"), &[])).await;
    let (ra, rb) = tokio::join!(a.run(notification("2026-08-22")), b.run(Trigger::Scheduled));
    ra.unwrap();
    rb.unwrap();
    let all: Vec<String> = managed(&ids).await.concat();
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(
        (all.len(), unique.len()),
        (70, 70),
        "each wanted rule exactly once"
    );
    // And a third run finds nothing to do.
    assert_eq!(
        counts(&a.run(Trigger::Scheduled).await.unwrap()),
        (70, 0, 0, 70)
    );
}

#[tokio::test]
async fn the_lambda_handler_takes_an_sns_event_as_aws_delivers_it() {
    let ids = groups(2).await;
    let s = syncer(config(&ids, &snapshot_url("2026-08-22"), &[])).await;
    let message = notification_text("2026-08-22");
    let event = test_support::events::sns_event(&message);
    let r = invocation::handle(&s, LambdaEvent::new(event.clone(), Context::default()))
        .await
        .unwrap();
    assert_eq!(counts(&r), (70, 70, 0, 0));
    let v = serde_json::to_value(&r).unwrap();
    for field in [
        "sync_token",
        "create_date",
        "wanted",
        "added",
        "removed",
        "unchanged",
        "skipped",
        "dry_run",
        "groups",
    ] {
        assert!(v.get(field).is_some(), "{field}");
    }
    assert_eq!(v["sync_token"], "1787411825");
    assert_eq!(v["groups"][0]["id"], ids[0].as_str());
    // The same delivery again (SNS retries): skipped.
    let r = invocation::handle(&s, LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();
    assert!(r.skipped);
    let r = invocation::handle(
        &s,
        LambdaEvent::new(json!({"dry_run": true}), Context::default()),
    )
    .await
    .unwrap();
    assert!(r.dry_run && r.added == 0);
}

/// The `sg-sync` CLI with `args`, talking to moto.
fn sg_sync<'a>(args: impl IntoIterator<Item = &'a str>) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sg-sync"));
    cmd.args(args)
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    cmd
}

#[tokio::test]
async fn the_cli_plans_as_json_and_applies() {
    let ids = groups(2).await;
    let file = snapshot_file("2026-08-22");
    let run = |command: &str, json: bool, env: &[(&str, &str)]| {
        let mut cmd = sg_sync([
            command,
            "--security-group-ids",
            &ids.join(","),
            "--regions",
            REGION,
        ]);
        cmd.arg("--ranges")
            .arg(&file)
            .env_remove("SECURITY_GROUP_IDS")
            .envs(env.iter().copied());
        if json {
            cmd.arg("--json");
        }
        cmd.output().unwrap()
    };
    let out = run("plan", true, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (plan["added"].as_u64(), plan["dry_run"].as_bool()),
        (Some(70), Some(true))
    );
    assert_eq!(plan["changes"].as_array().unwrap().len(), 70);
    assert!(
        managed(&ids).await.concat().is_empty(),
        "plan changes nothing"
    );
    // DRY_RUN, as the Lambda reads it, makes `apply` a dry run too.
    let out = run("apply", true, &[("DRY_RUN", "true")]);
    let dry: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        dry["dry_run"],
        true,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        managed(&ids).await.concat().is_empty(),
        "DRY_RUN changes nothing"
    );
    let out = run("apply", false, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("wanted 70, add 70, remove 0"), "{table}");
    assert!(table.contains(&ids[1]), "{table}");
    assert_eq!(managed(&ids).await.concat().len(), 70);
    // A bad setting is a clear error and a non-zero exit.
    let out = sg_sync([
        "plan",
        "--security-group-ids",
        "sg-1",
        "--regions",
        REGION,
        "--ports",
        "tcp/99999",
    ])
    .output()
    .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PORTS"));
    // The same parser reads the flag's environment variable.
    let out = sg_sync(["plan", "--regions", REGION])
        .env("SECURITY_GROUP_IDS", "sg-xyz")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SECURITY_GROUP_IDS") && stderr.contains("sg-xyz"),
        "{stderr}"
    );
}

/// The id EC2 (here moto) gives the inbound rule of `group` from `cidr` whose ports start at
/// `from_port` (-1 for a rule of every protocol), through DescribeSecurityGroupRules.
async fn rule_id(group: &str, cidr: &str, from_port: i32) -> String {
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config().await);
    let filter = aws_sdk_ec2::types::Filter::builder()
        .name("group-id")
        .values(group)
        .build();
    let out = ec2
        .describe_security_group_rules()
        .filters(filter)
        .send()
        .await
        .unwrap();
    let rule = out
        .security_group_rules()
        .iter()
        .find(|r| {
            r.is_egress() != Some(true)
                && r.cidr_ipv4() == Some(cidr)
                && r.from_port().unwrap_or(-1) == from_port
        })
        .unwrap_or_else(|| panic!("no rule from {cidr} at {from_port} in {group}"));
    rule.security_group_rule_id()
        .expect("moto names each rule (SecurityGroupRuleId)")
        .to_owned()
}

/// `(group, rule id, source, protocol, ports)` of each opening a report lists.
fn openings(r: &SyncReport) -> BTreeSet<(String, String, String, String, String)> {
    r.fence_openings
        .iter()
        .map(|o| {
            let id = o.rule_id.clone().unwrap_or_default();
            let (source, protocol, ports) = (o.source.clone(), o.protocol.clone(), o.ports.clone());
            (o.group.clone(), id, source, protocol, ports)
        })
        .collect()
}

/// The fence, watched: others' rules on the pool that admit 3306 from outside the published
/// ranges (the whole internet on tcp/3306, a partner's network on every protocol) are reported
/// with their rule ids and left as they are; an allowed source, another port and an address
/// inside the published ranges are not reported.
#[tokio::test]
async fn the_fence_reports_foreign_openings_of_the_database_port_and_changes_none() {
    let ids = groups(2).await;
    let allowed = [("FENCE_ALLOWED_CIDRS", "203.0.113.0/24")];
    let s = syncer(config(&ids, &snapshot_url("2026-08-22"), &allowed)).await;
    let first = s.run(notification("2026-08-22")).await.unwrap();
    assert!(
        first.fence_openings.is_empty(),
        "{:?}",
        first.fence_openings
    );
    // An address inside a range the groups now open the port to.
    let range: ipnet::IpNet = managed(&ids).await[1][0].parse().unwrap();
    let inside = format!("{}/32", range.network());

    let ec2 = aws_sdk_ec2::Client::new(&sdk_config().await);
    let pool = &ids[1];
    for (port, cidr, description) in [
        (3306, "0.0.0.0/0", "opened for a test, never closed"),
        (3306, "203.0.113.0/24", "office VPN"),
        (22, "0.0.0.0/0", "ssh"),
        (3306, inside.as_str(), "an EC2 host of ours"),
    ] {
        test_support::moto::add_rule(&ec2, pool, port, cidr, description)
            .await
            .unwrap();
    }
    test_support::moto::add_all_traffic_rule(
        &ec2,
        pool,
        "198.51.100.0/24",
        "a partner, all traffic",
    )
    .await
    .unwrap();
    let before = rules(pool).await;

    let expected = BTreeSet::from([
        (
            pool.clone(),
            rule_id(pool, "0.0.0.0/0", 3306).await,
            "0.0.0.0/0".to_owned(),
            "tcp".to_owned(),
            "3306".to_owned(),
        ),
        (
            pool.clone(),
            rule_id(pool, "198.51.100.0/24", -1).await,
            "198.51.100.0/24".to_owned(),
            "all".to_owned(),
            "all".to_owned(),
        ),
    ]);
    let r = s.run(Trigger::Scheduled).await.unwrap();
    assert_eq!(openings(&r), expected);
    assert_eq!((r.added, r.removed), (0, 0));
    assert_eq!(
        rules(pool).await,
        before,
        "the fence is watched, never changed"
    );
    // A dry run and a skipped run (the same notification again) report them too.
    let dry = s.run(Trigger::Direct { dry_run: true }).await.unwrap();
    assert_eq!(openings(&dry), expected);
    let skipped = s.run(notification("2026-08-22")).await.unwrap();
    assert!(skipped.skipped);
    assert_eq!(openings(&skipped), expected);
    // The report's JSON lists them as the Lambda returns it.
    let v = serde_json::to_value(&r).unwrap();
    let listed: Vec<&str> = v["fence_openings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["source"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 2, "{v}");
    assert!(listed.contains(&"0.0.0.0/0") && listed.contains(&"198.51.100.0/24"));
}

/// `sg-sync plan` shows the fence as a section of its own, in the table and in --json.
#[tokio::test]
async fn the_cli_plan_shows_the_fence_in_a_section_of_its_own() {
    let ids = groups(2).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config().await);
    test_support::moto::add_rule(&ec2, &ids[0], 3306, "0.0.0.0/0", "forgotten")
        .await
        .unwrap();
    let id = rule_id(&ids[0], "0.0.0.0/0", 3306).await;
    let file = snapshot_file("2026-08-22");
    let plan = |extra: &[&str]| {
        let mut cmd = sg_sync([
            "plan",
            "--security-group-ids",
            &ids.join(","),
            "--regions",
            REGION,
        ]);
        cmd.arg("--ranges").arg(&file).args(extra);
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            stderr,
        )
    };
    let (ok, table, stderr) = plan(&[]);
    assert!(ok, "{stderr}");
    let (_, fence) = table
        .split_once("\nfence: 1 rule(s) not managed here")
        .unwrap_or_else(|| panic!("no fence section:\n{table}"));
    let row = fence
        .lines()
        .find(|l| l.starts_with(ids[0].as_str()))
        .unwrap_or_else(|| panic!("no row for {}:\n{table}", ids[0]));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells, [ids[0].as_str(), &id, "tcp", "3306", "0.0.0.0/0"]);
    // The run's warnings name the rule too (stderr: stdout is the command's output).
    assert!(
        stderr.contains(&id) && stderr.contains("0.0.0.0/0"),
        "{stderr}"
    );

    let (ok, json, stderr) = plan(&["--json"]);
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["fence_openings"],
        json!([{"group": ids[0], "rule_id": id, "source": "0.0.0.0/0", "protocol": "tcp", "ports": "3306"}])
    );

    // Allowed: the section says the fence is closed.
    let (ok, table, stderr) = plan(&["--fence-allowed-cidrs", "0.0.0.0/0"]);
    assert!(ok, "{stderr}");
    assert!(
        table.contains("\nfence: no other rule admits the port from outside the published ranges"),
        "{table}"
    );
    // A bad allowance is a clear error naming the entry, from the flag or its variable.
    let (ok, _, stderr) = plan(&["--fence-allowed-cidrs", "203.0.113.0/24,office"]);
    assert!(!ok);
    assert!(
        stderr.contains("FENCE_ALLOWED_CIDRS") && stderr.contains("\"office\""),
        "{stderr}"
    );
}
