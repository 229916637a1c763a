//! The docs must not rot: every relative link and anchor in README.md and docs/ resolves, the
//! README's code snippet is still the source it claims to be, and every script, binary, flag,
//! setting and CDK context key the README names exists. Each failure names the file, the line
//! and what does not resolve.
//!
//! Plain string parsing, no Markdown or TOML crate: the subset the docs use (ATX headings,
//! `[text](target)` links, code spans, fenced blocks; `name =` lines of Cargo.toml sections).
//!
//! One module per check, in the order of the banners: [`markdown`] is the parsing they share,
//! then (a) [`links`], (b) [`snippet`], (c) [`names`], (d) and (e) [`alarms_and_size`]; and
//! [`checks_can_fail`] feeds each check broken input, so that none passes by saying nothing.

mod alarms_and_size;
mod checks_can_fail;
mod links;
mod markdown;
mod names;
mod snippet;

use std::path::{Path, PathBuf};

/// The README is read in ten minutes.
const README_MAX_LINES: usize = 250;
/// A snippet line standing for source lines left out.
const ELISIONS: [&str; 2] = ["// …", "// ..."];

fn repo_root() -> PathBuf {
    let support = Path::new(env!("CARGO_MANIFEST_DIR"));
    support
        .parent()
        .and_then(Path::parent)
        .expect("tests/support sits two folders below the repository root")
        .to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// README.md and every Markdown file under docs/, by path relative to `root`.
fn doc_files(root: &Path) -> Vec<String> {
    let mut names = vec!["README.md".to_owned()];
    let mut stack = vec![root.join("docs")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                names.push(relative(root, &path));
            }
        }
    }
    names.sort();
    names
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

fn failures(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
