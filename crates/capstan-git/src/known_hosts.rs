//! OpenSSH `known_hosts` parsing and host key matching, for SSH repositories (Argo CD keeps
//! these lines in the `argocd-ssh-known-hosts-cm` ConfigMap).
//!
//! Supported: comma-separated host patterns with `*` / `?` wildcards and `!` negation,
//! `[host]:port` for non-default ports, hashed host names (`|1|salt|hash`), and the `@revoked`
//! marker. `@cert-authority` lines are ignored (host certificates are not supported), as are
//! malformed lines.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest as _, Sha1};
use sha2::Sha256;

/// The parsed lines of a `known_hosts` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownHosts {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    revoked: bool,
    patterns: Vec<Pattern>,
    key_type: String,
    key: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Plain { negated: bool, glob: String },
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
}

/// The key an SSH server presented. libgit2 gives the raw key blob (and its type) with
/// current libssh2; otherwise only its SHA-256 digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresentedKey {
    /// The raw public key blob (as in the base64 field of `known_hosts`).
    Raw(Vec<u8>),
    /// SHA-256 of the raw public key blob.
    Sha256([u8; 32]),
}

/// The outcome of checking a host key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKeyStatus {
    /// A line for this host has this key.
    Trusted,
    /// The key is listed as `@revoked`.
    Revoked,
    /// The host is listed, with other keys only (possible man in the middle).
    Mismatch,
    /// The host is not listed at all.
    Unknown,
}

impl KnownHosts {
    /// Parses `known_hosts` text. Comments, blank lines, `@cert-authority` lines and lines
    /// that do not parse are skipped.
    pub fn parse(text: &str) -> Self {
        let entries = text.lines().filter_map(parse_line).collect();
        KnownHosts { entries }
    }

    /// How many usable lines there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when no usable line was found.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Checks the key `host` (name or IP, without brackets) presented on `port`.
    pub fn check(&self, host: &str, port: u16, key: &PresentedKey) -> HostKeyStatus {
        let host = host.to_ascii_lowercase();
        let written = if port == 22 {
            host.clone()
        } else {
            format!("[{host}]:{port}")
        };
        let mut listed = false;
        let mut trusted = false;
        for entry in self.entries.iter().filter(|e| e.matches_host(&written)) {
            let same = entry.same_key(key);
            if entry.revoked {
                if same {
                    return HostKeyStatus::Revoked;
                }
                continue;
            }
            listed = true;
            trusted |= same;
        }
        match (trusted, listed) {
            (true, _) => HostKeyStatus::Trusted,
            (false, true) => HostKeyStatus::Mismatch,
            (false, false) => HostKeyStatus::Unknown,
        }
    }
}

impl Entry {
    /// OpenSSH: some positive pattern matches and no negated one does.
    fn matches_host(&self, written: &str) -> bool {
        let mut positive = false;
        for pattern in &self.patterns {
            match pattern {
                Pattern::Plain { negated, glob } => {
                    if wildcard_match(glob, written) {
                        if *negated {
                            return false;
                        }
                        positive = true;
                    }
                }
                Pattern::Hashed { salt, hash } => {
                    positive |= hmac_sha1(salt, written.as_bytes()).as_slice() == hash.as_slice();
                }
            }
        }
        positive
    }

    fn same_key(&self, key: &PresentedKey) -> bool {
        match key {
            PresentedKey::Raw(blob) => *blob == self.key,
            PresentedKey::Sha256(digest) => Sha256::digest(&self.key).as_slice() == digest,
        }
    }
}

fn parse_line(line: &str) -> Option<Entry> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let mut revoked = false;
    if let Some(marker) = first.strip_prefix('@') {
        match marker {
            "revoked" => revoked = true,
            // "@cert-authority" and unknown markers
            _ => return None,
        }
        first = fields.next()?;
    }
    let key_type = fields.next()?.to_string();
    let key = STANDARD.decode(fields.next()?).ok()?;
    let patterns = first
        .split(',')
        .filter(|p| !p.is_empty())
        .map(parse_pattern)
        .collect::<Option<Vec<_>>>()?;
    Some(Entry {
        revoked,
        patterns,
        key_type,
        key,
    })
}

fn parse_pattern(p: &str) -> Option<Pattern> {
    if let Some(hashed) = p.strip_prefix("|1|") {
        let (salt, hash) = hashed.split_once('|')?;
        return Some(Pattern::Hashed {
            salt: STANDARD.decode(salt).ok()?,
            hash: STANDARD.decode(hash).ok()?,
        });
    }
    let (negated, glob) = match p.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, p),
    };
    Some(Pattern::Plain {
        negated,
        glob: glob.to_ascii_lowercase(),
    })
}

