//! The evaluator against RFC 9535's own examples (sections 1.5, 2.3 and
//! 2.5), the budget against each way a path's cost can multiply, and the
//! evaluator against `serde_json_path` on random paths and values.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::super::budget::{RESULTS_BASE, STEPS_BASE, STEPS_PER_BYTE, Watch};
use super::super::parse::parse;
use super::super::text;
use super::*;

fn budget(bytes: usize) -> Budget {
    let mut budget = Budget::off_loop(Watch::default());
    budget.start_value(bytes).unwrap();
    budget
}

/// What `path` selects in `value`, in order.
fn query(path: &str, value: &Value) -> Result<Vec<Value>, Stop> {
    let parsed = parse(path).unwrap_or_else(|e| panic!("{path}: {e:?}"));
    let bytes = value.to_string().len();
    let selection = select(&parsed.query, value, usize::MAX, false, &mut budget(bytes), &mut Regexes::default())?;
    Ok(selection.nodes.iter().map(|n| n.value.clone()).collect())
}

fn values(path: &str, value: &Value) -> Vec<Value> {
    query(path, value).unwrap_or_else(|e| panic!("{path}: {e:?}"))
}

/// The normalized paths of what `path` selects, each once.
fn paths(path: &str, value: &Value) -> Vec<String> {
    let parsed = parse(path).unwrap();
    let bytes = value.to_string().len();
    let selection =
        select(&parsed.query, value, usize::MAX, true, &mut budget(bytes), &mut Regexes::default()).unwrap();
    selection
        .distinct()
        .iter()
        .map(|node| {
            let mut out = String::new();
            text::write_normalized(&mut out, &selection.path_of(node));
            out
        })
        .collect()
}

