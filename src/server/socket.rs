//! The byte stream under a connection: a TCP socket, or (feature `tls`) a
//! TLS session over one, both non-blocking, and the count of bytes that
//! cross the socket.
//!
//! Owns: reading and writing the socket, the TLS layer between the socket
//! and the frame layer (`tls.rs`), and the tally of bytes in and out. The
//! tally is per thread and per public call: the server takes it into its
//! metrics before each of its public methods returns ([`take_io`]), so it
//! is exact even with several servers on one thread, and a connection
//! holds no counter of its own.

use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;

use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::conn::Transport;

#[cfg(feature = "tls")]
use super::tls::TlsSocket;

thread_local! {
    /// Bytes (read, written) on this thread since the last [`take_io`].
    static IO: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    /// The log batch the next write of a plain socket must wait for (0:
    /// none): set by the handler of a command that changed data under
    /// `fsync always`, taken by the write of its reply.
    static CORK_AT: Cell<u64> = const { Cell::new(0) };
}

/// Makes the next write to a plain socket (the reply being written) wait
/// until log batch `seq` is durable.
pub(super) fn cork_next_write(seq: u64) {
    CORK_AT.with(|c| c.set(seq));
}

/// Takes a cork no write took (the reply went to the connection's own
/// buffer): the caller applies it to the connection's socket.
pub(super) fn take_cork_request() -> u64 {
    CORK_AT.with(|c| c.replace(0))
}

/// Replies held in a plain socket until the log batches of their commands
/// are durable (`fsync always`), in order: each chunk waits for its batch.
/// The connection sees them as written, so it keeps serving its pipeline;
/// the transport reports them as buffered, so nothing written after them
/// overtakes them.
#[derive(Debug, Default)]
pub(super) struct Cork {
    chunks: VecDeque<(u64, Vec<u8>)>,
    durable: u64,
    /// Bytes in `chunks`.
    bytes: usize,
}

/// Bytes read and written on this thread's sockets since the last call.
pub(super) fn take_io() -> (u64, u64) {
    IO.with(|io| io.replace((0, 0)))
}

fn count_read(n: usize) {
    IO.with(|io| {
        let (read, written) = io.get();
        io.set((read + n as u64, written));
    });
}

pub(super) fn count_written(n: usize) {
    IO.with(|io| {
        let (read, written) = io.get();
        io.set((read, written + n as u64));
    });
}

/// A plain mio socket as a connection's stream, for hosts that drive
/// [`crate::conn::Conn`] themselves (bytes are not counted).
impl Transport for TcpStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

/// The TCP socket, counting what crosses it.
#[derive(Debug)]
pub(super) struct Tcp(pub TcpStream, pub Cork);

impl Tcp {
    /// Holds what is written from now on until log batch `seq` is durable.
    pub(super) fn cork_at(&mut self, seq: u64) {
        match self.1.chunks.back_mut() {
            Some((last, _)) if *last >= seq => {}
            _ => self.1.chunks.push_back((seq, Vec::new())),
        }
    }

    /// Whether replies are held.
    pub(super) fn is_corked(&self) -> bool {
        !self.1.chunks.is_empty()
    }

    /// Bytes of replies held.
    pub(super) fn held_bytes(&self) -> usize {
        self.1.bytes
    }

    /// Bytes of replies held whose batch is durable: they wait for the
    /// peer, not for the log.
    pub(super) fn sendable_bytes(&self) -> usize {
        let durable = self.1.durable;
        self.1.chunks.iter().take_while(|(seq, _)| *seq <= durable).map(|(_, chunk)| chunk.len()).sum()
    }

    /// Log batches up to `durable` are on disk: sends the replies that
    /// waited for them (as far as the socket takes them). Returns whether
    /// any are still held.
    ///
    /// # Errors
    /// The socket's.
    pub(super) fn release(&mut self, durable: u64) -> io::Result<bool> {
        self.1.durable = durable;
        self.drain().map(|empty| !empty)
    }

