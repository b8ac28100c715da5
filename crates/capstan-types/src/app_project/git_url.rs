//! Argo CD's `util/git.NormalizeGitURL`, with the parts of Go's `net/url` it depends on
//! (`url.Parse` followed by `URL.String`), so that project source repositories compare exactly
//! as they do in Argo CD.

/// Normalises a repository URL for comparison exactly as Argo CD's `git.NormalizeGitURL` does:
///
/// 1. trim surrounding whitespace and lowercase the whole URL;
/// 2. an SCP-style SSH URL (`git@host:org/repo`) becomes `ssh://git@host/org/repo` (the first
///    `:` turns into `/`);
/// 3. one trailing `.git` is removed (a trailing `/` is kept);
/// 4. the URL goes through Go's `url.Parse` and `URL.String`, which re-escapes it; a URL Go
///    cannot parse (for example `ssh://git@host:org/repo`, whose "port" is not a number)
///    normalises to the empty string;
/// 5. a leading `ssh://` is removed.
///
/// ```
/// use capstan_types::app_project::normalize_git_url;
///
/// assert_eq!(normalize_git_url("https://GitHub.com/ArgoProj/Test.git"), "https://github.com/argoproj/test");
/// assert_eq!(normalize_git_url("git@github.com:argoproj/test.git"), "git@github.com/argoproj/test");
/// assert_eq!(normalize_git_url("ssh://git@github.com:argoproj/test"), "");
/// ```
pub fn normalize_git_url(repo: &str) -> String {
    let mut repo = repo.trim().to_lowercase();
    if is_ssh_url(&repo) && !repo.starts_with("ssh://") {
        repo = format!("ssh://{}", repo.replacen(':', "/", 1));
    }
    if let Some(stripped) = repo.strip_suffix(".git") {
        repo.truncate(stripped.len());
    }
    match GoUrl::parse(&repo) {
        Some(url) => {
            let normalized = url.to_go_string();
            match normalized.strip_prefix("ssh://") {
                Some(stripped) => stripped.to_owned(),
                None => normalized,
            }
        }
        None => String::new(),
    }
}

/// Argo CD's `git.IsSSHURL`: the regular expression `^(ssh://)?([^/:]*?)@[^@]+$`.
fn is_ssh_url(url: &str) -> bool {
    let rest = url.strip_prefix("ssh://").unwrap_or(url);
    match rest.rfind('@') {
        Some(at) => at + 1 < rest.len() && !rest[..at].contains(['/', ':']),
        None => false,
    }
}

/// Escaping contexts of Go's `net/url`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Path,
    Host,
    Zone,
    UserPassword,
    Fragment,
}

/// Go's `shouldEscape`.
fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if matches!(mode, Mode::Host | Mode::Zone)
        && matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
        )
    {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => return false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
            Mode::Path => return c == b'?',
            Mode::UserPassword => return matches!(c, b'@' | b'/' | b'?' | b':'),
            Mode::Fragment => return false,
            Mode::Host | Mode::Zone => {}
        },
        _ => {}
    }
    if mode == Mode::Fragment && matches!(c, b'!' | b'(' | b')' | b'*') {
        return false;
    }
    true
}

fn unhex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// Go's `unescape`; `None` where Go returns an error.
fn unescape(s: &[u8], mode: Mode) -> Option<Vec<u8>> {
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                if i + 2 >= s.len()
                    || !s[i + 1].is_ascii_hexdigit()
                    || !s[i + 2].is_ascii_hexdigit()
                {
                    return None;
                }
                // In a host, %-encoding may only stand for non-ASCII bytes (and %25 for '%').
                if mode == Mode::Host && unhex(s[i + 1]) < 8 && &s[i..i + 3] != b"%25" {
                    return None;
                }
                if mode == Mode::Zone {
                    let v = (unhex(s[i + 1]) << 4) | unhex(s[i + 2]);
                    if &s[i..i + 3] != b"%25" && v != b' ' && should_escape(v, Mode::Host) {
                        return None;
                    }
                }
                i += 3;
            }
            c => {
                if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape(c, mode) {
                    return None;
                }
                i += 1;
            }
        }
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            out.push((unhex(s[i + 1]) << 4) | unhex(s[i + 2]));
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Go's `escape`.
fn escape(s: &[u8], mode: Mode) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        if should_escape(c, mode) {
            out.extend_from_slice(&[b'%', HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]]);
        } else {
            out.push(c);
        }
    }
    out
}

