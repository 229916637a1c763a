//! What a million events cost on Lambda, from the billed durations a run measured:
//!
//! ```text
//! cost = requests × price per request + Σ billed seconds × memory (GB) × price per GB-second
//! ```
//!
//! scaled to 10^6 events. Lambda's on-demand prices in Asia Pacific (Tokyo), first duration
//! tier, from https://aws.amazon.com/lambda/pricing/ (read 2026-11-29): requests $0.20 per
//! million; duration $0.0000133334 per GB-second on arm64 (what the infra deploys) and
//! $0.0000166667 on x86_64. The free tier is left out: it is per account, not per workload.

use serde::Serialize;

pub const USD_PER_REQUEST: f64 = 0.20 / 1e6;
pub const USD_PER_GB_SECOND_ARM64: f64 = 0.000_013_333_4;
pub const USD_PER_GB_SECOND_X86_64: f64 = 0.000_016_666_7;

/// US dollars per million events.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Cost {
    pub requests_usd: f64,
    pub duration_usd: f64,
    pub total_usd: f64,
}

/// The cost of a million events that came in `requests` invocations billed `billed_ms` in all
/// at `memory_mb`, at `usd_per_gb_second`.
pub fn per_million_events(
    events: u64,
    requests: u64,
    billed_ms: f64,
    memory_mb: f64,
    usd_per_gb_second: f64,
) -> Option<Cost> {
    if events == 0 || requests == 0 || memory_mb <= 0.0 {
        return None;
    }
    let scale = 1e6 / events as f64;
    let requests_usd = requests as f64 * scale * USD_PER_REQUEST;
    let duration_usd = billed_ms / 1e3 * (memory_mb / 1024.0) * scale * usd_per_gb_second;
    Some(Cost {
        requests_usd,
        duration_usd,
        total_usd: requests_usd + duration_usd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_event_per_request_at_2_ms_and_256_mb() {
        // 10^6 requests: $0.20; 10^6 × 0.002 s × 0.25 GB = 500 GB-s: $0.0066667 on arm64.
        let c = per_million_events(1000, 1000, 2000.0, 256.0, USD_PER_GB_SECOND_ARM64).unwrap();
        assert!((c.requests_usd - 0.20).abs() < 1e-12);
        assert!((c.duration_usd - 0.0066667).abs() < 1e-7);
        assert!((c.total_usd - 0.2066667).abs() < 1e-7);
    }

    #[test]
    fn batches_divide_the_request_price() {
        let c = per_million_events(10_000, 100, 300.0, 256.0, USD_PER_GB_SECOND_ARM64).unwrap();
        assert!((c.requests_usd - 0.002).abs() < 1e-12);
        assert_eq!(
            per_million_events(0, 0, 0.0, 256.0, USD_PER_GB_SECOND_ARM64),
            None
        );
    }
}
