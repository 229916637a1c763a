//! The checks themselves can fail: each is fed broken input and must name every problem.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::links::link_problems;
use crate::markdown::{Markdown, slug};
use crate::names::{Repo, name_problems};
use crate::repo_root;
use crate::snippet::snippet_problems;

/// A scratch folder under the system's temporary folder, removed on drop.
pub(crate) struct Scratch(PathBuf);

pub(crate) static SCRATCHES: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

impl Scratch {
    pub(crate) fn new(files: &[(&str, &str)]) -> Scratch {
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
    // ingest-fn's `mysql` is a folder, tests/mysql/main.rs, with no [[test]] of its own.
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
