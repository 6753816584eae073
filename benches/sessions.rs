//! Session commands through the store, the way the server runs them: request
//! text → `decode` → `Store::execute` → reply bytes (no sockets, no frames).
//!
//! - `sh_set` / `sh_get` / `sh_new`: one request per iteration against a
//!   store holding a thousand or a million sessions, each SET/GET on a
//!   random session;
//! - `mass_expiry_200k`: 200,000 sessions due in the same second, drained
//!   the way the server's loop does it (`Store::expire` once per turn, each
//!   turn within the per-turn budget). One iteration drains them all, so its
//!   time divided by 200,000 is the cost of expiring one session.
//!
//! Run with `cargo bench --bench sessions`.

use std::time::{Duration, Instant};

use common::Rng;
use divan::Bencher;
use ndb::internals::protocol::{Protocol, Reply, decode};
use ndb::internals::store::{ServerInfo, Store};

mod common;

fn main() {
    divan::main();
}

/// Live sessions in the store the request benchmarks run against: a
/// thousand (everything in cache) and a million (most lookups miss it).
const LIVE: [usize; 2] = [1_000, 1_000_000];
/// Distinct prepared requests cycled through (random sessions).
const REQUESTS: usize = 1 << 16;
/// Sessions in the mass-expiry benchmark.
const MASS: usize = 200_000;

/// Runs one request and returns the reply's length (so nothing is optimised
/// away); `out` is reused like a connection's output buffer.
fn run(store: &mut Store, request: &str, now: Instant, out: &mut Vec<u8>) -> usize {
    out.clear();
    let mut reply = Reply::new(out, Protocol::V07);
    match decode(request) {
        Ok(command) => drop(store.execute(command, now, &mut reply)),
        Err(rejection) => reply.rejection(&rejection),
    }
    out.len()
}

/// A store with `n` sessions, each created with `body`; returns their tokens.
fn store_with(n: usize, body: &str, now: Instant) -> (Store, Vec<u64>) {
    let mut store = Store::new(ServerInfo { persist_enabled: false, persist_path: "d".into() });
    let mut out = Vec::new();
    let request = format!(r#"{{"SH_NEW":{body}}}"#);
    let tokens = (0..n)
        .map(|_| {
            run(&mut store, &request, now, &mut out);
            let reply: serde_json::Value = serde_json::from_slice(&out).expect("JSON reply");
            reply["SH_NEW_RSP"]["tkn"].as_u64().expect("a token")
        })
        .collect();
    (store, tokens)
}

/// Requests built by `make` for random sessions among `tokens`.
fn requests(tokens: &[u64], make: impl Fn(u64) -> String) -> Vec<String> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..REQUESTS).map(|_| make(tokens[rng.below(tokens.len() as u64) as usize])).collect()
}

/// `SH_SET` of two small keys on a random session.
#[divan::bench(args = LIVE, sample_count = 50, sample_size = 10_000)]
fn sh_set(bencher: Bencher, live: usize) {
    let now = Instant::now();
    let (mut store, tokens) = store_with(live, r#"{"expiry":{"duration":3600,"extendOnSetAdd":true}}"#, now);
    let requests = requests(&tokens, |t| format!(r#"{{"SH_SET":{{"keys":{{"user":"u-12345","n":7}},"tkn":{t}}}}}"#));
    let mut out = Vec::with_capacity(256);
    let mut i = 0;
    bencher.bench_local(|| {
        i = (i + 1) % REQUESTS;
        run(&mut store, &requests[i], now, &mut out)
    });
}

/// `SH_GET` of two keys on a random session, each holding the keys `SH_SET`
/// writes.
#[divan::bench(args = LIVE, sample_count = 50, sample_size = 10_000)]
fn sh_get(bencher: Bencher, live: usize) {
    let now = Instant::now();
    let (mut store, tokens) = store_with(live, r#"{"expiry":{"duration":3600,"extendOnGet":true}}"#, now);
    let mut out = Vec::new();
    for t in &tokens {
        run(&mut store, &format!(r#"{{"SH_SET":{{"keys":{{"user":"u-12345","n":7}},"tkn":{t}}}}}"#), now, &mut out);
    }
    let requests = requests(&tokens, |t| format!(r#"{{"SH_GET":{{"keys":["user","n"],"tkn":{t}}}}}"#));
    let mut i = 0;
    bencher.bench_local(|| {
        i = (i + 1) % REQUESTS;
        run(&mut store, &requests[i], now, &mut out)
    });
}

/// `SH_NEW` with an expiry, into a store that already holds a million.
#[divan::bench(sample_count = 50, sample_size = 10_000)]
fn sh_new(bencher: Bencher) {
    let now = Instant::now();
    let (mut store, _) = store_with(1_000_000, r#"{"expiry":{"duration":3600}}"#, now);
    let mut out = Vec::with_capacity(256);
    let request = r#"{"SH_NEW":{"expiry":{"duration":3600,"deleteSession":true}}}"#;
    bencher.bench_local(|| run(&mut store, request, now, &mut out));
}

/// 200,000 sessions created over one second (200 per millisecond) expire over
/// the same second; the server's loop drains them one budgeted turn at a time,
/// sleeping until the store's next deadline in between.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn mass_expiry_200k(bencher: Bencher) {
    bencher
        .with_inputs(|| {
            let t0 = Instant::now();
            let mut store = Store::new(ServerInfo { persist_enabled: false, persist_path: "d".into() });
            let mut out = Vec::new();
            for i in 0..MASS {
                let at = t0 + Duration::from_micros(i as u64 * 1_000_000 / MASS as u64);
                run(&mut store, r#"{"SH_NEW":{"expiry":{"duration":2,"deleteSession":true}}}"#, at, &mut out);
            }
            (store, t0)
        })
        .bench_local_values(|(mut store, t0)| {
            let mut now = t0;
            while let Some(next) = store.next_deadline() {
                now = now.max(next);
                store.expire(now);
            }
            assert!(store.sessions().is_empty());
            store
        });
}
