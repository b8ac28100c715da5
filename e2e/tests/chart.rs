//! The Helm chart (`charts/capstan`) against the real `helm` and the test environment's
//! Kubernetes v1.20 (issue 10's acceptance).
//!
//! - Offline: `helm lint --strict` and `helm template` for the default values and
//!   `examples/values-aks.yaml`, the rendered objects parsed and checked (names, Redis, Workload
//!   Identity, shards, pod security, every `CAPSTAN_*` variable a flag of the binary it runs), the
//!   PodDisruptionBudget/HPA API versions per Kubernetes version, and the schema's messages for
//!   wrong values.
//! - Installed: `helm install` into a fresh namespace of the shared kube-apiserver; every
//!   rendered object exists and passes v1.20's schema, the CRDs are served, the HPA acts. Then the
//!   RBAC proof: each component runs in this process with the token of *its own* ServiceAccount
//!   (the controller, repo-server, api-server and auth-gateway libraries the binaries run), a user
//!   logs in through the gateway with the initial admin password, creates the seed's AppProject
//!   and users-api-dev Application through the API, the controller syncs it to Synced and Healthy
//!   and deletes it again with its resources — so the chart's Roles and ClusterRoles suffice.
//!   Grants and denials from the chart's README are checked with `kubectl auth can-i` and with
//!   real calls made with the tokens.
//! - Installed with `controller.clusterAccess: namespaces`: nothing cluster-wide is granted; the
//!   controller's token can neither read nor write outside its namespaces, and the chart's
//!   in-cluster cluster Secret (`namespaces: <target>`) makes the controller watch the target
//!   namespace alone — it syncs and prunes an app there on those Roles, and refuses an app
//!   deploying elsewhere with Argo CD's "is not managed" error.
//!
//! The kube-apiserver is shared by parallel tests: every release has its own namespace, its
//! cluster-scoped objects carry that namespace in their names, and the CRDs (identical to what
//! other tests install) are left to Helm only when they are missing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use base64::Engine as _;
use capstan_e2e::{SeedRepo, TestEnv, eventually, unique_name};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use serde::Deserialize as _;
use serde_json::{Value, json};
use tokio::sync::oneshot;

// The in-process components are started as the shared e2e stack starts them.
mod support;

/// The release name of the installed tests: with it, object names are the binaries' defaults.
const RELEASE: &str = "capstan";
const CRDS: [&str; 3] = [
    "applications.argoproj.io",
    "applicationsets.argoproj.io",
    "appprojects.argoproj.io",
];
const COMPONENTS: [&str; 4] = [
    "api-server",
    "application-controller",
    "auth-gateway",
    "repo-server",
];

// ------------------------------------------------------------------------------------------
// helpers: processes, helm, rendered objects
// ------------------------------------------------------------------------------------------

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the e2e crate lives in the workspace")
        .to_path_buf()
}

/// The chart under test: `charts/capstan`, or `CAPSTAN_CHART_DIR` (an unpacked `helm package`,
/// or a copy with a deliberate fault to see these tests catch it).
fn chart_dir() -> PathBuf {
    std::env::var_os("CAPSTAN_CHART_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("charts/capstan"))
}

fn aks_values() -> String {
    chart_dir()
        .join("examples/values-aks.yaml")
        .to_string_lossy()
        .into_owned()
}

/// `helm`: the test environment's (`$HELM`, else the one install-deps.sh put in the cache).
/// The offline tests need no running environment.
fn helm_bin() -> anyhow::Result<PathBuf> {
    if let Some(helm) = std::env::var_os("HELM") {
        return Ok(PathBuf::from(helm));
    }
    let cache = std::env::var_os("CAPSTAN_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/capstan")))
        .context("neither CAPSTAN_CACHE_DIR nor HOME is set")?;
    let helm = cache.join("tools/bin/helm");
    ensure!(
        helm.is_file(),
        "no helm at {}: run e2e/scripts/install-deps.sh",
        helm.display()
    );
    Ok(helm)
}

