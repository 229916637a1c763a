//! (c) What the README names: every script, binary, flag, setting and CDK context key exists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::markdown::Markdown;
use crate::{failures, read, relative, repo_root};

/// A workspace package: its folder and targets.
pub(crate) struct Package {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    pub(crate) bins: BTreeSet<String>,
    pub(crate) tests: BTreeSet<String>,
    pub(crate) benches: BTreeSet<String>,
}

/// The workspace's packages, from the root Cargo.toml's `members` and each member's manifest
/// (declared `[[bin]]`, `[[test]]`, `[[bench]]` and Cargo's auto-discovered targets).
pub(crate) fn packages(root: &Path) -> Vec<Package> {
    let manifest = read(&root.join("Cargo.toml"));
    let start = manifest
        .find("members")
        .expect("the root Cargo.toml lists workspace members");
    let list = &manifest[start..];
    let list =
        &list[list.find('[').expect("members = [")..list.find(']').expect("members = [...]")];
    let members: Vec<&str> = list.split('"').skip(1).step_by(2).collect();
    members
        .into_iter()
        .map(|member| {
            let dir = root.join(member);
            let text = read(&dir.join("Cargo.toml"));
            let mut section = String::new();
            let mut name = String::new();
            let mut package = Package {
                name: String::new(),
                dir: dir.clone(),
                bins: BTreeSet::new(),
                tests: BTreeSet::new(),
                benches: BTreeSet::new(),
            };
            for line in text.lines().map(str::trim) {
                if line.starts_with('[') {
                    section = line.to_owned();
                    continue;
                }
                let Some(value) = line
                    .strip_prefix("name")
                    .map(str::trim_start)
                    .and_then(|r| r.strip_prefix('='))
                else {
                    continue;
                };
                let value = value.trim().trim_matches('"').to_owned();
                match section.as_str() {
                    "[package]" => name = value,
                    "[[bin]]" => {
                        package.bins.insert(value);
                    }
                    "[[test]]" => {
                        package.tests.insert(value);
                    }
                    "[[bench]]" => {
                        package.benches.insert(value);
                    }
                    _ => {}
                }
            }
            if dir.join("src/main.rs").exists() && package.bins.is_empty() {
                package.bins.insert(name.clone());
            }
            for (folder, set) in [
                ("src/bin", &mut package.bins),
                ("tests", &mut package.tests),
                ("benches", &mut package.benches),
            ] {
                for entry in std::fs::read_dir(dir.join(folder))
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    // A target is `<name>.rs`, or a folder `<name>/` with a `main.rs` (a module
                    // tree), as Cargo discovers them.
                    let path = entry.path();
                    let target = if path.is_dir() {
                        path.join("main.rs")
                            .is_file()
                            .then(|| path.file_name())
                            .flatten()
                    } else {
                        path.extension()
                            .is_some_and(|e| e == "rs")
                            .then(|| path.file_stem())
                            .flatten()
                    };
                    if let Some(name) = target {
                        set.insert(name.to_string_lossy().into_owned());
                    }
                }
            }
            package.name = name;
            package
        })
        .collect()
}

/// Every file of `dir` (recursively) whose name ends with one of `suffixes`, skipping build
/// output and installed packages.
pub(crate) fn sources(dir: &Path, suffixes: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(
                    name.as_str(),
                    "target" | "node_modules" | ".git" | "cdk.out"
                ) {
                    stack.push(path);
                }
            } else if suffixes.iter().any(|s| name.ends_with(s)) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

pub(crate) fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("//") || t.starts_with('#') || t.starts_with("/*") || t.starts_with('*')
}

pub(crate) fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every UPPER_SNAKE word (at least one `_`) in `text`.
pub(crate) fn upper_snake(text: &str) -> Vec<String> {
    text.split(|c: char| !is_word_char(c))
        .filter(|w| {
            w.contains('_')
                && w.starts_with(|c: char| c.is_ascii_uppercase())
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && w.split('_').all(|p| !p.is_empty())
        })
        .map(str::to_owned)
        .collect()
}

/// Whether `word` occurs in `text` with no word character on either side.
pub(crate) fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
    })
}

