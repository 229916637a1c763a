//! The SNS event Lambda receives from `AmazonIpSpaceChanged`, for the tests that feed
//! sg-sync-fn a notification the way AWS delivers it.

use serde_json::{Value, json};

pub const TOPIC_ARN: &str = "arn:aws:sns:us-east-1:806199016981:AmazonIpSpaceChanged";

/// One SNS record carrying `message` (a notification's JSON text).
pub fn sns_event(message: &str) -> Value {
    json!({"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": format!("{TOPIC_ARN}:0b6b3c5e-7c3f-4e4b-9d1a-2f1f7e1d2c3b"),
        "Sns": {
            "Type": "Notification",
            "MessageId": "4d8c1a2e-95a4-5f4e-a0a6-0f6e1c4b9d21",
            "TopicArn": TOPIC_ARN,
            "Subject": null,
            "Message": message,
            "Timestamp": "2026-08-22T15:17:12.345Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE==",
            "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-example.pem",
            "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=example",
            "MessageAttributes": {}
        }
    }]})
}
