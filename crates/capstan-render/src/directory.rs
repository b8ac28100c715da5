//! Plain directories of YAML/JSON manifests, as Argo CD's `findManifests` reads them.
//!
//! - Files named `*.yaml`, `*.yml`, `*.json` (and `*.jsonnet`, which Capstan refuses) are
//!   manifests; everything else is ignored.
//! - Without `recurse` only the top-level files count; with it, subdirectories are walked in name
//!   order (symlinked directories are never followed, as Go's `filepath.Walk`).
//! - `exclude` then `include` are globs matched against the path relative to the app directory.
//!   They follow Argo CD's `util/glob` (gobwas/glob without separators): `*` matches across `/`,
//!   `{a,b}` lists alternatives, `[...]` classes; an empty pattern means "no filter".
//! - A symlinked file is read through its target, which must be inside the repository; a
//!   dangling one is skipped; one to a non-regular file is skipped.
//! - A YAML file that fails to parse (or whose first document is not an object) is skipped with a
//!   warning when it does not even look like a manifest (no `apiVersion:`, `kind:` and
//!   `metadata:`) and its offending document has no `kind` — Argo CD's way of tolerating
//!   unrelated YAML (a `values.yaml`, a CI config) in an app directory. Otherwise the error names
//!   the file and line. Unlike Argo CD, an object without `apiVersion` is an error here rather
//!   than a failure at sync time.

use std::path::{Path, PathBuf};

use capstan_types::application::ApplicationSourceDirectory;
use globset::{GlobBuilder, GlobMatcher};
use serde_json::Value;

use crate::manifests::{object_problem, parse_yaml_stream};
use crate::paths::rel_display;
use crate::{RenderError, RenderLimits};

/// A compiled `include`/`exclude` pattern with Argo CD's semantics (see the module docs).
#[derive(Debug, Clone)]
pub struct DirectoryGlob {
    matcher: GlobMatcher,
}

impl DirectoryGlob {
    /// Compiles `pattern`; fails with [`RenderError::InvalidGlob`].
    pub fn new(pattern: &str) -> Result<Self, RenderError> {
        let glob = GlobBuilder::new(&collapse_super_asterisks(pattern))
            .literal_separator(false)
            .backslash_escape(true)
            .build()
            .map_err(|e| RenderError::InvalidGlob {
                pattern: pattern.to_string(),
                message: e.kind().to_string(),
            })?;
        Ok(DirectoryGlob {
            matcher: glob.compile_matcher(),
        })
    }

    /// Whether `rel_path` (relative to the app directory, `/`-separated) matches.
    pub fn is_match(&self, rel_path: &str) -> bool {
        self.matcher.is_match(rel_path)
    }
}

/// gobwas/glob without separators treats `**` like `*` (both match anything, `/` included);
/// globset gives `**` path-component meaning, so runs of `*` outside classes become one `*`.
fn collapse_super_asterisks(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    let mut in_class = false;
    let mut after_star = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                if let Some(next) = chars.next() {
                    out.push(next);
                }
                after_star = false;
                continue;
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '*' if !in_class => {
                if after_star {
                    continue;
                }
                after_star = true;
                out.push(c);
                continue;
            }
            _ => {}
        }
        after_star = false;
        out.push(c);
    }
    out
}

