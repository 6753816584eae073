//! Loads into a store that is serving, applied across turns: `KV_LOAD`
//! into a store that has keys, and every `SH_LOAD` that does not fit one
//! step.
//!
//! The save thread reads the files. A KV load's keys come as a map of their
//! own; into an empty store that map is moved in whole. Into a store that
//! has keys it is merged (`kv/merge.rs`) at most [`LOAD_MERGE_KEYS_PER_STEP`]
//! keys per turn: first checked against the store's keys while every
//! command still sees the store as it was, then, at once, in effect: the
//! reply goes out that turn, and from then on every command sees the store
//! as the whole load left it while the keys are moved in. KV loads finished
//! meanwhile wait their turn, in order, so a later load's values win as
//! they would have one at a time.
//!
//! A session load's records are created at most [`RESTORE_WORK_PER_STEP`]
//! sessions and keys per turn (`Sessions::restore_step`), each session live
//! from the step that creates it, and answered after the last. Room for all
//! of them is kept in the session table when the load begins (or the load
//! is refused with 204, nothing changed), and an `SH_SAVE` of every session
//! waits to begin its snapshot until no session load is under way, so a
//! save holds all of a load or none of it. Session loads finished meanwhile
//! wait their turn, in order.
//!
//! The reply of a load applied in steps comes from [`Store::take_applied`]
//! in the turn it takes effect (a KV load) or completes (a session load),
//! not from [`Store::finish`]; the connection that asked waits for it as
//! for any job, so its replies stay in order.

use std::time::{Duration, Instant};

use super::super::kv::{KeyMap, Merging};
use super::super::sessions::{RESTORE_UNITS_PER_SESSION, Restore, SessionRecord};
use super::super::{Full, Store};
use super::{Applied, Finished, JobId, load_reply};
use crate::protocol::{Reply, Status, Verb};

/// Keys checked or moved in per turn while a load merges into a store that
/// has keys: 1,024. A check is a lookup in the store, a move a lookup in
/// each map and an insert: 0.3 to 1 µs at millions of keys (cache misses;
/// `benches/growth.rs`), so a step takes well under the 10 ms turn budget,
/// about 0.5 ms on a quiet core, and four million loaded keys take about
/// 8,000 turns.
pub const LOAD_MERGE_KEYS_PER_STEP: usize = 1_024;

/// Work per turn while an `SH_LOAD` creates its sessions: 1,024 units,
/// [`RESTORE_UNITS_PER_SESSION`](super::super::sessions::RESTORE_UNITS_PER_SESSION)
/// per session created (a lookup of its token, its map, its table slot and
/// timer), one per record skipped and one per key put in a session's map (a
/// hash and an insert). A unit is 0.1 to 0.3 µs at a million sessions
/// (cache misses; `benches/growth.rs -- session-saves`), so a step stays
/// well under 1 ms of the 10 ms turn budget, and a million sessions of one
/// key take about 4,900 turns.
pub const RESTORE_WORK_PER_STEP: usize = 1_024;

/// A KV load that has been read, waiting to be merged or merging.
#[derive(Debug)]
pub(in crate::store) struct Merge {
    answer: Answer,
    /// The loaded keys, until their merge begins.
    map: Option<KeyMap>,
    /// Whether the load has taken effect and its answer is out.
    answered: bool,
    /// The loaded keys as sealed log frames, encoded off the loop, to hand
    /// to the durable log when the load takes effect (empty when the log
    /// is off).
    frames: Vec<u8>,
}

/// A session load that has been read, waiting to be restored or being
/// restored.
#[derive(Debug)]
pub(in crate::store) struct Restoring {
    answer: Answer,
    /// The records, until their restore begins.
    records: Option<Vec<SessionRecord>>,
    /// The restore under way.
    restore: Option<Restore>,
}

/// The reply of a load that has taken effect, or was refused.
#[derive(Debug, Clone)]
pub(in crate::store) struct Answer {
    pub(super) id: JobId,
    pub(super) verb: Verb,
    pub(super) name: String,
    /// What it added: for a KV load the members read from the files.
    pub(super) applied: Applied,
    /// How long reading the files took.
    pub(super) duration: Duration,
    /// The limit that refused it (status 204, nothing changed), if any.
    pub(super) refused: Option<Full>,
}

