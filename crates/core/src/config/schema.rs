//! The `gateway.yaml` schema: what an operator writes, field by field, with its default.
//!
//! These types mirror the file and nothing more; `authgate::gateway` (the binary crate) turns them into the runtime types the
//! request path uses (parse once, don't re-validate per request). Unknown fields are refused everywhere.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The whole `gateway.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Process settings: worker threads and the shutdown sequence.
    #[serde(default)]
    pub server: ServerConfig,
    /// Public listeners that take client traffic, e.g. `[{address: "0.0.0.0:8080"}]`.
    pub listeners: Vec<ListenerConfig>,
    /// The admin listener (`/healthz`, `/readyz`, `/metrics`).
    #[serde(default)]
    pub admin: AdminConfig,
    /// Names of the identity headers set on requests forwarded upstream.
    #[serde(default)]
    pub headers: HeaderNamesConfig,
    /// Basic authentication against the embedded directory.
    #[serde(default)]
    pub basic: BasicConfig,
    /// OAuth 2.0 bearer-token issuers (OIDC or Azure AD).
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
    /// How identities of each user manager are named (FQN prefix, AD domain). Keys are user-manager labels
    /// (`ad`, `aad`, `sql`, ...).
    #[serde(default)]
    pub user_managers: BTreeMap<String, UserManagerConfig>,
    /// Cache sizes and lifetimes.
    #[serde(default)]
    pub caches: CachesConfig,
    /// Request limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The built-in Workflow / OData API server on a unix socket.
    #[serde(default)]
    pub builtin: BuiltinConfig,
    /// Signed identity assertions sent upstream.
    #[serde(default)]
    pub assertion: AssertionConfig,
    /// The built-in Workflow REST API.
    #[serde(default)]
    pub workflow: WorkflowConfig,
    /// The built-in SmartObject OData v4 API.
    #[serde(default)]
    pub odata: OdataConfig,
    /// Outbound OAuth (resource types, resources, the token vault). Default: absent (none).
    #[serde(default)]
    pub oauth: Option<super::OAuthConfig>,
    /// Route table: the longest matching path prefix wins; no match is 404.
    pub routes: Vec<RouteConfig>,
    /// Lockout and rate-limit counters shared by replicas (Redis). Default absent: each process counts alone.
    /// Changing it needs a restart.
    #[serde(default)]
    pub shared_state: Option<super::shared_state::SharedStateConfig>,
}

/// Signed identity assertion (`X-Authgate-Assertion`): a short-lived JWT upstreams can verify with the keys
/// at the admin listener's `/.well-known/jwks.json`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AssertionConfig {
    /// Send assertions on authenticated requests. Default false.
    pub enabled: bool,
    /// `ES256` (default) or `EdDSA`.
    pub algorithm: String,
    /// `iss` of the assertions. Default `authgate`.
    pub issuer: String,
    /// Lifetime of one assertion. Default 60.
    pub ttl_seconds: u64,
    /// Signing key rotation interval; the previous key stays published one more interval. Default 24.
    pub rotate_hours: u64,
    /// Header name. Default `X-Authgate-Assertion`.
    pub header: String,
}

impl Default for AssertionConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            algorithm: "ES256".into(),
            issuer: "authgate".into(),
            ttl_seconds: 60,
            rotate_hours: 24,
            header: "X-Authgate-Assertion".into(),
        }
    }
}

