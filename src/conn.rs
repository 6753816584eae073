//! One client connection: HTTP upgrade, then WebSocket frames, then close.
//!
//! Owns: the socket, its pending input and output bytes, message reassembly
//! and the RFC 6455 rules (masking, control frames, close handshake, close
//! codes). Must not touch: the store, mio, the clock. Generic over any
//! [`Transport`], so tests drive it with an in-memory stream.
//!
//! Frames go through `tungstenite`'s frame codec (`FrameHeader::parse` and
//! its opcodes and close codes); the buffers are ndb's own, because an idle
//! connection must cost almost nothing:
//! - reads land in a scratch buffer shared by all connections ([`Scratch`]),
//!   and complete messages are served straight from it;
//! - replies are written into the shared output scratch and sent with one
//!   `write` per batch;
//! - only bytes that must outlive a turn (a partial frame, output the peer
//!   has not accepted yet, fragments of a message) are copied into the
//!   connection's own `Buffers`, allocated on demand and freed as soon as
//!   they are empty. An idle connection is a few dozen bytes.
//!
//! Phases: `Handshake` → `Open` → `Closing` → closed. A connection that is
//! closing discards input, flushes what it owes (ending with a close frame or
//! an HTTP error), half-closes, and waits for the peer's end of stream.
//!
//! A request head the connection cannot answer alone is *held*
//! (`Handshake` → `Held`): an endpoint request (`/healthz`, `/metrics`),
//! and, when [`Limits::hold_upgrades`] says so (users are configured, or
//! the server is not serving yet), every upgrade. The server takes it with
//! [`Conn::take_held`] and answers when it chooses (`conn/held.rs`): that
//! is how a failed login is slowed down without blocking the loop. A held
//! connection reads nothing more until then.
//!
//! A message whose reply cannot be written at once (a save) is answered
//! [`ReplyKind::Later`]: the connection then serves nothing more until
//! [`Conn::resume`] delivers that reply (`conn/serve.rs`). A reply larger
//! than [`STREAM_REPLY_BYTES`] is delivered as a [`Body`] produced in pieces
//! as the peer takes them, sent as a fragmented message (`conn/stream.rs`).
//!
//! Input never reserves memory ahead of the bytes that arrived: a frame
//! header announcing a large payload costs nothing until the payload comes,
//! and buffers grow as it does ([`Conn::input_bytes`] says how much is held,
//! [`Conn::unfinished`] whether a message is under way, for the server's
//! cap and completion timeout).

mod held;
mod output;
mod serve;
mod stream;
mod wire;

use std::io::{self, Cursor, ErrorKind, Read, Write};

use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};

use crate::auth::{Access, Role, Users};
use crate::http_upgrade::{self, Parse, Reject};
pub use crate::input_buf::InputBuf;
pub use held::Held;
pub use stream::{Body, FRAGMENT_BYTES, Late, STREAM_BYTES_PER_TURN, STREAM_REPLY_BYTES, STREAM_STEPS_PER_TURN};
pub use wire::{IntoReplyKind, ReplyKind, unmask};
use wire::{RESERVED_HEADER_BYTES, check_utf8_prefix, finish_frame, write_frame};

/// A byte stream a connection runs over.
///
/// `read` and `write` follow non-blocking socket rules: `WouldBlock` means
/// "not now, wait for readiness". A layer between the socket and the
/// connection (TLS) may accept bytes it cannot send yet; it says so with
/// [`Transport::has_buffered`] and sends them in
/// [`Transport::send_buffered`], which the connection calls before any
/// other write and whenever the socket is writable.
pub trait Transport: Read + Write {
    /// Stops sending (TCP half-close), keeping the read side open.
    fn shutdown_write(&self) -> io::Result<()>;

    /// Whether bytes accepted by `write` still wait to go out.
    fn has_buffered(&self) -> bool {
        false
    }

    /// How many bytes accepted by `write` still wait to go out, when the
    /// layer holds whole replies (replies held for the durable log): they
    /// count as the connection's output for pausing, `maxOutputBytes` and
    /// the memory cap. 0 by default.
    fn buffered_bytes(&self) -> usize {
        0
    }

    /// Sends what waits (see [`Transport::has_buffered`]); `Ok(true)` once
    /// nothing is left, `Ok(false)` when the socket is full.
    ///
    /// # Errors
    /// The socket's.
    fn send_buffered(&mut self) -> io::Result<bool> {
        Ok(true)
    }

    /// Ends the stream at this layer, before the TCP half-close (a TLS
    /// `close_notify`, queued for [`Transport::send_buffered`]). Called
    /// once, when everything owed has been written.
    fn end_stream(&mut self) {}
}

