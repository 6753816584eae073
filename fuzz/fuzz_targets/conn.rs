//! The connection layer over an in-memory stream: arbitrary frames (valid
//! or not), delivered in arbitrary splits, with the peer taking output in
//! arbitrary amounts. Nothing panics; the output is the same whatever the
//! splits; it is a well-formed run of server frames with one echo per
//! message, and nothing after a close frame.
#![no_main]

use std::io::{self, Read, Write};

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use ndb::conn::{Conn, Limits, Message, ReplyKind, Scratch, Served, Transport};

const UPGRADE: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// One client frame, described rather than raw, so most are near-valid.
#[derive(Debug, Arbitrary)]
struct FrameSpec {
    opcode: u8,
    fin: bool,
    rsv: u8,
    unmasked: bool,
    /// Declared length wider than needed (7 → 16 or 64 bits), as RFC 6455
    /// forbids but parsers must survive.
    wide_length: u8,
    mask: [u8; 4],
    payload: Vec<u8>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    /// Replace the upgrade request with raw bytes.
    raw_head: Option<Vec<u8>>,
    frames: Vec<FrameSpec>,
    /// Raw bytes after the frames (garbage, a truncated frame).
    tail: Vec<u8>,
    /// Read sizes, cycled.
    splits: Vec<u8>,
    /// Write room per attempt, cycled (0 refuses with WouldBlock).
    rooms: Vec<u8>,
    max_payload: u16,
    messages_per_turn: u8,
    output_pause_bytes: u16,
}

