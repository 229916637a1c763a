//! A database of a test's or a measurement's own beside the server's (`e2e::mysql`), migrated
//! by the migrate binary, and dropped again by [`ScratchDatabase::drop_database`].

use std::path::Path;
use std::str::FromStr;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sqlx::{AssertSqlSafe, ConnectOptions};

#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    #[error("{0}")]
    NoServer(String),
    #[error("the server's URL {url:?}: {message}")]
    Url { url: String, message: String },
    #[error("{what}: {source}")]
    Sql { what: String, source: sqlx::Error },
    #[error("running {migrate}: {message}")]
    Migrate { migrate: String, message: String },
}

pub struct ScratchDatabase {
    admin: MySqlConnection,
    pub name: String,
    /// The database's URL, with the server's account.
    pub url: String,
}

impl ScratchDatabase {
    /// Creates `ingest_<purpose>_<UUIDv7>` (unique also between the parallel tests of one
    /// process) and migrates it.
    pub async fn create(migrate: &Path, purpose: &str) -> Result<ScratchDatabase, ScratchError> {
        let server = crate::mysql::server_url()
            .await
            .map_err(|e| ScratchError::NoServer(e.to_string()))?;
        let bad_url = |message: String| ScratchError::Url {
            url: server.to_owned(),
            message,
        };
        let options = MySqlConnectOptions::from_str(server).map_err(|e| bad_url(e.to_string()))?;
        let name = format!("ingest_{purpose}_{}", uuid::Uuid::now_v7().simple());
        let sql = |what: &str| {
            let what = what.to_owned();
            move |source| ScratchError::Sql { what, source }
        };
        let mut admin = options
            .connect()
            .await
            .map_err(sql("connecting to MySQL"))?;
        let statement = format!("CREATE DATABASE `{name}`");
        sqlx::query(AssertSqlSafe(statement.clone()))
            .execute(&mut admin)
            .await
            .map_err(sql(&statement))?;
        let mut url = url::Url::parse(server).map_err(|e| bad_url(e.to_string()))?;
        url.set_path(&name);
        let url = url.to_string();
        let failed = |message: String| ScratchError::Migrate {
            migrate: migrate.display().to_string(),
            message,
        };
        let out = std::process::Command::new(migrate)
            .env("DATABASE_URL", &url)
            .output()
            .map_err(|e| failed(e.to_string()))?;
        if !out.status.success() {
            return Err(failed(String::from_utf8_lossy(&out.stderr).into_owned()));
        }
        Ok(ScratchDatabase { admin, name, url })
    }

    pub async fn drop_database(mut self) -> Result<(), ScratchError> {
        let statement = format!("DROP DATABASE `{}`", self.name);
        sqlx::query(AssertSqlSafe(statement.clone()))
            .execute(&mut self.admin)
            .await
            .map_err(|source| ScratchError::Sql {
                what: statement,
                source,
            })?;
        Ok(())
    }
}
