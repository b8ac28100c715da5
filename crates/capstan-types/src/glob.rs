//! Glob matching, in the three dialects Argo CD uses.
//!
//! * [`matches()`]: Argo CD's simple globs (`*` any run of characters, `/` included; `?` any one
//!   character), as used by RBAC policies, resource customization keys and resource exclusions.
//!   One implementation for all of them, linear in practice (backtracking only to the last `*`).
//! * [`match_with_separators`]: Argo CD's `util/glob.Match` (the `gobwas/glob` library), with
//!   `**`, `[...]`, `{a,b}` and separators that `*` and `?` do not cross. AppProject source
//!   repositories, destinations and sync windows use it.
//! * [`path_match`]: Go's `path/filepath.Match`, which AppProject resource allow and deny lists
//!   use for groups, kinds and names.

mod filepath;
mod gobwas;

/// A pattern Go's `path/filepath.Match` rejects as malformed (`ErrBadPattern`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern")]
pub struct BadPattern;

/// Whether `text` matches `pattern` as a whole, with Argo CD's `util/glob.Match` semantics
/// (`github.com/gobwas/glob`):
///
/// * `*` matches any run of characters without a separator, `**` any run at all;
/// * `?` matches one character that is not a separator;
/// * `[abc]`, `[a-z]`, `[!abc]`, `[!a-z]` match one character in (or not in) the set;
/// * `{a,b}` matches any of the alternatives;
/// * `\` makes the next character literal.
///
/// With no separators, `*` matches everything. A pattern that does not compile (such as an
/// unterminated `[`) matches nothing, as in Argo CD.
pub fn match_with_separators(pattern: &str, text: &str, separators: &[char]) -> bool {
    gobwas::matches(pattern, text, separators)
}

/// Go's `path/filepath.Match(pattern, name)` on Unix: `*` matches any run of characters except
/// `/`, `?` one character except `/`, `[...]` a character class (`^` negates, `a-z` ranges),
/// `\` escapes. Returns [`BadPattern`] for a malformed pattern, as Go does.
pub fn path_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    filepath::path_match(pattern, name)
}

