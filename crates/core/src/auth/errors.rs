//! Every way authentication can fail, and the one place that turns a failure into an HTTP response:
//! status, `WWW-Authenticate` (RFC 7617 Basic, RFC 6750 Bearer) and a JSON body. Messages name what is wrong
//! (which audience, which rule) and never contain a password or a token.

use super::audience::AudienceMismatch;
use super::credentials::CredentialError;
use crate::identity::UserManager;
use std::time::Duration;
use thiserror::Error;

/// Why a bearer token was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Not three base64url parts, or header/claims are not JSON objects.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// `alg: none`.
    #[error("unsigned tokens (alg 'none') are never accepted")]
    AlgorithmNone,
    /// An `alg` outside the provider's allow-list (HMAC algorithms included).
    #[error("algorithm '{alg}' is not accepted; allowed: {allowed}")]
    AlgorithmNotAllowed { alg: String, allowed: String },
    /// `jku`, `x5u`, `jwk` or `x5c` in the header: the token may not name its own key.
    #[error("token header carries '{0}': keys named or embedded by the token are never used")]
    ForbiddenHeader(&'static str),
    /// A `crit` header extension this gateway does not implement.
    #[error("token header marks unsupported extensions as critical: {0}")]
    UnsupportedCritical(String),
    /// `typ` other than `JWT` / `at+jwt`, or absent where required.
    #[error("token type '{0}' is not accepted; expected 'JWT' or 'at+jwt'")]
    BadType(String),
    /// No `iss` claim.
    #[error("token has no 'iss' (issuer) claim")]
    MissingIssuer,
    /// `iss` matches no configured provider.
    #[error("token issuer '{issuer}' is not trusted here; trusted issuers: {trusted}")]
    UntrustedIssuer { issuer: String, trusted: String },
    /// An AAD tenant outside the allow-list.
    #[error("tenant '{tenant}' is not in the allowed tenants of provider '{provider}'")]
    TenantNotAllowed { tenant: String, provider: String },
    /// No key with the token's `kid` (after a refetch, if one was allowed).
    #[error("no signing key {} is known for provider '{provider}'", .kid.as_deref().map(|k| format!("with kid '{k}'")).unwrap_or_else(|| "matching the token (it has no kid)".into()))]
    UnknownKey { kid: Option<String>, provider: String },
    /// The token's `alg` does not fit the key type (e.g. HS256 against an RSA key).
    #[error("algorithm '{alg}' cannot be used with the {key_type} key '{kid}'")]
    KeyAlgorithmMismatch {
        alg: String,
        key_type: &'static str,
        kid: String,
    },
    /// Signature verification failed.
    #[error("signature verification failed")]
    BadSignature,
    /// No `exp` claim.
    #[error("token has no 'exp' (expiry) claim")]
    MissingExpiry,
    /// `exp` is in the past (beyond the leeway).
    #[error("token expired at {exp} ({ago}s ago, leeway {leeway}s)")]
    Expired { exp: i64, ago: i64, leeway: u64 },
    /// `nbf` is in the future (beyond the leeway).
    #[error("token is not valid before {nbf} ({ahead}s from now, leeway {leeway}s)")]
    NotYetValid { nbf: i64, ahead: i64, leeway: u64 },
    /// No `aud` claim.
    #[error("token has no 'aud' (audience) claim; expected {expected}")]
    MissingAudience { expected: String },
    /// `aud` matches none of the configured audiences.
    #[error("{0}")]
    AudienceMismatch(AudienceMismatch),
    /// None of the configured user-name claims is present.
    #[error("token carries none of the user claims {0}")]
    MissingUserClaim(String),
    /// A claim has the wrong JSON type.
    #[error("claim '{claim}' has the wrong type: expected {expected}")]
    BadClaim {
        claim: &'static str,
        expected: &'static str,
    },
    /// Required scopes / roles missing.
    #[error("{0}")]
    InsufficientScope(String),
    /// The provider has no keys at all and its key source cannot be reached.
    #[error("signing keys of provider '{provider}' are not available: {reason}")]
    KeysUnavailable {
        provider: String,
        reason: String,
        /// Until the next fetch is due (`Retry-After`).
        retry_after: Duration,
    },
}

