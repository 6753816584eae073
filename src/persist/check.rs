//! The offline save checker (`ndb-server --check-save PATH`): reads every
//! save under a path as a load would (layout, `md.json`, every data file
//! parsed) and reports what it found, without a server and without
//! changing anything.
//!
//! Owns: deciding what a path is (a persist path, a save name's directory
//! or one save), and the report. The reading itself is the loads' own
//! (`files`, `format`), with the same confinement: no link below the path
//! is followed and nothing but directories and regular files is opened.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

use super::files::{self, Dir, MD_FILE, PARTIAL_SUFFIX};
use super::format::{self, SaveStatus};
use super::read_metadata;
use crate::error::{Chain, FileKind, PersistError};
use crate::store::SaveKind;

/// What the checker found under a path.
#[derive(Debug)]
pub struct CheckReport {
    /// The path checked.
    pub path: PathBuf,
    /// Every save found, by name, newest first within a name.
    pub saves: Vec<SaveCheck>,
}

/// One save (one stamp directory) and what checking it found.
#[derive(Debug)]
pub struct SaveCheck {
    /// The save's name (its directory's name).
    pub name: String,
    /// The stamp directory.
    pub path: PathBuf,
    /// What it holds.
    pub outcome: Outcome,
    /// The save a load of this name and kind would choose now.
    pub newest: bool,
}

/// What checking one save found.
#[derive(Debug)]
pub enum Outcome {
    /// Complete and every file reads: what a load would apply.
    Sound {
        /// KV or sessions.
        kind: SaveKind,
        /// Data files.
        files: usize,
        /// Keys (KV entries, or keys held in sessions).
        keys: usize,
        /// Sessions (0 for a KV save).
        sessions: usize,
    },
    /// Not complete (no `md.json`, a status other than 1, or a
    /// `.partial` directory): loads skip it, and the next save of the name
    /// removes a partial one.
    Incomplete(String),
    /// Complete by its metadata but unreadable or corrupt, or something a
    /// save does not hold: a load choosing it fails (142).
    Damaged(String),
}

/// The checker's overall answer, for an exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckVerdict {
    /// At least one complete save, and none damaged.
    Sound,
    /// At least one save is damaged.
    Damaged,
    /// No complete save and nothing damaged: nothing a load could use.
    Empty,
}

impl CheckReport {
    /// The overall answer: damaged if any save is, else sound if any save
    /// is complete, else empty.
    pub fn verdict(&self) -> CheckVerdict {
        if self.saves.iter().any(|s| matches!(s.outcome, Outcome::Damaged(_))) {
            CheckVerdict::Damaged
        } else if self.saves.iter().any(|s| matches!(s.outcome, Outcome::Sound { .. })) {
            CheckVerdict::Sound
        } else {
            CheckVerdict::Empty
        }
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut counts = [0usize; 3];
        for save in &self.saves {
            let path = save.path.display();
            match &save.outcome {
                Outcome::Sound { kind, files, keys, sessions } => {
                    counts[0] += 1;
                    let newest = if save.newest { ", newest" } else { "" };
                    let sessions = match kind {
                        SaveKind::Kv => String::new(),
                        SaveKind::Sessions => format!("{sessions} sessions, "),
                    };
                    writeln!(
                        f,
                        "ok         {path}: {} save {:?}{newest}: {sessions}{keys} keys in {files} data files",
                        kind.as_str(),
                        save.name
                    )?;
                }
                Outcome::Incomplete(why) => {
                    counts[1] += 1;
                    writeln!(f, "incomplete {path}: {why} (loads skip it)")?;
                }
                Outcome::Damaged(why) => {
                    counts[2] += 1;
                    writeln!(f, "DAMAGED    {path}: {why}")?;
                }
            }
        }
        writeln!(f, "{}: {} sound, {} incomplete, {} damaged", self.path.display(), counts[0], counts[1], counts[2])
    }
}

/// Checks the saves under `path`: a persist path (every save name in it;
/// entries that are not directories are ignored), one save name's
/// directory (every stamp in it), or one save (a stamp directory, with
/// `md/`).
///
/// # Errors
/// `path` cannot be opened or listed.
pub fn check_saves(path: &Path) -> Result<CheckReport, PersistError> {
    let dir = Dir::open(path)?;
    let mut saves = Vec::new();
    let name_of = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if dir.info("md")?.is_some() {
        let name = path.canonicalize().ok().and_then(|p| p.parent().map(name_of)).unwrap_or_default();
        saves.push(SaveCheck { name, path: path.to_owned(), outcome: check_stamp(&dir), newest: false });
    } else if !is_name_dir(&dir)? {
        for (name, kind) in dir.entries()? {
            let Some(text) = name.to_str().filter(|n| crate::protocol::is_valid_save_name(n)) else { continue };
            if kind == FileKind::Directory {
                check_name(&dir.open_dir(&name)?, text, &mut saves)?;
            }
        }
    } else {
        check_name(&dir, &name_of(path), &mut saves)?;
    }
    saves.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| b.path.cmp(&a.path)));
    Ok(CheckReport { path: path.to_owned(), saves })
}

