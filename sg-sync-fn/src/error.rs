//! The errors of a sync, from the EC2 call that failed to the name the Lambda reports.

use crate::family::Family;
use crate::publication::{NotificationError, PublicationError};
use crate::retry::MAX_ATTEMPTS;
use crate::rules::WantedError;

/// What EC2 answered to one call: its error code and message, the request id AWS support
/// asks for, and the SDK's error underneath. The code is empty when no answer came (a timeout,
/// a dropped connection).
#[derive(Debug, thiserror::Error)]
#[error("{}{message}{}", code_prefix(code), request_suffix(request_id.as_deref()))]
pub struct Ec2Reply {
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

fn code_prefix(code: &str) -> String {
    if code.is_empty() {
        String::new()
    } else {
        format!("{code}: ")
    }
}

fn request_suffix(id: Option<&str>) -> String {
    id.map(|id| format!(" (request id {id})"))
        .unwrap_or_default()
}

impl Ec2Reply {
    /// An answer with only a code and a message, as the in-memory EC2 of the tests gives.
    #[cfg(test)]
    pub(crate) fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Ec2Reply {
            code: code.into(),
            message: message.into(),
            request_id: None,
            source: None,
        }
    }
}

/// What an EC2 error code means for the sync. The one place codes are interpreted: the SDK
/// path and the tests' in-memory EC2 both go through [`classify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ec2ErrorClass {
    /// Another run changed the same rules first: re-read and converge.
    Conflict,
    /// IAM may still be settling after a deploy: start over for a while.
    Unauthorized,
    /// Throttled, or trouble on AWS's side: a later run can succeed.
    Transient,
    /// The request itself is wrong (a missing group, a bad parameter): retrying will not help.
    Permanent,
}

/// Classifies an EC2 error code.
/// Codes: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
pub(crate) fn classify(code: &str) -> Ec2ErrorClass {
    match code {
        // The plan read the group first, so a rule that is suddenly there (or gone), or a quota
        // suddenly full, means another run wrote meanwhile.
        "InvalidPermission.Duplicate"
        | "InvalidPermission.NotFound"
        | "RulesPerSecurityGroupLimitExceeded" => Ec2ErrorClass::Conflict,
        "UnauthorizedOperation" => Ec2ErrorClass::Unauthorized,
        // The SDK already retried these with backoff; the next run (SNS's redelivery, the
        // schedule) can still succeed.
        "RequestLimitExceeded"
        | "Throttling"
        | "ThrottlingException"
        | "InternalError"
        | "InternalFailure"
        | "ServiceUnavailable"
        | "Unavailable" => Ec2ErrorClass::Transient,
        // No answer at all (a timeout, a dropped connection).
        "" => Ec2ErrorClass::Transient,
        _ => Ec2ErrorClass::Permanent,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Ec2Error {
    /// Another run changed the same rules first (`InvalidPermission.Duplicate`,
    /// `InvalidPermission.NotFound`, a quota it filled): re-read and converge.
    #[error("{op} on {resource}: another change got there first ({reply})")]
    Conflict {
        op: &'static str,
        resource: String,
        #[source]
        reply: Box<Ec2Reply>,
    },
    /// `UnauthorizedOperation`: right after a deploy, the role's new policy may not be in
    /// effect yet (IAM is eventually consistent), so the sync retries for a while.
    #[error("{op} on {resource}: not authorized ({reply})")]
    Unauthorized {
        op: &'static str,
        resource: String,
        #[source]
        reply: Box<Ec2Reply>,
    },
    /// Throttled, AWS-side trouble, or no answer: a later run can succeed.
    #[error("{op} on {resource} failed, a later retry can help: {reply}")]
    Transient {
        op: &'static str,
        resource: String,
        #[source]
        reply: Box<Ec2Reply>,
    },
    /// EC2 refused the request itself: retrying will not help.
    #[error("{op} on {resource} failed, retrying will not help: {reply}")]
    Api {
        op: &'static str,
        resource: String,
        #[source]
        reply: Box<Ec2Reply>,
    },
}

impl Ec2Error {
    /// EC2's answer to `op` on `resource`, as [`classify`] reads its code.
    pub(crate) fn from_reply(
        op: &'static str,
        resource: impl Into<String>,
        reply: Ec2Reply,
    ) -> Self {
        let resource = resource.into();
        let class = classify(&reply.code);
        let reply = Box::new(reply);
        macro_rules! variant {
            ($name:ident) => {
                Ec2Error::$name {
                    op,
                    resource,
                    reply,
                }
            };
        }
        match class {
            Ec2ErrorClass::Conflict => variant!(Conflict),
            Ec2ErrorClass::Unauthorized => variant!(Unauthorized),
            Ec2ErrorClass::Transient => variant!(Transient),
            Ec2ErrorClass::Permanent => variant!(Api),
        }
    }

    /// EC2's error code, if it answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Ec2Error::Conflict { reply, .. }
            | Ec2Error::Unauthorized { reply, .. }
            | Ec2Error::Transient { reply, .. }
            | Ec2Error::Api { reply, .. } => Some(reply.code.as_str()).filter(|c| !c.is_empty()),
        }
    }

    /// Whether trying again (re-reading, waiting for IAM, a later run) can succeed.
    pub fn can_retry_help(&self) -> bool {
        !matches!(self, Ec2Error::Api { .. })
    }
}

