//! WebSocket framing for a client that only needs a reply's status (RFC 6455 §5).
//!
//! Owns the byte level: masked client frames out, unmasked server frames in,
//! and the scan for a reply's `"st":N`. No sockets and no clocks here, so all
//! of it is tested with plain byte slices.
//!
//! Invariants: every frame this module writes is a masked, final frame;
//! every server frame it accepts is unmasked, has no reserved bits set and is
//! at most [`MAX_FRAME_BYTES`] long. A text message is one reply, whether it
//! came in one frame or several.

/// Opcode of a continuation frame.
pub const OP_CONTINUATION: u8 = 0x0;
/// Opcode of a text frame.
pub const OP_TEXT: u8 = 0x1;
/// Opcode of a binary frame.
pub const OP_BINARY: u8 = 0x2;
/// Opcode of a close frame.
pub const OP_CLOSE: u8 = 0x8;
/// Opcode of a ping frame.
pub const OP_PING: u8 = 0x9;
/// Opcode of a pong frame.
pub const OP_PONG: u8 = 0xA;

/// Largest server frame accepted, in bytes. Replies to this tool's requests
/// are small unless `-d` is large; 256 MiB bounds memory on a broken stream.
pub const MAX_FRAME_BYTES: usize = 256 * 1024 * 1024;

/// Bytes of a client frame header without its masking key: 2, plus 2 or 8
/// for the extended length.
pub const MAX_HEADER_BYTES: usize = 10;

/// A client frame header without its masking key, for a final, masked frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientHeader {
    bytes: [u8; MAX_HEADER_BYTES],
    len: u8,
}

impl ClientHeader {
    /// The header of a final, masked frame with `opcode` and a payload of
    /// `payload_len` bytes.
    pub fn new(opcode: u8, payload_len: usize) -> ClientHeader {
        let mut bytes = [0u8; MAX_HEADER_BYTES];
        bytes[0] = 0x80 | (opcode & 0x0F);
        let len = if payload_len < 126 {
            bytes[1] = 0x80 | payload_len as u8;
            2
        } else if let Ok(short) = u16::try_from(payload_len) {
            bytes[1] = 0x80 | 126;
            bytes[2..4].copy_from_slice(&short.to_be_bytes());
            4
        } else {
            bytes[1] = 0x80 | 127;
            bytes[2..10].copy_from_slice(&(payload_len as u64).to_be_bytes());
            10
        };
        ClientHeader { bytes, len }
    }

    /// The header bytes, ready to be followed by the masking key.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// XORs `data` with `mask`, the first byte of `data` taking `mask[0]`
/// (RFC 6455 §5.3). Works eight bytes at a time; the compiler vectorises it.
#[inline]
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    // chunks_exact leaves fewer than 8 bytes, starting at a multiple of 8,
    // so the mask phase of the remainder starts again at mask[0].
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

/// Appends one complete masked frame to `out`.
pub fn push_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    out.extend_from_slice(ClientHeader::new(opcode, payload.len()).as_bytes());
    out.extend_from_slice(&mask);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask);
}

/// A server frame header, parsed from the front of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Whether this is the final frame of its message.
    pub fin: bool,
    /// The frame's opcode.
    pub opcode: u8,
    /// Bytes taken by the header itself.
    pub header_len: usize,
    /// Bytes of payload after the header.
    pub payload_len: usize,
}

/// What [`parse_header`] found at the front of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parse {
    /// A complete header; the payload may not have arrived yet.
    Header(Header),
    /// Not enough bytes for the header yet.
    Incomplete,
    /// A header no conforming server sends.
    Invalid(&'static str),
}

