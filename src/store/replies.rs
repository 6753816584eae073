//! List replies too large for one turn: `KV_KEYS`, `KV_GET` and
//! `KV_CONTAINS` (and `SH_KEYS`, `SH_GET`, `SH_CONTAINS`) over many keys or
//! names, written in pieces by a [`StreamReply`] as the connection takes
//! them, over as many turns as it takes.
//!
//! A list reply is written in one piece, as always, when it is small: at
//! most [`INLINE_ENTRIES`] keys for `KV_KEYS`, at most [`INLINE_NAMES`]
//! names for `KV_GET` and `KV_CONTAINS`, and at most [`INLINE_REPLY_BYTES`]
//! of text. Otherwise:
//! - a request within those counts whose reply is longer: the entries are
//!   looked up (or, for `KV_KEYS`, copied) in the turn of the request, one
//!   pointer copy each (entries are shared by reference count), and the
//!   reply is written from them in pieces;
//! - more keys or names: the map's incremental copy-on-write snapshot is
//!   taken, [`SNAPSHOT_KEYS_PER_STEP`] keys per turn (for the top-level
//!   keys in the job queue, so it never overlaps the snapshot of a save or
//!   a search), and the reply is built from it in steps: the requested
//!   names are indexed, the snapshot's entries matched against them, and
//!   the result written in request order.
//!
//! **Point in time.** Every reply shows its map as it was at one moment: a
//! reply written from entries looked up in the request's turn shows the map
//! at that request; a reply built from a snapshot shows the map when the
//! snapshot began, which is the request's turn unless a save, a search or
//! another large reply was taking a snapshot of the same map then (it
//! begins right after those, before the reply). Changes made meanwhile by
//! other connections are not in it. The connection that asked is served
//! nothing else until its reply is out, so its own requests keep their
//! order. A session ended or expired before its snapshot began or while it
//! was taken is answered "session does not exist", as of that moment.
//!
//! Must not touch: sockets, the clock; the map's insides (only its
//! snapshot API).

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::time::Instant;

use super::jobs::SNAPSHOT_KEYS_PER_STEP;
use super::kv::{Entry, KeyMap};
use super::sessions::Touch;
use super::{Executed, JobId, Store};
use crate::metrics::Metrics;
use crate::protocol::{Protocol, Reply, Status, Verb, write_str};

/// Most keys a `KV_KEYS` (or `SH_KEYS`) writes in its request's turn: each
/// costs a look at its entry, up to about 100 ns in a map of millions, so
/// a reply of this many takes well under 2 ms. Larger maps are snapshotted.
pub const INLINE_ENTRIES: usize = 16 * 1024;

/// Most names a `KV_GET` or `KV_CONTAINS` (or `SH_` form) looks up in its
/// request's turn: a lookup costs up to about 200 ns in a map of millions,
/// so about 3 ms at most (twice that if the reply then turns out too long
/// to write whole and the entries are looked up again to keep them). More
/// names are matched against a snapshot in steps.
pub const INLINE_NAMES: usize = 16 * 1024;

/// Longest reply text written in one piece (1 MiB, about 0.1 ms of
/// copying); a longer one is written in pieces as the connection sends
/// them, so no reply makes a connection hold more than this beyond
/// `outputPauseBytes` (the connection's own threshold for late replies,
/// `conn::STREAM_REPLY_BYTES`, is the same size).
pub const INLINE_REPLY_BYTES: usize = 1024 * 1024;

/// What a data operation did with its reply.
pub(super) enum Ran {
    /// The reply is written.
    Replied,
    /// The reply is too long to write at once: it comes in pieces from this.
    Stream(StreamReply),
    /// The reply needs a snapshot of the map first.
    Snapshot(Box<ListJob>),
}

/// What the items of a list are: keys (`KV_KEYS`, `KV_CONTAINS`) or
/// members `"key":value` (`KV_GET`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Items {
    Keys,
    Members,
}

impl Items {
    fn text(self, entry: &Entry) -> &[u8] {
        match self {
            Items::Keys => entry.key_json(),
            Items::Members => entry.member_json(),
        }
    }
}

