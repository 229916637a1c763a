//! How a connection logs in, beyond what the settings say: a database secret's password (and
//! username) over the connect options, or an RDS IAM token signer for them. Shared by the
//! function's store and migrate (the `migrate-fn` crate), which each read secrets and sign
//! tokens on their own schedule.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_smithy_runtime_api::client::identity::Identity;
use serde::Deserialize;
use sqlx::mysql::MySqlConnectOptions;

/// A database secret as RDS and the infra write it: JSON with `username` and `password`.
/// Deliberately not `Debug`.
#[derive(Deserialize)]
pub struct SecretValue {
    pub username: Option<String>,
    pub password: String,
}

impl SecretValue {
    /// A `GetSecretValue` answer's `SecretString`; `None` unless it is JSON with a password.
    /// The reason is left out on purpose: serde's message may quote the secret.
    pub fn parse(secret_string: Option<&str>) -> Option<SecretValue> {
        serde_json::from_str(secret_string.unwrap_or_default()).ok()
    }

    /// `options` logging in with this secret: its password, and its username unless `DB_USER`
    /// named the account (`user_set`). `None` when neither names it.
    pub fn log_in(
        self,
        options: MySqlConnectOptions,
        user_set: bool,
    ) -> Option<MySqlConnectOptions> {
        let options = options.password(&self.password);
        match (user_set, self.username) {
            (true, _) => Some(options),
            (false, Some(user)) => Some(options.username(&user)),
            (false, None) => None,
        }
    }
}

/// How long a token admits new connections: RDS's maximum, 15 minutes.
/// <https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.html>
const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Signs RDS IAM authentication tokens for one host, port and user. A token is a SigV4
/// presigned `GET https://host:port/?Action=connect&DBUser=user` (service `rds-db`, signature
/// in the query), written without its scheme, which the server checks as the password
/// (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.Connecting.html>).
/// This is all `aws-sdk-rds`'s `AuthTokenGenerator` does; signing it here spares the build
/// that whole SDK crate.
pub struct TokenSigner {
    /// `https://host:port/?Action=connect&DBUser=user`, the request that is signed.
    url: String,
}

impl TokenSigner {
    /// A signer for the host, port and user of `options`.
    pub fn for_options(options: &MySqlConnectOptions) -> TokenSigner {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "connect")
            .append_pair("DBUser", options.get_username())
            .finish();
        TokenSigner {
            url: format!(
                "https://{}:{}/?{query}",
                options.get_host(),
                options.get_port()
            ),
        }
    }

    /// A token signed now with the credentials and region of `sdk` (the function's role).
    pub async fn token(&self, sdk: &aws_config::SdkConfig) -> Result<String, String> {
        let credentials = sdk
            .credentials_provider()
            .ok_or("no AWS credentials to sign an RDS IAM token with")?
            .provide_credentials()
            .await
            .map_err(|e| format!("AWS credentials for an RDS IAM token: {e}"))?;
        // A token signed for another region is refused as a wrong password: no default.
        let region = sdk
            .region()
            .ok_or("no AWS region (AWS_REGION) to sign an RDS IAM token for")?;
        self.sign(&credentials.into(), region.as_ref(), SystemTime::now())
    }

    /// The token for `identity` in `region` at `time`: pure, so a fixed vector can test it.
    pub(crate) fn sign(
        &self,
        identity: &Identity,
        region: &str,
        time: SystemTime,
    ) -> Result<String, String> {
        let mut settings = SigningSettings::default();
        settings.expires_in = Some(TOKEN_LIFETIME);
        settings.signature_location = SignatureLocation::QueryParams;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(identity)
            .region(region)
            .name("rds-db")
            .time(time)
            .settings(settings)
            .build()
            .map_err(|e| format!("RDS IAM token signing parameters: {e}"))?
            .into();
        let request = SignableRequest::new(
            "GET",
            &self.url,
            std::iter::empty(),
            SignableBody::Bytes(&[]),
        )
        .map_err(|e| format!("RDS IAM token request {}: {e}", self.url))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| format!("signing an RDS IAM token: {e}"))?
            .into_parts();
        let mut token = self.url["https://".len()..].to_owned();
        let mut signature = form_urlencoded::Serializer::new(String::new());
        for (name, value) in instructions.params() {
            signature.append_pair(name, value);
        }
        token.push('&');
        token.push_str(&signature.finish());
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> MySqlConnectOptions {
        MySqlConnectOptions::new()
            .host("db")
            .username("from-settings")
    }

    /// aws-sdk-rds's own test vector for `AuthTokenGenerator` (sdk/rds/src/auth_token.rs,
    /// `signing_works`, aws-sdk-rds 1.125.0): the same inputs must give the same token.
    #[test]
    fn tokens_match_the_sdks_signer() {
        let options = MySqlConnectOptions::new()
            .host("prod-instance.us-east-1.rds.amazonaws.com")
            .port(3306)
            .username("peccy");
        let identity = aws_credential_types::Credentials::new("akid", "secret", None, None, "test");
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_724_709_600);
        let token = TokenSigner::for_options(&options)
            .sign(&identity.into(), "us-east-1", time)
            .unwrap();
        assert_eq!(
            token,
            "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect&DBUser=peccy\
             &X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=akid%2F20240826%2Fus-east-1%2Frds-db%2Faws4_request\
             &X-Amz-Date=20240826T220000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=dd0cba843009474347af724090233265628ace491ea17ce3eb3da098b983ad89"
        );
    }

    /// Lambda's credentials are temporary: the session token travels in the query, and is
    /// part of what is signed (another token, another signature).
    #[test]
    fn a_session_token_is_signed_into_the_token() {
        let options = MySqlConnectOptions::new()
            .host("db.example")
            .username("ingest_fn");
        let token = |session: &str| {
            let identity = aws_credential_types::Credentials::new(
                "akid",
                "secret",
                Some(session.into()),
                None,
                "test",
            );
            TokenSigner::for_options(&options)
                .sign(&identity.into(), "ap-northeast-1", SystemTime::UNIX_EPOCH)
                .unwrap()
        };
        let signature = |token: &str| {
            let at = token.find("X-Amz-Signature=").expect("a signature");
            token[at..].split('&').next().unwrap().to_owned()
        };
        let (one, other) = (token("tok/en"), token("another"));
        assert!(
            one.starts_with("db.example:3306/?Action=connect&DBUser=ingest_fn&"),
            "{one}"
        );
        assert!(one.contains("&X-Amz-Security-Token=tok%2Fen"), "{one}");
        assert!(one.contains("%2Fap-northeast-1%2Frds-db%2F"), "{one}");
        assert_ne!(signature(&one), signature(&other));
    }

    #[test]
    fn a_secret_logs_in_as_its_user_unless_db_user_named_one() {
        let secret = || SecretValue::parse(Some(r#"{"username":"admin","password":"pw"}"#));
        let o = secret().unwrap().log_in(options(), false).unwrap();
        assert_eq!(o.get_username(), "admin");
        let o = secret().unwrap().log_in(options(), true).unwrap();
        assert_eq!(o.get_username(), "from-settings");
        let anonymous = SecretValue::parse(Some(r#"{"password":"pw"}"#)).unwrap();
        assert!(anonymous.log_in(options(), false).is_none());
        for not_a_secret in [None, Some(""), Some("pw"), Some(r#"{"username":"u"}"#)] {
            assert!(
                SecretValue::parse(not_a_secret).is_none(),
                "{not_a_secret:?}"
            );
        }
    }
}