/// Process settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Worker threads of the proxy service. Default: number of CPUs.
    pub threads: Option<usize>,
    /// After SIGTERM, how long `/readyz` reports not-ready before listeners close, so load balancers and
    /// Kubernetes stop sending new traffic. Default 0.
    pub drain_delay_seconds: u64,
    /// After listeners close, how long in-flight requests get to finish. Default 5.
    pub grace_period_seconds: u64,
    /// After the grace period, how long runtimes get to stop before the process exits. Default 5.
    pub shutdown_timeout_seconds: u64,
    /// One log line per request (target `authgate::access`: request id, method, path without query, status,
    /// route, user, auth method, decision, upstream, latency). Default true; JSON with
    /// `AUTHGATE_LOG_FORMAT=json`.
    pub access_log: bool,
    /// How often the configuration files are checked for changes (they are reloaded when they change, as on
    /// SIGHUP). Default 2; 0 turns watching off (SIGHUP still reloads).
    pub reload_poll_seconds: u64,
    /// PEM bundle of CAs trusted for upstream TLS (`routes[].upstream_tls`). Default: the system roots.
    pub upstream_ca_file: Option<PathBuf>,
    /// Log filter (`info`, `debug`, or directives such as `info,authgate::access=off`). Default `info`;
    /// `RUST_LOG`, when set, wins. Changes apply on reload. Whatever it says, the proxy framework (pingora) and
    /// other libraries never log below `info`: their debug output holds request headers and raw requests.
    pub log_level: Option<String>,
    /// Proxies in front of the gateway whose `X-Forwarded-For` is believed: CIDR networks or addresses, e.g.
    /// `[10.0.0.0/8, "2001:db8::/32"]`. When the TCP peer is one of them, the client address (for rate limits,
    /// lockout and logs) is the rightmost `X-Forwarded-For` hop that is not, and the peer is appended to the
    /// forwarded header; otherwise the client's own `X-Forwarded-For`, `X-Forwarded-Proto`,
    /// `X-Forwarded-Host`, `X-Real-IP` and `Forwarded` are replaced or removed. Default: none.
    pub trusted_proxies: Vec<String>,
    /// How long a client has to send a whole request head (request line and headers): counted from the
    /// connection's start for its first request, from the first byte of each later request on a keep-alive
    /// connection. A slower client is disconnected (slowloris). Default 10; 1 to 3600. Changes apply on reload
    /// to new connections.
    pub request_header_timeout_seconds: u64,
    /// How long a keep-alive connection may stay idle between requests before the gateway closes it. Default
    /// 60; 1 to 3600. Changes apply on reload to new connections.
    pub keepalive_timeout_seconds: u64,
    /// How many connections from one client address (IPv6: one /64 network) may be waiting for a request head
    /// at once: connected and not yet sent their first request, or still sending a head. A connection over the
    /// cap is closed at once. Idle keep-alive connections and requests being served do not count, so clients
    /// behind one NAT or a front proxy are not bothered. Counted per TCP peer address. Default 256; 0 turns the
    /// cap off. Changes apply on reload.
    pub max_pending_requests_per_ip: u32,
    /// The longest request head (request line and headers) a client may send, in bytes; a longer one is
    /// answered 431 (Request Header Fields Too Large) and the connection closed. Default 65536 (64 KiB); 1024
    /// to 1048575 (the proxy framework's own limit). Keep it above `limits.max_token_bytes` plus the other
    /// headers so a large bearer token still fits. Changes apply on reload to new requests.
    pub max_request_header_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            threads: None,
            drain_delay_seconds: 0,
            grace_period_seconds: 5,
            shutdown_timeout_seconds: 5,
            access_log: true,
            reload_poll_seconds: 2,
            upstream_ca_file: None,
            log_level: None,
            trusted_proxies: Vec::new(),
            request_header_timeout_seconds: 10,
            keepalive_timeout_seconds: 60,
            max_pending_requests_per_ip: 256,
            max_request_header_bytes: 64 * 1024,
        }
    }
}

/// One public listener.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// `host:port` to listen on, e.g. `0.0.0.0:8080`.
    pub address: String,
    /// Terminate TLS here (TLS 1.2 and 1.3). Rotated certificate files are picked up without a restart.
    #[serde(default)]
    pub tls: Option<ListenerTlsConfig>,
}

/// Certificate of a TLS listener.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ListenerTlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The admin listener.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// `host:port`; default `127.0.0.1:9901`. Keep it off the public network.
    pub address: String,
    /// Set `false` to run without an admin listener.
    pub enabled: bool,
    /// Who may use the admin API (`/admin/api/v1/...`), signing in with the gateway's own Basic or bearer
    /// authentication. Default: nobody (both lists empty).
    pub administrators: AdministratorsConfig,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            address: "127.0.0.1:9901".into(),
            enabled: true,
            administrators: AdministratorsConfig::default(),
        }
    }
}

/// The administrators of the admin API. Reloadable.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AdministratorsConfig {
    /// Users by FQN (`K2:CONTOSO\alice`) or e-mail, case-insensitive. Default none.
    pub users: Vec<String>,
    /// Members of these groups, case-insensitive. Default none.
    pub groups: Vec<String>,
}

