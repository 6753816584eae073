//! A host loop on the test's own thread with a virtual clock: every call
//! into the server gets `origin + offset`, and only [`Host::advance`] moves
//! it, so a test of timeouts measured in tens of seconds runs in
//! milliseconds and never depends on how fast the machine is. Sockets are
//! real (loopback, non-blocking), so the test pumps the loop between its
//! own reads and writes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mio::{Events, Poll};
use ndb::{Config, Server, TokenRange};

/// A server driven one turn at a time at a virtual time.
pub struct Host {
    poll: Poll,
    events: Events,
    /// The server, to look at between turns.
    pub server: Server,
    origin: Instant,
    offset: Duration,
}

impl Host {
    /// A server on `config`, with room for `config.max_connections`.
    pub fn new(config: Config) -> Host {
        let tokens = TokenRange { base: 0, max_conns: config.max_connections };
        let poll = Poll::new().expect("poll");
        let mut server = Server::bind(config, tokens).expect("bind");
        server.register(poll.registry()).expect("register");
        Host { poll, events: Events::with_capacity(1024), server, origin: Instant::now(), offset: Duration::ZERO }
    }

    /// The virtual time.
    pub fn now(&self) -> Instant {
        self.origin + self.offset
    }

    /// Moves the virtual clock forward.
    pub fn advance(&mut self, by: Duration) {
        self.offset += by;
    }

    /// One turn: waits at most 2 ms (real) for events, handles them, ticks.
    pub fn turn(&mut self) {
        let now = self.now();
        let timeout =
            self.server.poll_timeout(now).map_or(Duration::from_millis(2), |t| t.min(Duration::from_millis(2)));
        self.poll.poll(&mut self.events, Some(timeout)).expect("poll");
        for event in self.events.iter() {
            if self.server.owns(event.token()) {
                self.server.handle_event(self.poll.registry(), event, now);
            }
        }
        self.server.tick(self.poll.registry(), now);
    }

    /// Runs turns until `check` holds (at most ten real seconds).
    pub fn until(&mut self, what: &str, mut check: impl FnMut(&mut Host) -> bool) {
        let deadline = Instant::now() + super::TIMEOUT;
        while !check(self) {
            assert!(Instant::now() < deadline, "timed out waiting for: {what}");
            self.turn();
        }
    }

    /// A non-blocking, upgraded raw connection.
    pub fn open(&mut self) -> TcpStream {
        let mut stream = TcpStream::connect(self.server.local_addr()).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        stream.write_all(super::UPGRADE.as_bytes()).expect("upgrade request");
        stream.set_nonblocking(true).expect("non-blocking");
        let mut head = Vec::new();
        self.until("the 101 response", |_| {
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && matches!(stream.read(&mut byte), Ok(1)) {
                head.push(byte[0]);
            }
            head.ends_with(b"\r\n\r\n")
        });
        assert!(head.starts_with(b"HTTP/1.1 101 "), "{}", String::from_utf8_lossy(&head));
        stream
    }
}

/// Reads what is there without blocking; `None` once the server ended the
/// stream and nothing was left.
pub fn read_available(stream: &mut TcpStream, into: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 65536];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => into.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

/// The whole server frames at the start of `bytes`: (opcode, payload),
/// and how many bytes they took.
pub fn frames(bytes: &[u8]) -> (Vec<(u8, Vec<u8>)>, usize) {
    let (mut frames, mut used) = (Vec::new(), 0);
    while let Some((frame, len)) = testkit::wire::parse_server_frame(&bytes[used..]) {
        frames.push(frame);
        used += len;
    }
    (frames, used)
}
