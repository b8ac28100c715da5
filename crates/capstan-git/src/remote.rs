//! The blocking network half: ls-remote and fetch with libgit2, credential and certificate
//! callbacks, and the mapping of libgit2's errors to [`GitError`]. Everything here runs on a
//! blocking thread (`tokio::task::spawn_blocking`).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::Instant;

use git2::{
    AutotagOption, CertificateCheckStatus, Cred, CredentialType, Direction, ErrorClass, ErrorCode,
    FetchOptions, FetchPrune, Oid, Remote, RemoteCallbacks, RemoteHead, Repository,
};

use crate::creds::{AuthKind, RepoAuth};
use crate::error::GitError;
use crate::known_hosts::{HostKeyStatus, KnownHosts, PresentedKey};
use crate::url::ssh_host_port;

/// The refspecs of a mirror: all branches and tags, force-updated.
pub(crate) const MIRROR_REFSPECS: [&str; 2] =
    ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

/// A remote's reference advertisement (what `git ls-remote` prints).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RemoteRefs {
    /// What `HEAD` points at (`refs/heads/main`), when the server says.
    pub head_target: Option<String>,
    /// The object `HEAD` resolves to.
    pub head: Option<Oid>,
    /// Full ref name -> the advertised object (for annotated tags: the tag object).
    pub refs: BTreeMap<String, Oid>,
    /// Full ref name -> the commit an annotated tag peels to (the `^{}` lines).
    pub peeled: BTreeMap<String, Oid>,
}

/// A revision found in the advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The full ref name, `HEAD` for HEAD.
    pub name: String,
    /// The commit if known (peeled), else the advertised object.
    pub oid: Oid,
}

impl RemoteRefs {
    pub(crate) fn from_heads(heads: &[RemoteHead<'_>]) -> Self {
        let mut refs = RemoteRefs::default();
        for head in heads {
            let name = head.name();
            if name == "HEAD" {
                refs.head = Some(head.oid()).filter(|o| !o.is_zero());
                refs.head_target = head.symref_target().map(str::to_string);
            } else if let Some(base) = name.strip_suffix("^{}") {
                refs.peeled.insert(base.to_string(), head.oid());
            } else {
                refs.refs.insert(name.to_string(), head.oid());
            }
        }
        refs
    }

    /// Argo CD's resolution of a symbolic revision against `ls-remote`: `HEAD` (or empty),
    /// a full ref name, then a branch, a tag, and any other ref by its name under `refs/`.
    /// Annotated tags resolve to the commit they peel to.
    pub(crate) fn resolve(&self, revision: &str) -> Option<Resolved> {
        let revision = revision.trim();
        if revision.is_empty() || revision == "HEAD" {
            let oid = self.head.or_else(|| {
                self.head_target
                    .as_ref()
                    .and_then(|t| self.refs.get(t).copied())
            })?;
            return Some(Resolved {
                name: "HEAD".to_string(),
                oid,
            });
        }
        let candidates = [
            revision.to_string(),
            format!("refs/heads/{revision}"),
            format!("refs/tags/{revision}"),
            format!("refs/{revision}"),
        ];
        candidates.into_iter().find_map(|name| {
            if !name.starts_with("refs/") {
                return None;
            }
            let oid = self.peeled.get(&name).or_else(|| self.refs.get(&name))?;
            Some(Resolved { oid: *oid, name })
        })
    }

    pub(crate) fn branches(&self) -> Vec<String> {
        self.short_names("refs/heads/")
    }

    pub(crate) fn tags(&self) -> Vec<String> {
        self.short_names("refs/tags/")
    }

    fn short_names(&self, prefix: &str) -> Vec<String> {
        // BTreeMap keys are sorted, and so are their suffixes after one common prefix.
        self.refs
            .keys()
            .filter_map(|k| k.strip_prefix(prefix))
            .map(str::to_string)
            .collect()
    }
}

/// What a network operation needs to know. `url` may carry credentials (it is only given to
/// libgit2); `display` never does.
pub(crate) struct NetCtx<'a> {
    pub url: &'a str,
    pub display: &'a str,
    pub auth: &'a RepoAuth,
    /// Known hosts for SSH when the credentials carry none.
    pub known_hosts: Option<&'a KnownHosts>,
    pub deadline: Instant,
    pub op_timeout: std::time::Duration,
}

