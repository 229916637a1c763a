//! A minimal Lambda Runtime API (`next`, `response`, `error`, `init/error`) and Extensions API
//! (`register`, `event/next`) on loopback, a launcher for function binaries behind it, and
//! Lambda's shutdown: SIGTERM only to a runtime with a registered extension, SIGKILL after the
//! phase's limit.
//! https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html#runtimes-lifecycle-shutdown

use std::collections::HashMap;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Notify, mpsc, oneshot};

/// What one invocation took, as the Runtime API saw it: from handing out the event to
/// receiving the function's response.
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

/// A minimal Lambda Runtime API (the `next` / `response` / `error` calls) on loopback.
pub struct RuntimeApi {
    pub port: u16,
    queue: mpsc::Sender<Invocation>,
    counter: std::sync::atomic::AtomicU64,
    extensions: Arc<Extensions>,
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::channel::<Invocation>(1);
        let rx = Arc::new(Mutex::new(rx));
        let pending: Pending = Arc::default();
        let extensions: Arc<Extensions> = Arc::default();
        let shared = extensions.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                stream.set_nodelay(true).unwrap();
                tokio::spawn(serve(stream, rx.clone(), pending.clone(), shared.clone()));
            }
        });
        RuntimeApi {
            port,
            queue: tx,
            counter: 0.into(),
            extensions,
        }
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

    /// Hands `event` to the function and waits for its response or error.
    pub async fn invoke(&self, event: String) -> Outcome {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.queue
            .send((format!("bench-{n}"), event, tx))
            .await
            .unwrap();
        let mut outcome = rx.await.expect("the function died");
        outcome.cold = n == 0;
        outcome
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

async fn serve(
    stream: TcpStream,
    queue: Arc<Mutex<mpsc::Receiver<Invocation>>>,
    pending: Pending,
    extensions: Arc<Extensions>,
) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    while let Some(request) = read_request(&mut read).await {
        let path = request.path.as_str();
        if path.ends_with("/extension/register") {
            register_extension(&request, &extensions, &mut write).await;
        } else if path.ends_with("/extension/event/next") {
            // An extension subscribed to no events waits here for good; its process ends at
            // shutdown.
            extensions
                .waiting
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            extensions.changed.notify_waiters();
            std::future::pending::<()>().await;
        } else if path.ends_with("/invocation/next") {
            extensions.all_waiting().await;
            let Some(invocation) = queue.lock().await.recv().await else {
                return;
            };
            hand_out(invocation, &pending, &mut write).await;
        } else {
            report(&request, &pending, &mut write).await;
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

/// `POST /invocation/{id}/response|error`, or an init error, which ends the test.
async fn report(request: &Request, pending: &Pending, write: &mut OwnedWriteHalf) {
    let now = Instant::now();
    write
        .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    let parts: Vec<&str> = request.path.split('/').collect();
    // /2018-06-01/runtime/invocation/{id}/response|error
    if parts.len() < 6 || parts[3] != "invocation" {
        panic!(
            "the function reported an init error: {}",
            String::from_utf8_lossy(&request.body)
        );
    }
    if let Some((sent, done)) = pending.lock().await.remove(parts[4]) {
        let _ = done.send(Outcome {
            request_id: parts[4].to_owned(),
            latency: now - sent,
            done: now,
            body: String::from_utf8_lossy(&request.body).into_owned(),
            error: parts[5] == "error",
            cold: false,
        });
    }
}

/// Starts a function binary against `api` with the Lambda environment variables set.
pub fn spawn_function(program: &str, api: &RuntimeApi, env: &[(&str, &str)]) -> (Child, Instant) {
    spawn_function_logging(program, api, env, Stdio::null())
}

/// [`spawn_function`] with the function's stdout, where Lambda's runtimes write their logs,
/// going to `stdout`.
pub fn spawn_function_logging(
    program: &str,
    api: &RuntimeApi,
    env: &[(&str, &str)],
    stdout: Stdio,
) -> (Child, Instant) {
    let mut cmd = Command::new(program);
    cmd.env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{}", api.port))
        .env("AWS_LAMBDA_FUNCTION_NAME", "ingest-fn")
        .env(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            MEMORY_SIZE_MB.to_string(),
        )
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_LEVEL", "WARN")
        .stdout(stdout)
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    (cmd.spawn().expect("spawn the function"), start)
}
