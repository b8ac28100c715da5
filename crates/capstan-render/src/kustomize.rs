//! Kustomize sources, and the Application's `kustomize` overrides applied without writing into the
//! checkout.
//!
//! Argo CD applies overrides by running `kustomize edit set image ...`, `edit set nameprefix`,
//! `edit add label` etc. **inside the app directory of its checkout** and then `kustomize build`
//! (`util/kustomize/kustomize.go`). Checkouts here are shared read-only by concurrent renders, so
//! the same edits are made to a copy:
//!
//! 1. a scratch tree mirrors the repository: each directory on the way from the root to the app
//!    directory is a real directory whose other entries are symlinks to the checkout, and the app
//!    directory itself is copied (symlinks inside it are copied as symlinks);
//! 2. the copy's kustomization file is edited exactly as the `kustomize edit` commands Argo CD
//!    runs would edit it (same order, same merge rules, same errors);
//! 3. `kustomize build` runs on the copy.
//!
//! Relative references (`../../base`, components, patches) resolve to the same files as in the
//! checkout, and Kustomize's default load restrictor judges them the same way: a file outside the
//! app directory is refused in both (a symlinked file would resolve into the checkout, which is why
//! the app directory is copied rather than linked). The output equals what Argo CD produces.
//! A wrapper kustomization with `resources: [<app dir>]` would not: overrides would apply after
//! the overlay's own transformers instead of replacing its fields (`edit set nameprefix` replaces
//! a prefix, a wrapper would stack a second one; `edit set image` replaces an overlay's image
//! entry including its `newName`).
//!
//! Without overrides, `kustomize build <app dir>` runs directly on the checkout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use capstan_types::application::{ApplicationSourceKustomize, KustomizePatch};
use serde_json::{Map, Value};

use crate::RenderError;
use crate::envsubst::BuildEnv;
use crate::manifests::parse_yaml_stream;
use crate::paths::{Resolve, normalize, rel_display, resolve_components};
use crate::source::KUSTOMIZATION_NAMES;

/// Whether the Application asks for any change to the kustomization.
pub(crate) fn has_overrides(k: &ApplicationSourceKustomize) -> bool {
    !k.name_prefix.is_empty()
        || !k.name_suffix.is_empty()
        || !k.images.is_empty()
        || !k.replicas.is_empty()
        || !k.common_labels.is_empty()
        || !k.common_annotations.is_empty()
        || !k.namespace.is_empty()
        || !k.patches.is_empty()
        || !k.components.is_empty()
}

fn override_error(message: impl Into<String>) -> RenderError {
    RenderError::KustomizeOverride {
        message: message.into(),
    }
}

/// Builds the scratch tree under `tree` for the canonical `app_dir` (inside the canonical `root`),
/// applies the overrides to the copy, and returns the copy's app directory.
pub(crate) fn prepare_overridden_copy(
    root: &Path,
    app_dir: &Path,
    tree: &Path,
    opts: &ApplicationSourceKustomize,
    env: &BuildEnv,
    max_files: usize,
) -> Result<PathBuf, RenderError> {
    let rel = app_dir.strip_prefix(root).unwrap_or(Path::new(""));
    let kustomization = find_kustomization(root, app_dir)?;
    let copy_dir = mirror(root, rel, tree)?;
    let mut copied = 0usize;
    copy_tree(root, app_dir, &copy_dir, &mut copied, max_files)?;

    let file = copy_dir.join(kustomization);
    let shown = rel_display(root, &app_dir.join(kustomization));
    let text = std::fs::read_to_string(&file).map_err(|e| RenderError::io(shown.clone(), e))?;
    let mut doc = parse_kustomization(&shown, &text)?;
    apply_overrides(&mut doc, opts, env, root, app_dir, kustomization)?;
    let rendered = serde_json::to_string_pretty(&Value::Object(doc))
        .map_err(|e| override_error(format!("serialising the kustomization: {e}")))?;
    // The copy may be read-only (as in the checkout): replace it rather than write into it.
    std::fs::remove_file(&file).map_err(|e| RenderError::io(shown.clone(), e))?;
    std::fs::write(&file, rendered).map_err(|e| RenderError::io(shown, e))?;
    Ok(copy_dir)
}

/// The app directory's kustomization file name; `kustomize edit` refuses none or several.
fn find_kustomization(root: &Path, app_dir: &Path) -> Result<&'static str, RenderError> {
    let found: Vec<&'static str> = KUSTOMIZATION_NAMES
        .into_iter()
        .filter(|name| app_dir.join(name).exists())
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(override_error(format!(
            "missing kustomization file 'kustomization.yaml' in {}",
            rel_display(root, app_dir)
        ))),
        many => Err(override_error(format!(
            "found multiple kustomization files in {}: {many:?}",
            rel_display(root, app_dir)
        ))),
    }
}

