//! Writes of many keys applied across turns: a `KV_SET`, `KV_ADD`,
//! `KV_RMV` or `KV_CLEAR_SET` (or the `SH_` form) naming more than
//! [`WRITE_KEYS_PER_STEP`] keys is applied at most that many keys per turn
//! ([`Store::work`]), and answered ([`Store::take_written`]) in the turn
//! its last key is in. The connection that asked waits for the reply as
//! for a job, so its replies stay in order.
//!
//! While one is under way, every later command that is not a read (from
//! any connection), and the write itself while a load is being applied,
//! waits here, parked in arrival order, and the server runs them once the
//! write is done ([`Store::unpark`]); loads, and the snapshots of saves and
//! of log compaction, do not begin or step meanwhile. Reads go on being
//! served, and may see part of the write.
//!
//! The write's changes are recorded in a journal of its own and handed to
//! the durable log as one frame when the write completes, so a replay has
//! all of it or none. A session write whose session is gone between two
//! steps (expired) is answered as for a missing session
//! (`SessionNotExist`) and its records dropped (the session's end is
//! recorded, and its keys went with it); one whose session expired and
//! restarted (`deleteSession: false`, its keys cleared) drops the
//! records of the keys the clear took, so the log says what the store
//! holds.

use std::collections::VecDeque;
use std::time::Instant;

use super::sessions::Touch;
use super::{JobId, KeyMap, Store, count, reclaim};
use crate::auth::Role;
use crate::persist::wal::{Journal, Scope};
use crate::protocol::{Command, CommandName, Decoded, MapOp, Reply, Status, Verb};

/// Most keys a write applies per turn, and the size past which it is
/// applied across turns: 2,048. A key set, added or removed is a lookup
/// and an insert or removal in the map and a record for the log: about
/// 0.5 µs at a million keys, so a step measured 1.2 ms of CPU at most, 2.7
/// ms with an index resize moving buckets (`tests/stepped_writes.rs`'s
/// `write_stalls`, `docs/performance.md`); a few cache misses more a key at
/// ten million keep it well under the 10 ms turn budget. Applied whole, a
/// 16 MiB `KV_SET` into a million keys took a turn of 215 ms.
pub const WRITE_KEYS_PER_STEP: usize = 2_048;

/// Writes under way, parked and done.
#[derive(Debug, Default)]
pub(super) struct Stepping {
    /// The write being applied.
    pub(super) write: Option<Box<Write>>,
    /// Commands waiting for it to be done, in arrival order: each one's
    /// reply id and message (held toward the memory cap until it runs).
    parked: VecDeque<(JobId, Decoded)>,
    /// Writes done, to answer: id, verb, outcome.
    done: VecDeque<(JobId, Verb, Outcome)>,
}

/// How a write ended.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// Applied; its log frame recorded (whether it changed anything), and
    /// for a `CLEAR_SET` the keys the clear removed.
    Applied(bool, usize),
    /// Its session was gone at a step (`SessionNotExist`).
    Gone,
}

/// A write being applied.
#[derive(Debug)]
pub(super) struct Write {
    id: JobId,
    verb: Verb,
    /// The session whose keys it writes; `None` for the top-level keys.
    token: Option<u64>,
    /// The message, its command borrowing it.
    decoded: Decoded,
    /// Keys applied so far, and in all.
    done: usize,
    keys: usize,
    /// The keys `CLEAR_SET`'s clear removed.
    removed: usize,
    /// The session's key count after the last step: fewer at the next
    /// means its expiry cleared them.
    after: usize,
    /// The write's records, one frame.
    journal: Journal,
    /// What it holds toward the memory cap.
    held: usize,
}

impl Store {
    /// Whether a write is being applied or commands wait for one.
    pub(crate) fn barred(&self) -> bool {
        self.stepping.write.is_some() || !self.stepping.parked.is_empty()
    }

    /// Whether a write is being applied.
    pub(super) fn writing(&self) -> bool {
        self.stepping.write.is_some()
    }

    /// Whether the stepped writes have work or answers for the loop.
    pub(super) fn stepping_busy(&self) -> bool {
        self.barred() || !self.stepping.done.is_empty()
    }