/// Per-connection limits, shared by all connections.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest message (after reassembly) in bytes; bigger → close 1009.
    pub max_payload: usize,
    /// Stop reading a connection while its unsent output exceeds this.
    pub output_pause_bytes: usize,
    /// Close a connection (1008) whose unsent output exceeds this.
    pub max_output_bytes: usize,
    /// Messages served per connection per turn, so one peer cannot starve
    /// the rest.
    pub messages_per_turn: usize,
    /// Browser origins allowed to connect.
    pub allowed_origins: Vec<String>,
    /// Largest upgrade request head in bytes; bigger → HTTP 431.
    pub max_head_bytes: usize,
    /// Who may connect; credentials are checked once, at the upgrade.
    pub users: Users,
    /// Hold every valid upgrade for the server to answer ([`Conn::take_held`])
    /// instead of completing it at once. Must be set whenever `users` is
    /// not empty: only then can an upgrade grant a role other than
    /// [`Role::Admin`], and a role must be known before the first message.
    pub hold_upgrades: bool,
    /// A text message longer than this answered [`ReplyKind::Later`] is
    /// kept whole for the server ([`Conn::take_message`]) instead of being
    /// dropped from the input, so that a job can decode it without a copy
    /// (a 64 MiB copy into fresh memory costs about 30 ms). Default
    /// `usize::MAX`: never.
    pub lend_text_over: usize,
}

impl Default for Limits {
    /// The defaults of [`crate::Config`].
    fn default() -> Self {
        let config = crate::Config::default();
        Limits {
            max_payload: config.max_payload,
            output_pause_bytes: config.output_pause_bytes,
            max_output_bytes: config.max_output_bytes,
            messages_per_turn: config.messages_per_turn,
            allowed_origins: config.allowed_origins,
            max_head_bytes: config.max_head_bytes,
            hold_upgrades: !config.users.is_empty(),
            users: config.users,
            lend_text_over: usize::MAX,
        }
    }
}

/// Buffers shared by every connection of a server, reused every turn, and
/// the turn's budget for replies produced in pieces (shared by every
/// connection, so that many of them streaming at once still cost one turn
/// no more than the budget).
pub struct Scratch {
    read: Vec<u8>,
    write: Vec<u8>,
    stream: stream::Budget,
    /// Bytes the next serve may read from its socket (its share of the
    /// server's read budget for the turn); back to the default after it.
    allowance: usize,
    /// Bytes the last serve read from its socket.
    last_read: usize,
}

impl Scratch {
    /// Starts a new loop turn: the budget for replies produced in pieces
    /// ([`STREAM_STEPS_PER_TURN`], [`STREAM_BYTES_PER_TURN`]) is full again.
    pub fn new_turn(&mut self) {
        self.stream = stream::Budget::default();
    }

    /// Lets the next [`Conn::serve`] or [`Conn::resume`] (that one only)
    /// read at most `bytes` from its socket; it stops there with
    /// [`Served::MoreReady`]. Without it a call may read 4 MiB.
    pub fn allow_reads(&mut self, bytes: usize) {
        self.allowance = bytes;
    }

    /// Bytes the last [`Conn::serve`] or [`Conn::resume`] read from its
    /// socket.
    pub fn last_read(&self) -> usize {
        self.last_read
    }
}

/// Bytes read from a socket per `read` call.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Largest output scratch kept between turns (128 KiB): ample for the
/// replies of a turn of small requests; a turn that needed more (big values,
/// long pipelines) gets a fresh buffer afterwards rather than pinning it.
const SCRATCH_KEEP_BYTES: usize = 2 * READ_CHUNK_BYTES;

/// Reads per connection per turn (4 MiB), so a fast sender cannot hold the
/// loop even when its messages are tiny or it is being discarded.
const MAX_READS_PER_TURN: usize = 64;

/// The read allowance of a [`Scratch`] nobody set one for: as much as
/// [`MAX_READS_PER_TURN`] reads take (4 MiB).
const DEFAULT_ALLOWANCE_BYTES: usize = MAX_READS_PER_TURN * READ_CHUNK_BYTES;

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            read: vec![0; READ_CHUNK_BYTES],
            write: Vec::with_capacity(READ_CHUNK_BYTES),
            stream: stream::Budget::default(),
            allowance: DEFAULT_ALLOWANCE_BYTES,
            last_read: 0,
        }
    }
}