/// Identity header names (oauth2-proxy style). Every client-supplied header with one of these names, or
/// starting with `x-authgate-`, is removed before the gateway sets its own.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct HeaderNamesConfig {
    /// The user's fully qualified name, e.g. `K2:CONTOSO\alice`. Default `X-Authgate-User`.
    pub user: String,
    /// The user manager label (`ad`, `aad`). Default `X-Authgate-User-Manager`.
    pub user_manager: String,
    /// `basic` or `oauth`. Default `X-Authgate-Auth-Method`.
    pub auth_method: String,
    /// The user's e-mail, when known. Default `X-Authgate-Email`.
    pub email: String,
    /// Comma-separated group names. Default `X-Authgate-Groups`.
    pub groups: String,
    /// The Azure AD tenant id, when known. Default `X-Authgate-Tenant`.
    pub tenant: String,
    /// The display name, when known. Default `X-Authgate-Display-Name`.
    pub display_name: String,
}

impl Default for HeaderNamesConfig {
    fn default() -> Self {
        Self {
            user: "X-Authgate-User".into(),
            user_manager: "X-Authgate-User-Manager".into(),
            auth_method: "X-Authgate-Auth-Method".into(),
            email: "X-Authgate-Email".into(),
            groups: "X-Authgate-Groups".into(),
            tenant: "X-Authgate-Tenant".into(),
            display_name: "X-Authgate-Display-Name".into(),
        }
    }
}

/// Basic authentication.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BasicConfig {
    /// Accept `Authorization: Basic` at all. Default true.
    pub enabled: bool,
    /// Realm in the `WWW-Authenticate: Basic` challenge. Default `authgate`.
    pub realm: String,
    /// The embedded directory. Default `policies/users.yaml` (relative to the config file).
    pub directory: PathBuf,
    /// Lockout after repeated failures.
    pub lockout: LockoutConfig,
    /// Memory and queue bounds of the embedded directory's password checks.
    pub hashing: HashingConfig,
    /// Verify Basic credentials against Active Directory (`{ldap: {...}}`) or Azure AD (`{aad: {...}}`)
    /// instead of the embedded directory. Default: the embedded directory. `directory` still names the
    /// people file of the built-in APIs (optional then).
    pub backend: Option<super::DirectoryBackendConfig>,
}

impl Default for BasicConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            realm: "authgate".into(),
            directory: PathBuf::from("policies/users.yaml"),
            lockout: LockoutConfig::default(),
            hashing: HashingConfig::default(),
            backend: None,
        }
    }
}

/// Bounds on the embedded directory's argon2id checks: each one holds its hash's memory cost (`m`, 19 MiB for
/// `authgate hash-password`) on a blocking thread, so they are admitted by memory, queue for a while, and are
/// refused with 503 + `Retry-After` beyond that.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct HashingConfig {
    /// Memory all concurrent password checks may use together, in MiB. Each check weighs its hash's `m` cost
    /// (at least 1 MiB); a hash costlier than the whole budget still runs, alone. Default 64 (three checks of
    /// the default 19 MiB at once, well inside a 256 MiB container).
    pub max_memory_mib: u32,
    /// How long a check waits for memory before its request is answered 503 with `Retry-After`. Default 2000.
    pub queue_timeout_ms: u64,
    /// Checks that may wait at once; more are answered 503 at once. Default 256.
    pub max_queue: u32,
}

impl Default for HashingConfig {
    fn default() -> Self {
        Self {
            max_memory_mib: 64,
            queue_timeout_ms: 2000,
            max_queue: 256,
        }
    }
}

/// Temporary lockout after failed Basic attempts, counted per account and per client IP.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LockoutConfig {
    /// Failures against one account within `window_seconds` that lock it, whichever of its login names
    /// (`alice`, `CONTOSO\alice`, `alice@contoso.com`) they used; a name no account has is counted as itself,
    /// normalised. Default 5; 0 disables.
    pub max_failures_per_user: u32,
    /// Failures from one client IP within `window_seconds` that lock it. Default 20; 0 disables.
    pub max_failures_per_ip: u32,
    /// The counting window. Default 300.
    pub window_seconds: u64,
    /// How long a lock lasts. Default 300.
    pub lockout_seconds: u64,
}

impl Default for LockoutConfig {
    fn default() -> Self {
        Self {
            max_failures_per_user: 5,
            max_failures_per_ip: 20,
            window_seconds: 300,
            lockout_seconds: 300,
        }
    }
}

