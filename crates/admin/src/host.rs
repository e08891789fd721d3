//! What only the binary knows, as the admin API sees it: authentication with the gateway's own
//! authenticators, the administrators, what `gateway.yaml` says, the SmartObjects, the live overview. The
//! binary implements [`AdminHost`] over its current gateway (so a reload is seen at once).

use crate::access::Administrators;
use crate::settings::Settings;
use async_trait::async_trait;
use authgate_apis::outbound::service::Outbound;
use authgate_core::auth::lockout::Lockout;
use authgate_core::identity::Identity;
use authgate_core::metrics::Metrics;
use serde::Serialize;
use std::net::IpAddr;
use std::sync::Arc;

/// A SmartObject, for the exposure picker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SmartObjectInfo {
    /// System name (what the exposure lists).
    pub name: String,
    /// Entity set name when published.
    pub published_name: String,
    /// Whether it has a List method (`all` publishes only those).
    pub listable: bool,
    /// Whether the current exposure publishes it.
    pub published: bool,
}

/// The binary's side of the admin API.
#[async_trait]
pub trait AdminHost: Send + Sync + 'static {
    /// Authenticates `authorization` (every `Authorization` value) from `client_ip` with the gateway's
    /// authenticators (Basic and bearer, lockout included); `Err` is the refusal's reason (for the body).
    async fn authenticate(&self, authorization: &[&[u8]], client_ip: Option<IpAddr>) -> Result<Identity, String>;

    /// The administrators now.
    fn administrators(&self) -> Administrators;

    /// The settings as `gateway.yaml` gives them (before any override).
    fn configured(&self) -> Settings;

    /// Every defined SmartObject.
    fn smartobjects(&self) -> Vec<SmartObjectInfo>;

    /// The settings were written: apply them now on this replica (the others poll).
    fn settings_written(&self);

    /// The overview: version, routes, providers, user managers, storage (JSON, never a secret).
    async fn overview(&self) -> serde_json::Value;

    /// The metrics the gateway exports (for `live`).
    fn metrics(&self) -> Arc<Metrics>;

    /// The Basic lockout counters now (`None`: Basic is off).
    fn lockout(&self) -> Option<Arc<Lockout>>;

    /// Outbound OAuth (`None`: no `oauth:` section, or no database to keep its connections in).
    fn outbound(&self) -> Option<Arc<Outbound>>;

    /// `authgate token inspect` of `token` against the providers (those of the route named `route` when
    /// given; keys fetched as the request path would): `{verdict, checks, header, claims}`. `Err` names an
    /// unknown route. Never logs the token.
    async fn inspect(&self, token: &str, route: Option<&str>) -> Result<serde_json::Value, String>;
}
