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

use crate::identity::UserManager;
use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use thiserror::Error;

/// What failed logins are counted against: the account a login names, whichever of its names was used
/// (`alice`, `CONTOSO\alice` and `alice@contoso.com` are one account), or, for a login no account answers to,
/// the login itself, normalised the same way for every directory.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountKey(String);

impl AccountKey {
    /// The account whose canonical name (login name, sAMAccountName, UPN) is `name`.
    pub fn account(name: &str) -> Self {
        Self(name.to_lowercase())
    }

    /// A login no account answers to: lower case, without a `DOMAIN\` prefix, so the forms that name one
    /// account collapse for names that have none too.
    pub fn unknown(login: &str) -> Self {
        let name = login.split_once('\\').map_or(login, |(_, name)| name);
        Self(name.to_lowercase())
    }

    /// The key, for logs.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A directory instance's version for every account (LDAP, AAD: the directory decides on each login, so a
/// verified login is as good as the directory settings it was verified with). Unique per instance.
pub fn instance_version() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    // The top bit keeps these apart from the embedded directory's content hashes in practice.
    NEXT.fetch_add(1, Ordering::Relaxed) | (1 << 63)
}

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
    /// Too many password checks at once: no memory for this one in time (the embedded directory's hashing
    /// bound). Nothing was verified.
    #[error("too many password checks in progress")]
    Busy {
        /// When to try again.
        retry_after: Duration,
    },
}

/// A user manager that can verify a password, in two steps so that failures can be counted per account
/// before a password is ever checked: [`UserDirectory::resolve`] finds the account a login names, then
/// [`Login::verify`] checks the password.
#[async_trait]
pub trait UserDirectory: Send + Sync {
    /// Finds the account `login` names (any login form the directory accepts) without checking a password.
    /// A login no account answers to is not an error: it resolves to a [`Login`] that fails verification the
    /// way a wrong password does (and, for the embedded directory, takes as long).
    async fn resolve<'a>(&'a self, login: &str) -> Result<Box<dyn Login + 'a>, DirectoryError>;

    /// The version of `account`'s entry (`None`: no such account). A verified login is remembered only while
    /// its account's version stays the one it was verified at.
    fn version(&self, account: &AccountKey) -> Option<u64>;

    /// Resolves `login` and verifies `password` (no lockout: the Basic authenticator adds that in between).
    async fn authenticate(&self, login: &str, password: &str) -> Result<DirectoryUser, DirectoryError> {
        self.resolve(login).await?.verify(password).await
    }
}

/// A login resolved to an account, waiting for its password check.
#[async_trait]
pub trait Login: Send {
    /// The account failures are counted against.
    fn account(&self) -> &AccountKey;

    /// Checks `password`.
    async fn verify(self: Box<Self>, password: &str) -> Result<DirectoryUser, DirectoryError>;
}
