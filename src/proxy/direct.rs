//! The bodyless fast path: an HTTP/1 request without a body is sent upstream and answered by this one task,
//! from `request_filter`, instead of pingora's `proxy_1to1`.
//!
//! pingora 0.9 proxies every HTTP/1 request as two halves joined by `tokio::try_join!` that pass the request
//! and the response as `HttpTask` messages over two channels (`pingora-proxy/src/proxy_h1.rs`). For a request
//! without a body there is nothing to stream the other way, and that machinery is most of the proxy's own CPU
//! per request (benches/load/README.md, "Where the time goes"). So for such a request authgate writes the head
//! to a pooled upstream connection, reads the answer and writes it to the client itself, applying what
//! `proxy_1to1` would have applied: HTTP/1.1 upstream, the hop-by-hop fields removed, authgate's rewrite (the
//! same as on pingora's path, the identity fields appended as bytes: [`super::wire`]), a close-delimited answer
//! re-framed as chunked so the client connection survives, and one retry of the same bytes on a fresh
//! connection when a reused idle one turns out to be closed. Anything else (a body, `HEAD`, an upgrade,
//! `Expect`, `TE`, connection-nominated fields, HTTP/2, a TLS or HTTP/2 upstream) takes pingora's path
//! unchanged.
//!
//! Before each of its two writes (the head upstream, the answer to the client) the exchange lets every other
//! task that is ready on its thread run first ([`after_ready_tasks`]), so that under load the writes of many
//! connections go out back to back instead of one between two reads. Each write to a peer that sleeps wakes
//! it, and a wake-up across CPUs is an inter-processor interrupt, which a virtual machine pays for with an exit
//! to its host: batched, the upstream and the clients are woken once for many requests (benches/load/README.md,
//! "Writes batched across connections").

use super::answer;
use super::routes::UpstreamPeer;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Version};
use pingora::connectors::{ConnectorOptions, TransportConnector};
use pingora::prelude::*;
use pingora::protocols::http::authority::validate_request_authority;
use pingora::protocols::http::v1::client::HttpSession as UpstreamSession;
use pingora::protocols::http::HttpTask;
use pingora::protocols::{Stream, ALPN};
use pingora::server::configuration::ServerConf;
use pingora::upstreams::peer::{HttpUpstreamRequestPolicy, Peer};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

/// Hop-by-hop fields pingora removes from every HTTP/1 request it sends upstream (its default policy).
const HOP_BY_HOP: [&str; 10] = [
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "connection",
    "upgrade",
    "http2-settings",
];

/// Upstream HTTP/1 connections of the fast path: new ones from pingora's connector, idle ones kept in a pool of
/// their own.
///
/// The pool is a stack of idle connections per upstream (the most recently used first), at most
/// `upstream_keepalive_pool_size` each. Unlike pingora's pool it spawns no task per released connection to
/// watch it, and it needs no `getpeername` on reuse (it owns the connection, so its descriptor cannot have been
/// reused for another peer): a connection the upstream closed while idle is found when it is taken (the
/// runtime has seen it become readable) and dropped, and one closed just then is retried like pingora does
/// ([`Direct::exchange`]).
pub struct Direct {
    transport: TransportConnector,
    idle: Mutex<HashMap<u64, Vec<Idle>>>,
    pool_size: usize,
    max_retries: usize,
}

/// A pooled connection and when it was put back.
struct Idle {
    stream: Stream,
    since: Instant,
}

impl Direct {
    /// A connector with the options pingora's own proxy gets from `conf`, and a pool of the same size.
    pub fn new(conf: &ServerConf) -> Self {
        Self {
            transport: TransportConnector::new(Some(ConnectorOptions::from_server_conf(conf))),
            idle: Mutex::new(HashMap::new()),
            pool_size: conf.upstream_keepalive_pool_size,
            max_retries: conf.max_retries.max(1),
        }
    }

