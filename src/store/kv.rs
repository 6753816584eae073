//! A key map with NemesisDB's order semantics, stored compactly.
//!
//! Owns: keys and their values. Knows nothing of time, I/O or requests.
//!
//! Each key and its value live together in one immutable, reference-counted
//! allocation ([`Entry`]) holding the JSON member text `"<key>":<value>`: the
//! key escaped once, canonically (only `"`, `\` and control characters), and
//! the value as the client sent it (already validated). Replies and save
//! files copy these bytes as they are: a read never re-serialises, and a key
//! is never escaped twice. Sharing by reference count makes a snapshot of the
//! whole map a copy of pointers, which lets a save run beside the event loop.
//!
//! Lookups escape the requested key the same canonical way (a no-op for keys
//! without those characters) and hash the escaped bytes, so equal keys always
//! meet.
//!
//! Order: the order of first insertion; overwriting keeps the position;
//! removing moves the last key into the hole (swap-remove); clearing resets.
//! Those are the positions of a [`Table`] (`store/table.rs`), which also
//! grows, shrinks and rehashes its index a few buckets per operation, so no
//! single operation pays for the whole map.
//!
//! Every map hashes with one SipHash-1-3 key drawn once per process
//! ([`KeyHasher`]), so peers cannot choose colliding keys, and a map built on
//! another thread (a load) carries hashes valid in any other map: merging it
//! never hashes a key again.
//!
//! A load into a map that has keys is merged in steps, beside the traffic
//! that keeps changing the map (`kv/merge.rs`); a save's snapshot is copied
//! in steps too, copy-on-write in between (`kv/snapshot.rs`).

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hash, Hasher};
use std::mem;
use std::sync::{Arc, OnceLock};

use super::table::{self, NONE, Table};

mod merge;
mod snapshot;

#[cfg(test)]
mod tests;

/// The most keys one map holds: 4,294,967,295 (positions are 32-bit).
/// Hundreds of GiB of memory run out before it; a command that would pass
/// it is refused before it changes anything (status 204).
pub const MAX_KEYS: usize = table::MAX_LEN;

/// The hash builder of every key map: SipHash-1-3 from the standard
/// library, keyed once per process (one random key, drawn on first use),
/// so peers cannot choose colliding keys.
pub type KeyHasher = std::hash::RandomState;

/// The process's key hasher, drawn on first use.
static HASHER: OnceLock<KeyHasher> = OnceLock::new();

/// The 32-bit hash of an escaped key: SipHash-1-3 with the process's key,
/// its two halves folded together.
fn hash_key(escaped: &[u8]) -> u32 {
    let hash = HASHER.get_or_init(KeyHasher::new).hash_one(escaped);
    (hash ^ (hash >> 32)) as u32
}

/// Entries up to this size are assembled on the stack; larger ones in a
/// temporary `Vec`. Either way the bytes are copied into the shared
/// allocation with one `memcpy`.
const SMALL_ENTRY_BYTES: usize = 256;

/// One key and its JSON value, as the JSON member `"<key>":<value>`, in a
/// single shared allocation.
#[derive(Clone)]
pub struct Entry(Arc<[u8]>);

impl Entry {
    /// Packs `key` and the raw JSON `value` (which must be valid JSON).
    pub fn new(key: &str, value: &str) -> Entry {
        let key = escaped(key);
        Entry::from_parts(&key, value.as_bytes())
    }

    /// Packs an already escaped key and a raw JSON value.
    fn from_parts(escaped_key: &[u8], value: &[u8]) -> Entry {
        let key_end = escaped_key.len() + 1;
        let len = key_end + 2 + value.len();
        let fill = |buf: &mut [u8]| {
            buf[0] = b'"';
            buf[1..key_end].copy_from_slice(escaped_key);
            buf[key_end..key_end + 2].copy_from_slice(b"\":");
            buf[key_end + 2..].copy_from_slice(value);
        };
        if len <= SMALL_ENTRY_BYTES {
            // Assembled on the stack, then copied once into the allocation.
            let mut buf = [0u8; SMALL_ENTRY_BYTES];
            fill(&mut buf[..len]);
            Entry(Arc::from(&buf[..len]))
        } else {
            let mut buf = vec![0u8; len];
            fill(&mut buf);
            Entry(Arc::from(buf))
        }
    }

