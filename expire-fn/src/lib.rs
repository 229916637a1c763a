//! Retention for the events table: `ingest-expire` deletes the rows received more than N days
//! ago, in bounded chunks, each archived to S3 first when an archive bucket is configured. A
//! scheduled Lambda function (EventBridge) and a command (`ingest-expire --older-than-days N
//! [--dry-run]`, `ingest-expire restore FILE.jsonl.gz`).
//!
//! The pure core is separate from the I/O: the cutoff and the chunk rule ([`chunk`]), the
//! archive's format and keys ([`archive`]); the run loop ([`run`]) drives them over the
//! database ([`table`]) and S3 ([`s3`]) through two narrow traits, so that it is tested with
//! fakes. [`job`] starts a run from the function or the command; [`config`] reads the settings.
//!
//! Why chunks: a single `DELETE … WHERE received_at < …` over months of rows is one long
//! transaction that locks, bloats the undo log, stalls replication and times ingest out. Here
//! each chunk of ids (a thousand by default) is one short autocommitted statement, with a pause
//! between chunks and lock waits of a second, and a run stops starting chunks when its time
//! budget is spent.

pub mod archive;
pub mod chunk;
pub mod config;
pub mod error;
#[cfg(test)]
mod fake;
pub mod job;
#[cfg(test)]
mod properties;
pub mod restore;
pub mod run;
pub mod s3;
pub mod table;

pub use error::{ArchiveError, ExpireError, TableError};
pub use job::{Job, Request, handle};
pub use run::{Failed, Report};
