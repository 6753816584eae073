//! The longest single turn while the store grows and while a load merges,
//! which a throughput benchmark cannot show. Prints histograms; no divan.
//!
//! - `grow`: 10,000,000 `KV_SET`s of one new key each through `decode` and
//!   `Store::execute`, 64 per turn (the server's `messagesPerTurn`), each
//!   turn ending with `Store::work` as the server's does. The key map's index
//!   doubles 22 times on the way (and its slots never move).
//! - `sessions`: 2,000,000 `SH_NEW`s, 64 per turn: the session table grows
//!   the same way.
//! - `load`: a `KV_LOAD` of 4,000,000 keys (read off the loop, as the save
//!   thread does) into a store of 1,000,000 keys, half of which it
//!   overwrites, while a client keeps sending 64 requests per turn (a
//!   `KV_GET`, a `KV_SET` and a `KV_COUNT` in turn; `load BASE LOADED 0`
//!   for none); turns run until the merge is done.
//! - `session-saves`: 1,000,000 sessions of one key each, then an
//!   `SH_SAVE` of every session (its snapshot taken as the loop takes it,
//!   until the job is ready), `SH_END_ALL`, and an `SH_LOAD` of what the
//!   save holds (read off the loop, as the save thread does), turns running
//!   until it is answered; a client sends 64 `SH_GET`s and `SH_SET`s of
//!   random sessions per turn all along (`session-saves N 0` for none).
//!
//! Every request and every turn is timed: requests on the wall clock, turns
//! on the thread's CPU clock (what the turn cost) and the wall clock (what a
//! client waited, preemption by other processes included). The histogram
//! counts them by decade; no turn should reach 10 ms.
//!
//! Also, for instruction counts: `ops set` and `ops get` run 200,000
//! `KV_SET`s or `KV_GET`s of random keys among 100,000 (as
//! `benches/protocol.rs` does) inside `measured`, for
//! `valgrind --tool=callgrind --toggle-collect=growth::measured`; and
//! `memory N` prints the heap the store's key map takes per key at `N` keys.
//!
//! Run with `cargo bench --bench growth` (the first four scenarios), or
//! `cargo bench --bench growth -- grow|sessions|load|session-saves|ops|memory [N]`.
//! `GROWTH_TRACE=1` also prints each turn over 1 ms of CPU as it happens.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ndb::internals::protocol::{Protocol, Reply, Verb, decode};
use ndb::internals::store::{Done, Finished, KeyMap, Loaded, Merging, Outcome, ServerInfo, Snapshot, Store, Work};

mod common;

/// Requests per turn: the server's default `messagesPerTurn`.
const TURN: usize = 64;

/// This thread's CPU time.
fn cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into the valid pointer given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs one request the way the server does.
fn run(store: &mut Store, request: &str, now: Instant, out: &mut Vec<u8>) {
    out.clear();
    let mut reply = Reply::new(out, Protocol::V07);
    match decode(request) {
        Ok(command) => drop(store.execute(command, now, &mut reply)),
        Err(rejection) => reply.rejection(&rejection),
    }
}

