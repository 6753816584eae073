//! The one host loop of the workspace's tests: a [`Server`] in a `Poll` that
//! the test owns, turned exactly as `ndb-server` turns it (poll, hand over
//! the server's events, `tick`), on a clock the test chooses.
//!
//! The server never reads the clock: every `now` it sees comes from its
//! host. [`VirtualHost`] passes it `base + offset`, an instant that moves
//! only when the test calls [`Host::advance`], so idle, send, handshake and
//! linger timeouts, session expiry and `SV_INFO`'s uptime happen at exactly
//! the virtual instant the test names, however slow the machine. Sockets
//! stay real: peers are WebSocket clients over loopback, and a turn still
//! waits (in real time, briefly) for their bytes. [`Host<RealClock>`] is the
//! same loop on the wall clock, for the stress tests that measure what a
//! turn costs ([`Host::spawn`] runs it on a thread and times every turn).
//!
//! Two ways to run a client beside a host on the test's thread:
//! - a [`Peer`], a non-blocking raw WebSocket client that the host's
//!   methods ([`Host::call`], [`Host::frame`], [`Host::close_code`], ...)
//!   pump between turns: single-threaded and deterministic;
//! - any blocking client on a thread of its own, with [`Host::join`] (or
//!   [`Host::run_until`]) turning the loop until it is done.
//!
//! Every wait is a loop of turns bounded by [`TIMEOUT`] of real time;
//! nothing sleeps except `poll` itself, waiting for a socket.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Registry, Token, Waker};
use ndb::{Config, Server, TokenRange};

use crate::{TIMEOUT, UPGRADE, text_frame, wire};

/// The longest one turn waits in `poll` for a socket event while a test
/// waits for something: short, so that conditions the server cannot signal
/// (a client thread finishing, a save written on the save thread) are seen
/// within a few milliseconds; an event ends the wait at once.
pub const TURN_WAIT: Duration = Duration::from_millis(5);

/// The longest a turn of a [`Host::spawn`]ed host sleeps when the server
/// has nothing to wait for, so a stop is seen even without the waker.
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// The waker's token in a [`Host::spawn`]ed host; the default token range
/// starts after it.
const WAKE: Token = Token(0);

/// Where a host's `now` comes from.
pub trait Clock {
    /// The instant to pass the server.
    fn now(&self) -> Instant;
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealClock;

impl Clock for RealClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that stands still until told to move: `base + offset`, where
/// `base` is read once, when the clock is made.
#[derive(Clone, Copy, Debug)]
pub struct VirtualClock {
    base: Instant,
    offset: Duration,
}

impl VirtualClock {
    /// A clock at offset zero.
    pub fn new() -> VirtualClock {
        VirtualClock { base: Instant::now(), offset: Duration::ZERO }
    }

    /// How far the clock has been moved.
    pub fn elapsed(&self) -> Duration {
        self.offset
    }
}

impl Default for VirtualClock {
    fn default() -> Self {
        VirtualClock::new()
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Instant {
        self.base + self.offset
    }
}

/// One turn of a host that times its turns ([`Host::spawn`]).
#[derive(Clone, Copy, Debug)]
pub struct Turn {
    /// When the turn started handling events (wall clock), after `poll`.
    pub started: Instant,
    /// CPU time the server's thread spent in the turn.
    pub cpu: Duration,
    /// Wall-clock time of the turn.
    pub wall: Duration,
}

/// A server driven by the test, one turn at a time; see the module docs.
pub struct Host<C: Clock = VirtualClock> {
    poll: Poll,
    events: Events,
    server: Server,
    clock: C,
    turns: u64,
    /// Tokens of the events of the last turn, the server's or not.
    tokens: Vec<Token>,
    /// Every turn's timing, when asked for.
    timing: Option<Vec<Turn>>,
}

/// A host on a [`VirtualClock`].
pub type VirtualHost = Host<VirtualClock>;

impl Host<VirtualClock> {
    /// A server on `config`, registered and listening, with its clock at
    /// offset zero and tokens from 1 to `config.max_connections + 1`.
    pub fn start(config: Config) -> VirtualHost {
        let tokens = TokenRange { base: WAKE.0 + 1, max_conns: config.max_connections };
        Host::with_clock(config, tokens, VirtualClock::new())
    }

