//! The typed values the client's command methods take and return.
//!
//! Each type mirrors one reply (or request) shape of `docs/protocol.md`;
//! parsing a reply body into it lives here too, so a shape is described in
//! one place. Nothing here does I/O.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use super::error::Error;

/// A session token: an unsigned 64-bit integer, never 0 for a live session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(pub u64);

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u64> for Token {
    fn from(value: u64) -> Token {
        Token(value)
    }
}

impl FromStr for Token {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Token, Self::Err> {
        s.parse().map(Token)
    }
}

/// How a new session expires (`SH_NEW`'s `expiry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expiry {
    /// Seconds until the session expires; 0 means never.
    pub duration_secs: u64,
    /// Delete the session when it expires (otherwise only its keys are
    /// cleared and the expiry restarts).
    pub delete_session: bool,
    /// `SH_SET` and `SH_ADD` restart the expiry.
    pub extend_on_set_add: bool,
    /// `SH_GET` restarts the expiry.
    pub extend_on_get: bool,
}

impl Expiry {
    /// Expires after `duration_secs`, clearing its keys; nothing extends it.
    pub fn after_secs(duration_secs: u64) -> Expiry {
        Expiry { duration_secs, delete_session: false, extend_on_set_add: false, extend_on_get: false }
    }

    /// Sets whether the session is deleted (rather than cleared) on expiry.
    pub fn delete_session(mut self, yes: bool) -> Expiry {
        self.delete_session = yes;
        self
    }

    /// Sets whether `SH_SET`/`SH_ADD` restart the expiry.
    pub fn extend_on_set_add(mut self, yes: bool) -> Expiry {
        self.extend_on_set_add = yes;
        self
    }

    /// Sets whether `SH_GET` restarts the expiry.
    pub fn extend_on_get(mut self, yes: bool) -> Expiry {
        self.extend_on_get = yes;
        self
    }

    /// The request member, with all four fields as the Python client sends it.
    pub(crate) fn to_json(self) -> Value {
        serde_json::json!({
            "deleteSession": self.delete_session,
            "duration": self.duration_secs,
            "extendOnGet": self.extend_on_get,
            "extendOnSetAdd": self.extend_on_set_add,
        })
    }
}

/// What `SH_INFO` says about one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session's token.
    pub token: Token,
    /// Keys in the session.
    pub key_count: u64,
    /// Always false (shared sessions were a NemesisDB 0.6 feature).
    pub shared: bool,
    /// How it expires; `None` when it never does.
    pub expiry: Option<ExpiryInfo>,
}

/// The expiry part of [`SessionInfo`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpiryInfo {
    /// The configured duration in seconds.
    pub duration_secs: u64,
    /// Whole seconds left (negative on NemesisDB when overdue).
    pub remaining_secs: i64,
    /// Deleted (not cleared) on expiry.
    pub delete_session: bool,
    /// `SH_SET`/`SH_ADD` restart the expiry.
    pub extend_on_set_add: bool,
    /// `SH_GET` restarts the expiry.
    pub extend_on_get: bool,
}

/// `SH_INFO_ALL`: totals over every session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTotals {
    /// Live sessions.
    pub sessions: u64,
    /// Keys over all sessions.
    pub keys: u64,
}

/// A completed `KV_SAVE` or `SH_SAVE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Saved {
    /// The save's name.
    pub name: String,
    /// How long the save took, in milliseconds.
    pub duration_ms: u64,
}

/// A completed `KV_LOAD`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvLoaded {
    /// The save's name.
    pub name: String,
    /// Keys read.
    pub keys: u64,
    /// How long the load took, in milliseconds.
    pub duration_ms: u64,
}

/// A completed `SH_LOAD`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionsLoaded {
    /// The save's name.
    pub name: String,
    /// Sessions created.
    pub sessions: u64,
    /// Keys over the sessions created.
    pub keys: u64,
}

/// What `KV_FIND` should return (its `rsp` parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindReply {
    /// The names of the keys whose value matches.
    Keys,
    /// The matching paths inside each value.
    Paths,
    /// The matching keys with their whole values.
    Kv,
}

