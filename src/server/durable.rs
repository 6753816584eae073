//! The server's side of the durable log: opening and replaying it before
//! serving, handing the turns' records to the log thread (under `always`
//! one batch per turn: the group commit; under `everysec` and `no` the
//! turns of up to `HAND_OVER_INTERVAL` in one batch), releasing the replies held for them under
//! `fsync always`, and refusing commands that change data while the log
//! cannot be written.
//!
//! The log thread cannot wake the host's `Poll`, so while replies are held
//! (or the log is failing) [`Server::poll_timeout`] is at most
//! `JOB_POLL_INTERVAL` and every turn looks at how far the log is durable.

use std::time::Instant;

use super::{Held, Server};
use crate::config::LogFsync;
use crate::conn::Late;
use crate::error::Error;
use crate::persist::wal::{self, LogWriter, Replayed};
use crate::store::sessions::Budget;

impl Server {
    /// Opens the durable log under the persist path (when `persist.log`
    /// is enabled), replays it into the store at `now`, expires the
    /// sessions whose deadline passed while the server was down, and starts
    /// recording. Call it once, after [`Server::bind`] and before serving
    /// (and before [`Server::load_at_start`], whose data is then recorded
    /// too). Until it is called, commands that change data are refused
    /// (206) on a server whose config enables the log. Returns what the
    /// replay found, or `None` when the log is off.
    ///
    /// # Errors
    /// [`Error::Log`]: the log cannot be created or read, is of a newer
    /// format version, or is damaged before its last record (the message
    /// names the offset and `--log-truncate-at`). Nothing is served.
    pub fn open_log(&mut self, now: Instant) -> Result<Option<Replayed>, Error> {
        if !self.log_settings.enabled || self.wal.is_some() {
            return Ok(None);
        }
        let root = self.worker.root().to_owned();
        if !cfg!(feature = "log") {
            let reason = "this build has no durable log (built without the `log` feature)".to_owned();
            return Err(Error::Log { path: root.join(wal::LOG_DIR), reason });
        }
        let wall_ms = crate::persist::unix_millis();
        let (writer, replayed) = wal::open(&root, &self.log_settings, &mut self.store, now, wall_ms)?;
        let mut budget = Budget::UNLIMITED;
        let expired = self.store.expire_within(now, &mut budget);
        self.store.seal_journal();
        log::info!(
            "replayed the log {} ({} records, {} changes, {} bytes) in {} ms; {expired} sessions had expired \
             meanwhile; fsync {}",
            writer.path().display(),
            replayed.frames,
            replayed.ops,
            replayed.bytes,
            replayed.duration.as_millis() as u64,
            self.log_settings.fsync.as_str()
        );
        if let Some(wake) = &self.wake {
            writer.set_wake(std::sync::Arc::clone(wake));
        }
        self.wal = Some(writer);
        self.store.refuse_writes(false);
        self.store.set_log_info(Some(self.log_info()));
        self.commit_log(now);
        Ok(Some(replayed))
    }

    /// The log's writer while the log is open; always `None` in a build
    /// without the `log` feature, so that the log's code is left out.
    pub(super) fn wal(&self) -> Option<&LogWriter> {
        if cfg!(feature = "log") { self.wal.as_ref() } else { None }
    }

    /// Whether replies of commands that change data wait for the log.
    pub(super) fn holds_replies(&self) -> bool {
        self.wal().is_some_and(|wal| wal.fsync() == LogFsync::Always)
    }

    /// Whether the log is failing (writes refused until it recovers).
    pub(super) fn log_failing(&self) -> bool {
        self.wal().is_some_and(LogWriter::failing)
    }

    /// End of a turn: hands the turn's records to the log thread, sends the
    /// replies whose records are durable, and refuses or accepts writes as
    /// the log's state says.
    pub(super) fn commit_log(&mut self, now: Instant) {
        if !cfg!(feature = "log") {
            return;
        }
        let Some(wal) = self.wal.as_mut() else { return };
        wal.gather_from(&mut self.store, now);
        self.compact_turn(now);
        let Some(wal) = self.wal.as_mut() else { return };
        let durable = wal.durable();
        let failing = wal.failing();
        self.store.refuse_writes(failing);
        while self.held.front().is_some_and(|held| held.seq <= durable) {
            let Some(Held { id, reply, status, .. }) = self.held.pop_front() else { break };
            self.deliver_late(id, Late::Reply(reply), status, now);
        }
        self.release_corked(durable, now);
        let info = self.log_info();
        self.store.set_log_info(Some(info));
    }

    /// Sends the replies sockets held for batches up to `durable`, then
    /// lets their connections go on as a writable event would.
    fn release_corked(&mut self, durable: u64, now: Instant) {
        let mut i = 0;
        while i < self.corked.len() {
            let (key, serial) = self.corked[i];
            let Some(slot) = self.conns.get_mut(key).filter(|s| s.serial == serial && !s.dead) else {
                self.corked.swap_remove(i);
                continue;
            };
            if let Some(tcp) = slot.conn.stream_mut().plain_mut() {
                // An error here is the socket's: the flush below meets it.
                let _ = tcp.release(durable);
            }
            let was_closing = slot.conn.is_closing();
            let served = slot.conn.flush(&self.limits);
            let still = slot.conn.stream().is_corked();
            if !still {
                slot.corked = false;
                self.corked.swap_remove(i);
            } else {
                i += 1;
            }
            self.after(key, served, was_closing, now);
        }
    }

    /// What `SV_INFO` reports of the log.
    fn log_info(&self) -> crate::store::LogInfo {
        let Some(wal) = self.wal() else { return crate::store::LogInfo::default() };
        let state = wal.state();
        use std::sync::atomic::Ordering::Relaxed;
        crate::store::LogInfo {
            fsync: wal.fsync().as_str(),
            bytes: state.size.load(Relaxed),
            last_fsync_unix_ms: state.last_fsync_ms.load(Relaxed),
            error: if wal.failing() { state.error.lock().ok().and_then(|e| e.clone()) } else { None },
            held_replies: (self.held.len() + self.corked.len()) as u64,
            ..self.compaction_info()
        }
    }

    /// Makes every write of the log fail (`true`) or work again (`false`),
    /// as a full disk would: for tests of write errors.
    #[cfg(feature = "internals")]
    pub fn inject_log_failure(&self, fail: bool) {
        if let Some(wal) = self.wal() {
            wal.state().inject_failure.store(fail, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