/// The text around a list reply's items, and what the items are.
struct Frame {
    prefix: Vec<u8>,
    suffix: Vec<u8>,
    items: Items,
}

impl Frame {
    fn new(protocol: Protocol, verb: Verb, items: Items) -> Frame {
        let (name, object) = match (verb, items) {
            (Verb::KvContains | Verb::ShContains, _) => ("contains", false),
            (_, Items::Members) => ("keys", true),
            (_, Items::Keys) => ("keys", false),
        };
        let (prefix, suffix) = Reply::list_parts(protocol, verb, name, object);
        Frame { prefix, suffix, items }
    }
}

/// Names in request order, in one buffer: copied as they are in the
/// request's turn (a plain copy, about a nanosecond a byte), and
/// rewritten in steps into the quoted, canonically escaped text an entry's
/// `key_json` is, as they are indexed.
struct Names {
    text: Vec<u8>,
    ends: Vec<usize>,
}

/// The names of a `KV_GET` or `KV_CONTAINS` of more than [`INLINE_NAMES`]
/// names, copied and indexed as a snapshot reply matches them, by whoever
/// decoded the request off the loop ([`prepare_names`]): the copy of a
/// million names (25 MB of fresh memory, most of 10 ms) and their index
/// (about 55 MB more with the quoted names, 170–370 ns a name) are then
/// not made on the loop.
pub struct PreparedNames(Box<Matcher>);

impl std::fmt::Debug for PreparedNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PreparedNames").field(&self.0.names.len()).finish()
    }
}

impl PreparedNames {
    /// What the copy and its index hold on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.0.heap_bytes()
    }
}

/// The copy of `names` a list reply over more than [`INLINE_NAMES`] of
/// them keeps, or `None` for fewer (those are looked up in their turn).
/// Given to `get` or `contains` with the command, it stands for the
/// command's names (whose own list can then be dropped where it was made,
/// `Decoded::take_names`).
pub fn prepare_names(names: &[Cow<'_, str>]) -> Option<PreparedNames> {
    if names.len() <= INLINE_NAMES {
        return None;
    }
    let mut matcher = Box::new(Matcher::new(Names::new(names)));
    // All at once: this is not the loop.
    let mut steps = usize::MAX;
    let indexed = matcher.index(&mut steps);
    debug_assert!(indexed, "unlimited steps index every name");
    Some(PreparedNames(matcher))
}

impl Names {
    fn new(names: &[Cow<'_, str>]) -> Names {
        let mut text = Vec::with_capacity(names.iter().map(|n| n.len()).sum());
        let mut ends = Vec::with_capacity(names.len());
        for name in names {
            text.extend_from_slice(name.as_bytes());
            ends.push(text.len());
        }
        Names { text, ends }
    }

    fn with_capacity(bytes: usize, names: usize) -> Names {
        Names { text: Vec::with_capacity(bytes), ends: Vec::with_capacity(names) }
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    /// Appends `name` as its quoted, escaped key text.
    fn push_quoted(&mut self, name: &[u8]) {
        // The bytes were a `str` in the request, cut at the same ends.
        write_str(&mut self.text, std::str::from_utf8(name).unwrap_or_default());
        self.ends.push(self.text.len());
    }

    fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * size_of::<usize>()
    }
}

/// A list reply waiting for a snapshot of its map.
pub struct ListJob {
    verb: Verb,
    protocol: Protocol,
    frame: Frame,
    /// What matches the names (`KV_GET`, `KV_CONTAINS`), indexed or not
    /// yet; `None` for every key.
    names: Option<Box<Matcher>>,
    /// Each name only at its first occurrence (`KV_GET`), or every one.
    dedup: bool,
}

impl std::fmt::Debug for ListJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListJob")
            .field("verb", &self.verb)
            .field("names", &self.names.as_ref().map(|m| m.raw.len().max(m.names.len())))
            .finish_non_exhaustive()
    }
}

