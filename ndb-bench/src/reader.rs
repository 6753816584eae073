//! A connection's read buffer, turned into replies.
//!
//! Owns the bytes read from one server and nothing else: the caller reads
//! from its socket into [`Reader::spare`], reports the count with
//! [`Reader::commit`], then calls [`Reader::next`] until it returns
//! `Ok(None)`. Frames may arrive split anywhere, several per read, or
//! fragmented into several frames per message; each complete text message
//! comes out as one [`Frame::Reply`].
//!
//! The buffer is allocated once and reused; it only grows when one frame is
//! larger than it, and then keeps its new size.

use crate::frame::{self, MAX_FRAME_BYTES, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT, Parse};

/// Longest server frame header: 2 bytes, plus 8 of extended length.
const MAX_SERVER_HEADER: usize = 10;

/// One complete thing the server sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A complete text message: one reply, with its `st` if it had one.
    /// Its text is [`Reader::last_text`] until the next call.
    Reply {
        /// The reply's status number, `None` if it had none.
        status: Option<u64>,
    },
    /// A complete binary message: answers a request, but is never a valid reply.
    Binary,
    /// A ping, which must be answered with a pong carrying the same payload.
    Ping {
        /// Payload bytes; only `len` of them are used.
        payload: [u8; 125],
        /// Payload length.
        len: u8,
    },
    /// The server started the closing handshake.
    Close {
        /// The close code, if the frame had one.
        code: Option<u16>,
    },
}

/// Where the bytes of the last reply are.
#[derive(Clone, Copy, Debug)]
enum Last {
    None,
    InBuffer(usize, usize),
    InFragments,
}

/// The read side of one connection.
#[derive(Debug)]
pub struct Reader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes from `start` that the frame at the front needs, once its header
    /// is known; 0 otherwise.
    need: usize,
    /// Payload of a fragmented message so far.
    fragments: Vec<u8>,
    /// Opcode of the fragmented message in progress, if any.
    fragmented: Option<u8>,
    last: Last,
}

impl Reader {
    /// A reader with `capacity` bytes of buffer to start with.
    pub fn with_capacity(capacity: usize) -> Reader {
        Reader {
            buf: vec![0; capacity.max(MAX_SERVER_HEADER)],
            start: 0,
            end: 0,
            need: 0,
            fragments: Vec::new(),
            fragmented: None,
            last: Last::None,
        }
    }

    /// Free space to read into: never empty, and large enough, together with
    /// the bytes already held, for the frame at the front once its header is
    /// known. May move the held bytes, which ends [`Reader::last_text`].
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end == self.buf.len() || self.buf.len() - self.start < self.need {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            self.last = Last::None;
            if self.end == self.buf.len() || self.buf.len() < self.need {
                let grown = (self.buf.len() * 2).max(self.need).min(MAX_FRAME_BYTES + MAX_SERVER_HEADER);
                self.buf.resize(grown, 0);
            }
        }
        &mut self.buf[self.end..]
    }

    /// Records that `n` bytes were read into the front of [`Reader::spare`].
    pub fn commit(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Copies bytes in as if they had been read (the handshake's leftovers).
    pub fn push_bytes(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let spare = self.spare();
            let n = spare.len().min(bytes.len());
            spare[..n].copy_from_slice(&bytes[..n]);
            self.commit(n);
            bytes = &bytes[n..];
        }
    }

    /// Whether bytes of an unfinished frame or message are held.
    pub fn is_mid_frame(&self) -> bool {
        self.start != self.end || self.fragmented.is_some()
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed, or a
    /// description of the protocol violation. Pongs are skipped.
    pub fn next(&mut self) -> Result<Option<Frame>, &'static str> {
        loop {
            let held = &self.buf[self.start..self.end];
            let header = match frame::parse_header(held) {
                Parse::Header(header) => header,
                Parse::Incomplete => return Ok(None),
                Parse::Invalid(why) => return Err(why),
            };
            let total = header.header_len + header.payload_len;
            if held.len() < total {
                self.need = total;
                return Ok(None);
            }
            self.need = 0;
            let from = self.start + header.header_len;
            let to = self.start + total;
            self.start = to;
            match (header.opcode, self.fragmented) {
                (OP_TEXT | OP_BINARY, Some(_)) => {
                    return Err("new message inside a fragmented one");
                }
                (OP_TEXT | OP_BINARY, None) if header.fin => {
                    self.last = Last::InBuffer(from, to);
                    return Ok(Some(message(header.opcode, &self.buf[from..to])));
                }
                (OP_TEXT | OP_BINARY, None) => {
                    self.fragments.clear();
                    self.fragments.extend_from_slice(&self.buf[from..to]);
                    self.fragmented = Some(header.opcode);
                }
                (OP_CONTINUATION, None) => return Err("continuation frame outside a message"),
                (OP_CONTINUATION, Some(opcode)) => {
                    if self.fragments.len() + (to - from) > MAX_FRAME_BYTES {
                        return Err("fragmented message too large");
                    }
                    self.fragments.extend_from_slice(&self.buf[from..to]);
                    if header.fin {
                        self.fragmented = None;
                        self.last = Last::InFragments;
                        return Ok(Some(message(opcode, &self.fragments)));
                    }
                }
                (OP_PING, _) => {
                    let mut payload = [0u8; 125];
                    let len = to - from;
                    payload[..len].copy_from_slice(&self.buf[from..to]);
                    return Ok(Some(Frame::Ping { payload, len: len as u8 }));
                }
                (OP_CLOSE, _) => {
                    let code = self
                        .buf
                        .get(from..from + 2)
                        .filter(|_| to - from >= 2)
                        .map(|b| u16::from_be_bytes([b[0], b[1]]));
                    return Ok(Some(Frame::Close { code }));
                }
                (OP_PONG, _) => {}
                _ => return Err("unknown opcode"),
            }
        }
    }

    /// The text of the last [`Frame::Reply`], until the next call to
    /// [`Reader::spare`] or [`Reader::next`] moves it.
    pub fn last_text(&self) -> &[u8] {
        match self.last {
            Last::None => &[],
            Last::InBuffer(from, to) => self.buf.get(from..to).unwrap_or(&[]),
            Last::InFragments => &self.fragments,
        }
    }
}

