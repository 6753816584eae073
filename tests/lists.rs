//! Every list command of NemesisDB 0.9 (`OLST_`) over a real WebSocket,
//! with the exact reply text: each success case and each error row of
//! PROTOCOL.md §16.8, with ndb's deliberate differences (§15,
//! `docs/protocol.md`).

mod common;

use common::{Client, start, start_with};

/// Runs `(request, expected reply)` rows in order on one connection.
fn rows(client: &mut Client, rows: &[(&str, &str)]) {
    for (request, expected) in rows {
        assert_eq!(client.call(request), *expected, "request: {request}");
    }
}

fn table(table: &[(&str, &str)]) {
    let server = start();
    rows(&mut server.client(), table);
}

/// A list named `name` holding `{"i":0}` … `{"i":n-1}`.
fn filled(client: &mut Client, name: &str, n: usize) {
    assert_eq!(client.call(&format!(r#"{{"OLST_CREATE":{{"name":"{name}"}}}}"#)), r#"{"OLST_CREATE_RSP":{"st":1}}"#);
    let items: Vec<String> = (0..n).map(|i| format!(r#"{{"i":{i}}}"#)).collect();
    let reply = client.call(&format!(r#"{{"OLST_ADD":{{"name":"{name}","items":[{}]}}}}"#, items.join(",")));
    assert_eq!(reply, format!(r#"{{"OLST_ADD_RSP":{{"pos":0,"size":{n},"st":1}}}}"#));
}

/// The items of list `name`, as `i` numbers.
fn items(client: &mut Client, name: &str) -> Vec<i64> {
    let reply = client.call_json(&format!(r#"{{"OLST_GET_RNG":{{"name":"{name}","rng":[0]}}}}"#));
    let body = &reply["OLST_GET_RNG_RSP"];
    assert_eq!(body["st"], 1, "{reply}");
    body["items"].as_array().unwrap().iter().map(|item| item["i"].as_i64().unwrap()).collect()
}

#[test]
fn create() {
    table(&[
        (r#"{"OLST_CREATE":{"name":"l"}}"#, r#"{"OLST_CREATE_RSP":{"st":1}}"#),
        (r#"{"OLST_ADD":{"name":"l","items":[{"a":1}]}}"#, r#"{"OLST_ADD_RSP":{"pos":0,"size":1,"st":1}}"#),
        // An existing name: 160, and the list is left as it was.
        (r#"{"OLST_CREATE":{"name":"l"}}"#, r#"{"OLST_CREATE_RSP":{"st":160}}"#),
        (r#"{"OLST_LEN":{"name":"l"}}"#, r#"{"OLST_LEN_RSP":{"len":1,"st":1}}"#),
        (r#"{"OLST_CREATE":{"name":""}}"#, r#"{"OLST_CREATE_RSP":{"st":1}}"#),
        (r#"{"OLST_CREATE":{"name":"m","len":5}}"#, r#"{"OLST_CREATE_RSP":{"st":1}}"#),
        (r#"{"OLST_CREATE":{}}"#, r#"{"OLST_CREATE_RSP":{"st":26}}"#),
        (r#"{"OLST_CREATE":{"name":1}}"#, r#"{"OLST_CREATE_RSP":{"st":41}}"#),
        (r#"{"OLST_CREATE":[]}"#, r#"{"OLST_CREATE_RSP":{"st":13}}"#),
    ]);
}

#[test]
fn delete_exist_and_len() {
    table(&[
        // A missing list is 22 (arrays answer 1).
        (r#"{"OLST_DELETE":{"name":"l"}}"#, r#"{"OLST_DELETE_RSP":{"st":22}}"#),
        (r#"{"OLST_EXIST":{"name":"l"}}"#, r#"{"OLST_EXIST_RSP":{"st":22}}"#),
        (r#"{"OLST_LEN":{"name":"l"}}"#, r#"{"OLST_LEN_RSP":{"st":22}}"#),
        (r#"{"OLST_CREATE":{"name":"l"}}"#, r#"{"OLST_CREATE_RSP":{"st":1}}"#),
        (r#"{"OLST_EXIST":{"name":"l"}}"#, r#"{"OLST_EXIST_RSP":{"st":1}}"#),
        (r#"{"OLST_LEN":{"name":"l"}}"#, r#"{"OLST_LEN_RSP":{"len":0,"st":1}}"#),
        (r#"{"OLST_ADD":{"name":"l","items":[{},{},{}]}}"#, r#"{"OLST_ADD_RSP":{"pos":0,"size":3,"st":1}}"#),
        (r#"{"OLST_LEN":{"name":"l"}}"#, r#"{"OLST_LEN_RSP":{"len":3,"st":1}}"#),
        (r#"{"OLST_DELETE":{"name":"l"}}"#, r#"{"OLST_DELETE_RSP":{"st":1}}"#),
        (r#"{"OLST_EXIST":{"name":"l"}}"#, r#"{"OLST_EXIST_RSP":{"st":22}}"#),
        (r#"{"OLST_DELETE":{}}"#, r#"{"OLST_DELETE_RSP":{"st":26}}"#),
        (r#"{"OLST_DELETE":{"name":[]}}"#, r#"{"OLST_DELETE_RSP":{"st":41}}"#),
        (r#"{"OLST_EXIST":{}}"#, r#"{"OLST_EXIST_RSP":{"st":26}}"#),
        (r#"{"OLST_EXIST":{"name":true}}"#, r#"{"OLST_EXIST_RSP":{"st":41}}"#),
        (r#"{"OLST_LEN":{}}"#, r#"{"OLST_LEN_RSP":{"st":26}}"#),
        (r#"{"OLST_LEN":{"name":0}}"#, r#"{"OLST_LEN_RSP":{"st":41}}"#),
    ]);
}

#[test]
fn delete_all_removes_every_list_and_nothing_else() {
    table(&[
        (r#"{"OLST_CREATE":{"name":"a"}}"#, r#"{"OLST_CREATE_RSP":{"st":1}}"#),
        (r#"{"OLST_CREATE":{"name":"b"}}"#, r#"{"OLST_CREATE_RSP":{"st":1}}"#),
        (r#"{"OARR_CREATE":{"name":"a","len":1}}"#, r#"{"OARR_CREATE_RSP":{"st":1}}"#),
        (r#"{"OLST_DELETE_ALL":{"name":"a"}}"#, r#"{"OLST_DELETE_ALL_RSP":{"st":1}}"#),
        (r#"{"OLST_EXIST":{"name":"a"}}"#, r#"{"OLST_EXIST_RSP":{"st":22}}"#),
        (r#"{"OLST_EXIST":{"name":"b"}}"#, r#"{"OLST_EXIST_RSP":{"st":22}}"#),
        (r#"{"OARR_EXIST":{"name":"a"}}"#, r#"{"OARR_EXIST_RSP":{"st":1}}"#),
        (r#"{"OLST_DELETE_ALL":{}}"#, r#"{"OLST_DELETE_ALL_RSP":{"st":1}}"#),
        (r#"{"OLST_DELETE_ALL":"x"}"#, r#"{"OLST_DELETE_ALL_RSP":{"st":13}}"#),
    ]);
}

#[test]
fn add() {
    table(&[
        // Errors are keyed OLST_ADD_RSP (NemesisDB keys them OLST_CREATE_RSP).
        (r#"{"OLST_ADD":{"name":"l","items":[{"a":0}]}}"#, r#"{"OLST_ADD_RSP":{"st":22}}"#),
        (r#"{"OLST_CREATE":{"name":"l"}}"#, r#"{"OLST_CREATE_RSP":{"st":1}}"#),
        (r#"{"OLST_ADD":{"name":"l","items":[{"a":0},{"d":0}]}}"#, r#"{"OLST_ADD_RSP":{"pos":0,"size":2,"st":1}}"#),
        (
            r#"{"OLST_ADD":{"name":"l","items":[{"b":0},{"c":0}],"pos":1}}"#,
            r#"{"OLST_ADD_RSP":{"pos":1,"size":4,"st":1}}"#,
        ),
        (
            r#"{"OLST_GET_RNG":{"name":"l","rng":[0]}}"#,
            r#"{"OLST_GET_RNG_RSP":{"items":[{"a":0},{"b":0},{"c":0},{"d":0}],"st":1}}"#,
        ),
        // Past the tail appends.
        (r#"{"OLST_ADD":{"name":"l","items":[{"e":0}],"pos":99}}"#, r#"{"OLST_ADD_RSP":{"pos":4,"size":5,"st":1}}"#),
        (
            r#"{"OLST_ADD":{"name":"l","items":[{"z":[1, 2]}],"pos":0}}"#,
            r#"{"OLST_ADD_RSP":{"pos":0,"size":6,"st":1}}"#,
        ),
        (r#"{"OLST_GET":{"name":"l","pos":0}}"#, r#"{"OLST_GET_RSP":{"item":{"z":[1, 2]},"st":1}}"#),
        (r#"{"OLST_ADD":{"name":"l","items":[{"f":0}]}}"#, r#"{"OLST_ADD_RSP":{"pos":6,"size":7,"st":1}}"#),
        // An empty `items` changes nothing; `pos` says where they would have gone.
        (r#"{"OLST_ADD":{"name":"l","items":[],"pos":2}}"#, r#"{"OLST_ADD_RSP":{"pos":2,"size":7,"st":1}}"#),
        (r#"{"OLST_ADD":{"name":"l","items":[]}}"#, r#"{"OLST_ADD_RSP":{"pos":7,"size":7,"st":1}}"#),
        (r#"{"OLST_ADD":{"name":"l","items":[],"pos":70}}"#, r#"{"OLST_ADD_RSP":{"pos":7,"size":7,"st":1}}"#),
        // Errors, in parameter order: items, name, pos; then each item.
        (r#"{"OLST_ADD":{"name":"l"}}"#, r#"{"OLST_ADD_RSP":{"st":26}}"#),
        (r#"{"OLST_ADD":{"items":[{}]}}"#, r#"{"OLST_ADD_RSP":{"st":26}}"#),
        (r#"{"OLST_ADD":{"items":[5]}}"#, r#"{"OLST_ADD_RSP":{"st":26}}"#),
        (r#"{"OLST_ADD":{"name":"l","items":{"a":1}}}"#, r#"{"OLST_ADD_RSP":{"st":41}}"#),
        (r#"{"OLST_ADD":{"name":5,"items":[{}]}}"#, r#"{"OLST_ADD_RSP":{"st":41}}"#),
        (r#"{"OLST_ADD":{"name":"l","items":[{}],"pos":-1}}"#, r#"{"OLST_ADD_RSP":{"st":41}}"#),
        (r#"{"OLST_ADD":{"name":"l","items":[{}],"pos":"0"}}"#, r#"{"OLST_ADD_RSP":{"st":41}}"#),
        (r#"{"OLST_ADD":{"name":"x","items":[{},1]}}"#, r#"{"OLST_ADD_RSP":{"st":41}}"#),
        (r#"{"OLST_ADD":{"name":"l","items":[[]]}}"#, r#"{"OLST_ADD_RSP":{"st":41}}"#),
        (r#"{"OLST_ADD":{"name":"l","items":["{}"]}}"#, r#"{"OLST_ADD_RSP":{"st":41}}"#),
        (r#"{"OLST_ADD":{"name":"l","items":[null]}}"#, r#"{"OLST_ADD_RSP":{"st":41}}"#),
        (r#"{"OLST_LEN":{"name":"l"}}"#, r#"{"OLST_LEN_RSP":{"len":7,"st":1}}"#),
        (r#"{"OLST_ADD":{"name":"x","items":[{}]}}"#, r#"{"OLST_ADD_RSP":{"st":22}}"#),
        (r#"{"OLST_ADD":[{}]}"#, r#"{"OLST_ADD_RSP":{"st":13}}"#),
    ]);
}

#[test]
fn set_rng() {
    table(&[
        (r#"{"OLST_SET_RNG":{"name":"l","items":[{}],"pos":0}}"#, r#"{"OLST_SET_RNG_RSP":{"st":22}}"#),
        (r#"{"OLST_CREATE":{"name":"l"}}"#, r#"{"OLST_CREATE_RSP":{"st":1}}"#),
        // `pos` at or past the size: 161, an empty list and `items:[]` too.
        (r#"{"OLST_SET_RNG":{"name":"l","items":[],"pos":0}}"#, r#"{"OLST_SET_RNG_RSP":{"st":161}}"#),
        (
            r#"{"OLST_ADD":{"name":"l","items":[{"a":0},{"b":0},{"c":0}]}}"#,
            r#"{"OLST_ADD_RSP":{"pos":0,"size":3,"st":1}}"#,
        ),
        (r#"{"OLST_SET_RNG":{"name":"l","items":[{"x":1},{"y":2}],"pos":1}}"#, r#"{"OLST_SET_RNG_RSP":{"st":1}}"#),
        (
            r#"{"OLST_GET_RNG":{"name":"l","rng":[0]}}"#,
            r#"{"OLST_GET_RNG_RSP":{"items":[{"a":0},{"x":1},{"y":2}],"st":1}}"#,
        ),
        (r#"{"OLST_SET_RNG":{"name":"l","items":[],"pos":2}}"#, r#"{"OLST_SET_RNG_RSP":{"st":1}}"#),
        (r#"{"OLST_SET_RNG":{"name":"l","items":[{}],"pos":3}}"#, r#"{"OLST_SET_RNG_RSP":{"st":161}}"#),
        (r#"{"OLST_SET_RNG":{"name":"l","items":[],"pos":3}}"#, r#"{"OLST_SET_RNG_RSP":{"st":161}}"#),
        // `pos` + n past the size: 161, nothing written (NemesisDB overwrites the list's header).
        (r#"{"OLST_SET_RNG":{"name":"l","items":[{"q":0},{"r":0}],"pos":2}}"#, r#"{"OLST_SET_RNG_RSP":{"st":161}}"#),
        (r#"{"OLST_LEN":{"name":"l"}}"#, r#"{"OLST_LEN_RSP":{"len":3,"st":1}}"#),
        (
            r#"{"OLST_GET_RNG":{"name":"l","rng":[0]}}"#,
            r#"{"OLST_GET_RNG_RSP":{"items":[{"a":0},{"x":1},{"y":2}],"st":1}}"#,
        ),
        // All three parameters are required: items, name, pos.
        (r#"{"OLST_SET_RNG":{"name":"l","items":[{}]}}"#, r#"{"OLST_SET_RNG_RSP":{"st":26}}"#),
        (r#"{"OLST_SET_RNG":{"name":"l","pos":0}}"#, r#"{"OLST_SET_RNG_RSP":{"st":26}}"#),
        (r#"{"OLST_SET_RNG":{"items":[{}],"pos":0}}"#, r#"{"OLST_SET_RNG_RSP":{"st":26}}"#),
        (r#"{"OLST_SET_RNG":{"name":"l","items":[{}],"pos":-1}}"#, r#"{"OLST_SET_RNG_RSP":{"st":41}}"#),
        (r#"{"OLST_SET_RNG":{"name":"l","items":[1],"pos":0}}"#, r#"{"OLST_SET_RNG_RSP":{"st":41}}"#),
        (r#"{"OLST_SET_RNG":{"name":"l","items":"x","pos":0}}"#, r#"{"OLST_SET_RNG_RSP":{"st":41}}"#),
        (r#"{"OLST_SET_RNG":{"name":"x","items":[{}],"pos":0}}"#, r#"{"OLST_SET_RNG_RSP":{"st":22}}"#),
    ]);
}

#[test]
fn get() {
    table(&[
        (r#"{"OLST_GET":{"name":"l"}}"#, r#"{"OLST_GET_RSP":{"st":22}}"#),
        (r#"{"OLST_CREATE":{"name":"l"}}"#, r#"{"OLST_CREATE_RSP":{"st":1}}"#),
        (r#"{"OLST_GET":{"name":"l"}}"#, r#"{"OLST_GET_RSP":{"st":161}}"#),
        (r#"{"OLST_GET":{"name":"l","pos":0}}"#, r#"{"OLST_GET_RSP":{"st":161}}"#),
        (
            r#"{"OLST_ADD":{"name":"l","items":[{"h":1},{"m":2},{"t":3}]}}"#,
            r#"{"OLST_ADD_RSP":{"pos":0,"size":3,"st":1}}"#,
        ),
        (r#"{"OLST_GET":{"name":"l"}}"#, r#"{"OLST_GET_RSP":{"item":{"t":3},"st":1}}"#),
        (r#"{"OLST_GET":{"name":"l","pos":0}}"#, r#"{"OLST_GET_RSP":{"item":{"h":1},"st":1}}"#),
        (r#"{"OLST_GET":{"name":"l","pos":1}}"#, r#"{"OLST_GET_RSP":{"item":{"m":2},"st":1}}"#),
        (r#"{"OLST_GET":{"name":"l","pos":3}}"#, r#"{"OLST_GET_RSP":{"st":161}}"#),
        (r#"{"OLST_GET":{"name":"l","pos":null}}"#, r#"{"OLST_GET_RSP":{"st":41}}"#),
        (r#"{"OLST_GET":{"name":"l","pos":-1}}"#, r#"{"OLST_GET_RSP":{"st":41}}"#),
        (r#"{"OLST_GET":{"pos":0}}"#, r#"{"OLST_GET_RSP":{"st":26}}"#),
        (r#"{"OLST_GET":{"name":{},"pos":0}}"#, r#"{"OLST_GET_RSP":{"st":41}}"#),
        (r#"{"OLST_GET":{"name":"x","pos":0}}"#, r#"{"OLST_GET_RSP":{"st":22}}"#),
    ]);
}

#[test]
fn get_rng() {
    table(&[
        (r#"{"OLST_GET_RNG":{"name":"l","rng":[0]}}"#, r#"{"OLST_GET_RNG_RSP":{"st":22}}"#),
        (r#"{"OLST_CREATE":{"name":"l"}}"#, r#"{"OLST_CREATE_RSP":{"st":1}}"#),
        (r#"{"OLST_GET_RNG":{"name":"l","rng":[0]}}"#, r#"{"OLST_GET_RNG_RSP":{"items":[],"st":1}}"#),
        (
            r#"{"OLST_ADD":{"name":"l","items":[{"a":0},{"b":0},{"c":0}]}}"#,
            r#"{"OLST_ADD_RSP":{"pos":0,"size":3,"st":1}}"#,
        ),
        (r#"{"OLST_GET_RNG":{"name":"l","rng":[1]}}"#, r#"{"OLST_GET_RNG_RSP":{"items":[{"b":0},{"c":0}],"st":1}}"#),
        (r#"{"OLST_GET_RNG":{"name":"l","rng":[0,2]}}"#, r#"{"OLST_GET_RNG_RSP":{"items":[{"a":0},{"b":0}],"st":1}}"#),
        (r#"{"OLST_GET_RNG":{"name":"l","rng":[1,99]}}"#, r#"{"OLST_GET_RNG_RSP":{"items":[{"b":0},{"c":0}],"st":1}}"#),
        (r#"{"OLST_GET_RNG":{"name":"l","rng":[1,1]}}"#, r#"{"OLST_GET_RNG_RSP":{"items":[],"st":1}}"#),
        // A start at or past the tail: [] (arrays give 161).
        (r#"{"OLST_GET_RNG":{"name":"l","rng":[3]}}"#, r#"{"OLST_GET_RNG_RSP":{"items":[],"st":1}}"#),
        (r#"{"OLST_GET_RNG":{"name":"l","rng":[50,60]}}"#, r#"{"OLST_GET_RNG_RSP":{"items":[],"st":1}}"#),
        // The range's shape, before the lookup: 42, 41, 13.
        (r#"{"OLST_GET_RNG":{"name":"x","rng":[]}}"#, r#"{"OLST_GET_RNG_RSP":{"st":42}}"#),
        (r#"{"OLST_GET_RNG":{"name":"x","rng":[0,1,2]}}"#, r#"{"OLST_GET_RNG_RSP":{"st":42}}"#),
        (r#"{"OLST_GET_RNG":{"name":"x","rng":[true]}}"#, r#"{"OLST_GET_RNG_RSP":{"st":41}}"#),
        (r#"{"OLST_GET_RNG":{"name":"x","rng":[2,1]}}"#, r#"{"OLST_GET_RNG_RSP":{"st":13}}"#),
        (r#"{"OLST_GET_RNG":{"name":"x","rng":[1]}}"#, r#"{"OLST_GET_RNG_RSP":{"st":22}}"#),
        (r#"{"OLST_GET_RNG":{"rng":[1]}}"#, r#"{"OLST_GET_RNG_RSP":{"st":26}}"#),
        (r#"{"OLST_GET_RNG":{"name":"l"}}"#, r#"{"OLST_GET_RNG_RSP":{"st":26}}"#),
        (r#"{"OLST_GET_RNG":{"name":"l","rng":1}}"#, r#"{"OLST_GET_RNG_RSP":{"st":41}}"#),
    ]);
}

/// `lists.maxResponseSize` is a count from any start (NemesisDB: an
/// absolute index, and garbage past it).
#[test]
fn get_rng_is_cut_to_max_response_size_items() {
    let server = start_with(common::config().container_limits(10_000, 10_000, 2));
    let mut client = server.client();
    filled(&mut client, "l", 5);
    rows(
        &mut client,
        &[
            (
                r#"{"OLST_GET_RNG":{"name":"l","rng":[0]}}"#,
                r#"{"OLST_GET_RNG_RSP":{"items":[{"i":0},{"i":1}],"st":1}}"#,
            ),
            (
                r#"{"OLST_GET_RNG":{"name":"l","rng":[3]}}"#,
                r#"{"OLST_GET_RNG_RSP":{"items":[{"i":3},{"i":4}],"st":1}}"#,
            ),
            (r#"{"OLST_GET_RNG":{"name":"l","rng":[4,9]}}"#, r#"{"OLST_GET_RNG_RSP":{"items":[{"i":4}],"st":1}}"#),
        ],
    );
}

#[test]
fn rmv() {
    let server = start();
    let mut client = server.client();
    rows(
        &mut client,
        &[
            (r#"{"OLST_RMV":{"name":"l","head":true}}"#, r#"{"OLST_RMV_RSP":{"st":22}}"#),
            (r#"{"OLST_CREATE":{"name":"l"}}"#, r#"{"OLST_CREATE_RSP":{"st":1}}"#),
            // Head or tail of an empty list: st 1, size 0 (NemesisDB aborts).
            (r#"{"OLST_RMV":{"name":"l","head":true}}"#, r#"{"OLST_RMV_RSP":{"size":0,"st":1}}"#),
            (r#"{"OLST_RMV":{"name":"l","tail":true}}"#, r#"{"OLST_RMV_RSP":{"size":0,"st":1}}"#),
            (r#"{"OLST_RMV":{"name":"l","rng":[0]}}"#, r#"{"OLST_RMV_RSP":{"size":0,"st":1}}"#),
            (r#"{"OLST_ADD":{"name":"l","items":[{"i":0}]}}"#, r#"{"OLST_ADD_RSP":{"pos":0,"size":1,"st":1}}"#),
            // `head` empties it, then `tail` finds nothing.
            (r#"{"OLST_RMV":{"name":"l","head":true,"tail":true}}"#, r#"{"OLST_RMV_RSP":{"size":0,"st":1}}"#),
        ],
    );
    let fill = |client: &mut Client| {
        assert_eq!(client.call(r#"{"OLST_DELETE":{"name":"l"}}"#), r#"{"OLST_DELETE_RSP":{"st":1}}"#);
        filled(client, "l", 8);
    };
    fill(&mut client);
    rows(
        &mut client,
        &[
            (r#"{"OLST_RMV":{"name":"l","head":true}}"#, r#"{"OLST_RMV_RSP":{"size":7,"st":1}}"#),
            (r#"{"OLST_RMV":{"name":"l","tail":true}}"#, r#"{"OLST_RMV_RSP":{"size":6,"st":1}}"#),
            (r#"{"OLST_RMV":{"name":"l","rng":[1,3]}}"#, r#"{"OLST_RMV_RSP":{"size":4,"st":1}}"#),
        ],
    );
    assert_eq!(items(&mut client, "l"), [1, 4, 5, 6]);
    // None of them, or false: nothing removed.
    rows(
        &mut client,
        &[
            (r#"{"OLST_RMV":{"name":"l"}}"#, r#"{"OLST_RMV_RSP":{"size":4,"st":1}}"#),
            (r#"{"OLST_RMV":{"name":"l","head":false,"tail":false}}"#, r#"{"OLST_RMV_RSP":{"size":4,"st":1}}"#),
            (r#"{"OLST_RMV":{"name":"l","rng":[4]}}"#, r#"{"OLST_RMV_RSP":{"size":4,"st":1}}"#),
            (r#"{"OLST_RMV":{"name":"l","rng":[2,2]}}"#, r#"{"OLST_RMV_RSP":{"size":4,"st":1}}"#),
            (r#"{"OLST_RMV":{"name":"l","rng":[3,100]}}"#, r#"{"OLST_RMV_RSP":{"size":3,"st":1}}"#),
        ],
    );
    assert_eq!(items(&mut client, "l"), [1, 4, 5]);
    // In order head, tail, then rng, counted on what is left.
    fill(&mut client);
    rows(
        &mut client,
        &[(
            r#"{"OLST_RMV":{"tail":true,"rng":[0,2],"head":true,"name":"l"}}"#,
            r#"{"OLST_RMV_RSP":{"size":4,"st":1}}"#,
        )],
    );
    assert_eq!(items(&mut client, "l"), [3, 4, 5, 6]);
    fill(&mut client);
    rows(&mut client, &[(r#"{"OLST_RMV":{"name":"l","rng":[0]}}"#, r#"{"OLST_RMV_RSP":{"size":0,"st":1}}"#)]);
    fill(&mut client);
    rows(&mut client, &[(r#"{"OLST_RMV":{"name":"l","rng":[5]}}"#, r#"{"OLST_RMV_RSP":{"size":5,"st":1}}"#)]);
    assert_eq!(items(&mut client, "l"), [0, 1, 2, 3, 4]);
    // Errors in parameter order: head, name, rng, tail; then rng's shape.
    rows(
        &mut client,
        &[
            (r#"{"OLST_RMV":{"head":5}}"#, r#"{"OLST_RMV_RSP":{"st":41}}"#),
            (r#"{"OLST_RMV":{"head":true}}"#, r#"{"OLST_RMV_RSP":{"st":26}}"#),
            (r#"{"OLST_RMV":{"name":"l","rng":[],"tail":1}}"#, r#"{"OLST_RMV_RSP":{"st":41}}"#),
            (r#"{"OLST_RMV":{"name":"l","rng":"0"}}"#, r#"{"OLST_RMV_RSP":{"st":41}}"#),
            (r#"{"OLST_RMV":{"name":"x","rng":[]}}"#, r#"{"OLST_RMV_RSP":{"st":42}}"#),
            (r#"{"OLST_RMV":{"name":"x","rng":[0,1,2]}}"#, r#"{"OLST_RMV_RSP":{"st":42}}"#),
            (r#"{"OLST_RMV":{"name":"x","rng":[-1]}}"#, r#"{"OLST_RMV_RSP":{"st":41}}"#),
            (r#"{"OLST_RMV":{"name":"x","rng":[2,1]}}"#, r#"{"OLST_RMV_RSP":{"st":13}}"#),
            (r#"{"OLST_RMV":{"name":"x","tail":true}}"#, r#"{"OLST_RMV_RSP":{"st":22}}"#),
            (r#"{"OLST_LEN":{"name":"l"}}"#, r#"{"OLST_LEN_RSP":{"len":5,"st":1}}"#),
        ],
    );
}

#[test]
fn splice_between_lists() {
    let server = start();
    let mut client = server.client();
    filled(&mut client, "s", 4);
    // `destName` is created if absent.
    rows(
        &mut client,
        &[(
            r#"{"OLST_SPLICE":{"srcName":"s","destName":"d","srcRng":[1,3],"destPos":0}}"#,
            r#"{"OLST_SPLICE_RSP":{"st":1}}"#,
        )],
    );
    assert_eq!(items(&mut client, "d"), [1, 2]);
    assert_eq!(items(&mut client, "s"), [0, 3]);
    // Before `destPos` of the destination as it was; past its tail appends.
    rows(
        &mut client,
        &[(
            r#"{"OLST_SPLICE":{"srcName":"s","destName":"d","srcRng":[1],"destPos":1}}"#,
            r#"{"OLST_SPLICE_RSP":{"st":1}}"#,
        )],
    );
    assert_eq!(items(&mut client, "d"), [1, 3, 2]);
    rows(
        &mut client,
        &[(
            r#"{"OLST_SPLICE":{"srcName":"s","destName":"d","srcRng":[0,9],"destPos":99}}"#,
            r#"{"OLST_SPLICE_RSP":{"st":1}}"#,
        )],
    );
    assert_eq!(items(&mut client, "d"), [1, 3, 2, 0]);
    // The source stays, empty.
    rows(
        &mut client,
        &[
            (r#"{"OLST_LEN":{"name":"s"}}"#, r#"{"OLST_LEN_RSP":{"len":0,"st":1}}"#),
            // Without destPos: appended.
            (r#"{"OLST_SPLICE":{"srcName":"d","destName":"s","srcRng":[2]}}"#, r#"{"OLST_SPLICE_RSP":{"st":1}}"#),
            // Nothing to move: the destination is still created.
            (r#"{"OLST_SPLICE":{"srcName":"s","destName":"new","srcRng":[10]}}"#, r#"{"OLST_SPLICE_RSP":{"st":1}}"#),
            (r#"{"OLST_EXIST":{"name":"new"}}"#, r#"{"OLST_EXIST_RSP":{"st":1}}"#),
            (r#"{"OLST_LEN":{"name":"new"}}"#, r#"{"OLST_LEN_RSP":{"len":0,"st":1}}"#),
        ],
    );
    assert_eq!(items(&mut client, "s"), [2, 0]);
    assert_eq!(items(&mut client, "d"), [1, 3]);
}

#[test]
fn splice_within_one_list_is_a_move() {
    let server = start();
    let mut client = server.client();
    let cases: &[(&str, &str, &[i64])] = &[
        ("[0,2]", "", &[2, 3, 0, 1]),
        ("[0,2]", r#","destPos":4"#, &[2, 3, 0, 1]),
        ("[0,2]", r#","destPos":3"#, &[2, 0, 1, 3]),
        ("[2]", r#","destPos":0"#, &[2, 3, 0, 1]),
        ("[1,3]", r#","destPos":0"#, &[1, 2, 0, 3]),
        ("[1,2]", r#","destPos":99"#, &[0, 2, 3, 1]),
        // destPos at the range's end: a move that changes nothing.
        ("[1,3]", r#","destPos":3"#, &[0, 1, 2, 3]),
        ("[2]", "", &[0, 1, 2, 3]),
        ("[9]", r#","destPos":1"#, &[0, 1, 2, 3]),
        ("[1,1]", r#","destPos":1"#, &[0, 1, 2, 3]),
    ];
    for (i, (rng, dest_pos, expected)) in cases.iter().enumerate() {
        let name = format!("l{i}");
        filled(&mut client, &name, 4);
        let request =
            format!(r#"{{"OLST_SPLICE":{{"srcName":"{name}","destName":"{name}","srcRng":{rng}{dest_pos}}}}}"#);
        assert_eq!(client.call(&request), r#"{"OLST_SPLICE_RSP":{"st":1}}"#, "{request}");
        assert_eq!(items(&mut client, &name), *expected, "{request}");
    }
    // destPos inside the moved range: 13, nothing moves.
    filled(&mut client, "m", 4);
    for (rng, dest_pos) in [("[0,2]", 0), ("[0,2]", 1), ("[1]", 3), ("[1,9]", 2)] {
        let request =
            format!(r#"{{"OLST_SPLICE":{{"srcName":"m","destName":"m","srcRng":{rng},"destPos":{dest_pos}}}}}"#);
        assert_eq!(client.call(&request), r#"{"OLST_SPLICE_RSP":{"st":13}}"#, "{request}");
    }
    assert_eq!(items(&mut client, "m"), [0, 1, 2, 3]);
}

#[test]
fn splice_errors_come_before_any_change() {
    let server = start();
    let mut client = server.client();
    filled(&mut client, "s", 3);
    rows(
        &mut client,
        &[
            // Missing names are 26 (NemesisDB: ERR 1000).
            (r#"{"OLST_SPLICE":{"srcName":"s","srcRng":[0]}}"#, r#"{"OLST_SPLICE_RSP":{"st":26}}"#),
            (r#"{"OLST_SPLICE":{"destName":"d","srcRng":[0]}}"#, r#"{"OLST_SPLICE_RSP":{"st":26}}"#),
            (r#"{"OLST_SPLICE":{"destName":"d","srcName":"s"}}"#, r#"{"OLST_SPLICE_RSP":{"st":26}}"#),
            (r#"{"OLST_SPLICE":{"destName":1,"srcName":"s","srcRng":[0]}}"#, r#"{"OLST_SPLICE_RSP":{"st":41}}"#),
            (
                r#"{"OLST_SPLICE":{"destName":"d","destPos":-1,"srcName":"s","srcRng":[0]}}"#,
                r#"{"OLST_SPLICE_RSP":{"st":41}}"#,
            ),
            (
                r#"{"OLST_SPLICE":{"destName":"d","destPos":"0","srcName":"s","srcRng":[0]}}"#,
                r#"{"OLST_SPLICE_RSP":{"st":41}}"#,
            ),
            (r#"{"OLST_SPLICE":{"destName":"d","srcName":["s"],"srcRng":[0]}}"#, r#"{"OLST_SPLICE_RSP":{"st":41}}"#),
            (r#"{"OLST_SPLICE":{"destName":"d","srcName":"s","srcRng":0}}"#, r#"{"OLST_SPLICE_RSP":{"st":41}}"#),
            // srcRng is checked like rng (NemesisDB does not check it).
            (r#"{"OLST_SPLICE":{"destName":"d","srcName":"s","srcRng":[]}}"#, r#"{"OLST_SPLICE_RSP":{"st":42}}"#),
            (r#"{"OLST_SPLICE":{"destName":"d","srcName":"s","srcRng":[0,1,2]}}"#, r#"{"OLST_SPLICE_RSP":{"st":42}}"#),
            (r#"{"OLST_SPLICE":{"destName":"d","srcName":"s","srcRng":["0"]}}"#, r#"{"OLST_SPLICE_RSP":{"st":41}}"#),
            (r#"{"OLST_SPLICE":{"destName":"d","srcName":"s","srcRng":[-1]}}"#, r#"{"OLST_SPLICE_RSP":{"st":41}}"#),
            (r#"{"OLST_SPLICE":{"destName":"d","srcName":"s","srcRng":[2,0]}}"#, r#"{"OLST_SPLICE_RSP":{"st":13}}"#),
            // A missing source: 22, and nothing else happens.
            (r#"{"OLST_SPLICE":{"destName":"d","srcName":"x","srcRng":[0]}}"#, r#"{"OLST_SPLICE_RSP":{"st":22}}"#),
            (r#"{"OLST_EXIST":{"name":"d"}}"#, r#"{"OLST_EXIST_RSP":{"st":22}}"#),
            (r#"{"OLST_LEN":{"name":"s"}}"#, r#"{"OLST_LEN_RSP":{"len":3,"st":1}}"#),
        ],
    );
}

/// Positions are found without walking the list: a list of 100,000 items
/// answers in the middle as at the ends.
#[test]
fn large_lists_answer_at_any_position() {
    let server = start();
    let mut client = server.client();
    assert_eq!(client.call(r#"{"OLST_CREATE":{"name":"big"}}"#), r#"{"OLST_CREATE_RSP":{"st":1}}"#);
    for batch in 0..10 {
        let items: Vec<String> = (0..10_000).map(|i| format!(r#"{{"i":{}}}"#, batch * 10_000 + i)).collect();
        let reply = client.call(&format!(r#"{{"OLST_ADD":{{"name":"big","items":[{}]}}}}"#, items.join(",")));
        let size = (batch + 1) * 10_000;
        assert_eq!(reply, format!(r#"{{"OLST_ADD_RSP":{{"pos":{},"size":{size},"st":1}}}}"#, batch * 10_000));
    }
    rows(
        &mut client,
        &[
            (r#"{"OLST_GET":{"name":"big","pos":54321}}"#, r#"{"OLST_GET_RSP":{"item":{"i":54321},"st":1}}"#),
            (
                r#"{"OLST_ADD":{"name":"big","items":[{"new":1}],"pos":50000}}"#,
                r#"{"OLST_ADD_RSP":{"pos":50000,"size":100001,"st":1}}"#,
            ),
            (r#"{"OLST_GET":{"name":"big","pos":50000}}"#, r#"{"OLST_GET_RSP":{"item":{"new":1},"st":1}}"#),
            (r#"{"OLST_GET":{"name":"big","pos":50001}}"#, r#"{"OLST_GET_RSP":{"item":{"i":50000},"st":1}}"#),
            (r#"{"OLST_RMV":{"name":"big","rng":[50000,50001]}}"#, r#"{"OLST_RMV_RSP":{"size":100000,"st":1}}"#),
            (
                r#"{"OLST_SPLICE":{"srcName":"big","destName":"half","srcRng":[25000,75000]}}"#,
                r#"{"OLST_SPLICE_RSP":{"st":1}}"#,
            ),
            (r#"{"OLST_LEN":{"name":"half"}}"#, r#"{"OLST_LEN_RSP":{"len":50000,"st":1}}"#),
            (r#"{"OLST_GET":{"name":"half","pos":0}}"#, r#"{"OLST_GET_RSP":{"item":{"i":25000},"st":1}}"#),
            (r#"{"OLST_GET":{"name":"big","pos":25000}}"#, r#"{"OLST_GET_RSP":{"item":{"i":75000},"st":1}}"#),
            (r#"{"OLST_GET":{"name":"big"}}"#, r#"{"OLST_GET_RSP":{"item":{"i":99999},"st":1}}"#),
            (r#"{"OLST_DELETE":{"name":"half"}}"#, r#"{"OLST_DELETE_RSP":{"st":1}}"#),
        ],
    );
}

/// Unknown names under the list prefix are `{"ERR":{"st":10}}`.
#[test]
fn dispatch_under_the_list_prefix() {
    table(&[
        (r#"{"OLST_FOO":{}}"#, r#"{"ERR":{"st":10}}"#),
        (r#"{"OLST_add":{}}"#, r#"{"ERR":{"st":10}}"#),
        (r#"{"OLST_":{}}"#, r#"{"ERR":{"st":10}}"#),
        (r#"{"OLST_ADD_RSP":{}}"#, r#"{"ERR":{"st":10}}"#),
        (r#"{"OLST_KEYS":{}}"#, r#"{"ERR":{"st":10}}"#),
        (r#"{"OLST_USED":{"name":"l"}}"#, r#"{"ERR":{"st":10}}"#),
        (r#"{"OLST_SET":{"name":"l"}}"#, r#"{"ERR":{"st":10}}"#),
        (r#"{"OLST_CLEAR":{"name":"l"}}"#, r#"{"ERR":{"st":10}}"#),
        (r#"{"OLST_SWAP":{"name":"l"}}"#, r#"{"ERR":{"st":10}}"#),
        (r#"{"OLST_FOO":5}"#, r#"{"OLST_FOO_RSP":{"st":13}}"#),
        (r#"{"OLST_GET":"l"}"#, r#"{"OLST_GET_RSP":{"st":13}}"#),
    ]);
}
