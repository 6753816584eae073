//! `KV_UPDATE` and `KV_ARR_APPEND`: edits of one stored value, made by
//! splicing text, on the loop when small and as a job otherwise.
//!
//! The value is parsed only to find what to change (`text.rs`); the new
//! value is the old text with the changed nodes' bytes replaced, so the
//! rest of it, member order and number spellings included, is kept byte
//! for byte. The new text is then checked as `KV_SET` checks a value (valid
//! JSON), and against the store's value limit, before it replaces the old.
//!
//! An [`EditJob`] is a pure function of the entry it was given: the loop
//! runs it at once when the value, the new text and the path are small
//! (see `Store::edit`), and otherwise hands it to the save thread, which
//! returns the new value; the loop stores it only if the key still holds
//! the entry the job was computed from (otherwise the job runs again on
//! the new value, up to `MAX_EDIT_ATTEMPTS` times).

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use serde::de::IgnoredAny;

use super::budget::{Budget, Stop, Watch};
use super::eval::{self, Elem};
use super::parse::Parsed;
use super::regex::Regexes;
use super::text;
use crate::store::JobId;
use crate::store::kv::Entry;

/// The largest value, in bytes, that an edit reads or writes on the loop:
/// more runs on the save thread. Parsing and splicing cost about 9 µs per
/// KB (`benches/jsonpath.rs`: 5.65 ms for 600 KB), so an edit on the loop
/// takes at most about 0.6 ms plus its path's evaluation.
pub const EDIT_INLINE_MAX_BYTES: usize = 64 * 1024;

/// Why an edit was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// The edit's target is not an array (`KV_ARR_APPEND`).
    NotArray,
    /// The new value would be larger than the limit.
    TooLarge,
    /// The stored value cannot be queried: it nests deeper than
    /// 127 levels (see `text::parse`; or, never expected, is not valid JSON).
    Unreadable,
    /// The path's evaluation stopped (over budget, timed out), or, on the
    /// loop, the edit is too large to finish there.
    Stopped(Stop),
}

/// What an edit does.
#[derive(Debug)]
pub(super) enum Edit {
    /// `KV_UPDATE`: every node the path selects becomes `value`.
    Update { path: Arc<Parsed>, value: String },
    /// `KV_ARR_APPEND`: `items` (the items' text joined with commas, one
    /// copy of the request's) appended to the array, or to its member
    /// `name`.
    Append { name: Option<String>, items: String },
}

/// A `KV_UPDATE` or `KV_ARR_APPEND`: the key, the entry it holds as the
/// edit was asked (or last tried), and the edit.
#[derive(Debug)]
pub struct EditJob {
    pub(super) key: String,
    pub(super) entry: Entry,
    pub(super) edit: Edit,
    /// The largest value the edit may leave behind.
    pub(super) max_bytes: usize,
    /// How long evaluating the path may take off the loop.
    pub(super) time_limit: Option<Duration>,
    /// The job's id, kept when it runs again.
    pub(in crate::store) id: JobId,
    /// Runs so far.
    pub(super) attempts: u32,
}

/// A finished [`EditJob`] with its result: how many nodes it selected and
/// the new entry (`None` when nothing changes), or why not. The entry is
/// built where the edit was computed, so a large one is copied into its
/// allocation off the loop.
#[derive(Debug)]
pub struct EditDone {
    pub(super) job: EditJob,
    pub(super) result: Result<(usize, Option<Entry>), Refused>,
}

impl EditDone {
    /// `job` with the result of computing it.
    pub(super) fn new(job: EditJob, result: Result<(usize, Option<String>), Refused>) -> EditDone {
        let result = result.map(|(count, new)| (count, new.map(|new| Entry::new(&job.key, &new))));
        EditDone { job, result }
    }
}

