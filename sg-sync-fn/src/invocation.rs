//! What the Lambda is invoked with, turned into a [`Trigger`]: an SNS notification, the
//! EventBridge schedule, or a direct `{"dry_run": bool}`.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sns::SnsEvent;
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::Value;

pub use crate::error::InvocationError;
use crate::publication::{FetchRanges, Notification};
use crate::report::SyncReport;
use crate::sync::{Syncer, Trigger};
use crate::target::{PrefixListApi, SecurityGroupApi};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectInvoke {
    #[serde(default)]
    dry_run: bool,
}

/// Recognises the event by its shape.
pub fn trigger(event: Value) -> Result<Trigger, InvocationError> {
    let bad = |e: serde_json::Error| InvocationError::BadEvent(e.to_string());
    if event.get("Records").is_some() {
        let sns: SnsEvent = serde_json::from_value(event).map_err(bad)?;
        let mut newest: Option<Notification> = None;
        for (index, record) in sns.records.into_iter().enumerate() {
            if record.event_source != "aws:sns" {
                return Err(InvocationError::BadEvent(format!(
                    "record {index} comes from {:?}, not aws:sns",
                    record.event_source
                )));
            }
            let n = Notification::parse(&record.sns.message)
                .map_err(|source| InvocationError::Notification { index, source })?;
            tracing::info!(topic = %record.sns.topic_arn, sync_token = %n.sync_token, create_time = %n.create_time, "notification received");
            // SNS delivers one record per invoke; if ever several, the newest covers the rest.
            if newest.as_ref().is_none_or(|m| n.sync_token > m.sync_token) {
                newest = Some(n);
            }
        }
        return newest
            .map(Trigger::Notification)
            .ok_or_else(|| InvocationError::BadEvent("no SNS records".into()));
    }
    if event.get("detail-type").is_some() {
        let e: EventBridgeEvent = serde_json::from_value(event).map_err(bad)?;
        if e.detail_type != "Scheduled Event" {
            return Err(InvocationError::BadEvent(format!(
                "EventBridge {:?} is not a Scheduled Event",
                e.detail_type
            )));
        }
        return Ok(Trigger::Scheduled);
    }
    let direct: DirectInvoke = serde_json::from_value(event).map_err(|e| {
        InvocationError::BadEvent(format!(
            "expected an SNS event, a Scheduled Event or {{\"dry_run\": bool}}: {e}"
        ))
    })?;
    Ok(Trigger::Direct {
        dry_run: direct.dry_run,
    })
}

/// The Lambda handler.
pub async fn handle<E: SecurityGroupApi + PrefixListApi, F: FetchRanges>(
    syncer: &Syncer<E, F>,
    event: LambdaEvent<Value>,
) -> Result<SyncReport, InvocationError> {
    let trigger = trigger(event.payload)?;
    syncer.run(trigger).await.map_err(|e| {
        tracing::error!(error = %e, kind = e.kind(), "sync failed; nothing more was changed");
        e.into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use e2e::sns::sns_event;
    use lambda_runtime::Diagnostic;
    use serde_json::json;

    #[test]
    fn recognises_each_event() {
        let msg = r#"{"create-time":"2026-08-22T15:17:05+00:00","synctoken":"1787411825","md5":"63431d35877fa5386ded1a7df9cfa971","url":"https://ip-ranges.amazonaws.com/ip-ranges.json"}"#;
        match trigger(sns_event(msg)).unwrap() {
            Trigger::Notification(n) => assert_eq!(n.sync_token.0, 1787411825),
            t => panic!("{t:?}"),
        }
        let scheduled = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-08-22T15:00:00Z", "region": "ap-northeast-1",
            "resources": ["arn:aws:events:ap-northeast-1:123456789012:rule/backstop"], "detail": {}});
        assert_eq!(trigger(scheduled).unwrap(), Trigger::Scheduled);
        assert_eq!(
            trigger(json!({"dry_run": true})).unwrap(),
            Trigger::Direct { dry_run: true }
        );
        assert_eq!(
            trigger(json!({})).unwrap(),
            Trigger::Direct { dry_run: false }
        );
    }

    #[test]
    fn rejects_what_it_does_not_know() {
        assert!(
            trigger(json!({"dryrun": true}))
                .unwrap_err()
                .to_string()
                .contains("dryrun")
        );
        assert!(matches!(
            trigger(json!({"dry_run": "yes"})),
            Err(InvocationError::BadEvent(_))
        ));
        assert!(matches!(
            trigger(sns_event("not json")),
            Err(InvocationError::Notification { index: 0, .. })
        ));
        let other = json!({"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "detail": {}});
        assert!(matches!(trigger(other), Err(InvocationError::BadEvent(_))));
        let d: Diagnostic = trigger(json!([1])).unwrap_err().into();
        assert_eq!(d.error_type, "BadEvent");
    }
}
