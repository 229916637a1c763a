//! The archive's format, as plain functions: one gzip-compressed JSON Lines object per chunk,
//! one JSON object per row with every column of `events`, under a key that names the chunk and
//! the rows' time range.

use std::io::{BufRead, BufReader, Read, Write};

use base64::Engine;
use chrono::NaiveDateTime;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::chunk::Chunk;

/// One `events` row, every column, as archived and restored.
///
/// `payload` is the column's JSON text exactly as the server returned it, as a string rather
/// than a nested object: MariaDB keeps JSON as text, and a number such as
/// `12345678901234567890123` would not survive a trip through an `f64`. Restored, the text is
/// stored again as it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArchivedEvent {
    pub id: u64,
    pub event_id: String,
    pub source: String,
    #[serde(with = "utc_micros")]
    pub recorded_at: NaiveDateTime,
    #[serde(with = "utc_micros")]
    pub received_at: NaiveDateTime,
    #[serde(deserialize_with = "exact_f64")]
    pub val1: f64,
    #[serde(deserialize_with = "exact_f64")]
    pub val2: f64,
    pub payload: Option<String>,
}

/// A JSON number read back to the very `f64` it was written from. serde_json writes the
/// shortest text that reads back exactly, but its own reader is only "best effort" (off by one
/// unit in the last place for some values) unless its `float_roundtrip` feature is on; Rust's
/// `str::parse` rounds correctly. The number's text comes as a `RawValue`.
fn exact_f64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let raw = <Box<serde_json::value::RawValue>>::deserialize(d)?;
    raw.get()
        .parse()
        .map_err(|_| serde::de::Error::custom(format!("{} is not a number", raw.get())))
}

/// `DATETIME(6)` in UTC (both columns are, as ingest-fn writes them) as RFC 3339 with all six
/// digits and a `Z`: `2026-03-01T12:00:00.000000Z`.
mod utc_micros {
    use chrono::NaiveDateTime;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) const FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

    pub(crate) fn serialize<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&t.format(FORMAT))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
        let text = String::deserialize(d)?;
        NaiveDateTime::parse_from_str(&text, FORMAT).map_err(serde::de::Error::custom)
    }
}

/// What a key may hold: the characters that SigV4's URI encoding leaves as they are (RFC 3986's
/// unreserved characters) and `/`, so that the key is the same in the URL, in the signature and
/// in S3: https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
/// (UriEncode). The keys built here hold nothing else either.
fn unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.')
}

/// `ARCHIVE_PREFIX` (`events/` when unset): at most 512 characters of `A-Z a-z 0-9 / - _ .`, not
/// starting with `/`; a `/` is added at its end when missing, so that the keys and the IAM
/// policy's `arn:aws:s3:::bucket/prefix/*` agree.
pub fn prefix(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Ok(String::new());
    }
    if value.len() > 512 || value.starts_with('/') || !value.chars().all(unreserved) {
        return Err(format!(
            "{value:?} is not a key prefix: at most 512 of the characters A-Z a-z 0-9 / - _ ., \
             not starting with /"
        ));
    }
    Ok(if value.ends_with('/') {
        value.to_owned()
    } else {
        format!("{value}/")
    })
}

/// An archive object, ready to upload.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub key: String,
    /// gzip-compressed JSON Lines.
    pub body: Vec<u8>,
    /// SHA-256 of `body`: S3 checks it (`x-amz-checksum-sha256`) and keeps it with the object.
    pub sha256: [u8; 32],
    pub rows: u64,
}

impl Object {
    /// The object of `chunk` holding `rows` (at least one, in id order), under `prefix`.
    pub fn of(prefix: &str, chunk: Chunk, rows: &[ArchivedEvent]) -> std::io::Result<Object> {
        let body = encode(rows)?;
        let sha256 = Sha256::digest(&body).into();
        Ok(Object {
            key: key(prefix, chunk, rows),
            body,
            sha256,
            rows: rows.len() as u64,
        })
    }