impl EditJob {
    /// Whether it may run on the loop: small value, small input, no
    /// regular expression.
    pub(super) fn fits_loop(&self) -> bool {
        let input = match &self.edit {
            Edit::Update { path, value } => {
                if path.uses_regex {
                    return false;
                }
                value.len()
            }
            Edit::Append { items, .. } => items.len(),
        };
        self.entry.value_json().len() <= EDIT_INLINE_MAX_BYTES && input <= EDIT_INLINE_MAX_BYTES
    }

    /// Computes the edit within `budget`; on the loop (`inline`), a new
    /// value larger than [`EDIT_INLINE_MAX_BYTES`] stops it with
    /// [`Stop::Yield`].
    pub(super) fn compute(&self, budget: &mut Budget, inline: bool) -> Result<(usize, Option<String>), Refused> {
        let old = std::str::from_utf8(self.entry.value_json()).map_err(|_| Refused::Unreadable)?;
        let inline_max = if inline { EDIT_INLINE_MAX_BYTES } else { usize::MAX };
        let limits = Limits { max_bytes: self.max_bytes, inline_max };
        match &self.edit {
            Edit::Update { path, value } => update(old, path, value, limits, budget),
            Edit::Append { name, items } => {
                append_joined(old, name.as_deref(), items, limits).map(|new| (usize::from(new.is_some()), new))
            }
        }
    }

    /// Computes the edit off the loop, as the save thread does.
    pub fn run(self) -> EditDone {
        let watch = Watch::starting(self.time_limit, None);
        let result = self.compute(&mut Budget::off_loop(watch), false);
        EditDone::new(self, result)
    }

    /// The bytes of the value it edits.
    pub fn value_bytes(&self) -> usize {
        self.entry.value_json().len()
    }
}

/// How large an edit's new value may be: past `max_bytes` it is refused
/// ([`Refused::TooLarge`]); past `inline_max` it is left to the save thread.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub max_bytes: usize,
    pub inline_max: usize,
}

/// A value's text rebuilt with some of its bytes replaced.
struct Splice<'t> {
    old: &'t str,
    /// `(range of old, replacement)`, in text order, not overlapping.
    edits: Vec<(Range<usize>, &'t str)>,
}

impl Splice<'_> {
    /// The new value's length.
    fn len(&self) -> usize {
        let removed: usize = self.edits.iter().map(|(r, _)| r.len()).sum();
        let added: usize = self.edits.iter().map(|(_, s)| s.len()).sum();
        self.old.len() - removed + added
    }

    /// The new value, checked, if it fits the limits.
    fn build(&self, limits: Limits) -> Result<String, Refused> {
        let len = self.len();
        if len > limits.max_bytes {
            return Err(Refused::TooLarge);
        }
        if len > limits.inline_max {
            return Err(Refused::Stopped(Stop::Yield));
        }
        let mut out = String::with_capacity(len);
        let mut at = 0;
        for (range, replacement) in &self.edits {
            out.push_str(self.old.get(at..range.start).ok_or(Refused::Unreadable)?);
            out.push_str(replacement);
            at = range.end;
        }
        out.push_str(self.old.get(at..).ok_or(Refused::Unreadable)?);
        // Valid JSON spliced into valid JSON at value boundaries stays
        // valid; checked all the same before it is stored.
        if serde_json::from_str::<IgnoredAny>(&out).is_err() {
            return Err(Refused::Unreadable);
        }
        Ok(out)
    }
}

