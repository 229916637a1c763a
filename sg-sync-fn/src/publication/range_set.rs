//! Which published prefixes are wanted (filter), merged into as few CIDRs as cover exactly the
//! same addresses (aggregate), each labelled with where it came from.

use std::collections::BTreeSet;

use ipnet::IpNet;

use crate::family::Family;
use crate::publication::ip_ranges::{Entry, IpRanges};

/// Which network border groups of a region to take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BorderGroups {
    /// Each selected region's own border group: leaves out Local Zones, where Lambda does not run.
    OwnRegion,
    /// `*`: every border group.
    All,
    Only(Vec<String>),
}

/// The filter: services, regions, border groups and IP families.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub services: Vec<String>,
    pub regions: Vec<String>,
    pub border_groups: BorderGroups,
    pub ipv6: bool,
}

impl Selector {
    pub(crate) fn matches(&self, e: &Entry<'_>) -> bool {
        (self.ipv6 || Family::of(&e.net) == Family::V4)
            && self
                .services
                .iter()
                .any(|s| s.eq_ignore_ascii_case(&e.service))
            && self.regions.iter().any(|r| *r == e.region)
            && match &self.border_groups {
                BorderGroups::OwnRegion => e.network_border_group == e.region,
                BorderGroups::All => true,
                BorderGroups::Only(groups) => groups.iter().any(|g| *g == e.network_border_group),
            }
    }
}

/// An aggregated CIDR and the `SERVICE/region` sources whose prefixes it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Range {
    pub net: IpNet,
    /// e.g. `EC2/ap-northeast-1`; several sources joined by `,` in sorted order.
    pub origin: String,
}

/// The wanted address space: sorted, non-overlapping, non-adjacent CIDRs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RangeSet {
    pub(crate) ranges: Vec<Range>,
    /// How many published prefixes matched before aggregation.
    pub matched: usize,
}

