//! ingest-fn through a Lambda Runtime API on loopback against a real MySQL-compatible server:
//! cold start, warm latency per invocation, SQS batch throughput and peak memory, each beside
//! its floor measured in the same run: for one event, a no-op lambda_runtime function and a bare
//! sqlx INSERT over an open connection; for SQS batches of 100 (`invoke/sqs.rs`), the no-op
//! function handed the same batches and one 100-row `INSERT IGNORE`, in alternating rounds; for
//! the cold start (`invoke/cold.rs`), the no-op function's cold start and one connect,
//! alternating with ingest-fn's.
//!
//!     DATABASE_URL=mysql://user:password@127.0.0.1:3306/db cargo bench -p ingest-fn --bench invoke
//!
//! Without `DATABASE_URL` it runs against a container through testcontainers
//! (`lambda_harness::mysql`).
//!
//! The function under test is the release `ingest-fn` binary with the deployed log settings
//! (JSON at INFO), or the binary `INVOKE_BENCH_FUNCTION` names (an A/B against another
//! commit's build); the no-op function is this bench binary re-run with `INVOKE_BENCH_ROLE=noop`.
//!
//! Then the same over TLS as production runs it (`verify-identity`, a CA bundle the size of
//! RDS's): a throwaway server serving a certificate from a CA generated here
//! (`lambda_harness::mariadb`: the machine's `mariadbd` with `DATABASE_URL`, else a container of
//! the same image), the function loading `DB_CA_BUNDLE` (tests/test-all.sh writes it) plus that
//! CA, and the bare INSERT over TLS as the floor. Skipped, saying so, without that server or
//! `DB_CA_BUNDLE`.
//!
//! With `INVOKE_BENCH_PROFILE=<folder>` it measures nothing and instead runs ingest-fn and the
//! no-op function under callgrind (`invoke/profile.rs`): instructions per SQS batch and at init.

#[path = "invoke/cold.rs"]
mod cold;
#[path = "invoke/profile.rs"]
mod profile;
#[path = "invoke/sqs.rs"]
mod sqs;

use std::str::FromStr;
use std::time::{Duration, Instant};

use lambda_harness::runtime_api::{RuntimeApi, spawn_function};

use cold::{COLD, cold_starts};
use sqs::{SQS_BATCH, SQS_BATCHES, sqs_rounds};

use ingest::MIGRATOR;
use serde_json::{Value, json};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

const WARM: usize = 3000;
/// The deployed function's log settings (infra/lib/rust-function.ts: JSON at INFO), which Lambda
/// passes to the runtime: at INFO the runtime's span per invocation is recorded, so it is paid
/// here too.
const DEPLOYED_LOGGING: [(&str, &str); 2] = [
    ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
    ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
];

/// A process's memory in KiB from /proc/<pid>/status: `VmHWM` (peak resident), then what is
/// resident now, as `RssAnon` (heap, stacks) and `RssFile` (the binary's and libraries' pages).
fn memory_kib(pid: u32) -> Option<[u64; 3]> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some([field("VmHWM:")?, field("RssAnon:")?, field("RssFile:")?])
}

/// CPU time a process has run so far, from the scheduler (/proc/<pid>/schedstat, in ns).
pub(crate) fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).unwrap();
    Duration::from_nanos(stat.split_whitespace().next().unwrap().parse().unwrap())
}

/// The server's statement and byte counters: what reached it, per invocation, whoever sent
/// it. Global counters, so run the bench on an otherwise idle server.
const WIRE: [&str; 4] = [
    "Com_stmt_execute",
    "Questions",
    "Bytes_received",
    "Bytes_sent",
];

async fn wire_counters(admin: &mut sqlx::MySqlConnection) -> Vec<f64> {
    // SHOW cannot be prepared: sent as text, the names are the constants above.
    let names: Vec<String> = WIRE.iter().map(|n| format!("'{n}'")).collect();
    let show = format!(
        "SHOW GLOBAL STATUS WHERE Variable_name IN ({})",
        names.join(", ")
    );
    let rows: Vec<(String, String)> = sqlx::query_as(AssertSqlSafe(show))
        .persistent(false)
        .fetch_all(&mut *admin)
        .await
        .unwrap();
    WIRE.iter()
        .map(|name| {
            let (_, value) = rows.iter().find(|(n, _)| n == name).unwrap();
            value.parse().unwrap()
        })
        .collect()
}

