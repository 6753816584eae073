//! Checks shared by the fuzz targets: what every reply must look like.
#![allow(dead_code)]

use serde_json::Value;

/// Asserts `reply` is one compact JSON object with exactly one member,
/// keyed `ERR` or `<CMD>_RSP`, whose value is an object carrying an
/// integer `st`; returns the key.
pub fn check_reply(reply: &[u8]) -> String {
    let text = std::str::from_utf8(reply).expect("a reply is UTF-8");
    let value: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("a reply is JSON ({e}): {text}"));
    let Value::Object(envelope) = value else { panic!("a reply is an object: {text}") };
    assert_eq!(envelope.len(), 1, "a reply has one member: {text}");
    let (key, body) = envelope.into_iter().next().expect("one member");
    assert!(key == "ERR" || key.ends_with("_RSP"), "a reply is keyed ERR or <CMD>_RSP: {text}");
    let Value::Object(body) = body else { panic!("a reply's value is an object: {text}") };
    assert!(body.get("st").is_some_and(Value::is_u64), "a reply has a status: {text}");
    assert!(!text.contains(['\n', '\r']), "a reply is compact: {text}");
    key
}

/// Asserts a `<CMD>_RSP` reply answers a command the request named: when
/// the request is a JSON object, `<CMD>` is one of its member names.
pub fn check_reply_names_request(request: &str, key: &str) {
    if let (Some(name), Ok(Value::Object(members))) = (key.strip_suffix("_RSP"), serde_json::from_str::<Value>(request))
    {
        assert!(members.contains_key(name), "{key} answers {request}");
    }
}
