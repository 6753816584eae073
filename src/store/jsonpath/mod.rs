//! The commands that look inside stored values: `KV_FIND`, `KV_UPDATE` and
//! `KV_ARR_APPEND`, with JSONPath as RFC 9535 defines it, parsed
//! (`parse.rs` into `syntax.rs`) and evaluated (`eval.rs`) by ndb itself
//! under a cost budget (`budget.rs`, `regex.rs`).
//!
//! Why its own evaluator: the `serde_json_path` crate ndb used first
//! evaluates eagerly into vectors, with no way to count or stop its work
//! from outside, and compiles a `match()`/`search()` pattern again for
//! every node. A 130-byte path of repeated multi-index selectors grew its
//! lists eightfold per segment (seconds and a GiB on the loop), and one
//! pathological pattern over 2,000 strings froze every client for 20 s.
//! Here every step is paid for before it is taken, lists never outgrow
//! their limit, each pattern is compiled once per command with a size
//! limit on its program, and a command over its budget answers 202 having
//! changed nothing. `serde_json_path` remains a dev-dependency: the tests
//! check that both give the same answers.
//!
//! Values stay stored as raw JSON text. These commands parse only the
//! values they touch, one at a time, into a `serde_json::Value` to query
//! (`text.rs`); an edit splices new text into the old (`edit.rs`), so what
//! it does not change stays byte for byte as the client sent it.
//!
//! Where each command runs, so that no loop turn does much of it:
//!
//! - `KV_FIND` over every key is a scan. A search of at most
//!   [`FIND_INLINE_MAX_BYTES`] of values without `match()`/`search()` is
//!   tried on the loop, within [`LOOP_STEPS`]; any other becomes a job like
//!   a save (see `jobs.rs`): over every key, the map is snapshotted in steps
//!   of [`super::SNAPSHOT_KEYS_PER_STEP`] keys per turn; the save thread
//!   searches and writes the reply, and the loop sends it, in order, when
//!   it is done. A search that runs out of its loop allowance starts again
//!   as a job. A `KV_FIND` with `keys` looks the keys up on the loop (as
//!   `KV_GET` does) and hands those entries to the job. Off the loop a
//!   search stops at its time limit (203) or when its connection closes.
//! - `KV_UPDATE` and `KV_ARR_APPEND` run on the loop when the value, the
//!   new value and the request's input are at most
//!   [`EDIT_INLINE_MAX_BYTES`] and the path fits [`LOOP_STEPS`] without a
//!   regular expression; otherwise the edit is computed on the save thread
//!   from the entry as it was, and stored only if the key still holds that
//!   entry when the result comes back (see [`MAX_EDIT_ATTEMPTS`]).
//!
//! Paths longer than [`MAX_PATH_BYTES`] are refused (202) without being
//! parsed; parsing any other is linear in its length.
//!
//! Must not touch: threads, files, sockets, the clock (but the CPU clock of
//! the thread doing work off the loop, which `budget.rs` reads for the
//! time limit).

mod budget;
mod edit;
mod eval;
mod find;
mod parse;
#[cfg(feature = "regex")]
mod regex;
#[cfg(not(feature = "regex"))]
#[path = "no_regex.rs"]
mod regex;
mod syntax;
mod text;

use std::sync::Arc;
use std::time::Duration;

use budget::{Budget, Stop, Watch};
pub use budget::{RESULTS_BASE, STEPS_BASE, STEPS_PER_BYTE};
pub use edit::{EDIT_INLINE_MAX_BYTES, EditDone, EditJob};
use edit::{Edit, Refused};
pub use find::FindJob;
pub use parse::{MAX_PATH_BRACKETS, MAX_PATH_BYTES, MAX_PATH_NESTING};
use parse::{Parsed, PathError};
pub use regex::{MAX_REGEXES, REGEX_PROGRAM_BYTES};

use super::{Executed, Finished, Job, Store, Work, first_occurrences};
use crate::persist::wal::Scope;
use crate::protocol::{ArrAppend, Find, Reply, Status, Update, Verb};

/// The most value text a `KV_FIND` searches on the loop, in bytes
/// (counting each key with its value): more goes to the save thread. A
/// search costs about 6 µs per KB of small values (`benches/jsonpath.rs`:
/// 0.20 ms for 700 keys, 31.5 KB), so one on the loop takes at most about
/// 0.2 ms plus its path's evaluation, itself at most [`LOOP_STEPS`].
pub const FIND_INLINE_MAX_BYTES: usize = 32 * 1024;

