//! The function's configuration, read from environment variables (the Lambda) or from flags
//! backed by the same variables (the CLI). Each setting has one parser here, which both use.

use std::net::IpAddr;

use emf::{EmfError, Emitter};
use ipnet::IpNet;
use reqwest::Url;

use crate::publication::{BorderGroups, Selector};
use crate::rules::PortRange;

pub const OFFICIAL_URL: &str = "https://ip-ranges.amazonaws.com/ip-ranges.json";

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The pool: the groups that hold the managed rules, in placement order.
    pub security_group_ids: Vec<String>,
    pub ports: Vec<PortRange>,
    pub selector: Selector,
    pub rules_per_group: usize,
    pub ip_ranges_url: Url,
    pub max_removal_ratio: f64,
    pub dry_run: bool,
    /// Sources a rule of someone else's may admit the port from without being reported as an
    /// opening in the fence (`FENCE_ALLOWED_CIDRS`; none by default).
    pub fence_allowed_cidrs: Vec<IpNet>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("setting {name}={value:?}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
}

fn err(name: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
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

/// `true`/`false` (also `1`/`0`, `yes`/`no`) for the setting `name`.
pub fn parse_bool(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" | "" => Ok(false),
        _ => Err(err(name, value, "expected true or false")),
    }
}

/// `https://` anywhere; `file://`; plain `http://` only to this machine, for tests.
pub fn ip_ranges_url(value: &str) -> Result<Url, ConfigError> {
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

/// `SECURITY_GROUP_IDS`: comma-separated, in placement order, each once.
pub fn security_group_ids(value: &str) -> Result<Vec<String>, ConfigError> {
    const NAME: &str = "SECURITY_GROUP_IDS";
    let ids = list(value);
    if ids.is_empty() {
        return Err(err(NAME, value, "expected at least one id"));
    }
    for id in &ids {
        let ok = id
            .strip_prefix("sg-")
            .is_some_and(|hex| !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()));
        if !ok {
            return Err(err(
                NAME,
                value,
                format!("{id:?} is not an id of the form sg-0123abcd"),
            ));
        }
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != ids.len() {
        return Err(err(NAME, value, "an id is listed twice"));
    }
    Ok(ids)
}

/// `PORTS`: e.g. `tcp/3306,tcp/8000-8100,udp/53`.
pub fn ports(value: &str) -> Result<Vec<PortRange>, ConfigError> {
    let ports = list(value)
        .iter()
        .map(|p| {
            p.parse::<PortRange>()
                .map_err(|e| err("PORTS", value, e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if ports.is_empty() {
        return Err(err("PORTS", value, "expected at least one port"));
    }
    Ok(ports)
}

/// `SERVICES` or `REGIONS`: comma-separated names, at least one.
pub fn names(name: &'static str, value: &str) -> Result<Vec<String>, ConfigError> {
    let names = list(value);
    if names.is_empty() {
        return Err(err(name, value, "expected at least one name"));
    }
    Ok(names)
}

/// `NETWORK_BORDER_GROUPS`: names, or `*` for all.
pub fn network_border_groups(value: &str) -> Result<BorderGroups, ConfigError> {
    if value.trim() == "*" {
        return Ok(BorderGroups::All);
    }
    Ok(BorderGroups::Only(names("NETWORK_BORDER_GROUPS", value)?))
}

/// `RULES_PER_GROUP`: the quota per group and IP family.
pub fn rules_per_group(value: &str) -> Result<usize, ConfigError> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=1000).contains(n))
        .ok_or_else(|| {
            err(
                "RULES_PER_GROUP",
                value,
                "expected a whole number from 1 to 1000",
            )
        })
}

/// `MAX_REMOVAL_RATIO`: the share of managed rules one run may remove.
pub fn max_removal_ratio(value: &str) -> Result<f64, ConfigError> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|r| (0.0..=1.0).contains(r))
        .ok_or_else(|| err("MAX_REMOVAL_RATIO", value, "expected a number from 0 to 1"))
}

/// `FENCE_ALLOWED_CIDRS`: comma-separated IPv4 or IPv6 CIDRs, e.g. an office VPN's
/// `203.0.113.0/24`. A CIDR with host bits set (`203.0.113.7/24`) is refused: which of the
/// address or the prefix length was meant is not for this function to guess.
pub fn fence_allowed_cidrs(value: &str) -> Result<Vec<IpNet>, ConfigError> {
    const NAME: &str = "FENCE_ALLOWED_CIDRS";
    list(value)
        .iter()
        .map(|entry| {
            let net: IpNet = entry.parse().map_err(|_| {
                err(
                    NAME,
                    value,
                    format!(
                        "{entry:?} is not a CIDR (expected e.g. 203.0.113.0/24 or 2001:db8::/32)"
                    ),
                )
            })?;
            if net != net.trunc() {
                return Err(err(
                    NAME,
                    value,
                    format!("{entry:?} has host bits set: did you mean {}?", net.trunc()),
                ));
            }
            Ok(net)
        })
        .collect()
}

