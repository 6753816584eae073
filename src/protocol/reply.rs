//! Reply encoding: compact JSON written straight into the outgoing buffer.
//!
//! The store decides what a reply says; this module decides how it looks on
//! the wire. Nothing here allocates: members are appended to the caller's
//! buffer (normally the connection's output, right after the frame header),
//! stored values are copied in as the raw JSON text they were stored as, and
//! strings are escaped on the way. Members are written in the order given;
//! callers give them in byte-wise name order, as NemesisDB sends them.

use super::command::{ContainerVerb, Verb};
use super::decode::{Rejection, RspName, Shape};
use super::{Protocol, Status};

/// Writes one reply document into a buffer.
pub struct Reply<'b> {
    buf: &'b mut Vec<u8>,
    protocol: Protocol,
    /// The last `st` written, for the metrics.
    status: Option<Status>,
}

impl<'b> Reply<'b> {
    /// A writer appending to `buf`, numbering statuses per `protocol`.
    pub fn new(buf: &'b mut Vec<u8>, protocol: Protocol) -> Self {
        Reply { buf, protocol, status: None }
    }

    /// The status numbering in use.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The status of the reply written (its last `st`), if any.
    pub fn written_status(&self) -> Option<Status> {
        self.status
    }

    /// `{"<verb>_RSP":{…}}` with the members `f` writes.
    pub fn object(&mut self, verb: Verb, f: impl FnOnce(&mut Members<'_>)) {
        self.buf.extend_from_slice(b"{\"");
        self.buf.extend_from_slice(verb.response_name().as_bytes());
        self.buf.extend_from_slice(b"\":");
        self.members(f);
        self.buf.push(b'}');
    }

    /// `{"<verb>_RSP":{…}}` for an array or list command, with the members
    /// `f` writes.
    pub fn container(&mut self, verb: ContainerVerb, f: impl FnOnce(&mut Members<'_>)) {
        self.buf.extend_from_slice(b"{\"");
        for part in verb.response_parts() {
            self.buf.extend_from_slice(part.as_bytes());
        }
        self.buf.extend_from_slice(b"\":");
        self.members(f);
        self.buf.push(b'}');
    }

    /// `{"<verb>_RSP":{"st":N}}` for an array or list command: its success
    /// without fields, and the shape of all its errors.
    pub fn container_status(&mut self, verb: ContainerVerb, status: Status) {
        self.container(verb, |m| {
            m.st(status);
        });
    }

    /// `{"<verb>_RSP":{"st":N}}`
    // Inlined: most replies are this one, written from many places.
    #[inline]
    pub fn status(&mut self, verb: Verb, status: Status) {
        self.object(verb, |m| {
            m.st(status);
        });
    }

    /// `{"<verb>_RSP":{"m":"<m>","st":N,"tkn":null}}`: the shape of
    /// parameter errors and unknown sessions.
    pub fn error(&mut self, verb: Verb, status: Status, m: &str) {
        self.object(verb, |o| {
            o.str("m", m).st(status).null("tkn");
        });
    }

    /// Appends a whole reply document written earlier by another `Reply`
    /// (a job's, written off the loop), whose status is `status`.
    pub fn document(&mut self, json: &[u8], status: Status) {
        self.buf.extend_from_slice(json);
        self.status = Some(status);
    }

    /// Where the next reply would start, for [`Reply::truncate`].
    pub fn mark(&self) -> usize {
        self.buf.len()
    }

    /// Takes back everything written since `mark` (a reply that turned out
    /// too large to write in one piece).
    pub fn truncate(&mut self, mark: usize) {
        self.buf.truncate(mark);
    }

    /// Takes out everything written since `mark` (a reply that turned out
    /// too large to send in one piece), leaving the buffer as it was at
    /// `mark`. Returns a buffer and where in it the taken text starts: to
    /// copy the smaller side, that is the whole former buffer when less
    /// came before `mark` than after it.
    pub fn take_since(&mut self, mark: usize) -> (Vec<u8>, usize) {
        let mark = mark.min(self.buf.len());
        if mark <= self.buf.len() / 2 {
            let text = std::mem::take(self.buf);
            self.buf.extend_from_slice(&text[..mark]);
            (text, mark)
        } else {
            (self.buf.split_off(mark), 0)
        }
    }

    /// The text before and after the items of a successful list reply,
    /// `{"<verb>_RSP":{"<name>":[…],"st":1}}` (or `{…}` when `object`), for
    /// a reply written in pieces: the prefix, the items joined by commas,
    /// then the suffix, is exactly what [`Members::array`] (or
    /// [`Members::members`]) followed by [`Members::st`] writes.
    pub fn list_parts(protocol: Protocol, verb: Verb, name: &str, object: bool) -> (Vec<u8>, Vec<u8>) {
        let mut prefix = Vec::new();
        let mut split = 0;
        Reply::new(&mut prefix, protocol).object(verb, |o| {
            o.name(name);
            o.buf.push(if object { b'{' } else { b'[' });
            split = o.buf.len();
            o.buf.push(if object { b'}' } else { b']' });
            o.st(Status::Ok);
        });
        let suffix = prefix.split_off(split);
        (prefix, suffix)
    }

    /// The reply to a refused request.
    pub fn rejection(&mut self, rejection: &Rejection<'_>) {
        match &rejection.shape {
            Shape::Err => {
                self.buf.extend_from_slice(b"{\"ERR\":");
                self.members(|o| {
                    o.str("m", "").st(rejection.status);
                });
                self.buf.push(b'}');
            }
            Shape::Rsp { name: RspName::Known(verb), m } => self.error(*verb, rejection.status, m),
            Shape::Rsp { name: RspName::Container(verb), m } => self.container(*verb, |o| {
                o.str("m", m).st(rejection.status).null("tkn");
            }),
            Shape::Bare(RspName::Known(verb)) => self.status(*verb, rejection.status),
            Shape::Bare(RspName::Container(verb)) => self.container_status(*verb, rejection.status),
            Shape::Bare(RspName::Unknown(name)) => {
                self.buf.push(b'{');
                write_str_with_suffix(self.buf, name, "_RSP");
                self.buf.push(b':');
                self.members(|o| {
                    o.st(rejection.status);
                });
                self.buf.push(b'}');
            }
            Shape::BareErr => {
                self.buf.extend_from_slice(b"{\"ERR\":");
                self.members(|o| {
                    o.st(rejection.status);
                });
                self.buf.push(b'}');
            }
            Shape::Rsp { name: RspName::Unknown(name), m } => {
                self.buf.push(b'{');
                write_str_with_suffix(self.buf, name, "_RSP");
                self.buf.push(b':');
                self.members(|o| {
                    o.str("m", m).st(rejection.status).null("tkn");
                });
                self.buf.push(b'}');
            }
        }
    }

    fn members(&mut self, f: impl FnOnce(&mut Members<'_>)) {
        self.buf.push(b'{');
        let mut members = Members { buf: self.buf, protocol: self.protocol, first: true, status: &mut self.status };
        f(&mut members);
        self.buf.push(b'}');
    }
}

/// The members of one JSON object being written.
pub struct Members<'b> {
    buf: &'b mut Vec<u8>,
    protocol: Protocol,
    first: bool,
    status: &'b mut Option<Status>,
}

impl Members<'_> {
    fn name(&mut self, name: &str) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        self.buf.push(b'"');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    /// `"st":N`
    pub fn st(&mut self, status: Status) -> &mut Self {
        *self.status = Some(status);
        self.u64("st", u64::from(status.code(self.protocol)))
    }

    /// An unsigned integer member.
    pub fn u64(&mut self, name: &str, value: u64) -> &mut Self {
        self.name(name);
        self.buf.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self
    }

    /// A signed integer member.
    pub fn i64(&mut self, name: &str, value: i64) -> &mut Self {
        self.name(name);
        self.buf.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        self
    }

    /// A boolean member.
    pub fn bool(&mut self, name: &str, value: bool) -> &mut Self {
        self.name(name);
        self.buf.extend_from_slice(if value { b"true" } else { b"false" });
        self
    }

    /// A string member, escaped.
    pub fn str(&mut self, name: &str, value: &str) -> &mut Self {
        self.name(name);
        write_str(self.buf, value);
        self
    }

    /// A `null` member.
    pub fn null(&mut self, name: &str) -> &mut Self {
        self.name(name);
        self.buf.extend_from_slice(b"null");
        self
    }

    /// A member whose value is JSON text that is already valid.
    pub fn raw(&mut self, name: &str, json: &str) -> &mut Self {
        self.name(name);
        self.buf.extend_from_slice(json.as_bytes());
        self
    }

    /// An object member made of JSON member texts (`"key":value`).
    pub fn members<'v>(&mut self, name: &str, members: impl IntoIterator<Item = &'v [u8]>) -> &mut Self {
        self.name(name);
        self.buf.push(b'{');
        self.joined(members);
        self.buf.push(b'}');
        self
    }

