//! Compaction of the durable log: a new base snapshot replaces the base
//! and segments before a switch point, so the log stops growing forever.
//!
//! The procedure, driven by [`Compactor`] once per turn of the loop:
//! 1. **Trigger**: the segments after the base hold at least
//!    `persist.log.rewriteMinSize` bytes and have grown by at least
//!    `persist.log.rewritePercent` of the base (Redis's
//!    `auto-aof-rewrite-min-size` and `-percentage`).
//! 2. **Switch**, in one turn: the loop asks the log thread to switch to a
//!    new segment after the turn's batch ([`LogWriter::switch`]) and
//!    begins the store's copy-on-write snapshot of every key and session
//!    (`store/compact.rs`). The log thread syncs the old segment, creates
//!    the new one and lists it in the manifest before any frame goes
//!    there.
//! 3. **Snapshot**, in steps of [`SNAPSHOT_KEYS_PER_STEP`] keys a turn, as
//!    saves take theirs.
//! 4. **Base**, on the save thread ([`write_base`]): the snapshot as
//!    frames (keys; sessions with their settings and absolute deadlines
//!    and their keys), then every array and list command of the old base
//!    and segments, copied in order (they replay to the same containers);
//!    written to `NNNNNNNN.base.tmp`, synced, renamed, the directory
//!    synced.
//! 5. **Install**, on the log thread ([`LogWriter::install`]): the new
//!    manifest {base, segments from the switch on} replaces the old one
//!    atomically; then the old base and segments are deleted.
//!
//! A crash anywhere leaves a manifest whose files all exist and replay to
//! the acknowledged data: before step 5's rename the old manifest (which
//! lists the new segment from step 2 on), after it the new one. Files no
//! manifest lists (a half-written base, a new segment not yet listed, old
//! files not yet deleted) are removed at the next start. A failure at any
//! step leaves the old manifest in force, logs why, and is retried after
//! [`RETRY_AFTER`]; writes go on throughout.
//!
//! Owns: the trigger, the procedure's order, the base's bytes, the crash
//! points. Must not touch: sockets, the store's internals.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::manifest::{base_name, segment_name};
use super::record::{FRAME_HEADER_BYTES, Journal, MAX_FRAME_BYTES, Op, Scope, check_header, crc32c, decode, header};
use super::writer::{LogState, LogWriter};
use super::{HEADER_BYTES, LOG_DIR};
use crate::config::LogSettings;
use crate::persist::Worker;
use crate::store::{CompactSnapshot, Done, Job, Outcome, Store, Work};

pub use crate::store::SNAPSHOT_KEYS_PER_STEP;

/// Payload bytes past which the base goes on in a new frame: 1 MiB, so the
/// encoder's buffer and a replay's frame stay small whatever the store
/// holds (a frame's checksum is computed over it whole).
pub const BASE_FRAME_BYTES: usize = 1 << 20;

/// How long after a failed compaction (a full disk, say) the next is
/// tried: long enough not to spend the disk's last bytes on bases that
/// cannot be finished, short enough that the log does not grow for long
/// once space is back.
pub const RETRY_AFTER: Duration = Duration::from_secs(10);

/// The worker ticket of the base write, outside the store's job ids
/// (which count up from 1).
pub const COMPACTION_TICKET: u64 = u64::MAX;

/// Where a compaction stops dead, as `kill -9` would stop it there: for
/// the tests of what a crash leaves (set with
/// [`LogState::crash_at`]). Nothing after the point runs, on any thread of
/// the log, and nothing is cleaned up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CrashPoint {
    /// The new segment is created; the manifest does not list it yet.
    SegmentCreated = 1,
    /// The manifest lists the new segment; nothing was written there yet.
    Switched = 2,
    /// The base is written and synced under its temporary name.
    BaseWritten = 3,
    /// The base is renamed and its directory synced; the manifest still
    /// names the old base.
    BaseRenamed = 4,
    /// The new manifest is written and synced under its temporary name.
    ManifestWritten = 5,
    /// The new manifest is renamed over the old; the directory is not
    /// synced and nothing old is deleted.
    ManifestRenamed = 6,
    /// The first old file is deleted, the others not.
    Deleting = 7,
}

