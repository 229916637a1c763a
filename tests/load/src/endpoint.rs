//! The endpoint under load: a function through the Lambda Invoke API (deployed, or
//! `cargo lambda watch` locally, whose Invoke API `--endpoint` names), or a Function URL.

use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvocationType, LogType};
use base64::Engine;
use serde_json::Value;

use super::report_line::{Report, parse_report};

/// What came back for one request.
#[derive(Debug, Clone)]
pub struct Reply {
    /// `None` on success; else the error's type (`errorType`, an HTTP status, `Timeout`).
    pub error: Option<String>,
    pub report: Option<Report>,
}

pub enum Endpoint {
    Lambda {
        client: aws_sdk_lambda::Client,
        function: String,
    },
    /// A Function URL; requests are SigV4-signed for IAM auth when `signer` is set.
    Url {
        client: reqwest::Client,
        url: String,
        signer: Option<Box<aws_config::SdkConfig>>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("function {function}: {message}")]
    Lambda { function: String, message: String },
    #[error("{url}: {message}")]
    Url { url: String, message: String },
}

/// A minute for one invoke: longer than the function's own timeout.
fn invoke_timeouts() -> aws_sdk_lambda::config::timeout::TimeoutConfig {
    timeouts(Duration::from_secs(60))
}

fn timeouts(operation: Duration) -> aws_sdk_lambda::config::timeout::TimeoutConfig {
    aws_sdk_lambda::config::timeout::TimeoutConfig::builder()
        .operation_timeout(operation)
        .build()
}

/// A Lambda client with the default credentials, at `invoke_api` if given (a local Invoke
/// API), whose invokes give up after `timeout`.
pub async fn lambda_client(invoke_api: Option<&str>, timeout: Duration) -> aws_sdk_lambda::Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(e) = invoke_api {
        loader = loader.endpoint_url(e);
    }
    let config = loader.load().await;
    let lambda_config = aws_sdk_lambda::config::Builder::from(&config)
        .timeout_config(timeouts(timeout))
        .build();
    aws_sdk_lambda::Client::from_conf(lambda_config)
}

impl Endpoint {
    pub async fn lambda(function: &str, invoke_api: Option<&str>) -> Endpoint {
        Endpoint::Lambda {
            client: lambda_client(invoke_api, Duration::from_secs(60)).await,
            function: function.to_owned(),
        }
    }

    /// A local Invoke API with no AWS account behind it (`cargo lambda watch`, or
    /// `lambda_harness::invoke_api`): fixed credentials and region, nothing read from the
    /// environment.
    pub fn local_lambda(function: &str, invoke_api: &str) -> Endpoint {
        let config = aws_sdk_lambda::Config::builder()
            .behavior_version(aws_sdk_lambda::config::BehaviorVersion::latest())
            .region(aws_sdk_lambda::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_lambda::config::Credentials::new(
                "local", "local", None, None, "local",
            ))
            .endpoint_url(invoke_api)
            .timeout_config(invoke_timeouts())
            .build();
        Endpoint::Lambda {
            client: aws_sdk_lambda::Client::from_conf(config),
            function: function.to_owned(),
        }
    }

