//! TLS to the PostgreSQL server, with libpq's meaning of `sslmode` and `sslrootcert`.
//!
//! tokio-postgres knows `sslmode` = disable / prefer / require only, refuses `verify-ca`, `verify-full` and
//! `sslrootcert`, and leaves the handshake to a [`MakeTlsConnect`]. [`Settings::parse`] takes our two options
//! out of a `postgres://` URL (the driver then parses the rest) and [`Settings::connector`] builds the
//! rustls connector (aws-lc-rs provider) that verifies as the mode says:
//!
//! | `sslmode`  | encrypted                  | the server's certificate                                    |
//! |------------|----------------------------|-------------------------------------------------------------|
//! | `disable`  | never                      | -                                                           |
//! | `prefer`   | if the server offers it    | not verified (the default, as libpq's)                      |
//! | `require`  | always                     | not verified; chained to the root when `sslrootcert` is set |
//! | `verify-ca`| always                     | chained to the root, any host name                          |
//! | `verify-full`| always                   | chained to the root and naming the host of the URL          |
//!
//! The root is `sslrootcert=<PEM file>`, or the system's roots (`rustls-native-certs`, as the LDAP client
//! does) when it is absent or `system`.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::config::SslMode as DriverSslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Ok(match text {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode `{other}` is not one of disable, prefer, require, verify-ca, verify-full"
                ))
            }
        })
    }
}

/// Where the roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roots {
    /// The system's trusted roots.
    System,
    /// A PEM file of CA certificates.
    File(PathBuf),
}

/// A connection string split into what the driver parses and how TLS is done.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The driver's configuration: the URL without `sslrootcert`, its `sslmode` mapped to the driver's.
    pub config: tokio_postgres::Config,
    pub mode: SslMode,
    /// `sslrootcert`; `None` when not given.
    pub roots: Option<Roots>,
}

impl Settings {
    /// Parses a `postgres://` URL (or a `key=value` string, where only the driver's `sslmode` values are
    /// understood). The error never shows the URL (the caller names it, redacted).
    pub fn parse(text: &str) -> Result<Self, String> {
        if !super::is_url(text) {
            let config = tokio_postgres::Config::from_str(text).map_err(|e| super::describe(&e))?;
            let mode = match config.get_ssl_mode() {
                DriverSslMode::Disable => SslMode::Disable,
                DriverSslMode::Require => SslMode::Require,
                _ => SslMode::Prefer,
            };
            return Ok(Self {
                config,
                mode,
                roots: None,
            });
        }
        let mut url = url::Url::parse(text.trim()).map_err(|e| e.to_string())?;
        let mut mode = SslMode::Prefer;
        let mut roots = None;
        let mut kept = Vec::new();
        for (key, value) in url.query_pairs() {
            match &*key {
                "sslmode" => mode = value.parse()?,
                "sslrootcert" if value == "system" => roots = Some(Roots::System),
                "sslrootcert" if value.is_empty() => return Err("sslrootcert is empty".into()),
                "sslrootcert" => roots = Some(Roots::File(PathBuf::from(&*value))),
                _ => kept.push((key.into_owned(), value.into_owned())),
            }
        }
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
        let mut config = tokio_postgres::Config::from_str(url.as_str()).map_err(|e| super::describe(&e))?;
        config.ssl_mode(match mode {
            SslMode::Disable => DriverSslMode::Disable,
            SslMode::Prefer => DriverSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => DriverSslMode::Require,
        });
        Ok(Self { config, mode, roots })
    }

    /// The TLS connector for this mode; reads the root file. The error names the file, never the URL.
    pub fn connector(&self) -> Result<MakeRustlsConnect, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match (self.mode, &self.roots) {
            (SslMode::Disable | SslMode::Prefer, _) | (SslMode::Require, None) => Arc::new(Unverified {
                provider: provider.clone(),
            }),
            // As libpq: `require` with a root file verifies the chain.
            (SslMode::Require | SslMode::VerifyCa, roots) => Arc::new(AnyHostName {
                inner: webpki(roots.as_ref(), &provider)?,
            }),
            (SslMode::VerifyFull, roots) => webpki(roots.as_ref(), &provider)?,
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS settings: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect {
            config: Arc::new(config),
        })
    }
}

