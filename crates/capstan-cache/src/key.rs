//! [`CacheKey`]: Redis key names derived by hashing, so no input ever shows in a key.

use std::fmt;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::CacheError;

/// The name of one cache entry: `<prefix>:<kind>:<hex SHA-256 of the canonical JSON of the
/// parts>`.
///
/// The parts (repository URL, revision, path, source parameters, tool versions, ...) are
/// hashed, so a URL with credentials, a token or any user input never appears in a key name.
/// The JSON is canonical — object members sorted by name at every level, no whitespace — so
/// the same parts give the same key in every process, whatever the map type or field order.
/// `kind` is a fixed name such as `"manifests"` or `"refs"`, never data.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    name: String,
    /// `false` when the parts could not be serialized: such a key is never read or written.
    usable: bool,
}

impl CacheKey {
    /// Derives the key of `parts` of `kind` under `prefix`.
    ///
    /// Parts that cannot be serialized to JSON (a map with non-string keys, a failing
    /// `Serialize` impl) give a key that the cache never reads or writes — every use is a
    /// miss, logged — instead of a key that could collide with another. Use
    /// [`CacheKey::try_new`] to see that error.
    pub fn new(prefix: &str, kind: &'static str, parts: &impl Serialize) -> Self {
        match Self::try_new(prefix, kind, parts) {
            Ok(key) => key,
            Err(_) => CacheKey {
                name: format!("{prefix}:{kind}:!unserializable"),
                usable: false,
            },
        }
    }

    /// Like [`CacheKey::new`], but fails when the parts cannot be serialized.
    pub fn try_new(
        prefix: &str,
        kind: &'static str,
        parts: &impl Serialize,
    ) -> Result<Self, CacheError> {
        let value = serde_json::to_value(parts).map_err(|_| CacheError::KeyParts)?;
        let mut canonical = String::new();
        write_canonical(&value, &mut canonical);
        let digest = Sha256::digest(canonical.as_bytes());
        Ok(CacheKey {
            name: format!("{prefix}:{kind}:{}", hex::encode(digest)),
            usable: true,
        })
    }

    /// The Redis key name.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// `false` for the key of parts that could not be serialized (see [`CacheKey::new`]).
    pub fn is_usable(&self) -> bool {
        self.usable
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CacheKey").field(&self.name).finish()
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl AsRef<str> for CacheKey {
    fn as_ref(&self) -> &str {
        &self.name
    }
}

/// Writes `value` as compact JSON with object members sorted by name at every level.
///
/// serde_json's own `Map` keeps insertion order when any crate in the build enables its
/// `preserve_order` feature, so its `to_string` cannot be trusted to be canonical.
pub(crate) fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (name, member)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(name, out);
                out.push(':');
                write_canonical(member, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::String(s) => write_json_string(s, out),
        // Null, booleans and numbers have one serde_json spelling.
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

fn write_json_string(s: &str, out: &mut String) {
    // serde_json escapes a string the same way every time.
    let _ = write!(out, "{}", Value::String(s.to_owned()));
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};

    use pretty_assertions::assert_eq;
    use serde_json::json;

    use super::*;

    #[derive(Serialize)]
    struct Parts<'a> {
        repo: &'a str,
        revision: &'a str,
        path: &'a str,
    }

    #[derive(Serialize)]
    struct Reordered<'a> {
        path: &'a str,
        revision: &'a str,
        repo: &'a str,
    }

    const URL: &str = "https://user:pass@host/repo.git";

