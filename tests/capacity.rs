//! The capacity of a key map and of the session table (4,294,967,295 each)
//! over a real socket: a command or load that would pass it gets 204,
//! naming the limit, and changes nothing; one that fits is stored and
//! acknowledged. The limit is lowered for the test's thread
//! (`ndb::internals::store::lower_max_len`), where the host runs the
//! server's loop; the save thread reads and writes saves as always.

mod common;

use common::saves::TempDir;
use common::{Peer, VirtualHost};
use ndb::internals::store::lower_max_len;

const LIMIT: usize = 8;
const KEYS_FULL: &str = "a key map holds at most 8 keys";
const SESSIONS_FULL: &str = "the session table holds at most 8 sessions";

/// `{"<cmd>_RSP":{"m":"<m>","st":204,"tkn":null}}`.
fn refused(cmd: &str, m: &str) -> String {
    format!(r#"{{"{cmd}_RSP":{{"m":"{m}","st":204,"tkn":null}}}}"#)
}

/// `KV_SET` of keys `{prefix}{i}` for `range`, each to `i`.
fn set(prefix: &str, range: std::ops::Range<usize>) -> String {
    let members: Vec<String> = range.map(|i| format!(r#""{prefix}{i}":{i}"#)).collect();
    format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, members.join(","))
}

fn count(host: &mut VirtualHost, peer: &mut Peer) -> u64 {
    host.call_json(peer, r#"{"KV_COUNT":{}}"#)["KV_COUNT_RSP"]["cnt"].as_u64().expect("a count")
}

fn sessions(host: &mut VirtualHost, peer: &mut Peer) -> u64 {
    host.call_json(peer, r#"{"SH_INFO_ALL":{}}"#)["SH_INFO_ALL_RSP"]["totalSessions"].as_u64().expect("a count")
}

#[test]
fn writes_past_a_key_maps_capacity_are_refused_and_change_nothing() {
    let _limit = lower_max_len(LIMIT);
    let mut host = VirtualHost::start(common::config().persist(false, ""));
    let mut peer = host.open();
    assert_eq!(host.call(&mut peer, &set("k", 0..6)), r#"{"KV_SET_RSP":{"st":1}}"#);
    // Three new keys where two fit: none of the request is stored.
    assert_eq!(host.call(&mut peer, &set("k", 4..9)), refused("KV_SET", KEYS_FULL));
    assert_eq!(host.call(&mut peer, r#"{"KV_ADD":{"keys":{"x":1,"y":2,"z":3}}}"#), refused("KV_ADD", KEYS_FULL));
    assert_eq!(
        host.call(&mut peer, r#"{"KV_GET":{"keys":["k4","k6","x"]}}"#),
        r#"{"KV_GET_RSP":{"keys":{"k4":4},"st":1}}"#
    );
    assert_eq!(count(&mut host, &mut peer), 6);
    // What fits is stored, up to the last key; overwrites at the limit too.
    assert_eq!(host.call(&mut peer, &set("k", 4..8)), r#"{"KV_SET_RSP":{"st":1}}"#);
    assert_eq!(host.call(&mut peer, &set("k", 0..8)), r#"{"KV_SET_RSP":{"st":1}}"#);
    assert_eq!(host.call(&mut peer, &set("k", 8..9)), refused("KV_SET", KEYS_FULL));
    assert_eq!(count(&mut host, &mut peer), LIMIT as u64);

    // A session's keys, and the session table.
    let token = host.call_json(&mut peer, r#"{"SH_NEW":{}}"#)["SH_NEW_RSP"]["tkn"].as_u64().expect("a token");
    let members: Vec<String> = (0..9).map(|i| format!(r#""s{i}":{i}"#)).collect();
    let request = format!(r#"{{"SH_SET":{{"keys":{{{}}},"tkn":{token}}}}}"#, members.join(","));
    assert_eq!(host.call(&mut peer, &request), refused("SH_SET", KEYS_FULL));
    assert_eq!(
        host.call(&mut peer, &format!(r#"{{"SH_COUNT":{{"tkn":{token}}}}}"#)),
        r#"{"SH_COUNT_RSP":{"cnt":0,"st":1}}"#
    );
    for _ in 1..LIMIT {
        assert!(host.call(&mut peer, r#"{"SH_NEW":{}}"#).contains(r#""st":1,"#));
    }
    assert_eq!(host.call(&mut peer, r#"{"SH_NEW":{}}"#), refused("SH_NEW", SESSIONS_FULL));
    assert_eq!(sessions(&mut host, &mut peer), LIMIT as u64);
}

#[test]
fn loads_past_a_capacity_are_refused_and_change_nothing() {
    let _limit = lower_max_len(LIMIT);
    let dir = TempDir::new("capacity");
    let mut host = VirtualHost::start(common::config().persist(true, dir.path()));
    let mut peer = host.open();

    // Six keys saved; four others in the store: ten would not fit.
    assert_eq!(host.call(&mut peer, &set("saved", 0..6)), r#"{"KV_SET_RSP":{"st":1}}"#);
    let saved = host.call(&mut peer, r#"{"KV_SAVE":{"name":"keys"}}"#);
    assert!(saved.ends_with(r#""name":"keys","st":121}}"#), "{saved}");
    host.call(&mut peer, r#"{"KV_CLEAR":{}}"#);
    assert_eq!(host.call(&mut peer, &set("mine", 0..4)), r#"{"KV_SET_RSP":{"st":1}}"#);
    assert_eq!(host.call(&mut peer, r#"{"KV_LOAD":{"name":"keys"}}"#), refused("KV_LOAD", KEYS_FULL));
    assert_eq!(
        host.call(&mut peer, r#"{"KV_KEYS":{}}"#),
        r#"{"KV_KEYS_RSP":{"keys":["mine0","mine1","mine2","mine3"],"st":1}}"#
    );
    // With two fewer it fits, and all of it is there.
    host.call(&mut peer, r#"{"KV_RMV":{"keys":["mine0","mine1"]}}"#);
    let loaded = host.call(&mut peer, r#"{"KV_LOAD":{"name":"keys"}}"#);
    assert!(loaded.ends_with(r#""keys":6,"name":"keys","sessions":0,"st":141}}"#), "{loaded}");
    assert_eq!(count(&mut host, &mut peer), LIMIT as u64);

    // Five sessions saved; four live: nine would not fit.
    for _ in 0..5 {
        assert!(host.call(&mut peer, r#"{"SH_NEW":{}}"#).contains(r#""st":1,"#));
    }
    let saved = host.call(&mut peer, r#"{"SH_SAVE":{"name":"sessions"}}"#);
    assert!(saved.ends_with(r#""name":"sessions","st":121}}"#), "{saved}");
    assert_eq!(host.call(&mut peer, r#"{"SH_END_ALL":{}}"#), r#"{"SH_END_ALL_RSP":{"cnt":5,"st":1}}"#);
    let live: Vec<u64> = (0..4)
        .map(|_| host.call_json(&mut peer, r#"{"SH_NEW":{}}"#)["SH_NEW_RSP"]["tkn"].as_u64().expect("a token"))
        .collect();
    assert_eq!(host.call(&mut peer, r#"{"SH_LOAD":{"name":"sessions"}}"#), refused("SH_LOAD", SESSIONS_FULL));
    assert_eq!(sessions(&mut host, &mut peer), 4);
    // One ended makes room for the five.
    let ended = host.call(&mut peer, &format!(r#"{{"SH_END":{{"tkn":{}}}}}"#, live[0]));
    assert!(ended.contains(r#""st":1,"#), "{ended}");
    let loaded = host.call(&mut peer, r#"{"SH_LOAD":{"name":"sessions"}}"#);
    assert_eq!(loaded, r#"{"SH_LOAD_RSP":{"keys":0,"name":"sessions","sessions":5,"st":141}}"#);
    assert_eq!(sessions(&mut host, &mut peer), LIMIT as u64);
    assert_eq!(host.call(&mut peer, r#"{"SH_NEW":{}}"#), refused("SH_NEW", SESSIONS_FULL));
}
