//! The environments `infra/` gives ingest-fn and migrate, in all four modes (public/vpc x
//! iam/secret), through the binaries' own parsers: every variable the stack sets parses, is one
//! a parser reads, and says what the mode means. A variable renamed on one side fails here, not
//! in a deploy. The file comes from infra/scripts/function-environments.ts
//! (INFRA_FUNCTION_ENVIRONMENTS, see e2e::infra_environments).

use e2e::infra_environments::{self, Function, Stack};
use ingest::Config;
use ingest::config::{Auth, MigrateConfig, metrics};
use ingest::migrate::Account;

const MODES: [(&str, &str); 4] = [
    ("public", "iam"),
    ("public", "secret"),
    ("vpc", "iam"),
    ("vpc", "secret"),
];

fn stacks() -> Vec<Stack> {
    let stacks = infra_environments::load();
    let mut found: Vec<(&str, &str)> = stacks
        .iter()
        .map(|s| (s.mode.as_str(), s.db_auth.as_str()))
        .collect();
    found.sort();
    assert_eq!(found, MODES, "the file covers each mode once");
    stacks
}

fn config(stack: &Stack, binary: &str, f: &Function) -> Config {
    Config::from_lookup(|k| f.var(k)).unwrap_or_else(|e| panic!("{} {binary}: {e}", stack.name()))
}

fn assert_all_read(stack: &Stack, binary: &str, f: &Function) {
    assert_eq!(
        f.unread(),
        Vec::<String>::new(),
        "{} {binary}: the stack sets variables the function never reads",
        stack.name()
    );
}

#[test]
fn ingest_fn_reads_the_environment_infra_gives_it_in_every_mode() {
    for stack in &stacks() {
        let f = stack.function("ingest-fn");
        let c = config(stack, "ingest-fn", f);
        let emitter = metrics(|k| f.var(k)).unwrap_or_else(|e| panic!("{}: {e}", stack.name()));
        assert_all_read(stack, "ingest-fn", f);
        match (stack.db_auth.as_str(), &c.auth) {
            ("iam", Auth::Iam) => assert!(c.user.is_some(), "{}: DB_USER", stack.name()),
            ("secret", Auth::Secret { arn }) => {
                assert!(arn.starts_with("arn:aws:secretsmanager:"), "{arn}")
            }
            (mode, auth) => panic!("{}: dbAuth={mode} but {auth:?}", stack.name()),
        }
        let pool_max = f.value("DB_POOL_MAX").map(str::parse::<u32>);
        assert_eq!(pool_max, Some(Ok(c.pool_max)), "{}", stack.name());
        assert_eq!(Some(emitter.namespace()), f.value("METRICS_NAMESPACE"));
    }
}

#[test]
fn migrate_reads_the_environment_infra_gives_it_in_every_mode() {
    for stack in &stacks() {
        let f = stack.function("migrate");
        let MigrateConfig {
            database: c,
            account,
        } = MigrateConfig::from_lookup(|k| f.var(k))
            .unwrap_or_else(|e| panic!("{} migrate: {e}", stack.name()));
        // migrate logs in as the admin, with the instance's generated secret.
        assert!(
            matches!(c.auth, Auth::Secret { .. }),
            "{}: {:?}",
            stack.name(),
            c.auth
        );
        assert_all_read(stack, "migrate", f);
        match (stack.db_auth.as_str(), account) {
            ("iam", Some(Account::Iam(a))) => {
                assert_eq!(Some(a.name()), f.value("DB_IAM_USER"))
            }
            ("secret", Some(Account::Password(arn))) => {
                assert!(arn.starts_with("arn:aws:secretsmanager:"), "{arn}")
            }
            (mode, _) => panic!(
                "{}: dbAuth={mode}, but migrate would not create that account",
                stack.name()
            ),
        }
    }
}