/// The root store from `roots` (the system's when `None`).
fn root_store(roots: Option<&Roots>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match roots {
        Some(Roots::File(path)) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("cannot read sslrootcert {}: {e}", path.display()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("sslrootcert {} is not a PEM certificate bundle: {e}", path.display()))?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!("sslrootcert {} holds no usable CA certificate", path.display()));
            }
        }
        Some(Roots::System) | None => {
            let native = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(native.certs);
            if store.is_empty() {
                return Err("the system has no trusted root certificates: set sslrootcert".into());
            }
        }
    }
    Ok(store)
}

fn webpki(roots: Option<&Roots>, provider: &Arc<CryptoProvider>) -> Result<Arc<WebPkiServerVerifier>, String> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(root_store(roots)?), provider.clone())
        .build()
        .map_err(|e| format!("TLS roots: {e}"))
}

/// `verify-ca`: the chain must lead to a root; the host name is not checked. rustls checks the chain before
/// the name, so a name mismatch means the chain was good.
#[derive(Debug)]
struct AnyHostName {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `prefer` and `require` without a root: encrypted, the certificate not verified (the handshake's
/// signatures still are).
#[derive(Debug)]
struct Unverified {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// tokio-postgres's TLS hook on tokio-rustls.
#[derive(Clone)]
pub struct MakeRustlsConnect {
    config: Arc<ClientConfig>,
}

impl<S> MakeTlsConnect<S> for MakeRustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnect> {
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("host `{domain}`: {e}")))?;
        Ok(RustlsConnect {
            connector: tokio_rustls::TlsConnector::from(self.config.clone()),
            name,
        })
    }
}

/// One handshake with one host.
pub struct RustlsConnect {
    connector: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move { self.connector.connect(self.name, stream).await.map(RustlsStream) })
    }
}

/// An encrypted connection (no channel binding).
pub struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_options_are_taken_out_and_the_rest_goes_to_the_driver() {
        let s = Settings::parse("postgres://u:pw@db:5433/x?sslmode=verify-full&sslrootcert=/ca.pem&connect_timeout=3")
            .unwrap();
        assert_eq!(s.mode, SslMode::VerifyFull);
        assert_eq!(s.roots, Some(Roots::File("/ca.pem".into())));
        assert_eq!(s.config.get_ssl_mode(), DriverSslMode::Require);
        assert_eq!(s.config.get_connect_timeout(), Some(&std::time::Duration::from_secs(3)));
        assert_eq!(s.config.get_dbname(), Some("x"));

        let s = Settings::parse("postgres://u@db/x?sslmode=verify-ca&sslrootcert=system").unwrap();
        assert_eq!((s.mode, s.roots), (SslMode::VerifyCa, Some(Roots::System)));
        let s = Settings::parse("postgres://u@db/x").unwrap();
        assert_eq!((s.mode, s.roots), (SslMode::Prefer, None));
        assert_eq!(s.config.get_ssl_mode(), DriverSslMode::Prefer);
        let s = Settings::parse("postgres://u@db/x?sslmode=disable").unwrap();
        assert_eq!(s.config.get_ssl_mode(), DriverSslMode::Disable);
        let s = Settings::parse("host=db user=u sslmode=require").unwrap();
        assert_eq!(s.mode, SslMode::Require);

        assert!(Settings::parse("postgres://u@db/x?sslmode=verify_full").is_err());
        assert!(Settings::parse("postgres://u@db/x?sslrootcert=").is_err());
    }

    #[test]
    fn an_unreadable_root_file_is_an_error_naming_it() {
        let s = Settings::parse("postgres://u@db/x?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem").unwrap();
        let err = s.connector().err().unwrap();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
        // Without verification no root is read.
        let s = Settings::parse("postgres://u@db/x?sslmode=require").unwrap();
        assert!(s.connector().is_ok());
    }
}
