//! The `migrate` function: the schema, the database accounts, and a load run's verification.
//!
//! An invocation ([`Migrate::handle`], [`migrate`]) is a migration, logged in as the admin
//! ([`config`]): `migrations/` (ingest-fn's [`ingest::MIGRATOR`]; one a killed run left
//! half-applied is applied again, [`recovery`]), then ingest-fn's account, the reader and
//! ingest-expire's account ([`accounts`]). Or it is a verify request from `ingest-load --verify-function`,
//! logged in as the reader, which may only read the events table ([`contract::verify`]). Every
//! login ([`connect`]) waits out IAM's propagation after a deploy ([`iam_settle`]).

pub mod accounts;
pub mod config;
mod connect;
mod error;
pub mod iam_settle;
mod migrate;
pub mod recovery;

pub use config::{Account, MigrateConfig};
pub use error::MigrateError;
pub use migrate::Migrate;
