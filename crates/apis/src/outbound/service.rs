//! [`Outbound`]: outbound OAuth as the rest of the gateway uses it. It holds the current resource catalog
//! (swapped whole by a reload), the token vault (its keys reload too), the store, the HTTP client for the
//! providers, and one [`TokenSource`] per [`GrantKind`]; [`Outbound::token_for`] is the one question its users
//! ask: "a token for this caller against this resource, now".

use super::resource::{Catalog, GrantKind};
use super::store::OAuthStore;
use super::tokens::{AccessToken, Principal, TokenError, TokenSource};
use super::vault::Vault;
use arc_swap::ArcSwap;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The built-in path of the outbound OAuth API.
pub const BASE: &str = "/api/oauth/v1";

/// What a path segment keeps unescaped: RFC 3986 unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Outbound OAuth: the catalog, the vault, the store, the client and the token sources.
pub struct Outbound {
    catalog: ArcSwap<Catalog>,
    vault: Arc<ArcSwap<Vault>>,
    store: Arc<dyn OAuthStore>,
    client: reqwest::Client,
    sources: Vec<(GrantKind, Arc<dyn TokenSource>)>,
}

impl fmt::Debug for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let catalog = self.catalog.load();
        f.debug_struct("Outbound")
            .field(
                "resources",
                &catalog.resources.iter().map(|r| &r.name).collect::<Vec<_>>(),
            )
            .field("vault", &**self.vault.load())
            .finish()
    }
}

impl Outbound {
    /// Outbound OAuth over `catalog`, sealing with `vault`, keeping its records in `store` and calling the
    /// providers with `client`. No token source is registered yet: [`Outbound::set_source`] adds them.
    pub fn new(catalog: Catalog, vault: Arc<Vault>, store: Arc<dyn OAuthStore>, client: reqwest::Client) -> Self {
        Self {
            catalog: ArcSwap::from_pointee(catalog),
            vault: Arc::new(ArcSwap::new(vault)),
            store,
            client,
            sources: Vec::new(),
        }
    }

    /// Makes `source` the supplier of tokens for resources whose type is of one of `kinds` (replacing any
    /// registered before).
    pub fn set_source(&mut self, kinds: &[GrantKind], source: Arc<dyn TokenSource>) {
        for kind in kinds {
            self.sources.retain(|(k, _)| k != kind);
            self.sources.push((*kind, source.clone()));
        }
    }

    /// The current catalog.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    /// Serves `catalog` from now on (a reload of the resource files).
    pub fn reload(&self, catalog: Catalog) {
        self.catalog.store(Arc::new(catalog));
    }

    /// The current vault.
    pub fn vault(&self) -> Arc<Vault> {
        self.vault.load_full()
    }

    /// The vault as a handle that sees later key changes (for token sources built once).
    pub fn vault_handle(&self) -> Arc<ArcSwap<Vault>> {
        self.vault.clone()
    }

    /// Seals and opens with `vault` from now on (a reload that changed `oauth.vault.keys`).
    pub fn reload_vault(&self, vault: Arc<Vault>) {
        self.vault.store(vault);
    }

    /// The store of connections and authorization states.
    pub fn store(&self) -> &Arc<dyn OAuthStore> {
        &self.store
    }

    /// The HTTP client the providers are called with.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The built-in path where a user authorizes `resource`:
    /// `/api/oauth/v1/resources/{percent-encoded name}/authorize`.
    pub fn authorize_path(resource: &str) -> String {
        format!("{BASE}/resources/{}/authorize", utf8_percent_encode(resource, SEGMENT))
    }

    /// A token `caller` may use against `resource` now: the resource and its type are looked up in the
    /// current catalog and the request goes to the source of the type's grant kind.
    pub async fn token_for(&self, caller: Principal<'_>, resource: &str) -> Result<AccessToken, TokenError> {
        let catalog = self.catalog();
        let unknown = || TokenError::UnknownResource {
            resource: resource.to_string(),
        };
        let found = catalog.resource(resource).ok_or_else(unknown)?;
        let ty = catalog.type_of(found).ok_or_else(unknown)?;
        let source = self
            .sources
            .iter()
            .find(|(kind, _)| *kind == ty.kind)
            .map(|(_, source)| source.clone())
            .ok_or_else(|| TokenError::Unavailable {
                resource: found.name.clone(),
                reason: format!("tokens of type '{}' are not supported by this gateway", ty.name),
            })?;
        source.access_token(caller, found, ty).await
    }
}