/// Go's `validEncoded`.
fn valid_encoded(s: &[u8], mode: Mode) -> bool {
    s.iter().all(|&c| {
        matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'['
                | b']'
                | b'%'
        ) || !should_escape(c, mode)
    })
}

/// How Go's `URL.EscapedPath` / `EscapedFragment` render a component parsed from `raw`: the raw
/// text when it is validly encoded, otherwise the decoded value re-escaped.
fn escaped_component(raw: &[u8], decoded: &[u8], mode: Mode) -> Vec<u8> {
    if valid_encoded(raw, mode) {
        raw.to_vec()
    } else if mode == Mode::Path && decoded == b"*" {
        b"*".to_vec()
    } else {
        escape(decoded, mode)
    }
}

/// Go's `validUserinfo`.
fn valid_userinfo(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '-' | '.'
                    | '_'
                    | ':'
                    | '~'
                    | '!'
                    | '$'
                    | '&'
                    | '\''
                    | '('
                    | ')'
                    | '*'
                    | '+'
                    | ','
                    | ';'
                    | '='
                    | '%'
                    | '@'
            )
    })
}

/// Go's `validOptionalPort`.
fn valid_optional_port(port: &str) -> bool {
    match port.strip_prefix(':') {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
        None => port.is_empty(),
    }
}

/// Go's `parseHost`.
fn parse_host(host: &str) -> Option<Vec<u8>> {
    if host.starts_with('[') {
        let close = host.rfind(']')?;
        if !valid_optional_port(&host[close + 1..]) {
            return None;
        }
        if let Some(zone) = host[..close].find("%25") {
            let mut out = unescape(&host.as_bytes()[..zone], Mode::Host)?;
            out.extend(unescape(&host.as_bytes()[zone..close], Mode::Zone)?);
            out.extend(unescape(&host.as_bytes()[close..], Mode::Host)?);
            return Some(out);
        }
    } else if let Some(colon) = host.rfind(':')
        && !valid_optional_port(&host[colon..])
    {
        return None;
    }
    unescape(host.as_bytes(), Mode::Host)
}

/// The fields of Go's `url.URL` that `String` uses; components are kept as Go keeps them (decoded
/// bytes plus the raw text for path and fragment).
#[derive(Default)]
struct GoUrl {
    scheme: String,
    opaque: String,
    /// Username and optional password, decoded.
    user: Option<(Vec<u8>, Option<Vec<u8>>)>,
    host: Vec<u8>,
    path: Vec<u8>,
    raw_path: Vec<u8>,
    omit_host: bool,
    force_query: bool,
    raw_query: String,
    fragment: Option<(Vec<u8>, Vec<u8>)>,
}

impl GoUrl {
    /// Go's `url.Parse`; `None` where Go returns an error.
    fn parse(raw: &str) -> Option<GoUrl> {
        let (before, fragment) = raw.split_once('#').unwrap_or((raw, ""));
        let mut url = GoUrl::parse_without_fragment(before)?;
        if !fragment.is_empty() {
            let decoded = unescape(fragment.as_bytes(), Mode::Fragment)?;
            url.fragment = Some((decoded, fragment.as_bytes().to_vec()));
        }
        Some(url)
    }

