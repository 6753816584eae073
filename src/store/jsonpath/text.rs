//! A stored value's JSON text, read two ways: as the `serde_json::Value`
//! that JSONPath queries run on, and as a map of where each node lies in
//! the text, so that an edit can splice new text into the old.
//!
//! Values are stored as the client sent them, so an edit never
//! re-serialises a `Value`: only the selected nodes' bytes are replaced and
//! everything else (member order, number spellings such as `1.50`, `1e400`
//! or `123456789012345678901234567890`, the client's whitespace) stays
//! byte for byte. The `Value` is only ever read.
//!
//! Node positions come from `serde_json` itself: a container is read one
//! level deep with each child as a borrowed `&RawValue`, whose address
//! inside the stored text is its offset. Only the containers on the way to
//! a selected node are read, each once.
//!
//! Invariant: the text given is one valid JSON value (every stored value
//! passed `serde_json`'s check when it was stored); anything else reads as
//! `None`, never a panic.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;

use super::eval::Elem;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// The value `text` holds, to query. A number beyond `f64`'s range (such as
/// `1e400`, which `serde_json` refuses) reads as the largest finite `f64`
/// of its sign; an integer beyond 64 bits reads as the nearest `f64`.
///
/// `None` for a value nested deeper than `serde_json` builds a `Value`
/// (127 levels: building and dropping one recurse once per level). A
/// stored value may nest deeper, as `KV_SET` checks values without
/// recursing; such a value cannot be queried.
pub(super) fn parse(text: &str) -> Option<Value> {
    match serde_json::from_str(text) {
        Ok(value) => Some(value),
        Err(_) => serde_json::from_str(&finite_numbers(text)?).ok(),
    }
}

/// `text` with every number beyond `f64`'s range written as the largest
/// finite `f64` of its sign, so that `serde_json` reads it; `None` if it
/// holds none (nothing to retry). One pass, no recursion.
fn finite_numbers(text: &str) -> Option<String> {
    const MAX: &str = "1.7976931348623157e308";
    let bytes = text.as_bytes();
    let mut out = String::new();
    let (mut copied, mut i) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len() && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                    i += 1;
                }
                let number = text.get(start..i)?;
                // Beyond `f64`'s range: a JSON number that serde_json's
                // reader refuses as a float (core's float parser, 13 KB, is
                // not linked for this).
                if serde_json::from_str::<f64>(number).is_err() && serde_json::from_str::<IgnoredAny>(number).is_ok() {
                    out.push_str(text.get(copied..start)?);
                    out.push_str(if number.starts_with('-') { "-" } else { "" });
                    out.push_str(MAX);
                    copied = i;
                }
            }
            _ => i += 1,
        }
    }
    if copied == 0 {
        return None;
    }
    out.push_str(text.get(copied..)?);
    Some(out)
}

/// The members of an object's text in text order, names unescaped.
fn members(raw: &RawValue) -> Option<Vec<(String, &RawValue)>> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    de.deserialize_map(MembersVisitor).ok()
}

/// The items of an array's text.
fn items(raw: &RawValue) -> Option<Vec<&RawValue>> {
    serde_json::from_str(raw.get()).ok()
}

struct MembersVisitor;

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Vec<(String, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(4));
        while let Some(name) = map.next_key::<String>()? {
            members.push((name, map.next_value::<&RawValue>()?));
        }
        Ok(members)
    }
}

