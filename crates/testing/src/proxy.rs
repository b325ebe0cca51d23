//! A fault-injecting TCP proxy for HTTP/1.1 storage servers on loopback.
//!
//! [`FaultProxy`] listens on a free port of 127.0.0.1 and forwards every
//! connection to a server's port (one upstream connection per client
//! connection, so keep-alive works as it would without the proxy). It reads
//! enough HTTP/1.1 to know where each request and response ends
//! (`Content-Length`, chunked, or the end of the connection), and draws for
//! every request, at the rates of its [`Faults`], one of:
//!
//! - an error answered in the server's place (500, 503 or 429 with an
//!   S3-style XML body), the request's body read and the connection kept;
//! - a connection dropped mid-request (after half the request body, before
//!   anything reached the server) or mid-response (after the server acted:
//!   the head and half of the response body forwarded, then both closed);
//! - a delay before the response, or a stall halfway through its body;
//!
//! and for every new connection, whether it is closed at once. The
//! faults can be changed at any time ([`FaultProxy::set`],
//! [`FaultProxy::off`]), e.g. off while a test sets up and verifies.
//!
//! Draws come from a seeded generator, one stream per connection (the
//! stream of connection `n` depends only on the seed and `n`). The seed is
//! printed when the proxy starts and taken from `TRESOR_FAULT_SEED` when
//! set, so a failure replays the same faults on the same connections
//! (which request lands on which connection still depends on timing).
//!
//! Any HTTP/1.1 backend works behind it (S3, Azure, WebDAV, GCS); the error
//! bodies are S3's format, which the other backends judge by status alone.
//!
//! ```ignore
//! let server = StorageServer::start(ServerKind::S3sFs).await?;
//! let proxy = FaultProxy::start(server.port).await?;
//! let url = proxy.url(&server.url); // endpoint=http://127.0.0.1:<proxy port>
//! proxy.set(Faults::mixed());
//! // ... run tresor against `url` ...
//! proxy.off();
//! ```

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, Result};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// How often each fault happens: probabilities between 0 and 1.
///
/// Per request, at most one of `error`, `drop_request` and
/// `drop_response` (drawn in that order); `delay` and `stall` are drawn
/// independently on the requests that are forwarded whole.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Faults {
    /// A new connection is closed before its first request is read.
    pub refuse: f64,
    /// A request is answered 500, 503 or 429 (equal shares) instead of
    /// being forwarded.
    pub error: f64,
    /// A request is cut off: half of its body read, then the connection
    /// closed; the server never sees it.
    pub drop_request: f64,
    /// A response is cut off: the server acted, its head and half of its
    /// body are forwarded, then the connection is closed.
    pub drop_response: f64,
    /// The response waits up to `max_delay` (drawn uniformly) before it
    /// is forwarded.
    pub delay: f64,
    /// The longest delay.
    pub max_delay: Duration,
    /// The response stops halfway for `stall_for`, then goes on.
    pub stall: f64,
    /// How long a stall lasts.
    pub stall_for: Duration,
}

impl Faults {
    /// No faults: every request is forwarded as it is.
    pub fn none() -> Self {
        Faults {
            refuse: 0.0,
            error: 0.0,
            drop_request: 0.0,
            drop_response: 0.0,
            delay: 0.0,
            max_delay: Duration::ZERO,
            stall: 0.0,
            stall_for: Duration::ZERO,
        }
    }

    /// A bad but usable network: about one request in five meets a fault
    /// (errors, drops both ways, refused connections), some are slow, a few
    /// stall for two seconds.
    pub fn mixed() -> Self {
        Faults {
            refuse: 0.03,
            error: 0.08,
            drop_request: 0.04,
            drop_response: 0.04,
            delay: 0.1,
            max_delay: Duration::from_millis(300),
            stall: 0.01,
            stall_for: Duration::from_secs(2),
        }
    }

    /// Every request is answered with an error: an outage.
    pub fn outage() -> Self {
        Faults {
            error: 1.0,
            ..Faults::none()
        }
    }
}

/// How many of each fault the proxy injected so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Connections accepted.
    pub connections: u64,
    /// Requests read (forwarded or not).
    pub requests: u64,
    /// Connections closed at once.
    pub refused: u64,
    /// Requests answered with an error status.
    pub errors: u64,
    /// Requests cut off.
    pub dropped_requests: u64,
    /// Responses cut off.
    pub dropped_responses: u64,
    /// Responses delayed.
    pub delays: u64,
    /// Responses stalled.
    pub stalls: u64,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    requests: AtomicU64,
    refused: AtomicU64,
    errors: AtomicU64,
    dropped_requests: AtomicU64,
    dropped_responses: AtomicU64,
    delays: AtomicU64,
    stalls: AtomicU64,
}

