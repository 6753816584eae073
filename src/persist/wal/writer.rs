//! The log thread (`ndb-log`): appends each turn's frames to the segment
//! and syncs them as the policy says, off the loop, so neither a write nor
//! an fsync ever blocks the loop.
//!
//! Group commit: everything queued while the thread was busy is written
//! and then synced once. Under `always` the loop holds the replies of the
//! commands of a batch until [`LogWriter::durable`] reaches its sequence
//! number.
//!
//! A failed write or fsync (a full disk, an I/O error) cuts the file back
//! to its last synced length, keeps every batch not yet synced, and tries
//! again every [`RETRY_INTERVAL`]; meanwhile [`LogWriter::failing`] holds,
//! and the loop refuses commands that change data (206). Rewriting rather
//! than syncing again matters: after a failed fsync Linux may have dropped
//! the dirty pages, so a second fsync can succeed with the data gone.
//!
//! Compaction (`compact.rs`) goes through this thread too, in order with
//! the batches: [`LogWriter::switch`] makes every batch queued before it
//! durable in the old segment, creates the next segment and lists it in
//! the manifest before any batch goes there; [`LogWriter::install`] puts a
//! written base in force (a new manifest) and deletes what it replaces.
//! The thread owns the manifest, so it is never written from two places.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::compact::{self, CrashPoint};
use super::manifest::{self, Installed, Manifest};
use super::record::Piece;
use crate::config::LogFsync;

/// How long after a failed write or fsync the thread tries again: often
/// enough that writes resume within a moment of space being freed, rarely
/// enough that a dead disk costs nothing noticeable.
pub const RETRY_INTERVAL: Duration = Duration::from_millis(200);

/// How often `everysec` syncs.
pub const EVERYSEC_INTERVAL: Duration = Duration::from_secs(1);

/// Under `everysec` and `no`, the longest the frames of a turn wait on the
/// loop, gathered with the next turns', before they go to the log thread:
/// 20 ms. Handing each turn's frames over on its own woke the log thread
/// (on the loop's core, when pinned) and made it write once per turn:
/// tens of thousands of wake-ups, context switches and `write` calls a
/// second under load, about 15 % more CPU per SET than with the log off
/// (`scripts/bench-log.sh`, docs/performance.md). Every 2 ms, still about
/// 2,400 preemptions of the loop per 2M SETs and 10–15 % less CPU than
/// every 20 ms (docs/performance.md, "The hand-over every 20 ms"). The
/// price: a crash of the process (`kill -9`, the OOM killer) loses what
/// waits on the loop, at most the last 20 ms of acknowledged writes; a
/// power cut loses up to about a second more, as before. `always` hands
/// every turn over (its replies wait for it).
pub const HAND_OVER_INTERVAL: Duration = Duration::from_millis(20);

/// Gathered bytes past which they go to the log thread at once, whatever
/// [`HAND_OVER_INTERVAL`] says: 1 MiB, so what waits on the loop stays
/// small next to the memory it is written from.
pub const HAND_OVER_BYTES: usize = 1 << 20;

/// Chunks at least this long are handed over as they are rather than
/// copied into the gathering buffer (a load's frames, encoded off the
/// loop, can be many megabytes).
const GATHER_COPY_MAX: usize = 64 * 1024;

/// What a gathering buffer is made with: room for the frames of a busy
/// 2 ms (about 1,200 SETs of 50 bytes at 600,000 a second), so it seldom
/// grows.
const GATHER_BUF_BYTES: usize = 128 * 1024;

