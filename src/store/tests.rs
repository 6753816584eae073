//! Store tests: KV and session commands through `execute`, with exact
//! replies, and active expiry with hand-stepped time.

use super::*;
use crate::protocol::{Protocol, decode};

fn run(store: &mut Store, request: &str) -> String {
    run_at(store, request, Instant::now())
}

fn run_at(store: &mut Store, request: &str, now: Instant) -> String {
    let mut out = Vec::new();
    let mut reply = Reply::new(&mut out, Protocol::V07);
    match decode(request) {
        Ok(cmd) => {
            if let Executed::Later(id) = store.execute(cmd, now, &mut reply) {
                panic!("{request}: unexpected job {id}");
            }
        }
        Err(rejection) => reply.rejection(&rejection),
    }
    String::from_utf8(out).unwrap()
}

/// Creates a session at `now` with the `SH_NEW` body `body`.
fn new_session(store: &mut Store, body: &str, now: Instant) -> u64 {
    let reply = run_at(store, &format!(r#"{{"SH_NEW":{body}}}"#), now);
    let json: serde_json::Value = serde_json::from_str(&reply).unwrap();
    json["SH_NEW_RSP"]["tkn"].as_u64().unwrap()
}

fn store() -> Store {
    Store::new(ServerInfo { persist_enabled: false, persist_path: "d".into() })
}

#[test]
fn a_session_of_kv_commands() {
    let mut store = Store::new(ServerInfo { persist_enabled: true, persist_path: "d".into() });
    let rows = [
        (r#"{"KV_SET":{"keys":{"a":1,"b":{"x":[true,null]},"c":"s"}}}"#, r#"{"KV_SET_RSP":{"st":1}}"#),
        (
            r#"{"KV_GET":{"keys":["b","zz","a","b"]}}"#,
            r#"{"KV_GET_RSP":{"keys":{"b":{"x":[true,null]},"a":1},"st":1}}"#,
        ),
        (r#"{"KV_ADD":{"keys":{"a":2,"d":4}}}"#, r#"{"KV_ADD_RSP":{"st":1}}"#),
        (r#"{"KV_GET":{"keys":["a","d"]}}"#, r#"{"KV_GET_RSP":{"keys":{"a":1,"d":4},"st":1}}"#),
        (r#"{"KV_CONTAINS":{"keys":["d","x","a","d",7]}}"#, r#"{"KV_CONTAINS_RSP":{"contains":["d","a","d"],"st":1}}"#),
        (r#"{"KV_COUNT":{}}"#, r#"{"KV_COUNT_RSP":{"cnt":4,"st":1}}"#),
        (r#"{"KV_RMV":{"keys":["b","nope"]}}"#, r#"{"KV_RMV_RSP":{"st":1}}"#),
        (r#"{"KV_KEYS":{}}"#, r#"{"KV_KEYS_RSP":{"keys":["a","d","c"],"st":1}}"#),
        (r#"{"KV_CLEAR_SET":{"keys":{"q\"":1}}}"#, r#"{"KV_CLEAR_SET_RSP":{"cnt":3,"st":1}}"#),
        (r#"{"KV_KEYS":{}}"#, r#"{"KV_KEYS_RSP":{"keys":["q\""],"st":1}}"#),
        (r#"{"KV_CLEAR":{}}"#, r#"{"KV_CLEAR_RSP":{"cnt":1,"st":1}}"#),
        (r#"{"KV_KEYS":{}}"#, r#"{"KV_KEYS_RSP":{"keys":[],"st":1}}"#),
        (r#"{"KV_GET":{"keys":[]}}"#, r#"{"KV_GET_RSP":{"keys":{},"st":1}}"#),
    ];
    for (request, expected) in rows {
        assert_eq!(run(&mut store, request), expected, "{request}");
    }
}

#[test]
fn first_occurrences_dedupes_small_and_large_lists() {
    let small: Vec<Cow<'_, str>> = ["a", "b", "a", "c", "b"].map(Cow::Borrowed).to_vec();
    assert_eq!(first_occurrences(&small).collect::<Vec<_>>(), ["a", "b", "c"]);
    let large: Vec<Cow<'_, str>> = (0..100).map(|i| Cow::Owned(format!("k{}", i % 30))).collect();
    let got: Vec<&str> = first_occurrences(&large).collect();
    assert_eq!(got.len(), 30);
    assert_eq!(got[29], "k29");
}

#[test]
fn session_replies_with_hand_stepped_time() {
    let mut store = store();
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let body = r#"{"expiry":{"duration":3,"deleteSession":false,"extendOnGet":true}}"#;
    let token = new_session(&mut store, body, at(0));
    let rows = [
        (0, r#"{"SH_SET":{"keys":{"a":1},"tkn":$T}}"#, r#"{"SH_SET_RSP":{"st":1}}"#),
        (
            1_000,
            r#"{"SH_INFO":{"tkn":$T}}"#,
            r#"{"SH_INFO_RSP":{"expires":true,"expiry":{"deleteSession":false,"duration":3,"extendOnGet":true,"extendOnSetAdd":false,"remaining":2},"keyCnt":1,"shared":false,"st":1,"tkn":$T}}"#,
        ),
        (2_000, r#"{"SH_GET":{"keys":["a"],"tkn":$T}}"#, r#"{"SH_GET_RSP":{"keys":{"a":1},"st":1}}"#),
        // Extended to 5,000 by the get.
        (4_999, r#"{"SH_COUNT":{"tkn":$T}}"#, r#"{"SH_COUNT_RSP":{"cnt":1,"st":1}}"#),
        (5_000, r#"{"SH_COUNT":{"tkn":$T}}"#, r#"{"SH_COUNT_RSP":{"cnt":0,"st":1}}"#),
        (
            5_000,
            r#"{"SH_INFO":{"tkn":$T}}"#,
            r#"{"SH_INFO_RSP":{"expires":true,"expiry":{"deleteSession":false,"duration":3,"extendOnGet":true,"extendOnSetAdd":false,"remaining":3},"keyCnt":0,"shared":false,"st":1,"tkn":$T}}"#,
        ),
        (5_001, r#"{"SH_EXISTS":{"tkns":[$T]}}"#, r#"{"SH_EXISTS_RSP":{"exist":[$T],"st":1}}"#),
        (5_001, r#"{"SH_INFO_ALL":{}}"#, r#"{"SH_INFO_ALL_RSP":{"st":1,"totalKeys":0,"totalSessions":1}}"#),
        (5_002, r#"{"SH_END":{"tkn":$T}}"#, r#"{"SH_END_RSP":{"st":1,"tkn":$T}}"#),
        (5_003, r#"{"SH_INFO":{"tkn":$T}}"#, r#"{"SH_INFO_RSP":{"keyCnt":null,"shared":null,"st":100,"tkn":$T}}"#),
    ];
    for (ms, request, expected) in rows {
        let request = request.replace("$T", &token.to_string());
        let expected = expected.replace("$T", &token.to_string());
        assert_eq!(run_at(&mut store, &request, at(ms)), expected, "at {ms} ms: {request}");
    }
    assert_eq!(store.next_deadline(), None, "ending it freed its timer");
}

#[test]
fn no_sessions_means_no_expiry_deadline() {
    let mut store = store();
    assert_eq!(store.next_deadline(), None);
    assert_eq!(store.expire(Instant::now()), 0);
    new_session(&mut store, "{}", Instant::now());
    assert_eq!(store.next_deadline(), None, "a session without expiry needs no wake-up");
}

#[test]
fn the_next_deadline_is_an_instant_at_or_before_the_first_expiry() {
    let mut store = store();
    let t0 = Instant::now();
    new_session(&mut store, r#"{"expiry":{"duration":2}}"#, t0);
    new_session(&mut store, r#"{"expiry":{"duration":1}}"#, t0 + Duration::from_millis(300));
    let first = t0 + Duration::from_millis(1_300);
    let mut now = t0;
    let mut wakeups = 0;
    loop {
        let next = store.next_deadline().unwrap();
        assert!(next <= first, "{:?} after the first expiry", next - first);
        now = next.max(now);
        wakeups += 1;
        if store.expire(now) == 1 {
            break;
        }
    }
    assert_eq!(now, first);
    assert!(wakeups <= 3, "{wakeups}");
}

#[test]
fn expiry_works_through_a_backlog_within_the_per_turn_budget() {
    let mut store = store();
    let t0 = Instant::now();
    let sessions = 2 * MAX_EXPIRE_PER_TICK + 100;
    for _ in 0..sessions {
        new_session(&mut store, r#"{"expiry":{"duration":1,"deleteSession":true}}"#, t0);
    }
    let now = t0 + Duration::from_secs(1);
    let mut turns = Vec::new();
    while !store.sessions().is_empty() {
        turns.push(store.expire(now));
        if !store.sessions().is_empty() {
            assert!(store.next_deadline().is_some_and(|next| next <= now), "a backlog must wake the loop at once");
        }
        assert!(turns.len() < 100);
    }
    assert!(turns.iter().all(|&n| n <= MAX_EXPIRE_PER_TICK), "{turns:?}");
    assert_eq!(turns.iter().sum::<usize>(), sessions);
    assert!(turns.len() >= 3, "{turns:?}");
    assert_eq!(store.next_deadline(), None);
}

#[test]
fn commands_past_a_key_maps_capacity_are_refused_and_change_nothing() {
    let _limit = table::lower_max_len(3);
    let mut store = store();
    let full = |cmd: &str| format!(r#"{{"{cmd}_RSP":{{"m":"a key map holds at most 3 keys","st":204,"tkn":null}}}}"#);
    let rows = [
        (r#"{"KV_SET":{"keys":{"a":1,"b":2}}}"#, r#"{"KV_SET_RSP":{"st":1}}"#.to_string()),
        // A new key past the limit: none of the request is stored.
        (r#"{"KV_SET":{"keys":{"a":10,"c":3,"d":4}}}"#, full("KV_SET")),
        (r#"{"KV_ADD":{"keys":{"c":3,"d":4}}}"#, full("KV_ADD")),
        (r#"{"KV_CLEAR_SET":{"keys":{"w":1,"x":2,"y":3,"z":4}}}"#, full("KV_CLEAR_SET")),
        (r#"{"KV_GET":{"keys":["a","b","c","d"]}}"#, r#"{"KV_GET_RSP":{"keys":{"a":1,"b":2},"st":1}}"#.to_string()),
        // Up to the limit, a key repeated counted once, and overwrites of
        // keys held, at the limit: stored.
        (r#"{"KV_SET":{"keys":{"c":3,"c":30}}}"#, r#"{"KV_SET_RSP":{"st":1}}"#.to_string()),
        (r#"{"KV_SET":{"keys":{"a":10,"b":20,"c":300}}}"#, r#"{"KV_SET_RSP":{"st":1}}"#.to_string()),
        (r#"{"KV_ADD":{"keys":{"a":0}}}"#, r#"{"KV_ADD_RSP":{"st":1}}"#.to_string()),
        (r#"{"KV_SET":{"keys":{"d":4}}}"#, full("KV_SET")),
        (r#"{"KV_CLEAR_SET":{"keys":{"x":1,"y":2,"z":3}}}"#, r#"{"KV_CLEAR_SET_RSP":{"cnt":3,"st":1}}"#.to_string()),
        (r#"{"KV_KEYS":{}}"#, r#"{"KV_KEYS_RSP":{"keys":["x","y","z"],"st":1}}"#.to_string()),
        // Room made by a removal is room again.
        (r#"{"KV_RMV":{"keys":["y"]}}"#, r#"{"KV_RMV_RSP":{"st":1}}"#.to_string()),
        (r#"{"KV_ADD":{"keys":{"n":1}}}"#, r#"{"KV_ADD_RSP":{"st":1}}"#.to_string()),
        (r#"{"KV_COUNT":{}}"#, r#"{"KV_COUNT_RSP":{"cnt":3,"st":1}}"#.to_string()),
    ];
    for (request, expected) in rows {
        assert_eq!(run(&mut store, request), expected, "{request}");
    }
    // A session's keys have the same limit.
    let now = Instant::now();
    let token = new_session(&mut store, "{}", now);
    let set = |keys: &str| format!(r#"{{"SH_SET":{{"keys":{{{keys}}},"tkn":{token}}}}}"#);
    assert_eq!(run(&mut store, &set(r#""a":1,"b":2,"c":3"#)), r#"{"SH_SET_RSP":{"st":1}}"#);
    assert_eq!(run(&mut store, &set(r#""a":9,"d":4"#)), full("SH_SET"));
    assert_eq!(
        run(&mut store, &format!(r#"{{"SH_GET":{{"keys":["a","d"],"tkn":{token}}}}}"#)),
        r#"{"SH_GET_RSP":{"keys":{"a":1},"st":1}}"#
    );
}

#[test]
fn sh_new_past_the_session_tables_capacity_is_refused() {
    let _limit = table::lower_max_len(2);
    let mut store = store();
    let now = Instant::now();
    let first = new_session(&mut store, "{}", now);
    new_session(&mut store, "{}", now);
    let full = r#"{"SH_NEW_RSP":{"m":"the session table holds at most 2 sessions","st":204,"tkn":null}}"#;
    assert_eq!(run_at(&mut store, r#"{"SH_NEW":{}}"#, now), full);
    assert_eq!(store.session_count(), 2);
    assert!(run_at(&mut store, &format!(r#"{{"SH_END":{{"tkn":{first}}}}}"#), now).contains(r#""st":1"#));
    new_session(&mut store, "{}", now);
    assert_eq!(store.session_count(), 2);
}

#[test]
fn the_capacity_is_that_of_32_bit_positions_unless_a_test_lowers_it() {
    assert_eq!(MAX_KEYS, u32::MAX as usize);
    assert_eq!(MAX_SESSIONS, u32::MAX as usize);
    assert_eq!(Full::Keys.to_string(), "a key map holds at most 4294967295 keys");
    assert_eq!(Full::Sessions.to_string(), "the session table holds at most 4294967295 sessions");
    {
        let _limit = table::lower_max_len(5);
        assert_eq!(Full::Keys.to_string(), "a key map holds at most 5 keys");
        // Never above the real one.
        let _higher = table::lower_max_len(usize::MAX);
        assert_eq!(KeyMap::new().room(), MAX_KEYS);
    }
    assert_eq!(KeyMap::new().room(), MAX_KEYS);
    assert_eq!(Sessions::new().room(), MAX_SESSIONS);
}
