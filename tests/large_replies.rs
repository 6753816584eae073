//! Large replies are delivered: a client that keeps reading gets its whole
//! reply however large, byte for byte what the one-piece path writes, in
//! request order among its pipelined requests; the output a reply being
//! drained holds stays at the pause threshold; and a client that stops
//! reading in the middle is still cut with 1008 at the send timeout. Small
//! limits (16 KiB pause, 64 KiB cap) so that every reply here is far
//! larger than `maxOutputBytes`.

mod common;

use std::time::Duration;

use common::{Raw, VirtualHost, eventually, text_frame};

const KEYS: usize = 40_000;

fn small_limits() -> ndb::Config {
    common::config().output_limits(16 * 1024, 64 * 1024)
}

/// Key `i` as JSON text: mostly plain, every 1,000th needing escapes.
fn key_json(i: usize) -> String {
    if i % 1000 == 7 { format!(r#""q\"{i}\\ż""#) } else { format!(r#""key:{i:06}""#) }
}

fn value_json(i: usize) -> String {
    format!(r#"{{"n":{i},"tags":["a"]}}"#)
}

/// `KV_SET`s storing keys `0..n`, 5,000 per request.
fn loads(n: usize) -> Vec<String> {
    (0..n)
        .step_by(5000)
        .map(|from| {
            let members: Vec<String> =
                (from..(from + 5000).min(n)).map(|i| format!("{}:{}", key_json(i), value_json(i))).collect();
            format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, members.join(","))
        })
        .collect()
}

fn load(client: &mut common::Client, n: usize) {
    for request in loads(n) {
        assert_eq!(client.call(&request), r#"{"KV_SET_RSP":{"st":1}}"#);
    }
}

/// The names a request asks for: present keys backwards, some twice, some
/// absent.
fn names() -> Vec<usize> {
    let mut names: Vec<usize> = (0..KEYS + 50).rev().step_by(2).collect();
    names.extend([3, 3, 1007, KEYS + 1, 8]);
    names
}

fn request(verb: &str, names: &[usize]) -> String {
    let list: Vec<String> = names.iter().map(|&i| key_json(i)).collect();
    format!(r#"{{"{verb}":{{"keys":[{}]}}}}"#, list.join(","))
}

fn expected_keys(n: usize) -> String {
    let keys: Vec<String> = (0..n).map(key_json).collect();
    format!(r#"{{"KV_KEYS_RSP":{{"keys":[{}],"st":1}}}}"#, keys.join(","))
}

fn expected_get(names: &[usize], stored: usize) -> String {
    let mut seen = std::collections::HashSet::new();
    let members: Vec<String> = names
        .iter()
        .filter(|&&i| i < stored && seen.insert(i))
        .map(|&i| format!("{}:{}", key_json(i), value_json(i)))
        .collect();
    format!(r#"{{"KV_GET_RSP":{{"keys":{{{}}},"st":1}}}}"#, members.join(","))
}

fn expected_contains(names: &[usize], stored: usize) -> String {
    let keys: Vec<String> = names.iter().filter(|&&i| i < stored).map(|&i| key_json(i)).collect();
    format!(r#"{{"KV_CONTAINS_RSP":{{"contains":[{}],"st":1}}}}"#, keys.join(","))
}

#[test]
fn a_client_that_reads_gets_replies_far_larger_than_the_output_cap() {
    let server = common::start_with(small_limits());
    let mut client = server.client();
    load(&mut client, KEYS);
    let names = names();
    let keys = client.call(r#"{"KV_KEYS":{}}"#);
    assert!(keys.len() > 7 * 64 * 1024, "{} bytes", keys.len());
    assert_eq!(keys, expected_keys(KEYS));
    assert_eq!(client.call(&request("KV_GET", &names)), expected_get(&names, KEYS));
    assert_eq!(client.call(&request("KV_CONTAINS", &names)), expected_contains(&names, KEYS));
    // Within the names a request looks up at once, but too long to write whole.
    let big = "b".repeat(400_000);
    for i in 0..3 {
        client.call(&format!(r#"{{"KV_SET":{{"keys":{{"big{i}":"{big}"}}}}}}"#));
    }
    let reply = client.call(r#"{"KV_GET":{"keys":["big2","big0","none","big1","big2"]}}"#);
    assert_eq!(
        reply,
        format!(r#"{{"KV_GET_RSP":{{"keys":{{"big2":"{big}","big0":"{big}","big1":"{big}"}},"st":1}}}}"#)
    );
    assert_eq!(client.call(r#"{"KV_COUNT":{}}"#), format!(r#"{{"KV_COUNT_RSP":{{"cnt":{},"st":1}}}}"#, KEYS + 3));
}

#[test]
fn a_large_reply_is_one_message_in_several_frames() {
    let server = common::start_with(small_limits());
    load(&mut server.client(), KEYS);
    let mut raw = Raw::open(server.addr);
    raw.write(&text_frame(r#"{"KV_KEYS":{}}"#));
    raw.write(&text_frame(r#"{"KV_COUNT":{}}"#));
    let (mut opcodes, mut message) = (Vec::new(), Vec::new());
    while opcodes.len() < 2 || opcodes.last() != Some(&1) {
        let (opcode, payload) = raw.frame().expect("a frame");
        opcodes.push(opcode);
        if opcode != 1 || opcodes.len() == 1 {
            message.extend(payload);
        } else {
            assert_eq!(payload, format!(r#"{{"KV_COUNT_RSP":{{"cnt":{KEYS},"st":1}}}}"#).as_bytes());
        }
    }
    // A text frame, continuations, then the next reply.
    assert_eq!(opcodes[0], 1);
    assert!(opcodes[1..opcodes.len() - 1].iter().all(|&o| o == 0));
    assert!(opcodes.len() > 10, "{} frames", opcodes.len());
    assert_eq!(String::from_utf8(message).unwrap(), expected_keys(KEYS));
}

#[test]
fn pipelined_requests_around_large_replies_keep_their_order() {
    let server = common::start_with(small_limits());
    let mut client = server.client();
    load(&mut client, KEYS);
    let names = names();
    let requests = [
        r#"{"KV_COUNT":{}}"#.to_owned(),
        r#"{"KV_KEYS":{}}"#.to_owned(),
        format!(r#"{{"KV_SET":{{"keys":{{{}:{}}}}}}}"#, key_json(KEYS), value_json(KEYS)),
        request("KV_GET", &names),
        r#"{"KV_KEYS":{}}"#.to_owned(),
        r#"{"KV_RMV":{"keys":["key:000002"]}}"#.to_owned(),
        request("KV_CONTAINS", &[2, 4, KEYS]),
        r#"{"KV_COUNT":{}}"#.to_owned(),
    ];
    for request in &requests {
        client.send(request);
    }
    let replies: Vec<String> = requests.iter().map(|_| client.recv()).collect();
    assert_eq!(replies[0], format!(r#"{{"KV_COUNT_RSP":{{"cnt":{KEYS},"st":1}}}}"#));
    assert_eq!(replies[1], expected_keys(KEYS), "the first KV_KEYS does not see the KV_SET after it");
    assert_eq!(replies[2], r#"{"KV_SET_RSP":{"st":1}}"#);
    assert_eq!(replies[3], expected_get(&names, KEYS + 1), "KV_GET sees it");
    assert_eq!(replies[4], expected_keys(KEYS + 1));
    assert_eq!(replies[5], r#"{"KV_RMV_RSP":{"st":1}}"#);
    assert_eq!(replies[6], format!(r#"{{"KV_CONTAINS_RSP":{{"contains":["key:000004",{}],"st":1}}}}"#, key_json(KEYS)));
    assert_eq!(replies[7], format!(r#"{{"KV_COUNT_RSP":{{"cnt":{KEYS},"st":1}}}}"#));
}

#[test]
fn session_lists_of_a_big_session_come_whole() {
    let server = common::start_with(small_limits());
    let mut client = server.client();
    let session = client.call_json(r#"{"SH_NEW":{}}"#);
    let token = session["SH_NEW_RSP"]["tkn"].as_u64().unwrap();
    // SH_SET takes {"keys":{…},"tkn":t}.
    for from in (0..KEYS).step_by(5000) {
        let members: Vec<String> = (from..from + 5000).map(|i| format!("{}:{}", key_json(i), value_json(i))).collect();
        let reply = client.call(&format!(r#"{{"SH_SET":{{"keys":{{{}}},"tkn":{token}}}}}"#, members.join(",")));
        assert_eq!(reply, r#"{"SH_SET_RSP":{"st":1}}"#);
    }
    let keys = client.call(&format!(r#"{{"SH_KEYS":{{"tkn":{token}}}}}"#));
    assert_eq!(keys, expected_keys(KEYS).replace("KV_KEYS_RSP", "SH_KEYS_RSP"));
    let names = names();
    let list: Vec<String> = names.iter().map(|&i| key_json(i)).collect();
    let get = client.call(&format!(r#"{{"SH_GET":{{"keys":[{}],"tkn":{token}}}}}"#, list.join(",")));
    assert_eq!(get, expected_get(&names, KEYS).replace("KV_GET_RSP", "SH_GET_RSP"));
    // A session gone by the time its reply would be built: "no session".
    client.send(&format!(r#"{{"SH_KEYS":{{"tkn":{token}}}}}"#));
    let mut other = server.client();
    other.call(&format!(r#"{{"SH_END":{{"tkn":{token}}}}}"#));
    let reply = client.recv();
    assert!(
        reply == expected_keys(KEYS).replace("KV_KEYS_RSP", "SH_KEYS_RSP")
            || reply == r#"{"SH_KEYS_RSP":{"m":"","st":100,"tkn":null}}"#,
        "either the session as it was, or gone: {}",
        &reply[..reply.len().min(200)]
    );
    assert_eq!(
        client.call(&format!(r#"{{"SH_KEYS":{{"tkn":{token}}}}}"#)),
        r#"{"SH_KEYS_RSP":{"m":"","st":100,"tkn":null}}"#
    );
}

#[test]
fn an_sh_exists_of_many_tokens_comes_whole_and_in_order() {
    let server = common::start_with(small_limits());
    let mut client = server.client();
    let live: Vec<u64> = (0..100)
        .map(|_| client.call_json(r#"{"SH_NEW":{}}"#)["SH_NEW_RSP"]["tkn"].as_u64().expect("a token"))
        .collect();
    // 60,000 tokens (about four turns of lookups): live ones, some many
    // times, and absent ones, mixed.
    let tokens: Vec<u64> = (0..60_000u64).map(|i| if i % 3 == 0 { i } else { live[i as usize % live.len()] }).collect();
    let exists = |tokens: &[u64]| {
        let list: Vec<String> = tokens.iter().map(u64::to_string).collect();
        format!(r#"{{"SH_EXISTS":{{"tkns":[{}]}}}}"#, list.join(","))
    };
    let found: Vec<String> = tokens.iter().filter(|t| live.contains(t)).map(u64::to_string).collect();
    let expected = format!(r#"{{"SH_EXISTS_RSP":{{"exist":[{}],"st":1}}}}"#, found.join(","));
    let ended = live[1];
    client.send(&exists(&tokens));
    client.send(&format!(r#"{{"SH_END":{{"tkn":{ended}}}}}"#));
    client.send(&exists(&tokens));
    // Another connection is served meanwhile.
    let mut other = server.client();
    assert_eq!(other.call(r#"{"KV_COUNT":{}}"#), r#"{"KV_COUNT_RSP":{"cnt":0,"st":1}}"#);
    assert_eq!(client.recv(), expected);
    assert_eq!(client.recv(), format!(r#"{{"SH_END_RSP":{{"st":1,"tkn":{ended}}}}}"#));
    let found: Vec<String> = tokens.iter().filter(|&&t| t != ended && live.contains(&t)).map(u64::to_string).collect();
    assert_eq!(client.recv(), format!(r#"{{"SH_EXISTS_RSP":{{"exist":[{}],"st":1}}}}"#, found.join(",")));
}

#[test]
fn a_reply_being_drained_holds_no_more_than_the_pause_threshold() {
    const PAUSE: usize = 64 * 1024;
    let mut host = VirtualHost::start(common::config().output_limits(PAUSE, 1 << 20));
    let mut peer = host.open();
    let big = "c".repeat(500_000);
    for i in 0..20 {
        let set = format!(r#"{{"KV_SET":{{"keys":{{"c{i}":"{big}"}}}}}}"#);
        assert_eq!(host.call(&mut peer, &set), r#"{"KV_SET_RSP":{"st":1}}"#);
    }
    let names: Vec<String> = (0..20).map(|i| format!(r#""c{i}""#)).collect();
    peer.send(&format!(r#"{{"KV_GET":{{"keys":[{}]}}}}"#, names.join(",")));
    // A prompt reader of a 10 MB reply, taking 256 KiB after every turn.
    let (mut reply, mut frames, mut most) = (Vec::new(), 0, 0);
    host.drive("the whole reply", |host| {
        most = most.max(host.server().pending_output_bytes());
        peer.fill_at_most(256 * 1024);
        while let Some((opcode, payload)) = peer.take_frame() {
            assert!(opcode == [1, 0][usize::from(frames > 0)], "opcode {opcode} after {frames} frames");
            frames += 1;
            reply.extend(payload);
        }
        reply.ends_with(br#""st":1}}"#).then_some(())
    });
    // The pause threshold, a piece's header and the Vec's rounding, plus
    // the reply's own list of 20 entries: not the 10 MB of the reply.
    assert!(most <= 2 * PAUSE + 4096, "{most} bytes of output held");
    assert!(frames > 100, "{frames} frames");
    let members: Vec<String> = (0..20).map(|i| format!(r#""c{i}":"{big}""#)).collect();
    assert_eq!(
        String::from_utf8(reply).unwrap(),
        format!(r#"{{"KV_GET_RSP":{{"keys":{{{}}},"st":1}}}}"#, members.join(","))
    );
}

#[test]
fn a_client_that_stops_reading_mid_reply_is_cut_with_1008() {
    let send_timeout = Duration::from_millis(500);
    let server = common::start_with(small_limits().send_timeout(Some(send_timeout)));
    let mut bystander = server.client();
    let big = "d".repeat(500_000);
    for i in 0..60 {
        bystander.call(&format!(r#"{{"KV_SET":{{"keys":{{"d{i}":"{big}"}}}}}}"#));
    }
    let mut stalled = Raw::open(server.addr);
    let names: Vec<String> = (0..60).map(|i| format!(r#""d{i}""#)).collect();
    stalled.write(&text_frame(&format!(r#"{{"KV_GET":{{"keys":[{}]}}}}"#, names.join(","))));
    // It reads nothing while the 30 MB reply fills every buffer on the way.
    std::thread::sleep(send_timeout * 4);
    assert_eq!(bystander.call(r#"{"KV_COUNT":{}}"#), r#"{"KV_COUNT_RSP":{"cnt":60,"st":1}}"#);
    let (mut opcodes, mut received) = (Vec::new(), 0);
    let mut close = None;
    while let Some((opcode, payload)) = stalled.frame() {
        if opcode == 8 {
            close = Some(u16::from_be_bytes([payload[0], payload[1]]));
        } else {
            received += payload.len();
        }
        opcodes.push(opcode);
    }
    assert_eq!(close, Some(1008));
    assert!(received < 30_000_000, "cut after {received} bytes");
    assert_eq!(opcodes[0], 1);
    assert!(opcodes[1..opcodes.len() - 1].iter().all(|&o| o == 0), "whole fragments, then the close frame");
    eventually("the stalled connection is freed", || server.connections() == 1);
}

/// Array and list replies far larger than the output cap (`GET_RNG` of a
/// large array and list, `MIN`, `INTERSECT`) come whole, byte for byte,
/// as one message in several frames, in order among pipelined requests.
#[test]
fn array_and_list_replies_larger_than_the_output_cap_come_whole_and_in_order() {
    const N: usize = 200_000;
    let server = common::start_with(small_limits().container_limits(N as u64, N as u64, N as u64));
    let mut client = server.client();
    let ints: Vec<String> = (0..N).map(|i| (1_000_000 + i).to_string()).collect();
    let objects: Vec<String> = (0..N).map(|i| format!(r#"{{"i":{i},"s":"x"}}"#)).collect();
    for request in [
        format!(r#"{{"IARR_CREATE":{{"name":"a","len":{N}}}}}"#),
        format!(r#"{{"SIARR_CREATE":{{"name":"a","len":{N}}}}}"#),
        format!(r#"{{"SIARR_CREATE":{{"name":"b","len":{N}}}}}"#),
        r#"{"OLST_CREATE":{"name":"l"}}"#.to_owned(),
    ] {
        assert!(client.call(&request).ends_with(r#"_RSP":{"st":1}}"#), "{request}");
    }
    // Requests of 25,000 items, within `maxPayload`.
    for chunk in 0..N / 25_000 {
        let part = chunk * 25_000..(chunk + 1) * 25_000;
        let items = ints[part.clone()].join(",");
        for p in ["IARR", "SIARR"] {
            let reply = client.call(&format!(r#"{{"{p}_SET_RNG":{{"name":"a","items":[{items}]}}}}"#));
            assert_eq!(reply, format!(r#"{{"{p}_SET_RNG_RSP":{{"st":1}}}}"#));
        }
        let reply = client.call(&format!(r#"{{"SIARR_SET_RNG":{{"name":"b","items":[{items}]}}}}"#));
        assert_eq!(reply, r#"{"SIARR_SET_RNG_RSP":{"st":1}}"#);
        let items = objects[part].join(",");
        let reply = client.call(&format!(r#"{{"OLST_ADD":{{"name":"l","items":[{items}]}}}}"#));
        assert!(reply.starts_with(r#"{"OLST_ADD_RSP":{"pos":"#), "{reply}");
    }
    let all_ints = format!(r#""items":[{}],"st":1}}}}"#, ints.join(","));
    let requests = [
        (r#"{"IARR_GET_RNG":{"name":"a","rng":[0]}}"#.to_owned(), format!(r#"{{"IARR_GET_RNG_RSP":{{{all_ints}"#)),
        (r#"{"IARR_LEN":{"name":"a"}}"#.to_owned(), format!(r#"{{"IARR_LEN_RSP":{{"len":{N},"st":1}}}}"#)),
        (format!(r#"{{"SIARR_MIN":{{"name":"a","n":{N}}}}}"#), format!(r#"{{"SIARR_MIN_RSP":{{{all_ints}"#)),
        (
            r#"{"SIARR_INTERSECT":{"srcA":"a","srcB":"b"}}"#.to_owned(),
            format!(r#"{{"SIARR_INTERSECT_RSP":{{{all_ints}"#),
        ),
        (
            r#"{"OLST_GET_RNG":{"name":"l","rng":[0]}}"#.to_owned(),
            format!(r#"{{"OLST_GET_RNG_RSP":{{"items":[{}],"st":1}}}}"#, objects.join(",")),
        ),
        (r#"{"OLST_LEN":{"name":"l"}}"#.to_owned(), format!(r#"{{"OLST_LEN_RSP":{{"len":{N},"st":1}}}}"#)),
    ];
    for (request, _) in &requests {
        client.send(request);
    }
    for (request, expected) in &requests {
        let reply = client.recv();
        assert!(reply == *expected, "{request}: {:.200}", reply);
    }
    // One message in several frames.
    let mut raw = Raw::open(server.addr);
    raw.write(&text_frame(r#"{"IARR_GET_RNG":{"name":"a","rng":[0]}}"#));
    let (mut opcodes, mut message) = (Vec::new(), Vec::new());
    while message.len() < requests[0].1.len() {
        let (opcode, payload) = raw.frame().expect("a frame");
        opcodes.push(opcode);
        message.extend(payload);
    }
    assert_eq!(opcodes[0], 1);
    assert!(opcodes.len() > 10 && opcodes[1..].iter().all(|&o| o == 0), "{opcodes:?}");
    assert!(String::from_utf8(message).unwrap() == requests[0].1);
}
