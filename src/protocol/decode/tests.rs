//! Decoder tests: every row of the dispatch table and the parameter rules.

use super::*;
use crate::protocol::{Find, FindRsp, MapOp};

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
    assert!(matches!(decode("{\"KV_COUNT\":{}} \n\t"), Ok(Command::Kv(MapOp::Count))));
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
    let Command::Kv(MapOp::Get(keys)) = cmd else { panic!("{cmd:?}") };
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
    assert!(matches!(decode(r#"{"KV_\u0043OUNT":{}}"#), Ok(Command::Kv(MapOp::Count))));
}

#[test]
fn kv_set_reads_keys_in_request_order_with_raw_values() {
    let text = r#"{"KV_SET":{"keys":{"z":1,"a":{"b":[1, 2]},"m":"s\"t","n":null}}}"#;
    let Ok(Command::Kv(MapOp::Set(pairs))) = decode(text) else { panic!() };
    let got: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_ref(), v.get())).collect();
    assert_eq!(got, [("z", "1"), ("a", "{\"b\":[1, 2]}"), ("m", "\"s\\\"t\""), ("n", "null")]);
}

#[test]
fn repeated_keys_keep_the_first_occurrence() {
    let Ok(Command::Kv(MapOp::Set(pairs))) = decode(r#"{"KV_SET":{"keys":{"a":1,"b":2,"a":3}}}"#) else { panic!() };
    let got: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_ref(), v.get())).collect();
    assert_eq!(got, [("a", "1"), ("b", "2")]);
    let many: Vec<String> = (0..40).map(|i| format!("\"k{}\":{i}", i % 20)).collect();
    let text = format!("{{\"KV_SET\":{{\"keys\":{{{}}}}}}}", many.join(","));
    let Ok(Command::Kv(MapOp::Set(pairs))) = decode(&text) else { panic!() };
    assert_eq!(pairs.len(), 20);
    assert!(pairs.iter().enumerate().all(|(i, (k, v))| *k == format!("k{i}") && v.get() == i.to_string()));
}

