//! The events a load run sends: generated ones that follow the ingest contract, or templates
//! from a file. Every sent event gets a unique `event_id`, so `--verify` can find it.

use serde_json::{Map, Value, json};

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {what}")]
    Invalid { path: String, what: String },
}

/// How the events' `event_id`s are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ids {
    /// `<run id>-<sequence>`: unique per run, so `--verify` finds every event.
    Run,
    /// UUIDv7, time-ordered: what ingest-fn generates for a request without a client key.
    TimeOrdered,
    /// UUIDv4, random: what many devices send.
    Random,
}

/// How a request's events reach the function: the event shape of each source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Envelope {
    /// A direct invoke: the object, or an array of them.
    #[default]
    Direct,
    /// A Function URL POST (payload format 2.0) whose body is the object or array.
    FunctionUrl,
    /// An SQS batch: one record per event.
    Sqs,
}

impl Envelope {
    /// One request of `events` (with their `ids`) in this envelope. A direct invoke and a POST
    /// body hold the object, or an array of more than one.
    fn wrap(self, events: Vec<Value>, ids: &[String]) -> Value {
        let payload = |mut events: Vec<Value>| {
            if events.len() == 1 {
                events.remove(0)
            } else {
                Value::Array(events)
            }
        };
        match self {
            Envelope::Direct => payload(events),
            Envelope::FunctionUrl => json!({
                "version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "",
                "headers": {"content-type": "application/json"},
                "requestContext": {
                    "accountId": "123456789012", "apiId": "local", "domainName": "local.lambda-url.ap-northeast-1.on.aws",
                    "domainPrefix": "local", "requestId": uuid::Uuid::now_v7().to_string(), "routeKey": "$default",
                    "stage": "$default", "time": "29/Nov/2026:00:00:00 +0000", "timeEpoch": 1795910400000u64,
                    "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "ingest-load"}
                },
                "body": payload(events).to_string(),
                "isBase64Encoded": false
            }),
            Envelope::Sqs => {
                json!({"Records": ids.iter().zip(events.iter()).map(|(id, event)| json!({
                "messageId": id, "receiptHandle": "local", "body": event.to_string(),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795910400000",
                               "SenderId": "local", "ApproximateFirstReceiveTimestamp": "1795910400000"},
                "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:ap-northeast-1:123456789012:ingest", "awsRegion": "ap-northeast-1"
            })).collect::<Vec<_>>()})
            }
        }
    }
}

pub struct Events {
    run_id: String,
    seq: u64,
    templates: Vec<Map<String, Value>>,
    ids: Ids,
    envelope: Envelope,
}

impl Events {
    pub fn generated() -> Events {
        Events {
            run_id: run_id(),
            seq: 0,
            templates: Vec::new(),
            ids: Ids::Run,
            envelope: Envelope::Direct,
        }
    }

    /// The run's id: with [`Ids::Run`], every event's id is `<run id>-<sequence>`.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The same events, delivered in `envelope`.
    pub fn in_envelope(self, envelope: Envelope) -> Events {
        Events { envelope, ..self }
    }

    /// Generated events whose ids are made as `ids` says.
    pub fn with_ids(ids: Ids) -> Events {
        Events {
            ids,
            ..Events::generated()
        }
    }