/// Parses the server frame header at the front of `buf`.
pub fn parse_header(buf: &[u8]) -> Parse {
    let [b0, b1, ..] = *buf else {
        return Parse::Incomplete;
    };
    if b0 & 0x70 != 0 {
        return Parse::Invalid("reserved bits set in a server frame");
    }
    if b1 & 0x80 != 0 {
        return Parse::Invalid("masked server frame");
    }
    let opcode = b0 & 0x0F;
    let fin = b0 & 0x80 != 0;
    let (header_len, payload_len) = match b1 & 0x7F {
        126 => match buf.get(2..4) {
            Some(b) => (4, u64::from(u16::from_be_bytes([b[0], b[1]]))),
            None => return Parse::Incomplete,
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let mut len = [0u8; 8];
                len.copy_from_slice(b);
                (10, u64::from_be_bytes(len))
            }
            None => return Parse::Incomplete,
        },
        short => (2, u64::from(short)),
    };
    match opcode {
        OP_CONTINUATION | OP_TEXT | OP_BINARY => {}
        OP_CLOSE | OP_PING | OP_PONG => {
            if !fin || payload_len > 125 {
                return Parse::Invalid("fragmented or oversized control frame");
            }
        }
        _ => return Parse::Invalid("unknown opcode"),
    }
    match usize::try_from(payload_len) {
        Ok(payload_len) if payload_len <= MAX_FRAME_BYTES => {
            Parse::Header(Header { fin, opcode, header_len, payload_len })
        }
        _ => Parse::Invalid("server frame too large"),
    }
}

/// The status number of a reply: the value of its last `"st":` member.
///
/// The benchmark's replies carry `st` in the inner object, after any `keys`
/// payload (`…,"st":1}}`) or before a few short members (`"st":1,"tkn":…}}`),
/// so searching backwards finds it after a few bytes even when the reply
/// holds a large value. Values this tool stores never contain `"st":`.
/// Returns `None` when there is no such member or its value is not a number.
pub fn scan_status(text: &[u8]) -> Option<u64> {
    const NEEDLE: &[u8] = b"\"st\":";
    let at = text.windows(NEEDLE.len()).rposition(|w| w == NEEDLE)?;
    parse_uint(&text[at + NEEDLE.len()..])
}

/// The value of a reply's `"tkn":` member, a u64 (possibly at least 2^63).
pub fn scan_token(text: &[u8]) -> Option<u64> {
    const NEEDLE: &[u8] = b"\"tkn\":";
    let at = text.windows(NEEDLE.len()).position(|w| w == NEEDLE)?;
    parse_uint(&text[at + NEEDLE.len()..])
}

