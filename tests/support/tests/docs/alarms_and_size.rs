//! (d) Every alarm has its runbook; (e) the README is short and each doc says who it is for.

use std::path::Path;

use crate::markdown::{Markdown, heading};
use crate::names::sources;
use crate::{README_MAX_LINES, doc_files, failures, read, relative, repo_root};

/// Every alarm infra/lib defines (`this.add('Id'`, `this.deadLetters('Id'`, `alarms.Id =`),
/// with where it is defined.
pub(crate) fn alarms(root: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for file in sources(&root.join("infra/lib"), &[".ts"]) {
        let text = read(&file);
        for (n, line) in text.lines().enumerate() {
            for pattern in ["this.add('", "this.deadLetters('", "alarms."] {
                let Some(p) = line.find(pattern) else {
                    continue;
                };
                let rest = &line[p + pattern.len()..];
                let id: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                let defines = match pattern {
                    "alarms." => rest[id.len()..].trim_start().starts_with("= {"),
                    _ => rest[id.len()..].starts_with('\''),
                };
                if defines && !id.is_empty() {
                    found.push((id, format!("{}:{}", relative(root, &file), n + 1)));
                }
            }
        }
    }
    found
}

#[test]
fn every_alarm_has_its_runbook_in_operations() {
    let root = repo_root();
    let runbooks = Markdown::parse(
        "docs/operations.md",
        &read(&root.join("docs/operations.md")),
    )
    .anchors();
    let found = alarms(&root);
    assert!(
        found.len() >= 10,
        "found only {} alarms in infra/lib: {found:?}",
        found.len()
    );
    failures(
        found
            .into_iter()
            .filter(|(id, _)| !runbooks.contains(&id.to_lowercase()))
            .map(|(id, at)| {
                format!("{at}: alarm {id} has no `### {id}` runbook in docs/operations.md")
            })
            .collect(),
    );
}

#[test]
fn the_readme_is_short_and_each_doc_says_who_it_is_for() {
    let root = repo_root();
    let mut problems = Vec::new();
    let readme = read(&root.join("README.md"));
    let lines = readme.lines().count();
    if lines > README_MAX_LINES {
        problems.push(format!(
            "README.md: {lines} lines, over {README_MAX_LINES}: move the detail into docs/"
        ));
    }
    for name in doc_files(&root)
        .into_iter()
        .filter(|n| n.starts_with("docs/"))
    {
        let md = Markdown::parse(&name, &read(&root.join(&name)));
        let first = md
            .lines
            .iter()
            .enumerate()
            .find(|(_, l)| !l.trim().is_empty() && heading(l).is_none());
        if !first.is_some_and(|(_, l)| l.starts_with("For ")) {
            let line = first.map_or(0, |(i, _)| i);
            problems.push(format!(
                "{}: the first line after the title must say who the page is for (\"For …\")",
                md.at(line)
            ));
        }
    }
    failures(problems);
}
