//! A hash table that never grows, shrinks or rehashes all at once: the
//! storage behind every key map (`store/kv.rs`) and the session table
//! (`store/sessions.rs`).
//!
//! Owns: slots at dense positions `0..len`, and an index from hash to
//! position. Knows nothing of what a slot holds beyond its 32-bit hash and
//! its chain link ([`Slot`]); the caller hashes, compares keys, and keeps
//! whatever order it wants on top of the positions.
//!
//! # Slots
//!
//! [`Table::push`] appends at position `len`; [`Table::swap_remove`] moves
//! the last slot into the hole, as `Vec::swap_remove` does, so positions stay
//! dense. The slots live in chunks: a first chunk that grows by doubling up
//! to [`CHUNK`] slots (small maps stay small), then chunks of exactly
//! [`CHUNK`] slots, each allocated when the previous one is full. Growing
//! never copies more than half a chunk; a `Vec` of ten million slots would
//! copy all of them when it doubles.
//!
//! # Index
//!
//! Separate chaining threaded through the slots, as Redis's `dict` does: a
//! bucket holds the position of the first slot of its chain (or [`NONE`]),
//! and each slot the position of the next ([`Slot::next`]). A hash's bucket
//! is its top `bits` bits, so doubling the table splits bucket `b` into `2b`
//! and `2b + 1`, and halving it merges them back.
//!
//! # Resizing in steps
//!
//! The index doubles when there are more slots than buckets (load factor 1)
//! and halves when there are fewer than one slot per [`SHRINK_RATIO`]
//! buckets. Either way a new, empty index is allocated (not touched: the
//! kernel hands its pages over as they are first written) and the old one is
//! kept beside it; each call to [`Table::rehash`] moves a few old buckets'
//! chains into it, pushing the new buckets they map to. Invariant: a hash
//! whose bucket in the new index is below `heads.len()` is in the new index,
//! any other in the old one. So every lookup reads exactly one chain, and an
//! insert goes where a lookup will look. Every [`Table::push`] and
//! [`Table::swap_remove`] moves [`REHASH_BUCKETS_PER_OP`] old buckets, which
//! finishes a resize before the next one is due: a doubling to `2n` buckets
//! has `n` old buckets to move and `n` inserts to go before the next
//! doubling; a halving to `n` buckets has `2n` old buckets to move and at
//! least `3n / 4` operations to go before a doubling (from below `n / 4`
//! slots to above `n`). So a resize never has to be finished at once; the
//! owner may move more on idle turns.
//!
//! Positions are `u32`: a table holds at most [`MAX_LEN`] slots. Past it
//! [`Table::push`] stores nothing and says so; the store refuses a command
//! that would need more (status 204) before changing anything, so that
//! nothing is acknowledged that was not stored.

#[cfg(any(test, feature = "internals"))]
use std::cell::Cell;
use std::iter::{Chain, Flatten};
use std::{mem, slice};

#[cfg(test)]
mod tests;

/// What a table stores: anything that knows its hash and carries a chain
/// link.
pub(super) trait Slot {
    /// The slot's 32-bit hash; must not change while the slot is linked.
    fn hash(&self) -> u32;
    /// The position of the next slot of its chain, or [`NONE`].
    fn next(&self) -> u32;
    /// Sets the position of the next slot of its chain.
    fn set_next(&mut self, next: u32);
}

/// The end of a chain, and an empty bucket.
pub(super) const NONE: u32 = u32::MAX;

/// The most slots a table holds: positions are `u32`, and [`NONE`] is not
/// one. About 4.3 billion, past what any map fits in memory (at 24 bytes a
/// slot plus the key itself, hundreds of GiB).
pub(super) const MAX_LEN: usize = NONE as usize;

/// The most slots a table made or grown on this thread holds: [`MAX_LEN`],
/// unless a test lowered it for the thread ([`lower_max_len`]).
#[inline]
pub(super) fn max_len() -> usize {
    #[cfg(any(test, feature = "internals"))]
    {
        LOWERED_MAX_LEN.with(Cell::get)
    }
    #[cfg(not(any(test, feature = "internals")))]
    {
        MAX_LEN
    }
}

