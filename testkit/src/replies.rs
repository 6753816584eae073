//! Checks of what every reply must look like, shared by the property tests
//! and the fuzz targets.
//!
//! Parsed with `RawValue` rather than `Value`: ndb keeps stored numbers as
//! sent, including ones beyond `f64` (`1e400`), which are valid JSON but
//! which `Value` refuses.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

/// A JSON object whose member values are kept as text.
pub type Object = BTreeMap<String, Box<RawValue>>;

/// Asserts `reply` is one JSON object with exactly one member, keyed `ERR`
/// or `<CMD>_RSP`, whose value is an object carrying an integer `st`;
/// returns the key. (Stored values come back with the client's own
/// whitespace, so only replies without them can be checked for
/// compactness: see [`check_compact`].)
pub fn check_reply(reply: &[u8]) -> String {
    let text = std::str::from_utf8(reply).expect("a reply is UTF-8");
    let envelope: BTreeMap<String, Object> =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("a reply is a JSON object of objects ({e}): {text}"));
    assert_eq!(envelope.len(), 1, "a reply has one member: {text}");
    let (key, body) = envelope.into_iter().next().expect("one member");
    assert!(key == "ERR" || key.ends_with("_RSP"), "a reply is keyed ERR or <CMD>_RSP: {text}");
    let st = body.get("st").unwrap_or_else(|| panic!("a reply has a status: {text}"));
    assert!(serde_json::from_str::<u16>(st.get()).is_ok(), "a status is a small integer: {text}");
    key
}

/// Asserts a reply that carries no stored value has no whitespace outside
/// strings (inside them, control characters are escaped).
pub fn check_compact(reply: &[u8]) {
    let mut in_string = false;
    let mut escaped = false;
    for &b in reply {
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (_, false, b'"') => in_string = !in_string,
            (false, _, b' ' | b'\n' | b'\r' | b'\t') => {
                panic!("whitespace in {}", String::from_utf8_lossy(reply))
            }
            _ => {}
        }
    }
}

/// The member names of `text` if it is a JSON object.
pub fn member_names(text: &str) -> Option<Vec<String>> {
    serde_json::from_str::<Object>(text).ok().map(|o| o.into_keys().collect())
}

/// Asserts a `<CMD>_RSP` reply answers a command the request named: when
/// the request is a JSON object, `<CMD>` is one of its member names.
pub fn check_reply_names_request(request: &str, key: &str) {
    if let (Some(name), Some(names)) = (key.strip_suffix("_RSP"), member_names(request)) {
        assert!(names.iter().any(|n| n == name), "{key} answers {request}");
    }
}
