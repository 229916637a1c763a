//! Keeps the database's security groups (or a prefix list) equal to the IP ranges AWS
//! publishes for EC2 in a region, sharded over several groups past the per-group rule quota.
//!
//! Following an SNS event: [`invocation`] turns it into a [`Trigger`]; `sync` reads the
//! target, then [`publication`] fetches and verifies what AWS published and selects the
//! ranges; [`rules`] turns the ranges into the wanted rules; [`reconcile`] plans and applies
//! the change to the security groups or the prefix list, through [`ec2`]; a [`SyncReport`] is
//! what comes back, and [`metrics`] its figures. Everything but [`ec2`], `publication::fetch`
//! and [`invocation`] is pure.

#![warn(unreachable_pub)]

pub mod config;
pub mod ec2;
mod error;
mod family;
pub mod invocation;
pub mod metrics;
pub mod publication;
pub mod reconcile;
mod report;
mod retry;
pub mod rules;
mod sync;

#[cfg(test)]
mod fake;

pub use config::Config;
pub use error::{Ec2Error, Ec2Reply, InvocationError, PlanError, SyncError};
pub use publication::Notification;
pub use report::{Action, Change, GroupReport, SyncReport};
pub use sync::{Syncer, Trigger};
