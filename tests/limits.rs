//! Every limit a peer can run into, with small limits so each test is
//! quick: the peer gets what `docs/operations.md` says, its resources are
//! freed, and everyone else keeps being served. Timeouts and turn budgets
//! run in a [`VirtualHost`]: the server's clock moves only when a test says,
//! so each timeout is checked at the millisecond it falls due and nothing
//! sleeps.
//!
//! Covered elsewhere: the 503 past `maxConnections` (`upgrade.rs`), 431 at
//! the default header cap and 403 for browser origins (`upgrade.rs`), and
//! close codes 1009, 1007 and 1002 (`bad_input.rs`); limits through the
//! binary's flags and config file, and running out of file descriptors
//! (`ndb-server/tests/limits.rs`).

mod common;

use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::{Peer, Raw, UPGRADE, VirtualHost, frame, start_with, text_frame};

const COUNT: &str = r#"{"KV_COUNT":{}}"#;
const COUNT_RSP: &str = r#"{"KV_COUNT_RSP":{"cnt":0,"st":1}}"#;
const MS: Duration = Duration::from_millis(1);

/// An upper bound on the bytes the kernel holds between the server and a
/// peer that does not read: the server's send buffer at its largest (TCP
/// autotuning stops at `tcp_wmem`'s maximum) and the peer's receive buffer,
/// which grows only as the peer reads and so stays at `tcp_rmem`'s default
/// (counted twice, for the kernel's own overhead). Output past it waits in
/// the server, whatever the machine.
fn kernel_room() -> usize {
    let field = |file: &str, i: usize| -> Option<usize> {
        std::fs::read_to_string(file).ok()?.split_whitespace().nth(i)?.parse().ok()
    };
    let send = field("/proc/sys/net/ipv4/tcp_wmem", 2).unwrap_or(4 << 20);
    let receive = field("/proc/sys/net/ipv4/tcp_rmem", 1).unwrap_or(128 << 10);
    send + 2 * receive
}

