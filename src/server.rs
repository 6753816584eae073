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
//! Connections run over a `Socket` (`socket.rs`): plain TCP, or TLS (feature
//! `tls`, `tls.rs`). With users configured, or while not serving (start-up
//! loads, shutdown), upgrades are held and answered here (`answer.rs`), as
//! are `/healthz` and `/metrics`; the start-up load runs on a thread of its
//! own (`startup.rs`).
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
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use slab::Slab;

use crate::auth::Failures;
use crate::config::Config;
use crate::config::{LogFsync, LogSettings};
use crate::conn::{CloseReason, Conn, Late, Limits, Message, Scratch, Served};
use crate::error::Error;
use crate::http_upgrade::Reject;
use crate::persist::Worker;
use crate::persist::wal::LogWriter;
use crate::protocol::{CommandName, Protocol, Verb};
pub use crate::store::Stats;
use crate::store::{JobId, ServerInfo, Store};

mod answer;
mod compaction;
mod dispatch;
mod durable;
mod schedule;
mod socket;
mod startup;
#[cfg(feature = "tls")]
mod tls;

pub use dispatch::{Context, LOG_FAILED, Later, NOT_PERMITTED, changes_data, dispatch, dispatch_as, handle};
use dispatch::{Holding, JOB_POLL_INTERVAL};
use socket::{Socket, Tcp};

/// What the server is doing, as `/healthz` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Loading saves at start-up ([`Server::load_at_start`]): `/healthz`
    /// and upgrades get HTTP 503.
    Loading,
    /// Serving: `/healthz` answers 200.
    Serving,
    /// Shut down ([`Server::shutdown`]): `/healthz` and upgrades get HTTP
    /// 503 until the host drops the server.
    ShuttingDown,
}

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

/// Finished connections dropped (their sockets closed) per loop turn; the
/// rest wait, marked dead, for the next turn. Closing a socket with unread
/// bytes resets it, and the kernel frees its queued bytes, and on loopback
/// the peer's, in the closer's context: 249 attackers leaving at once took
/// one turn 14.7 ms (about 60 µs each), so 64 is about 4 ms. Connections
/// shed with their unread bytes (`maxPartialBytes`) took 150–200 µs each,
/// hence also [`DROP_TIME_PER_TURN`].
const MAX_DROPS_PER_TURN: usize = 64;

/// Time a turn spends dropping finished connections before it leaves the
/// rest for the next turn (1 ms; one connection at least, whose cost the
/// kernel's socket buffer limits bound).
const DROP_TIME_PER_TURN: Duration = Duration::from_millis(1);

/// Bytes read from client sockets in one loop turn, over every connection
/// (512 KiB). Reading costs the loop 1–4 ms of CPU per MiB on loopback
/// (the `recv` copy and the kernel's TCP work each read triggers, the
/// peer's transmission included, then the copy into the input buffer,
/// its fresh pages faulted in, unmasking and the UTF-8 check; the more the
/// smaller the reads): 2,500 peers each with a megabyte ready made one
/// turn read tens of MiB and take 39 ms, and 2 MiB in reads of 16 KiB
/// took up to 8.3 ms. At 1 MiB the longest turns of 2,500 unfinished
/// messages took 3.6–4.5 ms of CPU, with rare turns of 10–14 ms (page
/// faults and copies, `perf`); at 512 KiB, 2.5–2.8 ms in the same session,
/// and a `KV_SET` of 512 KiB or 3 MiB over 4 connections ran as fast
/// (docs/performance.md). A single busy connection gets all of it, every
/// turn, with no new event needed: one large message is read at half a
/// megabyte a turn, against some 20 µs of other work per turn.
const TURN_READ_BYTES: usize = 512 * 1024;

/// The smallest share of [`TURN_READ_BYTES`] a ready connection gets in a
/// turn (16 KiB, Redis's `PROTO_IOBUF_LEN`): the budget is divided among
/// the connections ready in the turn, but smaller reads would cost more in
/// system calls than in bytes. With more than 64 ready, those the budget
/// does not reach are read first next turn.
const MIN_READ_SHARE_BYTES: usize = 16 * 1024;

/// A reply held until the log batch `seq` is durable; the connection
/// waits for it under `id`, as for a job's reply.
#[derive(Debug)]
struct Held {
    seq: u64,
    id: JobId,
    reply: Vec<u8>,
    status: crate::protocol::Status,
}

