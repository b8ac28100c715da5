//! Argo CD's simple globs (`*` any run of characters, `/` included; `?` any one character),
//! as used by RBAC policies, resource customization keys and resource exclusions. One
//! implementation for all of them, linear in practice (backtracking only to the last `*`).

/// Whether `text` matches `pattern` as a whole.
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
    use super::matches;

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
}
