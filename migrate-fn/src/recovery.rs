//! Migrations left half-applied by a killed run, applied again.
//!
//! sqlx applies a migration on MySQL as: insert its row into `_sqlx_migrations` with
//! `success = FALSE`, run its SQL, set `success = TRUE` (sqlx-mysql 0.9.1, `migrate.rs`). DDL
//! commits implicitly (<https://dev.mysql.com/doc/refman/8.4/en/implicit-commit.html>), so the
//! row is committed before a long `ALTER TABLE` starts. When the deploy's 5-minute limit kills
//! migrate meanwhile, or the `ALTER` gives up on its lock wait, the row stays with
//! `success = FALSE`, and sqlx refuses every later run (`MigrateError::Dirty`): every later
//! deploy would fail until someone deleted the row by hand.
//!
//! **The rule that makes recovery safe: every file in `migrations/` is idempotent**, written to
//! be run again over any state a killed run leaves (`IF NOT EXISTS`, or a check of
//! `information_schema` before an `ALTER`; tests/mysql/migrations.rs applies each one twice).
//! So migrate deletes the dirty row of a migration it has and lets the migrator apply it again.
//! A dirty row of a version it does not have came from a newer release: that is an error naming
//! the version and what to do, as applying something else in its place would be wrong.
//!
//! The recovery and the migrations run on one connection that holds sqlx's own migration lock
//! (`GET_LOCK`, the one `Migrator::run` takes) throughout: a run that is still applying its
//! migration (its row legitimately `success = FALSE`) is waited for, never taken for dead.

use sqlx::migrate::{Migrate, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::{MySql, MySqlPool};

use crate::error::MigrateError;

/// sqlx's table of applied migrations (`Migrator`'s default, which ours keeps).
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// A row of `_sqlx_migrations` with `success = FALSE`: a migration begun and never finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirtyMigration {
    pub version: i64,
    pub description: String,
}

/// What went wrong recovering, before or around the migrator's own run.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(
        "migration {version} ({description:?}) is marked failed (success = false) in \
         {MIGRATIONS_TABLE}, and this release does not have it (its newest is {newest}): a newer \
         release began it and was interrupted. Run that release's migrate (a deploy of it, or \
         `migrate` by hand), which applies it again; or, having checked the schema by hand, \
         delete the row (DELETE FROM {MIGRATIONS_TABLE} WHERE version = {version}) and deploy. \
         Retrying this release cannot help"
    )]
    Unknown {
        version: i64,
        description: String,
        /// This release's newest migration (0 with none).
        newest: i64,
    },
    #[error(
        "{action} (on {MIGRATIONS_TABLE}, before applying the migrations): {source}; a retry \
         may help if the database was unreachable"
    )]
    Sql {
        action: &'static str,
        #[source]
        source: sqlx::Error,
    },
}

/// The dirty migrations to apply again: all of `dirty` when every one is in `known` (the
/// versions this release has), else the first unknown one as the error.
pub fn to_apply_again(
    dirty: Vec<DirtyMigration>,
    known: &[i64],
) -> Result<Vec<DirtyMigration>, RecoveryError> {
    match dirty.iter().find(|d| !known.contains(&d.version)) {
        None => Ok(dirty),
        Some(unknown) => Err(RecoveryError::Unknown {
            version: unknown.version,
            description: unknown.description.clone(),
            newest: known.iter().copied().max().unwrap_or(0),
        }),
    }
}

/// Applies `migrator`'s migrations on one connection of `pool` under sqlx's migration lock,
/// first deleting the rows of dirty migrations it has so that it applies them again. Returns
/// those migrations (each also logged as a warning).
pub(crate) async fn migrate_recovering(
    pool: &MySqlPool,
    migrator: &Migrator,
) -> Result<Vec<DirtyMigration>, MigrateError> {
    let mut conn = pool.acquire().await.map_err(sql("taking a connection"))?;
    conn.lock().await?;
    let outcome = recover_and_run(&mut conn, migrator).await;
    // Released for the next run. After a failure the connection may be gone (killed), which
    // released the lock already: the first error is the one to report.
    let unlocked = conn.unlock().await;
    let recovered = outcome?;
    unlocked?;
    Ok(recovered)
}