/// Which family of issuer a provider is.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Any OpenID Connect / OAuth 2.0 issuer with a single issuer string.
    #[default]
    Oidc,
    /// Azure AD / Entra ID: v1 and v2 issuers, `{tenantid}` template, AAD claim mapping.
    Aad,
}

/// How the token's audience is compared with the configured list.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum AudienceMatch {
    /// Byte-for-byte; `https://api.k2.com/` is not `https://api.k2.com`. The default.
    #[default]
    Exact,
    /// Opt-in: ignore one trailing slash and ASCII case.
    Normalized,
}

/// Where a provider's signing keys come from.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum JwksSourceConfig {
    /// A JWKS document on disk (re-read on refresh, so rotating the file rotates keys).
    File(PathBuf),
    /// A JWKS URL.
    Url(String),
    /// An OIDC issuer URL; `/.well-known/openid-configuration` is fetched and its `jwks_uri` used.
    Discovery(String),
}

/// One bearer-token issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Name used in logs and metrics.
    pub name: String,
    /// `oidc` (default) or `aad`.
    #[serde(default)]
    pub kind: ProviderKind,
    /// Expected `iss`. For `aad` it may contain `{tenantid}`; the v1/v2 twin issuer is accepted too.
    pub issuer: String,
    /// For `aad` with `{tenantid}`: the tenant ids allowed. Empty means only literal issuers.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// Accepted audiences (`aud`), matched per `audience_match`. At least one.
    pub audiences: Vec<String>,
    /// `exact` (default) or `normalized` (opt-in: trailing slash and case ignored).
    #[serde(default)]
    pub audience_match: AudienceMatch,
    /// Signing keys.
    pub jwks: JwksSourceConfig,
    /// Accepted `alg` values. Default: all supported asymmetric ones.
    #[serde(default)]
    pub algorithms: Option<Vec<String>>,
    /// Clock skew allowed on `exp`/`nbf`. Default 60.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// Refuse tokens without a `typ` header. Default false (a present `typ` must still be JWT or at+jwt).
    #[serde(default)]
    pub require_typ: bool,
    /// Scopes (`scp`/`scope`) a token must all carry. A token passes with all `required_scopes` or all
    /// `required_roles` when both are set (delegated vs application tokens).
    #[serde(default)]
    pub required_scopes: Vec<String>,
    /// App roles (`roles`) a token must all carry.
    #[serde(default)]
    pub required_roles: Vec<String>,
    /// User-manager label of identities from this issuer. Default `aad` for `kind: aad`, required otherwise.
    #[serde(default)]
    pub user_manager: Option<String>,
    /// Claims tried in order for the user name. Default for aad: upn, unique_name, preferred_username, oid;
    /// for oidc: preferred_username, email, sub.
    #[serde(default)]
    pub user_claims: Option<Vec<String>>,
    /// Claim holding groups. Default `groups`.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Background key refresh interval. Default 600.
    #[serde(default = "default_refresh")]
    pub refresh_interval_seconds: u64,
    /// Minimum spacing of refetches triggered by an unknown `kid`. Default 30.
    #[serde(default = "default_min_refetch")]
    pub min_refetch_interval_seconds: u64,
    /// Timeout of one JWKS / discovery fetch. Default 5.
    #[serde(default = "default_fetch_timeout")]
    pub fetch_timeout_seconds: u64,
    /// Whether `/readyz` may report ready before this provider's signing keys were loaded once. Default false:
    /// not ready until they are, so a load balancer does not send bearer traffic to a pod that would answer
    /// 503 while its peers have keys. `true` for a provider the gateway can serve without (Basic traffic then
    /// flows while the IdP is unreachable); readiness still waits for the first fetch attempt.
    #[serde(default)]
    pub ready_without_keys: bool,
}

fn default_leeway() -> u64 {
    60
}
fn default_groups_claim() -> String {
    "groups".into()
}
fn default_refresh() -> u64 {
    600
}
fn default_min_refetch() -> u64 {
    30
}
fn default_fetch_timeout() -> u64 {
    5
}

/// How identities of one user manager are named.
#[derive(Debug, Clone, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UserManagerConfig {
    /// FQN prefix, e.g. `K2:` for AD, `AAD:` for Azure AD. Default `K2:` (ad), `AAD:` (aad), else `LABEL:`.
    #[serde(default)]
    pub fqn_prefix: Option<String>,
    /// NetBIOS domain for AD names (`K2:CONTOSO\alice`). Users may override it.
    #[serde(default)]
    pub domain: Option<String>,
}