/// Where the Lambda's metrics go: `METRICS_NAMESPACE` (`LambdaRdsIngest` when unset), with
/// the `FunctionName` dimension from `AWS_LAMBDA_FUNCTION_NAME`, which Lambda sets
/// (`sg-sync-fn` when unset). The CLI writes none: its output is for people.
pub fn metrics(var: impl Fn(&str) -> Option<String>) -> Result<Emitter, ConfigError> {
    let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let namespace = get("METRICS_NAMESPACE").unwrap_or_else(|| emf::DEFAULT_NAMESPACE.into());
    let function = get("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| "sg-sync-fn".into());
    Emitter::stdout(namespace.trim(), function.trim()).map_err(|e| match e {
        EmfError::Namespace { .. } => err("METRICS_NAMESPACE", &namespace, e.to_string()),
        e => err("AWS_LAMBDA_FUNCTION_NAME", &function, e.to_string()),
    })
}

/// [`metrics`] from the environment.
pub fn metrics_from_env() -> Result<Emitter, ConfigError> {
    metrics(|k| std::env::var(k).ok())
}

/// Each setting as given, parsed, before defaults and the checks across settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigValues {
    pub security_group_ids: Option<Vec<String>>,
    pub ports: Option<Vec<PortRange>>,
    pub services: Option<Vec<String>>,
    pub regions: Option<Vec<String>>,
    /// The Lambda's own region, the default for `REGIONS`.
    pub aws_region: Option<String>,
    pub network_border_groups: Option<BorderGroups>,
    pub ipv6: Option<bool>,
    pub rules_per_group: Option<usize>,
    pub ip_ranges_url: Option<Url>,
    pub max_removal_ratio: Option<f64>,
    pub dry_run: Option<bool>,
    pub fence_allowed_cidrs: Option<Vec<IpNet>>,
}

impl ConfigValues {
    /// Reads every setting through `var`, which returns a variable's value if it is set; a
    /// blank value counts as unset.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        Ok(ConfigValues {
            security_group_ids: get("SECURITY_GROUP_IDS")
                .map(|v| security_group_ids(&v))
                .transpose()?,
            ports: get("PORTS").map(|v| ports(&v)).transpose()?,
            services: get("SERVICES").map(|v| names("SERVICES", &v)).transpose()?,
            regions: get("REGIONS").map(|v| names("REGIONS", &v)).transpose()?,
            aws_region: get("AWS_REGION"),
            network_border_groups: get("NETWORK_BORDER_GROUPS")
                .map(|v| network_border_groups(&v))
                .transpose()?,
            ipv6: get("IPV6").map(|v| parse_bool("IPV6", &v)).transpose()?,
            rules_per_group: get("RULES_PER_GROUP")
                .map(|v| rules_per_group(&v))
                .transpose()?,
            ip_ranges_url: get("IP_RANGES_URL")
                .map(|v| ip_ranges_url(v.trim()))
                .transpose()?,
            max_removal_ratio: get("MAX_REMOVAL_RATIO")
                .map(|v| max_removal_ratio(&v))
                .transpose()?,
            dry_run: get("DRY_RUN")
                .map(|v| parse_bool("DRY_RUN", &v))
                .transpose()?,
            fence_allowed_cidrs: get("FENCE_ALLOWED_CIDRS")
                .map(|v| fence_allowed_cidrs(&v))
                .transpose()?,
        })
    }

    /// Applies the defaults and the checks across settings.
    pub fn resolve(self) -> Result<Config, ConfigError> {
        let regions = self
            .regions
            .or(self.aws_region.map(|r| vec![r]))
            .ok_or_else(|| {
                err(
                    "REGIONS",
                    "",
                    "not set, and neither is AWS_REGION to default to",
                )
            })?;
        let ip_ranges_url = match self.ip_ranges_url {
            Some(url) => url,
            None => ip_ranges_url(OFFICIAL_URL)?,
        };
        Ok(Config {
            security_group_ids: self.security_group_ids.ok_or_else(|| {
                err(
                    "SECURITY_GROUP_IDS",
                    "",
                    "required: the ids of the groups that hold the managed rules",
                )
            })?,
            ports: self.ports.unwrap_or_else(|| vec![PortRange::tcp(3306)]),
            selector: Selector {
                services: self.services.unwrap_or_else(|| vec!["EC2".into()]),
                regions,
                border_groups: self
                    .network_border_groups
                    .unwrap_or(BorderGroups::OwnRegion),
                ipv6: self.ipv6.unwrap_or(false),
            },
            rules_per_group: self.rules_per_group.unwrap_or(60),
            ip_ranges_url,
            max_removal_ratio: self.max_removal_ratio.unwrap_or(0.5),
            dry_run: self.dry_run.unwrap_or(false),
            fence_allowed_cidrs: self.fence_allowed_cidrs.unwrap_or_default(),
        })
    }
}

