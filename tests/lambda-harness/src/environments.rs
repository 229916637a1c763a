//! A pool of execution environments, as Lambda scales a function: N processes of the same
//! binary, each behind its own Runtime API and so with its own connection pool, each running
//! one invocation at a time. An invocation goes to an idle environment and waits for one when
//! all are busy (Lambda would start another, up to the function's concurrency; here N is the
//! concurrency).

use std::path::PathBuf;
use std::process::Child;
use std::sync::Arc;

use tokio::sync::{Mutex, mpsc};

use crate::runtime_api::{Outcome, RuntimeApi, spawn_function};

/// Anything that runs an invocation the way Lambda does: one function, any number of
/// environments. The Invoke API serves either a single [`RuntimeApi`] or an [`Environments`].
pub trait Invoke: Send + Sync + 'static {
    fn invoke(&self, event: String) -> impl Future<Output = Outcome> + Send;
}

impl Invoke for RuntimeApi {
    fn invoke(&self, event: String) -> impl Future<Output = Outcome> + Send {
        RuntimeApi::invoke(self, event)
    }
}

/// The folder of the running binary (where cargo put `migrate` beside it) and the ingest-fn
/// binary to run: `chosen`, else the one in that folder. Errors say how to build one.
pub fn ingest_fn_binary(chosen: Option<PathBuf>) -> Result<(PathBuf, PathBuf), String> {
    let bin = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(PathBuf::from))
        .ok_or("this binary's folder is unknown")?;
    let function = chosen.unwrap_or_else(|| bin.join("ingest-fn"));
    if !function.is_file() {
        return Err(format!(
            "{}: no ingest-fn binary there (cargo build --release -p ingest-fn, then --function)",
            function.display()
        ));
    }
    Ok((bin, function))
}

pub struct Environments {
    apis: Vec<Arc<RuntimeApi>>,
    children: std::sync::Mutex<Vec<Child>>,
    idle: Mutex<mpsc::UnboundedReceiver<usize>>,
    release: mpsc::UnboundedSender<usize>,
}

impl Environments {
    /// Starts `n` environments of `program` with `env` set (plus the Lambda variables).
    pub async fn start(program: &str, n: usize, env: &[(&str, &str)]) -> Environments {
        let (release, idle) = mpsc::unbounded_channel();
        let mut apis = Vec::with_capacity(n);
        let mut children = Vec::with_capacity(n);
        for i in 0..n {
            let api = Arc::new(RuntimeApi::start().await);
            let (child, _) = spawn_function(program, &api, env);
            apis.push(api);
            children.push(child);
            let _ = release.send(i);
        }
        Environments {
            apis,
            children: std::sync::Mutex::new(children),
            idle: Mutex::new(idle),
            release,
        }
    }

    pub fn len(&self) -> usize {
        self.apis.len()
    }

    pub fn is_empty(&self) -> bool {
        self.apis.is_empty()
    }

    /// The process ids, for reading their CPU time.
    pub fn pids(&self) -> Vec<u32> {
        self.children
            .lock()
            .map(|c| c.iter().map(Child::id).collect())
            .unwrap_or_default()
    }

    /// Ends every environment as Lambda does (SIGTERM when an extension registered, SIGKILL
    /// after the shutdown limit).
    pub async fn shutdown(&self) {
        let children = self
            .children
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default();
        for (api, mut child) in self.apis.iter().zip(children) {
            api.shutdown(&mut child).await;
        }
    }
}

impl Invoke for Environments {
    async fn invoke(&self, event: String) -> Outcome {
        let i = {
            let mut idle = self.idle.lock().await;
            // The sender lives in self, so the channel never closes while self exists.
            idle.recv().await.unwrap_or(0)
        };
        let outcome = self.apis[i].invoke(event).await;
        let _ = self.release.send(i);
        outcome
    }
}

impl Drop for Environments {
    fn drop(&mut self) {
        if let Ok(children) = self.children.get_mut() {
            for child in children.iter_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
