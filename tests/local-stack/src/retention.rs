//! The local stack's retention step (issue 29): rows received long before the retention, where a
//! table that grew over time holds them (below every id the functions assign); a bucket in
//! moto's S3; `ingest-expire` run as an operator runs it; then what it deleted, what it archived
//! and what it left.
//!
//! The job deletes chunk after chunk from the table's first id and stops at the first chunk that
//! holds a row at or after the cutoff (expire-fn's `chunk::judge`), so aged rows are expired only
//! when their ids come before every young row's: they are seeded first, into a fresh database,
//! with ids of their own.

use std::path::Path;
use std::process::Stdio;

use chrono::{Duration, NaiveDateTime};
use expire::archive::ArchivedEvent;
use sqlx::Row;
use sqlx::mysql::MySqlPool;

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("{what}: {source}")]
    Sql {
        what: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("moto's S3, {what} ({url}): {source}")]
    S3 {
        what: String,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("moto's S3 answered {status} to {what} ({url}): {body}")]
    S3Status {
        what: String,
        url: String,
        status: u16,
        body: String,
    },
    #[error("running {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("ingest-expire failed ({status}); its report: {stdout}; stderr: {stderr}")]
    Expire {
        status: String,
        stdout: String,
        stderr: String,
    },
    #[error("ingest-expire printed what is not its JSON report ({source}): {stdout}")]
    Report {
        stdout: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("archive object {key}: {source}")]
    Decode {
        key: String,
        #[source]
        source: expire::archive::DecodeError,
    },
}

fn sql(what: &str) -> impl FnOnce(sqlx::Error) -> RetentionError {
    let what = what.to_owned();
    move |source| RetentionError::Sql { what, source }
}

/// The aged rows: ids `1..=n`, received `days` days and 1 to `n` hours ago (the lower the id,
/// the older, as ingest assigns them), each with the `recorded_at` its device's clock gave:
/// most a few seconds before receipt, every third a year ahead (a device with a wrong clock).
/// The cutoff reads `received_at`, so the wrong clocks change nothing.
pub fn aged_rows(n: u64, days: u32, now: NaiveDateTime) -> Vec<ArchivedEvent> {
    (1..=n)
        .map(|id| {
            let received_at =
                now - Duration::days(days.into()) - Duration::hours((n - id + 1) as i64);
            let recorded_at = if id % 3 == 0 {
                received_at + Duration::days(365)
            } else {
                received_at - Duration::seconds(3)
            };
            ArchivedEvent {
                id,
                event_id: format!("local-stack-aged-{id}"),
                source: "local-stack-aged".into(),
                recorded_at,
                received_at,
                val1: id as f64,
                val2: 0.0,
                payload: None,
            }
        })
        .collect()
}

/// Inserts `rows` with their ids, in one statement.
pub async fn seed(pool: &MySqlPool, rows: &[ArchivedEvent]) -> Result<(), RetentionError> {
    expire::restore::insert_rows(rows, expire::restore::OnDuplicate::Fail)
        .build()
        .execute(pool)
        .await
        .map_err(sql("seeding the aged rows"))?;
    Ok(())
}

/// The table against a cutoff: all its rows, and those received before the cutoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Census {
    pub rows: i64,
    pub older: i64,
}

pub async fn census(pool: &MySqlPool, cutoff: NaiveDateTime) -> Result<Census, RetentionError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS all_rows, COUNT(CASE WHEN received_at < ? THEN 1 END) AS older \
         FROM events",
    )
    .bind(cutoff)
    .fetch_one(pool)
    .await
    .map_err(sql("counting the rows"))?;
    Ok(Census {
        rows: row.try_get("all_rows").map_err(sql("counting the rows"))?,
        older: row.try_get("older").map_err(sql("counting the rows"))?,
    })
}

/// How many rows of load run `run_id` (event ids `<run id>-<sequence>`) the table holds.
pub async fn run_rows(pool: &MySqlPool, run_id: &str) -> Result<i64, RetentionError> {
    sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE event_id LIKE CONCAT(?, '-%')")
        .bind(run_id)
        .fetch_one(pool)
        .await
        .map_err(sql("counting the load run's rows"))
}

/// `received_at` and `recorded_at` of the event `event_id`, if it is there.
pub async fn times_of(
    pool: &MySqlPool,
    event_id: &str,
) -> Result<Option<(NaiveDateTime, NaiveDateTime)>, RetentionError> {
    let row = sqlx::query("SELECT received_at, recorded_at FROM events WHERE event_id = ?")
        .bind(event_id)
        .fetch_optional(pool)
        .await
        .map_err(sql("reading one event"))?;
    row.map(|r| -> Result<_, sqlx::Error> { Ok((r.try_get(0)?, r.try_get(1)?)) })
        .transpose()
        .map_err(sql("reading one event"))
}

/// One object of a bucket listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
}

/// The objects of a `ListObjectsV2` answer, in its order.
pub fn listed(xml: &str) -> Vec<Listed> {
    let field = |text: &str, name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = text.find(&open)? + open.len();
        let len = text[start..].find(&close)?;
        Some(text[start..start + len].to_owned())
    };
    xml.split("<Contents>")
        .skip(1)
        .filter_map(|c| {
            let key = field(c, "Key")?;
            let size = field(c, "Size")?.parse().ok()?;
            Some(Listed { key, size })
        })
        .collect()
}

/// moto's S3, path-style, as the local stack reads it back.
pub struct MotoS3 {
    endpoint: String,
    http: reqwest::Client,
}