    #[test]
    fn layout_is_prefix_kind_hash() {
        let key = CacheKey::new("capstan:v1", "manifests", &("a", 1));
        let name = key.as_str();
        let hash = name.strip_prefix("capstan:v1:manifests:").expect(name);
        assert_eq!(hash.len(), 64);
        assert!(
            hash.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert!(key.is_usable());
    }

    #[test]
    fn same_parts_same_key() {
        let a = Parts {
            repo: URL,
            revision: "abc",
            path: "apps/x",
        };
        let b = Reordered {
            path: "apps/x",
            revision: "abc",
            repo: URL,
        };
        let hash_map: HashMap<&str, &str> =
            [("repo", URL), ("revision", "abc"), ("path", "apps/x")].into();
        let btree: BTreeMap<&str, &str> = hash_map.clone().into_iter().collect();
        let value = json!({"path": "apps/x", "repo": URL, "revision": "abc"});
        let want = CacheKey::new("p", "manifests", &a);
        for (name, got) in [
            ("same struct again", CacheKey::new("p", "manifests", &a)),
            (
                "fields in another order",
                CacheKey::new("p", "manifests", &b),
            ),
            ("HashMap", CacheKey::new("p", "manifests", &hash_map)),
            ("BTreeMap", CacheKey::new("p", "manifests", &btree)),
            ("json! value", CacheKey::new("p", "manifests", &value)),
        ] {
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn different_parts_different_keys() {
        let base = CacheKey::new(
            "p",
            "manifests",
            &json!({"repo": URL, "rev": "abc", "path": "a"}),
        );
        let cases = [
            (
                "other revision",
                CacheKey::new(
                    "p",
                    "manifests",
                    &json!({"repo": URL, "rev": "abd", "path": "a"}),
                ),
            ),
            (
                "other path",
                CacheKey::new(
                    "p",
                    "manifests",
                    &json!({"repo": URL, "rev": "abc", "path": "b"}),
                ),
            ),
            (
                "extra part",
                CacheKey::new(
                    "p",
                    "manifests",
                    &json!({"repo": URL, "rev": "abc", "path": "a", "x": null}),
                ),
            ),
            (
                "number vs string",
                CacheKey::new(
                    "p",
                    "manifests",
                    &json!({"repo": URL, "rev": "abc", "path": 1}),
                ),
            ),
            (
                "other kind",
                CacheKey::new(
                    "p",
                    "refs",
                    &json!({"repo": URL, "rev": "abc", "path": "a"}),
                ),
            ),
            (
                "other prefix",
                CacheKey::new(
                    "q",
                    "manifests",
                    &json!({"repo": URL, "rev": "abc", "path": "a"}),
                ),
            ),
            (
                "array order",
                CacheKey::new("p", "manifests", &json!([URL, "abc", "a"])),
            ),
        ];
        let mut seen = vec![base.clone()];
        for (name, key) in cases {
            assert!(!seen.contains(&key), "{name}: {key:?} collides");
            seen.push(key);
        }
        // Tuple order matters (arrays are ordered).
        assert_ne!(
            CacheKey::new("p", "k", &("a", "b")),
            CacheKey::new("p", "k", &("b", "a"))
        );
    }

    #[test]
    fn key_contains_no_part_of_the_input() {
        let secrets = [
            URL,
            "user:pass",
            "pass",
            "host/repo.git",
            "ghp_0123456789abcdef",
        ];
        let key = CacheKey::new(
            "capstan:v1",
            "manifests",
            &json!({"repo": URL, "token": "ghp_0123456789abcdef", "path": "apps/x"}),
        );
        for s in secrets {
            assert!(!key.as_str().contains(s), "{s:?} shows in {key}");
        }
        assert!(!key.as_str().contains("apps"), "{key}");
        assert!(!format!("{key:?}").contains("pass"));
    }

    #[test]
    fn canonical_json_sorts_nested_members() {
        let mut out = String::new();
        write_canonical(
            &json!({"b": {"z": 1, "a": [true, null, {"y": "\"q\"", "x": 1.5}]}, "a": "é"}),
            &mut out,
        );
        assert_eq!(
            out,
            r#"{"a":"é","b":{"a":[true,null,{"x":1.5,"y":"\"q\""}],"z":1}}"#
        );
    }

    #[test]
    fn unserializable_parts_give_an_unusable_key() {
        let parts: HashMap<(u8, u8), &str> = [((1, 2), "x")].into();
        let key = CacheKey::new("p", "manifests", &parts);
        assert!(!key.is_usable());
        assert!(matches!(
            CacheKey::try_new("p", "manifests", &parts),
            Err(CacheError::KeyParts)
        ));
    }
}
