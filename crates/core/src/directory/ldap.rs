//! Active Directory over LDAP: search-then-bind.
//!
//! A pooled connection bound as the service account searches the user by `sAMAccountName` or
//! `userPrincipalName` (the login escaped per RFC 4515, so `*`, `(`, `)`, `\` and NUL match literally), then
//! binds as the DN it found with the supplied password. The search is [`UserDirectory::resolve`] (the account
//! failures are counted against is the entry's `sAMAccountName`, whichever login form found it), the bind is
//! [`Login::verify`], each on a pooled connection. Group names come from `memberOf`, and
//! `userAccountControl` bit 2 (ACCOUNTDISABLE) refuses the login after the password was proven. An empty
//! password is refused before any bind: LDAP treats it as an anonymous ("unauthenticated") bind, which
//! succeeds. A server that cannot be reached or does not answer in time is [`DirectoryError::Unavailable`]
//! (503), never a pass.

use super::{instance_version, AccountKey, DirectoryError, DirectoryUser, Login, UserDirectory};
use crate::config::{ConfigIssue, LdapAttributesConfig, LdapConfig};
use crate::identity::UserManager;
use async_trait::async_trait;
use ldap3::{ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, SearchOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};
use zeroize::Zeroizing;

/// LDAP result code `invalidCredentials` (RFC 4511).
const INVALID_CREDENTIALS: u32 = 49;
/// LDAP result code `sizeLimitExceeded`: more than one entry matched.
const SIZE_LIMIT_EXCEEDED: u32 = 4;
/// `userAccountControl` ACCOUNTDISABLE.
const ACCOUNT_DISABLE: u64 = 0x2;
/// AD sub-codes in an invalidCredentials diagnostic (`..., data 533, ...`) that mean the password was right
/// but the account may not log in: disabled, expired, locked out.
const AD_REFUSED_ACCOUNT: [&str; 3] = ["533", "701", "775"];

/// The AD user manager: verifies Basic credentials against an LDAP directory.
pub struct LdapDirectory {
    url: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    starttls: bool,
    bind_dn: String,
    bind_password: Zeroizing<String>,
    base_dn: String,
    user_filter: String,
    domain: Option<String>,
    attributes: LdapAttributesConfig,
    connect_timeout: Duration,
    timeout: Duration,
    pool: Pool,
    version: u64,
}

impl std::fmt::Debug for LdapDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapDirectory")
            .field("url", &self.url)
            .field("bind_dn", &self.bind_dn)
            .field("base_dn", &self.base_dn)
            .finish_non_exhaustive()
    }
}

