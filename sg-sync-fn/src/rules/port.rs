//! The ports a managed rule opens: `tcp/3306`, `tcp/8000-8100`, `udp/53`.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// The name EC2 uses in `IpProtocol`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// A protocol and an inclusive port range, as one security group rule holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    pub protocol: Protocol,
    pub from: u16,
    pub to: u16,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid port spec {spec:?}: {reason} (expected e.g. tcp/3306, tcp/8000-8100, udp/53)")]
pub struct PortSpecError {
    pub spec: String,
    pub reason: &'static str,
}

impl PortRange {
    pub const fn tcp(port: u16) -> Self {
        PortRange {
            protocol: Protocol::Tcp,
            from: port,
            to: port,
        }
    }

    /// Matches what EC2 reports for a rule (`IpProtocol`, `FromPort`, `ToPort`).
    pub(crate) fn from_ec2(protocol: &str, from: Option<i32>, to: Option<i32>) -> Option<Self> {
        let protocol = match protocol {
            "tcp" | "6" => Protocol::Tcp,
            "udp" | "17" => Protocol::Udp,
            _ => return None,
        };
        let from = u16::try_from(from?).ok()?;
        let to = u16::try_from(to?).ok()?;
        Some(PortRange { protocol, from, to })
    }
}

impl FromStr for PortRange {
    type Err = PortSpecError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let err = |reason| PortSpecError {
            spec: spec.to_owned(),
            reason,
        };
        let (proto, ports) = spec
            .trim()
            .split_once('/')
            .ok_or_else(|| err("missing '/'"))?;
        let protocol = match proto.to_ascii_lowercase().as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            _ => return Err(err("protocol must be tcp or udp")),
        };
        let (from, to) = match ports.split_once('-') {
            Some((a, b)) => (a, b),
            None => (ports, ports),
        };
        let parse = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| err("port must be a number from 0 to 65535"))
        };
        let (from, to) = (parse(from)?, parse(to)?);
        if from > to {
            return Err(err("range start is above its end"));
        }
        Ok(PortRange { protocol, from, to })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.from == self.to {
            write!(f, "{}/{}", self.protocol.as_str(), self.from)
        } else {
            write!(f, "{}/{}-{}", self.protocol.as_str(), self.from, self.to)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_documented_forms() {
        for spec in ["tcp/3306", "tcp/8000-8100", "udp/53"] {
            assert_eq!(spec.parse::<PortRange>().unwrap().to_string(), spec);
        }
        assert_eq!(
            "TCP/3306".parse::<PortRange>().unwrap(),
            PortRange::tcp(3306)
        );
    }

    #[test]
    fn rejects_bad_specs_naming_them() {
        for spec in ["3306", "icmp/1", "tcp/", "tcp/70000", "tcp/9-1", "tcp/a-b"] {
            let e = spec.parse::<PortRange>().unwrap_err();
            assert_eq!(e.spec, spec);
            assert!(e.to_string().contains(spec));
        }
    }

    #[test]
    fn reads_ec2_numbers() {
        assert_eq!(
            PortRange::from_ec2("tcp", Some(3306), Some(3306)),
            Some(PortRange::tcp(3306))
        );
        assert_eq!(PortRange::from_ec2("-1", None, None), None);
        assert_eq!(PortRange::from_ec2("tcp", Some(-1), Some(-1)), None);
    }
}
