//! The embeddable server: a listener and its connections inside a host's
//! `mio::Poll`.
//!
//! Owns: the listener, the [`Slab`] of connections and their tokens, the
//! turn structure (fair budgets, deferred closes, deadlines), the
//! [`Store`] and the save thread ([`Worker`]). It is the only module that
//! names mio types and the only one that registers sources. It never sees
//! JSON: messages go to [`crate::protocol::decode`], commands to
//! [`Store::execute`]; saves, loads and large `KV_FIND` searches are
//! answered later (`dispatch.rs`).
//!
//! The host owns the `Poll`, its `Waker` and the clock: it passes `now` in,
//! sleeps at most [`Server::poll_timeout`], hands over events the server
//! [`owns`](Server::owns), and calls [`Server::tick`] once per turn. No call
//! blocks (but the two meant for a host's exit path, [`Server::wait_for_jobs`]
//! and [`Server::save_all`]) and none returns an error for what one peer
//! did.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, ErrorKind, Write};
use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use slab::Slab;

use crate::config::Config;
use crate::conn::{CloseReason, Conn, Limits, Message, Scratch, Served, Transport};
use crate::error::Error;
use crate::http_upgrade::Reject;
use crate::persist::Worker;
use crate::protocol::Protocol;
pub use crate::store::Stats;
use crate::store::{JobId, ServerInfo, Store};

mod dispatch;

pub use dispatch::dispatch;
use dispatch::{JOB_POLL_INTERVAL, handle};

/// Tokens this server may use in the host's `Poll`: `base` is the listener
/// and `base + 1 ..= base + max_conns` are connections. The host must not use
/// them for anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenRange {
    /// The listener's token.
    pub base: usize,
    /// How many connections may be open at once; past it, new connections
    /// are refused with HTTP 503.
    pub max_conns: usize,
}

impl TokenRange {
    /// Whether `token` falls in this range.
    pub fn contains(&self, token: Token) -> bool {
        token.0 >= self.base && token.0 - self.base <= self.max_conns
    }

    fn listener(&self) -> Token {
        Token(self.base)
    }

    fn conn(&self, key: usize) -> Token {
        Token(self.base + 1 + key)
    }
}

/// How long a closing connection may take to drain and end its stream.
const LINGER_TIMEOUT: Duration = Duration::from_secs(2);

/// How long to stop accepting after the process ran out of file
/// descriptors, so the loop does not spin on a listener it cannot drain.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Slab capacity kept when the last connection leaves; a larger one, grown
/// by a busy moment, is released.
const IDLE_SLOTS_KEPT: usize = 64;

/// Refused connections kept open briefly so their 503 is read before the
/// socket closes; beyond this many, extras are dropped at once.
const MAX_REFUSED_LINGERING: usize = 64;

impl Transport for TcpStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

/// A connection in the slab.
struct Slot {
    conn: Conn<TcpStream>,
    /// Tells a reused slab key from the connection a deadline was set for.
    serial: u64,
    /// Finished; removed at the end of the turn.
    dead: bool,
    /// Already in the ready queue.
    queued: bool,
    /// The turn it was last served in: at most once per turn.
    served_turn: u64,
    /// When the peer last sent anything (idle timeout).
    last_read: Instant,
    /// Since when pending output has made no progress (send timeout).
    stalled_since: Option<Instant>,
    /// When the next idle or send check for this connection is due.
    check_at: Option<Instant>,
}

/// An ndb server bound to its address.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    tokens: TokenRange,
    conns: Slab<Slot>,
    next_serial: u64,
    store: Store,
    /// Runs save and load jobs on a thread of its own.
    worker: Worker,
    /// Connections waiting for the reply of a job: (job, key, serial).
    waiting: Vec<(JobId, usize, u64)>,
    protocol: Protocol,
    limits: Limits,
    scratch: Scratch,
    /// Connections with input left after their budget ran out.
    ready: VecDeque<(usize, u64)>,
    /// Turns so far (one per [`Server::tick`]).
    turn: u64,
    /// Keys of finished connections, removed at the end of the turn.
    dead: Vec<usize>,
    handshake_timeout: Duration,
    idle_timeout: Option<Duration>,
    send_timeout: Option<Duration>,
    /// Fixed-length deadlines, in the order they were set.
    handshake_deadlines: VecDeque<(Instant, usize, u64)>,
    linger_deadlines: VecDeque<(Instant, usize, u64)>,
    /// Idle and send checks, whose times move: a min-heap in which an entry
    /// not matching its slot's `check_at` is stale and skipped.
    checks: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    refused: VecDeque<(Instant, TcpStream)>,
    accept_paused_until: Option<Instant>,
    /// Accepting has been failing (e.g. out of descriptors) since the last
    /// success: warn once per episode, not on every retry.
    accept_failing: bool,
    listening: bool,
}