fn bookstore() -> Value {
    json!({"store": {
        "book": [
            {"category": "reference", "author": "Nigel Rees", "title": "Sayings of the Century", "price": 8.95},
            {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword of Honour", "price": 12.99},
            {"category": "fiction", "author": "Herman Melville", "title": "Moby Dick", "isbn": "0-553-21311-3", "price": 8.99},
            {"category": "fiction", "author": "J. R. R. Tolkien", "title": "The Lord of the Rings", "isbn": "0-395-19395-8", "price": 22.99}
        ],
        "bicycle": {"color": "red", "price": 399}
    }})
}

#[test]
fn rfc_bookstore_examples() {
    let v = bookstore();
    let authors = json!(["Nigel Rees", "Evelyn Waugh", "Herman Melville", "J. R. R. Tolkien"]);
    assert_eq!(Value::from(values("$.store.book[*].author", &v)), authors);
    assert_eq!(Value::from(values("$..author", &v)), authors);
    assert_eq!(values("$.store.*", &v).len(), 2);
    assert_eq!(Value::from(values("$.store..price", &v)), json!([399, 8.95, 12.99, 8.99, 22.99]));
    assert_eq!(paths("$..book[2]", &v), ["$['store']['book'][2]"]);
    assert_eq!(paths("$..book[-1]", &v), ["$['store']['book'][3]"]);
    assert_eq!(paths("$..book[0,1]", &v), ["$['store']['book'][0]", "$['store']['book'][1]"]);
    assert_eq!(paths("$..book[:2]", &v), ["$['store']['book'][0]", "$['store']['book'][1]"]);
    assert_eq!(paths("$..book[?@.isbn]", &v), ["$['store']['book'][2]", "$['store']['book'][3]"]);
    assert_eq!(paths("$..book[?@.price<10]", &v), ["$['store']['book'][0]", "$['store']['book'][2]"]);
    assert_eq!(values("$..*", &v).len(), 27);
}

#[test]
fn rfc_selector_examples() {
    let names = json!({"o": {"j j": {"k.k": 3}}, "'": {"@": 2}});
    assert_eq!(values("$.o['j j']", &names), [json!({"k.k": 3})]);
    assert_eq!(values("$.o['j j']['k.k']", &names), [json!(3)]);
    assert_eq!(values("$.o[\"j j\"][\"k.k\"]", &names), [json!(3)]);
    assert_eq!(values("$[\"'\"][\"@\"]", &names), [json!(2)]);
    let wild = json!({"o": {"j": 1, "k": 2}, "a": [5, 3]});
    assert_eq!(values("$[*]", &wild), [json!([5, 3]), json!({"j": 1, "k": 2})]);
    assert_eq!(values("$.o[*, *]", &wild), [json!(1), json!(2), json!(1), json!(2)]);
    assert_eq!(values("$.a[*]", &wild), [json!(5), json!(3)]);
    let letters = json!(["a", "b", "c", "d", "e", "f", "g"]);
    let s = |path| Value::from(values(path, &letters));
    assert_eq!(s("$[1]"), json!(["b"]));
    assert_eq!(s("$[-2]"), json!(["f"]));
    assert_eq!(s("$[7]"), json!([]));
    assert_eq!(s("$[1:3]"), json!(["b", "c"]));
    assert_eq!(s("$[5:]"), json!(["f", "g"]));
    assert_eq!(s("$[1:5:2]"), json!(["b", "d"]));
    assert_eq!(s("$[5:1:-2]"), json!(["f", "d"]));
    assert_eq!(s("$[::-1]"), json!(["g", "f", "e", "d", "c", "b", "a"]));
    assert_eq!(s("$[::0]"), json!([]));
    assert_eq!(s("$[-9007199254740991:9007199254740991:9007199254740991]"), json!(["a"]));
    assert_eq!(s("$[9007199254740991:-9007199254740991:-9007199254740991]"), json!(["g"]));
}

#[test]
fn rfc_filter_examples() {
    let v = json!({
        "a": [3, 5, 1, 2, 4, 6, {"b": "j"}, {"b": "k"}, {"b": {}}, {"b": "kilo"}],
        "o": {"p": 1, "q": 2, "r": 3, "s": 5, "t": {"u": 6}},
        "e": "f"
    });
    let f = |path| Value::from(values(path, &v));
    assert_eq!(f("$.a[?@.b == 'kilo']"), json!([{"b": "kilo"}]));
    assert_eq!(f("$.a[?(@.b == 'kilo')]"), json!([{"b": "kilo"}]));
    assert_eq!(f("$.a[?@>3.5]"), json!([5, 4, 6]));
    assert_eq!(f("$.a[?@.b]"), json!([{"b": "j"}, {"b": "k"}, {"b": {}}, {"b": "kilo"}]));
    assert_eq!(values("$[?@.*]", &v).len(), 2);
    assert_eq!(values("$[?@[?@.b]]", &v), [v["a"].clone()]);
    assert_eq!(f("$.o[?@<3, ?@<3]"), json!([1, 2, 1, 2]));
    assert_eq!(f("$.a[?@<2 || @.b == \"k\"]"), json!([1, {"b": "k"}]));
    if cfg!(feature = "regex") {
        assert_eq!(f("$.a[?match(@.b, \"[jk]\")]"), json!([{"b": "j"}, {"b": "k"}]));
        assert_eq!(f("$.a[?search(@.b, \"[jk]\")]"), json!([{"b": "j"}, {"b": "k"}, {"b": "kilo"}]));
    }
    assert_eq!(f("$.o[?@>1 && @<4]"), json!([2, 3]));
    assert_eq!(f("$.o[?@.u || @.x]"), json!([{"u": 6}]));
    assert_eq!(f("$.a[?@.b == $.x]"), json!([3, 5, 1, 2, 4, 6]));
    assert_eq!(values("$.a[?@ == @]", &v).len(), 10);
}

#[test]
fn rfc_comparison_table() {
    let v = json!({"obj": {"x": "y"}, "arr": [2, 3]});
    for (expr, holds) in [
        ("$.absent1 == $.absent2", true),
        ("$.absent1 <= $.absent2", true),
        ("$.absent == 'g'", false),
        ("$.absent1 != $.absent2", false),
        ("$.absent != 'g'", true),
        ("1 <= 2", true),
        ("1 > 2", false),
        ("13 == '13'", false),
        ("'a' <= 'b'", true),
        ("'a' > 'b'", false),
        ("$.obj == $.arr", false),
        ("$.obj != $.arr", true),
        ("$.obj == $.obj", true),
        ("$.obj != $.obj", false),
        ("$.arr == $.arr", true),
        ("$.arr != $.arr", false),
        ("$.obj == 17", false),
        ("$.obj != 17", true),
        ("$.obj <= $.arr", false),
        ("$.obj < $.arr", false),
        ("$.obj <= $.obj", true),
        ("$.arr <= $.arr", true),
        ("1 <= $.arr", false),
        ("1 >= $.arr", false),
        ("1 > $.arr", false),
        ("1 < $.arr", false),
        ("true <= true", true),
        ("true > true", false),
        ("1 == 1.0", true),
        ("$.arr[0] == 2.0", true),
        ("'\u{e9}' > 'z'", true),
    ] {
        let selected = values(&format!("$[?{expr}]"), &v).len();
        assert_eq!(selected, if holds { 2 } else { 0 }, "{expr}");
    }
    // Containers compare member by member, numbers by value.
    let nested = json!({"a": [1, {"b": 2.0}], "c": [1.0, {"b": 2}]});
    assert_eq!(values("$[?$.a == $.c]", &nested).len(), 2);
}

#[test]
fn rfc_descendant_and_function_examples() {
    let v = json!({"o": {"j": 1, "k": 2}, "a": [5, 3, [{"j": 4}, {"k": 6}]]});
    assert_eq!(Value::from(values("$..j", &v)), json!([4, 1]));
    assert_eq!(Value::from(values("$..[0]", &v)), json!([5, {"j": 4}]));
    assert_eq!(values("$..*", &v).len(), 11);
    assert_eq!(Value::from(values("$.o..[*, *]", &v)), json!([1, 2, 1, 2]));
    assert_eq!(Value::from(values("$.a..[0, 1]", &v)), json!([5, 3, {"j": 4}, {"k": 6}]));
    let strings = json!(["a short string", "a slightly longer string", "a string that is even longer!", 7]);
    assert_eq!(values("$[?length(@) > 14]", &strings).len(), 2);
    assert_eq!(values("$[?length(@) == 1]", &json!(["é", "ab"])), [json!("é")]);
    let foos = json!([{"foo": [1]}, {"foo": [1, 2]}, {"foo": "bar"}]);
    assert_eq!(values("$[?count(@.foo.*) > 1]", &foos).len(), 1);
    assert_eq!(values("$[?count(@.foo) == 1]", &foos).len(), 3);
    let colors = json!([{"a": {"color": "red"}}, {"a": {"color": "red"}, "b": {"color": "red"}}, {"color": "blue"}]);
    assert_eq!(values("$[?value(@..color) == 'red']", &colors).len(), 1);
    let names = json!([{"name": "Homer Simpson"}, {"name": "Ned Flanders"}, {"name": "Maggie Simpson"}]);
    if cfg!(feature = "regex") {
        assert_eq!(values("$[?match(@.name, 'M[A-Za-z ]*Simpson')].name", &names), [json!("Maggie Simpson")]);
        assert_eq!(values("$[?search(@.name, 'Simpson')]", &names).len(), 2);
        assert_eq!(values("$[?match(@.name, @.name)]", &names).len(), 3, "patterns may come from the data");
    } else {
        assert!(values("$[?match(@.name, @.name)]", &names).is_empty(), "false without an engine");
    }
}

#[test]
fn normalized_paths_and_duplicates() {
    let v = json!({"a": {"b": [1, 2]}, "it's": 0});
    // Parent first: the root's children, then each child's, in order.
    assert_eq!(paths("$..*", &v), ["$['a']", "$['it\\'s']", "$['a']['b']", "$['a']['b'][0]", "$['a']['b'][1]"]);
    assert_eq!(paths("$.a.b[1,1,0,-1]", &v), ["$['a']['b'][1]", "$['a']['b'][0]"]);
    assert_eq!(paths("$", &v), ["$"]);
    assert_eq!(paths("$..b..[0]", &v), ["$['a']['b'][0]"]);
}

#[test]
fn want_stops_at_the_first_results() {
    let v = json!([[1, 2], [3, 4], [5]]);
    let parsed = parse("$[*][*]").unwrap();
    let mut budget = budget(100);
    let found = select(&parsed.query, &v, 1, false, &mut budget, &mut Regexes::default()).unwrap();
    assert_eq!(found.nodes.len(), 1);
    assert_eq!(found.nodes[0].value, &json!(1));
    let mut all = self::budget(100);
    select(&parsed.query, &v, usize::MAX, false, &mut all, &mut Regexes::default()).unwrap();
    assert!(budget.used() < all.used());
}

/// Nested arrays, `depth` deep, with `width` zeros at the bottom.
fn nested(depth: usize, width: usize) -> Value {
    let mut value = Value::from(vec![0; width]);
    for _ in 0..depth {
        value = Value::from(vec![value]);
    }
    value
}

#[test]
fn multiplying_paths_stop_at_the_budget() {
    let deep = nested(20, 1);
    // Each segment multiplies the list by 8: the 130-byte path of the issue.
    let explosive = format!("${}", "[0,0,0,0,0,0,0,0]".repeat(8));
    assert!(explosive.len() < 140);
    assert_eq!(query(&explosive, &deep), Err(Stop::OverBudget));
    // Descendants of descendants: quadratic in the depth, times the width.
    let wide = nested(100, 2000);
    assert_eq!(query("$..*..*..*", &wide), Err(Stop::OverBudget));
    // Filters that re-query the whole value for every node.
    let items = Value::from((0..3000).collect::<Vec<_>>());
    assert_eq!(query("$[?count($[?count($[*]) > 0]) > 0]", &items), Err(Stop::OverBudget));
    // A list may not outgrow its limit even within the step budget.
    let zeros = Value::from(vec![0; 100]);
    let many = format!("$[{}]", vec!["*"; 200].join(","));
    assert_eq!(query(&many, &zeros), Err(Stop::OverBudget));
    // The same paths within budget on small values.
    assert_eq!(query(&format!("${}", "[0,0]".repeat(8)), &nested(8, 1)).map(|v| v.len()), Ok(256));
    assert_eq!(query("$..*..*", &nested(3, 2)).map(|v| v.len()), Ok(4 + 3 + 2));
}

#[test]
fn located_paths_keep_their_locations_within_bounds() {
    // A descendant walk keeps no location of what found nothing.
    let wide = Value::from((0..5000).map(|i| json!({"x": i})).collect::<Vec<_>>());
    let parsed = parse("$..[?@ == 4999]").unwrap();
    let bytes = wide.to_string().len();
    let mut budget = budget(bytes);
    let found = select(&parsed.query, &wide, usize::MAX, true, &mut budget, &mut Regexes::default()).unwrap();
    assert_eq!(found.nodes.len(), 1);
    assert_eq!(found.path_of(&found.nodes[0]), [Elem::Index(4999), Elem::Name("x")]);
    assert!(found.locs.len() <= 3, "{} locations kept", found.locs.len());
}

#[test]
#[cfg(feature = "regex")]
fn regular_expressions_are_compiled_once_per_query() {
    let strings = Value::from((0..2000).map(|i| format!("item {i}")).collect::<Vec<_>>());
    let parsed = parse("$[?search(@, '[0-9]*5$') && match(@, 'item.*')]").unwrap();
    let mut regexes = Regexes::default();
    let bytes = strings.to_string().len();
    let found = select(&parsed.query, &strings, usize::MAX, false, &mut budget(bytes), &mut regexes).unwrap();
    assert_eq!(found.nodes.len(), 200);
    assert_eq!(regexes.compilations(), 2);
    // A pattern whose runs cost more than the value's budget stops there.
    let costly = parse("$[?search(@, '.{100}x')]").unwrap();
    let long = Value::from(vec!["y".repeat(1000); 200]);
    let bytes = long.to_string().len();
    let stopped = select(&costly.query, &long, usize::MAX, false, &mut budget(bytes), &mut Regexes::default());
    assert_eq!(stopped.err(), Some(Stop::OverBudget));
}

#[test]
fn the_budget_matches_its_documentation() {
    let value = Value::from(vec![0; 1000]);
    let bytes = value.to_string().len();
    let b = budget(bytes);
    assert_eq!(b.left(), STEPS_BASE + STEPS_PER_BYTE * bytes as u64);
    assert_eq!(b.max_results(), RESULTS_BASE + bytes / 2);
    // A path visiting every node once fits easily on the largest value.
    let big = Value::from(vec![0; 500_000]);
    let bytes = big.to_string().len();
    let parsed = parse("$..*").unwrap();
    let mut b = budget(bytes);
    let found = select(&parsed.query, &big, usize::MAX, true, &mut b, &mut Regexes::default()).unwrap();
    assert_eq!(found.nodes.len(), 500_000);
    assert!(b.used() < (STEPS_PER_BYTE * bytes as u64) / 2, "{} steps", b.used());
}

/// Paths built from fragments on which the RFC and `serde_json_path` agree
/// (it differs on blank space before `..`, on `<=`/`>=` between two
/// nothings and on upper-case-only surrogate escapes).
fn reference_path() -> impl Strategy<Value = String> {
    let mut fragments = vec![
        ".a",
        ".b",
        ".c",
        "['a']",
        "['b','a']",
        "[0]",
        "[1]",
        "[-1]",
        "[0,0]",
        "[*]",
        ".*",
        "..a",
        "..*",
        "..[0]",
        "[1:3]",
        "[::-1]",
        "[::2]",
        "[?@.a]",
        "[?@ > 1]",
        "[?@.a == 1]",
        "[?@ == 'x']",
        "[?!@.b]",
        "[?@.a || @.b]",
        "[?@.a && @.c < 2]",
        "[?length(@) > 1]",
        "[?count(@.*) == 2]",
        "[?value(@..a) == 1]",
        "[?@[?@ == 1]]",
        "[?@..b]",
        "[?$.a == @]",
        "[?@ != null]",
    ];
    // A build without the `regex` feature finds both functions false.
    if cfg!(feature = "regex") {
        fragments.extend(["[?match(@, 'x.')]", "[?search(@, 'y')]"]);
    }
    let segment = prop::sample::select(fragments);
    prop::collection::vec(segment, 0..5).prop_map(|s| format!("${}", s.concat()))
}

/// Small values of integers, short strings, arrays and objects with the
/// names the paths use.
fn reference_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-3i64..4).prop_map(Value::from),
        prop::sample::select(vec!["x", "xy", "y", "a"]).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 40, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(prop::sample::select(vec!["a", "b", "c"]), inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn agrees_with_serde_json_path(path in reference_path(), value in reference_value()) {
        let reference = serde_json_path::JsonPath::parse(&path).expect("the reference parses it");
        let expected: Vec<String> = reference.query_located(&value).locations().map(|l| l.to_string()).collect();
        let mut seen = std::collections::HashSet::new();
        let expected: Vec<String> = expected.into_iter().filter(|p| seen.insert(p.clone())).collect();
        prop_assert_eq!(paths(&path, &value), expected, "{} on {}", path, value);
        let reference_values: Vec<Value> = reference.query(&value).all().into_iter().cloned().collect();
        prop_assert_eq!(values(&path, &value), reference_values);
    }

    #[test]
    fn any_path_on_any_value_stays_within_its_budget(path in reference_path(), value in reference_value()) {
        let parsed = parse(&path).unwrap();
        let bytes = value.to_string().len();
        let mut budget = budget(bytes);
        let limit = budget.left();
        if let Ok(found) = select(&parsed.query, &value, usize::MAX, true, &mut budget, &mut Regexes::default()) {
            prop_assert!(found.nodes.len() <= budget.max_results());
            prop_assert!(found.locs.len() <= budget.max_locations());
        }
        prop_assert!(budget.used() <= limit);
    }
}