/// A connection in the slab.
struct Slot {
    conn: Conn<Socket>,
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
    /// When the next idle, send or message check for this connection is due.
    check_at: Option<Instant>,
    /// The unfinished message being timed: the connection's mark for it
    /// and when it was first seen (message timeout).
    unfinished: Option<(u32, Instant)>,
    /// Its [`Conn::input_bytes`] as last counted in the server's total.
    input_held: usize,
    /// Its [`Conn::output_bytes`] as last counted in the server's total.
    output_held: usize,
    /// The peer's address, when it was accepted, and the last command it
    /// sent (`SV_CLIENTS`).
    peer: SocketAddr,
    #[cfg(feature = "introspection")]
    accepted: Instant,
    #[cfg(feature = "introspection")]
    last_command: Option<CommandName>,
    /// Its socket holds replies until the log is durable (listed in
    /// `Server::corked`).
    corked: bool,
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
    /// What the job and log threads wake the host's `Poll` with
    /// (`persist/wake.rs`); `None` if no eventfd could be made (the loop
    /// then only looks every `JOB_POLL_INTERVAL`).
    wake: Option<std::sync::Arc<crate::persist::wake::Wake>>,
    /// Connections waiting for the reply of a job.
    waiting: Vec<Waiting>,
    /// The durable log's thread, once [`Server::open_log`] opened it.
    wal: Option<LogWriter>,
    /// The log's settings (`persist.log`).
    log_settings: LogSettings,
    /// Compacts the log when it outgrows its base (`server/compaction.rs`).
    compactor: crate::persist::wal::Compactor,
    /// Replies of commands that changed data, held until the log batch of
    /// their records is durable (`fsync always`), oldest first.
    held: VecDeque<Held>,
    /// Held replies of the connection being served, moved to `held`.
    holding: Holding,
    /// Connections whose sockets hold replies until the log is durable.
    corked: Vec<(usize, u64)>,
    /// Scheduled saves (`persist.saveEvery`).
    schedule: schedule::Schedule,
    protocol: Protocol,
    limits: Limits,
    scratch: Scratch,
    /// Connections with input left after their budget or their share of
    /// the turn's reads ran out, and readable ones holding part of a
    /// message: served round-robin after `fresh`, as the read budget allows.
    ready: VecDeque<(usize, u64)>,
    /// Connections readable since they were last served with nothing
    /// unfinished held (a new request, most often a small one): served
    /// first in the turn, in the order their events came.
    fresh: VecDeque<(usize, u64)>,
    /// What is left of [`TURN_READ_BYTES`] in this turn.
    read_budget: usize,
    /// What one connection may read this turn (see [`MIN_READ_SHARE_BYTES`]).
    read_share: usize,
    /// Turns so far (one per [`Server::tick`]).
    turn: u64,
    /// Keys of finished connections, removed at the end of the turn (as
    /// many as [`MAX_DROPS_PER_TURN`] and [`DROP_TIME_PER_TURN`] allow), in
    /// the order they finished.
    dead: VecDeque<usize>,
    handshake_timeout: Duration,
    idle_timeout: Option<Duration>,
    send_timeout: Option<Duration>,
    message_timeout: Option<Duration>,
    /// Bytes of input not served yet, over every connection (the sum of
    /// their `input_held`).
    input_total: usize,
    /// Past this, connections holding the most input are closed.
    max_partial_bytes: usize,
    /// The cap was passed and not yet left well behind: warn once per
    /// episode, not once per connection closed.
    shedding: bool,
    /// Bytes held for replies not sent yet, over every connection (the sum
    /// of their `output_held`).
    output_total: usize,
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
    health: Health,
    /// The slow-down of failed logins, per address.
    failures: Failures,
    /// Held requests to answer later (a failed login's slow-down).
    answers: BinaryHeap<Reverse<answer::Due>>,
    /// The first `now` of this loop turn: request latency counts from it.
    turn_started: Option<Instant>,
    /// A start-up load under way, and then its outcome.
    loading: Option<startup::Loading>,
    start_load_result: Option<Result<(), Error>>,
    /// Where the start-up load read a save from, once it did.
    loaded_at_start: Option<std::path::PathBuf>,
    /// `SV_CLIENTS` requests to answer this turn: their reply ids.
    client_lists: Vec<JobId>,
    /// The certificate and key new TLS connections are served with.
    #[cfg(feature = "tls")]
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    tls_files: Option<crate::config::TlsFiles>,
}

/// A connection waiting for the reply of a job.
struct Waiting {
    id: JobId,
    key: usize,
    serial: u64,
    /// The command, for the metrics.
    name: Option<CommandName>,
    /// The start of the turn the request was read in.
    since: Instant,
    /// The flag that stops the job, if it is a search.
    cancel: Option<Arc<AtomicBool>>,
    /// The start of the request's text and its length, for the slow log.
    #[cfg(feature = "introspection")]
    text: Box<str>,
    #[cfg(feature = "introspection")]
    bytes: usize,
}

