//! Cold starts, each a fresh process, interleaved with their floor: a no-op lambda_runtime
//! function's cold start and one plain connect to the same database, so that the ratio compares
//! figures from the same minutes of a machine whose speed drifts.

use std::process::Child;
use std::time::{Duration, Instant};

use lambda_harness::runtime_api::{RuntimeApi, spawn_function};
use serde_json::json;
use sqlx::mysql::MySqlConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::{DEPLOYED_LOGGING, cpu_time, function_binary, report};

/// Cold starts per variant, each a fresh process: one sample varied 4 to 25 ms run to run.
pub(crate) const COLD: usize = 10;

/// `COLD` cold starts of ingest-fn and of its floor, alternating.
pub(crate) struct ColdStarts {
    /// The last ingest-fn environment, left warm, and its Runtime API.
    pub(crate) api: RuntimeApi,
    pub(crate) child: Child,
    /// ingest-fn: process start to its first event committed.
    pub(crate) ingest: Vec<Duration>,
    /// The no-op function: process start to its first response posted.
    pub(crate) noop: Vec<Duration>,
    /// One connect as ingest-fn opens its first (TCP, TLS when `db` asks for it, the MySQL
    /// handshake and the session settings sqlx sends after it), from this process.
    pub(crate) connect: Vec<Duration>,
    /// What each process had spent when its first answer came: ingest-fn's, the no-op's.
    ingest_spent: Vec<Spent>,
    noop_spent: Vec<Spent>,
}

/// A process's CPU time (user and system) and page faults so far: where a cold start's time
/// goes that is not waiting (for the database, say).
#[derive(Clone, Copy)]
struct Spent {
    cpu: Duration,
    faults: u64,
}

impl Spent {
    fn of(pid: u32) -> Spent {
        // /proc/<pid>/stat: after the command's closing parenthesis, the 8th field is minflt and
        // the 10th majflt (proc(5)).
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(") ")
            .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Spent {
            cpu: cpu_time(pid),
            faults: field(7) + field(9),
        }
    }
}

/// The median of `spent`: the lower one of an even count, as [`report`]'s p50.
fn median(spent: &[Spent]) -> (f64, u64) {
    let mut cpu: Vec<Duration> = spent.iter().map(|s| s.cpu).collect();
    let mut faults: Vec<u64> = spent.iter().map(|s| s.faults).collect();
    cpu.sort();
    faults.sort();
    let mid = spent.len().saturating_sub(1) / 2;
    (
        cpu.get(mid).map_or(f64::NAN, |c| c.as_secs_f64() * 1e3),
        faults.get(mid).copied().unwrap_or(0),
    )
}

/// `COLD` cold starts of the function under test ([`function_binary`]) with `env`, each timed
/// from its process start to its first event committed, the first with the binary read from
/// disk; after each, the floor's two parts: a no-op function's cold start and one connect with
/// `db`, the options the function derives from `env`. Every ingest-fn environment but the last
/// is shut down as Lambda does (which closes its connection); the last is returned warm.
pub(crate) async fn cold_starts(env: &[(&str, &str)], db: &MySqlConnectOptions) -> ColdStarts {
    let env = [env, &DEPLOYED_LOGGING].concat();
    let binary = function_binary();
    lambda_harness::runtime_api::evict_from_page_cache(&binary)
        .unwrap_or_else(|e| panic!("drop {binary}'s pages from the page cache: {e}"));
    let (mut ingest, mut noop, mut connect) = (Vec::new(), Vec::new(), Vec::new());
    let (mut ingest_spent, mut noop_spent) = (Vec::new(), Vec::new());
    loop {
        let api = RuntimeApi::start().await;
        let (mut child, started) = spawn_function(&binary, &api, &env);
        // Each Runtime API numbers its requests from 0, so the key must come from the event.
        let event_id = format!("cold-{}", ingest.len());
        let first = api
            .invoke(
                json!({"event_id": event_id, "source": "cold", "val1": 1, "val2": 2}).to_string(),
            )
            .await;
        assert!(!first.error, "{}", first.body);
        ingest.push(first.done - started);
        ingest_spent.push(Spent::of(child.id()));
        let last = ingest.len() == COLD;
        if !last {
            let shutdown = api.shutdown(&mut child).await;
            assert!(shutdown.exited_in_time, "{shutdown:?}");
        }
        let (took, spent) = noop_cold_start().await;
        noop.push(took);
        noop_spent.push(spent);
        connect.push(plain_connect(db).await);
        if last {
            return ColdStarts {
                api,
                child,
                ingest,
                noop,
                connect,
                ingest_spent,
                noop_spent,
            };
        }
    }
}