/// What the log thread reports, read by the loop and by `SV_INFO`.
#[derive(Debug, Default)]
pub struct LogState {
    /// A write or fsync is failing.
    pub failing: AtomicBool,
    /// Bytes in the segments after the base, written.
    pub size: AtomicU64,
    /// Bytes of the base (0: none).
    pub base_bytes: AtomicU64,
    /// Segments the manifest lists.
    pub segments: AtomicU64,
    /// The segment being appended to.
    pub segment: AtomicU32,
    /// The first segment after the base in force (1 with no base).
    pub base: AtomicU32,
    /// Switches to a new segment that failed (the old one goes on).
    pub switch_failures: AtomicU64,
    /// Manifest replacements that failed (the old manifest stays).
    pub install_failures: AtomicU64,
    /// When the last compaction was put in force, ms since the epoch (0:
    /// none since start).
    pub last_compaction_ms: AtomicU64,
    /// How long it took, from the switch to the new manifest, in ms.
    pub last_compaction_duration_ms: AtomicU64,
    /// The point where a compaction stops dead, as `kill -9` would stop
    /// it ([`CrashPoint`] as a number; 0: none): fault injection for tests.
    pub crash_at: AtomicU8,
    /// A crash point was reached: the log thread and the base writer stop
    /// dead, doing nothing more, cleaning nothing up.
    pub dead: AtomicBool,
    /// When the last fsync finished, milliseconds since the epoch (0:
    /// none yet).
    pub last_fsync_ms: AtomicU64,
    /// The highest batch sequence number that is durable (synced, or
    /// written under `no`).
    pub durable: AtomicU64,
    /// The last write error, while failing.
    pub error: Mutex<Option<String>>,
    /// Makes every write fail (fault injection for tests).
    pub inject_failure: AtomicBool,
    /// Woken under `always` each time more batches are durable, so that
    /// the loop sends their held replies at once.
    pub wake: std::sync::OnceLock<Arc<crate::persist::wake::Wake>>,
}

/// The loop's end of the log thread.
#[derive(Debug)]
pub struct LogWriter {
    tx: Option<Sender<Msg>>,
    state: Arc<LogState>,
    thread: Option<JoinHandle<()>>,
    next_seq: u64,
    fsync: LogFsync,
    path: PathBuf,
    /// Frames gathered for the next hand-over (`everysec`, `no`), in order.
    gathered: Vec<Vec<u8>>,
    /// Their bytes.
    gathered_bytes: usize,
    /// When the oldest of them was gathered.
    gathered_since: Option<Instant>,
}

impl LogWriter {
    /// Starts the thread appending to `file`, the last segment of
    /// `layout` (positioned at its end, `len` bytes long, all of them
    /// durable).
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn start(file: File, len: u64, fsync: LogFsync, path: PathBuf, layout: Layout) -> io::Result<LogWriter> {
        let state = Arc::new(LogState::default());
        state.size.store(layout.closed_bytes + len, Ordering::Relaxed);
        state.base_bytes.store(layout.base_bytes, Ordering::Relaxed);
        state.segments.store(layout.manifest.segments.len() as u64, Ordering::Relaxed);
        state.segment.store(layout.manifest.last(), Ordering::Relaxed);
        state.base.store(layout.manifest.base.unwrap_or(1), Ordering::Relaxed);
        let (tx, rx) = mpsc::channel();
        let thread_state = Arc::clone(&state);
        let thread = std::thread::Builder::new().name("ndb-log".into()).spawn(move || {
            crate::background::place_log_thread(fsync != LogFsync::Always);
            Appender {
                file,
                synced_len: len,
                written_len: len,
                fsync,
                state: thread_state,
                last_sync: Instant::now(),
                layout,
            }
            .run(&rx);
        })?;
        Ok(LogWriter {
            tx: Some(tx),
            state,
            thread: Some(thread),
            next_seq: 1,
            fsync,
            path,
            gathered: Vec::new(),
            gathered_bytes: 0,
            gathered_since: None,
        })
    }

    /// Asks the thread to switch to the next segment after the batches
    /// queued so far (see the module docs); [`LogState::segment`] shows it
    /// done, [`LogState::switch_failures`] failed. Returns the new
    /// segment's number.
    pub fn switch(&mut self) -> u32 {
        let next = self.state.segment.load(Ordering::Acquire).saturating_add(1);
        self.hand_over();
        self.send(Msg::Switch);
        next
    }

    /// Asks the thread to put the base written before segment `first` in
    /// force: a new manifest listing it and the segments from `first` on,
    /// then the old base and segments deleted. [`LogState::base`] shows it
    /// done, [`LogState::install_failures`] failed.
    pub fn install(&mut self, first: u32, base_bytes: u64, started: Instant) {
        self.hand_over();
        self.send(Msg::Install { first, base_bytes, started });
    }

    fn send(&mut self, msg: Msg) {
        if let Some(tx) = &self.tx
            && tx.send(msg).is_err()
        {
            self.state.failing.store(true, Ordering::Relaxed);
            if let Ok(mut error) = self.state.error.lock() {
                *error = Some("the log thread ended".to_owned());
            }
        }
    }

