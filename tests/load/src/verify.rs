//! `--verify DATABASE_URL` and `--verify-function NAME`: is every acknowledged event stored
//! exactly once? Both send the same [`VerifyRequest`] (the run's id and the ranges of
//! acknowledged sequence numbers) to the same `contract::verify::check`: here, against a
//! database this machine can reach; there, inside `migrate`, which a deployed database's fence
//! admits.

use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
pub use contract::verify::{DEFAULT_LISTED, Verification, VerifyRequest};
use serde_json::Value;
use sqlx::MySqlPool;

use super::endpoint::function_error_type;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Check(#[from] contract::verify::VerifyError),
    #[error("connecting to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("invoking {function}: {message}")]
    Invoke { function: String, message: String },
    #[error("{function} failed ({error_type}): {message}")]
    Function {
        function: String,
        error_type: String,
        message: String,
    },
    #[error("{function} answered what is not a verification ({source}): {body}")]
    Answer {
        function: String,
        body: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Answers `request` from the database at `database_url`.
pub async fn database(
    database_url: &str,
    request: &VerifyRequest,
) -> Result<Verification, VerifyError> {
    let pool = MySqlPool::connect(database_url)
        .await
        .map_err(VerifyError::Connect)?;
    let v = contract::verify::check(&pool, request).await;
    pool.close().await;
    Ok(v?)
}

/// The payload `migrate` takes for a verify request.
pub fn payload(request: &VerifyRequest) -> String {
    contract::verify::invoke_payload(request).to_string()
}

/// Longer than migrate's own timeout (5 minutes), so the function's answer, not the client's
/// patience, ends a long verification.
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(6 * 60);

/// Asks `function` (the stack's migrate) to answer `request`: a synchronous Invoke, which
/// needs `lambda:InvokeFunction` on it.
pub async fn function(
    client: &aws_sdk_lambda::Client,
    function: &str,
    request: &VerifyRequest,
) -> Result<Verification, VerifyError> {
    let out = client
        .invoke()
        .function_name(function)
        .payload(Blob::new(payload(request)))
        .send()
        .await
        .map_err(|e| VerifyError::Invoke {
            function: function.to_owned(),
            message: aws_sdk_lambda::error::DisplayErrorContext(&e).to_string(),
        })?;
    let body = out
        .payload()
        .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned())
        .unwrap_or_default();
    if out.function_error().is_some() {
        let error: Value = serde_json::from_str(&body).unwrap_or_default();
        return Err(VerifyError::Function {
            function: function.to_owned(),
            error_type: function_error_type(Some(body.as_bytes())),
            message: error["errorMessage"].as_str().unwrap_or(&body).to_owned(),
        });
    }
    serde_json::from_str(&body).map_err(|source| VerifyError::Answer {
        function: function.to_owned(),
        body,
        source,
    })
}

/// The verification as the run's summary prints it.
pub fn summary(v: &Verification) -> String {
    let mut s = format!(
        "verify: {} acknowledged events checked, {} stored, {} missing, {} doubled",
        v.checked, v.stored, v.missing, v.doubled
    );
    for (what, n, ids) in [
        ("missing", v.missing, &v.missing_ids),
        ("doubled", v.doubled, &v.doubled_ids),
    ] {
        if !ids.is_empty() {
            let more = n - ids.len() as u64;
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            s.push_str(&format!("\n  {what}: {}{more}", ids.join(", ")));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_lists_what_the_function_listed_and_counts_the_rest() {
        let v = Verification {
            run_id: "load-r".into(),
            checked: 10,
            stored: 7,
            missing: 3,
            missing_ids: vec!["load-r-1".into(), "load-r-4".into()],
            doubled: 1,
            doubled_ids: vec!["load-r-2".into()],
        };
        assert_eq!(
            summary(&v),
            "verify: 10 acknowledged events checked, 7 stored, 3 missing, 1 doubled\n  \
             missing: load-r-1, load-r-4 and 1 more\n  doubled: load-r-2"
        );
    }

    #[test]
    fn the_payload_is_a_verify_request_for_migrate() {
        let ids: Vec<String> = (0..3000).map(|i| format!("load-r-{i}")).collect();
        let request = VerifyRequest::for_ids("load-r", &ids, DEFAULT_LISTED).unwrap();
        let payload = payload(&request);
        assert_eq!(
            payload,
            r#"{"verify":{"acked":[[0,3000]],"list":100,"run_id":"load-r"}}"#
        );
        let event: Value = serde_json::from_str(&payload).unwrap();
        // As migrate reads it (its own test parses the same payload into a verify request).
        assert_eq!(
            contract::verify::request_in(&event).unwrap().unwrap(),
            request
        );
    }
}