/// `KV_UPDATE`: every node `path` selects in the value `old` replaced by
/// `value` (valid JSON text). Returns how many distinct nodes were
/// selected and the new value (`None` when nothing was selected). A node
/// inside another selected node is counted, as the outer one replaces it
/// with everything it holds.
///
/// # Errors
/// [`Refused::TooLarge`] past the limit; [`Refused::Unreadable`] if `old`
/// cannot be queried; [`Refused::Stopped`] if the path's evaluation does
/// not fit `budget`.
pub(super) fn update(
    old: &str,
    path: &Parsed,
    value: &str,
    limits: Limits,
    budget: &mut Budget,
) -> Result<(usize, Option<String>), Refused> {
    let parsed = text::parse(old).ok_or(Refused::Unreadable)?;
    budget.start_value(old.len()).map_err(Refused::Stopped)?;
    let mut regexes = Regexes::default();
    let selection =
        eval::select(&path.query, &parsed, usize::MAX, true, budget, &mut regexes).map_err(Refused::Stopped)?;
    let mut selected: Vec<Vec<Elem<'_>>> = Vec::new();
    for node in selection.distinct() {
        let path = selection.path_of(&node);
        budget.spend(path.len() as u64).map_err(Refused::Stopped)?;
        selected.push(path);
    }
    if selected.is_empty() {
        return Ok((0, None));
    }
    let paths: Vec<&[Elem<'_>]> = selected.iter().map(Vec::as_slice).collect();
    let ranges = text::ranges(old, &paths).ok_or(Refused::Unreadable)?;
    let splice = Splice { old, edits: ranges.into_iter().map(|r| (r, value)).collect() };
    Ok((selected.len(), Some(splice.build(limits)?)))
}

/// `KV_ARR_APPEND`: `items` (each valid JSON text) appended to the array
/// `old` holds, or to its member `name` (its last occurrence if repeated).
/// Returns `None` when there is nothing to append.
///
/// # Errors
/// [`Refused::NotArray`] when the target is not an array, or `name` is
/// given and `old` is not an object with that member;
/// [`Refused::TooLarge`] past the limit.
#[cfg(test)]
pub(super) fn append(old: &str, name: Option<&str>, items: &[&str], limits: Limits) -> Result<Option<String>, Refused> {
    append_joined(old, name, &join(items.iter().copied()), limits)
}

/// Items' texts joined with commas, in one allocation.
pub(super) fn join<'i>(items: impl Iterator<Item = &'i str> + Clone) -> String {
    let mut joined = String::with_capacity(items.clone().map(|i| i.len() + 1).sum());
    for (i, item) in items.enumerate() {
        if i > 0 {
            joined.push(',');
        }
        joined.push_str(item);
    }
    joined
}

