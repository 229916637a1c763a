//! `INVOKE_BENCH_PROFILE=<folder>`: instead of timing, runs ingest-fn and the no-op function
//! under callgrind, which counts the instructions each executes: a figure that holds on a
//! loaded machine, where times swing. Three runs of each, every one a fresh process behind its
//! own Runtime API: to its first answer (`init`: the cold start's own work), then one SQS batch
//! more (`first-batch`: the statement prepared), then [`BATCHES`] more (`batches`). The
//! difference between the last two, over [`BATCHES`], is what a warm batch costs; the files
//! stay in the folder for `callgrind_annotate --inclusive=yes`. With `DB_CA_BUNDLE`, also
//! ingest-fn's `init` over TLS (`tls-init`), as the TLS rows run it.
//!
//! Needs `valgrind` on the PATH. It follows `exec`, so `INVOKE_BENCH_FUNCTION` may be a script
//! that sets the environment (another way to log in, say) and execs the function. The database
//! work is the server's and not counted: the floor's INSERT costs the function only its client
//! side, which ingest-fn's figure includes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lambda_harness::runtime_api::{RuntimeApi, spawn_function};
use serde_json::json;

use crate::sqs::{NO_FAILURES, SQS_BATCH, sqs_batch};
use crate::{DEPLOYED_LOGGING, TlsDatabase, function_binary};

/// Warm batches counted: enough that the first batch's and the exit's work are noise.
const BATCHES: usize = 50;
/// A process under callgrind runs some 50 times slower; this is far above what it needs.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(300);

pub(crate) async fn run(folder: &Path, db_url: &str, tls: Option<&TlsDatabase>) {
    std::fs::create_dir_all(folder).unwrap_or_else(|e| panic!("create {}: {e}", folder.display()));
    let me = std::env::current_exe().expect("the bench binary's path");
    let ingest_env = [&[("DATABASE_URL", db_url)][..], &DEPLOYED_LOGGING].concat();
    let noop_env = [("INVOKE_BENCH_ROLE", "noop")];
    let functions = [
        ("ingest-fn", function_binary(), &ingest_env[..]),
        ("noop", me.display().to_string(), &noop_env[..]),
    ];
    let mut per_batch = Vec::new();
    for (name, program, env) in functions {
        // Each run's batches are new messages, so ingest-fn inserts every row.
        let init = profiled(folder, name, "init", &program, env, 0..0).await;
        let first = profiled(folder, name, "first-batch", &program, env, 1000..1001).await;
        let batches = profiled(folder, name, "batches", &program, env, 2000..2001 + BATCHES).await;
        let batch = batches.saturating_sub(first) / BATCHES as u64;
        println!(
            "{name:<10} instructions: {init:>12} to its first answer (init and one event), \
             {batch:>10} per SQS batch of {SQS_BATCH} ({} per message)",
            batch / SQS_BATCH as u64
        );
        per_batch.push(batch);
    }
    if let Some(tls) = tls {
        let env = [&tls.env()[..], &DEPLOYED_LOGGING].concat();
        let init = profiled(
            folder,
            "ingest-fn",
            "tls-init",
            &function_binary(),
            &env,
            0..0,
        )
        .await;
        println!(
            "ingest-fn over TLS (verify-identity, {} certificates): {init:>12} instructions to \
             its first answer",
            tls.certificates
        );
    }
    if let [ingest, noop] = per_batch[..] {
        println!(
            "ingest-fn's instructions per batch beyond the no-op function's: {} ({:.2} x); \
             callgrind files in {}",
            ingest.saturating_sub(noop),
            ingest as f64 / noop as f64,
            folder.display()
        );
    }
}

/// Runs `program` under callgrind against a Runtime API of its own: one direct event, then
/// the SQS batches numbered `batches`; stops it with SIGTERM (callgrind writes its file when
/// the process ends) and returns the instructions counted.
async fn profiled(
    folder: &Path,
    name: &str,
    phase: &str,
    program: &str,
    env: &[(&str, &str)],
    batches: std::ops::Range<usize>,
) -> u64 {
    let out = folder.join(format!("{name}.{phase}.callgrind"));
    let script = folder.join(format!("{name}.{phase}.sh"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec valgrind -q --tool=callgrind --trace-children=yes \
             --callgrind-out-file='{}' '{program}'\n",
            out.display()
        ),
    )
    .unwrap_or_else(|e| panic!("write {}: {e}", script.display()));
    make_executable(&script);
    let api = RuntimeApi::start()
        .await
        .with_invoke_timeout(INVOKE_TIMEOUT);
    let (mut child, _) = spawn_function(&script.display().to_string(), &api, env);
    let first = api
        .invoke(json!({"source": "profile", "val1": 1, "val2": 2}).to_string())
        .await;
    assert!(!first.error, "{}", first.body);
    for b in batches {
        let out = api.invoke(sqs_batch(b).to_string()).await;
        assert_eq!(out.body, NO_FAILURES);
    }
    // Not `RuntimeApi::shutdown`: Lambda's 500 ms would kill a process this slow, and a killed
    // process leaves no file. SIGTERM ends the no-op function at once and ingest-fn through its
    // shutdown handler.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM {}", child.id());
    let exited = loop {
        if let Some(status) = child.try_wait().expect("wait for the function") {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let text = std::fs::read_to_string(&out)
        .unwrap_or_else(|e| panic!("{name} ({exited}) left no {}: {e}", out.display()));
    instructions(&text).unwrap_or_else(|| panic!("no totals line in {}", out.display()))
}

fn make_executable(path: &PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// The instructions a callgrind file counts: its `totals:` line, else its `summary:` line.
fn instructions(callgrind: &str) -> Option<u64> {
    let line = |key: &str| {
        callgrind
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|n| n.split_whitespace().next()?.parse().ok())
    };
    line("totals:").or_else(|| line("summary:"))
}
