//! Loading saves at start-up while the loop already runs, so that probes
//! are answered (`/healthz` 503) and clients are told to retry (HTTP 503)
//! instead of waiting in the listen queue.
//!
//! The files are read on a thread of its own (`ndb-load`), as the save
//! thread reads them for `KV_LOAD`; the loop looks for the result once a
//! turn and applies it to the store, then starts serving.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant};

use log::info;

use super::{Health, Server};
use crate::error::{Error, PersistError, PersistOp};
use crate::persist::StartupLoad;

/// A start-up load under way: the end of the channel its thread answers on.
#[derive(Debug)]
pub(super) struct Loading {
    name: String,
    root: PathBuf,
    /// A missing save means starting empty, not failing.
    if_present: bool,
    /// What the load thread read, and how long reading took (measured on
    /// that thread, as the save thread measures saves).
    result: Receiver<(Result<StartupLoad, PersistError>, Duration)>,
}

/// Whether `error` says only that there is nothing to load: the root does
/// not exist, or it holds no complete save of the name. A save that is
/// there but unreadable, damaged or of the wrong kind is not that.
fn is_absent(error: &PersistError) -> bool {
    match error {
        PersistError::NoSave { .. } => true,
        PersistError::Io { op: PersistOp::OpenDir, source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
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
        self.start_load(root, name, false, crate::persist::load_at_start)
    }

    /// [`Server::load_at_start`], except that a name holding no complete
    /// save (or a `root` that does not exist) is not an error: the server
    /// logs that it starts empty and serves. A save that is there but
    /// cannot be read still fails the load, so that a later save on exit
    /// cannot bury it under an empty one.
    ///
    /// # Errors
    /// As [`Server::load_at_start`].
    pub fn load_at_start_if_present(&mut self, root: &Path, name: &str) -> Result<(), Error> {
        self.start_load(root, name, true, crate::persist::load_at_start)
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
        self.start_load(root, name, false, read)
    }

    fn start_load(
        &mut self,
        root: &Path,
        name: &str,
        if_present: bool,
        read: impl FnOnce(&Path, &str) -> Result<StartupLoad, PersistError> + Send + 'static,
    ) -> Result<(), Error> {
        let (tx, rx) = mpsc::channel();
        let (thread_root, thread_name) = (root.to_owned(), name.to_owned());
        std::thread::Builder::new().name("ndb-load".into()).spawn(move || {
            let started = Instant::now();
            let read = read(&thread_root, &thread_name);
            let _ = tx.send((read, started.elapsed()));
        })?;
        self.loading = Some(Loading { name: name.to_owned(), root: root.to_owned(), if_present, result: rx });
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

    /// Whether a command may have changed keys or sessions since start
    /// (see [`Server::loaded_from`]): a save on exit of an untouched store
    /// would only repeat the save it was loaded from, or write an empty one.
    pub fn changed_since_start(&self) -> bool {
        self.store.metrics().changes() > 0
    }

    /// The directory the start-up load read a save from, once it did
    /// (`None` if nothing was loaded at start-up).
    pub fn loaded_from(&self) -> Option<&Path> {
        self.loaded_at_start.as_deref()
    }

    /// Applies a finished start-up load, if one finished.
    pub(super) fn poll_start_load(&mut self, now: Instant) {
        let Some(loading) = &self.loading else { return };
        let (read, took) = match loading.result.try_recv() {
            Ok(read) => read,
            Err(TryRecvError::Empty) => return,
            Err(TryRecvError::Disconnected) => (
                Err(PersistError::WorkerFailed { reason: "the start-up load thread ended without an answer".into() }),
                Duration::ZERO,
            ),
        };
        let Some(loading) = self.loading.take() else { return };
        let read = match read {
            Ok(read) => read,
            Err(source) if loading.if_present && is_absent(&source) => {
                info!("no save named {:?} in {} ({source}): starting empty", loading.name, loading.root.display());
                self.start_load_result = Some(Ok(()));
                self.set_health(Health::Serving);
                return;
            }
            Err(source) => {
                self.start_load_result = Some(Err(Error::Load { name: loading.name, source }));
                return;
            }
        };
        let ms = took.as_millis() as u64;
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
                "loaded the {kind} save {:?} from {}: {} keys, {} sessions in {ms} ms",
                loading.name,
                loading.root.display(),
                applied.keys,
                applied.sessions,
            );
        }
        self.loaded_at_start = Some(loading.root);
        self.start_load_result = Some(Ok(()));
        self.set_health(Health::Serving);
    }
}
