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

/// Items one `iarr_set_rng` writes and one `iarr_get_rng` reads.
pub const RANGE_ITEMS: u64 = 100;

/// Items one `olst_splice` moves.
pub const SPLICE_ITEMS: u64 = 1_000;

/// Digits of a position or item number written into a request, padded
/// with spaces (JSON allows them before a number) so every request of a
/// test has the same length: enough for any `--container-size`.
const POSITION_DIGITS: usize = 20;

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
    /// `IARR_GET` of a random slot of the integer array.
    IarrGet,
    /// `IARR_SET` of a random slot of the integer array.
    IarrSet,
    /// `IARR_SET_RNG` of [`RANGE_ITEMS`] slots from a random one.
    IarrSetRng,
    /// `IARR_GET_RNG` of [`RANGE_ITEMS`] slots from a random one.
    IarrGetRng,
    /// `SIARR_INTERSECT` of the two sorted arrays.
    SiarrIntersect,
    /// `OLST_ADD` of one item at the middle of the list.
    OlstAdd,
    /// `OLST_RMV` of one item at the middle of the list.
    OlstRmv,
    /// `OLST_SPLICE` of [`SPLICE_ITEMS`] items from the middle of the list
    /// to its first quarter.
    OlstSplice,
}

/// What a test needs on the server before it starts, set up afresh for
/// each test that uses it (`fixture.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fixture {
    /// [`IARR`]: an `IARR` of `--container-size` slots, slot `i` holding `i`.
    IntArray,
    /// [`SIARR_A`] and [`SIARR_B`]: two `SIARR`s of `--container-size`
    /// items, a tenth of them in common.
    SortedPair,
    /// [`OLST`]: an `OLST` of `--container-size` items `{"i":N}`.
    List,
}

/// The integer array of the `iarr_*` tests.
pub const IARR: &str = "ndb-bench:iarr";
/// The first sorted array of `siarr_intersect`.
pub const SIARR_A: &str = "ndb-bench:siarr-a";
/// The second sorted array of `siarr_intersect`.
pub const SIARR_B: &str = "ndb-bench:siarr-b";
/// The list of the `olst_*` tests.
pub const OLST: &str = "ndb-bench:olst";

impl Test {
    /// The tests a run without `-t` runs, in order: the key-value and
    /// session commands every NemesisDB-protocol server serves.
    pub const DEFAULT: [Test; 14] = [
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

    /// Every test: the default ones, then the array and list tests (0.9),
    /// which run only when `-t` names them.
    pub const ALL: [Test; 22] = [
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
        Test::IarrGet,
        Test::IarrSet,
        Test::IarrSetRng,
        Test::IarrGetRng,
        Test::SiarrIntersect,
        Test::OlstAdd,
        Test::OlstRmv,
        Test::OlstSplice,
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
            Test::IarrGet => "iarr_get",
            Test::IarrSet => "iarr_set",
            Test::IarrSetRng => "iarr_set_rng",
            Test::IarrGetRng => "iarr_get_rng",
            Test::SiarrIntersect => "siarr_intersect",
            Test::OlstAdd => "olst_add",
            Test::OlstRmv => "olst_rmv",
            Test::OlstSplice => "olst_splice",
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
            Test::IarrGet => "IARR_GET",
            Test::IarrSet => "IARR_SET",
            Test::IarrSetRng => "IARR_SET_RNG",
            Test::IarrGetRng => "IARR_GET_RNG",
            Test::SiarrIntersect => "SIARR_INTERSECT",
            Test::OlstAdd => "OLST_ADD",
            Test::OlstRmv => "OLST_RMV",
            Test::OlstSplice => "OLST_SPLICE",
        }
    }

    /// What the test needs set up on the server first, if anything.
    pub fn fixture(self) -> Option<Fixture> {
        match self {
            Test::IarrGet | Test::IarrSet | Test::IarrSetRng | Test::IarrGetRng => Some(Fixture::IntArray),
            Test::SiarrIntersect => Some(Fixture::SortedPair),
            Test::OlstAdd | Test::OlstRmv | Test::OlstSplice => Some(Fixture::List),
            _ => None,
        }
    }

