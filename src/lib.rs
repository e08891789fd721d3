//! authgate: a sidecar authentication gateway for Workflow REST and SmartObject OData APIs.
//!
//! It terminates Basic and OAuth 2.0 bearer authentication, applies the platform rules (AD/AAD user
//! managers only, no Basic for AAD accounts with MFA, exact audiences), and forwards the identity to
//! upstreams as headers. See `docs/architecture.md` for the module map.

pub mod apis;
pub mod assertion;
pub mod auth;
pub mod calendar;
pub mod clock;
pub mod config;
pub mod diagnostics;
pub mod directory;
pub mod gateway;
pub mod inspect;
pub mod logging;
pub mod metrics;
pub mod proxy;
pub mod signing;
pub mod store;
pub mod testkit;
pub mod tokenbench;