fn parse_kustomization(shown: &str, text: &str) -> Result<Map<String, Value>, RenderError> {
    let (docs, error) = parse_yaml_stream(text);
    if let Some(error) = error {
        return Err(RenderError::InvalidYaml {
            file: shown.to_string(),
            line: error.line,
            message: error.message,
        });
    }
    match docs.into_iter().map(|(_, v)| v).next() {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(map)) => Ok(map),
        Some(_) => Err(RenderError::InvalidYaml {
            file: shown.to_string(),
            line: None,
            message: "a kustomization must be a mapping".to_string(),
        }),
    }
}

/// Creates `tree/<rel>`'s ancestors as real directories whose other entries link to the checkout.
fn mirror(root: &Path, rel: &Path, tree: &Path) -> Result<PathBuf, RenderError> {
    let parts: Vec<_> = rel
        .components()
        .map(|c| c.as_os_str().to_os_string())
        .collect();
    let mut real = root.to_path_buf();
    let mut shadow = tree.to_path_buf();
    std::fs::create_dir_all(&shadow)
        .map_err(|e| RenderError::io(shadow.display().to_string(), e))?;
    for part in &parts {
        let entries =
            std::fs::read_dir(&real).map_err(|e| RenderError::io(rel_display(root, &real), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| RenderError::io(rel_display(root, &real), e))?;
            let name = entry.file_name();
            if &name == part || name == ".git" {
                continue;
            }
            let link = shadow.join(&name);
            std::os::unix::fs::symlink(entry.path(), &link)
                .map_err(|e| RenderError::io(link.display().to_string(), e))?;
        }
        real.push(part);
        shadow.push(part);
        std::fs::create_dir(&shadow)
            .map_err(|e| RenderError::io(shadow.display().to_string(), e))?;
    }
    Ok(shadow)
}

/// Copies the app directory (files, subdirectories, symlinks as symlinks; not `.git`).
fn copy_tree(
    root: &Path,
    from: &Path,
    to: &Path,
    copied: &mut usize,
    max_files: usize,
) -> Result<(), RenderError> {
    let entries =
        std::fs::read_dir(from).map_err(|e| RenderError::io(rel_display(root, from), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| RenderError::io(rel_display(root, from), e))?;
        let name = entry.file_name();
        let src = entry.path();
        let dst = to.join(&name);
        let file_type = entry
            .file_type()
            .map_err(|e| RenderError::io(rel_display(root, &src), e))?;
        if file_type.is_dir() {
            if name == ".git" {
                continue;
            }
            std::fs::create_dir(&dst).map_err(|e| RenderError::io(dst.display().to_string(), e))?;
            copy_tree(root, &src, &dst, copied, max_files)?;
            continue;
        }
        *copied += 1;
        if *copied > max_files {
            return Err(RenderError::LimitExceeded {
                what: "number of files in the app directory copied to apply kustomize overrides"
                    .to_string(),
                limit: max_files as u64,
            });
        }
        if file_type.is_symlink() {
            let target = std::fs::read_link(&src)
                .map_err(|e| RenderError::io(rel_display(root, &src), e))?;
            std::os::unix::fs::symlink(&target, &dst)
                .map_err(|e| RenderError::io(dst.display().to_string(), e))?;
        } else if file_type.is_file() {
            std::fs::copy(&src, &dst).map_err(|e| RenderError::io(rel_display(root, &src), e))?;
        }
    }
    Ok(())
}