/// The message of a refusal to start in protected mode.
#[cfg(not(feature = "auth"))]
fn protected_mode_refusal(address: &str) -> String {
    format!(
        "refusing to listen on {address} with no users configured (protected mode): anyone who can reach it \
         could read, change and save over every key, and this ndb-server was built without users (the cargo \
         feature `auth`; see docs/operations.md, \"A minimal build\"). Listen on 127.0.0.1, or turn protected \
         mode off on purpose (--protected-mode no, or \"protectedMode\": false)"
    )
}

/// The message of a refusal to start in protected mode.
#[cfg(feature = "auth")]
fn protected_mode_refusal(address: &str) -> String {
    format!(
        "refusing to listen on {address} with no users configured (protected mode): anyone who can reach it \
         could read, change and save over every key. Add a user (\"users\" in the config file, or \
         --user NAME:ROLE:SHA256HEX; see docs/operations.md, \"Running exposed\"), listen on 127.0.0.1, or \
         turn protected mode off on purpose (--protected-mode no, or \"protectedMode\": false)"
    )
}

impl Server {
    /// Binds the listening socket (nothing is registered yet).
    ///
    /// # Errors
    /// [`Error::Bind`] when the address does not resolve or cannot be bound
    /// (e.g. the port is in use); [`Error::Config`] in protected mode when
    /// the address is not loopback and no user is configured, and when the
    /// TLS certificate or key cannot be used.
    pub fn bind(config: Config, tokens: TokenRange) -> Result<Server, Error> {
        let address = format!("{}:{}", config.ip, config.port);
        let bind_error = |source| Error::Bind { address: address.clone(), source };
        let addrs: Vec<SocketAddr> = address.to_socket_addrs().map_err(bind_error)?.collect();
        if config.protected_mode && config.users.is_empty() && addrs.iter().any(|a| !a.ip().is_loopback()) {
            return Err(Error::Config(crate::ConfigError::field("protectedMode", protected_mode_refusal(&address))));
        }
        #[cfg(feature = "tls")]
        let tls = match &config.tls {
            Some(files) => Some(tls::load(files).map_err(|e| Error::Config(crate::ConfigError::field("tls", e)))?),
            None => None,
        };
        for user in config.users.iter().filter(|u| u.has_plaintext_password()) {
            warn!(
                "user {:?} has a plaintext \"password\" in the config: for development only; give its \
                 \"passwordSha256\" instead (printf %s PASSWORD | sha256sum)",
                user.name()
            );
        }
        let std_listener = StdListener::bind(&addrs[..]).map_err(bind_error)?;
        std_listener.set_nonblocking(true).map_err(bind_error)?;
        let local_addr = std_listener.local_addr().map_err(bind_error)?;
        reserve_descriptors(&std_listener, config.max_connections.saturating_add(SPARE_DESCRIPTORS));
        let limits = Limits {
            max_payload: config.max_payload,
            output_pause_bytes: config.output_pause_bytes,
            max_output_bytes: config.max_output_bytes,
            messages_per_turn: config.messages_per_turn,
            allowed_origins: config.allowed_origins.clone(),
            max_head_bytes: config.max_head_bytes,
            hold_upgrades: !config.users.is_empty(),
            users: config.users.clone(),
            lend_text_over: config.decode_off_loop_bytes,
        };
        let mut store = Store::new(ServerInfo::from(&config));
        // With the log asked for, writes wait for Server::open_log.
        store.refuse_writes(config.log.enabled);
        store.set_max_value_bytes(config.max_payload);
        store.set_container_limits(crate::store::containers::Limits {
            max_capacity: config.array_max_capacity,
            array_max_response: config.array_max_response_size,
            list_max_response: config.list_max_response_size,
        });
        store.set_search_timeout(config.search_timeout);
        store.set_max_jobs(config.max_jobs);
        store.set_decode_threshold(config.decode_off_loop_bytes);
        store.memory_mut().set_cap(config.max_memory);
        #[cfg(feature = "introspection")]
        store.set_settings(config.effective_json(), config.slow_log_threshold, config.slow_log_length);
        if !config.save_every.is_empty() && config.persist_enabled {
            store.set_schedule_info(Some(crate::store::ScheduleInfo {
                name: config.save_name.clone(),
                status: "none",
                ..Default::default()
            }));
        }
        let mut worker = Worker::new(config.persist_path.clone());
        let wake = match crate::persist::wake::Wake::new() {
            Ok(wake) => Some(std::sync::Arc::new(wake)),
            Err(e) => {
                warn!("cannot create an eventfd ({e}): finished jobs are collected every millisecond");
                None
            }
        };
        if let Some(wake) = &wake {
            worker.set_wake(std::sync::Arc::clone(wake));
        }
        Ok(Server {
            listener: TcpListener::from_std(std_listener),
            local_addr,
            tokens,
            conns: Slab::new(),
            next_serial: 0,
            store,
            worker,
            wake,
            waiting: Vec::new(),
            wal: None,
            compactor: crate::persist::wal::Compactor::new(&config.log),
            log_settings: config.log,
            held: VecDeque::new(),
            holding: Holding::default(),
            corked: Vec::new(),
            schedule: schedule::Schedule::new(&config),
            protocol: config.protocol,
            limits,
            scratch: Scratch::default(),
            ready: VecDeque::new(),
            fresh: VecDeque::new(),
            read_budget: TURN_READ_BYTES,
            read_share: TURN_READ_BYTES,
            turn: 0,
            dead: VecDeque::new(),
            handshake_timeout: config.handshake_timeout,
            idle_timeout: config.idle_timeout,
            send_timeout: config.send_timeout,
            message_timeout: config.message_timeout,
            input_total: 0,
            max_partial_bytes: config.max_partial_bytes,
            shedding: false,
            output_total: 0,
            handshake_deadlines: VecDeque::new(),
            linger_deadlines: VecDeque::new(),
            checks: BinaryHeap::new(),
            refused: VecDeque::new(),
            accept_paused_until: None,
            accept_failing: false,
            listening: false,
            health: Health::Serving,
            failures: Failures::default(),
            answers: BinaryHeap::new(),
            turn_started: None,
            loading: None,
            start_load_result: None,
            loaded_at_start: None,
            client_lists: Vec::new(),
            #[cfg(feature = "tls")]
            tls,
            tls_files: config.tls.clone(),
        })
    }