/// The outcome of a process: success, stdout, stderr.
struct Outcome {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn run(program: &Path, args: &[&str]) -> anyhow::Result<Outcome> {
    let output = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {}", program.display()))?;
    Ok(Outcome {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Runs `program args` and returns its stdout; fails with its stderr.
fn run_ok(program: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = run(program, args)?;
    ensure!(
        out.ok,
        "{} {} failed:\n{}{}",
        program.display(),
        args.join(" "),
        out.stderr,
        out.stdout
    );
    Ok(out.stdout)
}

/// The documents of a multi-document YAML stream, empty ones left out.
fn parse_documents(yaml: &str) -> anyhow::Result<Vec<Value>> {
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(yaml) {
        let value = Value::deserialize(doc).context("parsing rendered YAML")?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// Objects rendered by the chart.
struct Rendered(Vec<Value>);

impl Rendered {
    fn parse(yaml: &str) -> anyhow::Result<Self> {
        let docs = parse_documents(yaml)?;
        for doc in &docs {
            ensure!(
                doc["apiVersion"].is_string()
                    && doc["kind"].is_string()
                    && doc["metadata"]["name"].is_string(),
                "a rendered object without apiVersion, kind or name: {doc:#}"
            );
        }
        Ok(Self(docs))
    }

    fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.0.iter().filter(move |o| o["kind"] == kind)
    }

    fn names(&self, kind: &str) -> BTreeSet<String> {
        self.of_kind(kind)
            .map(|o| {
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    fn get(&self, kind: &str, name: &str) -> &Value {
        self.0
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name}; rendered: {:?}", self.names(kind)))
    }

    /// Deployments and StatefulSets.
    fn workloads(&self) -> impl Iterator<Item = &Value> {
        self.0
            .iter()
            .filter(|o| o["kind"] == "Deployment" || o["kind"] == "StatefulSet")
    }

    /// The one container of a component's workload.
    fn container(&self, kind: &str, name: &str) -> &Value {
        let containers = &self.get(kind, name)["spec"]["template"]["spec"]["containers"];
        assert_eq!(
            containers.as_array().map(Vec::len),
            Some(1),
            "{kind} {name}"
        );
        &containers[0]
    }

    /// (kind, namespace, name) of every object.
    fn identities(&self) -> BTreeSet<(String, String, String)> {
        self.0.iter().map(identity).collect()
    }
}

fn identity(o: &Value) -> (String, String, String) {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    (
        text(&o["kind"]),
        text(&o["metadata"]["namespace"]),
        text(&o["metadata"]["name"]),
    )
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

/// `<prefix>-<component>` for each component given.
fn prefixed(prefix: &str, components: &[&str]) -> BTreeSet<String> {
    components.iter().map(|c| format!("{prefix}-{c}")).collect()
}

/// The value of the environment variable `name` of `container`, or its `valueFrom`.
fn env_var<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| {
            if e.get("value").is_some() {
                &e["value"]
            } else {
                &e["valueFrom"]
            }
        })
}

fn env_names(container: &Value) -> Vec<String> {
    container["env"]
        .as_array()
        .map(|env| {
            env.iter()
                .filter_map(|e| e["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `helm template` of the chart as release `capstan` in `argocd` with `args` added.
fn template(helm: &Path, args: &[&str]) -> anyhow::Result<Rendered> {
    let chart = chart_dir();
    let mut all = vec![
        "template",
        RELEASE,
        chart.to_str().context("chart path")?,
        "--namespace",
        "argocd",
    ];
    all.extend_from_slice(args);
    Rendered::parse(&run_ok(helm, &all)?)
}

/// Every container of every workload runs as non-root with a read-only root filesystem, no
/// privilege escalation, all capabilities dropped and the RuntimeDefault seccomp profile.
fn assert_hardened(rendered: &Rendered) {
    let mut seen = 0;
    for workload in rendered.workloads() {
        let name = &workload["metadata"]["name"];
        let pod = &workload["spec"]["template"]["spec"];
        let pod_sc = &pod["securityContext"];
        let containers = pod["containers"].as_array().cloned().unwrap_or_default();
        let init = pod["initContainers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!containers.is_empty(), "{name}: no containers");
        for c in containers.iter().chain(&init) {
            let sc = &c["securityContext"];
            let what = format!("{name}/{}", c["name"]);
            let either = |field: &str| {
                if sc.get(field).is_some() {
                    &sc[field]
                } else {
                    &pod_sc[field]
                }
            };
            assert_eq!(either("runAsNonRoot"), true, "{what}: runAsNonRoot");
            let uid = either("runAsUser");
            assert!(
                uid.as_u64().is_some_and(|u| u > 0),
                "{what}: runAsUser {uid}"
            );
            assert_eq!(
                sc["readOnlyRootFilesystem"], true,
                "{what}: readOnlyRootFilesystem"
            );
            assert_eq!(
                sc["allowPrivilegeEscalation"], false,
                "{what}: allowPrivilegeEscalation"
            );
            assert!(
                sc["capabilities"]["drop"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|c| c == "ALL")),
                "{what}: capabilities {}",
                sc["capabilities"]
            );
            assert!(
                sc["capabilities"]["add"].is_null(),
                "{what}: adds capabilities"
            );
            assert_eq!(
                either("seccompProfile")["type"],
                "RuntimeDefault",
                "{what}: seccompProfile"
            );
            assert_ne!(sc["privileged"], true, "{what}: privileged");
            seen += 1;
        }
    }
    assert!(seen >= 4, "only {seen} containers checked");
}

/// The environment variable names each binary declares (`env = "..."` in its clap arguments,
/// and the shared logging flags of capstan-runtime).
fn declared_env(binary: &str) -> anyhow::Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for file in [
        workspace().join(format!("crates/{binary}/src/main.rs")),
        workspace().join("crates/capstan-runtime/src/lib.rs"),
    ] {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        for (i, _) in text.match_indices("env = \"") {
            let rest = &text[i + "env = \"".len()..];
            if let Some(end) = rest.find('"') {
                names.insert(rest[..end].to_owned());
            }
        }
    }
    // The cache flags come from `capstan_cache::cache_args!("<PREFIX>")`: the prefix in
    // main.rs, the suffixes in the macro.
    let main = std::fs::read_to_string(workspace().join(format!("crates/{binary}/src/main.rs")))?;
    let macro_text = std::fs::read_to_string(workspace().join("crates/capstan-cache/src/args.rs"))?;
    let marker = "cache_args!(\"";
    if let Some(at) = main.find(marker) {
        let rest = &main[at + marker.len()..];
        let prefix = &rest[..rest.find('"').context("cache_args! prefix")?];
        for (i, _) in macro_text.match_indices("concat!($prefix, \"") {
            let rest = &macro_text[i + "concat!($prefix, \"".len()..];
            if let Some(end) = rest.find('"') {
                names.insert(format!("{prefix}{}", &rest[..end]));
            }
        }
    }
    ensure!(names.len() > 5, "found no clap env names for {binary}");
    Ok(names)
}

/// Checks shared by every values file: the component set, Redis wiring, cache key, security,
/// the variables each binary reads, the per-namespace names of cluster-scoped objects.
fn assert_common(r: &Rendered, redis_url: &str, redis_secret: (&str, &str)) -> anyhow::Result<()> {
    assert_eq!(
        r.names("Deployment")
            .into_iter()
            .filter(|n| n != "capstan-redis")
            .collect::<BTreeSet<_>>(),
        prefixed("capstan", &["api-server", "auth-gateway", "repo-server"])
    );
    assert_eq!(
        r.names("StatefulSet"),
        set(&["capstan-application-controller"])
    );
    assert_eq!(
        r.names("Role"),
        prefixed("capstan", &COMPONENTS),
        "one Role per component"
    );
    assert_eq!(r.names("RoleBinding"), prefixed("capstan", &COMPONENTS));
    // Cluster-scoped names carry the release namespace: two releases never share one.
    let cluster_roles = prefixed("argocd-capstan", &["api-server", "application-controller"]);
    assert_eq!(r.names("ClusterRole"), cluster_roles);
    assert_eq!(r.names("ClusterRoleBinding"), cluster_roles);
    assert_eq!(
        r.names("PodDisruptionBudget"),
        prefixed("capstan", &COMPONENTS)
    );
    for o in &r.0 {
        let (kind, namespace, name) = identity(o);
        match kind.as_str() {
            "ClusterRole" | "ClusterRoleBinding" | "CustomResourceDefinition" => {
                assert_eq!(namespace, "", "{kind} {name}")
            }
            _ => assert_eq!(namespace, "argocd", "{kind} {name}"),
        }
    }
    assert_eq!(r.names("CustomResourceDefinition"), set(&CRDS));

    // The controller may do anything anywhere (Argo CD's controller ClusterRole); the
    // api-server only reads.
    let rules = &r.get("ClusterRole", "argocd-capstan-application-controller")["rules"];
    assert_eq!(
        rules,
        &json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
    );
    let api_rules = r.get("ClusterRole", "argocd-capstan-api-server")["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for rule in &api_rules {
        for verb in rule["verbs"].as_array().into_iter().flatten() {
            assert!(
                verb == "get" || verb == "list",
                "api-server ClusterRole verb {verb}"
            );
        }
    }
    // Every component binds its own ServiceAccount.
    for component in COMPONENTS {
        let name = format!("capstan-{component}");
        let binding = r.get("RoleBinding", &name);
        assert_eq!(binding["roleRef"]["name"], name.as_str());
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "name": name, "namespace": "argocd"}])
        );
        r.get("ServiceAccount", &name);
    }

    // The cache key: 32 random bytes generated into a Secret, mounted into every component.
    let key = r.get("Secret", "capstan-cache-key")["data"]["cache.key"]
        .as_str()
        .context("cache.key")?;
    assert_eq!(
        base64::engine::general_purpose::STANDARD.decode(key)?.len(),
        32
    );

    for (kind, component, prefix) in [
        ("Deployment", "api-server", "CAPSTAN_API_SERVER"),
        ("Deployment", "repo-server", "CAPSTAN_REPO_SERVER"),
        ("Deployment", "auth-gateway", "CAPSTAN_AUTH_GATEWAY"),
        (
            "StatefulSet",
            "application-controller",
            "CAPSTAN_CONTROLLER",
        ),
    ] {
        let name = format!("capstan-{component}");
        let container = r.container(kind, &name);
        assert_eq!(
            env_var(container, &format!("{prefix}_REDIS_URL")),
            Some(&json!(redis_url)),
            "{name}"
        );
        // The password from its Secret in a variable of its own, never inside the URL.
        assert_eq!(
            env_var(container, &format!("{prefix}_REDIS_PASSWORD")),
            Some(&json!({"secretKeyRef": {"name": redis_secret.0, "key": redis_secret.1}})),
            "{name}"
        );
        assert!(!redis_url.contains('@'), "{redis_url}");
        let names = env_names(container);
        assert_eq!(
            env_var(container, &format!("{prefix}_CACHE_KEY_FILE")),
            Some(&json!("/etc/capstan/cache-key/cache.key"))
        );
        assert_eq!(
            env_var(container, &format!("{prefix}_NAMESPACE")),
            Some(&json!("argocd")),
            "{name}"
        );
        let pod = &r.get(kind, &name)["spec"]["template"]["spec"];
        assert_eq!(pod["serviceAccountName"], name.as_str());
        assert!(
            pod["volumes"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|v| v["secret"]["secretName"] == "capstan-cache-key"),
            "{name} mounts the cache key"
        );
        // Every CAPSTAN_* variable is a flag of the binary the container runs.
        let binary = container["command"][0]
            .as_str()
            .context("container command")?;
        assert_eq!(binary, format!("capstan-{component}"));
        let declared = declared_env(binary)?;
        for var in names.iter().filter(|n| n.starts_with("CAPSTAN_")) {
            assert!(
                declared.contains(var),
                "{name} sets {var}, which {binary} does not read"
            );
        }
    }
    assert_hardened(r);
    Ok(())
}

// ------------------------------------------------------------------------------------------
// offline tests
// ------------------------------------------------------------------------------------------

#[test]
fn lint_and_template_pass_for_default_and_aks_values() -> anyhow::Result<()> {
    let helm = helm_bin()?;
    let chart = chart_dir();
    let chart = chart.to_str().context("chart path")?;
    let aks = aks_values();
    let aks = aks.as_str();
    for args in [
        vec!["lint", "--strict", chart],
        vec!["lint", "--strict", chart, "-f", aks],
        vec!["lint", "--strict", chart, "--kube-version", "1.20.2"],
        vec![
            "lint",
            "--strict",
            chart,
            "-f",
            aks,
            "--kube-version",
            "1.20.2",
        ],
    ] {
        let out = run_ok(&helm, &args)?;
        assert!(
            out.contains("1 chart(s) linted, 0 chart(s) failed"),
            "{args:?}: {out}"
        );
        assert!(
            !out.contains("[WARNING]") && !out.contains("[ERROR]"),
            "{args:?}: {out}"
        );
    }

    // ---- the default values: bundled Redis, one controller shard, no Ingress ----
    let r = template(&helm, &["--include-crds"])?;
    assert_common(
        &r,
        "redis://capstan-redis.argocd.svc:6379/0",
        ("capstan-redis", "redis-password"),
    )?;
    assert_eq!(
        r.names("Deployment"),
        prefixed(
            "capstan",
            &["api-server", "auth-gateway", "redis", "repo-server"]
        )
    );
    assert_eq!(
        r.names("Service"),
        prefixed(
            "capstan",
            &[
                "api-server",
                "application-controller",
                "auth-gateway",
                "auth-gateway-internal",
                "redis",
                "repo-server",
                "repo-server-headless"
            ]
        )
    );
    assert_eq!(
        r.get("Service", "capstan-application-controller")["spec"]["clusterIP"],
        "None",
        "the StatefulSet's governing Service is headless"
    );
    // The repo-server's clients resolve its headless Service: every pod, not one.
    assert_eq!(
        r.get("Service", "capstan-repo-server-headless")["spec"]["clusterIP"],
        "None"
    );
    for (kind, name, var) in [
        (
            "StatefulSet",
            "capstan-application-controller",
            "CAPSTAN_CONTROLLER_REPO_SERVER",
        ),
        (
            "Deployment",
            "capstan-api-server",
            "CAPSTAN_API_SERVER_REPO_SERVER",
        ),
    ] {
        assert_eq!(
            env_var(r.container(kind, name), var),
            Some(&json!("http://capstan-repo-server-headless:8081")),
            "{name}"
        );
    }
    assert_eq!(
        r.names("ServiceAccount"),
        prefixed(
            "capstan",
            &[
                "api-server",
                "application-controller",
                "auth-gateway",
                "redis",
                "repo-server"
            ]
        )
    );
    assert_eq!(
        r.names("NetworkPolicy"),
        prefixed(
            "capstan",
            &[
                "api-server",
                "application-controller",
                "auth-gateway",
                "redis",
                "repo-server"
            ]
        )
    );
    assert_eq!(
        r.names("Secret"),
        set(&["capstan-cache-key", "capstan-redis"])
    );
    assert!(r.names("Ingress").is_empty(), "no Ingress by default");
    // The only settings object by default: Argo CD's default SSH known hosts, which the
    // repo-server watches.
    assert_eq!(r.names("ConfigMap"), set(&["argocd-ssh-known-hosts-cm"]));
    let known_hosts = r.get("ConfigMap", "argocd-ssh-known-hosts-cm")["data"]["ssh_known_hosts"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for line in known_hosts.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert!(
            fields.len() == 3
                && base64::engine::general_purpose::STANDARD
                    .decode(fields[2])
                    .is_ok(),
            "host, key type, base64 key: {line}"
        );
    }
    assert!(
        known_hosts.contains("\nssh.dev.azure.com ssh-rsa "),
        "{known_hosts}"
    );
    assert!(r.names("HorizontalPodAutoscaler").is_empty());
    let controller = r.get("StatefulSet", "capstan-application-controller");
    assert_eq!(controller["spec"]["replicas"], 1);
    assert_eq!(
        env_var(
            r.container("StatefulSet", "capstan-application-controller"),
            "CAPSTAN_CONTROLLER_REPLICAS"
        ),
        Some(&json!("1"))
    );
    // The bundled Redis: password from its Secret, no persistence.
    let redis = r.container("Deployment", "capstan-redis");
    let args: Vec<&str> = redis["args"]
        .as_array()
        .context("redis args")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        args.windows(2)
            .any(|w| w == ["--requirepass", "$(REDIS_PASSWORD)"]),
        "{args:?}"
    );
    assert!(
        args.windows(2).any(|w| w == ["--appendonly", "no"]),
        "{args:?}"
    );
    assert_eq!(
        r.get("Deployment", "capstan-redis")["spec"]["template"]["spec"]["automountServiceAccountToken"],
        false
    );
    // Only Capstan's pods reach Redis; only the gateway reaches the api-server.
    let redis_policy = &r.get("NetworkPolicy", "capstan-redis")["spec"]["ingress"];
    assert_eq!(
        redis_policy[0]["from"][0]["podSelector"]["matchExpressions"][2]["values"],
        json!(COMPONENTS_IN_POLICY_ORDER)
    );
    assert_eq!(
        r.get("NetworkPolicy", "capstan-api-server")["spec"]["ingress"][0]["from"],
        json!([{"podSelector": {"matchLabels": {
            "app.kubernetes.io/name": "capstan",
            "app.kubernetes.io/instance": "capstan",
            "app.kubernetes.io/component": "auth-gateway",
        }}}])
    );
    for workload in r.workloads() {
        let labels = &workload["spec"]["template"]["metadata"]["labels"];
        assert!(
            labels.get("azure.workload.identity/use").is_none(),
            "{}: no Workload Identity by default",
            workload["metadata"]["name"]
        );
    }
    let gateway = r.container("Deployment", "capstan-auth-gateway");
    assert_eq!(
        env_var(gateway, "CAPSTAN_AUTH_GATEWAY_SECURE_COOKIES"),
        Some(&json!("false")),
        "no TLS Ingress, no Secure cookies"
    );

    // ---- examples/values-aks.yaml ----
    let r = template(&helm, &["--include-crds", "-f", aks])?;
    assert_common(
        &r,
        "rediss://capstan-cache.redis.cache.windows.net:6380/0",
        ("capstan-redis-auth", "redis-password"),
    )?;
    // External Redis: nothing of the bundled one.
    assert!(!r.names("Deployment").contains("capstan-redis"));
    assert!(!r.names("Service").contains("capstan-redis"));
    assert!(!r.names("NetworkPolicy").contains("capstan-redis"));
    assert_eq!(r.names("Secret"), set(&["capstan-cache-key"]));
    assert_eq!(r.names("NetworkPolicy"), prefixed("capstan", &COMPONENTS));
    // Two controller shards, and the binary told so.
    assert_eq!(
        r.get("StatefulSet", "capstan-application-controller")["spec"]["replicas"],
        2
    );
    assert_eq!(
        env_var(
            r.container("StatefulSet", "capstan-application-controller"),
            "CAPSTAN_CONTROLLER_REPLICAS"
        ),
        Some(&json!("2"))
    );
    for deployment in ["api-server", "auth-gateway", "repo-server"] {
        let name = format!("capstan-{deployment}");
        assert_eq!(r.get("Deployment", &name)["spec"]["replicas"], 2, "{name}");
        let pdb = &r.get("PodDisruptionBudget", &name)["spec"];
        assert_eq!(pdb["minAvailable"], 1, "{name}");
        assert!(pdb.get("maxUnavailable").is_none(), "{name}: {pdb}");
    }
    // Workload Identity: the gateway and the controller, each with its identity.
    for (component, client_id) in [
        ("auth-gateway", Some("00000000-0000-0000-0000-000000000001")),
        (
            "application-controller",
            Some("00000000-0000-0000-0000-000000000002"),
        ),
        ("api-server", None),
        ("repo-server", None),
    ] {
        let name = format!("capstan-{component}");
        let account = r.get("ServiceAccount", &name);
        assert_eq!(
            account["metadata"]["annotations"]["azure.workload.identity/client-id"].as_str(),
            client_id,
            "{name}"
        );
        let kind = if component == "application-controller" {
            "StatefulSet"
        } else {
            "Deployment"
        };
        let labels = &r.get(kind, &name)["spec"]["template"]["metadata"]["labels"];
        assert_eq!(
            labels["azure.workload.identity/use"].as_str(),
            client_id.map(|_| "true"),
            "{name}"
        );
        let annotations = &r.get(kind, &name)["spec"]["template"]["metadata"]["annotations"];
        assert_eq!(annotations["prometheus.io/scrape"], "true", "{name}");
    }
    // The Ingresses: HTTP/1.1 on the main host, native gRPC on its own.
    assert_eq!(r.names("Ingress"), set(&["capstan", "capstan-grpc"]));
    for (name, host, protocol, tls) in [
        (
            "capstan",
            "argocd.apps.internal.local",
            "HTTP",
            "argocd-tls",
        ),
        (
            "capstan-grpc",
            "grpc.argocd.apps.internal.local",
            "GRPC",
            "argocd-grpc-tls",
        ),
    ] {
        let ingress = r.get("Ingress", name);
        let annotations = &ingress["metadata"]["annotations"];
        assert_eq!(
            annotations["nginx.ingress.kubernetes.io/backend-protocol"],
            protocol
        );
        assert_eq!(
            annotations["cert-manager.io/cluster-issuer"],
            "letsencrypt-prod"
        );
        assert_eq!(
            annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"],
            "true"
        );
        let spec = &ingress["spec"];
        assert_eq!(spec["ingressClassName"], "nginx");
        assert_eq!(spec["tls"], json!([{"hosts": [host], "secretName": tls}]));
        assert_eq!(spec["rules"][0]["host"], host);
        assert_eq!(
            spec["rules"][0]["http"]["paths"][0]["backend"],
            json!({"service": {"name": "capstan-auth-gateway", "port": {"name": "http"}}})
        );
    }
    let gateway = r.container("Deployment", "capstan-auth-gateway");
    for (var, value) in [
        (
            "CAPSTAN_AUTH_GATEWAY_PUBLIC_URL",
            "https://argocd.apps.internal.local",
        ),
        ("CAPSTAN_AUTH_GATEWAY_SECURE_COOKIES", "true"),
        ("CAPSTAN_AUTH_GATEWAY_TRUST_FORWARDED_FOR", "true"),
    ] {
        assert_eq!(env_var(gateway, var), Some(&json!(value)), "{var}");
    }
    // The seed guide's argocd-cm and argocd-rbac-cm.
    let cm = &r.get("ConfigMap", "argocd-cm")["data"];
    assert_eq!(cm["url"], "https://argocd.apps.internal.local");
    assert_eq!(cm["application.resourceTrackingMethod"], "annotation");
    assert!(
        cm["oidc.config"]
            .as_str()
            .is_some_and(|c| c.contains("useWorkloadIdentity: true")),
        "{cm}"
    );
    let rbac = &r.get("ConfigMap", "argocd-rbac-cm")["data"];
    assert_eq!(rbac["policy.default"], "role:readonly");
    assert!(
        rbac["policy.csv"]
            .as_str()
            .is_some_and(|p| p.contains("g, devops-team@example.com, role:devops")),
        "{rbac}"
    );
    // Metrics from kube-system (Azure Monitor) on every component's metrics port.
    for component in COMPONENTS {
        let ingress = &r.get("NetworkPolicy", &format!("capstan-{component}"))["spec"]["ingress"];
        assert!(
            ingress.as_array().into_iter().flatten().any(|rule| rule["ports"]
                == json!([{"port": "metrics", "protocol": "TCP"}])
                && rule["from"][0]["namespaceSelector"]["matchLabels"]
                    ["kubernetes.io/metadata.name"]
                    == "kube-system"),
            "{component}: {ingress}"
        );
    }
    Ok(())
}

/// The component label values the bundled Redis' NetworkPolicy admits, in template order.
const COMPONENTS_IN_POLICY_ORDER: [&str; 4] = [
    "api-server",
    "repo-server",
    "application-controller",
    "auth-gateway",
];

#[test]
fn pdb_and_hpa_api_versions_follow_the_kubernetes_version() -> anyhow::Result<()> {
    let helm = helm_bin()?;
    let autoscaled = "apiServer.autoscaling.enabled=true";
    // (helm arguments, PodDisruptionBudget apiVersion, HorizontalPodAutoscaler apiVersion)
    for (kube, pdb, hpa) in [
        (None, "policy/v1", "autoscaling/v2"),
        (Some("1.35.0"), "policy/v1", "autoscaling/v2"),
        (Some("1.23.0"), "policy/v1", "autoscaling/v2"),
        (Some("1.22.9"), "policy/v1", "autoscaling/v2beta2"),
        (Some("1.20.2"), "policy/v1beta1", "autoscaling/v2beta2"),
    ] {
        let mut args = vec!["--set", autoscaled];
        if let Some(version) = kube {
            args.extend(["--kube-version", version]);
        }
        let r = template(&helm, &args)?;
        let pdbs: Vec<&Value> = r.of_kind("PodDisruptionBudget").collect();
        assert_eq!(pdbs.len(), 4, "{kube:?}");
        for o in pdbs {
            assert_eq!(o["apiVersion"], pdb, "{kube:?}: {}", o["metadata"]["name"]);
        }
        let hpa_object = r.get("HorizontalPodAutoscaler", "capstan-api-server");
        assert_eq!(hpa_object["apiVersion"], hpa, "{kube:?}");
        assert_eq!(
            hpa_object["spec"]["metrics"],
            json!([{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 70}}}])
        );
        assert!(
            r.get("Deployment", "capstan-api-server")["spec"]
                .get("replicas")
                .is_none(),
            "an autoscaled Deployment has no replicas"
        );
    }
    // Against a cluster Helm lists group/version/kind too: an explicit kind counts.
    let r = template(
        &helm,
        &[
            "--kube-version",
            "1.21.0",
            "--api-versions",
            "policy/v1/PodDisruptionBudget",
        ],
    )?;
    assert_eq!(
        r.get("PodDisruptionBudget", "capstan-repo-server")["apiVersion"],
        "policy/v1"
    );
    // Below the floor the chart refuses.
    let out = run(
        &helm,
        &[
            "template",
            RELEASE,
            chart_dir().to_str().context("chart path")?,
            "--kube-version",
            "1.19.16",
        ],
    )?;
    assert!(!out.ok);
    assert!(
        out.stderr.contains(
            "chart requires kubeVersion: >=1.20.0-0 which is incompatible with Kubernetes v1.19.16"
        ),
        "{}",
        out.stderr
    );
    Ok(())
}

#[test]
fn a_wrong_value_fails_with_the_schema_message() -> anyhow::Result<()> {
    let helm = helm_bin()?;
    let chart = chart_dir();
    let chart = chart.to_str().context("chart path")?;
    // (wrong --set values, message fragment, a right value of the same key that renders)
    let cases: &[(&[&str], &str, &[&str])] = &[
        (
            &["controller.replicas=two"],
            "at '/controller/replicas': got string, want integer",
            &["controller.replicas=3"],
        ),
        (
            &["redis.mode=sentinel"],
            "at '/redis/mode': value must be one of 'bundled', 'external'",
            &[
                "redis.mode=external",
                "redis.external.host=redis.example.com",
            ],
        ),
        (
            &["controlr.replicas=2"],
            "at '': additional properties 'controlr' not allowed",
            &["controller.replicas=2"],
        ),
        (
            &["repoServer.replica=2"],
            "at '/repoServer': additional properties 'replica' not allowed",
            &["repoServer.replicas=2"],
        ),
        (
            &["controller.clusterAccess=everything"],
            "at '/controller/clusterAccess': value must be one of 'cluster', 'namespaces'",
            &["controller.clusterAccess=cluster"],
        ),
        (
            &["controller.clusterAccess=namespaces"],
            "at '/controller/namespaces': minItems: got 0, want 1",
            &[
                "controller.clusterAccess=namespaces",
                "controller.namespaces={apps}",
            ],
        ),
        (
            &["apiServer.replicas=0"],
            "at '/apiServer/replicas': minimum: got 0, want 1",
            &["apiServer.replicas=1"],
        ),
        (
            &["authGateway.ports.http=70000"],
            "at '/authGateway/ports/http': maximum: got 70,000, want 65,535",
            &["authGateway.ports.http=8443"],
        ),
        (
            &["log.format=xml"],
            "at '/log/format': value must be one of 'text', 'json'",
            &["log.format=json"],
        ),
        (
            &["image.pullPolicy=Sometimes"],
            "at '/image/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'",
            &["image.pullPolicy=Always"],
        ),
        (
            &["image.digest=latest"],
            "at '/image/digest': 'latest' does not match pattern",
            &[
                "image.digest=sha256:0000000000000000000000000000000000000000000000000000000000000000",
            ],
        ),
        (
            &["controller.syncTimeout=5 minutes"],
            "at '/controller/syncTimeout': '5 minutes' does not match pattern",
            &["controller.syncTimeout=10m"],
        ),
        (
            &["controller.workloadIdentity.enabled=true"],
            "at '/controller/workloadIdentity/clientId': '' does not match pattern",
            &[
                "controller.workloadIdentity.enabled=true",
                "controller.workloadIdentity.clientId=00000000-0000-0000-0000-000000000009",
            ],
        ),
        (
            &["redis.mode=external"],
            "at '/redis/external/host': minLength: got 0, want 1",
            &[
                "redis.mode=external",
                "redis.external.host=redis.example.com",
            ],
        ),
        (
            &["ingress.enabled=true"],
            "at '/ingress/hostname': '' does not match pattern",
            &["ingress.enabled=true", "ingress.hostname=cd.example.com"],
        ),
        (
            &["apiServer.pdb.minAvailable=abc"],
            "at '/apiServer/pdb/minAvailable'",
            &["apiServer.pdb.minAvailable=50%"],
        ),
    ];
    for (wrong, fragment, right) in cases {
        let sets = |values: &[&str]| -> Vec<String> {
            values
                .iter()
                .flat_map(|v| ["--set".to_owned(), (*v).to_owned()])
                .collect()
        };
        for command in [
            vec!["template", RELEASE, chart],
            vec!["lint", "--strict", chart],
        ] {
            let mut args: Vec<String> = command.iter().map(|s| (*s).to_owned()).collect();
            args.extend(sets(wrong));
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = run(&helm, &refs)?;
            let text = format!("{}{}", out.stdout, out.stderr);
            assert!(!out.ok, "helm {} accepted {wrong:?}", command[0]);
            assert!(
                text.contains("values don't meet the specifications of the schema")
                    && text.contains(fragment),
                "helm {} {wrong:?}: expected {fragment:?} in:\n{text}",
                command[0]
            );
        }
        // The same key with a right value renders: the failure was the value.
        let mut args = vec!["template".to_owned(), RELEASE.to_owned(), chart.to_owned()];
        args.extend(sets(right));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run_ok(&helm, &refs).with_context(|| format!("the right value {right:?}"))?;
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// installed: the release, its cleanup, its ServiceAccounts
// ------------------------------------------------------------------------------------------

/// A Helm release in a test namespace. Dropped (also on failure): Applications' finalizers
/// removed (no controller runs any more), `helm uninstall`, cluster-scoped leftovers and the
/// namespaces apps deployed to deleted — all best effort. The release namespace itself is a
/// `capstan_e2e::TestNamespace` the caller declares before this guard, so it is deleted after.
struct Release {
    env: TestEnv,
    namespace: String,
    installed: bool,
    /// `kind/name` of the release's cluster-scoped objects, deleted if uninstall fails.
    cluster_scoped: Vec<String>,
    /// Namespaces the apps created (CreateNamespace).
    app_namespaces: Vec<String>,
}

impl Release {
    fn new(env: &TestEnv, namespace: &str) -> Self {
        Self {
            env: env.clone(),
            namespace: namespace.to_owned(),
            installed: false,
            cluster_scoped: Vec::new(),
            app_namespaces: Vec::new(),
        }
    }

    fn kubectl(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut all = vec!["--kubeconfig", self.env.kubeconfig()];
        all.extend_from_slice(args);
        run_ok(self.env.kubectl(), &all)
    }

    fn helm(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut all = vec![
            "--kubeconfig",
            self.env.kubeconfig(),
            "--namespace",
            self.namespace.as_str(),
        ];
        all.extend_from_slice(args);
        run_ok(self.env.helm(), &all)
    }

    /// `helm install capstan charts/capstan` with `args`, waiting until every workload is
    /// ready (the pod simulator runs the pods). The CRDs are left to Helm only when missing.
    async fn install(&mut self, admin: &Client, args: &[&str]) -> anyhow::Result<()> {
        let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
        let mut present = true;
        for name in CRDS {
            present &= crds.get_opt(name).await?.is_some();
        }
        let chart = chart_dir();
        let mut all = vec![
            "install",
            RELEASE,
            chart.to_str().context("chart path")?,
            "--wait",
            "--timeout",
            "90s",
        ];
        if present {
            all.push("--skip-crds");
        }
        all.extend_from_slice(args);
        // Marked first: a failed install may still have created objects.
        self.installed = true;
        self.helm(&all)?;
        Ok(())
    }

    /// `helm uninstall --wait`; the guard then has nothing left to uninstall.
    fn uninstall(&mut self) -> anyhow::Result<()> {
        self.helm(&["uninstall", RELEASE, "--wait", "--timeout", "2m"])?;
        self.installed = false;
        Ok(())
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        if std::env::var("CAPSTAN_E2E_KEEP_NAMESPACES").as_deref() == Ok("1") {
            return;
        }
        let ns = self.namespace.clone();
        support::remove_app_finalizers(|args| self.kubectl(args), &ns);
        if self.installed
            && let Err(e) = self.uninstall()
        {
            eprintln!("warning: helm uninstall in {ns}: {e:#}");
            for object in self.cluster_scoped.clone() {
                let _ = self.kubectl(&["delete", &object, "--ignore-not-found", "--wait=false"]);
            }
        }
        for app_ns in self.app_namespaces.clone() {
            let _ = self.kubectl(&[
                "delete",
                "namespace",
                &app_ns,
                "--ignore-not-found",
                "--wait=false",
            ]);
        }
    }
}

/// `kubectl auth can-i --as=system:serviceaccount:<ns>:capstan-<component> <args>`.
fn can_i(env: &TestEnv, namespace: &str, component: &str, args: &[&str]) -> anyhow::Result<bool> {
    let account = format!("system:serviceaccount:{namespace}:capstan-{component}");
    let mut all = vec![
        "--kubeconfig",
        env.kubeconfig(),
        "auth",
        "can-i",
        "--as",
        account.as_str(),
    ];
    all.extend_from_slice(args);
    let out = run(env.kubectl(), &all)?;
    match out.stdout.trim() {
        "yes" => Ok(true),
        "no" => Ok(false),
        other => bail!("kubectl auth can-i {args:?}: {other} {}", out.stderr),
    }
}

/// Checks `(component, "verb resource[/name] [flags]", allowed)` rows; `{ns}` is the release
/// namespace, `{other}` an unrelated one, `{target}` a namespace the release deploys to.
fn assert_grants(
    env: &TestEnv,
    namespace: &str,
    vars: &[(&str, &str)],
    rows: &[(&str, &str, bool)],
) -> anyhow::Result<()> {
    let mut wrong = Vec::new();
    for (component, request, expected) in rows {
        let mut request = request.replace("{ns}", namespace);
        for (var, value) in vars {
            request = request.replace(var, value);
        }
        let args: Vec<&str> = request.split_whitespace().collect();
        let allowed = can_i(env, namespace, component, &args)?;
        if allowed != *expected {
            wrong.push(format!(
                "{component} {request}: {} (expected {})",
                if allowed { "yes" } else { "no" },
                if *expected { "yes" } else { "no" }
            ));
        }
    }
    ensure!(
        wrong.is_empty(),
        "RBAC differs from the README:\n{}",
        wrong.join("\n")
    );
    Ok(())
}

fn expect_forbidden<T>(what: &str, result: Result<T, kube::Error>) -> anyhow::Result<()> {
    match result {
        Err(kube::Error::Api(status)) if status.code == 403 => Ok(()),
        Err(e) => bail!("{what}: expected 403 Forbidden, got {e}"),
        Ok(_) => bail!("{what}: allowed, expected 403 Forbidden"),
    }
}

fn config_map(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        data: Some(BTreeMap::from([("k".to_owned(), "v".to_owned())])),
        ..ConfigMap::default()
    }
}

/// Asserts that every object of the release's manifest exists (`kubectl get -f`) and that the
/// manifest passes the cluster's own schema: kubectl validates against the server's OpenAPI, so
/// a field v1.20 does not know — which its server-side apply would silently drop — fails. (Helm
/// 4 validates the same way before installing; the check stays explicit here.) Returns the
/// parsed manifest.
fn assert_release_objects(release: &Release, dir: &Path) -> anyhow::Result<Rendered> {
    let manifest = release.helm(&["get", "manifest", RELEASE])?;
    let rendered = Rendered::parse(&manifest)?;
    let file = dir.join("manifest.yaml");
    std::fs::write(&file, &manifest)?;
    let file = file.to_str().context("manifest path")?;
    let live: Value = serde_json::from_str(&release.kubectl(&["get", "-f", file, "-o", "json"])?)?;
    let live: BTreeSet<_> = live["items"]
        .as_array()
        .context("kubectl get -f: a List")?
        .iter()
        .map(identity)
        .collect();
    assert_eq!(live, rendered.identities(), "rendered vs. live objects");
    release
        .kubectl(&[
            "create",
            "--dry-run=client",
            "--validate=strict",
            "-f",
            file,
        ])
        .context("the manifest against the cluster's schema")?;
    Ok(rendered)
}

/// The CRDs are Established and served (`kubectl api-resources`).
async fn assert_crds_served(env: &TestEnv, admin: &Client) -> anyhow::Result<()> {
    let crds: Api<CustomResourceDefinition> = Api::all(admin.clone());
    for name in CRDS {
        eventually(
            Duration::from_secs(30),
            &format!("CRD {name} Established"),
            || {
                let crds = crds.clone();
                async move {
                    let crd = crds.get(name).await?;
                    Ok(crd
                        .status
                        .and_then(|s| s.conditions)
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                        .then_some(()))
                }
            },
        )
        .await?;
    }
    let served = run_ok(
        env.kubectl(),
        &[
            "--kubeconfig",
            env.kubeconfig(),
            "api-resources",
            "--api-group=argoproj.io",
            "-o",
            "name",
        ],
    )?;
    let served: BTreeSet<String> = served.lines().map(str::to_owned).collect();
    assert_eq!(served, set(&CRDS));
    Ok(())
}

/// Capstan's components in this process, each with its own ServiceAccount's client: the
/// repo-server and the controller, and with `front` the api-server and the auth-gateway.
struct Components {
    /// The auth-gateway's URL, with `front`.
    gateway: Option<String>,
    _stops: Vec<oneshot::Sender<()>>,
    _data: tempfile::TempDir,
}

impl Components {
    async fn start(
        env: &TestEnv,
        admin: &Client,
        namespace: &str,
        front: bool,
    ) -> anyhow::Result<Self> {
        let mut clients = BTreeMap::new();
        for component in COMPONENTS {
            if !front && (component == "api-server" || component == "auth-gateway") {
                continue;
            }
            clients.insert(
                component,
                service_account_client(env, admin, namespace, &format!("capstan-{component}"))
                    .await?,
            );
        }
        let data = tempfile::tempdir()?;
        // The chart's cache key, as the pods get it: the Secret's bytes in a file.
        let key = Api::<Secret>::namespaced(admin.clone(), namespace)
            .get("capstan-cache-key")
            .await?
            .data
            .and_then(|d| d.get("cache.key").cloned())
            .context("the chart's cache key")?;
        let key_file = data.path().join("cache.key");
        std::fs::write(&key_file, &key.0)?;
        let mut registry = prometheus_client::registry::Registry::default();
        let cache = capstan_cache::Cache::new(
            capstan_cache::CacheConfig {
                prefix: format!("capstan-test:{namespace}"),
                ..capstan_cache::CacheConfig::new(
                    Some(env.redis_url().to_owned()),
                    capstan_cache::EncryptionKey::load_or_generate(Some(key_file.as_path()))?,
                )
            },
            &mut registry,
        )?;
        let mut stops = Vec::new();

        // repo-server: reads the repo-creds Secret the chart rendered from configs.
        std::fs::create_dir_all(data.path().join("repo"))?;
        let mut config = support::repo_server_config(env, data.path().join("repo"), namespace);
        config.cache_key_file = Some(key_file.clone());
        let repo_server =
            support::serve_repo_server(&config, clients["repo-server"].clone(), &mut stops)
                .await
                .context("the repo-server with its ServiceAccount")?;

        let gateway = if front {
            Some(Self::start_front(&clients, namespace, &repo_server, &cache, &mut stops).await?)
        } else {
            None
        };

        support::spawn_controller(
            namespace,
            repo_server,
            cache,
            clients["application-controller"].clone(),
            &mut stops,
        )
        .await
        .context("the controller with its ServiceAccount")?;

        Ok(Self {
            gateway,
            _stops: stops,
            _data: data,
        })
    }

    /// The api-server and the auth-gateway; returns the gateway's URL.
    async fn start_front(
        clients: &BTreeMap<&str, Client>,
        namespace: &str,
        repo_server: &str,
        cache: &capstan_cache::Cache,
        stops: &mut Vec<oneshot::Sender<()>>,
    ) -> anyhow::Result<String> {
        let mut registry = prometheus_client::registry::Registry::default();
        // The gateway's internal port is chosen first: the api-server needs it.
        let gateway_grpc = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let api = tokio::time::timeout(
            Duration::from_secs(60),
            support::start_api_server(
                support::api_server_config(namespace, repo_server, Some(gateway_grpc), None)?,
                clients["api-server"].clone(),
                cache.clone(),
                &mut registry,
                stops,
            ),
        )
        .await
        .context("the api-server did not start within 60 s with its ServiceAccount")?
        .context("the api-server with its ServiceAccount")?;

        let gateway = tokio::time::timeout(
            Duration::from_secs(60),
            support::start_gateway(
                namespace,
                gateway_grpc,
                api.addr,
                clients["auth-gateway"].clone(),
                cache.clone(),
                &mut registry,
                stops,
            ),
        )
        .await
        .context("the auth-gateway did not start within 60 s with its ServiceAccount")?
        .context("the auth-gateway with its ServiceAccount")?;
        Ok(format!("http://{}", gateway.addr))
    }
}

/// A JSON request to the gateway with a bearer token: (status, body).
async fn call(
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<&Value>,
) -> anyhow::Result<(u16, Value)> {
    let mut request = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

fn yaml_to_json(yaml: &str) -> anyhow::Result<Value> {
    Ok(serde_yaml_ng::from_str(yaml)?)
}

// ------------------------------------------------------------------------------------------
// helpers of the installed tests
// ------------------------------------------------------------------------------------------

/// A client with the token of ServiceAccount `account` (see [`capstan_e2e::service_account_token`]).
async fn service_account_client(
    env: &TestEnv,
    admin: &Client,
    namespace: &str,
    account: &str,
) -> anyhow::Result<Client> {
    env.kube_client_with_token(
        &capstan_e2e::service_account_token(admin, namespace, account).await?,
    )
    .await
}

/// The `configs` values of the installed tests: the chart renders argocd-cm (installation
/// `namespace`, reconciliation on demand only) and the Git server's credential template.
fn configs_values(env: &TestEnv, namespace: &str) -> Value {
    json!({
        "cm": {"installationID": namespace, "timeout.reconciliation": "0"},
        "credentialTemplates": {"git-server-creds": {
            "type": "git",
            "url": format!("{}/", env.git_http_url()),
            "username": env.git_http_user(),
            "password": env.git_http_password(),
        }},
    })
}

/// `values` written to `dir/values.yaml`; returns the path.
fn write_values(dir: &Path, values: &Value) -> anyhow::Result<String> {
    write_file(dir, "values.yaml", &serde_json::to_string_pretty(values)?)
}

/// The seed's file `path` (`what` names it in the error) as JSON.
fn seed_json(seed: &SeedRepo, path: &str, what: &'static str) -> anyhow::Result<Value> {
    yaml_to_json(seed.file(path).context(what)?)
}

/// Waits (75 s) until the Application that `fetch` returns as JSON is Synced and Healthy with
/// its operation Succeeded, failing with its last status after 70 s; prints how long that took
/// (`label`) and returns the Application.
async fn wait_synced_and_healthy<F, Fut>(label: &str, fetch: F) -> anyhow::Result<Value>
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<Value>>,
{
    let syncing = Instant::now();
    let synced = eventually(
        Duration::from_secs(75),
        "users-api-dev Synced and Healthy",
        || {
            let app = fetch();
            async move {
                let app = app.await?;
                let status = &app["status"];
                let done = status["sync"]["status"] == "Synced"
                    && status["health"]["status"] == "Healthy"
                    && status["operationState"]["phase"] == "Succeeded";
                if !done && syncing.elapsed() > Duration::from_secs(70) {
                    bail!("last status: {status:#}");
                }
                Ok(done.then_some(app))
            }
        },
    )
    .await?;
    eprintln!(
        "{label}created → Synced and Healthy: {:?}",
        syncing.elapsed()
    );
    Ok(synced)
}

/// Waits (45 s) until Application `name` in `namespace` and the users-api Deployment in
/// `app_namespace` are gone.
async fn wait_app_and_deployment_deleted(
    admin: &Client,
    namespace: &str,
    app_namespace: &str,
    name: &str,
) -> anyhow::Result<()> {
    let applications: Api<capstan_types::Application> = Api::namespaced(admin.clone(), namespace);
    let app_deployments: Api<Deployment> = Api::namespaced(admin.clone(), app_namespace);
    eventually(
        Duration::from_secs(45),
        "the app and its Deployment deleted",
        || {
            let (applications, app_deployments) = (applications.clone(), app_deployments.clone());
            async move {
                Ok((applications.get_opt(name).await?.is_none()
                    && app_deployments.get_opt("users-api").await?.is_none())
                .then_some(()))
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn helm_install_creates_every_object_and_the_controller_syncs_with_its_own_service_account()
-> anyhow::Result<()> {
    let started = Instant::now();
    let env = TestEnv::from_env()?;
    let admin = env.kube_client().await?;
    let control = env.unique_namespace("chart").await?;
    let ns = control.name.clone();
    let mut release = Release::new(&env, &ns);
    release.cluster_scoped = vec![
        format!("clusterrole/{ns}-capstan-api-server"),
        format!("clusterrolebinding/{ns}-capstan-api-server"),
        format!("clusterrole/{ns}-capstan-application-controller"),
        format!("clusterrolebinding/{ns}-capstan-application-controller"),
    ];
    let prefix = unique_name("chart");
    let app_namespace = format!("{prefix}-users-api-dev");
    release.app_namespaces.push(app_namespace.clone());

    // Values that fit the test cluster: the bundled Redis exists but never runs a real
    // process (the pod simulator only reports pods Running); the components run in this
    // process below. The chart renders argocd-cm and the Git server's credential template.
    let dir = tempfile::tempdir()?;
    let values = json!({
        "configs": configs_values(&env, &ns),
        "repoServer": {"autoscaling": {"enabled": true, "minReplicas": 2}},
    });
    let values_file = write_values(dir.path(), &values)?;
    let installing = Instant::now();
    release.install(&admin, &["-f", &values_file]).await?;
    eprintln!("helm install --wait: {:?}", installing.elapsed());

    // ---- every rendered object exists and fits v1.20; the CRDs are served ----
    let rendered = assert_release_objects(&release, dir.path())?;
    assert_crds_served(&env, &admin).await?;
    let kinds: BTreeSet<&str> = rendered
        .0
        .iter()
        .filter_map(|o| o["kind"].as_str())
        .collect();
    for kind in [
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Secret",
        "Service",
        "ServiceAccount",
        "StatefulSet",
    ] {
        assert!(kinds.contains(kind), "no {kind} installed: {kinds:?}");
    }
    // The cluster (v1.20) has neither policy/v1 nor autoscaling/v2: Helm rendered the older.
    for pdb in rendered.of_kind("PodDisruptionBudget") {
        assert_eq!(pdb["apiVersion"], "policy/v1beta1");
    }
    assert_eq!(
        rendered.get("HorizontalPodAutoscaler", "capstan-repo-server")["apiVersion"],
        "autoscaling/v2beta2"
    );
    let mut cluster_scoped: Vec<String> = rendered
        .0
        .iter()
        .filter(|o| o["kind"] == "ClusterRole" || o["kind"] == "ClusterRoleBinding")
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or_default().to_lowercase(),
                o["metadata"]["name"].as_str().unwrap_or_default()
            )
        })
        .collect();
    cluster_scoped.sort();
    let mut expected = release.cluster_scoped.clone();
    expected.sort();
    assert_eq!(
        cluster_scoped, expected,
        "cluster-scoped objects are named per release namespace"
    );

    // ---- RBAC: the README's grants and denials ----
    assert_grants(
        &env,
        &ns,
        &[("{other}", "kube-system")],
        &[
            ("repo-server", "list secrets -n {ns}", true),
            ("repo-server", "watch secrets -n {ns}", true),
            ("repo-server", "get secrets/argocd-secret -n {ns}", false),
            (
                "repo-server",
                "watch configmaps/argocd-ssh-known-hosts-cm -n {ns}",
                true,
            ),
            ("repo-server", "get configmaps/argocd-cm -n {ns}", false),
            ("repo-server", "create secrets -n {ns}", false),
            ("repo-server", "list secrets -n {other}", false),
            ("repo-server", "get applications.argoproj.io -n {ns}", false),
            ("auth-gateway", "get secrets/argocd-secret -n {ns}", true),
            ("auth-gateway", "patch secrets/argocd-secret -n {ns}", true),
            ("auth-gateway", "update secrets/argocd-secret -n {ns}", true),
            (
                "auth-gateway",
                "get secrets/capstan-signing-keys -n {ns}",
                true,
            ),
            (
                "auth-gateway",
                "update secrets/capstan-signing-keys -n {ns}",
                false,
            ),
            ("auth-gateway", "get secrets/capstan-redis -n {ns}", false),
            ("auth-gateway", "list secrets -n {ns}", false),
            ("auth-gateway", "create secrets -n {ns}", true),
            (
                "auth-gateway",
                "get appprojects.argoproj.io/default -n {ns}",
                true,
            ),
            (
                "auth-gateway",
                "list appprojects.argoproj.io -n {ns}",
                false,
            ),
            (
                "auth-gateway",
                "get applications.argoproj.io -n {ns}",
                false,
            ),
            ("auth-gateway", "get configmaps/argocd-cm -n {ns}", true),
            ("auth-gateway", "get configmaps/other -n {ns}", false),
            (
                "api-server",
                "get secrets/capstan-signing-keys -n {ns}",
                true,
            ),
            (
                "api-server",
                "create applications.argoproj.io -n {ns}",
                true,
            ),
            (
                "api-server",
                "patch applications.argoproj.io --subresource=status -n {ns}",
                true,
            ),
            ("api-server", "update configmaps/argocd-cm -n {ns}", false),
            ("api-server", "get deployments.apps -n {other}", true),
            ("api-server", "delete deployments.apps -n {other}", false),
            ("api-server", "list secrets -n {other}", false),
            (
                "application-controller",
                "patch applications.argoproj.io --subresource=status -n {ns}",
                true,
            ),
            (
                "application-controller",
                "create deployments.apps -n {other}",
                true,
            ),
            ("application-controller", "create namespaces", true),
            ("redis", "get secrets -n {ns}", false),
            ("redis", "list pods -n {ns}", false),
        ],
    )?;

    // ---- the components, each with its own ServiceAccount ----
    let components = Components::start(&env, &admin, &ns, true).await?;
    // The tokens really are limited: the repo-server's may not read the signing keys, nor the
    // gateway's list Secrets.
    let repo_client = service_account_client(&env, &admin, &ns, "capstan-repo-server").await?;
    expect_forbidden(
        "repo-server gets capstan-signing-keys",
        Api::<Secret>::namespaced(repo_client.clone(), &ns)
            .get("capstan-signing-keys")
            .await,
    )?;
    expect_forbidden(
        "repo-server lists Secrets in kube-system",
        Api::<Secret>::namespaced(repo_client, "kube-system")
            .list(&ListParams::default())
            .await,
    )?;
    let gateway_client = service_account_client(&env, &admin, &ns, "capstan-auth-gateway").await?;
    expect_forbidden(
        "auth-gateway lists Secrets",
        Api::<Secret>::namespaced(gateway_client, &ns)
            .list(&ListParams::default())
            .await,
    )?;

    // A user logs in through the gateway with the initial admin password it generated.
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), &ns);
    let password = eventually(
        Duration::from_secs(30),
        "argocd-initial-admin-secret",
        || {
            let secrets = secrets.clone();
            async move {
                Ok(secrets
                    .get_opt("argocd-initial-admin-secret")
                    .await?
                    .and_then(|s| s.data)
                    .and_then(|d| d.get("password").cloned())
                    .map(|p| String::from_utf8(p.0))
                    .transpose()?)
            }
        },
    )
    .await?;
    let gw = components.gateway.as_deref().context("the gateway")?;
    let login = reqwest::Client::new()
        .post(format!("{gw}/api/v1/session"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await?;
    ensure!(login.status() == 200, "login: {}", login.text().await?);
    let token = login.json::<Value>().await?["token"]
        .as_str()
        .context("a session token")?
        .to_owned();

    // The seed's AppProject and users-api-dev Application, created through the API.
    let seed = capstan_e2e::publish_seed_examples(&env, &ns, &prefix)?;
    let project = seed_json(&seed, "projects/microservices.yaml", "project")?;
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{gw}/api/v1/projects"),
        &token,
        Some(&json!({"project": project})),
    )
    .await?;
    ensure!(status == 200, "creating the project: {status} {body}");
    let app = seed_json(&seed, "applications/users-api-dev.yaml", "users-api-dev")?;
    let name = format!("{prefix}-users-api-dev");
    assert_eq!(app["metadata"]["name"], name.as_str());
    assert_eq!(
        app["spec"]["destination"]["namespace"],
        app_namespace.as_str()
    );
    assert_eq!(
        app["spec"]["syncPolicy"]["syncOptions"],
        json!(["CreateNamespace=true"])
    );
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("{gw}/api/v1/applications"),
        &token,
        Some(&app),
    )
    .await?;
    ensure!(status == 200, "creating the application: {status} {body}");

    // The controller, with nothing but its ServiceAccount's rights, syncs it.
    let app_url = format!("{gw}/api/v1/applications/{name}");
    let synced = wait_synced_and_healthy("", || async {
        let (status, app) = call(reqwest::Method::GET, &app_url, &token, None).await?;
        ensure!(status == 200, "{status} {app}");
        Ok(app)
    })
    .await?;
    let resources = synced["status"]["resources"]
        .as_array()
        .context("status.resources")?;
    assert!(
        resources
            .iter()
            .any(|r| r["kind"] == "Deployment" && r["name"] == "users-api"),
        "{resources:?}"
    );
    assert!(
        resources.iter().all(|r| r["status"] == "Synced"),
        "{resources:?}"
    );
    // The objects exist in the namespace the sync created.
    Api::<Namespace>::all(admin.clone())
        .get(&app_namespace)
        .await
        .context("the app's namespace (CreateNamespace)")?;
    let users_api = Api::<Deployment>::namespaced(admin.clone(), &app_namespace)
        .get("users-api")
        .await?;
    assert_eq!(
        users_api.status.and_then(|s| s.ready_replicas),
        users_api.spec.and_then(|s| s.replicas),
        "users-api rolled out"
    );

    // Deleting with cascade: the controller prunes the resources and lets the app go.
    let (status, body) = call(reqwest::Method::DELETE, &app_url, &token, None).await?;
    ensure!(status == 200, "deleting the application: {status} {body}");
    wait_app_and_deployment_deleted(&admin, &ns, &app_namespace, &name).await?;
    drop(components);

    // The HPA (autoscaling/v2beta2) works: kube-controller-manager scales the repo-server to its
    // minimum (checked last: the HPA controller syncs every 15 s).
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), &ns);
    eventually(
        Duration::from_secs(60),
        "the HPA to scale the repo-server to 2",
        || {
            let deployments = deployments.clone();
            async move {
                let d = deployments.get("capstan-repo-server").await?;
                Ok((d.spec.and_then(|s| s.replicas) == Some(2)).then_some(()))
            }
        },
    )
    .await?;

    // ---- uninstall: everything of the release goes, the CRDs stay for everyone ----
    release.uninstall()?;
    for object in &release.cluster_scoped {
        let out = run(
            env.kubectl(),
            &[
                "--kubeconfig",
                env.kubeconfig(),
                "get",
                object,
                "--ignore-not-found",
                "-o",
                "name",
            ],
        )?;
        assert!(
            out.ok && out.stdout.trim().is_empty(),
            "{object} left: {}{}",
            out.stdout,
            out.stderr
        );
    }
    assert_crds_served(&env, &admin).await?;
    eprintln!("test wall time: {:?}", started.elapsed());
    Ok(())
}

/// The Secret data of `name` in `namespace`.
async fn secret_data(
    admin: &Client,
    namespace: &str,
    name: &str,
) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    Ok(Api::<Secret>::namespaced(admin.clone(), namespace)
        .get(name)
        .await?
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn helm_install_with_namespaced_access_confines_the_controller_and_still_syncs()
-> anyhow::Result<()> {
    let env = TestEnv::from_env()?;
    let admin = env.kube_client().await?;
    let control = env.unique_namespace("chart-ns").await?;
    let other = env.unique_namespace("chart-other").await?;
    let ns = control.name.clone();
    let mut release = Release::new(&env, &ns);
    // The namespace apps deploy to exists before the install (the README's requirement), named
    // as the seed's project allows (`*-dev`).
    let prefix = unique_name("chartns");
    let target = format!("{prefix}-users-api-dev");
    release.app_namespaces.push(target.clone());
    Api::<Namespace>::all(admin.clone())
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(target.clone()),
                    labels: Some(BTreeMap::from([(
                        capstan_e2e::NAMESPACE_LABEL.to_owned(),
                        "true".to_owned(),
                    )])),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            },
        )
        .await?;
    let dir = tempfile::tempdir()?;
    let values = json!({
        "controller": {
            "clusterAccess": "namespaces",
            "namespaces": [target],
        },
        "configs": configs_values(&env, &ns),
    });
    let values_file = write_values(dir.path(), &values)?;
    release.install(&admin, &["-f", &values_file]).await?;
    let rendered = assert_release_objects(&release, dir.path())?;
    assert!(
        rendered.names("ClusterRole").is_empty() && rendered.names("ClusterRoleBinding").is_empty(),
        "no cluster-wide rights: {:?}",
        rendered.names("ClusterRole")
    );
    // The in-cluster destination, confined to the target namespace (Argo CD's cluster Secret).
    let in_cluster = rendered.get("Secret", "capstan-in-cluster");
    assert_eq!(
        in_cluster["metadata"]["labels"]["argocd.argoproj.io/secret-type"],
        "cluster"
    );
    let decoded = |key: &str| -> anyhow::Result<String> {
        let value = in_cluster["data"][key].as_str().context("a data key")?;
        Ok(String::from_utf8(
            base64::engine::general_purpose::STANDARD.decode(value)?,
        )?)
    };
    assert_eq!(decoded("server")?, "https://kubernetes.default.svc");
    assert_eq!(decoded("namespaces")?, target);
    assert_eq!(decoded("clusterResources")?, "false");
    let in_target: BTreeSet<String> = rendered
        .0
        .iter()
        .filter(|o| o["metadata"]["namespace"] == target.as_str())
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or_default(),
                o["metadata"]["name"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        in_target,
        set(&[
            "Role/capstan-api-server-live",
            "RoleBinding/capstan-api-server-live",
            "Role/capstan-application-controller-deploy",
            "RoleBinding/capstan-application-controller-deploy",
        ])
    );
    let vars = [
        ("{target}", target.as_str()),
        ("{other}", other.name.as_str()),
    ];
    assert_grants(
        &env,
        &ns,
        &vars,
        &[
            (
                "application-controller",
                "create deployments.apps -n {target}",
                true,
            ),
            (
                "application-controller",
                "delete configmaps -n {target}",
                true,
            ),
            (
                "application-controller",
                "create deployments.apps -n {other}",
                false,
            ),
            (
                "application-controller",
                "get deployments.apps -n {other}",
                false,
            ),
            ("application-controller", "list secrets -n {other}", false),
            ("application-controller", "list secrets -n {ns}", true),
            (
                "application-controller",
                "list deployments.apps --all-namespaces",
                false,
            ),
            (
                "application-controller",
                "watch pods --all-namespaces",
                false,
            ),
            (
                "application-controller",
                "get secrets/argocd-secret -n {ns}",
                false,
            ),
            (
                "application-controller",
                "update applications.argoproj.io -n {ns}",
                false,
            ),
            ("application-controller", "create namespaces", false),
            (
                "application-controller",
                "create clusterroles.rbac.authorization.k8s.io",
                false,
            ),
            ("api-server", "get deployments.apps -n {target}", true),
            ("api-server", "list events -n {target}", true),
            ("api-server", "get deployments.apps -n {other}", false),
            ("api-server", "get secrets -n {other}", false),
        ],
    )?;

