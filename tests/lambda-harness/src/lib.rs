//! The Lambda harness: a Lambda Runtime API on loopback that runs a real function binary the
//! way Lambda does, one invocation at a time, an Invoke API in front of N of them, MySQL
//! (`DATABASE_URL` or a container), a TLS MariaDB, scratch databases, and a TCP fault proxy to
//! put between a client and its server. The function crates' tests, the end-to-end tests and
//! the local stack use them; the load tester (`tests/load`) does not. What needs none of that (configuration lookup, sample events, polling, moto, the
//! infra's environments) is `test_support`, re-exported here under the same paths.

pub mod accounts;
pub mod environments;
pub mod fault_proxy;
pub mod invoke_api;
pub mod mariadb;
pub mod mysql;
pub mod runtime_api;
pub mod scratch;
pub mod socket;

pub use fault_proxy::FaultProxy;
pub use runtime_api::{Outcome, RuntimeApi};
pub use test_support::{events, infra_environments, lookup, moto, poll};

/// A command that runs a function binary (`program`) the way the tests start one: with the test
/// process's environment less `DB_CA_BUNDLE`. That is the RDS bundle for the TLS test
/// (`tests/test-all.sh` exports it), not a setting of the function under test, which gets it
/// only where a test passes it.
pub fn function_command(program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    let mut command = std::process::Command::new(program);
    command.env_remove("DB_CA_BUNDLE");
    command
}

/// A whole number a benchmark reads from its environment (`name`), else `default`: the size
/// and shape of a measurement, set for one run without editing the benchmark. A value that is
/// not a whole number stops the run, naming the variable.
pub fn whole_number_setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number"))
        })
        .unwrap_or(default)
}

/// The runtime a benchmark's `main` runs its measurement on: two workers with I/O and timers,
/// the same for every benchmark so that their figures compare.
pub fn bench_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Builds the workspace's binaries as they are deployed and returns their folder, for the
/// end-to-end tests that run them.
pub fn built_binaries() -> std::path::PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        // The targets `cargo test --workspace` builds, so features unify the same way, plus
        // every binary: `--tests` alone builds a package's binaries only when it has
        // integration tests, and ingest-load's package has none. Without `--bins` a stale
        // binary of the same name (another checkout sharing the target folder) would run.
        .args(["build", "--quiet", "--workspace", "--bins", "--tests"])
        .status()
        .expect("run cargo build");
    assert!(status.success(), "building the function binaries failed");
    // A test runs from <target>/debug/deps/.
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .and_then(|d| d.parent())
        .expect("<target>/debug")
        .to_path_buf()
}