impl CrashPoint {
    /// Every point, in the order the procedure reaches them.
    pub const ALL: [CrashPoint; 7] = [
        CrashPoint::SegmentCreated,
        CrashPoint::Switched,
        CrashPoint::BaseWritten,
        CrashPoint::BaseRenamed,
        CrashPoint::ManifestWritten,
        CrashPoint::ManifestRenamed,
        CrashPoint::Deleting,
    ];
}

/// Whether the crash point `point` is set in `state`: if so, marks the log
/// dead (every thread of it stops at its next step) and returns `true`.
/// Always `false` in a build without tests or `internals`.
pub fn crashes(state: &LogState, point: CrashPoint) -> bool {
    if !cfg!(any(test, feature = "internals")) || state.crash_at.load(Ordering::Acquire) != point as u8 {
        return false;
    }
    log::warn!("crash point {point:?} reached: the log stops dead");
    state.dead.store(true, Ordering::Release);
    true
}

/// The save thread's work of a compaction: write the base before segment
/// `first`.
#[derive(Debug)]
pub struct CompactJob {
    /// The log directory.
    pub dir: PathBuf,
    /// The first segment after the new base (the switch's).
    pub first: u32,
    /// The files before it, oldest first: the old base (if any) and
    /// segments, whose array and list commands the base carries on.
    pub older: Vec<String>,
    /// The data at the switch.
    pub snapshot: CompactSnapshot,
    /// Wall-clock ms of session tick 0.
    pub wall_origin_ms: u64,
    /// The log's state (its crash point).
    pub state: Arc<LogState>,
}

impl CompactJob {
    /// What its snapshot holds toward the memory cap.
    pub fn heap_bytes(&self) -> usize {
        self.snapshot.heap_bytes()
    }
}

/// A base written and durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseWritten {
    /// The first segment after it.
    pub first: u32,
    /// Its bytes.
    pub bytes: u64,
}

/// Encodes a base into a sink: header, then frames of at most about
/// [`BASE_FRAME_BYTES`] of payload.
pub struct BaseEncoder<W: Write> {
    journal: Journal,
    out: W,
    bytes: u64,
}

impl<W: Write> BaseEncoder<W> {
    /// Starts a base in `out`, session ticks counted from wall-clock
    /// `wall_origin_ms`.
    ///
    /// # Errors
    /// Writing the header failed.
    pub fn new(mut out: W, wall_origin_ms: u64) -> io::Result<BaseEncoder<W>> {
        out.write_all(&header())?;
        Ok(BaseEncoder { journal: Journal::recording(wall_origin_ms), out, bytes: HEADER_BYTES as u64 })
    }

    fn flush_if_full(&mut self) -> io::Result<()> {
        if self.journal.open_bytes() >= BASE_FRAME_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        let frames = self.journal.take();
        self.bytes += frames.len() as u64;
        self.out.write_all(&frames)
    }

    /// Adds the snapshot's keys and sessions.
    ///
    /// # Errors
    /// Writing failed.
    pub fn snapshot(&mut self, snapshot: &CompactSnapshot) -> io::Result<()> {
        for entry in &snapshot.entries {
            self.journal.set_entry(Scope::Kv, entry);
            self.flush_if_full()?;
        }
        for (i, record) in snapshot.records.iter().enumerate() {
            let deadline = snapshot.deadlines.get(i).copied().flatten();
            self.journal.session_new(record.token, &record.expiry, deadline);
            for entry in &record.keys {
                self.journal.set_entry(Scope::Session(record.token), entry);
                self.flush_if_full()?;
            }
            self.flush_if_full()?;
        }
        Ok(())
    }

    /// Adds an array or list command.
    ///
    /// # Errors
    /// Writing failed.
    pub fn container(&mut self, text: &str) -> io::Result<()> {
        self.journal.container(text);
        self.flush_if_full()
    }

