//! A security group rule as this function sees it, and how it tells its own rules from others.

use std::fmt;

use ipnet::IpNet;

use crate::family::Family;
use crate::rules::PortRange;

/// Every rule this function creates carries this prefix in its description; rules without it
/// are never touched. Changing it orphans the rules of every existing deployment.
pub const MARKER: &str = "sg-sync-fn:";

/// EC2 accepts at most 255 characters in a rule description.
/// https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpRange.html
const MAX_DESCRIPTION: usize = 255;

/// One inbound permission: a port range opened to one CIDR. Its identity; the description is
/// metadata and does not make two rules different.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rule {
    pub port: PortRange,
    pub net: IpNet,
}

impl Rule {
    pub(crate) fn family(&self) -> Family {
        Family::of(&self.net)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.port, self.net)
    }
}

/// Whether a rule with this description was created by this function.
pub(crate) fn is_managed(description: Option<&str>) -> bool {
    description.is_some_and(|d| d.starts_with(MARKER))
}

/// The description of a managed rule: the marker plus where its addresses come from,
/// e.g. `sg-sync-fn:EC2/ap-northeast-1`.
pub(crate) fn description(origin: &str) -> String {
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