impl FindReply {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FindReply::Keys => "keys",
            FindReply::Paths => "paths",
            FindReply::Kv => "kv",
        }
    }
}

/// A `KV_FIND` result, in the form [`FindReply`] asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum Found {
    /// Matching key names.
    Keys(Vec<String>),
    /// Matching normalized paths.
    Paths(Vec<String>),
    /// Matching keys and their values.
    Kv(Map<String, Value>),
}

/// `SV_INFO`: the server's version, whether saves are enabled, and every
/// other member it reports (ndb's statistics are listed in
/// `docs/operations.md`; a NemesisDB server sends none).
#[derive(Clone, Debug, PartialEq)]
pub struct SvInfo {
    /// `serverVersion`.
    pub server_version: String,
    /// `persistEnabled`.
    pub persist_enabled: bool,
    /// Every member of the reply except `st`, these two included.
    pub members: Map<String, Value>,
}

impl SvInfo {
    /// An unsigned integer member, e.g. `info.u64("requests")`.
    pub fn u64(&self, name: &str) -> Option<u64> {
        self.members.get(name).and_then(Value::as_u64)
    }
}

/// A reply body whose status was success, with typed field access.
pub(crate) struct Body {
    /// The reply's key, e.g. `KV_COUNT_RSP`, for error messages.
    pub rsp: String,
    pub map: Map<String, Value>,
}

impl Body {
    fn missing(&self, name: &str, what: &str) -> Error {
        Error::Reply(format!("{}: `{name}` missing or not {what}", self.rsp))
    }

    pub fn u64(&self, name: &str) -> Result<u64, Error> {
        self.map.get(name).and_then(Value::as_u64).ok_or_else(|| self.missing(name, "an unsigned integer"))
    }

    pub fn i64(&self, name: &str) -> Result<i64, Error> {
        self.map.get(name).and_then(Value::as_i64).ok_or_else(|| self.missing(name, "an integer"))
    }

    pub fn bool(&self, name: &str) -> Result<bool, Error> {
        self.map.get(name).and_then(Value::as_bool).ok_or_else(|| self.missing(name, "a boolean"))
    }

    pub fn string(&self, name: &str) -> Result<String, Error> {
        self.map.get(name).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| self.missing(name, "a string"))
    }

    pub fn strings(&self, name: &str) -> Result<Vec<String>, Error> {
        let items = self.map.get(name).and_then(Value::as_array).ok_or_else(|| self.missing(name, "an array"))?;
        items.iter().map(|v| v.as_str().map(str::to_owned).ok_or_else(|| self.missing(name, "strings"))).collect()
    }

    pub fn tokens(&self, name: &str) -> Result<Vec<Token>, Error> {
        let items = self.map.get(name).and_then(Value::as_array).ok_or_else(|| self.missing(name, "an array"))?;
        items.iter().map(|v| v.as_u64().map(Token).ok_or_else(|| self.missing(name, "tokens"))).collect()
    }

    pub fn object(&mut self, name: &str) -> Result<Map<String, Value>, Error> {
        match self.map.remove(name) {
            Some(Value::Object(map)) => Ok(map),
            _ => Err(self.missing(name, "an object")),
        }
    }

    pub fn session_info(mut self) -> Result<SessionInfo, Error> {
        let expiry = if self.bool("expires")? {
            let rsp = self.rsp.clone();
            let expiry = Body { rsp: format!("{rsp}.expiry"), map: self.object("expiry")? };
            Some(ExpiryInfo {
                duration_secs: expiry.u64("duration")?,
                remaining_secs: expiry.i64("remaining")?,
                delete_session: expiry.bool("deleteSession")?,
                extend_on_set_add: expiry.bool("extendOnSetAdd")?,
                extend_on_get: expiry.bool("extendOnGet")?,
            })
        } else {
            None
        };
        Ok(SessionInfo {
            token: Token(self.u64("tkn")?),
            key_count: self.u64("keyCnt")?,
            shared: self.bool("shared")?,
            expiry,
        })
    }
}
