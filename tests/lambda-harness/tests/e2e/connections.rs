//! The functions' connections to the database, seen from a fault proxy between them and the
//! server: TCP_NODELAY on both binaries' sockets, and ingest-fn's polite close (COM_QUIT) when
//! Lambda's shutdown sends SIGTERM.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use lambda_harness::FaultProxy;
use lambda_harness::fault_proxy::{Direction, Step};
use lambda_harness::mysql::test_server_url;
use lambda_harness::{RuntimeApi, runtime_api::spawn_function};
use serde_json::json;
use sqlx::mysql::MySqlConnectOptions;
use tokio::sync::oneshot;

use crate::{fresh_database, invoke};

/// COM_QUIT: a one-byte payload, 0x01, in a packet of sequence number 0.
/// https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_quit.html
const COM_QUIT: [u8; 5] = [1, 0, 0, 0, 1];

/// A fault proxy to the test server counting the COM_QUITs clients send, each counted before
/// its connection ends; [`FaultProxy::open`] says which connections are still open.
async fn quit_watching_proxy() -> (FaultProxy, Arc<AtomicUsize>) {
    let url = MySqlConnectOptions::from_str(test_server_url().await).unwrap();
    let proxy = FaultProxy::start(url.get_host(), url.get_port())
        .await
        .unwrap();
    let quits = Arc::new(AtomicUsize::new(0));
    let seen = quits.clone();
    proxy.tap(Direction::Upstream, move || {
        let seen = seen.clone();
        Box::new(move |chunk: &[u8]| {
            if chunk.ends_with(&COM_QUIT) {
                seen.fetch_add(1, Ordering::SeqCst);
            }
            vec![Step::Forward(chunk.to_vec())]
        })
    });
    (proxy, quits)
}

/// A fault proxy to `target` that holds its first connection's first answer from the client
/// until the test lets it go (the sender it hands over), so the client's socket can be read
/// while it is surely open and set up: the server speaks first (its greeting), and the client
/// answers only after its connect returned and the driver set the socket's options. migrate
/// connects inside an invocation and closes before answering. Later connections pass.
async fn gated_proxy(
    target: std::net::SocketAddr,
) -> (FaultProxy, oneshot::Receiver<oneshot::Sender<()>>) {
    let proxy = FaultProxy::start(target.ip().to_string(), target.port())
        .await
        .unwrap();
    let (held, first) = oneshot::channel();
    let held = std::sync::Mutex::new(Some(held));
    proxy.tap(Direction::Upstream, move || {
        // Only the first connection's tap holds anything.
        let mut held = held.lock().unwrap().take();
        Box::new(move |chunk: &[u8]| {
            let mut steps = Vec::new();
            if let Some(held) = held.take() {
                let (go, gate) = oneshot::channel::<()>();
                let _ = held.send(go);
                steps.push(Step::Wait(Box::pin(async move {
                    let _ = gate.await;
                })));
            }
            steps.push(Step::Forward(chunk.to_vec()));
            steps
        })
    });
    (proxy, first)
}

