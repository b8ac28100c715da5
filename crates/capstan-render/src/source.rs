//! Which tool renders a source (Argo CD's `GetAppSourceType` / `util/app/discovery`), and the
//! `.argocd-source*.yaml` parameter overrides Argo CD merges into a source before rendering.

use std::collections::BTreeMap;
use std::path::Path;

use capstan_types::application::ApplicationSource;
use serde_json::Value;

use crate::manifests::parse_yaml_stream;
use crate::paths::{canonical_root, rel_display};
use crate::{RenderError, resolve_in_repo};

/// The tool that renders a source, with Argo CD's names (`status.sourceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceType {
    /// A plain directory of YAML/JSON manifests.
    Directory,
    /// A Kustomize overlay (`kustomize build`).
    Kustomize,
    /// A Helm chart (`helm template`).
    Helm,
}

impl SourceType {
    /// Argo CD's name: `"Directory"`, `"Kustomize"` or `"Helm"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            SourceType::Directory => "Directory",
            SourceType::Kustomize => "Kustomize",
            SourceType::Helm => "Helm",
        }
    }
}

impl std::fmt::Display for SourceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kustomize's kustomization file names, in its lookup order.
pub const KUSTOMIZATION_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The type a source sets explicitly (Argo CD's `ApplicationSource.ExplicitType`): a non-null
/// `kustomize`, `helm`, `directory` or `plugin` block, at most one of them.
fn explicit_type(source: &ApplicationSource) -> Result<Option<SourceType>, RenderError> {
    let mut types: Vec<&str> = Vec::new();
    if source.kustomize.is_some() {
        types.push("Kustomize");
    }
    if source.helm.is_some() {
        types.push("Helm");
    }
    if source.directory.is_some() {
        types.push("Directory");
    }
    if source.plugin.is_some() {
        types.push("Plugin");
    }
    match types.as_slice() {
        [] => Ok(None),
        ["Kustomize"] => Ok(Some(SourceType::Kustomize)),
        ["Helm"] => Ok(Some(SourceType::Helm)),
        ["Directory"] => Ok(Some(SourceType::Directory)),
        ["Plugin"] => Err(RenderError::Unsupported {
            what: "config management plugins (source.plugin)".to_string(),
        }),
        many => Err(RenderError::MultipleSourceTypes {
            types: many.join(","),
        }),
    }
}

/// The type Argo CD's discovery gives one directory from its own files: in name order, a file
/// whose name ends with `Chart.yaml` makes it Helm and a kustomization file makes it Kustomize,
/// the last such file winning (so a directory with both `Chart.yaml` and `kustomization.yaml` is
/// Kustomize, as in Argo CD).
fn type_from_file_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<SourceType> {
    let mut found = None;
    for name in names {
        if name.ends_with("Chart.yaml") {
            found = Some(SourceType::Helm);
        }
        if KUSTOMIZATION_NAMES.contains(&name) {
            found = Some(SourceType::Kustomize);
        }
    }
    found
}

/// Non-directory entry names of `dir`, sorted (Go's `filepath.Walk` order).
fn file_names(dir: &Path, root: &Path) -> Result<Vec<String>, RenderError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| RenderError::io(rel_display(root, dir), e))? {
        let entry = entry.map_err(|e| RenderError::io(rel_display(root, dir), e))?;
        let is_dir = entry
            .file_type()
            .map_err(|e| RenderError::io(rel_display(root, &entry.path()), e))?
            .is_dir();
        if !is_dir {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Argo CD's source type detection (`GetAppSourceType`): an explicit `helm`, `kustomize` or
/// `directory` block wins (two of them is an error, a `plugin` block is unsupported); otherwise
/// the app directory's own files decide — `*Chart.yaml` → Helm, `kustomization.yaml`,
/// `kustomization.yml` or `Kustomization` → Kustomize, both → Kustomize — and anything else is a
/// Directory.
///
/// The source path is checked with [`resolve_in_repo`]. This does not apply
/// `.argocd-source*.yaml` overrides; call [`apply_source_overrides`] first for the source
/// [`Renderer::render`](crate::Renderer::render) uses.
pub fn detect_source_type(
    repo_root: &Path,
    source: &ApplicationSource,
) -> Result<SourceType, RenderError> {
    if source.is_helm_chart() {
        return Err(RenderError::Unsupported {
            what: format!(
                "Helm repository charts (source.chart {:?}); the renderer reads a checked-out Git path",
                source.chart
            ),
        });
    }
    let app_dir = app_dir(repo_root, &source.path)?;
    if let Some(explicit) = explicit_type(source)? {
        return Ok(explicit);
    }
    let root = canonical_root(repo_root)?;
    let names = file_names(&app_dir, &root)?;
    Ok(type_from_file_names(names.iter().map(String::as_str)).unwrap_or(SourceType::Directory))
}

/// The canonical app directory of a source path: inside the repository, existing, a directory.
pub(crate) fn app_dir(repo_root: &Path, path: &str) -> Result<std::path::PathBuf, RenderError> {
    let dir = resolve_in_repo(repo_root, path)?;
    if !dir.is_dir() {
        return Err(RenderError::NotADirectory {
            path: path.to_string(),
        });
    }
    Ok(dir)
}

/// Every Helm chart and Kustomize overlay in the repository, keyed by directory relative to the
/// root (`.` for the root itself) — Argo CD's `discovery.Discover`, which backs `ListApps`.
/// Directories that are neither are not listed. Symlinked directories are not followed and
/// `.git` is skipped; an out-of-bounds symlink anywhere fails the whole listing
/// ([`RenderError::SymlinkEscape`]), as Argo CD refuses such a checkout.
pub fn discover_apps(repo_root: &Path) -> Result<BTreeMap<String, SourceType>, RenderError> {
    let root = canonical_root(repo_root)?;
    crate::paths::check_out_of_bounds_symlinks(&root)?;
    let mut apps = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let mut names = Vec::new();
        for entry in
            std::fs::read_dir(&dir).map_err(|e| RenderError::io(rel_display(&root, &dir), e))?
        {
            let entry = entry.map_err(|e| RenderError::io(rel_display(&root, &dir), e))?;
            let file_type = entry
                .file_type()
                .map_err(|e| RenderError::io(rel_display(&root, &entry.path()), e))?;
            if file_type.is_dir() {
                if entry.file_name() != ".git" {
                    stack.push(entry.path());
                }
            } else {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        if let Some(kind) = type_from_file_names(names.iter().map(String::as_str)) {
            apps.insert(rel_display(&root, &dir), kind);
        }
    }
    Ok(apps)
}

/// Applies Argo CD's parameter override files to `source` (`mergeSourceParameters`):
/// `.argocd-source.yaml` and then `.argocd-source-<app_name>.yaml` in the app directory are JSON
/// merge patches (RFC 7386) on the source; `repoURL`, `path`, `targetRevision` and `chart` can
/// not be overridden. Missing files change nothing.
pub fn apply_source_overrides(
    repo_root: &Path,
    source: &ApplicationSource,
    app_name: &str,
) -> Result<ApplicationSource, RenderError> {
    let root = canonical_root(repo_root)?;
    let dir = app_dir(repo_root, &source.path)?;
    let mut files = vec![".argocd-source.yaml".to_string()];
    if !app_name.is_empty() {
        files.push(format!(".argocd-source-{app_name}.yaml"));
    }
    let mut merged: Option<Value> = None;
    for name in files {
        let path = dir.join(&name);
        let shown = rel_display(&root, &path);
        // Read through resolve_in_repo's rules: an override file may not be a symlink out.
        let rel = format!("{}/{name}", rel_display(&root, &dir));
        let real = match resolve_in_repo(&root, &rel) {
            Ok(real) => real,
            Err(RenderError::PathNotFound { .. }) => continue,
            Err(e) => return Err(e),
        };
        if real.is_dir() {
            continue;
        }
        let text = std::fs::read_to_string(&real).map_err(|e| RenderError::io(shown.clone(), e))?;
        let (docs, error) = parse_yaml_stream(&text);
        if let Some(error) = error {
            return Err(RenderError::InvalidYaml {
                file: shown,
                line: error.line,
                message: error.message,
            });
        }
        let patch = docs
            .into_iter()
            .map(|(_, v)| v)
            .next()
            .unwrap_or(Value::Null);
        let target = merged.get_or_insert_with(|| {
            serde_json::to_value(source).unwrap_or(Value::Object(Default::default()))
        });
        merge_patch(target, &patch);
    }
    let Some(merged) = merged else {
        return Ok(source.clone());
    };
    let mut result: ApplicationSource =
        serde_json::from_value(merged).map_err(|e| RenderError::SourceOverride {
            file: rel_display(&root, &dir),
            message: format!("the merged source is not a valid source: {e}"),
        })?;
    result.repo_url = source.repo_url.clone();
    result.path = source.path.clone();
    result.target_revision = source.target_revision.clone();
    result.chart = source.chart.clone();
    Ok(result)
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let Value::Object(map) = target else {
        return;
    };
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capstan_types::application::{ApplicationSourceDirectory, ApplicationSourceHelm};
    use serde_json::json;

    #[test]
    fn discovery_by_file_names() {
        let cases: [(&[&str], Option<SourceType>); 8] = [
            (&[], None),
            (&["deploy.yaml"], None),
            (&["Chart.yaml", "values.yaml"], Some(SourceType::Helm)),
            (&["kustomization.yaml"], Some(SourceType::Kustomize)),
            (&["kustomization.yml"], Some(SourceType::Kustomize)),
            (&["Kustomization"], Some(SourceType::Kustomize)),
            (
                &["Chart.yaml", "kustomization.yaml"],
                Some(SourceType::Kustomize),
            ),
            // Suffix match, and the later file in name order wins (Argo CD's walk).
            (
                &["kustomization.yaml", "myChart.yaml"],
                Some(SourceType::Helm),
            ),
        ];
        for (names, want) in cases {
            let mut sorted = names.to_vec();
            sorted.sort();
            assert_eq!(
                type_from_file_names(sorted.iter().copied()),
                want,
                "{names:?}"
            );
        }
    }

    #[test]
    fn explicit_types() {
        let mut s = ApplicationSource::default();
        assert_eq!(explicit_type(&s).unwrap(), None);
        s.helm = Some(ApplicationSourceHelm::default());
        assert_eq!(explicit_type(&s).unwrap(), Some(SourceType::Helm));
        s.directory = Some(ApplicationSourceDirectory::default());
        let err = explicit_type(&s).expect_err("two types");
        assert_eq!(
            err.to_string(),
            "multiple application sources defined: Helm,Directory"
        );
    }

    #[test]
    fn merge_patch_rfc7386() {
        let mut target = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut target, &json!({"a": "z", "c": {"f": null}, "n": [1]}));
        assert_eq!(target, json!({"a": "z", "c": {"d": "e"}, "n": [1]}));
    }
}
