//! Save and load commands in the store, without files: validation order and
//! reply shapes, the snapshots jobs carry, and how finished jobs are
//! answered and applied.

use std::time::{Duration, Instant};

use super::super::*;
use crate::error::{PersistError, PersistOp};
use crate::protocol::{Expiry, Protocol, decode};

fn store(persist_enabled: bool) -> Store {
    Store::new(ServerInfo { persist_enabled, persist_path: "d".into() })
}

/// The reply written at once, or the job (taken from the queue at once).
fn exec(store: &mut Store, request: &str) -> Result<String, Job> {
    let mut out = Vec::new();
    let mut reply = Reply::new(&mut out, Protocol::V07);
    match decode(request) {
        Ok(cmd) => {
            if let Executed::Later(id) = store.execute(cmd, Instant::now(), &mut reply) {
                let (job_id, job) = store.next_job().expect("a job ready at once");
                assert_eq!(job_id, id);
                return Err(job);
            }
        }
        Err(rejection) => reply.rejection(&rejection),
    }
    Ok(String::from_utf8(out).unwrap())
}

/// Executes a request that must become a job, and returns its id.
fn later(store: &mut Store, request: &str) -> JobId {
    let mut out = Vec::new();
    let command = decode(request).unwrap();
    match store.execute(command, Instant::now(), &mut Reply::new(&mut out, Protocol::V07)) {
        Executed::Later(id) => id,
        Executed::Replied => panic!("{request}: {}", String::from_utf8_lossy(&out)),
    }
}