impl ListJob {
    /// The reply, built from the map's snapshot.
    pub(super) fn into_reply(self, snapshot: Vec<Entry>) -> StreamReply {
        let Some(mut matcher) = self.names else {
            return StreamReply::new(self.frame, snapshot, None);
        };
        matcher.dedup = self.dedup;
        matcher.snapshot = snapshot;
        StreamReply::new(self.frame, Vec::new(), Some(matcher))
    }

    /// The reply when the session it was for is gone.
    fn session_gone(self) -> StreamReply {
        let mut text = Vec::new();
        Reply::new(&mut text, self.protocol).error(self.verb, Status::SessionNotExist, "");
        let frame = Frame { prefix: text, suffix: Vec::new(), items: Items::Keys };
        let mut reply = StreamReply::new(frame, Vec::new(), None);
        reply.status = Status::SessionNotExist;
        reply
    }
}

/// A budget check for a reply written in one piece: the items it lets
/// through fit in [`INLINE_REPLY_BYTES`], and `over` says one did not.
struct Fits {
    left: std::cell::Cell<usize>,
    over: std::cell::Cell<bool>,
}

impl Fits {
    fn new() -> Fits {
        Fits { left: INLINE_REPLY_BYTES.into(), over: false.into() }
    }

    /// Whether an item of `len` bytes (and its comma) still fits.
    fn take(&self, len: usize) -> bool {
        match self.left.get().checked_sub(len + 1) {
            Some(left) => {
                self.left.set(left);
                true
            }
            None => {
                self.over.set(true);
                false
            }
        }
    }
}

/// `KV_KEYS` (and `SH_KEYS`) on `map`.
pub(super) fn keys(map: &KeyMap, verb: Verb, reply: &mut Reply<'_>) -> Ran {
    if map.len() > INLINE_ENTRIES {
        return Ran::Snapshot(Box::new(ListJob {
            verb,
            protocol: reply.protocol(),
            frame: Frame::new(reply.protocol(), verb, Items::Keys),
            names: None,
            dedup: false,
        }));
    }
    let (mark, fits) = (reply.mark(), Fits::new());
    reply.object(verb, |o| {
        o.array("keys", map.entries().map(Entry::key_json).take_while(|key| fits.take(key.len()))).st(Status::Ok);
    });
    if !fits.over.get() {
        return Ran::Replied;
    }
    reply.truncate(mark);
    Ran::Stream(StreamReply::new(Frame::new(reply.protocol(), verb, Items::Keys), map.snapshot(), None))
}

