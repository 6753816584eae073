//! Saves on disk: store snapshots to files and back, in NemesisDB's layout,
//! so that saves move both ways between ndb and the original.
//!
//! ```text
//! <persist path>/<name>/<stamp>/md/md.json
//! <persist path>/<name>/<stamp>/data/0, 1, …
//! ```
//!
//! `<stamp>` is the wall clock in nanoseconds (19 digits), one more than the
//! newest stamp already there if the clock is behind it, so the newest save
//! always has the largest stamp. Data files hold about
//! [`DATA_FILE_BYTES`] each; `data/` is empty for an empty save.
//!
//! # Crash safety
//!
//! A save is written under `<name>/<stamp>.partial/`: every data file is
//! written and fsynced, then `data/` is fsynced, then `md.json` (status 1,
//! complete) is written to a temporary name, fsynced and renamed into
//! place, then the partial directory is fsynced, renamed to `<stamp>`, and
//! `<name>/` fsynced. Until that last rename nothing is visible under a
//! stamp name; after it, everything in it is durable. So a crash (or
//! `kill -9`, or a full disk) at any moment leaves either the complete new
//! save or no new save, and the saves before it untouched. A failed save
//! removes its partial directory (if that fails too, its `md.json` says
//! status 2); a crash leaves it behind, and the next save of that name
//! removes it. Loads look only at all-digit stamp names, and take the
//! newest stamp whose `md.json` says complete (status 1) and whose kind is
//! the one asked for; incomplete stamps (the original's crashes) are
//! skipped with a log line.
//!
//! Loads read and check every data file before anything is applied, so a
//! corrupt or truncated file fails the whole load (status 142, with a log
//! line naming the file) and the store is left as it was.
//!
//! Owns: paths, files, the save format, the worker thread. Must not touch:
//! mio, sockets, the store's maps (it only reads snapshots and builds new
//! ones).

mod files;
mod format;
mod worker;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use format::DATA_FILE_BYTES;
use format::{Metadata, SaveStatus};
pub use worker::Worker;

use crate::store::{
    Done, Job, KeyMap, LastSave, LoadFailure, Loaded, Outcome, SaveFailure, SaveKind, Snapshot, Store, Work,
};

/// Runs one job against the saves under `root` and reports how it went. A
/// `KV_FIND` job touches no file: it searches the entries it carries.
pub fn run(root: &Path, job: Job) -> Done {
    let Job { verb, name, work } = job;
    let outcome = match work {
        Work::Save(snapshot) => Outcome::Saved(save(root, &name, &snapshot)),
        Work::Load(kind) => Outcome::Loaded(load(root, &name, kind)),
        Work::Find(find) => {
            let started = Instant::now();
            let reply = find.run();
            log::debug!("KV_FIND searched {} keys in {} ms", find.key_count(), started.elapsed().as_millis());
            Outcome::Found(Ok(reply))
        }
    };
    match &outcome {
        Outcome::Saved(Err(e)) => log::error!("{} {name:?} failed: {e}", verb.name()),
        Outcome::Loaded(Err(e)) => log::warn!("{} {name:?} failed: {e}", verb.name()),
        Outcome::Saved(Ok(duration)) => log::info!("saved {name:?} in {} ms", duration.as_millis()),
        Outcome::Loaded(Ok((loaded, duration))) => log::info!(
            "read {} save {name:?} ({} keys) in {} ms",
            loaded.kind().as_str(),
            loaded.key_count(),
            duration.as_millis()
        ),
        Outcome::Found(_) => {}
    }
    Done { verb, name, outcome, unix_ms: files::unix_millis() }
}

