//! A security group rule as this function sees it, and how it tells its own rules from others.

use std::fmt;

use ipnet::IpNet;

use crate::rules::PortRange;

/// Every rule this function creates carries this prefix in its description; rules without it
/// are never touched. Changing it orphans the rules of every existing deployment.
pub const MARKER: &str = "sg-sync-fn:";

/// EC2 accepts at most 255 characters in a rule description.
/// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpRange.html
const MAX_DESCRIPTION: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    pub fn of(net: &IpNet) -> Family {
        match net {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        }
    }
}

/// One value per IP family: quota slots, counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerFamily<T> {
    pub v4: T,
    pub v6: T,
}

impl<T> PerFamily<T> {
    pub fn new(v4: T, v6: T) -> Self {
        PerFamily { v4, v6 }
    }

    /// Both families, `V4` first.
    pub fn from_fn(mut f: impl FnMut(Family) -> T) -> Self {
        PerFamily {
            v4: f(Family::V4),
            v6: f(Family::V6),
        }
    }
}

impl<T: Copy + std::iter::Sum<T>> PerFamily<T> {
    pub fn total(&self) -> T {
        [self.v4, self.v6].into_iter().sum()
    }
}

impl<T> std::ops::Index<Family> for PerFamily<T> {
    type Output = T;

    fn index(&self, f: Family) -> &T {
        match f {
            Family::V4 => &self.v4,
            Family::V6 => &self.v6,
        }
    }
}

impl<T> std::ops::IndexMut<Family> for PerFamily<T> {
    fn index_mut(&mut self, f: Family) -> &mut T {
        match f {
            Family::V4 => &mut self.v4,
            Family::V6 => &mut self.v6,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// One inbound permission: a port range opened to one CIDR. Its identity; the description is
/// metadata and does not make two rules different.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rule {
    pub port: PortRange,
    pub net: IpNet,
}

impl Rule {
    pub fn family(&self) -> Family {
        Family::of(&self.net)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.port, self.net)
    }
}

/// Whether a rule with this description was created by this function.
pub fn is_managed(description: Option<&str>) -> bool {
    description.is_some_and(|d| d.starts_with(MARKER))
}

/// The description of a managed rule: the marker plus where its addresses come from,
/// e.g. `sg-sync-fn:EC2/ap-northeast-1`.
pub fn description(origin: &str) -> String {
    let mut d = format!("{MARKER}{origin}");
    // EC2 counts characters, not bytes; cutting at a char boundary cannot split one.
    if let Some((end, _)) = d.char_indices().nth(MAX_DESCRIPTION) {
        d.truncate(end);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_is_the_marker_prefix() {
        assert!(is_managed(Some(&description("EC2/ap-northeast-1"))));
        assert!(!is_managed(Some("office VPN")));
        assert!(!is_managed(Some("copy of sg-sync-fn:EC2")));
        assert!(!is_managed(None));
    }

    #[test]
    fn descriptions_fit_ec2s_limit() {
        let long = "EC2/ap-northeast-1,".repeat(40);
        let d = description(&long);
        assert_eq!(d.len(), 255);
        assert!(is_managed(Some(&d)));
    }

    // 255 characters, whatever their width in bytes: a multi-byte origin is cut between
    // characters, never inside one.
    // https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpRange.html
    #[test]
    fn descriptions_are_cut_between_characters() {
        let d = description(&"é".repeat(300));
        assert_eq!(d.chars().count(), 255);
        assert!(d.ends_with('é'));
        let short = description("Zürich");
        assert_eq!(short, "sg-sync-fn:Zürich");
    }
}
