//! The `globOrRegexMatch` function of Argo CD's Casbin model, compiled once per policy field.
//!
//! * Glob mode is Argo CD's `globMatchFunc`: `util/glob.Match(pattern, value)` without
//!   separators, so `*` also matches `/`. Patterns made only of literal text and `*` (nearly all
//!   of them: `*`, `*/*`, `my-proj/*`, `*/prod-*`) get a fast matcher; anything using gobwas'
//!   other syntax (`?`, `[...]`, `{a,b}`, `\`) is matched by [`capstan_types::glob`] itself.
//! * Regex mode is Casbin's `util.RegexMatchFunc`: Go's `regexp.MatchString(pattern, value)`,
//!   which is **not anchored** (`proj/.*` matches `otherproj/app`). A pattern that does not
//!   compile makes Casbin panic, which its `Enforce` turns into an error, so the whole
//!   enforcement call is refused; [`Pattern::matches`] reports it as `Err(Unmatchable)`.

use capstan_types::glob::match_with_separators;
use capstan_types::settings::MatchMode;

/// A field pattern that cannot be evaluated (an invalid regular expression in regex mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Unmatchable;

/// One compiled policy field (resource, action or object).
#[derive(Clone, Debug)]
pub(crate) enum Pattern {
    /// Glob of only `*`: matches everything.
    Any,
    /// Glob without special characters: string equality.
    Exact(Box<str>),
    /// Glob of literal text and `*`: the pieces between the stars, in order (at least two).
    Stars(Box<[Box<str>]>),
    /// Any other glob: evaluated by the gobwas port in `capstan-types`.
    Glob(Box<str>),
    /// A compiled regular expression (unanchored search).
    Regex(regex::Regex),
    /// A regular expression that does not compile.
    BadRegex,
}

impl Pattern {
    /// Compiles `pattern` for `mode`; the error is the regex compiler's message.
    pub(crate) fn compile(pattern: &str, mode: MatchMode) -> Result<Self, String> {
        match mode {
            MatchMode::Glob => Ok(Self::glob(pattern)),
            MatchMode::Regex => regex::Regex::new(pattern)
                .map(Self::Regex)
                .map_err(|error| error.to_string()),
        }
    }

    fn glob(pattern: &str) -> Self {
        if pattern.contains(['?', '[', ']', '{', '}', '\\']) {
            Self::Glob(pattern.into())
        } else if !pattern.contains('*') {
            Self::Exact(pattern.into())
        } else if pattern.chars().all(|c| c == '*') {
            Self::Any
        } else {
            Self::Stars(pattern.split('*').map(Box::from).collect())
        }
    }

    /// Whether `text` matches; `Err` when the pattern cannot be evaluated.
    pub(crate) fn matches(&self, text: &str) -> Result<bool, Unmatchable> {
        Ok(match self {
            Self::Any => true,
            Self::Exact(literal) => **literal == *text,
            Self::Stars(pieces) => stars_match(pieces, text),
            Self::Glob(pattern) => match_with_separators(pattern, text, &[]),
            Self::Regex(regex) => regex.is_match(text),
            Self::BadRegex => return Err(Unmatchable),
        })
    }
}

/// `pieces` are the texts between the `*`s of a pattern: the first must start `text`, the last
/// must end it, and the others must appear in order in between (leftmost placement is optimal
/// when `*` is the only wildcard).
fn stars_match(pieces: &[Box<str>], text: &str) -> bool {
    let (Some(first), Some(last)) = (pieces.first(), pieces.last()) else {
        return true;
    };
    if text.len() < first.len() + last.len() || !text.starts_with(&**first) {
        return false;
    }
    if !text.ends_with(&**last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for piece in &pieces[1..pieces.len() - 1] {
        match rest.find(&**piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_globs_agree_with_capstan_types() {
        let patterns = [
            "*",
            "**",
            "*/*",
            "my-proj/*",
            "*/prod-*",
            "a*b*c",
            "*a*",
            "a**b",
            "abc",
            "",
            "proj/app",
            "a?c",
            "{a,b}/*",
            "[ab]*",
            "\\*",
            "*-dev",
            "a*a",
            "*aa*a",
        ];
        let texts = [
            "",
            "a",
            "abc",
            "a/b",
            "my-proj/app",
            "my-proj/ns/app",
            "x/prod-1",
            "prod-1",
            "proj/app",
            "b/x",
            "*",
            "aab",
            "a-dev",
            "aaa",
            "aaaa",
            "axbxc",
            "ab",
        ];
        for pattern in patterns {
            let compiled = Pattern::compile(pattern, MatchMode::Glob).unwrap();
            for text in texts {
                assert_eq!(
                    compiled.matches(text),
                    Ok(match_with_separators(pattern, text, &[])),
                    "{pattern:?} ~ {text:?} ({compiled:?})"
                );
            }
        }
    }

    #[test]
    fn regexes_are_unanchored_and_invalid_ones_unmatchable() {
        let regex = Pattern::compile("proj/.*", MatchMode::Regex).unwrap();
        assert_eq!(regex.matches("otherproj/app"), Ok(true));
        let anchored = Pattern::compile("^proj/.*$", MatchMode::Regex).unwrap();
        assert_eq!(anchored.matches("otherproj/app"), Ok(false));
        assert!(Pattern::compile("*/*", MatchMode::Regex).is_err());
        assert_eq!(Pattern::BadRegex.matches("x"), Err(Unmatchable));
    }
}