/// Whether `text` matches `pattern` as a whole, with Argo CD's simple globs.
pub fn matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((star, matched)) => {
                    p = star + 1;
                    t = matched + 1;
                    backtrack = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Whether `pattern` has glob characters.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let cases = [
            ("*", "", true),
            ("*", "apps/Deployment", true),
            ("apps/*", "apps/Deployment", true),
            ("*/Deployment", "apps/Deployment", true),
            ("*.k8s.io", "networking.k8s.io", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("applications", "applicationsets", false),
            ("application*", "applicationsets", true),
            ("*a*b*c*", "xaybzc", true),
            ("*a*b*c*", "xaybz", false),
            ("", "", true),
            ("", "x", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(matches(pattern, text), expected, "{pattern:?} ~ {text:?}");
        }
    }

    #[test]
    fn gobwas_globs() {
        const NONE: &[char] = &[];
        const SLASH: &[char] = &['/'];
        let cases: &[(&str, &str, &[char], bool)] = &[
            ("", "", NONE, true),
            ("", "a", NONE, false),
            ("abc", "abc", NONE, true),
            ("abc", "abd", NONE, false),
            // `*` stops at separators, `**` does not.
            ("*", "", NONE, true),
            ("*", "a/b", NONE, true),
            ("*", "a/b", SLASH, false),
            ("**", "a/b", SLASH, true),
            ("a*", "abc/d", SLASH, false),
            ("a/*/c", "a/b/c", SLASH, true),
            ("a/*/c", "a/b/x/c", SLASH, false),
            ("a/**/c", "a/b/x/c", SLASH, true),
            ("*a*b*", "xaxbx", NONE, true),
            ("*a*b*", "xbxax", NONE, false),
            // `?` is one character, never a separator.
            ("?", "a", NONE, true),
            ("?", "", NONE, false),
            ("?", "ab", NONE, false),
            ("?", "/", SLASH, false),
            ("a?c", "a/c", NONE, true),
            ("?", "ü", NONE, true),
            // Classes ignore separators.
            ("[abc]", "b", NONE, true),
            ("[abc]", "d", NONE, false),
            ("[!abc]", "d", NONE, true),
            ("[!abc]", "a", NONE, false),
            ("[a-c]x", "bx", NONE, true),
            ("[!a-c]", "d", NONE, true),
            ("[!a-c]", "b", NONE, false),
            ("[/]", "/", SLASH, true),
            ("[!x]", "/", SLASH, true),
            ("[\\]]", "]", NONE, true),
            // Alternatives, nested, empty, left open.
            ("{a,b}", "a", NONE, true),
            ("{a,b}", "c", NONE, false),
            ("x{a,b}y", "xby", NONE, true),
            ("{a,{b,c}}d", "cd", NONE, true),
            ("{a*,b}", "axx", NONE, true),
            ("{,x}y", "y", NONE, true),
            ("{a,b", "b", NONE, true),
            ("!{kube-system,argocd}", "!argocd", NONE, true),
            // `,` and `}` are text outside braces; `!` is text outside brackets.
            ("a,b", "a,b", NONE, true),
            ("a}", "a}", NONE, true),
            ("!a", "!a", NONE, true),
            // Escapes; a trailing backslash is dropped.
            ("\\*", "*", NONE, true),
            ("\\*", "a", NONE, false),
            ("\\{a,b}", "{a,b}", NONE, true),
            ("a\\", "a", NONE, true),
            // Patterns gobwas cannot compile match nothing.
            ("[", "[", NONE, false),
            ("[a-", "a", NONE, false),
            ("[]", "", NONE, false),
            ("[]a]", "]", NONE, false),
            ("[z-a]", "b", NONE, false),
            ("[ab", "a", NONE, false),
        ];
        for (pattern, text, separators, expected) in cases {
            assert_eq!(
                match_with_separators(pattern, text, separators),
                *expected,
                "{pattern:?} ~ {text:?} with {separators:?}"
            );
        }
    }

    #[test]
    fn go_filepath_match() {
        // Go's own path/filepath match tests.
        let cases: &[(&str, &str, Result<bool, BadPattern>)] = &[
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("*c", "abc", Ok(true)),
            ("a*", "a", Ok(true)),
            ("a*", "abc", Ok(true)),
            ("a*", "ab/c", Ok(false)),
            ("a*/b", "abc/b", Ok(true)),
            ("a*/b", "a/c/b", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Ok(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Ok(false)),
            ("ab[c]", "abc", Ok(true)),
            ("ab[b-d]", "abc", Ok(true)),
            ("ab[e-g]", "abc", Ok(false)),
            ("ab[^c]", "abc", Ok(false)),
            ("ab[^b-d]", "abc", Ok(false)),
            ("ab[^e-g]", "abc", Ok(true)),
            ("a\\*b", "a*b", Ok(true)),
            ("a\\*b", "ab", Ok(false)),
            ("a?b", "a☺b", Ok(true)),
            ("a[^a]b", "a☺b", Ok(true)),
            ("a???b", "a☺b", Ok(false)),
            ("a[^a][^a][^a]b", "a☺b", Ok(false)),
            ("[a-ζ]*", "α", Ok(true)),
            ("*[a-ζ]", "A", Ok(false)),
            ("a?b", "a/b", Ok(false)),
            ("a*b", "a/b", Ok(false)),
            ("[\\]a]", "]", Ok(true)),
            ("[\\-]", "-", Ok(true)),
            ("[x\\-]", "x", Ok(true)),
            ("[x\\-]", "-", Ok(true)),
            ("[x\\-]", "z", Ok(false)),
            ("[\\-x]", "x", Ok(true)),
            ("[\\-x]", "-", Ok(true)),
            ("[\\-x]", "a", Ok(false)),
            ("[]a]", "]", Err(BadPattern)),
            ("[-]", "-", Err(BadPattern)),
            ("[x-]", "x", Err(BadPattern)),
            ("[x-]", "-", Err(BadPattern)),
            ("[x-]", "z", Err(BadPattern)),
            ("[-x]", "x", Err(BadPattern)),
            ("[-x]", "-", Err(BadPattern)),
            ("[-x]", "a", Err(BadPattern)),
            ("\\", "a", Err(BadPattern)),
            ("[a-b-c]", "a", Err(BadPattern)),
            ("[", "a", Err(BadPattern)),
            ("[^", "a", Err(BadPattern)),
            ("[^bc", "a", Err(BadPattern)),
            ("a[", "a", Err(BadPattern)),
            ("a[", "ab", Err(BadPattern)),
            ("a[", "x", Err(BadPattern)),
            ("a/b[", "x", Err(BadPattern)),
            ("*x", "xxx", Ok(true)),
            // Empty patterns and names.
            ("", "", Ok(true)),
            ("", "a", Ok(false)),
            ("*", "", Ok(true)),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(
                path_match(pattern, name),
                *expected,
                "{pattern:?} ~ {name:?}"
            );
        }
    }
}
