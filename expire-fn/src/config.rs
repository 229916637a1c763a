//! The job's settings: the database as ingest-fn reads it ([`ingest::Config`]: `DATABASE_URL`, or
//! `DB_HOST`, `DB_PORT`, `DB_NAME`, `DB_USER` with `DB_SECRET_ARN` or `DB_IAM_AUTH`), and its own.
//! Each parser is shared with the command's flags, which are backed by the same variables.

use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use ingest::config::ConfigError;

use crate::archive;
use crate::s3;

/// Retention in whole days, as `RETENTION_DAYS` and `--older-than-days` take it.
pub const DAYS: RangeInclusive<u32> = 1..=36_500;
/// Ids per chunk. The default deletes about a thousand rows in one short statement (tens of
/// milliseconds) and archives them in an object of a few tens of KB.
pub const CHUNK_SIZE: RangeInclusive<u64> = 10..=100_000;
pub const DEFAULT_CHUNK_SIZE: u64 = 1_000;
/// Between two chunks, in ms.
pub const PAUSE_MS: RangeInclusive<u64> = 0..=60_000;
pub const DEFAULT_PAUSE_MS: u64 = 100;
/// Kept free before Lambda's deadline, in ms: the chunk under way finishes, the oldest row is
/// read and the response and metrics are written before the function would be killed.
pub const MARGIN_MS: RangeInclusive<u64> = 1_000..=600_000;
pub const DEFAULT_MARGIN_MS: u64 = 20_000;
/// A run's time budget, in seconds (the command's, or a cap below Lambda's timeout).
pub const BUDGET_SECONDS: RangeInclusive<u64> = 1..=604_800;
/// The archive's prefix when `ARCHIVE_PREFIX` is unset.
pub const DEFAULT_PREFIX: &str = "events/";

fn err(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        name,
        reason: reason.into(),
    }
}

/// `value` as a whole number within `range`, or the reason it is not, for a setting or a flag.
pub fn whole_number<T>(value: &str, range: RangeInclusive<T>) -> Result<T, String>
where
    T: FromStr + PartialOrd + std::fmt::Display,
{
    value
        .trim()
        .parse::<T>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            format!(
                "{value:?} is not a whole number from {} to {}",
                range.start(),
                range.end()
            )
        })
}

/// Where chunks are archived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSettings {
    pub bucket: String,
    /// Ends with `/`, or is empty.
    pub prefix: String,
}

/// The job's own settings, beside the database's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSettings {
    pub retention_days: u32,
    /// `None` without `ARCHIVE_BUCKET`: chunks are deleted without an archive.
    pub archive: Option<ArchiveSettings>,
    pub chunk_size: u64,
    pub pause: Duration,
    /// Lambda: stop starting chunks this long before the invocation's deadline.
    pub deadline_margin: Duration,
    /// A cap on a run's time besides the deadline, if any.
    pub time_budget: Option<Duration>,
}

impl JobSettings {
    /// `RETENTION_DAYS` (required), `ARCHIVE_BUCKET` and `ARCHIVE_PREFIX`, `EXPIRE_CHUNK_SIZE`,
    /// `EXPIRE_PAUSE_MS`, `EXPIRE_DEADLINE_MARGIN_MS`, `EXPIRE_TIME_BUDGET_SECONDS`, through
    /// `var`; a blank value counts as unset.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<JobSettings, ConfigError> {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let number =
            |name: &'static str, v: &str, range| whole_number(v, range).map_err(|r| err(name, r));
        let retention_days = match get("RETENTION_DAYS") {
            Some(v) => whole_number(&v, DAYS).map_err(|r| err("RETENTION_DAYS", r))?,
            None => return Err(err("RETENTION_DAYS", "required: the days to keep")),
        };
        let archive = match get("ARCHIVE_BUCKET") {
            None => None,
            Some(b) => Some(ArchiveSettings {
                bucket: s3::bucket(&b).map_err(|r| err("ARCHIVE_BUCKET", r))?,
                prefix: archive::prefix(
                    &get("ARCHIVE_PREFIX").unwrap_or_else(|| DEFAULT_PREFIX.into()),
                )
                .map_err(|r| err("ARCHIVE_PREFIX", r))?,
            }),
        };
        let chunk_size = match get("EXPIRE_CHUNK_SIZE") {
            Some(v) => number("EXPIRE_CHUNK_SIZE", &v, CHUNK_SIZE)?,
            None => DEFAULT_CHUNK_SIZE,
        };
        let ms = |name: &'static str, default: u64, range| match get(name) {
            Some(v) => number(name, &v, range).map(Duration::from_millis),
            None => Ok(Duration::from_millis(default)),
        };
        let pause = ms("EXPIRE_PAUSE_MS", DEFAULT_PAUSE_MS, PAUSE_MS)?;
        let deadline_margin = ms("EXPIRE_DEADLINE_MARGIN_MS", DEFAULT_MARGIN_MS, MARGIN_MS)?;
        let time_budget = get("EXPIRE_TIME_BUDGET_SECONDS")
            .map(|v| {
                number("EXPIRE_TIME_BUDGET_SECONDS", &v, BUDGET_SECONDS).map(Duration::from_secs)
            })
            .transpose()?;
        Ok(JobSettings {
            retention_days,
            archive,
            chunk_size,
            pause,
            deadline_margin,
            time_budget,
        })
    }
}

