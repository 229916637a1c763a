//! A minimal Lambda Runtime API (`next`, `response`, `error`, `init/error`) and Extensions API
//! (`register`, `event/next`) on loopback, a launcher for function binaries behind it, and
//! Lambda's shutdown: SIGTERM only to a runtime with a registered extension, SIGKILL after the
//! phase's limit.
//! https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html#runtimes-lifecycle-shutdown
//!
//! An invocation waits for the function's answer, its process's exit, or [`INVOKE_TIMEOUT`],
//! whichever comes first: a function that dies (in init or mid-invocation) fails the test with
//! its last log lines instead of hanging it.

use std::collections::{HashMap, VecDeque};
use std::io::BufRead;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use rustix::process::{Pid, PidfdFlags, WaitId, WaitIdOptions, pidfd_open, waitid};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Notify, mpsc, oneshot};

/// What one invocation took, as the Runtime API saw it: from handing out the event to
/// receiving the function's response.
#[derive(Debug)]
pub struct Outcome {
    /// The `Lambda-Runtime-Aws-Request-Id` the invocation was handed out with.
    pub request_id: String,
    pub latency: Duration,
    pub done: Instant,
    pub body: String,
    pub error: bool,
    /// The environment's first invocation (its REPORT line carries an Init Duration).
    pub cold: bool,
}

type Pending = Arc<Mutex<HashMap<String, (Instant, oneshot::Sender<Outcome>)>>>;
/// An invocation waiting for the function: request id, event, where to report.
type Invocation = (String, String, oneshot::Sender<Outcome>);

/// Extensions registered through the Extensions API, and how many wait in `event/next`.
#[derive(Default)]
struct Extensions {
    registered: std::sync::Mutex<Vec<String>>,
    waiting: std::sync::atomic::AtomicUsize,
    changed: Notify,
}

impl Extensions {
    /// Lambda's init phase ends when the runtime and every extension have called `next`.
    async fn all_waiting(&self) {
        loop {
            let notified = self.changed.notified();
            let registered = self.registered.lock().map(|r| r.len()).unwrap_or(0);
            if self.waiting.load(std::sync::atomic::Ordering::SeqCst) >= registered {
                return;
            }
            notified.await;
        }
    }
}

/// Lambda's freeze between invocations, when asked for ([`RuntimeApi::freezing`]): once the
/// runtime waits in `next` with no event to hand out, its process is stopped (SIGSTOP) until the
/// next event comes (SIGCONT), so nothing it does after asking for the next event runs until
/// then. "Lambda freezes the execution environment when the runtime and each extension have
/// completed and there are no pending events."
/// https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html
#[derive(Default)]
struct Freezer {
    enabled: std::sync::atomic::AtomicBool,
    pid: std::sync::Mutex<Option<Pid>>,
    frozen: std::sync::atomic::AtomicBool,
    changed: Notify,
}

