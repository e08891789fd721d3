//! `basic.backend`: the user manager that verifies Basic credentials when it is not the embedded directory.
//! Active Directory over LDAP (`ldap`) or Azure AD through the resource-owner password grant (`aad`).
//! Runtime forms are built (and checked, with field paths) by the `directory` module.

use super::secret::Secret;
use serde::Deserialize;
use std::path::PathBuf;

/// Where Basic credentials are verified. Absent: the embedded directory (`basic.directory`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DirectoryBackendConfig {
    /// Active Directory (or any LDAP server with AD-like attributes): search with a service account, then
    /// bind as the user found.
    Ldap(LdapConfig),
    /// Azure AD / Entra ID: OAuth 2.0 resource-owner password grant at the tenant's token endpoint.
    Aad(AadDirectoryConfig),
}

/// Active Directory over LDAP.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `ldap://host:389` or `ldaps://host:636`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS before binding. Default false.
    #[serde(default)]
    pub starttls: bool,
    /// PEM bundle of CAs trusted for `ldaps://` and StartTLS. Default: the system roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The service account that searches for users, e.g. `CN=svc-authgate,OU=Service,DC=contoso,DC=com`.
    pub bind_dn: String,
    /// Its password. Write `${LDAP_BIND_PASSWORD}`: never in the file itself.
    pub bind_password: Secret,
    /// Where users are searched (subtree), e.g. `DC=contoso,DC=com`.
    pub base_dn: String,
    /// Search filter; `{user}` is replaced by the login name, escaped per RFC 4515. Default
    /// `(&(objectClass=user)(|(sAMAccountName={user})(userPrincipalName={user})))`.
    #[serde(default = "default_user_filter")]
    pub user_filter: String,
    /// NetBIOS domain (`CONTOSO`): logins `CONTOSO\alice` are accepted and FQNs read `K2:CONTOSO\alice`.
    /// Default: `user_managers.ad.domain`.
    #[serde(default)]
    pub domain: Option<String>,
    /// Attribute names, AD's by default.
    #[serde(default)]
    pub attributes: LdapAttributesConfig,
    /// Timeout of establishing one connection (TCP and TLS). Default 5.
    #[serde(default = "default_five")]
    pub connect_timeout_seconds: u64,
    /// Timeout of one LDAP operation (bind, search). Default 5.
    #[serde(default = "default_five")]
    pub timeout_seconds: u64,
    /// Connections kept open and reused (also the most opened at once). Default 8.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
}

/// LDAP attribute names.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LdapAttributesConfig {
    /// The login name forwarded in the FQN. Default `sAMAccountName`.
    pub login: String,
    /// E-mail. Default `mail`.
    pub email: String,
    /// Display name. Default `displayName`.
    pub display_name: String,
    /// Group DNs; the first RDN value of each is the group name. Default `memberOf`.
    pub groups: String,
    /// AD account flags; bit 2 (ACCOUNTDISABLE) refuses the login. Default `userAccountControl`.
    pub account_control: String,
}

impl Default for LdapAttributesConfig {
    fn default() -> Self {
        Self {
            login: "sAMAccountName".into(),
            email: "mail".into(),
            display_name: "displayName".into(),
            groups: "memberOf".into(),
            account_control: "userAccountControl".into(),
        }
    }
}

fn default_user_filter() -> String {
    "(&(objectClass=user)(|(sAMAccountName={user})(userPrincipalName={user})))".into()
}
fn default_five() -> u64 {
    5
}
fn default_pool_size() -> usize {
    8
}

/// Azure AD through the resource-owner password credentials grant.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AadDirectoryConfig {
    /// Tenant id (GUID) or verified domain (`contoso.onmicrosoft.com`).
    pub tenant: String,
    /// The authority host. Default `https://login.microsoftonline.com`.
    #[serde(default = "default_authority")]
    pub authority: String,
    /// The application (client) id registered in the tenant.
    pub client_id: String,
    /// Its client secret, for confidential clients. Write `${AAD_CLIENT_SECRET}`.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// v1 endpoint (`/oauth2/token`): the resource the token is requested for, e.g. `https://api.k2.com/`.
    #[serde(default)]
    pub resource: Option<String>,
    /// v2 endpoint (`/oauth2/v2.0/token`): the scope, e.g. `https://api.k2.com/.default openid`.
    /// Exactly one of `resource` and `scope`.
    #[serde(default)]
    pub scope: Option<String>,
    /// Timeout of one token request. Default 10.
    #[serde(default = "default_ten")]
    pub timeout_seconds: u64,
}

fn default_authority() -> String {
    "https://login.microsoftonline.com".into()
}
fn default_ten() -> u64 {
    10
}