#[cfg(any(test, feature = "internals"))]
thread_local! {
    /// [`max_len`] on this thread.
    static LOWERED_MAX_LEN: Cell<usize> = const { Cell::new(MAX_LEN) };
}

/// Lowers the capacity of every key map and of the session table used on
/// the calling thread to `limit` slots (at most `MAX_LEN`, 2^32 − 1) until the
/// guard it returns is dropped, so that tests can reach it with a few
/// keys. For the workspace's tests only (feature `internals`): a server
/// never calls it.
#[cfg(any(test, feature = "internals"))]
pub fn lower_max_len(limit: usize) -> LoweredMaxLen {
    let before = LOWERED_MAX_LEN.with(|max| max.replace(limit.min(MAX_LEN)));
    LoweredMaxLen { before }
}

/// Restores the capacity [`lower_max_len`] lowered when dropped.
#[cfg(any(test, feature = "internals"))]
#[derive(Debug)]
#[must_use = "the capacity is restored when the guard is dropped"]
pub struct LoweredMaxLen {
    before: usize,
}

#[cfg(any(test, feature = "internals"))]
impl Drop for LoweredMaxLen {
    fn drop(&mut self) {
        LOWERED_MAX_LEN.with(|max| max.set(self.before));
    }
}

/// Slots per chunk, as a power of two: 4,096. Large enough that a map of ten
/// million keys has only about 2,400 chunks (the `Vec` of chunk pointers
/// copies at most 58 KB when it doubles); small enough that allocating one
/// (96 KB of 24-byte key slots) or the first chunk's last doubling (copying
/// 2,048 slots, a few microseconds) costs a turn almost nothing.
const CHUNK_BITS: u32 = 12;
/// Slots per chunk ([`CHUNK_BITS`]).
const CHUNK: usize = 1 << CHUNK_BITS;

/// The smallest index: 4 buckets (16 bytes), which a map of one key rounds
/// up to anyway.
const MIN_BITS: u8 = 2;

/// The index halves when it has more than this many buckets per slot:
/// 8, as Redis's dict (it shrinks below 1/8 full). Between that and
/// doubling at one slot per bucket, the index takes 4 to 32 bytes per slot,
/// and a table that shrinks and grows around one size does not resize back
/// and forth.
const SHRINK_RATIO: usize = 8;

/// Old buckets moved per insert or removal while a resize is under way: 4.
/// At least 1 finishes a doubling before the next is due, and 3 a halving
/// (see the module docs); an old bucket holds about one slot, so this costs
/// an operation about four cache misses while a resize lasts (the first
/// quarter of the inserts after each doubling).
pub(super) const REHASH_BUCKETS_PER_OP: usize = 4;

/// The bucket of `hash` in an index of `1 << bits` buckets: its top bits.
fn bucket(hash: u32, bits: u8) -> usize {
    (u64::from(hash) >> (32 - u32::from(bits))) as usize
}

/// Where a chain link is kept.
#[derive(Clone, Copy)]
enum Link {
    /// A bucket of the new (or only) index.
    Head(usize),
    /// A bucket of the old index, while resizing.
    Old(usize),
    /// The `next` of the slot at this position.
    Next(u32),
}

/// Slots at dense positions, indexed by hash. See the module docs.
#[derive(Clone)]
pub(super) struct Table<S> {
    /// Positions `0..CHUNK`.
    first: Vec<S>,
    /// Positions from `CHUNK` on, `CHUNK` each; at most one empty chunk is
    /// kept at the end.
    rest: Vec<Vec<S>>,
    /// Slots stored.
    len: u32,
    /// Buckets of the index inserts go to: `1 << bits` of them, or, while
    /// resizing, those done so far (its capacity is `1 << bits`).
    heads: Vec<u32>,
    /// Bits of the hash that make a bucket of `heads`.
    bits: u8,
    /// The index being replaced (`1 << old_bits` buckets), while resizing.
    old: Option<Box<[u32]>>,
    /// Bits of the hash that make a bucket of `old`.
    old_bits: u8,
}

