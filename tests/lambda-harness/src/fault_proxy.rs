//! A TCP relay on loopback between a client and an upstream address that fails, when told to,
//! the ways a network or a server does: the whole path down (new connections refused, open ones
//! closed), a path gone silent (bytes stop both ways, no FIN, no reset, as after a NAT or a
//! firewall dropped the flow while Lambda kept the environment frozen), a server that answers
//! a connection with bytes of its own and hangs up, a connection cut after so many bytes either
//! way, a delay on every chunk, and bytes injected into either direction.
//!
//! It moves bytes and knows no protocol: what one needs (a MySQL ERR packet in place of the
//! statement it answers, a COM_QUIT noticed on its way out, an HTTP upload cut halfway) is a
//! [`Tap`] the caller writes, or a byte count. Every fault applies from the moment it is set;
//! the counts ([`FaultProxy::connections`], [`FaultProxy::open`]) say what reached the proxy.
//! Dropping the proxy closes its listener and every connection through it.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// Which way bytes travel through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the client to the upstream address.
    Upstream,
    /// From the upstream address back to the client.
    Downstream,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::Upstream => 0,
            Direction::Downstream => 1,
        }
    }
}

/// What becomes of a connection that arrives at the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// Relayed to the upstream address (the default).
    Relay,
    /// Accepted and closed at once: the client sees its connection end before any byte.
    Refuse,
    /// Accepted and held open, with nothing read or written: the client waits for an answer
    /// that never comes. The upstream address is not dialled.
    BlackHole,
    /// Answered with these bytes and closed, without dialling upstream: a server that greets
    /// with an error and hangs up (MySQL's 1040 Too many connections, say).
    Answer(Vec<u8>),
}

/// A pause a [`Tap`] puts in its direction before its next step.
pub type Pause = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What a [`Tap`] does with the bytes it was handed, in order.
pub enum Step {
    /// Passes these bytes on (the chunk, part of it, or bytes of the tap's own).
    Forward(Vec<u8>),
    /// Sends these bytes back to the side they came from, instead of passing anything on: a
    /// reply the other side never sees.
    Answer(Vec<u8>),
    /// Waits until the future is done; nothing more passes this way meanwhile.
    Wait(Pause),
    /// Closes the connection, both ways.
    Cut,
    /// Holds the connection open and passes nothing more, either way.
    Silence,
}

/// Sees every chunk read from one side of one connection, before anything is passed on, and
/// says what to do with it. One is made per connection by the factory given to
/// [`FaultProxy::tap`], so it may keep state (a protocol's framing) across chunks. Without a
/// tap a chunk is forwarded as read.
pub type Tap = Box<dyn FnMut(&[u8]) -> Vec<Step> + Send>;

type TapFactory = Arc<dyn Fn() -> Tap + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum FaultProxyError {
    #[error("binding the fault proxy's listener on 127.0.0.1")]
    Bind {
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{open} connection(s) through the fault proxy to {upstream} still open after {within:?}"
    )]
    StillOpen {
        upstream: String,
        open: usize,
        within: Duration,
    },
}

/// What the proxy's connections share with it.
struct Shared {
    upstream: (String, u16),
    arrival: Mutex<Arrival>,
    /// Connections numbered below this are cut (numbers count up from 0 as they arrive).
    cut_below: watch::Sender<u64>,
    /// Connections numbered below this pass nothing more.
    silent_below: AtomicU64,
    /// Connections accepted so far, which also numbers the next one.
    accepted: AtomicU64,
    /// Connections not yet closed.
    open: AtomicUsize,
    closed: Notify,
    /// Per direction: the bytes a connection passes before it is cut; `u64::MAX` for no limit.
    cut_after: [AtomicU64; 2],
    /// Per direction: how long each chunk waits before it is passed on.
    delay: [Mutex<Duration>; 2],
    taps: [Mutex<Option<TapFactory>>; 2],
}

