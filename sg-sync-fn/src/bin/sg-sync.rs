//! `sg-sync plan` shows what a sync would change; `sg-sync apply` changes it. Settings come
//! from flags or the Lambda's environment variables of the same names.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use aws_config::BehaviorVersion;
use clap::{Args, Parser, Subcommand};
use reqwest::Url;
use sg_sync::ec2::Ec2Client;
use sg_sync::fetch::Fetcher;
use sg_sync::{Notification, Settings, SyncReport, Syncer, Trigger, telemetry};

#[derive(Parser)]
#[command(
    name = "sg-sync",
    version,
    about = "Keep security groups equal to AWS's published EC2 ranges"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print what would change, per group; change nothing.
    Plan(Options),
    /// Apply the changes.
    Apply(Options),
}

/// Each flag falls back to the environment variable named in its help.
#[derive(Args)]
struct Options {
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// ip-ranges.json to use: a file path or a URL [IP_RANGES_URL].
    #[arg(long, value_name = "FILE|URL")]
    ranges: Option<String>,
    /// An AmazonIpSpaceChanged message to verify the file against (md5, sync token).
    #[arg(long, value_name = "FILE")]
    notification: Option<String>,
    /// [SECURITY_GROUP_IDS] comma-separated, in placement order.
    #[arg(long)]
    security_group_ids: Option<String>,
    /// [PREFIX_LIST_ID] manage a prefix list instead of rules.
    #[arg(long)]
    prefix_list_id: Option<String>,
    /// [PORTS] e.g. tcp/3306,tcp/8000-8100,udp/53.
    #[arg(long)]
    ports: Option<String>,
    /// [SERVICES] default EC2.
    #[arg(long)]
    services: Option<String>,
    /// [REGIONS] default $AWS_REGION.
    #[arg(long)]
    regions: Option<String>,
    /// [NETWORK_BORDER_GROUPS] default each region's own; `*` for all.
    #[arg(long)]
    network_border_groups: Option<String>,
    /// [IPV6] also manage IPv6 ranges.
    #[arg(long)]
    ipv6: Option<String>,
    /// [RULES_PER_GROUP] quota per group and IP family, default 60.
    #[arg(long)]
    rules_per_group: Option<String>,
    /// [MAX_REMOVAL_RATIO] default 0.5.
    #[arg(long)]
    max_removal_ratio: Option<String>,
}

impl Options {
    fn settings(&self) -> Result<Settings> {
        let mut flags: HashMap<&str, String> = HashMap::new();
        let pairs = [
            ("SECURITY_GROUP_IDS", &self.security_group_ids),
            ("PREFIX_LIST_ID", &self.prefix_list_id),
            ("PORTS", &self.ports),
            ("SERVICES", &self.services),
            ("REGIONS", &self.regions),
            ("NETWORK_BORDER_GROUPS", &self.network_border_groups),
            ("IPV6", &self.ipv6),
            ("RULES_PER_GROUP", &self.rules_per_group),
            ("MAX_REMOVAL_RATIO", &self.max_removal_ratio),
        ];
        for (name, value) in pairs {
            if let Some(v) = value {
                flags.insert(name, v.clone());
            }
        }
        if let Some(r) = &self.ranges {
            flags.insert("IP_RANGES_URL", ranges_url(r)?);
        }
        // A flag naming one target replaces the other's environment variable.
        let target_flag = self.security_group_ids.is_some() || self.prefix_list_id.is_some();
        Ok(Settings::from_lookup(|k| {
            if target_flag && matches!(k, "SECURITY_GROUP_IDS" | "PREFIX_LIST_ID") {
                return flags.get(k).cloned();
            }
            flags.get(k).cloned().or_else(|| std::env::var(k).ok())
        })?)
    }
}

/// A path becomes a `file://` URL; anything with a scheme stays as it is.
fn ranges_url(r: &str) -> Result<String> {
    if r.contains("://") {
        return Ok(r.to_owned());
    }
    let path = std::fs::canonicalize(Path::new(r)).with_context(|| format!("--ranges {r}"))?;
    Url::from_file_path(&path)
        .map(String::from)
        .map_err(|_| anyhow::anyhow!("--ranges {r}: not a usable file path"))
}

fn table(report: &SyncReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let token = report
        .sync_token
        .map(|t| t.to_string())
        .unwrap_or_else(|| "-".into());
    let date = report
        .create_date
        .as_deref()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default();
    let dry = if report.dry_run { " (dry run)" } else { "" };
    let (w, a, r, u) = (
        report.wanted,
        report.added,
        report.removed,
        report.unchanged,
    );
    let _ = writeln!(
        out,
        "sync token {token}{date}: wanted {w}, add {a}, remove {r}, unchanged {u}{dry}"
    );
    if let Some(reason) = &report.reason {
        let _ = writeln!(
            out,
            "{}: {reason}",
            if report.skipped { "skipped" } else { "note" }
        );
    }
    let _ = writeln!(
        out,
        "{:<24} {:>8} {:>6} {:>5}",
        "GROUP", "MANAGED", "OTHER", "FREE"
    );
    for g in &report.groups {
        let _ = writeln!(
            out,
            "{:<24} {:>8} {:>6} {:>5}",
            g.id, g.managed, g.other, g.free
        );
        for c in report.changes.iter().filter(|c| c.target == g.id) {
            let sign = if matches!(c.action, "authorize" | "add") {
                '+'
            } else {
                '-'
            };
            let _ = writeln!(out, "    {sign} {}", c.rule);
        }
    }
    out
}

/// Writes to stdout; a closed pipe (`| head`) ends the output quietly.
fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    telemetry::init_cli();
    let cli = Cli::parse();
    let (options, dry_run) = match &cli.command {
        Command::Plan(o) => (o, true),
        Command::Apply(o) => (o, false),
    };
    let mut settings = options.settings()?;
    settings.dry_run |= dry_run;
    let trigger = match &options.notification {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("--notification {path}"))?;
            Trigger::Notification(
                Notification::parse(&text).with_context(|| format!("--notification {path}"))?,
            )
        }
        None => Trigger::Direct { dry_run },
    };
    let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let syncer = Syncer::new(settings, Ec2Client::new(&config), Fetcher::new()?);
    let report = syncer
        .run(trigger)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", e.kind()))?;
    if options.json {
        emit(&(serde_json::to_string_pretty(&report)? + "\n"))
    } else {
        emit(&table(&report))
    }
}