    /// Whether connections are served over TLS (`wss://`).
    pub fn is_tls(&self) -> bool {
        self.tls_files.is_some()
    }

    /// Reads the TLS certificate and key again (after they were renewed on
    /// disk); new connections get the new ones, open connections keep
    /// theirs and stay open. `Ok(false)` when TLS is not configured.
    ///
    /// # Errors
    /// One line naming the file or the problem; the old certificate stays
    /// in use.
    pub fn reload_certificates(&mut self) -> Result<bool, Error> {
        let Some(files) = &self.tls_files else { return Ok(false) };
        #[cfg(feature = "tls")]
        {
            self.tls = Some(tls::load(files).map_err(|e| Error::Config(crate::ConfigError::field("tls", e)))?);
            info!("reloaded the TLS certificate {} and key {}", files.certificate.display(), files.key.display());
        }
        #[cfg(not(feature = "tls"))]
        let _ = files;
        Ok(true)
    }

    /// What the server is doing (what `/healthz` reports).
    pub fn health(&self) -> Health {
        self.health
    }

    fn set_health(&mut self, health: Health) {
        self.health = health;
        self.limits.hold_upgrades = !self.limits.users.is_empty() || health != Health::Serving;
    }

    /// The `/metrics` text at `now` (the Prometheus text format).
    pub fn metrics_text(&self, now: Instant) -> String {
        String::from_utf8_lossy(&self.render_metrics(now)).into_owned()
    }

    /// Moves this call's socket byte counts into the metrics.
    fn settle_io(&mut self) {
        let (received, sent) = socket::take_io();
        if received | sent != 0 {
            self.store.metrics_mut().add_io(received, sent);
        }
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

    /// Bytes every connection together holds for input not served yet:
    /// request heads, partial frames and messages, and frames read behind
    /// a reply that comes later. Kept under `maxPartialBytes` (as of the
    /// end of each connection's turn).
    pub fn partial_input_bytes(&self) -> usize {
        self.input_total
    }

    /// Bytes every connection together holds for replies not sent yet:
    /// output the peers have not taken, and what replies produced in pieces
    /// hold of their own (entries they share with the store not counted).
    pub fn pending_output_bytes(&self) -> usize {
        self.output_total
    }

    /// Registers the listener with the host's `Poll`.
    ///
    /// # Errors
    /// The registry's error.
    pub fn register(&mut self, registry: &Registry) -> io::Result<()> {
        registry.register(&mut self.listener, self.tokens.listener(), Interest::READABLE)?;
        if let Some(wake) = &self.wake {
            // Under the listener's token: the server has no other of its
            // own outside the connections' (`persist/wake.rs`).
            registry.register(&mut SourceFd(&wake.raw_fd()), self.tokens.listener(), Interest::READABLE)?;
        }
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
        self.turn_started.get_or_insert(now);
        self.event(registry, event, now);
        self.settle_io();
    }

    fn event(&mut self, registry: &Registry, event: &Event, now: Instant) {
        let token = event.token();
        if token == self.tokens.listener() {
            if let Some(wake) = &self.wake {
                // Perhaps a job or the log woke the loop: what they finished
                // is taken in this turn's tick.
                wake.drain();
            }
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
                if (event.is_read_closed() || event.is_error()) && slot.conn.is_waiting() {
                    // A connection waiting for a reply reads nothing until it
                    // comes, so it learns of the peer's end only then: its
                    // search can stop now.
                    cancel_searches(&self.waiting, key, slot.serial);
                }
            }
            self.readable(key);
        }
    }