// Both binaries as deployed keep TCP_NODELAY on their connections to the database (why: the
// ingest-fn mysql test `the_stores_connection_sets_tcp_nodelay`), read back from each running
// process's own socket while the gated proxy holds it open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_functions_connections_to_the_database_set_tcp_nodelay() {
    use std::net::ToSocketAddrs;
    let bin = lambda_harness::built_binaries();
    let (db, pool) = fresh_database(&bin).await;
    let url = url::Url::parse(&db.url).unwrap();
    let server = (url.host_str().unwrap(), url.port().unwrap_or(3306))
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap();
    let first_event = json!({"source": "nodelay", "val1": 1, "val2": 2});
    for (name, event) in [("migrate", json!({})), ("ingest-fn", first_event)] {
        let (proxy, first) = gated_proxy(server).await;
        let mut via_proxy = url.clone();
        via_proxy.set_host(Some("127.0.0.1")).unwrap();
        via_proxy.set_port(Some(proxy.port())).unwrap();
        let api = Arc::new(RuntimeApi::start().await);
        let env = [("DATABASE_URL", via_proxy.as_str())];
        let (mut function, _) = spawn_function(bin.join(name).to_str().unwrap(), &api, &env);
        let invocation = tokio::spawn({
            let api = api.clone();
            async move { invoke(&api, event).await }
        });
        let go = tokio::time::timeout(std::time::Duration::from_secs(30), first)
            .await
            .unwrap_or_else(|_| panic!("{name} opened no connection to the database"))
            .unwrap();
        let peer = proxy.addr();
        let sockets = lambda_harness::socket::tcp_sockets_to(function.id(), peer).unwrap();
        go.send(()).unwrap();
        invocation.await.unwrap();
        function.kill().unwrap();
        function.wait().unwrap();
        assert!(!sockets.is_empty(), "{name} holds no socket to {peer}");
        for socket in &sockets {
            assert!(
                socket.nodelay,
                "{name}: Nagle's algorithm is on: {socket:?}"
            );
        }
    }
    pool.close().await;
    db.drop_database().await.unwrap();
}

// Lambda sends SIGTERM at shutdown only to a runtime that registered an extension, and kills
// it 500 ms later; ingest-fn registers one and closes its pool, so the server frees the
// connection slot at once instead of at wait_timeout.
// https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html#runtimes-lifecycle-shutdown
#[tokio::test]
async fn lambda_shutdown_sigterm_closes_the_database_connection_politely() {
    /// A deadline, not a measurement: a killed process's sockets close at once.
    const CLOSE_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);
    let bin = lambda_harness::built_binaries();
    let (db, pool) = fresh_database(&bin).await;
    let (proxy, quits) = quit_watching_proxy().await;
    // Every connection through the proxy has ended, so every COM_QUIT sent is counted.
    let all_closed = || std::future::ready(proxy.open() == 0);
    let mut via_proxy = url::Url::parse(&db.url).unwrap();
    via_proxy.set_host(Some("127.0.0.1")).unwrap();
    via_proxy.set_port(Some(proxy.port())).unwrap();
    let env = [("DATABASE_URL", via_proxy.as_str())];
    // An environment whose connection is open: ingest-fn after one event.
    let after_one_event = |id: &'static str| {
        let (bin, env) = (&bin, &env);
        async move {
            let api = RuntimeApi::start().await;
            let (function, _) = spawn_function(bin.join("ingest-fn").to_str().unwrap(), &api, env);
            let out = invoke(
                &api,
                json!({"event_id": id, "source": "shutdown", "val1": 1, "val2": 1}),
            )
            .await;
            assert_eq!(out["inserted"], 1, "{out}");
            (api, function)
        }
    };

    // Killed without SIGTERM (what Lambda does when no extension registered): no COM_QUIT.
    let (_api, mut function) = after_one_event("shutdown-1").await;
    function.kill().unwrap();
    function.wait().unwrap();
    lambda_harness::poll::until(
        "the killed function's connections closed",
        CLOSE_WITHIN,
        all_closed,
    )
    .await;
    assert_eq!(quits.load(Ordering::SeqCst), 0);

    // Through Lambda's shutdown phase: the extension registered, SIGTERM, a polite close.
    let (api, mut function) = after_one_event("shutdown-2").await;
    assert_eq!(
        api.extensions(),
        ["_lambda-rust-runtime-no-op-graceful-shutdown-helper"]
    );
    let shutdown = api.shutdown(&mut function).await;
    assert!(shutdown.sigterm && shutdown.exited_in_time, "{shutdown:?}");
    assert!(shutdown.status.success(), "{shutdown:?}");
    lambda_harness::poll::until(
        "the function's connections closed",
        CLOSE_WITHIN,
        all_closed,
    )
    .await;
    assert_eq!(quits.load(Ordering::SeqCst), 1, "the pool sent COM_QUIT");

    pool.close().await;
    db.drop_database().await.unwrap();
}
