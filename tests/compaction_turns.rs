//! What compacting a durable log of a million keys costs the loop: a
//! stress test, ignored by default. Run it in release:
//! `cargo test --release --test compaction_turns -- --ignored --nocapture`.
//!
//! A real server runs in a host loop that times each turn on the server
//! thread's own CPU clock, with the log on and a minimum size the load
//! crosses. One connection loads 1,000,000 keys (1,000 a message) and goes
//! on writing while the log compacts; a pinger times `KV_GET`s. Printed:
//! the pinger's round trips and the longest loop turn while the compaction
//! ran (from the switch to the new manifest), which must stay under the
//! loop's 10 ms budget.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::pinger::{ping, summary};
use common::saves::TempDir;
use ndb::config::LogFsync;

const KEYS: usize = 1_000_000;

#[test]
#[ignore = "stress test: 1,000,000 keys; run with --release --ignored"]
fn a_compaction_of_a_million_keys_keeps_every_turn_under_10_ms() {
    let dir = TempDir::new("compaction-turns");
    let mut config = common::config().persist(true, dir.path()).log(true, LogFsync::EverySec);
    // The load's records cross it about halfway.
    config.log.rewrite_min_size = 24 << 20;
    let mut host = common::host::Host::real(config);
    let now = Instant::now();
    host.server_mut().open_log(now).expect("the log opens");
    let host = host.spawn();
    let mut loader = common::Client::connect(host.addr());
    for batch in 0..KEYS / 1_000 {
        let keys: Vec<String> =
            (batch * 1_000..(batch + 1) * 1_000).map(|i| format!(r#""key:{i:012}":"vvvvvvvvvvvvvvvv""#)).collect();
        loader.call(&format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, keys.join(",")));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, addr) = (Arc::clone(&stop), host.addr());
        std::thread::spawn(move || {
            let mut c = common::Client::connect(addr);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                c.call(&format!(r#"{{"KV_SET":{{"keys":{{"key:{:012}":{n}}}}}}}"#, n % KEYS as u64));
                n += 1;
            }
        })
    };
    let mut pinger = common::Client::connect(host.addr());
    let info = std::cell::RefCell::new(common::Client::connect(host.addr()));
    let trips = ping(&mut pinger, Duration::from_secs(60), || {
        let reply = info.borrow_mut().call_json(r#"{"SV_INFO":{}}"#);
        reply["SV_INFO_RSP"]["log"]["compactions"].as_u64().unwrap_or(0) >= 1
    });
    let mut info = info.into_inner();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let log = info.call_json(r#"{"SV_INFO":{}}"#)["SV_INFO_RSP"]["log"].clone();
    assert!(log["compactions"].as_u64().unwrap() >= 1, "no compaction within a minute: {log}");
    // The compaction's window, from the wall clock to the turns' Instants.
    let end_ms = log["lastCompaction"].as_u64().unwrap();
    let took = Duration::from_millis(log["lastCompactionMs"].as_u64().unwrap());
    let now_ms = u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap();
    let end = Instant::now() - Duration::from_millis(now_ms.saturating_sub(end_ms));
    let start = end - took;
    let turns = host.stop();
    let during: Vec<&common::host::Turn> = turns.iter().filter(|t| t.started >= start && t.started <= end).collect();
    let worst_cpu = during.iter().map(|t| t.cpu).max().unwrap_or_default();
    let worst_wall = during.iter().map(|t| t.wall).max().unwrap_or_default();
    let mut outside: Vec<Duration> =
        turns.iter().filter(|t| t.started < start || t.started > end).map(|t| t.cpu).collect();
    outside.sort();
    let mut inside: Vec<(Duration, Duration)> =
        during.iter().map(|t| (t.cpu, t.started.saturating_duration_since(start))).collect();
    inside.sort();
    eprintln!(
        "longest turns outside the compaction: {:?}; inside (CPU, at): {:?}",
        outside.iter().rev().take(5).collect::<Vec<_>>(),
        inside.iter().rev().take(5).collect::<Vec<_>>()
    );
    eprintln!(
        "compaction of {KEYS} keys: {took:?} from the switch to the new manifest, base {} bytes\n\
         pinger round trips meanwhile and around: {}\n\
         server, longest turn during the compaction: {worst_cpu:?} of CPU, {worst_wall:?} wall, over {} turns",
        log["baseBytes"],
        summary(trips),
        during.len(),
    );
    assert!(!during.is_empty());
    assert!(worst_cpu < Duration::from_millis(10), "a turn took {worst_cpu:?} of CPU during the compaction");
}
