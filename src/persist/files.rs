//! The file-system steps of saves and loads, each durable before the next
//! begins (files written in full and fsynced, directories fsynced after an
//! entry in them was created or renamed), and all of them confined to the
//! persist path whatever has been planted inside it.
//!
//! # Confinement
//!
//! The persist path itself is opened by name, following symbolic links
//! (it is the operator's setting, and may be a link to another disk).
//! Everything below it is reached through [`Dir`]: a directory descriptor
//! and one name at a time (`openat`, `mkdirat`, `renameat`, `unlinkat`,
//! `fstatat` relative to it), never through a longer path. Every open
//! below the persist path uses `O_NOFOLLOW` (and `O_DIRECTORY` for
//! directories), so a symbolic link planted as any component (a save
//! name's directory, a stamp, `md/`, `data/`, `md.json`, a data file, a
//! `.partial` directory) is never followed, and nothing is ever read or
//! written outside. Before an existing entry is opened its kind is looked
//! at without following it; only directories and regular files are
//! opened, so a FIFO, socket or device is never opened and never blocks
//! the save thread. Files are opened with `O_NONBLOCK` besides, and checked
//! again with `fstat` once open, in case the entry was swapped in between.
//! New files are created with `O_CREAT | O_EXCL`, which never follows a
//! link either.
//!
//! Owns: paths and system calls. Knows nothing of JSON or of the store.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{FileKind, PersistError, PersistOp};

#[cfg(not(unix))]
compile_error!("ndb's saves need a Unix-like system: openat, O_NOFOLLOW and fdopendir confine them to persist.path");

/// The suffix of a save being written: `<stamp>.partial`, renamed to
/// `<stamp>` once everything in it is durable.
pub(super) const PARTIAL_SUFFIX: &str = ".partial";

/// The metadata file's name inside `<stamp>/md/`.
pub(super) const MD_FILE: &str = "md.json";

/// The temporary name `md.json` is written under before its rename.
pub(super) const MD_TEMP_FILE: &str = "md.json.tmp";

/// Largest `md.json` read: 64 KiB. The file NemesisDB and ndb write is
/// under 300 bytes (a save name is one directory name, at most 255 bytes,
/// at most 6 bytes each once escaped); anything bigger was put there by
/// something else, and is refused before it is read.
pub const MAX_METADATA_BYTES: u64 = 64 * 1024;

/// Deepest directory tree removed below a leftover `<stamp>.partial`: a
/// save has two levels (`md/`, `data/`), so deeper trees were planted;
/// they are left in place (with a log line) rather than walked without
/// bound.
const MAX_REMOVE_DEPTH: usize = 8;

/// Bytes per `write` call. The kernel may run a whole system call without
/// giving the CPU up (a kernel built without kernel preemption), so one
/// `write` of 10 MiB could hold a CPU the event loop is waiting for;
/// 256 KiB calls return to user space, where the save thread is preempted
/// at once, every few tens of microseconds.
const WRITE_CHUNK_BYTES: usize = 256 * 1024;

/// Wall-clock nanoseconds since the Unix epoch (0 if the clock is before
/// it).
pub(super) fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Wall-clock milliseconds since the Unix epoch.
pub(crate) fn unix_millis() -> u64 {
    unix_nanos() / 1_000_000
}

/// An open directory at or below the persist path, and its path (for
/// messages only: no operation goes through the path).
#[derive(Debug)]
pub(super) struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

/// What `fstatat` says of an entry: its kind and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct EntryInfo {
    pub kind: FileKind,
    pub size: u64,
}

