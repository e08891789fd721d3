//! The token vault: users' OAuth tokens (and PKCE verifiers) encrypted at rest with AES-256-GCM
//! (`aws_lc_rs::aead`, the crypto library already in the tree).
//!
//! A ciphertext is `version (1 byte, 1) | key id length (1 byte) | key id | nonce (12 random bytes) | sealed
//! text and tag`. The associated data binds it to where it is stored: the version and key id, then the
//! user, the resource and the field, each length-prefixed (so `("ab", "c")` and `("a", "bc")` differ). A
//! ciphertext copied to another user's row, another resource or another field does not open.
//!
//! Keys are a list: the first encrypts, every one decrypts; [`Vault::reseal`] re-encrypts a ciphertext under
//! the first key (rotation). Keys and plaintexts never appear in `Debug` output or errors.

use authgate_core::config::{ConfigIssue, Secret, VaultConfig};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::Engine;
use std::fmt;
use std::path::Path;
use thiserror::Error;
use zeroize::Zeroizing;

/// The format version written first in every ciphertext.
const VERSION: u8 = 1;
/// Longest key id.
const MAX_KEY_ID: usize = 32;

/// What a ciphertext is bound to: the owner, the resource and which field of the record it is.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    /// The user's fully qualified name, as the store keys it.
    pub user: &'a str,
    /// The resource's name.
    pub resource: &'a str,
    /// The field: [`ACCESS_TOKEN`], [`REFRESH_TOKEN`], [`PKCE_VERIFIER`].
    pub field: &'a str,
}

/// The access token field.
pub const ACCESS_TOKEN: &str = "access_token";
/// The refresh token field.
pub const REFRESH_TOKEN: &str = "refresh_token";
/// The PKCE verifier of an authorization state.
pub const PKCE_VERIFIER: &str = "pkce_verifier";

/// Why a ciphertext could not be made or opened. Names key ids, never keys or contents.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum VaultError {
    /// The ciphertext names a key that is not configured (removed too early?).
    #[error(
        "the ciphertext was made with vault key '{0}', which is not configured (was it removed before re-encryption?)"
    )]
    UnknownKey(String),
    /// The ciphertext is not in a format this version reads.
    #[error("the ciphertext is malformed ({0})")]
    Malformed(&'static str),
    /// Authentication failed: tampered, or bound to another user, resource or field.
    #[error(
        "the ciphertext does not open with vault key '{0}': altered, or stored for another user, resource or field"
    )]
    Open(String),
    /// The encryption itself failed (should not happen).
    #[error("encryption failed")]
    Seal,
}

struct Key {
    id: String,
    key: LessSafeKey,
}

/// The configured keys.
pub struct Vault {
    keys: Vec<Key>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("key_ids", &self.keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>())
            .finish()
    }
}