    /// A connection to `peer`: an idle one that is still open, else a new one (true when reused).
    async fn connect(&self, peer: &UpstreamPeer) -> Result<(Stream, bool)> {
        if let Some(stream) = self.take_idle(peer) {
            return Ok((stream, true));
        }
        // pingora's connector future is about 8 KB: boxed, it is allocated only when a connection is made,
        // instead of widening the exchange's state, which pingora's `request_filter` box moves on every request.
        Ok((Box::pin(self.transport.new_stream(peer.peer())).await?, false))
    }

    /// The most recently released connection to `peer` that is neither past the peer's idle timeout nor closed
    /// (or sent something) since.
    fn take_idle(&self, peer: &UpstreamPeer) -> Option<Stream> {
        let timeout = peer.peer().idle_timeout();
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(&peer.key())?;
        while let Some(mut entry) = list.pop() {
            let fresh = timeout.is_none_or(|t| entry.since.elapsed() < t);
            if fresh && quiet(&mut entry.stream) {
                return Some(entry.stream);
            }
        }
        None
    }

    /// Keeps the connection for the next request to `peer` when the answer allows it (pingora's rules:
    /// `Connection` and HTTP version, the body read whole and nothing more) and the pool has room.
    async fn release(&self, mut session: UpstreamSession, peer: &UpstreamPeer) {
        session.respect_keepalive();
        if let Some(stream) = session.reuse().await {
            self.keep(stream, peer);
        }
    }

    /// Puts a connection that may carry another request in `peer`'s pool, when it has room.
    fn keep(&self, stream: Stream, peer: &UpstreamPeer) {
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(peer.key()).or_default();
            if list.len() < self.pool_size {
                list.push(Idle {
                    stream,
                    since: Instant::now(),
                });
            }
        }
    }

    /// Sends the request `head` to `peer` and writes the answer to the client. When a reused connection turns
    /// out to be closed before the answer (and the method is idempotent), the same bytes go once more on
    /// another connection. An error before the answer's head was written is marked as the upstream's
    /// (pingora's `fail_to_proxy` answers it); after, the client connection is closed.
    pub async fn exchange(&self, session: &mut Session, peer: &UpstreamPeer, head: Bytes) -> Result<()> {
        let idempotent = session.req_header().method.is_idempotent();
        let options = &peer.peer().options;
        let mut tries = 0;
        // Before a pooled connection is taken: a task does not hold one while the others run, and the check
        // that it is still open is made just before it is written to. A retry does not wait again.
        after_ready_tasks().await;
        loop {
            tries += 1;
            let (mut stream, reused) = self.connect(peer).await.map_err(|e| e.into_up())?;
            let result = async {
                write_head(&mut stream, &head, options.write_timeout).await?;
                let stream = match answer::read(stream, options.read_timeout).await? {
                    answer::Read::Plain(stream, plain) => return Ok(Answer::Plain(stream, plain)),
                    answer::Read::Other(stream) => stream,
                };
                // The session reads the answer as it would after writing the head itself: it keeps the written
                // request only to frame answers to HEAD and upgrades, which do not take this path, and to
                // honour a request's `Connection: close`, which `prepare` removed.
                let mut upstream = UpstreamSession::new_with_options(stream, peer.peer());
                upstream.read_timeout = options.read_timeout;
                upstream.write_timeout = options.write_timeout;
                let first = upstream.read_response_task().await?;
                Ok(Answer::Session(Box::new(upstream), first))
            }
            .await;
            let (mut upstream, first) = match result {
                Ok(Answer::Plain(stream, plain)) => {
                    respond_plain(session, plain).await?;
                    self.keep(stream, peer);
                    return Ok(());
                }
                Ok(Answer::Session(upstream, first)) => (upstream, first),
                Err(e) => {
                    let mut e: Box<Error> = e;
                    if idempotent {
                        e.retry.decide_reuse(reused);
                    } else {
                        e.set_retry(false);
                    }
                    if reused && idempotent && e.retry() && tries < self.max_retries {
                        tracing::debug!(error = %e, "reused upstream connection failed; retrying on another");
                        continue;
                    }
                    return Err(e.more_context(format!("Peer: {}", peer.peer())).into_up());
                }
            };
            let clean = respond(session, &mut upstream, first).await?;
            if clean {
                self.release(*upstream, peer).await;
            }
            return Ok(());
        }
    }
}

