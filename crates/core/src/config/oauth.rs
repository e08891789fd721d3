//! The `oauth:` section: outbound OAuth (seed 004), the platform acting on behalf of a user against
//! third-party services with that user's tokens. The resource types and resources themselves are YAML files
//! in two directories (one per file, like the SmartObjects); the vault keys that encrypt the stored tokens are
//! listed here.

use super::Secret;
use serde::Deserialize;
use std::path::PathBuf;

/// Outbound OAuth. Absent: no resource types, no resources, no vault.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// Directory of resource type files (`*.yaml`, one type each). Default `policies/oauth/types` (relative to
    /// the config file). A missing directory means none.
    #[serde(default = "default_types_dir")]
    pub types: PathBuf,
    /// Directory of resource files (`*.yaml`, one resource each). Default `policies/oauth/resources`. A
    /// missing directory means none.
    #[serde(default = "default_resources_dir")]
    pub resources: PathBuf,
    /// The keys that encrypt users' tokens at rest. Required, at least one.
    pub vault: VaultConfig,
}

fn default_types_dir() -> PathBuf {
    PathBuf::from("policies/oauth/types")
}

fn default_resources_dir() -> PathBuf {
    PathBuf::from("policies/oauth/resources")
}

/// The token vault's keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultConfig {
    /// AES-256 keys, newest first: the first encrypts, every one decrypts (rotation: add the new key at the
    /// top, re-encrypt, then remove the old one). No default.
    pub keys: Vec<VaultKeyConfig>,
}

/// One vault key: an id (written into every ciphertext it makes) and 32 random bytes in base64, given either
/// inline (write `${VAULT_KEY_2026}`, never the key itself) or as a file holding the base64 text.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultKeyConfig {
    /// 1 to 32 characters of `A-Z a-z 0-9 . _ -`, unique in the list, e.g. `2026-11`. Never reuse an id for
    /// another key.
    pub id: String,
    /// The key, base64 of 32 bytes (`openssl rand -base64 32`). Exactly one of `key` and `key_file`.
    #[serde(default)]
    pub key: Option<Secret>,
    /// A file holding the base64 key (relative to the config file). Exactly one of `key` and `key_file`.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}
