//! What the tests share: a scratch database with rows received over the last 60 days, the job
//! built on it, moto's S3 (a bucket of the test's own, its objects read back), and a proxy
//! that cuts an upload halfway.

use std::collections::HashMap;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use chrono::{NaiveDateTime, Utc};
use expire::archive::{ArchivedEvent, decode};
use expire::config::{ArchiveSettings, JobSettings};
use expire::restore::{OnDuplicate, insert_rows};
use expire::s3::{Endpoint, S3Archive};
use expire::{Job, Report, Request};
use lambda_harness::FaultProxy;
use lambda_harness::fault_proxy::{Direction, Step};
use lambda_harness::scratch::ScratchDatabase;
use sqlx::mysql::MySqlPool;
use sqlx::{AssertSqlSafe, Row};

pub const REGION: &str = "ap-northeast-1";
/// The retention the tests expire with.
pub const DAYS: u32 = 30;

pub struct TestDb {
    pub scratch: ScratchDatabase,
    pub pool: MySqlPool,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let (scratch, pool) = ScratchDatabase::with_migrator_and_pool(&ingest::MIGRATOR, "expire")
            .await
            .unwrap_or_else(|e| panic!("a database on the test server: {e}"));
        TestDb { scratch, pool }
    }

    /// `n` rows (ids 1 to `n`) received evenly over the last 60 days, oldest first, so that about half are
    /// older than [`DAYS`]. Their devices' clocks are anywhere: `recorded_at` runs from 2001 to
    /// a year ahead, never in step with `received_at`. Every other row has a payload.
    pub async fn seed(&self, n: usize) -> Vec<ArchivedEvent> {
        let now = Utc::now().naive_utc();
        let start = now - chrono::Duration::days(60);
        let step = chrono::Duration::days(60).num_microseconds().unwrap() / n as i64;
        let rows: Vec<ArchivedEvent> = (0..n)
            .map(|i| {
                let received_at = start + chrono::Duration::microseconds(step * i as i64);
                let recorded_at = match i % 3 {
                    0 => received_at - chrono::Duration::seconds(7),
                    1 => NaiveDateTime::parse_from_str("2001-09-09 01:46:40", "%Y-%m-%d %H:%M:%S")
                        .unwrap(),
                    _ => now + chrono::Duration::days(365),
                };
                ArchivedEvent {
                    // As AUTO_INCREMENT numbers a fresh table's rows: from 1.
                    id: i as u64 + 1,
                    event_id: format!("seed-{i}"),
                    source: format!("dev-{}", i % 5),
                    recorded_at,
                    received_at,
                    val1: i as f64 / 7.0,
                    val2: -(i as f64),
                    payload: (i % 2 == 0).then(|| format!(r#"{{"i": {i}, "tag": "ä"}}"#)),
                }
            })
            .collect();
        for batch in rows.chunks(1000) {
            insert_rows(batch, OnDuplicate::Fail)
                .build()
                .execute(&self.pool)
                .await
                .unwrap();
        }
        self.rows().await
    }

    /// Every row, every column, in id order.
    pub async fn rows(&self) -> Vec<ArchivedEvent> {
        sqlx::query(
            "SELECT id, event_id, source, recorded_at, received_at, val1, val2, \
             CAST(payload AS CHAR) AS payload FROM events ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| ArchivedEvent {
            id: r.get("id"),
            event_id: r.get("event_id"),
            source: r.get("source"),
            recorded_at: r.get("recorded_at"),
            received_at: r.get("received_at"),
            val1: r.get("val1"),
            val2: r.get("val2"),
            payload: r.get("payload"),
        })
        .collect()
    }

    pub async fn ids(&self) -> Vec<u64> {
        self.rows().await.iter().map(|r| r.id).collect()
    }

    /// The database's URL as `user` with `password`, or the server's account.
    pub fn url(&self, login: Option<(&str, &str)>) -> String {
        let mut url = url::Url::parse(&self.scratch.url).unwrap();
        if let Some((user, password)) = login {
            url.set_username(user).unwrap();
            url.set_password(Some(password)).unwrap();
        }
        url.to_string()
    }

    /// The configuration the job reads, for `url`.
    pub fn config(&self, url: String) -> ingest::Config {
        let vars: HashMap<&str, String> = HashMap::from([
            ("DATABASE_URL", url),
            ("DB_CONNECT_TIMEOUT_MS", "3000".into()),
        ]);
        ingest::Config::from_lookup(|k| vars.get(k).cloned()).unwrap()
    }

    /// An account of the test's own with exactly `grants` on the events table, as migrate
    /// creates the job's (`SELECT, DELETE`); dropped with the database's server account.
    pub async fn account(&self, grants: &str) -> (String, &'static str) {
        let user = format!("expire_{}", &uuid_suffix());
        let password = "expire-Test-1";
        for sql in [
            format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"),
            format!(
                "GRANT {grants} ON `{}`.`events` TO '{user}'@'%'",
                self.scratch.name
            ),
        ] {
            sqlx::query(AssertSqlSafe(sql))
                .execute(&self.pool)
                .await
                .unwrap();
        }
        (user, password)
    }

    pub async fn drop_account(&self, user: &str) {
        sqlx::query(AssertSqlSafe(format!("DROP USER '{user}'@'%'")))
            .execute(&self.pool)
            .await
            .unwrap();
    }

    pub async fn done(self) {
        self.pool.close().await;
        self.scratch.drop_database().await.unwrap();
    }
}

