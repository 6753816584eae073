//! Background work that cannot pile up, over a real socket with small
//! limits: a connection holds one job at a time, past `maxJobs` a search
//! is answered 201 at once and changes nothing, the searches of a closed
//! connection are dropped or stopped so they hold no place, and a
//! `KV_SAVE` never waits behind a queue of slow searches.

mod common;

use std::time::{Duration, Instant};

use common::Client;

/// The 201 of a search past `maxJobs`.
const BUSY: &str = r#"{"KV_FIND_RSP":{"m":"too many jobs queued; retry later","st":201,"tkn":null}}"#;

/// A search costing about 12,000 steps per value (each value's items are
/// filtered again for each item): over [`KEYS`] keys it runs far past the
/// time limits below, so each one takes exactly its limit of CPU time.
const COSTLY: &str = r#"{"KV_FIND":{"path":"$[?count($[?@ >= 0]) == 50]","rsp":"paths"}}"#;

/// A search that runs off the loop (it uses a regular expression) but
/// costs little.
const CHEAP: &str = r#"{"KV_FIND":{"path":"$[?match(@, 'x')]","rsp":"keys"}}"#;

/// Keys stored for the searches: enough for [`COSTLY`] to take seconds.
const KEYS: usize = 5000;

/// `KEYS` keys, each an array of 50 numbers.
fn fill(client: &mut Client) {
    let value = format!("[{}]", (0..50).map(|i| i.to_string()).collect::<Vec<_>>().join(","));
    for batch in 0..KEYS.div_ceil(1000) {
        let members: Vec<String> =
            (batch * 1000..((batch + 1) * 1000).min(KEYS)).map(|i| format!(r#""k{i}":{value}"#)).collect();
        assert_eq!(
            client.call(&format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, members.join(","))),
            r#"{"KV_SET_RSP":{"st":1}}"#
        );
    }
}

/// Requests the server has read so far (`SV_INFO`'s `requests`, which
/// counts this one too).
fn requests(monitor: &mut Client) -> u64 {
    monitor.call_json(r#"{"SV_INFO":{}}"#)["SV_INFO_RSP"]["requests"].as_u64().expect("requests")
}

/// Waits until the server has read `n` more requests than `before`
/// (besides the monitor's own `SV_INFO`s).
fn until_read(monitor: &mut Client, before: u64, n: u64) {
    let deadline = Instant::now() + common::TIMEOUT;
    let mut asked = 0;
    loop {
        asked += 1;
        if requests(monitor) >= before + n + asked {
            return;
        }
        assert!(Instant::now() < deadline, "the server never read {n} requests");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn timed_out(reply: &str) -> bool {
    reply == r#"{"KV_FIND_RSP":{"m":"timed out","st":203,"tkn":null}}"#
}

#[test]
fn a_connection_holds_one_job_and_past_max_jobs_a_search_gets_201_at_once() {
    let config = common::config().max_jobs(2).search_timeout(Some(Duration::from_millis(300)));
    let server = common::start_with(config);
    let mut monitor = server.client();
    fill(&mut monitor);
    let count = monitor.call(r#"{"KV_COUNT":{}}"#);
    let before = requests(&mut monitor);
    // Three searches pipelined on one connection take one place between
    // them: it reads the next only once the previous one is answered.
    let mut pipelining = server.client();
    for _ in 0..3 {
        pipelining.send(COSTLY);
    }
    let mut second = server.client();
    second.send(COSTLY);
    until_read(&mut monitor, before, 2);
    // Two places taken: a third connection's search is refused at once.
    let mut third = server.client();
    let asked = Instant::now();
    assert_eq!(third.call(COSTLY), BUSY);
    let refused_in = asked.elapsed();
    // Other commands, and searches that run on the loop, are still served.
    assert_eq!(third.call(r#"{"KV_COUNT":{}}"#), count);
    assert!(third.call(r#"{"KV_FIND":{"keys":["k7"],"path":"$[49]","rsp":"keys"}}"#).ends_with(r#""st":1}}"#));
    // Every admitted search is answered (at its time limit), in order.
    for _ in 0..3 {
        let reply = pipelining.recv();
        assert!(timed_out(&reply), "{reply}");
    }
    let reply = second.recv();
    assert!(timed_out(&reply), "{reply}");
    assert!(refused_in < Duration::from_millis(300), "the 201 came at once, not after a search: {refused_in:?}");
    assert_eq!(monitor.call(r#"{"KV_COUNT":{}}"#), count, "nothing changed");
    // With the places free again, the third connection's search runs.
    assert!(third.call(CHEAP).ends_with(r#""st":1}}"#));
}

#[test]
fn the_searches_of_a_closed_connection_hold_no_place() {
    // Each search would run 5 s of CPU time if nothing stopped it.
    let config = common::config().max_jobs(2).search_timeout(Some(Duration::from_secs(5)));
    let server = common::start_with(config);
    let mut monitor = server.client();
    fill(&mut monitor);
    let before = requests(&mut monitor);
    let (mut running, mut queued) = (server.client(), server.client());
    running.send(COSTLY);
    queued.send(COSTLY);
    until_read(&mut monitor, before, 2);
    let mut other = server.client();
    assert_eq!(other.call(COSTLY), BUSY, "both places are taken");
    // Both leave: the running search stops at its next step, the queued
    // one never starts.
    drop(running);
    drop(queued);
    let left = Instant::now();
    let reply = loop {
        let reply = other.call(CHEAP);
        if reply != BUSY {
            break reply;
        }
        assert!(left.elapsed() < common::TIMEOUT, "the places were never given back");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(reply, r#"{"KV_FIND_RSP":{"keys":[],"st":1}}"#);
    let waited = left.elapsed();
    assert!(waited < Duration::from_millis(2500), "waited {waited:?}: the abandoned searches ran on (5 s each)");
}

#[test]
fn a_save_does_not_wait_behind_a_queue_of_slow_searches() {
    let dir = common::saves::TempDir::new("job-limits");
    let config = common::config().persist(true, dir.path()).search_timeout(Some(Duration::from_millis(800)));
    let server = common::start_with(config);
    let mut monitor = server.client();
    fill(&mut monitor);
    let before = requests(&mut monitor);
    // Four searches queue 3.2 s of CPU time on the search thread.
    let mut searchers: Vec<Client> = (0..4).map(|_| server.client()).collect();
    for searcher in &mut searchers {
        searcher.send(COSTLY);
    }
    until_read(&mut monitor, before, 4);
    // Their snapshots take a few turns; then they are all handed to the
    // search thread, the first one running.
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let (saved, searched) = std::thread::scope(|scope| {
        let waiting: Vec<_> = searchers
            .iter_mut()
            .map(|searcher| {
                scope.spawn(move || {
                    let reply = searcher.recv();
                    assert!(timed_out(&reply), "{reply}");
                    Instant::now()
                })
            })
            .collect();
        let mut saver = server.client();
        let reply = saver.call(r#"{"KV_SAVE":{"name":"quick"}}"#);
        assert!(reply.ends_with(r#""name":"quick","st":121}}"#), "{reply}");
        let saved = Instant::now();
        let searched: Vec<Instant> = waiting.into_iter().map(|w| w.join().unwrap()).collect();
        (saved, searched)
    });
    // The save has a thread of its own: it is answered before even the
    // search that was running when it was asked.
    let first = searched.iter().min().expect("four searches");
    assert!(
        saved < *first,
        "the save was answered after {:?}, the first search after {:?}",
        saved - started,
        *first - started
    );
}
