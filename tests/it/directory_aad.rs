//! Basic authentication through Azure AD's resource-owner password grant, against a mock token endpoint
//! that answers with Azure AD's error codes, through the real gateway.

use crate::servers;
use crate::support;

use serde_json::Value;
use servers::aad::{AadMock, CLIENT_ID, CLIENT_SECRET, TENANT, TENANT_ID};
use support::{base_config, echo_route, echo_upstream, Gateway};

const SECRET_VAR: &str = "AUTHGATE_TEST_AAD_CLIENT_SECRET";

async fn gateway_for(authority: &str, secret_var: &str) -> Gateway {
    std::env::set_var(SECRET_VAR, CLIENT_SECRET);
    let backend = format!(
        "backend: {{aad: {{tenant: {TENANT}, authority: \"{authority}\", client_id: \"{CLIENT_ID}\", \
         client_secret: \"${{{secret_var}}}\", resource: \"https://api.k2.com/\", timeout_seconds: 2}}}}, "
    );
    let head = base_config().replace(
        "basic: {directory: users.yaml, ",
        &format!("basic: {{directory: users.yaml, {backend}"),
    );
    assert!(head.contains("backend: {aad"), "base_config changed shape");
    let config = format!("{head}routes:\n{}", echo_route(echo_upstream().await, ""));
    Gateway::start(&config).await
}

async fn call(gw: &Gateway, user: &str, password: &str) -> (u16, Vec<String>, Value) {
    let response = gw.get_basic("/api/things", user, password).await;
    let status = response.status().as_u16();
    let challenges = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    (status, challenges, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_grant_logs_in_forwards_the_upn_and_tenant_and_is_cached() {
    let aad = AadMock::start().await;
    let gw = gateway_for(&aad.authority(), SECRET_VAR).await;
    let (status, _, body) = call(&gw, "erin@contoso.com", "erin-pw").await;
    assert_eq!(status, 200, "{body}\n{}", gw.log());
    let h = &body["headers"];
    assert_eq!(h["x-authgate-user"], "AAD:erin@contoso.com");
    assert_eq!(h["x-authgate-user-manager"], "aad");
    assert_eq!(h["x-authgate-auth-method"], "basic");
    assert_eq!(h["x-authgate-tenant"], TENANT_ID);
    assert_eq!(h["x-authgate-display-name"], "Erin Example");
    let forms = aad.forms();
    assert_eq!(forms.len(), 1);
    let form = &forms[0];
    assert_eq!(form["grant_type"], "password");
    assert_eq!(form["client_id"], CLIENT_ID);
    assert_eq!(form["client_secret"], CLIENT_SECRET);
    assert_eq!(form["resource"], "https://api.k2.com/");
    assert_eq!(form["username"], "erin@contoso.com");
    assert_eq!(form["password"], "erin-pw");
    // Cached briefly, like every Basic success: no second trip to Azure AD.
    assert_eq!(call(&gw, "erin@contoso.com", "erin-pw").await.0, 200);
    assert_eq!(aad.forms().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mfa_required_is_the_platform_refusal_pointing_to_oauth_and_not_cached() {
    let aad = AadMock::start().await;
    let gw = gateway_for(&aad.authority(), SECRET_VAR).await;
    for user in ["mfa@contoso.com", "enrol@contoso.com"] {
        let password = format!("{}-pw", user.split('@').next().unwrap());
        for _ in 0..2 {
            let (status, challenges, body) = call(&gw, user, &password).await;
            assert_eq!(status, 401, "{user}: {body}");
            let text = body["error_description"].as_str().unwrap();
            assert!(text.contains("MFA") && text.contains("OAuth"), "{text}");
            assert!(challenges.iter().any(|c| c.starts_with("Bearer")), "{challenges:?}");
        }
    }
    assert_eq!(aad.forms().len(), 4, "refusals are never cached");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_credentials_are_401_and_a_disabled_account_says_so() {
    let aad = AadMock::start().await;
    let gw = gateway_for(&aad.authority(), SECRET_VAR).await;
    for (user, password) in [("erin@contoso.com", "wrong"), ("nobody@contoso.com", "x")] {
        let (status, _, body) = call(&gw, user, password).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"], "invalid_credentials");
        assert_eq!(body["error_description"], "invalid user name or password");
    }
    let (status, _, body) = call(&gw, "disabled@contoso.com", "disabled-pw").await;
    assert_eq!(status, 401);
    assert_eq!(body["error_description"], "the account is disabled");
    // An empty password never reaches Azure AD.
    let before = aad.forms().len();
    assert_eq!(call(&gw, "erin@contoso.com", "").await.0, 401);
    assert_eq!(aad.forms().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_consent_is_403_telling_the_operator_to_grant_admin_consent() {
    let aad = AadMock::start().await;
    let gw = gateway_for(&aad.authority(), SECRET_VAR).await;
    for (user, code) in [
        ("noconsent@contoso.com", "AADSTS65001"),
        ("adminonly@contoso.com", "AADSTS90094"),
    ] {
        let password = format!("{}-pw", user.split('@').next().unwrap());
        let (status, _, body) = call(&gw, user, &password).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"], "consent_required");
        let text = body["error_description"].as_str().unwrap();
        for part in ["admin consent", "authgate consent-url", TENANT, CLIENT_ID, code] {
            assert!(text.contains(part), "{part} missing: {text}");
        }
        assert!(!text.contains(CLIENT_SECRET));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_client_secret_or_an_unreachable_endpoint_is_503_naming_no_secret() {
    let aad = AadMock::start().await;
    std::env::set_var("AUTHGATE_TEST_AAD_WRONG_SECRET", "wrong-secret-123");
    let misconfigured = gateway_for(&aad.authority(), "AUTHGATE_TEST_AAD_WRONG_SECRET").await;
    let (status, _, body) = call(&misconfigured, "erin@contoso.com", "erin-pw").await;
    assert_eq!(status, 503, "{body}");
    let text = body["error_description"].as_str().unwrap();
    assert!(
        text.contains("invalid_client") && text.contains("AADSTS7000215"),
        "{text}"
    );
    let down = gateway_for(&format!("http://127.0.0.1:{}", support::free_port()), SECRET_VAR).await;
    let (status, _, body) = call(&down, "erin@contoso.com", "erin-pw").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    let text = body["error_description"].as_str().unwrap();
    assert!(
        text.contains("Azure AD token endpoint") && text.contains("cannot be reached"),
        "{text}"
    );
    let logs = misconfigured.log() + &down.log();
    let bodies = body.to_string() + text;
    for secret in [CLIENT_SECRET, "wrong-secret-123", "erin-pw"] {
        assert!(!logs.contains(secret), "{secret} in the log:\n{logs}");
        assert!(!bodies.contains(secret), "{secret} in a body");
    }
}