impl LdapDirectory {
    /// Checks `cfg` (paths under `at`, e.g. `basic.backend.ldap`) and builds the directory. Connects to
    /// nothing: connections open on first use. `resolve` makes relative file paths absolute; `default_domain`
    /// is `user_managers.ad.domain`.
    pub fn from_config(
        cfg: &LdapConfig,
        at: &str,
        default_domain: Option<&str>,
        resolve: impl Fn(&Path) -> PathBuf,
    ) -> Result<Self, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let mut issue = |field: &str, message: String| issues.push(ConfigIssue::new(format!("{at}.{field}"), message));
        let scheme = url::Url::parse(&cfg.url)
            .ok()
            .filter(|u| u.host_str().is_some())
            .map(|u| u.scheme().to_string());
        match scheme.as_deref() {
            Some("ldap") | Some("ldaps") => {}
            _ => issue(
                "url",
                format!("'{}' is not an ldap://host[:port] or ldaps://host[:port] URL", cfg.url),
            ),
        }
        let ldaps = scheme.as_deref() == Some("ldaps");
        if ldaps && cfg.starttls {
            issue(
                "starttls",
                "ldaps:// is TLS already; StartTLS applies to ldap:// only".into(),
            );
        }
        if cfg.bind_dn.trim().is_empty() {
            issue("bind_dn", "name the service account that searches for users".into());
        }
        if cfg.bind_password.is_empty() {
            issue(
                "bind_password",
                "must not be empty (an empty password is an anonymous bind); write ${LDAP_BIND_PASSWORD}".into(),
            );
        }
        if cfg.base_dn.trim().is_empty() {
            issue("base_dn", "name the search base, e.g. DC=contoso,DC=com".into());
        }
        let filter = cfg.user_filter.trim();
        if !(filter.starts_with('(') && filter.ends_with(')') && filter.contains("{user}")) {
            issue(
                "user_filter",
                "must be a parenthesised LDAP filter containing {user}, e.g. (sAMAccountName={user})".into(),
            );
        }
        if cfg.domain.as_deref().is_some_and(|d| d.is_empty() || d.contains('\\')) {
            issue("domain", "must be a NetBIOS domain name such as CONTOSO".into());
        }
        if cfg.connect_timeout_seconds == 0 {
            issue("connect_timeout_seconds", "must be at least 1".into());
        }
        if cfg.timeout_seconds == 0 {
            issue("timeout_seconds", "must be at least 1".into());
        }
        if !(1..=256).contains(&cfg.pool_size) {
            issue("pool_size", "must be between 1 and 256".into());
        }
        let tls = if ldaps || cfg.starttls {
            match tls_config(cfg.ca_file.as_deref().map(&resolve).as_deref()) {
                Ok(config) => Some(config),
                Err(message) => {
                    issue("ca_file", message);
                    None
                }
            }
        } else {
            if cfg.ca_file.is_some() {
                issue("ca_file", "applies to ldaps:// or starttls: true only".into());
            }
            None
        };
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(Self {
            url: cfg.url.clone(),
            tls,
            starttls: cfg.starttls,
            bind_dn: cfg.bind_dn.clone(),
            bind_password: Zeroizing::new(cfg.bind_password.expose().to_string()),
            base_dn: cfg.base_dn.clone(),
            user_filter: filter.to_string(),
            domain: cfg.domain.clone().or_else(|| default_domain.map(str::to_string)),
            attributes: cfg.attributes.clone(),
            connect_timeout: Duration::from_secs(cfg.connect_timeout_seconds),
            timeout: Duration::from_secs(cfg.timeout_seconds),
            pool: Pool::new(cfg.pool_size),
            version: instance_version(),
        })
    }

    /// The search filter for `login` (`alice`, `alice@contoso.com` or `DOMAIN\alice`), or `None` when the
    /// login cannot name a user here (another domain, empty name, control characters).
    pub fn filter_for(&self, login: &str) -> Option<String> {
        let name = match login.split_once('\\') {
            None => login,
            Some((domain, name)) => match &self.domain {
                Some(ours) if ours.eq_ignore_ascii_case(domain) => name,
                _ => return None,
            },
        };
        if name.is_empty() || name.chars().any(char::is_control) {
            return None;
        }
        Some(self.user_filter.replace("{user}", &ldap_escape(name)))
    }

    async fn connect(&self) -> Result<Ldap, Failure> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.connect_timeout)
            .set_starttls(self.starttls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        let (conn, ldap) =
            tokio::time::timeout(self.connect_timeout, LdapConnAsync::with_settings(settings, &self.url))
                .await
                .map_err(|_| {
                    Failure::Transport(format!(
                        "no connection to {} within {}s",
                        self.url,
                        self.connect_timeout.as_secs()
                    ))
                })?
                .map_err(|e| Failure::Transport(format!("cannot connect to {}: {e}", self.url)))?;
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(error = %e, "LDAP connection ended");
            }
        });
        Ok(ldap)
    }

    /// Takes a connection: an idle one from the pool, or a new one.
    async fn lease(&self) -> Result<Lease<'_>, Failure> {
        let permit = tokio::time::timeout(self.timeout, self.pool.slots.acquire())
            .await
            .map_err(|_| {
                Failure::Transport(format!(
                    "all {} LDAP connections stayed busy for {}s",
                    self.pool.size,
                    self.timeout.as_secs()
                ))
            })?
            .map_err(|_| Failure::Transport("the LDAP connection pool is closed".into()))?;
        let idle = self.pool.take_idle();
        let reused = idle.is_some();
        let conn = match idle {
            Some(conn) => conn,
            None => Conn {
                ldap: self.connect().await?,
                service_bound: false,
            },
        };
        Ok(Lease {
            pool: &self.pool,
            conn: Some(conn),
            reused,
            _permit: permit,
        })
    }

    async fn bind_service(&self, conn: &mut Conn) -> Result<(), Failure> {
        let result = conn
            .ldap
            .with_timeout(self.timeout)
            .simple_bind(&self.bind_dn, &self.bind_password)
            .await
            .map_err(|e| self.transport("service account bind", e))?;
        match result.rc {
            0 => {
                conn.service_bound = true;
                Ok(())
            }
            INVALID_CREDENTIALS => Err(Failure::Refused(
                "the LDAP server refused the service account (check basic.backend.ldap.bind_dn and bind_password)"
                    .into(),
            )),
            rc => Err(Failure::Refused(format!(
                "the LDAP server refused the service account bind (result code {rc})"
            ))),
        }
    }

    fn transport(&self, what: &str, e: ldap3::LdapError) -> Failure {
        match e {
            ldap3::LdapError::Timeout { .. } => Failure::Transport(format!(
                "{what}: the LDAP server at {} did not answer within {}s",
                self.url,
                self.timeout.as_secs()
            )),
            other => Failure::Transport(format!("{what} at {}: {other}", self.url)),
        }
    }

    /// Searches the user `filter` selects on a service-bound connection: `None` when no entry, or more than
    /// one, matches.
    async fn search(&self, conn: &mut Conn, filter: &str) -> Result<Option<Found>, Failure> {
        if !conn.service_bound {
            self.bind_service(conn).await?;
        }
        let a = &self.attributes;
        let attrs = [
            a.login.as_str(),
            a.email.as_str(),
            a.display_name.as_str(),
            a.groups.as_str(),
            a.account_control.as_str(),
        ];
        let ldap3::SearchResult(entries, result) = conn
            .ldap
            .with_timeout(self.timeout)
            .with_search_options(SearchOptions::new().sizelimit(2))
            .search(&self.base_dn, Scope::Subtree, filter, attrs.to_vec())
            .await
            .map_err(|e| self.transport("user search", e))?;
        if result.rc != 0 && result.rc != SIZE_LIMIT_EXCEEDED {
            return Err(Failure::Refused(format!(
                "the user search under '{}' failed with LDAP result code {} ({})",
                self.base_dn,
                result.rc,
                result.text.lines().next().unwrap_or_default()
            )));
        }
        // AD answers subtree searches at a domain root with continuation references too; only entries count.
        let mut found: Vec<_> = entries
            .into_iter()
            .filter(|e| !e.is_ref() && !e.is_intermediate())
            .collect();
        if found.len() != 1 {
            if found.len() > 1 {
                tracing::warn!(
                    base = %self.base_dn,
                    "more than one LDAP entry matches one login; refusing it (tighten basic.backend.ldap.user_filter)"
                );
            }
            return Ok(None);
        }
        let Some(entry) = found.pop().and_then(construct) else {
            return Err(Failure::Refused(
                "the LDAP server sent an entry that cannot be decoded".into(),
            ));
        };
        let first = |name: &str| attribute(&entry, name).and_then(|v| v.first().cloned());
        let flags = first(&a.account_control)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(0);
        let groups = attribute(&entry, &a.groups)
            .map(|dns| dns.iter().filter_map(|dn| first_rdn_value(dn)).collect())
            .unwrap_or_default();
        let name = first(&a.login);
        Ok(Some(Found {
            key: AccountKey::account(name.as_deref().unwrap_or(&entry.dn)),
            disabled: (flags as u64) & ACCOUNT_DISABLE != 0,
            user: DirectoryUser {
                name: name.unwrap_or_else(|| entry.dn.clone()),
                user_manager: UserManager::Ad,
                domain: self.domain.clone(),
                email: first(&a.email),
                display_name: first(&a.display_name),
                groups,
                mfa: false,
                manager: None,
                tenant: None,
            },
            dn: entry.dn,
        }))
    }

    /// Binds as `dn` with `password`: the password check.
    async fn bind_user(&self, conn: &mut Conn, dn: &str, password: &str) -> Result<(), Failure> {
        // From here on the connection is bound as the user (or anonymous after a failed bind).
        conn.service_bound = false;
        let bind = conn
            .ldap
            .with_timeout(self.timeout)
            .simple_bind(dn, password)
            .await
            .map_err(|e| self.transport("user bind", e))?;
        match bind.rc {
            0 => Ok(()),
            INVALID_CREDENTIALS if ad_refused_account(&bind.text) => Err(Failure::Directory(DirectoryError::Disabled)),
            INVALID_CREDENTIALS => Err(Failure::Directory(DirectoryError::InvalidCredentials)),
            rc => {
                tracing::info!(rc, "LDAP user bind refused");
                Err(Failure::Directory(DirectoryError::InvalidCredentials))
            }
        }
    }

    /// Runs `step` on a pooled connection. A pooled connection the server has closed meanwhile fails on first
    /// use: one retry on a new one.
    async fn run(&self, step: Step<'_>) -> Result<Done, DirectoryError> {
        let mut outcome = Err(Failure::Transport("no LDAP connection".into()));
        for retry in [true, false] {
            let mut lease = match self.lease().await {
                Ok(lease) => lease,
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            };
            outcome = match step {
                Step::Search(filter) => self
                    .search(lease.conn(), filter)
                    .await
                    .map(|found| Done::Searched(found.map(Box::new))),
                Step::Bind { dn, password } => self.bind_user(lease.conn(), dn, password).await.map(|()| Done::Bound),
            };
            if matches!(outcome, Err(Failure::Transport(_) | Failure::Refused(_))) {
                lease.discard();
            }
            if !(retry && lease.reused && matches!(outcome, Err(Failure::Transport(_)))) {
                break;
            }
        }
        outcome.map_err(|failure| match failure {
            Failure::Directory(e) => e,
            Failure::Transport(reason) | Failure::Refused(reason) => {
                tracing::warn!(%reason, "LDAP directory unavailable");
                DirectoryError::Unavailable(reason)
            }
        })
    }
}

