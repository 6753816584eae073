//! The parser against RFC 9535's grammar: what it accepts, what it
//! refuses, and the trees it builds for the tricky corners (slices,
//! escapes, blank space, function typing).

use super::*;
use crate::store::jsonpath::syntax::{Comparable, SingularQuery, Step};

fn ok(path: &str) -> Query {
    parse(path).unwrap_or_else(|e| panic!("{path:?} should parse: {e:?}")).query
}

fn selectors(path: &str) -> Vec<Selector> {
    let query = ok(path);
    assert_eq!(query.segments.len(), 1, "{path}");
    query.segments[0].selectors.clone()
}

#[test]
fn valid_paths() {
    for path in [
        "$",
        "$.a",
        "$.a.b",
        "$ .a",
        "$\n[0] \t.b",
        "$ ..a",
        "$.ab1_\u{e9}\u{1F600}",
        "$._",
        "$.*",
        "$[*]",
        "$..*",
        "$..[0]",
        "$..a",
        "$['a']",
        "$[\"a\"]",
        "$['a','b']",
        "$[ 'a' , 1 , * , 1:2 , ?@ ]",
        "$[0]",
        "$[-1]",
        "$[9007199254740991]",
        "$[-9007199254740991]",
        "$[:]",
        "$[::]",
        "$[1:]",
        "$[:2]",
        "$[1:2:3]",
        "$[1 : 2 : 3]",
        "$[::-1]",
        "$[1:2:]",
        "$[?@]",
        "$[? @.a]",
        "$[?@.a ]",
        "$[?(@.a)]",
        "$[?!@.a]",
        "$[?!(@.a)]",
        "$[?@.a==1]",
        "$[?@.a == -0]",
        "$[?@.a == 1.5e-3]",
        "$[?@.a == 1E+3]",
        "$[?@.a == 'x' || @.b != \"y\" && @.c < 1]",
        "$[?@.a <= 1 && @.b >= 2 && @.c > 3]",
        "$[?@.a == true && @.b == false && @.c == null]",
        "$[?@ == @]",
        "$[?$.a == @.b]",
        "$[?1 == 1]",
        "$[?@[0] == @['x'][-1]]",
        "$[?@[?@.a]]",
        "$[?length(@) == 1]",
        "$[?length(@.a) < length('abc')]",
        "$[?length(value(@..a)) == 1]",
        "$[?count(@..a) > 1]",
        "$[?count(@) > 1]",
        "$[?count(@.*) == 1]",
        "$[?value(@.*) == 1]",
        "$[?match(@, 'a.c')]",
        "$[?search(@.a, @.b)]",
        "$[?!match(@, 'a')]",
        "$[?match( @ , 'a' )]",
        "$[?@.a==1][?@]",
        "$['\\'']",
        "$[\"'\"]",
        "$['\"']",
        "$[\"\\\"\"]",
        "$['\\b\\f\\n\\r\\t\\/\\\\']",
        "$['\\u00e9\\u00E9']",
        "$['\\uD83D\\uDE00']",
        "$['\\ud83d\\ude00']",
    ] {
        assert!(parse(path).is_ok(), "{path:?} should parse");
    }
}

#[test]
fn invalid_paths() {
    for path in [
        "",
        " $",
        "$ ",
        "@",
        "@.a",
        "a",
        "$.",
        "$..",
        "$...a",
        "$.1a",
        "$.a-b",
        "$.a b",
        "$. a",
        "$.. a",
        "$[",
        "$[]",
        "$[0",
        "$['a'",
        "$['a]",
        "$[a]",
        "$[01]",
        "$[-0]",
        "$[- 1]",
        "$[1.0]",
        "$[0 1]",
        "$[9007199254740992]",
        "$[1:2:3:4]",
        "$[?]",
        "$[?@ == ]",
        "$[?== 1]",
        "$[?@.a = 1]",
        "$[?@.a === 1]",
        "$[?!!@.a]",
        "$[?!@.a == 1]",
        "$[?true]",
        "$[?1]",
        "$[?'a']",
        "$[?@.* == 1]",
        "$[?@..a == 1]",
        "$[?@[0,1] == 1]",
        "$[?@.a == 1e400]",
        "$[?@.a == 1.]",
        "$[?@.a == .5]",
        "$[?@.a == 01]",
        "$[?@.a == 1e]",
        "$[?@.a == +1]",
        "$[?@.a == True]",
        "$[?(@.a]",
        "$[?@.a)]",
        "$[?length(@)]",
        "$[?length(@.*) > 1]",
        "$[?length(@, @) > 1]",
        "$[?length() > 1]",
        "$[?count(1) == 1]",
        "$[?count(@.a == 1) == 1]",
        "$[?value(@.*)]",
        "$[?match(@, 'a') == true]",
        "$[?match(@)]",
        "$[?match(@.*, 'a')]",
        "$[?foo(@)]",
        "$[?Length(@) == 1]",
        "$[?length (@) == 1]",
        "$[\"\\'\"]",
        "$['\\\"']",
        "$['\\x']",
        "$['\\u00']",
        "$['\\u00g0']",
        "$['\\uD83D']",
        "$['\\uDE00']",
        "$['\\uD83D\\u0041']",
        "$['a\u{1}']",
        "$['a\n']",
        "$.a\u{0}",
    ] {
        assert_eq!(parse(path).err(), Some(PathError::Invalid), "{path:?} should be invalid");
    }
}

