//! Repository URL handling: normalisation (for credential matching and mirror identity) and
//! redaction (for everything that is printed).
//!
//! Three URL shapes are understood: `scheme://[user[:password]@]host[:port]/path` (http, https,
//! ssh, git, file), the scp-like `[user@]host:path` form of SSH (`git@github.com:org/repo.git`),
//! and plain local paths (used as they are).

use sha2::{Digest, Sha256};

/// Normalises a repository URL for comparison, the way Argo CD compares repository URLs
/// (`git.NormalizeGitURL`), except that only the scheme and host are case-insensitive:
///
/// - surrounding whitespace, trailing `/` and a trailing `.git` are ignored;
/// - scheme and host are lowercased, the path keeps its case;
/// - the scp-like SSH form `git@host:org/repo` becomes `ssh://git@host/org/repo`;
/// - user information is kept (`git@` is part of an SSH address); use [`strip_credentials`]
///   first when credentials must not take part.
///
/// ```
/// use capstan_git::normalize_url;
/// assert_eq!(normalize_url("git@GitHub.com:org/Repo.git"), "ssh://git@github.com/org/Repo");
/// assert_eq!(normalize_url("HTTPS://Example.com/a/b.git/"), "https://example.com/a/b");
/// ```
pub fn normalize_url(url: &str) -> String {
    let Some(parts) = UrlParts::parse(url) else {
        return trim_repo_suffix(url.trim()).to_string();
    };
    let mut out = format!("{}://", parts.scheme.to_ascii_lowercase());
    if let Some(user) = parts.user {
        out.push_str(user);
        if let Some(password) = parts.password {
            out.push(':');
            out.push_str(password);
        }
        out.push('@');
    }
    out.push_str(&parts.host.to_ascii_lowercase());
    if let Some(port) = parts.port {
        out.push(':');
        out.push_str(port);
    }
    let path = trim_repo_suffix(parts.path);
    if parts.scp_like && !path.is_empty() {
        out.push('/');
    }
    out.push_str(path);
    out
}

/// The URL without any password, and for http(s) without any user information at all: what
/// errors, logs and metric labels show. `https://user:token@host/repo` becomes
/// `https://host/repo`; `ssh://git:pw@host/repo` becomes `ssh://git@host/repo`. Other URLs are
/// returned trimmed and otherwise unchanged.
pub fn strip_credentials(url: &str) -> String {
    let url = url.trim();
    let Some(parts) = UrlParts::parse(url) else {
        return url.to_string();
    };
    let keep_user = parts.is_ssh();
    let mut out = String::with_capacity(url.len());
    if parts.scp_like {
        if let Some(user) = parts.user {
            out.push_str(user);
            out.push('@');
        }
        out.push_str(parts.host);
        out.push(':');
        out.push_str(parts.path.strip_prefix('/').unwrap_or(parts.path));
        return out;
    }
    out.push_str(parts.scheme);
    out.push_str("://");
    if keep_user && let Some(user) = parts.user {
        out.push_str(user);
        out.push('@');
    }
    out.push_str(parts.host);
    if let Some(port) = parts.port {
        out.push(':');
        out.push_str(port);
    }
    out.push_str(parts.path);
    out
}

/// The identity of a repository: the normalised URL without credentials. Two URLs with the
/// same identity share one mirror.
pub(crate) fn repo_identity(url: &str) -> String {
    normalize_url(&strip_credentials(url))
}

/// Hex SHA-256 of the repository identity: the mirror's directory name. The URL itself never
/// appears in a path.
pub(crate) fn mirror_key(url: &str) -> String {
    hex::encode(Sha256::digest(repo_identity(url).as_bytes()))
}

/// `true` for `ssh://...` and scp-like `user@host:path` URLs.
pub fn is_ssh_url(url: &str) -> bool {
    UrlParts::parse(url.trim()).is_some_and(|p| p.is_ssh())
}

/// Host and port of an SSH URL (port 22 unless given), for known_hosts lookups.
pub(crate) fn ssh_host_port(url: &str) -> Option<(String, u16)> {
    let parts = UrlParts::parse(url.trim()).filter(UrlParts::is_ssh)?;
    let port = match parts.port {
        Some(p) => p.parse().ok()?,
        None => 22,
    };
    let host = parts
        .host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    Some((host, port))
}

/// A trailing `/` (any number) and then one `.git` suffix removed, then trailing `/` again.
fn trim_repo_suffix(path: &str) -> &str {
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    path.trim_end_matches('/')
}

/// The pieces of a network URL, borrowed from the input.
#[derive(Debug, PartialEq, Eq)]
struct UrlParts<'a> {
    scheme: &'a str,
    user: Option<&'a str>,
    password: Option<&'a str>,
    host: &'a str,
    port: Option<&'a str>,
    /// Starts with `/` (or is empty); for scp-like URLs it is the part after `:` without a
    /// leading `/`.
    path: &'a str,
    scp_like: bool,
}