/// How the upstream's answer was read.
enum Answer {
    /// Whole, by [`answer::read`]: the connection and the answer.
    Plain(Stream, answer::Plain),
    /// By pingora's client session: the session (boxed: it is large, and this is the rarer case) and the
    /// answer's first task.
    Session(Box<UpstreamSession>, HttpTask),
}

/// Writes a plain answer to the client, as [`respond`] writes the tasks pingora's session would have read for
/// it (its head, then its whole body).
async fn respond_plain(session: &mut Session, plain: answer::Plain) -> Result<()> {
    after_ready_tasks().await;
    // pingora's session ends the answer with its head when there is no body.
    let tasks = if plain.body.is_empty() {
        vec![HttpTask::Header(plain.header, true)]
    } else {
        vec![
            HttpTask::Header(plain.header, false),
            HttpTask::Body(Some(plain.body), true),
        ]
    };
    session.write_response_tasks(tasks).await.map_err(|e| e.into_down())?;
    Ok(())
}

/// Returns once every other task that was ready on this thread when it was called has run (up to its next
/// wait): tokio defers a yielding task's wake-up until the runtime has polled its I/O driver, so the tasks
/// ready now, and those the driver finds ready, run before this one continues. Without other ready tasks it
/// costs one poll of the driver (a non-blocking `epoll_wait`).
async fn after_ready_tasks() {
    tokio::task::yield_now().await;
}

/// Writes a request head to the upstream, as pingora's `write_request_header` does (its errors, its timeout).
async fn write_head(stream: &mut Stream, head: &[u8], limit: Option<Duration>) -> Result<()> {
    let write = async {
        stream.write_all(head).await?;
        stream.flush().await
    };
    let written = match limit {
        Some(limit) => match tokio::time::timeout(limit, write).await {
            Ok(written) => written,
            Err(_) => Err(std::io::Error::from(ErrorKind::TimedOut)),
        },
        None => write.await,
    };
    written.map_err(|e| match e.kind() {
        ErrorKind::TimedOut => Error::because(ErrorType::WriteTimedout, "while writing request headers (timeout)", e),
        _ => Error::because(ErrorType::WriteError, "while writing request headers", e),
    })
}

/// Writes the answer, the first task of which has been read, to the client. True when it ended cleanly
/// (the upstream connection may then be reused).
async fn respond(
    session: &mut Session,
    upstream: &mut pingora::protocols::http::v1::client::HttpSession,
    mut task: HttpTask,
) -> Result<bool> {
    after_ready_tasks().await;
    loop {
        let end = task.is_end();
        if let HttpTask::Header(header, end_of_body) = &mut task {
            frame_for_client(header, *end_of_body)?;
        }
        session
            .write_response_tasks(vec![task])
            .await
            .map_err(|e| e.into_down())?;
        if end {
            return Ok(true);
        }
        task = upstream.read_response_task().await.map_err(|e| e.into_up())?;
    }
}

/// Whether an idle connection has nothing to read: not closed by the peer, no unexpected bytes (pingora's
/// `test_reusable_stream`). One poll that never waits: without a readiness event since it was last read to
/// the end, it costs no system call.
fn quiet(stream: &mut Stream) -> bool {
    let mut byte = [0u8; 1];
    let mut buf = ReadBuf::new(&mut byte);
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(stream).poll_read(&mut cx, &mut buf) {
        Poll::Pending => true,
        Poll::Ready(Ok(())) => {
            if buf.filled().is_empty() {
                tracing::debug!("pooled upstream connection was closed by the upstream");
            } else {
                tracing::warn!("pooled upstream connection had unexpected data; dropped");
            }
            false
        }
        Poll::Ready(Err(e)) => {
            tracing::debug!(error = %e, "pooled upstream connection is broken");
            false
        }
    }
}