/// Most keys a `KV_FIND` over every key searches on the loop; a larger map
/// goes to the save thread without its values being measured.
const FIND_INLINE_MAX_KEYS: usize = 1024;

/// JSONPath steps a command may take on the loop, over every value it
/// looks at, before it moves to the save thread: 1 to 3 ms of evaluation
/// (a step takes 15 to 55 ns, `eval::tests::step_cost`), well within the
/// 10 ms turn budget. Real paths on small values take a few hundred steps.
pub const LOOP_STEPS: u64 = 50_000;

/// How many times an edit computed off the loop is computed again when
/// the key changed meanwhile, before the command gives up with 201 (Busy):
/// only a key rewritten by other clients faster than the save thread can
/// compute its edit meets it.
pub const MAX_EDIT_ATTEMPTS: u32 = 3;

/// How much CPU time a search (or an edit's path evaluation) may take on
/// the save thread by default: past it the command answers 203
/// (TimedOut). A search of a million small values takes about 0.3 s.
pub const DEFAULT_SEARCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The `m` of a 201 reply.
const BUSY: &str = "key kept changing";

/// A JSONPath expression, parsed and ready to evaluate under the budget
/// `KV_FIND` and `KV_UPDATE` use. For tools and fuzzing; the commands
/// themselves take paths as text.
#[derive(Debug, Clone)]
pub struct JsonPath(Arc<Parsed>);

/// Why a [`JsonPath`] was refused or its evaluation stopped, as the
/// commands would answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRefused {
    /// Not valid JSONPath, or nested too deeply: status 4.
    Invalid,
    /// Longer than [`MAX_PATH_BYTES`], or its evaluation went over budget:
    /// status 202.
    OverBudget,
    /// The value is not JSON, or nested too deeply to query.
    Unreadable,
}

/// What evaluating a [`JsonPath`] on one value took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The normalized paths of the nodes selected, each once, or why not.
    pub paths: Result<Vec<String>, PathRefused>,
    /// Steps taken.
    pub steps: u64,
    /// Steps the value's budget allowed.
    pub step_limit: u64,
}

impl JsonPath {
    /// `path` parsed.
    ///
    /// # Errors
    /// [`PathRefused::Invalid`] or [`PathRefused::OverBudget`] (too long),
    /// as `KV_FIND` would answer.
    pub fn parse(path: &str) -> Result<JsonPath, PathRefused> {
        match parse::parse(path) {
            Ok(parsed) => Ok(JsonPath(Arc::new(parsed))),
            Err(PathError::Invalid) => Err(PathRefused::Invalid),
            Err(PathError::TooLong) => Err(PathRefused::OverBudget),
        }
    }

    /// Evaluates the path on the JSON text `value` as `KV_FIND` with
    /// `rsp:"paths"` does off the loop (no time limit).
    pub fn evaluate(&self, value: &str) -> Evaluation {
        let step_limit = STEPS_BASE.saturating_add(STEPS_PER_BYTE.saturating_mul(value.len() as u64));
        let Some(parsed) = text::parse(value) else {
            return Evaluation { paths: Err(PathRefused::Unreadable), steps: 0, step_limit };
        };
        let mut budget = Budget::off_loop(Watch::default());
        let mut regexes = regex::Regexes::default();
        let paths = budget.start_value(value.len()).and_then(|()| {
            let selection = eval::select(&self.0.query, &parsed, usize::MAX, true, &mut budget, &mut regexes)?;
            let mut paths = Vec::new();
            for node in selection.distinct() {
                let elements = selection.path_of(&node);
                budget.spend(elements.len() as u64)?;
                let mut normalized = String::new();
                text::write_normalized(&mut normalized, &elements);
                paths.push(normalized);
            }
            Ok(paths)
        });
        let paths = paths.map_err(|_| PathRefused::OverBudget);
        Evaluation { paths, steps: budget.used(), step_limit }
    }
}

/// The `m` of the 14 (CommandDisabled) a path calling `match()` or
/// `search()` gets from a build without the `regex` feature.
const NO_REGEX: &str = "match() and search() are not in this build";