impl TokenError {
    /// A short, stable reason label for metrics and access logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::AlgorithmNone => "alg_none",
            Self::AlgorithmNotAllowed { .. } => "alg_not_allowed",
            Self::ForbiddenHeader(_) => "forbidden_header",
            Self::UnsupportedCritical(_) => "crit",
            Self::BadType(_) => "typ",
            Self::MissingIssuer | Self::UntrustedIssuer { .. } => "issuer",
            Self::TenantNotAllowed { .. } => "tenant",
            Self::UnknownKey { .. } => "unknown_kid",
            Self::KeyAlgorithmMismatch { .. } => "key_alg_mismatch",
            Self::BadSignature => "signature",
            Self::MissingExpiry | Self::Expired { .. } => "expired",
            Self::NotYetValid { .. } => "not_yet_valid",
            Self::MissingAudience { .. } | Self::AudienceMismatch(_) => "audience",
            Self::MissingUserClaim(_) | Self::BadClaim { .. } => "claims",
            Self::InsufficientScope(_) => "scope",
            Self::KeysUnavailable { .. } => "keys_unavailable",
        }
    }
}

/// Which counter locked a Basic login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockScope {
    /// Too many failures for this user name.
    User,
    /// Too many failures from this client address.
    ClientIp,
}

/// Why a request was not authenticated or not allowed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No usable `Authorization` header.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// The route does not accept this method.
    #[error("{0} authentication is not accepted on this route")]
    MethodNotAccepted(&'static str),
    /// Unknown user or wrong password (one message for both: no user enumeration).
    #[error("invalid user name or password")]
    InvalidUserOrPassword,
    /// The account is disabled in its directory.
    #[error("the account is disabled")]
    AccountDisabled,
    /// Too many failures: locked for a while.
    #[error("{} locked after repeated failed logins; retry in {}s", match .scope { LockScope::User => "this account is temporarily", LockScope::ClientIp => "logins from this address are temporarily" }, .retry_after.as_secs().max(1))]
    LockedOut { scope: LockScope, retry_after: Duration },
    /// Basic for an AAD account with MFA: refused by the platform rule.
    #[error("Basic authentication is not possible for an Azure AD account with multi-factor authentication (MFA) enabled; use OAuth 2.0 (Authorization: Bearer) instead")]
    MfaRequiresOAuth,
    /// A bearer token failure.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A valid identity whose user manager may not use this API.
    #[error("user manager {} may not use this API: only Active Directory (AD) and Azure Active Directory (AAD) users are allowed", .0.display_name())]
    UserManagerRefused(UserManager),
    /// The directory refuses the gateway's application until an administrator grants consent (Azure AD
    /// AADSTS65001 / AADSTS90094); the message says how.
    #[error("{0}")]
    ConsentRequired(String),
    /// A dependency (directory, IdP) is unreachable: never a pass.
    #[error("{0}")]
    Unavailable(String),
    /// Too many password checks at once: this one got no memory in time (`basic.hashing`). Nothing was
    /// checked, so nothing was counted against the account.
    #[error("the gateway is busy checking other passwords; retry in {}s", .retry_after.as_secs().max(1))]
    Busy { retry_after: Duration },
}

impl AuthError {
    /// A short, stable reason label for metrics and access logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Credentials(CredentialError::Missing) => "missing",
            Self::Credentials(CredentialError::TokenTooLarge { .. }) => "oversized",
            Self::Credentials(_) => "malformed_credentials",
            Self::MethodNotAccepted(_) => "method_not_accepted",
            Self::InvalidUserOrPassword => "invalid_credentials",
            Self::AccountDisabled => "disabled",
            Self::LockedOut { .. } => "locked_out",
            Self::MfaRequiresOAuth => "mfa_basic",
            Self::Token(t) => t.reason(),
            Self::UserManagerRefused(_) => "user_manager",
            Self::ConsentRequired(_) => "consent_required",
            Self::Unavailable(_) => "unavailable",
            Self::Busy { .. } => "busy",
        }
    }
}

/// Which challenges a 401 carries: the methods a route accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenges {
    /// Offer `Basic realm=...`.
    pub basic: bool,
    /// Offer `Bearer realm=...`.
    pub bearer: bool,
}

