//! AWS's event shapes for the tests, one function per shape: each starts from a sample event
//! checked in under `tests/support/events/` (its README says where each comes from) and fills
//! in only what a test is about, the bodies, records, method or headers. Everything else stays
//! as AWS delivers it.

use base64::Engine;
use serde_json::{Value, json};

/// The checked-in samples, by file name.
const SAMPLES: [(&str, &str); 9] = [
    (
        "example-sqs-event.json",
        include_str!("../events/example-sqs-event.json"),
    ),
    (
        "example-kinesis-event.json",
        include_str!("../events/example-kinesis-event.json"),
    ),
    (
        "example-sns-event.json",
        include_str!("../events/example-sns-event.json"),
    ),
    (
        "example-eventbridge-schedule.json",
        include_str!("../events/example-eventbridge-schedule.json"),
    ),
    (
        "lambda-function-url-request.json",
        include_str!("../events/lambda-function-url-request.json"),
    ),
    (
        "example-apigw-request.json",
        include_str!("../events/example-apigw-request.json"),
    ),
    (
        "example-apigw-console-test-request.json",
        include_str!("../events/example-apigw-console-test-request.json"),
    ),
    (
        "example-apigw-sam-rest-request.json",
        include_str!("../events/example-apigw-sam-rest-request.json"),
    ),
    (
        "example-apigw-restapi-openapi-request.json",
        include_str!("../events/example-apigw-restapi-openapi-request.json"),
    ),
];

/// The REST API samples (payload format 1.0), each as API Gateway sends it in another setup.
pub const REST_API_SAMPLES: [&str; 4] = [
    "example-apigw-request.json",
    "example-apigw-console-test-request.json",
    "example-apigw-sam-rest-request.json",
    "example-apigw-restapi-openapi-request.json",
];

/// A sample as checked in; panics naming a file that is not one.
pub fn sample(name: &str) -> Value {
    let (_, text) = SAMPLES
        .iter()
        .find(|(file, _)| *file == name)
        .unwrap_or_else(|| panic!("no sample event {name} in tests/support/events"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("tests/support/events/{name}: {e}"))
}

/// The first record of a sample's `Records`.
fn first_record(name: &str) -> Value {
    sample(name)["Records"][0].clone()
}

/// An SQS event with one message per `(message id, body)`, in order; ids and bodies may be
/// borrowed or owned strings, as callers build them.
pub fn sqs_event(messages: &[(impl AsRef<str>, impl AsRef<str>)]) -> Value {
    let template = first_record("example-sqs-event.json");
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            let mut record = template.clone();
            record["messageId"] = json!(id.as_ref());
            record["body"] = json!(body.as_ref());
            record
        })
        .collect();
    json!({ "Records": records })
}

/// A Kinesis event with one record per `(sequence number, data)`, in order, on one shard.
pub fn kinesis_event(records: &[(&str, &[u8])]) -> Value {
    let template = first_record("example-kinesis-event.json");
    let records: Vec<Value> = records
        .iter()
        .map(|(sequence, data)| {
            let mut record = template.clone();
            record["kinesis"]["sequenceNumber"] = json!(sequence);
            record["kinesis"]["data"] =
                json!(base64::engine::general_purpose::STANDARD.encode(data));
            record["eventID"] = json!(format!("shardId-000000000000:{sequence}"));
            record
        })
        .collect();
    json!({ "Records": records })
}

/// The topic AWS publishes ip-ranges.json changes to.
/// <https://docs.aws.amazon.com/vpc/latest/userguide/subscribe-notifications.html>
pub const TOPIC_ARN: &str = "arn:aws:sns:us-east-1:806199016981:AmazonIpSpaceChanged";

/// The SNS event Lambda receives from `AmazonIpSpaceChanged`: one record carrying `message`
/// (a notification's JSON text).
pub fn sns_event(message: &str) -> Value {
    let mut record = first_record("example-sns-event.json");
    record["EventSubscriptionArn"] =
        json!(format!("{TOPIC_ARN}:0b6b3c5e-7c3f-4e4b-9d1a-2f1f7e1d2c3b"));
    record["Sns"]["TopicArn"] = json!(TOPIC_ARN);
    record["Sns"]["Subject"] = Value::Null;
    record["Sns"]["Message"] = json!(message);
    json!({ "Records": [record] })
}

/// An EventBridge Scheduled Event, as a schedule rule delivers it.
pub fn scheduled_event() -> Value {
    sample("example-eventbridge-schedule.json")
}

/// An HTTP request as the function sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    /// As sent: base64 text when `base64` is set.
    pub body: Option<&'a str>,
    pub base64: bool,
}

/// A Function URL (or HTTP API) event, payload format 2.0, carrying `request`; its headers
/// replace the sample's.
pub fn function_url_event(request: Request<'_>) -> Value {
    let mut event = sample("lambda-function-url-request.json");
    event["requestContext"]["http"]["method"] = json!(request.method);
    event["headers"] = request
        .headers
        .iter()
        .map(|(name, value)| (name.to_string(), json!(value)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    event["body"] = json!(request.body);
    event["isBase64Encoded"] = json!(request.base64);
    event
}

/// A REST API event, payload format 1.0, from one of [`REST_API_SAMPLES`], carrying
/// `request`; its headers are added to the sample's, in both header maps, as API Gateway fills
/// them.
pub fn rest_api_event(sample_name: &str, request: Request<'_>) -> Value {
    let mut event = sample(sample_name);
    event["httpMethod"] = json!(request.method);
    event["requestContext"]["httpMethod"] = json!(request.method);
    event["body"] = json!(request.body);
    event["isBase64Encoded"] = json!(request.base64);
    for map in ["headers", "multiValueHeaders"] {
        if !event[map].is_object() {
            event[map] = json!({});
        }
    }
    for (name, value) in request.headers {
        event["headers"][name] = json!(value);
        event["multiValueHeaders"][name] = json!([value]);
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_parses_and_every_builder_keeps_the_samples_shape() {
        for (name, _) in SAMPLES {
            assert!(sample(name).is_object(), "{name}");
        }
        let sqs = sqs_event(&[("m-1", "a"), ("m-2", "b")]);
        assert_eq!(sqs["Records"][1]["messageId"], "m-2");
        assert_eq!(sqs["Records"][1]["eventSource"], "aws:sqs");
        let kinesis = kinesis_event(&[("7", b"hi")]);
        assert_eq!(kinesis["Records"][0]["kinesis"]["data"], "aGk=");
        assert_eq!(kinesis["Records"][0]["eventID"], "shardId-000000000000:7");
        let sns = sns_event("{}");
        assert_eq!(sns["Records"][0]["Sns"]["TopicArn"], TOPIC_ARN);
        assert_eq!(scheduled_event()["detail-type"], "Scheduled Event");
        let request = Request {
            method: "PUT",
            headers: &[("idempotency-key", "k")],
            body: Some("{}"),
            base64: false,
        };
        let url = function_url_event(request);
        assert_eq!(url["requestContext"]["http"]["method"], "PUT");
        assert_eq!(url["headers"], json!({"idempotency-key": "k"}));
        for name in REST_API_SAMPLES {
            let rest = rest_api_event(name, request);
            assert_eq!(rest["httpMethod"], "PUT", "{name}");
            assert_eq!(rest["multiValueHeaders"]["idempotency-key"], json!(["k"]));
        }
    }
}
