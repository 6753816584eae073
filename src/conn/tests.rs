//! Connection tests over a scripted in-memory stream: reads and writes can
//! be cut short or refused (`WouldBlock`) at will, so every path that must
//! not lose or repeat bytes is exercised without sockets.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use super::wire::write_close_frame;
use super::*;

mod backpressure;
mod held;
mod input;
mod later;
mod stream;

/// What the next `read` returns.
enum Chunk {
    Data(Vec<u8>),
    WouldBlock,
    Eof,
}

#[derive(Default)]
struct Mock {
    input: VecDeque<Chunk>,
    written: Vec<u8>,
    /// Bytes `write` accepts before refusing with `WouldBlock`; `None` is
    /// unlimited.
    write_room: Option<usize>,
    shut: std::cell::Cell<bool>,
}

impl Read for Mock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.input.pop_front() {
            None | Some(Chunk::WouldBlock) => Err(io::ErrorKind::WouldBlock.into()),
            Some(Chunk::Eof) => Ok(0),
            Some(Chunk::Data(mut data)) => {
                let n = data.len().min(buf.len());
                buf[..n].copy_from_slice(&data[..n]);
                if n < data.len() {
                    self.input.push_front(Chunk::Data(data.split_off(n)));
                }
                Ok(n)
            }
        }
    }
}

impl Write for Mock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match self.write_room {
            Some(0) => return Err(io::ErrorKind::WouldBlock.into()),
            Some(room) => room.min(buf.len()),
            None => buf.len(),
        };
        if let Some(room) = &mut self.write_room {
            *room -= n;
        }
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Mock {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shut.set(true);
        Ok(())
    }
}

const UPGRADE: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CONTINUATION: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

fn limits() -> Limits {
    Limits {
        max_payload: 1024,
        output_pause_bytes: 1 << 20,
        max_output_bytes: 16 << 20,
        messages_per_turn: 64,
        allowed_origins: Vec::new(),
        max_head_bytes: 8192,
        users: crate::auth::Users::default(),
        hold_upgrades: false,
        lend_text_over: usize::MAX,
    }
}

/// A masked client frame.
fn frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![opcode | if fin { 0x80 } else { 0 }];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n < 65536 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

fn text(s: &str) -> Vec<u8> {
    frame(TEXT, true, s.as_bytes())
}

/// Server frames in `bytes`, after the 101 response: (opcode, payload).
fn frames_out(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let start = bytes.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |p| p + 4);
    let mut rest = &bytes[start..];
    let mut frames = Vec::new();
    while !rest.is_empty() {
        assert_eq!(rest[0] & 0x70, 0, "no reserved bits");
        assert_eq!(rest[1] & 0x80, 0, "server frames are not masked");
        let (len, head) = match rest[1] & 0x7f {
            126 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
            127 => (u64::from_be_bytes(rest[2..10].try_into().unwrap()) as usize, 10),
            n => (n as usize, 2),
        };
        frames.push((rest[0] & 0x0f, rest[head..head + len].to_vec()));
        rest = &rest[head + len..];
    }
    frames
}

/// Echoes text as `echo:<text>` and binary as `bin:<len>`.
fn echo(message: Message<'_>, out: &mut Vec<u8>) {
    match message {
        Message::Text(t) => out.extend_from_slice(format!("echo:{t}").as_bytes()),
        Message::Binary(b) => out.extend_from_slice(format!("bin:{}", b.len()).as_bytes()),
    }
}

struct Harness {
    conn: Conn<Mock>,
    scratch: Scratch,
    limits: Limits,
}

impl Harness {
    fn new() -> Harness {
        Harness { conn: Conn::new(Mock::default()), scratch: Scratch::default(), limits: limits() }
    }

    fn open() -> Harness {
        let mut h = Harness::new();
        h.feed(UPGRADE);
        assert_eq!(h.serve(), Served::Drained);
        assert!(h.conn.is_open());
        h
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.conn.stream.input.push_back(Chunk::Data(bytes.to_vec()));
    }

    fn serve(&mut self) -> Served {
        self.conn.serve(&mut self.scratch, &self.limits, &mut echo)
    }

    fn replies(&self) -> Vec<(u8, Vec<u8>)> {
        frames_out(&self.conn.stream.written)
    }

