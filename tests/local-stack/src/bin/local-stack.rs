//! `local-stack`: the reference flow on one machine, started by `tests/local-stack.sh`.
//!
//! 1. a MySQL: `DATABASE_URL`, else a container through testcontainers (Docker; `mysql:8.4`,
//!    or `TESTCONTAINERS_MYSQL_IMAGE`), and on it the stack's own database, `ingest_local_stack`,
//!    created afresh, migrated (the `migrate` binary) and seeded with a few rows received long
//!    before the retention;
//! 2. moto's EC2 API with three stand-ins for the database's security groups, the first holding
//!    a rule this project does not own but allows (an office VPN), the second one that opens the
//!    port to the whole internet; both functions under `cargo lambda watch`;
//! 3. `sg-sync plan` (what a sync would change), a sync from ip-ranges.json (`IP_RANGES_URL`:
//!    tests/local-stack.sh sets the newest committed snapshot unless it is set; run directly,
//!    the live file), the fence openings it reports, then the groups;
//! 4. a short ingest-load run, verified through migrate (`--verify-function`, as against a
//!    deployed stack, whose database only migrate reaches), its table, JSON report and plot;
//! 5. retention: `ingest-expire --older-than-days 30` as an operator runs it, archiving to a
//!    bucket in moto's S3: the aged rows expired and archived, everything younger left;
//! 6. what the functions counted: their metrics lines (CloudWatch's embedded metric format,
//!    on stdout, so in `cargo lambda watch`'s log) added up, as CloudWatch would;
//! 7. everything it started is stopped again on exit, also on Ctrl-C.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::Utc;
use lambda_harness::moto::inbound_rules;
use local_stack::retention;
use sqlx::mysql::MySqlPool;
use tokio::process::{Child, Command};

const REGION: &str = "ap-northeast-1";
/// The features of this build, for `cargo lambda watch`'s `cargo run`: the same set finds the
/// functions already built.
const WATCH_FEATURES: &[&str] = if cfg!(feature = "docker") {
    &["--features", "local-stack/docker"]
} else {
    &[]
};
/// The "office VPN" a person added to the first group: not sg-sync-fn's rule, and an allowed
/// source of the fence (`FENCE_ALLOWED_CIDRS`), so the sync neither removes nor reports it.
const OFFICE_CIDR: &str = "198.51.100.7/32";
/// A rule someone added to the second group that opens the port to the whole internet: not
/// allowed, so every sync reports it (`FenceOpenings`) and leaves it alone.
const FOREIGN_CIDR: &str = "0.0.0.0/0";
/// The stack's own database on the server: dropped and created again on every run, so that each
/// run starts from an empty table (the aged rows must come before every other id: the job stops
/// at the first chunk holding a young row), and left after the run for a look. Named as the
/// tests' databases are (`ingest%`, the grant docs/testing.md lists).
const DATABASE: &str = "ingest_local_stack";
/// Retention: the days kept, how old the aged rows are and how many, the chunk size (small, so
/// that a few rows make several archive objects), and where the archive goes.
const RETENTION_DAYS: u32 = 30;
const AGED_DAYS: u32 = 40;
const AGED_ROWS: u64 = 29;
const EXPIRE_CHUNK_SIZE: u64 = 10;
const ARCHIVE_BUCKET: &str = "local-stack-archive";
const ARCHIVE_PREFIX: &str = "events/";
/// An event whose device's clock said 2001, received now: young by `received_at`, which the
/// cutoff reads, so it stays.
const WRONG_CLOCK_EVENT: &str = "local-stack-device-clock-2001";
/// `cargo lambda watch`'s output, the functions' stdout with it.
const WATCH_LOG: &str = "cargo-lambda-watch.log";

/// Child processes started in their own process group, stopped group by group on drop, so
/// `cargo lambda watch` takes the function processes it started down with it.
#[derive(Default)]
struct Started(Vec<(String, Child)>);

