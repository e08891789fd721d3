//! Outbound OAuth (seed 004): the gateway acting on behalf of a user against a third-party service with that
//! user's OAuth tokens.
//!
//! - [`resource`]: resource types (parameters, the stages each is sent in, defaults) and resources
//!   (endpoints, per-stage values), read from YAML and validated with field paths.
//! - [`params`]: the pure function "parameters for stage S of resource R" and their encoding.
//! - [`endpoint`]: one request to a provider's token endpoint, the answer read as a token or an OAuth error.
//! - [`vault`]: AES-256-GCM encryption of tokens at rest, bound to user, resource and field, with key rotation.
//! - [`tokens`]: the [`TokenSource`](tokens::TokenSource) seam between the token suppliers (stored connections,
//!   on-behalf-of exchange) and their users (outbound routes, REST-backed SmartObjects).
//! - [`store`]: the [`OAuthStore`] trait (connections, authorization states, the refresh lock), implemented by
//!   both backends and checked by the conformance suite.
//! - [`service`]: [`Outbound`](service::Outbound), what the gateway holds: the reloadable catalog and vault,
//!   the store, the HTTP client and the token source of each grant kind.
//! - [`connections`]: the token source of `authorization_code` resources (stored connections, refreshed under
//!   the store's lock, backoff, `invalid_grant`).
//! - [`flow`], [`handlers`]: the browser flow (authorize, callback) and each user's own connections (JSON).
//! - [`view`]: the Tokens view rows shared by the JSON API and `authgate oauth tokens list`.
//!
//! [`OAuthStore`]: store::OAuthStore

pub mod connections;
pub mod endpoint;
pub mod exchange;
pub mod flow;
pub mod handlers;
pub mod params;
pub mod refusal;
pub mod resource;
pub mod service;
pub mod store;
pub mod tokens;
pub mod vault;
pub mod view;
