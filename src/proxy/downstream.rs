//! Client connections before pingora reads a request: every request head must arrive within a deadline, an
//! idle keep-alive connection is closed after a timeout, and one client address may hold only so many
//! connections that are still waiting for a head (slowloris, issue 13). A head longer than
//! `server.max_request_header_bytes` is answered 431 here and the connection closed.
//!
//! pingora 0.9 times each read of a request head, not the head as a whole, so a client sending a byte every few
//! seconds is never timed out; and it lets an HTTP/1.1 keep-alive connection idle forever between requests. So
//! [`Downstream`] runs pingora's HTTP/1 connection loop itself: it reads each request head up to its empty line
//! under these limits, then hands pingora a session with the head already buffered
//! (`ServerSession::set_pipelined_prefix`), which pingora parses and serves as if it had read it. Until a head
//! is complete a connection costs this small future and its buffer, not a proxy session.
//!
//! A request the application serves whole itself ([`ServeWhole`]: authgate's bodyless fast path, judged on the
//! head's bytes) is handed to it instead of pingora's `HttpProxy`.

use async_trait::async_trait;
use bytes::BytesMut;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::{Stream, ALPN};
use pingora::proxy::Session;
use pingora::server::ShutdownWatch;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

/// pingora's own limit on a request head (`MAX_HEADER_SIZE` in pingora-core): the largest
/// `server.max_request_header_bytes` that makes sense.
pub const PINGORA_MAX_HEAD: usize = 1_048_575;
/// How long, and how many bytes, a refused oversized head is still read after the answer, so the client sees
/// the 431 rather than a connection reset (closing a socket with unread input resets it).
const DRAIN_TIME: Duration = Duration::from_secs(1);
const DRAIN_BYTES: usize = 256 * 1024;
/// pingora's limit on the number of request headers (`MAX_HEADERS`): a head with more is answered 431 here
/// (pingora would answer a bare 400).
const MAX_HEADERS: usize = 256;
/// How long writing the 431 may take.
const WRITE_TIME: Duration = Duration::from_secs(5);
/// Initial buffer of a head (pingora's own initial size, so it rarely has to grow it).
const HEAD_CAPACITY: usize = 4096;
/// Room made in the buffer before a read when less is left.
const READ_ROOM: usize = 1024;
/// At most one warning per this interval about connections closed for being slow or over the cap.
const NOTICE_INTERVAL: Duration = Duration::from_secs(60);

/// The limits a new connection is served with (the configuration's, when it starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The time a whole request head may take: from the connection's start for its first request, from the
    /// first byte of each later one.
    pub header_timeout: Duration,
    /// The time a keep-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Connections per client address waiting for a head at once; `None`: no cap.
    pub max_pending_per_ip: Option<NonZeroU32>,
    /// The longest request head (request line and headers, up to and including the empty line) served; a
    /// longer one is answered 431.
    pub max_head_bytes: usize,
}

/// What the per-address cap counts by: an IPv4 address, or the /64 network of an IPv6 one (one host usually
/// holds a whole /64). IPv4-mapped IPv6 addresses count as their IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    /// The key of a peer address.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => Self(IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u64::MAX as u128)))),
            },
        }
    }
}

/// A peer in a log line: its [`ClientKey`], or `-` when unknown.
struct Peer(Option<ClientKey>);

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(key) => key.fmt(f),
            None => f.write_str("-"),
        }
    }
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// Connections waiting for a request head, per client.
#[derive(Debug, Default)]
pub struct PendingHeads {
    counts: Mutex<HashMap<ClientKey, u32>>,
}

/// One connection counted in [`PendingHeads`] until dropped.
#[derive(Debug)]
pub struct Pending<'a> {
    heads: &'a PendingHeads,
    key: ClientKey,
}

