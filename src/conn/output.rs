//! The sending half of a connection and its closing: writing replies,
//! keeping what the peer has not accepted, back-pressure, and both sides'
//! close frames.
//!
//! Invariant: the connection's pending output is `committed` bytes that must
//! go out whole (the rest of a frame or HTTP response already partly sent),
//! then whole server frames. So unsent replies can be dropped at a frame
//! boundary and a close frame still reaches the peer intact.

use std::io::{self, ErrorKind};

use tungstenite::protocol::frame::coding::{CloseCode, Control, OpCode};

use super::wire::{next_boundary, write_close_frame, write_frame};
use super::{CloseReason, Conn, Ending, Limits, Phase, Served, Transport};

impl<S: Transport> Conn<S> {
    /// Starts closing from outside (server shutdown, idle timeout): queues a
    /// close frame after what is already pending, then flushes.
    pub fn close_with(&mut self, code: u16, reason: &str) -> Served {
        match self.phase {
            Phase::Open => {
                let mut out = Vec::new();
                write_close_frame(&mut out, code, reason);
                self.start_closing(CloseReason::Closed(code), Ending::AwaitReply);
                self.bufs().output.extend_from_slice(&out);
                if let Err(e) = self.write_pending() {
                    return self.fail(e);
                }
                self.finish_closing()
            }
            Phase::Handshake | Phase::Held => Served::Finished,
            Phase::Closing => Served::Drained,
        }
    }

    /// Closes for what the peer sent or did not finish (a message past its
    /// completion timeout, unfinished input over the server's cap): drops
    /// its unread input and partial message at once, queues a close frame
    /// with `code` and `reason` after the replies already pending, and
    /// flushes. Nothing more is read from it: it is
    /// [`Served::Finished`] (to be dropped, resetting what the peer still
    /// sends) as soon as the close frame is out. A connection that has not
    /// upgraded is simply finished.
    pub fn close_for_input(&mut self, code: u16, reason: &str) -> Served {
        match self.phase {
            Phase::Open => {
                let mut out = Vec::new();
                write_close_frame(&mut out, code, reason);
                self.start_closing(CloseReason::Closed(code), Ending::Reset);
                self.bufs().output.extend_from_slice(&out);
                if let Err(e) = self.write_pending() {
                    return self.fail(e);
                }
                let served = self.finish_closing();
                self.release_if_empty();
                served
            }
            Phase::Handshake | Phase::Held => {
                self.reason.get_or_insert(CloseReason::Closed(code));
                Served::Finished
            }
            Phase::Closing => {
                // Its close frame is queued already: stop holding input and
                // reading, and end once it is out.
                if self.ending != Ending::Complete {
                    self.ending = Ending::Reset;
                }
                if let Some(bufs) = self.bufs.as_mut() {
                    bufs.input = super::InputBuf::new();
                    bufs.frame_len = 0;
                }
                self.release_if_empty();
                self.finish_closing()
            }
        }
    }

    /// Cuts a peer that does not take its replies: drops the replies not
    /// started yet (keeping the rest of a partly sent frame, so the stream
    /// stays well formed) and closes with 1008 and `reason`.
    pub fn close_overloaded(&mut self, reason: &str) -> Served {
        if self.phase != Phase::Open {
            return Served::Drained;
        }
        if let Some(bufs) = self.bufs.as_mut() {
            bufs.output.truncate(bufs.committed);
            bufs.output.shrink_to_fit();
        }
        self.reason = None;
        self.close_with(u16::from(CloseCode::Policy), reason)
    }

