//! CloudWatch embedded metric format (EMF): the functions' metrics as one JSON object per line
//! on stdout, which Lambda sends to CloudWatch Logs and CloudWatch Logs turns into metrics.
//! No agent and no `cloudwatch:PutMetricData` call on the request path.
//! https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Lambda.html
//!
//! [`Emitter`] writes the lines, [`parse`] reads one back and checks it against the
//! specification (the tests' oracle, and how the local stack adds up what the functions did).
//! https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
//!
//! [`lambda::MetricsLayer`] writes a function's line for each invocation once its response is
//! posted.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

pub mod lambda;

/// The namespace when `METRICS_NAMESPACE` is not set (the infra's `metricsNamespace` default).
pub const DEFAULT_NAMESPACE: &str = "LambdaRdsIngest";

/// The one dimension of every line: the function that wrote it. Each dimension combination is
/// a metric billed on its own, so one set of one keeps it to a metric per name and function.
pub const DIMENSION: &str = "FunctionName";

/// Metric definitions one directive may hold (EMF specification, `MetricDirective.Metrics`).
pub const MAX_METRICS: usize = 100;
/// Dimension keys one dimension set may hold (EMF specification, `DimensionSet`).
pub const MAX_DIMENSIONS: usize = 30;
/// Values one metric's array may hold (EMF specification, target members).
pub const MAX_VALUES: usize = 100;
/// CloudWatch's limits on names and values.
/// https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html
/// https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_Dimension.html
/// https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDatum.html
pub const MAX_NAMESPACE: usize = 255;
pub const MAX_METRIC_NAME: usize = 255;
pub const MAX_DIMENSION_NAME: usize = 255;
pub const MAX_DIMENSION_VALUE: usize = 1024;

/// The units CloudWatch accepts (`MetricDatum.Unit`).
pub const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// The units these functions report in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
        }
    }
}

/// One value of one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    pub value: f64,
}