/// An error response, ready to be written by the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    /// HTTP status.
    pub status: u16,
    /// `WWW-Authenticate` values, one challenge each.
    pub www_authenticate: Vec<String>,
    /// `Retry-After` seconds.
    pub retry_after: Option<u64>,
    /// Short machine-readable code (`invalid_token`, `forbidden`...).
    pub error: &'static str,
    /// Human-readable explanation.
    pub description: String,
}

impl ErrorResponse {
    /// A response without challenge.
    pub fn plain(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            www_authenticate: Vec::new(),
            retry_after: None,
            error,
            description: description.into(),
        }
    }

    /// The JSON body: `{"error", "error_description", "request_id"}`.
    pub fn body(&self, request_id: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "error": self.error,
            "error_description": self.description,
            "request_id": request_id,
        }))
        .unwrap_or_default()
    }
}

/// Maps an authentication failure to its response. `realm` names the protection space.
pub fn respond(err: &AuthError, realm: &str, challenges: Challenges) -> ErrorResponse {
    let description = err.to_string();
    let basic = || format!("Basic realm=\"{}\", charset=\"UTF-8\"", quoted(realm));
    let bearer = |code: Option<&str>| match code {
        None => format!("Bearer realm=\"{}\"", quoted(realm)),
        Some(code) => format!(
            "Bearer realm=\"{}\", error=\"{code}\", error_description=\"{}\"",
            quoted(realm),
            quoted(&description)
        ),
    };
    let all = || {
        let mut v = Vec::new();
        if challenges.basic {
            v.push(basic());
        }
        if challenges.bearer {
            v.push(bearer(None));
        }
        v
    };
    let unauthorized = |www: Vec<String>, error| ErrorResponse {
        status: 401,
        www_authenticate: www,
        retry_after: None,
        error,
        description: description.clone(),
    };
    match err {
        AuthError::Credentials(CredentialError::Missing) => unauthorized(all(), "unauthorized"),
        AuthError::Credentials(CredentialError::MalformedBearer(_) | CredentialError::TokenTooLarge { .. }) => {
            unauthorized(vec![bearer(Some("invalid_request"))], "invalid_request")
        }
        AuthError::Credentials(_) | AuthError::MethodNotAccepted(_) => unauthorized(all(), "invalid_request"),
        AuthError::InvalidUserOrPassword | AuthError::AccountDisabled | AuthError::MfaRequiresOAuth => {
            let mut www = vec![basic()];
            if challenges.bearer {
                www.push(bearer(None));
            }
            unauthorized(www, "invalid_credentials")
        }
        AuthError::LockedOut { retry_after, .. } => ErrorResponse {
            status: 429,
            www_authenticate: Vec::new(),
            retry_after: Some(retry_after.as_secs().max(1)),
            error: "locked_out",
            description,
        },
        AuthError::Token(TokenError::InsufficientScope(_)) => ErrorResponse {
            status: 403,
            www_authenticate: vec![bearer(Some("insufficient_scope"))],
            retry_after: None,
            error: "insufficient_scope",
            description,
        },
        AuthError::Token(TokenError::KeysUnavailable { retry_after, .. }) => ErrorResponse {
            status: 503,
            www_authenticate: Vec::new(),
            // When the next key fetch is due, rounded up: an earlier retry would meet the same refusal.
            retry_after: Some((retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)).max(1)),
            error: "temporarily_unavailable",
            description,
        },
        AuthError::Unavailable(_) => ErrorResponse {
            status: 503,
            www_authenticate: Vec::new(),
            retry_after: Some(5),
            error: "temporarily_unavailable",
            description,
        },
        AuthError::Busy { retry_after } => ErrorResponse {
            status: 503,
            www_authenticate: Vec::new(),
            retry_after: Some(retry_after.as_secs().max(1)),
            error: "temporarily_unavailable",
            description,
        },
        AuthError::Token(_) => unauthorized(vec![bearer(Some("invalid_token"))], "invalid_token"),
        AuthError::UserManagerRefused(_) => ErrorResponse::plain(403, "forbidden", description),
        AuthError::ConsentRequired(_) => ErrorResponse::plain(403, "consent_required", description),
    }
}

