//! What the function crates' tests share that needs no database: configuration lookup, AWS's
//! event shapes from checked-in samples, AWS's ip-ranges.json snapshots (committed under
//! tests/fixtures), polling with a deadline, moto (started here, and its EC2 and Secrets
//! Manager set up) and the environments the CDK app gives the functions. The
//! heavy harness (a Runtime API, MySQL through testcontainers, TLS) is `lambda-harness`, which re-exports
//! these; a crate whose tests need none of that (sg-sync-fn) depends on this one alone and so
//! compiles no sqlx, testcontainers or rcgen.

pub mod events;
pub mod infra_environments;
pub mod ip_ranges;
pub mod moto;
pub mod poll;

/// Environment variables as a test gives them, for the functions' `Config::from_lookup`: the
/// last value of a name wins, as with `env` on a command line.
pub fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}
