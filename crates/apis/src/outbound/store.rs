//! Storage of outbound OAuth: the [`OAuthStore`] trait, naming no backend (SQLite in
//! `crate::store::sqlite::oauth`, PostgreSQL in `crate::store::postgres::oauth`, both checked by the
//! conformance suite).
//!
//! - **Connections**: one per (user, resource): the user's tokens for the resource, as vault ciphertexts
//!   ([`Sealed`]; the store never sees a token), the access token's expiry and a [`ConnectionStatus`]. Users
//!   are matched case-insensitively (their fully qualified names are, in the directory); the name is kept as
//!   first written, for display.
//! - **Authorization states**: what the `state` of an authorization request names, created when the user is
//!   sent to the provider and consumed exactly once by the callback (an atomic delete that returns the row;
//!   an expired one is gone).
//! - **The refresh lock**: [`OAuthStore::with_refresh_lock`] runs a refresh while holding the connection's
//!   lock, with the row as it is after the lock was taken, and saves what it decides in the same transaction.

use super::vault::Sealed;
use crate::store::StoreError;
use async_trait::async_trait;
use std::future::Future;
use std::pin::Pin;

/// Whether a connection's tokens can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// Tokens are present (the access token may be due for refresh).
    Connected,
    /// The provider refused the refresh token (`invalid_grant`): the user must authorize again.
    NeedsReauthorization,
}

impl ConnectionStatus {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Connected => "connected",
            ConnectionStatus::NeedsReauthorization => "needs_reauthorization",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "connected" => Some(ConnectionStatus::Connected),
            "needs_reauthorization" => Some(ConnectionStatus::NeedsReauthorization),
            _ => None,
        }
    }
}

/// A user's connection to a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRecord {
    /// The user's fully qualified name, as first stored.
    pub user: String,
    /// The resource's name.
    pub resource: String,
    /// The resource's type's name (for the Tokens view).
    pub resource_type: String,
    /// The access token, sealed for (user, resource, `access_token`).
    pub access_token: Sealed,
    /// The refresh token, sealed for (user, resource, `refresh_token`), if the provider gave one.
    pub refresh_token: Option<Sealed>,
    /// When the access token expires (Unix seconds), if the provider said.
    pub expires_at: Option<i64>,
    /// Whether the tokens can be used.
    pub status: ConnectionStatus,
    /// When the user first connected (Unix seconds).
    pub created_at: i64,
    /// When the tokens or the status last changed (Unix seconds).
    pub updated_at: i64,
}

/// New tokens for a connection: written together, in one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUpdate {
    /// The resource's type's name.
    pub resource_type: String,
    /// The new access token.
    pub access_token: Sealed,
    /// The new refresh token; `None` keeps the stored one (a provider that does not rotate).
    pub refresh_token: Option<Sealed>,
    /// When the new access token expires.
    pub expires_at: Option<i64>,
}

/// A pending authorization: what a `state` names until the callback consumes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationState {
    /// The key: a digest of the `state` sent to the provider (so a database read gives no usable state).
    pub id: String,
    /// The user who started the authorization.
    pub user: String,
    /// The resource being authorized.
    pub resource: String,
    /// The PKCE verifier, sealed for (user, resource, `pkce_verifier`); `None` without PKCE.
    pub pkce_verifier: Option<Sealed>,
    /// Where to send the browser afterwards.
    pub return_url: Option<String>,
    /// A digest of the browser-binding cookie set with the redirect; the callback must present it.
    pub browser_binding: String,
    /// When it stops being usable (Unix seconds).
    pub expires_at: i64,
}

/// What a refresh under the lock decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Nothing to write (another holder refreshed already, or the attempt failed and will be retried).
    Keep,
    /// New tokens, saved in the same transaction that holds the lock.
    Tokens(TokenUpdate),
    /// The provider refused the refresh token: mark the connection.
    NeedsReauthorization,
}

/// The refresh run under the lock: given the connection as it is once the lock is held, decides (and may
/// call the provider, asynchronously, while holding it).
pub type RefreshFn = Box<dyn FnOnce(ConnectionRecord) -> Pin<Box<dyn Future<Output = RefreshOutcome> + Send>> + Send>;

/// What outbound OAuth needs from storage. `now` is passed in (Unix seconds) so expiry is decided by the
/// caller's clock, the same one on every backend.
#[async_trait]
pub trait OAuthStore: Send + Sync {
    /// Saves a new authorization state. A duplicate id is [`StoreError::Conflict`].
    async fn create_state(&self, state: AuthorizationState) -> Result<(), StoreError>;

    /// Removes and returns the state `id`, atomically: of concurrent callers at most one gets it. An
    /// expired state (`expires_at <= now`) is removed and `None`.
    async fn consume_state(&self, id: &str, now: i64) -> Result<Option<AuthorizationState>, StoreError>;

    /// Removes states expired at `now`; how many.
    async fn purge_expired_states(&self, now: i64) -> Result<u64, StoreError>;

    /// Creates or replaces the connection of (`user`, `resource`) with `tokens`, status connected, in one
    /// statement (access and refresh token together).
    async fn upsert_connection(
        &self,
        user: &str,
        resource: &str,
        tokens: TokenUpdate,
        now: i64,
    ) -> Result<ConnectionRecord, StoreError>;

    /// The connection of (`user`, `resource`).
    async fn connection(&self, user: &str, resource: &str) -> Result<Option<ConnectionRecord>, StoreError>;

    /// `user`'s connections, by resource name.
    async fn connections_of(&self, user: &str) -> Result<Vec<ConnectionRecord>, StoreError>;

    /// Every connection (the administrators' Tokens view), by user then resource.
    async fn all_connections(&self) -> Result<Vec<ConnectionRecord>, StoreError>;

    /// Deletes the connection of (`user`, `resource`); whether there was one.
    async fn revoke(&self, user: &str, resource: &str) -> Result<bool, StoreError>;

    /// Deletes all of `user`'s connections; how many.
    async fn revoke_all(&self, user: &str) -> Result<u64, StoreError>;

    /// Takes the lock of the connection of (`user`, `resource`) -- held across threads and processes sharing
    /// the database -- reads it, runs `refresh` on it and applies the outcome before releasing the lock, and
    /// returns the connection as left. A second caller waits for the first and then sees what it wrote. No
    /// connection is [`StoreError::NotFound`].
    async fn with_refresh_lock(
        &self,
        user: &str,
        resource: &str,
        now: i64,
        refresh: RefreshFn,
    ) -> Result<ConnectionRecord, StoreError>;
}

/// The key users are matched by: their name in lower case (Unicode).
pub fn user_key(user: &str) -> String {
    user.to_lowercase()
}
