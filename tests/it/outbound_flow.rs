//! Outbound OAuth's browser flow through the real binary: authorize (302 to the provider with state and
//! PKCE, the binding cookie), the callback (code exchanged at a token endpoint in the test, tokens stored
//! sealed), refusals (replayed, forged, cross-browser, cross-user state) that store nothing, each user's own
//! connections, and the `oauth` CLI (list, revoke, reseal). Without an `oauth:` section (the shipped
//! gateway.yaml) the built-in routes answer 404, not an error.

use crate::support::{base_config, client, Gateway};
use axum::routing::post;
use axum::Router;
use reqwest::StatusCode;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const KEY1: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const KEY2: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

/// A token endpoint: checks the PKCE verifier against the challenge the test saw, counts calls.
struct Provider {
    addr: SocketAddr,
    calls: Arc<AtomicUsize>,
    /// code -> expected code_verifier challenge.
    challenges: Arc<Mutex<HashMap<String, String>>>,
}

async fn provider() -> Provider {
    let calls = Arc::new(AtomicUsize::new(0));
    let challenges: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let (c, ch) = (calls.clone(), challenges.clone());
    let router = Router::new().route(
        "/token",
        post(move |body: String| {
            let (calls, challenges) = (c.clone(), ch.clone());
            async move {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
                let code = form.get("code").cloned().unwrap_or_default();
                let verifier = form.get("code_verifier").cloned().unwrap_or_default();
                let expected = challenges.lock().unwrap().remove(&code);
                use base64::Engine;
                let got = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
                    &aws_lc_rs::digest::SHA256,
                    verifier.as_bytes(),
                ));
                if form.get("grant_type").map(String::as_str) != Some("authorization_code")
                    || expected.as_deref() != Some(got.as_str())
                {
                    return (StatusCode::BAD_REQUEST, r#"{"error":"invalid_grant"}"#.to_string());
                }
                (
                    StatusCode::OK,
                    format!(
                        r#"{{"access_token":"PLAINTEXT-AT-{n}","refresh_token":"PLAINTEXT-RT-{n}","expires_in":3600}}"#
                    ),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Provider {
        addr,
        calls,
        challenges,
    }
}

fn config(keys: &str) -> String {
    format!(
        "{}oauth:\n  types: oauth/types\n  resources: oauth/resources\n  vault:\n    keys:\n{keys}\nroutes:\n  - {{name: oauth, prefix: /api/oauth/v1, upstream: builtin}}\n  - {{name: cb, prefix: /Identity/token/oauth, upstream: builtin}}\n",
        base_config()
    )
}

fn files(p: &Provider) -> Vec<(&'static str, String)> {
    vec![
        (
            "oauth/types/generic.yaml",
            "name: Generic\nparameters:\n  - {name: client_id, stages: [authorization, token, refresh]}\n  - {name: response_type, stages: [authorization], defaults: {authorization: code}}\n  - {name: redirect_uri, stages: [authorization, token]}\n  - {name: grant_type, stages: [token, refresh], defaults: {token: authorization_code, refresh: refresh_token}}\n".to_string(),
        ),
        (
            "oauth/resources/files.yaml",
            format!(
                "name: Files\ntype: Generic\nauthorization_endpoint: http://127.0.0.1:9/authorize?tenant=t\ntoken_endpoint: http://{}/token\nparameters:\n  client_id: {{authorization: gw, token: gw, refresh: gw}}\n  redirect_uri: {{authorization: 'http://gw.test/Identity/token/oauth/2', token: 'http://gw.test/Identity/token/oauth/2'}}\n",
                p.addr
            ),
        ),
    ]
}

/// A browser's client: redirects are the test's to follow (or not).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

struct Started {
    location: url::Url,
    state: String,
    cookie: String,
}

async fn authorize(gw: &Gateway, user: &str, query: &str) -> Started {
    let r = browser()
        .get(gw.url(&format!("/api/oauth/v1/resources/files/authorize{query}")))
        .basic_auth(user, Some(format!("{user}-pw")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND, "{:?}", r.text().await);
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(set_cookie.contains("Path=/Identity/token/oauth"), "{set_cookie}");
    assert!(set_cookie.contains("Max-Age=600"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let q: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(q["tenant"], "t", "the endpoint's own query is kept");
    assert_eq!(q["client_id"], "gw");
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["state"].len() >= 43, "at least 256 bits: {}", q["state"]);
    Started {
        state: q["state"].clone(),
        cookie,
        location,
    }
}

async fn callback(gw: &Gateway, user: &str, state: &str, code: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = browser()
        .get(gw.url(&format!("/Identity/token/oauth/2?code={code}&state={state}")))
        .basic_auth(user, Some(format!("{user}-pw")));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

fn challenge(started: &Started) -> String {
    started
        .location
        .query_pairs()
        .find(|(k, _)| k == "code_challenge")
        .unwrap()
        .1
        .into_owned()
}

async fn connections(gw: &Gateway, user: &str) -> serde_json::Value {
    client()
        .get(gw.url("/api/oauth/v1/connections"))
        .basic_auth(user, Some(format!("{user}-pw")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn cli(gw: &Gateway, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_authgate"))
        .args(args)
        .arg("-c")
        .arg(gw.config_path())
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn the_browser_flow_stores_sealed_tokens_and_refuses_every_bad_state() {
    let p = provider().await;
    let files = files(&p);
    let files: Vec<(&str, &str)> = files.iter().map(|(n, c)| (*n, c.as_str())).collect();
    let gw = Gateway::start_with_files(&config(&format!("      - {{id: k1, key: '{KEY1}'}}")), &files).await;

    // Bad return_url.
    let r = client()
        .get(gw.url("/api/oauth/v1/resources/files/authorize?return_url=//evil.example/"))
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Forged state.
    let r = callback(&gw, "alice", "forged-state-value", "c0", Some("authgate_oauth_x=y")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("not valid"));

    // Cross-browser: no cookie, then the state is gone too.
    let s = authorize(&gw, "alice", "").await;
    p.challenges.lock().unwrap().insert("c1".into(), challenge(&s));
    let r = callback(&gw, "alice", &s.state, "c1", None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("another browser"));
    let r = callback(&gw, "alice", &s.state, "c1", Some(&s.cookie)).await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "the state is not usable afterwards"
    );

    // Cross-user: erin finishes alice's authorization with alice's cookie.
    let s = authorize(&gw, "alice", "").await;
    p.challenges.lock().unwrap().insert("c2".into(), challenge(&s));
    let r = callback(&gw, "erin@contoso.com", &s.state, "c2", Some(&s.cookie)).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(p.calls.load(Ordering::SeqCst), 0, "no code was exchanged");
    assert_eq!(connections(&gw, "alice").await["connections"], serde_json::json!([]));

    // Expired: the state's 10 minutes are over (moved back in the database).
    let s = authorize(&gw, "alice", "").await;
    p.challenges.lock().unwrap().insert("c4".into(), challenge(&s));
    let db = rusqlite::Connection::open(gw.dir.path().join("db.sqlite")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(db.execute("UPDATE oauth_states SET expires_at = 1", []).unwrap(), 1);
    drop(db);
    let r = callback(&gw, "alice", &s.state, "c4", Some(&s.cookie)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("expired"));
    assert_eq!(p.calls.load(Ordering::SeqCst), 0, "no code was exchanged");
    assert_eq!(connections(&gw, "alice").await["connections"], serde_json::json!([]));

    // The real thing, with a return_url.
    let s = authorize(&gw, "alice", "?return_url=/apps/done").await;
    p.challenges.lock().unwrap().insert("c3".into(), challenge(&s));
    let r = callback(&gw, "alice", &s.state, "c3", Some(&s.cookie)).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(r.headers()["location"], "/apps/done");
    assert_eq!(p.calls.load(Ordering::SeqCst), 1);
    // Replayed.
    let r = callback(&gw, "alice", &s.state, "c3", Some(&s.cookie)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(p.calls.load(Ordering::SeqCst), 1);

    let listed = connections(&gw, "alice").await;
    let rows = listed["connections"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{listed}");
    assert_eq!(rows[0]["resource"], "Files");
    assert_eq!(rows[0]["status"], "connected");
    assert!(rows[0]["expires_in_seconds"].as_i64().unwrap() > 3500);
    assert_eq!(
        connections(&gw, "erin@contoso.com").await["connections"],
        serde_json::json!([])
    );
    // Erin cannot revoke alice's.
    let r = client()
        .delete(gw.url("/api/oauth/v1/connections/files"))
        .basic_auth("erin@contoso.com", Some("erin@contoso.com-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Sealed at rest.
    let db = std::fs::read(gw.dir.path().join("db.sqlite")).unwrap();
    let wal = std::fs::read(gw.dir.path().join("db.sqlite-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(10).any(|w| w == b"PLAINTEXT-"),
            "a token is stored in plain text"
        );
    }

    // CLI: list, reseal under a new key, revoke.
    let (ok, out) = cli(&gw, &["oauth", "tokens", "list"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("K2:CONTOSO\\alice") && out.contains("Files") && out.contains("1 connection(s)"),
        "{out}"
    );
    assert!(!out.contains("PLAINTEXT"), "{out}");
    let config_path = gw.config_path();
    let text = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(
        &config_path,
        text.replace(
            &format!("      - {{id: k1, key: '{KEY1}'}}"),
            &format!("      - {{id: k2, key: '{KEY2}'}}\n      - {{id: k1, key: '{KEY1}'}}"),
        ),
    )
    .unwrap();
    let (ok, out) = cli(&gw, &["oauth", "reseal"]);
    assert!(ok, "{out}");
    assert!(out.contains("resealed 1 connection(s) under vault key 'k2'"), "{out}");
    let (ok, out) = cli(&gw, &["oauth", "reseal"]);
    assert!(
        ok && out.contains("resealed 0") && out.contains("1 already under it"),
        "{out}"
    );
    // The old key removed: still readable.
    let text = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(
        &config_path,
        text.replace(&format!("\n      - {{id: k1, key: '{KEY1}'}}"), ""),
    )
    .unwrap();
    let (ok, out) = cli(&gw, &["oauth", "reseal"]);
    assert!(ok && out.contains("1 already under it"), "{out}");
    let (ok, out) = cli(
        &gw,
        &["oauth", "tokens", "revoke", "--user", "k2:contoso\\ALICE", "--all"],
    );
    assert!(ok && out.contains("revoked 1 connection(s)"), "{out}");
    assert_eq!(connections(&gw, "alice").await["connections"], serde_json::json!([]));
}

/// The shipped gateway.yaml routes both paths to the built-in APIs with `oauth:` commented out: they answer
/// 404 saying so (401 without credentials), never 500.
#[tokio::test]
async fn without_an_oauth_section_the_routes_say_it_is_not_configured() {
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/gateway.yaml")).unwrap();
    assert!(
        !shipped.lines().any(|l| l.starts_with("oauth:")),
        "oauth: is commented out"
    );
    for prefix in ["/api/oauth/v1", "/Identity/token/oauth"] {
        assert!(
            shipped.contains(&format!("prefix: {prefix}\n    upstream: builtin")),
            "{prefix} is routed to builtin"
        );
    }
    let gw = Gateway::start(&format!(
        "{}routes:\n  - {{name: oauth, prefix: /api/oauth/v1, upstream: builtin}}\n  - {{name: oauth-callback, prefix: /Identity/token/oauth, upstream: builtin}}\n",
        base_config()
    ))
    .await;
    for (method, path) in [
        ("GET", "/api/oauth/v1/resources/files/authorize"),
        ("GET", "/Identity/token/oauth/2?code=c&state=s"),
        ("GET", "/api/oauth/v1/connections"),
        ("DELETE", "/api/oauth/v1/connections"),
        ("DELETE", "/api/oauth/v1/connections/files"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = browser()
            .request(method.clone(), gw.url(path))
            .basic_auth("alice", Some("alice-pw"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method} {path}");
        let body = r.text().await.unwrap();
        assert!(body.contains("not configured"), "{method} {path}: {body}");
        let r = browser().request(method.clone(), gw.url(path)).send().await.unwrap();
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} without credentials"
        );
    }
}
