//! Replaying the durable log into the store at start-up, and the store's
//! side of recording: turning the journal on, sealing each command's
//! changes into a frame, and handing the frames over.
//!
//! Replay applies each change as recorded, with no expiry, extension or
//! liveness check in between, so the store ends as it was when the last
//! record was written; sessions whose deadline has passed since are then
//! expired by the first expiry pass, which records that too.

use std::time::Instant;

use super::Store;
#[cfg(feature = "log")]
use crate::persist::wal::{Op, Scope};

impl Store {
    /// Fixes the session clock's origin (if not yet) and ties `now` to the
    /// wall-clock time `wall_ms`, for the log's absolute deadlines.
    pub(crate) fn set_wall_clock(&mut self, now: Instant, wall_ms: u64) {
        let since = u64::try_from(self.since(now).as_millis()).unwrap_or(u64::MAX);
        let origin_ms = wall_ms.saturating_sub(since);
        self.journal.set_origin(origin_ms);
        self.sessions.journal.set_origin(origin_ms);
    }

    /// Starts recording every change (the log is open and replayed).
    pub(crate) fn enable_journal(&mut self) {
        self.journal.enable();
        self.sessions.journal.enable();
    }

    /// Applies one recorded change.
    #[cfg(feature = "log")]
    pub(crate) fn replay(&mut self, op: Op<'_>) {
        let tick = |store: &Store, ms: u64| store.sessions.journal.tick_of(ms);
        match op {
            Op::Set { scope: Scope::Kv, key, value } => {
                if !self.kv.set(key, value) {
                    log::warn!("replay: the key map is full; {key:?} is not restored");
                }
            }
            Op::Remove { scope: Scope::Kv, key } => {
                self.kv.remove(key);
            }
            Op::Clear { scope: Scope::Kv } => {
                self.kv.clear();
            }
            Op::Set { scope: Scope::Session(token), key, value } => {
                self.sessions.replay_keys(token, |keys| {
                    if !keys.set(key, value) {
                        log::warn!("replay: the key map of session {token} is full; {key:?} is not restored");
                    }
                });
            }
            Op::Remove { scope: Scope::Session(token), key } => {
                self.sessions.replay_keys(token, |keys| {
                    keys.remove(key);
                });
            }
            Op::Clear { scope: Scope::Session(token) } => self.sessions.replay_keys(token, |keys| {
                keys.clear();
            }),
            Op::SessionNew { token, expiry, deadline_ms } => {
                let deadline = deadline_ms.map(|ms| tick(self, ms));
                self.sessions.replay_new(token, expiry, deadline);
            }
            Op::SessionEnd { token } => {
                self.sessions.end(token, std::time::Duration::ZERO);
            }
            Op::SessionEndAll => {
                self.sessions.end_all(std::time::Duration::ZERO);
            }
            Op::Container { text } => match crate::protocol::decode(text) {
                Ok(crate::protocol::Command::Container(command)) => {
                    let mut out = Vec::new();
                    let mut reply = crate::protocol::Reply::new(&mut out, crate::protocol::Protocol::V09);
                    self.containers.execute(*command, &mut reply);
                }
                _ => log::warn!("replay: a recorded array or list command no longer decodes: {text:.80}"),
            },
            Op::SessionDeadline { token, deadline_ms } => {
                let deadline = tick(self, deadline_ms);
                self.sessions.replay_deadline(token, deadline);
            }
            // The replay loop checks the frames it binds (`wal::replay`).
            Op::Group { .. } => {}
        }
    }

    /// Records a KV load's keys, encoded as sealed frames off the loop
    /// ([`crate::persist::wal::encode_load`]): handed on as they are, in
    /// constant time.
    pub(crate) fn journal_sealed(&mut self, frames: Vec<u8>) {
        self.journal.append_sealed(frames);
    }

    /// Whether the durable log records changes.
    pub(crate) fn journal_on(&self) -> bool {
        self.journal.is_on()
    }

    /// Records an array or list command that may have changed data, by its
    /// message text.
    pub(crate) fn journal_container(&mut self, text: &str) {
        self.journal.container(text);
    }

    /// Closes the frame of the command just run; returns whether it
    /// changed anything (recorded anything).
    pub(crate) fn seal_journal(&mut self) -> bool {
        let kv = self.journal.seal();
        let sessions = self.sessions.journal.seal();
        kv || sessions
    }

    /// Hands the frames recorded since the last call to `f`, oldest first
    /// (top-level keys, arrays and lists, then sessions: the two families
    /// replay independently), keeping the journals' memory for the next
    /// turn (nothing when the log is off or nothing changed).
    pub(crate) fn drain_journal(&mut self, mut f: impl FnMut(crate::persist::wal::Piece<'_>)) {
        self.journal.drain(&mut f);
        self.sessions.journal.drain(&mut f);
    }

    /// The frames recorded since the last call, oldest first, as pieces to
    /// write in order (empty when the log is off or nothing changed).
    #[cfg(test)]
    pub(crate) fn take_journal_chunks(&mut self) -> Vec<Vec<u8>> {
        let mut out = self.journal.take_chunks();
        out.extend(self.sessions.journal.take_chunks());
        out
    }

    /// The frames recorded since the last call as one buffer (see
    /// [`Store::take_journal_chunks`]).
    #[cfg(test)]
    pub(crate) fn take_journal(&mut self) -> Vec<u8> {
        let mut out = self.journal.take();
        if !self.sessions.journal.is_empty() {
            let sessions = self.sessions.journal.take();
            if out.is_empty() {
                return sessions;
            }
            out.extend_from_slice(&sessions);
        }
        out
    }

    /// Refuses (or again accepts) commands that change data: while the
    /// log cannot be written they are answered 206 and change nothing.
    pub(crate) fn refuse_writes(&mut self, refused: bool) {
        self.writes_refused = refused;
    }

    /// Whether commands that change data are refused (see
    /// [`Store::refuse_writes`]).
    pub(crate) fn writes_refused(&self) -> bool {
        self.writes_refused
    }
}
