//! Answering messages: each goes to the store through [`dispatch`]; a save,
//! a load, a large `KV_FIND` or a large edit becomes a job that the save
//! thread runs, and
//! its connection waits (`ReplyKind::Later`) until [`Server`]'s turn finds
//! the job finished and hands the reply to `Conn::resume`.
//!
//! The save thread cannot wake the host's `Poll` (the host owns the only
//! `Waker`), so while jobs are in flight [`Server::poll_timeout`] is at most
//! [`JOB_POLL_INTERVAL`] and every [`Server::tick`] collects what finished.
//!
//! A list reply too large for one turn (a `KV_KEYS` of millions of keys,
//! say) is answered later the same way, but the loop itself produces it: the
//! store hands it out as a [`StreamReply`], which the connection writes in
//! pieces as the peer takes them (`conn/stream.rs`). A finished job's reply
//! larger than 1 MiB is sent in pieces too.

use std::path::Path;
use std::time::{Duration, Instant};

use super::Server;
use crate::conn::{Body, Late, Message, ReplyKind};
use crate::error::Error;
use crate::protocol::{self, Protocol, Rejection, Reply};
use crate::store::{Done, Executed, Finished, JobId, Store, StreamReply};

/// How often the loop looks for finished jobs (saves, loads, searches)
/// while some are in flight: the save thread cannot wake the host's `Poll` (the host owns the
/// only `Waker`), so a reply waits at most this long after its save is done.
pub(super) const JOB_POLL_INTERVAL: Duration = Duration::from_millis(1);

impl Server {
    /// Blocks until every save and load asked for so far has finished and
    /// been answered (or dropped, for connections that are gone): for a
    /// host's exit path, after [`Server::shutdown`], so no save is cut off.
    pub fn wait_for_jobs(&mut self, now: Instant) {
        loop {
            while let Some((id, job)) = self.store.next_job() {
                self.worker.submit(id, job);
            }
            while let Some((id, reply)) = self.store.next_reply(now) {
                self.deliver_late(id, Late::Stream(Box::new(Pieces(reply))), now);
            }
            self.store.work(now);
            self.deliver_applied(now);
            if !self.store.has_queued_jobs() && self.worker.in_flight() == 0 {
                return;
            }
            // A load merging keeps this thread busy; otherwise it waits.
            let wait = if self.store.has_queued_jobs() { Duration::ZERO } else { Duration::from_millis(100) };
            if let Some((id, done)) = self.worker.wait_finished(wait) {
                self.deliver(id, done, now);
            }
        }
    }

    /// Saves every key and every session under `name` (two saves, see
    /// `docs/persistence.md`), on the calling thread, once the saves and
    /// loads in flight are done. For a host's exit path, after
    /// [`Server::shutdown`].
    ///
    /// # Errors
    /// [`Error::Save`]: which of the two saves failed, with the
    /// [`PersistError`](crate::PersistError) saying why (the operation, the
    /// path and the operating system's reason). The data is still in
    /// memory; call it again once the cause is fixed.
    pub fn save_all(&mut self, name: &str, now: Instant) -> Result<(), Error> {
        self.wait_for_jobs(now);
        crate::persist::save_all(&mut self.store, self.worker.root(), name, now).map_err(|(kind, source)| Error::Save {
            name: name.to_owned(),
            kind,
            source,
        })
    }

    /// Loads the newest complete saves named `name` under `root` (a KV
    /// save, a session save, or both) into the store, as `KV_LOAD` and
    /// `SH_LOAD` would, and logs what each brought. For a host's start-up
    /// path, before serving (`ndb-server --loadName`).
    ///
    /// # Errors
    /// [`Error::Load`], with the [`PersistError`](crate::PersistError)
    /// saying why nothing was loaded: the name is invalid or holds no
    /// complete save, or a directory or file of the save is unreadable,
    /// damaged or not what a save holds there (naming it). The store is
    /// then left as it was.
    pub fn load_at_start(&mut self, root: &Path, name: &str, now: Instant) -> Result<(), Error> {
        let loaded = crate::persist::load_at_start(root, name)
            .map_err(|source| Error::Load { name: name.to_owned(), source })?;
        for snapshot in [loaded.kv, loaded.sessions].into_iter().flatten() {
            let kind = snapshot.kind().as_str();
            match self.store.apply(snapshot, now) {
                Ok(applied) => log::info!(
                    "loaded the {kind} save {name:?} from {}: {} sessions, {} keys",
                    root.display(),
                    applied.sessions,
                    applied.keys
                ),
                Err(full) => log::error!("the {kind} save {name:?} in {} was not loaded: {full}", root.display()),
            }
        }
        Ok(())
    }

