//! The MySQL-compatible server that the MySQL-backed tests and the local stack use:
//! `DATABASE_URL` when it is set, otherwise one container per process (so one per test binary)
//! through testcontainers, removed when the process ends.
//!
//! The image is `mysql:8.4`, the engine the infra deploys by default, unless
//! `TESTCONTAINERS_MYSQL_IMAGE=name:tag` names another; the name picks testcontainers' MySQL or
//! MariaDB module, so that module's own readiness conditions and environment apply.

use std::fmt;
#[cfg(feature = "containers")]
use std::process::{Child, Command, Stdio};

#[cfg(feature = "containers")]
use testcontainers_modules::testcontainers::runners::AsyncRunner;
#[cfg(feature = "containers")]
use testcontainers_modules::testcontainers::{ContainerAsync, Image, ImageExt};
use tokio::sync::OnceCell;

/// Picks the image when `DATABASE_URL` is not set.
pub const IMAGE_VAR: &str = "TESTCONTAINERS_MYSQL_IMAGE";
/// The engine and version the infra deploys by default (`infra/lib/config.ts`).
pub const DEFAULT_IMAGE: &str = "mysql:8.4";

/// Which testcontainers module runs an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Mysql,
    Mariadb,
}

/// An image reference split into the parts testcontainers takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub engine: Engine,
    pub name: String,
    pub tag: String,
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

/// Why no server could be had.
#[derive(Debug, thiserror::Error)]
pub enum MysqlUnavailable {
    #[error("{IMAGE_VAR}={value:?}: {reason}")]
    BadImage { value: String, reason: &'static str },
    #[error(
        "no MySQL: DATABASE_URL is not set and no {image} container could be started through \
         testcontainers ({source}). Set DATABASE_URL=mysql://user:password@host:3306/db for a \
         server you run (MySQL 8.4 or MariaDB 10.11), or install and start Docker."
    )]
    NoContainer {
        image: ImageRef,
        #[source]
        source: ContainerError,
    },
    #[error(
        "no MySQL: DATABASE_URL is not set, and this build has no testcontainers (the `lambda-harness` \
         crate's `containers` feature; tests/local-stack.sh turns it on when DATABASE_URL is \
         unset). Set DATABASE_URL=mysql://user:password@host:3306/db for a server you run."
    )]
    NotBuiltIn,
}

/// What testcontainers said when a container did not start.
#[cfg(feature = "containers")]
pub type ContainerError = Box<testcontainers_modules::testcontainers::TestcontainersError>;
/// Never built: without the `containers` feature no container is started.
#[cfg(not(feature = "containers"))]
pub type ContainerError = std::convert::Infallible;

/// `name:tag` (the tag after the last `:` that follows the last `/`, so a registry's port is
/// not a tag). The engine comes from the repository's last path segment.
pub fn parse_image(value: &str) -> Result<ImageRef, MysqlUnavailable> {
    let bad = |reason| MysqlUnavailable::BadImage {
        value: value.to_owned(),
        reason,
    };
    let last_slash = value.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = value[last_slash..]
        .rfind(':')
        .map(|i| (&value[..last_slash + i], &value[last_slash + i + 1..]))
        .filter(|(name, tag)| {
            !name.is_empty() && !tag.is_empty() && !value.contains(char::is_whitespace)
        })
        .ok_or_else(|| bad("expected name:tag, for example mysql:8.4 or mariadb:10.11"))?;
    let repository = &name[name.rfind('/').map_or(0, |i| i + 1)..];
    let engine = if repository.contains("mariadb") {
        Engine::Mariadb
    } else if repository.contains("mysql") {
        Engine::Mysql
    } else {
        return Err(bad(
            "the image's name must say mysql or mariadb, which picks testcontainers' module",
        ));
    };
    Ok(ImageRef {
        engine,
        name: name.to_owned(),
        tag: tag.to_owned(),
    })
}

/// The image `TESTCONTAINERS_MYSQL_IMAGE` names, else `mysql:8.4`.
pub fn configured_image() -> Result<ImageRef, MysqlUnavailable> {
    match std::env::var(IMAGE_VAR) {
        Ok(value) if !value.is_empty() => parse_image(&value),
        _ => parse_image(DEFAULT_IMAGE),
    }
}

/// The server's URL (`DATABASE_URL`, or `mysql://root@127.0.0.1:PORT/test` for the container
/// this process started on its first call). The container outlives every test of the binary
/// and is removed when the process ends, however it ends.
pub async fn server_url() -> Result<&'static str, &'static MysqlUnavailable> {
    static URL: OnceCell<Result<String, MysqlUnavailable>> = OnceCell::const_new();
    let url = URL
        .get_or_init(|| async {
            match std::env::var("DATABASE_URL") {
                Ok(url) if !url.is_empty() => Ok(url),
                _ => start_container().await,
            }
        })
        .await;
    url.as_ref().map(String::as_str)
}

