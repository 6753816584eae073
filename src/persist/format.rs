//! The bytes of a save, in NemesisDB's format: `md.json`, KV data files
//! (`{ "keys":{…}}`) and session data files (`[{"keys":{…},"sh":{…}},…]`),
//! written in chunks of about [`DATA_FILE_BYTES`] and read back.
//!
//! Keys are written as the store holds them, escaped as JSON requires, and
//! values as the client sent them (valid JSON), so every file parses.
//! Reading is strict about structure (a file that is not a save's data is
//! refused) and lenient where NemesisDB's own versions differ: session
//! records of 0.6.x lack `extendOnGet`/`extendOnSetAdd`, read as false.
//!
//! Owns: encoding and decoding. Knows nothing of files or paths.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::protocol::{Expiry, write_str};
use crate::store::{Entry, SaveKind, SessionRecord};

/// A data file is closed once it reaches this size (10 MiB, as in
/// NemesisDB); the next key or session starts a new one. A file holds at
/// least one item, so one bigger item makes a bigger file.
pub const DATA_FILE_BYTES: usize = 10 * 1024 * 1024;

/// `md.json`'s `version`.
const METADATA_VERSION: u64 = 2;

/// `md.json`'s `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SaveStatus {
    /// Being written.
    Pending = 0,
    /// Every data file is durable.
    Complete = 1,
    /// The save failed.
    Error = 2,
}

/// The contents of `md.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Metadata<'a> {
    pub name: &'a str,
    pub kind: SaveKind,
    pub status: SaveStatus,
    pub start_ms: u64,
    pub complete_ms: u64,
}

impl Metadata<'_> {
    /// Compact JSON, members sorted by name, as NemesisDB writes it.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(b"{\"complete\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.complete_ms).as_bytes());
        out.extend_from_slice(b",\"name\":");
        write_str(&mut out, self.name);
        for (name, value) in [
            ("saveDataType", self.kind.data_type()),
            ("start", self.start_ms),
            ("status", self.status as u64),
            ("version", METADATA_VERSION),
        ] {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        }
        out.push(b'}');
        out
    }
}

/// What a load needs from `md.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SaveInfo {
    /// `status`: only 1 is complete.
    pub status: u64,
    /// `saveDataType`, if it names a kind.
    pub kind: Option<SaveKind>,
}

/// A file's bytes as the text serde_json reads: every JSON file is read
/// with `from_str`, so the program links one copy of serde_json's parser
/// (`from_slice` would add a second, about 6 KB, for the same checks: it
/// too refuses what is not UTF-8).
///
/// # Errors
/// Where the bytes stop being UTF-8.
fn text(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text (at byte {})", e.valid_up_to()))
}

/// Reads `md.json`: it must be a JSON object with an unsigned `status` and
/// an unsigned `saveDataType`.
///
/// # Errors
/// What is wrong with it.
pub(super) fn parse_metadata(bytes: &[u8]) -> Result<SaveInfo, String> {
    #[derive(Deserialize)]
    struct Raw {
        status: Option<u64>,
        #[serde(rename = "saveDataType")]
        save_data_type: Option<u64>,
    }
    let raw: Raw = serde_json::from_str(text(bytes).map_err(|e| format!("not valid metadata: {e}"))?)
        .map_err(|e| format!("not valid metadata: {e}"))?;
    let status = raw.status.ok_or("no unsigned \"status\"")?;
    let data_type = raw.save_data_type.ok_or("no unsigned \"saveDataType\"")?;
    Ok(SaveInfo { status, kind: SaveKind::from_data_type(data_type) })
}

/// How often, in keys or sessions, encoding a save looks whether to offer
/// its core ([`crate::background::yield_point`]): 1,024 keys are about
/// 50–100 µs of copying.
const YIELD_EVERY_ITEMS: usize = 1024;

/// Splits a KV snapshot into data files: calls `emit` with each file's
/// bytes, in order; nothing for an empty snapshot.
///
/// # Errors
/// The first error `emit` returns.
pub(super) fn kv_files<E>(entries: &[Entry], mut emit: impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
    const OPEN: &[u8] = b"{ \"keys\":{";
    const CLOSE: &[u8] = b"}}";
    let mut buf = Vec::with_capacity(DATA_FILE_BYTES + 64 * 1024);
    for (i, entry) in entries.iter().enumerate() {
        if i % YIELD_EVERY_ITEMS == 0 {
            crate::background::yield_point();
        }
        buf.extend_from_slice(if buf.is_empty() { OPEN } else { b"," });
        buf.extend_from_slice(entry.member_json());
        if buf.len() >= DATA_FILE_BYTES {
            buf.extend_from_slice(CLOSE);
            emit(&buf)?;
            buf.clear();
        }
    }
    if !buf.is_empty() {
        buf.extend_from_slice(CLOSE);
        emit(&buf)?;
    }
    Ok(())
}

