//! What a caller is told when no outbound token can be had ([`TokenError`] → [`Refusal`]): the one mapping
//! shared by outbound routes (the proxy's JSON, or a redirect for a browser) and REST-backed SmartObjects (an
//! OData error). Nothing secret: the resource's name, the authorize link and the provider's error code.
//!
//! | error | status | |
//! |---|---|---|
//! | not connected, needs re-authorization | 401 | `WWW-Authenticate: Bearer realm=.., authorization_uri=..`; a browser is redirected to the authorize URL |
//! | no inbound bearer token, refused by the provider | 403 | |
//! | unavailable, unknown resource | 503 | |

use super::resource::GrantKind;
use super::tokens::TokenError;
use serde_json::json;

/// The answer to a request that needed an outbound token and got none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 401, 403 or 503.
    pub status: u16,
    /// A short code: `oauth_not_connected`, `oauth_reauthorization_required`, `oauth_no_inbound_token`,
    /// `oauth_refused`, `oauth_unavailable`.
    pub error: &'static str,
    /// The explanation (the [`TokenError`]'s message).
    pub description: String,
    /// The resource's name.
    pub resource: String,
    /// Where the user authorizes the resource, when a browser can fix it.
    pub authorize_url: Option<String>,
}

impl Refusal {
    /// The refusal for `error`.
    pub fn from_error(error: &TokenError) -> Self {
        let (status, code, resource, authorize_url) = match error {
            TokenError::NotConnected {
                resource,
                authorize_url,
            } => (401, "oauth_not_connected", resource, Some(authorize_url.clone())),
            TokenError::NeedsReauthorization {
                resource,
                authorize_url,
            } => (
                401,
                "oauth_reauthorization_required",
                resource,
                Some(authorize_url.clone()),
            ),
            TokenError::NoInboundToken { resource } => (403, "oauth_no_inbound_token", resource, None),
            TokenError::Refused { resource, .. } => (403, "oauth_refused", resource, None),
            TokenError::Unavailable { resource, .. } | TokenError::UnknownResource { resource } => {
                (503, "oauth_unavailable", resource, None)
            }
        };
        Self {
            status,
            error: code,
            description: error.to_string(),
            resource: resource.clone(),
            authorize_url,
        }
    }

    /// The `WWW-Authenticate` challenge of a 401: the client's own credentials were fine, the user must
    /// authorize the resource at `authorization_uri` (the parameter Azure AD's challenges use).
    pub fn www_authenticate(&self, realm: &str) -> Option<String> {
        if self.status != 401 {
            return None;
        }
        let mut challenge = format!("Bearer realm=\"{}\"", quoted(realm));
        if let Some(url) = &self.authorize_url {
            challenge.push_str(&format!(", authorization_uri=\"{}\"", quoted(url)));
        }
        challenge.push_str(&format!(", resource=\"{}\"", quoted(&self.resource)));
        Some(challenge)
    }

    /// Where to redirect a browser (by `accept`) instead of answering 401: the authorize URL with
    /// `return_url` = `original` (the request's path and query), so the flow comes back to it.
    pub fn redirect(&self, accept: Option<&str>, original: &str) -> Option<String> {
        let url = self.authorize_url.as_ref().filter(|_| self.status == 401)?;
        if !accept.is_some_and(prefers_html) {
            return None;
        }
        let separator = if url.contains('?') { '&' } else { '?' };
        let encoded: String = url::form_urlencoded::byte_serialize(original.as_bytes()).collect();
        Some(format!("{url}{separator}return_url={encoded}"))
    }

