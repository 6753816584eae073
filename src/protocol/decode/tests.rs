//! Decoder tests: every row of the dispatch table and the parameter rules.

use super::*;

fn rejected(text: &str) -> Rejection<'_> {
    match decode(text) {
        Ok(cmd) => panic!("{:.200} decoded to {cmd:?}", text),
        Err(r) => r,
    }
}

fn err(status: Status) -> Rejection<'static> {
    Rejection { status, shape: Shape::Err }
}

fn unknown(name: &str, status: Status) -> Rejection<'_> {
    Rejection { status, shape: Shape::Rsp { name: RspName::Unknown(Cow::Borrowed(name)), m: "" } }
}

#[test]
fn invalid_json_is_status_3() {
    for text in ["", "   ", "{", "{\"KV_SET\":{}", "nul", "{\"KV_COUNT\":{}} x", "{\"KV_COUNT\":{}}}", "[1,]", "\"abc"]
    {
        assert_eq!(rejected(text), err(Status::JsonInvalid), "{text:?}");
    }
}

#[test]
fn trailing_whitespace_is_fine() {
    assert!(matches!(decode("{\"KV_COUNT\":{}} \n\t"), Ok(Command::KvCount)));
}

#[test]
fn envelope_must_be_an_object_with_one_member() {
    for text in ["[]", "[1,{\"a\":2}]", "\"str\"", "1", "-1.5", "true", "null", "{}", r#"{"KV_COUNT":{},"KV_KEYS":{}}"#]
    {
        assert_eq!(rejected(text), err(Status::CommandSyntax), "{text:?}");
    }
}

#[test]
fn a_repeated_command_collapses_to_the_first() {
    let cmd = decode(r#"{"KV_GET":{"keys":["a"]},"KV_GET":{"keys":["b"]}}"#).unwrap();
    let Command::KvGet(keys) = cmd else { panic!("{cmd:?}") };
    assert_eq!(keys, ["a"]);
}

#[test]
fn command_value_must_be_an_object() {
    assert_eq!(rejected(r#"{"KV_SET":[]}"#), unknown("KV_SET", Status::CommandSyntax));
    assert_eq!(rejected(r#"{"KV_COUNT":1}"#), unknown("KV_COUNT", Status::CommandSyntax));
    assert_eq!(rejected(r#"{"NOPE":"x"}"#), unknown("NOPE", Status::CommandSyntax));
}

#[test]
fn command_name_needs_an_underscore() {
    assert_eq!(rejected(r#"{"KVSET":{}}"#), unknown("KVSET", Status::CommandSyntax));
}

#[test]
fn unknown_commands_get_status_10_in_the_documented_shape() {
    for name in ["KV_SETQ", "KV_ADDQ", "KV_SET_RSP", "KV_NOPE"] {
        assert_eq!(rejected(&format!("{{\"{name}\":{{}}}}")), err(Status::CommandNotExist), "{name}");
    }
    for name in ["SH_OPEN", "kv_set", "SV_FOO", "XX_YY", "A_"] {
        let text = format!("{{\"{name}\":{{}}}}");
        assert_eq!(rejected(&text), unknown(name, Status::CommandNotExist), "{name}");
    }
}

#[test]
fn escaped_command_names_are_decoded() {
    assert!(matches!(decode(r#"{"KV_\u0043OUNT":{}}"#), Ok(Command::KvCount)));
}

#[test]
fn kv_set_reads_keys_in_request_order_with_raw_values() {
    let text = r#"{"KV_SET":{"keys":{"z":1,"a":{"b":[1, 2]},"m":"s\"t","n":null}}}"#;
    let Ok(Command::KvSet(pairs)) = decode(text) else { panic!() };
    let got: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_ref(), v.get())).collect();
    assert_eq!(got, [("z", "1"), ("a", "{\"b\":[1, 2]}"), ("m", "\"s\\\"t\""), ("n", "null")]);
}

#[test]
fn repeated_keys_keep_the_first_occurrence() {
    let Ok(Command::KvSet(pairs)) = decode(r#"{"KV_SET":{"keys":{"a":1,"b":2,"a":3}}}"#) else { panic!() };
    let got: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_ref(), v.get())).collect();
    assert_eq!(got, [("a", "1"), ("b", "2")]);
    let many: Vec<String> = (0..40).map(|i| format!("\"k{}\":{i}", i % 20)).collect();
    let text = format!("{{\"KV_SET\":{{\"keys\":{{{}}}}}}}", many.join(","));
    let Ok(Command::KvSet(pairs)) = decode(&text) else { panic!() };
    assert_eq!(pairs.len(), 20);
    assert!(pairs.iter().enumerate().all(|(i, (k, v))| *k == format!("k{i}") && v.get() == i.to_string()));
}

#[test]
fn repeated_parameters_keep_the_first_occurrence() {
    let Ok(Command::KvGet(keys)) = decode(r#"{"KV_GET":{"keys":["a"],"keys":5}}"#) else { panic!() };
    assert_eq!(keys, ["a"]);
}

#[test]
fn python_style_escapes_and_spacing_decode() {
    let text = r#"{"KV_SET": {"keys": {"\u017c\u00f3\u0142w": "\ud834\udd1e", "k": [1, 2]}}}"#;
    let Ok(Command::KvSet(pairs)) = decode(text) else { panic!() };
    assert_eq!(pairs[0].0, "żółw");
    assert!(matches!(pairs[0].0, Cow::Owned(_)));
    assert_eq!(serde_json::from_str::<String>(pairs[0].1.get()).unwrap(), "𝄞");
    assert!(matches!(pairs[1].0, Cow::Borrowed("k")));
}

#[test]
fn lone_surrogates_are_invalid_json() {
    assert_eq!(rejected(r#"{"KV_SET":{"keys":{"\ud800":1}}}"#), err(Status::JsonInvalid));
}

#[test]
fn missing_and_mistyped_parameters() {
    let missing = |verb| Rejection::verb(verb, Status::ParamMissing, MISSING_PARAMETER);
    let mistyped = |verb| Rejection::verb(verb, Status::ValueTypeInvalid, PARAM_TYPE_INCORRECT);
    assert_eq!(rejected(r#"{"KV_SET":{}}"#), missing(Verb::KvSet));
    assert_eq!(rejected(r#"{"KV_SET":{"key":{}}}"#), missing(Verb::KvSet));
    assert_eq!(rejected(r#"{"KV_ADD":{"keys":[]}}"#), mistyped(Verb::KvAdd));
    assert_eq!(rejected(r#"{"KV_CLEAR_SET":{"keys":"a"}}"#), mistyped(Verb::KvClearSet));
    assert_eq!(rejected(r#"{"KV_GET":{"keys":{}}}"#), mistyped(Verb::KvGet));
    assert_eq!(rejected(r#"{"KV_CONTAINS":{"keys":null}}"#), mistyped(Verb::KvContains));
    assert_eq!(rejected(r#"{"KV_RMV":{"keys":"a"}}"#), mistyped(Verb::KvRmv));
    assert_eq!(rejected(r#"{"KV_RMV":{}}"#), missing(Verb::KvRmv));
}

#[test]
fn empty_keys_in_rmv_is_42() {
    assert_eq!(rejected(r#"{"KV_RMV":{"keys":[]}}"#), Rejection::verb(Verb::KvRmv, Status::ValueSize, "keys"));
    // Judged on the array, not on its string items.
    let Ok(Command::KvRmv(keys)) = decode(r#"{"KV_RMV":{"keys":[1]}}"#) else { panic!() };
    assert!(keys.is_empty());
}

#[test]
fn name_lists_skip_non_strings() {
    let Ok(Command::KvGet(keys)) = decode(r#"{"KV_GET":{"keys":["a",1,null,{"b":"c"},["d"],"e",true,1.5]}}"#) else {
        panic!()
    };
    assert_eq!(keys, ["a", "e"]);
}

#[test]
fn bodies_of_parameterless_commands_are_ignored() {
    assert!(matches!(decode(r#"{"KV_CLEAR":{"x":[1,{"y":2}]}}"#), Ok(Command::KvClear)));
    assert!(matches!(decode(r#"{"SV_INFO":{"keys":1}}"#), Ok(Command::SvInfo)));
    assert!(matches!(decode(r#"{"KV_KEYS":{}}"#), Ok(Command::KvKeys)));
}

#[test]
fn deep_nesting_never_overflows_the_stack() {
    // The decoder recurses a fixed few levels; deeper values are scanned
    // iteratively by serde_json, so any depth is just valid JSON.
    let open = "[".repeat(100_000);
    let close = "]".repeat(100_000);
    let deep_value = format!("{{\"KV_SET\":{{\"keys\":{{\"a\":{open}{close}}}}}}}");
    assert!(matches!(decode(&deep_value), Ok(Command::KvSet(pairs)) if pairs.len() == 1));
    let deep_param = format!("{{\"KV_GET\":{{\"keys\":{open}{close}}}}}");
    assert!(matches!(decode(&deep_param), Ok(Command::KvGet(keys)) if keys.is_empty()));
    let unbalanced = format!("{{\"KV_GET\":{{\"keys\":{open}}}}}");
    assert_eq!(rejected(&unbalanced), err(Status::JsonInvalid));
}
