//! Arrays and lists through the store: one request per iteration, from
//! request text through `decode` and `Store::execute` to reply bytes, no
//! sockets (as `benches/protocol.rs` does for KV).
//!
//! - `arrays`: single commands against arrays of a million full slots
//!   (`IARR`, `STRARR` of 16-byte strings, `OARR` of small objects,
//!   `SIARR`), at random positions;
//! - `lists`: positional commands at the middle of lists of 1,000, 100,000
//!   and 1,000,000 items, to show they do not grow with the length;
//!
//! The costliest commands, at the per-command budget, are timed on the
//! thread's CPU clock by `benches/container_budget.rs`.
//!
//! Run with `cargo bench --bench containers`.

use std::time::Instant;

use common::Rng;
use divan::Bencher;
use ndb::internals::protocol::{Protocol, Reply, decode};
use ndb::internals::store::containers::Limits;
use ndb::internals::store::{ServerInfo, Store};

mod common;

fn main() {
    divan::main();
}

/// Slots in each array of the `arrays` group.
const SLOTS: u64 = 1_000_000;
/// Items per request when filling.
const BATCH: u64 = 10_000;

/// Runs one request as the server does; returns the reply's length (a
/// reply longer than 1 MiB, which the server sends in pieces, is taken
/// from the store whole).
fn exec(store: &mut Store, request: &str, out: &mut Vec<u8>) -> usize {
    out.clear();
    let mut reply = Reply::new(out, Protocol::V07);
    match decode(request) {
        Ok(command) => drop(store.execute(command, Instant::now(), &mut reply)),
        Err(rejection) => reply.rejection(&rejection),
    }
    while let Some((_, mut pieces)) = store.next_reply(Instant::now()) {
        let mut steps = usize::MAX;
        while !pieces.fill(out, usize::MAX, &mut steps) {}
    }
    out.len()
}

