//! The load shapes: a closed loop of C workers, or an open loop at a fixed rate whose latencies
//! are measured from each request's intended start (so a stalled server is not hidden by the
//! client waiting for it: coordinated omission).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::endpoint::Endpoint;
use super::events::Events;

#[derive(Debug, Clone, Copy)]
pub enum Shape {
    Closed { concurrency: usize },
    Open { rate: f64 },
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub requests: Option<u64>,
    pub duration: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "a rate of {rate}/s cannot be driven from this machine: {behind} requests fell more than 1 s behind schedule"
    )]
    RateTooHigh { rate: f64, behind: u64 },
}

/// Everything measured, in microseconds.
pub struct Results {
    pub requests: u64,
    pub events: u64,
    pub errors: BTreeMap<String, u64>,
    pub warm: Histogram<u64>,
    pub cold: Histogram<u64>,
    pub function: Histogram<u64>,
    pub init: Histogram<u64>,
    pub max_memory_mb: f64,
    /// Billed milliseconds of every reported invocation, and the memory size they ran at.
    pub billed_ms: f64,
    pub memory_size_mb: f64,
    pub acked: Vec<String>,
    /// (seconds since start, latency in ms) of every request, for plots.
    pub timeline: Vec<(f64, f64)>,
    pub elapsed: Duration,
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 10 min, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).expect("valid precision"))
}

impl Results {
    pub(crate) fn new() -> Results {
        Results {
            requests: 0,
            events: 0,
            errors: BTreeMap::new(),
            warm: histogram(),
            cold: histogram(),
            function: histogram(),
            init: histogram(),
            max_memory_mb: 0.0,
            billed_ms: 0.0,
            memory_size_mb: 0.0,
            acked: Vec::new(),
            timeline: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    fn record(
        &mut self,
        start: Instant,
        began: Instant,
        latency: Duration,
        ids: Vec<String>,
        reply: super::endpoint::Reply,
    ) {
        let us = latency.as_micros().max(1) as u64;
        self.requests += 1;
        self.timeline
            .push(((began - start).as_secs_f64(), latency.as_secs_f64() * 1e3));
        let cold = reply.report.and_then(|r| r.init_ms).is_some();
        let _ = if cold {
            self.cold.record(us)
        } else {
            self.warm.record(us)
        };
        if let Some(r) = reply.report {
            let _ = self.function.record((r.duration_ms * 1e3).max(1.0) as u64);
            if let Some(init) = r.init_ms {
                let _ = self.init.record((init * 1e3).max(1.0) as u64);
            }
            self.max_memory_mb = self.max_memory_mb.max(r.max_memory_mb.unwrap_or(0.0));
            self.billed_ms += r.billed_ms;
            self.memory_size_mb = self.memory_size_mb.max(r.memory_size_mb.unwrap_or(0.0));
        }
        match reply.error {
            Some(e) => *self.errors.entry(e).or_default() += 1,
            None => {
                self.events += ids.len() as u64;
                self.acked.extend(ids);
            }
        }
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

struct Shared {
    endpoint: Endpoint,
    events: Mutex<Events>,
    results: Mutex<Results>,
    start: Instant,
    batch: usize,
    limits: Limits,
    issued: std::sync::atomic::AtomicU64,
}

impl Shared {
    /// Takes the next request's slot, or `None` when the run is over.
    fn next(&self) -> Option<(String, Vec<String>)> {
        let n = self
            .issued
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.limits.requests.is_some_and(|max| n >= max)
            || self
                .limits
                .duration
                .is_some_and(|d| self.start.elapsed() >= d)
        {
            return None;
        }
        self.events
            .lock()
            .ok()
            .map(|mut e| e.next_request(self.batch))
    }

    async fn one(&self, intended: Instant, payload: String, ids: Vec<String>) {
        let reply = self.endpoint.send(payload).await;
        let latency = intended.elapsed();
        if let Ok(mut r) = self.results.lock() {
            r.record(self.start, intended, latency, ids, reply);
        }
    }
}

/// Runs the load; `tick` is called about four times a second with the results so far, also
/// while an open loop is still issuing requests.
pub async fn run(
    endpoint: Endpoint,
    events: Events,
    shape: Shape,
    limits: Limits,
    batch: usize,
    tick: impl Fn(&Results, Duration),
) -> Result<Results, RunError> {
    let shared = Arc::new(Shared {
        endpoint,
        events: Mutex::new(events),
        results: Mutex::new(Results::new()),
        start: Instant::now(),
        batch,
        limits,
        issued: 0.into(),
    });
    let mut tasks = tokio::task::JoinSet::new();
    const TICK: Duration = Duration::from_millis(250);
    let mut last = Instant::now();
    let mut maybe_tick = || {
        if last.elapsed() >= TICK {
            if let Ok(r) = shared.results.lock() {
                tick(&r, shared.start.elapsed());
            }
            last = Instant::now();
        }
    };
    match shape {
        Shape::Closed { concurrency } => {
            for _ in 0..concurrency {
                let s = shared.clone();
                tasks.spawn(async move {
                    while let Some((payload, ids)) = s.next() {
                        s.one(Instant::now(), payload, ids).await;
                    }
                });
            }
        }
        Shape::Open { rate } => open_schedule(&shared, rate, &mut tasks, &mut maybe_tick).await?,
    }
    loop {
        tokio::select! {
            next = tasks.join_next() => if next.is_none() { break },
            _ = tokio::time::sleep(TICK) => {}
        }
        maybe_tick();
    }
    let elapsed = shared.start.elapsed();
    let mut results = std::mem::replace(
        &mut *shared.results.lock().expect("results lock"),
        Results::new(),
    );
    results.elapsed = elapsed;
    Ok(results)
}

/// An open load: one request every 1/`rate` s on schedule, whether earlier ones returned or
/// not, each timed from when it was due. Gives up when the client falls a second behind.
async fn open_schedule(
    shared: &Arc<Shared>,
    rate: f64,
    tasks: &mut tokio::task::JoinSet<()>,
    maybe_tick: &mut impl FnMut(),
) -> Result<(), RunError> {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut behind = 0u64;
    let mut i: u32 = 0;
    loop {
        let intended = shared.start + interval * i;
        tokio::time::sleep_until(intended.into()).await;
        if intended.elapsed() > Duration::from_secs(1) {
            behind += 1;
            if behind > rate as u64 {
                return Err(RunError::RateTooHigh { rate, behind });
            }
        }
        let Some((payload, ids)) = shared.next() else {
            return Ok(());
        };
        let s = shared.clone();
        tasks.spawn(async move { s.one(intended, payload, ids).await });
        maybe_tick();
        i = i.saturating_add(1);
        if i.is_multiple_of(64) {
            while tasks.try_join_next().is_some() {}
        }
    }
}

/// The figures of one histogram, in milliseconds.
#[derive(Debug, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1e3;
        Latency {
            count: h.len(),
            p50: ms(0.5),
            p90: ms(0.9),
            p99: ms(0.99),
            p999: ms(0.999),
            max: h.max() as f64 / 1e3,
        }
    }
}
