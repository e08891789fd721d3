//! Whether the directory behind Basic authentication can be reached, for the admin overview: a TCP connect
//! to its host and port (LDAP server, AAD authority), at most [`PROBE_TIMEOUT`], the answer kept for
//! [`KEEP`] so that reloading the console does not probe each time. The embedded directory is always there.

use authgate_core::config::DirectoryBackendConfig;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The longest a probe waits for the connection.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a probe's answer is reused.
pub const KEEP: Duration = Duration::from_secs(10);

/// The last probe's answer, by the backend it probed.
#[derive(Default)]
pub struct DirectoryProbe {
    last: Mutex<Option<(Option<DirectoryBackendConfig>, Instant, Value)>>,
}

impl DirectoryProbe {
    /// `{kind, target, ok, checked_at, error?}` for `backend` (`None`: the embedded directory), probed now or
    /// reused from a probe less than [`KEEP`] old of the same backend. Concurrent callers share one probe.
    pub async fn check(&self, backend: Option<&DirectoryBackendConfig>) -> Value {
        let mut last = self.last.lock().await;
        if let Some((probed, at, answer)) = &*last {
            if probed.as_ref() == backend && at.elapsed() < KEEP {
                return answer.clone();
            }
        }
        let answer = probe(backend).await;
        *last = Some((backend.cloned(), Instant::now(), answer.clone()));
        answer
    }
}

/// What a backend's reachability is checked at: `(kind, host, port)`.
fn target(backend: &DirectoryBackendConfig) -> Result<(&'static str, String, u16), String> {
    let (kind, url, default_port) = match backend {
        DirectoryBackendConfig::Ldap(l) => (
            "ldap",
            l.url.as_str(),
            if l.url.starts_with("ldaps:") { 636 } else { 389 },
        ),
        DirectoryBackendConfig::Aad(a) => ("aad", a.authority.as_str(), 443),
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    let host = parsed.host_str().ok_or("the URL has no host")?.to_string();
    Ok((kind, host, parsed.port().unwrap_or(default_port)))
}

async fn probe(backend: Option<&DirectoryBackendConfig>) -> Value {
    let checked_at = crate::serve::admin_host::rfc3339(std::time::SystemTime::now());
    let Some(backend) = backend else {
        return json!({"kind": "embedded", "ok": true, "checked_at": checked_at});
    };
    let (kind, host, port) = match target(backend) {
        Ok(t) => t,
        Err(error) => return json!({"kind": "unknown", "ok": false, "checked_at": checked_at, "error": error}),
    };
    let shown = format!("{host}:{port}");
    let connect = tokio::net::TcpStream::connect((host.as_str(), port));
    let error = match tokio::time::timeout(PROBE_TIMEOUT, connect).await {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(format!("cannot connect: {e}")),
        Err(_) => Some(format!("no connection within {} ms", PROBE_TIMEOUT.as_millis())),
    };
    let mut answer =
        json!({"kind": kind, "target": shown, "ok": error.is_none(), "checked_at": checked_at, "probe": "tcp connect"});
    if let (Some(error), Some(map)) = (error, answer.as_object_mut()) {
        map.insert("error".into(), Value::String(error));
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ldap(url: &str) -> DirectoryBackendConfig {
        let yaml = format!("ldap: {{url: '{url}', base_dn: 'dc=x', bind_dn: 'cn=s', bind_password: 'p'}}");
        serde_saphyr::from_str(&yaml).expect("an LDAP backend")
    }

    #[tokio::test]
    async fn a_listening_server_is_reachable_and_a_closed_port_is_not() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap().port();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let up = probe(Some(&ldap(&format!("ldap://127.0.0.1:{open}")))).await;
        assert_eq!(up["ok"], true, "{up}");
        assert_eq!(up["target"], format!("127.0.0.1:{open}"));
        let down = probe(Some(&ldap(&format!("ldap://127.0.0.1:{closed}")))).await;
        assert_eq!(down["ok"], false, "{down}");
        assert!(down["error"].as_str().unwrap().starts_with("cannot connect"), "{down}");
        let embedded = probe(None).await;
        assert_eq!(
            (embedded["kind"].as_str(), embedded["ok"].as_bool()),
            (Some("embedded"), Some(true))
        );
    }

    #[tokio::test]
    async fn an_answer_is_reused_for_the_same_backend_only() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let backend = ldap(&format!("ldap://127.0.0.1:{port}"));
        let probe = DirectoryProbe::default();
        assert_eq!(probe.check(Some(&backend)).await["ok"], true);
        drop(listener);
        assert_eq!(probe.check(Some(&backend)).await["ok"], true, "reused within KEEP");
        let other = ldap(&format!("ldaps://127.0.0.1:{port}"));
        assert_eq!(
            probe.check(Some(&other)).await["ok"],
            false,
            "another backend is probed"
        );
    }

    #[test]
    fn default_ports_follow_the_scheme() {
        assert_eq!(
            target(&ldap("ldaps://dc.contoso.com")).unwrap(),
            ("ldap", "dc.contoso.com".into(), 636)
        );
        assert_eq!(
            target(&ldap("ldap://dc.contoso.com")).unwrap(),
            ("ldap", "dc.contoso.com".into(), 389)
        );
        assert!(target(&ldap("not a url")).is_err());
    }
}