    fn texts(&self) -> Vec<String> {
        self.replies().into_iter().filter(|f| f.0 == TEXT).map(|f| String::from_utf8(f.1).unwrap()).collect()
    }

    fn close_code(&self) -> Option<u16> {
        self.replies().iter().find(|f| f.0 == CLOSE).map(|f| u16::from_be_bytes([f.1[0], f.1[1]]))
    }
}

#[test]
fn upgrade_then_a_message() {
    let mut h = Harness::open();
    let written = String::from_utf8_lossy(&h.conn.stream.written).into_owned();
    assert!(written.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    assert!(written.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    h.feed(&text("hi"));
    assert_eq!(h.serve(), Served::Drained);
    assert_eq!(h.texts(), ["echo:hi"]);
}

#[test]
fn a_first_frame_in_the_same_packet_as_the_head_is_served() {
    let mut h = Harness::new();
    let mut bytes = UPGRADE.to_vec();
    bytes.extend(text("first"));
    h.feed(&bytes);
    h.serve();
    assert_eq!(h.texts(), ["echo:first"]);
}

#[test]
fn bytes_arriving_one_at_a_time() {
    let mut h = Harness::new();
    let mut bytes = UPGRADE.to_vec();
    bytes.extend(text("one"));
    bytes.extend(frame(TEXT, false, b"tw"));
    bytes.extend(frame(CONTINUATION, true, b"o"));
    for b in bytes {
        h.feed(&[b]);
        h.conn.stream.input.push_back(Chunk::WouldBlock);
        assert_eq!(h.serve(), Served::Drained);
    }
    assert_eq!(h.texts(), ["echo:one", "echo:two"]);
    assert_eq!(h.conn.heap_bytes(), 0, "nothing held once drained");
}

#[test]
fn pipelined_messages_are_answered_in_order_with_one_write() {
    let mut h = Harness::open();
    let before = h.conn.stream.written.len();
    let batch: Vec<u8> = (0..50).flat_map(|i| text(&i.to_string())).collect();
    h.feed(&batch);
    h.serve();
    let expected: Vec<String> = (0..50).map(|i| format!("echo:{i}")).collect();
    assert_eq!(h.texts(), expected);
    assert!(h.conn.stream.written.len() > before);
}

#[test]
fn fragments_are_reassembled_around_control_frames() {
    let mut h = Harness::open();
    let mut bytes = frame(TEXT, false, b"ab");
    bytes.extend(frame(PING, true, b"p1"));
    bytes.extend(frame(CONTINUATION, false, b"cd"));
    bytes.extend(frame(PONG, true, b""));
    bytes.extend(frame(CONTINUATION, true, "é".as_bytes()));
    h.feed(&bytes);
    h.serve();
    let replies = h.replies();
    assert_eq!(replies, [(PONG, b"p1".to_vec()), (TEXT, "echo:abcdé".as_bytes().to_vec())]);
}

#[test]
fn utf8_split_across_fragments_is_valid() {
    let mut h = Harness::open();
    let snow = "☃".as_bytes();
    let mut bytes = frame(TEXT, false, &snow[..1]);
    bytes.extend(frame(CONTINUATION, true, &snow[1..]));
    h.feed(&bytes);
    h.serve();
    assert_eq!(h.texts(), ["echo:☃"]);
}

#[test]
fn binary_messages_reach_the_handler() {
    let mut h = Harness::open();
    h.feed(&frame(BINARY, true, &[0, 1, 2]));
    h.serve();
    assert_eq!(h.texts(), ["bin:3"]);
}

#[test]
fn replies_of_every_length_are_framed() {
    for len in [0usize, 1, 120, 125, 126, 127, 65535, 65536, 70_000] {
        let mut h = Harness::open();
        let message = "x".repeat(len.saturating_sub(5));
        h.limits.max_payload = 100_000;
        h.feed(&text(&message));
        h.serve();
        assert_eq!(h.texts(), [format!("echo:{message}")], "length {len}");
    }
}

fn closes_with(bytes: Vec<u8>, code: u16) {
    let mut h = Harness::open();
    h.feed(&bytes);
    h.feed(&text("after"));
    h.serve();
    assert_eq!(h.close_code(), Some(code));
    assert!(h.conn.is_closing());
    assert!(h.texts().iter().all(|t| t != "echo:after"), "nothing served after the close");
    assert!(h.conn.stream.shut.get(), "half-closed once the close frame is out");
}

#[test]
fn invalid_utf8_closes_with_1007() {
    closes_with(frame(TEXT, true, b"\xff\xfe"), 1007);
    let mut bad = frame(TEXT, false, b"a");
    bad.extend(frame(CONTINUATION, true, b"\xc3"));
    closes_with(bad, 1007);
}

#[test]
fn protocol_violations_close_with_1002() {
    let mut unmasked = text("x");
    unmasked[1] &= 0x7f;
    unmasked.truncate(2);
    unmasked.push(b'x');
    closes_with(unmasked, 1002);
    let mut rsv = text("x");
    rsv[0] |= 0x40;
    closes_with(rsv, 1002);
    closes_with(frame(0x3, true, b""), 1002);
    closes_with(frame(0xB, true, b""), 1002);
    closes_with(frame(PING, false, b""), 1002);
    closes_with(frame(PING, true, &[0; 126]), 1002);
    closes_with(frame(CONTINUATION, true, b"x"), 1002);
    let mut interleaved = frame(TEXT, false, b"a");
    interleaved.extend(text("b"));
    closes_with(interleaved, 1002);
}

#[test]
fn oversized_messages_close_with_1009() {
    let mut h = Harness::open();
    // Only the header is needed to refuse it.
    let big = frame(TEXT, true, &[b'a'; 1025]);
    h.feed(&big[..14]);
    h.serve();
    assert_eq!(h.close_code(), Some(1009));
    let mut parts = frame(TEXT, false, &[b'a'; 600]);
    parts.extend(frame(CONTINUATION, true, &[b'a'; 425]));
    closes_with(parts, 1009);
    let mut h = Harness::open();
    h.feed(&text(&"a".repeat(1024)));
    h.serve();
    assert_eq!(h.texts().len(), 1, "exactly max_payload is accepted");
}

#[test]
fn a_peer_close_is_echoed_and_the_socket_dropped() {
    let mut h = Harness::open();
    h.feed(&frame(CLOSE, true, &[0x03, 0xe8, b'b', b'y', b'e']));
    assert_eq!(h.serve(), Served::Finished, "handshake complete: the server closes TCP");
    assert_eq!(h.replies(), [(CLOSE, vec![0x03, 0xe8])]);
    assert!(matches!(h.conn.reason(), Some(CloseReason::PeerClosed)));

    // If the echo cannot go out at once, the socket is dropped once it has.
    let mut h = Harness::open();
    h.conn.stream.write_room = Some(0);
    h.feed(&frame(CLOSE, true, &1001u16.to_be_bytes()));
    assert_eq!(h.serve(), Served::Drained);
    h.conn.stream.write_room = None;
    assert_eq!(h.conn.flush(&h.limits), Served::Finished);
    assert_eq!(h.close_code(), Some(1001));

    let mut h = Harness::open();
    h.feed(&frame(CLOSE, true, b""));
    h.serve();
    assert_eq!(h.replies(), [(CLOSE, vec![])]);
}

#[test]
fn bad_close_frames() {
    closes_with(frame(CLOSE, true, &[0x03]), 1002);
    closes_with(frame(CLOSE, true, &1005u16.to_be_bytes()), 1002);
    closes_with(frame(CLOSE, true, &999u16.to_be_bytes()), 1002);
    let mut bad_reason = 1000u16.to_be_bytes().to_vec();
    bad_reason.push(0xff);
    closes_with(frame(CLOSE, true, &bad_reason), 1007);
}

#[test]
fn budget_leaves_the_rest_for_the_next_turn() {
    let mut h = Harness::open();
    h.limits.messages_per_turn = 10;
    let batch: Vec<u8> = (0..25).flat_map(|i| text(&i.to_string())).collect();
    h.feed(&batch);
    assert_eq!(h.serve(), Served::MoreReady);
    assert_eq!(h.texts().len(), 10);
    assert_eq!(h.serve(), Served::MoreReady);
    assert_eq!(h.serve(), Served::Drained);
    let expected: Vec<String> = (0..25).map(|i| format!("echo:{i}")).collect();
    assert_eq!(h.texts(), expected);
}

#[test]
fn rejected_upgrades_get_an_http_error_and_close() {
    let mut h = Harness::new();
    h.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    h.serve();
    assert!(h.conn.stream.written.starts_with(b"HTTP/1.1 400 "));
    assert!(h.conn.is_closing());
    assert!(h.conn.stream.shut.get());
    h.conn.stream.input.push_back(Chunk::Eof);
    assert_eq!(h.serve(), Served::Finished);
}

#[test]
fn abrupt_end_of_stream_mid_frame() {
    let mut h = Harness::open();
    let f = text("partial");
    h.feed(&f[..4]);
    h.conn.stream.input.push_back(Chunk::Eof);
    assert_eq!(h.serve(), Served::Finished);
}

#[test]
fn a_server_close_waits_for_the_reply_then_ends() {
    let mut h = Harness::open();
    assert_eq!(h.conn.close_with(1001, "going away"), Served::Drained);
    assert_eq!(h.close_code(), Some(1001));
    // The peer may still be sending; data is ignored, unanswered.
    let mut late = text("late");
    late.extend(frame(PING, true, b"p"));
    late.extend(frame(CLOSE, true, &1001u16.to_be_bytes())[..3].iter());
    h.feed(&late);
    assert_eq!(h.serve(), Served::Drained);
    assert!(h.texts().is_empty());
    let reply = frame(CLOSE, true, &1001u16.to_be_bytes());
    h.feed(&reply[3..]);
    assert_eq!(h.serve(), Served::Finished);
    assert_eq!(h.replies().len(), 1, "nothing after our close frame");
}

#[test]
fn close_reasons_are_cut_on_a_character_boundary() {
    let mut out = Vec::new();
    write_close_frame(&mut out, 1000, &"é".repeat(100));
    let frames = frames_out(&out);
    assert!(frames[0].1.len() <= 125);
    assert!(std::str::from_utf8(&frames[0].1[2..]).is_ok());
}

#[test]
fn close_with_queues_after_pending_replies() {
    let mut h = Harness::open();
    h.feed(&text("last"));
    h.serve();
    h.conn.close_with(1001, "bye");
    let replies = h.replies();
    assert_eq!(replies.len(), 2);
    assert_eq!(h.close_code(), Some(1001));
    assert_eq!(h.texts(), ["echo:last"]);
}

#[test]
fn unmask_matches_the_byte_loop() {
    let mask = [1, 2, 3, 4];
    for len in 0..40 {
        let data: Vec<u8> = (0..len as u8).collect();
        let mut fast = data.clone();
        unmask(&mut fast, mask);
        let slow: Vec<u8> = data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
        assert_eq!(fast, slow);
    }
}

#[test]
fn invalid_utf8_in_a_first_fragment_closes_at_once() {
    let mut h = Harness::open();
    h.feed(&frame(TEXT, false, b"ok \xff"));
    h.serve();
    assert_eq!(h.close_code(), Some(1007), "without waiting for the last fragment");
    // A character cut at a fragment's end is not an error.
    let mut h = Harness::open();
    h.feed(&frame(TEXT, false, &"☃".as_bytes()[..2]));
    h.serve();
    assert!(h.conn.is_open());
    h.feed(&frame(CONTINUATION, false, &"☃".as_bytes()[2..]));
    h.feed(&frame(CONTINUATION, true, b"!"));
    h.serve();
    assert_eq!(h.texts(), ["echo:☃!"]);
    // Binary fragments are not checked.
    let mut h = Harness::open();
    h.feed(&frame(BINARY, false, b"\xff"));
    h.feed(&frame(CONTINUATION, true, b"\xfe"));
    h.serve();
    assert_eq!(h.texts(), ["bin:2"]);
}

#[test]
fn a_handler_may_reply_in_a_binary_frame() {
    let mut h = Harness::open();
    h.feed(&frame(BINARY, true, &[0, 159, 146, 150]));
    h.feed(&text("t"));
    let mut echo_in_kind = |message: Message<'_>, out: &mut Vec<u8>| match message {
        Message::Text(t) => {
            out.extend_from_slice(t.as_bytes());
            ReplyKind::Text
        }
        Message::Binary(b) => {
            out.extend_from_slice(b);
            ReplyKind::Binary
        }
    };
    h.conn.serve(&mut h.scratch, &h.limits, &mut echo_in_kind);
    assert_eq!(h.replies(), [(BINARY, vec![0, 159, 146, 150]), (TEXT, b"t".to_vec())]);
}