#[test]
fn big_kv_snapshots_are_taken_over_several_steps_and_jobs_keep_their_order() {
    let mut store = store(true);
    let n = SNAPSHOT_KEYS_PER_STEP * 2 + 10;
    for i in 0..n {
        store.kv.set(&format!("k{i}"), &i.to_string());
    }
    let expected: Vec<Vec<u8>> = store.kv.snapshot().iter().map(|e| e.member_json().to_vec()).collect();
    let save = later(&mut store, r#"{"KV_SAVE":{"name":"big"}}"#);
    let load = later(&mut store, r#"{"KV_LOAD":{"name":"big"}}"#);
    assert!(store.has_queued_jobs());
    assert!(store.next_job().is_none(), "the snapshot takes more than one step");
    exec(&mut store, r#"{"KV_RMV":{"keys":["k0","k5"]}}"#).unwrap();
    exec(&mut store, &format!(r#"{{"KV_SET":{{"keys":{{"k{}":"changed","new":1}}}}}}"#, n - 1)).unwrap();
    assert!(store.next_job().is_none(), "the load waits behind the save");
    let (id, job) = store.next_job().expect("the snapshot is complete after three steps");
    assert_eq!(id, save);
    let Work::Save(Snapshot::Kv(entries)) = job.work else { panic!() };
    assert_eq!(entries.iter().map(|e| e.member_json().to_vec()).collect::<Vec<_>>(), expected);
    assert_eq!(store.next_job().map(|(id, _)| id), Some(load));
    assert!(!store.has_queued_jobs() && store.next_job().is_none());
    assert!(!store.kv.is_snapshotting());
}

/// Takes in a finished job as a host without turns does (a load merging in
/// steps is run to its end); returns the reply.
fn finish(store: &mut Store, done: Done, protocol: Protocol) -> String {
    let mut out = Vec::new();
    let mut reply = Reply::new(&mut out, protocol);
    let now = Instant::now();
    if store.finish(1, done, now, &mut reply) == Finished::Merging {
        while store.has_queued_jobs() {
            store.work(now);
            store.take_applied(&mut reply);
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn disabled_saves_answer_14_before_any_parameter_check() {
    let mut store = store(false);
    for (request, expected) in [
        (r#"{"KV_SAVE":{}}"#, r#"{"KV_SAVE_RSP":{"m":"","st":14}}"#),
        (r#"{"KV_SAVE":{"name":""}}"#, r#"{"KV_SAVE_RSP":{"m":"","st":14}}"#),
        (r#"{"KV_SAVE":{"name":"ok"}}"#, r#"{"KV_SAVE_RSP":{"m":"","st":14}}"#),
        (r#"{"SH_SAVE":{"name":1,"tkns":[]}}"#, r#"{"SH_SAVE_RSP":{"m":"","st":14}}"#),
    ] {
        assert_eq!(exec(&mut store, request).unwrap(), expected, "{request}");
    }
    assert!(exec(&mut store, r#"{"KV_LOAD":{"name":"x"}}"#).is_err(), "loads still work");
    assert!(exec(&mut store, r#"{"SH_LOAD":{"name":"x"}}"#).is_err(), "loads still work");
}

#[test]
fn parameter_errors_in_order() {
    let mut store = store(true);
    let rows = [
        (r#"{"KV_SAVE":{}}"#, r#"{"KV_SAVE_RSP":{"m":"Missing parameter","st":26,"tkn":null}}"#),
        (r#"{"KV_SAVE":{"name":7}}"#, r#"{"KV_SAVE_RSP":{"m":"Param type incorrect","st":41,"tkn":null}}"#),
        (r#"{"KV_SAVE":{"name":""}}"#, r#"{"KV_SAVE_RSP":{"m":"name","st":42,"tkn":null}}"#),
        (r#"{"KV_SAVE":{"name":"a/b"}}"#, r#"{"KV_SAVE_RSP":{"m":"name","st":42,"tkn":null}}"#),
        (r#"{"KV_SAVE":{"name":"a\\b"}}"#, r#"{"KV_SAVE_RSP":{"m":"name","st":42,"tkn":null}}"#),
        (r#"{"KV_SAVE":{"name":".."}}"#, r#"{"KV_SAVE_RSP":{"m":"name","st":42,"tkn":null}}"#),
        (r#"{"KV_SAVE":{"name":"a\u0000"}}"#, r#"{"KV_SAVE_RSP":{"m":"name","st":42,"tkn":null}}"#),
        (r#"{"SH_SAVE":{"tkns":[]}}"#, r#"{"SH_SAVE_RSP":{"m":"Missing parameter","st":26,"tkn":null}}"#),
        (r#"{"SH_SAVE":{"name":"n","tkns":[]}}"#, r#"{"SH_SAVE_RSP":{"m":"'tkns' empty","st":42,"tkn":null}}"#),
        (
            r#"{"SH_SAVE":{"name":"n","tkns":[1,"2"]}}"#,
            r#"{"SH_SAVE_RSP":{"m":"'tkns' contains invalid token","st":41,"tkn":null}}"#,
        ),
        (
            r#"{"SH_SAVE":{"name":"n","tkns":[-1]}}"#,
            r#"{"SH_SAVE_RSP":{"m":"'tkns' contains invalid token","st":41,"tkn":null}}"#,
        ),
        (r#"{"SH_SAVE":{"name":"n","tkns":5}}"#, r#"{"SH_SAVE_RSP":{"m":"Param type incorrect","st":41,"tkn":null}}"#),
        (r#"{"SH_SAVE":{"name":"","tkns":[]}}"#, r#"{"SH_SAVE_RSP":{"m":"'tkns' empty","st":42,"tkn":null}}"#),
        (r#"{"SH_SAVE":{"name":"","tkns":[1]}}"#, r#"{"SH_SAVE_RSP":{"m":"name","st":42,"tkn":null}}"#),
        (r#"{"KV_LOAD":{}}"#, r#"{"KV_LOAD_RSP":{"m":"Missing parameter","st":26,"tkn":null}}"#),
        (r#"{"KV_LOAD":{"name":null}}"#, r#"{"KV_LOAD_RSP":{"m":"Param type incorrect","st":41,"tkn":null}}"#),
        (r#"{"SH_LOAD":{"name":""}}"#, r#"{"SH_LOAD_RSP":{"m":"name","st":42,"tkn":null}}"#),
        (r#"{"SH_LOAD":{"name":"../up"}}"#, r#"{"SH_LOAD_RSP":{"m":"name","st":42,"tkn":null}}"#),
        (r#"{"SH_LOAD":[]}"#, r#"{"SH_LOAD_RSP":{"m":"","st":13,"tkn":null}}"#),
    ];
    for (request, expected) in rows {
        assert_eq!(exec(&mut store, request).unwrap(), expected, "{request}");
    }
}

#[test]
fn saves_carry_a_snapshot_taken_at_the_request() {
    let mut store = store(true);
    exec(&mut store, r#"{"KV_SET":{"keys":{"a":1,"b\"":[2]}}}"#).unwrap();
    let job = exec(&mut store, r#"{"KV_SAVE":{"name":"n\u00e9"}}"#).unwrap_err();
    exec(&mut store, r#"{"KV_SET":{"keys":{"a":3}}}"#).unwrap();
    assert_eq!((job.verb, job.name.as_str()), (Verb::KvSave, "né"));
    let Work::Save(Snapshot::Kv(entries)) = job.work else { panic!("{:?}", job.work) };
    let members: Vec<&[u8]> = entries.iter().map(Entry::member_json).collect();
    assert_eq!(members, [&b"\"a\":1"[..], b"\"b\\\"\":[2]"]);

    let first = new_session(&mut store, r#"{"expiry":{"duration":60,"extendOnGet":true}}"#);
    let second = new_session(&mut store, "{}");
    exec(&mut store, &format!(r#"{{"SH_SET":{{"keys":{{"k":true}},"tkn":{second}}}}}"#)).unwrap();
    let job = exec(&mut store, &format!(r#"{{"SH_SAVE":{{"name":"s","tkns":[{second},1,{second}]}}}}"#)).unwrap_err();
    let Work::Save(Snapshot::Sessions(records)) = job.work else { panic!() };
    assert_eq!(
        records,
        [SessionRecord { token: second, expiry: Expiry::default(), keys: vec![Entry::new("k", "true")] }]
    );
    let job = exec(&mut store, r#"{"SH_SAVE":{"name":"s"}}"#).unwrap_err();
    let Work::Save(Snapshot::Sessions(mut records)) = job.work else { panic!() };
    records.sort_by_key(|r| r.token != first);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].expiry, Expiry { duration: 60, extend_on_get: true, ..Expiry::default() });
    let job = exec(&mut store, r#"{"SH_LOAD":{"name":"s"}}"#).unwrap_err();
    assert!(matches!(job.work, Work::Load(SaveKind::Sessions, _)));
}

fn new_session(store: &mut Store, body: &str) -> u64 {
    let reply = exec(store, &format!(r#"{{"SH_NEW":{body}}}"#)).unwrap();
    serde_json::from_str::<serde_json::Value>(&reply).unwrap()["SH_NEW_RSP"]["tkn"].as_u64().unwrap()
}

fn done(verb: Verb, outcome: Outcome) -> Done {
    Done { verb, name: "n\"".into(), outcome, unix_ms: 1_700_000_000_000 }
}

#[test]
fn save_replies_and_last_save() {
    let mut store = store(true);
    let ok = || Outcome::Saved(Ok(Duration::from_millis(42)));
    assert_eq!(
        finish(&mut store, done(Verb::KvSave, ok()), Protocol::V07),
        r#"{"KV_SAVE_RSP":{"duration":42,"name":"n\"","st":121}}"#
    );
    assert_eq!(
        finish(&mut store, done(Verb::ShSave, ok()), Protocol::V09),
        r#"{"SH_SAVE_RSP":{"duration":42,"name":"n\"","st":120}}"#
    );
    let denied = std::io::Error::from_raw_os_error(libc::EACCES);
    let dir = Outcome::Saved(Err(SaveFailure::Directory(PersistError::io(PersistOp::CreateDir, "/s/n\"", denied))));
    assert_eq!(
        finish(&mut store, done(Verb::KvSave, dir), Protocol::V07),
        r#"{"KV_SAVE_RSP":{"name":"n\"","st":122}}"#
    );
    let full =
        PersistError::io(PersistOp::Write, "/s/n\"/1.partial/data/0", std::io::Error::from_raw_os_error(libc::ENOSPC));
    let data = Outcome::Saved(Err(SaveFailure::Data { error: full, duration: Duration::from_millis(7) }));
    assert_eq!(
        finish(&mut store, done(Verb::ShSave, data), Protocol::V09),
        r#"{"SH_SAVE_RSP":{"duration":7,"name":"n\"","st":122}}"#
    );
    assert_eq!(
        store.info.last_save,
        Some(LastSave { name: "n\"".into(), status: Status::SaveError, unix_ms: 1_700_000_000_000 })
    );
}

/// What a KV load reads: the pairs in a map of their own.
fn kv_load(pairs: &[(&str, &str)]) -> Loaded {
    let mut map = KeyMap::new();
    for (key, value) in pairs {
        map.set(key, value);
    }
    Loaded::Kv { map, read: pairs.len(), frames: Vec::new() }
}

#[test]
fn kv_loads_merge_with_set_semantics() {
    let mut store = store(true);
    exec(&mut store, r#"{"KV_SET":{"keys":{"a":1,"keep":2}}}"#).unwrap();
    let loaded = Outcome::Loaded(Ok((kv_load(&[("new", "3"), ("a", "\"loaded\"")]), Duration::from_millis(5))));
    assert_eq!(
        finish(&mut store, done(Verb::KvLoad, loaded), Protocol::V07),
        r#"{"KV_LOAD_RSP":{"duration":5,"keys":2,"name":"n\"","sessions":0,"st":141}}"#
    );
    assert_eq!(
        exec(&mut store, r#"{"KV_GET":{"keys":["a","keep","new"]}}"#).unwrap(),
        r#"{"KV_GET_RSP":{"keys":{"a":"loaded","keep":2,"new":3},"st":1}}"#
    );
    assert_eq!(exec(&mut store, r#"{"KV_KEYS":{}}"#).unwrap(), r#"{"KV_KEYS_RSP":{"keys":["a","keep","new"],"st":1}}"#);
    let empty = Outcome::Loaded(Ok((kv_load(&[]), Duration::ZERO)));
    assert_eq!(
        finish(&mut store, done(Verb::KvLoad, empty), Protocol::V07),
        r#"{"KV_LOAD_RSP":{"duration":0,"keys":0,"name":"n\"","sessions":0,"st":141}}"#
    );
}

#[test]
fn a_kv_load_into_an_empty_store_takes_the_loaded_map_whole() {
    let mut store = store(true);
    let loaded = Outcome::Loaded(Ok((kv_load(&[("b", "1"), ("a", "2"), ("b", "3")]), Duration::ZERO)));
    let reply = finish(&mut store, done(Verb::KvLoad, loaded), Protocol::V07);
    assert!(reply.contains(r#""keys":3,"#), "keys read, a repeated key counted each time: {reply}");
    assert_eq!(exec(&mut store, r#"{"KV_KEYS":{}}"#).unwrap(), r#"{"KV_KEYS_RSP":{"keys":["b","a"],"st":1}}"#);
    assert_eq!(
        exec(&mut store, r#"{"KV_GET":{"keys":["a","b"]}}"#).unwrap(),
        r#"{"KV_GET_RSP":{"keys":{"a":2,"b":3},"st":1}}"#
    );
    // While a snapshot is taken the map is not replaced but merged into, so
    // the snapshot still sees the map it began with.
    exec(&mut store, r#"{"KV_CLEAR":{}}"#).unwrap();
    store.kv.begin_snapshot();
    let loaded = Outcome::Loaded(Ok((kv_load(&[("z", "1")]), Duration::ZERO)));
    finish(&mut store, done(Verb::KvLoad, loaded), Protocol::V07);
    assert_eq!(store.kv.snapshot_step(usize::MAX).map(|s| s.len()), Some(0));
    assert_eq!(store.kv.len(), 1);
}

#[test]
fn session_loads_skip_live_tokens_and_do_not_count_them() {
    let mut store = store(true);
    let live = new_session(&mut store, "{}");
    exec(&mut store, &format!(r#"{{"SH_SET":{{"keys":{{"mine":1}},"tkn":{live}}}}}"#)).unwrap();
    let expiry = Expiry { duration: 30, delete_session: true, ..Expiry::default() };
    let records = vec![
        SessionRecord { token: live, expiry: Expiry::default(), keys: vec![Entry::new("theirs", "2")] },
        SessionRecord { token: 99, expiry, keys: vec![Entry::new("x", "1"), Entry::new("y", "2")] },
        SessionRecord { token: 0, expiry: Expiry::default(), keys: vec![Entry::new("zero", "0")] },
    ];
    let loaded = Outcome::Loaded(Ok((Loaded::Sessions(records), Duration::from_millis(5))));
    assert_eq!(
        finish(&mut store, done(Verb::ShLoad, loaded), Protocol::V07),
        r#"{"SH_LOAD_RSP":{"keys":2,"name":"n\"","sessions":1,"st":141}}"#
    );
    assert_eq!(
        exec(&mut store, &format!(r#"{{"SH_KEYS":{{"tkn":{live}}}}}"#)).unwrap(),
        r#"{"SH_KEYS_RSP":{"keys":["mine"],"st":1}}"#
    );
    let info = exec(&mut store, r#"{"SH_INFO":{"tkn":99}}"#).unwrap();
    assert!(info.contains(r#""deleteSession":true,"duration":30,"#) && info.contains(r#""keyCnt":2"#), "{info}");
    assert_eq!(store.sessions.total_keys(), 3);
}

#[test]
fn failed_loads_apply_nothing() {
    let mut store = store(true);
    let none = || PersistError::NoSave { root: "/s".into(), name: "n\"".into(), kind: None };
    let corrupt = || PersistError::Corrupt { path: "/s/n\"/1/data/0".into(), problem: "EOF".into() };
    let cases = [
        (Verb::KvLoad, LoadFailure::NoSave(none()), r#"{"KV_LOAD_RSP":{"name":"n\"","st":142}}"#),
        (Verb::ShLoad, LoadFailure::NoSave(none()), r#"{"SH_LOAD_RSP":{"name":"n\"","st":142}}"#),
        (
            Verb::KvLoad,
            LoadFailure::Data(corrupt()),
            r#"{"KV_LOAD_RSP":{"duration":0,"keys":0,"name":"n\"","sessions":0,"st":142}}"#,
        ),
        (
            Verb::ShLoad,
            LoadFailure::Data(corrupt()),
            r#"{"SH_LOAD_RSP":{"keys":0,"name":"n\"","sessions":0,"st":142}}"#,
        ),
    ];
    for (verb, failure, expected) in cases {
        assert_eq!(finish(&mut store, done(verb, Outcome::Loaded(Err(failure))), Protocol::V07), expected);
    }
    assert_eq!(store.info.last_save, None, "loads are not saves");
}

/// A `KV_FIND` over every key that must run off the loop (it uses a
/// regular expression).
const FIND_ALL: &str = r#"{"KV_FIND":{"path":"$[?match(@, 'v.*')]","rsp":"keys"}}"#;

/// The reply written at once for `request`, or `None` if it became a job.
fn answered(store: &mut Store, request: &str) -> Option<String> {
    let mut out = Vec::new();
    match store.execute(decode(request).unwrap(), Instant::now(), &mut Reply::new(&mut out, Protocol::V07)) {
        Executed::Later(_) => None,
        Executed::Replied => Some(String::from_utf8(out).unwrap()),
    }
}

#[test]
fn a_save_leaves_before_searches_asked_earlier() {
    let mut store = store(true);
    exec(&mut store, r#"{"KV_SET":{"keys":{"a":"v1","b":"w"}}}"#).unwrap();
    let finds: Vec<JobId> = (0..3).map(|_| later(&mut store, FIND_ALL)).collect();
    let save = later(&mut store, r#"{"KV_SAVE":{"name":"s"}}"#);
    let load = later(&mut store, r#"{"KV_LOAD":{"name":"s"}}"#);
    let order: Vec<JobId> = std::iter::from_fn(|| store.next_job().map(|(id, _)| id)).collect();
    assert_eq!(order, [save, load, finds[0], finds[1], finds[2]], "the saves' lane first, each lane in order");
    assert_eq!(store.jobs_in(Lane::Searches), 3, "handed out, not finished");
    for id in order {
        store.job_finished(id);
    }
    assert_eq!((store.jobs_in(Lane::Saves), store.jobs_in(Lane::Searches)), (0, 0));
}

#[test]
fn past_its_cap_a_lane_answers_201_and_changes_nothing() {
    let mut store = store(true);
    store.set_max_jobs(2);
    exec(&mut store, r#"{"KV_SET":{"keys":{"a":"v1"}}}"#).unwrap();
    let first = later(&mut store, FIND_ALL);
    later(&mut store, FIND_ALL);
    let busy = r#"{"KV_FIND_RSP":{"m":"too many jobs queued; retry later","st":201,"tkn":null}}"#;
    assert_eq!(answered(&mut store, FIND_ALL).as_deref(), Some(busy));
    // A search that runs on the loop is not a job: still answered.
    let inline = answered(&mut store, r#"{"KV_FIND":{"path":"$","rsp":"keys"}}"#);
    assert_eq!(inline.as_deref(), Some(r#"{"KV_FIND_RSP":{"keys":["a"],"st":1}}"#));
    // The saves' lane has its own cap.
    for i in 0..MAX_SAVE_JOBS {
        later(&mut store, &format!(r#"{{"KV_SAVE":{{"name":"s{i}"}}}}"#));
    }
    let busy = r#"{"KV_SAVE_RSP":{"m":"too many jobs queued; retry later","st":201,"tkn":null}}"#;
    assert_eq!(answered(&mut store, r#"{"KV_SAVE":{"name":"x"}}"#).as_deref(), Some(busy));
    // A search handed out and finished gives its place back.
    while let Some((id, _)) = store.next_job() {
        if id == first {
            store.job_finished(id);
        }
    }
    assert!(answered(&mut store, FIND_ALL).is_none(), "admitted again");
}

#[test]
fn a_search_of_a_closed_connection_is_dropped_before_it_starts() {
    let mut store = store(true);
    let n = SNAPSHOT_KEYS_PER_STEP * 3;
    for i in 0..n {
        store.kv.set(&format!("k{i}"), "\"v\"");
    }
    let find = later(&mut store, FIND_ALL);
    let queued = later(&mut store, FIND_ALL);
    let save = later(&mut store, r#"{"KV_SAVE":{"name":"s"}}"#);
    assert!(store.next_job().is_none(), "both snapshots are under way or waiting");
    assert!(store.kv.is_snapshotting());
    assert!(store.job_bytes() >= n * 16, "the snapshot under way is counted: {}", store.job_bytes());
    assert!(store.drop_job(queued) && store.drop_job(find), "searches are dropped");
    assert!(!store.drop_job(save), "a save is not");
    assert_eq!(store.jobs_in(Lane::Searches), 0);
    // The save's snapshot can begin now that the search's was abandoned.
    let mut handed = Vec::new();
    for _ in 0..10 {
        handed.extend(std::iter::from_fn(|| store.next_job().map(|(id, _)| id)));
    }
    assert_eq!(handed, [save]);
}

#[test]
fn past_max_memory_commands_that_add_data_get_204_and_the_rest_run() {
    let mut store = store(true);
    exec(&mut store, r#"{"KV_SET":{"keys":{"a":"1234567890"}}}"#).unwrap();
    let token = new_session(&mut store, "{}");
    let used = store.used_memory();
    assert_eq!(used, (16 + ENTRY_OVERHEAD_BYTES) + SESSION_OVERHEAD_BYTES, "\"a\":\"1234567890\" and a session");
    store.memory_mut().set_cap(Some(used));
    let full = |verb: &str| format!(r#"{{"{verb}_RSP":{{"m":"maxMemory reached","st":204,"tkn":null}}}}"#);
    let session_set = format!(r#"{{"SH_SET":{{"keys":{{"x":1}},"tkn":{token}}}}}"#);
    for (verb, request) in [
        ("KV_SET", r#"{"KV_SET":{"keys":{"b":1}}}"#),
        ("KV_ADD", r#"{"KV_ADD":{"keys":{"b":1}}}"#),
        ("KV_CLEAR_SET", r#"{"KV_CLEAR_SET":{"keys":{"b":1}}}"#),
        ("KV_UPDATE", r#"{"KV_UPDATE":{"key":"a","path":"$","value":2}}"#),
        ("KV_LOAD", r#"{"KV_LOAD":{"name":"s"}}"#),
        ("SH_NEW", "{\"SH_NEW\":{}}"),
        ("SH_SET", session_set.as_str()),
    ] {
        assert_eq!(answered(&mut store, request), Some(full(verb)), "{request}");
    }
    assert_eq!(store.used_memory(), used, "nothing changed");
    assert_eq!(
        exec(&mut store, r#"{"KV_GET":{"keys":["a"]}}"#).unwrap(),
        r#"{"KV_GET_RSP":{"keys":{"a":"1234567890"},"st":1}}"#
    );
    assert!(answered(&mut store, r#"{"KV_SAVE":{"name":"s"}}"#).is_none(), "a save still runs");
    while let Some((id, _)) = store.next_job() {
        store.job_finished(id);
    }
    exec(&mut store, r#"{"KV_RMV":{"keys":["a"]}}"#).unwrap();
    assert_eq!(store.used_memory(), SESSION_OVERHEAD_BYTES);
    assert_eq!(exec(&mut store, r#"{"KV_SET":{"keys":{"b":1}}}"#).unwrap(), r#"{"KV_SET_RSP":{"st":1}}"#);
    // Session keys count too, and go with their session.
    store.memory_mut().set_cap(None);
    exec(&mut store, &session_set).unwrap();
    let with_key = store.used_memory();
    assert_eq!(with_key, SESSION_OVERHEAD_BYTES + 2 * (5 + ENTRY_OVERHEAD_BYTES), "\"b\":1 and \"x\":1");
    exec(&mut store, &format!(r#"{{"SH_END":{{"tkn":{token}}}}}"#)).unwrap();
    assert_eq!(store.used_memory(), 5 + ENTRY_OVERHEAD_BYTES);
    // Arrays and lists add to the same count: their own.
    exec(&mut store, r#"{"IARR_CREATE":{"name":"a","len":1000}}"#).unwrap();
    let array = store.containers().bytes() as usize;
    assert!(array >= 8000, "a whole capacity of i64s: {array}");
    assert_eq!(store.used_memory(), 5 + ENTRY_OVERHEAD_BYTES + array);
    // At the cap, array and list commands that add data get the st-only
    // 204; reads and deletes run.
    let used = store.used_memory();
    store.memory_mut().set_cap(Some(used));
    for (request, rsp) in [
        (r#"{"IARR_CREATE":{"name":"b","len":1}}"#, "IARR_CREATE_RSP"),
        (r#"{"IARR_SET":{"name":"a","item":1}}"#, "IARR_SET_RSP"),
        (r#"{"OLST_CREATE":{"name":"l"}}"#, "OLST_CREATE_RSP"),
    ] {
        assert_eq!(exec(&mut store, request).unwrap(), format!(r#"{{"{rsp}":{{"st":204}}}}"#), "{request}");
    }
    assert_eq!(store.containers().bytes() as usize, array, "nothing changed");
    assert_eq!(exec(&mut store, r#"{"IARR_LEN":{"name":"a"}}"#).unwrap(), r#"{"IARR_LEN_RSP":{"len":1000,"st":1}}"#);
    assert_eq!(exec(&mut store, r#"{"IARR_DELETE":{"name":"a"}}"#).unwrap(), r#"{"IARR_DELETE_RSP":{"st":1}}"#);
    assert_eq!(store.used_memory(), 5 + ENTRY_OVERHEAD_BYTES);
    // A CREATE whose whole capacity would pass the cap is refused at once.
    let used = store.used_memory();
    store.memory_mut().set_cap(Some(used + 4000));
    assert_eq!(
        exec(&mut store, r#"{"IARR_CREATE":{"name":"a","len":1000}}"#).unwrap(),
        r#"{"IARR_CREATE_RSP":{"st":204}}"#
    );
    assert_eq!(
        exec(&mut store, r#"{"IARR_CREATE":{"name":"a","len":100}}"#).unwrap(),
        r#"{"IARR_CREATE_RSP":{"st":1}}"#
    );
}

/// A finished KV load of keys `k{from}..k{to}` set to `value`.
fn done_kv_load(from: usize, to: usize, value: &str) -> Done {
    let mut map = KeyMap::new();
    for i in from..to {
        map.set(&format!("k{i}"), value);
    }
    done(
        Verb::KvLoad,
        Outcome::Loaded(Ok((Loaded::Kv { map, read: to - from, frames: Vec::new() }, Duration::from_millis(5)))),
    )
}

fn count(store: &mut Store) -> String {
    exec(store, r#"{"KV_COUNT":{}}"#).unwrap()
}

#[test]
fn a_load_into_a_store_with_keys_merges_in_steps_and_takes_effect_at_once() {
    let mut store = store(true);
    let n = LOAD_MERGE_KEYS_PER_STEP * 3;
    for i in 0..n {
        store.kv.set(&format!("k{i}"), "0");
    }
    let now = Instant::now();
    let mut out = Vec::new();
    let loaded = done_kv_load(n / 2, n / 2 + n, "1");
    assert_eq!(store.finish(7, loaded, now, &mut Reply::new(&mut out, Protocol::V07)), Finished::Merging);
    assert!(out.is_empty() && store.has_queued_jobs());
    // A save asked for before the load is in effect saves the store as it
    // was; one asked for after waits for the merge.
    let before = later(&mut store, r#"{"KV_SAVE":{"name":"before"}}"#);
    // Checking: every command sees the store as it was; the reply waits.
    for _ in 0..2 {
        store.work(now);
        assert_eq!(count(&mut store), format!(r#"{{"KV_COUNT_RSP":{{"cnt":{n},"st":1}}}}"#));
        let absent = exec(&mut store, &format!(r#"{{"KV_GET":{{"keys":["k{}"]}}}}"#, n + 1)).unwrap();
        assert_eq!(absent, r#"{"KV_GET_RSP":{"keys":{},"st":1}}"#);
        assert!(store.take_applied(&mut Reply::new(&mut out, Protocol::V07)).is_none());
        assert!(store.next_job().is_none(), "the save's snapshot is taken in steps");
    }
    store.work(now);
    store.work(now);
    // The check is over: the reply is out and the whole load is in effect,
    // though most of it is still to be moved in.
    assert_eq!(store.take_applied(&mut Reply::new(&mut out, Protocol::V07)), Some(7));
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        format!(r#"{{"KV_LOAD_RSP":{{"duration":5,"keys":{n},"name":"n\"","sessions":0,"st":141}}}}"#)
    );
    assert!(store.kv.merging() == Merging::Applying);
    let total = n / 2 + n;
    assert_eq!(count(&mut store), format!(r#"{{"KV_COUNT_RSP":{{"cnt":{total},"st":1}}}}"#));
    assert_eq!(
        exec(&mut store, &format!(r#"{{"KV_GET":{{"keys":["k0","k{}","k{}"]}}}}"#, n - 1, total - 1)).unwrap(),
        format!(r#"{{"KV_GET_RSP":{{"keys":{{"k0":0,"k{}":1,"k{}":1}},"st":1}}}}"#, n - 1, total - 1)
    );
    exec(&mut store, &format!(r#"{{"KV_SET":{{"keys":{{"k{}":2}}}}}}"#, total - 1)).unwrap();
    let after = later(&mut store, r#"{"KV_SAVE":{"name":"after"}}"#);
    let mut saves = Vec::new();
    while store.has_queued_jobs() {
        if let Some((id, job)) = store.next_job() {
            let Work::Save(Snapshot::Kv(entries)) = job.work else { panic!("a KV save") };
            saves.push((id, entries.len(), store.kv.merging()));
            assert!(entries.iter().all(|e| e.value_json() == b"0") == (id == before), "{id}");
        }
        store.work(now);
    }
    assert_eq!(saves[0], (before, n, Merging::Applying));
    assert_eq!(saves[1], (after, total, Merging::Done));
    // The keys in order: the store's, then the loaded new ones in file order.
    let keys = store.kv.snapshot();
    assert_eq!(keys.len(), total);
    assert_eq!(keys[0].key(), "k0");
    assert_eq!(keys[n].key(), format!("k{n}"));
    assert_eq!(keys[total - 1].member_json(), format!(r#""k{}":2"#, total - 1).as_bytes());
}

#[test]
fn loads_merge_one_after_another_in_order() {
    let mut store = store(true);
    store.kv.set("k0", "0");
    let now = Instant::now();
    let mut out = Vec::new();
    for (id, value) in [(1, "1"), (2, "2")] {
        let done = done_kv_load(0, 10, value);
        assert_eq!(store.finish(id, done, now, &mut Reply::new(&mut out, Protocol::V07)), Finished::Merging);
    }
    let mut answered = Vec::new();
    while store.has_queued_jobs() {
        store.work(now);
        while let Some(id) = store.take_applied(&mut Reply::new(&mut out, Protocol::V07)) {
            answered.push(id);
        }
    }
    assert_eq!(answered, [1, 2]);
    assert_eq!(
        exec(&mut store, r#"{"KV_GET":{"keys":["k0","k9"]}}"#).unwrap(),
        r#"{"KV_GET_RSP":{"keys":{"k0":2,"k9":2},"st":1}}"#
    );
    // Into an empty store, the map is moved in whole and answered at once.
    exec(&mut store, r#"{"KV_CLEAR":{}}"#).unwrap();
    out.clear();
    assert_eq!(
        store.finish(3, done_kv_load(0, 3, "3"), now, &mut Reply::new(&mut out, Protocol::V07)),
        Finished::Replied
    );
    assert!(String::from_utf8(out).unwrap().contains(r#""keys":3,"#));
    assert!(!store.has_queued_jobs());
}

#[test]
fn kv_loads_past_a_key_maps_capacity_are_refused_and_change_nothing() {
    let full = r#"{"KV_LOAD_RSP":{"m":"a key map holds at most 4 keys","st":204,"tkn":null}}"#;
    let now = Instant::now();
    // Into an empty store: the loaded map alone is too large.
    let loaded = done_kv_load(0, 5, "1");
    let _limit = crate::store::table::lower_max_len(4);
    let mut store = store(true);
    assert_eq!(finish(&mut store, loaded, Protocol::V07), full);
    assert_eq!(count(&mut store), r#"{"KV_COUNT_RSP":{"cnt":0,"st":1}}"#);

    // Into a store with keys: 3 held, 1 shared and 2 new loaded. The check
    // ends with 5 keys due: refused, the store as it was.
    for i in 0..3 {
        store.kv.set(&format!("k{i}"), "0");
    }
    let mut out = Vec::new();
    assert_eq!(
        store.finish(7, done_kv_load(2, 5, "1"), now, &mut Reply::new(&mut out, Protocol::V07)),
        Finished::Merging
    );
    while store.has_queued_jobs() {
        store.work(now);
        store.take_applied(&mut Reply::new(&mut out, Protocol::V07));
    }
    assert_eq!(String::from_utf8(std::mem::take(&mut out)).unwrap(), full);
    assert_eq!(
        exec(&mut store, r#"{"KV_GET":{"keys":["k0","k2","k3"]}}"#).unwrap(),
        r#"{"KV_GET_RSP":{"keys":{"k0":0,"k2":0},"st":1}}"#
    );
    assert_eq!(store.kv.merging(), Merging::Done);

    // A key removed while the load is checked makes the room it needs.
    assert_eq!(
        store.finish(8, done_kv_load(2, 5, "1"), now, &mut Reply::new(&mut out, Protocol::V07)),
        Finished::Merging
    );
    exec(&mut store, r#"{"KV_RMV":{"keys":["k0"]}}"#).unwrap();
    assert_eq!(store.take_applied(&mut Reply::new(&mut out, Protocol::V07)), None);
    store.work(now);
    assert_eq!(store.take_applied(&mut Reply::new(&mut out, Protocol::V07)), Some(8));
    assert!(String::from_utf8(out).unwrap().ends_with(r#""keys":3,"name":"n\"","sessions":0,"st":141}}"#));
    assert_eq!(count(&mut store), r#"{"KV_COUNT_RSP":{"cnt":4,"st":1}}"#);
    // The store is full: a new key is refused, whether the load is moved in
    // yet or not.
    assert_eq!(
        exec(&mut store, r#"{"KV_SET":{"keys":{"new":1}}}"#).unwrap(),
        r#"{"KV_SET_RSP":{"m":"a key map holds at most 4 keys","st":204,"tkn":null}}"#
    );
    while store.has_queued_jobs() {
        store.work(now);
    }
    assert_eq!(
        exec(&mut store, r#"{"KV_KEYS":{}}"#).unwrap(),
        r#"{"KV_KEYS_RSP":{"keys":["k2","k1","k3","k4"],"st":1}}"#
    );
}

/// A finished `SH_LOAD` of `n` sessions with tokens `first..first + n`,
/// each of `keys` keys.
fn done_session_load(first: u64, n: u64, keys: usize) -> Done {
    let keys: Vec<Entry> = (0..keys).map(|k| Entry::new(&format!("k{k}"), "1")).collect();
    let records = (first..first + n)
        .map(|token| SessionRecord { token, expiry: Expiry::default(), keys: keys.clone() })
        .collect();
    done(Verb::ShLoad, Outcome::Loaded(Ok((Loaded::Sessions(records), Duration::ZERO))))
}

#[test]
fn a_session_load_creates_its_sessions_in_steps_and_answers_after_the_last() {
    let mut store = store(true);
    let live = new_session(&mut store, "{}");
    let n = RESTORE_WORK_PER_STEP as u64 * 3;
    // Records of one key: a step creates about 1,024 / 5 sessions.
    let per_step = RESTORE_WORK_PER_STEP / (RESTORE_UNITS_PER_SESSION + 1) + 1;
    let mut load = done_session_load(1, n, 1);
    if let Outcome::Loaded(Ok((Loaded::Sessions(records), _))) = &mut load.outcome {
        records[5].token = live;
    }
    let now = Instant::now();
    let mut out = Vec::new();
    assert_eq!(store.finish(4, load, now, &mut Reply::new(&mut out, Protocol::V07)), Finished::Merging);
    assert!(out.is_empty());
    // Nothing yet: each turn's work does a step.
    assert_eq!(store.session_count(), 1);
    store.work(now);
    let first = store.session_count() - 1;
    assert!(first > per_step / 2 && first <= per_step, "{first} sessions after a step");
    // An SH_SAVE asked meanwhile waits for the whole load.
    let save = later(&mut store, r#"{"SH_SAVE":{"name":"s"}}"#);
    let (mut steps, mut answered) = (1, None);
    let (id, job) = loop {
        if let Some(job) = store.next_job() {
            break job;
        }
        assert!(answered.is_some() || !store.sessions.is_snapshotting(), "no snapshot before the load is done");
        store.work(now);
        steps += 1;
        let created = store.session_count() - 1;
        assert!(created <= steps * per_step, "{created} sessions after {steps} steps");
        if let Some(id) = store.take_applied(&mut Reply::new(&mut out, Protocol::V07)) {
            answered = Some((id, steps));
        }
    };
    let least = (n as usize - 1) / per_step;
    assert!(answered.is_some_and(|a| a.1 >= least && a.1 <= least + 2), "{answered:?}: {least} steps at least");
    assert_eq!(answered.map(|a| a.0), Some(4));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!(r#"{{"SH_LOAD_RSP":{{"keys":{},"name":"n\"","sessions":{},"st":141}}}}"#, n - 1, n - 1)
    );
    assert_eq!(id, save);
    let Work::Save(Snapshot::Sessions(records)) = job.work else { panic!("a session save") };
    assert_eq!(records.len(), n as usize, "every loaded session and the live one");
    assert!(!store.has_queued_jobs());
}

#[test]
fn a_loaded_session_is_live_once_all_its_keys_are_in() {
    let mut store = store(true);
    let keys = RESTORE_WORK_PER_STEP * 2 + 10;
    let now = Instant::now();
    let mut out = Vec::new();
    assert_eq!(
        store.finish(1, done_session_load(77, 1, keys), now, &mut Reply::new(&mut out, Protocol::V07)),
        Finished::Merging
    );
    // Three steps: the record and its first 1,023 keys, 1,024 keys, the rest.
    for _ in 0..3 {
        assert_eq!(
            exec(&mut store, r#"{"SH_COUNT":{"tkn":77}}"#).unwrap(),
            r#"{"SH_COUNT_RSP":{"m":"","st":100,"tkn":null}}"#
        );
        store.work(now);
    }
    assert_eq!(store.take_applied(&mut Reply::new(&mut out, Protocol::V07)), Some(1));
    assert_eq!(
        exec(&mut store, r#"{"SH_COUNT":{"tkn":77}}"#).unwrap(),
        format!(r#"{{"SH_COUNT_RSP":{{"cnt":{keys},"st":1}}}}"#)
    );
}

#[test]
fn session_loads_past_the_session_tables_capacity_are_refused_and_keep_their_room() {
    let limit = RESTORE_WORK_PER_STEP * 2;
    let _limit = crate::store::table::lower_max_len(limit);
    let mut store = store(true);
    new_session(&mut store, "{}");
    let now = Instant::now();
    let mut out = Vec::new();
    let full =
        format!(r#"{{"SH_LOAD_RSP":{{"m":"the session table holds at most {limit} sessions","st":204,"tkn":null}}}}"#);
    // One more than there is room for: refused by the first step, nothing
    // created.
    let load = done_session_load(10, limit as u64, 0);
    assert_eq!(store.finish(1, load, now, &mut Reply::new(&mut out, Protocol::V07)), Finished::Merging);
    store.work(now);
    assert_eq!(store.take_applied(&mut Reply::new(&mut out, Protocol::V07)), Some(1));
    assert_eq!(String::from_utf8(std::mem::take(&mut out)).unwrap(), full);
    assert!(!store.has_queued_jobs());
    assert_eq!(store.session_count(), 1);
    // Exactly the room there is, over two steps: while they are created no
    // SH_NEW takes their room.
    let load = done_session_load(10, limit as u64 - 1, 0);
    assert_eq!(store.finish(2, load, now, &mut Reply::new(&mut out, Protocol::V07)), Finished::Merging);
    store.work(now);
    assert!(store.session_count() < limit);
    assert_eq!(
        exec(&mut store, r#"{"SH_NEW":{}}"#).unwrap(),
        format!(r#"{{"SH_NEW_RSP":{{"m":"the session table holds at most {limit} sessions","st":204,"tkn":null}}}}"#)
    );
    while store.has_queued_jobs() {
        store.work(now);
        store.take_applied(&mut Reply::new(&mut out, Protocol::V07));
    }
    let out = String::from_utf8(out).unwrap();
    assert!(out.ends_with(&format!(r#""sessions":{},"st":141}}}}"#, limit - 1)), "{out}");
    assert_eq!(store.session_count(), limit);
}

#[test]
fn a_loaded_session_being_built_counts_toward_the_memory_cap() {
    let mut store = store(true);
    let keys = RESTORE_WORK_PER_STEP * 2 + 10;
    let now = Instant::now();
    let mut out = Vec::new();
    let load = done_session_load(77, 1, keys);
    assert_eq!(store.finish(1, load, now, &mut Reply::new(&mut out, Protocol::V07)), Finished::Merging);
    let waiting = store.used_memory();
    store.work(now);
    // About 1,023 keys are in its map, not yet in the table.
    assert_eq!(store.session_count(), 0);
    let building = store.used_memory();
    assert!(building >= waiting + 1000 * ENTRY_OVERHEAD_BYTES, "{waiting} → {building}");
    store.work(now);
    store.work(now);
    assert_eq!(store.take_applied(&mut Reply::new(&mut out, Protocol::V07)), Some(1));
    // Now the table counts it, and nothing else does.
    let inserted = store.used_memory();
    assert_eq!(inserted, store.sessions.bytes(), "counted once");
    assert!(inserted >= keys * ENTRY_OVERHEAD_BYTES && inserted > building, "{building} → {inserted}");
}

#[test]
fn the_table_sh_end_all_hands_to_a_snapshot_counts_until_it_is_freed() {
    let mut store = store(true);
    let n = SNAPSHOT_KEYS_PER_STEP * 3;
    for _ in 0..n {
        let token = new_session(&mut store, "{}");
        exec(&mut store, &format!(r#"{{"SH_SET":{{"tkn":{token},"keys":{{"a":"{}"}}}}}}"#, "v".repeat(100))).unwrap();
    }
    let sessions = store.sessions.bytes();
    let save = later(&mut store, r#"{"SH_SAVE":{"name":"s"}}"#);
    assert!(store.next_job().is_none(), "the snapshot takes steps");
    let before = store.used_memory();
    assert_eq!(
        exec(&mut store, r#"{"SH_END_ALL":{}}"#).unwrap(),
        format!(r#"{{"SH_END_ALL_RSP":{{"cnt":{n},"st":1}}}}"#)
    );
    assert_eq!(store.sessions.bytes(), 0);
    // The snapshot still holds every session's keys: counted.
    let ended = store.used_memory();
    assert!(ended >= sessions && ended + 64 >= before, "{sessions} in sessions, {before} → {ended}");
    let (id, job) = loop {
        if let Some(job) = store.next_job() {
            break job;
        }
    };
    assert_eq!(id, save);
    let Work::Save(Snapshot::Sessions(records)) = &job.work else { panic!("a session save") };
    assert_eq!(records.len(), n);
    // Freed: the save's records (pointers) are what is left counted.
    let taken = store.used_memory();
    assert!(taken < sessions, "{sessions} → {taken}");
    store.job_finished(id);
    assert_eq!(store.used_memory(), 0);
}
