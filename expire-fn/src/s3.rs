//! The archive's one S3 call: `PutObject` with `If-None-Match: *` and the body's SHA-256, signed
//! with `aws-sigv4` and sent with `reqwest`. One request does not need `aws-sdk-s3`, a large
//! crate to build and ship (issue 26's build sizes); the signing is AWS's documented algorithm,
//! checked against AWS's own example below.
//!
//! - Conditional writes: with `If-None-Match: *` S3 writes the object only if no object has the
//!   key, answers 412 Precondition Failed if one has, and 409 ConditionalRequestConflict when a
//!   concurrent write to the key got in the way ("retry the upload"):
//!   https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html,
//!   https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html. They need SigV4 or TLS;
//!   this has both.
//! - Integrity: S3 computes the SHA-256 of what it received, refuses the upload if it differs
//!   from `x-amz-checksum-sha256` (base64), and keeps the checksum with the object:
//!   https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html. So a
//!   body cut or damaged in transit is never stored.
//! - Signing: SigV4 in the Authorization header with `x-amz-content-sha256` (hex of the same
//!   digest) required by S3, URI encoded once and not normalized:
//!   https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_smithy_runtime_api::client::identity::Identity;
use ingest::config::ConfigError;

use crate::archive::Object;
use crate::error::ArchiveError;
use crate::run::{ArchiveStore, PutOutcome};

/// One `PutObject`, from connecting to the last byte of the answer. An archive object is a
/// chunk of rows compressed (a few hundred KB at most): seconds would do; the margin is for a
/// slow network, not a slow S3.
const PUT_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Credentials are used until this close to their expiry, then fetched again.
const CREDENTIALS_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Where the bucket's objects are: `{base}/{key}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    base: String,
}

impl Endpoint {
    /// `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL` (the SDKs' service-specific and global
    /// endpoint settings: https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html),
    /// path-style (`{endpoint}/{bucket}/{key}`), as moto and other stand-ins serve it; otherwise
    /// S3's virtual-hosted-style `https://{bucket}.s3.{region}.amazonaws.com/{key}`:
    /// https://docs.aws.amazon.com/AmazonS3/latest/userguide/VirtualHosting.html.
    pub fn from_lookup(
        var: impl Fn(&str) -> Option<String>,
        bucket: &str,
        region: &str,
    ) -> Result<Endpoint, ConfigError> {
        let set = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let over = set("AWS_ENDPOINT_URL_S3")
            .map(|v| ("AWS_ENDPOINT_URL_S3", v))
            .or_else(|| set("AWS_ENDPOINT_URL").map(|v| ("AWS_ENDPOINT_URL", v)));
        match over {
            Some((name, url)) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(ConfigError {
                        name: if name == "AWS_ENDPOINT_URL_S3" {
                            "AWS_ENDPOINT_URL_S3"
                        } else {
                            "AWS_ENDPOINT_URL"
                        },
                        reason: format!("{url:?} is not an http:// or https:// URL"),
                    });
                }
                Ok(Endpoint {
                    base: format!("{}/{bucket}", url.trim_end_matches('/')),
                })
            }
            None => Ok(Endpoint {
                base: format!("https://{bucket}.s3.{region}.amazonaws.com"),
            }),
        }
    }

    /// An object's URL. Keys hold only characters that need no encoding ([`crate::archive`]).
    pub fn object_url(&self, key: &str) -> String {
        format!("{}/{key}", self.base)
    }
}

/// `ARCHIVE_BUCKET`: S3's bucket naming rules (3 to 63 lowercase letters, digits, `-` and `.`,
/// starting and ending with a letter or digit):
/// https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html. A name with a
/// `.` is refused too: in virtual-hosted style it would not match S3's TLS certificate.
pub fn bucket(value: &str) -> Result<String, String> {
    let ok = (3..=63).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "{value:?} is not a bucket name: 3 to 63 lowercase letters, digits and -, starting \
             and ending with a letter or digit"
        ))
    }
}

/// The archive bucket, written to with `PutObject` only (the function's role has
/// `s3:PutObject` on the prefix and nothing more).
pub struct S3Archive {
    http: reqwest::Client,
    bucket: String,
    endpoint: Endpoint,
    region: String,
    credentials: SharedCredentialsProvider,
    cached: Mutex<Option<Credentials>>,
}