#[async_trait]
impl UserDirectory for LdapDirectory {
    async fn resolve<'a>(&'a self, login: &str) -> Result<Box<dyn Login + 'a>, DirectoryError> {
        let found = match self.filter_for(login) {
            None => None,
            Some(filter) => match self.run(Step::Search(&filter)).await? {
                Done::Searched(found) => found.map(|found| *found),
                Done::Bound => None,
            },
        };
        Ok(Box::new(LdapLogin {
            directory: self,
            key: found
                .as_ref()
                .map_or_else(|| AccountKey::unknown(login), |f| f.key.clone()),
            found,
        }))
    }

    fn version(&self, _account: &AccountKey) -> Option<u64> {
        Some(self.version)
    }
}

/// A user entry found by the search, before its password is checked.
struct Found {
    dn: String,
    key: AccountKey,
    user: DirectoryUser,
    /// `userAccountControl` ACCOUNTDISABLE, reported only once the password is proven.
    disabled: bool,
}

/// What [`LdapDirectory::run`] does on a connection.
#[derive(Clone, Copy)]
enum Step<'s> {
    Search(&'s str),
    Bind { dn: &'s str, password: &'s str },
}

/// What a step produced.
enum Done {
    Searched(Option<Box<Found>>),
    Bound,
}

/// A login resolved by the search: the entry found, if exactly one was.
struct LdapLogin<'a> {
    directory: &'a LdapDirectory,
    key: AccountKey,
    found: Option<Found>,
}

