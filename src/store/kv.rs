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
//! An [`IndexSet`] gives exactly that.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use indexmap::{Equivalent, IndexSet};

mod snapshot;

#[cfg(test)]
mod tests;

/// The hash builder of every key map: keyed per process (SipHash-1-3 from
/// the standard library), so peers cannot choose colliding keys.
pub type KeyHasher = std::hash::RandomState;

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
        let json = self.key_json();
        match serde_json::from_slice::<Cow<'_, str>>(json) {
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

/// A key to look an [`Entry`] up by: its escaped bytes, hashed as an entry
/// hashes its key.
#[derive(Hash)]
struct Key<'a>(&'a [u8]);

impl Equivalent<Entry> for Key<'_> {
    fn equivalent(&self, entry: &Entry) -> bool {
        self.0 == entry.escaped_key()
    }
}

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

/// A map from key to JSON value, in NemesisDB order.
#[derive(Debug, Default, Clone)]
pub struct KeyMap {
    entries: IndexSet<Entry, KeyHasher>,
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

impl KeyMap {
    /// An empty map.
    pub fn new() -> KeyMap {
        KeyMap::default()
    }

    /// Stores `value` (valid JSON text) under `key`, overwriting in place if
    /// the key exists.
    pub fn set(&mut self, key: &str, value: &str) {
        self.set_entry(Entry::new(key, value));
    }

    /// Stores `value` under `key` only if `key` is absent; returns whether it
    /// was stored.
    pub fn add(&mut self, key: &str, value: &str) -> bool {
        let escaped = escaped(key);
        if self.entries.contains(&Key(&escaped)) {
            return false;
        }
        let entry = Entry::from_parts(&escaped, value.as_bytes());
        self.bytes += cost(&entry);
        self.entries.insert(entry)
    }

    /// Makes room for `additional` more keys at once (before a load), so the
    /// table does not grow step by step.
    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
    }

    /// Inserts an entry made elsewhere (a load), overwriting in place.
    pub fn set_entry(&mut self, entry: Entry) {
        self.bytes += cost(&entry);
        let (i, old) = self.entries.replace_full(entry);
        if let Some(old) = &old {
            self.bytes -= cost(old);
        }
        if let (Some(pending), Some(old)) = (self.pending.as_mut(), old) {
            pending.changing(i, &old);
        }
    }

    /// The entry of `key`.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.get(&Key(&escaped(key)))
    }

    /// Whether `key` exists.
    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains(&Key(&escaped(key)))
    }

    /// Removes `key` (the last key takes its place); returns whether it
    /// existed.
    pub fn remove(&mut self, key: &str) -> bool {
        let Some((i, removed)) = self.entries.swap_remove_full(&Key(&escaped(key))) else { return false };
        self.bytes -= cost(&removed);
        if let Some(pending) = self.pending.as_mut() {
            pending.changing(i, &removed);
            // The last entry moved into the hole: its old position changed too.
            if let Some(moved) = self.entries.get_index(i) {
                pending.changing(self.entries.len(), moved);
            }
        }
        true
    }

    /// Removes every key; returns how many there were.
    pub fn clear(&mut self) -> usize {
        if let Some(pending) = self.pending.as_mut() {
            pending.step(&self.entries, usize::MAX);
        }
        let n = self.entries.len();
        // Replacing the table rather than clearing it gives its memory back.
        let empty = IndexSet::with_hasher(self.entries.hasher().clone());
        let old = std::mem::replace(&mut self.entries, empty);
        self.bytes = 0;
        super::reclaim::free(old, n);
        n
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// What the entries hold, as the memory cap counts it: their
    /// `"key":value` bytes plus [`ENTRY_OVERHEAD_BYTES`] each
    /// ([`super::memory`]).
    ///
    /// [`ENTRY_OVERHEAD_BYTES`]: super::memory::ENTRY_OVERHEAD_BYTES
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// What a snapshot being taken holds (its copied pointers, and the
    /// originals kept of positions changed since it began); 0 when none is.
    pub fn snapshot_bytes(&self) -> usize {
        self.pending.as_ref().map_or(0, |pending| pending.heap_bytes())
    }

    /// Drops the snapshot being taken, if any (its job was dropped); a
    /// large one is freed off the loop.
    pub fn abandon_snapshot(&mut self) {
        if let Some(pending) = self.pending.take() {
            let n = pending.len();
            super::reclaim::free(pending, n);
        }
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in map order.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = &Entry> {
        self.entries.iter()
    }

    /// The entries in map order, taken out of the map.
    pub fn into_entries(self) -> impl ExactSizeIterator<Item = Entry> {
        self.entries.into_iter()
    }

    /// A cheap, immutable copy of every entry in map order: one pointer copy
    /// and reference-count increment per key, no key or value bytes.
    pub fn snapshot(&self) -> Vec<Entry> {
        self.entries.iter().cloned().collect()
    }

    /// Starts an incremental [`snapshot`](KeyMap::snapshot) of the map as it
    /// is now, to be copied by [`KeyMap::snapshot_step`] while the map keeps
    /// changing. Returns `false` (and does nothing) if one is already being
    /// taken.
    pub fn begin_snapshot(&mut self) -> bool {
        if self.pending.is_some() {
            return false;
        }
        self.pending = Some(Box::new(snapshot::Pending::new(self.entries.len())));
        true
    }

    /// Copies up to `n` more entries of the snapshot begun by
    /// [`KeyMap::begin_snapshot`]; returns it once complete: every entry
    /// the map held when it began, in the order it held them. `None` while
    /// entries are left to copy, or when no snapshot is being taken.
    pub fn snapshot_step(&mut self, n: usize) -> Option<Vec<Entry>> {
        let pending = self.pending.as_mut()?;
        if !pending.step(&self.entries, n) {
            return None;
        }
        self.pending.take().map(|pending| pending.into_entries())
    }

    /// Whether a snapshot is being taken.
    pub fn is_snapshotting(&self) -> bool {
        self.pending.is_some()
    }
}
