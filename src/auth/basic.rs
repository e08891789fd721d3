//! Basic authentication: lockout check, verified-credential cache, then the directory.
//!
//! The cache key is an HMAC (key generated at start-up, never stored) of user name and password, so the
//! cache holds no password and a memory dump does not give one away; a hit skips the argon2 check and costs
//! microseconds.

use super::credentials::BasicCredentials;
use super::errors::AuthError;
use super::identity::{AuthMethod, FqnFormat, Identity, UserManager};
use super::lockout::Lockout;
use super::{Authenticated, HeaderSet};
use crate::directory::{DirectoryError, DirectoryUser, UserDirectory};
use crate::metrics::Metrics;
use aws_lc_rs::hmac;
use moka::sync::Cache;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// FQN formats by user manager, with defaults for managers not configured.
#[derive(Debug, Clone, Default)]
pub struct FqnFormats(HashMap<UserManager, FqnFormat>);

impl FqnFormats {
    /// From configured formats.
    pub fn new(formats: HashMap<UserManager, FqnFormat>) -> Self {
        Self(formats)
    }

    /// The format of `manager`.
    pub fn get(&self, manager: &UserManager) -> FqnFormat {
        self.0
            .get(manager)
            .cloned()
            .unwrap_or_else(|| FqnFormat::default_for(manager))
    }
}

/// Basic authentication against one directory.
pub struct BasicAuthenticator {
    directory: Arc<dyn UserDirectory>,
    cache: Option<Cache<[u8; 32], Arc<Authenticated>>>,
    cache_key: hmac::Key,
    lockout: Lockout,
    fqn: FqnFormats,
    headers: Arc<HeaderSet>,
    metrics: Arc<Metrics>,
}

/// Settings of the Basic authenticator.
pub struct BasicSettings {
    /// Credential cache capacity (0 disables).
    pub cache_capacity: u64,
    /// Credential cache entry life.
    pub cache_ttl: Duration,
    /// Lockout.
    pub lockout: Lockout,
    /// FQN formats.
    pub fqn: FqnFormats,
}