impl<S> Default for Table<S> {
    fn default() -> Self {
        Table { first: Vec::new(), rest: Vec::new(), len: 0, heads: Vec::new(), bits: 0, old: None, old_bits: 0 }
    }
}

impl<S: Slot> Table<S> {
    /// Slots stored.
    pub(super) fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether no slot is stored.
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether a resize is under way.
    pub(super) fn is_resizing(&self) -> bool {
        self.old.is_some()
    }

    /// The slot at `pos`.
    pub(super) fn get(&self, pos: usize) -> Option<&S> {
        match pos >> CHUNK_BITS {
            0 => self.first.get(pos),
            c => self.rest.get(c - 1)?.get(pos & (CHUNK - 1)),
        }
    }

    /// The slot at `pos`, to change anything but its hash and link.
    pub(super) fn get_mut(&mut self, pos: usize) -> Option<&mut S> {
        match pos >> CHUNK_BITS {
            0 => self.first.get_mut(pos),
            c => self.rest.get_mut(c - 1)?.get_mut(pos & (CHUNK - 1)),
        }
    }

    /// The slot at a position the index holds.
    fn slot(&self, pos: u32) -> &S {
        self.get(pos as usize).expect("the index holds only stored positions")
    }

    fn slot_mut(&mut self, pos: u32) -> &mut S {
        self.get_mut(pos as usize).expect("the index holds only stored positions")
    }

    /// The position of the first slot with hash `hash` for which `eq` holds.
    pub(super) fn find(&self, hash: u32, mut eq: impl FnMut(&S) -> bool) -> Option<usize> {
        self.find_where(hash, |_, slot| eq(slot))
    }

    /// [`Table::find`], `eq` also given the slot's position.
    pub(super) fn find_where(&self, hash: u32, mut eq: impl FnMut(usize, &S) -> bool) -> Option<usize> {
        if self.heads.is_empty() && self.old.is_none() {
            return None;
        }
        let mut pos = self.read(self.chain(hash));
        while pos != NONE {
            let slot = self.slot(pos);
            if slot.hash() == hash && eq(pos as usize, slot) {
                return Some(pos as usize);
            }
            pos = slot.next();
        }
        None
    }

    /// Appends `slot` at position `len` and indexes it; returns its
    /// position, or `None` (and drops it) if the table holds [`max_len`]
    /// slots already. The caller makes sure its key is not stored yet.
    pub(super) fn push(&mut self, slot: S) -> Option<usize> {
        if self.len() >= max_len() {
            return None;
        }
        if self.heads.is_empty() && self.old.is_none() {
            self.heads = vec![NONE; 1 << MIN_BITS];
            self.bits = MIN_BITS;
        }
        let pos = self.len;
        self.store(slot);
        self.len += 1;
        self.link(pos);
        if !self.is_resizing() && self.len() > 1 << self.bits {
            self.start_resize(self.bits + 1);
        }
        self.rehash(REHASH_BUCKETS_PER_OP);
        Some(pos as usize)
    }

    /// Removes the slot at `pos` and moves the last slot into its place;
    /// returns the removed slot, or `None` if `pos` is not stored.
    pub(super) fn swap_remove(&mut self, pos: usize) -> Option<S> {
        if pos >= self.len() {
            return None;
        }
        let pos = pos as u32;
        let last = self.len - 1;
        self.unlink(pos as usize);
        if pos != last {
            let hash = self.slot(last).hash();
            self.repoint(hash, last, pos);
        }
        let mut removed = self.pop().expect("a stored position means the last chunk holds a slot");
        if pos != last {
            mem::swap(self.slot_mut(pos), &mut removed);
        }
        self.len -= 1;
        if !self.is_resizing() && self.bits > MIN_BITS && self.len() * SHRINK_RATIO < 1 << self.bits {
            self.start_resize(self.bits - 1);
        }
        self.rehash(REHASH_BUCKETS_PER_OP);
        Some(removed)
    }

