//! What a million events cost on Lambda, from the billed durations a run measured, plus what
//! the queue in front of the function charges when the events come through SQS:
//!
//! ```text
//! cost = requests × price per request + Σ billed seconds × memory (GB) × price per GB-second
//!        + SQS requests × SQS price per request
//! ```
//!
//! scaled to 10^6 events. Lambda's on-demand prices in Asia Pacific (Tokyo), first duration
//! tier, from https://aws.amazon.com/lambda/pricing/ (read 2026-11-29): requests $0.20 per
//! million; duration $0.0000133334 per GB-second on arm64 (what the infra deploys) and
//! $0.0000166667 on x86_64. The free tiers are left out: they are per account, not per workload.

use serde::Serialize;

pub const USD_PER_REQUEST: f64 = 0.20 / 1e6;
pub const USD_PER_GB_SECOND_ARM64: f64 = 0.000_013_333_4;
pub const USD_PER_GB_SECOND_X86_64: f64 = 0.000_016_666_7;

/// SQS standard queue, first tier after the free million: $0.40 per million requests. AWS's
/// own page (https://aws.amazon.com/sqs/pricing/) was not readable from here; the figure is
/// its us-east-1 price as quoted on 2026-12-01 by
/// https://cloudburn.io/blog/amazon-sqs-pricing (March 2026) and
/// https://unanswered.io/guide/aws-sqs-pricing-and-cost-optimization.
pub const SQS_USD_PER_REQUEST: f64 = 0.40 / 1e6;
/// Messages one SendMessageBatch, ReceiveMessage or DeleteMessageBatch handles at most:
/// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-batch-api.html
/// (read 2026-12-01).
pub const SQS_MESSAGES_PER_REQUEST: u64 = 10;
/// SQS bills each 64 KB chunk of a request's payload as one request (same pricing sources).
pub const SQS_BILLED_CHUNK_BYTES: u64 = 64 * 1024;

/// How the events reached the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// A direct invoke or a Function URL POST: Lambda's charges only.
    Lambda,
    /// Through an SQS queue, one event per message of `message_bytes`.
    Sqs { message_bytes: u64 },
}

/// US dollars per million events.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Cost {
    pub requests_usd: f64,
    pub duration_usd: f64,
    /// SQS's request charges (0 for [`Delivery::Lambda`]).
    pub queue_usd: f64,
    pub total_usd: f64,
}

/// The SQS requests billed per event that goes through a queue to the function, at best: the
/// sender's SendMessageBatch, the Lambda poller's ReceiveMessage and its DeleteMessageBatch,
/// each carrying a full batch of 10 messages of `message_bytes`, the first two billed per
/// 64 KB chunk of the batch's payload. Empty receives while the queue is idle are a charge
/// per hour of polling, not per event, and are left out.
pub fn sqs_requests_per_event(message_bytes: u64) -> f64 {
    let chunks = (SQS_MESSAGES_PER_REQUEST * message_bytes)
        .div_ceil(SQS_BILLED_CHUNK_BYTES)
        .max(1);
    let (send, receive, delete) = (chunks, chunks, 1);
    (send + receive + delete) as f64 / SQS_MESSAGES_PER_REQUEST as f64
}

/// The cost of a million events that came in `requests` invocations billed `billed_ms` in all
/// at `memory_mb`, at `usd_per_gb_second`, delivered as `delivery` says.
pub fn per_million_events(
    events: u64,
    requests: u64,
    billed_ms: f64,
    memory_mb: f64,
    usd_per_gb_second: f64,
    delivery: Delivery,
) -> Option<Cost> {
    if events == 0 || requests == 0 || memory_mb <= 0.0 {
        return None;
    }
    let scale = 1e6 / events as f64;
    let requests_usd = requests as f64 * scale * USD_PER_REQUEST;
    let duration_usd = billed_ms / 1e3 * (memory_mb / 1024.0) * scale * usd_per_gb_second;
    let queue_usd = match delivery {
        Delivery::Lambda => 0.0,
        Delivery::Sqs { message_bytes } => {
            1e6 * sqs_requests_per_event(message_bytes) * SQS_USD_PER_REQUEST
        }
    };
    Some(Cost {
        requests_usd,
        duration_usd,
        queue_usd,
        total_usd: requests_usd + duration_usd + queue_usd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10,000 events in 100 invocations of 100, 300 billed ms in all, at 256 MB on arm64.
    fn a_batch_of_100(delivery: Delivery) -> Cost {
        per_million_events(10_000, 100, 300.0, 256.0, USD_PER_GB_SECOND_ARM64, delivery).unwrap()
    }

    #[test]
    fn one_event_per_request_at_2_ms_and_256_mb() {
        // 10^6 requests: $0.20; 10^6 × 0.002 s × 0.25 GB = 500 GB-s: $0.0066667 on arm64.
        let c = per_million_events(
            1000,
            1000,
            2000.0,
            256.0,
            USD_PER_GB_SECOND_ARM64,
            Delivery::Lambda,
        )
        .unwrap();
        assert!((c.requests_usd - 0.20).abs() < 1e-12);
        assert!((c.duration_usd - 0.0066667).abs() < 1e-7);
        assert_eq!(c.queue_usd, 0.0);
        assert!((c.total_usd - 0.2066667).abs() < 1e-7);
    }

    #[test]
    fn batches_divide_the_request_price() {
        let c = a_batch_of_100(Delivery::Lambda);
        assert!((c.requests_usd - 0.002).abs() < 1e-12);
        assert_eq!(
            per_million_events(0, 0, 0.0, 256.0, USD_PER_GB_SECOND_ARM64, Delivery::Lambda),
            None
        );
    }

    #[test]
    fn sqs_bills_a_send_a_receive_and_a_delete_per_ten_small_messages() {
        // 10 messages of 6,553 bytes fit one 64 KB chunk; of 6,554 bytes they need two.
        assert!((sqs_requests_per_event(200) - 0.3).abs() < 1e-12);
        assert!((sqs_requests_per_event(6_553) - 0.3).abs() < 1e-12);
        assert!((sqs_requests_per_event(6_554) - 0.5).abs() < 1e-12);
        // A 64 KB message is a chunk of its own: 10 per send, 10 per receive, 1 delete.
        assert!((sqs_requests_per_event(64 * 1024) - 2.1).abs() < 1e-12);
    }

    #[test]
    fn the_queue_outweighs_lambdas_request_charge_at_a_batch_of_100() {
        // 10^4 invocations of 100 events: Lambda $0.002; SQS 0.3 × 10^6 requests: $0.12.
        let c = a_batch_of_100(Delivery::Sqs { message_bytes: 200 });
        assert!((c.requests_usd - 0.002).abs() < 1e-12);
        assert!((c.queue_usd - 0.12).abs() < 1e-12);
        assert!((c.total_usd - (c.requests_usd + c.duration_usd + 0.12)).abs() < 1e-12);
        assert!(c.queue_usd > 50.0 * c.requests_usd);
    }
}