    /// Queues a connection that became readable to be served in this
    /// turn's [`Server::tick`]: first if it holds nothing unfinished, else
    /// behind the connections already waiting with input (a connection
    /// already queued keeps its place).
    fn readable(&mut self, key: usize) {
        let Some(slot) = self.conns.get_mut(key) else { return };
        if slot.dead || slot.queued {
            return;
        }
        slot.queued = true;
        if slot.input_held == 0 {
            self.fresh.push_back((key, slot.serial));
        } else {
            self.ready.push_back((key, slot.serial));
        }
    }

    /// How long the host may sleep: `Some(ZERO)` when work is pending (an
    /// expiry backlog included), the time to the next deadline (connection
    /// timeouts and session expiry alike), or `None` when there is nothing
    /// to wait for.
    pub fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.ready.is_empty()
            || !self.fresh.is_empty()
            || !self.dead.is_empty()
            || self.store.has_queued_jobs()
            || !self.client_lists.is_empty()
        {
            return Some(Duration::ZERO);
        }
        // The save and log threads wake the host's Poll through the
        // eventfd; while they owe an answer (or held replies wait for the
        // log), look again soon all the same, should a wake-up be lost.
        let jobs = (self.worker.in_flight() > 0
            || self.loading.is_some()
            || !self.held.is_empty()
            || !self.corked.is_empty()
            || self.log_failing()
            || self.compacting())
        .then(|| now + JOB_POLL_INTERVAL);
        [
            jobs,
            self.answers.peek().map(|due| due.0.at),
            self.handshake_deadlines.front().map(|d| d.0),
            self.linger_deadlines.front().map(|d| d.0),
            self.refused.front().map(|r| r.0),
            self.checks.peek().map(|c| c.0.0),
            self.accept_paused_until,
            self.store.next_deadline(),
            self.next_scheduled_save(now),
            self.wal().and_then(LogWriter::hand_over_at),
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
        let turn_started = *self.turn_started.get_or_insert(now);
        self.poll_start_load(now);
        self.read_turn(now);
        self.schedule_saves(now);
        self.run_jobs(now);
        self.answer_due(now);
        self.expire(now);
        self.limit_input(now);
        let expired = self.store.expire(now);
        if expired > 0 {
            log::trace!("{expired} sessions expired");
        }
        self.commit_log(now);
        if self.accept_paused_until.is_some_and(|until| now >= until) {
            self.accept_paused_until = None;
            self.accept(registry, now);
        }
        self.reap(registry);
        if self.store.max_memory().is_some() {
            // Logs going back under the cap even if no command asks.
            self.store.memory_full();
        }
        self.store.metrics_mut().observe_turn(now.saturating_duration_since(turn_started));
        self.turn_started = None;
        self.scratch.new_turn();
        (self.read_budget, self.read_share) = (TURN_READ_BYTES, TURN_READ_BYTES);
        self.turn += 1;
        self.settle_io();
    }

