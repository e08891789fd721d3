//! The built-in APIs as the composition root sees them: opened once on a backend's [`Stores`], given the
//! parts of the configuration they serve ([`ApiParts`]), and reloaded with it. The proxy knows none of this:
//! it only forwards to the socket the [`router`](BuiltinApis::router) is served on.

use crate::odata::catalog::Catalog;
use crate::odata::remote::Remote;
use crate::odata::ODataApi;
use crate::outbound::connections::{Connections, RefreshCounter};
use crate::outbound::exchange::{self, Exchanger};
use crate::outbound::resource::Catalog as OAuthCatalog;
use crate::outbound::resource::GrantKind;
use crate::outbound::service::{http_client, Outbound};
use crate::outbound::vault::Vault;
use crate::store::{StoreError, Stores};
use crate::workflow::definitions::Definitions;
use crate::workflow::links::Links;
use crate::workflow::WorkflowApi;
use crate::ApiState;
use arc_swap::ArcSwap;
use authgate_core::auth::HeaderSet;
use authgate_core::directory::people::People;
use axum::Router;
use std::sync::Arc;

/// What the built-in APIs serve from the configuration; rebuilt by the composition root on each reload.
pub struct ApiParts {
    /// Loaded workflow definitions.
    pub definitions: Arc<Definitions>,
    /// The directory, for managers, originator details and redirect targets.
    pub people: Arc<dyn People>,
    /// `formURL` / `viewFlowURL` settings.
    pub links: Arc<Links>,
    /// Defined and published SmartObjects.
    pub catalog: Arc<Catalog>,
    /// Most OData entities in one response.
    pub page_size: u64,
    /// The OData service roots, matched case-insensitively.
    pub base_paths: Arc<[String]>,
    /// The gateway's external URL for OData links (never taken from the request).
    pub public_url: Option<String>,
    /// Outbound OAuth's resource catalog and vault, when `oauth:` is configured. Whether it is configured is
    /// fixed at start (the composition root refuses a reload that adds or removes it).
    pub oauth: Option<OAuthParts>,
}

/// What outbound OAuth serves from the configuration.
pub struct OAuthParts {
    /// Resource types and resources.
    pub catalog: OAuthCatalog,
    /// The token vault's keys.
    pub vault: Arc<Vault>,
    /// Counts refreshes by outcome (the `authgate_outbound_oauth_refreshes_total` metric).
    pub refreshes: RefreshCounter,
}

/// The built-in APIs on their stores.
pub struct BuiltinApis {
    state: Arc<ApiState>,
    stores: Stores,
}

impl BuiltinApis {
    /// The APIs over `stores`, reading callers from the `headers` the proxy sets. The SmartObject tables are
    /// brought in line with the catalog before anything is served.
    pub async fn open(stores: Stores, headers: Arc<HeaderSet>, mut parts: ApiParts) -> Result<Self, StoreError> {
        stores.smartobjects.sync_schema(&parts.catalog).await?;
        let outbound = match parts.oauth.take() {
            Some(oauth) => {
                let client = http_client()
                    .map_err(|e| StoreError::Unavailable(format!("cannot create the HTTP client: {e}")))?;
                let mut outbound = Outbound::new(oauth.catalog, oauth.vault, stores.oauth.clone(), client.clone());
                let connections = Connections::new(&outbound, oauth.refreshes);
                outbound.set_source(&[GrantKind::AuthorizationCode], Arc::new(connections));
                outbound.set_source(
                    &Exchanger::KINDS,
                    Arc::new(Exchanger::new(client, exchange::DEFAULT_TIMEOUT)),
                );
                Some(Arc::new(outbound))
            }
            None => None,
        };
        let remote = match &outbound {
            Some(outbound) => Some(Arc::new(Remote::new(outbound.clone()).map_err(|e| {
                StoreError::Unavailable(format!("cannot create the HTTP client for REST SmartObjects: {e}"))
            })?)),
            None => None,
        };
        let (workflow, odata) = split(&stores, parts);
        let state = Arc::new(ApiState {
            headers,
            workflow: ArcSwap::from_pointee(workflow),
            odata: ArcSwap::from_pointee(odata),
            outbound,
            remote,
        });
        Ok(Self { state, stores })
    }

    /// Outbound OAuth, when configured: for the proxy's outbound routes and REST-backed SmartObjects.
    pub fn outbound(&self) -> Option<Arc<Outbound>> {
        self.state.outbound.clone()
    }

    /// The router of every built-in API.
    pub fn router(&self) -> Router {
        crate::router(self.state.clone())
    }

    /// Serves `parts` from now on. New SmartObjects and properties need their tables and columns before they
    /// are served: if the database refuses them, the Workflow API still takes the new parts and the OData API
    /// keeps its previous catalog (the error says why).
    pub async fn reload(&self, mut parts: ApiParts) -> Result<(), StoreError> {
        if let (Some(outbound), Some(oauth)) = (&self.state.outbound, parts.oauth.take()) {
            outbound.reload(oauth.catalog);
            outbound.reload_vault(oauth.vault);
        }
        let (workflow, odata) = split(&self.stores, parts);
        self.state.workflow.store(Arc::new(workflow));
        self.stores.smartobjects.sync_schema(&odata.catalog).await?;
        self.state.odata.store(Arc::new(odata));
        Ok(())
    }
}

fn split(stores: &Stores, parts: ApiParts) -> (WorkflowApi, ODataApi) {
    let workflow = WorkflowApi {
        definitions: parts.definitions,
        store: stores.workflow.clone(),
        people: parts.people,
        links: parts.links,
    };
    let odata = ODataApi {
        catalog: parts.catalog,
        store: stores.smartobjects.clone(),
        page_size: parts.page_size,
        base_paths: parts.base_paths,
        public_url: parts.public_url,
    };
    (workflow, odata)
}