impl Server {
    /// Binds the listening socket (nothing is registered yet).
    ///
    /// # Errors
    /// [`Error::Bind`] when the address does not resolve or cannot be bound
    /// (e.g. the port is in use).
    pub fn bind(config: Config, tokens: TokenRange) -> Result<Server, Error> {
        let address = format!("{}:{}", config.ip, config.port);
        let bind_error = |source| Error::Bind { address: address.clone(), source };
        let addrs: Vec<SocketAddr> = address.to_socket_addrs().map_err(bind_error)?.collect();
        let std_listener = StdListener::bind(&addrs[..]).map_err(bind_error)?;
        std_listener.set_nonblocking(true).map_err(bind_error)?;
        let local_addr = std_listener.local_addr().map_err(bind_error)?;
        let limits = Limits {
            max_payload: config.max_payload,
            output_pause_bytes: config.output_pause_bytes,
            max_output_bytes: config.max_output_bytes,
            messages_per_turn: config.messages_per_turn,
            allowed_origins: config.allowed_origins.clone(),
            max_head_bytes: config.max_head_bytes,
        };
        let mut store = Store::new(ServerInfo::from(&config));
        store.set_max_value_bytes(config.max_payload);
        store.set_container_limits(crate::store::containers::Limits {
            max_capacity: config.array_max_capacity,
            array_max_response: config.array_max_response_size,
            list_max_response: config.list_max_response_size,
        });
        let worker = Worker::new(config.persist_path.clone());
        Ok(Server {
            listener: TcpListener::from_std(std_listener),
            local_addr,
            tokens,
            conns: Slab::new(),
            next_serial: 0,
            store,
            worker,
            waiting: Vec::new(),
            protocol: config.protocol,
            limits,
            scratch: Scratch::default(),
            ready: VecDeque::new(),
            turn: 0,
            dead: Vec::new(),
            handshake_timeout: config.handshake_timeout,
            idle_timeout: config.idle_timeout,
            send_timeout: config.send_timeout,
            handshake_deadlines: VecDeque::new(),
            linger_deadlines: VecDeque::new(),
            checks: BinaryHeap::new(),
            refused: VecDeque::new(),
            accept_paused_until: None,
            accept_failing: false,
            listening: false,
        })
    }

