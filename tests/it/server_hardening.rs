//! Server-level hardening through the real binary (issue 13): request-head deadline, keep-alive idle timeout
//! and per-address cap (slowloris); an answer after which the connection closes says so; a second `serve` on
//! the same configuration; no secret in the log at any level.

use crate::support;

use authgate_testkit::{jwks, now, SigningKey, TestAlg};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::json;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{base_config, client, echo_upstream, free_port, Gateway, Idp};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HERE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
/// Another client address (all of 127/8 is loopback on Linux).
const ELSEWHERE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// The test configuration with extra `server:` settings and these route lines.
fn config(server: &str, routes: &str) -> String {
    let base = base_config().replacen("server: {", &format!("server: {{{server}, "), 1);
    format!("{base}routes:\n{routes}")
}

/// A route to `upstream` that needs no authentication.
fn open_route(upstream: SocketAddr) -> String {
    format!("  - {{name: open, prefix: /api, upstream: \"{upstream}\", auth: {{mode: off}}}}\n")
}

/// A connection to the gateway from `from`.
async fn connect(port: u16, from: Ipv4Addr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(SocketAddr::from((HERE, port))).await.unwrap()
}

/// How long after `since` the peer closed `stream` (end of stream or reset), if it did within `within`.
/// Whatever the peer sends meanwhile is discarded.
async fn closed_within(stream: &mut (impl AsyncRead + Unpin), since: Instant, within: Duration) -> Option<Duration> {
    let deadline = tokio::time::Instant::from_std(since + within);
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(since.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Whether the peer has closed `stream` (checked for a moment).
async fn is_closed(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_millis(20), stream.peek(&mut byte)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

/// Reads one response (head and `Content-Length` body) and returns its status.
async fn read_response(stream: &mut TcpStream) -> u16 {
    read_response_head(stream).await.0
}

/// Reads one response (head and `Content-Length` body) and returns its status and its head in lower case.
async fn read_response_head(stream: &mut TcpStream) -> (u16, String) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if data.len() >= end + 4 + length {
                return (head[9..12].parse().unwrap(), head);
            }
        }
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("a response within 10 s")
            .expect("the connection stays up");
        assert!(
            n > 0,
            "closed before a whole response: {}",
            String::from_utf8_lossy(&data)
        );
        data.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_trickling_its_request_head_is_disconnected_at_the_deadline() {
    let upstream = echo_upstream().await;
    let gw = Gateway::start(&config("request_header_timeout_seconds: 1", &open_route(upstream))).await;
    let started = Instant::now();
    let (mut rx, mut tx) = connect(gw.port, HERE).await.into_split();
    let sent = Arc::new(AtomicUsize::new(0));
    let trickle = tokio::spawn({
        let sent = sent.clone();
        async move {
            let mut next: &[u8] = b"GET /api/x HTTP/1.1\r\nHost: gw\r\n";
            // Then one more header byte every 100 ms, never the empty line: each read of the head gets data.
            while tx.write_all(next).await.is_ok() {
                sent.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                next = b"X";
            }
        }
    });
    let closed = closed_within(&mut rx, started, Duration::from_secs(5))
        .await
        .expect("a trickling client is still connected 5 s after a 1 s header deadline");
    trickle.abort();
    assert!(
        closed >= Duration::from_millis(900),
        "closed after {closed:?}, before the deadline"
    );
    assert!(sent.load(Ordering::SeqCst) >= 5, "the client stopped sending early");
    assert_eq!(
        gw.metric("authgate_connections_closed_total", &["reason=\"header_timeout\""])
            .await,
        1.0
    );

    // A client that connects and sends nothing is closed at the deadline too.
    let started = Instant::now();
    let mut silent = connect(gw.port, HERE).await;
    let closed = closed_within(&mut silent, started, Duration::from_secs(5))
        .await
        .expect("a silent client is still connected 5 s after a 1 s header deadline");
    assert!(closed >= Duration::from_millis(900), "closed after {closed:?}");
    // Neither left an error line.
    assert!(!gw.log().contains("ERROR"), "{}", gw.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_alive_connection_serves_requests_then_closes_when_idle() {
    let upstream = echo_upstream().await;
    let gw = Gateway::start(&config(
        "keepalive_timeout_seconds: 1, request_header_timeout_seconds: 30",
        &open_route(upstream),
    ))
    .await;
    let mut stream = connect(gw.port, HERE).await;
    for _ in 0..3 {
        stream
            .write_all(b"GET /api/x HTTP/1.1\r\nHost: gw\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(read_response(&mut stream).await, 200);
    }
    // The next request arrives in pieces (its head is read under the deadline, then served).
    stream.write_all(b"GET /api/x HTTP/1.1\r\n").await.unwrap();
    stream.write_all(b"Host: gw\r\n\r\n").await.unwrap();
    assert_eq!(read_response(&mut stream).await, 200);
    let idle_since = Instant::now();
    let closed = closed_within(&mut stream, idle_since, Duration::from_secs(5))
        .await
        .expect("an idle keep-alive connection is still open 5 s after a 1 s keep-alive timeout");
    assert!(closed >= Duration::from_millis(900), "closed after {closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_over_the_per_address_cap_are_refused_while_others_are_served() {
    let upstream = echo_upstream().await;
    let gw = Gateway::start(&config(
        "max_pending_requests_per_ip: 3, request_header_timeout_seconds: 30",
        &open_route(upstream),
    ))
    .await;
    // Four connections from one address start a request head and stop: the cap is three.
    let mut waiting = Vec::new();
    for _ in 0..4 {
        let mut stream = connect(gw.port, HERE).await;
        stream.write_all(b"GET /api/x HTTP/1.1\r\n").await.unwrap();
        waiting.push(stream);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let refused = loop {
        let mut closed = Vec::new();
        for (i, stream) in waiting.iter_mut().enumerate() {
            if is_closed(stream).await {
                closed.push(i);
            }
        }
        if !closed.is_empty() {
            assert_eq!(closed.len(), 1, "only the connection over the cap is closed");
            break closed[0];
        }
        assert!(Instant::now() < deadline, "no connection over the cap was closed");
    };
    waiting.remove(refused);

    // Another address is served meanwhile.
    let mut other = connect(gw.port, ELSEWHERE).await;
    other
        .write_all(b"GET /api/x HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut other).await, 200);

    // The three counted connections are served once they finish their heads; then the address may connect
    // again.
    for stream in &mut waiting {
        stream
            .write_all(b"Host: gw\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        assert_eq!(read_response(stream).await, 200);
    }
    let mut again = connect(gw.port, HERE).await;
    again
        .write_all(b"GET /api/x HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut again).await, 200);
    assert_eq!(
        gw.metric("authgate_connections_closed_total", &["reason=\"per_ip_limit\""])
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_after_which_the_connection_closes_says_so() {
    let nothing_there = free_port();
    let gw = Gateway::start(&config(
        "threads: 1",
        &format!("  - {{name: down, prefix: /down, upstream: \"127.0.0.1:{nothing_there}\", auth: {{mode: off}}}}\n"),
    ))
    .await;
    let mut stream = connect(gw.port, HERE).await;
    stream
        .write_all(b"GET /down/x HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await
        .unwrap();
    let (status, head) = read_response_head(&mut stream).await;
    assert_eq!(status, 502);
    // Without `Connection: close` a client would reuse the connection and race its close.
    assert!(head.contains("\r\nconnection: close"), "{head}");
    assert!(
        closed_within(&mut stream, Instant::now(), Duration::from_secs(5))
            .await
            .is_some(),
        "the connection stays open"
    );
}

/// Runs `authgate serve` on `config` and returns its exit code and standard error, failing if it is still
/// running after 15 s.
async fn second_serve(config: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_authgate"))
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the second gateway is still running after 15 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.code(), stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_serve_on_the_same_configuration_exits_and_the_first_keeps_serving() {
    let yaml = config(
        "threads: 1",
        "  - {name: whoami, prefix: /api/whoami, upstream: builtin}\n",
    );
    let gw = Gateway::start(&yaml).await;
    let whoami = || async { gw.get_basic("/api/whoami", "alice", "alice-pw").await.status() };
    assert_eq!(whoami().await, 200);

    let (code, stderr) = second_serve(&gw.config_path()).await;
    assert!(code.is_some_and(|c| c != 0), "exit code {code:?}");
    assert!(
        stderr.contains(&format!("127.0.0.1:{}: the address is already in use", gw.port)),
        "{stderr}"
    );
    assert_eq!(whoami().await, 200);

    // Other ports, the same built-in API socket: the socket is refused, not replaced.
    let other = gw.dir.path().join("other.yaml");
    let socket = gw.dir.path().join("api.sock");
    std::fs::write(
        &other,
        yaml.replace("{PORT}", &free_port().to_string())
            .replace("{ADMIN}", &free_port().to_string())
            .replace("{DIR}", &gw.dir.path().display().to_string()),
    )
    .unwrap();
    let (code, stderr) = second_serve(&other).await;
    assert!(code.is_some_and(|c| c != 0), "exit code {code:?}");
    assert!(
        stderr.contains(&format!(
            "built-in API socket {}: another process is serving it",
            socket.display()
        )),
        "{stderr}"
    );
    assert!(socket.exists());
    assert_eq!(whoami().await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_log_even_at_trace_level() {
    const ISSUER: &str = "https://idp.test/";
    const AUDIENCE: &str = "https://api.k2.com/";
    let key = SigningKey::generate(TestAlg::RS256, "k1");
    let idp = Idp::start(jwks([&key])).await;
    let upstream = echo_upstream().await;
    let nothing_there = free_port();
    let routes = format!(
        "  - {{name: fwd, prefix: /fwd, upstream: \"{upstream}\", auth: {{forward_credentials: all}}}}\n\
         \x20 - {{name: bearer, prefix: /bearer, upstream: \"{upstream}\", auth: {{forward_credentials: bearer}}}}\n\
         \x20 - {{name: open, prefix: /open, upstream: \"{upstream}\", auth: {{mode: off}}}}\n\
         \x20 - {{name: down, prefix: /down, upstream: \"127.0.0.1:{nothing_there}\", auth: {{mode: off}}}}\n\
         \x20 - {{name: whoami, prefix: /api/whoami, upstream: builtin}}\n"
    );
    let yaml = config("log_level: trace", &routes).replacen(
        "routes:\n",
        &format!(
            "providers:\n  - {{name: idp, issuer: \"{ISSUER}\", audiences: [\"{AUDIENCE}\"], jwks: {{url: \"{}\"}}, user_manager: aad}}\nroutes:\n",
            idp.jwks_url()
        ),
        1,
    );
    let gw = Gateway::start_with_rust_log(&yaml, "trace").await;
    let token = key.mint(&json!({
        "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600, "iat": now() - 10,
        "preferred_username": "erin@contoso.com", "tid": "t1",
    }));
    let basic = |user: &str, password: &str| format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
    let http = client();
    let get = |path: &str, authorization: Option<String>| {
        let mut request = http.get(gw.url(path));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.send()
    };
    let mut answered = Vec::new();
    for (path, authorization, status) in [
        (
            "/fwd/x?access_token=QUERY-SECRET-1",
            Some(basic("alice", "alice-pw")),
            200,
        ),
        ("/fwd/x", Some(basic("alice", "WRONG-PASSWORD-2")), 401),
        (
            "/bearer/x?access_token=QUERY-SECRET-3",
            Some(format!("Bearer {token}")),
            200,
        ),
        ("/bearer/x", Some("Bearer not.a-valid.TOKEN-SECRET-4".to_string()), 401),
        (
            "/open/x?access_token=QUERY-SECRET-5",
            Some(basic("alice", "OPEN-PASSWORD-6")),
            200,
        ),
        ("/down/x?access_token=QUERY-SECRET-7", None, 502),
        (
            "/api/whoami?access_token=QUERY-SECRET-8",
            Some(basic("alice", "alice-pw")),
            200,
        ),
    ] {
        let response = get(path, authorization).await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        answered.push(path);
    }
    // A malformed request carrying credentials (pingora logs the raw buffer of a head it cannot parse).
    let mut raw = connect(gw.port, HERE).await;
    raw.write_all(
        format!(
            "GET /fwd/x?access_token=QUERY-SECRET-9 HTTP/1.1\r\nHost: gw\r\nAuthorization: {}\r\nthis is no header\r\n\r\n",
            basic("alice", "MALFORMED-PASSWORD-10")
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(read_response(&mut raw).await, 400);

    // Every request above has its access line: the log is complete.
    let deadline = Instant::now() + Duration::from_secs(5);
    while gw.log().matches("authgate::access").count() < answered.len() {
        assert!(Instant::now() < deadline, "access lines missing:\n{}", gw.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = gw.log();
    assert!(log.contains("TRACE") || log.contains("DEBUG"), "verbose logging is on");
    let mut secrets = vec![
        "alice-pw".to_string(),
        "WRONG-PASSWORD-2".to_string(),
        "OPEN-PASSWORD-6".to_string(),
        "MALFORMED-PASSWORD-10".to_string(),
        "TOKEN-SECRET-4".to_string(),
        token.clone(),
        token.rsplit('.').next().unwrap().to_string(),
    ];
    for (user, password) in [
        ("alice", "alice-pw"),
        ("alice", "WRONG-PASSWORD-2"),
        ("alice", "OPEN-PASSWORD-6"),
        ("alice", "MALFORMED-PASSWORD-10"),
    ] {
        secrets.push(basic(user, password)["Basic ".len()..].to_string());
    }
    secrets.extend((1..=9).map(|n| format!("QUERY-SECRET-{n}")));
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "{secret} is in the log:\n{log}");
    }
}