/// moto refuses an anonymous read of a private bucket's object (403) but checks no signature.
const MOTO_AUTHORIZATION: &str = "AWS4-HMAC-SHA256 \
    Credential=testing/20260101/ap-northeast-1/s3/aws4_request, SignedHeaders=host, Signature=0";

impl MotoS3 {
    pub fn new(endpoint: &str) -> MotoS3 {
        MotoS3 {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<reqwest::Response, RetentionError> {
        let failed = |source| RetentionError::S3 {
            what: what.to_owned(),
            url: url.to_owned(),
            source,
        };
        let response = request
            .header("authorization", MOTO_AUTHORIZATION)
            .send()
            .await
            .map_err(failed)?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        Err(RetentionError::S3Status {
            what: what.to_owned(),
            url: url.to_owned(),
            status,
            body: response.text().await.unwrap_or_default(),
        })
    }

    /// CreateBucket in `region`.
    pub async fn create_bucket(&self, bucket: &str, region: &str) -> Result<(), RetentionError> {
        let url = format!("{}/{bucket}", self.endpoint);
        let body = format!(
            "<CreateBucketConfiguration><LocationConstraint>{region}</LocationConstraint>\
             </CreateBucketConfiguration>"
        );
        self.send("creating the bucket", self.http.put(&url).body(body), &url)
            .await?;
        Ok(())
    }

    /// The bucket's objects (the first 1,000, which is all a local run makes).
    pub async fn list(&self, bucket: &str) -> Result<Vec<Listed>, RetentionError> {
        let url = format!("{}/{bucket}?list-type=2", self.endpoint);
        let response = self
            .send("listing the bucket", self.http.get(&url), &url)
            .await?;
        let xml = response.text().await.map_err(|source| RetentionError::S3 {
            what: "reading the listing".into(),
            url: url.clone(),
            source,
        })?;
        Ok(listed(&xml))
    }

    /// One archive object's rows.
    pub async fn rows(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Vec<ArchivedEvent>, RetentionError> {
        let url = format!("{}/{bucket}/{key}", self.endpoint);
        let response = self
            .send("reading an object", self.http.get(&url), &url)
            .await?;
        let body = response
            .bytes()
            .await
            .map_err(|source| RetentionError::S3 {
                what: "reading an object".into(),
                url: url.clone(),
                source,
            })?;
        expire::archive::decode(&body[..]).map_err(|source| RetentionError::Decode {
            key: key.to_owned(),
            source,
        })
    }
}

/// One run of the `ingest-expire` command, as an operator starts it by hand.
pub struct ExpireCommand<'a> {
    pub program: &'a Path,
    pub database_url: &'a str,
    /// moto's endpoint (`AWS_ENDPOINT_URL`).
    pub endpoint: &'a str,
    pub region: &'a str,
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub args: &'a [String],
}

impl ExpireCommand<'_> {
    /// Runs it; its JSON report.
    pub async fn run(&self) -> Result<serde_json::Value, RetentionError> {
        let out = tokio::process::Command::new(self.program)
            .kill_on_drop(true)
            .args(self.args)
            .env("DATABASE_URL", self.database_url)
            .env("ARCHIVE_BUCKET", self.bucket)
            .env("ARCHIVE_PREFIX", self.prefix)
            .env("AWS_ENDPOINT_URL", self.endpoint)
            .env("AWS_REGION", self.region)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            // The command, not the function; the flags, not the caller's environment.
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .env_remove("EXPIRE_CHUNK_SIZE")
            .env_remove("EXPIRE_PAUSE_MS")
            .env_remove("EXPIRE_TIME_BUDGET_SECONDS")
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|source| RetentionError::Spawn {
                program: self.program.display().to_string(),
                source,
            })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(RetentionError::Expire {
                status: out.status.to_string(),
                stdout,
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        serde_json::from_str(&stdout).map_err(|source| RetentionError::Report { stdout, source })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    #[test]
    fn aged_rows_are_older_than_the_cutoff_in_id_order_whatever_their_devices_clocks() {
        let now = Utc::now().naive_utc();
        let rows = aged_rows(29, 40, now);
        assert_eq!(rows.len(), 29);
        assert_eq!(
            rows.iter().map(|r| r.id).collect::<Vec<_>>(),
            (1..=29).collect::<Vec<_>>()
        );
        let cut = expire::chunk::cutoff(Utc::now(), 30);
        assert!(rows.iter().all(|r| r.received_at < cut));
        assert!(rows.windows(2).all(|w| w[0].received_at < w[1].received_at));
        // Some devices' clocks are a year ahead: recorded "in the future", expired all the same.
        assert!(rows.iter().any(|r| r.recorded_at > now));
    }

    #[test]
    fn a_listing_gives_each_objects_key_and_size() {
        let xml = "<?xml version=\"1.0\"?><ListBucketResult><Name>b</Name><KeyCount>2</KeyCount>\
                   <Contents><Key>events/a_rows-9.jsonl.gz</Key><LastModified>x</LastModified>\
                   <Size>412</Size></Contents><Contents><Key>events/b.jsonl.gz</Key>\
                   <Size>7</Size></Contents></ListBucketResult>";
        assert_eq!(
            listed(xml),
            vec![
                Listed {
                    key: "events/a_rows-9.jsonl.gz".into(),
                    size: 412
                },
                Listed {
                    key: "events/b.jsonl.gz".into(),
                    size: 7
                },
            ]
        );
        assert!(listed("<ListBucketResult><KeyCount>0</KeyCount></ListBucketResult>").is_empty());
    }
}