fn uuid_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{:x}", nanos & 0xffff_ffff, std::process::id())
}

/// The job's settings with [`DAYS`], chunks of `chunk_size`, no pause.
pub fn settings(chunk_size: u64, archive: Option<&Bucket>) -> JobSettings {
    JobSettings {
        retention_days: DAYS,
        archive: archive.map(|b| ArchiveSettings {
            bucket: b.name.clone(),
            prefix: "events/".into(),
        }),
        chunk_size,
        pause: Duration::ZERO,
        deadline_margin: Duration::from_secs(1),
        time_budget: None,
    }
}

/// A scratch database with [`TestDb::seed`]'s `n` rows, and a bucket of the test's own.
pub async fn seeded_with_bucket(n: usize) -> (TestDb, Vec<ArchivedEvent>, Bucket) {
    let db = TestDb::new().await;
    let seeded = db.seed(n).await;
    (db, seeded, Bucket::new().await)
}

/// The job on `db` as the server's account, in chunks of `chunk_size`, archiving to `bucket`
/// through `endpoint` (moto's, or a proxy in front of it).
pub fn archiving_job(db: &TestDb, bucket: &Bucket, chunk_size: u64, endpoint: &str) -> Job {
    Job::new(
        db.config(db.url(None)),
        settings(chunk_size, Some(bucket)),
        Some(bucket.client(endpoint)),
    )
}

pub async fn run(job: &Job, dry_run: bool) -> Result<Report, expire::Failed> {
    job.run(Request {
        dry_run,
        deadline: None,
    })
    .await
}

/// A bucket of the test's own in moto's S3.
pub struct Bucket {
    pub name: String,
    pub endpoint: String,
    http: reqwest::Client,
}

impl Bucket {
    pub async fn new() -> Bucket {
        let endpoint = lambda_harness::moto::endpoint().to_owned();
        let name = format!("archive-{}", uuid_suffix());
        let http = reqwest::Client::new();
        let created = http
            .put(format!("{endpoint}/{name}"))
            .body(format!(
                "<CreateBucketConfiguration><LocationConstraint>{REGION}</LocationConstraint></CreateBucketConfiguration>"
            ))
            .send()
            .await
            .unwrap();
        assert!(created.status().is_success(), "{:?}", created.text().await);
        Bucket {
            name,
            endpoint,
            http,
        }
    }

    /// The job's client for this bucket, at `endpoint` (moto's, or a proxy in front of it).
    pub fn client(&self, endpoint: &str) -> S3Archive {
        let vars = [("AWS_ENDPOINT_URL", endpoint.to_owned())];
        let endpoint = Endpoint::from_lookup(
            |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()),
            &self.name,
            REGION,
        )
        .unwrap();
        let credentials = SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "test",
        ));
        S3Archive::new(self.name.clone(), endpoint, REGION.into(), credentials).unwrap()
    }

    pub async fn keys(&self) -> Vec<String> {
        let listing = self
            .http
            .get(format!("{}/{}?list-type=2", self.endpoint, self.name))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        listing
            .split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_owned)
            .collect()
    }

    /// An object's body and the SHA-256 checksum S3 keeps with it (base64).
    pub async fn object(&self, key: &str) -> (Vec<u8>, Option<String>) {
        let response = self
            .http
            .get(format!("{}/{}/{key}", self.endpoint, self.name))
            .header("x-amz-checksum-mode", "ENABLED")
            // moto refuses anonymous reads of a private bucket (403) but checks no signature.
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20260101/ap-northeast-1/s3/aws4_request, \
                 SignedHeaders=host, Signature=0",
            )
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "GET {key}: {}",
            response.status()
        );
        let checksum = response
            .headers()
            .get("x-amz-checksum-sha256")
            .map(|v| v.to_str().unwrap().to_owned());
        (response.bytes().await.unwrap().to_vec(), checksum)
    }

    /// Every archived row, over all objects.
    pub async fn archived(&self) -> Vec<ArchivedEvent> {
        let mut rows = Vec::new();
        for key in self.keys().await {
            rows.extend(decode(&self.object(&key).await.0[..]).unwrap());
        }
        rows.sort_by_key(|r| r.id);
        rows
    }
}

/// The harness's fault proxy in front of moto, passing each request's headers and half of its
/// body, then cutting the connection both ways: an upload cut halfway. Its URL.
pub async fn cutting_proxy(endpoint: &str) -> (FaultProxy, String) {
    let upstream = url::Url::parse(endpoint).unwrap();
    let proxy = FaultProxy::start(
        upstream.host_str().unwrap().to_owned(),
        upstream.port().unwrap(),
    )
    .await
    .unwrap();
    proxy.tap(Direction::Upstream, || {
        let mut seen: Vec<u8> = Vec::new();
        Box::new(move |chunk: &[u8]| {
            let passed = seen.len();
            seen.extend_from_slice(chunk);
            match half_of_the_body(&seen) {
                Some(at) if at < seen.len() => {
                    vec![Step::Forward(chunk[..at - passed].to_vec()), Step::Cut]
                }
                _ => vec![Step::Forward(chunk.to_vec())],
            }
        })
    });
    let url = format!("http://127.0.0.1:{}", proxy.port());
    (proxy, url)
}

/// Where half of an HTTP request's body ends, once its headers are all in `request`.
fn half_of_the_body(request: &[u8]) -> Option<usize> {
    let end = request.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let headers = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
    let length: usize = headers
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())?;
    Some(end + length / 2)
}