    /// An array member made of JSON value texts.
    pub fn array<'v>(&mut self, name: &str, items: impl IntoIterator<Item = &'v [u8]>) -> &mut Self {
        self.name(name);
        self.buf.push(b'[');
        self.joined(items);
        self.buf.push(b']');
        self
    }

    fn joined<'v>(&mut self, items: impl IntoIterator<Item = &'v [u8]>) {
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            self.buf.extend_from_slice(item);
        }
    }

    /// An array-of-strings member.
    pub fn strs<'v>(&mut self, name: &str, items: impl IntoIterator<Item = &'v str>) -> &mut Self {
        self.name(name);
        self.buf.push(b'[');
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            write_str(self.buf, item);
        }
        self.buf.push(b']');
        self
    }

    /// An array-of-integers member.
    pub fn u64s(&mut self, name: &str, items: impl IntoIterator<Item = u64>) -> &mut Self {
        self.name(name);
        self.buf.push(b'[');
        let mut digits = itoa::Buffer::new();
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            self.buf.extend_from_slice(digits.format(item).as_bytes());
        }
        self.buf.push(b']');
        self
    }

    /// An array-of-signed-integers member.
    pub fn i64s(&mut self, name: &str, items: impl IntoIterator<Item = i64>) -> &mut Self {
        self.name(name);
        let items = items.into_iter();
        // A few bytes an item up front, so a long array is not copied
        // again and again as the buffer doubles.
        self.buf.reserve(items.size_hint().0.saturating_mul(4));
        self.buf.push(b'[');
        let mut digits = itoa::Buffer::new();
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            self.buf.extend_from_slice(digits.format(item).as_bytes());
        }
        self.buf.push(b']');
        self
    }

    /// A nested object member with the members `f` writes.
    pub fn object(&mut self, name: &str, f: impl FnOnce(&mut Members<'_>)) -> &mut Self {
        self.name(name);
        self.buf.push(b'{');
        let mut inner = Members { buf: self.buf, protocol: self.protocol, first: true, status: self.status };
        f(&mut inner);
        self.buf.push(b'}');
        self
    }
}

