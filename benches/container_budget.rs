//! What the costliest array and list commands cost one loop turn, at the
//! per-command budget (`MAX_WORK_PER_COMMAND`): each command, sized so
//! that its priced work is just within the budget (and a few figures of
//! the issue's sizes beside them),
//! from request text through `decode` and `Store::execute` to reply bytes
//! (a reply longer than 1 MiB is then sent in pieces in later turns,
//! untimed here), timed on the thread's CPU clock (what the turn cost, whatever else the
//! machine runs), best and median of several runs. Prints one table; no
//! divan.
//!
//! Run with `cargo bench --bench container_budget`.

use std::time::{Duration, Instant};

use ndb::internals::protocol::{Protocol, Reply, decode};
use ndb::internals::store::containers::{
    Element, LIST_ITEM_WRITE_COST, Limits, MAX_WORK_PER_COMMAND, Object, Text, merge_work,
};
use ndb::internals::store::{ServerInfo, Store};

/// Runs per case.
const RUNS: usize = 7;
/// Items per request when filling.
const BATCH: u64 = 10_000;

/// This thread's CPU time.
fn cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into the valid pointer given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs one request as the server's turn does: a reply longer than 1 MiB
/// is left in the store, to be sent in pieces in later turns ([`drain`]).
fn exec(store: &mut Store, request: &str, out: &mut Vec<u8>) {
    out.clear();
    let mut reply = Reply::new(out, Protocol::V07);
    match decode(request) {
        Ok(command) => drop(store.execute(command, Instant::now(), &mut reply)),
        Err(rejection) => reply.rejection(&rejection),
    }
}

/// Appends the pieces of a reply [`exec`] left in the store, if any.
fn drain(store: &mut Store, out: &mut Vec<u8>) {
    while let Some((_, mut pieces)) = store.next_reply(Instant::now()) {
        let mut steps = usize::MAX;
        while !pieces.fill(out, usize::MAX, &mut steps) {}
    }
}

