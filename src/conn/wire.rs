//! Server frames as bytes: building them (text, binary, control, close),
//! finding their ends in pending output, unmasking client payloads, and
//! checking UTF-8 a fragment at a time.
//!
//! Pure functions over byte slices: no socket, no connection state.

use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

/// The frame a handler's reply goes out in, or that it comes later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// A text frame (every ndb reply).
    Text,
    /// A binary frame (an echo of a binary message, for conformance tests).
    Binary,
    /// No reply now: the handler wrote nothing and will deliver the reply
    /// through `Conn::resume`. Until then the connection serves no further
    /// message (they wait in its input, in order).
    Later,
}

/// What a message handler returns: the frame its reply goes out in.
/// `()` means a text frame, so handlers that only ever answer in text need
/// not say so.
pub trait IntoReplyKind {
    /// The frame kind of the reply.
    fn reply_kind(self) -> ReplyKind;
}

impl IntoReplyKind for () {
    fn reply_kind(self) -> ReplyKind {
        ReplyKind::Text
    }
}

impl IntoReplyKind for ReplyKind {
    fn reply_kind(self) -> ReplyKind {
        self
    }
}

/// Appends an unmasked, final server frame.
pub(super) fn write_frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    let header = FrameHeader { opcode, ..FrameHeader::default() };
    // Writing into a Vec cannot fail.
    let _ = header.format(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

/// Appends a close frame; the reason is cut to fit a control frame.
pub(super) fn write_close_frame(out: &mut Vec<u8>, code: u16, reason: &str) {
    let mut payload = [0u8; 125];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    let mut len = reason.len().min(123);
    while !reason.is_char_boundary(len) {
        len -= 1;
    }
    payload[2..2 + len].copy_from_slice(&reason.as_bytes()[..len]);
    write_frame(out, OpCode::Control(Control::Close), &payload[..2 + len]);
}

/// Bytes reserved in front of a reply for its frame header; the header is
/// filled in (and widened for long replies) by [`finish_frame`].
pub(super) const RESERVED_HEADER_BYTES: usize = 2;

/// Turns `out[start..]` (two reserved bytes, then a payload) into a final
/// data frame of `kind`, widening the header for long payloads.
pub(super) fn finish_frame(out: &mut Vec<u8>, start: usize, kind: ReplyKind) {
    let data = match kind {
        ReplyKind::Text | ReplyKind::Later => Data::Text,
        ReplyKind::Binary => Data::Binary,
    };
    finish_data_frame(out, start, data, true);
}

/// Turns `out[start..]` into one piece of a text message sent in pieces:
/// the `first` is a text frame, the others continuation frames, and only
/// the `last` has FIN set (one piece that is both is an ordinary frame).
pub(super) fn finish_piece(out: &mut Vec<u8>, start: usize, first: bool, last: bool) {
    finish_data_frame(out, start, if first { Data::Text } else { Data::Continue }, last);
}

fn finish_data_frame(out: &mut Vec<u8>, start: usize, data: Data, is_final: bool) {
    let len = out.len() - start - RESERVED_HEADER_BYTES;
    let header = FrameHeader { opcode: OpCode::Data(data), is_final, ..FrameHeader::default() };
    let mut head = [0u8; 10];
    let head_len = header.len(len as u64);
    let _ = header.format(len as u64, &mut &mut head[..]);
    if head_len > RESERVED_HEADER_BYTES {
        let extra = head_len - RESERVED_HEADER_BYTES;
        out.resize(out.len() + extra, 0);
        out.copy_within(start + 2..start + 2 + len, start + head_len);
    }
    out[start..start + head_len].copy_from_slice(&head[..head_len]);
}

/// The length of the unmasked server frame at the start of `buf`, or
/// `None` if `buf` does not hold its whole header.
pub(super) fn server_frame_len(buf: &[u8]) -> Option<usize> {
    let (&[_, second], rest) = buf.split_first_chunk::<2>()?;
    let (head, len) = match second & 0x7f {
        126 => (4, u64::from(u16::from_be_bytes(*rest.first_chunk::<2>()?))),
        127 => (10, u64::from_be_bytes(*rest.first_chunk::<8>()?)),
        n => (2, u64::from(n)),
    };
    usize::try_from(len).ok()?.checked_add(head)
}

/// Where the first frame boundary at or after `offset` lies in `frames`, a
/// run of whole server frames starting at a boundary. Returns `frames.len()`
/// when `offset` falls in the last frame.
pub(super) fn next_boundary(frames: &[u8], offset: usize) -> usize {
    let mut pos = 0;
    while pos < offset {
        match server_frame_len(&frames[pos..]) {
            Some(len) => pos = pos.saturating_add(len).min(frames.len()),
            None => return frames.len(),
        }
    }
    pos
}

/// Unmasks a client payload in place (RFC 6455 §5.3), eight bytes at a time.
pub fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]]);
    let (words, rest) = payload.as_chunks_mut::<8>();
    for word in words {
        *word = (u64::from_ne_bytes(*word) ^ wide).to_ne_bytes();
    }
    for (i, byte) in rest.iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

/// Checks the UTF-8 of a text message as its fragments arrive, so a bad
/// byte closes the connection at once rather than after the last fragment.
/// `checked` is how many leading bytes are already known to be good; only
/// a sequence cut at the end of `text` may stay open. Returns `false` on
/// invalid UTF-8.
pub(super) fn check_utf8_prefix(text: &[u8], checked: &mut usize) -> bool {
    match std::str::from_utf8(&text[*checked..]) {
        Ok(_) => {
            *checked = text.len();
            true
        }
        Err(e) if e.error_len().is_none() => {
            *checked += e.valid_up_to();
            true
        }
        Err(_) => false,
    }
}
