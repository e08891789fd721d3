//! The embedded directory: users with argon2id password hashes in `policies/users.yaml`.
//!
//! Users are found by login name, `DOMAIN\name` or e-mail, case-insensitively. Password checks run on the
//! blocking pool (argon2 is deliberately slow), and an unknown user costs the same as a wrong password.

use super::{DirectoryError, DirectoryUser, UserDirectory};
use crate::auth::identity::UserManager;
use crate::config::{ConfigError, ConfigIssue};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use async_trait::async_trait;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// `users.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersFile {
    /// The users.
    pub users: Vec<UserEntry>,
}

/// One user in `users.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEntry {
    /// Login name.
    pub name: String,
    /// `ad`, `aad`, or another label (`sql`, `forms`...) that the platform rule refuses.
    pub user_manager: String,
    /// AD NetBIOS domain (overrides the user manager's).
    #[serde(default)]
    pub domain: Option<String>,
    /// argon2id PHC string from `authgate hash-password`. Without one the user cannot log in with Basic.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// Whether MFA is enabled on the account.
    #[serde(default)]
    pub mfa: bool,
    /// E-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Manager's login name.
    #[serde(default)]
    pub manager: Option<String>,
    /// A disabled account cannot log in.
    #[serde(default)]
    pub disabled: bool,
}

struct Account {
    user: DirectoryUser,
    hash: Option<String>,
    disabled: bool,
}

/// The loaded embedded directory.
pub struct EmbeddedDirectory {
    accounts: Vec<Arc<Account>>,
    index: HashMap<String, usize>,
    dummy_hash: String,
}

impl EmbeddedDirectory {
    /// Loads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let file: UsersFile = crate::config::load_yaml(path)?;
        Self::from_entries(file.users).map_err(|issues| ConfigError::Invalid {
            file: path.to_path_buf(),
            issues,
        })
    }

    /// Builds the directory, reporting every invalid entry.
    pub fn from_entries(entries: Vec<UserEntry>) -> Result<Self, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let mut accounts = Vec::new();
        let mut index = HashMap::new();
        for (i, entry) in entries.into_iter().enumerate() {
            let path = format!("users[{i}]");
            if entry.name.trim().is_empty() || entry.name.chars().any(char::is_control) {
                issues.push(ConfigIssue::new(
                    format!("{path}.name"),
                    "must be a non-empty name without control characters",
                ));
                continue;
            }
            if let Some(hash) = &entry.password_hash {
                match PasswordHash::new(hash) {
                    Ok(parsed) if parsed.algorithm.as_str() == "argon2id" => {}
                    Ok(parsed) => issues.push(ConfigIssue::new(
                        format!("{path}.password_hash"),
                        format!(
                            "algorithm '{}' is not argon2id; create hashes with `authgate hash-password`",
                            parsed.algorithm
                        ),
                    )),
                    Err(e) => issues.push(ConfigIssue::new(
                        format!("{path}.password_hash"),
                        format!("not a PHC password hash ({e}); create one with `authgate hash-password`"),
                    )),
                }
            }
            let user_manager = UserManager::from_label(&entry.user_manager);
            let slot = accounts.len();
            let mut keys = vec![entry.name.to_lowercase()];
            if let Some(domain) = &entry.domain {
                keys.push(format!("{}\\{}", domain, entry.name).to_lowercase());
            }
            if let Some(email) = &entry.email {
                keys.push(email.to_lowercase());
            }
            for key in keys {
                if let Some(previous) = index.insert(key.clone(), slot) {
                    if previous != slot {
                        issues.push(ConfigIssue::new(
                            format!("{path}.name"),
                            format!("login '{key}' is already used by users[{previous}]"),
                        ));
                    }
                }
            }
            accounts.push(Arc::new(Account {
                user: DirectoryUser {
                    name: entry.name,
                    user_manager,
                    domain: entry.domain,
                    email: entry.email,
                    display_name: entry.display_name,
                    groups: entry.groups,
                    mfa: entry.mfa,
                    manager: entry.manager,
                    tenant: None,
                },
                hash: entry.password_hash,
                disabled: entry.disabled,
            }));
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(Self {
            accounts,
            index,
            dummy_hash: dummy_hash(),
        })
    }

    /// The user known by `login` (name, `DOMAIN\name` or e-mail), without checking a password.
    pub fn lookup(&self, login: &str) -> Option<&DirectoryUser> {
        self.index.get(&login.to_lowercase()).map(|i| &self.accounts[*i].user)
    }

    /// Every user.
    pub fn users(&self) -> impl Iterator<Item = &DirectoryUser> {
        self.accounts.iter().map(|a| &a.user)
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }
}