/// Cache sizes and lifetimes.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct CachesConfig {
    /// Verified bearer tokens, found by a keyed hash of the token and compared whole (tokens over 2 KiB by
    /// their SHA-256), kept until `exp`.
    pub tokens: TokenCacheConfig,
    /// Verified Basic credentials, keyed by a keyed HMAC of user and password.
    pub credentials: CredentialCacheConfig,
}

/// Verified-token cache.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenCacheConfig {
    /// Entries at most. Default 100000; 0 disables the cache.
    pub capacity: u64,
    /// Upper bound of an entry's life, whatever its `exp`. Default 3600.
    pub max_ttl_seconds: u64,
}

impl Default for TokenCacheConfig {
    fn default() -> Self {
        Self {
            capacity: 100_000,
            max_ttl_seconds: 3600,
        }
    }
}

/// Verified-credential cache for Basic.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CredentialCacheConfig {
    /// Entries at most. Default 10000; 0 disables the cache.
    pub capacity: u64,
    /// Life of an entry. Default 60 (a changed password or disabled user takes effect within it).
    pub ttl_seconds: u64,
}

impl Default for CredentialCacheConfig {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            ttl_seconds: 60,
        }
    }
}

/// Request limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest bearer token accepted, in bytes. Default 16384.
    pub max_token_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_token_bytes: 16 * 1024,
        }
    }
}

/// The built-in API server.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct BuiltinConfig {
    /// Unix socket the built-in APIs listen on; only this process connects to it. Default
    /// `data/authgate-api.sock` (relative to the config file).
    pub socket: PathBuf,
    /// Database of the built-in APIs: a path selects SQLite (WAL mode; relative to the config file), a
    /// `postgres://` or `postgresql://` URL selects PostgreSQL, shared by replicas (put the password in an
    /// environment variable: `postgres://authgate:${PGPASSWORD}@db:5432/authgate`; it is never printed).
    /// Default `data/authgate.db`.
    pub database: PathBuf,
    /// Worker threads of the built-in API server. Default 2.
    pub threads: usize,
    /// Pool and timeouts of the PostgreSQL backend (ignored with SQLite).
    pub postgres: PostgresConfig,
}

impl Default for BuiltinConfig {
    fn default() -> Self {
        Self {
            socket: PathBuf::from("data/authgate-api.sock"),
            database: PathBuf::from("data/authgate.db"),
            threads: 2,
            postgres: PostgresConfig::default(),
        }
    }
}

/// How the built-in APIs use a PostgreSQL `builtin.database`. TLS is chosen in the URL (`sslmode`,
/// `sslrootcert`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresConfig {
    /// Connections each replica keeps at most. Default 16.
    pub pool_size: usize,
    /// A statement running longer is cancelled by the server and the request answered 503, in milliseconds.
    /// Default 5000.
    pub statement_timeout_ms: u64,
    /// How long a request waits for a connection (a free one from the pool, or a new one to the server)
    /// before it is answered 503, in milliseconds. Default 2000.
    pub connect_timeout_ms: u64,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            pool_size: 16,
            statement_timeout_ms: 5000,
            connect_timeout_ms: 2000,
        }
    }
}

/// The built-in Workflow REST API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkflowConfig {
    /// Directory of workflow definition files (`*.yaml`, one workflow each). Default `policies/workflows`
    /// (relative to the config file). A missing directory means no workflows; an invalid file is an error.
    pub definitions: PathBuf,
    /// Absolute URL of the gateway as clients reach it (`https://k2.example.com`): the `{base}` of the URL
    /// templates below and of the definitions' `form_url`. The API never builds a URL from a request's `Host` or
    /// `X-Forwarded-*` headers. Default none (a template using `{base}` is then an error).
    pub public_url: Option<String>,
    /// Template of a task's and instance's `viewFlowURL`, e.g. `{base}/ViewFlow/ViewFlow.aspx?ProcessID={instanceId}`
    /// (placeholders `{base}`, `{instanceId}`, `{workflowId}`, `{workflowName}`). Default none: `viewFlowURL` is
    /// empty.
    pub view_flow_url: Option<String>,
}

impl Default for WorkflowConfig {
    fn default() -> Self {
        Self {
            definitions: PathBuf::from("policies/workflows"),
            public_url: None,
            view_flow_url: None,
        }
    }
}

