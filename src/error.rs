//! The errors that cross the library's boundary: bad settings
//! ([`ConfigError`]), failed saves and loads ([`PersistError`]), and what
//! stops a server from starting or from saving on its way out ([`Error`]).
//! A peer's bad request is never one of these; it gets a status in its
//! reply.
//!
//! Each type's `Display` is one line for a human without the text of its
//! cause; [`std::error::Error::source`] gives the cause (an `io::Error`,
//! usually), so a host prints the whole chain once, joining the links
//! with `": "`.
//!
//! Owns: the error types and their wording. Must not touch: files,
//! sockets, the store.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::store::SaveKind;

/// A setting that cannot be used. Every variant names what to change: the
/// field (a config file member such as `persist.path`, or a command-line
/// flag such as `--port`), or the config file.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting has a value that cannot be used.
    ///
    /// The caller should change that setting (`field`, as the user wrote
    /// it) to what `problem` says is accepted, and start again.
    #[non_exhaustive]
    Field {
        /// The config member (`maxPayload`, `persist.saveOnExit`) or flag
        /// (`--max-payload`) at fault.
        field: String,
        /// What is wrong and what is accepted, e.g. `must be from 64 to
        /// 67108864 bytes (got 10)`.
        problem: String,
        /// The config file the member was read from, if any.
        file: Option<PathBuf>,
    },
    /// The config file could not be read.
    ///
    /// The caller should check that `path` names a readable file (`source`
    /// says why it is not).
    #[non_exhaustive]
    Read {
        /// The config file.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The config document is not JSON (comments allowed) or not a JSON
    /// object.
    ///
    /// The caller should fix the document where `problem` points (it gives
    /// line and column).
    #[non_exhaustive]
    Syntax {
        /// What the parser found.
        problem: String,
        /// The config file, if the document came from one.
        file: Option<PathBuf>,
    },
}

impl ConfigError {
    /// An error about one field: `field` is a config member (`maxPayload`)
    /// or a flag (`--max-payload`), `problem` what is wrong with its value.
    pub fn field(field: impl Into<String>, problem: impl fmt::Display) -> ConfigError {
        ConfigError::Field { field: field.into(), problem: problem.to_string(), file: None }
    }

    /// The field at fault, if the error is about one.
    pub fn field_name(&self) -> Option<&str> {
        match self {
            ConfigError::Field { field, .. } => Some(field),
            ConfigError::Read { .. } | ConfigError::Syntax { .. } => None,
        }
    }

    /// The config file at fault, if the setting came from one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            ConfigError::Field { file, .. } | ConfigError::Syntax { file, .. } => file.as_deref(),
            ConfigError::Read { path, .. } => Some(path),
        }
    }

    /// The same error, noted as coming from the config file `path`.
    pub(crate) fn in_file(mut self, path: &Path) -> ConfigError {
        if let ConfigError::Field { file, .. } | ConfigError::Syntax { file, .. } = &mut self {
            *file = Some(path.to_owned());
        }
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let ConfigError::Field { file: Some(path), .. } | ConfigError::Syntax { file: Some(path), .. } = self {
            write!(f, "config file {}: ", path.display())?;
        }
        match self {
            ConfigError::Field { field, problem, .. } => write!(f, "{field}: {problem}"),
            ConfigError::Read { path, .. } => write!(f, "cannot read config file {}", path.display()),
            ConfigError::Syntax { problem, .. } => f.write_str(problem),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } => Some(source),
            ConfigError::Field { .. } | ConfigError::Syntax { .. } => None,
        }
    }
}

/// The file-system step a [`PersistError::Io`] failed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PersistOp {
    /// Creating a directory: the persist path, a save name's directory, or
    /// one of a save's own.
    CreateDir,
    /// Opening a directory.
    OpenDir,
    /// Listing a directory's entries.
    ListDir,
    /// Finding out what an entry is (`fstatat` without following links).
    Inspect,
    /// Creating a new file.
    CreateFile,
    /// Opening a file to read it.
    OpenFile,
    /// Reading a file.
    Read,
    /// Writing a file.
    Write,
    /// Flushing a file or directory to the disk (`fsync`).
    Sync,
    /// Renaming an entry into place.
    Rename,
    /// Removing an entry.
    Remove,
}

impl PersistOp {
    /// The verb of a message: `cannot <verb> <path>`.
    fn verb(self) -> &'static str {
        match self {
            PersistOp::CreateDir => "create the directory",
            PersistOp::OpenDir => "open the directory",
            PersistOp::ListDir => "list the directory",
            PersistOp::Inspect => "inspect",
            PersistOp::CreateFile => "create",
            PersistOp::OpenFile => "open",
            PersistOp::Read => "read",
            PersistOp::Write => "write",
            PersistOp::Sync => "fsync",
            PersistOp::Rename => "rename",
            PersistOp::Remove => "remove",
        }
    }
}

impl fmt::Display for PersistOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.verb())
    }
}

/// What an entry in a save directory is, as `lstat` sees it (links are not
/// followed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// Something else.
    Other,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::File => "a regular file",
            FileKind::Directory => "a directory",
            FileKind::Symlink => "a symbolic link",
            FileKind::Fifo => "a FIFO",
            FileKind::Socket => "a socket",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Other => "an unknown kind of file",
        })
    }
}

