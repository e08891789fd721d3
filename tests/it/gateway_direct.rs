//! The bodyless fast path (issue 18 part B): requests without a body are exchanged with the upstream by
//! authgate itself, not by pingora's `proxy_1to1`. What that path must keep: the answer's framing (chunked,
//! close-delimited, HEAD, 204/304), a retry when a pooled connection was closed by the upstream, the request
//! rewrite the upstream sees, and requests with a body still proxied whole.

use crate::support;

use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use support::raw;
use support::{base_config, echo_upstream, Gateway};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ALICE: &str = "Authorization: Basic YWxpY2U6YWxpY2UtcHc=";

/// One request as the scripted upstream received it.
#[derive(Debug, Clone)]
struct Seen {
    connection: usize,
    head: String,
    body: Vec<u8>,
}

/// An upstream answering by path (see [`answer`]), recording every request and how many it dropped.
#[derive(Clone, Default)]
struct Scripted {
    seen: Arc<Mutex<Vec<Seen>>>,
    dropped: Arc<Mutex<usize>>,
}

/// What the upstream answers for `path` (`None`: close the connection without answering), and whether it
/// closes the connection after answering.
fn answer(path: &str, nth_on_connection: usize) -> Option<(Vec<u8>, bool)> {
    let text: (&str, bool) = match path {
        "/api/chunked" => (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            false,
        ),
        "/api/close-delimited" => (
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello until close",
            true,
        ),
        "/api/head" => ("HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Head: yes\r\n\r\n", false),
        "/api/204" => ("HTTP/1.1 204 No Content\r\nX-Status: 204\r\n\r\n", false),
        "/api/304" => ("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n", false),
        // Answers, then closes the connection at once, without saying so: a pooled connection the upstream
        // closes while it is idle.
        "/api/close-after" => ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true),
        // Answers the first request of a connection, then closes it when the next one arrives: a pooled
        // connection the upstream has given up on.
        "/api/once" if nth_on_connection > 0 => return None,
        _ => ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false),
    };
    Some((text.0.as_bytes().to_vec(), text.1))
}

impl Scripted {
    async fn start() -> (Self, SocketAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let scripted = Self::default();
        let state = scripted.clone();
        tokio::spawn(async move {
            let mut connection = 0;
            while let Ok((stream, _)) = listener.accept().await {
                connection += 1;
                tokio::spawn(state.clone().serve(stream, connection));
            }
        });
        (scripted, addr)
    }

