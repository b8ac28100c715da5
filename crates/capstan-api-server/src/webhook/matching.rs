//! Which application sources a push event concerns: Argo CD's `sourceRevisionHasChanged`,
//! `GetWebURLRegex` and `sourceUsesURL`.

use capstan_types::app_project::normalize_git_url;

use super::PushEvent;

/// One source of an Application (or the dry source of a source hydrator).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppSourceRef<'a> {
    /// `spec.source(s)[].repoURL`.
    pub repo_url: &'a str,
    /// `spec.source(s)[].targetRevision`.
    pub target_revision: &'a str,
    /// `spec.source(s)[].path`.
    pub path: &'a str,
}

/// Argo CD's `ParseRevision`: the part after the second `/`, if any (`refs/heads/main` →
/// `main`, `refs/heads/feature/x` → `feature/x`, `main` → `main`). Note that a name with one
/// slash keeps only its last part (`env/test` → `test`), which is why Argo CD applies it to a
/// `targetRevision` only when that starts with `refs/heads/` or `refs/tags/`.
pub fn parse_revision(reference: &str) -> &str {
    reference.splitn(3, '/').last().unwrap_or_default()
}

/// Whether the push event concerns `source`: the revision matches (see
/// [`revision_matches`]) and one of the event's repository URLs designates the source's
/// `repoURL` (see [`repo_url_matches`]).
pub fn source_matches(event: &PushEvent, source: &AppSourceRef<'_>) -> bool {
    revision_matches(source.target_revision, &event.revision, event.touched_head)
        && event
            .repo_urls
            .iter()
            .any(|url| repo_url_matches(url, source.repo_url))
}

/// Argo CD's `sourceRevisionHasChanged`:
///
/// * a `targetRevision` of `""` or `HEAD` (after [`parse_revision`], so also `x/y/HEAD`)
///   follows the default branch: it matches when the push touched it;
/// * a `targetRevision` starting with `refs/heads/` or `refs/tags/` matches when the rest
///   equals the pushed name; branches and tags are not told apart (a push to branch `x` matches
///   `refs/tags/x`), as the Argo CD documentation warns;
/// * anything else must equal the pushed branch or tag name exactly, so a commit SHA never
///   matches a push (unless a branch has that name).
pub fn revision_matches(target_revision: &str, pushed_revision: &str, touched_head: bool) -> bool {
    let target = parse_revision(target_revision);
    if target.is_empty() || target == "HEAD" {
        return touched_head;
    }
    if target_revision.starts_with("refs/heads/") || target_revision.starts_with("refs/tags/") {
        return pushed_revision == target;
    }
    target_revision == pushed_revision
}

/// Whether the application's `repo_url` designates the repository that `web_url` (a URL
/// from a webhook payload) points at.
///
/// This is Argo CD's `GetWebURLRegex(webURL).MatchString(repoURL)`: the host and path of
/// `web_url` become the case-insensitive pattern
/// `^((https?|ssh)://)?(<user>@)?((alt)?ssh\.)?<host>(:\d+)?[:/]<path>(\.git)?$`, so
/// `https://github.com/org/repo` matches `https://github.com/org/repo.git`,
/// `git@github.com:org/repo.git`, `ssh://git@ssh.github.com:443/org/repo` and
/// `HTTPS://GitHub.com/Org/Repo`, but not `https://github.com/org/repo-2` nor a trailing
/// slash. A `web_url` Go's `url.Parse` rejects (such as the SCP form `git@host:org/repo`)
/// yields no pattern.
///
/// For such a `web_url` (some payloads list an SCP-form SSH URL besides the web URL), the
/// two URLs match when they are equal after [`normalize_git_url`].
pub fn repo_url_matches(web_url: &str, repo_url: &str) -> bool {
    match WebUrlPattern::new(web_url) {
        Some(pattern) => pattern.matches(repo_url),
        None => {
            let normalized = normalize_git_url(web_url);
            !normalized.is_empty() && normalized == normalize_git_url(repo_url)
        }
    }
}

/// The pattern of Argo CD's `GetWebURLRegex`, matched without a regex engine.
struct WebUrlPattern {
    /// `url.Hostname()`, case-folded.
    host: Vec<char>,
    /// `url.EscapedPath()[1:]`, case-folded.
    path: Vec<char>,
}

