//! What can go wrong in a client call: the connection, the reply, or the
//! server's answer (a status that is not success).

use std::fmt;
use std::io;

use serde_json::Value;

use crate::Status;

/// A client call's failure.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not a `ws://` URL with a host.
    Url(String),
    /// No TCP connection could be made to the server.
    Connect {
        /// The URL being connected to.
        url: String,
        /// The operating system's reason (refused, timed out, unresolvable).
        source: io::Error,
    },
    /// The TCP connection was made, but the WebSocket upgrade failed.
    Handshake {
        /// The URL being connected to.
        url: String,
        /// Why, e.g. `HTTP 503 Service Unavailable`.
        reason: String,
    },
    /// No reply came within the timeout. The connection is out of step
    /// (a late reply would answer the next request): drop the client.
    Timeout,
    /// The server closed the connection, with this close code if it sent one.
    Closed(Option<u16>),
    /// A reply larger than the client accepts
    /// ([`Builder::max_reply_bytes`](crate::Builder::max_reply_bytes)). The
    /// connection is out of step: drop the client.
    ReplyTooLarge {
        /// The reply's size in bytes as far as the client knew it: as its
        /// frame header announced it, or, for a reply the server sends in
        /// fragments (any over 1 MiB), what had arrived when it passed the
        /// limit; the reply is at least this large.
        size: usize,
        /// The client's limit in bytes.
        limit: usize,
    },
    /// A transport or WebSocket failure.
    WebSocket(tungstenite::Error),
    /// A request argument could not be written as JSON (e.g. a map whose
    /// keys are not strings).
    Request(serde_json::Error),
    /// The reply is not what the protocol describes.
    Reply(String),
    /// The server answered with a status other than the command's success.
    Status(StatusError),
}

/// A reply whose `st` is not the command's success status.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusError {
    /// The reply's key: `<CMD>_RSP`, or `ERR` for envelope errors and
    /// unknown `KV_*` commands.
    pub rsp: String,
    /// The `st` number as sent.
    pub code: u64,
    /// What the number means under the client's protocol numbering, if known.
    pub status: Option<Status>,
    /// The reply's `m` text (empty when absent).
    pub message: String,
    /// The whole reply document.
    pub reply: Value,
}

impl Error {
    /// The reply status, when the server answered with an error status.
    pub fn status(&self) -> Option<Status> {
        match self {
            Error::Status(e) => e.status,
            _ => None,
        }
    }

    /// The reply's `st` number, when the server answered with an error status.
    pub fn code(&self) -> Option<u64> {
        match self {
            Error::Status(e) => Some(e.code),
            _ => None,
        }
    }

    /// Whether the connection can no longer be used (everything but a
    /// status reply, a bad argument or a bad URL).
    pub fn is_connection_lost(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. }
                | Error::Handshake { .. }
                | Error::Timeout
                | Error::Closed(_)
                | Error::ReplyTooLarge { .. }
                | Error::WebSocket(_)
        )
    }
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.status.map_or("unknown status", Status::name);
        write!(f, "{}: status {} ({name})", self.rsp, self.code)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Url(why) => write!(f, "bad URL: {why}"),
            Error::Connect { url, source } => write!(f, "cannot connect to {url}: {source}"),
            Error::Handshake { url, reason } => write!(f, "cannot open a WebSocket at {url}: {reason}"),
            Error::Timeout => f.write_str("no reply within the timeout"),
            Error::Closed(Some(code)) => write!(f, "the server closed the connection (code {code})"),
            Error::Closed(None) => f.write_str("the server closed the connection"),
            Error::ReplyTooLarge { size, limit } => {
                write!(f, "a reply of {size} bytes is over this client's limit of {limit} bytes")
            }
            Error::WebSocket(e) => write!(f, "connection failed: {e}"),
            Error::Request(e) => write!(f, "cannot write the request: {e}"),
            Error::Reply(why) => write!(f, "unexpected reply: {why}"),
            Error::Status(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect { source, .. } => Some(source),
            Error::WebSocket(e) => Some(e),
            Error::Request(e) => Some(e),
            _ => None,
        }
    }
}

impl From<tungstenite::Error> for Error {
    fn from(e: tungstenite::Error) -> Error {
        match e {
            tungstenite::Error::Io(io) if matches!(io.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                Error::Timeout
            }
            tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => Error::Closed(None),
            tungstenite::Error::Capacity(tungstenite::error::CapacityError::MessageTooLong { size, max_size }) => {
                Error::ReplyTooLarge { size, limit: max_size }
            }
            other => Error::WebSocket(other),
        }
    }
}
