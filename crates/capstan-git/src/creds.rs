//! Repository credentials: the values, and Argo CD's rules for finding them in the labelled
//! `repository` and `repo-creds` Secrets.
//!
//! Secrets are passed in as plain values ([`RepoSecret`]); reading them from Kubernetes is
//! the caller's job.

use std::collections::BTreeMap;
use std::fmt;

use crate::url::{is_ssh_url, normalize_url, strip_credentials};

const MASK: &str = "***";

/// How to authenticate to a repository.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum AuthKind {
    /// Anonymous access.
    #[default]
    None,
    /// HTTP basic auth; a token goes in `password` (any `username` then works for most hosts).
    UserPass {
        /// The user name (may be empty with a token).
        username: String,
        /// The password or token.
        password: String,
    },
    /// An SSH private key (PEM or OpenSSH format, unencrypted).
    SshKey {
        /// The private key itself.
        private_key: String,
        /// `known_hosts` lines to check the server's host key against; `None` uses the
        /// store-wide known hosts ([`crate::GitStore::set_ssh_known_hosts`]).
        known_hosts: Option<String>,
    },
}

impl fmt::Debug for AuthKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthKind::None => f.write_str("None"),
            AuthKind::UserPass { username, .. } => f
                .debug_struct("UserPass")
                .field("username", username)
                .field("password", &format_args!("{MASK}"))
                .finish(),
            AuthKind::SshKey { known_hosts, .. } => f
                .debug_struct("SshKey")
                .field("private_key", &format_args!("{MASK}"))
                .field(
                    "known_hosts",
                    &known_hosts
                        .as_ref()
                        .map(|k| format!("{} line(s)", k.lines().count())),
                )
                .finish(),
        }
    }
}

impl fmt::Display for AuthKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthKind::None => f.write_str("anonymous"),
            AuthKind::UserPass { username, .. } => {
                write!(f, "username {username:?}, password {MASK}")
            }
            AuthKind::SshKey { .. } => write!(f, "SSH key {MASK}"),
        }
    }
}

/// Credentials plus the TLS / host-key policy for one repository.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct RepoAuth {
    /// How to authenticate.
    pub kind: AuthKind,
    /// Skip TLS certificate verification (https) and host key checking (ssh): Argo CD's
    /// `insecure: "true"`.
    pub insecure: bool,
}

impl RepoAuth {
    /// Anonymous access with full verification.
    pub fn none() -> Self {
        RepoAuth::default()
    }

    /// Basic auth (or a token as the password).
    pub fn user_pass(username: impl Into<String>, password: impl Into<String>) -> Self {
        RepoAuth {
            kind: AuthKind::UserPass {
                username: username.into(),
                password: password.into(),
            },
            insecure: false,
        }
    }

    /// The same credentials with `known_hosts` attached when they are an SSH key without any.
    pub fn with_known_hosts(mut self, known_hosts: &str) -> Self {
        if let AuthKind::SshKey {
            known_hosts: slot @ None,
            ..
        } = &mut self.kind
        {
            *slot = Some(known_hosts.to_string());
        }
        self
    }

    /// The secret strings of these credentials (to scrub them from libgit2's messages).
    pub(crate) fn secrets(&self) -> Vec<&str> {
        match &self.kind {
            AuthKind::None => vec![],
            AuthKind::UserPass { password, .. } => vec![password.as_str()],
            AuthKind::SshKey { private_key, .. } => vec![private_key.as_str()],
        }
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect()
    }
}

impl fmt::Debug for RepoAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RepoAuth")
            .field("kind", &self.kind)
            .field("insecure", &self.insecure)
            .finish()
    }
}

impl fmt::Display for RepoAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if self.insecure {
            f.write_str(" (insecure)")?;
        }
        Ok(())
    }
}

/// The kind of an Argo CD repository Secret (its `argocd.argoproj.io/secret-type` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretType {
    /// `repository`: credentials for one repository URL.
    Repository,
    /// `repo-creds`: a credential template for every repository under a URL prefix.
    RepoCreds,
}

/// One labelled repository Secret, its `data` already base64-decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct RepoSecret {
    /// The Secret's name (for logs).
    pub name: String,
    /// Its `argocd.argoproj.io/secret-type`.
    pub secret_type: SecretType,
    /// Its data: `url`, `username`, `password`, `sshPrivateKey`, `insecure`, `type`,
    /// `project`, `name`, ...
    pub data: BTreeMap<String, String>,
}