/// Case folding for `(?i)`.
fn fold(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

fn folded(s: &str) -> Vec<char> {
    s.chars().map(fold).collect()
}

/// `text` starts with `literal` (both folded).
fn strip<'t>(text: &'t [char], literal: &[char]) -> Option<&'t [char]> {
    text.strip_prefix(literal)
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Argo CD's `usernameRegex`: `[\w\.][\w\.-]{0,30}[\w\.\$-]?`.
fn is_username(user: &[char]) -> bool {
    let Some((&first, rest)) = user.split_first() else {
        return false;
    };
    if user.len() > 32 || !(is_word(first) || first == '.') {
        return false;
    }
    let Some((&last, middle)) = rest.split_last() else {
        return true;
    };
    middle.iter().all(|&c| is_word(c) || c == '.' || c == '-')
        && (is_word(last) || matches!(last, '.' | '$' | '-'))
}

impl WebUrlPattern {
    /// Go's `url.Parse(webURL)`, then `Hostname()` and `EscapedPath()[1:]`; `None` where Go
    /// fails (or where Argo CD's `[1:]` would panic on an empty path).
    fn new(web_url: &str) -> Option<WebUrlPattern> {
        let (host, path) = go_host_and_escaped_path(web_url)?;
        let path = path.strip_prefix('/').or_else(|| {
            // `EscapedPath()[1:]` drops the first byte whatever it is.
            let mut chars = path.chars();
            chars.next().map(|_| chars.as_str())
        })?;
        Some(WebUrlPattern {
            host: folded(&host),
            path: folded(path),
        })
    }

    fn matches(&self, repo_url: &str) -> bool {
        let text = folded(repo_url);
        // ((https?|ssh)://)?
        let schemes: [&str; 3] = ["http://", "https://", "ssh://"];
        let mut starts: Vec<&[char]> = vec![&text];
        for scheme in schemes {
            if let Some(rest) = strip(&text, &folded(scheme)) {
                starts.push(rest);
            }
        }
        starts
            .into_iter()
            .any(|rest| self.matches_after_scheme(rest))
    }

    /// `(<user>@)?` and the rest.
    fn matches_after_scheme(&self, text: &[char]) -> bool {
        if self.matches_host(text) {
            return true;
        }
        match text.iter().position(|&c| c == '@') {
            Some(at) => is_username(&text[..at]) && self.matches_host(&text[at + 1..]),
            None => false,
        }
    }

    /// `((alt)?ssh\.)?<host>(:\d+)?[:/]<path>(\.git)?$`.
    fn matches_host(&self, text: &[char]) -> bool {
        let mut candidates: Vec<&[char]> = vec![text];
        for prefix in ["ssh.", "altssh."] {
            if let Some(rest) = strip(text, &folded(prefix)) {
                candidates.push(rest);
            }
        }
        candidates.into_iter().any(|candidate| {
            let Some(rest) = strip(candidate, &self.host) else {
                return false;
            };
            // Without a port, or with all the digits that follow a `:`.
            let mut after_port: Vec<&[char]> = vec![rest];
            if let Some(digits) = rest.strip_prefix(&[':']) {
                let n = digits.iter().take_while(|c| c.is_ascii_digit()).count();
                if n > 0 {
                    after_port.push(&digits[n..]);
                }
            }
            after_port.into_iter().any(|rest| self.matches_path(rest))
        })
    }

    /// `[:/]<path>(\.git)?$`.
    fn matches_path(&self, text: &[char]) -> bool {
        let Some((&separator, rest)) = text.split_first() else {
            return false;
        };
        if separator != ':' && separator != '/' {
            return false;
        }
        let Some(rest) = strip(rest, &self.path) else {
            return false;
        };
        rest.is_empty() || rest == ['.', 'g', 'i', 't']
    }
}

/// The host (without port or brackets) and the escaped path of `raw`, as Go's `url.Parse`,
/// `URL.Hostname` and `URL.EscapedPath` give them; `None` where `url.Parse` fails.
fn go_host_and_escaped_path(raw: &str) -> Option<(String, String)> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return None;
    }
    let raw = raw.split_once('#').map_or(raw, |(before, _)| before);
    let (scheme, rest) = go_scheme(raw)?;
    let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
    if !rest.starts_with('/') {
        if !scheme.is_empty() {
            // Opaque URL: no host, empty path.
            return Some((String::new(), String::new()));
        }
        if rest.split('/').next().unwrap_or_default().contains(':') {
            // "first path segment in URL cannot contain colon"
            return None;
        }
    }
    let (host, path) = match rest.strip_prefix("//") {
        Some(authority_and_path) if !scheme.is_empty() || !rest.starts_with("///") => {
            let (authority, path) = authority_and_path
                .find('/')
                .map_or((authority_and_path, ""), |i| authority_and_path.split_at(i));
            let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            (go_hostname(host_port)?, path)
        }
        _ => (String::new(), rest),
    };
    Some((host, go_escaped_path(path)?))
}

