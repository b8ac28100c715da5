//! Go `text/template` for ApplicationSets with `goTemplate: true`.
//!
//! Argo CD renders every string of an ApplicationSet's Application template with Go's
//! `text/template` plus the sprig functions, with the generator's parameter set as `.`. This
//! module implements, in pure Rust, the part of that language ApplicationSets use:
//! [`render_go`] renders one template string, [`GoOptions`] carries `goTemplateOptions`.
//!
//! It is built like Go's implementation — a lexer, a parser to an AST (functions and variables
//! are resolved while parsing, as Go does), an evaluator over [`serde_json::Value`] — and follows
//! Go's rules closely: the trim-marker and comment rules, the scoping of variables, truthiness,
//! `fmt`'s printing of values (`[a b]`, `map[k:v]`, `<no value>`, floats as `%v`), `index`
//! ignoring `missingkey`, and error messages worded as Go's, e.g.
//! `template: :1:2: executing "" at <.name>: map has no entry for key "name"` (positions are
//! `line:column`, the column a 0-based byte offset, as in Go's execution errors; parse errors
//! carry the same `line:column`).
//!
//! # Supported
//! - Text and actions `{{ … }}`, trim markers `{{- ` / ` -}}`, comments `{{/* … */}}`.
//! - `.`, fields `.a.b.c` (on objects), `$`, variables (`$x := …`, `$x = …`, `$x.a`),
//!   fields of a parenthesized pipeline `(…).a`.
//! - Pipelines `a | b` (the value becomes the last argument), parenthesized pipelines.
//! - Literals: `"…"` strings with Go escapes, raw `` `…` `` strings, character constants `'a'`,
//!   integers (decimal, `0x`, `0o`, `0b`, leading-`0` octal, `_` separators), floats,
//!   `true`, `false`, `nil`.
//! - `if` / `else if` / `else`, `with` / `else with` / `else`, `range` over arrays, objects (in
//!   sorted key order) and integers, with `else`, `$v :=` / `$i, $v :=` / `=`, `break`,
//!   `continue`.
//! - Go builtins: `and`, `or` (short-circuit), `not`, `len`, `index` (multi-level), `print`,
//!   `printf`, `println`, `eq` (several operands), `ne`, `lt`, `le`, `gt`, `ge`.
//! - sprig: `default`, `empty`, `coalesce`, `ternary`, `list`, `dict`, `hasKey`, `toJson`,
//!   `toString`, `lower`, `upper`, `title`, `trim`, `trimPrefix`, `trimSuffix`, `replace`,
//!   `contains`, `hasPrefix`, `hasSuffix`, `trunc`, `quote`, `squote`, `join`, `splitList`.
//! - `printf` verbs `%v %s %d %q %t %f %F %e %E %g %G %x %X %c %T %%`, with the flags
//!   `- + 0 space`, `#` for `%#x`, width and precision; Go's `%!d(string=x)`, `%!s(MISSING)`
//!   and `%!(EXTRA …)` markers.
//!
//! # Not supported
//! - Named templates (`define`, `template`, `block`) and custom delimiters: parse error.
//! - Other functions — the rest of sprig, Argo CD's additions (`toYaml`, `fromYaml`,
//!   `normalize`, …), Go's `html`, `js`, `urlquery`, `slice`, `call`: parse error
//!   `function "x" not defined`.
//! - Complex and hexadecimal floating-point constants; `printf` verbs `%b %o %O %U %p`, `%x` on
//!   floats, the `#` flag other than with `%x`/`%X`, `*` widths and `%[n]` argument indexes: errors.
//!
//! # Differences from Argo CD
//! - Numbers: Argo CD decodes parameters into Go `float64`s, so `{{.replicas}}` with 1000000
//!   renders `1e+06` there and `eq .n 3` fails with "incompatible types". Here JSON integers stay
//!   integers (`1000000`; they can index lists and count `range`s), integers and floats compare
//!   numerically, and `%f %e %g` accept integers; templates written around Argo CD's `float64`s
//!   (`eq .n 3.0`, `printf "%.0f" .n`) render the same.
//! - Strings are UTF-8: a `\xff` escape or a `trunc` that cuts a character renders U+FFFD.
//! - `missingkey=zero` is accepted and behaves as the default.
//! - Runaway templates are stopped with an error: output (and any intermediate string) over
//!   1 MiB, more than 100 nested blocks or parentheses, values nested deeper than 100 levels,
//!   more than 50 million evaluation steps.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::rc::Rc;

use serde_json::Value;

/// Largest output, and largest string any function may build.
const MAX_OUTPUT: usize = 1 << 20;
/// Deepest nesting of control structures and parentheses in a template.
const MAX_NESTING: usize = 100;
/// Deepest nesting of lists and maps built by `list`/`dict`/`splitList`.
const MAX_VALUE_DEPTH: usize = 100;
/// Deepest value the formatters walk (JSON data included).
const MAX_FMT_DEPTH: usize = 512;
/// Evaluation budget: one unit per command and per `range` iteration, plus the size of the
/// strings and lists each function receives and returns.
const MAX_WORK: u64 = 50_000_000;
/// What Go prints for a missing value.
const NO_VALUE: &str = "<no value>";
/// What Go's `fmt` prints for nil.
const NIL: &str = "<nil>";

static JSON_NULL: Value = Value::Null;

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/// Options from `goTemplateOptions` (Argo CD passes them to `template.Option`):
/// `missingkey=error` makes a missing map key an error; the default (`missingkey=default`,
/// `missingkey=invalid`, `missingkey=zero`) renders `<no value>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GoOptions {
    /// `missingkey=error`.
    pub missing_key_error: bool,
}

impl GoOptions {
    /// Parses `goTemplateOptions`; later options override earlier ones, as in Go. An unknown
    /// option is an error naming it.
    pub fn parse(options: &[String]) -> Result<GoOptions, GoTemplateError> {
        let mut parsed = GoOptions::default();
        for option in options {
            match option.split_once('=') {
                Some(("missingkey", "default" | "invalid" | "zero")) => {
                    parsed.missing_key_error = false;
                }
                Some(("missingkey", "error")) => parsed.missing_key_error = true,
                _ if option.is_empty() => {
                    return Err(GoTemplateError::Parse(
                        "template: empty option string".into(),
                    ));
                }
                _ => {
                    return Err(GoTemplateError::Parse(format!(
                        "template: unrecognized option: {option} (supported: missingkey=default, \
                         missingkey=invalid, missingkey=zero, missingkey=error)"
                    )));
                }
            }
        }
        Ok(parsed)
    }
}

/// Why a Go template could not be rendered; the message is worded as Go's and starts with
/// `template: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoTemplateError {
    /// The template (or an option) is malformed.
    #[error("{0}")]
    Parse(String),
    /// Executing the template failed.
    #[error("{0}")]
    Exec(String),
}

/// Renders `template` with `data` (the parameter set, a JSON object) as `.`.
pub fn render_go(
    template: &str,
    data: &Value,
    options: GoOptions,
) -> Result<String, GoTemplateError> {
    render_with(template, data, options, Limits::DEFAULT)
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    output: usize,
    work: u64,
}

impl Limits {
    const DEFAULT: Limits = Limits {
        output: MAX_OUTPUT,
        work: MAX_WORK,
    };
}

fn render_with(
    template: &str,
    data: &Value,
    options: GoOptions,
    limits: Limits,
) -> Result<String, GoTemplateError> {
    if !template.contains("{{") {
        return Ok(template.to_owned());
    }
    let tree = Parser::new(template).parse_template()?;
    let mut exec = Exec::new(template, data, options, limits);
    let root = exec
        .vars
        .first()
        .map_or(Val::Invalid, |(_, root)| root.clone());
    exec.walk(&root, &tree)?;
    Ok(exec.out)
}

/// `template: :line:col: msg`.
fn located(src: &str, pos: usize) -> String {
    let bytes = src.as_bytes();
    let pos = pos.min(bytes.len());
    let before = &bytes[..pos];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let col = match before.iter().rposition(|&b| b == b'\n') {
        Some(newline) => pos - newline - 1,
        None => pos,
    };
    format!("template: :{line}:{col}")
}

// ---------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kw {
    Block,
    Break,
    Continue,
    Define,
    Else,
    End,
    If,
    Range,
    Template,
    With,
}

impl Kw {
    fn from_word(word: &str) -> Option<Kw> {
        Some(match word {
            "block" => Kw::Block,
            "break" => Kw::Break,
            "continue" => Kw::Continue,
            "define" => Kw::Define,
            "else" => Kw::Else,
            "end" => Kw::End,
            "if" => Kw::If,
            "range" => Kw::Range,
            "template" => Kw::Template,
            "with" => Kw::With,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kw::Block => "block",
            Kw::Break => "break",
            Kw::Continue => "continue",
            Kw::Define => "define",
            Kw::Else => "else",
            Kw::End => "end",
            Kw::If => "if",
            Kw::Range => "range",
            Kw::Template => "template",
            Kw::With => "with",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    Declare,
    Assign,
    Pipe,
    LeftParen,
    RightParen,
    Char(char),
    /// A `"…"` string; the text is the token's source.
    Str,
    /// A `` `…` `` string.
    RawStr,
    /// A `'…'` character constant.
    CharConst,
    Number,
    Bool(bool),
    Nil,
    Dot,
    /// `.name`, without the dot.
    Field(String),
    /// `$name`, with the dollar.
    Variable(String),
    Ident(String),
    Keyword(Kw),
    Eof,
    Error(String),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: usize,
    end: usize,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

fn has_left_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(char::from(b[1]))
}

fn has_right_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && is_space(char::from(b[0])) && b[1] == b'-'
}

/// `Some(trim)` when `s` starts with a right delimiter, with (` -}}`) or without (`}}`) a trim
/// marker.
fn at_right_delim(s: &str) -> Option<bool> {
    if has_right_trim(s) && s.get(2..).is_some_and(|rest| rest.starts_with("}}")) {
        Some(true)
    } else if s.starts_with("}}") {
        Some(false)
    } else {
        None
    }
}

/// Whether an identifier, field or variable may end here.
fn at_terminator(s: &str) -> bool {
    match s.chars().next() {
        None => true,
        Some(c) if is_space(c) || matches!(c, '.' | ',' | '|' | ':' | ')' | '(') => true,
        Some(_) => s.starts_with("}}"),
    }
}

fn leading_space_len(s: &str) -> usize {
    s.len() - s.trim_start_matches([' ', '\t', '\r', '\n']).len()
}

/// Go's `%#U`: `U+0041 'A'`.
fn go_unicode(c: char) -> String {
    if is_go_print(c) {
        format!("U+{:04X} '{c}'", u32::from(c))
    } else {
        format!("U+{:04X}", u32::from(c))
    }
}

struct Lexer<'s> {
    src: &'s str,
    pos: usize,
    parens: usize,
    toks: Vec<Token>,
}

/// Splits `src` into tokens; the last one is `Eof` or `Error`.
fn lex(src: &str) -> Vec<Token> {
    let mut lexer = Lexer {
        src,
        pos: 0,
        parens: 0,
        toks: Vec::new(),
    };
    lexer.lex_text();
    lexer.toks
}

impl Lexer<'_> {
    fn push(&mut self, tok: Tok, pos: usize, end: usize) {
        self.toks.push(Token { tok, pos, end });
    }

    /// Records a lexical error; lexing stops.
    fn error(&mut self, pos: usize, msg: impl Into<String>) -> bool {
        self.push(Tok::Error(msg.into()), pos, pos);
        false
    }

    fn lex_text(&mut self) {
        loop {
            let rest = &self.src[self.pos..];
            let Some(offset) = rest.find("{{") else {
                if !rest.is_empty() {
                    self.push(Tok::Text(rest.to_owned()), self.pos, self.src.len());
                }
                let end = self.src.len();
                self.push(Tok::Eof, end, end);
                return;
            };
            let delim = self.pos + offset;
            let trim = has_left_trim(&self.src[delim + 2..]);
            let mut text = &self.src[self.pos..delim];
            if trim {
                text = text.trim_end_matches([' ', '\t', '\r', '\n']);
            }
            if !text.is_empty() {
                self.push(Tok::Text(text.to_owned()), self.pos, self.pos + text.len());
            }
            let inner = delim + if trim { 4 } else { 2 };
            if self.src[inner..].starts_with("/*") {
                if !self.lex_comment(delim, inner) {
                    return;
                }
                continue;
            }
            self.push(Tok::LeftDelim, delim, delim + 2);
            self.pos = inner;
            self.parens = 0;
            if !self.lex_action() {
                return;
            }
        }
    }

    fn lex_comment(&mut self, delim: usize, inner: usize) -> bool {
        let body = inner + 2;
        let Some(offset) = self.src[body..].find("*/") else {
            return self.error(delim, "unclosed comment");
        };
        let mut pos = body + offset + 2;
        match at_right_delim(&self.src[pos..]) {
            None => self.error(delim, "comment ends before closing delimiter"),
            Some(trim) => {
                pos += if trim { 4 } else { 2 };
                if trim {
                    pos += leading_space_len(&self.src[pos..]);
                }
                self.pos = pos;
                true
            }
        }
    }

    /// Lexes the inside of an action, up to and including its right delimiter.
    fn lex_action(&mut self) -> bool {
        loop {
            let start = self.pos;
            let rest = &self.src[start..];
            if let Some(trim) = at_right_delim(rest) {
                if self.parens > 0 {
                    return self.error(start, "unclosed left paren");
                }
                let mut end = start + if trim { 4 } else { 2 };
                self.push(Tok::RightDelim, start, end);
                if trim {
                    end += leading_space_len(&self.src[end..]);
                }
                self.pos = end;
                return true;
            }
            let Some(c) = rest.chars().next() else {
                return self.error(start, "unclosed action");
            };
            let next = rest[c.len_utf8()..].chars().next();
            let ok = match c {
                ' ' | '\t' | '\r' | '\n' => {
                    self.lex_space();
                    true
                }
                '=' => self.single(Tok::Assign, 1),
                ':' if next == Some('=') => self.single(Tok::Declare, 2),
                ':' => self.error(start, "expected :="),
                '|' => self.single(Tok::Pipe, 1),
                '"' => self.lex_quote(b'"', Tok::Str, "unterminated quoted string"),
                '\'' => self.lex_quote(b'\'', Tok::CharConst, "unterminated character constant"),
                '`' => self.lex_raw(),
                '$' => self.lex_field_or_variable(true),
                '.' if next.is_some_and(|n| !n.is_ascii_digit()) => {
                    self.lex_field_or_variable(false)
                }
                '.' | '+' | '-' | '0'..='9' => self.lex_number(),
                c if is_alnum(c) => self.lex_identifier(),
                '(' => {
                    self.parens += 1;
                    self.single(Tok::LeftParen, 1)
                }
                ')' if self.parens == 0 => self.error(start, "unexpected right paren"),
                ')' => {
                    self.parens -= 1;
                    self.single(Tok::RightParen, 1)
                }
                c if c.is_ascii_graphic() => self.single(Tok::Char(c), 1),
                c => self.error(
                    start,
                    format!("unrecognized character in action: {}", go_unicode(c)),
                ),
            };
            if !ok {
                return false;
            }
        }
    }

    fn single(&mut self, tok: Tok, len: usize) -> bool {
        self.push(tok, self.pos, self.pos + len);
        self.pos += len;
        true
    }

    fn lex_space(&mut self) {
        let start = self.pos;
        let mut end = start + leading_space_len(&self.src[start..]);
        // Leave the last space for a following " -}}".
        if has_right_trim(&self.src[end - 1..]) && self.src[end + 1..].starts_with("}}") {
            end -= 1;
        }
        if end > start {
            self.push(Tok::Space, start, end);
        }
        self.pos = end;
    }

    fn lex_quote(&mut self, quote: u8, tok: Tok, unterminated: &str) -> bool {
        let start = self.pos;
        let bytes = self.src.as_bytes();
        let mut i = start + 1;
        loop {
            match bytes.get(i) {
                Some(b'\\') if !matches!(bytes.get(i + 1), None | Some(b'\n')) => i += 2,
                None | Some(b'\n' | b'\\') => return self.error(start, unterminated),
                Some(&b) if b == quote => break,
                Some(_) => i += 1,
            }
        }
        self.push(tok, start, i + 1);
        self.pos = i + 1;
        true
    }

    fn lex_raw(&mut self) -> bool {
        let start = self.pos;
        match self.src[start + 1..].find('`') {
            None => self.error(start, "unterminated raw quoted string"),
            Some(offset) => {
                let end = start + 1 + offset + 1;
                self.push(Tok::RawStr, start, end);
                self.pos = end;
                true
            }
        }
    }

    fn lex_field_or_variable(&mut self, variable: bool) -> bool {
        let start = self.pos;
        let after = start + 1;
        if at_terminator(&self.src[after..]) {
            let tok = if variable {
                Tok::Variable("$".into())
            } else {
                Tok::Dot
            };
            self.push(tok, start, after);
            self.pos = after;
            return true;
        }
        let len: usize = self.src[after..]
            .chars()
            .take_while(|&c| is_alnum(c))
            .map(char::len_utf8)
            .sum();
        let end = after + len;
        if !at_terminator(&self.src[end..]) {
            let c = self.src[end..].chars().next().unwrap_or(' ');
            return self.error(end, format!("bad character {}", go_unicode(c)));
        }
        let name = &self.src[after..end];
        let tok = if variable {
            Tok::Variable(format!("${name}"))
        } else {
            Tok::Field(name.to_owned())
        };
        self.push(tok, start, end);
        self.pos = end;
        true
    }

    fn lex_identifier(&mut self) -> bool {
        let start = self.pos;
        let len: usize = self.src[start..]
            .chars()
            .take_while(|&c| is_alnum(c))
            .map(char::len_utf8)
            .sum();
        let end = start + len;
        if !at_terminator(&self.src[end..]) {
            let c = self.src[end..].chars().next().unwrap_or(' ');
            return self.error(end, format!("bad character {}", go_unicode(c)));
        }
        let word = &self.src[start..end];
        let tok = match (Kw::from_word(word), word) {
            (Some(kw), _) => Tok::Keyword(kw),
            (None, "true") => Tok::Bool(true),
            (None, "false") => Tok::Bool(false),
            (None, "nil") => Tok::Nil,
            (None, _) => Tok::Ident(word.to_owned()),
        };
        self.push(tok, start, end);
        self.pos = end;
        true
    }

