//! Property tests over the same inputs as the fuzz targets in `fuzz/`, for
//! a bounded number of cases on every `cargo test`: the upgrade parser, the
//! decoder and the dispatch path never panic and answer every message with
//! one well-formed reply, and a connection's output does not depend on how
//! its input was split or how its output was taken.

use std::time::{Duration, Instant};

use ndb::internals::conn::{Limits, Message};
use ndb::internals::http_upgrade::{MAX_HEAD_BYTES, Parse, parse};
use ndb::internals::protocol::{Protocol, Reply, decode, write_str};
use ndb::internals::server::dispatch;
use ndb::internals::store::{Executed, ServerInfo, Store};
use proptest::prelude::*;
use serde_json::Value;
use testkit::pipe::echo_through;
use testkit::replies::{Object, check_reply};
use testkit::wire::{UPGRADE, masked_frame};

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
        // With a user, so that credentials are parsed too.
        let users = ndb::Users::new(vec![
            ndb::User::with_password("app", "secret", ndb::Role::Read).unwrap(),
        ])
        .unwrap();
        let whole = parse(&bytes, &mut 0, MAX_HEAD_BYTES, &[][..], &users);
        let (mut searched, mut end, mut stepped) = (0, 0, Parse::Incomplete);
        while stepped == Parse::Incomplete && end < bytes.len() {
            end = (end + step).min(bytes.len());
            stepped = parse(&bytes[..end], &mut searched, MAX_HEAD_BYTES, &[][..], &users);
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
                    if let Some((id, job)) = store.next_job() {
                        let done = ndb::internals::persist::run(std::path::Path::new("/nonexistent/ndb-properties"), job);
                        store.finish(id, done, now, &mut Reply::new(&mut out, protocol));
                    }
                    store.work(now);
                    store.take_applied(&mut Reply::new(&mut out, protocol));
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
    (first, payload, any::<[u8; 4]>()).prop_map(|(first, payload, mask)| masked_frame(first, &payload, mask))
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
        let (whole, messages) = echo_through(&bytes, vec![usize::MAX], vec![usize::MAX], &limits);
        let (split, split_messages) = echo_through(&bytes, splits, rooms, &limits);
        prop_assert!(whole.starts_with(&split), "split output is a prefix of the whole");
        prop_assert!(messages.starts_with(&split_messages));
        if split.len() < whole.len() {
            // Only a peer still sending after a close is dropped early.
            prop_assert!(whole.windows(2).any(|w| w[0] == 0x88), "cut short without a close");
        }
    }
}
