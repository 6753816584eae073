//! A small blocking client for ndb and NemesisDB servers.
//!
//! One [`Client`] is one WebSocket connection with one request in flight:
//! each method sends a command and waits for its reply. There is a method
//! per command of the protocol (`kv_*`, `sh_*`, `sv_info`), returning typed
//! results, and [`Client::call`] for any request text at all. A reply whose
//! status is not the command's success becomes [`Error::Status`], carrying
//! the number and its [`Status`] name under the client's [`Protocol`]
//! numbering (which matters only for saves: 121 or 120).
//!
//! URLs are `ws://host:port/`, or `wss://` with the feature `tls` (off by
//! default, so a client without TLS compiles no TLS library);
//! `ws://user:password@host:port/` logs in with HTTP Basic credentials.
//!
//! Owns: connecting (with a timeout, over TCP or TLS, with the URL's
//! credentials), request writing, reply checking.
//! Must not touch the server's internals: it speaks only the wire protocol,
//! so it works against any NemesisDB 0.7.4 or 0.9 server as well. It does
//! not depend on the `ndb` server library; the status table it reads replies
//! with is the `ndb-status` crate, re-exported here as [`Status`] and
//! [`Protocol`].
//!
//! ```
//! use ndb_client::{Client, Expiry};
//! use serde_json::json;
//!
//! # let server = ndb::ServerThread::spawn(ndb::Config::default().port(0))?;
//! # let url = server.url();
//! let mut client = Client::connect(&url)?; // e.g. "ws://127.0.0.1:1987/"
//! client.kv_set(json!({"user": "ann", "visits": 3}))?;
//! assert_eq!(client.kv_get_one("visits")?, Some(json!(3)));
//! assert_eq!(client.kv_count()?, 2);
//!
//! // An error status comes back as an error value, with its name.
//! let err = client.kv_rmv(Vec::<String>::new()).unwrap_err();
//! assert_eq!(err.status(), Some(ndb_client::Status::ValueSize));
//!
//! // Any request text, for commands or shapes the methods do not cover.
//! let reply = client.call(r#"{"KV_KEYS":{}}"#)?;
//! assert_eq!(reply, json!({"KV_KEYS_RSP": {"keys": ["user", "visits"], "st": 1}}));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod commands;
mod error;
mod stream;
mod types;

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use tungstenite::handshake::{HandshakeError, HandshakeRole};
use tungstenite::http::Uri;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

pub use error::{Error, StatusError};
pub use types::{
    Expiry, ExpiryInfo, FindReply, Found, KvLoaded, Saved, SessionInfo, SessionTotals, SessionsLoaded, SvInfo, Token,
};

pub use ndb_status::{Protocol, Status};
use stream::Stream;
use types::Body;

/// How long connecting (TCP and upgrade) may take by default: 5 s, as the
/// NemesisDB Python clients allow (`open_timeout=5`).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a reply may take by default. 30 s: no command of a healthy
/// server takes near that, so past it the server is stuck or gone.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest reply accepted by default: 1 GiB.
///
/// A server puts no cap on a reply: it is as large as what it holds
/// (`KV_KEYS` of a million 16-byte names is 19 MB, a `KV_GET` of many large
/// values can be far more), and ndb sends each reply as one WebSocket frame.
/// So the client's bound is set far above any reply a store that fits in a
/// server's memory is likely to produce, rather than at tungstenite's
/// defaults (16 MiB a frame, 64 MiB a message), which refuse the million
/// keys. It stays finite because tungstenite reserves a frame's announced
/// length before the bytes arrive: a bound keeps a broken peer from making
/// the client reserve without limit. [`Builder::max_reply_bytes`] changes it.
pub const DEFAULT_MAX_REPLY_BYTES: usize = 1 << 30;

/// Settings for a connection; [`Client::connect`] uses the defaults.
#[derive(Clone, Debug)]
pub struct Builder {
    connect_timeout: Duration,
    timeout: Option<Duration>,
    protocol: Protocol,
    max_reply_bytes: usize,
    ca_file: Option<PathBuf>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: Some(DEFAULT_TIMEOUT),
            protocol: Protocol::V07,
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
            ca_file: None,
        }
    }
}