/// Why the pool's change was refused before anything was changed.
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

#[cfg(test)]
mod tests {
    use super::*;

    // Every code the sync interprets, and what it means for a retry.
    // https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
    #[test]
    fn ec2_error_codes_classify_as_documented() {
        use Ec2ErrorClass::*;
        let conflicts = [
            ("InvalidPermission.Duplicate", "rule already exists"),
            ("InvalidPermission.NotFound", "rule does not exist"),
            ("RulesPerSecurityGroupLimitExceeded", "maximum reached"),
        ];
        let unauthorized = [("UnauthorizedOperation", "You are not authorized")];
        let transient = [
            ("RequestLimitExceeded", "Request limit exceeded."),
            ("Throttling", "Rate exceeded"),
            ("ThrottlingException", "Rate exceeded"),
            ("InternalError", "An internal error has occurred"),
            ("InternalFailure", ""),
            ("ServiceUnavailable", ""),
            ("Unavailable", "The server is overloaded"),
            ("", "dispatch failure: connection reset"),
        ];
        let permanent = [
            ("InvalidParameterValue", "Invalid CIDR 10.0.0.0/33"),
            ("InvalidGroup.NotFound", "The security group does not exist"),
            ("AuthFailure", ""),
        ];
        let table = [
            (Conflict, &conflicts[..]),
            (Unauthorized, &unauthorized),
            (Transient, &transient),
            (Permanent, &permanent),
        ];
        for (class, replies) in table {
            for (code, message) in replies {
                assert_eq!(classify(code), class, "{code}: {message}");
            }
        }
    }

    #[test]
    fn an_ec2_error_keeps_its_code_request_id_and_cause_and_says_if_a_retry_helps() {
        let cause = std::io::Error::other("the SDK's error");
        let reply = Ec2Reply {
            code: "InvalidGroup.NotFound".into(),
            message: "The security group 'sg-9' does not exist".into(),
            request_id: Some("7c3b1a2e-0000-4000-8000-000000000000".into()),
            source: Some(Box::new(cause)),
        };
        let e = Ec2Error::from_reply("DescribeSecurityGroups", "sg-9", reply);
        assert!(matches!(e, Ec2Error::Api { .. }), "{e:?}");
        assert_eq!(e.code(), Some("InvalidGroup.NotFound"));
        assert!(!e.can_retry_help());
        let text = e.to_string();
        assert!(text.contains("DescribeSecurityGroups on sg-9"), "{text}");
        assert!(text.contains("retrying will not help"), "{text}");
        assert!(text.contains("request id 7c3b1a2e"), "{text}");
        // The chain: the variant, EC2's reply, the SDK's error.
        let reply = std::error::Error::source(&e).expect("the reply");
        let sdk = reply.source().expect("the SDK error");
        assert_eq!(sdk.to_string(), "the SDK's error");

        for (code, retry) in [
            ("RequestLimitExceeded", true),
            ("InvalidPermission.Duplicate", true),
            ("UnauthorizedOperation", true),
            ("InvalidParameterValue", false),
        ] {
            let e = Ec2Error::from_reply("op", "r", Ec2Reply::new(code, "m"));
            assert_eq!(e.can_retry_help(), retry, "{code}");
        }
    }
}
