//! JSONPath attacks through a real server and socket, each answered with
//! its documented status while the stored data stays as it was and another
//! client keeps being served: a pathological `search()` filter, the
//! multi-selector explosion (through `KV_FIND` on the loop, `KV_UPDATE` and
//! a background `KV_FIND`), descendants of descendants of a deep value, a
//! huge `KV_ARR_APPEND`, a search past its time limit, and a costly search
//! whose connection closes.
//!
//! "Served" means a `KV_COUNT` from another connection, sent while the
//! attack is in flight, is answered correctly and within
//! [`SERVED_WITHIN`]: a generous bound for a debug build on a loaded
//! machine, where these attacks used to stall every client for seconds.

mod common;

use std::time::{Duration, Instant};

use common::Client;

/// How long another client's `KV_COUNT` may take while an attack runs.
const SERVED_WITHIN: Duration = Duration::from_millis(1500);

const OVER_BUDGET: &str = r#"{"m":"over budget","st":202,"tkn":null}}"#;

/// A JSON array of `n` items, each `item(i)`.
fn array(n: usize, item: impl Fn(usize) -> String) -> String {
    format!("[{}]", (0..n).map(item).collect::<Vec<_>>().join(","))
}

/// Stores `value` under `key`, checking the reply.
fn set(client: &mut Client, key: &str, value: &str) {
    assert_eq!(client.call(&format!(r#"{{"KV_SET":{{"keys":{{"{key}":{value}}}}}}}"#)), r#"{"KV_SET_RSP":{"st":1}}"#);
}

/// The value stored under `key`, as the server sends it.
fn get(client: &mut Client, key: &str) -> String {
    client.call(&format!(r#"{{"KV_GET":{{"keys":["{key}"]}}}}"#))
}

/// Sends `attack` from `attacker`, checks that `other` is served while it
/// is in flight, and returns the attacker's reply.
fn attack(attacker: &mut Client, other: &mut Client, attack: &str, keys: usize) -> String {
    attacker.send(attack);
    for _ in 0..3 {
        let sent = Instant::now();
        assert_eq!(other.call(r#"{"KV_COUNT":{}}"#), format!(r#"{{"KV_COUNT_RSP":{{"cnt":{keys},"st":1}}}}"#));
        let took = sent.elapsed();
        assert!(took < SERVED_WITHIN, "another client waited {took:?} during {attack:.120}");
    }
    attacker.recv()
}

#[test]
fn a_pathological_search_filter_is_over_budget() {
    // Only the budget stops these: no time limit to meet first on a slow debug build.
    let server = common::start_with(common::config().search_timeout(None));
    let (mut attacker, mut other) = (server.client(), server.client());
    let strings = array(2000, |i| format!(r#""aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa {i}""#));
    set(&mut attacker, "s", &strings);
    let before = get(&mut other, "s");
    // The last compiles to more than the 256 KiB program limit (`\w{12}`).
    for pattern in ["(a|aa)*(b|c){10,20}.{40}", "(a*)*(a*)*(a*)*b", r"\\\\w{12}"] {
        let request = format!(r#"{{"KV_UPDATE":{{"key":"s","path":"$[?search(@, '{pattern}')]","value":1}}}}"#);
        let reply = attack(&mut attacker, &mut other, &request, 1);
        assert_eq!(reply, format!(r#"{{"KV_UPDATE_RSP":{OVER_BUDGET}"#), "{pattern}");
        let request = format!(r#"{{"KV_FIND":{{"path":"$[?match(@, '{pattern}')]","rsp":"keys"}}}}"#);
        let reply = attack(&mut attacker, &mut other, &request, 1);
        assert_eq!(reply, format!(r#"{{"KV_FIND_RSP":{OVER_BUDGET}"#), "{pattern}");
    }
    assert_eq!(get(&mut other, "s"), before);
    // A reasonable pattern over the same strings works.
    let reply = attacker.call(r#"{"KV_UPDATE":{"key":"s","path":"$[?search(@, ' 1999$')]","value":1}}"#);
    assert_eq!(reply, r#"{"KV_UPDATE_RSP":{"cnt":1,"st":1}}"#);
}

#[test]
fn the_multi_selector_explosion_is_over_budget_everywhere() {
    let server = common::start();
    let (mut attacker, mut other) = (server.client(), server.client());
    // 20 levels of arrays: each [0,0,0,0,0,0,0,0] multiplies the nodes by 8.
    let nested = format!("{}0{}", "[".repeat(20), "]".repeat(20));
    set(&mut attacker, "n", &nested);
    let explosive = format!("${}", "[0,0,0,0,0,0,0,0]".repeat(8));
    assert!(explosive.len() < 140, "the ~130-byte path of the report");
    // On the loop (one small key named), as an update, and as a background
    // search over more keys than the loop searches.
    let find_one = format!(r#"{{"KV_FIND":{{"keys":["n"],"path":"{explosive}","rsp":"paths"}}}}"#);
    assert_eq!(attack(&mut attacker, &mut other, &find_one, 1), format!(r#"{{"KV_FIND_RSP":{OVER_BUDGET}"#));
    let update = format!(r#"{{"KV_UPDATE":{{"key":"n","path":"{explosive}","value":1}}}}"#);
    assert_eq!(attack(&mut attacker, &mut other, &update, 1), format!(r#"{{"KV_UPDATE_RSP":{OVER_BUDGET}"#));
    let keys: Vec<String> = (0..2000).map(|i| format!(r#""k{i}":{nested}"#)).collect();
    assert_eq!(
        attacker.call(&format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, keys.join(","))),
        r#"{"KV_SET_RSP":{"st":1}}"#
    );
    let find_all = format!(r#"{{"KV_FIND":{{"path":"{explosive}","rsp":"keys"}}}}"#);
    assert_eq!(attack(&mut attacker, &mut other, &find_all, 2001), format!(r#"{{"KV_FIND_RSP":{OVER_BUDGET}"#));
    assert_eq!(get(&mut other, "n"), format!(r#"{{"KV_GET_RSP":{{"keys":{{"n":{nested}}},"st":1}}}}"#));
    // Within budget, the same shape works.
    let modest = format!("${}", "[0,0]".repeat(8));
    let reply = attacker.call(&format!(r#"{{"KV_UPDATE":{{"key":"n","path":"{modest}","value":1}}}}"#));
    assert_eq!(reply, r#"{"KV_UPDATE_RSP":{"cnt":1,"st":1}}"#);
}

#[test]
fn descendants_of_descendants_of_a_deep_value_are_over_budget() {
    let server = common::start();
    let (mut attacker, mut other) = (server.client(), server.client());
    let deep = format!("{}{}{}", "[".repeat(100), array(2000, |_| "0".into()), "]".repeat(100));
    set(&mut attacker, "d", &deep);
    let before = get(&mut other, "d");
    for path in ["$..*..*..*", "$..[?count(@..*) > 0]", "$..*..[0]..*"] {
        let find = format!(r#"{{"KV_FIND":{{"keys":["d"],"path":"{path}","rsp":"paths"}}}}"#);
        assert_eq!(attack(&mut attacker, &mut other, &find, 1), format!(r#"{{"KV_FIND_RSP":{OVER_BUDGET}"#), "{path}");
        let update = format!(r#"{{"KV_UPDATE":{{"key":"d","path":"{path}","value":1}}}}"#);
        assert_eq!(
            attack(&mut attacker, &mut other, &update, 1),
            format!(r#"{{"KV_UPDATE_RSP":{OVER_BUDGET}"#),
            "{path}"
        );
    }
    assert_eq!(get(&mut other, "d"), before);
    // One descendant segment visits each node once: it fits.
    let reply = attacker.call(r#"{"KV_FIND":{"keys":["d"],"path":"$..[1999]","rsp":"paths"}}"#);
    assert!(reply.ends_with(r#"[0][1999]"],"st":1}}"#), "{reply:.200}");
}

#[test]
fn a_huge_array_append_runs_off_the_loop() {
    let server = common::start_with(common::config().max_payload(4 << 20));
    let (mut attacker, mut other) = (server.client(), server.client());
    let items = |n: usize| array(n, |i| format!(r#"{{"n":{i},"name":"some text here"}}"#));
    set(&mut attacker, "a", &items(10_000));
    // 600 KB more: computed on the save thread while the other client is served.
    let append = format!(r#"{{"KV_ARR_APPEND":{{"items":{},"key":"a"}}}}"#, items(20_000));
    assert_eq!(attack(&mut attacker, &mut other, &append, 1), r#"{"KV_ARR_APPEND_RSP":{"st":1}}"#);
    let count = attacker.call(r#"{"KV_FIND":{"keys":["a"],"path":"$[29999].n","rsp":"paths"}}"#);
    assert_eq!(count, r#"{"KV_FIND_RSP":{"paths":["$[29999]['n']"],"st":1}}"#);
    // Past maxPayload: 42, nothing changed.
    let before = get(&mut other, "a");
    let append = format!(r#"{{"KV_ARR_APPEND":{{"items":{},"key":"a"}}}}"#, items(100_000));
    assert_eq!(attack(&mut attacker, &mut other, &append, 1), r#"{"KV_ARR_APPEND_RSP":{"st":42}}"#);
    let longer = "x".repeat(150);
    let update = format!(r#"{{"KV_UPDATE":{{"key":"a","path":"$[*].name","value":"{longer}"}}}}"#);
    assert_eq!(attack(&mut attacker, &mut other, &update, 1), r#"{"KV_UPDATE_RSP":{"cnt":0,"st":42}}"#);
    assert_eq!(get(&mut other, "a"), before);
}

/// `keys` keys, each an array of 50 numbers, for costly searches.
fn fill_numbers(client: &mut Client, keys: usize) {
    let value = array(50, |i| i.to_string());
    for batch in 0..keys.div_ceil(1000) {
        let members: Vec<String> =
            (batch * 1000..((batch + 1) * 1000).min(keys)).map(|i| format!(r#""k{i}":{value}"#)).collect();
        assert_eq!(
            client.call(&format!(r#"{{"KV_SET":{{"keys":{{{}}}}}}}"#, members.join(","))),
            r#"{"KV_SET_RSP":{"st":1}}"#
        );
    }
}

/// A search costing about 12,000 steps per value (for each item, the
/// value's items are filtered again), within each value's budget.
const COSTLY: &str = r#"{"KV_FIND":{"path":"$[?count($[?@ >= 0]) == 50]","rsp":"paths"}}"#;

#[test]
fn a_search_past_its_time_limit_answers_203() {
    let server = common::start_with(common::config().search_timeout(Some(Duration::from_millis(20))));
    let (mut attacker, mut other) = (server.client(), server.client());
    fill_numbers(&mut attacker, 5000);
    let reply = attack(&mut attacker, &mut other, COSTLY, 5000);
    assert_eq!(reply, r#"{"KV_FIND_RSP":{"m":"timed out","st":203,"tkn":null}}"#);
    // A search within its time still answers.
    let reply = attacker.call(r#"{"KV_FIND":{"keys":["k7"],"path":"$[49]","rsp":"keys"}}"#);
    assert_eq!(reply, r#"{"KV_FIND_RSP":{"keys":["k7"],"st":1}}"#);
}

#[test]
fn a_search_whose_connection_closes_stops() {
    let server = common::start_with(common::config().search_timeout(Some(Duration::from_secs(120))));
    let mut loader = server.client();
    fill_numbers(&mut loader, 20_000);
    // How long the costly search takes over 200 keys, to scale the bound.
    let sample = format!(
        r#"{{"KV_FIND":{{"keys":[{}],"path":"$[?count($[?@ >= 0]) == 50]","rsp":"paths"}}}}"#,
        (0..200).map(|i| format!(r#""k{i}""#)).collect::<Vec<_>>().join(",")
    );
    let started = Instant::now();
    assert!(loader.call(&sample).ends_with(r#""st":1}}"#));
    let whole = started.elapsed() * 100;
    let mut attacker = server.client();
    attacker.send(COSTLY);
    // Let the search start on the save thread, then leave.
    std::thread::sleep(Duration::from_millis(300));
    drop(attacker);
    // The save thread runs jobs one at a time: this search waits for the
    // abandoned one, which stops at its next step.
    let started = Instant::now();
    let reply = loader.call(r#"{"KV_FIND":{"path":"$[?@ == 49]","rsp":"keys"}}"#);
    let waited = started.elapsed();
    assert!(reply.starts_with(r#"{"KV_FIND_RSP":{"keys":["k0","k1","#), "{reply:.100}");
    assert!(
        waited < whole / 4 && waited < Duration::from_secs(5),
        "waited {waited:?} behind an abandoned search that would take about {whole:?}"
    );
}
