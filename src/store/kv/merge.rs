//! Merging a load into a [`KeyMap`](super::KeyMap) that has keys, a bounded
//! number of keys per step, while the map keeps serving.
//!
//! A load sets every loaded key in the loaded map's order: a key the map
//! holds is overwritten in place, any other is appended. Done at once, four
//! million keys stop the loop for seconds; done key by key between other
//! commands, they would see half a load. So the merge has two phases, and
//! the load takes effect at once, between them:
//!
//! 1. **Checking.** Each loaded key is looked up in the map and marked
//!    *shared* (the map holds it) or *new*. The map is not changed: every
//!    command reads and changes it as if the load had not happened. A
//!    command that adds or removes a key the check has passed updates that
//!    key's mark (one lookup in the loaded map, only when a key is added or
//!    removed). Clearing the map starts the check again.
//! 2. **Applying.** From the moment the check ends the map reads as the load
//!    left it: the map's keys in their order, with the loaded values of the
//!    shared keys, followed by the new keys in the loaded order. Steps move
//!    the loaded keys in, in order: a shared key's value into its place, a
//!    new key appended. Commands meanwhile act on that view:
//!    - a lookup finds a key still to be moved in the loaded map first,
//!      then in the map;
//!    - setting a key still to be moved replaces its loaded value (its
//!      place is kept); a key in neither is appended after the new keys
//!      still to be moved (it is put at the loaded map's end);
//!    - removing a key moves the view's last key into its place, as any
//!      removal does: the last new key still to be moved if there is one
//!      (found through a two-level bitmap in microseconds), otherwise the
//!      map's last key;
//!    - clearing drops the rest of the load with everything else;
//!    - the count is the map's plus the new keys still to be moved.
//!
//! **Capacity.** When the check ends, the map's keys plus the new ones must
//! fit in [`MAX_KEYS`](super::MAX_KEYS): otherwise the merge is dropped,
//! the map unchanged, and the load refused (204). While applying, the view
//! counts its keys as the map does, so a command refused past the limit is
//! refused on the view; a key the view gains past the loaded map's own
//! capacity goes straight into the map (ahead of the new keys still to be
//! moved: the only place the order can differ from a load done at once,
//! after billions of keys added and removed during one merge).
//!
//! Positions of the loaded map never move (it is only appended to); a key
//! moved in or dropped leaves an empty `blank` entry behind, and the whole
//! loaded map is freed off the loop when the merge ends. A key dropped by a
//! command is unlinked from the loaded map's index; one moved in by a step
//! is not (that would be one more chain walk per key): lookups in the
//! loaded map ignore positions before `next` instead.
//!
//! Invariants while applying: a loaded position from `next` on is marked
//! *new* (the map does not hold its key) or *shared* (it does), or neither
//! (dropped, and unlinked); positions before `next` are all neither, and
//! moved in; no key is both in the map and marked new, and at most one
//! loaded position from `next` on holds a key.

use std::mem;
use std::sync::Arc;

use super::{Entry, KvSlot, Table, table};

/// What a [`Merge::step`] left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// More to do.
    More,
    /// The merge is complete.
    Done,
    /// The check found the map's keys and the new ones would not fit: the
    /// merge is to be dropped, the map unchanged.
    Full,
}

/// A load being merged (see the module docs).
#[derive(Clone)]
pub(super) struct Merge {
    /// The loaded keys, in the loaded order.
    loaded: Table<KvSlot>,
    /// Whether the check is over and the load has taken effect.
    applying: bool,
    /// Checking: loaded positions before it are marked. Applying: loaded
    /// positions before it are moved in.
    next: usize,
    /// Loaded positions marked new.
    new: Bits,
    /// Loaded positions marked shared.
    shared: Bits,
    /// Positions marked new.
    new_count: usize,
    /// The entry a moved or dropped position holds.
    blank: Entry,
    /// What the loaded entries not yet moved in or dropped hold, as the
    /// memory cap counts it ([`KeyMap::bytes`](super::KeyMap::bytes)).
    bytes: usize,
}

impl std::fmt::Debug for Merge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Merge")
            .field("loaded", &self.loaded.len())
            .field("applying", &self.applying)
            .field("next", &self.next)
            .field("new", &self.new_count)
            .finish()
    }
}