impl Started {
    fn spawn(&mut self, name: &str, command: &mut Command) -> Result<u32> {
        let child = command
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let pid = child.id().context("a started process has a pid")?;
        self.0.push((name.to_owned(), child));
        Ok(pid)
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        for (name, child) in self.0.iter_mut().rev() {
            if let Some(pid) = child.id() {
                // SIGTERM to the whole group first, so each can stop its own children.
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", "--", &format!("-{pid}")])
                    .status();
                let deadline = Instant::now() + Duration::from_secs(5);
                while Instant::now() < deadline {
                    if matches!(child.try_wait(), Ok(Some(_))) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pid}")])
                    .stderr(Stdio::null())
                    .status();
                eprintln!("stopped {name}");
            }
        }
    }
}

/// moto and `cargo lambda watch` take any credentials; these keep the SDK from looking for
/// real ones (and from asking an instance metadata service that is not there).
const EMULATOR_ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "testing"),
    ("AWS_SECRET_ACCESS_KEY", "testing"),
    ("AWS_REGION", REGION),
];

async fn emulator_config(endpoint: &str) -> aws_config::SdkConfig {
    lambda_harness::moto::sdk_config(endpoint, REGION).await
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn wait_for_port(port: u16, within: Duration, what: &str) -> Result<()> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("{what} did not listen on 127.0.0.1:{port} within {within:?}")
}

/// `DATABASE_URL`, or a container through testcontainers that is removed when this process
/// ends (`lambda_harness::mysql`).
async fn mysql() -> Result<String> {
    let url = lambda_harness::mysql::server_url()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if std::env::var("DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
        println!("MySQL: DATABASE_URL");
    } else {
        println!("MySQL: the container at {url}");
    }
    Ok(url.to_owned())
}

/// Three empty groups in a new VPC, the first two with one rule each this project does not own:
/// an allowed office VPN's, and one open to the internet.
async fn security_groups(ec2: &aws_sdk_ec2::Client) -> Result<Vec<String>> {
    let ids = lambda_harness::moto::security_groups(ec2, "database", 3).await?;
    let office = "office VPN (not managed by sg-sync-fn)";
    lambda_harness::moto::add_rule(ec2, &ids[0], 3306, OFFICE_CIDR, office).await?;
    let open = "someone's quick test (not managed by sg-sync-fn)";
    lambda_harness::moto::add_rule(ec2, &ids[1], 3306, FOREIGN_CIDR, open).await?;
    Ok(ids)
}

/// 3. The fence as the sync reported it: the rules it does not own that admit the port from
///    outside the published ranges, never changed. The office VPN is allowed; the open rule
///    must be there.
fn print_fence(report: &serde_json::Value) -> Result<()> {
    let openings = report["fence_openings"]
        .as_array()
        .with_context(|| format!("the sync's report has no fence_openings: {report}"))?;
    println!(
        "fence: the sync reports {} rule(s) it does not own admitting the port from outside the \
         published ranges (FenceOpenings; reported, never changed; {OFFICE_CIDR} is allowed)",
        openings.len()
    );
    let field = |o: &serde_json::Value, name: &str| o[name].as_str().unwrap_or("-").to_owned();
    for o in openings {
        println!(
            "  {} rule {} {}/{} from {}",
            field(o, "group"),
            field(o, "rule_id"),
            field(o, "protocol"),
            field(o, "ports"),
            field(o, "source")
        );
    }
    let sources: Vec<String> = openings.iter().map(|o| field(o, "source")).collect();
    if !sources.iter().any(|s| s == FOREIGN_CIDR) || sources.iter().any(|s| s == OFFICE_CIDR) {
        bail!(
            "the sync should report {FOREIGN_CIDR} and not {OFFICE_CIDR}; it reported {sources:?}"
        );
    }
    Ok(())
}

