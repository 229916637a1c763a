//! The docs must not rot: every relative link and anchor in README.md and docs/ resolves, the
//! README's code snippet is still the source it claims to be, and every script, binary, flag,
//! setting and CDK context key the README names exists. Each failure names the file, the line
//! and what does not resolve.
//!
//! Plain string parsing, no Markdown or TOML crate: the subset the docs use (ATX headings,
//! `[text](target)` links, code spans, fenced blocks; `name =` lines of Cargo.toml sections).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

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

// ---------- Markdown ----------

/// A fenced code block: its info string and the 0-based line numbers of its body.
struct Fence {
    info: String,
    open: usize,
    body: std::ops::Range<usize>,
}

/// One Markdown file, split into what the checks read.
struct Markdown {
    /// Relative to the repository root, `/`-separated, for messages.
    name: String,
    lines: Vec<String>,
    /// Per line: part of a fenced block, fence lines included.
    fenced: Vec<bool>,
    fences: Vec<Fence>,
}

impl Markdown {
    fn parse(name: &str, text: &str) -> Markdown {
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let mut fenced = vec![false; lines.len()];
        let mut fences = Vec::new();
        let mut open: Option<(usize, String, String)> = None;
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            let marker: String = trimmed
                .chars()
                .take_while(|c| *c == '`' || *c == '~')
                .collect();
            let is_fence =
                marker.len() >= 3 && marker.chars().all(|c| c == marker.as_bytes()[0] as char);
            match &open {
                None if is_fence => {
                    fenced[i] = true;
                    let info = trimmed[marker.len()..].trim().to_owned();
                    open = Some((i, marker, info));
                }
                None => {}
                Some((start, fence, info)) => {
                    fenced[i] = true;
                    if is_fence
                        && marker.starts_with(fence.as_str())
                        && trimmed[marker.len()..].trim().is_empty()
                    {
                        fences.push(Fence {
                            info: info.clone(),
                            open: *start,
                            body: start + 1..i,
                        });
                        open = None;
                    }
                }
            }
        }
        Markdown {
            name: name.to_owned(),
            lines,
            fenced,
            fences,
        }
    }

    /// `name:line` for a 0-based line.
    fn at(&self, line: usize) -> String {
        format!("{}:{}", self.name, line + 1)
    }

    /// The anchors GitHub gives this file's headings.
    fn anchors(&self) -> BTreeSet<String> {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut anchors = BTreeSet::new();
        for (i, line) in self.lines.iter().enumerate() {
            if self.fenced[i] {
                continue;
            }
            let Some(text) = heading(line) else { continue };
            let base = slug(text);
            let n = seen.entry(base.clone()).or_insert(0);
            anchors.insert(if *n == 0 {
                base.clone()
            } else {
                format!("{base}-{n}")
            });
            *n += 1;
        }
        anchors
    }

    /// Every code span outside fenced blocks: its 0-based line and its text.
    fn code_spans(&self) -> Vec<(usize, String)> {
        self.scan().1
    }

    /// The lines outside fenced blocks with code spans blanked out (links inside code are
    /// not links), one per line of the file (fenced lines empty).
    fn prose(&self) -> Vec<String> {
        self.scan().0
    }

    fn scan(&self) -> (Vec<String>, Vec<(usize, String)>) {
        let text: Vec<char> = self
            .lines
            .iter()
            .zip(&self.fenced)
            .map(|(l, f)| if *f { String::new() } else { l.clone() })
            .collect::<Vec<_>>()
            .join("\n")
            .chars()
            .collect();
        let mut out = text.clone();
        let mut spans = Vec::new();
        let mut line = 0;
        let mut i = 0;
        while i < text.len() {
            if text[i] == '\n' {
                line += 1;
                i += 1;
                continue;
            }
            if text[i] != '`' {
                i += 1;
                continue;
            }
            let run = text[i..].iter().take_while(|c| **c == '`').count();
            let start = i + run;
            // The closing run of exactly as many backticks, within the paragraph.
            let mut j = start;
            let mut close = None;
            while j < text.len() {
                if text[j] == '\n' && text.get(j + 1) == Some(&'\n') {
                    break;
                }
                if text[j] == '`' {
                    let r = text[j..].iter().take_while(|c| **c == '`').count();
                    if r == run {
                        close = Some(j);
                        break;
                    }
                    j += r;
                } else {
                    j += 1;
                }
            }
            let Some(end) = close else {
                i = start;
                continue;
            };
            let content: String = text[start..end].iter().collect();
            spans.push((line, content.replace('\n', " ").trim().to_owned()));
            for c in out.iter_mut().take(end).skip(start) {
                if *c != '\n' {
                    *c = ' ';
                }
            }
            line += text[start..end].iter().filter(|c| **c == '\n').count();
            i = end + run;
        }
        let prose = out
            .iter()
            .collect::<String>()
            .split('\n')
            .map(str::to_owned)
            .collect();
        (prose, spans)
    }

    /// Every link target outside code: its 0-based line and the target as written.
    fn links(&self) -> Vec<(usize, String)> {
        let mut links = Vec::new();
        for (i, line) in self.prose().iter().enumerate() {
            let trimmed = line.trim_start();
            // A reference definition: `[label]: target`.
            if trimmed.starts_with('[')
                && let Some(p) = trimmed.find("]: ")
                && !trimmed[..p].contains("](")
            {
                if let Some(target) = trimmed[p + 3..].split_whitespace().next() {
                    links.push((i, target.trim_matches(['<', '>']).to_owned()));
                }
                continue;
            }
            let mut rest = line.as_str();
            while let Some(p) = rest.find("](") {
                let after = &rest[p + 2..];
                let (target, used) = link_target(after);
                links.push((i, target));
                rest = &after[used..];
            }
        }
        links
    }
}

