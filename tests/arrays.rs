//! Every array command of NemesisDB 0.9 (`OARR_`, `IARR_`, `STRARR_`,
//! `SIARR_`, `SSTRARR_`) over a real WebSocket, with the exact reply
//! text: each success case and each error row of PROTOCOL.md §16, with
//! ndb's deliberate differences (§15, `docs/protocol.md`).
//!
//! Tables are written once for several types: `@` stands for the prefix,
//! `$1` … `$4` for four items of the type in ascending order, `$0` for its
//! empty value and `$x` for an item of another JSON type.

mod common;

use common::{Client, TestServer, start, start_with};

/// One array type and the values its tables use.
#[derive(Clone, Copy)]
struct Type {
    prefix: &'static str,
    items: [&'static str; 4],
    empty: &'static str,
    wrong: &'static str,
}

const OARR: Type = Type {
    prefix: "OARR",
    items: [r#"{"a":1}"#, r#"{"a":2}"#, r#"{"b":[3]}"#, r#"{"c":{"d":4}}"#],
    empty: "{}",
    wrong: "5",
};
const IARR: Type = Type { prefix: "IARR", items: ["-20", "10", "30", "40"], empty: "0", wrong: r#""x""# };
const STRARR: Type =
    Type { prefix: "STRARR", items: [r#""a""#, r#""b""#, r#""c""#, r#""d""#], empty: r#""""#, wrong: "5" };
const SIARR: Type = Type { prefix: "SIARR", items: ["-5", "0", "7", "12"], empty: "0", wrong: "1.5" };
const SSTRARR: Type =
    Type { prefix: "SSTRARR", items: [r#""Apple""#, r#""apple""#, r#""b""#, r#""é""#], empty: r#""""#, wrong: "[]" };

const UNSORTED: [Type; 3] = [OARR, IARR, STRARR];
const SORTED: [Type; 2] = [SIARR, SSTRARR];
const ALL: [Type; 5] = [OARR, IARR, STRARR, SIARR, SSTRARR];

impl Type {
    fn fill(&self, text: &str) -> String {
        text.replace('@', self.prefix)
            .replace("$1", self.items[0])
            .replace("$2", self.items[1])
            .replace("$3", self.items[2])
            .replace("$4", self.items[3])
            .replace("$0", self.empty)
            .replace("$x", self.wrong)
    }
}

/// Runs `(request, expected reply)` rows in order on one connection, for
/// each type, each on a fresh server.
fn table_on(server: impl Fn() -> TestServer, types: &[Type], rows: &[(&str, &str)]) {
    for t in types {
        let server = server();
        let mut client = server.client();
        for (request, expected) in rows {
            let (request, expected) = (t.fill(request), t.fill(expected));
            assert_eq!(client.call(&request), expected, "{}: request {request}", t.prefix);
        }
    }
}

fn table(types: &[Type], rows: &[(&str, &str)]) {
    table_on(start, types, rows);
}

/// A server whose arrays are limited as a version-6 config says.
fn start_limited(max_capacity: u64, max_response: u64) -> TestServer {
    start_with(common::config().container_limits(max_capacity, max_response, 10_000))
}

#[test]
fn create() {
    table(
        &ALL,
        &[
            (r#"{"@_CREATE":{"name":"a","len":3}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_CREATE":{"name":"a","len":5}}"#, r#"{"@_CREATE_RSP":{"st":160}}"#),
            // The name is checked before the capacity's range.
            (r#"{"@_CREATE":{"name":"a","len":0}}"#, r#"{"@_CREATE_RSP":{"st":160}}"#),
            (r#"{"@_LEN":{"name":"a"}}"#, r#"{"@_LEN_RSP":{"len":3,"st":1}}"#),
            (r#"{"@_CREATE":{"name":"b","len":0}}"#, r#"{"@_CREATE_RSP":{"st":161}}"#),
            (r#"{"@_CREATE":{"name":"b","len":10001}}"#, r#"{"@_CREATE_RSP":{"st":161}}"#),
            (r#"{"@_CREATE":{"name":"b","len":18446744073709551615}}"#, r#"{"@_CREATE_RSP":{"st":161}}"#),
            (r#"{"@_EXIST":{"name":"b"}}"#, r#"{"@_EXIST_RSP":{"st":22}}"#),
            (r#"{"@_CREATE":{"name":"b","len":10000}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_CREATE":{"name":"","len":1}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_CREATE":{"name":"żółw ☃ \"q\"","len":1}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_EXIST":{"name":"\u017c\u00f3\u0142w \u2603 \"q\""}}"#, r#"{"@_EXIST_RSP":{"st":1}}"#),
            // `len` comes first.
            (r#"{"@_CREATE":{"name":5}}"#, r#"{"@_CREATE_RSP":{"st":26}}"#),
            (r#"{"@_CREATE":{"len":3}}"#, r#"{"@_CREATE_RSP":{"st":26}}"#),
            (r#"{"@_CREATE":{"len":-1}}"#, r#"{"@_CREATE_RSP":{"st":41}}"#),
            (r#"{"@_CREATE":{"name":"c","len":1.0}}"#, r#"{"@_CREATE_RSP":{"st":41}}"#),
            (r#"{"@_CREATE":{"name":"c","len":1e3}}"#, r#"{"@_CREATE_RSP":{"st":41}}"#),
            (r#"{"@_CREATE":{"name":"c","len":"3"}}"#, r#"{"@_CREATE_RSP":{"st":41}}"#),
            (r#"{"@_CREATE":{"name":"c","len":true}}"#, r#"{"@_CREATE_RSP":{"st":41}}"#),
            (r#"{"@_CREATE":{"name":"c","len":null}}"#, r#"{"@_CREATE_RSP":{"st":41}}"#),
            (r#"{"@_CREATE":{"name":["c"],"len":3}}"#, r#"{"@_CREATE_RSP":{"st":41}}"#),
            (r#"{"@_CREATE":{"name":"c","len":18446744073709551616}}"#, r#"{"@_CREATE_RSP":{"st":41}}"#),
            (r#"{"@_CREATE":{"name":"c","len":2,"ignored":[1]}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
        ],
    );
}

/// `arrays.maxCapacity` of a version-6 config; with 0, only `len:0`
/// makes an array, one without slots.
#[test]
fn create_follows_max_capacity() {
    table_on(
        || start_limited(3, 10_000),
        &ALL,
        &[
            (r#"{"@_CREATE":{"name":"a","len":4}}"#, r#"{"@_CREATE_RSP":{"st":161}}"#),
            (r#"{"@_CREATE":{"name":"a","len":3}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
        ],
    );
    table_on(
        || start_limited(0, 10_000),
        &ALL,
        &[
            (r#"{"@_CREATE":{"name":"a","len":1}}"#, r#"{"@_CREATE_RSP":{"st":161}}"#),
            (r#"{"@_CREATE":{"name":"a","len":0}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_LEN":{"name":"a"}}"#, r#"{"@_LEN_RSP":{"len":0,"st":1}}"#),
            (r#"{"@_GET":{"name":"a","pos":0}}"#, r#"{"@_GET_RSP":{"st":161}}"#),
            (r#"{"@_SET":{"name":"a","item":$1}}"#, r#"{"@_SET_RSP":{"st":161}}"#),
        ],
    );
}

/// A huge capacity is cheap to create: slots are stored as they are
/// written, while the whole capacity is counted as memory at once.
#[test]
fn create_of_a_huge_capacity_allocates_lazily() {
    table_on(
        || start_limited(u64::MAX, 10_000),
        &ALL,
        &[
            (r#"{"@_CREATE":{"name":"a","len":18446744073709551615}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_LEN":{"name":"a"}}"#, r#"{"@_LEN_RSP":{"len":18446744073709551615,"st":1}}"#),
            (r#"{"@_GET":{"name":"a","pos":18446744073709551614}}"#, r#"{"@_GET_RSP":{"item":$0,"st":1}}"#),
            (r#"{"@_SET":{"name":"a","item":$1}}"#, r#"{"@_SET_RSP":{"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[0]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$1],"st":1}}"#),
        ],
    );
}

#[test]
fn delete() {
    table(
        &ALL,
        &[
            // Whether or not the array existed.
            (r#"{"@_DELETE":{"name":"a"}}"#, r#"{"@_DELETE_RSP":{"st":1}}"#),
            (r#"{"@_CREATE":{"name":"a","len":3}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_DELETE":{"name":"a"}}"#, r#"{"@_DELETE_RSP":{"st":1}}"#),
            (r#"{"@_EXIST":{"name":"a"}}"#, r#"{"@_EXIST_RSP":{"st":22}}"#),
            (r#"{"@_CREATE":{"name":"a","len":1}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_DELETE":{}}"#, r#"{"@_DELETE_RSP":{"st":26}}"#),
            (r#"{"@_DELETE":{"name":1}}"#, r#"{"@_DELETE_RSP":{"st":41}}"#),
            (r#"{"@_EXIST":{"name":"a"}}"#, r#"{"@_EXIST_RSP":{"st":1}}"#),
        ],
    );
}

#[test]
fn delete_all_empties_its_own_type_only() {
    let server = start();
    let mut client = server.client();
    for t in ALL {
        for name in ["a", "b"] {
            let request = t.fill(&format!(r#"{{"@_CREATE":{{"name":"{name}","len":2}}}}"#));
            assert_eq!(client.call(&request), t.fill(r#"{"@_CREATE_RSP":{"st":1}}"#));
        }
    }
    assert_eq!(client.call(r#"{"OLST_CREATE":{"name":"a"}}"#), r#"{"OLST_CREATE_RSP":{"st":1}}"#);
    assert_eq!(client.call(r#"{"KV_SET":{"keys":{"a":1}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
    for (i, t) in ALL.iter().enumerate() {
        assert_eq!(
            client.call(&t.fill(r#"{"@_DELETE_ALL":{"name":"x"}}"#)),
            t.fill(r#"{"@_DELETE_ALL_RSP":{"st":1}}"#)
        );
        for (j, other) in ALL.iter().enumerate() {
            let expected = if j <= i { 22 } else { 1 };
            for name in ["a", "b"] {
                let request = other.fill(&format!(r#"{{"@_EXIST":{{"name":"{name}"}}}}"#));
                assert_eq!(client.call(&request), other.fill(&format!(r#"{{"@_EXIST_RSP":{{"st":{expected}}}}}"#)));
            }
        }
    }
    assert_eq!(client.call(r#"{"OLST_EXIST":{"name":"a"}}"#), r#"{"OLST_EXIST_RSP":{"st":1}}"#);
    assert_eq!(client.call(r#"{"KV_COUNT":{}}"#), r#"{"KV_COUNT_RSP":{"cnt":1,"st":1}}"#);
    assert_eq!(client.call(r#"{"KV_CLEAR":{}}"#), r#"{"KV_CLEAR_RSP":{"cnt":1,"st":1}}"#);
    assert_eq!(
        client.call(r#"{"OLST_EXIST":{"name":"a"}}"#),
        r#"{"OLST_EXIST_RSP":{"st":1}}"#,
        "KV_CLEAR leaves lists"
    );
    assert_eq!(client.call(r#"{"IARR_DELETE_ALL":5}"#), r#"{"IARR_DELETE_ALL_RSP":{"st":13}}"#);
}

/// Six namespaces apart from the KV keys: `"x"` can be all of them.
#[test]
fn each_type_has_its_own_namespace() {
    let server = start();
    let mut client = server.client();
    for t in ALL {
        let len = t.prefix.len();
        let request = t.fill(&format!(r#"{{"@_CREATE":{{"name":"x","len":{len}}}}}"#));
        assert_eq!(client.call(&request), t.fill(r#"{"@_CREATE_RSP":{"st":1}}"#));
    }
    assert_eq!(client.call(r#"{"OLST_CREATE":{"name":"x"}}"#), r#"{"OLST_CREATE_RSP":{"st":1}}"#);
    assert_eq!(client.call(r#"{"KV_SET":{"keys":{"x":"kv"}}}"#), r#"{"KV_SET_RSP":{"st":1}}"#);
    for t in ALL {
        let expected = format!(r#"{{"@_LEN_RSP":{{"len":{},"st":1}}}}"#, t.prefix.len());
        assert_eq!(client.call(&t.fill(r#"{"@_LEN":{"name":"x"}}"#)), t.fill(&expected));
    }
    assert_eq!(client.call(r#"{"OLST_LEN":{"name":"x"}}"#), r#"{"OLST_LEN_RSP":{"len":0,"st":1}}"#);
    assert_eq!(client.call(r#"{"KV_GET":{"keys":["x"]}}"#), r#"{"KV_GET_RSP":{"keys":{"x":"kv"},"st":1}}"#);
}

/// Arrays belong to the server: every connection sees them.
#[test]
fn arrays_are_shared_by_every_connection() {
    let server = start();
    let mut one = server.client();
    let mut two: Client = server.client();
    assert_eq!(one.call(r#"{"IARR_CREATE":{"name":"s","len":2}}"#), r#"{"IARR_CREATE_RSP":{"st":1}}"#);
    assert_eq!(one.call(r#"{"IARR_SET":{"name":"s","item":5}}"#), r#"{"IARR_SET_RSP":{"st":1}}"#);
    drop(one);
    assert_eq!(two.call(r#"{"IARR_GET":{"name":"s","pos":0}}"#), r#"{"IARR_GET_RSP":{"item":5,"st":1}}"#);
}

#[test]
fn exist_len_and_used() {
    table(
        &ALL,
        &[
            (r#"{"@_EXIST":{"name":"a"}}"#, r#"{"@_EXIST_RSP":{"st":22}}"#),
            (r#"{"@_LEN":{"name":"a"}}"#, r#"{"@_LEN_RSP":{"st":22}}"#),
            (r#"{"@_USED":{"name":"a"}}"#, r#"{"@_USED_RSP":{"st":22}}"#),
            (r#"{"@_CREATE":{"name":"a","len":30}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_EXIST":{"name":"a"}}"#, r#"{"@_EXIST_RSP":{"st":1}}"#),
            (r#"{"@_LEN":{"name":"a"}}"#, r#"{"@_LEN_RSP":{"len":30,"st":1}}"#),
            (r#"{"@_USED":{"name":"a"}}"#, r#"{"@_USED_RSP":{"st":1,"used":0}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[$1,$2,$3,$4]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_USED":{"name":"a"}}"#, r#"{"@_USED_RSP":{"st":1,"used":4}}"#),
            (r#"{"@_LEN":{"name":"a"}}"#, r#"{"@_LEN_RSP":{"len":30,"st":1}}"#),
            (r#"{"@_EXIST":{}}"#, r#"{"@_EXIST_RSP":{"st":26}}"#),
            (r#"{"@_LEN":{}}"#, r#"{"@_LEN_RSP":{"st":26}}"#),
            (r#"{"@_USED":{}}"#, r#"{"@_USED_RSP":{"st":26}}"#),
            (r#"{"@_EXIST":{"name":null}}"#, r#"{"@_EXIST_RSP":{"st":41}}"#),
            (r#"{"@_LEN":{"name":1}}"#, r#"{"@_LEN_RSP":{"st":41}}"#),
            (r#"{"@_USED":{"name":{}}}"#, r#"{"@_USED_RSP":{"st":41}}"#),
        ],
    );
}

#[test]
fn set_unsorted() {
    table(
        &UNSORTED,
        &[
            (r#"{"@_SET":{"name":"a","item":$1}}"#, r#"{"@_SET_RSP":{"st":22}}"#),
            (r#"{"@_CREATE":{"name":"a","len":3}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_SET":{"name":"a","item":$1}}"#, r#"{"@_SET_RSP":{"st":1}}"#),
            (r#"{"@_SET":{"name":"a","pos":2,"item":$3}}"#, r#"{"@_SET_RSP":{"st":1}}"#),
            (r#"{"@_USED":{"name":"a"}}"#, r#"{"@_USED_RSP":{"st":1,"used":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[0]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$1],"st":1}}"#),
            (r#"{"@_GET":{"name":"a","pos":2}}"#, r#"{"@_GET_RSP":{"item":$3,"st":1}}"#),
            (r#"{"@_SET":{"name":"a","pos":3,"item":$3}}"#, r#"{"@_SET_RSP":{"st":161}}"#),
            (r#"{"@_SET":{"name":"a","item":$2}}"#, r#"{"@_SET_RSP":{"st":1}}"#),
            // An append overwrites what a positional SET left at `used`.
            (r#"{"@_SET":{"name":"a","item":$4}}"#, r#"{"@_SET_RSP":{"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[0]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$1,$2,$4],"st":1}}"#),
            (r#"{"@_SET":{"name":"a","item":$1}}"#, r#"{"@_SET_RSP":{"st":161}}"#),
            (r#"{"@_SET":{"name":"a","item":$1,"pos":0}}"#, r#"{"@_SET_RSP":{"st":1}}"#),
            (r#"{"@_USED":{"name":"a"}}"#, r#"{"@_USED_RSP":{"st":1,"used":3}}"#),
            // Errors, in parameter order: item, name, pos.
            (r#"{"@_SET":{"item":$x}}"#, r#"{"@_SET_RSP":{"st":41}}"#),
            (r#"{"@_SET":{"name":"a","item":$x}}"#, r#"{"@_SET_RSP":{"st":41}}"#),
            (r#"{"@_SET":{"name":"a"}}"#, r#"{"@_SET_RSP":{"st":26}}"#),
            (r#"{"@_SET":{}}"#, r#"{"@_SET_RSP":{"st":26}}"#),
            (r#"{"@_SET":{"item":$1}}"#, r#"{"@_SET_RSP":{"st":26}}"#),
            (r#"{"@_SET":{"item":$1,"pos":-1}}"#, r#"{"@_SET_RSP":{"st":26}}"#),
            (r#"{"@_SET":{"name":7,"item":$1}}"#, r#"{"@_SET_RSP":{"st":41}}"#),
            (r#"{"@_SET":{"name":"a","item":$1,"pos":-1}}"#, r#"{"@_SET_RSP":{"st":41}}"#),
            (r#"{"@_SET":{"name":"a","item":$1,"pos":"0"}}"#, r#"{"@_SET_RSP":{"st":41}}"#),
            (r#"{"@_SET":{"name":"a","item":$1,"pos":1.0}}"#, r#"{"@_SET_RSP":{"st":41}}"#),
            (r#"{"@_SET":{"name":"a","item":$1,"pos":null}}"#, r#"{"@_SET_RSP":{"st":41}}"#),
            // The lookup comes after the parameters, before `pos`'s range.
            (r#"{"@_SET":{"name":"b","item":$1,"pos":99}}"#, r#"{"@_SET_RSP":{"st":22}}"#),
        ],
    );
}

#[test]
fn set_items_of_the_wrong_type() {
    let rows: &[(&str, &[&str])] = &[
        ("OARR", &["5", r#""{}""#, "[{}]", "null", "true", "1.5"]),
        (
            "IARR",
            &[
                r#""7""#,
                "1.5",
                "1.0",
                "1e3",
                "true",
                "null",
                "{}",
                "[1]",
                "9223372036854775808",
                "-9223372036854775809",
            ],
        ),
        ("SIARR", &[r#""7""#, "1.5", "true", "null", "{}", "18446744073709551615"]),
        ("STRARR", &["5", "null", "true", "{}", r#"["s"]"#]),
        ("SSTRARR", &["5", "null", "false", "{}", "[]"]),
    ];
    let server = start();
    let mut client = server.client();
    for (prefix, items) in rows {
        assert_eq!(
            client.call(&format!(r#"{{"{prefix}_CREATE":{{"name":"a","len":5}}}}"#)),
            format!(r#"{{"{prefix}_CREATE_RSP":{{"st":1}}}}"#)
        );
        for item in *items {
            for request in [
                format!(r#"{{"{prefix}_SET":{{"name":"a","item":{item}}}}}"#),
                format!(r#"{{"{prefix}_SET":{{"item":{item}}}}}"#),
                format!(r#"{{"{prefix}_SET_RNG":{{"name":"a","items":[{item}]}}}}"#),
            ] {
                let reply = client.call(&request);
                let op = if request.contains("SET_RNG") { "SET_RNG" } else { "SET" };
                assert_eq!(reply, format!(r#"{{"{prefix}_{op}_RSP":{{"st":41}}}}"#), "{request}");
            }
        }
        assert_eq!(
            client.call(&format!(r#"{{"{prefix}_USED":{{"name":"a"}}}}"#)),
            format!(r#"{{"{prefix}_USED_RSP":{{"st":1,"used":0}}}}"#),
            "nothing stored"
        );
    }
}

/// Integers keep the whole i64 range, and only it: nothing wraps.
#[test]
fn integers_cover_the_i64_range_exactly() {
    for prefix in ["IARR", "SIARR"] {
        let server = start();
        let mut client = server.client();
        let rows = [
            (r#"{"@_CREATE":{"name":"a","len":4}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_SET":{"name":"a","item":9223372036854775807}}"#, r#"{"@_SET_RSP":{"st":1}}"#),
            (r#"{"@_SET":{"name":"a","item":-9223372036854775808}}"#, r#"{"@_SET_RSP":{"st":1}}"#),
            (r#"{"@_SET":{"name":"a","item":-0}}"#, r#"{"@_SET_RSP":{"st":1}}"#),
            (r#"{"@_SET":{"name":"a","item":9223372036854775808}}"#, r#"{"@_SET_RSP":{"st":41}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[1,18446744073709551615]}}"#, r#"{"@_SET_RNG_RSP":{"st":41}}"#),
        ];
        for (request, expected) in rows {
            let (request, expected) = (request.replace('@', prefix), expected.replace('@', prefix));
            assert_eq!(client.call(&request), expected, "{request}");
        }
        let expected = if prefix == "IARR" {
            r#"{"IARR_GET_RNG_RSP":{"items":[9223372036854775807,-9223372036854775808,0],"st":1}}"#
        } else {
            r#"{"SIARR_GET_RNG_RSP":{"items":[-9223372036854775808,0,9223372036854775807],"st":1}}"#
        };
        assert_eq!(client.call(&format!(r#"{{"{prefix}_GET_RNG":{{"name":"a","rng":[0]}}}}"#)), expected);
    }
}

#[test]
fn set_sorted() {
    table(
        &SORTED,
        &[
            (r#"{"@_CREATE":{"name":"a","len":4}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_SET":{"name":"a","item":$3}}"#, r#"{"@_SET_RSP":{"st":1}}"#),
            (r#"{"@_SET":{"name":"a","item":$1}}"#, r#"{"@_SET_RSP":{"st":1}}"#),
            // `pos` is not a parameter of sorted SET: ignored whatever its type.
            (r#"{"@_SET":{"name":"a","item":$3,"pos":"x"}}"#, r#"{"@_SET_RSP":{"st":1}}"#),
            (r#"{"@_SET":{"name":"a","item":$2,"pos":0}}"#, r#"{"@_SET_RSP":{"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[0]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$1,$2,$3,$3],"st":1}}"#),
            (r#"{"@_SET":{"name":"a","item":$4}}"#, r#"{"@_SET_RSP":{"st":161}}"#),
            (r#"{"@_SET":{"item":$x}}"#, r#"{"@_SET_RSP":{"st":41}}"#),
            (r#"{"@_SET":{"name":"a"}}"#, r#"{"@_SET_RSP":{"st":26}}"#),
            (r#"{"@_SET":{"item":$1,"pos":-1}}"#, r#"{"@_SET_RSP":{"st":26}}"#),
            (r#"{"@_SET":{"name":false,"item":$1}}"#, r#"{"@_SET_RSP":{"st":41}}"#),
            (r#"{"@_SET":{"name":"b","item":$1}}"#, r#"{"@_SET_RSP":{"st":22}}"#),
        ],
    );
}

#[test]
fn set_rng_unsorted() {
    table(
        &UNSORTED,
        &[
            (r#"{"@_SET_RNG":{"name":"a","items":[$1]}}"#, r#"{"@_SET_RNG_RSP":{"st":22}}"#),
            (r#"{"@_CREATE":{"name":"a","len":4}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[$1,$2]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            // More than the free slots: nothing stored (NemesisDB writes past the array).
            (r#"{"@_SET_RNG":{"name":"a","items":[$3,$3,$3]}}"#, r#"{"@_SET_RNG_RSP":{"st":161}}"#),
            (r#"{"@_USED":{"name":"a"}}"#, r#"{"@_USED_RSP":{"st":1,"used":2}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[$3,$4]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[$1]}}"#, r#"{"@_SET_RNG_RSP":{"st":161}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[]}}"#, r#"{"@_SET_RNG_RSP":{"st":161}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[0]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$1,$2,$3,$4],"st":1}}"#),
            // With `pos`: overwrites, and `used` grows by n, capped at len.
            (r#"{"@_SET_RNG":{"name":"a","pos":1,"items":[$4,$4]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_USED":{"name":"a"}}"#, r#"{"@_USED_RSP":{"st":1,"used":4}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[0]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$1,$4,$4,$4],"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"a","pos":3,"items":[$1,$2]}}"#, r#"{"@_SET_RNG_RSP":{"st":161}}"#),
            (r#"{"@_SET_RNG":{"name":"a","pos":4,"items":[]}}"#, r#"{"@_SET_RNG_RSP":{"st":161}}"#),
            (r#"{"@_SET_RNG":{"name":"a","pos":3,"items":[]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[0]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$1,$4,$4,$4],"st":1}}"#),
            // Errors, in parameter order: items, name, pos; then each item.
            (r#"{"@_SET_RNG":{"name":1}}"#, r#"{"@_SET_RNG_RSP":{"st":26}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":$1}}"#, r#"{"@_SET_RNG_RSP":{"st":41}}"#),
            (r#"{"@_SET_RNG":{"items":[$x]}}"#, r#"{"@_SET_RNG_RSP":{"st":26}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[$1],"pos":-1}}"#, r#"{"@_SET_RNG_RSP":{"st":41}}"#),
            (r#"{"@_SET_RNG":{"name":"b","items":[$1,$x],"pos":0}}"#, r#"{"@_SET_RNG_RSP":{"st":41}}"#),
            (r#"{"@_SET_RNG":{"name":"b","items":[$1],"pos":99}}"#, r#"{"@_SET_RNG_RSP":{"st":22}}"#),
        ],
    );
}

/// The original's own suite: 5 items at `pos` 2 of an empty array of 10,
/// then GET_RNG `[2,7]` returns 3 of them (`used` 5).
#[test]
fn set_rng_with_pos_counts_used_as_the_original_suite_expects() {
    table(
        &UNSORTED,
        &[
            (r#"{"@_CREATE":{"name":"a","len":10}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"a","pos":2,"items":[$1,$2,$3,$4,$1]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[2,7]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$1,$2,$3],"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[0]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$0,$0,$1,$2,$3],"st":1}}"#),
        ],
    );
}

#[test]
fn set_rng_sorted() {
    table(
        &SORTED,
        &[
            (r#"{"@_CREATE":{"name":"a","len":6}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[$4,$2,$3]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            // Empty on a non-empty array: st 1, no change (NemesisDB dies).
            (r#"{"@_SET_RNG":{"name":"a","items":[]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            // New largest not above the stored largest: a correct merge.
            (r#"{"@_SET_RNG":{"name":"a","items":[$3,$1],"pos":"ignored"}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[0]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$1,$2,$3,$3,$4],"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[$1,$1]}}"#, r#"{"@_SET_RNG_RSP":{"st":161}}"#),
            (r#"{"@_USED":{"name":"a"}}"#, r#"{"@_USED_RSP":{"st":1,"used":5}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[$1]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[$1]}}"#, r#"{"@_SET_RNG_RSP":{"st":161}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[0]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$1,$1,$2,$3,$3,$4],"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":$1}}"#, r#"{"@_SET_RNG_RSP":{"st":41}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[$1,$x]}}"#, r#"{"@_SET_RNG_RSP":{"st":41}}"#),
            (r#"{"@_SET_RNG":{"items":[]}}"#, r#"{"@_SET_RNG_RSP":{"st":26}}"#),
            (r#"{"@_SET_RNG":{"name":"b","items":[$1]}}"#, r#"{"@_SET_RNG_RSP":{"st":22}}"#),
        ],
    );
}

/// The SSTRARR merge that crashed NemesisDB: `["bb","0"]` into `[a,b,c]`.
#[test]
fn sorted_string_merge_that_crashed_the_original() {
    let server = start();
    let mut client = server.client();
    for (request, expected) in [
        (r#"{"SSTRARR_CREATE":{"name":"s","len":5}}"#, r#"{"SSTRARR_CREATE_RSP":{"st":1}}"#),
        (r#"{"SSTRARR_SET_RNG":{"name":"s","items":["a","b","c"]}}"#, r#"{"SSTRARR_SET_RNG_RSP":{"st":1}}"#),
        (r#"{"SSTRARR_SET_RNG":{"name":"s","items":["bb","0"]}}"#, r#"{"SSTRARR_SET_RNG_RSP":{"st":1}}"#),
        (
            r#"{"SSTRARR_GET_RNG":{"name":"s","rng":[0]}}"#,
            r#"{"SSTRARR_GET_RNG_RSP":{"items":["0","a","b","bb","c"],"st":1}}"#,
        ),
    ] {
        assert_eq!(client.call(request), expected, "{request}");
    }
}

#[test]
fn get() {
    table(
        &ALL,
        &[
            (r#"{"@_GET":{"name":"a","pos":0}}"#, r#"{"@_GET_RSP":{"st":22}}"#),
            (r#"{"@_CREATE":{"name":"a","len":3}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_GET":{"name":"a","pos":0}}"#, r#"{"@_GET_RSP":{"item":$0,"st":1}}"#),
            (r#"{"@_GET":{"name":"a","pos":2}}"#, r#"{"@_GET_RSP":{"item":$0,"st":1}}"#),
            (r#"{"@_GET":{"name":"a","pos":3}}"#, r#"{"@_GET_RSP":{"st":161}}"#),
            (r#"{"@_SET":{"name":"a","item":$2}}"#, r#"{"@_SET_RSP":{"st":1}}"#),
            (r#"{"@_GET":{"name":"a","pos":0}}"#, r#"{"@_GET_RSP":{"item":$2,"st":1}}"#),
            // `name` comes first.
            (r#"{"@_GET":{"pos":-1}}"#, r#"{"@_GET_RSP":{"st":26}}"#),
            (r#"{"@_GET":{"name":"a"}}"#, r#"{"@_GET_RSP":{"st":26}}"#),
            (r#"{"@_GET":{"name":"a","pos":-1}}"#, r#"{"@_GET_RSP":{"st":41}}"#),
            (r#"{"@_GET":{"name":"a","pos":"0"}}"#, r#"{"@_GET_RSP":{"st":41}}"#),
            (r#"{"@_GET":{"name":1,"pos":0}}"#, r#"{"@_GET_RSP":{"st":41}}"#),
            (r#"{"@_GET":{"name":"b","pos":99}}"#, r#"{"@_GET_RSP":{"st":22}}"#),
        ],
    );
}

/// Stored objects come back as they were sent, member order and inner
/// whitespace kept; strings are escaped only where JSON requires.
#[test]
fn items_come_back_as_they_were_stored() {
    let server = start();
    let mut client = server.client();
    for (request, expected) in [
        (r#"{"OARR_CREATE":{"name":"o","len":2}}"#, r#"{"OARR_CREATE_RSP":{"st":1}}"#),
        (r#"{"OARR_SET":{"name":"o","item":{"z":1, "a":[1, {"q":"\u00e9"}]}}}"#, r#"{"OARR_SET_RSP":{"st":1}}"#),
        (
            r#"{"OARR_GET":{"name":"o","pos":0}}"#,
            r#"{"OARR_GET_RSP":{"item":{"z":1, "a":[1, {"q":"\u00e9"}]},"st":1}}"#,
        ),
        (r#"{"STRARR_CREATE":{"name":"s","len":3}}"#, r#"{"STRARR_CREATE_RSP":{"st":1}}"#),
        (
            r#"{"STRARR_SET_RNG":{"name":"s","items":["\u017c\u00f3\u0142w \ud834\udd1e","q\"\\\n\u0001/","a string longer than twenty-two bytes"]}}"#,
            r#"{"STRARR_SET_RNG_RSP":{"st":1}}"#,
        ),
        (
            r#"{"STRARR_GET_RNG":{"name":"s","rng":[0]}}"#,
            r#"{"STRARR_GET_RNG_RSP":{"items":["żółw 𝄞","q\"\\\n\u0001/","a string longer than twenty-two bytes"],"st":1}}"#,
        ),
    ] {
        assert_eq!(client.call(request), expected, "{request}");
    }
}

#[test]
fn get_rng() {
    table(
        &ALL,
        &[
            (r#"{"@_GET_RNG":{"name":"a","rng":[0]}}"#, r#"{"@_GET_RNG_RSP":{"st":22}}"#),
            (r#"{"@_CREATE":{"name":"a","len":6}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[0]}}"#, r#"{"@_GET_RNG_RSP":{"items":[],"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[$1,$2,$3,$4]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[1,3]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$2,$3],"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[2]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$3,$4],"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[1,100]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$2,$3,$4],"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[2,2]}}"#, r#"{"@_GET_RNG_RSP":{"items":[],"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[4]}}"#, r#"{"@_GET_RNG_RSP":{"items":[],"st":1}}"#),
            // used < start < len: ndb answers [] (NemesisDB: ERR 1000).
            (r#"{"@_GET_RNG":{"name":"a","rng":[5]}}"#, r#"{"@_GET_RNG_RSP":{"items":[],"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[5,6]}}"#, r#"{"@_GET_RNG_RSP":{"items":[],"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[6]}}"#, r#"{"@_GET_RNG_RSP":{"st":161}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[6,6]}}"#, r#"{"@_GET_RNG_RSP":{"st":161}}"#),
            // The range's shape, before the lookup: 42, 41, 13.
            (r#"{"@_GET_RNG":{"name":"b","rng":[]}}"#, r#"{"@_GET_RNG_RSP":{"st":42}}"#),
            (r#"{"@_GET_RNG":{"name":"b","rng":[1,2,3]}}"#, r#"{"@_GET_RNG_RSP":{"st":42}}"#),
            (r#"{"@_GET_RNG":{"name":"b","rng":["x",2,3]}}"#, r#"{"@_GET_RNG_RSP":{"st":42}}"#),
            (r#"{"@_GET_RNG":{"name":"b","rng":[-1]}}"#, r#"{"@_GET_RNG_RSP":{"st":41}}"#),
            (r#"{"@_GET_RNG":{"name":"b","rng":[0,"2"]}}"#, r#"{"@_GET_RNG_RSP":{"st":41}}"#),
            (r#"{"@_GET_RNG":{"name":"b","rng":[1.0]}}"#, r#"{"@_GET_RNG_RSP":{"st":41}}"#),
            (r#"{"@_GET_RNG":{"name":"b","rng":[3,1]}}"#, r#"{"@_GET_RNG_RSP":{"st":13}}"#),
            (r#"{"@_GET_RNG":{"name":"b","rng":[0]}}"#, r#"{"@_GET_RNG_RSP":{"st":22}}"#),
            (r#"{"@_GET_RNG":{"rng":[]}}"#, r#"{"@_GET_RNG_RSP":{"st":26}}"#),
            (r#"{"@_GET_RNG":{"name":"a"}}"#, r#"{"@_GET_RNG_RSP":{"st":26}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":0}}"#, r#"{"@_GET_RNG_RSP":{"st":41}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":{"0":1}}}"#, r#"{"@_GET_RNG_RSP":{"st":41}}"#),
        ],
    );
}

/// `arrays.maxResponseSize` is a count from any start (NemesisDB: an
/// absolute index, and ERR 1000 past it).
#[test]
fn get_rng_is_cut_to_max_response_size_items() {
    table_on(
        || start_limited(10_000, 3),
        &UNSORTED,
        &[
            (r#"{"@_CREATE":{"name":"a","len":6}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[$1,$2,$3,$4,$1]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[1,5]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$2,$3,$4],"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[3]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$4,$1],"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[4,5]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$1],"st":1}}"#),
        ],
    );
    // Sorted arrays hold [$1,$1,$2,$3,$4]: check the cut from the middle.
    table_on(
        || start_limited(10_000, 2),
        &SORTED,
        &[
            (r#"{"@_CREATE":{"name":"a","len":6}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[$4,$3,$2,$1]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[1]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$2,$3],"st":1}}"#),
            // MIN, MAX and INTERSECT are not cut.
            (r#"{"@_MIN":{"name":"a","n":4}}"#, r#"{"@_MIN_RSP":{"items":[$1,$2,$3,$4],"st":1}}"#),
            (r#"{"@_MAX":{"name":"a","n":4}}"#, r#"{"@_MAX_RSP":{"items":[$4,$3,$2,$1],"st":1}}"#),
            (r#"{"@_CREATE":{"name":"b","len":6}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"b","items":[$4,$3,$2,$1]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_INTERSECT":{"srcA":"a","srcB":"b"}}"#, r#"{"@_INTERSECT_RSP":{"items":[$1,$2,$3,$4],"st":1}}"#),
        ],
    );
}

#[test]
fn clear() {
    table(
        &UNSORTED,
        &[
            (r#"{"@_CREATE":{"name":"a","len":5}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[$1,$2,$3,$4,$1]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_CLEAR":{"name":"a","rng":[1,3]}}"#, r#"{"@_CLEAR_RSP":{"st":1}}"#),
            (r#"{"@_USED":{"name":"a"}}"#, r#"{"@_USED_RSP":{"st":1,"used":3}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[0]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$1,$4,$1],"st":1}}"#),
            // The last two slots get the empty value (NemesisDB leaves the removed items there).
            (r#"{"@_GET":{"name":"a","pos":3}}"#, r#"{"@_GET_RSP":{"item":$0,"st":1}}"#),
            (r#"{"@_GET":{"name":"a","pos":4}}"#, r#"{"@_GET_RSP":{"item":$0,"st":1}}"#),
            (r#"{"@_CLEAR":{"name":"a","rng":[1,1]}}"#, r#"{"@_CLEAR_RSP":{"st":1}}"#),
            (r#"{"@_CLEAR":{"name":"a","rng":[3]}}"#, r#"{"@_CLEAR_RSP":{"st":1}}"#),
            // A start past `used`, below len: nothing cleared (NemesisDB corrupts memory).
            (r#"{"@_CLEAR":{"name":"a","rng":[4,5]}}"#, r#"{"@_CLEAR_RSP":{"st":1}}"#),
            (r#"{"@_CLEAR":{"name":"a","rng":[4]}}"#, r#"{"@_CLEAR_RSP":{"st":1}}"#),
            (r#"{"@_USED":{"name":"a"}}"#, r#"{"@_USED_RSP":{"st":1,"used":3}}"#),
            (r#"{"@_CLEAR":{"name":"a","rng":[5]}}"#, r#"{"@_CLEAR_RSP":{"st":161}}"#),
            (r#"{"@_CLEAR":{"name":"a","rng":[2,100]}}"#, r#"{"@_CLEAR_RSP":{"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[0]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$1,$4],"st":1}}"#),
            (r#"{"@_CLEAR":{"name":"a","rng":[0]}}"#, r#"{"@_CLEAR_RSP":{"st":1}}"#),
            (r#"{"@_USED":{"name":"a"}}"#, r#"{"@_USED_RSP":{"st":1,"used":0}}"#),
            (r#"{"@_GET":{"name":"a","pos":0}}"#, r#"{"@_GET_RSP":{"item":$0,"st":1}}"#),
            // The range's shape, before the lookup: 13, 41, 13.
            (r#"{"@_CLEAR":{"name":"b","rng":[]}}"#, r#"{"@_CLEAR_RSP":{"st":13}}"#),
            (r#"{"@_CLEAR":{"name":"b","rng":[1,2,3]}}"#, r#"{"@_CLEAR_RSP":{"st":13}}"#),
            (r#"{"@_CLEAR":{"name":"b","rng":[0,-1]}}"#, r#"{"@_CLEAR_RSP":{"st":41}}"#),
            (r#"{"@_CLEAR":{"name":"b","rng":[3,1]}}"#, r#"{"@_CLEAR_RSP":{"st":13}}"#),
            (r#"{"@_CLEAR":{"name":"a","rng":[3,1]}}"#, r#"{"@_CLEAR_RSP":{"st":13}}"#),
            (r#"{"@_CLEAR":{"name":"b","rng":[0]}}"#, r#"{"@_CLEAR_RSP":{"st":22}}"#),
            (r#"{"@_CLEAR":{"rng":[0]}}"#, r#"{"@_CLEAR_RSP":{"st":26}}"#),
            (r#"{"@_CLEAR":{"name":"a"}}"#, r#"{"@_CLEAR_RSP":{"st":26}}"#),
            (r#"{"@_CLEAR":{"name":"a","rng":"0"}}"#, r#"{"@_CLEAR_RSP":{"st":41}}"#),
        ],
    );
}

/// Clearing moves every later slot down, used or not.
#[test]
fn clear_moves_unused_slots_too() {
    table(
        &UNSORTED,
        &[
            (r#"{"@_CREATE":{"name":"a","len":5}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[$1,$2]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_SET":{"name":"a","item":$4,"pos":4}}"#, r#"{"@_SET_RSP":{"st":1}}"#),
            (r#"{"@_CLEAR":{"name":"a","rng":[0,1]}}"#, r#"{"@_CLEAR_RSP":{"st":1}}"#),
            (r#"{"@_GET":{"name":"a","pos":3}}"#, r#"{"@_GET_RSP":{"item":$4,"st":1}}"#),
            (r#"{"@_GET":{"name":"a","pos":4}}"#, r#"{"@_GET_RSP":{"item":$0,"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[0]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$2],"st":1}}"#),
        ],
    );
}

#[test]
fn clear_sorted_keeps_order() {
    table(
        &SORTED,
        &[
            (r#"{"@_CREATE":{"name":"a","len":5}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[$4,$3,$2,$1]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_CLEAR":{"name":"a","rng":[1,3]}}"#, r#"{"@_CLEAR_RSP":{"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[0]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$1,$4],"st":1}}"#),
            (r#"{"@_GET":{"name":"a","pos":2}}"#, r#"{"@_GET_RSP":{"item":$0,"st":1}}"#),
            (r#"{"@_SET":{"name":"a","item":$2}}"#, r#"{"@_SET_RSP":{"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[$3]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[0]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$1,$2,$3,$4],"st":1}}"#),
            (r#"{"@_CLEAR":{"name":"a","rng":[0,2,9]}}"#, r#"{"@_CLEAR_RSP":{"st":13}}"#),
            (r#"{"@_CLEAR":{"name":"a","rng":[0]}}"#, r#"{"@_CLEAR_RSP":{"st":1}}"#),
            (r#"{"@_USED":{"name":"a"}}"#, r#"{"@_USED_RSP":{"st":1,"used":0}}"#),
        ],
    );
}

#[test]
fn swap() {
    table(
        &UNSORTED,
        &[
            (r#"{"@_SWAP":{"name":"a","posA":0,"posB":1}}"#, r#"{"@_SWAP_RSP":{"st":22}}"#),
            (r#"{"@_CREATE":{"name":"a","len":4}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[$1,$2]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_SWAP":{"name":"a","posA":0,"posB":1}}"#, r#"{"@_SWAP_RSP":{"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[0]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$2,$1],"st":1}}"#),
            // Any slot below len, used or not; `used` unchanged.
            (r#"{"@_SWAP":{"name":"a","posA":3,"posB":0}}"#, r#"{"@_SWAP_RSP":{"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[0]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$0,$1],"st":1}}"#),
            (r#"{"@_GET":{"name":"a","pos":3}}"#, r#"{"@_GET_RSP":{"item":$2,"st":1}}"#),
            (r#"{"@_SWAP":{"name":"a","posA":2,"posB":2}}"#, r#"{"@_SWAP_RSP":{"st":1}}"#),
            (r#"{"@_SWAP":{"name":"a","posA":1,"posB":4}}"#, r#"{"@_SWAP_RSP":{"st":161}}"#),
            (r#"{"@_SWAP":{"name":"a","posA":4,"posB":0}}"#, r#"{"@_SWAP_RSP":{"st":161}}"#),
            (r#"{"@_USED":{"name":"a"}}"#, r#"{"@_USED_RSP":{"st":1,"used":2}}"#),
            (r#"{"@_SWAP":{"posA":0,"posB":1}}"#, r#"{"@_SWAP_RSP":{"st":26}}"#),
            (r#"{"@_SWAP":{"name":"a","posB":1}}"#, r#"{"@_SWAP_RSP":{"st":26}}"#),
            (r#"{"@_SWAP":{"name":"a","posA":0}}"#, r#"{"@_SWAP_RSP":{"st":26}}"#),
            (r#"{"@_SWAP":{"name":"a","posA":-1,"posB":1}}"#, r#"{"@_SWAP_RSP":{"st":41}}"#),
            (r#"{"@_SWAP":{"name":"a","posA":0,"posB":"1"}}"#, r#"{"@_SWAP_RSP":{"st":41}}"#),
            (r#"{"@_SWAP":{"name":"b","posA":0,"posB":99}}"#, r#"{"@_SWAP_RSP":{"st":22}}"#),
        ],
    );
}

#[test]
fn min_and_max() {
    table(
        &SORTED,
        &[
            (r#"{"@_MIN":{"name":"a","n":1}}"#, r#"{"@_MIN_RSP":{"st":22}}"#),
            (r#"{"@_CREATE":{"name":"a","len":6}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_MIN":{"name":"a","n":1}}"#, r#"{"@_MIN_RSP":{"st":161}}"#),
            (r#"{"@_MIN":{"name":"a","n":0}}"#, r#"{"@_MIN_RSP":{"st":161}}"#),
            (r#"{"@_MAX":{"name":"a","n":3}}"#, r#"{"@_MAX_RSP":{"st":161}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[$3,$1,$2]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_MIN":{"name":"a","n":0}}"#, r#"{"@_MIN_RSP":{"items":[],"st":1}}"#),
            (r#"{"@_MIN":{"name":"a","n":2}}"#, r#"{"@_MIN_RSP":{"items":[$1,$2],"st":1}}"#),
            (r#"{"@_MIN":{"name":"a","n":10}}"#, r#"{"@_MIN_RSP":{"items":[$1,$2,$3],"st":1}}"#),
            // Not full: the largest of the used part (NemesisDB reads free slots first).
            (r#"{"@_MAX":{"name":"a","n":1}}"#, r#"{"@_MAX_RSP":{"items":[$3],"st":1}}"#),
            (r#"{"@_MAX":{"name":"a","n":3}}"#, r#"{"@_MAX_RSP":{"items":[$3,$2,$1],"st":1}}"#),
            (r#"{"@_MAX":{"name":"a","n":18446744073709551615}}"#, r#"{"@_MAX_RSP":{"items":[$3,$2,$1],"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[$4,$4,$1]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_MAX":{"name":"a","n":4}}"#, r#"{"@_MAX_RSP":{"items":[$4,$4,$3,$2],"st":1}}"#),
            (r#"{"@_MIN":{"name":"a","n":3}}"#, r#"{"@_MIN_RSP":{"items":[$1,$1,$2],"st":1}}"#),
            (r#"{"@_CLEAR":{"name":"a","rng":[3]}}"#, r#"{"@_CLEAR_RSP":{"st":1}}"#),
            (r#"{"@_MAX":{"name":"a","n":2}}"#, r#"{"@_MAX_RSP":{"items":[$2,$1],"st":1}}"#),
            // `n` comes first.
            (r#"{"@_MIN":{"n":-1}}"#, r#"{"@_MIN_RSP":{"st":41}}"#),
            (r#"{"@_MAX":{"name":"a"}}"#, r#"{"@_MAX_RSP":{"st":26}}"#),
            (r#"{"@_MIN":{"n":1}}"#, r#"{"@_MIN_RSP":{"st":26}}"#),
            (r#"{"@_MAX":{"name":1,"n":1}}"#, r#"{"@_MAX_RSP":{"st":41}}"#),
            (r#"{"@_MIN":{"name":"a","n":"1"}}"#, r#"{"@_MIN_RSP":{"st":41}}"#),
            (r#"{"@_MAX":{"name":"b","n":1}}"#, r#"{"@_MAX_RSP":{"st":22}}"#),
        ],
    );
}

#[test]
fn intersect() {
    table(
        &SORTED,
        &[
            // The same name twice: 160, before the lookup.
            (r#"{"@_INTERSECT":{"srcA":"a","srcB":"a"}}"#, r#"{"@_INTERSECT_RSP":{"st":160}}"#),
            (r#"{"@_INTERSECT":{"srcA":"a","srcB":"b"}}"#, r#"{"@_INTERSECT_RSP":{"st":22}}"#),
            (r#"{"@_CREATE":{"name":"a","len":10}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_INTERSECT":{"srcA":"a","srcB":"b"}}"#, r#"{"@_INTERSECT_RSP":{"st":22}}"#),
            (r#"{"@_INTERSECT":{"srcA":"b","srcB":"a"}}"#, r#"{"@_INTERSECT_RSP":{"st":22}}"#),
            (r#"{"@_CREATE":{"name":"b","len":10}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_INTERSECT":{"srcA":"a","srcB":"b"}}"#, r#"{"@_INTERSECT_RSP":{"items":[],"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"a","items":[$1,$1,$1,$2,$3]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_SET_RNG":{"name":"b","items":[$1,$1,$3,$3,$4]}}"#, r#"{"@_SET_RNG_RSP":{"st":1}}"#),
            (r#"{"@_INTERSECT":{"srcA":"a","srcB":"b"}}"#, r#"{"@_INTERSECT_RSP":{"items":[$1,$1,$3],"st":1}}"#),
            (r#"{"@_INTERSECT":{"srcA":"b","srcB":"a"}}"#, r#"{"@_INTERSECT_RSP":{"items":[$1,$1,$3],"st":1}}"#),
            (r#"{"@_USED":{"name":"a"}}"#, r#"{"@_USED_RSP":{"st":1,"used":5}}"#),
            (r#"{"@_INTERSECT":{"srcA":"a"}}"#, r#"{"@_INTERSECT_RSP":{"st":26}}"#),
            (r#"{"@_INTERSECT":{"srcB":"a"}}"#, r#"{"@_INTERSECT_RSP":{"st":26}}"#),
            (r#"{"@_INTERSECT":{"srcA":1,"srcB":"a"}}"#, r#"{"@_INTERSECT_RSP":{"st":41}}"#),
            (r#"{"@_INTERSECT":{"srcA":"a","srcB":["b"]}}"#, r#"{"@_INTERSECT_RSP":{"st":41}}"#),
        ],
    );
}

/// Unknown names under an array prefix are `{"ERR":{"st":10}}`; a body
/// that is not an object is `{"<CMD>_RSP":{"st":13}}`.
#[test]
fn dispatch_under_array_prefixes() {
    let server = start();
    let mut client = server.client();
    let err10 = r#"{"ERR":{"st":10}}"#;
    for t in ALL {
        for name in ["@_FOO", "@_", "@_CREATE_RSP", "@_create", "@_SAVE", "@_KEYS", "@_ADD", "@_RMV", "@_SPLICE"] {
            let request = t.fill(&format!(r#"{{"{name}":{{"name":"a"}}}}"#));
            assert_eq!(client.call(&request), err10, "{request}");
        }
        for body in ["[]", "5", r#""x""#, "null", "true"] {
            let request = t.fill(&format!(r#"{{"@_CREATE":{body}}}"#));
            assert_eq!(client.call(&request), t.fill(r#"{"@_CREATE_RSP":{"st":13}}"#), "{request}");
            let request = t.fill(&format!(r#"{{"@_FOO":{body}}}"#));
            assert_eq!(client.call(&request), t.fill(r#"{"@_FOO_RSP":{"st":13}}"#), "{request}");
        }
    }
    for name in ["SIARR_SWAP", "SSTRARR_SWAP", "OARR_MIN", "IARR_MAX", "STRARR_INTERSECT", "OARR_INTERSECT"] {
        assert_eq!(client.call(&format!(r#"{{"{name}":{{"name":"a","posA":0,"posB":1}}}}"#)), err10, "{name}");
    }
    // A prefix is matched exactly.
    assert_eq!(client.call(r#"{"OARRX_CREATE":{}}"#), r#"{"OARRX_CREATE_RSP":{"m":"","st":10,"tkn":null}}"#);
    assert_eq!(client.call(r#"{"oarr_CREATE":{}}"#), r#"{"oarr_CREATE_RSP":{"m":"","st":10,"tkn":null}}"#);
    assert_eq!(client.call(r#"{"OARR":{}}"#), r#"{"OARR_RSP":{"m":"","st":13,"tkn":null}}"#);
}

/// Arrays are served, with the same numbers, under both protocol settings.
#[test]
fn arrays_are_the_same_under_protocol_09() {
    table_on(
        || start_with(common::config().protocol(ndb::Protocol::V09)),
        &ALL,
        &[
            (r#"{"@_CREATE":{"name":"a","len":2}}"#, r#"{"@_CREATE_RSP":{"st":1}}"#),
            (r#"{"@_CREATE":{"name":"a","len":2}}"#, r#"{"@_CREATE_RSP":{"st":160}}"#),
            (r#"{"@_GET":{"name":"a","pos":2}}"#, r#"{"@_GET_RSP":{"st":161}}"#),
            (r#"{"@_SET":{"name":"a","item":$1}}"#, r#"{"@_SET_RSP":{"st":1}}"#),
            (r#"{"@_GET_RNG":{"name":"a","rng":[0]}}"#, r#"{"@_GET_RNG_RSP":{"items":[$1],"st":1}}"#),
            (r#"{"@_NOPE":{}}"#, r#"{"ERR":{"st":10}}"#),
        ],
    );
}

/// The limits come from a version-6 config file's `arrays` section;
/// a version-5 file keeps NemesisDB's shipped 10,000.
#[test]
fn config_versions_set_the_limits() {
    let v6 = common::config()
        .apply_json(r#"{"version":6,"arrays":{"maxCapacity":4,"maxResponseSize":2},"lists":{"maxResponseSize":1}}"#)
        .unwrap()
        .port(0);
    let server = start_with(v6);
    let mut client = server.client();
    for (request, expected) in [
        (r#"{"IARR_CREATE":{"name":"a","len":5}}"#, r#"{"IARR_CREATE_RSP":{"st":161}}"#),
        (r#"{"IARR_CREATE":{"name":"a","len":4}}"#, r#"{"IARR_CREATE_RSP":{"st":1}}"#),
        (r#"{"IARR_SET_RNG":{"name":"a","items":[1,2,3,4]}}"#, r#"{"IARR_SET_RNG_RSP":{"st":1}}"#),
        (r#"{"IARR_GET_RNG":{"name":"a","rng":[1]}}"#, r#"{"IARR_GET_RNG_RSP":{"items":[2,3],"st":1}}"#),
        (r#"{"OLST_CREATE":{"name":"l"}}"#, r#"{"OLST_CREATE_RSP":{"st":1}}"#),
        (r#"{"OLST_ADD":{"name":"l","items":[{},{}]}}"#, r#"{"OLST_ADD_RSP":{"pos":0,"size":2,"st":1}}"#),
        (r#"{"OLST_GET_RNG":{"name":"l","rng":[0]}}"#, r#"{"OLST_GET_RNG_RSP":{"items":[{}],"st":1}}"#),
    ] {
        assert_eq!(client.call(request), expected, "{request}");
    }
    let v5 = common::config().apply_json(r#"{"version":5,"arrays":{"maxCapacity":4}}"#).unwrap().port(0);
    let server = start_with(v5);
    let mut client = server.client();
    assert_eq!(client.call(r#"{"IARR_CREATE":{"name":"a","len":10000}}"#), r#"{"IARR_CREATE_RSP":{"st":1}}"#);
    assert_eq!(client.call(r#"{"IARR_CREATE":{"name":"b","len":10001}}"#), r#"{"IARR_CREATE_RSP":{"st":161}}"#);
}

/// Work past the per-command budget (`MAX_WORK_PER_COMMAND`: 4 M units,
/// one an `i64` slot moved, twelve an integer written into a reply) is
/// refused with 202 and changes nothing; it needs a capacity far above the
/// default limit.
#[test]
fn work_past_the_budget_is_202() {
    let budget = ndb::internals::store::containers::MAX_WORK_PER_COMMAND;
    let server = start_limited(u64::MAX, u64::MAX);
    let mut client = server.client();
    let rows = [
        (r#"{"IARR_CREATE":{"name":"a","len":18446744073709551615}}"#.to_owned(), r#"{"IARR_CREATE_RSP":{"st":1}}"#),
        (format!(r#"{{"IARR_SET":{{"name":"a","item":1,"pos":{}}}}}"#, budget + 1), r#"{"IARR_SET_RSP":{"st":202}}"#),
        (r#"{"IARR_GET":{"name":"a","pos":0}}"#.to_owned(), r#"{"IARR_GET_RSP":{"item":0,"st":1}}"#),
        (format!(r#"{{"IARR_SET":{{"name":"a","item":1,"pos":{}}}}}"#, budget - 1), r#"{"IARR_SET_RSP":{"st":1}}"#),
        (
            format!(r#"{{"IARR_SWAP":{{"name":"a","posA":0,"posB":{}}}}}"#, 2 * budget),
            r#"{"IARR_SWAP_RSP":{"st":202}}"#,
        ),
        (r#"{"IARR_SET_RNG":{"name":"a","items":[7,8],"pos":0}}"#.to_owned(), r#"{"IARR_SET_RNG_RSP":{"st":1}}"#),
        (r#"{"IARR_CLEAR":{"name":"a","rng":[0,1]}}"#.to_owned(), r#"{"IARR_CLEAR_RSP":{"st":1}}"#),
        (format!(r#"{{"IARR_SET":{{"name":"a","item":1,"pos":{budget}}}}}"#), r#"{"IARR_SET_RSP":{"st":1}}"#),
        (r#"{"IARR_CLEAR":{"name":"a","rng":[0,1]}}"#.to_owned(), r#"{"IARR_CLEAR_RSP":{"st":202}}"#),
        (r#"{"IARR_GET":{"name":"a","pos":0}}"#.to_owned(), r#"{"IARR_GET_RSP":{"item":8,"st":1}}"#),
    ];
    for (request, expected) in rows {
        assert_eq!(client.call(&request), expected, "{request}");
    }
    // A reply of more integers than the budget prices: 202, with no items.
    let fit = budget / 12;
    assert_eq!(client.call(r#"{"SIARR_CREATE":{"name":"s","len":1000000}}"#), r#"{"SIARR_CREATE_RSP":{"st":1}}"#);
    for start in (0..fit + 1).step_by(100_000) {
        let items: Vec<String> = (start..(start + 100_000).min(fit + 1)).map(|i| i.to_string()).collect();
        let request = format!(r#"{{"SIARR_SET_RNG":{{"name":"s","items":[{}]}}}}"#, items.join(","));
        assert_eq!(client.call(&request), r#"{"SIARR_SET_RNG_RSP":{"st":1}}"#);
    }
    assert_eq!(client.call(r#"{"SIARR_GET_RNG":{"name":"s","rng":[0]}}"#), r#"{"SIARR_GET_RNG_RSP":{"st":202}}"#);
    assert_eq!(
        client.call(&format!(r#"{{"SIARR_MIN":{{"name":"s","n":{}}}}}"#, fit + 1)),
        r#"{"SIARR_MIN_RSP":{"st":202}}"#
    );
    let reply = client.call(&format!(r#"{{"SIARR_MAX":{{"name":"s","n":{fit}}}}}"#));
    assert!(reply.starts_with(&format!(r#"{{"SIARR_MAX_RSP":{{"items":[{fit},"#)) && reply.ends_with(r#"1],"st":1}}"#));
}

/// `SV_INFO` counts the arrays and lists of each type.
#[test]
fn sv_info_counts_arrays_and_lists() {
    let server = start();
    let mut client = server.client();
    let counts = |client: &mut Client| client.call_json(r#"{"SV_INFO":{}}"#)["SV_INFO_RSP"]["containers"].clone();
    let zero = serde_json::json!({"IARR":0,"OARR":0,"OLST":0,"SIARR":0,"SSTRARR":0,"STRARR":0});
    assert_eq!(counts(&mut client), zero);
    for (i, t) in ALL.iter().enumerate() {
        for n in 0..=i {
            let request = t.fill(&format!(r#"{{"@_CREATE":{{"name":"a{n}","len":1}}}}"#));
            assert_eq!(client.call(&request), t.fill(r#"{"@_CREATE_RSP":{"st":1}}"#));
        }
    }
    for name in ["x", "y"] {
        client.call(&format!(r#"{{"OLST_CREATE":{{"name":"{name}"}}}}"#));
    }
    let all = serde_json::json!({"OARR":1,"IARR":2,"STRARR":3,"SIARR":4,"SSTRARR":5,"OLST":2});
    assert_eq!(counts(&mut client), all);
    client.call(r#"{"SIARR_DELETE_ALL":{}}"#);
    client.call(r#"{"IARR_DELETE":{"name":"a0"}}"#);
    client.call(r#"{"OLST_DELETE":{"name":"x"}}"#);
    let fewer = serde_json::json!({"OARR":1,"IARR":1,"STRARR":3,"SIARR":0,"SSTRARR":5,"OLST":1});
    assert_eq!(counts(&mut client), fewer);
}
