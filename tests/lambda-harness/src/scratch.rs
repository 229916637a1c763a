//! A database of a test's or a measurement's own beside the server's (`lambda_harness::mysql`),
//! migrated by the migrate binary or by the migrations in-process, and dropped again: by
//! [`ScratchDatabase::drop_database`], which says when it fails, else when it goes out of scope.

use std::path::Path;
use std::str::FromStr;

use sqlx::mysql::MySqlConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    #[error("{0}")]
    NoServer(String),
    #[error("the server's URL {url:?}: {message}")]
    Url { url: String, message: String },
    #[error("{what}: {source}")]
    Sql {
        what: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("migrating {database}: {source}")]
    Migrations {
        database: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("running {migrate}: {message}")]
    Migrate { migrate: String, message: String },
}

/// How a scratch database gets its tables.
#[derive(Clone, Copy)]
enum Migrations<'a> {
    /// The migrate binary, with `DATABASE_URL` naming the database, as a deploy runs it.
    Binary(&'a Path),
    /// The migrations in this process (`ingest::MIGRATOR`).
    Migrator(&'a sqlx::migrate::Migrator),
}

pub struct ScratchDatabase {
    /// The server's options: the account that created the database drops it.
    server: MySqlConnectOptions,
    pub name: String,
    /// The database's URL, with the server's account.
    pub url: String,
    /// The same, as options.
    pub options: MySqlConnectOptions,
    dropped: bool,
}

impl ScratchDatabase {
    /// Creates `ingest_<purpose>_<UUIDv7>` (unique also between the parallel tests of one
    /// process) and migrates it with the migrate binary.
    pub async fn create(migrate: &Path, purpose: &str) -> Result<ScratchDatabase, ScratchError> {
        Self::create_with(Migrations::Binary(migrate), purpose).await
    }

    /// The same, migrated by `migrator` in this process.
    pub async fn with_migrator(
        migrator: &sqlx::migrate::Migrator,
        purpose: &str,
    ) -> Result<ScratchDatabase, ScratchError> {
        Self::create_with(Migrations::Migrator(migrator), purpose).await
    }

    /// [`ScratchDatabase::with_migrator`], and a pool on the new database as the server's
    /// account: what a test of a database's contents starts from.
    pub async fn with_migrator_and_pool(
        migrator: &sqlx::migrate::Migrator,
        purpose: &str,
    ) -> Result<(ScratchDatabase, sqlx::mysql::MySqlPool), ScratchError> {
        let scratch = Self::with_migrator(migrator, purpose).await?;
        let pool = sqlx::mysql::MySqlPool::connect_with(scratch.options.clone())
            .await
            .map_err(sql("connecting a pool to the scratch database"))?;
        Ok((scratch, pool))
    }

    async fn create_with(
        migrations: Migrations<'_>,
        purpose: &str,
    ) -> Result<ScratchDatabase, ScratchError> {
        let server_url = crate::mysql::server_url()
            .await
            .map_err(|e| ScratchError::NoServer(e.to_string()))?;
        let bad_url = |message: String| ScratchError::Url {
            url: server_url.to_owned(),
            message,
        };
        let server =
            MySqlConnectOptions::from_str(server_url).map_err(|e| bad_url(e.to_string()))?;
        let name = format!("ingest_{purpose}_{}", uuid::Uuid::now_v7().simple());
        let mut url = url::Url::parse(server_url).map_err(|e| bad_url(e.to_string()))?;
        url.set_path(&name);
        let scratch = ScratchDatabase {
            options: server.clone().database(&name),
            server,
            url: url.to_string(),
            name,
            dropped: false,
        };
        let statement = format!("CREATE DATABASE `{}`", scratch.name);
        scratch.execute(&statement).await?;
        match migrations {
            Migrations::Binary(migrate) => scratch.run_migrate(migrate)?,
            Migrations::Migrator(migrator) => {
                let mut conn = scratch
                    .options
                    .connect()
                    .await
                    .map_err(sql("connecting to the scratch database"))?;
                migrator
                    .run(&mut conn)
                    .await
                    .map_err(|source| ScratchError::Migrations {
                        database: scratch.name.clone(),
                        source,
                    })?;
                let _ = conn.close().await;
            }
        }
        Ok(scratch)
    }

    fn run_migrate(&self, migrate: &Path) -> Result<(), ScratchError> {
        let failed = |message: String| ScratchError::Migrate {
            migrate: migrate.display().to_string(),
            message,
        };
        let out = crate::function_command(migrate)
            .env("DATABASE_URL", &self.url)
            .output()
            .map_err(|e| failed(e.to_string()))?;
        if !out.status.success() {
            return Err(failed(String::from_utf8_lossy(&out.stderr).into_owned()));
        }
        Ok(())
    }

    /// Runs `statement` on a connection of the server's own, closed again after.
    async fn execute(&self, statement: &str) -> Result<(), ScratchError> {
        let mut admin = self
            .server
            .connect()
            .await
            .map_err(sql("connecting to MySQL"))?;
        sqlx::query(AssertSqlSafe(statement.to_owned()))
            .execute(&mut admin)
            .await
            .map_err(sql(statement))?;
        let _ = admin.close().await;
        Ok(())
    }

    /// The server's options, with the account that created the database.
    pub fn server(&self) -> &MySqlConnectOptions {
        &self.server
    }

    /// Drops the database now, saying when that fails.
    pub async fn drop_database(mut self) -> Result<(), ScratchError> {
        self.execute(&format!("DROP DATABASE `{}`", self.name))
            .await?;
        self.dropped = true;
        Ok(())
    }
}

/// A database not dropped by [`ScratchDatabase::drop_database`] is dropped on the way out, best
/// effort: a leftover scratch database is harmless.
impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if !self.dropped {
            after_drop(
                &self.server,
                format!("DROP DATABASE IF EXISTS `{}`", self.name),
            );
        }
    }
}

/// Runs `statement` on the server of `options` from a `Drop`, best effort and without waiting:
/// on a thread and runtime of its own, as the test's runtime may be gone by then.
pub fn after_drop(options: &MySqlConnectOptions, statement: String) {
    let options = options.clone();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            if let Ok(mut c) = options.connect().await {
                let _ = sqlx::query(AssertSqlSafe(statement)).execute(&mut c).await;
                let _ = c.close().await;
            }
        });
    });
}

fn sql(what: &str) -> impl FnOnce(sqlx::Error) -> ScratchError {
    let what = what.to_owned();
    move |source| ScratchError::Sql { what, source }
}
