//! A read-only server, as a writer demoted by a failover answers: the write is transient, the
//! connection that met it is dropped, and the retry writes nothing twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ingest::handle;
use lambda_harness::FaultProxy;
use lambda_harness::events;
use lambda_harness::fault_proxy::{Direction, Step};
use serde_json::json;
use sqlx::Row;

use crate::http::{http, status_body};
use crate::sqs_kinesis::sqs_key;
use crate::{TestDb, diagnostic, event, invoke, mysql_err_packet, within};

/// What a writer demoted by an Aurora failover answers a write: "The MySQL server is running
/// with the --read-only option so it cannot execute this statement"
/// (https://repost.aws/knowledge-center/aurora-mysql-db-cluser-read-only-error), MySQL error
/// 1290, ER_OPTION_PREVENTS_STATEMENT, SQLSTATE HY000
/// (https://dev.mysql.com/doc/mysql-errors/8.4/en/server-error-reference.html).
const READ_ONLY: &[u8] =
    b"The MySQL server is running with the --read-only option so it cannot execute this statement";

/// A tap on the client's side of a [`FaultProxy`] in front of the server that, once armed,
/// answers the next execution of a prepared INSERT with an ERR packet 1290 instead of passing
/// it on: the statement never reaches the server, as on one that has just turned read-only,
/// and the tap disarms. It reads the client's packets (3-byte length, sequence number, payload:
/// COM_STMT_PREPARE 0x16 with the SQL, COM_STMT_EXECUTE 0x17, each the first packet of its
/// command), so the store must connect without TLS. The flag, not `read_only` on the shared
/// server, keeps other tests writing.
struct ReadOnlyOnce {
    armed: Arc<AtomicBool>,
    /// INSERTs answered with 1290.
    refused: Arc<AtomicUsize>,
}

impl ReadOnlyOnce {
    fn tap(proxy: &FaultProxy) -> ReadOnlyOnce {
        const COM_STMT_PREPARE: u8 = 0x16;
        const COM_STMT_EXECUTE: u8 = 0x17;
        let armed = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(AtomicUsize::new(0));
        let (flag, count) = (armed.clone(), refused.clone());
        proxy.tap(Direction::Upstream, move || {
            let (flag, count) = (flag.clone(), count.clone());
            // The bytes of a packet not complete yet: a chunk need not end with a packet.
            let mut partial = Vec::new();
            let mut insert_prepared = false;
            Box::new(move |chunk: &[u8]| {
                partial.extend_from_slice(chunk);
                let mut steps = Vec::new();
                while partial.len() >= 4 {
                    let len = u32::from_le_bytes([partial[0], partial[1], partial[2], 0]) as usize;
                    if partial.len() < 4 + len {
                        break;
                    }
                    let packet: Vec<u8> = partial.drain(..4 + len).collect();
                    let (sequence, payload) = (packet[3], &packet[4..]);
                    let command = (sequence == 0).then(|| payload.first().copied()).flatten();
                    if command == Some(COM_STMT_PREPARE) {
                        let sql = payload[1..].trim_ascii_start().to_ascii_uppercase();
                        insert_prepared |= sql.starts_with(b"INSERT");
                    }
                    if command == Some(COM_STMT_EXECUTE)
                        && insert_prepared
                        && flag.swap(false, Ordering::SeqCst)
                    {
                        count.fetch_add(1, Ordering::SeqCst);
                        // Sequence number 1: the answer to the command's 0.
                        let err = mysql_err_packet(1, 1290, b"HY000", READ_ONLY);
                        steps.push(Step::Answer(err));
                        continue;
                    }
                    steps.push(Step::Forward(packet));
                }
                steps
            })
        });
        ReadOnlyOnce { armed, refused }
    }

    /// The next INSERT executed through the proxy meets a read-only server.
    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}

// The writer turns read-only under a write (1290, as during an Aurora failover): the error is
// transient (store::classify), so SQS fails the whole batch and HTTP answers 503 with
// Retry-After, with nothing written; the connection that met the read-only server is dropped,
// so the redelivery and the client's retry connect anew and write, and an event stored before
// the failover and delivered again is a duplicate, not a second row.
#[tokio::test]
async fn a_read_only_error_mid_write_is_transient_and_the_retry_writes_nothing_twice() {
    let db = TestDb::new().await;
    let proxy = db.proxy().await;
    let writer = ReadOnlyOnce::tap(&proxy);
    let store = db.store_through(&proxy, &[("DB_TLS", "disabled")]).await;
    let (a, b) = (event("f", 1.0).to_string(), event("f", 2.0).to_string());
    handle(&store, invoke(events::sqs_event(&[("m-1", &a)]), "before"))
        .await
        .unwrap();
    assert_eq!(db.count().await, 1);

    // A again (its redelivery) and B, as the writer turns read-only.
    writer.arm();
    let batch = events::sqs_event(&[("m-1", &a), ("m-2", &b)]);
    let d = diagnostic(
        within(
            "the batch",
            handle(&store, invoke(batch.clone(), "read-only")),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(d.error_type, "StoreUnavailable", "{}", d.error_message);
    assert!(
        d.error_message.contains("MySQL error 1290") && d.error_message.contains("--read-only"),
        "{}",
        d.error_message
    );
    assert_eq!(writer.refused(), 1, "the tap answered the INSERT with 1290");
    assert_eq!(db.count().await, 1);
    // SQS delivers the batch again: B is written, A is a duplicate.
    let r = handle(&store, invoke(batch, "redelivered")).await.unwrap();
    assert_eq!(r, json!({"batchItemFailures": []}));
    assert_eq!(db.count().await, 2);
    for body in [&a, &b] {
        assert_eq!(db.row(&sqs_key(body)).await.get::<String, _>("source"), "f");
    }
    assert_eq!(
        proxy.connections(),
        2,
        "the read-only server's connection was dropped"
    );

    // Through HTTP: 503 with Retry-After, then the client's retry under its key writes once.
    writer.arm();
    let body = serde_json::to_vec(&event("f", 3.0)).unwrap();
    let post = http("POST", Some(&body), false, Some("k-read-only"));
    let r = within("the POST", handle(&store, invoke(post.clone(), "http")))
        .await
        .unwrap();
    let (status, answer) = status_body(&r);
    assert_eq!(
        (status, answer["error"].as_str()),
        (503, Some("StoreUnavailable"))
    );
    assert_eq!(r["headers"]["retry-after"], "1");
    assert_eq!(db.count().await, 2);
    let r = handle(&store, invoke(post.clone(), "http-retry"))
        .await
        .unwrap();
    assert_eq!(
        status_body(&r),
        (201, json!({"inserted": 1, "duplicates": 0}))
    );
    let r = handle(&store, invoke(post, "http-again")).await.unwrap();
    assert_eq!(
        status_body(&r),
        (201, json!({"inserted": 0, "duplicates": 1}))
    );
    assert_eq!(db.count().await, 3);
    assert_eq!((writer.refused(), proxy.connections()), (2, 3));
}