/// A heading's text, for `# …` to `###### …` lines.
fn heading(line: &str) -> Option<&str> {
    let hashes = line.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let rest = &line[hashes..];
    if !rest.starts_with(' ') {
        return None;
    }
    Some(rest.trim().trim_end_matches('#').trim_end())
}

/// GitHub's anchor for a heading: lower case, spaces to `-`, every other character that is not
/// a letter, a digit, `-` or `_` removed. Link syntax counts as its text.
fn slug(heading: &str) -> String {
    let mut text = String::new();
    let mut rest = heading;
    while let Some(p) = rest.find("](") {
        let (_, used) = link_target(&rest[p + 2..]);
        text.push_str(&rest[..p]);
        rest = &rest[p + 2 + used..];
    }
    text.push_str(rest);
    text.trim()
        .chars()
        .flat_map(char::to_lowercase)
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// The target of a link whose `](` came just before `s`, and how much of `s` it took.
fn link_target(s: &str) -> (String, usize) {
    if let Some(inner) = s.strip_prefix('<') {
        let end = inner.find('>').unwrap_or(inner.len());
        return (inner[..end].to_owned(), end + 2);
    }
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => {
                let target = s[..i].split_whitespace().next().unwrap_or("");
                return (target.to_owned(), i + 1);
            }
            ')' => depth -= 1,
            _ => {}
        }
    }
    (
        s.split_whitespace().next().unwrap_or("").to_owned(),
        s.len(),
    )
}

