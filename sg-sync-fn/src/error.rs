//! The errors of a sync, from the EC2 call that failed to the name the Lambda reports.

use crate::publication::{NotificationError, PublicationError};
use crate::rules::{Family, WantedError};

#[derive(Debug, thiserror::Error)]
pub enum Ec2Error {
    /// Another run changed the same rules first (`InvalidPermission.Duplicate`,
    /// `InvalidPermission.NotFound`, a quota it filled, a stale prefix list version): re-read
    /// and converge.
    #[error("{op} on {resource}: another change got there first ({code}: {message})")]
    Conflict {
        op: &'static str,
        resource: String,
        code: String,
        message: String,
    },
    /// `UnauthorizedOperation`: right after a deploy, the role's new policy may not be in
    /// effect yet (IAM is eventually consistent), so the sync retries for a while.
    #[error("{op} on {resource}: UnauthorizedOperation ({message})")]
    Unauthorized {
        op: &'static str,
        resource: String,
        message: String,
    },
    #[error("{op} on {resource} failed: {message}")]
    Api {
        op: &'static str,
        resource: String,
        message: String,
    },
    #[error("{op} on {resource}: unexpected response: {message}")]
    Unexpected {
        op: &'static str,
        resource: String,
        message: String,
    },
}

/// Why a target's change was refused before anything was changed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    #[error(transparent)]
    Wanted(#[from] WantedError),
    #[error(
        "{family}: {needed} new rules need a slot but only {free} are free across {groups} group(s) of {quota} rules \
         (authorize runs before revoke, so slots this sync frees do not count); \
         add {more_groups} more group(s) to SECURITY_GROUP_IDS or raise RULES_PER_GROUP to at least {quota_needed}"
    )]
    CapacityExceeded {
        family: Family,
        needed: usize,
        free: usize,
        groups: usize,
        quota: usize,
        more_groups: usize,
        quota_needed: usize,
    },
    #[error(
        "refusing to remove {removing} of {managed} managed rules ({:.0}% > MAX_REMOVAL_RATIO {:.0}%): \
         a publication this different is more likely broken than real; run with a higher MAX_REMOVAL_RATIO to accept it",
        *removing as f64 / *managed as f64 * 100.0, max_ratio * 100.0
    )]
    RemovalGuard {
        removing: usize,
        managed: usize,
        max_ratio: f64,
    },
}

/// How many plan-apply-read rounds a sync tries before giving up on convergence.
pub const MAX_ATTEMPTS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Publication(#[from] PublicationError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Ec2(#[from] Ec2Error),
    #[error(
        "{source}; still refused after retrying for {waited_s} s: IAM changes can take that long to \
         take effect, so check that the function's role allows this call on these resources"
    )]
    IamNotSettled { source: Ec2Error, waited_s: u64 },
    #[error("gave up after {MAX_ATTEMPTS} attempts: other runs kept changing the same rules ({0})")]
    Unconverged(String),
}

impl From<WantedError> for SyncError {
    fn from(e: WantedError) -> Self {
        SyncError::Plan(e.into())
    }
}

impl SyncError {
    /// The error's name as the Lambda reports it in `errorType`.
    pub fn kind(&self) -> &'static str {
        match self {
            SyncError::Publication(PublicationError::Fetch(_)) => "FetchFailed",
            SyncError::Publication(PublicationError::ChecksumMismatch { .. }) => "ChecksumMismatch",
            SyncError::Publication(PublicationError::IpRanges(_)) => "InvalidIpRanges",
            SyncError::Plan(PlanError::Wanted(WantedError::EmptyWantedSet(_))) => "EmptyWantedSet",
            SyncError::Plan(PlanError::Wanted(WantedError::TooBroad { .. })) => "PrefixTooBroad",
            SyncError::Plan(PlanError::CapacityExceeded { .. }) => "CapacityExceeded",
            SyncError::Plan(PlanError::RemovalGuard { .. }) => "RemovalGuard",
            SyncError::Ec2(_) | SyncError::IamNotSettled { .. } => "Ec2Failed",
            SyncError::Unconverged(_) => "Unconverged",
        }
    }
}

/// Why an invocation failed, as the Lambda reports it.
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    #[error("unrecognised event: {0}")]
    BadEvent(String),
    #[error("SNS record {index}: {source}")]
    Notification {
        index: usize,
        source: NotificationError,
    },
    #[error("{0}")]
    Sync(#[from] SyncError),
}

impl InvocationError {
    /// The error's name as the Lambda reports it in `errorType`.
    pub fn kind(&self) -> &'static str {
        match self {
            InvocationError::BadEvent(_) => "BadEvent",
            InvocationError::Notification { .. } => "InvalidNotification",
            InvocationError::Sync(s) => s.kind(),
        }
    }
}

impl From<InvocationError> for lambda_runtime::Diagnostic {
    fn from(e: InvocationError) -> lambda_runtime::Diagnostic {
        lambda_runtime::Diagnostic {
            error_type: e.kind().to_owned(),
            error_message: e.to_string(),
        }
    }
}
