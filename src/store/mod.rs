//! The store: the single owner of every key (and, through it, of sessions
//! and their timers). [`Store::execute`] runs one validated command and
//! writes its reply.
//!
//! Must not touch: sockets, mio, the clock (time is passed in), JSON syntax
//! (the reply writer of [`crate::protocol`] owns that). Not thread-safe by
//! design: one owner, one thread, no locks.

mod info;
mod kv;

use std::borrow::Cow;
use std::collections::HashSet;
use std::time::Instant;

pub use info::{LastSave, ServerInfo, Stats};
pub use kv::{Entry, KeyHasher, KeyMap};

use crate::protocol::{Command, Reply, Status, Verb};

/// Every key ndb holds.
#[derive(Debug)]
pub struct Store {
    kv: KeyMap,
    info: info::Info,
}

impl Store {
    /// An empty store.
    pub fn new(info: ServerInfo) -> Store {
        Store { kv: KeyMap::new(), info: info::Info::new(info) }
    }

    /// Notes the server's first turn, from which `SV_INFO` counts uptime.
    /// Later calls change nothing.
    pub fn start(&mut self, now: Instant) {
        self.info.started.get_or_insert(now);
    }

    /// The counters `SV_INFO` reports.
    pub fn stats(&self) -> Stats {
        self.info.stats
    }

    /// The counters, for the server to count connections and requests.
    pub fn stats_mut(&mut self) -> &mut Stats {
        &mut self.info.stats
    }

    /// Records the outcome of a save, for `SV_INFO`'s `lastSave`.
    pub fn record_save(&mut self, save: LastSave) {
        self.info.last_save = Some(save);
    }

    /// Live sessions, as `SV_INFO` reports them. The store holds no
    /// session table yet, so this is 0.
    pub fn session_count(&self) -> usize {
        0
    }

    /// The top-level keys.
    pub fn kv(&self) -> &KeyMap {
        &self.kv
    }

    /// The top-level keys, for loading.
    pub fn kv_mut(&mut self) -> &mut KeyMap {
        &mut self.kv
    }

    /// Runs `command` at time `now` and writes its reply.
    pub fn execute(&mut self, command: Command<'_>, now: Instant, reply: &mut Reply<'_>) {
        let verb = command.verb();
        match command {
            Command::KvSet(pairs) => {
                for (key, value) in &pairs {
                    self.kv.set(key, value.get());
                }
                reply.status(verb, Status::Ok);
            }
            Command::KvAdd(pairs) => {
                for (key, value) in &pairs {
                    self.kv.add(key, value.get());
                }
                reply.status(verb, Status::Ok);
            }
            Command::KvClearSet(pairs) => {
                let removed = self.kv.clear();
                for (key, value) in &pairs {
                    self.kv.set(key, value.get());
                }
                count(reply, verb, removed);
            }
            Command::KvGet(names) => {
                let kv = &self.kv;
                reply.object(verb, |o| {
                    let found = first_occurrences(&names).filter_map(|name| kv.get(name));
                    o.members("keys", found.map(Entry::member_json)).st(Status::Ok);
                });
            }
            Command::KvRmv(names) => {
                for name in &names {
                    self.kv.remove(name);
                }
                reply.status(verb, Status::Ok);
            }
            Command::KvClear => {
                let removed = self.kv.clear();
                count(reply, verb, removed);
            }
            Command::KvContains(names) => {
                let kv = &self.kv;
                reply.object(verb, |o| {
                    let found = names.iter().filter_map(|name| kv.get(name));
                    o.array("contains", found.map(Entry::key_json)).st(Status::Ok);
                });
            }
            Command::KvCount => count(reply, verb, self.kv.len()),
            Command::KvKeys => {
                let kv = &self.kv;
                reply.object(verb, |o| {
                    o.array("keys", kv.entries().map(Entry::key_json)).st(Status::Ok);
                });
            }
            Command::SvInfo => {
                let counts = info::Counts { keys: self.kv.len(), sessions: self.session_count() };
                self.info.write(reply, counts, now);
            }
        }
    }
}

