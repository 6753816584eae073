//! Replies produced in pieces: a [`Body`] writes the payload of one reply a
//! bounded piece at a time, while the peer takes what was sent, and the
//! pieces go out as one fragmented text message (RFC 6455 §5.4: a text
//! frame without FIN, continuation frames, the last one with FIN). A body
//! that is done within its first piece goes out as one ordinary frame.
//!
//! While a body is being sent the connection serves nothing else, as while
//! it waits for a late reply: its later messages wait, so replies keep
//! their order. A piece is made only while the connection's unsent output
//! is under `outputPauseBytes`, so a reply of any size holds at most about
//! that much output; production resumes as the peer reads. A peer that
//! stops reading is cut by the send timeout like any other, between two
//! fragments, so the close frame that follows is well formed (control
//! frames may come between the fragments of a message).
//!
//! Every turn, the bodies of all connections together take at most
//! [`STREAM_STEPS_PER_TURN`] steps and produce at most
//! [`STREAM_BYTES_PER_TURN`] bytes (the budget lives in the shared
//! [`Scratch`](super::Scratch)); a connection whose body is cut short by it
//! is served again next turn.

use std::io;

use super::wire::{RESERVED_HEADER_BYTES, finish_piece};
use super::{Conn, Limits, Phase, READ_CHUNK_BYTES, Transport};

/// Late replies larger than this (1 MiB) are sent in pieces rather than
/// copied into the connection's output whole: the same size up to which the
/// store writes a reply in one piece, so that with the default limits no
/// reply ever holds more than `outputPauseBytes` plus 1 MiB of output.
pub const STREAM_REPLY_BYTES: usize = 1024 * 1024;

/// Largest payload of one fragment (64 KiB): large enough that frame
/// headers cost nothing (4 bytes each), small enough that one piece is a
/// few microseconds of copying.
pub const FRAGMENT_BYTES: usize = 64 * 1024;

/// No piece is made into less room than this (4 KiB, or the whole pause
/// threshold if smaller): a peer reading slowly gets a few larger
/// fragments rather than many tiny ones.
const MIN_FRAGMENT_BYTES: usize = 4 * 1024;

/// Steps every body together may take per turn: a step is one item looked
/// at (a key written, an entry matched against requested names, a name
/// indexed), at most about 100 ns with the cache misses of a map of
/// millions of keys, so about 3 ms per turn.
pub const STREAM_STEPS_PER_TURN: usize = 32 * 1024;

/// Bytes every body together may produce per turn (4 MiB): copying them
/// and handing them to the kernel costs about 1–2 ms.
pub const STREAM_BYTES_PER_TURN: usize = 4 * 1024 * 1024;

/// Most pieces asked of a body per call: a bound on the loop even for a
/// body that spends its steps without writing anything.
const FILLS_PER_PUMP: usize = 64;

/// The payload of one text reply, produced in pieces.
pub trait Body: Send {
    /// Appends at most `max` more bytes of the payload to `out`, taking at
    /// most `*steps` steps (one per item looked at) and subtracting those it
    /// took; returns `true` once the whole payload has been appended. It may
    /// append nothing and return `false` (its steps ran out while it worked
    /// towards the next bytes): it is called again, next turn if need be.
    fn fill(&mut self, out: &mut Vec<u8>, max: usize, steps: &mut usize) -> bool;

    /// Heap bytes it holds of its own (not shared with anything else).
    fn heap_bytes(&self) -> usize;
}

/// A reply delivered to a connection waiting for it ([`Conn::resume`]).
pub enum Late {
    /// The whole payload of a text reply; sent in pieces if larger than
    /// [`STREAM_REPLY_BYTES`].
    Reply(Vec<u8>),
    /// A text reply produced in pieces.
    Stream(Box<dyn Body>),
}

impl std::fmt::Debug for Late {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Late::Reply(bytes) => write!(f, "Late::Reply({} bytes)", bytes.len()),
            Late::Stream(_) => f.write_str("Late::Stream"),
        }
    }
}

/// A whole payload sent in pieces.
struct Whole {
    bytes: Vec<u8>,
    sent: usize,
}

