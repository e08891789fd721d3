//! The attack suite (issue 13): what an attacker of an authentication gateway tries, through the real binary
//! and raw TCP (the bytes go out exactly as written), so none of it can come back unnoticed. Each case asserts
//! the status and, through a recording upstream, what the upstream received: never a smuggled second request,
//! never a spoofed identity, never a request the gateway should have refused.
//!
//! Tried here: request smuggling (CL.TE, TE.CL, `Transfer-Encoding` obfuscations, duplicated or listed
//! `Content-Length`), obs-fold, NUL and control bytes in header values and in the request line, too many or
//! too large headers (431), spoofed and duplicated identity headers (with `_` look-alikes and the hop-by-hop
//! trick), two `Authorization` headers, oversized tokens and Basic credentials, Basic credentials on
//! passthrough routes, request-target tricks (a compact table), HTTP/1.1 without `Host`, absolute-form, and
//! OData injection through `$filter`/`$orderby` literals and keys.
//!
//! Covered elsewhere, not repeated: the full path-trick table against nginx (`tests/it/gateway_paths.rs`), the
//! client address and `X-Forwarded-*` claims (`tests/it/gateway_headers.rs`), malformed `Authorization` values
//! (`tests/it/gateway_basic.rs`), forged, expired and `alg` tokens (`tests/it/gateway_bearer.rs`), slowloris and the
//! per-address cap (`tests/it/server_hardening.rs`), lockout races and hashing under load
//! (`tests/it/gateway_basic_limits.rs`), and the parsers themselves under libFuzzer (`fuzz/`).

use crate::support;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::api::Auth;
use support::raw;
use support::{base_config, Gateway};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// alice's Basic credentials (`alice:alice-pw`): user `K2:CONTOSO\alice`, groups Finance and Approvers.
const ALICE: &str = "Authorization: Basic YWxpY2U6YWxpY2UtcHc=";
/// bob's (`bob:bob-pw`).
const BOB: &str = "Authorization: Basic Ym9iOmJvYi1wdw==";

/// One request as the upstream received it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    /// Names lower-cased, in order, repeated names kept.
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// An upstream (hyper, a strict HTTP/1.1 parser) that records every request it receives.
#[derive(Clone, Default)]
struct Upstream {
    addr: Option<SocketAddr>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    async fn start() -> Self {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let record = seen.clone();
        let app = Router::new().fallback(any(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push(Seen {
                    method: method.to_string(),
                    path: uri.path().to_string(),
                    headers: headers
                        .iter()
                        .map(|(n, v)| {
                            (
                                n.as_str().to_string(),
                                String::from_utf8_lossy(v.as_bytes()).into_owned(),
                            )
                        })
                        .collect(),
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                Json(json!({"upstream": uri.path()}))
            }
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr: Some(addr), seen }
    }

    /// What it received since the last call.
    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    fn addr(&self) -> SocketAddr {
        self.addr.expect("started")
    }
}

/// `/open` (no authentication) and `/api` (authentication required), both to `upstream`; `server` is extra
/// `server:` fields.
async fn gateway(upstream: &Upstream, server: &str) -> Gateway {
    let up = upstream.addr();
    let head = base_config().replace("reload_poll_seconds: 0}", &format!("reload_poll_seconds: 0{server}}}"));
    Gateway::start(&format!(
        "{head}routes:\n  - {{name: open, prefix: /open, upstream: \"{up}\", auth: {{mode: off}}}}\n  \
         - {{name: api, prefix: /api, upstream: \"{up}\"}}\n"
    ))
    .await
}

/// The responses to `request` on one connection: everything the gateway sent until it closed the connection
/// (or 5 s passed), split into status codes. Used where a smuggled second request would get a second answer.
async fn statuses(port: u16, request: &[u8]) -> (Vec<u16>, String) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    // The gateway may refuse before reading everything; what it answers is what counts.
    let _ = stream.write_all(request).await;
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 16384];
        while let Ok(n @ 1..) = stream.read(&mut buf).await {
            bytes.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let codes = text
        .match_indices("HTTP/1.1 ")
        .filter_map(|(at, _)| text.get(at + 9..at + 12)?.parse().ok())
        .collect();
    (codes, text)
}

/// Reads one response with a `Content-Length` body from `stream` (within 10 s) and returns its status.
async fn read_response(stream: &mut tokio::net::TcpStream) -> u16 {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_string())
                    })
                    .and_then(|v| v.parse::<usize>().ok());
                if length.is_some_and(|length| body.len() >= length) {
                    return head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
                }
            }
            match stream.read(&mut buf).await {
                Ok(n @ 1..) => bytes.extend_from_slice(&buf[..n]),
                _ => return 0,
            }
        }
    })
    .await;
    read.unwrap_or_else(|_| panic!("no whole response within 10 s: {:?}", String::from_utf8_lossy(&bytes)))
}

