//! Operations through the real gateway: admin endpoints, SIGTERM drain, hot reload under load, rate limits
//! and the signed identity assertion.

use crate::support;

use authgate_core::auth::keys::KeySet;
use serde_json::Value;
use std::time::Duration;
use support::{base_config, client, echo_route, echo_upstream, Gateway};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoints_answer() {
    let upstream = echo_upstream().await;
    let gw = Gateway::start(&format!("{}routes:\n{}", base_config(), echo_route(upstream, ""))).await;
    let c = client();
    let request = c
        .get(gw.url("/api/x"))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(request.status(), 200);
    assert_eq!(c.get(gw.admin_url("/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(c.get(gw.admin_url("/readyz")).send().await.unwrap().status(), 200);
    let metrics = c
        .get(gw.admin_url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for family in [
        "authgate_auth_decisions_total",
        "authgate_token_cache_hits_total",
        "authgate_draining",
    ] {
        assert!(metrics.contains(family), "{family} missing");
    }
    assert_eq!(c.get(gw.admin_url("/nope")).send().await.unwrap().status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_turns_readiness_off_then_exits_cleanly() {
    let upstream = echo_upstream().await;
    let config = format!("{}routes:\n{}", base_config(), echo_route(upstream, ""))
        .replace("drain_delay_seconds: 0", "drain_delay_seconds: 2");
    let mut gw = Gateway::start(&config).await;
    gw.signal("-TERM");
    let c = client();
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let mut saw_not_ready = false;
    while std::time::Instant::now() < deadline {
        if let Ok(r) = c.get(gw.admin_url("/readyz")).send().await {
            if r.status() == 503 {
                let body: Value = r.json().await.unwrap();
                assert_eq!(body["reason"], "draining");
                saw_not_ready = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(saw_not_ready, "readyz never reported draining:\n{}", gw.log());
    // Still serving while draining.
    let during = c
        .get(gw.url("/api/x"))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(during.status(), 200);
    assert_eq!(gw.wait_exit(Duration::from_secs(15)).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_drops_no_request_and_refuses_a_broken_config() {
    let upstream = echo_upstream().await;
    let config = format!("{}routes:\n{}", base_config(), echo_route(upstream, ""));
    let gw = Gateway::start(&config).await;
    let realm = |name: &str| config.replace("basic: {", &format!("basic: {{realm: \"{name}\", "));
    let broken = format!("{config}\nroutes: [oops");
    let mut load = Vec::new();
    for _ in 0..4 {
        let url = gw.url("/api/x");
        load.push(tokio::spawn(async move {
            let c = client();
            let mut statuses = Vec::new();
            for _ in 0..150 {
                let r = c.get(&url).basic_auth("alice", Some("alice-pw")).send().await;
                statuses.push(r.map(|r| r.status().as_u16()).unwrap_or(0));
            }
            statuses
        }));
    }
    // Reloads, good and bad, while the four clients run.
    for round in 0..3 {
        gw.rewrite_config(&realm(&format!("r{round}")));
        gw.reload_and_wait("ok").await;
        gw.rewrite_config(&broken);
        gw.reload_and_wait("error").await;
    }
    for task in load {
        let statuses = task.await.unwrap();
        assert!(
            statuses.iter().all(|s| *s == 200),
            "non-200 during reloads: {statuses:?}"
        );
    }
    // The broken file was refused: the last good configuration (realm r2) still serves.
    let challenge = client().get(gw.url("/api/x")).send().await.unwrap();
    let header = challenge.headers()["www-authenticate"].to_str().unwrap().to_string();
    assert!(header.contains("realm=\"r2\""), "{header}");
    assert!(gw.log().contains("configuration reload refused"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_route_applies_after_sighup() {
    let upstream = echo_upstream().await;
    let config = format!("{}routes:\n{}", base_config(), echo_route(upstream, ""));
    let gw = Gateway::start(&config).await;
    let get = || async {
        client()
            .get(gw.url("/api/x"))
            .basic_auth("alice", Some("alice-pw"))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(get().await, 200);
    let off = format!(
        "{}routes:\n{}",
        base_config(),
        echo_route(
            upstream,
            "    enabled: false\n    disabled: {status: 503, message: maintenance}\n"
        )
    );
    gw.rewrite_config(&off);
    gw.reload_and_wait("ok").await;
    assert_eq!(get().await, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_rate_limit_answers_429_with_retry_after() {
    let upstream = echo_upstream().await;
    let route = echo_route(
        upstream,
        "    rate_limit: {per_user: {requests_per_second: 0.5, burst: 2}}\n",
    );
    let gw = Gateway::start(&format!("{}routes:\n{route}", base_config())).await;
    let c = client();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = c
            .get(gw.url("/api/x"))
            .basic_auth("alice", Some("alice-pw"))
            .send()
            .await
            .unwrap();
        statuses.push((
            r.status().as_u16(),
            r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string()),
        ));
    }
    assert_eq!(statuses[0].0, 200);
    assert_eq!(statuses[1].0, 200);
    assert_eq!(statuses[2].0, 429, "{statuses:?}");
    assert_eq!(statuses[2].1.as_deref(), Some("2"));
    let other = c
        .get(gw.url("/api/x"))
        .basic_auth("erin@contoso.com", Some("erin@contoso.com-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200, "another user has their own bucket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_assertion_verifies_against_the_admin_jwks() {
    let upstream = echo_upstream().await;
    let config = format!(
        "{}assertion: {{enabled: true, algorithm: ES256, issuer: authgate-test}}\nroutes:\n{}",
        base_config(),
        echo_route(upstream, "    assertion_audience: \"http://app\"\n")
    );
    let gw = Gateway::start(&config).await;
    let c = client();
    let body: Value = c
        .get(gw.url("/api/x"))
        .basic_auth("alice", Some("alice-pw"))
        .header("X-Authgate-Assertion", "forged")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = body["headers"]["x-authgate-assertion"]
        .as_str()
        .expect("assertion forwarded");
    assert_ne!(token, "forged");
    let jwks = c
        .get(gw.admin_url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let keys = KeySet::from_jwks(jwks.as_bytes()).unwrap().keys;
    let jwt = authgate_core::auth::jwt::parse(token).unwrap();
    let key = keys.get(jwt.header.kid.as_deref().unwrap()).expect("kid published");
    key.verify("ES256".parse().unwrap(), jwt.signing_input, &jwt.signature)
        .unwrap();
    assert_eq!(jwt.claims.iss.as_deref(), Some("authgate-test"));
    assert_eq!(jwt.claims.sub.as_deref(), Some("K2:CONTOSO\\alice"));
    assert_eq!(jwt.claims.aud.unwrap().iter().collect::<Vec<_>>(), vec!["http://app"]);
}

#[tokio::test]
async fn log_level_comes_from_the_config_and_changes_on_reload() {
    let upstream = echo_upstream().await;
    let config = |level: &str| {
        format!("{}routes:\n{}", base_config(), echo_route(upstream, ""))
            .replace("server: {", &format!("server: {{log_level: \"{level}\", "))
    };
    let gw = Gateway::start_with_config_log_level(&config("warn")).await;
    let get = || {
        client()
            .get(gw.url("/api/quiet"))
            .basic_auth("alice", Some("alice-pw"))
            .send()
    };
    assert_eq!(get().await.unwrap().status(), 200);

    gw.rewrite_config(&config("warn,authgate::access=info"));
    gw.reload_and_wait("ok").await;
    assert!(
        !gw.log().contains("/api/quiet"),
        "warn hides access lines:\n{}",
        gw.log()
    );
    assert_eq!(
        client()
            .get(gw.url("/api/loud"))
            .basic_auth("alice", Some("alice-pw"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !gw.log().contains("/api/loud") {
        assert!(
            std::time::Instant::now() < deadline,
            "no access line after the reload:\n{}",
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    gw.rewrite_config(&config("info,authgate=shouty"));
    gw.reload_and_wait("error").await;
    assert!(gw.log().contains("server.log_level"), "{}", gw.log());
}