async fn print_groups(ec2: &aws_sdk_ec2::Client, groups: &[String]) -> Result<()> {
    println!(
        "\n{:<22} {:>7} {:>7}  rules (first three managed, every other)",
        "group", "managed", "other"
    );
    for g in groups {
        let rules = inbound_rules(ec2, g).await?;
        let (managed, other): (Vec<_>, Vec<_>) = rules
            .iter()
            .partition(|r| r.description.starts_with(sg_sync::rules::MARKER));
        println!("{g:<22} {:>7} {:>7}", managed.len(), other.len());
        for r in managed.iter().take(3) {
            println!(
                "{:<40} managed  tcp/{} {:<18} {}",
                "", r.port, r.cidr, r.description
            );
        }
        for r in &other {
            println!(
                "{:<40} kept     tcp/{} {:<18} {}",
                "", r.port, r.cidr, r.description
            );
        }
    }
    println!();
    Ok(())
}

async fn invoke(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    payload: &str,
) -> Result<serde_json::Value> {
    let out = lambda
        .invoke()
        .function_name(function)
        .payload(payload.as_bytes().to_vec().into())
        .send()
        .await
        .with_context(|| format!("invoking {function} under cargo lambda watch"))?;
    let body = out
        .payload()
        .map(|b| b.as_ref().to_vec())
        .unwrap_or_default();
    let value: serde_json::Value = serde_json::from_slice(&body)
        .with_context(|| format!("{function} answered {}", String::from_utf8_lossy(&body)))?;
    if let Some(error) = out.function_error() {
        bail!("{function} failed ({error}): {value}");
    }
    Ok(value)
}

/// The workspace's binaries and root.
struct Workspace {
    bin: PathBuf,
    root: PathBuf,
}

async fn flow(started: &mut Started, out_dir: &Path) -> Result<()> {
    let workspace = Workspace {
        bin: std::env::current_exe()?
            .parent()
            .context("the binary's folder")?
            .to_path_buf(),
        // tests/local-stack
        root: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .nth(2)
            .context("the workspace root")?
            .to_path_buf(),
    };
    let db_url = migrated_mysql(&workspace).await?;
    let pool = MySqlPool::connect(&db_url)
        .await
        .with_context(|| format!("connecting to {DATABASE}"))?;
    let aged = retention::aged_rows(AGED_ROWS, AGED_DAYS, Utc::now().naive_utc());
    retention::seed(&pool, &aged).await?;
    println!(
        "aged rows: {AGED_ROWS} events received {AGED_DAYS} days ago, ids 1 to {AGED_ROWS} \
         (before every row the functions write), for the retention step"
    );
    let (moto, ec2, groups) = moto_with_groups(out_dir).await?;
    let ranges =
        std::env::var("IP_RANGES_URL").unwrap_or_else(|_| sg_sync::config::OFFICIAL_URL.into());
    let functions = Functions {
        db_url: &db_url,
        moto: &moto,
        groups: &groups,
        ranges: &ranges,
    };
    let endpoint = functions.watch(started, out_dir, &workspace).await?;
    let lambda = aws_sdk_lambda::Client::new(&emulator_config(&endpoint).await);

    // 3. What a sync would change (`sg-sync plan`), the sync, the fence, then the groups.
    plan(&workspace, &moto, &groups, &ranges).await?;
    println!("sync: sg-sync-fn from {ranges}");
    let report = invoke(&lambda, "sg-sync-fn", "{}").await?;
    println!(
        "sync: {} wanted, {} added, {} removed, {} unchanged",
        report["wanted"], report["added"], report["removed"], report["unchanged"]
    );
    print_fence(&report)?;
    print_groups(&ec2, &groups).await?;

    // 4. A short load run through the same Invoke API, verified by migrate.
    invoke(
        &lambda,
        "ingest-fn",
        r#"{"source":"local-stack","val1":1,"val2":2}"#,
    )
    .await
    .context("warming ingest-fn")?;
    let wrong_clock = format!(
        r#"{{"event_id":"{WRONG_CLOCK_EVENT}","source":"local-stack","recorded_at":"2001-09-09T01:46:40Z","val1":1,"val2":2}}"#
    );
    invoke(&lambda, "ingest-fn", &wrong_clock)
        .await
        .context("sending an event recorded in 2001")?;
    load_run(&workspace, &endpoint, out_dir).await?;

    // 5. Retention, then 6. what the functions counted.
    let retained = retention_step(&workspace, &pool, &db_url, &moto, out_dir).await;
    pool.close().await;
    retained?;
    print_metrics(&out_dir.join(WATCH_LOG))
}