/// `KV_GET` (and `SH_GET`) of `names` on `map`: the entries of the names
/// that exist, each name at its first occurrence, in request order.
///
/// Counts the names found and not found in `metrics` (keys hit and
/// missed), except for gets of more than [`INLINE_NAMES`] names, whose
/// lookups happen in a snapshot job.
///
/// `prepared`, when given, is the command's names as [`prepare_names`]
/// copied them, and stands for them: `names` is then ignored (it is left
/// empty by whoever took them).
pub(super) fn get(
    map: &KeyMap,
    names: &[Cow<'_, str>],
    prepared: Option<PreparedNames>,
    verb: Verb,
    reply: &mut Reply<'_>,
    metrics: &mut Metrics,
) -> Ran {
    if let Some(job) = names_job(names, prepared, verb, reply.protocol(), Items::Members, true) {
        return job;
    }
    if let [name] = names {
        // The common request, kept as short as it was.
        let found = map.get(name);
        if found.is_none_or(|entry| entry.member_json().len() <= INLINE_REPLY_BYTES) {
            metrics.count_lookups(u64::from(found.is_some()), u64::from(found.is_none()));
            reply.object(verb, |o| {
                o.members("keys", found.map(Entry::member_json)).st(Status::Ok);
            });
            return Ran::Replied;
        }
    }
    let (mark, fits) = (reply.mark(), Fits::new());
    let (looked, hits) = (Cell::new(0u64), Cell::new(0u64));
    reply.object(verb, |o| {
        let found = super::first_occurrences(names).filter_map(|name| {
            looked.set(looked.get() + 1);
            map.get(name).inspect(|_| hits.set(hits.get() + 1))
        });
        o.members("keys", found.map(Entry::member_json).take_while(|member| fits.take(member.len()))).st(Status::Ok);
    });
    if !fits.over.get() {
        metrics.count_lookups(hits.get(), looked.get() - hits.get());
        return Ran::Replied;
    }
    reply.truncate(mark);
    let looked = super::first_occurrences(names).count() as u64;
    let entries: Vec<_> = super::first_occurrences(names).filter_map(|name| map.get(name)).cloned().collect();
    metrics.count_lookups(entries.len() as u64, looked - entries.len() as u64);
    Ran::Stream(StreamReply::new(Frame::new(reply.protocol(), verb, Items::Members), entries, None))
}

/// `KV_CONTAINS` (and `SH_CONTAINS`) of `names` on `map`: the names that
/// exist, every occurrence, in request order; `prepared` as for [`get`].
pub(super) fn contains(
    map: &KeyMap,
    names: &[Cow<'_, str>],
    prepared: Option<PreparedNames>,
    verb: Verb,
    reply: &mut Reply<'_>,
) -> Ran {
    if let Some(job) = names_job(names, prepared, verb, reply.protocol(), Items::Keys, false) {
        return job;
    }
    let (mark, fits) = (reply.mark(), Fits::new());
    reply.object(verb, |o| {
        let found = names.iter().filter_map(|name| map.get(name));
        o.array("contains", found.map(Entry::key_json).take_while(|key| fits.take(key.len()))).st(Status::Ok);
    });
    if !fits.over.get() {
        return Ran::Replied;
    }
    reply.truncate(mark);
    let entries = names.iter().filter_map(|name| map.get(name)).cloned().collect();
    Ran::Stream(StreamReply::new(Frame::new(reply.protocol(), verb, Items::Keys), entries, None))
}

/// The snapshot job of a list reply over `names`.
/// The list job of a read whose names were indexed off the loop
/// (`prepared`), or are more than [`INLINE_NAMES`] to look up on it; `None`
/// for a read answered on the loop.
fn names_job(
    names: &[Cow<'_, str>],
    prepared: Option<PreparedNames>,
    verb: Verb,
    protocol: Protocol,
    items: Items,
    dedup: bool,
) -> Option<Ran> {
    let names = match prepared {
        Some(PreparedNames(names)) => names,
        None if names.len() > INLINE_NAMES => Box::new(Matcher::new(Names::new(names))),
        None => return None,
    };
    Some(Ran::Snapshot(list_job(names, verb, protocol, items, dedup)))
}

fn list_job(names: Box<Matcher>, verb: Verb, protocol: Protocol, items: Items, dedup: bool) -> Box<ListJob> {
    Box::new(ListJob { verb, protocol, frame: Frame::new(protocol, verb, items), names: Some(names), dedup })
}

/// Steps of the turn's budget ([`STREAM_STEPS_PER_TURN`](crate::conn::STREAM_STEPS_PER_TURN),
/// a step being about 100 ns, the cost of a key written) one name indexed
/// or one snapshot entry matched takes: each hashes a key (SipHash) and
/// probes a table of millions of slots, a cache miss or two (and the
/// entry's own text, another), and indexing writes the name's text and
/// its place into fresh memory. Measured with `attack_stalls`' `KV_GET` of
/// a million names over four million keys, turns timed on the thread's
/// CPU clock: 8,192 names indexed or entries matched took 1.33–1.46 ms
/// (about 170 ns each), and 16,384 entries 2.6–3.0 ms with the machine
/// quiet but 5.2–6.1 ms with other builds running (up to 370 ns each):
/// three steps, so that a turn matches at most 10,922, about 4 ms at the
/// slower rate.
const MATCH_STEPS: usize = 3;

/// Slots of the table of names zeroed per step: 128 bytes of fresh memory,
/// about 100 ns (a page of 4 KiB cost 1.1–4 µs to fault in and clear on
/// the 2-core virtual machine of `docs/performance.md`, depending on what
/// else ran: 8 MiB of the table of a million names, zeroed in one turn,
/// took 3.8 ms in one run and 8.3 ms in another). That table is 16 MiB;
/// the index of the same names before, initialised in the turn the
/// snapshot was done, took a 40 ms turn. (A request decoded off the loop
/// has its names indexed there, [`prepare_names`]: this is for the
/// others.)
const TABLE_SLOTS_PER_STEP: usize = 16;

/// The slots of a table for `n` names: a power of two at least twice `n`
/// (at most half full, so a lookup that finds nothing probes about two
/// slots and a half on average).
fn table_slots(n: usize) -> usize {
    (2 * n).max(16).next_power_of_two()
}

/// Requested names matched against a snapshot, in steps: zero a table of
/// slots, index the names by hash (keyed per reply, so no peer can choose
/// colliding names), then look each snapshot entry's key up among them.
/// Everything it writes is fresh memory, touched a step at a time: nothing
/// is initialised for every name at once.
struct Matcher {
    /// The names as requested; dropped once all are indexed.
    raw: Names,
    /// The names indexed so far, as key texts.
    names: Names,
    dedup: bool,
    hasher: RandomState,
    /// Open addressing, linear probing: 0 for an empty slot, else the
    /// name's hash's high 32 bits above its index + 1.
    slots: Vec<u64>,
    /// The table's size, [`table_slots`] of the names; `slots` reaches it
    /// before the first name is indexed.
    table: usize,
    /// For each indexed name, the index of its first occurrence.
    canon: Vec<u32>,
    /// For each indexed name (a first occurrence), its entry in the snapshot.
    found: Vec<Option<Entry>>,
    /// The map as it was; dropped once matched.
    snapshot: Vec<Entry>,
    /// Progress of the current stage.
    next: usize,
}

impl Matcher {
    /// A matcher of `raw`, nothing indexed yet, over no snapshot yet.
    fn new(raw: Names) -> Matcher {
        let n = raw.len();
        let quoted = Names::with_capacity(raw.text.len() + 2 * n, n);
        let table = table_slots(n);
        Matcher {
            raw,
            names: quoted,
            dedup: false,
            hasher: RandomState::new(),
            // Reserved now, written in steps: address space only.
            slots: Vec::with_capacity(table),
            table,
            canon: Vec::with_capacity(n),
            found: Vec::with_capacity(n),
            snapshot: Vec::new(),
            next: 0,
        }
    }

    /// The indexed name equal to `text`, or the empty slot where it goes.
    fn lookup(&self, text: &[u8], hash: u64) -> Result<u32, usize> {
        let mask = self.table - 1;
        let tag = hash >> 32;
        let mut at = hash as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                return Err(at);
            }
            // The low 32 bits are the index + 1 (see `slots`).
            let k = (slot as u32).wrapping_sub(1);
            if slot >> 32 == tag && self.names.get(k as usize) == text {
                return Ok(k);
            }
            at = (at + 1) & mask;
        }
    }

    /// Zeroes the table, then indexes names, in steps; returns whether all
    /// are indexed.
    fn index(&mut self, steps: &mut usize) -> bool {
        while self.slots.len() < self.table {
            if *steps == 0 {
                return false;
            }
            let slots = steps.saturating_mul(TABLE_SLOTS_PER_STEP).min(self.table - self.slots.len());
            *steps -= slots.div_ceil(TABLE_SLOTS_PER_STEP).min(*steps);
            self.slots.resize(self.slots.len() + slots, 0);
        }
        while self.next < self.raw.len() {
            if *steps == 0 {
                return false;
            }
            // (A budget smaller than a name still indexes one.)
            *steps = steps.saturating_sub(MATCH_STEPS);
            let i = self.next;
            self.next += 1;
            self.names.push_quoted(self.raw.get(i));
            let hash = self.hasher.hash_one(self.names.get(i));
            // Names are at most maxPayload / 2 (64 MiB / 2) in number.
            let i32 = i as u32;
            match self.lookup(self.names.get(i), hash) {
                Ok(first) => self.canon.push(first),
                Err(at) => {
                    self.canon.push(i32);
                    self.slots[at] = (hash >> 32) << 32 | u64::from(i32 + 1);
                }
            }
            self.found.push(None);
        }
        // Two allocations, but tens of MiB of pages for a million names.
        let raw = std::mem::replace(&mut self.raw, Names::with_capacity(0, 0));
        let bytes = raw.heap_bytes();
        super::reclaim::free_bytes(raw, bytes);
        self.next = 0;
        true
    }

    /// Matches snapshot entries, one step each; returns whether all are.
    fn scan(&mut self, steps: &mut usize) -> bool {
        while self.next < self.snapshot.len() {
            if *steps == 0 {
                return false;
            }
            // (A budget smaller than a match still makes one.)
            *steps = steps.saturating_sub(MATCH_STEPS);
            let entry = &self.snapshot[self.next];
            self.next += 1;
            let key = entry.key_json();
            if let Ok(k) = self.lookup(key, self.hasher.hash_one(key)) {
                self.found[k as usize] = Some(entry.clone());
            }
        }
        // A reference-count decrement per key, a cache miss each: off the loop.
        let snapshot = std::mem::take(&mut self.snapshot);
        let len = snapshot.len();
        super::reclaim::free(snapshot, len);
        self.next = 0;
        true
    }

    /// The next item to write, in request order.
    fn next_item(&mut self, steps: &mut usize) -> Next {
        while self.next < self.names.len() {
            if *steps == 0 {
                return Next::OutOfSteps;
            }
            *steps -= 1;
            let i = self.next;
            self.next += 1;
            let first = self.canon[i] as usize;
            let item = if self.dedup {
                if first == i { self.found[i].take() } else { None }
            } else {
                self.found[first].clone()
            };
            if let Some(entry) = item {
                return Next::Item(entry);
            }
        }
        Next::End
    }

    fn heap_bytes(&self) -> usize {
        self.raw.heap_bytes()
            + self.names.heap_bytes()
            + self.slots.capacity() * size_of::<u64>()
            + self.canon.capacity() * size_of::<u32>()
            + self.found.capacity() * size_of::<Option<Entry>>()
            + self.snapshot.capacity() * size_of::<Entry>()
    }
}

enum Next {
    Item(Entry),
    End,
    OutOfSteps,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Index,
    Scan,
    Prefix,
    Items,
    Suffix,
    Done,
}

/// A list reply written in pieces: its text is exactly what the one-piece
/// writer would have written.
pub struct StreamReply {
    frame: Frame,
    stage: Stage,
    /// The entries to write, in order (unless `matcher` decides).
    queue: std::vec::IntoIter<Entry>,
    matcher: Option<Box<Matcher>>,
    /// The item being written, and how much of its text is out.
    current: Option<Entry>,
    offset: usize,
    /// A comma is owed before `current`.
    comma: bool,
    /// An item was written (the next needs a comma).
    wrote_item: bool,
    /// How much of the prefix or suffix is out.
    part: usize,
    /// The reply's status, for the metrics.
    status: Status,
}

impl std::fmt::Debug for StreamReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamReply").field("stage", &self.stage).finish_non_exhaustive()
    }
}

