//! The JSONPath commands through `Store::execute`: where a `KV_FIND` or an
//! edit runs (on the loop or as a job), that both give the same reply, that
//! a job searches the map as it was when asked, that an edit computed off
//! the loop is stored only over the entry it was computed from, and the
//! limits on paths and their cost.

use std::time::Instant;

use super::*;
use crate::protocol::{Protocol, decode};
use crate::store::{Finished, JobId};

fn store() -> Store {
    Store::new(crate::store::ServerInfo { persist_enabled: false, persist_path: "d".into() })
}

/// The reply to `request`, and whether it came from a job (run here, as
/// the save thread would).
fn call(store: &mut Store, request: &str) -> (String, bool) {
    let now = Instant::now();
    let mut out = Vec::new();
    let mut reply = Reply::new(&mut out, Protocol::V07);
    let mut later = false;
    match decode(request) {
        Ok(cmd) => {
            if let Executed::Later(_) = store.execute(cmd, now, &mut reply) {
                later = true;
                while store.has_queued_jobs() {
                    if let Some((id, job)) = store.next_job() {
                        let done = crate::persist::run(std::path::Path::new("/nonexistent/ndb-tests"), job);
                        store.finish(id, done, now, &mut reply);
                    }
                    store.work(now);
                    store.take_applied(&mut reply);
                }
            }
        }
        Err(rejection) => reply.rejection(&rejection),
    }
    (String::from_utf8(out).unwrap(), later)
}