/// Whether a file name is a manifest candidate (Argo CD's `^.*\.(yaml|yml|json|jsonnet)$`).
fn is_manifest_name(name: &str) -> bool {
    [".yaml", ".yml", ".json", ".jsonnet"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// A file selected for reading.
#[derive(Debug)]
struct Candidate {
    /// Where to read it (the symlink itself is fine: reading follows it).
    path: PathBuf,
    /// Repository-relative, for messages.
    shown: String,
    json: bool,
}

/// Renders the directory `app_dir` (canonical, inside the canonical `root`).
pub(crate) fn render_directory(
    root: &Path,
    app_dir: &Path,
    options: &ApplicationSourceDirectory,
    limits: &RenderLimits,
) -> Result<Vec<Value>, RenderError> {
    let include = non_empty(&options.include)
        .map(DirectoryGlob::new)
        .transpose()?;
    let exclude = non_empty(&options.exclude)
        .map(DirectoryGlob::new)
        .transpose()?;
    let mut walk = Walk {
        root,
        recurse: options.recurse.unwrap_or(false),
        include,
        exclude,
        limits,
        total_bytes: 0,
        candidates: Vec::new(),
    };
    walk.visit(app_dir, "")?;

    let mut objects = Vec::new();
    for candidate in &walk.candidates {
        let bytes = std::fs::read(&candidate.path)
            .map_err(|e| RenderError::io(candidate.shown.clone(), e))?;
        let text = decode_text(&bytes).ok_or_else(|| RenderError::InvalidYaml {
            file: candidate.shown.clone(),
            line: None,
            message: "not valid UTF-8 (or UTF-16 with a byte order mark)".to_string(),
        })?;
        if candidate.json {
            objects.push(parse_json_file(&candidate.shown, &text)?);
        } else {
            objects.extend(parse_yaml_file(&candidate.shown, &text)?);
        }
    }
    Ok(objects)
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

struct Walk<'a> {
    root: &'a Path,
    recurse: bool,
    include: Option<DirectoryGlob>,
    exclude: Option<DirectoryGlob>,
    limits: &'a RenderLimits,
    total_bytes: u64,
    candidates: Vec<Candidate>,
}

impl Walk<'_> {
    fn visit(&mut self, dir: &Path, rel: &str) -> Result<(), RenderError> {
        let mut entries = std::fs::read_dir(dir)
            .map_err(|e| RenderError::io(rel_display(self.root, dir), e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| RenderError::io(rel_display(self.root, dir), e))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel_path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let file_type = entry
                .file_type()
                .map_err(|e| RenderError::io(rel_display(self.root, &path), e))?;
            if file_type.is_dir() {
                if self.recurse && name != ".git" {
                    self.visit(&path, &rel_path)?;
                }
                continue;
            }
            if !is_manifest_name(&name) {
                continue;
            }
            let shown = rel_display(self.root, &path);
            let meta = if file_type.is_symlink() {
                let real = match path.canonicalize() {
                    Ok(real) => real,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        tracing::warn!(file = %shown, "skipping manifest file: destination of symlink is missing");
                        continue;
                    }
                    Err(e) => return Err(RenderError::io(shown, e)),
                };
                if !real.starts_with(self.root) {
                    return Err(RenderError::SymlinkEscape { path: shown });
                }
                std::fs::metadata(&real).map_err(|e| RenderError::io(shown.clone(), e))?
            } else {
                entry
                    .metadata()
                    .map_err(|e| RenderError::io(shown.clone(), e))?
            };
            if !meta.is_file() {
                tracing::warn!(file = %shown, "skipping manifest file: not a regular file");
                continue;
            }
            if self.exclude.as_ref().is_some_and(|g| g.is_match(&rel_path)) {
                continue;
            }
            if self
                .include
                .as_ref()
                .is_some_and(|g| !g.is_match(&rel_path))
            {
                continue;
            }
            if name.ends_with(".jsonnet") {
                return Err(RenderError::JsonnetUnsupported { file: shown });
            }
            if self.candidates.len() >= self.limits.max_files {
                return Err(RenderError::LimitExceeded {
                    what: "number of manifest files in the directory".to_string(),
                    limit: self.limits.max_files as u64,
                });
            }
            self.total_bytes += meta.len();
            if self.total_bytes > self.limits.max_manifest_bytes {
                return Err(RenderError::LimitExceeded {
                    what: "combined size of the directory's manifest files (bytes)".to_string(),
                    limit: self.limits.max_manifest_bytes,
                });
            }
            self.candidates.push(Candidate {
                path,
                shown,
                json: name.ends_with(".json"),
            });
        }
        Ok(())
    }
}