    /// Seals and writes what is left; returns the sink and the base's
    /// bytes.
    ///
    /// # Errors
    /// Writing failed.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        self.flush()?;
        self.out.flush()?;
        Ok((self.out, self.bytes))
    }
}

/// Calls `f` with the text of every array and list command of the log
/// file at `path` (a base or a segment, header included), in order.
///
/// # Errors
/// The file cannot be read, or is damaged anywhere (an older file is whole
/// on disk, so damage there is not a crash's doing).
pub fn containers_of(path: &Path, mut f: impl FnMut(&str) -> io::Result<()>) -> Result<(), String> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut r = BufReader::with_capacity(1 << 16, file);
    let mut head = [0u8; HEADER_BYTES];
    r.read_exact(&mut head).map_err(|e| format!("cannot read the header of {}: {e}", path.display()))?;
    check_header(&head).map_err(|why| format!("{}: {why}", path.display()))?;
    let mut at = HEADER_BYTES as u64;
    let mut payload = Vec::new();
    loop {
        let mut fh = [0u8; FRAME_HEADER_BYTES];
        match r.read(&mut fh[..1]) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        }
        let damaged = |why: &str| format!("{} is damaged at byte {at}: {why}", path.display());
        r.read_exact(&mut fh[1..]).map_err(|_| damaged("a frame header cut short"))?;
        let len_bytes = [fh[0], fh[1], fh[2], fh[3]];
        let len = u32::from_le_bytes(len_bytes);
        if u32::from_le_bytes([fh[4], fh[5], fh[6], fh[7]]) != crc32c(&len_bytes) || len > MAX_FRAME_BYTES {
            return Err(damaged("a frame header whose checksum does not match"));
        }
        payload.resize(len as usize, 0);
        r.read_exact(&mut payload).map_err(|_| damaged("a frame cut short"))?;
        if crc32c(&payload) != u32::from_le_bytes([fh[8], fh[9], fh[10], fh[11]]) {
            return Err(damaged("a frame whose checksum does not match"));
        }
        let mut failed = None;
        decode(&payload, |op| {
            if let (Op::Container { text }, None) = (op, &failed) {
                failed = f(text).err();
            }
        })
        .map_err(|why| damaged(&why))?;
        if let Some(e) = failed {
            return Err(format!("cannot write the base: {e}"));
        }
        at += (FRAME_HEADER_BYTES + payload.len()) as u64;
    }
}

/// Writes the base of `job` (on the save thread): see the module docs,
/// step 4. On failure the temporary file is removed and nothing else
/// changed.
///
/// # Errors
/// What failed, naming the file.
pub fn write_base(job: &CompactJob) -> Result<BaseWritten, String> {
    let temp = job.dir.join(format!("{}.tmp", base_name(job.first)));
    let result = write_temp(job, &temp);
    if job.state.dead.load(Ordering::Acquire) {
        return Err("stopped dead (crash point)".to_owned());
    }
    let bytes = match result {
        Ok(bytes) => bytes,
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
    };
    if crashes(&job.state, CrashPoint::BaseWritten) {
        return Err("stopped dead (crash point)".to_owned());
    }
    let path = job.dir.join(base_name(job.first));
    if let Err(e) = std::fs::rename(&temp, &path) {
        let _ = std::fs::remove_file(&temp);
        return Err(format!("cannot rename {} to {}: {e}", temp.display(), path.display()));
    }
    if let Err(e) = File::open(&job.dir).and_then(|d| d.sync_all()) {
        let _ = std::fs::remove_file(&path);
        return Err(format!("cannot sync {}: {e}", job.dir.display()));
    }
    if crashes(&job.state, CrashPoint::BaseRenamed) {
        return Err("stopped dead (crash point)".to_owned());
    }
    Ok(BaseWritten { first: job.first, bytes })
}