    /// A JSON array of event objects, or one object per line.
    pub fn from_file(path: &str) -> Result<Events, EventsError> {
        let text = std::fs::read_to_string(path).map_err(|source| EventsError::Read {
            path: path.into(),
            source,
        })?;
        let invalid = |what: String| EventsError::Invalid {
            path: path.into(),
            what,
        };
        let values: Vec<Value> = if text.trim_start().starts_with('[') {
            serde_json::from_str(&text)
                .map_err(|e| invalid(format!("not a JSON array of events: {e}")))?
        } else {
            text.lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|(i, l)| {
                    serde_json::from_str(l).map_err(|e| invalid(format!("line {}: {e}", i + 1)))
                })
                .collect::<Result<_, _>>()?
        };
        let mut templates = Vec::new();
        for (i, v) in values.into_iter().enumerate() {
            match v {
                Value::Object(o) => templates.push(o),
                _ => return Err(invalid(format!("event {i} is not a JSON object"))),
            }
        }
        if templates.is_empty() {
            return Err(invalid("no events".into()));
        }
        Ok(Events {
            run_id: run_id(),
            seq: 0,
            templates,
            ids: Ids::Run,
            envelope: Envelope::Direct,
        })
    }

    /// The next `n` events, as one request payload (an object for 1, else an array), and
    /// their ids.
    pub fn next_request(&mut self, n: usize) -> (String, Vec<String>) {
        let mut items = Vec::with_capacity(n);
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let id = match self.ids {
                Ids::Run => contract::verify::event_id(&self.run_id, self.seq),
                Ids::TimeOrdered => uuid::Uuid::now_v7().to_string(),
                Ids::Random => uuid::Uuid::new_v4().to_string(),
            };
            let mut event = if self.templates.is_empty() {
                let i = self.seq as f64;
                json!({"source": format!("load-{}", self.seq % 32), "val1": i, "val2": (i * 0.1).sin()})
                    .as_object()
                    .cloned()
                    .unwrap_or_default()
            } else {
                self.templates[(self.seq as usize) % self.templates.len()].clone()
            };
            event.insert("event_id".into(), Value::String(id.clone()));
            items.push(Value::Object(event));
            ids.push(id);
            self.seq += 1;
        }
        (self.envelope.wrap(items, &ids).to_string(), ids)
    }
}

fn run_id() -> String {
    format!("load-{}", uuid::Uuid::now_v7().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_fit_the_contract() {
        let mut e = Events::generated();
        let (p1, ids1) = e.next_request(1);
        let (p2, ids2) = e.next_request(3);
        assert!(p1.starts_with('{') && p2.starts_with('['));
        assert_ne!(ids1[0], ids2[0]);
        assert!(ids2.iter().all(|id| id.len() <= 64));
        let v: Value = serde_json::from_str(&p2).unwrap();
        assert_eq!(v[2]["event_id"], ids2[2]);
    }

    #[test]
    fn time_ordered_ids_sort_in_sending_order_and_random_ones_do_not() {
        let ids = |kind| Events::with_ids(kind).next_request(200).1;
        let ordered = ids(Ids::TimeOrdered);
        assert!(ordered.windows(2).all(|w| w[0] < w[1]));
        assert!(
            ordered
                .iter()
                .all(|id| id.len() == 36 && id.as_bytes()[14] == b'7')
        );
        let random = ids(Ids::Random);
        assert!(
            random
                .iter()
                .all(|id| id.len() == 36 && id.as_bytes()[14] == b'4')
        );
        assert!(!random.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn envelopes_carry_the_same_events() {
        let (url, ids) = Events::generated()
            .in_envelope(Envelope::FunctionUrl)
            .next_request(2);
        let url: Value = serde_json::from_str(&url).unwrap();
        assert_eq!(url["requestContext"]["http"]["method"], "POST");
        let body: Value = serde_json::from_str(url["body"].as_str().unwrap()).unwrap();
        assert_eq!(body[1]["event_id"], ids[1]);
        let (sqs, ids) = Events::generated()
            .in_envelope(Envelope::Sqs)
            .next_request(3);
        let sqs: Value = serde_json::from_str(&sqs).unwrap();
        assert_eq!(sqs["Records"].as_array().unwrap().len(), 3);
        assert_eq!(sqs["Records"][2]["eventSource"], "aws:sqs");
        let event: Value =
            serde_json::from_str(sqs["Records"][2]["body"].as_str().unwrap()).unwrap();
        assert_eq!(event["event_id"], ids[2]);
    }

    #[test]
    fn files_are_checked_line_by_line() {
        let dir = std::env::temp_dir();
        let good = dir.join(format!("events-{}.jsonl", std::process::id()));
        std::fs::write(&good, "{\"source\": \"a\", \"val1\": 1, \"val2\": 2}\n\n{\"source\": \"b\", \"val1\": 1, \"val2\": 2}\n").unwrap();
        let mut e = Events::from_file(good.to_str().unwrap()).unwrap();
        let (p, _) = e.next_request(3);
        assert!(p.contains("\"b\""));
        let bad = dir.join(format!("events-bad-{}.jsonl", std::process::id()));
        std::fs::write(&bad, "{\"source\": \"a\"}\n{oops\n").unwrap();
        let err = Events::from_file(bad.to_str().unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(Events::from_file("/nonexistent/events.json").is_err());
    }
}