/// The built-in SmartObject OData v4 API.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OdataConfig {
    /// Directory of SmartObject definition files (`*.yaml`, one SmartObject each). Default
    /// `policies/smartobjects` (relative to the config file). A missing directory means none.
    pub smartobjects: PathBuf,
    /// Which SmartObjects are published: `all` (every one with a List method, the default),
    /// `{only: [Name, ...]}` or `{all_except: [Name, ...]}`, by system name. Anything not published is 404 and
    /// absent from the service document and `$metadata`.
    pub expose: ExposeConfig,
    /// Most entities in one response; more are offered through `@odata.nextLink`. Default 1000.
    pub page_size: u32,
    /// Service roots the API answers at, matched case-insensitively; each needs a `builtin` route. Default
    /// `[/api/odata/v4, /api/odatav4/v4]` (the second is K2's v4 endpoint, which K2 clients and Power BI
    /// reports are configured with).
    pub base_paths: Vec<String>,
    /// The gateway's external URL as clients reach it (`https://k2.example.com`, with a path prefix when a
    /// reverse proxy adds one), without the base path: links (`@odata.context`, `@odata.nextLink`,
    /// `Location`) are this URL followed by the base path the request came in on. Default: none, and links are
    /// absolute paths (`/api/odata/v4/$metadata#Customer`). Links never follow the request's `Host` or
    /// `X-Forwarded-*`. Set it for clients that need absolute links (.NET OData libraries before
    /// Microsoft.OData.Core 7.10, Simple.OData.Client).
    pub public_url: Option<String>,
    /// The read-only workflow statistics SmartObjects (`WorkflowInstances`, `WorkflowTasks`).
    pub workflow_statistics: WorkflowStatisticsConfig,
}

impl Default for OdataConfig {
    fn default() -> Self {
        Self {
            smartobjects: PathBuf::from("policies/smartobjects"),
            expose: ExposeConfig::All,
            page_size: 1000,
            base_paths: vec!["/api/odata/v4".into(), "/api/odatav4/v4".into()],
            public_url: None,
            workflow_statistics: WorkflowStatisticsConfig::default(),
        }
    }
}

/// Which SmartObjects the OData API publishes.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ExposeConfig {
    /// Every SmartObject that has a List method.
    #[default]
    All,
    /// Only these (system names).
    Only(Vec<String>),
    /// Every SmartObject that has a List method, except these.
    AllExcept(Vec<String>),
}

/// The workflow statistics SmartObjects.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct WorkflowStatisticsConfig {
    /// Define them. Default true (publication still follows `expose`).
    pub enabled: bool,
    /// User FQNs or e-mails who may read them. With `reader_groups` both empty (the default), any authenticated
    /// user may: they show every instance's folio and originator, so restrict them where that matters.
    pub reader_users: Vec<String>,
    /// Groups who may read them.
    pub reader_groups: Vec<String>,
}

impl Default for WorkflowStatisticsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            reader_users: Vec::new(),
            reader_groups: Vec::new(),
        }
    }
}

/// One route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Name used in logs and metrics.
    pub name: String,
    /// Path prefix, e.g. `/api/workflow/v1`. Matched on segment boundaries, case-insensitively.
    pub prefix: String,
    /// `builtin` (the APIs in this binary) or `host:port` of an external upstream.
    pub upstream: String,
    /// TLS to an external upstream.
    #[serde(default)]
    pub upstream_tls: Option<UpstreamTlsConfig>,
    /// How long authgate waits on the upstream (a 504 `upstream_timeout` when one runs out). Default: connect
    /// 5 s, read and write 60 s.
    #[serde(default)]
    pub upstream_timeouts: UpstreamTimeoutsConfig,
    /// Switch the API off: requests get `disabled.status` with `disabled.message`. Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The refusal of a switched-off route.
    #[serde(default)]
    pub disabled: DisabledConfig,
    /// Authentication on this route.
    #[serde(default)]
    pub auth: RouteAuthConfig,
    /// Token-bucket limits (429 with `Retry-After` when exceeded). Default: none.
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// `aud` of identity assertions sent to this route's upstream. Default: the `upstream` value.
    #[serde(default)]
    pub assertion_audience: Option<String>,
    /// Request paths out of the ordinary this route accepts. Default: none of them.
    #[serde(default)]
    pub path: RoutePathConfig,
    /// Call the upstream with the user's OAuth token for a resource (`oauth:` section) instead of the client's
    /// credentials. Default: none (the client's credentials as `auth.forward_credentials` says).
    #[serde(default)]
    pub outbound: Option<RouteOutboundConfig>,
}

