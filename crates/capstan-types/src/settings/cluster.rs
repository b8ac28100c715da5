//! Destination clusters declared as Argo CD cluster Secrets: Secrets in the control-plane
//! namespace labelled `argocd.argoproj.io/secret-type: cluster`, with the keys `name`,
//! `server`, `namespaces`, `clusterResources`, `project` and `config` (a JSON object with
//! `bearerToken`, `username`/`password`, `tlsClientConfig` and `execProviderConfig`).
//!
//! Parsing only: turning a [`Cluster`] into a client is the controller's business. The
//! credentials never appear in `Debug` output.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The label that marks Argo CD's typed Secrets, and its value for clusters.
pub const CLUSTER_SECRET_TYPE: (&str, &str) = ("argocd.argoproj.io/secret-type", "cluster");
/// The in-cluster destination's URL, as Argo CD names it.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";
/// The in-cluster destination's name.
pub const IN_CLUSTER_NAME: &str = "in-cluster";

/// A destination cluster.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Cluster {
    /// Name applications refer to with `destination.name` (the server URL when unnamed).
    pub name: String,
    /// API server URL applications refer to with `destination.server`, without trailing `/`.
    pub server: String,
    /// When non-empty, the only namespaces Capstan may touch on this cluster.
    pub namespaces: Vec<String>,
    /// Whether cluster-scoped resources may be managed when `namespaces` is set.
    pub cluster_resources: bool,
    /// The project the cluster is scoped to, if any.
    pub project: Option<String>,
    /// How to connect and authenticate.
    pub config: ClusterConfig,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("name", &self.name)
            .field("server", &self.server)
            .field("namespaces", &self.namespaces)
            .field("cluster_resources", &self.cluster_resources)
            .field("project", &self.project)
            .field("config", &self.config)
            .finish()
    }
}

/// The `config` key of a cluster Secret (Argo CD's `ClusterConfig`).
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterConfig {
    /// Basic-auth user.
    #[serde(default)]
    pub username: Option<String>,
    /// Basic-auth password.
    #[serde(default)]
    pub password: Option<String>,
    /// Bearer token.
    #[serde(default)]
    pub bearer_token: Option<String>,
    /// TLS settings.
    #[serde(default)]
    pub tls_client_config: TlsClientConfig,
    /// An exec credential plugin (e.g. `kubelogin` / `argocd-k8s-auth azure` on AKS).
    #[serde(default)]
    pub exec_provider_config: Option<ExecProviderConfig>,
}

/// TLS settings of a cluster; the `*Data` fields are base64 PEM, as in Argo CD.
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsClientConfig {
    /// Skip server certificate verification.
    #[serde(default)]
    pub insecure: bool,
    /// Server name for SNI and verification.
    #[serde(default)]
    pub server_name: Option<String>,
    /// Base64 PEM CA bundle.
    #[serde(default)]
    pub ca_data: Option<String>,
    /// Base64 PEM client certificate.
    #[serde(default)]
    pub cert_data: Option<String>,
    /// Base64 PEM client key.
    #[serde(default)]
    pub key_data: Option<String>,
}

/// An exec credential plugin.
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecProviderConfig {
    /// Program to run.
    pub command: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Extra environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `client.authentication.k8s.io` version it speaks.
    #[serde(default)]
    pub api_version: Option<String>,
    /// Shown when the program is missing.
    #[serde(default)]
    pub install_hint: Option<String>,
}

/// A cluster Secret that cannot be used; the message names the Secret and the key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("cluster secret {secret}: {key}: {problem}")]
pub struct ClusterSecretError {
    /// Secret name.
    pub secret: String,
    /// The offending key.
    pub key: &'static str,
    /// What is wrong.
    pub problem: String,
}

impl Cluster {
    /// The in-cluster destination, reached with the controller's own credentials.
    pub fn in_cluster() -> Self {
        Self {
            name: IN_CLUSTER_NAME.to_owned(),
            server: IN_CLUSTER_SERVER.to_owned(),
            cluster_resources: true,
            ..Self::default()
        }
    }

    /// Whether this is the in-cluster destination (reached with the controller's own client).
    pub fn is_in_cluster(&self) -> bool {
        self.server == IN_CLUSTER_SERVER
    }

    /// Parses a cluster Secret's (decoded) data.
    pub fn from_secret_data(
        secret: &str,
        data: &BTreeMap<String, String>,
    ) -> Result<Self, ClusterSecretError> {
        let error = |key, problem: String| ClusterSecretError {
            secret: secret.to_owned(),
            key,
            problem,
        };
        let server = normalize_server(data.get("server").map(String::as_str).unwrap_or(""));
        if server.is_empty() {
            return Err(error("server", "is required".into()));
        }
        if !(server.starts_with("https://") || server.starts_with("http://")) {
            return Err(error("server", format!("{server:?} is not an http(s) URL")));
        }
        let name = data
            .get("name")
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| server.clone());
        let namespaces = data
            .get("namespaces")
            .map(|n| {
                n.split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let cluster_resources = match data.get("clusterResources").map(|v| v.trim()) {
            None | Some("") => false,
            Some(v) => v
                .parse()
                .map_err(|_| error("clusterResources", format!("{v:?} is not true or false")))?,
        };
        let config = match data.get("config").map(|c| c.trim()) {
            None | Some("") => ClusterConfig::default(),
            Some(json) => serde_json::from_str(json)
                .map_err(|e| error("config", format!("invalid JSON: {e}")))?,
        };
        let project = data
            .get("project")
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty());
        Ok(Self {
            name,
            server,
            namespaces,
            cluster_resources,
            project,
            config,
        })
    }