impl Drop for StreamReply {
    /// Gives what it still holds (entries of a snapshot, matches) to the
    /// `ndb-free` thread when that is many entries: releasing millions of
    /// references costs tens of milliseconds, for a reply cut short by its
    /// connection closing, or complete.
    fn drop(&mut self) {
        let queue = std::mem::take(&mut self.queue);
        let len = queue.len();
        super::reclaim::free(queue, len);
        if let Some(matcher) = self.matcher.take() {
            let len = matcher.snapshot.len() + matcher.found.len();
            super::reclaim::free(matcher, len);
        }
    }
}

/// Appends as much of `bytes[*done..]` as fits before `out` reaches
/// `limit` bytes; returns whether all of it is out.
fn emit(out: &mut Vec<u8>, bytes: &[u8], done: &mut usize, limit: usize) -> bool {
    let n = limit.saturating_sub(out.len()).min(bytes.len() - *done);
    out.extend_from_slice(&bytes[*done..*done + n]);
    *done += n;
    *done == bytes.len()
}

impl StreamReply {
    fn new(frame: Frame, entries: Vec<Entry>, matcher: Option<Box<Matcher>>) -> StreamReply {
        StreamReply {
            frame,
            stage: if matcher.is_some() { Stage::Index } else { Stage::Prefix },
            queue: entries.into_iter(),
            matcher,
            current: None,
            offset: 0,
            comma: false,
            wrote_item: false,
            part: 0,
            status: Status::Ok,
        }
    }