/// Makes `text` safe inside an RFC 7230 quoted-string and RFC 6750's error_description alphabet
/// (printable ASCII without `"` and `\`).
fn quoted(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            c if (' '..='~').contains(&c) => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: Challenges = Challenges {
        basic: true,
        bearer: true,
    };

    #[test]
    fn missing_credentials_offer_both_challenges_without_error_code() {
        let r = respond(&AuthError::Credentials(CredentialError::Missing), "authgate", BOTH);
        assert_eq!(r.status, 401);
        assert_eq!(
            r.www_authenticate,
            vec![
                "Basic realm=\"authgate\", charset=\"UTF-8\"".to_string(),
                "Bearer realm=\"authgate\"".to_string()
            ]
        );
    }

    #[test]
    fn token_errors_carry_rfc6750_error_and_sanitised_description() {
        let err = AuthError::Token(TokenError::UntrustedIssuer {
            issuer: "https://evil\"\\é".into(),
            trusted: "x".into(),
        });
        let r = respond(&err, "authgate", BOTH);
        assert_eq!(r.status, 401);
        assert_eq!(r.error, "invalid_token");
        let www = &r.www_authenticate[0];
        assert!(www.starts_with("Bearer realm=\"authgate\", error=\"invalid_token\", error_description=\""));
        let desc = www.split("error_description=\"").nth(1).unwrap().trim_end_matches('"');
        assert!(!desc.contains('"') && !desc.contains('\\') && desc.is_ascii(), "{desc}");
    }

    #[test]
    fn status_mapping() {
        let cases = [
            (AuthError::UserManagerRefused(UserManager::from_label("sql")), 403),
            (AuthError::MfaRequiresOAuth, 401),
            (AuthError::Token(TokenError::InsufficientScope("x".into())), 403),
            (
                AuthError::LockedOut {
                    scope: LockScope::User,
                    retry_after: Duration::from_secs(30),
                },
                429,
            ),
            (AuthError::Unavailable("directory down".into()), 503),
            (AuthError::ConsentRequired("grant admin consent".into()), 403),
            (
                AuthError::Busy {
                    retry_after: Duration::from_secs(2),
                },
                503,
            ),
        ];
        for (err, status) in cases {
            assert_eq!(respond(&err, "r", BOTH).status, status, "{err}");
        }
    }

    #[test]
    fn missing_keys_ask_to_retry_when_the_next_fetch_is_due() {
        let retry = |after: Duration| {
            let err = AuthError::Token(TokenError::KeysUnavailable {
                provider: "p".into(),
                reason: "down".into(),
                retry_after: after,
            });
            let r = respond(&err, "r", BOTH);
            assert_eq!((r.status, r.error), (503, "temporarily_unavailable"));
            r.retry_after
        };
        assert_eq!(retry(Duration::from_secs(30)), Some(30));
        assert_eq!(retry(Duration::from_millis(29_001)), Some(30), "rounded up");
        assert_eq!(retry(Duration::ZERO), Some(1), "at least 1");
    }

    #[test]
    fn busy_is_503_with_retry_after_and_a_clear_body() {
        let r = respond(
            &AuthError::Busy {
                retry_after: Duration::from_millis(1500),
            },
            "r",
            BOTH,
        );
        assert_eq!(
            (r.status, r.retry_after, r.error),
            (503, Some(1), "temporarily_unavailable")
        );
        assert!(r.www_authenticate.is_empty());
        assert!(
            r.description.contains("busy") && r.description.contains("retry in 1s"),
            "{}",
            r.description
        );
    }

    #[test]
    fn user_manager_refusal_names_the_rule() {
        let text = AuthError::UserManagerRefused(UserManager::from_label("sql")).to_string();
        assert!(text.contains("'sql'") && text.contains("Active Directory"), "{text}");
    }

    #[test]
    fn mfa_refusal_tells_the_caller_to_use_oauth() {
        let r = respond(&AuthError::MfaRequiresOAuth, "r", BOTH);
        assert!(r.description.contains("OAuth"));
        assert!(r.description.contains("MFA"));
    }

    #[test]
    fn body_is_json_with_request_id() {
        let r = ErrorResponse::plain(404, "not_found", "no route");
        let v: serde_json::Value = serde_json::from_slice(&r.body("req-1")).unwrap();
        assert_eq!(v["error"], "not_found");
        assert_eq!(v["request_id"], "req-1");
    }
}