    /// Whether Capstan may manage objects in `namespace` ("" = cluster-scoped) on this cluster.
    pub fn allows_namespace(&self, namespace: &str) -> bool {
        if self.namespaces.is_empty() {
            return true;
        }
        if namespace.is_empty() {
            return self.cluster_resources;
        }
        self.namespaces.iter().any(|n| n == namespace)
    }
}

// Credentials never reach logs: the Debug forms say what is set, not what it is.
impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .field("tls_client_config", &self.tls_client_config)
            .field("exec_provider_config", &self.exec_provider_config)
            .finish()
    }
}

impl std::fmt::Debug for TlsClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClientConfig")
            .field("insecure", &self.insecure)
            .field("server_name", &self.server_name)
            .field("ca_data", &self.ca_data.is_some())
            .field("cert_data", &self.cert_data.is_some())
            .field("key_data", &self.key_data.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl std::fmt::Debug for ExecProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecProviderConfig")
            .field("command", &self.command)
            .field("args", &self.args)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("api_version", &self.api_version)
            .finish_non_exhaustive()
    }
}

/// A server URL as compared: trimmed, without trailing slashes.
pub fn normalize_server(server: &str) -> String {
    server.trim().trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parses_argo_cd_cluster_secrets() {
        let cluster = Cluster::from_secret_data(
            "aks-prod",
            &data(&[
                ("name", "aks-prod"),
                ("server", "https://aks-prod.hcp.westeurope.azmk8s.io:443/"),
                ("namespaces", "team-a, team-b,"),
                ("clusterResources", "true"),
                ("project", "platform"),
                (
                    "config",
                    r#"{"bearerToken":"t0ken","tlsClientConfig":{"insecure":false,"caData":"Q0E="},
                        "execProviderConfig":{"command":"argocd-k8s-auth","args":["azure"],
                        "env":{"AZURE_CLIENT_ID":"x"},"apiVersion":"client.authentication.k8s.io/v1beta1"}}"#,
                ),
            ]),
        )
        .unwrap();
        assert_eq!(cluster.name, "aks-prod");
        assert_eq!(
            cluster.server,
            "https://aks-prod.hcp.westeurope.azmk8s.io:443"
        );
        assert_eq!(cluster.namespaces, ["team-a", "team-b"]);
        assert!(cluster.cluster_resources);
        assert_eq!(cluster.project.as_deref(), Some("platform"));
        assert_eq!(cluster.config.bearer_token.as_deref(), Some("t0ken"));
        assert_eq!(
            cluster.config.tls_client_config.ca_data.as_deref(),
            Some("Q0E=")
        );
        let exec = cluster.config.exec_provider_config.as_ref().unwrap();
        assert_eq!(
            (exec.command.as_str(), exec.args.as_slice()),
            ("argocd-k8s-auth", &["azure".to_owned()][..])
        );
        let debug = format!("{cluster:?}");
        assert!(
            !debug.contains("t0ken") && debug.contains("redacted"),
            "{debug}"
        );
    }

    #[test]
    fn unnamed_cluster_is_named_by_its_server() {
        let cluster =
            Cluster::from_secret_data("s", &data(&[("server", "https://10.0.0.1")])).unwrap();
        assert_eq!(cluster.name, "https://10.0.0.1");
        assert!(cluster.allows_namespace("anything") && cluster.allows_namespace(""));
    }

    #[test]
    fn bad_secrets_name_the_key() {
        let cases = [
            (data(&[]), "server", "is required"),
            (
                data(&[("server", "10.0.0.1")]),
                "server",
                "not an http(s) URL",
            ),
            (
                data(&[("server", "https://a"), ("config", "{bearerToken: x}")]),
                "config",
                "invalid JSON",
            ),
            (
                data(&[("server", "https://a"), ("clusterResources", "yes")]),
                "clusterResources",
                "not true or false",
            ),
        ];
        for (data, key, problem) in cases {
            let error = Cluster::from_secret_data("broken", &data).unwrap_err();
            assert_eq!(error.key, key);
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("cluster secret broken: {key}: "))
            );
            assert!(error.problem.contains(problem), "{error}");
        }
    }

    #[test]
    fn namespace_scoped_clusters() {
        let mut cluster =
            Cluster::from_secret_data("s", &data(&[("server", "https://a"), ("namespaces", "x")]))
                .unwrap();
        let cases = [("x", true), ("y", false), ("", false)];
        for (namespace, allowed) in cases {
            assert_eq!(
                cluster.allows_namespace(namespace),
                allowed,
                "{namespace:?}"
            );
        }
        cluster.cluster_resources = true;
        assert!(cluster.allows_namespace(""));
    }
}
