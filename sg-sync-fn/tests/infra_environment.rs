//! The environment `infra/` gives sg-sync-fn (public mode, with either dbAuth) through its own
//! parser: every variable the stack sets parses and is one the function reads, and the sync
//! manages the stack's pool of groups on the database's port. A variable renamed on one side
//! fails here, not in a deploy. The file comes from infra/scripts/function-environments.ts
//! (INFRA_FUNCTION_ENVIRONMENTS, see test_support::infra_environments).

use sg_sync::config::{Config, metrics};
use test_support::infra_environments;

#[test]
fn sg_sync_fn_reads_the_environment_infra_gives_it() {
    let stacks = infra_environments::load();
    let public: Vec<_> = stacks.iter().filter(|s| s.mode == "public").collect();
    assert_eq!(public.len(), 2, "public/iam and public/secret");
    for stack in &stacks {
        // Only the public mode opens the database to the EC2 ranges.
        let deployed = stack.functions.contains_key("sg-sync-fn");
        assert_eq!(deployed, stack.mode == "public", "{}", stack.name());
    }
    for stack in public {
        let f = stack.function("sg-sync-fn");
        let c = Config::from_lookup(|k| f.var(k))
            .unwrap_or_else(|e| panic!("{} sg-sync-fn: {e}", stack.name()));
        let emitter = metrics(|k| f.var(k)).unwrap_or_else(|e| panic!("{}: {e}", stack.name()));
        assert_eq!(
            f.unread(),
            Vec::<String>::new(),
            "{}: the stack sets variables sg-sync-fn never reads",
            stack.name()
        );
        assert!(!c.security_group_ids.is_empty(), "{}", stack.name());
        assert!(!c.dry_run, "{}: the deployed sync applies", stack.name());
        assert_eq!(Some(emitter.namespace()), f.value("METRICS_NAMESPACE"));
    }
}