/// `path` parsed, or the status to answer.
fn compile(path: &str) -> Result<Arc<Parsed>, Status> {
    match parse::parse(path) {
        Ok(parsed) if parsed.uses_regex && !cfg!(feature = "regex") => Err(Status::CommandDisabled),
        Ok(parsed) => Ok(Arc::new(parsed)),
        Err(PathError::Invalid) => Err(Status::PathInvalid),
        Err(PathError::TooLong) => Err(Status::OverBudget),
    }
}

impl Store {
    /// Sets the largest value, in bytes, that `KV_UPDATE` and
    /// `KV_ARR_APPEND` may leave behind (the server sets it to its
    /// `maxPayload`, the largest value one `KV_SET` can store).
    pub fn set_max_value_bytes(&mut self, bytes: usize) {
        self.max_value_bytes = bytes;
    }

    /// Sets how much CPU time a search may take on the save thread
    /// (`None`: no limit); default [`DEFAULT_SEARCH_TIMEOUT`].
    pub fn set_search_timeout(&mut self, timeout: Option<Duration>) {
        self.search_timeout = timeout;
    }

    /// `KV_FIND`: answered now, or made a job when the search is large or
    /// its path costly.
    pub(super) fn find(&mut self, find: Find<'_>, reply: &mut Reply<'_>) -> Executed {
        let verb = Verb::KvFind;
        let path = match compile(&find.path) {
            Ok(path) => path,
            Err(Status::OverBudget) => {
                reply.error(verb, Status::OverBudget, find::OVER_BUDGET);
                return Executed::Replied;
            }
            Err(Status::CommandDisabled) => {
                reply.error(verb, Status::CommandDisabled, NO_REGEX);
                return Executed::Replied;
            }
            Err(status) => {
                reply.status(verb, status);
                return Executed::Replied;
            }
        };
        let (protocol, time_limit) = (reply.protocol(), self.search_timeout);
        let job = |entries| FindJob {
            path: path.clone(),
            rsp: find.rsp,
            protocol,
            entries,
            time_limit,
            cancel: Arc::default(),
        };
        let entries = match &find.keys {
            Some(names) => first_occurrences(names).filter_map(|name| self.kv.get(name).cloned()).collect(),
            None if self.kv.len() > FIND_INLINE_MAX_KEYS || path.uses_regex => {
                let job = job(Vec::new());
                return self.queue_kv_find(job, reply);
            }
            None => self.kv.snapshot(),
        };
        let bytes: usize = entries.iter().map(|e| e.member_json().len()).sum();
        if !path.uses_regex && bytes <= FIND_INLINE_MAX_BYTES {
            match find::search(&entries, &path, find.rsp, &mut Budget::on_loop(LOOP_STEPS)) {
                Ok(found) => {
                    find::write_reply(&entries, &found, find.rsp, reply);
                    return Executed::Replied;
                }
                Err(Stop::Yield) => {}
                Err(stop) => {
                    find::stopped_reply(verb, stop, reply);
                    return Executed::Replied;
                }
            }
        }
        let job = job(entries);
        self.queue_job(Job { verb, name: String::new(), work: Work::Find(job) }, reply)
    }

    /// `KV_UPDATE`: `{"cnt":n,"st":1}`; 22 for a missing key, 4 for a
    /// malformed path, 42 when the new value would be too large, 1000 for a
    /// value nested too deeply to query, each with `cnt` 0; 202 past the
    /// budget, 203 past the time limit.
    pub(super) fn update(&mut self, update: Update<'_>, reply: &mut Reply<'_>) -> Executed {
        let verb = Verb::KvUpdate;
        let Some(entry) = self.kv.get(&update.key).cloned() else {
            edit_status(reply, verb, Status::KeyNotExist);
            return Executed::Replied;
        };
        let path = match compile(&update.path) {
            Ok(path) => path,
            Err(status) => {
                edit_status(reply, verb, status);
                return Executed::Replied;
            }
        };
        let edit = Edit::Update { path, value: update.value.get().to_owned() };
        self.edit(verb, update.key.into_owned(), entry, edit, reply)
    }

    /// `KV_ARR_APPEND`: `{"st":1}`; 22 for a missing key, 1000 when the
    /// target is not an array, 42 when the new value would be too large.
    pub(super) fn arr_append(&mut self, append: ArrAppend<'_>, reply: &mut Reply<'_>) -> Executed {
        let verb = Verb::KvArrAppend;
        let Some(entry) = self.kv.get(&append.key).cloned() else {
            reply.status(verb, Status::KeyNotExist);
            return Executed::Replied;
        };
        let items = edit::join(append.items.iter().map(|item| item.get()));
        let edit = Edit::Append { name: append.name.map(|n| n.into_owned()), items };
        self.edit(verb, append.key.into_owned(), entry, edit, reply)
    }

