//! The environment `infra/` gives ingest-expire, in all four modes (public/vpc x iam/secret,
//! each synthesized with retentionDays, two with archive=true), through the binary's own parser
//! ([`Settings::from_lookup`], as the function reads it): every variable the stack sets parses
//! and is read, the function logs in as its own SELECT/DELETE account (the one migrate is told
//! to create), and the archive is there exactly where the stack made one. A variable renamed on
//! one side fails here, not in a deploy. The file comes from
//! infra/scripts/function-environments.ts (INFRA_FUNCTION_ENVIRONMENTS, see
//! lambda_harness::infra_environments).

use expire::config::{self, ArchiveSettings, Settings};
use ingest::config::{Auth, metrics};
use lambda_harness::infra_environments::{self, Stack};

const BINARY: &str = "ingest-expire";
/// The IAM account infra names (infra/lib/database-accounts.ts, EXPIRE_IAM_DB_USER).
const IAM_USER: &str = "ingest_expire";

fn stacks() -> Vec<Stack> {
    let stacks = infra_environments::load();
    let mut modes: Vec<String> = stacks.iter().map(Stack::name).collect();
    modes.sort();
    assert_eq!(
        modes,
        ["public/iam", "public/secret", "vpc/iam", "vpc/secret"],
        "the file covers each mode once"
    );
    stacks
}

#[test]
fn ingest_expire_reads_the_environment_infra_gives_it_in_every_mode() {
    let stacks = stacks();
    for stack in &stacks {
        let name = stack.name();
        let days = stack
            .retention_days
            .unwrap_or_else(|| panic!("{name}: synthesized without retentionDays"));
        let f = stack.function(BINARY);
        let s =
            Settings::from_lookup(|k| f.var(k)).unwrap_or_else(|e| panic!("{name} {BINARY}: {e}"));
        let emitter = metrics(|k| f.var(k)).unwrap_or_else(|e| panic!("{name} {BINARY}: {e}"));
        assert_eq!(
            f.unread(),
            Vec::<String>::new(),
            "{name} {BINARY}: the stack sets variables the function never reads"
        );
        assert_eq!(s.job.retention_days, days, "{name}: RETENTION_DAYS");
        assert!(config::DAYS.contains(&days), "{name}: {days}");
        // The run's single connection (expire-fn/src/table.rs).
        assert_eq!(s.database.pool_max, 1, "{name}: DB_POOL_MAX");
        // Lambda's deadline (less the margin) bounds a run; no second budget beside it.
        assert_eq!(
            s.job.time_budget, None,
            "{name}: EXPIRE_TIME_BUDGET_SECONDS"
        );
        // The same namespace as ingest-fn's: the alarms and the dashboard read one namespace.
        assert_eq!(
            Some(emitter.namespace()),
            f.value("METRICS_NAMESPACE"),
            "{name}"
        );
        assert_eq!(
            f.value("METRICS_NAMESPACE"),
            stack.function("ingest-fn").value("METRICS_NAMESPACE"),
            "{name}"
        );
    }
}

#[test]
fn ingest_expire_logs_in_as_the_account_migrate_creates_for_it() {
    for stack in &stacks() {
        let name = stack.name();
        let f = stack.function(BINARY);
        let s =
            Settings::from_lookup(|k| f.var(k)).unwrap_or_else(|e| panic!("{name} {BINARY}: {e}"));
        let migrate = stack.function("migrate");
        let ingest = stack.function("ingest-fn");
        match (stack.db_auth.as_str(), &s.database.auth) {
            ("iam", Auth::Iam) => {
                assert_eq!(s.database.options.get_username(), IAM_USER, "{name}");
                assert_eq!(
                    migrate.value("DB_EXPIRE_IAM_USER"),
                    Some(IAM_USER),
                    "{name}"
                );
                assert_ne!(
                    ingest.value("DB_USER"),
                    Some(IAM_USER),
                    "{name}: ingest-fn's account"
                );
                assert_ne!(
                    migrate.value("DB_READER_IAM_USER"),
                    Some(IAM_USER),
                    "{name}: the reader's account"
                );
            }
            ("secret", Auth::Secret { arn }) => {
                let arn = Some(arn.as_str());
                assert_eq!(migrate.value("DB_EXPIRE_SECRET_ARN"), arn, "{name}");
                for other in [
                    "DB_ADMIN_SECRET_ARN",
                    "DB_INGEST_SECRET_ARN",
                    "DB_READER_SECRET_ARN",
                ] {
                    assert_ne!(migrate.value(other), arn, "{name}: {other} is not its own");
                }
            }
            (mode, auth) => panic!("{name}: dbAuth={mode} but {auth:?}"),
        }
    }
}

#[test]
fn the_archive_is_configured_exactly_where_the_stack_has_one() {
    let stacks = stacks();
    for stack in &stacks {
        let name = stack.name();
        let f = stack.function(BINARY);
        let s =
            Settings::from_lookup(|k| f.var(k)).unwrap_or_else(|e| panic!("{name} {BINARY}: {e}"));
        match (stack.archive, &s.job.archive) {
            (true, Some(ArchiveSettings { bucket, prefix })) => {
                assert_eq!(Some(bucket.as_str()), f.value("ARCHIVE_BUCKET"), "{name}");
                assert_eq!(prefix, config::DEFAULT_PREFIX, "{name}");
            }
            (false, None) => assert_eq!(f.value("ARCHIVE_PREFIX"), None, "{name}"),
            (archive, settings) => panic!("{name}: archive={archive} but {settings:?}"),
        }
    }
    let archived = stacks.iter().filter(|s| s.archive).count();
    assert!(
        (1..stacks.len()).contains(&archived),
        "the file has stacks with and without the archive ({archived} of {})",
        stacks.len()
    );
}
