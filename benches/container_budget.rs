//! What the costliest array and list commands cost one loop turn, at the
//! per-command budget (`MAX_WORK_PER_COMMAND`): each command, sized so
//! that its priced work is just within the budget (and a few figures of
//! the issue's sizes beside them),
//! from request text through `decode` and `Store::execute` to reply bytes,
//! timed on the thread's CPU clock (what the turn cost, whatever else the
//! machine runs), best and median of several runs. Prints one table; no
//! divan.
//!
//! Run with `cargo bench --bench container_budget`.

use std::time::{Duration, Instant};

use ndb::internals::protocol::{Protocol, Reply, decode};
use ndb::internals::store::containers::{Element, LIST_ITEM_WRITE_COST, Limits, MAX_WORK_PER_COMMAND, Text};
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

fn exec(store: &mut Store, request: &str, out: &mut Vec<u8>) {
    out.clear();
    let mut reply = Reply::new(out, Protocol::V07);
    match decode(request) {
        Ok(command) => drop(store.execute(command, Instant::now(), &mut reply)),
        Err(rejection) => reply.rejection(&rejection),
    }
}

fn must(store: &mut Store, request: &str) {
    let mut out = Vec::new();
    exec(store, request, &mut out);
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

fn main() {
    let budget = MAX_WORK_PER_COMMAND;
    println!("MAX_WORK_PER_COMMAND = {budget}; CPU time per command (decode + execute + reply)");
    // Work units per item of each type, as the store prices them.
    let sample = Text::new("s000000000000000");
    let costs = |prefix: &str| match prefix {
        "SIARR" | "IARR" => (<i64 as Element>::MOVE_COST, 12),
        "OARR" => (2, 5 + r#"{"id":1000000,"v":"x"}"#.len() as u64 / 4),
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
        let n = budget / moving - 1;
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
    let n = budget / (5 + 1024 / 4);
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

    // The issue's figure: two arrays of a million, half in common.
    let mut s = store();
    fill(&mut s, "SIARR", "a", 1_000_000, 1_000_000, 0);
    fill(&mut s, "SIARR", "b", 1_000_000, 1_000_000, 500_000);
    time(
        "SIARR_INTERSECT 1000000 and 1000000, half in common",
        &mut s,
        r#"{"SIARR_INTERSECT":{"srcA":"a","srcB":"b"}}"#,
        |_| {},
    );
    for prefix in ["IARR", "STRARR", "OARR"] {
        let (moving, _) = costs(prefix);
        let n = budget
            / match prefix {
                "IARR" => <i64 as Element>::WRITE_COST_TYPICAL,
                "STRARR" => <Text as Element>::WRITE_COST_TYPICAL,
                _ => <Option<Box<str>> as Element>::WRITE_COST_TYPICAL,
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