    // The controller's own token: writes where it deploys, reads no Secret elsewhere.
    let controller =
        service_account_client(&env, &admin, &ns, "capstan-application-controller").await?;
    Api::<ConfigMap>::namespaced(controller.clone(), &target)
        .create(
            &PostParams::default(),
            &config_map("written-by-the-controller"),
        )
        .await
        .context("the controller creates a ConfigMap in its target namespace")?;
    expect_forbidden(
        "the controller creates a ConfigMap elsewhere",
        Api::<ConfigMap>::namespaced(controller.clone(), &other.name)
            .create(&PostParams::default(), &config_map("nope"))
            .await,
    )?;
    expect_forbidden(
        "the controller lists Secrets in an unrelated namespace",
        Api::<Secret>::namespaced(controller.clone(), &other.name)
            .list(&ListParams::default())
            .await,
    )?;
    expect_forbidden(
        "the controller reads a Secret in an unrelated namespace",
        Api::<Secret>::namespaced(controller.clone(), "kube-system")
            .get("anything")
            .await,
    )?;
    expect_forbidden(
        "the controller creates a Namespace",
        Api::<Namespace>::all(controller.clone())
            .create(
                &PostParams::default(),
                &Namespace {
                    metadata: ObjectMeta {
                        name: Some(unique_name("nope")),
                        ..ObjectMeta::default()
                    },
                    ..Namespace::default()
                },
            )
            .await,
    )?;

