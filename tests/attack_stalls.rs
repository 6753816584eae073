//! What hostile input and huge replies cost everyone else: stress tests,
//! ignored by default. Run them in release, one at a time (each reads the
//! process's peak RSS):
//! `cargo test --release --test attack_stalls -- --ignored --nocapture --test-threads=1`.
//!
//! A real server runs in a host loop that times each turn on the server
//! thread's own CPU clock, with a pinger sending `KV_GET`s back to back
//! (one in flight) and timing each round trip.
//! - Unfinished messages: 2,500 connections each send 1 MiB − 1 byte of a
//!   1 MiB message and then nothing (the server's defaults: 1 MiB
//!   `maxPayload`, 256 MiB `maxPartialBytes`), all driven by one thread
//!   over non-blocking sockets so that the figure is the server's, not
//!   that of thousands of sender threads sharing its cores.
//! - Huge lists: over 4,000,000 keys, a client that reads promptly asks for
//!   `KV_KEYS` (76 MB of reply), then a `KV_GET` of 50,000 names (a request
//!   just under the default `maxPayload`), then one of 1,000,000 names (a
//!   19 MB request, so `maxPayload` is 64 MiB) with their values, and a
//!   `KV_COUNT` padded to 64 MiB (reading, unmasking and checking the
//!   largest message allowed).
//! - A huge `SH_EXISTS`: over 1,000,000 sessions, a request naming
//!   3,000,000 tokens (64 MB), every other one live.
//!
//! Printed: the pinger's round trips alone and during each attack, the
//! longest loop turn during it (CPU and wall clock), the growth of the
//! process's peak RSS over the attack (the clients' share is small: they
//! send from one shared buffer, and socket buffers are the kernel's), and
//! what the attackers or the big reader got.

