//! The file-system steps of a save, each durable before the next begins:
//! files written in full and fsynced, directories fsynced after an entry in
//! them was created or renamed, and the listing of a save name's stamps.
//!
//! Owns: paths and system calls. Knows nothing of JSON or of the store.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The suffix of a save being written: `<stamp>.partial`, renamed to
/// `<stamp>` once everything in it is durable.
pub(super) const PARTIAL_SUFFIX: &str = ".partial";

/// The metadata file's name inside `<stamp>/md/`.
pub(super) const MD_FILE: &str = "md.json";

/// The temporary name `md.json` is written under before its rename.
const MD_TEMP_FILE: &str = "md.json.tmp";

/// Wall-clock nanoseconds since the Unix epoch (0 if the clock is before
/// it).
pub(super) fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Wall-clock milliseconds since the Unix epoch.
pub(super) fn unix_millis() -> u64 {
    unix_nanos() / 1_000_000
}

/// Makes `path` durable as a directory entry of its parent.
pub(super) fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// The parent to fsync after creating or renaming `path` (`.` for a bare
/// relative name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Creates `path` and any missing parents, fsyncing each parent a directory
/// was created in, so the new directories survive a crash.
pub(super) fn ensure_dir(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    let parent = parent_of(path);
    if parent != path {
        ensure_dir(parent)?;
    }
    match fs::create_dir(path) {
        Ok(()) => sync_dir(parent),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Bytes per `write` call. The kernel may run a whole system call without
/// giving the CPU up (a kernel built without kernel preemption), so one
/// `write` of 10 MiB could hold a CPU the event loop is waiting for;
/// 256 KiB calls return to user space, where the save thread is preempted
/// at once, every few tens of microseconds.
const WRITE_CHUNK_BYTES: usize = 256 * 1024;

/// Writes a new file holding `bytes` and fsyncs it. The file must not exist.
pub(super) fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    for chunk in bytes.chunks(WRITE_CHUNK_BYTES) {
        file.write_all(chunk)?;
    }
    file.sync_all()
}

/// Writes `md.json` in `md_dir` atomically: to a temporary name, fsynced,
/// renamed over the old file, and the directory fsynced.
pub(super) fn replace_metadata(md_dir: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = md_dir.join(MD_TEMP_FILE);
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&temp, md_dir.join(MD_FILE))?;
    sync_dir(md_dir)
}

/// Renames a finished `<stamp>.partial` directory to `<stamp>` and fsyncs
/// the name directory: from here on the save exists, complete. The target
/// must not exist (a rename onto a non-empty directory fails, so nothing is
/// ever overwritten).
pub(super) fn commit(partial: &Path, done: &Path) -> io::Result<()> {
    if done.exists() {
        return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{} already exists", done.display())));
    }
    fs::rename(partial, done)?;
    sync_dir(parent_of(done))
}

/// The stamps (all-digit directory names) of the saves under `name_dir`,
/// newest first.
///
/// # Errors
/// `name_dir` cannot be listed (`NotFound` when it does not exist).
pub(super) fn stamps(name_dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(name_dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(stamp) = name.to_str().and_then(parse_stamp) else { continue };
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            found.push((stamp, entry.path()));
        }
    }
    found.sort_unstable_by_key(|f| std::cmp::Reverse(f.0));
    Ok(found)
}

/// A stamp from a directory name: decimal digits only.
fn parse_stamp(name: &str) -> Option<u64> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// A stamp for a new save under `name_dir`: the wall clock in nanoseconds,
/// or one more than the newest stamp there (finished or partial) if the
/// clock is behind it, so the new save is always the newest.
pub(super) fn next_stamp(name_dir: &Path) -> u64 {
    let mut newest = 0;
    if let Ok(entries) = fs::read_dir(name_dir) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let digits = name.strip_suffix(PARTIAL_SUFFIX).unwrap_or(name);
            if let Some(stamp) = parse_stamp(digits) {
                newest = newest.max(stamp);
            }
        }
    }
    unix_nanos().max(newest.saturating_add(1))
}

/// Removes the `<stamp>.partial` directories a crash left under
/// `name_dir`. Only one save runs at a time per server, so none of them is
/// being written.
pub(super) fn remove_leftovers(name_dir: &Path) {
    let Ok(entries) = fs::read_dir(name_dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_str().is_some_and(|n| n.ends_with(PARTIAL_SUFFIX)) {
            match fs::remove_dir_all(entry.path()) {
                Ok(()) => log::info!("removed {}, left by an interrupted save", entry.path().display()),
                Err(e) => log::warn!("cannot remove {}, left by an interrupted save: {e}", entry.path().display()),
            }
        }
    }
}

/// The data files of a save, in order: numbered files (`0`, `1`, …) by
/// number, then any others by name.
///
/// # Errors
/// The directory cannot be listed, or holds something that is not a file.
pub(super) fn data_files(data_dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(data_dir)? {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is not a data file", entry.path().display()),
            ));
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        files.push((parse_stamp(&name), name, entry.path()));
    }
    files.sort_unstable_by(|a, b| match (a.0, b.0) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.1.cmp(&b.1),
    });
    Ok(files.into_iter().map(|f| f.2).collect())
}
