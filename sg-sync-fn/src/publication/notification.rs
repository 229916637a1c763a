//! The `AmazonIpSpaceChanged` SNS message: which version of ip-ranges.json was published.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The version number of an ip-ranges.json publication (seconds since the epoch, as text).
/// Newer publications always carry larger tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "String")]
pub struct SyncToken(pub u64);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid sync token {0:?}: expected decimal digits")]
pub struct SyncTokenError(pub String);

impl FromStr for SyncToken {
    type Err = SyncTokenError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SyncTokenError(s.to_owned()));
        }
        s.parse()
            .map(SyncToken)
            .map_err(|_| SyncTokenError(s.to_owned()))
    }
}

impl fmt::Display for SyncToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<SyncToken> for String {
    fn from(t: SyncToken) -> String {
        t.to_string()
    }
}

/// A parsed, validated notification. The message's `url` is not read: the function fetches
/// from its own configured URL, never from an address a message names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// When AWS published the change; logged with the notification.
    pub create_time: String,
    pub sync_token: SyncToken,
    /// Lowercase hex md5 of the published file.
    pub md5: String,
}

#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error("notification is not the expected JSON object: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("notification field synctoken: {0}")]
    SyncToken(#[from] SyncTokenError),
    #[error("notification field md5: {0:?} is not 32 hex digits")]
    Md5(String),
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "create-time")]
    create_time: String,
    synctoken: String,
    md5: String,
}

impl Notification {
    /// Parses the SNS message body.
    pub fn parse(message: &str) -> Result<Self, NotificationError> {
        let raw: Raw = serde_json::from_str(message)?;
        let sync_token = raw.synctoken.parse()?;
        if raw.md5.len() != 32 || !raw.md5.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(NotificationError::Md5(raw.md5));
        }
        Ok(Notification {
            create_time: raw.create_time,
            sync_token,
            md5: raw.md5.to_ascii_lowercase(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &str = r#"{
  "create-time": "2026-08-22T15:17:05+00:00",
  "synctoken": "1787411825",
  "md5": "63431d35877fa5386ded1a7df9cfa971",
  "url": "https://ip-ranges.amazonaws.com/ip-ranges.json"
}"#;

    #[test]
    fn parses_the_published_shape() {
        let n = Notification::parse(REAL).unwrap();
        assert_eq!(n.sync_token, SyncToken(1787411825));
        assert_eq!(n.md5, "63431d35877fa5386ded1a7df9cfa971");
        assert_eq!(n.create_time, "2026-08-22T15:17:05+00:00");
    }

    #[test]
    fn names_what_is_wrong() {
        let missing =
            Notification::parse(r#"{"create-time":"x","md5":"63431d35877fa5386ded1a7df9cfa971"}"#);
        assert!(missing.unwrap_err().to_string().contains("synctoken"));
        let token = REAL.replace("1787411825", "17874x1825");
        assert!(
            Notification::parse(&token)
                .unwrap_err()
                .to_string()
                .contains("17874x1825")
        );
        let md5 = REAL.replace("63431d35877fa5386ded1a7df9cfa971", "abc");
        assert!(
            Notification::parse(&md5)
                .unwrap_err()
                .to_string()
                .contains("\"abc\"")
        );
        assert!(Notification::parse("not json").is_err());
    }

    #[test]
    fn tokens_order_numerically() {
        assert!("10".parse::<SyncToken>().unwrap() > "9".parse::<SyncToken>().unwrap());
        assert!("".parse::<SyncToken>().is_err());
        assert!("-1".parse::<SyncToken>().is_err());
        assert!("99999999999999999999999".parse::<SyncToken>().is_err());
    }
}
