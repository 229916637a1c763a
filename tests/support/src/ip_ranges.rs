//! AWS's ip-ranges.json snapshots and the notifications that announced them, as sg-sync's tests,
//! its benchmark and the end-to-end tests read them: from the repository's
//! `tests/fixtures/ip-ranges` (committed gzip-compressed), or from the folder
//! `IP_RANGES_FIXTURES` names, for example a longer history. A snapshot is
//! `ip-ranges-DATE.json` or `ip-ranges-DATE.json.gz`, its notification `notification-DATE.json`.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Names a folder of snapshots to read instead of the committed ones.
pub const FIXTURES_VAR: &str = "IP_RANGES_FIXTURES";

const PREFIX: &str = "ip-ranges-";
const PLAIN: &str = ".json";
const COMPRESSED: &str = ".json.gz";

#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("decompressing {path}: {source}")]
    Decompress {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{dir} holds no {PREFIX}{date}{PLAIN} or {PREFIX}{date}{COMPRESSED}")]
    Missing { dir: PathBuf, date: String },
    #[error("{dir} holds no {PREFIX}DATE{PLAIN} or {PREFIX}DATE{COMPRESSED}")]
    Empty { dir: PathBuf },
}

/// A folder of snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixtures {
    dir: PathBuf,
}

/// The snapshots the tests read: `IP_RANGES_FIXTURES` if set, else the committed ones.
pub fn fixtures() -> Fixtures {
    Fixtures::from_lookup(|name| std::env::var(name).ok())
}

impl Fixtures {
    /// The repository's `tests/fixtures/ip-ranges`, found from this crate's own folder
    /// (`tests/support`), so that it holds wherever the clone is and whichever crate asks.
    pub fn committed() -> Fixtures {
        let support = Path::new(env!("CARGO_MANIFEST_DIR"));
        // tests/support has a parent (tests) wherever the clone is.
        let tests = support.parent().unwrap_or(support);
        Fixtures::at(tests.join("fixtures/ip-ranges"))
    }

