//! The tests this tool runs, the custom requests given on the command line
//! ([`Body`], with placeholders), and the request frames they send.
//!
//! A [`Template`] is one request payload, built once per test and
//! connection, with the byte offsets of its keys' twelve digits (and of its
//! random numbers'). Sending a request copies the template into the
//! connection's write buffer, writes the numbers into those digits and
//! masks the copy in place: no allocation, no formatting, no JSON encoding
//! per request.

use crate::frame::{self, ClientHeader, OP_TEXT};

/// Digits in a key number: keys are `key:%012d`, as redis-benchmark's.
pub const KEY_DIGITS: usize = 12;

/// The largest key space whose numbers fit in [`KEY_DIGITS`] digits.
pub const MAX_KEY_SPACE: u64 = 1_000_000_000_000;

/// The status every successful reply of these tests carries (PROTOCOL.md §3.3).
pub const ST_OK: u64 = 1;

/// One kind of request the benchmark can send, named as on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Test {
    /// `KV_SET` of one key.
    KvSet,
    /// `KV_GET` of one key.
    KvGet,
    /// `KV_ADD` of one key.
    KvAdd,
    /// `KV_CONTAINS` of one key.
    KvContains,
    /// `KV_RMV` of one key.
    KvRmv,
    /// `KV_COUNT`.
    KvCount,
    /// `SV_INFO`.
    SvInfo,
    /// `SH_NEW`, creating a session per request.
    ShNew,
    /// `SH_SET` of one key in the connection's session.
    ShSet,
    /// `SH_GET` of one key from the connection's session.
    ShGet,
    /// `SH_ADD` of one key in the connection's session.
    ShAdd,
    /// `SH_CONTAINS` of one key in the connection's session.
    ShContains,
    /// `SH_RMV` of one key from the connection's session.
    ShRmv,
    /// `SH_COUNT` of the connection's session.
    ShCount,
}

impl Test {
    /// Every test, in the order a run without `-t` uses.
    pub const ALL: [Test; 14] = [
        Test::KvSet,
        Test::KvGet,
        Test::KvAdd,
        Test::KvContains,
        Test::KvCount,
        Test::KvRmv,
        Test::SvInfo,
        Test::ShNew,
        Test::ShSet,
        Test::ShGet,
        Test::ShAdd,
        Test::ShContains,
        Test::ShCount,
        Test::ShRmv,
    ];

    /// The name used by `-t` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Test::KvSet => "kv_set",
            Test::KvGet => "kv_get",
            Test::KvAdd => "kv_add",
            Test::KvContains => "kv_contains",
            Test::KvRmv => "kv_rmv",
            Test::KvCount => "kv_count",
            Test::SvInfo => "sv_info",
            Test::ShNew => "sh_new",
            Test::ShSet => "sh_set",
            Test::ShGet => "sh_get",
            Test::ShAdd => "sh_add",
            Test::ShContains => "sh_contains",
            Test::ShRmv => "sh_rmv",
            Test::ShCount => "sh_count",
        }
    }

    /// The test called `name`, case-insensitively (`KV_SET` works too).
    pub fn from_name(name: &str) -> Option<Test> {
        Test::ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// The wire command this test sends.
    fn command(self) -> &'static str {
        match self {
            Test::KvSet => "KV_SET",
            Test::KvGet => "KV_GET",
            Test::KvAdd => "KV_ADD",
            Test::KvContains => "KV_CONTAINS",
            Test::KvRmv => "KV_RMV",
            Test::KvCount => "KV_COUNT",
            Test::SvInfo => "SV_INFO",
            Test::ShNew => "SH_NEW",
            Test::ShSet => "SH_SET",
            Test::ShGet => "SH_GET",
            Test::ShAdd => "SH_ADD",
            Test::ShContains => "SH_CONTAINS",
            Test::ShRmv => "SH_RMV",
            Test::ShCount => "SH_COUNT",
        }
    }

    /// Whether each connection needs a session (from `SH_NEW`) for this test.
    pub fn needs_session(self) -> bool {
        matches!(self, Test::ShSet | Test::ShGet | Test::ShAdd | Test::ShContains | Test::ShRmv | Test::ShCount)
    }

    /// The request template of this test. `session` is the connection's
    /// token, used only by tests that [`Test::needs_session`].
    pub fn template(self, value_bytes: usize, session: Option<u64>) -> Template {
        let mut b = Builder::new(self.command());
        if self.needs_session() {
            b.raw("\"tkn\":");
            b.raw(&session.unwrap_or(0).to_string());
        }
        let keys = match self {
            Test::KvSet | Test::KvAdd | Test::ShSet | Test::ShAdd => Shape::Object,
            Test::KvGet | Test::KvContains | Test::KvRmv => Shape::Array,
            Test::ShGet | Test::ShContains | Test::ShRmv => Shape::Array,
            Test::KvCount | Test::SvInfo | Test::ShNew | Test::ShCount => Shape::None,
        };
        if keys != Shape::None && self.needs_session() {
            b.raw(",");
        }
        b.keys(keys, 1, value_bytes);
        b.finish()
    }
}

