//! Test support shared by every crate of the workspace: a real server on
//! `127.0.0.1:0` in a thread (driven through the public embedding API,
//! exactly like `ndb-server`), the host loop on a virtual clock for tests
//! of timing ([`host`], [`VirtualHost`]), the `ndb-client` client for tests
//! that are not about the wire, a blocking WebSocket client for tests of
//! exact reply text, and a raw-socket client for frames a well-behaved
//! library would never send. Waits are loops with deadlines: the blocking
//! clients wait in `read` (with [`TIMEOUT`]), [`eventually`] polls a
//! server thread's state every few milliseconds, and the virtual host waits
//! only in `poll`, for sockets. No test of the server's timing waits for
//! the wall clock. Also: HTTP Basic credentials and plain `GET` requests
//! ([`basic`], [`upgrade_with`], [`http_get`]), and certificates made at
//! test time for `wss://` ([`certs`]).
//!
//! Not published: it depends on the `ndb` library, so the library's own unit
//! tests (`#[cfg(test)]` in `src/`) cannot use it (they would link a second
//! copy of the crate); their helpers stay beside them.

#![warn(missing_docs)]

pub mod certs;
pub mod host;
pub mod pipe;
pub mod replies;
pub mod saves;
pub mod wire;

pub use host::{Peer, VirtualHost};
pub use wire::{UPGRADE, basic, frame, percent_encode, text_frame, upgrade_with};

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ndb::{Config, ServerThread};
use tungstenite::protocol::WebSocket;
use tungstenite::{Message, Utf8Bytes};

/// How long any single wait in a test may take before it fails.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A server running in a thread ([`ndb::ServerThread`], which drives the
/// public embedding API exactly like `ndb-server`); stopped on drop, and a
/// panic of the server thread fails the test.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    thread: Option<ServerThread>,
}

/// A test config: any free port, persistence into a throwaway directory.
pub fn config() -> Config {
    Config::default().port(0).persist(true, std::env::temp_dir().join(format!("ndb-test-{}", std::process::id())))
}

/// A server on [`config`].
pub fn start() -> TestServer {
    start_with(config())
}

/// A server on `config`.
pub fn start_with(config: Config) -> TestServer {
    let thread = ServerThread::spawn(config).expect("start a server");
    TestServer { addr: thread.addr(), thread: Some(thread) }
}

impl TestServer {
    /// `ws://<addr>/`.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// A raw WebSocket client, for tests about the wire itself.
    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Open connections as of the server's last turn (upgraded or not).
    pub fn connections(&self) -> usize {
        self.thread.as_ref().map_or(0, ServerThread::connections)
    }

    /// The `ndb-client` client, for everything else.
    pub fn ndb(&self) -> ndb_client::Client {
        ndb_client::Client::connect(&self.url()).expect("connect with ndb_client")
    }

    /// The URL with `user:password@` in it (percent-encoded).
    pub fn url_as(&self, user: &str, password: &str) -> String {
        format!("ws://{}:{}@{}/", percent_encode(user), percent_encode(password), self.addr)
    }

    /// The `ndb-client` client, logged in as `user`.
    pub fn ndb_as(&self, user: &str, password: &str) -> ndb_client::Client {
        ndb_client::Client::connect(&self.url_as(user, password)).expect("connect with ndb_client")
    }

    /// Stops the server and waits for its thread.
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(thread) = self.thread.take() {
            assert!(thread.stop().is_ok(), "server thread panicked");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.stop_now();
        }
    }
}

/// A blocking WebSocket client (tungstenite).
pub struct Client {
    /// The connection, for what the methods do not cover.
    pub ws: WebSocket<TcpStream>,
}

