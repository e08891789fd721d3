//! The operator commands of the directory user managers, run as the real binary: `consent-url`, and `check`
//! with an LDAP or AAD Basic backend.

use std::process::{Command, Output};

fn authgate(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_authgate"))
        .args(args)
        .env_remove("AUTHGATE_CONFIG")
        .envs(envs.iter().copied())
        .output()
        .expect("authgate binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn consent_url_prints_the_platform_admin_consent_url_encoded() {
    let out = authgate(
        &[
            "consent-url",
            "--tenant",
            "contoso.onmicrosoft.com",
            "--client-id",
            "57928c92-7074-45f8-b89e-fe2556ac187f",
            "--redirect-uri",
            "https://app.contoso.com/aad/consented?from=authgate",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/authorize\
         ?client_id=57928c92-7074-45f8-b89e-fe2556ac187f&response_type=code\
         &redirect_uri=https%3A%2F%2Fapp.contoso.com%2Faad%2Fconsented%3Ffrom%3Dauthgate\
         &resource=https%3A%2F%2Fapi.k2.com&prompt=admin_consent\n"
    );
    let out = authgate(
        &[
            "consent-url",
            "--tenant",
            "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "--client-id",
            "app",
            "--redirect-uri",
            "https://localhost/cb",
            "--resource",
            "https://api.k2.com/",
        ],
        &[],
    );
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/authorize?"));
    assert!(text(&out.stdout).contains("&resource=https%3A%2F%2Fapi.k2.com%2F&prompt=admin_consent"));
}

#[test]
fn consent_url_refuses_a_tenant_that_could_change_the_path() {
    let out = authgate(
        &[
            "consent-url",
            "--tenant",
            "../common/oauth2/v2.0",
            "--client-id",
            "app",
            "--redirect-uri",
            "https://localhost/cb",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("--tenant"), "{}", text(&out.stderr));
}

fn check(backend: &str, envs: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.yaml");
    let yaml = format!(
        "listeners: [{{address: '127.0.0.1:8080'}}]\nbasic:\n  backend:\n{backend}\nbuiltin: {{socket: '{0}/s.sock', database: '{0}/db'}}\nroutes: []\n",
        dir.path().display()
    );
    std::fs::write(&path, yaml).unwrap();
    authgate(&["check", "--config", path.to_str().unwrap()], envs)
}

#[test]
fn check_describes_an_ldap_backend_without_its_password_and_names_bad_fields() {
    let ldap = "    ldap:\n      url: ldaps://dc1.contoso.com\n      bind_dn: CN=svc-authgate,OU=Service,DC=contoso,DC=com\n      \
                bind_password: ${TEST_BIND_PW}\n      base_dn: DC=contoso,DC=com";
    let out = check(ldap, &[("TEST_BIND_PW", "Pa55-w0rd-never-shown")]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}{}", stdout, text(&out.stderr));
    assert!(
        stdout.contains("Active Directory over LDAP at ldaps://dc1.contoso.com"),
        "{stdout}"
    );
    assert!(!stdout.contains("Pa55-w0rd-never-shown"));
    // Without the variable: the error names it, and the file is not used.
    let out = check(ldap, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("TEST_BIND_PW"), "{}", text(&out.stderr));
    // Bad values are reported at their paths.
    let bad = "    ldap: {url: 'http://dc1', bind_dn: x, bind_password: '', base_dn: '', starttls: true}";
    let stderr = text(&check(bad, &[]).stderr);
    for path in [
        "basic.backend.ldap.url",
        "basic.backend.ldap.bind_password",
        "basic.backend.ldap.base_dn",
    ] {
        assert!(stderr.contains(path), "{path}: {stderr}");
    }
    let unknown = text(&check("    ldap: {url: 'ldap://dc1', colour: red}", &[]).stderr);
    assert!(
        unknown.contains("basic.backend.ldap") && unknown.contains("colour"),
        "{unknown}"
    );
}

#[test]
fn check_describes_an_aad_backend_and_requires_resource_or_scope() {
    let aad = "    aad: {tenant: contoso.onmicrosoft.com, client_id: app-1, client_secret: '${TEST_AAD_SECRET}', resource: 'https://api.k2.com/'}";
    let out = check(aad, &[("TEST_AAD_SECRET", "aad-secret-never-shown")]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}{}", stdout, text(&out.stderr));
    assert!(
        stdout.contains("Azure AD password grant, tenant contoso.onmicrosoft.com"),
        "{stdout}"
    );
    assert!(!stdout.contains("aad-secret-never-shown"));
    let neither = text(&check("    aad: {tenant: contoso.com, client_id: app-1}", &[]).stderr);
    assert!(neither.contains("basic.backend.aad.resource"), "{neither}");
}
