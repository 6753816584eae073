//! The durable log: every change to the data, appended as checksummed
//! frames to numbered segments under `<persist path>/log/`, synced as
//! `persist.log.fsync` says, replayed at start-up, and compacted into a
//! base snapshot once it outgrows the last one.
//!
//! ```text
//! <persist path>/log/MANIFEST          which base and segments, in order (manifest.rs)
//! <persist path>/log/00000003.base     the data before segment 3, as frames
//! <persist path>/log/00000003.log      header, then one frame per command that changed data
//! <persist path>/log/00000004.log      the segment being appended to
//! ```
//!
//! [`open`] creates the directory and the first segment if missing, reads
//! the manifest (a directory without one is the layout before compaction:
//! segment 1, no base, and gets one), replays the base and then every
//! segment in order, cuts the last at `--log-truncate-at` if asked, drops a
//! torn last frame of the last segment (a write cut short by a crash) with
//! a warning naming its offset, and refuses to start on damage anywhere
//! else: the base and the earlier segments were synced whole before the
//! next file started, so no crash tears them. Files the manifest does not
//! list (what a crash in the middle of a compaction leaves) are removed.
//! [`LogWriter`] (`writer.rs`) then appends on a thread of its own;
//! `record.rs` owns the bytes, `compact.rs` the compaction.
//!
//! Owns: the log's files and thread. Must not touch: mio, sockets.

pub mod compact;
pub mod manifest;
mod record;
mod writer;

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use compact::{BaseWritten, COMPACTION_TICKET, CompactJob, Compactor, CrashPoint, write_base};
pub use manifest::Manifest;
pub use record::{
    FRAME_HEADER_BYTES, Frame, HEADER_BYTES, Journal, LOAD_FRAME_BYTES, MAX_FRAME_BYTES, Op, Piece, Scope, VERSION,
    check_header, crc32c, decode, encode_load, header, next_frame,
};
#[cfg(test)]
mod compact_tests;
#[cfg(test)]
mod tests;

pub use writer::{EVERYSEC_INTERVAL, HAND_OVER_BYTES, HAND_OVER_INTERVAL, Layout, LogState, LogWriter, RETRY_INTERVAL};

use crate::config::LogSettings;
use crate::error::Error;
use crate::store::Store;

/// The log's directory under the persist path.
pub const LOG_DIR: &str = "log";

/// The first segment's file name (the only one before compaction).
pub const SEGMENT_FILE: &str = "00000001.log";

/// What a replay found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Replayed {
    /// Frames (commands) applied, base included.
    pub frames: u64,
    /// Operations applied.
    pub ops: u64,
    /// Bytes of the last segment kept.
    pub bytes: u64,
    /// The offset of a torn last frame that was dropped, if any.
    pub torn_at: Option<u64>,
    /// How long the replay took.
    pub duration: Duration,
}