impl PendingHeads {
    /// Counts one more connection of `key`, unless it already has `max`.
    pub fn try_acquire(&self, key: ClientKey, max: NonZeroU32) -> Option<Pending<'_>> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(key).or_insert(0);
        if *count >= max.get() {
            return None;
        }
        *count += 1;
        Some(Pending { heads: self, key })
    }

    /// Connections of `key` counted now.
    pub fn count(&self, key: ClientKey) -> u32 {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.get(&key).copied().unwrap_or(0)
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        let mut counts = self.heads.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// Finds the end of a request head (its empty line) in a buffer that grows, without rescanning what it saw.
#[derive(Debug, Default)]
struct HeadScanner {
    /// Empty lines before the request line are skipped (HTTP parsers ignore them): whether it started.
    started: bool,
    /// Everything before this offset is judged.
    resume: usize,
    /// Once complete: the head's length, up to and including its empty line.
    end: Option<usize>,
    /// Header lines seen so far (after the request line).
    headers: usize,
}

impl HeadScanner {
    /// Whether `buf` holds a whole head: a line feed followed by an empty line (`\n\n` or `\n\r\n`) after the
    /// first byte that is not CR or LF.
    fn complete(&mut self, buf: &[u8]) -> bool {
        // Asked again once complete (read_head asks before and in its read loop): the answer is known.
        if self.end.is_some() {
            return true;
        }
        if !self.started {
            match buf[self.resume..].iter().position(|b| !matches!(b, b'\r' | b'\n')) {
                Some(offset) => {
                    self.started = true;
                    self.resume += offset;
                }
                None => {
                    self.resume = buf.len();
                    return false;
                }
            }
        }
        let mut at = self.resume;
        // memchr scans a long line (a bearer token) many bytes at a time.
        while let Some(offset) = memchr::memchr(b'\n', &buf[at..]) {
            let lf = at + offset;
            match (buf.get(lf + 1), buf.get(lf + 2)) {
                (Some(b'\n'), _) => {
                    self.end = Some(lf + 2);
                    return true;
                }
                (Some(b'\r'), Some(b'\n')) => {
                    self.end = Some(lf + 3);
                    return true;
                }
                // The terminator may be split across reads: look at this line feed again next time.
                (None, _) | (Some(b'\r'), None) => {
                    self.resume = lf;
                    return false;
                }
                _ => {
                    self.headers += 1;
                    at = lf + 1;
                }
            }
        }
        self.resume = buf.len();
        false
    }
}

/// Why a connection ended before a request.
#[derive(Debug)]
enum End {
    /// The client closed it (or never sent anything before closing).
    ClientClosed,
    /// No next request within the keep-alive timeout.
    Idle,
    /// The head did not arrive in time.
    HeaderTimeout,
    /// Its client already has as many connections waiting for a head as allowed.
    OverLimit,
    /// The head is longer than allowed (answered 431).
    HeadTooLarge,
    /// The gateway is shutting down.
    ShuttingDown,
    /// A read failed.
    Io(std::io::Error),
}

/// A warning at most once per [`NOTICE_INTERVAL`] about connections closed for being slow or over the cap, so
/// an attack leaves a trace in the log without a line per connection.
#[derive(Debug)]
struct Notice {
    last: Mutex<Option<std::time::Instant>>,
    header_timeouts: AtomicU64,
    over_limit: AtomicU64,
}

impl Notice {
    fn record(&self, end: &End) {
        match end {
            End::HeaderTimeout => self.header_timeouts.fetch_add(1, Ordering::Relaxed),
            End::OverLimit => self.over_limit.fetch_add(1, Ordering::Relaxed),
            _ => return,
        };
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let now = std::time::Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < NOTICE_INTERVAL) {
            return;
        }
        *last = Some(now);
        drop(last);
        tracing::warn!(
            header_timeout = self.header_timeouts.swap(0, Ordering::Relaxed),
            per_ip_limit = self.over_limit.swap(0, Ordering::Relaxed),
            "closed client connections that sent no request head in time or were over the per-address cap \
             (at most one such line a minute; see authgate_connections_closed_total)"
        );
    }
}

/// An application that serves some HTTP/1 requests whole itself, instead of pingora's `HttpProxy`, whose own
/// work per request (a 12 KB future boxed and moved, a waiter on its shutdown signal, its filter chain) is most
/// of a proxied request's cost in user space (benches/load/README.md).
pub trait ServeWhole: Send + Sync + 'static {
    /// What [`Self::takes`] decided with, for [`Self::serve`].
    type Taken: Send;

    /// `Some` when this application serves the request whose whole head `head` starts with; it must then
    /// serve it to the end, whatever it finds (there is no going back to pingora's proxy).
    fn takes(&self, head: &[u8]) -> Option<Self::Taken>;

    /// Reads the request buffered in `session` and serves it, as pingora's `process_new_http` would; the
    /// connection when it may carry another request.
    fn serve(
        &self,
        session: Session,
        taken: Self::Taken,
        shutdown: &ShutdownWatch,
    ) -> impl Future<Output = Option<ReusedHttpStream>> + Send;
}

/// The public listeners' application: these limits, then the requests `W` takes served by it, the others by
/// pingora's HTTP handling (`A`).
pub struct Downstream<A, W> {
    proxy: Arc<A>,
    whole: W,
    limits: Box<dyn Fn() -> Limits + Send + Sync>,
    pending: PendingHeads,
    metrics: Arc<authgate_core::metrics::Metrics>,
    notice: Notice,
}