    /// A Function URL, signed with the default credentials unless `signed` is false.
    pub async fn url(url: &str, signed: bool) -> Result<Endpoint, EndpointError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| EndpointError::Url {
                url: url.to_owned(),
                message: e.to_string(),
            })?;
        let signer = match signed {
            true => Some(Box::new(
                aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
            )),
            false => None,
        };
        Ok(Endpoint::Url {
            client,
            url: url.to_owned(),
            signer,
        })
    }

    /// Checks the endpoint answers before the run starts: a function that does not exist or an
    /// endpoint that refuses connections ends the run with a clear message.
    pub async fn probe(&self) -> Result<(), EndpointError> {
        match self {
            Endpoint::Lambda { client, function } => {
                let out = client
                    .invoke()
                    .function_name(function)
                    .invocation_type(InvocationType::DryRun)
                    .send()
                    .await;
                match out {
                    Ok(_) => Ok(()),
                    // An endpoint that answered, even with an error of the function (local
                    // emulators run a DryRun as an empty invoke), is there; a missing
                    // function or no answer at all is not.
                    Err(aws_sdk_lambda::error::SdkError::ServiceError(e))
                        if !e.err().is_resource_not_found_exception() =>
                    {
                        Ok(())
                    }
                    Err(e) => Err(EndpointError::Lambda {
                        function: function.clone(),
                        message: aws_sdk_lambda::error::DisplayErrorContext(&e).to_string(),
                    }),
                }
            }
            Endpoint::Url { client, url, .. } => {
                client
                    .head(url)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| EndpointError::Url {
                        url: url.clone(),
                        message: e.to_string(),
                    })
            }
        }
    }

    pub async fn send(&self, payload: String) -> Reply {
        match self {
            Endpoint::Lambda { client, function } => invoke(client, function, payload).await,
            Endpoint::Url {
                client,
                url,
                signer,
            } => post(client, url, signer.as_deref(), payload).await,
        }
    }
}

impl Reply {
    fn failed(error: impl Into<String>) -> Reply {
        Reply {
            error: Some(error.into()),
            report: None,
        }
    }
}

/// One Invoke with the log tail, whose REPORT line gives the function's own figures.
async fn invoke(client: &aws_sdk_lambda::Client, function: &str, payload: String) -> Reply {
    let out = client
        .invoke()
        .function_name(function)
        .log_type(LogType::Tail)
        .payload(Blob::new(payload))
        .send()
        .await;
    let out = match out {
        Ok(out) => out,
        Err(e) => return Reply::failed(invoke_error_name(&e)),
    };
    let report = out
        .log_result()
        .and_then(|l| base64::engine::general_purpose::STANDARD.decode(l).ok())
        .and_then(|l| parse_report(&String::from_utf8_lossy(&l)));
    let error = out
        .function_error()
        .map(|_| function_error_type(out.payload().map(|p| p.as_ref())));
    Reply { error, report }
}

/// One POST to a Function URL, SigV4-signed when `signer` is set; 201 is success.
async fn post(
    client: &reqwest::Client,
    url: &str,
    signer: Option<&aws_config::SdkConfig>,
    payload: String,
) -> Reply {
    let mut request = client.post(url).header("content-type", "application/json");
    if let Some(sdk) = signer {
        match sign(sdk, url, payload.as_bytes()).await {
            Ok(headers) => {
                for (name, value) in headers {
                    request = request.header(name, value);
                }
            }
            Err(e) => return Reply::failed(format!("SigningFailed: {e}")),
        }
    }
    match request.body(payload).send().await {
        Err(e) if e.is_timeout() => Reply::failed("Timeout"),
        Err(e) if e.is_connect() => Reply::failed("ConnectFailed"),
        Err(_) => Reply::failed("HttpError"),
        Ok(r) if r.status().as_u16() == 201 => Reply {
            error: None,
            report: None,
        },
        Ok(r) => Reply::failed(format!("HTTP {}", r.status().as_u16())),
    }
}

/// SigV4 headers for a Function URL POST (service `lambda`), as IAM auth requires.
pub async fn sign(
    sdk: &aws_config::SdkConfig,
    url: &str,
    body: &[u8],
) -> Result<Vec<(String, String)>, String> {
    use aws_credential_types::provider::ProvideCredentials;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_smithy_runtime_api::client::identity::Identity;
    let credentials = sdk
        .credentials_provider()
        .ok_or("no AWS credentials to sign with")?
        .provide_credentials()
        .await
        .map_err(|e| e.to_string())?;
    let identity: Identity = credentials.into();
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .ok_or("no AWS region to sign for")?;
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&region)
        .name("lambda")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let headers = [("content-type", "application/json")];
    let signable =
        SignableRequest::new("POST", url, headers.into_iter(), SignableBody::Bytes(body))
            .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

