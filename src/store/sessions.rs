//! Sessions: token → key map, with deadlines kept by a [`TimerWheel`].
//!
//! Owns: every session, its keys, its deadline and its timer; the token
//! source. Must not touch: the clock (time is passed in as a [`Duration`]
//! since the store's origin), sockets, the wire format.
//!
//! # Time
//!
//! Deadlines are wheel ticks (milliseconds since the origin). A new or
//! extended deadline is `ceil(now) + duration`, and a session counts as
//! expired from the tick `floor(now) >= deadline` on, so it never expires
//! before `now + duration` and at most 1 ms after. Durations saturate: a
//! deadline is capped at [`MAX_DEADLINE_TICK`] (about 36 million years), so
//! any `u64` duration is accepted and echoed as given.
//!
//! # Expiry
//!
//! Two paths, which agree:
//! - **on access**: every lookup checks the deadline first. An expired
//!   session is removed (`deleteSession:true`) or emptied and re-armed
//!   (`deleteSession:false`) before the command sees it, so it never serves
//!   data and `SH_INFO.remaining` is never negative;
//! - **actively**: [`Sessions::expire`] pops due timers from the wheel,
//!   within a per-turn budget, and does the same to each session.
//!
//! A deadline restarted by `deleteSession:false` is `old deadline + duration`
//! (the moment of expiry, not the moment someone noticed), advanced by whole
//! durations past `now` if the session was left alone longer than that.
//!
//! # Lazy re-arm
//!
//! A touch (`extendOnGet`, `extendOnSetAdd`) only moves `deadline`; the
//! session's timer stays where it was. When that timer fires and the
//! session's deadline lies ahead, the timer is inserted again at the new
//! deadline. So a session touched a thousand times a second costs one wheel
//! insert per duration, not a cancel and an insert per touch. Invariant: an
//! expiring session has exactly one timer, due at or before its deadline
//! (except inside [`Sessions::expire`], between a fire and its re-arm).
//!
//! # Snapshots for saves
//!
//! `SH_SAVE` of every session takes its snapshot in steps, as `KV_SAVE`
//! does for keys, and no step looks at more than a bounded number of
//! sessions. Each session carries an epoch bit; while no snapshot is under
//! way every session's equals the table's. [`Sessions::begin_snapshot`]
//! flips the table's (no pass over the sessions), so every session then
//! live is *still to be looked at*, and one created later is not.
//! [`Sessions::snapshot_step`] walks the table's positions, a bounded
//! number per turn, copying each session still to be looked at (unless it
//! was past its deadline when the snapshot began) and flipping its bit.
//! Copy-on-write keeps it a snapshot of one moment: before a session still
//! to be looked at changes (keys set, removed or cleared, ended, expired)
//! it is copied first the same way. Two things could slip a session past
//! the walk, and both are handled: a removal that moves the table's last
//! session into a position the walk has passed looks at that session first,
//! and `SH_END_ALL` hands the whole table to the snapshot, which walks the
//! rest of it there (and frees it off the loop when done).
//!
//! # Loads
//!
//! `SH_LOAD` creates its sessions in steps too ([`Sessions::begin_restore`],
//! [`Sessions::restore_step`]): a bounded number of sessions and keys per
//! turn, each session live from the step that creates it. The room the load
//! needs is reserved when it begins, so no `SH_NEW` meanwhile can take it.
//!
//! # Memory
//!
//! A session is 32 bytes, 48 in its table slot with its token and chain
//! link, plus 4 to 8 bytes of index, and 32 bytes in the wheel when it
//! expires. Its key map is boxed and only exists while it holds keys, so an
//! empty session allocates nothing of its own. The table (`store/table.rs`)
//! grows and rehashes a few buckets per change and never copies its slots,
//! so no `SH_NEW` pays for a million sessions; [`Sessions::rehash`] moves
//! more on idle turns.

use std::time::Duration;

use super::Full;
use super::kv::{Entry, KeyMap};
use super::table::{self, Table};
use super::tokens::TokenSource;
use crate::persist::wal::{Journal, Scope};
use crate::protocol::Expiry;
use crate::timer_wheel::{TimerKey, TimerWheel, ticks_ceil, ticks_floor};

#[cfg(test)]
mod tests;

/// The latest deadline a session can have: 2^60 − 1 ms, about 36 million
/// years. The four bits above it hold the session's flags.
pub const MAX_DEADLINE_TICK: u64 = (1 << 60) - 1;
/// The session's snapshot epoch (see the module docs): while a snapshot is
/// under way, a session whose bit differs from the table's is still to be
/// looked at.
const EPOCH: u64 = 1 << 60;
const DELETE_SESSION: u64 = 1 << 61;
const EXTEND_ON_GET: u64 = 1 << 62;
const EXTEND_ON_SET_ADD: u64 = 1 << 63;

/// A session in the table, with its token and chain link: 48 bytes.
struct Slot {
    token: u64,
    session: Session,
    next: u32,
}

impl table::Slot for Slot {
    /// The token's top half. Tokens are uniformly random and chosen by the
    /// server, never by a peer (a peer can only look them up), so they need
    /// no hashing to spread over the table, and cannot be picked to collide.
    fn hash(&self) -> u32 {
        token_hash(self.token)
    }

