//! OpenLDAP `slapd` with an AD-like directory (`tests/ldap/seed.ldif`, schema `tests/ldap/ad-lite.schema`):
//! a service account that may read users, anonymous binds allowed only to authenticate, and (as AD does)
//! a DN with an empty password bound as anonymous.

use super::{accepts, require_tool, wait_for, Killed};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The service account slapd's ACL lets read the directory.
pub const SERVICE_DN: &str = "cn=svc-authgate,ou=service,dc=contoso,dc=com";
/// Its password (as seeded).
pub const SERVICE_PASSWORD: &str = "svc-secret-9f3a";
/// The search base.
pub const BASE_DN: &str = "dc=contoso,dc=com";

/// A running slapd.
pub struct Slapd {
    process: Killed,
    /// `ldap://` port (StartTLS offered when started with TLS).
    pub port: u16,
    /// `ldaps://` port, when started with TLS.
    pub ldaps_port: Option<u16>,
    /// The CA that signed slapd's certificate, when started with TLS.
    pub ca_file: Option<PathBuf>,
    /// Its directory (configuration, database, log).
    pub dir: tempfile::TempDir,
}

impl Slapd {
    /// Starts slapd on a free loopback port, seeded, and waits until it accepts connections.
    pub async fn start() -> Self {
        Self::launch(false).await
    }

    /// Like [`Slapd::start`], also with LDAPS and StartTLS (a certificate for 127.0.0.1 from a fresh CA).
    pub async fn start_with_tls() -> Self {
        Self::launch(true).await
    }

    async fn launch(tls: bool) -> Self {
        let slapd = require_tool("slapd");
        let slapadd = require_tool("slapadd");
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ldap");
        let mut conf = String::new();
        for schema in ["core", "cosine", "inetorgperson", "nis"] {
            conf += &format!("include /etc/ldap/schema/{schema}.schema\n");
        }
        conf += &format!("include {}\n", tests.join("ad-lite.schema").display());
        conf += &format!(
            "pidfile {0}/slapd.pid\nargsfile {0}/slapd.args\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\n",
            dir.path().display()
        );
        let ca_file = tls.then(|| {
            let (ca, cert, key) = certificate_for_loopback();
            for (name, pem) in [("ca.pem", &ca), ("cert.pem", &cert), ("key.pem", &key)] {
                std::fs::write(dir.path().join(name), pem).unwrap();
            }
            conf += &format!(
                "TLSCertificateFile {0}/cert.pem\nTLSCertificateKeyFile {0}/key.pem\n",
                dir.path().display()
            );
            dir.path().join("ca.pem")
        });
        // Like AD, accept an "unauthenticated" bind (a DN with an empty password) as anonymous, so the suite
        // proves the gateway never sends one.
        conf += "allow bind_anon_dn\n";
        conf += &format!(
            "database mdb\nmaxsize 10485760\nsuffix \"{BASE_DN}\"\nrootdn \"cn=admin,{BASE_DN}\"\ndirectory {}\n\
             access to attrs=userPassword by anonymous auth by * none\n\
             access to * by dn.exact=\"{SERVICE_DN}\" read by self read by * none\n",
            data.display()
        );
        let conf_path = dir.path().join("slapd.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let seeded = Command::new(&slapadd)
            .arg("-f")
            .arg(&conf_path)
            .arg("-l")
            .arg(tests.join("seed.ldif"))
            .output()
            .expect("run slapadd");
        assert!(
            seeded.status.success(),
            "slapadd failed:\n{}",
            String::from_utf8_lossy(&seeded.stderr)
        );
        let port = crate::support::free_port();
        let ldaps_port = tls.then(crate::support::free_port);
        let mut urls = format!("ldap://127.0.0.1:{port}/");
        if let Some(p) = ldaps_port {
            urls += &format!(" ldaps://127.0.0.1:{p}/");
        }
        let log = dir.path().join("slapd.log");
        // `-d` keeps slapd in the foreground (so it is our child and dies with the test); level 0 logs little.
        let child = Command::new(&slapd)
            .arg("-f")
            .arg(&conf_path)
            .args(["-h", &urls, "-d", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start slapd");
        let mut process = Killed(Some(child));
        wait_for("slapd", Duration::from_secs(15), &mut process, &log, || accepts(port)).await;
        if let Some(p) = ldaps_port {
            wait_for("slapd (ldaps)", Duration::from_secs(15), &mut process, &log, || {
                accepts(p)
            })
            .await;
        }
        Self {
            process,
            port,
            ldaps_port,
            ca_file,
            dir,
        }
    }

    /// `ldap://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// `ldaps://127.0.0.1:port`.
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.ldaps_port.expect("started with TLS"))
    }

    /// Stops slapd (the directory goes down).
    pub fn stop(&mut self) {
        self.process.kill();
    }
}

/// (CA PEM, leaf PEM for 127.0.0.1 and localhost, leaf key PEM).
fn certificate_for_loopback() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "authgate LDAP test CA");
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca_pem, leaf.pem(), key.serialize_pem())
}
