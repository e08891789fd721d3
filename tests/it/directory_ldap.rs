//! Basic authentication through Active Directory over LDAP, against a real OpenLDAP `slapd` with an AD-like
//! directory (`tests/ldap/`), through the real gateway.

use crate::servers;
use crate::support;

use serde_json::Value;
use servers::slapd::{Slapd, BASE_DN, SERVICE_DN, SERVICE_PASSWORD};
use std::time::{Duration, Instant};
use support::{base_config, echo_route, echo_upstream, Gateway};

/// The variable the bind password is read from (`${...}` in gateway.yaml), as an operator would.
const PASSWORD_VAR: &str = "AUTHGATE_TEST_LDAP_BIND_PASSWORD";

/// A configuration whose Basic backend is the LDAP directory at `url`, with `extra` LDAP settings.
fn ldap_config(url: &str, extra: &str, upstream: std::net::SocketAddr) -> String {
    std::env::set_var(PASSWORD_VAR, SERVICE_PASSWORD);
    let backend = format!(
        "backend: {{ldap: {{url: \"{url}\", bind_dn: \"{SERVICE_DN}\", bind_password: \"${{{PASSWORD_VAR}}}\", \
         base_dn: \"{BASE_DN}\", timeout_seconds: 2, connect_timeout_seconds: 2, pool_size: 2{extra}}}}}, "
    );
    let head = base_config().replace(
        "basic: {directory: users.yaml, ",
        &format!("basic: {{directory: users.yaml, {backend}"),
    );
    assert!(head.contains("backend: {ldap"), "base_config changed shape");
    format!("{head}routes:\n{}", echo_route(upstream, ""))
}

async fn gateway_for(url: &str, extra: &str) -> Gateway {
    Gateway::start(&ldap_config(url, extra, echo_upstream().await)).await
}

async fn get_as(gw: &Gateway, user: &str, password: &str) -> reqwest::Response {
    gw.get_basic("/api/things", user, password).await
}