    fn lex_number(&mut self) -> bool {
        let start = self.pos;
        let (mut ok, mut end) = scan_number(self.src, start);
        if ok && matches!(self.src.as_bytes().get(end), Some(b'+' | b'-')) {
            // A complex constant such as 1+2i.
            let (ok2, end2) = scan_number(self.src, end);
            end = end2;
            ok = ok2 && self.src.as_bytes().get(end - 1) == Some(&b'i');
        }
        if !ok {
            return self.error(
                start,
                format!("bad number syntax: {}", go_quote(&self.src[start..end])),
            );
        }
        self.push(Tok::Number, start, end);
        self.pos = end;
        true
    }
}

/// Go's `lexer.scanNumber`: returns whether the number is well formed and where it ends.
fn scan_number(src: &str, mut i: usize) -> (bool, usize) {
    const DEC: &[u8] = b"0123456789_";
    const HEX: &[u8] = b"0123456789abcdefABCDEF_";
    let b = src.as_bytes();
    let accept = |i: &mut usize, set: &[u8]| {
        if b.get(*i).is_some_and(|c| set.contains(c)) {
            *i += 1;
            true
        } else {
            false
        }
    };
    let accept_run = |i: &mut usize, set: &[u8]| {
        while b.get(*i).is_some_and(|c| set.contains(c)) {
            *i += 1;
        }
    };
    accept(&mut i, b"+-");
    let mut digits = DEC;
    if accept(&mut i, b"0") {
        if accept(&mut i, b"xX") {
            digits = HEX;
        } else if accept(&mut i, b"oO") {
            digits = b"01234567_";
        } else if accept(&mut i, b"bB") {
            digits = b"01_";
        }
    }
    accept_run(&mut i, digits);
    if accept(&mut i, b".") {
        accept_run(&mut i, digits);
    }
    if digits == DEC && accept(&mut i, b"eE") {
        accept(&mut i, b"+-");
        accept_run(&mut i, DEC);
    }
    if digits == HEX && accept(&mut i, b"pP") {
        accept(&mut i, b"+-");
        accept_run(&mut i, DEC);
    }
    accept(&mut i, b"i");
    match src.get(i..).and_then(|rest| rest.chars().next()) {
        Some(c) if is_alnum(c) => (false, i + c.len_utf8()),
        _ => (true, i),
    }
}

// ---------------------------------------------------------------------------------------------
// AST
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
enum Node {
    Text {
        pos: usize,
        text: String,
    },
    /// `{{pipeline}}`: printed unless it declares variables.
    Action(Pipe),
    /// `if`/`else if`… or `with`/`else with`…: the first branch whose pipeline is true runs.
    IfWith {
        with: bool,
        branches: Vec<Branch>,
        else_list: Option<Vec<Node>>,
    },
    Range {
        pipe: Pipe,
        list: Vec<Node>,
        else_list: Option<Vec<Node>>,
    },
    Break,
    Continue,
}

#[derive(Debug)]
struct Branch {
    pipe: Pipe,
    list: Vec<Node>,
}

#[derive(Debug)]
struct Pipe {
    pos: usize,
    decl: Vec<String>,
    is_assign: bool,
    cmds: Vec<Cmd>,
}

#[derive(Debug)]
struct Cmd {
    pos: usize,
    args: Vec<Operand>,
}

#[derive(Debug)]
struct Operand {
    pos: usize,
    op: Op,
}

#[derive(Debug)]
enum Op {
    Dot,
    Nil,
    Bool(bool),
    Number(NumberLit),
    Str {
        quoted: String,
        value: Rc<str>,
    },
    /// `.a.b`
    Field(Vec<String>),
    /// `$x.a.b`
    Variable(String, Vec<String>),
    Func(Func),
    /// `(pipeline).a.b`
    Chain(Box<Operand>, Vec<String>),
    Pipe(Box<Pipe>),
}