impl RangeSet {
    pub fn select(doc: &IpRanges<'_>, selector: &Selector) -> RangeSet {
        let matching: Vec<&Entry<'_>> =
            doc.entries.iter().filter(|e| selector.matches(e)).collect();
        let nets: Vec<IpNet> = matching.iter().map(|e| e.net).collect();
        // `aggregate` sorts, drops nested prefixes and merges adjacent ones into their supernet,
        // so the result covers exactly the input's addresses.
        let merged = IpNet::aggregate(&nets);
        let mut origins: Vec<BTreeSet<(&str, &str)>> = vec![BTreeSet::new(); merged.len()];
        for e in &matching {
            // The merged list is sorted and disjoint: the one that can hold `e` is the last
            // starting at or before it, within its own family.
            let i = merged.partition_point(|m| key(m) <= key(&e.net)) - 1;
            debug_assert!(merged[i].contains(&e.net));
            origins[i].insert((&e.service, &e.region));
        }
        let ranges = merged
            .into_iter()
            .zip(origins)
            .map(|(net, o)| Range {
                net,
                origin: o
                    .iter()
                    .map(|(s, r)| format!("{s}/{r}"))
                    .collect::<Vec<_>>()
                    .join(","),
            })
            .collect();
        RangeSet {
            ranges,
            matched: matching.len(),
        }
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// IPv4 sorts before IPv6, as in `IpNet::aggregate`'s output.
fn key(n: &IpNet) -> (u8, u128) {
    match n {
        IpNet::V4(n) => (4, u32::from(n.network()) as u128),
        IpNet::V6(n) => (6, u128::from(n.network())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(set: &RangeSet, family: Family) -> usize {
        set.ranges
            .iter()
            .filter(|r| Family::of(&r.net) == family)
            .count()
    }
    use crate::publication::ip_ranges::tests::document;
    use proptest::prelude::*;

    fn selector(regions: &[&str], bg: BorderGroups, ipv6: bool) -> Selector {
        Selector {
            services: vec!["EC2".into()],
            regions: regions.iter().map(|s| s.to_string()).collect(),
            border_groups: bg,
            ipv6,
        }
    }

    #[test]
    fn filters_by_service_region_border_group_and_family() {
        let doc = document(
            1,
            &[
                ("3.112.0.0/16", "ap-northeast-1", "EC2", "ap-northeast-1"),
                ("3.113.0.0/16", "ap-northeast-1", "EC2", "ap-northeast-1"),
                ("3.114.0.0/16", "ap-northeast-1", "AMAZON", "ap-northeast-1"),
                (
                    "15.220.0.0/20",
                    "ap-northeast-1",
                    "EC2",
                    "ap-northeast-1-tpe-1",
                ),
                ("52.0.0.0/16", "us-east-1", "EC2", "us-east-1"),
            ],
            &[("2406:da14::/36", "ap-northeast-1", "EC2", "ap-northeast-1")],
        );
        let doc = IpRanges::parse(doc.as_bytes()).unwrap();
        let set = RangeSet::select(
            &doc,
            &selector(&["ap-northeast-1"], BorderGroups::OwnRegion, false),
        );
        assert_eq!(set.matched, 2);
        // Adjacent /16s merge into one /15.
        assert_eq!(
            set.ranges,
            vec![Range {
                net: "3.112.0.0/15".parse().unwrap(),
                origin: "EC2/ap-northeast-1".into()
            }]
        );

        let set = RangeSet::select(
            &doc,
            &selector(&["ap-northeast-1"], BorderGroups::All, true),
        );
        assert_eq!(count(&set, Family::V4), 2);
        assert_eq!(count(&set, Family::V6), 1);

        let only = BorderGroups::Only(vec!["ap-northeast-1-tpe-1".into()]);
        let set = RangeSet::select(&doc, &selector(&["ap-northeast-1"], only, false));
        assert_eq!(set.ranges[0].net, "15.220.0.0/20".parse::<IpNet>().unwrap());

        let set = RangeSet::select(
            &doc,
            &selector(
                &["ap-northeast-1", "us-east-1"],
                BorderGroups::OwnRegion,
                false,
            ),
        );
        assert_eq!(set.ranges[1].origin, "EC2/us-east-1");
    }

    #[test]
    fn nested_prefixes_collapse_and_keep_every_origin() {
        let doc = document(
            1,
            &[
                ("10.0.0.0/16", "a", "EC2", "a"),
                ("10.0.1.0/24", "b", "EC2", "b"),
            ],
            &[],
        );
        let doc = IpRanges::parse(doc.as_bytes()).unwrap();
        let set = RangeSet::select(&doc, &selector(&["a", "b"], BorderGroups::OwnRegion, false));
        assert_eq!(
            set.ranges,
            vec![Range {
                net: "10.0.0.0/16".parse().unwrap(),
                origin: "EC2/a,EC2/b".into()
            }]
        );
    }

    fn covers(nets: &[IpNet], addr: u32) -> bool {
        nets.iter()
            .any(|n| n.contains(&std::net::IpAddr::V4(addr.into())))
    }

    proptest! {
        /// Aggregation covers exactly the input's addresses: no more, no fewer.
        #[test]
        fn aggregation_covers_exactly_the_input(
            prefixes in prop::collection::vec((any::<u32>(), 8u8..=32), 1..40),
            probes in prop::collection::vec(any::<u32>(), 64),
        ) {
            // Cluster the inputs in a small space so that merges and nesting actually happen.
            let input: Vec<IpNet> = prefixes
                .iter()
                .map(|(a, len)| IpNet::V4(ipnet::Ipv4Net::new((0x0a00_0000 | (a & 0x0000_ffff)).into(), (*len).max(16)).unwrap().trunc()))
                .collect();
            let items: Vec<(String, &str, &str, &str)> = input.iter().map(|n| (n.to_string(), "r", "EC2", "r")).collect();
            let items: Vec<(&str, &str, &str, &str)> = items.iter().map(|(n, a, b, c)| (n.as_str(), *a, *b, *c)).collect();
            let doc = document(1, &items, &[]);
            let doc = IpRanges::parse(doc.as_bytes()).unwrap();
            let set = RangeSet::select(&doc, &selector(&["r"], BorderGroups::OwnRegion, false));
            let out: Vec<IpNet> = set.ranges.iter().map(|r| r.net).collect();
            for w in out.windows(2) {
                prop_assert!(!w[0].contains(&w[1]) && !w[1].contains(&w[0]));
            }
            prop_assert!(out.len() <= input.len());
            let mut edges: Vec<u32> = input.iter().chain(&out).flat_map(|n| match n {
                IpNet::V4(n) => [u32::from(n.network()), u32::from(n.broadcast())],
                IpNet::V6(_) => unreachable!(),
            }).flat_map(|a| [a.wrapping_sub(1), a, a.wrapping_add(1)]).collect();
            edges.extend(probes.iter().map(|p| 0x0a00_0000 | (p & 0x0000_ffff)));
            for a in edges {
                prop_assert_eq!(covers(&input, a), covers(&out, a), "address {}", std::net::Ipv4Addr::from(a));
            }
        }
    }
}