impl Freezer {
    fn enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    fn signal(&self, signal: rustix::process::Signal) {
        let pid = *self.pid.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pid) = pid {
            // ESRCH: the process has exited, which the invocation's exit watch reports.
            let _ = rustix::process::kill_process(pid, signal);
        }
    }

    fn freeze(&self) {
        if !self.enabled() {
            return;
        }
        self.signal(rustix::process::Signal::STOP);
        self.frozen.store(true, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    fn thaw(&self) {
        if !self.enabled() {
            return;
        }
        self.frozen.store(false, Ordering::SeqCst);
        self.signal(rustix::process::Signal::CONT);
    }
}

/// How a shutdown went, as Lambda would have done it.
#[derive(Debug)]
pub struct Shutdown {
    /// SIGTERM was sent: at least one extension had registered.
    pub sigterm: bool,
    /// The process exited by itself within the limit (else it was killed).
    pub exited_in_time: bool,
    pub status: ExitStatus,
}

/// The memory size the local environments claim: the deployed ingest-fn's
/// (`infra/lib/ingest-function.ts`), so cost estimates from local REPORT lines use it.
pub const MEMORY_SIZE_MB: u32 = 256;

/// The shutdown phase's limit for a function with internal extensions only.
pub const SHUTDOWN_LIMIT: Duration = Duration::from_millis(500);

/// How long an invocation waits for a live function's answer by default: far above anything
/// these functions take on a loaded 2-core machine, so only a stuck function reaches it.
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(120);

/// How many of a function's last log lines an [`InvokeError`] shows.
const LOG_TAIL_LINES: usize = 20;

/// Why an invocation got no answer.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error(
        "{function} exited ({status}) before answering {request_id}{init_error}; its last log \
         lines:\n{log}"
    )]
    Exited {
        function: String,
        request_id: String,
        status: String,
        /// `: it reported the init error …` when it called `init/error` first.
        init_error: String,
        log: String,
    },
    #[error("{function} did not answer {request_id} within {after:?}; its last log lines:\n{log}")]
    TimedOut {
        function: String,
        request_id: String,
        after: Duration,
        log: String,
    },
    #[error("the Runtime API was dropped before {request_id} was answered")]
    Dropped { request_id: String },
}

/// The last lines a function process wrote to stdout and stderr, kept so that a failed
/// invocation can say why.
#[derive(Default)]
struct LogTail {
    lines: std::sync::Mutex<VecDeque<String>>,
    /// Streams not yet at their end.
    open: AtomicUsize,
    closed: Notify,
}

