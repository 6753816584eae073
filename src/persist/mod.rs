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
//! # Confinement
//!
//! Nothing below the persist path is trusted: every step goes through a
//! directory descriptor one name at a time, never follows a symbolic link,
//! and opens only directories and regular files (`files` says how), so a
//! link, FIFO, socket or device planted anywhere inside gets a
//! [`PersistError::WrongKind`] (a save's 122 or a load's 142) instead of
//! redirecting a write, blocking the save thread, or reading outside.
//! `md.json` is read only up to [`MAX_METADATA_BYTES`].
//!
//! Every failure is a [`PersistError`] naming the operation and the entry
//! at fault; [`SaveFailure`] and [`LoadFailure`] sort them by the reply
//! they get.
//!
//! The offline checker (`check`) reads saves the same way.
//!
//! Owns: paths, files, the save format, the worker thread. Must not touch:
//! mio, sockets, the store's maps (it only reads snapshots and builds new
//! ones).

#[cfg(feature = "introspection")]
mod check;
mod files;
mod format;
mod retention;
// Without the durable log, a stand-in of the same names and no code.
pub(crate) mod wake;
#[cfg_attr(not(feature = "log"), path = "wal/off.rs")]
pub mod wal;
mod worker;

#[cfg(test)]
mod planted_tests;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::{Duration, Instant};

#[cfg(feature = "introspection")]
pub use check::{CheckReport, CheckVerdict, Outcome as CheckOutcome, SaveCheck, check_saves};
pub use files::MAX_METADATA_BYTES;
pub(crate) use files::unix_millis;
use files::{Dir, MD_FILE, MD_TEMP_FILE, PARTIAL_SUFFIX};
pub use format::DATA_FILE_BYTES;
use format::{Metadata, SaveStatus};
pub use worker::Worker;

use crate::error::{Chain, FileKind, PersistError, PersistOp};
use crate::store::{
    Done, Job, KeyMap, LastSave, LoadFailure, Loaded, MAX_KEYS, MAX_SESSIONS, Outcome, SaveFailure, SaveKind, Snapshot,
    Store, Work,
};

/// Runs one job against the saves under `root` and reports how it went. A
/// `KV_FIND` or edit job touches no file: it works on the entries it
/// carries.
pub fn run(root: &Path, job: Job) -> Done {
    let Job { verb, name, work } = job;
    let mut saved = String::new();
    let outcome = match work {
        Work::Save(snapshot) => {
            saved = contents(&snapshot);
            let outcome = Outcome::Saved(save(root, &name, &snapshot));
            match snapshot {
                crate::store::Snapshot::Kv(entries) => crate::background::drop_in_steps(entries),
                crate::store::Snapshot::Sessions(records) => crate::background::drop_in_steps(records),
            }
            outcome
        }
        Work::Load(kind, log) => Outcome::Loaded(load(root, &name, kind).map(|(mut loaded, duration)| {
            // Here, off the loop, so that recording a load of any size
            // costs the loop one hand-over (`Journal::append_sealed`).
            // (`cfg!`: a build without the log compiles the encoder out.)
            if let (true, Loaded::Kv { map, frames, .. }) = (cfg!(feature = "log") && log, &mut loaded) {
                *frames = wal::encode_load(map.entries(), wal::LOAD_FRAME_BYTES);
            }
            (loaded, duration)
        })),
        Work::Find(mut find) => {
            let started = Instant::now();
            let reply = find.run();
            log::debug!("KV_FIND searched {} keys in {} ms", find.key_count(), started.elapsed().as_millis() as u64);
            crate::background::drop_in_steps(find.take_entries());
            Outcome::Found(Ok(reply))
        }
        Work::Compact(job) => {
            let started = Instant::now();
            let result = wal::write_base(&job);
            match &result {
                Ok(written) => log::info!(
                    "wrote the log's base {} ({} bytes) in {} ms",
                    wal::manifest::base_name(written.first),
                    written.bytes,
                    started.elapsed().as_millis() as u64
                ),
                Err(why) => log::error!("cannot write the log's base: {why}"),
            }
            Outcome::Compacted(result)
        }
        Work::Prune(keep) => Outcome::Pruned(retention::prune(root, &name, keep)),
        Work::Edit(edit) => {
            let started = Instant::now();
            let bytes = edit.value_bytes();
            let done = (*edit).run();
            log::debug!("{} of {bytes} bytes computed in {} ms", verb.name(), started.elapsed().as_millis() as u64);
            Outcome::Edited(Ok(Box::new(done)))
        }
        Work::Decode(message) => {
            let started = Instant::now();
            let (buf, start) = message.unwrap_or_default();
            match crate::protocol::Decoded::new(buf, start) {
                Ok(mut decoded) => {
                    log::debug!(
                        "a message of {} bytes decoded in {} ms",
                        decoded.len(),
                        started.elapsed().as_millis() as u64
                    );
                    let names = decoded.take_names(crate::store::prepare_names);
                    Outcome::Decoded(Ok(Box::new(crate::store::DecodeDone { decoded, names })))
                }
                Err(e) => Outcome::Decoded(Err(format!("a message to decode is not UTF-8: {e}"))),
            }
        }
    };
    match &outcome {
        // `write_base` and the lines above said how it went.
        Outcome::Compacted(_) => {}
        Outcome::Saved(Err(e)) => log::error!("{} {name:?} failed: {}", verb.name(), Chain(e.error())),
        Outcome::Loaded(Err(e)) => log::warn!("{} {name:?} failed: {}", verb.name(), Chain(e.error())),
        Outcome::Saved(Ok(duration)) => {
            log::info!(
                "{} {name:?}: wrote {saved} in {} in {} ms",
                verb.name(),
                root.display(),
                duration.as_millis() as u64
            )
        }
        Outcome::Loaded(Ok((loaded, duration))) => {
            let sessions = match loaded {
                Loaded::Sessions(records) => format!("{} sessions, ", records.len()),
                Loaded::Kv { .. } => String::new(),
            };
            log::info!(
                "{} {name:?}: read the {} save ({sessions}{} keys) from {} in {} ms",
                verb.name(),
                loaded.kind().as_str(),
                loaded.key_count(),
                root.display(),
                duration.as_millis() as u64
            )
        }
        Outcome::Pruned(Err(e)) => log::warn!("cannot delete old scheduled saves of {name:?}: {}", Chain(e)),
        // A prune logs what it deleted as it goes.
        Outcome::Pruned(Ok(_)) | Outcome::Found(_) | Outcome::Edited(_) | Outcome::Decoded(_) => {}
    }
    Done { verb, name, outcome, unix_ms: files::unix_millis() }
}

