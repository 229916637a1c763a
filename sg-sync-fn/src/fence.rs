//! The fence, watched: the pool's inbound rules that sg-sync-fn does not own and that admit the
//! database port from outside what it opens. It never changes them (they are someone else's);
//! each run lists them in its report, logs each, and counts them in `FenceOpenings`. Pure: the
//! rules come from [`crate::ec2`] with the groups.

use std::fmt;

use ipnet::IpNet;
use serde::Serialize;

use crate::rules::PortRange;

/// Where a rule admits traffic from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Cidr(IpNet),
    /// A referenced security group: whatever carries it, wherever that is.
    Group(String),
    /// A referenced prefix list: whatever its owner puts in it.
    PrefixList(String),
    /// A source EC2 described in a form this code does not read, as given.
    Other(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Cidr(net) => net.fmt(f),
            Source::Group(id) | Source::PrefixList(id) | Source::Other(id) => f.write_str(id),
        }
    }
}

/// An inbound rule of a pool group that sg-sync-fn did not create, as EC2 describes it
/// (`DescribeSecurityGroupRules`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignRule {
    pub group_id: String,
    /// `SecurityGroupRuleId`, when EC2 gives one.
    pub rule_id: Option<String>,
    /// `IpProtocol`: a name (`tcp`, `udp`, `icmp`, `icmpv6`), a number, or `-1` for all.
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub source: Source,
}

/// A foreign rule that admits the database port from outside the published ranges, as
/// reported: the Lambda's response, the CLI's table and JSON, one warning each in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FenceOpening {
    pub group: String,
    /// `null` when EC2 gave the rule no id.
    pub rule_id: Option<String>,
    pub source: String,
    /// `tcp`, or `all` for a rule of every protocol (EC2's `-1`).
    pub protocol: String,
    /// `3306`, `3300-3310`, or `all`.
    pub ports: String,
}

/// EC2's `-1`: every protocol, and so every port: "specifying -1 or a protocol number other
/// than tcp, udp, icmp, or icmpv6 allows traffic on all ports, regardless of any port range you
/// specify" (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpPermission.html).
/// Another protocol number admits all ports of that protocol only, never TCP's or UDP's.
fn all_protocols(protocol: &str) -> bool {
    matches!(protocol, "-1" | "all")
}

impl ForeignRule {
    /// Whether this rule lets traffic to `port` through: a rule of every protocol, or one of
    /// the same protocol whose ports overlap.
    fn admits(&self, port: &PortRange) -> bool {
        if all_protocols(&self.protocol) {
            return true;
        }
        PortRange::from_ec2(&self.protocol, self.from_port, self.to_port)
            .is_some_and(|r| r.protocol == port.protocol && r.from <= port.to && port.from <= r.to)
    }

    fn opening(&self) -> FenceOpening {
        let (protocol, ports) = if all_protocols(&self.protocol) {
            ("all".to_owned(), "all".to_owned())
        } else {
            match PortRange::from_ec2(&self.protocol, self.from_port, self.to_port) {
                Some(r) => {
                    let ports = if r.from == r.to {
                        r.from.to_string()
                    } else {
                        format!("{}-{}", r.from, r.to)
                    };
                    (r.protocol.as_str().to_owned(), ports)
                }
                // Not reached for a rule that admits a port, which is tcp, udp or all.
                None => (self.protocol.clone(), "all".to_owned()),
            }
        };
        FenceOpening {
            group: self.group_id.clone(),
            rule_id: self.rule_id.clone(),
            source: self.source.to_string(),
            protocol,
            ports,
        }
    }
}

/// Whether `net` lies wholly inside the union of `nets`. `IpNet::aggregate` gives the fewest
/// CIDRs covering exactly that union, and a CIDR inside the union is then inside one of them:
/// were it split over several, they would be sibling halves, which aggregation merges.
fn covered(net: &IpNet, aggregated: &[IpNet]) -> bool {
    aggregated.iter().any(|a| a.contains(net))
}

