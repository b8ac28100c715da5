//! `GetAppDetails`: what the dashboard and CLI show of a source before it is synced — a Helm
//! chart's value files, values and parameters; a Kustomization's images.

use std::path::Path;

use capstan_proto::repo::v1 as pb;
use capstan_types::application::ApplicationSource;
use serde_json::Value;
use tonic::Status;

/// Helm details, as Argo CD gives them: every `*values*.yaml|yml` file of the chart directory,
/// the chart's `values.yaml` text, and its values flattened into `a.b[0].c` parameters (with
/// the Application's own parameters overriding them).
pub fn helm(app_dir: &Path, source: &ApplicationSource) -> Result<pb::HelmAppSpec, Status> {
    let mut value_files: Vec<String> = std::fs::read_dir(app_dir)
        .map_err(|e| Status::internal(format!("reading the chart directory: {e}")))?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| {
            name.contains("values") && (name.ends_with(".yaml") || name.ends_with(".yml"))
        })
        .collect();
    value_files.sort();
    let values = std::fs::read_to_string(app_dir.join("values.yaml")).unwrap_or_default();
    let mut parameters = Vec::new();
    if !values.trim().is_empty() {
        let parsed: Value = serde_yaml_ng::from_str(&values).map_err(|e| {
            Status::failed_precondition(format!("values.yaml of the chart is not valid YAML: {e}"))
        })?;
        flatten("", &parsed, &mut parameters);
    }
    if let Some(helm) = &source.helm {
        for p in &helm.parameters {
            let name = p.name.clone();
            let value = p.value.clone();
            let force_string = p.force_string.unwrap_or(false);
            match parameters
                .iter_mut()
                .find(|q: &&mut pb::HelmParameter| q.name == name)
            {
                Some(q) => {
                    q.value = value;
                    q.force_string = force_string;
                }
                None => parameters.push(pb::HelmParameter {
                    name,
                    value,
                    force_string,
                }),
            }
        }
    }
    let name = match source.chart.as_str() {
        "" => app_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        chart => chart.to_owned(),
    };
    Ok(pb::HelmAppSpec {
        name,
        value_files,
        parameters,
        values,
        file_parameters: Vec::new(),
    })
}

/// Scalars of a values tree as `--set`-style parameters.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<pb::HelmParameter>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&name, child, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), child, out);
            }
        }
        Value::Null => {}
        Value::String(s) => out.push(pb::HelmParameter {
            name: prefix.to_owned(),
            value: s.clone(),
            force_string: false,
        }),
        other => out.push(pb::HelmParameter {
            name: prefix.to_owned(),
            value: other.to_string(),
            force_string: false,
        }),
    }
}

/// Kustomize details: the `images` of the kustomization, written like
/// `kustomize edit set image` takes them (`name=newName:newTag`, `name@digest`).
pub fn kustomize(app_dir: &Path) -> Result<pb::KustomizeAppSpec, Status> {
    let file = capstan_render::KUSTOMIZATION_NAMES
        .iter()
        .map(|n| app_dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Status::failed_precondition("no kustomization file in the application path")
        })?;
    let text = std::fs::read_to_string(&file)
        .map_err(|e| Status::internal(format!("reading the kustomization: {e}")))?;
    let parsed: Value = serde_yaml_ng::from_str(&text).map_err(|e| {
        Status::failed_precondition(format!("the kustomization is not valid YAML: {e}"))
    })?;
    let images = parsed
        .get("images")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|image| {
            let name = image.get("name")?.as_str()?;
            let new_name = image.get("newName").and_then(Value::as_str);
            let tag = image.get("newTag").and_then(Value::as_str);
            let digest = image.get("digest").and_then(Value::as_str);
            let mut text = match new_name {
                Some(n) => format!("{name}={n}"),
                None => name.to_owned(),
            };
            if let Some(tag) = tag {
                text = format!("{text}:{tag}");
            }
            if let Some(digest) = digest {
                text = format!("{text}@{digest}");
            }
            Some(text)
        })
        .collect();
    Ok(pb::KustomizeAppSpec { images })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_flatten_into_parameters() {
        let mut out = Vec::new();
        flatten(
            "",
            &json!({"image": {"tag": "1.2"}, "replicas": 3, "hosts": ["a", "b"], "empty": null}),
            &mut out,
        );
        let got: Vec<(String, String)> = out.into_iter().map(|p| (p.name, p.value)).collect();
        assert_eq!(
            got,
            [
                ("hosts[0]".to_owned(), "a".to_owned()),
                ("hosts[1]".to_owned(), "b".to_owned()),
                ("image.tag".to_owned(), "1.2".to_owned()),
                ("replicas".to_owned(), "3".to_owned()),
            ]
        );
    }
}
