//! The environment `infra/` gives ingest-fn, in all four modes (public/vpc x iam/secret),
//! through the binary's own parser: every variable the stack sets parses, is one the parser
//! reads, and says what the mode means. A variable renamed on one side fails here, not in a
//! deploy. The file comes from infra/scripts/function-environments.ts
//! (INFRA_FUNCTION_ENVIRONMENTS, see lambda_harness::infra_environments); migrate's is checked
//! in migrate-fn/tests/infra_environment.rs.

use ingest::Config;
use ingest::config::{Auth, metrics};
use lambda_harness::infra_environments::{self, Function, Stack};

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
