//! Keeps the database's security groups equal to the IP ranges AWS publishes for EC2 in a
//! region, sharded over several groups past the per-group rule quota.
//!
//! Following an SNS event: [`invocation`] turns it into a [`Trigger`]; `sync` reads the
//! groups, then [`publication`] fetches and verifies what AWS published and selects the
//! ranges; [`rules`] turns the ranges into the wanted rules; [`reconcile`] plans and applies
//! the change to the groups, through [`ec2`]; [`fence`] lists the rules of others on the groups
//! that admit the port from outside the published ranges; a [`SyncReport`] is what comes back,
//! and [`metrics`] its figures. Everything but [`ec2`], `publication::fetch`
//! and [`invocation`] is pure.

#![warn(unreachable_pub)]

pub mod config;
pub mod ec2;
mod error;
mod family;
pub mod fence;
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
pub use fence::FenceOpening;
pub use publication::Notification;
pub use report::{Action, Change, GroupReport, SyncReport};
pub use sync::{Syncer, Trigger};