/// The HTTP client for the providers: no proxy from the environment, a connect timeout, authgate's user agent.
/// Each request sets its own overall timeout.
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("authgate/", env!("CARGO_PKG_VERSION")))
        .build()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::outbound::resource::tests::parse;
    use crate::outbound::resource::{Resource, ResourceFile, ResourceType, ResourceTypeFile};
    use async_trait::async_trait;
    use std::path::PathBuf;
    use zeroize::Zeroizing;

    /// A vault with one key `k1` of `byte`s.
    pub(crate) fn vault(id: &str, byte: u8) -> Vault {
        Vault::new(vec![(id.to_string(), Zeroizing::new(vec![byte; 32]))]).unwrap()
    }

    /// A catalog with an authorization-code type `Code` (resource `Files`) and an on-behalf-of type `Obo`
    /// (resource `Graph api`).
    pub(crate) fn catalog(token_endpoint: &str) -> Catalog {
        let code: ResourceTypeFile = parse(
            "name: Code\nparameters:\n  - {name: client_id, stages: [authorization, token, refresh]}\n  - {name: response_type, stages: [authorization], defaults: {authorization: code}}\n  - {name: grant_type, stages: [token, refresh], defaults: {token: authorization_code, refresh: refresh_token}}\n",
        );
        let obo: ResourceTypeFile =
            parse("name: Obo\nkind: on_behalf_of\nparameters:\n  - {name: client_id, stages: [token]}\n");
        let files: ResourceFile = parse(&format!(
            "name: Files\ntype: Code\nauthorization_endpoint: http://127.0.0.1:9/authorize\ntoken_endpoint: {token_endpoint}\nparameters:\n  client_id: {{authorization: app, token: app, refresh: app}}\n"
        ));
        let graph: ResourceFile = parse(&format!(
            "name: Graph api\ntype: Obo\ntoken_endpoint: {token_endpoint}\n"
        ));
        Catalog::build(
            vec![(PathBuf::from("code.yaml"), code), (PathBuf::from("obo.yaml"), obo)],
            vec![
                (PathBuf::from("files.yaml"), files),
                (PathBuf::from("graph.yaml"), graph),
            ],
        )
        .unwrap()
    }

    struct Fixed(&'static str);

    #[async_trait]
    impl TokenSource for Fixed {
        async fn access_token(
            &self,
            caller: Principal<'_>,
            resource: &Resource,
            _: &ResourceType,
        ) -> Result<AccessToken, TokenError> {
            Ok(AccessToken::new(
                format!("{}:{}:{}", self.0, caller.user, resource.name),
                None,
            ))
        }
    }

    async fn outbound() -> (Outbound, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let stores = crate::store::sqlite::open(&dir.path().join("db.sqlite"), 2)
            .await
            .unwrap();
        let out = Outbound::new(
            catalog("http://127.0.0.1:9/token"),
            Arc::new(vault("k1", 1)),
            stores.oauth,
            http_client().unwrap(),
        );
        (out, dir)
    }

    #[test]
    fn the_authorize_path_encodes_the_name_as_one_segment() {
        assert_eq!(
            Outbound::authorize_path("Graph api/v1?x"),
            "/api/oauth/v1/resources/Graph%20api%2Fv1%3Fx/authorize"
        );
        assert_eq!(
            Outbound::authorize_path("files-1.a_b~"),
            "/api/oauth/v1/resources/files-1.a_b~/authorize"
        );
    }

    #[tokio::test]
    async fn tokens_are_dispatched_by_the_grant_kind_of_the_resource_type() {
        let (mut out, _dir) = outbound().await;
        let alice = Principal {
            user: "K2:CONTOSO\\alice",
            inbound_bearer: None,
        };
        assert_eq!(
            out.token_for(alice, "nope").await.unwrap_err(),
            TokenError::UnknownResource {
                resource: "nope".into()
            }
        );
        assert!(matches!(
            out.token_for(alice, "graph API").await.unwrap_err(),
            TokenError::Unavailable { resource, .. } if resource == "Graph api"
        ));
        out.set_source(
            &[GrantKind::OnBehalfOf, GrantKind::TokenExchange],
            Arc::new(Fixed("obo")),
        );
        out.set_source(&[GrantKind::AuthorizationCode], Arc::new(Fixed("code")));
        assert_eq!(
            out.token_for(alice, "graph API").await.unwrap().secret(),
            "obo:K2:CONTOSO\\alice:Graph api"
        );
        assert_eq!(
            out.token_for(alice, "files").await.unwrap().secret(),
            "code:K2:CONTOSO\\alice:Files"
        );
        out.set_source(&[GrantKind::AuthorizationCode], Arc::new(Fixed("again")));
        assert_eq!(
            out.token_for(alice, "files").await.unwrap().secret(),
            "again:K2:CONTOSO\\alice:Files"
        );
    }

    #[tokio::test]
    async fn a_reload_swaps_the_catalog_and_the_vault() {
        let (out, _dir) = outbound().await;
        assert!(out.catalog().resource("files").is_some());
        out.reload(Catalog::default());
        assert!(out.catalog().resource("files").is_none());
        assert_eq!(
            out.token_for(
                Principal {
                    user: "u",
                    inbound_bearer: None
                },
                "files"
            )
            .await
            .unwrap_err(),
            TokenError::UnknownResource {
                resource: "files".into()
            }
        );
        let handle = out.vault_handle();
        out.reload_vault(Arc::new(vault("k2", 2)));
        assert_eq!(out.vault().current_key_id(), "k2");
        assert_eq!(handle.load().current_key_id(), "k2", "a handle sees the new keys");
    }
}
