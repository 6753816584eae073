//! An in-memory socket for the connection layer: reads come in scripted
//! sizes, each its own readiness event (a `WouldBlock` follows it); writes
//! take scripted amounts (0 refuses with `WouldBlock`). With it a test
//! serves the same bytes split in many ways and compares the output.

use std::io::{self, Read, Write};

use ndb::internals::conn::{Conn, Limits, Message, ReplyKind, Scratch, Served, Transport};

/// A scripted socket; see the module documentation.
pub struct Pipe {
    input: Vec<u8>,
    read_pos: usize,
    splits: Vec<usize>,
    reads: usize,
    blocked: bool,
    rooms: Vec<usize>,
    writes: usize,
    written: Vec<u8>,
}

impl Pipe {
    /// A socket holding `input`, read `splits[i]` bytes at a time and
    /// written `rooms[i]` bytes at a time (both cycled; neither may be
    /// empty).
    pub fn new(input: Vec<u8>, splits: Vec<usize>, rooms: Vec<usize>) -> Pipe {
        assert!(!splits.is_empty() && !rooms.is_empty(), "a read size and a write room at least");
        Pipe { input, read_pos: 0, splits, reads: 0, blocked: false, rooms, writes: 0, written: Vec::new() }
    }

    /// Whether every input byte has been read.
    pub fn input_done(&self) -> bool {
        self.read_pos == self.input.len()
    }

    /// Everything written so far, taken.
    pub fn take_written(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.written)
    }
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read_pos == self.input.len() || std::mem::take(&mut self.blocked) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let step = self.splits[self.reads % self.splits.len()];
        self.reads += 1;
        self.blocked = true;
        let n = step.min(buf.len()).min(self.input.len() - self.read_pos);
        buf[..n].copy_from_slice(&self.input[self.read_pos..self.read_pos + n]);
        self.read_pos += n;
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.rooms[self.writes % self.rooms.len()];
        self.writes += 1;
        if room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = room.min(buf.len());
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Pipe {
    fn shutdown_write(&self) -> io::Result<()> {
        Ok(())
    }
}

/// Turns a connection may take to serve one script before
/// [`echo_through`] gives up on it: far more than any script of a test
/// needs (one byte per read and write of a few kilobytes).
const MAX_TURNS: usize = 100_000;

/// Serves `bytes` through a [`Conn`] over a [`Pipe`] that echoes text as
/// text and binary as binary, turn by turn (serve, then flush) until the
/// connection finishes or has nothing left to do; returns what it wrote and
/// every message it saw, in order.
pub fn echo_through(bytes: &[u8], splits: Vec<usize>, rooms: Vec<usize>, limits: &Limits) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut conn = Conn::new(Pipe::new(bytes.to_vec(), splits, rooms));
    let mut scratch = Scratch::default();
    let mut messages = Vec::new();
    let mut echo = |message: Message<'_>, out: &mut Vec<u8>| match message {
        Message::Text(t) => {
            messages.push(t.as_bytes().to_vec());
            out.extend_from_slice(t.as_bytes());
            ReplyKind::Text
        }
        Message::Binary(b) => {
            messages.push(b.to_vec());
            out.extend_from_slice(b);
            ReplyKind::Binary
        }
    };
    for _ in 0..MAX_TURNS {
        let served = conn.serve(&mut scratch, limits, &mut echo);
        if served == Served::Finished {
            break;
        }
        let flushed = conn.flush(limits);
        if flushed == Served::Finished {
            break;
        }
        let input_done = conn.stream().input_done();
        if input_done && conn.pending_output() == 0 && served == Served::Drained && flushed == Served::Drained {
            break;
        }
    }
    let written = conn.stream_mut().take_written();
    (written, messages)
}