    /// Has the thread wake `wake` each time more batches are durable under
    /// `always` (the first call wins).
    pub fn set_wake(&self, wake: Arc<crate::persist::wake::Wake>) {
        let _ = self.state.wake.set(wake);
    }

    /// What the thread reports, shared (for the base writer).
    pub fn shared_state(&self) -> Arc<LogState> {
        Arc::clone(&self.state)
    }

    /// Queues one turn's frames; returns the batch's sequence number.
    pub fn submit(&mut self, frames: Vec<u8>) -> u64 {
        self.submit_chunks(vec![frames])
    }

    /// Queues one turn's frames as pieces written in order (a load's
    /// frames, encoded off the loop, travel as a piece of their own, never
    /// copied), at once; returns the batch's sequence number. Anything
    /// [`LogWriter::gather`]ed goes first.
    pub fn submit_chunks(&mut self, frames: Vec<Vec<u8>>) -> u64 {
        self.gather_chunks(frames);
        self.hand_over();
        self.next_seq - 1
    }

    /// Takes one turn's frames (in order) for the log thread: under
    /// `always` they go at once, as one batch; under `everysec` and `no`
    /// they wait, gathered with the next turns', until the oldest has
    /// waited [`HAND_OVER_INTERVAL`] at `now` or [`HAND_OVER_BYTES`] are
    /// gathered. [`LogWriter::hand_over_at`] says when the host must come
    /// back for them; a switch, an install and dropping the writer hand
    /// them over first.
    pub fn gather(&mut self, frames: Vec<Vec<u8>>, now: Instant) {
        if frames.is_empty() {
            return self.hand_over_if_due(now);
        }
        self.gather_chunks(frames);
        self.gathered_since.get_or_insert(now);
        if self.fsync == LogFsync::Always {
            self.hand_over();
        } else {
            self.hand_over_if_due(now);
        }
    }

    /// [`LogWriter::gather`] of the frames `store` recorded this turn,
    /// copied out of its journals (which keep their memory for the next
    /// turn), at `now`.
    pub fn gather_from(&mut self, store: &mut crate::store::Store, now: Instant) {
        let mut any = false;
        store.drain_journal(|piece| {
            any = true;
            self.gather_piece(piece);
        });
        if any {
            self.gathered_since.get_or_insert(now);
            if self.fsync == LogFsync::Always {
                return self.hand_over();
            }
        }
        self.hand_over_if_due(now);
    }

    /// Hands the gathered frames over if they are due at `now`.
    pub fn hand_over_if_due(&mut self, now: Instant) {
        if self.gathered_bytes >= HAND_OVER_BYTES || self.hand_over_at().is_some_and(|at| now >= at) {
            self.hand_over();
        }
    }

    /// When the gathered frames are due to go to the log thread (`None`:
    /// nothing is gathered).
    pub fn hand_over_at(&self) -> Option<Instant> {
        self.gathered_since.map(|since| since + HAND_OVER_INTERVAL)
    }

    /// Appends `frames` to the gathered ones.
    fn gather_chunks(&mut self, frames: Vec<Vec<u8>>) {
        for chunk in frames {
            self.gather_piece(Piece::Owned(chunk));
        }
    }

    /// Appends one piece to the gathered frames: short ones copied into
    /// the last gathered buffer, long ones kept whole.
    fn gather_piece(&mut self, piece: Piece<'_>) {
        let bytes: &[u8] = match &piece {
            Piece::Borrowed(bytes) => bytes,
            Piece::Owned(chunk) => chunk,
        };
        if bytes.is_empty() {
            return;
        }
        self.gathered_bytes += bytes.len();
        if bytes.len() >= GATHER_COPY_MAX {
            self.gathered.push(match piece {
                Piece::Borrowed(bytes) => bytes.to_vec(),
                Piece::Owned(chunk) => chunk,
            });
            return;
        }
        match self.gathered.last_mut() {
            Some(last) if last.len() + bytes.len() <= last.capacity().max(HAND_OVER_BYTES) => {
                last.extend_from_slice(bytes);
            }
            _ => {
                // A buffer of its own, with room for the next turns'.
                let mut buf = Vec::with_capacity(GATHER_BUF_BYTES);
                buf.extend_from_slice(bytes);
                self.gathered.push(buf);
            }
        }
    }