impl Body for Whole {
    fn fill(&mut self, out: &mut Vec<u8>, max: usize, steps: &mut usize) -> bool {
        let n = max.min(self.bytes.len() - self.sent);
        out.extend_from_slice(&self.bytes[self.sent..self.sent + n]);
        self.sent += n;
        *steps = steps.saturating_sub(1);
        self.sent == self.bytes.len()
    }

    fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
    }
}

/// What every body of a turn may still spend.
#[derive(Debug, Clone, Copy)]
pub(super) struct Budget {
    steps: usize,
    bytes: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { steps: STREAM_STEPS_PER_TURN, bytes: STREAM_BYTES_PER_TURN }
    }
}

/// Why [`Conn::pump`] stopped.
pub(super) enum Pump {
    /// The body is complete; its last piece is in the output.
    Done,
    /// The turn's budget is spent: continue next turn.
    Budget,
    /// The output is at the pause threshold: continue once it drains.
    Room,
    /// The connection started closing (its output overflowed).
    Closed,
}

impl<S: Transport> Conn<S> {
    /// Starts sending `late`, the reply the connection was waiting for.
    pub(super) fn start_late(&mut self, late: Late, out: &mut Vec<u8>) {
        let body = match late {
            Late::Reply(reply) if reply.len() <= STREAM_REPLY_BYTES => {
                let start = out.len();
                out.extend_from_slice(&[0; RESERVED_HEADER_BYTES]);
                out.extend_from_slice(&reply);
                finish_piece(out, start, true, true);
                return;
            }
            Late::Reply(bytes) => Box::new(Whole { bytes, sent: 0 }),
            Late::Stream(body) => body,
        };
        let bufs = self.bufs();
        bufs.body = Some(body);
        bufs.body_started = false;
        self.waiting = true;
    }

    /// Whether a reply is being produced in pieces.
    pub fn is_streaming(&self) -> bool {
        self.bufs.as_ref().is_some_and(|b| b.body.is_some())
    }

    /// Room for the next piece: how far this turn's output `out_len` and
    /// the pending output are under the pause threshold.
    fn body_room(&self, out_len: usize, limits: &Limits) -> usize {
        limits.output_pause_bytes.saturating_sub(self.pending_output() + out_len)
    }

    /// Whether a body being sent waits for the output to drain.
    pub(super) fn body_blocked(&self, limits: &Limits) -> bool {
        self.is_streaming() && self.body_room(0, limits) < min_fragment(limits)
    }

    /// Writes pieces of the body into `out` (sending `out` whenever it
    /// holds a read chunk's worth) until the body is done, the budget is
    /// spent or the output is full.
    pub(super) fn pump(&mut self, out: &mut Vec<u8>, budget: &mut Budget, limits: &Limits) -> io::Result<Pump> {
        for _ in 0..FILLS_PER_PUMP {
            if self.phase != Phase::Open {
                return Ok(Pump::Closed);
            }
            let room = self.body_room(out.len(), limits);
            if room < min_fragment(limits) {
                return Ok(Pump::Room);
            }
            if budget.steps == 0 || budget.bytes == 0 {
                return Ok(Pump::Budget);
            }
            let Some(bufs) = self.bufs.as_mut() else { return Ok(Pump::Done) };
            let Some(body) = bufs.body.as_mut() else { return Ok(Pump::Done) };
            let max = room.min(FRAGMENT_BYTES).min(budget.bytes);
            let start = out.len();
            out.extend_from_slice(&[0; RESERVED_HEADER_BYTES]);
            let done = body.fill(out, max, &mut budget.steps);
            let len = out.len() - start - RESERVED_HEADER_BYTES;
            debug_assert!(len <= max, "a body wrote {len} bytes into room for {max}");
            budget.bytes = budget.bytes.saturating_sub(len);
            if len == 0 && !done {
                out.truncate(start);
                continue;
            }
            finish_piece(out, start, !bufs.body_started, done);
            if done {
                bufs.body = None;
                bufs.body_started = false;
                return Ok(Pump::Done);
            }
            bufs.body_started = true;
            if out.len() >= READ_CHUNK_BYTES {
                self.send(out, limits)?;
                out.clear();
            }
        }
        Ok(Pump::Budget)
    }
}

/// The least room a piece is made into.
fn min_fragment(limits: &Limits) -> usize {
    MIN_FRAGMENT_BYTES.min(limits.output_pause_bytes).max(1)
}
