//! Stores device and client events in MySQL from AWS Lambda.
//!
//! Following an invocation, source → batch → store: [`handler`] tells the source and hands the
//! event to its adapter in [`sources`] (direct invokes, HTTP, SQS, Kinesis); the adapter feeds
//! each item to an [`batch::EventBatch`], which parses it ([`event`], the contract) into a
//! [`store::Row`] and writes the rows through the store ([`store`], built once per execution
//! environment and borrowed by each invocation); the adapter maps what the store wrote to its
//! source's response, or to an [`IngestError`] ([`error`]). Around that, the handler turns
//! what the delivery came to ([`batch::Outcome`]) into the invocation's [`metrics`] line.
//!
//! The `migrate` function (the `migrate-fn` crate) shares the settings ([`config`]), the
//! logins ([`login`]) and the schema ([`MIGRATOR`]) from here.

// Modules other crates name by path (migrate-fn, the local stack, ingest-fn's integration
// tests); the rest is private, its public part re-exported below.
pub mod batch;
pub mod config;
mod error;
mod event;
mod handler;
pub mod login;
pub mod metrics;
mod schema;
pub mod server_error;
mod sources;
mod store;

pub use config::Config;
pub use error::IngestError;
pub use handler::{handle, handle_payload};
pub use metrics::{MetricsLayer, metered};
pub use store::{EventStore, MySqlStore, StoreError, Wait, Written};

/// The workspace's `migrations/`, embedded.
pub static MIGRATOR: std::sync::LazyLock<sqlx::migrate::Migrator> =
    std::sync::LazyLock::new(schema::migrator);
