//! Basic authentication, the platform rules and identity forwarding, through the real gateway.

use crate::support;

use serde_json::Value;
use support::{base_config, client, echo_route, echo_upstream, Gateway};

async fn gateway() -> Gateway {
    let upstream = echo_upstream().await;
    let config = format!("{}routes:\n{}", base_config(), echo_route(upstream, ""));
    Gateway::start(&config).await
}

async fn get_as(gw: &Gateway, user: &str, password: &str) -> reqwest::Response {
    gw.get_basic("/api/things", user, password).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_basic_forwards_identity_headers_and_not_the_password() {
    let gw = gateway().await;
    let response = client()
        .get(gw.url("/api/things"))
        .basic_auth("alice", Some("alice-pw"))
        .header("X-Authgate-User", "K2:CONTOSO\\administrator")
        .header("X-Authgate-User-Manager", "ad")
        .header("X-Authgate-Anything", "spoofed")
        .header("X-Request-Id", "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let h = &body["headers"];
    assert_eq!(h["x-authgate-user"], "K2:CONTOSO\\alice", "{body}");
    assert_eq!(h["x-authgate-user-manager"], "ad");
    assert_eq!(h["x-authgate-auth-method"], "basic");
    assert_eq!(h["x-authgate-email"], "alice@contoso.com");
    assert_eq!(h["x-authgate-groups"], "Finance,Approvers");
    assert!(
        h.get("x-authgate-anything").is_none(),
        "spoofed header stripped: {body}"
    );
    assert!(
        h.get("authorization").is_none(),
        "the Basic password is not forwarded: {body}"
    );
    assert_eq!(h["x-request-id"], "trace-123");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unknown_user_get_the_same_401_with_challenges() {
    let gw = gateway().await;
    for (user, password) in [("alice", "wrong"), ("nobody", "whatever")] {
        let response = get_as(&gw, user, password).await;
        assert_eq!(response.status(), 401);
        let challenges: Vec<String> = response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        assert!(
            challenges.contains(&"Basic realm=\"authgate\", charset=\"UTF-8\"".to_string()),
            "{challenges:?}"
        );
        assert_eq!(response.headers()["content-type"], "application/json");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_credentials");
        assert_eq!(body["error_description"], "invalid user name or password");
        assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()));
        assert!(!body.to_string().contains(password), "no secret in the body");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_offer_both_challenges() {
    let gw = gateway().await;
    let response = client().get(gw.url("/api/things")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let challenges: Vec<&str> = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(challenges.len(), 2, "{challenges:?}");
    assert!(challenges[1].starts_with("Bearer realm=\"authgate\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_manager_user_is_refused_with_403_naming_the_rule() {
    let gw = gateway().await;
    let response = get_as(&gw, "dave", "dave-pw").await;
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    let text = body["error_description"].as_str().unwrap();
    assert!(text.contains("'sql'") && text.contains("Active Directory"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aad_user_with_mfa_is_refused_basic_and_told_to_use_oauth() {
    let gw = gateway().await;
    let response = get_as(&gw, "carol@contoso.com", "carol@contoso.com-pw").await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    let text = body["error_description"].as_str().unwrap();
    assert!(text.contains("MFA") && text.contains("OAuth"), "{text}");
    // An AAD user without MFA passes, named AAD:<upn>.
    let ok = get_as(&gw, "erin@contoso.com", "erin@contoso.com-pw").await;
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["headers"]["x-authgate-user"], "AAD:erin@contoso.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_lock_the_account_with_429_and_retry_after() {
    let gw = gateway().await;
    for _ in 0..3 {
        assert_eq!(get_as(&gw, "locky", "wrong").await.status(), 401);
    }
    let locked = get_as(&gw, "locky", "locky-pw").await;
    assert_eq!(locked.status(), 429, "even the right password is refused while locked");
    assert!(locked.headers().contains_key("retry-after"));
    let body: Value = locked.json().await.unwrap();
    assert!(body["error_description"].as_str().unwrap().contains("locked"));
    assert_eq!(
        get_as(&gw, "alice", "alice-pw").await.status(),
        200,
        "other users unaffected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_basic_credentials_skip_the_directory() {
    let gw = gateway().await;
    for _ in 0..3 {
        assert_eq!(get_as(&gw, "alice", "alice-pw").await.status(), 200);
    }
    assert!(gw.metric("authgate_credential_cache_hits_total", &[]).await >= 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_authorization_headers_are_refused_cleanly() {
    let gw = gateway().await;
    for value in ["Basic !!!", "Basic", "Digest abc", "Bearer a b c", "Basic bm9jb2xvbg=="] {
        let response = client()
            .get(gw.url("/api/things"))
            .header("Authorization", value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{value}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error_description"].as_str().is_some(), "{value}");
    }
    assert_eq!(get_as(&gw, "alice", "alice-pw").await.status(), 200, "still serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_path_is_404_and_switched_off_route_answers_its_message() {
    let upstream = echo_upstream().await;
    let config = format!(
        "{}routes:\n{}  - name: odata\n    prefix: /api/odata/v4\n    upstream: \"{upstream}\"\n    enabled: false\n    disabled: {{status: 503, message: \"OData is switched off\"}}\n",
        base_config(),
        echo_route(upstream, "")
    );
    let gw = Gateway::start(&config).await;
    let missing = client().get(gw.url("/elsewhere")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
    let off = client()
        .get(gw.url("/api/odata/v4/Customers"))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), 503);
    let body: Value = off.json().await.unwrap();
    assert_eq!(body["error_description"], "OData is switched off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_off_route_passes_through_but_still_strips_identity_headers() {
    let upstream = echo_upstream().await;
    let config = format!(
        "{}routes:\n{}",
        base_config(),
        echo_route(upstream, "    auth: {mode: off}\n")
    );
    let gw = Gateway::start(&config).await;
    let response = client()
        .get(gw.url("/api/public"))
        .header("X-Authgate-User", "K2:CONTOSO\\administrator")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["headers"].get("x-authgate-user").is_none(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_upstream_is_a_502_json_error() {
    let closed = format!("127.0.0.1:{}", support::free_port());
    let config = format!(
        "{}routes:\n  - name: gone\n    prefix: /api\n    upstream: \"{closed}\"\n",
        base_config()
    );
    let gw = Gateway::start(&config).await;
    let response = get_as(&gw, "alice", "alice-pw").await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "bad_gateway");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_and_decisions() {
    let gw = gateway().await;
    let before_ok = gw
        .metric(
            "authgate_auth_decisions_total",
            &["method=\"basic\"", "outcome=\"allow\""],
        )
        .await;
    let before_401 = gw
        .metric("authgate_requests_total", &["route=\"echo\"", "status=\"401\""])
        .await;
    assert_eq!(get_as(&gw, "alice", "alice-pw").await.status(), 200);
    assert_eq!(get_as(&gw, "alice", "nope").await.status(), 401);
    let after_ok = gw
        .metric(
            "authgate_auth_decisions_total",
            &["method=\"basic\"", "outcome=\"allow\""],
        )
        .await;
    let after_401 = gw
        .metric("authgate_requests_total", &["route=\"echo\"", "status=\"401\""])
        .await;
    assert_eq!(after_ok - before_ok, 1.0);
    assert_eq!(after_401 - before_401, 1.0);
    let denied = gw
        .metric("authgate_auth_decisions_total", &["reason=\"invalid_credentials\""])
        .await;
    assert!(denied >= 1.0);
}
