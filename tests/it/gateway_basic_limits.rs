//! Basic authentication under attack (issue 13): concurrent guesses against the lockout, one account's login
//! names sharing its counter, the bound on password hashing (503 + Retry-After), and the credential cache
//! across reloads, through the real gateway.

use crate::support;

use serde_json::Value;
use std::collections::HashMap;
use support::{base_config, client, echo_route, echo_upstream, users_yaml, Gateway};
use tokio::task::JoinSet;

async fn gateway() -> Gateway {
    let upstream = echo_upstream().await;
    Gateway::start(&format!("{}routes:\n{}", base_config(), echo_route(upstream, ""))).await
}

/// Sends every `(user, password)` at once; the statuses by count.
async fn all_at_once(gw: &Gateway, logins: Vec<(String, String)>) -> HashMap<u16, usize> {
    let client = client();
    let mut requests = JoinSet::new();
    for (user, password) in logins {
        let request = client.get(gw.url("/api/things")).basic_auth(user, Some(password));
        requests.spawn(async move { request.send().await.expect("the gateway answers").status().as_u16() });
    }
    let mut statuses = HashMap::new();
    while let Some(status) = requests.join_next().await {
        *statuses.entry(status.unwrap()).or_default() += 1;
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_guesses_get_at_most_max_failures_checks_then_the_lock_holds() {
    // base_config: max_failures_per_user 3.
    let gw = gateway().await;
    let guesses = (0..100).map(|i| ("locky".to_string(), format!("guess-{i}"))).collect();
    let statuses = all_at_once(&gw, guesses).await;
    let checked = statuses.get(&401).copied().unwrap_or(0);
    assert!(checked <= 3, "at most max_failures guesses are checked: {statuses:?}");
    assert_eq!(checked + statuses.get(&429).copied().unwrap_or(0), 100, "{statuses:?}");
    assert_eq!(
        gw.metric("authgate_auth_decisions_total", &["reason=\"invalid_credentials\""])
            .await,
        checked as f64
    );
    let right = gw.get_basic("/api/things", "locky", "locky-pw").await;
    assert_eq!(right.status(), 429, "the right password is refused while locked");
    assert!(right.headers().contains_key("retry-after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_login_name_of_an_account_is_locked_with_it() {
    let gw = gateway().await;
    for login in ["locky", "CONTOSO\\locky", "locky@contoso.com"] {
        assert_eq!(
            gw.get_basic("/api/things", login, "wrong").await.status(),
            401,
            "{login}"
        );
    }
    for login in ["locky", "CONTOSO\\locky", "contoso\\LOCKY", "locky@contoso.com"] {
        let response = gw.get_basic("/api/things", login, "locky-pw").await;
        assert_eq!(response.status(), 429, "{login}: one account, one counter");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "locked_out");
    }
    assert_eq!(gw.get_basic("/api/things", "alice", "alice-pw").await.status(), 200);
}

/// A hash that takes a while (m = 8 MiB, t = 100: a few hundred milliseconds) so that checks overlap.
fn slow_hash(password: &str) -> String {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let params = argon2::Params::new(8 * 1024, 100, 1, None).unwrap();
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_that_get_no_hashing_memory_in_time_are_answered_503_with_retry_after() {
    let upstream = echo_upstream().await;
    // One check at a time (the budget is below the hash's cost: it runs alone), waiting 50 ms at most.
    let config = format!(
        "{}routes:\n{}",
        base_config().replace(
            "basic: {directory: users.yaml, lockout: {max_failures_per_user: 3,",
            "basic: {directory: users.yaml, hashing: {max_memory_mib: 1, queue_timeout_ms: 50, max_queue: 100}, \
             lockout: {max_failures_per_user: 0,"
        ),
        echo_route(upstream, "")
    );
    assert!(config.contains("hashing: {"), "base_config changed shape");
    let users = format!(
        "{}  - {{name: slow, user_manager: ad, password_hash: '{}'}}\n",
        users_yaml(),
        slow_hash("slow-pw")
    );
    let gw = Gateway::start_with_users(&config, &users).await;
    let guesses = (0..10).map(|i| ("slow".to_string(), format!("guess-{i}"))).collect();
    let statuses = all_at_once(&gw, guesses).await;
    assert!(statuses.get(&503).copied().unwrap_or(0) >= 1, "{statuses:?}");
    assert!(statuses.get(&401).copied().unwrap_or(0) >= 1, "{statuses:?}");
    assert_eq!(statuses.values().sum::<usize>(), 10, "{statuses:?}");
    assert!(gw.metric("authgate_password_hash_queue_timeouts_total", &[]).await >= 1.0);
    assert_eq!(gw.metric("authgate_password_hash_queue_depth", &[]).await, 0.0);
    // The 503 itself, once more, with nothing else running: the client is told when to come back.
    let client = client();
    let (first, second) = tokio::join!(
        client.get(gw.url("/api/things")).basic_auth("slow", Some("a")).send(),
        async {
            // Sent once the first check holds the memory.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while gw.metric("authgate_password_hashes_in_flight", &[]).await < 1.0 {
                assert!(std::time::Instant::now() < deadline, "the first check never started");
            }
            client
                .get(gw.url("/api/things"))
                .basic_auth("slow", Some("b"))
                .send()
                .await
        }
    );
    assert_eq!(first.unwrap().status(), 401);
    let busy = second.unwrap();
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.headers()["retry-after"], "1");
    assert_eq!(busy.headers()["content-type"], "application/json");
    let body: Value = busy.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("busy checking other passwords"),
        "{body}"
    );
    // Nothing was counted or broken: the right password works.
    assert_eq!(gw.get_basic("/api/things", "slow", "slow-pw").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remembered_logins_survive_a_reload_unless_the_users_entry_changed() {
    let gw = gateway().await;
    for (user, password) in [("alice", "alice-pw"), ("locky", "locky-pw")] {
        assert_eq!(gw.get_basic("/api/things", user, password).await.status(), 200);
    }
    // alice moves to another group (same password hash); locky's entry stays as it was.
    let path = gw.dir.path().join("users.yaml");
    let users = std::fs::read_to_string(&path).unwrap();
    let changed: String = users
        .lines()
        .map(|line| {
            if line.contains("name: 'alice'") {
                line.replace("groups: [Finance, Approvers]", "groups: [Auditors]")
            } else {
                line.to_string()
            }
        })
        .map(|line| line + "\n")
        .collect();
    assert_ne!(users, changed);
    std::fs::write(&path, changed).unwrap();
    gw.reload_and_wait("ok").await;

    let hits = gw.metric("authgate_credential_cache_hits_total", &[]).await;
    assert_eq!(gw.get_basic("/api/things", "locky", "locky-pw").await.status(), 200);
    assert_eq!(
        gw.metric("authgate_credential_cache_hits_total", &[]).await,
        hits + 1.0,
        "locky's login was remembered across the reload"
    );
    let alice = gw.get_basic("/api/things", "alice", "alice-pw").await;
    assert_eq!(alice.status(), 200);
    let body: Value = alice.json().await.unwrap();
    assert_eq!(body["headers"]["x-authgate-groups"], "Auditors", "{body}");
    assert_eq!(
        gw.metric("authgate_credential_cache_hits_total", &[]).await,
        hits + 1.0,
        "alice's changed entry was checked again"
    );
}
