//! Markdown, the subset the docs use: ATX headings, `[text](target)` links, code spans,
//! fenced blocks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

/// A fenced code block: its info string and the 0-based line numbers of its body.
pub(crate) struct Fence {
    pub(crate) info: String,
    pub(crate) open: usize,
    pub(crate) body: std::ops::Range<usize>,
}

/// One Markdown file, split into what the checks read.
pub(crate) struct Markdown {
    /// Relative to the repository root, `/`-separated, for messages.
    pub(crate) name: String,
    pub(crate) lines: Vec<String>,
    /// Per line: part of a fenced block, fence lines included.
    pub(crate) fenced: Vec<bool>,
    pub(crate) fences: Vec<Fence>,
}

impl Markdown {
    pub(crate) fn parse(name: &str, text: &str) -> Markdown {
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
    pub(crate) fn at(&self, line: usize) -> String {
        format!("{}:{}", self.name, line + 1)
    }

    /// The anchors GitHub gives this file's headings.
    pub(crate) fn anchors(&self) -> BTreeSet<String> {
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
    pub(crate) fn code_spans(&self) -> Vec<(usize, String)> {
        self.scan().1
    }

    /// The lines outside fenced blocks with code spans blanked out (links inside code are
    /// not links), one per line of the file (fenced lines empty).
    pub(crate) fn prose(&self) -> Vec<String> {
        self.scan().0
    }

    pub(crate) fn scan(&self) -> (Vec<String>, Vec<(usize, String)>) {
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
    pub(crate) fn links(&self) -> Vec<(usize, String)> {
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
pub(crate) fn heading(line: &str) -> Option<&str> {
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
pub(crate) fn slug(heading: &str) -> String {
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
pub(crate) fn link_target(s: &str) -> (String, usize) {
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
pub(crate) fn resolve(base: &Path, target: &str) -> Option<PathBuf> {
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
