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
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::conn::Transport;

#[cfg(feature = "tls")]
use super::tls::TlsSocket;

// Without the durable log, a zero-sized stand-in that never holds a reply.
#[cfg_attr(not(feature = "log"), path = "socket/cork_off.rs")]
mod cork;
pub(super) use cork::{Cork, cork_next_write, take_cork_request};

thread_local! {
    /// Bytes (read, written) on this thread since the last [`take_io`].
    static IO: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
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
    #[inline]
    pub(super) fn cork_at(&mut self, seq: u64) {
        self.1.at(seq);
    }

    /// Whether replies are held.
    #[inline]
    pub(super) fn is_corked(&self) -> bool {
        self.1.is_corked()
    }

    /// Bytes of replies held.
    #[inline]
    pub(super) fn held_bytes(&self) -> usize {
        self.1.held_bytes()
    }

    /// Bytes of replies held whose batch is durable: they wait for the
    /// peer, not for the log.
    #[inline]
    pub(super) fn sendable_bytes(&self) -> usize {
        self.1.sendable_bytes()
    }

    /// Log batches up to `durable` are on disk: sends the replies that
    /// waited for them (as far as the socket takes them). Returns whether
    /// any are still held.
    ///
    /// # Errors
    /// The socket's.
    #[inline]
    pub(super) fn release(&mut self, durable: u64) -> io::Result<bool> {
        self.1.release(durable, &mut self.0)
    }

    /// Writes the chunks whose batch is durable; `Ok(true)` once none is
    /// left.
    #[inline]
    fn drain(&mut self) -> io::Result<bool> {
        self.1.drain(&mut self.0)
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
        if self.1.hold(buf) {
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
