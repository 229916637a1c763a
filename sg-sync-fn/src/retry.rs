//! How long and how often a sync tries again, in one place: the rounds of the reconcile loop,
//! the wait for IAM after a deploy, and the wait for a prefix list to apply a change.

use std::time::Duration;

/// How many plan-apply-read rounds a sync tries before giving up on convergence.
pub(crate) const MAX_ATTEMPTS: usize = 4;

/// How long a sync keeps retrying `UnauthorizedOperation` before it fails: IAM changes made by
/// the deploy that just ran can take that long to reach EC2 (the infra's `SYNC_IAM_SETTLE`).
/// https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
pub(crate) const IAM_SETTLE: Duration = Duration::from_secs(60);

/// How many times a prefix list's state is read while it is `modify-in-progress`.
pub(crate) const SETTLE_POLLS: u32 = 60;

/// The pause before poll `attempt` (from 0) of a prefix list that is still applying a change:
/// 250 ms, growing by 250 ms to 2.25 s, about two minutes over [`SETTLE_POLLS`].
pub(crate) fn settle_delay(attempt: u32) -> Duration {
    Duration::from_millis(250 * u64::from(attempt.min(8) + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settle_polling_grows_then_holds_and_ends() {
        assert_eq!(settle_delay(0), Duration::from_millis(250));
        assert_eq!(settle_delay(8), Duration::from_millis(2250));
        assert_eq!(settle_delay(59), Duration::from_millis(2250));
        let total: Duration = (0..SETTLE_POLLS).map(settle_delay).sum();
        assert!(
            total > Duration::from_secs(60) && total < Duration::from_secs(180),
            "{total:?}"
        );
    }
}