    /// Writes the chunks whose batch is durable; `Ok(true)` once none is
    /// left.
    fn drain(&mut self) -> io::Result<bool> {
        while let Some((seq, chunk)) = self.1.chunks.front_mut() {
            if *seq > self.1.durable {
                return Ok(false);
            }
            let mut sent = 0;
            while sent < chunk.len() {
                match self.0.write(&chunk[sent..]) {
                    Ok(0) => return Err(ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        count_written(n);
                        sent += n;
                        self.1.bytes -= n;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        chunk.drain(..sent);
                        return Ok(false);
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            self.1.chunks.pop_front();
        }
        Ok(true)
    }
}

impl Read for Tcp {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        count_read(n);
        Ok(n)
    }
}

impl Write for Tcp {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let want = take_cork_request();
        if want != 0 {
            self.cork_at(want);
        }
        if let Some((_, chunk)) = self.1.chunks.back_mut() {
            chunk.extend_from_slice(buf);
            self.1.bytes += buf.len();
            return Ok(buf.len());
        }
        let n = self.0.write(buf)?;
        count_written(n);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A connection's stream.
#[derive(Debug)]
pub(crate) enum Socket {
    /// `ws://`
    Plain(Tcp),
    /// `wss://`: the TLS session is boxed, so a plain connection stays small.
    #[cfg(feature = "tls")]
    Tls(Box<TlsSocket>),
}

impl Socket {
    /// The TCP socket.
    pub(super) fn tcp(&self) -> &TcpStream {
        match self {
            Socket::Plain(tcp) => &tcp.0,
            #[cfg(feature = "tls")]
            Socket::Tls(tls) => tls.tcp(),
        }
    }

    fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            Socket::Plain(tcp) => &mut tcp.0,
            #[cfg(feature = "tls")]
            Socket::Tls(tls) => tls.tcp_mut(),
        }
    }

    /// The peer's address.
    /// The plain socket, which can hold replies for the log (a TLS one
    /// cannot: its connection waits for each reply instead).
    pub(super) fn plain_mut(&mut self) -> Option<&mut Tcp> {
        match self {
            Socket::Plain(tcp) => Some(tcp),
            #[cfg(feature = "tls")]
            Socket::Tls(_) => None,
        }
    }

    /// Bytes of replies held for the log whose batch is durable: waiting
    /// for the peer to read, so they count toward its send timeout.
    pub(super) fn sendable_held(&self) -> usize {
        match self {
            Socket::Plain(tcp) => tcp.sendable_bytes(),
            #[cfg(feature = "tls")]
            Socket::Tls(_) => 0,
        }
    }

    /// Whether replies are held for the log.
    pub(super) fn is_corked(&self) -> bool {
        match self {
            Socket::Plain(tcp) => tcp.is_corked(),
            #[cfg(feature = "tls")]
            Socket::Tls(_) => false,
        }
    }

    pub(super) fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().peer_addr()
    }
}

impl Read for Socket {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Plain(tcp) => tcp.read(buf),
            #[cfg(feature = "tls")]
            Socket::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Socket {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Plain(tcp) => tcp.write(buf),
            #[cfg(feature = "tls")]
            Socket::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Socket {
    fn shutdown_write(&self) -> io::Result<()> {
        self.tcp().shutdown(std::net::Shutdown::Write)
    }

    #[inline]
    fn has_buffered(&self) -> bool {
        match self {
            Socket::Plain(tcp) => tcp.is_corked(),
            #[cfg(feature = "tls")]
            Socket::Tls(tls) => tls.has_buffered(),
        }
    }

    #[inline]
    fn buffered_bytes(&self) -> usize {
        match self {
            Socket::Plain(tcp) => tcp.held_bytes(),
            #[cfg(feature = "tls")]
            Socket::Tls(_) => 0,
        }
    }

    #[inline]
    fn send_buffered(&mut self) -> io::Result<bool> {
        match self {
            Socket::Plain(tcp) => tcp.drain(),
            #[cfg(feature = "tls")]
            Socket::Tls(tls) => tls.send_buffered(),
        }
    }

    fn end_stream(&mut self) {
        #[cfg(feature = "tls")]
        if let Socket::Tls(tls) = self {
            tls.end_stream();
        }
    }
}

impl Source for Socket {
    fn register(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        self.tcp_mut().register(registry, token, interests)
    }

    fn reregister(&mut self, registry: &Registry, token: Token, interests: Interest) -> io::Result<()> {
        self.tcp_mut().reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.tcp_mut().deregister(registry)
    }
}
