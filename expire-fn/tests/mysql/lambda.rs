use lambda_harness::RuntimeApi;
use serde_json::Value;

use crate::support::TestDb;

// The binary as Lambda runs it (AWS_LAMBDA_RUNTIME_API set), behind the harness's Runtime API:
// a schedule's event gets the report as the response and one metrics line per invocation with
// the three metrics; `{"dry_run": …}` that is not a boolean is refused.
#[tokio::test]
async fn the_function_answers_with_its_report_and_one_metrics_line() {
    let db = TestDb::new().await;
    db.seed(500).await;
    let api = RuntimeApi::start().await;
    let url = db.url(None);
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("RETENTION_DAYS", "30"),
        ("EXPIRE_CHUNK_SIZE", "100"),
        ("EXPIRE_PAUSE_MS", "0"),
    ];
    let (mut function, lines) = lambda_harness::runtime_api::spawn_function_reading_stdout(
        env!("CARGO_BIN_EXE_ingest-expire"),
        &api,
        &env,
    );
    let scheduled = r#"{"version":"0","id":"x","detail-type":"Scheduled Event","source":"aws.events","detail":{}}"#;
    let done = api.invoke(scheduled.into()).await;
    let again = api.invoke(r#"{"dry_run": true}"#.into()).await;
    // Last: the dry run's line is out before the runtime asks for this one.
    let refused = api.invoke(r#"{"dry_run": "yes"}"#.into()).await;
    api.shutdown(&mut function).await;
    let lines = lines.join().unwrap();

    assert!(!done.error, "{}", done.body);
    let report: Value = serde_json::from_str(&done.body).unwrap();
    let expired = report["expired"].as_u64().unwrap();
    assert!(expired > 0, "{report}");
    assert_eq!(report["archived"], 0);
    assert!(
        refused.error && refused.body.contains("InvalidRequest"),
        "{}",
        refused.body
    );
    let dry: Value = serde_json::from_str(&again.body).unwrap();
    assert_eq!(
        (dry["dry_run"].as_bool(), dry["expired"].as_u64()),
        (Some(true), Some(0))
    );

    let metrics: Vec<emf::Document> = lines.iter().filter_map(|l| emf::parse(l).ok()).collect();
    assert_eq!(
        metrics.len(),
        2,
        "one line per run, none for the refused event:\n{}",
        lines.join("\n")
    );
    assert_eq!(metrics[0].sum("EventsExpired"), expired as f64);
    assert_eq!(metrics[0].sum("EventsArchived"), 0.0);
    let age = &metrics[0].metrics["OldestEventAgeSeconds"];
    assert_eq!(age.unit.as_deref(), Some("Seconds"));
    assert_eq!(
        age.values,
        [report["oldest_event_age_seconds"].as_f64().unwrap()]
    );
    assert_eq!(
        metrics[1].sum("EventsExpired"),
        0.0,
        "a dry run expires nothing"
    );
    db.done().await;
}
