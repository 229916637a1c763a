//! The migrations in `migrations/`, compiled into the binaries that apply them.
//!
//! `sqlx::migrate!` would read the folder at compile time, but it is a proc macro: the `macros`
//! feature it needs builds a second, host copy of sqlx, rustls and aws-lc (its C library
//! included) for the macro to run in the compiler. The list below is what the macro generates:
//! each file's version, description and SQL, checksummed by sqlx at first use. A test
//! checks it against the folder as sqlx reads it, so a file added there and not here fails.

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// `(version, description, SQL)` of every file in `migrations/`, named there
/// `<version>_<description with underscores>.sql`.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        20260101000000,
        "create events",
        include_str!("../../migrations/20260101000000_create_events.sql"),
    ),
    (
        20261207000000,
        "index events received at",
        include_str!("../../migrations/20261207000000_index_events_received_at.sql"),
    ),
];

/// The migrator over [`MIGRATIONS`], as sqlx builds it from the folder: `-- no-transaction` on
/// a file's first line runs it outside a transaction.
pub(crate) fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    sql.starts_with("-- no-transaction"),
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[tokio::test]
    async fn matches_the_migrations_folder_as_sqlx_reads_it() {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
        let from_folder = Migrator::new(folder.as_path()).await.unwrap();
        let embedded = migrator();
        let summary = |m: &Migrator| {
            m.iter()
                .map(|m| {
                    (
                        m.version,
                        m.description.to_string(),
                        m.migration_type,
                        m.sql.as_str().to_owned(),
                        m.checksum.to_vec(),
                        m.no_tx,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert!(!from_folder.migrations.is_empty());
        assert_eq!(summary(&embedded), summary(&from_folder));
    }
}
