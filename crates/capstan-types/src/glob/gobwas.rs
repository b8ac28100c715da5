//! Argo CD's `util/glob.Match`, which compiles patterns with `github.com/gobwas/glob`.
//!
//! Syntax, as gobwas lexes it:
//!
//! * `*` any run of characters that contains no separator; `**` any run at all;
//! * `?` any one character that is not a separator;
//! * `[abc]`, `[a-z]` one character in the list or range, `[!abc]`, `[!a-z]` one character not
//!   in it (separators are not special inside brackets);
//! * `{a,b,c}` any of the alternatives, which may nest and hold any of the above; a `{` left
//!   open is closed by the end of the pattern, and `,` and `}` are plain text outside braces;
//! * `\` makes the next character literal (a trailing `\` is dropped).
//!
//! A pattern gobwas cannot compile (an unterminated `[`, `[]`, `[z-a]`) matches nothing, as
//! `glob.Match` logs and returns false.

use std::collections::VecDeque;

/// One element of a compiled pattern.
#[derive(Debug)]
enum Node {
    /// Literal text.
    Text(Vec<char>),
    /// `*`.
    Any,
    /// `**`.
    Super,
    /// `?`.
    Single,
    /// `[abc]` / `[!abc]`.
    List { chars: Vec<char>, not: bool },
    /// `[a-z]` / `[!a-z]`.
    Range { lo: char, hi: char, not: bool },
    /// `{a,b}`.
    AnyOf(Vec<Vec<Node>>),
}

/// gobwas' lexer tokens.
#[derive(Debug)]
enum Token {
    Eof,
    Text(Vec<char>),
    Any,
    Super,
    Single,
    RangeOpen,
    RangeClose,
    Not,
    RangeLo(char),
    RangeBetween,
    RangeHi(char),
    TermsOpen,
    TermsClose,
    Separator,
}

/// The pattern does not compile.
#[derive(Debug)]
struct CompileError;

/// A port of gobwas/glob's `syntax/lexer`: the same tokens for the same input, including its
/// treatment of `,`/`}` outside braces and of escapes.
struct Lexer {
    chars: Vec<char>,
    pos: usize,
    /// Whether the last `read` consumed a character (so `unread` steps back over it).
    last_read_char: bool,
    terms_level: usize,
    tokens: VecDeque<Token>,
    failed: bool,
}

impl Lexer {
    fn new(pattern: &str) -> Self {
        Lexer {
            chars: pattern.chars().collect(),
            pos: 0,
            last_read_char: false,
            terms_level: 0,
            tokens: VecDeque::new(),
            failed: false,
        }
    }

    fn next(&mut self) -> Result<Token, CompileError> {
        loop {
            if self.failed {
                return Err(CompileError);
            }
            if let Some(token) = self.tokens.pop_front() {
                return Ok(token);
            }
            self.fetch_item();
        }
    }