    async fn serve(self, mut stream: TcpStream, connection: usize) {
        let mut buf = Vec::new();
        let mut nth = 0;
        loop {
            let end = loop {
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break end + 4;
                }
                let mut chunk = [0u8; 4096];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            buf.drain(..end);
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            while buf.len() < length {
                let mut chunk = [0u8; 4096];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let body: Vec<u8> = buf.drain(..length).collect();
            let path = head.split(' ').nth(1).unwrap_or_default().to_string();
            if path == "/api/stall" {
                // Never answers: holds the connection until the gateway gives up on it and closes it.
                self.seen.lock().unwrap().push(Seen { connection, head, body });
                let _ = stream.read(&mut [0u8; 1]).await;
                *self.dropped.lock().unwrap() += 1;
                return;
            }
            self.seen.lock().unwrap().push(Seen {
                connection,
                head: head.clone(),
                body,
            });
            let Some((response, close)) = answer(&path, nth) else {
                *self.dropped.lock().unwrap() += 1;
                return;
            };
            nth += 1;
            if stream.write_all(&response).await.is_err() || close {
                return;
            }
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn gateway(upstream: SocketAddr, route_extra: &str) -> Gateway {
    let config = format!(
        "{}routes:\n  - {{name: direct, prefix: /api, upstream: \"{upstream}\"{route_extra}}}\n",
        base_config()
    );
    Gateway::start(&config).await
}

/// Sends `requests` one after the other on one keep-alive connection and reads each answer by its framing.
async fn keep_alive(port: u16, requests: &[&str]) -> Vec<(u16, Vec<(String, String)>, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut buf = Vec::new();
    let mut answers = Vec::new();
    for request in requests {
        stream.write_all(request.as_bytes()).await.unwrap();
        let head_method = request.starts_with("HEAD ");
        let answer = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            read_answer(&mut stream, &mut buf, head_method).await
        })
        .await
        .unwrap_or_else(|_| panic!("no answer to {request:?} within 10 s"));
        answers.push(answer);
    }
    answers
}

async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) {
    let mut chunk = [0u8; 4096];
    let n = stream.read(&mut chunk).await.unwrap();
    assert!(
        n > 0,
        "the gateway closed the connection; read so far: {:?}",
        String::from_utf8_lossy(buf)
    );
    buf.extend_from_slice(&chunk[..n]);
}

async fn read_answer(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    head_method: bool,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        fill(stream, buf).await;
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    buf.drain(..end);
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if head_method || status == 204 || status == 304 {
        return (status, headers, body);
    }
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let line_end = loop {
                if let Some(p) = buf.windows(2).position(|w| w == b"\r\n") {
                    break p;
                }
                fill(stream, buf).await;
            };
            let size = usize::from_str_radix(String::from_utf8_lossy(&buf[..line_end]).trim(), 16).unwrap();
            buf.drain(..line_end + 2);
            while buf.len() < size + 2 {
                fill(stream, buf).await;
            }
            body.extend_from_slice(&buf[..size]);
            buf.drain(..size + 2);
            if size == 0 {
                return (status, headers, body);
            }
        }
    }
    let length: usize = header("content-length")
        .unwrap_or_else(|| panic!("an answer without length on a keep-alive connection: {head}"))
        .parse()
        .unwrap();
    while buf.len() < length {
        fill(stream, buf).await;
    }
    body.extend(buf.drain(..length));
    (status, headers, body)
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: gw\r\n\r\n")
}

