//! What a save of a million keys costs everyone else: a stress test, ignored
//! by default. Run it in release for meaningful figures:
//! `cargo test --release --test save_stalls -- --ignored --nocapture`.
//!
//! A real server runs in a host loop that times each turn on the server
//! thread's own CPU clock. One connection loads 1,000,000 keys shaped as
//! `ndb-bench --preload` makes them; a pinger sends `KV_GET`s back to back
//! (one in flight, as the Python clients do) and times each round trip,
//! first with nothing else going on, then while another connection saves
//! the million keys, several times. Printed: the pinger's round trips
//! (median, p99, p99.9, worst) in both windows, the longest loop turn in
//! the save windows (CPU and wall clock), and the saves' own durations.

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::pinger::{ping, summary};
use common::saves::TempDir;

const KEYS: usize = 1_000_000;
const SAVES: usize = 5;

#[test]
#[ignore = "stress test: 1,000,000 keys; run with --release --ignored"]
fn a_save_of_a_million_keys_does_not_stall_other_clients() {
    let dir = TempDir::new("save-stalls");
    let host = common::host::Host::real(common::config().persist(true, dir.path()).max_payload(64 << 20)).spawn();
    let mut loader = common::Client::connect(host.addr());
    for batch in 0..KEYS / 10_000 {
        let keys: Vec<String> =
            (batch * 10_000..(batch + 1) * 10_000).map(|i| format!(r#""key:{i:012}":"vvvvvvvvvvvvvvvv""#)).collect();
        loader.call(&format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, keys.join(",")));
    }
    let mut pinger = common::Client::connect(host.addr());
    let baseline = ping(&mut pinger, Duration::from_secs(2), || false);

    let mut saver = common::Client::connect(host.addr());
    let mut during = Vec::new();
    let mut windows = Vec::new();
    let mut durations = Vec::new();
    for _ in 0..SAVES {
        let (tx, rx) = mpsc::channel();
        let started = Instant::now();
        saver.send(r#"{"KV_SAVE":{"name":"stalls"}}"#);
        let waiter = std::thread::spawn(move || {
            let reply = saver.recv();
            let _ = tx.send(());
            (saver, reply)
        });
        during.extend(ping(&mut pinger, Duration::from_secs(30), || rx.try_recv().is_ok()));
        windows.push((started, Instant::now()));
        let (back, reply) = waiter.join().unwrap();
        saver = back;
        let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(reply["KV_SAVE_RSP"]["st"], 121, "{reply}");
        durations.push(reply["KV_SAVE_RSP"]["duration"].as_u64().unwrap());
        // Old saves go, so the disk holds one at a time.
        for stamp in common::saves::stamps(dir.path(), "stalls").iter().rev().skip(1) {
            std::fs::remove_dir_all(stamp).unwrap();
        }
        // A pause on the wall clock (this test measures real turns): the
        // loop settles before the next save's window opens.
        std::thread::sleep(Duration::from_millis(200));
    }
    let turns = host.stop();
    let in_saves: Vec<&common::host::Turn> =
        turns.iter().filter(|t| windows.iter().any(|(from, to)| t.started >= *from && t.started <= *to)).collect();
    let worst_cpu = in_saves.iter().map(|t| t.cpu).max().unwrap_or_default();
    let worst_wall = in_saves.iter().map(|t| t.wall).max().unwrap_or_default();
    eprintln!(
        "pinger round trips, nothing else going on: {}\n\
         pinger round trips, during {SAVES} saves of {KEYS} keys: {}\n\
         server, longest turn during the saves: {worst_cpu:?} of CPU, {worst_wall:?} wall, over {} turns\n\
         saves' own durations (reply `duration`): {durations:?} ms",
        summary(baseline),
        summary(during),
        in_saves.len(),
    );
    assert!(worst_cpu < Duration::from_millis(2), "a turn took {worst_cpu:?} of CPU during a save");
}
