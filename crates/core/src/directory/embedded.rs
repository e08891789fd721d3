//! The embedded directory: users with argon2id password hashes in `policies/users.yaml`.
//!
//! Users are found by login name, `DOMAIN\name` or e-mail, case-insensitively. Password checks run on the
//! blocking pool (argon2 is deliberately slow and memory-hard), admitted by the process's [`HashingLimiter`]
//! by the memory their hash costs, and an unknown user costs the same as a wrong password (a check against a
//! dummy hash with the default parameters).

use super::hashing::HashingLimiter;
use super::{AccountKey, DirectoryError, DirectoryUser, Login, UserDirectory};
use crate::config::{ConfigError, ConfigIssue};
use crate::identity::UserManager;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use async_trait::async_trait;
use serde::Deserialize;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use zeroize::Zeroizing;

/// `users.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersFile {
    /// The users.
    pub users: Vec<UserEntry>,
}

/// One user in `users.yaml`.
#[derive(Debug, Clone, Deserialize, Hash)]
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

/// A password hash with what checking it costs.
#[derive(Clone)]
struct StoredHash {
    phc: Arc<str>,
    /// argon2 `m`, in KiB.
    cost_kib: u32,
}

impl StoredHash {
    /// Parses `phc`, which must be an argon2id PHC string.
    fn parse(phc: &str) -> Result<Self, String> {
        let parsed = PasswordHash::new(phc)
            .map_err(|e| format!("not a PHC password hash ({e}); create one with `authgate hash-password`"))?;
        if parsed.algorithm.as_str() != "argon2id" {
            return Err(format!(
                "algorithm '{}' is not argon2id; create hashes with `authgate hash-password`",
                parsed.algorithm
            ));
        }
        let params = argon2::Params::try_from(&parsed)
            .map_err(|e| format!("invalid argon2id parameters ({e}); create one with `authgate hash-password`"))?;
        Ok(Self {
            phc: phc.into(),
            cost_kib: params.m_cost(),
        })
    }
}

struct Account {
    user: DirectoryUser,
    hash: Option<StoredHash>,
    disabled: bool,
    key: AccountKey,
    /// Changes whenever anything in the user's entry changes.
    version: u64,
}

/// The loaded embedded directory.
pub struct EmbeddedDirectory {
    accounts: Vec<Arc<Account>>,
    index: HashMap<String, usize>,
    by_key: HashMap<AccountKey, usize>,
    dummy: StoredHash,
    hashing: Arc<HashingLimiter>,
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