    /// How far the clock has moved since the host started.
    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }

    /// Moves the clock on by `by` and runs one turn without waiting, so
    /// whatever fell due in between (a timeout, the first budget of an
    /// expiry) happens at the new instant.
    pub fn advance(&mut self, by: Duration) {
        self.skip(by);
        self.turn(Duration::ZERO);
    }

    /// Moves the clock on by `by` without running a turn: the next turn
    /// handles its events, then its deadlines, at the new instant (so a
    /// request already sent is served before the timers of that turn).
    pub fn skip(&mut self, by: Duration) {
        self.clock.offset += by;
    }

    /// Moves the clock to the server's next deadline, if it has one, and
    /// runs a turn there (see [`Host::advance`]); returns how far it moved.
    pub fn advance_to_next_deadline(&mut self) -> Option<Duration> {
        let by = self.server.poll_timeout(self.now())?;
        self.advance(by);
        Some(by)
    }
}

impl Host<RealClock> {
    /// A server on `config` on the wall clock, tokens as [`Host::start`].
    pub fn real(config: Config) -> Host<RealClock> {
        let tokens = TokenRange { base: WAKE.0 + 1, max_conns: config.max_connections };
        Host::with_clock(config, tokens, RealClock)
    }

    /// Runs the loop on a thread of its own, timing every turn on that
    /// thread's CPU clock, until [`Running::stop`]. Needs the default token
    /// range (the waker takes token 0).
    pub fn spawn(mut self) -> Running {
        assert!(!self.server.owns(WAKE), "the waker's token is the server's");
        let waker = Arc::new(Waker::new(self.poll.registry(), WAKE).expect("waker"));
        let addr = self.addr();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        self.timing = Some(Vec::with_capacity(1 << 20));
        let thread = std::thread::Builder::new()
            .name(format!("ndb test host {addr}"))
            .spawn(move || {
                while !stop_flag.load(Ordering::SeqCst) {
                    self.turn(IDLE_WAIT);
                }
                // Saves already asked for are finished, not cut off.
                self.server.shutdown(self.poll.registry());
                self.server.wait_for_jobs(Instant::now());
                self.timing.take().unwrap_or_default()
            })
            .expect("spawn the host thread");
        Running { addr, waker, stop, thread: Some(thread) }
    }
}

impl<C: Clock> Host<C> {
    /// A server on `config` using `tokens` in the host's own `Poll`, on
    /// `clock`.
    pub fn with_clock(config: Config, tokens: TokenRange, clock: C) -> Host<C> {
        let mut server = Server::bind(config, tokens).expect("bind");
        let poll = Poll::new().expect("poll");
        server.register(poll.registry()).expect("register");
        Host { poll, events: Events::with_capacity(256), server, clock, turns: 0, tokens: Vec::new(), timing: None }
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The server, to look at (`stats`, `connections`, `poll_timeout`, the
    /// store under `internals`).
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The server, to call what a host calls between turns (`shutdown`,
    /// `save_all`, ...).
    pub fn server_mut(&mut self) -> &mut Server {
        &mut self.server
    }

    /// Starts the server's clean shutdown ([`Server::shutdown`]: close
    /// frames with code 1001, handshaking connections dropped); keep
    /// turning to let the close frames out.
    pub fn shutdown(&mut self) {
        self.server.shutdown(self.poll.registry());
    }

    /// The host's `Poll` registry, for the host's own sources (any token
    /// outside the server's range).
    pub fn registry(&self) -> &Registry {
        self.poll.registry()
    }

    /// The instant the server is told it is.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Turns run so far.
    pub fn turns(&self) -> u64 {
        self.turns
    }

    /// The tokens of the events the last turn's `poll` returned (the
    /// server's and the host's own alike).
    pub fn last_tokens(&self) -> &[Token] {
        &self.tokens
    }

    /// The server's [`Server::poll_timeout`] at the host's `now`.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.server.poll_timeout(self.now())
    }

    /// One turn, as `ndb-server` runs it: `poll` for at most `wait` of real
    /// time (less when the server's own timeout is shorter), hand the
    /// server its events at `now`, then `tick`. Returns how many events
    /// `poll` returned.
    pub fn turn(&mut self, wait: Duration) -> usize {
        let timeout = self.server.poll_timeout(self.clock.now()).map_or(wait, |t| t.min(wait));
        if let Err(e) = self.poll.poll(&mut self.events, Some(timeout)) {
            assert_eq!(e.kind(), ErrorKind::Interrupted, "poll failed: {e}");
            self.events.clear();
        }
        let (started, cpu) = (Instant::now(), self.timing.as_ref().map(|_| cpu_time()));
        let now = self.clock.now();
        self.tokens.clear();
        for event in self.events.iter() {
            self.tokens.push(event.token());
            if self.server.owns(event.token()) {
                self.server.handle_event(self.poll.registry(), event, now);
            }
        }
        self.server.tick(self.poll.registry(), self.clock.now());
        self.turns += 1;
        if let (Some(timing), Some(cpu)) = (self.timing.as_mut(), cpu) {
            timing.push(Turn { started, cpu: cpu_time() - cpu, wall: started.elapsed() });
        }
        self.tokens.len()
    }

    /// Runs turns until `f` returns something (it is asked before each
    /// turn), or `None` once `limit` of real time has passed.
    pub fn try_drive<T>(&mut self, limit: Duration, mut f: impl FnMut(&mut Self) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(done) = f(self) {
                return Some(done);
            }
            if Instant::now() >= deadline {
                return None;
            }
            self.turn(TURN_WAIT);
        }
    }

    /// Runs turns until `f` returns something; fails the test after
    /// [`TIMEOUT`] of real time, naming `what` it waited for.
    pub fn drive<T>(&mut self, what: &str, f: impl FnMut(&mut Self) -> Option<T>) -> T {
        self.try_drive(TIMEOUT, f).unwrap_or_else(|| panic!("timed out waiting for: {what}"))
    }

    /// Runs turns until `done` holds (see [`Host::drive`]).
    pub fn run_until(&mut self, what: &str, mut done: impl FnMut(&Self) -> bool) {
        self.drive(what, |host| done(host).then_some(()));
    }

    /// Runs turns until the thread `client` finishes; returns what it
    /// returned (a panic of the thread fails the test).
    pub fn join<T>(&mut self, client: JoinHandle<T>) -> T {
        self.run_until("the client thread", |_| client.is_finished());
        client.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// Runs turns until a turn that waited [`TURN_WAIT`] saw no event and
    /// the server has nothing left to do now: what the peers sent has been
    /// served and what the server wrote has reached them.
    pub fn settle(&mut self) {
        self.drive("the server to settle", |host| {
            let busy = host.poll_timeout() == Some(Duration::ZERO);
            (!busy && host.turn(TURN_WAIT) == 0).then_some(())
        });
    }

    /// A TCP connection to the server, accepted by the server before this
    /// returns (so its handshake deadline counts from the host's `now`).
    pub fn connect(&mut self) -> Peer {
        let total = self.server.stats().connections_total;
        let peer = Peer::connect(self.addr());
        self.run_until("the server to accept", |host| host.server.stats().connections_total > total);
        peer
    }

    /// A connection that has completed the WebSocket upgrade.
    pub fn open(&mut self) -> Peer {
        self.open_with(UPGRADE)
    }

    /// A connection that has completed the WebSocket upgrade sent as
    /// `upgrade` (with credentials, say).
    pub fn open_with(&mut self, upgrade: &str) -> Peer {
        let mut peer = self.connect();
        peer.write(upgrade.as_bytes());
        let head = self.http_response(&mut peer);
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        peer
    }

    /// The next HTTP response head (and body) `peer` receives.
    pub fn http_response(&mut self, peer: &mut Peer) -> String {
        self.drive("an HTTP response", |_| {
            peer.pump();
            let response = peer.take_http_response();
            assert!(response.is_some() || !peer.ended(), "the connection ended before an HTTP response");
            response
        })
    }

    /// A plain `GET path` with optional credentials on a new connection:
    /// (status, head, body), once the server has also closed it.
    pub fn http_get(&mut self, path: &str, authorization: Option<&str>) -> (u16, String, String) {
        let mut peer = self.connect();
        peer.write(wire::get_request(path, authorization).as_bytes());
        let response = self.http_response(&mut peer);
        assert!(self.ends(&mut peer), "the server closes after answering");
        wire::split_response(&response)
    }

    /// The next frame `peer` receives, (opcode, payload); `None` if the
    /// stream ends first.
    pub fn frame(&mut self, peer: &mut Peer) -> Option<(u8, Vec<u8>)> {
        self.drive("a frame", |_| {
            peer.pump();
            match peer.take_frame() {
                Some(frame) => Some(Some(frame)),
                None if peer.ended() => Some(None),
                None => None,
            }
        })
    }

    /// The payload of the next text frame `peer` receives (other frames are
    /// skipped).
    pub fn text(&mut self, peer: &mut Peer) -> String {
        loop {
            match self.frame(peer) {
                Some((1, payload)) => return String::from_utf8(payload).expect("UTF-8 reply"),
                Some(_) => continue,
                None => panic!("closed while waiting for a text frame"),
            }
        }
    }

    /// Sends `request` as a text message and returns the reply.
    pub fn call(&mut self, peer: &mut Peer, request: &str) -> String {
        peer.send(request);
        self.text(peer)
    }

    /// [`Host::call`], the reply parsed.
    pub fn call_json(&mut self, peer: &mut Peer, request: &str) -> serde_json::Value {
        serde_json::from_str(&self.call(peer, request)).expect("reply is JSON")
    }

    /// The close code of the next close frame `peer` receives (other
    /// frames are skipped; 1005 for a close without a code); `None` if the
    /// stream ends without one.
    pub fn close_code(&mut self, peer: &mut Peer) -> Option<u16> {
        loop {
            match self.frame(peer)? {
                (8, payload) if payload.len() >= 2 => return Some(u16::from_be_bytes([payload[0], payload[1]])),
                (8, _) => return Some(1005),
                _ => continue,
            }
        }
    }

    /// Whether the server ends `peer`'s stream within [`TIMEOUT`]
    /// (whatever else arrives first is discarded).
    pub fn ends(&mut self, peer: &mut Peer) -> bool {
        self.try_drive(TIMEOUT, |_| {
            peer.pump();
            peer.inbox.clear();
            peer.ended().then_some(())
        })
        .is_some()
    }

    /// Whether nothing reaches `peer` once the server has settled
    /// ([`Host::settle`]): no bytes and no end of stream.
    pub fn nothing_for(&mut self, peer: &mut Peer) -> bool {
        self.settle();
        peer.pump();
        peer.inbox.is_empty() && !peer.ended()
    }
}

impl<C: Clock> std::fmt::Debug for Host<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("server", &self.server).field("turns", &self.turns).finish_non_exhaustive()
    }
}

/// A [`Host<RealClock>`] looping on its own thread ([`Host::spawn`]);
/// stopped on drop.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<Turn>>>,
}

