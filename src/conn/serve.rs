//! Serving a connection's messages, and resuming it after a late reply.
//!
//! [`Conn::serve`] reads what the peer sent and answers each complete
//! message through the handler, one reply per message, in order, sent
//! with one `write` per batch.
//!
//! A handler that cannot answer at once (a save, which is written by
//! another thread) returns [`ReplyKind::Later`](super::ReplyKind::Later). The connection then stops
//! serving: frames already read stay in its input buffer and nothing more
//! is read from the socket, so replies keep their order and each request
//! gets exactly one. The handler's owner later hands the reply to
//! [`Conn::resume`], which sends it and serves what waited, as `serve`
//! would. The common path is unchanged: no allocation, no extra system
//! call; only the handler's return value is looked at.
//!
//! A late reply may be large: it is then produced in pieces as the peer
//! reads (`stream.rs`), and what waited is served after its last piece.

use super::{
    Conn, DEFAULT_ALLOWANCE_BYTES, IntoReplyKind, Late, Limits, Message, Phase, SCRATCH_KEEP_BYTES, Scratch, Served,
    Transport,
};

impl<S: Transport> Conn<S> {
    /// Reads what the peer sent and serves it, calling `handler` for every
    /// complete message; the handler appends its reply's payload and
    /// returns its frame kind (`()` for text), and a frame is built around
    /// it. Stops at `WouldBlock`, at the message budget, when output backs
    /// up, when a reply comes [later](super::ReplyKind::Later), or when the
    /// connection ends.
    pub fn serve<F, R>(&mut self, scratch: &mut Scratch, limits: &Limits, handler: &mut F) -> Served
    where
        F: FnMut(Message<'_>, &mut Vec<u8>) -> R,
        R: IntoReplyKind,
    {
        let mut out = std::mem::take(&mut scratch.write);
        out.clear();
        self.serve_after(out, scratch, limits, handler)
    }

    /// Whether a message was answered [`ReplyKind::Later`](super::ReplyKind::Later)
    /// and its reply has not been delivered by [`Conn::resume`] (or, if it
    /// is produced in pieces, not completely written) yet.
    pub fn is_waiting(&self) -> bool {
        self.waiting
    }

    /// Delivers the reply of the message that was answered
    /// [`ReplyKind::Later`](super::ReplyKind::Later) (a text reply, whole
    /// or produced in pieces), then serves what waited behind it, as
    /// [`Conn::serve`] does; a reply in pieces is sent first, over as many
    /// turns as it takes. A connection that is closing, or was not
    /// waiting, drops the reply.
    pub fn resume<F, R>(&mut self, reply: Late, scratch: &mut Scratch, limits: &Limits, handler: &mut F) -> Served
    where
        F: FnMut(Message<'_>, &mut Vec<u8>) -> R,
        R: IntoReplyKind,
    {
        if !std::mem::take(&mut self.waiting) || self.phase != Phase::Open {
            (scratch.allowance, scratch.last_read) = (DEFAULT_ALLOWANCE_BYTES, 0);
            return Served::Drained;
        }
        let mut out = std::mem::take(&mut scratch.write);
        out.clear();
        self.start_late(reply, &mut out);
        self.serve_after(out, scratch, limits, handler)
    }

    /// Serves into `out`, which may already hold replies, and sends it.
    fn serve_after<F, R>(&mut self, mut out: Vec<u8>, scratch: &mut Scratch, limits: &Limits, handler: &mut F) -> Served
    where
        F: FnMut(Message<'_>, &mut Vec<u8>) -> R,
        R: IntoReplyKind,
    {
        let granted = std::mem::replace(&mut scratch.allowance, DEFAULT_ALLOWANCE_BYTES);
        let mut allowance = granted;
        let mut served =
            self.serve_into(&mut scratch.read, &mut allowance, &mut scratch.stream, &mut out, limits, handler);
        scratch.last_read = granted - allowance;
        if served != Served::Finished {
            served = match self.send(&out, limits) {
                Err(e) => self.fail(e),
                Ok(()) if self.phase == Phase::Closing => self.finish_closing(),
                // Paused only while output really is backed up: a writable
                // event will come only if the socket buffer filled.
                Ok(()) if served == Served::Paused && !self.is_paused(limits) => Served::MoreReady,
                // Input is left, but serving waits for the output to drain
                // (a writable event), rather than spinning on the ready queue.
                Ok(()) if served == Served::MoreReady && self.is_paused(limits) => Served::Paused,
                Ok(()) => served,
            };
        }
        if out.capacity() > SCRATCH_KEEP_BYTES {
            // One huge reply must not pin its size for the server's life.
            out = Vec::with_capacity(super::READ_CHUNK_BYTES);
        }
        scratch.write = out;
        self.release_if_empty();
        served
    }
}
