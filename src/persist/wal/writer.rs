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

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::LogFsync;

/// How long after a failed write or fsync the thread tries again: often
/// enough that writes resume within a moment of space being freed, rarely
/// enough that a dead disk costs nothing noticeable.
pub const RETRY_INTERVAL: Duration = Duration::from_millis(200);

/// How often `everysec` syncs.
pub const EVERYSEC_INTERVAL: Duration = Duration::from_secs(1);

/// What the log thread reports, read by the loop and by `SV_INFO`.
#[derive(Debug, Default)]
pub struct LogState {
    /// A write or fsync is failing.
    pub failing: AtomicBool,
    /// Bytes in the segment, written.
    pub size: AtomicU64,
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
}

/// The loop's end of the log thread.
#[derive(Debug)]
pub struct LogWriter {
    tx: Option<Sender<(u64, Vec<Vec<u8>>)>>,
    state: Arc<LogState>,
    thread: Option<JoinHandle<()>>,
    next_seq: u64,
    fsync: LogFsync,
    path: PathBuf,
}

impl LogWriter {
    /// Starts the thread appending to `file` (positioned at its end, `len`
    /// bytes long, all of them durable).
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn start(file: File, len: u64, fsync: LogFsync, path: PathBuf) -> io::Result<LogWriter> {
        let state = Arc::new(LogState::default());
        state.size.store(len, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel();
        let thread_state = Arc::clone(&state);
        let thread = std::thread::Builder::new().name("ndb-log".into()).spawn(move || {
            Appender { file, synced_len: len, written_len: len, fsync, state: thread_state, last_sync: Instant::now() }
                .run(&rx);
        })?;
        Ok(LogWriter { tx: Some(tx), state, thread: Some(thread), next_seq: 1, fsync, path })
    }

    /// Queues one turn's frames; returns the batch's sequence number.
    pub fn submit(&mut self, frames: Vec<u8>) -> u64 {
        self.submit_chunks(vec![frames])
    }

    /// Queues one turn's frames as pieces written in order (a load's
    /// frames, encoded off the loop, travel as a piece of their own, never
    /// copied); returns the batch's sequence number.
    pub fn submit_chunks(&mut self, frames: Vec<Vec<u8>>) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(tx) = &self.tx
            && tx.send((seq, frames)).is_err()
        {
            self.state.failing.store(true, Ordering::Relaxed);
            if let Ok(mut error) = self.state.error.lock() {
                *error = Some("the log thread ended".to_owned());
            }
        }
        seq
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
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Appender {
    file: File,
    synced_len: u64,
    written_len: u64,
    fsync: LogFsync,
    state: Arc<LogState>,
    last_sync: Instant,
}

impl Appender {
    fn run(mut self, rx: &Receiver<(u64, Vec<Vec<u8>>)>) {
        // Batches not yet durable, oldest first, and how many of them are
        // written.
        let mut pending: VecDeque<(u64, Vec<Vec<u8>>)> = VecDeque::new();
        let mut written = 0usize;
        let mut closing = false;
        loop {
            let failing = self.state.failing.load(Ordering::Relaxed);
            let wait = if failing {
                Some(RETRY_INTERVAL)
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
                    Ok(batch) => pending.push_back(batch),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => closing = true,
                }
                while let Ok(batch) = rx.try_recv() {
                    pending.push_back(batch);
                }
            }
            match self.step(&mut pending, &mut written, closing) {
                Ok(()) => {}
                Err(e) => {
                    let message = e.to_string();
                    if !self.state.failing.swap(true, Ordering::Relaxed) {
                        log::error!(
                            "cannot write the log: {message}; commands that change data get 206 until it can be \
                             written again (retrying every {} ms)",
                            RETRY_INTERVAL.as_millis()
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
                        self.state.size.store(self.synced_len, Ordering::Relaxed);
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
            if closing && pending.is_empty() {
                return;
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
            if self.state.inject_failure.load(Ordering::Relaxed) {
                return Err(io::Error::other("injected write failure"));
            }
            for bytes in chunks {
                self.file.write_all(bytes)?;
                self.written_len += bytes.len() as u64;
            }
            self.state.size.store(self.written_len, Ordering::Relaxed);
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
        Ok(())
    }
}