    /// Whether the message `text` is to go through [`Store::take_turns`]
    /// instead of running at once: any but a read (by the name at its
    /// start) while writes are barred, and a key write long enough to name
    /// more than [`WRITE_KEYS_PER_STEP`] keys (at least 5 bytes a key).
    pub(crate) fn may_take_turns(&self, text: &str) -> bool {
        if !self.barred() && text.len() <= WRITE_KEYS_PER_STEP * 5 {
            return false;
        }
        let name = crate::protocol::named_command(text);
        let writes = matches!(
            name,
            Some(CommandName::Verb(
                Verb::KvSet
                    | Verb::KvAdd
                    | Verb::KvRmv
                    | Verb::KvClearSet
                    | Verb::ShSet
                    | Verb::ShAdd
                    | Verb::ShRmv
                    | Verb::ShClearSet
            ))
        );
        (self.barred() && waits(name)) || writes
    }

    /// Takes `decoded` (to be answered under `id`, for a connection of
    /// `role`) if it is to wait or to be applied across turns: parked while
    /// writes are barred (unless `unparked`: it was just taken from the
    /// front), or begun as a stepped write; then it is answered later,
    /// under `id`. Gives it back when it runs as any other command (its
    /// role does not allow it, the log refuses writes, the cap is reached,
    /// the top-level map is within its keys of full: the ordinary path
    /// answers all of these). A session write near its map's limit stores
    /// what fits (the log records just that).
    // The message goes back as it came, to be run at once: moved, not boxed.
    #[allow(clippy::result_large_err)]
    pub(crate) fn take_turns(
        &mut self,
        id: JobId,
        role: Role,
        mut decoded: Decoded,
        unparked: bool,
    ) -> Result<(Option<CommandName>, JobId), Decoded> {
        let name = decoded.name();
        let loading = self.applying_loads();
        let keys = decoded.write_keys();
        let steps = keys > WRITE_KEYS_PER_STEP;
        if (self.barred() && !unparked && name.is_some() && waits(name)) || (steps && loading) {
            let bytes = decoded.heap_bytes();
            self.memory.hold(bytes);
            self.stepping.parked.push_back((id, decoded));
            return Ok((name, id));
        }
        let Some(CommandName::Verb(verb)) = name.filter(|&n| steps && role.allows(n)) else { return Err(decoded) };
        if self.writes_refused() || (verb.adds_data() && self.memory.cap().is_some() && self.memory_full()) {
            return Err(decoded);
        }
        let token = decoded.with(|result| match result {
            Ok(Command::Sh(token, _)) => *token,
            _ => None,
        });
        // A session's map is not looked at here: a session gone by the
        // first step answers as one missing.
        let room = match verb {
            Verb::KvClearSet | Verb::ShClearSet => super::table::max_len(),
            Verb::KvSet | Verb::KvAdd => self.kv.room(),
            _ => usize::MAX,
        };
        if keys > room {
            return Err(decoded);
        }
        let mut journal = Journal::default();
        if self.journal_on() {
            journal.enable();
        }
        let held = decoded.heap_bytes();
        self.memory.hold(held);
        let write = Write { id, verb, token, decoded, done: 0, keys, removed: 0, after: 0, journal, held };
        self.stepping.write = Some(Box::new(write));
        Ok((name, id))
    }