/// Applies the overrides in Argo CD's order: name prefix, name suffix, images, replicas, common
/// labels, common annotations, namespace, patches, components.
pub(crate) fn apply_overrides(
    doc: &mut Map<String, Value>,
    opts: &ApplicationSourceKustomize,
    env: &BuildEnv,
    root: &Path,
    app_dir: &Path,
    kustomization_file: &str,
) -> Result<(), RenderError> {
    let runs_edit = !opts.name_prefix.is_empty()
        || !opts.name_suffix.is_empty()
        || !opts.images.is_empty()
        || !opts.replicas.is_empty()
        || !opts.common_labels.is_empty()
        || !opts.common_annotations.is_empty()
        || !opts.namespace.is_empty()
        || !opts.components.is_empty();
    if runs_edit {
        fix_kustomization(doc);
    }
    if !opts.name_prefix.is_empty() {
        doc.insert("namePrefix".into(), Value::String(opts.name_prefix.clone()));
    }
    if !opts.name_suffix.is_empty() {
        doc.insert("nameSuffix".into(), Value::String(opts.name_suffix.clone()));
    }
    if !opts.images.is_empty() {
        let args: Vec<String> = opts.images.iter().map(|i| env.envsubst(i)).collect();
        set_images(doc, &args)?;
    }
    if !opts.replicas.is_empty() {
        let mut args = Vec::new();
        for replica in &opts.replicas {
            let count = match serde_json::to_value(&replica.count) {
                Ok(Value::Number(n)) => n.as_i64(),
                Ok(Value::String(s)) => s.trim().parse::<i64>().ok(),
                _ => None,
            }
            .ok_or_else(|| {
                override_error(format!(
                    "expected integer value for count of replica {:?}",
                    replica.name
                ))
            })?;
            args.push((replica.name.clone(), count));
        }
        set_replicas(doc, &args)?;
    }
    if !opts.common_labels.is_empty() {
        let labels: BTreeMap<String, String> = opts
            .common_labels
            .iter()
            .map(|(k, v)| (k.clone(), env.envsubst(v)))
            .collect();
        add_labels(
            doc,
            &labels,
            opts.force_common_labels.unwrap_or(false),
            opts.label_without_selector.unwrap_or(false),
            opts.label_include_templates.unwrap_or(false),
        )?;
    }
    if !opts.common_annotations.is_empty() {
        let annotations: BTreeMap<String, String> = opts
            .common_annotations
            .iter()
            .map(|(k, v)| {
                let v = if opts.common_annotations_envsubst.unwrap_or(false) {
                    env.envsubst(v)
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect();
        add_annotations(
            doc,
            &annotations,
            opts.force_common_annotations.unwrap_or(false),
        )?;
    }
    if !opts.namespace.is_empty() {
        if !is_dns1123_label(&opts.namespace) {
            return Err(override_error(format!(
                "{:?} is not a valid namespace name: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', start and end with an alphanumeric character, and be at most 63 characters",
                opts.namespace
            )));
        }
        doc.insert("namespace".into(), Value::String(opts.namespace.clone()));
    }
    if !opts.patches.is_empty() {
        add_patches(doc, &opts.patches, root, app_dir)?;
    }
    if !opts.components.is_empty() {
        add_components(
            doc,
            &opts.components,
            opts.ignore_missing_components.unwrap_or(false),
            root,
            app_dir,
            kustomization_file,
        )?;
    }
    Ok(())
}

/// The part of kustomize's `FixKustomization` (run by every `kustomize edit`) that the edits here
/// depend on: `bases` move into `resources`, `imageTags` into `images`.
fn fix_kustomization(doc: &mut Map<String, Value>) {
    for (old, new) in [("bases", "resources"), ("imageTags", "images")] {
        if let Some(Value::Array(moved)) = doc.remove(old) {
            match doc.entry(new).or_insert_with(|| Value::Array(Vec::new())) {
                Value::Array(list) => list.extend(moved),
                other => *other = Value::Array(moved),
            }
        }
    }
}

/// An image override as `kustomize edit set image` parses it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ImageArg {
    pub name: String,
    pub new_name: String,
    pub new_tag: String,
    pub digest: String,
}

/// kustomize's `image.Split`: name, tag and digest of `[host[:port]/]path[:tag][@digest]`.
pub(crate) fn split_image_name(image: &str) -> (String, String, String) {
    let slash = image.find('/').filter(|i| *i > 0).unwrap_or(0);
    let search = &image[slash..];
    let at = search.find('@');
    let colon = search.find(':');
    match (at, colon) {
        (None, None) => (image.to_string(), String::new(), String::new()),
        (Some(d), c) if c.is_none_or(|c| d < c) => {
            let d = d + slash;
            (
                image[..d].to_string(),
                String::new(),
                image[d + 1..].to_string(),
            )
        }
        (Some(d), Some(c)) => {
            let (d, c) = (d + slash, c + slash);
            (
                image[..c].to_string(),
                image[c + 1..d].to_string(),
                image[d + 1..].to_string(),
            )
        }
        (None, Some(c)) => {
            let c = c + slash;
            (
                image[..c].to_string(),
                image[c + 1..].to_string(),
                String::new(),
            )
        }
        (Some(_), None) => unreachable!("covered by the digest-only arm"),
    }
}

/// `kustomize edit set image`'s argument parser (kustomize v5 `setimage.go`).
pub(crate) fn parse_image_arg(arg: &str) -> Result<ImageArg, RenderError> {
    let (key, value) = match arg.split_once('=') {
        Some((key, value)) => (key, value),
        None => ("", arg),
    };
    let (name, tag, digest) = split_image_name(value);
    if name == arg {
        return Err(override_error(format!(
            "invalid image {arg:?}: use one of <image>=<newimage>:<newtag>, <image>=<newimage>@<digest>, <image>=<newimage>:<newtag>@<digest>, <image>=<newimage>, <image>:<newtag>, <image>:<newtag>@<digest>, <image>@<digest>"
        )));
    }
    Ok(if key.is_empty() {
        ImageArg {
            name,
            new_tag: tag,
            digest,
            ..ImageArg::default()
        }
    } else {
        ImageArg {
            name: key.to_string(),
            new_name: name,
            new_tag: tag,
            digest,
        }
    })
}

fn str_field(map: &Map<String, Value>, key: &str) -> String {
    map.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// `kustomize edit set image`: an argument replaces the entry of the same name (`*` keeps that
/// entry's new name, tag or digest); other entries stay; the list is sorted by name.
fn set_images(doc: &mut Map<String, Value>, args: &[String]) -> Result<(), RenderError> {
    let mut wanted: BTreeMap<String, ImageArg> = BTreeMap::new();
    for arg in args {
        let image = parse_image_arg(arg)?;
        wanted.insert(image.name.clone(), image);
    }
    let mut result: BTreeMap<String, Value> = BTreeMap::new();
    let existing = match doc.remove("images") {
        Some(Value::Array(list)) => list,
        Some(Value::Null) | None => Vec::new(),
        Some(_) => return Err(override_error("the kustomization's images is not a list")),
    };
    for entry in existing {
        let Value::Object(map) = entry else {
            return Err(override_error(
                "an entry of the kustomization's images is not a mapping",
            ));
        };
        let name = str_field(&map, "name");
        match wanted.remove(&name) {
            Some(mut arg) => {
                if arg.new_name == "*" {
                    arg.new_name = str_field(&map, "newName");
                }
                if arg.new_tag == "*" {
                    arg.new_tag = str_field(&map, "newTag");
                }
                if arg.digest == "*" {
                    arg.digest = str_field(&map, "digest");
                }
                result.insert(name, image_value(arg));
            }
            None => {
                result.insert(name, Value::Object(map));
            }
        }
    }
    for (name, arg) in wanted {
        result.insert(name, image_value(arg));
    }
    doc.insert(
        "images".into(),
        Value::Array(result.into_values().collect()),
    );
    Ok(())
}

fn image_value(arg: ImageArg) -> Value {
    let mut map = Map::new();
    let keep = |s: String| (s != "*" && !s.is_empty()).then_some(s);
    for (key, value) in [
        ("name", Some(arg.name)),
        ("newName", keep(arg.new_name)),
        ("newTag", keep(arg.new_tag)),
        ("digest", keep(arg.digest)),
    ] {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            map.insert(key.to_string(), Value::String(value));
        }
    }
    Value::Object(map)
}

/// `kustomize edit set replicas name=count ...`: replaces entries by name, sorted by name.
fn set_replicas(doc: &mut Map<String, Value>, args: &[(String, i64)]) -> Result<(), RenderError> {
    let mut result: BTreeMap<String, Value> = BTreeMap::new();
    let mut wanted: BTreeMap<String, i64> = BTreeMap::new();
    for (name, count) in args {
        // `set replicas` splits its argument on '=' and wants exactly two parts.
        if name.contains('=') || name.is_empty() {
            return Err(override_error(format!(
                "invalid replica name {name:?}: use the format <name>=<count>"
            )));
        }
        wanted.insert(name.clone(), *count);
    }
    let existing = match doc.remove("replicas") {
        Some(Value::Array(list)) => list,
        Some(Value::Null) | None => Vec::new(),
        Some(_) => return Err(override_error("the kustomization's replicas is not a list")),
    };
    for entry in existing {
        let Value::Object(map) = entry else {
            return Err(override_error(
                "an entry of the kustomization's replicas is not a mapping",
            ));
        };
        let name = str_field(&map, "name");
        if !wanted.contains_key(&name) {
            result.insert(name, Value::Object(map));
        }
    }
    for (name, count) in wanted {
        let mut map = Map::new();
        map.insert("name".into(), Value::String(name.clone()));
        map.insert("count".into(), Value::Number(count.into()));
        result.insert(name, Value::Object(map));
    }
    doc.insert(
        "replicas".into(),
        Value::Array(result.into_values().collect()),
    );
    Ok(())
}

/// Argo CD passes `key:value`; kustomize splits at the first `:` and strips surrounding double
/// quotes from the value (`util.ConvertSliceToMap`).
fn edit_pairs(
    kind: &str,
    pairs: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, RenderError> {
    let mut out = BTreeMap::new();
    for (key, value) in pairs {
        let arg = format!("{key}:{value}");
        let (key, value) = arg.split_once(':').unwrap_or((arg.as_str(), ""));
        if key.is_empty() {
            return Err(override_error(format!(
                "invalid {kind}: '{arg}' (need k:v pair where v may be quoted)"
            )));
        }
        let value = if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
            &value[1..value.len() - 1]
        } else {
            value
        };
        out.insert(key.to_string(), value.to_string());
    }
    Ok(out)
}

fn string_map<'a>(
    doc: &'a mut Map<String, Value>,
    field: &str,
) -> Result<&'a mut Map<String, Value>, RenderError> {
    let slot = doc
        .entry(field.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
        .ok_or_else(|| override_error(format!("the kustomization's {field} is not a mapping")))
}

/// `kustomize edit add label [--force] [--without-selector [--include-templates]]`.
fn add_labels(
    doc: &mut Map<String, Value>,
    labels: &BTreeMap<String, String>,
    force: bool,
    without_selector: bool,
    include_templates: bool,
) -> Result<(), RenderError> {
    if include_templates && !without_selector {
        return Err(override_error(
            "--without-selector flag must be specified for --include-templates to work (labelIncludeTemplates needs labelWithoutSelector)",
        ));
    }
    let labels = edit_pairs("label", labels)?;
    if !without_selector {
        let map = string_map(doc, "commonLabels")?;
        for (key, value) in labels {
            if map.contains_key(&key) && !force {
                return Err(override_error(format!(
                    "label {key} already in kustomization file"
                )));
            }
            map.insert(key, Value::String(value));
        }
        return Ok(());
    }
    let slot = doc
        .entry("labels".to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if slot.is_null() {
        *slot = Value::Array(Vec::new());
    }
    let list = slot
        .as_array_mut()
        .ok_or_else(|| override_error("the kustomization's labels is not a list"))?;
    let mut pairs = Map::new();
    for (key, value) in labels {
        let mut present = false;
        for entry in list.iter_mut() {
            if let Some(existing) = entry.get_mut("pairs").and_then(Value::as_object_mut)
                && existing.contains_key(&key)
            {
                if !force {
                    return Err(override_error(format!(
                        "label {key} already in kustomization file"
                    )));
                }
                existing.insert(key.clone(), Value::String(value.clone()));
                present = true;
            }
        }
        if !present {
            pairs.insert(key, Value::String(value));
        }
    }
    if !pairs.is_empty() {
        let mut entry = Map::new();
        entry.insert("pairs".into(), Value::Object(pairs));
        if include_templates {
            entry.insert("includeTemplates".into(), Value::Bool(true));
        }
        list.push(Value::Object(entry));
    }
    Ok(())
}

/// `kustomize edit add annotation [--force]`.
fn add_annotations(
    doc: &mut Map<String, Value>,
    annotations: &BTreeMap<String, String>,
    force: bool,
) -> Result<(), RenderError> {
    let annotations = edit_pairs("annotation", annotations)?;
    let map = string_map(doc, "commonAnnotations")?;
    for (key, value) in annotations {
        if map.contains_key(&key) && !force {
            return Err(override_error(format!(
                "annotation {key} already in kustomization file"
            )));
        }
        map.insert(key, Value::String(value));
    }
    Ok(())
}

fn is_dns1123_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// A path the Application names relative to the app directory must stay in the repository.
fn check_inside(root: &Path, app_dir: &Path, path: &str) -> Result<(), RenderError> {
    if Path::new(path).is_absolute() {
        return Err(RenderError::AbsolutePath {
            path: path.to_string(),
        });
    }
    let rel = app_dir.strip_prefix(root).unwrap_or(Path::new(""));
    let parts = normalize(&rel.join(path)).ok_or_else(|| RenderError::PathEscape {
        path: path.to_string(),
    })?;
    match resolve_components(root, &parts) {
        Ok(_) | Err(Resolve::NotFound) => Ok(()),
        Err(Resolve::Symlink(link)) => Err(RenderError::SymlinkEscape { path: link }),
        Err(Resolve::Io(p, e)) => Err(RenderError::io(rel_display(root, &p), e)),
    }
}

/// Argo CD appends the Application's patches to the kustomization's `patches` (there is no
/// `kustomize edit` for them), serialised with its own field names and omissions.
fn add_patches(
    doc: &mut Map<String, Value>,
    patches: &[KustomizePatch],
    root: &Path,
    app_dir: &Path,
) -> Result<(), RenderError> {
    let mut values = Vec::with_capacity(patches.len());
    for patch in patches {
        let mut map = Map::new();
        if !patch.path.is_empty() {
            check_inside(root, app_dir, &patch.path)?;
            map.insert("path".into(), Value::String(patch.path.clone()));
        }
        if !patch.patch.is_empty() {
            map.insert("patch".into(), Value::String(patch.patch.clone()));
        }
        if let Some(target) = &patch.target {
            let mut t = Map::new();
            let mut put = |key: &str, value: &str| {
                if !value.is_empty() {
                    t.insert(key.to_string(), Value::String(value.to_string()));
                }
            };
            put("group", target.group.as_deref().unwrap_or_default());
            put("version", &target.version);
            put("kind", &target.kind);
            put("name", &target.name);
            put("namespace", &target.namespace);
            put("labelSelector", &target.label_selector);
            put("annotationSelector", &target.annotation_selector);
            map.insert("target".into(), Value::Object(t));
        }
        if !patch.options.is_empty() {
            map.insert(
                "options".into(),
                Value::Object(
                    patch
                        .options
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::Bool(*v)))
                        .collect(),
                ),
            );
        }
        values.push(Value::Object(map));
    }
    match doc
        .entry("patches")
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        Value::Array(list) => list.extend(values),
        slot @ Value::Null => *slot = Value::Array(values),
        _ => {
            return Err(override_error(
                "expected 'patches' field in kustomization.yaml to be a list",
            ));
        }
    }
    Ok(())
}

