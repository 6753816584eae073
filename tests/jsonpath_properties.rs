//! Property tests for the JSONPath commands: random paths (arbitrary text,
//! and soups of JSONPath tokens, deeply nested ones included) sent to
//! `KV_FIND`, `KV_UPDATE` and `KV_ARR_APPEND` through the dispatch path,
//! as the server runs it. Every request gets exactly one well-formed reply
//! with a documented status, nothing panics, and every stored value stays
//! valid JSON after each edit. And the body of the `jsonpath` fuzz target
//! (`fuzz/fuzz_targets/jsonpath.rs`) as a property: any path on any value
//! stays within the value's budget of steps and nodes.

use std::collections::BTreeMap;
use std::time::Instant;

use ndb::internals::conn::Message;
use ndb::internals::protocol::{Protocol, Reply, write_str};
use ndb::internals::server::dispatch;
use ndb::internals::store::{Executed, JsonPath, PathRefused, RESULTS_BASE, ServerInfo, Store};
use proptest::prelude::*;
use serde_json::value::RawValue;

/// Values with deep nesting (past what can be queried), numbers
/// `serde_json` refuses, escapes and repeated names.
fn values() -> String {
    let deep = format!("{}{}", "[".repeat(150), "]".repeat(150));
    format!(
        concat!(
            r#"{{"KV_SET":{{"keys":{{"#,
            r#""o":{{"a":{{"b":[1,2,{{"c":"x"}}]}},"n":1.50,"big":123456789012345678901234567890,"e":1e400,"a\"":[]}},"#,
            r#""l":[[],[1],[1,[2]],{{"k":null}}],"s":"str","t":true,"z":null,"dup":{{"a":1,"a":[2]}},"deep":{}"#,
            r#"}}}}}}"#
        ),
        deep
    )
}

const FRAGMENTS: &[&str] = &[
    "$", "$", "@", ".", "..", "*", "[", "]", "?", "(", ")", ",", ":", "-1", "0", "1", "2", "a", "b", "c", "'a'",
    "\"b\"", "'", "\\", "==", "!=", "<", ">=", "&&", "||", "!", "length(", "count(", "value(", "match(", "search(",
    "'[ab]'", "1e400", "true", "null", " ", "$..*", "[?@", "[?(@", ".a", "['a\\'']",
];

/// Segments that make valid paths, to be strung together.
const SEGMENTS: &[&str] = &[
    ".a",
    ".b",
    ".c",
    ".k",
    ".e",
    "['a\"']",
    "[0]",
    "[-1]",
    "[2]",
    "[*]",
    ".*",
    "..a",
    "..*",
    "..[0]",
    "[1:3]",
    "[::-1]",
    "['a','b']",
    "[0,0]",
    "[?@.c == 'x']",
    "[?@ > 1]",
    "[?@ == 1e400]",
    "[?length(@) > 1]",
    "[?match(@, '[ab]')]",
    "[?search(@.c, 'x')]",
    "[?@.k == null]",
    "[?@..c]",
    "[?@[?@ > 1]]",
    "[?count(@.*) > 1]",
    "[?value(@..c) == 'x']",
    "[?!@.a || @.b]",
];

/// A path: a string of valid segments, a soup of JSONPath tokens,
/// arbitrary text, or deep nesting.
fn path() -> impl Strategy<Value = String> {
    let valid = prop::collection::vec(prop::sample::select(SEGMENTS), 0..5).prop_map(|s| format!("${}", s.concat()));
    let soup = prop::collection::vec(prop::sample::select(FRAGMENTS), 0..16).prop_map(|parts| parts.concat());
    let nested = (0usize..80, prop::sample::select(&["(", "[?@", "[?(", "[", "length("][..]), soup.clone())
        .prop_map(|(n, open, inner)| format!("$[?{}{inner}", open.repeat(n)));
    prop_oneof![4 => valid, 3 => soup, 1 => ".{0,24}", 1 => nested]
}