/// What the callbacks observed, to explain libgit2's error afterwards.
#[derive(Default)]
struct Observed {
    credential_calls: Cell<u32>,
    rejected: Cell<bool>,
    missing: Cell<bool>,
    timed_out: Cell<bool>,
    mismatch: RefCell<Option<String>>,
    host_key: RefCell<Option<String>>,
}

impl NetCtx<'_> {
    /// `git ls-remote`: the advertisement, without fetching anything.
    pub(crate) fn ls_remote(&self) -> Result<RemoteRefs, GitError> {
        let observed = Observed::default();
        let mut remote = Remote::create_detached(self.url)
            .map_err(|e| self.map_err(e, &observed, "ls-remote"))?;
        let result = (|| {
            let connection =
                remote.connect_auth(Direction::Fetch, Some(self.callbacks(&observed)), None)?;
            let refs = RemoteRefs::from_heads(connection.list()?);
            Ok::<_, git2::Error>(refs)
        })();
        result.map_err(|e| self.map_err(e, &observed, "ls-remote"))
    }

    /// Fetches all heads and tags (pruning deleted ones) plus `extra` refspecs into the mirror
    /// `repo`, and returns the advertisement seen on the way.
    pub(crate) fn fetch(
        &self,
        repo: &Repository,
        extra: &[String],
    ) -> Result<RemoteRefs, GitError> {
        let observed = Observed::default();
        let result = (|| {
            let mut remote = repo.remote_anonymous(self.url)?;
            let mut options = FetchOptions::new();
            options
                .remote_callbacks(self.callbacks(&observed))
                .prune(FetchPrune::On)
                .download_tags(AutotagOption::None)
                .update_fetchhead(false);
            let refspecs: Vec<&str> = MIRROR_REFSPECS
                .iter()
                .copied()
                .chain(extra.iter().map(String::as_str))
                .collect();
            remote.fetch(&refspecs, Some(&mut options), None)?;
            // The advertisement stays available after the fetch disconnected.
            Ok::<_, git2::Error>(RemoteRefs::from_heads(remote.list()?))
        })();
        result.map_err(|e| self.map_err(e, &observed, "fetch"))
    }

    /// Fetches single objects by id (for commits no ref points at). Servers that do not allow
    /// it answer with an error, which the caller turns into "revision not found".
    pub(crate) fn fetch_objects(&self, repo: &Repository, oids: &[Oid]) -> Result<(), GitError> {
        let observed = Observed::default();
        let refspecs: Vec<String> = oids
            .iter()
            .map(|o| format!("+{o}:refs/capstan/commits/{o}"))
            .collect();
        let result = (|| {
            let mut remote = repo.remote_anonymous(self.url)?;
            let mut options = FetchOptions::new();
            options
                .remote_callbacks(self.callbacks(&observed))
                .download_tags(AutotagOption::None)
                .update_fetchhead(false);
            remote.fetch(&refspecs, Some(&mut options), None)
        })();
        result.map_err(|e| self.map_err(e, &observed, "fetch"))
    }

    fn callbacks<'o>(&'o self, observed: &'o Observed) -> RemoteCallbacks<'o> {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.credentials(move |_url, username_from_url, allowed| {
            self.credential(observed, username_from_url, allowed)
        });
        callbacks.certificate_check(move |cert, host| {
            if let Some(hostkey) = cert.as_hostkey() {
                let presented = match (hostkey.hostkey(), hostkey.hash_sha256()) {
                    (Some(raw), _) => PresentedKey::Raw(raw.to_vec()),
                    (None, Some(digest)) => PresentedKey::Sha256(*digest),
                    (None, None) => {
                        return self
                            .reject_host_key(observed, "the server sent no usable host key");
                    }
                };
                self.check_host_key(observed, host, &presented)
            } else if self.auth.insecure {
                Ok(CertificateCheckStatus::CertificateOk)
            } else {
                Ok(CertificateCheckStatus::CertificatePassthrough)
            }
        });
        let deadline = self.deadline;
        callbacks.transfer_progress(move |_| {
            let alive = Instant::now() < deadline;
            observed.timed_out.set(!alive);
            alive
        });
        callbacks.sideband_progress(move |_| {
            let alive = Instant::now() < deadline;
            observed.timed_out.set(!alive);
            alive
        });
        callbacks
    }

    fn credential(
        &self,
        observed: &Observed,
        username_from_url: Option<&str>,
        allowed: CredentialType,
    ) -> Result<Cred, git2::Error> {
        if Instant::now() >= self.deadline {
            observed.timed_out.set(true);
            return Err(git2::Error::from_str("timed out"));
        }
        // SSH first asks for the user name alone when the URL has none.
        if allowed == CredentialType::USERNAME {
            return Cred::username(username_from_url.unwrap_or("git"));
        }
        let calls = observed.credential_calls.get() + 1;
        observed.credential_calls.set(calls);
        if calls > 1 {
            // libgit2 asks again when the server rejected what we gave: stop here, or it
            // retries until "too many redirects or authentication replays".
            observed.rejected.set(true);
            return Err(git2::Error::from_str("the server rejected the credentials"));
        }
        match &self.auth.kind {
            AuthKind::None => {
                observed.missing.set(true);
                Err(git2::Error::from_str("credentials required"))
            }
            AuthKind::UserPass { username, password } => {
                if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                    Cred::userpass_plaintext(username, password)
                } else {
                    *observed.mismatch.borrow_mut() = Some(format!(
                        "the server asks for {} but the Secret holds a username and password",
                        describe(allowed)
                    ));
                    Err(git2::Error::from_str("credential type not accepted"))
                }
            }
            AuthKind::SshKey { private_key, .. } => {
                if allowed.contains(CredentialType::SSH_KEY) {
                    let user = username_from_url.unwrap_or("git");
                    Cred::ssh_key_from_memory(user, None, private_key, None)
                } else {
                    *observed.mismatch.borrow_mut() = Some(format!(
                        "the server asks for {} but the Secret holds an SSH private key",
                        describe(allowed)
                    ));
                    Err(git2::Error::from_str("credential type not accepted"))
                }
            }
        }
    }

    fn check_host_key(
        &self,
        observed: &Observed,
        callback_host: &str,
        presented: &PresentedKey,
    ) -> Result<CertificateCheckStatus, git2::Error> {
        if self.auth.insecure {
            return Ok(CertificateCheckStatus::CertificateOk);
        }
        let (host, port) =
            ssh_host_port(self.url).unwrap_or_else(|| (callback_host.to_ascii_lowercase(), 22));
        // Named as its known_hosts line must name it.
        let shown = if port == 22 {
            host.clone()
        } else {
            format!("[{host}]:{port}")
        };
        let own;
        let known = match &self.auth.kind {
            AuthKind::SshKey {
                known_hosts: Some(text),
                ..
            } => {
                own = KnownHosts::parse(text);
                Some(&own)
            }
            _ => self.known_hosts,
        };
        let Some(known) = known.filter(|k| !k.is_empty()) else {
            return self.reject_host_key(
                observed,
                &format!("no known_hosts entries are configured, so the key of {shown} cannot be verified (add it to argocd-ssh-known-hosts-cm, or mark the repository insecure)"),
            );
        };
        match known.check(&host, port, presented) {
            HostKeyStatus::Trusted => Ok(CertificateCheckStatus::CertificateOk),
            HostKeyStatus::Revoked => {
                self.reject_host_key(observed, &format!("the host key of {shown} is revoked"))
            }
            HostKeyStatus::Mismatch => self.reject_host_key(
                observed,
                &format!("the host key of {shown} does not match its known_hosts entries (possible man-in-the-middle)"),
            ),
            HostKeyStatus::Unknown => self.reject_host_key(
                observed,
                &format!("{shown} is not in known_hosts"),
            ),
        }
    }

    fn reject_host_key(
        &self,
        observed: &Observed,
        reason: &str,
    ) -> Result<CertificateCheckStatus, git2::Error> {
        *observed.host_key.borrow_mut() = Some(reason.to_string());
        Err(git2::Error::from_str("host key verification failed"))
    }

    fn map_err(&self, err: git2::Error, observed: &Observed, op: &'static str) -> GitError {
        let url = self.display.to_string();
        if observed.timed_out.get() || Instant::now() >= self.deadline {
            return GitError::Timeout {
                url,
                op,
                after: self.op_timeout,
            };
        }
        if let Some(reason) = observed.host_key.borrow_mut().take() {
            return GitError::HostKeyRejected { url, reason };
        }
        if let Some(reason) = observed.mismatch.borrow_mut().take() {
            return GitError::CredentialsMismatch { url, reason };
        }
        if observed.missing.get() {
            return GitError::AuthenticationRequired { url };
        }
        if observed.rejected.get() {
            return GitError::AuthenticationFailed { url };
        }
        let message = scrub(err.message(), self.url, self.display, self.auth);
        let http_denied =
            err.class() == ErrorClass::Http && (message.contains("401") || message.contains("403"));
        if err.code() == ErrorCode::Auth || http_denied {
            return match self.auth.kind {
                AuthKind::None => GitError::AuthenticationRequired { url },
                _ => GitError::AuthenticationFailed { url },
            };
        }
        GitError::Network { url, op, message }
    }
}

