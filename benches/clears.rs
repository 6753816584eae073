//! What emptying a large store costs the event loop: the time
//! `Store::execute` takes for each command, from request text to reply
//! bytes. The maps removed are freed on the `ndb-free` thread
//! (`src/store/reclaim.rs`), so these are the loop's share only.
//!
//! - `kv_clear`: `KV_CLEAR` of 1,000,000 keys (16-byte keys and values);
//! - `sh_end_all`: `SH_END_ALL` of 1,000,000 expiring sessions holding two
//!   small keys each;
//! - `sh_end_large_session`: `SH_END` of one session holding 100,000 keys.
//!
//! Run with `cargo bench --bench clears`.

use std::time::Instant;

use common::run;
use divan::Bencher;
use ndb::internals::store::{ServerInfo, Store};

mod common;

fn main() {
    divan::main();
}

fn empty_store() -> Store {
    Store::new(ServerInfo { persist_enabled: false, persist_path: "d".into() })
}

/// `n` keys `key:000000000042` → `"xxxxxxxxxxxxxxxx"`, set 10,000 per
/// request, in `KV_SET` or (with `token`) `SH_SET`.
fn fill(store: &mut Store, n: usize, token: Option<u64>, now: Instant) {
    for batch in 0..n.div_ceil(10_000) {
        let members: Vec<String> = (batch * 10_000..((batch + 1) * 10_000).min(n))
            .map(|i| format!(r#""key:{i:012}":"xxxxxxxxxxxxxxxx""#))
            .collect();
        let request = match token {
            None => format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, members.join(",")),
            Some(t) => format!(r#"{{"SH_SET":{{"keys":{{{}}},"tkn":{t}}}}}"#, members.join(",")),
        };
        assert!(run(store, &request, now).ends_with(r#""st":1}}"#));
    }
}

/// A new session's token.
fn new_session(store: &mut Store, now: Instant) -> u64 {
    let reply = run(store, r#"{"SH_NEW":{"expiry":{"duration":3600,"deleteSession":true}}}"#, now);
    let reply: serde_json::Value = serde_json::from_str(&reply).expect("JSON reply");
    reply["SH_NEW_RSP"]["tkn"].as_u64().expect("a token")
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn kv_clear(bencher: Bencher) {
    let now = Instant::now();
    bencher
        .with_inputs(|| {
            let mut store = empty_store();
            fill(&mut store, 1_000_000, None, now);
            store
        })
        .bench_local_refs(|store| {
            let reply = run(store, r#"{"KV_CLEAR":{}}"#, now);
            assert_eq!(reply, r#"{"KV_CLEAR_RSP":{"cnt":1000000,"st":1}}"#);
        });
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn sh_end_all(bencher: Bencher) {
    bencher
        .with_inputs(|| {
            let now = Instant::now();
            let mut store = empty_store();
            for _ in 0..1_000_000 {
                let token = new_session(&mut store, now);
                let request = format!(r#"{{"SH_SET":{{"keys":{{"user":"u-12345","n":7}},"tkn":{token}}}}}"#);
                run(&mut store, &request, now);
            }
            // The server's loop runs expiry every turn, keeping the wheel's
            // time current; do the same before timing.
            store.expire(Instant::now());
            store
        })
        .bench_local_refs(|store| {
            let reply = run(store, r#"{"SH_END_ALL":{}}"#, Instant::now());
            assert_eq!(reply, r#"{"SH_END_ALL_RSP":{"cnt":1000000,"st":1}}"#);
        });
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn sh_end_large_session(bencher: Bencher) {
    let now = Instant::now();
    bencher
        .with_inputs(|| {
            let mut store = empty_store();
            let token = new_session(&mut store, now);
            fill(&mut store, 100_000, Some(token), now);
            (store, format!(r#"{{"SH_END":{{"tkn":{token}}}}}"#))
        })
        .bench_local_refs(|(store, request)| {
            let reply = run(store, request, now);
            assert!(reply.starts_with(r#"{"SH_END_RSP":{"st":1"#), "{reply}");
        });
}