/// A number constant, with every interpretation that fits (as Go's `parse.NumberNode`).
#[derive(Debug)]
struct NumberLit {
    text: String,
    int: Option<i64>,
    uint: Option<u64>,
    float: Option<f64>,
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            write!(
                f,
                "{} {} ",
                self.decl.join(", "),
                if self.is_assign { "=" } else { ":=" }
            )?;
        }
        for (i, cmd) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{cmd}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{arg}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields = |f: &mut fmt::Formatter<'_>, ids: &[String]| {
            ids.iter().try_for_each(|id| write!(f, ".{id}"))
        };
        match &self.op {
            Op::Dot => f.write_str("."),
            Op::Nil => f.write_str("nil"),
            Op::Bool(b) => write!(f, "{b}"),
            Op::Number(n) => f.write_str(&n.text),
            Op::Str { quoted, .. } => f.write_str(quoted),
            Op::Field(ids) => fields(f, ids),
            Op::Variable(name, ids) => {
                f.write_str(name)?;
                fields(f, ids)
            }
            Op::Func(func) => f.write_str(func.name()),
            Op::Chain(inner, ids) => {
                write!(f, "{inner}")?;
                fields(f, ids)
            }
            Op::Pipe(pipe) => write!(f, "({pipe})"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

/// What `textOrAction` produced: a node, or the `{{end}}`/`{{else}}` closing a list.
#[derive(Debug)]
enum Item {
    Node(Node),
    End(usize),
    /// `{{else}}`, or `{{else if`/`{{else with` (the keyword is left unread).
    Else {
        pos: usize,
        chained: Option<Kw>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Delim,
    Paren,
}

type Res<T> = Result<T, GoTemplateError>;

struct Parser<'s> {
    src: &'s str,
    toks: Vec<Token>,
    i: usize,
    /// Variables in scope, innermost last (Go checks them while parsing)…
    vars: Vec<String>,
    /// …and how many times each name is in scope.
    in_scope: HashMap<String, usize>,
    range_depth: usize,
    depth: usize,
    eof: Token,
}

impl<'s> Parser<'s> {
    fn new(src: &'s str) -> Self {
        Parser {
            src,
            toks: lex(src),
            i: 0,
            vars: vec!["$".to_owned()],
            in_scope: HashMap::from([("$".to_owned(), 1)]),
            range_depth: 0,
            depth: 0,
            eof: Token {
                tok: Tok::Eof,
                pos: src.len(),
                end: src.len(),
            },
        }
    }

    fn err(&self, pos: usize, msg: impl fmt::Display) -> GoTemplateError {
        GoTemplateError::Parse(format!("{}: {msg}", located(self.src, pos)))
    }

    fn peek(&self) -> &Token {
        self.toks
            .get(self.i)
            .or(self.toks.last())
            .unwrap_or(&self.eof)
    }

    fn advance(&mut self) -> Res<Token> {
        let token = self.peek().clone();
        if let Tok::Error(msg) = &token.tok {
            return Err(self.err(token.pos, msg));
        }
        self.i += 1;
        Ok(token)
    }

    fn backup(&mut self) {
        self.i = self.i.saturating_sub(1);
    }

    fn skip_space(&mut self) {
        while self.peek().tok == Tok::Space {
            self.i += 1;
        }
    }

    fn next_non_space(&mut self) -> Res<Token> {
        self.skip_space();
        self.advance()
    }

    fn peek_non_space(&mut self) -> &Token {
        self.skip_space();
        self.peek()
    }

    /// Go's `item.String()`.
    fn describe(&self, token: &Token) -> String {
        match &token.tok {
            Tok::Eof => "EOF".into(),
            Tok::Error(msg) => msg.clone(),
            Tok::Keyword(kw) => format!("<{}>", kw.name()),
            Tok::Dot => "<.>".into(),
            Tok::Nil => "<nil>".into(),
            Tok::Text(text) => quote_truncated(text),
            _ => quote_truncated(self.src.get(token.pos..token.end).unwrap_or("")),
        }
    }

    fn unexpected(&self, token: &Token, context: &str) -> GoTemplateError {
        match &token.tok {
            Tok::Error(msg) => self.err(token.pos, msg),
            _ => self.err(
                token.pos,
                format!("unexpected {} in {context}", self.describe(token)),
            ),
        }
    }

    fn push_var(&mut self, name: &str) {
        self.vars.push(name.to_owned());
        *self.in_scope.entry(name.to_owned()).or_default() += 1;
    }

    fn pop_vars(&mut self, mark: usize) {
        while self.vars.len() > mark {
            if let Some(name) = self.vars.pop()
                && let Some(n) = self.in_scope.get_mut(&name)
            {
                *n = n.saturating_sub(1);
            }
        }
    }

    fn enter(&mut self, pos: usize) -> Res<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.err(
                pos,
                format!("template nested too deeply (more than {MAX_NESTING} levels)"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn parse_template(mut self) -> Res<Vec<Node>> {
        let mut root = Vec::new();
        loop {
            if self.peek().tok == Tok::Eof {
                return Ok(root);
            }
            match self.text_or_action()? {
                Item::Node(node) => root.push(node),
                Item::End(pos) => return Err(self.err(pos, "unexpected {{end}}")),
                Item::Else { pos, .. } => return Err(self.err(pos, "unexpected {{else}}")),
            }
        }
    }

    fn text_or_action(&mut self) -> Res<Item> {
        let token = self.next_non_space()?;
        match token.tok {
            Tok::Text(text) => Ok(Item::Node(Node::Text {
                pos: token.pos,
                text,
            })),
            Tok::LeftDelim => self.action(),
            _ => Err(self.unexpected(&token, "input")),
        }
    }

    fn action(&mut self) -> Res<Item> {
        let token = self.next_non_space()?;
        let pos = token.pos;
        match token.tok {
            Tok::Keyword(kw @ (Kw::Block | Kw::Define | Kw::Template)) => Err(self.err(
                pos,
                format!(
                    "{{{{{}}}}} is not supported (named templates are not available)",
                    kw.name()
                ),
            )),
            Tok::Keyword(Kw::Break) => self.loop_control(pos, "{{break}}", Node::Break),
            Tok::Keyword(Kw::Continue) => self.loop_control(pos, "{{continue}}", Node::Continue),
            Tok::Keyword(Kw::Else) => {
                if let Tok::Keyword(kw @ (Kw::If | Kw::With)) = self.peek_non_space().tok {
                    return Ok(Item::Else {
                        pos,
                        chained: Some(kw),
                    });
                }
                self.expect_right_delim("else")?;
                Ok(Item::Else { pos, chained: None })
            }
            Tok::Keyword(Kw::End) => {
                self.expect_right_delim("end")?;
                Ok(Item::End(pos))
            }
            Tok::Keyword(Kw::If) => Ok(Item::Node(self.if_or_with(pos, false)?)),
            Tok::Keyword(Kw::With) => Ok(Item::Node(self.if_or_with(pos, true)?)),
            Tok::Keyword(Kw::Range) => Ok(Item::Node(self.range_control(pos)?)),
            _ => {
                self.backup();
                Ok(Item::Node(Node::Action(
                    self.pipeline("command", End::Delim)?,
                )))
            }
        }
    }

    fn expect_right_delim(&mut self, context: &str) -> Res<()> {
        let token = self.next_non_space()?;
        if token.tok != Tok::RightDelim {
            return Err(self.unexpected(&token, context));
        }
        Ok(())
    }

    fn loop_control(&mut self, pos: usize, name: &str, node: Node) -> Res<Item> {
        self.expect_right_delim(name)?;
        if self.range_depth == 0 {
            return Err(self.err(pos, format!("{name} outside {{{{range}}}}")));
        }
        Ok(Item::Node(node))
    }

    /// `{{if p}} … {{else if q}} … {{else}} … {{end}}`, flattened into branches.
    fn if_or_with(&mut self, pos: usize, with: bool) -> Res<Node> {
        self.enter(pos)?;
        let mark = self.vars.len();
        let (context, kw) = if with {
            ("with", Kw::With)
        } else {
            ("if", Kw::If)
        };
        let mut branches = Vec::new();
        let mut else_list = None;
        loop {
            let pipe = self.pipeline(context, End::Delim)?;
            let (list, next) = self.item_list()?;
            branches.push(Branch { pipe, list });
            match next {
                Item::Else {
                    chained: Some(chained),
                    ..
                } if chained == kw => {
                    self.next_non_space()?;
                }
                Item::Else { .. } => {
                    else_list = Some(self.else_list()?);
                    break;
                }
                Item::Node(_) | Item::End(_) => break,
            }
        }
        self.pop_vars(mark);
        self.leave();
        Ok(Node::IfWith {
            with,
            branches,
            else_list,
        })
    }

    fn range_control(&mut self, pos: usize) -> Res<Node> {
        self.enter(pos)?;
        let mark = self.vars.len();
        let pipe = self.pipeline("range", End::Delim)?;
        self.range_depth += 1;
        let body = self.item_list();
        self.range_depth -= 1;
        let (list, next) = body?;
        let else_list = match next {
            Item::Else { .. } => Some(self.else_list()?),
            Item::Node(_) | Item::End(_) => None,
        };
        self.pop_vars(mark);
        self.leave();
        Ok(Node::Range {
            pipe,
            list,
            else_list,
        })
    }

    /// The list after `{{else}}`, which must end with `{{end}}`.
    fn else_list(&mut self) -> Res<Vec<Node>> {
        let (list, next) = self.item_list()?;
        if let Item::Else { pos, .. } = next {
            return Err(self.err(pos, "expected end; found {{else}}"));
        }
        Ok(list)
    }

    /// Nodes up to the `{{end}}` or `{{else}}` closing them (returned as the second value).
    fn item_list(&mut self) -> Res<(Vec<Node>, Item)> {
        let mut list = Vec::new();
        loop {
            let next = self.peek_non_space();
            if next.tok == Tok::Eof {
                let pos = next.pos;
                return Err(self.err(pos, "unexpected EOF"));
            }
            match self.text_or_action()? {
                Item::Node(node) => list.push(node),
                other => return Ok((list, other)),
            }
        }
    }

    fn pipeline(&mut self, context: &str, end: End) -> Res<Pipe> {
        let pos = self.peek_non_space().pos;
        let mut decl = Vec::new();
        let mut is_assign = false;
        while let Tok::Variable(name) = self.peek_non_space().tok.clone() {
            let save = self.i;
            self.i += 1;
            let next = self.peek_non_space().clone();
            match next.tok {
                Tok::Declare | Tok::Assign => {
                    is_assign = next.tok == Tok::Assign;
                    self.i += 1;
                    self.push_var(&name);
                    decl.push(name);
                    break;
                }
                Tok::Char(',') => {
                    self.i += 1;
                    self.push_var(&name);
                    decl.push(name);
                    if context == "range" && decl.len() < 2 {
                        match self.peek_non_space().tok {
                            Tok::Variable(_) | Tok::RightDelim | Tok::RightParen => continue,
                            _ => {
                                return Err(
                                    self.err(next.pos, "range can only initialize variables")
                                );
                            }
                        }
                    }
                    return Err(self.err(next.pos, format!("too many declarations in {context}")));
                }
                _ => {
                    self.i = save;
                    break;
                }
            }
        }
        let mut cmds = Vec::new();
        loop {
            let token = self.next_non_space()?;
            match token.tok {
                Tok::RightDelim if end == End::Delim => break,
                Tok::RightParen if end == End::Paren => break,
                Tok::Bool(_)
                | Tok::CharConst
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Number
                | Tok::Nil
                | Tok::RawStr
                | Tok::Str
                | Tok::Variable(_)
                | Tok::LeftParen => {
                    self.backup();
                    cmds.push(self.command()?);
                }
                _ => return Err(self.unexpected(&token, context)),
            }
        }
        if cmds.is_empty() {
            return Err(self.err(pos, format!("missing value for {context}")));
        }
        for (i, cmd) in cmds.iter().enumerate().skip(1) {
            if let Some(Op::Bool(_) | Op::Dot | Op::Nil | Op::Number(_) | Op::Str { .. }) =
                cmd.args.first().map(|a| &a.op)
            {
                return Err(self.err(
                    cmd.pos,
                    format!("non executable command in pipeline stage {}", i + 1),
                ));
            }
        }
        Ok(Pipe {
            pos,
            decl,
            is_assign,
            cmds,
        })
    }

    fn command(&mut self) -> Res<Cmd> {
        let pos = self.peek_non_space().pos;
        let mut args = Vec::new();
        loop {
            self.skip_space();
            if let Some(operand) = self.operand()? {
                args.push(operand);
            }
            let token = self.advance()?;
            match token.tok {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RightParen => self.backup(),
                Tok::Pipe => {}
                _ => return Err(self.unexpected(&token, "operand")),
            }
            break;
        }
        if args.is_empty() {
            return Err(self.err(pos, "empty command"));
        }
        Ok(Cmd { pos, args })
    }

    /// A term followed by field accesses.
    fn operand(&mut self) -> Res<Option<Operand>> {
        let Some(term) = self.term()? else {
            return Ok(None);
        };
        if !matches!(self.peek().tok, Tok::Field(_)) {
            return Ok(Some(term));
        }
        let pos = self.peek().pos;
        if matches!(
            term.op,
            Op::Bool(_) | Op::Str { .. } | Op::Number(_) | Op::Nil | Op::Dot
        ) {
            return Err(self.err(
                pos,
                format!("unexpected . after term {}", go_quote(&term.to_string())),
            ));
        }
        let mut fields = Vec::new();
        while let Tok::Field(field) = &self.peek().tok {
            fields.push(field.clone());
            self.i += 1;
        }
        let op = match term.op {
            Op::Field(mut ids) => {
                ids.extend(fields);
                Op::Field(ids)
            }
            Op::Variable(name, mut ids) => {
                ids.extend(fields);
                Op::Variable(name, ids)
            }
            op => Op::Chain(Box::new(Operand { pos: term.pos, op }), fields),
        };
        Ok(Some(Operand { pos, op }))
    }

    fn term(&mut self) -> Res<Option<Operand>> {
        let token = self.next_non_space()?;
        let pos = token.pos;
        let source = self.src.get(token.pos..token.end).unwrap_or("");
        let op = match token.tok {
            Tok::Ident(name) => match Func::lookup(&name) {
                Some(func) => Op::Func(func),
                None => {
                    return Err(self.err(pos, format!("function {} not defined", go_quote(&name))));
                }
            },
            Tok::Dot => Op::Dot,
            Tok::Nil => Op::Nil,
            Tok::Variable(name) => {
                if self.in_scope.get(&name).is_none_or(|&n| n == 0) {
                    return Err(self.err(pos, format!("undefined variable {}", go_quote(&name))));
                }
                Op::Variable(name, Vec::new())
            }
            Tok::Field(name) => Op::Field(vec![name]),
            Tok::Bool(b) => Op::Bool(b),
            Tok::Number | Tok::CharConst => {
                Op::Number(parse_number(source).map_err(|msg| self.err(pos, msg))?)
            }
            Tok::LeftParen => {
                self.enter(pos)?;
                let pipe = self.pipeline("parenthesized pipeline", End::Paren)?;
                self.leave();
                Op::Pipe(Box::new(pipe))
            }
            Tok::Str => {
                let value = unquote_string(source).ok_or_else(|| {
                    self.err(pos, format!("invalid syntax in quoted string {source}"))
                })?;
                Op::Str {
                    quoted: source.to_owned(),
                    value: value.into(),
                }
            }
            Tok::RawStr => {
                let inner = source
                    .strip_prefix('`')
                    .and_then(|s| s.strip_suffix('`'))
                    .unwrap_or("");
                Op::Str {
                    quoted: source.to_owned(),
                    value: inner.replace('\r', "").into(),
                }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        };
        Ok(Some(Operand { pos, op }))
    }
}

/// Go's `%.10q` + `...` for long token values.
fn quote_truncated(s: &str) -> String {
    if s.chars().count() > 10 {
        let head: String = s.chars().take(10).collect();
        format!("{}...", go_quote(&head))
    } else {
        go_quote(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Literals
// ---------------------------------------------------------------------------------------------

/// Go's `parse.newNumber`.
fn parse_number(text: &str) -> Result<NumberLit, String> {
    let mut n = NumberLit {
        text: text.to_owned(),
        int: None,
        uint: None,
        float: None,
    };
    if let Some(body) = text.strip_prefix('\'') {
        let Some((value, _, tail)) = unquote_char(body, '\'') else {
            return Err(format!("invalid syntax in character constant {text}"));
        };
        if tail != "'" {
            return Err(format!("malformed character constant: {text}"));
        }
        n.int = Some(value.into());
        n.uint = Some(value.into());
        n.float = Some(value.into());
        return Ok(n);
    }
    if text.ends_with('i') {
        return Err(format!(
            "complex number constants are not supported: {text}"
        ));
    }
    let unsigned = text.trim_start_matches(['+', '-']);
    if (unsigned.starts_with("0x") || unsigned.starts_with("0X")) && unsigned.contains(['p', 'P']) {
        return Err(format!(
            "hexadecimal floating-point constants are not supported: {text}"
        ));
    }
    n.uint = parse_go_uint(text);
    n.int = parse_go_int(text);
    if n.int == Some(0) {
        n.uint = Some(0);
    }
    if let Some(i) = n.int {
        n.float = Some(i as f64);
    } else if let Some(u) = n.uint {
        n.float = Some(u as f64);
    } else if let Some(f) = parse_go_float(text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!("integer overflow: {}", go_quote(text)));
        }
        n.float = Some(f);
        if f.fract() == 0.0 && f.abs() < 9.2e18 {
            n.int = Some(f as i64);
        }
        if f.fract() == 0.0 && (0.0..1.8e19).contains(&f) {
            n.uint = Some(f as u64);
        }
    }
    if n.int.is_none() && n.uint.is_none() && n.float.is_none() {
        return Err(format!("illegal number syntax: {}", go_quote(text)));
    }
    Ok(n)
}

/// Go's `strconv.underscoreOK`.
fn underscore_ok(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if s.len() >= 2 && s[0] == b'0' && matches!(s[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = s[1].eq_ignore_ascii_case(&b'x');
    }
    for &c in &s[i..] {
        if c.is_ascii_digit() || hex && c.is_ascii_hexdigit() {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else if saw == b'_' {
            return false;
        } else {
            saw = b'!';
        }
    }
    saw != b'_'
}

/// Go's `strconv.ParseUint(s, 0, 64)`.
fn parse_go_uint(text: &str) -> Option<u64> {
    let lower = text.get(..2).map(str::to_ascii_lowercase);
    let (radix, digits) = match lower.as_deref() {
        Some("0x") => (16, &text[2..]),
        Some("0o") => (8, &text[2..]),
        Some("0b") => (2, &text[2..]),
        _ if text.len() > 1 && text.starts_with('0') => (8, &text[1..]),
        _ => (10, text),
    };
    if text.contains('_') && !underscore_ok(text) {
        return None;
    }
    let clean: String = digits.chars().filter(|&c| c != '_').collect();
    if clean.is_empty() || !clean.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(&clean, radix).ok()
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
fn parse_go_int(text: &str) -> Option<i64> {
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = i128::from(parse_go_uint(body)?);
    i64::try_from(if neg { -magnitude } else { magnitude }).ok()
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal text; `None` for out-of-range values.
fn parse_go_float(text: &str) -> Option<f64> {
    if text.contains('_') && !underscore_ok(text) {
        return None;
    }
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    if !clean
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    clean.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Go's `strconv.UnquoteChar`: the first character or escape of `s` — its value, whether it is
/// a raw byte (`\x`, octal) rather than a code point, and the rest.
fn unquote_char(s: &str, quote: char) -> Option<(u32, bool, &str)> {
    let mut chars = s.chars();
    let c = chars.next()?;
    if c == quote {
        return None;
    }
    if c != '\\' {
        return Some((u32::from(c), false, chars.as_str()));
    }
    let escape = chars.next()?;
    let rest = chars.as_str();
    let value = match escape {
        'a' => 7,
        'b' => 8,
        'f' => 12,
        'n' => 10,
        'r' => 13,
        't' => 9,
        'v' => 11,
        '\\' => u32::from('\\'),
        '\'' | '"' if escape == quote => u32::from(escape),
        'x' | 'u' | 'U' => {
            let len = match escape {
                'x' => 2,
                'u' => 4,
                _ => 8,
            };
            let hex = rest.get(..len)?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let value = u32::from_str_radix(hex, 16).ok()?;
            if escape == 'x' {
                return Some((value, true, &rest[len..]));
            }
            char::from_u32(value)?;
            return Some((value, false, &rest[len..]));
        }
        '0'..='7' => {
            let octal = s.get(1..4)?;
            if !octal.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                return None;
            }
            let value = u32::from_str_radix(octal, 8).ok()?;
            if value > 255 {
                return None;
            }
            return Some((value, true, &s[4..]));
        }
        _ => return None,
    };
    Some((value, false, rest))
}

/// Go's `strconv.Unquote` for a `"…"` literal.
fn unquote_string(quoted: &str) -> Option<String> {
    let mut rest = quoted.strip_prefix('"')?.strip_suffix('"')?;
    let mut bytes = Vec::with_capacity(rest.len());
    while !rest.is_empty() {
        let (value, is_byte, tail) = unquote_char(rest, '"')?;
        if is_byte {
            bytes.push(u8::try_from(value).ok()?);
        } else {
            let c = char::from_u32(value)?;
            bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        }
        rest = tail;
    }
    Some(
        String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

// ---------------------------------------------------------------------------------------------
// Functions
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    And,
    Or,
    Not,
    Len,
    Index,
    Print,
    Printf,
    Println,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Default,
    Empty,
    Coalesce,
    Ternary,
    List,
    Dict,
    HasKey,
    ToJson,
    ToString,
    Lower,
    Upper,
    Title,
    Trim,
    TrimPrefix,
    TrimSuffix,
    Replace,
    Contains,
    HasPrefix,
    HasSuffix,
    Trunc,
    Quote,
    Squote,
    Join,
    SplitList,
}

const FUNCS: &[(&str, Func)] = &[
    ("and", Func::And),
    ("or", Func::Or),
    ("not", Func::Not),
    ("len", Func::Len),
    ("index", Func::Index),
    ("print", Func::Print),
    ("printf", Func::Printf),
    ("println", Func::Println),
    ("eq", Func::Eq),
    ("ne", Func::Ne),
    ("lt", Func::Lt),
    ("le", Func::Le),
    ("gt", Func::Gt),
    ("ge", Func::Ge),
    ("default", Func::Default),
    ("empty", Func::Empty),
    ("coalesce", Func::Coalesce),
    ("ternary", Func::Ternary),
    ("list", Func::List),
    ("dict", Func::Dict),
    ("hasKey", Func::HasKey),
    ("toJson", Func::ToJson),
    ("toString", Func::ToString),
    ("lower", Func::Lower),
    ("upper", Func::Upper),
    ("title", Func::Title),
    ("trim", Func::Trim),
    ("trimPrefix", Func::TrimPrefix),
    ("trimSuffix", Func::TrimSuffix),
    ("replace", Func::Replace),
    ("contains", Func::Contains),
    ("hasPrefix", Func::HasPrefix),
    ("hasSuffix", Func::HasSuffix),
    ("trunc", Func::Trunc),
    ("quote", Func::Quote),
    ("squote", Func::Squote),
    ("join", Func::Join),
    ("splitList", Func::SplitList),
];

/// A parameter's Go type, for argument checking as Go's `evalArg`/`validateType` do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param {
    /// `interface{}` or `reflect.Value`: anything, nil included.
    Any,
    Str,
    Int,
    Bool,
    Map,
}

impl Param {
    fn go_type(self) -> &'static str {
        match self {
            Param::Any => "interface {}",
            Param::Str => "string",
            Param::Int => "int",
            Param::Bool => "bool",
            Param::Map => "map[string]interface {}",
        }
    }
}

impl Func {
    fn lookup(name: &str) -> Option<Func> {
        FUNCS.iter().find(|(n, _)| *n == name).map(|&(_, f)| f)
    }

    fn name(self) -> &'static str {
        FUNCS
            .iter()
            .find(|&&(_, f)| f == self)
            .map_or("?", |&(n, _)| n)
    }

    /// Fixed parameters, and the variadic one.
    fn signature(self) -> (&'static [Param], Option<Param>) {
        use Param::{Any, Bool, Int, Map, Str};
        match self {
            Func::And | Func::Or | Func::Index | Func::Eq | Func::Default => (&[Any], Some(Any)),
            Func::Not | Func::Len | Func::Empty | Func::ToJson | Func::ToString => (&[Any], None),
            Func::Print
            | Func::Println
            | Func::Coalesce
            | Func::List
            | Func::Dict
            | Func::Quote
            | Func::Squote => (&[], Some(Any)),
            Func::Printf => (&[Str], Some(Any)),
            Func::Ne | Func::Lt | Func::Le | Func::Gt | Func::Ge => (&[Any, Any], None),
            Func::Ternary => (&[Any, Any, Bool], None),
            Func::HasKey => (&[Map, Str], None),
            Func::Lower | Func::Upper | Func::Title | Func::Trim => (&[Str], None),
            Func::TrimPrefix
            | Func::TrimSuffix
            | Func::Contains
            | Func::HasPrefix
            | Func::HasSuffix
            | Func::SplitList => (&[Str, Str], None),
            Func::Join => (&[Str, Any], None),
            Func::Replace => (&[Str, Str, Str], None),
            Func::Trunc => (&[Int, Str], None),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/// A value during execution: data borrowed from the JSON parameters, or built by the template.
#[derive(Debug, Clone)]
enum Val<'a> {
    /// Go's invalid `reflect.Value`: a missing key, or nil after a pipeline.
    Invalid,
    /// Part of the data; `null` is a (valid) nil interface.
    Json(&'a Value),
    Bool(bool),
    Int(i64),
    /// A byte, from `index` on a string.
    Byte(u8),
    Float(f64),
    Str(Rc<str>),
    List(Rc<ListVal<'a>>),
    Map(Rc<MapVal<'a>>),
}

#[derive(Debug)]
struct ListVal<'a> {
    items: Vec<Val<'a>>,
    /// A `[]string` (from `splitList`) rather than a `[]interface {}`.
    strings: bool,
    depth: usize,
}

#[derive(Debug)]
struct MapVal<'a> {
    entries: BTreeMap<String, Val<'a>>,
    depth: usize,
}

/// A value's shape, JSON and built values alike.
#[derive(Debug, Clone, Copy)]
enum View<'v, 'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Byte(u8),
    Float(f64),
    Str(&'v str),
    List(Items<'v, 'a>),
    Map(Entries<'v, 'a>),
}

#[derive(Debug, Clone, Copy)]
enum Items<'v, 'a> {
    Json(&'a [Value]),
    Own(&'v [Val<'a>]),
}

#[derive(Debug, Clone, Copy)]
enum Entries<'v, 'a> {
    Json(&'a serde_json::Map<String, Value>),
    Own(&'v BTreeMap<String, Val<'a>>),
}

impl<'a> Items<'_, 'a> {
    fn len(self) -> usize {
        match self {
            Items::Json(items) => items.len(),
            Items::Own(items) => items.len(),
        }
    }

    fn get(self, i: usize) -> Option<Val<'a>> {
        match self {
            Items::Json(items) => items.get(i).map(Val::Json),
            Items::Own(items) => items.get(i).cloned(),
        }
    }

    fn iter(self) -> impl Iterator<Item = Val<'a>> {
        (0..self.len()).filter_map(move |i| self.get(i))
    }
}

impl<'v, 'a> Entries<'v, 'a> {
    fn len(self) -> usize {
        match self {
            Entries::Json(map) => map.len(),
            Entries::Own(map) => map.len(),
        }
    }

    fn get(self, key: &str) -> Option<Val<'a>> {
        match self {
            Entries::Json(map) => map.get(key).map(Val::Json),
            Entries::Own(map) => map.get(key).cloned(),
        }
    }

    /// Entries in Go's map order: sorted by key.
    fn sorted(self) -> Vec<(&'v str, Val<'a>)> {
        match self {
            Entries::Json(map) => {
                let mut entries: Vec<(&'v str, Val<'a>)> = map
                    .iter()
                    .map(|(k, v)| (k.as_str(), Val::Json(v)))
                    .collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                entries
            }
            Entries::Own(map) => map.iter().map(|(k, v)| (k.as_str(), v.clone())).collect(),
        }
    }
}

fn json_view(value: &Value) -> View<'_, '_> {
    match value {
        Value::Null => View::Nil,
        Value::Bool(b) => View::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => View::Int(i),
            (None, Some(u)) => View::Uint(u),
            (None, None) => View::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => View::Str(s),
        Value::Array(items) => View::List(Items::Json(items)),
        Value::Object(map) => View::Map(Entries::Json(map)),
    }
}

impl<'a> Val<'a> {
    fn str(s: &str) -> Self {
        Val::Str(Rc::from(s))
    }

    fn view(&self) -> View<'_, 'a> {
        match self {
            Val::Invalid => View::Nil,
            Val::Json(value) => json_view(value),
            Val::Bool(b) => View::Bool(*b),
            Val::Int(i) => View::Int(*i),
            Val::Byte(b) => View::Byte(*b),
            Val::Float(f) => View::Float(*f),
            Val::Str(s) => View::Str(s),
            Val::List(list) => View::List(Items::Own(&list.items)),
            Val::Map(map) => View::Map(Entries::Own(&map.entries)),
        }
    }

    fn is_nil(&self) -> bool {
        matches!(self.view(), View::Nil)
    }

    /// Nesting of built lists and maps (data counts as 0).
    fn depth(&self) -> usize {
        match self {
            Val::List(list) => list.depth,
            Val::Map(map) => map.depth,
            _ => 0,
        }
    }

    /// Go's type name, for messages and `%T`.
    fn type_name(&self) -> &'static str {
        match (self, self.view()) {
            (Val::Invalid, _) => NIL,
            (Val::Json(Value::Null), _) => "interface {}",
            (Val::List(list), _) if list.strings => "[]string",
            (_, View::Nil) => NIL,
            (_, View::Bool(_)) => "bool",
            (_, View::Int(_)) => "int",
            (_, View::Uint(_)) => "uint64",
            (_, View::Byte(_)) => "uint8",
            (_, View::Float(_)) => "float64",
            (_, View::Str(_)) => "string",
            (_, View::List(_)) => "[]interface {}",
            (_, View::Map(_)) => "map[string]interface {}",
        }
    }
}

/// Go's `isTrue` (and sprig's `empty`, negated).
fn truth(v: &Val<'_>) -> bool {
    match v.view() {
        View::Nil => false,
        View::Bool(b) => b,
        View::Int(i) => i != 0,
        View::Uint(u) => u != 0,
        View::Byte(b) => b != 0,
        View::Float(f) => f != 0.0,
        View::Str(s) => !s.is_empty(),
        View::List(items) => items.len() > 0,
        View::Map(entries) => entries.len() > 0,
    }
}

/// What a pipeline yields: a nil interface becomes invalid (Go's `reflect.ValueOf(v.Interface())`).
fn normalize(v: Val<'_>) -> Val<'_> {
    match v {
        Val::Json(Value::Null) => Val::Invalid,
        other => other,
    }
}

/// Work a value costs to pass around.
fn weight(v: &Val<'_>) -> u64 {
    let n = match v.view() {
        View::Str(s) => s.len(),
        View::List(items) => items.len(),
        View::Map(entries) => entries.len(),
        _ => 0,
    };
    1 + n as u64
}

fn text<'v>(v: &'v Val<'_>) -> &'v str {
    match v.view() {
        View::Str(s) => s,
        _ => "",
    }
}

fn make_list<'a>(items: Vec<Val<'a>>, strings: bool) -> Result<Val<'a>, String> {
    let depth = 1 + items.iter().map(Val::depth).max().unwrap_or(0);
    if depth > MAX_VALUE_DEPTH {
        return Err(format!(
            "value nested too deeply (more than {MAX_VALUE_DEPTH} levels)"
        ));
    }
    Ok(Val::List(Rc::new(ListVal {
        items,
        strings,
        depth,
    })))
}

fn make_map<'a>(entries: BTreeMap<String, Val<'a>>) -> Result<Val<'a>, String> {
    let depth = 1 + entries.values().map(Val::depth).max().unwrap_or(0);
    if depth > MAX_VALUE_DEPTH {
        return Err(format!(
            "value nested too deeply (more than {MAX_VALUE_DEPTH} levels)"
        ));
    }
    Ok(Val::Map(Rc::new(MapVal { entries, depth })))
}

// ---------------------------------------------------------------------------------------------
// Evaluator
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

struct Exec<'t, 'a> {
    src: &'t str,
    options: GoOptions,
    limits: Limits,
    vars: Vec<(&'t str, Val<'a>)>,
    out: String,
    work: u64,
}

impl<'t, 'a> Exec<'t, 'a> {
    fn new(src: &'t str, data: &'a Value, options: GoOptions, limits: Limits) -> Self {
        let root = if data.is_null() {
            Val::Invalid
        } else {
            Val::Json(data)
        };
        Exec {
            src,
            options,
            limits,
            vars: vec![("$", root)],
            out: String::new(),
            work: 0,
        }
    }

    /// An execution error at `pos`, about the node `at`.
    fn fail(&self, pos: usize, at: &dyn fmt::Display, msg: impl fmt::Display) -> GoTemplateError {
        GoTemplateError::Exec(format!(
            "{}: executing \"\" at <{at}>: {msg}",
            located(self.src, pos)
        ))
    }

    fn fail_plain(&self, pos: usize, msg: impl fmt::Display) -> GoTemplateError {
        GoTemplateError::Exec(format!("{}: executing \"\": {msg}", located(self.src, pos)))
    }

    fn charge(&mut self, units: u64, pos: usize) -> Res<()> {
        self.work = self.work.saturating_add(units);
        if self.work > self.limits.work {
            return Err(self.fail_plain(
                pos,
                format!(
                    "template execution exceeds its limit of {} steps (is a range unbounded?)",
                    self.limits.work
                ),
            ));
        }
        Ok(())
    }

    fn write(&mut self, pos: usize, s: &str) -> Res<()> {
        if self.out.len() + s.len() > self.limits.output {
            return Err(self.fail_plain(
                pos,
                format!("template output exceeds {} bytes", self.limits.output),
            ));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn walk(&mut self, dot: &Val<'a>, list: &'t [Node]) -> Res<Flow> {
        for node in list {
            let flow = match node {
                Node::Text { pos, text } => {
                    self.write(*pos, text)?;
                    Flow::Normal
                }
                Node::Action(pipe) => {
                    let value = self.eval_pipeline(dot, pipe)?;
                    if pipe.decl.is_empty() {
                        self.print(pipe, &value)?;
                    }
                    Flow::Normal
                }
                Node::IfWith {
                    with,
                    branches,
                    else_list,
                } => self.walk_if_with(*with, dot, branches, else_list.as_deref())?,
                Node::Range {
                    pipe,
                    list,
                    else_list,
                } => self.walk_range(dot, pipe, list, else_list.as_deref())?,
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    /// Prints an action's value as Go's `fmt.Fprint`, nil as `<no value>`.
    fn print(&mut self, pipe: &Pipe, value: &Val<'a>) -> Res<()> {
        if value.is_nil() {
            return self.write(pipe.pos, NO_VALUE);
        }
        let mut buf = Buf::new(self.limits.output.saturating_sub(self.out.len()));
        fmt_value(&mut buf, value, &Spec::verb('v'), 0, true).map_err(|e| match e {
            FmtErr::Overflow => self.fail(
                pipe.pos,
                pipe,
                format!("template output exceeds {} bytes", self.limits.output),
            ),
            other => self.fail(pipe.pos, pipe, other),
        })?;
        self.charge(buf.s.len() as u64, pipe.pos)?;
        self.out.push_str(&buf.s);
        Ok(())
    }

    fn walk_if_with(
        &mut self,
        with: bool,
        dot: &Val<'a>,
        branches: &'t [Branch],
        else_list: Option<&'t [Node]>,
    ) -> Res<Flow> {
        let mark = self.vars.len();
        let mut flow = None;
        for branch in branches {
            let value = self.eval_pipeline(dot, &branch.pipe)?;
            if truth(&value) {
                let body_dot = if with { &value } else { dot };
                flow = Some(self.walk(body_dot, &branch.list)?);
                break;
            }
        }
        let flow = match (flow, else_list) {
            (Some(flow), _) => flow,
            (None, Some(list)) => self.walk(dot, list)?,
            (None, None) => Flow::Normal,
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn walk_range(
        &mut self,
        dot: &Val<'a>,
        pipe: &'t Pipe,
        list: &'t [Node],
        else_list: Option<&'t [Node]>,
    ) -> Res<Flow> {
        let mark = self.vars.len();
        let value = self.eval_pipeline(dot, pipe)?;
        let body_mark = self.vars.len();
        let mut ran = false;
        match value.view() {
            View::List(items) => {
                for (i, elem) in items.iter().enumerate() {
                    ran = true;
                    let index = Val::Int(i64::try_from(i).unwrap_or(i64::MAX));
                    if self.iteration(pipe, list, index, elem, body_mark)? {
                        break;
                    }
                }
            }
            View::Map(entries) => {
                for (key, elem) in entries.sorted() {
                    ran = true;
                    if self.iteration(pipe, list, Val::str(key), elem, body_mark)? {
                        break;
                    }
                }
            }
            View::Int(_) | View::Uint(_) | View::Byte(_) => {
                let n: i128 = match value.view() {
                    View::Int(i) => i.into(),
                    View::Uint(u) => u.into(),
                    View::Byte(b) => b.into(),
                    _ => 0,
                };
                if pipe.decl.len() > 1 {
                    return Err(self.fail(
                        pipe.pos,
                        pipe,
                        format!("can't use {n} to iterate over more than one variable"),
                    ));
                }
                let mut i: i128 = 0;
                while i < n {
                    ran = true;
                    let v = Val::Int(i64::try_from(i).unwrap_or(i64::MAX));
                    if self.iteration(pipe, list, v.clone(), v, body_mark)? {
                        break;
                    }
                    i += 1;
                }
            }
            View::Nil => {}
            View::Bool(_) | View::Float(_) | View::Str(_) => {
                let shown = sprint(std::slice::from_ref(&value), false).unwrap_or_default();
                return Err(self.fail(pipe.pos, pipe, format!("range can't iterate over {shown}")));
            }
        }
        let flow = match else_list {
            Some(else_list) if !ran => self.walk(dot, else_list)?,
            _ => Flow::Normal,
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    /// One iteration of a range body; returns whether the range stops (`{{break}}`).
    fn iteration(
        &mut self,
        pipe: &'t Pipe,
        list: &'t [Node],
        index: Val<'a>,
        elem: Val<'a>,
        body_mark: usize,
    ) -> Res<bool> {
        self.charge(1, pipe.pos)?;
        let decl = &pipe.decl;
        if pipe.is_assign {
            match decl.as_slice() {
                [only] => self.set_var(pipe, only, elem.clone())?,
                [first, second, ..] => {
                    self.set_var(pipe, first, index)?;
                    self.set_var(pipe, second, elem.clone())?;
                }
                [] => {}
            }
        } else {
            // The declarations were pushed by the pipeline: the element is on top, the index
            // under it.
            let len = self.vars.len();
            if !decl.is_empty()
                && let Some(slot) = len.checked_sub(1).and_then(|i| self.vars.get_mut(i))
            {
                slot.1 = elem.clone();
            }
            if decl.len() > 1
                && let Some(slot) = len.checked_sub(2).and_then(|i| self.vars.get_mut(i))
            {
                slot.1 = index;
            }
        }
        let flow = self.walk(&elem, list)?;
        self.vars.truncate(body_mark);
        Ok(flow == Flow::Break)
    }

    /// The innermost variable named `name`; the search is charged to the work budget.
    fn find_var(&mut self, pos: usize, name: &str) -> Res<Option<usize>> {
        let found = self.vars.iter().rposition(|(n, _)| *n == name);
        let scanned = self.vars.len() - found.unwrap_or(0);
        self.charge(scanned as u64, pos)?;
        Ok(found)
    }

    fn set_var(&mut self, pipe: &Pipe, name: &str, value: Val<'a>) -> Res<()> {
        match self
            .find_var(pipe.pos, name)?
            .and_then(|i| self.vars.get_mut(i))
        {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => Err(self.fail(pipe.pos, pipe, format!("undefined variable: {name}"))),
        }
    }

    fn lookup_var(&mut self, at: &Operand, name: &str) -> Res<Val<'a>> {
        match self.find_var(at.pos, name)?.and_then(|i| self.vars.get(i)) {
            Some((_, value)) => Ok(value.clone()),
            None => Err(self.fail(at.pos, at, format!("undefined variable: {name}"))),
        }
    }

    fn eval_pipeline(&mut self, dot: &Val<'a>, pipe: &'t Pipe) -> Res<Val<'a>> {
        let mut value = None;
        for cmd in &pipe.cmds {
            value = Some(normalize(self.eval_command(dot, cmd, value.take())?));
        }
        let value = value.unwrap_or(Val::Invalid);
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(pipe, name, value.clone())?;
            } else {
                self.vars.push((name.as_str(), value.clone()));
            }
        }
        Ok(value)
    }

    /// Evaluates a command; `fin` is the previous command's value in a pipeline.
    fn eval_command(&mut self, dot: &Val<'a>, cmd: &'t Cmd, fin: Option<Val<'a>>) -> Res<Val<'a>> {
        self.charge(1, cmd.pos)?;
        let Some(first) = cmd.args.first() else {
            return Ok(Val::Invalid);
        };
        let has_args = cmd.args.len() > 1 || fin.is_some();
        match &first.op {
            Op::Field(ids) => self.eval_fields(first, dot.clone(), ids, has_args),
            Op::Chain(inner, ids) => {
                let receiver = self.eval_arg(dot, inner, Param::Any)?;
                self.eval_fields(first, receiver, ids, has_args)
            }
            Op::Func(func) => self.eval_call(dot, *func, first, Some(cmd), &cmd.args[1..], fin),
            Op::Variable(name, ids) => {
                let value = self.lookup_var(first, name)?;
                if ids.is_empty() {
                    self.not_a_function(first, has_args)?;
                    Ok(value)
                } else {
                    self.eval_fields(first, value, ids, has_args)
                }
            }
            Op::Pipe(pipe) => {
                self.not_a_function(first, has_args)?;
                self.eval_pipeline(dot, pipe)
            }
            Op::Dot => {
                self.not_a_function(first, has_args)?;
                Ok(dot.clone())
            }
            Op::Bool(b) => {
                self.not_a_function(first, has_args)?;
                Ok(Val::Bool(*b))
            }
            Op::Number(n) => {
                self.not_a_function(first, has_args)?;
                ideal(n).map_err(|msg| self.fail(first.pos, first, msg))
            }
            Op::Str { value, .. } => {
                self.not_a_function(first, has_args)?;
                Ok(Val::Str(value.clone()))
            }
            Op::Nil => {
                self.not_a_function(first, has_args)?;
                Err(self.fail(first.pos, first, "nil is not a command"))
            }
        }
    }

    fn not_a_function(&self, first: &Operand, has_args: bool) -> Res<()> {
        if has_args {
            return Err(self.fail(
                first.pos,
                first,
                format!("can't give argument to non-function {first}"),
            ));
        }
        Ok(())
    }

    /// `.a.b.c` on `receiver`.
    fn eval_fields(
        &self,
        at: &Operand,
        receiver: Val<'a>,
        ids: &[String],
        has_args: bool,
    ) -> Res<Val<'a>> {
        let mut value = receiver;
        for (i, id) in ids.iter().enumerate() {
            value = self.eval_field(at, value, id, has_args && i + 1 == ids.len())?;
        }
        Ok(value)
    }

    fn eval_field(
        &self,
        at: &Operand,
        receiver: Val<'a>,
        name: &str,
        has_args: bool,
    ) -> Res<Val<'a>> {
        match &receiver {
            Val::Invalid if self.options.missing_key_error => {
                return Err(self.fail(
                    at.pos,
                    at,
                    format!("nil data; no entry for key {}", go_quote(name)),
                ));
            }
            Val::Invalid => return Ok(Val::Invalid),
            Val::Json(Value::Null) => {
                return Err(self.fail(
                    at.pos,
                    at,
                    format!("nil pointer evaluating interface {{}}.{name}"),
                ));
            }
            _ => {}
        }
        match receiver.view() {
            View::Map(entries) => {
                if has_args {
                    return Err(self.fail(
                        at.pos,
                        at,
                        format!("{name} is not a method but has arguments"),
                    ));
                }
                match entries.get(name) {
                    Some(value) => Ok(value),
                    None if self.options.missing_key_error => Err(self.fail(
                        at.pos,
                        at,
                        format!("map has no entry for key {}", go_quote(name)),
                    )),
                    None => Ok(Val::Invalid),
                }
            }
            _ => Err(self.fail(
                at.pos,
                at,
                format!(
                    "can't evaluate field {name} in type {}",
                    receiver.type_name()
                ),
            )),
        }
    }

    /// Evaluates an argument for a parameter of type `param` (Go's `evalArg`).
    fn eval_arg(&mut self, dot: &Val<'a>, arg: &'t Operand, param: Param) -> Res<Val<'a>> {
        let literal_mismatch = |exec: &Self, want: &str| {
            exec.fail(arg.pos, arg, format!("expected {want}; found {arg}"))
        };
        let value = match &arg.op {
            Op::Dot => dot.clone(),
            Op::Nil => {
                return match param {
                    Param::Any | Param::Map => Ok(Val::Invalid),
                    _ => Err(self.fail(
                        arg.pos,
                        arg,
                        format!("cannot assign nil to {}", param.go_type()),
                    )),
                };
            }
            Op::Field(ids) => self.eval_fields(arg, dot.clone(), ids, false)?,
            Op::Variable(name, ids) => {
                let value = self.lookup_var(arg, name)?;
                self.eval_fields(arg, value, ids, false)?
            }
            Op::Pipe(pipe) => self.eval_pipeline(dot, pipe)?,
            Op::Func(func) => self.eval_call(dot, *func, arg, None, &[], None)?,
            Op::Chain(inner, ids) => {
                let receiver = self.eval_arg(dot, inner, Param::Any)?;
                self.eval_fields(arg, receiver, ids, false)?
            }
            Op::Bool(b) => {
                return match param {
                    Param::Any | Param::Bool => Ok(Val::Bool(*b)),
                    Param::Str => Err(literal_mismatch(self, "string")),
                    Param::Int => Err(literal_mismatch(self, "integer")),
                    Param::Map => Err(self.cant_handle(arg, param)),
                };
            }
            Op::Number(n) => {
                return match param {
                    Param::Any => ideal(n).map_err(|msg| self.fail(arg.pos, arg, msg)),
                    Param::Int => n
                        .int
                        .map(Val::Int)
                        .ok_or_else(|| literal_mismatch(self, "integer")),
                    Param::Str => Err(literal_mismatch(self, "string")),
                    Param::Bool => Err(literal_mismatch(self, "bool")),
                    Param::Map => Err(self.cant_handle(arg, param)),
                };
            }
            Op::Str { value, .. } => {
                return match param {
                    Param::Any | Param::Str => Ok(Val::Str(value.clone())),
                    Param::Int => Err(literal_mismatch(self, "integer")),
                    Param::Bool => Err(literal_mismatch(self, "bool")),
                    Param::Map => Err(self.cant_handle(arg, param)),
                };
            }
        };
        self.validate(arg, value, param)
    }

    fn cant_handle(&self, arg: &Operand, param: Param) -> GoTemplateError {
        self.fail(
            arg.pos,
            arg,
            format!("can't handle {arg} for arg of type {}", param.go_type()),
        )
    }

    /// Checks an evaluated value against a parameter type (Go's `validateType`).
    fn validate(&self, at: &Operand, value: Val<'a>, param: Param) -> Res<Val<'a>> {
        if param == Param::Any {
            return Ok(value);
        }
        if let Val::Invalid = value {
            return match param {
                Param::Map => Ok(value),
                _ => Err(self.fail(
                    at.pos,
                    at,
                    format!("invalid value; expected {}", param.go_type()),
                )),
            };
        }
        let fits = matches!(
            (param, value.view()),
            (Param::Str, View::Str(_))
                | (Param::Int, View::Int(_))
                | (Param::Bool, View::Bool(_))
                | (Param::Map, View::Map(_))
        );
        if fits {
            Ok(value)
        } else {
            Err(self.fail(
                at.pos,
                at,
                format!(
                    "wrong type for value; expected {}; got {}",
                    param.go_type(),
                    value.type_name()
                ),
            ))
        }
    }

    /// Calls a function (Go's `evalCall`): `ident` names it, `cmd` is the command it heads (if
    /// any), `args` its argument operands and `fin` the value piped into it.
    fn eval_call(
        &mut self,
        dot: &Val<'a>,
        func: Func,
        ident: &'t Operand,
        cmd: Option<&'t Cmd>,
        args: &'t [Operand],
        fin: Option<Val<'a>>,
    ) -> Res<Val<'a>> {
        let (fixed, variadic) = func.signature();
        let num_in = args.len() + usize::from(fin.is_some());
        if variadic.is_some() {
            if num_in < fixed.len() {
                return Err(self.fail(
                    ident.pos,
                    ident,
                    format!(
                        "wrong number of args for {}: want at least {} got {}",
                        func.name(),
                        fixed.len(),
                        args.len()
                    ),
                ));
            }
        } else if num_in != fixed.len() {
            return Err(self.fail(
                ident.pos,
                ident,
                format!(
                    "wrong number of args for {}: want {} got {num_in}",
                    func.name(),
                    fixed.len()
                ),
            ));
        }
        if matches!(func, Func::And | Func::Or) {
            // Short-circuit: stop at the first false (and) or true (or) argument.
            let stop_on = func == Func::Or;
            let mut value = Val::Invalid;
            for arg in args {
                value = self.eval_arg(dot, arg, Param::Any)?;
                if truth(&value) == stop_on {
                    return Ok(value);
                }
            }
            return Ok(fin.unwrap_or(value));
        }
        let param_at = |i: usize| fixed.get(i).copied().or(variadic).unwrap_or(Param::Any);
        let mut values = Vec::with_capacity(num_in);
        for (i, arg) in args.iter().enumerate() {
            values.push(self.eval_arg(dot, arg, param_at(i))?);
        }
        if let Some(fin) = fin {
            values.push(self.validate(ident, fin, param_at(num_in - 1))?);
        }
        let (pos, at): (usize, &dyn fmt::Display) = match cmd {
            Some(cmd) => (cmd.pos, cmd),
            None => (ident.pos, ident),
        };
        self.charge(values.iter().map(weight).sum(), pos)?;
        let result = call(func, values)
            .map_err(|msg| self.fail(pos, at, format!("error calling {}: {msg}", func.name())))?;
        self.charge(weight(&result), pos)?;
        Ok(result)
    }
}

/// A number constant's value (Go's `idealConstant`): a float if written as one, else an int.
fn ideal<'a>(n: &NumberLit) -> Result<Val<'a>, String> {
    let text = n.text.as_str();
    let hex_int = text.len() > 2
        && text.starts_with('0')
        && matches!(text.as_bytes()[1], b'x' | b'X')
        && !text.contains(['p', 'P']);
    let rune = text.starts_with('\'');
    if let Some(f) = n.float
        && !hex_int
        && !rune
        && text.contains(['.', 'e', 'E', 'p', 'P'])
    {
        return Ok(Val::Float(f));
    }
    match (n.int, n.uint) {
        (Some(i), _) => Ok(Val::Int(i)),
        (None, Some(_)) => Err(format!("{text} overflows int")),
        (None, None) => Ok(Val::Invalid),
    }
}

// ---------------------------------------------------------------------------------------------
// Function implementations
// ---------------------------------------------------------------------------------------------

fn call<'a>(func: Func, args: Vec<Val<'a>>) -> Result<Val<'a>, String> {
    let arg = |i: usize| args.get(i).cloned().unwrap_or(Val::Invalid);
    let s = |i: usize| args.get(i).map_or("", text);
    let boolean = |b: bool| Ok(Val::Bool(b));
    match func {
        Func::And | Func::Or => Ok(args.last().cloned().unwrap_or(Val::Invalid)),
        Func::Not => boolean(!truth(&arg(0))),
        Func::Len => length(&arg(0)),
        Func::Index => index(&args),
        Func::Print => Ok(Val::str(&sprint(&args, false)?)),
        Func::Println => Ok(Val::str(&sprint(&args, true)?)),
        Func::Printf => Ok(Val::str(&sprintf(s(0), args.get(1..).unwrap_or_default())?)),
        Func::Eq => {
            let first = arg(0);
            if args.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            for other in &args[1..] {
                if eq(&first, other)? {
                    return boolean(true);
                }
            }
            boolean(false)
        }
        Func::Ne => boolean(!eq(&arg(0), &arg(1))?),
        Func::Lt => boolean(lt(&arg(0), &arg(1))?),
        Func::Le => boolean(le(&arg(0), &arg(1))?),
        Func::Gt => boolean(!le(&arg(0), &arg(1))?),
        Func::Ge => boolean(!lt(&arg(0), &arg(1))?),
        Func::Default => Ok(match args.get(1) {
            Some(given) if truth(given) => given.clone(),
            _ => arg(0),
        }),
        Func::Empty => boolean(!truth(&arg(0))),
        Func::Coalesce => Ok(args
            .iter()
            .find(|v| truth(v))
            .cloned()
            .unwrap_or(Val::Invalid)),
        Func::Ternary => Ok(if matches!(arg(2).view(), View::Bool(true)) {
            arg(0)
        } else {
            arg(1)
        }),
        Func::List => make_list(args, false),
        Func::Dict => {
            let mut entries = BTreeMap::new();
            for pair in args.chunks(2) {
                let key = strval(&pair[0])?;
                entries.insert(key, pair.get(1).cloned().unwrap_or_else(|| Val::str("")));
            }
            make_map(entries)
        }
        Func::HasKey => boolean(match arg(0).view() {
            View::Map(entries) => entries.get(s(1)).is_some(),
            _ => false,
        }),
        Func::ToJson => {
            let mut buf = Buf::new(MAX_OUTPUT);
            write_json(&mut buf, &arg(0), 0)?;
            Ok(Val::str(&buf.s))
        }
        Func::ToString => Ok(Val::str(&strval(&arg(0))?)),
        Func::Lower => Ok(Val::str(
            &s(0)
                .chars()
                .map(|c| simple_case(c, false))
                .collect::<String>(),
        )),
        Func::Upper => Ok(Val::str(
            &s(0)
                .chars()
                .map(|c| simple_case(c, true))
                .collect::<String>(),
        )),
        Func::Title => Ok(Val::str(&title(s(0)))),
        Func::Trim => Ok(Val::str(s(0).trim())),
        Func::TrimPrefix => Ok(Val::str(s(1).strip_prefix(s(0)).unwrap_or(s(1)))),
        Func::TrimSuffix => Ok(Val::str(s(1).strip_suffix(s(0)).unwrap_or(s(1)))),
        Func::Replace => replace(s(0), s(1), s(2)),
        Func::Contains => boolean(s(1).contains(s(0))),
        Func::HasPrefix => boolean(s(1).starts_with(s(0))),
        Func::HasSuffix => boolean(s(1).ends_with(s(0))),
        Func::Trunc => {
            let n = match arg(0).view() {
                View::Int(n) => n,
                _ => 0,
            };
            Ok(Val::str(&trunc(n, s(1))))
        }
        Func::Quote | Func::Squote => {
            let mut buf = Buf::new(MAX_OUTPUT);
            for (i, v) in args.iter().filter(|v| !v.is_nil()).enumerate() {
                if i > 0 {
                    buf.push(" ")?;
                }
                let shown = strval(v)?;
                if func == Func::Quote {
                    buf.push(&go_quote(&shown))?;
                } else {
                    buf.push("'")?;
                    buf.push(&shown)?;
                    buf.push("'")?;
                }
            }
            Ok(Val::str(&buf.s))
        }
        Func::Join => join(s(0), &arg(1)),
        Func::SplitList => {
            let (sep, whole) = (s(0), s(1));
            let parts: Vec<Val<'a>> = if sep.is_empty() {
                whole
                    .chars()
                    .map(|c| Val::str(c.encode_utf8(&mut [0; 4])))
                    .collect()
            } else {
                whole.split(sep).map(Val::str).collect()
            };
            make_list(parts, true)
        }
    }
}

/// Go's builtin `len`.
fn length<'a>(v: &Val<'a>) -> Result<Val<'a>, String> {
    let n = match v.view() {
        View::Nil => return Err("len of nil pointer".into()),
        View::Str(s) => s.len(),
        View::List(items) => items.len(),
        View::Map(entries) => entries.len(),
        _ => return Err(format!("len of type {}", v.type_name())),
    };
    Ok(Val::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

/// Go's builtin `index`: a missing map key yields nil whatever `missingkey` says.
fn index<'a>(args: &[Val<'a>]) -> Result<Val<'a>, String> {
    let Some((first, keys)) = args.split_first() else {
        return Ok(Val::Invalid);
    };
    if first.is_nil() {
        return Err("index of untyped nil".into());
    }
    let mut item = first.clone();
    for key in keys {
        let next = match item.view() {
            View::Nil => return Err("index of nil pointer".into()),
            View::List(items) => {
                let i = index_arg(key, items.len())?;
                items
                    .get(i)
                    .ok_or_else(|| format!("index out of range: {i}"))?
            }
            View::Str(s) => {
                let i = index_arg(key, s.len())?;
                Val::Byte(
                    s.as_bytes()
                        .get(i)
                        .copied()
                        .ok_or_else(|| format!("index out of range: {i}"))?,
                )
            }
            View::Map(entries) => match key.view() {
                View::Str(k) => entries.get(k).unwrap_or(Val::Json(&JSON_NULL)),
                View::Nil => return Err("value is nil; should be of type string".into()),
                _ => {
                    return Err(format!(
                        "value has type {}; should be string",
                        key.type_name()
                    ));
                }
            },
            _ => return Err(format!("can't index item of type {}", item.type_name())),
        };
        item = next;
    }
    Ok(item)
}

fn index_arg(key: &Val<'_>, len: usize) -> Result<usize, String> {
    let x: i128 = match key.view() {
        View::Int(i) => i.into(),
        View::Uint(u) => u.into(),
        View::Byte(b) => b.into(),
        View::Nil => return Err("cannot index slice/array with nil".into()),
        _ => {
            return Err(format!(
                "cannot index slice/array with type {}",
                key.type_name()
            ));
        }
    };
    match usize::try_from(x) {
        Ok(i) if i < len => Ok(i),
        _ => Err(format!("index out of range: {x}")),
    }
}

/// A number, for comparisons.
#[derive(Debug, Clone, Copy)]
enum Num {
    I(i128),
    F(f64),
}

fn num(v: View<'_, '_>) -> Option<Num> {
    match v {
        View::Int(i) => Some(Num::I(i.into())),
        View::Uint(u) => Some(Num::I(u.into())),
        View::Byte(b) => Some(Num::I(b.into())),
        View::Float(f) => Some(Num::F(f)),
        _ => None,
    }
}

fn num_cmp(a: Num, b: Num) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Num::I(x), Num::I(y)) => Some(x.cmp(&y)),
        (Num::F(x), Num::F(y)) => x.partial_cmp(&y),
        (Num::I(x), Num::F(y)) => (x as f64).partial_cmp(&y),
        (Num::F(x), Num::I(y)) => x.partial_cmp(&(y as f64)),
    }
}