/// Whether `dir` is a save name's directory: it holds a `<stamp>.partial`
/// entry, or an all-digit entry that is not a directory or that holds `md`
/// or `data` (a stamp). A persist path whose save names are all digits
/// holds directories of stamps instead.
fn is_name_dir(dir: &Dir) -> Result<bool, PersistError> {
    let partial = |name: &OsStr| {
        name.to_str()
            .and_then(|n| n.strip_suffix(PARTIAL_SUFFIX))
            .is_some_and(|s| files::parse_stamp(OsStr::new(s)).is_some())
    };
    if dir.entries()?.iter().any(|(name, _)| partial(name)) {
        return Ok(true);
    }
    for (_, name, kind) in files::stamps(dir)? {
        if kind != FileKind::Directory {
            return Ok(true);
        }
        let stamp = dir.open_dir(&name)?;
        if stamp.info("md")?.is_some() || stamp.info("data")?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Checks every stamp of one save name, newest first, and marks the one
/// a load of each kind would choose.
fn check_name(name_dir: &Dir, name: &str, saves: &mut Vec<SaveCheck>) -> Result<(), PersistError> {
    let mut chosen = [false; 2];
    for (_, stamp, kind) in files::stamps(name_dir)? {
        let path = name_dir.child(&stamp);
        let outcome = if kind == FileKind::Directory {
            match name_dir.open_dir(&stamp) {
                Ok(dir) => check_stamp(&dir),
                Err(e) => Outcome::Damaged(Chain(&e).to_string()),
            }
        } else {
            Outcome::Damaged(format!("a {kind} where a save's directory should be"))
        };
        let mut newest = false;
        if let Outcome::Sound { kind, .. } = &outcome {
            newest = !std::mem::replace(&mut chosen[*kind as usize], true);
        }
        saves.push(SaveCheck { name: name.to_owned(), path, outcome, newest });
    }
    for (entry, _) in name_dir.entries()? {
        if entry.to_str().is_some_and(|n| n.ends_with(PARTIAL_SUFFIX)) {
            let outcome = Outcome::Incomplete("a save that was being written when it stopped".to_owned());
            saves.push(SaveCheck { name: name.to_owned(), path: name_dir.child(&entry), outcome, newest: false });
        }
    }
    Ok(())
}

/// Checks one stamp directory as a load reads it.
fn check_stamp(stamp: &Dir) -> Outcome {
    let read = || -> Result<Outcome, PersistError> {
        let Some(bytes) = read_metadata(stamp)? else {
            return Ok(Outcome::Incomplete(format!("no md/{MD_FILE} (an interrupted save)")));
        };
        let md_path = || stamp.child("md").join(MD_FILE);
        let info =
            format::parse_metadata(&bytes).map_err(|problem| PersistError::Corrupt { path: md_path(), problem })?;
        if info.status != SaveStatus::Complete as u64 {
            return Ok(Outcome::Incomplete(format!("its status is {}, not 1 (complete)", info.status)));
        }
        let Some(kind) = info.kind else {
            let problem = "saveDataType is neither 0 (KV) nor 1 (sessions)".to_owned();
            return Err(PersistError::Corrupt { path: md_path(), problem });
        };
        let data = stamp.open_dir("data")?;
        let names = files::data_files(&data)?;
        let (mut keys, mut sessions) = (0, 0);
        let (mut entries, mut records) = (Vec::new(), Vec::new());
        for name in &names {
            let bytes = data.read_file(name, None)?;
            let parsed = match kind {
                SaveKind::Kv => format::parse_kv(&bytes, &mut entries),
                SaveKind::Sessions => format::parse_sessions(&bytes, &mut records),
            };
            parsed.map_err(|problem| PersistError::Corrupt { path: data.child(name), problem })?;
            keys += entries.len() + records.iter().map(|r| r.keys.len()).sum::<usize>();
            sessions += records.len();
            entries.clear();
            records.clear();
        }
        Ok(Outcome::Sound { kind, files: names.len(), keys, sessions })
    };
    read().unwrap_or_else(|e| Outcome::Damaged(Chain(&e).to_string()))
}