async fn recover_and_run(
    conn: &mut PoolConnection<MySql>,
    migrator: &Migrator,
) -> Result<Vec<DirtyMigration>, MigrateError> {
    let known: Vec<i64> = migrator.iter().map(|m| m.version).collect();
    let dirty = to_apply_again(dirty_migrations(conn).await?, &known)?;
    for d in &dirty {
        tracing::warn!(
            version = d.version,
            description = %d.description,
            "migration {} ({}) was begun and never finished (a killed or failed run): its row \
             is deleted and the migration applied again, as every migration is idempotent",
            d.version,
            d.description
        );
        // `success = FALSE` again: only the row found dirty, never one finished meanwhile.
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = ? AND success = FALSE")
            .bind(d.version)
            .execute(&mut **conn)
            .await
            .map_err(sql("deleting a dirty migration's row"))?;
    }
    // The lock is held here already: a migrator that took it again would release it early.
    let mut unlocked = Migrator::with_migrations(migrator.iter().cloned().collect());
    unlocked.set_locking(false);
    unlocked.run(&mut **conn).await?;
    Ok(dirty)
}

/// The dirty rows, oldest first; none when sqlx has not made its table yet (a new database).
async fn dirty_migrations(
    conn: &mut PoolConnection<MySql>,
) -> Result<Vec<DirtyMigration>, RecoveryError> {
    let exists: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name = '_sqlx_migrations'",
    )
    .fetch_one(&mut **conn)
    .await
    .map_err(sql("looking for the table"))?;
    if exists == 0 {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT version, description FROM _sqlx_migrations WHERE success = FALSE ORDER BY version",
    )
    .fetch_all(&mut **conn)
    .await
    .map_err(sql("reading the migrations marked failed"))?;
    Ok(rows
        .into_iter()
        .map(|(version, description)| DirtyMigration {
            version,
            description,
        })
        .collect())
}

fn sql(action: &'static str) -> impl FnOnce(sqlx::Error) -> RecoveryError {
    move |source| RecoveryError::Sql { action, source }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn dirty(version: i64) -> DirtyMigration {
        DirtyMigration {
            version,
            description: format!("migration {version}"),
        }
    }

    #[test]
    fn a_dirty_migration_of_ours_is_applied_again() {
        let known = [20260101000000, 20261207000000];
        assert_eq!(to_apply_again(vec![], &known).unwrap(), vec![]);
        assert_eq!(
            to_apply_again(vec![dirty(20261207000000)], &known).unwrap(),
            vec![dirty(20261207000000)]
        );
    }

    // A newer release's migration: this release cannot know what state it left, nor apply it.
    #[test]
    fn an_unknown_dirty_migration_is_an_error_naming_it_and_what_to_do() {
        let known = [20260101000000, 20261207000000];
        let e =
            to_apply_again(vec![dirty(20261207000000), dirty(20270101000000)], &known).unwrap_err();
        let message = e.to_string();
        for part in [
            "migration 20270101000000 (\"migration 20270101000000\")",
            "its newest is 20261207000000",
            "Run that release's migrate",
            "DELETE FROM _sqlx_migrations WHERE version = 20270101000000",
            "Retrying this release cannot help",
        ] {
            assert!(message.contains(part), "{part:?} in {message}");
        }
        let e = to_apply_again(vec![dirty(1)], &[]).unwrap_err();
        assert!(e.to_string().contains("its newest is 0"), "{e}");
    }

    proptest! {
        // Recovered exactly when every dirty version is ours, and then all of them, in order;
        // otherwise the error names an unknown one, never one of ours.
        #[test]
        fn recovers_all_or_names_an_unknown_version(
            known in proptest::collection::btree_set(1i64..40, 0..8),
            dirty_versions in proptest::collection::btree_set(1i64..40, 0..5),
        ) {
            let known: Vec<i64> = known.into_iter().collect();
            let rows: Vec<DirtyMigration> = dirty_versions.iter().map(|&v| dirty(v)).collect();
            let all_known = dirty_versions.iter().all(|v| known.contains(v));
            match to_apply_again(rows.clone(), &known) {
                Ok(again) => {
                    prop_assert!(all_known);
                    prop_assert_eq!(again, rows);
                }
                Err(RecoveryError::Unknown { version, newest, .. }) => {
                    prop_assert!(!all_known);
                    prop_assert!(dirty_versions.contains(&version) && !known.contains(&version));
                    prop_assert_eq!(newest, known.iter().copied().max().unwrap_or(0));
                }
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
    }
}
