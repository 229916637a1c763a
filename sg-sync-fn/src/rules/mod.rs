//! A published range becomes a rule: the ports it opens, how a managed rule is told from
//! others, and the set of rules a publication wants.

mod port;
pub(crate) mod rule;
mod wanted;

pub use crate::family::{Family, PerFamily};
pub use port::{PortRange, PortSpecError, Protocol};
pub use rule::{MARKER, Rule};
pub use wanted::{Wanted, WantedError};
