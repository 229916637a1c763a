//! `sg-sync plan` shows what a sync would change; `sg-sync apply` changes it. The
//! configuration comes from flags or the Lambda's environment variables of the same names.

use std::path::Path;

use anyhow::{Context, Result};
use aws_config::BehaviorVersion;
use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;
use lambda_runtime::tracing::subscriber::fmt::writer::MakeWriterExt;
use reqwest::Url;
use sg_sync::config::{self, ConfigValues};
use sg_sync::ec2::Ec2Client;
use sg_sync::publication::{BorderGroups, Fetcher};
use sg_sync::rules::PortRange;
use sg_sync::{Config, FenceOpening, Notification, SyncReport, Syncer, Trigger};

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

// Aliases: clap reads `Vec<T>` as "the flag repeated"; these are one comma-separated value.
type Ids = Vec<String>;
type Names = Vec<String>;
type Ports = Vec<PortRange>;
type Cidrs = Vec<IpNet>;

/// Each flag is backed by the Lambda's environment variable of the same name, parsed by the
/// same function.
#[derive(Args)]
struct Options {
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// ip-ranges.json to use: a file path or a URL.
    #[arg(long = "ranges", env = "IP_RANGES_URL", value_name = "FILE|URL", value_parser = ranges_url)]
    ip_ranges_url: Option<Url>,
    /// An AmazonIpSpaceChanged message to verify the file against (md5, sync token).
    #[arg(long, value_name = "FILE")]
    notification: Option<String>,
    /// Comma-separated, in placement order.
    #[arg(long, env = "SECURITY_GROUP_IDS", value_parser = config::security_group_ids)]
    security_group_ids: Option<Ids>,
    /// e.g. tcp/3306,tcp/8000-8100,udp/53 [default: tcp/3306].
    #[arg(long, env = "PORTS", value_parser = config::ports)]
    ports: Option<Ports>,
    /// [default: EC2]
    #[arg(long, env = "SERVICES", value_parser = |v: &str| config::names("SERVICES", v))]
    services: Option<Names>,
    /// [default: $AWS_REGION]
    #[arg(long, env = "REGIONS", value_parser = |v: &str| config::names("REGIONS", v))]
    regions: Option<Names>,
    /// `*` for all [default: each region's own].
    #[arg(long, env = "NETWORK_BORDER_GROUPS", value_parser = config::network_border_groups)]
    network_border_groups: Option<BorderGroups>,
    /// Also manage IPv6 ranges.
    #[arg(long, env = "IPV6", value_parser = |v: &str| config::parse_bool("IPV6", v))]
    ipv6: Option<bool>,
    /// Quota per group and IP family [default: 60].
    #[arg(long, env = "RULES_PER_GROUP", value_parser = config::rules_per_group)]
    rules_per_group: Option<usize>,
    /// [default: 0.5]
    #[arg(long, env = "MAX_REMOVAL_RATIO", value_parser = config::max_removal_ratio)]
    max_removal_ratio: Option<f64>,
    /// Comma-separated CIDRs that others' rules may admit the port from without being
    /// reported in the fence section, e.g. an office VPN.
    #[arg(long, env = "FENCE_ALLOWED_CIDRS", value_parser = config::fence_allowed_cidrs)]
    fence_allowed_cidrs: Option<Cidrs>,
}

impl Options {
    fn config(self) -> Result<Config> {
        // Not flags: the region is the SDK's variable, and `plan` is the dry run. Their
        // variables go through the Lambda's own parser.
        let env = ConfigValues::from_lookup(|k| {
            matches!(k, "AWS_REGION" | "DRY_RUN")
                .then(|| std::env::var(k).ok())
                .flatten()
        })?;
        let values = ConfigValues {
            security_group_ids: self.security_group_ids,
            ports: self.ports,
            services: self.services,
            regions: self.regions,
            aws_region: env.aws_region,
            network_border_groups: self.network_border_groups,
            ipv6: self.ipv6,
            rules_per_group: self.rules_per_group,
            ip_ranges_url: self.ip_ranges_url,
            max_removal_ratio: self.max_removal_ratio,
            dry_run: env.dry_run,
            fence_allowed_cidrs: self.fence_allowed_cidrs,
        };
        Ok(values.resolve()?)
    }
}

/// A path becomes a `file://` URL; anything with a scheme is checked as `IP_RANGES_URL` is.
fn ranges_url(r: &str) -> Result<Url> {
    if r.contains("://") {
        return Ok(config::ip_ranges_url(r.trim())?);
    }
    let path = std::fs::canonicalize(Path::new(r)).with_context(|| format!("--ranges {r}"))?;
    Url::from_file_path(&path).map_err(|_| anyhow::anyhow!("--ranges {r}: not a usable file path"))
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
            let sign = if c.action.adds() { '+' } else { '-' };
            let _ = writeln!(out, "    {sign} {}", c.rule);
        }
    }
    out.push('\n');
    out.push_str(&fence_table(&report.fence_openings));
    out
}

/// The fence section: others' rules that admit the port from outside the published ranges.
fn fence_table(openings: &[FenceOpening]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if openings.is_empty() {
        out.push_str("fence: no other rule admits the port from outside the published ranges\n");
        return out;
    }
    let _ = writeln!(
        out,
        "fence: {} rule(s) not managed here admit the port from outside the published ranges \
         (reported, never changed)",
        openings.len()
    );
    let _ = writeln!(
        out,
        "{:<24} {:<24} {:<8} {:<11} SOURCE",
        "GROUP", "RULE", "PROTOCOL", "PORTS"
    );
    for o in openings {
        let rule = o.rule_id.as_deref().unwrap_or("-");
        let _ = writeln!(
            out,
            "{:<24} {:<24} {:<8} {:<11} {}",
            o.group, rule, o.protocol, o.ports, o.source
        );
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
    // Warnings on stderr unless RUST_LOG asks for more: stdout is the command's output.
    if std::env::var_os("RUST_LOG").is_some() {
        lambda_runtime::tracing::init_default_subscriber_with_writer(std::io::stderr);
    } else {
        let warnings = std::io::stderr.with_max_level(tracing::Level::WARN);
        lambda_runtime::tracing::init_default_subscriber_with_writer(warnings);
    }
    let (options, dry_run) = match Cli::parse().command {
        Command::Plan(o) => (o, true),
        Command::Apply(o) => (o, false),
    };
    let notification = options.notification.clone();
    let json = options.json;
    let mut config = options.config()?;
    config.dry_run |= dry_run;
    let trigger = match notification {
        Some(path) => {
            let text =
                std::fs::read_to_string(&path).with_context(|| format!("--notification {path}"))?;
            Trigger::Notification(
                Notification::parse(&text).with_context(|| format!("--notification {path}"))?,
            )
        }
        None => Trigger::Direct { dry_run },
    };
    let aws = aws_config::defaults(BehaviorVersion::latest()).load().await;
    let syncer = Syncer::new(config, Ec2Client::new(&aws), Fetcher::new()?);
    let report = syncer
        .run(trigger)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", e.kind()))?;
    if json {
        emit(&(serde_json::to_string_pretty(&report)? + "\n"))
    } else {
        emit(&table(&report))
    }
}
