//! CSRF protection of state-changing admin calls. Two checks, both required:
//! - the `X-CSRF-Token` header equals the token `GET /admin/api/v1/session` hands out: HMAC-SHA256 of the
//!   administrator's FQN under a key every replica shares (stored once in the database), so a page loaded from
//!   one replica may write through another; a cross-site page cannot read it;
//! - an `Origin` (or, without one, a `Referer`), when the browser sends it, is the admin listener's own origin.

use aws_lc_rs::hmac;
use base64::Engine;

/// The header carrying the token.
pub const HEADER: &str = "x-csrf-token";

/// The key tokens are made with.
pub struct CsrfKey(hmac::Key);

impl CsrfKey {
    /// A key from `bytes` (at least 32 of them: the stored key).
    pub fn new(bytes: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// Fresh random key bytes; `None` when the system has no randomness to give (a predictable key must never
    /// be made, let alone stored for every replica).
    pub fn random_bytes() -> Option<Vec<u8>> {
        let mut bytes = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).ok()?;
        Some(bytes)
    }

    /// The token of `user`.
    pub fn token(&self, user: &str) -> String {
        let tag = hmac::sign(&self.0, format!("authgate-admin-csrf|{user}").as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// Whether `token` is `user`'s (in constant time).
    pub fn verify(&self, user: &str, token: &str) -> bool {
        let Ok(tag) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.trim()) else {
            return false;
        };
        hmac::verify(&self.0, format!("authgate-admin-csrf|{user}").as_bytes(), &tag).is_ok()
    }
}

/// Whether the request's `Origin`, or without one its `Referer`, is `http(s)://{host}` (the admin listener
/// as the browser reached it). Neither header: allowed (non-browser clients; the token still applies).
pub fn same_origin(host: Option<&str>, origin: Option<&str>, referer: Option<&str>) -> bool {
    let Some(host) = host.map(str::trim).filter(|h| !h.is_empty()) else {
        return origin.is_none() && referer.is_none();
    };
    let matches = |url: &str| {
        ["http://", "https://"].iter().any(|scheme| {
            url.get(..scheme.len()).is_some_and(|s| s.eq_ignore_ascii_case(scheme))
                && url[scheme.len()..]
                    .split(['/', '?', '#'])
                    .next()
                    .is_some_and(|authority| authority.eq_ignore_ascii_case(host))
        })
    };
    match (origin, referer) {
        (Some(origin), _) => matches(origin),
        (None, Some(referer)) => matches(referer),
        (None, None) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_per_user_and_per_key() {
        let key = CsrfKey::new(&[7; 32]);
        let token = key.token("K2:CONTOSO\\alice");
        assert!(key.verify("K2:CONTOSO\\alice", &token));
        assert!(!key.verify("K2:CONTOSO\\bob", &token), "another user's token");
        assert!(
            !CsrfKey::new(&[8; 32]).verify("K2:CONTOSO\\alice", &token),
            "another key"
        );
        assert!(!key.verify("K2:CONTOSO\\alice", ""));
        assert!(!key.verify("K2:CONTOSO\\alice", "not base64!"));
        assert!(!key.verify("K2:CONTOSO\\alice", &token[..token.len() - 2]));
        assert_eq!(
            CsrfKey::new(&[7; 32]).token("K2:CONTOSO\\alice"),
            token,
            "replicas with the stored key agree"
        );
        assert_ne!(CsrfKey::random_bytes().unwrap(), CsrfKey::random_bytes().unwrap());
    }

    #[test]
    fn origin_and_referer_must_be_the_admin_listener_when_present() {
        let host = Some("127.0.0.1:9901");
        assert!(same_origin(host, None, None));
        assert!(same_origin(host, Some("http://127.0.0.1:9901"), None));
        assert!(same_origin(host, None, Some("http://127.0.0.1:9901/admin/apis")));
        assert!(!same_origin(host, Some("http://evil.example"), None));
        assert!(!same_origin(host, Some("http://127.0.0.1:9901.evil.example"), None));
        assert!(!same_origin(host, Some("null"), None));
        assert!(
            !same_origin(host, Some("http://evil.example"), Some("http://127.0.0.1:9901/")),
            "Origin decides"
        );
        assert!(!same_origin(
            host,
            None,
            Some("http://evil.example/?http://127.0.0.1:9901")
        ));
        assert!(
            !same_origin(None, Some("http://127.0.0.1:9901"), None),
            "no Host to compare with"
        );
    }
}