    fn next(&self) -> u32 {
        self.next
    }

    fn set_next(&mut self, next: u32) {
        self.next = next;
    }
}

/// The most sessions the table holds: 4,294,967,295 (positions are
/// 32-bit). An `SH_NEW` or `SH_LOAD` past it is refused (status 204).
pub const MAX_SESSIONS: usize = table::MAX_LEN;

/// Work units [`Sessions::restore_step`] counts for creating a session,
/// besides one per key: 4, for the lookup of its token, its key map's
/// allocations, its table slot and its timer, each about as costly as
/// storing a key (cache misses at a million sessions).
pub const RESTORE_UNITS_PER_SESSION: usize = 4;

/// A token's hash: its top 32 bits (see [`Slot::hash`]).
fn token_hash(token: u64) -> u32 {
    (token >> 32) as u32
}

/// Token → session: a [`Table`] (`store/table.rs`), which grows and
/// rehashes a few buckets per change, so a million sessions never resize at
/// once.
#[derive(Default)]
struct TokenMap {
    table: Table<Slot>,
}

impl TokenMap {
    fn len(&self) -> usize {
        self.table.len()
    }

    fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    fn position(&self, token: u64) -> Option<usize> {
        self.table.find(token_hash(token), |slot| slot.token == token)
    }

    fn contains_key(&self, token: u64) -> bool {
        self.position(token).is_some()
    }

    fn get(&self, token: u64) -> Option<&Session> {
        self.table.get(self.position(token)?).map(|slot| &slot.session)
    }

    fn get_mut(&mut self, token: u64) -> Option<&mut Session> {
        let at = self.position(token)?;
        self.table.get_mut(at).map(|slot| &mut slot.session)
    }

    /// Stores a session under a token that is not live; returns whether it
    /// was stored (the caller made room: [`Sessions::room`]).
    fn insert(&mut self, token: u64, session: Session) -> bool {
        self.table.push(Slot { token, session, next: table::NONE }).is_some()
    }

    fn iter(&self) -> impl Iterator<Item = (u64, &Session)> {
        self.table.iter().map(|slot| (slot.token, &slot.session))
    }
}

#[cfg(test)]
impl std::ops::Index<&u64> for TokenMap {
    type Output = Session;

    fn index(&self, token: &u64) -> &Session {
        self.get(*token).expect("tests index live tokens only")
    }
}

/// A session as [`Sessions::dump`] gives it.
#[cfg(test)]
pub(crate) type SessionDump = (u64, Expiry, Option<u64>, Vec<(String, String)>);

/// Which extend flag a command honours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Touch {
    /// No extension (every command but the three below).
    None,
    /// `SH_GET`: extends when `extendOnGet` is set.
    Get,
    /// `SH_SET`, `SH_ADD`: extend when `extendOnSetAdd` is set.
    SetAdd,
}

/// One session.
struct Session {
    /// Present only while the session holds keys.
    keys: Option<Box<KeyMap>>,
    /// Seconds, as requested; 0 means it never expires.
    duration: u64,
    /// The deadline tick (low 60 bits) and the flags (top 4 bits).
    deadline_and_flags: u64,
    /// The session's timer; `None` when it never expires.
    timer: Option<TimerKey>,
}

impl Session {
    fn expires(&self) -> bool {
        self.duration != 0
    }

    fn deadline(&self) -> u64 {
        self.deadline_and_flags & MAX_DEADLINE_TICK
    }

    fn set_deadline(&mut self, tick: u64) {
        self.deadline_and_flags = (self.deadline_and_flags & !MAX_DEADLINE_TICK) | tick.min(MAX_DEADLINE_TICK);
    }

    fn flag(&self, flag: u64) -> bool {
        self.deadline_and_flags & flag != 0
    }

    fn duration_ms(&self) -> u64 {
        self.duration.saturating_mul(1_000)
    }

    /// Whether it has expired at tick `now` (whatever expiry then does).
    fn is_due(&self, now: u64) -> bool {
        self.expires() && now >= self.deadline()
    }

    fn key_count(&self) -> usize {
        self.keys.as_ref().map_or(0, |keys| keys.len())
    }

    /// What its keys count for toward the memory cap.
    fn key_bytes(&self) -> usize {
        self.keys.as_ref().map_or(0, |keys| keys.bytes())
    }

    /// What a save holds of it.
    fn record(&self, token: u64) -> SessionRecord {
        let expiry = Expiry {
            duration: self.duration,
            delete_session: self.flag(DELETE_SESSION),
            extend_on_get: self.flag(EXTEND_ON_GET),
            extend_on_set_add: self.flag(EXTEND_ON_SET_ADD),
        };
        let keys = self.keys.as_ref().map_or_else(Vec::new, |keys| keys.snapshot());
        SessionRecord { token, expiry, keys }
    }

    /// `deleteSession:false` at tick `now >= deadline`: drops every key and
    /// restarts from the moment of expiry. Returns how many keys went.
    fn clear_and_restart(&mut self, now: u64) -> usize {
        let removed = self.key_count();
        super::reclaim::free(self.keys.take(), removed);
        let duration = self.duration_ms().max(1);
        let periods = ((now - self.deadline()) / duration).saturating_add(1);
        self.set_deadline(self.deadline().saturating_add(periods.saturating_mul(duration)));
        removed
    }
}

