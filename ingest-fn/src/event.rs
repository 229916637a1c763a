//! The event contract: one JSON object from a device or client, validated field by field so
//! that a rejection names every problem at once.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

pub(crate) use contract::{MAX_EVENT_ID_CHARS, MAX_PAYLOAD_BYTES, MAX_SOURCE_CHARS};

const FIELDS: [&str; 6] = [
    "source",
    "val1",
    "val2",
    "recorded_at",
    "event_id",
    "payload",
];

/// A valid event, before it has its idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Event {
    pub(crate) event_id: Option<String>,
    pub(crate) source: String,
    /// UTC; `None` means the time of receipt.
    pub(crate) recorded_at: Option<NaiveDateTime>,
    pub(crate) val1: f64,
    pub(crate) val2: f64,
    /// The payload object, serialized.
    pub(crate) payload: Option<String>,
}

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct FieldError {
    pub(crate) field: String,
    pub(crate) problem: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

fn problem(field: &str, problem: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        problem: problem.into(),
    }
}

/// A short description of a JSON value, for messages; never the whole value.
fn kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.chars().count() <= 32 => format!("string {s:?}"),
        Value::String(s) => format!("a string of {} characters", s.chars().count()),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// An ASCII-printable key of 1 to 64 characters: it is compared byte for byte.
pub(crate) fn check_event_id(id: &str) -> Result<(), String> {
    if id.is_empty()
        || id.len() > MAX_EVENT_ID_CHARS
        || !id.bytes().all(|b| (0x21..=0x7e).contains(&b))
    {
        return Err(format!(
            "expected 1 to {MAX_EVENT_ID_CHARS} printable ASCII characters without spaces"
        ));
    }
    Ok(())
}

/// The range a reading's time may fall in: DATETIME holds years up to 9999, and nothing before
/// 1970 is a plausible device clock.
fn in_range(t: &DateTime<Utc>) -> bool {
    let lo = NaiveDate::from_ymd_opt(1970, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
    let hi = NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_micro_opt(23, 59, 59, 999_999));
    lo.zip(hi)
        .is_some_and(|(lo, hi)| (lo..=hi).contains(&t.naive_utc()))
}

fn number(obj: &Map<String, Value>, field: &str, errors: &mut Vec<FieldError>) -> f64 {
    match obj.get(field) {
        None => errors.push(problem(field, "required")),
        Some(Value::Number(n)) => match n.as_f64().filter(|f| f.is_finite()) {
            Some(f) => return f,
            None => errors.push(problem(field, format!("{n} is not a finite number"))),
        },
        Some(v) => errors.push(problem(
            field,
            format!("expected a number, got {}", kind(v)),
        )),
    }
    0.0
}

/// Validates one item; every problem is reported, not just the first.
pub(crate) fn parse_event(item: &Value) -> Result<Event, Vec<FieldError>> {
    let Value::Object(obj) = item else {
        return Err(vec![problem(
            "",
            format!("expected an event object, got {}", kind(item)),
        )]);
    };
    let mut errors = Vec::new();
    for key in obj.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        errors.push(problem(key, "unknown field"));
    }
    let event = Event {
        source: source(obj, &mut errors),
        val1: number(obj, "val1", &mut errors),
        val2: number(obj, "val2", &mut errors),
        recorded_at: recorded_at(obj, &mut errors),
        event_id: event_id(obj, &mut errors),
        payload: payload(obj, &mut errors),
    };
    if errors.is_empty() {
        Ok(event)
    } else {
        Err(errors)
    }
}

/// `source`: required, 1 to [`MAX_SOURCE_CHARS`] characters.
fn source(obj: &Map<String, Value>, errors: &mut Vec<FieldError>) -> String {
    match obj.get("source") {
        None => {
            errors.push(problem("source", "required"));
            String::new()
        }
        Some(Value::String(s)) => {
            let n = s.chars().count();
            if n == 0 || n > MAX_SOURCE_CHARS {
                errors.push(problem(
                    "source",
                    format!("expected 1 to {MAX_SOURCE_CHARS} characters, got {n}"),
                ));
            }
            s.clone()
        }
        Some(v) => {
            errors.push(problem(
                "source",
                format!("expected a string, got {}", kind(v)),
            ));
            String::new()
        }
    }
}

/// `recorded_at`: optional, an RFC 3339 timestamp the column can hold.
fn recorded_at(obj: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<NaiveDateTime> {
    let s = match obj.get("recorded_at") {
        None | Some(Value::Null) => return None,
        Some(Value::String(s)) => s,
        Some(v) => {
            errors.push(problem(
                "recorded_at",
                format!("expected an RFC 3339 string, got {}", kind(v)),
            ));
            return None;
        }
    };
    match DateTime::parse_from_rfc3339(s) {
        Ok(t) if in_range(&t.to_utc()) => Some(t.to_utc().naive_utc()),
        Ok(_) => {
            errors.push(problem(
                "recorded_at",
                format!("{s:?} is outside 1970-01-01 to 9999-12-31"),
            ));
            None
        }
        Err(e) => {
            errors.push(problem(
                "recorded_at",
                format!(
                    "{} is not an RFC 3339 timestamp ({e})",
                    kind(&Value::String(s.clone()))
                ),
            ));
            None
        }
    }
}

/// `event_id`: optional, see [`check_event_id`].
fn event_id(obj: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<String> {
    match obj.get("event_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            if let Err(p) = check_event_id(s) {
                errors.push(problem("event_id", p));
            }
            Some(s.clone())
        }
        Some(v) => {
            errors.push(problem(
                "event_id",
                format!("expected a string, got {}", kind(v)),
            ));
            None
        }
    }
}

