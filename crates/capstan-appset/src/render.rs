//! Generated Applications: the ApplicationSet's template rendered with each parameter set.

use std::collections::BTreeSet;

use capstan_types::{Application, ApplicationSet};
use serde_json::json;

use crate::generate::GenerateError;
use crate::params::Params;
use crate::template::render_value;

/// The Applications `appset` generates from `params` (fasttemplate mode), in order. A name
/// that is empty, not a valid Kubernetes name (often a `{{param}}` no generator produces,
/// which Argo CD leaves in the text) or generated twice fails the whole set: nothing is
/// half-applied.
pub fn applications(
    appset: &ApplicationSet,
    params: &[Params],
) -> Result<Vec<Application>, GenerateError> {
    let template = serde_json::to_value(&appset.spec.template)
        .map_err(|e| GenerateError::Invalid(format!("template: {e}")))?;
    let default_namespace = appset.metadata.namespace.clone().unwrap_or_default();
    let mut names = BTreeSet::new();
    let mut out = Vec::with_capacity(params.len());
    for p in params {
        let rendered = render_value(&template, p);
        let meta = &rendered["metadata"];
        let name = meta["name"].as_str().unwrap_or_default().to_owned();
        check_name(&name)?;
        if !names.insert(name.clone()) {
            return Err(GenerateError::Invalid(format!(
                "the generators produce the Application name {name:?} more than once"
            )));
        }
        let namespace = meta["namespace"]
            .as_str()
            .filter(|n| !n.is_empty())
            .unwrap_or(&default_namespace);
        let mut metadata = json!({"name": name, "namespace": namespace});
        for field in ["labels", "annotations", "finalizers"] {
            if let Some(v) = meta.get(field).filter(|v| !v.is_null()) {
                metadata[field] = v.clone();
            }
        }
        let app = json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": metadata,
            "spec": rendered["spec"],
        });
        out.push(serde_json::from_value(app).map_err(|e| {
            GenerateError::Invalid(format!(
                "the Application {name:?} it renders is invalid: {e}"
            ))
        })?);
    }
    Ok(out)
}

/// A Kubernetes object name (DNS-1123 subdomain).
fn check_name(name: &str) -> Result<(), GenerateError> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        return Ok(());
    }
    let hint = if name.contains("{{") {
        " — it still contains a {{…}} tag: no generator produces that parameter (Argo CD leaves \
         unknown parameters as written)"
    } else {
        ""
    };
    Err(GenerateError::Invalid(format!(
        "generated Application name {name:?} is not a valid Kubernetes name (lower-case \
         letters, digits, '-' and '.'){hint}"
    )))
}