    /// A reply whose whole text is written already, `text[start..]`, with
    /// `status`: an array or list reply longer than [`INLINE_REPLY_BYTES`],
    /// built in its request's turn within the command's work budget, and
    /// sent from here in pieces like any other long reply.
    pub(super) fn text(text: Vec<u8>, start: usize, status: Status) -> StreamReply {
        let frame = Frame { prefix: text, suffix: Vec::new(), items: Items::Keys };
        let mut reply = StreamReply::new(frame, Vec::new(), None);
        reply.part = start.min(reply.frame.prefix.len());
        reply.status = status;
        reply
    }

    /// The status the reply carries: `Ok`, or `SessionNotExist` when its
    /// session ended before its snapshot was taken.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Appends at most `max` more bytes of the reply's text to `out`,
    /// taking at most `*steps` steps (one per name indexed, snapshot entry
    /// matched, or item looked at), and subtracting those it took; returns
    /// whether the reply is complete.
    pub fn fill(&mut self, out: &mut Vec<u8>, max: usize, steps: &mut usize) -> bool {
        let limit = out.len().saturating_add(max);
        loop {
            match self.stage {
                Stage::Index | Stage::Scan => {
                    let Some(matcher) = self.matcher.as_mut() else {
                        self.stage = Stage::Prefix;
                        continue;
                    };
                    let done = if self.stage == Stage::Index { matcher.index(steps) } else { matcher.scan(steps) };
                    if !done {
                        return false;
                    }
                    self.stage = if self.stage == Stage::Index { Stage::Scan } else { Stage::Prefix };
                }
                Stage::Prefix => {
                    if !emit(out, &self.frame.prefix, &mut self.part, limit) {
                        return false;
                    }
                    self.part = 0;
                    self.stage = Stage::Items;
                }
                Stage::Items => {
                    if self.current.is_none() {
                        let next = match self.matcher.as_mut() {
                            Some(matcher) => matcher.next_item(steps),
                            None if *steps == 0 => Next::OutOfSteps,
                            None => {
                                *steps -= 1;
                                self.queue.next().map_or(Next::End, Next::Item)
                            }
                        };
                        match next {
                            Next::Item(entry) => {
                                self.current = Some(entry);
                                self.offset = 0;
                                self.comma = self.wrote_item;
                            }
                            Next::End => {
                                self.stage = Stage::Suffix;
                                continue;
                            }
                            Next::OutOfSteps => return false,
                        }
                    }
                    if self.comma {
                        if out.len() >= limit {
                            return false;
                        }
                        out.push(b',');
                        self.comma = false;
                    }
                    let Some(entry) = self.current.as_ref() else { continue };
                    if !emit(out, self.frame.items.text(entry), &mut self.offset, limit) {
                        return false;
                    }
                    self.current = None;
                    self.wrote_item = true;
                }
                Stage::Suffix => {
                    if !emit(out, &self.frame.suffix, &mut self.part, limit) {
                        return false;
                    }
                    self.stage = Stage::Done;
                    return true;
                }
                Stage::Done => return true,
            }
        }
    }