/// Go's `eq` for two operands (integers and floats compare by value).
fn eq(a: &Val<'_>, b: &Val<'_>) -> Result<bool, String> {
    Ok(match (a.view(), b.view()) {
        (View::Nil, View::Nil) => true,
        (View::Nil, _) | (_, View::Nil) => false,
        (View::Bool(x), View::Bool(y)) => x == y,
        (View::Str(x), View::Str(y)) => x == y,
        (View::List(_) | View::Map(_), View::List(_) | View::Map(_)) => {
            return Err(format!("non-comparable type {}", b.type_name()));
        }
        (x, y) => match (num(x), num(y)) {
            (Some(p), Some(q)) => num_cmp(p, q) == Some(std::cmp::Ordering::Equal),
            _ => return Err("incompatible types for comparison".into()),
        },
    })
}

/// Go's `lt`.
fn lt(a: &Val<'_>, b: &Val<'_>) -> Result<bool, String> {
    let (x, y) = (a.view(), b.view());
    let basic = |v: View<'_, '_>| !matches!(v, View::Nil | View::List(_) | View::Map(_));
    if !basic(x) || !basic(y) {
        return Err("invalid type for comparison".into());
    }
    match (x, y) {
        (View::Str(p), View::Str(q)) => Ok(p < q),
        (View::Bool(_), View::Bool(_)) => Err("invalid type for comparison".into()),
        _ => match (num(x), num(y)) {
            (Some(p), Some(q)) => Ok(num_cmp(p, q) == Some(std::cmp::Ordering::Less)),
            _ => Err("incompatible types for comparison".into()),
        },
    }
}

