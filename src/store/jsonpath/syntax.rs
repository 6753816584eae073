//! A JSONPath query as RFC 9535 defines it, parsed: the syntax tree the
//! evaluator (`eval.rs`) walks. `parse.rs` builds it; nothing else does.
//!
//! The tree is already well-typed (RFC 9535, section 2.4.3): a comparison
//! only compares literals, singular queries and functions that return a
//! value; a function's arguments have the types its parameters need. So
//! evaluating never meets a type error.

use serde_json::Value;

/// A query: `$` (the value) or `@` (the node a filter tests) followed by
/// segments.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Query {
    /// `$` rather than `@`.
    pub root: bool,
    pub segments: Vec<Segment>,
}

impl Query {
    /// The query as a singular query, if it is one: no descendant
    /// segment, and each segment one name or index selector.
    pub fn to_singular(&self) -> Option<SingularQuery> {
        let mut segments = Vec::with_capacity(self.segments.len());
        for segment in &self.segments {
            match (segment.descendant, segment.selectors.as_slice()) {
                (false, [Selector::Name(name)]) => segments.push(Step::Name(name.clone())),
                (false, [Selector::Index(index)]) => segments.push(Step::Index(*index)),
                _ => return None,
            }
        }
        Some(SingularQuery { root: self.root, segments })
    }
}

/// A child segment (`.a`, `[…]`) or a descendant segment (`..a`, `..[…]`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Segment {
    /// `..`: the selectors apply to the input node and all its descendants.
    pub descendant: bool,
    /// What to select; `.a` is `[Name("a")]` and `.*` is `[Wildcard]`.
    pub selectors: Vec<Selector>,
}

/// One selector of a segment.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Selector {
    /// A member by name.
    Name(String),
    /// Every member or item.
    Wildcard,
    /// An item by index (negative counts from the end).
    Index(i64),
    /// Items `start:end:step`.
    Slice { start: Option<i64>, end: Option<i64>, step: Option<i64> },
    /// The members or items for which the expression holds.
    Filter(Logical),
}

/// A filter's logical expression.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Logical {
    /// `a || b || …`
    Or(Vec<Logical>),
    /// `a && b && …`
    And(Vec<Logical>),
    /// `!a`
    Not(Box<Logical>),
    /// A query as a test: true when it selects a node.
    Exists(Query),
    /// `left op right`
    Compare(Box<Comparison>),
    /// `match(…)` or `search(…)`.
    Test(Box<Function>),
}

/// `left op right`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Comparison {
    pub left: Comparable,
    pub op: CompareOp,
    pub right: Comparable,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// What a comparison compares, and what a function's value parameter
/// takes: a value or nothing.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Comparable {
    /// A string, number, `true`, `false` or `null`.
    Literal(Value),
    /// A query selecting at most one node.
    Singular(SingularQuery),
    /// `length(…)`, `count(…)` or `value(…)`.
    Function(Box<Function>),
}

/// A query selecting at most one node.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct SingularQuery {
    /// `$` rather than `@`.
    pub root: bool,
    pub segments: Vec<Step>,
}

/// One segment of a singular query.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Step {
    Name(String),
    Index(i64),
}

/// A function extension (RFC 9535, section 2.4) with its arguments.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Function {
    /// `length(v)`: characters of a string, members or items of a
    /// container; nothing otherwise.
    Length(Comparable),
    /// `count(q)`: how many nodes a query selects.
    Count(Query),
    /// `value(q)`: the node a query selects, if exactly one.
    Value(Query),
    /// `match(text, pattern)`: the whole string matches.
    Match(Comparable, Comparable),
    /// `search(text, pattern)`: a substring matches.
    Search(Comparable, Comparable),
}
