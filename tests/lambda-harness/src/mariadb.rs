//! A throwaway MySQL-compatible server serving TLS with a certificate from a CA generated here,
//! for the TLS test and the TLS benchmark. Where the other MySQL-backed tests find their server
//! decides how it runs (`lambda_harness::mysql`):
//!
//! - with `DATABASE_URL` (a server of one's own, Docker not assumed): the machine's `mariadbd`
//!   (`MARIADBD`, else /usr/sbin/mariadbd) on a data folder of its own;
//! - without it: a container of the image those tests run (`TESTCONTAINERS_MYSQL_IMAGE`, default
//!   mysql:8.4) through testcontainers, the certificates copied in and the same `--ssl-*`
//!   options passed to the server, which MariaDB and MySQL 8.4 both take.

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

/// Why no TLS server could be had.
#[derive(Debug, thiserror::Error)]
pub enum TlsUnavailable {
    #[error(
        "DATABASE_URL is set, so the TLS server is the machine's mariadbd, and there is none at \
         {path}: install mariadb-server, set MARIADBD to its path, or unset DATABASE_URL to run \
         one through testcontainers"
    )]
    NoMariadbd { path: String },
    #[error("mariadb-install-db --datadir={datadir}: {detail}")]
    Install { datadir: String, detail: String },
    #[error("starting {mariadbd}: {source}")]
    Start {
        mariadbd: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{mariadbd} did not accept connections on 127.0.0.1:{port} within {within:?}")]
    NotListening {
        mariadbd: String,
        port: u16,
        within: Duration,
    },
    #[error(transparent)]
    Image(#[from] crate::mysql::MysqlUnavailable),
    #[cfg(feature = "containers")]
    #[error("no TLS server: {image} did not start through testcontainers ({source})")]
    Container {
        image: crate::mysql::ImageRef,
        #[source]
        source: Box<testcontainers_modules::testcontainers::TestcontainersError>,
    },
    #[cfg(not(feature = "containers"))]
    #[error(
        "no TLS server: DATABASE_URL is not set, and this build has no testcontainers (the \
         `lambda-harness` crate's `containers` feature)"
    )]
    NotBuiltIn,
}