    /// Takes the slot at `pos` out of the index but leaves it stored (a
    /// dead slot [`Table::find`] never returns), or does nothing if it is
    /// not indexed.
    pub(super) fn unlink(&mut self, pos: usize) {
        let Some(slot) = self.get(pos) else { return };
        let (hash, next, pos) = (slot.hash(), slot.next(), pos as u32);
        let mut link = self.chain(hash);
        loop {
            match self.read(link) {
                NONE => return,
                at if at == pos => return self.write(link, next),
                at => link = Link::Next(at),
            }
        }
    }

    /// Puts `slot` at `pos` in place of the slot there (whatever their
    /// hashes) and indexes it there; returns the slot it replaced, or hands
    /// `slot` back if `pos` is not stored. The caller makes sure the key of
    /// `slot` is not stored elsewhere.
    pub(super) fn replace(&mut self, pos: usize, slot: S) -> Result<S, S> {
        if pos >= self.len() {
            return Err(slot);
        }
        self.unlink(pos);
        let old = mem::replace(self.slot_mut(pos as u32), slot);
        self.link(pos as u32);
        Ok(old)
    }

    /// Moves up to `buckets` buckets of the old index into the new one (a
    /// halving moves two old buckets per new one); returns whether a resize
    /// is still under way.
    pub(super) fn rehash(&mut self, buckets: usize) -> bool {
        let mut budget = buckets;
        while budget > 0 {
            let Some(old) = self.old.as_mut() else { return false };
            if self.bits > self.old_bits {
                // Old bucket `o` splits into new buckets `2o` and `2o + 1`.
                let o = self.heads.len() / 2;
                let mut pos = mem::replace(&mut old[o], NONE);
                self.heads.extend([NONE, NONE]);
                while pos != NONE {
                    let slot = self.slot(pos);
                    let (next, b) = (slot.next(), bucket(slot.hash(), self.bits));
                    let head = mem::replace(&mut self.heads[b], pos);
                    self.slot_mut(pos).set_next(head);
                    pos = next;
                }
                budget -= 1;
            } else {
                // Old buckets `2n` and `2n + 1` merge into new bucket `n`.
                let n = self.heads.len();
                let mut chains = [mem::replace(&mut old[2 * n], NONE), mem::replace(&mut old[2 * n + 1], NONE)];
                let mut head = NONE;
                for pos in &mut chains {
                    while *pos != NONE {
                        let next = self.slot(*pos).next();
                        self.slot_mut(*pos).set_next(head);
                        head = *pos;
                        *pos = next;
                    }
                }
                self.heads.push(head);
                budget = budget.saturating_sub(2);
            }
            if self.heads.len() == 1 << self.bits
                && let Some(old) = self.old.take()
            {
                let bytes = old.len() * size_of::<u32>();
                super::reclaim::free_bytes(old, bytes);
            }
        }
        self.is_resizing()
    }

