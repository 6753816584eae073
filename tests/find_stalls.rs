//! What a `KV_FIND` over a million keys costs everyone else: a stress test,
//! ignored by default. Run it in release for meaningful figures:
//! `cargo test --release --test find_stalls -- --ignored --nocapture`.
//!
//! A real server runs in a host loop that times each turn on the server
//! thread's own CPU clock. One connection loads 1,000,000 keys whose values
//! are shaped `{"n":123,"tags":["a","b"]}` (every hundredth tagged `"c"`
//! instead of `"b"`); a pinger sends `KV_GET`s back to back (one in flight,
//! as the Python clients do) and times each round trip, first with nothing
//! else going on, then while another connection runs `KV_FIND`s over every
//! key with a filter path, several times. Printed: the pinger's round trips
//! in both windows, the longest loop turn in the search windows (CPU and
//! wall clock), and each search's own round trip, with the pinger running
//! and, first, with no other client.

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::host;
use common::pinger::{ping, summary};

const KEYS: usize = 1_000_000;
const FINDS: usize = 5;
const FIND: &str = r#"{"KV_FIND":{"path":"$.tags[?@ == 'c']","rsp":"keys"}}"#;

#[test]
#[ignore = "stress test: 1,000,000 keys; run with --release --ignored"]
fn a_find_over_a_million_keys_does_not_stall_other_clients() {
    let host = host::Host::real(common::config().persist(false, "").max_payload(64 << 20)).spawn();
    let mut loader = common::Client::connect(host.addr());
    for batch in 0..KEYS / 10_000 {
        let keys: Vec<String> = (batch * 10_000..(batch + 1) * 10_000)
            .map(|i| format!(r#""key:{i:012}":{{"n":{i},"tags":["a","{}"]}}"#, if i % 100 == 0 { "c" } else { "b" }))
            .collect();
        loader.call(&format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, keys.join(",")));
    }
    let mut finder = common::Client::connect(host.addr());
    let alone: Vec<Duration> = (0..3)
        .map(|_| {
            let started = Instant::now();
            let reply = finder.call(FIND);
            assert!(reply.ends_with(r#""st":1}}"#), "{reply:.200}");
            started.elapsed()
        })
        .collect();

    let mut pinger = common::Client::connect(host.addr());
    let baseline = ping(&mut pinger, Duration::from_secs(2), || false);

    let mut during = Vec::new();
    let mut windows = Vec::new();
    let mut durations = Vec::new();
    for _ in 0..FINDS {
        let (tx, rx) = mpsc::channel();
        let started = Instant::now();
        finder.send(FIND);
        let waiter = std::thread::spawn(move || {
            let reply = finder.recv();
            let took = started.elapsed();
            let _ = tx.send(());
            (finder, reply, took)
        });
        during.extend(ping(&mut pinger, Duration::from_secs(60), || rx.try_recv().is_ok()));
        windows.push((started, Instant::now()));
        let (back, reply, took) = waiter.join().unwrap();
        finder = back;
        let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(reply["KV_FIND_RSP"]["st"], 1, "{reply}");
        assert_eq!(reply["KV_FIND_RSP"]["keys"].as_array().map(Vec::len), Some(KEYS / 100));
        durations.push(took);
        // A pause on the wall clock (this test measures real turns): the
        // loop settles before the next search's window opens.
        std::thread::sleep(Duration::from_millis(200));
    }
    let turns = host.stop();
    let in_finds: Vec<&host::Turn> =
        turns.iter().filter(|t| windows.iter().any(|(from, to)| t.started >= *from && t.started <= *to)).collect();
    let worst_cpu = in_finds.iter().map(|t| t.cpu).max().unwrap_or_default();
    let worst_wall = in_finds.iter().map(|t| t.wall).max().unwrap_or_default();
    eprintln!(
        "pinger round trips, nothing else going on: {}\n\
         pinger round trips, during {FINDS} finds over {KEYS} keys: {}\n\
         server, longest turn during the finds: {worst_cpu:?} of CPU, {worst_wall:?} wall, over {} turns\n\
         finds' own round trips ({} keys matched each): {durations:?}\n\
         finds' round trips with no other client: {alone:?}",
        summary(baseline),
        summary(during),
        in_finds.len(),
        KEYS / 100,
    );
    assert!(worst_cpu < Duration::from_millis(2), "a turn took {worst_cpu:?} of CPU during a find");
}