/// A scripted upstream and a gateway whose `/api` route forwards to it without authentication.
async fn scripted_gateway() -> (Scripted, Gateway) {
    let (upstream, addr) = Scripted::start().await;
    (upstream, gateway(addr, ", auth: {mode: off}").await)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_keep_their_framing_and_the_client_connection_survives() {
    let (upstream, gw) = scripted_gateway().await;
    let requests = [
        get("/api/chunked"),
        get("/api/close-delimited"),
        "HEAD /api/head HTTP/1.1\r\nHost: gw\r\n\r\n".to_string(),
        get("/api/204"),
        get("/api/304"),
        get("/api/plain"),
    ];
    let requests: Vec<&str> = requests.iter().map(String::as_str).collect();
    let answers = keep_alive(gw.port, &requests).await;

    let (status, headers, body) = &answers[0];
    assert_eq!(*status, 200);
    assert_eq!(body, b"hello world");
    assert_eq!(header(headers, "transfer-encoding"), Some("chunked"));

    // HTTP/1.0 without a length: delimited by the upstream closing, re-framed as chunked for the client.
    let (status, headers, body) = &answers[1];
    assert_eq!(*status, 200);
    assert_eq!(body, b"hello until close");
    assert_eq!(header(headers, "transfer-encoding"), Some("chunked"), "{headers:?}");
    assert_eq!(header(headers, "content-type"), Some("text/plain"));

    let (status, headers, _) = &answers[2];
    assert_eq!(*status, 200);
    assert_eq!(header(headers, "content-length"), Some("11"));
    assert_eq!(header(headers, "x-head"), Some("yes"));

    let (status, headers, _) = &answers[3];
    assert_eq!(*status, 204);
    assert_eq!(header(headers, "x-status"), Some("204"));
    assert_eq!(header(headers, "transfer-encoding"), None);

    let (status, headers, _) = &answers[4];
    assert_eq!(*status, 304);
    assert_eq!(header(headers, "etag"), Some("\"v1\""));
    assert_eq!(header(headers, "transfer-encoding"), None);

    let (status, _, body) = &answers[5];
    assert_eq!(*status, 200);
    assert_eq!(body, b"ok");

    let seen = upstream.seen();
    assert_eq!(seen.len(), 6, "{seen:?}");
    assert!(
        seen[2].head.starts_with("HEAD /api/head HTTP/1.1\r\n"),
        "{:?}",
        seen[2].head
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_closed_by_the_upstream_is_retried_on_a_fresh_one() {
    let (upstream, gw) = scripted_gateway().await;
    let request = get("/api/once");
    // pingora's pool does not always hand a connection back out at once, so send until one was reused.
    let mut sent = 0;
    while *upstream.dropped.lock().unwrap() == 0 && sent < 20 {
        for (status, _, body) in keep_alive(gw.port, &[&request, &request]).await {
            assert_eq!(status, 200);
            assert_eq!(body, b"ok");
        }
        sent += 2;
    }
    // Every request reused from the pool went to a connection the upstream closed unanswered, and was
    // answered all the same, on a fresh connection.
    let dropped = *upstream.dropped.lock().unwrap();
    assert!(
        dropped >= 1,
        "the pooled connection was never reused in {sent} requests"
    );
    let seen = upstream.seen();
    assert_eq!(seen.len(), sent + dropped, "{seen:?}");
    let connections: std::collections::HashSet<usize> = seen.iter().map(|s| s.connection).collect();
    assert_eq!(connections.len(), sent, "one fresh connection per answer: {seen:?}");
    // The retry sends the same rewritten request again (it is rebuilt, not copied in advance).
    let request_id = |head: &str| {
        head.lines().find_map(|l| {
            let lower = l.to_ascii_lowercase();
            lower.strip_prefix("x-request-id: ").map(str::to_string)
        })
    };
    for pair in seen.windows(2) {
        if pair[0].connection != pair[1].connection && request_id(&pair[0].head) == request_id(&pair[1].head) {
            assert_eq!(pair[0].head, pair[1].head, "the retried request is the same");
            assert!(pair[1]
                .head
                .to_ascii_lowercase()
                .contains("\r\nx-forwarded-for: 127.0.0.1\r\n"));
        }
    }
    let retried = seen
        .windows(2)
        .filter(|p| request_id(&p[0].head).is_some() && request_id(&p[0].head) == request_id(&p[1].head))
        .count();
    assert_eq!(
        retried, dropped,
        "each dropped request was sent again with its request id: {seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_is_not_retried_is_a_502_json_error() {
    // POST is not idempotent: a pooled connection the upstream drops is not retried (as pingora does).
    let (upstream, gw) = scripted_gateway().await;
    // pingora's pool does not always hand a connection back out at once: the first POST whose pooled
    // connection the upstream drops is the one answered 502.
    let post = "POST /api/once HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\n\r\n";
    let mut refused = None;
    for _ in 0..10 {
        let answer = keep_alive(gw.port, &[post]).await.remove(0);
        if *upstream.dropped.lock().unwrap() > 0 {
            refused = Some(answer);
            break;
        }
        assert_eq!(answer.0, 200, "a fresh connection answers");
    }
    let (status, _, body) = refused.expect("a pooled connection was reused");
    assert_eq!(status, 502, "{}", String::from_utf8_lossy(&body));
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "bad_gateway");
    assert_eq!(*upstream.dropped.lock().unwrap(), 1, "not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_the_upstream_closed_while_idle_is_not_used_again() {
    // The fast path's pool has no watcher task: a connection closed while idle must be noticed when it is
    // taken, or a request that may not be retried (POST) would fail on it.
    let (upstream, gw) = scripted_gateway().await;
    let post = "POST /api/close-after HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\n\r\n";
    for (status, _, body) in keep_alive(gw.port, &[post, post, post]).await {
        assert_eq!((status, body.as_slice()), (200, b"ok".as_slice()));
    }
    assert_eq!(*upstream.dropped.lock().unwrap(), 0);
    let seen = upstream.seen();
    let connections: std::collections::HashSet<usize> = seen.iter().map(|s| s.connection).collect();
    assert_eq!(
        (seen.len(), connections.len()),
        (3, 3),
        "a fresh connection each time: {seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_sees_the_rewritten_request_without_hop_by_hop_fields() {
    let gw = gateway(echo_upstream().await, "").await;
    let response = raw::send(
        gw.port,
        format!(
            "GET /api/x HTTP/1.1\r\nHost: gw\r\n{ALICE}\r\nX-Authgate-User: K2:CONTOSO\\administrator\r\n\
             X-Authgate-Anything: spoofed\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n\
             Proxy-Authorization: Basic eDp5\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nX-Forwarded-For: 6.6.6.6\r\n\
             X-Request-Id: fast-1\r\nConnection: keep-alive, close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.body);
    let body: Value = serde_json::from_str(&response.body).unwrap();
    let h = body["headers"].as_object().unwrap();
    assert_eq!(h["x-authgate-user"], "K2:CONTOSO\\alice", "{h:?}");
    assert_eq!(h["x-authgate-auth-method"], "basic");
    assert!(h.get("x-authgate-anything").is_none(), "{h:?}");
    assert!(h.get("authorization").is_none(), "{h:?}");
    for gone in [
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "http2-settings",
        "connection",
    ] {
        assert!(h.get(gone).is_none(), "{gone}: {h:?}");
    }
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-request-id"], "fast-1");
    assert_eq!(h["host"], "gw");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_with_a_body_still_reach_the_upstream_whole() {
    let (upstream, gw) = scripted_gateway().await;
    let requests = [
        get("/api/plain"),
        "POST /api/plain HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\n\r\nhello".to_string(),
        "PUT /api/plain HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\n\r\nabc".to_string(),
        get("/api/plain"),
    ];
    let requests: Vec<&str> = requests.iter().map(String::as_str).collect();
    for (status, _, body) in keep_alive(gw.port, &requests).await {
        assert_eq!(status, 200);
        assert_eq!(body, b"ok");
    }
    let seen = upstream.seen();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(seen[1].body, b"hello");
    assert_eq!(seen[2].body, b"abc");
    assert!(
        seen[1].head.to_ascii_lowercase().contains("content-length: 5\r\n"),
        "{:?}",
        seen[1].head
    );
    // pingora's path has its own pool: the bodies went on another upstream connection than the GETs. (Whether
    // the second GET gets the first one's pooled connection back is up to pingora's pool, which does not
    // always hand it out again at once; the framing test covers reuse on one client connection.)
    assert_ne!(seen[1].connection, seen[0].connection);
    assert_ne!(seen[2].connection, seen[0].connection);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_does_not_answer_in_the_read_timeout_is_a_504() {
    let (upstream, addr) = Scripted::start().await;
    let gw = gateway(addr, ", auth: {mode: off}, upstream_timeouts: {read_ms: 300}").await;
    // Without a body (the fast path) and with one (pingora's path).
    let requests = [
        get("/api/stall"),
        "POST /api/stall HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\n\r\nabc".to_string(),
    ];
    for request in &requests {
        // Well before the 60 s default: the route's 300 ms applies.
        let one = [request.as_str()];
        let answer = tokio::time::timeout(std::time::Duration::from_secs(20), keep_alive(gw.port, &one));
        let (status, headers, body) = answer.await.expect("the route's read timeout applies").remove(0);
        assert_eq!(status, 504, "{request:?}: {}", String::from_utf8_lossy(&body));
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "upstream_timeout");
        assert_eq!(header(&headers, "connection"), Some("close"));
    }
    let seen = upstream.seen();
    assert_eq!(
        seen.len(),
        2,
        "each request reached the upstream once, not retried: {seen:?}"
    );
    assert_eq!(seen[1].body, b"abc");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_on_pingoras_path_sends_the_same_rewritten_request() {
    // A PUT with a body takes pingora's path, which retries it (idempotent) when the pooled connection it
    // reused was closed, calling `upstream_request_filter` again. The retry must carry the same rewrite as the
    // first try: the normalised target (the client sent `/api//once`), not the client's.
    let (upstream, gw) = scripted_gateway().await;
    let put = "PUT /api//once HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\n\r\nabc";
    let mut sent = 0;
    while *upstream.dropped.lock().unwrap() == 0 && sent < 20 {
        for (status, _, body) in keep_alive(gw.port, &[put, put]).await {
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        }
        sent += 2;
    }
    assert!(
        *upstream.dropped.lock().unwrap() >= 1,
        "the pooled connection was never reused in {sent} requests"
    );
    for seen in upstream.seen() {
        assert!(seen.head.starts_with("PUT /api/once HTTP/1.1\r\n"), "{:?}", seen.head);
        assert_eq!(seen.body, b"abc");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_served_whole_and_those_left_to_pingora_share_a_connection() {
    // A bodyless GET is served whole by authgate (judged on its head's bytes); a PUT with a body and a HEAD
    // are left to pingora's proxy. One keep-alive connection carries them in turn.
    let (upstream, gw) = scripted_gateway().await;
    let put = "PUT /api/put HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\n\r\nabc";
    let head = "HEAD /api/head HTTP/1.1\r\nHost: gw\r\n\r\n";
    let requests = [
        get("/api/a"),
        put.to_string(),
        get("/api/b"),
        head.to_string(),
        get("/api/c"),
    ];
    let requests: Vec<&str> = requests.iter().map(String::as_str).collect();
    let answers = keep_alive(gw.port, &requests).await;
    let statuses: Vec<u16> = answers.iter().map(|(status, _, _)| *status).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200]);
    let seen: Vec<String> = upstream
        .seen()
        .iter()
        .map(|s| s.head.lines().next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        seen,
        [
            "GET /api/a HTTP/1.1",
            "PUT /api/put HTTP/1.1",
            "GET /api/b HTTP/1.1",
            "HEAD /api/head HTTP/1.1",
            "GET /api/c HTTP/1.1"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_pingora_refuses_is_answered_400_and_the_connection_closed() {
    // Judged eligible on its bytes (one Host, no body), refused when pingora parses it (userinfo in Host): the
    // answer is pingora's own 400, nothing reaches the upstream, and the connection is closed.
    let (upstream, gw) = scripted_gateway().await;
    let mut stream = TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    stream
        .write_all(b"GET /api/x HTTP/1.1\r\nHost: user@gw\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the connection is closed after the answer")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(upstream.seen().is_empty(), "{:?}", upstream.seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_tls_upstream_in_the_table_requests_still_take_pingoras_session() {
    // A route to a TLS upstream cannot take the fast path, so no request is served whole (the table decides
    // before the route is known); a plain route's requests still reach their upstream, framing kept.
    let (upstream, addr) = Scripted::start().await;
    let config = format!(
        "{}routes:\n  - {{name: direct, prefix: /api, upstream: \"{addr}\", auth: {{mode: off}}}}\n  \
         - {{name: tls, prefix: /tls, upstream: \"127.0.0.1:1\", upstream_tls: {{sni: upstream.test}}, auth: {{mode: off}}}}\n",
        base_config()
    );
    let gw = Gateway::start(&config).await;
    let requests = [get("/api/chunked"), get("/api/plain")];
    let requests: Vec<&str> = requests.iter().map(String::as_str).collect();
    let answers = keep_alive(gw.port, &requests).await;
    assert_eq!(answers[0].0, 200);
    assert_eq!(answers[0].2, b"hello world");
    assert_eq!((answers[1].0, answers[1].2.as_slice()), (200, b"ok".as_slice()));
    assert_eq!(upstream.seen().len(), 2);
}
