//! Outbound OAuth with the shipped "Microsoft Online" resource types against the Azure-AD-shaped endpoints of
//! `servers::aad`: the v1 type names the API by `resource` on the authorization, token and refresh requests
//! (the mock's v1 token endpoint refuses a request without it), the v2 type by `scope` (its v2 endpoints
//! refuse `resource`). Both run the browser flow (PKCE S256, the client secret, the same redirect URI), both
//! tokens reach their routes' upstream, and both are refreshed once due (the mock's access tokens live
//! SKEW + 3 s; the test polls until they are due).

use crate::outbound_oidc::connections;
use crate::servers::aad::{AadMock, CLIENT_ID, CLIENT_SECRET, TENANT};
use crate::support::browser::Browser;
use crate::support::{base_config, echo_upstream, until, Gateway};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::HashMap;

const V1_TYPE: &str = include_str!("../../policies/oauth/types/microsoft-online.yaml");
const V2_TYPE: &str = include_str!("../../policies/oauth/types/microsoft-online-v2.yaml");
const VAULT_KEY: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
pub(crate) const SHAREPOINT: &str = "https://contoso.sharepoint.com";
const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default offline_access";

/// The resources `SharePoint` (v1) and `Graph` (v2) at `aad`, calling back to `gateway_port`.
fn resources(aad: &AadMock, gateway_port: u16) -> [(&'static str, String); 2] {
    let base = format!("{}/{TENANT}/oauth2", aad.authority());
    let common = |extra: &str| {
        let redirect = format!("http://127.0.0.1:{gateway_port}/Identity/token/oauth/2");
        format!(
            "parameters:\n  client_id: {{authorization: {CLIENT_ID}, token: {CLIENT_ID}, refresh: {CLIENT_ID}}}\n  \
             client_secret: {{token: {CLIENT_SECRET}, refresh: {CLIENT_SECRET}}}\n  \
             redirect_uri: {{authorization: '{redirect}', token: '{redirect}'}}\n{extra}"
        )
    };
    [
        (
            "oauth/resources/sharepoint.yaml",
            format!(
                "name: SharePoint\ntype: Microsoft Online\nauthorization_endpoint: {base}/authorize\ntoken_endpoint: {base}/token\n{}",
                common(&format!(
                    "  resource: {{authorization: '{SHAREPOINT}', token: '{SHAREPOINT}', refresh: '{SHAREPOINT}'}}\n"
                ))
            ),
        ),
        (
            "oauth/resources/graph.yaml",
            format!(
                "name: Graph\ntype: Microsoft Online v2\nauthorization_endpoint: {base}/v2.0/authorize\ntoken_endpoint: {base}/v2.0/token\n{}",
                common(&format!(
                    "  scope: {{authorization: '{GRAPH_SCOPE}', token: '{GRAPH_SCOPE}', refresh: '{GRAPH_SCOPE}'}}\n"
                ))
            ),
        ),
    ]
}

async fn gateway(aad: &AadMock) -> Gateway {
    gateway_with(aad, &base_config()).await
}

/// [`gateway`] with `head` in place of [`base_config`] (the admin tests name administrators there).
pub(crate) async fn gateway_with(aad: &AadMock, head: &str) -> Gateway {
    let upstream = echo_upstream().await;
    let yaml = format!(
        "{}oauth:\n  types: oauth/types\n  resources: oauth/resources\n  vault:\n    keys:\n      - {{id: k1, key: '{VAULT_KEY}'}}\n\
         routes:\n  - {{name: oauth, prefix: /api/oauth/v1, upstream: builtin}}\n  - {{name: cb, prefix: /Identity/token/oauth, upstream: builtin}}\n\
         \x20 - {{name: sp, prefix: /sp, upstream: \"{upstream}\", outbound: {{oauth_resource: SharePoint}}}}\n\
         \x20 - {{name: graph, prefix: /graph, upstream: \"{upstream}\", outbound: {{oauth_resource: Graph}}}}\n",
        head
    );
    // The callback names the gateway's port, known once it runs: started with a placeholder, then the
    // resources are rewritten and reloaded.
    let placeholder = resources(aad, 9);
    let mut files = vec![("oauth/types/v1.yaml", V1_TYPE), ("oauth/types/v2.yaml", V2_TYPE)];
    files.extend(placeholder.iter().map(|(n, c)| (*n, c.as_str())));
    let gw = Gateway::start_with_files(&yaml, &files).await;
    for (name, contents) in resources(aad, gw.port) {
        std::fs::write(gw.dir.path().join(name), contents).unwrap();
    }
    gw.reload_and_wait("ok").await;
    gw
}

/// Alice authorizes `resource` in a browser; the query the provider's authorize endpoint got.
pub(crate) async fn connect(gw: &Gateway, aad: &AadMock, resource: &str) -> HashMap<String, String> {
    let mut browser = Browser::new(gw.port, "alice");
    let start = browser
        .get(&gw.url(&format!("/api/oauth/v1/resources/{resource}/authorize")))
        .await;
    assert_eq!(start.status, StatusCode::FOUND, "{}", start.body);
    let back = browser.authorize_at_provider(start, "alice").await;
    assert_eq!(back.url.path(), "/Identity/token/oauth/2");
    assert!(
        back.status.is_success() || back.status.is_redirection(),
        "{}\n{}",
        back.body,
        gw.log()
    );
    aad.authorizations().pop().expect("an authorization request")
}

/// `GET {prefix}/x` as Alice: the bearer token the upstream received.
async fn upstream_bearer(gw: &Gateway, prefix: &str) -> String {
    let r = gw.get_basic(&format!("{prefix}/x"), "alice", "alice-pw").await;
    assert_eq!(r.status(), 200, "{}", gw.log());
    let echo: Value = r.json().await.unwrap();
    let header = echo["headers"]["authorization"].as_str().expect("a token upstream");
    header.strip_prefix("Bearer ").unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsoft_online_v1_sends_resource_and_v2_sends_scope_in_the_flow_and_on_refresh() {
    let aad = AadMock::start().await;
    aad.set_lifetime(63);
    let gw = gateway(&aad).await;

    let v1 = connect(&gw, &aad, "SharePoint").await;
    assert_eq!(v1["resource"], SHAREPOINT);
    assert_eq!(v1["code_challenge_method"], "S256");
    assert!(!v1.contains_key("scope"), "{v1:?}");
    let code = aad.forms_with_grant("authorization_code").pop().unwrap();
    assert_eq!(code["resource"], SHAREPOINT, "v1 token request names the resource");
    assert!(
        code.contains_key("code_verifier") && !code.contains_key("scope"),
        "{code:?}"
    );
    let sharepoint_token = upstream_bearer(&gw, "/sp").await;
    assert!(sharepoint_token.starts_with("aad-at-"), "{sharepoint_token}");

    let v2 = connect(&gw, &aad, "Graph").await;
    assert_eq!(v2["scope"], GRAPH_SCOPE);
    assert!(!v2.contains_key("resource"), "{v2:?}");
    let code = aad.forms_with_grant("authorization_code").pop().unwrap();
    assert_eq!(code["scope"], GRAPH_SCOPE);
    assert!(!code.contains_key("resource"), "v2 sends scope, not resource: {code:?}");
    let graph_token = upstream_bearer(&gw, "/graph").await;
    assert_ne!(graph_token, sharepoint_token);
    assert!(aad.forms_with_grant("refresh_token").is_empty());

    until("both access tokens to be due", || async {
        let rows = connections(&gw).await;
        rows.len() == 2 && rows.iter().all(|r| r["expires_in_seconds"].as_i64() <= Some(60))
    })
    .await;
    let refreshed_sharepoint = upstream_bearer(&gw, "/sp").await;
    let refreshed_graph = upstream_bearer(&gw, "/graph").await;
    let refreshes = aad.forms_with_grant("refresh_token");
    assert_eq!(refreshes.len(), 2, "{refreshes:?}\n{}", gw.log());
    let v1_refresh = refreshes
        .iter()
        .find(|f| f.contains_key("resource"))
        .expect("a v1 refresh");
    assert_eq!(v1_refresh["resource"], SHAREPOINT);
    assert!(!v1_refresh.contains_key("scope"));
    assert_eq!(v1_refresh["client_secret"], CLIENT_SECRET);
    let v2_refresh = refreshes
        .iter()
        .find(|f| !f.contains_key("resource"))
        .expect("a v2 refresh");
    assert_eq!(v2_refresh["scope"], GRAPH_SCOPE);
    assert_ne!(refreshed_sharepoint, sharepoint_token, "the refreshed token is used");
    assert_ne!(refreshed_graph, graph_token);
    let rows = connections(&gw).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        assert_eq!(row["status"], "connected", "{row}");
        assert!(row["expires_in_seconds"].as_i64() > Some(60), "{row}");
    }
}

/// Vault key rotation under the running gateway (outbound_flow covers `oauth reseal` through the CLI alone):
/// a new first key and a reload, `oauth reseal`, the old key removed and a reload: the connection made under
/// the old key is still used. Control: with neither key the token cannot be opened (503, nothing leaked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_keys_rotated_under_the_running_gateway_keep_the_connection_usable() {
    let aad = AadMock::start().await;
    let gw = gateway(&aad).await;
    connect(&gw, &aad, "SharePoint").await;
    let token = upstream_bearer(&gw, "/sp").await;
    let old_key = format!("      - {{id: k1, key: '{VAULT_KEY}'}}\n");
    let new_key = "      - {id: k2, key: 'AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM='}\n";
    let config = std::fs::read_to_string(gw.config_path()).unwrap();
    assert!(config.contains(&old_key));
    let set_keys = |keys: &str| std::fs::write(gw.config_path(), config.replace(&old_key, keys)).unwrap();

    set_keys(&format!("{new_key}{old_key}"));
    gw.reload_and_wait("ok").await;
    assert_eq!(
        upstream_bearer(&gw, "/sp").await,
        token,
        "sealed under k1, opened with k1"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_authgate"))
        .args(["oauth", "reseal", "-c"])
        .arg(gw.config_path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("resealed 1 connection(s) under vault key 'k2'"),
        "{text}"
    );
    set_keys(new_key);
    gw.reload_and_wait("ok").await;
    assert_eq!(upstream_bearer(&gw, "/sp").await, token, "resealed under k2, k1 gone");

    set_keys("      - {id: k3, key: 'BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ='}\n");
    gw.reload_and_wait("ok").await;
    let r = gw.get_basic("/sp/x", "alice", "alice-pw").await;
    assert_eq!(r.status(), 503, "a key the ciphertext does not name cannot open it");
    let body = r.text().await.unwrap();
    assert!(body.contains("oauth_unavailable") && !body.contains(&token), "{body}");
}