impl Builder {
    /// Sets how long connecting may take ([`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Builder {
        self.connect_timeout = timeout;
        self
    }

    /// Sets how long each reply may take; `None` waits for ever
    /// ([`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Builder {
        self.timeout = timeout;
        self
    }

    /// Sets the status numbering the server speaks (default 0.7): it decides
    /// which number is a successful save and how statuses are named.
    pub fn protocol(mut self, protocol: Protocol) -> Builder {
        self.protocol = protocol;
        self
    }

    /// Sets the largest reply accepted, in bytes ([`DEFAULT_MAX_REPLY_BYTES`]).
    /// A larger reply fails the call with [`Error::ReplyTooLarge`] as soon
    /// as its frame header arrives, and the connection is then unusable.
    pub fn max_reply_bytes(mut self, bytes: usize) -> Builder {
        self.max_reply_bytes = bytes;
        self
    }

    /// Sets the CA certificates (a PEM file) a `wss://` server's
    /// certificate must chain to. Default: the file `SSL_CERT_FILE` names,
    /// else `/etc/ssl/certs/ca-certificates.crt`.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Builder {
        self.ca_file = Some(path.into());
        self
    }

    /// Connects to `url`: `ws://host:port/` (any path), or `wss://` for
    /// TLS (feature `tls`). Credentials in the URL
    /// (`ws://user:password@host:port/`, percent-encoded where needed) are
    /// sent as HTTP Basic authentication, as browsers and the Python
    /// `websockets` library send them.
    ///
    /// # Errors
    /// [`Error::Url`] for a URL that is not `ws://` (or `wss://`) with a
    /// host, [`Error::Connect`] when no TCP connection can be made in time,
    /// [`Error::Handshake`] when TLS or the WebSocket upgrade is refused or
    /// fails (a refused login is `HTTP 401`).
    pub fn connect(&self, url: &str) -> Result<Client, Error> {
        // Every error names the URL without its password.
        let shown = redact(url);
        let shown = shown.as_str();
        let uri: Uri = url.parse().map_err(|e| Error::Url(format!("{shown}: {e}")))?;
        let tls = match uri.scheme_str() {
            Some("ws") => false,
            Some("wss") if cfg!(feature = "tls") => true,
            Some("wss") => return Err(Error::Url(format!("{shown}: wss:// needs a build with the `tls` feature"))),
            _ => return Err(Error::Url(format!("{shown}: must start with ws:// or wss://"))),
        };
        let host = uri.host().ok_or_else(|| Error::Url(format!("{shown}: no host")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let deadline = Instant::now() + self.connect_timeout;
        let connect_error = |source| Error::Connect { url: shown.to_owned(), source };
        let mut last_error = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
        let mut stream = None;
        for addr in (host, port).to_socket_addrs().map_err(connect_error)? {
            let Some(left) = time_left(deadline) else {
                last_error = io::Error::new(io::ErrorKind::TimedOut, "connection timed out");
                break;
            };
            match TcpStream::connect_timeout(&addr, left) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last_error = e,
            }
        }
        let stream = stream.ok_or_else(|| connect_error(last_error))?;
        let left = time_left(deadline).unwrap_or(Duration::from_millis(1));
        stream.set_nodelay(true).map_err(connect_error)?;
        stream.set_read_timeout(Some(left)).map_err(connect_error)?;
        stream.set_write_timeout(Some(left)).map_err(connect_error)?;
        let stream = if tls { self.tls(shown, host, stream)? } else { Stream::Plain(stream) };
        let mut request = tungstenite::client::IntoClientRequest::into_client_request(url)
            .map_err(|e| Error::Url(format!("{shown}: {e}")))?;
        if let Some(userinfo) = uri.authority().and_then(|a| a.as_str().rsplit_once('@')).map(|(info, _)| info) {
            let value = stream::basic_authorization(userinfo);
            let value = value.parse().map_err(|_| Error::Url(format!("{shown}: bad credentials")))?;
            request.headers_mut().insert("Authorization", value);
        }
        // A server sends each reply as one frame, so both limits are the reply's.
        let limits = WebSocketConfig::default()
            .max_message_size(Some(self.max_reply_bytes))
            .max_frame_size(Some(self.max_reply_bytes));
        let (ws, _) = tungstenite::client::client_with_config(request, stream, Some(limits))
            .map_err(|e| handshake_error(shown, e))?;
        let timeout = self.timeout.filter(|t| !t.is_zero());
        ws.get_ref().tcp().set_read_timeout(timeout).map_err(connect_error)?;
        ws.get_ref().tcp().set_write_timeout(timeout).map_err(connect_error)?;
        Ok(Client { ws, protocol: self.protocol })
    }

    #[cfg(feature = "tls")]
    fn tls(&self, url: &str, host: &str, tcp: TcpStream) -> Result<Stream, Error> {
        stream::tls(tcp, host, self.ca_file.as_deref())
            .map_err(|reason| Error::Handshake { url: url.to_owned(), reason })
    }

    #[cfg(not(feature = "tls"))]
    fn tls(&self, url: &str, _host: &str, _tcp: TcpStream) -> Result<Stream, Error> {
        Err(Error::Url(format!("{url}: wss:// needs a build with the `tls` feature")))
    }
}

