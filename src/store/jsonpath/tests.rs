//! The JSONPath commands through `Store::execute`: where a `KV_FIND` runs
//! (on the loop or as a job), that both give the same reply, that a job
//! searches the map as it was when asked, and how paths are measured.

use std::time::Instant;

use super::*;
use crate::protocol::{Protocol, decode};

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
                    if let Some((_, job)) = store.next_job() {
                        let done = crate::persist::run(std::path::Path::new("/nonexistent/ndb-tests"), job);
                        store.finish(done, now, &mut reply);
                    }
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
fn costly_paths_and_large_searches_are_jobs_with_the_same_replies() {
    let mut store = store();
    fill(&mut store, 10);
    for path in ["$..*..*", "$[?@[?@ == 'a']]", "$.tags[?match(@, 'a')]", "$[?@..*]"] {
        let (reply, later) = call(&mut store, &format!(r#"{{"KV_FIND":{{"path":"{path}","rsp":"keys"}}}}"#));
        assert!(later, "{path}");
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
    let (_, job) = loop {
        if let Some(job) = store.next_job() {
            break job;
        }
    };
    let done = crate::persist::run(std::path::Path::new("/nonexistent/ndb-tests"), job);
    store.finish(done, Instant::now(), &mut reply);
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
    store.finish(done, Instant::now(), &mut Reply::new(&mut out, Protocol::V07));
    assert_eq!(String::from_utf8(out).unwrap(), r#"{"KV_FIND_RSP":{"st":1000}}"#);
}

#[test]
fn paths_are_measured_before_they_are_parsed() {
    assert_eq!(
        Shape::of("$.a['(b[', \"x\\\"]\"][?@..c && match(@.d, 'e')]..f"),
        Shape { nesting: 2, brackets: 1, descendants: 2, descends_in_filter: true, regex: true }
    );
    assert_eq!(Shape::of("$"), Shape::default());
    let deep_parens = format!("$[?{}@.a{}]", "(".repeat(MAX_PATH_NESTING), ")".repeat(MAX_PATH_NESTING));
    assert!(compile(&deep_parens).is_none());
    let ok_parens = format!("$[?{}@.a{}]", "(".repeat(MAX_PATH_NESTING - 1), ")".repeat(MAX_PATH_NESTING - 1));
    assert!(compile(&ok_parens).is_some_and(|c| c.linear));
    let filters = |n: usize| format!("${}.a{}", "[?@".repeat(n), "]".repeat(n));
    assert!(compile(&filters(MAX_PATH_BRACKETS)).is_some_and(|c| !c.linear));
    assert!(compile(&filters(MAX_PATH_BRACKETS + 1)).is_none());
    // Thousands of levels would overflow the parser's stack; they never reach it.
    assert!(compile(&format!("$[?{}@.a{}]", "(".repeat(100_000), ")".repeat(100_000))).is_none());
    assert!(compile(&filters(10_000)).is_none());
    for linear in ["$", "$.a.b[0]", "$..a", "$[?@.n > 1]", "$.a[1:5:2]", "$[?length(@.a) > 1]"] {
        assert!(compile(linear).is_some_and(|c| c.linear), "{linear}");
    }
    for costly in ["$..a..b", "$[?@..a]", "$[?@[?@.b]]", "$[?search(@, 'a')]"] {
        assert!(compile(costly).is_some_and(|c| !c.linear), "{costly}");
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