/// A request's text from the command line (`--body`), cut at its
/// placeholders:
///
/// - `__key__`: a key, `key:` and twelve digits, chosen as the built-in
///   tests choose theirs (`-r`); several in one body are consecutive keys;
/// - `__value__`: `-d` bytes of `x` (write it inside quotes for a string);
/// - `__rand_int__`: twelve random digits, zero-padded, uniform in
///   `[0, -r)` (or `[0, 10^12)` without `-r`), drawn afresh for each one;
///   inside quotes as is, or as a JSON number after a non-zero digit
///   (`1__rand_int__`), since JSON numbers have no leading zeros;
/// - `__tkn__`: the connection's session token (a session is made for each
///   connection, as for the `sh_*` tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Body {
    /// The text as given, for reports.
    pub text: String,
    pieces: Vec<Piece>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Key,
    Value,
    RandInt,
    Token,
}

/// The placeholders and what each becomes.
const PLACEHOLDERS: [(&str, Piece); 4] =
    [("__key__", Piece::Key), ("__value__", Piece::Value), ("__rand_int__", Piece::RandInt), ("__tkn__", Piece::Token)];

impl Body {
    /// Cuts `text` at its placeholders and checks that it is JSON once they
    /// are filled in.
    ///
    /// # Errors
    /// A message for the user when the filled-in text is not JSON.
    pub fn parse(text: &str) -> Result<Body, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let next = PLACEHOLDERS
                .iter()
                .filter_map(|(name, piece)| rest.find(name).map(|at| (at, *name, piece)))
                .min_by_key(|(at, _, _)| *at);
            match next {
                Some((at, name, piece)) => {
                    if at > 0 {
                        pieces.push(Piece::Text(rest[..at].to_owned()));
                    }
                    pieces.push(piece.clone());
                    rest = &rest[at + name.len()..];
                }
                None => {
                    pieces.push(Piece::Text(rest.to_owned()));
                    rest = "";
                }
            }
        }
        let body = Body { text: text.to_owned(), pieces };
        let filled = body.template(1, Some(1), 1);
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&filled.payload) {
            let mut why = format!("--body {text}: not JSON once its placeholders are filled in ({e})");
            if body.pieces.contains(&Piece::RandInt) {
                why.push_str(
                    "; __rand_int__ has leading zeros: put it inside quotes, or after a digit (1__rand_int__)",
                );
            }
            return Err(why);
        }
        Ok(body)
    }

    /// Whether the body uses the connection's session (`__tkn__`).
    pub fn needs_session(&self) -> bool {
        self.pieces.contains(&Piece::Token)
    }

    /// The template of this body for values of `value_bytes`, the
    /// connection's `session`, and random numbers below `rand_space`.
    pub fn template(&self, value_bytes: usize, session: Option<u64>, rand_space: u64) -> Template {
        let mut payload = Vec::new();
        let (mut keys, mut rands) = (Vec::new(), Vec::new());
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => payload.extend_from_slice(text.as_bytes()),
                Piece::Key => {
                    payload.extend_from_slice(b"key:");
                    keys.push(payload.len());
                    payload.extend_from_slice(&[b'0'; KEY_DIGITS]);
                }
                Piece::Value => payload.resize(payload.len() + value_bytes, b'x'),
                Piece::RandInt => {
                    rands.push(payload.len());
                    payload.extend_from_slice(&[b'0'; KEY_DIGITS]);
                }
                Piece::Token => payload.extend_from_slice(session.unwrap_or(0).to_string().as_bytes()),
            }
        }
        Template::new(payload, keys).with_random(rands, rand_space.clamp(1, MAX_KEY_SPACE))
    }
}