/// What `SH_INFO` reports about a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// Keys in the session.
    pub key_count: usize,
    /// Its expiry settings, if it expires.
    pub expiry: Option<ExpiryInfo>,
}

/// A session's expiry settings and the time it has left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpiryInfo {
    /// The settings, as requested.
    pub settings: Expiry,
    /// Whole seconds until the deadline, truncated; never negative.
    pub remaining_secs: u64,
}

/// A session as a save holds it: token, expiry settings and keys. A
/// session that never expires has `duration` 0 and every flag false.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The session's token.
    pub token: u64,
    /// Its expiry settings (`duration` 0: never expires).
    pub expiry: Expiry,
    /// Its keys, in map order.
    pub keys: Vec<Entry>,
}

/// Every session, their timers and the token source.
pub struct Sessions {
    map: TokenMap,
    wheel: TimerWheel<u64>,
    tokens: TokenSource,
    total_keys: usize,
    /// What the keys of every session count for toward the memory cap
    /// (the sum of their maps' [`KeyMap::bytes`]).
    key_bytes: usize,
    /// Expiries since start, on access and active alike.
    expiries: u64,
    /// The snapshot being taken, if any.
    pending: Option<Box<Pending>>,
    /// The table's epoch bit, [`EPOCH`] or 0 (see the module docs).
    epoch: u64,
    /// Room in the table kept for the sessions of loads being created
    /// ([`Sessions::begin_restore`]).
    reserved: usize,
    /// Where changes are recorded while the durable log is on.
    pub(crate) journal: Journal,
}

/// A snapshot of every live session being taken in steps.
struct Pending {
    /// Sessions past their deadline at this tick when it began are left out.
    tick: u64,
    /// Table positions before it have been looked at.
    next: usize,
    /// Table positions from it on were not in use when it began: only
    /// sessions created since can be there.
    end: usize,
    /// The table `SH_END_ALL` took from under it, whose sessions the steps
    /// copy instead of the live table's.
    frozen: Option<TokenMap>,
    /// What `frozen` held when it was taken, as [`Sessions::bytes`] counts
    /// it (its keys and sessions), until it is freed.
    frozen_bytes: usize,
    /// The sessions copied so far, by the steps or before a change.
    taken: Vec<SessionRecord>,
    /// Keys in `taken`.
    keys_taken: usize,
    /// Each taken session's deadline tick (`None`: it never expires), in
    /// `taken`'s order, for a compaction of the durable log (which keeps
    /// deadlines, where a save does not); `None` for a save.
    deadlines: Option<Vec<Option<u64>>>,
}

/// Looks at `session` for the snapshot being taken, if it is still to be
/// looked at: copies it (unless it was past its deadline when the snapshot
/// began) and marks it looked at. Returns the keys copied. Called before
/// every change to a session, and by the steps.
fn keep(pending: &mut Option<Box<Pending>>, epoch: u64, token: u64, session: &mut Session) -> usize {
    pending.as_deref_mut().map_or(0, |pending| pending.keep(epoch, token, session))
}

impl Pending {
    /// [`keep`] with the snapshot at hand.
    fn keep(&mut self, epoch: u64, token: u64, session: &mut Session) -> usize {
        if session.deadline_and_flags & EPOCH == epoch {
            return 0;
        }
        session.deadline_and_flags ^= EPOCH;
        if session.is_due(self.tick) {
            // One past its deadline then was no longer readable: left out.
            return 0;
        }
        self.taken.push(session.record(token));
        if let Some(deadlines) = self.deadlines.as_mut() {
            deadlines.push(session.expires().then(|| session.deadline()));
        }
        self.keys_taken += session.key_count();
        session.key_count()
    }
}

/// The sessions of an `SH_LOAD` being created in steps
/// ([`Sessions::begin_restore`]).
#[derive(Debug)]
pub struct Restore {
    /// The records still to be looked at, in file order.
    records: std::vec::IntoIter<SessionRecord>,
    /// The session being built, its keys put in a few at a time.
    building: Option<Building>,
    /// Sessions created so far.
    pub sessions: usize,
    /// Keys of the sessions created so far.
    pub keys: usize,
    /// Bytes of the records' own buffer, to free it off the loop.
    bytes: usize,
}

impl Restore {
    /// Bytes of the buffer the records came in (held until the restore is
    /// dropped): what dropping it gives back, for `reclaim::free_bytes`.
    pub fn heap_bytes(&self) -> usize {
        self.bytes
    }

    /// What the session being built holds, as the memory cap counts a
    /// session's keys: its key map so far ([`KeyMap::bytes`]) and a
    /// session's overhead. Counted until it is inserted (then the table
    /// counts it) or dropped.
    pub fn building_bytes(&self) -> usize {
        self.building.as_ref().map_or(0, |b| b.map.bytes() + super::memory::SESSION_OVERHEAD_BYTES)
    }
}

