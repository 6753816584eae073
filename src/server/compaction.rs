//! The server's side of compacting the durable log: one
//! [`Compactor`](crate::persist::wal::Compactor) turn at the end of each
//! turn, after the turn's batch went to the log thread (so the switch
//! falls between two turns' records), the base write's result taken in,
//! and what `SV_INFO` reports of it. The procedure itself is
//! `persist/wal/compact.rs`'s.

use std::sync::atomic::Ordering::{Acquire, Relaxed};
use std::time::Instant;

use super::Server;
use crate::store::Done;

impl Server {
    /// The compaction's turn (called by `commit_log` once the turn's
    /// frames are handed over).
    pub(super) fn compact_turn(&mut self, now: Instant) {
        if !cfg!(feature = "log") {
            return;
        }
        let Some(wal) = self.wal.as_mut() else { return };
        self.compactor.turn(&mut self.store, wal, &mut self.worker, now);
    }

    /// Takes in the base write's result.
    pub(super) fn compaction_done(&mut self, done: Done, now: Instant) {
        if !cfg!(feature = "log") {
            return;
        }
        let Some(wal) = self.wal.as_mut() else { return };
        self.compactor.finished(done, &mut self.store, wal, now);
    }

    /// Whether a compaction is under way (the loop then looks at it
    /// every `JOB_POLL_INTERVAL`).
    pub(super) fn compacting(&self) -> bool {
        cfg!(feature = "log") && self.wal.is_some() && self.compactor.busy()
    }

    /// What `SV_INFO` reports of compaction (the other members default).
    pub(super) fn compaction_info(&self) -> crate::store::LogInfo {
        let Some(wal) = self.wal() else { return crate::store::LogInfo::default() };
        let state = wal.state();
        crate::store::LogInfo {
            base_bytes: state.base_bytes.load(Relaxed),
            segments: state.segments.load(Relaxed),
            compactions: self.compactor.completed(),
            last_compaction_unix_ms: state.last_compaction_ms.load(Relaxed),
            last_compaction_ms: state.last_compaction_duration_ms.load(Relaxed),
            ..crate::store::LogInfo::default()
        }
    }

    /// Asks for a compaction of the log at the next turn, whatever its
    /// size: for tests.
    #[cfg(feature = "internals")]
    pub fn force_compaction(&mut self) {
        self.compactor.force();
    }

    /// Compactions put in force since start: for tests.
    #[cfg(feature = "internals")]
    pub fn compactions(&self) -> u64 {
        self.compactor.completed()
    }

    /// Makes the next compaction stop dead at `point`, as `kill -9` would
    /// stop it there (`None`: run through): for tests of what a crash
    /// leaves. Returns whether the log has stopped at it.
    #[cfg(all(feature = "internals", feature = "log"))]
    pub fn crash_compaction_at(&self, point: Option<crate::persist::wal::CrashPoint>) -> bool {
        let Some(wal) = self.wal() else { return false };
        wal.state().crash_at.store(point.map_or(0, |p| p as u8), Relaxed);
        wal.state().dead.load(Acquire)
    }
}