/// One kind of request in a mix (`--mix`, `--body`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A built-in test's request.
    Test(Test),
    /// A request from the command line.
    Body(Body),
}

impl Request {
    /// Whether the request uses the connection's session.
    pub fn needs_session(&self) -> bool {
        match self {
            Request::Test(test) => test.needs_session(),
            Request::Body(body) => body.needs_session(),
        }
    }

    /// Its template (see [`Test::template`] and [`Body::template`]).
    pub fn template(&self, value_bytes: usize, session: Option<u64>, rand_space: u64) -> Template {
        match self {
            Request::Test(test) => test.template(value_bytes, session),
            Request::Body(body) => body.template(value_bytes, session, rand_space),
        }
    }

    /// How reports name it: the test's name, or the body's text.
    pub fn label(&self) -> &str {
        match self {
            Request::Test(test) => test.name(),
            Request::Body(body) => &body.text,
        }
    }
}

/// The `KV_SET` template that preloads `keys_per_request` keys at once.
pub fn preload_template(keys_per_request: usize, value_bytes: usize) -> Template {
    let mut b = Builder::new("KV_SET");
    b.keys(Shape::Object, keys_per_request.max(1), value_bytes);
    b.finish()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    None,
    Array,
    Object,
}

/// Builds a template's payload `{"CMD":{…}}`, noting where key digits go.
struct Builder {
    payload: Vec<u8>,
    key_offsets: Vec<usize>,
}

impl Builder {
    fn new(command: &str) -> Builder {
        let mut b = Builder { payload: Vec::new(), key_offsets: Vec::new() };
        b.raw("{\"");
        b.raw(command);
        b.raw("\":{");
        b
    }

    fn raw(&mut self, text: &str) {
        self.payload.extend_from_slice(text.as_bytes());
    }

    fn key(&mut self) {
        self.raw("\"key:");
        self.key_offsets.push(self.payload.len());
        self.payload.extend_from_slice(&[b'0'; KEY_DIGITS]);
        self.raw("\"");
    }

    fn keys(&mut self, shape: Shape, count: usize, value_bytes: usize) {
        let (open, close) = match shape {
            Shape::None => return,
            Shape::Array => ("\"keys\":[", "]"),
            Shape::Object => ("\"keys\":{", "}"),
        };
        self.raw(open);
        for i in 0..count {
            if i > 0 {
                self.raw(",");
            }
            self.key();
            if shape == Shape::Object {
                self.raw(":\"");
                self.payload.resize(self.payload.len() + value_bytes, b'x');
                self.raw("\"");
            }
        }
        self.raw(close);
    }

    fn finish(mut self) -> Template {
        self.raw("}}");
        Template::new(self.payload, self.key_offsets)
    }
}

/// One request, ready to be stamped out many times.
#[derive(Clone, Debug)]
pub struct Template {
    header: ClientHeader,
    payload: Vec<u8>,
    key_offsets: Vec<usize>,
    /// Where random numbers' twelve digits go (`__rand_int__`).
    rand_offsets: Vec<usize>,
    /// Random numbers are drawn in `[0, rand_space)`.
    rand_space: u64,
}

impl Template {
    /// A template for `payload`, whose key digits start at `key_offsets`.
    ///
    /// # Panics
    /// If a key's digits would run past the end of `payload` (a bug in the
    /// template builder, never a consequence of input).
    pub fn new(payload: Vec<u8>, key_offsets: Vec<usize>) -> Template {
        assert!(key_offsets.iter().all(|&o| o + KEY_DIGITS <= payload.len()), "key digits lie inside the payload");
        Template {
            header: ClientHeader::new(OP_TEXT, payload.len()),
            payload,
            key_offsets,
            rand_offsets: Vec::new(),
            rand_space: 1,
        }
    }