    /// The address the server listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The store, for inspecting it (feature `internals`).
    #[cfg(feature = "internals")]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store, mutably (feature `internals`; a host loads saves with
    /// [`Server::load_at_start`]).
    #[cfg(feature = "internals")]
    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        self.store.stats()
    }

    /// Open connections (upgraded or not).
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Registers the listener with the host's `Poll`.
    ///
    /// # Errors
    /// The registry's error.
    pub fn register(&mut self, registry: &Registry) -> io::Result<()> {
        registry.register(&mut self.listener, self.tokens.listener(), Interest::READABLE)?;
        self.listening = true;
        Ok(())
    }

    /// Whether an event with this token is the server's to handle.
    pub fn owns(&self, token: Token) -> bool {
        self.tokens.contains(token)
    }

    /// Handles one event the server [`owns`](Server::owns).
    pub fn handle_event(&mut self, registry: &Registry, event: &Event, now: Instant) {
        self.store.start(now);
        let token = event.token();
        if token == self.tokens.listener() {
            self.accept(registry, now);
            return;
        }
        let key = token.0.wrapping_sub(self.tokens.base + 1);
        let Some(slot) = self.conns.get_mut(key) else { return };
        if slot.dead {
            return;
        }
        if event.is_writable() {
            // The peer took some output (or there was none): not stalled.
            slot.stalled_since = None;
            let was_closing = slot.conn.is_closing();
            let served = slot.conn.flush(&self.limits);
            self.after(key, served, was_closing, now);
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            if let Some(slot) = self.conns.get_mut(key) {
                slot.last_read = now;
            }
            self.serve(key, now);
        }
    }

    /// How long the host may sleep: `Some(ZERO)` when work is pending (an
    /// expiry backlog included), the time to the next deadline (connection
    /// timeouts and session expiry alike), or `None` when there is nothing
    /// to wait for.
    pub fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.ready.is_empty() || !self.dead.is_empty() || self.store.has_queued_jobs() {
            return Some(Duration::ZERO);
        }
        let jobs = (self.worker.in_flight() > 0).then(|| now + JOB_POLL_INTERVAL);
        [
            jobs,
            self.handshake_deadlines.front().map(|d| d.0),
            self.linger_deadlines.front().map(|d| d.0),
            self.refused.front().map(|r| r.0),
            self.checks.peek().map(|c| c.0.0),
            self.accept_paused_until,
            self.store.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|deadline| deadline.saturating_duration_since(now))
    }

    /// Runs the work of a turn that no event triggered: connections with
    /// input left, deadlines, session expiry (within a per-turn budget; a
    /// backlog makes [`Server::poll_timeout`] return zero until it is done),
    /// and removal of finished connections.
    pub fn tick(&mut self, registry: &Registry, now: Instant) {
        self.store.start(now);
        for _ in 0..self.ready.len() {
            let Some((key, serial)) = self.ready.pop_front() else { break };
            if let Some(slot) = self.conns.get_mut(key).filter(|s| s.serial == serial && !s.dead) {
                slot.queued = false;
                self.serve(key, now);
            }
        }
        self.run_jobs(now);
        self.expire(now);
        let expired = self.store.expire(now);
        if expired > 0 {
            log::trace!("{expired} sessions expired");
        }
        if self.accept_paused_until.is_some_and(|until| now >= until) {
            self.accept_paused_until = None;
            self.accept(registry, now);
        }
        self.reap(registry);
        self.turn += 1;
    }

    /// Starts a clean shutdown: stops accepting, sends every client a close
    /// frame with code 1001 (going away), and drops connections that have
    /// not upgraded. Keep running turns until [`Server::is_drained`] (or a
    /// deadline of the host's) to let the close frames out.
    pub fn shutdown(&mut self, registry: &Registry) {
        if self.listening {
            let _ = registry.deregister(&mut self.listener);
            self.listening = false;
        }
        let now_keys: Vec<usize> = self.conns.iter().map(|(key, _)| key).collect();
        for key in now_keys {
            let slot = &mut self.conns[key];
            if slot.dead {
                continue;
            }
            let served = slot.conn.close_with(1001, "server shutting down");
            if served == Served::Finished || slot.conn.is_handshaking() {
                self.kill(key);
            }
        }
        self.reap(registry);
    }

    /// Whether no connection is left (after [`Server::shutdown`]).
    pub fn is_drained(&self) -> bool {
        self.conns.is_empty()
    }

    fn accept(&mut self, registry: &Registry, now: Instant) {
        if !self.listening || self.accept_paused_until.is_some() {
            return;
        }
        loop {
            let (stream, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::ConnectionAborted) => continue,
                Err(e) => {
                    // Out of descriptors or memory: the pending connection
                    // stays in the backlog, so back off instead of spinning.
                    if !self.accept_failing {
                        warn!("accept failed: {e}; retrying every {ACCEPT_BACKOFF:?} until it succeeds");
                        self.accept_failing = true;
                    }
                    self.accept_paused_until = Some(now + ACCEPT_BACKOFF);
                    return;
                }
            };
            if self.accept_failing {
                info!("accepting connections again");
                self.accept_failing = false;
            }
            self.store.stats_mut().connections_total += 1;
            if self.conns.len() >= self.tokens.max_conns {
                debug!("{peer}: refused, at the connection limit ({})", self.tokens.max_conns);
                self.refuse(stream, now);
                continue;
            }
            let _ = stream.set_nodelay(true);
            let entry = self.conns.vacant_entry();
            let key = entry.key();
            let mut conn = Conn::new(stream);
            if let Err(e) =
                registry.register(conn.stream_mut(), self.tokens.conn(key), Interest::READABLE | Interest::WRITABLE)
            {
                warn!("{peer}: cannot register connection: {e}");
                continue;
            }
            self.next_serial += 1;
            let serial = self.next_serial;
            let slot = entry.insert(Slot {
                conn,
                serial,
                dead: false,
                queued: false,
                served_turn: u64::MAX,
                last_read: now,
                stalled_since: None,
                check_at: None,
            });
            if let Some(idle) = self.idle_timeout {
                arm(&mut self.checks, slot, key, now + idle);
            }
            self.store.stats_mut().connections_open = self.conns.len() as u64;
            self.handshake_deadlines.push_back((now + self.handshake_timeout, key, serial));
            debug!("conn {key}: accepted from {peer}");
        }
    }

    /// Answers 503 and keeps the socket a moment so the client can read it.
    fn refuse(&mut self, mut stream: TcpStream, now: Instant) {
        let _ = stream.write(Reject::Unavailable.response());
        let _ = stream.shutdown(std::net::Shutdown::Write);
        if self.refused.len() < MAX_REFUSED_LINGERING {
            self.refused.push_back((now + LINGER_TIMEOUT, stream));
        }
    }

    fn serve(&mut self, key: usize, now: Instant) {
        let Some(slot) = self.conns.get_mut(key) else { return };
        if slot.served_turn == self.turn {
            // Its budget for this turn is spent: serve it again next turn.
            if !slot.queued {
                slot.queued = true;
                self.ready.push_back((key, slot.serial));
            }
            return;
        }
        self.drive(key, now, None);
    }

    /// Serves a connection's input for this turn, first sending `late` (the
    /// reply it was waiting for) when given.
    fn drive(&mut self, key: usize, now: Instant, late: Option<&[u8]>) {
        let Some(slot) = self.conns.get_mut(key) else { return };
        slot.served_turn = self.turn;
        let store = &mut self.store;
        let protocol = self.protocol;
        let mut later = None;
        let mut handler =
            |message: Message<'_>, out: &mut Vec<u8>| handle(store, protocol, message, now, out, &mut later);
        let was_closing = slot.conn.is_closing();
        let served = match late {
            Some(reply) => slot.conn.resume(reply, &mut self.scratch, &self.limits, &mut handler),
            None => slot.conn.serve(&mut self.scratch, &self.limits, &mut handler),
        };
        if let Some(id) = later {
            self.waiting.push((id, key, slot.serial));
        }
        self.after(key, served, was_closing, now);
    }

    /// Book-keeping after a connection was served or flushed.
    fn after(&mut self, key: usize, served: Served, was_closing: bool, now: Instant) {
        let Some(slot) = self.conns.get_mut(key) else { return };
        if !was_closing && slot.conn.is_closing() {
            self.linger_deadlines.push_back((now + LINGER_TIMEOUT, key, slot.serial));
        }
        if let Some(send_timeout) = self.send_timeout {
            if slot.conn.pending_output() == 0 || slot.conn.is_closing() {
                slot.stalled_since = None;
            } else if slot.stalled_since.is_none() {
                slot.stalled_since = Some(now);
                arm(&mut self.checks, slot, key, now + send_timeout);
            }
        }
        match served {
            Served::Finished => self.kill(key),
            Served::MoreReady if !slot.queued => {
                slot.queued = true;
                self.ready.push_back((key, slot.serial));
            }
            Served::MoreReady | Served::Drained | Served::Paused => {}
        }
    }

    fn kill(&mut self, key: usize) {
        if let Some(slot) = self.conns.get_mut(key).filter(|s| !s.dead) {
            slot.dead = true;
            self.dead.push(key);
        }
    }

    /// Drops connections whose deadline passed.
    fn expire(&mut self, now: Instant) {
        while let Some(&(deadline, key, serial)) = self.handshake_deadlines.front() {
            if deadline > now {
                break;
            }
            self.handshake_deadlines.pop_front();
            if let Some(slot) = self.conns.get_mut(key).filter(|s| s.serial == serial && s.conn.is_handshaking()) {
                slot.conn.timed_out();
                self.kill(key);
            }
        }
        while let Some(&(deadline, key, serial)) = self.linger_deadlines.front() {
            if deadline > now {
                break;
            }
            self.linger_deadlines.pop_front();
            if let Some(slot) = self.conns.get_mut(key).filter(|s| s.serial == serial) {
                slot.conn.timed_out();
                self.kill(key);
            }
        }
        while self.refused.front().is_some_and(|r| r.0 <= now) {
            self.refused.pop_front();
        }
        while let Some(&Reverse((at, key, serial))) = self.checks.peek() {
            if at > now {
                break;
            }
            self.checks.pop();
            if let Some(slot) = self.conns.get_mut(key).filter(|s| s.serial == serial && s.check_at == Some(at)) {
                slot.check_at = None;
                self.check(key, now);
            }
        }
    }

    /// Closes a connection idle or stalled past its timeout, or re-arms its
    /// check for the next time one could pass.
    fn check(&mut self, key: usize, now: Instant) {
        let Some(slot) = self.conns.get_mut(key).filter(|s| !s.dead && !s.conn.is_closing()) else { return };
        let idle_at = self.idle_timeout.map(|t| slot.last_read + t);
        let send_at = self.send_timeout.zip(slot.stalled_since).map(|(t, since)| since + t);
        let served = if idle_at.is_some_and(|t| t <= now) {
            debug!("conn {key}: idle for {:?}, closing", self.idle_timeout.unwrap_or_default());
            slot.conn.close_with(1001, "idle timeout")
        } else if send_at.is_some_and(|t| t <= now) {
            // The kernel wakes a writer only once a good part of its buffer
            // is free, so a slow reader may have taken bytes without a
            // writable event: whatever it took is progress.
            let before = slot.conn.pending_output();
            let served = slot.conn.flush(&self.limits);
            if served == Served::Finished || slot.conn.pending_output() < before {
                slot.stalled_since = None;
                self.after(key, served, false, now);
                return;
            }
            debug!("conn {key}: took no output for {:?}, closing", self.send_timeout.unwrap_or_default());
            slot.conn.close_overloaded("send timeout")
        } else {
            if let Some(next) = idle_at.into_iter().chain(send_at).min() {
                arm(&mut self.checks, slot, key, next);
            }
            return;
        };
        self.after(key, served, false, now);
    }

    /// Deregisters and drops finished connections.
    fn reap(&mut self, registry: &Registry) {
        for key in self.dead.drain(..) {
            if let Some(mut slot) = self.conns.try_remove(key) {
                let _ = registry.deregister(slot.conn.stream_mut());
                match slot.conn.take_reason() {
                    Some(CloseReason::Transport(e)) => debug!("conn {key}: closed: {e}"),
                    Some(reason) => debug!("conn {key}: closed: {reason:?}"),
                    None => debug!("conn {key}: closed"),
                }
            }
        }
        self.store.stats_mut().connections_open = self.conns.len() as u64;
        if self.conns.is_empty() && self.conns.capacity() > IDLE_SLOTS_KEPT {
            // Everyone left: give back what the busiest moment grew. With no
            // connection, every queued deadline and check is stale.
            self.conns = Slab::new();
            self.ready = VecDeque::new();
            self.handshake_deadlines = VecDeque::new();
            self.linger_deadlines = VecDeque::new();
            self.checks = BinaryHeap::new();
            debug!("no connections left: released their tables");
        }
    }
}

/// Schedules a check of `slot` at `at`, unless one is due earlier.
fn arm(checks: &mut BinaryHeap<Reverse<(Instant, usize, u64)>>, slot: &mut Slot, key: usize, at: Instant) {
    if slot.check_at.is_none_or(|due| at < due) {
        slot.check_at = Some(at);
        checks.push(Reverse((at, key, slot.serial)));
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("tokens", &self.tokens)
            .field("connections", &self.conns.len())
            .finish_non_exhaustive()
    }
}
