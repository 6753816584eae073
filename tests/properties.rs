//! Property tests over the same inputs as the fuzz targets in `fuzz/`, for
//! a bounded number of cases on every `cargo test`: the upgrade parser, the
//! decoder and the dispatch path never panic and answer every message with
//! one well-formed reply, and a connection's output does not depend on how
//! its input was split or how its output was taken.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use ndb::conn::{Conn, Limits, Message, ReplyKind, Scratch, Served, Transport};
use ndb::http_upgrade::{MAX_HEAD_BYTES, Parse, parse};
use ndb::protocol::{Protocol, Reply, decode, write_str};
use ndb::server::dispatch;
use ndb::store::{Executed, ServerInfo, Store};
use proptest::prelude::*;
use serde_json::Value;
use serde_json::value::RawValue;

const UPGRADE: &str = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

const VERBS: &[&str] = &[
    "KV_SET",
    "KV_ADD",
    "KV_GET",
    "KV_RMV",
    "KV_CLEAR",
    "KV_CLEAR_SET",
    "KV_CONTAINS",
    "KV_COUNT",
    "KV_KEYS",
    "KV_FIND",
    "KV_UPDATE",
    "KV_ARR_APPEND",
    "KV_SAVE",
    "KV_LOAD",
    "SH_NEW",
    "SH_END",
    "SH_END_ALL",
    "SH_EXISTS",
    "SH_INFO",
    "SH_INFO_ALL",
    "SH_SET",
    "SH_ADD",
    "SH_GET",
    "SH_RMV",
    "SH_CLEAR",
    "SH_COUNT",
    "SH_KEYS",
    "SV_INFO",
    "KV_NOPE",
    "NOPE",
    "X_Y",
    "OARR_CREATE",
    "IARR_SET",
    "STRARR_SET_RNG",
    "SIARR_GET_RNG",
    "SSTRARR_CLEAR",
    "SIARR_MIN",
    "SSTRARR_INTERSECT",
    "OARR_SWAP",
    "OLST_ADD",
    "OLST_RMV",
    "OLST_SPLICE",
    "OLST_NOPE",
];

const PARAMS: &[&str] = &[
    "keys",
    "tkn",
    "name",
    "expiry",
    "duration",
    "deleteSession",
    "path",
    "rsp",
    "key",
    "value",
    "len",
    "pos",
    "item",
    "items",
    "rng",
    "n",
    "srcA",
    "srcB",
    "head",
    "tail",
    "destName",
    "srcName",
    "srcRng",
    "destPos",
];

type Object = std::collections::BTreeMap<String, Box<RawValue>>;

/// Asserts `reply` is one JSON object with one member, keyed `ERR` or
/// `<CMD>_RSP`, whose value is an object with an integer `st`. Parsed
/// through `RawValue`, since stored values come back as sent (`1e400`,
/// which `serde_json::Value` refuses, and the client's own whitespace).
fn check_reply(reply: &[u8]) -> String {
    let text = std::str::from_utf8(reply).expect("UTF-8");
    let envelope: std::collections::BTreeMap<String, Object> =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("not an object of objects ({e}): {text}"));
    assert_eq!(envelope.len(), 1, "{text}");
    let (key, body) = envelope.into_iter().next().expect("one member");
    assert!(key == "ERR" || key.ends_with("_RSP"), "{text}");
    assert!(body.get("st").is_some_and(|st| serde_json::from_str::<u16>(st.get()).is_ok()), "{text}");
    key
}

#[test]
fn whitespace_inside_stored_values_comes_back_as_sent() {
    // Found by the dispatch fuzz target: replies are compact, but a stored
    // value keeps the client's own whitespace (docs/protocol.md).
    let mut store = Store::new(ServerInfo::from(&ndb::Config::default().persist(false, "")));
    let mut out = Vec::new();
    let set = "{\"KV_SET\":{\"keys\":{\"b\":{\r\n  \"x\" : [true,\tnull] }}}}";
    for request in [set, r#"{ "KV_GET" : {"keys":["b"]} }"#] {
        out.clear();
        let _ = dispatch(&mut store, Protocol::V07, Message::Text(request), Instant::now(), &mut out);
        check_reply(&out);
    }
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "{\"KV_GET_RSP\":{\"keys\":{\"b\":{\r\n  \"x\" : [true,\tnull] }},\"st\":1}}"
    );
}