    /// Slots in position order.
    pub(super) fn iter(&self) -> Iter<'_, S> {
        Counted { inner: self.first.iter().chain(self.rest.iter().flatten()), left: self.len() }
    }

    /// The slots at positions `start..end` (clamped to `len`), as the
    /// slices of the chunks they lie in.
    pub(super) fn slices(&self, start: usize, end: usize) -> impl Iterator<Item = &[S]> {
        let end = end.min(self.len());
        let mut at = start.min(end);
        std::iter::from_fn(move || {
            if at >= end {
                return None;
            }
            let chunk = match at >> CHUNK_BITS {
                0 => &self.first[..],
                c => &self.rest[c - 1][..],
            };
            let from = at & (CHUNK - 1);
            let to = (from + (end - at)).min(chunk.len());
            at += to - from;
            Some(&chunk[from..to])
        })
    }

    /// Bytes of heap the table itself holds (slots and index, spare
    /// capacity included; not what the slots point to).
    pub(super) fn heap_bytes(&self) -> usize {
        let slots = self.first.capacity() + self.rest.iter().map(Vec::capacity).sum::<usize>();
        let old = self.old.as_ref().map_or(0, |old| old.len());
        slots * size_of::<S>() + self.rest.capacity() * size_of::<Vec<S>>() + (self.heads.capacity() + old) * 4
    }

    /// Appends `slot` to the chunks, at position `len`.
    fn store(&mut self, slot: S) {
        let pos = self.len();
        if pos < CHUNK {
            let cap = self.first.capacity();
            if self.first.len() == cap {
                // Doubling, exactly, up to one chunk.
                self.first.reserve_exact(cap.clamp(4, CHUNK - cap));
            }
            self.first.push(slot);
            return;
        }
        let c = (pos >> CHUNK_BITS) - 1;
        if c == self.rest.len() {
            self.rest.push(Vec::with_capacity(CHUNK));
        }
        self.rest[c].push(slot);
    }

    /// Takes the last slot out of the chunks (not out of the index),
    /// dropping a chunk left empty if an empty one follows it already.
    fn pop(&mut self) -> Option<S> {
        let last = self.len().checked_sub(1)?;
        let c = last >> CHUNK_BITS;
        if c == 0 {
            return self.first.pop();
        }
        let slot = self.rest.get_mut(c - 1)?.pop();
        if self.rest.len() > c && self.rest.get(c - 1).is_some_and(Vec::is_empty) {
            // Two empty chunks at the end: give one back.
            self.rest.pop();
        }
        slot
    }

    /// Starts a resize to `1 << bits` buckets.
    fn start_resize(&mut self, bits: u8) {
        let old = mem::replace(&mut self.heads, Vec::with_capacity(1 << bits));
        self.old = Some(old.into_boxed_slice());
        self.old_bits = self.bits;
        self.bits = bits;
    }

    /// Where the chain of `hash` starts (see the module docs).
    fn chain(&self, hash: u32) -> Link {
        let b = bucket(hash, self.bits);
        if b < self.heads.len() { Link::Head(b) } else { Link::Old(bucket(hash, self.old_bits)) }
    }

    fn read(&self, link: Link) -> u32 {
        match link {
            Link::Head(b) => self.heads[b],
            Link::Old(b) => self.old.as_ref().map_or(NONE, |old| old[b]),
            Link::Next(pos) => self.slot(pos).next(),
        }
    }

    fn write(&mut self, link: Link, value: u32) {
        match link {
            Link::Head(b) => self.heads[b] = value,
            Link::Old(b) => {
                if let Some(old) = self.old.as_mut() {
                    old[b] = value;
                }
            }
            Link::Next(pos) => self.slot_mut(pos).set_next(value),
        }
    }

    /// Indexes the stored slot at `pos`, at the head of its chain.
    fn link(&mut self, pos: u32) {
        let link = self.chain(self.slot(pos).hash());
        let head = self.read(link);
        self.slot_mut(pos).set_next(head);
        self.write(link, pos);
    }

    /// Makes the link to `from` in the chain of `hash` point to `to`.
    fn repoint(&mut self, hash: u32, from: u32, to: u32) {
        let mut link = self.chain(hash);
        loop {
            match self.read(link) {
                NONE => return,
                at if at == from => return self.write(link, to),
                at => link = Link::Next(at),
            }
        }
    }
}

/// [`Table::iter`].
pub(super) type Iter<'a, S> = Counted<Chain<slice::Iter<'a, S>, Flatten<slice::Iter<'a, Vec<S>>>>>;

/// An iterator whose length is known.
pub(super) struct Counted<I> {
    inner: I,
    left: usize,
}

impl<I: Iterator> Iterator for Counted<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        let item = self.inner.next()?;
        self.left -= 1;
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<I: Iterator> ExactSizeIterator for Counted<I> {}
