//! Numeric flags checked against their range as clap parses them, for ingest-load and the local
//! capacity tools (ingest-sweep, ingest-table-size): a value outside it is refused before anything
//! runs, by a message that names the flag, the value and what is allowed, instead of a run that
//! measures nothing (`--duration 0`), panics (`Duration::from_secs_f64(-1.0)`) or never ends.
//!
//! ```text
//! error: invalid value '0' for '--duration <DURATION>': expected seconds from 0.1 to 86400
//! ```

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;

/// A clap `value_parser` for a number of `unit` within `range` (both ends allowed). clap adds
/// the flag and the value to the message; this says what was expected. NaN and infinities are
/// outside every finite range, so a float flag refuses them too.
pub fn within<T>(
    range: RangeInclusive<T>,
    unit: &'static str,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr + PartialOrd + Display + Clone + Send + Sync + 'static,
{
    move |value: &str| {
        value
            .trim()
            .parse::<T>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| format!("expected {unit} from {} to {}", range.start(), range.end()))
    }
}

/// The longest a run or a measurement may last: a day, in seconds.
pub const MAX_SECONDS: f64 = 86_400.0;

/// The shortest measured window: shorter ones hold too few requests to divide by.
pub const MIN_SECONDS: f64 = 0.1;

/// Environments one machine runs at once in the capacity tools (each a process with its own
/// Runtime API and connection).
pub const MAX_ENVIRONMENTS: usize = 64;

/// For the tools' tests: `flag=bad` (written with `=`, since clap reads a lone `-5` as a flag)
/// is refused by `parse` with clap's message naming the flag and the value, and `expected`.
pub fn check_refused<T>(
    parse: impl Fn(&[&str]) -> Result<T, String>,
    flag: &str,
    bad: &str,
    expected: &str,
) -> Result<(), String> {
    match parse(&[&format!("{flag}={bad}")]) {
        Ok(_) => Err(format!("{flag} {bad} accepted")),
        Err(e)
            if e.contains(&format!("invalid value '{bad}' for '{flag} "))
                && e.contains(expected) =>
        {
            Ok(())
        }
        Err(e) => Err(format!("{flag} {bad}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_in_range_parses_and_one_outside_names_the_range() {
        let seconds = within(MIN_SECONDS..=MAX_SECONDS, "seconds");
        assert_eq!(seconds("0.1"), Ok(0.1));
        assert_eq!(seconds(" 30 "), Ok(30.0));
        assert_eq!(seconds("86400"), Ok(86_400.0));
        for bad in [
            "0", "-1", "0.09", "86400.5", "NaN", "inf", "-inf", "soon", "",
        ] {
            assert_eq!(
                seconds(bad),
                Err("expected seconds from 0.1 to 86400".to_owned()),
                "{bad:?}"
            );
        }
        let environments = within(1..=MAX_ENVIRONMENTS, "environments");
        assert_eq!(environments("1"), Ok(1));
        assert_eq!(environments("64"), Ok(64));
        for bad in ["0", "65", "-1", "1.5", "four"] {
            assert_eq!(
                environments(bad),
                Err("expected environments from 1 to 64".to_owned()),
                "{bad:?}"
            );
        }
        let share = within(0.0..=1.0, "a share");
        assert_eq!(share("0"), Ok(0.0));
        assert_eq!(share("1"), Ok(1.0));
        assert!(share("1.01").is_err());
    }

    // How clap shows it: the flag, the value, then the range.
    #[test]
    fn clap_names_the_flag_and_the_value() {
        #[derive(clap::Parser, Debug)]
        struct Args {
            #[arg(long, value_parser = within(MIN_SECONDS..=MAX_SECONDS, "seconds"))]
            duration: f64,
            #[arg(long, value_delimiter = ',', value_parser = within(1..=MAX_ENVIRONMENTS, "environments"))]
            environments: Vec<usize>,
        }
        use clap::Parser;
        let args = Args::try_parse_from(["t", "--duration", "2.5", "--environments", "1,64"]);
        let args = args.unwrap();
        assert_eq!((args.duration, args.environments), (2.5, vec![1, 64]));
        let e = Args::try_parse_from(["t", "--duration", "0", "--environments", "1"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("invalid value '0' for '--duration <DURATION>'")
                && e.contains("expected seconds from 0.1 to 86400"),
            "{e}"
        );
        let e = Args::try_parse_from(["t", "--duration", "1", "--environments", "2,0"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("invalid value '0' for '--environments <ENVIRONMENTS>'")
                && e.contains("expected environments from 1 to 64"),
            "{e}"
        );
    }
}