    // An upgrade keeps the generated cache key and Redis password (`lookup`) and renders the
    // same confinement.
    let key = secret_data(&admin, &ns, "capstan-cache-key").await?;
    let redis_password = secret_data(&admin, &ns, "capstan-redis").await?;
    release.helm(&[
        "upgrade",
        RELEASE,
        chart_dir().to_str().context("chart path")?,
        "-f",
        &values_file,
        "--set",
        "controller.syncTimeout=6m",
        "--wait",
        "--timeout",
        "90s",
    ])?;
    assert_eq!(secret_data(&admin, &ns, "capstan-cache-key").await?, key);
    assert_eq!(
        secret_data(&admin, &ns, "capstan-redis").await?,
        redis_password
    );
    let rendered = assert_release_objects(&release, dir.path())?;
    assert!(rendered.names("ClusterRole").is_empty());
    assert_eq!(
        rendered.get("Secret", "capstan-in-cluster")["data"],
        in_cluster["data"]
    );

    // The repo-server and the controller on their own tokens sync the seed's users-api-dev into
    // the target namespace: every write in the control namespace (application patches, status,
    // events) goes through the controller's Role, every list, watch and write in the target
    // through its `-deploy` Role — nothing cluster-wide.
    let components = Components::start(&env, &admin, &ns, false).await?;
    let seed = capstan_e2e::publish_seed_examples(&env, &ns, &prefix)?;
    release.kubectl(&[
        "apply",
        "-f",
        &write_file(
            dir.path(),
            "project.yaml",
            seed.file("projects/microservices.yaml")
                .context("project")?,
        )?,
    ])?;
    let mut app = seed_json(&seed, "applications/users-api-dev.yaml", "users-api-dev")?;
    // The namespace exists and the controller may not create one.
    app["spec"]["syncPolicy"]
        .as_object_mut()
        .context("syncPolicy")?
        .remove("syncOptions");
    assert_eq!(app["spec"]["destination"]["namespace"], target.as_str());
    let name = format!("{prefix}-users-api-dev");
    release.kubectl(&[
        "apply",
        "-f",
        &write_file(dir.path(), "app.json", &app.to_string())?,
    ])?;
    let applications: Api<capstan_types::Application> = Api::namespaced(admin.clone(), &ns);
    wait_synced_and_healthy("namespaced: ", || async {
        Ok(serde_json::to_value(applications.get(&name).await?)?)
    })
    .await?;
    Api::<Deployment>::namespaced(admin.clone(), &target)
        .get("users-api")
        .await
        .context("users-api in the target namespace")?;