    /// The template with random numbers in `[0, space)` written at `offsets`
    /// on each push.
    ///
    /// # Panics
    /// As [`Template::new`], for digits outside the payload.
    pub fn with_random(mut self, offsets: Vec<usize>, space: u64) -> Template {
        assert!(offsets.iter().all(|&o| o + KEY_DIGITS <= self.payload.len()), "digits lie inside the payload");
        self.rand_offsets = offsets;
        self.rand_space = space.max(1);
        self
    }

    /// Bytes one request takes on the wire, header and mask included.
    pub fn frame_len(&self) -> usize {
        self.header.as_bytes().len() + 4 + self.payload.len()
    }

    /// Keys in one request.
    pub fn key_count(&self) -> usize {
        self.key_offsets.len()
    }

    /// The unmasked payload, with the digits of every key at zero.
    #[cfg(test)]
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Appends one masked request frame to `out`. Key `i` of the request is
    /// number `(first_key + i) % key_space`; `key_space` must be non-zero.
    /// Each random number is `random(space)`, a number in `[0, space)`.
    #[inline]
    pub fn push(
        &self,
        out: &mut Vec<u8>,
        first_key: u64,
        key_space: u64,
        mask: [u8; 4],
        mut random: impl FnMut(u64) -> u64,
    ) {
        out.extend_from_slice(self.header.as_bytes());
        out.extend_from_slice(&mask);
        let start = out.len();
        out.extend_from_slice(&self.payload);
        let payload = &mut out[start..];
        let mut key = first_key % key_space;
        for &offset in &self.key_offsets {
            write_digits(&mut payload[offset..offset + KEY_DIGITS], key);
            key += 1;
            if key == key_space {
                key = 0;
            }
        }
        for &offset in &self.rand_offsets {
            write_digits(&mut payload[offset..offset + KEY_DIGITS], random(self.rand_space));
        }
        frame::apply_mask(payload, mask);
    }
}