    /// The checksum as S3 takes it: base64 of the digest.
    pub fn checksum_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.sha256)
    }
}

/// `{prefix}{yyyy}/{mm}/{dd}/{min received}-{max received}_ids-{first}-{last}_rows-{n}.jsonl.gz`,
/// the date that of the oldest row, the times in `20260301T120000.000000Z` form, the ids the
/// chunk's range zero-padded to 20 digits so that keys sort in id order.
///
/// Deterministic: two runs that archive the same chunk with the same cutoff read the same rows
/// and build the same key, so the second `PutObject` (with `If-None-Match: *`) gets 412 and
/// knows the chunk is archived. The row count and time range are in the key as well as the
/// chunk, so that a chunk whose rows differ (rows restored into it after it was archived) gets
/// another key instead of being taken for archived already. A listing of the bucket shows what
/// each object holds without opening it.
///
/// `rows` must not be empty (an empty chunk has nothing to archive).
pub fn key(prefix: &str, chunk: Chunk, rows: &[ArchivedEvent]) -> String {
    let times = rows.iter().map(|r| r.received_at);
    let oldest = times.clone().min().unwrap_or_default();
    let newest = times.max().unwrap_or_default();
    let stamp = |t: NaiveDateTime| t.format("%Y%m%dT%H%M%S%.6fZ");
    format!(
        "{prefix}{day}/{oldest}-{newest}_ids-{first:020}-{last:020}_rows-{n}.jsonl.gz",
        day = oldest.format("%Y/%m/%d"),
        oldest = stamp(oldest),
        newest = stamp(newest),
        first = chunk.first,
        last = chunk.last,
        n = rows.len()
    )
}

/// The rows as gzip-compressed JSON Lines, one object per row and a newline after each.
/// Deterministic (gzip's header carries no time or name here): the same rows give the same
/// bytes and checksum.
pub fn encode(rows: &[ArchivedEvent]) -> std::io::Result<Vec<u8>> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    for row in rows {
        serde_json::to_writer(&mut gz, row)?;
        gz.write_all(b"\n")?;
    }
    gz.finish()
}

/// Why an archive object could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not gzip-compressed JSON Lines: {0}")]
    Gzip(#[source] std::io::Error),
    #[error("line {line}: not an archived event: {source}")]
    Line {
        line: usize,
        #[source]
        source: serde_json::Error,
    },
}