impl Config {
    /// Reads the configuration through `var`, which returns a variable's value if it is set.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        ConfigValues::from_lookup(var)?.resolve()
    }

    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// A short description of the filter, for messages.
    pub(crate) fn filter(&self) -> String {
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

    #[test]
    fn metrics_namespace_and_function_name() {
        let m = metrics(test_support::lookup(&[])).unwrap();
        assert_eq!(
            (m.namespace(), m.function_name()),
            ("LambdaRdsIngest", "sg-sync-fn")
        );
        let m = metrics(test_support::lookup(&[
            ("METRICS_NAMESPACE", "Ops"),
            ("AWS_LAMBDA_FUNCTION_NAME", "stack-SyncFunction-9Z"),
        ]))
        .unwrap();
        assert_eq!(
            (m.namespace(), m.function_name()),
            ("Ops", "stack-SyncFunction-9Z")
        );
        let e = metrics(test_support::lookup(&[("METRICS_NAMESPACE", "Ops\u{1}")])).unwrap_err();
        assert_eq!(e.name, "METRICS_NAMESPACE");
    }

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(test_support::lookup(vars))
    }

    #[test]
    fn defaults() {
        let s = config(&[
            ("SECURITY_GROUP_IDS", "sg-0a1, sg-0b2"),
            ("AWS_REGION", "ap-northeast-1"),
        ])
        .unwrap();
        assert_eq!(s.security_group_ids, ["sg-0a1", "sg-0b2"]);
        assert_eq!(s.ports, vec![PortRange::tcp(3306)]);
        assert_eq!(s.selector.services, vec!["EC2"]);
        assert_eq!(s.selector.regions, vec!["ap-northeast-1"]);
        assert_eq!(s.selector.border_groups, BorderGroups::OwnRegion);
        assert!(!s.selector.ipv6 && !s.dry_run);
        assert_eq!(s.rules_per_group, 60);
        assert_eq!(s.max_removal_ratio, 0.5);
        assert_eq!(s.ip_ranges_url.as_str(), OFFICIAL_URL);
        assert!(s.fence_allowed_cidrs.is_empty());
    }

    #[test]
    fn every_setting_is_read() {
        let s = config(&[
            ("SECURITY_GROUP_IDS", "sg-0123"),
            ("PORTS", "tcp/3306,tcp/8000-8100,udp/53"),
            ("SERVICES", "EC2,AMAZON"),
            ("REGIONS", "us-east-1,eu-west-1"),
            ("NETWORK_BORDER_GROUPS", "*"),
            ("IPV6", "true"),
            ("RULES_PER_GROUP", "120"),
            ("IP_RANGES_URL", "http://127.0.0.1:8080/ip-ranges.json"),
            ("MAX_REMOVAL_RATIO", "0.1"),
            ("DRY_RUN", "true"),
            ("FENCE_ALLOWED_CIDRS", "203.0.113.0/24, 2001:db8::/32,"),
        ])
        .unwrap();
        assert_eq!(s.security_group_ids, ["sg-0123"]);
        assert_eq!(s.ports.len(), 3);
        assert_eq!(s.selector.border_groups, BorderGroups::All);
        assert!(s.selector.ipv6 && s.dry_run);
        assert_eq!((s.rules_per_group, s.max_removal_ratio), (120, 0.1));
        let allowed: Vec<String> = s
            .fence_allowed_cidrs
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(allowed, ["203.0.113.0/24", "2001:db8::/32"]);
    }

    #[test]
    fn a_bad_fence_allowance_names_the_entry() {
        for (value, says) in [
            ("203.0.113.0/24,office-vpn", "\"office-vpn\" is not a CIDR"),
            ("203.0.113.7", "\"203.0.113.7\" is not a CIDR"),
            ("10.0.0.0/33", "\"10.0.0.0/33\" is not a CIDR"),
            ("203.0.113.7/24", "did you mean 203.0.113.0/24?"),
            ("2001:db8::1/32", "did you mean 2001:db8::/32?"),
        ] {
            let e = config(&[
                ("SECURITY_GROUP_IDS", "sg-1"),
                ("AWS_REGION", "r"),
                ("FENCE_ALLOWED_CIDRS", value),
            ])
            .unwrap_err();
            assert_eq!(e.name, "FENCE_ALLOWED_CIDRS");
            assert!(e.to_string().contains(says), "{e}");
        }
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
        ];
        for (name, value) in cases {
            let mut vars = base.to_vec();
            vars.push((name, value));
            let e = config(&vars).unwrap_err();
            assert_eq!(e.name, *name, "{e}");
        }
        assert_eq!(
            config(&[("AWS_REGION", "r")]).unwrap_err().name,
            "SECURITY_GROUP_IDS"
        );
        assert_eq!(
            config(&[("SECURITY_GROUP_IDS", "sg-1,sg-1"), ("AWS_REGION", "r")])
                .unwrap_err()
                .name,
            "SECURITY_GROUP_IDS"
        );
        assert_eq!(
            config(&[("SECURITY_GROUP_IDS", "sg-xyz"), ("AWS_REGION", "r")])
                .unwrap_err()
                .name,
            "SECURITY_GROUP_IDS"
        );
        assert_eq!(
            config(&[("SECURITY_GROUP_IDS", "sg-1")]).unwrap_err().name,
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
            assert!(ip_ranges_url(ok).is_ok(), "{ok}");
        }
    }
}