/// What each of `n` invocations (or statements) cost the process in CPU and, when counted
/// (`wire`: the counters after and before), the server in statements and bytes.
fn per_call(name: &str, n: usize, cpu: Duration, wire: Option<(&[f64], &[f64])>) {
    let server = wire.map_or_else(String::new, |(after, before)| {
        let each: Vec<String> = WIRE
            .iter()
            .zip(after.iter().zip(before))
            .map(|(k, (a, b))| format!("{k} {:.1}", (a - b) / n as f64))
            .collect();
        format!("; at the server: {}", each.join(", "))
    });
    println!(
        "{name:<44} CPU {:>5.1} us each{server}",
        cpu.as_secs_f64() * 1e6 / n as f64
    );
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

fn report(name: &str, mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    let p50 = percentile(&samples, 0.50);
    println!(
        "{name:<44} n={:<5} p50 {p50:>6.3} ms  p90 {:>6.3} ms  p99 {:>6.3} ms  max {:>7.3} ms",
        samples.len(),
        percentile(&samples, 0.90),
        percentile(&samples, 0.99),
        samples.last().unwrap().as_secs_f64() * 1e3
    );
    p50
}

async fn warm_runs(api: &RuntimeApi, n: usize, event: impl Fn(usize) -> Value) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let out = api.invoke(event(i).to_string()).await;
        assert!(!out.error, "invocation failed: {}", out.body);
        samples.push(out.latency);
    }
    samples
}

/// The floor's function: the runtime reads the event into a `Value`, as a handler of
/// `LambdaEvent<Value>` has it read (ingest-fn's reads a single event so, but an SQS batch
/// straight into its records, which costs less: `handler::handle_payload`), and the handler
/// answers an SQS event as ingest-fn answers a batch without invalid messages, any other event
/// with itself.
async fn noop_function() {
    let f = lambda_runtime::service_fn(|e: lambda_runtime::LambdaEvent<Value>| async move {
        let answer = if e.payload.get("Records").is_some() {
            json!({"batchItemFailures": []})
        } else {
            e.payload
        };
        Ok::<Value, lambda_runtime::Error>(answer)
    });
    lambda_runtime::run(f).await.unwrap();
}

