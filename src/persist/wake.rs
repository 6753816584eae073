//! How the threads off the loop (the log thread, the save and search
//! threads) wake the host's `Poll` when the loop has something to collect:
//! an `eventfd` the server registers next to its listener, under the
//! listener's own token.
//!
//! The host owns the only `mio::Waker` of its `Poll`, and the server's
//! token range is the listener's token and the connections' (see
//! `TokenRange`), so the server registers the eventfd under the listener's
//! token: an event there makes the server accept (nothing, when no one
//! connects: one `accept` answering `EAGAIN`) and drain the eventfd. Before
//! this, a finished fsync or job waited for the loop's next look, up to
//! `JOB_POLL_INTERVAL` (1 ms) later: under `fsync always` a quarter of each
//! group commit's round trip. The loop still looks every 1 ms while it waits
//! for them, so a lost or failed wake-up costs only that.
//!
//! Owns: the eventfd. Knows nothing of what it wakes for.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// An eventfd: [`Wake::wake`] from any thread makes it readable.
#[derive(Debug)]
pub struct Wake(OwnedFd);

impl Wake {
    /// A new eventfd, non-blocking and closed on exec.
    ///
    /// # Errors
    /// The system's (out of descriptors).
    pub fn new() -> io::Result<Wake> {
        // SAFETY: eventfd has no memory arguments; a non-negative result
        // is a descriptor this process owns and nothing else closes.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        Ok(Wake(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Makes the eventfd readable (one `write`, never blocking: the counter
    /// cannot reach its limit, as the loop drains it on every event).
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live `u64` to a descriptor this
        // value owns. A failure (EAGAIN at the counter's limit) leaves the
        // eventfd readable all the same.
        let _ = unsafe { libc::write(self.0.as_raw_fd(), std::ptr::from_ref(&one).cast(), 8) };
    }

    /// Resets the counter (the loop, on an event).
    pub fn drain(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a live `u64`; EAGAIN (nothing to
        // drain) is fine.
        let _ = unsafe { libc::read(self.0.as_raw_fd(), std::ptr::from_mut(&mut count).cast(), 8) };
    }

    /// The descriptor, to register with a `Poll`.
    pub fn raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::Wake;

    #[test]
    fn a_wake_makes_it_readable_and_a_drain_resets_it() {
        let wake = Wake::new().expect("eventfd");
        let readable = |w: &Wake| {
            let mut fds = libc::pollfd { fd: w.raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: one live pollfd, no timeout.
            unsafe { libc::poll(&raw mut fds, 1, 0) == 1 && fds.revents & libc::POLLIN != 0 }
        };
        assert!(!readable(&wake));
        wake.wake();
        wake.wake();
        assert!(readable(&wake));
        wake.drain();
        assert!(!readable(&wake));
        // Draining an empty one is harmless.
        wake.drain();
        assert!(!readable(&wake));
    }
}