/// 5. `ingest-expire` as an operator runs it by hand, archiving to a bucket in moto's S3: what
///    it expired, the objects it wrote (and the first row of them), and that everything younger
///    than the cutoff is left: the load run's events and the one a device recorded in 2001.
async fn retention_step(
    workspace: &Workspace,
    pool: &MySqlPool,
    db_url: &str,
    moto: &str,
    out_dir: &Path,
) -> Result<()> {
    let s3 = retention::MotoS3::new(moto);
    s3.create_bucket(ARCHIVE_BUCKET, REGION).await?;
    let cutoff = expire::chunk::cutoff(Utc::now(), RETENTION_DAYS);
    let before = retention::census(pool, cutoff).await?;
    println!(
        "\nretention: {} rows, {} of them received before the cutoff {cutoff} UTC ({RETENTION_DAYS} days)",
        before.rows, before.older
    );
    let args: Vec<String> = [
        "--older-than-days".to_owned(),
        RETENTION_DAYS.to_string(),
        "--chunk-size".to_owned(),
        EXPIRE_CHUNK_SIZE.to_string(),
    ]
    .into();
    println!(
        "$ ARCHIVE_BUCKET={ARCHIVE_BUCKET} ARCHIVE_PREFIX={ARCHIVE_PREFIX} ingest-expire {}   \
         (DATABASE_URL: {DATABASE}; AWS_ENDPOINT_URL: moto)",
        args.join(" ")
    );
    let report = retention::ExpireCommand {
        program: &workspace.bin.join("ingest-expire"),
        database_url: db_url,
        endpoint: moto,
        region: REGION,
        bucket: ARCHIVE_BUCKET,
        prefix: ARCHIVE_PREFIX,
        args: &args,
    }
    .run()
    .await?;
    let json = out_dir.join("ingest-expire.json");
    std::fs::write(&json, serde_json::to_string_pretty(&report)?)?;
    println!(
        "expired {} rows in {} chunks, archived {} ({} chunk(s) found archived already); stopped \
         at id {} (its chunk holds rows at or after the cutoff); oldest row left received {} \
         (report: {})",
        report["expired"],
        report["chunks"],
        report["archived"],
        report["already_archived_chunks"],
        report["stopped_at_id"],
        report["oldest_received_at"].as_str().unwrap_or("-"),
        json.display()
    );
    let objects = s3.list(ARCHIVE_BUCKET).await?;
    println!(
        "archive: s3://{ARCHIVE_BUCKET}/ in moto, {} object(s), gzip JSON Lines, one per chunk:",
        objects.len()
    );
    let mut archived = Vec::new();
    for o in &objects {
        println!("  {}  {} bytes", o.key, o.size);
        archived.extend(s3.rows(ARCHIVE_BUCKET, &o.key).await?);
    }
    if let Some(first) = archived.first() {
        println!("  its first row: {}", serde_json::to_string(first)?);
    }
    let after = retention::census(pool, cutoff).await?;
    let mut ids: Vec<u64> = archived.iter().map(|r| r.id).collect();
    ids.sort_unstable();
    let aged: Vec<u64> = (1..=AGED_ROWS).collect();
    if report["expired"] != AGED_ROWS || ids != aged || after.older != 0 {
        bail!(
            "the aged rows (ids 1 to {AGED_ROWS}) should be expired and archived once each: \
             expired {}, archived ids {ids:?}, {} rows before the cutoff left",
            report["expired"],
            after.older
        );
    }
    if after.rows != before.rows - AGED_ROWS as i64 {
        bail!(
            "{} rows before, {} after: only the {AGED_ROWS} aged rows should have gone",
            before.rows,
            after.rows
        );
    }
    // The load run's events: as many as its verification found, all still there.
    let load: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("ingest-load.json"))?)?;
    let run_id = load["verify"]["run_id"]
        .as_str()
        .context("ingest-load.json has no verify.run_id")?;
    let stored = load["verify"]["stored"].as_i64().unwrap_or(-1);
    let left = retention::run_rows(pool, run_id).await?;
    let clock = retention::times_of(pool, WRONG_CLOCK_EVENT).await?;
    let Some((received, recorded)) = clock else {
        bail!("{WRONG_CLOCK_EVENT}, received today, was deleted");
    };
    if left != stored {
        bail!("the load run {run_id} had {stored} events stored, {left} are left");
    }
    println!(
        "left: {} rows, none before the cutoff; the load run's {stored} stored events (run \
         {run_id}): {left} still there, 0 missing; the event recorded {recorded} by a device's \
         clock and received {received}: kept",
        after.rows
    );
    Ok(())
}

