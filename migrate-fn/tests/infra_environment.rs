//! The environment `infra/` gives migrate, in all four modes (public/vpc x iam/secret), through
//! the binary's own parser: every variable the stack sets parses and is read, migrate logs in as
//! the admin with its own secret, and creates ingest-fn's account and the reader the mode
//! calls for, and ingest-expire's account wherever the stack names one. A variable renamed on one side fails here, not in a deploy. The file comes from
//! infra/scripts/function-environments.ts (INFRA_FUNCTION_ENVIRONMENTS, see
//! lambda_harness::infra_environments).

use ingest::config::Auth;
use lambda_harness::infra_environments;
use migrate_fn::{Account, MigrateConfig};

#[test]
fn migrate_reads_the_environment_infra_gives_it_in_every_mode() {
    let stacks = infra_environments::load();
    let mut modes: Vec<String> = stacks.iter().map(|s| s.name()).collect();
    modes.sort();
    assert_eq!(
        modes,
        ["public/iam", "public/secret", "vpc/iam", "vpc/secret"],
        "the file covers each mode once"
    );
    for stack in &stacks {
        let f = stack.function("migrate");
        let c = MigrateConfig::from_lookup(|k| f.var(k))
            .unwrap_or_else(|e| panic!("{} migrate: {e}", stack.name()));
        // migrate logs in as the admin, with the instance's generated secret
        // (DB_ADMIN_SECRET_ARN; DB_SECRET_ARN is ingest-fn's own account's).
        assert!(
            matches!(&c.database.auth, Auth::Secret { arn } if Some(arn.as_str()) == f.value("DB_ADMIN_SECRET_ARN")),
            "{}: {:?}",
            stack.name(),
            c.database.auth
        );
        assert_eq!(
            f.unread(),
            Vec::<String>::new(),
            "{} migrate: the stack sets variables the function never reads",
            stack.name()
        );
        let secret = |a: &Option<Account>| match a {
            Some(Account::Password(arn)) => arn.starts_with("arn:aws:secretsmanager:"),
            _ => false,
        };
        let iam = |a: &Option<Account>, setting: &str| match a {
            Some(Account::Iam(a)) => Some(a.name()) == f.value(setting),
            _ => false,
        };
        let (ingest_account, reader) = match stack.db_auth.as_str() {
            "iam" => (
                iam(&c.ingest_account, "DB_IAM_USER"),
                iam(&c.reader, "DB_READER_IAM_USER"),
            ),
            "secret" => (secret(&c.ingest_account), secret(&c.reader)),
            mode => panic!("{}: dbAuth={mode}", stack.name()),
        };
        assert!(
            ingest_account,
            "{}: migrate would not create ingest-fn's account",
            stack.name()
        );
        // Verify requests read as the reader: without one, a deployed migrate refuses them.
        assert!(
            reader,
            "{}: migrate would not create the reader",
            stack.name()
        );
        // ingest-expire's account, exactly where the stack runs the retention job
        // (retentionDays), as the kind of the stack's dbAuth.
        let expire = match stack.db_auth.as_str() {
            "iam" => iam(&c.expire, "DB_EXPIRE_IAM_USER"),
            _ => secret(&c.expire),
        };
        assert_eq!(
            expire,
            stack.retention_days.is_some(),
            "{}: retentionDays {:?}, but migrate would {}create ingest-expire's account",
            stack.name(),
            stack.retention_days,
            if expire { "" } else { "not " }
        );
    }
}
