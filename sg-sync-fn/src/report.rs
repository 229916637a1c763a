//! What a sync run reports: the Lambda's response, the CLI's table and JSON, one log line.

use serde::Serialize;

use crate::fence::FenceOpening;
use crate::publication::SyncToken;

/// What a change does: a security group rule is authorized or revoked. Serialized as those
/// words, in lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Authorize,
    Revoke,
}

impl Action {
    /// Whether the change opens access (a rule more).
    pub fn adds(self) -> bool {
        self == Action::Authorize
    }
}

/// One rule change, for people and machines reading a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The group's id (`target` in the JSON since the report's first version).
    pub target: String,
    pub action: Action,
    pub rule: String,
}

/// One security group after the run, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupReport {
    pub id: String,
    pub managed: usize,
    pub other: usize,
    /// Free slots left in the families this sync manages.
    pub free: usize,
}

/// The outcome of a run; also logged as one JSON line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncReport {
    pub sync_token: Option<SyncToken>,
    pub create_date: Option<String>,
    pub wanted: usize,
    /// The publication's selected ranges after aggregation; unknown when the run was skipped
    /// before reading the publication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wanted_ranges: Option<usize>,
    pub added: usize,
    pub removed: usize,
    pub unchanged: usize,
    pub skipped: bool,
    pub dry_run: bool,
    pub groups: Vec<GroupReport>,
    /// Why a run was skipped, or which guard a dry run would have hit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The changes planned (a dry run) or made.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// Rules of others on the groups that admit the port from outside the published ranges
    /// ([`crate::fence`]); always present, empty when the fence is closed.
    pub fence_openings: Vec<FenceOpening>,
}

impl SyncReport {
    /// A run that changed nothing because the groups already hold a newer publication.
    pub(crate) fn skipped(
        applied: Option<SyncToken>,
        groups: Vec<GroupReport>,
        dry_run: bool,
        reason: String,
    ) -> Self {
        SyncReport {
            sync_token: applied,
            create_date: None,
            wanted: 0,
            wanted_ranges: None,
            added: 0,
            removed: 0,
            unchanged: 0,
            skipped: true,
            dry_run,
            groups,
            reason: Some(reason),
            changes: Vec::new(),
            fence_openings: Vec::new(),
        }
    }

    /// Logs the report as one line, and each fence opening as a warning of its own.
    pub(crate) fn log(&self) {
        for o in &self.fence_openings {
            tracing::warn!(
                group = %o.group,
                rule_id = o.rule_id.as_deref().unwrap_or("-"),
                source = %o.source,
                protocol = %o.protocol,
                ports = %o.ports,
                "a rule sg-sync-fn does not manage admits the database port from outside the published ranges; left as it is"
            );
        }
        tracing::info!(
            // The number itself (a missing token logs no field), not Debug's `Some(…)`.
            sync_token = self.sync_token.map(|t| t.0),
            create_date = self.create_date.as_deref(),
            wanted = self.wanted,
            added = self.added,
            removed = self.removed,
            unchanged = self.unchanged,
            skipped = self.skipped,
            dry_run = self.dry_run,
            groups = %serde_json::to_string(&self.groups).unwrap_or_default(),
            reason = self.reason.as_deref(),
            fence_openings = self.fence_openings.len(),
            "sync finished"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use lambda_runtime::tracing::subscriber;

    use super::*;

    /// What `log` writes, as the Lambda's formatter prints it.
    fn logged(report: &SyncReport) -> String {
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let make_writer = move || Writer(sink.clone());
        let collector = subscriber::fmt()
            .with_writer(make_writer)
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(collector, || report.log());
        let bytes = out.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct Writer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn actions_serialize_as_the_words_the_report_always_had() {
        let json = |action| {
            serde_json::to_value(Change {
                target: "sg-a".into(),
                action,
                rule: "tcp/3306 10.0.0.0/24".into(),
            })
            .unwrap()["action"]
                .clone()
        };
        assert_eq!(json(Action::Authorize), "authorize");
        assert_eq!(json(Action::Revoke), "revoke");
        assert!(Action::Authorize.adds());
        assert!(!Action::Revoke.adds());
    }

    #[test]
    fn the_log_line_prints_the_sync_token_as_a_number() {
        let mut report = SyncReport::skipped(
            Some(SyncToken(1786556226)),
            Vec::new(),
            false,
            "not newer".into(),
        );
        let line = logged(&report);
        assert!(line.contains("sync finished"), "{line}");
        assert!(line.contains("sync_token=1786556226"), "{line}");
        assert!(!line.contains("Some("), "{line}");
        report.sync_token = None;
        assert!(!logged(&report).contains("sync_token"));
    }
}