impl BasicAuthenticator {
    /// Builds the authenticator.
    pub fn new(
        directory: Arc<dyn UserDirectory>,
        settings: BasicSettings,
        headers: Arc<HeaderSet>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let cache_key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).expect("system randomness for the cache key");
        let cache = (settings.cache_capacity > 0).then(|| {
            Cache::builder()
                .max_capacity(settings.cache_capacity)
                .time_to_live(settings.cache_ttl.max(Duration::from_millis(1)))
                .build()
        });
        Self {
            directory,
            cache,
            cache_key,
            lockout: settings.lockout,
            fqn: settings.fqn,
            headers,
            metrics,
        }
    }

    fn key_of(&self, creds: &BasicCredentials) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.cache_key);
        ctx.update(&(creds.user.len() as u64).to_le_bytes());
        ctx.update(creds.user.as_bytes());
        ctx.update(creds.password.as_bytes());
        let tag = ctx.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Authenticates `creds` from `client_ip`.
    pub async fn authenticate(
        &self,
        creds: &BasicCredentials,
        client_ip: Option<IpAddr>,
    ) -> Result<Arc<Authenticated>, AuthError> {
        self.lockout.check(&creds.user, client_ip)?;
        let key = self.key_of(creds);
        if let Some(cache) = &self.cache {
            if let Some(hit) = cache.get(&key) {
                self.metrics.credential_cache_hits.inc();
                return Ok(hit);
            }
            self.metrics.credential_cache_misses.inc();
        }
        match self.directory.authenticate(&creds.user, &creds.password).await {
            Ok(user) => {
                self.lockout.record_success(&creds.user);
                let identity = self.identity_of(user);
                let headers = self.headers.render(&identity);
                let authenticated = Arc::new(Authenticated::new(identity, headers));
                if let Some(cache) = &self.cache {
                    cache.insert(key, authenticated.clone());
                }
                Ok(authenticated)
            }
            Err(DirectoryError::InvalidCredentials) => {
                self.lockout.record_failure(&creds.user, client_ip);
                Err(AuthError::InvalidUserOrPassword)
            }
            Err(DirectoryError::Disabled) => Err(AuthError::AccountDisabled),
            Err(DirectoryError::MfaRequired) => Err(AuthError::MfaRequiresOAuth),
            Err(DirectoryError::ConsentRequired(what)) => Err(AuthError::ConsentRequired(what)),
            Err(DirectoryError::Unavailable(reason)) => Err(AuthError::Unavailable(format!(
                "the user directory is unavailable ({reason}); try again later"
            ))),
        }
    }

    fn identity_of(&self, user: DirectoryUser) -> Identity {
        let fqn = self.fqn.get(&user.user_manager).fqn(&user.name, user.domain.as_deref());
        Identity {
            fqn,
            user_manager: user.user_manager,
            auth_method: AuthMethod::Basic,
            email: user.email,
            display_name: user.display_name,
            groups: user.groups,
            mfa: user.mfa,
            tenant: user.tenant,
            scopes: Vec::new(),
            roles: Vec::new(),
            provider: None,
            name: user.name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HeaderNamesConfig, LockoutConfig};
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use zeroize::Zeroizing;

    struct CountingDirectory(AtomicUsize);

    #[async_trait]
    impl UserDirectory for CountingDirectory {
        async fn authenticate(&self, user: &str, password: &str) -> Result<DirectoryUser, DirectoryError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            if password != "pw" {
                return Err(DirectoryError::InvalidCredentials);
            }
            Ok(DirectoryUser {
                name: user.into(),
                user_manager: UserManager::Ad,
                domain: Some("CONTOSO".into()),
                email: None,
                display_name: None,
                groups: vec![],
                mfa: false,
                manager: None,
                tenant: None,
            })
        }
    }

    fn authenticator(dir: Arc<CountingDirectory>) -> BasicAuthenticator {
        BasicAuthenticator::new(
            dir,
            BasicSettings {
                cache_capacity: 100,
                cache_ttl: Duration::from_secs(60),
                lockout: Lockout::new(&LockoutConfig {
                    max_failures_per_user: 2,
                    ..Default::default()
                }),
                fqn: FqnFormats::default(),
            },
            Arc::new(HeaderSet::from_config(&HeaderNamesConfig::default()).unwrap()),
            Arc::new(Metrics::new()),
        )
    }

    fn creds(user: &str, password: &str) -> BasicCredentials {
        BasicCredentials {
            user: user.into(),
            password: Zeroizing::new(password.into()),
        }
    }

    #[tokio::test]
    async fn success_is_cached_and_wrong_password_is_not() {
        let dir = Arc::new(CountingDirectory(AtomicUsize::new(0)));
        let auth = authenticator(dir.clone());
        let first = auth.authenticate(&creds("alice", "pw"), None).await.unwrap();
        assert_eq!(first.identity.fqn, "K2:CONTOSO\\alice");
        auth.authenticate(&creds("alice", "pw"), None).await.unwrap();
        assert_eq!(dir.0.load(Ordering::SeqCst), 1, "second call served from cache");
        assert_eq!(
            auth.authenticate(&creds("alice", "px"), None).await.err(),
            Some(AuthError::InvalidUserOrPassword)
        );
        assert_eq!(
            dir.0.load(Ordering::SeqCst),
            2,
            "a different password is a different key"
        );
    }

    #[tokio::test]
    async fn lockout_refuses_even_the_right_password() {
        let dir = Arc::new(CountingDirectory(AtomicUsize::new(0)));
        let auth = authenticator(dir);
        for _ in 0..2 {
            let _ = auth.authenticate(&creds("bob", "bad"), None).await;
        }
        assert!(matches!(
            auth.authenticate(&creds("bob", "pw"), None).await,
            Err(AuthError::LockedOut { .. })
        ));
    }
}