fn has_glob_meta(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Whether a component reference is remote (kustomize would fetch it).
fn is_remote(s: &str) -> bool {
    s.contains("://") || s.starts_with("git@") || s.starts_with("github.com/")
}

/// Go's `filepath.Glob` relative to `base`: matches per path component, sorted.
fn glob_relative(base: &Path, pattern: &str) -> Result<Vec<String>, RenderError> {
    if !has_glob_meta(pattern) {
        return Ok(if std::fs::symlink_metadata(base.join(pattern)).is_ok() {
            vec![pattern.to_string()]
        } else {
            Vec::new()
        });
    }
    let (dir, file) = match pattern.rsplit_once('/') {
        Some((dir, file)) => (dir, file),
        None => ("", pattern),
    };
    let dirs = if dir.is_empty() {
        vec![String::new()]
    } else {
        glob_relative(base, dir)?
    };
    let matcher = globset::GlobBuilder::new(file)
        .literal_separator(true)
        .build()
        .map_err(|e| override_error(format!("invalid component pattern {pattern:?}: {e}")))?
        .compile_matcher();
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(base.join(&dir)) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| matcher.is_match(name))
            .collect();
        names.sort();
        out.extend(names.into_iter().map(|name| {
            if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            }
        }));
    }
    Ok(out)
}