fn valid_key_id(id: &str) -> bool {
    (1..=MAX_KEY_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Vault {
    /// Builds the vault from `(id, 32-byte key)` pairs, newest first.
    pub fn new(keys: Vec<(String, Zeroizing<Vec<u8>>)>) -> Result<Self, String> {
        if keys.is_empty() {
            return Err("at least one key is required".into());
        }
        let mut built: Vec<Key> = Vec::new();
        for (id, bytes) in keys {
            if !valid_key_id(&id) {
                return Err(format!(
                    "key id '{}' is not 1 to {MAX_KEY_ID} of A-Z a-z 0-9 . _ -",
                    id.escape_debug()
                ));
            }
            if built.iter().any(|k| k.id == id) {
                return Err(format!("key id '{id}' is listed twice"));
            }
            let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
                .map_err(|_| format!("key '{id}' is not 32 bytes (it is {})", bytes.len()))?;
            built.push(Key {
                id,
                key: LessSafeKey::new(unbound),
            });
        }
        Ok(Self { keys: built })
    }

    /// Builds the vault from the `oauth.vault` section (`at` is its path); `resolve` turns a `key_file` into a
    /// path. Every problem is reported with its field path and never shows a key.
    pub fn from_config(
        cfg: &VaultConfig,
        at: &str,
        resolve: impl Fn(&Path) -> std::path::PathBuf,
    ) -> Result<Self, Vec<ConfigIssue>> {
        let mut issues = Vec::new();
        let mut keys = Vec::new();
        if cfg.keys.is_empty() {
            issues.push(ConfigIssue::new(
                format!("{at}.keys"),
                "at least one key is required (openssl rand -base64 32)",
            ));
        }
        for (i, key) in cfg.keys.iter().enumerate() {
            let here = format!("{at}.keys[{i}]");
            if !valid_key_id(&key.id) {
                issues.push(ConfigIssue::new(
                    format!("{here}.id"),
                    format!(
                        "'{}' is not 1 to {MAX_KEY_ID} of A-Z a-z 0-9 . _ -",
                        key.id.escape_debug()
                    ),
                ));
                continue;
            }
            if cfg.keys[..i].iter().any(|k| k.id == key.id) {
                issues.push(ConfigIssue::new(
                    format!("{here}.id"),
                    format!("key id '{}' is listed twice", key.id),
                ));
                continue;
            }
            let text = match (&key.key, &key.key_file) {
                (Some(inline), None) => Zeroizing::new(inline.expose().to_string()),
                (None, Some(file)) => {
                    let path = resolve(file);
                    match std::fs::read_to_string(&path) {
                        Ok(text) => Zeroizing::new(text),
                        Err(e) => {
                            issues.push(ConfigIssue::new(
                                format!("{here}.key_file"),
                                format!("cannot read {}: {e}", path.display()),
                            ));
                            continue;
                        }
                    }
                }
                _ => {
                    issues.push(ConfigIssue::new(here, "give exactly one of `key` and `key_file`"));
                    continue;
                }
            };
            match decode_key(text.trim()) {
                Some(bytes) => keys.push((key.id.clone(), bytes)),
                None => issues.push(ConfigIssue::new(
                    format!("{here}.{}", if key.key.is_some() { "key" } else { "key_file" }),
                    "not the base64 of 32 bytes (make one with `openssl rand -base64 32`)",
                )),
            }
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        Self::new(keys).map_err(|message| vec![ConfigIssue::new(format!("{at}.keys"), message)])
    }

    /// Every key id, the encrypting one first (for `authgate check`: ids only, never keys).
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// The id of the key that encrypts.
    pub fn current_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Encrypts `plaintext` under the first key, bound to `binding`.
    pub fn seal(&self, binding: Binding<'_>, plaintext: &[u8]) -> Result<Sealed, VaultError> {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| VaultError::Seal)?;
        let mut out = header(&key.id);
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data(&key.id, binding)),
                &mut body,
            )
            .map_err(|_| VaultError::Seal)?;
        out.extend_from_slice(&body);
        Ok(Sealed(out))
    }

    /// Decrypts `sealed`, which must have been made for `binding`, with the key it names.
    pub fn open(&self, binding: Binding<'_>, sealed: &Sealed) -> Result<Secret, VaultError> {
        let bytes = self.open_bytes(binding, sealed)?;
        String::from_utf8(bytes.to_vec())
            .map(Secret::new)
            .map_err(|_| VaultError::Malformed("the plaintext is not UTF-8"))
    }

    /// Decrypts `sealed` to bytes.
    pub fn open_bytes(&self, binding: Binding<'_>, sealed: &Sealed) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let (id, nonce, body) = parse(&sealed.0)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| VaultError::UnknownKey(id.to_string()))?;
        let mut body = Zeroizing::new(body.to_vec());
        let plain_len = key
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data(id, binding)),
                &mut body,
            )
            .map_err(|_| VaultError::Open(id.to_string()))?
            .len();
        body.truncate(plain_len);
        Ok(body)
    }

    /// The key id `sealed` names, without opening it.
    pub fn key_id_of(sealed: &Sealed) -> Result<&str, VaultError> {
        parse(&sealed.0).map(|(id, _, _)| id)
    }

    /// Re-encrypts `sealed` under the first key (for `binding`); `None` when it already is.
    pub fn reseal(&self, binding: Binding<'_>, sealed: &Sealed) -> Result<Option<Sealed>, VaultError> {
        if Self::key_id_of(sealed)? == self.current_key_id() {
            return Ok(None);
        }
        let plain = self.open_bytes(binding, sealed)?;
        self.seal(binding, &plain).map(Some)
    }
}