pub(crate) fn is_kebab(word: &str) -> bool {
    word.contains('-')
        && !word.starts_with('-')
        && !word.ends_with('-')
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// What the README's names are checked against.
pub(crate) struct Repo {
    pub(crate) root: PathBuf,
    pub(crate) packages: Vec<Package>,
    /// UPPER_SNAKE words on the code lines (not comments) of every .rs, .sh and .ts file and
    /// of `.ci/run`.
    pub(crate) settings: BTreeSet<String>,
    /// The CDK context keys infra/ reads (`get, 'key'` and `get('key')` in infra/lib and
    /// infra/bin).
    pub(crate) context_keys: BTreeSet<String>,
}

impl Repo {
    pub(crate) fn load(root: &Path) -> Repo {
        let mut settings = BTreeSet::new();
        let mut files = sources(root, &[".rs", ".sh", ".ts"]);
        files.push(root.join(".ci/run"));
        for file in files {
            // This test binary names settings only to test the check.
            if file.starts_with(root.join("tests/support/tests/docs")) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            for line in text.lines().filter(|l| !is_comment(l)) {
                settings.extend(upper_snake(line));
            }
        }
        let mut context_keys = BTreeSet::new();
        for folder in ["infra/lib", "infra/bin"] {
            for file in sources(&root.join(folder), &[".ts"]) {
                let text = read(&file);
                // `get('key')` or `f(get, 'key', …)`, the key possibly on the next line.
                for pattern in ["get(", "get,"] {
                    for (i, _) in text.match_indices(pattern) {
                        let rest = text[i + pattern.len()..].trim_start();
                        let Some(quoted) = rest.strip_prefix(['\'', '"']) else {
                            continue;
                        };
                        let key: String = quoted
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric())
                            .collect();
                        if !key.is_empty() {
                            context_keys.insert(key);
                        }
                    }
                }
            }
        }
        Repo {
            root: root.to_path_buf(),
            packages: packages(root),
            settings,
            context_keys,
        }
    }

    pub(crate) fn package(&self, name: &str) -> Option<&Package> {
        self.packages.iter().find(|p| p.name == name)
    }

    pub(crate) fn bin_package(&self, bin: &str) -> Option<&Package> {
        self.packages.iter().find(|p| p.bins.contains(bin))
    }

    /// Whether `--flag` is in the source of the package that builds `bin`: as `"--flag"`,
    /// `"flag"` (clap's `long = "flag"`) or the field `flag_name` (clap's derive).
    pub(crate) fn bin_has_flag(&self, package: &Package, flag: &str) -> bool {
        let name = flag.trim_start_matches('-');
        let field = name.replace('-', "_");
        sources(&package.dir.join("src"), &[".rs"]).iter().any(|f| {
            let text = read(f);
            text.contains(&format!("\"{name}\"")) || text.contains(flag) || has_word(&text, &field)
        })
    }

    /// A path in the repository, as a README token names it: first folder one of the
    /// repository's own.
    pub(crate) fn names_repo_path(&self, token: &str) -> bool {
        let token = token.trim_start_matches("./");
        if !token.contains('/') || token.contains("://") {
            return false;
        }
        let first = token.split('/').next().unwrap_or("");
        !first.is_empty() && self.root.join(first).is_dir()
    }
}

/// A command or a code span, with its 0-based README line.
pub(crate) struct Snippet {
    pub(crate) line: usize,
    pub(crate) text: String,
    /// From a shell block or a `$ ` line: a command whatever its first word.
    pub(crate) command: bool,
}

/// What the README shows as code: its code spans, the commands of its shell blocks
/// (continuation lines joined, comments cut) and the `$ ` lines of its other blocks; not the
/// Rust snippet, not the diagram.
pub(crate) fn readme_code(md: &Markdown) -> Vec<Snippet> {
    let mut out: Vec<Snippet> = md
        .code_spans()
        .into_iter()
        .map(|(line, text)| Snippet {
            line,
            text,
            command: false,
        })
        .collect();
    for fence in &md.fences {
        let lang = fence.info.split_whitespace().next().unwrap_or("");
        if matches!(lang, "rust" | "mermaid" | "json") {
            continue;
        }
        let shell = matches!(lang, "sh" | "bash" | "shell" | "console");
        let mut pending: Option<(usize, String)> = None;
        for i in fence.body.clone() {
            let raw = md.lines[i].trim();
            let line = match raw.strip_prefix("$ ") {
                Some(cmd) => cmd,
                None if shell || pending.is_some() => raw,
                None => continue,
            };
            let line = match line.find(" #") {
                Some(p) => &line[..p],
                None if line.starts_with('#') => "",
                None => line,
            };
            let (start, mut text) = pending.take().unwrap_or((i, String::new()));
            match line.strip_suffix('\\') {
                Some(head) => {
                    text.push_str(head);
                    text.push(' ');
                    pending = Some((start, text));
                }
                None => {
                    text.push_str(line);
                    if !text.trim().is_empty() {
                        out.push(Snippet {
                            line: start,
                            text,
                            command: true,
                        });
                    }
                }
            }
        }
    }
    out
}

pub(crate) fn is_assignment(token: &str) -> bool {
    token.split_once('=').is_some_and(|(k, _)| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    })
}