impl S3Archive {
    pub fn new(
        bucket: String,
        endpoint: Endpoint,
        region: String,
        credentials: SharedCredentialsProvider,
    ) -> Result<S3Archive, ConfigError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(PUT_TIMEOUT)
            .build()
            .map_err(|e| ConfigError {
                name: "ARCHIVE_BUCKET",
                reason: format!("building the HTTP client for S3: {e}"),
            })?;
        Ok(S3Archive {
            http,
            bucket,
            endpoint,
            region,
            credentials,
            cached: Mutex::new(None),
        })
    }

    /// The bucket in `sdk`'s region with its credentials, at the endpoint the environment names
    /// ([`Endpoint::from_lookup`]).
    pub fn from_sdk(
        bucket: String,
        sdk: &aws_config::SdkConfig,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<S3Archive, ConfigError> {
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| ConfigError {
                name: "AWS_REGION",
                reason: "required to sign requests to the archive bucket".into(),
            })?;
        let credentials = sdk.credentials_provider().ok_or_else(|| ConfigError {
            name: "ARCHIVE_BUCKET",
            reason: "no AWS credentials to write to the archive bucket with".into(),
        })?;
        let endpoint = Endpoint::from_lookup(var, &bucket, &region)?;
        S3Archive::new(bucket, endpoint, region, credentials)
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The credentials, fetched again when they are close to expiring.
    async fn credentials(&self, key: &str) -> Result<Credentials, ArchiveError> {
        let fresh = |c: &Credentials| {
            c.expiry()
                .is_none_or(|at| at > SystemTime::now() + CREDENTIALS_MARGIN)
        };
        if let Some(c) = self.cached.lock().ok().and_then(|c| c.clone())
            && fresh(&c)
        {
            return Ok(c);
        }
        let c = self.credentials.provide_credentials().await.map_err(|e| {
            ArchiveError::Credentials {
                key: key.to_owned(),
                detail: e.to_string(),
            }
        })?;
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some(c.clone());
        }
        Ok(c)
    }
}

