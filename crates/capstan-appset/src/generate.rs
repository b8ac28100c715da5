//! The generators, in Argo CD's default (fasttemplate) mode, where every parameter is a string
//! under a flat, dotted key. The caller supplies what needs IO in [`Sources`]; [`needs`] tells
//! which Git data an ApplicationSet asks for.

use std::collections::{BTreeMap, BTreeSet};

use capstan_types::application_set::{
    ApplicationSetGenerator, ApplicationSetNestedGenerator, ApplicationSetSpec,
    ApplicationSetTerminalGenerator, ClusterGenerator, GitGenerator, ListGenerator,
};
use capstan_types::selector::Selector;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::{Value, json};

use crate::gotemplate::{GoOptions, render_go};
use crate::params::{Params, flatten, normalize};
use crate::template::render_fasttemplate;

/// The in-cluster destination Argo CD always knows.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";
/// Its name.
pub const IN_CLUSTER_NAME: &str = "in-cluster";

/// A registered cluster (a cluster Secret).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterInfo {
    /// `name`.
    pub name: String,
    /// `server`.
    pub server: String,
    /// `project`, when the cluster is scoped to one.
    pub project: Option<String>,
    /// The Secret's labels.
    pub labels: BTreeMap<String, String>,
    /// The Secret's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// A file of a repository at a revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitFile {
    /// Path from the repository root.
    pub path: String,
    /// Content.
    pub content: Vec<u8>,
}

/// What the generators read from outside: registered clusters, and per `(repoURL, revision)`
/// the repository's directories and the files matching each glob a files generator names.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// Cluster Secrets (the in-cluster destination is added when none names it).
    pub clusters: Vec<ClusterInfo>,
    /// Every directory of the repository at the revision, by `(repoURL, revision)`.
    pub directories: BTreeMap<(String, String), Vec<String>>,
    /// Files matching a glob, by `(repoURL, revision, glob)`.
    pub files: BTreeMap<(String, String, String), Vec<GitFile>>,
}

/// Why generation failed; the message goes into the ApplicationSet's `ErrorOccurred`
/// condition as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    /// A generator kind this release cannot run.
    #[error("{0} generators are not supported yet")]
    Unsupported(&'static str),
    /// A generator has no kind, or two.
    #[error("a generator must set exactly one of list, clusters, git, matrix, merge")]
    NoKind,
    /// Bad generator input.
    #[error("{0}")]
    Invalid(String),
    /// Data the caller did not fetch.
    #[error("internal: {0} was not fetched")]
    Missing(String),
}

/// How parameters are built: flat strings for fasttemplate, nested values for Go templates
/// (`goTemplate: true`, with its options).
#[derive(Clone, Copy)]
struct Cx<'a> {
    sources: &'a Sources,
    go: Option<GoOptions>,
}

/// The Git data an ApplicationSet's generators need: `(repoURL, revision, None)` for a
/// repository's directories, `(repoURL, revision, Some(glob))` for files.
pub fn needs(spec: &ApplicationSetSpec) -> BTreeSet<(String, String, Option<String>)> {
    let mut out = BTreeSet::new();
    let mut add = |git: &Option<GitGenerator>| {
        if let Some(g) = git {
            if !g.directories.is_empty() {
                out.insert((g.repo_url.clone(), g.revision.clone(), None));
            }
            for f in g.files.iter().filter(|f| f.exclude != Some(true)) {
                out.insert((g.repo_url.clone(), g.revision.clone(), Some(f.path.clone())));
            }
        }
    };
    for g in &spec.generators {
        add(&g.git);
        for n in g
            .matrix
            .iter()
            .flat_map(|m| &m.generators)
            .chain(g.merge.iter().flat_map(|m| &m.generators))
        {
            add(&n.git);
            for t in n
                .matrix
                .iter()
                .flat_map(|m| &m.generators)
                .chain(n.merge.iter().flat_map(|m| &m.generators))
            {
                add(&t.git);
            }
        }
    }
    out
}

/// Every parameter set the ApplicationSet's generators produce, in order (the union of its
/// generators).
pub fn generate(
    spec: &ApplicationSetSpec,
    sources: &Sources,
) -> Result<Vec<Params>, GenerateError> {
    let go = if spec.go_template == Some(true) {
        Some(
            GoOptions::parse(&spec.go_template_options)
                .map_err(|e| GenerateError::Invalid(e.to_string()))?,
        )
    } else {
        None
    };
    let cx = Cx { sources, go };
    let mut out = Vec::new();
    for g in &spec.generators {
        out.extend(top(g, cx)?);
    }
    Ok(out)
}