    /// Whether each connection needs a session (from `SH_NEW`) for this test.
    pub fn needs_session(self) -> bool {
        matches!(self, Test::ShSet | Test::ShGet | Test::ShAdd | Test::ShContains | Test::ShRmv | Test::ShCount)
    }

    /// The request template of this test. `session` is the connection's
    /// token, used only by tests that [`Test::needs_session`];
    /// `container_size` is the size of the arrays and the list the array
    /// and list tests work on.
    pub fn template(self, value_bytes: usize, session: Option<u64>, container_size: u64) -> Template {
        if self.fixture().is_some() {
            return self.container_template(container_size);
        }
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
            // Written by `container_template`.
            Test::IarrGet | Test::IarrSet | Test::IarrSetRng | Test::IarrGetRng => Shape::None,
            Test::SiarrIntersect | Test::OlstAdd | Test::OlstRmv | Test::OlstSplice => Shape::None,
        };
        if keys != Shape::None && self.needs_session() {
            b.raw(",");
        }
        b.keys(keys, 1, value_bytes);
        b.finish()
    }

    /// An array or list test's request: random positions across the
    /// array (a range's within it), the middle of the list.
    fn container_template(self, size: u64) -> Template {
        let mut b = Builder::new(self.command());
        let middle = size / 2;
        let positions = match self {
            Test::IarrGet => {
                b.raw(&format!("\"name\":\"{IARR}\",\"pos\":"));
                b.position(0);
                size
            }
            Test::IarrSet => {
                b.raw(&format!("\"name\":\"{IARR}\",\"item\":-1,\"pos\":"));
                b.position(0);
                size
            }
            Test::IarrSetRng => {
                let items = vec!["-2"; RANGE_ITEMS as usize].join(",");
                b.raw(&format!("\"name\":\"{IARR}\",\"items\":[{items}],\"pos\":"));
                b.position(0);
                size - RANGE_ITEMS + 1
            }
            Test::IarrGetRng => {
                b.raw(&format!("\"name\":\"{IARR}\",\"rng\":["));
                b.position(0);
                b.raw(",");
                b.position(RANGE_ITEMS);
                b.raw("]");
                size - RANGE_ITEMS + 1
            }
            Test::SiarrIntersect => {
                b.raw(&format!("\"srcA\":\"{SIARR_A}\",\"srcB\":\"{SIARR_B}\""));
                1
            }
            Test::OlstAdd => {
                b.raw(&format!("\"name\":\"{OLST}\",\"items\":[{{\"i\":-1}}],\"pos\":{middle}"));
                1
            }
            Test::OlstRmv => {
                b.raw(&format!("\"name\":\"{OLST}\",\"rng\":[{middle},{}]", middle + 1));
                1
            }
            _ => {
                let (start, stop, dest) = (middle, middle + SPLICE_ITEMS, size / 4);
                b.raw(&format!(
                    "\"srcName\":\"{OLST}\",\"destName\":\"{OLST}\",\"srcRng\":[{start},{stop}],\"destPos\":{dest}"
                ));
                1
            }
        };
        let mut template = b.finish();
        template.position_space = positions.max(1);
        template
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
            // The array and list tests are not offered in a mix (`--mix`
            // refuses them): they need their fixtures.
            Request::Test(test) => test.template(value_bytes, session, 0),
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

/// Builds a template's payload `{"CMD":{…}}`, noting where key digits
/// (and position numbers) go.
struct Builder {
    payload: Vec<u8>,
    key_offsets: Vec<usize>,
    positions: Vec<(usize, u64)>,
}

impl Builder {
    fn new(command: &str) -> Builder {
        let mut b = Builder { payload: Vec::new(), key_offsets: Vec::new(), positions: Vec::new() };
        b.raw("{\"");
        b.raw(command);
        b.raw("\":{");
        b
    }

    fn raw(&mut self, text: &str) {
        self.payload.extend_from_slice(text.as_bytes());
    }

    /// A number, the request's random position plus `add`.
    fn position(&mut self, add: u64) {
        self.positions.push((self.payload.len(), add));
        self.payload.resize(self.payload.len() + POSITION_DIGITS, b' ');
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
        let mut template = Template::new(self.payload, self.key_offsets);
        template.positions = self.positions;
        template
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
    /// Where a request's position numbers go, and what each adds to the
    /// position: one drawn per request in `[0, position_space)`.
    positions: Vec<(usize, u64)>,
    position_space: u64,
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
            positions: Vec::new(),
            position_space: 1,
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
        if !self.positions.is_empty() {
            let position = random(self.position_space);
            for &(offset, add) in &self.positions {
                write_padded(&mut payload[offset..offset + POSITION_DIGITS], position + add);
            }
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

/// Writes `value` in decimal at the end of `digits`, spaces before it.
#[inline]
fn write_padded(digits: &mut [u8], mut value: u64) {
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 || i == 0 {
            break;
        }
    }
    digits[..i].fill(b' ');
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
        assert_eq!(expected.len(), Test::DEFAULT.len());
        for (test, json) in expected {
            let template = test.template(4, Some(u64::MAX), 0);
            let text = unmasked(&template, 42, 1000);
            assert_eq!(text, json, "{}", test.name());
            serde_json::from_str::<serde_json::Value>(&text).unwrap();
        }
    }

    /// `unmasked` draws every random number as `space - 1`: the last
    /// position each test can choose, so the largest numbers it writes.
    #[test]
    fn array_and_list_templates_reach_the_end_and_the_middle() {
        let pad = |n: u64| format!("{n:>20}");
        let expected = [
            (Test::IarrGet, format!(r#"{{"IARR_GET":{{"name":"ndb-bench:iarr","pos":{}}}}}"#, pad(9_999))),
            (Test::IarrSet, format!(r#"{{"IARR_SET":{{"name":"ndb-bench:iarr","item":-1,"pos":{}}}}}"#, pad(9_999))),
            (
                Test::IarrSetRng,
                format!(
                    r#"{{"IARR_SET_RNG":{{"name":"ndb-bench:iarr","items":[{}],"pos":{}}}}}"#,
                    vec!["-2"; 100].join(","),
                    pad(9_900)
                ),
            ),
            (
                Test::IarrGetRng,
                format!(r#"{{"IARR_GET_RNG":{{"name":"ndb-bench:iarr","rng":[{},{}]}}}}"#, pad(9_900), pad(10_000)),
            ),
            (
                Test::SiarrIntersect,
                r#"{"SIARR_INTERSECT":{"srcA":"ndb-bench:siarr-a","srcB":"ndb-bench:siarr-b"}}"#.to_owned(),
            ),
            (Test::OlstAdd, r#"{"OLST_ADD":{"name":"ndb-bench:olst","items":[{"i":-1}],"pos":5000}}"#.to_owned()),
            (Test::OlstRmv, r#"{"OLST_RMV":{"name":"ndb-bench:olst","rng":[5000,5001]}}"#.to_owned()),
            (
                Test::OlstSplice,
                r#"{"OLST_SPLICE":{"srcName":"ndb-bench:olst","destName":"ndb-bench:olst","srcRng":[5000,6000],"destPos":2500}}"#
                    .to_owned(),
            ),
        ];
        assert_eq!(expected.len() + Test::DEFAULT.len(), Test::ALL.len());
        for (test, json) in expected {
            assert!(test.fixture().is_some() && !Test::DEFAULT.contains(&test), "{}", test.name());
            let text = unmasked(&test.template(4, None, 10_000), 0, 1);
            assert_eq!(text, json, "{}", test.name());
            serde_json::from_str::<serde_json::Value>(&text).unwrap();
        }
        // The smallest position: no digit but the last.
        let template = Test::IarrGet.template(0, None, 10_000);
        let mut out = Vec::new();
        template.push(&mut out, 0, 1, [0; 4], |_| 0);
        assert!(out.ends_with(format!(r#""pos":{}}}}}"#, pad(0)).as_bytes()), "{}", String::from_utf8_lossy(&out));
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
        let template = Test::KvSet.template(200, None, 0);
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
        let template = Test::KvSet.template(70_000, None, 0);
        let text = unmasked(&template, 1, 2);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let stored = &value["KV_SET"]["keys"]["key:000000000001"];
        assert_eq!(stored.as_str().map(str::len), Some(70_000));
    }
}
