//! Generated Applications: the ApplicationSet's template rendered with each parameter set.

use std::collections::BTreeSet;

use capstan_types::{Application, ApplicationSet};
use serde_json::{Map, Value, json};

use crate::generate::GenerateError;
use crate::gotemplate::{GoOptions, render_go};
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
    let go = if appset.spec.go_template == Some(true) {
        Some(
            GoOptions::parse(&appset.spec.go_template_options)
                .map_err(|e| GenerateError::Invalid(e.to_string()))?,
        )
    } else {
        None
    };
    if appset.spec.template_patch.is_some() && go.is_none() {
        return Err(GenerateError::Invalid(
            "templatePatch needs goTemplate: true".to_owned(),
        ));
    }
    let default_namespace = appset.metadata.namespace.clone().unwrap_or_default();
    let mut names = BTreeSet::new();
    let mut out = Vec::with_capacity(params.len());
    for p in params {
        let mut rendered = match go {
            None => render_value(&template, p),
            Some(options) => render_value_go(&template, &Value::Object(p.clone()), options)?,
        };
        if let (Some(patch), Some(options)) = (&appset.spec.template_patch, go) {
            let text = render_go(patch, &Value::Object(p.clone()), options)
                .map_err(|e| GenerateError::Invalid(format!("templatePatch: {e}")))?;
            let patch: Value = serde_yaml_ng::from_str(&text).map_err(|e| {
                GenerateError::Invalid(format!("templatePatch: not YAML once rendered: {e}"))
            })?;
            // A patch that renders to nothing (all inside a false `if`) changes nothing.
            if !patch.is_null() {
                merge_patch(&mut rendered, &patch);
            }
        }
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

/// Renders every string (and map key) of `value` as a Go template over `data`.
fn render_value_go(
    value: &Value,
    data: &Value,
    options: GoOptions,
) -> Result<Value, GenerateError> {
    let render = |text: &str| {
        // The engine's messages start with Go's "template: ".
        render_go(text, data, options).map_err(|e| GenerateError::Invalid(e.to_string()))
    };
    Ok(match value {
        Value::String(s) => Value::String(render(s)?),
        Value::Array(list) => Value::Array(
            list.iter()
                .map(|v| render_value_go(v, data, options))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(render(k)?, render_value_go(v, data, options)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// RFC 7386 JSON merge patch: objects merge, `null` removes, everything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
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