/// Every script, binary, flag, setting and context key the README names exists.
pub(crate) fn name_problems(repo: &Repo, md: &Markdown) -> Vec<String> {
    let mut problems = Vec::new();
    for Snippet {
        line,
        text,
        command,
    } in readme_code(md)
    {
        let at = md.at(line);
        // Settings.
        for word in upper_snake(&text) {
            if !repo.settings.contains(&word) {
                problems.push(format!(
                    "{at}: `{word}` is read nowhere in the code (no .rs, .sh or .ts line outside comments names it)"
                ));
            }
        }
        // CDK context keys.
        let tokens: Vec<&str> = text.split_whitespace().collect();
        for pair in tokens.windows(2) {
            if pair[0] == "-c"
                && let Some((key, _)) = pair[1].split_once('=')
                && !repo.context_keys.contains(key)
            {
                problems.push(format!(
                    "{at}: `-c {key}=…`: infra/ reads no context key `{key}` (it reads: {})",
                    repo.context_keys
                        .iter()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        // Paths in the repository.
        for token in &tokens {
            let token =
                token.trim_matches(|c: char| matches!(c, '"' | '\'' | '(' | ')' | ',' | ';' | '`'));
            if repo.names_repo_path(token)
                && !token.contains(['…', '<', '*', '$'])
                && !repo.root.join(token.trim_start_matches("./")).exists()
            {
                problems.push(format!("{at}: `{token}`: no such file or folder"));
            }
        }
        // A single kebab-case name: a binary or a package.
        if tokens.len() == 1 && is_kebab(tokens[0]) {
            let name = tokens[0];
            if repo.bin_package(name).is_none() && repo.package(name).is_none() {
                problems.push(format!(
                    "{at}: `{name}` is no [[bin]] (nor package) in any Cargo.toml"
                ));
            }
            continue;
        }
        // Commands.
        for segment in text.split(['|', ';']).flat_map(|s| s.split("&&")) {
            let words: Vec<&str> = segment
                .split_whitespace()
                .skip_while(|w| is_assignment(w))
                .collect();
            let Some(program) = words.first() else {
                continue;
            };
            let script = program.trim_start_matches("./");
            if *program == "cargo" {
                problems.extend(cargo_problems(repo, &at, &words));
            } else if repo.names_repo_path(script) {
                if !repo.root.join(script).is_file() {
                    continue; // reported above as a path
                }
                let source = read(&repo.root.join(script));
                for flag in words[1..].iter().copied().filter(|w| w.starts_with("--")) {
                    let flag = flag.split('=').next().unwrap_or(flag);
                    if !source.contains(flag) {
                        problems.push(format!(
                            "{at}: `{flag}` is not a flag of {script} (not in its source)"
                        ));
                    }
                }
            } else if let Some(package) = repo.bin_package(program) {
                problems.extend(flag_problems(repo, &at, package, program, &words[1..]));
            } else if is_kebab(program) && (command || words.len() > 1) {
                problems.push(format!(
                    "{at}: `{program}` is run as a program but is no [[bin]] in any Cargo.toml"
                ));
            }
        }
    }
    problems
}

pub(crate) fn flag_problems(
    repo: &Repo,
    at: &str,
    package: &Package,
    bin: &str,
    args: &[&str],
) -> Vec<String> {
    args.iter()
        .copied()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.split('=').next().unwrap_or(w))
        .filter(|flag| !repo.bin_has_flag(package, flag))
        .map(|flag| {
            format!(
                "{at}: `{bin} {flag}`: {flag} appears nowhere in the source of {bin} ({})",
                relative(&repo.root, &package.dir.join("src"))
            )
        })
        .collect()
}

/// `cargo …`: the packages, binaries, test suites and benches it names exist; with `cargo run
/// --bin B -- ARGS`, B's flags.
pub(crate) fn cargo_problems(repo: &Repo, at: &str, words: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    let split = words.iter().position(|w| *w == "--").unwrap_or(words.len());
    let own = &words[..split];
    let value = |flags: &[&str]| -> Vec<&str> {
        own.windows(2)
            .filter(|w| flags.contains(&w[0]))
            .map(|w| w[1])
            .collect()
    };
    let package = value(&["-p", "--package"]).first().copied();
    let scope: Vec<&Package> = match package {
        Some(name) => match repo.package(name) {
            Some(p) => vec![p],
            None => {
                problems.push(format!(
                    "{at}: `cargo … -p {name}`: no workspace package {name}"
                ));
                return problems;
            }
        },
        None => repo.packages.iter().collect(),
    };
    let within = |what: &str, name: &str, has: &dyn Fn(&Package) -> bool| -> Option<String> {
        (!scope.iter().any(|p| has(p))).then(|| {
            format!(
                "{at}: `cargo … --{what} {name}`: no {what} target {name} in {}",
                package.unwrap_or("the workspace")
            )
        })
    };
    let bins = value(&["--bin"]);
    for bin in &bins {
        problems.extend(within("bin", bin, &|p: &Package| p.bins.contains(*bin)));
    }
    for test in value(&["--test"]) {
        problems.extend(within("test", test, &|p: &Package| p.tests.contains(test)));
    }
    for bench in value(&["--bench"]) {
        problems.extend(within("bench", bench, &|p: &Package| {
            p.benches.contains(bench)
        }));
    }
    if own.get(1) == Some(&"run") && split < words.len() {
        let bin = bins.first().copied().or_else(|| match scope.as_slice() {
            [p] if p.bins.len() == 1 => p.bins.first().map(String::as_str),
            _ => None,
        });
        if let Some(bin) = bin
            && let Some(p) = repo.bin_package(bin)
        {
            problems.extend(flag_problems(repo, at, p, bin, &words[split + 1..]));
        }
    }
    problems
}

#[test]
fn every_script_binary_flag_and_setting_the_readme_names_exists() {
    let root = repo_root();
    let repo = Repo::load(&root);
    let md = Markdown::parse("README.md", &read(&root.join("README.md")));
    failures(name_problems(&repo, &md));
}