/// A complete message from the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'m> {
    /// A text message (valid UTF-8).
    Text(&'m str),
    /// A binary message.
    Binary(&'m [u8]),
}

/// Why a connection ended, for the log.
#[derive(Debug)]
pub enum CloseReason {
    /// The peer completed the close handshake or ended the stream.
    PeerClosed,
    /// The upgrade was refused with an HTTP error.
    Rejected(Reject),
    /// A plain HTTP request (`/healthz`, `/metrics`) was answered.
    Answered,
    /// ndb closed it with this WebSocket close code.
    Closed(u16),
    /// The socket failed; nothing more could be sent.
    Transport(io::Error),
    /// A deadline passed (handshake, idle or closing).
    TimedOut,
}

/// What a call to [`Conn::serve`] left to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Served {
    /// Everything readable was served; wait for the next readiness event.
    Drained,
    /// The per-turn message budget ran out with input left: serve again
    /// next turn without waiting for an event.
    MoreReady,
    /// Reading is paused until the peer takes some output.
    Paused,
    /// The connection is finished and can be dropped.
    Finished,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Handshake,
    /// A complete request head waits for the server's answer.
    Held,
    Open,
    Closing,
}

/// How a closing connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// After an HTTP refusal or a protocol error: discard input, half-close,
    /// wait for the peer's end of stream.
    Discard,
    /// We sent a close frame on our own initiative: keep parsing frames
    /// (muted) until the peer's close frame completes the handshake.
    AwaitReply,
    /// The close handshake is complete: drop the socket once our last
    /// bytes are out (RFC 6455: the server closes the TCP connection).
    Complete,
    /// Closed for input the peer holds or does not finish (unfinished input
    /// over the server's cap, a message past its completion timeout):
    /// nothing more is read, and the socket is dropped once the close frame
    /// is out, unread bytes and all, so the kernel resets the connection
    /// (as Redis drops a client past its query-buffer limit). What the peer
    /// still had to send costs the server nothing: drained instead, the
    /// 2,245 connections shed by 2,500 unfinished 1 MiB messages kept the
    /// attackers sending for 3.0–3.4 s rather than about 1 s, and moved
    /// some 130 MiB more over loopback (docs/performance.md).
    Reset,
}

/// What a connection keeps between turns; allocated only while non-empty.
#[derive(Default)]
struct Buffers {
    /// Received bytes not yet served: the request head, or a partial frame.
    input: InputBuf,
    /// Bytes the peer has not accepted yet.
    output: Vec<u8>,
    /// Fragments of a message being reassembled.
    message: InputBuf,
    /// The opcode of the message being reassembled.
    fragmented: Option<Data>,
    /// How much of `input` the handshake already searched.
    searched: usize,
    /// Leading bytes of `output` that must go out whole (see `output.rs`).
    committed: usize,
    /// Leading bytes of `message` known to be valid UTF-8 (text only).
    checked: usize,
    /// The request head held for the server, until it takes it.
    held: Option<Held>,
    /// The size of the frame `input` starts with, once its header is read:
    /// how far `input` may grow for it (see [`InputBuf::append`]).
    frame_len: usize,
    /// A large text message answered later, kept for the server
    /// ([`Conn::take_message`]): the buffer and where the text starts in it.
    lent: Option<(InputBuf, usize)>,
    /// A reply being produced in pieces (`stream.rs`).
    body: Option<Box<dyn Body>>,
    /// Whether the first fragment of `body` has been written.
    body_started: bool,
}

impl Buffers {
    fn is_empty(&self) -> bool {
        self.input.is_empty()
            && self.output.is_empty()
            && self.message.is_empty()
            && self.fragmented.is_none()
            && self.held.is_none()
            && self.body.is_none()
            && self.lent.is_none()
    }
}

/// One client connection.
pub struct Conn<S> {
    stream: S,
    phase: Phase,
    /// Whether our write side is shut down (closing only).
    write_shut: bool,
    /// Whether the transport was told the stream ends (closing only).
    stream_ended: bool,
    /// How it ends, once closing.
    ending: Ending,
    bufs: Option<Box<Buffers>>,
    /// Why it is closing or closed.
    reason: Option<CloseReason>,
    /// A message was answered [`ReplyKind::Later`]: nothing more is served
    /// until [`Conn::resume`] delivers its reply (and, for a reply produced
    /// in pieces, until its last piece is written).
    waiting: bool,
    /// What the peer's credentials allow (set at the upgrade).
    role: Role,
    /// Messages (and control frames outside a fragmented message) completed
    /// so far, wrapping: tells the server's completion timeout whether the
    /// unfinished message it sees is the one it saw before.
    completed: u32,
    /// The message just served is to be kept ([`Limits::lend_text_over`]).
    lend: bool,
    /// Where in the input that message lies, once its frame is done.
    lend_range: Option<(usize, usize)>,
    /// Leading payload bytes of the unfinished frame at the front of the
    /// unconsumed input that are unmasked already, as they arrived: a
    /// large frame is unmasked (and, for a text message in one frame,
    /// checked as UTF-8) a read at a time, not all in the turn it ends.
    prepared: usize,
    /// Of those, the leading bytes known to be valid UTF-8 (an unfragmented
    /// text frame only).
    prepared_utf8: usize,
}

