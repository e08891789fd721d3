//! Azure AD for Basic: the OAuth 2.0 resource-owner password credentials grant (`grant_type=password`) at the
//! tenant's token endpoint, with the gateway's client id and secret and a resource (v1 endpoint) or scope
//! (v2 endpoint) such as `https://api.k2.com/`.
//!
//! Azure AD answers refusals with `AADSTS` codes, mapped here to what the platform says of them: MFA required
//! (50076, 50079...) is the MFA + Basic refusal with a pointer to OAuth; invalid credentials (50126) is a 401;
//! consent missing (65001, 90094) tells the operator to grant admin consent (`authgate consent-url`); the
//! gateway's own application refused, or the endpoint unreachable, is 503. Never a pass.
//!
//! The identity is read from the `id_token` (else the `access_token`) of the token response without checking
//! its signature: the response came straight from the token endpoint over TLS, which is the check OpenID
//! Connect Core (3.1.3.7) allows for tokens obtained that way.

use super::{consent, instance_version, AccountKey, DirectoryError, DirectoryUser, Login, UserDirectory};
use crate::config::{AadDirectoryConfig, ConfigIssue};
use crate::identity::UserManager;
use async_trait::async_trait;
use serde::Deserialize;
use std::time::Duration;
use zeroize::Zeroizing;

/// AADSTS codes: strong authentication (MFA) required or to be enrolled.
const MFA_REQUIRED: [u32; 4] = [50072, 50074, 50076, 50079];
/// Wrong password, unknown user, account locked by Azure AD's smart lockout.
const INVALID_CREDENTIALS: [u32; 3] = [50126, 50034, 50053];
/// Account disabled.
const DISABLED: [u32; 1] = [50057];
/// No (admin) consent for the application.
const CONSENT_REQUIRED: [u32; 2] = [65001, 90094];

/// What the token is requested for, which also picks the endpoint version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AadTarget {
    /// v1 endpoint, `resource=...`.
    Resource(String),
    /// v2 endpoint, `scope=...`.
    Scope(String),
}

/// The AAD user manager for Basic.
pub struct AadDirectory {
    token_url: String,
    tenant: String,
    client_id: String,
    client_secret: Option<Zeroizing<String>>,
    target: AadTarget,
    client: reqwest::Client,
    version: u64,
}

