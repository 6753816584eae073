//! Writes of many keys applied across turns (`store/stepped.rs`), over a
//! real socket: a `KV_SET`, `KV_ADD`, `KV_RMV` or `KV_CLEAR_SET` of more
//! than `WRITE_KEYS_PER_STEP` keys answers and leaves the store as the
//! same keys written a few at a time; it takes several turns, during which
//! other connections' reads are served (and may see part of it) while
//! their writes wait and are applied after it, in order; replies stay in
//! order per connection; a session write whose session expires meanwhile
//! answers as for a missing session; a connection closing mid-write
//! leaves it complete; a save asked meanwhile holds all of it; and under
//! the durable log the write is replayed whole after a restart.
//!
//! The stress test, ignored by default, times the loop's turns during a
//! 1 MiB and a 16 MiB `KV_SET` into a store of a million keys:
//! `cargo test --release --test stepped_writes -- --ignored --nocapture`.

mod common;

use std::time::{Duration, Instant};

use common::host::{Host, Peer, VirtualHost};
use common::saves::TempDir;
use ndb::WRITE_KEYS_PER_STEP;
use ndb::config::LogFsync;

/// Keys in the large writes: five steps' worth and some.
const N: usize = WRITE_KEYS_PER_STEP * 5 + 100;

/// `{"<verb>":{"keys":{"k<i>":<value i>,...}}}` for `i` in `range`, with
/// `extra` members (a token) after `keys`.
fn pairs(verb: &str, range: std::ops::Range<usize>, value: &str, extra: &str) -> String {
    let members: Vec<String> = range.map(|i| format!(r#""k{i}":"{value}{i}""#)).collect();
    format!(r#"{{"{verb}":{{"keys":{{{}}}{extra}}}}}"#, members.join(","))
}

/// `{"<verb>":{"keys":["k<i>",...]}}` for `i` in `range`.
fn names(verb: &str, range: impl Iterator<Item = usize>) -> String {
    let names: Vec<String> = range.map(|i| format!(r#""k{i}""#)).collect();
    format!(r#"{{"{verb}":{{"keys":[{}]}}}}"#, names.join(","))
}

/// The writes of the comparison: each large one, and its keys in pieces
/// small enough for one turn.
fn writes() -> Vec<(String, Vec<String>)> {
    let chunked = |verb: &str, range: std::ops::Range<usize>, value: &str| {
        let (start, end) = (range.start, range.end);
        (start..end).step_by(1000).map(|s| pairs(verb, s..(s + 1000).min(end), value, "")).collect::<Vec<_>>()
    };
    vec![
        (pairs("KV_SET", 0..N, "a", ""), chunked("KV_SET", 0..N, "a")),
        // Half already there (not overwritten), half new.
        (pairs("KV_ADD", N / 2..N + N / 2, "b", ""), chunked("KV_ADD", N / 2..N + N / 2, "b")),
        // Every third key, some of them missing.
        (
            names("KV_RMV", (0..N * 2).step_by(3)),
            (0..N * 2).step_by(3000).map(|s| names("KV_RMV", (s..(s + 3000).min(N * 2)).step_by(3))).collect(),
        ),
    ]
}

/// The state of every key the writes touch, as one reply.
fn read_back(host: &mut VirtualHost, peer: &mut Peer) -> (String, String) {
    (host.call(peer, r#"{"KV_COUNT":{}}"#), host.call(peer, &names("KV_GET", 0..N * 2)))
}

#[test]
fn large_writes_answer_and_leave_the_store_as_small_ones_do() {
    let mut stepped = Host::start(common::config());
    let mut small = Host::start(common::config());
    let (mut a, mut b) = (stepped.open(), small.open());
    for (large, pieces) in writes() {
        let turns = stepped.turns();
        let reply = stepped.call(&mut a, &large);
        let took = stepped.turns() - turns;
        // Each key (and the member `keys`) opens with `"k`.
        let steps = (large.matches(r#""k"#).count() - 1).div_ceil(WRITE_KEYS_PER_STEP) as u64;
        assert!(took >= steps, "applied across at least {steps} turns, not {took}: {reply}");
        let mut last = String::new();
        for piece in pieces {
            last = small.call(&mut b, &piece);
        }
        assert_eq!(reply, last);
        assert_eq!(read_back(&mut stepped, &mut a), read_back(&mut small, &mut b));
    }
    // CLEAR_SET answers how many keys its clear removed.
    let before = stepped.call_json(&mut a, r#"{"KV_COUNT":{}}"#)["KV_COUNT_RSP"]["cnt"].as_u64().unwrap();
    assert!(before > 0);
    let cleared = stepped.call(&mut a, &pairs("KV_CLEAR_SET", 0..N, "c", ""));
    assert_eq!(cleared, format!(r#"{{"KV_CLEAR_SET_RSP":{{"cnt":{before},"st":1}}}}"#));
    small.call(&mut b, r#"{"KV_CLEAR":{}}"#);
    for s in (0..N).step_by(1000) {
        small.call(&mut b, &pairs("KV_SET", s..(s + 1000).min(N), "c", ""));
    }
    assert_eq!(read_back(&mut stepped, &mut a), read_back(&mut small, &mut b));
}

/// The `cnt` of a `KV_COUNT` reply.
fn count(host: &mut VirtualHost, peer: &mut Peer) -> u64 {
    host.call_json(peer, r#"{"KV_COUNT":{}}"#)["KV_COUNT_RSP"]["cnt"].as_u64().expect("a count")
}

/// The next text frame `peer` has received, if one has arrived.
fn arrived(peer: &mut Peer) -> Option<String> {
    peer.pump();
    let (opcode, payload) = peer.take_frame()?;
    assert_eq!(opcode, 1);
    Some(String::from_utf8(payload).expect("UTF-8"))
}

/// Sends `request` on `writer` and reads `KV_COUNT` on `reader` until the
/// write has begun (part of it is in: reads are served between its steps).
fn begin(host: &mut VirtualHost, writer: &mut Peer, reader: &mut Peer, request: &str, total: u64) {
    writer.send(request);
    let mut seen = Vec::new();
    loop {
        let n = count(host, reader);
        seen.push(n);
        if n > 0 {
            assert!(n < total, "a read between its steps sees part of it: {seen:?}");
            break;
        }
        assert!(seen.len() < 100, "the write never began: {seen:?}");
    }
}

#[test]
fn reads_are_served_between_steps_and_later_writes_wait_for_it() {
    let mut host = Host::start(common::config());
    let (mut a, mut b, mut c) = (host.open(), host.open(), host.open());
    begin(&mut host, &mut a, &mut b, &pairs("KV_SET", 0..N, "a", ""), N as u64);
    // Sent after the large write began: applied and answered after it.
    c.send(r#"{"KV_SET":{"keys":{"k5":"c","k9":"c"}}}"#);
    c.send(r#"{"KV_RMV":{"keys":["k7"]}}"#);
    let mut partial = 0;
    // The server runs in this thread: between two turns, what it wrote
    // has arrived.
    let first = loop {
        if let Some(reply) = arrived(&mut a) {
            break reply;
        }
        assert!(arrived(&mut c).is_none(), "a later write answered before the large one");
        let n = count(&mut host, &mut b);
        partial += usize::from(n < N as u64);
    };
    assert_eq!(first, r#"{"KV_SET_RSP":{"st":1}}"#);
    assert!(partial > 0, "reads were served while it was under way");
    assert_eq!(host.text(&mut c), r#"{"KV_SET_RSP":{"st":1}}"#);
    assert_eq!(host.text(&mut c), r#"{"KV_RMV_RSP":{"st":1}}"#);
    assert_eq!(
        host.call(&mut b, r#"{"KV_GET":{"keys":["k5","k6","k7","k9"]}}"#),
        r#"{"KV_GET_RSP":{"keys":{"k5":"c","k6":"a6","k9":"c"},"st":1}}"#
    );
    assert_eq!(count(&mut host, &mut b), N as u64 - 1);
}

#[test]
fn replies_stay_in_order_on_the_connection() {
    let mut host = Host::start(common::config());
    let mut a = host.open();
    let requests = [
        r#"{"KV_SET":{"keys":{"first":1}}}"#.to_owned(),
        pairs("KV_SET", 0..N, "a", ""),
        r#"{"KV_GET":{"keys":["k0","last"]}}"#.to_owned(),
        r#"{"KV_SET":{"keys":{"k0":"after","last":2}}}"#.to_owned(),
        names("KV_RMV", 1..N),
        r#"{"KV_COUNT":{}}"#.to_owned(),
        r#"{"KV_GET":{"keys":["k0","k1","last"]}}"#.to_owned(),
    ];
    for request in &requests {
        a.send(request);
    }
    let replies: Vec<String> = requests.iter().map(|_| host.text(&mut a)).collect();
    assert_eq!(
        replies,
        [
            r#"{"KV_SET_RSP":{"st":1}}"#,
            r#"{"KV_SET_RSP":{"st":1}}"#,
            r#"{"KV_GET_RSP":{"keys":{"k0":"a0"},"st":1}}"#,
            r#"{"KV_SET_RSP":{"st":1}}"#,
            r#"{"KV_RMV_RSP":{"st":1}}"#,
            r#"{"KV_COUNT_RSP":{"cnt":3,"st":1}}"#,
            r#"{"KV_GET_RSP":{"keys":{"k0":"after","last":2},"st":1}}"#,
        ]
    );
}

#[test]
fn a_session_write_whose_session_expires_meanwhile_answers_as_for_a_missing_one() {
    let mut host = Host::start(common::config());
    let (mut a, mut b) = (host.open(), host.open());
    let created = host.call_json(&mut a, r#"{"SH_NEW":{"expiry":{"duration":1,"deleteSession":true}}}"#);
    let token = created["SH_NEW_RSP"]["tkn"].as_u64().expect("a token");
    a.send(&pairs("SH_SET", 0..N, "a", &format!(r#","tkn":{token}"#)));
    let info = format!(r#"{{"SH_INFO":{{"tkn":{token}}}}}"#);
    host.drive("the session write to begin", |h| {
        let keys = h.call_json(&mut b, &info)["SH_INFO_RSP"]["keyCnt"].as_u64().unwrap_or(0);
        assert!(keys < N as u64, "it did not finish in one turn");
        (keys > 0).then_some(())
    });
    host.skip(Duration::from_secs(2));
    let reply = host.text(&mut a);
    // As a small write to a session that does not exist.
    let small = host.call(&mut b, &pairs("SH_SET", 0..2, "a", &format!(r#","tkn":{token}"#)));
    assert_eq!(reply, small);
    assert_ne!(reply, r#"{"SH_SET_RSP":{"st":1}}"#);
    assert_eq!(host.call_json(&mut b, &info)["SH_INFO_RSP"]["keyCnt"], serde_json::Value::Null);
}

#[test]
fn a_write_whose_connection_closes_meanwhile_is_completed() {
    let mut host = Host::start(common::config());
    let (mut a, mut b) = (host.open(), host.open());
    begin(&mut host, &mut a, &mut b, &pairs("KV_SET", 0..N, "a", ""), N as u64);
    drop(a);
    host.drive("the write to complete", |h| (count(h, &mut b) == N as u64).then_some(()));
    assert_eq!(host.call(&mut b, r#"{"KV_GET":{"keys":["k0"]}}"#), r#"{"KV_GET_RSP":{"keys":{"k0":"a0"},"st":1}}"#);
}

#[test]
fn a_save_asked_meanwhile_holds_all_of_the_write() {
    let dir = TempDir::new("stepped-save");
    let config = || common::config().persist(true, dir.path());
    let mut host = Host::start(config());
    let (mut a, mut b) = (host.open(), host.open());
    begin(&mut host, &mut a, &mut b, &pairs("KV_SET", 0..N, "a", ""), N as u64);
    b.send(r#"{"KV_SAVE":{"name":"s"}}"#);
    assert_eq!(host.text(&mut a), r#"{"KV_SET_RSP":{"st":1}}"#);
    let saved: serde_json::Value = serde_json::from_str(&host.text(&mut b)).unwrap();
    assert_eq!(saved["KV_SAVE_RSP"]["st"], 121, "{saved}");
    drop(host);

    let mut again = Host::start(config());
    let mut peer = again.open();
    let loaded = again.call_json(&mut peer, r#"{"KV_LOAD":{"name":"s"}}"#);
    assert_eq!(loaded["KV_LOAD_RSP"]["st"], 141, "{loaded}");
    assert_eq!(count(&mut again, &mut peer), N as u64);
}

#[test]
fn under_the_log_a_large_write_is_replayed_whole() {
    let dir = TempDir::new("stepped-log");
    let open = |dir: &TempDir| {
        let mut host = Host::real(common::config().persist(true, dir.path()).log(true, LogFsync::Always));
        let now = host.now();
        host.server_mut().open_log(now).expect("the log opens");
        host
    };
    let mut host = open(&dir);
    let mut peer = host.open();
    assert_eq!(host.call(&mut peer, &pairs("KV_SET", 0..N, "a", "")), r#"{"KV_SET_RSP":{"st":1}}"#);
    assert_eq!(host.call(&mut peer, &names("KV_RMV", 0..N / 2)), r#"{"KV_RMV_RSP":{"st":1}}"#);
    assert_eq!(host.call(&mut peer, r#"{"KV_SET":{"keys":{"k0":"after"}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
    let before = host.call(&mut peer, &names("KV_GET", 0..N));
    drop(host);

    let mut again = open(&dir);
    let mut peer = again.open();
    assert_eq!(again.call(&mut peer, &names("KV_GET", 0..N)), before);
    assert_eq!(
        again.call(&mut peer, r#"{"KV_COUNT":{}}"#),
        format!(r#"{{"KV_COUNT_RSP":{{"cnt":{},"st":1}}}}"#, N - N / 2 + 1)
    );
}

#[test]
fn a_large_write_past_the_memory_cap_is_refused_before_any_step() {
    let mut host = Host::start(common::config().max_memory(Some(4 << 20)));
    let mut a = host.open();
    let mut filled = 0;
    loop {
        let reply = host.call(&mut a, &pairs("KV_SET", filled..filled + 1000, "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv", ""));
        if reply.contains(r#""st":204"#) {
            break;
        }
        filled += 1000;
    }
    let before = count(&mut host, &mut a);
    let reply = host.call(&mut a, &pairs("KV_SET", 1_000_000..1_000_000 + N, "a", ""));
    assert!(reply.contains(r#""st":204"#), "{reply}");
    assert_eq!(count(&mut host, &mut a), before, "nothing changed");
}

/// `KV_SET` of `n` keys `key:<offset + i>` with 16-byte values.
fn set_keys(offset: usize, n: usize) -> String {
    let members: Vec<String> = (offset..offset + n).map(|i| format!(r#""key:{i:012}":"vvvvvvvvvvvvvvvv""#)).collect();
    format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, members.join(","))
}

#[test]
#[ignore = "stress test: 1,000,000 keys; run with --release --ignored"]
fn write_stalls() {
    let host = Host::real(common::config().max_payload(64 << 20)).spawn();
    let mut client = common::Client::connect(host.addr());
    for batch in 0..1_000_000 / WRITE_KEYS_PER_STEP {
        let reply = client.call(&set_keys(batch * WRITE_KEYS_PER_STEP, WRITE_KEYS_PER_STEP));
        assert_eq!(reply, r#"{"KV_SET_RSP":{"st":1}}"#);
    }
    let mut windows = Vec::new();
    // 38 bytes a key: about 1 MiB (27,594 keys) and 16 MiB (441,505 keys),
    // half of them new.
    for (what, keys) in [("1 MiB KV_SET", (1 << 20) / 38), ("16 MiB KV_SET", (16 << 20) / 38)] {
        let request = set_keys(1_000_000 - keys / 2, keys);
        let started = Instant::now();
        assert_eq!(client.call(&request), r#"{"KV_SET_RSP":{"st":1}}"#);
        windows.push((what, request.len(), started, Instant::now()));
    }
    let turns = host.stop();
    for (what, bytes, from, to) in windows {
        let within: Vec<_> = turns.iter().filter(|t| t.started >= from && t.started <= to).collect();
        let cpu = within.iter().map(|t| t.cpu).max().unwrap_or_default();
        let wall = within.iter().map(|t| t.wall).max().unwrap_or_default();
        eprintln!(
            "{what} ({bytes} bytes) into 1,000,000 keys: answered in {:?}; longest turn {cpu:?} of CPU, {wall:?} \
             wall, over {} turns",
            to - from,
            within.len()
        );
    }
}
