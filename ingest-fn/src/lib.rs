//! Stores device and client events in MySQL from AWS Lambda.
//!
//! Following an invocation: [`handler`] tells the source and hands the event to its adapter
//! in [`sources`] (direct invokes, HTTP, SQS, Kinesis); the adapter feeds each item to an
//! [`batch::EventBatch`], which parses it ([`event`], the contract) into a [`store::Row`];
//! [`store`] writes the rows through a pool reused across invocations; the adapter maps the
//! outcome to its source's response, or to an [`IngestError`] ([`error`]).
//!
//! The `migrate` binary is [`migrate`]: the schema and ingest-fn's account ([`iam_account`]),
//! or a load run's verification ([`verify`]), after waiting out IAM's propagation
//! ([`iam_settle`]).

// Modules other crates name by path (the local stack, ingest-load's tests, ingest-fn's
// integration tests); the rest is private, its public part re-exported below.
pub mod batch;
pub mod config;
mod error;
mod event;
mod handler;
mod iam_account;
pub mod iam_settle;
mod login;
pub mod metrics;
pub mod migrate;
mod sources;
mod store;
pub use contract::verify;

pub use config::Config;
pub use error::IngestError;
pub use handler::handle;
pub use iam_account::{IamAccount, IamAccountError};
pub use metrics::{MetricsLayer, metered};
pub use store::{EventStore, Inserted, MySqlStore, StoreError, Wait};

/// The workspace's `migrations/`, embedded.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");
