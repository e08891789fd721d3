//! The binary's side of the admin API ([`AdminHost`]): authentication with the running gateway's own
//! authenticators, its administrators, settings and SmartObjects, and the overview. Reads the current
//! [`Gateway`] on each call, so a reload is seen at once.

use super::reachability::DirectoryProbe;
use crate::gateway::Gateway;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use authgate_admin::access::Administrators;
use authgate_admin::host::{AdminHost, SmartObjectInfo};
use authgate_admin::settings::Settings;
use authgate_apis::odata::smartobject::Method;
use authgate_apis::outbound::service::Outbound;
use authgate_core::auth::lockout::Lockout;
use authgate_core::auth::RoutePolicy;
use authgate_core::identity::{Identity, UserManager};
use authgate_core::metrics::Metrics;
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::Notify;

/// The admin API's view of the running gateway.
pub struct GatewayHost {
    current: Arc<ArcSwap<Gateway>>,
    written: Arc<Notify>,
    outbound: Option<Arc<Outbound>>,
    directory: DirectoryProbe,
}

/// `at` to the second, RFC 3339 in UTC.
pub fn rfc3339(at: SystemTime) -> String {
    jiff::Timestamp::try_from(at)
        .and_then(|t| t.round(jiff::Unit::Second))
        .map_or_else(|_| "unknown".into(), |t| t.to_string())
}

impl GatewayHost {
    /// Over the gateway in `current`; `written` wakes the control loop after a settings write.
    pub fn new(current: Arc<ArcSwap<Gateway>>, written: Arc<Notify>) -> Self {
        Self {
            current,
            written,
            outbound: None,
            directory: DirectoryProbe::default(),
        }
    }

    /// With the built-in APIs' outbound OAuth (built once on the store; its catalog reloads itself).
    pub fn with_outbound(mut self, outbound: Option<Arc<Outbound>>) -> Self {
        self.outbound = outbound;
        self
    }
}

/// Administrators sign in with Basic (when on) or a bearer token of any provider, as any configured user
/// manager; being an administrator is what is checked next.
fn policy(gateway: &Gateway) -> RoutePolicy {
    let mut managers = vec![UserManager::Ad, UserManager::Aad];
    for label in gateway.config.user_managers.keys() {
        let manager = UserManager::from_label(label);
        if !managers.contains(&manager) {
            managers.push(manager);
        }
    }
    RoutePolicy {
        basic: gateway.proxy.authenticator.basic().is_some(),
        bearer: true,
        providers: None,
        allowed_user_managers: managers,
    }
}

#[async_trait]
impl AdminHost for GatewayHost {
    async fn authenticate(&self, authorization: &[&[u8]], client_ip: Option<IpAddr>) -> Result<Identity, String> {
        let gateway = self.current.load_full();
        let decision = gateway
            .proxy
            .authenticator
            .authenticate(authorization, client_ip, &policy(&gateway))
            .await;
        decision
            .result
            .map(|auth| auth.identity.clone())
            .map_err(|e| e.reason().to_string())
    }

    fn administrators(&self) -> Administrators {
        Administrators::from_config(&self.current.load().config.admin.administrators)
    }

    fn configured(&self) -> Settings {
        self.current.load().configured.clone()
    }

    fn smartobjects(&self) -> Vec<SmartObjectInfo> {
        let gateway = self.current.load();
        let catalog = &gateway.apis.catalog;
        catalog
            .defined()
            .iter()
            .map(|so| SmartObjectInfo {
                name: so.system_name.clone(),
                published_name: so.published_name.clone(),
                listable: so.methods.has(Method::List),
                published: catalog.published().iter().any(|p| Arc::ptr_eq(p, so)),
            })
            .collect()
    }

    fn lockout(&self) -> Option<Arc<Lockout>> {
        let gateway = self.current.load();
        gateway.proxy.authenticator.basic().map(|basic| basic.lockout().clone())
    }

    fn metrics(&self) -> Arc<Metrics> {
        self.current.load().metrics().clone()
    }

    fn outbound(&self) -> Option<Arc<Outbound>> {
        self.outbound.clone()
    }

    async fn inspect(&self, token: &str, route: Option<&str>) -> Result<serde_json::Value, String> {
        let gateway = self.current.load_full();
        let report = crate::inspect::inspect_route(&gateway, token, route, true).await?;
        Ok(report.to_json())
    }

    fn settings_written(&self) {
        self.written.notify_one();
    }

    async fn overview(&self) -> serde_json::Value {
        let gateway = self.current.load_full();
        let routes: Vec<serde_json::Value> = gateway
            .proxy
            .routes
            .routes()
            .iter()
            .map(|r| {
                json!({
                    "name": r.name,
                    "prefix": if r.prefix.is_empty() { "/" } else { r.prefix.as_str() },
                    "upstream": r.upstream.describe(),
                    "enabled": r.disabled.is_none(),
                    "disabled": r.disabled.as_ref().map(|d| json!({"status": d.status, "message": d.message})),
                    "auth": r.auth.as_ref().map(|p| json!({"basic": p.basic, "bearer": p.bearer})),
                })
            })
            .collect();
        let providers: Vec<serde_json::Value> = gateway
            .proxy
            .authenticator
            .bearer()
            .providers()
            .iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "issuer": p.issuer.display().to_string(),
                    "audiences": p.audience.expected(),
                    "keys_from": p.keys.source().describe(),
                    "keys_loaded": p.keys.is_loaded(),
                    "key_ids": p.keys.current().kids(),
                    "last_key_error": p.keys.last_error(),
                    "last_key_refresh": p.keys.last_refresh().map(|r| json!({
                        "at": rfc3339(r.at),
                        "ok": r.error.is_none(),
                        "error": r.error,
                    })),
                })
            })
            .collect();
        let user_managers: Vec<serde_json::Value> = gateway
            .config
            .user_managers
            .iter()
            .map(|(label, um)| json!({"label": label, "fqn_prefix": um.fqn_prefix}))
            .collect();
        let directory = match gateway.config.basic.enabled {
            true => self.directory.check(gateway.config.basic.backend.as_ref()).await,
            false => json!({"kind": "none", "ok": true, "note": "Basic authentication is off"}),
        };
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "routes": routes,
            "providers": providers,
            "user_managers": user_managers,
            "directory": directory,
            "storage": {"database": gateway.apis.describe_database()},
            "shared_state": gateway.shared.as_ref().map(|s| json!({"store": s.describe(), "degraded": s.degraded()})),
            "settings_version": gateway.overrides.version,
        })
    }
}
