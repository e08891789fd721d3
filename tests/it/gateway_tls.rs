//! TLS termination on the public listener, and certificate rotation without a restart.

use crate::support;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::time::Duration;
use support::{base_config, echo_route, echo_upstream, Gateway};

/// A CA and a `localhost` leaf it signed: (ca_pem, leaf_pem, leaf_key_pem).
fn chain(name: &str) -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, name);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    (ca_cert.pem(), leaf.pem(), leaf_key.serialize_pem())
}

fn client_trusting(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(0)
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listener_serves_and_picks_up_a_rotated_certificate() {
    let (ca1, leaf1, key1) = chain("authgate test CA 1");
    let (ca2, leaf2, key2) = chain("authgate test CA 2");
    let upstream = echo_upstream().await;
    let config = format!("{}routes:\n{}", base_config(), echo_route(upstream, ""))
        .replace(
            "listeners: [{address: \"127.0.0.1:{PORT}\"}]",
            "listeners: [{address: \"127.0.0.1:{PORT}\", tls: {cert: leaf.pem, key: leaf.key}}]",
        )
        .replace("reload_poll_seconds: 0", "reload_poll_seconds: 1");
    // The certificate files exist before the gateway starts.
    let gw = Gateway::start_with_files(&config, &[("leaf.pem", &leaf1), ("leaf.key", &key1)]).await;
    let url = format!("https://localhost:{}/api/x", gw.port);

    let trusts_ca1 = client_trusting(&ca1);
    let first = trusts_ca1
        .get(&url)
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert!(
        client_trusting(&ca2).get(&url).send().await.is_err(),
        "a client trusting only CA 2 must not accept CA 1's certificate"
    );

    // Rotate: key first, then certificate (as cert-manager does), and wait for the reload to be counted.
    support::write(gw.dir.path(), "leaf.key", &key2);
    support::write(gw.dir.path(), "leaf.pem", &leaf2);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while gw.metric("authgate_tls_reloads_total", &["result=\"ok\""]).await < 1.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "certificate not reloaded:\n{}",
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rotated = client_trusting(&ca2)
        .get(&url)
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), 200);
    assert!(
        client_trusting(&ca1).get(&url).send().await.is_err(),
        "old certificate no longer served"
    );

    // A broken rotation is refused and the current certificate keeps serving.
    support::write(gw.dir.path(), "leaf.pem", "not a certificate");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while gw.metric("authgate_tls_reloads_total", &["result=\"error\""]).await < 1.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "broken certificate not reported:\n{}",
            gw.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let still = client_trusting(&ca2)
        .get(&url)
        .basic_auth("alice", Some("alice-pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(still.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_a_tls_listener_is_refused() {
    let (_, leaf, key) = chain("authgate test CA");
    let upstream = echo_upstream().await;
    let config = format!("{}routes:\n{}", base_config(), echo_route(upstream, "")).replace(
        "listeners: [{address: \"127.0.0.1:{PORT}\"}]",
        "listeners: [{address: \"127.0.0.1:{PORT}\", tls: {cert: leaf.pem, key: leaf.key}}]",
    );
    let gw = Gateway::start_with_files(&config, &[("leaf.pem", &leaf), ("leaf.key", &key)]).await;
    let plain = support::client().get(gw.url("/api/x")).send().await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
}