/// Writes `snapshot` as a new save named `name` (a valid name) under
/// `root`, creating `root` if it is missing, and returns how long it took.
/// See the module documentation for the order of steps.
///
/// # Errors
/// [`SaveFailure::Directory`] if the directories or metadata could not be
/// created, [`SaveFailure::Data`] if writing the data or finishing the save
/// failed. Either way no complete save was added.
pub fn save(root: &Path, name: &str, snapshot: &Snapshot) -> Result<Duration, SaveFailure> {
    let started = Instant::now();
    let start_ms = files::unix_millis();
    let name_dir = root.join(name);
    let dir_failure = |what: &Path, e: std::io::Error| SaveFailure::Directory(format!("{}: {e}", what.display()));
    files::ensure_dir(&name_dir).map_err(|e| dir_failure(&name_dir, e))?;
    files::remove_leftovers(&name_dir);
    let stamp = files::next_stamp(&name_dir);
    let partial = name_dir.join(format!("{stamp}{}", files::PARTIAL_SUFFIX));
    let md_dir = partial.join("md");
    let data_dir = partial.join("data");
    let mut metadata = Metadata { name, kind: snapshot.kind(), status: SaveStatus::Pending, start_ms, complete_ms: 0 };
    let prepared = std::fs::create_dir(&partial)
        .and_then(|()| std::fs::create_dir(&md_dir))
        .and_then(|()| std::fs::create_dir(&data_dir))
        .and_then(|()| files::replace_metadata(&md_dir, &metadata.to_json()));
    if let Err(e) = prepared {
        abandon(&partial, &md_dir, &mut metadata);
        return Err(dir_failure(&partial, e));
    }
    let written = write_data(&data_dir, snapshot).and_then(|()| {
        metadata.status = SaveStatus::Complete;
        metadata.complete_ms = files::unix_millis();
        let committed = files::replace_metadata(&md_dir, &metadata.to_json())
            .and_then(|()| files::sync_dir(&partial))
            .and_then(|()| files::commit(&partial, &name_dir.join(stamp.to_string())));
        committed.map_err(|e| format!("{}: {e}", partial.display()))
    });
    if let Err(reason) = written {
        abandon(&partial, &md_dir, &mut metadata);
        return Err(SaveFailure::Data { reason, duration: started.elapsed() });
    }
    Ok(started.elapsed())
}

/// Writes the data files of `snapshot` into `data_dir` and fsyncs it.
fn write_data(data_dir: &Path, snapshot: &Snapshot) -> Result<(), String> {
    let mut n = 0usize;
    let mut emit = |bytes: &[u8]| {
        let path = data_dir.join(n.to_string());
        n += 1;
        files::write_new(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))
    };
    match snapshot {
        Snapshot::Kv(entries) => format::kv_files(entries, &mut emit)?,
        Snapshot::Sessions(records) => format::session_files(records, &mut emit)?,
    }
    files::sync_dir(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))
}

/// Cleans up after a failed save: marks it status 2, then removes it. Both
/// are best effort; a partial directory is never loaded either way.
fn abandon(partial: &Path, md_dir: &Path, metadata: &mut Metadata<'_>) {
    metadata.status = SaveStatus::Error;
    metadata.complete_ms = files::unix_millis();
    let _ = files::replace_metadata(md_dir, &metadata.to_json());
    if let Err(e) = std::fs::remove_dir_all(partial)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        log::warn!("cannot remove the failed save {}: {e}", partial.display());
    }
}

/// Reads the newest complete save of `kind` named `name` under `root`,
/// checking every data file before returning, and how long that took. KV
/// keys come back in a map of their own, so applying them to an empty store
/// costs the loop nothing.
///
/// # Errors
/// [`LoadFailure::NoSave`] when no such save can be chosen,
/// [`LoadFailure::Data`] when one of its files is unreadable or corrupt.
/// Both name the path at fault.
pub fn load(root: &Path, name: &str, kind: SaveKind) -> Result<(Loaded, Duration), LoadFailure> {
    let started = Instant::now();
    let Some(chosen) = choose(root, name, kind)? else {
        let root = root.display();
        return Err(LoadFailure::NoSave(format!("no complete {} save named {name:?} in {root}", kind.as_str())));
    };
    let loaded = read_data(&chosen.join("data"), kind)?;
    Ok((loaded, started.elapsed()))
}

/// The directory of the newest complete save of `kind` under `root/name`,
/// or `None` if the name holds none.
///
/// # Errors
/// The name does not exist, or the metadata of a stamp newer than the
/// chosen one cannot be read, or the chosen one has no data directory.
fn choose(root: &Path, name: &str, kind: SaveKind) -> Result<Option<PathBuf>, LoadFailure> {
    let name_dir = root.join(name);
    let stamps = files::stamps(&name_dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => LoadFailure::NoSave(format!("no save named {name:?} in {}", root.display())),
        _ => LoadFailure::NoSave(format!("{}: {e}", name_dir.display())),
    })?;
    for (_, dir) in stamps {
        let md = dir.join("md").join(files::MD_FILE);
        let bytes = match std::fs::read(&md) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                log::warn!("skipping {}: it has no {} (an interrupted save)", dir.display(), files::MD_FILE);
                continue;
            }
            Err(e) => return Err(LoadFailure::NoSave(format!("{}: {e}", md.display()))),
        };
        let info = format::parse_metadata(&bytes).map_err(|e| LoadFailure::NoSave(format!("{}: {e}", md.display())))?;
        if info.status != SaveStatus::Complete as u64 {
            log::warn!("skipping {}: its status is {}, not complete", dir.display(), info.status);
            continue;
        }
        match info.kind {
            Some(found) if found == kind => {}
            Some(_) => continue,
            None => return Err(LoadFailure::NoSave(format!("{}: unknown saveDataType", md.display()))),
        }
        if !dir.join("data").is_dir() {
            return Err(LoadFailure::NoSave(format!("{}: no data directory", dir.display())));
        }
        return Ok(Some(dir));
    }
    Ok(None)
}

