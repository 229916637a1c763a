//! Waiting for IAM to settle. A deploy attaches the function role's policies seconds before the
//! trigger runs `migrate`, and IAM is eventually consistent: the first Secrets Manager call or
//! IAM database login may be refused until the policy is in effect everywhere. Such a refusal
//! is retried with backoff for up to [`IAM_SETTLE`], saying so in the log, and then reported
//! naming what was denied and the error code; any other error is returned at once.
//! <https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency>
//!
//! [`Backoff`] is the pure schedule; [`retry`] runs it on tokio's clock, which tests pause.

use std::future::Future;
use std::time::Duration;

/// How long a refusal that may be IAM settling is retried: as long as sg-sync-fn waits for EC2
/// (its `IAM_SETTLE`).
pub(crate) const IAM_SETTLE: Duration = Duration::from_secs(60);

/// A refusal that may only mean IAM has not settled yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{action} was denied ({code}: {message})")]
pub struct Denial {
    /// The service's error code, e.g. `AccessDeniedException`, or `MySQL 1045`.
    pub code: String,
    /// What was denied, e.g. `secretsmanager:GetSecretValue on arn:…`.
    pub action: String,
    pub message: String,
}

/// Secrets Manager's error code for a caller without permission: `AccessDeniedException`, what a
/// policy that is not in effect yet looks like. `DecryptionFailure` (a KMS key) and the rest are
/// not retried: the stack's secrets use the AWS managed key, which needs no grant.
/// <https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html>
pub(crate) fn secrets_manager_unsettled(code: Option<&str>) -> bool {
    code == Some("AccessDeniedException")
}

/// MySQL's 1045 (`ER_ACCESS_DENIED_ERROR`) is how RDS refuses an IAM token login, also while
/// the role's `rds-db:connect` policy is not in effect yet; with a password it means the
/// password is wrong, which waiting does not fix.
/// <https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.Troubleshooting.html>
pub(crate) fn iam_login_unsettled(iam_auth: bool, mysql_code: Option<u16>) -> bool {
    iam_auth && mysql_code == Some(1045)
}

/// The pauses between attempts: `first`, doubling up to `max`, while the time waited stays
/// within `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub limit: Duration,
}

impl Backoff {
    /// 1, 2, 4, 8, 8, … s for up to [`IAM_SETTLE`], as sg-sync-fn does.
    pub const IAM: Backoff = Backoff {
        first: Duration::from_secs(1),
        max: Duration::from_secs(8),
        limit: IAM_SETTLE,
    };

    /// The pause after failed attempt `attempt` (from 1) when `waited` has passed since the
    /// first began; `None` when that pause would end past the limit.
    pub(crate) fn pause(&self, attempt: u32, waited: Duration) -> Option<Duration> {
        let doublings = attempt.saturating_sub(1).min(31);
        let pause = self.first.saturating_mul(1 << doublings).min(self.max);
        (waited + pause <= self.limit).then_some(pause)
    }
}

/// Denials that outlasted the wait.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{denial}, still after waiting {waited_s} s for IAM to settle (a policy the deploy just \
     attached can take that long): check that the function's role allows it",
    waited_s = waited.as_secs()
)]
pub struct NotSettled {
    pub denial: Denial,
    pub waited: Duration,
}

/// The outcome of [`retry`] when it did not succeed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Retried<E> {
    #[error(transparent)]
    NotSettled(NotSettled),
    #[error(transparent)]
    Failed(E),
}