/// What a snapshot holds, for log lines: `the KV save (3 keys)`, `the
/// sessions save (2 sessions, 5 keys)`.
fn contents(snapshot: &Snapshot) -> String {
    match snapshot {
        Snapshot::Kv(entries) => format!("the KV save ({} keys)", entries.len()),
        Snapshot::Sessions(records) => {
            format!("the sessions save ({} sessions, {} keys)", records.len(), snapshot.key_count())
        }
    }
}

/// Writes `snapshot` as a new save named `name` (a valid name) under
/// `root`, creating `root` if it is missing, and returns how long it took.
/// See the module documentation for the order of steps; every step below
/// `root` goes through a directory descriptor and never follows a link.
///
/// # Errors
/// [`SaveFailure::Directory`] if the directories or metadata could not be
/// created (or something other than a directory is planted as the name's
/// directory), [`SaveFailure::Data`] if writing the data or finishing the
/// save failed. Either way no complete save was added.
pub fn save(root: &Path, name: &str, snapshot: &Snapshot) -> Result<Duration, SaveFailure> {
    let started = Instant::now();
    let start_ms = files::unix_millis();
    let (name_dir, stamp) = prepare(root, name).map_err(SaveFailure::Directory)?;
    let partial_name = format!("{stamp}{PARTIAL_SUFFIX}");
    let partial = name_dir.make_new_dir(&partial_name).map_err(SaveFailure::Directory)?;
    let mut metadata = Metadata { name, kind: snapshot.kind(), status: SaveStatus::Pending, start_ms, complete_ms: 0 };
    let md = match partial.make_new_dir("md") {
        Ok(md) => md,
        Err(e) => {
            abandon(&name_dir, &partial_name, None, &mut metadata);
            return Err(SaveFailure::Directory(e));
        }
    };
    let prepared = partial
        .make_new_dir("data")
        .and_then(|data| md.replace(MD_FILE, MD_TEMP_FILE, &metadata.to_json()).map(|()| data));
    let data = match prepared {
        Ok(data) => data,
        Err(e) => {
            abandon(&name_dir, &partial_name, Some(&md), &mut metadata);
            return Err(SaveFailure::Directory(e));
        }
    };
    let written = write_data(&data, snapshot).and_then(|()| {
        metadata.status = SaveStatus::Complete;
        metadata.complete_ms = files::unix_millis();
        md.replace(MD_FILE, MD_TEMP_FILE, &metadata.to_json())?;
        partial.sync()?;
        commit(&name_dir, &partial_name, &stamp.to_string())
    });
    if let Err(error) = written {
        abandon(&name_dir, &partial_name, Some(&md), &mut metadata);
        return Err(SaveFailure::Data { error, duration: started.elapsed() });
    }
    Ok(started.elapsed())
}