mod common;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::Raw;
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
fn load(client: &mut common::Client, keys: usize) {
    for batch in 0..keys / 10_000 {
        let members: Vec<String> =
            (batch * 10_000..(batch + 1) * 10_000).map(|i| format!(r#""key:{i:012}":"vvvvvvvvvvvvvvvv""#)).collect();
        assert_eq!(
            client.call(&format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, members.join(","))),
            r#"{"KV_SET_RSP":{"st":1}}"#
        );
    }
}

/// Opens `n` connections and sends each all of `frame` but its last byte,
/// from this one thread over non-blocking sockets (one `mio` poll), so
/// that the attackers share the two cores with the server as one thread,
/// not thousands; returns the connections, still open.
fn send_all_but_the_last_byte(addr: std::net::SocketAddr, n: usize, frame: &[u8]) -> Vec<Raw> {
    use mio::{Events, Interest, Poll, Token};
    let raws: Vec<Raw> = (0..n).map(|_| Raw::open(addr)).collect();
    let todo = frame.len() - 1;
    let mut poll = Poll::new().expect("a poll");
    let mut socks: Vec<(mio::net::TcpStream, usize)> = raws
        .iter()
        .map(|raw| {
            // A second descriptor of the same socket: non-blocking for
            // both, until the sending is done.
            let stream = raw.stream.try_clone().expect("clone the socket");
            stream.set_nonblocking(true).expect("non-blocking");
            (mio::net::TcpStream::from_std(stream), 0)
        })
        .collect();
    for (i, (sock, _)) in socks.iter_mut().enumerate() {
        poll.registry().register(sock, Token(i), Interest::WRITABLE).expect("register");
    }
    let mut events = Events::with_capacity(1024);
    let mut writable: Vec<usize> = (0..n).collect();
    let mut left = n;
    let deadline = Instant::now() + Duration::from_secs(120);
    while left > 0 {
        for i in writable.drain(..) {
            let (sock, sent) = &mut socks[i];
            while *sent < todo {
                match sock.write(&frame[*sent..todo]) {
                    Ok(0) => {
                        *sent = usize::MAX;
                        left -= 1;
                    }
                    Ok(k) => {
                        *sent += k;
                        if *sent == todo {
                            left -= 1;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        // Closed by the server (past maxPartialBytes).
                        *sent = usize::MAX;
                        left -= 1;
                    }
                }
            }
        }
        if left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{left} connections never took their bytes");
        poll.poll(&mut events, Some(Duration::from_millis(100))).expect("poll");
        writable.extend(events.iter().map(|event| event.token().0));
    }
    drop(socks);
    for raw in &raws {
        raw.stream.set_nonblocking(false).expect("blocking again");
    }
    raws
}

/// Runs the pinger on its own thread until `stop`; returns its round trips.
/// Reads one reply of many frames, handing each payload to `each`, up to
/// the frame that ends with `"st":1}}` (no key, value or token here
/// contains it).
fn read_reply(reader: &mut Raw, mut each: impl FnMut(&[u8])) {
    loop {
        let (opcode, payload) = reader.frame().expect("the reply");
        assert!(opcode == 1 || opcode == 0, "opcode {opcode}");
        each(&payload);
        if payload.ends_with(br#""st":1}}"#) {
            return;
        }
    }
}

fn pinger(addr: std::net::SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<Duration>> {
    std::thread::spawn(move || {
        let mut client = common::Client::connect(addr);
        ping(&mut client, Duration::from_secs(600), || stop.load(Ordering::Relaxed))
    })
}

#[test]
#[ignore = "stress test: 2,500 connections, 2.5 GB sent; run with --release --ignored"]
fn unfinished_messages_cannot_pin_memory_or_stall_others() {
    const ATTACKERS: usize = 2_500;
    const PAYLOAD: usize = 1024 * 1024;
    let config = common::config();
    let cap = config.max_partial_bytes;
    let host = Host::real(config).spawn();
    let addr = host.addr();
    let mut loader = common::Client::connect(addr);
    load(&mut loader, 200_000);
    let mut alone = common::Client::connect(addr);
    let baseline = ping(&mut alone, Duration::from_secs(2), || false);

    // One masked frame of PAYLOAD bytes, all but its last byte sent.
    let message = format!(r#"{{"KV_SET":{{"keys":{{"k":"{}"}}}}}}"#, "a".repeat(PAYLOAD - 28));
    assert_eq!(message.len(), PAYLOAD);
    let frame = common::text_frame(&message);
    reset_peak_rss();
    let rss_before = peak_rss();
    let stop = Arc::new(AtomicBool::new(false));
    let pings = pinger(addr, stop.clone());
    let started = Instant::now();
    let mut streams = send_all_but_the_last_byte(addr, ATTACKERS, &frame);
    let sent = Instant::now();
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let during = pings.join().unwrap();
    let ended = Instant::now();
    let rss_growth = peak_rss().saturating_sub(rss_before);
    // Who was closed (1008) and who is still holding a message.
    let (mut closed, mut holding) = (0, 0);
    for raw in &mut streams {
        raw.stream.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        match raw.frame() {
            Some((8, payload)) if payload.starts_with(&1008u16.to_be_bytes()) => closed += 1,
            _ => holding += 1,
        }
    }
    drop(streams);
    let turns = host.stop();
    let (cpu, wall, n) = worst(&turns, started, ended);
    eprintln!(
        "pinger round trips, alone: {}\n\
         pinger round trips, during {ATTACKERS} connections sending {} bytes of a message each ({:?} to send \
         them all): {}\n\
         server, longest turn during the attack: {cpu:?} of CPU, {wall:?} wall, over {n} turns\n\
         peak RSS growth over the attack: {} MiB (maxPartialBytes {} MiB)\n\
         attackers closed with 1008: {closed}; still holding a message: {holding}",
        summary(baseline),
        frame.len() - 1,
        sent - started,
        summary(during),
        rss_growth >> 20,
        cap >> 20,
    );
    assert!(rss_growth < cap + (128 << 20), "peak RSS grew by {} MiB", rss_growth >> 20);
}

#[test]
#[ignore = "stress test: 4,000,000 keys; run with --release --ignored"]
fn huge_lists_are_delivered_without_stalling_others() {
    const KEYS: usize = 4_000_000;
    const NAMES: usize = 1_000_000;
    let host = Host::real(common::config().max_payload(64 << 20)).spawn();
    let addr = host.addr();
    let mut loader = common::Client::connect(addr);
    load(&mut loader, KEYS);
    let mut alone = common::Client::connect(addr);
    let baseline = ping(&mut alone, Duration::from_secs(2), || false);
    drop(alone);

    let get = |n: usize| {
        let names: Vec<String> = (0..n).map(|i| format!(r#""key:{:012}""#, i * 4)).collect();
        format!(r#"{{"KV_GET":{{"keys":[{}]}}}}"#, names.join(","))
    };
    let mut windows = Vec::new();
    let mut report = String::new();
    let lists = [
        ("KV_KEYS of 4,000,000 keys", r#"{"KV_KEYS":{}}"#.to_owned()),
        ("KV_GET of 50,000 names (a request under the default 1 MiB maxPayload)", get(50_000)),
        ("KV_GET of 1,000,000 names", get(NAMES)),
        // The largest message maxPayload allows, cheap to execute: what
        // reading, unmasking, checking and handing it over cost.
        ("KV_COUNT padded with spaces to 64 MiB", format!(r#"{{"KV_COUNT":{{}}{}}}"#, " ".repeat((64 << 20) - 15))),
    ];
    for (what, request) in lists {
        reset_peak_rss();
        let rss_before = peak_rss();
        let stop = Arc::new(AtomicBool::new(false));
        let pings = pinger(addr, stop.clone());
        std::thread::sleep(Duration::from_millis(200));
        let mut reader = Raw::open(addr);
        let started = Instant::now();
        reader.write(&common::text_frame(&request));
        let (mut bytes, mut frames) = (0usize, 0usize);
        read_reply(&mut reader, |payload| {
            bytes += payload.len();
            frames += 1;
        });
        let took = started.elapsed();
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        let during = pings.join().unwrap();
        windows.push((started, started + took, during, what));
        report += &format!(
            "{what}: {bytes} bytes in {frames} frames, {took:?} for the reader; peak RSS growth {} MiB\n",
            peak_rss().saturating_sub(rss_before) >> 20
        );
    }
    let turns = host.stop();
    eprintln!("pinger round trips, alone: {}", summary(baseline));
    for (from, to, during, what) in windows {
        let (cpu, wall, n) = worst(&turns, from, to);
        eprintln!(
            "during the {what}: pinger {}\n  server, longest turn: {cpu:?} of CPU, {wall:?} wall, over {n} turns",
            summary(during)
        );
    }
    eprint!("{report}");
}

#[test]
#[ignore = "stress test: 1,000,000 sessions; run with --release --ignored"]
fn an_sh_exists_of_millions_of_tokens_does_not_stall_others() {
    const SESSIONS: usize = 1_000_000;
    const TOKENS: usize = 3_000_000;
    let host = Host::real(common::config().max_payload(64 << 20)).spawn();
    let addr = host.addr();
    let mut loader = common::Client::connect(addr);
    let mut live = Vec::with_capacity(SESSIONS);
    for _ in 0..SESSIONS / 1000 {
        for _ in 0..1000 {
            loader.send(r#"{"SH_NEW":{}}"#);
        }
        for _ in 0..1000 {
            let reply: serde_json::Value = serde_json::from_str(&loader.recv()).expect("JSON");
            live.push(reply["SH_NEW_RSP"]["tkn"].as_u64().expect("a token"));
        }
    }
    let mut alone = common::Client::connect(addr);
    let baseline = ping(&mut alone, Duration::from_secs(2), || false);
    drop(alone);
    // Every other token a live one, spread over the table; the rest absent.
    let tokens: Vec<u64> =
        (0..TOKENS).map(|i| if i % 2 == 0 { live[(i * 7919) % SESSIONS] } else { u64::MAX - i as u64 }).collect();
    let list: Vec<String> = tokens.iter().map(u64::to_string).collect();
    let request = format!(r#"{{"SH_EXISTS":{{"tkns":[{}]}}}}"#, list.join(","));
    reset_peak_rss();
    let rss_before = peak_rss();
    let stop = Arc::new(AtomicBool::new(false));
    let pings = pinger(addr, stop.clone());
    std::thread::sleep(Duration::from_millis(200));
    let mut reader = Raw::open(addr);
    let started = Instant::now();
    reader.write(&common::text_frame(&request));
    let mut reply = Vec::new();
    read_reply(&mut reader, |payload| reply.extend_from_slice(payload));
    let took = started.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let during = pings.join().unwrap();
    let found: Vec<String> = tokens.iter().step_by(2).map(u64::to_string).collect();
    let expected = format!(r#"{{"SH_EXISTS_RSP":{{"exist":[{}],"st":1}}}}"#, found.join(","));
    assert!(reply == expected.as_bytes(), "the reply lists every live token, in request order");
    let turns = host.stop();
    let (cpu, wall, n) = worst(&turns, started, started + took);
    eprintln!("pinger round trips, alone: {}", summary(baseline));
    eprintln!(
        "during an SH_EXISTS of {TOKENS} tokens ({} MB) over {SESSIONS} sessions: pinger {}\n  server, longest turn: \
         {cpu:?} of CPU, {wall:?} wall, over {n} turns; {} bytes of reply in {took:?}; peak RSS growth {} MiB",
        request.len() >> 20,
        summary(during),
        reply.len(),
        peak_rss().saturating_sub(rss_before) >> 20
    );
}