/// Runs a request that must succeed.
fn must(store: &mut Store, request: &str) {
    let mut out = Vec::new();
    exec(store, request, &mut out);
    let reply = String::from_utf8_lossy(&out);
    assert!(reply.contains(r#""st":1"#), "{request:.80}: {reply:.200}");
}

/// A store whose limits allow anything up to the work budget.
fn store() -> Store {
    let mut store = Store::new(ServerInfo { persist_enabled: false, persist_path: "d".into() });
    store.set_container_limits(Limits {
        max_capacity: u64::MAX,
        array_max_response: u64::MAX,
        list_max_response: u64::MAX,
    });
    store
}

/// The JSON of item `i` of an array type.
fn item(prefix: &str, i: u64) -> String {
    match prefix {
        "OARR" | "OLST" => format!(r#"{{"id":{i},"v":"x"}}"#),
        "STRARR" | "SSTRARR" => format!(r#""s{i:015}""#),
        _ => i.to_string(),
    }
}

/// Creates `prefix` array `name` of `len` slots and appends `items(i)` for
/// `i` in `0..n`, in batches.
fn fill(store: &mut Store, prefix: &str, name: &str, len: u64, n: u64, items: impl Fn(u64) -> String) {
    must(store, &format!(r#"{{"{prefix}_CREATE":{{"name":"{name}","len":{len}}}}}"#));
    for start in (0..n).step_by(BATCH as usize) {
        let batch: Vec<String> = (start..(start + BATCH).min(n)).map(&items).collect();
        must(store, &format!(r#"{{"{prefix}_SET_RNG":{{"name":"{name}","items":[{}]}}}}"#, batch.join(",")));
    }
}

/// Creates list `name` of `n` items.
fn fill_list(store: &mut Store, name: &str, n: u64) {
    must(store, &format!(r#"{{"OLST_CREATE":{{"name":"{name}"}}}}"#));
    for start in (0..n).step_by(BATCH as usize) {
        let batch: Vec<String> = (start..(start + BATCH).min(n)).map(|i| item("OLST", i)).collect();
        must(store, &format!(r#"{{"OLST_ADD":{{"name":"{name}","items":[{}]}}}}"#, batch.join(",")));
    }
}

/// Requests made by `make` from random numbers below `bound`.
fn requests(bound: u64, make: impl Fn(u64) -> String) -> Vec<String> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..1024).map(|_| make(rng.below(bound))).collect()
}

/// Benches `requests` in turn against `store`.
fn cycle(bencher: Bencher<'_, '_>, mut store: Store, requests: Vec<String>) {
    let mut out = Vec::with_capacity(1 << 16);
    let mut i = 0;
    bencher.bench_local(|| {
        i = (i + 1) % requests.len();
        exec(&mut store, &requests[i], &mut out)
    });
    // What was timed was a success, not a refusal (a 202 is cheap).
    let last = String::from_utf8_lossy(&out);
    assert!(last.is_empty() || last.contains(r#""st":1"#), "{:.80}: {last:.200}", requests[i]);
}

#[divan::bench_group(sample_count = 100, sample_size = 100)]
mod arrays {
    use super::*;

    fn full(prefix: &str) -> Store {
        let mut store = store();
        fill(&mut store, prefix, "a", SLOTS, SLOTS, |i| item(prefix, i));
        store
    }

    #[divan::bench(args = ["IARR", "STRARR", "OARR", "SIARR"])]
    fn get(bencher: Bencher<'_, '_>, prefix: &str) {
        let store = full(prefix);
        cycle(bencher, store, requests(SLOTS, |p| format!(r#"{{"{prefix}_GET":{{"name":"a","pos":{p}}}}}"#)));
    }

    #[divan::bench(args = ["IARR", "STRARR", "OARR"])]
    fn set(bencher: Bencher<'_, '_>, prefix: &str) {
        let store = full(prefix);
        let make = |p| format!(r#"{{"{prefix}_SET":{{"name":"a","pos":{p},"item":{}}}}}"#, item(prefix, p + 1));
        cycle(bencher, store, requests(SLOTS, make));
    }

    #[divan::bench(args = ["IARR", "STRARR", "OARR"])]
    fn set_rng_100(bencher: Bencher<'_, '_>, prefix: &str) {
        let store = full(prefix);
        let make = |p: u64| {
            let items: Vec<String> = (p..p + 100).map(|i| item(prefix, i)).collect();
            format!(r#"{{"{prefix}_SET_RNG":{{"name":"a","pos":{p},"items":[{}]}}}}"#, items.join(","))
        };
        cycle(bencher, store, requests(SLOTS - 100, make));
    }

    #[divan::bench(args = ["IARR", "STRARR", "OARR", "SIARR"])]
    fn get_rng_100(bencher: Bencher<'_, '_>, prefix: &str) {
        let store = full(prefix);
        let make = |p: u64| format!(r#"{{"{prefix}_GET_RNG":{{"name":"a","rng":[{p},{}]}}}}"#, p + 100);
        cycle(bencher, store, requests(SLOTS - 100, make));
    }

    /// A sorted insert into a million items: on average half of them move.
    #[divan::bench(sample_count = 50, sample_size = 1)]
    fn siarr_set(bencher: Bencher<'_, '_>) {
        let mut store = store();
        fill(&mut store, "SIARR", "a", 2 * SLOTS, SLOTS, |i| (2 * i).to_string());
        let make = |v: u64| format!(r#"{{"SIARR_SET":{{"name":"a","item":{}}}}}"#, 2 * v + 1);
        cycle(bencher, store, requests(SLOTS, make));
    }

    /// 100 random items merged into a million.
    #[divan::bench(sample_count = 20, sample_size = 1)]
    fn siarr_set_rng_100(bencher: Bencher<'_, '_>) {
        let mut store = store();
        fill(&mut store, "SIARR", "a", 4 * SLOTS, SLOTS, |i| (2 * i).to_string());
        let make = |seed: u64| {
            let mut rng = Rng(seed | 1);
            let items: Vec<String> = (0..100).map(|_| (2 * rng.below(SLOTS) + 1).to_string()).collect();
            format!(r#"{{"SIARR_SET_RNG":{{"name":"a","items":[{}]}}}}"#, items.join(","))
        };
        cycle(bencher, store, requests(u64::MAX, make));
    }

    /// Two arrays of a million, a tenth of their items in common (as
    /// ndb-bench's `siarr_intersect`; half in common is past the budget).
    #[divan::bench(sample_count = 20, sample_size = 1)]
    fn siarr_intersect(bencher: Bencher<'_, '_>) {
        let mut store = store();
        fill(&mut store, "SIARR", "a", SLOTS, SLOTS, |i| i.to_string());
        fill(&mut store, "SIARR", "b", SLOTS, SLOTS, |i| (SLOTS * 9 / 10 + i).to_string());
        cycle(bencher, store, vec![r#"{"SIARR_INTERSECT":{"srcA":"a","srcB":"b"}}"#.to_owned()]);
    }

    #[divan::bench(args = ["MIN", "MAX"])]
    fn siarr_extremes_100(bencher: Bencher<'_, '_>, op: &str) {
        let store = full("SIARR");
        cycle(bencher, store, vec![format!(r#"{{"SIARR_{op}":{{"name":"a","n":100}}}}"#)]);
    }
}

#[divan::bench_group(sample_count = 100, sample_size = 100)]
mod lists {
    use super::*;

    const LENGTHS: [u64; 3] = [1_000, 100_000, 1_000_000];

    #[divan::bench(args = LENGTHS)]
    fn get_middle(bencher: Bencher<'_, '_>, len: u64) {
        let mut store = store();
        fill_list(&mut store, "l", len);
        cycle(bencher, store, requests(len / 2, |p| format!(r#"{{"OLST_GET":{{"name":"l","pos":{}}}}}"#, len / 4 + p)));
    }

    /// `OLST_ADD` of one item at the middle, then `OLST_RMV` of it: two
    /// requests per iteration.
    #[divan::bench(args = LENGTHS)]
    fn add_and_rmv_middle(bencher: Bencher<'_, '_>, len: u64) {
        let mut store = store();
        fill_list(&mut store, "l", len);
        let requests = requests(len / 2, |p| {
            let at = len / 4 + p;
            format!(
                r#"{{"OLST_ADD":{{"name":"l","items":[{{"new":{at}}}],"pos":{at}}}}}
{{"OLST_RMV":{{"name":"l","rng":[{at},{}]}}}}"#,
                at + 1
            )
        });
        let mut out = Vec::with_capacity(256);
        let mut i = 0;
        bencher.bench_local(|| {
            i = (i + 1) % requests.len();
            let (add, rmv) = requests[i].split_once('\n').unwrap_or_default();
            exec(&mut store, add, &mut out) + exec(&mut store, rmv, &mut out)
        });
    }

    /// `OLST_SPLICE` of 1,000 items from the middle of one list to the
    /// middle of another, and back: two requests per iteration.
    #[divan::bench(args = LENGTHS)]
    fn splice_1000_and_back(bencher: Bencher<'_, '_>, len: u64) {
        let mut store = store();
        fill_list(&mut store, "a", len);
        fill_list(&mut store, "b", len);
        let mid = len / 2 - 500;
        let there = format!(
            r#"{{"OLST_SPLICE":{{"srcName":"a","destName":"b","srcRng":[{mid},{}],"destPos":{mid}}}}}"#,
            mid + 1000
        );
        let back = format!(
            r#"{{"OLST_SPLICE":{{"srcName":"b","destName":"a","srcRng":[{mid},{}],"destPos":{mid}}}}}"#,
            mid + 1000
        );
        let mut out = Vec::with_capacity(256);
        bencher.bench_local(|| exec(&mut store, &there, &mut out) + exec(&mut store, &back, &mut out));
    }

    #[divan::bench(args = LENGTHS)]
    fn get_rng_100(bencher: Bencher<'_, '_>, len: u64) {
        let mut store = store();
        fill_list(&mut store, "l", len);
        let make = |p: u64| format!(r#"{{"OLST_GET_RNG":{{"name":"l","rng":[{p},{}]}}}}"#, p + 100);
        cycle(bencher, store, requests(len - 100, make));
    }
}