/// Why a save or a load failed. Nothing was marked complete (a save) or
/// applied (a load) either way. `docs/persistence.md` says which of these
/// a peer's `KV_SAVE`/`SH_SAVE`/`KV_LOAD`/`SH_LOAD` gets as which status.
#[derive(Debug)]
#[non_exhaustive]
pub enum PersistError {
    /// A file-system step failed: `op` on `path`, for `source`'s reason.
    ///
    /// The caller should look at `source.kind()`: `StorageFull` (or
    /// `FileTooLarge`, `QuotaExceeded`) means free space or raise the limit
    /// and save again; `PermissionDenied` or `ReadOnlyFilesystem` means
    /// give the server's user write access to the directory named; other
    /// kinds are reported as they are.
    #[non_exhaustive]
    Io {
        /// The step that failed.
        op: PersistOp,
        /// The file or directory it failed on.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// An entry is not what a save holds there: a FIFO, socket, device,
    /// symbolic link or directory where a file is expected, or anything but
    /// a directory where one is expected. It is never opened, read or
    /// followed, and nothing is written through it.
    ///
    /// The caller should remove or rename the entry named: something other
    /// than ndb put it inside the persist path.
    #[non_exhaustive]
    WrongKind {
        /// The entry.
        path: PathBuf,
        /// What a save holds there.
        expected: FileKind,
        /// What is there.
        found: FileKind,
    },
    /// A file is larger than a save's file of its kind can be (`md.json`
    /// holds at most 64 KiB; NemesisDB's and ndb's are under 300 bytes).
    ///
    /// The caller should replace the file from a backup or remove its save:
    /// it was not written by ndb or NemesisDB.
    #[non_exhaustive]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size in bytes.
        size: u64,
        /// The most a file of its kind may hold.
        limit: u64,
    },
    /// A file's contents are not what a save holds: not JSON, or not shaped
    /// as `md.json` or a data file of the save's kind (a truncated file,
    /// for instance).
    ///
    /// The caller should load an older save (remove or rename the damaged
    /// stamp directory) or restore the file from a backup.
    #[non_exhaustive]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, with a line and column where the parser
        /// gives one.
        problem: String,
    },
    /// The persist path holds no complete save of this name (and kind).
    ///
    /// The caller should check the name and the directory; nothing is
    /// damaged.
    #[non_exhaustive]
    NoSave {
        /// The directory searched.
        root: PathBuf,
        /// The save name.
        name: String,
        /// The kind looked for, or `None` for either.
        kind: Option<SaveKind>,
    },
    /// The name cannot be a save name: empty, `.`, or holding `/`, `\`,
    /// `..` or a NUL byte.
    ///
    /// The caller should use a name that is one plain directory name.
    #[non_exhaustive]
    InvalidName {
        /// The name given.
        name: String,
    },
    /// The thread that runs saves and loads could not run this one (it
    /// could not be started, or the job panicked).
    ///
    /// The caller should retry; if it happens again, report it as a bug
    /// with the log.
    #[non_exhaustive]
    WorkerFailed {
        /// What happened.
        reason: String,
    },
}

impl PersistError {
    /// An error of `op` on `path` for `source`.
    pub(crate) fn io(op: PersistOp, path: impl Into<PathBuf>, source: io::Error) -> PersistError {
        PersistError::Io { op, path: path.into(), source }
    }

    /// The file or directory at fault, if the error names one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            PersistError::Io { path, .. }
            | PersistError::WrongKind { path, .. }
            | PersistError::TooLarge { path, .. }
            | PersistError::Corrupt { path, .. } => Some(path),
            PersistError::NoSave { root, .. } => Some(root),
            PersistError::InvalidName { .. } | PersistError::WorkerFailed { .. } => None,
        }
    }

    /// The step that failed, for [`PersistError::Io`].
    pub fn op(&self) -> Option<PersistOp> {
        match self {
            PersistError::Io { op, .. } => Some(*op),
            _ => None,
        }
    }

    /// The operating system's reason, for [`PersistError::Io`].
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            PersistError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl fmt::Display for PersistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PersistError::Io { op, path, .. } => write!(f, "cannot {op} {}", path.display()),
            PersistError::WrongKind { path, expected, found } => {
                write!(f, "{} is {found}, not {expected}", path.display())
            }
            PersistError::TooLarge { path, size, limit } => {
                write!(f, "{} holds {size} bytes, more than the {limit} it may", path.display())
            }
            PersistError::Corrupt { path, problem } => write!(f, "{} is damaged: {problem}", path.display()),
            PersistError::NoSave { root, name, kind } => {
                let kind = kind.map_or(String::new(), |k| format!("{} ", k.as_str()));
                write!(f, "no complete {kind}save named {name:?} in {}", root.display())
            }
            PersistError::InvalidName { name } => {
                write!(f, "{name:?} is not a valid save name (empty, \".\", or holds /, \\, .. or NUL)")
            }
            PersistError::WorkerFailed { reason } => write!(f, "the save thread failed: {reason}"),
        }
    }
}

