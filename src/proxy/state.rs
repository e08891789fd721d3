//! What the proxy reads while it serves: one immutable snapshot per configuration, built by the composition
//! root and swapped in whole by a reload. A request keeps the snapshot it started with; a connection takes
//! its [`Limits`] from the snapshot current when it starts.

use super::downstream::Limits;
use super::routes::RouteTable;
use authgate_core::assertion::AssertionSigner;
use authgate_core::auth::{Authenticator, HeaderSet};
use authgate_core::http::forwarded::TrustedProxies;
use authgate_core::metrics::Metrics;
use std::sync::Arc;

/// The per-request snapshot.
pub struct ProxyState {
    /// Routes, matched on the normalised path.
    pub routes: RouteTable,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: TrustedProxies,
    /// Basic and bearer authentication.
    pub authenticator: Authenticator,
    /// Identity header names: the ones added, and every name a client may not send.
    pub identity_headers: Arc<HeaderSet>,
    /// The realm of `WWW-Authenticate` challenges.
    pub realm: String,
    /// The identity assertion added to upstream requests, when enabled.
    pub assertion: Option<Assertion>,
    /// Where requests are counted.
    pub metrics: Arc<Metrics>,
    /// Whether each request is logged on `authgate::access`.
    pub access_log: bool,
    /// The limits of a new downstream connection.
    pub limits: Limits,
}

/// The signed identity assertion and the header that carries it.
#[derive(Clone)]
pub struct Assertion {
    /// Signs assertions (its key rotates).
    pub signer: Arc<AssertionSigner>,
    /// The header it is sent in.
    pub header: http::HeaderName,
}