/// A loaded session whose key map is being built.
struct Building {
    token: u64,
    expiry: Expiry,
    map: KeyMap,
    rest: std::vec::IntoIter<Entry>,
    /// Whether every key so far was stored.
    whole: bool,
}

impl std::fmt::Debug for Building {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens are capabilities: never print them.
        f.debug_struct("Building").field("keys", &self.map.len()).field("rest", &self.rest.len()).finish()
    }
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens are capabilities: never print them.
        f.debug_struct("Sessions")
            .field("len", &self.map.len())
            .field("total_keys", &self.total_keys)
            .field("wheel", &self.wheel)
            .finish_non_exhaustive()
    }
}

/// Why a session could not be created.
#[derive(Debug)]
pub enum NewSessionError {
    /// No token: the OS random source failed.
    Random(getrandom::Error),
    /// The table holds [`MAX_SESSIONS`] already (counting the room kept for
    /// loads under way).
    Full,
}

impl std::fmt::Display for NewSessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NewSessionError::Random(e) => write!(f, "no token: the OS random source failed: {e}"),
            NewSessionError::Full => Full::Sessions.fmt(f),
        }
    }
}

impl std::error::Error for NewSessionError {}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::new()
    }
}

impl Sessions {
    /// No sessions.
    pub fn new() -> Sessions {
        Sessions {
            map: TokenMap::default(),
            wheel: TimerWheel::new(),
            tokens: TokenSource::new(),
            total_keys: 0,
            key_bytes: 0,
            expiries: 0,
            pending: None,
            epoch: 0,
            reserved: 0,
            journal: Journal::default(),
        }
    }

    /// Moves up to `buckets` more buckets of a table resize under way;
    /// returns whether one still is.
    pub fn rehash(&mut self, buckets: usize) -> bool {
        self.map.table.rehash(buckets)
    }

    /// Whether a table resize is under way ([`Sessions::rehash`] has work).
    pub fn is_resizing(&self) -> bool {
        self.map.table.is_resizing()
    }

    /// Live sessions, including any whose deadline passed that neither an
    /// access nor [`Sessions::expire`] has reached yet.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are no sessions.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Sessions that expired since start (deleted or cleared), whether an
    /// access or [`Sessions::expire`] got there first.
    pub fn expiries(&self) -> u64 {
        self.expiries
    }

    /// Keys over all sessions (counted like [`Sessions::len`]).
    pub fn total_keys(&self) -> usize {
        self.total_keys
    }

    /// What every session and its keys count for toward the memory cap:
    /// [`SESSION_OVERHEAD_BYTES`](super::memory::SESSION_OVERHEAD_BYTES)
    /// each, plus their keys' [`KeyMap::bytes`].
    pub fn bytes(&self) -> usize {
        self.key_bytes + self.map.len() * super::memory::SESSION_OVERHEAD_BYTES
    }

    /// What a snapshot being taken holds: its list of tokens and the
    /// records copied so far (their key pointers included); 0 when none is.
    pub fn snapshot_bytes(&self) -> usize {
        self.pending.as_ref().map_or(0, |pending| {
            pending.taken.capacity() * std::mem::size_of::<SessionRecord>()
                + pending.keys_taken * super::memory::SNAPSHOT_BYTES_PER_ENTRY
                + if pending.frozen.is_some() { pending.frozen_bytes } else { 0 }
        })
    }

    /// How many more sessions the table can take: [`MAX_SESSIONS`] in all,
    /// less the room kept for loads under way.
    pub fn room(&self) -> usize {
        table::max_len().saturating_sub(self.map.len()).saturating_sub(self.reserved)
    }

    /// Creates a session at `now` and returns its token: random, non-zero and
    /// not used by another live session. `duration: 0` (or no `expiry`)
    /// means it never expires, and its flags are then dropped.
    ///
    /// # Errors
    /// The table is full ([`NewSessionError::Full`], nothing changed), or the
    /// OS random source failed.
    pub fn create(&mut self, expiry: Option<Expiry>, now: Duration) -> Result<u64, NewSessionError> {
        if self.room() == 0 {
            return Err(NewSessionError::Full);
        }
        let token = loop {
            let token = self.tokens.next().map_err(NewSessionError::Random)?;
            if token != 0 && !self.map.contains_key(token) {
                break token;
            }
        };
        self.insert(token, expiry.unwrap_or_default(), None, now);
        Ok(token)
    }