fn set_request(key: u64) -> String {
    format!(r#"{{"KV_SET":{{"keys":{{"key:{key:012}":"xxxxxxxxxxxxxxxx"}}}}}}"#)
}

fn get_request(key: u64) -> String {
    format!(r#"{{"KV_GET":{{"keys":["key:{key:012}"]}}}}"#)
}

fn empty_store() -> Store {
    Store::new(ServerInfo { persist_enabled: false, persist_path: "d".into() })
}

/// Durations of requests and turns.
struct Turns {
    requests: Histogram<u64>,
    cpu: Histogram<u64>,
    wall: Histogram<u64>,
    /// CPU time of every turn together.
    total: Duration,
}

impl Turns {
    fn new() -> Turns {
        let histogram = || Histogram::new_with_bounds(1, 600_000_000_000, 3).expect("valid bounds");
        Turns { requests: histogram(), cpu: histogram(), wall: histogram(), total: Duration::ZERO }
    }

    /// Times one turn: `f` runs it, timing its requests through `time`.
    fn turn(&mut self, f: impl FnOnce(&mut dyn FnMut(&mut dyn FnMut()))) {
        let (cpu, wall) = (cpu_time(), Instant::now());
        let requests = &mut self.requests;
        f(&mut |request: &mut dyn FnMut()| {
            let start = Instant::now();
            request();
            requests.saturating_record(start.elapsed().as_nanos() as u64);
        });
        let spent = cpu_time() - cpu;
        if spent > Duration::from_millis(1) && std::env::var_os("GROWTH_TRACE").is_some() {
            eprintln!("slow turn: {spent:?} CPU, turn {}", self.cpu.len());
        }
        self.cpu.saturating_record(spent.as_nanos() as u64);
        self.total += spent;
        self.wall.saturating_record(wall.elapsed().as_nanos() as u64);
    }

    fn print(&self, what: &str) {
        println!("{what}; {:.2?} of CPU in all", self.total);
        println!(
            "  {:<16} {:>10} {:>10} {:>10} {:>9} {:>8} {:>7} {:>10} {:>10}",
            "", "n", "<10us", "<100us", "<1ms", "<10ms", ">=10ms", "p99.99", "max"
        );
        let rows = [("request (wall)", &self.requests), ("turn (CPU)", &self.cpu), ("turn (wall)", &self.wall)];
        for (name, h) in rows {
            let decade = |from: u64, to: u64| h.count_between(from, to - 1);
            println!(
                "  {name:<16} {:>10} {:>10} {:>10} {:>9} {:>8} {:>7} {:>10.3?} {:>10.3?}",
                h.len(),
                decade(0, 10_000),
                decade(10_000, 100_000),
                decade(100_000, 1_000_000),
                decade(1_000_000, 10_000_000),
                h.count_between(10_000_000, u64::MAX),
                Duration::from_nanos(h.value_at_quantile(0.9999)),
                Duration::from_nanos(h.max()),
            );
        }
    }
}

/// Grows the store to `n` keys, one new key per `KV_SET`.
fn grow(n: u64) {
    let now = Instant::now();
    let mut store = empty_store();
    let mut out = Vec::new();
    let mut turns = Turns::new();
    let mut key = 0;
    while key < n {
        let requests: Vec<String> = (key..(key + TURN as u64).min(n)).map(set_request).collect();
        key += requests.len() as u64;
        turns.turn(|time| {
            for request in &requests {
                time(&mut || run(&mut store, request, now, &mut out));
            }
            store.work(now);
        });
    }
    assert_eq!(store.kv().len() as u64, n);
    turns.print(&format!(
        "grow to {n} keys: KV_SET of one new key per request, {TURN} requests and Store::work per turn"
    ));
}

/// Creates `n` sessions, one per `SH_NEW`.
fn sessions(n: usize) {
    let now = Instant::now();
    let mut store = empty_store();
    let mut out = Vec::new();
    let mut turns = Turns::new();
    let request = r#"{"SH_NEW":{"expiry":{"duration":3600,"deleteSession":true}}}"#;
    let mut made = 0;
    while made < n {
        let batch = TURN.min(n - made);
        made += batch;
        turns.turn(|time| {
            for _ in 0..batch {
                time(&mut || run(&mut store, request, now, &mut out));
            }
            store.work(now);
        });
    }
    assert_eq!(store.session_count(), n);
    turns.print(&format!("{n} sessions: SH_NEW per request, {TURN} requests and Store::work per turn"));
}

/// Loads `loaded` keys into a store of `base` keys, half of them shared,
/// beside a client sending `per_turn` requests per turn.
fn load(base: u64, loaded: u64, per_turn: usize) {
    let now = Instant::now();
    let mut store = empty_store();
    let mut out = Vec::new();
    for key in 0..base {
        run(&mut store, &set_request(key), now, &mut out);
    }
    let mut map = KeyMap::new();
    for key in base / 2..base / 2 + loaded {
        map.set(&format!("key:{key:012}"), "\"yyyyyyyyyyyyyyyy\"");
    }
    let mut rng = common::Rng(0x9e37_79b9_7f4a_7c15);
    let mut client = move |i: usize| match i % 3 {
        0 => get_request(rng.below(base + loaded)),
        1 => set_request(rng.below(base + loaded)),
        _ => r#"{"KV_COUNT":{}}"#.to_string(),
    };
    let done = Done {
        verb: Verb::KvLoad,
        name: "n".into(),
        outcome: Outcome::Loaded(Ok((Loaded::Kv { map, read: loaded as usize, frames: Vec::new() }, Duration::ZERO))),
        unix_ms: 0,
    };
    let mut turns = Turns::new();
    let (mut count, mut turn, mut in_effect) = (0, 0, None);
    let mut finished = None;
    let mut done = Some(done);
    let started = Instant::now();
    while store.has_queued_jobs() || done.is_some() {
        let requests: Vec<String> = (0..per_turn).map(|i| client(count + i)).collect();
        count += per_turn;
        turn += 1;
        turns.turn(|time| {
            for request in &requests {
                time(&mut || run(&mut store, request, now, &mut out));
            }
            if let Some(done) = done.take() {
                out.clear();
                finished = Some(store.finish(1, done, now, &mut Reply::new(&mut out, Protocol::V07)));
            }
            store.work(now);
            out.clear();
            if store.take_applied(&mut Reply::new(&mut out, Protocol::V07)).is_some() {
                in_effect = Some((turn, started.elapsed()));
            }
        });
    }
    assert_eq!(finished, Some(Finished::Merging));
    assert_eq!(store.kv().merging(), Merging::Done);
    let (effect, at) = in_effect.expect("the load took effect");
    turns.print(&format!(
        "KV_LOAD of {loaded} keys into {base} ({} shared) beside {per_turn} requests per turn: \
         in effect after {effect} turns ({at:.2?}), merged after {turn} turns ({:.2?})",
        base / 2,
        started.elapsed()
    ));
    // Nothing removes keys here: every key of the store and of the load is in.
    assert!((0..base / 2 + loaded).all(|key| store.kv().contains(&format!("key:{key:012}"))));
}

/// A session's token from an `SH_NEW` reply.
fn token_of(reply: &[u8]) -> u64 {
    let text = std::str::from_utf8(reply).expect("UTF-8");
    let at = text.find("\"tkn\":").expect("a token") + 6;
    text[at..].trim_end_matches('}').parse().expect("a number")
}

/// Saves `n` sessions of one key each and loads them back, beside a client
/// sending `per_turn` requests per turn.
fn session_saves(n: usize, per_turn: usize) {
    let now = Instant::now();
    let mut store = Store::new(ServerInfo { persist_enabled: true, persist_path: "d".into() });
    let mut out = Vec::new();
    let mut tokens = Vec::with_capacity(n);
    for _ in 0..n {
        run(&mut store, r#"{"SH_NEW":{"expiry":{"duration":3600}}}"#, now, &mut out);
        let token = token_of(&out);
        run(&mut store, &format!(r#"{{"SH_SET":{{"keys":{{"k":"vvvvvvvvvvvvvvvv"}},"tkn":{token}}}}}"#), now, &mut out);
        tokens.push(token);
    }
    let mut rng = common::Rng(0x9e37_79b9_7f4a_7c15);
    let mut client = move |i: usize| {
        let token = tokens[rng.below(tokens.len() as u64) as usize];
        match i % 2 {
            0 => format!(r#"{{"SH_GET":{{"keys":["k"],"tkn":{token}}}}}"#),
            _ => format!(r#"{{"SH_SET":{{"keys":{{"k":"wwwwwwwwwwwwwwww"}},"tkn":{token}}}}}"#),
        }
    };
    let mut count = 0;
    let mut requests = |count: &mut usize| {
        let batch: Vec<String> = (0..per_turn).map(|i| client(*count + i)).collect();
        *count += per_turn;
        batch
    };

    // The save: the request, then a step per turn until the job is ready.
    let mut turns = Turns::new();
    run(&mut store, r#"{"SH_SAVE":{"name":"n"}}"#, now, &mut out);
    let mut job = None;
    while job.is_none() {
        let batch = requests(&mut count);
        turns.turn(|time| {
            for request in &batch {
                time(&mut || run(&mut store, request, now, &mut out));
            }
            job = store.next_job();
            store.work(now);
        });
    }
    let Some((_, job)) = job else { unreachable!() };
    let Work::Save(Snapshot::Sessions(records)) = job.work else { panic!("a session save") };
    assert_eq!(records.len(), n);
    turns.print(&format!(
        "SH_SAVE of {n} sessions of one key beside {per_turn} requests per turn: snapshot ready after {} turns",
        turns.cpu.len()
    ));

    // The load, into a store whose sessions have ended.
    run(&mut store, r#"{"SH_END_ALL":{}}"#, now, &mut out);
    let done = Done {
        verb: Verb::ShLoad,
        name: "n".into(),
        outcome: Outcome::Loaded(Ok((Loaded::Sessions(records), Duration::ZERO))),
        unix_ms: 0,
    };
    let mut turns = Turns::new();
    let mut done = Some(done);
    let mut answered = false;
    while !answered {
        let batch = requests(&mut count);
        turns.turn(|time| {
            for request in &batch {
                time(&mut || run(&mut store, request, now, &mut out));
            }
            if let Some(done) = done.take() {
                out.clear();
                answered = store.finish(2, done, now, &mut Reply::new(&mut out, Protocol::V07)) == Finished::Replied;
            }
            store.work(now);
            out.clear();
            answered |= store.take_applied(&mut Reply::new(&mut out, Protocol::V07)).is_some();
        });
    }
    assert_eq!(store.session_count(), n);
    turns.print(&format!(
        "SH_LOAD of {n} sessions of one key beside {per_turn} requests per turn: answered after {} turns",
        turns.cpu.len()
    ));
}

/// The requests whose instructions `ops` counts.
#[inline(never)]
fn measured(store: &mut Store, requests: &[String], now: Instant, out: &mut Vec<u8>) {
    for request in requests {
        run(store, request, now, out);
    }
}

/// 200,000 `KV_SET`s or `KV_GET`s of random keys among 100,000.
fn ops(get: bool) {
    let now = Instant::now();
    let mut store = empty_store();
    let mut out = Vec::new();
    for key in 0..100_000 {
        run(&mut store, &set_request(key), now, &mut out);
    }
    let mut rng = common::Rng(0x9e37_79b9_7f4a_7c15);
    let make = if get { get_request } else { set_request };
    let requests: Vec<String> = (0..200_000).map(|_| make(rng.below(100_000))).collect();
    measured(&mut store, &requests, now, &mut out);
}

/// This process's resident memory, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// The memory the store takes per key at `n` keys: resident memory (keys,
/// values and map, as the Redis comparison counts it) and the heap the key
/// map's own structure takes.
fn memory(n: u64) {
    let now = Instant::now();
    let mut store = empty_store();
    let mut out = Vec::new();
    let requests: Vec<String> = (0..n).map(set_request).collect();
    let before = rss();
    for request in &requests {
        run(&mut store, request, now, &mut out);
    }
    while store.kv().is_resizing() {
        store.work(now);
    }
    let after = rss();
    let bytes = store.kv().table_bytes();
    println!(
        "{n} keys (16-byte keys and values): resident {:.1} bytes per key; of which slots and index {:.1} bytes per key",
        (after - before) as f64 / n as f64,
        bytes as f64 / n as f64
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let n = |default: u64| args.get(1).and_then(|n| n.parse().ok()).unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("grow") => grow(n(10_000_000)),
        Some("sessions") => sessions(n(2_000_000) as usize),
        Some("load") => load(
            n(1_000_000),
            args.get(2).and_then(|n| n.parse().ok()).unwrap_or(4_000_000),
            args.get(3).and_then(|n| n.parse().ok()).unwrap_or(TURN),
        ),
        Some("session-saves") => {
            session_saves(n(1_000_000) as usize, args.get(2).and_then(|n| n.parse().ok()).unwrap_or(TURN))
        }
        Some("ops") => ops(args.get(1).is_some_and(|a| a == "get")),
        Some("memory") => memory(n(1_000_000)),
        _ => {
            grow(10_000_000);
            sessions(2_000_000);
            load(1_000_000, 4_000_000, TURN);
            session_saves(1_000_000, TURN);
        }
    }
}
