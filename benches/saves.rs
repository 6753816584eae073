//! What a save costs the event loop: the snapshot taken at the request,
//! before the save thread takes over. A KV snapshot is one pointer copy and
//! reference-count increment per key; a session snapshot the same per
//! session key, plus one record per session.
//!
//! - `kv_snapshot`: every key of a map of 100,000 or 1,000,000 keys shaped as
//!   `ndb-bench --preload` makes them (`key:000000000123` → a 16-byte
//!   string);
//! - `kv_snapshot_in_steps`: the same, taken as `KV_SAVE` takes it, in
//!   steps of `SNAPSHOT_KEYS_PER_STEP` keys (one step per loop turn); the
//!   stall a turn sees is this time divided by the number of steps;
//! - `session_snapshot`: 100,000 sessions of 10 keys each;
//! - `kv_load_apply`: what a `KV_LOAD` of a million keys costs the loop once
//!   the save thread has read the files into a map: moving that map into an
//!   empty store, or merging it key by key into a store that has keys.
//!
//! Run with `cargo bench --bench saves`.

use std::time::Instant;

use divan::Bencher;
use ndb::protocol::{Protocol, Reply, decode};
use ndb::store::{KeyMap, Loaded, SNAPSHOT_KEYS_PER_STEP, ServerInfo, Store};

fn main() {
    divan::main();
}

fn preloaded(keys: usize) -> KeyMap {
    let mut map = KeyMap::new();
    for i in 0..keys {
        map.set(&format!("key:{i:012}"), "\"vvvvvvvvvvvvvvvv\"");
    }
    map
}

#[divan::bench(args = [100_000, 1_000_000], sample_count = 20, sample_size = 1)]
fn kv_snapshot(bencher: Bencher, keys: usize) {
    let map = preloaded(keys);
    bencher.bench_local(|| map.snapshot());
}

#[divan::bench(args = [1_000_000], sample_count = 20, sample_size = 1)]
fn kv_snapshot_in_steps(bencher: Bencher, keys: usize) {
    let mut map = preloaded(keys);
    bencher.bench_local(|| {
        map.begin_snapshot();
        loop {
            if let Some(snapshot) = map.snapshot_step(SNAPSHOT_KEYS_PER_STEP) {
                return snapshot;
            }
        }
    });
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn session_snapshot(bencher: Bencher) {
    const SESSIONS: usize = 100_000;
    let mut store = Store::new(ServerInfo { persist_enabled: true, persist_path: "d".into() });
    let now = Instant::now();
    let mut out = Vec::new();
    let mut run = |store: &mut Store, request: &str| {
        out.clear();
        let mut reply = Reply::new(&mut out, Protocol::V07);
        match decode(request) {
            Ok(command) => drop(store.execute(command, now, &mut reply)),
            Err(rejection) => reply.rejection(&rejection),
        }
        serde_json::from_slice::<serde_json::Value>(&out).ok()
    };
    for _ in 0..SESSIONS {
        let reply = run(&mut store, r#"{"SH_NEW":{"expiry":{"duration":3600}}}"#);
        let token = reply.and_then(|r| r["SH_NEW_RSP"]["tkn"].as_u64()).expect("a token");
        let keys: Vec<String> = (0..10).map(|k| format!(r#""k{k}":"vvvvvvvvvvvvvvvv""#)).collect();
        run(&mut store, &format!(r#"{{"SH_SET":{{"keys":{{{}}},"tkn":{token}}}}}"#, keys.join(",")));
    }
    bencher.bench_local(|| store.snapshot_sessions(now));
}

#[divan::bench(args = ["into_an_empty_store", "merged_into_one_key"], sample_count = 10, sample_size = 1)]
fn kv_load_apply(bencher: Bencher, case: &str) {
    let loaded = preloaded(1_000_000);
    let now = Instant::now();
    bencher
        .with_inputs(|| {
            let mut store = Store::new(ServerInfo { persist_enabled: true, persist_path: "d".into() });
            if case == "merged_into_one_key" {
                store.apply(Loaded::Kv { map: preloaded(1), read: 1 }, now);
            }
            (store, Loaded::Kv { map: loaded.clone(), read: 1_000_000 })
        })
        .bench_local_values(|(mut store, loaded)| {
            store.apply(loaded, now);
            store
        });
}
