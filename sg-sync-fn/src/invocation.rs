//! What the Lambda is invoked with, turned into a [`Trigger`]: an SNS notification, the
//! EventBridge schedule, or a direct `{"dry_run": bool}`.

use std::time::SystemTime;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sns::SnsEvent;
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::Value;

use crate::error::InvocationError;
use crate::metrics;
use crate::publication::{FetchRanges, Notification};
use crate::reconcile::SecurityGroupApi;
use crate::report::SyncReport;
use crate::sync::{Syncer, Trigger};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectInvoke {
    #[serde(default)]
    dry_run: bool,
}

/// Recognises the event by its shape.
pub(crate) fn trigger(event: Value) -> Result<Trigger, InvocationError> {
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

/// The Lambda handler: a run, and its metrics (a failed run's too), recorded for the line the
/// function writes once the response is posted (`emf::lambda::MetricsLayer`, as ingest-fn
/// does): the caller does not wait for it, and it is out before the next event.
pub async fn handle_metered<E: SecurityGroupApi, F: FetchRanges>(
    syncer: &Syncer<E, F>,
    event: LambdaEvent<Value>,
) -> Result<SyncReport, InvocationError> {
    let result = handle(syncer, event).await;
    let line = match &result {
        Ok(report) => metrics::of_report(report, SystemTime::now()),
        Err(_) => Some(metrics::of_failure()),
    };
    if let Some(line) = line {
        emf::lambda::record(line);
    }
    result
}

/// A run without metrics.
pub async fn handle<E: SecurityGroupApi, F: FetchRanges>(
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
    use crate::sync::tests::{doc, syncer};
    use emf::Emitter;
    use emf::lambda::{MetricsLayer, metered};
    use lambda_runtime::tower::{Layer, Service};
    use lambda_runtime::{Context, Diagnostic};
    use serde_json::json;
    use std::sync::Arc;
    use std::time::UNIX_EPOCH;
    use test_support::events::{scheduled_event, sns_event};

    /// Invokes the handler as the Lambda does (in `emf::lambda::metered`, which the function's
    /// MetricsLayer puts around it) and reads back the metrics lines written, each checked
    /// against the EMF specification (`emf::parse`).
    async fn invoke<E: SecurityGroupApi, F: FetchRanges>(
        syncer: &Syncer<E, F>,
        event: Value,
    ) -> (Result<SyncReport, InvocationError>, Vec<emf::Document>) {
        let (metrics, lines) = Emitter::in_memory("LambdaRdsIngest", "sg-sync-fn").unwrap();
        let event = LambdaEvent::new(event, Context::default());
        let r = metered(&metrics, handle_metered(syncer, event)).await;
        let docs: Vec<_> = lines
            .take()
            .iter()
            .map(|l| emf::parse(l).unwrap())
            .collect();
        for d in &docs {
            assert_eq!(d.namespace, "LambdaRdsIngest");
            assert_eq!(d.dimension_sets, [["FunctionName"]]);
            assert_eq!(d.dimensions["FunctionName"], "sg-sync-fn");
        }
        (r, docs)
    }

    fn now_s() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[tokio::test]
    async fn a_first_sync_of_n_ranges_reports_n_rules_added() {
        const N: u32 = 70;
        let token = now_s() - 3600;
        let s = syncer(&[], vec![doc(token, 0..N)]);
        let before = now_s();
        let (r, lines) = invoke(&s, json!({})).await;
        let after = now_s();
        assert_eq!(r.unwrap().added, N as usize);
        let [line] = lines.as_slice() else {
            panic!("one line per run: {lines:?}")
        };
        let sums: Vec<f64> = [
            "RulesAdded",
            "RulesRemoved",
            "WantedRanges",
            "FreeRuleSlots",
            "SyncSucceeded",
            "FenceOpenings",
        ]
        .iter()
        .map(|m| line.sum(m))
        .collect();
        // 3 groups of 60 slots hold the 70 rules; nobody else's rule opens the port.
        assert_eq!(sums, [70.0, 0.0, 70.0, 110.0, 1.0, 0.0]);
        let age = line.sum("PublicationAgeSeconds");
        assert!(
            (before - token) as f64 <= age && age <= (after - token) as f64,
            "{age}"
        );
        assert_eq!(
            line.metrics["PublicationAgeSeconds"].unit.as_deref(),
            Some("Seconds")
        );
        assert_eq!(line.metrics["RulesAdded"].unit.as_deref(), Some("Count"));

        // Nothing left to do is a success too.
        let (_, lines) = invoke(&s, json!({})).await;
        assert_eq!(
            (lines[0].sum("RulesAdded"), lines[0].sum("SyncSucceeded")),
            (0.0, 1.0)
        );
        // A notification of what the groups already hold is skipped unread: a success, without
        // the ranges it did not read.
        let msg = format!(
            r#"{{"create-time":"2026-08-22T15:17:05+00:00","synctoken":"{token}","md5":"63431d35877fa5386ded1a7df9cfa971","url":"https://ip-ranges.amazonaws.com/ip-ranges.json"}}"#
        );
        let (r, lines) = invoke(&s, sns_event(&msg)).await;
        assert!(r.unwrap().skipped);
        assert_eq!(lines[0].sum("SyncSucceeded"), 1.0);
        assert_eq!(lines[0].sum("FreeRuleSlots"), 110.0);
        assert!(!lines[0].metrics.contains_key("WantedRanges"));
        assert!(lines[0].metrics.contains_key("PublicationAgeSeconds"));
        // A dry run changes nothing and reports no metrics.
        let (r, lines) = invoke(&s, json!({"dry_run": true})).await;
        assert!(r.unwrap().dry_run);
        assert!(lines.is_empty());
    }

    #[tokio::test]
    async fn the_line_counts_the_fence_openings_of_every_run_but_a_dry_one() {
        let token = now_s() - 60;
        let s = syncer(&[], vec![doc(token, 0..5)]);
        let open = crate::rules::Rule {
            port: crate::rules::PortRange::tcp(3306),
            net: "0.0.0.0/0".parse().unwrap(),
        };
        {
            let mut world = s.pool.api.world.lock().unwrap();
            let group = world.groups.get_mut("sg-a").unwrap();
            group.rules.push((open, "debugging, remove later".into()));
        }
        let (r, lines) = invoke(&s, json!({})).await;
        assert_eq!(r.unwrap().fence_openings.len(), 1);
        assert_eq!(lines[0].sum("FenceOpenings"), 1.0);
        assert_eq!(
            lines[0].metrics["FenceOpenings"].unit.as_deref(),
            Some("Count")
        );
        // A skipped run counts them too.
        let msg = format!(
            r#"{{"create-time":"2026-08-22T15:17:05+00:00","synctoken":"{token}","md5":"63431d35877fa5386ded1a7df9cfa971","url":"https://ip-ranges.amazonaws.com/ip-ranges.json"}}"#
        );
        let (r, lines) = invoke(&s, sns_event(&msg)).await;
        assert!(r.unwrap().skipped);
        assert_eq!(lines[0].sum("FenceOpenings"), 1.0);
        // A dry run reports them and writes no line.
        let (r, lines) = invoke(&s, json!({"dry_run": true})).await;
        assert_eq!(r.unwrap().fence_openings.len(), 1);
        assert!(lines.is_empty());
    }

    #[tokio::test]
    async fn a_failed_run_reports_sync_succeeded_0() {
        let s = syncer(&[], vec![b"{\"syncToken\": \"1\"".to_vec()]);
        let (r, lines) = invoke(&s, json!({})).await;
        assert!(r.is_err());
        let [line] = lines.as_slice() else {
            panic!("{lines:?}")
        };
        assert_eq!(line.metrics.keys().collect::<Vec<_>>(), ["SyncSucceeded"]);
        assert_eq!(line.sum("SyncSucceeded"), 0.0);
        // An event it cannot read is a failed run as well.
        let (_, lines) = invoke(&s, json!({"dryrun": true})).await;
        assert_eq!(lines[0].sum("SyncSucceeded"), 0.0);
    }

    // The function's service is the handler and the POST of its response, inside MetricsLayer:
    // the handler writes no line itself, the layer writes it once the response is posted and
    // before its call returns (the runtime then asks for the next event).
    #[tokio::test]
    async fn the_metrics_line_comes_after_the_response_and_before_the_next_event() {
        let s = Arc::new(syncer(&[], vec![doc(now_s() - 60, 0..5)]));
        let (metrics, lines) = Emitter::in_memory("LambdaRdsIngest", "sg-sync-fn").unwrap();
        let seen = lines.clone();
        let invocation = lambda_runtime::service_fn(move |event: LambdaEvent<Value>| {
            let (s, seen) = (s.clone(), seen.clone());
            async move {
                let response = handle_metered(&s, event).await;
                // The response is being posted: no line yet.
                tokio::task::yield_now().await;
                assert!(
                    seen.take().is_empty(),
                    "a line before the response was posted"
                );
                response.map(|r| r.added)
            }
        });
        let mut function = MetricsLayer::new(metrics).layer(invocation);
        let added = function
            .call(LambdaEvent::new(json!({}), Context::default()))
            .await
            .unwrap();
        assert_eq!(added, 5);
        let [line]: [String; 1] = lines.take().try_into().unwrap();
        assert_eq!(emf::parse(&line).unwrap().sum("RulesAdded"), 5.0);
    }

    #[test]
    fn recognises_each_event() {
        let msg = r#"{"create-time":"2026-08-22T15:17:05+00:00","synctoken":"1787411825","md5":"63431d35877fa5386ded1a7df9cfa971","url":"https://ip-ranges.amazonaws.com/ip-ranges.json"}"#;
        match trigger(sns_event(msg)).unwrap() {
            Trigger::Notification(n) => assert_eq!(n.sync_token.0, 1787411825),
            t => panic!("{t:?}"),
        }
        assert_eq!(trigger(scheduled_event()).unwrap(), Trigger::Scheduled);
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