impl Metric {
    pub fn count(name: &'static str, n: u64) -> Metric {
        Metric {
            name,
            unit: Unit::Count,
            // Counts this size are exact in an f64.
            value: n as f64,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EmfError {
    #[error("metrics namespace {namespace:?}: {reason}")]
    Namespace { namespace: String, reason: String },
    #[error("dimension {name}={value:?}: {reason}")]
    Dimension {
        name: String,
        value: String,
        reason: String,
    },
    #[error("metric {name:?}: {reason}")]
    Metric { name: String, reason: String },
    #[error("{count} metrics in one line, over the limit of {MAX_METRICS}")]
    TooManyMetrics { count: usize },
    #[error("not an embedded metric format line: {0}")]
    Invalid(String),
}

/// ASCII without control characters, at least one non-blank, at most `max`: what CloudWatch
/// accepts for a namespace and a dimension's name and value.
fn check_text(value: &str, max: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must hold at least one non-blank character".into());
    }
    if value.len() > max {
        return Err(format!(
            "{} characters, over the limit of {max}",
            value.len()
        ));
    }
    if !value.bytes().all(|b| b.is_ascii() && !b.is_ascii_control()) {
        return Err("must be ASCII without control characters".into());
    }
    Ok(())
}

/// A namespace CloudWatch accepts, and not one of AWS's own (`AWS/…`).
pub fn check_namespace(namespace: &str) -> Result<(), EmfError> {
    let reason = if namespace.starts_with("AWS/") {
        Err("AWS/ namespaces are reserved for AWS's own metrics".to_owned())
    } else {
        check_text(namespace, MAX_NAMESPACE)
    };
    reason.map_err(|reason| EmfError::Namespace {
        namespace: namespace.to_owned(),
        reason,
    })
}

/// A dimension CloudWatch accepts.
pub fn check_dimension(name: &str, value: &str) -> Result<(), EmfError> {
    check_text(name, MAX_DIMENSION_NAME)
        .and_then(|()| check_text(value, MAX_DIMENSION_VALUE))
        .map_err(|reason| EmfError::Dimension {
            name: name.to_owned(),
            value: value.to_owned(),
            reason,
        })
}

fn check_metric_name(name: &str) -> Result<(), EmfError> {
    let reason = if name.is_empty() || name.len() > MAX_METRIC_NAME {
        Some(format!("expected 1 to {MAX_METRIC_NAME} characters"))
    } else if name == "_aws" || name == DIMENSION {
        Some("collides with a member the line already has".to_owned())
    } else {
        None
    };
    match reason {
        Some(reason) => Err(EmfError::Metric {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Where the lines go.
#[derive(Debug, Clone)]
enum Sink {
    Stdout,
    Memory(Lines),
}

/// Lines kept in memory instead of written: for tests, and tools that read the figures back.
#[derive(Debug, Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    /// The lines written so far, oldest first, leaving none behind.
    pub fn take(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

/// Writes one function's metrics: a namespace, the [`DIMENSION`] with the function's name.
#[derive(Debug, Clone)]
pub struct Emitter {
    namespace: String,
    function_name: String,
    sink: Sink,
}

impl Emitter {
    /// Writes to stdout, where Lambda collects a function's logs.
    pub fn stdout(namespace: &str, function_name: &str) -> Result<Emitter, EmfError> {
        Emitter::new(namespace, function_name, Sink::Stdout)
    }

    /// Keeps the lines in memory.
    pub fn in_memory(namespace: &str, function_name: &str) -> Result<(Emitter, Lines), EmfError> {
        let lines = Lines::default();
        let emitter = Emitter::new(namespace, function_name, Sink::Memory(lines.clone()))?;
        Ok((emitter, lines))
    }

    fn new(namespace: &str, function_name: &str, sink: Sink) -> Result<Emitter, EmfError> {
        check_namespace(namespace)?;
        check_dimension(DIMENSION, function_name)?;
        Ok(Emitter {
            namespace: namespace.to_owned(),
            function_name: function_name.to_owned(),
            sink,
        })
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn function_name(&self) -> &str {
        &self.function_name
    }

    /// One EMF document for `metrics` at `at`, as one line without its newline.
    pub fn render(&self, metrics: &[Metric], at: SystemTime) -> Result<String, EmfError> {
        if metrics.len() > MAX_METRICS {
            return Err(EmfError::TooManyMetrics {
                count: metrics.len(),
            });
        }
        let mut root = Map::new();
        root.insert(DIMENSION.into(), Value::from(self.function_name.as_str()));
        let mut definitions = Vec::with_capacity(metrics.len());
        for m in metrics {
            check_metric_name(m.name)?;
            // JSON has no NaN or infinity, and CloudWatch rejects them.
            let value = serde_json::Number::from_f64(m.value).ok_or_else(|| EmfError::Metric {
                name: m.name.to_owned(),
                reason: format!("{} is not a finite number", m.value),
            })?;
            if root.insert(m.name.into(), Value::Number(value)).is_some() {
                return Err(EmfError::Metric {
                    name: m.name.to_owned(),
                    reason: "given twice".into(),
                });
            }
            definitions.push(json!({"Name": m.name, "Unit": m.unit.as_str()}));
        }
        let millis = at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": millis,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": definitions,
                }],
            }),
        );
        Ok(Value::Object(root).to_string())
    }

    /// Writes one line for `metrics`, now, and flushes it: Lambda may freeze the environment
    /// once the runtime asks for the next event, so call this before then (after the response
    /// is posted, at the latest). A metric never fails the invocation: a line that cannot be
    /// written is logged instead.
    pub fn emit(&self, metrics: &[Metric]) {
        let line = match self.render(metrics, SystemTime::now()) {
            Ok(line) => line,
            Err(e) => {
                tracing::warn!(error = %e, "metrics not written");
                return;
            }
        };
        match &self.sink {
            Sink::Stdout => {
                if let Err(e) = write_line(&mut io::stdout().lock(), &line) {
                    tracing::warn!(error = %e, "metrics line not written to stdout");
                }
            }
            Sink::Memory(lines) => {
                if let Ok(mut v) = lines.0.lock() {
                    v.push(line);
                }
            }
        }
    }
}

/// Writes `line` and its newline in one `write_all` and flushes. Held on `out`'s lock (stdout's,
/// which the log subscriber takes for each of its lines too), so no log line lands inside it;
/// and one write of under 4 KiB reaches the pipe Lambda reads whole.
pub fn write_line(out: &mut impl Write, line: &str) -> io::Result<()> {
    let mut whole = String::with_capacity(line.len() + 1);
    whole.push_str(line);
    whole.push('\n');
    out.write_all(whole.as_bytes())?;
    out.flush()
}

/// A metric value read back from a line.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub unit: Option<String>,
    /// One value, or the values of an array.
    pub values: Vec<f64>,
}

/// A line read back and checked against the specification.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub timestamp_ms: u64,
    pub namespace: String,
    /// Every dimension set, as the dimensions' names.
    pub dimension_sets: Vec<Vec<String>>,
    /// The dimensions' values, by name.
    pub dimensions: BTreeMap<String, String>,
    /// The metrics, by name.
    pub metrics: BTreeMap<String, Reading>,
}

impl Document {
    /// The sum of a metric's values in this line; 0 when the line does not carry it.
    pub fn sum(&self, name: &str) -> f64 {
        self.metrics
            .get(name)
            .map_or(0.0, |m| m.values.iter().sum())
    }
}

fn invalid(what: impl Into<String>) -> EmfError {
    EmfError::Invalid(what.into())
}

/// Reads one log event's message as EMF, checking what the specification requires: a JSON
/// object and nothing else, `_aws` with a whole-millisecond `Timestamp` and one or more metric
/// directives, each dimension and metric a member of the root with a string or numeric value,
/// and the limits above. One directive per line (what [`Emitter`] writes).
pub fn parse(line: &str) -> Result<Document, EmfError> {
    let root: Map<String, Value> =
        serde_json::from_str(line).map_err(|e| invalid(format!("not one JSON object: {e}")))?;
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("no _aws object"))?;
    let timestamp_ms = aws
        .get("Timestamp")
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid("_aws.Timestamp is not whole milliseconds since the epoch"))?;
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("_aws.CloudWatchMetrics is not an array"))?;
    let [directive] = directives.as_slice() else {
        return Err(invalid(format!(
            "{} metric directives, expected one",
            directives.len()
        )));
    };
    let namespace = directive
        .get("Namespace")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("the directive has no Namespace string"))?;
    check_namespace(namespace)?;
    let (dimension_sets, dimensions) = parse_dimensions(&root, directive)?;
    let metrics = parse_metrics(&root, directive)?;
    Ok(Document {
        timestamp_ms,
        namespace: namespace.to_owned(),
        dimension_sets,
        dimensions,
        metrics,
    })
}

