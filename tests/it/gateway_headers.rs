//! What the gateway tells the upstream about the request (issue 13, items 5, 8 and 9): the Host requirement,
//! the client address (`X-Forwarded-For`, trusted proxies), and which credentials pass on every route.

use crate::support;

use serde_json::Value;
use support::raw;
use support::{base_config, echo_upstream, Gateway};

const ALICE: &str = "Authorization: Basic YWxpY2U6YWxpY2UtcHc=";

fn headers_of(response: &raw::RawResponse) -> serde_json::Map<String, Value> {
    assert_eq!(response.status, 200, "{}", response.body);
    let body: Value = serde_json::from_str(&response.body).unwrap_or_else(|e| panic!("{e}: {}", response.body));
    body["headers"].as_object().cloned().unwrap_or_default()
}

async fn gateway(server_extra: &str, route_extra: &str) -> Gateway {
    let upstream = echo_upstream().await;
    let head = base_config().replace(
        "reload_poll_seconds: 0}",
        &format!("reload_poll_seconds: 0{server_extra}}}"),
    );
    let config = format!("{head}routes:\n  - {{name: echo, prefix: /api, upstream: \"{upstream}\"{route_extra}}}\n");
    Gateway::start(&config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_host_is_400() {
    let gw = gateway("", ", auth: {mode: off}").await;
    for version in ["HTTP/1.1", "HTTP/1.0"] {
        let request = format!("GET /api/x {version}\r\nConnection: close\r\n\r\n");
        let response = raw::send(gw.port, request.as_bytes()).await;
        assert_eq!(response.status, 400, "{version}: {}", response.body);
        assert!(response.body.contains("\"error\":\"bad_request\""), "{}", response.body);
        assert!(response.body.contains("Host"), "{}", response.body);
    }
    let with_host = raw::send(gw.port, b"GET /api/x HTTP/1.0\r\nHost: gw\r\n\r\n").await;
    assert_eq!(with_host.status, 200, "{}", with_host.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_address_is_forwarded_and_client_claims_are_replaced() {
    let gw = gateway("", ", auth: {mode: off}").await;
    let response = raw::get(
        gw.port,
        "/api/x",
        &[
            "X-Forwarded-For: 6.6.6.6",
            "X-Forwarded-Proto: https",
            "X-Forwarded-Host: evil.example",
            "X-Real-IP: 6.6.6.6",
            "Forwarded: for=6.6.6.6;proto=https",
        ],
    )
    .await;
    let h = headers_of(&response);
    assert_eq!(h["x-forwarded-for"], "127.0.0.1", "{h:?}");
    assert_eq!(h["x-forwarded-proto"], "http", "{h:?}");
    for gone in ["x-forwarded-host", "x-real-ip", "forwarded"] {
        assert!(h.get(gone).is_none(), "{gone}: {h:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_reports_the_client_used_for_rate_limits() {
    let gw = gateway(
        ", trusted_proxies: [127.0.0.0/8]",
        ", auth: {mode: off}, rate_limit: {per_ip: {requests_per_second: 0.001, burst: 1}}",
    )
    .await;
    // The proxy appended 198.51.100.4 to whatever the client claimed; the gateway appends the proxy.
    let first = raw::get(
        gw.port,
        "/api/x",
        &["X-Forwarded-For: 1.1.1.1, 198.51.100.4", "X-Forwarded-Proto: https"],
    )
    .await;
    let h = headers_of(&first);
    assert_eq!(h["x-forwarded-for"], "1.1.1.1, 198.51.100.4, 127.0.0.1", "{h:?}");
    assert_eq!(
        h["x-forwarded-proto"], "https",
        "the trusted proxy's scheme is kept: {h:?}"
    );
    // Same client behind another forged hop: its bucket is empty.
    let again = raw::get(gw.port, "/api/x", &["X-Forwarded-For: 2.2.2.2, 198.51.100.4"]).await;
    assert_eq!(again.status, 429, "{}", again.body);
    // Another client has its own bucket.
    let other = raw::get(gw.port, "/api/x", &["X-Forwarded-For: 198.51.100.5"]).await;
    assert_eq!(other.status, 200, "{}", other.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_credentials_applies_on_passthrough_routes() {
    let bearer = "Authorization: Bearer opaque.token.value";
    let none = gateway("", ", auth: {mode: off}").await;
    for credentials in [ALICE, bearer] {
        let h = headers_of(&raw::get(none.port, "/api/x", &[credentials]).await);
        assert!(h.get("authorization").is_none(), "{credentials}: {h:?}");
    }
    let bearer_only = gateway("", ", auth: {mode: off, forward_credentials: bearer}").await;
    let h = headers_of(&raw::get(bearer_only.port, "/api/x", &[ALICE]).await);
    assert!(
        h.get("authorization").is_none(),
        "Basic is never forwarded as bearer: {h:?}"
    );
    let h = headers_of(&raw::get(bearer_only.port, "/api/x", &[bearer]).await);
    assert_eq!(h["authorization"], "Bearer opaque.token.value");
}