impl Shared {
    fn tap(&self, direction: Direction) -> Option<Tap> {
        let factory = self.taps[direction.index()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        factory.map(|make| make())
    }

    fn delay(&self, direction: Direction) -> Duration {
        *self.delay[direction.index()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Resolves once connection `id` is to be cut, or the proxy is gone.
    fn cut(&self, id: u64) -> impl Future<Output = ()> + Send + 'static {
        let mut below = self.cut_below.subscribe();
        async move {
            // An error means the proxy was dropped: its connections close with it.
            let _ = below.wait_for(|below| id < *below).await;
        }
    }
}

/// Counts a connection as open for as long as it lives.
struct OpenConnection(Arc<Shared>);

impl OpenConnection {
    fn new(shared: &Arc<Shared>) -> OpenConnection {
        shared.open.fetch_add(1, Ordering::SeqCst);
        OpenConnection(shared.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
        self.0.closed.notify_waiters();
    }
}

/// A TCP relay with injectable faults; see the module's documentation.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accepting: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on an ephemeral port of 127.0.0.1 and relays every connection to `host:port`,
    /// dialled anew for each one.
    pub async fn start(host: impl Into<String>, port: u16) -> Result<FaultProxy, FaultProxyError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|source| FaultProxyError::Bind { source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| FaultProxyError::Bind { source })?;
        let shared = Arc::new(Shared {
            upstream: (host.into(), port),
            arrival: Mutex::new(Arrival::Relay),
            cut_below: watch::Sender::new(0),
            silent_below: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            open: AtomicUsize::new(0),
            closed: Notify::new(),
            cut_after: [AtomicU64::new(u64::MAX), AtomicU64::new(u64::MAX)],
            delay: [Mutex::new(Duration::ZERO), Mutex::new(Duration::ZERO)],
            taps: [Mutex::new(None), Mutex::new(None)],
        });
        let accepting = tokio::spawn(accept(listener, shared.clone()));
        Ok(FaultProxy {
            addr,
            shared,
            accepting,
        })
    }

    /// The proxy's address, for the client to connect to in place of the upstream one.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// What becomes of the connections that arrive from now on; open ones are not affected.
    pub fn set_arrival(&self, arrival: Arrival) {
        *self
            .shared
            .arrival
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = arrival;
    }

    /// Closes every connection open now, both ways; later ones are relayed as
    /// [`FaultProxy::set_arrival`] says.
    pub fn cut_open(&self) {
        let accepted = self.shared.accepted.load(Ordering::SeqCst);
        self.shared.cut_below.send_replace(accepted);
    }

    /// Every connection open now passes nothing more, either way, and stays open; later ones
    /// are not affected. Takes effect at each connection's next chunk.
    pub fn silence_open(&self) {
        let accepted = self.shared.accepted.load(Ordering::SeqCst);
        self.shared.silent_below.store(accepted, Ordering::SeqCst);
    }

    /// The whole path down: new connections refused and every open one closed; returns once
    /// all are closed. `set_arrival(Arrival::Relay)` brings the path back.
    pub async fn outage(&self, within: Duration) -> Result<(), FaultProxyError> {
        self.set_arrival(Arrival::Refuse);
        self.cut_open();
        self.until_closed(within).await
    }

    /// Each connection, open or new, is cut once it has passed `bytes` in `direction` (counted
    /// from its start); `None` lifts the limit.
    pub fn cut_after(&self, direction: Direction, bytes: Option<u64>) {
        self.shared.cut_after[direction.index()].store(bytes.unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    /// Each chunk read in `direction` from now on waits `delay` before it is passed on.
    pub fn set_delay(&self, direction: Direction, delay: Duration) {
        *self.shared.delay[direction.index()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = delay;
    }

    /// Every connection relayed from now on gets a [`Tap`] from `factory` for the bytes it
    /// reads in `direction`.
    pub fn tap(&self, direction: Direction, factory: impl Fn() -> Tap + Send + Sync + 'static) {
        *self.shared.taps[direction.index()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(factory));
    }

    /// Connections accepted so far, whatever became of them.
    pub fn connections(&self) -> usize {
        usize::try_from(self.shared.accepted.load(Ordering::SeqCst)).unwrap_or(usize::MAX)
    }

    /// Connections through the proxy not yet closed.
    pub fn open(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// Returns once no connection through the proxy is open, or fails after `within`.
    pub async fn until_closed(&self, within: Duration) -> Result<(), FaultProxyError> {
        let all_closed = async {
            loop {
                let notified = self.shared.closed.notified();
                if self.open() == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(within, all_closed)
            .await
            .map_err(|_| FaultProxyError::StillOpen {
                upstream: format!("{}:{}", self.shared.upstream.0, self.shared.upstream.1),
                open: self.open(),
                within,
            })
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accepting.abort();
        self.shared.cut_below.send_replace(u64::MAX);
    }
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((client, _)) = listener.accept().await {
        let id = shared.accepted.fetch_add(1, Ordering::SeqCst);
        // Open, and its fate decided, as it arrives: `until_closed` right after a connect must
        // wait for it, and an arrival set after the connect must not apply to it.
        let open = OpenConnection::new(&shared);
        let arrival = shared
            .arrival
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        tokio::spawn(serve(client, id, arrival, shared.clone(), open));
    }
}

/// One connection through the proxy, from its arrival to its close.
async fn serve(
    mut client: TcpStream,
    id: u64,
    arrival: Arrival,
    shared: Arc<Shared>,
    open: OpenConnection,
) {
    let _open = open;
    match arrival {
        Arrival::Relay => {}
        Arrival::Refuse => return,
        Arrival::BlackHole => return shared.cut(id).await,
        Arrival::Answer(bytes) => {
            // The client is gone if this fails: nothing to tell it.
            let _ = client.write_all(&bytes).await;
            let _ = client.shutdown().await;
            return;
        }
    }
    let (host, port) = &shared.upstream;
    let server = tokio::select! {
        server = TcpStream::connect((host.as_str(), *port)) => server,
        () = shared.cut(id) => return,
    };
    // Upstream does not answer: the client sees its connection closed, as through a path
    // whose far end refused.
    let Ok(server) = server else {
        return;
    };
    // The proxy adds no Nagle delay of its own; the client's socket options are its own.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (from_client, to_client) = client.into_split();
    let (from_server, to_server) = server.into_split();
    let to_client = tokio::sync::Mutex::new(to_client);
    let to_server = tokio::sync::Mutex::new(to_server);
    let connection = Connection {
        id,
        shared: &shared,
        silenced: AtomicBool::new(false),
        cut: Notify::new(),
    };
    let both_ways = async {
        tokio::join!(
            connection.pump(Direction::Upstream, from_client, &to_server, &to_client),
            connection.pump(Direction::Downstream, from_server, &to_client, &to_server),
        )
    };
    tokio::select! {
        _ = both_ways => {}
        () = shared.cut(id) => {}
        () = connection.cut.notified() => {}
    }
}

/// One relayed connection's state, shared by its two directions.
struct Connection<'a> {
    id: u64,
    shared: &'a Shared,
    /// A [`Step::Silence`] was taken.
    silenced: AtomicBool,
    /// Notified to close the connection both ways.
    cut: Notify,
}

impl Connection<'_> {
    fn silent(&self) -> bool {
        self.silenced.load(Ordering::SeqCst)
            || self.id < self.shared.silent_below.load(Ordering::SeqCst)
    }

    /// Passes what `from` reads on to `to`, through the tap and the faults of `direction`;
    /// answers from a tap go to `back`, the side `from` reads. At `from`'s end, `to` is shut
    /// down for writing (a half-close passed on); a failed read or write closes the connection.
    async fn pump(
        &self,
        direction: Direction,
        mut from: OwnedReadHalf,
        to: &tokio::sync::Mutex<OwnedWriteHalf>,
        back: &tokio::sync::Mutex<OwnedWriteHalf>,
    ) {
        let mut tap = self.shared.tap(direction);
        let mut buf = vec![0u8; 64 * 1024];
        let mut passed: u64 = 0;
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) => {
                    let _ = to.lock().await.shutdown().await;
                    return;
                }
                Ok(n) => n,
                Err(_) => return self.cut.notify_one(),
            };
            // Checked before every chunk is passed on, so silence takes effect at once.
            if self.silent() {
                return std::future::pending().await;
            }
            let delay = self.shared.delay(direction);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let steps = match &mut tap {
                Some(tap) => tap(&buf[..n]),
                None => vec![Step::Forward(buf[..n].to_vec())],
            };
            for step in steps {
                match step {
                    Step::Forward(bytes) => {
                        let limit = self.shared.cut_after[direction.index()].load(Ordering::SeqCst);
                        let room = limit.saturating_sub(passed);
                        let take = bytes.len().min(usize::try_from(room).unwrap_or(usize::MAX));
                        if take > 0 && to.lock().await.write_all(&bytes[..take]).await.is_err() {
                            return self.cut.notify_one();
                        }
                        passed += take as u64;
                        if passed >= limit {
                            return self.cut.notify_one();
                        }
                    }
                    Step::Answer(bytes) => {
                        if back.lock().await.write_all(&bytes).await.is_err() {
                            return self.cut.notify_one();
                        }
                    }
                    Step::Wait(pause) => pause.await,
                    Step::Cut => return self.cut.notify_one(),
                    Step::Silence => {
                        self.silenced.store(true, Ordering::SeqCst);
                        return std::future::pending().await;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Long enough for bytes on loopback to arrive on a loaded machine: the tests that assert
    /// nothing came wait this long first.
    const QUIET: Duration = Duration::from_millis(300);
    /// A deadline for what must happen, not a measurement.
    const WITHIN: Duration = Duration::from_secs(10);

    /// An upstream server that echoes every connection's bytes back, and counts connections.
    async fn echo_server() -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        (addr, accepted)
    }

    /// An upstream server that keeps what each connection sent until its end, and reports it.
    async fn sink_server() -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    let mut buf = [0u8; 4096];
                    // A reset ends it as a close does: what arrived before counts.
                    while let Ok(n @ 1..) = s.read(&mut buf).await {
                        got.extend_from_slice(&buf[..n]);
                    }
                    let _ = tx.send(got);
                });
            }
        });
        (addr, rx)
    }

