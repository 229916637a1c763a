//! The committed ip-ranges.json snapshots (tests/fixtures/ip-ranges) are AWS's files byte for
//! byte: each decompresses to the sha256 its README lists, and each notification carries the
//! md5 of its decompressed snapshot, as AWS's own notifications do (sg-sync refuses a file whose
//! md5 differs, so a snapshot re-encoded on the way in would fail the sync tests less clearly).

use md5::Digest as _;
use test_support::ip_ranges::Fixtures;

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&sha2::Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The README's table rows: (file name, the 64-hex-digit values in the row, in order).
fn readme_rows(fixtures: &Fixtures) -> Vec<(String, Vec<String>)> {
    let readme = std::fs::read_to_string(fixtures.dir().join("README.md")).unwrap();
    readme
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .trim()
                .strip_prefix('|')?
                .split('|')
                .map(|c| c.trim().trim_matches('`'))
                .collect();
            let file = cells.first()?.to_string();
            file.starts_with("ip-ranges-").then_some(())?;
            let hashes = cells
                .iter()
                .filter(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(|c| c.to_string())
                .collect();
            Some((file, hashes))
        })
        .collect()
}

#[test]
fn every_committed_snapshot_decompresses_to_the_sha256_its_readme_lists() {
    let fixtures = Fixtures::committed();
    let dates = fixtures.dates().unwrap();
    assert_eq!(dates.len(), 7, "{dates:?}");
    let rows = readme_rows(&fixtures);
    assert_eq!(
        rows.iter()
            .map(|(file, _)| file.clone())
            .collect::<Vec<_>>(),
        dates
            .iter()
            .map(|d| format!("ip-ranges-{d}.json.gz"))
            .collect::<Vec<_>>(),
        "the README's table names every committed snapshot, oldest first, and nothing else"
    );
    for (date, (file, hashes)) in dates.iter().zip(&rows) {
        // Committed compressed only: the plain files are twenty times the size.
        let stored = fixtures.stored(date).unwrap();
        assert!(stored.ends_with(file), "{stored:?} is not {file}");
        let [json, gz] = hashes.as_slice() else {
            panic!("{file}: the README's row holds {hashes:?}, not the JSON's sha256 and the .gz's")
        };
        assert_eq!(
            &sha256_hex(&fixtures.snapshot(date).unwrap()),
            json,
            "{file} decompressed"
        );
        assert_eq!(
            &sha256_hex(&std::fs::read(&stored).unwrap()),
            gz,
            "{file} as committed"
        );
    }
}

#[test]
fn every_notification_carries_the_md5_of_its_decompressed_snapshot() {
    let fixtures = Fixtures::committed();
    let dates = fixtures.dates().unwrap();
    assert!(!dates.is_empty());
    for date in &dates {
        let notification: serde_json::Value =
            serde_json::from_str(&fixtures.notification(date).unwrap()).unwrap();
        let md5 = hex(&md5::Md5::digest(fixtures.snapshot(date).unwrap()));
        assert_eq!(notification["md5"], md5.as_str(), "{date}");
        // Read through the plain copy the sync tests fetch, too.
        let file = fixtures.snapshot_file(date).unwrap();
        assert_eq!(
            hex(&md5::Md5::digest(std::fs::read(&file).unwrap())),
            md5,
            "{file:?}"
        );
    }
}