    /// Inserts a new session under a token that is not live: its deadline
    /// is `ceil(now) + duration`; `duration` 0 means it never expires, and
    /// its flags are then dropped.
    fn insert(&mut self, token: u64, expiry: Expiry, keys: Option<Box<KeyMap>>, now: Duration) {
        let expiry = Some(expiry).filter(|e| e.duration != 0).unwrap_or_default();
        let flags = [
            (expiry.delete_session, DELETE_SESSION),
            (expiry.extend_on_get, EXTEND_ON_GET),
            (expiry.extend_on_set_add, EXTEND_ON_SET_ADD),
        ]
        .iter()
        .fold(self.epoch, |acc, &(on, bit)| if on { acc | bit } else { acc });
        let key_count = keys.as_ref().map_or(0, |k| k.len());
        let key_bytes = keys.as_ref().map_or(0, |k| k.bytes());
        let mut session = Session { keys, duration: expiry.duration, deadline_and_flags: flags, timer: None };
        if session.expires() {
            session.set_deadline(ticks_ceil(now).saturating_add(session.duration_ms()));
            session.timer = Some(self.wheel.insert(session.deadline(), token));
        }
        let timer = session.timer;
        if self.journal.is_on() {
            self.journal.session_new(token, &expiry, session.expires().then(|| session.deadline()));
            for entry in session.keys.iter().flat_map(|keys| keys.entries()) {
                self.journal.set_entry(Scope::Session(token), entry);
            }
        }
        if !self.map.insert(token, session) {
            debug_assert!(false, "callers check Sessions::room first");
            if let Some(timer) = timer {
                self.wheel.cancel(timer);
            }
            return;
        }
        self.total_keys += key_count;
        self.key_bytes += key_bytes;
    }

    /// Re-creates a session from the log: its token, settings and deadline
    /// tick as recorded (a deadline already passed is expired by the next
    /// expiry pass). A live session of that token is replaced.
    pub(crate) fn replay_new(&mut self, token: u64, expiry: Expiry, deadline: Option<u64>) {
        self.remove(token);
        let flags = [
            (expiry.delete_session, DELETE_SESSION),
            (expiry.extend_on_get, EXTEND_ON_GET),
            (expiry.extend_on_set_add, EXTEND_ON_SET_ADD),
        ]
        .iter()
        .fold(self.epoch, |acc, &(on, bit)| if on { acc | bit } else { acc });
        let mut session = Session { keys: None, duration: expiry.duration, deadline_and_flags: flags, timer: None };
        if let (true, Some(deadline)) = (session.expires(), deadline) {
            session.set_deadline(deadline);
            session.timer = Some(self.wheel.insert(session.deadline(), token));
        } else {
            session.duration = 0;
            session.deadline_and_flags = self.epoch;
        }
        let timer = session.timer;
        if !self.map.insert(token, session)
            && let Some(timer) = timer
        {
            self.wheel.cancel(timer);
        }
    }

    /// Moves session `token`'s deadline to `tick`, as the log recorded.
    pub(crate) fn replay_deadline(&mut self, token: u64, tick: u64) {
        let Some(session) = self.map.get_mut(token) else { return };
        if !session.expires() {
            return;
        }
        if let Some(timer) = session.timer.take() {
            self.wheel.cancel(timer);
        }
        session.set_deadline(tick);
        session.timer = Some(self.wheel.insert(session.deadline(), token));
    }

    /// Runs `f` on session `token`'s keys as the log recorded a change to
    /// them: no liveness check, no extension.
    pub(crate) fn replay_keys(&mut self, token: u64, f: impl FnOnce(&mut KeyMap)) {
        let Some(session) = self.map.get_mut(token) else { return };
        let keys = session.keys.get_or_insert_with(Box::default);
        let (before, bytes_before) = (keys.len(), keys.bytes());
        f(keys);
        let (after, bytes_after) = (keys.len(), keys.bytes());
        if after == 0 {
            session.keys = None;
        }
        self.total_keys = self.total_keys - before + after;
        self.key_bytes = self.key_bytes - bytes_before + bytes_after;
    }

    /// Every session as `(token, settings, deadline as wall-clock ms,
    /// keys and values)`, sorted by token: for tests comparing a replayed
    /// store with the original.
    #[cfg(test)]
    pub(crate) fn dump(&self) -> Vec<SessionDump> {
        let mut out: Vec<_> = self
            .map
            .iter()
            .map(|(token, session)| {
                let record = session.record(token);
                let deadline = session.expires().then(|| self.journal.wall_ms(session.deadline()));
                let mut keys: Vec<(String, String)> = record
                    .keys
                    .iter()
                    .map(|e| (e.key().into_owned(), String::from_utf8_lossy(e.value_json()).into_owned()))
                    .collect();
                keys.sort();
                (token, record.expiry, deadline, keys)
            })
            .collect();
        out.sort_by_key(|s| s.0);
        out
    }

    /// Takes the session `token` out of the table, first looking at the
    /// session a removal moves into a position the snapshot's walk has
    /// passed (see the module docs).
    fn take(&mut self, token: u64) -> Option<Session> {
        let at = self.map.position(token)?;
        let last = self.map.len() - 1;
        if let Some(pending) = self.pending.as_deref_mut()
            && pending.frozen.is_none()
            && at < pending.next
            && last >= pending.next
            && let Some(moved) = self.map.table.get_mut(last)
        {
            pending.keep(self.epoch, moved.token, &mut moved.session);
        }
        self.map.table.swap_remove(at).map(|slot| slot.session)
    }

    /// Ends the session `token` at once, whatever its settings; returns
    /// whether it was live.
    pub fn end(&mut self, token: u64, now: Duration) -> bool {
        let Some(mut session) = self.take(token) else { return false };
        self.journal.session_end(token);
        keep(&mut self.pending, self.epoch, token, &mut session);
        if let Some(timer) = session.timer {
            self.wheel.cancel(timer);
        }
        let keys = session.key_count();
        self.total_keys -= keys;
        self.key_bytes -= session.key_bytes();
        let live = !(session.is_due(ticks_floor(now)) && session.flag(DELETE_SESSION));
        super::reclaim::free(session, keys);
        live
    }