struct Shared {
    faults: Mutex<Faults>,
    /// Faults that take over at the first request whose line contains
    /// the pattern.
    trigger: Mutex<Option<(String, Faults)>>,
    counters: Counters,
    journal: Mutex<Vec<String>>,
}

/// Entries kept in the journal (the oldest are dropped).
const JOURNAL_LIMIT: usize = 10_000;

impl Shared {
    fn faults(&self) -> Faults {
        *self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The faults for a request with this line (method and path), after
    /// firing a trigger it matches.
    fn faults_for(&self, line: &str) -> Faults {
        let mut trigger = self.trigger.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((pattern, faults)) = trigger.as_ref()
            && line.contains(pattern.as_str())
        {
            let faults = *faults;
            *trigger = None;
            *self.faults.lock().unwrap_or_else(PoisonError::into_inner) = faults;
            drop(trigger);
            self.note(format!("{line}: faults switched"));
            return faults;
        }
        drop(trigger);
        self.faults()
    }

    fn note(&self, line: String) {
        let mut j = self.journal.lock().unwrap_or_else(PoisonError::into_inner);
        if j.len() >= JOURNAL_LIMIT {
            j.remove(0);
        }
        j.push(line);
    }
}

/// A running proxy; stopped (with every connection it holds) when dropped.
pub struct FaultProxy {
    port: u16,
    upstream: u16,
    seed: u64,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("port", &self.port)
            .field("upstream", &self.upstream)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Starts a proxy to 127.0.0.1:`upstream` with no faults, seeded from
    /// `TRESOR_FAULT_SEED` or the clock; prints the seed.
    ///
    /// # Errors
    /// No port can be bound, or `TRESOR_FAULT_SEED` is not a number.
    pub async fn start(upstream: u16) -> Result<Self> {
        let seed = match std::env::var("TRESOR_FAULT_SEED") {
            Ok(s) => s
                .trim()
                .parse()
                .with_context(|| format!("TRESOR_FAULT_SEED={s:?} is not a number"))?,
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or_default(),
        };
        FaultProxy::start_with_seed(upstream, seed).await
    }

    /// Starts a proxy to 127.0.0.1:`upstream` with no faults and the
    /// given seed; prints it.
    ///
    /// # Errors
    /// No port can be bound.
    pub async fn start_with_seed(upstream: u16, seed: u64) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the fault proxy")?;
        let port = listener.local_addr()?.port();
        eprintln!(
            "fault proxy 127.0.0.1:{port} -> 127.0.0.1:{upstream}, seed {seed} (replay with TRESOR_FAULT_SEED={seed})"
        );
        let shared = Arc::new(Shared {
            faults: Mutex::new(Faults::none()),
            trigger: Mutex::new(None),
            counters: Counters::default(),
            journal: Mutex::new(Vec::new()),
        });
        let task = tokio::spawn(accept(listener, upstream, seed, shared.clone()));
        Ok(FaultProxy {
            port,
            upstream,
            seed,
            shared,
            task,
        })
    }

    /// The port the proxy listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The seed of its random draws.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// `url` with the server's address `127.0.0.1:<upstream>` replaced by
    /// the proxy's (an `endpoint=` parameter, or the authority).
    pub fn url(&self, url: &str) -> String {
        url.replace(
            &format!("127.0.0.1:{}", self.upstream),
            &format!("127.0.0.1:{}", self.port),
        )
    }

    /// Injects `faults` from the first request whose method and path
    /// (`PUT /bucket/prefix/index/...`) contain `pattern` on, that request
    /// included: e.g. an outage that starts when a backup writes its index.
    /// A later [`FaultProxy::set`] or [`FaultProxy::off`] cancels it.
    pub fn set_from(&self, pattern: &str, faults: Faults) {
        *self
            .shared
            .trigger
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((pattern.to_owned(), faults));
    }

    /// Injects `faults` from now on (requests under way keep theirs).
    pub fn set(&self, faults: Faults) {
        *self
            .shared
            .trigger
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        *self
            .shared
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = faults;
    }

    /// The faults injected now.
    pub fn faults(&self) -> Faults {
        self.shared.faults()
    }

    /// Stops injecting faults.
    pub fn off(&self) {
        self.set(Faults::none());
    }

