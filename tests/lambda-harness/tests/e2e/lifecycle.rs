//! The environment's life as Lambda runs it: a log line's request id in JSON, every metrics
//! line out before a freeze, an exit during init reported with the function's last lines.

use lambda_harness::{RuntimeApi, runtime_api::spawn_function};
use serde_json::{Value, json};

use crate::NO_DATABASE;

// With the function's log format set to JSON, Lambda sets AWS_LAMBDA_LOG_FORMAT=JSON and
// AWS_LAMBDA_LOG_LEVEL; a line the function writes during an invocation must carry that
// invocation's request id, so an operator can follow one request through the logs.
// https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html
#[tokio::test]
async fn a_line_logged_during_an_invocation_carries_its_request_id_in_json() {
    let bin = lambda_harness::built_binaries();
    let api = RuntimeApi::start().await;
    let env = [
        ("DATABASE_URL", NO_DATABASE),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
    ];
    let (mut function, lines) = lambda_harness::runtime_api::spawn_function_reading_stdout(
        bin.join("ingest-fn").to_str().unwrap(),
        &api,
        &env,
    );
    let outcomes = [
        api.invoke("[]".into()).await,
        api.invoke(r#"{"source": 1}"#.into()).await,
    ];
    api.shutdown(&mut function).await;
    let lines = lines.join().unwrap();
    for outcome in &outcomes {
        assert!(outcome.error, "{}", outcome.body);
        let line = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| {
                l["fields"]["message"] == "invocation failed"
                    && l["span"]["requestId"] == outcome.request_id.as_str()
            });
        assert!(
            line.is_some(),
            "no JSON line for {} carries its requestId:\n{}",
            outcome.request_id,
            lines.join("\n")
        );
    }
}

// ingest-fn writes an invocation's metrics line once the response is posted, so the caller does
// not wait for it, yet before the runtime asks for the next event: from then on Lambda may
// freeze the environment, and a line still to be written would wait, frozen, for the next
// invocation or be lost with the environment.
// https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html
#[tokio::test]
async fn every_metrics_line_is_out_before_the_environment_is_frozen() {
    let bin = lambda_harness::built_binaries();
    let api = RuntimeApi::start().await.freezing();
    let path = std::env::temp_dir().join(format!("ingest-fn-freeze-{}.log", std::process::id()));
    let stdout = std::fs::File::create(&path).unwrap();
    let env = [("DATABASE_URL", NO_DATABASE)];
    let (mut function, _) = lambda_harness::runtime_api::spawn_function_logging(
        bin.join("ingest-fn").to_str().unwrap(),
        &api,
        &env,
        stdout.into(),
    );
    for n in 1..=5 {
        let outcome = api.invoke(r#"{"source": 1}"#.into()).await;
        assert!(outcome.error, "{}", outcome.body);
        api.frozen().await;
        let log = std::fs::read_to_string(&path).unwrap();
        let invalid: Vec<Option<f64>> = log
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l.get("_aws").is_some())
            .map(|l| l["EventsInvalid"].as_f64())
            .collect();
        assert_eq!(invalid, vec![Some(1.0); n], "after {n} invocations:\n{log}");
    }
    api.shutdown(&mut function).await;
    std::fs::remove_file(&path).unwrap();
}

// A function that exits during init (here ingest-fn refusing its configuration) fails the
// invocation at once with its last log lines; before, the test waited for an answer forever.
#[tokio::test]
async fn a_function_that_exits_during_init_fails_the_invocation_with_its_log() {
    let bin = lambda_harness::built_binaries();
    // The timeout is far away: only the process's exit can end the invocation.
    let api = RuntimeApi::start()
        .await
        .with_invoke_timeout(std::time::Duration::from_secs(3600));
    let env = [("DATABASE_URL", NO_DATABASE), ("DB_TLS", "sometimes")];
    let (mut function, _) = spawn_function(bin.join("ingest-fn").to_str().unwrap(), &api, &env);
    let error = api.try_invoke(json!({}).to_string()).await.unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(
            error,
            lambda_harness::runtime_api::InvokeError::Exited { .. }
        ),
        "{message}"
    );
    assert!(
        message.starts_with("ingest-fn exited (exit status 1) before answering"),
        "{message}"
    );
    assert!(
        message.contains("DB_TLS"),
        "the log tail names the setting: {message}"
    );
    assert!(!function.wait().unwrap().success());
}