type Dimensions = (Vec<Vec<String>>, BTreeMap<String, String>);

fn parse_dimensions(root: &Map<String, Value>, directive: &Value) -> Result<Dimensions, EmfError> {
    let sets = directive
        .get("Dimensions")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("the directive has no Dimensions array"))?;
    let mut names = Vec::with_capacity(sets.len());
    let mut values = BTreeMap::new();
    for set in sets {
        let set = set
            .as_array()
            .ok_or_else(|| invalid("a dimension set is not an array"))?;
        if set.len() > MAX_DIMENSIONS {
            return Err(invalid(format!(
                "a dimension set of {} keys, over the limit of {MAX_DIMENSIONS}",
                set.len()
            )));
        }
        let mut keys = Vec::with_capacity(set.len());
        for key in set {
            let key = key
                .as_str()
                .ok_or_else(|| invalid("a dimension key is not a string"))?;
            let value = root.get(key).and_then(Value::as_str).ok_or_else(|| {
                invalid(format!(
                    "dimension {key:?} has no string member in the root"
                ))
            })?;
            check_dimension(key, value)?;
            values.insert(key.to_owned(), value.to_owned());
            keys.push(key.to_owned());
        }
        names.push(keys);
    }
    Ok((names, values))
}

fn parse_metrics(
    root: &Map<String, Value>,
    directive: &Value,
) -> Result<BTreeMap<String, Reading>, EmfError> {
    let definitions = directive
        .get("Metrics")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("the directive has no Metrics array"))?;
    if definitions.len() > MAX_METRICS {
        return Err(EmfError::TooManyMetrics {
            count: definitions.len(),
        });
    }
    let mut metrics = BTreeMap::new();
    for d in definitions {
        let name = d
            .get("Name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("a metric definition has no Name string"))?;
        check_metric_name(name)?;
        let unit = match d.get("Unit") {
            None => None,
            Some(Value::String(u)) if UNITS.contains(&u.as_str()) => Some(u.clone()),
            Some(u) => {
                return Err(invalid(format!(
                    "metric {name:?}: unit {u} is not CloudWatch's"
                )));
            }
        };
        let values = match root.get(name) {
            Some(Value::Number(n)) => vec![n.as_f64()],
            Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_VALUES => {
                a.iter().map(Value::as_f64).collect()
            }
            _ => {
                return Err(invalid(format!(
                    "metric {name:?}: the root holds no number or array of 1 to {MAX_VALUES} numbers"
                )));
            }
        };
        let values = values
            .into_iter()
            .collect::<Option<Vec<f64>>>()
            .ok_or_else(|| invalid(format!("metric {name:?}: a value is not a number")))?;
        if metrics
            .insert(name.to_owned(), Reading { unit, values })
            .is_some()
        {
            return Err(invalid(format!("metric {name:?} is defined twice")));
        }
    }
    Ok(metrics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const AT_MS: u64 = 1_787_411_825_123;

    fn at() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(AT_MS)
    }

    fn emitter() -> Emitter {
        Emitter::stdout("LambdaRdsIngest", "ingest-fn").unwrap()
    }

    const TWO: [Metric; 2] = [
        Metric {
            name: "EventsWritten",
            unit: Unit::Count,
            value: 3.0,
        },
        Metric {
            name: "WriteLatency",
            unit: Unit::Milliseconds,
            value: 4.5,
        },
    ];

    // The document structure of the specification: the `_aws` metadata with a millisecond
    // Timestamp and a directive (Namespace, Dimensions as arrays of root member names, Metrics
    // with Name and Unit), the dimension and the metric values as members of the root.
    // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
    #[test]
    fn a_line_has_the_specifications_structure() {
        let line = emitter().render(&TWO, at()).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            v,
            json!({
                "_aws": {
                    "Timestamp": AT_MS,
                    "CloudWatchMetrics": [{
                        "Namespace": "LambdaRdsIngest",
                        "Dimensions": [["FunctionName"]],
                        "Metrics": [
                            {"Name": "EventsWritten", "Unit": "Count"},
                            {"Name": "WriteLatency", "Unit": "Milliseconds"}
                        ]
                    }]
                },
                "FunctionName": "ingest-fn",
                "EventsWritten": 3.0,
                "WriteLatency": 4.5
            })
        );
        let doc = parse(&line).unwrap();
        assert_eq!(doc.timestamp_ms, AT_MS);
        assert_eq!(doc.dimension_sets, [["FunctionName"]]);
        assert_eq!(doc.dimensions["FunctionName"], "ingest-fn");
        assert_eq!(doc.sum("EventsWritten"), 3.0);
        assert_eq!(
            doc.metrics["WriteLatency"].unit.as_deref(),
            Some("Milliseconds")
        );
        assert_eq!(doc.sum("RulesAdded"), 0.0);
    }

    // A Lambda function's stdout goes to CloudWatch Logs, which extracts EMF from each log event
    // whose message is a JSON object and nothing else: so one line, no prefix, no newline inside.
    // With the function's log format JSON (the infra sets it), Lambda does not encode a line
    // that already is JSON again, and a line without "level" counts as INFO, which the
    // application log level INFO keeps; DEBUG or TRACE would be dropped.
    // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Lambda.html
    // https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-logformat.html
    // https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html
    #[test]
    fn lambda_json_log_format_keeps_the_line_as_one_info_json_event() {
        let line = emitter().render(&TWO, at()).unwrap();
        assert!(!line.contains('\n'), "{line}");
        assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
        let v: Map<String, Value> = serde_json::from_str(&line).unwrap();
        assert!(!v.contains_key("level"), "{line}");
        // What Lambda's JSON text format would add in front is no longer EMF.
        let prefixed = format!("2026-08-22T15:17:05.123Z\treq-1\tINFO\t{line}");
        assert!(parse(&prefixed).is_err());
    }

    #[test]
    fn a_line_is_written_whole_in_one_write_and_flushed() {
        #[derive(Default)]
        struct Calls {
            writes: Vec<Vec<u8>>,
            flushes: usize,
        }
        impl Write for Calls {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.writes.push(buf.to_vec());
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                self.flushes += 1;
                Ok(())
            }
        }
        let line = emitter().render(&TWO, at()).unwrap();
        let mut out = Calls::default();
        write_line(&mut out, &line).unwrap();
        assert_eq!(out.writes, [format!("{line}\n").into_bytes()]);
        assert_eq!(out.flushes, 1);
        // Well under the pipe's atomic write size (PIPE_BUF, 4096 bytes on Linux).
        assert!(line.len() < 1024, "{}", line.len());
    }

    // Limits of the specification: at most 100 metric definitions per directive, at most 30
    // dimension keys per dimension set, at most 100 values per metric; values are numbers.
    // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
    #[test]
    fn the_specifications_limits_are_enforced_both_ways() {
        let names: Vec<&'static str> = (0..=MAX_METRICS)
            .map(|i| &*Box::leak(format!("M{i}").into_boxed_str()))
            .collect();
        let many: Vec<Metric> = names.iter().map(|n| Metric::count(n, 1)).collect();
        assert!(emitter().render(&many[..MAX_METRICS], at()).is_ok());
        assert_eq!(
            emitter().render(&many, at()),
            Err(EmfError::TooManyMetrics { count: 101 })
        );

        let line = emitter().render(&TWO, at()).unwrap();
        let mut v: Value = serde_json::from_str(&line).unwrap();
        let keys: Vec<String> = (0..=MAX_DIMENSIONS).map(|i| format!("D{i}")).collect();
        for k in &keys {
            v[k] = json!("x");
        }
        v["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([keys[..MAX_DIMENSIONS]]);
        assert!(parse(&v.to_string()).is_ok());
        v["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([keys]);
        assert!(
            parse(&v.to_string())
                .unwrap_err()
                .to_string()
                .contains("30")
        );

        let with = |member: &str, value: Value| {
            let mut v: Value = serde_json::from_str(&line).unwrap();
            v[member] = value;
            parse(&v.to_string())
        };
        assert_eq!(
            with("EventsWritten", json!([1, 2, 3]))
                .unwrap()
                .sum("EventsWritten"),
            6.0
        );
        assert!(with("EventsWritten", json!(vec![1; MAX_VALUES + 1])).is_err());
        assert!(with("EventsWritten", json!("3")).is_err());
        assert!(with("FunctionName", json!(7)).is_err());
        let mut v: Value = serde_json::from_str(&line).unwrap();
        v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Events");
        assert!(parse(&v.to_string()).is_err());
        v["_aws"]["Timestamp"] = json!("2026-08-22T15:17:05Z");
        assert!(parse(&v.to_string()).is_err());
    }

    // CloudWatch: a namespace is ASCII without control characters, up to 255, not AWS/…;
    // a dimension value up to 1024; a metric name up to 255; no NaN or infinity.
    // https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html
    // https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_Dimension.html
    #[test]
    fn names_and_values_cloudwatch_refuses_are_refused_here() {
        for bad in ["", "  ", "AWS/Lambda", "Ingest\u{7}", "Ingest\u{e9}"] {
            assert!(Emitter::stdout(bad, "f").is_err(), "{bad:?}");
        }
        assert!(Emitter::stdout(&"N".repeat(MAX_NAMESPACE), "f").is_ok());
        assert!(Emitter::stdout(&"N".repeat(MAX_NAMESPACE + 1), "f").is_err());
        assert!(Emitter::stdout("Ns", &"f".repeat(MAX_DIMENSION_VALUE)).is_ok());
        assert!(Emitter::stdout("Ns", &"f".repeat(MAX_DIMENSION_VALUE + 1)).is_err());
        assert!(Emitter::stdout("Ns", "").is_err());
        let nan = [Metric {
            name: "WriteLatency",
            unit: Unit::Milliseconds,
            value: f64::NAN,
        }];
        assert!(emitter().render(&nan, at()).is_err());
        let twice = [
            Metric::count("EventsWritten", 1),
            Metric::count("EventsWritten", 2),
        ];
        assert!(emitter().render(&twice, at()).is_err());
        let long: &'static str = Box::leak("M".repeat(MAX_METRIC_NAME + 1).into_boxed_str());
        assert!(emitter().render(&[Metric::count(long, 1)], at()).is_err());
        assert!(
            emitter()
                .render(&[Metric::count("FunctionName", 1)], at())
                .is_err()
        );
    }

    #[test]
    fn lines_in_memory_are_what_stdout_would_get() {
        let (e, lines) = Emitter::in_memory("LambdaRdsIngest", "sg-sync-fn").unwrap();
        e.emit(&[Metric::count("RulesAdded", 7)]);
        e.emit(&[Metric::count("RulesAdded", 2)]);
        let got = lines.take();
        assert_eq!(got.len(), 2);
        let total: f64 = got
            .iter()
            .map(|l| parse(l).unwrap().sum("RulesAdded"))
            .sum();
        assert_eq!(total, 9.0);
        assert!(lines.take().is_empty());
    }
}
