//! `basic.backend` → the user manager that verifies Basic credentials.

use super::aad::AadDirectory;
use super::ldap::LdapDirectory;
use super::UserDirectory;
use crate::config::{ConfigIssue, DirectoryBackendConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Builds the directory `cfg` describes, reporting invalid settings under `basic.backend.*`. `ad_domain` is
/// `user_managers.ad.domain`; `resolve` makes relative paths absolute.
pub fn build(
    cfg: &DirectoryBackendConfig,
    ad_domain: Option<&str>,
    resolve: impl Fn(&Path) -> PathBuf,
) -> Result<Arc<dyn UserDirectory>, Vec<ConfigIssue>> {
    Ok(match cfg {
        DirectoryBackendConfig::Ldap(ldap) => Arc::new(LdapDirectory::from_config(
            ldap,
            "basic.backend.ldap",
            ad_domain,
            resolve,
        )?),
        DirectoryBackendConfig::Aad(aad) => Arc::new(AadDirectory::from_config(aad, "basic.backend.aad")?),
    })
}

/// One line for `authgate check`: where Basic credentials go (no secrets).
pub fn describe(cfg: &DirectoryBackendConfig) -> String {
    match cfg {
        DirectoryBackendConfig::Ldap(l) => format!(
            "Active Directory over LDAP at {}{} (search base {}, service account {}, pool {})",
            l.url,
            if l.starttls { " with StartTLS" } else { "" },
            l.base_dn,
            l.bind_dn,
            l.pool_size
        ),
        DirectoryBackendConfig::Aad(a) => format!(
            "Azure AD password grant, tenant {} via {}, client {}{}",
            a.tenant,
            a.authority,
            a.client_id,
            match (&a.resource, &a.scope) {
                (Some(r), _) => format!(", resource {r}"),
                (_, Some(s)) => format!(", scope {s}"),
                _ => String::new(),
            }
        ),
    }
}