/// Keys of a repository Secret whose values are safe to print.
const PUBLIC_KEYS: &[&str] = &[
    "type",
    "name",
    "project",
    "username",
    "insecure",
    "insecureIgnoreHostKey",
    "enableLfs",
    "enableOCI",
    "proxy",
    "noProxy",
    "forceHttpBasicAuth",
];

impl fmt::Debug for RepoSecret {
    /// Shows the URL without credentials and only the values of [`PUBLIC_KEYS`]; every other
    /// value (password, keys, tokens) is `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let data: BTreeMap<&str, &str> = self
            .data
            .iter()
            .filter(|(k, _)| *k != "url")
            .map(|(k, v)| {
                let shown = if PUBLIC_KEYS.contains(&k.as_str()) {
                    v.as_str()
                } else {
                    MASK
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("RepoSecret")
            .field("name", &self.name)
            .field("secret_type", &self.secret_type)
            .field("url", &self.data.get("url").map(|u| strip_credentials(u)))
            .field("data", &data)
            .finish()
    }
}

impl RepoSecret {
    fn get(&self, key: &str) -> &str {
        self.data.get(key).map(|v| v.as_str()).unwrap_or_default()
    }

    /// Argo CD's `HasCredentials`: any of username, password, SSH key, TLS client cert,
    /// GitHub App key.
    fn has_credentials(&self) -> bool {
        [
            "username",
            "password",
            "sshPrivateKey",
            "tlsClientCertData",
            "githubAppPrivateKey",
        ]
        .iter()
        .any(|k| !self.get(k).is_empty())
    }

    /// `type` is empty or `git` (Helm and OCI repositories are not for us).
    fn is_git(&self) -> bool {
        let t = self.get("type");
        t.is_empty() || t.eq_ignore_ascii_case("git")
    }

    fn flag(&self, key: &str) -> bool {
        parse_bool(self.get(key))
    }
}

/// Go's `strconv.ParseBool` truth values (Argo CD parses the flags with it); anything else is
/// `false`.
fn parse_bool(v: &str) -> bool {
    matches!(v.trim(), "1" | "t" | "T" | "true" | "TRUE" | "True")
}

/// The credentials for `url` from Argo CD's repository Secrets, for an application without a
/// project-scoped repository (see [`credentials_for_project`]).
///
/// Argo CD's matching: a `repository` Secret whose `url` is the same repository (after
/// normalisation: trailing `/` and `.git` insensitive, case-insensitive scheme and host, any
/// credentials in the URL ignored) wins; otherwise the `repo-creds` Secret whose `url` is the
/// longest prefix of the repository URL. A matching `repository` Secret without credentials
/// inherits them from the matching `repo-creds` (keeping its own `insecure`). Secrets of
/// `type: helm` (or any type but `git`) are ignored. `None` means no Secret matches: access is
/// anonymous.
///
/// Which credential applies follows the URL: for an SSH URL the `sshPrivateKey` (else
/// username/password), for others the username/password (else the SSH key, which then fails
/// at fetch time with [`crate::GitError::CredentialsMismatch`]).
pub fn credentials_for(url: &str, secrets: &[RepoSecret]) -> Option<RepoAuth> {
    credentials_for_project(url, None, secrets)
}

/// [`credentials_for`] for an application of `project`: like Argo CD, a `repository` Secret
/// with `project: <project>` is preferred, then one without a project; Secrets scoped to
/// other projects never match. `repo-creds` are global.
pub fn credentials_for_project(
    url: &str,
    project: Option<&str>,
    secrets: &[RepoSecret],
) -> Option<RepoAuth> {
    let project = project.unwrap_or_default();
    let want = normalize_url(&strip_credentials(url));
    let mut repository: Option<&RepoSecret> = None;
    for secret in secrets
        .iter()
        .filter(|s| s.secret_type == SecretType::Repository && s.is_git())
    {
        if normalize_url(&strip_credentials(secret.get("url"))) != want
            || secret.get("url").trim().is_empty()
        {
            continue;
        }
        let scope = secret.get("project");
        if scope == project {
            repository = Some(secret);
            break;
        }
        if scope.is_empty() && repository.is_none() {
            repository = Some(secret);
        }
    }
    let template = best_repo_creds(&want, secrets);
    let Some(repo) = repository else {
        // Argo CD does not read `insecure` from repo-creds.
        return template.map(|creds| auth_from(url, creds, false));
    };
    let insecure = repo.flag("insecure") || repo.flag("insecureIgnoreHostKey");
    Some(match template {
        _ if repo.has_credentials() => auth_from(url, repo, insecure),
        Some(creds) => auth_from(url, creds, insecure),
        None => RepoAuth {
            kind: AuthKind::None,
            insecure,
        },
    })
}

/// The `repo-creds` Secret whose URL is the longest prefix of the normalised `want`.
fn best_repo_creds<'a>(want: &str, secrets: &'a [RepoSecret]) -> Option<&'a RepoSecret> {
    let mut best: Option<(usize, &RepoSecret)> = None;
    for secret in secrets
        .iter()
        .filter(|s| s.secret_type == SecretType::RepoCreds && s.is_git())
    {
        let raw = secret.get("url");
        if raw.trim().is_empty() {
            continue;
        }
        let prefix = prefix_form(raw);
        // A prefix ending in `/` also matches the directory itself.
        let matches = want.starts_with(&prefix)
            || (prefix.ends_with('/') && format!("{want}/").starts_with(&prefix));
        if matches && best.is_none_or(|(len, _)| prefix.len() > len) {
            best = Some((prefix.len(), secret));
        }
    }
    best.map(|(_, s)| s)
}

