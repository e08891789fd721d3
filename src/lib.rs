//! authgate: a sidecar authentication gateway for Workflow REST and SmartObject OData APIs.
//!
//! It terminates Basic and OAuth 2.0 bearer authentication, applies the platform rules (AD/AAD user
//! managers only, no Basic for AAD accounts with MFA, exact audiences), and forwards the identity to
//! upstreams as headers. This crate is the binary's: the pingora proxy ([`proxy`]), the composition root
//! ([`gateway`]), the `serve` wiring ([`serve`]) and the command-line tools; what it decides lives in
//! `authgate-core`, the built-in APIs in `authgate-apis`.
//! See `docs/architecture.md` for the crate and module map.

pub mod diagnostics;
pub mod gateway;
pub mod inspect;
pub mod logging;
pub mod oauth_cli;
pub mod proxy;
pub mod serve;
pub mod tokenbench;
