//! One benchmark connection on the event loop: requests out, replies in.
//!
//! Owns a non-blocking socket, its read buffer, its write buffer and the
//! send (or due) times of its requests in flight, oldest first, which is
//! the order replies come back in (PROTOCOL.md §2). It never decides what
//! or when to send; the worker does, through [`Conn::push`], and hands it
//! the [`Outcome`] to record replies in.
//!
//! No allocation once a test is running: the write buffer, the in-flight
//! queue and the read buffer are sized when the test starts (for up to
//! [`MAX_RESERVED_SLOTS`] requests in flight) and reused.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::frame::{self, OP_CLOSE, OP_PONG};
use crate::reader::{Frame, Reader};
use crate::report::Outcome;
use crate::request::Template;
use crate::rng::Rng;
use crate::ws;

/// Whether a short read or write means the socket is drained or full, so
/// the call that would return `WouldBlock` can be skipped. True for stream
/// sockets under epoll (see epoll(7)); elsewhere mio's rule applies: keep
/// going until `WouldBlock`.
const SHORT_IO_IS_FINAL: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// Write-buffer room kept beyond the requests in flight, for pongs and the
/// close frame.
const CONTROL_ROOM: usize = 256;

/// Most requests in flight that buffers are sized for up front.
const MAX_RESERVED_SLOTS: usize = 4096;

/// A live benchmark connection.
#[derive(Debug)]
pub struct Conn {
    /// Connection number across the whole run, for messages.
    pub id: usize,
    stream: TcpStream,
    reader: Reader,
    out: Vec<u8>,
    out_sent: usize,
    /// Send or due times, in ns after the test epoch, of requests in flight.
    stamps: VecDeque<u64>,
    rng: Rng,
    /// This connection's session token, if the run uses sessions.
    pub session: Option<u64>,
    /// The requests of the current test: one, or a weighted mix.
    mix: Vec<Template>,
    /// Running totals of the mix's weights, for drawing the next request.
    cumulative: Vec<u64>,
    /// The mix entry the next request is taken from.
    next: usize,
    /// Requests sent from each mix entry during the current test.
    sent: Vec<u64>,
    /// Reply statuses that count as success in the current test.
    ok: Vec<u64>,
    failed: bool,
    /// Whether the worker has queued this connection for a flush.
    pub dirty: bool,
}

impl Conn {
    /// Takes over an upgraded, blocking socket and its reader.
    ///
    /// # Errors
    /// When the socket cannot be made non-blocking.
    pub fn new(
        id: usize,
        stream: std::net::TcpStream,
        reader: Reader,
        rng: Rng,
        session: Option<u64>,
    ) -> io::Result<Conn> {
        stream.set_nonblocking(true)?;
        Ok(Conn {
            id,
            stream: TcpStream::from_std(stream),
            reader,
            out: Vec::new(),
            out_sent: 0,
            stamps: VecDeque::new(),
            rng,
            session,
            mix: Vec::new(),
            cumulative: Vec::new(),
            next: 0,
            sent: Vec::new(),
            ok: Vec::new(),
            failed: false,
            dirty: false,
        })
    }

