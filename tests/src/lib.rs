//! What the end-to-end tests and the ingest benchmark share: a Lambda Runtime API on loopback
//! that runs a real function binary the way Lambda does, one invocation at a time.

pub mod runtime_api;

pub use runtime_api::{Outcome, RuntimeApi};
