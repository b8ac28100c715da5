//! Installing Capstan's CRDs into the test cluster, from the manifests users install
//! (`charts/capstan/crds/`), not from the Rust types: tests then prove the shipped files work.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};

use crate::eventually;

/// Field manager of the test suite's server-side applies.
pub const FIELD_MANAGER: &str = "capstan-e2e";

/// The directory of the checked-in CRD manifests.
pub fn crd_dir() -> PathBuf {
    crate::workspace_root().join("charts/capstan/crds")
}

/// Server-side applies every CRD in `charts/capstan/crds/` and waits until each is
/// `Established`. Idempotent and safe to run from parallel tests (same manager, same content).
/// Returns the CRD names.
pub async fn install_crds(client: &Client) -> anyhow::Result<Vec<String>> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(crd_dir())
        .with_context(|| format!("reading {}", crd_dir().display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
    {
        let text = std::fs::read_to_string(path)?;
        let crd: CustomResourceDefinition = serde_yaml_ng::from_str(&text)
            .with_context(|| format!("parsing {}", path.display()))?;
        let name = crd.metadata.name.clone().context("CRD without a name")?;
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .with_context(|| format!("applying {}", path.display()))?;
        names.push(name);
    }
    for name in &names {
        eventually(
            Duration::from_secs(30),
            &format!("CRD {name} Established"),
            || {
                let api = api.clone();
                let name = name.clone();
                async move {
                    let crd = api.get(&name).await?;
                    let established = crd
                        .status
                        .and_then(|s| s.conditions)
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True");
                    Ok(established.then_some(()))
                }
            },
        )
        .await?;
    }
    Ok(names)
}