fn write_temp(job: &CompactJob, temp: &Path) -> Result<u64, String> {
    let _ = std::fs::remove_file(temp);
    let io = |what: &str, e: io::Error| format!("cannot {what} {}: {e}", temp.display());
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(temp)
        .map_err(|e| io("create", e))?;
    let mut encoder =
        BaseEncoder::new(BufWriter::with_capacity(1 << 20, file), job.wall_origin_ms).map_err(|e| io("write", e))?;
    encoder.snapshot(&job.snapshot).map_err(|e| io("write", e))?;
    for name in &job.older {
        containers_of(&job.dir.join(name), |text| encoder.container(text))?;
    }
    let (out, bytes) = encoder.finish().map_err(|e| io("write", e))?;
    let file = out.into_inner().map_err(|e| io("write", e.into_error()))?;
    file.sync_all().map_err(|e| io("sync", e))?;
    Ok(bytes)
}

/// Where a compaction is.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// None under way.
    Idle,
    /// The switch is asked for and the snapshot is being taken;
    /// `containers`: whether any array or list existed at the switch.
    Snapshot { first: u32, switch_failures: u64, switched: bool, containers: bool },
    /// The base is being written on the save thread.
    Writing { first: u32 },
    /// The new manifest is being put in force.
    Installing { first: u32, install_failures: u64 },
}

/// Drives compactions, once per turn of the loop ([`Compactor::turn`]).
#[derive(Debug)]
pub struct Compactor {
    phase: Phase,
    percent: u64,
    min_size: u64,
    started: Instant,
    /// No compaction starts before this (after a failure).
    not_before: Option<Instant>,
    /// One compaction is asked for, whatever the trigger says (tests).
    forced: bool,
    /// Compactions put in force since start.
    done: u64,
    /// The snapshot, complete before the switch is.
    pending: Option<CompactSnapshot>,
}

impl Compactor {
    /// A compactor with the trigger of `settings`.
    pub fn new(settings: &LogSettings) -> Compactor {
        Compactor {
            phase: Phase::Idle,
            percent: settings.rewrite_percent,
            min_size: settings.rewrite_min_size,
            started: Instant::now(),
            not_before: None,
            forced: false,
            done: 0,
            pending: None,
        }
    }

    /// Asks for a compaction at the next turn, whatever the log's size.
    pub fn force(&mut self) {
        self.forced = true;
        self.not_before = None;
    }

    /// Whether one is under way.
    pub fn busy(&self) -> bool {
        !matches!(self.phase, Phase::Idle)
    }

    /// Compactions put in force since start.
    pub fn completed(&self) -> u64 {
        self.done
    }

    /// Whether the trigger holds for `segments` segments of `size` bytes
    /// in all after a base of `base` bytes. File headers do not count, so
    /// a log holding no record since its base is never due.
    pub fn due(&self, size: u64, segments: u64, base: u64) -> bool {
        let grown = size.saturating_sub(segments.saturating_mul(HEADER_BYTES as u64));
        let base = base.saturating_sub(HEADER_BYTES as u64);
        self.percent > 0
            && grown > 0
            && size >= self.min_size
            && u128::from(grown) * 100 >= u128::from(self.percent) * u128::from(base)
    }

    fn fail(&mut self, store: &mut Store, now: Instant, why: &str) {
        log::error!(
            "the log's compaction failed: {why}; the old base and segments stay in force; retried in {} s",
            RETRY_AFTER.as_secs()
        );
        store.abandon_compaction();
        store.hold_compaction_bytes(0);
        self.phase = Phase::Idle;
        self.not_before = Some(now + RETRY_AFTER);
    }