    /// What was injected so far.
    pub fn stats(&self) -> FaultStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        FaultStats {
            connections: get(&c.connections),
            requests: get(&c.requests),
            refused: get(&c.refused),
            errors: get(&c.errors),
            dropped_requests: get(&c.dropped_requests),
            dropped_responses: get(&c.dropped_responses),
            delays: get(&c.delays),
            stalls: get(&c.stalls),
        }
    }

    /// One line per injected fault (`conn 3 req 2 PUT /path: ...`), the
    /// latest 10 000, for the message of a failing test.
    pub fn journal(&self) -> Vec<String> {
        self.shared
            .journal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

async fn accept(listener: TcpListener, upstream: u16, seed: u64, shared: Arc<Shared>) {
    // the connections live in the set: aborting this task drops them all
    let mut connections = JoinSet::new();
    let mut n = 0u64;
    loop {
        while connections.try_join_next().is_some() {}
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        n += 1;
        shared.counters.connections.fetch_add(1, Ordering::Relaxed);
        let rng = Rng::new(seed, n);
        let shared = shared.clone();
        connections.spawn(async move {
            let _ = serve(client, upstream, n, rng, shared).await;
        });
    }
}

/// What happens to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Forward,
    Error(u16),
    DropRequest,
    DropResponse,
}

async fn serve(
    client: TcpStream,
    upstream: u16,
    conn: u64,
    mut rng: Rng,
    shared: Arc<Shared>,
) -> io::Result<()> {
    let mut client = Peer::new(client);
    let faults = shared.faults();
    if rng.chance(faults.refuse) {
        shared.counters.refused.fetch_add(1, Ordering::Relaxed);
        shared.note(format!("conn {conn}: closed at once"));
        return Ok(());
    }
    let mut server: Option<Peer> = None;
    let mut req = 0u64;
    loop {
        let Some(head) = client.read_head().await? else {
            return Ok(());
        };
        req += 1;
        shared.counters.requests.fetch_add(1, Ordering::Relaxed);
        let request = Head::parse(&head)?;
        let line = request.start_line();
        let what = format!("conn {conn} req {req} {line}");
        let faults = shared.faults_for(&line);
        let fate = draw(&mut rng, &faults);
        let body = request.request_body()?;
        match fate {
            Fate::Error(status) => {
                shared.counters.errors.fetch_add(1, Ordering::Relaxed);
                shared.note(format!("{what}: answered {status}"));
                if request.expects_continue() {
                    // the client waits for a go-ahead before its body: answer
                    // at once and close
                    client
                        .write(&error_response(status, &request, true))
                        .await?;
                    return Ok(());
                }
                copy_body(&mut client, None, body, None).await?;
                let close = request.wants_close();
                client
                    .write(&error_response(status, &request, close))
                    .await?;
                if close {
                    return Ok(());
                }
                continue;
            }
            Fate::DropRequest => {
                shared
                    .counters
                    .dropped_requests
                    .fetch_add(1, Ordering::Relaxed);
                let half = body.known_len().map_or(0, |n| n / 2);
                shared.note(format!(
                    "{what}: dropped after {half} bytes of the request body"
                ));
                copy_body(&mut client, None, body, Some(half)).await?;
                return Ok(());
            }
            Fate::Forward | Fate::DropResponse => {}
        }
        if server.is_none() {
            match TcpStream::connect(("127.0.0.1", upstream)).await {
                Ok(s) => server = Some(Peer::new(s)),
                Err(e) => {
                    shared.note(format!("{what}: upstream refused ({e})"));
                    return Ok(());
                }
            }
        }
        let Some(up) = server.as_mut() else {
            return Ok(());
        };
        up.write(&head).await?;
        copy_body(&mut client, Some(up), body, None).await?;
        // interim responses (100 Continue) go through as they are
        let (response_head, response) = loop {
            let Some(h) = up.read_head().await? else {
                shared.note(format!("{what}: upstream closed without answering"));
                return Ok(());
            };
            let parsed = Head::parse(&h)?;
            if parsed.status().is_some_and(|s| (100..200).contains(&s))
                && parsed.status() != Some(101)
            {
                client.write(&h).await?;
                continue;
            }
            break (h, parsed);
        };
        let body = response.response_body(&request)?;
        let close = response.wants_close() || request.wants_close() || body == Body::UntilClose;
        if fate == Fate::DropResponse {
            shared
                .counters
                .dropped_responses
                .fetch_add(1, Ordering::Relaxed);
            match body.known_len().filter(|n| *n > 1) {
                Some(n) => {
                    shared.note(format!(
                        "{what}: {} dropped after {} of {n} body bytes",
                        response.start_line(),
                        n / 2
                    ));
                    client.write(&response_head).await?;
                    copy_body(up, Some(&mut client), body, Some(n / 2)).await?;
                }
                None => {
                    let cut = response_head.len() / 2;
                    shared.note(format!(
                        "{what}: {} dropped after {cut} bytes of the head",
                        response.start_line()
                    ));
                    client.write(&response_head[..cut]).await?;
                }
            }
            return Ok(());
        }
        if rng.chance(faults.delay) {
            shared.counters.delays.fetch_add(1, Ordering::Relaxed);
            let d = faults.max_delay.mul_f64(rng.unit());
            shared.note(format!("{what}: delayed {} ms", d.as_millis()));
            tokio::time::sleep(d).await;
        }
        if rng.chance(faults.stall) {
            shared.counters.stalls.fetch_add(1, Ordering::Relaxed);
            shared.note(format!(
                "{what}: stalled {} ms halfway",
                faults.stall_for.as_millis()
            ));
            match body.known_len().filter(|n| *n > 1) {
                Some(n) => {
                    client.write(&response_head).await?;
                    copy_body(up, Some(&mut client), body, Some(n / 2)).await?;
                    tokio::time::sleep(faults.stall_for).await;
                    copy_body(up, Some(&mut client), Body::Length(n - n / 2), None).await?;
                }
                None => {
                    tokio::time::sleep(faults.stall_for).await;
                    client.write(&response_head).await?;
                    copy_body(up, Some(&mut client), body, None).await?;
                }
            }
        } else {
            client.write(&response_head).await?;
            copy_body(up, Some(&mut client), body, None).await?;
        }
        if close {
            return Ok(());
        }
    }
}