/// The time until `deadline`, or `None` when it has passed.
fn time_left(deadline: Instant) -> Option<Duration> {
    Some(deadline.saturating_duration_since(Instant::now())).filter(|left| !left.is_zero())
}

/// `url` with the password of its credentials (`ws://user:PASSWORD@host/`)
/// replaced by `***`, for error messages; any other URL as it is.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_owned() };
    let rest = &url[scheme_end..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let Some(at) = authority.rfind('@') else { return url.to_owned() };
    let Some(colon) = authority[..at].find(':') else { return url.to_owned() };
    format!("{}{}:***{}", &url[..scheme_end], &authority[..colon], &rest[at..])
}

fn handshake_error<R: HandshakeRole>(url: &str, e: HandshakeError<R>) -> Error {
    let reason = match e {
        HandshakeError::Interrupted(_) => "timed out".to_owned(),
        HandshakeError::Failure(tungstenite::Error::Http(response)) => format!("HTTP {}", response.status()),
        HandshakeError::Failure(tungstenite::Error::Io(e))
            if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
        {
            "timed out".to_owned()
        }
        HandshakeError::Failure(e) => e.to_string(),
    };
    Error::Handshake { url: url.to_owned(), reason }
}

/// One connection to a server. Not thread-safe by design: one request in
/// flight, one owner.
#[derive(Debug)]
pub struct Client {
    ws: WebSocket<Stream>,
    protocol: Protocol,
}

impl Client {
    /// Connects to `url` with the default settings of [`Builder`].
    ///
    /// # Errors
    /// As [`Builder::connect`].
    pub fn connect(url: &str) -> Result<Client, Error> {
        Builder::default().connect(url)
    }

    /// Settings for a connection other than the defaults.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The status numbering this client assumes.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Sends any request text and returns the reply text exactly as sent.
    ///
    /// # Errors
    /// Transport errors only ([`Error::Timeout`], [`Error::Closed`],
    /// [`Error::WebSocket`]); the reply's status is not looked at.
    pub fn call_text(&mut self, request: &str) -> Result<String, Error> {
        self.ws.send(Message::text(request.to_owned()))?;
        loop {
            match self.ws.read()? {
                Message::Text(text) => return Ok(text.as_str().to_owned()),
                Message::Binary(_) => return Err(Error::Reply("a binary message".to_owned())),
                Message::Close(frame) => {
                    // Sends tungstenite's queued close reply; the result no
                    // longer matters.
                    let _ = self.ws.flush();
                    return Err(Error::Closed(frame.map(|f| u16::from(f.code))));
                }
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            }
        }
    }

    /// Sends any request text and returns the reply as JSON.
    ///
    /// # Errors
    /// As [`Client::call_text`], plus [`Error::Reply`] when the reply is not
    /// JSON. The reply's status is not looked at.
    pub fn call(&mut self, request: &str) -> Result<Value, Error> {
        let text = self.call_text(request)?;
        serde_json::from_str(&text).map_err(|e| Error::Reply(format!("not JSON ({e}): {text}")))
    }

    /// The connection's socket, for waiting until the server sends something
    /// while no request is in flight (`poll(2)` on its descriptor), before
    /// [`Client::read_idle`]. Reading or writing it directly breaks the
    /// connection. Over `wss://` it is the TCP socket under TLS.
    pub fn socket(&self) -> &TcpStream {
        self.ws.get_ref().tcp()
    }

