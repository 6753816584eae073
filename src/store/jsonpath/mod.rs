//! The commands that look inside stored values: `KV_FIND`, `KV_UPDATE` and
//! `KV_ARR_APPEND`, with JSONPath as RFC 9535 defines it (the
//! `serde_json_path` crate parses and evaluates it).
//!
//! Values stay stored as raw JSON text. These commands parse only the
//! values they touch, one at a time, into a `serde_json::Value` to query
//! (`text.rs`); an edit splices new text into the old (`edit.rs`), so what
//! it does not change stays byte for byte as the client sent it.
//!
//! `KV_FIND` over every key is a scan. A search of at most
//! [`FIND_INLINE_MAX_BYTES`] of values with a path whose evaluation is
//! linear ([`Compiled::linear`]) runs at once, on the loop. Any other
//! becomes a job like a save (see `jobs.rs`): over every key, the map is
//! snapshotted in steps of [`super::SNAPSHOT_KEYS_PER_STEP`] keys per turn;
//! the save thread searches and writes the reply, and the loop sends it, in
//! order, when it is done. A `KV_FIND` with `keys` looks the keys up on the
//! loop (as `KV_GET` does) and hands those entries to the job.
//!
//! Paths are measured before they are parsed ([`MAX_PATH_NESTING`],
//! [`MAX_PATH_BRACKETS`]), so that parsing one stays short and within the
//! stack.
//!
//! `KV_UPDATE` and `KV_ARR_APPEND` run on the loop: their cost is that of
//! parsing one value and, for an update, evaluating the path in it.
//!
//! Must not touch: threads, files, sockets, the clock.

mod edit;
mod find;
mod regex;
mod text;

use serde_json_path::JsonPath;

pub use find::FindJob;

use super::{Executed, Job, Store, Work, first_occurrences};
use crate::protocol::{ArrAppend, Find, Reply, Status, Update, Verb};

/// The most value text a `KV_FIND` searches on the loop, in bytes
/// (counting each key with its value): more goes to the save thread. A
/// search costs about 6 µs per KB of small values (`benches/jsonpath.rs`:
/// 0.20 ms for 700 keys, 31.5 KB), so one on the loop takes at most about
/// 0.2 ms.
pub const FIND_INLINE_MAX_BYTES: usize = 32 * 1024;

/// Most keys a `KV_FIND` over every key searches on the loop; a larger map
/// goes to the save thread without its values being measured.
const FIND_INLINE_MAX_KEYS: usize = 1024;

/// Deepest nesting of brackets and parentheses accepted in a JSONPath
/// expression. The parser recurses once per level (a few kilobytes of
/// stack each), so a peer's path of thousands of `(` could otherwise
/// overflow the stack; real paths nest a handful of levels.
pub const MAX_PATH_NESTING: usize = 64;

/// Deepest nesting of brackets (filters within filters) accepted in a
/// JSONPath expression. The parser's time grows about fourfold per level
/// of nested filters (8 levels: about 1 ms, 12: tens of milliseconds), and
/// it runs on the loop; real paths nest two or three.
pub const MAX_PATH_BRACKETS: usize = 8;

/// A JSONPath expression, parsed, and whether evaluating it is cheap.
pub(super) struct Compiled {
    pub path: JsonPath,
    /// Whether evaluating it costs about one visit per node of the value:
    /// no filter inside a filter, no descendant segment inside a filter,
    /// at most one descendant segment, no `match()` or `search()` (which
    /// compile their regular expression for every node they test). Paths
    /// that are not linear are never searched on the loop.
    pub linear: bool,
}

/// `path` parsed, or `None` if it is not a valid JSONPath (status 4) or
/// nests deeper than [`MAX_PATH_NESTING`] or [`MAX_PATH_BRACKETS`].
pub(super) fn compile(path: &str) -> Option<Compiled> {
    let shape = Shape::of(path);
    if shape.nesting > MAX_PATH_NESTING || shape.brackets > MAX_PATH_BRACKETS {
        return None;
    }
    let linear = shape.brackets <= 1 && shape.descendants <= 1 && !shape.descends_in_filter && !shape.regex;
    JsonPath::parse(path).ok().map(|path| Compiled { path, linear })
}

/// What a JSONPath's text says about its cost, read before it is parsed
/// (outside string literals; an invalid path is measured as far as it
/// goes and then refused by the parser).
#[derive(Debug, Default, PartialEq, Eq)]
struct Shape {
    /// Deepest nesting of `(` and `[` together.
    nesting: usize,
    /// Deepest nesting of `[`.
    brackets: usize,
    /// Descendant segments (`..`).
    descendants: usize,
    /// Whether a descendant segment sits inside brackets (a filter).
    descends_in_filter: bool,
    /// Whether it calls `match` or `search`.
    regex: bool,
}

