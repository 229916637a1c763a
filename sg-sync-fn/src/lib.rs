//! Keeps the database's security groups (or a prefix list) equal to the IP ranges AWS
//! publishes for EC2 in a region, sharded over several groups past the per-group rule quota.
//!
//! The pure core turns a publication into rules: [`notification`] and [`ip_ranges`] parse,
//! [`range_set`] filters and aggregates, [`plan`] and [`prefix_list`] decide the changes.
//! The edges do I/O: [`fetch`] gets the document, [`ec2`] reads and writes the rules, and
//! [`sync`] runs one sync through them; [`invocation`] adapts Lambda events.

pub mod ec2;
pub mod fetch;
pub mod invocation;
pub mod ip_ranges;
pub mod notification;
pub mod plan;
pub mod port;
pub mod prefix_list;
pub mod range_set;
pub mod rule;
pub mod settings;
pub mod sync;
pub mod telemetry;

#[cfg(test)]
mod fake;

pub use notification::{Notification, SyncToken};
pub use plan::{Placement, Plan};
pub use range_set::RangeSet;
pub use settings::Settings;
pub use sync::{SyncError, SyncReport, Syncer, Trigger};