    /// Ends every session; returns how many were live.
    ///
    /// Costs about the number of timers due, not the number of sessions:
    /// a session whose deadline has passed has a due timer (the invariant
    /// of the module docs), so only those are looked at to count the live
    /// ones, and the sessions themselves are freed off the loop
    /// (`store/reclaim.rs`), or handed to a snapshot under way, which copies
    /// what it still needs from them in its steps.
    pub fn end_all(&mut self, now: Duration) -> usize {
        if !self.map.is_empty() {
            self.journal.session_end_all();
        }
        let now = ticks_floor(now);
        let mut gone = 0;
        while let Some(token) = self.wheel.poll(now) {
            gone += usize::from(self.map.get(token).is_some_and(|s| s.is_due(now) && s.flag(DELETE_SESSION)));
        }
        let live = self.map.len() - gone;
        let held = self.bytes();
        let sessions = std::mem::take(&mut self.map);
        match self.pending.as_deref_mut() {
            Some(pending) if pending.frozen.is_none() => {
                // Counted toward the memory cap until the snapshot frees it.
                pending.frozen = Some(sessions);
                pending.frozen_bytes = held;
            }
            _ => super::reclaim::free(sessions, self.total_keys + live + gone),
        }
        self.wheel.clear();
        self.total_keys = 0;
        self.key_bytes = 0;
        live
    }

    /// Whether `token` names a live session.
    pub fn exists(&mut self, token: u64, now: Duration) -> bool {
        self.live(token, ticks_floor(now))
    }

    /// Describes the session `token`, if live. Does not extend it.
    pub fn info(&mut self, token: u64, now: Duration) -> Option<SessionInfo> {
        if !self.live(token, ticks_floor(now)) {
            return None;
        }
        let session = self.map.get(token)?;
        let expiry = session.expires().then(|| ExpiryInfo {
            settings: Expiry {
                duration: session.duration,
                delete_session: session.flag(DELETE_SESSION),
                extend_on_get: session.flag(EXTEND_ON_GET),
                extend_on_set_add: session.flag(EXTEND_ON_SET_ADD),
            },
            remaining_secs: Duration::from_millis(session.deadline()).saturating_sub(now).as_secs(),
        });
        Some(SessionInfo { key_count: session.key_count(), expiry })
    }

    /// Runs `f` on the keys of the live session `token`, after extending it
    /// if `touch` and its flags say so. Returns `None` (and `f` does not run)
    /// when there is no such session.
    pub fn with_keys<R>(
        &mut self,
        token: u64,
        now: Duration,
        touch: Touch,
        f: impl FnOnce(&mut KeyMap) -> R,
    ) -> Option<R> {
        self.with_keys_logged(token, now, touch, |keys, _| f(keys))
    }

    /// [`Sessions::with_keys`], `f` also given the journal to record its
    /// changes to the keys in.
    pub(crate) fn with_keys_logged<R>(
        &mut self,
        token: u64,
        now: Duration,
        touch: Touch,
        f: impl FnOnce(&mut KeyMap, &mut Journal) -> R,
    ) -> Option<R> {
        if !self.live(token, ticks_floor(now)) {
            return None;
        }
        let session = self.map.get_mut(token)?;
        keep(&mut self.pending, self.epoch, token, session);
        let extends = match touch {
            Touch::None => false,
            Touch::Get => session.flag(EXTEND_ON_GET),
            Touch::SetAdd => session.flag(EXTEND_ON_SET_ADD),
        };
        if extends && session.expires() {
            // Lazy: the timer stays put and re-arms when it fires.
            let deadline = ticks_ceil(now).saturating_add(session.duration_ms());
            if deadline > session.deadline() {
                session.set_deadline(deadline);
                self.journal.session_deadline(token, session.deadline());
            }
        }
        let keys = session.keys.get_or_insert_with(Box::default);
        let (before, bytes_before) = (keys.len(), keys.bytes());
        let result = f(keys, &mut self.journal);
        let (after, bytes_after) = (keys.len(), keys.bytes());
        if after == 0 {
            session.keys = None;
        }
        self.total_keys = self.total_keys - before + after;
        self.key_bytes = self.key_bytes - bytes_before + bytes_after;
        Some(result)
    }

    /// A save's copy of the live sessions at `now` (all of them, or those of
    /// `tokens` that are live, each once), keys shared by reference count.
    /// Sessions whose deadline passed are expired first, so a save never
    /// holds what a client could no longer read.
    pub fn snapshot(&mut self, tokens: Option<&[u64]>, now: Duration) -> Vec<SessionRecord> {
        let tick = ticks_floor(now);
        let Some(tokens) = tokens else {
            let due: Vec<u64> = self.map.iter().filter(|(_, s)| s.is_due(tick)).map(|(t, _)| t).collect();
            for token in due {
                self.live(token, tick);
            }
            return self.map.iter().map(|(token, session)| session.record(token)).collect();
        };
        let mut seen = std::collections::HashSet::with_capacity(tokens.len());
        let mut records = Vec::with_capacity(tokens.len());
        for &token in tokens {
            if seen.insert(token)
                && self.live(token, tick)
                && let Some(session) = self.map.get(token)
            {
                records.push(session.record(token));
            }
        }
        records
    }

