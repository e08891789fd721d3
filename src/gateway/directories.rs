//! `basic`: the directories behind Basic authentication (the embedded file, or an LDAP / AAD backend), the
//! bound on password hashing, and the Basic authenticator with its credential cache and lockout. A reload
//! keeps what its settings did not change: the backend (its connection pool), the hashing budget (checks
//! still running count against it), remembered logins and failure counters.

use super::{Gateway, Issues};
use authgate_core::auth::basic::{BasicAuthenticator, BasicSettings, CredentialCache};
use authgate_core::auth::lockout::Lockout;
use authgate_core::auth::HeaderSet;
use authgate_core::config::{ConfigFile, ConfigIssue};
use authgate_core::directory::embedded::EmbeddedDirectory;
use authgate_core::directory::hashing::HashingLimiter;
use authgate_core::directory::people::PeopleIndex;
use authgate_core::directory::UserDirectory;
use authgate_core::identity::{FqnFormats, UserManager};
use authgate_core::metrics::Metrics;
use authgate_core::shared::SharedCounters;
use std::sync::Arc;
use std::time::Duration;

/// What Basic authentication is built with.
pub struct DirectoryContext<'a> {
    /// The configuration file (relative paths resolve against it).
    pub file: &'a ConfigFile,
    /// How identities are named.
    pub fqn: &'a FqnFormats,
    /// Identity header names.
    pub headers: &'a Arc<HeaderSet>,
    /// Where decisions and hashing are counted.
    pub metrics: &'a Arc<Metrics>,
    /// The running gateway on a reload.
    pub previous: Option<&'a Gateway>,
    /// The counters shared by replicas, if configured.
    pub shared: Option<&'a Arc<dyn SharedCounters>>,
}

/// The directories, kept beside the authenticator for the built-in APIs, `check` and the next reload.
pub struct Directories {
    /// The embedded directory's people by FQN (workflow destinations, originator details).
    pub people: Arc<PeopleIndex>,
    /// Users in the embedded directory (for `check`).
    pub users: usize,
    /// The `basic.backend` directory (LDAP, AAD), kept across reloads that do not change it.
    pub backend: Option<Arc<dyn UserDirectory>>,
    /// The bound on concurrent password hashing.
    pub hashing: Arc<HashingLimiter>,
}

/// The directories and, when `basic.enabled`, the Basic authenticator; or every issue of `basic`.
pub fn from_config(ctx: &DirectoryContext) -> Result<(Directories, Option<BasicAuthenticator>), Vec<ConfigIssue>> {
    let cfg = &ctx.file.config;
    let mut issues = Issues::default();
    if cfg.basic.hashing.max_memory_mib == 0 {
        issues.add("basic.hashing.max_memory_mib", "must be at least 1");
    }
    let hashing = match ctx.previous {
        Some(old) if old.config.basic.hashing == cfg.basic.hashing => old.directories.hashing.clone(),
        _ => Arc::new(HashingLimiter::new(&cfg.basic.hashing, ctx.metrics)),
    };
    let mut directories = Directories {
        people: Arc::default(),
        users: 0,
        backend: None,
        hashing,
    };
    if !cfg.basic.enabled {
        return issues.into_result((directories, None));
    }
    let path = ctx.file.resolve(&cfg.basic.directory);
    // With an external backend the embedded file only lists people for the built-in APIs: optional.
    let embedded = match (&cfg.basic.backend, path.exists()) {
        (Some(_), false) => None,
        _ => EmbeddedDirectory::load(&path)
            .map(|dir| dir.with_hashing(directories.hashing.clone()))
            .map_err(|e| issues.add("basic.directory", e.to_string()))
            .ok(),
    };
    if let Some(dir) = &embedded {
        directories.users = dir.len();
        directories.people = Arc::new(PeopleIndex::from_directory(dir, ctx.fqn));
        if cfg.basic.backend.is_none() {
            warn_costlier_than_budget(dir, &directories.hashing);
        }
    }
    let directory: Option<Arc<dyn UserDirectory>> = match &cfg.basic.backend {
        None => embedded.map(|dir| Arc::new(dir) as Arc<dyn UserDirectory>),
        Some(backend) => match ctx.previous.and_then(|old| old.reusable_backend(backend)) {
            Some(same) => Some(same),
            None => {
                let ad_domain = ctx.fqn.get(&UserManager::Ad).domain;
                authgate_core::directory::backend::build(backend, ad_domain.as_deref(), |p| ctx.file.resolve(p))
                    .map_err(|list| issues.0.extend(list))
                    .ok()
            }
        },
    };
    if cfg.basic.backend.is_some() {
        directories.backend = directory.clone();
    }
    // Verified logins and failure counters outlive a reload that leaves their settings alone: a remembered
    // login stays valid while its account's entry is unchanged (the directory's version).
    let before = ctx
        .previous
        .and_then(|old| Some((&old.config, old.proxy.authenticator.basic()?)));
    let credentials = match before {
        Some((old, basic))
            if old.caches.credentials == cfg.caches.credentials && old.user_managers == cfg.user_managers =>
        {
            basic.credentials().clone()
        }
        _ => Arc::new(CredentialCache::new(
            cfg.caches.credentials.capacity,
            Duration::from_secs(cfg.caches.credentials.ttl_seconds),
        )),
    };
    let lockout = match before {
        Some((old, basic)) if old.basic.lockout == cfg.basic.lockout => basic.lockout().clone(),
        _ => Arc::new(Lockout::with_shared(&cfg.basic.lockout, ctx.shared.cloned())),
    };
    let authenticator = directory.map(|directory| {
        BasicAuthenticator::new(
            directory,
            BasicSettings {
                credentials,
                lockout,
                fqn: ctx.fqn.clone(),
            },
            ctx.headers.clone(),
            ctx.metrics.clone(),
        )
    });
    issues.into_result((directories, authenticator))
}

