//! The JSONPath evaluator: a parsed query (`syntax.rs`) run against one
//! `serde_json::Value`, every step counted against a [`Budget`].
//!
//! Evaluation follows RFC 9535 section 2: each segment maps the list of
//! nodes so far to the concatenation of what its selectors select in each,
//! in order, so results come in the RFC's order (an object's members in
//! name order, an array's items in index order, a descendant segment's
//! nodes parent before children). The evaluator differs from a plain one
//! in what it does not do:
//!
//! - it never takes a step without paying for it (see `budget.rs`), so a
//!   path whose cost multiplies per segment (`$[0,0,0][0,0,0]…`), nested
//!   filters or descendant segments stop at the budget, before their lists
//!   grow past [`Budget::max_results`];
//! - it evaluates only what the answer needs: a query asked whether it
//!   selects anything (`KV_FIND` for keys, a filter's existence test) stops
//!   at its first result;
//! - it keeps where each node lies only when asked (`KV_FIND` for paths,
//!   `KV_UPDATE`), as a tree of locations shared by the nodes below them,
//!   and forgets the locations a descendant walk passed without finding
//!   anything.
//!
//! Recursion: a descendant segment walks the value recursively, at most as
//! deep as the value (128 levels, `text::parse`), and filters recurse into
//! their queries, at most as deep as the path's brackets nest
//! (`parse::MAX_PATH_BRACKETS`).

use serde_json::Value;

use super::budget::{Budget, Stop};
use super::regex::Regexes;
use super::syntax::{Comparable, CompareOp, Function, Logical, Query, Selector, SingularQuery, Step};

/// No location: the root, or a node whose location is not kept.
const NOWHERE: u32 = u32::MAX;

/// One step of a node's location: a member name or an array index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Elem<'a> {
    Name(&'a str),
    Index(usize),
}

/// A node in a list, with its location (an index into the locations).
#[derive(Debug, Clone, Copy)]
pub(super) struct Node<'a> {
    pub value: &'a Value,
    at: u32,
}

/// A location: the parent's location and the step from it.
#[derive(Debug, Clone, Copy)]
struct Loc<'a> {
    parent: u32,
    elem: Elem<'a>,
}

/// What a query selected in a value, with where each node lies when that
/// was asked for.
#[derive(Debug)]
pub(super) struct Selection<'a> {
    pub nodes: Vec<Node<'a>>,
    locs: Vec<Loc<'a>>,
}

impl<'a> Selection<'a> {
    /// Where `node` lies, from the root (empty for the root itself, or
    /// when locations were not kept).
    pub fn path_of(&self, node: &Node<'a>) -> Vec<Elem<'a>> {
        let mut path = Vec::new();
        let mut at = node.at;
        while let Some(loc) = self.locs.get(at as usize) {
            path.push(loc.elem);
            at = loc.parent;
        }
        path.reverse();
        path
    }

    /// The nodes, each once, in the order of their first occurrence (a
    /// node can be selected several times, as by `$['a','a']`).
    pub fn distinct(&self) -> Vec<Node<'a>> {
        let mut seen = std::collections::HashSet::with_capacity(self.nodes.len());
        self.nodes.iter().filter(|n| seen.insert(std::ptr::from_ref(n.value))).copied().collect()
    }
}

/// Runs `query` against `root`: at most `want` nodes (the evaluation
/// stops once it has them), with their locations if `located`.
pub(super) fn select<'a>(
    query: &Query,
    root: &'a Value,
    want: usize,
    located: bool,
    budget: &mut Budget,
    regexes: &mut Regexes,
) -> Result<Selection<'a>, Stop> {
    let mut eval = Eval { root, budget, regexes, locs: Vec::new(), located };
    let nodes = eval.query(query, Node { value: root, at: NOWHERE }, want)?;
    Ok(Selection { nodes, locs: eval.locs })
}

/// A value in a comparison: nothing (an empty query or a function's
/// "Nothing"), a node or literal, or a number a function computed.
enum Val<'v> {
    Nothing,
    Ref(&'v Value),
    Owned(Value),
}

impl Val<'_> {
    fn get(&self) -> Option<&Value> {
        match self {
            Val::Nothing => None,
            Val::Ref(v) => Some(v),
            Val::Owned(v) => Some(v),
        }
    }
}

struct Eval<'a, 'b> {
    root: &'a Value,
    budget: &'b mut Budget,
    regexes: &'b mut Regexes,
    locs: Vec<Loc<'a>>,
    /// Whether results' locations are kept (false inside filters).
    located: bool,
}

