//! The errors that cross module lines: bad settings and failed set-up.
//! A peer's bad request is never one of these; it gets a status in its reply.

use std::fmt;
use std::io;

/// A setting that cannot be used, as one line naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl ConfigError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> ConfigError {
        ConfigError(message.into())
    }

    /// An error about one field: `<field>: <problem>`.
    pub fn field(field: &str, problem: impl fmt::Display) -> ConfigError {
        ConfigError(format!("{field}: {problem}"))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Why a server could not start.
#[derive(Debug)]
pub enum Error {
    /// The settings are unusable.
    Config(ConfigError),
    /// The listen address could not be resolved or bound.
    Bind {
        /// `ip:port` as configured.
        address: String,
        /// The operating system's reason.
        source: io::Error,
    },
    /// Another set-up step failed.
    Io(io::Error),
    /// A load at start-up or a save at exit failed (one line saying why).
    Persist(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(e) => e.fmt(f),
            Error::Bind { address, source } if source.kind() == io::ErrorKind::AddrInUse => {
                write!(f, "cannot listen on {address}: the address is already in use (is another server running?)")
            }
            Error::Bind { address, source } => write!(f, "cannot listen on {address}: {source}"),
            Error::Io(e) => e.fmt(f),
            Error::Persist(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Config(e) => Some(e),
            Error::Bind { source, .. } => Some(source),
            Error::Io(e) => Some(e),
            Error::Persist(_) => None,
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
