//! What the JSONPath commands cost the event loop, through `Store::execute`
//! as the server runs them (decoding included):
//!
//! - `find_inline`: a `KV_FIND` with a filter path over every key of a
//!   store of 700 keys whose values are shaped `{"n":123,"tags":["a","b"]}`:
//!   31.5 KB of keys and values, just below `FIND_INLINE_MAX_BYTES`, so the
//!   most a search does on the loop;
//! - `find_job_request`: the loop's share of a `KV_FIND` over 1,000,000
//!   such keys: the request and every snapshot step (the search itself runs
//!   on the save thread; its cost is `find_search`);
//! - `find_search`: that search, as the save thread runs it, reply written;
//! - `update` and `arr_append`: one edit of a small object (a member, and
//!   its `tags`), and of an array of 10,000 such objects (about 600 KB).
//!
//! Run with `cargo bench --bench jsonpath`.

use std::time::Instant;

use divan::Bencher;
use ndb::internals::protocol::{Protocol, Reply, decode};
use ndb::internals::store::{Executed, ServerInfo, Store};

fn main() {
    divan::main();
}

const FIND: &str = r#"{"KV_FIND":{"path":"$.tags[?@ == 'c']","rsp":"keys"}}"#;

fn store_of(keys: usize) -> Store {
    let mut store = Store::new(ServerInfo { persist_enabled: false, persist_path: "d".into() });
    for batch in 0..keys.div_ceil(10_000) {
        let members: Vec<String> = (batch * 10_000..((batch + 1) * 10_000).min(keys))
            .map(|i| format!(r#""key:{i:012}":{{"n":{i},"tags":["a","{}"]}}"#, if i % 100 == 0 { "c" } else { "b" }))
            .collect();
        let set = format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, members.join(","));
        assert_eq!(execute(&mut store, &set, &mut Vec::new()), Executed::Replied);
    }
    store
}

fn execute(store: &mut Store, request: &str, out: &mut Vec<u8>) -> Executed {
    out.clear();
    let mut reply = Reply::new(out, Protocol::V07);
    match decode(request) {
        Ok(command) => store.execute(command, Instant::now(), &mut reply),
        Err(rejection) => {
            reply.rejection(&rejection);
            Executed::Replied
        }
    }
}

#[divan::bench(sample_count = 50)]
fn find_inline(bencher: Bencher) {
    let mut store = store_of(700);
    let mut out = Vec::new();
    bencher.bench_local(|| assert_eq!(execute(&mut store, FIND, &mut out), Executed::Replied));
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn find_job_request(bencher: Bencher) {
    let mut store = store_of(1_000_000);
    let mut out = Vec::new();
    bencher.bench_local(|| {
        assert!(matches!(execute(&mut store, FIND, &mut out), Executed::Later(_)));
        loop {
            if let Some((_, job)) = store.next_job() {
                return job;
            }
        }
    });
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn find_search(bencher: Bencher) {
    let mut store = store_of(1_000_000);
    let mut out = Vec::new();
    bencher
        .with_inputs(|| {
            assert!(matches!(execute(&mut store, FIND, &mut out), Executed::Later(_)));
            loop {
                if let Some((_, job)) = store.next_job() {
                    return job;
                }
            }
        })
        .bench_local_values(|job| ndb::internals::persist::run(std::path::Path::new("/nonexistent"), job));
}

#[divan::bench(args = ["small", "10k_items"], sample_count = 20)]
fn update(bencher: Bencher, size: &str) {
    let (mut store, path) = edited(size);
    let request = format!(r#"{{"KV_UPDATE":{{"key":"v","path":"{path}","value":7}}}}"#);
    let mut out = Vec::new();
    bencher.bench_local(|| execute(&mut store, &request, &mut out));
}

#[divan::bench(args = ["small", "10k_items"], sample_count = 20, sample_size = 1)]
fn arr_append(bencher: Bencher, size: &str) {
    let mut out = Vec::new();
    bencher.with_inputs(|| edited(size).0).bench_local_values(|mut store| {
        let request = r#"{"KV_ARR_APPEND":{"items":[1],"key":"v","name":"tags"}}"#;
        let request = if size == "small" { request } else { r#"{"KV_ARR_APPEND":{"items":[1],"key":"v"}}"# };
        assert_eq!(execute(&mut store, request, &mut out), Executed::Replied);
        store
    });
}

/// A store holding `v`: one object, or an array of 10,000 (about 600 KB);
/// and a path selecting one node in it.
fn edited(size: &str) -> (Store, &'static str) {
    let mut store = store_of(0);
    let item = r#"{"n":123,"tags":["a","b"],"name":"some text here","on":true}"#;
    let (value, path) = match size {
        "small" => (item.to_owned(), "$.n"),
        _ => (format!("[{}]", vec![item; 10_000].join(",")), "$[5000].n"),
    };
    let set = format!(r#"{{"KV_SET":{{"keys":{{"v":{value}}}}}}}"#);
    assert_eq!(execute(&mut store, &set, &mut Vec::new()), Executed::Replied);
    (store, path)
}
