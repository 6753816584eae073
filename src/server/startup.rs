//! Loading saves at start-up while the loop already runs, so that probes
//! are answered (`/healthz` 503) and clients are told to retry (HTTP 503)
//! instead of waiting in the listen queue.
//!
//! The files are read on a thread of its own (`ndb-load`), as the save
//! thread reads them for `KV_LOAD`; the loop looks for the result once a
//! turn and applies it to the store, then starts serving.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Instant;

use log::info;

use super::{Health, Server};
use crate::error::{Error, PersistError};
use crate::persist::StartupLoad;

/// A start-up load under way: the end of the channel its thread answers on.
#[derive(Debug)]
pub(super) struct Loading {
    name: String,
    root: PathBuf,
    result: Receiver<Result<StartupLoad, PersistError>>,
}

impl Server {
    /// Starts loading the newest complete saves named `name` under `root`
    /// (a KV save, a session save, or both; what `ndb-server --loadName`
    /// asks for) on a thread of its own, as `KV_LOAD` and `SH_LOAD` would.
    /// Call it before serving. Until the load is done, `/healthz` answers
    /// 503, WebSocket upgrades get HTTP 503 and [`Server::is_loading`]
    /// holds; each turn looks for the result, applies it and logs what
    /// each save brought, and [`Server::take_start_load`] then tells
    /// whether it worked.
    ///
    /// # Errors
    /// [`Error::Io`] when the load thread cannot be started; nothing is
    /// loaded and the server serves as it would without the call.
    pub fn load_at_start(&mut self, root: &Path, name: &str) -> Result<(), Error> {
        self.start_load(root, name, crate::persist::load_at_start)
    }

    /// [`Server::load_at_start`] with the files read by `read` (given the
    /// root and the name) on the load thread, for tests that decide when
    /// the load finishes: `read` may wait, then call
    /// `internals::persist::load_at_start`.
    ///
    /// # Errors
    /// As [`Server::load_at_start`].
    #[cfg(feature = "internals")]
    pub fn load_at_start_with(
        &mut self,
        root: &Path,
        name: &str,
        read: impl FnOnce(&Path, &str) -> Result<StartupLoad, PersistError> + Send + 'static,
    ) -> Result<(), Error> {
        self.start_load(root, name, read)
    }

    fn start_load(
        &mut self,
        root: &Path,
        name: &str,
        read: impl FnOnce(&Path, &str) -> Result<StartupLoad, PersistError> + Send + 'static,
    ) -> Result<(), Error> {
        let (tx, rx) = mpsc::channel();
        let (thread_root, thread_name) = (root.to_owned(), name.to_owned());
        std::thread::Builder::new().name("ndb-load".into()).spawn(move || {
            let _ = tx.send(read(&thread_root, &thread_name));
        })?;
        self.loading = Some(Loading { name: name.to_owned(), root: root.to_owned(), result: rx });
        self.set_health(Health::Loading);
        Ok(())
    }

    /// Whether a start-up load ([`Server::load_at_start`]) is still being
    /// read, or failed (the server then stays unready).
    pub fn is_loading(&self) -> bool {
        self.health == Health::Loading
    }

    /// The outcome of [`Server::load_at_start`], once it is known (and only
    /// once): `Ok` when the saves were applied and the server serves.
    ///
    /// # Errors
    /// [`Error::Load`], with the [`PersistError`] saying why nothing was
    /// loaded: the name is invalid or holds no complete save, or a
    /// directory or file of the save is unreadable, damaged or not what a
    /// save holds there (naming it). The store is left as it was and the
    /// server stays unready (`/healthz` 503); a host should stop.
    pub fn take_start_load(&mut self) -> Option<Result<(), Error>> {
        self.start_load_result.take()
    }

    /// Applies a finished start-up load, if one finished.
    pub(super) fn poll_start_load(&mut self, now: Instant) {
        let Some(loading) = &self.loading else { return };
        let read = match loading.result.try_recv() {
            Ok(read) => read,
            Err(TryRecvError::Empty) => return,
            Err(TryRecvError::Disconnected) => {
                Err(PersistError::WorkerFailed { reason: "the start-up load thread ended without an answer".into() })
            }
        };
        let Some(loading) = self.loading.take() else { return };
        let read = match read {
            Ok(read) => read,
            Err(source) => {
                self.start_load_result = Some(Err(Error::Load { name: loading.name, source }));
                return;
            }
        };
        for snapshot in [read.kv, read.sessions].into_iter().flatten() {
            let kind = snapshot.kind().as_str();
            let applied = match self.store.apply(snapshot, now) {
                Ok(applied) => applied,
                Err(full) => {
                    // Never at start-up (the store is empty and the load
                    // thread refuses files holding more than a map holds),
                    // but no server serves without data it was told to load.
                    let problem = format!("the {kind} save holds more than the store can: {full}");
                    let source = PersistError::Corrupt { path: loading.root.clone(), problem };
                    self.start_load_result = Some(Err(Error::Load { name: loading.name, source }));
                    return;
                }
            };
            info!(
                "loaded the {kind} save {:?} from {}: {} sessions, {} keys",
                loading.name,
                loading.root.display(),
                applied.sessions,
                applied.keys
            );
        }
        self.start_load_result = Some(Ok(()));
        self.set_health(Health::Serving);
    }
}