#[async_trait]
impl Login for LdapLogin<'_> {
    fn account(&self) -> &AccountKey {
        &self.key
    }

    async fn verify(self: Box<Self>, password: &str) -> Result<DirectoryUser, DirectoryError> {
        // An empty password is an anonymous bind to LDAP, which succeeds: never send one.
        let (Some(found), false) = (self.found, password.is_empty()) else {
            return Err(DirectoryError::InvalidCredentials);
        };
        self.directory
            .run(Step::Bind {
                dn: &found.dn,
                password,
            })
            .await?;
        if found.disabled {
            return Err(DirectoryError::Disabled);
        }
        Ok(found.user)
    }
}

/// Why an attempt did not produce a user.
enum Failure {
    /// A verdict about the credentials.
    Directory(DirectoryError),
    /// The connection failed or timed out: the server may be down, or a pooled connection stale.
    Transport(String),
    /// The server answered, but refused the gateway itself (service account, search base).
    Refused(String),
}

struct Conn {
    ldap: Ldap,
    service_bound: bool,
}

/// Idle connections and the permits that bound how many exist at once.
struct Pool {
    idle: Mutex<Vec<Conn>>,
    slots: Semaphore,
    size: usize,
}

impl Pool {
    fn new(size: usize) -> Self {
        Self {
            idle: Mutex::new(Vec::with_capacity(size)),
            slots: Semaphore::new(size),
            size,
        }
    }