/// Why frame processing stopped.
enum Stop {
    /// The rest of the buffer is a partial frame of this many bytes in all
    /// (0 while its header is incomplete).
    Incomplete(usize),
    /// The message budget is spent.
    Budget,
    /// Output reached the pause threshold: serve the rest once it drains.
    Full,
    /// The connection is closing.
    Closing,
    /// A reply comes later; the rest waits for it.
    Waiting,
}

impl<S: Transport> Conn<S> {
    /// A connection that has not upgraded yet.
    pub fn new(stream: S) -> Conn<S> {
        Conn {
            stream,
            phase: Phase::Handshake,
            write_shut: false,
            stream_ended: false,
            ending: Ending::Discard,
            bufs: None,
            reason: None,
            waiting: false,
            // What an upgrade completed without holding grants: without
            // users every connection may do everything.
            role: Role::Admin,
            completed: 0,
            lend: false,
            lend_range: None,
            prepared: 0,
            prepared_utf8: 0,
        }
    }

    /// A connection refused before its request is read (server at its
    /// connection limit): it sends `reject`'s response and closes.
    pub fn refused(stream: S, reject: Reject) -> Conn<S> {
        let mut conn = Conn::new(stream);
        conn.reject(reject);
        conn
    }

    /// The socket.
    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// The socket, mutably (for registration).
    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Whether the WebSocket upgrade completed.
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Whether the connection is closing.
    pub fn is_closing(&self) -> bool {
        self.phase == Phase::Closing
    }

    /// Whether the upgrade request has not been read whole yet.
    pub fn is_handshaking(&self) -> bool {
        self.phase == Phase::Handshake
    }

    /// Whether a complete request head waits for the server's answer
    /// ([`Conn::take_held`]).
    pub fn is_held(&self) -> bool {
        self.phase == Phase::Held
    }

    /// What the connection's credentials allow, once upgraded.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Bytes waiting to be sent in the connection's own buffer.
    pub fn pending_output(&self) -> usize {
        self.bufs.as_ref().map_or(0, |b| b.output.len())
    }

    /// Bytes owed to the peer: [`Conn::pending_output`] and what the
    /// transport holds of replies already written
    /// ([`Transport::buffered_bytes`]: replies held for the durable log).
    /// What pausing (`outputPauseBytes`) and the slow-consumer cut
    /// (`maxOutputBytes`) count.
    pub fn owed_output(&self) -> usize {
        self.pending_output() + self.stream.buffered_bytes()
    }

    /// Why the connection is closing, if it is.
    pub fn reason(&self) -> Option<&CloseReason> {
        self.reason.as_ref()
    }

    /// Takes the close reason (for the log, once the connection is gone).
    pub fn take_reason(&mut self) -> Option<CloseReason> {
        self.reason.take()
    }

    /// Bytes the connection holds on the heap beyond its fixed size.
    pub fn heap_bytes(&self) -> usize {
        self.bufs.as_ref().map_or(0, |b| {
            std::mem::size_of::<Buffers>()
                + b.input.capacity()
                + b.output.capacity()
                + b.message.capacity()
                + b.body.as_ref().map_or(0, |body| body.heap_bytes())
        })
    }

    /// Bytes held for input not served yet: the request head, a partial
    /// frame (and frames read behind a reply that comes later), and the
    /// fragments of a message being reassembled (allocated capacity).
    pub fn input_bytes(&self) -> usize {
        self.bufs.as_ref().map_or(0, |b| b.input.capacity() + b.message.capacity())
    }

    /// Bytes held for replies not sent yet: unsent output and what a reply
    /// produced in pieces holds of its own.
    pub fn output_bytes(&self) -> usize {
        let held = self.stream.buffered_bytes();
        held + self
            .bufs
            .as_ref()
            .map_or(0, |b| b.output.capacity() + b.body.as_ref().map_or(0, |body| body.heap_bytes()))
    }

    /// Whether the peer is in the middle of sending a message (or a frame)
    /// that ndb is reading: `Some` mark, which stays the same until that
    /// message is complete, so the server can time it. `None` when nothing
    /// is under way, and while ndb itself holds the connection's input (a
    /// reply that comes later or is being produced, replies waiting to
    /// drain): the peer cannot be blamed for what ndb does not read.
    pub fn unfinished(&self, limits: &Limits) -> Option<u32> {
        if self.phase != Phase::Open || self.waiting || self.is_paused(limits) {
            return None;
        }
        let bufs = self.bufs.as_ref()?;
        (!bufs.input.is_empty() || bufs.fragmented.is_some()).then_some(self.completed)
    }

