//! RFC 9535's `match()` and `search()` function extensions: whether a
//! string matches an I-Regexp (RFC 9485) in full, or contains a match.
//!
//! `serde_json_path` offers these behind its `regex` feature, which pulls in
//! the `regex` crate with every default feature: the lazy DFA, literal
//! search and all Unicode tables: 860 KB more of `ndb-server` than this
//! module costs, for two functions whose paths never run on the loop anyway (they are costly,
//! see [`super::Compiled::linear`]). So ndb registers its own, with the
//! same semantics, over `regex` built with what I-Regexp needs: Unicode
//! general categories (`\p{Lu}`) and the Perl classes (`\d`, `\w`, `\s`)
//! that the crate's own functions also accept. `(?R)` makes `.` match
//! anything but `\r` and `\n`, as I-Regexp requires.
//!
//! A pattern that is not a valid regular expression, or a first argument
//! that is not a string, makes the function false (RFC 9535, 2.4.6 and
//! 2.4.7).

use serde_json::Value;
use serde_json_path::functions::{LogicalType, ValueType};

/// Whether `value` is a string that `pattern`, anchored at both ends,
/// matches in full.
#[serde_json_path::function(name = "match")]
fn match_function(value: ValueType, pattern: ValueType) -> LogicalType {
    test(&value, &pattern, |pattern| format!("(?R)^({pattern})$"))
}

/// Whether `value` is a string with a substring that `pattern` matches.
#[serde_json_path::function(name = "search")]
fn search_function(value: ValueType, pattern: ValueType) -> LogicalType {
    test(&value, &pattern, |pattern| format!("(?R)({pattern})"))
}

/// Compiles `pattern` as `shape` wraps it and runs it against `value`.
fn test(value: &ValueType, pattern: &ValueType, shape: impl Fn(&str) -> String) -> LogicalType {
    match (value.as_value(), pattern.as_value()) {
        (Some(Value::String(text)), Some(Value::String(pattern))) => {
            regex::Regex::new(&shape(pattern)).is_ok_and(|regex| regex.is_match(text)).into()
        }
        _ => LogicalType::False,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use serde_json_path::JsonPath;

    /// How many of `items` the filter `[?<filter>]` selects.
    fn selected(filter: &str, items: &serde_json::Value) -> usize {
        let path = JsonPath::parse(&format!("$[?{filter}]")).unwrap_or_else(|e| panic!("{filter}: {e}"));
        path.query(items).all().len()
    }

    #[test]
    fn match_is_anchored_and_search_is_not() {
        let items = json!(["abc", "ab", "xabcx", 7, null]);
        assert_eq!(selected("match(@, 'ab.')", &items), 1);
        assert_eq!(selected("search(@, 'ab.')", &items), 2);
        assert_eq!(selected("match(@, 'a|ab')", &items), 1, "the group keeps the anchors on every branch");
    }

    #[test]
    fn dot_matches_neither_carriage_return_nor_line_feed() {
        let items = json!(["a\nb", "a\rb", "a\tb", "a\u{e9}b"]);
        assert_eq!(selected("match(@, 'a.b')", &items), 2);
    }

    #[test]
    fn unicode_categories_work() {
        let items = json!(["Émile", "émile", "42", "٤٢"]);
        assert_eq!(selected(r"match(@, '\\p{Lu}\\p{Ll}+')", &items), 1);
        assert_eq!(selected(r"match(@, '\\p{Nd}+')", &items), 2);
        assert_eq!(selected(r"search(@, '\\P{L}')", &items), 2);
    }

    #[test]
    fn invalid_patterns_and_non_strings_are_false() {
        let items = json!(["a(", "a"]);
        assert_eq!(selected("match(@, 'a(')", &items), 0);
        assert_eq!(selected("search(@, '[')", &items), 0);
        assert_eq!(selected("match(@, 1)", &items), 0);
        assert_eq!(selected("search(1, 'a')", &items), 0);
    }
}