/// pingora's `h1_response_filter`: an answer whose body is delimited by the connection closing (no
/// `Content-Length`, no `Transfer-Encoding`) goes to the client chunked, so the client's connection is kept.
fn frame_for_client(header: &mut ResponseHeader, end_of_body: bool) -> Result<()> {
    let no_body = matches!(header.status.as_u16(), 204 | 304);
    if !no_body
        && !header.status.is_informational()
        && !header.headers.contains_key(header::TRANSFER_ENCODING)
        && !header.headers.contains_key(header::CONTENT_LENGTH)
        && !end_of_body
    {
        header.set_version(Version::HTTP_11);
        header.insert_header(header::TRANSFER_ENCODING, "chunked")?;
    }
    Ok(())
}

/// Whether the request may take the fast path: HTTP/1 on both sides (plain TCP or unix socket upstream with
/// pingora's default request policy) and a request with nothing to stream or strip beyond the standard
/// hop-by-hop fields.
pub fn eligible(session: &mut Session, peer: &HttpPeer) -> bool {
    session.as_http1().is_some()
        && eligible_peer(peer)
        && eligible_request(session.req_header())
        && session.is_body_empty()
}

/// The upstream part of [`eligible`]: plain TCP or a unix socket, HTTP/1, pingora's default request policy.
pub fn eligible_peer(peer: &HttpPeer) -> bool {
    !peer.is_tls()
        && peer.options.alpn == ALPN::H1
        && peer.options.http_upstream_request_policy == HttpUpstreamRequestPolicy::default()
}

/// Header fields a head may have for [`eligible_head`] to judge it (more: pingora's path judges it).
const HEAD_FIELDS: usize = 64;

/// [`eligible_request`] judged on a whole request head as the client sent it, before pingora parses it, with
/// the same parser (httparse, default settings): true only for a head pingora parses into a request that
/// [`eligible_request`] accepts and that has no body. A head this parser does not take as it is (pingora
/// retries some with the target escaped), or with more than [`HEAD_FIELDS`] fields, is not judged here: false.
pub fn eligible_head(head: &[u8]) -> bool {
    let mut fields = [const { std::mem::MaybeUninit::<httparse::Header>::uninit() }; HEAD_FIELDS];
    let mut req = httparse::Request::new(&mut []);
    if !matches!(
        req.parse_with_uninit_headers(head, &mut fields),
        Ok(httparse::Status::Complete(_))
    ) {
        return false;
    }
    let (Some(method), Some(path), Some(0 | 1)) = (req.method, req.path, req.version) else {
        return false;
    };
    if method == "CONNECT" || method == "HEAD" || !path.starts_with('/') {
        return false;
    }
    let mut hosts = 0;
    req.headers.iter().all(|field| {
        let name = field.name.as_bytes();
        let is = |standard: &header::HeaderName| name.eq_ignore_ascii_case(standard.as_str().as_bytes());
        if is(&header::HOST) {
            hosts += 1;
            hosts == 1
        } else if is(&header::CONTENT_LENGTH) {
            field.value == b"0"
        } else if is(&header::CONNECTION) {
            plain_connection_value(field.value)
        } else {
            ![
                &header::UPGRADE,
                &header::EXPECT,
                &header::TE,
                &header::TRAILER,
                &header::TRANSFER_ENCODING,
            ]
            .into_iter()
            .any(is)
        }
    })
}

/// The request-only part of [`eligible`].
pub fn eligible_request(req: &RequestHeader) -> bool {
    let headers = &req.headers;
    matches!(req.version, Version::HTTP_10 | Version::HTTP_11)
        && req.method != Method::CONNECT
        && req.method != Method::HEAD
        && req.uri.authority().is_none()
        && req.raw_path().first() == Some(&b'/')
        && headers.get_all(header::HOST).iter().nth(1).is_none()
        && !headers.contains_key(header::UPGRADE)
        && !headers.contains_key(header::EXPECT)
        && !headers.contains_key(header::TE)
        && !headers.contains_key(header::TRAILER)
        && !headers.contains_key(header::TRANSFER_ENCODING)
        && headers
            .get_all(header::CONTENT_LENGTH)
            .iter()
            .all(|v| v.as_bytes() == b"0")
        && headers.get_all(header::CONNECTION).iter().all(plain_connection)
}

/// A `Connection` value naming only `keep-alive` and `close` (nothing else to strip).
fn plain_connection(value: &HeaderValue) -> bool {
    plain_connection_value(value.as_bytes())
}