    /// Where the key's closing quote is.
    fn key_end(&self) -> usize {
        let bytes = &self.0;
        let mut i = 1;
        while i < bytes.len() {
            match bytes[i] {
                b'"' => return i,
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
        bytes.len()
    }

    /// The key as a JSON string literal, quotes included.
    pub fn key_json(&self) -> &[u8] {
        &self.0[..self.key_end() + 1]
    }

    /// The value as JSON text.
    pub fn value_json(&self) -> &[u8] {
        self.0.get(self.key_end() + 2..).unwrap_or_default()
    }

    /// The whole member, `"<key>":<value>`.
    pub fn member_json(&self) -> &[u8] {
        &self.0
    }

    /// Whether both are the same entry (one allocation), not only equal:
    /// a key set again, even to the same value, holds a new entry.
    pub fn is(&self, other: &Entry) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The key, unescaped.
    pub fn key(&self) -> Cow<'_, str> {
        // Read as text (always UTF-8: it was a `str`), so that serde_json's
        // parser is linked once, for `from_str`.
        let json = std::str::from_utf8(self.key_json()).unwrap_or_default();
        match serde_json::from_str::<Cow<'_, str>>(json) {
            Ok(key) => key,
            Err(_) => Cow::Borrowed(""),
        }
    }

    fn escaped_key(&self) -> &[u8] {
        &self.0[1..self.key_end()]
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl Hash for Entry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.escaped_key().hash(state);
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.escaped_key() == other.escaped_key()
    }
}

impl Eq for Entry {}

/// `key` escaped canonically, without quotes; borrowed when nothing needs
/// escaping.
fn escaped(key: &str) -> Cow<'_, [u8]> {
    if !key.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        return Cow::Borrowed(key.as_bytes());
    }
    let mut quoted = Vec::with_capacity(key.len() + 8);
    crate::protocol::write_str(&mut quoted, key);
    quoted.pop();
    quoted.remove(0);
    Cow::Owned(quoted)
}

/// An entry in a map's table, with its hash and chain link: 24 bytes.
#[derive(Clone)]
struct KvSlot {
    entry: Entry,
    hash: u32,
    next: u32,
}

impl KvSlot {
    fn new(entry: Entry, hash: u32) -> KvSlot {
        KvSlot { entry, hash, next: NONE }
    }
}

impl table::Slot for KvSlot {
    fn hash(&self) -> u32 {
        self.hash
    }

    fn next(&self) -> u32 {
        self.next
    }

    fn set_next(&mut self, next: u32) {
        self.next = next;
    }
}

/// The keys a map holds now, and the snapshot being taken of them. Every
/// change to a position goes through here, so the snapshot keeps what it
/// still needs first.
#[derive(Default, Clone)]
struct Keys {
    table: Table<KvSlot>,
    /// An incremental snapshot being taken (see [`KeyMap::begin_snapshot`]).
    pending: Option<Box<snapshot::Pending>>,
    /// What the entries hold, as the memory cap counts it
    /// ([`KeyMap::bytes`]).
    bytes: usize,
}

/// What one entry counts for toward the memory cap: its bytes and the
/// map's per-key overhead (`store/memory.rs`).
fn cost(entry: &Entry) -> usize {
    entry.0.len() + super::memory::ENTRY_OVERHEAD_BYTES
}

impl Keys {
    /// The position of the key `escaped` (hashed to `hash`).
    fn find(&self, hash: u32, escaped: &[u8]) -> Option<usize> {
        self.table.find(hash, |slot| slot.entry.escaped_key() == escaped)
    }