/// The function's settings: the database's and the job's.
#[derive(Clone)]
pub struct Settings {
    pub database: ingest::Config,
    pub job: JobSettings,
}

impl Settings {
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        Ok(Settings {
            database: ingest::Config::from_lookup(&var)?,
            job: JobSettings::from_lookup(&var)?,
        })
    }

    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_lookup(|k| std::env::var(k).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(vars: &[(&str, &str)]) -> Result<JobSettings, ConfigError> {
        JobSettings::from_lookup(lambda_harness::lookup(vars))
    }

    #[test]
    fn defaults_and_settings() {
        let j = job(&[("RETENTION_DAYS", "30")]).unwrap();
        assert_eq!(
            j,
            JobSettings {
                retention_days: 30,
                archive: None,
                chunk_size: 1_000,
                pause: Duration::from_millis(100),
                deadline_margin: Duration::from_secs(20),
                time_budget: None,
            }
        );
        let j = job(&[
            ("RETENTION_DAYS", " 7 "),
            ("ARCHIVE_BUCKET", "stack-archive-1a2b"),
            ("EXPIRE_CHUNK_SIZE", "5000"),
            ("EXPIRE_PAUSE_MS", "0"),
            ("EXPIRE_DEADLINE_MARGIN_MS", "5000"),
            ("EXPIRE_TIME_BUDGET_SECONDS", "120"),
        ])
        .unwrap();
        assert_eq!(
            j.archive,
            Some(ArchiveSettings {
                bucket: "stack-archive-1a2b".into(),
                prefix: "events/".into()
            })
        );
        assert_eq!((j.chunk_size, j.pause), (5000, Duration::ZERO));
        assert_eq!(j.time_budget, Some(Duration::from_secs(120)));
        let j = job(&[
            ("RETENTION_DAYS", "7"),
            ("ARCHIVE_BUCKET", "b-1"),
            ("ARCHIVE_PREFIX", "archive/events"),
        ])
        .unwrap();
        assert_eq!(j.archive.unwrap().prefix, "archive/events/");
    }

    #[test]
    fn errors_name_the_setting_and_the_range() {
        let e = job(&[]).unwrap_err();
        assert_eq!(e.name, "RETENTION_DAYS");
        for (name, bad) in [
            ("RETENTION_DAYS", "0"),
            ("RETENTION_DAYS", "36501"),
            ("RETENTION_DAYS", "thirty"),
            ("EXPIRE_CHUNK_SIZE", "9"),
            ("EXPIRE_CHUNK_SIZE", "100001"),
            ("EXPIRE_PAUSE_MS", "60001"),
            ("EXPIRE_DEADLINE_MARGIN_MS", "999"),
            ("EXPIRE_TIME_BUDGET_SECONDS", "0"),
            ("ARCHIVE_BUCKET", "Not_A_Bucket"),
        ] {
            let e = job(&[("RETENTION_DAYS", "30"), (name, bad)]).unwrap_err();
            assert_eq!(e.name, name, "{e}");
            assert!(e.reason.contains(&format!("{bad:?}")), "{e}");
        }
        let e = job(&[
            ("RETENTION_DAYS", "30"),
            ("ARCHIVE_BUCKET", "b-1"),
            ("ARCHIVE_PREFIX", "/abs"),
        ])
        .unwrap_err();
        assert_eq!(e.name, "ARCHIVE_PREFIX");
        assert!(
            job(&[("RETENTION_DAYS", "30"), ("EXPIRE_CHUNK_SIZE", "9")])
                .unwrap_err()
                .reason
                .contains("from 10 to 100000")
        );
    }

    #[test]
    fn the_database_is_read_as_ingest_fn_reads_it() {
        let s = Settings::from_lookup(lambda_harness::lookup(&[
            ("RETENTION_DAYS", "30"),
            ("DB_HOST", "db.example"),
            ("DB_NAME", "ingest"),
            ("DB_USER", "ingest_expire"),
            ("DB_IAM_AUTH", "true"),
        ]))
        .unwrap();
        assert_eq!(s.database.options.get_username(), "ingest_expire");
        assert_eq!(s.database.auth, ingest::config::Auth::Iam);
        let e = Settings::from_lookup(lambda_harness::lookup(&[("RETENTION_DAYS", "30")]))
            .err()
            .unwrap();
        assert_eq!(e.name, "DB_HOST");
    }
}
