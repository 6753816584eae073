//! Property tests of arrays and lists: random command sequences run
//! through the decoder and the store (as the server runs them) and through
//! a plain model of PROTOCOL.md §16 with ndb's differences (§15), written
//! as naively as possible over a `Vec`: every reply must be the model's.
//!
//! The sequences reach the §15 edge cases on purpose: appends past the
//! free slots, `SET_RNG` with `pos` past `used`, `CLEAR` starting past
//! `used`, reversed ranges, `GET_RNG` past `used` and past the reply
//! limit, `MAX` of arrays that are not full, `items:[]` on sorted arrays,
//! `RMV` of the head of an empty list, `SET_RNG` past a list's tail, and
//! splices within one list whose `destPos` falls inside the moved range.

use std::cmp::Ordering;
use std::time::Instant;

use ndb::internals::conn::Message;
use ndb::internals::protocol::Protocol;
use ndb::internals::server::dispatch;
use ndb::internals::store::containers::Limits;
use ndb::internals::store::{ServerInfo, Store};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Small limits, so that sequences hit them.
const MAX_CAPACITY: usize = 8;
const ARRAY_MAX_RESPONSE: usize = 5;
const LIST_MAX_RESPONSE: usize = 6;

fn store() -> Store {
    let mut store = Store::new(ServerInfo::from(&ndb::Config::default().persist(false, "")));
    store.set_container_limits(Limits {
        max_capacity: MAX_CAPACITY as u64,
        array_max_response: ARRAY_MAX_RESPONSE as u64,
        list_max_response: LIST_MAX_RESPONSE as u64,
    });
    store
}

