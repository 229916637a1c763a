//! ip-ranges.json, parsed strictly: a document that is malformed anywhere is rejected whole,
//! with the place named, so a bad publication can never shrink the rules.

use std::borrow::Cow;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Deserialize;

use crate::publication::notification::{SyncToken, SyncTokenError};

/// One published prefix, borrowing its strings from the document's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub net: IpNet,
    pub region: Cow<'a, str>,
    pub service: Cow<'a, str>,
    pub network_border_group: Cow<'a, str>,
}

/// A validated ip-ranges.json document. Unknown fields are ignored, so that AWS can add some
/// without stopping every deployment; missing or invalid ones are errors.
#[derive(Debug, Clone)]
pub struct IpRanges<'a> {
    pub sync_token: SyncToken,
    pub create_date: String,
    pub entries: Vec<Entry<'a>>,
}

#[derive(Debug, thiserror::Error)]
pub enum IpRangesError {
    #[error("ip-ranges.json is malformed: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("ip-ranges.json field syncToken: {0}")]
    SyncToken(#[from] SyncTokenError),
    #[error("ip-ranges.json field createDate: {0:?} is not YYYY-MM-DD-hh-mm-ss")]
    CreateDate(String),
    #[error("ip-ranges.json {list}[{index}]: {value:?} is not a valid {family} CIDR")]
    InvalidCidr {
        list: &'static str,
        index: usize,
        value: String,
        family: &'static str,
    },
    #[error("ip-ranges.json {list}[{index}]: {value:?} has host bits set (network is {canonical})")]
    HostBits {
        list: &'static str,
        index: usize,
        value: String,
        canonical: IpNet,
    },
}

#[derive(Deserialize)]
struct RawDocument<'a> {
    #[serde(rename = "syncToken", borrow)]
    sync_token: Cow<'a, str>,
    #[serde(rename = "createDate", borrow)]
    create_date: Cow<'a, str>,
    #[serde(borrow)]
    prefixes: Vec<RawEntry<'a>>,
    #[serde(borrow)]
    ipv6_prefixes: Vec<RawEntry<'a>>,
}

#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(alias = "ipv6_prefix", borrow)]
    ip_prefix: Cow<'a, str>,
    #[serde(borrow)]
    region: Cow<'a, str>,
    #[serde(borrow)]
    service: Cow<'a, str>,
    #[serde(borrow)]
    network_border_group: Cow<'a, str>,
}

impl<'a> IpRanges<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, IpRangesError> {
        let raw: RawDocument<'a> = serde_json::from_slice(bytes)?;
        let sync_token = raw.sync_token.parse()?;
        if !is_create_date(&raw.create_date) {
            return Err(IpRangesError::CreateDate(raw.create_date.into_owned()));
        }
        let mut entries = Vec::with_capacity(raw.prefixes.len() + raw.ipv6_prefixes.len());
        for (index, e) in raw.prefixes.into_iter().enumerate() {
            let net = parse_net::<Ipv4Net>("prefixes", index, &e.ip_prefix, "IPv4")?;
            entries.push(e.into_entry(net));
        }
        for (index, e) in raw.ipv6_prefixes.into_iter().enumerate() {
            let net = parse_net::<Ipv6Net>("ipv6_prefixes", index, &e.ip_prefix, "IPv6")?;
            entries.push(e.into_entry(net));
        }
        Ok(IpRanges {
            sync_token,
            create_date: raw.create_date.into_owned(),
            entries,
        })
    }
}

impl<'a> RawEntry<'a> {
    fn into_entry(self, net: IpNet) -> Entry<'a> {
        Entry {
            net,
            region: self.region,
            service: self.service,
            network_border_group: self.network_border_group,
        }
    }
}

fn parse_net<N>(
    list: &'static str,
    index: usize,
    value: &str,
    family: &'static str,
) -> Result<IpNet, IpRangesError>
where
    N: std::str::FromStr + Into<IpNet>,
{
    let net: IpNet = value
        .parse::<N>()
        .map_err(|_| IpRangesError::InvalidCidr {
            list,
            index,
            value: value.to_owned(),
            family,
        })?
        .into();
    if net.trunc() != net {
        return Err(IpRangesError::HostBits {
            list,
            index,
            value: value.to_owned(),
            canonical: net.trunc(),
        });
    }
    Ok(net)
}