#[test]
fn numbers_beyond_f64_are_kept_as_sent() {
    // Found by the decode fuzz target: valid JSON, beyond what `Value`
    // takes. ndb stores values as sent, so they come back unchanged.
    let mut store = Store::new(ServerInfo::from(&ndb::Config::default().persist(false, "")));
    let mut out = Vec::new();
    for request in [
        r#"{"KV_SET":{"keys":{"a":1844674481e308737095446744073709551,"b":[-1e400]}}}"#,
        r#"{"KV_GET":{"keys":["a","b"]}}"#,
    ] {
        out.clear();
        let _ = dispatch(&mut store, Protocol::V07, Message::Text(request), Instant::now(), &mut out);
        check_reply(&out);
    }
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"KV_GET_RSP":{"keys":{"a":1844674481e308737095446744073709551,"b":[-1e400]},"st":1}}"#
    );
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e300f64..1e300).prop_map(Value::from),
        "[a-z\"\\\\\u{0}-\u{1f}é☃]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z]{0,3}|keys|tkn", inner), 0..4)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// Requests shaped like real ones: a known (or unknown) verb, parameters
/// by their real names with values of any type.
fn request() -> impl Strategy<Value = String> {
    let params = prop::collection::vec((prop::sample::select(PARAMS), json_value()), 0..4);
    prop_oneof![
        4 => (prop::sample::select(VERBS), params).prop_map(|(verb, params)| {
            let body: serde_json::Map<String, Value> = params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            serde_json::json!({ verb: body }).to_string()
        }),
        1 => json_value().prop_map(|v| v.to_string()),
        1 => "\\PC{0,40}",
        1 => (prop::sample::select(VERBS), "[\\[\\]{}\":, 0-9a-z]{0,30}")
            .prop_map(|(verb, rest)| format!("{{\"{verb}\":{rest}")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_upgrade_parser_survives_anything_and_splits_do_not_matter(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            (0..UPGRADE.len(), any::<u8>(), 0..UPGRADE.len()).prop_map(|(at, byte, cut)| {
                let mut b = UPGRADE.as_bytes().to_vec();
                b[at] = byte;
                b.truncate(cut.max(at + 1));
                b
            }),
        ],
        step in 1usize..20,
    ) {
        let whole = parse(&bytes, &mut 0, MAX_HEAD_BYTES, &[][..]);
        let (mut searched, mut end, mut stepped) = (0, 0, Parse::Incomplete);
        while stepped == Parse::Incomplete && end < bytes.len() {
            end = (end + step).min(bytes.len());
            stepped = parse(&bytes[..end], &mut searched, MAX_HEAD_BYTES, &[][..]);
        }
        prop_assert_eq!(whole, stepped);
    }

    #[test]
    fn every_refused_request_gets_a_well_formed_reply(text in request()) {
        if let Err(rejection) = decode(&text) {
            let mut out = Vec::new();
            Reply::new(&mut out, Protocol::V07).rejection(&rejection);
            check_reply(&out);
        }
        let mut out = Vec::new();
        write_str(&mut out, &text);
        prop_assert_eq!(serde_json::from_slice::<String>(&out).ok(), Some(text));
    }

    #[test]
    fn every_message_gets_exactly_one_well_formed_reply(
        messages in prop::collection::vec(prop_oneof![
            8 => request().prop_map(|t| t.into_bytes()),
            1 => prop::collection::vec(any::<u8>(), 0..20),
        ], 1..12),
        v09 in any::<bool>(),
    ) {
        let protocol = if v09 { Protocol::V09 } else { Protocol::V07 };
        let mut store = Store::new(ServerInfo::from(&ndb::Config::default().persist(false, "")));
        let start = Instant::now();
        let mut out = Vec::new();
        for (i, bytes) in messages.iter().enumerate() {
            let message = match std::str::from_utf8(bytes) {
                Ok(text) => Message::Text(text),
                Err(_) => Message::Binary(bytes),
            };
            let now = start + Duration::from_millis(i as u64 * 300);
            store.start(now);
            let before = out.len();
            if let Executed::Later(_) = dispatch(&mut store, protocol, message, now, &mut out) {
                // A load (saves are off) or a KV_FIND: run it here, as the job
                // thread would (a KV_FIND's snapshot may take several steps).
                while store.has_queued_jobs() {
                    if let Some((_, job)) = store.next_job() {
                        let done = ndb::persist::run(std::path::Path::new("/nonexistent/ndb-properties"), job);
                        store.finish(done, now, &mut Reply::new(&mut out, protocol));
                    }
                }
            }
            store.expire(now);
            let key = check_reply(&out[before..]);
            if let (Message::Text(text), Some(name)) = (message, key.strip_suffix("_RSP"))
                && let Ok(request) = serde_json::from_str::<Object>(text)
            {
                prop_assert!(request.contains_key(name), "{} answers {}", key, text);
            }
        }
    }
}

/// An in-memory socket: reads come in scripted sizes, each its own
/// readiness event; writes take scripted amounts (0 is `WouldBlock`).
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

/// Serves `bytes` through a connection that echoes in kind; returns what
/// it wrote and the messages it saw.
fn serve_all(bytes: &[u8], splits: Vec<usize>, rooms: Vec<usize>, limits: &Limits) -> (Vec<u8>, usize) {
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
    let mut messages = 0;
    let mut echo = |message: Message<'_>, out: &mut Vec<u8>| {
        messages += 1;
        match message {
            Message::Text(t) => {
                out.extend_from_slice(t.as_bytes());
                ReplyKind::Text
            }
            Message::Binary(b) => {
                out.extend_from_slice(b);
                ReplyKind::Binary
            }
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
        let done = conn.stream().read_pos == conn.stream().input.len();
        if done && conn.pending_output() == 0 && served == Served::Drained && flushed == Served::Drained {
            break;
        }
    }
    (std::mem::take(&mut conn.stream_mut().written), messages)
}

/// A masked client frame with the given first byte.
fn client_frame(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

fn frame_bytes() -> impl Strategy<Value = Vec<u8>> {
    let payload = prop_oneof![
        "\\PC{0,20}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..20),
        prop::collection::vec(Just(b'x'), 100..400),
    ];
    let first = prop_oneof![
        8 => prop::sample::select(vec![0x81u8, 0x82, 0x01, 0x00, 0x80, 0x89, 0x8A]),
        1 => any::<u8>(),
    ];
    (first, payload, any::<[u8; 4]>()).prop_map(|(first, payload, mask)| client_frame(first, &payload, mask))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn connection_output_does_not_depend_on_splits(
        frames in prop::collection::vec(frame_bytes(), 0..12),
        tail in prop::collection::vec(any::<u8>(), 0..6),
        splits in prop::collection::vec(1usize..40, 1..6),
        rooms in prop::collection::vec(0usize..50, 1..6),
        per_turn in 1usize..8,
        pause in 0usize..300,
    ) {
        let mut bytes = UPGRADE.as_bytes().to_vec();
        bytes.extend(frames.concat());
        bytes.extend(tail);
        let limits = Limits {
            max_payload: 300,
            output_pause_bytes: pause,
            max_output_bytes: usize::MAX,
            messages_per_turn: per_turn,
            ..Limits::default()
        };
        let rooms = if rooms.iter().all(|&r| r == 0) { vec![1] } else { rooms };
        let (whole, messages) = serve_all(&bytes, vec![usize::MAX], vec![usize::MAX], &limits);
        let (split, split_messages) = serve_all(&bytes, splits, rooms, &limits);
        prop_assert!(whole.starts_with(&split), "split output is a prefix of the whole");
        prop_assert!(split_messages <= messages);
        if split.len() < whole.len() {
            // Only a peer still sending after a close is dropped early.
            prop_assert!(whole.windows(2).any(|w| w[0] == 0x88), "cut short without a close");
        }
    }
}