impl<'a> Eval<'a, '_> {
    fn spend(&mut self, n: u64) -> Result<(), Stop> {
        self.budget.spend(n)
    }

    /// The location of the child `elem` of a node at `parent`, if kept.
    fn locate(&mut self, parent: u32, elem: Elem<'a>) -> Result<u32, Stop> {
        if !self.located {
            return Ok(NOWHERE);
        }
        if self.locs.len() >= self.budget.max_locations() {
            return Err(Stop::OverBudget);
        }
        self.locs.push(Loc { parent, elem });
        Ok((self.locs.len() - 1) as u32)
    }

    /// Adds the child `elem` (`value`) of `parent` to `out`.
    fn emit(
        &mut self,
        out: &mut Vec<Node<'a>>,
        parent: Node<'a>,
        elem: Elem<'a>,
        value: &'a Value,
    ) -> Result<(), Stop> {
        self.spend(1)?;
        if out.len() >= self.budget.max_results() {
            return Err(Stop::OverBudget);
        }
        let at = self.locate(parent.at, elem)?;
        out.push(Node { value, at });
        Ok(())
    }

    /// A query from `current` (or the root, for `$`), stopping once it has
    /// `want` nodes.
    fn query(&mut self, query: &Query, current: Node<'a>, want: usize) -> Result<Vec<Node<'a>>, Stop> {
        let start = if query.root { Node { value: self.root, at: NOWHERE } } else { current };
        let mut nodes = vec![start];
        let last = query.segments.len();
        for (i, segment) in query.segments.iter().enumerate() {
            if nodes.is_empty() {
                break;
            }
            let limit = if i + 1 == last { want } else { usize::MAX };
            let mut next = Vec::new();
            for &node in &nodes {
                if segment.descendant {
                    self.descend(&segment.selectors, node, &mut next, limit)?;
                } else {
                    self.selectors(&segment.selectors, node, &mut next, limit)?;
                }
                if next.len() >= limit {
                    break;
                }
            }
            nodes = next;
        }
        nodes.truncate(want);
        Ok(nodes)
    }

    /// A descendant segment's selectors applied to `node` and every node
    /// below it, parent first.
    fn descend(
        &mut self,
        selectors: &[Selector],
        node: Node<'a>,
        out: &mut Vec<Node<'a>>,
        limit: usize,
    ) -> Result<(), Stop> {
        self.selectors(selectors, node, out, limit)?;
        if out.len() >= limit {
            return Ok(());
        }
        let mut visit = |eval: &mut Self, elem: Elem<'a>, child: &'a Value| -> Result<bool, Stop> {
            eval.spend(1)?;
            let (mark, found) = (eval.locs.len(), out.len());
            let at = eval.locate(node.at, elem)?;
            eval.descend(selectors, Node { value: child, at }, out, limit)?;
            if out.len() == found {
                // Nothing below: its locations are no one's.
                eval.locs.truncate(mark);
            }
            Ok(out.len() >= limit)
        };
        match node.value {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if visit(self, Elem::Index(i), item)? {
                        break;
                    }
                }
            }
            Value::Object(members) => {
                for (name, member) in members {
                    if visit(self, Elem::Name(name), member)? {
                        break;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A segment's selectors applied to `node`, in order.
    fn selectors(
        &mut self,
        selectors: &[Selector],
        node: Node<'a>,
        out: &mut Vec<Node<'a>>,
        limit: usize,
    ) -> Result<(), Stop> {
        for selector in selectors {
            self.spend(1)?;
            match (selector, node.value) {
                (Selector::Name(name), Value::Object(members)) => {
                    if let Some((name, member)) = members.get_key_value(name.as_str()) {
                        self.emit(out, node, Elem::Name(name), member)?;
                    }
                }
                (Selector::Wildcard, Value::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        if out.len() >= limit {
                            return Ok(());
                        }
                        self.emit(out, node, Elem::Index(i), item)?;
                    }
                }
                (Selector::Wildcard, Value::Object(members)) => {
                    for (name, member) in members {
                        if out.len() >= limit {
                            return Ok(());
                        }
                        self.emit(out, node, Elem::Name(name), member)?;
                    }
                }
                (Selector::Index(index), Value::Array(items)) => {
                    if let Some(i) = resolve(*index, items.len()) {
                        self.emit(out, node, Elem::Index(i), &items[i])?;
                    }
                }
                (&Selector::Slice { start, end, step }, Value::Array(items)) => {
                    for i in slice(start, end, step, items.len()) {
                        if out.len() >= limit {
                            return Ok(());
                        }
                        self.emit(out, node, Elem::Index(i), &items[i])?;
                    }
                }
                (Selector::Filter(filter), Value::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        if out.len() >= limit {
                            return Ok(());
                        }
                        self.spend(1)?;
                        if self.test(filter, item)? {
                            self.emit(out, node, Elem::Index(i), item)?;
                        }
                    }
                }
                (Selector::Filter(filter), Value::Object(members)) => {
                    for (name, member) in members {
                        if out.len() >= limit {
                            return Ok(());
                        }
                        self.spend(1)?;
                        if self.test(filter, member)? {
                            self.emit(out, node, Elem::Name(name), member)?;
                        }
                    }
                }
                _ => {}
            }
            if out.len() >= limit {
                return Ok(());
            }
        }
        Ok(())
    }

    /// A query inside a filter, from `current`: no locations kept.
    fn subquery(&mut self, query: &Query, current: &'a Value, want: usize) -> Result<Vec<Node<'a>>, Stop> {
        let located = std::mem::replace(&mut self.located, false);
        let nodes = self.query(query, Node { value: current, at: NOWHERE }, want);
        self.located = located;
        nodes
    }

    /// Whether a filter's expression holds for `current`.
    fn test(&mut self, logical: &Logical, current: &'a Value) -> Result<bool, Stop> {
        Ok(match logical {
            Logical::Or(terms) => {
                for term in terms {
                    if self.test(term, current)? {
                        return Ok(true);
                    }
                }
                false
            }
            Logical::And(terms) => {
                for term in terms {
                    if !self.test(term, current)? {
                        return Ok(false);
                    }
                }
                true
            }
            Logical::Not(term) => !self.test(term, current)?,
            Logical::Exists(query) => !self.subquery(query, current, 1)?.is_empty(),
            Logical::Compare(comparison) => {
                let left = self.value_of(&comparison.left, current)?;
                let right = self.value_of(&comparison.right, current)?;
                let (left, right) = (left.get(), right.get());
                match comparison.op {
                    CompareOp::Eq => self.equal(left, right)?,
                    CompareOp::Ne => !self.equal(left, right)?,
                    CompareOp::Lt => self.less(left, right)?,
                    CompareOp::Gt => self.less(right, left)?,
                    CompareOp::Le => self.less(left, right)? || self.equal(left, right)?,
                    CompareOp::Ge => self.less(right, left)? || self.equal(left, right)?,
                }
            }
            Logical::Test(function) => match function.as_ref() {
                Function::Match(text, pattern) => self.regex(text, pattern, true, current)?,
                Function::Search(text, pattern) => self.regex(text, pattern, false, current)?,
                // The parser only makes tests of the two logical functions.
                Function::Length(_) | Function::Count(_) | Function::Value(_) => false,
            },
        })
    }

    /// `match()` or `search()`.
    fn regex(
        &mut self,
        text: &Comparable,
        pattern: &Comparable,
        anchored: bool,
        current: &'a Value,
    ) -> Result<bool, Stop> {
        let text = self.value_of(text, current)?;
        let pattern = self.value_of(pattern, current)?;
        match (text.get(), pattern.get()) {
            (Some(Value::String(text)), Some(Value::String(pattern))) => {
                self.regexes.is_match(pattern, anchored, text, self.budget)
            }
            _ => Ok(false),
        }
    }

    /// The value of a comparison's side or a function's argument.
    fn value_of<'v>(&mut self, comparable: &'v Comparable, current: &'a Value) -> Result<Val<'v>, Stop>
    where
        'a: 'v,
    {
        Ok(match comparable {
            Comparable::Literal(value) => Val::Ref(value),
            Comparable::Singular(query) => match self.singular(query, current)? {
                Some(value) => Val::Ref(value),
                None => Val::Nothing,
            },
            Comparable::Function(function) => match function.as_ref() {
                Function::Length(argument) => {
                    let argument = self.value_of(argument, current)?;
                    let length = match argument.get() {
                        Some(Value::String(s)) => {
                            self.spend(s.len() as u64 / 64)?;
                            Some(s.chars().count())
                        }
                        Some(Value::Array(items)) => Some(items.len()),
                        Some(Value::Object(members)) => Some(members.len()),
                        _ => None,
                    };
                    length.map_or(Val::Nothing, |n| Val::Owned(Value::from(n)))
                }
                Function::Count(query) => Val::Owned(Value::from(self.subquery(query, current, usize::MAX)?.len())),
                Function::Value(query) => match self.subquery(query, current, 2)?.as_slice() {
                    [node] => Val::Ref(node.value),
                    _ => Val::Nothing,
                },
                // The parser never makes a value of the two logical functions.
                Function::Match(..) | Function::Search(..) => Val::Nothing,
            },
        })
    }

    /// The node a singular query selects, if any.
    fn singular(&mut self, query: &SingularQuery, current: &'a Value) -> Result<Option<&'a Value>, Stop> {
        let mut node = if query.root { self.root } else { current };
        for step in &query.segments {
            self.spend(1)?;
            let next = match (step, node) {
                (Step::Name(name), Value::Object(members)) => members.get(name.as_str()),
                (Step::Index(index), Value::Array(items)) => resolve(*index, items.len()).map(|i| &items[i]),
                _ => None,
            };
            match next {
                Some(next) => node = next,
                None => return Ok(None),
            }
        }
        Ok(Some(node))
    }

    /// `==` as RFC 9535 section 2.3.5.2.2 defines it: two nothings are
    /// equal; numbers by value; arrays and objects member by member.
    fn equal(&mut self, left: Option<&Value>, right: Option<&Value>) -> Result<bool, Stop> {
        match (left, right) {
            (None, None) => Ok(true),
            (Some(left), Some(right)) => self.deep_equal(left, right),
            _ => Ok(false),
        }
    }

    fn deep_equal(&mut self, left: &Value, right: &Value) -> Result<bool, Stop> {
        self.spend(1)?;
        Ok(match (left, right) {
            (Value::Number(l), Value::Number(r)) => l.as_f64() == r.as_f64(),
            (Value::String(l), Value::String(r)) => {
                self.spend(l.len().min(r.len()) as u64 / 64)?;
                l == r
            }
            (Value::Array(l), Value::Array(r)) => {
                if l.len() != r.len() {
                    return Ok(false);
                }
                for (l, r) in l.iter().zip(r) {
                    if !self.deep_equal(l, r)? {
                        return Ok(false);
                    }
                }
                true
            }
            (Value::Object(l), Value::Object(r)) => {
                if l.len() != r.len() {
                    return Ok(false);
                }
                for (name, l) in l {
                    match r.get(name) {
                        Some(r) if self.deep_equal(l, r)? => {}
                        _ => return Ok(false),
                    }
                }
                true
            }
            (Value::Bool(l), Value::Bool(r)) => l == r,
            (Value::Null, Value::Null) => true,
            _ => false,
        })
    }

    /// `<`: numbers by value, strings by code point; false otherwise.
    fn less(&mut self, left: Option<&Value>, right: Option<&Value>) -> Result<bool, Stop> {
        Ok(match (left, right) {
            (Some(Value::Number(l)), Some(Value::Number(r))) => l.as_f64() < r.as_f64(),
            (Some(Value::String(l)), Some(Value::String(r))) => {
                self.spend(l.len().min(r.len()) as u64 / 64)?;
                l < r
            }
            _ => false,
        })
    }
}

/// An index resolved against an array's length (negative counts from the
/// end).
fn resolve(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let i = if index < 0 { len.checked_add(index)? } else { index };
    (0..len).contains(&i).then_some(i as usize)
}

/// The indexes a slice selects in an array of `len` items, in order (RFC
/// 9535, section 2.3.4.2.2).
fn slice(start: Option<i64>, end: Option<i64>, step: Option<i64>, len: usize) -> impl Iterator<Item = usize> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let step = step.unwrap_or(1);
    let normalize = |i: i64| if i >= 0 { i } else { len + i };
    let (mut i, bound) = if step >= 0 {
        let lower = start.map_or(0, normalize).clamp(0, len);
        let upper = end.map_or(len, normalize).clamp(0, len);
        (lower, upper)
    } else {
        let upper = start.map_or(len - 1, normalize).clamp(-1, len - 1);
        let lower = end.map_or(-len - 1, normalize).clamp(-1, len - 1);
        (upper, lower)
    };
    std::iter::from_fn(move || {
        let inside = match step {
            0 => false,
            s if s > 0 => i < bound,
            _ => bound < i,
        };
        if !inside {
            return None;
        }
        let at = i as usize;
        i = i.saturating_add(step);
        Some(at)
    })
}

#[cfg(test)]
mod tests;