fn le(a: &Val<'_>, b: &Val<'_>) -> Result<bool, String> {
    Ok(lt(a, b)? || eq(a, b)?)
}

/// sprig's `strval`: a string as is, anything else as `%v`.
fn strval(v: &Val<'_>) -> Result<String, FmtErr> {
    if let View::Str(s) = v.view() {
        return Ok(s.to_owned());
    }
    let mut buf = Buf::new(MAX_OUTPUT);
    fmt_value(&mut buf, v, &Spec::verb('v'), 0, true)?;
    Ok(buf.s)
}

/// The single-character case mapping of Go's `unicode.ToUpper`/`ToLower`.
fn simple_case(c: char, upper: bool) -> char {
    let mut mapped: Vec<char> = if upper {
        c.to_uppercase().collect()
    } else {
        c.to_lowercase().collect()
    };
    match mapped.len() {
        1 => mapped.pop().unwrap_or(c),
        _ => c,
    }
}

/// Go's `strings.Title`.
fn title(s: &str) -> String {
    let separator = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else if c.is_alphanumeric() {
            false
        } else {
            c.is_whitespace()
        }
    };
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if separator(prev) {
                simple_case(c, true)
            } else {
                c
            };
            prev = c;
            out
        })
        .collect()
}

/// sprig's `trunc`: the first `n` bytes, or the last `-n`.
fn trunc(n: i64, s: &str) -> String {
    let bytes = s.as_bytes();
    let len = bytes.len() as i128;
    let n = i128::from(n);
    let slice = if n < 0 && len + n > 0 {
        bytes.get(usize::try_from(len + n).unwrap_or(0)..)
    } else if n >= 0 && len > n {
        bytes.get(..usize::try_from(n).unwrap_or(0))
    } else {
        None
    };
    String::from_utf8_lossy(slice.unwrap_or(bytes)).into_owned()
}

/// sprig's `replace old new s`.
fn replace<'a>(old: &str, new: &str, s: &str) -> Result<Val<'a>, String> {
    let count = if old.is_empty() {
        s.chars().count() + 1
    } else {
        s.matches(old).count()
    };
    let size = s
        .len()
        .saturating_sub(count.saturating_mul(old.len()))
        .saturating_add(count.saturating_mul(new.len()));
    if size > MAX_OUTPUT {
        return Err(FmtErr::Overflow.to_string());
    }
    Ok(Val::str(&s.replace(old, new)))
}

/// sprig's `join sep list` (nil elements are skipped; a non-list is one element).
fn join<'a>(sep: &str, v: &Val<'a>) -> Result<Val<'a>, String> {
    let mut buf = Buf::new(MAX_OUTPUT);
    let put = |buf: &mut Buf, i: usize, item: &Val<'_>| -> Result<(), FmtErr> {
        if i > 0 {
            buf.push(sep)?;
        }
        match item.view() {
            View::Str(s) => buf.push(s),
            _ => fmt_value(buf, item, &Spec::verb('v'), 0, true),
        }
    };
    match v.view() {
        View::List(items) => {
            for (i, item) in items.iter().filter(|item| !item.is_nil()).enumerate() {
                put(&mut buf, i, &item)?;
            }
        }
        View::Nil => {}
        _ => put(&mut buf, 0, v)?,
    }
    Ok(Val::str(&buf.s))
}

// ---------------------------------------------------------------------------------------------
// Formatting (Go's fmt)
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum FmtErr {
    Overflow,
    TooDeep,
    Unsupported(String),
}

impl fmt::Display for FmtErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FmtErr::Overflow => write!(f, "result exceeds {MAX_OUTPUT} bytes"),
            FmtErr::TooDeep => write!(
                f,
                "value nested too deeply (more than {MAX_FMT_DEPTH} levels)"
            ),
            FmtErr::Unsupported(msg) => f.write_str(msg),
        }
    }
}

impl From<FmtErr> for String {
    fn from(e: FmtErr) -> String {
        e.to_string()
    }
}

/// A string with a size limit.
#[derive(Debug)]
struct Buf {
    s: String,
    limit: usize,
}

impl Buf {
    fn new(limit: usize) -> Self {
        Buf {
            s: String::new(),
            limit,
        }
    }

    fn push(&mut self, t: &str) -> Result<(), FmtErr> {
        if self.s.len().saturating_add(t.len()) > self.limit {
            return Err(FmtErr::Overflow);
        }
        self.s.push_str(t);
        Ok(())
    }

    fn push_char(&mut self, c: char) -> Result<(), FmtErr> {
        self.push(c.encode_utf8(&mut [0; 4]))
    }

    fn repeat(&mut self, c: char, n: usize) -> Result<(), FmtErr> {
        if self.s.len().saturating_add(n.saturating_mul(c.len_utf8())) > self.limit {
            return Err(FmtErr::Overflow);
        }
        self.s.extend(std::iter::repeat_n(c, n));
        Ok(())
    }
}

/// A `printf` directive.
#[derive(Debug, Clone, Default)]
struct Spec {
    verb: char,
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

impl Spec {
    fn verb(verb: char) -> Spec {
        Spec {
            verb,
            ..Spec::default()
        }
    }
}

/// Writes `s` padded with spaces to the width.
fn pad(buf: &mut Buf, s: &str, spec: &Spec) -> Result<(), FmtErr> {
    let n = s.chars().count();
    match spec.width {
        Some(width) if width > n && spec.minus => {
            buf.push(s)?;
            buf.repeat(' ', width - n)
        }
        Some(width) if width > n => {
            buf.repeat(' ', width - n)?;
            buf.push(s)
        }
        _ => buf.push(s),
    }
}

/// Go's `%!verb(type=value)`.
fn bad_verb(buf: &mut Buf, verb: char, type_name: &str, shown: &str) -> Result<(), FmtErr> {
    buf.push("%!")?;
    buf.push_char(verb)?;
    buf.push("(")?;
    buf.push(type_name)?;
    buf.push("=")?;
    buf.push(shown)?;
    buf.push(")")
}

fn unsupported(verb: char, what: &str) -> FmtErr {
    FmtErr::Unsupported(format!("printf: %{verb} is not supported{what}"))
}

/// Formats one value as Go's `fmt` does for `spec`; `top` is false inside lists and maps.
fn fmt_value(
    buf: &mut Buf,
    v: &Val<'_>,
    spec: &Spec,
    depth: usize,
    top: bool,
) -> Result<(), FmtErr> {
    if depth > MAX_FMT_DEPTH {
        return Err(FmtErr::TooDeep);
    }
    if spec.verb == 'T' {
        let name = if v.is_nil() && top {
            NIL
        } else {
            v.type_name()
        };
        return pad(buf, name, spec);
    }
    match v.view() {
        View::Nil if !top => buf.push(NIL),
        View::Nil if spec.verb == 'v' => pad(buf, NIL, spec),
        View::Nil => {
            buf.push("%!")?;
            buf.push_char(spec.verb)?;
            buf.push("(<nil>)")
        }
        View::Bool(b) => match spec.verb {
            'v' | 't' => pad(buf, if b { "true" } else { "false" }, spec),
            verb => bad_verb(buf, verb, "bool", if b { "true" } else { "false" }),
        },
        View::Int(i) => fmt_int(buf, i.into(), spec, v.type_name()),
        View::Uint(u) => fmt_int(buf, u.into(), spec, v.type_name()),
        View::Byte(b) => fmt_int(buf, b.into(), spec, v.type_name()),
        View::Float(f) => fmt_float(buf, f, spec),
        View::Str(s) => fmt_str(buf, s, spec),
        View::List(items) => {
            buf.push("[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    buf.push(" ")?;
                }
                fmt_value(buf, &item, spec, depth + 1, false)?;
            }
            buf.push("]")
        }
        View::Map(entries) => {
            buf.push("map[")?;
            for (i, (key, item)) in entries.sorted().iter().enumerate() {
                if i > 0 {
                    buf.push(" ")?;
                }
                fmt_str(buf, key, spec)?;
                buf.push(":")?;
                fmt_value(buf, item, spec, depth + 1, false)?;
            }
            buf.push("]")
        }
    }
}