impl Shape {
    fn of(path: &str) -> Shape {
        let mut shape = Shape::default();
        let (mut parens, mut brackets) = (0usize, 0usize);
        let mut quote = None;
        let mut escaped = false;
        let mut after_dot = false;
        for (i, c) in path.char_indices() {
            if let Some(q) = quote {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
                continue;
            }
            match c {
                '\'' | '"' => quote = Some(c),
                '(' => {
                    parens += 1;
                    let before = &path[..i];
                    shape.regex |= before.ends_with("match") || before.ends_with("search");
                }
                '[' => {
                    brackets += 1;
                    shape.brackets = shape.brackets.max(brackets);
                }
                ')' => parens = parens.saturating_sub(1),
                ']' => brackets = brackets.saturating_sub(1),
                '.' if after_dot => {
                    shape.descendants += 1;
                    shape.descends_in_filter |= brackets > 0;
                    after_dot = false;
                    continue;
                }
                _ => {}
            }
            after_dot = c == '.';
            shape.nesting = shape.nesting.max(parens + brackets);
        }
        shape
    }
}

impl Store {
    /// Sets the largest value, in bytes, that `KV_UPDATE` and
    /// `KV_ARR_APPEND` may leave behind (the server sets it to its
    /// `maxPayload`, the largest value one `KV_SET` can store).
    pub fn set_max_value_bytes(&mut self, bytes: usize) {
        self.max_value_bytes = bytes;
    }

    /// `KV_FIND`: answered now, or made a job when the search is large or
    /// its path costly.
    pub(super) fn find(&mut self, find: Find<'_>, reply: &mut Reply<'_>) -> Executed {
        let verb = Verb::KvFind;
        let Some(Compiled { path, linear }) = compile(&find.path) else {
            reply.status(verb, Status::PathInvalid);
            return Executed::Replied;
        };
        let protocol = reply.protocol();
        let entries = match &find.keys {
            Some(names) => first_occurrences(names).filter_map(|name| self.kv.get(name).cloned()).collect(),
            None if self.kv.len() > FIND_INLINE_MAX_KEYS || !linear => {
                let job = FindJob { path, rsp: find.rsp, protocol, entries: Vec::new() };
                return self.queue_kv_find(job);
            }
            None => self.kv.snapshot(),
        };
        let bytes: usize = entries.iter().map(|e| e.member_json().len()).sum();
        if linear && bytes <= FIND_INLINE_MAX_BYTES {
            find::write_reply(&entries, &path, find.rsp, reply);
            return Executed::Replied;
        }
        let job = FindJob { path, rsp: find.rsp, protocol, entries };
        self.queue_job(Job { verb, name: String::new(), work: Work::Find(job) })
    }

    /// `KV_UPDATE`: `{"cnt":n,"st":1}`; 22 for a missing key, 4 for a
    /// malformed path, 42 when the new value would be too large, 1000 for a
    /// value nested too deeply to query, each with `cnt` 0.
    pub(super) fn update(&mut self, update: Update<'_>, reply: &mut Reply<'_>) {
        let verb = Verb::KvUpdate;
        let answer = |reply: &mut Reply<'_>, cnt: usize, status: Status| {
            reply.object(verb, |o| {
                o.u64("cnt", cnt as u64).st(status);
            });
        };
        let Some(entry) = self.kv.get(&update.key).cloned() else {
            return answer(reply, 0, Status::KeyNotExist);
        };
        let Some(Compiled { path, .. }) = compile(&update.path) else {
            return answer(reply, 0, Status::PathInvalid);
        };
        let old = std::str::from_utf8(entry.value_json()).unwrap_or_default();
        match edit::update(old, &path, update.value.get(), self.max_value_bytes) {
            Ok((count, new)) => {
                if let Some(new) = new {
                    self.kv.set(&update.key, &new);
                }
                answer(reply, count, Status::Ok);
            }
            Err(refused) => answer(reply, 0, refused_status(verb, &update.key, refused)),
        }
    }

    /// `KV_ARR_APPEND`: `{"st":1}`; 22 for a missing key, 1000 when the
    /// target is not an array, 42 when the new value would be too large.
    pub(super) fn arr_append(&mut self, append: ArrAppend<'_>, reply: &mut Reply<'_>) {
        let verb = Verb::KvArrAppend;
        let Some(entry) = self.kv.get(&append.key).cloned() else {
            return reply.status(verb, Status::KeyNotExist);
        };
        let old = std::str::from_utf8(entry.value_json()).unwrap_or_default();
        let items: Vec<&str> = append.items.iter().map(|item| item.get()).collect();
        let status = match edit::append(old, append.name.as_deref(), &items, self.max_value_bytes) {
            Ok(new) => {
                if let Some(new) = new {
                    self.kv.set(&append.key, &new);
                }
                Status::Ok
            }
            Err(refused) => refused_status(verb, &append.key, refused),
        };
        reply.status(verb, status);
    }
}

/// The status of an edit that was not made.
fn refused_status(verb: Verb, key: &str, refused: edit::Refused) -> Status {
    match refused {
        edit::Refused::NotArray => Status::Unknown,
        edit::Refused::TooLarge => Status::ValueSize,
        edit::Refused::Unreadable => {
            log::debug!("{}: the value of {key:?} is nested too deeply to query", verb.name());
            Status::Unknown
        }
    }
}

#[cfg(test)]
mod tests;
