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
//!   its `tags`), and of an array of 10,000 such objects (about 600 KB):
//!   the small one runs on the loop, the large one is the loop's share
//!   (the request; the edit is computed on the save thread, `edit_job`);
//! - `edit_job`: that large edit as the save thread computes it;
//! - `steps`: `JsonPath::evaluate` (the value's text parsed, the path
//!   evaluated with locations, every normalized path written) over a value
//!   of 100,000 nodes, 600 KB; the case prints its step count once;
//! - `attack_on_loop`: what each JSONPath attack costs the loop before it
//!   is refused (202) or handed to the save thread: at most the loop's
//!   allowance of steps;
//! - `regex`: compiling a pattern near the program limit, and a run.
//!
//! Run with `cargo bench --bench jsonpath`.

use std::time::Instant;

use divan::Bencher;
use ndb::internals::protocol::{Protocol, Reply, decode};
use ndb::internals::store::{Executed, JsonPath, ServerInfo, Store};

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
        let executed = execute(&mut store, request, &mut out);
        assert_eq!(executed == Executed::Replied, size == "small");
        store
    });
}

#[divan::bench(args = ["update", "arr_append"], sample_count = 20, sample_size = 1)]
fn edit_job(bencher: Bencher, which: &str) {
    let request = match which {
        "update" => r#"{"KV_UPDATE":{"key":"v","path":"$[5000].n","value":7}}"#,
        _ => r#"{"KV_ARR_APPEND":{"items":[1],"key":"v"}}"#,
    };
    bencher
        .with_inputs(|| {
            let (mut store, _) = edited("10k_items");
            assert!(matches!(execute(&mut store, request, &mut Vec::new()), Executed::Later(_)));
            store.next_job().expect("an edit job").1
        })
        .bench_local_values(|job| ndb::internals::persist::run(std::path::Path::new("/nonexistent"), job));
}

/// A value of 100,000 nodes: 10,000 objects of a number and a list.
fn hundred_thousand_nodes() -> String {
    let item = r#"{"n":123,"tags":["a","b","c","d","e","f","g","h"]}"#;
    format!("[{}]", vec![item; 10_000].join(","))
}

#[divan::bench(args = ["$..*", "$[*].tags[*]", "$[?@.n > 100].tags[?@ == 'h']", "$..[?@ == 'h']"], sample_count = 10)]
fn steps(bencher: Bencher, path: &str) {
    let value = hundred_thousand_nodes();
    let parsed = JsonPath::parse(path).expect("valid");
    let evaluation = parsed.evaluate(&value);
    assert!(evaluation.paths.is_ok());
    eprintln!("{path}: {} steps", evaluation.steps);
    bencher.bench_local(|| parsed.evaluate(&value));
}

/// The attacks of issue 13, each as one request on a store holding its
/// target value: (name, value, request).
fn attacks() -> Vec<(&'static str, String, String)> {
    let nested = format!("{}0{}", "[".repeat(20), "]".repeat(20));
    let explosive = format!("${}", "[0,0,0,0,0,0,0,0]".repeat(8));
    let strings = format!("[{}]", (0..2000).map(|i| format!(r#""item number {i}""#)).collect::<Vec<_>>().join(","));
    let wide = format!("{}[{}]{}", "[".repeat(60), vec!["0"; 1000].join(","), "]".repeat(60));
    vec![
        (
            "multi_selector_find",
            nested.clone(),
            format!(r#"{{"KV_FIND":{{"keys":["v"],"path":"{explosive}","rsp":"keys"}}}}"#),
        ),
        ("multi_selector_update", nested, format!(r#"{{"KV_UPDATE":{{"key":"v","path":"{explosive}","value":1}}}}"#)),
        ("descendants", wide, r#"{"KV_FIND":{"keys":["v"],"path":"$..*..*..*","rsp":"paths"}}"#.to_owned()),
        (
            "nested_filters",
            format!("[{}]", (0..3000).map(|i| i.to_string()).collect::<Vec<_>>().join(",")),
            r#"{"KV_FIND":{"keys":["v"],"path":"$[?count($[?count($[*]) > 0]) > 0]","rsp":"keys"}}"#.to_owned(),
        ),
        (
            "regex_update",
            strings,
            r#"{"KV_UPDATE":{"key":"v","path":"$[?search(@, '(a|aa)*(b|c){10,20}.{40}')]","value":1}}"#.to_owned(),
        ),
    ]
}

#[divan::bench(args = ["multi_selector_find", "multi_selector_update", "descendants", "nested_filters", "regex_update"], sample_count = 20)]
fn attack_on_loop(bencher: Bencher, name: &str) {
    let (_, value, request) = attacks().into_iter().find(|a| a.0 == name).expect("an attack");
    let mut store = store_of(0);
    let set = format!(r#"{{"KV_SET":{{"keys":{{"v":{value}}}}}}}"#);
    assert_eq!(execute(&mut store, &set, &mut Vec::new()), Executed::Replied);
    let mut out = Vec::new();
    bencher.bench_local(|| {
        // Refused at once, or handed to the save thread (dropped here).
        if let Executed::Later(_) = execute(&mut store, &request, &mut out) {
            while store.has_queued_jobs() {
                drop(store.next_job());
            }
        } else {
            assert!(out.ends_with(br#""st":202,"tkn":null}}"#), "{}", String::from_utf8_lossy(&out));
        }
    });
}

#[divan::bench(args = ["compile_large", "run_1k"], sample_count = 20)]
fn regex(bencher: Bencher, which: &str) {
    let text = if which == "compile_large" { "x".repeat(10) } else { "x".repeat(1000) };
    let value = format!(r#"["{text}"]"#);
    // \w{10} compiles to 176 KB, near the 256 KiB program limit.
    let path = match which {
        "compile_large" => JsonPath::parse(r"$[?match(@, '\\w{10}')]"),
        _ => JsonPath::parse("$[?search(@, '.{20}y')]"),
    }
    .expect("valid");
    assert!(path.evaluate(&value).paths.is_ok());
    bencher.bench_local(|| path.evaluate(&value));
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