fn describe(allowed: CredentialType) -> String {
    let mut kinds = vec![];
    if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
        kinds.push("a username and password");
    }
    if allowed.contains(CredentialType::SSH_KEY) {
        kinds.push("an SSH key");
    }
    if kinds.is_empty() {
        kinds.push("another kind of credential");
    }
    kinds.join(" or ")
}

/// libgit2's message with the raw URL replaced by its display form and every secret of
/// `auth` masked.
pub(crate) fn scrub(message: &str, raw_url: &str, display: &str, auth: &RepoAuth) -> String {
    let mut out = message.to_string();
    if raw_url != display && !raw_url.is_empty() {
        out = out.replace(raw_url, display);
    }
    for secret in auth.secrets() {
        out = out.replace(secret, "***");
    }
    // Userinfo of a URL embedded in the message (user:password@).
    if let Some(info) = raw_url
        .split_once("://")
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|authority| authority.rsplit_once('@'))
        .map(|(info, _)| info)
        .filter(|info| !info.is_empty())
    {
        out = out.replace(&format!("{info}@"), "");
        if let Some((_, password)) = info.split_once(':').filter(|(_, p)| !p.is_empty()) {
            out = out.replace(password, "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(n: u8) -> Oid {
        Oid::from_bytes(&[n; 20]).unwrap()
    }

    fn sample() -> RemoteRefs {
        RemoteRefs {
            head_target: Some("refs/heads/main".into()),
            head: Some(oid(1)),
            refs: [
                ("refs/heads/main", 1),
                ("refs/heads/feature/x", 2),
                ("refs/heads/v1", 3),
                ("refs/tags/v1", 4),
                ("refs/tags/annotated", 5),
                ("refs/pull/7/head", 6),
            ]
            .into_iter()
            .map(|(n, o)| (n.to_string(), oid(o)))
            .collect(),
            peeled: [("refs/tags/annotated".to_string(), oid(9))].into(),
        }
    }

    #[test]
    fn resolution_table() {
        let refs = sample();
        let cases = [
            ("", Some(1)),
            ("HEAD", Some(1)),
            ("main", Some(1)),
            ("refs/heads/main", Some(1)),
            ("feature/x", Some(2)),
            // a branch wins over a tag of the same name, as in Argo CD (heads sort first)
            ("v1", Some(3)),
            ("refs/tags/v1", Some(4)),
            ("annotated", Some(9)),
            ("refs/tags/annotated", Some(9)),
            ("pull/7/head", Some(6)),
            ("refs/pull/7/head", Some(6)),
            ("nope", None),
            ("heads/main", Some(1)),
        ];
        for (rev, want) in cases {
            assert_eq!(refs.resolve(rev).map(|r| r.oid), want.map(oid), "{rev:?}");
        }
        let no_head = RemoteRefs {
            head: None,
            ..sample()
        };
        assert_eq!(no_head.resolve("HEAD").map(|r| r.oid), Some(oid(1)));
    }

    #[test]
    fn names_and_tags() {
        let refs = sample();
        assert_eq!(refs.branches(), ["feature/x", "main", "v1"]);
        assert_eq!(refs.tags(), ["annotated", "v1"]);
    }

    #[test]
    fn scrubbing() {
        let auth = RepoAuth::user_pass("alice", "s3cr3t");
        let msg = "failed to connect to https://alice:s3cr3t@host/r.git: s3cr3t rejected";
        let out = scrub(
            msg,
            "https://alice:s3cr3t@host/r.git",
            "https://host/r.git",
            &auth,
        );
        assert!(!out.contains("s3cr3t"), "{out}");
        assert!(out.contains("https://host/r.git"), "{out}");
    }
}
