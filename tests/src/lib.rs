//! What the end-to-end tests, the ingest benchmark and the load tester share: a Lambda
//! Runtime API on loopback that runs a real function binary the way Lambda does, one
//! invocation at a time, an Invoke API in front of it, and the load tester's parts.

pub mod environments;
pub mod invoke_api;
pub mod load;
pub mod mariadb;
pub mod moto;
pub mod mysql;
pub mod runtime_api;
pub mod scratch;
pub mod sns;

pub use runtime_api::{Outcome, RuntimeApi};