/// Opens (creating if missing) the log under `root`, replays it into
/// `store` at `now` (wall-clock `wall_ms`), turns the store's recording on
/// and starts the log thread.
///
/// # Errors
/// [`Error::Log`] naming the file: it cannot be created, read or written;
/// it is not a log or is of a newer format version; the manifest is
/// damaged; or a frame other than the last of the last segment is damaged
/// (the message gives the offset and `--log-truncate-at`).
pub fn open(
    root: &Path,
    settings: &LogSettings,
    store: &mut Store,
    now: Instant,
    wall_ms: u64,
) -> Result<(LogWriter, Replayed), Error> {
    let started = Instant::now();
    let dir = root.join(LOG_DIR);
    let fail = |path: &Path, reason: String| Error::Log { path: path.to_owned(), reason };
    let io = |path: &Path, what: &str, e: std::io::Error| fail(path, format!("cannot {what}: {e}"));
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, "create the directory", e))?;
    let meta = std::fs::symlink_metadata(&dir).map_err(|e| io(&dir, "look at the directory", e))?;
    if !meta.is_dir() {
        return Err(fail(&dir, "it is not a directory (links are not followed)".to_owned()));
    }
    let manifest_path = dir.join(manifest::MANIFEST_FILE);
    let (manifest, listed) = match manifest::read(&dir).map_err(|reason| fail(&manifest_path, reason))? {
        Some(manifest) => (manifest, true),
        None => (Manifest::legacy(), false),
    };
    store.set_wall_clock(now, wall_ms);
    let mut replayed = Replayed::default();
    let mut base_bytes = 0;
    if let Some(base) = manifest.base {
        let path = dir.join(manifest::base_name(base));
        let bytes = read_whole(&path)?;
        base_bytes = bytes.len() as u64;
        replay_whole(&path, &bytes, store, &mut replayed)?;
    }
    let (&last, earlier) = manifest.segments.split_last().ok_or_else(|| fail(&manifest_path, "no segment".into()))?;
    let mut closed_bytes = 0;
    for &n in earlier {
        let path = dir.join(manifest::segment_name(n));
        let bytes = read_whole(&path)?;
        closed_bytes += bytes.len() as u64;
        replay_whole(&path, &bytes, store, &mut replayed)?;
    }
    let path = dir.join(manifest::segment_name(last));
    let opened =
        OpenOptions::new().read(true).write(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(&path);
    let mut file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !listed => create(&dir, &path)?,
        Err(e) => return Err(io(&path, "open the file", e)),
    };
    let kind = file.metadata().map_err(|e| io(&path, "look at the file", e))?;
    if !kind.is_file() {
        return Err(fail(&path, "it is not a regular file".to_owned()));
    }
    if let Some(offset) = settings.truncate_at {
        if offset < HEADER_BYTES as u64 || offset > kind.len() {
            return Err(fail(
                &path,
                format!("--log-truncate-at {offset} is outside the file ({HEADER_BYTES} to {} bytes)", kind.len()),
            ));
        }
        log::warn!("cutting the log {} at byte {offset} (--log-truncate-at): what follows is dropped", path.display());
        file.set_len(offset).map_err(|e| io(&path, "truncate the file", e))?;
        file.sync_all().map_err(|e| io(&path, "sync the file", e))?;
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| io(&path, "read the file", e))?;
    check_header(&bytes).map_err(|reason| fail(&path, reason))?;
    let last_replay = replay(&bytes, store).map_err(|reason| fail(&path, reason))?;
    if let Some(at) = last_replay.torn_at {
        log::warn!(
            "the log {} ends in a torn record at byte {at} (a write cut short by a crash): dropped {} bytes",
            path.display(),
            bytes.len() as u64 - at
        );
        file.set_len(at).map_err(|e| io(&path, "drop the torn record", e))?;
        file.sync_all().map_err(|e| io(&path, "sync the file", e))?;
    }
    replayed.frames += last_replay.frames;
    replayed.ops += last_replay.ops;
    replayed.bytes = last_replay.bytes;
    replayed.torn_at = last_replay.torn_at;
    let len = replayed.bytes;
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(len)).map_err(|e| io(&path, "seek in the file", e))?;
    if !listed {
        // The layout before compaction: from now on it has a manifest.
        manifest.install(&dir, |_| false).map_err(|e| io(&manifest_path, "write the manifest", e))?;
    }
    remove_unlisted(&dir, &manifest);
    store.enable_journal();
    let layout = Layout { dir, manifest, closed_bytes, base_bytes };
    let writer = LogWriter::start(file, len, settings.fsync, path.clone(), layout)
        .map_err(|e| io(&path, "start the log thread", e))?;
    replayed.duration = started.elapsed();
    Ok((writer, replayed))
}

/// Reads a base or an earlier segment whole.
fn read_whole(path: &Path) -> Result<Vec<u8>, Error> {
    let io =
        |what: &str, e: std::io::Error| Error::Log { path: path.to_owned(), reason: format!("cannot {what}: {e}") };
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| io("open the file (the manifest lists it)", e))?;
    if !file.metadata().map_err(|e| io("look at the file", e))?.is_file() {
        return Err(Error::Log { path: path.to_owned(), reason: "it is not a regular file".to_owned() });
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| io("read the file", e))?;
    Ok(bytes)
}

/// Replays a base or an earlier segment, which must be whole: a torn end
/// there is damage (it was synced whole before the next file started).
fn replay_whole(path: &Path, bytes: &[u8], store: &mut Store, total: &mut Replayed) -> Result<(), Error> {
    let fail = |reason: String| Error::Log { path: path.to_owned(), reason };
    check_header(bytes).map_err(fail)?;
    let found = replay(bytes, store).map_err(fail)?;
    if let Some(at) = found.torn_at {
        return Err(fail(format!(
            "damaged at byte {at} (it ends in an incomplete record, yet it is not the last file of the log): \
             refusing to start rather than replay the segments after it without what it lacks. Restore it from a \
             backup, or move the log directory away to start without it"
        )));
    }
    total.frames += found.frames;
    total.ops += found.ops;
    Ok(())
}