fn fmt_int(buf: &mut Buf, n: i128, spec: &Spec, type_name: &str) -> Result<(), FmtErr> {
    match spec.verb {
        'v' | 'd' => int_digits(buf, n, false, false, spec),
        'x' => int_digits(buf, n, true, false, spec),
        'X' => int_digits(buf, n, true, true, spec),
        'c' => {
            let c = u32::try_from(n)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(buf, c.encode_utf8(&mut [0; 4]), spec)
        }
        'q' => {
            let c = u32::try_from(n)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(buf, &go_quote_with(c.encode_utf8(&mut [0; 4]), '\''), spec)
        }
        // Integers from JSON would be float64s in Argo CD: let the float verbs format them.
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => fmt_float(buf, n as f64, spec),
        verb => bad_verb(buf, verb, type_name, &n.to_string()),
    }
}

/// Go's `fmtInteger` for bases 10 and 16.
fn int_digits(buf: &mut Buf, n: i128, hex: bool, upper: bool, spec: &Spec) -> Result<(), FmtErr> {
    let magnitude = n.unsigned_abs();
    let mut digits = match (hex, upper) {
        (false, _) => magnitude.to_string(),
        (true, false) => format!("{magnitude:x}"),
        (true, true) => format!("{magnitude:X}"),
    };
    let sign = if n < 0 {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    let min_digits = match (spec.prec, spec.width) {
        (Some(0), _) if magnitude == 0 => {
            digits.clear();
            0
        }
        (Some(prec), _) => prec,
        (None, Some(width)) if spec.zero && !spec.minus => width.saturating_sub(sign.len()),
        _ => 0,
    };
    if digits.len() < min_digits {
        digits.insert_str(0, &"0".repeat(min_digits - digits.len()));
    }
    let prefix = match (spec.sharp && hex, upper) {
        (false, _) => "",
        (true, false) => "0x",
        (true, true) => "0X",
    };
    pad(buf, &format!("{sign}{prefix}{digits}"), spec)
}

fn fmt_float(buf: &mut Buf, f: f64, spec: &Spec) -> Result<(), FmtErr> {
    let prec = spec.prec.map(|p| i64::try_from(p).unwrap_or(i64::MAX));
    let (verb, prec) = match spec.verb {
        'v' => ('g', prec.unwrap_or(-1)),
        verb @ ('g' | 'G') => (verb, prec.unwrap_or(-1)),
        verb @ ('e' | 'E' | 'f' | 'F') => (verb, prec.unwrap_or(6)),
        verb @ ('b' | 'x' | 'X') => return Err(unsupported(verb, " for floats")),
        verb => return bad_verb(buf, verb, "float64", &format_float(f, 'g', -1)),
    };
    if !f.is_finite() {
        return pad(buf, &format_float(f, verb, prec), spec);
    }
    let body = format_float(f.abs(), verb, prec);
    let sign = if f.is_sign_negative() {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    if let Some(width) = spec.width {
        let len = sign.len() + body.len();
        if spec.zero && !spec.minus && width > len {
            buf.push(sign)?;
            buf.repeat('0', width - len)?;
            return buf.push(&body);
        }
    }
    pad(buf, &format!("{sign}{body}"), spec)
}

fn fmt_str(buf: &mut Buf, s: &str, spec: &Spec) -> Result<(), FmtErr> {
    let truncated = match spec.prec {
        Some(prec) => s.char_indices().nth(prec).map_or(s, |(i, _)| &s[..i]),
        None => s,
    };
    match spec.verb {
        'v' | 's' => pad(buf, truncated, spec),
        'q' => pad(buf, &go_quote(truncated), spec),
        verb @ ('x' | 'X') => {
            let bytes = match spec.prec {
                Some(prec) => s.as_bytes().get(..prec).unwrap_or(s.as_bytes()),
                None => s.as_bytes(),
            };
            let mut hex = String::with_capacity(bytes.len() * 3 + 2);
            for (i, b) in bytes.iter().enumerate() {
                if spec.space && i > 0 {
                    hex.push(' ');
                }
                if spec.sharp && (i == 0 || spec.space) {
                    hex.push_str(if verb == 'X' { "0X" } else { "0x" });
                }
                hex.push_str(&if verb == 'X' {
                    format!("{b:02X}")
                } else {
                    format!("{b:02x}")
                });
            }
            pad(buf, &hex, spec)
        }
        verb => bad_verb(buf, verb, "string", s),
    }
}

/// Go's `fmt.Sprint` (`Sprintln` with `ln`).
fn sprint(args: &[Val<'_>], ln: bool) -> Result<String, FmtErr> {
    let mut buf = Buf::new(MAX_OUTPUT);
    let mut prev_string = false;
    for (i, arg) in args.iter().enumerate() {
        let is_string = matches!(arg.view(), View::Str(_));
        if i > 0 && (ln || (!is_string && !prev_string)) {
            buf.push(" ")?;
        }
        fmt_value(&mut buf, arg, &Spec::verb('v'), 0, true)?;
        prev_string = is_string;
    }
    if ln {
        buf.push("\n")?;
    }
    Ok(buf.s)
}

/// Go's `fmt.Sprintf` for the supported verbs.
fn sprintf(format: &str, args: &[Val<'_>]) -> Result<String, FmtErr> {
    const TOO_LARGE: usize = 1_000_000;
    let mut buf = Buf::new(MAX_OUTPUT);
    let bytes = format.as_bytes();
    let mut next_arg = 0;
    let mut i = 0;
    let number = |i: &mut usize| -> Option<usize> {
        let start = *i;
        while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        (*i > start).then(|| format[start..*i].parse::<usize>().unwrap_or(usize::MAX))
    };
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i] != b'%' {
            i += 1;
        }
        buf.push(&format[start..i])?;
        if i >= bytes.len() {
            break;
        }
        i += 1;
        let mut spec = Spec::default();
        while let Some(&flag) = bytes.get(i) {
            match flag {
                b'#' => spec.sharp = true,
                b'0' => spec.zero = !spec.minus,
                b'+' => spec.plus = true,
                b'-' => {
                    spec.minus = true;
                    spec.zero = false;
                }
                b' ' => spec.space = true,
                _ => break,
            }
            i += 1;
        }
        if matches!(bytes.get(i), Some(b'[' | b'*')) {
            return Err(FmtErr::Unsupported(
                "printf: argument indexes and * widths are not supported".into(),
            ));
        }
        spec.width = number(&mut i);
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            if matches!(bytes.get(i), Some(b'[' | b'*')) {
                return Err(FmtErr::Unsupported(
                    "printf: argument indexes and * precisions are not supported".into(),
                ));
            }
            spec.prec = Some(number(&mut i).unwrap_or(0));
        }
        if spec.width.is_some_and(|w| w > TOO_LARGE) || spec.prec.is_some_and(|p| p > TOO_LARGE) {
            return Err(FmtErr::Overflow);
        }
        let Some(verb) = format[i..].chars().next() else {
            buf.push("%!(NOVERB)")?;
            break;
        };
        i += verb.len_utf8();
        spec.verb = verb;
        if verb == '%' {
            buf.push("%")?;
            continue;
        }
        if matches!(verb, 'b' | 'o' | 'O' | 'U' | 'p') {
            return Err(unsupported(verb, ""));
        }
        if spec.sharp && !matches!(verb, 'x' | 'X') {
            return Err(unsupported(verb, " with the # flag"));
        }
        let Some(arg) = args.get(next_arg) else {
            buf.push("%!")?;
            buf.push_char(verb)?;
            buf.push("(MISSING)")?;
            continue;
        };
        next_arg += 1;
        if verb == 'v' {
            // %+v means "with field names" in Go: no sign.
            spec.plus = false;
        }
        fmt_value(&mut buf, arg, &spec, 0, true)?;
    }
    if next_arg < args.len() {
        buf.push("%!(EXTRA ")?;
        for (k, arg) in args[next_arg..].iter().enumerate() {
            if k > 0 {
                buf.push(", ")?;
            }
            if arg.is_nil() {
                buf.push(NIL)?;
            } else {
                buf.push(arg.type_name())?;
                buf.push("=")?;
                fmt_value(&mut buf, arg, &Spec::verb('v'), 0, true)?;
            }
        }
        buf.push(")")?;
    }
    Ok(buf.s)
}

/// Go's `strconv.IsPrint`, approximately (unassigned code points count as printable).
fn is_go_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(
        u32::from(c),
        0xAD | 0x600..=0x605
            | 0x61C
            | 0x6DD
            | 0x70F
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0xE000..=0xF8FF
            | 0xF0000..=0x10FFFF
            | 0xE0001
            | 0xE0020..=0xE007F
    )
}

/// Go's `strconv.Quote`.
fn go_quote(s: &str) -> String {
    go_quote_with(s, '"')
}

fn go_quote_with(s: &str, quote: char) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            c if c == quote || c == '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if is_go_print(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if u32::from(c) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08x}", u32::from(c));
            }
        }
    }
    out.push(quote);
    out
}

/// Decimal digits of a non-negative finite `a` and the decimal point position:
/// `a = 0.d1d2… × 10^dp`. Zero has no digits.
fn float_digits(a: f64, significant: Option<usize>) -> (Vec<u8>, i64) {
    if a == 0.0 {
        return (Vec::new(), 0);
    }
    let text = match significant {
        None => format!("{a:e}"),
        Some(n) => format!("{:.*e}", n.saturating_sub(1), a),
    };
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    (digits, exp.parse::<i64>().unwrap_or(0) + 1)
}

fn digit_at(digits: &[u8], i: i64) -> char {
    usize::try_from(i)
        .ok()
        .and_then(|i| digits.get(i))
        .map_or('0', |&d| char::from(d))
}

/// strconv's `%e` layout of `digits` with `prec` decimals.
fn layout_e(digits: &[u8], dp: i64, prec: i64, upper: bool) -> String {
    let mut s = String::new();
    s.push(digit_at(digits, 0));
    if prec > 0 {
        s.push('.');
        for i in 1..=prec {
            s.push(digit_at(digits, i));
        }
    }
    s.push(if upper { 'E' } else { 'e' });
    let exp = if digits.is_empty() { 0 } else { dp - 1 };
    s.push(if exp < 0 { '-' } else { '+' });
    let exp = exp.unsigned_abs();
    if exp < 10 {
        s.push('0');
    }
    s.push_str(&exp.to_string());
    s
}

/// strconv's `%f` layout of `digits` with `prec` decimals.
fn layout_f(digits: &[u8], dp: i64, prec: i64) -> String {
    let mut s = String::new();
    if dp > 0 {
        for i in 0..dp {
            s.push(digit_at(digits, i));
        }
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        for i in 0..prec {
            s.push(digit_at(digits, dp + i));
        }
    }
    s
}

/// Go's `strconv.FormatFloat(f, verb, prec, 64)` (`prec` -1: shortest).
fn format_float(f: f64, verb: char, prec: i64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    let a = f.abs();
    let upper = verb.is_ascii_uppercase();
    let body = match verb {
        'f' | 'F' if prec >= 0 => format!("{:.*}", usize::try_from(prec).unwrap_or(0), a),
        'f' | 'F' => {
            let (digits, dp) = float_digits(a, None);
            layout_f(&digits, dp, (digits.len() as i64 - dp).max(0))
        }
        'e' | 'E' => {
            let (digits, dp) = float_digits(a, usize::try_from(prec + 1).ok());
            let prec = if prec < 0 {
                (digits.len() as i64 - 1).max(0)
            } else {
                prec
            };
            layout_e(&digits, dp, prec, upper)
        }
        _ => {
            let shortest = prec < 0;
            let wanted = if prec == 0 { 1 } else { prec };
            let (mut digits, dp) = float_digits(a, usize::try_from(wanted).ok());
            while digits.last() == Some(&b'0') {
                digits.pop();
            }
            let nd = digits.len() as i64;
            let mut prec = if shortest { nd } else { wanted };
            let mut eprec = prec;
            if eprec > nd && nd >= dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp - 1;
            if exp < -4 || exp >= eprec {
                prec = prec.min(nd);
                layout_e(&digits, dp, prec - 1, upper)
            } else {
                if prec > dp {
                    prec = nd;
                }
                layout_f(&digits, dp, (prec - dp).max(0))
            }
        }
    };
    format!("{sign}{body}")
}

// ---------------------------------------------------------------------------------------------
// JSON (Go's encoding/json, as sprig's toJson)
// ---------------------------------------------------------------------------------------------

fn write_json(buf: &mut Buf, v: &Val<'_>, depth: usize) -> Result<(), FmtErr> {
    if depth > MAX_FMT_DEPTH {
        return Err(FmtErr::TooDeep);
    }
    match v.view() {
        View::Nil => buf.push("null"),
        View::Bool(b) => buf.push(if b { "true" } else { "false" }),
        View::Int(i) => buf.push(&i.to_string()),
        View::Uint(u) => buf.push(&u.to_string()),
        View::Byte(b) => buf.push(&b.to_string()),
        View::Float(f) => buf.push(&json_float(f)),
        View::Str(s) => json_string(buf, s),
        View::List(items) => {
            buf.push("[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    buf.push(",")?;
                }
                write_json(buf, &item, depth + 1)?;
            }
            buf.push("]")
        }
        View::Map(entries) => {
            buf.push("{")?;
            for (i, (key, item)) in entries.sorted().iter().enumerate() {
                if i > 0 {
                    buf.push(",")?;
                }
                json_string(buf, key)?;
                buf.push(":")?;
                write_json(buf, item, depth + 1)?;
            }
            buf.push("}")
        }
    }
}

/// Go's float64 encoding: `%f` shortest, `%e` below 1e-6 and from 1e21.
fn json_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".into();
    }
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let mut s = format_float(f, 'e', -1);
        // e-07 → e-7
        let n = s.len();
        if n >= 4
            && s.as_bytes()[n - 4] == b'e'
            && s.as_bytes()[n - 3] == b'-'
            && s.as_bytes()[n - 2] == b'0'
        {
            s.remove(n - 2);
        }
        s
    } else {
        format_float(f, 'f', -1)
    }
}