/// `kustomize edit add component` (globs expanded from the app directory, duplicates skipped);
/// with `ignoreMissingComponents`, components that do not exist are dropped first.
fn add_components(
    doc: &mut Map<String, Value>,
    components: &[String],
    ignore_missing: bool,
    root: &Path,
    app_dir: &Path,
    kustomization_file: &str,
) -> Result<(), RenderError> {
    let mut resolved = Vec::new();
    for component in components {
        if is_remote(component) {
            resolved.push(component.clone());
            continue;
        }
        check_inside(root, app_dir, component)?;
        let matches = glob_relative(app_dir, component)?;
        if matches.is_empty() {
            if ignore_missing {
                tracing::debug!(component, "component directory does not exist; ignored");
                continue;
            }
            return Err(override_error(format!(
                "component {component} has no match"
            )));
        }
        for found in matches {
            check_inside(root, app_dir, &found)?;
            resolved.push(found);
        }
    }
    if resolved.is_empty() {
        return Ok(());
    }
    let slot = doc
        .entry("components".to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if slot.is_null() {
        *slot = Value::Array(Vec::new());
    }
    let list = slot
        .as_array_mut()
        .ok_or_else(|| override_error("the kustomization's components is not a list"))?;
    for component in resolved {
        if component == kustomization_file || list.iter().any(|c| c.as_str() == Some(&component)) {
            continue;
        }
        list.push(Value::String(component));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::yaml_to_json;
    use capstan_types::application::{KustomizeReplica, KustomizeSelector};
    use serde_json::json;

    fn yaml(text: &str) -> Value {
        yaml_to_json(serde_yaml_ng::from_str(text).expect("yaml")).expect("json")
    }

    fn env() -> BuildEnv {
        BuildEnv::new(
            "app",
            "ns",
            "abcdef0123456789",
            "default",
            &Default::default(),
        )
    }

    fn edit(kustomization: &str, opts: ApplicationSourceKustomize) -> Result<Value, RenderError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        let Value::Object(mut doc) = yaml(kustomization) else {
            panic!("not a map")
        };
        apply_overrides(&mut doc, &opts, &env(), &root, &root, "kustomization.yaml")?;
        Ok(Value::Object(doc))
    }

    #[test]
    fn image_name_split() {
        for (input, want) in [
            ("nginx", ("nginx", "", "")),
            ("nginx:1.2", ("nginx", "1.2", "")),
            ("nginx@sha256:abc", ("nginx", "", "sha256:abc")),
            ("nginx:1.2@sha256:abc", ("nginx", "1.2", "sha256:abc")),
            ("localhost:5000/app:v1", ("localhost:5000/app", "v1", "")),
            ("localhost:5000/app", ("localhost:5000/app", "", "")),
            (
                "myregistry.azurecr.io/users-api:2.0",
                ("myregistry.azurecr.io/users-api", "2.0", ""),
            ),
        ] {
            let (n, t, d) = split_image_name(input);
            assert_eq!((n.as_str(), t.as_str(), d.as_str()), want, "{input}");
        }
    }

    #[test]
    fn image_args() {
        let ok = |arg: &str| parse_image_arg(arg).expect(arg);
        assert_eq!(
            ok("nginx:1.2"),
            ImageArg {
                name: "nginx".into(),
                new_tag: "1.2".into(),
                ..Default::default()
            }
        );
        assert_eq!(
            ok("postgres=eu.gcr.io/p/postgres:latest"),
            ImageArg {
                name: "postgres".into(),
                new_name: "eu.gcr.io/p/postgres".into(),
                new_tag: "latest".into(),
                ..Default::default()
            }
        );
        assert_eq!(
            ok("mysql=mariadb"),
            ImageArg {
                name: "mysql".into(),
                new_name: "mariadb".into(),
                ..Default::default()
            }
        );
        assert_eq!(
            ok("alpine@sha256:24a0"),
            ImageArg {
                name: "alpine".into(),
                digest: "sha256:24a0".into(),
                ..Default::default()
            }
        );
        assert!(
            parse_image_arg("nginx").is_err(),
            "a bare name is not an override"
        );
    }

    #[test]
    fn set_image_replaces_the_entry_and_sorts() {
        let got = edit(
            "images:\n- name: zeta\n  newTag: '1'\n- name: myregistry.azurecr.io/users-api\n  newName: other/users-api\n  newTag: 1.3.2\n",
            ApplicationSourceKustomize {
                images: vec![
                    "myregistry.azurecr.io/users-api:2.0.0".into(),
                    "alpha=beta:v-${ARGOCD_APP_REVISION_SHORT}".into(),
                ],
                ..Default::default()
            },
        )
        .expect("edit");
        assert_eq!(
            got["images"],
            json!([
                {"name": "alpha", "newName": "beta", "newTag": "v-abcdef0"},
                // The whole entry is replaced: its newName is gone, as with `kustomize edit`.
                {"name": "myregistry.azurecr.io/users-api", "newTag": "2.0.0"},
                {"name": "zeta", "newTag": "1"},
            ])
        );
        let got = edit(
            "images:\n- name: app\n  newName: reg/app\n  newTag: old\n",
            ApplicationSourceKustomize {
                images: vec!["app=*:new".into()],
                ..Default::default()
            },
        )
        .expect("edit");
        assert_eq!(
            got["images"],
            json!([{"name": "app", "newName": "reg/app", "newTag": "new"}])
        );
    }

    #[test]
    fn prefix_suffix_namespace_replace() {
        let got = edit(
            "namePrefix: old-\nnamespace: a\nresources: [x.yaml]\nbases: [../base]\n",
            ApplicationSourceKustomize {
                name_prefix: "new-".into(),
                name_suffix: "-s".into(),
                namespace: "prod".into(),
                ..Default::default()
            },
        )
        .expect("edit");
        assert_eq!(
            got,
            json!({"namePrefix": "new-", "nameSuffix": "-s", "namespace": "prod", "resources": ["x.yaml", "../base"]})
        );
        let err = edit(
            "resources: []\n",
            ApplicationSourceKustomize {
                namespace: "Not_Valid".into(),
                ..Default::default()
            },
        )
        .expect_err("invalid namespace");
        assert!(err.to_string().contains("not a valid namespace"), "{err}");
    }

    #[test]
    fn replicas() {
        let count = |v: Value| serde_json::from_value(v).expect("IntOrString");
        let got = edit(
            "replicas:\n- name: b\n  count: 1\n- name: keep\n  count: 7\n",
            ApplicationSourceKustomize {
                replicas: vec![
                    KustomizeReplica {
                        name: "b".into(),
                        count: count(json!(3)),
                        ..Default::default()
                    },
                    KustomizeReplica {
                        name: "a".into(),
                        count: count(json!("2")),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            },
        )
        .expect("edit");
        assert_eq!(
            got["replicas"],
            json!([{"name": "a", "count": 2}, {"name": "b", "count": 3}, {"name": "keep", "count": 7}])
        );
        let err = edit(
            "{}",
            ApplicationSourceKustomize {
                replicas: vec![KustomizeReplica {
                    name: "a".into(),
                    count: count(json!("x")),
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .expect_err("not a number");
        assert!(err.to_string().contains("integer"), "{err}");
    }

    #[test]
    fn labels_and_annotations() {
        let labels = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        // commonLabels: added; an existing key needs forceCommonLabels, as `edit add label`.
        let got = edit(
            "commonLabels:\n  app: x\n",
            ApplicationSourceKustomize {
                common_labels: labels(&[
                    ("team", "\"payments\""),
                    ("env", "$ARGOCD_APP_NAMESPACE"),
                ]),
                ..Default::default()
            },
        )
        .expect("edit");
        assert_eq!(
            got["commonLabels"],
            json!({"app": "x", "team": "payments", "env": "ns"})
        );
        let err = edit(
            "commonLabels:\n  app: x\n",
            ApplicationSourceKustomize {
                common_labels: labels(&[("app", "y")]),
                ..Default::default()
            },
        )
        .expect_err("conflict");
        assert_eq!(
            err.to_string(),
            "kustomize override: label app already in kustomization file"
        );
        let got = edit(
            "commonLabels:\n  app: x\n",
            ApplicationSourceKustomize {
                common_labels: labels(&[("app", "y")]),
                force_common_labels: Some(true),
                ..Default::default()
            },
        )
        .expect("forced");
        assert_eq!(got["commonLabels"], json!({"app": "y"}));
        // labelWithoutSelector: a `labels` entry without selectors.
        let got = edit(
            "{}",
            ApplicationSourceKustomize {
                common_labels: labels(&[("a", "1"), ("b", "2")]),
                label_without_selector: Some(true),
                label_include_templates: Some(true),
                ..Default::default()
            },
        )
        .expect("edit");
        assert_eq!(
            got["labels"],
            json!([{"pairs": {"a": "1", "b": "2"}, "includeTemplates": true}])
        );
        let err = edit(
            "{}",
            ApplicationSourceKustomize {
                common_labels: labels(&[("a", "1")]),
                label_include_templates: Some(true),
                ..Default::default()
            },
        )
        .expect_err("include templates needs without selector");
        assert!(err.to_string().contains("--without-selector"), "{err}");
        // Annotations: envsubst only with commonAnnotationsEnvsubst.
        let got = edit(
            "commonAnnotations:\n  team: platform\n",
            ApplicationSourceKustomize {
                common_annotations: labels(&[("rev", "$ARGOCD_APP_REVISION")]),
                ..Default::default()
            },
        )
        .expect("edit");
        assert_eq!(
            got["commonAnnotations"],
            json!({"team": "platform", "rev": "$ARGOCD_APP_REVISION"})
        );
        let got = edit(
            "{}",
            ApplicationSourceKustomize {
                common_annotations: labels(&[("rev", "$ARGOCD_APP_REVISION")]),
                common_annotations_envsubst: Some(true),
                ..Default::default()
            },
        )
        .expect("edit");
        assert_eq!(got["commonAnnotations"], json!({"rev": "abcdef0123456789"}));
        let err = edit(
            "commonAnnotations:\n  team: platform\n",
            ApplicationSourceKustomize {
                common_annotations: labels(&[("team", "x")]),
                ..Default::default()
            },
        )
        .expect_err("conflict");
        assert!(err.to_string().contains("annotation team already"), "{err}");
    }

    #[test]
    fn patches_are_appended() {
        let got = edit(
            "patches:\n- path: own.yaml\n",
            ApplicationSourceKustomize {
                patches: vec![KustomizePatch {
                    patch: "- op: replace\n  path: /spec/replicas\n  value: 5\n".into(),
                    target: Some(KustomizeSelector {
                        group: Some("apps".into()),
                        version: "v1".into(),
                        kind: "Deployment".into(),
                        name: "web".into(),
                        ..Default::default()
                    }),
                    options: [("allowNameChange".to_string(), true)].into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .expect("edit");
        assert_eq!(
            got["patches"],
            json!([
                {"path": "own.yaml"},
                {
                    "patch": "- op: replace\n  path: /spec/replicas\n  value: 5\n",
                    "target": {"group": "apps", "version": "v1", "kind": "Deployment", "name": "web"},
                    "options": {"allowNameChange": true}
                }
            ])
        );
        let err = edit(
            "{}",
            ApplicationSourceKustomize {
                patches: vec![KustomizePatch {
                    path: "../../../etc/passwd".into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .expect_err("escape");
        assert!(matches!(err, RenderError::PathEscape { .. }), "{err}");
    }

    #[test]
    fn components() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        for c in ["components/a", "components/b", "app"] {
            std::fs::create_dir_all(root.join(c)).expect("mkdir");
        }
        let app = root.join("app");
        let run = |components: &[&str], ignore: bool| {
            let mut doc = Map::new();
            doc.insert("components".into(), json!(["../components/b"]));
            let opts = ApplicationSourceKustomize {
                components: components.iter().map(|s| s.to_string()).collect(),
                ignore_missing_components: Some(ignore),
                ..Default::default()
            };
            apply_overrides(&mut doc, &opts, &env(), &root, &app, "kustomization.yaml")
                .map(|_| doc["components"].clone())
        };
        assert_eq!(
            run(&["../components/*"], false).expect("glob"),
            json!(["../components/b", "../components/a"])
        );
        assert!(run(&["../components/missing"], false).is_err());
        assert_eq!(
            run(&["../components/missing", "../components/a"], true).expect("ignored"),
            json!(["../components/b", "../components/a"])
        );
        let err = run(&["../../outside"], false).expect_err("outside");
        assert!(matches!(err, RenderError::PathEscape { .. }), "{err}");
    }
}