impl Running {
    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the loop (saves in flight are finished first); returns every
    /// turn's timing.
    pub fn stop(mut self) -> Vec<Turn> {
        self.stop_now().expect("the host thread")
    }

    fn stop_now(&mut self) -> Option<Vec<Turn>> {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        let thread = self.thread.take()?;
        Some(thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.stop_now();
        }
    }
}

/// The calling thread's CPU time so far.
fn cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through the valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(u64::try_from(ts.tv_sec).unwrap_or(0), u32::try_from(ts.tv_nsec).unwrap_or(0))
}

/// A non-blocking raw WebSocket client for a [`Host`] on the same thread:
/// what it writes waits in an outbox until the socket takes it, what it
/// reads waits in an inbox until taken. It moves bytes only when pumped
/// ([`Peer::pump`], or any [`Host`] method given it), so a peer the test
/// leaves alone is one that has stopped reading.
#[derive(Debug)]
pub struct Peer {
    stream: TcpStream,
    inbox: Vec<u8>,
    outbox: Vec<u8>,
    ended: bool,
}

impl Peer {
    /// Connects to `addr` (the kernel completes the TCP handshake; the
    /// server accepts on its next turn).
    pub fn connect(addr: SocketAddr) -> Peer {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        stream.set_nonblocking(true).expect("non-blocking");
        Peer { stream, inbox: Vec::new(), outbox: Vec::new(), ended: false }
    }

