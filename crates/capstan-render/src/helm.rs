//! Helm sources: the `helm template` command line Argo CD builds (`reposerver/repository`
//! `helmTemplate` and `util/helm/cmd.go`), with value files held inside the repository.
//!
//! ```text
//! helm template . --name-template <release> [--namespace <ns>] [--kube-version <v>]
//!     [--set k=v]... [--set-string k=v]... [--set-file k=path]...
//!     [--values <valueFile>]... [--values <values/valuesObject file>]
//!     [--api-versions <v>]... [--include-crds] [--skip-schema-validation] [--skip-tests]
//! ```
//!
//! run in the chart directory. Dependencies must be vendored in `charts/`: there is no
//! `helm dependency build` (it would need the network).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use capstan_types::application::ApplicationSourceHelm;

use crate::RenderError;
use crate::envsubst::BuildEnv;
use crate::paths::resolve_value_file;

/// Everything `helm template` needs, resolved and checked.
#[derive(Debug)]
pub(crate) struct HelmInvocation {
    pub args: Vec<OsString>,
}

/// Argo CD's `argo.ParseInstanceName`: `<namespace>_<name>` → `<name>`.
pub(crate) fn instance_name(app_name: &str) -> &str {
    app_name
        .split_once('_')
        .map(|(_, name)| name)
        .unwrap_or(app_name)
}

/// Argo CD's `cleanSetParameters`: commas not already escaped are escaped, unless the value is a
/// Helm list (`{a,b}`).
pub(crate) fn clean_set_value(value: &str) -> String {
    if value.starts_with('{') && value.ends_with('}') {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len());
    let mut previous = None;
    for c in value.chars() {
        if c == ',' && previous != Some('\\') {
            out.push_str("\\,");
        } else {
            out.push(c);
        }
        previous = Some(c);
    }
    out
}

/// Builds the `helm template` arguments. `root` is the canonical repository root, `source_path`
/// the source's path (value files are relative to it, lexically, as in Argo CD), `scratch` a
/// private directory for the inline values file.
#[allow(clippy::too_many_arguments)]
pub(crate) fn invocation(
    root: &Path,
    source_path: &str,
    helm: Option<&ApplicationSourceHelm>,
    app_name: &str,
    namespace: &str,
    kube_version: &str,
    api_versions: &[String],
    env: &BuildEnv,
    scratch: &Path,
) -> Result<HelmInvocation, RenderError> {
    let default = ApplicationSourceHelm::default();
    let helm = helm.unwrap_or(&default);
    if !matches!(helm.version.as_str(), "" | "v3" | "v4") {
        return Err(RenderError::HelmOption {
            message: format!("helm version {:?} is not supported", helm.version),
        });
    }
    let source_path = Path::new(source_path);
    let release = if helm.release_name.is_empty() {
        let name = instance_name(app_name);
        if name.is_empty() { app_name } else { name }
    } else {
        helm.release_name.as_str()
    };
    let namespace = if helm.namespace.is_empty() {
        namespace
    } else {
        &helm.namespace
    };
    let kube_version = if helm.kube_version.is_empty() {
        kube_version
    } else {
        &helm.kube_version
    };
    // Argo CD's text.SemVer: drop '+' (cluster versions like v1.29.3+k3s1).
    let kube_version = kube_version.replace('+', "");
    let api_versions = if helm.api_versions.is_empty() {
        api_versions
    } else {
        &helm.api_versions
    };

    let mut values: Vec<PathBuf> = Vec::new();
    for file in &helm.value_files {
        let file = substitute_path(env, file)?;
        match resolve_value_file(root, source_path, &file)? {
            Some(path) => values.push(path),
            None if helm.ignore_missing_value_files.unwrap_or(false) => {
                tracing::debug!(file, "values file does not exist; ignored");
            }
            None => return Err(RenderError::ValueFileNotFound { file }),
        }
    }
    let inline = match &helm.values_object {
        Some(object) if !object.is_null() => {
            serde_json::to_string(object).map_err(|e| RenderError::HelmOption {
                message: format!("valuesObject: {e}"),
            })?
        }
        _ => helm.values.clone(),
    };
    if !inline.is_empty() {
        let path = scratch.join("values-inline.yaml");
        std::fs::write(&path, inline)
            .map_err(|e| RenderError::io(path.display().to_string(), e))?;
        values.push(path);
    }

    // Parameters are keyed by name (a later one wins), as Argo CD's maps are.
    let mut set: BTreeMap<&str, String> = BTreeMap::new();
    let mut set_string: BTreeMap<&str, String> = BTreeMap::new();
    for p in &helm.parameters {
        let value = env.envsubst(&p.value);
        if p.force_string.unwrap_or(false) {
            set_string.insert(&p.name, value);
        } else {
            set.insert(&p.name, value);
        }
    }
    let mut set_file: BTreeMap<&str, PathBuf> = BTreeMap::new();
    for p in &helm.file_parameters {
        let file = substitute_path(env, &p.path)?;
        match resolve_value_file(root, source_path, &file)? {
            Some(path) => set_file.insert(&p.name, path),
            None => return Err(RenderError::ValueFileNotFound { file }),
        };
    }

    let mut args: Vec<OsString> = ["template", ".", "--name-template", release]
        .iter()
        .map(OsString::from)
        .collect();
    let mut push = |flag: &str, value: OsString| {
        args.push(flag.into());
        args.push(value);
    };
    if !namespace.is_empty() {
        push("--namespace", namespace.into());
    }
    if !kube_version.is_empty() {
        push("--kube-version", kube_version.into());
    }
    for (name, value) in &set {
        push("--set", format!("{name}={}", clean_set_value(value)).into());
    }
    for (name, value) in &set_string {
        push(
            "--set-string",
            format!("{name}={}", clean_set_value(value)).into(),
        );
    }
    for (name, path) in &set_file {
        push(
            "--set-file",
            format!("{name}={}", clean_set_value(&path.to_string_lossy())).into(),
        );
    }
    for path in &values {
        push("--values", path.into());
    }
    for version in api_versions {
        push("--api-versions", version.into());
    }
    if !helm.skip_crds.unwrap_or(false) {
        args.push("--include-crds".into());
    }
    if helm.skip_schema_validation.unwrap_or(false) {
        args.push("--skip-schema-validation".into());
    }
    if helm.skip_tests.unwrap_or(false) {
        args.push("--skip-tests".into());
    }
    Ok(HelmInvocation { args })
}

