//! sg-sync against moto's EC2 server through the real aws-sdk-ec2, with AWS's real
//! ip-ranges.json snapshots. moto comes from `test_support::moto` (`AWS_ENDPOINT_URL`, or started
//! here); the snapshots are read from `IP_RANGES_FIXTURES`. Rules moto does not enforce (per-family quotas, prefix-list
//! versions and sizes) are tested in the library's own tests against an enforcing fake.

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

fn fixtures() -> PathBuf {
    let dir = std::env::var("IP_RANGES_FIXTURES")
        .expect("IP_RANGES_FIXTURES must name the folder of ip-ranges.json snapshots (shared/fixtures/ip-ranges)");
    PathBuf::from(dir)
}

fn snapshot_url(date: &str) -> String {
    let path = std::fs::canonicalize(fixtures().join(format!("ip-ranges-{date}.json"))).unwrap();
    reqwest::Url::from_file_path(path).unwrap().to_string()
}

fn notification(date: &str) -> Trigger {
    let text =
        std::fs::read_to_string(fixtures().join(format!("notification-{date}.json"))).unwrap();
    Trigger::Notification(Notification::parse(&text).unwrap())
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
async fn prefix_list_mode_keeps_the_list_equal_to_the_wanted_set() {
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config().await);
    let pl = ec2
        .create_managed_prefix_list()
        .prefix_list_name("ec2-ap-northeast-1")
        .address_family("IPv4")
        .max_entries(50)
        .entries(
            aws_sdk_ec2::types::AddPrefixListEntry::builder()
                .cidr("198.51.100.0/24")
                .description("partner")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let id = pl
        .prefix_list()
        .unwrap()
        .prefix_list_id()
        .unwrap()
        .to_owned();
    let vars = |date: &str| {
        let map: HashMap<&str, String> = HashMap::from([
            ("PREFIX_LIST_ID", id.clone()),
            ("REGIONS", REGION.into()),
            ("IP_RANGES_URL", snapshot_url(date)),
        ]);
        Config::from_lookup(move |k| map.get(k).cloned()).unwrap()
    };
    let s = syncer(vars("2026-07-24")).await;
    let r = s.run(notification("2026-07-24")).await.unwrap();
    assert_eq!(counts(&r), (69, 69, 0, 0));
    let s = syncer(vars("2026-08-22")).await;
    let r = s.run(notification("2026-08-22")).await.unwrap();
    assert_eq!(counts(&r), (70, 1, 0, 69));
    let entries = ec2
        .get_managed_prefix_list_entries()
        .prefix_list_id(&id)
        .send()
        .await
        .unwrap();
    let cidrs: Vec<&str> = entries.entries().iter().filter_map(|e| e.cidr()).collect();
    assert_eq!(cidrs.len(), 71);
    assert!(cidrs.contains(&"198.51.100.0/24"));
}

#[tokio::test]
async fn the_lambda_handler_takes_an_sns_event_as_aws_delivers_it() {
    let ids = groups(2).await;
    let s = syncer(config(&ids, &snapshot_url("2026-08-22"), &[])).await;
    let message = std::fs::read_to_string(fixtures().join("notification-2026-08-22.json")).unwrap();
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
    let file = fixtures().join("ip-ranges-2026-08-22.json");
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
            // A target named by a flag replaces the other target's variable.
            .env("PREFIX_LIST_ID", "pl-0123456789abcdef0")
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
        .env_remove("PREFIX_LIST_ID")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SECURITY_GROUP_IDS") && stderr.contains("sg-xyz"),
        "{stderr}"
    );
}