/// A JSON string as Go encodes it (HTML characters and U+2028/U+2029 escaped).
fn json_string(buf: &mut Buf, s: &str) -> Result<(), FmtErr> {
    buf.push("\"")?;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let escaped: Option<String> = match c {
            '"' => Some("\\\"".into()),
            '\\' => Some("\\\\".into()),
            '\n' => Some("\\n".into()),
            '\r' => Some("\\r".into()),
            '\t' => Some("\\t".into()),
            '\u{8}' => Some("\\b".into()),
            '\u{c}' => Some("\\f".into()),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => Some(format!("\\u{:04x}", u32::from(c))),
            c if u32::from(c) < 0x20 => Some(format!("\\u{:04x}", u32::from(c))),
            _ => None,
        };
        if let Some(escaped) = escaped {
            buf.push(&s[start..i])?;
            buf.push(&escaped)?;
            start = i + c.len_utf8();
        }
    }
    buf.push(&s[start..])?;
    buf.push("\"")
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data() -> Value {
        json!({
            "name": "guestbook",
            "env": "prod",
            "branch": "",
            "n": 3,
            "zero": 0,
            "f": 1.5,
            "big": 1_000_000,
            "t": true,
            "no": false,
            "nil": null,
            "zones": ["a", "b", "c"],
            "empty": [],
            "emptyMap": {},
            "metadata": {"labels": {"env": "dev", "team": "platform"}},
            "path": {"path": "apps/guest-book", "basename": "Guest-Book", "segments": ["apps", "guest-book"]},
            "values": {"replicas": 2, "image": "nginx:1.25", "tags": ["a", "b"], "html": "<a&b>"},
            "m": {"b": 2, "a": 1},
            "floats": {"tenth": 0.1, "small": 0.00001, "six": 123_456.0, "seven": 1_234_567.0, "huge": 1e21, "neg": -2.5, "hundred": 100.0, "tiny": 1e-7},
        })
    }

    fn render(template: &str) -> Result<String, GoTemplateError> {
        render_go(template, &data(), GoOptions::default())
    }

    fn render_strict(template: &str) -> Result<String, GoTemplateError> {
        render_go(
            template,
            &data(),
            GoOptions {
                missing_key_error: true,
            },
        )
    }

    fn check(cases: &[(&str, &str)]) {
        for (template, want) in cases {
            match render(template) {
                Ok(got) => assert_eq!(&got, want, "template {template:?}"),
                Err(e) => panic!("template {template:?}: unexpected error: {e}"),
            }
        }
    }

    /// Each template fails with an error containing the fragment.
    fn check_errors(cases: &[(&str, &str)], parse: bool) {
        for (template, fragment) in cases {
            match render(template) {
                Ok(got) => panic!("template {template:?}: expected an error, rendered {got:?}"),
                Err(e) => {
                    assert_eq!(
                        matches!(e, GoTemplateError::Parse(_)),
                        parse,
                        "template {template:?}: {e}"
                    );
                    let msg = e.to_string();
                    assert!(
                        msg.starts_with("template: :"),
                        "template {template:?}: {msg}"
                    );
                    assert!(
                        msg.contains(fragment),
                        "template {template:?}: {msg:?} lacks {fragment:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn argo_cd_templates() {
        check(&[
            ("{{.name}}-{{.env}}", "guestbook-prod"),
            (r#"{{index .metadata.labels "env"}}"#, "dev"),
            ("{{ .path.basename | lower }}", "guest-book"),
            (r#"{{ default "main" .branch }}"#, "main"),
            (r#"{{ default "main" .nope }}"#, "main"),
            (r#"{{ .branch | default "main" }}"#, "main"),
            (r#"{{ default "main" .env }}"#, "prod"),
            (
                r#"{{ if eq .env "prod" }}manual{{ else }}auto{{ end }}"#,
                "manual",
            ),
            (
                r#"{{ if eq .env "dev" }}manual{{ else }}auto{{ end }}"#,
                "auto",
            ),
            (
                "{{ range $i, $z := .zones }}{{ if $i }},{{ end }}{{ $z }}{{ end }}",
                "a,b,c",
            ),
            (r#"{{ printf "%s-%s" .name .env }}"#, "guestbook-prod"),
            (
                "{{ toJson .values }}",
                r#"{"html":"\u003ca\u0026b\u003e","image":"nginx:1.25","replicas":2,"tags":["a","b"]}"#,
            ),
            ("{{ trunc 5 .name }}", "guest"),
            (r#"{{ replace "/" "-" .path.path }}"#, "apps-guest-book"),
            ("{{ .path.segments }}", "[apps guest-book]"),
            ("{{ index .path.segments 1 }}", "guest-book"),
            (
                "https://{{ .name }}.example.com/{{ .path.path }}",
                "https://guestbook.example.com/apps/guest-book",
            ),
            ("{{ .values.replicas }}", "2"),
        ]);
        let err = render_strict("{{.nope}}").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"template: :1:2: executing "" at <.nope>: map has no entry for key "nope""#
        );
    }

    #[test]
    fn text_trim_and_comments() {
        check(&[
            ("plain text", "plain text"),
            ("", ""),
            ("a {{ .name }} b", "a guestbook b"),
            ("a {{- .name -}} b", "aguestbookb"),
            ("a \n\t {{- .name }}", "aguestbook"),
            ("{{ .name -}} \n\n b", "guestbookb"),
            ("x{{/* a comment */}}y", "xy"),
            ("x {{- /* a comment */ -}} \n y", "xy"),
            ("x {{/* multi\nline */}} y", "x  y"),
            ("{{-3}}", "-3"),
            ("x {{- 3}}", "x3"),
            ("{{3 -}} y", "3y"),
            ("{{ 3 -}}  y", "3y"),
            ("{{ 3  -}}y", "3y"),
            ("a{{\"}}\"}}b", "a}}b"),
            ("line1\n{{ .name }}\nline3", "line1\nguestbook\nline3"),
            ("{{ .name\n}}", "guestbook"),
            ("{ {.name} }", "{ {.name} }"),
        ]);
    }

    #[test]
    fn fields_and_variables() {
        check(&[
            ("{{.metadata.labels.team}}", "platform"),
            ("{{$.name}}", "guestbook"),
            ("{{ $x := .name }}{{ $x }}", "guestbook"),
            ("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", "2"),
            (
                "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}",
                "2",
            ),
            ("{{ if true }}{{ $y := 5 }}{{ $y }}{{ end }}", "5"),
            (
                "{{ with .metadata }}{{ .labels.env }}-{{ $.name }}{{ end }}",
                "dev-guestbook",
            ),
            ("{{ $m := .metadata }}{{ $m.labels.team }}", "platform"),
            ("{{ (.metadata).labels.env }}", "dev"),
            (r#"{{ (dict "a" (dict "b" "c")).a.b }}"#, "c"),
            ("{{ range .zones }}{{ $.env }}{{ end }}", "prodprodprod"),
            ("{{ .nope }}", "<no value>"),
            ("{{ .nope.deeper }}", "<no value>"),
            ("{{ .nil }}", "<no value>"),
            ("{{ $x := .nope }}{{ $x.y }}", "<no value>"),
            ("{{ . | len }}", "18"),
            ("{{ if $x := .name }}{{ $x }}{{ end }}", "guestbook"),
            (
                "{{ with $x := .metadata.labels }}{{ $x.env }}{{ .team }}{{ end }}",
                "devplatform",
            ),
        ]);
    }

    #[test]
    fn literals() {
        check(&[
            (r#"{{ "a\tb\u00e9\x41\101\"" }}"#, "a\tbéAA\""),
            ("{{ `raw \\n {{ }}` }}", "raw \\n {{ }}"),
            ("{{ 1 }}", "1"),
            ("{{ -2 }}", "-2"),
            ("{{ +7 }}", "7"),
            ("{{ 1.5 }}", "1.5"),
            ("{{ 3.0 }}", "3"),
            ("{{ 1e3 }}", "1000"),
            ("{{ 1e6 }}", "1e+06"),
            ("{{ .5 }}", "0.5"),
            ("{{ 0x1F }}", "31"),
            ("{{ 0X1e }}", "30"),
            ("{{ 0o17 }}", "15"),
            ("{{ 017 }}", "15"),
            ("{{ 0b101 }}", "5"),
            ("{{ 1_000_000 }}", "1000000"),
            ("{{ 'a' }}", "97"),
            (r"{{ '\n' }}", "10"),
            ("{{ true }}", "true"),
            ("{{ false }}", "false"),
            ("{{ 9223372036854775807 }}", "9223372036854775807"),
            ("{{ -9223372036854775808 }}", "-9223372036854775808"),
        ]);
    }

    #[test]
    fn control_structures() {
        check(&[
            ("{{ if .nope }}a{{ else if .t }}b{{ else }}c{{ end }}", "b"),
            ("{{ if .nope }}a{{ else if .no }}b{{ else }}c{{ end }}", "c"),
            ("{{ if .t }}a{{ else if .t }}b{{ end }}", "a"),
            ("{{ if and .t .n }}yes{{ end }}", "yes"),
            ("{{ with .nope }}x{{ else }}y{{ end }}", "y"),
            (
                "{{ with .nope }}x{{ else with .env }}{{ . }}{{ end }}",
                "prod",
            ),
            ("{{ with .env }}{{ . }}{{ end }}", "prod"),
            (
                "{{ range $k, $v := .m }}{{ $k }}={{ $v }};{{ end }}",
                "a=1;b=2;",
            ),
            ("{{ range .m }}{{ . }}{{ end }}", "12"),
            ("{{ range $v := .zones }}{{ $v }}{{ end }}", "abc"),
            ("{{ range .empty }}x{{ else }}none{{ end }}", "none"),
            ("{{ range .emptyMap }}x{{ else }}none{{ end }}", "none"),
            ("{{ range .nope }}x{{ else }}none{{ end }}", "none"),
            ("{{ range .nil }}x{{ else }}none{{ end }}", "none"),
            ("{{ range 3 }}{{ . }}{{ end }}", "012"),
            ("{{ range $i := .n }}{{ $i }}{{ end }}", "012"),
            ("{{ range 0 }}x{{ else }}zero{{ end }}", "zero"),
            (
                r#"{{ range .zones }}{{ if eq . "b" }}{{ break }}{{ end }}{{ . }}{{ end }}"#,
                "a",
            ),
            (
                r#"{{ range .zones }}{{ if eq . "b" }}{{ continue }}{{ end }}{{ . }}{{ end }}"#,
                "ac",
            ),
            (
                "{{ range .zones }}{{ range $.empty }}{{ else }}{{ break }}{{ end }}x{{ end }}",
                "",
            ),
            (
                "{{ range $i, $z := .zones }}{{ range $j, $y := $.zones }}{{ if eq $i $j }}{{ $z }}{{ $y }}{{ end }}{{ end }}{{ end }}",
                "aabbcc",
            ),
            (
                r#"{{ $i := 0 }}{{ $v := "" }}{{ range $i, $v = .zones }}{{ end }}{{ $i }}{{ $v }}"#,
                "2c",
            ),
            (
                "{{ range .zones -}}\n  - {{ . }}\n{{ end }}",
                "- a\n- b\n- c\n",
            ),
        ]);
    }

    #[test]
    fn truthiness() {
        for falsy in [
            "\"\"",
            "0",
            "0.0",
            "false",
            ".empty",
            ".emptyMap",
            ".nil",
            ".nope",
            ".zero",
            ".branch",
            "(list)",
            "(dict)",
        ] {
            let template = format!("{{{{ if {falsy} }}}}t{{{{ else }}}}f{{{{ end }}}}");
            assert_eq!(render(&template).unwrap(), "f", "{template}");
        }
        for truthy in [
            "\"x\"",
            "1",
            "-1",
            "0.5",
            "true",
            ".zones",
            ".m",
            ".n",
            ".f",
            ".t",
            "(list 0)",
            "(dict \"a\" 0)",
        ] {
            let template = format!("{{{{ if {truthy} }}}}t{{{{ else }}}}f{{{{ end }}}}");
            assert_eq!(render(&template).unwrap(), "t", "{template}");
        }
    }

    #[test]
    fn builtin_functions() {
        check(&[
            ("{{ len .zones }}", "3"),
            ("{{ len .name }}", "9"),
            ("{{ len .m }}", "2"),
            ("{{ .zones | len }}", "3"),
            ("{{ index .zones 1 }}", "b"),
            (r#"{{ index .values "tags" 0 }}"#, "a"),
            (r#"{{ index . "metadata" "labels" "team" }}"#, "platform"),
            (r#"{{ index .m "zz" }}"#, "<no value>"),
            (r#"{{ index "abc" 1 }}"#, "98"),
            ("{{ index .zones }}", "[a b c]"),
            ("{{ print 1 2 }}", "1 2"),
            (r#"{{ print "a" "b" }}"#, "ab"),
            (r#"{{ print 1 "a" 2 }}"#, "1a2"),
            ("{{ print .nope }}", "<nil>"),
            (r#"{{ println "a" 1 }}"#, "a 1\n"),
            (r#"{{ eq .env "dev" "prod" }}"#, "true"),
            (r#"{{ eq .env "dev" "qa" }}"#, "false"),
            (r#"{{ .env | eq "prod" }}"#, "true"),
            ("{{ eq .n 3 }}", "true"),
            ("{{ eq .n 3.0 }}", "true"),
            ("{{ eq .f 1.5 }}", "true"),
            (r#"{{ eq .nope "x" }}"#, "false"),
            ("{{ eq .nil .nope }}", "true"),
            ("{{ eq .t true }}", "true"),
            (r#"{{ ne .env "dev" }}"#, "true"),
            ("{{ lt 1 2 }}", "true"),
            (r#"{{ lt "b" "a" }}"#, "false"),
            ("{{ le 2 2 }}", "true"),
            ("{{ gt 3 2.5 }}", "true"),
            ("{{ ge 1 1 }}", "true"),
            ("{{ gt .n 5 }}", "false"),
            ("{{ and 1 2 }}", "2"),
            ("{{ and 1 0 }}", "0"),
            ("{{ and .name .env }}", "prod"),
            (r#"{{ or 0 "" }}"#, ""),
            (r#"{{ or .branch "fallback" }}"#, "fallback"),
            ("{{ or .name (index .zones 99) }}", "guestbook"),
            ("{{ and .nope (index .zones 99) }}", "<no value>"),
            ("{{ .t | and 1 }}", "true"),
            ("{{ not .t }}", "false"),
            ("{{ not .nope }}", "true"),
        ]);
    }

    #[test]
    fn sprig_functions() {
        check(&[
            (r#"{{ lower "ABC" }}"#, "abc"),
            (r#"{{ upper "abc" }}"#, "ABC"),
            (
                r#"{{ title "hello world-foo_bar" }}"#,
                "Hello World-Foo_bar",
            ),
            (r#"{{ trim "  x y \n" }}"#, "x y"),
            (r#"{{ trimPrefix "v" "v1.2" }}"#, "1.2"),
            (r#"{{ "repo.git" | trimSuffix ".git" }}"#, "repo"),
            (r#"{{ trimPrefix "x" "v1" }}"#, "v1"),
            (r#"{{ replace "a" "" "banana" }}"#, "bnn"),
            (r#"{{ contains "book" .name }}"#, "true"),
            (r#"{{ hasPrefix "guest" .name }}"#, "true"),
            (r#"{{ hasSuffix "guest" .name }}"#, "false"),
            ("{{ trunc -4 .name }}", "book"),
            ("{{ trunc 100 .name }}", "guestbook"),
            ("{{ trunc 0 .name }}", ""),
            ("{{ trunc -100 .name }}", "guestbook"),
            (r#"{{ quote "a" 1 .nope }}"#, r#""a" "1""#),
            (r#"{{ .name | quote }}"#, r#""guestbook""#),
            (r#"{{ quote "say \"hi\"" }}"#, r#""say \"hi\"""#),
            (r#"{{ squote .name }}"#, "'guestbook'"),
            (r#"{{ join "," .zones }}"#, "a,b,c"),
            (r#"{{ join "-" (list 1 nil "x" 2.5) }}"#, "1-x-2.5"),
            (r#"{{ join "," .name }}"#, "guestbook"),
            (r#"{{ join "," .nope }}"#, ""),
            (r#"{{ splitList "/" .path.path }}"#, "[apps guest-book]"),
            (r#"{{ len (splitList "," "") }}"#, "1"),
            (r#"{{ splitList "" "abc" }}"#, "[a b c]"),
            (r#"{{ index (splitList "/" .path.path) 1 }}"#, "guest-book"),
            (r#"{{ list 1 "a" nil .zones }}"#, "[1 a <nil> [a b c]]"),
            (r#"{{ dict "b" 1 "a" (list 1 2) }}"#, "map[a:[1 2] b:1]"),
            (r#"{{ dict "a" 1 "b" }}"#, "map[a:1 b:]"),
            (r#"{{ ternary "yes" "no" true }}"#, "yes"),
            (r#"{{ .no | ternary "yes" "no" }}"#, "no"),
            (r#"{{ empty "" }}"#, "true"),
            ("{{ empty .zones }}", "false"),
            (r#"{{ coalesce .nope "" .branch "x" }}"#, "x"),
            ("{{ coalesce .nope }}", "<no value>"),
            (r#"{{ hasKey .metadata.labels "env" }}"#, "true"),
            (r#"{{ hasKey .metadata.labels "nope" }}"#, "false"),
            (r#"{{ hasKey .nope "x" }}"#, "false"),
            ("{{ toString 5 }}", "5"),
            ("{{ toString .zones }}", "[a b c]"),
            ("{{ toJson .zones }}", r#"["a","b","c"]"#),
            ("{{ toJson .nope }}", "null"),
            (
                "{{ toJson .floats }}",
                r#"{"huge":1e+21,"hundred":100,"neg":-2.5,"seven":1234567,"six":123456,"small":0.00001,"tenth":0.1,"tiny":1e-7}"#,
            ),
            (
                r#"{{ toJson "\n\t\b\f\u0001\u2028" }}"#,
                r#""\n\t\b\f\u0001\u2028""#,
            ),
            (
                r#"{{ toJson (dict "k" (list true 1 nil)) }}"#,
                r#"{"k":[true,1,null]}"#,
            ),
            (r#"{{ default "x" }}"#, "x"),
            ("{{ default 5 0 }}", "5"),
            ("{{ default 5 .zones }}", "[a b c]"),
        ]);
    }

    #[test]
    fn value_formatting() {
        check(&[
            ("{{ .zones }}", "[a b c]"),
            ("{{ .m }}", "map[a:1 b:2]"),
            ("{{ .metadata }}", "map[labels:map[env:dev team:platform]]"),
            ("{{ .empty }}", "[]"),
            ("{{ .emptyMap }}", "map[]"),
            ("{{ .f }}", "1.5"),
            ("{{ .big }}", "1000000"),
            ("{{ .t }}", "true"),
            ("{{ list .nil }}", "[<nil>]"),
            ("{{ .floats.tenth }}", "0.1"),
            ("{{ .floats.small }}", "1e-05"),
            ("{{ .floats.six }}", "123456"),
            ("{{ .floats.seven }}", "1.234567e+06"),
            ("{{ .floats.huge }}", "1e+21"),
            ("{{ .floats.neg }}", "-2.5"),
            ("{{ .floats.hundred }}", "100"),
            ("{{ .floats.tiny }}", "1e-07"),
        ]);
    }

    #[test]
    fn printf_verbs() {
        check(&[
            (
                r#"{{ printf "%d|%5d|%-5d|%05d|%+d|% d" 42 42 42 42 42 42 }}"#,
                "42|   42|42   |00042|+42| 42",
            ),
            (
                r#"{{ printf "%05d|%.3d|%x|%X|%#x" -42 7 255 255 255 }}"#,
                "-0042|007|ff|FF|0xff",
            ),
            (
                r#"{{ printf "%s|%5s|%-5s|%.2s|%q" "ab" "ab" "ab" "abc" "a\"b\n" }}"#,
                "ab|   ab|ab   |ab|\"a\\\"b\\n\"",
            ),
            (
                r#"{{ printf "%v %v %v %v" 1 "s" true 1.5 }}"#,
                "1 s true 1.5",
            ),
            (
                r#"{{ printf "%t %x %X" false "hi" "hi" }}"#,
                "false 6869 6869",
            ),
            (
                r#"{{ printf "%.2f|%8.3f|%08.3f|%f" 3.14159 3.14159 -3.14159 2.5 }}"#,
                "3.14|   3.142|-003.142|2.500000",
            ),
            (
                r#"{{ printf "%e|%E|%.2e" 1234.5678 1234.5678 0.0 }}"#,
                "1.234568e+03|1.234568E+03|0.00e+00",
            ),
            (
                r#"{{ printf "%g|%.3g|%g|%.3g" 0.00001234 1234.5678 100000.0 1.0 }}"#,
                "1.234e-05|1.23e+03|100000|1",
            ),
            (r#"{{ printf "%.0f|%.1f" .n .n }}"#, "3|3.0"),
            (r#"{{ printf "%c|%q" 65 65 }}"#, "A|'A'"),
            (
                r#"{{ printf "%T %T %T %T %T %T" 1 "s" 1.5 .zones .m .nope }}"#,
                "int string float64 []interface {} map[string]interface {} <nil>",
            ),
            (r#"{{ printf "100%%" }}"#, "100%"),
            (r#"{{ printf "%d" "x" }}"#, "%!d(string=x)"),
            (r#"{{ printf "%s" 5 }}"#, "%!s(int=5)"),
            (r#"{{ printf "%d" 1.5 }}"#, "%!d(float64=1.5)"),
            (r#"{{ printf "%z" true }}"#, "%!z(bool=true)"),
            (r#"{{ printf "%d %d" 1 }}"#, "1 %!d(MISSING)"),
            (r#"{{ printf "%d" 1 2 "x" }}"#, "1%!(EXTRA int=2, string=x)"),
            (r#"{{ printf "%" }}"#, "%!(NOVERB)"),
            (r#"{{ printf "%v|%s" .nope .nope }}"#, "<nil>|%!s(<nil>)"),
            (
                r#"{{ printf "%d|%s|%v" .m.a .zones .m }}"#,
                "1|[a b c]|map[a:1 b:2]",
            ),
            (r#"{{ printf "%d" (list 1 "a") }}"#, "[1 %!d(string=a)]"),
            (r#"{{ printf "%6.2f|%-6.1f|" .f .f }}"#, "  1.50|1.5   |"),
            (r#"{{ printf "%+v" 3 }}"#, "3"),
            (r#"{{ printf "%s" "é" | printf "%q" }}"#, "\"é\""),
            (r#"{{ printf "%q" "\u00a0\x01" }}"#, r#""\u00a0\x01""#),
        ]);
    }

    #[test]
    fn missing_key_error_option() {
        let err = render_strict("{{.name}}\n  {{ .nope }}").unwrap_err();
        assert_eq!(
            err,
            GoTemplateError::Exec(
                r#"template: :2:5: executing "" at <.nope>: map has no entry for key "nope""#
                    .into()
            )
        );
        let err = render_strict("{{ .metadata.nope.x }}")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(r#"at <.metadata.nope.x>: map has no entry for key "nope""#),
            "{err}"
        );
        // As in Go, the missing key fails before default sees it.
        let err = render_strict(r#"{{ .nope | default "x" }}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains(r#"map has no entry for key "nope""#), "{err}");
        // index ignores missingkey, as in Go; null values are present keys.
        assert_eq!(
            render_strict(r#"{{ index .m "zz" }}"#).unwrap(),
            "<no value>"
        );
        assert_eq!(render_strict("{{ .nil }}").unwrap(), "<no value>");
        assert_eq!(render_strict(r#"{{ default "x" .branch }}"#).unwrap(), "x");
        let err = render_strict("{{ $x := index .m \"zz\" }}{{ $x.y }}")
            .unwrap_err()
            .to_string();
        assert!(err.contains(r#"nil data; no entry for key "y""#), "{err}");
    }

    #[test]
    fn options_parse() {
        let opts =
            |v: &[&str]| GoOptions::parse(&v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(
            opts(&[]).unwrap(),
            GoOptions {
                missing_key_error: false
            }
        );
        assert_eq!(
            opts(&["missingkey=error"]).unwrap(),
            GoOptions {
                missing_key_error: true
            }
        );
        for default in [
            "missingkey=default",
            "missingkey=invalid",
            "missingkey=zero",
        ] {
            assert_eq!(opts(&[default]).unwrap(), GoOptions::default(), "{default}");
        }
        assert_eq!(
            opts(&["missingkey=error", "missingkey=default"]).unwrap(),
            GoOptions::default()
        );
        let err = opts(&["missingkey=error", "nope=1"]).unwrap_err();
        assert!(matches!(err, GoTemplateError::Parse(_)));
        assert!(
            err.to_string().contains("unrecognized option: nope=1"),
            "{err}"
        );
        assert!(
            opts(&["missingkey=maybe"])
                .unwrap_err()
                .to_string()
                .contains("missingkey=maybe")
        );
        assert!(
            opts(&[""])
                .unwrap_err()
                .to_string()
                .contains("empty option")
        );
    }

    #[test]
    fn parse_errors() {
        check_errors(
            &[
                ("{{.name", "unclosed action"),
                ("{{ .name }", r#"unexpected "}" in operand"#),
                ("{{ .name ", "unclosed action"),
                ("{{end}}", "unexpected {{end}}"),
                ("x{{else}}", "unexpected {{else}}"),
                ("{{foo}}", r#"function "foo" not defined"#),
                ("{{ .a | toYaml }}", r#"function "toYaml" not defined"#),
                ("{{if .a}}x", "unexpected EOF"),
                ("{{range .a}}x{{else}}", "unexpected EOF"),
                ("{{$x}}", r#"undefined variable "$x""#),
                (
                    "{{ if true }}{{ $y := 2 }}{{ end }}{{ $y }}",
                    r#"undefined variable "$y""#,
                ),
                ("{{break}}", "{{break}} outside {{range}}"),
                (
                    "{{range .zones}}{{else}}{{continue}}{{end}}",
                    "{{continue}} outside {{range}}",
                ),
                ("{{(1}}", "unclosed left paren"),
                ("{{1)}}", "unexpected right paren"),
                (r#"{{"abc}}"#, "unterminated quoted string"),
                ("{{`abc}}", "unterminated raw quoted string"),
                ("{{'a}}", "unterminated character constant"),
                ("{{'ab'}}", "malformed character constant"),
                ("{{/* x }}", "unclosed comment"),
                ("{{/* x */ }}", "comment ends before closing delimiter"),
                ("{{if}}{{end}}", "missing value for if"),
                ("{{}}", "missing value for command"),
                ("{{ print () }}", "missing value for parenthesized pipeline"),
                (
                    "{{ .name | 1 }}",
                    "non executable command in pipeline stage 2",
                ),
                (
                    r#"{{ .a | lower | "x" }}"#,
                    "non executable command in pipeline stage 3",
                ),
                (r#"{{template "x"}}"#, "{{template}} is not supported"),
                (r#"{{define "x"}}{{end}}"#, "{{define}} is not supported"),
                ("{{1.2.3}}", r#"unexpected ".3" in operand"#),
                (r#"{{ "a".b }}"#, "unexpected . after term"),
                (
                    "{{ range $i, $v, $w := .zones }}{{end}}",
                    "too many declarations in range",
                ),
                (
                    "{{ range $i, 3 }}{{end}}",
                    "range can only initialize variables",
                ),
                (
                    "{{ with $a, $b := .x }}{{end}}",
                    "too many declarations in with",
                ),
                ("{{3x}}", "bad number syntax"),
                ("{{ 1+2 }}", "bad number syntax"),
                ("{{ 1+2i }}", "complex number constants are not supported"),
                ("{{ 0x1p-2 }}", "hexadecimal floating-point"),
                ("{{ .a# }}", "bad character U+0023 '#'"),
                ("{{ 99999999999999999999 }}", "integer overflow"),
                ("{{ 1e400 }}", "illegal number syntax"),
                ("{{ 08 }}", "integer overflow"),
                (r#"{{ "\q" }}"#, "invalid syntax"),
                (r#"{{ "\'" }}"#, "invalid syntax"),
                (
                    "{{ if .a }}{{ else }}{{ else }}{{ end }}",
                    "expected end; found {{else}}",
                ),
                ("{{ end x }}", r#"unexpected "x" in end"#),
                ("{{ else x }}", r#"unexpected "x" in else"#),
                ("{{ break 1 }}", "in {{break}}"),
                ("{{ : }}", "expected :="),
                ("{{ 1 \u{1} }}", "unrecognized character in action: U+0001"),
                ("{{ .a else }}", "unexpected <else> in operand"),
                (
                    "{{ if .a }}{{ else with .b }}{{ end }}",
                    "unexpected <with> in input",
                ),
                ("{{ $x := }}", "missing value for command"),
            ],
            true,
        );
        let err = render("{{ .a }}\n{{ foo }}").unwrap_err();
        assert_eq!(
            err,
            GoTemplateError::Parse(r#"template: :2:3: function "foo" not defined"#.into())
        );
        let err = render("a\nb {{ end }}").unwrap_err();
        assert_eq!(
            err,
            GoTemplateError::Parse("template: :2:5: unexpected {{end}}".into())
        );
    }

    #[test]
    fn exec_errors() {
        check_errors(
            &[
                (
                    "{{ .name.x }}",
                    "at <.name.x>: can't evaluate field x in type string",
                ),
                (
                    "{{ .zones.x }}",
                    "can't evaluate field x in type []interface {}",
                ),
                ("{{ .nil.x }}", "nil pointer evaluating interface {}.x"),
                (
                    "{{ (list 1).x }}",
                    "can't evaluate field x in type []interface {}",
                ),
                (
                    "{{ index .zones 5 }}",
                    "at <index .zones 5>: error calling index: index out of range: 5",
                ),
                ("{{ index .zones -1 }}", "index out of range: -1"),
                (
                    r#"{{ index .zones "a" }}"#,
                    "cannot index slice/array with type string",
                ),
                ("{{ index .m 1 }}", "value has type int; should be string"),
                ("{{ index .nope 1 }}", "index of untyped nil"),
                (r#"{{ index .m "zz" "y" }}"#, "index of nil pointer"),
                ("{{ index 5 1 }}", "can't index item of type int"),
                ("{{ len 3 }}", "error calling len: len of type int"),
                ("{{ len .nope }}", "error calling len: len of nil pointer"),
                ("{{ lower 3 }}", "expected string; found 3"),
                (
                    "{{ lower .n }}",
                    "wrong type for value; expected string; got int",
                ),
                ("{{ .nope | lower }}", "invalid value; expected string"),
                (
                    "{{ lower .nil }}",
                    "wrong type for value; expected string; got interface {}",
                ),
                ("{{ lower nil }}", "cannot assign nil to string"),
                (r#"{{ ternary 1 2 "x" }}"#, r#"expected bool; found "x""#),
                (r#"{{ trunc "a" .name }}"#, r#"expected integer; found "a""#),
                ("{{ trunc 1.5 .name }}", "expected integer; found 1.5"),
                (
                    r#"{{ hasKey "x" "y" }}"#,
                    "can't handle \"x\" for arg of type map[string]interface {}",
                ),
                (
                    "{{ eq .name 1 }}",
                    "error calling eq: incompatible types for comparison",
                ),
                ("{{ lt true false }}", "invalid type for comparison"),
                ("{{ lt .nope 1 }}", "invalid type for comparison"),
                (r#"{{ lt 1 "a" }}"#, "incompatible types for comparison"),
                ("{{ eq .zones .zones }}", "non-comparable type"),
                ("{{ eq 1 }}", "missing argument for comparison"),
                ("{{ nil }}", "nil is not a command"),
                ("{{ . 1 }}", "can't give argument to non-function ."),
                ("{{ 1 2 }}", "can't give argument to non-function 1"),
                ("{{ .name 1 }}", "name is not a method but has arguments"),
                (
                    "{{ .env | .name }}",
                    "name is not a method but has arguments",
                ),
                (
                    "{{ range .name }}{{ end }}",
                    "range can't iterate over guestbook",
                ),
                ("{{ range 1.5 }}{{ end }}", "range can't iterate over 1.5"),
                (
                    "{{ range $i, $v := 3 }}{{ end }}",
                    "can't use 3 to iterate over more than one variable",
                ),
                (
                    "{{ printf }}",
                    "wrong number of args for printf: want at least 1 got 0",
                ),
                ("{{ ne 1 }}", "wrong number of args for ne: want 2 got 1"),
                (
                    "{{ 1 | ne 1 2 }}",
                    "wrong number of args for ne: want 2 got 3",
                ),
                (
                    "{{ and }}",
                    "wrong number of args for and: want at least 1 got 0",
                ),
                (
                    "{{ 18446744073709551615 }}",
                    "18446744073709551615 overflows int",
                ),
                (
                    r#"{{ printf "%b" 1 }}"#,
                    "error calling printf: printf: %b is not supported",
                ),
                (r#"{{ printf "%#v" 1 }}"#, "not supported"),
                (r#"{{ printf "%[1]d" 1 }}"#, "not supported"),
                (r#"{{ printf "%x" 1.5 }}"#, "not supported"),
            ],
            false,
        );
    }

    #[test]
    fn limits() {
        let nested = |n: usize| format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n));
        assert_eq!(render(&nested(MAX_NESTING)).unwrap(), "1");
        assert!(
            render(&nested(MAX_NESTING + 1))
                .unwrap_err()
                .to_string()
                .contains("nested too deeply")
        );
        let blocks = |n: usize| format!("{}x{}", "{{ if true }}".repeat(n), "{{ end }}".repeat(n));
        assert_eq!(render(&blocks(MAX_NESTING)).unwrap(), "x");
        assert!(
            render(&blocks(MAX_NESTING + 1))
                .unwrap_err()
                .to_string()
                .contains("nested too deeply")
        );
        // A long else-if chain is not nesting.
        let chain = format!(
            "{{{{ if false }}}}{}{{{{ else }}}}x{{{{ end }}}}",
            "{{ else if false }}".repeat(500)
        );
        assert_eq!(render(&chain).unwrap(), "x");

        let err = render("{{ range 2000000 }}x{{ end }}")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("template output exceeds 1048576 bytes"),
            "{err}"
        );
        let err = render("{{ range .zones }}{{ printf \"%01000000d\" 1 }}{{ end }}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("template output exceeds"), "{err}");
        let err =
            render(r#"{{ $s := "ab" }}{{ range 40 }}{{ $s = printf "%s%s" $s $s }}{{ end }}"#)
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("error calling printf: result exceeds 1048576 bytes"),
            "{err}"
        );
        let err = render(r#"{{ replace "" "0123456789" (printf "%0500000d" 0) }}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("error calling replace: result exceeds"),
            "{err}"
        );
        let err = render("{{ $x := list }}{{ range 200 }}{{ $x = list $x }}{{ end }}")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("error calling list: value nested too deeply"),
            "{err}"
        );
        let err =
            render("{{ $x := list 1 2 }}{{ range 200 }}{{ $x = list $x $x }}{{ end }}{{ len $x }}")
                .unwrap_err()
                .to_string();
        assert!(err.contains("nested too deeply"), "{err}");

        // Variable look-ups are charged: many declarations cannot make a template quadratic.
        let many = format!(
            "{}{}",
            "{{ $x := 1 }}".repeat(20_000),
            "{{ $.n }}".repeat(20_000)
        );
        let err = render(&many).unwrap_err().to_string();
        assert!(err.contains("steps"), "{err}");
        let some = format!("{}{}", "{{ $x := 1 }}".repeat(100), "{{ $x }}".repeat(100));
        assert_eq!(render(&some).unwrap(), "1".repeat(100));

        let small = Limits {
            output: MAX_OUTPUT,
            work: 10_000,
        };
        let err = render_with(
            "{{ range 1000000000 }}{{ end }}",
            &data(),
            GoOptions::default(),
            small,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("exceeds its limit of 10000 steps"), "{err}");
        let err = render_with(
            "{{ range 1000000 }}{{ continue }}{{ end }}",
            &data(),
            GoOptions::default(),
            small,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("steps"), "{err}");
    }

    /// Every prefix and every one-byte deletion of a template using all the syntax renders or
    /// fails cleanly.
    #[test]
    fn no_panics_on_malformed_input() {
        let sources = [
            r#"a {{- /* c */ -}} {{ $x := .name }}{{ if and (eq .env "prod") $x }}{{ range $i, $z := .zones }}{{ if $i }},{{ end }}{{ $z | upper | printf "%-3s|%q" }}{{ else }}none{{ end }}{{ else if .t }}{{ with .metadata.labels }}{{ .env }}{{ end }}{{ end }}"#,
            r#"{{ index .values "tags" 1 }}{{ toJson (dict "a" (list 1 2.5 nil 'x' 0x1F 1e3 `raw`)) }}{{ trunc -3 .name | quote }}{{ $.n }}{{ break }}"#,
            "{{ printf \"%05.2f %x %c %T %v\" 3.14159 255 65 .m .zones }}{{ \"\\u00e9\\x41\\101\" }}{{ range 3 }}{{ continue }}{{ end }}",
        ];
        for source in sources {
            let boundaries: Vec<usize> = (0..=source.len())
                .filter(|&i| source.is_char_boundary(i))
                .collect();
            for &end in &boundaries {
                let _ = render(&source[..end]);
                let _ = render_strict(&source[..end]);
            }
            for window in boundaries.windows(2) {
                let mutated = format!("{}{}", &source[..window[0]], &source[window[1]..]);
                let _ = render(&mutated);
            }
        }
        for weird in [
            "{{",
            "}}",
            "{{-",
            "{{- -}}",
            "{{ - }}",
            "{{.}}",
            "{{$}}",
            "{{ . }}{{",
            "{{/**/}}",
            "{{ ' }}",
            "{{ '' }}",
            "{{ '\\",
            "{{ \"\\",
            "{{ . | }}",
            "{{ (.) }}",
            "{{ $ := 1 }}",
            "{{ 0x }}",
            "{{ 1__0 }}",
            "{{ _ }}",
            "{{ .é }}",
            "{{ é }}",
            "{{ 1e }}",
            "{{ - }}",
            "{{ + }}",
            "{{.",
            "{{$",
            "{{ 0b2 }}",
            "{{ '\\400' }}",
            "{{ \"\\xZZ\" }}",
        ] {
            let _ = render(weird);
        }
        // Deep data is bounded too.
        let mut deep = json!("leaf");
        for _ in 0..100 {
            deep = json!([deep]);
        }
        let rendered = render_go("{{ . }}{{ toJson . }}", &deep, GoOptions::default()).unwrap();
        assert!(rendered.starts_with("[[[["), "{rendered}");
    }
}
