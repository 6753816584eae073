//! An incremental snapshot of a [`KeyMap`](super::KeyMap): the map as it
//! was when the snapshot began, copied a slice of positions at a time while
//! the map keeps changing.
//!
//! Copying a million entries (a pointer and a reference-count increment
//! each) takes several milliseconds, too long for one turn of the event
//! loop. So the copy advances by [`Pending::step`], a bounded number of
//! positions per turn, and every change to the map in between first keeps
//! the original entry of any position the copy has not reached yet
//! (copy-on-write, one entry at a time).
//!
//! Invariant: for every position `i` with `taken.len() <= i < end`, the
//! entry the map held at `i` when the snapshot began is either in `saved[i]`
//! or still at position `i` of the map. A replace at `i` keeps the old entry
//! of `i`; a swap-remove at `i` keeps the old entries of `i` and of the last
//! position, whose entry moves; an insert appends at the end, a position
//! that either lies beyond `end` or was vacated (and so kept) before.

use std::collections::HashMap;

use indexmap::IndexSet;

use super::{Entry, KeyHasher};

/// A snapshot being taken.
#[derive(Clone, Default)]
pub(super) struct Pending {
    /// The original entries of positions `0..taken.len()`.
    taken: Vec<Entry>,
    /// The map's length when the snapshot began.
    end: usize,
    /// Original entries of positions not taken yet that changed since.
    saved: HashMap<usize, Entry>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("taken", &self.taken.len())
            .field("end", &self.end)
            .field("saved", &self.saved.len())
            .finish()
    }
}

impl Pending {
    /// A snapshot of a map of `len` entries.
    pub(super) fn new(len: usize) -> Pending {
        Pending { taken: Vec::with_capacity(len), end: len, saved: HashMap::new() }
    }

    /// Position `i` held `original` and is changing: keep it if the
    /// snapshot still needs it.
    pub(super) fn changing(&mut self, i: usize, original: &Entry) {
        if (self.taken.len()..self.end).contains(&i) {
            self.saved.entry(i).or_insert_with(|| original.clone());
        }
    }

    /// Copies up to `n` more positions from `entries`; returns whether the
    /// snapshot is complete.
    pub(super) fn step(&mut self, entries: &IndexSet<Entry, KeyHasher>, n: usize) -> bool {
        let start = self.taken.len();
        let stop = start.saturating_add(n).min(self.end);
        if self.saved.is_empty()
            && let Some(slice) = entries.get_range(start..stop)
        {
            // Nothing changed here since the snapshot began: copy in bulk.
            self.taken.extend(slice.iter().cloned());
            return self.is_complete();
        }
        for i in start..stop {
            let entry = self.saved.remove(&i).or_else(|| entries.get_index(i).cloned());
            debug_assert!(entry.is_some(), "position {i} was neither kept nor left in place");
            self.taken.extend(entry);
        }
        self.is_complete()
    }

    /// What it holds: room for every entry's pointer, reserved when it
    /// began, and the originals kept (a pointer and a table slot each).
    pub(super) fn heap_bytes(&self) -> usize {
        let entry = std::mem::size_of::<Entry>();
        self.taken.capacity() * entry + self.saved.len() * (entry + 2 * std::mem::size_of::<usize>())
    }

    /// Entries it holds (copied, and kept originals).
    pub(super) fn len(&self) -> usize {
        self.taken.len() + self.saved.len()
    }

    /// Whether every position is copied.
    pub(super) fn is_complete(&self) -> bool {
        self.taken.len() >= self.end
    }

    /// The copied entries, in map order.
    pub(super) fn into_entries(self) -> Vec<Entry> {
        self.taken
    }
}