/// [`plain_connection`] on a field's bytes.
fn plain_connection_value(value: &[u8]) -> bool {
    value.split(|&b| b == b',').all(|token| {
        let token = token.trim_ascii();
        token.is_empty() || token.eq_ignore_ascii_case(b"keep-alive") || token.eq_ignore_ascii_case(b"close")
    })
}

/// What `proxy_1to1` does to an eligible request before authgate's own rewrite: HTTP/1.1, and the hop-by-hop
/// fields (with a `Close` field when `Connection` nominated it) removed.
pub fn prepare(req: &mut RequestHeader) {
    req.set_version(Version::HTTP_11);
    // One pass over the (few) names; the removals, each a lookup, only when there is something to remove.
    if !req.headers.keys().any(|name| HOP_BY_HOP.contains(&name.as_str())) {
        return;
    }
    let nominated_close = req.headers.get_all(header::CONNECTION).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
    });
    if nominated_close {
        req.remove_header("close");
    }
    for name in HOP_BY_HOP {
        req.remove_header(name);
    }
}

/// What `proxy_1to1` checks after the request filters (the target stays origin-form on this path, so the
/// `Host` field is the client's).
pub fn validate(req: &RequestHeader) -> Result<()> {
    validate_request_authority(req).map_err(|e| e.into_in())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_tasks_all_run_before_one_that_waited_for_them_continues() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        runtime.block_on(async {
            let tasks: Vec<_> = (0..3)
                .map(|i| {
                    let order = order.clone();
                    tokio::spawn(async move {
                        order.lock().expect("order").push(format!("read {i}"));
                        after_ready_tasks().await;
                        order.lock().expect("order").push(format!("write {i}"));
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("task");
            }
        });
        let mut order = order.lock().expect("order").clone();
        // Every task has read before any writes; the writes' own order is the runtime's (tokio wakes deferred
        // tasks last-in first).
        assert_eq!(order[..3], ["read 0", "read 1", "read 2"]);
        order[3..].sort();
        assert_eq!(order[3..], ["write 0", "write 1", "write 2"]);
    }

    fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build(method, path.as_bytes(), None).unwrap();
        for (name, value) in headers {
            req.append_header(name.to_string(), *value).unwrap();
        }
        req
    }

    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

    /// Requests the fast path takes.
    const ELIGIBLE: &[Case] = &[
        ("GET", "/a?b=c", &[("Host", "x")]),
        ("DELETE", "/a", &[("Content-Length", "0")]),
        (
            "GET",
            "/",
            &[("Connection", "keep-alive"), ("connection", " Close ,keep-alive")],
        ),
    ];

    /// Requests with something to stream or strip: pingora's path.
    const NOT_ELIGIBLE: &[Case] = &[
        ("POST", "/", &[("content-length", "3")]),
        ("POST", "/", &[("transfer-encoding", "chunked")]),
        ("GET", "/", &[("Upgrade", "websocket"), ("connection", "upgrade")]),
        ("GET", "/", &[("EXPECT", "100-continue")]),
        ("GET", "/", &[("te", "trailers")]),
        ("GET", "/", &[("Trailer", "x")]),
        ("GET", "/", &[("connection", "keep-alive, x-secret")]),
        ("GET", "/", &[("host", "a"), ("Host", "b")]),
        ("GET", "http://x/a", &[]),
        ("OPTIONS", "*", &[]),
        ("CONNECT", "x:443", &[]),
        ("HEAD", "/", &[]),
    ];

    #[test]
    fn plain_requests_are_eligible() {
        for (method, path, headers) in ELIGIBLE {
            assert!(
                eligible_request(&request(method, path, headers)),
                "{method} {path} {headers:?}"
            );
        }
    }

    #[test]
    fn anything_to_stream_or_strip_is_not() {
        for (method, path, headers) in NOT_ELIGIBLE {
            assert!(
                !eligible_request(&request(method, path, headers)),
                "{method} {path} {headers:?}"
            );
        }
    }

    #[test]
    fn http2_requests_are_not() {
        let mut req = request("GET", "/", &[]);
        req.set_version(Version::HTTP_2);
        assert!(!eligible_request(&req));
    }

    fn head(method: &str, path: &str, version: &str, headers: &[(&str, &str)]) -> String {
        let fields: String = headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect();
        format!("{method} {path} {version}\r\n{fields}\r\n")
    }

    #[test]
    fn a_head_is_judged_on_its_bytes_as_on_the_request_pingora_parses_from_it() {
        // Beyond the requests above: framing fields as they may be spelled on the wire.
        let framing: &[Case] = &[
            ("GET", "/", &[("Authorization", "Bearer abc"), ("X-Other", "1")]),
            ("POST", "/", &[("Content-Length", "00")]),
            ("POST", "/", &[("Content-Length", "0"), ("Content-Length", "0")]),
            (
                "POST",
                "/",
                &[("Transfer-Encoding", "chunked"), ("Content-Length", "0")],
            ),
        ];
        let cases = ELIGIBLE.iter().chain(NOT_ELIGIBLE).chain(framing);
        for (method, path, headers) in cases {
            let parsed = request(method, path, headers);
            let no_body = !parsed.headers.contains_key(header::TRANSFER_ENCODING)
                && parsed.headers.get_all(header::CONTENT_LENGTH).iter().all(|v| v == "0");
            for version in ["HTTP/1.1", "HTTP/1.0"] {
                let bytes = head(method, path, version, headers);
                assert_eq!(
                    eligible_head(bytes.as_bytes()),
                    eligible_request(&parsed) && no_body,
                    "{bytes:?}"
                );
            }
        }
    }

    #[test]
    fn a_head_the_parser_does_not_take_whole_is_left_to_pingora() {
        let fine = head("GET", "/", "HTTP/1.1", &[("Host", "x")]);
        assert!(eligible_head(fine.as_bytes()));
        assert!(!eligible_head(&fine.as_bytes()[..fine.len() - 2]), "incomplete");
        assert!(!eligible_head(b"GET /a b HTTP/1.1\r\n\r\n"), "a space in the target");
        assert!(!eligible_head(b"GET / HTTP/2.0\r\n\r\n"));
        assert!(!eligible_head(b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"));
        let fields: Vec<(String, &str)> = (0..=HEAD_FIELDS).map(|i| (format!("x-{i}"), "1")).collect();
        let many: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        assert!(!eligible_head(head("GET", "/", "HTTP/1.1", &many).as_bytes()));
        assert!(eligible_head(head("GET", "/", "HTTP/1.1", &many[1..]).as_bytes()));
    }

    #[test]
    fn prepare_strips_hop_by_hop_fields() {
        let mut req = request(
            "GET",
            "/",
            &[
                ("host", "h"),
                ("connection", "close"),
                ("close", "x"),
                ("keep-alive", "timeout=5"),
                ("proxy-connection", "keep-alive"),
                ("proxy-authorization", "Basic eA=="),
                ("x-kept", "1"),
            ],
        );
        req.set_version(Version::HTTP_10);
        prepare(&mut req);
        assert_eq!(req.version, Version::HTTP_11);
        let names: Vec<&str> = req.headers.keys().map(|n| n.as_str()).collect();
        assert_eq!(names, ["host", "x-kept"]);
    }

    #[test]
    fn close_delimited_answers_become_chunked() {
        let mut header = ResponseHeader::build(200, None).unwrap();
        header.set_version(Version::HTTP_10);
        frame_for_client(&mut header, false).unwrap();
        assert_eq!(header.version, Version::HTTP_11);
        assert_eq!(header.headers["transfer-encoding"], "chunked");

        for (status, end) in [(204, false), (304, false), (200, true)] {
            let mut header = ResponseHeader::build(status, None).unwrap();
            frame_for_client(&mut header, end).unwrap();
            assert!(!header.headers.contains_key("transfer-encoding"), "{status} {end}");
        }
        let mut header = ResponseHeader::build(200, None).unwrap();
        header.insert_header("content-length", "3").unwrap();
        frame_for_client(&mut header, false).unwrap();
        assert!(!header.headers.contains_key("transfer-encoding"));
    }
}
