//! The built-in APIs as the composition root sees them: opened once on a backend's [`Stores`], given the
//! parts of the configuration they serve ([`ApiParts`]), and reloaded with it. The proxy knows none of this:
//! it only forwards to the socket the [`router`](BuiltinApis::router) is served on.

use crate::odata::catalog::Catalog;
use crate::odata::ODataApi;
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
}

/// The built-in APIs on their stores.
pub struct BuiltinApis {
    state: Arc<ApiState>,
    stores: Stores,
}

impl BuiltinApis {
    /// The APIs over `stores`, reading callers from the `headers` the proxy sets. The SmartObject tables are
    /// brought in line with the catalog before anything is served.
    pub async fn open(stores: Stores, headers: Arc<HeaderSet>, parts: ApiParts) -> Result<Self, StoreError> {
        stores.smartobjects.sync_schema(&parts.catalog).await?;
        let (workflow, odata) = split(&stores, parts);
        let state = Arc::new(ApiState {
            headers,
            workflow: ArcSwap::from_pointee(workflow),
            odata: ArcSwap::from_pointee(odata),
        });
        Ok(Self { state, stores })
    }

    /// The router of every built-in API.
    pub fn router(&self) -> Router {
        crate::router(self.state.clone())
    }

    /// Serves `parts` from now on. New SmartObjects and properties need their tables and columns before they
    /// are served: if the database refuses them, the Workflow API still takes the new parts and the OData API
    /// keeps its previous catalog (the error says why).
    pub async fn reload(&self, parts: ApiParts) -> Result<(), StoreError> {
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
