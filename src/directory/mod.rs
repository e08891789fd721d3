//! User managers that verify Basic credentials. The embedded directory (`policies/users.yaml`) is the
//! default; Active Directory over LDAP ([`ldap`]) and Azure AD through the resource-owner password grant
//! ([`aad`]) plug in behind the same trait, chosen by `basic.backend` ([`backend`]).

pub mod aad;
pub mod backend;
pub mod consent;
pub mod embedded;
pub mod hashing;
pub mod ldap;
pub mod people;

use crate::auth::identity::UserManager;
use async_trait::async_trait;
use thiserror::Error;

/// A user as a directory describes it after a successful login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    /// Canonical login name (`alice`, `alice@contoso.com`).
    pub name: String,
    /// The user manager the account belongs to.
    pub user_manager: UserManager,
    /// AD domain, when the directory names one for this user.
    pub domain: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Group names.
    pub groups: Vec<String>,
    /// Whether multi-factor authentication is enabled on the account.
    pub mfa: bool,
    /// The user's manager (login name), for workflow destinations.
    pub manager: Option<String>,
    /// Azure AD tenant id, when the directory names one.
    pub tenant: Option<String>,
}

/// Why a directory refused a login.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum DirectoryError {
    /// Unknown user or wrong password (indistinguishable on purpose).
    #[error("invalid user name or password")]
    InvalidCredentials,
    /// The account exists, the password is right, but it is disabled.
    #[error("account disabled")]
    Disabled,
    /// The password is right, but the account must use multi-factor authentication (Azure AD), which
    /// Basic cannot carry.
    #[error("multi-factor authentication required")]
    MfaRequired,
    /// The directory refuses the gateway's application until an administrator grants consent (Azure AD).
    /// The message tells the operator what to do; it names no secret.
    #[error("{0}")]
    ConsentRequired(String),
    /// The directory cannot be reached, or refuses the gateway itself: never a pass.
    #[error("directory unavailable: {0}")]
    Unavailable(String),
}

/// A user manager that can verify a password.
#[async_trait]
pub trait UserDirectory: Send + Sync {
    /// Verifies `password` for `user` (any login form the directory accepts).
    async fn authenticate(&self, user: &str, password: &str) -> Result<DirectoryUser, DirectoryError>;
}
