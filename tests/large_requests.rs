//! Large requests decoded off the loop, over a real socket: with the
//! decode threshold lowered to 1 KiB, every request past it is decoded on
//! the search thread and executed when it comes back. Each gets exactly
//! the reply a server decoding it on the loop gives (the same server with
//! the default threshold, asked the same thing), in order between the
//! small requests pipelined around it, malformed ones included.

mod common;

use common::Client;

/// The threshold of the server under test: past it, off the loop.
const THRESHOLD: usize = 1024;

/// A server decoding messages past [`THRESHOLD`] off the loop, and one
/// decoding everything on the loop (nothing in these tests reaches its
/// 256 KiB default).
fn servers() -> (common::TestServer, common::TestServer) {
    let off = common::start_with(common::config().decode_off_loop_bytes(THRESHOLD));
    let on = common::start();
    (off, on)
}

/// `KV_GET` of `n` names `k0..`, every fifth one missing.
fn get_many(n: usize) -> String {
    let names: Vec<String> = (0..n).map(|i| format!(r#""k{}""#, if i % 5 == 4 { 1_000_000 + i } else { i })).collect();
    format!(r#"{{"KV_GET":{{"keys":[{}]}}}}"#, names.join(","))
}

/// `KV_SET` of `n` keys `k0..` with values naming them.
fn set_many(n: usize) -> String {
    let members: Vec<String> = (0..n).map(|i| format!(r#""k{i}":{{"v":{i},"s":"\u00e9{i}"}}"#)).collect();
    format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, members.join(","))
}

/// Sends every request at once (pipelined, one write each), then reads
/// the replies.
fn pipelined(client: &mut Client, requests: &[String]) -> Vec<String> {
    for request in requests {
        client.send(request);
    }
    requests.iter().map(|_| client.recv()).collect()
}

#[test]
fn a_large_request_is_answered_in_order_between_small_ones() {
    let (off, on) = servers();
    let set = set_many(200);
    let get = get_many(300);
    assert!(set.len() > THRESHOLD && get.len() > THRESHOLD);
    let requests = vec![
        r#"{"KV_SET":{"keys":{"before":1}}}"#.to_owned(),
        set,
        r#"{"KV_GET":{"keys":["before","k3"]}}"#.to_owned(),
        get,
        r#"{"KV_SET":{"keys":{"after":2}}}"#.to_owned(),
        r#"{"KV_COUNT":{}}"#.to_owned(),
        r#"{"KV_CONTAINS":{"keys":["k199","k200","after"]}}"#.to_owned(),
    ];
    let replies = pipelined(&mut off.client(), &requests);
    assert_eq!(replies, pipelined(&mut on.client(), &requests));
    assert_eq!(replies[1], r#"{"KV_SET_RSP":{"st":1}}"#);
    assert_eq!(replies[2], r#"{"KV_GET_RSP":{"keys":{"before":1,"k3":{"v":3,"s":"\u00e93"}},"st":1}}"#);
    let got: serde_json::Value = serde_json::from_str(&replies[3]).unwrap();
    let keys = got["KV_GET_RSP"]["keys"].as_object().unwrap();
    // k0..k199 asked for, every fifth name missing: 160 found.
    assert_eq!(keys.len(), 160, "{}", replies[3]);
    assert_eq!(keys["k198"]["v"], 198);
    assert_eq!(replies[5], r#"{"KV_COUNT_RSP":{"cnt":202,"st":1}}"#);
    assert_eq!(replies[6], r#"{"KV_CONTAINS_RSP":{"contains":["k199","after"],"st":1}}"#);
}

#[test]
fn malformed_large_requests_get_the_same_errors_as_on_the_loop() {
    let (off, on) = servers();
    let pad = " ".repeat(2 * THRESHOLD);
    let get = get_many(300);
    let requests = vec![
        // Not JSON: cut short, trailing bytes, a bad escape.
        get[..get.len() - 3].to_owned(),
        format!("{get} x"),
        get.replace(r#""k7""#, r#""k\q7""#),
        // Not one command: an array, two members, an unknown name.
        format!("[{get}]"),
        format!(r#"{{"KV_COUNT":{{}},"KV_KEYS":{{}}{pad}}}"#),
        format!(r#"{{"KV_NOPE":{{"keys":[]}}{pad}}}"#),
        format!(r#"{{"XX_NOPE":{{}}{pad}}}"#),
        // Parameters: wrong type, missing, an empty KV_RMV.
        format!(r#"{{"KV_GET":{{"keys":{{"a":1}}{pad}}}}}"#),
        format!(r#"{{"KV_SET":{{{pad}}}}}"#),
        format!(r#"{{"KV_RMV":{{"keys":[{pad}]}}}}"#),
        // A session command with no such session.
        format!(r#"{{"SH_GET":{{"tkn":12345,"keys":["a"{pad}]}}}}"#),
        r#"{"KV_COUNT":{}}"#.to_owned(),
    ];
    for request in &requests[..requests.len() - 1] {
        assert!(request.len() > THRESHOLD, "{request:.40}");
    }
    let replies = pipelined(&mut off.client(), &requests);
    assert_eq!(replies, pipelined(&mut on.client(), &requests));
    assert_eq!(replies[0], r#"{"ERR":{"m":"","st":3}}"#);
    assert_eq!(replies.last().unwrap(), r#"{"KV_COUNT_RSP":{"cnt":0,"st":1}}"#);
}

#[test]
fn large_session_and_save_requests_run_as_they_would_on_the_loop() {
    let (off, on) = servers();
    let mut replies = Vec::new();
    for server in [&off, &on] {
        let mut client = server.client();
        let created = client.call_json(r#"{"SH_NEW":{}}"#);
        let token = created["SH_NEW_RSP"]["tkn"].as_u64().unwrap();
        let pad = " ".repeat(2 * THRESHOLD);
        let set = set_many(100).replacen(r#"{"KV_SET":{"#, &format!(r#"{{"SH_SET":{{"tkn":{token},"#), 1);
        let requests = vec![
            set,
            format!(r#"{{"SH_COUNT":{{"tkn":{token}}}}}"#),
            format!(r#"{{"SH_GET":{{"tkn":{token},"keys":["k1","k99","k100"]{pad}}}}}"#),
            format!(r#"{{"SH_RMV":{{"tkn":{token},"keys":["k1"{pad}]}}}}"#),
            format!(r#"{{"SH_COUNT":{{"tkn":{token}}}}}"#),
            format!(r#"{{"SV_INFO":{{}}{pad}}}"#),
        ];
        let mut got = pipelined(&mut client, &requests);
        // SV_INFO's figures differ between servers; its shape does not.
        let info: serde_json::Value = serde_json::from_str(&got.pop().unwrap()).unwrap();
        assert_eq!(info["SV_INFO_RSP"]["st"], 1);
        replies.push(got);
    }
    assert_eq!(replies[0], replies[1]);
    assert!(replies[0][1].contains(r#""cnt":100,"st":1"#), "{}", replies[0][1]);
    assert!(replies[0][4].contains(r#""cnt":99,"st":1"#), "{}", replies[0][4]);
}

#[test]
fn a_large_request_past_max_jobs_is_answered_busy_in_its_commands_shape() {
    let server = common::start_with(common::config().decode_off_loop_bytes(THRESHOLD).max_jobs(1));
    let mut filler = server.client();
    // 5,000 arrays of 50 numbers, and a search costing about 12,000 steps
    // per value: it holds the one place of the search lane for seconds.
    let value = format!("[{}]", (0..50).map(|i| i.to_string()).collect::<Vec<_>>().join(","));
    for batch in 0..5 {
        let members: Vec<String> = (batch * 1000..(batch + 1) * 1000).map(|i| format!(r#""a{i}":{value}"#)).collect();
        assert_eq!(
            filler.call(&format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, members.join(","))),
            r#"{"KV_SET_RSP":{"st":1}}"#
        );
    }
    let mut searcher = server.client();
    searcher.send(r#"{"KV_FIND":{"path":"$[?count($[?@ >= 0]) == 50]","rsp":"paths"}}"#);
    let busy = r#"{"KV_GET_RSP":{"m":"too many jobs queued; retry later","st":201,"tkn":null}}"#;
    let deadline = std::time::Instant::now() + common::TIMEOUT;
    // Until the search is queued, the large request goes through.
    while filler.call(&get_many(300)) != busy {
        assert!(std::time::Instant::now() < deadline, "never refused");
    }
    let pad = " ".repeat(2 * THRESHOLD);
    assert_eq!(filler.call(&format!("{{{pad}\"XX\":1}}")), r#"{"ERR":{"m":"","st":201}}"#);
    // Nothing changed, and small requests are still decoded on the loop.
    assert_eq!(filler.call(r#"{"KV_COUNT":{}}"#), r#"{"KV_COUNT_RSP":{"cnt":5000,"st":1}}"#);
}

#[test]
fn requests_past_the_default_threshold_and_longer_than_a_read_are_answered() {
    let server = common::start();
    let mut client = server.client();
    let set = set_many(16_000);
    assert!(set.len() > 512 * 1024, "{}", set.len());
    let requests = vec![set, get_many(30_000), r#"{"KV_COUNT":{}}"#.to_owned()];
    let replies = pipelined(&mut client, &requests);
    assert_eq!(replies[0], r#"{"KV_SET_RSP":{"st":1}}"#);
    let got: serde_json::Value = serde_json::from_str(&replies[1]).unwrap();
    assert_eq!(got["KV_GET_RSP"]["keys"].as_object().unwrap().len(), 12_800);
    assert_eq!(replies[2], r#"{"KV_COUNT_RSP":{"cnt":16000,"st":1}}"#);
}

#[test]
fn gets_of_more_names_than_a_turn_looks_up_are_answered_as_on_the_loop() {
    // More names than a turn looks up (16,384), so the reply is matched
    // against a snapshot; decoded off the loop, their copy and index are
    // made there and the command's own list is dropped there too.
    let (off, on) = servers();
    let names = 20_000;
    let mut replies = Vec::new();
    for server in [&off, &on] {
        let mut client = server.client();
        let token = client.call_json(r#"{"SH_NEW":{}}"#)["SH_NEW_RSP"]["tkn"].as_u64().unwrap();
        let get = get_many(names);
        let contains = get.replacen("KV_GET", "KV_CONTAINS", 1);
        let sh_get = get.replacen(r#"{"KV_GET":{"#, &format!(r#"{{"SH_GET":{{"tkn":{token},"#), 1);
        let gone = get.replacen(r#"{"KV_GET":{"#, r#"{"SH_GET":{"tkn":4242,"#, 1);
        let sh_set = set_many(3000).replacen(r#"{"KV_SET":{"#, &format!(r#"{{"SH_SET":{{"tkn":{token},"#), 1);
        assert!(get.len() < 256 * 1024, "decoded on the loop by the default server");
        let requests = vec![set_many(3000), sh_set, get, contains, sh_get, gone, r#"{"KV_COUNT":{}}"#.to_owned()];
        replies.push(pipelined(&mut client, &requests));
    }
    assert_eq!(replies[0], replies[1]);
    let got: serde_json::Value = serde_json::from_str(&replies[0][2]).unwrap();
    // k0..k2999 exist, every fifth name asked for is missing: 2,400 found.
    assert_eq!(got["KV_GET_RSP"]["keys"].as_object().unwrap().len(), 2400);
    let contains: serde_json::Value = serde_json::from_str(&replies[0][3]).unwrap();
    assert_eq!(contains["KV_CONTAINS_RSP"]["contains"].as_array().unwrap().len(), 2400);
    let sh: serde_json::Value = serde_json::from_str(&replies[0][4]).unwrap();
    assert_eq!(sh["SH_GET_RSP"]["keys"].as_object().unwrap().len(), 2400);
    // A session that does not exist: its names, prepared, go unused.
    assert_eq!(replies[0][5], r#"{"SH_GET_RSP":{"m":"","st":100,"tkn":null}}"#);
    assert_eq!(replies[0][6], r#"{"KV_COUNT_RSP":{"cnt":3000,"st":1}}"#);
}
