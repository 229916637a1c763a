//! How long and how often a sync tries again, in one place: the rounds of the reconcile loop,
//! and the wait for IAM after a deploy.

use std::time::Duration;

/// How many plan-apply-read rounds a sync tries before giving up on convergence.
pub(crate) const MAX_ATTEMPTS: usize = 4;

/// How long a sync keeps retrying `UnauthorizedOperation` before it fails: IAM changes made by
/// the deploy that just ran can take that long to reach EC2 (the infra's `SYNC_IAM_SETTLE`).
/// https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
pub(crate) const IAM_SETTLE: Duration = Duration::from_secs(60);