    /// Go's unexported `parse(rawURL, viaRequest = false)`.
    fn parse_without_fragment(raw: &str) -> Option<GoUrl> {
        if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return None;
        }
        let mut url = GoUrl::default();
        if raw == "*" {
            url.path = b"*".to_vec();
            url.raw_path = b"*".to_vec();
            return Some(url);
        }
        let (scheme, mut rest) = get_scheme(raw)?;
        url.scheme = scheme.to_ascii_lowercase();
        if rest.ends_with('?') && rest.matches('?').count() == 1 {
            url.force_query = true;
            rest = &rest[..rest.len() - 1];
        } else if let Some((before, query)) = rest.split_once('?') {
            url.raw_query = query.to_owned();
            rest = before;
        }
        if !rest.starts_with('/') {
            if !url.scheme.is_empty() {
                // Rootless paths are opaque.
                url.opaque = rest.to_owned();
                return Some(url);
            }
            let first_segment = rest.split('/').next().unwrap_or_default();
            if first_segment.contains(':') {
                return None;
            }
        }
        if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
            let authority_and_path = &rest[2..];
            let (authority, path) = match authority_and_path.find('/') {
                Some(slash) => authority_and_path.split_at(slash),
                None => (authority_and_path, ""),
            };
            url.parse_authority(authority)?;
            rest = path;
        } else if !url.scheme.is_empty() && rest.starts_with('/') {
            url.omit_host = true;
        }
        url.path = unescape(rest.as_bytes(), Mode::Path)?;
        url.raw_path = rest.as_bytes().to_vec();
        Some(url)
    }

    /// Go's `parseAuthority`.
    fn parse_authority(&mut self, authority: &str) -> Option<()> {
        let at = authority.rfind('@');
        self.host = parse_host(match at {
            Some(at) => &authority[at + 1..],
            None => authority,
        })?;
        let Some(at) = at else {
            return Some(());
        };
        let userinfo = &authority[..at];
        if !valid_userinfo(userinfo) {
            return None;
        }
        self.user = Some(match userinfo.split_once(':') {
            None => (unescape(userinfo.as_bytes(), Mode::UserPassword)?, None),
            Some((username, password)) => (
                unescape(username.as_bytes(), Mode::UserPassword)?,
                Some(unescape(password.as_bytes(), Mode::UserPassword)?),
            ),
        });
        Some(())
    }

    /// Go's `URL.String`.
    fn to_go_string(&self) -> String {
        let mut buf: Vec<u8> = Vec::new();
        if !self.scheme.is_empty() {
            buf.extend_from_slice(self.scheme.as_bytes());
            buf.push(b':');
        }
        if !self.opaque.is_empty() {
            buf.extend_from_slice(self.opaque.as_bytes());
        } else {
            let has_authority =
                !self.scheme.is_empty() || !self.host.is_empty() || self.user.is_some();
            let omit_authority = self.omit_host && self.host.is_empty() && self.user.is_none();
            if has_authority && !omit_authority {
                if !self.host.is_empty() || !self.path.is_empty() || self.user.is_some() {
                    buf.extend_from_slice(b"//");
                }
                if let Some((username, password)) = &self.user {
                    buf.extend(escape(username, Mode::UserPassword));
                    if let Some(password) = password {
                        buf.push(b':');
                        buf.extend(escape(password, Mode::UserPassword));
                    }
                    buf.push(b'@');
                }
                buf.extend(escape(&self.host, Mode::Host));
            }
            let path = escaped_component(&self.raw_path, &self.path, Mode::Path);
            if path.first().is_some_and(|&c| c != b'/') && !self.host.is_empty() {
                buf.push(b'/');
            }
            if buf.is_empty() {
                let first_segment = path.split(|&c| c == b'/').next().unwrap_or_default();
                if first_segment.contains(&b':') {
                    buf.extend_from_slice(b"./");
                }
            }
            buf.extend(path);
        }
        if self.force_query || !self.raw_query.is_empty() {
            buf.push(b'?');
            buf.extend_from_slice(self.raw_query.as_bytes());
        }
        if let Some((decoded, raw)) = &self.fragment {
            buf.push(b'#');
            buf.extend(escaped_component(raw, decoded, Mode::Fragment));
        }
        String::from_utf8(buf)
            .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
    }
}