async fn status_and_body(gw: &Gateway, user: &str, password: &str) -> (u16, Value) {
    let response = get_as(gw, user, password).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ad_user_logs_in_by_account_name_upn_or_domain_and_is_forwarded_with_groups() {
    let slapd = Slapd::start().await;
    let gw = gateway_for(&slapd.url(), "").await;
    for login in ["alice", "alice@contoso.com", "CONTOSO\\alice", "contoso\\ALICE"] {
        let (status, body) = status_and_body(&gw, login, "alice-pw").await;
        assert_eq!(status, 200, "{login}: {body}\n{}", gw.log());
        let h = &body["headers"];
        assert_eq!(h["x-authgate-user"], "K2:CONTOSO\\alice", "{login}: {body}");
        assert_eq!(h["x-authgate-user-manager"], "ad");
        assert_eq!(h["x-authgate-auth-method"], "basic");
        assert_eq!(h["x-authgate-email"], "alice@contoso.com");
        assert_eq!(h["x-authgate-display-name"], "Alice Smith");
        assert_eq!(
            h["x-authgate-groups"], "Finance,Approvers%2C EMEA",
            "memberOf CNs: {body}"
        );
    }
    // A user without mail/displayName/memberOf.
    let (status, body) = status_and_body(&gw, "bob", "bob-pw").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["headers"]["x-authgate-user"], "K2:CONTOSO\\bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_unknown_user_and_empty_password_get_the_same_401() {
    let slapd = Slapd::start().await;
    let gw = gateway_for(&slapd.url(), "").await;
    // An empty password is an anonymous bind to LDAP, which this slapd grants: it must never log anyone in.
    for (user, password) in [
        ("alice", "wrong"),
        ("nobody", "whatever"),
        ("alice", ""),
        ("nobody", ""),
    ] {
        let (status, body) = status_and_body(&gw, user, password).await;
        assert_eq!(status, 401, "{user}/{password:?}: {body}");
        assert_eq!(body["error"], "invalid_credentials");
        assert_eq!(body["error_description"], "invalid user name or password");
    }
    // Failures are not cached as success, and do not poison the right password.
    assert_eq!(get_as(&gw, "alice", "alice-pw").await.status(), 200);
    assert_eq!(get_as(&gw, "alice", "alice-pwx").await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_account_is_refused_once_its_password_is_proven() {
    let slapd = Slapd::start().await;
    let gw = gateway_for(&slapd.url(), "").await;
    let (status, body) = status_and_body(&gw, "dave", "dave-pw").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error_description"], "the account is disabled");
    let (status, body) = status_and_body(&gw, "dave", "wrong").await;
    assert_eq!(status, 401);
    assert_eq!(
        body["error_description"], "invalid user name or password",
        "no account state without the password"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldap_filter_injection_in_the_login_matches_nothing() {
    let slapd = Slapd::start().await;
    let gw = gateway_for(&slapd.url(), "").await;
    // Unescaped, `al*` would find alice and her password would log the caller in as her.
    for login in [
        "*",
        "al*",
        "*)(sAMAccountName=alice",
        "alice)(|(objectClass=*",
        "alice)(userPrincipalName=*",
        "CONTOSO\\al*",
        "\\",
        "alice\\",
        "EVIL\\alice",
        "alice\\2a",
        "alice\u{0}",
    ] {
        let (status, body) = status_and_body(&gw, login, "alice-pw").await;
        assert_eq!(status, 401, "{login:?} must not log in: {body}");
    }
    // Escaping is exact, not a refusal of special characters: a real account named o(brien) logs in.
    let (status, body) = status_and_body(&gw, "o(brien)", "obrien-pw").await;
    assert_eq!(status, 200, "{body}\n{}", gw.log());
    assert_eq!(body["headers"]["x-authgate-user"], "K2:CONTOSO\\o(brien)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_down_is_503_with_a_clear_body_never_a_pass() {
    let mut slapd = Slapd::start().await;
    let gw = gateway_for(&slapd.url(), "").await;
    assert_eq!(get_as(&gw, "alice", "alice-pw").await.status(), 200);
    slapd.stop();
    // A verified login stays cached briefly (caches.credentials.ttl_seconds)...
    assert_eq!(get_as(&gw, "alice", "alice-pw").await.status(), 200);
    // ...but nothing else passes, and no failure is reported as a wrong password.
    for (user, password) in [("bob", "bob-pw"), ("alice", "not-her-password")] {
        let response = get_as(&gw, user, password).await;
        assert_eq!(response.status(), 503, "{user}");
        assert!(response.headers().contains_key("retry-after"));
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
        let text = body["error_description"].as_str().unwrap();
        assert!(
            text.contains("user directory is unavailable") && text.contains(&slapd.url()),
            "{text}"
        );
    }
    // A gateway whose directory was never there.
    let nowhere = format!("ldap://127.0.0.1:{}", support::free_port());
    let gw = gateway_for(&nowhere, "").await;
    assert_eq!(get_as(&gw, "alice", "alice-pw").await.status(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_that_never_answers_times_out_with_503() {
    // Accepts connections and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let gw = gateway_for(&format!("ldap://127.0.0.1:{port}"), "").await;
    let started = Instant::now();
    let (status, body) = status_and_body(&gw, "alice", "alice-pw").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "timeouts apply: {:?}",
        started.elapsed()
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("did not answer within 2s"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldaps_and_starttls_log_in_and_an_untrusted_certificate_is_503() {
    let slapd = Slapd::start_with_tls().await;
    let ca = slapd.ca_file.as_ref().unwrap().display().to_string();
    let ldaps = gateway_for(&slapd.ldaps_url(), &format!(", ca_file: \"{ca}\"")).await;
    assert_eq!(
        get_as(&ldaps, "alice", "alice-pw").await.status(),
        200,
        "{}",
        ldaps.log()
    );
    let starttls = gateway_for(&slapd.url(), &format!(", starttls: true, ca_file: \"{ca}\"")).await;
    assert_eq!(
        get_as(&starttls, "alice", "alice-pw").await.status(),
        200,
        "{}",
        starttls.log()
    );
    assert_eq!(get_as(&starttls, "alice", "wrong").await.status(), 401);
    // Without the test CA (system roots only) the certificate is not trusted: no login, no fallback.
    let untrusted = gateway_for(&slapd.ldaps_url(), "").await;
    let (status, body) = status_and_body(&untrusted, "alice", "alice-pw").await;
    assert_eq!(status, 503, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_bodies_or_logs_and_a_refused_service_account_is_503() {
    let slapd = Slapd::start().await;
    let gw = gateway_for(&slapd.url(), "").await;
    let mut bodies = String::new();
    for (user, password) in [("alice", "alice-pw"), ("alice", "Sup3r-wrong"), ("dave", "dave-pw")] {
        bodies += &get_as(&gw, user, password).await.text().await.unwrap();
    }
    // A service account with the wrong password: the gateway is misconfigured, so 503 (not 401), naming the
    // setting to fix and not the password.
    std::env::set_var("AUTHGATE_TEST_LDAP_WRONG_BIND", "not-the-svc-password");
    let upstream = echo_upstream().await;
    let config = ldap_config(&slapd.url(), "", upstream).replace(PASSWORD_VAR, "AUTHGATE_TEST_LDAP_WRONG_BIND");
    let misconfigured = Gateway::start(&config).await;
    let response = get_as(&misconfigured, "alice", "alice-pw").await;
    assert_eq!(response.status(), 503);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("refused the service account") && text.contains("bind_password"),
        "{text}"
    );
    bodies += &text;
    let logs = gw.log() + &misconfigured.log();
    for secret in [
        SERVICE_PASSWORD,
        "not-the-svc-password",
        "alice-pw",
        "Sup3r-wrong",
        "dave-pw",
    ] {
        assert!(!bodies.contains(secret), "{secret} in a response body");
        assert!(!logs.contains(secret), "{secret} in the log:\n{logs}");
    }
}

/// Issue 13 item 4: `bob`, `CONTOSO\bob` and `bob@contoso.com` each had five guesses of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_login_name_of_an_ad_account_shares_its_lockout_and_guesses_cannot_outrun_it() {
    let slapd = Slapd::start().await;
    // base_config: max_failures_per_user 3.
    let gw = gateway_for(&slapd.url(), "").await;
    for login in ["bob", "CONTOSO\\bob", "bob@contoso.com"] {
        let (status, body) = status_and_body(&gw, login, "wrong").await;
        assert_eq!(status, 401, "{login}: {body}");
    }
    for login in ["bob", "contoso\\BOB", "BOB@contoso.com"] {
        let (status, body) = status_and_body(&gw, login, "bob-pw").await;
        assert_eq!(status, 429, "{login}: one AD account, one counter: {body}");
        assert_eq!(body["error"], "locked_out");
    }
    assert_eq!(
        get_as(&gw, "alice", "alice-pw").await.status(),
        200,
        "others unaffected"
    );

    // Concurrent guesses for one account: no more than max_failures reach a bind.
    let client = support::client();
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..40 {
        let login = ["o(brien)", "obrien@contoso.com", "CONTOSO\\o(brien)"][i % 3];
        let request = client
            .get(gw.url("/api/things"))
            .basic_auth(login, Some(format!("guess-{i}")));
        guesses.spawn(async move { request.send().await.unwrap().status().as_u16() });
    }
    let mut checked = 0;
    while let Some(status) = guesses.join_next().await {
        match status.unwrap() {
            401 => checked += 1,
            429 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(checked <= 3, "{checked} guesses were checked");
    assert_eq!(get_as(&gw, "obrien@contoso.com", "obrien-pw").await.status(), 429);
}
