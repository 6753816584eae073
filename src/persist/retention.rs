//! Retention of scheduled saves (`persist.keep`): after a scheduled save
//! is durable, the saves of its name beyond the newest `keep` of each kind
//! are deleted.
//!
//! Runs on the save thread, as a job of the saves' lane, so it never runs
//! beside a save or a load (of any name): no stamp it looks at is being
//! written or read. Only what a save leaves is deleted: an all-digit entry
//! of `<persist.path>/<name>/` that is a directory itself (looked at
//! without following it), whose `md/md.json` reads as a complete save of a
//! known kind. Links, files, FIFOs, `.partial` directories, stamps without
//! metadata or with a status other than complete are never deleted nor
//! counted; a stamp whose metadata is damaged is left in place with a log
//! line. Every step goes through `files::Dir` (one name at a time from an
//! open directory, `O_NOFOLLOW`, nothing below followed), so nothing
//! outside the name's directory can be deleted, whatever is planted.
//!
//! A stamp is never removed in place, where a crash part way could leave
//! a `md.json` saying complete over missing data files: it is first
//! renamed to `<stamp>.partial` (which loads never look at and the next
//! save of the name removes) and the directory fsynced, and only then
//! removed. Oldest first, so a crash part way keeps the newest saves.
//!
//! Owns: choosing and deleting old stamps. Knows nothing of the store.

use std::ffi::OsString;
use std::path::Path;

use super::files::{self, Dir, MD_FILE, PARTIAL_SUFFIX};
use super::{MAX_METADATA_BYTES, format};
use crate::error::{Chain, FileKind, PersistError};
use crate::store::SaveKind;

/// Deletes the complete saves of `name` under `root` beyond the newest
/// `keep` of each kind (at least one of each is always kept), and returns
/// how many it deleted.
///
/// # Errors
/// The name's directory cannot be opened or listed, or renaming or
/// removing a stamp failed (the stamps deleted before stay deleted; the
/// one at fault is named).
pub(super) fn prune(root: &Path, name: &str, keep: usize) -> Result<usize, PersistError> {
    let keep = keep.max(1);
    let root_dir = Dir::open(root)?;
    if root_dir.info(name)?.is_none() {
        return Ok(0);
    }
    let name_dir = root_dir.open_dir(name)?;
    let mut kept = [0usize; 2];
    let mut doomed: Vec<OsString> = Vec::new();
    for (_, stamp_name, kind) in files::stamps(&name_dir)? {
        if kind != FileKind::Directory {
            continue;
        }
        let Some(save_kind) = complete_kind(&name_dir, &stamp_name) else { continue };
        let slot = &mut kept[save_kind.data_type() as usize];
        if *slot < keep {
            *slot += 1;
        } else {
            doomed.push(stamp_name);
        }
    }
    // Oldest first: a crash part way leaves the newest saves in place.
    doomed.reverse();
    let mut removed = 0;
    for stamp in doomed {
        let mut hidden = stamp.clone();
        hidden.push(PARTIAL_SUFFIX);
        if name_dir.info(&hidden)?.is_some() {
            // Not one this server would write over: leave both.
            log::warn!(
                "not deleting {}: {} exists",
                name_dir.child(&stamp).display(),
                name_dir.child(&hidden).display()
            );
            continue;
        }
        name_dir.rename(&stamp, &hidden)?;
        name_dir.sync()?;
        name_dir.remove_all(&hidden)?;
        name_dir.sync()?;
        log::info!("deleted the scheduled save {} (persist.keep {keep})", name_dir.child(&stamp).display());
        removed += 1;
    }
    Ok(removed)
}

/// The kind of the stamp `stamp` under `name_dir` if it is a complete
/// save (its metadata says so); `None` otherwise, with a log line when its
/// metadata cannot be read.
fn complete_kind(name_dir: &Dir, stamp: &OsString) -> Option<SaveKind> {
    let read = || -> Result<Option<SaveKind>, PersistError> {
        let dir = name_dir.open_dir(stamp)?;
        if dir.info("md")?.map(|i| i.kind) != Some(FileKind::Directory) {
            return Ok(None);
        }
        let md = dir.open_dir("md")?;
        if md.info(MD_FILE)?.is_none() {
            return Ok(None);
        }
        let bytes = md.read_file(MD_FILE, Some(MAX_METADATA_BYTES))?;
        let path = md.child(MD_FILE);
        let info = format::parse_metadata(&bytes).map_err(|problem| PersistError::Corrupt { path, problem })?;
        Ok(info.kind.filter(|_| info.status == format::SaveStatus::Complete as u64))
    };
    read().unwrap_or_else(|e| {
        log::warn!("keeping {}: {}", name_dir.child(stamp).display(), Chain(&e));
        None
    })
}