fn reading(i: usize) -> Value {
    json!({"source": format!("bench-{}", i % 16), "val1": i as f64 * 0.5, "val2": 20.0 + (i % 100) as f64 / 10.0})
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if std::env::var("INVOKE_BENCH_ROLE").as_deref() == Ok("noop") {
        return noop_function().await;
    }
    // cargo bench passes --bench; nothing else is taken.
    // DATABASE_URL, else a container through testcontainers.
    let url = lambda_harness::mysql::test_server_url().await;
    let base = MySqlConnectOptions::from_str(url).unwrap();
    let name = format!("ingest_bench_{}", std::process::id());
    let mut admin = base.connect().await.unwrap();
    sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
        .execute(&mut admin)
        .await
        .unwrap();
    let db = base.clone().database(&name);
    let pool = MySqlPool::connect_with(db.clone()).await.unwrap();
    MIGRATOR.run(&pool).await.unwrap();
    let parsed = url::Url::parse(url).unwrap();
    let mut db_url = parsed.clone();
    db_url.set_path(&name);
    let db_url = db_url.to_string();

    if let Some(folder) = std::env::var_os("INVOKE_BENCH_PROFILE") {
        // And ingest-fn's init over TLS, when it can be had.
        let tls = match std::env::var("DB_CA_BUNDLE") {
            Ok(bundle) => tls_database(&bundle)
                .await
                .inspect_err(|e| println!("TLS: skipped ({e})"))
                .ok(),
            Err(_) => None,
        };
        profile::run(std::path::Path::new(&folder), &db_url, tls.as_ref()).await;
        pool.close().await;
        sqlx::query(AssertSqlSafe(format!("DROP DATABASE `{name}`")))
            .execute(&mut admin)
            .await
            .unwrap();
        return;
    }

    // Baseline 1: a bare prepared INSERT over an open connection.
    let before = wire_counters(&mut admin).await;
    let bare_cpu = cpu_time(std::process::id());
    let bare = bare_inserts(&db).await;
    let bare_cpu = cpu_time(std::process::id()) - bare_cpu;
    let bare_wire = wire_counters(&mut admin).await;

    // Baseline 2: a no-op lambda_runtime function.
    let api = RuntimeApi::start().await;
    let me = std::env::current_exe().unwrap();
    let (mut noop, _) =
        spawn_function(me.to_str().unwrap(), &api, &[("INVOKE_BENCH_ROLE", "noop")]);
    let noop_cpu = cpu_time(noop.id());
    let noop_samples = warm_runs(&api, WARM, reading).await;
    let noop_cpu = cpu_time(noop.id()) - noop_cpu;
    noop.kill().unwrap();
    noop.wait().unwrap();
    drop(api);

    // The function: cold starts (beside the no-op's and one connect with the options ingest-fn
    // reads from the same DATABASE_URL), then warm single events and SQS batches in the last
    // environment, the batches beside the no-op function and an open connection.
    let function_db = MySqlConnectOptions::from_str(&db_url).unwrap();
    let mut cold = cold_starts(&[("DATABASE_URL", &db_url)], &function_db).await;
    let (api, child) = (&cold.api, &mut cold.child);
    let warm_before = wire_counters(&mut admin).await;
    let warm_cpu = cpu_time(child.id());
    let warm = warm_runs(api, WARM, reading).await;
    let warm_cpu = cpu_time(child.id()) - warm_cpu;
    let warm_wire = wire_counters(&mut admin).await;
    let noop_api = RuntimeApi::start().await;
    let (mut noop, _) = spawn_function(
        me.to_str().unwrap(),
        &noop_api,
        &[("INVOKE_BENCH_ROLE", "noop")],
    );
    let mut floor_conn = function_db.connect().await.unwrap();
    let sqs = sqs_rounds(api, &noop_api, &mut floor_conn).await;
    floor_conn.close().await.unwrap();
    noop.kill().unwrap();
    noop.wait().unwrap();
    let memory = memory_kib(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    // Each side's untimed first batch included.
    let batches = SQS_BATCHES + 1;
    let counts: (i64, i64) = sqlx::query_as(
        "SELECT COUNT(CASE WHEN event_id NOT LIKE 'bare-%' THEN 1 END), \
         COUNT(CASE WHEN event_id LIKE 'bare-%' THEN 1 END) FROM events",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        counts,
        (
            (COLD + WARM + batches * SQS_BATCH) as i64,
            (WARM + batches * SQS_BATCH) as i64
        ),
        "every event stored once, ingest-fn's and the floors'"
    );

    println!(
        "ingest-fn through a loopback Runtime API, {}",
        parsed.host_str().unwrap_or("?")
    );
    let bare_p50 = report("bare sqlx INSERT, open connection", bare);
    let noop_p50 = report("no-op lambda_runtime function", noop_samples);
    let warm_p50 = report("ingest-fn, 1 event per invocation (warm)", warm);
    let target = 1.15 * (noop_p50 + bare_p50);
    println!("warm p50 {warm_p50:.3} ms vs target 1.15 x (no-op + bare insert) = {target:.3} ms");
    // The bench's own CPU for the bare loop includes its client side only; each function's is
    // the whole process (runtime, handler, driver).
    per_call(
        "bare sqlx INSERT (this process)",
        WARM,
        bare_cpu,
        Some((&bare_wire, &before)),
    );
    per_call("no-op function", WARM, noop_cpu, None);
    per_call(
        "ingest-fn, 1 event",
        WARM,
        warm_cpu,
        Some((&warm_wire, &warm_before)),
    );
    cold.report("", "median vs target < 10 ms");
    sqs.report();
    match memory {
        Some([peak, anon, file]) => println!(
            "peak memory (VmHWM): {:.1} MB; resident at the end: {:.1} MB anonymous, {:.1} MB file-backed",
            peak as f64 / 1024.0,
            anon as f64 / 1024.0,
            file as f64 / 1024.0
        ),
        None => println!("peak memory: /proc not readable"),
    }
    match std::env::var("DB_CA_BUNDLE") {
        Ok(bundle) => tls(&bundle, noop_p50).await,
        Err(_) => println!("TLS: skipped (needs DB_CA_BUNDLE as tests/test-all.sh writes it)"),
    }
    pool.close().await;
    sqlx::query(AssertSqlSafe(format!("DROP DATABASE `{name}`")))
        .execute(&mut admin)
        .await
        .unwrap();
}

/// `WARM` bare prepared INSERTs over one open connection to `db`.
async fn bare_inserts(db: &MySqlConnectOptions) -> Vec<Duration> {
    let mut conn = db.connect().await.unwrap();
    let mut samples = Vec::with_capacity(WARM);
    let now = chrono::Utc::now().naive_utc();
    for i in 0..WARM {
        let start = Instant::now();
        sqlx::query("INSERT INTO events (event_id, source, recorded_at, received_at, val1, val2, payload) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(format!("bare-{i}"))
            .bind("bench")
            .bind(now)
            .bind(now)
            .bind(i as f64)
            .bind(1.0)
            .bind(None::<String>)
            .execute(&mut conn)
            .await
            .unwrap();
        samples.push(start.elapsed());
    }
    conn.close().await.unwrap();
    samples
}

/// The function under test: this build's `ingest-fn`, or `INVOKE_BENCH_FUNCTION`, another
/// build of it (an A/B against an earlier commit's binary, run in the same minutes).
pub(crate) fn function_binary() -> String {
    std::env::var("INVOKE_BENCH_FUNCTION")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_ingest-fn").to_owned())
}

/// A throwaway TLS server with the `tlsbench` database migrated, and how ingest-fn reaches it.
pub(crate) struct TlsDatabase {
    /// Stops the server when dropped.
    _server: lambda_harness::mariadb::TlsServer,
    /// `DATABASE_URL`, `DB_TLS` and `DB_CA_BUNDLE` for ingest-fn.
    url: String,
    bundle: String,
    /// The same as connect options.
    options: MySqlConnectOptions,
    certificates: usize,
}

impl TlsDatabase {
    pub(crate) fn env(&self) -> [(&str, &str); 3] {
        [
            ("DATABASE_URL", self.url.as_str()),
            ("DB_TLS", "verify-identity"),
            ("DB_CA_BUNDLE", self.bundle.as_str()),
        ]
    }
}

/// Starts the TLS server, its CA appended to `rds_bundle`'s certificates in the bundle
/// ingest-fn loads; `Err` says why there is none.
pub(crate) async fn tls_database(rds_bundle: &str) -> Result<TlsDatabase, String> {
    let (server, ca, _) = lambda_harness::mariadb::tls_server(&[])
        .await
        .map_err(|e| e.to_string())?;
    let rds = std::fs::read_to_string(rds_bundle).expect("DB_CA_BUNDLE is readable");
    let bundle = ca.with_extension("bundle.pem");
    std::fs::write(&bundle, rds + &std::fs::read_to_string(&ca).unwrap()).unwrap();
    let certificates = std::fs::read_to_string(&bundle)
        .unwrap()
        .matches("BEGIN CERTIFICATE")
        .count();
    let url = format!("mysql://root@localhost:{}/tlsbench", server.port);
    let options = MySqlConnectOptions::from_str(&url)
        .unwrap()
        .ssl_mode(sqlx::mysql::MySqlSslMode::VerifyIdentity)
        .ssl_ca(&bundle);
    let mut admin = options.clone().database("mysql").connect().await.unwrap();
    sqlx::query("CREATE DATABASE tlsbench")
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let pool = MySqlPool::connect_with(options.clone()).await.unwrap();
    MIGRATOR.run(&pool).await.unwrap();
    pool.close().await;
    Ok(TlsDatabase {
        _server: server,
        url,
        bundle: bundle.display().to_string(),
        options,
        certificates,
    })
}

/// The TLS figures: verify-identity against a server whose CA is one of ~120 in the bundle.
async fn tls(rds_bundle: &str, noop_p50: f64) {
    let database = match tls_database(rds_bundle).await {
        Ok(database) => database,
        Err(e) => {
            println!("TLS: skipped ({e})");
            return;
        }
    };
    let tls = &database.options;
    let certificates = database.certificates;
    let mut admin = tls.clone().database("mysql").connect().await.unwrap();
    let before = wire_counters(&mut admin).await;
    let floor_cpu = cpu_time(std::process::id());
    let floor = bare_inserts(tls).await;
    let floor_cpu = cpu_time(std::process::id()) - floor_cpu;
    let floor_wire = wire_counters(&mut admin).await;

    // The floor's connect: `tls`, the options ingest-fn derives from the same settings.
    let mut cold = cold_starts(&database.env(), tls).await;
    let (api, child) = (&cold.api, &mut cold.child);
    let warm_before = wire_counters(&mut admin).await;
    let warm_cpu = cpu_time(child.id());
    let warm = warm_runs(api, WARM, reading).await;
    let warm_cpu = cpu_time(child.id()) - warm_cpu;
    let warm_wire = wire_counters(&mut admin).await;
    let shutdown = api.shutdown(child).await;
    assert!(shutdown.exited_in_time, "{shutdown:?}");

    println!(
        "TLS verify-identity, {certificates} certificates in DB_CA_BUNDLE, throwaway TLS server"
    );
    let floor_p50 = report("bare sqlx INSERT over TLS, open connection", floor);
    let warm_p50 = report("ingest-fn over TLS, 1 event per invocation", warm);
    let target = 1.15 * (noop_p50 + floor_p50);
    println!("TLS warm p50 {warm_p50:.3} ms vs target 1.15 x (no-op + TLS floor) = {target:.3} ms");
    per_call(
        "bare sqlx INSERT over TLS (this process)",
        WARM,
        floor_cpu,
        Some((&floor_wire, &before)),
    );
    per_call(
        "ingest-fn over TLS, 1 event",
        WARM,
        warm_cpu,
        Some((&warm_wire, &warm_before)),
    );
    cold.report("TLS ", "median vs target < 20 ms");
}
