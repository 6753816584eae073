//! Loading saves at start-up while the loop already runs, so that probes
//! are answered (`/healthz` 503) and clients are told to retry (HTTP 503)
//! instead of waiting in the listen queue.
//!
//! The files are read on a thread of its own (`ndb-load`), as the save
//! thread reads them for `KV_LOAD`; the loop looks for the result once a
//! turn and applies it to the store, then starts serving.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::Instant;

use log::info;

use super::{Health, Server};
use crate::persist::StartupLoad;
use crate::store::{Applied, SaveKind};

/// A start-up load under way: the end of the channel its thread answers on.
#[derive(Debug)]
pub(super) struct Loading {
    name: String,
    root: PathBuf,
    result: Receiver<Result<StartupLoad, String>>,
}

/// What a start-up load applied: one entry per kind of save found.
pub type Loaded = Vec<(SaveKind, Applied)>;

impl Server {
    /// Starts loading the newest complete saves named `name` under `root`
    /// (what `--loadName` asks for) on a thread of its own. Until it is
    /// done, `/healthz` answers 503 and WebSocket upgrades get HTTP 503;
    /// [`Server::take_start_load`] then tells what was loaded, or why
    /// nothing was.
    pub fn load_at_start(&mut self, root: PathBuf, name: String) {
        let (tx, rx) = mpsc::channel();
        let (thread_root, thread_name) = (root.clone(), name.clone());
        let spawned = std::thread::Builder::new().name("ndb-load".into()).spawn(move || {
            let _ = tx.send(crate::persist::load_at_start(&thread_root, &thread_name));
        });
        if let Err(e) = spawned {
            self.start_load_result = Some(Err(format!("cannot start the load thread: {e}")));
            return;
        }
        self.loading = Some(Loading { name, root, result: rx });
        self.set_health(Health::Loading);
    }

    /// The outcome of [`Server::load_at_start`], once it is known (and only
    /// once): what was applied, or the one-line reason the load failed
    /// (the server then stays unready; a host should stop).
    pub fn take_start_load(&mut self) -> Option<Result<Loaded, String>> {
        self.start_load_result.take()
    }

    /// Applies a finished start-up load, if one finished.
    pub(super) fn poll_start_load(&mut self, now: Instant) {
        let Some(loading) = &self.loading else { return };
        let read = match loading.result.try_recv() {
            Ok(read) => read,
            Err(TryRecvError::Empty) => return,
            Err(TryRecvError::Disconnected) => Err(format!("cannot load {:?}: the load thread failed", loading.name)),
        };
        let Some(loading) = self.loading.take() else { return };
        let read = match read {
            Ok(read) => read,
            Err(e) => {
                self.start_load_result = Some(Err(e));
                return;
            }
        };
        let mut applied = Vec::new();
        for loaded in [read.kv, read.sessions].into_iter().flatten() {
            let kind = loaded.kind();
            let done = self.store.apply(loaded, now);
            info!(
                "loaded the {} save {:?} from {}: {} sessions, {} keys",
                kind.as_str(),
                loading.name,
                loading.root.display(),
                done.sessions,
                done.keys
            );
            applied.push((kind, done));
        }
        self.start_load_result = Some(Ok(applied));
        self.set_health(Health::Serving);
    }
}