impl std::error::Error for PersistError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PersistError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Why a server could not start, or could not save on its way out.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The settings are unusable.
    ///
    /// The caller should fix the setting the [`ConfigError`] names. Its
    /// `Display` and `source` are this error's own.
    Config(ConfigError),
    /// The listen address could not be resolved or bound.
    ///
    /// The caller should pick another `ip`/`port`, or stop what holds the
    /// port (`source.kind()` is `AddrInUse` then).
    #[non_exhaustive]
    Bind {
        /// `ip:port` as configured.
        address: String,
        /// The operating system's reason.
        source: io::Error,
    },
    /// Another set-up step failed: creating a `Poll`, a waker, a thread, or
    /// registering with the `Poll`.
    ///
    /// The caller should treat it as a resource shortage (descriptors,
    /// memory, threads) and report it. Its `Display` and `source` are the
    /// `io::Error`'s own.
    Io(io::Error),
    /// [`Server::load_at_start`](crate::Server::load_at_start) loaded
    /// nothing.
    ///
    /// The caller should act on `source` (see [`PersistError`]); the store
    /// is as it was, so it may also serve without the save.
    #[non_exhaustive]
    Load {
        /// The save name asked for.
        name: String,
        /// Why nothing was loaded.
        source: PersistError,
    },
    /// [`Server::save_all`](crate::Server::save_all) could not write one of
    /// its saves.
    ///
    /// The caller should act on `source` (see [`PersistError`]) while the
    /// data is still in memory, and call it again; the saves already on
    /// disk are untouched.
    #[non_exhaustive]
    Save {
        /// The save name.
        name: String,
        /// Which of the two saves failed (the KV save is written first).
        kind: SaveKind,
        /// Why.
        source: PersistError,
    },
    /// The durable log (`persist.log`) could not be opened or replayed at
    /// start-up: unreadable, damaged before its last record, or written by
    /// a newer ndb.
    ///
    /// The caller should report it and stop: serving without the log
    /// would drop acknowledged writes. `reason` says what to do (for
    /// damage, `--log-truncate-at OFFSET`).
    #[non_exhaustive]
    Log {
        /// The log file or directory at fault.
        path: std::path::PathBuf,
        /// What is wrong, and the way out.
        reason: String,
    },
}

impl Error {
    /// The persistence error inside, for [`Error::Load`] and
    /// [`Error::Save`].
    pub fn persist_error(&self) -> Option<&PersistError> {
        match self {
            Error::Load { source, .. } | Error::Save { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => e.fmt(f),
            Error::Bind { address, source } if source.kind() == io::ErrorKind::AddrInUse => {
                write!(f, "cannot listen on {address}: the address is already in use (is another server running?)")
            }
            Error::Bind { address, .. } => write!(f, "cannot listen on {address}"),
            Error::Io(e) => e.fmt(f),
            Error::Load { name, .. } => write!(f, "cannot load {name:?}"),
            Error::Save { name, kind, .. } => write!(f, "cannot write the {} save {name:?}", kind.as_str()),
            Error::Log { path, reason } => write!(f, "cannot use the log {}: {reason}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Transparent: the inner error's own text is this one's.
            Error::Config(e) => e.source(),
            Error::Io(e) => e.source(),
            Error::Bind { source, .. } => Some(source),
            Error::Load { source, .. } | Error::Save { source, .. } => Some(source),
            Error::Log { .. } => None,
        }
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Error {
        Error::Config(e)
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

/// An error and its causes on one line, joined with `": "`, for log lines.
pub(crate) struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_link_of_a_chain_is_printed_once() {
        let e = Error::Save {
            name: "bye".into(),
            kind: SaveKind::Kv,
            source: PersistError::io(
                PersistOp::Write,
                "/s/bye/1.partial/data/0",
                io::Error::from_raw_os_error(libc::ENOSPC),
            ),
        };
        let line = Chain(&e).to_string();
        assert!(line.starts_with("cannot write the KV save \"bye\": cannot write /s/bye/1.partial/data/0: "), "{line}");
        assert_eq!(line.matches("No space left on device").count(), 1, "{line}");
        let config = Error::from(ConfigError::field("--port", "must be a port number"));
        assert_eq!(Chain(&config).to_string(), "--port: must be a port number");
        let read = Error::from(ConfigError::Read {
            path: "/etc/ndb.json".into(),
            source: io::Error::from(io::ErrorKind::NotFound),
        });
        assert_eq!(Chain(&read).to_string(), "cannot read config file /etc/ndb.json: entity not found");
    }

    #[test]
    fn config_errors_name_the_field_and_the_file() {
        let e = ConfigError::field("maxPayload", "must be from 64 to 67108864 bytes (got 10)")
            .in_file(Path::new("/etc/ndb.json"));
        assert_eq!(e.field_name(), Some("maxPayload"));
        assert_eq!(e.file(), Some(Path::new("/etc/ndb.json")));
        assert_eq!(e.to_string(), "config file /etc/ndb.json: maxPayload: must be from 64 to 67108864 bytes (got 10)");
    }
}