/// A key holding a string value of `len` bytes, and a request for it.
fn big_value(len: usize) -> (String, Vec<u8>) {
    let set = format!(r#"{{"KV_SET":{{"keys":{{"big":"{}"}}}}}}"#, "b".repeat(len));
    (set, text_frame(r#"{"KV_GET":{"keys":["big"]}}"#))
}

/// Bytes waiting in a socket's receive queue.
fn queued(stream: &TcpStream) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which is valid.
    let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(rc, 0, "ioctl(FIONREAD)");
    usize::try_from(n).unwrap_or(0)
}

/// How long nothing may move, in real time, before [`stop_reading`] takes
/// the buffers between a server and a peer to be full: the kernel moves
/// bytes from the server's socket to the peer's on its own, without an
/// event the test could wait for, so only a quiet spell shows it is done.
/// Far longer than loopback takes to move a window of data on a busy
/// machine.
const STILL: Duration = Duration::from_millis(200);

/// Runs the loop, giving `peer`'s socket what is left of its requests,
/// until nothing moves for [`STILL`]: the server has filled every buffer
/// between them and holds the rest (or has taken every request).
fn stop_reading(host: &mut VirtualHost, peer: &mut Peer) {
    let deadline = Instant::now() + common::TIMEOUT;
    let state =
        |host: &VirtualHost, peer: &Peer| (queued(peer.stream()), host.server().stats().requests, peer.unsent());
    let (mut last, mut since) = (state(host, peer), Instant::now());
    while since.elapsed() < STILL {
        assert!(Instant::now() < deadline, "the buffers never filled");
        peer.flush();
        host.turn(common::host::TURN_WAIT);
        if state(host, peer) != last {
            (last, since) = (state(host, peer), Instant::now());
        }
    }
    assert!(last.0 > 0, "the server sent something");
}

/// Reads every frame left for `peer` until the stream ends: the text
/// replies, and the close code if a close frame came.
fn drain(host: &mut VirtualHost, peer: &mut Peer) -> (Vec<String>, Option<u16>) {
    let (mut texts, mut close) = (Vec::new(), None);
    while let Some((opcode, payload)) = host.frame(peer) {
        match opcode {
            1 => texts.push(String::from_utf8(payload).expect("UTF-8 reply")),
            8 => close = Some(u16::from_be_bytes([payload[0], payload[1]])),
            other => panic!("unexpected opcode {other}"),
        }
    }
    (texts, close)
}

#[test]
fn a_slow_upgrade_is_dropped_at_the_handshake_timeout() {
    let timeout = 300 * MS;
    let mut host = VirtualHost::start(common::config().handshake_timeout(timeout));
    // A slowloris peer, a byte every 20 ms, never the whole head; and a
    // silent one. Both are accepted at 0.
    let mut dripping = host.connect();
    let mut silent = host.connect();
    for b in UPGRADE.as_bytes().iter().take(14) {
        dripping.write(&[*b]);
        host.advance(20 * MS);
    }
    host.advance(timeout - host.elapsed() - MS);
    assert_eq!(host.server().connections(), 2, "both still there 1 ms before the timeout");
    assert_eq!(host.poll_timeout(), Some(MS), "their deadline is the next thing due");
    host.advance(MS);
    assert!(host.ends(&mut dripping), "the dripping peer is dropped");
    assert!(host.ends(&mut silent), "the silent peer is dropped");
    host.run_until("both freed", |h| h.server().connections() == 0);
    // A prompt client is unaffected, and stays past the handshake timeout.
    let mut client = host.open();
    host.advance(timeout * 2);
    assert_eq!(host.call(&mut client, COUNT), COUNT_RSP);
    assert_eq!(host.server().connections(), 1);
}

#[test]
fn a_head_over_the_configured_cap_gets_431() {
    let server = start_with(common::config().max_head_bytes(1024));
    let mut raw = Raw::connect(server.addr);
    let filler = format!("X-Filler: {}\r\n", "a".repeat(1100));
    raw.write(UPGRADE.replace("Host:", &format!("{filler}Host:")).as_bytes());
    assert!(raw.http_response().starts_with("HTTP/1.1 431 "));
    assert!(raw.ends());
    // Just under the cap is fine.
    let mut raw = Raw::connect(server.addr);
    let filler = format!("X-Filler: {}\r\n", "a".repeat(1024 - UPGRADE.len() - 12));
    let request = UPGRADE.replace("Host:", &format!("{filler}Host:"));
    assert!(request.len() <= 1024);
    raw.write(request.as_bytes());
    assert!(raw.http_response().starts_with("HTTP/1.1 101 "));
}

#[test]
fn an_idle_connection_is_closed_with_1001() {
    let idle = 300 * MS;
    let mut host = VirtualHost::start(common::config().idle_timeout(Some(idle)));
    let mut client = host.open();
    // Anything the peer sends restarts the idle time.
    host.advance(200 * MS);
    assert_eq!(host.call(&mut client, COUNT), COUNT_RSP);
    host.advance(idle - MS);
    assert!(host.nothing_for(&mut client), "not closed 1 ms before the idle timeout");
    assert_eq!(host.poll_timeout(), Some(MS), "its idle check is the next thing due");
    host.advance(MS);
    assert_eq!(host.close_code(&mut client), Some(1001));
    client.write(&frame(8, true, &1001u16.to_be_bytes()));
    assert!(host.ends(&mut client));
    host.run_until("the idle connection is gone", |h| h.server().connections() == 0);
}

#[test]
fn the_idle_timeout_spares_a_client_that_only_pings() {
    let idle = 300 * MS;
    let mut host = VirtualHost::start(common::config().idle_timeout(Some(idle)));
    let mut pinger = host.open();
    for _ in 0..12 {
        host.advance(idle / 3);
        pinger.write(&frame(9, true, b"hi"));
        assert_eq!(host.frame(&mut pinger), Some((10, b"hi".to_vec())));
    }
    assert_eq!(host.elapsed(), idle * 4);
    assert_eq!(host.call(&mut pinger, COUNT), COUNT_RSP, "still open after four idle periods");
    // The pings were what kept it: left alone, it is closed one idle period
    // after the last thing it sent.
    host.advance(idle - MS);
    assert!(host.nothing_for(&mut pinger));
    host.advance(MS);
    assert_eq!(host.close_code(&mut pinger), Some(1001));
}

#[test]
fn without_an_idle_timeout_a_silent_client_stays() {
    let mut host = VirtualHost::start(common::config());
    let mut client = host.open();
    host.advance(Duration::from_secs(10));
    assert_eq!(host.poll_timeout(), None, "nothing is due, ever");
    host.advance(Duration::from_secs(24 * 3600));
    assert!(host.nothing_for(&mut client), "not closed after a silent day");
    assert_eq!(host.call(&mut client, COUNT), COUNT_RSP);
}

#[test]
fn a_peer_that_never_reads_is_cut_past_the_output_cap() {
    // Replies written whole (up to 1 MiB each), more of them than the kernel
    // can hold: the one the socket stops taking leaves far more than the
    // 64 KiB cap waiting in the server.
    let len = 900 * 1024;
    let requests = kernel_room() / len + 4;
    let config = common::config().output_limits(16 * 1024, 64 * 1024).max_payload(len + 100);
    let mut host = VirtualHost::start(config);
    let mut bystander = host.open();
    let (set, get) = big_value(len);
    assert_eq!(host.call(&mut bystander, &set), r#"{"KV_SET_RSP":{"st":1}}"#);
    let mut greedy = host.open();
    greedy.write(&std::iter::repeat_n(get, requests).flatten().collect::<Vec<u8>>());
    stop_reading(&mut host, &mut greedy);
    assert_eq!(host.call(&mut bystander, COUNT), r#"{"KV_COUNT_RSP":{"cnt":1,"st":1}}"#);
    // What arrives is well formed: whole replies, the one whose frame had
    // started finished, then a close frame (1008), then the end of the
    // stream. No time passes meanwhile: the cut came from the output cap alone.
    let (texts, close) = drain(&mut host, &mut greedy);
    assert!(!texts.is_empty() && texts.len() < requests, "cut after {} of {requests} replies", texts.len());
    let expected = format!(r#"{{"KV_GET_RSP":{{"keys":{{"big":"{}"}},"st":1}}}}"#, "b".repeat(len));
    assert!(texts.iter().all(|t| *t == expected), "every reply that started is finished");
    assert_eq!(close, Some(1008));
    drop(greedy);
    host.run_until("the cut connection is freed", |h| h.server().connections() == 1);
    assert_eq!(host.call(&mut bystander, COUNT), r#"{"KV_COUNT_RSP":{"cnt":1,"st":1}}"#);
}

#[test]
fn a_peer_that_never_reads_a_huge_reply_holds_little_and_is_cut_at_the_send_timeout() {
    // One reply larger than anything the kernel can hold: it is made in
    // pieces only as the peer takes them, so the server holds about the
    // pause threshold for it, never the reply; the output cap is never
    // reached, and the peer that took nothing is cut by the send timeout.
    let len = kernel_room() + (1 << 20);
    let send_timeout = 500 * MS;
    let config =
        common::config().output_limits(16 * 1024, 64 * 1024).max_payload(len + 100).send_timeout(Some(send_timeout));
    let mut host = VirtualHost::start(config);
    let mut bystander = host.open();
    let (set, get) = big_value(len);
    assert_eq!(host.call(&mut bystander, &set), r#"{"KV_SET_RSP":{"st":1}}"#);
    let mut greedy = host.open();
    greedy.write(&get);
    stop_reading(&mut host, &mut greedy);
    let held = host.server().pending_output_bytes();
    assert!(held <= 64 * 1024, "{held} bytes of output held for a reply of {len}");
    host.settle();
    assert_eq!(host.server().connections(), 2, "no cut while no time passes");
    assert_eq!(host.poll_timeout(), Some(send_timeout), "only its send check is due");
    assert_eq!(host.call(&mut bystander, COUNT), r#"{"KV_COUNT_RSP":{"cnt":1,"st":1}}"#);
    let mut checks = 0;
    while host.poll_timeout() == Some(send_timeout) || checks == 0 {
        checks += 1;
        assert!(checks <= 2, "not cut after {checks} send timeouts without progress");
        host.advance(send_timeout);
        host.settle();
    }
    // Whole fragments of the reply (a text frame, continuations), then 1008.
    let (mut opcodes, mut received, mut close) = (Vec::new(), 0, None);
    while let Some((opcode, payload)) = host.frame(&mut greedy) {
        match opcode {
            8 => close = Some(u16::from_be_bytes([payload[0], payload[1]])),
            _ => received += payload.len(),
        }
        opcodes.push(opcode);
    }
    assert_eq!(close, Some(1008));
    assert_eq!(opcodes[0], 1);
    assert!(opcodes[1..opcodes.len() - 1].iter().all(|&o| o == 0), "{opcodes:?}");
    assert!(received > 0 && received < len, "{received} of {len} bytes");
    drop(greedy);
    host.run_until("the cut connection is freed", |h| h.server().connections() == 1);
}

#[test]
fn a_peer_that_stops_reading_is_cut_at_the_send_timeout() {
    let send_timeout = 500 * MS;
    let config = common::config().output_limits(16 * 1024, 1 << 30).send_timeout(Some(send_timeout));
    let mut host = VirtualHost::start(config);
    let mut bystander = host.open();
    let (set, get) = big_value(10_000);
    host.call(&mut bystander, &set);
    // Twice what the kernel can hold, so the server has to wait for the peer.
    let requests = 2 * kernel_room() / 10_000;
    let mut stalled = host.open();
    stalled.write(&std::iter::repeat_n(get, requests).flatten().collect::<Vec<u8>>());
    stop_reading(&mut host, &mut stalled);
    assert_eq!(host.poll_timeout(), Some(send_timeout), "output waits for the peer: its send check is armed");
    // Back-pressure holds: no output cap is anywhere near, yet the server
    // has stopped producing replies; the send check falls due at the timeout.
    host.advance(send_timeout - MS);
    assert_eq!(host.poll_timeout(), Some(MS), "the send check is the next thing due");
    host.skip(MS);
    // The kernel frees room in the server's socket as the peer's side
    // acknowledges what it queued, without waking the server, so the first
    // check may still find its last bytes taken: that is progress, and the
    // check is re-armed. With both buffers full, the next one cuts.
    let mut checks = 0;
    loop {
        checks += 1;
        host.settle();
        if host.poll_timeout() != Some(send_timeout) {
            break;
        }
        assert!(checks < 2, "not cut after {checks} send timeouts without progress");
        host.skip(send_timeout);
    }
    let (texts, close) = drain(&mut host, &mut stalled);
    assert!(!texts.is_empty() && texts.len() < requests, "cut after {} of {requests} replies", texts.len());
    let expected = format!(r#"{{"KV_GET_RSP":{{"keys":{{"big":"{}"}},"st":1}}}}"#, "b".repeat(10_000));
    assert!(texts.iter().all(|t| *t == expected));
    assert_eq!(close, Some(1008));
    drop(stalled);
    host.run_until("the stalled connection is freed", |h| h.server().connections() == 1);
    assert_eq!(host.call(&mut bystander, COUNT), r#"{"KV_COUNT_RSP":{"cnt":1,"st":1}}"#);
}

#[test]
fn a_slow_reader_that_keeps_reading_is_never_cut() {
    let send_timeout = 300 * MS;
    let config = common::config().output_limits(16 * 1024, 1 << 30).send_timeout(Some(send_timeout));
    let mut host = VirtualHost::start(config);
    let mut slow = host.open();
    let (set, get) = big_value(100_000);
    assert_eq!(host.call(&mut slow, &set), r#"{"KV_SET_RSP":{"st":1}}"#);
    let requests = 2 * kernel_room() / 100_000;
    slow.write(&std::iter::repeat_n(get, requests).flatten().collect::<Vec<u8>>());
    stop_reading(&mut host, &mut slow);
    assert_eq!(host.poll_timeout(), Some(send_timeout), "output waits for the peer: its send check is armed");
    // Reads 256 KiB every third of a send timeout, far slower than the
    // server could send, for four send timeouts: each read is progress.
    for _ in 0..12 {
        host.advance(send_timeout / 3);
        assert!(slow.fill_at_most(256 * 1024) > 0, "something to read");
        // The server's socket has room again once the kernel moves more
        // of its bytes to the reader.
        host.run_until("more output for the reader", |_| queued(slow.stream()) > 0);
    }
    assert_eq!(host.elapsed(), send_timeout * 4);
    // Then every reply comes, whole, and the connection still serves.
    let expected = format!(r#"{{"KV_GET_RSP":{{"keys":{{"big":"{}"}},"st":1}}}}"#, "b".repeat(100_000));
    for i in 0..requests {
        assert!(host.text(&mut slow) == expected, "reply {i}");
    }
    assert_eq!(host.call(&mut slow, COUNT), r#"{"KV_COUNT_RSP":{"cnt":1,"st":1}}"#, "not cut");
}

/// A client pipelining requests as fast as the server takes them, and
/// reading every reply.
struct Flood {
    peer: Peer,
    received: usize,
}

impl Flood {
    /// Sends what the socket takes, runs one turn (checking the per-turn
    /// budget held), and reads what came back.
    fn pump(&mut self, host: &mut VirtualHost, per_turn: usize) {
        self.peer.flush();
        let before = host.server().stats().requests;
        host.turn(common::host::TURN_WAIT);
        let served = host.server().stats().requests - before;
        // At most `per_turn` for the flood, and one for the other client.
        assert!(served <= per_turn as u64 + 1, "{served} messages in one turn");
        self.received += self.peer.fill();
    }
}

#[test]
fn a_pipelining_connection_cannot_delay_another_beyond_a_turn_or_two() {
    const PIPELINED: usize = 20_000;
    let per_turn = 16;
    let mut host = VirtualHost::start(common::config().messages_per_turn(per_turn));
    let request = text_frame(r#"{"KV_SET":{"keys":{"k":1}}}"#);
    let reply_len = 2 + r#"{"KV_SET_RSP":{"st":1}}"#.len();
    let mut flood = Flood { peer: host.open(), received: 0 };
    flood.peer.write(&std::iter::repeat_n(&request, PIPELINED).flatten().copied().collect::<Vec<u8>>());
    let mut other = host.open();
    while host.server().stats().requests < 1000 {
        flood.pump(&mut host, per_turn);
    }
    other.send(COUNT);
    let mut turns = 0;
    let reply = loop {
        flood.pump(&mut host, per_turn);
        turns += 1;
        other.fill();
        if let Some(frame) = other.take_frame() {
            break frame;
        }
        assert!(turns <= 3, "the other client waited {turns} turns");
    };
    assert_eq!(reply, (1, br#"{"KV_COUNT_RSP":{"cnt":1,"st":1}}"#.to_vec()));
    assert!(host.server().stats().requests < PIPELINED as u64, "the flood was still going");
    // The flood is served in full, nothing lost.
    let deadline = Instant::now() + common::TIMEOUT;
    while flood.received < PIPELINED * reply_len {
        assert!(Instant::now() < deadline, "flood replies: {} bytes", flood.received);
        flood.pump(&mut host, per_turn);
    }
    assert_eq!(flood.received, PIPELINED * reply_len);
}
