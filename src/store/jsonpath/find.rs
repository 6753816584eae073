//! `KV_FIND`: a JSONPath evaluated against each stored value on its own.
//!
//! The search is a pure function of a list of entries, so it runs the same
//! way on the loop (few or small values, within the loop's allowance of
//! steps) and on the save thread (a scan of a large map, over a snapshot
//! taken in steps; see `jobs.rs`), where it also stops at its time limit
//! or when the connection that asked is gone. Either way its answer is
//! the same: the matches, or 202 when one value's evaluation passes its
//! budget.
//!
//! A value matches when the path selects at least one node in it (the
//! evaluation stops at the first). Values are parsed one at a time, each
//! dropped before the next is parsed.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::budget::{Budget, Stop, Watch};
use super::eval;
use super::parse::Parsed;
use super::regex::Regexes;
use super::text;
use crate::protocol::{FindRsp, Protocol, Reply, Status, Verb};
use crate::store::kv::Entry;

/// A `KV_FIND` to run: the compiled path, what to answer, the entries to
/// search (in the order the reply lists them), its time limit and the flag
/// that says the connection that asked is gone.
#[derive(Debug)]
pub struct FindJob {
    pub(in crate::store) path: Arc<Parsed>,
    pub(in crate::store) rsp: FindRsp,
    pub(in crate::store) protocol: Protocol,
    pub(in crate::store) entries: Vec<Entry>,
    pub(in crate::store) time_limit: Option<Duration>,
    pub(in crate::store) cancel: Arc<AtomicBool>,
}

/// What a search found: the indexes of the matching entries, or the
/// normalized paths of every node selected.
#[derive(Debug, PartialEq)]
pub(super) enum Found {
    Entries(Vec<usize>),
    Paths(Vec<String>),
}

impl FindJob {
    /// Takes the entries it searches (for the thread that ran it to drop
    /// them in steps).
    pub fn take_entries(&mut self) -> Vec<Entry> {
        std::mem::take(&mut self.entries)
    }

    /// Keys it searches.
    pub fn key_count(&self) -> usize {
        self.entries.len()
    }

    /// Whether the connection that asked is gone.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The reply of a search whose connection went away before it started,
    /// which is not run: 203, as if it had stopped at its first step.
    pub fn cancelled_reply(&self) -> Vec<u8> {
        let mut out = Vec::new();
        stopped_reply(Verb::KvFind, Stop::Cancelled, &mut Reply::new(&mut out, self.protocol));
        out
    }

    /// Runs the search (off the loop) and returns the reply document:
    /// `{"KV_FIND_RSP":{…,"st":1}}`, or status 202 or 203.
    pub fn run(&self) -> Vec<u8> {
        let mut budget = Budget::off_loop(Watch::starting(self.time_limit, Some(self.cancel.clone())));
        let mut out = Vec::new();
        let mut reply = Reply::new(&mut out, self.protocol);
        match search(&self.entries, &self.path, self.rsp, &mut budget) {
            Ok(found) => write_reply(&self.entries, &found, self.rsp, &mut reply),
            Err(stop) => stopped_reply(Verb::KvFind, stop, &mut reply),
        }
        log::debug!("KV_FIND took {} JSONPath steps", budget.used());
        out
    }
}

/// Searches `entries` with `path` for what `rsp` asks, within `budget`.
pub(super) fn search(entries: &[Entry], path: &Parsed, rsp: FindRsp, budget: &mut Budget) -> Result<Found, Stop> {
    let mut regexes = Regexes::default();
    match rsp {
        FindRsp::Keys | FindRsp::Kv => {
            let mut matches = Vec::new();
            for (i, entry) in entries.iter().enumerate() {
                let Some((value, bytes)) = value_of(entry) else { continue };
                budget.start_value(bytes)?;
                if !eval::select(&path.query, &value, 1, false, budget, &mut regexes)?.nodes.is_empty() {
                    matches.push(i);
                }
            }
            Ok(Found::Entries(matches))
        }
        FindRsp::Paths => {
            let mut paths = Vec::new();
            for entry in entries {
                let Some((value, bytes)) = value_of(entry) else { continue };
                budget.start_value(bytes)?;
                let selection = eval::select(&path.query, &value, usize::MAX, true, budget, &mut regexes)?;
                for node in selection.distinct() {
                    let elements = selection.path_of(&node);
                    budget.spend(elements.len() as u64)?;
                    let mut normalized = String::new();
                    text::write_normalized(&mut normalized, &elements);
                    paths.push(normalized);
                }
            }
            Ok(Found::Paths(paths))
        }
    }
}