const SMUGGLED: &str = "GET /api/smuggled HTTP/1.1\r\nHost: g\r\nX-Authgate-User: admin\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggled_requests_never_reach_the_upstream() {
    let upstream = Upstream::start().await;
    let gw = gateway(&upstream, "").await;
    let n = SMUGGLED.len();
    let post = "POST /open/a HTTP/1.1\r\nHost: g\r\n";
    // (case, request, None: refused with 400 / Some(body): forwarded once with exactly this body)
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        // CL.TE: chunked wins (RFC 9112 6.3), Content-Length is dropped, the rest is not a request.
        (
            "CL.TE",
            format!(
                "{post}Content-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}",
                n + 5
            ),
            Some(""),
        ),
        // TE.CL: the smuggled request is the chunk's data, forwarded as data.
        (
            "TE.CL",
            format!("{post}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n{n:x}\r\n{SMUGGLED}\r\n0\r\n\r\n"),
            Some(SMUGGLED),
        ),
        (
            "TE with extra whitespace",
            format!("{post}Transfer-Encoding:  chunked \r\nContent-Length: 3\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            Some(""),
        ),
        (
            "TE after a tab",
            format!("{post}Transfer-Encoding:\tchunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            Some(""),
        ),
        (
            "TE: chunked, identity",
            format!("{post}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            None,
        ),
        (
            "TE: xchunked with CL",
            format!("{post}Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            None,
        ),
        (
            "TE: xchunked alone",
            format!("{post}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            None,
        ),
        (
            "TE name with a space before the colon",
            format!("{post}Transfer-Encoding : chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            None,
        ),
        (
            "two TE headers",
            format!("{post}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n{SMUGGLED}"),
            None,
        ),
        (
            "two different Content-Length",
            format!("{post}Content-Length: 0\r\nContent-Length: {n}\r\n\r\n{SMUGGLED}"),
            None,
        ),
        (
            "Content-Length list",
            format!("{post}Content-Length: 0, {n}\r\n\r\n{SMUGGLED}"),
            None,
        ),
        (
            "Content-Length +n",
            format!("{post}Content-Length: +{n}\r\n\r\n{SMUGGLED}"),
            None,
        ),
        (
            "Content-Length -1",
            format!("{post}Content-Length: -1\r\n\r\n{SMUGGLED}"),
            None,
        ),
    ];
    for (case, request, expect) in cases {
        let (codes, text) = statuses(gw.port, request.as_bytes()).await;
        let seen = upstream.take();
        assert!(
            seen.iter().all(|s| !s.path.contains("smuggled")),
            "{case}: the upstream received the smuggled request: {seen:?}"
        );
        assert!(
            seen.iter().all(|s| s.all("x-authgate-user").is_empty()),
            "{case}: {seen:?}"
        );
        assert_eq!(codes.len(), 1, "{case}: one answer, then the connection closes: {text}");
        match expect {
            None => {
                assert_eq!(codes[0], 400, "{case}: {text}");
                assert!(seen.is_empty(), "{case}: refused, yet forwarded: {seen:?}");
            }
            Some(body) => {
                assert_eq!(codes[0], 200, "{case}: {text}");
                assert_eq!(seen.len(), 1, "{case}: {seen:?}");
                assert_eq!((seen[0].method.as_str(), seen[0].path.as_str()), ("POST", "/open/a"));
                assert_eq!(seen[0].body, body, "{case}");
                assert!(seen[0].all("content-length").len() <= 1, "{case}: {seen:?}");
            }
        }
    }
    // pingora does not pipeline: the answer to the first request closes the connection, and what the client
    // sent after it is dropped, never served.
    let pipelined = "GET /open/1 HTTP/1.1\r\nHost: g\r\n\r\nGET /open/2 HTTP/1.1\r\nHost: g\r\n\r\n";
    let (codes, text) = statuses(gw.port, pipelined.as_bytes()).await;
    assert_eq!(codes, [200], "{text}");
    let paths: Vec<String> = upstream.take().into_iter().map(|s| s.path).collect();
    assert_eq!(paths, ["/open/1"]);
    // The detector can fail: sent to the upstream directly, CL.TE is two requests there.
    let direct = format!("POST /open/a HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{SMUGGLED}");
    let (codes, text) = statuses(upstream.addr().port(), direct.as_bytes()).await;
    assert_eq!(codes, [200, 200], "{text}");
    let paths: Vec<String> = upstream.take().into_iter().map(|s| s.path).collect();
    assert_eq!(paths, ["/open/a", "/api/smuggled"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_request_heads_are_refused_before_the_upstream() {
    let upstream = Upstream::start().await;
    let gw = gateway(&upstream, "").await;
    let get = |headers: &str| format!("GET /open/a HTTP/1.1\r\nHost: g\r\n{headers}Connection: close\r\n\r\n");
    let many_headers: String = (0..300).map(|i| format!("X-H{i}: v\r\n")).collect();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("obs-fold", get("X-A: 1\r\n X-Authgate-User: admin\r\n").into(), 400),
        (
            "obs-fold of an identity header",
            get("X-Authgate-User: a\r\n\tdmin\r\n").into(),
            400,
        ),
        ("NUL in a header value", get("X-A: a\0b\r\n").into(), 400),
        ("control byte in a header value", get("X-A: a\x01b\r\n").into(), 400),
        ("DEL in a header value", get("X-A: a\x7fb\r\n").into(), 400),
        (
            "bare CR in a header value",
            get("X-A: a\rX-Authgate-User: admin\r\n").into(),
            400,
        ),
        ("NUL in a header name", get("X-A\0: a\r\n").into(), 400),
        ("space before the colon", get("X-Authgate-User : admin\r\n").into(), 400),
        (
            "NUL in the request line",
            b"GET /open/a\0b HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n".to_vec(),
            400,
        ),
        (
            "control byte in the request line",
            b"GET /open/a\x01 HTTP/1.1\r\nHost: g\r\nConnection: close\r\n\r\n".to_vec(),
            400,
        ),
        (
            "bare CR ending the request line",
            b"GET /open/a HTTP/1.1\rHost: g\r\nConnection: close\r\n\r\n".to_vec(),
            400,
        ),
        ("HTTP/0.9", b"GET /open/a\r\n\r\n".to_vec(), 400),
        (
            "HTTP/2.0 in an HTTP/1 request line",
            b"GET /open/a HTTP/2.0\r\nHost: g\r\nConnection: close\r\n\r\n".to_vec(),
            400,
        ),
        ("two Host headers", get("Host: other\r\n").into(), 400),
        ("300 headers", get(&many_headers).into(), 431),
    ];
    for (case, request, status) in cases {
        let response = raw::send(gw.port, &request).await;
        assert_eq!(response.status, status, "{case}: {}", response.body);
        let seen = upstream.take();
        assert!(seen.is_empty(), "{case}: forwarded {seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_request_heads_get_431_and_the_limit_is_configurable() {
    let upstream = Upstream::start().await;
    let gw = gateway(&upstream, "").await;
    let with_header = |size: usize| {
        format!(
            "GET /open/a HTTP/1.1\r\nHost: g\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(size)
        )
    };
    // The 1 MiB header of issue 13 (item 9), and one just over the 64 KiB default.
    for size in [1024 * 1024, 66_000] {
        let response = raw::send(gw.port, with_header(size).as_bytes()).await;
        assert_eq!(response.status, 431, "{size}: {}", response.body);
        assert_eq!(response.header("connection"), Some("close"));
        assert_eq!(response.header("content-type"), Some("application/json"));
        let body: Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(body["error"], "request_header_fields_too_large", "{body}");
    }
    // The same size spread over many lines counts the same.
    let many_lines: String = (0..200).map(|i| format!("X-H{i}: {}\r\n", "b".repeat(400))).collect();
    let request = format!("GET /open/a HTTP/1.1\r\nHost: g\r\n{many_lines}Connection: close\r\n\r\n");
    assert_eq!(raw::send(gw.port, request.as_bytes()).await.status, 431);
    assert!(upstream.take().is_empty());
    // Below the limit is served.
    let response = raw::send(gw.port, with_header(60_000).as_bytes()).await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(upstream.take()[0].all("x-big")[0].len(), 60_000);
    // A second, oversized request on a keep-alive connection is refused just the same.
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", gw.port)).await.unwrap();
    stream
        .write_all(b"GET /open/1 HTTP/1.1\r\nHost: g\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut stream).await, 200);
    stream.write_all(with_header(100_000).as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut stream).await, 431);
    assert_eq!(upstream.take().len(), 1);
    drop(stream);
    // Counted once the connection is closed.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let refused = gw
            .metric("authgate_connections_closed_total", &["reason=\"header_too_large\""])
            .await;
        if refused == 4.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{refused} refusals counted, not 4"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A smaller configured limit.
    let small = gateway(&upstream, ", max_request_header_bytes: 4096").await;
    assert_eq!(raw::send(small.port, with_header(5_000).as_bytes()).await.status, 431);
    assert_eq!(raw::send(small.port, with_header(3_000).as_bytes()).await.status, 200);
    // An oversized bearer token under the head limit gets the token limit's 401, not 431.
    let token = format!("Authorization: Bearer {}", "a".repeat(3_000));
    let response = raw::get(small.port, "/api/a", &[&token]).await;
    assert_eq!(response.status, 401, "{}", response.body);
    assert_eq!(upstream.take().len(), 1, "only the 3,000-byte header was served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_headers_cannot_be_spoofed_or_duplicated() {
    let upstream = Upstream::start().await;
    let gw = gateway(&upstream, "").await;
    let spoofs: &[&[&str]] = &[
        &["X-Authgate-User: K2:CONTOSO\\administrator"],
        &["X-Authgate-User: a", "X-Authgate-User: b"],
        &["X_Authgate_User: K2:CONTOSO\\administrator"],
        &["X-Authgate_User: K2:CONTOSO\\administrator"],
        &["x_AUTHGATE-user: K2:CONTOSO\\administrator"],
        &["X-Authgate-Groups: Administrators", "X_Authgate_Groups: Administrators"],
        &["X-Authgate-Auth-Method: bearer", "X-Authgate-Tenant: evil"],
        &["X-Authgate-Anything: x"],
        // The hop-by-hop trick: naming the identity header in Connection must not make the gateway drop it.
        &["Connection: X-Authgate-User, X-Authgate-Groups"],
    ];
    for (route, credentials) in [("/api/a", Some(ALICE)), ("/open/a", None)] {
        for spoof in spoofs {
            let mut headers: Vec<&str> = spoof.to_vec();
            headers.extend(credentials);
            let response = raw::get(gw.port, route, &headers).await;
            assert_eq!(response.status, 200, "{spoof:?}: {}", response.body);
            let seen = upstream.take();
            assert_eq!(seen.len(), 1, "{spoof:?}");
            let authgate: Vec<&(String, String)> = seen[0]
                .headers
                .iter()
                .filter(|(n, _)| n.replace('_', "-").starts_with("x-authgate"))
                .collect();
            if credentials.is_some() {
                assert_eq!(seen[0].all("x-authgate-user"), ["K2:CONTOSO\\alice"], "{spoof:?}");
                assert_eq!(seen[0].all("x-authgate-groups"), ["Finance,Approvers"], "{spoof:?}");
                assert_eq!(seen[0].all("x-authgate-auth-method"), ["basic"], "{spoof:?}");
                assert!(
                    authgate
                        .iter()
                        .all(|(n, v)| !n.contains('_') && !v.contains("admin") && v != "evil"),
                    "{spoof:?}: {authgate:?}"
                );
            } else {
                assert!(
                    authgate.is_empty(),
                    "{spoof:?}: a passthrough route forwards {authgate:?}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_and_oversized_credentials_are_refused() {
    let upstream = Upstream::start().await;
    let gw = gateway(&upstream, "").await;
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "two valid Authorization headers",
            vec![ALICE.into(), BOB.into()],
            "more than one Authorization",
        ),
        (
            "a wrong one then a valid one",
            vec!["Authorization: Basic eDp4".into(), ALICE.into()],
            "more than one Authorization",
        ),
        (
            "Basic and Bearer",
            vec![ALICE.into(), "Authorization: Bearer abc.def.ghi".into()],
            "more than one Authorization",
        ),
        (
            "a 20,000-byte bearer token",
            vec![format!("Authorization: Bearer {}", "a".repeat(20_000))],
            "larger than the 16384-byte limit",
        ),
        (
            "20,000 bytes of Basic credentials",
            vec![format!("Authorization: Basic {}", "YWxp".repeat(5_000))],
            "too long",
        ),
    ];
    for (case, headers, message) in cases {
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let response = raw::get(gw.port, "/api/a", &headers).await;
        assert_eq!(response.status, 401, "{case}: {}", response.body);
        assert!(response.body.contains(message), "{case}: {}", response.body);
        assert!(upstream.take().is_empty(), "{case}");
    }
    // Basic credentials on a passthrough route are not forwarded (the nginx version with
    // `forward_credentials` is in tests/it/gateway_paths.rs and tests/it/gateway_headers.rs).
    let response = raw::get(gw.port, "/open/a", &[ALICE]).await;
    assert_eq!(response.status, 200, "{}", response.body);
    let seen = upstream.take();
    assert!(seen[0].all("authorization").is_empty(), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_target_tricks_are_routed_by_what_the_upstream_sees() {
    let upstream = Upstream::start().await;
    let gw = gateway(&upstream, "").await;
    // A compact table; every variant against nginx is in tests/it/gateway_paths.rs.
    let cases: &[(&str, u16, Option<&str>)] = &[
        ("/open/../api/a", 401, None),
        ("/open/%2e%2e/api/a", 401, None),
        ("/open/..%2fapi/a", 400, None),
        ("/open/..;/api/a", 400, None),
        ("/open//../api/a", 401, None),
        ("http://gateway/open/../api/a", 401, None),
        // An absolute-form target naming another host than `Host`.
        ("http://evil.example/open/a", 400, None),
        ("*", 400, None),
        // pingora escapes a space in the target; the escaped path is the one routed and forwarded.
        ("/open/x /../../api/a", 401, None),
        ("/open/a b", 200, Some("/open/a%20b")),
        ("/open/./a", 200, Some("/open/a")),
        ("http://gateway/open/a", 200, Some("/open/a")),
    ];
    for &(target, status, forwarded) in cases {
        let response = raw::get(gw.port, target, &[]).await;
        assert_eq!(response.status, status, "{target}: {}", response.body);
        let paths: Vec<String> = upstream.take().into_iter().map(|s| s.path).collect();
        match forwarded {
            Some(path) => assert_eq!(paths, [path], "{target}"),
            None => assert!(paths.is_empty(), "{target}: forwarded {paths:?}"),
        }
    }
    // HTTP/1.1 without Host (more in tests/it/gateway_headers.rs).
    let response = raw::send(gw.port, b"GET /open/a HTTP/1.1\r\nConnection: close\r\n\r\n").await;
    assert_eq!(response.status, 400, "{}", response.body);
    // CONNECT is not proxied.
    let response = raw::send(
        gw.port,
        b"CONNECT g:80 HTTP/1.1\r\nHost: g:80\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(response.status >= 400, "{}", response.body);
    assert!(upstream.take().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odata_injection_through_literals_and_keys_changes_nothing() {
    let gw = support::odata::Gateway::start().await;
    const FRAN: Auth = Auth::Basic("fran");
    const ALICE: Auth = Auth::Basic("alice");
    for name in ["Contoso", "O'Brien", "Fabrikam"] {
        let created = gw
            .call(
                &FRAN,
                "POST",
                "/Customer",
                Some(json!({"Name": name, "Region": "North"})),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
    }
    // (query or path, status, matching rows when 200)
    let cases: &[(&str, u16, usize)] = &[
        ("/Customer?$filter=Name eq 'O''Brien'", 200, 1),
        ("/Customer?$filter=Name eq 'x'' or ''1''=''1'", 200, 0),
        ("/Customer?$filter=Name eq 'x' or 1 eq 1", 200, 3),
        ("/Customer?$filter=Name eq 'x'; DROP TABLE Customer", 400, 0),
        ("/Customer?$filter=Name eq 'x' --", 400, 0),
        ("/Customer?$filter=Name eq 'x'' --'", 200, 0),
        ("/Customer?$filter=Name eq 'x'' ; DELETE FROM Customer; --'", 200, 0),
        ("/Customer?$filter=Name eq \"x\" or \"1\"=\"1\"", 400, 0),
        ("/Customer?$filter=Name eq 'unterminated", 400, 0),
        ("/Customer?$filter=Name) or (1 eq 1", 400, 0),
        ("/Customer?$filter=Name eq 'x'/*", 400, 0),
        ("/Customer?$orderby=Name; DROP TABLE Customer", 400, 0),
        ("/Customer?$orderby=Name desc, (SELECT 1)", 400, 0),
        ("/Customer?$orderby=\"Name\"", 400, 0),
        ("/Customer?$select=Name,\"Email\"", 400, 0),
        ("/Customer?$top=1; DROP TABLE Customer", 400, 0),
        ("/Customer('1'' or ''1''=''1')", 400, 0),
        ("/Customer(1 or 1 eq 1)", 400, 0),
        ("/Customer(CustomerId=1 or 1 eq 1)", 400, 0),
        ("/Customer(0x1)", 400, 0),
        ("/Customer(1)--", 404, 0),
    ];
    for &(path, status, rows) in cases {
        let reply = gw.call(&ALICE, "GET", path, None).await;
        assert_eq!(reply.status, status, "{path}: {}", reply.text);
        if status == 200 {
            let value = reply.json["value"].as_array().map_or(usize::MAX, Vec::len);
            assert_eq!(value, rows, "{path}: {}", reply.text);
        } else {
            assert!(reply.json["error"]["message"].is_string(), "{path}: {}", reply.text);
        }
    }
    // A `;` in the path is refused by the gateway before the API (path parameters).
    let reply = gw.call(&ALICE, "GET", "/Customer(1);DROP TABLE Customer", None).await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    // Nothing changed.
    let all = gw.call(&ALICE, "GET", "/Customer/$count", None).await;
    assert_eq!((all.status, all.text.as_str()), (200, "3"));
}