    /// Starts a clean shutdown: sends every client a close frame with code
    /// 1001 (going away), and drops connections that have not upgraded.
    /// Keep running turns until [`Server::is_drained`] (or a deadline of
    /// the host's) to let the close frames out. Meanwhile the listener
    /// stays open so that probes learn of it: `/healthz` and new upgrades
    /// get HTTP 503; it closes when the server is dropped.
    pub fn shutdown(&mut self, registry: &Registry) {
        self.set_health(Health::ShuttingDown);
        self.answers.clear();
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
        self.settle_io();
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
            let Some(socket) = self.socket(stream, peer) else { continue };
            let entry = self.conns.vacant_entry();
            let key = entry.key();
            let mut conn = Conn::new(socket);
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
                unfinished: None,
                input_held: 0,
                output_held: 0,
                peer,
                #[cfg(feature = "introspection")]
                accepted: now,
                #[cfg(feature = "introspection")]
                last_command: None,
                corked: false,
            });
            if let Some(idle) = self.idle_timeout {
                arm(&mut self.checks, slot, key, now + idle);
            }
            self.store.stats_mut().connections_open = self.conns.len() as u64;
            self.handshake_deadlines.push_back((now + self.handshake_timeout, key, serial));
            debug!("conn {key}: accepted from {peer}");
        }
    }

    /// The stream of a new connection: TLS when certificates are
    /// configured.
    fn socket(&self, stream: TcpStream, peer: SocketAddr) -> Option<Socket> {
        #[cfg(feature = "tls")]
        if let Some(config) = &self.tls {
            return match tls::TlsSocket::new(stream, config.clone()) {
                Ok(tls) => Some(Socket::Tls(Box::new(tls))),
                Err(e) => {
                    warn!("{peer}: cannot start a TLS session: {e}");
                    None
                }
            };
        }
        let _ = peer;
        Some(Socket::Plain(Tcp(stream, socket::Cork::default())))
    }

    /// Answers 503 and keeps the socket a moment so the client can read it.
    /// Over TLS there is no session to answer in: the socket is closed.
    fn refuse(&mut self, mut stream: TcpStream, now: Instant) {
        if self.is_tls() {
            return;
        }
        if let Ok(n) = stream.write(Reject::Unavailable.response()) {
            socket::count_written(n);
        }
        let _ = stream.shutdown(std::net::Shutdown::Write);
        if self.refused.len() < MAX_REFUSED_LINGERING {
            self.refused.push_back((now + LINGER_TIMEOUT, stream));
        }
    }

    /// Serves the queued connections within the turn's read budget: those
    /// with a new request first, then those with input left over, each
    /// reading at most its share; those the budget does not reach keep
    /// their place for the next turn, and a connection stopped at its share
    /// goes to the back of `ready` (its socket is read again without a new
    /// event: mio's events are edge-triggered).
    fn read_turn(&mut self, now: Instant) {
        let queued = self.fresh.len() + self.ready.len();
        if queued == 0 {
            return;
        }
        self.read_share = (TURN_READ_BYTES / queued).max(MIN_READ_SHARE_BYTES);
        let backlog = self.ready.len();
        while self.read_budget > 0
            && let Some((key, serial)) = self.fresh.pop_front()
        {
            self.serve_queued(key, serial, now);
        }
        for _ in 0..backlog {
            if self.read_budget == 0 {
                break;
            }
            let Some((key, serial)) = self.ready.pop_front() else { break };
            self.serve_queued(key, serial, now);
        }
    }

    fn serve_queued(&mut self, key: usize, serial: u64, now: Instant) {
        if let Some(slot) = self.conns.get_mut(key).filter(|s| s.serial == serial && !s.dead) {
            slot.queued = false;
            self.serve(key, now);
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
    fn drive(&mut self, key: usize, now: Instant, late: Option<Late>) {
        let Some(slot) = self.conns.get_mut(key) else { return };
        slot.served_turn = self.turn;
        let store = &mut self.store;
        // An upgrade completed inside this call grants Role::Admin (no
        // users: `Limits::hold_upgrades`), which `Conn::new` starts with.
        let mut context = Context::new(self.protocol, slot.conn.role(), now, key, Some(slot.peer));
        let holding = &mut context.holding;
        std::mem::swap(holding, &mut self.holding);
        let wal = if cfg!(feature = "log") { self.wal.as_ref() } else { None };
        holding.hold = wal.is_some_and(|wal| wal.fsync() == LogFsync::Always);
        holding.seq = wal.map_or(0, LogWriter::next_seq);
        holding.cork = holding.hold && slot.conn.stream_mut().plain_mut().is_some();
        let mut handler = |message: Message<'_>, out: &mut Vec<u8>| handle(store, &mut context, message, out);
        let was_closing = slot.conn.is_closing();
        self.scratch.allow_reads(self.read_share.min(self.read_budget));
        let served = match late {
            Some(late) => slot.conn.resume(late, &mut self.scratch, &self.limits, &mut handler),
            None => slot.conn.serve(&mut self.scratch, &self.limits, &mut handler),
        };
        self.read_budget -= self.scratch.last_read().min(self.read_budget);
        std::mem::swap(&mut context.holding, &mut self.holding);
        if let Some(later) = &context.later
            && let Some((buf, start)) = slot.conn.take_message()
        {
            // A large message to decode off the loop: its buffer, as is.
            self.store.attach_message(later.id, buf, start);
        }
        #[cfg(feature = "introspection")]
        if context.last_command.is_some() {
            slot.last_command = context.last_command;
        }
        let cork = socket::take_cork_request();
        if cork != 0
            && let Some(tcp) = slot.conn.stream_mut().plain_mut()
        {
            tcp.cork_at(cork);
        }
        if !slot.corked && slot.conn.stream().is_corked() {
            slot.corked = true;
            self.corked.push((key, slot.serial));
        }
        if let Some(later) = context.later {
            let since = self.turn_started.unwrap_or(now);
            let cancel = self.store.cancel_flag(later.id);
            if later.name == Some(CommandName::Verb(Verb::SvClients)) {
                self.client_lists.push(later.id);
            }
            self.waiting.push(Waiting {
                id: later.id,
                key,
                serial: slot.serial,
                name: later.name,
                since,
                cancel,
                #[cfg(feature = "introspection")]
                text: later.text,
                #[cfg(feature = "introspection")]
                bytes: later.bytes,
            });
        }
        if !self.holding.held.is_empty() {
            let seq = if cfg!(feature = "log") { self.wal.as_ref().map_or(0, LogWriter::next_seq) } else { 0 };
            for (id, reply, status) in self.holding.held.drain(..) {
                self.held.push_back(Held { seq, id, reply, status });
            }
        }
        let held = slot.conn.is_held();
        self.after(key, served, was_closing, now);
        if held {
            self.take_held(key, now);
        }
    }

    /// Book-keeping after a connection was served or flushed (the cap on
    /// unfinished input is enforced once per turn, by
    /// [`Server::limit_input`]).
    fn after(&mut self, key: usize, served: Served, was_closing: bool, now: Instant) {
        self.account(key, served, was_closing, now);
    }

    /// If the input held over every connection passed `maxPartialBytes`,
    /// closes the connections holding the most. Once per turn, after the
    /// turn's reads: the total can pass the cap by at most what one turn
    /// reads ([`TURN_READ_BYTES`]) before the closes, and the pass over
    /// every connection is made once per turn, not once per read.
    fn limit_input(&mut self, now: Instant) {
        if self.input_total > self.max_partial_bytes {
            self.shed_input(now);
        } else if self.shedding && self.input_total <= self.max_partial_bytes / 2 {
            self.shedding = false;
        }
    }

    /// Counts what the connection holds, times its unfinished message, and
    /// queues or drops it.
    fn account(&mut self, key: usize, served: Served, was_closing: bool, now: Instant) {
        let Some(slot) = self.conns.get_mut(key) else { return };
        let (input, output) = (slot.conn.input_bytes(), slot.conn.output_bytes());
        self.input_total = self.input_total - slot.input_held + input;
        self.output_total = self.output_total - slot.output_held + output;
        (slot.input_held, slot.output_held) = (input, output);
        self.store.memory_mut().set_connections(self.input_total + self.output_total);
        if let Some(timeout) = self.message_timeout {
            match (slot.conn.unfinished(&self.limits), slot.unfinished) {
                (None, _) => slot.unfinished = None,
                (Some(mark), Some((seen, _))) if mark == seen => {}
                (Some(mark), _) => {
                    slot.unfinished = Some((mark, now));
                    arm(&mut self.checks, slot, key, now + timeout);
                }
            }
        }
        if !was_closing && slot.conn.is_closing() {
            self.linger_deadlines.push_back((now + LINGER_TIMEOUT, key, slot.serial));
        }
        if let Some(send_timeout) = self.send_timeout {
            if unsent(&slot.conn) == 0 || slot.conn.is_closing() {
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

    /// Closes (1008) the connections holding the most unfinished input,
    /// largest first (the newest first among equals), until the total is
    /// back under `maxPartialBytes`. One pass over the connections, once
    /// per connection closed at most, since each pass closes at least one.
    fn shed_input(&mut self, now: Instant) {
        let mut holders: Vec<(usize, u64, usize)> = self
            .conns
            .iter()
            .filter(|(_, s)| !s.dead && s.input_held > 0)
            .map(|(key, s)| (s.input_held, s.serial, key))
            .collect();
        crate::sort::heap_sort_by(&mut holders, |a, b| b < a);
        let mut excess = self.input_total - self.max_partial_bytes;
        if !std::mem::replace(&mut self.shedding, true) {
            warn!(
                "connections hold {} bytes of unfinished input, over maxPartialBytes ({}): closing those holding \
                 the most (1008)",
                self.input_total, self.max_partial_bytes
            );
        }
        for (held, _, key) in holders {
            if excess == 0 {
                break;
            }
            excess = excess.saturating_sub(held);
            let Some(slot) = self.conns.get_mut(key) else { continue };
            debug!("conn {key}: closing, it holds {held} bytes of unfinished input (maxPartialBytes)");
            let was_closing = slot.conn.is_closing();
            let served = slot.conn.close_for_input(1008, "too much unfinished input on the server");
            self.account(key, served, was_closing, now);
        }
    }

    fn kill(&mut self, key: usize) {
        if let Some(slot) = self.conns.get_mut(key).filter(|s| !s.dead) {
            slot.dead = true;
            self.dead.push_back(key);
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
        let message_at = self.message_timeout.zip(slot.unfinished).map(|(t, (_, since))| since + t);
        let served = if message_at.is_some_and(|t| t <= now) {
            debug!("conn {key}: message not finished within {:?}, closing", self.message_timeout.unwrap_or_default());
            slot.conn.close_for_input(1008, "message timeout")
        } else if idle_at.is_some_and(|t| t <= now) {
            debug!("conn {key}: idle for {:?}, closing", self.idle_timeout.unwrap_or_default());
            slot.conn.close_with(1001, "idle timeout")
        } else if send_at.is_some_and(|t| t <= now) {
            // The kernel wakes a writer only once a good part of its buffer
            // is free, so a slow reader may have taken bytes without a
            // writable event: whatever it took is progress.
            let before = unsent(&slot.conn);
            let served = slot.conn.flush(&self.limits);
            if served == Served::Finished || unsent(&slot.conn) < before {
                slot.stalled_since = None;
                self.after(key, served, false, now);
                return;
            }
            debug!("conn {key}: took no output for {:?}, closing", self.send_timeout.unwrap_or_default());
            slot.conn.close_overloaded("send timeout")
        } else {
            if let Some(next) = idle_at.into_iter().chain(send_at).chain(message_at).min() {
                arm(&mut self.checks, slot, key, next);
            }
            return;
        };
        self.after(key, served, false, now);
    }

    /// Deregisters and drops finished connections.
    fn reap(&mut self, registry: &Registry) {
        // The rest next turn: `poll_timeout` is zero while any is left.
        let started = Instant::now();
        let mut now_dropped = 0;
        while now_dropped < MAX_DROPS_PER_TURN
            && (now_dropped == 0 || started.elapsed() < DROP_TIME_PER_TURN)
            && let Some(key) = self.dead.pop_front()
        {
            now_dropped += 1;
            if let Some(mut slot) = self.conns.try_remove(key) {
                self.input_total -= slot.input_held;
                self.output_total -= slot.output_held;
                self.store.memory_mut().set_connections(self.input_total + self.output_total);
                let _ = registry.deregister(slot.conn.stream_mut());
                // No one will read its searches: dropped if they have not
                // started, stopped at their next step if they have.
                cancel_searches(&self.waiting, key, slot.serial);
                let store = &mut self.store;
                self.waiting.retain(|w| !(w.key == key && w.serial == slot.serial && store.drop_job(w.id)));
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
            self.fresh = VecDeque::new();
            self.handshake_deadlines = VecDeque::new();
            self.linger_deadlines = VecDeque::new();
            self.checks = BinaryHeap::new();
            debug!("no connections left: released their tables");
        }
    }
}

/// Descriptors beyond one per connection the descriptor table is grown to
/// hold at start ([`reserve_descriptors`]): the listener, the poll, the
/// wake-up eventfd, the log's segment, a save's files and the like.
const SPARE_DESCRIPTORS: usize = 64;

/// Grows the process's descriptor table, once, at start, to hold `n`
/// descriptors (at most the open-file limit): a descriptor above them all
/// is made and closed again. The kernel grows the table by doubling when a
/// new descriptor does not fit, and in a process of several threads each
/// growth waits for an RCU grace period: `accept4` held the loop for
/// 21–24 ms at a time while 2,500 connections arrived
/// (`tests/attack_stalls.rs`, `perf sched`, docs/performance.md). The
/// table never shrinks, so after this no `accept` grows it.
#[cfg(unix)]
fn reserve_descriptors(listener: &StdListener, n: usize) {
    use std::os::fd::AsRawFd;
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    let allowed = usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX);
    let Ok(top) = libc::c_int::try_from(n.min(allowed).saturating_sub(1)) else { return };
    if top < 64 {
        return;
    }
    // SAFETY: F_DUPFD_CLOEXEC duplicates an open descriptor this frame
    // borrows onto the lowest free number at least `top`; the duplicate is
    // closed at once and never used.
    let dup = unsafe { libc::fcntl(listener.as_raw_fd(), libc::F_DUPFD_CLOEXEC, top) };
    if dup >= 0 {
        // SAFETY: `dup` was just made here and nothing else refers to it.
        unsafe { libc::close(dup) };
    } else {
        debug!("cannot grow the descriptor table to {n}: {}", io::Error::last_os_error());
    }
}

/// Grows the descriptor table where the OS has one: nothing here.
#[cfg(not(unix))]
fn reserve_descriptors(_listener: &StdListener, _n: usize) {}

/// Output a connection's peer has not taken though it could: its pending
/// output and the replies its socket held for the log that are durable
/// now (those still waiting for the log are not the peer's delay).
fn unsent(conn: &Conn<Socket>) -> usize {
    conn.pending_output() + conn.stream().sendable_held()
}

/// Stops the searches the connection `key` (`serial`) waits for: they end
/// at their next step (with status 203, should anyone still read).
fn cancel_searches(waiting: &[Waiting], key: usize, serial: u64) {
    for waiting in waiting.iter().filter(|w| w.key == key && w.serial == serial) {
        if let Some(cancel) = &waiting.cancel {
            cancel.store(true, Ordering::Relaxed);
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