/// UTF-8 (BOM stripped) or UTF-16 with a BOM, as Argo CD's `utfutil.OpenFile(UTF8)` reads.
fn decode_text(bytes: &[u8]) -> Option<String> {
    let utf16 = |data: &[u8], little: bool| {
        let units: Vec<u16> = data
            .chunks_exact(2)
            .map(|c| {
                if little {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16(&units).ok()
    };
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8(rest.to_vec()).ok(),
        [0xFF, 0xFE, rest @ ..] => utf16(rest, true),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, false),
        _ => String::from_utf8(bytes.to_vec()).ok(),
    }
}

/// A `.json` file: exactly one object (Argo CD refuses several in one JSON file).
fn parse_json_file(shown: &str, text: &str) -> Result<Value, RenderError> {
    let invalid = |line: Option<usize>, message: String| RenderError::InvalidJson {
        file: shown.to_string(),
        line,
        message,
    };
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let value = match stream.next() {
        Some(Ok(value)) => value,
        Some(Err(e)) => return Err(invalid(Some(e.line()), e.to_string())),
        None => return Err(invalid(None, "empty file".to_string())),
    };
    if stream.next().is_some() {
        return Err(invalid(
            None,
            "found multiple objects; only single objects are allowed in JSON files".to_string(),
        ));
    }
    if let Some(problem) = object_problem(&value) {
        return Err(RenderError::NotAnObject {
            file: shown.to_string(),
            document: 1,
            problem: problem.to_string(),
        });
    }
    Ok(value)
}

/// A YAML file: every non-empty document must be an object, with Argo CD's tolerance for files
/// that do not look like manifests at all (see the module docs).
fn parse_yaml_file(shown: &str, text: &str) -> Result<Vec<Value>, RenderError> {
    let (docs, error) = parse_yaml_stream(text);
    let mut objects = Vec::with_capacity(docs.len());
    let looks_like_manifest =
        || text.contains("apiVersion:") && text.contains("kind:") && text.contains("metadata:");
    for (index, value) in docs {
        if value.is_null() {
            continue;
        }
        if let Some(problem) = object_problem(&value) {
            // Something with a kind is meant as a manifest: never skipped.
            let has_kind = value.get("kind").is_some();
            if objects.is_empty() && !has_kind && !looks_like_manifest() {
                tracing::warn!(file = %shown, problem, "skipping YAML file that is not a Kubernetes manifest");
                return Ok(Vec::new());
            }
            return Err(RenderError::NotAnObject {
                file: shown.to_string(),
                document: index,
                problem: problem.to_string(),
            });
        }
        objects.push(value);
    }
    if let Some(error) = error {
        if objects.is_empty() && !looks_like_manifest() {
            tracing::warn!(file = %shown, error = %error.message, "skipping unparsable YAML file that does not look like a manifest");
            return Ok(Vec::new());
        }
        return Err(RenderError::InvalidYaml {
            file: shown.to_string(),
            line: error.line,
            message: error.message,
        });
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_table() {
        // (pattern, path, matches): Argo CD's directory include/exclude semantics.
        let cases = [
            ("*.yaml", "a.yaml", true),
            ("*.yaml", "sub/a.yaml", true), // `*` crosses `/` (no separators in util/glob)
            ("*.yaml", "a.yml", false),
            ("{*.yml,*.yaml}", "a.yml", true),
            ("{*.yml,*.yaml}", "a.json", false),
            ("{config.json,env-usw2/*}", "config.json", true),
            ("{config.json,env-usw2/*}", "env-usw2/a.yaml", true),
            ("{config.json,env-usw2/*}", "env-use1/a.yaml", false),
            ("{a.yaml,b/*}", "b/c/d.yaml", true),
            ("sub/*", "sub/x.yaml", true),
            ("sub/*", "other/sub/x.yaml", false),
            ("**/x.yaml", "a/b/x.yaml", true),
            ("**/x.yaml", "x.yaml", false), // `**` is `*`: the `/` is literal
            ("a/**/b.yaml", "a/x/y/b.yaml", true),
            ("a/**/b.yaml", "a/b.yaml", false),
            ("deploy-?.yaml", "deploy-1.yaml", true),
            ("deploy-[0-9].yaml", "deploy-x.yaml", false),
            ("deploy-[!0-9].yaml", "deploy-x.yaml", true),
            ("*-secret.yaml", "db-secret.yaml", true),
            ("*.YAML", "a.yaml", false),
            ("a.yaml", "a.yaml", true),
            ("a.yaml", "b/a.yaml", false),
        ];
        for (pattern, path, want) in cases {
            let glob = DirectoryGlob::new(pattern).expect(pattern);
            assert_eq!(glob.is_match(path), want, "{pattern:?} vs {path:?}");
        }
        assert!(matches!(
            DirectoryGlob::new("{a,b"),
            Err(RenderError::InvalidGlob { .. })
        ));
    }

    #[test]
    fn collapse() {
        assert_eq!(collapse_super_asterisks("**/a/***"), "*/a/*");
        assert_eq!(collapse_super_asterisks("[**]x"), "[**]x");
        assert_eq!(collapse_super_asterisks(r"\**"), r"\**");
    }

    #[test]
    fn manifest_names() {
        for (name, want) in [
            ("a.yaml", true),
            ("a.yml", true),
            ("a.json", true),
            ("a.jsonnet", true),
            (".yaml", true),
            ("a.libsonnet", false),
            ("a.YAML", false),
            ("a.yaml.bak", false),
            ("README.md", false),
        ] {
            assert_eq!(is_manifest_name(name), want, "{name}");
        }
    }

    #[test]
    fn yaml_files() {
        // Unrelated YAML that does not look like a manifest is skipped, as Argo CD does.
        assert!(
            parse_yaml_file("values.yaml", "replicas: 3\n")
                .unwrap()
                .is_empty()
        );
        assert!(parse_yaml_file("broken.yaml", "a: [\n").unwrap().is_empty());
        // A manifest-looking file with an error fails, naming file and line.
        let err = parse_yaml_file(
            "app/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: 'unterminated\n",
        )
        .expect_err("broken");
        match err {
            RenderError::InvalidYaml { file, line, .. } => {
                assert_eq!(file, "app/cm.yaml");
                assert!(line.is_some());
            }
            other => panic!("{other}"),
        }
        // A document without kind after a valid one fails.
        let err = parse_yaml_file(
            "app/two.yaml",
            "apiVersion: v1\nkind: A\nmetadata: {name: a}\n---\napiVersion: v1\nmetadata: {name: b}\n",
        )
        .expect_err("second document has no kind");
        assert!(
            matches!(&err, RenderError::NotAnObject { file, document: 2, problem } if file == "app/two.yaml" && problem == "missing kind"),
            "{err}"
        );
        let err =
            parse_yaml_file("a.yaml", "kind: A\nmetadata: {name: a}\n").expect_err("no apiVersion");
        assert!(
            matches!(&err, RenderError::NotAnObject { problem, .. } if problem == "missing apiVersion"),
            "{err}"
        );
    }

    #[test]
    fn json_files() {
        let ok = parse_json_file("a.json", r#"{"apiVersion":"v1","kind":"A"}"#).unwrap();
        assert_eq!(ok["kind"], "A");
        let err =
            parse_json_file("a.json", "{\"apiVersion\":\"v1\",\n\"kind\":}").expect_err("bad");
        assert!(
            matches!(err, RenderError::InvalidJson { line: Some(2), .. }),
            "{err}"
        );
        let err = parse_json_file(
            "a.json",
            r#"{"apiVersion":"v1","kind":"A"} {"apiVersion":"v1","kind":"B"}"#,
        )
        .expect_err("two objects");
        assert!(matches!(err, RenderError::InvalidJson { .. }), "{err}");
    }

    #[test]
    fn text_decoding() {
        assert_eq!(decode_text(b"\xEF\xBB\xBFa: b").as_deref(), Some("a: b"));
        assert_eq!(
            decode_text(&[0xFF, 0xFE, b'a', 0, b':', 0]).as_deref(),
            Some("a:")
        );
        assert_eq!(decode_text(&[0xC3, 0x28]), None);
    }
}
