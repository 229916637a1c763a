//! Stores device and client events in MySQL from AWS Lambda.
//!
//! An event becomes a row in [`event`] (the contract) and [`batch`] (keys, times, the one
//! write); [`store`] writes rows through a pool reused across invocations; [`sources`] adapts
//! direct invokes, HTTP, SQS and Kinesis; [`handler`] picks the adapter.

pub mod batch;
pub mod config;
pub mod event;
pub mod handler;
pub mod iam_account;
pub mod sources;
pub mod store;
pub mod telemetry;

pub use batch::{EventBatch, Row, Written};
pub use config::DbConfig;
pub use handler::{IngestError, handle};
pub use iam_account::{IamAccount, PasswordAccount};
pub use store::{EventStore, MySqlStore};

/// The workspace's `migrations/`, embedded.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");