impl Dir {
    /// Opens the directory at `path` (the persist path or a load path),
    /// following symbolic links.
    ///
    /// # Errors
    /// `OpenDir` on `path`: it does not exist, is not a directory, or
    /// cannot be opened.
    pub(super) fn open(path: &Path) -> Result<Dir, PersistError> {
        let fail = |e| PersistError::io(PersistOp::OpenDir, path, e);
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| fail(io::Error::new(io::ErrorKind::InvalidInput, "the path holds a NUL byte")))?;
        // SAFETY: `c_path` is a valid NUL-terminated string for the call's
        // duration; the returned descriptor is owned below.
        let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(fail(io::Error::last_os_error()));
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        Ok(Dir { fd: unsafe { OwnedFd::from_raw_fd(fd) }, path: path.to_owned() })
    }

    /// Opens the directory at `path`, first creating it and any missing
    /// parents (fsyncing each parent a directory was created in, so the new
    /// directories survive a crash).
    ///
    /// # Errors
    /// `CreateDir`, `Sync` or `OpenDir` on the directory at fault.
    pub(super) fn create_root(path: &Path) -> Result<Dir, PersistError> {
        match Dir::open(path) {
            Err(PersistError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                ensure_dir(path)?;
                Dir::open(path)
            }
            opened => opened,
        }
    }

    /// The directory's path, for messages.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `name` in this directory, for messages.
    pub(super) fn child(&self, name: impl AsRef<OsStr>) -> PathBuf {
        self.path.join(name.as_ref())
    }

    /// What `name` is in this directory, without following it; `None` if
    /// there is no such entry.
    ///
    /// # Errors
    /// `Inspect` on the entry.
    pub(super) fn info(&self, name: impl AsRef<OsStr>) -> Result<Option<EntryInfo>, PersistError> {
        let name = name.as_ref();
        let c_name = self.c_name(PersistOp::Inspect, name)?;
        // SAFETY: an all-zero `stat` is a valid value for fstatat to fill.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: the descriptor is open, `c_name` is NUL-terminated and
        // `stat` is valid for writes.
        let r = unsafe { libc::fstatat(self.fd.as_raw_fd(), c_name.as_ptr(), &mut stat, libc::AT_SYMLINK_NOFOLLOW) };
        if r != 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::NotFound {
                return Ok(None);
            }
            return Err(PersistError::io(PersistOp::Inspect, self.child(name), e));
        }
        Ok(Some(EntryInfo { kind: kind_of(stat.st_mode), size: u64::try_from(stat.st_size).unwrap_or(0) }))
    }

    /// Opens the directory `name` in this one. A symbolic link or anything
    /// else that is not a directory is refused, not followed.
    ///
    /// # Errors
    /// `WrongKind` if it is not a directory; `OpenDir` if it does not exist
    /// or cannot be opened.
    pub(super) fn open_dir(&self, name: impl AsRef<OsStr>) -> Result<Dir, PersistError> {
        let name = name.as_ref();
        let path = self.child(name);
        match self.info(name)? {
            None => return Err(PersistError::io(PersistOp::OpenDir, path, io::ErrorKind::NotFound.into())),
            Some(EntryInfo { kind: FileKind::Directory, .. }) => {}
            Some(EntryInfo { kind, .. }) => {
                return Err(PersistError::WrongKind { path, expected: FileKind::Directory, found: kind });
            }
        }
        let c_name = self.c_name(PersistOp::OpenDir, name)?;
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        let fd = self.open_at(&c_name, flags, 0).map_err(|e| PersistError::io(PersistOp::OpenDir, &path, e))?;
        Ok(Dir { fd, path })
    }

    /// Creates the directory `name` in this one; `false` if an entry of
    /// that name already exists (of whatever kind: opening it checks).
    ///
    /// # Errors
    /// `CreateDir` on the new directory.
    pub(super) fn make_dir(&self, name: impl AsRef<OsStr>) -> Result<bool, PersistError> {
        let name = name.as_ref();
        let c_name = self.c_name(PersistOp::CreateDir, name)?;
        // SAFETY: the descriptor is open and `c_name` is NUL-terminated.
        if unsafe { libc::mkdirat(self.fd.as_raw_fd(), c_name.as_ptr(), 0o777) } == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::AlreadyExists {
            return Ok(false);
        }
        Err(PersistError::io(PersistOp::CreateDir, self.child(name), e))
    }

    /// Creates the directory `name`, which must not exist yet, and opens
    /// it.
    ///
    /// # Errors
    /// `CreateDir` (`AlreadyExists` if it existed) or `OpenDir`.
    pub(super) fn make_new_dir(&self, name: impl AsRef<OsStr>) -> Result<Dir, PersistError> {
        let name = name.as_ref();
        if !self.make_dir(name)? {
            return Err(PersistError::io(PersistOp::CreateDir, self.child(name), io::ErrorKind::AlreadyExists.into()));
        }
        self.open_dir(name)
    }

    /// Reads the regular file `name` whole; with a `limit`, a file larger
    /// than that is refused before it is read.
    ///
    /// # Errors
    /// `WrongKind` if it is not a regular file (it is then never opened);
    /// `TooLarge`; `OpenFile` (`NotFound` if it does not exist) or `Read`.
    pub(super) fn read_file(&self, name: impl AsRef<OsStr>, limit: Option<u64>) -> Result<Vec<u8>, PersistError> {
        let name = name.as_ref();
        let path = self.child(name);
        let check = |info: EntryInfo| match info.kind {
            FileKind::File => match limit {
                Some(limit) if info.size > limit => {
                    Err(PersistError::TooLarge { path: path.clone(), size: info.size, limit })
                }
                _ => Ok(info.size),
            },
            kind => Err(PersistError::WrongKind { path: path.clone(), expected: FileKind::File, found: kind }),
        };
        match self.info(name)? {
            None => return Err(PersistError::io(PersistOp::OpenFile, path, io::ErrorKind::NotFound.into())),
            Some(info) => check(info)?,
        };
        let c_name = self.c_name(PersistOp::OpenFile, name)?;
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
        let fd = self.open_at(&c_name, flags, 0).map_err(|e| PersistError::io(PersistOp::OpenFile, &path, e))?;
        let mut file = File::from(fd);
        // The entry may have been swapped since it was looked at: check
        // what was opened.
        let meta = file.metadata().map_err(|e| PersistError::io(PersistOp::Inspect, &path, e))?;
        let size = check(EntryInfo { kind: kind_of_type(meta.file_type()), size: meta.len() })?;
        let mut bytes = Vec::new();
        let capacity = usize::try_from(size).unwrap_or(usize::MAX);
        bytes.try_reserve_exact(capacity).map_err(|_| {
            PersistError::io(PersistOp::Read, &path, io::Error::new(io::ErrorKind::OutOfMemory, "too large to hold"))
        })?;
        // At most the size seen: a file that keeps growing cannot keep the
        // save thread reading.
        (&mut file).take(size).read_to_end(&mut bytes).map_err(|e| PersistError::io(PersistOp::Read, &path, e))?;
        Ok(bytes)
    }

    /// Writes a new file `name` holding `bytes` and fsyncs it. The entry
    /// must not exist (whatever its kind; a link is not followed).
    ///
    /// # Errors
    /// `CreateFile`, `Write` or `Sync` on the file.
    pub(super) fn write_new(&self, name: impl AsRef<OsStr>, bytes: &[u8]) -> Result<(), PersistError> {
        let name = name.as_ref();
        let path = self.child(name);
        let c_name = self.c_name(PersistOp::CreateFile, name)?;
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_CLOEXEC;
        let fd = self.open_at(&c_name, flags, 0o666).map_err(|e| PersistError::io(PersistOp::CreateFile, &path, e))?;
        let mut file = File::from(fd);
        let raw = std::os::fd::AsRawFd::as_raw_fd(&file);
        let mut started = 0;
        write_chunks(&mut file, bytes, &path, |done| {
            if done - started >= WRITEBACK_BYTES {
                start_writeback(raw, started, done - started);
                started = done;
            }
        })?;
        file.sync_all().map_err(|e| PersistError::io(PersistOp::Sync, &path, e))
    }

    /// Writes `name` atomically: to `temp` (removed first if it exists),
    /// fsynced, renamed over `name`, and this directory fsynced.
    ///
    /// # Errors
    /// The first step that failed, on its file.
    pub(super) fn replace(&self, name: &str, temp: &str, bytes: &[u8]) -> Result<(), PersistError> {
        self.remove_entry(temp, false)?;
        self.write_new(temp, bytes)?;
        self.rename(temp, name)?;
        self.sync()
    }

    /// Renames `from` to `to`, both in this directory. A link is renamed,
    /// never followed.
    ///
    /// # Errors
    /// `Rename` on `from`.
    pub(super) fn rename(&self, from: impl AsRef<OsStr>, to: impl AsRef<OsStr>) -> Result<(), PersistError> {
        let (from, to) = (from.as_ref(), to.as_ref());
        let c_from = self.c_name(PersistOp::Rename, from)?;
        let c_to = self.c_name(PersistOp::Rename, to)?;
        let fd = self.fd.as_raw_fd();
        // SAFETY: the descriptor is open and both names are NUL-terminated.
        if unsafe { libc::renameat(fd, c_from.as_ptr(), fd, c_to.as_ptr()) } != 0 {
            return Err(PersistError::io(PersistOp::Rename, self.child(from), io::Error::last_os_error()));
        }
        Ok(())
    }

    /// Makes the entries of this directory durable.
    ///
    /// # Errors
    /// `Sync` on the directory.
    pub(super) fn sync(&self) -> Result<(), PersistError> {
        // SAFETY: fsync on a descriptor this value owns.
        if unsafe { libc::fsync(self.fd.as_raw_fd()) } != 0 {
            return Err(PersistError::io(PersistOp::Sync, &self.path, io::Error::last_os_error()));
        }
        Ok(())
    }

    /// The names in this directory (without `.` and `..`) and what each is,
    /// in no particular order. Entries removed while listing are left out.
    ///
    /// # Errors
    /// `ListDir` on the directory, or `Inspect` on an entry.
    pub(super) fn entries(&self) -> Result<Vec<(OsString, FileKind)>, PersistError> {
        let fail = |e| PersistError::io(PersistOp::ListDir, &self.path, e);
        // SAFETY: F_DUPFD_CLOEXEC on an open descriptor; the copy is owned
        // by the stream below (closedir closes it).
        let copy = unsafe { libc::fcntl(self.fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
        if copy < 0 {
            return Err(fail(io::Error::last_os_error()));
        }
        // SAFETY: `copy` is an open directory descriptor that nothing else
        // owns; on success the stream owns it.
        let stream = unsafe { libc::fdopendir(copy) };
        if stream.is_null() {
            let e = io::Error::last_os_error();
            // SAFETY: fdopendir failed, so `copy` is still ours to close.
            unsafe { libc::close(copy) };
            return Err(fail(e));
        }
        let stream = DirStream(stream);
        // The copy shares its offset with `self.fd`: start from the top.
        // SAFETY: `stream` is a valid open stream.
        unsafe { libc::rewinddir(stream.0) };
        let mut names = Vec::new();
        loop {
            // readdir returns NULL both at the end and on error; only errno
            // tells them apart.
            // SAFETY: writing the calling thread's errno.
            unsafe { *errno() = 0 };
            // SAFETY: `stream` is a valid open stream.
            let entry = unsafe { libc::readdir(stream.0) };
            if entry.is_null() {
                let e = io::Error::last_os_error();
                if e.raw_os_error().is_some_and(|n| n != 0) {
                    return Err(fail(e));
                }
                break;
            }
            // SAFETY: readdir returned a valid entry whose `d_name` is
            // NUL-terminated; it is copied before the next call.
            let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
            let name = name.to_bytes();
            if name != b"." && name != b".." {
                names.push(OsStr::from_bytes(name).to_owned());
            }
        }
        drop(stream);
        let mut found = Vec::with_capacity(names.len());
        for name in names {
            if let Some(info) = self.info(&name)? {
                found.push((name, info.kind));
            }
        }
        Ok(found)
    }

    /// Removes `name` from this directory: a directory with everything in
    /// it (nothing below it is followed; trees deeper than
    /// [`MAX_REMOVE_DEPTH`] are refused), anything else as an entry (a link
    /// itself, never its target). Nothing to do if it does not exist.
    ///
    /// # Errors
    /// `Remove` (or `OpenDir`, `ListDir`) on the entry at fault.
    pub(super) fn remove_all(&self, name: impl AsRef<OsStr>) -> Result<(), PersistError> {
        self.remove_tree(name.as_ref(), MAX_REMOVE_DEPTH)
    }

    fn remove_tree(&self, name: &OsStr, depth: usize) -> Result<(), PersistError> {
        match self.info(name)? {
            None => Ok(()),
            Some(EntryInfo { kind: FileKind::Directory, .. }) => {
                if depth == 0 {
                    let too_deep = io::Error::other(format!("more than {MAX_REMOVE_DEPTH} directories deep"));
                    return Err(PersistError::io(PersistOp::Remove, self.child(name), too_deep));
                }
                let inner = self.open_dir(name)?;
                for (entry, _) in inner.entries()? {
                    inner.remove_tree(&entry, depth - 1)?;
                }
                drop(inner);
                self.remove_entry(name, true)
            }
            Some(_) => self.remove_entry(name, false),
        }
    }

    /// Removes the entry `name` (an empty directory if `dir`); nothing to
    /// do if it does not exist.
    fn remove_entry(&self, name: impl AsRef<OsStr>, dir: bool) -> Result<(), PersistError> {
        let name = name.as_ref();
        let c_name = self.c_name(PersistOp::Remove, name)?;
        let flags = if dir { libc::AT_REMOVEDIR } else { 0 };
        // SAFETY: the descriptor is open and `c_name` is NUL-terminated.
        if unsafe { libc::unlinkat(self.fd.as_raw_fd(), c_name.as_ptr(), flags) } != 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::NotFound {
                return Err(PersistError::io(PersistOp::Remove, self.child(name), e));
            }
        }
        Ok(())
    }

    /// `name` as a C string, if it is one plain entry name: not empty, not
    /// `.` or `..`, without `/` or NUL. Every name passed here is one
    /// already (fixed names, digits, checked save names, names read from a
    /// directory); this keeps it so.
    fn c_name(&self, op: PersistOp, name: &OsStr) -> Result<CString, PersistError> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes == b"." || bytes == b".." || bytes.contains(&b'/') {
            let e = io::Error::new(io::ErrorKind::InvalidInput, "not a plain entry name");
            return Err(PersistError::io(op, self.child(name), e));
        }
        CString::new(bytes).map_err(|_| {
            PersistError::io(op, self.child(name), io::Error::new(io::ErrorKind::InvalidInput, "a NUL in the name"))
        })
    }

    /// `openat` relative to this directory, retrying on `EINTR`.
    fn open_at(&self, name: &CStr, flags: libc::c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
        loop {
            // SAFETY: the descriptor is open and `name` is NUL-terminated;
            // the mode is passed as the variadic argument open expects.
            let fd = unsafe { libc::openat(self.fd.as_raw_fd(), name.as_ptr(), flags, libc::c_uint::from(mode)) };
            if fd >= 0 {
                // SAFETY: `fd` was just opened and is owned by nothing else.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// A directory stream, closed on drop.
struct DirStream(*mut libc::DIR);

impl Drop for DirStream {
    fn drop(&mut self) {
        // SAFETY: the stream is valid and closed only here.
        unsafe { libc::closedir(self.0) };
    }
}

/// The calling thread's `errno`.
#[cfg(any(target_os = "linux", target_os = "emscripten", target_os = "hurd", target_os = "redox"))]
fn errno() -> *mut libc::c_int {
    // SAFETY: returns a pointer to the calling thread's errno.
    unsafe { libc::__errno_location() }
}

/// The calling thread's `errno`.
#[cfg(any(target_os = "android", target_os = "netbsd", target_os = "openbsd"))]
fn errno() -> *mut libc::c_int {
    // SAFETY: returns a pointer to the calling thread's errno.
    unsafe { libc::__errno() }
}

/// The calling thread's `errno`.
#[cfg(any(target_vendor = "apple", target_os = "freebsd", target_os = "dragonfly"))]
fn errno() -> *mut libc::c_int {
    // SAFETY: returns a pointer to the calling thread's errno.
    unsafe { libc::__error() }
}

/// The calling thread's `errno`.
#[cfg(any(target_os = "illumos", target_os = "solaris"))]
fn errno() -> *mut libc::c_int {
    // SAFETY: returns a pointer to the calling thread's errno.
    unsafe { libc::___errno() }
}

/// The kind of file a `st_mode` describes.
fn kind_of(mode: libc::mode_t) -> FileKind {
    match mode & libc::S_IFMT {
        libc::S_IFREG => FileKind::File,
        libc::S_IFDIR => FileKind::Directory,
        libc::S_IFLNK => FileKind::Symlink,
        libc::S_IFIFO => FileKind::Fifo,
        libc::S_IFSOCK => FileKind::Socket,
        libc::S_IFCHR => FileKind::CharDevice,
        libc::S_IFBLK => FileKind::BlockDevice,
        _ => FileKind::Other,
    }
}

/// The kind of file a [`std::fs::FileType`] describes.
fn kind_of_type(t: std::fs::FileType) -> FileKind {
    use std::os::unix::fs::FileTypeExt;
    if t.is_file() {
        FileKind::File
    } else if t.is_dir() {
        FileKind::Directory
    } else if t.is_symlink() {
        FileKind::Symlink
    } else if t.is_fifo() {
        FileKind::Fifo
    } else if t.is_socket() {
        FileKind::Socket
    } else if t.is_char_device() {
        FileKind::CharDevice
    } else if t.is_block_device() {
        FileKind::BlockDevice
    } else {
        FileKind::Other
    }
}

/// Writes `bytes` to `out` in [`WRITE_CHUNK_BYTES`] calls; `path` names the
/// file in an error.
///
/// # Errors
/// `Write` on `path`, with the writer's reason (`StorageFull` for a full
/// disk).
pub(super) fn write_chunks(
    out: &mut impl Write,
    bytes: &[u8],
    path: &Path,
    mut written: impl FnMut(usize),
) -> Result<(), PersistError> {
    let mut done = 0;
    for chunk in bytes.chunks(WRITE_CHUNK_BYTES) {
        out.write_all(chunk).map_err(|e| PersistError::io(PersistOp::Write, path, e))?;
        done += chunk.len();
        written(done);
        crate::background::yield_point();
    }
    Ok(())
}

/// Bytes of a file written after which their write-back to disk is started
/// ([`start_writeback`]): 1 MiB. Left to the final `fsync`, the write-back
/// of a 16 MiB data file ran in the save thread's `fsync` call for 3 ms
/// of CPU in one piece (`perf sched`, docs/performance.md), during which
/// the kernel did not give that core up; a piece at a time it is a tenth
/// of that, as Redis's `rdb-save-incremental-fsync` does for its saves.
const WRITEBACK_BYTES: usize = 1 << 20;

/// Starts the write-back of `len` bytes of the open file `fd` from
/// `offset` without waiting for it (Linux's `sync_file_range`); the
/// `fsync` that follows waits for it and reports any error.
fn start_writeback(fd: std::os::fd::RawFd, offset: usize, len: usize) {
    #[cfg(target_os = "linux")]
    {
        let (Ok(offset), Ok(len)) = (libc::off64_t::try_from(offset), libc::off64_t::try_from(len)) else { return };
        // SAFETY: a plain system call on a descriptor the caller holds
        // open; it only starts write-back. Its error is ignored: the fsync
        // after it reports what matters.
        let _ = unsafe { libc::sync_file_range(fd, offset, len, libc::SYNC_FILE_RANGE_WRITE) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (fd, offset, len);
}

/// The parent to fsync after creating `path` (`.` for a bare relative
/// name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Creates `path` and any missing parents, fsyncing each parent a directory
/// was created in. For the persist path and above it only: these are the
/// operator's directories, reached by name.
fn ensure_dir(path: &Path) -> Result<(), PersistError> {
    if path.is_dir() {
        return Ok(());
    }
    let parent = parent_of(path);
    if parent != path {
        ensure_dir(parent)?;
    }
    match std::fs::create_dir(path) {
        Ok(()) => Dir::open(parent)?.sync(),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(PersistError::io(PersistOp::CreateDir, path, e)),
    }
}

/// A stamp from a directory name: decimal digits only.
pub(super) fn parse_stamp(name: &OsStr) -> Option<u64> {
    let name = name.to_str()?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    name.parse().ok()
}

/// The stamps (all-digit names) under a save name's directory, newest
/// first, with what each entry is (a finished save is a directory; the
/// caller decides what to do with anything else).
///
/// # Errors
/// The directory cannot be listed.
pub(super) fn stamps(name_dir: &Dir) -> Result<Vec<(u64, OsString, FileKind)>, PersistError> {
    let mut found: Vec<_> = name_dir
        .entries()?
        .into_iter()
        .filter_map(|(name, kind)| parse_stamp(&name).map(|stamp| (stamp, name, kind)))
        .collect();
    crate::sort::heap_sort_by(&mut found, |a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)).is_lt());
    Ok(found)
}

/// A stamp for a new save under `name_dir`: the wall clock in nanoseconds,
/// or one more than the newest stamp there (finished or partial, of any
/// kind of entry) if the clock is behind it, so the new save is always the
/// newest.
///
/// # Errors
/// The directory cannot be listed.
pub(super) fn next_stamp(name_dir: &Dir) -> Result<u64, PersistError> {
    let mut newest = 0;
    for (name, _) in name_dir.entries()? {
        let digits = name.to_str().map(|n| n.strip_suffix(PARTIAL_SUFFIX).unwrap_or(n));
        if let Some(stamp) = digits.and_then(|d| parse_stamp(OsStr::new(d))) {
            newest = newest.max(stamp);
        }
    }
    Ok(unix_nanos().max(newest.saturating_add(1)))
}

/// Removes the `<stamp>.partial` entries a crash (or anything else) left
/// under `name_dir`, whatever their kind; links are removed, not followed.
/// Only one save runs at a time per server, so none of them is being
/// written. Failures are logged: a partial entry is never loaded anyway.
pub(super) fn remove_leftovers(name_dir: &Dir) {
    let entries = match name_dir.entries() {
        Ok(entries) => entries,
        Err(e) => {
            log::warn!("cannot look for leftovers of interrupted saves: {}", crate::error::Chain(&e));
            return;
        }
    };
    for (name, _) in entries {
        if name.to_str().is_some_and(|n| n.ends_with(PARTIAL_SUFFIX)) {
            let path = name_dir.child(&name);
            match name_dir.remove_all(&name) {
                Ok(()) => log::info!("removed {}, left by an interrupted save", path.display()),
                Err(e) => log::warn!(
                    "cannot remove {}, left by an interrupted save: {}",
                    path.display(),
                    crate::error::Chain(&e)
                ),
            }
        }
    }
}

/// The data files of a save, in order: numbered files (`0`, `1`, …) by
/// number, then any others by name.
///
/// # Errors
/// The directory cannot be listed, or holds something that is not a
/// regular file (`WrongKind`).
pub(super) fn data_files(data_dir: &Dir) -> Result<Vec<OsString>, PersistError> {
    let mut files = Vec::new();
    for (name, kind) in data_dir.entries()? {
        if kind != FileKind::File {
            return Err(PersistError::WrongKind { path: data_dir.child(&name), expected: FileKind::File, found: kind });
        }
        files.push((parse_stamp(&name), name));
    }
    crate::sort::heap_sort_by(&mut files, |a, b| match (a.0, b.0) {
        (Some(x), Some(y)) => x < y,
        (Some(_), None) => true,
        (None, Some(_)) => false,
        (None, None) => a.1 < b.1,
    });
    Ok(files.into_iter().map(|f| f.1).collect())
}