/// `2026-08-22-15-17-05`: the shape AWS has always published.
fn is_create_date(s: &str) -> bool {
    s.len() == 19
        && s.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 | 10 | 13 | 16 => b == b'-',
            _ => b.is_ascii_digit(),
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small document of the published shape, for tests that must run anywhere.
    pub(crate) fn document(
        token: u64,
        v4: &[(&str, &str, &str, &str)],
        v6: &[(&str, &str, &str, &str)],
    ) -> String {
        let list = |key: &str, items: &[(&str, &str, &str, &str)]| {
            items
                .iter()
                .map(|(p, region, service, nbg)| {
                    format!(r#"{{"{key}": "{p}", "region": "{region}", "service": "{service}", "network_border_group": "{nbg}"}}"#)
                })
                .collect::<Vec<_>>()
                .join(",\n")
        };
        format!(
            r#"{{"syncToken": "{token}", "createDate": "2026-08-22-15-17-05", "prefixes": [{}], "ipv6_prefixes": [{}]}}"#,
            list("ip_prefix", v4),
            list("ipv6_prefix", v6)
        )
    }

    #[test]
    fn parses_both_families() {
        let doc = document(
            5,
            &[("3.112.0.0/14", "ap-northeast-1", "EC2", "ap-northeast-1")],
            &[("2406:da14::/36", "ap-northeast-1", "EC2", "ap-northeast-1")],
        );
        let r = IpRanges::parse(doc.as_bytes()).unwrap();
        assert_eq!(r.sync_token, SyncToken(5));
        assert_eq!(r.entries.len(), 2);
        assert_eq!(r.entries[1].net, "2406:da14::/36".parse::<IpNet>().unwrap());
    }

    #[test]
    fn rejects_an_invalid_cidr_naming_where() {
        let doc = document(
            5,
            &[
                ("3.112.0.0/14", "r", "EC2", "r"),
                ("3.112.0.0/33", "r", "EC2", "r"),
            ],
            &[],
        );
        let e = IpRanges::parse(doc.as_bytes()).unwrap_err().to_string();
        assert!(
            e.contains("prefixes[1]") && e.contains("3.112.0.0/33"),
            "{e}"
        );
        let doc = document(5, &[("3.112.0.1/14", "r", "EC2", "r")], &[]);
        assert!(
            IpRanges::parse(doc.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("host bits")
        );
        let doc = document(5, &[], &[("3.112.0.0/14", "r", "EC2", "r")]);
        assert!(
            IpRanges::parse(doc.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("ipv6_prefixes[0]")
        );
    }

    #[test]
    fn rejects_missing_fields_and_garbage() {
        let doc = r#"{"syncToken": "1", "createDate": "2026-08-22-15-17-05", "prefixes": [{"ip_prefix": "3.0.0.0/8", "region": "r", "service": "EC2"}], "ipv6_prefixes": []}"#;
        let e = IpRanges::parse(doc.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("network_border_group"), "{e}");
        let doc = r#"{"syncToken": "1", "createDate": "2026-08-22-15-17-05", "prefixes": []}"#;
        assert!(
            IpRanges::parse(doc.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("ipv6_prefixes")
        );
        let doc =
            r#"{"syncToken": "1", "createDate": "yesterday", "prefixes": [], "ipv6_prefixes": []}"#;
        assert!(
            IpRanges::parse(doc.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("yesterday")
        );
        assert!(IpRanges::parse(b"<html>").is_err());
        assert!(IpRanges::parse(&document(1, &[], &[]).as_bytes()[..40]).is_err());
    }

    #[test]
    fn tolerates_new_fields_and_escaped_strings() {
        let doc = r#"{"syncToken": "1", "createDate": "2026-08-22-15-17-05", "extra": 1, "prefixes": [{"ip_prefix": "3.0.0.0/8", "region": "ap\u002dsouth-1", "service": "EC2", "network_border_group": "ap-south-1", "new": true}], "ipv6_prefixes": []}"#;
        let r = IpRanges::parse(doc.as_bytes()).unwrap();
        assert_eq!(r.entries[0].region, "ap-south-1");
    }
}
