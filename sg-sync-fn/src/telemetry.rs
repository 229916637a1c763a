//! Logging: one JSON object per line in Lambda, readable text on a terminal.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// `AWS_LAMBDA_LOG_LEVEL` (Lambda's advanced logging controls) wins over `RUST_LOG`.
fn filter(default: LevelFilter) -> EnvFilter {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .and_then(|l| l.parse::<LevelFilter>().ok())
        .unwrap_or(default);
    match std::env::var("AWS_LAMBDA_LOG_LEVEL") {
        Ok(_) => EnvFilter::default().add_directive(level.into()),
        Err(_) => EnvFilter::builder()
            .with_default_directive(level.into())
            .from_env_lossy(),
    }
}

/// JSON lines on stdout, fields at the top level, as CloudWatch Logs Insights reads them.
pub fn init_json() {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter(LevelFilter::INFO))
        .with_writer(std::io::stdout)
        .init();
}

/// Human-readable warnings on stderr (`RUST_LOG=info` for more), so stdout stays free for the
/// command's output.
pub fn init_cli() {
    tracing_subscriber::fmt()
        .with_target(false)
        .with_env_filter(filter(LevelFilter::WARN))
        .with_writer(std::io::stderr)
        .init();
}