/// Go's `getScheme`.
fn go_scheme(raw: &str) -> Option<(&str, &str)> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return None,
            b':' => return Some((&raw[..i], &raw[i + 1..])),
            _ => return Some(("", raw)),
        }
    }
    Some(("", raw))
}

/// Go's host validation and `URL.Hostname`: brackets and a (numeric) port removed.
fn go_hostname(host_port: &str) -> Option<String> {
    let valid_port = |port: &str| port.bytes().all(|b| b.is_ascii_digit());
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        let (inside, after) = bracketed.split_once(']')?;
        if !after.is_empty() && !after.strip_prefix(':').is_some_and(valid_port) {
            return None;
        }
        inside
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) if valid_port(port) => host,
            Some(_) => return None,
            None => host_port,
        }
    };
    let decoded = percent_decode(host)?;
    String::from_utf8(decoded).ok()
}

/// Go's `URL.EscapedPath` for a path parsed from `raw`: `raw` itself when it is validly
/// encoded, otherwise the decoded path re-escaped.
fn go_escaped_path(raw: &str) -> Option<String> {
    let decoded = percent_decode(raw)?;
    let valid = raw.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_'
                    | b'.'
                    | b'~'
                    | b'$'
                    | b'&'
                    | b'+'
                    | b','
                    | b'/'
                    | b':'
                    | b';'
                    | b'='
                    | b'@'
                    | b'!'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'['
                    | b']'
                    | b'%'
            )
    });
    if valid {
        return Some(raw.to_owned());
    }
    let mut out = String::with_capacity(decoded.len());
    for b in decoded {
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_'
                    | b'.'
                    | b'~'
                    | b'$'
                    | b'&'
                    | b'+'
                    | b','
                    | b'/'
                    | b':'
                    | b';'
                    | b'='
                    | b'@'
            )
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Some(out)
}