/// Per function (the `FunctionName` dimension), each metric's values added up over every
/// metrics line in `log`. A line that claims to be one (`"_aws"`) but is not valid EMF fails.
fn metric_totals(log: &str) -> Result<BTreeMap<String, BTreeMap<String, f64>>> {
    let mut totals: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for line in log.lines().filter(|l| l.contains("\"_aws\"")) {
        let doc = emf::parse(line).with_context(|| format!("metrics line {line}"))?;
        let function = doc
            .dimensions
            .get(emf::DIMENSION)
            .cloned()
            .unwrap_or_default();
        let sums = totals.entry(function).or_default();
        *sums.entry(LINES.into()).or_default() += 1.0;
        for name in doc.metrics.keys() {
            *sums.entry(name.clone()).or_default() += doc.sum(name);
        }
    }
    Ok(totals)
}

/// How many lines a function wrote: one per invocation (ingest-fn) or run (sg-sync-fn).
const LINES: &str = "lines";

/// 6. The totals a newcomer would otherwise look up in CloudWatch.
fn print_metrics(log: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(log).with_context(|| format!("reading {}", log.display()))?;
    let totals = metric_totals(&text)?;
    println!(
        "\nmetrics: the functions' EMF lines in {}, added up",
        log.display()
    );
    let shown: [(&str, &[&str]); 2] = [
        (
            "ingest-fn",
            &[
                ingest::metrics::EVENTS_WRITTEN,
                ingest::metrics::EVENTS_DUPLICATE,
                ingest::metrics::EVENTS_INVALID,
                ingest::metrics::STORE_UNAVAILABLE,
                ingest::metrics::RECONNECTS,
            ],
        ),
        (
            "sg-sync-fn",
            &[
                sg_sync::metrics::RULES_ADDED,
                sg_sync::metrics::RULES_REMOVED,
                sg_sync::metrics::SYNC_SUCCEEDED,
                sg_sync::metrics::FENCE_OPENINGS,
            ],
        ),
    ];
    for (function, names) in shown {
        let sums = totals
            .get(function)
            .with_context(|| format!("{function} wrote no metrics line to {}", log.display()))?;
        let figures: Vec<String> = std::iter::once(LINES)
            .chain(names.iter().copied())
            .map(|n| format!("{n} {}", sums.get(n).copied().unwrap_or(0.0)))
            .collect();
        println!("  {function:<11} {}", figures.join(", "));
    }
    Ok(())
}

/// `server` (a MySQL URL) naming database `name` instead.
fn database_url(server: &str, name: &str) -> Result<String> {
    let mut url = url::Url::parse(server).context("the MySQL server's URL")?;
    url.set_path(name);
    Ok(url.to_string())
}