fn draw(rng: &mut Rng, f: &Faults) -> Fate {
    let r = rng.unit();
    if r < f.error {
        let status = [500, 503, 429][(rng.next() % 3) as usize];
        return Fate::Error(status);
    }
    if r < f.error + f.drop_request {
        return Fate::DropRequest;
    }
    if r < f.error + f.drop_request + f.drop_response {
        return Fate::DropResponse;
    }
    Fate::Forward
}

fn error_response(status: u16, request: &Head, close: bool) -> Vec<u8> {
    let (reason, code) = match status {
        500 => ("Internal Server Error", "InternalError"),
        503 => ("Service Unavailable", "SlowDown"),
        _ => ("Too Many Requests", "TooManyRequests"),
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>fault injected by the test proxy</Message></Error>"
    );
    let head_only = request.method() == "HEAD";
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n",
        if head_only { 0 } else { body.len() }
    );
    if status == 429 || status == 503 {
        out.push_str("Retry-After: 1\r\n");
    }
    if close {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    if !head_only {
        out.push_str(&body);
    }
    out.into_bytes()
}

/// How a message's body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

impl Body {
    fn known_len(self) -> Option<u64> {
        match self {
            Body::Empty => Some(0),
            Body::Length(n) => Some(n),
            Body::Chunked | Body::UntilClose => None,
        }
    }
}

