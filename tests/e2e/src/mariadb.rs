//! A throwaway MariaDB (`mariadbd` from the machine, a data folder of its own) serving TLS with
//! a certificate from a CA generated here: for the TLS tests and the TLS benchmark, and for
//! settings the shared server must not change (`max_connections`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A CA and a server certificate for `localhost` and 127.0.0.1, written as PEM files.
pub fn certificates(dir: &Path, name: &str) -> PathBuf {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let server =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = server.signed_by(&key, &ca).unwrap();
    std::fs::write(dir.join(format!("{name}-ca.pem")), ca.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}-server.pem")), cert.pem()).unwrap();
    std::fs::write(dir.join(format!("{name}-server.key")), key.serialize_pem()).unwrap();
    dir.join(format!("{name}-ca.pem"))
}

/// A throwaway MariaDB serving the certificate from `certificates`.
pub struct TlsServer {
    child: std::process::Child,
    pub port: u16,
    dir: PathBuf,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The server binary: `MARIADBD`, else /usr/sbin/mariadbd, if it exists.
pub fn mariadbd() -> Option<String> {
    let path = std::env::var("MARIADBD").unwrap_or_else(|_| "/usr/sbin/mariadbd".into());
    Path::new(&path).exists().then_some(path)
}

/// Starts a server with `extra` arguments; returns it, the CA that signed its certificate and
/// another CA that did not.
pub async fn tls_server(mariadbd: &str, extra: &[&str]) -> (TlsServer, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("ingest-tls-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let right = certificates(&dir, "right");
    let wrong = certificates(&dir, "wrong");
    let status = Command::new("mariadb-install-db")
        .args([
            "--no-defaults",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--user=root",
        ])
        .arg(format!("--datadir={}", dir.join("data").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("mariadb-install-db");
    assert!(status.success(), "mariadb-install-db failed");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(mariadbd)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", dir.join("data").display()))
        .arg(format!("--socket={}", dir.join("sock").display()))
        .arg(format!("--pid-file={}", dir.join("pid").display()))
        .arg(format!("--port={port}"))
        .args([
            "--bind-address=127.0.0.1",
            "--user=root",
            "--skip-grant-tables",
        ])
        // The shared server's defaults (128 MB buffer pool, no binary log): with 16 MB the
        // benchmark's inserts evicted dirty pages in the foreground, and the TLS floor's p99
        // measured the buffer pool (4.9-5.4 ms) instead of TLS.
        .arg("--skip-log-bin")
        .args(extra)
        .arg(format!("--ssl-ca={}", right.display()))
        .arg(format!(
            "--ssl-cert={}",
            dir.join("right-server.pem").display()
        ))
        .arg(format!(
            "--ssl-key={}",
            dir.join("right-server.key").display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mariadbd");
    let server = TlsServer { child, port, dir };
    for _ in 0..150 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (server, right, wrong)
}