fn message(opcode: u8, payload: &[u8]) -> Frame {
    if opcode == OP_TEXT { Frame::Reply { status: frame::scan_status(payload) } } else { Frame::Binary }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![first_byte];
        match payload.len() {
            n if n < 126 => out.push(n as u8),
            n if n <= 0xFFFF => {
                out.push(126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    /// Feeds `bytes` in pieces of `step` and collects every frame.
    fn feed(reader: &mut Reader, bytes: &[u8], step: usize) -> Vec<(Frame, Vec<u8>)> {
        let mut frames = Vec::new();
        for piece in bytes.chunks(step) {
            let mut piece = piece;
            while !piece.is_empty() {
                let spare = reader.spare();
                let n = spare.len().min(piece.len());
                spare[..n].copy_from_slice(&piece[..n]);
                reader.commit(n);
                piece = &piece[n..];
                while let Some(frame) = reader.next().unwrap() {
                    frames.push((frame, reader.last_text().to_vec()));
                }
            }
        }
        frames
    }

    #[test]
    fn replies_split_at_every_offset_come_out_whole() {
        let big = format!(r#"{{"KV_GET_RSP":{{"keys":{{"k":"{}"}},"st":1}}}}"#, "x".repeat(300));
        let mut stream = server_frame(0x81, br#"{"KV_SET_RSP":{"st":1}}"#);
        stream.extend(server_frame(0x81, big.as_bytes()));
        stream.extend(server_frame(0x81, br#"{"ERR":{"m":"","st":3}}"#));
        for step in 1..=stream.len() {
            let mut reader = Reader::with_capacity(16);
            let frames = feed(&mut reader, &stream, step);
            let statuses: Vec<Frame> = frames.iter().map(|f| f.0).collect();
            assert_eq!(
                statuses,
                vec![
                    Frame::Reply { status: Some(1) },
                    Frame::Reply { status: Some(1) },
                    Frame::Reply { status: Some(3) },
                ],
                "step {step}"
            );
            assert_eq!(frames[1].1, big.as_bytes(), "step {step}");
            assert!(!reader.is_mid_frame());
        }
    }

    #[test]
    fn fragmented_reply_with_ping_between_is_one_reply() {
        let mut stream = server_frame(0x01, br#"{"SH_GET_RSP":{"keys":{},"#);
        stream.extend(server_frame(0x89, b"hi"));
        stream.extend(server_frame(0x00, br#""s"#));
        stream.extend(server_frame(0x80, br#"t":1}}"#));
        for step in 1..=stream.len() {
            let mut reader = Reader::with_capacity(64);
            let frames = feed(&mut reader, &stream, step);
            assert_eq!(frames.len(), 2, "step {step}");
            assert!(matches!(frames[0].0, Frame::Ping { len: 2, .. }));
            assert_eq!(frames[1].0, Frame::Reply { status: Some(1) });
            assert_eq!(frames[1].1, br#"{"SH_GET_RSP":{"keys":{},"st":1}}"#);
        }
    }

    #[test]
    fn close_binary_and_pong_are_reported_or_skipped() {
        let mut stream = server_frame(0x8A, b"");
        stream.extend(server_frame(0x82, b"\x00\x01"));
        stream.extend(server_frame(0x88, &1001u16.to_be_bytes()));
        let mut reader = Reader::with_capacity(64);
        let frames: Vec<Frame> = feed(&mut reader, &stream, 3).into_iter().map(|f| f.0).collect();
        assert_eq!(frames, vec![Frame::Binary, Frame::Close { code: Some(1001) }]);
    }

    #[test]
    fn protocol_violations_are_errors() {
        let mut reader = Reader::with_capacity(64);
        reader.push_bytes(&server_frame(0x80, b"x"));
        assert!(reader.next().is_err());

        let mut reader = Reader::with_capacity(64);
        let mut stream = server_frame(0x01, b"{");
        stream.extend(server_frame(0x81, b"{}"));
        reader.push_bytes(&stream);
        assert!(reader.next().is_err());
    }

    #[test]
    fn buffer_grows_for_a_frame_larger_than_itself_and_keeps_order() {
        let payload = format!(r#"{{"X_RSP":{{"v":"{}","st":7}}}}"#, "y".repeat(100_000));
        let mut stream = server_frame(0x81, payload.as_bytes());
        stream.extend(server_frame(0x81, br#"{"X_RSP":{"st":1}}"#));
        let mut reader = Reader::with_capacity(1024);
        let frames = feed(&mut reader, &stream, 4096);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].0, Frame::Reply { status: Some(7) });
        assert_eq!(frames[0].1.len(), payload.len());
        assert_eq!(frames[1].0, Frame::Reply { status: Some(1) });
    }
}