/// Where the nodes at `paths` lie in `text` (the text `paths` were found
/// in), as byte ranges in text order. A node inside another listed node
/// is covered by that node's range and not listed itself. `None` if a
/// path leads nowhere in the text.
pub(super) fn ranges(text: &str, paths: &[&[Elem<'_>]]) -> Option<Vec<Range<usize>>> {
    let root: &RawValue = serde_json::from_str(text).ok()?;
    let mut out = Vec::new();
    locate(text, root, paths, &mut out)?;
    // `locate` visits children in text order, so this finds them sorted;
    // the sort only keeps the promise if that ever changes (and links no
    // copy of core's stable sort, 3.9 KB, for it).
    if !out.is_sorted_by_key(|r| r.start) {
        crate::sort::heap_sort_by(&mut out, |a, b| (a.start, a.end) < (b.start, b.end));
    }
    Some(out)
}

/// Where `raw`, a slice of `text`, lies in it.
fn range_of(text: &str, raw: &RawValue) -> Range<usize> {
    let start = (raw.get().as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
    start..start + raw.get().len()
}

fn locate(text: &str, raw: &RawValue, paths: &[&[Elem<'_>]], out: &mut Vec<Range<usize>>) -> Option<()> {
    if paths.is_empty() {
        return Some(());
    }
    if paths.iter().any(|p| p.is_empty()) {
        out.push(range_of(text, raw));
        return Some(());
    }
    // The children the paths go through, each read once, in text order.
    let mut by_child: BTreeMap<usize, Vec<&[Elem<'_>]>> = BTreeMap::new();
    let children: Vec<&RawValue> = match raw.get().as_bytes().first()? {
        b'{' => {
            let members = members(raw)?;
            // A repeated name means its last occurrence, as in the `Value`.
            let index: HashMap<&str, usize> = members.iter().enumerate().map(|(i, (n, _))| (n.as_str(), i)).collect();
            for path in paths {
                let Elem::Name(name) = path.first()? else { return None };
                let i = *index.get(name)?;
                by_child.entry(i).or_default().push(&path[1..]);
            }
            members.into_iter().map(|(_, child)| child).collect()
        }
        b'[' => {
            let items = items(raw)?;
            for path in paths {
                let Elem::Index(i) = *path.first()? else { return None };
                by_child.entry(i).or_default().push(&path[1..]);
            }
            items
        }
        _ => return None,
    };
    for (i, tails) in by_child {
        locate(text, children.get(i)?, &tails, out)?;
    }
    Some(())
}

/// Where an array's closing `]` is, for the array at `range` of `text`,
/// and whether it has items. `None` if `range` is not an array.
pub(super) fn array_end(text: &str, range: Range<usize>) -> Option<(usize, bool)> {
    let array = text.get(range.clone())?;
    let inner = array.strip_prefix('[')?.strip_suffix(']')?;
    Some((range.end - 1, !inner.trim_start_matches([' ', '\t', '\n', '\r']).is_empty()))
}

/// Where the member `name` (its last occurrence) of the object `text`
/// lies. `None` if `text` is not an object or has no such member.
pub(super) fn member_range(text: &str, name: &str) -> Option<Range<usize>> {
    let root: &RawValue = serde_json::from_str(text).ok()?;
    if !root.get().starts_with('{') {
        return None;
    }
    let members = members(root)?;
    let (_, child) = members.iter().rev().find(|(n, _)| n == name)?;
    Some(range_of(text, child))
}

/// Writes a normalized path (RFC 9535, section 2.7) for `path`, e.g.
/// `$['a'][0]`: names in single quotes with `'`, `\` and control characters
/// escaped as the RFC prescribes, indexes in decimal.
pub(super) fn write_normalized(out: &mut String, path: &[Elem<'_>]) {
    use std::fmt::Write;
    out.push('$');
    for element in path {
        match element {
            Elem::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
            Elem::Name(name) => {
                out.push_str("['");
                for c in name.chars() {
                    match c {
                        '\u{8}' => out.push_str("\\b"),
                        '\u{c}' => out.push_str("\\f"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        '\t' => out.push_str("\\t"),
                        '\'' => out.push_str("\\'"),
                        '\\' => out.push_str("\\\\"),
                        '\0'..='\u{1f}' => {
                            let _ = write!(out, "\\u{:04x}", u32::from(c));
                        }
                        c => out.push(c),
                    }
                }
                out.push_str("']");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_serde_json_refuses_still_read() {
        let value = parse(r#"{"big":1e400,"neg":-1e400,"long":123456789012345678901234567890,"n":[1,-2,0.5]}"#);
        let value = value.expect("readable");
        assert_eq!(value["big"].as_f64(), Some(f64::MAX));
        assert_eq!(value["neg"].as_f64(), Some(-f64::MAX));
        assert_eq!(value["long"].as_f64(), Some(1.2345678901234568e29));
        assert_eq!(value["n"], serde_json::json!([1, -2, 0.5]));
        assert_eq!(parse("1e400").and_then(|v| v.as_f64()), Some(f64::MAX));
        assert_eq!(parse("not json"), None);
    }

    #[test]
    fn values_too_deep_to_query_read_as_none() {
        let deep = |n: usize| format!("{}1e400{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(&deep(127)).is_some());
        assert_eq!(parse(&deep(128)), None);
        assert_eq!(parse(&deep(100_000)), None);
        let plain = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(&plain(127)).is_some());
        assert_eq!(parse(&plain(100_000)), None);
    }

    #[test]
    fn only_numbers_out_of_range_are_rewritten() {
        let text = r#"{"s":"1e400 \" 1e400","a":[1e400,-1E+999,1e-999,12,-0.5e3],"1e400":2e308}"#;
        assert_eq!(
            finite_numbers(text).unwrap(),
            concat!(
                r#"{"s":"1e400 \" 1e400","a":[1.7976931348623157e308,-1.7976931348623157e308,1e-999,12,-0.5e3],"#,
                r#""1e400":1.7976931348623157e308}"#
            )
        );
        assert_eq!(finite_numbers(r#"[1,"2",1e300]"#), None);
    }

    #[test]
    fn ranges_are_outermost_and_in_text_order() {
        let text = r#"{"b" : [1, {"c":2}], "a":"x"}"#;
        let b = [Elem::Name("b")];
        let b1 = [Elem::Name("b"), Elem::Index(1)];
        let b1c = [Elem::Name("b"), Elem::Index(1), Elem::Name("c")];
        let a = [Elem::Name("a")];
        let got = ranges(text, &[&a, &b1c]).unwrap();
        assert_eq!(got.iter().map(|r| &text[r.clone()]).collect::<Vec<_>>(), ["2", r#""x""#]);
        let got = ranges(text, &[&b1c, &b1, &b]).unwrap();
        assert_eq!(got.iter().map(|r| &text[r.clone()]).collect::<Vec<_>>(), [r#"[1, {"c":2}]"#]);
        assert_eq!(ranges(text, &[&[]]).unwrap(), vec![0..text.len()]);
        assert_eq!(ranges(text, &[&[Elem::Name("zz")]]), None);
        assert_eq!(ranges(text, &[&[Elem::Index(0)]]), None);
    }

    #[test]
    fn a_repeated_name_means_its_last_occurrence() {
        let text = r#"{"a":1,"a":[2]}"#;
        let got = ranges(text, &[&[Elem::Name("a")]]).unwrap();
        assert_eq!(&text[got[0].clone()], "[2]");
        assert_eq!(member_range(text, "a").map(|r| &text[r]), Some("[2]"));
        assert_eq!(parse(text).unwrap()["a"], serde_json::json!([2]));
    }

    #[test]
    fn escaped_names_are_found() {
        let text = r#"{"a\"b":1,"\u00e9":2}"#;
        let got = ranges(text, &[&[Elem::Name("a\"b")], &[Elem::Name("é")]]).unwrap();
        assert_eq!(got.iter().map(|r| &text[r.clone()]).collect::<Vec<_>>(), ["1", "2"]);
    }

    #[test]
    fn array_ends() {
        let text = r#"{"e":[ ],"f":[1 ,2 ]}"#;
        let e = member_range(text, "e").unwrap();
        assert_eq!(array_end(text, e.clone()), Some((e.end - 1, false)));
        let f = member_range(text, "f").unwrap();
        assert_eq!(array_end(text, f.clone()), Some((f.end - 1, true)));
        assert_eq!(array_end(text, 0..text.len()), None);
        assert_eq!(member_range("[1]", "a"), None);
    }

    #[test]
    fn normalized_paths_follow_rfc_9535() {
        let mut out = String::new();
        let path = [Elem::Name("a"), Elem::Index(0), Elem::Name("it's \\ \u{1} \u{1f} \n\t é ☃")];
        write_normalized(&mut out, &path);
        assert_eq!(out, r"$['a'][0]['it\'s \\ \u0001 \u001f \n\t é ☃']");
        out.clear();
        write_normalized(&mut out, &[]);
        assert_eq!(out, "$");
    }
}