    /// An upstream server that sends `bytes` to each connection, then waits for its end.
    async fn talking_server(bytes: Vec<u8>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let bytes = bytes.clone();
                tokio::spawn(async move {
                    let _ = s.write_all(&bytes).await;
                    let _ = s.read(&mut [0u8; 1]).await;
                });
            }
        });
        addr
    }

    async fn proxy_to(addr: SocketAddr) -> FaultProxy {
        FaultProxy::start(addr.ip().to_string(), addr.port())
            .await
            .unwrap()
    }

    /// Sends `out` and reads back as many bytes, within [`WITHIN`].
    async fn round_trip(stream: &mut TcpStream, out: &[u8]) -> Vec<u8> {
        stream.write_all(out).await.unwrap();
        let mut back = vec![0u8; out.len()];
        tokio::time::timeout(WITHIN, stream.read_exact(&mut back))
            .await
            .expect("the echo within the deadline")
            .unwrap();
        back
    }

    /// What the next read gives within [`QUIET`]: `None` if nothing came (the connection
    /// still open), `Some(empty)` at its end (EOF or reset), else the bytes.
    async fn next_read(stream: &mut TcpStream) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 4096];
        match tokio::time::timeout(QUIET, stream.read(&mut buf)).await {
            Err(_) => None,
            Ok(Ok(n)) => Some(buf[..n].to_vec()),
            Ok(Err(_)) => Some(Vec::new()),
        }
    }

    /// Reads until the connection ends, within [`WITHIN`]; a reset ends it too.
    async fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match tokio::time::timeout(WITHIN, stream.read(&mut buf))
                .await
                .expect("the connection's end within the deadline")
            {
                Ok(0) | Err(_) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[tokio::test]
    async fn relays_both_ways_and_counts_connections() {
        let (echo, dialled) = echo_server().await;
        let proxy = proxy_to(echo).await;
        let mut a = TcpStream::connect(proxy.addr()).await.unwrap();
        let mut b = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut a, b"hello").await, b"hello");
        assert_eq!(
            round_trip(&mut b, &[7u8; 100_000]).await,
            vec![7u8; 100_000]
        );
        assert_eq!((proxy.connections(), proxy.open()), (2, 2));
        assert_eq!(dialled.load(Ordering::SeqCst), 2);
        drop((a, b));
        proxy.until_closed(WITHIN).await.unwrap();
        assert_eq!((proxy.connections(), proxy.open()), (2, 0));
    }

    #[tokio::test]
    async fn until_closed_fails_naming_what_is_still_open() {
        let (echo, _) = echo_server().await;
        let proxy = proxy_to(echo).await;
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        // Relayed, so surely accepted: a connect returns before the proxy's accept.
        assert_eq!(round_trip(&mut client, b"here").await, b"here");
        let e = proxy
            .until_closed(Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "1 connection(s) through the fault proxy to {echo}"
            )),
            "{e}"
        );
    }

    // An upload cut halfway: upstream receives exactly the first bytes, then the close.
    #[tokio::test]
    async fn cut_after_bytes_upstream_passes_exactly_those_bytes() {
        let (sink, mut received) = sink_server().await;
        let proxy = proxy_to(sink).await;
        proxy.cut_after(Direction::Upstream, Some(1000));
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        let body: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        // The proxy may close before all is written: a failed write is the cut.
        let _ = client.write_all(&body).await;
        let got = tokio::time::timeout(WITHIN, received.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, body[..1000]);
        assert_eq!(read_to_end(&mut client).await, b"");
        proxy.until_closed(WITHIN).await.unwrap();
    }

    #[tokio::test]
    async fn cut_after_bytes_downstream_passes_exactly_those_bytes() {
        let talker = talking_server(vec![9u8; 5000]).await;
        let proxy = proxy_to(talker).await;
        proxy.cut_after(Direction::Downstream, Some(100));
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(read_to_end(&mut client).await, vec![9u8; 100]);
        proxy.cut_after(Direction::Downstream, None);
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        let mut all = vec![0u8; 5000];
        client.read_exact(&mut all).await.unwrap();
        assert_eq!(all, vec![9u8; 5000]);
    }

    // A lower bound only: the delay is at least what was asked for.
    #[tokio::test]
    async fn a_delay_holds_every_chunk() {
        let (echo, _) = echo_server().await;
        let proxy = proxy_to(echo).await;
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        proxy.set_delay(Direction::Downstream, Duration::from_millis(200));
        let started = tokio::time::Instant::now();
        assert_eq!(round_trip(&mut client, b"slow").await, b"slow");
        assert!(started.elapsed() >= Duration::from_millis(200));
    }

    // A reply injected in place of a chunk: the upstream never sees it, the client gets the
    // tap's bytes, and the connection goes on.
    #[tokio::test]
    async fn a_tap_answers_instead_of_forwarding() {
        let (echo, _) = echo_server().await;
        let proxy = proxy_to(echo).await;
        proxy.tap(Direction::Upstream, || {
            Box::new(|chunk: &[u8]| match chunk {
                b"refuse me" => vec![Step::Answer(b"ERR".to_vec())],
                b"twice" => vec![Step::Forward(chunk.to_vec()), Step::Forward(chunk.to_vec())],
                _ => vec![Step::Forward(chunk.to_vec())],
            })
        });
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut client, b"ok").await, b"ok");
        client.write_all(b"refuse me").await.unwrap();
        assert_eq!(next_read(&mut client).await.unwrap(), b"ERR");
        assert_eq!(next_read(&mut client).await, None, "nothing echoed");
        client.write_all(b"twice").await.unwrap();
        let mut back = [0u8; 10];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"twicetwice");
    }

    // A tap's Wait holds its direction until the test lets it go; Cut closes the connection.
    #[tokio::test]
    async fn a_tap_can_hold_a_chunk_and_cut_the_connection() {
        let (echo, _) = echo_server().await;
        let proxy = proxy_to(echo).await;
        let (release, gate) = tokio::sync::oneshot::channel::<()>();
        let gate = Mutex::new(Some(gate));
        proxy.tap(Direction::Upstream, move || {
            let mut gate = gate.lock().unwrap().take();
            Box::new(move |chunk: &[u8]| {
                if chunk == b"bye" {
                    return vec![Step::Cut];
                }
                let mut steps = Vec::new();
                if let Some(gate) = gate.take() {
                    steps.push(Step::Wait(Box::pin(async move {
                        let _ = gate.await;
                    })));
                }
                steps.push(Step::Forward(chunk.to_vec()));
                steps
            })
        });
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        client.write_all(b"held").await.unwrap();
        assert_eq!(next_read(&mut client).await, None, "held at the gate");
        release.send(()).unwrap();
        let mut back = [0u8; 4];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"held");
        client.write_all(b"bye").await.unwrap();
        assert_eq!(read_to_end(&mut client).await, b"");
    }

    #[tokio::test]
    async fn refused_black_holed_and_answered_arrivals_never_reach_upstream() {
        let (echo, dialled) = echo_server().await;
        let proxy = proxy_to(echo).await;

        proxy.set_arrival(Arrival::Refuse);
        let mut refused = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(read_to_end(&mut refused).await, b"");

        proxy.set_arrival(Arrival::Answer(b"busy".to_vec()));
        let mut answered = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(read_to_end(&mut answered).await, b"busy");

        proxy.set_arrival(Arrival::BlackHole);
        let mut held = TcpStream::connect(proxy.addr()).await.unwrap();
        held.write_all(b"anyone?").await.unwrap();
        assert_eq!(next_read(&mut held).await, None, "no answer, no close");
        assert_eq!(proxy.open(), 1);

        assert_eq!(dialled.load(Ordering::SeqCst), 0);
        assert_eq!(proxy.connections(), 3);
        proxy.set_arrival(Arrival::Relay);
        let mut relayed = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut relayed, b"back").await, b"back");
        assert_eq!(dialled.load(Ordering::SeqCst), 1);
    }

    // Silence: bytes stop, the sockets stay open (no EOF, no reset); new connections pass.
    #[tokio::test]
    async fn silence_open_quiets_the_open_connections_only() {
        let (echo, _) = echo_server().await;
        let proxy = proxy_to(echo).await;
        let mut old = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut old, b"before").await, b"before");
        proxy.silence_open();
        old.write_all(b"after").await.unwrap();
        assert_eq!(next_read(&mut old).await, None, "silent, not closed");
        let mut new = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut new, b"new").await, b"new");
        assert_eq!(proxy.open(), 2);
    }

    #[tokio::test]
    async fn an_outage_closes_the_open_and_refuses_the_new_until_restored() {
        let (echo, dialled) = echo_server().await;
        let proxy = proxy_to(echo).await;
        let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut open, b"up").await, b"up");
        proxy.outage(WITHIN).await.unwrap();
        assert_eq!(read_to_end(&mut open).await, b"");
        let mut refused = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(read_to_end(&mut refused).await, b"");
        assert_eq!(dialled.load(Ordering::SeqCst), 1);
        proxy.set_arrival(Arrival::Relay);
        let mut back = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut back, b"again").await, b"again");
    }

    #[tokio::test]
    async fn dropping_the_proxy_closes_its_connections() {
        let (echo, _) = echo_server().await;
        let proxy = proxy_to(echo).await;
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut client, b"x").await, b"x");
        drop(proxy);
        assert_eq!(read_to_end(&mut client).await, b"");
    }
}