/// One generator's kind, uniformly over the three nesting levels.
enum Kind<'a> {
    List(&'a ListGenerator),
    Clusters(&'a ClusterGenerator),
    Git(&'a GitGenerator),
    Matrix(Vec<Node<'a>>),
    Merge(Vec<Node<'a>>, &'a [String]),
}

struct Node<'a> {
    kind: Result<Kind<'a>, GenerateError>,
    selector: Option<&'a LabelSelector>,
}

fn unsupported(scm: bool, pr: bool, cdr: bool, plugin: bool) -> Option<GenerateError> {
    [
        (scm, "scmProvider"),
        (pr, "pullRequest"),
        (cdr, "clusterDecisionResource"),
        (plugin, "plugin"),
    ]
    .into_iter()
    .find(|(set, _)| *set)
    .map(|(_, name)| GenerateError::Unsupported(name))
}

fn pick<'a>(
    list: &'a Option<ListGenerator>,
    clusters: &'a Option<ClusterGenerator>,
    git: &'a Option<GitGenerator>,
    combined: Vec<Kind<'a>>,
    other: Option<GenerateError>,
) -> Result<Kind<'a>, GenerateError> {
    if let Some(e) = other {
        return Err(e);
    }
    let mut kinds: Vec<Kind<'a>> = Vec::new();
    if let Some(l) = list {
        kinds.push(Kind::List(l));
    }
    if let Some(c) = clusters {
        kinds.push(Kind::Clusters(c));
    }
    if let Some(g) = git {
        kinds.push(Kind::Git(g));
    }
    kinds.extend(combined);
    if kinds.len() != 1 {
        return Err(GenerateError::NoKind);
    }
    Ok(kinds.remove(0))
}

fn terminal(t: &ApplicationSetTerminalGenerator) -> Node<'_> {
    Node {
        kind: pick(
            &t.list,
            &t.clusters,
            &t.git,
            Vec::new(),
            unsupported(
                t.scm_provider.is_some(),
                t.pull_request.is_some(),
                t.cluster_decision_resource.is_some(),
                t.plugin.is_some(),
            ),
        ),
        selector: t.selector.as_ref(),
    }
}

fn nested(n: &ApplicationSetNestedGenerator) -> Node<'_> {
    let mut combined = Vec::new();
    if let Some(m) = &n.matrix {
        combined.push(Kind::Matrix(m.generators.iter().map(terminal).collect()));
    }
    if let Some(m) = &n.merge {
        combined.push(Kind::Merge(
            m.generators.iter().map(terminal).collect(),
            &m.merge_keys,
        ));
    }
    Node {
        kind: pick(
            &n.list,
            &n.clusters,
            &n.git,
            combined,
            unsupported(
                n.scm_provider.is_some(),
                n.pull_request.is_some(),
                n.cluster_decision_resource.is_some(),
                n.plugin.is_some(),
            ),
        ),
        selector: n.selector.as_ref(),
    }
}

fn top(g: &ApplicationSetGenerator, cx: Cx<'_>) -> Result<Vec<Params>, GenerateError> {
    let mut combined = Vec::new();
    if let Some(m) = &g.matrix {
        combined.push(Kind::Matrix(m.generators.iter().map(nested).collect()));
    }
    if let Some(m) = &g.merge {
        combined.push(Kind::Merge(
            m.generators.iter().map(nested).collect(),
            &m.merge_keys,
        ));
    }
    run(
        Node {
            kind: pick(
                &g.list,
                &g.clusters,
                &g.git,
                combined,
                unsupported(
                    g.scm_provider.is_some(),
                    g.pull_request.is_some(),
                    g.cluster_decision_resource.is_some(),
                    g.plugin.is_some(),
                ),
            ),
            selector: g.selector.as_ref(),
        },
        cx,
    )
}

fn run(node: Node<'_>, cx: Cx<'_>) -> Result<Vec<Params>, GenerateError> {
    let params = match node.kind? {
        Kind::List(l) => list(l, cx.go.is_some())?,
        Kind::Clusters(c) => clusters(c, &cx.sources.clusters, cx.go)?,
        Kind::Git(g) => git(g, cx)?,
        Kind::Matrix(children) => matrix(children, cx)?,
        Kind::Merge(children, keys) => merge(children, keys, cx)?,
    };
    match node.selector {
        None => Ok(params),
        Some(s) => {
            let selector = Selector::from_label_selector(s).map_err(GenerateError::Invalid)?;
            Ok(params
                .into_iter()
                .filter(|p| selector.matches(&as_labels(p)))
                .collect())
        }
    }
}

