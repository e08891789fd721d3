//! TLS termination on the public listeners (rustls, TLS 1.2 and 1.3 only): a certificate resolver that
//! serves the current certificate and swaps in a rotated one when its files change, without a restart.
//! A rotated pair that does not load (unreadable, mismatched key) is refused and the old one keeps serving.

use arc_swap::ArcSwap;
use pingora::tls::sign::CertifiedKey;
use pingora::tls::{ClientHello, CryptoProvider, ResolvesServerCert};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// A certificate and key loaded from PEM files, reloadable.
#[derive(Debug)]
pub struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: ArcSwap<CertifiedKey>,
    stamps: Mutex<(Stamp, Stamp)>,
}

fn read(cert_path: &Path, key_path: &Path) -> Result<Arc<CertifiedKey>, String> {
    pingora::tls::install_default_crypto_provider();
    let (certs, key) =
        pingora::tls::load_certs_and_key_files(&cert_path.to_string_lossy(), &key_path.to_string_lossy())
            .map_err(|e| format!("cannot read {} / {}: {e}", cert_path.display(), key_path.display()))?
            .ok_or_else(|| {
                format!(
                    "no certificate in {} or no private key in {}",
                    cert_path.display(),
                    key_path.display()
                )
            })?;
    let provider = CryptoProvider::get_default().ok_or("no TLS crypto provider installed")?;
    CertifiedKey::from_der(certs, key, provider).map(Arc::new).map_err(|e| {
        format!(
            "certificate {} and key {} do not form a usable pair: {e}",
            cert_path.display(),
            key_path.display()
        )
    })
}

impl ReloadingCert {
    /// Loads the pair now.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self, String> {
        let stamps = (stamp(cert_path), stamp(key_path));
        Ok(Self {
            current: ArcSwap::new(read(cert_path, key_path)?),
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            stamps: Mutex::new(stamps),
        })
    }

    /// The certificate file.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// Reloads when either file changed since the last load. `Ok(true)` when a new pair is in place,
    /// `Err` (old pair kept) when the changed files do not load.
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let now = (stamp(&self.cert_path), stamp(&self.key_path));
        let Ok(mut seen) = self.stamps.lock() else {
            return Ok(false);
        };
        if *seen == now {
            return Ok(false);
        }
        // Remember the attempt either way, so a broken pair is reported once, not on every poll.
        *seen = now;
        let fresh = read(&self.cert_path, &self.key_path)?;
        self.current.store(fresh);
        Ok(true)
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_mismatched_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = ReloadingCert::load(&dir.path().join("nope.pem"), &dir.path().join("nope.key")).unwrap_err();
        assert!(err.contains("nope.pem"), "{err}");
        std::fs::write(dir.path().join("empty.pem"), "").unwrap();
        let err = ReloadingCert::load(&dir.path().join("empty.pem"), &dir.path().join("empty.pem")).unwrap_err();
        assert!(err.contains("no certificate") || err.contains("cannot read"), "{err}");
    }
}
