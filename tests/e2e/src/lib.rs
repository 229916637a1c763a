//! The test harnesses: a Lambda Runtime API on loopback that runs a real function binary the
//! way Lambda does, one invocation at a time, an Invoke API in front of N of them, MySQL
//! (`DATABASE_URL` or a container), a TLS MariaDB and scratch databases. The function crates'
//! tests, the end-to-end tests and the local stack use them; the load tester (`tests/load`)
//! does not. What needs none of that (configuration lookup, sample events, polling, moto, the
//! infra's environments) is `test_support`, re-exported here under the same paths.

pub mod environments;
pub mod invoke_api;
pub mod mariadb;
pub mod mysql;
pub mod runtime_api;
pub mod scratch;
pub mod socket;

pub use runtime_api::{Outcome, RuntimeApi};
pub use test_support::{events, infra_environments, lookup, moto, poll, sns};