    /// Heap bytes it holds of its own: its text around the items, the
    /// pointers to entries it has yet to write, its index of names (the
    /// entries themselves are shared with the store, or kept alive for the
    /// reply only when changed since).
    pub fn heap_bytes(&self) -> usize {
        self.frame.prefix.capacity()
            + self.frame.suffix.capacity()
            + self.queue.len() * size_of::<Entry>()
            + self.matcher.as_ref().map_or(0, |m| m.heap_bytes())
    }
}

/// The list replies of the store not handed out yet.
#[derive(Debug, Default)]
pub(super) struct Lists {
    /// Ready to be sent, in the order they became ready.
    ready: VecDeque<(JobId, StreamReply)>,
    /// Replies on a session's keys waiting for their snapshot, in request
    /// order; only the first is being taken.
    sessions: VecDeque<(JobId, u64, Box<ListJob>)>,
}

impl Lists {
    /// Whether any is left to hand out.
    pub(super) fn is_empty(&self) -> bool {
        self.ready.is_empty() && self.sessions.is_empty()
    }

    /// A reply built from a top-level snapshot, ready to go.
    pub(super) fn push_ready(&mut self, id: JobId, reply: StreamReply) {
        self.ready.push_back((id, reply));
    }

    /// Session list replies waiting for their snapshot (they count toward
    /// the search lane's cap).
    pub(super) fn waiting_snapshots(&self) -> usize {
        self.sessions.len()
    }

