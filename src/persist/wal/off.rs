//! The durable log in a build without the `log` feature: the same names as
//! the real module (`mod.rs`), none of its code. [`Journal`] is zero-sized
//! and records nothing, [`LogWriter`] has no value (so an
//! `Option<LogWriter>` is always `None` and every use of a writer is dead
//! code), and [`open`] refuses with the message a config or flag that turns
//! the log on gets at start-up.
//!
//! Owns: nothing at run time. Must not touch: files, threads.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{Duration, Instant};

use crate::config::{LogFsync, LogSettings};
use crate::error::Error;
use crate::persist::Worker;
use crate::protocol::Expiry;
use crate::store::{Done, Entry, Store};

/// The log's directory under the persist path.
pub const LOG_DIR: &str = "log";

/// Payload bytes past which a load's keys go on in a new frame (unused
/// here: nothing is encoded).
pub const LOAD_FRAME_BYTES: usize = 64 << 20;

/// Which key map a key operation changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The top-level keys.
    Kv,
    /// The keys of the session with this token.
    Session(u64),
}

/// What a replay found (never made here: nothing is replayed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Replayed {
    /// Frames (commands) applied.
    pub frames: u64,
    /// Operations applied.
    pub ops: u64,
    /// Bytes of the segment kept.
    pub bytes: u64,
    /// The offset of a torn last frame that was dropped, if any.
    pub torn_at: Option<u64>,
    /// How long the replay took.
    pub duration: Duration,
}

/// Refuses: this build has no durable log.
///
/// # Errors
/// Always [`Error::Log`], naming the log's directory and the feature.
pub fn open(
    root: &Path,
    _settings: &LogSettings,
    _store: &mut Store,
    _now: Instant,
    _wall_ms: u64,
) -> Result<(LogWriter, Replayed), Error> {
    let reason = "this build has no durable log (built without the `log` feature)".to_owned();
    Err(Error::Log { path: root.join(LOG_DIR), reason })
}

/// No frames: nothing is recorded.
#[inline]
pub fn encode_load<'a>(_entries: impl Iterator<Item = &'a Entry>, _frame_bytes: usize) -> Vec<u8> {
    Vec::new()
}

/// Sealed frames handed out by `Journal::drain` (never, in this build).
#[derive(Debug)]
pub enum Piece<'a> {
    /// Frames to copy.
    Borrowed(&'a [u8]),
    /// Frames to keep whole.
    Owned(Vec<u8>),
}

/// Where the store would write its changes: zero-sized, never on, every
/// call a no-op.
#[derive(Debug, Default)]
pub struct Journal {}

impl Journal {
    /// Does nothing.
    #[inline]
    pub fn set_origin(&mut self, _wall_origin_ms: u64) {}

    /// Does nothing: recording never starts.
    #[inline]
    pub fn enable(&mut self) {}

    /// Never: nothing is recorded.
    #[inline]
    pub fn is_on(&self) -> bool {
        false
    }

    /// The wall-clock time of session tick 0: 0.
    #[inline]
    pub fn origin(&self) -> u64 {
        0
    }

    /// The wall-clock time of session tick `tick` (the origin is 0).
    #[inline]
    pub fn wall_ms(&self, tick: u64) -> u64 {
        tick
    }

    /// The session tick of wall-clock time `wall_ms` (the origin is 0).
    #[inline]
    pub fn tick_of(&self, wall_ms: u64) -> u64 {
        wall_ms
    }

    /// Does nothing.
    #[inline]
    pub fn set(&mut self, _scope: Scope, _key: &str, _value: &str) {}

    /// Does nothing.
    #[inline]
    pub fn set_entry(&mut self, _scope: Scope, _entry: &Entry) {}

    /// Does nothing.
    #[inline]
    pub fn remove(&mut self, _scope: Scope, _key: &str) {}

    /// Does nothing.
    #[inline]
    pub fn clear(&mut self, _scope: Scope) {}

    /// Does nothing.
    #[inline]
    pub fn session_new(&mut self, _token: u64, _expiry: &Expiry, _deadline: Option<u64>) {}

    /// Does nothing.
    #[inline]
    pub fn session_end(&mut self, _token: u64) {}

    /// Does nothing.
    #[inline]
    pub fn session_end_all(&mut self) {}

    /// Does nothing.
    #[inline]
    pub fn session_deadline(&mut self, _token: u64, _tick: u64) {}

    /// Does nothing.
    #[inline]
    pub fn container(&mut self, _text: &str) {}

    /// Nothing was recorded: `false`.
    #[inline]
    pub fn seal(&mut self) -> bool {
        false
    }

    /// Drops `frames`.
    #[inline]
    pub fn append_sealed(&mut self, _frames: Vec<u8>) {}

    /// Nothing.
    #[inline]
    pub fn take(&mut self) -> Vec<u8> {
        Vec::new()
    }

    /// Nothing.
    #[inline]
    pub fn take_chunks(&mut self) -> Vec<Vec<u8>> {
        Vec::new()
    }