    fn read(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        self.last_read_char = c.is_some();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn unread(&mut self) {
        if self.last_read_char {
            self.pos -= 1;
            self.last_read_char = false;
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn in_terms(&self) -> bool {
        self.terms_level > 0
    }

    fn fetch_item(&mut self) {
        match self.read() {
            None => self.tokens.push_back(Token::Eof),
            Some('{') => {
                self.terms_level += 1;
                self.tokens.push_back(Token::TermsOpen);
            }
            Some(',') if self.in_terms() => self.tokens.push_back(Token::Separator),
            Some('}') if self.in_terms() => {
                self.tokens.push_back(Token::TermsClose);
                self.terms_level -= 1;
            }
            Some('[') => {
                self.tokens.push_back(Token::RangeOpen);
                self.fetch_range();
            }
            Some('?') => self.tokens.push_back(Token::Single),
            Some('*') => {
                if self.read() == Some('*') {
                    self.tokens.push_back(Token::Super);
                } else {
                    self.unread();
                    self.tokens.push_back(Token::Any);
                }
            }
            Some(_) => {
                self.unread();
                let breakers: &[char] = if self.in_terms() {
                    &['?', '*', '[', '{', '}', ',']
                } else {
                    &['?', '*', '[', '{']
                };
                self.fetch_text(breakers);
            }
        }
    }

    fn fetch_range(&mut self) {
        let mut want_hi = false;
        let mut want_close = false;
        let mut seen_not = false;
        loop {
            let Some(r) = self.read() else {
                self.failed = true;
                return;
            };
            if want_close {
                if r == ']' {
                    self.tokens.push_back(Token::RangeClose);
                } else {
                    self.failed = true;
                }
                return;
            }
            if want_hi {
                self.tokens.push_back(Token::RangeHi(r));
                want_close = true;
                continue;
            }
            if !seen_not && r == '!' {
                self.tokens.push_back(Token::Not);
                seen_not = true;
                continue;
            }
            if self.peek() == Some('-') {
                self.pos += 1;
                self.tokens.push_back(Token::RangeLo(r));
                self.tokens.push_back(Token::RangeBetween);
                want_hi = true;
                continue;
            }
            self.unread();
            self.fetch_text(&[']']);
            want_close = true;
        }
    }

    fn fetch_text(&mut self, breakers: &[char]) {
        let mut data = Vec::new();
        let mut escaped = false;
        while let Some(r) = self.read() {
            if !escaped {
                if r == '\\' {
                    escaped = true;
                    continue;
                }
                if breakers.contains(&r) {
                    self.unread();
                    break;
                }
            }
            escaped = false;
            data.push(r);
        }
        self.tokens.push_back(Token::Text(data));
    }
}

/// A port of gobwas/glob's `syntax/ast` parser; `{`/`,`/`}` build nested alternatives.
fn parse(pattern: &str) -> Result<Vec<Node>, CompileError> {
    let mut lexer = Lexer::new(pattern);
    // The pattern being filled, innermost last; each `{` pushes an alternative list and a pattern.
    let mut patterns: Vec<Vec<Node>> = vec![Vec::new()];
    let mut alternatives: Vec<Vec<Vec<Node>>> = Vec::new();
    loop {
        match lexer.next()? {
            Token::Eof => break,
            Token::Text(text) => push(&mut patterns, Node::Text(text)),
            Token::Any => push(&mut patterns, Node::Any),
            Token::Super => push(&mut patterns, Node::Super),
            Token::Single => push(&mut patterns, Node::Single),
            Token::RangeOpen => {
                let node = parse_range(&mut lexer)?;
                push(&mut patterns, node);
            }
            Token::TermsOpen => {
                alternatives.push(Vec::new());
                patterns.push(Vec::new());
            }
            Token::Separator => {
                let finished = patterns.pop().ok_or(CompileError)?;
                alternatives.last_mut().ok_or(CompileError)?.push(finished);
                patterns.push(Vec::new());
            }
            Token::TermsClose => close_terms(&mut patterns, &mut alternatives)?,
            Token::RangeClose
            | Token::Not
            | Token::RangeLo(_)
            | Token::RangeBetween
            | Token::RangeHi(_) => return Err(CompileError),
        }
    }
    // Braces left open are closed by the end of the pattern, as gobwas' parser returns its root.
    while !alternatives.is_empty() {
        close_terms(&mut patterns, &mut alternatives)?;
    }
    patterns.pop().ok_or(CompileError)
}

fn push(patterns: &mut [Vec<Node>], node: Node) {
    if let Some(current) = patterns.last_mut() {
        current.push(node);
    }
}

fn close_terms(
    patterns: &mut Vec<Vec<Node>>,
    alternatives: &mut Vec<Vec<Vec<Node>>>,
) -> Result<(), CompileError> {
    let finished = patterns.pop().ok_or(CompileError)?;
    let mut alts = alternatives.pop().ok_or(CompileError)?;
    alts.push(finished);
    push(patterns, Node::AnyOf(alts));
    Ok(())
}

fn parse_range(lexer: &mut Lexer) -> Result<Node, CompileError> {
    let mut not = false;
    let mut lo = None;
    let mut hi = None;
    let mut chars: Vec<char> = Vec::new();
    loop {
        match lexer.next()? {
            Token::Not => not = true,
            Token::RangeLo(c) => lo = Some(c),
            Token::RangeBetween => {}
            Token::RangeHi(c) => {
                if lo.is_some_and(|lo| c < lo) {
                    return Err(CompileError);
                }
                hi = Some(c);
            }
            Token::Text(text) => chars = text,
            Token::RangeClose => {
                // gobwas treats NUL as "unset".
                let range = match (lo, hi) {
                    (Some(lo), Some(hi)) if lo != '\0' && hi != '\0' => Some((lo, hi)),
                    _ => None,
                };
                return match (range, chars.is_empty()) {
                    (Some((lo, hi)), true) => Ok(Node::Range { lo, hi, not }),
                    (None, false) => Ok(Node::List { chars, not }),
                    _ => Err(CompileError),
                };
            }
            _ => return Err(CompileError),
        }
    }
}

/// What is left to match after the current node list: a stack of node lists.
enum Rest<'a> {
    End,
    Then(&'a [Node], &'a Rest<'a>),
}

fn match_nodes(nodes: &[Node], rest: &Rest<'_>, text: &[char], separators: &[char]) -> bool {
    let Some((node, tail)) = nodes.split_first() else {
        return match rest {
            Rest::End => text.is_empty(),
            Rest::Then(next, after) => match_nodes(next, after, text, separators),
        };
    };
    let one = |accept: &dyn Fn(char) -> bool| {
        text.first()
            .is_some_and(|&c| accept(c) && match_nodes(tail, rest, &text[1..], separators))
    };
    match node {
        Node::Text(literal) => {
            text.starts_with(literal) && match_nodes(tail, rest, &text[literal.len()..], separators)
        }
        Node::Single => one(&|c| !separators.contains(&c)),
        Node::List { chars, not } => one(&|c| chars.contains(&c) != *not),
        Node::Range { lo, hi, not } => one(&|c| (*lo..=*hi).contains(&c) != *not),
        Node::Any => {
            for skip in 0..=text.len() {
                if skip > 0 && separators.contains(&text[skip - 1]) {
                    return false;
                }
                if match_nodes(tail, rest, &text[skip..], separators) {
                    return true;
                }
            }
            false
        }
        Node::Super => {
            (0..=text.len()).any(|skip| match_nodes(tail, rest, &text[skip..], separators))
        }
        Node::AnyOf(alternatives) => {
            let after = Rest::Then(tail, rest);
            alternatives
                .iter()
                .any(|alternative| match_nodes(alternative, &after, text, separators))
        }
    }
}

/// Whether `text` matches `pattern` as a whole; see the module documentation.
pub(super) fn matches(pattern: &str, text: &str, separators: &[char]) -> bool {
    let Ok(nodes) = parse(pattern) else {
        return false;
    };
    let text: Vec<char> = text.chars().collect();
    match_nodes(&nodes, &Rest::End, &text, separators)
}
