//! The test harnesses: a Lambda Runtime API on loopback that runs a real function binary the
//! way Lambda does, one invocation at a time, an Invoke API in front of N of them, moto's EC2
//! and Secrets Manager, MySQL (`DATABASE_URL` or a container), a TLS MariaDB, scratch
//! databases and the SNS event AWS delivers. The function crates' tests, the end-to-end tests
//! and the local stack use them; the load tester (`tests/load`) does not.

pub mod environments;
pub mod infra_environments;
pub mod invoke_api;
pub mod mariadb;
pub mod moto;
pub mod mysql;
pub mod poll;
pub mod runtime_api;
pub mod scratch;
pub mod sns;
pub mod socket;

pub use runtime_api::{Outcome, RuntimeApi};

/// Environment variables as a test gives them, for the functions' `Config::from_lookup`: the
/// last value of a name wins, as with `env` on a command line.
pub fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: std::collections::HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}