    /// Hands ready jobs to the save thread, starts the list replies that
    /// are ready, answers the finished jobs, and moves the store's own work
    /// (resizes, load merges) on by a step.
    pub(super) fn run_jobs(&mut self, now: Instant) {
        while let Some((id, job)) = self.store.next_job() {
            self.worker.submit(id, job);
        }
        while let Some((id, reply)) = self.store.next_reply(now) {
            self.deliver_late(id, Late::Stream(Box::new(Pieces(reply))), now);
        }
        while let Some((id, done)) = self.worker.try_finished() {
            self.deliver(id, done, now);
        }
        self.store.work(now);
        self.deliver_applied(now);
    }

    /// Writes a finished job's reply and sends it. A load merging answers
    /// later, once it has taken effect ([`Server::deliver_applied`]); an
    /// edit queued again keeps its connection waiting for a later
    /// [`Store::finish`].
    fn deliver(&mut self, id: JobId, done: Done, now: Instant) {
        let mut reply = Vec::new();
        if self.store.finish(id, done, now, &mut Reply::new(&mut reply, self.protocol)) == Finished::Replied {
            self.deliver_late(id, Late::Reply(reply), now);
        }
    }

    /// Sends the replies of loads that took effect this turn.
    fn deliver_applied(&mut self, now: Instant) {
        loop {
            let mut reply = Vec::new();
            let Some(id) = self.store.take_applied(&mut Reply::new(&mut reply, self.protocol)) else { return };
            self.deliver_late(id, Late::Reply(reply), now);
        }
    }

    /// Sends the reply that came later for `id` to the connection waiting
    /// for it, which then serves what it has queued; drops it if that
    /// connection is gone.
    fn deliver_late(&mut self, id: JobId, late: Late, now: Instant) {
        let Some(i) = self.waiting.iter().position(|w| w.0 == id) else { return };
        let (_, key, serial, _) = self.waiting.swap_remove(i);
        if self.conns.get(key).is_some_and(|s| s.serial == serial && !s.dead) {
            self.drive(key, now, Some(late));
        }
    }
}

/// A list reply of the store, as the connection's [`Body`].
struct Pieces(StreamReply);

impl Body for Pieces {
    fn fill(&mut self, out: &mut Vec<u8>, max: usize, steps: &mut usize) -> bool {
        self.0.fill(out, max, steps)
    }

    fn heap_bytes(&self) -> usize {
        self.0.heap_bytes()
    }
}

/// The server's message handler: counts the request and dispatches it; a
/// job (a save, a load, a large `KV_FIND`) is noted in `later` and
/// answered [`ReplyKind::Later`].
pub(super) fn handle(
    store: &mut Store,
    protocol: Protocol,
    message: Message<'_>,
    now: Instant,
    out: &mut Vec<u8>,
    later: &mut Option<JobId>,
) -> ReplyKind {
    store.stats_mut().requests += 1;
    match dispatch(store, protocol, message, now, out) {
        Executed::Replied => ReplyKind::Text,
        Executed::Later(id) => {
            *later = Some(id);
            ReplyKind::Later
        }
    }
}

/// Answers one message: decodes it, runs the command on `store` at `now`,
/// and appends exactly one reply document to `out` (a JSON object keyed
/// `ERR` or `<CMD>_RSP`), or, for a save, a load or a large `KV_FIND`,
/// nothing: the command became a job (see [`Store::next_job`]) whose reply
/// [`Store::finish`] writes. A binary message gets `ERR` status 2.
pub fn dispatch(
    store: &mut Store,
    protocol: Protocol,
    message: Message<'_>,
    now: Instant,
    out: &mut Vec<u8>,
) -> Executed {
    let mut reply = Reply::new(out, protocol);
    match message {
        Message::Text(text) => match protocol::decode(text) {
            Ok(command) => return store.execute(command, now, &mut reply),
            Err(rejection) => reply.rejection(&rejection),
        },
        Message::Binary(_) => reply.rejection(&Rejection::binary_frame()),
    }
    Executed::Replied
}