    /// Handles what the server sent while no request was in flight; call it
    /// when [`Client::socket`] is readable. A ping is answered. A close frame
    /// (a server shutting down, or closing an idle connection) is answered at
    /// once, so the server is not kept waiting for the close handshake.
    ///
    /// # Errors
    /// [`Error::Closed`] once the server has closed the connection (the close
    /// reply is sent; drop the client); [`Error::Reply`] for a message that
    /// answers no request (the connection is out of step); transport errors,
    /// [`Error::Timeout`] included when only part of a frame came.
    pub fn read_idle(&mut self) -> Result<(), Error> {
        match self.ws.read()? {
            Message::Close(frame) => {
                // Sends tungstenite's queued close reply; the connection is
                // over whether or not it gets out.
                let _ = self.ws.flush();
                Err(Error::Closed(frame.map(|f| u16::from(f.code))))
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {
                // A ping's pong is queued by tungstenite; send it now.
                self.ws.flush()?;
                Ok(())
            }
            Message::Text(_) | Message::Binary(_) => Err(Error::Reply("a message that answers no request".to_owned())),
        }
    }

    /// Closes the connection cleanly (close code 1000).
    ///
    /// # Errors
    /// A transport error while closing; the connection is gone either way.
    pub fn close(mut self) -> Result<(), Error> {
        self.ws.close(None)?;
        loop {
            match self.ws.read() {
                Ok(_) => continue,
                Err(tungstenite::Error::ConnectionClosed) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Sends a request and checks that its reply has `success` status.
    fn run(&mut self, request: Request, success: Status) -> Result<Body, Error> {
        let command = request.command;
        let reply = self.call(&request.into_text())?;
        self.check(command, success, reply)
    }

    fn check(&self, command: &str, success: Status, reply: Value) -> Result<Body, Error> {
        let shape = |why: &str| Error::Reply(format!("{command}: {why}: {reply}"));
        let Some(doc) = reply.as_object() else { return Err(shape("not an object")) };
        let mut members = doc.iter();
        let (Some((rsp, Value::Object(body))), None) = (members.next(), members.next()) else {
            return Err(shape("not one member holding an object"));
        };
        let Some(code) = body.get("st").and_then(Value::as_u64) else { return Err(shape("no `st`")) };
        let status = Status::from_code(code, self.protocol);
        let expected = rsp.len() == command.len() + 4 && rsp.starts_with(command) && rsp.ends_with("_RSP");
        if status == Some(success) {
            return if expected {
                Ok(Body { rsp: rsp.clone(), map: body.clone() })
            } else {
                Err(shape(&format!("answered as `{rsp}`")))
            };
        }
        let message = body.get("m").and_then(Value::as_str).unwrap_or_default().to_owned();
        Err(Error::Status(StatusError { rsp: rsp.clone(), code, status, message, reply }))
    }
}

/// A request being built: the command and its body members as JSON text.
///
/// Arguments are written with `serde_json::to_string`, so a map or struct
/// keeps its own member order (the server stores keys in request order).
struct Request {
    command: &'static str,
    members: Vec<(&'static str, String)>,
}

impl Request {
    fn new(command: &'static str) -> Request {
        Request { command, members: Vec::new() }
    }

    fn value(mut self, member: &'static str, value: Value) -> Request {
        self.members.push((member, value.to_string()));
        self
    }

    fn serialize(mut self, member: &'static str, value: impl Serialize) -> Result<Request, Error> {
        self.members.push((member, serde_json::to_string(&value).map_err(Error::Request)?));
        Ok(self)
    }

    fn names<I: IntoIterator<Item = S>, S: AsRef<str>>(self, member: &'static str, names: I) -> Request {
        let names = names.into_iter().map(|n| Value::String(n.as_ref().to_owned())).collect();
        self.value(member, Value::Array(names))
    }

    fn token(self, token: Token) -> Request {
        self.value("tkn", Value::from(token.0))
    }

    fn into_text(self) -> String {
        let mut text = format!("{{\"{}\":{{", self.command);
        for (i, (member, value)) in self.members.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push('"');
            text.push_str(member);
            text.push_str("\":");
            text.push_str(value);
        }
        text.push_str("}}");
        text
    }
}