impl Store {
    /// What loads read and not yet being applied hold, as the memory cap
    /// counts it: the keys of KV loads waiting behind the one merging
    /// ([`KeyMap::bytes`]), and the record buffers of session loads still
    /// to be restored. A few loads at most ([`MAX_SAVE_JOBS`](super::MAX_SAVE_JOBS)).
    pub(in crate::store) fn waiting_load_bytes(&self) -> usize {
        let kv: usize = self
            .jobs
            .loads
            .iter()
            .map(|merge| merge.map.as_ref().map_or(0, KeyMap::bytes) + merge.frames.capacity())
            .sum();
        let sessions: usize = self
            .jobs
            .restores
            .iter()
            .map(|r| {
                r.records.as_ref().map_or(0, |records| records.capacity() * size_of::<SessionRecord>())
                    + r.restore.as_ref().map_or(0, |restore| restore.heap_bytes() + restore.building_bytes())
            })
            .sum();
        kv + sessions
    }

    /// The end of [`Store::finish`] for a KV load: into an empty store
    /// (and no load merging) the map is moved in whole and answered at
    /// once; otherwise it is merged in steps by [`Store::work`] and its
    /// reply left for [`Store::take_applied`].
    pub(super) fn finish_kv_load(
        &mut self,
        mut answer: Answer,
        map: KeyMap,
        frames: Vec<u8>,
        reply: &mut Reply<'_>,
    ) -> Finished {
        // Recorded in the log in the turn the load takes effect, so a
        // replay orders it among other commands as it happened; encoded
        // off the loop, so that turn only hands the frames on.
        let frames = self.load_frames(&map, frames);
        if self.jobs.loads.is_empty() && !self.writing() {
            if !self.kv.begin_merge(map) {
                answer.refused = Some(Full::Keys);
                answer.write(reply);
                return Finished::Replied;
            }
            if self.kv.merging() == Merging::Done {
                // Moved in whole, into an empty store.
                self.journal_sealed(frames);
                answer.write(reply);
                return Finished::Replied;
            }
            self.jobs.loads.push_back(Merge { answer, map: None, answered: false, frames });
        } else {
            self.jobs.loads.push_back(Merge { answer, map: Some(map), answered: false, frames });
        }
        Finished::Merging
    }

    /// A KV load's keys as log frames: those the save thread encoded, or,
    /// for a load read without them while the log is on (a job made before
    /// the log was turned on, or by a host that reads saves itself),
    /// encoded here at once.
    pub(super) fn load_frames(&self, map: &KeyMap, frames: Vec<u8>) -> Vec<u8> {
        if frames.is_empty() && self.journal_on() && !map.is_empty() {
            return crate::persist::wal::encode_load(map.entries(), crate::persist::wal::LOAD_FRAME_BYTES);
        }
        frames
    }

    /// The end of [`Store::finish`] for a session load: one that fits a
    /// step, with no other session load under way, is applied and answered
    /// at once; any other is applied in steps of [`Store::work`] and its
    /// reply left for [`Store::take_applied`].
    pub(super) fn finish_session_load(
        &mut self,
        answer: Answer,
        records: Vec<SessionRecord>,
        now: Instant,
        reply: &mut Reply<'_>,
    ) -> Finished {
        // Small enough for one step: at once, as before any load took turns.
        // Otherwise the steps of `Store::work` do it, one a turn.
        let small = records.len() <= RESTORE_WORK_PER_STEP
            && records.iter().map(|r| RESTORE_UNITS_PER_SESSION + r.keys.len()).sum::<usize>() <= RESTORE_WORK_PER_STEP;
        self.jobs.restores.push_back(Restoring { answer, records: Some(records), restore: None });
        if small && self.jobs.restores.len() == 1 && !self.writing() {
            let since = self.since(now);
            if let Some(answer) = self.restore_front(usize::MAX, since) {
                answer.write(reply);
                return Finished::Replied;
            }
        }
        Finished::Merging
    }