/// A throwaway TLS server from [`tls_server`]. The machine's mariadbd is stopped when this is
/// dropped; a container is removed when the process ends, however it ends
/// (`lambda_harness::mysql`'s reaper), as the other tests' server is.
pub struct TlsServer {
    pub port: u16,
    /// The certificates (and the host server's data).
    dir: PathBuf,
    host: Option<std::process::Child>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(child) = &mut self.host {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The server binary: `MARIADBD`, else /usr/sbin/mariadbd, if it exists.
pub fn mariadbd() -> Option<String> {
    let path = std::env::var("MARIADBD").unwrap_or_else(|_| "/usr/sbin/mariadbd".into());
    Path::new(&path).exists().then_some(path)
}

/// Starts a server with `extra` server options; returns it, the CA that signed its certificate
/// and another CA that did not. Its root account has no password; connect to `localhost`, which
/// the certificate names.
pub async fn tls_server(extra: &[&str]) -> Result<(TlsServer, PathBuf, PathBuf), TlsUnavailable> {
    let dir = std::env::temp_dir().join(format!("ingest-tls-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let right = certificates(&dir, "right");
    let wrong = certificates(&dir, "wrong");
    // Removes the folder again if the server does not start.
    let mut server = TlsServer {
        port: 0,
        dir,
        host: None,
    };
    // The machine's buffer pool default (128 MB) and no binary log, on both paths: with 16 MB
    // the benchmark's inserts evicted dirty pages in the foreground, and the TLS floor's p99
    // measured the buffer pool (4.9-5.4 ms) instead of TLS.
    let mut options = vec!["--skip-log-bin".to_owned()];
    options.extend(extra.iter().map(|o| o.to_string()));
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => on_host(&mut server, &options).await?,
        _ => in_container(&mut server, options).await?,
    }
    Ok((server, right, wrong))
}

/// The machine's mariadbd, on a data folder in `server.dir`, without grant tables (any user
/// logs in), listening on a free port of 127.0.0.1.
async fn on_host(server: &mut TlsServer, options: &[String]) -> Result<(), TlsUnavailable> {
    let mariadbd = mariadbd().ok_or_else(|| TlsUnavailable::NoMariadbd {
        path: std::env::var("MARIADBD").unwrap_or_else(|_| "/usr/sbin/mariadbd".into()),
    })?;
    let dir = server.dir.clone();
    let datadir = dir.join("data");
    std::fs::create_dir_all(&datadir).unwrap();
    let install = |detail: String| TlsUnavailable::Install {
        datadir: datadir.display().to_string(),
        detail,
    };
    let output = Command::new("mariadb-install-db")
        .args([
            "--no-defaults",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--user=root",
        ])
        .arg(format!("--datadir={}", datadir.display()))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| install(e.to_string()))?;
    if !output.status.success() {
        return Err(install(format!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&mariadbd)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", datadir.display()))
        .arg(format!("--socket={}", dir.join("sock").display()))
        .arg(format!("--pid-file={}", dir.join("pid").display()))
        .arg(format!("--port={port}"))
        .args([
            "--bind-address=127.0.0.1",
            "--user=root",
            "--skip-grant-tables",
        ])
        .args(options)
        .arg(format!("--ssl-ca={}", dir.join("right-ca.pem").display()))
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
        .map_err(|source| TlsUnavailable::Start {
            mariadbd: mariadbd.clone(),
            source,
        })?;
    server.host = Some(child);
    server.port = port;
    let within = Duration::from_secs(15);
    let deadline = std::time::Instant::now() + within;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if std::time::Instant::now() > deadline {
            return Err(TlsUnavailable::NotListening {
                mariadbd,
                port,
                within,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[cfg(not(feature = "containers"))]
async fn in_container(_: &mut TlsServer, _: Vec<String>) -> Result<(), TlsUnavailable> {
    Err(TlsUnavailable::NotBuiltIn)
}

/// Where the certificates go in the container.
#[cfg(feature = "containers")]
const CONTAINER_TLS_DIR: &str = "/etc/ingest-test-tls";

/// A container of the configured image (testcontainers' MySQL or MariaDB module, so its own
/// readiness conditions and environment apply: root without a password), serving the right
/// certificate on a port of 127.0.0.1.
#[cfg(feature = "containers")]
async fn in_container(server: &mut TlsServer, options: Vec<String>) -> Result<(), TlsUnavailable> {
    use crate::mysql::Engine;
    use testcontainers_modules::{mariadb::Mariadb, mysql::Mysql};

    let image = crate::mysql::configured_image()?;
    eprintln!("TLS server: starting {image} through testcontainers");
    let port = match image.engine {
        Engine::Mysql => start(Mysql::default(), &image, &server.dir, options).await,
        Engine::Mariadb => start(Mariadb::default(), &image, &server.dir, options).await,
    }
    .map_err(|source| TlsUnavailable::Container {
        image,
        source: Box::new(source),
    })?;
    server.port = port;
    Ok(())
}

#[cfg(feature = "containers")]
async fn start<I: testcontainers_modules::testcontainers::Image>(
    module: I,
    image: &crate::mysql::ImageRef,
    certificates: &Path,
    mut options: Vec<String>,
) -> Result<u16, testcontainers_modules::testcontainers::TestcontainersError> {
    use testcontainers_modules::testcontainers::runners::AsyncRunner;
    use testcontainers_modules::testcontainers::{CopyTargetOptions, ImageExt};

    // Both images' entrypoints pass options (arguments that start with `-`) on to the server.
    options.extend([
        format!("--ssl-ca={CONTAINER_TLS_DIR}/ca.pem"),
        format!("--ssl-cert={CONTAINER_TLS_DIR}/server.pem"),
        format!("--ssl-key={CONTAINER_TLS_DIR}/server.key"),
    ]);
    let mut request = module
        .with_name(image.name.clone())
        .with_tag(image.tag.clone())
        .with_cmd(options);
    for (file, name) in [
        ("right-ca.pem", "ca.pem"),
        ("right-server.pem", "server.pem"),
        ("right-server.key", "server.key"),
    ] {
        // Readable by the server's own account, not only root's: a throwaway key.
        request = request.with_copy_to(
            CopyTargetOptions::new(format!("{CONTAINER_TLS_DIR}/{name}")).with_mode(0o644),
            certificates.join(file),
        );
    }
    let container = request.start().await?;
    let port = container.get_host_port_ipv4(3306).await?;
    crate::mysql::remove_at_exit(container.id());
    // The reaper removes it as the process ends; dropping it here would remove it now.
    std::mem::forget(container);
    Ok(port)
}
