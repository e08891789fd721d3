//! One request to a provider's token endpoint (RFC 6749 §3.2): the stage's parameters as a form body, the
//! answer read as a token response (§5.1) or an error response (§5.2). Shared by every way of obtaining a
//! token: the authorization-code exchange, the refresh, on-behalf-of and RFC 8693 token exchange.
//!
//! Nothing the provider sends is echoed into an error that reaches a caller except its `error` code; the
//! body of an unexpected answer is never kept (it may hold tokens).

use super::params::{render, Parameter};
use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// The most of a token endpoint's answer that is read.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// A successful token response. Its `Debug` never shows a token.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// A (new) refresh token, if the provider sent one.
    pub refresh_token: Option<String>,
    /// Seconds until the access token expires, if the provider said.
    pub expires_in: Option<i64>,
    /// The token type the provider named (`Bearer`), if any.
    pub token_type: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"***")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .field("expires_in", &self.expires_in)
            .field("token_type", &self.token_type)
            .finish()
    }
}

/// Why a token request gave no token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// The provider answered with an OAuth error (`invalid_grant`, `invalid_client`, ...).
    #[error("the token endpoint refused: {error}")]
    Refused {
        /// The `error` code.
        error: String,
        /// The `error_description`, for the log only (never shown to a caller).
        description: Option<String>,
    },
    /// No answer: connection refused, timeout, TLS failure.
    #[error("the token endpoint cannot be reached: {0}")]
    Unreachable(String),
    /// An answer that is neither a token response nor an OAuth error (wrong status, not JSON, too large).
    #[error("the token endpoint gave an unusable answer: {0}")]
    BadResponse(String),
}

impl EndpointError {
    /// Whether trying again later may succeed (`Refused` will not, except `temporarily_unavailable`).
    pub fn is_transient(&self) -> bool {
        match self {
            EndpointError::Refused { error, .. } => error == "temporarily_unavailable",
            EndpointError::Unreachable(_) | EndpointError::BadResponse(_) => true,
        }
    }
}

#[derive(Deserialize)]
struct SuccessBody {
    access_token: Option<String>,
    refresh_token: Option<String>,
    #[serde(default, deserialize_with = "number_or_string")]
    expires_in: Option<i64>,
    token_type: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<String>,
    error_description: Option<String>,
}

/// `expires_in` as a number, or as a string of digits (Azure AD v1 sends `"3599"`).
fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        Int(i64),
        Text(String),
    }
    Ok(match Option::<N>::deserialize(d)? {
        Some(N::Int(n)) => Some(n),
        Some(N::Text(s)) => s.trim().parse().ok(),
        None => None,
    })
}

/// An OAuth error code as it may be shown: printable ASCII without quotes or backslashes (RFC 6749 §5.2's
/// own character set), at most 64 characters; anything else is `invalid_response`.
fn safe_code(code: &str) -> String {
    let ok = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\');
    if ok {
        code.to_string()
    } else {
        "invalid_response".to_string()
    }
}

/// POSTs `params` as a form to `url` and reads the answer, within `timeout`.
pub async fn request_token(
    client: &reqwest::Client,
    url: &url::Url,
    params: &[Parameter],
    timeout: Duration,
) -> Result<TokenResponse, EndpointError> {
    let response = client
        .post(url.clone())
        .timeout(timeout)
        .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(http::header::ACCEPT, "application/json")
        .body(render(params))
        .send()
        .await
        .map_err(|e| EndpointError::Unreachable(describe(&e)))?;
    let status = response.status();
    let body = read_limited(response).await?;
    if status.is_success() {
        let parsed: SuccessBody = serde_json::from_slice(&body)
            .map_err(|_| EndpointError::BadResponse(format!("HTTP {status}, not a JSON token response")))?;
        let access_token = parsed
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| EndpointError::BadResponse(format!("HTTP {status} without an access_token")))?;
        return Ok(TokenResponse {
            access_token,
            refresh_token: parsed.refresh_token.filter(|t| !t.is_empty()),
            expires_in: parsed.expires_in,
            token_type: parsed.token_type,
        });
    }
    match serde_json::from_slice::<ErrorBody>(&body) {
        Ok(ErrorBody {
            error: Some(error),
            error_description,
        }) => Err(EndpointError::Refused {
            error: safe_code(&error),
            description: error_description,
        }),
        _ => Err(EndpointError::BadResponse(format!(
            "HTTP {status} without an OAuth error"
        ))),
    }
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, EndpointError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| EndpointError::Unreachable(describe(&e)))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(EndpointError::BadResponse(format!(
                "answer larger than {MAX_RESPONSE_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A transport error without its URL (a URL may carry parameters).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    match std::error::Error::source(e) {
        Some(source) => format!("{kind}: {source}"),
        None => kind.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use authgate_core::config::Secret;
    use axum::routing::post;
    use axum::Router;

    async fn serve(router: Router) -> url::Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        url::Url::parse(&format!("http://{addr}/token")).unwrap()
    }

    fn param(name: &str, value: &str) -> Parameter {
        Parameter {
            name: name.into(),
            value: Secret::new(value),
            url_encode: true,
        }
    }

    #[tokio::test]
    async fn a_token_response_is_read_and_the_form_is_sent() {
        let url = serve(Router::new().route(
            "/token",
            post(|headers: http::HeaderMap, body: String| async move {
                assert_eq!(headers[http::header::CONTENT_TYPE], "application/x-www-form-urlencoded");
                assert_eq!(body, "grant_type=refresh_token&scope=a+b");
                r#"{"access_token":"AT","refresh_token":"RT","expires_in":"3599","token_type":"Bearer"}"#
            }),
        ))
        .await;
        let got = request_token(
            &reqwest::Client::new(),
            &url,
            &[param("grant_type", "refresh_token"), param("scope", "a b")],
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(got.access_token, "AT");
        assert_eq!(got.refresh_token.as_deref(), Some("RT"));
        assert_eq!(got.expires_in, Some(3599));
        assert!(!format!("{got:?}").contains("AT\""), "Debug shows no token: {got:?}");
    }

    #[tokio::test]
    async fn an_oauth_error_is_refused_with_its_code_only() {
        let url = serve(Router::new().route(
            "/token",
            post(|| async {
                (
                    http::StatusCode::BAD_REQUEST,
                    r#"{"error":"invalid_grant","error_description":"AADSTS70008: expired"}"#,
                )
            }),
        ))
        .await;
        let err = request_token(&reqwest::Client::new(), &url, &[], Duration::from_secs(5))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            EndpointError::Refused {
                error: "invalid_grant".into(),
                description: Some("AADSTS70008: expired".into())
            }
        );
        assert!(!err.is_transient());
        assert_eq!(err.to_string(), "the token endpoint refused: invalid_grant");
    }

    #[tokio::test]
    async fn an_unusable_answer_keeps_no_body() {
        let url = serve(Router::new().route(
            "/token",
            post(|| async { (http::StatusCode::BAD_GATEWAY, "access_token=leaked") }),
        ))
        .await;
        let err = request_token(&reqwest::Client::new(), &url, &[], Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, EndpointError::BadResponse(_)), "{err:?}");
        assert!(err.is_transient());
        assert!(!err.to_string().contains("leaked"), "{err}");
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = url::Url::parse(&format!("http://{}/token", listener.local_addr().unwrap())).unwrap();
        drop(listener);
        let err = request_token(&reqwest::Client::new(), &url, &[], Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, EndpointError::Unreachable(_)), "{err:?}");
    }
}