/// Steps 1 and 2 of a save: opens (creating if missing) `root` and
/// `root/name`, removes what interrupted saves left there, and picks the
/// new save's stamp.
fn prepare(root: &Path, name: &str) -> Result<(Dir, u64), PersistError> {
    let root = Dir::create_root(root)?;
    if root.make_dir(name)? {
        root.sync()?;
    }
    let name_dir = root.open_dir(name)?;
    files::remove_leftovers(&name_dir);
    let stamp = files::next_stamp(&name_dir)?;
    Ok((name_dir, stamp))
}

/// Writes the data files of `snapshot` into `data_dir` and fsyncs it.
fn write_data(data_dir: &Dir, snapshot: &Snapshot) -> Result<(), PersistError> {
    let mut n = 0usize;
    let mut emit = |bytes: &[u8]| {
        let name = n.to_string();
        n += 1;
        data_dir.write_new(name, bytes)
    };
    match snapshot {
        Snapshot::Kv(entries) => format::kv_files(entries, &mut emit)?,
        Snapshot::Sessions(records) => format::session_files(records, &mut emit)?,
    }
    data_dir.sync()
}

/// Renames a finished `<stamp>.partial` directory to `<stamp>` and fsyncs
/// the name directory: from here on the save exists, complete. The target
/// must not exist (whatever its kind), so nothing is ever overwritten.
fn commit(name_dir: &Dir, partial: &str, done: &str) -> Result<(), PersistError> {
    if name_dir.info(done)?.is_some() {
        let exists = std::io::Error::new(std::io::ErrorKind::AlreadyExists, format!("{done} already exists"));
        return Err(PersistError::io(PersistOp::Rename, name_dir.child(partial), exists));
    }
    name_dir.rename(partial, done)?;
    name_dir.sync()
}

