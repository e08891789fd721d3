//! authgate-core: what the gateway decides, with no proxy, no SQL and no web framework in it.
//!
//! - [`config`]: the `gateway.yaml` schema, `${ENV}` expansion, YAML with field paths, secrets.
//! - [`auth`]: credentials, JWT verification (keys, JWKS, issuers, audiences), Basic with its lockout and
//!   caches, the platform rules, refusals as responses, identity headers.
//! - [`directory`]: user managers (embedded users.yaml, Active Directory over LDAP, Azure AD), password
//!   hashing admission, people for workflow routing, the admin-consent URL.
//! - [`http`]: request-path normalisation and the client address behind trusted proxies.
//! - [`signing`], [`assertion`], [`minting`]: private keys that sign, the identity assertion, tokens and
//!   providers with fixed keys for `authgate bench-tokens` and tests.
//! - [`metrics`], [`clock`]: the Prometheus registry, Unix time.

pub mod assertion;
pub mod auth;
pub mod clock;
pub mod config;
pub mod directory;
pub mod http;
pub mod identity;
pub mod metrics;
pub mod minting;
pub mod shared;
pub mod signing;
