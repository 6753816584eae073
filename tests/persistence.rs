//! Saves and loads over the wire: exact replies, round trips of every JSON
//! type and awkward key, selected sessions, merging loads, every error
//! status, the original's saves, and the crate's client.

mod common;

use common::saves::{TempDir, fixtures, stamps, without_duration};
use ndb::Config;
use ndb::{Protocol, Status};
use ndb_client::{Error, Expiry, Token};
use serde_json::{Value, json};

fn server(dir: &TempDir) -> common::TestServer {
    common::start_with(common::config().persist(true, dir.path()))
}

/// Runs `(request, expected reply)` rows in order on one connection; the
/// `duration` of save and load replies is compared as 0.
fn rows(client: &mut common::Client, rows: &[(&str, &str)]) {
    for (request, expected) in rows {
        let reply = client.call(request);
        let reply =
            if request.contains("_SAVE\"") || request.contains("_LOAD\"") { without_duration(&reply) } else { reply };
        assert_eq!(reply, *expected, "{request}");
    }
}

#[test]
fn kv_round_trip_of_every_json_type_and_awkward_keys() {
    let dir = TempDir::new("kv-round-trip");
    let server = server(&dir);
    let mut client = server.client();
    let keys = r#"{"null":null,"t":true,"f":false,"int":-42,"big":18446744073709551615,"float":1.5,
        "str":"żółw ☃ 𝄞 \"q\" \\ \n","arr":[1,"a",null,[{}]],"obj":{"z":1,"a":{"b":[true]}},
        "q\"uote":1,"back\\slash":2,"żółw ☃ 𝄞":3,"new\nline\u0001":4,"":5,"\ud834\udd1e":6}"#;
    client.call(&format!(r#"{{"KV_SET":{{"keys":{keys}}}}}"#));
    let all = r#"{"KV_GET":{"keys":["null","t","f","int","big","float","str","arr","obj","q\"uote","back\\slash","żółw ☃ 𝄞","new\nline\u0001","","𝄞"]}}"#;
    let before = client.call(all);
    rows(
        &mut client,
        &[
            (r#"{"KV_SAVE":{"name":"round trip"}}"#, r#"{"KV_SAVE_RSP":{"duration":0,"name":"round trip","st":121}}"#),
            (r#"{"KV_CLEAR":{}}"#, r#"{"KV_CLEAR_RSP":{"cnt":15,"st":1}}"#),
            (
                r#"{"KV_LOAD":{"name":"round trip"}}"#,
                r#"{"KV_LOAD_RSP":{"duration":0,"keys":15,"name":"round trip","sessions":0,"st":141}}"#,
            ),
        ],
    );
    assert_eq!(client.call(all), before);
    let order = client.call(r#"{"KV_KEYS":{}}"#);
    assert!(order.starts_with(r#"{"KV_KEYS_RSP":{"keys":["null","t","f","int","#), "{order}");
    // The data file is valid JSON with the keys escaped.
    let file = std::fs::read(stamps(dir.path(), "round trip")[0].join("data/0")).unwrap();
    let parsed: Value = serde_json::from_slice(&file).expect("valid JSON");
    assert_eq!(parsed["keys"]["q\"uote"], 1);
    assert_eq!(parsed["keys"]["new\nline\u{1}"], 4);
}

#[test]
fn kv_loads_merge_with_set_semantics() {
    let dir = TempDir::new("kv-merge");
    let server = server(&dir);
    let mut client = server.client();
    rows(
        &mut client,
        &[
            (r#"{"KV_SET":{"keys":{"a":1,"b":2}}}"#, r#"{"KV_SET_RSP":{"st":1}}"#),
            (r#"{"KV_SAVE":{"name":"m"}}"#, r#"{"KV_SAVE_RSP":{"duration":0,"name":"m","st":121}}"#),
            (r#"{"KV_CLEAR_SET":{"keys":{"b":"new","c":3}}}"#, r#"{"KV_CLEAR_SET_RSP":{"cnt":2,"st":1}}"#),
            (
                r#"{"KV_LOAD":{"name":"m"}}"#,
                r#"{"KV_LOAD_RSP":{"duration":0,"keys":2,"name":"m","sessions":0,"st":141}}"#,
            ),
            (r#"{"KV_GET":{"keys":["a","b","c"]}}"#, r#"{"KV_GET_RSP":{"keys":{"a":1,"b":2,"c":3},"st":1}}"#),
            (r#"{"KV_KEYS":{}}"#, r#"{"KV_KEYS_RSP":{"keys":["b","c","a"],"st":1}}"#),
        ],
    );
}

#[test]
fn sessions_round_trip_and_loads_skip_live_tokens() {
    let dir = TempDir::new("sh-round-trip");
    let server = server(&dir);
    let mut c = server.ndb();
    let cart = c.sh_new(Some(Expiry::after_secs(600).delete_session(true).extend_on_set_add(true))).unwrap();
    let plain = c.sh_new(None).unwrap();
    let empty = c.sh_new(Some(Expiry::after_secs(60).extend_on_get(true))).unwrap();
    c.sh_set(cart, json!({"items": [3, 5], "q\"uote": {"ż": null}})).unwrap();
    c.sh_set(plain, json!({"user": "ann"})).unwrap();
    let saved = c.sh_save("all", None).unwrap();
    assert_eq!(saved.name, "all");
    let settings = |info: ndb_client::SessionInfo| {
        info.expiry.map(|e| (e.duration_secs, e.delete_session, e.extend_on_set_add, e.extend_on_get))
    };
    let before = (settings(c.sh_info(cart).unwrap()), settings(c.sh_info(empty).unwrap()));
    c.sh_end(cart).unwrap();
    c.sh_end(empty).unwrap();
    c.sh_set(plain, json!({"user": "changed"})).unwrap();
    let loaded = c.sh_load("all").unwrap();
    assert_eq!((loaded.name.as_str(), loaded.sessions, loaded.keys), ("all", 2, 2), "plain was live: skipped");
    assert_eq!(Value::Object(c.sh_get(plain, ["user"]).unwrap()), json!({"user": "changed"}));
    let got = c.sh_get(cart, ["items", "q\"uote"]).unwrap();
    assert_eq!(Value::Object(got), json!({"items": [3, 5], "q\"uote": {"ż": null}}));
    assert_eq!(c.sh_info(empty).unwrap().key_count, 0);
    let after = (settings(c.sh_info(cart).unwrap()), settings(c.sh_info(empty).unwrap()));
    assert_eq!(after, before);
    assert_eq!(before.0, Some((600, true, true, false)));
    let totals = c.sh_info_all().unwrap();
    assert_eq!((totals.sessions, totals.keys), (3, 3));
}

#[test]
fn selected_session_saves() {
    let dir = TempDir::new("sh-selected");
    let server = server(&dir);
    let mut c = server.ndb();
    let [a, b, d] = [0, 1, 2].map(|i| {
        let t = c.sh_new(None).unwrap();
        c.sh_set(t, json!({ "i": i })).unwrap();
        t
    });
    c.sh_save("two", Some(&[a, Token(12345), d, a])).unwrap();
    c.sh_save("none", Some(&[Token(12345)])).unwrap();
    assert_eq!(c.sh_end_all().unwrap(), 3);
    let loaded = c.sh_load("two").unwrap();
    assert_eq!((loaded.sessions, loaded.keys), (2, 2));
    assert_eq!(c.sh_exists([a, b, d]).unwrap(), [a, d]);
    let loaded = c.sh_load("none").unwrap();
    assert_eq!((loaded.sessions, loaded.keys), (0, 0), "an empty session save loads");
}

#[test]
fn error_statuses_and_their_shapes() {
    let dir = TempDir::new("errors");
    let server = server(&dir);
    let mut client = server.client();
    rows(
        &mut client,
        &[
            (r#"{"KV_SAVE":{}}"#, r#"{"KV_SAVE_RSP":{"m":"Missing parameter","st":26,"tkn":null}}"#),
            (r#"{"KV_SAVE":{"name":["x"]}}"#, r#"{"KV_SAVE_RSP":{"m":"Param type incorrect","st":41,"tkn":null}}"#),
            (r#"{"SH_LOAD":{}}"#, r#"{"SH_LOAD_RSP":{"m":"Missing parameter","st":26,"tkn":null}}"#),
            (r#"{"KV_LOAD":{"name":true}}"#, r#"{"KV_LOAD_RSP":{"m":"Param type incorrect","st":41,"tkn":null}}"#),
            (r#"{"SH_SAVE":{"name":"s","tkns":[]}}"#, r#"{"SH_SAVE_RSP":{"m":"'tkns' empty","st":42,"tkn":null}}"#),
            (
                r#"{"SH_SAVE":{"name":"s","tkns":[1.5]}}"#,
                r#"{"SH_SAVE_RSP":{"m":"'tkns' contains invalid token","st":41,"tkn":null}}"#,
            ),
            (r#"{"KV_SAVE":{"name":""}}"#, r#"{"KV_SAVE_RSP":{"m":"name","st":42,"tkn":null}}"#),
            (r#"{"KV_SAVE":{"name":"../escape"}}"#, r#"{"KV_SAVE_RSP":{"m":"name","st":42,"tkn":null}}"#),
            (r#"{"SH_SAVE":{"name":"a\\b"}}"#, r#"{"SH_SAVE_RSP":{"m":"name","st":42,"tkn":null}}"#),
            (r#"{"KV_SAVE":{"name":"nul\u0000"}}"#, r#"{"KV_SAVE_RSP":{"m":"name","st":42,"tkn":null}}"#),
            (r#"{"KV_LOAD":{"name":"/etc"}}"#, r#"{"KV_LOAD_RSP":{"m":"name","st":42,"tkn":null}}"#),
            (r#"{"KV_LOAD":{"name":"never saved"}}"#, r#"{"KV_LOAD_RSP":{"name":"never saved","st":142}}"#),
            (r#"{"SH_LOAD":{"name":"never saved"}}"#, r#"{"SH_LOAD_RSP":{"name":"never saved","st":142}}"#),
            (r#"{"KV_SAVE":{"name":"empty kv"}}"#, r#"{"KV_SAVE_RSP":{"duration":0,"name":"empty kv","st":121}}"#),
            (
                r#"{"KV_LOAD":{"name":"empty kv"}}"#,
                r#"{"KV_LOAD_RSP":{"duration":0,"keys":0,"name":"empty kv","sessions":0,"st":141}}"#,
            ),
            (r#"{"SH_LOAD":{"name":"empty kv"}}"#, r#"{"SH_LOAD_RSP":{"name":"empty kv","st":142}}"#),
            (r#"{"SH_SAVE":{"name":"empty sh"}}"#, r#"{"SH_SAVE_RSP":{"duration":0,"name":"empty sh","st":121}}"#),
            (
                r#"{"SH_LOAD":{"name":"empty sh"}}"#,
                r#"{"SH_LOAD_RSP":{"keys":0,"name":"empty sh","sessions":0,"st":141}}"#,
            ),
            (r#"{"KV_LOAD":{"name":"empty sh"}}"#, r#"{"KV_LOAD_RSP":{"name":"empty sh","st":142}}"#),
        ],
    );
    // Nothing was written for the refused names.
    let mut names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["empty kv", "empty sh"]);
}

#[test]
fn disabled_persistence_refuses_saves_first_but_loads() {
    let server = common::start_with(Config::default().port(0).persist(false, fixtures()));
    let mut client = server.client();
    rows(
        &mut client,
        &[
            (r#"{"KV_SAVE":{"name":"x"}}"#, r#"{"KV_SAVE_RSP":{"m":"","st":14}}"#),
            (r#"{"KV_SAVE":{}}"#, r#"{"KV_SAVE_RSP":{"m":"","st":14}}"#),
            (r#"{"SH_SAVE":{"name":"","tkns":[]}}"#, r#"{"SH_SAVE_RSP":{"m":"","st":14}}"#),
            (
                r#"{"KV_LOAD":{"name":"kv_sample"}}"#,
                r#"{"KV_LOAD_RSP":{"duration":0,"keys":10,"name":"kv_sample","sessions":0,"st":141}}"#,
            ),
        ],
    );
}

/// The original's saves load with their exact content (the fixtures are
/// read in place: a server with saves disabled writes nothing).
#[test]
fn saves_written_by_the_original_load_exactly() {
    let server = common::start_with(Config::default().port(0).persist(false, fixtures()));
    let mut client = server.client();
    rows(
        &mut client,
        &[
            (
                r#"{"KV_LOAD":{"name":"kv_sample"}}"#,
                r#"{"KV_LOAD_RSP":{"duration":0,"keys":10,"name":"kv_sample","sessions":0,"st":141}}"#,
            ),
            (
                r#"{"KV_GET":{"keys":["username","password","server_port","ratio","enabled","nothing","server_users","tags","unicode","big"]}}"#,
                r#"{"KV_GET_RSP":{"keys":{"username":"billy","password":"billy_passy","server_port":1987,"ratio":1.5,"enabled":true,"nothing":null,"server_users":{"admins":["user1","user2"],"banned":["user3"]},"tags":["a","b",3],"unicode":"żółw ☃ 𝄞","big":18446744073709551615},"st":1}}"#,
            ),
            (r#"{"SH_LOAD":{"name":"kv_sample"}}"#, r#"{"SH_LOAD_RSP":{"name":"kv_sample","st":142}}"#),
            (
                r#"{"SH_LOAD":{"name":"sessions_sample"}}"#,
                r#"{"SH_LOAD_RSP":{"keys":5,"name":"sessions_sample","sessions":3,"st":141}}"#,
            ),
            (
                r#"{"SH_LOAD":{"name":"sessions_selected"}}"#,
                r#"{"SH_LOAD_RSP":{"keys":0,"name":"sessions_selected","sessions":0,"st":141}}"#,
            ),
            (
                r#"{"SH_GET":{"keys":["cart","user"],"tkn":7711818061385558871}}"#,
                r#"{"SH_GET_RSP":{"keys":{"cart":[3,5],"user":{"age":31,"name":"ann"}},"st":1}}"#,
            ),
            (
                r#"{"SH_GET":{"keys":["otp"],"tkn":14479067358851019227}}"#,
                r#"{"SH_GET_RSP":{"keys":{"otp":"123456"},"st":1}}"#,
            ),
            (r#"{"SH_END_ALL":{}}"#, r#"{"SH_END_ALL_RSP":{"cnt":3,"st":1}}"#),
            (
                r#"{"SH_LOAD":{"name":"sessions_selected"}}"#,
                r#"{"SH_LOAD_RSP":{"keys":4,"name":"sessions_selected","sessions":2,"st":141}}"#,
            ),
            (
                r#"{"SH_LOAD":{"name":"sessions_v06_style"}}"#,
                r#"{"SH_LOAD_RSP":{"keys":3,"name":"sessions_v06_style","sessions":2,"st":141}}"#,
            ),
            (r#"{"SH_GET":{"keys":["b"],"tkn":9876543210}}"#, r#"{"SH_GET_RSP":{"keys":{"b":[true,null]},"st":1}}"#),
        ],
    );
    // Expiry settings come back as saved; the time left starts afresh.
    for (token, expiry) in [
        (
            7613396276306151991u64,
            json!({"deleteSession": false, "duration": 3600, "extendOnGet": true, "extendOnSetAdd": false}),
        ),
        (1234567890123, json!({"deleteSession": true, "duration": 120, "extendOnGet": false, "extendOnSetAdd": false})),
    ] {
        let mut info = client.call_json(&format!(r#"{{"SH_INFO":{{"tkn":{token}}}}}"#));
        let got = info["SH_INFO_RSP"]["expiry"].as_object_mut().unwrap();
        let remaining = got.remove("remaining").and_then(|r| r.as_u64()).unwrap();
        assert!(expiry["duration"].as_u64().unwrap() - remaining <= 1, "{remaining}");
        assert_eq!(Value::Object(got.clone()), expiry);
    }
}

#[test]
fn corrupt_saves_fail_with_142_and_apply_nothing() {
    let dir = TempDir::new("corrupt");
    let server = server(&dir);
    let mut client = server.client();
    client.call(r#"{"KV_SET":{"keys":{"a":1,"b":2}}}"#);
    client.call(r#"{"KV_SAVE":{"name":"c"}}"#);
    let stamp = stamps(dir.path(), "c").pop().unwrap();
    let data = stamp.join("data/0");
    let bytes = std::fs::read(&data).unwrap();
    std::fs::write(&data, &bytes[..bytes.len() - 3]).unwrap();
    client.call(r#"{"KV_CLEAR":{}}"#);
    rows(
        &mut client,
        &[
            (
                r#"{"KV_LOAD":{"name":"c"}}"#,
                r#"{"KV_LOAD_RSP":{"duration":0,"keys":0,"name":"c","sessions":0,"st":142}}"#,
            ),
            (r#"{"KV_COUNT":{}}"#, r#"{"KV_COUNT_RSP":{"cnt":0,"st":1}}"#),
        ],
    );
    std::fs::write(stamp.join("md/md.json"), "\u{0}garbage").unwrap();
    rows(&mut client, &[(r#"{"KV_LOAD":{"name":"c"}}"#, r#"{"KV_LOAD_RSP":{"name":"c","st":142}}"#)]);
}

#[test]
fn last_save_and_the_09_numbering() {
    let dir = TempDir::new("numbering");
    let server = common::start_with(common::config().persist(true, dir.path()).protocol(Protocol::V09));
    let mut client = server.client();
    rows(&mut client, &[(r#"{"KV_SAVE":{"name":"n"}}"#, r#"{"KV_SAVE_RSP":{"duration":0,"name":"n","st":120}}"#)]);
    let info = client.call_json(r#"{"SV_INFO":{}}"#);
    let last = &info["SV_INFO_RSP"]["lastSave"];
    assert_eq!((&last["name"], &last["status"]), (&json!("n"), &json!(120)));
    assert!(last["time"].as_u64().is_some_and(|t| t > 1_700_000_000_000), "{last}");
}

#[test]
fn the_crates_client_saves_and_loads() {
    let dir = TempDir::new("client");
    let server = server(&dir);
    let mut c = server.ndb();
    c.kv_set(json!({"k": [1, 2]})).unwrap();
    let saved = c.kv_save("nightly").unwrap();
    assert_eq!(saved.name, "nightly");
    c.kv_clear().unwrap();
    let loaded = c.kv_load("nightly").unwrap();
    assert_eq!((loaded.name.as_str(), loaded.keys), ("nightly", 1));
    assert_eq!(Value::Object(c.kv_get(["k"]).unwrap()), json!({"k": [1, 2]}));
    let t = c.sh_new(None).unwrap();
    c.sh_save("s", Some(&[t])).unwrap();
    c.sh_end(t).unwrap();
    let loaded = c.sh_load("s").unwrap();
    assert_eq!((loaded.sessions, loaded.keys), (1, 0));
    for (result, code) in [
        (c.kv_load("missing").map(drop), 142),
        (c.sh_load("").map(drop), 42),
        (c.kv_save("a/b").map(drop), 42),
        (c.sh_save("s", Some(&[])).map(drop), 42),
    ] {
        let Err(Error::Status(status)) = result else { panic!("{result:?}") };
        assert_eq!(status.code, code);
    }
    let Err(Error::Status(status)) = c.kv_load("missing") else { panic!() };
    assert_eq!(status.status, Some(Status::LoadError));
}

/// Sets keys `k{i}` for `range` to `value`, 10,000 per request.
fn set_keys(client: &mut common::Client, range: std::ops::Range<usize>, value: &str) {
    let keys: Vec<usize> = range.collect();
    for batch in keys.chunks(10_000) {
        let members: Vec<String> = batch.iter().map(|i| format!(r#""k{i}":{value}"#)).collect();
        let reply = client.call(&format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, members.join(",")));
        assert_eq!(reply, r#"{"KV_SET_RSP":{"st":1}}"#);
    }
}

#[test]
fn a_load_into_a_store_with_keys_takes_effect_at_once_for_every_client() {
    // Enough keys for the merge to take dozens of turns
    // (ndb::internals::store::LOAD_MERGE_KEYS_PER_STEP a turn, checked, then moved in).
    const N: usize = 60 * ndb::internals::store::LOAD_MERGE_KEYS_PER_STEP;
    let dir = TempDir::new("kv-merge-steps");
    let server = server(&dir);
    let mut loader = server.client();
    set_keys(&mut loader, 0..N, "1");
    let saved = loader.call(r#"{"KV_SAVE":{"name":"big"}}"#);
    assert!(saved.ends_with(r#""name":"big","st":121}}"#), "{saved}");
    loader.call(r#"{"KV_CLEAR":{}}"#);
    // The store: k(N/2)..k(3N/2) = 2, of which the first half is in the save.
    set_keys(&mut loader, N / 2..N / 2 + N, "2");
    let (probe_new, probe_shared) = (0, N / 2 + N / 4);
    let before = (N, None, Some(2));
    let after = (N / 2 + N, Some(1), Some(1));

    // Another client reads all along: each reply is the store before the
    // load or after all of it, and once after, never before again.
    let addr = server.addr;
    let seen_after = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (seen_after, stop) = (seen_after.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut client = common::Client::connect(addr);
            let mut states = Vec::new();
            let get = format!(r#"{{"KV_GET":{{"keys":["k{probe_new}","k{probe_shared}"]}}}}"#);
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let count = client.call_json(r#"{"KV_COUNT":{}}"#)["KV_COUNT_RSP"]["cnt"].as_u64();
                let got = client.call_json(&get);
                let keys = &got["KV_GET_RSP"]["keys"];
                let (new, shared) = (keys[format!("k{probe_new}")].as_u64(), keys[format!("k{probe_shared}")].as_u64());
                states.push((count.map(|c| c as usize), new, shared));
                if (new, shared) == (after.1, after.2) {
                    seen_after.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
            states
        })
    };
    let reply = loader.call(r#"{"KV_LOAD":{"name":"big"}}"#);
    assert_eq!(
        without_duration(&reply),
        format!(r#"{{"KV_LOAD_RSP":{{"duration":0,"keys":{N},"name":"big","sessions":0,"st":141}}}}"#)
    );
    // The loader's next command sees the whole load.
    assert_eq!(loader.call(r#"{"KV_COUNT":{}}"#), format!(r#"{{"KV_COUNT_RSP":{{"cnt":{},"st":1}}}}"#, after.0));
    common::eventually("the reader sees the load", || seen_after.load(std::sync::atomic::Ordering::SeqCst));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let states = reader.join().unwrap();
    let mut loaded = false;
    for (i, &(count, new, shared)) in states.iter().enumerate() {
        let state = (count.unwrap_or(0), new, shared);
        // A count and the lookup after it may fall on either side.
        let (count_after, values_after) = (state.0 == after.0, (new, shared) == (after.1, after.2));
        assert!(state.0 == before.0 || count_after, "reply {i}: count {state:?}");
        assert!((new, shared) == (before.1, before.2) || values_after, "reply {i}: {state:?}");
        assert!(!loaded || (count_after && values_after), "reply {i}: {state:?} after the load was seen");
        loaded |= values_after;
    }
    // The order: the store's keys, then the loaded new ones in save order.
    let keys = loader.call_json(r#"{"KV_KEYS":{}}"#);
    let keys: Vec<&str> = keys["KV_KEYS_RSP"]["keys"].as_array().unwrap().iter().filter_map(|k| k.as_str()).collect();
    let expected: Vec<String> = (N / 2..N / 2 + N).chain(0..N / 2).map(|i| format!("k{i}")).collect();
    assert_eq!(keys, expected);
}

#[test]
fn a_large_session_load_lets_other_clients_in_and_answers_after_its_last_session() {
    // Enough sessions for the load to take several turns
    // (ndb::internals::store::RESTORE_WORK_PER_STEP a turn).
    const N: u64 = 6 * ndb::internals::store::RESTORE_WORK_PER_STEP as u64;
    let dir = TempDir::new("session-load-steps");
    let mut host = common::VirtualHost::start(common::config().persist(true, dir.path()));
    let mut loader = host.open();
    let info_all = r#"{"SH_INFO_ALL":{}}"#;
    let total = |reply: &Value| reply["SH_INFO_ALL_RSP"]["totalSessions"].as_u64().expect("a count");
    for _ in 0..N {
        loader.send(r#"{"SH_NEW":{}}"#);
    }
    for _ in 0..N {
        assert!(host.text(&mut loader).contains(r#""st":1,"#));
    }
    let saved = host.call(&mut loader, r#"{"SH_SAVE":{"name":"many"}}"#);
    assert!(saved.ends_with(r#""name":"many","st":121}}"#), "{saved}");
    assert_eq!(host.call(&mut loader, r#"{"SH_END_ALL":{}}"#), format!(r#"{{"SH_END_ALL_RSP":{{"cnt":{N},"st":1}}}}"#));

    // The load and, pipelined behind it, a count; another client counts
    // all along.
    loader.send(r#"{"SH_LOAD":{"name":"many"}}"#);
    loader.send(info_all);
    let mut bystander = host.open();
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + common::TIMEOUT;
    let first = loop {
        assert!(std::time::Instant::now() < deadline, "no reply to the load");
        seen.push(total(&host.call_json(&mut bystander, info_all)));
        loader.pump();
        if let Some((1, reply)) = loader.take_frame() {
            break String::from_utf8(reply).expect("UTF-8");
        }
    };
    assert_eq!(first, format!(r#"{{"SH_LOAD_RSP":{{"keys":0,"name":"many","sessions":{N},"st":141}}}}"#));
    // The loader's next request sees every session.
    assert_eq!(total(&serde_json::from_str(&host.text(&mut loader)).expect("JSON")), N);
    // The bystander was served while the sessions were being created.
    assert!(seen.iter().any(|&n| 0 < n && n < N), "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
}