    /// Sends what is gathered as one batch (one sequence number), if
    /// anything is.
    fn hand_over(&mut self) {
        self.gathered_since = None;
        if self.gathered.is_empty() {
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.gathered_bytes = 0;
        let frames = std::mem::take(&mut self.gathered);
        self.send(Msg::Batch(seq, frames));
    }

    /// The sequence number the next batch will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The highest durable batch.
    pub fn durable(&self) -> u64 {
        self.state.durable.load(Ordering::Acquire)
    }

    /// Whether writing or syncing the log is failing.
    pub fn failing(&self) -> bool {
        self.state.failing.load(Ordering::Acquire)
    }

    /// What the thread reports.
    pub fn state(&self) -> &LogState {
        &self.state
    }

    /// The policy.
    pub fn fsync(&self) -> LogFsync {
        self.fsync
    }

    /// The segment's path.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for LogWriter {
    /// Lets the thread write and sync what is queued, then waits for it.
    fn drop(&mut self) {
        self.hand_over();
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the log is made of when the thread starts.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The log directory.
    pub dir: PathBuf,
    /// The manifest in force.
    pub manifest: Manifest,
    /// Bytes of the segments before the last.
    pub closed_bytes: u64,
    /// Bytes of the base (0: none).
    pub base_bytes: u64,
}

/// What the loop sends the thread, in order.
enum Msg {
    /// One turn's frames and their sequence number.
    Batch(u64, Vec<Vec<u8>>),
    /// Switch to the next segment.
    Switch,
    /// Put the base before segment `first` in force.
    Install { first: u32, base_bytes: u64, started: Instant },
}

struct Appender {
    file: File,
    synced_len: u64,
    written_len: u64,
    fsync: LogFsync,
    state: Arc<LogState>,
    last_sync: Instant,
    layout: Layout,
}

impl Appender {
    fn run(mut self, rx: &Receiver<Msg>) {
        // Batches not yet durable, oldest first, and how many of them are
        // written; then what came after the first switch or install not
        // carried out yet.
        let mut pending: VecDeque<(u64, Vec<Vec<u8>>)> = VecDeque::new();
        let mut later: VecDeque<Msg> = VecDeque::new();
        let mut written = 0usize;
        let mut closing = false;
        loop {
            if self.state.dead.load(Ordering::Acquire) {
                return;
            }
            let failing = self.state.failing.load(Ordering::Relaxed);
            let wait = if failing {
                Some(RETRY_INTERVAL)
            } else if !later.is_empty() {
                Some(Duration::ZERO)
            } else if !pending.is_empty() {
                Some(EVERYSEC_INTERVAL.saturating_sub(self.last_sync.elapsed()))
            } else {
                None
            };
            if !closing {
                let got = match wait {
                    None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                    Some(wait) => rx.recv_timeout(wait),
                };
                match got {
                    Ok(msg) => later.push_back(msg),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => closing = true,
                }
                while let Ok(msg) = rx.try_recv() {
                    later.push_back(msg);
                }
            }
            // Batches up to the first switch or install join the pending
            // ones; that one waits until they are durable.
            while let Some(Msg::Batch(..)) = later.front() {
                if let Some(Msg::Batch(seq, frames)) = later.pop_front() {
                    pending.push_back((seq, frames));
                }
            }
            let control = !later.is_empty();
            match self.step(&mut pending, &mut written, closing || control) {
                Ok(()) => {}
                Err(e) => {
                    let message = e.to_string();
                    if !self.state.failing.swap(true, Ordering::Relaxed) {
                        log::error!(
                            "cannot write the log: {message}; commands that change data get 206 until it can be \
                             written again (retrying every {} ms)",
                            RETRY_INTERVAL.as_millis() as u64
                        );
                    }
                    if let Ok(mut error) = self.state.error.lock() {
                        *error = Some(message);
                    }
                    // Back to the last synced length; everything since is
                    // written again.
                    if self.file.set_len(self.synced_len).is_ok() {
                        let _ = self.file.seek(SeekFrom::Start(self.synced_len));
                        self.written_len = self.synced_len;
                        written = 0;
                        self.state.size.store(self.layout.closed_bytes + self.synced_len, Ordering::Relaxed);
                    }
                    if closing && pending.is_empty() {
                        return;
                    }
                    if closing {
                        // No one waits any more: one last try, then give up.
                        std::thread::sleep(RETRY_INTERVAL);
                        if self.step(&mut pending, &mut written, true).is_err() {
                            log::error!("the log thread ends with {} batches unwritten", pending.len());
                            return;
                        }
                    }
                }
            }
            if self.state.dead.load(Ordering::Acquire) {
                return;
            }
            if control && pending.is_empty() && !self.state.failing.load(Ordering::Acquire) {
                match later.pop_front() {
                    Some(Msg::Switch) => self.switch(),
                    Some(Msg::Install { first, base_bytes, started }) => self.install(first, base_bytes, started),
                    _ => {}
                }
                continue;
            }
            if closing && pending.is_empty() && later.is_empty() {
                return;
            }
        }
    }

    /// Whether the crash point `point` is set: if so the thread stops dead.
    fn crashes(&self, point: CrashPoint) -> bool {
        compact::crashes(&self.state, point)
    }

    /// Everything so far is durable in the current segment: creates the
    /// next one, lists it in the manifest, and appends there from now on.
    /// On failure the current segment goes on (and the compaction that
    /// asked is abandoned).
    fn switch(&mut self) {
        let next = self.layout.manifest.last().saturating_add(1);
        let dir = self.layout.dir.clone();
        let path = dir.join(manifest::segment_name(next));
        // Whatever the policy, a segment is whole on disk before the next
        // one starts: only the last segment may end torn.
        if let Err(e) = self.file.sync_data() {
            log::error!("cannot sync the log before switching segments: {e}; the compaction is abandoned");
            self.state.switch_failures.fetch_add(1, Ordering::Release);
            return;
        }
        let created = super::create(&dir, &path);
        let mut file = match created {
            Ok(file) => file,
            Err(e) => {
                log::error!("cannot switch the log to a new segment: {e}; the compaction is abandoned, retried later");
                self.state.switch_failures.fetch_add(1, Ordering::Release);
                return;
            }
        };
        if self.crashes(CrashPoint::SegmentCreated) {
            return;
        }
        let mut listed = self.layout.manifest.clone();
        listed.segments.push(next);
        match listed.install(&dir, |_| false) {
            Ok(_) => {}
            Err(e) => {
                log::error!("cannot list the new log segment in the manifest: {e}; the compaction is abandoned");
                let _ = std::fs::remove_file(&path);
                self.state.switch_failures.fetch_add(1, Ordering::Release);
                return;
            }
        }
        if self.crashes(CrashPoint::Switched) {
            return;
        }
        let _ = file.seek(SeekFrom::Start(super::HEADER_BYTES as u64));
        self.layout.manifest = listed;
        self.layout.closed_bytes += self.written_len;
        self.file = file;
        self.synced_len = super::HEADER_BYTES as u64;
        self.written_len = self.synced_len;
        self.state.size.store(self.layout.closed_bytes + self.written_len, Ordering::Relaxed);
        self.state.segments.store(self.layout.manifest.segments.len() as u64, Ordering::Relaxed);
        self.state.segment.store(next, Ordering::Release);
    }

    /// Puts the base before segment `first` in force and deletes what it
    /// replaces.
    fn install(&mut self, first: u32, base_bytes: u64, started: Instant) {
        let dir = self.layout.dir.clone();
        let kept: Vec<u32> = self.layout.manifest.segments.iter().copied().filter(|&s| s >= first).collect();
        let new = Manifest { base: Some(first), segments: kept };
        let state = Arc::clone(&self.state);
        let installed = new.install(&dir, |step| {
            let point = match step {
                manifest::Step::TempWritten => CrashPoint::ManifestWritten,
                manifest::Step::Renamed => CrashPoint::ManifestRenamed,
            };
            compact::crashes(&state, point)
        });
        match installed {
            Ok(Installed::Stopped) => {}
            Ok(how) => {
                let old = std::mem::replace(&mut self.layout.manifest, new);
                let closed: u64 = self.layout.closed_bytes;
                // Bytes of the kept closed segments: all of them are after
                // the base now; recount from the files.
                let kept_closed: u64 = self.layout.manifest.segments[..self.layout.manifest.segments.len() - 1]
                    .iter()
                    .map(|&s| std::fs::metadata(dir.join(manifest::segment_name(s))).map_or(0, |m| m.len()))
                    .sum();
                log::debug!("compaction: {closed} bytes of closed segments before, {kept_closed} kept");
                self.layout.closed_bytes = kept_closed;
                self.layout.base_bytes = base_bytes;
                self.state.size.store(self.layout.closed_bytes + self.written_len, Ordering::Relaxed);
                self.state.base_bytes.store(base_bytes, Ordering::Relaxed);
                self.state.segments.store(self.layout.manifest.segments.len() as u64, Ordering::Relaxed);
                let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                self.state.last_compaction_duration_ms.store(took, Ordering::Relaxed);
                self.state.last_compaction_ms.store(crate::persist::unix_millis(), Ordering::Relaxed);
                if how == Installed::Done {
                    // Only once the new manifest is durable: until then a
                    // crash may bring the old one back, and its files
                    // must still be there.
                    let mut first_deleted = true;
                    for name in old.base.map(manifest::base_name).into_iter().chain(
                        old.segments
                            .iter()
                            .filter(|s| !self.layout.manifest.segments.contains(s))
                            .map(|&s| manifest::segment_name(s)),
                    ) {
                        if let Err(e) = std::fs::remove_file(dir.join(&name)) {
                            log::warn!("cannot delete {name} after compacting the log: {e}");
                        }
                        if first_deleted && self.crashes(CrashPoint::Deleting) {
                            return;
                        }
                        first_deleted = false;
                    }
                    let _ = File::open(&dir).and_then(|d| d.sync_all());
                } else {
                    log::warn!("the log's new manifest is in force but its directory could not be synced");
                }
                self.state.base.store(first, Ordering::Release);
                log::info!(
                    "compacted the log: base {} ({base_bytes} bytes), {} segments, in {took} ms",
                    manifest::base_name(first),
                    self.layout.manifest.segments.len()
                );
            }
            Err(e) => {
                log::error!(
                    "cannot write the log's new manifest: {e}; the old one stays in force, the compaction is retried \
                     later"
                );
                let _ = std::fs::remove_file(dir.join(manifest::base_name(first)));
                self.state.install_failures.fetch_add(1, Ordering::Release);
            }
        }
    }

    /// Writes what is not written, and syncs when the policy says so (or
    /// when `closing`).
    fn step(
        &mut self,
        pending: &mut VecDeque<(u64, Vec<Vec<u8>>)>,
        written: &mut usize,
        closing: bool,
    ) -> io::Result<()> {
        for (_, chunks) in pending.iter().skip(*written) {
            if self.state.dead.load(Ordering::Acquire) {
                return Ok(());
            }
            if self.state.inject_failure.load(Ordering::Relaxed) {
                return Err(io::Error::other("injected write failure"));
            }
            for bytes in chunks {
                self.file.write_all(bytes)?;
                self.written_len += bytes.len() as u64;
            }
            self.state.size.store(self.layout.closed_bytes + self.written_len, Ordering::Relaxed);
            *written += 1;
        }
        let Some(&(last, _)) = pending.back() else { return Ok(()) };
        let sync = match self.fsync {
            LogFsync::Always => true,
            LogFsync::EverySec => closing || self.last_sync.elapsed() >= EVERYSEC_INTERVAL,
            LogFsync::No => false,
        };
        if sync {
            if self.state.inject_failure.load(Ordering::Relaxed) {
                return Err(io::Error::other("injected fsync failure"));
            }
            self.file.sync_data()?;
            self.last_sync = Instant::now();
            self.synced_len = self.written_len;
            self.state.last_fsync_ms.store(crate::persist::unix_millis(), Ordering::Relaxed);
        } else if self.fsync != LogFsync::No {
            return Ok(());
        } else {
            self.synced_len = self.written_len;
        }
        pending.clear();
        *written = 0;
        // Writable again before anything is reported durable, so the loop
        // never sees a reply released while writes are still refused.
        if self.state.failing.swap(false, Ordering::Release) {
            log::warn!("the log is writable again; commands that change data are accepted again");
            if let Ok(mut error) = self.state.error.lock() {
                *error = None;
            }
        }
        self.state.durable.store(last, Ordering::Release);
        if self.fsync == LogFsync::Always
            && let Some(wake) = self.state.wake.get()
        {
            wake.wake();
        }
        Ok(())
    }
}