/// The rows of an archive object (gzip-compressed JSON Lines), in its order. Blank lines are
/// skipped.
pub fn decode(body: impl Read) -> Result<Vec<ArchivedEvent>, DecodeError> {
    let mut rows = Vec::new();
    for (i, line) in BufReader::new(GzDecoder::new(body)).lines().enumerate() {
        let line = line.map_err(DecodeError::Gzip)?;
        if line.trim().is_empty() {
            continue;
        }
        let row = serde_json::from_str(&line).map_err(|source| DecodeError::Line {
            line: i + 1,
            source,
        })?;
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::{DateTime, Duration, NaiveDate};
    use proptest::prelude::*;

    use super::*;

    pub(crate) fn event(id: u64, received_at: NaiveDateTime) -> ArchivedEvent {
        ArchivedEvent {
            id,
            event_id: format!("e-{id}"),
            source: "dev-1".into(),
            recorded_at: received_at - Duration::seconds(3),
            received_at,
            val1: id as f64 / 3.0,
            val2: -0.1,
            payload: Some(r#"{"temp": 21.5, "n": 12345678901234567890123}"#.into()),
        }
    }

    fn t(h: u32, us: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 3, 1)
            .unwrap()
            .and_hms_micro_opt(h, 0, 0, us)
            .unwrap()
    }

    #[test]
    fn one_line_per_row_with_every_column() {
        let rows = [event(1000, t(12, 5)), {
            let mut e = event(1001, t(13, 0));
            e.payload = None;
            e
        }];
        let mut text = String::new();
        GzDecoder::new(&encode(&rows).unwrap()[..])
            .read_to_string(&mut text)
            .unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(text.ends_with('\n'));
        assert_eq!(
            lines[0],
            r#"{"id":1000,"event_id":"e-1000","source":"dev-1","recorded_at":"2026-03-01T11:59:57.000005Z","received_at":"2026-03-01T12:00:00.000005Z","val1":333.3333333333333,"val2":-0.1,"payload":"{\"temp\": 21.5, \"n\": 12345678901234567890123}"}"#
        );
        assert!(lines[1].ends_with(r#""payload":null}"#), "{}", lines[1]);
        assert_eq!(decode(&encode(&rows).unwrap()[..]).unwrap(), rows);
    }

    #[test]
    fn the_key_names_the_day_the_time_range_the_ids_and_the_count() {
        let chunk = Chunk {
            first: 1000,
            last: 1999,
        };
        let rows = [event(1999, t(13, 0)), event(1000, t(12, 5))];
        assert_eq!(
            key("events/", chunk, &rows),
            "events/2026/03/01/20260301T120000.000005Z-20260301T130000.000000Z_ids-00000000000000001000-00000000000000001999_rows-2.jsonl.gz"
        );
        let object = Object::of("", chunk, &rows).unwrap();
        assert!(object.key.starts_with("2026/03/01/"), "{}", object.key);
        assert_eq!(
            object,
            Object::of("", chunk, &rows).unwrap(),
            "deterministic"
        );
        assert_eq!(object.rows, 2);
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(object.checksum_base64())
                .unwrap(),
            Sha256::digest(&object.body).to_vec()
        );
        let fewer = Object::of("", chunk, &rows[..1]).unwrap();
        assert_ne!(fewer.key, object.key, "other rows, another key");
    }

    #[test]
    fn prefixes_are_safe_and_end_with_a_slash() {
        assert_eq!(prefix("events/").unwrap(), "events/");
        assert_eq!(prefix("archive/events").unwrap(), "archive/events/");
        assert_eq!(prefix("").unwrap(), "");
        for bad in [
            "/events",
            "ev ents/",
            "événements/",
            "a?b",
            "a!b",
            &"x".repeat(513),
        ] {
            let e = prefix(bad).unwrap_err();
            assert!(e.contains("not a key prefix"), "{e}");
        }
    }

    // serde_json's own float reader is off by one unit in the last place for this one.
    #[test]
    fn doubles_read_back_exactly() {
        let mut row = event(1, t(12, 0));
        row.val1 = 1.6259997563035645e-248;
        row.val2 = 0.1 + 0.2;
        let back = decode(&encode(std::slice::from_ref(&row)).unwrap()[..]).unwrap();
        assert_eq!(back[0].val1.to_bits(), row.val1.to_bits());
        assert_eq!(back[0].val2.to_bits(), row.val2.to_bits());
    }

    #[test]
    fn a_damaged_object_says_which_line() {
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(b"{\"id\":1}\n").unwrap();
        let e = decode(&gz.finish().unwrap()[..]).unwrap_err();
        assert!(e.to_string().starts_with("line 1: "), "{e}");
        let e = decode(&b"plain text"[..]).unwrap_err();
        assert!(matches!(e, DecodeError::Gzip(_)), "{e}");
    }

    proptest! {
        // Every value survives the trip: ids up to u64::MAX, any double, any text, microseconds.
        #[test]
        fn rows_round_trip(
            id in any::<u64>(),
            val1 in any::<f64>().prop_filter("finite", |v| v.is_finite()),
            source in "\\PC{0,40}",
            payload in proptest::option::of("\\PC{0,80}"),
            micros in 0i64..4_000_000_000_000_000,
        ) {
            let at = DateTime::from_timestamp_micros(micros).unwrap().naive_utc();
            let row = ArchivedEvent {
                id, event_id: "e".into(), source, recorded_at: at, received_at: at, val1,
                val2: 0.0, payload,
            };
            prop_assert_eq!(decode(&encode(std::slice::from_ref(&row)).unwrap()[..]).unwrap(), vec![row]);
        }
    }
}