/// A parsed request or response head.
#[derive(Debug)]
struct Head {
    start: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn parse(bytes: &[u8]) -> io::Result<Head> {
        let text = std::str::from_utf8(bytes).map_err(|_| bad("head is not UTF-8"))?;
        let mut lines = text.split("\r\n");
        let start = lines.next().unwrap_or_default().to_owned();
        let headers = lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Ok(Head { start, headers })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.header(name)
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    /// The request line or status line without the query (signatures
    /// and upload ids only make the journal longer).
    fn start_line(&self) -> String {
        let mut parts = self.start.splitn(3, ' ');
        let a = parts.next().unwrap_or_default();
        let b = parts.next().unwrap_or_default();
        let b = b.split('?').next().unwrap_or_default();
        format!("{a} {b}")
    }

    fn method(&self) -> &str {
        self.start.split(' ').next().unwrap_or_default()
    }

    fn status(&self) -> Option<u16> {
        self.start.split(' ').nth(1)?.parse().ok()
    }

    fn wants_close(&self) -> bool {
        self.has_token("connection", "close") || self.start.ends_with("HTTP/1.0")
    }

    fn expects_continue(&self) -> bool {
        self.has_token("expect", "100-continue")
    }

    fn framing(&self) -> io::Result<Option<Body>> {
        if self.has_token("transfer-encoding", "chunked") {
            return Ok(Some(Body::Chunked));
        }
        match self.header("content-length") {
            Some(n) => n
                .parse()
                .map(|n| Some(if n == 0 { Body::Empty } else { Body::Length(n) }))
                .map_err(|_| bad("bad content-length")),
            None => Ok(None),
        }
    }

    fn request_body(&self) -> io::Result<Body> {
        Ok(self.framing()?.unwrap_or(Body::Empty))
    }

    fn response_body(&self, request: &Head) -> io::Result<Body> {
        let status = self.status().unwrap_or(0);
        if request.method() == "HEAD" || status == 204 || status == 304 {
            return Ok(Body::Empty);
        }
        Ok(self.framing()?.unwrap_or(Body::UntilClose))
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// A connection with a read buffer.
struct Peer {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// The longest head the proxy reads.
const MAX_HEAD: usize = 256 * 1024;

impl Peer {
    fn new(stream: TcpStream) -> Self {
        Peer {
            stream,
            buf: Vec::new(),
        }
    }

    /// Reads more into the buffer; false at the end of the stream.
    async fn fill(&mut self) -> io::Result<bool> {
        self.buf.reserve(64 * 1024);
        let n = self.stream.read_buf(&mut self.buf).await?;
        Ok(n > 0)
    }

    /// The next head, through its blank line; `None` when the peer closed
    /// between messages.
    async fn read_head(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                return Ok(Some(head));
            }
            if self.buf.len() > MAX_HEAD {
                return Err(bad("head too long"));
            }
            if !self.fill().await? {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(bad("closed mid-head"))
                };
            }
        }
    }

    /// Up to `max` bytes, from the buffer first; empty at the end.
    async fn take(&mut self, max: u64) -> io::Result<Vec<u8>> {
        if self.buf.is_empty() && !self.fill().await? {
            return Ok(Vec::new());
        }
        let n = usize::try_from(max)
            .unwrap_or(usize::MAX)
            .min(self.buf.len());
        Ok(self.buf.drain(..n).collect())
    }

    /// One line through its CRLF.
    async fn line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n") {
                return Ok(self.buf.drain(..end + 2).collect());
            }
            if self.buf.len() > MAX_HEAD || !self.fill().await? {
                return Err(bad("bad chunk line"));
            }
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Copies a body from `from` to `to` (or discards it), stopping after
/// `limit` bytes when given.
async fn copy_body(
    from: &mut Peer,
    mut to: Option<&mut Peer>,
    body: Body,
    limit: Option<u64>,
) -> io::Result<()> {
    let mut left = limit.unwrap_or(u64::MAX);
    match body {
        Body::Empty => Ok(()),
        Body::Length(n) => {
            let mut rest = n.min(left);
            while rest > 0 {
                let bytes = from.take(rest).await?;
                if bytes.is_empty() {
                    return Err(bad("closed mid-body"));
                }
                rest -= bytes.len() as u64;
                if let Some(t) = to.as_mut() {
                    t.write(&bytes).await?;
                }
            }
            Ok(())
        }
        Body::UntilClose => loop {
            let bytes = from.take(left).await?;
            if bytes.is_empty() {
                return Ok(());
            }
            left -= bytes.len() as u64;
            if let Some(t) = to.as_mut() {
                t.write(&bytes).await?;
            }
            if left == 0 {
                return Ok(());
            }
        },
        Body::Chunked => loop {
            let line = from.line().await?;
            let size_text = std::str::from_utf8(&line)
                .map_err(|_| bad("bad chunk size"))?
                .trim()
                .split(';')
                .next()
                .unwrap_or_default()
                .to_owned();
            let size = u64::from_str_radix(&size_text, 16).map_err(|_| bad("bad chunk size"))?;
            if left < line.len() as u64 {
                return Ok(());
            }
            left -= line.len() as u64;
            if let Some(t) = to.as_mut() {
                t.write(&line).await?;
            }
            if size == 0 {
                // trailers through the blank line
                loop {
                    let trailer = from.line().await?;
                    if let Some(t) = to.as_mut() {
                        t.write(&trailer).await?;
                    }
                    if trailer == b"\r\n" {
                        return Ok(());
                    }
                }
            }
            let mut rest = size + 2;
            while rest > 0 {
                if left == 0 {
                    return Ok(());
                }
                let bytes = from.take(rest.min(left)).await?;
                if bytes.is_empty() {
                    return Err(bad("closed mid-chunk"));
                }
                rest -= bytes.len() as u64;
                left -= bytes.len() as u64;
                if let Some(t) = to.as_mut() {
                    t.write(&bytes).await?;
                }
            }
        },
    }
}

/// splitmix64: small, seedable, good enough to pick faults.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        let mut r = Rng(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