    /// Begins a snapshot of every session live at `now`, to be copied by
    /// [`Sessions::snapshot_step`] while sessions keep changing (see the
    /// module docs). Returns `false`, changing nothing, if one is already
    /// under way. Costs no pass over the sessions.
    pub fn begin_snapshot(&mut self, now: Duration) -> bool {
        if self.pending.is_some() {
            return false;
        }
        self.epoch ^= EPOCH;
        let taken = Vec::with_capacity(self.map.len());
        let (tick, end) = (ticks_floor(now), self.map.len());
        self.pending = Some(Box::new(Pending {
            tick,
            next: 0,
            end,
            frozen: None,
            frozen_bytes: 0,
            taken,
            keys_taken: 0,
            deadlines: None,
        }));
        true
    }

    /// Begins a snapshot of every session, due or not, that also keeps
    /// each one's deadline: the durable log's compaction, whose base must
    /// replay to exactly the sessions its records would (see
    /// [`Sessions::begin_snapshot`]).
    pub fn begin_snapshot_with_deadlines(&mut self) -> bool {
        if !self.begin_snapshot(Duration::ZERO) {
            return false;
        }
        if let Some(pending) = self.pending.as_deref_mut() {
            pending.deadlines = Some(Vec::with_capacity(pending.taken.capacity()));
        }
        true
    }

    /// [`Sessions::snapshot_step`] of a snapshot begun by
    /// [`Sessions::begin_snapshot_with_deadlines`]: the sessions and their
    /// deadline ticks, once complete.
    pub fn snapshot_step_with_deadlines(&mut self, work: usize) -> Option<(Vec<SessionRecord>, Vec<Option<u64>>)> {
        if !self.walk(work) {
            return None;
        }
        let mut pending = self.pending.take()?;
        if let Some(frozen) = pending.frozen.take() {
            let allocations = frozen.len();
            super::reclaim::free(frozen, allocations);
        }
        let deadlines = pending.deadlines.take().unwrap_or_default();
        Some((pending.taken, deadlines))
    }

    /// Drops the snapshot being taken, if any; a large one is freed off
    /// the loop.
    pub fn abandon_snapshot(&mut self) {
        if let Some(pending) = self.pending.take() {
            let n = pending.taken.len() + pending.keys_taken;
            super::reclaim::free(pending, n);
        }
    }

    /// Copies more of the snapshot begun by [`Sessions::begin_snapshot`],
    /// stopping once about `work` units are done (one per session looked
    /// at plus one per key copied); returns the snapshot once complete.
    /// `None` while sessions are left to look at, or when none is being
    /// taken.
    pub fn snapshot_step(&mut self, work: usize) -> Option<Vec<SessionRecord>> {
        if !self.walk(work) {
            return None;
        }
        let pending = self.pending.take()?;
        if let Some(frozen) = pending.frozen {
            let allocations = frozen.len();
            super::reclaim::free(frozen, allocations);
        }
        Some(pending.taken)
    }

    /// Whether a snapshot is being taken.
    pub fn is_snapshotting(&self) -> bool {
        self.pending.is_some()
    }

    /// The steps' walk over the table; returns whether it is complete
    /// (`false` when no snapshot is being taken).
    fn walk(&mut self, work: usize) -> bool {
        let epoch = self.epoch;
        let Some(pending) = self.pending.as_deref_mut() else { return false };
        let mut frozen = pending.frozen.take();
        let map = frozen.as_mut().unwrap_or(&mut self.map);
        let mut done = 0;
        while done < work && pending.next < pending.end.min(map.len()) {
            let at = pending.next;
            pending.next += 1;
            done += 1;
            if let Some(slot) = map.table.get_mut(at) {
                done += pending.keep(epoch, slot.token, &mut slot.session);
            }
        }
        let complete = pending.next >= pending.end.min(map.len());
        pending.frozen = frozen;
        complete
    }

    /// Begins creating the sessions of a load's `records`, to be carried out
    /// by [`Sessions::restore_step`], and keeps room in the table for them.
    ///
    /// # Errors
    /// [`Full::Sessions`], changing nothing, when the table has no room for
    /// that many sessions.
    pub fn begin_restore(&mut self, records: Vec<SessionRecord>) -> Result<Restore, Full> {
        if records.len() > self.room() {
            return Err(Full::Sessions);
        }
        self.reserved += records.len();
        // Timers for all of them at once, not a doubling every so often.
        self.wheel.reserve(records.len());
        let bytes = records.capacity() * size_of::<SessionRecord>();
        Ok(Restore { records: records.into_iter(), building: None, sessions: 0, keys: 0, bytes })
    }