/// Reads and checks every data file of a save.
fn read_data(data_dir: &Path, kind: SaveKind) -> Result<Loaded, LoadFailure> {
    let paths = files::data_files(data_dir).map_err(|e| LoadFailure::Data(format!("{}: {e}", data_dir.display())))?;
    let mut map = KeyMap::new();
    let mut read = 0;
    let mut entries = Vec::new();
    let mut records = Vec::new();
    for path in paths {
        let bytes = std::fs::read(&path).map_err(|e| LoadFailure::Data(format!("{}: {e}", path.display())))?;
        let parsed = match kind {
            SaveKind::Kv => format::parse_kv(&bytes, &mut entries),
            SaveKind::Sessions => format::parse_sessions(&bytes, &mut records),
        };
        parsed.map_err(|e| LoadFailure::Data(format!("{}: {e}", path.display())))?;
        read += entries.len();
        for entry in entries.drain(..) {
            map.set_entry(entry);
        }
    }
    Ok(match kind {
        SaveKind::Kv => Loaded::Kv { map, read },
        SaveKind::Sessions => Loaded::Sessions(records),
    })
}

/// What a load at start-up read: the newest complete save of each kind
/// found under the name.
#[derive(Debug)]
pub struct StartupLoad {
    /// The KV save's data, if the name holds one.
    pub kv: Option<Loaded>,
    /// The session save's data, if the name holds one.
    pub sessions: Option<Loaded>,
}

/// Reads what `--loadName` asks for: the newest complete save of each kind
/// named `name` under `root` (a name holds one kind unless saves of both
/// kinds were made under it, as a save on exit does).
///
/// # Errors
/// One line saying why: the name is invalid or holds no complete save, or a
/// file of the save is unreadable or corrupt (naming it).
pub fn load_at_start(root: &Path, name: &str) -> Result<StartupLoad, String> {
    if !crate::protocol::is_valid_save_name(name) {
        return Err(format!("--loadName {name:?}: not a valid save name (empty, or holds /, \\, .. or NUL)"));
    }
    if !root.is_dir() {
        return Err(format!("the load path {} is not a directory", root.display()));
    }
    let mut found = [None, None];
    for (slot, kind) in found.iter_mut().zip([SaveKind::Kv, SaveKind::Sessions]) {
        let read =
            choose(root, name, kind).and_then(|dir| dir.map(|dir| read_data(&dir.join("data"), kind)).transpose());
        *slot = read.map_err(|e| format!("cannot load {name:?}: {e}"))?;
    }
    let [kv, sessions] = found;
    if kv.is_none() && sessions.is_none() {
        return Err(format!("cannot load {name:?}: no complete save of that name in {}", root.display()));
    }
    Ok(StartupLoad { kv, sessions })
}

/// Saves every key and every session of `store` under `name` (a KV save,
/// then a session save, both from one moment), on the calling thread, and
/// records them for `SV_INFO`. For a host's exit path.
///
/// # Errors
/// One line saying which save failed and why.
pub fn save_all(store: &mut Store, root: &Path, name: &str, now: Instant) -> Result<(), String> {
    let snapshots = [store.snapshot_kv(), store.snapshot_sessions(now)];
    for snapshot in snapshots {
        let kind = snapshot.kind().as_str();
        let result = save(root, name, &snapshot);
        let status = match &result {
            Ok(_) => crate::protocol::Status::SaveComplete,
            Err(SaveFailure::Directory(_)) => crate::protocol::Status::SaveDirWriteFail,
            Err(SaveFailure::Data { .. }) => crate::protocol::Status::SaveError,
        };
        store.record_save(LastSave { name: name.to_owned(), status, unix_ms: files::unix_millis() });
        match result {
            Ok(duration) => log::info!(
                "saved the {kind} save {name:?} in {}: {} keys in {} ms",
                root.display(),
                snapshot.key_count(),
                duration.as_millis()
            ),
            Err(e) => return Err(format!("cannot save {kind} as {name:?} in {}: {e}", root.display())),
        }
    }
    Ok(())
}
