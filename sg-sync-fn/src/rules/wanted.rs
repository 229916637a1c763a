//! Every rule a publication wants: one per selected range and port, refused when the set is
//! empty or a range is implausibly broad. Pure: no AWS here.

use std::collections::BTreeMap;

use ipnet::IpNet;

use crate::publication::RangeSet;
use crate::rules::PortRange;
use crate::rules::rule::{self, Rule};

/// Prefixes broader than these are refused outright: no publication should ever open a
/// database to a /7 or to the whole internet.
pub(crate) const MIN_V4_PREFIX: u8 = 8;
pub(crate) const MIN_V6_PREFIX: u8 = 24;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WantedError {
    #[error("the wanted set is empty ({0}): refusing to remove every managed rule")]
    EmptyWantedSet(String),
    #[error(
        "refusing {net} ({origin}): broader than /{min}, the narrowest prefix length accepted for this family"
    )]
    TooBroad { net: IpNet, origin: String, min: u8 },
}

/// Every rule that should exist, with the description it is created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub rules: BTreeMap<Rule, String>,
}

impl Wanted {
    /// One rule per range and port. `filter` describes the selection for the empty-set error.
    pub fn new(set: &RangeSet, ports: &[PortRange], filter: &str) -> Result<Wanted, WantedError> {
        if set.is_empty() || ports.is_empty() {
            return Err(WantedError::EmptyWantedSet(filter.to_owned()));
        }
        let mut rules = BTreeMap::new();
        for r in &set.ranges {
            let min = match r.net {
                IpNet::V4(_) => MIN_V4_PREFIX,
                IpNet::V6(_) => MIN_V6_PREFIX,
            };
            if r.net.prefix_len() < min {
                return Err(WantedError::TooBroad {
                    net: r.net,
                    origin: r.origin.clone(),
                    min,
                });
            }
            for &port in ports {
                rules.insert(Rule { port, net: r.net }, rule::description(&r.origin));
            }
        }
        Ok(Wanted { rules })
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publication::range_set::Range;

    const MYSQL: PortRange = PortRange::tcp(3306);

    #[test]
    fn refuses_empty_and_broad_sets() {
        let empty = RangeSet::default();
        assert!(matches!(
            Wanted::new(&empty, &[MYSQL], "EC2"),
            Err(WantedError::EmptyWantedSet(_))
        ));
        for broad in ["0.0.0.0/0", "8.0.0.0/7", "::/0", "2400::/23"] {
            let set = RangeSet {
                ranges: vec![Range {
                    net: broad.parse().unwrap(),
                    origin: "x".into(),
                }],
                matched: 1,
            };
            assert!(
                matches!(
                    Wanted::new(&set, &[MYSQL], "x"),
                    Err(WantedError::TooBroad { .. })
                ),
                "{broad}"
            );
        }
    }
}
