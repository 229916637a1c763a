//! What a capacity measurement reads besides latency: CPU time of the machine and of each
//! process involved (the database server, the function environments, the load tool itself)
//! and the database's own counters (commit fsyncs, connections), each as a rate over a
//! measured interval; and from those, which resource bounded the throughput.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use sqlx::Row;
use sqlx::mysql::MySqlConnection;

use std::sync::Arc;

use lambda_harness::environments::Environments;
use load::cost::{self, Cost, Delivery};
use load::endpoint::Endpoint;
use load::events::Events;
use load::run::{Latency, Limits, RunError, Shape, run};

/// CPU seconds used so far: the machine's busy time (all cores) or one process's.
fn proc_stat_seconds(path: &str, ticks_per_s: f64) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    if path == "/proc/stat" {
        // cpu  user nice system idle iowait irq softirq steal ...
        let fields: Vec<f64> = text
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        let busy: f64 = fields.iter().sum::<f64>() - fields.get(3)? - fields.get(4)?;
        return Some(busy / ticks_per_s);
    }
    // The command name may hold spaces; the fields after ')' are fixed: utime and stime are
    // the 12th and 13th.
    let after = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / ticks_per_s)
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`, 100 on Linux unless told otherwise).
pub fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// The processes a measurement watches.
#[derive(Debug, Clone, Default)]
struct Watched {
    database: Option<u32>,
    functions: Vec<u32>,
    /// This process: the load and the local Invoke and Runtime APIs, Lambda's part.
    client: u32,
}

/// One reading of every counter.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    machine_cpu_s: f64,
    database_cpu_s: Option<f64>,
    functions_cpu_s: f64,
    client_cpu_s: f64,
    status: BTreeMap<String, f64>,
}

/// The server's counters a sample reads (`SHOW GLOBAL STATUS`), on MySQL and MariaDB alike.
const STATUS: &[&str] = &[
    "Innodb_os_log_fsyncs",
    "Innodb_data_fsyncs",
    "Com_insert",
    "Threads_connected",
    "Threads_running",
];

async fn sample(
    watched: &Watched,
    ticks: f64,
    db: &mut MySqlConnection,
) -> Result<Sample, sqlx::Error> {
    let rows = sqlx::query("SHOW GLOBAL STATUS")
        .fetch_all(&mut *db)
        .await?;
    let mut status = BTreeMap::new();
    for row in rows {
        let name: String = row.try_get(0)?;
        if STATUS.iter().any(|s| s.eq_ignore_ascii_case(&name)) {
            let value: String = row.try_get(1)?;
            if let Ok(v) = value.parse() {
                status.insert(name, v);
            }
        }
    }
    let pid = |p: u32| proc_stat_seconds(&format!("/proc/{p}/stat"), ticks);
    Ok(Sample {
        machine_cpu_s: proc_stat_seconds("/proc/stat", ticks).unwrap_or(0.0),
        database_cpu_s: watched.database.and_then(pid),
        functions_cpu_s: watched.functions.iter().filter_map(|&p| pid(p)).sum(),
        client_cpu_s: pid(watched.client).unwrap_or(0.0),
        status,
    })
}

/// The server's process id, when it runs on this machine and its pid file is readable.
pub async fn database_pid(db: &mut MySqlConnection) -> Option<u32> {
    let file: Option<String> = sqlx::query_scalar("SELECT @@pid_file")
        .fetch_one(db)
        .await
        .ok()?;
    let pid: u32 = std::fs::read_to_string(file?).ok()?.trim().parse().ok()?;
    std::path::Path::new(&format!("/proc/{pid}"))
        .exists()
        .then_some(pid)
}

/// What the resources did between two samples, per second of the interval.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Usage {
    /// Cores busy, machine-wide, and out of how many.
    pub machine_cores_busy: f64,
    pub machine_cores: usize,
    pub database_cores: Option<f64>,
    pub functions_cores: f64,
    pub client_cores: f64,
    /// MySQL counts redo log fsyncs apart; MariaDB 10.11 only in all InnoDB fsyncs.
    pub log_fsyncs_per_s: Option<f64>,
    pub fsyncs_per_s: Option<f64>,
    pub inserts_per_s: Option<f64>,
    pub threads_connected: Option<f64>,
}

impl Usage {
    pub fn between(before: &Sample, after: &Sample, elapsed: Duration, cores: usize) -> Usage {
        let s = elapsed.as_secs_f64().max(1e-9);
        let rate = |name: &str| Some((after.status.get(name)? - before.status.get(name)?) / s);
        Usage {
            machine_cores_busy: (after.machine_cpu_s - before.machine_cpu_s) / s,
            machine_cores: cores,
            database_cores: after
                .database_cpu_s
                .zip(before.database_cpu_s)
                .map(|(a, b)| (a - b) / s),
            functions_cores: (after.functions_cpu_s - before.functions_cpu_s) / s,
            client_cores: (after.client_cpu_s - before.client_cpu_s) / s,
            log_fsyncs_per_s: rate("Innodb_os_log_fsyncs"),
            fsyncs_per_s: rate("Innodb_data_fsyncs"),
            inserts_per_s: rate("Com_insert"),
            threads_connected: after.status.get("Threads_connected").copied(),
        }
    }

    /// What bounded the throughput: the machine's CPU when it is (nearly) all busy, named by
    /// its largest consumer; else the round trips themselves (each request waits for its
    /// commit's fsync, and a closed loop with N in flight cannot go faster than N / latency).
    /// 80 %: with a dozen processes waking each other up on two cores, the rest is the
    /// scheduler's and the fsyncs' idle time, not spare capacity.
    pub fn bound(&self) -> String {
        let busy = self.machine_cores_busy / self.machine_cores.max(1) as f64;
        if busy < 0.8 {
            return format!(
                "latency: {:.0} % of {} cores busy, each request waits for its commit",
                busy * 100.0,
                self.machine_cores
            );
        }
        let database = self.database_cores.unwrap_or(0.0);
        let ours = database + self.functions_cores + self.client_cores;
        let mut consumers = [
            ("database", database),
            ("function environments", self.functions_cores),
            ("load client with its local Lambda APIs", self.client_cores),
            (
                "rest of the machine",
                (self.machine_cores_busy - ours).max(0.0),
            ),
        ];
        consumers.sort_by(|a, b| b.1.total_cmp(&a.1));
        format!(
            "CPU: {:.0} % of {} cores busy, most of it the {} ({:.2} cores)",
            busy * 100.0,
            self.machine_cores,
            consumers[0].0,
            consumers[0].1
        )
    }
}

/// One point of a sweep: N environments, requests of `batch` events, a closed loop of N.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub environments: usize,
    pub batch: usize,
    pub requests: u64,
    pub errors: u64,
    pub events_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The function's billed duration per request (the local Runtime API's, rounded up to
    /// the millisecond as Lambda bills), and what a million events would cost at it on arm64.
    pub billed_ms_per_request: f64,
    pub cost_per_million_events: Option<Cost>,
    pub usage: Usage,
    pub bound: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("reading the server's counters: {0}")]
    Counters(#[from] sqlx::Error),
}

/// N environments of a function against one database, behind one local Invoke API, and the
/// processes a measurement of them watches.
pub struct LocalFunction {
    environments: Arc<Environments>,
    endpoint: String,
    watched: Watched,
}

impl LocalFunction {
    /// Starts `n` environments of `program` writing to `database_url`; `database_pid` is the
    /// server's process when it runs here ([`database_pid`]).
    pub async fn start(
        program: &str,
        n: usize,
        database_url: &str,
        database_pid: Option<u32>,
    ) -> LocalFunction {
        let environments =
            Arc::new(Environments::start(program, n, &[("DATABASE_URL", database_url)]).await);
        let endpoint = lambda_harness::invoke_api::start(environments.clone()).await;
        let watched = Watched {
            database: database_pid,
            functions: environments.pids(),
            client: std::process::id(),
        };
        LocalFunction {
            environments,
            endpoint,
            watched,
        }
    }

    /// Ends every environment as Lambda does.
    pub async fn shutdown(&self) {
        self.environments.shutdown().await;
    }

    /// One point: a closed loop of N requests of `batch` events (N the environments), first
    /// for `warmup` unmeasured, then for `duration` with the counters read around it. Its
    /// cost counts what `delivery` adds in front of the function.
    pub async fn measure(
        &self,
        batch: usize,
        events: impl Fn() -> Events,
        delivery: Delivery,
        warmup: Duration,
        duration: Duration,
        db: &mut MySqlConnection,
    ) -> Result<Point, MeasureError> {
        let environments = self.environments.len();
        let load = |time: Duration| {
            run(
                Endpoint::local_lambda("ingest-fn", &self.endpoint),
                events(),
                Shape::Closed {
                    concurrency: environments,
                },
                Limits {
                    requests: None,
                    duration: Some(time),
                },
                batch,
                |_, _| {},
            )
        };
        if !warmup.is_zero() {
            load(warmup).await?;
        }
        let ticks = ticks_per_second();
        let before = sample(&self.watched, ticks, db).await?;
        let results = load(duration).await?;
        let after = sample(&self.watched, ticks, db).await?;
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        let usage = Usage::between(&before, &after, results.elapsed, cores);
        let warm = Latency::of(&results.warm);
        Ok(Point {
            environments,
            batch,
            requests: results.requests,
            errors: results.error_count(),
            events_per_s: results.events as f64 / results.elapsed.as_secs_f64(),
            p50_ms: warm.p50,
            p99_ms: warm.p99,
            billed_ms_per_request: results.billed_ms / results.requests.max(1) as f64,
            cost_per_million_events: cost::per_million_events(
                results.events,
                results.requests,
                results.billed_ms,
                results.memory_size_mb,
                cost::USD_PER_GB_SECOND_ARM64,
                delivery,
            ),
            bound: usage.bound(),
            usage,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(machine: f64, db: f64, functions: f64, client: f64, fsyncs: f64) -> Sample {
        Sample {
            machine_cpu_s: machine,
            database_cpu_s: Some(db),
            functions_cpu_s: functions,
            client_cpu_s: client,
            status: BTreeMap::from([
                ("Innodb_os_log_fsyncs".to_owned(), fsyncs),
                ("Innodb_data_fsyncs".to_owned(), fsyncs * 2.0),
            ]),
        }
    }

    #[test]
    fn usage_is_a_rate_over_the_interval() {
        let u = Usage::between(
            &sample(10.0, 1.0, 2.0, 3.0, 100.0),
            &sample(12.5, 2.0, 2.5, 3.5, 400.0),
            Duration::from_secs(2),
            2,
        );
        assert_eq!(u.machine_cores_busy, 1.25);
        assert_eq!(u.database_cores, Some(0.5));
        assert_eq!(u.functions_cores, 0.25);
        assert_eq!(u.log_fsyncs_per_s, Some(150.0));
        assert_eq!(u.fsyncs_per_s, Some(300.0));
        assert_eq!(u.inserts_per_s, None);
        assert!(
            u.bound().starts_with("latency: 62 % of 2 cores"),
            "{}",
            u.bound()
        );
    }

    #[test]
    fn a_busy_machine_names_its_largest_consumer() {
        let u = Usage::between(
            &sample(0.0, 0.0, 0.0, 0.0, 0.0),
            &sample(1.9, 0.4, 0.9, 0.5, 0.0),
            Duration::from_secs(1),
            2,
        );
        assert_eq!(
            u.bound(),
            "CPU: 95 % of 2 cores busy, most of it the function environments (0.90 cores)"
        );
    }

    #[test]
    fn a_machine_busy_with_something_else_says_so() {
        let u = Usage::between(
            &sample(0.0, 0.0, 0.0, 0.0, 0.0),
            &sample(1.9, 0.1, 0.1, 0.1, 0.0),
            Duration::from_secs(1),
            2,
        );
        assert!(
            u.bound().ends_with("the rest of the machine (1.60 cores)"),
            "{}",
            u.bound()
        );
    }

    #[test]
    fn reads_this_process_and_the_machine() {
        let ticks = ticks_per_second();
        assert!(ticks > 0.0);
        let me = format!("/proc/{}/stat", std::process::id());
        assert!(proc_stat_seconds(&me, ticks).is_some());
        assert!(proc_stat_seconds("/proc/stat", ticks).unwrap() > 0.0);
        assert_eq!(proc_stat_seconds("/proc/0/stat", ticks), None);
    }
}