#[test]
fn repeated_parameters_keep_the_first_occurrence() {
    let Ok(Command::Kv(MapOp::Get(keys))) = decode(r#"{"KV_GET":{"keys":["a"],"keys":5}}"#) else { panic!() };
    assert_eq!(keys, ["a"]);
}

#[test]
fn python_style_escapes_and_spacing_decode() {
    let text = r#"{"KV_SET": {"keys": {"\u017c\u00f3\u0142w": "\ud834\udd1e", "k": [1, 2]}}}"#;
    let Ok(Command::Kv(MapOp::Set(pairs))) = decode(text) else { panic!() };
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
    let Ok(Command::Kv(MapOp::Rmv(keys))) = decode(r#"{"KV_RMV":{"keys":[1]}}"#) else { panic!() };
    assert!(keys.is_empty());
}

#[test]
fn name_lists_skip_non_strings() {
    let Ok(Command::Kv(MapOp::Get(keys))) = decode(r#"{"KV_GET":{"keys":["a",1,null,{"b":"c"},["d"],"e",true,1.5]}}"#)
    else {
        panic!()
    };
    assert_eq!(keys, ["a", "e"]);
}

#[test]
fn bodies_of_parameterless_commands_are_ignored() {
    assert!(matches!(decode(r#"{"KV_CLEAR":{"x":[1,{"y":2}]}}"#), Ok(Command::Kv(MapOp::Clear))));
    assert!(matches!(decode(r#"{"SV_INFO":{"keys":1}}"#), Ok(Command::SvInfo)));
    assert!(matches!(decode(r#"{"KV_KEYS":{}}"#), Ok(Command::Kv(MapOp::Keys))));
}

#[test]
fn deep_nesting_never_overflows_the_stack() {
    // The decoder recurses a fixed few levels; deeper values are scanned
    // iteratively by serde_json, so any depth is just valid JSON.
    let open = "[".repeat(100_000);
    let close = "]".repeat(100_000);
    let deep_value = format!("{{\"KV_SET\":{{\"keys\":{{\"a\":{open}{close}}}}}}}");
    assert!(matches!(decode(&deep_value), Ok(Command::Kv(MapOp::Set(pairs))) if pairs.len() == 1));
    let deep_param = format!("{{\"KV_GET\":{{\"keys\":{open}{close}}}}}");
    assert!(matches!(decode(&deep_param), Ok(Command::Kv(MapOp::Get(keys))) if keys.is_empty()));
    let unbalanced = format!("{{\"KV_GET\":{{\"keys\":{open}}}}}");
    assert_eq!(rejected(&unbalanced), err(Status::JsonInvalid));
}

fn token_of(text: &str) -> Option<u64> {
    match decode(text) {
        Ok(Command::ShEnd(token) | Command::ShInfo(token) | Command::Sh(token, _)) => token,
        other => panic!("{text} decoded to {other:?}"),
    }
}

#[test]
fn only_a_u64_is_a_token_and_nothing_else_is_a_type_error() {
    assert_eq!(token_of(r#"{"SH_END":{"tkn":5}}"#), Some(5));
    assert_eq!(token_of(r#"{"SH_END":{"tkn":18446744073709551615}}"#), Some(u64::MAX));
    assert_eq!(token_of(r#"{"SH_END":{"tkn":0}}"#), Some(0));
    for bad in
        [r#""5""#, "5.0", "1.5", "1e3", "-1", "-0", "18446744073709551616", "null", "true", "[5]", r#"{"tkn":5}"#]
    {
        assert_eq!(token_of(&format!(r#"{{"SH_END":{{"tkn":{bad}}}}}"#)), None, "{bad}");
        assert_eq!(token_of(&format!(r#"{{"SH_COUNT":{{"tkn":{bad}}}}}"#)), None, "{bad}");
        assert_eq!(token_of(&format!(r#"{{"SH_INFO":{{"tkn":{bad}}}}}"#)), None, "{bad}");
    }
    assert_eq!(token_of(r#"{"SH_END":{}}"#), None);
    assert_eq!(token_of(r#"{"SH_KEYS":{"tkn":7,"tkn":8}}"#), Some(7), "first occurrence wins");
}

#[test]
fn sh_exists_reads_u64_items_and_skips_the_rest() {
    let text = r#"{"SH_EXISTS":{"tkns":[1,"2",-3,4.5,18446744073709551615,null,[5],{"a":6},true,1]}}"#;
    let Ok(Command::ShExists(tokens)) = decode(text) else { panic!() };
    assert_eq!(tokens, [1, u64::MAX, 1]);
    let Ok(Command::ShExists(tokens)) = decode(r#"{"SH_EXISTS":{"tkns":[]}}"#) else { panic!() };
    assert!(tokens.is_empty());
    let missing = Rejection::verb(Verb::ShExists, Status::ParamMissing, MISSING_PARAMETER);
    let mistyped = Rejection::verb(Verb::ShExists, Status::ValueTypeInvalid, PARAM_TYPE_INCORRECT);
    assert_eq!(rejected(r#"{"SH_EXISTS":{}}"#), missing);
    assert_eq!(rejected(r#"{"SH_EXISTS":{"tkn":[1]}}"#), missing);
    for bad in ["1", r#""[1]""#, "{}", "null"] {
        assert_eq!(rejected(&format!(r#"{{"SH_EXISTS":{{"tkns":{bad}}}}}"#)), mistyped, "{bad}");
    }
}

#[test]
fn sh_info_wants_exactly_one_distinct_member() {
    let syntax = Rejection::verb(Verb::ShInfo, Status::CommandSyntax, "");
    assert_eq!(rejected(r#"{"SH_INFO":{}}"#), syntax);
    assert_eq!(rejected(r#"{"SH_INFO":{"tkn":1,"x":1}}"#), syntax);
    assert_eq!(rejected(r#"{"SH_INFO":{"x":1,"tkn":1}}"#), syntax);
    assert!(matches!(decode(r#"{"SH_INFO":{"tkn":1,"tkn":2}}"#), Ok(Command::ShInfo(Some(1)))));
    assert!(matches!(decode(r#"{"SH_INFO":{"x":1}}"#), Ok(Command::ShInfo(None))));
    assert!(matches!(decode(r#"{"SH_INFO":{"t\u006bn":3}}"#), Ok(Command::ShInfo(Some(3)))));
}

fn new_session(text: &str) -> Result<Option<Expiry>, Rejection<'_>> {
    match decode(text) {
        Ok(Command::ShNew(expiry)) => Ok(expiry),
        Ok(other) => panic!("{text} decoded to {other:?}"),
        Err(rejection) => Err(rejection),
    }
}

#[test]
fn sh_new_validates_expiry_members_in_byte_wise_order() {
    let missing = Err(Rejection::verb(Verb::ShNew, Status::ParamMissing, MISSING_PARAMETER));
    let mistyped = Err(Rejection::verb(Verb::ShNew, Status::ValueTypeInvalid, PARAM_TYPE_INCORRECT));
    let expiry = |duration, delete_session, extend_on_get, extend_on_set_add| {
        Ok(Some(Expiry { duration, delete_session, extend_on_get, extend_on_set_add }))
    };
    let rows = [
        (r#"{}"#, Ok(None)),
        (r#"{"name":"x","shared":true}"#, Ok(None)),
        (r#"{"expiry":[]}"#, mistyped.clone()),
        (r#"{"expiry":null}"#, mistyped.clone()),
        (r#"{"expiry":5}"#, mistyped.clone()),
        (r#"{"expiry":{}}"#, missing.clone()),
        (r#"{"expiry":{"duration":-1}}"#, mistyped.clone()),
        (r#"{"expiry":{"duration":1.5}}"#, mistyped.clone()),
        (r#"{"expiry":{"duration":5.0}}"#, mistyped.clone()),
        (r#"{"expiry":{"duration":1e3}}"#, mistyped.clone()),
        (r#"{"expiry":{"duration":"5"}}"#, mistyped.clone()),
        (r#"{"expiry":{"duration":18446744073709551616}}"#, mistyped.clone()),
        (r#"{"expiry":{"duration":5,"deleteSession":1}}"#, mistyped.clone()),
        // deleteSession sorts before duration: its type error wins.
        (r#"{"expiry":{"deleteSession":1}}"#, mistyped.clone()),
        // duration sorts before the extend flags: missing wins.
        (r#"{"expiry":{"extendOnGet":1}}"#, missing.clone()),
        (r#"{"expiry":{"deleteSession":true,"extendOnSetAdd":"x"}}"#, missing.clone()),
        (r#"{"expiry":{"duration":5,"extendOnGet":"true"}}"#, mistyped.clone()),
        (r#"{"expiry":{"duration":5,"extendOnSetAdd":0}}"#, mistyped.clone()),
        (r#"{"expiry":{"duration":30}}"#, expiry(30, false, false, false)),
        (r#"{"expiry":{"duration":0,"deleteSession":true,"extendOnGet":true}}"#, expiry(0, true, true, false)),
        (
            r#"{"expiry": {"duration": 2, "deleteSession": true, "extendOnSetAdd": false, "extendOnGet": true}}"#,
            expiry(2, true, true, false),
        ),
        (r#"{"expiry":{"duration":18446744073709551615,"extendOnSetAdd":true}}"#, expiry(u64::MAX, false, false, true)),
        (r#"{"expiry":{"duration":1,"duration":"x","name":"n"}}"#, expiry(1, false, false, false)),
        (r#"{"expiry":{"duration":1},"expiry":[]}"#, expiry(1, false, false, false)),
    ];
    for (body, expected) in rows {
        let text = format!(r#"{{"SH_NEW":{body}}}"#);
        assert_eq!(new_session(&text), expected, "{body}");
    }
    assert_eq!(rejected(r#"{"SH_NEW":[]}"#), unknown("SH_NEW", Status::CommandSyntax));
}

#[test]
fn sh_data_commands_check_keys_before_the_token() {
    let missing = |verb| Rejection::verb(verb, Status::ParamMissing, MISSING_PARAMETER);
    let mistyped = |verb| Rejection::verb(verb, Status::ValueTypeInvalid, PARAM_TYPE_INCORRECT);
    assert_eq!(rejected(r#"{"SH_SET":{"tkn":9876543210123456789}}"#), missing(Verb::ShSet));
    assert_eq!(rejected(r#"{"SH_ADD":{"keys":[],"tkn":1}}"#), mistyped(Verb::ShAdd));
    assert_eq!(rejected(r#"{"SH_CLEAR_SET":{"keys":"a"}}"#), mistyped(Verb::ShClearSet));
    assert_eq!(rejected(r#"{"SH_GET":{"keys":{},"tkn":1}}"#), mistyped(Verb::ShGet));
    assert_eq!(rejected(r#"{"SH_CONTAINS":{"tkn":"x"}}"#), missing(Verb::ShContains));
    assert_eq!(
        rejected(r#"{"SH_RMV":{"keys":[],"tkn":"x"}}"#),
        Rejection::verb(Verb::ShRmv, Status::ValueSize, "keys")
    );
    let Ok(Command::Sh(None, MapOp::Get(keys))) = decode(r#"{"SH_GET":{"keys":["a",1],"tkn":-5}}"#) else { panic!() };
    assert_eq!(keys, ["a"]);
    let Ok(Command::Sh(Some(7), MapOp::Set(pairs))) = decode(r#"{"SH_SET": {"keys": {"a": [1, 2]}, "tkn": 7}}"#) else {
        panic!()
    };
    assert_eq!(pairs[0].1.get(), "[1, 2]");
    assert!(matches!(decode(r#"{"SH_COUNT":{}}"#), Ok(Command::Sh(None, MapOp::Count))));
    assert!(matches!(decode(r#"{"SH_CLEAR":{"tkn":3,"keys":5}}"#), Ok(Command::Sh(Some(3), MapOp::Clear))));
    assert!(matches!(decode(r#"{"SH_END_ALL":{"x":1}}"#), Ok(Command::ShEndAll)));
    assert!(matches!(decode(r#"{"SH_INFO_ALL":{}}"#), Ok(Command::ShInfoAll)));
}

#[test]
fn other_sh_names_are_unknown() {
    for name in ["SH_FIND", "SH_UPDATE", "SH_ARR_APPEND", "SH_NEW_RSP", "sh_new"] {
        let text = format!("{{\"{name}\":{{}}}}");
        assert_eq!(rejected(&text), unknown(name, Status::CommandNotExist), "{name}");
    }
}

#[test]
fn jsonpath_commands_decode_in_name_order() {
    let Ok(Command::KvFind(find)) = decode(r#"{"KV_FIND":{"rsp":"paths","path":"$.a","keys":["x",1,"y"]}}"#) else {
        panic!()
    };
    assert_eq!(find, Find { keys: Some(vec!["x".into(), "y".into()]), path: "$.a".into(), rsp: FindRsp::Paths });
    // An empty `keys`, like an absent one, searches every key.
    for body in [r#"{"path":"$","rsp":"kv"}"#, r#"{"keys":[],"path":"$","rsp":"kv"}"#] {
        let text = format!(r#"{{"KV_FIND":{body}}}"#);
        let Ok(Command::KvFind(find)) = decode(&text) else { panic!("{body}") };
        assert_eq!((find.keys, find.rsp), (None, FindRsp::Kv));
    }
    let Ok(Command::KvUpdate(update)) = decode(r#"{"KV_UPDATE":{"value": [1, {"a" : 2}] ,"path":"$[0]","key":"k"}}"#)
    else {
        panic!()
    };
    assert_eq!((update.key.as_ref(), update.path.as_ref(), update.value.get()), ("k", "$[0]", r#"[1, {"a" : 2}]"#));
    let Ok(Command::KvUpdate(update)) = decode(r#"{"KV_UPDATE":{"key":"k","path":"$","value":null}}"#) else {
        panic!()
    };
    assert_eq!(update.value.get(), "null");
    let Ok(Command::KvArrAppend(append)) = decode(r#"{"KV_ARR_APPEND":{"items":[1e400, "a" ,{}],"key":"k"}}"#) else {
        panic!()
    };
    let items: Vec<&str> = append.items.iter().map(|i| i.get()).collect();
    assert_eq!((append.key.as_ref(), items, append.name), ("k", vec!["1e400", r#""a""#, "{}"], None));
    let Ok(Command::KvArrAppend(append)) = decode(r#"{"KV_ARR_APPEND":{"items":[],"key":"k","name":"l\u00e9"}}"#)
    else {
        panic!()
    };
    assert_eq!(append.name.as_deref(), Some("lé"));
}

#[test]
fn jsonpath_command_errors() {
    let find = |m| Rejection::verb(Verb::KvFind, Status::CommandSyntax, m);
    assert_eq!(rejected(r#"{"KV_FIND":{"path":"$","rsp":"key"}}"#), find(RSP_INVALID));
    assert_eq!(rejected(r#"{"KV_FIND":{"path":"","rsp":"x"}}"#), find(RSP_INVALID));
    assert_eq!(
        rejected(r#"{"KV_FIND":{"path":"","rsp":"keys"}}"#),
        Rejection::verb(Verb::KvFind, Status::ValueSize, PATH_EMPTY)
    );
    let missing = |verb| Rejection::verb(verb, Status::ParamMissing, MISSING_PARAMETER);
    let mistyped = |verb| Rejection::verb(verb, Status::ValueTypeInvalid, PARAM_TYPE_INCORRECT);
    assert_eq!(rejected(r#"{"KV_FIND":{"keys":{},"rsp":5}}"#), mistyped(Verb::KvFind));
    assert_eq!(rejected(r#"{"KV_FIND":{"rsp":5}}"#), missing(Verb::KvFind));
    assert_eq!(rejected(r#"{"KV_UPDATE":{"key":"k","path":"$"}}"#), missing(Verb::KvUpdate));
    assert_eq!(rejected(r#"{"KV_UPDATE":{"key":"k","value":1}}"#), missing(Verb::KvUpdate));
    assert_eq!(rejected(r#"{"KV_UPDATE":{"key":true,"value":1}}"#), mistyped(Verb::KvUpdate));
    assert_eq!(rejected(r#"{"KV_ARR_APPEND":{"items":{},"key":1}}"#), mistyped(Verb::KvArrAppend));
    assert_eq!(rejected(r#"{"KV_ARR_APPEND":{"key":1}}"#), missing(Verb::KvArrAppend));
    assert_eq!(rejected(r#"{"KV_ARR_APPEND":{"items":[],"key":"k","name":[]}}"#), mistyped(Verb::KvArrAppend));
    // A malformed document is still status 3, wherever the fault is.
    assert_eq!(rejected(r#"{"KV_UPDATE":{"key":"k","path":"$","value":[1,}}}"#), err(Status::JsonInvalid));
    assert_eq!(rejected(r#"{"KV_ARR_APPEND":{"items":[1,,2],"key":"k"}}"#), err(Status::JsonInvalid));
}
