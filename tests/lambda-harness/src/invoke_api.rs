//! The Lambda Invoke API (`POST /2015-03-31/functions/{name}/invocations`) in front of a
//! [`RuntimeApi`] or a pool of [`Environments`], as `cargo lambda watch` provides locally:
//! tools that invoke functions through the SDK (ingest-load) reach local function binaries
//! through it.
//!
//! [`RuntimeApi`]: crate::RuntimeApi
//! [`Environments`]: crate::environments::Environments

use std::sync::Arc;

use base64::Engine;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::environments::Invoke;
use crate::runtime_api::read_request;

/// Starts the Invoke API on a free loopback port; returns its base URL.
pub async fn start<I: Invoke>(runtime: Arc<I>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("local address"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            // Head and body go out in two writes: without this, Nagle's algorithm holds the
            // body for the client's delayed ACK (40 ms on Linux).
            let _ = stream.set_nodelay(true);
            let runtime = runtime.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut read = BufReader::new(read);
                while let Some(request) = read_request(&mut read).await {
                    // A DryRun checks that the function exists and may be invoked.
                    let dry_run = request.header("x-amz-invocation-type") == Some("DryRun");
                    let body = request.body;
                    let (status, payload, extra) = if dry_run {
                        (204, String::new(), String::new())
                    } else {
                        let out = runtime
                            .invoke(String::from_utf8_lossy(&body).into_owned())
                            .await;
                        let ms = out.latency.as_secs_f64() * 1e3;
                        let init = if out.cold {
                            "\tInit Duration: 0.00 ms"
                        } else {
                            ""
                        };
                        let report = format!(
                            "REPORT RequestId: local\tDuration: {ms:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: 0 MB{init}\t\n",
                            ms.ceil() as u64,
                            crate::runtime_api::MEMORY_SIZE_MB
                        );
                        let log = base64::engine::general_purpose::STANDARD.encode(report);
                        let mut extra = format!(
                            "x-amz-log-result: {log}\r\nx-amz-executed-version: $LATEST\r\n"
                        );
                        if out.error {
                            extra.push_str("x-amz-function-error: Unhandled\r\n");
                        }
                        (200, out.body, extra)
                    };
                    let head = format!(
                        "HTTP/1.1 {status} OK\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\n\r\n",
                        payload.len()
                    );
                    if write.write_all(head.as_bytes()).await.is_err()
                        || write.write_all(payload.as_bytes()).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    url
}