/// Percent-decoding; `None` for a malformed escape, as Go's `unescape`.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::Provider;
    use super::*;

    #[test]
    fn parse_revision_like_argo_cd() {
        let cases = [
            ("refs/heads/main", "main"),
            ("refs/heads/feature/x", "feature/x"),
            ("refs/tags/v1.0", "v1.0"),
            ("main", "main"),
            ("env/test", "test"),
            ("", ""),
            ("HEAD", "HEAD"),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_revision(input), expected, "{input}");
        }
    }

    #[test]
    fn revision_matching_table() {
        // (targetRevision, pushed revision, touched head, expected)
        let cases = [
            // HEAD and "" follow the default branch.
            ("", "master", true, true),
            ("", "master", false, false),
            ("HEAD", "main", true, true),
            ("HEAD", "feature", false, false),
            // Branch names.
            ("dev", "master", true, false),
            ("dev", "dev", false, true),
            ("env/test", "env/test", false, true),
            ("has/slashes", "has/slashes", false, true),
            // refs/heads/ and refs/tags/ prefixes are stripped from the target.
            ("refs/heads/dev", "master", true, false),
            ("refs/heads/dev", "dev", false, true),
            ("refs/heads/env/test", "env/test", false, true),
            ("refs/heads/has/slashes", "has/slashes", false, true),
            // Branches and tags are not told apart.
            ("refs/tags/no-slashes", "no-slashes", false, true),
            ("refs/heads/v1.0", "v1.0", false, true),
            ("v1.0", "v1.0", false, true),
            ("v1.0", "v1.1", false, false),
            // Bitbucket Cloud names are not stripped: a branch literally named refs/heads/x.
            ("refs/heads/x", "refs/heads/x", false, false),
            ("x", "refs/heads/x", false, false),
            ("refs/heads/refs/heads/x", "refs/heads/x", false, true),
            // A commit SHA never matches a push, even one that touched HEAD.
            (
                "63738bb582c8b540af7bcfc18f87c575c3ed66e0",
                "master",
                true,
                false,
            ),
            // Semver ranges and other non-names do not match either.
            ("1.2.*", "1.2.3", false, false),
        ];
        for (target, pushed, touched_head, expected) in cases {
            assert_eq!(
                revision_matches(target, pushed, touched_head),
                expected,
                "target {target:?}, pushed {pushed:?}, touched head {touched_head}"
            );
        }
    }

    #[test]
    fn web_url_regex_table_from_argo_cd() {
        // Argo CD's Test_GetWebURLRegex, plus normalisation cases.
        let cases = [
            // Input is escaped: dots are literal.
            (
                false,
                "https://example.com/org/a..d",
                "https://example.com/org/abcd",
            ),
            (
                false,
                "https://an.example.com/org/repo",
                "https://an-example.com/org/repo",
            ),
            // Standard cases.
            (
                true,
                "https://example.com/org/repo",
                "https://example.com/org/repo",
            ),
            (
                false,
                "https://example.com/org/repo",
                "https://example.com/org/repo-2",
            ),
            (
                true,
                "https://example.com/org/repo",
                "https://example.com/org/repo.git",
            ),
            (
                true,
                "https://example.com/org/repo",
                "git@example.com:org/repo",
            ),
            (
                true,
                "https://example.com/org/repo",
                "user@example.com:org/repo",
            ),
            (
                true,
                "https://example.com/org/repo",
                "ssh://git@example.com/org/repo",
            ),
            (
                true,
                "https://example.com/org/repo",
                "ssh://git@example.com:22/org/repo",
            ),
            (
                true,
                "https://example.com:443/org/repo",
                "ssh://git@example.com:22/org/repo",
            ),
            (
                true,
                "https://example.com:443/org/repo",
                "ssh://git@ssh.example.com:443/org/repo",
            ),
            (
                true,
                "https://example.com:443/org/repo",
                "ssh://git@altssh.example.com:443/org/repo",
            ),
            (
                false,
                "https://example.com:443/org/repo",
                "ssh://git@unknown.example.com:443/org/repo",
            ),
            (
                true,
                "https://example.com/org/repo",
                "ssh://user-name@example.com/org/repo",
            ),
            (
                false,
                "https://example.com/org/repo",
                "ssh://-user-name@example.com/org/repo",
            ),
            (
                true,
                "https://example.com:443/org/repo",
                "GIT@EXAMPLE.COM:22:ORG/REPO",
            ),
            (
                true,
                "https://example.com/org/repo%20",
                "https://example.com/org/repo%20",
            ),
            (
                true,
                "https://user@example.com/org/repo",
                "http://example.com/org/repo",
            ),
            (
                true,
                "https://user@example.com/org/repo",
                "https://example.com/org/repo",
            ),
            (
                true,
                "http://example.com/org/repo",
                "https://user@example.com/org/repo",
            ),
            (
                true,
                "https://example.com/org/repo",
                "https://user@example.com/org/repo",
            ),
            (
                true,
                "https://user@example.com/org/repo",
                "ssh://example.com/org/repo",
            ),
            // URL normalisation: case, .git suffix, SSH forms.
            (
                true,
                "https://github.com/argoproj/argo-cd",
                "https://GitHub.com/ArgoProj/Argo-CD.git",
            ),
            (
                true,
                "https://github.com/argoproj/argo-cd",
                "git@github.com:argoproj/argo-cd.git",
            ),
            (
                true,
                "https://github.com/argoproj/argo-cd",
                "ssh://git@github.com/argoproj/argo-cd.git",
            ),
            (
                true,
                "https://github.com/argoproj/argo-cd",
                "github.com/argoproj/argo-cd",
            ),
            // A trailing slash, a different path or host, or a password do not match.
            (
                false,
                "https://github.com/argoproj/argo-cd",
                "https://github.com/argoproj/argo-cd/",
            ),
            (
                false,
                "https://github.com/argoproj/argo-cd",
                "https://github.com/argoproj/argo-cd.git.git",
            ),
            (
                false,
                "https://github.com/argoproj/argo-cd",
                "https://gitlab.com/argoproj/argo-cd",
            ),
            (
                false,
                "https://github.com/argoproj/argo-cd",
                "https://user:pass@github.com/argoproj/argo-cd",
            ),
            (
                false,
                "https://github.com/argoproj/argo-cd",
                "https://github.com/argoproj/argo",
            ),
            (
                false,
                "https://github.com/argoproj/argo",
                "https://github.com/argoproj/argo-cd",
            ),
            // Bitbucket Server clone URLs keep their `.git` in the pattern.
            (
                true,
                "https://bitbucketserver/scm/myproject/test-repo.git",
                "https://bitbucketserver/scm/myproject/test-repo.git",
            ),
            (
                false,
                "https://bitbucketserver/scm/myproject/test-repo.git",
                "https://bitbucketserver/scm/myproject/test-repo",
            ),
            (
                true,
                "ssh://git@bitbucketserver:7999/myproject/test-repo.git",
                "git@bitbucketserver:myproject/test-repo.git",
            ),
            // SCP-form payload URLs give no pattern but still match themselves.
            (
                true,
                "git@github.com:argoproj/argo-cd.git",
                "git@github.com:ArgoProj/argo-cd",
            ),
            (
                false,
                "git@github.com:argoproj/argo-cd.git",
                "https://github.com/argoproj/argo-cd",
            ),
            // Unparseable web URLs match nothing but themselves (after normalisation).
            (false, "%%", "%%"),
            (false, "https://example.com", "https://example.com/"),
        ];
        for (expected, web_url, repo_url) in cases {
            assert_eq!(
                repo_url_matches(web_url, repo_url),
                expected,
                "web URL {web_url:?}, repo URL {repo_url:?}"
            );
        }
    }

    #[test]
    fn go_url_parts() {
        let cases = [
            (
                "https://github.com/org/repo",
                Some(("github.com", "/org/repo")),
            ),
            (
                "https://user@example.com:443/org/repo?x=1#y",
                Some(("example.com", "/org/repo")),
            ),
            (
                "ssh://git@bitbucketserver:7999/p/r.git",
                Some(("bitbucketserver", "/p/r.git")),
            ),
            ("https://[::1]:8080/x", Some(("::1", "/x"))),
            ("https://host/a b", Some(("host", "/a%20b"))),
            ("https://host:abc/x", None),
            ("git@github.com:org/repo.git", None),
            ("%%", None),
            (":foo", None),
        ];
        for (input, expected) in cases {
            let got = go_host_and_escaped_path(input);
            let expected = expected.map(|(h, p)| (h.to_owned(), p.to_owned()));
            assert_eq!(got, expected, "{input}");
        }
    }

    #[test]
    fn usernames() {
        let cases = [
            ("git", true),
            ("user-name", true),
            ("user.name", true),
            ("machine$", true),
            ("-user", false),
            ("$user", false),
            ("us$er", false),
            ("", false),
            (&"a".repeat(32), true),
            (&"a".repeat(33), false),
        ];
        for (input, expected) in cases {
            let chars: Vec<char> = input.chars().collect();
            assert_eq!(is_username(&chars), expected, "{input}");
        }
    }

    fn event(urls: &[&str], revision: &str, touched_head: bool) -> PushEvent {
        PushEvent {
            provider: Provider::GitHub,
            repo_urls: urls.iter().map(|u| (*u).to_owned()).collect(),
            revision: revision.to_owned(),
            change_sha: None,
            before_sha: None,
            default_branch: Some("main".to_owned()),
            touched_head,
            changed_files: None,
        }
    }

    #[test]
    fn source_matching() {
        let push_main = event(&["https://github.com/org/repo"], "main", true);
        let push_feature = event(&["https://github.com/org/repo"], "feature", false);
        let cases = [
            (&push_main, "https://github.com/org/repo.git", "HEAD", true),
            (&push_main, "git@github.com:org/repo.git", "", true),
            (&push_main, "https://github.com/org/repo", "main", true),
            (
                &push_main,
                "https://github.com/org/repo",
                "refs/heads/main",
                true,
            ),
            (&push_main, "https://github.com/org/other", "HEAD", false),
            (&push_feature, "https://github.com/org/repo", "HEAD", false),
            (
                &push_feature,
                "https://github.com/org/repo",
                "feature",
                true,
            ),
            (&push_feature, "https://github.com/org/repo", "main", false),
        ];
        for (event, repo_url, target_revision, expected) in cases {
            let source = AppSourceRef {
                repo_url,
                target_revision,
                path: ".",
            };
            assert_eq!(
                source_matches(event, &source),
                expected,
                "{repo_url} @ {target_revision} for push to {}",
                event.revision
            );
        }
    }
}