impl Client {
    /// Connects and completes the upgrade; reads time out after [`TIMEOUT`].
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        let (ws, _) = tungstenite::client(format!("ws://{addr}/"), stream).expect("handshake");
        Client { ws }
    }

    /// Connects sending `Authorization: <authorization>` with the upgrade.
    pub fn connect_as(addr: SocketAddr, authorization: &str) -> Client {
        use tungstenite::client::IntoClientRequest;
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut request = format!("ws://{addr}/").into_client_request().unwrap();
        request.headers_mut().insert("Authorization", authorization.parse().unwrap());
        let (ws, _) = tungstenite::client(request, stream).expect("handshake");
        Client { ws }
    }

    /// Sends one text message.
    pub fn send(&mut self, text: &str) {
        self.ws.send(Message::Text(Utf8Bytes::from(text))).expect("send");
    }

    /// The next text message.
    pub fn recv(&mut self) -> String {
        loop {
            match self.ws.read().expect("read") {
                Message::Text(t) => return t.as_str().to_owned(),
                Message::Binary(b) => panic!("unexpected binary reply {b:?}"),
                _ => continue,
            }
        }
    }

    /// Sends one request and returns its reply.
    pub fn call(&mut self, text: &str) -> String {
        self.send(text);
        self.recv()
    }

    /// Sends one request and returns its reply, parsed.
    pub fn call_json(&mut self, text: &str) -> serde_json::Value {
        serde_json::from_str(&self.call(text)).expect("reply is JSON")
    }

    /// Reads until the server closes; returns its close code after
    /// completing the close handshake.
    pub fn close_code(&mut self) -> Option<u16> {
        loop {
            match self.ws.read() {
                Ok(Message::Close(frame)) => {
                    // The next read sends tungstenite's queued close reply.
                    while self.ws.read().is_ok() {}
                    return frame.map(|f| u16::from(f.code));
                }
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }
}

/// A client speaking raw bytes: it does the upgrade by hand and builds
/// frames itself, so it can send anything.
pub struct Raw {
    /// The socket, for writes and reads the methods do not cover.
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    /// Connects without sending anything.
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Raw { stream, buf: Vec::new() }
    }

    /// Connects and completes the upgrade.
    pub fn open(addr: SocketAddr) -> Raw {
        Raw::open_with(addr, UPGRADE)
    }

    /// Connects and completes the upgrade with this request.
    pub fn open_with(addr: SocketAddr, upgrade: &str) -> Raw {
        let mut raw = Raw::connect(addr);
        raw.write(upgrade.as_bytes());
        let head = raw.http_response();
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        raw
    }

    /// Writes all of `bytes`.
    pub fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Reads an HTTP response head (and its body, if it has a length).
    pub fn http_response(&mut self) -> String {
        loop {
            if let Some((response, used)) = wire::parse_http_response(&self.buf) {
                self.buf.drain(..used);
                return response;
            }
            self.fill();
        }
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 65536];
        let n = self.stream.read(&mut chunk).expect("read");
        assert!(n > 0, "connection closed early");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// The next server frame: (opcode, payload); `None` at end of stream.
    pub fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            if let Some((frame, used)) = wire::parse_server_frame(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// The payload of the next text frame.
    pub fn text(&mut self) -> String {
        loop {
            match self.frame() {
                Some((1, payload)) => return String::from_utf8(payload).expect("UTF-8 reply"),
                Some(_) => continue,
                None => panic!("closed while waiting for a text frame"),
            }
        }
    }

    /// The close code the server sends next (skipping other frames), and
    /// whether the server then ended the stream.
    pub fn close_code(&mut self) -> Option<u16> {
        loop {
            match self.frame()? {
                (8, payload) if payload.len() >= 2 => return Some(u16::from_be_bytes([payload[0], payload[1]])),
                (8, _) => return Some(1005),
                _ => continue,
            }
        }
    }

    /// Whether the server ended the stream (read returns 0) within the timeout.
    pub fn ends(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// A plain `GET path` with optional credentials, to a server on a thread
/// of its own: (status, head, body). The server must close the connection
/// after answering.
pub fn http_get(addr: SocketAddr, path: &str, authorization: Option<&str>) -> (u16, String, String) {
    let mut raw = Raw::connect(addr);
    raw.write(wire::get_request(path, authorization).as_bytes());
    let response = raw.http_response();
    assert!(raw.ends(), "the server closes after answering");
    wire::split_response(&response)
}

/// Polls `check` until it holds or the timeout passes: for state of a
/// [`TestServer`]'s thread, which a test cannot step (on a [`VirtualHost`],
/// use [`host::Host::run_until`]).
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