impl Merge {
    /// A merge of `loaded`, to be checked from its first key.
    /// `bytes` is what its entries count for toward the memory cap.
    pub(super) fn new(loaded: Table<KvSlot>, bytes: usize) -> Merge {
        let n = loaded.len();
        Merge {
            loaded,
            applying: false,
            next: 0,
            new: Bits::with_len(n),
            shared: Bits::with_len(n),
            new_count: 0,
            blank: Entry::from_parts(b"", b"null"),
            bytes,
        }
    }

    /// Whether the load has taken effect.
    pub(super) fn is_applying(&self) -> bool {
        self.applying
    }

    /// Keys the map's view holds beyond the map's own: the new keys still to
    /// be moved in, once the load has taken effect.
    pub(super) fn pending_len(&self) -> usize {
        if self.applying { self.new_count } else { 0 }
    }

    /// Roughly how many allocations freeing it drops.
    pub(super) fn allocations(&self) -> usize {
        self.loaded.len()
    }

    pub(super) fn is_resizing(&self) -> bool {
        self.loaded.is_resizing()
    }

    pub(super) fn rehash(&mut self, buckets: usize) -> bool {
        self.loaded.rehash(buckets)
    }

    /// What the loaded entries still held (not moved in, not dropped)
    /// count for toward the memory cap.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// [`Merge::bytes`] counted afresh over the loaded positions, to check
    /// the running count.
    #[cfg(test)]
    pub(super) fn recount(&self) -> usize {
        self.loaded
            .iter()
            .filter(|slot| !Arc::ptr_eq(&slot.entry.0, &self.blank.0))
            .map(|slot| super::cost(&slot.entry))
            .sum()
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.loaded.heap_bytes() + self.new.heap_bytes() + self.shared.heap_bytes()
    }

    /// Does up to `n` positions' worth of checking, then of applying; says
    /// what is left.
    pub(super) fn step(&mut self, keys: &mut super::Keys, n: usize) -> Step {
        let mut budget = n;
        if !self.applying {
            let stop = self.next.saturating_add(budget).min(self.loaded.len());
            for p in self.next..stop {
                let Some(slot) = self.loaded.get(p) else { break };
                if keys.find(slot.hash, slot.entry.escaped_key()).is_some() {
                    self.shared.set(p);
                } else {
                    self.new.set(p);
                    self.new_count += 1;
                }
            }
            budget -= stop - self.next;
            self.next = stop;
            if self.next < self.loaded.len() {
                return Step::More;
            }
            if keys.table.len().saturating_add(self.new_count) > table::max_len() {
                return Step::Full;
            }
            self.applying = true;
            self.next = 0;
            if keys.table.is_empty() && keys.pending.is_none() {
                // Every loaded key is new: the loaded map becomes the map.
                keys.table = mem::take(&mut self.loaded);
                keys.bytes = mem::take(&mut self.bytes);
                return Step::Done;
            }
        }
        while budget > 0 && self.next < self.loaded.len() {
            let p = self.next;
            self.next += 1;
            budget -= 1;
            if self.new.get(p) {
                self.new.clear(p);
                self.new_count -= 1;
                if let Some(slot) = self.take(p) {
                    keys.push(slot);
                }
            } else if self.shared.get(p) {
                self.shared.clear(p);
                if let Some(slot) = self.take(p) {
                    match keys.find(slot.hash, slot.entry.escaped_key()) {
                        Some(i) => keys.set_value(i, slot.entry),
                        None => drop(keys.push(slot)),
                    }
                }
            }
        }
        if self.next >= self.loaded.len() { Step::Done } else { Step::More }
    }

    /// The map was cleared: while checking, the load is still to apply, to
    /// the empty map.
    pub(super) fn cleared(&mut self) {
        self.new.clear_all();
        self.shared.clear_all();
        self.new_count = 0;
        self.next = 0;
    }

    /// The loaded position of a key not moved in or dropped.
    fn find(&self, hash: u32, escaped: &[u8]) -> Option<usize> {
        let from = if self.applying { self.next } else { 0 };
        self.loaded.find_where(hash, |p, slot| p >= from && slot.entry.escaped_key() == escaped)
    }