/// Writes what a search found in the form `rsp` asks for: matching keys,
/// their values whole, or the normalized paths of every node selected (no
/// duplicates within one value).
pub(super) fn write_reply(entries: &[Entry], found: &Found, rsp: FindRsp, reply: &mut Reply<'_>) {
    let verb = Verb::KvFind;
    match (found, rsp) {
        (Found::Entries(matches), FindRsp::Kv) => reply.object(verb, |o| {
            o.members("keys", matches.iter().filter_map(|&i| entries.get(i)).map(Entry::member_json)).st(Status::Ok);
        }),
        (Found::Entries(matches), _) => reply.object(verb, |o| {
            o.array("keys", matches.iter().filter_map(|&i| entries.get(i)).map(Entry::key_json)).st(Status::Ok);
        }),
        (Found::Paths(paths), _) => reply.object(verb, |o| {
            o.strs("paths", paths.iter().map(String::as_str)).st(Status::Ok);
        }),
    }
}

/// The reply of a command whose evaluation stopped: 202 past the budget,
/// 203 past the time limit (or when the connection is gone, as no one
/// reads it then).
pub(super) fn stopped_reply(verb: Verb, stop: Stop, reply: &mut Reply<'_>) {
    match stop {
        Stop::OverBudget => reply.error(verb, Status::OverBudget, OVER_BUDGET),
        Stop::TimedOut | Stop::Cancelled => reply.error(verb, Status::TimedOut, TIMED_OUT),
        // Off the loop there is no allowance to run out of.
        Stop::Yield => reply.status(verb, Status::Unknown),
    }
}

/// The `m` of a 202 reply.
pub(super) const OVER_BUDGET: &str = "over budget";

/// The `m` of a 203 reply.
pub(super) const TIMED_OUT: &str = "timed out";

/// The value of `entry`, parsed for querying, and its length; `None` (no
/// match) for a value nested too deeply to query.
fn value_of(entry: &Entry) -> Option<(serde_json::Value, usize)> {
    let text = std::str::from_utf8(entry.value_json()).ok()?;
    Some((text::parse(text)?, text.len()))
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::*;

    fn job(values: &[(&str, &str)], path: &str, rsp: FindRsp) -> FindJob {
        let entries: Vec<Entry> = values.iter().map(|(k, v)| Entry::new(k, v)).collect();
        let path = Arc::new(parse(path).unwrap());
        FindJob { path, rsp, protocol: Protocol::V07, entries, time_limit: None, cancel: Arc::default() }
    }

    fn find(values: &[(&str, &str)], path: &str, rsp: FindRsp) -> String {
        String::from_utf8(job(values, path, rsp).run()).unwrap()
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

    #[test]
    fn a_search_past_its_budget_time_or_connection_stops() {
        let nested = [("n", "[[[[[[[0]]]]]]]")];
        let explosive = format!("${}", "[0,0,0,0,0,0,0,0]".repeat(6));
        for rsp in [FindRsp::Keys, FindRsp::Paths] {
            assert_eq!(find(&nested, &explosive, rsp), r#"{"KV_FIND_RSP":{"m":"over budget","st":202,"tkn":null}}"#);
        }
        let mut slow = job(&[("a", "[1]"), ("b", "[2]")], "$[0]", FindRsp::Keys);
        slow.time_limit = Some(Duration::ZERO);
        assert_eq!(String::from_utf8(slow.run()).unwrap(), r#"{"KV_FIND_RSP":{"m":"timed out","st":203,"tkn":null}}"#);
        let gone = job(&[("a", "[1]")], "$[0]", FindRsp::Keys);
        gone.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(String::from_utf8(gone.run()).unwrap().contains(r#""st":203"#));
    }
}