#[test]
fn slices_indexes_and_names() {
    assert_eq!(selectors("$[1:2:3]"), [Selector::Slice { start: Some(1), end: Some(2), step: Some(3) }]);
    assert_eq!(selectors("$[::-1]"), [Selector::Slice { start: None, end: None, step: Some(-1) }]);
    assert_eq!(selectors("$[ -3 :]"), [Selector::Slice { start: Some(-3), end: None, step: None }]);
    assert_eq!(selectors("$[-3]"), [Selector::Index(-3)]);
    assert_eq!(selectors("$[*,0,'a']"), [Selector::Wildcard, Selector::Index(0), Selector::Name("a".into())]);
    assert_eq!(selectors("$['\\uD83D\\uDE00\\'\"\\n']"), [Selector::Name("\u{1F600}'\"\n".into())]);
    assert_eq!(selectors("$.é"), [Selector::Name("é".into())]);
    let query = ok("$..a[0]");
    assert!(query.segments[0].descendant && !query.segments[1].descendant);
}

#[test]
fn filters_and_functions_are_typed() {
    let compared = selectors("$[?length(@.a) >= 2]");
    let [Selector::Filter(Logical::Compare(comparison))] = compared.as_slice() else { panic!("a comparison") };
    let Comparable::Function(function) = &comparison.left else { panic!("a function") };
    assert_eq!(
        **function,
        Function::Length(Comparable::Singular(SingularQuery { root: false, segments: vec![Step::Name("a".into())] }))
    );
    assert_eq!(comparison.op, CompareOp::Ge);
    assert_eq!(comparison.right, Comparable::Literal(Value::from(2.0)));
    let logical = selectors("$[?@.a || @.b && !@.c]");
    let [Selector::Filter(Logical::Or(terms))] = logical.as_slice() else { panic!("an or") };
    assert!(matches!(&terms[1], Logical::And(and) if matches!(and[1], Logical::Not(_))));
    assert!(parse("$[?match(@, 'a')]").is_ok_and(|p| p.uses_regex));
    assert!(parse("$[?@.match]").is_ok_and(|p| !p.uses_regex));
}

#[test]
fn nesting_and_length_limits() {
    let parens = |n: usize| format!("$[?{}@{}]", "(".repeat(n), ")".repeat(n));
    assert!(parse(&parens(MAX_PATH_NESTING - 1)).is_ok());
    assert_eq!(parse(&parens(MAX_PATH_NESTING)).err(), Some(PathError::Invalid));
    let functions = |n: usize| format!("$[?{}@.a{} == 1]", "length(".repeat(n), ")".repeat(n));
    assert!(parse(&functions(20)).is_ok());
    assert_eq!(parse(&functions(MAX_PATH_NESTING)).err(), Some(PathError::Invalid));
    let filters = |n: usize| format!("${}{}", "[?@".repeat(n), "]".repeat(n));
    assert!(parse(&filters(MAX_PATH_BRACKETS)).is_ok());
    assert_eq!(parse(&filters(MAX_PATH_BRACKETS + 1)).err(), Some(PathError::Invalid));
    // Sequential brackets do not nest.
    assert!(parse(&format!("${}", "[0]".repeat(1000))).is_ok());
    let long = format!("${}", ".a".repeat(MAX_PATH_BYTES / 2));
    assert_eq!(parse(&long).err(), Some(PathError::TooLong));
    assert!(parse(&long[..MAX_PATH_BYTES - 1]).is_ok());
    assert_eq!(parse(&format!("{}é", &long[..MAX_PATH_BYTES - 1])).err(), Some(PathError::TooLong));
    // Too deep is invalid however long the path is; malformed early too.
    assert_eq!(parse(&parens(100_000)).err(), Some(PathError::Invalid));
    assert_eq!(parse(&format!("$.1{long}")).err(), Some(PathError::Invalid));
    assert_eq!(parse(&format!("$['{}']", "a".repeat(MAX_PATH_BYTES))).err(), Some(PathError::TooLong));
}

/// Fragments of JSONPath, valid and not, for soups of tokens.
const FRAGMENTS: &[&str] = &[
    "$",
    "@",
    ".",
    "..",
    "*",
    "[",
    "]",
    "?",
    "(",
    ")",
    ",",
    ":",
    "-1",
    "0",
    "1",
    "01",
    "-0",
    "1.5",
    "1e3",
    "a",
    "b",
    "'a'",
    "\"b\"",
    "'",
    "\\",
    "==",
    "!=",
    "<",
    ">=",
    "<=",
    "&&",
    "||",
    "!",
    "length(",
    "count(",
    "value(",
    "match(",
    "search(",
    "'[ab]'",
    "true",
    "null",
    " ",
    "$..*",
    "[?@",
    "[?(@",
    ".a",
    "['a\\'']",
    "'\\u00e9'",
    "_",
    "é",
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]

    /// The parser accepts exactly what `serde_json_path` accepts, but for
    /// blank space before a descendant segment, which RFC 9535 allows
    /// (`segments = *(S segment)`) and it does not.
    #[test]
    fn accepts_what_serde_json_path_accepts(
        parts in proptest::collection::vec(proptest::sample::select(FRAGMENTS), 1..12),
        in_filter: bool,
    ) {
        let soup = parts.concat();
        let path = if in_filter { format!("$[?{soup}]") } else { format!("${soup}") };
        let blank_before_descendant = ["\t..", "\n..", "\r..", " .."].iter().any(|b| path.contains(b));
        let reference = serde_json_path::JsonPath::parse(&path).is_ok();
        if !blank_before_descendant {
            proptest::prop_assert_eq!(parse(&path).is_ok(), reference, "{:?}", path);
        }
    }
}