    /// Takes the slot at loaded position `p` out of the loaded map, leaving
    /// a blank behind (and, for a position from `next` on, unlinked).
    fn take(&mut self, p: usize) -> Option<KvSlot> {
        if p >= self.next {
            self.loaded.unlink(p);
        }
        let blank = self.blank.clone();
        let slot = self.loaded.get_mut(p)?;
        let entry = mem::replace(&mut slot.entry, blank);
        if !Arc::ptr_eq(&entry.0, &self.blank.0) {
            self.bytes = self.bytes.saturating_sub(super::cost(&entry));
        }
        Some(KvSlot::new(entry, slot.hash))
    }

    /// While checking, the map gained (`held`) or lost the key `escaped`:
    /// a mark already made for it changes with it.
    fn membership(&mut self, hash: u32, escaped: &[u8], held: bool) {
        let Some(p) = self.find(hash, escaped).filter(|&p| p < self.next) else { return };
        if held && self.new.get(p) {
            self.new.clear(p);
            self.new_count -= 1;
            self.shared.set(p);
        } else if !held && self.shared.get(p) {
            self.shared.clear(p);
            self.new.set(p);
            self.new_count += 1;
        }
    }

    /// The entry of the key `escaped` in the map's view.
    pub(super) fn get<'a>(&'a self, keys: &'a super::Keys, hash: u32, escaped: &[u8]) -> Option<&'a Entry> {
        if self.applying
            && let Some(p) = self.find(hash, escaped)
        {
            return self.loaded.get(p).map(|slot| &slot.entry);
        }
        keys.entry(hash, escaped)
    }

    /// Sets `entry` in the map's view; returns whether it was stored
    /// (`false` for a new key while the view holds [`MAX_KEYS`](super::MAX_KEYS)).
    pub(super) fn set(&mut self, keys: &mut super::Keys, hash: u32, entry: Entry) -> bool {
        if !self.applying {
            if keys.find(hash, entry.escaped_key()).is_none() {
                if keys.table.len() >= table::max_len() {
                    return false;
                }
                self.membership(hash, entry.escaped_key(), true);
            }
            return keys.set(hash, entry).is_some();
        }
        if let Some(slot) = self.find(hash, entry.escaped_key()).and_then(|p| self.loaded.get_mut(p)) {
            self.bytes = (self.bytes + super::cost(&entry)).saturating_sub(super::cost(&slot.entry));
            slot.entry = entry;
            return true;
        }
        match keys.find(hash, entry.escaped_key()) {
            Some(i) => {
                keys.set_value(i, entry);
                true
            }
            None => self.append(keys, hash, entry),
        }
    }

    /// Adds the key `escaped` with `value` to the map's view if it is
    /// absent; returns whether it was added.
    pub(super) fn add(&mut self, keys: &mut super::Keys, hash: u32, escaped: &[u8], value: &[u8]) -> bool {
        if (self.applying && self.find(hash, escaped).is_some()) || keys.find(hash, escaped).is_some() {
            return false;
        }
        let entry = Entry::from_parts(escaped, value);
        if self.applying {
            return self.append(keys, hash, entry);
        }
        if !keys.push(KvSlot::new(entry, hash)) {
            return false;
        }
        self.membership(hash, escaped, true);
        true
    }

    /// Appends a key in neither map to the view, after the new keys; returns
    /// whether it was stored (see the module docs on capacity).
    fn append(&mut self, keys: &mut super::Keys, hash: u32, entry: Entry) -> bool {
        if keys.table.len() + self.new_count >= table::max_len() {
            return false;
        }
        if self.loaded.len() >= table::max_len() {
            // The loaded map's positions are used up: into the map itself.
            return keys.push(KvSlot::new(entry, hash));
        }
        let added = super::cost(&entry);
        let Some(p) = self.loaded.push(KvSlot::new(entry, hash)) else { return false };
        self.bytes += added;
        self.new.set(p);
        self.new_count += 1;
        true
    }

