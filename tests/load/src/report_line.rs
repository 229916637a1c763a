//! The `REPORT` line Lambda appends to an invocation's log: the function's own figures.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Report {
    pub duration_ms: f64,
    pub billed_ms: f64,
    pub memory_size_mb: Option<f64>,
    /// Present on a cold start only.
    pub init_ms: Option<f64>,
    pub max_memory_mb: Option<f64>,
}

fn field(line: &str, name: &str) -> Option<f64> {
    let start = line.find(name)? + name.len();
    line[start..].split_whitespace().next()?.parse().ok()
}

/// Finds and reads the REPORT line in a log tail.
pub fn parse_report(log: &str) -> Option<Report> {
    let line = log.lines().find(|l| l.starts_with("REPORT"))?;
    Some(Report {
        duration_ms: field(line, "\tDuration:").or_else(|| field(line, " Duration:"))?,
        billed_ms: field(line, "Billed Duration:")?,
        memory_size_mb: field(line, "Memory Size:"),
        init_ms: field(line, "Init Duration:"),
        max_memory_mb: field(line, "Max Memory Used:"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_warm_and_cold_reports() {
        let warm = "START RequestId: 1 Version: $LATEST\nEND RequestId: 1\nREPORT RequestId: 1\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 19 MB\t\n";
        assert_eq!(
            parse_report(warm),
            Some(Report {
                duration_ms: 1.23,
                billed_ms: 2.0,
                memory_size_mb: Some(128.0),
                init_ms: None,
                max_memory_mb: Some(19.0)
            })
        );
        let cold = "REPORT RequestId: 2\tDuration: 3.50 ms\tBilled Duration: 40 ms\tMemory Size: 128 MB\tMax Memory Used: 18 MB\tInit Duration: 35.10 ms\t";
        assert_eq!(parse_report(cold).unwrap().init_ms, Some(35.1));
        assert_eq!(parse_report("no report here"), None);
    }
}