/// Writes `value` as zero-padded decimal filling `digits` (the high digits
/// are dropped if it does not fit, which [`MAX_KEY_SPACE`] rules out).
#[inline]
fn write_digits(digits: &mut [u8], mut value: u64) {
    for d in digits.iter_mut().rev() {
        *d = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unmasked(template: &Template, first_key: u64, key_space: u64) -> String {
        let mask = [0xA5, 0x01, 0xFF, 0x5A];
        let mut out = Vec::new();
        template.push(&mut out, first_key, key_space, mask, |n| n - 1);
        assert_eq!(out.len(), template.frame_len());
        let header_len = template.frame_len() - template.payload().len();
        assert_eq!(&out[header_len - 4..header_len], &mask);
        let mut payload = out[header_len..].to_vec();
        frame::apply_mask(&mut payload, mask);
        String::from_utf8(payload).unwrap()
    }

    #[test]
    fn every_template_is_the_json_of_its_command() {
        let expected = [
            (Test::KvSet, r#"{"KV_SET":{"keys":{"key:000000000042":"xxxx"}}}"#),
            (Test::KvGet, r#"{"KV_GET":{"keys":["key:000000000042"]}}"#),
            (Test::KvAdd, r#"{"KV_ADD":{"keys":{"key:000000000042":"xxxx"}}}"#),
            (Test::KvContains, r#"{"KV_CONTAINS":{"keys":["key:000000000042"]}}"#),
            (Test::KvRmv, r#"{"KV_RMV":{"keys":["key:000000000042"]}}"#),
            (Test::KvCount, r#"{"KV_COUNT":{}}"#),
            (Test::SvInfo, r#"{"SV_INFO":{}}"#),
            (Test::ShNew, r#"{"SH_NEW":{}}"#),
            (Test::ShSet, r#"{"SH_SET":{"tkn":18446744073709551615,"keys":{"key:000000000042":"xxxx"}}}"#),
            (Test::ShGet, r#"{"SH_GET":{"tkn":18446744073709551615,"keys":["key:000000000042"]}}"#),
            (Test::ShAdd, r#"{"SH_ADD":{"tkn":18446744073709551615,"keys":{"key:000000000042":"xxxx"}}}"#),
            (Test::ShContains, r#"{"SH_CONTAINS":{"tkn":18446744073709551615,"keys":["key:000000000042"]}}"#),
            (Test::ShRmv, r#"{"SH_RMV":{"tkn":18446744073709551615,"keys":["key:000000000042"]}}"#),
            (Test::ShCount, r#"{"SH_COUNT":{"tkn":18446744073709551615}}"#),
        ];
        assert_eq!(expected.len(), Test::ALL.len());
        for (test, json) in expected {
            let template = test.template(4, Some(u64::MAX));
            let text = unmasked(&template, 42, 1000);
            assert_eq!(text, json, "{}", test.name());
            serde_json::from_str::<serde_json::Value>(&text).unwrap();
        }
    }

    #[test]
    fn names_round_trip_and_ignore_case() {
        for test in Test::ALL {
            assert_eq!(Test::from_name(test.name()), Some(test));
        }
        assert_eq!(Test::from_name("KV_SET"), Some(Test::KvSet));
        assert_eq!(Test::from_name("kv_sett"), None);
    }

    #[test]
    fn key_patching_covers_all_digits_and_wraps_the_key_space() {
        let template = preload_template(3, 0);
        assert_eq!(template.key_count(), 3);
        assert_eq!(
            unmasked(&template, 999_999_999_998, MAX_KEY_SPACE),
            r#"{"KV_SET":{"keys":{"key:999999999998":"","key:999999999999":"","key:000000000000":""}}}"#
        );
        assert_eq!(
            unmasked(&template, 4, 5),
            r#"{"KV_SET":{"keys":{"key:000000000004":"","key:000000000000":"","key:000000000001":""}}}"#
        );
    }

    #[test]
    fn pushing_reuses_the_buffer_and_appends_whole_frames() {
        let template = Test::KvSet.template(200, None);
        let mut out = Vec::with_capacity(4 * template.frame_len());
        let capacity = out.capacity();
        for key in 0..4 {
            template.push(&mut out, key, 10, [1, 2, 3, 4], |_| 0);
        }
        assert_eq!(out.len(), 4 * template.frame_len());
        assert_eq!(out.capacity(), capacity, "no reallocation within capacity");
        // A 200-byte value makes a payload over 125 bytes: 16-bit length.
        assert_eq!(out[1], 0x80 | 126);
    }

    #[test]
    fn bodies_fill_their_placeholders() {
        let body = Body::parse(
            r#"{"KV_SET":{"keys":{"__key__":"__value__","__key__":{"n":1__rand_int__,"s":"r__rand_int__"}}}}"#,
        )
        .unwrap();
        assert!(!body.needs_session());
        let template = body.template(3, None, 500);
        assert_eq!(template.key_count(), 2);
        // `unmasked` draws every random number as space - 1.
        assert_eq!(
            unmasked(&template, 41, 1000),
            r#"{"KV_SET":{"keys":{"key:000000000041":"xxx","key:000000000042":{"n":1000000000499,"s":"r000000000499"}}}}"#
        );
        let info = Body::parse(r#"{"SH_INFO":{"tkn":__tkn__}}"#).unwrap();
        assert!(info.needs_session());
        assert_eq!(unmasked(&info.template(0, Some(u64::MAX), 1), 0, 1), r#"{"SH_INFO":{"tkn":18446744073709551615}}"#);
        let plain = Body::parse(r#"{"KV_FIND":{"path":"$.a","rsp":"keys"}}"#).unwrap();
        assert_eq!(unmasked(&plain.template(9, None, 1), 0, 1), r#"{"KV_FIND":{"path":"$.a","rsp":"keys"}}"#);
    }

    #[test]
    fn bodies_that_are_not_json_are_refused() {
        let err = Body::parse(r#"{"KV_SET":{"keys":{"a":__rand_int__}}}"#).unwrap_err();
        assert!(err.contains("not JSON once its placeholders are filled in") && err.contains("1__rand_int__"), "{err}");
        let err = Body::parse(r#"{"KV_SET":"#).unwrap_err();
        assert!(!err.contains("__rand_int__ has"), "{err}");
        assert!(Body::parse(r#"{"KV_GET":{"keys":[__key__]}}"#).is_err(), "a key is a string: it goes in quotes");
    }

    #[test]
    fn large_values_are_exact_in_size() {
        let template = Test::KvSet.template(70_000, None);
        let text = unmasked(&template, 1, 2);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let stored = &value["KV_SET"]["keys"]["key:000000000001"];
        assert_eq!(stored.as_str().map(str::len), Some(70_000));
    }
}