/// Parses the unsigned integer at the front of `bytes`, after optional
/// spaces. It must end at a JSON delimiter, so `1.5` or `1e3` is not `1`.
fn parse_uint(bytes: &[u8]) -> Option<u64> {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace())?;
    let mut value: u64 = 0;
    let mut digits = 0;
    for &b in &bytes[start..] {
        match b {
            b'0'..=b'9' => {
                value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
                digits += 1;
            }
            b',' | b'}' | b' ' | b'\t' | b'\r' | b'\n' => break,
            _ => return None,
        }
    }
    (digits > 0).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use tungstenite::protocol::frame::FrameHeader;
    use tungstenite::protocol::frame::coding::{Data, OpCode};

    #[test]
    fn client_header_matches_tungstenite_for_every_length_class() {
        for len in [0usize, 1, 125, 126, 127, 65_535, 65_536, 1 << 20] {
            let mut ours = ClientHeader::new(OP_TEXT, len).as_bytes().to_vec();
            ours.extend_from_slice(&[1, 2, 3, 4]);
            let header =
                FrameHeader { mask: Some([1, 2, 3, 4]), opcode: OpCode::Data(Data::Text), ..FrameHeader::default() };
            let mut theirs = Vec::new();
            header.format(len as u64, &mut theirs).unwrap();
            assert_eq!(ours, theirs, "length {len}");
            let (parsed, parsed_len) = FrameHeader::parse(&mut Cursor::new(&theirs)).unwrap().unwrap();
            assert_eq!(parsed_len, len as u64);
            assert_eq!(parsed.opcode, OpCode::Data(Data::Text));
        }
    }

    #[test]
    fn mask_matches_bytewise_definition_at_every_length() {
        let mask = [0x12, 0x34, 0x56, 0x78];
        for len in 0..40 {
            let original: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(31)).collect();
            let mut fast = original.clone();
            apply_mask(&mut fast, mask);
            let slow: Vec<u8> = original.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
            assert_eq!(fast, slow, "length {len}");
            apply_mask(&mut fast, mask);
            assert_eq!(fast, original, "masking twice restores, length {len}");
        }
    }

    #[test]
    fn pushed_frame_unmasks_to_payload() {
        let mut out = Vec::new();
        push_frame(&mut out, OP_TEXT, b"{\"SV_INFO\":{}}", [9, 8, 7, 6]);
        assert_eq!(out[0], 0x81);
        assert_eq!(out[1], 0x80 | 14);
        assert_eq!(&out[2..6], &[9, 8, 7, 6]);
        let mut payload = out[6..].to_vec();
        apply_mask(&mut payload, [9, 8, 7, 6]);
        assert_eq!(payload, b"{\"SV_INFO\":{}}");
    }

    #[test]
    fn server_headers_parse_like_tungstenite_formats_them() {
        for len in [0u64, 5, 125, 126, 300, 65_535, 65_536, 70_000] {
            let mut bytes = Vec::new();
            let header = FrameHeader { opcode: OpCode::Data(Data::Text), ..FrameHeader::default() };
            header.format(len, &mut bytes).unwrap();
            let expected = Parse::Header(Header {
                fin: true,
                opcode: OP_TEXT,
                header_len: bytes.len(),
                payload_len: len as usize,
            });
            assert_eq!(parse_header(&bytes), expected, "length {len}");
            for cut in 0..bytes.len() {
                assert_eq!(parse_header(&bytes[..cut]), Parse::Incomplete, "cut {cut}");
            }
        }
    }

    #[test]
    fn bad_server_headers_are_invalid() {
        assert!(matches!(parse_header(&[0x81, 0x85]), Parse::Invalid(_)));
        assert!(matches!(parse_header(&[0xC1, 0x05]), Parse::Invalid(_)));
        assert!(matches!(parse_header(&[0x83, 0x00]), Parse::Invalid(_)));
        assert!(matches!(parse_header(&[0x09, 0x00]), Parse::Invalid(_)));
        assert!(matches!(parse_header(&[0x89, 126, 0, 200]), Parse::Invalid(_)));
        let huge = [0x81, 127, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        assert!(matches!(parse_header(&huge), Parse::Invalid(_)));
    }

    #[test]
    fn status_is_found_in_every_reply_shape() {
        let cases: &[(&str, Option<u64>)] = &[
            (r#"{"KV_SET_RSP":{"st":1}}"#, Some(1)),
            (r#"{"KV_GET_RSP":{"keys":{"key:000000000042":"xxxx"},"st":1}}"#, Some(1)),
            (r#"{"SH_NEW_RSP":{"st":1,"tkn":9876543210123456789}}"#, Some(1)),
            (r#"{"ERR":{"m":"","st":3}}"#, Some(3)),
            (r#"{"SH_GET_RSP":{"m":"","st":100,"tkn":null}}"#, Some(100)),
            (r#"{"SV_INFO_RSP":{"persistEnabled":true,"serverVersion":"0.7.4","st":1}}"#, Some(1)),
            (r#"{"X_RSP":{"st": 22 }}"#, Some(22)),
            (r#"{"X_RSP":{"st":1.5}}"#, None),
            (r#"{"X_RSP":{"st":"1"}}"#, None),
            (r#"{"X_RSP":{"ok":1}}"#, None),
            (r#"{"X_RSP":{"st":}}"#, None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(scan_status(text.as_bytes()), *expected, "{text}");
        }
    }

    #[test]
    fn token_above_i64_range_is_read_exactly() {
        let reply = br#"{"SH_NEW_RSP":{"st":1,"tkn":18446744073709551615}}"#;
        assert_eq!(scan_token(reply), Some(u64::MAX));
        assert_eq!(scan_token(br#"{"SH_NEW_RSP":{"st":1,"tkn":18446744073709551616}}"#), None);
        assert_eq!(scan_token(br#"{"SH_NEW_RSP":{"st":103}}"#), None);
    }
}
