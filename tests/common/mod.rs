//! Shared test support: a real server on `127.0.0.1:0` in a thread (driven
//! through the public embedding API, exactly like `ndb-server`), the crate's
//! own client for tests that are not about the wire, a blocking WebSocket
//! client for tests of exact reply text, and a raw-socket client for frames
//! a well-behaved library would never send. Waits are loops with deadlines, never sleeps.
#![allow(dead_code)]

pub mod certs;
pub mod pinger;
pub mod saves;
pub mod timed_host;
pub mod virtual_host;

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
    pub addr: SocketAddr,
    thread: Option<ServerThread>,
}

/// A test config: any free port, persistence into a throwaway directory.
pub fn config() -> Config {
    Config::default().port(0).persist(true, std::env::temp_dir().join(format!("ndb-test-{}", std::process::id())))
}

pub fn start() -> TestServer {
    start_with(config())
}

pub fn start_with(config: Config) -> TestServer {
    let thread = ServerThread::spawn(config).expect("start a server");
    TestServer { addr: thread.addr(), thread: Some(thread) }
}

impl TestServer {
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

    /// The crate's own client, for everything else.
    pub fn ndb(&self) -> ndb::client::Client {
        ndb::client::Client::connect(&self.url()).expect("connect with ndb::client")
    }

    /// The URL with `user:password@` in it (percent-encoded).
    pub fn url_as(&self, user: &str, password: &str) -> String {
        format!("ws://{}:{}@{}/", percent_encode(user), percent_encode(password), self.addr)
    }

    /// The crate's own client, logged in as `user`.
    pub fn ndb_as(&self, user: &str, password: &str) -> ndb::client::Client {
        ndb::client::Client::connect(&self.url_as(user, password)).expect("connect with ndb::client")
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
    pub ws: WebSocket<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        let (ws, _) = tungstenite::client(format!("ws://{addr}/"), stream).expect("handshake");
        Client { ws }
    }

    /// Connects sending `Authorization: <authorization>`.
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
    pub stream: TcpStream,
    buf: Vec<u8>,
}

pub const UPGRADE: &str = "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// The `Authorization` value of HTTP Basic credentials.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// [`UPGRADE`] carrying `Authorization: <authorization>`.
pub fn upgrade_with(authorization: &str) -> String {
    UPGRADE.replace("Host: localhost\r\n", &format!("Host: localhost\r\nAuthorization: {authorization}\r\n"))
}

/// Percent-encodes everything but unreserved URL characters.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A plain `GET path` with optional credentials: (status, head, body).
pub fn http_get(addr: SocketAddr, path: &str, authorization: Option<&str>) -> (u16, String, String) {
    let mut raw = Raw::connect(addr);
    let auth = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    raw.write(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}\r\n").as_bytes());
    let response = raw.http_response();
    let (head, body) = response.split_once("\r\n\r\n").expect("a whole response");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    assert!(raw.ends(), "the server closes after answering");
    (status, head.to_owned(), body.to_owned())
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

    pub fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Reads an HTTP response head (and its body, if it has a length).
    pub fn http_response(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end + 4]).into_owned();
                let body_len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                while self.buf.len() < end + 4 + body_len {
                    self.fill();
                }
                let all = String::from_utf8_lossy(&self.buf[..end + 4 + body_len]).into_owned();
                self.buf.drain(..end + 4 + body_len);
                return all;
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
            if let Some((frame, used)) = parse_server_frame(&self.buf) {
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

/// A masked client frame.
pub fn frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut out = vec![opcode | if fin { 0x80 } else { 0 }];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n < 65536 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

pub fn text_frame(text: &str) -> Vec<u8> {
    frame(1, true, text.as_bytes())
}

fn parse_server_frame(buf: &[u8]) -> Option<((u8, Vec<u8>), usize)> {
    if buf.len() < 2 {
        return None;
    }
    let (len, head) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize, 10),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    assert_eq!(buf[1] & 0x80, 0, "server frames must not be masked");
    if buf.len() < head + len {
        return None;
    }
    Some(((buf[0] & 0x0f, buf[head..head + len].to_vec()), head + len))
}

/// Polls `check` until it holds or the timeout passes.
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