/// [`server_url`] for tests: a missing server is a failure that says what to set or install.
pub async fn test_server_url() -> &'static str {
    match server_url().await {
        Ok(url) => url,
        Err(e) => panic!("{e}"),
    }
}

#[cfg(not(feature = "containers"))]
async fn start_container() -> Result<String, MysqlUnavailable> {
    Err(MysqlUnavailable::NotBuiltIn)
}

#[cfg(feature = "containers")]
async fn start_container() -> Result<String, MysqlUnavailable> {
    let image = configured_image()?;
    eprintln!("MySQL: starting {image} through testcontainers");
    let port = match image.engine {
        Engine::Mysql => run(testcontainers_modules::mysql::Mysql::default(), &image).await,
        Engine::Mariadb => run(testcontainers_modules::mariadb::Mariadb::default(), &image).await,
    }
    .map_err(|source| MysqlUnavailable::NoContainer {
        image,
        source: Box::new(source),
    })?;
    // Both modules create the database `test` and a root account without a password.
    Ok(format!("mysql://root@127.0.0.1:{port}/test"))
}

#[cfg(feature = "containers")]
async fn run<I: Image>(
    module: I,
    image: &ImageRef,
) -> Result<u16, testcontainers_modules::testcontainers::TestcontainersError> {
    let container: ContainerAsync<I> = module
        .with_name(image.name.clone())
        .with_tag(image.tag.clone())
        .start()
        .await?;
    let port = container.get_host_port_ipv4(3306).await?;
    remove_at_exit(container.id());
    // The reaper removes it; dropping it here would remove it before the tests ran.
    std::mem::forget(container);
    Ok(port)
}

/// Removes the container when this process ends, also when it is killed or aborts, which no
/// destructor or exit hook would see: a child in its own process group (Ctrl-C reaches only
/// the foreground group) waits for the end of a pipe that only this process holds open, then
/// removes the container, as testcontainers' Ryuk does for other languages.
#[cfg(feature = "containers")]
pub(crate) fn remove_at_exit(id: &str) {
    use std::os::unix::process::CommandExt;
    let reaper = Command::new("sh")
        .args([
            "-c",
            r#"cat >/dev/null; docker rm --force --volumes "$1" >/dev/null"#,
            "mysql-reaper",
            id,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .process_group(0)
        .spawn();
    match reaper {
        // Never waited for: its stdin stays open for the life of the process.
        Ok(child) => std::mem::forget::<Child>(child),
        Err(e) => eprintln!(
            "MySQL: container {id} will outlive this process (no reaper: {e}); \
             remove it with `docker rm -f {id}`"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(value: &str) -> (Engine, String, String) {
        let image = parse_image(value).unwrap();
        (image.engine, image.name, image.tag)
    }

    #[test]
    fn an_image_is_split_into_name_and_tag_and_picks_its_module() {
        assert_eq!(
            parsed("mysql:8.4"),
            (Engine::Mysql, "mysql".into(), "8.4".into())
        );
        assert_eq!(
            parsed("mariadb:10.11"),
            (Engine::Mariadb, "mariadb".into(), "10.11".into())
        );
        assert_eq!(
            parsed("registry.local:5000/db/mysql:8.0.36"),
            (
                Engine::Mysql,
                "registry.local:5000/db/mysql".into(),
                "8.0.36".into()
            )
        );
        assert_eq!(
            parsed("lambda-rds-ingest-mariadb:2ae039f92802"),
            (
                Engine::Mariadb,
                "lambda-rds-ingest-mariadb".into(),
                "2ae039f92802".into()
            )
        );
    }

    #[test]
    fn a_bad_image_is_refused_by_name() {
        for value in [
            "mysql",
            "registry.local:5000/mysql",
            "mysql:",
            ":8.4",
            "postgres:16",
        ] {
            let e = parse_image(value).unwrap_err().to_string();
            assert!(e.starts_with("TESTCONTAINERS_MYSQL_IMAGE="), "{e}");
            assert!(e.contains(&format!("{value:?}")), "{e}");
        }
    }

    #[test]
    fn the_default_is_the_engine_the_infra_deploys() {
        assert_eq!(
            parsed(DEFAULT_IMAGE),
            (Engine::Mysql, "mysql".into(), "8.4".into())
        );
    }
}
