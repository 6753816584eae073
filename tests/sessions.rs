//! Every session command and every error row of the session sections, over
//! a real WebSocket, with the exact expected reply text. Tokens are random,
//! so rows name them `$A`, `$B`, … and the runner substitutes the real ones.
//! Timed expiry lives in `session_expiry.rs`.

mod common;

use std::time::Duration;

use common::{Client, VirtualHost, start};

/// Creates a session with the `SH_NEW` body `body`; returns its token after
/// checking the reply's exact shape.
fn new_session(client: &mut Client, body: &str) -> u64 {
    let reply = client.call(&format!(r#"{{"SH_NEW":{body}}}"#));
    let token = reply
        .strip_prefix(r#"{"SH_NEW_RSP":{"st":1,"tkn":"#)
        .and_then(|rest| rest.strip_suffix("}}"))
        .and_then(|digits| digits.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("unexpected SH_NEW reply {reply}"));
    assert_ne!(token, 0);
    token
}

/// Runs `(request, expected reply)` rows in order, with `$A`, `$B`, … replaced
/// by `tokens[0]`, `tokens[1]`, … in both.
fn table(client: &mut Client, tokens: &[u64], rows: &[(&str, &str)]) {
    let fill = |text: &str| {
        tokens.iter().enumerate().fold(text.to_owned(), |text, (i, token)| {
            text.replace(&format!("${}", char::from(b'A' + i as u8)), &token.to_string())
        })
    };
    for (request, expected) in rows {
        let request = fill(request);
        assert_eq!(client.call(&request), fill(expected), "request: {request}");
    }
}

/// The reply of a data command to a token that names no session.
fn no_session(cmd: &str) -> String {
    format!(r#"{{"{cmd}_RSP":{{"m":"","st":100,"tkn":null}}}}"#)
}

fn missing(cmd: &str) -> String {
    format!(r#"{{"{cmd}_RSP":{{"m":"Missing parameter","st":26,"tkn":null}}}}"#)
}

fn mistyped(cmd: &str) -> String {
    format!(r#"{{"{cmd}_RSP":{{"m":"Param type incorrect","st":41,"tkn":null}}}}"#)
}

#[test]
fn sh_new_gives_distinct_non_zero_tokens() {
    let server = start();
    let mut client = server.client();
    let mut tokens: Vec<u64> = (0..200).map(|_| new_session(&mut client, "{}")).collect();
    tokens.sort_unstable();
    tokens.dedup();
    assert_eq!(tokens.len(), 200);
    // About half the tokens are at least 2^63, written as plain integers.
    let high = tokens.iter().filter(|&&t| t >= 1 << 63).count();
    assert!((50..=150).contains(&high), "{high} of 200 tokens >= 2^63");
}

#[test]
fn sh_new_validation_table() {
    let server = start();
    let mut client = server.client();
    let rows = [
        (r#"{"SH_NEW":{"expiry":[]}}"#.to_owned(), mistyped("SH_NEW")),
        (r#"{"SH_NEW":{"expiry":{}}}"#.to_owned(), missing("SH_NEW")),
        (r#"{"SH_NEW":{"expiry":{"duration":-1}}}"#.to_owned(), mistyped("SH_NEW")),
        (r#"{"SH_NEW":{"expiry":{"duration":1.5}}}"#.to_owned(), mistyped("SH_NEW")),
        (r#"{"SH_NEW":{"expiry":{"duration":"5"}}}"#.to_owned(), mistyped("SH_NEW")),
        (r#"{"SH_NEW":{"expiry":{"duration":5,"deleteSession":1}}}"#.to_owned(), mistyped("SH_NEW")),
        (r#"{"SH_NEW":{"expiry":{"deleteSession":1}}}"#.to_owned(), mistyped("SH_NEW")),
        (r#"{"SH_NEW":{"expiry":{"extendOnGet":1}}}"#.to_owned(), missing("SH_NEW")),
        (r#"{"SH_NEW":{"expiry":{"duration":5,"extendOnSetAdd":"no"}}}"#.to_owned(), mistyped("SH_NEW")),
        (r#"{"SH_NEW":[]}"#.to_owned(), r#"{"SH_NEW_RSP":{"m":"","st":13,"tkn":null}}"#.to_owned()),
        (r#"{"SH_NEW":"x"}"#.to_owned(), r#"{"SH_NEW_RSP":{"m":"","st":13,"tkn":null}}"#.to_owned()),
    ];
    for (request, expected) in &rows {
        assert_eq!(&client.call(request), expected, "{request}");
    }
    // Accepted: 0.6-style members are ignored, and duration 0 with flags
    // never expires (the flags are dropped).
    let named = new_session(&mut client, r#"{"name":"cart","shared":true}"#);
    let zero = new_session(&mut client, r#"{"expiry":{"duration":0,"deleteSession":true,"extendOnGet":true}}"#);
    let tokens = [named, zero];
    table(
        &mut client,
        &tokens,
        &[
            (
                r#"{"SH_INFO":{"tkn":$A}}"#,
                r#"{"SH_INFO_RSP":{"expires":false,"keyCnt":0,"shared":false,"st":1,"tkn":$A}}"#,
            ),
            (
                r#"{"SH_INFO":{"tkn":$B}}"#,
                r#"{"SH_INFO_RSP":{"expires":false,"keyCnt":0,"shared":false,"st":1,"tkn":$B}}"#,
            ),
            (r#"{"SH_INFO_ALL":{}}"#, r#"{"SH_INFO_ALL_RSP":{"st":1,"totalKeys":0,"totalSessions":2}}"#),
        ],
    );
}

#[test]
fn data_commands_on_one_session() {
    let server = start();
    let mut client = server.client();
    let a = new_session(&mut client, "{}");
    let b = new_session(&mut client, "{}");
    table(
        &mut client,
        &[a, b],
        &[
            (r#"{"SH_SET":{"keys":{},"tkn":$A}}"#, r#"{"SH_SET_RSP":{"st":1}}"#),
            (
                r#"{"SH_SET":{"keys":{"city":"Leeds","visits":12,"tags":["x","y"],"geo":{"lat":53.8},"none":null},"tkn":$A}}"#,
                r#"{"SH_SET_RSP":{"st":1}}"#,
            ),
            (
                r#"{"SH_GET":{"keys":["city","nope","geo",7,"city"],"tkn":$A}}"#,
                r#"{"SH_GET_RSP":{"keys":{"city":"Leeds","geo":{"lat":53.8}},"st":1}}"#,
            ),
            (r#"{"SH_GET":{"keys":[],"tkn":$A}}"#, r#"{"SH_GET_RSP":{"keys":{},"st":1}}"#),
            (r#"{"SH_ADD":{"keys":{"city":"York","new":1},"tkn":$A}}"#, r#"{"SH_ADD_RSP":{"st":1}}"#),
            (
                r#"{"SH_GET":{"keys":["city","new"],"tkn":$A}}"#,
                r#"{"SH_GET_RSP":{"keys":{"city":"Leeds","new":1},"st":1}}"#,
            ),
            (r#"{"SH_COUNT":{"tkn":$A}}"#, r#"{"SH_COUNT_RSP":{"cnt":6,"st":1}}"#),
            (
                r#"{"SH_KEYS":{"tkn":$A}}"#,
                r#"{"SH_KEYS_RSP":{"keys":["city","visits","tags","geo","none","new"],"st":1}}"#,
            ),
            (
                r#"{"SH_CONTAINS":{"keys":["new","zz","city","new",1],"tkn":$A}}"#,
                r#"{"SH_CONTAINS_RSP":{"contains":["new","city","new"],"st":1}}"#,
            ),
            (r#"{"SH_CONTAINS":{"keys":[],"tkn":$A}}"#, r#"{"SH_CONTAINS_RSP":{"contains":[],"st":1}}"#),
            // Swap-remove: the last key moves into the hole.
            (r#"{"SH_RMV":{"keys":["visits","nope",3],"tkn":$A}}"#, r#"{"SH_RMV_RSP":{"st":1}}"#),
            (r#"{"SH_KEYS":{"tkn":$A}}"#, r#"{"SH_KEYS_RSP":{"keys":["city","new","tags","geo","none"],"st":1}}"#),
            // Sessions and top-level keys never see each other's keys.
            (r#"{"SH_KEYS":{"tkn":$B}}"#, r#"{"SH_KEYS_RSP":{"keys":[],"st":1}}"#),
            (r#"{"SH_COUNT":{"tkn":$B}}"#, r#"{"SH_COUNT_RSP":{"cnt":0,"st":1}}"#),
            (r#"{"KV_SET":{"keys":{"city":"Hull"}}}"#, r#"{"KV_SET_RSP":{"st":1}}"#),
            (r#"{"SH_GET":{"keys":["city"],"tkn":$B}}"#, r#"{"SH_GET_RSP":{"keys":{},"st":1}}"#),
            (r#"{"SH_GET":{"keys":["city"],"tkn":$A}}"#, r#"{"SH_GET_RSP":{"keys":{"city":"Leeds"},"st":1}}"#),
            (r#"{"SH_SET":{"keys":{"b":2},"tkn":$B}}"#, r#"{"SH_SET_RSP":{"st":1}}"#),
            (r#"{"SH_INFO_ALL":{}}"#, r#"{"SH_INFO_ALL_RSP":{"st":1,"totalKeys":6,"totalSessions":2}}"#),
            (r#"{"SH_CLEAR_SET":{"keys":{"z":1,"a":2},"tkn":$A}}"#, r#"{"SH_CLEAR_SET_RSP":{"cnt":5,"st":1}}"#),
            (r#"{"SH_KEYS":{"tkn":$A}}"#, r#"{"SH_KEYS_RSP":{"keys":["z","a"],"st":1}}"#),
            (r#"{"SH_CLEAR":{"tkn":$A}}"#, r#"{"SH_CLEAR_RSP":{"cnt":2,"st":1}}"#),
            (r#"{"SH_CLEAR":{"tkn":$A}}"#, r#"{"SH_CLEAR_RSP":{"cnt":0,"st":1}}"#),
            (r#"{"SH_INFO_ALL":{}}"#, r#"{"SH_INFO_ALL_RSP":{"st":1,"totalKeys":1,"totalSessions":2}}"#),
            (r#"{"KV_COUNT":{}}"#, r#"{"KV_COUNT_RSP":{"cnt":1,"st":1}}"#),
            (r#"{"SH_END_ALL":{"ignored":1}}"#, r#"{"SH_END_ALL_RSP":{"cnt":2,"st":1}}"#),
            (r#"{"SH_END_ALL":{}}"#, r#"{"SH_END_ALL_RSP":{"cnt":0,"st":1}}"#),
            (r#"{"SH_INFO_ALL":{}}"#, r#"{"SH_INFO_ALL_RSP":{"st":1,"totalKeys":0,"totalSessions":0}}"#),
            (r#"{"KV_GET":{"keys":["city"]}}"#, r#"{"KV_GET_RSP":{"keys":{"city":"Hull"},"st":1}}"#),
            (r#"{"SH_COUNT":{"tkn":$A}}"#, r#"{"SH_COUNT_RSP":{"m":"","st":100,"tkn":null}}"#),
        ],
    );
}

#[test]
fn sh_end_sh_exists_and_sh_info() {
    let server = start();
    let mut client = server.client();
    let a = new_session(&mut client, "{}");
    let b = new_session(&mut client, "{}");
    let unknown = a.wrapping_add(1);
    table(
        &mut client,
        &[a, b, unknown],
        &[
            (r#"{"SH_SET":{"keys":{"x":1,"y":2},"tkn":$A}}"#, r#"{"SH_SET_RSP":{"st":1}}"#),
            (
                r#"{"SH_INFO":{"tkn":$A}}"#,
                r#"{"SH_INFO_RSP":{"expires":false,"keyCnt":2,"shared":false,"st":1,"tkn":$A}}"#,
            ),
            (r#"{"SH_INFO":{"tkn":$C}}"#, r#"{"SH_INFO_RSP":{"keyCnt":null,"shared":null,"st":100,"tkn":$C}}"#),
            (r#"{"SH_INFO":{"tkn":0}}"#, r#"{"SH_INFO_RSP":{"keyCnt":null,"shared":null,"st":100,"tkn":0}}"#),
            (r#"{"SH_INFO":{"tkn":"$A"}}"#, r#"{"SH_INFO_RSP":{"m":"","st":100,"tkn":null}}"#),
            (r#"{"SH_INFO":{"x":$A}}"#, r#"{"SH_INFO_RSP":{"m":"","st":100,"tkn":null}}"#),
            (r#"{"SH_INFO":{}}"#, r#"{"SH_INFO_RSP":{"m":"","st":13,"tkn":null}}"#),
            (r#"{"SH_INFO":{"tkn":$A,"x":1}}"#, r#"{"SH_INFO_RSP":{"m":"","st":13,"tkn":null}}"#),
            (
                r#"{"SH_INFO":{"tkn":$A,"tkn":$B}}"#,
                r#"{"SH_INFO_RSP":{"expires":false,"keyCnt":2,"shared":false,"st":1,"tkn":$A}}"#,
            ),
            (
                r#"{"SH_EXISTS":{"tkns":[$A,$C,"$B",-1,1.5,$B,null,$A]}}"#,
                r#"{"SH_EXISTS_RSP":{"exist":[$A,$B,$A],"st":1}}"#,
            ),
            (r#"{"SH_EXISTS":{"tkns":[]}}"#, r#"{"SH_EXISTS_RSP":{"exist":[],"st":1}}"#),
            (r#"{"SH_EXISTS":{}}"#, &missing("SH_EXISTS")),
            (r#"{"SH_EXISTS":{"tkns":$A}}"#, &mistyped("SH_EXISTS")),
            (r#"{"SH_EXISTS":{"tkns":{"a":$A}}}"#, &mistyped("SH_EXISTS")),
            (r#"{"SH_END":{"tkn":$A}}"#, r#"{"SH_END_RSP":{"st":1,"tkn":$A}}"#),
            (r#"{"SH_END":{"tkn":$A}}"#, r#"{"SH_END_RSP":{"st":100,"tkn":$A}}"#),
            (r#"{"SH_END":{"tkn":$C}}"#, r#"{"SH_END_RSP":{"st":100,"tkn":$C}}"#),
            (r#"{"SH_END":{"tkn":"$B"}}"#, r#"{"SH_END_RSP":{"m":"","st":100,"tkn":null}}"#),
            (r#"{"SH_END":{}}"#, r#"{"SH_END_RSP":{"m":"","st":100,"tkn":null}}"#),
            (r#"{"SH_EXISTS":{"tkns":[$A,$B]}}"#, r#"{"SH_EXISTS_RSP":{"exist":[$B],"st":1}}"#),
            (r#"{"SH_INFO_ALL":{}}"#, r#"{"SH_INFO_ALL_RSP":{"st":1,"totalKeys":0,"totalSessions":1}}"#),
        ],
    );
}

/// `remaining` is whole seconds to the deadline, truncated; on a virtual
/// clock each value is checked at the millisecond it changes.
#[test]
fn sh_info_of_an_expiring_session() {
    let mut host = VirtualHost::start(common::config());
    let mut client = host.open();
    let reply = host.call(
        &mut client,
        r#"{"SH_NEW":{"expiry":{"duration":30,"deleteSession":false,"extendOnSetAdd":false,"extendOnGet":true}}}"#,
    );
    let token: u64 = reply
        .strip_prefix(r#"{"SH_NEW_RSP":{"st":1,"tkn":"#)
        .and_then(|rest| rest.strip_suffix("}}"))
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("unexpected SH_NEW reply {reply}"));
    host.call(&mut client, &format!(r#"{{"SH_SET":{{"keys":{{"a":1,"b":2,"c":3,"d":4}},"tkn":{token}}}}}"#));
    let expected = |remaining: u64, keys: u64| {
        format!(
            r#"{{"SH_INFO_RSP":{{"expires":true,"expiry":{{"deleteSession":false,"duration":30,"extendOnGet":true,"extendOnSetAdd":false,"remaining":{remaining}}},"keyCnt":{keys},"shared":false,"st":1,"tkn":{token}}}}}"#
        )
    };
    let info = format!(r#"{{"SH_INFO":{{"tkn":{token}}}}}"#);
    let ms = Duration::from_millis;
    assert_eq!(host.call(&mut client, &info), expected(30, 4));
    host.advance(ms(1));
    assert_eq!(host.call(&mut client, &info), expected(29, 4), "SH_INFO does not extend");
    host.advance(ms(28_999));
    assert_eq!(host.call(&mut client, &info), expected(1, 4));
    host.advance(ms(999));
    assert_eq!(host.call(&mut client, &info), expected(0, 4));
    host.advance(ms(1));
    assert_eq!(host.call(&mut client, &info), expected(30, 0), "emptied and restarted at the deadline");
}

#[test]
fn a_huge_duration_is_accepted_and_echoed() {
    let server = start();
    let mut client = server.client();
    let body = r#"{"expiry":{"duration":18446744073709551615,"deleteSession":true,"extendOnGet":true}}"#;
    let token = new_session(&mut client, body);
    client.call(&format!(r#"{{"SH_GET":{{"keys":["a"],"tkn":{token}}}}}"#));
    let info = client.call_json(&format!(r#"{{"SH_INFO":{{"tkn":{token}}}}}"#));
    let expiry = &info["SH_INFO_RSP"]["expiry"];
    assert_eq!(expiry["duration"].as_u64(), Some(u64::MAX));
    assert_eq!(expiry["deleteSession"], true);
    // The deadline saturates at 2^60 - 1 ms, some 36 million years away.
    assert!(expiry["remaining"].as_u64().is_some_and(|r| r > 1_150_000_000_000_000), "{info}");
    assert_eq!(client.call(&format!(r#"{{"SH_COUNT":{{"tkn":{token}}}}}"#)), r#"{"SH_COUNT_RSP":{"cnt":0,"st":1}}"#);
}

#[test]
fn parameter_errors_come_before_the_token_check() {
    let server = start();
    let mut client = server.client();
    let token = new_session(&mut client, "{}").to_string();
    let mut rows: Vec<(String, String)> = Vec::new();
    for cmd in ["SH_SET", "SH_ADD", "SH_CLEAR_SET"] {
        for tkn in [token.as_str(), r#""x""#, "-1"] {
            rows.push((format!(r#"{{"{cmd}":{{"tkn":{tkn}}}}}"#), missing(cmd)));
            rows.push((format!(r#"{{"{cmd}":{{"keys":[],"tkn":{tkn}}}}}"#), mistyped(cmd)));
            rows.push((format!(r#"{{"{cmd}":{{"keys":"a","tkn":{tkn}}}}}"#), mistyped(cmd)));
        }
        rows.push((format!(r#"{{"{cmd}":{{}}}}"#), missing(cmd)));
    }
    for cmd in ["SH_GET", "SH_RMV", "SH_CONTAINS"] {
        for tkn in [token.as_str(), r#""x""#, "1.5"] {
            rows.push((format!(r#"{{"{cmd}":{{"tkn":{tkn}}}}}"#), missing(cmd)));
            rows.push((format!(r#"{{"{cmd}":{{"keys":{{}},"tkn":{tkn}}}}}"#), mistyped(cmd)));
            rows.push((format!(r#"{{"{cmd}":{{"keys":null,"tkn":{tkn}}}}}"#), mistyped(cmd)));
        }
    }
    for tkn in [token.as_str(), r#""x""#, "1.5", "0"] {
        rows.push((
            format!(r#"{{"SH_RMV":{{"keys":[],"tkn":{tkn}}}}}"#),
            r#"{"SH_RMV_RSP":{"m":"keys","st":42,"tkn":null}}"#.to_owned(),
        ));
    }
    rows.push((
        format!(r#"{{"SH_SET":{{"tkn":{token}}}}}"#),
        r#"{"SH_SET_RSP":{"m":"Missing parameter","st":26,"tkn":null}}"#.to_owned(),
    ));
    for (request, expected) in &rows {
        assert_eq!(&client.call(request), expected, "{request}");
    }
}

#[test]
fn every_malformed_or_unknown_token_is_no_session() {
    let server = start();
    let mut client = server.client();
    let live = new_session(&mut client, "{}");
    let bodies = [
        ("SH_SET", r#""keys":{"a":1}"#),
        ("SH_ADD", r#""keys":{"a":1}"#),
        ("SH_CLEAR_SET", r#""keys":{"a":1}"#),
        ("SH_GET", r#""keys":["a"]"#),
        ("SH_RMV", r#""keys":["a"]"#),
        ("SH_CONTAINS", r#""keys":["a"]"#),
        ("SH_CLEAR", ""),
        ("SH_COUNT", ""),
        ("SH_KEYS", ""),
    ];
    let unknown = live.wrapping_add(1).to_string();
    let quoted = format!("\"{live}\"");
    let float = format!("{live}.0");
    let tokens: [Option<&str>; 10] = [
        Some(&quoted),
        Some(&float),
        Some("1e3"),
        Some("-1"),
        Some("-0"),
        Some("18446744073709551616"),
        Some("null"),
        Some("[1]"),
        Some(&unknown),
        None,
    ];
    for (cmd, keys) in bodies {
        for token in tokens {
            let body = match (keys, token) {
                ("", Some(t)) => format!(r#""tkn":{t}"#),
                ("", None) => String::new(),
                (k, Some(t)) => format!(r#"{k},"tkn":{t}"#),
                (k, None) => k.to_owned(),
            };
            let request = format!(r#"{{"{cmd}":{{{body}}}}}"#);
            assert_eq!(client.call(&request), no_session(cmd), "{request}");
        }
    }
    // None of that touched the live session.
    assert_eq!(client.call(&format!(r#"{{"SH_COUNT":{{"tkn":{live}}}}}"#)), r#"{"SH_COUNT_RSP":{"cnt":0,"st":1}}"#);
}

#[test]
fn unknown_session_commands_get_status_10() {
    let server = start();
    let mut client = server.client();
    for name in ["SH_OPEN", "SH_FIND", "SH_UPDATE", "SH_ARR_APPEND", "SH_NEW_RSP"] {
        let reply = client.call(&format!(r#"{{"{name}":{{"name":"x"}}}}"#));
        assert_eq!(reply, format!(r#"{{"{name}_RSP":{{"m":"","st":10,"tkn":null}}}}"#));
    }
}

/// Requests exactly as the 0.7.4 Python client's session calls send them
/// (`json.dumps`: `", "`/`": "` separators, `\uXXXX` escapes, `keys` before
/// `tkn`), with the reply members each call reads.
#[test]
fn python_client_session_calls_byte_for_byte() {
    let server = start();
    let mut client = server.client();
    // sh_create(durationSeconds=2, deleteSessionOnExpire=True)
    let expiring = new_session(
        &mut client,
        r#"{"expiry": {"duration": 2, "deleteSession": true, "extendOnSetAdd": false, "extendOnGet": false}}"#,
    );
    // sh_create()
    let plain = {
        let reply = client.call(r#"{"SH_NEW": {}}"#);
        let json: serde_json::Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(json["SH_NEW_RSP"]["st"], 1);
        json["SH_NEW_RSP"]["tkn"].as_u64().filter(|&t| t > 0).expect("tknValid")
    };
    table(
        &mut client,
        &[plain, expiring],
        &[
            (
                r#"{"SH_SET": {"keys": {"a": 10, "b": "x", "\u017c\u00f3\u0142w": "\ud834\udd1e"}, "tkn": $A}}"#,
                r#"{"SH_SET_RSP":{"st":1}}"#,
            ),
            (r#"{"SH_ADD": {"keys": {"a": 11, "c": [1, 2]}, "tkn": $A}}"#, r#"{"SH_ADD_RSP":{"st":1}}"#),
            (r#"{"SH_GET": {"keys": ["a"], "tkn": $A}}"#, r#"{"SH_GET_RSP":{"keys":{"a":10},"st":1}}"#),
            (
                r#"{"SH_GET": {"keys": ["b", "\u017c\u00f3\u0142w", "c"], "tkn": $A}}"#,
                r#"{"SH_GET_RSP":{"keys":{"b":"x","żółw":"\ud834\udd1e","c":[1, 2]},"st":1}}"#,
            ),
            (
                r#"{"SH_CONTAINS": {"keys": ["a", "zz"], "tkn": $A}}"#,
                r#"{"SH_CONTAINS_RSP":{"contains":["a"],"st":1}}"#,
            ),
            (r#"{"SH_COUNT": {"tkn": $A}}"#, r#"{"SH_COUNT_RSP":{"cnt":4,"st":1}}"#),
            (r#"{"SH_KEYS": {"tkn": $A}}"#, r#"{"SH_KEYS_RSP":{"keys":["a","b","żółw","c"],"st":1}}"#),
            (r#"{"SH_RMV": {"keys": ["b"], "tkn": $A}}"#, r#"{"SH_RMV_RSP":{"st":1}}"#),
            (r#"{"SH_RMV": {"keys": [], "tkn": $A}}"#, r#"{"SH_RMV_RSP":{"m":"keys","st":42,"tkn":null}}"#),
            (
                r#"{"SH_INFO": {"tkn": $A}}"#,
                r#"{"SH_INFO_RSP":{"expires":false,"keyCnt":3,"shared":false,"st":1,"tkn":$A}}"#,
            ),
            (r#"{"SH_EXISTS": {"tkns": [$A, $B]}}"#, r#"{"SH_EXISTS_RSP":{"exist":[$A,$B],"st":1}}"#),
            (r#"{"SH_INFO_ALL": {}}"#, r#"{"SH_INFO_ALL_RSP":{"st":1,"totalKeys":3,"totalSessions":2}}"#),
            (r#"{"SH_CLEAR_SET": {"keys": {"k": 1}, "tkn": $A}}"#, r#"{"SH_CLEAR_SET_RSP":{"cnt":3,"st":1}}"#),
            (r#"{"SH_CLEAR": {"tkn": $A}}"#, r#"{"SH_CLEAR_RSP":{"cnt":1,"st":1}}"#),
            (r#"{"SH_END": {"tkn": $B}}"#, r#"{"SH_END_RSP":{"st":1,"tkn":$B}}"#),
            (r#"{"SH_END_ALL": {}}"#, r#"{"SH_END_ALL_RSP":{"cnt":1,"st":1}}"#),
        ],
    );
    // sh_info on an expiring session: the members the client's tests read.
    let token = new_session(
        &mut client,
        r#"{"expiry": {"duration": 10, "deleteSession": false, "extendOnSetAdd": false, "extendOnGet": true}}"#,
    );
    let info = client.call_json(&format!(r#"{{"SH_INFO": {{"tkn": {token}}}}}"#));
    let info = &info["SH_INFO_RSP"];
    assert_eq!(info["st"], 1);
    assert_eq!(info["tkn"].as_u64(), Some(token));
    assert_eq!(info["expires"], true);
    assert_eq!(info["expiry"]["duration"], 10);
    assert_eq!(info["expiry"]["extendOnGet"], true);
    assert_eq!(info["expiry"]["extendOnSetAdd"], false);
}
