//! `KV_UPDATE` and `KV_ARR_APPEND`: edits of one stored value, made by
//! splicing text.
//!
//! The value is parsed only to find what to change (`text.rs`); the new
//! value is the old text with the changed nodes' bytes replaced, so the
//! rest of it, member order and number spellings included, is kept byte
//! for byte. The new text is then checked as `KV_SET` checks a value (valid
//! JSON), and against the store's value limit, before it replaces the old.

use std::ops::Range;

use serde::de::IgnoredAny;
use serde_json_path::{JsonPath, PathElement};

use super::text;

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

    /// The new value, checked, if it is no longer than `max_bytes`.
    fn build(&self, max_bytes: usize) -> Result<String, Refused> {
        let len = self.len();
        if len > max_bytes {
            return Err(Refused::TooLarge);
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
/// [`Refused::TooLarge`] past `max_bytes`; [`Refused::Unreadable`] if
/// `old` cannot be queried.
pub(super) fn update(
    old: &str,
    path: &JsonPath,
    value: &str,
    max_bytes: usize,
) -> Result<(usize, Option<String>), Refused> {
    let parsed = text::parse(old).ok_or(Refused::Unreadable)?;
    let located = path.query_located(&parsed);
    let mut seen = std::collections::HashSet::new();
    let mut selected: Vec<Vec<PathElement<'_>>> = Vec::new();
    for location in located.locations() {
        let elements: Vec<PathElement<'_>> = location.iter().cloned().collect();
        let mut normalized = String::new();
        text::write_normalized(&mut normalized, &elements);
        if seen.insert(normalized) {
            selected.push(elements);
        }
    }
    if selected.is_empty() {
        return Ok((0, None));
    }
    let paths: Vec<&[PathElement<'_>]> = selected.iter().map(Vec::as_slice).collect();
    let ranges = text::ranges(old, &paths).ok_or(Refused::Unreadable)?;
    let splice = Splice { old, edits: ranges.into_iter().map(|r| (r, value)).collect() };
    Ok((selected.len(), Some(splice.build(max_bytes)?)))
}

/// `KV_ARR_APPEND`: `items` (each valid JSON text) appended to the array
/// `old` holds, or to its member `name` (its last occurrence if repeated).
/// Returns `None` when there is nothing to append.
///
/// # Errors
/// [`Refused::NotArray`] when the target is not an array, or `name` is
/// given and `old` is not an object with that member;
/// [`Refused::TooLarge`] past `max_bytes`.
pub(super) fn append(
    old: &str,
    name: Option<&str>,
    items: &[&str],
    max_bytes: usize,
) -> Result<Option<String>, Refused> {
    let target = match name {
        None => 0..old.len(),
        Some(name) => text::member_range(old, name).ok_or(Refused::NotArray)?,
    };
    let (end, has_items) = text::array_end(old, target).ok_or(Refused::NotArray)?;
    if items.is_empty() {
        return Ok(None);
    }
    let mut added = String::with_capacity(items.iter().map(|i| i.len() + 1).sum());
    for (i, item) in items.iter().enumerate() {
        if i > 0 || has_items {
            added.push(',');
        }
        added.push_str(item);
    }
    Splice { old, edits: vec![(end..end, &added)] }.build(max_bytes).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 1 << 20;

    fn updated(old: &str, path: &str, value: &str) -> (usize, Option<String>) {
        update(old, &JsonPath::parse(path).unwrap(), value, MAX).unwrap()
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
        let path = JsonPath::parse("$[*]").unwrap();
        assert_eq!(update("[1,2]", &path, "12345", 11), Err(Refused::TooLarge));
        assert_eq!(update("[1,2]", &path, "1234", 11), Ok((2, Some("[1234,1234]".into()))));
        // Values nested too deep to query can still be appended to.
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let first = JsonPath::parse("$[0]").unwrap();
        assert_eq!(update(&deep(200), &first, "1", MAX), Err(Refused::Unreadable));
        assert_eq!(update(&deep(2), &first, &deep(200), MAX), Ok((1, Some(format!("[{}]", deep(200))))));
        assert_eq!(append(&deep(200), None, &["1"], MAX), Ok(Some(format!("[{},1]", deep(199)))));
    }

    #[test]
    fn appends() {
        assert_eq!(append("[1, 2 ]", None, &["3", r#"{"a":1}"#], MAX), Ok(Some(r#"[1, 2 ,3,{"a":1}]"#.into())));
        assert_eq!(append("[ ]", None, &["3", "4"], MAX), Ok(Some("[ 3,4]".into())));
        assert_eq!(append("[]", None, &[], MAX), Ok(None));
        assert_eq!(append(r#"{"l":[],"n":1}"#, Some("l"), &["true"], MAX), Ok(Some(r#"{"l":[true],"n":1}"#.into())));
        assert_eq!(append(r#"{"l":[],"n":1}"#, Some("n"), &["true"], MAX), Err(Refused::NotArray));
        assert_eq!(append(r#"{"l":[],"n":1}"#, Some("zz"), &["true"], MAX), Err(Refused::NotArray));
        assert_eq!(append(r#"{"l":[]}"#, None, &["true"], MAX), Err(Refused::NotArray));
        assert_eq!(append("[1]", Some("l"), &["true"], MAX), Err(Refused::NotArray));
        assert_eq!(append(r#""[1]""#, None, &["true"], MAX), Err(Refused::NotArray));
        assert_eq!(append("[1]", None, &["1"; 10], 8), Err(Refused::TooLarge));
    }
}