/// Decodes standard base64 (padded or not) of exactly 32 bytes.
fn decode_key(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = Zeroizing::new(engine.decode(text).ok()?);
    (bytes.len() == 32).then_some(bytes)
}

fn header(id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + id.len() + NONCE_LEN + 64);
    out.push(VERSION);
    // Key ids are at most MAX_KEY_ID bytes (checked when the vault is built).
    out.push(id.len() as u8);
    out.extend_from_slice(id.as_bytes());
    out
}

fn associated_data(id: &str, binding: Binding<'_>) -> Vec<u8> {
    let mut ad = header(id);
    for part in [binding.user, binding.resource, binding.field] {
        ad.extend_from_slice(&(part.len() as u64).to_be_bytes());
        ad.extend_from_slice(part.as_bytes());
    }
    ad
}

fn parse(bytes: &[u8]) -> Result<(&str, [u8; NONCE_LEN], &[u8]), VaultError> {
    let (&version, rest) = bytes.split_first().ok_or(VaultError::Malformed("empty"))?;
    if version != VERSION {
        return Err(VaultError::Malformed("unknown format version"));
    }
    let (&id_len, rest) = rest.split_first().ok_or(VaultError::Malformed("truncated"))?;
    let id_len = usize::from(id_len);
    if id_len == 0 || id_len > MAX_KEY_ID || rest.len() < id_len + NONCE_LEN + AES_256_GCM.tag_len() {
        return Err(VaultError::Malformed("truncated"));
    }
    let (id, rest) = rest.split_at(id_len);
    let id = std::str::from_utf8(id).map_err(|_| VaultError::Malformed("the key id is not text"))?;
    let (nonce, body) = rest.split_at(NONCE_LEN);
    let mut n = [0u8; NONCE_LEN];
    n.copy_from_slice(nonce);
    Ok((id, n, body))
}