    /// Makes an edit: at once if it fits the loop, as a job otherwise.
    fn edit(&mut self, verb: Verb, key: String, entry: super::Entry, edit: Edit, reply: &mut Reply<'_>) -> Executed {
        let job = EditJob {
            key,
            entry,
            edit,
            max_bytes: self.max_value_bytes,
            time_limit: self.search_timeout,
            id: 0,
            attempts: 0,
        };
        if job.fits_loop() {
            let result = job.compute(&mut Budget::on_loop(LOOP_STEPS), true);
            if result != Err(Refused::Stopped(Stop::Yield)) {
                let finished = self.apply_edit(verb, EditDone::new(job, result), reply);
                debug_assert_eq!(
                    finished,
                    Finished::Replied,
                    "an edit on the loop sees the entry it was computed from"
                );
                return Executed::Replied;
            }
        }
        self.queue_edit(verb, job, reply)
    }

    /// Stores a computed edit and writes its reply, if the key still holds
    /// the entry it was computed from; otherwise queues it again
    /// ([`Finished::Requeued`]: no reply yet) or, after
    /// [`MAX_EDIT_ATTEMPTS`], answers 201. While a load merges, "the entry"
    /// is the one the store's view holds (`kv/merge.rs`): a load that takes
    /// effect meanwhile and sets the key changes it; moving loaded keys in
    /// does not (the same allocation moves).
    pub(super) fn apply_edit(&mut self, verb: Verb, done: EditDone, reply: &mut Reply<'_>) -> Finished {
        let EditDone { mut job, result } = done;
        let Some(current) = self.kv.get(&job.key) else {
            edit_status(reply, verb, Status::KeyNotExist);
            return Finished::Replied;
        };
        if !current.is(&job.entry) {
            job.attempts += 1;
            if job.attempts >= MAX_EDIT_ATTEMPTS {
                edit_status(reply, verb, Status::Busy);
                return Finished::Replied;
            }
            job.entry = current.clone();
            self.requeue_edit(verb, job);
            return Finished::Requeued;
        }
        if let Err(Refused::Unreadable) = result {
            log::debug!("{}: the value of {:?} is nested too deeply to query", verb.name(), job.key);
        }
        let count = result.map(|(count, new)| {
            if let Some(new) = new {
                self.journal.set_entry(Scope::Kv, &new);
                // Over a key the store holds (looked up above): never refused.
                let stored = self.kv.set_entry(new);
                debug_assert!(stored, "an edit replaces a key held");
            }
            count
        });
        edit_reply(reply, verb, count);
        Finished::Replied
    }
}

/// The reply of an edit that was made (the nodes it selected) or refused.
fn edit_reply(reply: &mut Reply<'_>, verb: Verb, result: Result<usize, Refused>) {
    match result {
        Ok(count) => edit_count(reply, verb, count, Status::Ok),
        Err(Refused::NotArray | Refused::Unreadable) => edit_status(reply, verb, Status::Unknown),
        Err(Refused::TooLarge) => edit_status(reply, verb, Status::ValueSize),
        Err(Refused::Stopped(stop)) => find::stopped_reply(verb, stop, reply),
    }
}

/// The reply of an edit with `status`: `KV_UPDATE` with `cnt` 0,
/// `KV_ARR_APPEND` with `st` alone; 14, 201 and 202 in the shape of KV
/// errors.
fn edit_status(reply: &mut Reply<'_>, verb: Verb, status: Status) {
    match status {
        Status::Busy => reply.error(verb, status, BUSY),
        Status::OverBudget => reply.error(verb, status, find::OVER_BUDGET),
        Status::CommandDisabled => reply.error(verb, status, NO_REGEX),
        _ => edit_count(reply, verb, 0, status),
    }
}

/// `{"KV_UPDATE_RSP":{"cnt":n,"st":N}}` or `{"KV_ARR_APPEND_RSP":{"st":N}}`.
fn edit_count(reply: &mut Reply<'_>, verb: Verb, count: usize, status: Status) {
    match verb {
        Verb::KvUpdate => reply.object(verb, |o| {
            o.u64("cnt", count as u64).st(status);
        }),
        _ => reply.status(verb, status),
    }
}

#[cfg(test)]
mod tests;