    fn bufs(&mut self) -> &mut Buffers {
        self.bufs.get_or_insert_with(Box::default)
    }

    /// Whether incoming bytes are parsed as frames.
    fn parses_frames(&self) -> bool {
        self.phase == Phase::Open || (self.phase == Phase::Closing && self.ending == Ending::AwaitReply)
    }

    fn release_if_empty(&mut self) {
        if self.bufs.as_ref().is_some_and(|b| b.is_empty()) {
            self.bufs = None;
        }
    }

    fn serve_into<F, R>(
        &mut self,
        read_buf: &mut [u8],
        allowance: &mut usize,
        stream_budget: &mut stream::Budget,
        out: &mut Vec<u8>,
        limits: &Limits,
        handler: &mut F,
    ) -> Served
    where
        F: FnMut(Message<'_>, &mut Vec<u8>) -> R,
        R: IntoReplyKind,
    {
        let mut budget = limits.messages_per_turn;
        if self.phase == Phase::Held {
            // Nothing is read until the server answers the head.
            return Served::Drained;
        }
        if self.phase == Phase::Closing && self.ending == Ending::Reset {
            // Nothing more is read: done once the close frame is out.
            return self.finish_closing();
        }
        if self.phase == Phase::Open && self.waiting {
            if self.bufs.as_ref().is_none_or(|b| b.body.is_none()) {
                // Nothing is read until the late reply is out: what the
                // peer sends meanwhile waits in the socket, in order.
                return Served::Drained;
            }
            match self.pump(out, stream_budget, limits) {
                Err(e) => return self.fail(e),
                Ok(stream::Pump::Done) => self.waiting = false,
                Ok(stream::Pump::Budget) => return Served::MoreReady,
                Ok(stream::Pump::Room) => return Served::Paused,
                Ok(stream::Pump::Closed) => return Served::Drained,
            }
        }
        if self.phase == Phase::Open && self.is_paused(limits) {
            return Served::Paused;
        }
        // Input left over from the previous turn goes first.
        if self.parses_frames()
            && self.bufs.as_ref().is_some_and(|b| !b.input.is_empty())
            && let Some(served) = self.serve_buffered(out, &mut budget, limits, handler)
        {
            return served;
        }
        for _ in 0..MAX_READS_PER_TURN {
            if out.len() >= limits.output_pause_bytes.min(READ_CHUNK_BYTES) {
                if let Err(e) = self.send(out, limits) {
                    return self.fail(e);
                }
                out.clear();
            }
            if self.phase == Phase::Open && self.is_paused(limits) {
                return Served::Paused;
            }
            if *allowance == 0 {
                // Its share of the turn is read: the rest waits, in the
                // socket, for a later turn (which needs no new event).
                return Served::MoreReady;
            }
            let want = read_buf.len().min(*allowance);
            let n = match self.stream.read(&mut read_buf[..want]) {
                Ok(0) => return self.peer_ended(),
                Ok(n) => {
                    *allowance -= n.min(*allowance);
                    n
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Served::Drained,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return self.fail(e),
            };
            let data = &mut read_buf[..n];
            let buffered = self.bufs.as_ref().is_some_and(|b| !b.input.is_empty());
            let served = match self.phase {
                _ if buffered || self.phase == Phase::Handshake => {
                    let bufs = self.bufs();
                    bufs.input.append(data, bufs.frame_len);
                    self.serve_buffered(out, &mut budget, limits, handler)
                }
                _ if !self.parses_frames() => None,
                _ => {
                    let (consumed, stop) = self.frames(data, out, &mut budget, limits, handler);
                    if let Some((start, end)) = self.lend_range.take() {
                        // In the read buffer: at most a read's worth to copy.
                        self.bufs().lent = Some((data[start..end].to_vec().into(), 0));
                    }
                    let rest = &data[consumed..];
                    if !rest.is_empty() && self.parses_frames() {
                        let bufs = self.bufs();
                        bufs.frame_len = match stop {
                            Stop::Incomplete(len) => len,
                            _ => 0,
                        };
                        bufs.input.append(rest, bufs.frame_len);
                    }
                    after(stop)
                }
            };
            if let Some(served) = served {
                return served;
            }
        }
        // A closing peer that keeps sending is not worth more reads.
        if self.phase == Phase::Closing { Served::Finished } else { Served::MoreReady }
    }

    /// Serves the connection's buffered input; `None` means "read more".
    fn serve_buffered<F, R>(
        &mut self,
        out: &mut Vec<u8>,
        budget: &mut usize,
        limits: &Limits,
        handler: &mut F,
    ) -> Option<Served>
    where
        F: FnMut(Message<'_>, &mut Vec<u8>) -> R,
        R: IntoReplyKind,
    {
        if self.phase == Phase::Handshake {
            self.handshake(limits);
        }
        if self.phase == Phase::Held {
            return Some(Served::Drained);
        }
        if !self.parses_frames() {
            // Still reading the head, or refused: read on (and discard).
            return None;
        }
        let mut input = std::mem::take(&mut self.bufs().input);
        let (mut consumed, stop) = self.frames(&mut input, out, budget, limits, handler);
        if let Some((start, end)) = self.lend_range.take()
            && end == consumed
        {
            // The message is kept where it is; what was read past it (at
            // most a read's worth) moves to a buffer of its own.
            let tail = input.split_off(end);
            let whole = std::mem::replace(&mut input, tail);
            self.bufs().lent = Some((whole, start));
            consumed = 0;
        }
        input.drain_front(consumed);
        if input.is_empty() {
            input = InputBuf::new();
        } else if consumed > 0 {
            // Give back what a large frame grew it to, once served (a
            // frame still arriving may hold a kept mapping of its size).
            input.shrink();
        }
        if self.parses_frames() {
            let bufs = self.bufs();
            bufs.frame_len = match stop {
                Stop::Incomplete(len) => len,
                _ => 0,
            };
            bufs.input = input;
        }
        after(stop)
    }

    /// Tries to complete the upgrade from the buffered head.
    fn handshake(&mut self, limits: &Limits) {
        let bufs = self.bufs();
        let parsed = http_upgrade::parse(
            &bufs.input,
            &mut bufs.searched,
            limits.max_head_bytes,
            &limits.allowed_origins[..],
            &limits.users,
        );
        match parsed {
            Parse::Incomplete => {}
            Parse::Reject(reject) => self.reject(reject),
            Parse::Upgrade(upgrade) => {
                let bufs = self.bufs();
                bufs.input.drain_front(upgrade.head_len);
                bufs.searched = 0;
                match upgrade.access {
                    Access::Granted(role) if !limits.hold_upgrades => self.open(&upgrade, role),
                    _ => self.hold(Held::Upgrade(upgrade)),
                }
            }
            Parse::Endpoint(endpoint, access) => {
                // Nothing after a plain request's head is read.
                self.bufs().input = InputBuf::new();
                self.hold(Held::Endpoint(endpoint, access));
            }
        }
    }

    /// Completes an upgrade: queues the 101 and starts parsing frames.
    fn open(&mut self, upgrade: &http_upgrade::Upgrade, role: Role) {
        let bufs = self.bufs();
        bufs.output.extend_from_slice(&http_upgrade::accept_response(upgrade));
        bufs.committed = bufs.output.len();
        self.phase = Phase::Open;
        self.role = role;
    }

    fn reject(&mut self, reject: Reject) {
        self.bufs().output.extend_from_slice(reject.response());
        self.start_closing(CloseReason::Rejected(reject), Ending::Discard);
    }

    /// Parses and serves the complete frames at the front of `buf`; returns
    /// how many bytes were consumed and why it stopped.
    fn frames<F, R>(
        &mut self,
        buf: &mut [u8],
        out: &mut Vec<u8>,
        budget: &mut usize,
        limits: &Limits,
        handler: &mut F,
    ) -> (usize, Stop)
    where
        F: FnMut(Message<'_>, &mut Vec<u8>) -> R,
        R: IntoReplyKind,
    {
        let mut pos = 0;
        loop {
            if !self.parses_frames() {
                return (pos, Stop::Closing);
            }
            if self.waiting && self.phase == Phase::Open {
                return (pos, Stop::Waiting);
            }
            if *budget == 0 {
                return (pos, Stop::Budget);
            }
            if out.len() + self.owed_output() > limits.output_pause_bytes && self.phase == Phase::Open {
                return (pos, Stop::Full);
            }
            let mut cursor = Cursor::new(&buf[pos..]);
            let (header, len) = match FrameHeader::parse(&mut cursor) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => return (pos, Stop::Incomplete(0)),
                Err(_) => {
                    self.close(out, CloseCode::Protocol, "bad opcode");
                    return (pos, Stop::Closing);
                }
            };
            let header_len = cursor.position() as usize;
            if let Err((code, why)) = self.check(&header, len, limits) {
                self.close(out, code, why);
                return (pos, Stop::Closing);
            }
            if self.phase == Phase::Closing {
                // Muted: only the peer's close frame matters now.
                let total = header_len + len as usize;
                if buf.len() - pos < total {
                    return (pos, Stop::Incomplete(total));
                }
                pos += total;
                (self.prepared, self.prepared_utf8) = (0, 0);
                if header.opcode == OpCode::Control(Control::Close) {
                    self.ending = Ending::Complete;
                    return (pos, Stop::Closing);
                }
                continue;
            }
            // `check` bounded `len` by max_payload, so this cannot overflow.
            let total = header_len + len as usize;
            // A text message in one frame (a text frame inside a fragmented
            // message is a sequence error, told once the frame is complete).
            let whole_text = header.opcode == OpCode::Data(Data::Text)
                && header.is_final
                && self.bufs.as_ref().is_none_or(|b| b.fragmented.is_none());
            if buf.len() - pos < total {
                // What arrived of it is made ready now, once.
                let payload = &mut buf[pos + header_len..];
                if let Some(mask) = header.mask {
                    unmask(&mut payload[self.prepared..], rotated(mask, self.prepared));
                }
                self.prepared = payload.len();
                if whole_text && !check_utf8_prefix(payload, &mut self.prepared_utf8) {
                    self.close(out, CloseCode::Invalid, "invalid UTF-8");
                    return (pos, Stop::Closing);
                }
                return (pos, Stop::Incomplete(total));
            }
            let payload = &mut buf[pos + header_len..pos + total];
            if let Some(mask) = header.mask {
                unmask(&mut payload[self.prepared..], rotated(mask, self.prepared));
            }
            let checked = if whole_text { self.prepared_utf8 } else { 0 };
            (self.prepared, self.prepared_utf8) = (0, 0);
            pos += total;
            *budget -= 1;
            self.frame(header, payload, checked, out, limits, handler);
            if std::mem::take(&mut self.lend) {
                self.lend_range = Some((pos - len as usize, pos));
            }
        }
    }

    /// RFC 6455 checks on a frame header; the close code and reason on failure.
    fn check(&self, header: &FrameHeader, len: u64, limits: &Limits) -> Result<(), (CloseCode, &'static str)> {
        if header.rsv1 || header.rsv2 || header.rsv3 {
            return Err((CloseCode::Protocol, "reserved bits set"));
        }
        if header.mask.is_none() {
            return Err((CloseCode::Protocol, "unmasked client frame"));
        }
        let fragments = self.bufs.as_ref().map_or(0, |b| b.message.len()) as u64;
        match header.opcode {
            OpCode::Control(_) if !header.is_final || len > 125 => Err((CloseCode::Protocol, "bad control frame")),
            OpCode::Control(_) => Ok(()),
            OpCode::Data(Data::Continue) if len.saturating_add(fragments) > limits.max_payload as u64 => {
                Err((CloseCode::Size, "message too big"))
            }
            OpCode::Data(_) if len > limits.max_payload as u64 => Err((CloseCode::Size, "message too big")),
            OpCode::Data(_) => Ok(()),
        }
    }

    /// Serves one complete, unmasked frame whose first `checked` bytes are
    /// known to be valid UTF-8 (checked as they arrived).
    fn frame<F, R>(
        &mut self,
        header: FrameHeader,
        payload: &[u8],
        checked: usize,
        out: &mut Vec<u8>,
        limits: &Limits,
        handler: &mut F,
    ) where
        F: FnMut(Message<'_>, &mut Vec<u8>) -> R,
        R: IntoReplyKind,
    {
        self.frame_inner(header, payload, checked, out, limits, handler);
        if self.bufs.as_ref().is_none_or(|b| b.fragmented.is_none()) {
            // A message (or a control frame between messages) is complete.
            self.completed = self.completed.wrapping_add(1);
        }
    }

    /// [`Conn::frame`] before the count of completed messages.
    fn frame_inner<F, R>(
        &mut self,
        header: FrameHeader,
        payload: &[u8],
        checked: usize,
        out: &mut Vec<u8>,
        limits: &Limits,
        handler: &mut F,
    ) where
        F: FnMut(Message<'_>, &mut Vec<u8>) -> R,
        R: IntoReplyKind,
    {
        let fragmented = self.bufs.as_ref().and_then(|b| b.fragmented);
        match (header.opcode, fragmented) {
            (OpCode::Data(Data::Text | Data::Binary), Some(_)) | (OpCode::Data(Data::Continue), None) => {
                self.close(out, CloseCode::Protocol, "bad fragment sequence");
            }
            (OpCode::Data(kind @ (Data::Text | Data::Binary)), None) if header.is_final => {
                self.message(kind, payload, checked, out, limits, handler);
            }
            (OpCode::Data(opcode), fragmented) => {
                let kind = fragmented.unwrap_or(opcode);
                let bufs = self.bufs();
                bufs.fragmented = Some(kind);
                bufs.message.append(payload, limits.max_payload);
                if kind == Data::Text && !check_utf8_prefix(&bufs.message, &mut bufs.checked) {
                    return self.close(out, CloseCode::Invalid, "invalid UTF-8");
                }
                if header.is_final && fragmented.is_some() {
                    let message = std::mem::take(&mut bufs.message);
                    bufs.fragmented = None;
                    let checked = std::mem::take(&mut bufs.checked);
                    self.message(kind, &message, checked, out, limits, handler);
                    if std::mem::take(&mut self.lend) {
                        self.bufs().lent = Some((message, 0));
                    }
                }
            }
            (OpCode::Control(Control::Ping), _) => write_frame(out, OpCode::Control(Control::Pong), payload),
            (OpCode::Control(Control::Pong), _) => {}
            (OpCode::Control(Control::Close), _) => self.peer_close(payload, out),
            (OpCode::Control(Control::Reserved(_)), _) => self.close(out, CloseCode::Protocol, "bad opcode"),
        }
    }

    /// Serves one whole message whose first `checked` bytes are known to
    /// be valid UTF-8.
    fn message<F, R>(
        &mut self,
        kind: Data,
        payload: &[u8],
        checked: usize,
        out: &mut Vec<u8>,
        limits: &Limits,
        handler: &mut F,
    ) where
        F: FnMut(Message<'_>, &mut Vec<u8>) -> R,
        R: IntoReplyKind,
    {
        let message = if kind == Data::Text {
            match utf8_after(payload, checked) {
                Some(text) => Message::Text(text),
                None => return self.close(out, CloseCode::Invalid, "invalid UTF-8"),
            }
        } else {
            Message::Binary(payload)
        };
        let start = out.len();
        out.extend_from_slice(&[0; RESERVED_HEADER_BYTES]);
        match handler(message, out).reply_kind() {
            ReplyKind::Later => {
                out.truncate(start);
                self.waiting = true;
                self.lend = kind == Data::Text && payload.len() > limits.lend_text_over;
            }
            kind => finish_frame(out, start, kind),
        }
    }

    fn peer_ended(&mut self) -> Served {
        self.reason.get_or_insert(CloseReason::PeerClosed);
        Served::Finished
    }

    fn fail(&mut self, e: io::Error) -> Served {
        self.reason.get_or_insert(CloseReason::Transport(e));
        Served::Finished
    }

    /// The large text message just answered [`ReplyKind::Later`], kept
    /// whole ([`Limits::lend_text_over`]): its buffer and the offset its
    /// text (valid UTF-8, unmasked) starts at. `None` once taken, or when
    /// no such message was served.
    pub fn take_message(&mut self) -> Option<(InputBuf, usize)> {
        self.bufs.as_mut()?.lent.take()
    }

    /// Marks the connection timed out; the caller drops it.
    pub fn timed_out(&mut self) {
        self.reason.get_or_insert(CloseReason::TimedOut);
    }
}

/// `mask` as it applies from payload byte `offset` on.
fn rotated(mask: [u8; 4], offset: usize) -> [u8; 4] {
    std::array::from_fn(|i| mask[(offset + i) % 4])
}

/// `payload` as text, when its first `checked` bytes are known to be valid
/// UTF-8 ending at a character boundary (as [`check_utf8_prefix`] leaves
/// them) and the rest checks now: a message checked as it arrived is not
/// read again whole in the turn it ends (64 MiB takes 5–10 ms).
fn utf8_after(payload: &[u8], checked: usize) -> Option<&str> {
    let checked = checked.min(payload.len());
    // The promise below, verified in every debug build (tests included).
    debug_assert!(std::str::from_utf8(&payload[..checked]).is_ok(), "a checked prefix that is not UTF-8");
    std::str::from_utf8(&payload[checked..]).ok()?;
    // SAFETY: `payload[..checked]` is valid UTF-8 ending at a character
    // boundary (the callers' promise: `check_utf8_prefix` stops short of a
    // cut sequence, and the bytes have not changed since), and
    // `payload[checked..]` was checked just now; the two together are
    // valid UTF-8.
    Some(unsafe { std::str::from_utf8_unchecked(payload) })
}

/// What to do after frame processing stopped: `None` to read more.
fn after(stop: Stop) -> Option<Served> {
    match stop {
        Stop::Incomplete(_) => None,
        Stop::Budget | Stop::Full => Some(Served::MoreReady),
        Stop::Closing | Stop::Waiting => Some(Served::Drained),
    }
}

#[cfg(test)]
mod tests;
