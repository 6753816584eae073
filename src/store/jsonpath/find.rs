//! `KV_FIND`: a JSONPath evaluated against each stored value on its own.
//!
//! The search is a pure function of a list of entries, so it runs the same
//! way on the loop (few or small values) and on the save thread (a scan of a
//! large map, over a snapshot taken in steps; see `jobs.rs`). Either way it
//! writes the whole reply document.
//!
//! A value matches when the path selects at least one node in it. Values
//! are parsed one at a time, each dropped before the next is parsed.

use serde_json_path::JsonPath;

use super::text;
use crate::protocol::{FindRsp, Protocol, Reply, Status, Verb};
use crate::store::kv::Entry;

/// A `KV_FIND` to run: the compiled path, what to answer, and the entries
/// to search, in the order the reply lists them.
#[derive(Debug)]
pub struct FindJob {
    pub(in crate::store) path: JsonPath,
    pub(in crate::store) rsp: FindRsp,
    pub(in crate::store) protocol: Protocol,
    pub(in crate::store) entries: Vec<Entry>,
}

impl FindJob {
    /// Keys it searches.
    pub fn key_count(&self) -> usize {
        self.entries.len()
    }

    /// Runs the search and returns the reply document,
    /// `{"KV_FIND_RSP":{…,"st":1}}`.
    pub fn run(&self) -> Vec<u8> {
        let mut out = Vec::new();
        write_reply(&self.entries, &self.path, self.rsp, &mut Reply::new(&mut out, self.protocol));
        out
    }
}

/// Searches `entries` with `path` and writes the reply in the form `rsp`
/// asks for: matching keys, their values whole, or the normalized paths of
/// every node selected (no duplicates within one value).
pub(in crate::store) fn write_reply(entries: &[Entry], path: &JsonPath, rsp: FindRsp, reply: &mut Reply<'_>) {
    let verb = Verb::KvFind;
    let matches = |entry: &&Entry| value_of(entry).is_some_and(|value| !path.query(&value).is_empty());
    match rsp {
        FindRsp::Keys => reply.object(verb, |o| {
            o.array("keys", entries.iter().filter(matches).map(Entry::key_json)).st(Status::Ok);
        }),
        FindRsp::Kv => reply.object(verb, |o| {
            o.members("keys", entries.iter().filter(matches).map(Entry::member_json)).st(Status::Ok);
        }),
        FindRsp::Paths => {
            let mut paths = Vec::new();
            for entry in entries {
                if let Some(value) = value_of(entry) {
                    add_paths(&value, path, &mut paths);
                }
            }
            reply.object(verb, |o| {
                o.strs("paths", paths.iter().map(String::as_str)).st(Status::Ok);
            });
        }
    }
}

/// Appends the normalized path of every node `path` selects in `value`,
/// each once (selectors such as `$['a','a']` select a node twice), in the
/// order the query yields them.
fn add_paths(value: &serde_json::Value, path: &JsonPath, out: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    for location in path.query_located(value).locations() {
        let elements: Vec<_> = location.iter().cloned().collect();
        let mut normalized = String::new();
        text::write_normalized(&mut normalized, &elements);
        if seen.insert(normalized.clone()) {
            out.push(normalized);
        }
    }
}

/// The value of `entry`, parsed for querying; `None` (no match) for a
/// value nested too deeply to query.
fn value_of(entry: &Entry) -> Option<serde_json::Value> {
    text::parse(std::str::from_utf8(entry.value_json()).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(values: &[(&str, &str)], path: &str, rsp: FindRsp) -> String {
        let entries: Vec<Entry> = values.iter().map(|(k, v)| Entry::new(k, v)).collect();
        let job = FindJob { path: JsonPath::parse(path).unwrap(), rsp, protocol: Protocol::V07, entries };
        String::from_utf8(job.run()).unwrap()
    }

    #[test]
    fn each_reply_form() {
        let values = [("a", r#"{"n":1,"tags":["x","y"]}"#), ("b", r#"{"n":5}"#), ("c", "[1,2]")];
        assert_eq!(find(&values, "$.n", FindRsp::Keys), r#"{"KV_FIND_RSP":{"keys":["a","b"],"st":1}}"#);
        assert_eq!(
            find(&values, "$.n", FindRsp::Kv),
            r#"{"KV_FIND_RSP":{"keys":{"a":{"n":1,"tags":["x","y"]},"b":{"n":5}},"st":1}}"#
        );
        assert_eq!(
            find(&values, "$..*", FindRsp::Paths),
            concat!(
                r#"{"KV_FIND_RSP":{"paths":["$['n']","$['tags']","$['tags'][0]","$['tags'][1]","$['n']","#,
                r#""$[0]","$[1]"],"st":1}}"#
            )
        );
        assert_eq!(find(&values, "$.zz", FindRsp::Keys), r#"{"KV_FIND_RSP":{"keys":[],"st":1}}"#);
    }

    #[test]
    fn paths_are_listed_once_per_value() {
        let values = [("a", r#"{"a":1}"#), ("b", r#"{"a":2}"#)];
        assert_eq!(
            find(&values, "$['a','a']", FindRsp::Paths),
            r#"{"KV_FIND_RSP":{"paths":["$['a']","$['a']"],"st":1}}"#
        );
        let many: String = format!("[{}]", vec!["0"; 100].join(","));
        let selectors = ["*"; 3].join(",");
        let reply = find(&[("m", &many)], &format!("$[{selectors}]"), FindRsp::Paths);
        let parsed: serde_json::Value = serde_json::from_str(&reply).unwrap();
        let paths = parsed["KV_FIND_RSP"]["paths"].as_array().unwrap();
        assert_eq!(paths.len(), 100);
        assert_eq!(paths[99], "$[99]");
    }
}