    /// Creates more of the sessions of `restore` at `now`, stopping once
    /// about `work` units are done (one per record skipped,
    /// [`RESTORE_UNITS_PER_SESSION`] per session created, one per key
    /// stored); returns whether every record has been looked at. A
    /// record whose token is 0 or live is skipped, and a session is created
    /// (its expiry starting afresh) once all its keys are in its map: live
    /// from then on.
    pub fn restore_step(&mut self, restore: &mut Restore, work: usize, now: Duration) -> bool {
        let tick = ticks_floor(now);
        let mut done = 0;
        while done < work {
            let building = match restore.building.as_mut() {
                Some(building) => building,
                None => {
                    let Some(SessionRecord { token, expiry, keys }) = restore.records.next() else { break };
                    done += 1;
                    if token == 0 || self.live(token, tick) {
                        self.reserved -= 1;
                        let allocations = keys.len();
                        super::reclaim::free(keys, allocations);
                        continue;
                    }
                    let building = Building { token, expiry, map: KeyMap::new(), rest: keys.into_iter(), whole: true };
                    restore.building.insert(building)
                }
            };
            for entry in building.rest.by_ref().take(work.saturating_sub(done)) {
                building.whole &= building.map.set_entry(entry);
                done += 1;
            }
            if building.rest.len() > 0 {
                break;
            }
            let Some(Building { token, expiry, map, whole, .. }) = restore.building.take() else { break };
            self.reserved -= 1;
            // Live meanwhile: only a token drawn by `SH_NEW` since, which
            // wins as a session created before the load would.
            if !whole || self.live(token, tick) {
                if !whole {
                    log::warn!("a loaded session with more keys than a key map holds was not restored");
                }
                super::reclaim::free(map, 0);
                continue;
            }
            let count = map.len();
            let keys = (count > 0).then(|| Box::new(map));
            self.insert(token, expiry, keys, now);
            done += RESTORE_UNITS_PER_SESSION - 1;
            restore.sessions += 1;
            restore.keys += count;
        }
        restore.building.is_none() && restore.records.len() == 0
    }

    /// Whether `token` is live at tick `now`, expiring it first if its
    /// deadline passed.
    fn live(&mut self, token: u64, now: u64) -> bool {
        let Some(session) = self.map.get_mut(token) else { return false };
        if !session.is_due(now) {
            return true;
        }
        self.expiries += 1;
        if session.flag(DELETE_SESSION) {
            self.journal.session_end(token);
            self.remove(token);
            return false;
        }
        // Its timer is due too and re-arms at the new deadline when polled.
        keep(&mut self.pending, self.epoch, token, session);
        self.key_bytes -= session.key_bytes();
        let freed = session.clear_and_restart(now);
        self.total_keys -= freed;
        if freed > 0 {
            self.journal.clear(Scope::Session(token));
        }
        self.journal.session_deadline(token, session.deadline());
        true
    }

    fn remove(&mut self, token: u64) -> usize {
        let Some(mut session) = self.take(token) else { return 0 };
        keep(&mut self.pending, self.epoch, token, &mut session);
        if let Some(timer) = session.timer {
            self.wheel.cancel(timer);
        }
        let keys = session.key_count();
        self.total_keys -= keys;
        self.key_bytes -= session.key_bytes();
        super::reclaim::free(session, keys);
        keys
    }

    /// The earliest tick at which [`Sessions::expire`] may have work: a lower
    /// bound on the next deadline, at or before `now` while work is left
    /// over from a turn whose budget ran out.
    pub fn next_deadline(&self) -> Option<u64> {
        self.wheel.next_deadline()
    }

    /// Active expiry at `now`: fires due timers and expires (or re-arms)
    /// their sessions, stopping once `budget.work` units (one per session
    /// handled plus one per key freed) or `budget.moves` wheel moves are
    /// spent. Returns how many sessions expired. Call it once per turn;
    /// [`Sessions::next_deadline`] says whether to come back at once.
    pub fn expire(&mut self, now: Duration, budget: &mut Budget) -> usize {
        let now = ticks_floor(now);
        let mut expired = 0;
        while budget.work > 0 {
            let Some(token) = self.wheel.poll_bounded(now, &mut budget.moves) else { break };
            budget.work -= 1;
            let Some(session) = self.map.get_mut(token) else { continue };
            session.timer = None;
            if !session.is_due(now) {
                // Extended since the timer was set.
                session.timer = Some(self.wheel.insert(session.deadline(), token));
                continue;
            }
            expired += 1;
            self.expiries += 1;
            let freed = if session.flag(DELETE_SESSION) {
                self.journal.session_end(token);
                self.remove(token)
            } else {
                keep(&mut self.pending, self.epoch, token, session);
                self.key_bytes -= session.key_bytes();
                let freed = session.clear_and_restart(now);
                self.total_keys -= freed;
                if freed > 0 {
                    self.journal.clear(Scope::Session(token));
                }
                self.journal.session_deadline(token, session.deadline());
                session.timer = Some(self.wheel.insert(session.deadline(), token));
                freed
            };
            budget.work = budget.work.saturating_sub(freed);
        }
        expired
    }
}

/// How much active expiry may do in one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Sessions handled plus keys freed.
    pub work: usize,
    /// Timers moved between wheel slots (see `TimerWheel::poll_bounded`).
    pub moves: usize,
}

impl Budget {
    /// No limit: do everything that is due.
    pub const UNLIMITED: Budget = Budget { work: usize::MAX, moves: usize::MAX };
}