/// A ciphertext as stored. `Debug` shows its length and key id only.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub Vec<u8>);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = Vault::key_id_of(self).unwrap_or("?");
        write!(f, "Sealed({} bytes, key {id})", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use authgate_core::config::VaultKeyConfig;

    fn key(byte: u8) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(vec![byte; 32])
    }

    fn vault(ids: &[(&str, u8)]) -> Vault {
        Vault::new(ids.iter().map(|(id, b)| (id.to_string(), key(*b))).collect()).unwrap()
    }

    const ALICE: Binding<'static> = Binding {
        user: "K2:CONTOSO\\alice",
        resource: "Salesforce",
        field: ACCESS_TOKEN,
    };

    #[test]
    fn round_trip_and_each_ciphertext_is_new() {
        let v = vault(&[("k1", 1)]);
        let a = v.seal(ALICE, b"tok-123").unwrap();
        let b = v.seal(ALICE, b"tok-123").unwrap();
        assert_ne!(a, b, "random nonces");
        assert_eq!(v.open(ALICE, &a).unwrap().expose(), "tok-123");
        assert_eq!(a.0[0], VERSION);
        assert_eq!(Vault::key_id_of(&a).unwrap(), "k1");
        assert!(!a.0.windows(7).any(|w| w == b"tok-123"));
    }

    #[test]
    fn a_ciphertext_moved_to_another_user_resource_or_field_does_not_open() {
        let v = vault(&[("k1", 1)]);
        let sealed = v.seal(ALICE, b"tok").unwrap();
        for other in [
            Binding {
                user: "K2:CONTOSO\\bob",
                ..ALICE
            },
            Binding {
                resource: "Graph",
                ..ALICE
            },
            Binding {
                field: REFRESH_TOKEN,
                ..ALICE
            },
            // The parts are length-prefixed: moving a character from one to the next is another binding.
            Binding {
                user: "K2:CONTOSO\\alic",
                resource: "eSalesforce",
                ..ALICE
            },
        ] {
            assert_eq!(
                v.open(other, &sealed).unwrap_err(),
                VaultError::Open("k1".into()),
                "{other:?}"
            );
        }
    }

    #[test]
    fn every_tampered_byte_fails() {
        let v = vault(&[("k1", 1)]);
        let sealed = v.seal(ALICE, b"tok").unwrap();
        for i in 0..sealed.0.len() {
            let mut bad = sealed.clone();
            bad.0[i] ^= 0x01;
            assert!(v.open(ALICE, &bad).is_err(), "byte {i}");
        }
        assert!(v.open(ALICE, &Sealed(sealed.0[..sealed.0.len() - 1].to_vec())).is_err());
        assert_eq!(
            v.open(ALICE, &Sealed(vec![])).unwrap_err(),
            VaultError::Malformed("empty")
        );
    }

    #[test]
    fn rotation_old_keys_decrypt_and_reseal_moves_to_the_newest() {
        let old = vault(&[("k1", 1)]);
        let sealed = old.seal(ALICE, b"tok").unwrap();
        let rotated = vault(&[("k2", 2), ("k1", 1)]);
        assert_eq!(
            rotated.open(ALICE, &sealed).unwrap().expose(),
            "tok",
            "the old key still decrypts"
        );
        let resealed = rotated.reseal(ALICE, &sealed).unwrap().expect("re-encrypted");
        assert_eq!(Vault::key_id_of(&resealed).unwrap(), "k2");
        assert_eq!(rotated.open(ALICE, &resealed).unwrap().expose(), "tok");
        assert!(
            rotated.reseal(ALICE, &resealed).unwrap().is_none(),
            "already under the newest key"
        );
        let only_new = vault(&[("k2", 2)]);
        assert_eq!(only_new.open(ALICE, &resealed).unwrap().expose(), "tok");
        let err = only_new.open(ALICE, &sealed).unwrap_err();
        assert_eq!(err, VaultError::UnknownKey("k1".into()));
        assert!(err.to_string().contains("'k1', which is not configured"), "{err}");
        // Same id, other bytes: refused as altered, not as unknown.
        let impostor = vault(&[("k1", 9)]);
        assert_eq!(
            impostor.open(ALICE, &sealed).unwrap_err(),
            VaultError::Open("k1".into())
        );
    }

    #[test]
    fn configuration_is_checked_and_keys_never_shown() {
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k.b64"), format!("{b64}\n")).unwrap();
        let cfg = |keys: Vec<VaultKeyConfig>| VaultConfig { keys };
        let inline = |id: &str, k: &str| VaultKeyConfig {
            id: id.into(),
            key: Some(Secret::new(k)),
            key_file: None,
        };
        let resolve = |p: &Path| dir.path().join(p);
        let v = Vault::from_config(
            &cfg(vec![
                inline("new", &b64),
                VaultKeyConfig {
                    id: "old".into(),
                    key: None,
                    key_file: Some("k.b64".into()),
                },
            ]),
            "oauth.vault",
            resolve,
        )
        .unwrap();
        assert_eq!(v.current_key_id(), "new");
        assert_eq!(format!("{v:?}"), r#"Vault { key_ids: ["new", "old"] }"#);
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
        let issues = Vault::from_config(
            &cfg(vec![
                inline("a", &short),
                inline("a b", &b64),
                inline("c", &b64),
                inline("c", &b64),
                VaultKeyConfig {
                    id: "d".into(),
                    key: None,
                    key_file: None,
                },
            ]),
            "oauth.vault",
            resolve,
        )
        .unwrap_err();
        let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "oauth.vault.keys[0].key",
                "oauth.vault.keys[1].id",
                "oauth.vault.keys[3].id",
                "oauth.vault.keys[4]"
            ]
        );
        assert!(!format!("{issues:?}").contains(&short));
        let issues = Vault::from_config(&cfg(vec![]), "oauth.vault", resolve).unwrap_err();
        assert_eq!(issues[0].path, "oauth.vault.keys");
        let sealed = v.seal(ALICE, b"secret-token").unwrap();
        assert!(!format!("{sealed:?}").contains("secret"), "{sealed:?}");
    }
}