    /// The entry of the key `escaped`.
    fn entry(&self, hash: u32, escaped: &[u8]) -> Option<&Entry> {
        self.find(hash, escaped).and_then(|i| self.table.get(i)).map(|slot| &slot.entry)
    }

    /// Stores `entry`: in place of the same key, or appended. Returns
    /// whether it was appended, or `None` if it is new and the table full.
    fn set(&mut self, hash: u32, entry: Entry) -> Option<bool> {
        match self.find(hash, entry.escaped_key()) {
            Some(i) => {
                self.set_value(i, entry);
                Some(false)
            }
            None => self.push(KvSlot::new(entry, hash)).then_some(true),
        }
    }

    /// Puts `entry` (of the key stored there) at position `i`.
    fn set_value(&mut self, i: usize, entry: Entry) {
        let Some(slot) = self.table.get_mut(i) else { return };
        let added = cost(&entry);
        let old = mem::replace(&mut slot.entry, entry);
        self.bytes = (self.bytes + added).saturating_sub(cost(&old));
        if let Some(pending) = self.pending.as_mut() {
            pending.changing(i, &old);
        }
    }

    /// Appends a key that is not stored; returns whether it was stored
    /// (see [`MAX_KEYS`]).
    fn push(&mut self, slot: KvSlot) -> bool {
        let added = cost(&slot.entry);
        let stored = self.table.push(slot).is_some();
        if stored {
            self.bytes += added;
        }
        stored
    }

    /// Removes position `i`, moving the last key into it.
    fn swap_remove(&mut self, i: usize) -> Option<Entry> {
        let last = self.table.len().checked_sub(1)?;
        let removed = self.table.swap_remove(i)?;
        self.bytes = self.bytes.saturating_sub(cost(&removed.entry));
        if let Some(pending) = self.pending.as_mut() {
            pending.changing(i, &removed.entry);
            // The last entry moved into the hole: its old position changed too.
            if let Some(moved) = self.table.get(i).filter(|_| i != last) {
                pending.changing(last, &moved.entry);
            }
        }
        Some(removed.entry)
    }

    /// Puts `slot`, a key not stored, at position `i` in place of the key
    /// there.
    fn replace(&mut self, i: usize, slot: KvSlot) {
        let added = cost(&slot.entry);
        match self.table.replace(i, slot) {
            Ok(old) => {
                self.bytes = (self.bytes + added).saturating_sub(cost(&old.entry));
                if let Some(pending) = self.pending.as_mut() {
                    pending.changing(i, &old.entry);
                }
            }
            Err(slot) => drop(self.push(slot)),
        }
    }
}

/// A map from key to JSON value, in NemesisDB order.
#[derive(Default, Clone)]
pub struct KeyMap {
    keys: Keys,
    /// A load being merged in (see [`KeyMap::begin_merge`]).
    merge: Option<Box<merge::Merge>>,
}

impl std::fmt::Debug for KeyMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMap")
            .field("len", &self.len())
            .field("snapshotting", &self.is_snapshotting())
            .field("merging", &self.merge)
            .finish_non_exhaustive()
    }
}

/// How far the merge of a load ([`KeyMap::begin_merge`]) has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merging {
    /// The loaded keys are being compared with the map's. The map reads and
    /// changes as if the load had not happened yet.
    Checking,
    /// The load has taken effect: the map reads and changes as if every
    /// loaded key had been set at once, at the moment checking ended, while
    /// the loaded keys are moved in.
    Applying,
    /// No merge is under way.
    Done,
    /// Said once, by the [`KeyMap::merge_step`] that ended the check: the
    /// map's keys and the loaded ones not among them would pass
    /// [`MAX_KEYS`], so the merge was dropped and the map is as if the load
    /// had never been asked for. No merge is under way any more.
    Refused,
}

