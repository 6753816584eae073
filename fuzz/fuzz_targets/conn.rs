//! The connection layer over an in-memory stream: arbitrary frames (valid
//! or not), delivered in arbitrary splits, with the peer taking output in
//! arbitrary amounts. Nothing panics; the output is the same whatever the
//! splits; it is a well-formed run of server frames with one echo per
//! message, and nothing after a close frame.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use ndb::internals::conn::Limits;
use testkit::pipe::echo_through;
use testkit::wire::{UPGRADE, server_frames};

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

fuzz_target!(|input: Input| {
    let mut bytes = input.raw_head.clone().unwrap_or_else(|| UPGRADE.as_bytes().to_vec());
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
        users: ndb::Users::default(),
        hold_upgrades: false,
        // Every message answered in its turn, as the echo host does.
        lend_text_over: usize::MAX,
    };
    let (whole, messages) = echo_through(&bytes, vec![usize::MAX], vec![usize::MAX], &limits);
    let splits: Vec<usize> = input.splits.iter().map(|&s| usize::from(s).max(1)).collect();
    let rooms: Vec<usize> = input.rooms.iter().map(|&r| usize::from(r)).collect();
    let splits = if splits.is_empty() { vec![usize::MAX] } else { splits };
    let rooms = if rooms.iter().all(|&r| r == 0) { vec![usize::MAX] } else { rooms };
    let (split, split_messages) = echo_through(&bytes, splits, rooms, &limits);

    let out = server_frames(&whole);
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