    /// Queues `bytes` and writes what the socket takes now.
    pub fn write(&mut self, bytes: &[u8]) {
        self.outbox.extend_from_slice(bytes);
        self.flush();
    }

    /// Queues one masked text frame holding `text` (see [`Peer::write`]).
    pub fn send(&mut self, text: &str) {
        self.write(&text_frame(text));
    }

    /// Writes what the socket takes of the outbox; returns how many bytes.
    /// A write error (the server cut the connection) drops the rest.
    pub fn flush(&mut self) -> usize {
        let mut written = 0;
        while !self.outbox.is_empty() {
            match self.stream.write(&self.outbox) {
                Ok(n) => {
                    self.outbox.drain(..n);
                    written += n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => self.outbox.clear(),
            }
        }
        written
    }

    /// Reads what has arrived into the inbox; returns how many bytes. The
    /// end of the stream (or a reset) is noted ([`Peer::ended`]).
    pub fn fill(&mut self) -> usize {
        self.fill_at_most(usize::MAX)
    }

    /// [`Peer::fill`], reading at most `limit` bytes: a reader slower than
    /// the server.
    pub fn fill_at_most(&mut self, limit: usize) -> usize {
        let mut chunk = [0u8; 65536];
        let mut read = 0;
        while !self.ended && read < limit {
            let room = chunk.len().min(limit - read);
            match self.stream.read(&mut chunk[..room]) {
                Ok(0) => self.ended = true,
                Ok(n) => {
                    self.inbox.extend_from_slice(&chunk[..n]);
                    read += n;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => self.ended = true,
            }
        }
        read
    }

    /// [`Peer::flush`], then [`Peer::fill`].
    pub fn pump(&mut self) {
        self.flush();
        self.fill();
    }

    /// Whether the server ended the stream (everything before the end may
    /// still be in the inbox).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Bytes queued and not yet taken by the socket.
    pub fn unsent(&self) -> usize {
        self.outbox.len()
    }

    /// Bytes read and not yet taken.
    pub fn unread(&self) -> usize {
        self.inbox.len()
    }

    /// The socket, for what the methods do not cover.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Takes an HTTP response head (and its body, if it has a length) from
    /// the inbox, if all of it is there.
    pub fn take_http_response(&mut self) -> Option<String> {
        let (response, used) = wire::parse_http_response(&self.inbox)?;
        self.inbox.drain(..used);
        Some(response)
    }

    /// Takes the next server frame from the inbox, if all of it is there.
    pub fn take_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let (frame, used) = wire::parse_server_frame(&self.inbox)?;
        self.inbox.drain(..used);
        Some(frame)
    }
}