/// `payload`: optional, an object of at most [`MAX_PAYLOAD_BYTES`] serialized.
fn payload(obj: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<String> {
    match obj.get("payload") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => {
            let s = v.to_string();
            if s.len() > MAX_PAYLOAD_BYTES {
                errors.push(problem(
                    "payload",
                    format!(
                        "{} bytes serialized, over the limit of {MAX_PAYLOAD_BYTES}",
                        s.len()
                    ),
                ));
            }
            Some(s)
        }
        Some(v) => {
            errors.push(problem(
                "payload",
                format!("expected an object, got {}", kind(v)),
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn fields(r: Result<Event, Vec<FieldError>>) -> Vec<String> {
        r.unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn accepts_the_minimal_and_the_full_event() {
        let e = parse_event(&json!({"source": "dev-1", "val1": 1.5, "val2": -2})).unwrap();
        assert_eq!(
            (e.source.as_str(), e.val1, e.val2, e.recorded_at, e.event_id),
            ("dev-1", 1.5, -2.0, None, None)
        );
        let e = parse_event(&json!({
            "source": "dev-1", "val1": 0, "val2": 1e300, "recorded_at": "2026-08-22T17:17:05.123456+02:00",
            "event_id": "abc-1", "payload": {"temp": 21.5, "tags": ["a"]}
        }))
        .unwrap();
        assert_eq!(
            e.recorded_at.unwrap().to_string(),
            "2026-08-22 15:17:05.123456"
        );
        assert_eq!(e.payload.as_deref(), Some(r#"{"tags":["a"],"temp":21.5}"#));
    }

    #[test]
    fn names_every_bad_field() {
        let r = parse_event(
            &json!({"source": "", "val1": "NaN", "recorded_at": "yesterday", "event_id": "a b", "payload": [1], "sorce": "x"}),
        );
        let mut f = fields(r);
        f.sort();
        assert_eq!(
            f,
            [
                "event_id",
                "payload",
                "recorded_at",
                "sorce",
                "source",
                "val1",
                "val2"
            ]
        );
        assert_eq!(
            fields(parse_event(
                &json!({"source": 7, "val1": true, "val2": null})
            )),
            ["source", "val1", "val2"]
        );
        assert_eq!(
            fields(parse_event(
                &json!({"source": "x".repeat(129), "val1": 1, "val2": 1})
            )),
            ["source"]
        );
        assert_eq!(fields(parse_event(&json!("just a string"))), [""]);
    }

    #[test]
    fn bounds() {
        let ok = |v: Value| parse_event(&v).is_ok();
        assert!(ok(json!({"source": "é".repeat(128), "val1": 1, "val2": 1})));
        assert!(!ok(
            json!({"source": "s", "val1": 1, "val2": 1, "recorded_at": "1969-12-31T23:59:59Z"})
        ));
        assert!(!ok(
            json!({"source": "s", "val1": 1, "val2": 1, "recorded_at": "2026-13-01T00:00:00Z"})
        ));
        assert!(ok(
            json!({"source": "s", "val1": 1, "val2": 1, "event_id": "x".repeat(64)})
        ));
        assert!(!ok(
            json!({"source": "s", "val1": 1, "val2": 1, "event_id": "x".repeat(65)})
        ));
        assert!(!ok(
            json!({"source": "s", "val1": 1, "val2": 1, "event_id": "ü"})
        ));
        let big = json!({"source": "s", "val1": 1, "val2": 1, "payload": {"k": "x".repeat(MAX_PAYLOAD_BYTES)}});
        assert_eq!(fields(parse_event(&big)), ["payload"]);
        let fits = json!({"source": "s", "val1": 1, "val2": 1, "payload": {"k": "x".repeat(MAX_PAYLOAD_BYTES - 8)}});
        assert!(ok(fits));
    }

    proptest! {
        #[test]
        fn any_json_is_accepted_or_rejected_with_reasons(source in ".{0,140}", v in any::<f64>(), extra in proptest::option::of("[a-z]{1,8}")) {
            let mut obj = json!({"source": source, "val1": v, "val2": 0});
            if let Some(k) = &extra { obj[k] = json!(1); }
            match parse_event(&obj) {
                Ok(e) => {
                    prop_assert!(e.val1.is_finite());
                    prop_assert!((1..=MAX_SOURCE_CHARS).contains(&e.source.chars().count()));
                }
                Err(errors) => prop_assert!(!errors.is_empty()),
            }
        }
    }
}