impl AadDirectory {
    /// Checks `cfg` (paths under `at`) and builds the directory; sends nothing yet.
    pub fn from_config(cfg: &AadDirectoryConfig, at: &str) -> Result<Self, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let mut issue = |field: &str, message: String| issues.push(ConfigIssue::new(format!("{at}.{field}"), message));
        if !consent::is_valid_tenant(&cfg.tenant) {
            issue(
                "tenant",
                format!("'{}' is neither a tenant id nor a domain name", cfg.tenant),
            );
        }
        let authority = cfg.authority.trim_end_matches('/');
        match url::Url::parse(authority) {
            Ok(u) if u.scheme() == "https" && u.host_str().is_some() && u.query().is_none() => {}
            Ok(u) if u.scheme() == "http" && is_loopback(u.host_str()) => {}
            _ => issue(
                "authority",
                format!("'{authority}' must be an https:// URL (http:// only on loopback, for tests)"),
            ),
        }
        if cfg.client_id.trim().is_empty() {
            issue(
                "client_id",
                "name the application (client) id registered in the tenant".into(),
            );
        }
        if cfg.client_secret.as_ref().is_some_and(|s| s.is_empty()) {
            issue(
                "client_secret",
                "is empty; write ${AAD_CLIENT_SECRET} or leave it out for a public client".into(),
            );
        }
        let target = match (&cfg.resource, &cfg.scope) {
            (Some(resource), None) if !resource.trim().is_empty() => Some(AadTarget::Resource(resource.clone())),
            (None, Some(scope)) if !scope.trim().is_empty() => Some(AadTarget::Scope(scope.clone())),
            (Some(_), Some(_)) => {
                issue(
                    "scope",
                    "set either resource (v1 endpoint) or scope (v2 endpoint), not both".into(),
                );
                None
            }
            _ => {
                issue(
                    "resource",
                    "set resource (v1 endpoint, e.g. https://api.k2.com/) or scope (v2 endpoint)".into(),
                );
                None
            }
        };
        if cfg.timeout_seconds == 0 {
            issue("timeout_seconds", "must be at least 1".into());
        }
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(cfg.timeout_seconds.max(1)))
            .user_agent(concat!("authgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| issue("authority", format!("cannot create an HTTP client: {e}")))
            .ok();
        let (Some(target), Some(client), true) = (target, client, issues.is_empty()) else {
            return Err(issues);
        };
        let path = match target {
            AadTarget::Resource(_) => "oauth2/token",
            AadTarget::Scope(_) => "oauth2/v2.0/token",
        };
        Ok(Self {
            token_url: format!("{authority}/{}/{path}", cfg.tenant),
            tenant: cfg.tenant.clone(),
            client_id: cfg.client_id.clone(),
            client_secret: cfg
                .client_secret
                .as_ref()
                .map(|s| Zeroizing::new(s.expose().to_string())),
            target,
            client,
            version: instance_version(),
        })
    }

    /// The token endpoint credentials are sent to.
    pub fn token_url(&self) -> &str {
        &self.token_url
    }

    fn refusal(&self, status: u16, body: &[u8]) -> DirectoryError {
        let Ok(error) = serde_json::from_slice::<AadError>(body) else {
            return DirectoryError::Unavailable(format!(
                "the Azure AD token endpoint answered HTTP {status} without an OAuth error"
            ));
        };
        let codes = error.codes();
        let has = |set: &[u32]| codes.iter().any(|c| set.contains(c));
        let label = codes
            .first()
            .map(|c| format!("AADSTS{c}"))
            .unwrap_or_else(|| error.error.clone());
        if has(&MFA_REQUIRED) {
            DirectoryError::MfaRequired
        } else if has(&CONSENT_REQUIRED) {
            DirectoryError::ConsentRequired(format!(
                "Azure AD has no consent for application '{}' in tenant '{}' ({label}): a tenant administrator \
                 must grant admin consent once; `authgate consent-url --tenant {} --client-id {} --redirect-uri <uri>` \
                 prints the URL to open",
                self.client_id, self.tenant, self.tenant, self.client_id
            ))
        } else if has(&DISABLED) {
            DirectoryError::Disabled
        } else if has(&INVALID_CREDENTIALS) || (error.error == "invalid_grant" && codes.is_empty()) {
            DirectoryError::InvalidCredentials
        } else if error.error == "invalid_grant" {
            tracing::info!(code = %label, "Azure AD refused a password grant");
            DirectoryError::InvalidCredentials
        } else {
            tracing::warn!(
                error = %error.error,
                code = %label,
                description = %error.error_description.lines().next().unwrap_or_default(),
                "Azure AD refused the gateway's password grant"
            );
            DirectoryError::Unavailable(format!(
                "Azure AD refused the gateway's application ({}, {label}); check basic.backend.aad",
                error.error
            ))
        }
    }
}

#[async_trait]
impl UserDirectory for AadDirectory {
    async fn resolve<'a>(&'a self, login: &str) -> Result<Box<dyn Login + 'a>, DirectoryError> {
        // Azure AD resolves the name itself, during the grant: failures count against the normalised UPN.
        Ok(Box::new(AadLogin {
            directory: self,
            key: AccountKey::unknown(login),
            login: login.to_string(),
        }))
    }

    fn version(&self, _account: &AccountKey) -> Option<u64> {
        Some(self.version)
    }
}

/// A login for the password grant.
struct AadLogin<'a> {
    directory: &'a AadDirectory,
    key: AccountKey,
    login: String,
}

#[async_trait]
impl Login for AadLogin<'_> {
    fn account(&self) -> &AccountKey {
        &self.key
    }

    async fn verify(self: Box<Self>, password: &str) -> Result<DirectoryUser, DirectoryError> {
        self.directory.password_grant(&self.login, password).await
    }
}

