//! The store's side of compacting the durable log: one copy-on-write
//! snapshot of the top-level keys and of every session (with its
//! deadline), begun in the turn the log switches to a new segment and
//! taken in steps, as saves take theirs (`jobs.rs`), so that the base it
//! becomes holds exactly the data the records before the switch replay to.
//!
//! Owns: which snapshot is the compaction's and what its data counts
//! toward the memory cap. Must not touch: files, threads, the clock.

use super::Store;
use super::jobs::SNAPSHOT_KEYS_PER_STEP;
use super::kv::Entry;
use super::sessions::SessionRecord;

/// A compaction's copy of the data, complete.
#[derive(Debug, Default)]
pub struct CompactSnapshot {
    /// Every top-level key, in map order.
    pub entries: Vec<Entry>,
    /// Every session, due or not, with its keys.
    pub records: Vec<SessionRecord>,
    /// Each session's deadline tick (`None`: never expires), in `records`'
    /// order.
    pub deadlines: Vec<Option<u64>>,
    /// What it holds, as the memory cap counts it (the entry pointers; the
    /// keys and values are the store's).
    pub bytes: usize,
}

impl CompactSnapshot {
    /// What it holds, as the memory cap counts it.
    pub fn heap_bytes(&self) -> usize {
        self.bytes
    }
}

/// A compaction's snapshot being taken.
#[derive(Debug, Default)]
pub(super) struct Compacting {
    /// The keys, once their snapshot is complete.
    entries: Option<Vec<Entry>>,
    /// The sessions and deadlines, once theirs is.
    sessions: Option<(Vec<SessionRecord>, Vec<Option<u64>>)>,
    /// What the complete parts hold toward the memory cap, counted once
    /// as each completes (the cap is looked at per command).
    bytes: usize,
}

impl Store {
    /// Begins the compaction's snapshot of every key and session as they
    /// are now (the caller switches the log to a new segment in the same
    /// turn). Returns `false`, changing nothing, while a save's or a
    /// search's snapshot is under way, a load or a write of many keys is
    /// being moved in, or a compaction's snapshot is already being taken:
    /// try again next turn.
    /// Whether any array or list exists: when none does, a base written
    /// now needs none of the log's array and list commands (their replay
    /// ends with none either).
    pub(crate) fn has_containers(&self) -> bool {
        self.containers.counts().iter().any(|&n| n > 0)
    }

    pub(crate) fn begin_compaction(&mut self) -> bool {
        if self.compacting.is_some() || self.kv.is_snapshotting() || self.sessions.is_snapshotting() || self.writing() {
            return false;
        }
        if !self.kv.begin_snapshot() {
            return false;
        }
        if !self.sessions.begin_snapshot_with_deadlines() {
            self.kv.abandon_snapshot();
            return false;
        }
        self.compacting = Some(Box::default());
        true
    }

    /// Takes one more step of the compaction's snapshot (at most
    /// [`SNAPSHOT_KEYS_PER_STEP`] keys and about as many sessions and
    /// session keys: one call per turn); returns it once complete.
    pub(crate) fn compaction_step(&mut self) -> Option<CompactSnapshot> {
        let compacting = self.compacting.as_deref_mut()?;
        use super::memory::SNAPSHOT_BYTES_PER_ENTRY as ENTRY;
        if compacting.entries.is_none() {
            compacting.entries = self.kv.snapshot_step(SNAPSHOT_KEYS_PER_STEP);
            compacting.bytes += compacting.entries.as_ref().map_or(0, |e| e.capacity() * ENTRY);
        }
        if compacting.sessions.is_none() {
            compacting.sessions = self.sessions.snapshot_step_with_deadlines(SNAPSHOT_KEYS_PER_STEP);
            // Once, when complete: one pass over the sessions, as the
            // snapshot's last step made.
            compacting.bytes += compacting.sessions.as_ref().map_or(0, |(r, d)| {
                r.capacity() * std::mem::size_of::<SessionRecord>()
                    + r.iter().map(|r| r.keys.capacity() * ENTRY).sum::<usize>()
                    + d.capacity() * std::mem::size_of::<Option<u64>>()
            });
        }
        if compacting.entries.is_none() || compacting.sessions.is_none() {
            return None;
        }
        let done = self.compacting.take()?;
        self.compaction_bytes = done.bytes;
        let (records, deadlines) = done.sessions.unwrap_or_default();
        Some(CompactSnapshot { entries: done.entries.unwrap_or_default(), records, deadlines, bytes: done.bytes })
    }

    /// Drops the compaction's snapshot, complete or not.
    pub(crate) fn abandon_compaction(&mut self) {
        if let Some(done) = self.compacting.take() {
            if done.entries.is_none() {
                self.kv.abandon_snapshot();
            }
            if done.sessions.is_none() {
                self.sessions.abandon_snapshot();
            }
            let n = done.entries.as_ref().map_or(0, Vec::len);
            super::reclaim::free(done, n);
        }
    }

    /// Whether the compaction's snapshot of the sessions is being taken
    /// (a save's must wait for it).
    pub(super) fn compacting_sessions(&self) -> bool {
        self.compacting.as_ref().is_some_and(|c| c.sessions.is_none())
    }

    /// Counts `bytes` (a complete compaction snapshot's, until its base is
    /// written) toward the memory cap, as a save's snapshot counts.
    pub(crate) fn hold_compaction_bytes(&mut self, bytes: usize) {
        self.compaction_bytes = bytes;
    }

    /// What the compaction holds toward the memory cap: its complete
    /// parts and what it was handed to write (the parts still being
    /// copied count in the maps' own snapshot bytes).
    pub(super) fn compaction_heap_bytes(&self) -> usize {
        self.compacting.as_deref().map_or(0, |c| c.bytes) + self.compaction_bytes
    }
}

impl Store {
    /// The wall-clock milliseconds of session tick 0: what a compaction's
    /// base turns deadline ticks into absolute times with.
    pub(crate) fn wall_origin_ms(&self) -> u64 {
        self.sessions.journal.origin()
    }
}