/// [`DATABASE`] on the server of `server`, dropped if it is there and created again: its URL.
async fn fresh_database(server: &str) -> Result<String> {
    use sqlx::Connection;
    let mut admin = sqlx::mysql::MySqlConnection::connect(server)
        .await
        .context("connecting to MySQL")?;
    for statement in [
        format!("DROP DATABASE IF EXISTS `{DATABASE}`"),
        format!("CREATE DATABASE `{DATABASE}`"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
            .execute(&mut admin)
            .await
            .with_context(|| statement)?;
    }
    admin.close().await.context("closing the connection")?;
    database_url(server, DATABASE)
}

/// 1. MySQL: the stack's own database, created afresh and migrated.
async fn migrated_mysql(workspace: &Workspace) -> Result<String> {
    let db_url = fresh_database(&mysql().await?).await?;
    println!("database: {DATABASE}, created afresh (left after the run for a look)");
    let migrate = Command::new(workspace.bin.join("migrate"))
        .kill_on_drop(true)
        .env("DATABASE_URL", &db_url)
        .output()
        .await
        .context("running migrate")?;
    if !migrate.status.success() {
        bail!(
            "migrate failed: {}",
            String::from_utf8_lossy(&migrate.stderr)
        );
    }
    println!(
        "migrations: {}",
        String::from_utf8_lossy(&migrate.stdout).trim()
    );
    Ok(db_url)
}

/// 2. moto with the stand-in groups: its endpoint, a client and the group ids. moto stops
///    when this process exits (`lambda_harness::moto::start`).
async fn moto_with_groups(out_dir: &Path) -> Result<(String, aws_sdk_ec2::Client, Vec<String>)> {
    let log = out_dir.join("moto.log");
    let moto = tokio::task::spawn_blocking(move || lambda_harness::moto::start(&log)).await??;
    let ec2 = aws_sdk_ec2::Client::new(&emulator_config(&moto).await);
    let groups = security_groups(&ec2).await?;
    println!("moto: {moto}, groups {}", groups.join(", "));
    Ok((moto, ec2, groups))
}

/// What both functions are configured with.
struct Functions<'a> {
    db_url: &'a str,
    moto: &'a str,
    groups: &'a [String],
    ranges: &'a str,
}

impl Functions<'_> {
    /// 2. Both functions under `cargo lambda watch`; returns its Invoke API endpoint.
    async fn watch(
        &self,
        started: &mut Started,
        out_dir: &Path,
        workspace: &Workspace,
    ) -> Result<String> {
        let env_file = out_dir.join("functions.env");
        std::fs::write(
            &env_file,
            format!(
                "DATABASE_URL={}\nSECURITY_GROUP_IDS={}\nREGIONS={REGION}\nIP_RANGES_URL={}\n\
                 AWS_ENDPOINT_URL={}\nAWS_REGION={REGION}\nAWS_ACCESS_KEY_ID=testing\n\
                 AWS_SECRET_ACCESS_KEY=testing\nFENCE_ALLOWED_CIDRS={OFFICE_CIDR}\n",
                self.db_url,
                self.groups.join(","),
                self.ranges,
                self.moto,
            ),
        )?;
        let watch_port = free_port()?;
        let watch_log = out_dir.join(WATCH_LOG);
        started.spawn(
            "cargo lambda watch",
            Command::new("cargo")
                .current_dir(&workspace.root)
                .args(["lambda", "watch", "--invoke-address", "127.0.0.1"])
                // The feature set tests/local-stack.sh built with, so the functions are fresh.
                .args(WATCH_FEATURES)
                .args(["--invoke-port", &watch_port.to_string()])
                .arg("--env-file")
                .arg(&env_file)
                .args(["--timeout", "600"])
                .stdout(std::fs::File::create(&watch_log)?)
                .stderr(std::fs::File::create(
                    out_dir.join("cargo-lambda-watch.err"),
                )?),
        )?;
        wait_for_port(watch_port, Duration::from_secs(120), "cargo lambda watch").await?;
        let endpoint = format!("http://127.0.0.1:{watch_port}");
        println!(
            "cargo lambda watch: {endpoint} (it finds both functions built by tests/local-stack.sh; \
             log: {})",
            watch_log.display()
        );
        Ok(endpoint)
    }
}

