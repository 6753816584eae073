//! Every row of the dispatch table and of the KV and SV_INFO command
//! sections, over a real WebSocket, with the exact expected reply text.

mod common;

use common::{Raw, start, text_frame};

/// Runs `(request, expected reply)` rows in order on one connection.
fn table(rows: &[(&str, &str)]) {
    let server = start();
    let mut client = server.client();
    for (request, expected) in rows {
        assert_eq!(client.call(request), *expected, "request: {request}");
    }
}

#[test]
fn dispatch_table() {
    table(&[
        ("", r#"{"ERR":{"m":"","st":3}}"#),
        ("   ", r#"{"ERR":{"m":"","st":3}}"#),
        ("{", r#"{"ERR":{"m":"","st":3}}"#),
        (r#"{"KV_COUNT":{}} x"#, r#"{"ERR":{"m":"","st":3}}"#),
        (r#"{"KV_COUNT":{}}{}"#, r#"{"ERR":{"m":"","st":3}}"#),
        ("[]", r#"{"ERR":{"m":"","st":13}}"#),
        (r#""str""#, r#"{"ERR":{"m":"","st":13}}"#),
        ("42", r#"{"ERR":{"m":"","st":13}}"#),
        ("null", r#"{"ERR":{"m":"","st":13}}"#),
        ("{}", r#"{"ERR":{"m":"","st":13}}"#),
        (r#"{"KV_COUNT":{},"KV_KEYS":{}}"#, r#"{"ERR":{"m":"","st":13}}"#),
        (r#"{"KV_COUNT":{},"KV_COUNT":{}}"#, r#"{"KV_COUNT_RSP":{"cnt":0,"st":1}}"#),
        (r#"{"KV_SET":[]}"#, r#"{"KV_SET_RSP":{"m":"","st":13,"tkn":null}}"#),
        (r#"{"KV_COUNT":"x"}"#, r#"{"KV_COUNT_RSP":{"m":"","st":13,"tkn":null}}"#),
        (r#"{"KVSET":{}}"#, r#"{"KVSET_RSP":{"m":"","st":13,"tkn":null}}"#),
        (r#"{"KVSET":5}"#, r#"{"KVSET_RSP":{"m":"","st":13,"tkn":null}}"#),
        (r#"{"KV_SETQ":{}}"#, r#"{"ERR":{"m":"","st":10}}"#),
        (r#"{"KV_ADDQ":{}}"#, r#"{"ERR":{"m":"","st":10}}"#),
        (r#"{"KV_SET_RSP":{}}"#, r#"{"ERR":{"m":"","st":10}}"#),
        (r#"{"SH_OPEN":{}}"#, r#"{"SH_OPEN_RSP":{"m":"","st":10,"tkn":null}}"#),
        (r#"{"SH_FIND":{}}"#, r#"{"SH_FIND_RSP":{"m":"","st":10,"tkn":null}}"#),
        (r#"{"kv_set":{}}"#, r#"{"kv_set_RSP":{"m":"","st":10,"tkn":null}}"#),
        (r#"{"SV_FOO":{}}"#, r#"{"SV_FOO_RSP":{"m":"","st":10,"tkn":null}}"#),
        // Each unknown command is answered under its own name.
        (r#"{"XX_ONE":{}}"#, r#"{"XX_ONE_RSP":{"m":"","st":10,"tkn":null}}"#),
        (r#"{"XX_TWO":{}}"#, r#"{"XX_TWO_RSP":{"m":"","st":10,"tkn":null}}"#),
        (r#"{"A\"B_C":{}}"#, r#"{"A\"B_C_RSP":{"m":"","st":10,"tkn":null}}"#),
    ]);
}

/// SV_INFO keeps NemesisDB's members exactly and adds ndb's statistics, all
/// in byte-wise name order. Numbers vary from run to run, so every run of
/// digits is compared as `N`.
#[test]
fn sv_info_layout() {
    let server = start();
    let mut client = server.client();
    let reply = client.call(r#"{"SV_INFO":{"ignored":[1]}}"#);
    let path = common::config().persist_path;
    let expected = format!(
        concat!(
            r#"{{"SV_INFO_RSP":{{"connections":1,"connectionsTotal":1,"#,
            r#""containers":{{"IARR":0,"OARR":0,"OLST":0,"SIARR":0,"SSTRARR":0,"STRARR":0}},"keys":0,"lastSave":null,"#,
            r#""maxMemory":null,"memoryUsed":N,"persistEnabled":true,"persistPath":"{}","protocol":"0.7","requests":1,"rssBytes":N,"#,
            r#""serverVersion":"{}","sessionExpiries":0,"sessions":0,"st":1,"uptimeSecs":N}}}}"#
        ),
        path.display(),
        ndb::VERSION
    );
    let digits_as_n = |text: &str| {
        let mut out = String::new();
        for c in text.chars() {
            if !c.is_ascii_digit() {
                out.push(c);
            } else if !out.ends_with('N') {
                out.push('N');
            }
        }
        out
    };
    assert_eq!(digits_as_n(&reply), digits_as_n(&expected));
    assert!(reply.contains(r#""persistEnabled":true,"#));
    assert!(reply.contains(&format!(r#""serverVersion":"{}","#, ndb::VERSION)));
}

#[test]
fn kv_commands() {
    table(&[
        (r#"{"KV_SET":{"keys":{}}}"#, r#"{"KV_SET_RSP":{"st":1}}"#),
        (
            r#"{"KV_SET":{"keys":{"city":"Leeds","visits":12,"tags":["x","y"],"geo":{"lat":53.8},"none":null,"ok":true}}}"#,
            r#"{"KV_SET_RSP":{"st":1}}"#,
        ),
        (
            r#"{"KV_GET":{"keys":["city","nope","geo",7,null,"city"]}}"#,
            r#"{"KV_GET_RSP":{"keys":{"city":"Leeds","geo":{"lat":53.8}},"st":1}}"#,
        ),
        (r#"{"KV_GET":{"keys":[]}}"#, r#"{"KV_GET_RSP":{"keys":{},"st":1}}"#),
        (r#"{"KV_ADD":{"keys":{"city":"York","new":1}}}"#, r#"{"KV_ADD_RSP":{"st":1}}"#),
        (r#"{"KV_GET":{"keys":["city","new"]}}"#, r#"{"KV_GET_RSP":{"keys":{"city":"Leeds","new":1},"st":1}}"#),
        (r#"{"KV_COUNT":{}}"#, r#"{"KV_COUNT_RSP":{"cnt":7,"st":1}}"#),
        (r#"{"KV_KEYS":{}}"#, r#"{"KV_KEYS_RSP":{"keys":["city","visits","tags","geo","none","ok","new"],"st":1}}"#),
        (
            r#"{"KV_CONTAINS":{"keys":["new","zz","city","new",1]}}"#,
            r#"{"KV_CONTAINS_RSP":{"contains":["new","city","new"],"st":1}}"#,
        ),
        (r#"{"KV_CONTAINS":{"keys":[]}}"#, r#"{"KV_CONTAINS_RSP":{"contains":[],"st":1}}"#),
        // Swap-remove: the last key moves into the hole.
        (r#"{"KV_RMV":{"keys":["visits","nope",3]}}"#, r#"{"KV_RMV_RSP":{"st":1}}"#),
        (r#"{"KV_KEYS":{}}"#, r#"{"KV_KEYS_RSP":{"keys":["city","new","tags","geo","none","ok"],"st":1}}"#),
        (r#"{"KV_SET":{"keys":{"city":"Hull"}}}"#, r#"{"KV_SET_RSP":{"st":1}}"#),
        (r#"{"KV_KEYS":{}}"#, r#"{"KV_KEYS_RSP":{"keys":["city","new","tags","geo","none","ok"],"st":1}}"#),
        (r#"{"KV_CLEAR_SET":{"keys":{"b":2,"a":1}}}"#, r#"{"KV_CLEAR_SET_RSP":{"cnt":6,"st":1}}"#),
        (r#"{"KV_KEYS":{}}"#, r#"{"KV_KEYS_RSP":{"keys":["b","a"],"st":1}}"#),
        (r#"{"KV_CLEAR":{"x":1}}"#, r#"{"KV_CLEAR_RSP":{"cnt":2,"st":1}}"#),
        (r#"{"KV_CLEAR":{}}"#, r#"{"KV_CLEAR_RSP":{"cnt":0,"st":1}}"#),
        (r#"{"KV_KEYS":{}}"#, r#"{"KV_KEYS_RSP":{"keys":[],"st":1}}"#),
        (r#"{"KV_COUNT":{}}"#, r#"{"KV_COUNT_RSP":{"cnt":0,"st":1}}"#),
    ]);
}

#[test]
fn removal_order_matches_nemesisdb() {
    table(&[
        (r#"{"KV_SET":{"keys":{"a":1,"b":1,"c":1,"d":1,"e":1}}}"#, r#"{"KV_SET_RSP":{"st":1}}"#),
        (r#"{"KV_RMV":{"keys":["a","c"]}}"#, r#"{"KV_RMV_RSP":{"st":1}}"#),
        (r#"{"KV_KEYS":{}}"#, r#"{"KV_KEYS_RSP":{"keys":["e","b","d"],"st":1}}"#),
    ]);
}

#[test]
fn parameter_errors() {
    let missing = |cmd: &str| format!(r#"{{"{cmd}_RSP":{{"m":"Missing parameter","st":26,"tkn":null}}}}"#);
    let mistyped = |cmd: &str| format!(r#"{{"{cmd}_RSP":{{"m":"Param type incorrect","st":41,"tkn":null}}}}"#);
    let rows = [
        (r#"{"KV_SET":{}}"#.to_owned(), missing("KV_SET")),
        (r#"{"KV_SET":{"keys":[]}}"#.to_owned(), mistyped("KV_SET")),
        (r#"{"KV_ADD":{"Keys":{}}}"#.to_owned(), missing("KV_ADD")),
        (r#"{"KV_ADD":{"keys":"a"}}"#.to_owned(), mistyped("KV_ADD")),
        (r#"{"KV_GET":{}}"#.to_owned(), missing("KV_GET")),
        (r#"{"KV_GET":{"keys":"a"}}"#.to_owned(), mistyped("KV_GET")),
        (r#"{"KV_GET":{"keys":{"a":1}}}"#.to_owned(), mistyped("KV_GET")),
        (r#"{"KV_RMV":{}}"#.to_owned(), missing("KV_RMV")),
        (r#"{"KV_RMV":{"keys":1}}"#.to_owned(), mistyped("KV_RMV")),
        (r#"{"KV_RMV":{"keys":[]}}"#.to_owned(), r#"{"KV_RMV_RSP":{"m":"keys","st":42,"tkn":null}}"#.to_owned()),
        (r#"{"KV_CLEAR_SET":{}}"#.to_owned(), missing("KV_CLEAR_SET")),
        (r#"{"KV_CLEAR_SET":{"keys":null}}"#.to_owned(), mistyped("KV_CLEAR_SET")),
        (r#"{"KV_CONTAINS":{}}"#.to_owned(), missing("KV_CONTAINS")),
        (r#"{"KV_CONTAINS":{"keys":true}}"#.to_owned(), mistyped("KV_CONTAINS")),
    ];
    let rows: Vec<(&str, &str)> = rows.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    table(&rows);
}

#[test]
fn values_of_every_type_come_back_equal() {
    let server = start();
    let mut client = server.client();
    let values = r#"{"s":"str \"q\" \\ / \u00e9 😀","i":-12,"u":18446744073709551615,"f":1.5,"e":1e3,"t":true,"n":null,"a":[1,[2,{"x":[]}]],"o":{"z":1,"a":{"b":null}},"big":123456789012345678901234567890}"#;
    client.call(&format!(r#"{{"KV_SET":{{"keys":{values}}}}}"#));
    let reply = client.call(r#"{"KV_GET":{"keys":["s","i","u","f","e","t","n","a","o","big"]}}"#);
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    let sent: serde_json::Value = serde_json::from_str(values).unwrap();
    assert_eq!(reply["KV_GET_RSP"]["keys"], sent);
    // Member order inside a value is kept as sent.
    let raw = client.call(r#"{"KV_GET":{"keys":["o"]}}"#);
    assert_eq!(raw, r#"{"KV_GET_RSP":{"keys":{"o":{"z":1,"a":{"b":null}}},"st":1}}"#);
}

#[test]
fn keys_with_quotes_backslashes_and_unicode() {
    let server = start();
    let mut client = server.client();
    client.call(r#"{"KV_SET":{"keys":{"q\"uote":1,"back\\slash":2,"żółw ☃ 𝄞":3,"ctl\u0001":4,"":5}}}"#);
    let reply = client.call(r#"{"KV_KEYS":{}}"#);
    assert_eq!(reply, r#"{"KV_KEYS_RSP":{"keys":["q\"uote","back\\slash","żółw ☃ 𝄞","ctl\u0001",""],"st":1}}"#);
    // The same keys spelled with other escapes are the same keys.
    let reply =
        client.call(r#"{"KV_GET":{"keys":["q\u0022uote","\u017c\u00f3\u0142w \u2603 \ud834\udd1e","ctl\u0001",""]}}"#);
    assert_eq!(reply, r#"{"KV_GET_RSP":{"keys":{"q\"uote":1,"żółw ☃ 𝄞":3,"ctl\u0001":4,"":5},"st":1}}"#);
    assert_eq!(client.call(r#"{"KV_COUNT":{}}"#), r#"{"KV_COUNT_RSP":{"cnt":5,"st":1}}"#);
}

/// Requests exactly as the Python client's `json.dumps` writes them:
/// `", "` and `": "` separators, every non-ASCII character as `\uXXXX`
/// (astral ones as surrogate pairs).
#[test]
fn requests_byte_for_byte_as_the_python_client_sends_them() {
    let server = start();
    let mut client = server.client();
    let set = r#"{"KV_SET": {"keys": {"username": "billy", "\u017c\u00f3\u0142w": "\ud834\udd1e \u2603", "server_users": {"admins": ["user1", "user2"], "banned": ["user3"]}, "server_port": 1987}}}"#;
    assert_eq!(client.call(set), r#"{"KV_SET_RSP":{"st":1}}"#);
    let get = r#"{"KV_GET": {"keys": ["server_users", "server_port", "\u017c\u00f3\u0142w"]}}"#;
    let reply: serde_json::Value = serde_json::from_str(&client.call(get)).unwrap();
    assert_eq!(
        reply,
        serde_json::json!({"KV_GET_RSP": {"keys": {
            "server_users": {"admins": ["user1", "user2"], "banned": ["user3"]},
            "server_port": 1987,
            "żółw": "𝄞 ☃"
        }, "st": 1}})
    );
    assert_eq!(
        client.call(r#"{"KV_KEYS": {}}"#),
        r#"{"KV_KEYS_RSP":{"keys":["username","żółw","server_users","server_port"],"st":1}}"#
    );
    assert_eq!(client.call(r#"{"KV_RMV": {"keys": ["username"]}}"#), r#"{"KV_RMV_RSP":{"st":1}}"#);
    assert_eq!(client.call(r#"{"KV_COUNT": {}}"#), r#"{"KV_COUNT_RSP":{"cnt":3,"st":1}}"#);
}

#[test]
fn a_thousand_pipelined_requests_are_answered_in_order() {
    let server = start();
    let mut raw = Raw::open(server.addr);
    let mut batch = Vec::new();
    let mut expected = Vec::new();
    for i in 0..1000 {
        let (request, reply) = match i % 5 {
            0 => (format!(r#"{{"KV_SET":{{"keys":{{"k{i}":{i}}}}}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#.to_owned()),
            1 => (
                format!(r#"{{"KV_GET":{{"keys":["k{}"]}}}}"#, i - 1),
                format!(r#"{{"KV_GET_RSP":{{"keys":{{"k{0}":{0}}},"st":1}}}}"#, i - 1),
            ),
            2 => ("{not json".to_owned(), r#"{"ERR":{"m":"","st":3}}"#.to_owned()),
            3 => {
                (r#"{"KV_RMV":{"keys":[]}}"#.to_owned(), r#"{"KV_RMV_RSP":{"m":"keys","st":42,"tkn":null}}"#.to_owned())
            }
            _ => (r#"{"KV_COUNT":{}}"#.to_owned(), format!(r#"{{"KV_COUNT_RSP":{{"cnt":{},"st":1}}}}"#, i / 5 + 1)),
        };
        batch.extend(text_frame(&request));
        expected.push(reply);
    }
    raw.write(&batch);
    for (i, reply) in expected.iter().enumerate() {
        assert_eq!(&raw.text(), reply, "reply {i}");
    }
}

#[test]
fn five_hundred_concurrent_connections() {
    raise_fd_limit();
    let server = start();
    let mut clients: Vec<_> = (0..500).map(|_| server.client()).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        client.send(&format!(r#"{{"KV_SET":{{"keys":{{"c{i}":{i}}}}}}}"#));
    }
    for client in &mut clients {
        assert_eq!(client.recv(), r#"{"KV_SET_RSP":{"st":1}}"#);
    }
    for (i, client) in clients.iter_mut().enumerate() {
        let other = (i + 1) % 500;
        let reply = client.call(&format!(r#"{{"KV_GET":{{"keys":["c{other}"]}}}}"#));
        assert_eq!(reply, format!(r#"{{"KV_GET_RSP":{{"keys":{{"c{other}":{other}}},"st":1}}}}"#));
    }
    assert_eq!(clients[0].call(r#"{"KV_COUNT":{}}"#), r#"{"KV_COUNT_RSP":{"cnt":500,"st":1}}"#);
}

/// 500 clients and 500 server sockets share this process's descriptors.
fn raise_fd_limit() {
    // SAFETY: plain get/set of this process's own resource limit.
    unsafe {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < 4096 {
            limit.rlim_cur = limit.rlim_max.min(4096);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
