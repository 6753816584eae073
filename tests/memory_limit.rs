//! The memory cap (`maxMemory`) over a real socket: once what the server
//! holds reaches it, every command that adds data is answered 204 and
//! changes nothing, while reads, removals, `SH_END*`, `KV_CLEAR` and saves
//! still work and bring it back under; `SV_INFO` reports both numbers.

mod common;

use common::Client;

/// The cap: small, so a few dozen keys reach it.
const CAP: usize = 64 * 1024;

/// The 204 of `verb`.
fn full(verb: &str) -> String {
    format!(r#"{{"{verb}_RSP":{{"m":"maxMemory reached","st":204,"tkn":null}}}}"#)
}

fn info(client: &mut Client) -> serde_json::Value {
    client.call_json(r#"{"SV_INFO":{}}"#)["SV_INFO_RSP"].clone()
}

#[test]
fn past_max_memory_only_commands_that_add_data_are_refused() {
    let dir = common::saves::TempDir::new("memory-limit");
    let server = common::start_with(common::config().persist(true, dir.path()).max_memory(Some(CAP)));
    let mut client = server.client();
    let before = info(&mut client);
    assert_eq!(before["maxMemory"], CAP);
    assert!(before["memoryUsed"].as_u64().is_some_and(|used| used < CAP as u64 / 8), "{before}");
    let token = client.call_json(r#"{"SH_NEW":{}}"#)["SH_NEW_RSP"]["tkn"].as_u64().expect("a token");
    let set_in_session = |key: &str| format!(r#"{{"SH_SET":{{"keys":{{"{key}":1}},"tkn":{token}}}}}"#);
    assert_eq!(client.call(&set_in_session("s")), r#"{"SH_SET_RSP":{"st":1}}"#);
    assert_eq!(client.call(r#"{"KV_SET":{"keys":{"list":[1,2]}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
    // Fill with 1 KiB values until the cap is reached.
    let value = "v".repeat(1024);
    let mut stored = 1;
    loop {
        let reply = client.call(&format!(r#"{{"KV_SET":{{"keys":{{"k{stored}":"{value}"}}}}}}"#));
        if reply == full("KV_SET") {
            break;
        }
        assert_eq!(reply, r#"{"KV_SET_RSP":{"st":1}}"#);
        stored += 1;
        assert!(stored < CAP / 1024, "the cap was never reached");
    }
    assert!(stored > CAP / 1024 / 2, "stored {stored} keys of 1 KiB under a {CAP}-byte cap");
    let at_cap = info(&mut client);
    assert!(at_cap["memoryUsed"].as_u64().is_some_and(|used| used >= CAP as u64), "{at_cap}");
    let count = format!(r#"{{"KV_COUNT_RSP":{{"cnt":{stored},"st":1}}}}"#);
    assert_eq!(client.call(r#"{"KV_COUNT":{}}"#), count);

    // Every command that adds data is refused.
    let refused = [
        ("KV_SET", r#"{"KV_SET":{"keys":{"new":1}}}"#.to_owned()),
        ("KV_ADD", r#"{"KV_ADD":{"keys":{"new":1}}}"#.to_owned()),
        ("KV_CLEAR_SET", r#"{"KV_CLEAR_SET":{"keys":{"new":1}}}"#.to_owned()),
        ("KV_UPDATE", r#"{"KV_UPDATE":{"key":"list","path":"$[0]","value":9}}"#.to_owned()),
        ("KV_ARR_APPEND", r#"{"KV_ARR_APPEND":{"items":[3],"key":"list"}}"#.to_owned()),
        ("KV_LOAD", r#"{"KV_LOAD":{"name":"none"}}"#.to_owned()),
        ("SH_NEW", r#"{"SH_NEW":{}}"#.to_owned()),
        ("SH_SET", set_in_session("t")),
        ("SH_ADD", format!(r#"{{"SH_ADD":{{"keys":{{"t":1}},"tkn":{token}}}}}"#)),
        ("SH_CLEAR_SET", format!(r#"{{"SH_CLEAR_SET":{{"keys":{{"t":1}},"tkn":{token}}}}}"#)),
        ("SH_LOAD", r#"{"SH_LOAD":{"name":"none"}}"#.to_owned()),
    ];
    for (verb, request) in &refused {
        assert_eq!(client.call(request), full(verb), "{request}");
    }
    // ...and changed nothing.
    assert_eq!(client.call(r#"{"KV_COUNT":{}}"#), count);
    assert_eq!(client.call(r#"{"KV_GET":{"keys":["list"]}}"#), r#"{"KV_GET_RSP":{"keys":{"list":[1,2]},"st":1}}"#);
    assert_eq!(
        client.call(&format!(r#"{{"SH_GET":{{"keys":["s","t"],"tkn":{token}}}}}"#)),
        r#"{"SH_GET_RSP":{"keys":{"s":1},"st":1}}"#
    );
    assert_eq!(client.call(r#"{"KV_CONTAINS":{"keys":["new"]}}"#), r#"{"KV_CONTAINS_RSP":{"contains":[],"st":1}}"#);

    // Reads, saves, removals and ends still run.
    let reply = client.call(r#"{"KV_GET":{"keys":["k1"]}}"#);
    assert_eq!(reply, format!(r#"{{"KV_GET_RSP":{{"keys":{{"k1":"{value}"}},"st":1}}}}"#));
    let reply = client.call(r#"{"KV_SAVE":{"name":"full"}}"#);
    assert!(reply.ends_with(r#""name":"full","st":121}}"#), "{reply}");
    assert_eq!(
        client.call(&format!(r#"{{"SH_END":{{"tkn":{token}}}}}"#)),
        format!(r#"{{"SH_END_RSP":{{"st":1,"tkn":{token}}}}}"#)
    );
    assert_eq!(client.call(r#"{"KV_RMV":{"keys":["k1","k2"]}}"#), r#"{"KV_RMV_RSP":{"st":1}}"#);
    // Under the cap again: data can be added.
    assert_eq!(client.call(r#"{"KV_SET":{"keys":{"new":1}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
    let reply = client.call(r#"{"KV_CLEAR":{}}"#);
    assert_eq!(reply, format!(r#"{{"KV_CLEAR_RSP":{{"cnt":{},"st":1}}}}"#, stored - 1));
    let after = info(&mut client);
    assert!(after["memoryUsed"].as_u64().is_some_and(|used| used < CAP as u64 / 8), "{after}");
    // What the save holds is all there: a load brings it back.
    let reply = client.call(r#"{"KV_LOAD":{"name":"full"}}"#);
    assert!(reply.contains(&format!(r#""keys":{stored},"#)) && reply.ends_with(r#""st":141}}"#), "{reply}");
    assert_eq!(client.call(r#"{"KV_COUNT":{}}"#), count);
}

#[test]
fn pending_replies_count_toward_the_cap() {
    // A cap of 2 MiB, a value of 1 MiB, and a client that asks for it
    // many times and does not read: past what the kernel takes, the
    // server holds up to `outputPauseBytes` (1 MiB) and more of replies
    // for it, which count, so commands that add data are refused
    // meanwhile.
    let server = common::start_with(common::config().max_memory(Some(2 << 20)).max_payload(2 << 20));
    let mut client = server.client();
    let big = "b".repeat(1 << 20);
    assert_eq!(client.call(&format!(r#"{{"KV_SET":{{"keys":{{"big":"{big}"}}}}}}"#)), r#"{"KV_SET_RSP":{"st":1}}"#);
    let used = |client: &mut Client| info(client)["memoryUsed"].as_u64().expect("memoryUsed");
    let alone = used(&mut client);
    assert!(alone < 2 << 20, "one value of 1 MiB: {alone}");
    let mut reader = common::Raw::open(server.addr);
    for _ in 0..32 {
        reader.write(&common::text_frame(r#"{"KV_GET":{"keys":["big"]}}"#));
    }
    common::eventually("the replies pile up unread", || used(&mut client) >= 2 << 20);
    assert_eq!(client.call(r#"{"KV_SET":{"keys":{"x":1}}}"#), full("KV_SET"));
    // Once the reader goes, its replies go with it.
    drop(reader);
    common::eventually("the replies are dropped", || used(&mut client) < 2 << 20);
    assert_eq!(client.call(r#"{"KV_SET":{"keys":{"x":1}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
}

/// The st-only 204 of an array or list command.
fn full_container(verb: &str) -> String {
    format!(r#"{{"{verb}_RSP":{{"st":204}}}}"#)
}

fn used(client: &mut Client) -> u64 {
    info(client)["memoryUsed"].as_u64().expect("memoryUsed")
}

#[test]
fn arrays_count_their_whole_capacity_and_are_refused_past_the_cap() {
    // Arrays of up to a million slots, a cap of 4 MiB.
    const CAP: usize = 4 << 20;
    let server = common::start_with(common::config().max_memory(Some(CAP)).container_limits(1 << 20, 100, 100));
    let mut client = server.client();

    // CREATE counts its whole capacity at once (8 bytes a slot), and
    // DELETE gives it back.
    let empty = used(&mut client);
    assert_eq!(client.call(r#"{"IARR_CREATE":{"name":"a","len":100000}}"#), r#"{"IARR_CREATE_RSP":{"st":1}}"#);
    let with_array = used(&mut client);
    assert!(with_array >= empty + 800_000, "{empty} -> {with_array}");
    assert!(with_array < empty + 900_000, "{empty} -> {with_array}");
    assert_eq!(client.call(r#"{"IARR_DELETE":{"name":"a"}}"#), r#"{"IARR_DELETE_RSP":{"st":1}}"#);
    let deleted = used(&mut client);
    assert!(deleted + 800_000 <= with_array, "{with_array} -> {deleted}");

    // A CREATE whose capacity would pass the cap is refused, even well
    // below it, and creates nothing.
    assert_eq!(client.call(r#"{"IARR_CREATE":{"name":"big","len":1000000}}"#), full_container("IARR_CREATE"));
    assert_eq!(client.call(r#"{"IARR_EXIST":{"name":"big"}}"#), r#"{"IARR_EXIST_RSP":{"st":22}}"#);
    assert!(used(&mut client) < with_array, "nothing was counted for it");

    // Fill up to the cap with arrays of 256 KiB each.
    let mut created = 0;
    loop {
        let reply = client.call(&format!(r#"{{"IARR_CREATE":{{"name":"f{created}","len":32768}}}}"#));
        if reply == full_container("IARR_CREATE") {
            break;
        }
        assert_eq!(reply, r#"{"IARR_CREATE_RSP":{"st":1}}"#);
        created += 1;
        assert!(created <= CAP / (256 << 10), "the cap was never reached");
    }
    assert!(created >= CAP / (256 << 10) - 2, "created {created} arrays of 256 KiB under a 4 MiB cap");
    assert!(used(&mut client) <= CAP as u64, "a CREATE that would pass the cap is not admitted");
    // Fill the rest with a list's items until nothing more is admitted.
    assert_eq!(client.call(r#"{"OLST_CREATE":{"name":"l"}}"#), r#"{"OLST_CREATE_RSP":{"st":1}}"#);
    let items = format!(r#"[{}]"#, vec![format!(r#"{{"v":"{}"}}"#, "x".repeat(1000)); 64].join(","));
    let mut adds = 0;
    loop {
        let reply = client.call(&format!(r#"{{"OLST_ADD":{{"name":"l","items":{items}}}}}"#));
        if reply == full_container("OLST_ADD") {
            break;
        }
        assert!(reply.starts_with(r#"{"OLST_ADD_RSP":{"pos":"#) && reply.ends_with(r#","st":1}}"#), "{reply}");
        adds += 1;
        assert!(adds < 100, "the cap was never reached");
    }
    let at_cap = used(&mut client);
    assert!(at_cap >= CAP as u64, "{at_cap}");
    let len = client.call(r#"{"OLST_LEN":{"name":"l"}}"#);

    // At the cap every array or list command that adds data is refused...
    for (verb, request) in [
        ("IARR_CREATE", r#"{"IARR_CREATE":{"name":"n","len":1}}"#),
        ("OLST_CREATE", r#"{"OLST_CREATE":{"name":"n"}}"#),
        ("IARR_SET", r#"{"IARR_SET":{"name":"f0","item":7}}"#),
        ("IARR_SET_RNG", r#"{"IARR_SET_RNG":{"name":"f0","items":[1,2,3]}}"#),
        ("OLST_ADD", r#"{"OLST_ADD":{"name":"l","items":[{"a":1}]}}"#),
        ("OLST_SPLICE", r#"{"OLST_SPLICE":{"srcName":"l","destName":"m","srcRng":[0,1],"destPos":0}}"#),
        ("STRARR_CREATE", r#"{"STRARR_CREATE":{"name":"s","len":1}}"#),
    ] {
        assert_eq!(client.call(request), full_container(verb), "{request}");
    }
    // ...changing nothing...
    assert_eq!(client.call(r#"{"IARR_USED":{"name":"f0"}}"#), r#"{"IARR_USED_RSP":{"st":1,"used":0}}"#);
    assert_eq!(client.call(r#"{"OLST_LEN":{"name":"l"}}"#), len);
    assert_eq!(client.call(r#"{"OLST_EXIST":{"name":"m"}}"#), r#"{"OLST_EXIST_RSP":{"st":22}}"#);
    assert_eq!(used(&mut client), at_cap);
    // ...while reads, removals and deletes run.
    assert_eq!(client.call(r#"{"IARR_LEN":{"name":"f0"}}"#), r#"{"IARR_LEN_RSP":{"len":32768,"st":1}}"#);
    assert_eq!(
        client.call(r#"{"IARR_GET_RNG":{"name":"f0","rng":[0]}}"#),
        r#"{"IARR_GET_RNG_RSP":{"items":[],"st":1}}"#
    );
    let reply = client.call(r#"{"OLST_GET_RNG":{"name":"l","rng":[0,1]}}"#);
    assert!(reply.starts_with(r#"{"OLST_GET_RNG_RSP":{"items":[{"v":"#), "{reply}");
    let size = client.call_json(r#"{"OLST_LEN":{"name":"l"}}"#)["OLST_LEN_RSP"]["len"].as_u64().expect("a length");
    assert_eq!(size, adds * 64);
    assert_eq!(
        client.call(r#"{"OLST_RMV":{"name":"l","head":true}}"#),
        format!(r#"{{"OLST_RMV_RSP":{{"size":{},"st":1}}}}"#, size - 1)
    );
    assert_eq!(client.call(r#"{"IARR_CLEAR":{"name":"f0","rng":[0]}}"#), r#"{"IARR_CLEAR_RSP":{"st":1}}"#);
    assert_eq!(client.call(r#"{"OLST_DELETE":{"name":"l"}}"#), r#"{"OLST_DELETE_RSP":{"st":1}}"#);
    assert_eq!(client.call(r#"{"IARR_DELETE":{"name":"f0"}}"#), r#"{"IARR_DELETE_RSP":{"st":1}}"#);
    // DELETE made room: array and list commands that add data run again.
    assert!(used(&mut client) < CAP as u64);
    assert_eq!(client.call(r#"{"IARR_SET":{"name":"f1","item":7}}"#), r#"{"IARR_SET_RSP":{"st":1}}"#);
    assert_eq!(client.call(r#"{"IARR_GET":{"name":"f1","pos":0}}"#), r#"{"IARR_GET_RSP":{"item":7,"st":1}}"#);
    assert_eq!(client.call(r#"{"OLST_CREATE":{"name":"l"}}"#), r#"{"OLST_CREATE_RSP":{"st":1}}"#);
    assert_eq!(
        client.call(r#"{"OLST_ADD":{"name":"l","items":[{"a":1}]}}"#),
        r#"{"OLST_ADD_RSP":{"pos":0,"size":1,"st":1}}"#
    );
    // KV writes share the one count: DELETE_ALL gives everything back.
    assert_eq!(client.call(r#"{"IARR_DELETE_ALL":{}}"#), r#"{"IARR_DELETE_ALL_RSP":{"st":1}}"#);
    assert!(used(&mut client) < empty + 4096);
    assert_eq!(client.call(r#"{"KV_SET":{"keys":{"k":1}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
}

#[test]
fn a_ready_reply_counts_before_its_connection_takes_it() {
    let server = common::start();
    let mut client = server.client();
    // 400 values of 1 KiB: a search over every key runs as a job, and its
    // reply (about 420 KB, under the 1 MiB of a reply sent in pieces)
    // comes back whole.
    let value = "v".repeat(1024);
    for batch in 0..4 {
        let members: Vec<String> =
            (batch * 100..(batch + 1) * 100).map(|i| format!(r#""k{i}":{{"v":"{value}"}}"#)).collect();
        assert_eq!(
            client.call(&format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, members.join(","))),
            r#"{"KV_SET_RSP":{"st":1}}"#
        );
    }
    let alone = info(&mut client)["memoryUsed"].as_u64().expect("memoryUsed");
    // The SV_INFO behind the search is served in the turn its reply is
    // handed over, before the connection's buffers are counted again.
    client.send(r#"{"KV_FIND":{"path":"$.v","rsp":"kv"}}"#);
    client.send(r#"{"SV_INFO":{}}"#);
    let found = client.recv();
    assert!(found.len() > 400 * 1024 && found.ends_with(r#""st":1}}"#), "{:.100}", found);
    let behind: serde_json::Value = serde_json::from_str(&client.recv()).unwrap();
    let used = behind["SV_INFO_RSP"]["memoryUsed"].as_u64().expect("memoryUsed");
    assert!(used >= alone + found.len() as u64, "{alone} alone, {used} with a reply of {} bytes ready", found.len());
}
