use std::collections::BTreeSet;
use std::process::Command;

use base64::Engine;
use chrono::Utc;
use expire::archive::{ArchivedEvent, Object};
use expire::chunk::{Chunk, cutoff};
use expire::run::{ArchiveStore, PutOutcome};
use expire::{ArchiveError, ExpireError};
use sha2::Digest;

use crate::support::{Bucket, DAYS, TestDb, archiving_job, cutting_proxy, run, seeded_with_bucket};

const BIN: &str = env!("CARGO_BIN_EXE_ingest-expire");

/// The rows of `seeded` that are no longer in the table.
fn deleted(seeded: &[ArchivedEvent], left: &[u64]) -> Vec<ArchivedEvent> {
    seeded
        .iter()
        .filter(|r| !left.contains(&r.id))
        .cloned()
        .collect()
}

#[tokio::test]
async fn each_chunk_is_archived_to_s3_with_its_checksum_before_it_is_deleted() {
    let (db, seeded, bucket) = seeded_with_bucket(600).await;
    let job = archiving_job(&db, &bucket, 100, &bucket.endpoint);
    let report = run(&job, false).await.unwrap();
    let gone = deleted(&seeded, &db.ids().await);
    assert!(!gone.is_empty());
    assert_eq!(
        (report.expired, report.archived),
        (gone.len() as u64, gone.len() as u64)
    );
    // Every deleted row, every column as it was, in exactly one object.
    assert_eq!(bucket.archived().await, gone);
    let keys = bucket.keys().await;
    assert_eq!(keys.len() as u64, report.chunks, "one object per chunk");
    for key in &keys {
        assert!(key.starts_with("events/20"), "{key}");
        assert!(
            key.ends_with(".jsonl.gz") && key.contains("_ids-0000"),
            "{key}"
        );
        let (body, checksum) = bucket.object(key).await;
        let digest = sha2::Sha256::digest(&body);
        assert_eq!(
            checksum.as_deref(),
            Some(
                base64::engine::general_purpose::STANDARD
                    .encode(digest)
                    .as_str()
            ),
            "{key}: the checksum kept with the object"
        );
    }
    db.done().await;
}

// moto 5.2.5 honours `If-None-Match: *` on PutObject (moto/s3/responses.py, put_object: 412
// PreconditionFailed when the key exists), so the 412 path is tested against it: an object at
// the first chunk's key already (a stand-in body, to see that it is not overwritten) makes the
// run take the chunk for archived and delete it.
#[tokio::test]
async fn an_object_already_at_the_key_is_not_overwritten_and_its_chunk_is_deleted() {
    let (db, seeded, bucket) = seeded_with_bucket(600).await;
    let client = bucket.client(&bucket.endpoint);
    let cut = cutoff(Utc::now(), DAYS);
    let first = Chunk::containing(seeded[0].id, 100);
    let rows: Vec<ArchivedEvent> = seeded
        .iter()
        .filter(|r| first.contains(r.id) && r.received_at < cut)
        .cloned()
        .collect();
    let mut earlier = Object::of("events/", first, &rows).unwrap();
    earlier.body = b"an earlier run's object".to_vec();
    earlier.sha256 = sha2::Sha256::digest(&earlier.body).into();
    assert_eq!(client.put_new(&earlier).await.unwrap(), PutOutcome::Created);
    assert_eq!(
        client.put_new(&earlier).await.unwrap(),
        PutOutcome::AlreadyArchived
    );

    let job = archiving_job(&db, &bucket, 100, &bucket.endpoint);
    let report = run(&job, false).await.unwrap();
    assert_eq!(report.already_archived_chunks, 1);
    assert_eq!(report.archived, report.expired - rows.len() as u64);
    assert!(
        db.ids().await.iter().all(|id| !first.contains(*id)),
        "the chunk is gone"
    );
    assert_eq!(
        bucket.object(&earlier.key).await.0,
        earlier.body,
        "not overwritten"
    );
    db.done().await;
}

// The upload goes through a proxy that passes the request's headers and half its body, then
// cuts the connection: S3 (moto) stores nothing, the run deletes nothing of that chunk and
// stops with an error that says retrying helps; the next run, through S3 itself, does it all.
// The proxy is the harness's fault proxy, with a tap that finds the body's middle.
#[tokio::test]
async fn an_upload_cut_halfway_deletes_nothing() {
    let (db, seeded, bucket) = seeded_with_bucket(300).await;
    let (proxy, through) = cutting_proxy(&bucket.endpoint).await;
    let job = archiving_job(&db, &bucket, 100, &through);
    let failed = run(&job, false).await.unwrap_err();
    let ExpireError::Archive { chunk, source } = &failed.error else {
        panic!("an archive error: {}", failed.error)
    };
    assert!(matches!(source, ArchiveError::Transport { .. }), "{source}");
    assert_eq!(chunk.first, 0);
    assert!(failed.error.retry_helps(), "{}", failed.error);
    assert_eq!(db.rows().await, seeded, "nothing deleted");
    assert!(
        bucket.keys().await.is_empty(),
        "no object stored: {:?}",
        bucket.keys().await
    );
    assert_eq!((failed.report.expired, failed.report.archived), (0, 0));
    assert_eq!(proxy.connections(), 1, "one upload, not retried");

    let job = archiving_job(&db, &bucket, 100, &bucket.endpoint);
    let report = run(&job, false).await.unwrap();
    assert_eq!(bucket.archived().await, deleted(&seeded, &db.ids().await));
    assert!(report.archived > 0);
    db.done().await;
}

