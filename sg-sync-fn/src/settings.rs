//! The function's settings, read from environment variables (the Lambda) or from the same
//! names given as flags (the CLI), and validated in one place.

use std::net::IpAddr;

use reqwest::Url;

use crate::port::PortRange;
use crate::range_set::{BorderGroups, Selector};

pub const OFFICIAL_URL: &str = "https://ip-ranges.amazonaws.com/ip-ranges.json";

/// Where the managed rules live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Security groups in placement order.
    SecurityGroups(Vec<String>),
    /// A customer-managed prefix list.
    PrefixList(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub target: Target,
    pub ports: Vec<PortRange>,
    pub selector: Selector,
    pub rules_per_group: usize,
    pub ip_ranges_url: Url,
    pub max_removal_ratio: f64,
    pub dry_run: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("setting {name}={value:?}: {reason}")]
pub struct SettingsError {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
}

fn err(name: &'static str, value: &str, reason: impl Into<String>) -> SettingsError {
    SettingsError {
        name,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// Splits a comma-separated list, dropping blanks.
fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_bool(name: &'static str, value: &str) -> Result<bool, SettingsError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        _ => Err(err(name, value, "expected true or false")),
    }
}

fn ids(name: &'static str, value: &str, prefix: &str) -> Result<Vec<String>, SettingsError> {
    let ids = list(value);
    if ids.is_empty() {
        return Err(err(name, value, "expected at least one id"));
    }
    for id in &ids {
        let ok = id
            .strip_prefix(prefix)
            .is_some_and(|hex| !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()));
        if !ok {
            return Err(err(
                name,
                value,
                format!("{id:?} is not an id of the form {prefix}0123abcd"),
            ));
        }
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != ids.len() {
        return Err(err(name, value, "an id is listed twice"));
    }
    Ok(ids)
}

/// `https://` anywhere; `file://`; plain `http://` only to this machine, for tests.
pub fn ranges_url(value: &str) -> Result<Url, SettingsError> {
    const NAME: &str = "IP_RANGES_URL";
    let url = Url::parse(value).map_err(|e| err(NAME, value, e.to_string()))?;
    match url.scheme() {
        "https" | "file" => Ok(url),
        "http" => {
            let loopback = match url.host_str() {
                Some("localhost") => true,
                Some(h) => h
                    .trim_matches(['[', ']'])
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback()),
                None => false,
            };
            if loopback {
                Ok(url)
            } else {
                Err(err(
                    NAME,
                    value,
                    "plain http is accepted for loopback addresses only; use https",
                ))
            }
        }
        other => Err(err(
            NAME,
            value,
            format!("scheme {other:?} is not https, file or loopback http"),
        )),
    }
}