/// Runs one request as the server does and parses the reply.
fn run(store: &mut Store, request: &str) -> Value {
    let mut out = Vec::new();
    let _ = dispatch(store, Protocol::V07, Message::Text(request), Instant::now(), &mut out);
    let text = String::from_utf8(out).expect("UTF-8");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// `{"<CMD>_RSP":{"st":N}}` or with the fields of a success.
fn reply(cmd: &str, st: u16, fields: Value) -> Value {
    let mut body = match fields {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    body.insert("st".into(), st.into());
    json!({ format!("{cmd}_RSP"): body })
}

fn st(cmd: &str, st: u16) -> Value {
    reply(cmd, st, Value::Null)
}

/// NemesisDB's item order: integers numerically, strings byte-wise.
fn order(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_i64().cmp(&y.as_i64()),
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(y.as_bytes()),
        _ => Ordering::Equal,
    }
}

/// An array type for the model: its prefix, whether sorted, its empty
/// value, and how to draw items.
#[derive(Clone, Copy, Debug)]
struct Type {
    prefix: &'static str,
    sorted: bool,
    kind: Kind,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Object,
    Int,
    Str,
}

impl Type {
    fn empty(&self) -> Value {
        match self.kind {
            Kind::Object => json!({}),
            Kind::Int => json!(0),
            Kind::Str => json!(""),
        }
    }
}

fn item(kind: Kind) -> BoxedStrategy<Value> {
    match kind {
        Kind::Object => prop_oneof![
            Just(json!({})),
            (0..4i64).prop_map(|i| json!({ "i": i })),
            Just(json!({"nested": {"a": [1, 2, null]}, "s": "żółw"})),
        ]
        .boxed(),
        Kind::Int => {
            prop_oneof![(-3..4i64).prop_map(Value::from), Just(json!(i64::MIN)), Just(json!(i64::MAX))].boxed()
        }
        Kind::Str => prop_oneof![
            Just(json!("")),
            prop::sample::select(vec![
                "a",
                "b",
                "Apple",
                "apple",
                "é",
                "q\"\\\n",
                "a string well past the inline limit"
            ])
            .prop_map(Value::from),
        ]
        .boxed(),
    }
}

/// One array command; `name` 0 or 1 picks array "a" or "b".
#[derive(Clone, Debug)]
enum ArrayOp {
    Create(usize, usize),
    Delete(usize),
    Set(usize, Value, Option<usize>),
    SetRng(usize, Vec<Value>, Option<usize>),
    Get(usize, usize),
    GetRng(usize, usize, Option<usize>),
    Clear(usize, usize, Option<usize>),
    Swap(usize, usize, usize),
    Min(usize, usize),
    Max(usize, usize),
    Intersect(usize, usize),
    Used(usize),
}

fn array_ops(t: Type) -> impl Strategy<Value = Vec<ArrayOp>> {
    let name = 0..2usize;
    let pos = 0..(MAX_CAPACITY + 2);
    let op = prop_oneof![
        2 => (name.clone(), 0..(MAX_CAPACITY + 2)).prop_map(|(n, len)| ArrayOp::Create(n, len)),
        1 => name.clone().prop_map(ArrayOp::Delete),
        4 => (name.clone(), item(t.kind), prop::option::of(pos.clone())).prop_map(|(n, i, p)| ArrayOp::Set(n, i, p)),
        4 => (name.clone(), prop::collection::vec(item(t.kind), 0..5), prop::option::weighted(0.3, pos.clone()))
            .prop_map(|(n, items, p)| ArrayOp::SetRng(n, items, p)),
        2 => (name.clone(), pos.clone()).prop_map(|(n, p)| ArrayOp::Get(n, p)),
        3 => (name.clone(), pos.clone(), prop::option::of(pos.clone())).prop_map(|(n, a, b)| ArrayOp::GetRng(n, a, b)),
        2 => (name.clone(), pos.clone(), prop::option::of(pos.clone())).prop_map(|(n, a, b)| ArrayOp::Clear(n, a, b)),
        1 => (name.clone(), pos.clone(), pos.clone()).prop_map(|(n, a, b)| ArrayOp::Swap(n, a, b)),
        1 => (name.clone(), 0..10usize).prop_map(|(n, k)| ArrayOp::Min(n, k)),
        1 => (name.clone(), 0..10usize).prop_map(|(n, k)| ArrayOp::Max(n, k)),
        1 => (name.clone(), name.clone()).prop_map(|(a, b)| ArrayOp::Intersect(a, b)),
        1 => name.prop_map(ArrayOp::Used),
    ];
    prop::collection::vec(op, 1..80)
}

/// One array in the model: every slot stored, densely.
#[derive(Clone, Debug)]
struct ModelArray {
    used: usize,
    slots: Vec<Value>,
}

const NAMES: [&str; 2] = ["a", "b"];

fn rng_json(start: usize, stop: Option<usize>) -> String {
    match stop {
        Some(stop) => format!("[{start},{stop}]"),
        None => format!("[{start}]"),
    }
}

/// The request for `op` and the reply the model gives, updating the model.
fn array_step(t: Type, arrays: &mut [Option<ModelArray>; 2], op: &ArrayOp) -> (String, Value) {
    let p = t.prefix;
    let cmd = |name: &str| format!("{p}_{name}");
    match op {
        ArrayOp::Create(n, len) => {
            let c = cmd("CREATE");
            let request = format!(r#"{{"{c}":{{"name":"{}","len":{len}}}}}"#, NAMES[*n]);
            let expected = if arrays[*n].is_some() {
                st(&c, 160)
            } else if *len == 0 || *len > MAX_CAPACITY {
                st(&c, 161)
            } else {
                arrays[*n] = Some(ModelArray { used: 0, slots: vec![t.empty(); *len] });
                st(&c, 1)
            };
            (request, expected)
        }
        ArrayOp::Delete(n) => {
            arrays[*n] = None;
            let c = cmd("DELETE");
            (format!(r#"{{"{c}":{{"name":"{}"}}}}"#, NAMES[*n]), st(&c, 1))
        }
        ArrayOp::Used(n) => {
            let c = cmd("USED");
            let request = format!(r#"{{"{c}":{{"name":"{}"}}}}"#, NAMES[*n]);
            let expected = match &arrays[*n] {
                Some(a) => reply(&c, 1, json!({"used": a.used})),
                None => st(&c, 22),
            };
            (request, expected)
        }
        ArrayOp::Set(n, item, pos) => {
            let c = cmd("SET");
            let pos_json = pos.map_or(String::new(), |p| format!(r#","pos":{p}"#));
            let request = format!(r#"{{"{c}":{{"name":"{}","item":{item}{pos_json}}}}}"#, NAMES[*n]);
            let Some(a) = &mut arrays[*n] else { return (request, st(&c, 22)) };
            let len = a.slots.len();
            let ok = if t.sorted {
                if a.used >= len {
                    false
                } else {
                    let mut part = a.slots[..a.used].to_vec();
                    part.push(item.clone());
                    part.sort_by(order);
                    a.slots[..part.len()].clone_from_slice(&part);
                    a.used += 1;
                    true
                }
            } else {
                match pos {
                    Some(p) if *p >= len => false,
                    Some(p) => {
                        a.slots[*p] = item.clone();
                        true
                    }
                    None if a.used >= len => false,
                    None => {
                        a.slots[a.used] = item.clone();
                        a.used += 1;
                        true
                    }
                }
            };
            (request, st(&c, if ok { 1 } else { 161 }))
        }
        ArrayOp::SetRng(n, items, pos) => {
            let c = cmd("SET_RNG");
            let pos_json = pos.map_or(String::new(), |p| format!(r#","pos":{p}"#));
            let list = serde_json::to_string(items).unwrap();
            let request = format!(r#"{{"{c}":{{"name":"{}","items":{list}{pos_json}}}}}"#, NAMES[*n]);
            let Some(a) = &mut arrays[*n] else { return (request, st(&c, 22)) };
            let (len, k) = (a.slots.len(), items.len());
            let ok = if t.sorted {
                if k == 0 {
                    true
                } else if a.used + k > len {
                    false
                } else {
                    let mut part = a.slots[..a.used].to_vec();
                    part.extend(items.iter().cloned());
                    part.sort_by(order);
                    a.slots[..part.len()].clone_from_slice(&part);
                    a.used += k;
                    true
                }
            } else {
                let at = match pos {
                    Some(p) if *p >= len || *p + k > len => None,
                    Some(p) => Some(*p),
                    None if a.used >= len || k > len - a.used => None,
                    None => Some(a.used),
                };
                match at {
                    None => false,
                    Some(at) => {
                        a.slots[at..at + k].clone_from_slice(items);
                        a.used = (a.used + k).min(len);
                        true
                    }
                }
            };
            (request, st(&c, if ok { 1 } else { 161 }))
        }
        ArrayOp::Get(n, pos) => {
            let c = cmd("GET");
            let request = format!(r#"{{"{c}":{{"name":"{}","pos":{pos}}}}}"#, NAMES[*n]);
            let expected = match &arrays[*n] {
                None => st(&c, 22),
                Some(a) if *pos >= a.slots.len() => st(&c, 161),
                Some(a) => reply(&c, 1, json!({"item": a.slots[*pos]})),
            };
            (request, expected)
        }
        ArrayOp::GetRng(n, start, stop) => {
            let c = cmd("GET_RNG");
            let request = format!(r#"{{"{c}":{{"name":"{}","rng":{}}}}}"#, NAMES[*n], rng_json(*start, *stop));
            if stop.is_some_and(|stop| stop < *start) {
                return (request, st(&c, 13));
            }
            let expected = match &arrays[*n] {
                None => st(&c, 22),
                Some(a) if *start >= a.slots.len() => st(&c, 161),
                Some(a) => {
                    let end = stop.unwrap_or(a.slots.len()).min(a.used).min(start + ARRAY_MAX_RESPONSE);
                    let items = if *start < end { a.slots[*start..end].to_vec() } else { Vec::new() };
                    reply(&c, 1, json!({ "items": items }))
                }
            };
            (request, expected)
        }
        ArrayOp::Clear(n, start, stop) => {
            let c = cmd("CLEAR");
            let request = format!(r#"{{"{c}":{{"name":"{}","rng":{}}}}}"#, NAMES[*n], rng_json(*start, *stop));
            if stop.is_some_and(|stop| stop < *start) {
                return (request, st(&c, 13));
            }
            let Some(a) = &mut arrays[*n] else { return (request, st(&c, 22)) };
            if *start >= a.slots.len() {
                return (request, st(&c, 161));
            }
            if *start < a.used {
                let end = stop.unwrap_or(usize::MAX).min(a.used);
                let removed = end.saturating_sub(*start);
                a.slots.drain(*start..*start + removed);
                a.slots.extend(std::iter::repeat_n(t.empty(), removed));
                a.used -= removed;
            }
            (request, st(&c, 1))
        }
        ArrayOp::Swap(n, x, y) => {
            let c = cmd("SWAP");
            let request = format!(r#"{{"{c}":{{"name":"{}","posA":{x},"posB":{y}}}}}"#, NAMES[*n]);
            if t.sorted {
                return (request, json!({"ERR": {"st": 10}}));
            }
            let Some(a) = &mut arrays[*n] else { return (request, st(&c, 22)) };
            if *x >= a.slots.len() || *y >= a.slots.len() {
                return (request, st(&c, 161));
            }
            a.slots.swap(*x, *y);
            (request, st(&c, 1))
        }
        ArrayOp::Min(n, k) | ArrayOp::Max(n, k) => {
            let min = matches!(op, ArrayOp::Min(..));
            let c = cmd(if min { "MIN" } else { "MAX" });
            let request = format!(r#"{{"{c}":{{"name":"{}","n":{k}}}}}"#, NAMES[*n]);
            if !t.sorted {
                return (request, json!({"ERR": {"st": 10}}));
            }
            let expected = match &arrays[*n] {
                None => st(&c, 22),
                Some(a) if a.used == 0 => st(&c, 161),
                Some(a) => {
                    let mut used = a.slots[..a.used].to_vec();
                    used.sort_by(order);
                    if !min {
                        used.reverse();
                    }
                    used.truncate(*k);
                    reply(&c, 1, json!({ "items": used }))
                }
            };
            (request, expected)
        }
        ArrayOp::Intersect(x, y) => {
            let c = cmd("INTERSECT");
            let request = format!(r#"{{"{c}":{{"srcA":"{}","srcB":"{}"}}}}"#, NAMES[*x], NAMES[*y]);
            if !t.sorted {
                return (request, json!({"ERR": {"st": 10}}));
            }
            if x == y {
                return (request, st(&c, 160));
            }
            let (Some(a), Some(b)) = (&arrays[*x], &arrays[*y]) else { return (request, st(&c, 22)) };
            let mut rest = b.slots[..b.used].to_vec();
            let mut common = Vec::new();
            for item in &a.slots[..a.used] {
                if let Some(i) = rest.iter().position(|r| r == item) {
                    rest.remove(i);
                    common.push(item.clone());
                }
            }
            common.sort_by(order);
            (request, reply(&c, 1, json!({ "items": common })))
        }
    }
}

fn check_arrays(t: Type, ops: &[ArrayOp]) -> Result<(), TestCaseError> {
    let mut store = store();
    let mut model: [Option<ModelArray>; 2] = [None, None];
    for (i, op) in ops.iter().enumerate() {
        let (request, expected) = array_step(t, &mut model, op);
        let got = run(&mut store, &request);
        prop_assert_eq!(&got, &expected, "step {}: {}", i, request);
    }
    Ok(())
}

const OARR: Type = Type { prefix: "OARR", sorted: false, kind: Kind::Object };
const IARR: Type = Type { prefix: "IARR", sorted: false, kind: Kind::Int };
const STRARR: Type = Type { prefix: "STRARR", sorted: false, kind: Kind::Str };
const SIARR: Type = Type { prefix: "SIARR", sorted: true, kind: Kind::Int };
const SSTRARR: Type = Type { prefix: "SSTRARR", sorted: true, kind: Kind::Str };

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn object_arrays_match_the_model(ops in array_ops(OARR)) {
        check_arrays(OARR, &ops)?;
    }

    #[test]
    fn integer_arrays_match_the_model(ops in array_ops(IARR)) {
        check_arrays(IARR, &ops)?;
    }

    #[test]
    fn string_arrays_match_the_model(ops in array_ops(STRARR)) {
        check_arrays(STRARR, &ops)?;
    }

    #[test]
    fn sorted_integer_arrays_match_the_model(ops in array_ops(SIARR)) {
        check_arrays(SIARR, &ops)?;
    }

    #[test]
    fn sorted_string_arrays_match_the_model(ops in array_ops(SSTRARR)) {
        check_arrays(SSTRARR, &ops)?;
    }
}

/// One list command; names 0 and 1 are lists "a" and "b".
#[derive(Clone, Debug)]
enum ListOp {
    Create(usize),
    Delete(usize),
    Add(usize, Vec<Value>, Option<usize>),
    SetRng(usize, Vec<Value>, usize),
    Get(usize, Option<usize>),
    GetRng(usize, usize, Option<usize>),
    Rmv(usize, bool, bool, Option<(usize, Option<usize>)>),
    Splice(usize, Option<usize>, usize, usize, Option<usize>),
    Len(usize),
}

fn list_ops() -> impl Strategy<Value = Vec<ListOp>> {
    let name = 0..2usize;
    // Past one chunk of the list's tree (128 items) now and then.
    let pos = prop_oneof![4 => 0..24usize, 1 => 0..400usize];
    let distinct = prop_oneof![item(Kind::Object), (0..100_000i64).prop_map(|i| json!({ "i": i }))];
    let batch = (0..300usize, any::<u16>()).prop_map(|(n, tag)| (0..n).map(|i| json!({ "b": i, "t": tag })).collect());
    let items = prop_oneof![9 => prop::collection::vec(distinct, 0..6), 1 => batch];
    let op = prop_oneof![
        2 => name.clone().prop_map(ListOp::Create),
        1 => name.clone().prop_map(ListOp::Delete),
        6 => (name.clone(), items.clone(), prop::option::of(pos.clone())).prop_map(|(n, i, p)| ListOp::Add(n, i, p)),
        2 => (name.clone(), items, pos.clone()).prop_map(|(n, i, p)| ListOp::SetRng(n, i, p)),
        2 => (name.clone(), prop::option::of(pos.clone())).prop_map(|(n, p)| ListOp::Get(n, p)),
        2 => (name.clone(), pos.clone(), prop::option::of(pos.clone())).prop_map(|(n, a, b)| ListOp::GetRng(n, a, b)),
        3 => (name.clone(), any::<bool>(), any::<bool>(), prop::option::of((pos.clone(), prop::option::of(pos.clone()))))
            .prop_map(|(n, h, t, r)| ListOp::Rmv(n, h, t, r)),
        3 => (name.clone(), prop::option::of(pos.clone()), name.clone(), pos.clone(), prop::option::of(pos.clone()))
            .prop_map(|(d, dp, s, a, b)| ListOp::Splice(d, dp, s, a, b)),
        1 => name.prop_map(ListOp::Len),
    ];
    prop::collection::vec(op, 1..80)
}

fn list_step(lists: &mut [Option<Vec<Value>>; 2], op: &ListOp) -> (String, Value) {
    match op {
        ListOp::Create(n) => {
            let request = format!(r#"{{"OLST_CREATE":{{"name":"{}"}}}}"#, NAMES[*n]);
            if lists[*n].is_some() {
                return (request, st("OLST_CREATE", 160));
            }
            lists[*n] = Some(Vec::new());
            (request, st("OLST_CREATE", 1))
        }
        ListOp::Delete(n) => {
            let request = format!(r#"{{"OLST_DELETE":{{"name":"{}"}}}}"#, NAMES[*n]);
            let found = lists[*n].take().is_some();
            (request, st("OLST_DELETE", if found { 1 } else { 22 }))
        }
        ListOp::Len(n) => {
            let request = format!(r#"{{"OLST_LEN":{{"name":"{}"}}}}"#, NAMES[*n]);
            let expected = match &lists[*n] {
                Some(l) => reply("OLST_LEN", 1, json!({"len": l.len()})),
                None => st("OLST_LEN", 22),
            };
            (request, expected)
        }
        ListOp::Add(n, items, pos) => {
            let pos_json = pos.map_or(String::new(), |p| format!(r#","pos":{p}"#));
            let body = serde_json::to_string(items).unwrap();
            let request = format!(r#"{{"OLST_ADD":{{"name":"{}","items":{body}{pos_json}}}}}"#, NAMES[*n]);
            let Some(l) = &mut lists[*n] else { return (request, st("OLST_ADD", 22)) };
            let at = pos.unwrap_or(l.len()).min(l.len());
            l.splice(at..at, items.iter().cloned());
            (request, reply("OLST_ADD", 1, json!({"pos": at, "size": l.len()})))
        }
        ListOp::SetRng(n, items, pos) => {
            let body = serde_json::to_string(items).unwrap();
            let request = format!(r#"{{"OLST_SET_RNG":{{"name":"{}","items":{body},"pos":{pos}}}}}"#, NAMES[*n]);
            let Some(l) = &mut lists[*n] else { return (request, st("OLST_SET_RNG", 22)) };
            if *pos >= l.len() || *pos + items.len() > l.len() {
                return (request, st("OLST_SET_RNG", 161));
            }
            l[*pos..*pos + items.len()].clone_from_slice(items);
            (request, st("OLST_SET_RNG", 1))
        }
        ListOp::Get(n, pos) => {
            let pos_json = pos.map_or(String::new(), |p| format!(r#","pos":{p}"#));
            let request = format!(r#"{{"OLST_GET":{{"name":"{}"{pos_json}}}}}"#, NAMES[*n]);
            let Some(l) = &lists[*n] else { return (request, st("OLST_GET", 22)) };
            let at = match pos {
                Some(p) => Some(*p),
                None => l.len().checked_sub(1),
            };
            let expected = match at.and_then(|at| l.get(at)) {
                Some(item) => reply("OLST_GET", 1, json!({ "item": item })),
                None => st("OLST_GET", 161),
            };
            (request, expected)
        }
        ListOp::GetRng(n, start, stop) => {
            let request = format!(r#"{{"OLST_GET_RNG":{{"name":"{}","rng":{}}}}}"#, NAMES[*n], rng_json(*start, *stop));
            if stop.is_some_and(|stop| stop < *start) {
                return (request, st("OLST_GET_RNG", 13));
            }
            let Some(l) = &lists[*n] else { return (request, st("OLST_GET_RNG", 22)) };
            let end = stop.unwrap_or(l.len()).min(l.len()).min(start + LIST_MAX_RESPONSE);
            let items = if *start < end { l[*start..end].to_vec() } else { Vec::new() };
            (request, reply("OLST_GET_RNG", 1, json!({ "items": items })))
        }
        ListOp::Rmv(n, head, tail, rng) => {
            let mut body = format!(r#""name":"{}""#, NAMES[*n]);
            if *head {
                body.push_str(r#","head":true"#);
            }
            if *tail {
                body.push_str(r#","tail":true"#);
            }
            if let Some((start, stop)) = rng {
                body.push_str(&format!(r#","rng":{}"#, rng_json(*start, *stop)));
            }
            let request = format!(r#"{{"OLST_RMV":{{{body}}}}}"#);
            if let Some((start, Some(stop))) = rng
                && stop < start
            {
                return (request, st("OLST_RMV", 13));
            }
            let Some(l) = &mut lists[*n] else { return (request, st("OLST_RMV", 22)) };
            if *head && !l.is_empty() {
                l.remove(0);
            }
            if *tail {
                l.pop();
            }
            if let Some((start, stop)) = rng {
                let end = stop.unwrap_or(l.len()).min(l.len());
                if *start < end {
                    l.drain(*start..end);
                }
            }
            (request, reply("OLST_RMV", 1, json!({"size": l.len()})))
        }
        ListOp::Splice(dest, dest_pos, src, start, stop) => {
            let pos_json = dest_pos.map_or(String::new(), |p| format!(r#","destPos":{p}"#));
            let request = format!(
                r#"{{"OLST_SPLICE":{{"srcName":"{}","destName":"{}","srcRng":{}{pos_json}}}}}"#,
                NAMES[*src],
                NAMES[*dest],
                rng_json(*start, *stop)
            );
            if stop.is_some_and(|stop| stop < *start) {
                return (request, st("OLST_SPLICE", 13));
            }
            let Some(source) = &lists[*src] else { return (request, st("OLST_SPLICE", 22)) };
            let len = source.len();
            let end = stop.unwrap_or(len).min(len);
            let range = *start.min(&len)..end.max(*start.min(&len));
            if src == dest {
                if range.is_empty() {
                    return (request, st("OLST_SPLICE", 1));
                }
                if dest_pos.is_some_and(|p| range.contains(&p)) {
                    return (request, st("OLST_SPLICE", 13));
                }
                // Insert before the item that was at destPos (or at the end).
                let l = lists[*src].as_mut().unwrap();
                let marker = dest_pos.filter(|p| *p < len);
                let moved: Vec<Value> = l[range.clone()].to_vec();
                let kept: Vec<(usize, Value)> =
                    l.iter().cloned().enumerate().filter(|(i, _)| !range.contains(i)).collect();
                let mut result = Vec::new();
                for (i, v) in kept {
                    if Some(i) == marker {
                        result.extend(moved.iter().cloned());
                    }
                    result.push(v);
                }
                if marker.is_none() {
                    result.extend(moved);
                }
                *l = result;
                return (request, st("OLST_SPLICE", 1));
            }
            let moved: Vec<Value> = lists[*src].as_mut().unwrap().drain(range).collect();
            let d = lists[*dest].get_or_insert_with(Vec::new);
            let at = dest_pos.unwrap_or(d.len()).min(d.len());
            d.splice(at..at, moved);
            (request, st("OLST_SPLICE", 1))
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn lists_match_the_model(ops in list_ops()) {
        let mut store = store();
        let mut model: [Option<Vec<Value>>; 2] = [None, None];
        for (i, op) in ops.iter().enumerate() {
            let (request, expected) = list_step(&mut model, op);
            let got = run(&mut store, &request);
            prop_assert_eq!(&got, &expected, "step {}: {}", i, request);
        }
    }
}