impl ArchiveStore for S3Archive {
    async fn put_new(&self, object: &Object) -> Result<PutOutcome, ArchiveError> {
        let key = object.key.as_str();
        let url = self.endpoint.object_url(key);
        let checksum = object.checksum_base64();
        // Signed, so that nobody on the way can drop the condition or the checksum.
        let headers = [
            ("content-type", "application/gzip"),
            ("if-none-match", "*"),
            ("x-amz-checksum-sha256", checksum.as_str()),
            // What the SDKs send beside the checksum; S3 goes by the checksum header, moto
            // needs this one to keep the checksum with the object.
            ("x-amz-sdk-checksum-algorithm", "SHA256"),
        ];
        let identity: Identity = self.credentials(key).await?.into();
        let signed = sign_put(
            &url,
            &headers,
            &hex::encode(object.sha256),
            &identity,
            &self.region,
            SystemTime::now(),
        )
        .map_err(|detail| ArchiveError::Signing {
            key: key.to_owned(),
            detail,
        })?;
        let mut request = self.http.put(&url).body(object.body.clone());
        for (name, value) in headers.iter().map(|(n, v)| (*n, *v)) {
            request = request.header(name, value);
        }
        for (name, value) in &signed {
            request = request.header(name.as_str(), value.as_str());
        }
        let transport = |e: reqwest::Error| ArchiveError::Transport {
            key: key.to_owned(),
            source: Box::new(e),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        // A cut connection while the answer is read is as good as no answer.
        let body = response.text().await.map_err(transport)?;
        outcome(key, status, &body)
    }
}

/// What S3's answer to a conditional `PutObject` means: 200 written; 412 an object had the key
/// already; 409 ConditionalRequestConflict a concurrent write, to retry; anything else an error.
pub(crate) fn outcome(key: &str, status: u16, body: &str) -> Result<PutOutcome, ArchiveError> {
    let code = error_code(body);
    match (status, code.as_deref()) {
        (200..=299, _) => Ok(PutOutcome::Created),
        (412, _) => Ok(PutOutcome::AlreadyArchived),
        (409, Some("ConditionalRequestConflict")) => Ok(PutOutcome::Conflict),
        _ => Err(ArchiveError::Refused {
            key: key.to_owned(),
            status,
            message: element(body, "Message").unwrap_or_default(),
            code,
        }),
    }
}

/// The `<Code>` of an S3 error document.
/// https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
fn error_code(body: &str) -> Option<String> {
    element(body, "Code")
}

/// The text of the first `<name>` element: the error document is flat, and this is all of it
/// that is read.
fn element(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = body.find(&open)? + open.len();
    let end = start + body[start..].find(&format!("</{name}>"))?;
    Some(body[start..end].trim().to_owned())
}

/// The headers that sign `PUT url` carrying `headers` and a body whose SHA-256 is
/// `payload_sha256_hex`, for `identity` in `region` at `time`: `x-amz-date`,
/// `x-amz-content-sha256`, `authorization` and, with temporary credentials (Lambda's),
/// `x-amz-security-token`. Pure, so that AWS's example can test it.
pub(crate) fn sign_put(
    url: &str,
    headers: &[(&str, &str)],
    payload_sha256_hex: &str,
    identity: &Identity,
    region: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let mut settings = SigningSettings::default();
    // S3's exceptions to SigV4's defaults: the path is encoded once, not twice, and not
    // normalized; the payload's hash travels as x-amz-content-sha256.
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(identity)
        .region(region)
        .name("s3")
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| format!("S3 signing parameters: {e}"))?
        .into();
    let request = SignableRequest::new(
        "PUT",
        url,
        headers.iter().copied(),
        SignableBody::Precomputed(payload_sha256_hex.to_owned()),
    )
    .map_err(|e| format!("request to sign, PUT {url}: {e}"))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| format!("signing PUT {url}: {e}"))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// AWS's documented example of a signed PutObject, "Example: PUT Object"
    /// (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html): the
    /// same inputs must give its signature.
    #[test]
    fn signs_as_awss_put_object_example() {
        let identity: Identity = Credentials::new(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "example",
        )
        .into();
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600); // 2013-05-24
        let body_sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            "Welcome to Amazon S3.",
        ));
        assert_eq!(
            body_sha256,
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
        );
        let signed = sign_put(
            "https://examplebucket.s3.amazonaws.com/test%24file.text",
            &[
                ("date", "Fri, 24 May 2013 00:00:00 GMT"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ],
            &body_sha256,
            &identity,
            "us-east-1",
            time,
        )
        .unwrap();
        let header = |name: &str| {
            signed
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("{name} in {signed:?}"))
        };
        assert_eq!(
            header("authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, \
             Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        );
        assert_eq!(header("x-amz-content-sha256"), body_sha256);
        assert_eq!(header("x-amz-date"), "20130524T000000Z");
    }

    /// Lambda's credentials are temporary: the token travels signed; and the condition and the
    /// checksum are among the signed headers.
    #[test]
    fn the_condition_the_checksum_and_the_session_token_are_signed() {
        let identity: Identity =
            Credentials::new("akid", "secret", Some("tok".into()), None, "test").into();
        let signed = sign_put(
            "https://archive.s3.ap-northeast-1.amazonaws.com/events/2026/03/01/a.jsonl.gz",
            &[("if-none-match", "*"), ("x-amz-checksum-sha256", "abc=")],
            &"0".repeat(64),
            &identity,
            "ap-northeast-1",
            SystemTime::UNIX_EPOCH,
        )
        .unwrap();
        let get = |name: &str| signed.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        assert_eq!(get("x-amz-security-token").map(String::as_str), Some("tok"));
        let auth = get("authorization").unwrap();
        assert!(
            auth.contains("SignedHeaders=host;if-none-match;x-amz-checksum-sha256;x-amz-content-sha256;x-amz-date;x-amz-security-token,"),
            "{auth}"
        );
        assert!(auth.contains("/ap-northeast-1/s3/aws4_request"), "{auth}");
    }

    #[test]
    fn the_endpoint_is_path_style_when_set_else_virtual_hosted() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let url = |e: Endpoint| e.object_url("events/k.jsonl.gz");
        assert_eq!(
            url(Endpoint::from_lookup(vars(&[]), "arch", "eu-west-1").unwrap()),
            "https://arch.s3.eu-west-1.amazonaws.com/events/k.jsonl.gz"
        );
        assert_eq!(
            url(Endpoint::from_lookup(
                vars(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:5000/")]),
                "arch",
                "eu-west-1"
            )
            .unwrap()),
            "http://127.0.0.1:5000/arch/events/k.jsonl.gz"
        );
        let both = vars(&[
            ("AWS_ENDPOINT_URL", "http://global:1"),
            ("AWS_ENDPOINT_URL_S3", "http://s3-only:2"),
        ]);
        assert_eq!(
            url(Endpoint::from_lookup(both, "arch", "r").unwrap()),
            "http://s3-only:2/arch/events/k.jsonl.gz"
        );
        let e = Endpoint::from_lookup(vars(&[("AWS_ENDPOINT_URL_S3", "s3.local")]), "a", "r")
            .unwrap_err();
        assert_eq!(e.name, "AWS_ENDPOINT_URL_S3");
    }

    #[test]
    fn bucket_names_follow_s3s_rules() {
        for good in ["abc", "ingest-archive-123", &"a".repeat(63)] {
            assert_eq!(bucket(good).unwrap(), good);
        }
        for bad in [
            "ab",
            "Archive",
            "-abc",
            "abc-",
            "a.b.c",
            "a_b",
            &"a".repeat(64),
        ] {
            assert!(
                bucket(bad).unwrap_err().contains("not a bucket name"),
                "{bad}"
            );
        }
    }

    #[test]
    fn s3s_answers() {
        let err = |status, code: &str| {
            let body = format!(
                "<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>says {code}</Message></Error>"
            );
            outcome("k", status, &body)
        };
        assert_eq!(outcome("k", 200, "").unwrap(), PutOutcome::Created);
        assert_eq!(
            err(412, "PreconditionFailed").unwrap(),
            PutOutcome::AlreadyArchived
        );
        assert_eq!(
            err(409, "ConditionalRequestConflict").unwrap(),
            PutOutcome::Conflict
        );
        let e = err(409, "OperationAborted").unwrap_err();
        assert!(
            e.to_string()
                .contains("HTTP 409 OperationAborted (says OperationAborted)"),
            "{e}"
        );
        let e = err(403, "AccessDenied").unwrap_err();
        assert!(!e.retry_helps(), "{e}");
        assert!(e.to_string().contains("PutObject k"), "{e}");
        assert!(err(503, "SlowDown").unwrap_err().retry_helps());
        assert!(err(500, "InternalError").unwrap_err().retry_helps());
        assert!(
            err(400, "BadDigest").unwrap_err().retry_helps(),
            "damaged on the way"
        );
        assert!(!err(404, "NoSuchBucket").unwrap_err().retry_helps());
    }
}