/// A repo-creds URL normalised for prefix matching: like [`normalize_url`], but a trailing `/`
/// (or the `:` of `git@host:`) is kept as `/`, so `https://host/org/` matches only repositories
/// under `org/`, while `https://host/org` also matches `https://host/organisation` (as in Argo
/// CD, a plain string prefix).
fn prefix_form(raw: &str) -> String {
    let stripped = strip_credentials(raw);
    let mut prefix = normalize_url(&stripped);
    let t = stripped.trim_end();
    if (t.ends_with('/') || t.ends_with(':')) && !prefix.ends_with('/') {
        prefix.push('/');
    }
    prefix
}

fn auth_from(url: &str, secret: &RepoSecret, insecure: bool) -> RepoAuth {
    let username = secret.get("username");
    let password = secret.get("password");
    let key = secret.get("sshPrivateKey");
    let user_pass = || AuthKind::UserPass {
        username: username.to_string(),
        password: password.to_string(),
    };
    let ssh_key = || AuthKind::SshKey {
        private_key: key.to_string(),
        known_hosts: None,
    };
    let has_user_pass = !username.is_empty() || !password.is_empty();
    let kind = if is_ssh_url(url) {
        if !key.is_empty() {
            ssh_key()
        } else if has_user_pass {
            user_pass()
        } else {
            AuthKind::None
        }
    } else if has_user_pass {
        user_pass()
    } else if !key.is_empty() {
        ssh_key()
    } else {
        AuthKind::None
    };
    RepoAuth { kind, insecure }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn secret(name: &str, secret_type: SecretType, data: &[(&str, &str)]) -> RepoSecret {
        RepoSecret {
            name: name.to_string(),
            secret_type,
            data: data
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn up(u: &str, p: &str) -> AuthKind {
        AuthKind::UserPass {
            username: u.to_string(),
            password: p.to_string(),
        }
    }

    fn secrets() -> Vec<RepoSecret> {
        use SecretType::*;
        vec![
            secret(
                "org-creds",
                RepoCreds,
                &[
                    ("url", "https://git.example.com/org"),
                    ("username", "org"),
                    ("password", "org-pw"),
                ],
            ),
            secret(
                "team-creds",
                RepoCreds,
                &[
                    ("url", "https://git.example.com/org/team/"),
                    ("username", "team"),
                    ("password", "team-pw"),
                ],
            ),
            secret(
                "host-creds",
                RepoCreds,
                &[
                    ("url", "https://git.example.com"),
                    ("username", "host"),
                    ("password", "host-pw"),
                ],
            ),
            secret(
                "ssh-creds",
                RepoCreds,
                &[
                    ("url", "git@github.com:acme"),
                    ("sshPrivateKey", "KEY-ACME"),
                ],
            ),
            secret(
                "helm-creds",
                RepoCreds,
                &[
                    ("url", "https://charts.example.com"),
                    ("type", "helm"),
                    ("username", "h"),
                    ("password", "h"),
                ],
            ),
            secret(
                "exact",
                Repository,
                &[
                    ("url", "https://git.example.com/org/app.git"),
                    ("username", "app"),
                    ("password", "app-pw"),
                ],
            ),
            secret(
                "no-creds",
                Repository,
                &[
                    ("url", "https://git.example.com/org/team/svc"),
                    ("insecure", "true"),
                ],
            ),
            secret(
                "lonely",
                Repository,
                &[
                    ("url", "https://other.example.com/x/y/"),
                    ("insecure", "TRUE"),
                ],
            ),
            secret(
                "scoped",
                Repository,
                &[
                    ("url", "https://scoped.example.com/r"),
                    ("project", "team-a"),
                    ("password", "scoped-pw"),
                ],
            ),
            secret(
                "global",
                Repository,
                &[
                    ("url", "https://scoped.example.com/r"),
                    ("password", "global-pw"),
                ],
            ),
            secret(
                "only-scoped",
                Repository,
                &[
                    ("url", "https://only.example.com/r"),
                    ("project", "team-a"),
                    ("password", "only-pw"),
                ],
            ),
            secret(
                "helm-repo",
                Repository,
                &[
                    ("url", "https://charts.example.com/stable"),
                    ("type", "helm"),
                    ("password", "x"),
                ],
            ),
        ]
    }

    #[test]
    fn matching_table() {
        let secrets = secrets();
        let cases: Vec<(&str, Option<(AuthKind, bool)>)> = vec![
            // exact repository Secret wins over repo-creds, any spelling of the URL
            (
                "https://git.example.com/org/app",
                Some((up("app", "app-pw"), false)),
            ),
            (
                "https://GIT.example.com/org/app.git/",
                Some((up("app", "app-pw"), false)),
            ),
            (
                "https://someone:pw@git.example.com/org/app",
                Some((up("app", "app-pw"), false)),
            ),
            // longest repo-creds prefix
            (
                "https://git.example.com/org/other",
                Some((up("org", "org-pw"), false)),
            ),
            (
                "https://git.example.com/org/team/x.git",
                Some((up("team", "team-pw"), false)),
            ),
            (
                "https://git.example.com/organisation/x",
                Some((up("org", "org-pw"), false)),
            ),
            (
                "https://git.example.com/elsewhere/x",
                Some((up("host", "host-pw"), false)),
            ),
            // `team/` (trailing slash) does not match `teamwork`
            (
                "https://git.example.com/org/teamwork",
                Some((up("org", "org-pw"), false)),
            ),
            // repository Secret without credentials inherits, keeps its insecure flag
            (
                "https://git.example.com/org/team/svc",
                Some((up("team", "team-pw"), true)),
            ),
            // no credentials anywhere, but the Secret's flags apply
            (
                "https://other.example.com/x/y.git",
                Some((AuthKind::None, true)),
            ),
            // ssh: scp-like prefix, the key is chosen
            (
                "git@github.com:acme/repo.git",
                Some((
                    AuthKind::SshKey {
                        private_key: "KEY-ACME".into(),
                        known_hosts: None,
                    },
                    false,
                )),
            ),
            (
                "ssh://git@github.com/acme/repo",
                Some((
                    AuthKind::SshKey {
                        private_key: "KEY-ACME".into(),
                        known_hosts: None,
                    },
                    false,
                )),
            ),
            // project-less lookup sees only global repository Secrets
            (
                "https://scoped.example.com/r",
                Some((up("", "global-pw"), false)),
            ),
            ("https://only.example.com/r", None),
            // helm Secrets are not git credentials
            ("https://charts.example.com/stable", None),
            // no match
            ("https://github.com/public/repo", None),
            ("git@gitlab.com:acme/repo.git", None),
        ];
        for (url, want) in cases {
            let got = credentials_for(url, &secrets).map(|a| (a.kind, a.insecure));
            assert_eq!(got, want, "credentials_for({url:?})");
        }
    }

    #[test]
    fn project_scoped_repositories() {
        let secrets = secrets();
        let get = |url: &str, project: Option<&str>| {
            credentials_for_project(url, project, &secrets).map(|a| a.kind)
        };
        assert_eq!(
            get("https://scoped.example.com/r", Some("team-a")),
            Some(up("", "scoped-pw"))
        );
        assert_eq!(
            get("https://scoped.example.com/r", Some("team-b")),
            Some(up("", "global-pw"))
        );
        assert_eq!(
            get("https://only.example.com/r", Some("team-a")),
            Some(up("", "only-pw"))
        );
        assert_eq!(get("https://only.example.com/r", Some("team-b")), None);
    }

    #[test]
    fn credential_choice_follows_the_transport() {
        let both = [
            secret(
                "both",
                SecretType::RepoCreds,
                &[
                    ("url", "https://h"),
                    ("username", "u"),
                    ("password", "p"),
                    ("sshPrivateKey", "K"),
                ],
            ),
            secret(
                "both-ssh",
                SecretType::RepoCreds,
                &[
                    ("url", "ssh://git@h"),
                    ("username", "u"),
                    ("password", "p"),
                    ("sshPrivateKey", "K"),
                ],
            ),
            secret(
                "pw-only-ssh",
                SecretType::RepoCreds,
                &[
                    ("url", "ssh://git@pw"),
                    ("username", "u"),
                    ("password", "p"),
                ],
            ),
        ];
        assert_eq!(
            credentials_for("https://h/r", &both).unwrap().kind,
            up("u", "p")
        );
        assert!(matches!(
            credentials_for("ssh://git@h/r", &both).unwrap().kind,
            AuthKind::SshKey { .. }
        ));
        // deferred to fetch time: an ssh URL with only a password
        assert_eq!(
            credentials_for("ssh://git@pw/r", &both).unwrap().kind,
            up("u", "p")
        );
    }

    #[test]
    fn go_bool_parsing() {
        for t in ["1", "t", "T", "true", "TRUE", "True", " true "] {
            assert!(parse_bool(t), "{t}");
        }
        for f in ["", "0", "false", "yes", "on", "tRuE"] {
            assert!(!parse_bool(f), "{f}");
        }
    }

    #[test]
    fn debug_and_display_mask_secrets() {
        let auth = RepoAuth {
            kind: up("alice", "hunter2-password"),
            insecure: true,
        };
        let ssh = RepoAuth {
            kind: AuthKind::SshKey {
                private_key: "-----BEGIN OPENSSH PRIVATE KEY-----SECRETKEY".into(),
                known_hosts: Some("github.com ssh-ed25519 AAAA\n".into()),
            },
            insecure: false,
        };
        for text in [
            format!("{auth:?}"),
            format!("{auth:#?}"),
            format!("{auth}"),
            format!("{:?}", auth.kind),
            format!("{}", auth.kind),
        ] {
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("***"), "{text}");
        }
        assert!(format!("{auth:?}").contains("alice"));
        for text in [format!("{ssh:?}"), format!("{ssh}")] {
            assert!(!text.contains("SECRETKEY"), "{text}");
            assert!(text.contains("***"), "{text}");
        }
        let secret = secret(
            "s",
            SecretType::Repository,
            &[
                ("url", "https://bob:url-secret@h/r"),
                ("username", "bob"),
                ("password", "pw-secret"),
                ("sshPrivateKey", "key-secret"),
                ("githubAppPrivateKey", "app-secret"),
            ],
        );
        let text = format!("{secret:?}");
        for leaked in ["url-secret", "pw-secret", "key-secret", "app-secret"] {
            assert!(!text.contains(leaked), "{text}");
        }
        assert!(text.contains("bob") && text.contains("***"), "{text}");
    }

    #[test]
    fn known_hosts_attach_to_ssh_keys_only() {
        let ssh = RepoAuth {
            kind: AuthKind::SshKey {
                private_key: "k".into(),
                known_hosts: None,
            },
            insecure: false,
        };
        assert!(matches!(
            ssh.with_known_hosts("h ssh-ed25519 AAAA").kind,
            AuthKind::SshKey {
                known_hosts: Some(_),
                ..
            }
        ));
        assert_eq!(RepoAuth::none().with_known_hosts("x"), RepoAuth::none());
    }
}
