//! (b) The README's snippet: still the source it claims to be, line for line.

use std::path::Path;

use crate::markdown::{Fence, Markdown};
use crate::{ELISIONS, failures, read, repo_root};

/// Each `<!-- snippet: PATH -->` block of `md` appears in PATH line for line (trimmed lines, in
/// order, contiguous except at `// …` lines). `md` must hold at least one.
pub(crate) fn snippet_problems(root: &Path, md: &Markdown) -> Vec<String> {
    let mut problems = Vec::new();
    let mut found = 0;
    for (i, line) in md.lines.iter().enumerate() {
        let Some(path) = line
            .trim()
            .strip_prefix("<!-- snippet:")
            .and_then(|r| r.strip_suffix("-->"))
            .map(str::trim)
        else {
            continue;
        };
        found += 1;
        let Some(fence) = md.fences.iter().find(|f| f.open > i) else {
            problems.push(format!(
                "{}: snippet of {path}: no fenced block follows",
                md.at(i)
            ));
            continue;
        };
        if md.lines[i + 1..fence.open]
            .iter()
            .any(|l| !l.trim().is_empty())
        {
            problems.push(format!(
                "{}: snippet of {path}: the fenced block must follow the comment directly",
                md.at(i)
            ));
            continue;
        }
        let Ok(source) = std::fs::read_to_string(root.join(path)) else {
            problems.push(format!("{}: snippet of {path}: no such file", md.at(i)));
            continue;
        };
        let source: Vec<&str> = source.lines().map(str::trim).collect();
        problems.extend(snippet_drift(md, fence, path, &source));
    }
    if found == 0 {
        problems.push(format!(
            "{}: no `<!-- snippet: PATH -->` block: the pattern must be shown as code from its source",
            md.name
        ));
    }
    problems
}

/// Where the block stops matching `source`, if it does.
pub(crate) fn snippet_drift(
    md: &Markdown,
    fence: &Fence,
    path: &str,
    source: &[&str],
) -> Option<String> {
    // Segments of consecutive lines between elisions, with their 0-based README lines.
    let mut segments: Vec<Vec<(usize, &str)>> = vec![Vec::new()];
    for i in fence.body.clone() {
        let line = md.lines[i].trim();
        if ELISIONS.contains(&line) {
            segments.push(Vec::new());
        } else if let Some(last) = segments.last_mut() {
            last.push((i, line));
        }
    }
    let mut from = 0;
    for segment in segments.iter().filter(|s| !s.is_empty()) {
        let matched = |start: usize| {
            segment
                .iter()
                .zip(&source[start..])
                .take_while(|((_, a), b)| a == *b)
                .count()
        };
        let best = (from..source.len()).max_by_key(|s| (matched(*s), std::cmp::Reverse(*s)));
        match best {
            Some(start) if matched(start) == segment.len() => from = start + segment.len(),
            Some(start) if matched(start) > 0 => {
                let (line, text) = segment[matched(start)];
                return Some(format!(
                    "{}: snippet line `{text}` is not {path}'s line {} (`{}`): the snippet and its source drifted apart",
                    md.at(line),
                    start + matched(start) + 1,
                    source.get(start + matched(start)).unwrap_or(&"end of file"),
                ));
            }
            _ => {
                let (line, text) = segment[0];
                return Some(format!(
                    "{}: snippet line `{text}` appears nowhere in {path} after line {from}",
                    md.at(line)
                ));
            }
        }
    }
    None
}

#[test]
fn the_readmes_snippet_is_its_source_line_for_line() {
    let root = repo_root();
    let md = Markdown::parse("README.md", &read(&root.join("README.md")));
    failures(snippet_problems(&root, &md));
}