/// The `errorType` field of a function error's payload (`{"errorType", "errorMessage"}`, as
/// the runtime reports ingest-fn's `InvalidEvent`, `StoreUnavailable` or `StoreRejected`), else
/// `FunctionError`.
pub(crate) fn function_error_type(payload: Option<&[u8]>) -> String {
    payload
        .and_then(|p| serde_json::from_slice::<Value>(p).ok())
        .and_then(|body| body.get("errorType")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| "FunctionError".to_owned())
}

/// A short, countable name for an Invoke the function never answered, told by the SDK's error
/// variant rather than by its message's wording.
fn invoke_error_name<E, R>(e: &aws_sdk_lambda::error::SdkError<E, R>) -> String {
    use aws_sdk_lambda::error::SdkError;
    match e {
        SdkError::TimeoutError(_) => "Timeout",
        SdkError::DispatchFailure(f) if f.is_timeout() => "Timeout",
        SdkError::DispatchFailure(_) => "ConnectFailed",
        _ => "InvokeFailed",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::{BehaviorVersion, Region};
    use aws_credential_types::Credentials;

    #[test]
    fn a_function_error_is_counted_by_its_error_type() {
        for error_type in ["InvalidEvent", "StoreUnavailable", "StoreRejected"] {
            let payload = serde_json::json!({"errorType": error_type, "errorMessage": "the database rejected the write (MySQL error 1142): retry later"});
            assert_eq!(
                function_error_type(Some(payload.to_string().as_bytes())),
                error_type
            );
        }
        // A message that mentions a timeout does not make one.
        let payload = br#"{"errorType": "StoreUnavailable", "errorMessage": "no connection within DB_CONNECT_TIMEOUT_MS=3000"}"#;
        assert_eq!(function_error_type(Some(payload)), "StoreUnavailable");
        for payload in [None, Some(&b"not json"[..]), Some(&b"{}"[..])] {
            assert_eq!(function_error_type(payload), "FunctionError");
        }
    }

    #[test]
    fn an_unanswered_invoke_is_named_by_the_sdks_error_variant() {
        use aws_sdk_lambda::error::SdkError;
        use aws_smithy_runtime_api::client::result::ConnectorError;
        type E = SdkError<(), ()>;
        let io = || std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Timeout words");
        let cases: [(E, &str); 4] = [
            (SdkError::timeout_error(io()), "Timeout"),
            (
                SdkError::dispatch_failure(ConnectorError::timeout(io().into())),
                "Timeout",
            ),
            (
                SdkError::dispatch_failure(ConnectorError::io(io().into())),
                "ConnectFailed",
            ),
            (SdkError::construction_failure(io()), "InvokeFailed"),
        ];
        for (e, name) in cases {
            assert_eq!(invoke_error_name(&e), name, "{e:?}");
        }
    }

    #[tokio::test]
    async fn function_url_requests_are_sigv4_signed_for_lambda() {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("ap-northeast-1"))
            .credentials_provider(Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                None,
                None,
                "test",
            ))
            .load()
            .await;
        let headers = sign(&sdk, "https://abc.lambda-url.ap-northeast-1.on.aws/", b"{}")
            .await
            .unwrap();
        let auth = headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .map(|(_, v)| v.as_str())
            .unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"),
            "{auth}"
        );
        assert!(
            auth.contains("/ap-northeast-1/lambda/aws4_request"),
            "{auth}"
        );
        assert!(
            auth.contains("SignedHeaders=") && auth.contains("x-amz-date"),
            "{auth}"
        );
        assert!(
            headers
                .iter()
                .any(|(k, _)| k == "x-amz-content-sha256" || k == "x-amz-date")
        );
    }
}
