//! Every limit a peer can run into, with small limits so each test is
//! quick: the peer gets what `docs/operations.md` says, its resources are
//! freed, and everyone else keeps being served.
//!
//! Covered elsewhere: the 503 past `maxConnections` (`upgrade.rs`), 431 at
//! the default header cap and 403 for browser origins (`upgrade.rs`), and
//! close codes 1009, 1007 and 1002 (`bad_input.rs`); limits through the
//! binary's flags and config file, and running out of file descriptors
//! (`ndb-server/tests/limits.rs`).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::{Raw, UPGRADE, eventually, frame, start_with, text_frame};

const COUNT: &str = r#"{"KV_COUNT":{}}"#;
const COUNT_RSP: &str = r#"{"KV_COUNT_RSP":{"cnt":0,"st":1}}"#;

/// Bytes waiting in a socket's receive queue.
fn queued(stream: &TcpStream) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int through the pointer, which is valid.
    let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(rc, 0, "ioctl(FIONREAD)");
    usize::try_from(n).unwrap_or(0)
}

/// Waits until the peer's receive queue stops growing: the server has
/// filled every buffer between them and is holding the rest.
fn wait_until_buffers_fill(stream: &TcpStream) {
    let deadline = Instant::now() + common::TIMEOUT;
    let (mut last, mut since) = (queued(stream), Instant::now());
    while since.elapsed() < Duration::from_millis(300) {
        assert!(Instant::now() < deadline, "the receive queue never settled");
        std::thread::sleep(Duration::from_millis(10));
        let now = queued(stream);
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
    assert!(last > 0, "the server sent something");
}

/// A key holding a string value of `len` bytes, and a request for it.
fn big_value(len: usize) -> (String, Vec<u8>) {
    let set = format!(r#"{{"KV_SET":{{"keys":{{"big":"{}"}}}}}}"#, "b".repeat(len));
    (set, text_frame(r#"{"KV_GET":{"keys":["big"]}}"#))
}

/// Reads every frame left on `raw` until the stream ends: the text
/// replies, and the close code if a close frame came.
fn drain(raw: &mut Raw) -> (Vec<String>, Option<u16>) {
    let (mut texts, mut close) = (Vec::new(), None);
    while let Some((opcode, payload)) = raw.frame() {
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
    let timeout = Duration::from_millis(300);
    let server = start_with(common::config().handshake_timeout(timeout));
    let started = Instant::now();
    // A slowloris peer: a byte now and then, never the whole head.
    let mut raw = Raw::connect(server.addr);
    let dripper = raw.stream.try_clone().unwrap();
    let drip = std::thread::spawn(move || {
        let mut dripper = dripper;
        for b in UPGRADE.as_bytes().iter().take(60) {
            if dripper.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let mut silent = Raw::connect(server.addr);
    assert!(raw.ends(), "the dripping peer is dropped");
    assert!(silent.ends(), "the silent peer is dropped");
    assert!(started.elapsed() >= timeout, "not before the timeout");
    drip.join().unwrap();
    // A prompt client is unaffected, and stays past the handshake timeout.
    let mut client = server.client();
    std::thread::sleep(timeout * 2);
    assert_eq!(client.call(COUNT), COUNT_RSP);
    eventually("only the prompt client is left", || server.connections() == 1);
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
    let idle = Duration::from_millis(300);
    let server = start_with(common::config().idle_timeout(Some(idle)));
    let started = Instant::now();
    let mut raw = Raw::open(server.addr);
    raw.write(&text_frame(COUNT));
    assert_eq!(raw.text(), COUNT_RSP);
    assert_eq!(raw.close_code(), Some(1001));
    assert!(started.elapsed() >= idle);
    raw.write(&frame(8, true, &1001u16.to_be_bytes()));
    assert!(raw.ends());
    eventually("the idle connection is gone", || server.connections() == 0);
}

#[test]
fn the_idle_timeout_spares_a_client_that_only_pings() {
    let idle = Duration::from_millis(300);
    let server = start_with(common::config().idle_timeout(Some(idle)));
    let mut pinger = Raw::open(server.addr);
    let until = Instant::now() + idle * 4;
    while Instant::now() < until {
        pinger.write(&frame(9, true, b"hi"));
        assert_eq!(pinger.frame(), Some((10, b"hi".to_vec())));
        std::thread::sleep(idle / 3);
    }
    pinger.write(&text_frame(COUNT));
    assert_eq!(pinger.text(), COUNT_RSP, "still open after four idle periods");
}

#[test]
fn without_an_idle_timeout_a_silent_client_stays() {
    let server = start_with(common::config());
    let mut client = server.client();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(client.call(COUNT), COUNT_RSP);
}

#[test]
fn a_peer_that_never_reads_is_cut_past_the_output_cap() {
    let server = start_with(common::config().output_limits(16 * 1024, 64 * 1024));
    let mut bystander = server.client();
    let (set, get) = big_value(100_000);
    assert_eq!(bystander.call(&set), r#"{"KV_SET_RSP":{"st":1}}"#);
    let mut greedy = Raw::open(server.addr);
    let requests: Vec<u8> = std::iter::repeat_n(get, 300).flatten().collect();
    greedy.write(&requests);
    wait_until_buffers_fill(&greedy.stream);
    assert_eq!(bystander.call(COUNT), r#"{"KV_COUNT_RSP":{"cnt":1,"st":1}}"#);
    // Whatever arrived is well formed: whole replies, then a close frame
    // (1008), or the end of the stream if the server gave up waiting.
    let (texts, close) = drain(&mut greedy);
    assert!(!texts.is_empty() && texts.len() < 300, "cut after {} replies", texts.len());
    let expected = format!(r#"{{"KV_GET_RSP":{{"keys":{{"big":"{}"}},"st":1}}}}"#, "b".repeat(100_000));
    assert!(texts.iter().all(|t| *t == expected));
    assert!(matches!(close, Some(1008) | None), "{close:?}");
    eventually("the cut connection is freed", || server.connections() == 1);
    assert_eq!(bystander.call(COUNT), r#"{"KV_COUNT_RSP":{"cnt":1,"st":1}}"#);
}

#[test]
fn a_peer_that_stops_reading_is_cut_at_the_send_timeout() {
    let send_timeout = Duration::from_millis(500);
    let config = common::config().output_limits(16 * 1024, 1 << 30).send_timeout(Some(send_timeout));
    let server = start_with(config);
    let mut bystander = server.client();
    let (set, get) = big_value(10_000);
    bystander.call(&set);
    let mut stalled = Raw::open(server.addr);
    let requests: Vec<u8> = std::iter::repeat_n(get, 3000).flatten().collect();
    let writer = stalled.stream.try_clone().unwrap();
    // Paused for back-pressure, the server stops reading, so this blocks
    // until the server cuts the connection.
    let write = std::thread::spawn(move || {
        let mut writer = writer;
        let _ = writer.write_all(&requests);
    });
    wait_until_buffers_fill(&stalled.stream);
    // Back-pressure held: no output cap is anywhere near, yet the server
    // stopped producing replies. Once the send timeout passed, read.
    std::thread::sleep(send_timeout * 2);
    let (texts, close) = drain(&mut stalled);
    assert!(texts.len() < 3000, "cut after {} replies", texts.len());
    assert_eq!(close, Some(1008));
    write.join().unwrap();
    eventually("the stalled connection is freed", || server.connections() == 1);
    assert_eq!(bystander.call(COUNT), r#"{"KV_COUNT_RSP":{"cnt":1,"st":1}}"#);
}

#[test]
fn a_slow_reader_that_keeps_reading_is_never_cut() {
    let send_timeout = Duration::from_millis(300);
    let config = common::config().output_limits(16 * 1024, 1 << 30).send_timeout(Some(send_timeout));
    let server = start_with(config);
    let mut slow = Raw::open(server.addr);
    let (set, get) = big_value(100_000);
    slow.write(&text_frame(&set));
    assert_eq!(slow.text(), r#"{"KV_SET_RSP":{"st":1}}"#);
    let requests: Vec<u8> = std::iter::repeat_n(get, 200).flatten().collect();
    slow.write(&requests);
    wait_until_buffers_fill(&slow.stream);
    // Reads a little at a time, far slower than the server could send, for
    // several send timeouts: each read is progress.
    let mut chunk = vec![0u8; 1 << 20];
    let until = Instant::now() + send_timeout * 4;
    while Instant::now() < until {
        let n = slow.stream.read(&mut chunk).unwrap();
        assert!(n > 0, "still open");
        std::thread::sleep(send_timeout / 3);
    }
    // The rest of the stream is whole replies; the connection still serves.
    slow.stream.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut rest = Vec::new();
    let _ = slow.stream.read_to_end(&mut rest);
    slow.stream.set_read_timeout(Some(common::TIMEOUT)).unwrap();
    assert_eq!(server.connections(), 1, "not cut");
}

/// Drives a server on this thread, one turn at a time, as a host would.
struct Host {
    poll: mio::Poll,
    events: mio::Events,
    server: ndb::Server,
}

impl Host {
    fn new(config: ndb::Config) -> Host {
        let tokens = ndb::TokenRange { base: 0, max_conns: 16 };
        let poll = mio::Poll::new().unwrap();
        let mut server = ndb::Server::bind(config, tokens).unwrap();
        server.register(poll.registry()).unwrap();
        Host { poll, events: mio::Events::with_capacity(256), server }
    }

    fn turn(&mut self) {
        let timeout = self
            .server
            .poll_timeout(Instant::now())
            .map_or(Duration::from_millis(5), |t| t.min(Duration::from_millis(5)));
        self.poll.poll(&mut self.events, Some(timeout)).unwrap();
        let now = Instant::now();
        for event in self.events.iter() {
            if self.server.owns(event.token()) {
                self.server.handle_event(self.poll.registry(), event, now);
            }
        }
        self.server.tick(self.poll.registry(), Instant::now());
    }

    /// A non-blocking, upgraded raw connection.
    fn open(&mut self) -> TcpStream {
        let mut stream = TcpStream::connect(self.server.local_addr()).unwrap();
        stream.write_all(UPGRADE.as_bytes()).unwrap();
        stream.set_nonblocking(true).unwrap();
        let mut head = Vec::new();
        let deadline = Instant::now() + common::TIMEOUT;
        while !head.ends_with(b"\r\n\r\n") {
            assert!(Instant::now() < deadline, "no 101");
            self.turn();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && matches!(stream.read(&mut byte), Ok(1)) {
                head.push(byte[0]);
            }
        }
        assert!(head.starts_with(b"HTTP/1.1 101 "));
        stream
    }
}

/// Reads what is there without blocking; returns the byte count.
fn read_available(stream: &mut TcpStream) -> usize {
    let mut chunk = [0u8; 65536];
    let mut total = 0;
    while let Ok(n @ 1..) = stream.read(&mut chunk) {
        total += n;
    }
    total
}

/// A client pipelining requests as fast as the server takes them, and
/// reading every reply.
struct Flood {
    stream: TcpStream,
    to_send: Vec<u8>,
    received: usize,
}

impl Flood {
    /// Sends what the socket takes, runs one turn (checking the per-turn
    /// budget held), and reads what came back.
    fn pump(&mut self, host: &mut Host, per_turn: usize) {
        if let Ok(n) = self.stream.write(&self.to_send) {
            self.to_send.drain(..n);
        }
        let before = host.server.stats().requests;
        host.turn();
        let served = host.server.stats().requests - before;
        // At most `per_turn` for the flood, and one for the other client.
        assert!(served <= per_turn as u64 + 1, "{served} messages in one turn");
        self.received += read_available(&mut self.stream);
    }
}

#[test]
fn a_pipelining_connection_cannot_delay_another_beyond_a_turn_or_two() {
    const PIPELINED: usize = 20_000;
    let per_turn = 16;
    let mut host = Host::new(common::config().messages_per_turn(per_turn));
    let request = text_frame(r#"{"KV_SET":{"keys":{"k":1}}}"#);
    let reply_len = 2 + r#"{"KV_SET_RSP":{"st":1}}"#.len();
    let to_send = std::iter::repeat_n(&request, PIPELINED).flatten().copied().collect();
    let mut flood = Flood { stream: host.open(), to_send, received: 0 };
    let mut other = host.open();
    while host.server.stats().requests < 1000 {
        flood.pump(&mut host, per_turn);
    }
    other.write_all(&text_frame(COUNT)).unwrap();
    let mut turns = 0;
    let mut reply = Vec::new();
    while reply.is_empty() {
        flood.pump(&mut host, per_turn);
        turns += 1;
        let mut chunk = [0u8; 256];
        if let Ok(n @ 1..) = other.read(&mut chunk) {
            reply.extend_from_slice(&chunk[..n]);
        }
        assert!(turns <= 3, "the other client waited {turns} turns");
    }
    assert!(host.server.stats().requests < PIPELINED as u64, "the flood was still going");
    // The flood is served in full, nothing lost.
    let deadline = Instant::now() + common::TIMEOUT;
    while flood.received < PIPELINED * reply_len {
        assert!(Instant::now() < deadline, "flood replies: {} bytes", flood.received);
        flood.pump(&mut host, per_turn);
    }
    assert_eq!(flood.received, PIPELINED * reply_len);
}