    /// Applies the next [`WRITE_KEYS_PER_STEP`] keys of the write under
    /// way at `now`, if any; once its last key is in (or its session is
    /// gone), hands its records to the log as one frame and queues its
    /// answer.
    pub(super) fn step_write(&mut self, now: Instant) {
        let Some(mut write) = self.stepping.write.take() else { return };
        let since = self.since(now);
        let Write { decoded, done, keys, removed, after, journal, token, verb, .. } = &mut *write;
        let start = *done;
        let first = start == 0;
        let (kv, sessions) = (&mut self.kv, &mut self.sessions);
        let live = decoded.with(|result| {
            let Ok(Command::Kv(op) | Command::Sh(_, op)) = result else { return false };
            let Some(token) = *token else {
                *removed += apply(kv, op, start, WRITE_KEYS_PER_STEP, journal, Scope::Kv);
                return true;
            };
            let touch = if first && matches!(verb, Verb::ShSet | Verb::ShAdd) { Touch::SetAdd } else { Touch::None };
            sessions
                .with_keys_logged(token, since, touch, |map, _| {
                    if map.len() < *after {
                        // Cleared by its expiry: the keys recorded went.
                        *journal = fresh(journal);
                    }
                    *removed += apply(map, op, start, WRITE_KEYS_PER_STEP, journal, Scope::Session(token));
                    *after = map.len();
                })
                .is_some()
        });
        *done = (start + WRITE_KEYS_PER_STEP).min(*keys);
        if live && *done < *keys {
            self.memory.release(write.held);
            write.held = write.decoded.heap_bytes() + write.journal.len();
            self.memory.hold(write.held);
            self.stepping.write = Some(write);
            return;
        }
        let outcome = if live {
            let frames = write.journal.take();
            let changed = !frames.is_empty();
            match write.token {
                None => self.journal.append_sealed(frames),
                Some(_) => self.sessions.journal.append_sealed(frames),
            }
            Outcome::Applied(changed, write.removed)
        } else {
            Outcome::Gone
        };
        self.memory.release(write.held);
        self.stepping.done.push_back((write.id, write.verb, outcome));
        // The message (and its list of keys) is given back off the loop.
        let bytes = write.decoded.heap_bytes();
        reclaim::free_bytes(write.decoded, bytes);
    }

    /// Writes the reply of a write done since the last call, if any; returns
    /// its id and whether it changed data the log records.
    pub fn take_written(&mut self, reply: &mut Reply<'_>) -> Option<(JobId, bool)> {
        let (id, verb, outcome) = self.stepping.done.pop_front()?;
        match outcome {
            Outcome::Gone => reply.error(verb, Status::SessionNotExist, ""),
            Outcome::Applied(_, removed) if matches!(verb, Verb::KvClearSet | Verb::ShClearSet) => {
                count(reply, verb, removed);
            }
            Outcome::Applied(..) => reply.status(verb, Status::Ok),
        }
        Some((id, matches!(outcome, Outcome::Applied(true, _))))
    }

    /// The first parked command, once no write is under way (and, for one
    /// to be applied across turns, no load is being applied).
    pub fn unpark(&mut self) -> Option<(JobId, Decoded)> {
        let loading = self.applying_loads();
        let (_, front) = self.stepping.parked.front()?;
        if self.writing() || (loading && front.write_keys() > WRITE_KEYS_PER_STEP) {
            return None;
        }
        let (id, decoded) = self.stepping.parked.pop_front()?;
        let bytes = decoded.heap_bytes();
        self.memory.release(bytes);
        Some((id, decoded))
    }
}

/// Whether a command of `name` waits while writes are barred: all but
/// reads (a message whose name cannot be read cheaply waits too).
fn waits(name: Option<CommandName>) -> bool {
    name.is_none_or(|name| crate::auth::command_role(name) != Role::Read)
}

/// An empty journal recording as `journal` does.
fn fresh(journal: &Journal) -> Journal {
    let mut new = Journal::default();
    if journal.is_on() {
        new.enable();
    }
    new
}

/// Applies the `n` keys of `op` from the `start`th on (as many as there
/// are, past its end) to `map`, recording in `journal` as changes to
/// `scope`; a `CLEAR_SET` clears first, with its first key. Returns the
/// keys the clear removed.
pub(super) fn apply(
    map: &mut KeyMap,
    op: &MapOp<'_>,
    start: usize,
    n: usize,
    journal: &mut Journal,
    scope: Scope,
) -> usize {
    let mut removed = 0;
    let end = |len: usize| start.saturating_add(n).min(len);
    match op {
        MapOp::Set(pairs) | MapOp::ClearSet(pairs) | MapOp::Add(pairs) => {
            let add = matches!(op, MapOp::Add(_));
            if start == 0 && matches!(op, MapOp::ClearSet(_)) {
                removed = map.clear();
                if removed > 0 {
                    journal.clear(scope);
                }
            }
            for (key, value) in &pairs[start..end(pairs.len())] {
                if if add { map.add(key, value.get()) } else { map.set(key, value.get()) } {
                    journal.set(scope, key, value.get());
                }
            }
        }
        MapOp::Rmv(names) => {
            for name in &names[start..end(names.len())] {
                if map.remove(name) {
                    journal.remove(scope, name);
                }
            }
        }
        _ => {}
    }
    removed
}