/// Removes the files of the log directory that `manifest` does not list
/// and that a compaction may have left (`*.log`, `*.base`, `*.tmp`); any
/// other entry is left alone.
fn remove_unlisted(dir: &Path, manifest: &Manifest) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut removed = false;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let ours = name.ends_with(".log") || name.ends_with(".base") || name.ends_with(".tmp");
        if !ours || manifest.lists(name) {
            continue;
        }
        log::info!("removing {name} from the log directory: the manifest does not list it (an interrupted compaction)");
        if let Err(e) = std::fs::remove_file(entry.path()) {
            log::warn!("cannot remove {}: {e}", entry.path().display());
        }
        removed = true;
    }
    if removed {
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
}

/// Creates an empty segment: header, fsync the file, then the directory.
pub(crate) fn create(dir: &Path, path: &Path) -> Result<File, Error> {
    let io =
        |what: &str, e: std::io::Error| Error::Log { path: path.to_owned(), reason: format!("cannot {what}: {e}") };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| io("create the file", e))?;
    file.write_all(&header()).map_err(|e| io("write the header", e))?;
    file.sync_all().map_err(|e| io("sync the file", e))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io("sync its directory", e))?;
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(0)).map_err(|e| io("seek in the file", e))?;
    Ok(file)
}

/// Applies every whole frame of `bytes` (a segment, header included) to
/// `store`.
///
/// # Errors
/// A damaged frame that is not the last, or a frame whose checksum matches
/// but whose operations do not decode; the message names the offset and
/// the way out.
pub fn replay(bytes: &[u8], store: &mut Store) -> Result<Replayed, String> {
    let mut out = Replayed::default();
    let mut at = HEADER_BYTES;
    loop {
        match next_frame(bytes, at) {
            Frame::Whole { payload, end } => {
                if let Some(frames) = group_of(payload) {
                    // A load's frames: all of them whole, or a torn tail
                    // from here.
                    let mut next = end;
                    let mut torn = None;
                    for _ in 0..frames {
                        match next_frame(bytes, next) {
                            Frame::Whole { end, .. } => next = end,
                            Frame::End => torn = Some("a group of frames cut short"),
                            Frame::Torn { why } => torn = Some(why),
                            Frame::Corrupt { why } => return Err(damaged(next, why)),
                        }
                        if torn.is_some() {
                            break;
                        }
                    }
                    if let Some(why) = torn {
                        log::debug!("torn group of {frames} frames at {at}: {why}");
                        out.torn_at = Some(at as u64);
                        break;
                    }
                }
                let mut ops = 0;
                decode(payload, |op| {
                    ops += 1;
                    store.replay(op);
                })
                .map_err(|why| damaged(at, &why))?;
                out.frames += 1;
                out.ops += ops;
                at = end;
            }
            Frame::End => break,
            Frame::Torn { why } => {
                log::debug!("torn record at {at}: {why}");
                out.torn_at = Some(at as u64);
                break;
            }
            Frame::Corrupt { why } => return Err(damaged(at, why)),
        }
    }
    out.bytes = at as u64;
    Ok(out)
}

/// How many frames follow and belong to the group this payload opens, if
/// it is a group frame.
fn group_of(payload: &[u8]) -> Option<u32> {
    // Only a frame of one operation of 5 bytes can be one: no other frame
    // is decoded twice.
    if payload.len() != 5 {
        return None;
    }
    let mut frames = None;
    let _ = decode(payload, |op| {
        if let Op::Group { frames: n } = op {
            frames = Some(n);
        }
    });
    frames
}

fn damaged(at: usize, why: &str) -> String {
    format!(
        "damaged at byte {at} ({why}), with records after it: refusing to start rather than drop them. To start \
         anyway with what precedes the damage (and lose what follows), run once with --log-truncate-at {at}; keep a \
         copy of the file first"
    )
}

/// The path of the first segment under `root` (the only one before
/// compaction).
pub fn segment_path(root: &Path) -> PathBuf {
    root.join(LOG_DIR).join(SEGMENT_FILE)
}

/// The path of the segment being appended to under `root`, as the
/// manifest says (the first segment when there is none).
pub fn last_segment_path(root: &Path) -> PathBuf {
    let dir = root.join(LOG_DIR);
    let last = manifest::read(&dir).ok().flatten().map_or(1, |m| m.last());
    dir.join(manifest::segment_name(last))
}