/// A hash of a random password with the default parameters, verified against for unknown users so that
/// "no such user" takes as long as "wrong password".
fn dummy_hash() -> String {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    let password = salt.as_str().to_string();
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

/// Hashes `password` as an argon2id PHC string with the library defaults (m=19456 KiB, t=2, p=1).
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Ok(Argon2::default().hash_password(password.as_bytes(), &salt)?.to_string())
}

fn verify_hash(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

#[async_trait]
impl UserDirectory for EmbeddedDirectory {
    async fn authenticate(&self, user: &str, password: &str) -> Result<DirectoryUser, DirectoryError> {
        let account = self.index.get(&user.to_lowercase()).map(|i| self.accounts[*i].clone());
        let hash = account
            .as_ref()
            .and_then(|a| a.hash.clone())
            .unwrap_or_else(|| self.dummy_hash.clone());
        let password = zeroize::Zeroizing::new(password.to_string());
        let matched = tokio::task::spawn_blocking(move || verify_hash(&hash, &password))
            .await
            .map_err(|e| DirectoryError::Unavailable(format!("password check failed: {e}")))?;
        match account {
            Some(account) if matched && account.hash.is_some() => {
                if account.disabled {
                    Err(DirectoryError::Disabled)
                } else {
                    Ok(account.user.clone())
                }
            }
            _ => Err(DirectoryError::InvalidCredentials),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::{Algorithm, Params, Version};

    fn cheap_hash(password: &str) -> String {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        )
        .hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
    }

    fn entry(name: &str, manager: &str, password: Option<&str>) -> UserEntry {
        UserEntry {
            name: name.into(),
            user_manager: manager.into(),
            domain: Some("CONTOSO".into()),
            password_hash: password.map(cheap_hash),
            mfa: false,
            email: Some(format!("{name}@contoso.com")),
            display_name: None,
            groups: vec!["Finance".into()],
            manager: None,
            disabled: false,
        }
    }

    #[tokio::test]
    async fn logins_by_name_domain_and_email() {
        let dir = EmbeddedDirectory::from_entries(vec![entry("alice", "ad", Some("pw"))]).unwrap();
        for login in ["alice", "ALICE", "contoso\\alice", "alice@contoso.com"] {
            let user = dir.authenticate(login, "pw").await.unwrap();
            assert_eq!(user.name, "alice");
            assert_eq!(user.user_manager, UserManager::Ad);
        }
        assert_eq!(
            dir.authenticate("alice", "PW").await,
            Err(DirectoryError::InvalidCredentials)
        );
        assert_eq!(
            dir.authenticate("nobody", "pw").await,
            Err(DirectoryError::InvalidCredentials)
        );
    }

    #[tokio::test]
    async fn user_without_hash_cannot_log_in_and_disabled_is_reported_after_password() {
        let mut disabled = entry("dave", "ad", Some("pw"));
        disabled.disabled = true;
        let dir = EmbeddedDirectory::from_entries(vec![entry("oauth-only", "aad", None), disabled]).unwrap();
        assert_eq!(
            dir.authenticate("oauth-only", "").await,
            Err(DirectoryError::InvalidCredentials)
        );
        assert_eq!(
            dir.authenticate("dave", "wrong").await,
            Err(DirectoryError::InvalidCredentials)
        );
        assert_eq!(dir.authenticate("dave", "pw").await, Err(DirectoryError::Disabled));
    }

    #[test]
    fn invalid_entries_are_reported_with_paths() {
        let mut bad_hash = entry("bob", "ad", None);
        bad_hash.password_hash = Some("plaintext".into());
        let dup = entry("alice", "ad", None);
        let issues = EmbeddedDirectory::from_entries(vec![entry("alice", "ad", None), bad_hash, dup])
            .err()
            .unwrap();
        assert!(issues.iter().any(|i| i.path == "users[1].password_hash"), "{issues:?}");
        assert!(issues.iter().any(|i| i.path == "users[2].name"), "{issues:?}");
    }

    #[test]
    fn hash_password_produces_argon2id() {
        let hash = hash_password("secret").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_hash(&hash, "secret"));
        assert!(!verify_hash(&hash, "Secret"));
    }
}
