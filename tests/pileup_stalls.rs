//! What piling up background work and filling memory cost everyone else:
//! stress tests, ignored by default. Run them in release, one at a time
//! (each reads the process's peak RSS):
//! `cargo test --release --test pileup_stalls -- --ignored --nocapture --test-threads=1`.
//!
//! A real server runs in a host loop that times each turn on the server
//! thread's own CPU clock, with a pinger sending `KV_GET`s back to back
//! (one in flight) and timing each round trip.
//! - Searches: over 1,000,000 keys, 200 connections each ask for a
//!   `KV_FIND` of every key (issue 13: RSS went from 90 MB to 2.8 GiB, one
//!   snapshot each, and a `KV_SAVE` behind them waited 28 s); another
//!   client then saves, and once the 200 leave, searches again.
//! - Memory: a client fills the store in batches of 1,000 keys under a
//!   256 MiB `maxMemory` until it is refused.
//! - One core: the whole process pinned to CPU 0 (as `taskset -c 0`
//!   would), a client keeping the loop busy with pipelined requests, and a
//!   save of 1,000,000 keys, which must still finish.
//!
//! Printed: the pinger's round trips alone and during each attack, the
//! longest loop turn, the growth of the process's peak RSS, and what the
//! attackers and the saver got.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::Client;
use common::pinger::{ping, summary};
use testkit::host::{Host, Turn};

/// The process's peak resident set (VmHWM), in bytes.
fn peak_rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    line.split_whitespace().nth(1).and_then(|kb| kb.parse::<usize>().ok()).expect("a number") * 1024
}

/// Starts counting the peak RSS from the current RSS (Linux 4.0+).
fn reset_peak_rss() {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
}

/// The longest turn (CPU, wall) that started within `from..=to`.
fn worst(turns: &[Turn], from: Instant, to: Instant) -> (Duration, Duration, usize) {
    let within: Vec<&Turn> = turns.iter().filter(|t| t.started >= from && t.started <= to).collect();
    let cpu = within.iter().map(|t| t.cpu).max().unwrap_or_default();
    let wall = within.iter().map(|t| t.wall).max().unwrap_or_default();
    (cpu, wall, within.len())
}

