//! The deployment files are valid and agree with the gateway: the Kubernetes manifests parse and follow the
//! sidecar conventions (native sidecar, probes on the admin endpoints, drain, locked-down security context),
//! the configuration they carry passes `authgate check`, the compose file runs the image read-only, and the
//! Dockerfile builds exactly as `.ci/run` does. No container engine is needed.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every document of a multi-document YAML file.
fn documents(path: &str) -> Vec<Value> {
    read(path)
        .split("\n---\n")
        .map(|doc| serde_saphyr::from_str::<Value>(doc).unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect()
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in the manifests"))
}

const MANIFESTS: &str = "docker/kubernetes/authgate-sidecar.yaml";

/// The gateway configuration a manifest's ConfigMap carries.
fn configmap_config(docs: &[Value]) -> Value {
    serde_saphyr::from_str(
        of_kind(docs, "ConfigMap")["data"]["gateway.yaml"]
            .as_str()
            .expect("gateway.yaml"),
    )
    .expect("the ConfigMap's gateway.yaml parses")
}

/// The conventions every authgate container follows: probes on the admin endpoints, a preStop wait, a
/// locked-down security context, and a shutdown (preStop + drain + grace + runtime shutdown) that fits in the
/// pod's grace period.
fn probes_drain_and_lockdown(container: &Value, pod: &Value, config: &Value) {
    let admin_port = container["ports"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "admin"))
        .expect("an admin port")["containerPort"]
        .clone();
    assert_eq!(admin_port, 9901);
    for (probe, path) in [
        ("startupProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
        ("livenessProbe", "/healthz"),
    ] {
        assert_eq!(container[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(container[probe]["httpGet"]["port"], "admin", "{probe}");
    }
    assert!(
        container["lifecycle"]["preStop"]["sleep"]["seconds"].as_u64().is_some(),
        "preStop waits"
    );

    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"][0], "ALL");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);

    // Shutdown fits in the grace period: preStop + drain + grace + runtime shutdown.
    let server = &config["server"];
    let needed = container["lifecycle"]["preStop"]["sleep"]["seconds"].as_u64().unwrap()
        + server["drain_delay_seconds"].as_u64().unwrap()
        + server["grace_period_seconds"].as_u64().unwrap()
        + server["shutdown_timeout_seconds"].as_u64().unwrap();
    let grace = pod["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("a termination grace period");
    assert!(needed < grace, "shutdown needs {needed}s, the pod gets {grace}s");
    assert_eq!(
        config["admin"]["address"],
        format!("0.0.0.0:{admin_port}"),
        "probes reach the admin listener"
    );
}

#[test]
fn sidecar_deployment_follows_the_conventions() {
    let docs = documents(MANIFESTS);
    for doc in &docs {
        assert!(
            doc["apiVersion"].is_string() && doc["metadata"]["name"].is_string(),
            "{doc}"
        );
    }
    let pod = &of_kind(&docs, "Deployment")["spec"]["template"]["spec"];
    let sidecar = pod["initContainers"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "authgate"))
        .expect("authgate runs as an init container");
    assert_eq!(sidecar["restartPolicy"], "Always", "a native sidecar");
    assert!(
        pod["containers"].as_array().is_some_and(|c| !c.is_empty()),
        "an app container"
    );

    let mounts: Vec<&str> = sidecar["volumeMounts"]
        .as_array()
        .expect("volume mounts")
        .iter()
        .filter_map(|m| m["mountPath"].as_str())
        .collect();
    assert!(
        mounts.contains(&"/etc/authgate") && mounts.contains(&"/var/lib/authgate/data"),
        "{mounts:?}"
    );
    let volumes = pod["volumes"].as_array().expect("volumes");
    assert!(volumes.iter().any(|v| v["configMap"]["name"] == "authgate-config"));
    assert!(volumes.iter().any(|v| v["secret"]["secretName"] == "authgate-secrets"));

    let config = configmap_config(&docs);
    probes_drain_and_lockdown(sidecar, pod, &config);
}

/// Runs `authgate check` on the configuration in `manifest`'s ConfigMap, with the Secret's files beside it
/// (`secrets/`) and `env`; returns its output, asserting it passed.
fn check_configmap(manifest: &str, env: &[(&str, &str)]) -> String {
    check_configmap_with(manifest, env, &[])
}

/// As [`check_configmap`], with extra arguments to `authgate check`.
fn check_configmap_with(manifest: &str, env: &[(&str, &str)], args: &[&str]) -> String {
    let docs = documents(manifest);
    let dir = tempfile::tempdir().unwrap();
    // The image ships the definitions under /etc/authgate/policies: here they come from the repository.
    let config = of_kind(&docs, "ConfigMap")["data"]["gateway.yaml"]
        .as_str()
        .unwrap()
        .replace("/etc/authgate/policies", &repo("policies").display().to_string());
    std::fs::write(dir.path().join("gateway.yaml"), config).unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let users = of_kind(&docs, "Secret")["stringData"]["users.yaml"].as_str().unwrap();
    // The shipped hash is a placeholder; the directory must still parse, so give it a real one.
    let hash = authgate_core::directory::embedded::hash_password("svc-password").unwrap();
    std::fs::write(
        secrets.join("users.yaml"),
        users.replace("$argon2id$v=19$m=19456,t=2,p=1$REPLACE$REPLACE", &hash),
    )
    .unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["workflow-web".into()]).unwrap();
    std::fs::write(secrets.join("tls.crt"), cert.cert.pem()).unwrap();
    std::fs::write(secrets.join("tls.key"), cert.signing_key.serialize_pem()).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_authgate"))
        .args(["check", "--config"])
        .arg(dir.path().join("gateway.yaml"))
        .args(args)
        .env("AAD_TENANT_ID", "00000000-0000-0000-0000-000000000000")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("contoso-aad"), "{text}");
    text
}

#[test]
fn the_configmap_configuration_passes_authgate_check() {
    check_configmap(MANIFESTS, &[]);
}

const REPLICAS: &str = "docker/kubernetes/authgate-replicas.yaml";

/// The scaled Deployment: several replicas, no state in the pod, the database and Redis URLs from the Secret,
/// a disruption budget that keeps a quorum serving, and the same probe / drain / lockdown conventions.
#[test]
fn scaled_deployment_shares_its_state_through_settings_from_a_secret() {
    let docs = documents(REPLICAS);
    let deployment = of_kind(&docs, "Deployment");
    let replicas = deployment["spec"]["replicas"].as_u64().expect("replicas");
    assert!(replicas > 1, "a scaled Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = pod["containers"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == "authgate"))
        .expect("an authgate container");
    let config = configmap_config(&docs);
    probes_drain_and_lockdown(container, pod, &config);

    // Shared state comes from environment variables filled from the Secret, never written in the ConfigMap.
    let secret = of_kind(&docs, "Secret");
    let from_secret = |variable: &str| {
        let env = container["env"].as_array().expect("env");
        let entry = env
            .iter()
            .find(|e| e["name"] == variable)
            .unwrap_or_else(|| panic!("{variable} is not set"));
        let reference = &entry["valueFrom"]["secretKeyRef"];
        assert_eq!(reference["name"], secret["metadata"]["name"], "{variable}");
        let key = reference["key"].as_str().expect("a key");
        assert!(
            secret["stringData"][key].is_string(),
            "{variable}: the Secret has no {key}"
        );
    };
    from_secret("AUTHGATE_DATABASE_URL");
    from_secret("AUTHGATE_REDIS_URL");
    assert_eq!(config["builtin"]["database"], "${AUTHGATE_DATABASE_URL}");
    assert_eq!(config["shared_state"]["redis"]["url"], "${AUTHGATE_REDIS_URL}");
    let database_url = secret["stringData"]["database-url"].as_str().unwrap();
    assert!(database_url.starts_with("postgres://"), "{database_url}");

    // No state in the pod: the only writable volume holds the built-in APIs' socket.
    let writable: Vec<&Value> = container["volumeMounts"]
        .as_array()
        .expect("volume mounts")
        .iter()
        .filter(|m| m["readOnly"] != true)
        .collect();
    assert_eq!(writable.len(), 1, "{writable:?}");
    let socket = config["builtin"]["socket"].as_str().expect("a socket path");
    assert!(
        socket.starts_with(writable[0]["mountPath"].as_str().unwrap()),
        "{socket}"
    );

    let budget = of_kind(&docs, "PodDisruptionBudget");
    let min_available = budget["spec"]["minAvailable"].as_u64().expect("minAvailable");
    assert!(
        min_available >= 1 && min_available < replicas,
        "{min_available} of {replicas}"
    );
    assert_eq!(
        budget["spec"]["selector"], deployment["spec"]["selector"],
        "the budget covers the Deployment's pods"
    );
}

/// `authgate check` passes on the scaled configuration with the Secret's URLs, names the PostgreSQL backend and
/// never prints the database password.
#[test]
fn the_scaled_configuration_passes_authgate_check_without_showing_secrets() {
    let out = check_configmap(
        REPLICAS,
        &[
            (
                "AUTHGATE_DATABASE_URL",
                "postgres://authgate:db-secret-pw@127.0.0.1:1/authgate",
            ),
            ("AUTHGATE_REDIS_URL", "redis://:redis-secret-pw@127.0.0.1:1/0"),
        ],
    );
    assert!(out.contains("Customer"), "the shipped SmartObjects are loaded: {out}");
    assert!(
        !out.contains("db-secret-pw") && !out.contains("redis-secret-pw"),
        "{out}"
    );
}

#[test]
fn compose_runs_the_image_read_only_with_a_data_volume() {
    let compose: Value = serde_saphyr::from_str(&read("docker/compose.yaml")).expect("compose.yaml parses");
    let service = &compose["services"]["authgate"];
    assert_eq!(service["build"]["dockerfile"], "docker/Dockerfile");
    assert!(repo("docker")
        .join(service["build"]["context"].as_str().unwrap())
        .join("Cargo.toml")
        .exists());
    assert_eq!(service["read_only"], true);
    assert_eq!(service["cap_drop"][0], "ALL");
    assert!(service["volumes"][0]
        .as_str()
        .unwrap()
        .ends_with(":/var/lib/authgate/data"));
    assert!(compose["volumes"].get("authgate-data").is_some());
}

#[test]
fn dockerfile_builds_as_ci_does_and_runs_unprivileged() {
    let dockerfile = read("docker/Dockerfile");
    let ci = read(".ci/run");
    let build = "cargo build --release --locked --bin authgate";
    assert!(ci.lines().any(|l| l.trim() == build), ".ci/run builds with `{build}`");
    assert!(
        dockerfile.lines().any(|l| l.trim() == format!("RUN {build}")),
        "the Dockerfile builds with `{build}`"
    );
    assert!(
        dockerfile.contains("RUN .ci/bootstrap --build-only"),
        "the same prerequisites as CI"
    );
    assert!(ci.contains(".ci/bootstrap"));
    assert!(
        dockerfile.lines().any(|l| l.trim() == "USER 10001"),
        "runs as a non-root user"
    );
    assert!(dockerfile.contains("VOLUME [\"/var/lib/authgate/data\"]"));
    assert!(dockerfile.contains("AUTHGATE_DATABASE=/var/lib/authgate/data/authgate.db"));
    // Everything the builder copies exists.
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for source in &parts[1..parts.len() - 1] {
            assert!(repo(source).exists(), "{line}: {source} is missing");
        }
    }
}