/// The outbound credentials of a route: the authenticated user's access token for an OAuth resource, sent
/// upstream as `Authorization: Bearer` in place of whatever the client sent (whatever
/// `auth.forward_credentials` says). A user without a usable token gets 401/403 JSON naming the resource and
/// its authorize URL (a browser: a redirect to it).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RouteOutboundConfig {
    /// The name of a resource in `oauth.resources` (case-insensitive). Required; the route must authenticate.
    pub oauth_resource: String,
}

/// Request paths out of the ordinary a route accepts. Paths are always normalised first (unreserved escapes
/// decoded, dot segments removed, slashes merged); these are kept as sent and refused with 400 unless allowed.
/// A `.` or `..` hidden behind them, or a path that would select another route once they are read as
/// separators, is refused even when allowed.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RoutePathConfig {
    /// Accept an encoded slash or backslash (`%2F`, `%5C`) in the path. Default false.
    pub allow_encoded_slash: bool,
    /// Accept `;` path parameters (`/files;v=2/x`). Default false.
    pub allow_semicolon: bool,
}

/// Rate limits of a route.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Per client address, checked before authentication.
    pub per_ip: Option<RateConfig>,
    /// Per authenticated user, checked after authentication.
    pub per_user: Option<RateConfig>,
}

/// One token bucket.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    /// Sustained rate.
    pub requests_per_second: f64,
    /// Bucket size: requests allowed at once after idling.
    pub burst: u32,
}

fn yes() -> bool {
    true
}

/// A route's waits on its upstream, in milliseconds. Each must be at least 1.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamTimeoutsConfig {
    /// Establishing the TCP connection (and TLS, when on). Default 5,000.
    pub connect_ms: u64,
    /// Each read of the answer: the wait for its head after the request was sent, and between two reads of its
    /// body. Default 60,000 (nginx's `proxy_read_timeout`).
    pub read_ms: u64,
    /// Each write of the request to the upstream. Default 60,000 (nginx's `proxy_send_timeout`).
    pub write_ms: u64,
}

impl Default for UpstreamTimeoutsConfig {
    fn default() -> Self {
        Self {
            connect_ms: 5_000,
            read_ms: 60_000,
            write_ms: 60_000,
        }
    }
}

/// TLS to an upstream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTlsConfig {
    /// Server name sent in SNI and checked in the certificate. Default: the upstream host.
    #[serde(default)]
    pub sni: Option<String>,
}

/// Response of a switched-off route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DisabledConfig {
    /// 404 (default) or 503.
    pub status: u16,
    /// Human-readable reason in the JSON body.
    pub message: String,
}

impl Default for DisabledConfig {
    fn default() -> Self {
        Self {
            status: 404,
            message: "this API is switched off on this server".into(),
        }
    }
}

/// Authentication mode of a route.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// Credentials required (default).
    Required,
    /// No authentication: a plain passthrough (identity headers are still stripped).
    Off,
}

/// Which credentials are forwarded upstream, on every route (authenticated or `mode: off`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ForwardCredentials {
    /// Remove `Authorization` (default).
    None,
    /// Forward bearer tokens; Basic is still removed.
    Bearer,
    /// Forward `Authorization` as received, Basic passwords included. Rarely right.
    All,
}

/// Authentication settings of a route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteAuthConfig {
    /// `required` (default) or `off`.
    pub mode: AuthMode,
    /// Accepted methods: `basic`, `bearer`. Default both.
    pub methods: Vec<String>,
    /// Providers whose tokens this route accepts. Default: all.
    pub providers: Option<Vec<String>>,
    /// User managers allowed on this route. Default `[ad, aad]`: the platform rule.
    pub allowed_user_managers: Vec<String>,
    /// What to do with `Authorization` upstream: `none` (default), `bearer`, `all`. Applies with `mode: off`
    /// too, so a Basic password is never forwarded unless this says `all`.
    pub forward_credentials: ForwardCredentials,
}

impl Default for RouteAuthConfig {
    fn default() -> Self {
        Self {
            mode: AuthMode::Required,
            methods: vec!["basic".into(), "bearer".into()],
            providers: None,
            allowed_user_managers: vec!["ad".into(), "aad".into()],
            forward_credentials: ForwardCredentials::None,
        }
    }
}