impl Settings {
    /// Reads the settings through `var`, which returns a variable's value if it is set.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let target = match (get("SECURITY_GROUP_IDS"), get("PREFIX_LIST_ID")) {
            (Some(_), Some(pl)) => {
                return Err(err(
                    "PREFIX_LIST_ID",
                    &pl,
                    "set either SECURITY_GROUP_IDS or PREFIX_LIST_ID, not both",
                ));
            }
            (Some(sg), None) => Target::SecurityGroups(ids("SECURITY_GROUP_IDS", &sg, "sg-")?),
            (None, Some(pl)) => {
                let mut one = ids("PREFIX_LIST_ID", &pl, "pl-")?;
                if one.len() != 1 {
                    return Err(err(
                        "PREFIX_LIST_ID",
                        &pl,
                        "expected exactly one prefix list id",
                    ));
                }
                Target::PrefixList(one.remove(0))
            }
            (None, None) => {
                return Err(err(
                    "SECURITY_GROUP_IDS",
                    "",
                    "required: the ids of the groups that hold the managed rules",
                ));
            }
        };
        let ports_value = get("PORTS").unwrap_or_else(|| "tcp/3306".into());
        let ports = list(&ports_value)
            .iter()
            .map(|p| {
                p.parse::<PortRange>()
                    .map_err(|e| err("PORTS", &ports_value, e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if ports.is_empty() {
            return Err(err("PORTS", &ports_value, "expected at least one port"));
        }
        let services = list(&get("SERVICES").unwrap_or_else(|| "EC2".into()));
        let regions_value = get("REGIONS")
            .or_else(|| get("AWS_REGION"))
            .ok_or_else(|| {
                err(
                    "REGIONS",
                    "",
                    "not set, and neither is AWS_REGION to default to",
                )
            })?;
        let regions = list(&regions_value);
        if services.is_empty() || regions.is_empty() {
            return Err(err(
                "SERVICES",
                &regions_value,
                "SERVICES and REGIONS need at least one name each",
            ));
        }
        let border_groups = match get("NETWORK_BORDER_GROUPS") {
            None => BorderGroups::OwnRegion,
            Some(v) if v.trim() == "*" => BorderGroups::All,
            Some(v) => BorderGroups::Only(list(&v)),
        };
        let ipv6 = parse_bool("IPV6", &get("IPV6").unwrap_or_default())?;
        let rules_value = get("RULES_PER_GROUP").unwrap_or_else(|| "60".into());
        let rules_per_group = rules_value
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                err(
                    "RULES_PER_GROUP",
                    &rules_value,
                    "expected a whole number from 1 to 1000",
                )
            })?;
        let url_value = get("IP_RANGES_URL").unwrap_or_else(|| OFFICIAL_URL.into());
        let ip_ranges_url = ranges_url(url_value.trim())?;
        let ratio_value = get("MAX_REMOVAL_RATIO").unwrap_or_else(|| "0.5".into());
        let max_removal_ratio = ratio_value
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|r| (0.0..=1.0).contains(r))
            .ok_or_else(|| {
                err(
                    "MAX_REMOVAL_RATIO",
                    &ratio_value,
                    "expected a number from 0 to 1",
                )
            })?;
        let dry_run = parse_bool("DRY_RUN", &get("DRY_RUN").unwrap_or_default())?;
        Ok(Settings {
            target,
            ports,
            selector: Selector {
                services,
                regions,
                border_groups,
                ipv6,
            },
            rules_per_group,
            ip_ranges_url,
            max_removal_ratio,
            dry_run,
        })
    }

    pub fn from_env() -> Result<Settings, SettingsError> {
        Settings::from_lookup(|k| std::env::var(k).ok())
    }

    /// A short description of the filter, for messages.
    pub fn filter(&self) -> String {
        let s = &self.selector;
        let bg = match &s.border_groups {
            BorderGroups::OwnRegion => "own region".to_owned(),
            BorderGroups::All => "*".to_owned(),
            BorderGroups::Only(g) => g.join(","),
        };
        format!(
            "SERVICES={} REGIONS={} NETWORK_BORDER_GROUPS={} IPV6={}",
            s.services.join(","),
            s.regions.join(","),
            bg,
            s.ipv6
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let s = settings(&[
            ("SECURITY_GROUP_IDS", "sg-0a1, sg-0b2"),
            ("AWS_REGION", "ap-northeast-1"),
        ])
        .unwrap();
        assert_eq!(
            s.target,
            Target::SecurityGroups(vec!["sg-0a1".into(), "sg-0b2".into()])
        );
        assert_eq!(s.ports, vec![PortRange::tcp(3306)]);
        assert_eq!(s.selector.services, vec!["EC2"]);
        assert_eq!(s.selector.regions, vec!["ap-northeast-1"]);
        assert_eq!(s.selector.border_groups, BorderGroups::OwnRegion);
        assert!(!s.selector.ipv6 && !s.dry_run);
        assert_eq!(s.rules_per_group, 60);
        assert_eq!(s.max_removal_ratio, 0.5);
        assert_eq!(s.ip_ranges_url.as_str(), OFFICIAL_URL);
    }

    #[test]
    fn every_setting_is_read() {
        let s = settings(&[
            ("PREFIX_LIST_ID", "pl-0123"),
            ("PORTS", "tcp/3306,tcp/8000-8100,udp/53"),
            ("SERVICES", "EC2,AMAZON"),
            ("REGIONS", "us-east-1,eu-west-1"),
            ("NETWORK_BORDER_GROUPS", "*"),
            ("IPV6", "true"),
            ("RULES_PER_GROUP", "120"),
            ("IP_RANGES_URL", "http://127.0.0.1:8080/ip-ranges.json"),
            ("MAX_REMOVAL_RATIO", "0.1"),
            ("DRY_RUN", "true"),
        ])
        .unwrap();
        assert_eq!(s.target, Target::PrefixList("pl-0123".into()));
        assert_eq!(s.ports.len(), 3);
        assert_eq!(s.selector.border_groups, BorderGroups::All);
        assert!(s.selector.ipv6 && s.dry_run);
        assert_eq!((s.rules_per_group, s.max_removal_ratio), (120, 0.1));
    }

    #[test]
    fn bad_values_name_the_setting() {
        let base = [("SECURITY_GROUP_IDS", "sg-1"), ("AWS_REGION", "r")];
        let cases: &[(&str, &str)] = &[
            ("PORTS", "tcp/99999"),
            ("RULES_PER_GROUP", "0"),
            ("MAX_REMOVAL_RATIO", "2"),
            ("IPV6", "maybe"),
            ("DRY_RUN", "sure"),
            ("IP_RANGES_URL", "http://203.0.113.9/ip-ranges.json"),
            ("IP_RANGES_URL", "ftp://example.com/x"),
            ("PREFIX_LIST_ID", "pl-1"),
        ];
        for (name, value) in cases {
            let mut vars = base.to_vec();
            vars.push((name, value));
            let e = settings(&vars).unwrap_err();
            assert_eq!(e.name, *name, "{e}");
        }
        assert_eq!(
            settings(&[("AWS_REGION", "r")]).unwrap_err().name,
            "SECURITY_GROUP_IDS"
        );
        assert_eq!(
            settings(&[("SECURITY_GROUP_IDS", "sg-1,sg-1"), ("AWS_REGION", "r")])
                .unwrap_err()
                .name,
            "SECURITY_GROUP_IDS"
        );
        assert_eq!(
            settings(&[("SECURITY_GROUP_IDS", "sg-xyz"), ("AWS_REGION", "r")])
                .unwrap_err()
                .name,
            "SECURITY_GROUP_IDS"
        );
        assert_eq!(
            settings(&[("SECURITY_GROUP_IDS", "sg-1")])
                .unwrap_err()
                .name,
            "REGIONS"
        );
    }

    #[test]
    fn loopback_http_and_files_are_accepted() {
        for ok in [
            "http://localhost:1/x",
            "http://[::1]:1/x",
            "file:///tmp/ip-ranges.json",
            "https://example.com/x",
        ] {
            assert!(ranges_url(ok).is_ok(), "{ok}");
        }
    }
}