/// Warns about users whose password hash needs more memory than the hashing budget.
fn warn_costlier_than_budget(dir: &EmbeddedDirectory, hashing: &HashingLimiter) {
    for (user, cost) in dir.costlier_than(hashing.budget_kib()) {
        tracing::warn!(
            %user,
            hash_mib = cost / 1024,
            budget_mib = hashing.budget_kib() / 1024,
            "this user's password hash needs more memory than basic.hashing.max_memory_mib: each of its checks \
             runs alone, using more than the budget"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::test_support::config_file;
    use std::path::{Path, PathBuf};

    fn file(dir: &Path, basic: &str) -> ConfigFile {
        config_file(
            &dir.join("gateway.yaml"),
            &format!("listeners: []\nroutes: []\nbasic: {basic}\n"),
        )
    }

    fn build(file: &ConfigFile) -> Result<(Directories, Option<BasicAuthenticator>), Vec<String>> {
        let ctx = DirectoryContext {
            file,
            fqn: &FqnFormats::default(),
            headers: &Arc::new(HeaderSet::from_config(&Default::default()).expect("default names")),
            metrics: &Arc::new(Metrics::new()),
            previous: None,
            shared: None,
        };
        from_config(&ctx).map_err(|found| found.iter().map(ToString::to_string).collect())
    }

    fn write_users(dir: &Path) -> PathBuf {
        let path = dir.join("users.yaml");
        std::fs::write(
            &path,
            "users:\n  - {name: alice, user_manager: ad, password_hash: \"$argon2id$v=19$m=19456,t=2,p=1$mqr+uTBvHYoJAm28AutwaA$jBTgvPMCoYjqKTh67aFg/G977o+eGwO18hYv2Wy+Cws\"}\n",
        )
        .expect("writes");
        path
    }

    #[test]
    fn the_embedded_directory_is_read_relative_to_the_configuration() {
        let dir = tempfile::tempdir().expect("temp dir");
        write_users(dir.path());
        let (directories, basic) = build(&file(dir.path(), "{directory: users.yaml}")).expect("valid");
        assert_eq!(directories.users, 1);
        assert!(basic.is_some());
        assert!(directories.backend.is_none());
    }

    #[test]
    fn a_missing_directory_and_a_zero_hashing_budget_are_reported_together() {
        let dir = tempfile::tempdir().expect("temp dir");
        let found = build(&file(
            dir.path(),
            "{directory: nobody.yaml, hashing: {max_memory_mib: 0}}",
        ))
        .err()
        .expect("invalid");
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0], "basic.hashing.max_memory_mib: must be at least 1");
        assert!(found[1].starts_with("basic.directory: "), "{found:?}");
        assert!(found[1].contains("nobody.yaml"), "names the file: {found:?}");
    }

    #[test]
    fn basic_switched_off_reads_no_directory_and_builds_no_authenticator() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (directories, basic) = build(&file(dir.path(), "{enabled: false, directory: nobody.yaml}")).expect("valid");
        assert!(basic.is_none());
        assert_eq!(directories.users, 0);
    }
}