/// `base` (a folder relative to the root) joined with `target`, `.` and `..` resolved; `None`
/// when it climbs out of the repository.
fn resolve(base: &Path, target: &str) -> Option<PathBuf> {
    let mut parts: Vec<String> = Vec::new();
    for c in base.join(target).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

// ---------- (a) links and anchors ----------

/// Every relative link of `files` (paths relative to `root`) resolves to a file or folder, and
/// every `#anchor` to a heading of the Markdown file it names.
fn link_problems(root: &Path, files: &[String]) -> Vec<String> {
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

// ---------- (b) the README's snippet ----------

/// Each `<!-- snippet: PATH -->` block of `md` appears in PATH line for line (trimmed lines, in
/// order, contiguous except at `// …` lines). `md` must hold at least one.
fn snippet_problems(root: &Path, md: &Markdown) -> Vec<String> {
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
fn snippet_drift(md: &Markdown, fence: &Fence, path: &str, source: &[&str]) -> Option<String> {
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

// ---------- (c) what the README names ----------

/// A workspace package: its folder and targets.
struct Package {
    name: String,
    dir: PathBuf,
    bins: BTreeSet<String>,
    tests: BTreeSet<String>,
    benches: BTreeSet<String>,
}

/// The workspace's packages, from the root Cargo.toml's `members` and each member's manifest
/// (declared `[[bin]]`, `[[test]]`, `[[bench]]` and Cargo's auto-discovered targets).
fn packages(root: &Path) -> Vec<Package> {
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
                    let path = entry.path();
                    if path.extension().is_some_and(|e| e == "rs")
                        && let Some(stem) = path.file_stem()
                    {
                        set.insert(stem.to_string_lossy().into_owned());
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
fn sources(dir: &Path, suffixes: &[&str]) -> Vec<PathBuf> {
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

fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("//") || t.starts_with('#') || t.starts_with("/*") || t.starts_with('*')
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every UPPER_SNAKE word (at least one `_`) in `text`.
fn upper_snake(text: &str) -> Vec<String> {
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
fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
    })
}

fn is_kebab(word: &str) -> bool {
    word.contains('-')
        && !word.starts_with('-')
        && !word.ends_with('-')
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// What the README's names are checked against.
struct Repo {
    root: PathBuf,
    packages: Vec<Package>,
    /// UPPER_SNAKE words on the code lines (not comments) of every .rs, .sh and .ts file and
    /// of `.ci/run`.
    settings: BTreeSet<String>,
    /// The CDK context keys infra/ reads (`get, 'key'` and `get('key')` in infra/lib and
    /// infra/bin).
    context_keys: BTreeSet<String>,
}

impl Repo {
    fn load(root: &Path) -> Repo {
        let mut settings = BTreeSet::new();
        let mut files = sources(root, &[".rs", ".sh", ".ts"]);
        files.push(root.join(".ci/run"));
        for file in files {
            // docs.rs itself names settings only to test the check.
            if file.ends_with("tests/support/tests/docs.rs") {
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

    fn package(&self, name: &str) -> Option<&Package> {
        self.packages.iter().find(|p| p.name == name)
    }

    fn bin_package(&self, bin: &str) -> Option<&Package> {
        self.packages.iter().find(|p| p.bins.contains(bin))
    }

    /// Whether `--flag` is in the source of the package that builds `bin`: as `"--flag"`,
    /// `"flag"` (clap's `long = "flag"`) or the field `flag_name` (clap's derive).
    fn bin_has_flag(&self, package: &Package, flag: &str) -> bool {
        let name = flag.trim_start_matches('-');
        let field = name.replace('-', "_");
        sources(&package.dir.join("src"), &[".rs"]).iter().any(|f| {
            let text = read(f);
            text.contains(&format!("\"{name}\"")) || text.contains(flag) || has_word(&text, &field)
        })
    }

    /// A path in the repository, as a README token names it: first folder one of the
    /// repository's own.
    fn names_repo_path(&self, token: &str) -> bool {
        let token = token.trim_start_matches("./");
        if !token.contains('/') || token.contains("://") {
            return false;
        }
        let first = token.split('/').next().unwrap_or("");
        !first.is_empty() && self.root.join(first).is_dir()
    }
}

/// A command or a code span, with its 0-based README line.
struct Snippet {
    line: usize,
    text: String,
    /// From a shell block or a `$ ` line: a command whatever its first word.
    command: bool,
}

/// What the README shows as code: its code spans, the commands of its shell blocks
/// (continuation lines joined, comments cut) and the `$ ` lines of its other blocks; not the
/// Rust snippet, not the diagram.
fn readme_code(md: &Markdown) -> Vec<Snippet> {
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

fn is_assignment(token: &str) -> bool {
    token.split_once('=').is_some_and(|(k, _)| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    })
}

/// Every script, binary, flag, setting and context key the README names exists.
fn name_problems(repo: &Repo, md: &Markdown) -> Vec<String> {
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

fn flag_problems(
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
fn cargo_problems(repo: &Repo, at: &str, words: &[&str]) -> Vec<String> {
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

// ---------- (d) alarms and runbooks, (e) size and audience ----------

/// Every alarm infra/lib defines (`this.add('Id'`, `this.deadLetters('Id'`, `alarms.Id =`),
/// with where it is defined.
fn alarms(root: &Path) -> Vec<(String, String)> {
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
fn every_relative_link_and_anchor_resolves() {
    let root = repo_root();
    failures(link_problems(&root, &doc_files(&root)));
}

#[test]
fn the_readmes_snippet_is_its_source_line_for_line() {
    let root = repo_root();
    let md = Markdown::parse("README.md", &read(&root.join("README.md")));
    failures(snippet_problems(&root, &md));
}

#[test]
fn every_script_binary_flag_and_setting_the_readme_names_exists() {
    let root = repo_root();
    let repo = Repo::load(&root);
    let md = Markdown::parse("README.md", &read(&root.join("README.md")));
    failures(name_problems(&repo, &md));
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

// ---------- the checks themselves can fail ----------

/// A scratch folder under the system's temporary folder, removed on drop.
struct Scratch(PathBuf);

static SCRATCHES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Scratch {
    fn new(files: &[(&str, &str)]) -> Scratch {
        let n = SCRATCHES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("docs-test-{}-{n}", std::process::id()));
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn slugs_follow_githubs_rules() {
    assert_eq!(
        slug("Rotate the password account (`dbAuth=secret`)"),
        "rotate-the-password-account-dbauthsecret"
    );
    assert_eq!(
        slug("RDS Proxy (`proxy=true`, vpc mode)"),
        "rds-proxy-proxytrue-vpc-mode"
    );
    assert_eq!(
        slug("Upgrade the engine's minor version"),
        "upgrade-the-engines-minor-version"
    );
    assert_eq!(
        slug("Recover a stack stuck in `UPDATE_ROLLBACK_FAILED`"),
        "recover-a-stack-stuck-in-update_rollback_failed"
    );
    assert_eq!(slug("Capacity – and cost"), "capacity--and-cost");
    assert_eq!(slug("See [the docs](docs/x.md) now"), "see-the-docs-now");
    let md = Markdown::parse(
        "x.md",
        "# A\n\n```sh\n# not a heading\n```\n## A\n### B b\n",
    );
    assert_eq!(
        md.anchors(),
        BTreeSet::from(["a".to_owned(), "a-1".to_owned(), "b-b".to_owned()])
    );
}

#[test]
fn broken_links_and_anchors_are_named_by_file_and_line() {
    let scratch = Scratch::new(&[
        (
            "README.md",
            "# Top\n\nsee [ok](docs/a.md#first-part), [gone](docs/missing.md),\n\
             [bad anchor](docs/a.md#nope) and [here](#top), [not here](#nowhere).\n\
             `[in code](docs/missing.md)` and [web](https://example.com/x).\n\n```\n[fenced](nope.md)\n```\n",
        ),
        (
            "docs/a.md",
            "# A\n\n## First part\n\n[up](../README.md#top) [out](../../x.md)\n",
        ),
    ]);
    let problems = link_problems(&scratch.0, &["README.md".into(), "docs/a.md".into()]);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(
        problems[0].starts_with("README.md:3: link `docs/missing.md`: no file"),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with("README.md:4: link `docs/a.md#nope`: no heading"),
        "{problems:#?}"
    );
    assert!(
        problems[2].starts_with("README.md:4: link `#nowhere`"),
        "{problems:#?}"
    );
    assert!(
        problems[3].starts_with("docs/a.md:5: link `../../x.md` points outside"),
        "{problems:#?}"
    );
}

#[test]
fn a_snippet_that_drifted_from_its_source_is_named_by_line() {
    let source = "fn main() {\n    let a = 1;\n    let b = 2;\n    let c = 3;\n    println!(\"{a}{b}{c}\");\n}\n";
    let scratch = Scratch::new(&[("src/x.rs", source)]);
    let readme = |body: &str| {
        Markdown::parse(
            "README.md",
            &format!("# X\n\n<!-- snippet: src/x.rs -->\n```rust\n{body}```\n"),
        )
    };
    let good = readme("fn main() {\n    let a = 1;\n    // …\n    println!(\"{a}{b}{c}\");\n}\n");
    assert_eq!(snippet_problems(&scratch.0, &good), Vec::<String>::new());
    let changed = readme("fn main() {\n    let a = 10;\n}\n");
    let problems = snippet_problems(&scratch.0, &changed);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].starts_with("README.md:6: snippet line `let a = 10;`"),
        "{problems:#?}"
    );
    // Without an elision the lines must be contiguous.
    let gap = readme("    let a = 1;\n    let c = 3;\n");
    assert_eq!(snippet_problems(&scratch.0, &gap).len(), 1);
    // Out of order.
    let swapped = readme("    let c = 3;\n    // …\n    let a = 1;\n");
    assert!(
        snippet_problems(&scratch.0, &swapped)[0]
            .contains("appears nowhere in src/x.rs after line 4")
    );
    let none = Markdown::parse("README.md", "# X\n");
    assert!(snippet_problems(&scratch.0, &none)[0].contains("no `<!-- snippet: PATH -->` block"));
}

#[test]
fn unknown_binaries_flags_settings_scripts_and_context_keys_are_named() {
    let repo = Repo::load(&repo_root());
    // Keys read as `get('region')`, `integer(get, 'rulesPerGroup', …)` and across a line break.
    for key in ["region", "rulesPerGroup", "syncSchedule", "engine"] {
        assert!(
            repo.context_keys.contains(key),
            "{key} not found in {:?}",
            repo.context_keys
        );
    }
    let md = Markdown::parse(
        "README.md",
        "# X\n\
         `sg-sync plan --ranges f --security-group-ids a`, `tests/test-all.sh --mysql-only`,\n\
         `cargo test -p ingest-fn --test mysql`, `DATABASE_URL`, `-c mode=vpc`, `ingest-load`\n\
         \n\
         `sg-sync plan --no-such-flag`, `tests/no-such.sh`, `tests/test-all.sh --no-such-flag`\n\
         `cargo test -p ingest-fn --test no_such_suite`, `cargo run -p no-such-package`\n\
         `NO_SUCH_SETTING_ANYWHERE`, `-c noSuchContextKey=1`, `no-such-binary`\n\
         \n\
         ```sh\n\
         no-such-tool --flag \\\n    --more   # a comment\n\
         cargo run --release -p ingest-load --bin ingest-load -- --function f --no-such-load-flag\n\
         ```\n",
    );
    let problems = name_problems(&repo, &md);
    let expected = [
        "README.md:5: `sg-sync --no-such-flag`",
        "README.md:5: `tests/no-such.sh`: no such file",
        "README.md:5: `--no-such-flag` is not a flag of tests/test-all.sh",
        "README.md:6: `cargo … --test no_such_suite`: no test target no_such_suite in ingest-fn",
        "README.md:6: `cargo … -p no-such-package`",
        "README.md:7: `NO_SUCH_SETTING_ANYWHERE` is read nowhere",
        "README.md:7: `-c noSuchContextKey=…`",
        "README.md:7: `no-such-binary` is no [[bin]]",
        "README.md:10: `no-such-tool` is run as a program",
        "README.md:12: `ingest-load --no-such-load-flag`",
    ];
    for e in expected {
        assert!(
            problems.iter().any(|p| p.starts_with(e)),
            "missing {e:?} in {problems:#?}"
        );
    }
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
}