/// The rules among `rules` that admit one of `ports` from outside `published` (the ranges the
/// sync opens the ports to) and from no source in `allowed` (`FENCE_ALLOWED_CIDRS`): a CIDR not
/// inside the published ranges, `0.0.0.0/0` and `::/0` among them, and any referenced security
/// group or prefix list, which can hold anything. In the order of `rules`.
pub fn openings(
    rules: &[ForeignRule],
    ports: &[PortRange],
    published: &[IpNet],
    allowed: &[IpNet],
) -> Vec<FenceOpening> {
    let published = IpNet::aggregate(&published.to_vec());
    let allowed = IpNet::aggregate(&allowed.to_vec());
    rules
        .iter()
        .filter(|r| ports.iter().any(|p| r.admits(p)))
        .filter(|r| match &r.source {
            // The whole internet is never inside the published ranges (no publication may
            // open more than a /8 or a /24, `rules::Wanted`); only an explicit allowance
            // lets it pass.
            Source::Cidr(net) => {
                let published = net.prefix_len() > 0 && covered(net, &published);
                !(published || covered(net, &allowed))
            }
            Source::Group(_) | Source::PrefixList(_) | Source::Other(_) => true,
        })
        .map(ForeignRule::opening)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MYSQL: PortRange = PortRange::tcp(3306);

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn rule(protocol: &str, ports: Option<(i32, i32)>, source: Source) -> ForeignRule {
        ForeignRule {
            group_id: "sg-a".into(),
            rule_id: Some("sgr-1".into()),
            protocol: protocol.into(),
            from_port: ports.map(|p| p.0),
            to_port: ports.map(|p| p.1),
            source,
        }
    }

    fn tcp(from: i32, to: i32, cidr: &str) -> ForeignRule {
        rule("tcp", Some((from, to)), Source::Cidr(net(cidr)))
    }

    /// The published ranges of these tests: two EC2-like /16s.
    fn published() -> Vec<IpNet> {
        vec![net("3.112.0.0/16"), net("2406:da14::/36")]
    }

    fn reported(rules: &[ForeignRule], allowed: &[&str]) -> Vec<String> {
        let allowed: Vec<IpNet> = allowed.iter().map(|a| net(a)).collect();
        openings(rules, &[MYSQL], &published(), &allowed)
            .into_iter()
            .map(|o| format!("{} {} {}", o.protocol, o.ports, o.source))
            .collect()
    }

    #[test]
    fn the_internet_and_foreign_cidrs_on_the_port_are_openings() {
        let rules = [
            tcp(3306, 3306, "0.0.0.0/0"),
            tcp(3306, 3306, "::/0"),
            tcp(3300, 3310, "198.51.100.0/24"),
            tcp(0, 65535, "203.0.113.7/32"),
            rule("-1", None, Source::Cidr(net("192.0.2.0/24"))),
        ];
        assert_eq!(
            reported(&rules, &[]),
            [
                "tcp 3306 0.0.0.0/0",
                "tcp 3306 ::/0",
                "tcp 3300-3310 198.51.100.0/24",
                "tcp 0-65535 203.0.113.7/32",
                "all all 192.0.2.0/24",
            ]
        );
    }

    #[test]
    fn referenced_groups_and_prefix_lists_are_openings() {
        let rules = [
            rule("tcp", Some((3306, 3306)), Source::Group("sg-0b".into())),
            rule("-1", None, Source::PrefixList("pl-0c".into())),
        ];
        assert_eq!(reported(&rules, &[]), ["tcp 3306 sg-0b", "all all pl-0c"]);
        // An allowance is of CIDRs: it never covers a reference.
        assert_eq!(reported(&rules, &["0.0.0.0/0", "::/0"]).len(), 2);
    }

    #[test]
    fn other_ports_protocols_and_published_or_allowed_sources_are_not() {
        let rules = [
            // Another port, and a range beside the port.
            tcp(22, 22, "0.0.0.0/0"),
            tcp(3307, 3310, "0.0.0.0/0"),
            // UDP on the port, and another protocol number: its own traffic only, not TCP's.
            rule("udp", Some((3306, 3306)), Source::Cidr(net("0.0.0.0/0"))),
            rule("47", None, Source::Cidr(net("0.0.0.0/0"))),
            rule("icmp", Some((-1, -1)), Source::Cidr(net("0.0.0.0/0"))),
            // Inside the published ranges, either family.
            tcp(3306, 3306, "3.112.5.0/24"),
            tcp(3306, 3306, "3.112.0.0/16"),
            tcp(3306, 3306, "2406:da14:1::/48"),
            rule("-1", None, Source::Cidr(net("3.112.9.9/32"))),
            // Allowed.
            tcp(3306, 3306, "198.51.100.7/32"),
            tcp(3306, 3306, "2001:db8::/64"),
        ];
        assert!(
            reported(&rules, &["198.51.100.0/24", "2001:db8::/32"]).is_empty(),
            "{:?}",
            reported(&rules, &["198.51.100.0/24", "2001:db8::/32"])
        );
        // Broader than a published range is outside it.
        assert_eq!(
            reported(&[tcp(3306, 3306, "3.0.0.0/8")], &[]),
            ["tcp 3306 3.0.0.0/8"]
        );
    }

    #[test]
    fn a_cidr_covered_by_adjacent_ranges_together_is_inside() {
        let rules = [tcp(3306, 3306, "10.0.0.0/22")];
        let split = [net("10.0.0.0/23"), net("10.0.2.0/23")];
        assert!(openings(&rules, &[MYSQL], &split, &[]).is_empty());
        assert!(openings(&rules, &[MYSQL], &[], &split).is_empty());
        assert_eq!(
            openings(&rules, &[MYSQL], &split[..1], &[]).len(),
            1,
            "half of it is outside"
        );
    }

    #[test]
    fn each_managed_port_is_watched_and_the_report_names_the_rule() {
        let ports = [MYSQL, "tcp/33060".parse().unwrap()];
        let rules = [tcp(33060, 33060, "0.0.0.0/0")];
        let found = openings(&rules, &ports, &published(), &[]);
        assert_eq!(
            found,
            [FenceOpening {
                group: "sg-a".into(),
                rule_id: Some("sgr-1".into()),
                source: "0.0.0.0/0".into(),
                protocol: "tcp".into(),
                ports: "33060".into(),
            }]
        );
        assert!(openings(&rules, &[MYSQL], &published(), &[]).is_empty());
    }

    /// An IPv4 network of prefix `len` whose address is `bits`, made a valid CIDR.
    fn v4(bits: u32, len: u8) -> IpNet {
        IpNet::V4(ipnet::Ipv4Net::new(bits.into(), len).unwrap().trunc())
    }

    fn arb_published() -> impl Strategy<Value = Vec<IpNet>> {
        // As a publication's ranges can be: no broader than a /8 (`rules::Wanted`).
        prop::collection::vec((any::<u32>(), 8u8..=32).prop_map(|(b, l)| v4(b, l)), 1..20)
    }

    fn arb_rule(source: IpNet) -> impl Strategy<Value = ForeignRule> {
        prop_oneof![
            Just(rule("-1", None, Source::Cidr(source))),
            (0i32..=3306, 3306i32..=65535).prop_map(move |(from, to)| rule(
                "tcp",
                Some((from, to)),
                Source::Cidr(source)
            )),
        ]
    }

    proptest! {
        /// A CIDR inside a published range is never reported, whatever else is allowed.
        #[test]
        fn a_cidr_inside_a_published_range_is_never_reported(
            (published, rule) in arb_published().prop_flat_map(|published| {
                let pick = (0..published.len(), any::<u32>(), 0u8..=24);
                (Just(published.clone()), pick.prop_flat_map(move |(i, bits, extra)| {
                    let IpNet::V4(range) = published[i] else { unreachable!() };
                    // Inside `range`: its prefix, more bits from `bits`.
                    let len = (range.prefix_len() + extra).min(32);
                    let host = u32::from(range.network()) | (bits & !u32::from(range.netmask()));
                    arb_rule(v4(host, len))
                }))
            })
        ) {
            prop_assert!(openings(&[rule], &[MYSQL], &published, &[]).is_empty());
        }

        /// 0.0.0.0/0 on the port is always reported unless it is allowed.
        #[test]
        fn the_whole_internet_on_the_port_is_reported_unless_allowed(
            published in arb_published(),
            rule in arb_rule(net("0.0.0.0/0")),
            // At most three allowances of /2 or narrower cannot cover 0.0.0.0/0 together.
            mut allowed in prop::collection::vec((any::<u32>(), 2u8..=32).prop_map(|(b, l)| v4(b, l)), 0..=3),
            allow_all in any::<bool>(),
        ) {
            if allow_all {
                allowed.push(net("0.0.0.0/0"));
            }
            let found = openings(&[rule], &[MYSQL], &published, &allowed);
            prop_assert_eq!(found.len(), usize::from(!allow_all));
        }
    }
}