impl<A, W> Downstream<A, W> {
    /// Serves `whole` and `proxy` under the limits `limits` returns when a connection starts.
    pub fn new(
        proxy: A,
        whole: W,
        limits: impl Fn() -> Limits + Send + Sync + 'static,
        metrics: Arc<authgate_core::metrics::Metrics>,
    ) -> Self {
        Self {
            proxy: Arc::new(proxy),
            whole,
            limits: Box::new(limits),
            pending: PendingHeads::default(),
            metrics,
            notice: Notice {
                last: Mutex::new(None),
                header_timeouts: AtomicU64::new(0),
                over_limit: AtomicU64::new(0),
            },
        }
    }
}

impl<A: HttpServerApp + Send + Sync + 'static, W: ServeWhole> Downstream<A, W> {
    /// pingora's HTTP/1 connection loop (`impl ServerApp for HttpServerApp`), with every head read here first.
    async fn serve_http1(&self, mut stream: Stream, shutdown: &ShutdownWatch) {
        let limits = (self.limits)();
        let client = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| ClientKey::of(a.ip())));
        tracing::trace!(client = %client.map_or_else(|| "-".to_string(), |c| c.to_string()), "connection opened");
        let mut down = shutdown.clone();
        // `None` before the first request; then what pingora keeps between requests.
        let mut reused: Option<Option<HttpPersistentSettings>> = None;
        loop {
            let head = match self
                .read_head(&mut stream, reused.is_none(), &limits, client, &mut down)
                .await
            {
                Ok(head) => head,
                Err(end) => return self.closed(&end, client),
            };
            // pingora takes the keep-alive decision again from the request; until then this only bounds its
            // reads, should it want more of a head (it should not: the head is whole).
            let keepalive = if *shutdown.borrow() {
                None
            } else {
                Some(limits.header_timeout.as_secs())
            };
            let next = match self.whole.takes(&head) {
                Some(taken) => {
                    let mut session = Session::new_h1(stream);
                    with_head(&mut session.downstream_session, reused.take(), keepalive, head);
                    self.whole.serve(session, taken, shutdown).await
                }
                None => {
                    let mut session = ServerSession::new_http1(stream);
                    with_head(&mut session, reused.take(), keepalive, head);
                    self.proxy.process_new_http(session, shutdown).await
                }
            };
            match next {
                Some(next) => {
                    let (next, settings) = ReusedHttpStream::consume(next);
                    stream = next;
                    reused = Some(settings);
                }
                None => return,
            }
        }
    }

    /// Reads the next request head and whatever arrived with it.
    async fn read_head(
        &self,
        stream: &mut Stream,
        first: bool,
        limits: &Limits,
        client: Option<ClientKey>,
        down: &mut ShutdownWatch,
    ) -> Result<BytesMut, End> {
        let mut buf = BytesMut::with_capacity(HEAD_CAPACITY);
        let mut scanner = HeadScanner::default();
        // The first head is timed from the connection's start; a later one from its first byte, after the
        // connection idled under the keep-alive timeout. Only connections waiting for a head count against
        // their client's cap, and a later head that arrives whole is never counted.
        if !first {
            let idle_until = Instant::now() + limits.idle_timeout;
            read_more(stream, &mut buf, idle_until, down)
                .await
                .map_err(|end| match end {
                    End::HeaderTimeout => End::Idle,
                    other => other,
                })?;
        }
        let _pending = match (client, limits.max_pending_per_ip) {
            _ if !buf.is_empty() && scanner.complete(&buf) => None,
            (Some(key), Some(max)) => Some(self.pending.try_acquire(key, max).ok_or(End::OverLimit)?),
            _ => None,
        };
        let deadline = Instant::now() + limits.header_timeout;
        while !scanner.complete(&buf) {
            if buf.len() > limits.max_head_bytes || scanner.headers > MAX_HEADERS {
                break;
            }
            read_more(stream, &mut buf, deadline, down).await?;
        }
        match scanner.end {
            Some(end) if end <= limits.max_head_bytes && scanner.headers <= MAX_HEADERS => Ok(buf),
            _ => {
                refuse_too_large(stream, limits.max_head_bytes).await;
                Err(End::HeadTooLarge)
            }
        }
    }

    fn closed(&self, end: &End, client: Option<ClientKey>) {
        self.notice.record(end);
        // Rendered only if a line is written: most connections end here, and their end is not logged.
        let client = Peer(client);
        let (label, message) = match end {
            End::HeaderTimeout => ("header_timeout", "closed a connection: no whole request head in time"),
            End::OverLimit => (
                "per_ip_limit",
                "closed a connection: its address has too many connections waiting for a request head",
            ),
            End::HeadTooLarge => (
                "header_too_large",
                "refused a request head over server.max_request_header_bytes (431)",
            ),
            End::Io(e) => {
                tracing::debug!(%client, error = %e, "connection failed before a request");
                return;
            }
            End::ClientClosed | End::Idle | End::ShuttingDown => {
                tracing::trace!(%client, reason = ?end, "connection ended between requests");
                return;
            }
        };
        self.metrics.connections_closed.with_label_values(&[label]).inc();
        tracing::debug!(%client, "{message}");
    }
}