    /// One turn's work, after the turn's batch went to the log thread:
    /// starts a compaction when due (the switch and the snapshot's start
    /// in this turn), steps the snapshot, hands the base to the save
    /// thread, and notices the install. Nothing here costs more than a
    /// snapshot step.
    pub fn turn(&mut self, store: &mut Store, wal: &mut LogWriter, worker: &mut Worker, now: Instant) {
        if !cfg!(feature = "log") {
            return;
        }
        let state = wal.shared_state();
        if state.dead.load(Ordering::Acquire) {
            return;
        }
        match self.phase {
            Phase::Idle => {
                if wal.failing() || self.not_before.is_some_and(|t| now < t) {
                    return;
                }
                let size = state.size.load(Ordering::Relaxed);
                let base = state.base_bytes.load(Ordering::Relaxed);
                let segments = state.segments.load(Ordering::Relaxed);
                if !self.forced && !self.due(size, segments, base) {
                    return;
                }
                if !store.begin_compaction() {
                    return;
                }
                self.forced = false;
                self.started = Instant::now();
                let switch_failures = state.switch_failures.load(Ordering::Acquire);
                // Read in the same turn as the switch: no command falls
                // between them.
                let containers = store.has_containers();
                let first = wal.switch();
                log::info!("compacting the log ({size} bytes after a base of {base}): switching to segment {first}");
                self.phase = Phase::Snapshot { first, switch_failures, switched: false, containers };
                self.turn(store, wal, worker, now);
            }
            Phase::Snapshot { first, switch_failures, mut switched, containers } => {
                if !switched {
                    if state.switch_failures.load(Ordering::Acquire) != switch_failures {
                        self.pending = None;
                        return self.fail(store, now, "the log could not switch to a new segment");
                    }
                    switched = state.segment.load(Ordering::Acquire) == first;
                    self.phase = Phase::Snapshot { first, switch_failures, switched, containers };
                }
                if !switched {
                    // The snapshot goes on meanwhile.
                    if self.pending.is_none()
                        && let Some(snapshot) = store.compaction_step()
                    {
                        store.hold_compaction_bytes(snapshot.heap_bytes());
                        self.pending = Some(snapshot);
                    }
                    return;
                }
                let snapshot = match self.pending.take() {
                    Some(snapshot) => snapshot,
                    None => match store.compaction_step() {
                        Some(snapshot) => snapshot,
                        None => return,
                    },
                };
                store.hold_compaction_bytes(snapshot.heap_bytes());
                let base = state.base.load(Ordering::Acquire);
                // The files whose array and list commands the base carries
                // on: none when no array or list existed at the switch (the
                // scan reads the whole log, 3 % of the server's CPU during a
                // benchmark of SETs that compacts once).
                let mut older: Vec<String> = Vec::new();
                if containers {
                    if base > 1 {
                        older.push(base_name(base));
                    }
                    older.extend((base..first).map(segment_name));
                }
                let job = CompactJob {
                    dir: worker.root().join(LOG_DIR),
                    first,
                    older,
                    snapshot,
                    wall_origin_ms: store.wall_origin_ms(),
                    state,
                };
                let job = Job {
                    verb: crate::protocol::Verb::KvSave,
                    name: "log compaction".to_owned(),
                    work: Work::Compact(Box::new(job)),
                };
                worker.submit(COMPACTION_TICKET, job);
                self.phase = Phase::Writing { first };
            }
            Phase::Writing { .. } => {}
            Phase::Installing { first, install_failures } => {
                if state.base.load(Ordering::Acquire) == first {
                    self.phase = Phase::Idle;
                    self.done += 1;
                } else if state.install_failures.load(Ordering::Acquire) != install_failures {
                    self.fail(store, now, "the new manifest could not be written");
                }
            }
        }
    }

    /// Takes in the base write's result (the worker's job
    /// [`COMPACTION_TICKET`]).
    pub fn finished(&mut self, done: Done, store: &mut Store, wal: &mut LogWriter, now: Instant) {
        store.hold_compaction_bytes(0);
        let Phase::Writing { first } = self.phase else { return };
        match done.outcome {
            Outcome::Compacted(Ok(written)) if written.first == first => {
                let install_failures = wal.state().install_failures.load(Ordering::Acquire);
                wal.install(first, written.bytes, self.started);
                self.phase = Phase::Installing { first, install_failures };
            }
            Outcome::Compacted(Err(why)) => {
                if !wal.state().dead.load(Ordering::Acquire) {
                    self.fail(store, now, &why);
                }
            }
            _ => self.fail(store, now, "the base write answered something else"),
        }
    }
}