/// Envsubst of a value file path; a `$ref/...` path needs the other sources of a multi-source
/// Application, which the renderer is not given.
fn substitute_path(env: &BuildEnv, file: &str) -> Result<String, RenderError> {
    if let Some(rest) = file.strip_prefix('$') {
        let reference = rest.split('/').next().unwrap_or_default();
        let is_env = env.vars().iter().any(|(name, _)| {
            reference == name
                || reference
                    .strip_prefix('{')
                    .and_then(|r| r.strip_suffix('}'))
                    == Some(name)
        });
        if file.contains('/') && !is_env {
            return Err(RenderError::RefValueFile {
                file: file.to_string(),
                reference: format!("${reference}"),
            });
        }
    }
    Ok(env.envsubst(file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use capstan_types::application::HelmParameter;

    #[test]
    fn set_values_are_cleaned_like_argo_cd() {
        for (input, want) in [
            ("a,b", "a\\,b"),
            ("a\\,b", "a\\,b"),
            ("{a,b}", "{a,b}"),
            ("plain", "plain"),
            (",", "\\,"),
        ] {
            assert_eq!(clean_set_value(input), want, "{input}");
        }
    }

    #[test]
    fn instance_names() {
        assert_eq!(instance_name("guestbook"), "guestbook");
        assert_eq!(instance_name("team-a_guestbook"), "guestbook");
    }

    #[test]
    fn argument_order_follows_argo_cd() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        std::fs::create_dir_all(root.join("chart")).expect("mkdir");
        std::fs::write(root.join("chart/values-prod.yaml"), "a: 1\n").expect("write");
        let scratch = tempfile::tempdir().expect("scratch");
        let helm = ApplicationSourceHelm {
            value_files: vec!["values-prod.yaml".into(), "missing.yaml".into()],
            ignore_missing_value_files: Some(true),
            values: "b: 2\n".into(),
            parameters: vec![
                HelmParameter {
                    name: "z".into(),
                    value: "1,2".into(),
                    ..Default::default()
                },
                HelmParameter {
                    name: "a".into(),
                    value: "$ARGOCD_APP_NAME".into(),
                    ..Default::default()
                },
                HelmParameter {
                    name: "s".into(),
                    value: "007".into(),
                    force_string: Some(true),
                    ..Default::default()
                },
            ],
            skip_crds: Some(true),
            skip_tests: Some(true),
            ..Default::default()
        };
        let env = BuildEnv::new("ns_my-app", "prod", "", "", &Default::default());
        let inv = invocation(
            &root,
            "chart",
            Some(&helm),
            "ns_my-app",
            "prod",
            "v1.30.1+k3s1",
            &["batch/v1".to_string()],
            &env,
            scratch.path(),
        )
        .expect("invocation");
        let args: Vec<String> = inv
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let prod = root.join("chart/values-prod.yaml").display().to_string();
        let inline = scratch
            .path()
            .join("values-inline.yaml")
            .display()
            .to_string();
        assert_eq!(
            args,
            [
                "template",
                ".",
                "--name-template",
                "my-app",
                "--namespace",
                "prod",
                "--kube-version",
                "v1.30.1k3s1",
                "--set",
                "a=ns_my-app",
                "--set",
                "z=1\\,2",
                "--set-string",
                "s=007",
                "--values",
                &prod,
                "--values",
                &inline,
                "--api-versions",
                "batch/v1",
                "--skip-tests",
            ]
        );
    }

    #[test]
    fn ref_value_files_are_refused() {
        let env = BuildEnv::new("a", "n", "", "", &Default::default());
        assert!(matches!(
            substitute_path(&env, "$values/envs/prod.yaml"),
            Err(RenderError::RefValueFile { .. })
        ));
        assert_eq!(
            substitute_path(&env, "$ARGOCD_APP_NAME.yaml").unwrap(),
            "a.yaml"
        );
        assert_eq!(
            substitute_path(&env, "${ARGOCD_APP_NAME}/v.yaml").unwrap(),
            "a/v.yaml"
        );
    }
}
