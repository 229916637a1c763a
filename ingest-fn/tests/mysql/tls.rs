//! TLS: verify-identity against a server of the test's own with its own CA, plus the RDS CA
//! bundle the functions are deployed with; a CA that did not sign the server's certificate is
//! refused.

use std::collections::HashMap;

use ingest::{Config, MIGRATOR, MySqlStore, handle};
use lambda_harness::mariadb::tls_server;
use sqlx::ConnectOptions;
use sqlx::mysql::MySqlPool;

use crate::{diagnostic, event, invoke};

#[tokio::test]
async fn tls_verify_identity_accepts_the_servers_ca_and_refuses_another() {
    // A server of its own with its own CA: the machine's mariadbd beside DATABASE_URL's
    // server, else a container of TESTCONTAINERS_MYSQL_IMAGE (lambda_harness::mariadb).
    let (server, right, wrong) = tls_server(&[]).await.unwrap_or_else(|e| panic!("{e}"));
    // With DB_CA_BUNDLE (tests/test-all.sh writes the bundle the infra deploys), each CA file
    // is that bundle plus the test CA: sqlx must read all of it, and still trust only it.
    let with_rds = |ca: std::path::PathBuf| match std::env::var("DB_CA_BUNDLE") {
        Ok(bundle) => {
            let rds = std::fs::read_to_string(&bundle).expect("DB_CA_BUNDLE is readable");
            assert!(rds.matches("BEGIN CERTIFICATE").count() > 100, "{bundle}");
            let both = ca.with_extension("with-rds.pem");
            std::fs::write(&both, rds + &std::fs::read_to_string(&ca).unwrap()).unwrap();
            both
        }
        Err(_) => ca,
    };
    let (right, wrong) = (with_rds(right), with_rds(wrong));
    let vars = |ca: &std::path::Path, mode: &str| {
        let map: HashMap<&str, String> = HashMap::from([
            (
                "DATABASE_URL",
                format!("mysql://root@localhost:{}/tlsdb", server.port),
            ),
            ("DB_TLS", mode.to_owned()),
            ("DB_CA_BUNDLE", ca.display().to_string()),
            ("DB_CONNECT_TIMEOUT_MS", "3000".to_owned()),
        ]);
        Config::from_lookup(move |k| map.get(k).cloned()).unwrap()
    };
    // Schema over a verified connection.
    let config = vars(&right, "verify-identity");
    let mut admin = config
        .options
        .clone()
        .database("mysql")
        .connect()
        .await
        .expect("TLS with the right CA");
    sqlx::query("CREATE DATABASE tlsdb")
        .execute(&mut admin)
        .await
        .unwrap();
    let cipher: (String, String) = sqlx::query_as("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(!cipher.1.is_empty(), "the session is encrypted");
    let pool = MySqlPool::connect_with(config.options.clone())
        .await
        .unwrap();
    MIGRATOR.run(&pool).await.unwrap();

    let store = MySqlStore::new(vars(&right, "verify-identity"), None)
        .await
        .unwrap();
    let r = handle(&store, invoke(event("tls", 1.0), "tls-1"))
        .await
        .unwrap();
    assert_eq!(r["inserted"], 1);
    // TCP_NODELAY on the TLS connection too (the socket section says why): a TLS handshake's
    // last records are the writes that would wait for a delayed ACK.
    let sockets: Vec<_> = [
        std::net::SocketAddr::from(([127, 0, 0, 1], server.port)),
        std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, server.port)),
    ]
    .into_iter()
    .flat_map(|peer| lambda_harness::socket::tcp_sockets_to(std::process::id(), peer).unwrap())
    .collect();
    assert!(
        !sockets.is_empty(),
        "the store holds no connection to port {}",
        server.port
    );
    for socket in &sockets {
        assert!(
            socket.nodelay,
            "Nagle's algorithm is on over TLS: {socket:?}"
        );
    }
    // The same server with a CA that did not sign its certificate: refused.
    let store = MySqlStore::new(vars(&wrong, "verify-identity"), None)
        .await
        .unwrap();
    let d = diagnostic(
        handle(&store, invoke(event("tls", 2.0), "tls-2"))
            .await
            .unwrap_err(),
    );
    assert_eq!(d.error_type, "StoreUnavailable");
    let store = MySqlStore::new(vars(&wrong, "verify-ca"), None)
        .await
        .unwrap();
    assert!(
        handle(&store, invoke(event("tls", 3.0), "tls-3"))
            .await
            .is_err()
    );
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
}