/// [`append`] of items already joined with commas (empty: none).
fn append_joined(old: &str, name: Option<&str>, items: &str, limits: Limits) -> Result<Option<String>, Refused> {
    let target = match name {
        None => 0..old.len(),
        Some(name) => text::member_range(old, name).ok_or(Refused::NotArray)?,
    };
    let (end, has_items) = text::array_end(old, target).ok_or(Refused::NotArray)?;
    if items.is_empty() {
        return Ok(None);
    }
    let mut edits = Vec::with_capacity(2);
    if has_items {
        edits.push((end..end, ","));
    }
    edits.push((end..end, items));
    Splice { old, edits }.build(limits).map(Some)
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::*;

    const MAX: usize = 1 << 20;
    const NO_LIMIT: Limits = Limits { max_bytes: MAX, inline_max: usize::MAX };

    fn limit(max_bytes: usize) -> Limits {
        Limits { max_bytes, inline_max: usize::MAX }
    }

    fn budget() -> Budget {
        Budget::off_loop(Watch::default())
    }

    fn updated(old: &str, path: &str, value: &str) -> (usize, Option<String>) {
        update(old, &parse(path).unwrap(), value, NO_LIMIT, &mut budget()).unwrap()
    }

    #[test]
    fn updates_keep_the_rest_of_the_text() {
        let old = r#"{"z":1.50, "a" : [1,2,3], "big":123456789012345678901234567890,"e":1e400}"#;
        assert_eq!(
            updated(old, "$.a[1]", r#"{"x":null}"#),
            (1, Some(r#"{"z":1.50, "a" : [1,{"x":null},3], "big":123456789012345678901234567890,"e":1e400}"#.into()))
        );
        assert_eq!(
            updated(old, "$.a[*]", "0"),
            (3, Some(r#"{"z":1.50, "a" : [0,0,0], "big":123456789012345678901234567890,"e":1e400}"#.into()))
        );
        assert_eq!(updated(old, "$.nope", "0"), (0, None));
        assert_eq!(updated(old, "$", "[]"), (1, Some("[]".into())));
        // Nested selections: the outer node replaces the inner ones.
        assert_eq!(updated(r#"{"a":{"b":1}}"#, "$..*", "7"), (2, Some(r#"{"a":7}"#.into())));
        assert_eq!(updated(r#"{"a":1}"#, "$['a','a']", "2"), (1, Some(r#"{"a":2}"#.into())));
    }

    #[test]
    fn an_update_past_the_limits_is_refused() {
        let path = parse("$[*]").unwrap();
        assert_eq!(update("[1,2]", &path, "12345", limit(11), &mut budget()), Err(Refused::TooLarge));
        assert_eq!(update("[1,2]", &path, "1234", limit(11), &mut budget()), Ok((2, Some("[1234,1234]".into()))));
        // Values nested too deep to query can still be appended to.
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let first = parse("$[0]").unwrap();
        assert_eq!(update(&deep(200), &first, "1", NO_LIMIT, &mut budget()), Err(Refused::Unreadable));
        assert_eq!(
            update(&deep(2), &first, &deep(200), NO_LIMIT, &mut budget()),
            Ok((1, Some(format!("[{}]", deep(200)))))
        );
        assert_eq!(append(&deep(200), None, &["1"], NO_LIMIT), Ok(Some(format!("[{},1]", deep(199)))));
    }

    #[test]
    fn an_update_past_its_budget_is_refused() {
        // Each segment multiplies the nodes by 8: 8^6 = 262,144 > the budget.
        let nested = "[[[[[[[0]]]]]]]";
        let path = parse(&format!("${}", "[0,0,0,0,0,0,0,0]".repeat(6))).unwrap();
        assert_eq!(update(nested, &path, "1", NO_LIMIT, &mut budget()), Err(Refused::Stopped(Stop::OverBudget)));
        let path = parse(&format!("${}", "[0,0,0,0,0,0,0,0]".repeat(3))).unwrap();
        assert_eq!(update(nested, &path, "1", NO_LIMIT, &mut budget()), Ok((1, Some("[[[1]]]".into()))));
    }

    #[test]
    fn a_large_edit_on_the_loop_yields() {
        let inline = Limits { max_bytes: MAX, inline_max: 8 };
        assert_eq!(append("[1]", None, &["2", "3"], inline), Ok(Some("[1,2,3]".into())));
        assert_eq!(append("[1]", None, &["2", "3", "4"], inline), Err(Refused::Stopped(Stop::Yield)));
        assert_eq!(append("[1]", None, &["2", "3", "4"], limit(8)), Err(Refused::TooLarge));
    }

    #[test]
    fn appends() {
        assert_eq!(append("[1, 2 ]", None, &["3", r#"{"a":1}"#], NO_LIMIT), Ok(Some(r#"[1, 2 ,3,{"a":1}]"#.into())));
        assert_eq!(append("[ ]", None, &["3", "4"], NO_LIMIT), Ok(Some("[ 3,4]".into())));
        assert_eq!(append("[]", None, &[], NO_LIMIT), Ok(None));
        assert_eq!(
            append(r#"{"l":[],"n":1}"#, Some("l"), &["true"], NO_LIMIT),
            Ok(Some(r#"{"l":[true],"n":1}"#.into()))
        );
        assert_eq!(append(r#"{"l":[],"n":1}"#, Some("n"), &["true"], NO_LIMIT), Err(Refused::NotArray));
        assert_eq!(append(r#"{"l":[],"n":1}"#, Some("zz"), &["true"], NO_LIMIT), Err(Refused::NotArray));
        assert_eq!(append(r#"{"l":[]}"#, None, &["true"], NO_LIMIT), Err(Refused::NotArray));
        assert_eq!(append("[1]", Some("l"), &["true"], NO_LIMIT), Err(Refused::NotArray));
        assert_eq!(append(r#""[1]""#, None, &["true"], NO_LIMIT), Err(Refused::NotArray));
        assert_eq!(append("[1]", None, &["1"; 10], limit(8)), Err(Refused::TooLarge));
    }
}