    fn take_idle(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(mut conn) = idle.pop() {
            if !conn.ldap.is_closed() {
                return Some(conn);
            }
        }
        None
    }
}

/// A connection out of the pool; it goes back when dropped unless discarded.
struct Lease<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
    reused: bool,
    _permit: SemaphorePermit<'a>,
}

impl Lease<'_> {
    fn conn(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until dropped or discarded")
    }

    fn discard(&mut self) {
        self.conn = None;
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.idle.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
        }
    }
}

/// `SearchEntry::construct` panics on malformed BER; a broken server answer must not take a worker down.
fn construct(entry: ldap3::ResultEntry) -> Option<SearchEntry> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| SearchEntry::construct(entry))).ok()
}

/// Attribute values by case-insensitive name (servers may return `memberof` for `memberOf`).
fn attribute<'e>(entry: &'e SearchEntry, name: &str) -> Option<&'e Vec<String>> {
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn ad_refused_account(diagnostic: &str) -> bool {
    let code = diagnostic
        .split(',')
        .find_map(|part| part.trim().strip_prefix("data "))
        .map(str::trim);
    code.is_some_and(|c| AD_REFUSED_ACCOUNT.contains(&c))
}

/// The value of the first RDN of `dn` (`CN=Smith\, John,OU=x` → `Smith, John`), RFC 4514 escapes decoded.
pub fn first_rdn_value(dn: &str) -> Option<String> {
    let (_, rest) = dn.split_once('=')?;
    let mut out = Vec::new();
    let mut bytes = rest.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b',' | b'+' => break,
            b'\\' => {
                let next = bytes.next()?;
                let hex = |c: u8| (c as char).to_digit(16);
                match hex(next) {
                    Some(high) => {
                        let low = hex(bytes.next()?)?;
                        out.push((high * 16 + low) as u8);
                    }
                    None => out.push(next),
                }
            }
            b => out.push(b),
        }
    }
    let value = String::from_utf8(out).ok()?.trim().to_string();
    (!value.is_empty()).then_some(value)
}