    /// `IP_RANGES_FIXTURES` as `lookup` gives it (unset or empty: the committed snapshots).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Fixtures {
        match lookup(FIXTURES_VAR) {
            Some(dir) if !dir.is_empty() => Fixtures::at(dir),
            _ => Fixtures::committed(),
        }
    }

    pub fn at(dir: impl Into<PathBuf>) -> Fixtures {
        Fixtures { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The dates of the snapshots in the folder, oldest first (ISO dates sort as text).
    pub fn dates(&self) -> Result<Vec<String>, FixtureError> {
        let read = |source| FixtureError::Read {
            path: self.dir.clone(),
            source,
        };
        let mut dates = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(read)? {
            let name = entry.map_err(read)?.file_name();
            let Some(name) = name.to_str() else { continue };
            let date = name.strip_prefix(PREFIX).and_then(|rest| {
                rest.strip_suffix(COMPRESSED)
                    .or_else(|| rest.strip_suffix(PLAIN))
            });
            if let Some(date) = date.filter(|d| !d.is_empty()) {
                dates.push(date.to_owned());
            }
        }
        dates.sort();
        // A snapshot stored both ways is one snapshot.
        dates.dedup();
        Ok(dates)
    }

    /// The newest snapshot's date.
    pub fn newest(&self) -> Result<String, FixtureError> {
        self.dates()?.pop().ok_or_else(|| FixtureError::Empty {
            dir: self.dir.clone(),
        })
    }

    /// The snapshot's file as stored: `.json` if there is one, else `.json.gz`.
    pub fn stored(&self, date: &str) -> Result<PathBuf, FixtureError> {
        [PLAIN, COMPRESSED]
            .iter()
            .map(|suffix| self.dir.join(format!("{PREFIX}{date}{suffix}")))
            .find(|path| path.is_file())
            .ok_or_else(|| FixtureError::Missing {
                dir: self.dir.clone(),
                date: date.to_owned(),
            })
    }

    /// The snapshot's bytes as AWS published them, decompressed if stored compressed.
    pub fn snapshot(&self, date: &str) -> Result<Vec<u8>, FixtureError> {
        let path = self.stored(date)?;
        let raw = std::fs::read(&path).map_err(|source| FixtureError::Read {
            path: path.clone(),
            source,
        })?;
        if !path.to_string_lossy().ends_with(COMPRESSED) {
            return Ok(raw);
        }
        let mut json = Vec::with_capacity(raw.len() * 25);
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut json)
            .map_err(|source| FixtureError::Decompress { path, source })?;
        Ok(json)
    }

    /// A plain JSON file holding the snapshot, for readers that take a path or a `file://` URL
    /// (sg-sync's fetcher, its CLI): the stored `.json`, or the `.json.gz` decompressed once
    /// into the system's temporary folder. The copy's name carries the CRC-32 and length of
    /// its content, so parallel test processes share it, and a folder with other bytes under
    /// the same date (another `IP_RANGES_FIXTURES`) gets a copy of its own.
    pub fn snapshot_file(&self, date: &str) -> Result<PathBuf, FixtureError> {
        let stored = self.stored(date)?;
        if !stored.to_string_lossy().ends_with(COMPRESSED) {
            return Ok(stored);
        }
        let json = self.snapshot(date)?;
        let mut crc = flate2::Crc::new();
        crc.update(&json);
        let dir = std::env::temp_dir().join("lambda-rds-ingest-ip-ranges");
        let path = dir.join(format!(
            "{PREFIX}{date}-{:08x}-{}{PLAIN}",
            crc.sum(),
            json.len()
        ));
        if std::fs::metadata(&path).is_ok_and(|m| m.len() == json.len() as u64) {
            return Ok(path);
        }
        let write = |path: &Path| {
            let path = path.to_owned();
            move |source| FixtureError::Write { path, source }
        };
        std::fs::create_dir_all(&dir).map_err(write(&dir))?;
        // Written aside and renamed into place: another process reading the same path sees
        // the whole file or none.
        let partial = dir.join(format!(
            ".{PREFIX}{date}-{}-{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::write(&partial, &json).map_err(write(&partial))?;
        std::fs::rename(&partial, &path).map_err(write(&path))?;
        Ok(path)
    }

    /// The notification that announced the snapshot (`notification-DATE.json`), as SNS
    /// delivers its message body.
    pub fn notification(&self, date: &str) -> Result<String, FixtureError> {
        let path = self.dir.join(format!("notification-{date}.json"));
        std::fs::read_to_string(&path).map_err(|source| FixtureError::Read { path, source })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A folder of its own under the temporary folder, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Scratch {
            let dir = std::env::temp_dir().join(format!(
                "ip-ranges-fixtures-test-{}",
                uuid::Uuid::now_v7().simple()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn write(&self, name: &str, bytes: &[u8]) {
            std::fs::write(self.0.join(name), bytes).unwrap();
        }

        fn write_gz(&self, name: &str, bytes: &[u8]) {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            gz.write_all(bytes).unwrap();
            self.write(name, &gz.finish().unwrap());
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_snapshot_reads_the_same_stored_plain_or_compressed() {
        let folder = Scratch::new();
        let body = br#"{"syncToken":"1","prefixes":[]}"#;
        folder.write("ip-ranges-2020-01-02.json", body);
        folder.write_gz("ip-ranges-2020-01-01.json.gz", body);
        folder.write("notification-2020-01-01.json", b"{\"md5\":\"x\"}");
        folder.write("README.md", b"not a snapshot");
        let fixtures = Fixtures::at(&folder.0);
        assert_eq!(fixtures.dates().unwrap(), ["2020-01-01", "2020-01-02"]);
        assert_eq!(fixtures.newest().unwrap(), "2020-01-02");
        assert_eq!(fixtures.snapshot("2020-01-01").unwrap(), body);
        assert_eq!(fixtures.snapshot("2020-01-02").unwrap(), body);
        assert_eq!(
            fixtures.notification("2020-01-01").unwrap(),
            "{\"md5\":\"x\"}"
        );
        // A plain file is read where it is; a compressed one through a decompressed copy.
        assert_eq!(
            fixtures.snapshot_file("2020-01-02").unwrap(),
            folder.0.join("ip-ranges-2020-01-02.json")
        );
        let copy = fixtures.snapshot_file("2020-01-01").unwrap();
        assert_ne!(copy.parent(), Some(folder.0.as_path()));
        assert_eq!(std::fs::read(&copy).unwrap(), body);
        // Asked again, the same copy.
        assert_eq!(fixtures.snapshot_file("2020-01-01").unwrap(), copy);
    }

    #[test]
    fn other_bytes_under_the_same_date_get_a_copy_of_their_own() {
        let (a, b) = (Scratch::new(), Scratch::new());
        a.write_gz("ip-ranges-2020-02-01.json.gz", b"{\"a\":1}");
        b.write_gz("ip-ranges-2020-02-01.json.gz", b"{\"b\":2}");
        let from_a = Fixtures::at(&a.0).snapshot_file("2020-02-01").unwrap();
        let from_b = Fixtures::at(&b.0).snapshot_file("2020-02-01").unwrap();
        assert_ne!(from_a, from_b);
        assert_eq!(std::fs::read(from_a).unwrap(), b"{\"a\":1}");
        assert_eq!(std::fs::read(from_b).unwrap(), b"{\"b\":2}");
    }

    #[test]
    fn a_missing_snapshot_or_a_corrupt_one_names_the_file() {
        let folder = Scratch::new();
        folder.write("ip-ranges-2020-03-01.json.gz", b"not gzip");
        let fixtures = Fixtures::at(&folder.0);
        let e = fixtures.snapshot("2020-03-02").unwrap_err().to_string();
        assert!(
            e.contains(&folder.0.display().to_string())
                && e.contains("ip-ranges-2020-03-02.json.gz"),
            "{e}"
        );
        let e = fixtures.snapshot("2020-03-01").unwrap_err().to_string();
        assert!(
            e.starts_with("decompressing ") && e.contains("ip-ranges-2020-03-01.json.gz"),
            "{e}"
        );
        let e = Fixtures::at(folder.0.join("none")).dates().unwrap_err();
        assert!(e.to_string().contains("none"), "{e}");
        let empty = Scratch::new();
        let e = Fixtures::at(&empty.0).newest().unwrap_err().to_string();
        assert!(e.contains("holds no ip-ranges-DATE.json"), "{e}");
    }

    #[test]
    fn ip_ranges_fixtures_names_another_folder_and_unset_means_the_committed_one() {
        let other = crate::lookup(&[(FIXTURES_VAR, "/srv/ip-ranges-history")]);
        assert_eq!(
            Fixtures::from_lookup(other).dir(),
            Path::new("/srv/ip-ranges-history")
        );
        let empty = crate::lookup(&[(FIXTURES_VAR, "")]);
        assert_eq!(Fixtures::from_lookup(empty), Fixtures::committed());
        assert_eq!(
            Fixtures::from_lookup(crate::lookup(&[])),
            Fixtures::committed()
        );
        assert!(
            Fixtures::committed()
                .dir()
                .ends_with("tests/fixtures/ip-ranges"),
            "{:?}",
            Fixtures::committed()
        );
    }
}