/// The cost of a step, in release: `cargo test --release --lib step_cost
/// -- --ignored --nocapture` (figures in docs/performance.md).
#[test]
#[ignore = "a measurement; run in release"]
fn step_cost() {
    let item = json!({"n": 123, "tags": ["a", "b", "c", "d", "e", "f", "g", "h"]});
    let value = Value::from(vec![item; 10_000]);
    let bytes = value.to_string().len();
    for path in
        ["$..*", "$[*].tags[*]", "$[?@.n > 100].tags[?@ == 'h']", "$..[?@ == 'h']", "$[?count(@.tags[?@ != 'x']) == 8]"]
    {
        let parsed = parse(path).unwrap();
        for located in [false, true] {
            let mut best = std::time::Duration::MAX;
            let mut steps = 0;
            for _ in 0..20 {
                let mut b = budget(bytes);
                let started = std::time::Instant::now();
                let found =
                    select(&parsed.query, &value, usize::MAX, located, &mut b, &mut Regexes::default()).unwrap();
                best = best.min(started.elapsed());
                steps = b.used();
                drop(found);
            }
            eprintln!(
                "{path} (located {located}): {steps} steps, best {best:?}, {:.1} ns/step",
                best.as_nanos() as f64 / steps as f64
            );
        }
    }
}
