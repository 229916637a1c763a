//! The store's socket, read back from this process: `TCP_NODELAY` on.

use ingest::handle;

use crate::{TestDb, event, invoke};

// Without TCP_NODELAY, the last segment of a request sent in more than one write waits for the
// server's delayed ACK (Nagle's algorithm): about 40 ms per new TLS connection and per such
// statement. sqlx 0.9.0 dropped the option (transact-rs/sqlx#4335) and 0.9.1 sets it again
// (transact-rs/sqlx#4336): this guards against it going missing once more.
// Read back from the store's own socket, found by its unique peer: a pass-through proxy.
#[tokio::test]
async fn the_stores_connection_sets_tcp_nodelay() {
    let db = TestDb::new().await;
    let proxy = db.proxy().await;
    let store = db.store_through(&proxy, &[]).await;
    handle(&store, invoke(event("n", 1.0), "nodelay"))
        .await
        .unwrap();
    let peer = proxy.addr();
    let sockets = lambda_harness::socket::tcp_sockets_to(std::process::id(), peer).unwrap();
    assert!(
        !sockets.is_empty(),
        "the store holds no connection to {peer}"
    );
    for socket in &sockets {
        assert!(socket.nodelay, "Nagle's algorithm is on: {socket:?}");
    }
}