/// 3. `sg-sync plan`, the CLI an operator runs before a change: what the sync would add and
///    remove per group, with the same settings as the function.
async fn plan(workspace: &Workspace, moto: &str, groups: &[String], ranges: &str) -> Result<()> {
    let out = Command::new(workspace.bin.join("sg-sync"))
        .kill_on_drop(true)
        .args(["plan", "--ranges", ranges])
        .args(["--security-group-ids", &groups.join(",")])
        .args(["--regions", REGION])
        .args(["--fence-allowed-cidrs", OFFICE_CIDR])
        .env("AWS_ENDPOINT_URL", moto)
        .envs(EMULATOR_ENV)
        .output()
        .await
        .context("running sg-sync plan")?;
    if !out.status.success() {
        bail!(
            "sg-sync plan failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let table = String::from_utf8_lossy(&out.stdout);
    println!(
        "$ sg-sync plan --ranges {ranges} --security-group-ids {} --regions {REGION} \
         --fence-allowed-cidrs {OFFICE_CIDR}",
        groups.join(",")
    );
    // The header, each group's line and its first changes: the whole list is the sync's.
    let mut shown = 0;
    for line in table.lines() {
        let change = line.starts_with("    ");
        shown = if change { shown + 1 } else { 0 };
        if shown <= 3 {
            println!("{line}");
        } else if shown == 4 {
            println!("    …");
        }
    }
    Ok(())
}

/// 4. ingest-load through the Invoke API, verified by migrate, with its plot.
async fn load_run(workspace: &Workspace, endpoint: &str, out_dir: &Path) -> Result<()> {
    let plot = out_dir.join("latency.png");
    let json = out_dir.join("ingest-load.json");
    let status = Command::new(workspace.bin.join("ingest-load"))
        // Ctrl-C drops this future: the load run must stop with it.
        .kill_on_drop(true)
        .args(["--function", "ingest-fn", "--endpoint", endpoint])
        .args(["--concurrency", "4", "--requests", "400", "--batch", "5"])
        // migrate answers from inside the fence, through the same Invoke API.
        .args(["--verify-function", "migrate"])
        .envs(EMULATOR_ENV)
        .arg("--json")
        .arg(&json)
        .arg("--plot")
        .arg(&plot)
        .status()
        .await
        .context("running ingest-load")?;
    if !status.success() {
        bail!("ingest-load failed ({status})");
    }
    println!(
        "\nplot: {}\nJSON report: {}",
        plot.display(),
        json.display()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let out_dir = std::env::var_os("LOCAL_STACK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("lambda-rds-ingest-local"));
    if let Err(e) = std::fs::create_dir_all(&out_dir) {
        eprintln!("local-stack: {}: {e}", out_dir.display());
        return std::process::ExitCode::FAILURE;
    }
    let mut started = Started::default();
    let terminated = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    let result = tokio::select! {
        r = flow(&mut started, &out_dir) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted (Ctrl-C)")),
        _ = terminated => Err(anyhow::anyhow!("terminated")),
    };
    drop(started);
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("local-stack: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_lines_are_added_up_per_function_and_other_lines_skipped() {
        let (ingest, ingest_lines) =
            emf::Emitter::in_memory("LambdaRdsIngest", "ingest-fn").unwrap();
        let (sync, sync_lines) = emf::Emitter::in_memory("LambdaRdsIngest", "sg-sync-fn").unwrap();
        ingest.emit(&[emf::Metric::count("EventsWritten", 5)]);
        ingest.emit(&[
            emf::Metric::count("EventsWritten", 4),
            emf::Metric::count("EventsDuplicate", 1),
        ]);
        sync.emit(&[emf::Metric::count("RulesAdded", 130)]);
        let mut log = vec![
            "INFO Lambda runtime invoke{requestId=\"1\"}: sync finished".to_owned(),
            r#"{"level":"INFO","message":"a JSON log line"}"#.to_owned(),
        ];
        log.extend(ingest_lines.take());
        log.extend(sync_lines.take());
        let totals = metric_totals(&log.join("\n")).unwrap();
        assert_eq!(totals["ingest-fn"]["EventsWritten"], 9.0);
        assert_eq!(totals["ingest-fn"]["EventsDuplicate"], 1.0);
        assert_eq!(totals["ingest-fn"][LINES], 2.0);
        assert_eq!(totals["sg-sync-fn"]["RulesAdded"], 130.0);
        // A broken metrics line is an error, not a quiet zero.
        assert!(metric_totals(r#"{"_aws": {}, "EventsWritten": 1}"#).is_err());
    }
}