/// A new session for the next request on a connection: what pingora kept from the last one (`reused`), the
/// keep-alive bound, and the head already read.
fn with_head(
    session: &mut ServerSession,
    reused: Option<Option<HttpPersistentSettings>>,
    keepalive: Option<u64>,
    head: BytesMut,
) {
    if let Some(Some(settings)) = reused {
        settings.apply_to_session(session);
    }
    session.set_keepalive(keepalive);
    session.set_pipelined_prefix(head);
}

/// Reads what the client sent next into `buf`, by `deadline` (a timeout is [`End::HeaderTimeout`]).
async fn read_more(
    stream: &mut Stream,
    buf: &mut BytesMut,
    deadline: Instant,
    down: &mut ShutdownWatch,
) -> Result<(), End> {
    if buf.capacity() - buf.len() < READ_ROOM {
        buf.reserve(HEAD_CAPACITY);
    }
    tokio::select! {
        // Bytes already sent are read before a shutdown is noticed, as pingora does.
        biased;
        read = tokio::time::timeout_at(deadline, stream.read_buf(buf)) => match read {
            Err(_) => Err(End::HeaderTimeout),
            Ok(Ok(0)) => Err(End::ClientClosed),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(End::Io(e)),
        },
        _ = down.wait_for(|shutting_down| *shutting_down) => Err(End::ShuttingDown),
    }
}