/// `*` matches any run of characters, `?` one character; everything else literally.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// HMAC-SHA1 (RFC 2104), as OpenSSH hashes known host names.
fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..20].copy_from_slice(Sha1::digest(key).as_slice());
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha1::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha1::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.as_slice());
    let mut out = [0u8; 20];
    out.copy_from_slice(outer.finalize().as_slice());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED_KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const RSA_KEY: &str = "AAAAB3NzaC1yc2EAAAADAQABAAABAQDFAKEKEYFAKEKEYFAKEKEY";
    const OTHER_KEY: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

    fn raw(b64: &str) -> PresentedKey {
        PresentedKey::Raw(STANDARD.decode(b64).unwrap())
    }

    #[test]
    fn rfc2202_hmac_sha1_vectors() {
        assert_eq!(
            hex::encode(hmac_sha1(&[0x0b; 20], b"Hi There")),
            "b617318655057264e28bc0b6fb378c8ef146be00"
        );
        assert_eq!(
            hex::encode(hmac_sha1(b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        // key longer than the block size
        assert_eq!(
            hex::encode(hmac_sha1(
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112"
        );
    }

    #[test]
    fn wildcards() {
        let cases = [
            ("github.com", "github.com", true),
            ("*.example.com", "git.example.com", true),
            ("*.example.com", "example.com", false),
            ("git?.example.com", "git1.example.com", true),
            ("git?.example.com", "git12.example.com", false),
            ("*", "anything", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("[git.example.com]:2222", "[git.example.com]:2222", true),
        ];
        for (p, t, want) in cases {
            assert_eq!(wildcard_match(p, t), want, "{p} vs {t}");
        }
    }

    #[test]
    fn matching_table() {
        // A hashed entry for "hashed.example.com" with a known salt.
        let salt = b"0123456789abcdefghij";
        let hash = hmac_sha1(salt, b"hashed.example.com");
        let hashed = format!("|1|{}|{}", STANDARD.encode(salt), STANDARD.encode(hash));
        let text = format!(
            "# comment\n\
             \n\
             github.com,140.82.121.4 ssh-ed25519 {ED_KEY}\n\
             GitLab.com ssh-rsa {RSA_KEY} comment here\n\
             *.corp.example,!evil.corp.example ssh-ed25519 {ED_KEY}\n\
             [git.example.com]:2222 ssh-ed25519 {ED_KEY}\n\
             {hashed} ssh-ed25519 {ED_KEY}\n\
             @revoked revoked.example.com ssh-ed25519 {OTHER_KEY}\n\
             revoked.example.com ssh-ed25519 {ED_KEY}\n\
             @cert-authority *.ca.example ssh-ed25519 {ED_KEY}\n\
             malformed-line-without-key\n\
             bad.example.com ssh-ed25519 not*base64\n"
        );
        let kh = KnownHosts::parse(&text);
        assert_eq!(kh.len(), 7);
        use HostKeyStatus::*;
        let cases = [
            ("github.com", 22, raw(ED_KEY), Trusted),
            ("140.82.121.4", 22, raw(ED_KEY), Trusted),
            ("GITHUB.com", 22, raw(ED_KEY), Trusted),
            ("github.com", 22, raw(OTHER_KEY), Mismatch),
            ("github.com", 2222, raw(ED_KEY), Unknown),
            ("gitlab.com", 22, raw(RSA_KEY), Trusted),
            ("a.corp.example", 22, raw(ED_KEY), Trusted),
            ("evil.corp.example", 22, raw(ED_KEY), Unknown),
            ("git.example.com", 2222, raw(ED_KEY), Trusted),
            ("git.example.com", 22, raw(ED_KEY), Unknown),
            ("hashed.example.com", 22, raw(ED_KEY), Trusted),
            ("other.example.com", 22, raw(ED_KEY), Unknown),
            ("revoked.example.com", 22, raw(OTHER_KEY), Revoked),
            ("revoked.example.com", 22, raw(ED_KEY), Trusted),
            ("x.ca.example", 22, raw(ED_KEY), Unknown),
            (
                "github.com",
                22,
                PresentedKey::Sha256(Sha256::digest(STANDARD.decode(ED_KEY).unwrap()).into()),
                Trusted,
            ),
            ("github.com", 22, PresentedKey::Sha256([0; 32]), Mismatch),
        ];
        for (host, port, key, want) in cases {
            assert_eq!(kh.check(host, port, &key), want, "{host}:{port}");
        }
        assert!(KnownHosts::parse("").is_empty());
    }
}