impl KeyMap {
    /// An empty map.
    pub fn new() -> KeyMap {
        KeyMap::default()
    }

    /// Stores `value` (valid JSON text) under `key`, overwriting in place if
    /// the key exists. Returns whether it was stored: `false` only for a new
    /// key while the map holds [`MAX_KEYS`] (see [`KeyMap::fits`]).
    pub fn set(&mut self, key: &str, value: &str) -> bool {
        let key = escaped(key);
        let hash = hash_key(&key);
        self.put(hash, Entry::from_parts(&key, value.as_bytes()))
    }

    /// Stores `value` under `key` only if `key` is absent; returns whether it
    /// was stored (`false` too for a new key while the map is full).
    pub fn add(&mut self, key: &str, value: &str) -> bool {
        let key = escaped(key);
        let hash = hash_key(&key);
        if let Some(merge) = self.merge.as_deref_mut() {
            return merge.add(&mut self.keys, hash, &key, value.as_bytes());
        }
        if self.keys.find(hash, &key).is_some() {
            return false;
        }
        self.keys.push(KvSlot::new(Entry::from_parts(&key, value.as_bytes()), hash))
    }

    /// Inserts an entry made elsewhere (a load, an edit), overwriting in
    /// place; returns whether it was stored (as [`KeyMap::set`]).
    pub fn set_entry(&mut self, entry: Entry) -> bool {
        let hash = hash_key(entry.escaped_key());
        self.put(hash, entry)
    }

    fn put(&mut self, hash: u32, entry: Entry) -> bool {
        match self.merge.as_deref_mut() {
            Some(merge) => merge.set(&mut self.keys, hash, entry),
            None => self.keys.set(hash, entry).is_some(),
        }
    }

    /// How many more keys the map can take: [`MAX_KEYS`] in all.
    pub fn room(&self) -> usize {
        table::max_len().saturating_sub(self.len())
    }