/// The answer to a head over the limit: 431 with a JSON body, `Connection: close`.
fn too_large_response(max: usize) -> Vec<u8> {
    let body = serde_json::json!({
        "error": "request_header_fields_too_large",
        "error_description": format!(
            "the request line and headers exceed {max} bytes or {MAX_HEADERS} header fields"
        ),
    })
    .to_string();
    let mut response = format!(
        "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n\
         content-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body.as_bytes());
    response
}

/// Answers 431, then reads (and drops) what the client still sends for a moment before the connection is
/// closed, so the answer is not lost to a reset. Failures only end the connection sooner.
async fn refuse_too_large(stream: &mut Stream, max: usize) {
    let write = async {
        stream.write_all(&too_large_response(max)).await?;
        stream.flush().await?;
        stream.shutdown().await
    };
    if !matches!(tokio::time::timeout(WRITE_TIME, write).await, Ok(Ok(()))) {
        return;
    }
    let until = Instant::now() + DRAIN_TIME;
    let mut scratch = vec![0u8; 16 * 1024];
    let mut drained = 0;
    while drained < DRAIN_BYTES {
        match tokio::time::timeout_at(until, stream.read(&mut scratch)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => break,
        }
    }
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static, W: ServeWhole> ServerApp for Downstream<A, W> {
    async fn process_new(self: &Arc<Self>, stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        if matches!(stream.selected_alpn_proto(), None | Some(ALPN::H1)) {
            self.serve_http1(stream, shutdown).await;
            None
        } else {
            // HTTP/2 (not offered by the listeners today): pingora's own handling.
            ServerApp::process_new(&self.proxy, stream, shutdown).await
        }
    }

    async fn cleanup(&self) {
        ServerApp::cleanup(self.proxy.as_ref()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete_after(chunks: &[&[u8]]) -> Vec<bool> {
        let mut scanner = HeadScanner::default();
        let mut buf = Vec::new();
        chunks
            .iter()
            .map(|chunk| {
                buf.extend_from_slice(chunk);
                scanner.complete(&buf)
            })
            .collect()
    }

    #[test]
    fn a_head_ends_at_its_empty_line_with_crlf_or_lf() {
        assert_eq!(complete_after(&[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"]), [true]);
        assert_eq!(complete_after(&[b"GET / HTTP/1.1\nHost: a\n\n"]), [true]);
        assert_eq!(complete_after(&[b"GET / HTTP/1.1\r\nHost: a\n\r\n"]), [true]);
        assert_eq!(complete_after(&[b"GET / HTTP/1.1\r\n\r\n"]), [true]);
        assert_eq!(complete_after(&[b"GET / HTTP/1.1\r\nHost: a\r\n"]), [false]);
        assert_eq!(complete_after(&[b"GET / HTTP/1.1\r\nHost: a\r\r\n"]), [false]);
    }

    #[test]
    fn a_terminator_split_across_reads_is_found() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        for split in 1..head.len() {
            let found = complete_after(&[&head[..split], &head[split..]]);
            assert_eq!(found, [false, true], "split at {split}");
        }
        let one_byte_at_a_time: Vec<&[u8]> = head.chunks(1).collect();
        let found = complete_after(&one_byte_at_a_time);
        assert_eq!(found.iter().filter(|&&c| c).count(), 1);
        assert!(found[found.len() - 1]);
    }

    #[test]
    fn a_complete_head_knows_its_length() {
        let mut scanner = HeadScanner::default();
        assert!(scanner.complete(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody"));
        assert_eq!(scanner.end, Some(27));
        let mut scanner = HeadScanner::default();
        assert!(scanner.complete(b"\r\nGET / HTTP/1.1\n\nx"));
        assert_eq!(scanner.end, Some(18));
        let mut scanner = HeadScanner::default();
        assert!(!scanner.complete(b"GET / HTTP/1.1\r\n"));
        assert_eq!(scanner.end, None);
    }

    #[test]
    fn header_lines_are_counted_once_however_the_head_is_split() {
        let head = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\nC: 3\r\n\r\n";
        let mut scanner = HeadScanner::default();
        assert!(scanner.complete(head));
        assert_eq!(scanner.headers, 3);
        let mut scanner = HeadScanner::default();
        let mut buf = Vec::new();
        for byte in head {
            buf.push(*byte);
            scanner.complete(&buf);
        }
        assert_eq!((scanner.end, scanner.headers), (Some(head.len()), 3));
    }

    #[test]
    fn asking_again_once_complete_changes_nothing() {
        // read_head asks before its read loop and again in it: a head that arrived whole with a keep-alive
        // connection's next request is asked about twice. Its header lines must be counted once (counted twice,
        // a head with more than half of MAX_HEADERS lines was refused with 431).
        let head = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\nGET /next HTTP/1.1\r\n";
        let mut scanner = HeadScanner::default();
        assert!(scanner.complete(head));
        assert!(scanner.complete(head));
        assert_eq!((scanner.end, scanner.headers), (Some(30), 2));
    }

    #[test]
    fn a_long_line_is_one_header_line() {
        let token = "a".repeat(5000);
        let head = format!("GET / HTTP/1.1\r\nAuthorization: Bearer {token}\r\nHost: a\r\n\r\n");
        let mut scanner = HeadScanner::default();
        assert!(scanner.complete(head.as_bytes()));
        assert_eq!((scanner.end, scanner.headers), (Some(head.len()), 2));
    }

    #[test]
    fn the_431_answer_is_a_whole_json_response_that_closes() {
        let response = String::from_utf8(too_large_response(65536)).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 "));
        assert!(head.contains("\r\nconnection: close"));
        assert!(head.contains(&format!("\r\ncontent-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"], "request_header_fields_too_large");
    }

    #[test]
    fn empty_lines_before_the_request_line_do_not_end_a_head() {
        assert_eq!(complete_after(&[b"\r\n\r\n", b"\n\n"]), [false, false]);
        assert_eq!(
            complete_after(&[b"\r\n\r\n", b"GET / HTTP/1.1\r\n", b"\r\n"]),
            [false, false, true]
        );
    }

    #[test]
    fn ipv6_clients_count_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ClientKey::of(a), ClientKey::of(b));
        assert_ne!(ClientKey::of(a), ClientKey::of(other));
        assert_eq!(ClientKey::of(a).to_string(), "2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(ClientKey::of(mapped), ClientKey::of("192.0.2.7".parse().unwrap()));
    }

    #[test]
    fn the_cap_counts_per_client_and_frees_on_drop() {
        let heads = PendingHeads::default();
        let max = NonZeroU32::new(2).unwrap();
        let a = ClientKey::of("192.0.2.1".parse().unwrap());
        let b = ClientKey::of("192.0.2.2".parse().unwrap());
        let first = heads.try_acquire(a, max).unwrap();
        let _second = heads.try_acquire(a, max).unwrap();
        assert!(heads.try_acquire(a, max).is_none());
        assert!(heads.try_acquire(b, max).is_some(), "another client is not affected");
        drop(first);
        assert_eq!(heads.count(a), 1);
        assert!(heads.try_acquire(a, max).is_some());
        assert_eq!(heads.count(b), 0, "a client with none is forgotten");
    }
}