    /// Nothing to hand out.
    #[inline]
    pub fn drain(&mut self, _f: impl FnMut(Piece<'_>)) {}

    /// 0.
    #[inline]
    pub fn len(&self) -> usize {
        0
    }

    /// Always.
    #[inline]
    pub fn is_empty(&self) -> bool {
        true
    }
}

/// What the log thread would report (never made here).
#[derive(Debug, Default)]
pub struct LogState {
    /// A write or fsync is failing.
    pub failing: AtomicBool,
    /// Bytes in the segment, written.
    pub size: AtomicU64,
    /// When the last fsync finished, milliseconds since the epoch.
    pub last_fsync_ms: AtomicU64,
    /// The highest durable batch.
    pub durable: AtomicU64,
    /// The last write error, while failing.
    pub error: Mutex<Option<String>>,
    /// Bytes of the base.
    pub base_bytes: AtomicU64,
    /// Segments after the base.
    pub segments: AtomicU64,
    /// When the last compaction was put in force, ms since the epoch.
    pub last_compaction_ms: AtomicU64,
    /// How long the last compaction took, ms.
    pub last_compaction_duration_ms: AtomicU64,
    /// Makes every write fail (fault injection for tests).
    pub inject_failure: AtomicBool,
}

/// The loop's end of the log thread: no value of it exists in this build,
/// so code that has one is never run (and not compiled in).
#[derive(Debug)]
pub enum LogWriter {}

impl LogWriter {
    /// Unreachable: no writer exists.
    #[inline]
    pub fn submit_chunks(&mut self, _frames: Vec<Vec<u8>>) -> u64 {
        match *self {}
    }

    /// Unreachable: no writer exists.
    #[inline]
    pub fn gather(&mut self, _frames: Vec<Vec<u8>>, _now: std::time::Instant) {
        match *self {}
    }

    /// Unreachable: no writer exists.
    #[inline]
    pub fn gather_from(&mut self, _store: &mut crate::store::Store, _now: std::time::Instant) {
        match *self {}
    }

    /// Unreachable: no writer exists.
    #[inline]
    pub fn hand_over_at(&self) -> Option<std::time::Instant> {
        match *self {}
    }

    /// Unreachable: no writer exists.
    #[inline]
    pub fn set_wake(&self, _wake: std::sync::Arc<crate::persist::wake::Wake>) {
        match *self {}
    }

    /// Unreachable: no writer exists.
    #[inline]
    pub fn next_seq(&self) -> u64 {
        match *self {}
    }

    /// Unreachable: no writer exists.
    #[inline]
    pub fn durable(&self) -> u64 {
        match *self {}
    }

    /// Unreachable: no writer exists.
    #[inline]
    pub fn failing(&self) -> bool {
        match *self {}
    }

    /// Unreachable: no writer exists.
    #[inline]
    pub fn state(&self) -> &LogState {
        match *self {}
    }

    /// Unreachable: no writer exists.
    #[inline]
    pub fn fsync(&self) -> LogFsync {
        match *self {}
    }

    /// Unreachable: no writer exists.
    #[inline]
    pub fn path(&self) -> &Path {
        match *self {}
    }
}

/// The ticket of a compaction's base write (never issued here).
pub const COMPACTION_TICKET: u64 = u64::MAX;

/// A base write: no value of it exists in this build.
#[derive(Debug)]
pub enum CompactJob {}

impl CompactJob {
    /// Unreachable: no job exists.
    #[inline]
    pub fn heap_bytes(&self) -> usize {
        match *self {}
    }
}

/// A base written (never, here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseWritten {
    /// The first segment after it.
    pub first: u32,
    /// Its bytes.
    pub bytes: u64,
}

/// Unreachable: no job exists.
///
/// # Errors
/// None: it is never called.
pub fn write_base(job: &CompactJob) -> Result<BaseWritten, String> {
    match *job {}
}

/// The names of the log's files.
pub mod manifest {
    /// The file name of the base before segment `n`.
    pub fn base_name(n: u32) -> String {
        format!("{n:08}.base")
    }
}

/// Compaction: zero-sized, never busy, every call a no-op.
#[derive(Debug, Default)]
pub struct Compactor {}

impl Compactor {
    /// A compactor that never compacts.
    #[inline]
    pub fn new(_settings: &LogSettings) -> Compactor {
        Compactor {}
    }

    /// Does nothing.
    #[inline]
    pub fn force(&mut self) {}

    /// Never.
    #[inline]
    pub fn busy(&self) -> bool {
        false
    }

    /// 0.
    #[inline]
    pub fn completed(&self) -> u64 {
        0
    }

    /// Unreachable: no writer exists.
    #[inline]
    pub fn turn(&mut self, _store: &mut Store, wal: &mut LogWriter, _worker: &mut Worker, _now: Instant) {
        match *wal {}
    }

    /// Unreachable: no writer exists.
    #[inline]
    pub fn finished(&mut self, _done: Done, _store: &mut Store, wal: &mut LogWriter, _now: Instant) {
        match *wal {}
    }
}