/// Cleans up after a failed save: marks it status 2, then removes it. Both
/// are best effort; a partial directory is never loaded either way.
fn abandon(name_dir: &Dir, partial: &str, md: Option<&Dir>, metadata: &mut Metadata<'_>) {
    metadata.status = SaveStatus::Error;
    metadata.complete_ms = files::unix_millis();
    if let Some(md) = md {
        let _ = md.replace(MD_FILE, MD_TEMP_FILE, &metadata.to_json());
    }
    if let Err(e) = name_dir.remove_all(partial) {
        log::warn!("cannot remove the failed save {}: {}", name_dir.child(partial).display(), Chain(&e));
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
    let root_dir = Dir::open(root).map_err(LoadFailure::NoSave)?;
    let Some(data) = choose(&root_dir, name, kind).map_err(LoadFailure::NoSave)? else {
        let missing = PersistError::NoSave { root: root.to_owned(), name: name.to_owned(), kind: Some(kind) };
        return Err(LoadFailure::NoSave(missing));
    };
    let loaded = read_data(&data, kind).map_err(LoadFailure::Data)?;
    Ok((loaded, started.elapsed()))
}

/// The data directory of the newest complete save of `kind` under
/// `root/name`, or `None` if the name holds none.
///
/// # Errors
/// The name's directory or a stamp newer than the chosen one is not a
/// directory (a link, a FIFO, …), the metadata of such a stamp cannot be
/// read or parsed, or the chosen one has no data directory. None of these
/// falls back to an older save.
fn choose(root: &Dir, name: &str, kind: SaveKind) -> Result<Option<Dir>, PersistError> {
    if root.info(name)?.is_none() {
        return Ok(None);
    }
    let name_dir = root.open_dir(name)?;
    for (_, stamp_name, found) in files::stamps(&name_dir)? {
        if found != FileKind::Directory {
            let path = name_dir.child(&stamp_name);
            return Err(PersistError::WrongKind { path, expected: FileKind::Directory, found });
        }
        let stamp = name_dir.open_dir(&stamp_name)?;
        let Some(bytes) = read_metadata(&stamp)? else {
            log::warn!("skipping {}: it has no md/{MD_FILE} (an interrupted save)", stamp.path().display());
            continue;
        };
        let md_path = || stamp.child("md").join(MD_FILE);
        let info =
            format::parse_metadata(&bytes).map_err(|problem| PersistError::Corrupt { path: md_path(), problem })?;
        if info.status != SaveStatus::Complete as u64 {
            log::warn!("skipping {}: its status is {}, not complete", stamp.path().display(), info.status);
            continue;
        }
        match info.kind {
            Some(found) if found == kind => {}
            Some(_) => continue,
            None => {
                let problem = "saveDataType is neither 0 (KV) nor 1 (sessions)".to_owned();
                return Err(PersistError::Corrupt { path: md_path(), problem });
            }
        }
        return stamp.open_dir("data").map(Some);
    }
    Ok(None)
}

/// The bytes of a stamp's `md/md.json`, at most [`MAX_METADATA_BYTES`];
/// `None` if the stamp has no `md/` or no `md.json` in it.
fn read_metadata(stamp: &Dir) -> Result<Option<Vec<u8>>, PersistError> {
    if stamp.info("md")?.is_none() {
        return Ok(None);
    }
    let md = stamp.open_dir("md")?;
    if md.info(MD_FILE)?.is_none() {
        return Ok(None);
    }
    md.read_file(MD_FILE, Some(MAX_METADATA_BYTES)).map(Some)
}

/// A save holding more than the store's maps hold (refused as damaged:
/// nothing of it is loaded).
fn too_large(data_dir: &Dir, name: &std::ffi::OsStr, what: String) -> PersistError {
    PersistError::Corrupt { path: data_dir.child(name), problem: format!("the save holds {what}") }
}

/// Reads and checks every data file of a save.
fn read_data(data_dir: &Dir, kind: SaveKind) -> Result<Loaded, PersistError> {
    let names = files::data_files(data_dir)?;
    let mut map = KeyMap::new();
    let mut read = 0;
    let mut entries = Vec::new();
    let mut records = Vec::new();
    let mut checked = 0;
    for name in names {
        let bytes = data_dir.read_file(&name, None)?;
        let parsed = match kind {
            SaveKind::Kv => format::parse_kv(&bytes, &mut entries),
            SaveKind::Sessions => format::parse_sessions(&bytes, &mut records),
        };
        parsed.map_err(|problem| PersistError::Corrupt { path: data_dir.child(&name), problem })?;
        read += entries.len();
        for entry in entries.drain(..) {
            if !map.set_entry(entry) {
                return Err(too_large(data_dir, &name, format!("more than {MAX_KEYS} distinct keys")));
            }
        }
        if records.len() > MAX_SESSIONS {
            return Err(too_large(data_dir, &name, format!("more than {MAX_SESSIONS} sessions")));
        }
        if let Some(record) = records[checked..].iter().find(|r| r.keys.len() > MAX_KEYS) {
            let problem = format!("a session of {} keys, more than the {MAX_KEYS} a session holds", record.keys.len());
            return Err(too_large(data_dir, &name, problem));
        }
        checked = records.len();
    }
    Ok(match kind {
        SaveKind::Kv => Loaded::Kv { map, read, frames: Vec::new() },
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
/// [`PersistError::InvalidName`]; [`PersistError::NoSave`] if the name
/// holds no complete save; otherwise the error of the directory or file at
/// fault (unreadable, not what a save holds there, or corrupt).
pub fn load_at_start(root: &Path, name: &str) -> Result<StartupLoad, PersistError> {
    if !crate::protocol::is_valid_save_name(name) {
        return Err(PersistError::InvalidName { name: name.to_owned() });
    }
    let root_dir = Dir::open(root)?;
    let mut found = [None, None];
    for (slot, kind) in found.iter_mut().zip([SaveKind::Kv, SaveKind::Sessions]) {
        *slot = choose(&root_dir, name, kind)?.map(|data| read_data(&data, kind)).transpose()?;
    }
    let [kv, sessions] = found;
    if kv.is_none() && sessions.is_none() {
        return Err(PersistError::NoSave { root: root.to_owned(), name: name.to_owned(), kind: None });
    }
    Ok(StartupLoad { kv, sessions })
}

/// Saves every key and every session of `store` under `name` (a KV save,
/// then a session save, both from one moment), on the calling thread, and
/// records them for `SV_INFO`. For a host's exit path.
///
/// # Errors
/// The kind of the save that failed, and why; the session save is not
/// tried once the KV save failed.
pub fn save_all(store: &mut Store, root: &Path, name: &str, now: Instant) -> Result<(), (SaveKind, PersistError)> {
    let snapshots = [store.snapshot_kv(), store.snapshot_sessions(now)];
    for snapshot in snapshots {
        let kind = snapshot.kind();
        let result = save(root, name, &snapshot);
        let status = match &result {
            Ok(_) => crate::protocol::Status::SaveComplete,
            Err(SaveFailure::Directory(_)) => crate::protocol::Status::SaveDirWriteFail,
            Err(SaveFailure::Data { .. }) => crate::protocol::Status::SaveError,
        };
        store.record_save(LastSave { name: name.to_owned(), status, unix_ms: files::unix_millis() });
        match result {
            Ok(duration) => {
                let (what, root, ms) = (contents(&snapshot), root.display(), duration.as_millis() as u64);
                log::info!("save on exit {name:?}: wrote {what} in {root} in {ms} ms")
            }
            Err(e) => return Err((kind, e.into_error())),
        }
    }
    Ok(())
}
