//! The JSONPath parser: RFC 9535's grammar (section 2 and its ABNF in
//! appendix A), by recursive descent over the path's bytes, with the
//! well-typedness rules of function extensions (section 2.4.3) checked as
//! it goes.
//!
//! It runs on the loop for every `KV_FIND` and `KV_UPDATE`, so its cost is
//! bounded by the path alone: one pass, no backtracking beyond a token, and
//! recursion only where brackets or parentheses open, at most
//! [`MAX_PATH_NESTING`] deep (so the stack stays small whatever the peer
//! sends). Of paths longer than [`MAX_PATH_BYTES`] only that much is read.
//!
//! Numbers follow serde_json_path, the implementation ndb used before its
//! own: a number literal beyond `f64`'s range (`1e400`) is refused.

use serde_json::{Number, Value};

use super::syntax::{Comparable, CompareOp, Comparison, Function, Logical, Query, Segment, Selector};

/// Longest JSONPath accepted, in bytes: longer gets status 202
/// (OverBudget), or 4 if what fits is already malformed. Real paths are tens of bytes; 64 KiB parses in well under
/// a millisecond and its syntax tree stays under a few MiB, where a path as
/// long as a whole message (`maxPayload`, up to 64 MiB) could take
/// gigabytes.
pub const MAX_PATH_BYTES: usize = 64 * 1024;

/// Deepest nesting of brackets and parentheses accepted in a JSONPath
/// expression (status 4 past it). The parser recurses a few frames per
/// level, so this bounds its stack; real paths nest a handful of levels.
pub const MAX_PATH_NESTING: usize = 64;

/// Deepest nesting of brackets (filters within filters) accepted in a
/// JSONPath expression (status 4 past it). Each level can multiply the
/// evaluation's cost by the size of the value (the budget stops it, see
/// `budget.rs`); real paths nest two or three.
pub const MAX_PATH_BRACKETS: usize = 8;

/// The largest integer an index or slice bound may be, ±(2^53 − 1), as
/// RFC 9535 section 2.1 says (I-JSON's exact range).
const MAX_INT: i64 = (1 << 53) - 1;

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PathError {
    /// Not valid JSONPath, or nested past the limits (status 4).
    Invalid,
    /// Longer than [`MAX_PATH_BYTES`] (status 202).
    TooLong,
}

/// A parsed path and what the evaluator needs to know of it up front.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::store) struct Parsed {
    pub(super) query: Query,
    /// Whether it calls `match()` or `search()`: a regular expression is
    /// compiled (once per query) and run, which never happens on the loop.
    pub(super) uses_regex: bool,
}

/// `path` parsed as a JSONPath query (it must start with `$`).
///
/// Of a path longer than [`MAX_PATH_BYTES`] only the first
/// [`MAX_PATH_BYTES`] are read: it is [`PathError::TooLong`] unless they
/// are already malformed before their end ([`PathError::Invalid`], so that
/// a path nested too deeply is invalid however long it is).
pub(super) fn parse(path: &str) -> Result<Parsed, PathError> {
    let mut end = path.len().min(MAX_PATH_BYTES);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    let text = &path[..end];
    let mut parser = Parser { text, at: 0, nesting: 0, brackets: 0, uses_regex: false };
    let query = parser.query();
    if end < path.len() {
        return Err(if parser.at >= end { PathError::TooLong } else { PathError::Invalid });
    }
    match query {
        Some(query) if query.root && parser.at == end => Ok(Parsed { query, uses_regex: parser.uses_regex }),
        _ => Err(PathError::Invalid),
    }
}

/// The parser's position in the path. Every method returns `None` for
/// text that does not fit the grammar; the whole path is then invalid, so
/// no method needs to restore the position after a failure.
struct Parser<'t> {
    text: &'t str,
    at: usize,
    /// Brackets and parentheses open around the position.
    nesting: usize,
    /// Brackets open around the position.
    brackets: usize,
    uses_regex: bool,
}