fn as_labels(p: &Params) -> BTreeMap<String, String> {
    flatten(p)
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        })
        .collect()
}

/// The list generator: each element a parameter set; `values` flattened to `values.<k>`;
/// other values must be strings (Argo CD's rule without goTemplate).
fn list(l: &ListGenerator, go: bool) -> Result<Vec<Params>, GenerateError> {
    let mut elements = l.elements.clone();
    if !l.elements_yaml.trim().is_empty() {
        let parsed: Vec<Value> = serde_yaml_ng::from_str(&l.elements_yaml).map_err(|e| {
            GenerateError::Invalid(format!(
                "list generator: elementsYaml is not a YAML list: {e}"
            ))
        })?;
        elements.extend(parsed);
    }
    elements
        .iter()
        .enumerate()
        .map(|(i, element)| {
            let Value::Object(map) = element else {
                return Err(GenerateError::Invalid(format!(
                    "list generator: element {i} is not an object"
                )));
            };
            if go {
                // Go templates see the element as written, nested values included.
                return Ok(map.clone());
            }
            let mut params = Params::new();
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("values", Value::Object(values)) => {
                        for (vk, vv) in flatten(values) {
                            params.insert(format!("values.{vk}"), vv);
                        }
                    }
                    (_, Value::String(s)) => {
                        params.insert(k.clone(), Value::String(s.clone()));
                    }
                    (_, other) => {
                        return Err(GenerateError::Invalid(format!(
                            "list generator: element {i}: {k:?} is {other}, not a string \
                             (nested values need goTemplate: true, or quotes)"
                        )));
                    }
                }
            }
            Ok(params)
        })
        .collect()
}

/// The cluster generator: one parameter set per cluster Secret matching the selector, the
/// in-cluster destination included when no Secret names it and there is no selector.
fn clusters(
    c: &ClusterGenerator,
    known: &[ClusterInfo],
    go: Option<GoOptions>,
) -> Result<Vec<Params>, GenerateError> {
    let selector = c
        .selector
        .as_ref()
        .map(Selector::from_label_selector)
        .transpose()
        .map_err(GenerateError::Invalid)?;
    let mut all: Vec<ClusterInfo> = known.to_vec();
    if selector.is_none() && !all.iter().any(|k| k.server == IN_CLUSTER_SERVER) {
        all.insert(
            0,
            ClusterInfo {
                name: IN_CLUSTER_NAME.to_owned(),
                server: IN_CLUSTER_SERVER.to_owned(),
                ..Default::default()
            },
        );
    }
    let mut out = Vec::new();
    for cluster in all {
        if let Some(s) = &selector
            && !s.matches(&cluster.labels)
        {
            continue;
        }
        let mut p = Params::new();
        let s = |v: &str| Value::String(v.to_owned());
        p.insert("name".into(), s(&cluster.name));
        p.insert("nameNormalized".into(), s(&normalize(&cluster.name)));
        p.insert("server".into(), s(&cluster.server));
        p.insert(
            "project".into(),
            s(cluster.project.as_deref().unwrap_or("")),
        );
        if go.is_some() {
            p.insert(
                "metadata".into(),
                json!({"labels": cluster.labels, "annotations": cluster.annotations}),
            );
        } else {
            for (k, v) in &cluster.labels {
                p.insert(format!("metadata.labels.{k}"), s(v));
            }
            for (k, v) in &cluster.annotations {
                p.insert(format!("metadata.annotations.{k}"), s(v));
            }
        }
        add_values(&mut p, &c.values, go)?;
        out.push(p);
    }
    Ok(out)
}

/// `values.<k>` (fasttemplate) or `values` (Go templates), each rendered with the parameters
/// so far.
fn add_values(
    p: &mut Params,
    values: &BTreeMap<String, String>,
    go: Option<GoOptions>,
) -> Result<(), GenerateError> {
    if values.is_empty() {
        return Ok(());
    }
    match go {
        None => {
            let rendered: Vec<(String, String)> = values
                .iter()
                .map(|(k, v)| (format!("values.{k}"), render_fasttemplate(v, p)))
                .collect();
            for (k, v) in rendered {
                p.insert(k, Value::String(v));
            }
        }
        Some(options) => {
            let data = Value::Object(p.clone());
            let mut rendered = Params::new();
            for (k, v) in values {
                let text = render_go(v, &data, options)
                    .map_err(|e| GenerateError::Invalid(format!("values.{k}: {e}")))?;
                rendered.insert(k.clone(), Value::String(text));
            }
            p.insert("values".into(), Value::Object(rendered));
        }
    }
    Ok(())
}