fn encode(spec: &FrameSpec) -> Vec<u8> {
    let mut out = vec![(spec.opcode & 0x0f) | ((spec.rsv & 0x07) << 4) | if spec.fin { 0x80 } else { 0 }];
    let mask_bit = if spec.unmasked { 0 } else { 0x80 };
    let len = spec.payload.len();
    match (len, spec.wide_length % 3) {
        (n, 0) if n < 126 => out.push(mask_bit | n as u8),
        (n, 0 | 1) if n < 65536 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        (n, _) => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if !spec.unmasked {
        out.extend_from_slice(&spec.mask);
    }
    out.extend(spec.payload.iter().enumerate().map(|(i, b)| if spec.unmasked { *b } else { b ^ spec.mask[i % 4] }));
    out
}

/// An in-memory socket: reads come in scripted sizes, each followed by a
/// `WouldBlock`; writes take scripted amounts.
struct Pipe {
    input: Vec<u8>,
    read_pos: usize,
    splits: Vec<usize>,
    reads: usize,
    blocked: bool,
    rooms: Vec<usize>,
    writes: usize,
    written: Vec<u8>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Each chunk is its own readiness event: a WouldBlock follows it.
        if self.read_pos == self.input.len() || std::mem::take(&mut self.blocked) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let step = self.splits[self.reads % self.splits.len()];
        self.reads += 1;
        self.blocked = true;
        let n = step.min(buf.len()).min(self.input.len() - self.read_pos);
        buf[..n].copy_from_slice(&self.input[self.read_pos..self.read_pos + n]);
        self.read_pos += n;
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.rooms[self.writes % self.rooms.len()];
        self.writes += 1;
        if room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = room.min(buf.len());
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Pipe {
    fn shutdown_write(&self) -> io::Result<()> {
        Ok(())
    }
}

/// Echoes text as text and binary as binary, recording each message.
fn run(bytes: &[u8], splits: Vec<usize>, rooms: Vec<usize>, limits: &Limits) -> (Vec<u8>, Vec<Vec<u8>>) {
    let pipe = Pipe {
        input: bytes.to_vec(),
        read_pos: 0,
        splits,
        reads: 0,
        blocked: false,
        rooms,
        writes: 0,
        written: Vec::new(),
    };
    let mut conn = Conn::new(pipe);
    let mut scratch = Scratch::default();
    let mut messages = Vec::new();
    let mut echo = |message: Message<'_>, out: &mut Vec<u8>| match message {
        Message::Text(t) => {
            messages.push(t.as_bytes().to_vec());
            out.extend_from_slice(t.as_bytes());
            ReplyKind::Text
        }
        Message::Binary(b) => {
            messages.push(b.to_vec());
            out.extend_from_slice(b);
            ReplyKind::Binary
        }
    };
    for _ in 0..100_000 {
        let served = conn.serve(&mut scratch, limits, &mut echo);
        if served == Served::Finished {
            break;
        }
        let flushed = conn.flush(limits);
        if flushed == Served::Finished {
            break;
        }
        let stream = conn.stream();
        let input_done = stream.read_pos == stream.input.len();
        if input_done && conn.pending_output() == 0 && served == Served::Drained && flushed == Served::Drained {
            break;
        }
    }
    let written = std::mem::take(&mut conn.stream_mut().written);
    (written, messages)
}

/// Splits `written` into its HTTP head and server frames, checking that
/// the frames are well formed and nothing follows a close frame.
fn frames(written: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let start = written.windows(4).position(|w| w == b"\r\n\r\n").map_or(written.len(), |p| p + 4);
    if !written.starts_with(b"HTTP/1.1 101 ") {
        // A refusal: an HTTP error and nothing else.
        assert!(written.is_empty() || written.starts_with(b"HTTP/1.1 4") || written.starts_with(b"HTTP/1.1 5"));
        return Vec::new();
    }
    let mut rest = &written[start..];
    let mut frames = Vec::new();
    while !rest.is_empty() {
        assert!(frames.last().is_none_or(|f: &(u8, Vec<u8>)| f.0 != 8), "nothing after a close frame");
        assert!(rest.len() >= 2, "a whole frame header");
        assert_eq!(rest[0] & 0xf0, 0x80, "final, no reserved bits");
        assert_eq!(rest[1] & 0x80, 0, "server frames are not masked");
        let (len, head) = match rest[1] & 0x7f {
            126 => (u16::from_be_bytes([rest[2], rest[3]]) as usize, 4),
            127 => (u64::from_be_bytes(rest[2..10].try_into().unwrap()) as usize, 10),
            n => (n as usize, 2),
        };
        assert!(rest.len() >= head + len, "a whole frame");
        frames.push((rest[0] & 0x0f, rest[head..head + len].to_vec()));
        rest = &rest[head + len..];
    }
    frames
}

fuzz_target!(|input: Input| {
    let mut bytes = input.raw_head.clone().unwrap_or_else(|| UPGRADE.to_vec());
    for spec in &input.frames {
        bytes.extend(encode(spec));
    }
    bytes.extend_from_slice(&input.tail);
    let limits = Limits {
        max_payload: usize::from(input.max_payload).max(1),
        output_pause_bytes: usize::from(input.output_pause_bytes),
        // No cut: it depends on write timing, and is tested on its own.
        max_output_bytes: usize::MAX,
        messages_per_turn: usize::from(input.messages_per_turn).max(1),
        allowed_origins: Vec::new(),
        max_head_bytes: 8192,
        users: ndb::auth::Users::default(),
        hold_upgrades: false,
    };
    let (whole, messages) = run(&bytes, vec![usize::MAX], vec![usize::MAX], &limits);
    let splits: Vec<usize> = input.splits.iter().map(|&s| usize::from(s).max(1)).collect();
    let rooms: Vec<usize> = input.rooms.iter().map(|&r| usize::from(r)).collect();
    let splits = if splits.is_empty() { vec![usize::MAX] } else { splits };
    let rooms = if rooms.iter().all(|&r| r == 0) { vec![usize::MAX] } else { rooms };
    let (split, split_messages) = run(&bytes, splits, rooms, &limits);

    let out = frames(&whole);
    let replies: Vec<&(u8, Vec<u8>)> = out.iter().filter(|f| f.0 == 1 || f.0 == 2).collect();
    assert_eq!(replies.len(), messages.len(), "one reply per message");
    for (reply, message) in replies.iter().zip(&messages) {
        assert_eq!(&reply.1, message, "the echo is the message");
    }
    for frame in &out {
        assert!(frame.1.len() <= 125 || frame.0 < 8, "control frames are short");
    }
    // Splitting changes when things happen, never what is sent; a peer
    // that keeps sending after a close may be dropped before all of it.
    assert!(whole.starts_with(&split), "split output is a prefix of the whole output");
    assert!(messages.starts_with(&split_messages));
    if split.len() < whole.len() {
        assert!(out.iter().any(|f| f.0 == 8), "output is cut short only after a close");
    }
});