impl<'a> UrlParts<'a> {
    fn parse(url: &'a str) -> Option<Self> {
        let url = url.trim();
        if let Some((scheme, rest)) = url.split_once("://") {
            if scheme.is_empty()
                || !scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            {
                return None;
            }
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let (userinfo, hostport) = match authority.rfind('@') {
                Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
                None => (None, authority),
            };
            let (user, password) = match userinfo {
                Some(info) => match info.split_once(':') {
                    Some((u, p)) => (Some(u), Some(p)),
                    None => (Some(info), None),
                },
                None => (None, None),
            };
            let (host, port) = split_host_port(hostport);
            return Some(UrlParts {
                scheme,
                user,
                password,
                host,
                port,
                path,
                scp_like: false,
            });
        }
        // scp-like: [user@]host:path, where no '/' comes before the ':' (else it is a path).
        let colon = url.find(':')?;
        let (authority, path) = (&url[..colon], &url[colon + 1..]);
        if authority.is_empty() || authority.contains('/') || path.starts_with("//") {
            return None;
        }
        let (user, host) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        // A single letter before ':' is a Windows drive, not a host.
        if host.is_empty() || (user.is_none() && host.len() == 1) {
            return None;
        }
        let path = path.strip_prefix('/').unwrap_or(path);
        Some(UrlParts {
            scheme: "ssh",
            user,
            password: None,
            host,
            port: None,
            path,
            scp_like: true,
        })
    }

    fn is_ssh(&self) -> bool {
        self.scp_like || self.scheme.eq_ignore_ascii_case("ssh")
    }
}

fn split_host_port(hostport: &str) -> (&str, Option<&str>) {
    // IPv6 literal: [::1]:8080
    if hostport.starts_with('[') {
        if let Some(end) = hostport.find(']') {
            let host = &hostport[..=end];
            let port = hostport[end + 1..]
                .strip_prefix(':')
                .filter(|p| !p.is_empty());
            return (host, port);
        }
        return (hostport, None);
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => (h, Some(p)),
        Some((h, "")) => (h, None),
        _ => (hostport, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn normalisation_table() {
        let cases = [
            ("https://github.com/org/repo", "https://github.com/org/repo"),
            (
                "https://github.com/org/repo.git",
                "https://github.com/org/repo",
            ),
            (
                "https://github.com/org/repo/",
                "https://github.com/org/repo",
            ),
            (
                "https://github.com/org/repo.git/",
                "https://github.com/org/repo",
            ),
            (
                "  HTTPS://GitHub.COM/Org/Repo.git ",
                "https://github.com/Org/Repo",
            ),
            ("http://127.0.0.1:8080/x.git", "http://127.0.0.1:8080/x"),
            (
                "git@github.com:org/repo.git",
                "ssh://git@github.com/org/repo",
            ),
            ("git@GITHUB.com:/org/repo", "ssh://git@github.com/org/repo"),
            (
                "ssh://git@github.com/org/repo.git",
                "ssh://git@github.com/org/repo",
            ),
            (
                "ssh://git@github.com:2222/org/repo",
                "ssh://git@github.com:2222/org/repo",
            ),
            ("https://u:p@h.example/r.git", "https://u:p@h.example/r"),
            ("https://[::1]:8443/r.git", "https://[::1]:8443/r"),
            ("https://host", "https://host"),
            ("/srv/git/repo.git", "/srv/git/repo"),
            ("file:///srv/git/repo.git", "file:///srv/git/repo"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_url(input), want, "normalize_url({input:?})");
        }
    }

    #[test]
    fn equivalent_urls_share_an_identity() {
        let same = [
            "https://github.com/org/repo",
            "https://GITHUB.com/org/repo.git",
            "https://user:secret@github.com/org/repo/",
            "https://token@github.com/org/repo.git",
        ];
        for url in same {
            assert_eq!(mirror_key(url), mirror_key(same[0]), "{url}");
        }
        assert_ne!(
            mirror_key("https://github.com/org/repo"),
            mirror_key("https://github.com/org/Repo")
        );
        assert_eq!(mirror_key("x").len(), 64);
    }

    #[test]
    fn credentials_are_stripped() {
        let cases = [
            ("https://user:pw@host/r.git", "https://host/r.git"),
            ("https://token@host:8443/r", "https://host:8443/r"),
            ("http://host/r", "http://host/r"),
            ("ssh://git:pw@host/r", "ssh://git@host/r"),
            ("ssh://git@host:22/r", "ssh://git@host:22/r"),
            ("git@host:org/r.git", "git@host:org/r.git"),
            ("/local/path", "/local/path"),
        ];
        for (input, want) in cases {
            assert_eq!(
                strip_credentials(input),
                want,
                "strip_credentials({input:?})"
            );
        }
    }

    #[test]
    fn ssh_detection_and_host_port() {
        assert!(is_ssh_url("git@github.com:org/repo"));
        assert!(is_ssh_url("ssh://git@github.com/org/repo"));
        assert!(!is_ssh_url("https://github.com/org/repo"));
        assert!(!is_ssh_url("/srv/repo"));
        assert!(!is_ssh_url("C:/repo"));
        assert_eq!(
            ssh_host_port("git@GitHub.com:org/repo"),
            Some(("github.com".to_string(), 22))
        );
        assert_eq!(
            ssh_host_port("ssh://git@[::1]:2222/r"),
            Some(("::1".to_string(), 2222))
        );
        assert_eq!(ssh_host_port("https://github.com/r"), None);
    }
}
