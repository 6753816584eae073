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
//! entry the map held at `i` when the snapshot began is either in `saved`
//! or still at position `i` of the map (of `frozen`, once the map was
//! cleared). A replace at `i` keeps the old entry of `i`; a swap-remove at
//! `i` keeps the old entries of `i` and of the last position, whose entry
//! moves; an insert appends at the end, a position that either lies beyond
//! `end` or was vacated (and so kept) before. Clearing the map hands its
//! whole table to the snapshot ([`Pending::freeze`]), which copies the rest
//! from there: no change to the new, empty map concerns it.
//!
//! The kept entries live in a [`Table`] keyed by position, which grows in
//! steps like every other: a save of ten million keys beside clients that
//! overwrite millions of them never rehashes them all at once.

use super::{Entry, KvSlot, Table, table};

/// A position's original entry, kept.
#[derive(Clone)]
struct Saved {
    entry: Entry,
    pos: u32,
    next: u32,
}

/// The hash of a position: Fibonacci hashing, which spreads consecutive
/// positions over the top bits a [`Table`] takes its buckets from.
/// Positions are the map's, not a peer's choice.
fn spread(pos: u32) -> u32 {
    pos.wrapping_mul(0x9E37_79B9)
}

impl table::Slot for Saved {
    fn hash(&self) -> u32 {
        spread(self.pos)
    }

    fn next(&self) -> u32 {
        self.next
    }

    fn set_next(&mut self, next: u32) {
        self.next = next;
    }
}

/// A snapshot being taken.
#[derive(Default, Clone)]
pub(super) struct Pending {
    /// The original entries of positions `0..taken.len()`.
    taken: Vec<Entry>,
    /// The map's length when the snapshot began.
    end: usize,
    /// Original entries of positions not taken yet that changed since.
    saved: Table<Saved>,
    /// The map's table as it was when the map was cleared, if it was.
    frozen: Option<Table<KvSlot>>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("taken", &self.taken.len())
            .field("end", &self.end)
            .field("saved", &self.saved.len())
            .field("frozen", &self.frozen.is_some())
            .finish()
    }
}

impl Pending {
    /// A snapshot of a map of `len` entries.
    pub(super) fn new(len: usize) -> Pending {
        Pending { taken: Vec::with_capacity(len), end: len, ..Pending::default() }
    }

    /// Position `i` held `original` and is changing: keep it if the
    /// snapshot still needs it.
    pub(super) fn changing(&mut self, i: usize, original: &Entry) {
        if self.frozen.is_some() || !(self.taken.len()..self.end).contains(&i) {
            return;
        }
        let pos = i as u32;
        if self.saved.find(spread(pos), |s| s.pos == pos).is_none() {
            self.saved.push(Saved { entry: original.clone(), pos, next: table::NONE });
        }
    }

    /// The map is being cleared and leaves `table` behind: the snapshot
    /// copies the rest from it. Hands it back if the snapshot has one
    /// already (the map was cleared before), or needs nothing more.
    pub(super) fn freeze(&mut self, table: Table<KvSlot>) -> Option<Table<KvSlot>> {
        if self.frozen.is_some() || self.is_complete() {
            return Some(table);
        }
        self.frozen = Some(table);
        None
    }

    /// Copies up to `n` more positions from `table` (or from the frozen
    /// one); returns whether the snapshot is complete.
    pub(super) fn step(&mut self, table: &Table<KvSlot>, n: usize) -> bool {
        let source = self.frozen.as_ref().unwrap_or(table);
        let start = self.taken.len();
        let stop = start.saturating_add(n).min(self.end);
        if self.saved.is_empty() {
            // Nothing changed here since the snapshot began: copy in bulk.
            for slice in source.slices(start, stop) {
                self.taken.extend(slice.iter().map(|slot| slot.entry.clone()));
            }
        }
        for i in self.taken.len()..stop {
            let pos = i as u32;
            let kept = self.saved.find(spread(pos), |s| s.pos == pos).and_then(|at| self.saved.swap_remove(at));
            let entry = kept.map(|saved| saved.entry).or_else(|| source.get(i).map(|slot| slot.entry.clone()));
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

    /// The copied entries, in map order, and the frozen table, if any, for
    /// the caller to free.
    pub(super) fn finish(self) -> (Vec<Entry>, Option<Table<KvSlot>>) {
        (self.taken, self.frozen)
    }
}
