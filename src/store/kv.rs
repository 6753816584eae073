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
}

impl KeyMap {
    /// An empty map.
    pub fn new() -> KeyMap {
        KeyMap::default()
    }

    /// Stores `value` (valid JSON text) under `key`, overwriting in place if
    /// the key exists.
    pub fn set(&mut self, key: &str, value: &str) {
        self.entries.replace_full(Entry::new(key, value));
    }

    /// Stores `value` under `key` only if `key` is absent; returns whether it
    /// was stored.
    pub fn add(&mut self, key: &str, value: &str) -> bool {
        let escaped = escaped(key);
        if self.entries.contains(&Key(&escaped)) {
            return false;
        }
        self.entries.insert(Entry::from_parts(&escaped, value.as_bytes()))
    }

    /// Inserts an entry made elsewhere (a load), overwriting in place.
    pub fn set_entry(&mut self, entry: Entry) {
        self.entries.replace_full(entry);
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
        self.entries.swap_remove(&Key(&escaped(key)))
    }

    /// Removes every key; returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.entries.len();
        // Replacing the table rather than clearing it gives its memory back.
        self.entries = IndexSet::with_hasher(self.entries.hasher().clone());
        n
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in map order.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = &Entry> {
        self.entries.iter()
    }

    /// A cheap, immutable copy of every entry in map order: one pointer copy
    /// and reference-count increment per key, no key or value bytes.
    pub fn snapshot(&self) -> Vec<Entry> {
        self.entries.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(map: &KeyMap) -> Vec<String> {
        map.entries().map(|e| e.key().into_owned()).collect()
    }

    fn map_of(names: &[&str]) -> KeyMap {
        let mut map = KeyMap::new();
        for name in names {
            map.set(name, "1");
        }
        map
    }

    #[test]
    fn entries_are_json_members() {
        let long_key = "k".repeat(300);
        for key in ["", "a", "żółw ☃ 𝄞", "q\"uo\\te\n\u{1}", &long_key] {
            let entry = Entry::new(key, "{\"a\":[1,2]}");
            assert_eq!(entry.key(), key);
            assert_eq!(entry.value_json(), b"{\"a\":[1,2]}");
            let member = format!("{{{}}}", String::from_utf8(entry.member_json().to_vec()).unwrap());
            let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&member).unwrap();
            assert_eq!(parsed[key], serde_json::json!({"a": [1, 2]}));
        }
        let big = "x".repeat(70_000);
        let entry = Entry::new("big", &format!("\"{big}\""));
        assert_eq!(entry.value_json().len(), 70_002);
        assert_eq!(entry.key_json(), b"\"big\"");
    }

    #[test]
    fn keys_needing_escapes_are_found_by_their_plain_form() {
        let mut map = KeyMap::new();
        map.set("a\"b", "1");
        map.set("c\\d", "2");
        assert_eq!(map.get("a\"b").map(Entry::value_json), Some(&b"1"[..]));
        assert!(map.contains("c\\d"));
        assert!(!map.contains("a\\\"b"));
        assert!(map.remove("a\"b"));
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn overwrite_keeps_position() {
        let mut map = map_of(&["a", "b", "c"]);
        map.set("b", "\"new\"");
        assert_eq!(keys(&map), ["a", "b", "c"]);
        assert_eq!(map.get("b").map(Entry::value_json), Some(&b"\"new\""[..]));
    }

    #[test]
    fn add_does_not_overwrite() {
        let mut map = map_of(&["a"]);
        assert!(!map.add("a", "2"));
        assert!(map.add("b", "3"));
        assert_eq!(map.get("a").map(Entry::value_json), Some(&b"1"[..]));
        assert_eq!(map.get("b").map(Entry::value_json), Some(&b"3"[..]));
    }

    #[test]
    fn remove_swaps_the_last_key_in() {
        let mut map = map_of(&["a", "b", "c", "d", "e"]);
        assert!(map.remove("b"));
        assert_eq!(keys(&map), ["a", "e", "c", "d"]);
        let mut map = map_of(&["a", "b", "c", "d", "e"]);
        map.remove("a");
        map.remove("c");
        assert_eq!(keys(&map), ["e", "b", "d"]);
        assert!(!map.remove("zz"));
    }

    #[test]
    fn clear_resets_order_and_counts() {
        let mut map = map_of(&["a", "b"]);
        assert_eq!(map.clear(), 2);
        assert!(map.is_empty());
        map.set("z", "1");
        map.set("a", "1");
        assert_eq!(keys(&map), ["z", "a"]);
    }

    #[test]
    fn snapshots_do_not_see_later_writes() {
        let mut map = map_of(&["a", "b"]);
        let snap = map.snapshot();
        map.set("a", "2");
        map.remove("b");
        let members: Vec<&[u8]> = snap.iter().map(Entry::member_json).collect();
        assert_eq!(members, [&b"\"a\":1"[..], b"\"b\":1"]);
    }
}