/// `ingest-expire` (the command) on `db`, archiving to `bucket`.
fn command(db: &TestDb, bucket: &Bucket, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env("DATABASE_URL", db.url(None))
        .env("AWS_ENDPOINT_URL", &bucket.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", crate::support::REGION)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("EXPIRE_CHUNK_SIZE")
        .env_remove("EXPIRE_PAUSE_MS")
        .env_remove("ARCHIVE_BUCKET")
        .env_remove("ARCHIVE_PREFIX");
    c
}

// The command killed (SIGKILL, as Lambda's timeout ends a function) while it works through the
// chunks, then run again: every old row is archived exactly once and deleted, nothing young is
// touched.
#[tokio::test]
async fn a_run_killed_mid_way_is_finished_by_the_next_without_loss() {
    let (db, seeded, bucket) = seeded_with_bucket(3_000).await;
    let days = DAYS.to_string();
    let mut child = command(
        &db,
        &bucket,
        &[
            "--older-than-days",
            &days,
            "--chunk-size",
            "100",
            "--pause-ms",
            "300",
        ],
    )
    .env("ARCHIVE_BUCKET", &bucket.name)
    .stdout(std::process::Stdio::null())
    .spawn()
    .unwrap();
    // Killed once it has deleted some chunks, long before the ~15 it has to do.
    lambda_harness::poll::until(
        "the command deleted two chunks",
        std::time::Duration::from_secs(30),
        || async { db.ids().await.len() <= seeded.len() - 200 },
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let left = db.ids().await;
    assert!(
        left.len() > seeded.len() - 1_000,
        "killed mid-way: {} left",
        left.len()
    );

    let out = succeeded(
        command(
            &db,
            &bucket,
            &["--older-than-days", &days, "--chunk-size", "100"],
        )
        .env("ARCHIVE_BUCKET", &bucket.name),
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["reached_cutoff"], true, "{report}");
    let left = db.ids().await;
    let gone = deleted(&seeded, &left);
    let archived = bucket.archived().await;
    assert_eq!(archived, gone, "every deleted row archived, once");
    let cut = chrono::NaiveDateTime::parse_from_str(
        report["cutoff"].as_str().unwrap(),
        "%Y-%m-%dT%H:%M:%S%.6fZ",
    )
    .unwrap();
    assert!(gone.iter().all(|r| r.received_at < cut));
    assert!(
        seeded
            .iter()
            .filter(|r| r.received_at >= cut)
            .all(|r| left.contains(&r.id))
    );
    db.done().await;
}

#[tokio::test]
async fn two_runs_at_once_neither_fail_nor_archive_twice() {
    let (db, seeded, bucket) = seeded_with_bucket(2_000).await;
    let job = || archiving_job(&db, &bucket, 50, &bucket.endpoint);
    let (one, two) = (job(), job());
    let (a, b) = tokio::join!(run(&one, false), run(&two, false));
    let (a, b) = (a.unwrap(), b.unwrap());
    let gone = deleted(&seeded, &db.ids().await);
    assert_eq!(a.expired + b.expired, gone.len() as u64);
    assert_eq!(a.archived + b.archived, gone.len() as u64);
    let archived = bucket.archived().await;
    assert_eq!(
        archived.iter().map(|r| r.id).collect::<BTreeSet<_>>().len(),
        archived.len()
    );
    assert_eq!(archived, gone);
    db.done().await;
}

// The docs' way back: download an object, `ingest-expire restore FILE`; the rows return with
// their ids and every column; a second restore inserts nothing.
#[tokio::test]
async fn restore_loads_an_archived_object_back() {
    let (db, seeded, bucket) = seeded_with_bucket(400).await;
    let job = archiving_job(&db, &bucket, 100, &bucket.endpoint);
    run(&job, false).await.unwrap();
    assert!(db.ids().await.len() < seeded.len());
    let folder = std::env::temp_dir().join(format!("expire-restore-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    for (i, key) in bucket.keys().await.iter().enumerate() {
        let file = folder.join(format!("{i}.jsonl.gz"));
        std::fs::write(&file, bucket.object(key).await.0).unwrap();
        for expected in ["\"inserted\": ", "\"inserted\": 0"] {
            let out = succeeded(&mut command(
                &db,
                &bucket,
                &["restore", file.to_str().unwrap()],
            ));
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.contains(expected), "{stdout}");
        }
    }
    std::fs::remove_dir_all(&folder).unwrap();
    assert_eq!(db.rows().await, seeded, "every row back as it was");
    db.done().await;
}

/// Runs `command` to its end and returns its output, failing the test with its stderr unless it
/// succeeded.
fn succeeded(command: &mut std::process::Command) -> std::process::Output {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