/// The no-op function (this bench re-run with `INVOKE_BENCH_ROLE=noop`) from its process
/// start to its first response posted, and what it had spent by then.
async fn noop_cold_start() -> (Duration, Spent) {
    let api = RuntimeApi::start().await;
    let me = std::env::current_exe().expect("the bench binary's path");
    let (mut child, started) = spawn_function(
        me.to_str().expect("a UTF-8 path"),
        &api,
        &[("INVOKE_BENCH_ROLE", "noop")],
    );
    let first = api
        .invoke(json!({"source": "cold", "val1": 1, "val2": 2}).to_string())
        .await;
    assert!(!first.error, "{}", first.body);
    let spent = Spent::of(child.id());
    child.kill().expect("kill the no-op function");
    child.wait().expect("wait for the no-op function");
    (first.done - started, spent)
}

/// One connect with `db`, timed to the usable connection, then closed.
async fn plain_connect(db: &MySqlConnectOptions) -> Duration {
    let started = Instant::now();
    let conn = db
        .connect()
        .await
        .expect("connect to the benchmark database");
    let took = started.elapsed();
    conn.close().await.expect("close the connection");
    took
}

impl ColdStarts {
    /// Prints the three series and the ratio of ingest-fn's median cold start to the floor's
    /// (the no-op's median plus the connect's); `label` names the variant, `goal` the absolute
    /// target.
    pub(crate) fn report(&self, label: &str, goal: &str) -> f64 {
        let cold_p50 = report(
            &format!("{label}cold start, process start to first commit"),
            self.ingest.clone(),
        );
        let noop_p50 = report(
            &format!("{label}floor: no-op function cold start"),
            self.noop.clone(),
        );
        let connect_p50 = report(
            &format!("{label}floor: one connect, as ingest-fn's"),
            self.connect.clone(),
        );
        let floor = noop_p50 + connect_p50;
        // Pairs taken in the same minutes: how steady the ratio is across the run.
        let mut pairs: Vec<f64> = (0..self.ingest.len())
            .map(|i| {
                self.ingest[i].as_secs_f64()
                    / (self.noop[i].as_secs_f64() + self.connect[i].as_secs_f64())
            })
            .collect();
        pairs.sort_by(f64::total_cmp);
        println!(
            "{label}cold start p50 {cold_p50:.2} ms = {:.2} x the floor (no-op {noop_p50:.2} + \
             connect {connect_p50:.2} = {floor:.2} ms; goal <= 1.3 x; pairs {:.2} to {:.2}); \
             {goal}",
            cold_p50 / floor,
            pairs.first().unwrap_or(&f64::NAN),
            pairs.last().unwrap_or(&f64::NAN),
        );
        let (ingest_cpu, ingest_faults) = median(&self.ingest_spent);
        let (noop_cpu, noop_faults) = median(&self.noop_spent);
        println!(
            "{label}spent by the first answer, median: ingest-fn CPU {ingest_cpu:.2} ms, \
             {ingest_faults} page faults; no-op CPU {noop_cpu:.2} ms, {noop_faults} page faults"
        );
        cold_p50
    }
}
