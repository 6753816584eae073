//! The durable log: every change to the data, appended as checksummed
//! frames to `<persist path>/log/00000001.log`, synced as
//! `persist.log.fsync` says, and replayed at start-up.
//!
//! ```text
//! <persist path>/log/00000001.log     header, then one frame per command that changed data
//! ```
//!
//! [`open`] creates the directory and the segment if missing, cuts it at
//! `--log-truncate-at` if asked, replays it into the store, drops a torn
//! last frame (a write cut short by a crash) with a warning naming its
//! offset, and refuses to start on damage anywhere else. [`LogWriter`]
//! (`writer.rs`) then appends on a thread of its own; `record.rs` owns the
//! bytes.
//!
//! Owns: the log's files and thread. Must not touch: mio, sockets.

mod record;
mod writer;

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use record::{
    FRAME_HEADER_BYTES, Frame, HEADER_BYTES, Journal, LOAD_FRAME_BYTES, MAX_FRAME_BYTES, Op, Scope, VERSION,
    check_header, crc32c, decode, encode_load, header, next_frame,
};
#[cfg(test)]
mod tests;

pub use writer::{EVERYSEC_INTERVAL, LogState, LogWriter, RETRY_INTERVAL};

use crate::config::LogSettings;
use crate::error::Error;
use crate::store::Store;

/// The log's directory under the persist path.
pub const LOG_DIR: &str = "log";

/// The segment's file name.
pub const SEGMENT_FILE: &str = "00000001.log";

/// What a replay found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Replayed {
    /// Frames (commands) applied.
    pub frames: u64,
    /// Operations applied.
    pub ops: u64,
    /// Bytes of the segment kept.
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
/// it is not a log or is of a newer format version; or a frame other than
/// the last is damaged (the message gives the offset and
/// `--log-truncate-at`).
pub fn open(
    root: &Path,
    settings: &LogSettings,
    store: &mut Store,
    now: Instant,
    wall_ms: u64,
) -> Result<(LogWriter, Replayed), Error> {
    let started = Instant::now();
    let dir = root.join(LOG_DIR);
    let path = dir.join(SEGMENT_FILE);
    let fail = |path: &Path, reason: String| Error::Log { path: path.to_owned(), reason };
    let io = |path: &Path, what: &str, e: std::io::Error| fail(path, format!("cannot {what}: {e}"));
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, "create the directory", e))?;
    let meta = std::fs::symlink_metadata(&dir).map_err(|e| io(&dir, "look at the directory", e))?;
    if !meta.is_dir() {
        return Err(fail(&dir, "it is not a directory (links are not followed)".to_owned()));
    }
    let opened =
        OpenOptions::new().read(true).write(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(&path);
    let mut file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(&dir, &path)?,
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
    store.set_wall_clock(now, wall_ms);
    let mut replayed = replay(&bytes, store).map_err(|reason| fail(&path, reason))?;
    if let Some(at) = replayed.torn_at {
        log::warn!(
            "the log {} ends in a torn record at byte {at} (a write cut short by a crash): dropped {} bytes",
            path.display(),
            bytes.len() as u64 - at
        );
        file.set_len(at).map_err(|e| io(&path, "drop the torn record", e))?;
        file.sync_all().map_err(|e| io(&path, "sync the file", e))?;
    }
    let len = replayed.bytes;
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(len)).map_err(|e| io(&path, "seek in the file", e))?;
    store.enable_journal();
    let writer =
        LogWriter::start(file, len, settings.fsync, path.clone()).map_err(|e| io(&path, "start the log thread", e))?;
    replayed.duration = started.elapsed();
    Ok((writer, replayed))
}

/// Creates an empty segment: header, fsync the file, then the directory.
fn create(dir: &Path, path: &Path) -> Result<File, Error> {
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

/// The path of the segment under `root`.
pub fn segment_path(root: &Path) -> PathBuf {
    root.join(LOG_DIR).join(SEGMENT_FILE)
}
