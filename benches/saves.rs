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
//! - `session_snapshot`: 100,000 sessions of 10 keys each, and 1,000,000
//!   without keys, in one piece (as a save at exit takes it);
//! - `session_snapshot_in_steps`: the same as `SH_SAVE` takes it, one step
//!   per loop turn; `session_snapshot_first_turn`: the first of those
//!   turns, which also marks every live session;
//! - `kv_load_apply`: what a `KV_LOAD` of a million keys costs the loop once
//!   the save thread has read the files into a map: moving that map into an
//!   empty store, or merging it key by key into a store that has keys.
//!
//! Run with `cargo bench --bench saves`.

use std::time::Instant;

use common::run;
use divan::Bencher;
use ndb::internals::store::{KeyMap, Loaded, SNAPSHOT_KEYS_PER_STEP, ServerInfo, Store};

mod common;

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

/// A store of `sessions` sessions expiring in an hour, each holding `keys`
/// keys `"k0":"vvvvvvvvvvvvvvvv"`, ...
fn sessions_store(sessions: usize, keys: usize, now: Instant) -> Store {
    let mut store = Store::new(ServerInfo { persist_enabled: true, persist_path: "d".into() });
    let members: Vec<String> = (0..keys).map(|k| format!(r#""k{k}":"vvvvvvvvvvvvvvvv""#)).collect();
    for _ in 0..sessions {
        let reply = run(&mut store, r#"{"SH_NEW":{"expiry":{"duration":3600}}}"#, now);
        let reply: serde_json::Value = serde_json::from_str(&reply).expect("a JSON reply");
        let token = reply["SH_NEW_RSP"]["tkn"].as_u64().expect("a token");
        if keys > 0 {
            run(&mut store, &format!(r#"{{"SH_SET":{{"keys":{{{}}},"tkn":{token}}}}}"#, members.join(",")), now);
        }
    }
    store
}

/// The shapes of session store measured: (sessions, keys per session).
const SESSION_STORES: [(usize, usize); 2] = [(100_000, 10), (1_000_000, 0)];

/// The whole snapshot in one piece, as a save at exit takes it.
#[divan::bench(args = SESSION_STORES, sample_count = 10, sample_size = 1)]
fn session_snapshot(bencher: Bencher, (sessions, keys): (usize, usize)) {
    let now = Instant::now();
    let mut store = sessions_store(sessions, keys, now);
    bencher.bench_local(|| store.snapshot_sessions(now));
}

/// `SH_SAVE`'s snapshot as the loop takes it: the request, then one step
/// per turn until the job is ready.
#[divan::bench(args = SESSION_STORES, sample_count = 10, sample_size = 1)]
fn session_snapshot_in_steps(bencher: Bencher, (sessions, keys): (usize, usize)) {
    let now = Instant::now();
    let mut store = sessions_store(sessions, keys, now);
    bencher.bench_local(|| {
        assert_eq!(run(&mut store, r#"{"SH_SAVE":{"name":"bench"}}"#, now), "");
        let mut steps = 1;
        while store.next_job().is_none() {
            steps += 1;
        }
        steps
    });
}

/// The first of those turns, the longest: the pass that marks every live
/// session, and the first step.
#[divan::bench(args = SESSION_STORES, sample_count = 10, sample_size = 1)]
fn session_snapshot_first_turn(bencher: Bencher, (sessions, keys): (usize, usize)) {
    let now = Instant::now();
    bencher
        .with_inputs(|| {
            let mut store = sessions_store(sessions, keys, now);
            assert_eq!(run(&mut store, r#"{"SH_SAVE":{"name":"bench"}}"#, now), "");
            store
        })
        .bench_local_refs(|store| store.next_job());
}

#[divan::bench(args = ["into_an_empty_store", "merged_into_one_key"], sample_count = 10, sample_size = 1)]
fn kv_load_apply(bencher: Bencher, case: &str) {
    let loaded = preloaded(1_000_000);
    let now = Instant::now();
    bencher
        .with_inputs(|| {
            let mut store = Store::new(ServerInfo { persist_enabled: true, persist_path: "d".into() });
            if case == "merged_into_one_key" {
                store.apply(Loaded::Kv { map: preloaded(1), read: 1, frames: Vec::new() }, now).expect("fits");
            }
            (store, Loaded::Kv { map: loaded.clone(), read: 1_000_000, frames: Vec::new() })
        })
        .bench_local_values(|(mut store, loaded)| {
            store.apply(loaded, now).expect("fits");
            store
        });
}