    /// The JSON body: `{"error", "error_description", "resource", "authorize_url", "request_id"}`
    /// (`authorize_url` only when there is one).
    pub fn json(&self, request_id: &str) -> Vec<u8> {
        let mut body = json!({
            "error": self.error,
            "error_description": self.description,
            "resource": self.resource,
            "request_id": request_id,
        });
        if let Some(url) = &self.authorize_url {
            body["authorize_url"] = json!(url);
        }
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

/// The metrics label of a token request's result.
pub fn result_label(result: &Result<super::tokens::AccessToken, TokenError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(TokenError::NotConnected { .. }) => "not_connected",
        Err(TokenError::NeedsReauthorization { .. }) => "needs_reauthorization",
        Err(TokenError::NoInboundToken { .. }) => "no_inbound_token",
        Err(TokenError::Refused { .. }) => "refused",
        Err(TokenError::Unavailable { .. }) => "unavailable",
        Err(TokenError::UnknownResource { .. }) => "unknown_resource",
    }
}

/// The metrics label of a grant kind.
pub fn kind_label(kind: GrantKind) -> &'static str {
    match kind {
        GrantKind::AuthorizationCode => "authorization_code",
        GrantKind::OnBehalfOf => "on_behalf_of",
        GrantKind::TokenExchange => "token_exchange",
    }
}

/// Whether an `Accept` header prefers HTML to JSON (a browser navigating, not an API client): `text/html`
/// (or XHTML) with a higher quality than `application/json` would get (itself, `application/*` or `*/*`).
pub fn prefers_html(accept: &str) -> bool {
    let mut html = 0.0f32;
    let mut json = 0.0f32;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
            .find_map(|v| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0)
            .clamp(0.0, 1.0);
        match media.as_str() {
            "text/html" | "application/xhtml+xml" => html = html.max(q),
            "application/json" => json = json.max(q),
            "application/*" | "*/*" => json = json.max(q),
            _ => {}
        }
    }
    html > 0.0 && html > json
}

fn quoted(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_connected() -> Refusal {
        Refusal::from_error(&TokenError::NotConnected {
            resource: "Files".into(),
            authorize_url: "/api/oauth/v1/resources/Files/authorize".into(),
        })
    }

    #[test]
    fn not_connected_is_a_401_with_the_authorize_link_and_a_challenge() {
        let r = not_connected();
        assert_eq!(r.status, 401);
        assert_eq!(
            r.www_authenticate("corp").unwrap(),
            r#"Bearer realm="corp", authorization_uri="/api/oauth/v1/resources/Files/authorize", resource="Files""#
        );
        let body: serde_json::Value = serde_json::from_slice(&r.json("id1")).unwrap();
        assert_eq!(body["error"], "oauth_not_connected");
        assert_eq!(body["resource"], "Files");
        assert_eq!(body["authorize_url"], "/api/oauth/v1/resources/Files/authorize");
        assert_eq!(body["request_id"], "id1");
    }

    #[test]
    fn a_browser_is_redirected_with_the_original_path_and_an_api_client_is_not() {
        let r = not_connected();
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert_eq!(
            r.redirect(Some(browser), "/files/a b?x=1").unwrap(),
            "/api/oauth/v1/resources/Files/authorize?return_url=%2Ffiles%2Fa+b%3Fx%3D1"
        );
        assert_eq!(r.redirect(Some("*/*"), "/x"), None);
        assert_eq!(r.redirect(Some("application/json"), "/x"), None);
        assert_eq!(r.redirect(Some("application/json, text/html;q=0.5"), "/x"), None);
        assert_eq!(r.redirect(None, "/x"), None);
        let obo = Refusal::from_error(&TokenError::NoInboundToken { resource: "Api".into() });
        assert_eq!(obo.redirect(Some(browser), "/x"), None, "a browser cannot fix a 403");
    }

    #[test]
    fn exchange_failures_are_403_and_outages_503_without_a_challenge() {
        let no_bearer = Refusal::from_error(&TokenError::NoInboundToken { resource: "Api".into() });
        assert_eq!((no_bearer.status, no_bearer.error), (403, "oauth_no_inbound_token"));
        assert_eq!(no_bearer.www_authenticate("corp"), None);
        let body: serde_json::Value = serde_json::from_slice(&no_bearer.json("i")).unwrap();
        assert!(body.get("authorize_url").is_none());
        let refused = Refusal::from_error(&TokenError::Refused {
            resource: "Api".into(),
            error: "consent_required".into(),
        });
        assert_eq!(refused.status, 403);
        assert!(refused.description.contains("consent_required"));
        let down = Refusal::from_error(&TokenError::Unavailable {
            resource: "Api".into(),
            reason: "timed out".into(),
        });
        assert_eq!(down.status, 503);
    }
}
