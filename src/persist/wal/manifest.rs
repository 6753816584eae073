//! The manifest of the durable log: which base snapshot and which
//! segments, in order, make up the log under `<persist path>/log/`.
//!
//! ```text
//! ndb-log-manifest 1
//! base 00000003.base          or "base none"
//! segment 00000003.log
//! segment 00000004.log
//! crc32c 1a2b3c4d             of every byte before this line
//! ```
//!
//! Plain text so that an operator can read it; checksummed so that a
//! damaged one is refused rather than half believed; replaced atomically
//! (written to `MANIFEST.tmp`, synced, renamed over `MANIFEST`, the
//! directory synced), so a crash leaves the old manifest or the new one,
//! never a mix. A version newer than [`MANIFEST_VERSION`] is refused.
//!
//! Owns: the manifest's bytes and its atomic replacement.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::record::crc32c;

/// The manifest's file name under the log directory.
pub const MANIFEST_FILE: &str = "MANIFEST";

/// The name the next manifest is written under before it is renamed.
pub const MANIFEST_TEMP: &str = "MANIFEST.tmp";

/// The manifest format version this build writes and reads.
pub const MANIFEST_VERSION: u32 = 1;

/// The first line's word.
const MAGIC: &str = "ndb-log-manifest";

/// Largest manifest read: 1 MiB, far above the few segments a log has
/// (about 22 bytes each), so a bigger file is not a manifest.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// The file name of segment `n`.
pub fn segment_name(n: u32) -> String {
    format!("{n:08}.log")
}

/// The file name of the base that precedes segment `n`.
pub fn base_name(n: u32) -> String {
    format!("{n:08}.base")
}

/// What the log is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The base snapshot, by the number of the first segment after it.
    pub base: Option<u32>,
    /// The segments replayed after the base, oldest first; never empty.
    pub segments: Vec<u32>,
}

impl Manifest {
    /// The layout before compaction existed: segment 1, no base.
    pub fn legacy() -> Manifest {
        Manifest { base: None, segments: vec![1] }
    }

    /// The segment being appended to.
    pub fn last(&self) -> u32 {
        self.segments.last().copied().unwrap_or(1)
    }

    /// Whether `name` is a file this manifest lists.
    pub fn lists(&self, name: &str) -> bool {
        name == MANIFEST_FILE
            || self.base.is_some_and(|b| base_name(b) == name)
            || self.segments.iter().any(|&s| segment_name(s) == name)
    }