/// Appends `s` as a JSON string literal. Non-ASCII is written as UTF-8;
/// only `"`, `\` and control characters are escaped.
pub fn write_str(buf: &mut Vec<u8>, s: &str) {
    write_str_with_suffix(buf, s, "");
}

fn write_str_with_suffix(buf: &mut Vec<u8>, s: &str, suffix: &str) {
    buf.reserve(s.len() + suffix.len() + 2);
    buf.push(b'"');
    let bytes = s.as_bytes();
    // Most strings need no escape: one pass that the compiler vectorises
    // (no early exit), then a copy.
    let plain = !bytes.iter().fold(false, |any, &b| any | (b < 0x20) | (b == b'"') | (b == b'\\'));
    if plain {
        buf.extend_from_slice(bytes);
        buf.extend_from_slice(suffix.as_bytes());
        buf.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => {
                buf.extend_from_slice(&bytes[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                buf.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        buf.extend_from_slice(&bytes[start..i]);
        buf.extend_from_slice(escape);
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
    buf.extend_from_slice(suffix.as_bytes());
    buf.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn take_since_leaves_what_came_before_and_gives_the_rest() {
        for (before, after) in [(b"ab".as_slice(), b"0123456789".as_slice()), (b"0123456789", b"ab")] {
            let mut buf = before.to_vec();
            let mut reply = Reply::new(&mut buf, Protocol::V07);
            let mark = reply.mark();
            reply.buf.extend_from_slice(after);
            let (text, start) = reply.take_since(mark);
            assert_eq!(&text[start..], after);
            assert_eq!(buf, before);
        }
    }

    fn text(f: impl FnOnce(&mut Reply<'_>)) -> String {
        let mut buf = Vec::new();
        f(&mut Reply::new(&mut buf, Protocol::V07));
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn strings_escape_only_what_json_requires() {
        let mut buf = Vec::new();
        write_str(&mut buf, "a\"b\\c\n\u{1}/żółw 𝄞");
        assert_eq!(String::from_utf8(buf.clone()).unwrap(), r#""a\"b\\c\n\u0001/żółw 𝄞""#);
        let back: String = serde_json::from_slice(&buf).unwrap();
        assert_eq!(back, "a\"b\\c\n\u{1}/żółw 𝄞");
    }

    #[test]
    fn every_control_character_round_trips() {
        let all: String = (0u8..0x20).map(char::from).collect();
        let mut buf = Vec::new();
        write_str(&mut buf, &all);
        let back: String = serde_json::from_slice(&buf).unwrap();
        assert_eq!(back, all);
    }

    #[test]
    fn objects_are_compact_and_in_the_given_order() {
        let got = text(|r| {
            r.object(Verb::KvGet, |o| {
                o.members("keys", [&b"\"a\":1"[..], b"\"b\\\"\":{\"x\":[1,2]}"]).st(Status::Ok);
            })
        });
        assert_eq!(got, r#"{"KV_GET_RSP":{"keys":{"a":1,"b\"":{"x":[1,2]}},"st":1}}"#);
        let got = text(|r| {
            r.object(Verb::KvKeys, |o| {
                o.strs("keys", []).st(Status::Ok);
            })
        });
        assert_eq!(got, r#"{"KV_KEYS_RSP":{"keys":[],"st":1}}"#);
    }

    #[test]
    fn list_parts_frame_the_items_as_the_one_piece_writer_does() {
        let items: [&[u8]; 2] = [b"\"a\"", b"\"b\\\"\""];
        for protocol in [Protocol::V07, Protocol::V09] {
            let mut whole = Vec::new();
            Reply::new(&mut whole, protocol).object(Verb::KvKeys, |o| {
                o.array("keys", items).st(Status::Ok);
            });
            let (prefix, suffix) = Reply::list_parts(protocol, Verb::KvKeys, "keys", false);
            assert_eq!([&prefix[..], items[0], b",", items[1], &suffix[..]].concat(), whole);
            let mut whole = Vec::new();
            Reply::new(&mut whole, protocol).object(Verb::ShGet, |o| {
                o.members("keys", [&b"\"a\":1"[..]]).st(Status::Ok);
            });
            let (prefix, suffix) = Reply::list_parts(protocol, Verb::ShGet, "keys", true);
            assert_eq!([&prefix[..], b"\"a\":1", &suffix[..]].concat(), whole);
            assert_eq!(String::from_utf8(prefix).unwrap(), r#"{"SH_GET_RSP":{"keys":{"#);
        }
    }

    #[test]
    fn rejections_have_the_documented_shapes() {
        let got = text(|r| r.rejection(&Rejection::binary_frame()));
        assert_eq!(got, r#"{"ERR":{"m":"","st":2}}"#);
        let unknown = Rejection {
            status: Status::CommandNotExist,
            shape: Shape::Rsp { name: RspName::Unknown(Cow::Borrowed("x\"y")), m: "" },
        };
        assert_eq!(text(|r| r.rejection(&unknown)), r#"{"x\"y_RSP":{"m":"","st":10,"tkn":null}}"#);
        let missing = Rejection::verb(Verb::KvSet, Status::ParamMissing, "Missing parameter");
        assert_eq!(text(|r| r.rejection(&missing)), r#"{"KV_SET_RSP":{"m":"Missing parameter","st":26,"tkn":null}}"#);
    }

    #[test]
    fn the_status_written_is_remembered() {
        let mut buf = Vec::new();
        let mut reply = Reply::new(&mut buf, Protocol::V07);
        assert_eq!(reply.written_status(), None);
        reply.rejection(&Rejection::binary_frame());
        assert_eq!(reply.written_status(), Some(Status::OpCodeInvalid));
        let mut reply = Reply::new(&mut buf, Protocol::V09);
        reply.object(Verb::SvInfo, |o| {
            o.object("lastSave", |s| {
                s.u64("status", 120);
            })
            .st(Status::Ok);
        });
        assert_eq!(reply.written_status(), Some(Status::Ok));
    }
}