/// Runs `attempt` until it succeeds, fails with an error `denial` does not recognize, or the
/// denials outlast `backoff`. `what` names the step in the log.
pub(crate) async fn retry<T, E, F, Fut>(
    what: &str,
    backoff: Backoff,
    denial: impl Fn(&E) -> Option<Denial>,
    mut attempt: F,
) -> Result<T, Retried<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = tokio::time::Instant::now();
    let mut attempts = 1;
    loop {
        let e = match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let Some(denied) = denial(&e) else {
            return Err(Retried::Failed(e));
        };
        let waited = started.elapsed();
        let Some(pause) = backoff.pause(attempts, waited) else {
            return Err(Retried::NotSettled(NotSettled {
                denial: denied,
                waited,
            }));
        };
        tracing::warn!(
            step = what,
            denied = %denied,
            waited_ms = waited.as_millis() as u64,
            retry_in_ms = pause.as_millis() as u64,
            "access denied; waiting for IAM to settle after the deploy, for up to {} s",
            backoff.limit.as_secs()
        );
        tokio::time::sleep(pause).await;
        attempts += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn the_schedule_doubles_to_8_s_and_stays_within_60_s() {
        let b = Backoff::IAM;
        let mut waited = Duration::ZERO;
        let mut pauses = Vec::new();
        while let Some(p) = b.pause(pauses.len() as u32 + 1, waited) {
            pauses.push(p.as_secs());
            waited += p;
        }
        assert_eq!(pauses, [1, 2, 4, 8, 8, 8, 8, 8, 8]);
        assert!(waited <= IAM_SETTLE && waited + Duration::from_secs(8) > IAM_SETTLE);
        // Slow attempts count too: a pause that would end past the limit is not taken.
        assert_eq!(
            b.pause(1, Duration::from_secs(59)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(b.pause(2, Duration::from_secs(59)), None);
        assert_eq!(
            b.pause(u32::MAX, Duration::ZERO),
            Some(Duration::from_secs(8))
        );
    }

    // https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html
    #[test]
    fn only_access_denied_is_secrets_manager_waiting_for_iam() {
        assert!(secrets_manager_unsettled(Some("AccessDeniedException")));
        for code in [
            Some("ResourceNotFoundException"),
            Some("DecryptionFailure"),
            Some("InvalidRequestException"),
            Some("InvalidClientTokenId"),
            None,
        ] {
            assert!(!secrets_manager_unsettled(code), "{code:?}");
        }
    }

    // https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.Troubleshooting.html
    #[test]
    fn only_a_refused_token_login_is_waiting_for_iam() {
        assert!(iam_login_unsettled(true, Some(1045)));
        assert!(!iam_login_unsettled(false, Some(1045)), "a wrong password");
        assert!(!iam_login_unsettled(true, Some(2003)), "no server");
        assert!(!iam_login_unsettled(true, None));
    }

    fn denied() -> Denial {
        Denial {
            code: "AccessDeniedException".into(),
            action: "secretsmanager:GetSecretValue on arn:aws:secretsmanager:r:1:secret:admin"
                .into(),
            message: "not authorized".into(),
        }
    }

    /// An attempt refused `denials` times (an `Err(true)`), then `Ok`; `Err(false)` is another error.
    async fn attempts(denials: u32, other: bool) -> (Result<u32, Retried<bool>>, u32) {
        let calls = Cell::new(0);
        let r = retry(
            "test",
            Backoff::IAM,
            |e: &bool| e.then(denied),
            || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move {
                    match n {
                        _ if other => Err(false),
                        n if n <= denials => Err(true),
                        n => Ok(n),
                    }
                }
            },
        )
        .await;
        (r, calls.get())
    }

    // IAM is eventually consistent: a policy attached by the deploy that just ran may not be in
    // effect for a while.
    // https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html#troubleshoot_general_eventual-consistency
    #[tokio::test(start_paused = true)]
    async fn denials_are_retried_until_iam_settles_then_named() {
        let started = tokio::time::Instant::now();
        let (r, calls) = attempts(3, false).await;
        assert_eq!((r.unwrap(), calls), (4, 4));
        assert_eq!(started.elapsed(), Duration::from_secs(1 + 2 + 4));

        let started = tokio::time::Instant::now();
        let (r, calls) = attempts(u32::MAX, false).await;
        assert_eq!(calls, 10);
        assert!(started.elapsed() <= IAM_SETTLE, "{:?}", started.elapsed());
        let message = r.unwrap_err().to_string();
        for part in [
            "AccessDeniedException",
            "secretsmanager:GetSecretValue on arn:aws:secretsmanager:r:1:secret:admin",
            "waiting 55 s for IAM to settle",
        ] {
            assert!(message.contains(part), "{part:?} in {message}");
        }

        // Anything else fails at once.
        let started = tokio::time::Instant::now();
        let (r, calls) = attempts(0, true).await;
        assert!(matches!(r, Err(Retried::Failed(false))));
        assert_eq!((calls, started.elapsed()), (1, Duration::ZERO));
    }
}