/// Splits a session snapshot into data files, as [`kv_files`] does.
///
/// # Errors
/// The first error `emit` returns.
pub(super) fn session_files<E>(
    records: &[SessionRecord],
    mut emit: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let mut buf = Vec::with_capacity(DATA_FILE_BYTES + 64 * 1024);
    let mut digits = itoa::Buffer::new();
    for (i, record) in records.iter().enumerate() {
        if i % YIELD_EVERY_ITEMS == 0 {
            crate::background::yield_point();
        }
        buf.push(if buf.is_empty() { b'[' } else { b',' });
        buf.extend_from_slice(b"{\"keys\":{");
        for (i, entry) in record.keys.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            buf.extend_from_slice(entry.member_json());
        }
        let e = record.expiry;
        // A session that never expires is written with every flag false.
        let never = e.duration == 0;
        let flag = |on: bool| if on && !never { &b"true"[..] } else { b"false" };
        buf.extend_from_slice(b"},\"sh\":{\"expiry\":{\"deleteSession\":");
        buf.extend_from_slice(flag(e.delete_session));
        buf.extend_from_slice(b",\"duration\":");
        buf.extend_from_slice(digits.format(e.duration).as_bytes());
        buf.extend_from_slice(b",\"extendOnGet\":");
        buf.extend_from_slice(flag(e.extend_on_get));
        buf.extend_from_slice(b",\"extendOnSetAdd\":");
        buf.extend_from_slice(flag(e.extend_on_set_add));
        buf.extend_from_slice(b"},\"shared\":false,\"tkn\":");
        buf.extend_from_slice(digits.format(record.token).as_bytes());
        buf.extend_from_slice(b"}}");
        if buf.len() >= DATA_FILE_BYTES {
            buf.push(b']');
            emit(&buf)?;
            buf.clear();
        }
    }
    if !buf.is_empty() {
        buf.push(b']');
        emit(&buf)?;
    }
    Ok(())
}

/// Reads one KV data file, appending its keys to `out` in file order.
///
/// # Errors
/// The file is not JSON, or not an object whose `keys` member is an object.
pub(super) fn parse_kv(bytes: &[u8], out: &mut Vec<Entry>) -> Result<(), String> {
    #[derive(Deserialize)]
    struct KvFile {
        keys: Entries,
    }
    let file: KvFile = serde_json::from_str(text(bytes)?).map_err(|e| e.to_string())?;
    out.extend(file.keys.0);
    Ok(())
}

/// Reads one session data file, appending its records to `out`.
///
/// # Errors
/// The file is not JSON, or not an array of session records (`tkn`,
/// `expiry.duration` and `expiry.deleteSession` are required).
pub(super) fn parse_sessions(bytes: &[u8], out: &mut Vec<SessionRecord>) -> Result<(), String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ExpiryIn {
        delete_session: bool,
        duration: u64,
        #[serde(default)]
        extend_on_get: bool,
        #[serde(default)]
        extend_on_set_add: bool,
    }
    #[derive(Deserialize)]
    struct ShIn {
        expiry: ExpiryIn,
        tkn: u64,
    }
    #[derive(Deserialize)]
    struct RecordIn {
        #[serde(default)]
        keys: Entries,
        sh: ShIn,
    }
    let records: Vec<RecordIn> = serde_json::from_str(text(bytes)?).map_err(|e| e.to_string())?;
    out.reserve(records.len());
    for RecordIn { keys, sh: ShIn { expiry: e, tkn } } in records {
        let expiry = Expiry {
            duration: e.duration,
            delete_session: e.delete_session,
            extend_on_get: e.extend_on_get,
            extend_on_set_add: e.extend_on_set_add,
        };
        out.push(SessionRecord { token: tkn, expiry, keys: keys.0 });
    }
    Ok(())
}

/// The members of a JSON object as store entries, in file order; values
/// are kept as the raw JSON text they are.
#[derive(Default)]
struct Entries(Vec<Entry>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EntriesVisitor)
    }
}

struct EntriesVisitor;

impl<'de> Visitor<'de> for EntriesVisitor {
    type Value = Entries;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of keys")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value: &RawValue = map.next_value()?;
            entries.push(Entry::new(&key, value.get()));
        }
        Ok(Entries(entries))
    }
}

/// A member name, borrowed from the file unless it holds escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}