    /// Builds the directory, reporting every invalid entry. Its password checks are bounded by a limiter of
    /// their own with the default settings until [`EmbeddedDirectory::with_hashing`] shares the process's.
    pub fn from_entries(entries: Vec<UserEntry>) -> Result<Self, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let mut accounts = Vec::new();
        let mut index = HashMap::new();
        let mut by_key = HashMap::new();
        for (i, entry) in entries.into_iter().enumerate() {
            let path = format!("users[{i}]");
            if entry.name.trim().is_empty() || entry.name.chars().any(char::is_control) {
                issues.push(ConfigIssue::new(
                    format!("{path}.name"),
                    "must be a non-empty name without control characters",
                ));
                continue;
            }
            let hash = match entry.password_hash.as_deref().map(StoredHash::parse) {
                None => None,
                Some(Ok(hash)) => Some(hash),
                Some(Err(message)) => {
                    issues.push(ConfigIssue::new(format!("{path}.password_hash"), message));
                    None
                }
            };
            let version = {
                let mut hasher = std::hash::DefaultHasher::new();
                entry.hash(&mut hasher);
                hasher.finish() & !(1 << 63)
            };
            let user_manager = UserManager::from_label(&entry.user_manager);
            let slot = accounts.len();
            let key = AccountKey::account(&entry.name);
            // Names are unique case-insensitively (the login index below reports a clash).
            by_key.insert(key.clone(), slot);
            let mut keys = vec![entry.name.to_lowercase()];
            if let Some(domain) = &entry.domain {
                keys.push(format!("{}\\{}", domain, entry.name).to_lowercase());
            }
            if let Some(email) = &entry.email {
                keys.push(email.to_lowercase());
            }
            for login in keys {
                if let Some(previous) = index.insert(login.clone(), slot) {
                    if previous != slot {
                        issues.push(ConfigIssue::new(
                            format!("{path}.name"),
                            format!("login '{login}' is already used by users[{previous}]"),
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
                hash,
                disabled: entry.disabled,
                key,
                version,
            }));
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(Self {
            accounts,
            index,
            by_key,
            dummy: dummy_hash(),
            hashing: Arc::new(HashingLimiter::standalone()),
        })
    }

    /// Checks passwords within `hashing`'s bounds (the process's limiter).
    pub fn with_hashing(mut self, hashing: Arc<HashingLimiter>) -> Self {
        self.hashing = hashing;
        self
    }

    /// The user known by `login` (name, `DOMAIN\name` or e-mail), without checking a password.
    pub fn lookup(&self, login: &str) -> Option<&DirectoryUser> {
        self.index.get(&login.to_lowercase()).map(|i| &self.accounts[*i].user)
    }

    /// Every user.
    pub fn users(&self) -> impl Iterator<Item = &DirectoryUser> {
        self.accounts.iter().map(|a| &a.user)
    }

    /// Users whose password hash costs more memory than `budget_kib` (their checks run alone), with the cost.
    pub fn costlier_than(&self, budget_kib: u32) -> impl Iterator<Item = (&str, u32)> {
        self.accounts.iter().filter_map(move |a| {
            let cost = a.hash.as_ref()?.cost_kib;
            (cost > budget_kib).then_some((a.user.name.as_str(), cost))
        })
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
/// "no such user" takes as long as "wrong password". Made once per process (a reload does not pay for it again).
fn dummy_hash() -> StoredHash {
    static DUMMY: OnceLock<StoredHash> = OnceLock::new();
    DUMMY
        .get_or_init(|| {
            let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
            let password = salt.as_str().to_string();
            let phc = Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .unwrap_or_default();
            StoredHash {
                phc: phc.into(),
                cost_kib: argon2::Params::DEFAULT_M_COST,
            }
        })
        .clone()
}

/// Hashes `password` as an argon2id PHC string with the library defaults (m=19456 KiB, t=2, p=1).
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Ok(Argon2::default().hash_password(password.as_bytes(), &salt)?.to_string())
}

/// Hashes `password` as an argon2id PHC string with memory cost `m_kib` (t=1, p=1): cheap hashes for tests
/// and benches.
pub fn hash_password_with_cost(password: &str, m_kib: u32) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    let params = argon2::Params::new(m_kib, 1, 1, None)?;
    Ok(Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

fn verify_hash(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

#[async_trait]
impl UserDirectory for EmbeddedDirectory {
    async fn resolve<'a>(&'a self, login: &str) -> Result<Box<dyn Login + 'a>, DirectoryError> {
        let account = self.index.get(&login.to_lowercase()).map(|i| self.accounts[*i].clone());
        let key = match &account {
            Some(account) => account.key.clone(),
            None => AccountKey::unknown(login),
        };
        Ok(Box::new(EmbeddedLogin {
            directory: self,
            account,
            key,
        }))
    }

    fn version(&self, account: &AccountKey) -> Option<u64> {
        self.by_key.get(account).map(|i| self.accounts[*i].version)
    }
}

/// A login of the embedded directory: the account it names, if any.
struct EmbeddedLogin<'a> {
    directory: &'a EmbeddedDirectory,
    account: Option<Arc<Account>>,
    key: AccountKey,
}

#[async_trait]
impl Login for EmbeddedLogin<'_> {
    fn account(&self) -> &AccountKey {
        &self.key
    }

    async fn verify(self: Box<Self>, password: &str) -> Result<DirectoryUser, DirectoryError> {
        let hash = self
            .account
            .as_ref()
            .and_then(|a| a.hash.clone())
            .unwrap_or_else(|| self.directory.dummy.clone());
        let password = Zeroizing::new(password.to_string());
        let matched = self
            .directory
            .hashing
            .run(hash.cost_kib, move || verify_hash(&hash.phc, &password))
            .await
            .map_err(|busy| DirectoryError::Busy {
                retry_after: busy.retry_after,
            })?;
        match self.account {
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

    #[tokio::test]
    async fn every_login_name_resolves_to_the_account_and_unknown_names_to_themselves_normalised() {
        let dir = EmbeddedDirectory::from_entries(vec![entry("Bob", "ad", Some("pw"))]).unwrap();
        for login in ["bob", "BOB", "contoso\\bob", "Bob@Contoso.com"] {
            assert_eq!(
                dir.resolve(login).await.unwrap().account(),
                &AccountKey::account("bob"),
                "{login}"
            );
        }
        for login in ["nobody", "NOBODY", "CONTOSO\\nobody", "OTHER\\Nobody"] {
            assert_eq!(
                dir.resolve(login).await.unwrap().account(),
                &AccountKey::unknown("nobody"),
                "{login}"
            );
        }
        assert_eq!(dir.version(&AccountKey::unknown("nobody")), None);
        assert!(dir.version(&AccountKey::account("bob")).is_some());
    }

    #[test]
    fn an_accounts_version_changes_with_its_entry_only() {
        let alice = entry("alice", "ad", Some("pw"));
        let bob = entry("bob", "ad", Some("pw"));
        let version = |entries: Vec<UserEntry>, name: &str| {
            EmbeddedDirectory::from_entries(entries)
                .unwrap()
                .version(&AccountKey::account(name))
                .unwrap()
        };
        let before = (
            version(vec![alice.clone(), bob.clone()], "alice"),
            version(vec![alice.clone(), bob.clone()], "bob"),
        );
        let mut changed = alice.clone();
        changed.groups.push("Auditors".into());
        assert_ne!(version(vec![changed, bob.clone()], "alice"), before.0);
        let mut disabled = alice.clone();
        disabled.disabled = true;
        assert_ne!(version(vec![disabled, bob.clone()], "alice"), before.0);
        let mut rehashed = alice.clone();
        rehashed.password_hash = Some(cheap_hash("pw"));
        assert_ne!(version(vec![rehashed, bob.clone()], "alice"), before.0);
        assert_eq!(
            version(vec![bob.clone(), alice.clone()], "bob"),
            before.1,
            "order does not matter"
        );
    }

    #[test]
    fn hashes_costlier_than_the_budget_are_listed() {
        let mut big = entry("big", "ad", None);
        big.password_hash = Some(hash_password_with_cost("pw", 8 * 1024).unwrap());
        let dir = EmbeddedDirectory::from_entries(vec![entry("small", "ad", Some("pw")), big]).unwrap();
        assert_eq!(dir.costlier_than(4 * 1024).collect::<Vec<_>>(), vec![("big", 8 * 1024)]);
        assert_eq!(dir.costlier_than(8 * 1024).count(), 0);
    }

    #[test]
    fn hash_password_produces_argon2id() {
        let hash = hash_password("secret").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_hash(&hash, "secret"));
        assert!(!verify_hash(&hash, "Secret"));
    }
}
