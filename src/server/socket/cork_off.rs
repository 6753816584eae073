//! A socket's held replies in a build without the `log` feature: the same
//! names as `cork.rs`, zero-sized, never holding anything (nothing waits
//! for a log), every call a no-op.
//!
//! Owns: nothing. Must not touch: the socket.

use std::io;

use mio::net::TcpStream;

/// Does nothing: no reply waits for a log.
#[inline]
pub(in crate::server) fn cork_next_write(_seq: u64) {}

/// No request is ever made: 0.
#[inline]
pub(in crate::server) fn take_cork_request() -> u64 {
    0
}

/// Replies held in a plain socket: none, ever.
#[derive(Debug, Default)]
pub(in crate::server) struct Cork {}

impl Cork {
    /// Does nothing.
    #[inline]
    pub(super) fn at(&mut self, _seq: u64) {}

    /// Never.
    #[inline]
    pub(super) fn is_corked(&self) -> bool {
        false
    }

    /// None: 0.
    #[inline]
    pub(super) fn held_bytes(&self) -> usize {
        0
    }

    /// None: 0.
    #[inline]
    pub(super) fn sendable_bytes(&self) -> usize {
        0
    }

    /// Keeps nothing: `false`.
    #[inline]
    pub(super) fn hold(&mut self, _buf: &[u8]) -> bool {
        false
    }

    /// Nothing is held: `Ok(false)`.
    #[inline]
    pub(super) fn release(&mut self, _durable: u64, _tcp: &mut TcpStream) -> io::Result<bool> {
        Ok(false)
    }

    /// Nothing is held: `Ok(true)`.
    #[inline]
    pub(super) fn drain(&mut self, _tcp: &mut TcpStream) -> io::Result<bool> {
        Ok(true)
    }
}