impl AadDirectory {
    /// Posts the password grant for `user` and maps the answer.
    async fn password_grant(&self, user: &str, password: &str) -> Result<DirectoryUser, DirectoryError> {
        if password.is_empty() || user.is_empty() || user.chars().any(char::is_control) {
            return Err(DirectoryError::InvalidCredentials);
        }
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "password"),
            ("client_id", &self.client_id),
            ("username", user),
            ("password", password),
        ];
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret));
        }
        match &self.target {
            AadTarget::Resource(resource) => form.push(("resource", resource)),
            AadTarget::Scope(scope) => form.push(("scope", scope)),
        }
        let unreachable = |e: reqwest::Error| {
            let what = if e.is_timeout() {
                "did not answer in time"
            } else {
                "cannot be reached"
            };
            DirectoryError::Unavailable(format!("the Azure AD token endpoint {} {what}", self.token_url))
        };
        let response = self
            .client
            .post(&self.token_url)
            .header("accept", "application/json")
            .form(&form)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unreachable)?;
        if status.is_server_error() {
            return Err(DirectoryError::Unavailable(format!(
                "the Azure AD token endpoint answered HTTP {}",
                status.as_u16()
            )));
        }
        if !status.is_success() {
            return Err(self.refusal(status.as_u16(), &body));
        }
        let tokens: TokenResponse = serde_json::from_slice(&body).map_err(|_| {
            DirectoryError::Unavailable("the Azure AD token endpoint sent a success without tokens".into())
        })?;
        Ok(user_from_tokens(user, &tokens))
    }
}