impl LogTail {
    /// Reads `stream` line by line on a thread of its own, keeping the last lines; `echo`
    /// copies each line to this process's stderr as well.
    fn follow(self: &Arc<Self>, stream: impl std::io::Read + Send + 'static, echo: bool) {
        self.open.fetch_add(1, Ordering::SeqCst);
        let tail = self.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stream)
                .lines()
                .map_while(Result::ok)
            {
                if echo {
                    eprintln!("{line}");
                }
                let mut lines = tail.lines.lock().unwrap_or_else(PoisonError::into_inner);
                if lines.len() == LOG_TAIL_LINES {
                    lines.pop_front();
                }
                lines.push_back(line);
            }
            tail.open.fetch_sub(1, Ordering::SeqCst);
            tail.closed.notify_waiters();
        });
    }

    /// The last lines, once every stream has ended (a process that exited closed them) or
    /// `within` has passed.
    async fn text(&self, within: Duration) -> String {
        let ended = async {
            loop {
                let notified = self.closed.notified();
                if self.open.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(within, ended).await;
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if lines.is_empty() {
            return "(none)".to_owned();
        }
        lines
            .iter()
            .fold(String::new(), |text, l| text + "  " + l + "\n")
    }
}

/// The function process behind a [`RuntimeApi`], watched through a pidfd, which turns readable
/// when the process exits (pidfd_open(2)); its exit status is read without reaping it, so the
/// owner of its [`Child`] can still wait for it.
struct Function {
    name: String,
    exit: AsyncFd<OwnedFd>,
    log: Arc<LogTail>,
}

impl Function {
    /// Resolves once the process has exited, with its status in words.
    async fn exited(&self) -> String {
        if let Err(e) = self.exit.readable().await {
            return format!("its pidfd failed: {e}");
        }
        let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
        match waitid(WaitId::PidFd(self.exit.get_ref().as_fd()), options) {
            Ok(Some(status)) => match (status.exit_status(), status.terminating_signal()) {
                (Some(code), _) => format!("exit status {code}"),
                (None, Some(signal)) => format!("killed by signal {signal}"),
                (None, None) => "status unknown".to_owned(),
            },
            Ok(None) => "status unknown".to_owned(),
            // Already reaped by the owner of its Child.
            Err(e) => format!("status already collected: {e}"),
        }
    }
}

/// A minimal Lambda Runtime API (the `next` / `response` / `error` calls) on loopback.
pub struct RuntimeApi {
    pub port: u16,
    queue: mpsc::Sender<Invocation>,
    counter: std::sync::atomic::AtomicU64,
    extensions: Arc<Extensions>,
    freezer: Arc<Freezer>,
    /// What the function sent to `init/error`, if it did.
    init_error: Arc<std::sync::Mutex<Option<String>>>,
    /// The process started against this API by [`spawn_function`].
    function: std::sync::Mutex<Option<Arc<Function>>>,
    invoke_timeout: Duration,
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::channel::<Invocation>(1);
        let rx = Arc::new(Mutex::new(rx));
        let pending: Pending = Arc::default();
        let extensions: Arc<Extensions> = Arc::default();
        let init_error: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
        let freezer: Arc<Freezer> = Arc::default();
        let shared = (extensions.clone(), init_error.clone(), freezer.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                stream.set_nodelay(true).unwrap();
                let state = State {
                    queue: rx.clone(),
                    pending: pending.clone(),
                    extensions: shared.0.clone(),
                    freezer: shared.2.clone(),
                    init_error: shared.1.clone(),
                };
                tokio::spawn(serve(stream, state));
            }
        });
        RuntimeApi {
            port,
            queue: tx,
            counter: 0.into(),
            extensions,
            freezer,
            init_error,
            function: std::sync::Mutex::new(None),
            invoke_timeout: INVOKE_TIMEOUT,
        }
    }

    /// How long an invocation waits for a live function's answer (default [`INVOKE_TIMEOUT`]).
    pub fn with_invoke_timeout(mut self, timeout: Duration) -> RuntimeApi {
        self.invoke_timeout = timeout;
        self
    }

    /// Freezes the function between invocations, as Lambda does ([`Freezer`]).
    pub fn freezing(self) -> RuntimeApi {
        self.freezer.enabled.store(true, Ordering::SeqCst);
        self
    }

    /// Waits until the function is frozen: after an invocation, once it has asked for the
    /// next event. Only with [`RuntimeApi::freezing`].
    pub async fn frozen(&self) {
        loop {
            let notified = self.freezer.changed.notified();
            if self.freezer.frozen.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }

    /// Watches `child`, started against this API, for the invocations to come.
    fn watch(&self, name: String, child: &Child, log: Arc<LogTail>) -> std::io::Result<()> {
        *self
            .freezer
            .pid
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Pid::from_child(child));
        let pidfd = pidfd_open(Pid::from_child(child), PidfdFlags::NONBLOCK)?;
        // SAFETY: the AsyncFd takes the OwnedFd and owns it until it is dropped, so the
        // descriptor stays open and the same for its whole life.
        let exit =
            unsafe { AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE) }?;
        let function = Function { name, exit, log };
        *self.function.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(function));
        Ok(())
    }

    /// The names of the extensions that registered.
    pub fn extensions(&self) -> Vec<String> {
        self.extensions
            .registered
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Ends the environment as Lambda does: SIGTERM if an extension registered (Lambda sends
    /// none otherwise), then SIGKILL once [`SHUTDOWN_LIMIT`] has passed.
    pub async fn shutdown(&self, child: &mut Child) -> Shutdown {
        // Lambda thaws a frozen environment for its shutdown phase.
        self.freezer.thaw();
        let sigterm = !self.extensions().is_empty();
        if sigterm {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + SHUTDOWN_LIMIT;
            while Instant::now() < deadline {
                if let Ok(Some(status)) = child.try_wait() {
                    return Shutdown {
                        sigterm,
                        exited_in_time: true,
                        status,
                    };
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let _ = child.kill();
        Shutdown {
            sigterm,
            exited_in_time: false,
            status: child.wait().expect("wait for the function"),
        }
    }

    /// Hands `event` to the function and waits for its response or error; panics with the
    /// function's last log lines when it exits first or does not answer in time.
    pub async fn invoke(&self, event: String) -> Outcome {
        self.try_invoke(event)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`RuntimeApi::invoke`], returning why no answer came instead of panicking.
    pub async fn try_invoke(&self, event: String) -> Result<Outcome, InvokeError> {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let request_id = format!("bench-{n}");
        let (tx, rx) = oneshot::channel();
        let answered = async {
            self.queue
                .send((request_id.clone(), event, tx))
                .await
                .ok()?;
            rx.await.ok()
        };
        let function = self
            .function
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let exited = async {
            match &function {
                Some(f) => f.exited().await,
                None => std::future::pending().await,
            }
        };
        let name = || {
            function
                .as_ref()
                .map_or("the function".into(), |f| f.name.clone())
        };
        // An answer wins over an exit seen at the same time: the Runtime API records the
        // answer before acknowledging it, so a function that answered and then exited counts.
        tokio::select! {
            biased;
            outcome = answered => match outcome {
                Some(mut outcome) => {
                    outcome.cold = n == 0;
                    Ok(outcome)
                }
                None => Err(InvokeError::Dropped { request_id }),
            },
            status = exited => {
                let init_error = self
                    .init_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref()
                    .map(|e| format!(": it reported the init error {e}"))
                    .unwrap_or_default();
                Err(InvokeError::Exited {
                    function: name(),
                    request_id,
                    status,
                    init_error,
                    log: Self::log_tail(&function, Duration::from_secs(2)).await,
                })
            }
            () = tokio::time::sleep(self.invoke_timeout) => Err(InvokeError::TimedOut {
                function: name(),
                request_id,
                after: self.invoke_timeout,
                log: Self::log_tail(&function, Duration::ZERO).await,
            }),
        }
    }

    /// The function's last log lines; `settle` is how long to wait for the rest of an exited
    /// process's output (its pipes end once read empty).
    async fn log_tail(function: &Option<Arc<Function>>, settle: Duration) -> String {
        match function {
            Some(f) => f.log.text(settle).await,
            None => "(not started by spawn_function)".to_owned(),
        }
    }
}

/// One HTTP/1.1 request as these loopback servers need it.
pub struct Request {
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads the next request of a keep-alive connection; `None` when the client is gone.
pub async fn read_request<R: tokio::io::AsyncBufRead + Unpin>(read: &mut R) -> Option<Request> {
    let mut line = String::new();
    if read.read_line(&mut line).await.unwrap_or(0) == 0 {
        return None;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if read.read_line(&mut h).await.unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    read.read_exact(&mut body).await.ok()?;
    Some(Request {
        path,
        headers,
        body,
    })
}

/// What every connection to the Runtime API shares.
struct State {
    queue: Arc<Mutex<mpsc::Receiver<Invocation>>>,
    pending: Pending,
    extensions: Arc<Extensions>,
    freezer: Arc<Freezer>,
    init_error: Arc<std::sync::Mutex<Option<String>>>,
}

async fn serve(stream: TcpStream, state: State) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    while let Some(request) = read_request(&mut read).await {
        let path = request.path.as_str();
        if path.ends_with("/extension/register") {
            register_extension(&request, &state.extensions, &mut write).await;
        } else if path.ends_with("/extension/event/next") {
            // An extension subscribed to no events waits here for good; its process ends at
            // shutdown.
            state
                .extensions
                .waiting
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            state.extensions.changed.notify_waiters();
            std::future::pending::<()>().await;
        } else if path.ends_with("/invocation/next") {
            state.extensions.all_waiting().await;
            let mut queue = state.queue.lock().await;
            let invocation = match queue.try_recv() {
                Ok(invocation) => Some(invocation),
                Err(_) => {
                    state.freezer.freeze();
                    let invocation = queue.recv().await;
                    state.freezer.thaw();
                    invocation
                }
            };
            drop(queue);
            let Some(invocation) = invocation else {
                return;
            };
            hand_out(invocation, &state.pending, &mut write).await;
        } else {
            report(&request, &state, &mut write).await;
        }
    }
}

/// `POST /extension/register`: records the extension's name.
async fn register_extension(
    request: &Request,
    extensions: &Extensions,
    write: &mut OwnedWriteHalf,
) {
    let name = request
        .header("lambda-extension-name")
        .unwrap_or_default()
        .to_owned();
    let id = {
        let mut registered = extensions.registered.lock().unwrap();
        registered.push(name);
        format!("extension-{}", registered.len())
    };
    let body = r#"{"functionName":"ingest-fn","functionVersion":"$LATEST","handler":"bootstrap","accountId":"123456789012"}"#;
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nlambda-extension-identifier: {id}\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    write.write_all(head.as_bytes()).await.unwrap();
    write.write_all(body.as_bytes()).await.unwrap();
}

/// The answer to `GET /invocation/next`: the event, with its request id in the headers.
async fn hand_out(invocation: Invocation, pending: &Pending, write: &mut OwnedWriteHalf) {
    let (id, event, done) = invocation;
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nlambda-runtime-aws-request-id: {id}\r\n\
         lambda-runtime-deadline-ms: 9999999999999\r\nlambda-runtime-invoked-function-arn: \
         arn:aws:lambda:ap-northeast-1:123456789012:function:ingest-fn\r\ncontent-length: {}\r\n\r\n",
        event.len()
    );
    pending.lock().await.insert(id, (Instant::now(), done));
    write.write_all(head.as_bytes()).await.unwrap();
    write.write_all(event.as_bytes()).await.unwrap();
}

/// `POST /invocation/{id}/response|error`, or `POST /init/error`, kept for the invocation
/// that the function's exit will fail. Recorded before the 202: a function may exit as soon as
/// it has its acknowledgement.
async fn report(request: &Request, state: &State, write: &mut OwnedWriteHalf) {
    let now = Instant::now();
    let body = String::from_utf8_lossy(&request.body).into_owned();
    let parts: Vec<&str> = request.path.split('/').collect();
    // /2018-06-01/runtime/invocation/{id}/response|error
    if parts.len() < 6 || parts[3] != "invocation" {
        *state
            .init_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(body);
    } else if let Some((sent, done)) = state.pending.lock().await.remove(parts[4]) {
        let _ = done.send(Outcome {
            request_id: parts[4].to_owned(),
            latency: now - sent,
            done: now,
            body,
            error: parts[5] == "error",
            cold: false,
        });
    }
    write
        .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
}

/// Drops `program`'s pages from the page cache, so the next process maps them as read from disk,
/// as a new Lambda environment reads its deployment package, rather than as the linker left
/// them: how much of a binary is resident (its RSS) depends on that.
pub fn evict_from_page_cache(program: &str) -> std::io::Result<()> {
    let file = std::fs::File::open(program)?;
    // Pages not yet written back cannot be dropped.
    file.sync_all()?;
    rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed)?;
    Ok(())
}

/// Starts a function binary against `api` with the Lambda environment variables set. Its
/// stdout (where Lambda's runtimes write their logs) and stderr are kept for [`InvokeError`];
/// stderr is copied to this process's too.
pub fn spawn_function(program: &str, api: &RuntimeApi, env: &[(&str, &str)]) -> (Child, Instant) {
    spawn_watched(program, api, env, None)
}

/// [`spawn_function`] with the function's stdout going to `stdout` instead (only stderr is
/// kept for [`InvokeError`]).
pub fn spawn_function_logging(
    program: &str,
    api: &RuntimeApi,
    env: &[(&str, &str)],
    stdout: Stdio,
) -> (Child, Instant) {
    spawn_watched(program, api, env, Some(stdout))
}

/// Spawns the function as [`spawn_function_logging`] does with its stdout piped, and reads
/// every line it writes there on a thread of its own (so a full pipe never stalls it): join
/// the handle, after [`RuntimeApi::shutdown`], for the lines, in order.
pub fn spawn_function_reading_stdout(
    program: &str,
    api: &RuntimeApi,
    env: &[(&str, &str)],
) -> (Child, std::thread::JoinHandle<Vec<String>>) {
    use std::io::BufRead;

    let (mut function, _) = spawn_function_logging(program, api, env, Stdio::piped());
    let stdout = function
        .stdout
        .take()
        .unwrap_or_else(|| panic!("the function {program}'s stdout, piped"));
    let lines = std::thread::spawn(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    (function, lines)
}

fn spawn_watched(
    program: &str,
    api: &RuntimeApi,
    env: &[(&str, &str)],
    stdout: Option<Stdio>,
) -> (Child, Instant) {
    let keep_stdout = stdout.is_none();
    let mut cmd = crate::function_command(program);
    cmd.env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{}", api.port))
        .env("AWS_LAMBDA_FUNCTION_NAME", "ingest-fn")
        .env(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            MEMORY_SIZE_MB.to_string(),
        )
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_LEVEL", "WARN")
        .stdout(stdout.unwrap_or_else(Stdio::piped))
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn the function {program}: {e}"));
    let log = Arc::new(LogTail::default());
    // A caller that chose where stdout goes may have piped it to read it itself.
    if keep_stdout && let Some(out) = child.stdout.take() {
        log.follow(out, false);
    }
    if let Some(err) = child.stderr.take() {
        log.follow(err, true);
    }
    let name = std::path::Path::new(program)
        .file_name()
        .map_or(program.into(), |n| n.to_string_lossy().into_owned());
    api.watch(name, &child, log)
        .unwrap_or_else(|e| panic!("watch {program} (pid {}) for its exit: {e}", child.id()));
    (child, start)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An executable shell script standing in for a function binary.
    fn script(name: &str, body: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("runtime-api-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.to_str().unwrap().to_owned()
    }

    // The timeout is far away: only the exit can end the invocation.
    #[tokio::test]
    async fn a_function_that_exits_during_init_fails_the_invocation_with_its_last_lines() {
        let api = RuntimeApi::start()
            .await
            .with_invoke_timeout(Duration::from_secs(3600));
        let program = script(
            "exits-in-init",
            "echo 'reading the configuration'\necho 'Error: DB_HOST is not set' >&2\nexit 3",
        );
        let (mut child, _) = spawn_function(&program, &api, &[]);
        let error = api.try_invoke("{}".into()).await.unwrap_err();
        let InvokeError::Exited {
            function,
            status,
            log,
            ..
        } = &error
        else {
            panic!("not an exit: {error}");
        };
        assert_eq!(function, "exits-in-init");
        assert_eq!(status, "exit status 3");
        assert!(log.contains("reading the configuration"), "{error}");
        assert!(log.contains("Error: DB_HOST is not set"), "{error}");
        // Not reaped: the owner of the Child still collects its status.
        assert_eq!(child.wait().unwrap().code(), Some(3));
    }

    #[tokio::test]
    async fn a_function_that_never_asks_for_the_event_times_out() {
        let api = RuntimeApi::start()
            .await
            .with_invoke_timeout(Duration::from_millis(300));
        let program = script("stuck", "echo 'connecting to the database'\nexec sleep 600");
        let (mut child, _) = spawn_function(&program, &api, &[]);
        let error = api.try_invoke("{}".into()).await.unwrap_err();
        child.kill().unwrap();
        child.wait().unwrap();
        let InvokeError::TimedOut { function, log, .. } = &error else {
            panic!("not a timeout: {error}");
        };
        assert_eq!(function, "stuck");
        assert!(log.contains("connecting to the database"), "{error}");
    }

    #[tokio::test]
    #[should_panic(expected = "exited (exit status 1) before answering bench-0")]
    async fn invoke_panics_with_the_reason() {
        let api = RuntimeApi::start().await;
        let (_child, _) = spawn_function(&script("fails", "exit 1"), &api, &[]);
        api.invoke("{}".into()).await;
    }
}
