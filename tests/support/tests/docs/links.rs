//! (a) Links and anchors: every relative link resolves, and every `#anchor` to a heading.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::markdown::{Markdown, resolve};
use crate::{doc_files, failures, read, relative, repo_root};

/// Every relative link of `files` (paths relative to `root`) resolves to a file or folder, and
/// every `#anchor` to a heading of the Markdown file it names.
pub(crate) fn link_problems(root: &Path, files: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut anchors: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    let mut anchors_of = |path: &Path| -> BTreeSet<String> {
        anchors
            .entry(path.to_path_buf())
            .or_insert_with(|| {
                Markdown::parse(&relative(root, path), &read(&root.join(path))).anchors()
            })
            .clone()
    };
    for name in files {
        let md = Markdown::parse(name, &read(&root.join(name)));
        let base = Path::new(name)
            .parent()
            .unwrap_or(Path::new(""))
            .to_path_buf();
        for (line, target) in md.links() {
            if target.is_empty() {
                problems.push(format!("{}: a link with an empty target", md.at(line)));
                continue;
            }
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            let file = if path.is_empty() {
                PathBuf::from(name)
            } else {
                match resolve(&base, path) {
                    Some(p) => p,
                    None => {
                        problems.push(format!(
                            "{}: link `{target}` points outside the repository",
                            md.at(line)
                        ));
                        continue;
                    }
                }
            };
            if !root.join(&file).exists() {
                problems.push(format!(
                    "{}: link `{target}`: no file or folder {}",
                    md.at(line),
                    file.display()
                ));
                continue;
            }
            let Some(anchor) = anchor else { continue };
            if file.extension().is_none_or(|e| e != "md") {
                problems.push(format!(
                    "{}: link `{target}`: an anchor on {}, which is not a Markdown file",
                    md.at(line),
                    file.display()
                ));
                continue;
            }
            let known = anchors_of(&file);
            if !known.contains(anchor) {
                problems.push(format!(
                    "{}: link `{target}`: no heading in {} has the anchor #{anchor}",
                    md.at(line),
                    file.display()
                ));
            }
        }
    }
    problems
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let root = repo_root();
    failures(link_problems(&root, &doc_files(&root)));
}
