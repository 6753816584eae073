//! Replies held in a plain socket until the log batches of their commands
//! are durable (`fsync always`), and the request a command's handler makes
//! for the write of its reply to be held.
//!
//! Owns: the held chunks of one socket and this thread's pending request.
//! Must not touch: the log (the server says how far it is durable).

use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{self, ErrorKind, Write};

use mio::net::TcpStream;

use super::count_written;

thread_local! {
    /// The log batch the next write of a plain socket must wait for (0:
    /// none): set by the handler of a command that changed data under
    /// `fsync always`, taken by the write of its reply.
    static CORK_AT: Cell<u64> = const { Cell::new(0) };
}

/// Makes the next write to a plain socket (the reply being written) wait
/// until log batch `seq` is durable.
pub(in crate::server) fn cork_next_write(seq: u64) {
    CORK_AT.with(|c| c.set(seq));
}

/// Takes a cork no write took (the reply went to the connection's own
/// buffer): the caller applies it to the connection's socket.
pub(in crate::server) fn take_cork_request() -> u64 {
    CORK_AT.with(|c| c.replace(0))
}

/// Replies held in a plain socket until the log batches of their commands
/// are durable (`fsync always`), in order: each chunk waits for its batch.
/// The connection sees them as written, so it keeps serving its pipeline;
/// the transport reports them as buffered, so nothing written after them
/// overtakes them.
#[derive(Debug, Default)]
pub(in crate::server) struct Cork {
    chunks: VecDeque<(u64, Vec<u8>)>,
    durable: u64,
    /// Bytes in `chunks`.
    bytes: usize,
}

impl Cork {
    /// Holds what is written from now on until log batch `seq` is durable.
    pub(super) fn at(&mut self, seq: u64) {
        match self.chunks.back_mut() {
            Some((last, _)) if *last >= seq => {}
            _ => self.chunks.push_back((seq, Vec::new())),
        }
    }

    /// Whether replies are held.
    pub(super) fn is_corked(&self) -> bool {
        !self.chunks.is_empty()
    }

    /// Bytes of replies held.
    pub(super) fn held_bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes of replies held whose batch is durable: they wait for the
    /// peer, not for the log.
    pub(super) fn sendable_bytes(&self) -> usize {
        let durable = self.durable;
        self.chunks.iter().take_while(|(seq, _)| *seq <= durable).map(|(_, chunk)| chunk.len()).sum()
    }

    /// Takes this thread's pending request (if any), then keeps `buf` if
    /// replies are held; `true` when it was kept (it must not be written
    /// now).
    pub(super) fn hold(&mut self, buf: &[u8]) -> bool {
        let want = take_cork_request();
        if want != 0 {
            self.at(want);
        }
        if let Some((_, chunk)) = self.chunks.back_mut() {
            chunk.extend_from_slice(buf);
            self.bytes += buf.len();
            return true;
        }
        false
    }

    /// Log batches up to `durable` are on disk: writes the replies that
    /// waited for them to `tcp`; returns whether any are still held.
    pub(super) fn release(&mut self, durable: u64, tcp: &mut TcpStream) -> io::Result<bool> {
        self.durable = durable;
        self.drain(tcp).map(|empty| !empty)
    }

    /// Writes the chunks whose batch is durable to `tcp`; `Ok(true)` once
    /// none is left.
    pub(super) fn drain(&mut self, tcp: &mut TcpStream) -> io::Result<bool> {
        while let Some((seq, chunk)) = self.chunks.front_mut() {
            if *seq > self.durable {
                return Ok(false);
            }
            let mut sent = 0;
            while sent < chunk.len() {
                match tcp.write(&chunk[sent..]) {
                    Ok(0) => return Err(ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        count_written(n);
                        sent += n;
                        self.bytes -= n;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        chunk.drain(..sent);
                        return Ok(false);
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            self.chunks.pop_front();
        }
        Ok(true)
    }
}
