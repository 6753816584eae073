//! `KV_LOAD` into a store that has keys, merged across turns.
//!
//! The save thread reads the files into a map of their own; into an empty
//! store that map is moved in whole. Into a store that has keys it is merged
//! (`kv/merge.rs`) at most [`LOAD_MERGE_KEYS_PER_STEP`] keys per turn: first
//! checked against the store's keys while every command still sees the
//! store as it was, then, at once, in effect: the reply goes out that turn,
//! and from then on every command sees the store as the whole load left it
//! while the keys are moved in. Loads finished meanwhile wait their turn, in
//! order, so a later load's values win as they would have one at a time.
//!
//! The reply of a load comes from [`Store::take_applied`] in the turn its
//! merge takes effect, not from [`Store::finish`]; the connection that
//! asked waits for it as for any job, so its replies stay in order.

use std::time::Duration;

use super::super::Store;
use super::super::kv::{KeyMap, Merging};
use super::{Applied, Finished, JobId, load_reply};
use crate::protocol::{Reply, Status, Verb};

/// Keys checked or moved in per turn while a load merges into a store that
/// has keys: 1,024. A check is a lookup in the store, a move a lookup in
/// each map and an insert: 0.3 to 1 µs at millions of keys (cache misses;
/// `benches/growth.rs`), so a step takes well under the 10 ms turn budget,
/// about 0.5 ms on a quiet core, and four million loaded keys take about
/// 8,000 turns.
pub const LOAD_MERGE_KEYS_PER_STEP: usize = 1_024;

/// A KV load that has been read, waiting to be merged or merging.
#[derive(Debug)]
pub(in crate::store) struct Merge {
    answer: Answer,
    /// The loaded keys, until their merge begins.
    map: Option<KeyMap>,
    /// Whether the load has taken effect and its answer is out.
    answered: bool,
}

/// The reply of a load that has taken effect.
#[derive(Debug, Clone)]
pub(in crate::store) struct Answer {
    pub(super) id: JobId,
    pub(super) verb: Verb,
    pub(super) name: String,
    /// Members read from the files.
    pub(super) read: usize,
    /// How long reading them took.
    pub(super) duration: Duration,
}

impl Store {
    /// The end of [`Store::finish`] for a KV load: into an empty store
    /// (and no load merging) the map is moved in whole and answered at
    /// once; otherwise it is merged in steps by [`Store::work`] and its
    /// reply left for [`Store::take_applied`].
    pub(super) fn finish_kv_load(&mut self, answer: Answer, map: KeyMap, reply: &mut Reply<'_>) -> Finished {
        if self.jobs.loads.is_empty() {
            self.kv.begin_merge(map);
            if self.kv.merging() == Merging::Done {
                // Moved in whole, into an empty store.
                answer.write(reply);
                return Finished::Replied;
            }
            self.jobs.loads.push_back(Merge { answer, map: None, answered: false });
        } else {
            self.jobs.loads.push_back(Merge { answer, map: Some(map), answered: false });
        }
        Finished::Merging
    }

    /// The store's work for one turn that no request asked for: a step of
    /// any index resize under way (beyond the few buckets each change
    /// moves) and of a load merging. Call it once per turn. A load merging
    /// counts as a queued job ([`Store::has_queued_jobs`]), so the loop
    /// comes back at once; a resize does not: changes alone finish it in
    /// time, and an idle server need not spin for it.
    pub fn work(&mut self) {
        self.kv.rehash(super::super::REHASH_BUCKETS_PER_TURN);
        self.sessions.rehash(super::super::REHASH_BUCKETS_PER_TURN);
        self.merge_loads(LOAD_MERGE_KEYS_PER_STEP);
    }

    /// Writes the reply of a load that has taken effect since the last call,
    /// if any, and returns its job's id.
    pub fn take_applied(&mut self, reply: &mut Reply<'_>) -> Option<JobId> {
        let answer = self.jobs.answers.pop_front()?;
        answer.write(reply);
        Some(answer.id)
    }

    /// Merges up to `n` keys' worth of the loads waiting, in order (all of
    /// them when `n` is `usize::MAX`), queueing the answers of those that
    /// take effect.
    pub(in crate::store) fn merge_loads(&mut self, n: usize) {
        while let Some(front) = self.jobs.loads.front_mut() {
            if let Some(map) = front.map.take() {
                self.kv.begin_merge(map);
            }
            let state = self.kv.merge_step(n);
            if state != Merging::Checking && !front.answered {
                front.answered = true;
                self.jobs.answers.push_back(front.answer.clone());
            }
            if state != Merging::Done {
                return;
            }
            self.jobs.loads.pop_front();
            if n != usize::MAX {
                return;
            }
        }
    }
}

impl Answer {
    fn write(&self, reply: &mut Reply<'_>) {
        let applied = Applied { sessions: 0, keys: self.read };
        load_reply(reply, self.verb, &self.name, Status::LoadComplete, applied, self.duration);
    }
}