    /// The store's work for one turn at `now` that requests left to it: a
    /// step of any index resize under way (beyond the few buckets each
    /// change moves), of an `SH_EXISTS` of many tokens (`exists.rs`), and
    /// of a KV load merging and of a session load being restored, or, while
    /// a write of many keys is under way, of that write alone
    /// (`stepped.rs`). Call it once per turn. A load, an `SH_EXISTS` or a
    /// write under way counts as a queued job ([`Store::has_queued_jobs`]),
    /// so the loop comes back at once; a resize does not: changes alone
    /// finish it in time, and an idle server need not spin for it.
    pub fn work(&mut self, now: Instant) {
        self.kv.rehash(super::super::REHASH_BUCKETS_PER_TURN);
        self.sessions.rehash(super::super::REHASH_BUCKETS_PER_TURN);
        // A read: stepped whatever else is under way.
        self.step_exists(now);
        if self.writing() {
            // Loads wait for the write under way (`stepped.rs`).
            return self.step_write(now);
        }
        self.merge_loads(LOAD_MERGE_KEYS_PER_STEP);
        if !self.jobs.restores.is_empty() {
            let since = self.since(now);
            self.restore_sessions(RESTORE_WORK_PER_STEP, since);
        }
    }

    /// Writes the reply of a load that has taken effect (or was refused)
    /// since the last call, if any, and returns its job's id.
    pub fn take_applied(&mut self, reply: &mut Reply<'_>) -> Option<JobId> {
        let answer = self.jobs.answers.pop_front()?;
        answer.write(reply);
        Some(answer.id)
    }

    /// Merges up to `n` keys' worth of the loads waiting, in order (all of
    /// them when `n` is `usize::MAX`), queueing the answers of those that
    /// take effect, or are refused because the keys would not fit.
    pub(in crate::store) fn merge_loads(&mut self, n: usize) {
        while let Some(front) = self.jobs.loads.front_mut() {
            let began = front.map.take().is_none_or(|map| self.kv.begin_merge(map));
            let state = if began { self.kv.merge_step(n) } else { Merging::Refused };
            if state == Merging::Refused {
                front.answer.refused = Some(Full::Keys);
            }
            if state != Merging::Checking && !front.answered {
                front.answered = true;
                self.jobs.answers.push_back(front.answer.clone());
                if state != Merging::Refused {
                    let frames = std::mem::take(&mut front.frames);
                    self.journal_sealed(frames);
                }
            }
            if !matches!(state, Merging::Done | Merging::Refused) {
                return;
            }
            self.jobs.loads.pop_front();
            if n != usize::MAX {
                return;
            }
        }
    }

    /// Restores up to `work` units of the session loads waiting, in order
    /// (all of them when `work` is `usize::MAX`), at `since`, queueing the
    /// answers of those complete or refused.
    pub(in crate::store) fn restore_sessions(&mut self, work: usize, since: Duration) {
        while !self.jobs.restores.is_empty() {
            match self.restore_front(work, since) {
                Some(answer) => self.jobs.answers.push_back(answer),
                None => return,
            }
            if work != usize::MAX {
                return;
            }
        }
    }

    /// Begins the first session load waiting, if it has not begun, and
    /// restores up to `work` units of it; returns its answer once it is
    /// complete or refused (and no longer waiting).
    fn restore_front(&mut self, work: usize, since: Duration) -> Option<Answer> {
        let front = self.jobs.restores.front_mut()?;
        if let Some(records) = front.records.take() {
            match self.sessions.begin_restore(records) {
                Ok(restore) => front.restore = Some(restore),
                Err(full) => front.answer.refused = Some(full),
            }
        }
        if let Some(restore) = front.restore.as_mut() {
            if !self.sessions.restore_step(restore, work, since) {
                return None;
            }
            front.answer.applied = Applied { sessions: restore.sessions, keys: restore.keys };
        }
        let Restoring { answer, restore, .. } = self.jobs.restores.pop_front()?;
        if let Some(restore) = restore {
            // The records' buffer: tens of MiB for a million sessions.
            let bytes = restore.heap_bytes();
            super::super::reclaim::free_bytes(restore, bytes);
        }
        Some(answer)
    }
}

impl Answer {
    fn write(&self, reply: &mut Reply<'_>) {
        match self.refused {
            Some(full) => full.reply(reply, self.verb),
            None => load_reply(reply, self.verb, &self.name, Status::LoadComplete, self.applied, self.duration),
        }
    }
}