fn must(store: &mut Store, request: &str) {
    let mut out = Vec::new();
    exec(store, request, &mut out);
    drain(store, &mut out);
    let reply = String::from_utf8_lossy(&out);
    assert!(reply.contains(r#""st":1"#), "{request:.80}: {reply:.200}");
}

fn store() -> Store {
    let mut store = Store::new(ServerInfo { persist_enabled: false, persist_path: "d".into() });
    store.set_container_limits(Limits {
        max_capacity: u64::MAX,
        array_max_response: u64::MAX,
        list_max_response: u64::MAX,
    });
    store
}

fn item(prefix: &str, i: u64) -> String {
    match prefix {
        "OARR" | "OLST" => format!(r#"{{"id":{i},"v":"x"}}"#),
        "STRARR" | "SSTRARR" => format!(r#""s{i:015}""#),
        _ => i.to_string(),
    }
}

/// Creates `prefix` array `name` of `len` slots holding items `first..first + n`.
fn fill(store: &mut Store, prefix: &str, name: &str, len: u64, n: u64, first: u64) {
    must(store, &format!(r#"{{"{prefix}_CREATE":{{"name":"{name}","len":{len}}}}}"#));
    for start in (0..n).step_by(BATCH as usize) {
        let batch: Vec<String> = (start..(start + BATCH).min(n)).map(|i| item(prefix, first + i)).collect();
        must(store, &format!(r#"{{"{prefix}_SET_RNG":{{"name":"{name}","items":[{}]}}}}"#, batch.join(",")));
    }
}

/// The largest `n` whose `price(n)` (growing with `n`) is within `budget`.
fn largest_within(budget: u64, price: impl Fn(u64) -> u64) -> u64 {
    let (mut low, mut high) = (0, budget);
    while low < high {
        let mid = low + (high - low).div_ceil(2);
        if price(mid) <= budget { low = mid } else { high = mid - 1 }
    }
    low
}

/// The numbers `0..n` dealt at random (a fixed sequence) into two
/// ascending halves.
fn interleaved(n: u64) -> (Vec<u64>, Vec<u64>) {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..n {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        if state & 1 == 0 { a.push(i) } else { b.push(i) }
    }
    (a, b)
}

/// Creates `prefix` array `name` holding exactly the items numbered `numbers`.
fn fill_from(store: &mut Store, prefix: &str, name: &str, numbers: &[u64]) {
    let len = numbers.len().max(1);
    must(store, &format!(r#"{{"{prefix}_CREATE":{{"name":"{name}","len":{len}}}}}"#));
    for batch in numbers.chunks(BATCH as usize) {
        let items: Vec<String> = batch.iter().map(|&i| item(prefix, i)).collect();
        must(store, &format!(r#"{{"{prefix}_SET_RNG":{{"name":"{name}","items":[{}]}}}}"#, items.join(",")));
    }
}

/// Creates `SIARR` `name` of a million slots holding `values`.
fn fill_sorted(store: &mut Store, name: &str, values: impl Iterator<Item = i64>) {
    must(store, &format!(r#"{{"SIARR_CREATE":{{"name":"{name}","len":1000000}}}}"#));
    let values: Vec<String> = values.map(|v| v.to_string()).collect();
    for batch in values.chunks(BATCH as usize) {
        must(store, &format!(r#"{{"SIARR_SET_RNG":{{"name":"{name}","items":[{}]}}}}"#, batch.join(",")));
    }
}

fn fill_list(store: &mut Store, name: &str, n: u64) {
    must(store, &format!(r#"{{"OLST_CREATE":{{"name":"{name}"}}}}"#));
    for start in (0..n).step_by(BATCH as usize) {
        let batch: Vec<String> = (start..(start + BATCH).min(n)).map(|i| item("OLST", i)).collect();
        must(store, &format!(r#"{{"OLST_ADD":{{"name":"{name}","items":[{}]}}}}"#, batch.join(",")));
    }
}

/// Times `request` `RUNS` times (after `reset`, untimed, before each);
/// prints best and median CPU time and the reply size.
fn time(what: &str, store: &mut Store, request: &str, mut reset: impl FnMut(&mut Store)) {
    let mut out = Vec::new();
    let mut times = Vec::new();
    for _ in 0..RUNS {
        reset(store);
        let start = cpu_time();
        exec(store, request, &mut out);
        times.push(cpu_time() - start);
        drain(store, &mut out);
        assert!(out.windows(6).any(|w| w == br#""st":1"#), "{what}: {:.200}", String::from_utf8_lossy(&out));
    }
    times.sort_unstable();
    println!(
        "{what:<58} best {:>9.3?}  median {:>9.3?}  reply {:>6.1} MB",
        times[0],
        times[RUNS / 2],
        out.len() as f64 / 1e6
    );
}

/// Times `request`'s `Store::execute` alone (its decode, bounded by
/// `maxPayload` as every request's is, is left out), once on a fresh
/// store from `setup`, `RUNS` times; prints best and median.
fn time_execute(what: &str, request: &str, setup: impl Fn() -> Store) {
    let mut out = Vec::new();
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let mut store = setup();
        out.clear();
        let mut reply = Reply::new(&mut out, Protocol::V07);
        let Ok(command) = decode(request) else { panic!("{what}: does not decode") };
        let start = cpu_time();
        let _ = store.execute(command, Instant::now(), &mut reply);
        times.push(cpu_time() - start);
        drain(&mut store, &mut out);
        let reply = String::from_utf8_lossy(&out);
        assert!(reply.contains(r#""st":1"#), "{what}: {reply:.200}");
    }
    times.sort_unstable();
    println!("{what:<58} best {:>9.3?}  median {:>9.3?}  (execute only)", times[0], times[RUNS / 2]);
}

/// Times `request`, which the budget refuses (st 202), `RUNS` times: what
/// a refusal costs the turn.
fn time_refused(what: &str, store: &mut Store, request: &str) {
    let mut out = Vec::new();
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let start = cpu_time();
        exec(store, request, &mut out);
        times.push(cpu_time() - start);
        drain(store, &mut out);
        assert!(out.ends_with(br#"{"st":202}}"#), "{what}: {:.200}", String::from_utf8_lossy(&out));
    }
    times.sort_unstable();
    println!("{what:<58} best {:>9.3?}  median {:>9.3?}", times[0], times[RUNS / 2]);
}

fn main() {
    let budget = MAX_WORK_PER_COMMAND;
    println!("MAX_WORK_PER_COMMAND = {budget}; CPU time per command (decode + execute + reply)");
    // Work units per item of each type, as the store prices them.
    let sample = Text::new("s000000000000000");
    let object: Object = Some(r#"{"id":1000000,"v":"x"}"#.into());
    let costs = |prefix: &str| match prefix {
        "SIARR" | "IARR" => (<i64 as Element>::MOVE_COST, 1i64.write_cost()),
        "OARR" => (<Object as Element>::MOVE_COST, object.write_cost()),
        _ => (<Text as Element>::MOVE_COST, sample.write_cost()),
    };
    for prefix in ["SIARR", "SSTRARR"] {
        let (moving, writing) = costs(prefix);
        // Comparisons only: two arrays with nothing in common.
        let n = budget / moving / 2;
        let mut s = store();
        fill(&mut s, prefix, "a", n, n, 0);
        fill(&mut s, prefix, "b", n, n, n);
        let request = format!(r#"{{"{prefix}_INTERSECT":{{"srcA":"a","srcB":"b"}}}}"#);
        time(&format!("{prefix}_INTERSECT {n} and {n}, none in common"), &mut s, &request, |_| {});
        // Comparisons only, the two interleaved at random: the worst case
        // for branch prediction in the merge, a turn every other step
        // (2% below the budget, as the deal is random).
        let switching = if prefix == "SIARR" { <i64 as Element>::SWITCH_COST } else { <Text as Element>::SWITCH_COST };
        let (a, b) = interleaved(budget * 2 / (2 * moving + switching) * 98 / 100);
        let mut s = store();
        fill_from(&mut s, prefix, "a", &a);
        fill_from(&mut s, prefix, "b", &b);
        time(
            &format!("{prefix}_INTERSECT {} and {}, interleaved at random, none in common", a.len(), b.len()),
            &mut s,
            &request,
            |_| {},
        );
        // Comparisons and a reply: half in common.
        let n = budget / (2 * moving + writing / 2);
        let mut s = store();
        fill(&mut s, prefix, "a", n, n, 0);
        fill(&mut s, prefix, "b", n, n, n / 2);
        time(&format!("{prefix}_INTERSECT {n} and {n}, half in common"), &mut s, &request, |_| {});
        let n = budget / writing;
        let mut s = store();
        fill(&mut s, prefix, "a", n, n, 0);
        time(
            &format!("{prefix}_MIN n {n} (all)"),
            &mut s,
            &format!(r#"{{"{prefix}_MIN":{{"name":"a","n":{n}}}}}"#),
            |_| {},
        );
        time(
            &format!("{prefix}_MAX n {n} (all)"),
            &mut s,
            &format!(r#"{{"{prefix}_MAX":{{"name":"a","n":{n}}}}}"#),
            |_| {},
        );
        let work = if prefix == "SIARR" { merge_work::<i64> } else { merge_work::<Text> };
        let n = largest_within(budget, |n| work(1, n, true));
        let mut s = store();
        fill(&mut s, prefix, "a", 2 * n, n, 1_000_000_000);
        let low = item(prefix, 0);
        let request = format!(r#"{{"{prefix}_SET_RNG":{{"name":"a","items":[{low}]}}}}"#);
        let clear = format!(r#"{{"{prefix}_CLEAR":{{"name":"a","rng":[0,1]}}}}"#);
        let mut first = true;
        time(&format!("{prefix}_SET_RNG of 1 below all {n} items"), &mut s, &request, |s| {
            if !first {
                must(s, &clear);
            }
            first = false;
        });
    }
    // Sorted SET_RNG of random items: sorted, then each placed by binary
    // search among the stored items above the smallest (all of them here).
    for prefix in ["SIARR", "SSTRARR"] {
        let (moving, _) = costs(prefix);
        let work = if prefix == "SIARR" { merge_work::<i64> } else { merge_work::<Text> };
        let into = budget / moving / 4;
        let sizes = [
            (largest_within(budget, |n| work(n, 0, false)), 0),
            (largest_within(budget, |n| work(n, into, false)), into),
        ];
        for (n, stored) in sizes {
            let mut state = 0x2545_F491_4F6C_DD1Du64;
            let mut random = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state % 1_000_000_000
            };
            let base: Vec<u64> = (0..stored).map(|_| random()).collect();
            let items: Vec<String> = (0..n).map(|_| item(prefix, random())).collect();
            let request = format!(r#"{{"{prefix}_SET_RNG":{{"name":"a","items":[{}]}}}}"#, items.join(","));
            time_execute(&format!("{prefix}_SET_RNG of {n} random items into {stored}"), &request, || {
                let mut s = store();
                must(&mut s, &format!(r#"{{"{prefix}_CREATE":{{"name":"a","len":{}}}}}"#, n + stored));
                let mut sorted = base.clone();
                sorted.sort_unstable();
                for batch in sorted.chunks(BATCH as usize) {
                    let items: Vec<String> = batch.iter().map(|&i| item(prefix, i)).collect();
                    must(&mut s, &format!(r#"{{"{prefix}_SET_RNG":{{"name":"a","items":[{}]}}}}"#, items.join(",")));
                }
                s
            });
        }
    }
    // Slots written for the first time: fresh memory, page faults.
    for prefix in ["IARR", "STRARR", "OARR"] {
        let (moving, _) = costs(prefix);
        let n = budget / moving;
        let request = format!(r#"{{"{prefix}_SET":{{"name":"a","item":{},"pos":{}}}}}"#, item(prefix, 7), n - 1);
        time_execute(&format!("{prefix}_SET of slot {} of an empty array (all materialised)", n - 1), &request, || {
            let mut s = store();
            must(&mut s, &format!(r#"{{"{prefix}_CREATE":{{"name":"a","len":{n}}}}}"#));
            s
        });
    }
    // Long strings: 1 KiB each, sized by the store's own price.
    let long = Text::new(&"x".repeat(1024));
    let n = budget / long.write_cost();
    let mut s = store();
    must(&mut s, &format!(r#"{{"SSTRARR_CREATE":{{"name":"long","len":{n}}}}}"#));
    for start in (0..n).step_by(1000) {
        let batch: Vec<String> =
            (start..(start + 1000).min(n)).map(|i| format!(r#""{i:08}{}""#, "x".repeat(1016))).collect();
        must(&mut s, &format!(r#"{{"SSTRARR_SET_RNG":{{"name":"long","items":[{}]}}}}"#, batch.join(",")));
    }
    time(
        &format!("SSTRARR_MIN n {n} of 1 KiB strings (all)"),
        &mut s,
        &format!(r#"{{"SSTRARR_MIN":{{"name":"long","n":{n}}}}}"#),
        |_| {},
    );
    let mut s = store();
    let long_object: Object = Some(format!(r#"{{"i":"00000000","v":"{}"}}"#, "x".repeat(1004)).into());
    let n = budget / long_object.write_cost();
    must(&mut s, &format!(r#"{{"OARR_CREATE":{{"name":"long","len":{n}}}}}"#));
    for start in (0..n).step_by(1000) {
        let batch: Vec<String> =
            (start..(start + 1000).min(n)).map(|i| format!(r#"{{"i":"{i:08}","v":"{}"}}"#, "x".repeat(1004))).collect();
        must(&mut s, &format!(r#"{{"OARR_SET_RNG":{{"name":"long","items":[{}]}}}}"#, batch.join(",")));
    }
    time(
        &format!("OARR_GET_RNG of {n} 1 KiB objects (all)"),
        &mut s,
        r#"{"OARR_GET_RNG":{"name":"long","rng":[0]}}"#,
        |_| {},
    );

    // The issue's size: two arrays of a million, a tenth in common (as
    // ndb-bench's siarr_intersect sends), and half in common, which is
    // refused after its comparisons.
    let mut s = store();
    fill_sorted(&mut s, "a", 0..1_000_000);
    fill_sorted(&mut s, "b", 900_000..1_900_000);
    fill_sorted(&mut s, "c", 500_000..1_500_000);
    time(
        "SIARR_INTERSECT 1000000 and 1000000, a tenth in common",
        &mut s,
        r#"{"SIARR_INTERSECT":{"srcA":"a","srcB":"b"}}"#,
        |_| {},
    );
    time_refused(
        "SIARR_INTERSECT 1000000 and 1000000, half in common: 202",
        &mut s,
        r#"{"SIARR_INTERSECT":{"srcA":"a","srcB":"c"}}"#,
    );
    for prefix in ["IARR", "STRARR", "OARR"] {
        let (moving, _) = costs(prefix);
        let n = budget
            / match prefix {
                "IARR" => <i64 as Element>::WRITE_COST_TYPICAL,
                "STRARR" => <Text as Element>::WRITE_COST_TYPICAL,
                _ => <Object as Element>::WRITE_COST_TYPICAL,
            };
        let mut s = store();
        fill(&mut s, prefix, "a", n, n, 0);
        time(
            &format!("{prefix}_GET_RNG of {n} (all)"),
            &mut s,
            &format!(r#"{{"{prefix}_GET_RNG":{{"name":"a","rng":[0]}}}}"#),
            |_| {},
        );
        let n = budget / moving;
        let mut s = store();
        fill(&mut s, prefix, "a", n, n, 0);
        let set = format!(r#"{{"{prefix}_SET":{{"name":"a","item":{},"pos":{}}}}}"#, item(prefix, 7), n - 1);
        time(
            &format!("{prefix}_CLEAR [0,1] of {n} (all move)"),
            &mut s,
            &format!(r#"{{"{prefix}_CLEAR":{{"name":"a","rng":[0,1]}}}}"#),
            |s| must(s, &set),
        );
    }
    let n = budget / LIST_ITEM_WRITE_COST;
    let mut s = store();
    fill_list(&mut s, "l", n);
    time(&format!("OLST_GET_RNG of {n} (all)"), &mut s, r#"{"OLST_GET_RNG":{"name":"l","rng":[0]}}"#, |_| {});
    let splice = format!(r#"{{"OLST_SPLICE":{{"srcName":"l","destName":"m","srcRng":[1,{}]}}}}"#, n - 1);
    let back = r#"{"OLST_SPLICE":{"srcName":"m","destName":"l","srcRng":[0],"destPos":1}}"#;
    let mut first = true;
    time(&format!("OLST_SPLICE of {} items", n - 2), &mut s, &splice, |s| {
        if !first {
            must(s, back);
        }
        first = false;
    });
    for prefix in ["OLST", "OARR", "STRARR"] {
        let mut times = Vec::new();
        for _ in 0..3 {
            let mut s = store();
            if prefix == "OLST" {
                fill_list(&mut s, "x", 1_000_000);
            } else {
                fill(&mut s, prefix, "x", 1_000_000, 1_000_000, 1 << 40);
            }
            let mut out = Vec::new();
            let start = cpu_time();
            exec(&mut s, &format!(r#"{{"{prefix}_DELETE":{{"name":"x"}}}}"#), &mut out);
            times.push(cpu_time() - start);
        }
        times.sort_unstable();
        let what = format!("{prefix}_DELETE of 1,000,000 items (freed off the loop)");
        println!("{what:<58} best {:>9.3?}  median {:>9.3?}", times[0], times[1]);
    }
}