fn request() -> impl Strategy<Value = String> {
    let key = prop::sample::select(&["o", "l", "s", "t", "z", "dup", "deep", "nope"][..]);
    let rsp = prop::sample::select(&["keys", "paths", "kv"][..]);
    let value = prop::sample::select(&["1", "null", r#"{"x":[1e400]}"#, "[[[[1]]]]", r#""v""#][..]);
    (path(), key, rsp, value, 0usize..3).prop_map(|(path, key, rsp, value, which)| {
        let mut quoted = Vec::new();
        write_str(&mut quoted, &path);
        let path = String::from_utf8(quoted).expect("UTF-8");
        match which {
            0 => format!(r#"{{"KV_FIND":{{"path":{path},"rsp":"{rsp}"}}}}"#),
            1 => format!(r#"{{"KV_UPDATE":{{"key":"{key}","path":{path},"value":{value}}}}}"#),
            _ => format!(r#"{{"KV_ARR_APPEND":{{"items":[{value}],"key":"{key}","name":{path}}}}}"#),
        }
    })
}

/// Runs one request as the server does, jobs included; returns the reply.
fn call(store: &mut Store, text: &str) -> String {
    let now = Instant::now();
    let mut out = Vec::new();
    if let Executed::Later(_) = dispatch(store, Protocol::V07, Message::Text(text), now, &mut out) {
        while store.has_queued_jobs() {
            if let Some((id, job)) = store.next_job() {
                let done = ndb::internals::persist::run(std::path::Path::new("/nonexistent/ndb-properties"), job);
                store.finish(id, done, now, &mut Reply::new(&mut out, Protocol::V07));
            }
            store.work(now);
            store.take_applied(&mut Reply::new(&mut out, Protocol::V07));
        }
    }
    String::from_utf8(out).expect("UTF-8")
}

/// The reply's key and status, checking it is one object of one object.
fn key_and_status(reply: &str) -> (String, u64) {
    let envelope: BTreeMap<String, BTreeMap<String, Box<RawValue>>> =
        serde_json::from_str(reply).unwrap_or_else(|e| panic!("not an object of objects ({e}): {reply}"));
    assert_eq!(envelope.len(), 1, "{reply}");
    let (key, body) = envelope.into_iter().next().expect("one member");
    let st = body.get("st").and_then(|st| st.get().parse().ok()).unwrap_or_else(|| panic!("no st: {reply}"));
    (key, st)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_path_gets_one_documented_reply(requests in prop::collection::vec(request(), 1..8)) {
        let mut store = Store::new(ServerInfo::from(&ndb::Config::default().persist(false, "")));
        prop_assert_eq!(call(&mut store, &values()), r#"{"KV_SET_RSP":{"st":1}}"#);
        for request in &requests {
            let reply = call(&mut store, request);
            let (key, st) = key_and_status(&reply);
            let verb = request[2..].split('"').next().unwrap_or_default();
            prop_assert_eq!(&key, &format!("{verb}_RSP"), "{} → {}", request, reply);
            let allowed: &[u64] = match verb {
                "KV_FIND" => &[1, 4, 42],
                "KV_UPDATE" => &[1, 4, 22, 1000],
                _ => &[1, 22, 1000],
            };
            prop_assert!(allowed.contains(&st), "{} → {}", request, reply);
            // Every stored value is still one valid JSON value.
            let all = call(&mut store, r#"{"KV_GET":{"keys":["o","l","s","t","z","dup","deep"]}}"#);
            let parsed: BTreeMap<String, BTreeMap<String, Box<RawValue>>> =
                serde_json::from_str(&all).unwrap_or_else(|e| panic!("{request}: {e}: {all}"));
            let keys = parsed["KV_GET_RSP"].get("keys").map(|k| k.get().to_owned()).unwrap_or_default();
            prop_assert!(serde_json::from_str::<BTreeMap<String, Box<RawValue>>>(&keys).is_ok_and(|m| m.len() == 7));
        }
    }
}

/// Nesting past the limits is refused before the parser sees it, at any
/// depth, without overflowing the stack (the test thread's stack is small).
#[test]
fn deeply_nested_paths_are_malformed() {
    let mut store = Store::new(ServerInfo::from(&ndb::Config::default().persist(false, "")));
    assert_eq!(call(&mut store, &values()), r#"{"KV_SET_RSP":{"st":1}}"#);
    for open in ["(", "[?@", "[?(", "[", "length(", "!("] {
        for depth in [65, 1_000, 100_000] {
            let path = format!("$[?{}@.a", open.repeat(depth));
            let request = format!(r#"{{"KV_FIND":{{"path":"{path}","rsp":"keys"}}}}"#);
            assert_eq!(call(&mut store, &request), r#"{"KV_FIND_RSP":{"st":4}}"#, "{open} × {depth}");
            let request = format!(r#"{{"KV_UPDATE":{{"key":"o","path":"{path}","value":1}}}}"#);
            assert_eq!(call(&mut store, &request), r#"{"KV_UPDATE_RSP":{"cnt":0,"st":4}}"#, "{open} × {depth}");
        }
    }
}

/// Values for the budget property: small documents, and the shapes that
/// make paths costly (deep nesting, wide arrays, many strings).
fn budget_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(r#"{"a":[1,{"b":"x"},[2,3]],"c":"yz","k":null}"#.to_owned()),
        (1usize..40).prop_map(|n| format!("{}0{}", "[".repeat(n), "]".repeat(n))),
        (1usize..3000).prop_map(|n| format!("[{}]", vec!["0"; n].join(","))),
        (1usize..500).prop_map(|n| format!("[{}]", vec![r#""aaaaaaaaaaaaaaaaab""#; n].join(","))),
        (1usize..20, 1usize..200).prop_map(|(d, w)| format!(
            "{}[{}]{}",
            "[".repeat(d),
            vec!["1"; w].join(","),
            "]".repeat(d)
        )),
    ]
}

/// Paths for the budget property: the soups and segment strings above,
/// and repetitions of costly segments.
fn budget_path() -> impl Strategy<Value = String> {
    let costly = prop::sample::select(
        &["[0,0,0,0]", "..*", "[*,*]", "[?@..*]", "[?count($..*) > 0]", "[?search(@, '(a|aa)*b')]", "..[0]"][..],
    );
    let repeated = (costly, 1usize..10).prop_map(|(s, n)| format!("${}", s.repeat(n)));
    prop_oneof![2 => path(), 1 => repeated]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_path_on_any_value_stays_within_its_budget(path in budget_path(), value in budget_value()) {
        let parsed = match JsonPath::parse(&path) {
            Ok(parsed) => parsed,
            Err(refused) => {
                prop_assert!(matches!(refused, PathRefused::Invalid | PathRefused::OverBudget));
                return Ok(());
            }
        };
        let evaluation = parsed.evaluate(&value);
        prop_assert!(evaluation.steps <= evaluation.step_limit, "{}: {} > {}", path, evaluation.steps, evaluation.step_limit);
        match &evaluation.paths {
            Ok(paths) => prop_assert!(paths.len() <= RESULTS_BASE + value.len() / 2),
            Err(refused) => prop_assert_eq!(*refused, PathRefused::OverBudget, "{}", path),
        }
    }
}