    /// Writes `out` (this turn's replies, whole frames) after any pending
    /// output; what the peer does not accept is kept.
    pub(super) fn send(&mut self, out: &[u8], limits: &Limits) -> io::Result<()> {
        let pending = self.pending_output();
        let mut sent = 0;
        if pending == 0 {
            while sent < out.len() {
                match self.stream.write(&out[sent..]) {
                    Ok(0) => return Err(ErrorKind::WriteZero.into()),
                    Ok(n) => sent += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if sent < out.len() {
            let bufs = self.bufs();
            if pending == 0 {
                // Cut mid-frame: the rest of that frame must go out whole.
                bufs.committed = next_boundary(out, sent) - sent;
            }
            bufs.output.extend_from_slice(&out[sent..]);
        }
        if pending > 0 {
            self.write_pending()?;
        }
        if self.owed_output() > limits.max_output_bytes && self.phase == Phase::Open {
            self.close_overloaded("output buffer full");
        }
        Ok(())
    }

    pub(super) fn write_pending(&mut self) -> io::Result<()> {
        if !self.stream.send_buffered()? {
            return Ok(());
        }
        let Some(bufs) = self.bufs.as_mut() else { return Ok(()) };
        let mut sent = 0;
        let result = loop {
            if sent == bufs.output.len() {
                break Ok(());
            }
            match self.stream.write(&bufs.output[sent..]) {
                Ok(0) => break Err(ErrorKind::WriteZero.into()),
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        if sent == bufs.output.len() {
            bufs.output = Vec::new();
            bufs.committed = 0;
        } else if sent > 0 {
            bufs.committed = if sent <= bufs.committed {
                bufs.committed - sent
            } else if self.phase == Phase::Open {
                let frames = &bufs.output[bufs.committed..];
                next_boundary(frames, sent - bufs.committed) - (sent - bufs.committed)
            } else {
                // Closing: nothing is dropped any more, so no boundary is needed.
                0
            };
            bufs.output.drain(..sent);
        }
        result
    }

    /// Writes pending output (on a writable event). Returns `MoreReady`
    /// when reading was paused and may resume.
    pub fn flush(&mut self, limits: &Limits) -> Served {
        let was_paused = self.is_paused(limits);
        if let Err(e) = self.write_pending() {
            return self.fail(e);
        }
        let served = if self.phase == Phase::Closing {
            self.finish_closing()
        } else if was_paused && !self.is_paused(limits) {
            Served::MoreReady
        } else {
            Served::Drained
        };
        self.release_if_empty();
        served
    }

    /// Whether reading (or producing a reply in pieces) should wait for
    /// output to drain.
    pub fn is_paused(&self, limits: &Limits) -> bool {
        self.owed_output() > limits.output_pause_bytes || self.body_blocked(limits)
    }

    /// Once everything owed is sent, ends the stream (a TLS layer's
    /// `close_notify` included), half-closes and waits for the peer's end of
    /// stream.
    pub(super) fn finish_closing(&mut self) -> Served {
        if self.pending_output() > 0 {
            return Served::Drained;
        }
        if !self.write_shut {
            if !self.stream_ended {
                self.stream_ended = true;
                self.stream.end_stream();
            }
            match self.stream.send_buffered() {
                Ok(true) => {}
                Ok(false) => return Served::Drained,
                Err(_) => return Served::Finished,
            }
        }
        if matches!(self.ending, Ending::Complete | Ending::Reset) {
            return Served::Finished;
        }
        if !self.write_shut {
            self.write_shut = true;
            if self.stream.shutdown_write().is_err() {
                return Served::Finished;
            }
        }
        Served::Drained
    }

    /// Answers the peer's close frame and starts closing.
    pub(super) fn peer_close(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        match payload {
            [] => {
                write_frame(out, OpCode::Control(Control::Close), &[]);
                self.start_closing(CloseReason::PeerClosed, Ending::Complete);
            }
            [_] => self.close(out, CloseCode::Protocol, "bad close frame"),
            [hi, lo, reason @ ..] => {
                let code = CloseCode::from(u16::from_be_bytes([*hi, *lo]));
                if !code.is_allowed() {
                    self.close(out, CloseCode::Protocol, "bad close code");
                } else if std::str::from_utf8(reason).is_err() {
                    self.close(out, CloseCode::Invalid, "invalid UTF-8 in close reason");
                } else {
                    write_frame(out, OpCode::Control(Control::Close), &[*hi, *lo]);
                    self.start_closing(CloseReason::PeerClosed, Ending::Complete);
                }
            }
        }
    }

    /// Sends a close frame with `code` and starts closing; input after it
    /// is discarded.
    pub(super) fn close(&mut self, out: &mut Vec<u8>, code: CloseCode, reason: &str) {
        if self.phase == Phase::Closing {
            // A close frame is already out; just stop parsing.
            self.ending = Ending::Discard;
            return;
        }
        let code = u16::from(code);
        write_close_frame(out, code, reason);
        self.start_closing(CloseReason::Closed(code), Ending::Discard);
    }

    pub(super) fn start_closing(&mut self, reason: CloseReason, ending: Ending) {
        self.phase = Phase::Closing;
        self.ending = ending;
        self.reason.get_or_insert(reason);
        if let Some(bufs) = self.bufs.as_mut() {
            if ending != Ending::AwaitReply {
                bufs.input = super::InputBuf::new();
                bufs.frame_len = 0;
            }
            bufs.message = super::InputBuf::new();
            bufs.fragmented = None;
            bufs.checked = 0;
            bufs.body = None;
            bufs.body_started = false;
        }
    }
}