fn fill(store: &mut Store, keys: usize) {
    for i in 0..keys {
        store.kv.set(&format!("k{i}"), &format!(r#"{{"n":{i},"tags":["a","b"]}}"#));
    }
}

#[test]
fn small_simple_searches_run_on_the_loop() {
    let mut store = store();
    fill(&mut store, 10);
    let (reply, later) = call(&mut store, r#"{"KV_FIND":{"path":"$[?@ > 7]","rsp":"keys"}}"#);
    assert_eq!(reply, r#"{"KV_FIND_RSP":{"keys":["k8","k9"],"st":1}}"#);
    assert!(!later);
    let (reply, later) = call(&mut store, r#"{"KV_FIND":{"keys":["k9","k1"],"path":"$.tags[1]","rsp":"paths"}}"#);
    assert_eq!(reply, r#"{"KV_FIND_RSP":{"paths":["$['tags'][1]","$['tags'][1]"],"st":1}}"#);
    assert!(!later);
}

#[test]
fn regex_paths_large_searches_and_costly_paths_are_jobs_with_the_same_replies() {
    let mut store = store();
    fill(&mut store, 10);
    for path in ["$.tags[?match(@, 'a')]", "$.tags[?search(@, '^a$')]"] {
        let (reply, later) = call(&mut store, &format!(r#"{{"KV_FIND":{{"path":"{path}","rsp":"keys"}}}}"#));
        if cfg!(feature = "regex") {
            assert!(later, "{path}");
            assert!(reply.starts_with(r#"{"KV_FIND_RSP":{"keys":["k0","k1","#), "{path}: {reply}");
        } else {
            assert!(!later, "{path}");
            assert_eq!(reply, format!(r#"{{"KV_FIND_RSP":{{"m":"{NO_REGEX}","st":14,"tkn":null}}}}"#), "{path}");
        }
    }
    // Paths that used to be costly by their shape run on the loop when small.
    for path in ["$..*..*", "$[?@[?@ == 'a']]", "$[?@..*]"] {
        let (reply, later) = call(&mut store, &format!(r#"{{"KV_FIND":{{"path":"{path}","rsp":"keys"}}}}"#));
        assert!(!later, "{path}");
        assert!(reply.starts_with(r#"{"KV_FIND_RSP":{"keys":["k0","k1","#), "{path}: {reply}");
    }
    let mut store = self::store();
    fill(&mut store, 3000);
    let request = r#"{"KV_FIND":{"path":"$[?@ >= 2998]","rsp":"kv"}}"#;
    let (reply, later) = call(&mut store, request);
    assert!(later);
    assert_eq!(
        reply,
        r#"{"KV_FIND_RSP":{"keys":{"k2998":{"n":2998,"tags":["a","b"]},"k2999":{"n":2999,"tags":["a","b"]}},"st":1}}"#
    );
    // 3,000 named keys hold more than FIND_INLINE_MAX_BYTES of values.
    let names: Vec<String> = (0..3000).rev().map(|i| format!("\"k{i}\"")).collect();
    let request = format!(r#"{{"KV_FIND":{{"keys":[{}],"path":"$[?@ < 2]","rsp":"keys"}}}}"#, names.join(","));
    let (reply, later) = call(&mut store, &request);
    assert!(later);
    assert_eq!(reply, r#"{"KV_FIND_RSP":{"keys":["k1","k0"],"st":1}}"#);
}

#[test]
fn a_search_past_the_loop_allowance_moves_to_the_save_thread() {
    let mut store = store();
    // 10 arrays of 60 numbers; for each item the filter counts the items
    // of the whole value: about 11,000 steps per value, 110,000 in all.
    let items = format!("[{}]", (0..60).map(|i| i.to_string()).collect::<Vec<_>>().join(","));
    for i in 0..10 {
        store.kv.set(&format!("a{i}"), &items);
    }
    let paths = |reply: &str| {
        let reply: serde_json::Value = serde_json::from_str(reply).unwrap();
        reply["KV_FIND_RSP"]["paths"].as_array().map(Vec::len)
    };
    let request = r#"{"KV_FIND":{"path":"$[?count($[?@ >= 0]) == 60]","rsp":"paths"}}"#;
    let (reply, later) = call(&mut store, request);
    assert!(later);
    assert_eq!(paths(&reply), Some(600));
    let one = r#"{"KV_FIND":{"keys":["a3"],"path":"$[?count($[?@ >= 0]) == 60]","rsp":"paths"}}"#;
    let (reply, later) = call(&mut store, one);
    assert!(!later);
    assert_eq!(paths(&reply), Some(60));
    // Asked only which keys match, each value's search stops at its first node.
    let keys = r#"{"KV_FIND":{"path":"$[?count($[?@ >= 0]) == 60]","rsp":"keys"}}"#;
    let (reply, later) = call(&mut store, keys);
    assert_eq!(reply, r#"{"KV_FIND_RSP":{"keys":["a0","a1","a2","a3","a4","a5","a6","a7","a8","a9"],"st":1}}"#);
    assert!(!later);
}

#[test]
fn paths_over_budget_answer_202_wherever_they_run() {
    let mut store = store();
    store.kv.set("n", "[[[[[[[0]]]]]]]");
    store.kv.set("big", &format!("[{}]", vec!["[0,1,2,3,4,5,6,7]"; 2000].join(",")));
    let explosive = format!("${}", "[0,0,0,0,0,0,0,0]".repeat(8));
    let over = r#"{"KV_FIND_RSP":{"m":"over budget","st":202,"tkn":null}}"#;
    for keys in [r#""keys":["n"],"#, ""] {
        let (reply, _) = call(&mut store, &format!(r#"{{"KV_FIND":{{{keys}"path":"{explosive}","rsp":"keys"}}}}"#));
        assert_eq!(reply, over);
    }
    // Over the budget of the large value, found on the save thread.
    let quadratic = r#"$[?count($..*) > 0]"#;
    let (reply, later) =
        call(&mut store, &format!(r#"{{"KV_FIND":{{"keys":["big"],"path":"{quadratic}","rsp":"paths"}}}}"#));
    assert_eq!((reply.as_str(), later), (over, true));
    let too_long = format!("${}", ".a".repeat(MAX_PATH_BYTES));
    let (reply, _) = call(&mut store, &format!(r#"{{"KV_FIND":{{"path":"{too_long}","rsp":"keys"}}}}"#));
    assert_eq!(reply, over);
    let (reply, _) = call(&mut store, &format!(r#"{{"KV_UPDATE":{{"key":"n","path":"{too_long}","value":1}}}}"#));
    assert_eq!(reply, r#"{"KV_UPDATE_RSP":{"m":"over budget","st":202,"tkn":null}}"#);
    let (reply, _) = call(&mut store, &format!(r#"{{"KV_UPDATE":{{"key":"n","path":"{explosive}","value":1}}}}"#));
    assert_eq!(reply, r#"{"KV_UPDATE_RSP":{"m":"over budget","st":202,"tkn":null}}"#);
    let (reply, later) =
        call(&mut store, &format!(r#"{{"KV_UPDATE":{{"key":"big","path":"{quadratic}","value":1}}}}"#));
    assert_eq!((reply.as_str(), later), (r#"{"KV_UPDATE_RSP":{"m":"over budget","st":202,"tkn":null}}"#, true));
    assert_eq!(store.kv.get("n").map(|e| e.value_json().to_vec()), Some(b"[[[[[[[0]]]]]]]".to_vec()));
}

#[test]
fn large_edits_are_computed_off_the_loop() {
    let mut store = store();
    let big = format!("[{}]", vec![r#"{"n":1}"#; 20_000].join(","));
    store.kv.set("big", &big);
    let (reply, later) = call(&mut store, r#"{"KV_UPDATE":{"key":"big","path":"$[19999].n","value":2}}"#);
    assert_eq!((reply.as_str(), later), (r#"{"KV_UPDATE_RSP":{"cnt":1,"st":1}}"#, true));
    let (reply, later) = call(&mut store, r#"{"KV_ARR_APPEND":{"items":[3],"key":"big"}}"#);
    assert_eq!((reply.as_str(), later), (r#"{"KV_ARR_APPEND_RSP":{"st":1}}"#, true));
    let value = store.kv.get("big").map(|e| String::from_utf8(e.value_json().to_vec()).unwrap()).unwrap();
    assert!(value.ends_with(r#"{"n":1},{"n":2},3]"#), "{}", &value[value.len() - 40..]);
    // A regular expression never runs on the loop, whatever the value.
    store.kv.set("s", r#"["abc"]"#);
    let (reply, later) = call(&mut store, r#"{"KV_UPDATE":{"key":"s","path":"$[?match(@, 'a.c')]","value":"x"}}"#);
    if cfg!(feature = "regex") {
        assert_eq!((reply.as_str(), later), (r#"{"KV_UPDATE_RSP":{"cnt":1,"st":1}}"#, true));
    } else {
        let disabled = format!(r#"{{"KV_UPDATE_RSP":{{"m":"{NO_REGEX}","st":14,"tkn":null}}}}"#);
        assert_eq!((reply, later), (disabled, false));
        assert_eq!(store.kv.get("s").map(|e| e.value_json().to_vec()), Some(br#"["abc"]"#.to_vec()), "unchanged");
    }
    // Small edits run at once.
    let (reply, later) = call(&mut store, r#"{"KV_ARR_APPEND":{"items":[1],"key":"s"}}"#);
    assert_eq!((reply.as_str(), later), (r#"{"KV_ARR_APPEND_RSP":{"st":1}}"#, false));
    let appended: &[u8] = if cfg!(feature = "regex") { br#"["x",1]"# } else { br#"["abc",1]"# };
    assert_eq!(store.kv.get("s").map(|e| e.value_json().to_vec()), Some(appended.to_vec()));
}

/// Queues a large `KV_ARR_APPEND` of `key` and returns its job, not run yet.
fn queued_append(store: &mut Store, key: &str, out: &mut Vec<u8>) -> (JobId, Job) {
    let text = format!(r#"{{"KV_ARR_APPEND":{{"items":[7],"key":"{key}"}}}}"#);
    let request = decode(&text).unwrap();
    let executed = store.execute(request, Instant::now(), &mut Reply::new(out, Protocol::V07));
    assert!(matches!(executed, Executed::Later(_)));
    store.next_job().expect("an edit job is ready at once")
}

fn run(job: Job) -> crate::store::Done {
    crate::persist::run(std::path::Path::new("/nonexistent/ndb-tests"), job)
}

#[test]
fn an_edit_whose_key_changed_meanwhile_is_computed_again() {
    let mut store = store();
    let big = |n: usize| format!("[{}]", vec!["1"; n].join(","));
    store.kv.set("k", &big(40_000));
    let mut out = Vec::new();
    let (id, job) = queued_append(&mut store, "k", &mut out);
    // Another client sets the key while the save thread computes.
    store.kv.set("k", &big(40_001));
    let done = run(job);
    assert_eq!(store.finish(id, done, Instant::now(), &mut Reply::new(&mut out, Protocol::V07)), Finished::Requeued);
    assert!(out.is_empty(), "no reply yet");
    let (again, job) = store.next_job().expect("queued again");
    assert_eq!(again, id, "under the same id");
    assert_eq!(store.finish(id, run(job), Instant::now(), &mut Reply::new(&mut out, Protocol::V07)), Finished::Replied);
    assert_eq!(String::from_utf8(out).unwrap(), r#"{"KV_ARR_APPEND_RSP":{"st":1}}"#);
    let value = store.kv.get("k").map(|e| e.value_json().len());
    assert_eq!(value, Some(big(40_001).len() + 2), "appended to the new value");

    // A key that keeps changing: 201 after MAX_EDIT_ATTEMPTS, unchanged.
    let mut out = Vec::new();
    let (id, mut job) = queued_append(&mut store, "k", &mut out);
    for attempt in 1..=MAX_EDIT_ATTEMPTS {
        store.kv.set("k", &big(10 + attempt as usize));
        let finished = store.finish(id, run(job), Instant::now(), &mut Reply::new(&mut out, Protocol::V07));
        if attempt == MAX_EDIT_ATTEMPTS {
            assert_eq!(finished, Finished::Replied);
            break;
        }
        assert_eq!(finished, Finished::Requeued);
        job = store.next_job().expect("queued again").1;
    }
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"KV_ARR_APPEND_RSP":{"m":"key kept changing","st":201,"tkn":null}}"#
    );
    assert_eq!(
        store.kv.get("k").map(|e| e.value_json().to_vec()),
        Some(big(10 + MAX_EDIT_ATTEMPTS as usize).into_bytes())
    );

    // A key removed meanwhile: 22, as if the edit came after the removal.
    let mut out = Vec::new();
    store.kv.set("k", &big(40_000));
    let (id, job) = queued_append(&mut store, "k", &mut out);
    store.kv.remove("k");
    assert_eq!(store.finish(id, run(job), Instant::now(), &mut Reply::new(&mut out, Protocol::V07)), Finished::Replied);
    assert_eq!(String::from_utf8(out).unwrap(), r#"{"KV_ARR_APPEND_RSP":{"st":22}}"#);
    assert!(store.kv.get("k").is_none());
}

/// A `KV_LOAD` read off the loop: `keys` in that order, each set to
/// `value`, as the save thread hands it over.
fn kv_load(keys: &[String], value: &str) -> crate::store::Done {
    let mut map = crate::store::KeyMap::new();
    for key in keys {
        map.set(key, value);
    }
    let loaded = crate::store::Loaded::Kv { map, read: keys.len(), frames: Vec::new() };
    crate::store::Done {
        verb: Verb::KvLoad,
        name: "n".into(),
        outcome: crate::store::Outcome::Loaded(Ok((loaded, std::time::Duration::ZERO))),
        unix_ms: 0,
    }
}

/// Runs `store`'s steps until the load merging has taken effect; returns
/// the id its reply came with.
fn until_in_effect(store: &mut Store) -> Option<JobId> {
    let mut out = Vec::new();
    for _ in 0..100 {
        store.work(Instant::now());
        if let Some(id) = store.take_applied(&mut Reply::new(&mut out, Protocol::V07)) {
            return Some(id);
        }
    }
    None
}

#[test]
fn an_edit_beside_a_load_merging_is_stored_only_over_the_entry_the_store_shows() {
    use crate::store::{LOAD_MERGE_KEYS_PER_STEP, Merging};
    let big = |n: usize| format!("[{}]", vec!["1"; n].join(","));
    let value = |store: &Store, key: &str| store.kv.get(key).map(|e| e.value_json().len());
    let appended = |n: usize| big(n).len() + 2;
    let mut store = store();
    let shared: Vec<String> = (0..LOAD_MERGE_KEYS_PER_STEP * 2).map(|i| format!("k{i}")).collect();
    for key in &shared {
        store.kv.set(key, "0");
    }
    store.kv.set("first", &big(40_000));
    store.kv.set("last", &big(40_000));
    let mut keys = vec!["first".to_string()];
    keys.extend(shared.iter().cloned());
    keys.push("last".into());
    let now = Instant::now();
    let mut out = Vec::new();

    // Finished while the load is checked: the store still shows the entry
    // the edit was computed from, so it is stored, and the load, taking
    // effect after it, sets the key as it would have after the edit.
    let (id, job) = queued_append(&mut store, "last", &mut out);
    let load = kv_load(&keys, &big(50_000));
    assert_eq!(store.finish(99, load, now, &mut Reply::new(&mut Vec::new(), Protocol::V07)), Finished::Merging);
    assert_eq!(store.kv.merging(), Merging::Checking);
    assert_eq!(store.finish(id, run(job), now, &mut Reply::new(&mut out, Protocol::V07)), Finished::Replied);
    assert_eq!(String::from_utf8(std::mem::take(&mut out)).unwrap(), r#"{"KV_ARR_APPEND_RSP":{"st":1}}"#);
    assert_eq!(value(&store, "last"), Some(appended(40_000)));
    assert_eq!(until_in_effect(&mut store), Some(99));
    while store.has_queued_jobs() {
        store.work(Instant::now());
    }
    assert_eq!(value(&store, "last"), Some(big(50_000).len()), "the load came after the edit");

    // Asked before the next load takes effect, finished after: the store
    // shows the loaded entry (not moved in yet), so the edit is computed
    // again from it, and what is moved in later does not undo it.
    let (last, job_last) = queued_append(&mut store, "last", &mut out);
    let load = kv_load(&keys, &big(60_000));
    assert_eq!(store.finish(98, load, now, &mut Reply::new(&mut Vec::new(), Protocol::V07)), Finished::Merging);
    assert_eq!(until_in_effect(&mut store), Some(98));
    assert_eq!(store.kv.merging(), Merging::Applying);
    // Asked while the load is moved in, of a key still to be moved: the
    // step that moves it in moves the same entry, which the edit was
    // computed from.
    let (first, job_first) = queued_append(&mut store, "first", &mut out);
    assert_eq!(store.finish(last, run(job_last), now, &mut Reply::new(&mut out, Protocol::V07)), Finished::Requeued);
    assert!(out.is_empty(), "no reply yet");
    store.work(now);
    assert_eq!(store.kv.merging(), Merging::Applying, "\"last\" is still to be moved in");
    assert_eq!(store.finish(first, run(job_first), now, &mut Reply::new(&mut out, Protocol::V07)), Finished::Replied);
    assert_eq!(value(&store, "first"), Some(appended(60_000)));
    let (again, job) = store.next_job().expect("the edit of \"last\", queued again");
    assert_eq!(again, last);
    assert_eq!(store.finish(last, run(job), now, &mut Reply::new(&mut out, Protocol::V07)), Finished::Replied);
    assert_eq!(String::from_utf8(out).unwrap(), r#"{"KV_ARR_APPEND_RSP":{"st":1}}"#.repeat(2));
    assert_eq!(store.kv.merging(), Merging::Applying);
    while store.has_queued_jobs() {
        store.work(Instant::now());
    }
    assert_eq!(store.kv.merging(), Merging::Done);
    assert_eq!(value(&store, "first"), Some(appended(60_000)));
    assert_eq!(value(&store, "last"), Some(appended(60_000)), "the step moving \"last\" in kept the edit");
    assert_eq!(store.kv.len(), shared.len() + 2);
}

#[test]
fn a_find_job_searches_the_map_as_it_was_when_asked() {
    let mut store = store();
    fill(&mut store, 5000);
    let mut out = Vec::new();
    let mut reply = Reply::new(&mut out, Protocol::V07);
    let request = decode(r#"{"KV_FIND":{"path":"$[?@ < 3 || @ > 4997]","rsp":"keys"}}"#).unwrap();
    assert!(matches!(store.execute(request, Instant::now(), &mut reply), Executed::Later(_)));
    // The snapshot is taken in steps; the map changes in between.
    assert!(store.next_job().is_none());
    store.kv.remove("k0");
    store.kv.set("k4999", r#"{"n":0}"#);
    store.kv.set("new", r#"{"n":1}"#);
    let (id, job) = loop {
        if let Some(job) = store.next_job() {
            break job;
        }
    };
    let done = crate::persist::run(std::path::Path::new("/nonexistent/ndb-tests"), job);
    store.finish(id, done, Instant::now(), &mut reply);
    assert_eq!(String::from_utf8(out).unwrap(), r#"{"KV_FIND_RSP":{"keys":["k0","k1","k2","k4998","k4999"],"st":1}}"#);
}

#[test]
fn a_job_that_could_not_run_answers_1000() {
    let mut store = store();
    let mut out = Vec::new();
    let done = crate::store::Done {
        verb: Verb::KvFind,
        name: String::new(),
        outcome: crate::store::Outcome::failed(crate::store::WorkKind::Find, "gone".into()),
        unix_ms: 0,
    };
    store.finish(1, done, Instant::now(), &mut Reply::new(&mut out, Protocol::V07));
    assert_eq!(String::from_utf8(out).unwrap(), r#"{"KV_FIND_RSP":{"st":1000}}"#);
}

#[test]
fn paths_nested_too_deeply_are_invalid() {
    let deep_parens = format!("$[?{}@.a{}]", "(".repeat(MAX_PATH_NESTING), ")".repeat(MAX_PATH_NESTING));
    assert_eq!(compile(&deep_parens).err(), Some(Status::PathInvalid));
    let ok_parens = format!("$[?{}@.a{}]", "(".repeat(MAX_PATH_NESTING - 1), ")".repeat(MAX_PATH_NESTING - 1));
    assert!(compile(&ok_parens).is_ok());
    let filters = |n: usize| format!("${}.a{}", "[?@".repeat(n), "]".repeat(n));
    assert!(compile(&filters(MAX_PATH_BRACKETS)).is_ok());
    assert_eq!(compile(&filters(MAX_PATH_BRACKETS + 1)).err(), Some(Status::PathInvalid));
    // Thousands of levels would overflow the parser's stack; they stop at the limit.
    assert_eq!(
        compile(&format!("$[?{}@.a{}]", "(".repeat(30_000), ")".repeat(30_000))).err(),
        Some(Status::PathInvalid)
    );
    assert_eq!(compile(&filters(8_000)).err(), Some(Status::PathInvalid));
    assert_eq!(compile(&format!("${}", "[0]".repeat(MAX_PATH_BYTES / 3 + 1))).err(), Some(Status::OverBudget));
    for regex in ["$[?match(@, 'a')]", "$[?@.a && !search(@.b, 'x')]", "$[?count(@[?match(@, 'a')]) > 1]"] {
        if cfg!(feature = "regex") {
            assert!(compile(regex).is_ok_and(|p| p.uses_regex), "{regex}");
        } else {
            assert_eq!(compile(regex).err(), Some(Status::CommandDisabled), "{regex}");
        }
    }
    for plain in ["$", "$..a..b", "$[?@[?@.b]]", "$[?length(@.a) > 1]", "$['match']", "$[?@.search]"] {
        assert!(compile(plain).is_ok_and(|p| !p.uses_regex), "{plain}");
    }
}

#[test]
fn edits_keep_to_the_value_limit() {
    let mut store = store();
    store.set_max_value_bytes(16);
    store.kv.set("a", "[1,2]");
    let (reply, _) = call(&mut store, r#"{"KV_UPDATE":{"key":"a","path":"$[*]","value":"0123456"}}"#);
    assert_eq!(reply, r#"{"KV_UPDATE_RSP":{"cnt":0,"st":42}}"#);
    let (reply, _) = call(&mut store, r#"{"KV_ARR_APPEND":{"items":[12345,12345],"key":"a"}}"#);
    assert_eq!(reply, r#"{"KV_ARR_APPEND_RSP":{"st":42}}"#);
    assert_eq!(store.kv.get("a").map(|e| e.value_json().to_vec()), Some(b"[1,2]".to_vec()));
    let (reply, _) = call(&mut store, r#"{"KV_ARR_APPEND":{"items":[12345],"key":"a"}}"#);
    assert_eq!(reply, r#"{"KV_ARR_APPEND_RSP":{"st":1}}"#);
    assert_eq!(store.kv.get("a").map(|e| e.value_json().to_vec()), Some(b"[1,2,12345]".to_vec()));
}
