//! What AWS published, verified: the `AmazonIpSpaceChanged` notification, ip-ranges.json
//! fetched and checked against it, and the ranges selected from it.

mod fetch;
pub(crate) mod ip_ranges;
mod notification;
pub(crate) mod range_set;

use reqwest::Url;

pub use fetch::{FetchError, FetchRanges, Fetcher, md5_hex};
pub use ip_ranges::{Entry, IpRanges, IpRangesError};
pub use notification::{Notification, NotificationError, SyncToken, SyncTokenError};
pub use range_set::{BorderGroups, RangeSet, Selector};

#[derive(Debug, thiserror::Error)]
pub enum PublicationError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(
        "ChecksumMismatch: {url} has md5 {actual} twice, the notification for sync token {notified} says {expected}, \
         and the file's own syncToken {file_token} is not newer; nothing was changed"
    )]
    ChecksumMismatch {
        url: String,
        expected: String,
        actual: String,
        notified: SyncToken,
        file_token: String,
    },
    #[error(transparent)]
    IpRanges(#[from] IpRangesError),
}

/// The publication reduced to what a sync needs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Publication {
    pub sync_token: SyncToken,
    pub create_date: String,
    pub ranges: RangeSet,
}

/// Computes the md5 and parses at once: the two dominate a run's CPU time and are independent.
pub fn digest_and_parse(
    bytes: &[u8],
    digest: bool,
) -> (Option<String>, Result<IpRanges<'_>, IpRangesError>) {
    if !digest {
        return (None, IpRanges::parse(bytes));
    }
    std::thread::scope(|s| {
        let md5 = s.spawn(|| md5_hex(bytes));
        let doc = IpRanges::parse(bytes);
        (md5.join().ok(), doc)
    })
}

/// Fetches `url`, verifies it against `notification` (if any), parses and selects.
pub(crate) async fn fetch(
    fetcher: &impl FetchRanges,
    url: &Url,
    notification: Option<&Notification>,
    selector: &Selector,
) -> Result<Publication, PublicationError> {
    let first = fetcher.fetch(url).await?;
    let (mut md5, mut doc) = digest_and_parse(&first, notification.is_some());
    let second;
    if let Some(n) = notification
        && md5.as_deref() != Some(n.md5.as_str())
    {
        // The CDN may still serve the previous file for a moment.
        tracing::warn!(url = %url, expected = %n.md5, actual = ?md5, "md5 mismatch, fetching once more");
        second = fetcher.fetch(url).await?;
        (md5, doc) = digest_and_parse(&second, true);
    }
    if let Some(n) = notification.filter(|n| md5.as_deref() != Some(n.md5.as_str())) {
        let file_token = doc.as_ref().map(|d| d.sync_token);
        if !file_token.as_ref().is_ok_and(|t| *t > n.sync_token) {
            return Err(PublicationError::ChecksumMismatch {
                url: url.to_string(),
                expected: n.md5.clone(),
                actual: md5.unwrap_or_default(),
                notified: n.sync_token,
                file_token: file_token
                    .map(|t| t.to_string())
                    .unwrap_or_else(|e| format!("unreadable ({e})")),
            });
        }
        tracing::info!(notified = %n.sync_token, file = ?file_token.ok(), "a newer file supersedes the notification");
    }
    let doc = doc?;
    let ranges = RangeSet::select(&doc, selector);
    tracing::info!(sync_token = %doc.sync_token, matched = ranges.matched, aggregated = ranges.len(), "publication selected");
    Ok(Publication {
        sync_token: doc.sync_token,
        create_date: doc.create_date,
        ranges,
    })
}