/// Go's `getScheme`: `None` for "missing protocol scheme" (a leading `:`).
fn get_scheme(raw: &str) -> Option<(&str, &str)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_argo_cd() {
        let cases = [
            // Lowercased, `.git` stripped.
            (
                "https://github.com/argoproj/test.git",
                "https://github.com/argoproj/test",
            ),
            (
                "https://GitHub.com/ArgoProj/Test.GIT",
                "https://github.com/argoproj/test",
            ),
            (
                "  https://github.com/argoproj/test  ",
                "https://github.com/argoproj/test",
            ),
            // Only one `.git` goes, and a trailing slash stays (so `.git/` is kept too).
            (
                "https://github.com/argoproj/test.git.git",
                "https://github.com/argoproj/test.git",
            ),
            (
                "https://github.com/argoproj/test/",
                "https://github.com/argoproj/test/",
            ),
            (
                "https://github.com/argoproj/test.git/",
                "https://github.com/argoproj/test.git/",
            ),
            // SCP-style SSH: first colon becomes a slash, no scheme in the result.
            (
                "git@github.com:argoproj/test.git",
                "git@github.com/argoproj/test",
            ),
            (
                "GIT@GITHUB.COM:ArgoProj/Test",
                "git@github.com/argoproj/test",
            ),
            (
                "ssh://git@github.com/argoproj/test.git",
                "git@github.com/argoproj/test",
            ),
            (
                "ssh://git@github.com:22/argoproj/test",
                "git@github.com:22/argoproj/test",
            ),
            // A non-numeric "port" is a Go parse error: the empty string.
            ("ssh://git@GITHUB.com:argoproj/test", ""),
            ("https://github.com:abc/x", ""),
            // Other parse errors.
            ("https://github.com/a%zz", ""),
            ("https://git hub.com/a", ""),
            (":foo", ""),
            ("1a:b/c", ""),
            // Re-escaping by Go's URL.String.
            ("https://github.com/a b", "https://github.com/a%20b"),
            ("https://github.com/a%2fb", "https://github.com/a%2fb"),
            ("https://bücher.de/x", "https://b%C3%BCcher.de/x"),
            ("https://user:pa ss@host/x", ""),
            ("https://us%20er@host/x", "https://us%20er@host/x"),
            // Globs survive normalisation untouched.
            (
                "https://github.com/argoproj/*",
                "https://github.com/argoproj/*",
            ),
            ("https://*.example.com/**", "https://*.example.com/**"),
            ("*", "*"),
            // Braces are escaped in paths and invalid in hosts.
            (
                "https://github.com/org/{a,b}",
                "https://github.com/org/%7Ba,b%7D",
            ),
            ("https://{a,b}.example.com/x", ""),
            // `?` starts the query, which is kept verbatim.
            ("https://github.com/org/re?o", "https://github.com/org/re?o"),
            ("", ""),
            // Query and fragment.
            ("https://host/x?a=b", "https://host/x?a=b"),
            ("https://host/x?", "https://host/x?"),
            ("https://host/x#frag", "https://host/x#frag"),
            ("https://host/x#", "https://host/x"),
            // Opaque URLs and paths.
            ("mailto:someone", "mailto:someone"),
            ("file:///srv/repo.git", "file:///srv/repo"),
            ("file:/srv/repo", "file:/srv/repo"),
            ("/srv/repo.git", "/srv/repo"),
            ("https://[::1]:8080/x", "https://[::1]:8080/x"),
            ("https://[::1/x", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_git_url(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn ssh_url_detection() {
        let cases = [
            ("git@github.com:org/repo", true),
            ("ssh://git@github.com/org/repo", true),
            ("user@host", true),
            ("a@b@c", true),
            ("git@", false),
            ("https://user@host/x", false),
            ("host/git@x", false),
            ("github.com/org/repo", false),
        ];
        for (input, expected) in cases {
            assert_eq!(is_ssh_url(input), expected, "input {input:?}");
        }
    }
}