    /// Drops the reply `id`, whose connection is gone, unless its snapshot
    /// is being taken (the first session reply: it finishes, and is
    /// dropped when handed out). Returns whether it was dropped.
    pub(super) fn drop_waiting(&mut self, id: JobId) -> bool {
        if let Some(i) = self.ready.iter().position(|(i, _)| *i == id) {
            self.ready.remove(i);
            return true;
        }
        match self.sessions.iter().skip(1).position(|(i, _, _)| *i == id) {
            Some(i) => self.sessions.remove(i + 1).is_some(),
            None => false,
        }
    }
}

impl Store {
    /// A reply that is ready but too long for one piece: it is handed out
    /// by [`Store::next_reply`] this turn.
    pub(super) fn ready_reply(&mut self, reply: StreamReply) -> Executed {
        let id = self.next_job_id();
        self.lists.ready.push_back((id, reply));
        Executed::Later(id)
    }

    /// A reply on the keys of session `token` that needs their snapshot,
    /// or 201 when the search lane is at its cap.
    pub(super) fn queue_session_list(
        &mut self,
        verb: Verb,
        token: u64,
        job: Box<ListJob>,
        reply: &mut Reply<'_>,
    ) -> Executed {
        if !self.admit(super::Lane::Searches, verb, reply) {
            return Executed::Replied;
        }
        let id = self.next_job_id();
        self.lists.sessions.push_back((id, token, job));
        Executed::Later(id)
    }

    /// The next list reply ready to be written in pieces (see the module
    /// documentation), with the id [`Store::execute`] returned for it; its
    /// connection sends it as it goes. Advances the snapshot of the first
    /// session reply waiting by up to [`SNAPSHOT_KEYS_PER_STEP`] keys per
    /// call. Call it until `None` once per turn, after [`Store::next_job`]
    /// (which takes the snapshots of the top-level keys).
    pub fn next_reply(&mut self, now: Instant) -> Option<(JobId, StreamReply)> {
        if let Some(ready) = self.lists.ready.pop_front() {
            return Some(ready);
        }
        let &(_, token, _) = self.lists.sessions.front()?;
        let since = self.since(now);
        let step = self.sessions.with_keys(token, since, Touch::None, |keys| {
            // A map emptied (and so dropped) meanwhile lost its snapshot:
            // start again from what it holds now.
            keys.begin_snapshot();
            keys.snapshot_step(SNAPSHOT_KEYS_PER_STEP)
        });
        let snapshot = match step {
            Some(None) => return None,
            Some(Some(snapshot)) => Some(snapshot),
            None => None,
        };
        let (id, _, job) = self.lists.sessions.pop_front()?;
        let reply = match snapshot {
            Some(snapshot) => job.into_reply(snapshot),
            None => job.session_gone(),
        };
        Some((id, reply))
    }
}

#[cfg(test)]
mod tests;