/// What a basic expression's first term turned out to be.
enum Term {
    Literal(Value),
    Query(Query),
    Function(Function),
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.text.as_bytes().get(self.at + ahead).copied()
    }

    fn peek_char(&self) -> Option<char> {
        self.text.get(self.at..)?.chars().next()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.at += 1;
        }
        found
    }

    fn eat_str(&mut self, s: &str) -> bool {
        let found = self.text.as_bytes()[self.at..].starts_with(s.as_bytes());
        if found {
            self.at += s.len();
        }
        found
    }

    /// RFC 9535's `S`: blank space, tab, line feed, carriage return.
    fn blank(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Enters a bracket or parenthesis, within the nesting limits.
    fn open(&mut self, bracket: bool) -> Option<()> {
        self.nesting += 1;
        self.brackets += usize::from(bracket);
        (self.nesting <= MAX_PATH_NESTING && self.brackets <= MAX_PATH_BRACKETS).then_some(())
    }

    fn close(&mut self, bracket: bool) {
        self.nesting -= 1;
        self.brackets -= usize::from(bracket);
    }

    /// `$` or `@` and its segments.
    fn query(&mut self) -> Option<Query> {
        let root = match self.peek()? {
            b'$' => true,
            b'@' => false,
            _ => return None,
        };
        self.at += 1;
        let mut segments = Vec::new();
        loop {
            // Blank space may come before a segment; if no segment
            // follows, it belongs to what comes after the query.
            let before = self.at;
            self.blank();
            match self.peek() {
                Some(b'.' | b'[') => segments.push(self.segment()?),
                _ => {
                    self.at = before;
                    return Some(Query { root, segments });
                }
            }
        }
    }

    fn segment(&mut self) -> Option<Segment> {
        if self.eat_str("..") {
            let selectors = match self.peek()? {
                b'[' => self.bracketed()?,
                b'*' => {
                    self.at += 1;
                    vec![Selector::Wildcard]
                }
                _ => vec![Selector::Name(self.shorthand_name()?)],
            };
            return Some(Segment { descendant: true, selectors });
        }
        let selectors = if self.eat(b'.') {
            if self.eat(b'*') { vec![Selector::Wildcard] } else { vec![Selector::Name(self.shorthand_name()?)] }
        } else {
            self.bracketed()?
        };
        Some(Segment { descendant: false, selectors })
    }

    /// `member-name-shorthand`: a letter, `_` or any non-ASCII character,
    /// then those or digits.
    fn shorthand_name(&mut self) -> Option<String> {
        let start = self.at;
        let first = self.peek_char()?;
        if !(first.is_ascii_alphabetic() || first == '_' || !first.is_ascii()) {
            return None;
        }
        self.at += first.len_utf8();
        while let Some(c) = self.peek_char() {
            if !(c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii()) {
                break;
            }
            self.at += c.len_utf8();
        }
        Some(self.text[start..self.at].to_owned())
    }

    /// `[` selector, … `]`
    fn bracketed(&mut self) -> Option<Vec<Selector>> {
        if !self.eat(b'[') {
            return None;
        }
        self.open(true)?;
        let mut selectors = Vec::new();
        loop {
            self.blank();
            selectors.push(self.selector()?);
            self.blank();
            if !self.eat(b',') {
                break;
            }
        }
        if !self.eat(b']') {
            return None;
        }
        self.close(true);
        Some(selectors)
    }

    fn selector(&mut self) -> Option<Selector> {
        match self.peek()? {
            b'\'' | b'"' => self.string().map(Selector::Name),
            b'*' => {
                self.at += 1;
                Some(Selector::Wildcard)
            }
            b'?' => {
                self.at += 1;
                self.blank();
                self.logical().map(Selector::Filter)
            }
            _ => self.index_or_slice(),
        }
    }

    /// `int`, or `[start S] ":" S [end S] [":" [S step]]`.
    fn index_or_slice(&mut self) -> Option<Selector> {
        let start = self.maybe_int()?;
        let before_colon = self.at;
        self.blank();
        if !self.eat(b':') {
            self.at = before_colon;
            return start.map(Selector::Index);
        }
        self.blank();
        let end = self.maybe_int()?;
        let before_colon = self.at;
        self.blank();
        let mut step = None;
        if self.eat(b':') {
            self.blank();
            step = self.maybe_int()?;
        } else {
            self.at = before_colon;
        }
        Some(Selector::Slice { start, end, step })
    }

    /// An `int` if one starts here: `0`, or an optional `-` and digits
    /// without a leading zero, within ±(2^53 − 1). `None` for a malformed
    /// one, `Some(None)` for none at all.
    fn maybe_int(&mut self) -> Option<Option<i64>> {
        let negative = self.eat(b'-');
        let digits = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        let text = &self.text[digits..self.at];
        if text.is_empty() {
            return if negative { None } else { Some(None) };
        }
        if text.starts_with('0') && (text.len() > 1 || negative) {
            return None;
        }
        let value: i64 = text.parse().ok().filter(|v| *v <= MAX_INT)?;
        Some(Some(if negative { -value } else { value }))
    }

    /// A string literal in single or double quotes, unescaped.
    fn string(&mut self) -> Option<String> {
        let quote = self.peek()?;
        self.at += 1;
        let mut out = String::new();
        loop {
            let c = self.peek_char()?;
            self.at += c.len_utf8();
            match c {
                c if c as u32 == u32::from(quote) => return Some(out),
                '\\' => {
                    let escaped = self.peek()?;
                    self.at += 1;
                    let c = match escaped {
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'/' => '/',
                        b'\\' => '\\',
                        b'u' => self.unicode_escape()?,
                        q if q == quote => char::from(q),
                        _ => return None,
                    };
                    out.push(c);
                }
                '\0'..='\u{1f}' => return None,
                c => out.push(c),
            }
        }
    }

    /// After `\u`: four hex digits, or a surrogate pair written as two.
    fn unicode_escape(&mut self) -> Option<char> {
        let high = self.hex4()?;
        match high {
            0xD800..=0xDBFF => {
                if !self.eat_str("\\u") {
                    return None;
                }
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return None;
                }
                char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
            }
            0xDC00..=0xDFFF => None,
            c => char::from_u32(c),
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.at..self.at + 4)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.at += 4;
        u32::from_str_radix(digits, 16).ok()
    }

    /// `logical-or-expr`
    fn logical(&mut self) -> Option<Logical> {
        let mut terms = vec![self.and()?];
        while self.operator("||") {
            terms.push(self.and()?);
        }
        Some(if terms.len() == 1 { terms.swap_remove(0) } else { Logical::Or(terms) })
    }

    /// `logical-and-expr`
    fn and(&mut self) -> Option<Logical> {
        let mut terms = vec![self.basic()?];
        while self.operator("&&") {
            terms.push(self.basic()?);
        }
        Some(if terms.len() == 1 { terms.swap_remove(0) } else { Logical::And(terms) })
    }

    /// Whether blank space and `op` and blank space come next; if not,
    /// nothing is consumed.
    fn operator(&mut self, op: &str) -> bool {
        let before = self.at;
        self.blank();
        if self.eat_str(op) {
            self.blank();
            true
        } else {
            self.at = before;
            false
        }
    }

    /// `basic-expr`: a parenthesized expression, a comparison or a test,
    /// each test and parenthesis optionally negated with `!`.
    fn basic(&mut self) -> Option<Logical> {
        if self.eat(b'!') {
            self.blank();
            let inner = if self.peek()? == b'(' { self.parenthesized()? } else { self.test()? };
            return Some(Logical::Not(Box::new(inner)));
        }
        if self.peek()? == b'(' {
            return self.parenthesized();
        }
        let term = self.term()?;
        match self.comparison_operator() {
            Some(op) => {
                let left = comparable(term)?;
                self.blank();
                let right = comparable(self.term()?)?;
                Some(Logical::Compare(Box::new(Comparison { left, op, right })))
            }
            None => test(term),
        }
    }

    /// `( logical-expr )`
    fn parenthesized(&mut self) -> Option<Logical> {
        if !self.eat(b'(') {
            return None;
        }
        self.open(false)?;
        self.blank();
        let inner = self.logical()?;
        self.blank();
        if !self.eat(b')') {
            return None;
        }
        self.close(false);
        Some(inner)
    }

    /// `test-expr` without its `!`: a query or a logical function.
    fn test(&mut self) -> Option<Logical> {
        match self.peek()? {
            b'@' | b'$' => self.query().map(Logical::Exists),
            _ => test(Term::Function(self.function()?)),
        }
    }

    /// After blank space, a comparison operator, consumed with the space
    /// before it; if there is none, nothing is consumed.
    fn comparison_operator(&mut self) -> Option<CompareOp> {
        let before = self.at;
        self.blank();
        let op = match (self.peek(), self.peek_at(1)) {
            (Some(b'='), Some(b'=')) => CompareOp::Eq,
            (Some(b'!'), Some(b'=')) => CompareOp::Ne,
            (Some(b'<'), Some(b'=')) => CompareOp::Le,
            (Some(b'>'), Some(b'=')) => CompareOp::Ge,
            (Some(b'<'), _) => CompareOp::Lt,
            (Some(b'>'), _) => CompareOp::Gt,
            _ => {
                self.at = before;
                return None;
            }
        };
        self.at += if matches!(op, CompareOp::Lt | CompareOp::Gt) { 1 } else { 2 };
        Some(op)
    }

    /// A literal, a query or a function call.
    fn term(&mut self) -> Option<Term> {
        match self.peek()? {
            b'@' | b'$' => self.query().map(Term::Query),
            b'\'' | b'"' => self.string().map(|s| Term::Literal(Value::String(s))),
            b'-' | b'0'..=b'9' => self.number().map(Term::Literal),
            _ if self.eat_str("true") => Some(Term::Literal(Value::Bool(true))),
            _ if self.eat_str("false") => Some(Term::Literal(Value::Bool(false))),
            _ if self.eat_str("null") => Some(Term::Literal(Value::Null)),
            _ => self.function().map(Term::Function),
        }
    }

    /// `number`: `(int / "-0") [frac] [exp]`, within `f64`'s range.
    fn number(&mut self) -> Option<Value> {
        let start = self.at;
        self.eat(b'-');
        let digits = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        let int = &self.text[digits..self.at];
        if int.is_empty() || (int.len() > 1 && int.starts_with('0')) {
            return None;
        }
        if self.eat(b'.') && !self.digits() {
            return None;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if !self.eat(b'-') {
                self.eat(b'+');
            }
            if !self.digits() {
                return None;
            }
        }
        // serde_json's number reader, as for the values queried (and as
        // serde_json_path reads its literals): the same text gives the same
        // `f64` on both sides of a comparison, and core's float parser
        // (10 KB of tables) stays out of the minimal build. Beyond `f64`'s
        // range it refuses, as `Number::from_f64` does the infinity.
        let value: f64 = serde_json::from_str(&self.text[start..self.at]).ok()?;
        Number::from_f64(value).map(Value::Number)
    }

    /// One or more digits; whether there were any.
    fn digits(&mut self) -> bool {
        let start = self.at;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        self.at > start
    }

    /// `function-expr`, checked against the function's signature.
    fn function(&mut self) -> Option<Function> {
        let start = self.at;
        if !self.peek().is_some_and(|b| b.is_ascii_lowercase()) {
            return None;
        }
        while self.peek().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            self.at += 1;
        }
        let name = &self.text[start..self.at];
        if !self.eat(b'(') {
            return None;
        }
        self.open(false)?;
        self.blank();
        let mut args = Vec::new();
        if self.peek()? != b')' {
            loop {
                args.push(self.term()?);
                self.blank();
                if !self.eat(b',') {
                    break;
                }
                self.blank();
            }
        }
        if !self.eat(b')') {
            return None;
        }
        self.close(false);
        let mut args = args.into_iter();
        let function = match (name, args.next(), args.next(), args.next()) {
            ("length", Some(value), None, None) => Function::Length(comparable(value)?),
            ("count", Some(Term::Query(query)), None, None) => Function::Count(query),
            ("value", Some(Term::Query(query)), None, None) => Function::Value(query),
            ("match", Some(text), Some(pattern), None) => Function::Match(comparable(text)?, comparable(pattern)?),
            ("search", Some(text), Some(pattern), None) => Function::Search(comparable(text)?, comparable(pattern)?),
            _ => return None,
        };
        self.uses_regex |= matches!(function, Function::Match(..) | Function::Search(..));
        Some(function)
    }
}

/// A term where a value is wanted (a comparison's side, a value
/// parameter): a literal, a singular query, or a function returning a
/// value.
fn comparable(term: Term) -> Option<Comparable> {
    match term {
        Term::Literal(value) => Some(Comparable::Literal(value)),
        Term::Query(query) => query.to_singular().map(Comparable::Singular),
        Term::Function(f @ (Function::Length(_) | Function::Count(_) | Function::Value(_))) => {
            Some(Comparable::Function(Box::new(f)))
        }
        Term::Function(Function::Match(..) | Function::Search(..)) => None,
    }
}

/// A term used as a test: a query (does it select anything) or a function
/// returning a logical value.
fn test(term: Term) -> Option<Logical> {
    match term {
        Term::Query(query) => Some(Logical::Exists(query)),
        Term::Function(f @ (Function::Match(..) | Function::Search(..))) => Some(Logical::Test(Box::new(f))),
        Term::Function(_) | Term::Literal(_) => None,
    }
}

#[cfg(test)]
mod tests;