fn glob(pattern: &str) -> Result<globset::GlobMatcher, GenerateError> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| GenerateError::Invalid(format!("git generator: path {pattern:?}: {e}")))
}

/// The `path` parameters of a directory (and, for a file, its name): flat keys for
/// fasttemplate, a `path` object for Go templates (`.path.path`, `.path.basename`,
/// `.path.segments`, …), under `pathParamPrefix` when set.
fn path_params(p: &mut Params, prefix: &str, dir: &str, filename: Option<&str>, go: bool) {
    if go {
        let basename = dir.rsplit('/').next().unwrap_or(dir);
        let mut path = json!({
            "path": dir,
            "basename": basename,
            "basenameNormalized": normalize(basename),
            "segments": dir.split('/').collect::<Vec<_>>(),
        });
        if let Some(f) = filename {
            path["filename"] = json!(f);
            path["filenameNormalized"] = json!(normalize(f));
        }
        if prefix.is_empty() {
            p.insert("path".into(), path);
        } else {
            p.insert(prefix.to_owned(), json!({ "path": path }));
        }
        return;
    }
    flat_path_params(p, prefix, dir);
    if let Some(f) = filename {
        let key = |k: &str| {
            if prefix.is_empty() {
                k.to_owned()
            } else {
                format!("{prefix}.{k}")
            }
        };
        p.insert(key("path.filename"), Value::String(f.to_owned()));
        p.insert(key("path.filenameNormalized"), Value::String(normalize(f)));
    }
}

fn flat_path_params(p: &mut Params, prefix: &str, dir: &str) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    let basename = dir.rsplit('/').next().unwrap_or(dir);
    p.insert(key("path"), Value::String(dir.to_owned()));
    p.insert(key("path.basename"), Value::String(basename.to_owned()));
    p.insert(
        key("path.basenameNormalized"),
        Value::String(normalize(basename)),
    );
    for (i, segment) in dir.split('/').enumerate() {
        p.insert(
            key(&format!("path[{i}]")),
            Value::String(segment.to_owned()),
        );
    }
}