/// `{"<verb>_RSP":{"cnt":n,"st":1}}`
fn count(reply: &mut Reply<'_>, verb: Verb, n: usize) {
    reply.object(verb, |o| {
        o.u64("cnt", n as u64).st(Status::Ok);
    });
}

/// The names in order, each only at its first occurrence.
fn first_occurrences<'n>(names: &'n [Cow<'_, str>]) -> impl Iterator<Item = &'n str> {
    const LINEAR_SCAN_MAX: usize = 16;
    let mut seen = (names.len() > LINEAR_SCAN_MAX).then(|| HashSet::with_capacity(names.len()));
    names.iter().enumerate().filter_map(move |(i, name)| {
        let first = match &mut seen {
            Some(seen) => seen.insert(name.as_ref()),
            None => !names[..i].contains(name),
        };
        first.then_some(name.as_ref())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Protocol, decode};

    fn run(store: &mut Store, request: &str) -> String {
        let mut out = Vec::new();
        let mut reply = Reply::new(&mut out, Protocol::V07);
        match decode(request) {
            Ok(cmd) => store.execute(cmd, Instant::now(), &mut reply),
            Err(rejection) => reply.rejection(&rejection),
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_session_of_kv_commands() {
        let mut store = Store::new(ServerInfo { persist_enabled: true, persist_path: "d".into() });
        let rows = [
            (r#"{"KV_SET":{"keys":{"a":1,"b":{"x":[true,null]},"c":"s"}}}"#, r#"{"KV_SET_RSP":{"st":1}}"#),
            (
                r#"{"KV_GET":{"keys":["b","zz","a","b"]}}"#,
                r#"{"KV_GET_RSP":{"keys":{"b":{"x":[true,null]},"a":1},"st":1}}"#,
            ),
            (r#"{"KV_ADD":{"keys":{"a":2,"d":4}}}"#, r#"{"KV_ADD_RSP":{"st":1}}"#),
            (r#"{"KV_GET":{"keys":["a","d"]}}"#, r#"{"KV_GET_RSP":{"keys":{"a":1,"d":4},"st":1}}"#),
            (
                r#"{"KV_CONTAINS":{"keys":["d","x","a","d",7]}}"#,
                r#"{"KV_CONTAINS_RSP":{"contains":["d","a","d"],"st":1}}"#,
            ),
            (r#"{"KV_COUNT":{}}"#, r#"{"KV_COUNT_RSP":{"cnt":4,"st":1}}"#),
            (r#"{"KV_RMV":{"keys":["b","nope"]}}"#, r#"{"KV_RMV_RSP":{"st":1}}"#),
            (r#"{"KV_KEYS":{}}"#, r#"{"KV_KEYS_RSP":{"keys":["a","d","c"],"st":1}}"#),
            (r#"{"KV_CLEAR_SET":{"keys":{"q\"":1}}}"#, r#"{"KV_CLEAR_SET_RSP":{"cnt":3,"st":1}}"#),
            (r#"{"KV_KEYS":{}}"#, r#"{"KV_KEYS_RSP":{"keys":["q\""],"st":1}}"#),
            (r#"{"KV_CLEAR":{}}"#, r#"{"KV_CLEAR_RSP":{"cnt":1,"st":1}}"#),
            (r#"{"KV_KEYS":{}}"#, r#"{"KV_KEYS_RSP":{"keys":[],"st":1}}"#),
            (r#"{"KV_GET":{"keys":[]}}"#, r#"{"KV_GET_RSP":{"keys":{},"st":1}}"#),
        ];
        for (request, expected) in rows {
            assert_eq!(run(&mut store, request), expected, "{request}");
        }
    }

    #[test]
    fn first_occurrences_dedupes_small_and_large_lists() {
        let small: Vec<Cow<'_, str>> = ["a", "b", "a", "c", "b"].map(Cow::Borrowed).to_vec();
        assert_eq!(first_occurrences(&small).collect::<Vec<_>>(), ["a", "b", "c"]);
        let large: Vec<Cow<'_, str>> = (0..100).map(|i| Cow::Owned(format!("k{}", i % 30))).collect();
        let got: Vec<&str> = first_occurrences(&large).collect();
        assert_eq!(got.len(), 30);
        assert_eq!(got[29], "k29");
    }
}
