//! A published range becomes a rule: the ports it opens, how a managed rule is told from
//! others, and the set of rules a publication wants.

pub mod port;
pub mod rule;
pub mod wanted;

pub use crate::family::{Family, PerFamily};
pub use port::PortRange;
pub use rule::{MARKER, Rule};
pub use wanted::{Wanted, WantedError};