/// The git generator: directories matching an include glob and no exclude glob (`*` does not
/// cross `/`, as Go's `path.Match`), or the parameter sets in matching JSON/YAML files.
fn git(g: &GitGenerator, cx: Cx<'_>) -> Result<Vec<Params>, GenerateError> {
    let (sources, go) = (cx.sources, cx.go);
    if !g.directories.is_empty() && !g.files.is_empty() {
        return Err(GenerateError::Invalid(
            "git generator: set directories or files, not both".to_owned(),
        ));
    }
    let repo = (g.repo_url.clone(), g.revision.clone());
    let mut out = Vec::new();
    if !g.directories.is_empty() {
        let dirs = sources
            .directories
            .get(&repo)
            .ok_or_else(|| GenerateError::Missing(format!("the directories of {}", g.repo_url)))?;
        let mut include = Vec::new();
        let mut exclude = Vec::new();
        for d in &g.directories {
            let m = glob(&d.path)?;
            if d.exclude == Some(true) {
                exclude.push(m);
            } else {
                include.push(m);
            }
        }
        for dir in dirs {
            if include.iter().any(|m| m.is_match(dir)) && !exclude.iter().any(|m| m.is_match(dir)) {
                let mut p = Params::new();
                path_params(&mut p, &g.path_param_prefix, dir, None, go.is_some());
                add_values(&mut p, &g.values, go)?;
                out.push(p);
            }
        }
        return Ok(out);
    }
    let excluded: Vec<globset::GlobMatcher> = g
        .files
        .iter()
        .filter(|f| f.exclude == Some(true))
        .map(|f| glob(&f.path))
        .collect::<Result<_, _>>()?;
    let mut seen = BTreeSet::new();
    for item in g.files.iter().filter(|f| f.exclude != Some(true)) {
        let files = sources
            .files
            .get(&(repo.0.clone(), repo.1.clone(), item.path.clone()))
            .ok_or_else(|| {
                GenerateError::Missing(format!("the files {} of {}", item.path, g.repo_url))
            })?;
        for file in files {
            if excluded.iter().any(|m| m.is_match(&file.path)) || !seen.insert(file.path.clone()) {
                continue;
            }
            for entry in file_entries(file)? {
                let mut p = if go.is_some() { entry } else { flatten(&entry) };
                let dir = file.path.rsplit_once('/').map_or("", |(d, _)| d);
                let filename = file.path.rsplit('/').next().unwrap_or(&file.path);
                path_params(
                    &mut p,
                    &g.path_param_prefix,
                    dir,
                    Some(filename),
                    go.is_some(),
                );
                add_values(&mut p, &g.values, go)?;
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// A config file's parameter sets: an object is one, a list of objects one each.
fn file_entries(file: &GitFile) -> Result<Vec<Params>, GenerateError> {
    let text = String::from_utf8(file.content.clone())
        .map_err(|_| GenerateError::Invalid(format!("{}: not UTF-8 text", file.path)))?;
    let value: Value = serde_yaml_ng::from_str(&text)
        .map_err(|e| GenerateError::Invalid(format!("{}: not JSON or YAML: {e}", file.path)))?;
    match value {
        Value::Object(map) => Ok(vec![map]),
        Value::Array(list) => list
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Object(map) => Ok(map),
                _ => Err(GenerateError::Invalid(format!(
                    "{}: entry {i} is not an object",
                    file.path
                ))),
            })
            .collect(),
        Value::Null => Ok(Vec::new()),
        _ => Err(GenerateError::Invalid(format!(
            "{}: neither an object nor a list of objects",
            file.path
        ))),
    }
}

/// Joins two parameter sets; a key both set to different values is an error (Argo CD's
/// `CombineStringMaps`).
fn combine(a: &Params, b: &Params) -> Result<Params, GenerateError> {
    let mut out = a.clone();
    for (k, v) in b {
        match out.get_mut(k) {
            // Go templates' nested parameters merge object by object.
            Some(Value::Object(existing)) if v.is_object() => {
                let merged = combine(existing, v.as_object().expect("an object"))?;
                *existing = merged;
            }
            Some(existing) if existing != v => {
                return Err(GenerateError::Invalid(format!(
                    "matrix generator: both children set {k:?} ({existing} and {v})"
                )));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(out)
}

/// Deep-merges `b` into `a`, `b` winning (merge generator).
fn override_with(a: &mut Params, b: &Params) {
    for (k, v) in b {
        match (a.get_mut(k), v) {
            (Some(Value::Object(existing)), Value::Object(other)) => override_with(existing, other),
            _ => {
                a.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The matrix generator: the cartesian product of exactly two children.
fn matrix(children: Vec<Node<'_>>, cx: Cx<'_>) -> Result<Vec<Params>, GenerateError> {
    if children.len() != 2 {
        return Err(GenerateError::Invalid(format!(
            "matrix generator: needs exactly 2 child generators, found {}",
            children.len()
        )));
    }
    let mut it = children.into_iter();
    let first = run(it.next().expect("two"), cx)?;
    let second = run(it.next().expect("two"), cx)?;
    let mut out = Vec::with_capacity(first.len() * second.len());
    for a in &first {
        for b in &second {
            out.push(combine(a, b)?);
        }
    }
    Ok(out)
}

/// The merge generator: the first child's parameter sets, each extended (and overridden) by
/// the sets of the later children with the same values for every merge key.
fn merge(
    children: Vec<Node<'_>>,
    keys: &[String],
    cx: Cx<'_>,
) -> Result<Vec<Params>, GenerateError> {
    if keys.is_empty() {
        return Err(GenerateError::Invalid(
            "merge generator: mergeKeys is empty".to_owned(),
        ));
    }
    if children.len() < 2 {
        return Err(GenerateError::Invalid(format!(
            "merge generator: needs at least 2 child generators, found {}",
            children.len()
        )));
    }
    let key_of = |p: &Params| -> Option<Vec<String>> {
        keys.iter()
            .map(|k| {
                p.get(k)
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            })
            .collect()
    };
    let mut it = children.into_iter();
    let mut base = run(it.next().expect("at least two"), cx)?;
    let mut seen = BTreeSet::new();
    for p in &base {
        if let Some(k) = key_of(p)
            && !seen.insert(k.clone())
        {
            return Err(GenerateError::Invalid(format!(
                "merge generator: two parameter sets of the first generator have the merge key values {k:?}"
            )));
        }
    }
    for child in it {
        let mut by_key: BTreeMap<Vec<String>, Params> = BTreeMap::new();
        for p in run(child, cx)? {
            let Some(k) = key_of(&p) else { continue };
            if by_key.insert(k.clone(), p).is_some() {
                return Err(GenerateError::Invalid(format!(
                    "merge generator: two parameter sets of a generator have the merge key values {k:?}"
                )));
            }
        }
        for p in &mut base {
            if let Some(other) = key_of(p).and_then(|k| by_key.get(&k)) {
                override_with(p, other);
            }
        }
    }
    Ok(base)
}