    /// Removes the key `escaped` from the map's view; returns whether it
    /// was there.
    pub(super) fn remove(&mut self, keys: &mut super::Keys, hash: u32, escaped: &[u8]) -> bool {
        if !self.applying {
            let Some(i) = keys.find(hash, escaped) else { return false };
            self.membership(hash, escaped, false);
            return keys.swap_remove(i).is_some();
        }
        if let Some(p) = self.find(hash, escaped) {
            if self.new.get(p) {
                // The view's last key is the last new one: it takes `p`.
                let last = self.new.last().unwrap_or(p);
                self.new.clear(last);
                self.new_count -= 1;
                let moved = self.take(last);
                if let (true, Some(moved)) = (last != p, moved) {
                    let added = super::cost(&moved.entry);
                    if let Ok(removed) = self.loaded.replace(p, moved) {
                        self.bytes = (self.bytes + added).saturating_sub(super::cost(&removed.entry));
                    }
                }
                return true;
            }
            self.shared.clear(p);
            drop(self.take(p));
        }
        let Some(i) = keys.find(hash, escaped) else { return false };
        match self.new.last() {
            Some(last) => {
                // The view's last key is the last new one: it takes `i`.
                self.new.clear(last);
                self.new_count -= 1;
                match self.take(last) {
                    Some(moved) => keys.replace(i, moved),
                    None => drop(keys.swap_remove(i)),
                }
            }
            None => drop(keys.swap_remove(i)),
        }
        true
    }

    /// The loaded value of the map's key in `slot`, while it is still to be
    /// moved in.
    pub(super) fn overriding(&self, slot: &KvSlot) -> Option<&Entry> {
        let p = self.find(slot.hash, slot.entry.escaped_key())?;
        self.loaded.get(p).map(|slot| &slot.entry)
    }

    /// The first new key still to be moved in at a loaded position from
    /// `from` on, and its position.
    pub(super) fn appended_from(&self, from: usize) -> Option<(&Entry, usize)> {
        let p = self.new.next_from(from)?;
        Some((&self.loaded.get(p)?.entry, p))
    }
}

/// A set of positions, with a summary bit per 64 positions so the last one
/// is found in a scan of `len / 4096` words.
#[derive(Default, Clone)]
struct Bits {
    words: Vec<u64>,
    /// Bit `w` set when `words[w]` is not zero.
    summary: Vec<u64>,
}

impl Bits {
    fn with_len(n: usize) -> Bits {
        let words = n.div_ceil(64);
        Bits { words: vec![0; words], summary: vec![0; words.div_ceil(64)] }
    }

    fn heap_bytes(&self) -> usize {
        (self.words.capacity() + self.summary.capacity()) * 8
    }

    fn get(&self, i: usize) -> bool {
        self.words.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn set(&mut self, i: usize) {
        let w = i / 64;
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
            self.summary.resize(self.words.len().div_ceil(64), 0);
        }
        self.words[w] |= 1 << (i % 64);
        self.summary[w / 64] |= 1 << (w % 64);
    }

    fn clear(&mut self, i: usize) {
        let w = i / 64;
        let Some(word) = self.words.get_mut(w) else { return };
        *word &= !(1 << (i % 64));
        if *word == 0 {
            self.summary[w / 64] &= !(1 << (w % 64));
        }
    }

    fn clear_all(&mut self) {
        self.words.fill(0);
        self.summary.fill(0);
    }

    /// The largest position in the set.
    fn last(&self) -> Option<usize> {
        let (s, &summary) = self.summary.iter().enumerate().rev().find(|(_, s)| **s != 0)?;
        let w = s * 64 + 63 - summary.leading_zeros() as usize;
        Some(w * 64 + 63 - self.words[w].leading_zeros() as usize)
    }

    /// The smallest position in the set from `from` on.
    fn next_from(&self, from: usize) -> Option<usize> {
        let mut w = from / 64;
        let mut word = self.words.get(w)? & (u64::MAX << (from % 64));
        loop {
            if word != 0 {
                return Some(w * 64 + word.trailing_zeros() as usize);
            }
            w += 1;
            word = *self.words.get(w)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Bits;

    #[test]
    fn bits_find_their_last_and_next_members() {
        let mut bits = Bits::with_len(10);
        assert_eq!((bits.last(), bits.next_from(0)), (None, None));
        for i in [3, 64, 4095, 4096, 70_000] {
            bits.set(i);
        }
        assert_eq!(bits.last(), Some(70_000));
        assert_eq!(bits.next_from(0), Some(3));
        assert_eq!(bits.next_from(4), Some(64));
        assert_eq!(bits.next_from(4097), Some(70_000));
        bits.clear(70_000);
        bits.clear(4096);
        assert_eq!(bits.last(), Some(4095));
        assert!(bits.get(64) && !bits.get(65) && !bits.get(1 << 40));
        bits.clear_all();
        assert_eq!(bits.last(), None);
    }
}