    /// Whether setting or adding every one of `keys` fits in the map: the
    /// keys it does not hold, each counted once, are at most
    /// [`KeyMap::room`]. Looks keys up only when the map is within
    /// `keys.len()` of full, so a command far from the limit pays nothing.
    pub fn fits<'a>(&self, keys: impl ExactSizeIterator<Item = &'a str>) -> bool {
        let room = self.room();
        if keys.len() <= room {
            return true;
        }
        let mut new = HashSet::new();
        for key in keys {
            if !self.contains(key) && new.insert(key) && new.len() > room {
                return false;
            }
        }
        true
    }

    /// The entry of `key`.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        let key = escaped(key);
        let hash = hash_key(&key);
        match self.merge.as_deref() {
            Some(merge) => merge.get(&self.keys, hash, &key),
            None => self.keys.entry(hash, &key),
        }
    }

    /// Whether `key` exists.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Removes `key` (the last key takes its place); returns whether it
    /// existed.
    pub fn remove(&mut self, key: &str) -> bool {
        let key = escaped(key);
        let hash = hash_key(&key);
        if let Some(merge) = self.merge.as_deref_mut() {
            return merge.remove(&mut self.keys, hash, &key);
        }
        let Some(i) = self.keys.find(hash, &key) else { return false };
        self.keys.swap_remove(i).is_some()
    }

    /// Removes every key; returns how many there were. Costs the loop a
    /// pointer swap: what was removed is freed off the loop
    /// (`store/reclaim.rs`), or kept for a snapshot under way, which copies
    /// the rest from it.
    pub fn clear(&mut self) -> usize {
        let n = self.len();
        let old = mem::take(&mut self.keys.table);
        self.keys.bytes = 0;
        let old = match self.keys.pending.as_mut() {
            Some(pending) => pending.freeze(old),
            None => Some(old),
        };
        if let Some(old) = old {
            let allocations = old.len();
            super::reclaim::free(old, allocations);
        }
        if let Some(merge) = self.merge.as_deref_mut()
            && !merge.is_applying()
        {
            // Not in effect yet: the load will apply to the empty map.
            merge.cleared();
        } else if let Some(merge) = self.merge.take() {
            let allocations = merge.allocations();
            super::reclaim::free(merge, allocations);
        }
        n
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.table.len() + self.merge.as_ref().map_or(0, |merge| merge.pending_len())
    }

    /// What the entries hold, as the memory cap counts it: their
    /// `"key":value` bytes plus [`ENTRY_OVERHEAD_BYTES`] each
    /// ([`super::memory`]).
    ///
    /// [`ENTRY_OVERHEAD_BYTES`]: super::memory::ENTRY_OVERHEAD_BYTES
    pub fn bytes(&self) -> usize {
        self.keys.bytes + self.merge.as_deref().map_or(0, merge::Merge::bytes)
    }

    /// What a snapshot being taken holds (its copied pointers, and the
    /// originals kept of positions changed since it began); 0 when none is.
    pub fn snapshot_bytes(&self) -> usize {
        self.keys.pending.as_ref().map_or(0, |pending| pending.heap_bytes())
    }

    /// Drops the snapshot being taken, if any (its job was dropped); a
    /// large one is freed off the loop.
    pub fn abandon_snapshot(&mut self) {
        if let Some(pending) = self.keys.pending.take() {
            let n = pending.len();
            super::reclaim::free(pending, n);
        }
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries in map order.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = &Entry> {
        Entries {
            main: self.keys.table.iter(),
            merge: self.merge.as_deref().filter(|merge| merge.is_applying()),
            tail: 0,
            left: self.len(),
        }
    }

    /// A cheap, immutable copy of every entry in map order: one pointer copy
    /// and reference-count increment per key, no key or value bytes.
    pub fn snapshot(&self) -> Vec<Entry> {
        self.entries().cloned().collect()
    }

    /// Starts an incremental [`snapshot`](KeyMap::snapshot) of the map as it
    /// is now, to be copied by [`KeyMap::snapshot_step`] while the map keeps
    /// changing. Returns `false` (and does nothing) if one is already being
    /// taken, or while a load is being applied ([`Merging::Applying`]):
    /// its snapshot begins once the load is in.
    pub fn begin_snapshot(&mut self) -> bool {
        if self.keys.pending.is_some() || self.merge.as_ref().is_some_and(|merge| merge.is_applying()) {
            return false;
        }
        self.keys.pending = Some(Box::new(snapshot::Pending::new(self.keys.table.len())));
        true
    }

    /// Copies up to `n` more entries of the snapshot begun by
    /// [`KeyMap::begin_snapshot`]; returns it once complete: every entry
    /// the map held when it began, in the order it held them. `None` while
    /// entries are left to copy, or when no snapshot is being taken.
    pub fn snapshot_step(&mut self, n: usize) -> Option<Vec<Entry>> {
        let pending = self.keys.pending.as_mut()?;
        if !pending.step(&self.keys.table, n) {
            return None;
        }
        let (entries, frozen) = self.keys.pending.take()?.finish();
        if let Some(frozen) = frozen {
            let allocations = frozen.len();
            super::reclaim::free(frozen, allocations);
        }
        Some(entries)
    }

    /// Whether a snapshot is being taken.
    pub fn is_snapshotting(&self) -> bool {
        self.keys.pending.is_some()
    }

    /// Moves up to `buckets` more buckets of any resize under way (the
    /// map's index, or that of a load being merged), beyond the few every
    /// change moves; returns whether one is still under way.
    pub fn rehash(&mut self, buckets: usize) -> bool {
        let main = self.keys.table.rehash(buckets);
        let loaded = self.merge.as_deref_mut().is_some_and(|merge| merge.rehash(buckets));
        main || loaded
    }

    /// Whether an index resize is under way ([`KeyMap::rehash`] has work).
    pub fn is_resizing(&self) -> bool {
        self.keys.table.is_resizing() || self.merge.as_deref().is_some_and(merge::Merge::is_resizing)
    }

    /// Starts merging `loaded` into the map, with the semantics of setting
    /// each of its keys in its order (a key present is overwritten in
    /// place, others are appended), to be carried out by
    /// [`KeyMap::merge_step`] while the map keeps serving (see
    /// `kv/merge.rs` for what it reads as meanwhile). Into an empty map with
    /// no snapshot under way `loaded` is moved whole, at once. A merge
    /// already under way is finished first, at once. Returns `false`,
    /// changing nothing, when `loaded` holds more keys than a map may
    /// ([`MAX_KEYS`]); one that fits alone but not with the map's keys is
    /// refused when its check ends ([`Merging::Refused`]).
    pub fn begin_merge(&mut self, mut loaded: KeyMap) -> bool {
        while !matches!(self.merge_step(usize::MAX), Merging::Done | Merging::Refused) {}
        while !matches!(loaded.merge_step(usize::MAX), Merging::Done | Merging::Refused) {}
        if loaded.len() > table::max_len() {
            let allocations = loaded.len();
            super::reclaim::free(loaded, allocations);
            return false;
        }
        let table = mem::take(&mut loaded.keys.table);
        let bytes = loaded.keys.bytes;
        drop(loaded);
        if table.is_empty() {
            return true;
        }
        if self.keys.table.is_empty() && self.keys.pending.is_none() {
            self.keys.table = table;
            self.keys.bytes = bytes;
            return true;
        }
        self.merge = Some(Box::new(merge::Merge::new(table, bytes)));
        true
    }

    /// Does up to `n` keys' worth more of the merge begun by
    /// [`KeyMap::begin_merge`] (one lookup or move each); says how far it
    /// has come.
    pub fn merge_step(&mut self, n: usize) -> Merging {
        let Some(merge) = self.merge.as_deref_mut() else { return Merging::Done };
        let refused = match merge.step(&mut self.keys, n) {
            merge::Step::More => {
                return if merge.is_applying() { Merging::Applying } else { Merging::Checking };
            }
            merge::Step::Done => false,
            merge::Step::Full => true,
        };
        if let Some(merge) = self.merge.take() {
            let allocations = merge.allocations();
            super::reclaim::free(merge, allocations);
        }
        if refused { Merging::Refused } else { Merging::Done }
    }

    /// How far a merge has come ([`Merging::Done`] when none is under way).
    pub fn merging(&self) -> Merging {
        match self.merge.as_deref() {
            None => Merging::Done,
            Some(merge) if merge.is_applying() => Merging::Applying,
            Some(_) => Merging::Checking,
        }
    }

    /// Bytes of heap the map's own structure holds: its slots and index
    /// (and a load being merged), not the entries they point to.
    pub fn table_bytes(&self) -> usize {
        self.keys.table.heap_bytes() + self.merge.as_deref().map_or(0, merge::Merge::heap_bytes)
    }
}

/// [`KeyMap::entries`]: the map's own slots, then (while a load is applied)
/// the loaded keys not moved in yet.
struct Entries<'a> {
    main: table::Iter<'a, KvSlot>,
    /// The load being applied, whose values win and whose new keys follow.
    merge: Option<&'a merge::Merge>,
    /// The next loaded position to look at.
    tail: usize,
    left: usize,
}

impl<'a> Iterator for Entries<'a> {
    type Item = &'a Entry;

    fn next(&mut self) -> Option<&'a Entry> {
        if let Some(slot) = self.main.next() {
            self.left -= 1;
            return Some(self.merge.and_then(|merge| merge.overriding(slot)).unwrap_or(&slot.entry));
        }
        let (entry, at) = self.merge?.appended_from(self.tail)?;
        self.tail = at + 1;
        self.left = self.left.saturating_sub(1);
        Some(entry)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Entries<'_> {}
