//! TLS to PostgreSQL with libpq's `sslmode` values and `sslrootcert`, against one cluster started with
//! `ssl=on` and a `pg_hba.conf` accepting TLS only. Its certificate, signed by a CA made here, names
//! `127.0.0.1` only: connecting to `localhost` (with `hostaddr=127.0.0.1`) is a host name the certificate does
//! not cover.

use crate::servers::postgres::{Postgres, ServerCert};
use authgate_apis::store::postgres::{self, Database};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::time::Duration;

/// A CA (its PEM) and the server certificate it signed for `names`.
fn chain(name: &str, names: &[&str]) -> (String, ServerCert) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, name);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (
        ca_cert.pem(),
        ServerCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        },
    )
}

fn options() -> postgres::Options {
    postgres::Options {
        pool_size: 2,
        connect_timeout: Duration::from_secs(5),
        ..postgres::Options::default()
    }
}

/// Opens the store's pool on `url` (migrating) and asks the server whether this connection is encrypted.
async fn encrypted(url: &str) -> Result<bool, String> {
    let db = Database::open(url, options()).await.map_err(|e| e.to_string())?;
    let client = db.client().await.map_err(|e| e.to_string())?;
    let row = client
        .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get::<_, bool>(0))
}

#[tokio::test]
async fn sslmode_and_sslrootcert_mean_what_they_mean_to_libpq() {
    let (ca_pem, cert) = chain("authgate test CA", &["127.0.0.1"]);
    let (other_ca_pem, _) = chain("some other CA", &["127.0.0.1"]);
    let server = Postgres::start_tls(&cert).await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root.pem");
    let wrong_root = dir.path().join("other-root.pem");
    std::fs::write(&root, ca_pem).unwrap();
    std::fs::write(&wrong_root, other_ca_pem).unwrap();
    let port = server.port;
    // Trust authentication ignores the password: it is there to prove errors never show it.
    let url = |host: &str, query: &str| {
        let database = server.create_database();
        let name = database.rsplit('/').next().unwrap().to_string();
        format!("postgres://authgate:s3cret-pw@{host}:{port}/{name}?{query}")
    };
    let root = root.display();
    let wrong_root = wrong_root.display();

    // verify-full with the right root: connected, encrypted, migrated (the store works on it).
    let full = url("127.0.0.1", &format!("sslmode=verify-full&sslrootcert={root}"));
    assert_eq!(encrypted(&full).await, Ok(true));

    // verify-full with another CA's root: refused, saying why, without the password.
    let err = encrypted(&url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={wrong_root}"),
    ))
    .await
    .expect_err("a certificate from an unknown CA is refused");
    assert!(err.contains("invalid peer certificate"), "{err}");
    assert!(!err.contains("s3cret-pw"), "{err}");

    // A host name the certificate does not name: verify-full refuses, verify-ca accepts.
    let err = encrypted(&url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={root}&hostaddr=127.0.0.1"),
    ))
    .await
    .expect_err("a certificate for another host is refused");
    assert!(err.contains("not valid for name \"localhost\""), "{err}");
    assert!(!err.contains("s3cret-pw"), "{err}");
    let ca = url(
        "localhost",
        &format!("sslmode=verify-ca&sslrootcert={root}&hostaddr=127.0.0.1"),
    );
    assert_eq!(encrypted(&ca).await, Ok(true));
    // ...but not with the wrong root.
    let err = encrypted(&url(
        "localhost",
        &format!("sslmode=verify-ca&sslrootcert={wrong_root}&hostaddr=127.0.0.1"),
    ))
    .await
    .expect_err("verify-ca still checks the chain");
    assert!(err.contains("invalid peer certificate"), "{err}");

    // require: encrypted, no root needed; prefer (the default) encrypts when the server offers it.
    assert_eq!(encrypted(&url("127.0.0.1", "sslmode=require")).await, Ok(true));
    assert_eq!(encrypted(&url("127.0.0.1", "")).await, Ok(true));

    // disable against a server that takes TLS only: refused by pg_hba.conf.
    let err = encrypted(&url("127.0.0.1", "sslmode=disable"))
        .await
        .expect_err("a plaintext connection is refused");
    assert!(err.contains("no encryption"), "{err}");
    assert!(!err.contains("s3cret-pw"), "{err}");

    // An unreadable root file is an error naming it, before any connection.
    let err = postgres::check_url(&format!(
        "postgres://authgate:s3cret-pw@127.0.0.1:{port}/x?sslmode=verify-full&sslrootcert=/nonexistent/root.pem"
    ))
    .expect_err("the root file is read");
    assert!(err.contains("/nonexistent/root.pem"), "{err}");
    assert!(!err.contains("s3cret-pw"), "{err}");
}
