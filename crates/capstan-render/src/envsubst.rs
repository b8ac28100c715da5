//! Argo CD's build environment (`ARGOCD_APP_*`) and its `Env.Envsubst`, which Argo CD applies to
//! Helm parameters and value file paths and to Kustomize images and labels.
//!
//! Envsubst is Go's `os.Expand` with a mapping that knows only the build environment: `$VAR` and
//! `${VAR}` of a known variable become its value, `$$` becomes `$`, and **any other variable
//! becomes the empty string** — so a literal `$` in a Helm parameter must be written `$$`, exactly
//! as with Argo CD.

/// The `ARGOCD_APP_*` variables of one render, as Argo CD's repo-server `newEnv` builds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildEnv {
    vars: Vec<(String, String)>,
}

impl BuildEnv {
    /// The environment for an application: `ARGOCD_APP_NAME`, `ARGOCD_APP_NAMESPACE`,
    /// `ARGOCD_APP_REVISION` (+ `_SHORT` 7 chars, `_SHORT_8`), `ARGOCD_APP_SOURCE_REPO_URL`,
    /// `ARGOCD_APP_SOURCE_PATH`, `ARGOCD_APP_SOURCE_TARGET_REVISION`, `ARGOCD_APP_PROJECT_NAME`.
    pub fn new(
        app_name: &str,
        namespace: &str,
        revision: &str,
        project: &str,
        source: &capstan_types::application::ApplicationSource,
    ) -> Self {
        let short = |n: usize| revision.chars().take(n).collect::<String>();
        let vars = [
            ("ARGOCD_APP_NAME", app_name.to_string()),
            ("ARGOCD_APP_NAMESPACE", namespace.to_string()),
            ("ARGOCD_APP_PROJECT_NAME", project.to_string()),
            ("ARGOCD_APP_REVISION", revision.to_string()),
            ("ARGOCD_APP_REVISION_SHORT", short(7)),
            ("ARGOCD_APP_REVISION_SHORT_8", short(8)),
            ("ARGOCD_APP_SOURCE_REPO_URL", source.repo_url.clone()),
            ("ARGOCD_APP_SOURCE_PATH", source.path.clone()),
            (
                "ARGOCD_APP_SOURCE_TARGET_REVISION",
                source.target_revision.clone(),
            ),
        ];
        BuildEnv {
            vars: vars.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        }
    }

    /// The variables as `(name, value)` pairs (passed to Kustomize's environment, as Argo CD does).
    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }

    fn get(&self, name: &str) -> &str {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Argo CD's `Env.Envsubst` (Go `os.Expand` semantics, see the module docs).
    pub fn envsubst(&self, s: &str) -> String {
        expand(s, |name| {
            if name == "$" {
                "$".to_string()
            } else {
                self.get(name).to_string()
            }
        })
    }
}

fn is_shell_special(c: u8) -> bool {
    matches!(c, b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-') || c.is_ascii_digit()
}

fn is_alnum(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphanumeric()
}

/// Go's `getShellName`: the variable name after a `$` and how many bytes it spans.
fn shell_name(s: &[u8]) -> (&[u8], usize) {
    if s[0] == b'{' {
        if s.len() > 2 && is_shell_special(s[1]) && s[2] == b'}' {
            return (&s[1..2], 3);
        }
        for i in 1..s.len() {
            if s[i] == b'}' {
                if i == 1 {
                    return (&[], 2); // "${}" is bad syntax: eaten
                }
                return (&s[1..i], i + 1);
            }
        }
        return (&[], 1); // "${" without "}": eaten
    }
    if is_shell_special(s[0]) {
        return (&s[0..1], 1);
    }
    let n = s.iter().take_while(|c| is_alnum(**c)).count();
    (&s[..n], n)
}

/// Go's `os.Expand`.
fn expand(s: &str, mut mapping: impl FnMut(&str) -> String) -> String {
    let bytes = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let mut j = 0;
    while j < bytes.len() {
        if bytes[j] == b'$' && j + 1 < bytes.len() {
            out.extend_from_slice(&bytes[i..j]);
            let (name, width) = shell_name(&bytes[j + 1..]);
            if name.is_empty() && width > 0 {
                // Invalid syntax: the characters are eaten.
            } else if name.is_empty() {
                // `$` not followed by a name is kept.
                out.push(b'$');
            } else {
                out.extend_from_slice(mapping(&String::from_utf8_lossy(name)).as_bytes());
            }
            j += width;
            i = j + 1;
        }
        j += 1;
    }
    if i == 0 {
        // No `$` was expanded.
        return s.to_string();
    }
    if i < bytes.len() {
        out.extend_from_slice(&bytes[i..]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> BuildEnv {
        let source = capstan_types::application::ApplicationSource {
            repo_url: "https://git.example/repo.git".into(),
            path: "apps/a".into(),
            target_revision: "main".into(),
            ..Default::default()
        };
        BuildEnv::new("guestbook", "prod", "0123456789abcdef", "default", &source)
    }

    #[test]
    fn envsubst_table() {
        let env = env();
        for (input, want) in [
            ("plain", "plain"),
            ("$ARGOCD_APP_NAME", "guestbook"),
            ("${ARGOCD_APP_NAMESPACE}-x", "prod-x"),
            ("v-$ARGOCD_APP_REVISION_SHORT", "v-0123456"),
            ("v-${ARGOCD_APP_REVISION_SHORT_8}", "v-01234567"),
            ("$ARGOCD_APP_SOURCE_PATH", "apps/a"),
            ("pa$$word", "pa$word"),
            ("unknown $FOO var", "unknown  var"),
            ("cost: 5$", "cost: 5$"),
            ("$1x", "x"),
            ("a${}b", "ab"),
            ("a${b", "ab"),
            ("$-x", "x"),
            ("$ x", "$ x"),
            ("100%", "100%"),
            ("", ""),
        ] {
            assert_eq!(env.envsubst(input), want, "input {input:?}");
        }
    }
}
