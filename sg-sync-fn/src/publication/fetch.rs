//! Getting ip-ranges.json's bytes: over HTTPS with timeouts and a size cap, or from a file.

use std::future::Future;
use std::time::Duration;

use md5::{Digest, Md5};
use reqwest::Url;

/// The file is 2.6 MB today; anything far larger is not ip-ranges.json.
pub(crate) const MAX_DOCUMENT_BYTES: usize = 32 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// No response, or the body broke off (then `status` is the one that had arrived). A
    /// timeout or a reset can pass; a later run fetches again.
    #[error("fetching {url}{}: {}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default(), chain(source))]
    Http {
        url: String,
        status: Option<u16>,
        #[source]
        source: reqwest::Error,
    },
    /// The HTTP client could not be built (no TLS roots, say).
    #[error("building the HTTP client: {}", chain(source))]
    Client {
        #[source]
        source: reqwest::Error,
    },
    #[error("fetching {url}: HTTP status {status}")]
    Status { url: String, status: u16 },
    #[error("fetching {url}: the body exceeds {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge { url: String },
    #[error("reading {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("fetching {url}: unsupported URL")]
    Unsupported { url: String },
}

/// Where the document comes from; a trait so tests can serve any bytes.
pub trait FetchRanges: Send + Sync {
    fn fetch(&self, url: &Url) -> impl Future<Output = Result<Vec<u8>, FetchError>> + Send;
}

/// Fetches over HTTP(S) or from `file://`. Build it once per execution environment.
#[derive(Clone, Debug)]
pub struct Fetcher {
    client: reqwest::Client,
}

impl Fetcher {
    pub fn new() -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            // The URL is configured, not taken from messages; a redirect elsewhere is refused.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sg-sync-fn/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| FetchError::Client { source })?;
        Ok(Fetcher { client })
    }
}

impl FetchRanges for Fetcher {
    async fn fetch(&self, url: &Url) -> Result<Vec<u8>, FetchError> {
        if url.scheme() == "file" {
            let path = url.to_file_path().map_err(|_| FetchError::Unsupported {
                url: url.to_string(),
            })?;
            let file_err = |source| FetchError::File {
                path: path.display().to_string(),
                source,
            };
            let len = tokio::fs::metadata(&path).await.map_err(file_err)?.len();
            if len > MAX_DOCUMENT_BYTES as u64 {
                return Err(FetchError::TooLarge {
                    url: url.to_string(),
                });
            }
            return tokio::fs::read(&path).await.map_err(file_err);
        }
        let http = |status: Option<u16>| {
            move |source: reqwest::Error| FetchError::Http {
                url: url.to_string(),
                status,
                source,
            }
        };
        let mut response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(http(None))?;
        if !response.status().is_success() {
            return Err(FetchError::Status {
                url: url.to_string(),
                status: response.status().as_u16(),
            });
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(FetchError::TooLarge {
                url: url.to_string(),
            });
        }
        let mut body = Vec::with_capacity(response.content_length().unwrap_or(4 << 20) as usize);
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(http(Some(response.status().as_u16())))?
        {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(FetchError::TooLarge {
                    url: url.to_string(),
                });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// An error and its causes, one after the other: reqwest's own message leaves out why a
/// connection failed (refused, reset, a TLS alert).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Lowercase hex md5, as the notification carries it.
pub fn md5_hex(bytes: &[u8]) -> String {
    format!("{:x}", Md5::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_matches_the_reference() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            md5_hex(b"The quick brown fox jumps over the lazy dog"),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
    }

    /// Serves one canned HTTP response per connection on loopback.
    async fn serve(response: Vec<u8>) -> Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!(
            "http://{}/ip-ranges.json",
            listener.local_addr().unwrap()
        ))
        .unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(&response).await;
            }
        });
        url
    }

    #[tokio::test]
    async fn a_broken_transfer_keeps_its_status_and_cause() {
        let f = Fetcher::new().unwrap();
        // The server promises 100 bytes, sends 2 and closes.
        let cut = serve(
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{}".to_vec(),
        )
        .await;
        let e = f.fetch(&cut).await.unwrap_err();
        let FetchError::Http { status, source, .. } = &e else {
            panic!("{e:?}");
        };
        assert_eq!(*status, Some(200));
        assert!(source.is_body() || source.is_decode(), "{source:?}");
        assert!(std::error::Error::source(&e).is_some());
        assert!(e.to_string().contains("(HTTP 200)"), "{e}");
        // Nobody listening: no status, and the cause says why.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            drop(l);
            Url::parse(&format!("http://127.0.0.1:{port}/ip-ranges.json")).unwrap()
        };
        let e = f.fetch(&closed).await.unwrap_err();
        assert!(
            matches!(&e, FetchError::Http { status: None, source, .. } if source.is_connect()),
            "{e:?}"
        );
        assert!(e.to_string().to_lowercase().contains("refused"), "{e}");
    }

    #[tokio::test]
    async fn fetches_over_http_and_refuses_errors_and_oversize_bodies() {
        let f = Fetcher::new().unwrap();
        let ok =
            serve(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}".to_vec())
                .await;
        assert_eq!(f.fetch(&ok).await.unwrap(), b"{}");
        let missing = serve(
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec(),
        )
        .await;
        assert!(matches!(
            f.fetch(&missing).await,
            Err(FetchError::Status { status: 404, .. })
        ));
        let big = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            MAX_DOCUMENT_BYTES + 1
        );
        let big = serve(big.into_bytes()).await;
        assert!(matches!(
            f.fetch(&big).await,
            Err(FetchError::TooLarge { .. })
        ));
        // Chunked, no length announced: the cap still holds while reading.
        let mut chunked =
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n".to_vec();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..33 {
            chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            chunked.extend_from_slice(&chunk);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let chunked = serve(chunked).await;
        assert!(matches!(
            f.fetch(&chunked).await,
            Err(FetchError::TooLarge { .. })
        ));
        let redirect = serve(
            b"HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:1/\r\ncontent-length: 0\r\n\r\n"
                .to_vec(),
        )
        .await;
        assert!(matches!(
            f.fetch(&redirect).await,
            Err(FetchError::Status { status: 302, .. })
        ));
    }

    #[tokio::test]
    async fn reads_files_and_names_missing_ones() {
        let dir = std::env::temp_dir().join(format!("sg-sync-fetch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("doc.json");
        std::fs::write(&path, b"{}").unwrap();
        let f = Fetcher::new().unwrap();
        assert_eq!(
            f.fetch(&Url::from_file_path(&path).unwrap()).await.unwrap(),
            b"{}"
        );
        let missing = Url::from_file_path(dir.join("nope.json")).unwrap();
        assert!(
            f.fetch(&missing)
                .await
                .unwrap_err()
                .to_string()
                .contains("nope.json")
        );
    }
}