    /// The manifest's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("{MAGIC} {MANIFEST_VERSION}\n");
        match self.base {
            Some(b) => out.push_str(&format!("base {}\n", base_name(b))),
            None => out.push_str("base none\n"),
        }
        for &s in &self.segments {
            out.push_str(&format!("segment {}\n", segment_name(s)));
        }
        let crc = crc32c(out.as_bytes());
        out.push_str(&format!("crc32c {crc:08x}\n"));
        out.into_bytes()
    }

    /// Reads a manifest's bytes.
    ///
    /// # Errors
    /// What is wrong: not a manifest, damaged (checksum), a newer version,
    /// or a line this version does not know.
    pub fn decode(bytes: &[u8]) -> Result<Manifest, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not a manifest (not UTF-8 text)".to_owned())?;
        let body_end = text.trim_end_matches('\n').rfind('\n').map_or(0, |i| i + 1);
        let (body, last) = text.split_at(body_end);
        let crc = last
            .trim_end()
            .strip_prefix("crc32c ")
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            .ok_or("not a manifest, or cut short (no checksum line)")?;
        let mut lines = body.lines();
        let first = lines.next().unwrap_or_default();
        let version = first
            .strip_prefix(MAGIC)
            .and_then(|v| v.trim().parse::<u32>().ok())
            .ok_or("not an ndb log manifest (wrong first line)")?;
        if crc != crc32c(body.as_bytes()) {
            return Err("damaged (its checksum does not match)".to_owned());
        }
        if version > MANIFEST_VERSION {
            return Err(format!(
                "it is manifest format version {version}, written by a newer ndb; this one reads up to version \
                 {MANIFEST_VERSION}"
            ));
        }
        let number = |name: &str, ext: &str| -> Result<u32, String> {
            name.strip_suffix(ext)
                .filter(|n| n.len() == 8)
                .and_then(|n| n.parse::<u32>().ok())
                .ok_or_else(|| format!("a file name it does not know: {name:?}"))
        };
        let mut manifest = Manifest { base: None, segments: Vec::new() };
        for line in lines {
            match line.split_once(' ') {
                Some(("base", "none")) => manifest.base = None,
                Some(("base", name)) => manifest.base = Some(number(name, ".base")?),
                Some(("segment", name)) => {
                    let n = number(name, ".log")?;
                    if manifest.segments.last().is_some_and(|&last| last >= n) {
                        return Err(format!("segments out of order at {name:?}"));
                    }
                    manifest.segments.push(n);
                }
                _ => return Err(format!("a line it does not know: {line:?}")),
            }
        }
        if manifest.segments.is_empty() {
            return Err("it lists no segment".to_owned());
        }
        Ok(manifest)
    }

    /// Replaces the manifest in `dir` with this one, atomically: written
    /// to [`MANIFEST_TEMP`], synced, renamed over [`MANIFEST_FILE`], the
    /// directory synced. `stop` is called between the steps (a crash
    /// point in tests): when it returns `true` the replacement stops dead
    /// there.
    ///
    /// # Errors
    /// The step that failed; before the rename the old manifest is in
    /// force (the temporary file is removed), after it the new one.
    pub fn install(&self, dir: &Path, mut stop: impl FnMut(Step) -> bool) -> Result<Installed, std::io::Error> {
        let temp = dir.join(MANIFEST_TEMP);
        let _ = std::fs::remove_file(&temp);
        let written = (|| {
            let mut file =
                OpenOptions::new().write(true).create_new(true).custom_flags(libc::O_NOFOLLOW).open(&temp)?;
            file.write_all(&self.encode())?;
            file.sync_all()
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
        if stop(Step::TempWritten) {
            return Ok(Installed::Stopped);
        }
        if let Err(e) = std::fs::rename(&temp, dir.join(MANIFEST_FILE)) {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
        if stop(Step::Renamed) {
            return Ok(Installed::Stopped);
        }
        File::open(dir).and_then(|d| d.sync_all()).map(|()| Installed::Done).or(Ok(Installed::Unsynced))
    }
}

/// The steps of [`Manifest::install`] a crash point can stop after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The new manifest is written and synced under its temporary name.
    TempWritten,
    /// It is renamed over the old one; the directory is not synced yet.
    Renamed,
}

/// How [`Manifest::install`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installed {
    /// In force and durable.
    Done,
    /// Renamed, but the directory could not be synced: in force, and a
    /// crash may still bring the old one back (both name files that
    /// exist, so either loads).
    Unsynced,
    /// Stopped by a crash point.
    Stopped,
}

/// Reads the manifest of `dir`: `None` when there is none (a log of the
/// layout before compaction, or a new one).
///
/// # Errors
/// It cannot be read, is over [`MAX_MANIFEST_BYTES`], not a regular file,
/// or [`Manifest::decode`] refuses it.
pub fn read(dir: &Path) -> Result<Option<Manifest>, String> {
    let path = dir.join(MANIFEST_FILE);
    let file = match OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot open it: {e}")),
    };
    let meta = file.metadata().map_err(|e| format!("cannot look at it: {e}"))?;
    if !meta.is_file() {
        return Err("it is not a regular file".to_owned());
    }
    if meta.len() > MAX_MANIFEST_BYTES {
        return Err(format!("it is {} bytes, over the {MAX_MANIFEST_BYTES} a manifest may be", meta.len()));
    }
    let mut bytes = Vec::new();
    use std::io::Read;
    (&file).take(MAX_MANIFEST_BYTES).read_to_end(&mut bytes).map_err(|e| format!("cannot read it: {e}"))?;
    Manifest::decode(&bytes).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_round_trips_and_damage_or_a_newer_version_is_refused() {
        let m = Manifest { base: Some(3), segments: vec![3, 4] };
        let bytes = m.encode();
        assert_eq!(Manifest::decode(&bytes).unwrap(), m);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("ndb-log-manifest 1\nbase 00000003.base\nsegment 00000003.log\n"), "{text}");
        let mut flipped = bytes.clone();
        flipped[30] ^= 1;
        assert!(Manifest::decode(&flipped).is_err());
        assert!(Manifest::decode(&bytes[..bytes.len() - 4]).is_err());
        let newer = "ndb-log-manifest 2\nsegment 00000001.log\n";
        let newer = format!("{newer}crc32c {:08x}\n", crc32c(newer.as_bytes()));
        let err = Manifest::decode(newer.as_bytes()).unwrap_err();
        assert!(err.contains("version 2") && err.contains("newer ndb"), "{err}");
        let none = Manifest::legacy();
        assert_eq!(Manifest::decode(&none.encode()).unwrap(), none);
        assert!(none.lists("00000001.log") && !none.lists("00000002.log") && none.lists(MANIFEST_FILE));
    }
}