/// Loads keys `key:000000000000..` with 16-byte values, 10,000 per request.
fn load(client: &mut Client, keys: usize) {
    for batch in 0..keys / 10_000 {
        let members: Vec<String> =
            (batch * 10_000..(batch + 1) * 10_000).map(|i| format!(r#""key:{i:012}":"vvvvvvvvvvvvvvvv""#)).collect();
        assert_eq!(
            client.call(&format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, members.join(","))),
            r#"{"KV_SET_RSP":{"st":1}}"#
        );
    }
}

/// Runs the pinger on its own thread until `stop`; returns its round trips.
fn pinger(addr: std::net::SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<Duration>> {
    std::thread::spawn(move || {
        let mut client = Client::connect(addr);
        ping(&mut client, Duration::from_secs(600), || stop.load(Ordering::Relaxed))
    })
}

/// A search of every key that matches none of them, off the loop (it uses
/// a regular expression over each value).
const FIND_ALL: &str = r#"{"KV_FIND":{"path":"$[?search(@, 'x+y')]","rsp":"keys"}}"#;

#[test]
#[ignore = "stress test: 1,000,000 keys, 200 searches; run with --release --ignored"]
fn piled_up_searches_are_refused_and_saves_go_first() {
    const KEYS: usize = 1_000_000;
    const SEARCHERS: usize = 200;
    let dir = common::saves::TempDir::new("pileup");
    let config = common::config().persist(true, dir.path());
    let max_jobs = config.max_jobs;
    let host = Host::real(config).spawn();
    let addr = host.addr();
    let mut loader = Client::connect(addr);
    load(&mut loader, KEYS);
    let mut alone = Client::connect(addr);
    let baseline = ping(&mut alone, Duration::from_secs(2), || false);
    let started = Instant::now();
    assert!(loader.call(FIND_ALL).ends_with(r#""keys":[],"st":1}}"#));
    let one_search = started.elapsed();

    reset_peak_rss();
    let rss_before = peak_rss();
    let stop = Arc::new(AtomicBool::new(false));
    let pings = pinger(addr, stop.clone());
    let started = Instant::now();
    let mut searchers: Vec<Client> = (0..SEARCHERS).map(|_| Client::connect(addr)).collect();
    for searcher in &mut searchers {
        searcher.send(FIND_ALL);
    }
    std::thread::sleep(Duration::from_millis(200));
    let asked = Instant::now();
    let save = loader.call(r#"{"KV_SAVE":{"name":"during"}}"#);
    let save_took = asked.elapsed();
    assert!(save.ends_with(r#""name":"during","st":121}}"#), "{save}");
    // Who was refused at once, and who was answered.
    let (mut busy, mut found) = (0, 0);
    for searcher in &mut searchers {
        let reply = searcher.recv();
        if reply.contains(r#""st":201"#) {
            busy += 1;
        } else {
            assert!(reply.ends_with(r#""keys":[],"st":1}}"#), "{reply}");
            found += 1;
        }
    }
    let all_answered = started.elapsed();
    // Again, and this time all 200 leave at once.
    for searcher in &mut searchers {
        searcher.send(FIND_ALL);
    }
    std::thread::sleep(Duration::from_millis(200));
    drop(searchers);
    let left = Instant::now();
    let reply = loop {
        let reply = loader.call(FIND_ALL);
        if !reply.contains(r#""st":201"#) {
            break reply;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(reply.ends_with(r#""keys":[],"st":1}}"#), "{reply}");
    let after_leaving = left.elapsed();
    stop.store(true, Ordering::Relaxed);
    let during = pings.join().unwrap();
    let ended = Instant::now();
    let rss_growth = peak_rss().saturating_sub(rss_before);
    let turns = host.stop();
    let (cpu, wall, n) = worst(&turns, started, ended);
    eprintln!(
        "pinger round trips, alone: {}\n\
         pinger round trips, during {SEARCHERS} searches of {KEYS} keys (twice): {}\n\
         server, longest turn: {cpu:?} of CPU, {wall:?} wall, over {n} turns\n\
         peak RSS growth: {} MiB\n\
         one search alone: {one_search:?}; of {SEARCHERS}: {found} answered, {busy} refused (201, maxJobs \
         {max_jobs}), all answered after {all_answered:?}\n\
         KV_SAVE asked behind them: answered in {save_took:?}\n\
         a search after {SEARCHERS} searchers left with theirs queued: answered in {after_leaving:?}",
        summary(baseline),
        summary(during),
        rss_growth >> 20,
    );
    assert!(busy > 0 && found >= max_jobs, "{busy} refused, {found} answered");
    assert!(save_took < one_search * 4 + Duration::from_secs(2), "the save waited {save_took:?}");
}

#[test]
#[ignore = "stress test: fills 256 MiB; run with --release --ignored"]
fn a_full_store_refuses_data_without_stalling_others() {
    const CAP: usize = 256 << 20;
    let host = Host::real(common::config().max_memory(Some(CAP))).spawn();
    let addr = host.addr();
    let mut writer = Client::connect(addr);
    let mut alone = Client::connect(addr);
    // The pinger's key.
    assert_eq!(
        alone.call(r#"{"KV_SET":{"keys":{"key:000000123456":"vvvvvvvvvvvvvvvv"}}}"#),
        r#"{"KV_SET_RSP":{"st":1}}"#
    );
    let baseline = ping(&mut alone, Duration::from_secs(2), || false);
    reset_peak_rss();
    let rss_before = peak_rss();
    let stop = Arc::new(AtomicBool::new(false));
    let pings = pinger(addr, stop.clone());
    let started = Instant::now();
    let value = "v".repeat(200);
    let mut batches = 0;
    let refused = loop {
        let members: Vec<String> =
            (batches * 1000..(batches + 1) * 1000).map(|i| format!(r#""fill:{i:09}":"{value}""#)).collect();
        let reply = writer.call(&format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, members.join(",")));
        if reply != r#"{"KV_SET_RSP":{"st":1}}"# {
            break reply;
        }
        batches += 1;
    };
    let filled = started.elapsed();
    let info = writer.call_json(r#"{"SV_INFO":{}}"#);
    std::thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let during = pings.join().unwrap();
    let ended = Instant::now();
    let rss_growth = peak_rss().saturating_sub(rss_before);
    let turns = host.stop();
    let (cpu, wall, n) = worst(&turns, started, ended);
    eprintln!(
        "pinger round trips, alone: {}\n\
         pinger round trips, while one client fills the store: {}\n\
         server, longest turn: {cpu:?} of CPU, {wall:?} wall, over {n} turns\n\
         {batches} batches of 1,000 keys of 200 bytes stored in {filled:?}, then: {refused}\n\
         SV_INFO memoryUsed {} of maxMemory {}; peak RSS growth {} MiB (maxMemory {} MiB)",
        summary(baseline),
        summary(during),
        info["SV_INFO_RSP"]["memoryUsed"],
        info["SV_INFO_RSP"]["maxMemory"],
        rss_growth >> 20,
        CAP >> 20,
    );
    assert_eq!(refused, r#"{"KV_SET_RSP":{"m":"maxMemory reached","st":204,"tkn":null}}"#);
    assert!(rss_growth < CAP + (CAP / 2), "peak RSS grew by {} MiB", rss_growth >> 20);
}

/// Pins the calling thread, and so every thread it starts afterwards, to
/// CPU 0.
fn pin_to_cpu_0() {
    // SAFETY: `set` is a plain bitmask owned by this frame; the call only
    // reads it and changes the calling thread's own affinity.
    let pinned = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    };
    assert!(pinned, "cannot pin to CPU 0: {}", std::io::Error::last_os_error());
}

#[test]
#[ignore = "stress test: one core, 1,000,000 keys; run with --release --ignored"]
fn on_one_busy_core_a_save_still_finishes() {
    const KEYS: usize = 1_000_000;
    // Everything from here on shares CPU 0: the loop, the save thread, the
    // clients.
    pin_to_cpu_0();
    let dir = common::saves::TempDir::new("one-core");
    let host = Host::real(common::config().persist(true, dir.path())).spawn();
    let addr = host.addr();
    let mut loader = Client::connect(addr);
    load(&mut loader, KEYS);
    // A starved save would take minutes: wait for it, to say how long.
    loader.ws.get_mut().set_read_timeout(Some(Duration::from_secs(600))).unwrap();
    let started = Instant::now();
    let reply = loader.call(r#"{"KV_SAVE":{"name":"idle"}}"#);
    let idle_save = started.elapsed();
    assert!(reply.ends_with(r#""st":121}}"#), "{reply}");
    // A client that keeps the loop busy: 64 requests in flight, always.
    let stop = Arc::new(AtomicBool::new(false));
    let flood = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut client = Client::connect(addr);
            let mut served = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..64 {
                    client.send(r#"{"KV_COUNT":{}}"#);
                }
                for _ in 0..64 {
                    client.recv();
                }
                served += 64;
            }
            served
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let pings = pinger(addr, stop.clone());
    let started = Instant::now();
    let reply = loader.call(r#"{"KV_SAVE":{"name":"busy"}}"#);
    let busy_save = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let served = flood.join().unwrap();
    let during = pings.join().unwrap();
    let ended = Instant::now();
    let turns = host.stop();
    let (cpu, wall, n) = worst(&turns, started, ended);
    eprintln!(
        "one core: a save of {KEYS} keys took {idle_save:?} with the loop idle, {busy_save:?} with the loop busy \
         ({served} pipelined requests served meanwhile, {:.0}/s)\n\
         pinger round trips during the busy save: {}\n\
         server, longest turn: {cpu:?} of CPU, {wall:?} wall, over {n} turns",
        served as f64 / busy_save.as_secs_f64(),
        summary(during),
    );
    assert!(reply.ends_with(r#""st":121}}"#), "{reply}");
    assert!(busy_save < Duration::from_secs(120), "the save took {busy_save:?}");
}
