//! The seam between who supplies a user's access token for a resource and who uses it.
//!
//! Suppliers, by the resource type's [`GrantKind`]:
//! - `authorization_code`: the user's stored connection (obtained in the browser, kept fresh with its refresh
//!   token under the store's refresh lock);
//! - `on_behalf_of` / `token_exchange`: the caller's inbound bearer token exchanged at the token endpoint,
//!   cached per (user, resource) until shortly before it expires.
//!
//! Users: a route that declares an outbound resource (the proxy puts the token in `Authorization`), and
//! SmartObjects backed by a REST service (the OData handlers call the service with it).
//!
//! [`GrantKind`]: super::resource::GrantKind

use super::resource::{Resource, ResourceType};
use async_trait::async_trait;
use std::fmt;

/// The authenticated caller a token is wanted for.
#[derive(Clone, Copy)]
pub struct Principal<'a> {
    /// The user's fully qualified name, as the gateway forwards it (`K2:CONTOSO\alice`).
    pub user: &'a str,
    /// The bearer token the caller arrived with, if it arrived with one (what on-behalf-of exchanges).
    pub inbound_bearer: Option<&'a str>,
}

impl fmt::Debug for Principal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("user", &self.user)
            .field("inbound_bearer", &self.inbound_bearer.map(|_| "***"))
            .finish()
    }
}

/// A usable access token for a resource. Its `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    secret: String,
    /// When it expires (Unix seconds), if known.
    pub expires_at: Option<i64>,
}

impl AccessToken {
    /// Wraps a token.
    pub fn new(secret: String, expires_at: Option<i64>) -> Self {
        Self { secret, expires_at }
    }

    /// The token itself, for an `Authorization: Bearer` header and nothing else.
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"***")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why no token can be given. Every message is safe to show to the caller: no token, secret or provider
/// response body, only the resource's name, the authorize link and the provider's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No resource of that name (or its type is gone).
    #[error("no OAuth resource named {resource:?}")]
    UnknownResource { resource: String },
    /// The user has never connected to the resource (or revoked it): they must authorize in a browser.
    #[error("you have no connection to {resource:?}: authorize it at {authorize_url}")]
    NotConnected { resource: String, authorize_url: String },
    /// The provider refused the stored refresh token (`invalid_grant`): the user must authorize again.
    #[error("your connection to {resource:?} has expired or was revoked at the provider: authorize it again at {authorize_url}")]
    NeedsReauthorization { resource: String, authorize_url: String },
    /// An on-behalf-of resource, but the caller did not arrive with a bearer token to exchange.
    #[error("{resource:?} obtains its tokens on behalf of a bearer-token caller; this request has no bearer token")]
    NoInboundToken { resource: String },
    /// The provider refused to issue a token (its OAuth `error` code, e.g. `invalid_grant`, `consent_required`).
    #[error("the provider of {resource:?} refused to issue a token: {error}")]
    Refused { resource: String, error: String },
    /// The provider or the store cannot be reached, and no still-valid token is held.
    #[error("a token for {resource:?} cannot be obtained right now: {reason}")]
    Unavailable { resource: String, reason: String },
}

/// Supplies access tokens of one [`GrantKind`](super::resource::GrantKind).
#[async_trait]
pub trait TokenSource: Send + Sync {
    /// A token `caller` may use against `resource` (of type `ty`) now.
    async fn access_token(
        &self,
        caller: Principal<'_>,
        resource: &Resource,
        ty: &ResourceType,
    ) -> Result<AccessToken, TokenError>;
}