    /// Registers the socket once, for both directions (edge-triggered).
    ///
    /// # Errors
    /// When the registry refuses the socket.
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(&mut self.stream, token, Interest::READABLE | Interest::WRITABLE)
    }

    /// Sets the requests to send during the next test, each with its weight
    /// (one request, or a mix drawn at random in proportion to the
    /// weights), the reply statuses that count as success, and sizes the
    /// buffers for `pipeline` requests in flight.
    pub fn prepare(&mut self, mix: Vec<(Template, u64)>, ok: &[u64], pipeline: usize) {
        // A huge -P grows the buffers as it fills them, once, rather than
        // reserving for every connection up front.
        let pipeline = pipeline.min(MAX_RESERVED_SLOTS);
        let largest = mix.iter().map(|(t, _)| t.frame_len()).max().unwrap_or(0);
        let room = pipeline * largest + CONTROL_ROOM;
        self.out.reserve(room.saturating_sub(self.out.len()));
        self.stamps.reserve(pipeline.saturating_sub(self.stamps.len()));
        let mut total = 0u64;
        self.cumulative = mix
            .iter()
            .map(|(_, weight)| {
                total = total.saturating_add(*weight);
                total
            })
            .collect();
        self.sent = vec![0; mix.len()];
        self.mix = mix.into_iter().map(|(t, _)| t).collect();
        self.ok = ok.to_vec();
        self.next = self.draw();
    }

    /// The mix entry of the next request: entry `i` with probability
    /// weight `i` / total weight.
    fn draw(&mut self) -> usize {
        match self.cumulative.last() {
            Some(&total) if self.cumulative.len() > 1 && total > 0 => {
                let r = self.rng.below(total);
                self.cumulative.partition_point(|&c| c <= r)
            }
            _ => 0,
        }
    }

    /// Requests sent from each mix entry during the current test.
    pub fn sent(&self) -> &[u64] {
        &self.sent
    }

    /// Whether the connection has failed; a failed connection is never used again.
    pub fn is_failed(&self) -> bool {
        self.failed
    }

    /// Requests sent (or queued in the write buffer) without a reply yet.
    pub fn in_flight(&self) -> usize {
        self.stamps.len()
    }

    /// Stamp of the oldest request still waiting for its reply.
    pub fn oldest_stamp(&self) -> Option<u64> {
        self.stamps.front().copied()
    }

    /// Keys in the next request (the mix entry drawn for it).
    pub fn keys_per_request(&self) -> usize {
        self.mix.get(self.next).map_or(0, Template::key_count)
    }

    /// A random key number in `[0, key_space)`.
    pub fn random_key(&mut self, key_space: u64) -> u64 {
        self.rng.below(key_space)
    }

    /// Queues one request whose keys start at `first_key`, stamped with
    /// `stamp_ns` (when it was sent, or in open loop when it was due).
    /// The request is the mix entry drawn for it (see [`Conn::keys_per_request`]).
    /// Does nothing before [`Conn::prepare`].
    #[inline]
    pub fn push(&mut self, first_key: u64, key_space: u64, stamp_ns: u64) {
        if let Some(template) = self.mix.get(self.next) {
            let rng = &mut self.rng;
            let mask = rng.mask();
            template.push(&mut self.out, first_key, key_space, mask, |n| rng.below(n));
            self.stamps.push_back(stamp_ns);
            self.sent[self.next] += 1;
            self.next = self.draw();
        }
    }

    /// Writes as much of the write buffer as the socket takes, in one
    /// `write` call when it all fits.
    ///
    /// # Errors
    /// A description of the socket failure.
    pub fn flush(&mut self) -> Result<(), String> {
        while self.out_sent < self.out.len() {
            match self.stream.write(&self.out[self.out_sent..]) {
                Ok(0) => return Err("connection closed while sending".to_string()),
                Ok(n) => {
                    self.out_sent += n;
                    if SHORT_IO_IS_FINAL && self.out_sent < self.out.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ws::describe(&e)),
            }
        }
        if self.out_sent == self.out.len() {
            self.out.clear();
        } else if self.out_sent > 0 {
            // A partial write (the socket buffer is full): move the rest to
            // the front, so appending later requests stays within capacity.
            self.out.drain(..self.out_sent);
        }
        self.out_sent = 0;
        Ok(())
    }

    /// Whether bytes are waiting in the write buffer.
    pub fn wants_flush(&self) -> bool {
        self.out_sent < self.out.len()
    }

    /// Reads until the socket is drained, recording each reply's latency
    /// (now minus its stamp, `epoch` being the stamps' zero) and status in
    /// `outcome`. Returns how many replies arrived. Pongs for pings are
    /// queued; the caller flushes.
    ///
    /// # Errors
    /// Why the connection cannot go on: closed, reset, or a protocol violation.
    pub fn read(&mut self, epoch: Instant, outcome: &mut Outcome) -> Result<u64, String> {
        let mut replies = 0;
        loop {
            let spare = self.reader.spare();
            let room = spare.len();
            match self.stream.read(spare) {
                Ok(0) if self.reader.is_mid_frame() => {
                    return Err("server closed the connection in the middle of a reply".to_string());
                }
                Ok(0) => return Err("server closed the connection".to_string()),
                Ok(n) => {
                    self.reader.commit(n);
                    let now_ns = nanos_since(epoch);
                    replies += self.take_frames(now_ns, outcome)?;
                    if SHORT_IO_IS_FINAL && n < room {
                        return Ok(replies);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(replies),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ws::describe(&e)),
            }
        }
    }

    fn take_frames(&mut self, now_ns: u64, outcome: &mut Outcome) -> Result<u64, String> {
        let mut replies = 0;
        while let Some(frame) = self.reader.next().map_err(str::to_string)? {
            let ok = match frame {
                Frame::Reply { status } => status.is_some_and(|st| self.ok.contains(&st)),
                Frame::Binary => false,
                Frame::Ping { payload, len } => {
                    let payload = &payload[..usize::from(len)];
                    frame::push_frame(&mut self.out, OP_PONG, payload, self.rng.mask());
                    continue;
                }
                Frame::Close { code } => return Err(ws::closed_by_server(code)),
            };
            let Some(stamp) = self.stamps.pop_front() else {
                return Err("reply to no request".to_string());
            };
            outcome.latency_ns.saturating_record(now_ns.saturating_sub(stamp).max(1));
            if !ok {
                match frame {
                    Frame::Binary => outcome.record_error(b"(binary message)"),
                    _ => outcome.record_error(self.reader.last_text()),
                }
            }
            replies += 1;
        }
        Ok(replies)
    }

    /// Marks the connection failed: its requests in flight count as lost,
    /// and it leaves the poll.
    pub fn fail(&mut self, registry: &Registry, outcome: &mut Outcome, why: &str) {
        if self.failed {
            return;
        }
        self.failed = true;
        outcome.lost += self.stamps.len() as u64;
        outcome.failures.push(format!("connection {}: {why}", self.id));
        self.stamps.clear();
        self.out.clear();
        self.out_sent = 0;
        // Already broken; the registry entry goes with the socket anyway.
        let _ = registry.deregister(&mut self.stream);
    }

    /// Queues a close frame (code 1000) and writes what the socket takes.
    pub fn start_close(&mut self) {
        if self.failed {
            return;
        }
        let mask = self.rng.mask();
        frame::push_frame(&mut self.out, OP_CLOSE, &1000u16.to_be_bytes(), mask);
        let _ = self.flush();
    }

    /// After [`Conn::start_close`]: reads and discards until the server
    /// closes. Returns true once it has, or the socket failed.
    pub fn finish_close(&mut self) -> bool {
        if self.failed {
            return true;
        }
        let _ = self.flush();
        loop {
            match self.stream.read(self.reader.spare()) {
                Ok(0) => return true,
                Ok(n) => {
                    self.reader.commit(n);
                    // Drop whatever came; only the end of the stream matters.
                    loop {
                        match self.reader.next() {
                            Ok(Some(_)) => {}
                            Ok(None) => break,
                            Err(_) => return true,
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
    }
}

/// Nanoseconds from `epoch` to now.
#[inline]
pub fn nanos_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}