/// rustls client settings with the aws-lc provider, trusting `ca_file` or else the system roots.
fn tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{} is not a PEM certificate bundle: {e}", path.display()))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!("{} holds no usable CA certificate", path.display()));
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS settings: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn config() -> LdapConfig {
        LdapConfig {
            url: "ldap://127.0.0.1:1".into(),
            starttls: false,
            ca_file: None,
            bind_dn: "cn=svc,dc=contoso,dc=com".into(),
            bind_password: Secret::new("svc-pw"),
            base_dn: "dc=contoso,dc=com".into(),
            user_filter: "(&(objectClass=user)(|(sAMAccountName={user})(userPrincipalName={user})))".into(),
            domain: Some("CONTOSO".into()),
            attributes: LdapAttributesConfig::default(),
            connect_timeout_seconds: 1,
            timeout_seconds: 1,
            pool_size: 2,
        }
    }

    fn directory() -> LdapDirectory {
        LdapDirectory::from_config(&config(), "basic.backend.ldap", None, Path::to_path_buf).unwrap()
    }

    #[test]
    fn logins_are_escaped_per_rfc4515() {
        let dir = directory();
        assert_eq!(
            dir.filter_for("alice").unwrap(),
            "(&(objectClass=user)(|(sAMAccountName=alice)(userPrincipalName=alice)))"
        );
        assert_eq!(
            dir.filter_for("CONTOSO\\*)(cn=*").unwrap(),
            "(&(objectClass=user)(|(sAMAccountName=\\2a\\29\\28cn=\\2a)(userPrincipalName=\\2a\\29\\28cn=\\2a)))"
        );
        assert!(dir.filter_for("contoso\\bob").unwrap().contains("sAMAccountName=bob"));
        assert_eq!(dir.filter_for("EVIL\\bob"), None, "another domain");
        assert_eq!(dir.filter_for("CONTOSO\\"), None);
        assert_eq!(dir.filter_for("a\u{0}b"), None);
    }

    #[tokio::test]
    async fn empty_password_is_refused_without_a_bind() {
        // The URL points at a closed port: reaching the network would be Unavailable, not InvalidCredentials.
        let dir = directory();
        let login = Box::new(LdapLogin {
            directory: &dir,
            key: AccountKey::account("alice"),
            found: Some(Found {
                dn: "cn=Alice,dc=contoso,dc=com".into(),
                key: AccountKey::account("alice"),
                user: DirectoryUser {
                    name: "alice".into(),
                    user_manager: UserManager::Ad,
                    domain: None,
                    email: None,
                    display_name: None,
                    groups: vec![],
                    mfa: false,
                    manager: None,
                    tenant: None,
                },
                disabled: false,
            }),
        });
        assert_eq!(login.verify("").await, Err(DirectoryError::InvalidCredentials));
    }

    #[tokio::test]
    async fn a_login_for_another_domain_resolves_without_a_search_and_fails() {
        let dir = directory();
        let login = dir.resolve("EVIL\\Alice").await.unwrap();
        assert_eq!(login.account(), &AccountKey::unknown("alice"));
        assert_eq!(login.verify("pw").await, Err(DirectoryError::InvalidCredentials));
    }

    #[tokio::test]
    async fn unreachable_server_is_unavailable_and_names_no_secret() {
        let err = directory().authenticate("alice", "alice-pw").await.unwrap_err();
        let DirectoryError::Unavailable(reason) = err else {
            panic!("{err:?}");
        };
        assert!(reason.contains("127.0.0.1:1"), "{reason}");
        assert!(!reason.contains("svc-pw") && !reason.contains("alice-pw"), "{reason}");
    }

    #[test]
    fn invalid_settings_are_reported_with_paths() {
        let mut cfg = config();
        cfg.url = "http://dc".into();
        cfg.bind_password = Secret::new("");
        cfg.user_filter = "(uid=alice)".into();
        cfg.pool_size = 0;
        let issues = LdapDirectory::from_config(&cfg, "basic.backend.ldap", None, Path::to_path_buf).unwrap_err();
        let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
        for field in ["url", "bind_password", "user_filter", "pool_size"] {
            assert!(
                paths.contains(&format!("basic.backend.ldap.{field}").as_str()),
                "{paths:?}"
            );
        }
    }

    #[test]
    fn group_names_come_from_the_first_rdn() {
        assert_eq!(
            first_rdn_value("CN=Finance,OU=Groups,DC=contoso,DC=com").as_deref(),
            Some("Finance")
        );
        assert_eq!(first_rdn_value("cn=Smith\\, John,ou=x").as_deref(), Some("Smith, John"));
        assert_eq!(first_rdn_value("cn=caf\\c3\\a9,dc=x").as_deref(), Some("café"));
        assert_eq!(first_rdn_value("garbage"), None);
    }

    #[test]
    fn ad_bind_diagnostics_for_refused_accounts() {
        let text = "80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data 533, v3839";
        assert!(ad_refused_account(text));
        assert!(!ad_refused_account(&text.replace("533", "52e")));
        assert!(!ad_refused_account(""));
    }
}