    // An app whose objects land outside the listed namespaces (the seed's orders-api-dev, its
    // project allows `*-dev`) is refused before anything is listed or applied there.
    let elsewhere = format!("{prefix}-orders-api-dev");
    let orders = seed_json(&seed, "applications/orders-api-dev.yaml", "orders-api-dev")?;
    release.kubectl(&[
        "apply",
        "-f",
        &write_file(dir.path(), "orders.json", &orders.to_string())?,
    ])?;
    let refused = eventually(
        Duration::from_secs(60),
        "orders-api-dev refused",
        || async {
            let app = serde_json::to_value(applications.get(&elsewhere).await?)?;
            Ok(app["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "ComparisonError")
                .and_then(|c| c["message"].as_str().map(str::to_owned)))
        },
    )
    .await?;
    let expected_start = format!("Failed to load live state: Namespace \"{elsewhere}\" for ");
    assert!(
        refused.starts_with(&expected_start) && refused.ends_with("is not managed"),
        "{refused}"
    );
    let left_alone = release.kubectl(&["get", "namespace", &elsewhere, "--ignore-not-found"])?;
    assert!(left_alone.trim().is_empty(), "{elsewhere} was created");

    // Deleting: the controller prunes in the target and takes its finalizer off, and the
    // refused app, which owns nothing, goes at once.
    release.kubectl(&[
        "-n",
        &ns,
        "delete",
        "application",
        &name,
        &elsewhere,
        "--wait=false",
    ])?;
    wait_app_and_deployment_deleted(&admin, &ns, &target, &name).await?;
    eventually(
        Duration::from_secs(45),
        "orders-api-dev deleted",
        || async {
            Ok(applications
                .get_opt(&elsewhere)
                .await?
                .is_none()
                .then_some(()))
        },
    )
    .await?;
    drop(components);

    // Uninstalling removes the Roles in the target namespace and the in-cluster Secret.
    release.uninstall()?;
    let secret = release.kubectl(&[
        "-n",
        &ns,
        "get",
        "secret",
        "capstan-in-cluster",
        "--ignore-not-found",
        "-o",
        "name",
    ])?;
    assert!(secret.trim().is_empty(), "the in-cluster Secret left");
    let left = release.kubectl(&[
        "-n",
        &target,
        "get",
        "roles,rolebindings",
        "-l",
        "app.kubernetes.io/instance=capstan",
        "-o",
        "name",
    ])?;
    assert!(left.trim().is_empty(), "left in {target}: {left}");
    for object in &release.cluster_scoped {
        let left = release.kubectl(&["get", object, "--ignore-not-found", "-o", "name"])?;
        assert!(left.trim().is_empty(), "{object} left");
    }
    Ok(())
}

/// Writes `contents` to `dir/name`; returns the path.
fn write_file(dir: &Path, name: &str, contents: &str) -> anyhow::Result<String> {
    let path = dir.join(name);
    std::fs::write(&path, contents)?;
    Ok(path.to_str().context("path")?.to_owned())
}