fn is_loopback(host: Option<&str>) -> bool {
    match host {
        Some("localhost") => true,
        Some(h) => h
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// An OAuth error response, with Azure AD's extras.
#[derive(Debug, Deserialize)]
struct AadError {
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u32>,
}

impl AadError {
    /// `error_codes`, or the `AADSTSnnnnn` codes named in the description.
    fn codes(&self) -> Vec<u32> {
        if !self.error_codes.is_empty() {
            return self.error_codes.clone();
        }
        self.error_description
            .match_indices("AADSTS")
            .filter_map(|(i, tag)| {
                let digits: String = self.error_description[i + tag.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                digits.parse().ok()
            })
            .collect()
    }
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
}

/// The claims of Azure AD's tokens that name the user. The tokens come straight from Azure AD over TLS, so
/// only their claims part is read (no signature check, and no dependency on the bearer verifier).
#[derive(Debug, Default, Deserialize)]
struct UserClaims {
    upn: Option<String>,
    unique_name: Option<String>,
    preferred_username: Option<String>,
    email: Option<String>,
    name: Option<String>,
    groups: Option<Vec<String>>,
    tid: Option<String>,
}

impl UserClaims {
    /// The claims of a compact JWS (`header.claims.signature`); `None` when it is not one.
    fn of(token: &str) -> Option<Self> {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let mut parts = token.splitn(4, '.');
        let (Some(header), Some(claims), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        header.is_object().then_some(())?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
    }
}

/// The user the token response describes; `login` when its tokens carry no user name.
fn user_from_tokens(login: &str, tokens: &TokenResponse) -> DirectoryUser {
    let claims = [&tokens.id_token, &tokens.access_token]
        .into_iter()
        .flatten()
        .find_map(|t| UserClaims::of(t))
        .unwrap_or_default();
    let name = [&claims.upn, &claims.unique_name, &claims.preferred_username]
        .into_iter()
        .flatten()
        .find(|n| !n.is_empty())
        .cloned()
        .unwrap_or_else(|| login.to_string());
    DirectoryUser {
        name,
        user_manager: UserManager::Aad,
        domain: None,
        email: claims.email,
        display_name: claims.name,
        groups: claims.groups.unwrap_or_default(),
        mfa: false,
        manager: None,
        tenant: claims.tid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn config() -> AadDirectoryConfig {
        AadDirectoryConfig {
            tenant: "contoso.onmicrosoft.com".into(),
            authority: "https://login.microsoftonline.com/".into(),
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            client_secret: Some(Secret::new("s3cret")),
            resource: Some("https://api.k2.com/".into()),
            scope: None,
            timeout_seconds: 10,
        }
    }

    fn directory() -> AadDirectory {
        AadDirectory::from_config(&config(), "basic.backend.aad").unwrap()
    }

    #[test]
    fn v1_and_v2_endpoints() {
        assert_eq!(
            directory().token_url(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/token"
        );
        let mut v2 = config();
        v2.resource = None;
        v2.scope = Some("https://api.k2.com/.default".into());
        let dir = AadDirectory::from_config(&v2, "x").unwrap();
        assert!(dir.token_url().ends_with("/contoso.onmicrosoft.com/oauth2/v2.0/token"));
    }

    #[test]
    fn invalid_settings_are_reported_with_paths() {
        let mut cfg = config();
        cfg.tenant = "../evil".into();
        cfg.authority = "http://login.example.com".into();
        cfg.scope = Some("x".into());
        let issues = AadDirectory::from_config(&cfg, "basic.backend.aad").err().unwrap();
        let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "basic.backend.aad.tenant",
                "basic.backend.aad.authority",
                "basic.backend.aad.scope"
            ]
        );
    }

    fn refusal(body: &str) -> DirectoryError {
        directory().refusal(400, body.as_bytes())
    }

    #[test]
    fn aadsts_codes_map_to_the_platform_answers() {
        let err = |code: u32| {
            refusal(&format!(
                r#"{{"error":"invalid_grant","error_description":"AADSTS{code}: text","error_codes":[{code}]}}"#
            ))
        };
        assert_eq!(err(50076), DirectoryError::MfaRequired);
        assert_eq!(err(50079), DirectoryError::MfaRequired);
        assert_eq!(err(50126), DirectoryError::InvalidCredentials);
        assert_eq!(err(50057), DirectoryError::Disabled);
        for code in [65001, 90094] {
            let DirectoryError::ConsentRequired(text) = err(code) else {
                panic!("{code}");
            };
            assert!(text.contains("admin consent") && text.contains("consent-url"), "{text}");
            assert!(!text.contains("s3cret"));
        }
        // Codes only in the description (older endpoints).
        assert_eq!(
            refusal(r#"{"error":"interaction_required","error_description":"AADSTS50079: enrol"}"#),
            DirectoryError::MfaRequired
        );
        // The gateway's own application refused: 503, naming no secret.
        let DirectoryError::Unavailable(text) = refusal(
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret","error_codes":[7000215]}"#,
        ) else {
            panic!()
        };
        assert!(text.contains("AADSTS7000215") && !text.contains("s3cret"), "{text}");
        assert!(matches!(refusal("<html>"), DirectoryError::Unavailable(_)));
    }

    #[test]
    fn identity_from_the_id_token_claims() {
        use base64::Engine;
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let id_token = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"RS256","typ":"JWT"}"#),
            b64(r#"{"upn":"erin@contoso.com","name":"Erin","tid":"tid-1","groups":["g1"]}"#),
            b64("sig")
        );
        let user = user_from_tokens(
            "ERIN@contoso.com",
            &TokenResponse {
                access_token: Some("opaque".into()),
                id_token: Some(id_token),
            },
        );
        assert_eq!(user.name, "erin@contoso.com");
        assert_eq!(user.tenant.as_deref(), Some("tid-1"));
        assert_eq!(user.groups, ["g1"]);
        let fallback = user_from_tokens(
            "erin@contoso.com",
            &TokenResponse {
                access_token: Some("opaque".into()),
                id_token: None,
            },
        );
        assert_eq!(fallback.name, "erin@contoso.com");
    }

    #[tokio::test]
    async fn empty_password_is_refused_without_a_request() {
        assert_eq!(
            directory().authenticate("erin@contoso.com", "").await,
            Err(DirectoryError::InvalidCredentials)
        );
    }
}
