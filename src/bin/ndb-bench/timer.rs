//! Precise wake-ups for the open-loop schedule.
//!
//! mio rounds a poll timeout up to whole milliseconds (`epoll_wait` takes
//! milliseconds). At thousands of requests per second that would send
//! requests up to a millisecond late, and the open loop, which measures from
//! the due time, would report that lateness as server latency. On Linux a
//! timerfd registered in the same `Poll` wakes the loop at the due time
//! instead (hrtimer precision, no timer slack). Elsewhere, waits shorter than
//! two milliseconds poll without blocking, which is precise but busy.
//!
//! The timer is one-shot and only ever a wake-up: a stale expiry is harmless
//! because the loop recomputes what is due every time it wakes.

use std::io;
use std::time::{Duration, Instant};

use mio::{Registry, Token};

/// A one-shot wake-up at a chosen instant, driven through the loop's `Poll`.
#[derive(Debug)]
pub struct Timer {
    #[cfg(target_os = "linux")]
    fd: std::os::fd::OwnedFd,
    armed_for: Option<Instant>,
}

impl Timer {
    /// A disarmed timer whose expiries arrive as readable events on `token`.
    ///
    /// # Errors
    /// When the OS refuses a timer or its registration.
    #[cfg(target_os = "linux")]
    pub fn new(registry: &Registry, token: Token) -> io::Result<Timer> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        // SAFETY: timerfd_create takes no pointers; a non-negative result is
        // a new descriptor that nothing else owns.
        let raw = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a valid descriptor owned by no one else (above).
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        registry.register(&mut mio::unix::SourceFd(&fd.as_raw_fd()), token, mio::Interest::READABLE)?;
        Ok(Timer { fd, armed_for: None })
    }

    /// A timer that relies on short non-blocking polls (no timerfd here).
    ///
    /// # Errors
    /// Never; the signature matches the Linux one.
    #[cfg(not(target_os = "linux"))]
    pub fn new(_registry: &Registry, _token: Token) -> io::Result<Timer> {
        Ok(Timer { armed_for: None })
    }

    /// The poll timeout to use for waking at `deadline`, arming the timer
    /// if needed. `None` means the timer will wake the poll by itself.
    pub fn poll_timeout(&mut self, now: Instant, deadline: Instant) -> Option<Duration> {
        let wait = deadline.saturating_duration_since(now);
        if wait.is_zero() {
            return Some(Duration::ZERO);
        }
        self.arm(deadline, wait)
    }

    #[cfg(target_os = "linux")]
    fn arm(&mut self, deadline: Instant, wait: Duration) -> Option<Duration> {
        use std::os::fd::AsRawFd;
        if self.armed_for == Some(deadline) {
            return None;
        }
        let spec = libc::itimerspec {
            it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: libc::timespec {
                tv_sec: libc::time_t::try_from(wait.as_secs()).unwrap_or(libc::time_t::MAX),
                // A zero value would disarm; `wait` is non-zero, so at
                // least one of the two fields is.
                tv_nsec: libc::c_long::from(wait.subsec_nanos() as i32),
            },
        };
        // SAFETY: `spec` is a valid itimerspec that outlives the call, the
        // old-value pointer may be null, and the descriptor is ours.
        let rc = unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if rc == 0 {
            self.armed_for = Some(deadline);
            None
        } else {
            self.armed_for = None;
            Some(coarse(wait))
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn arm(&mut self, _deadline: Instant, wait: Duration) -> Option<Duration> {
        Some(coarse(wait))
    }

    /// Consumes an expiry; call when the timer's token is readable.
    pub fn acknowledge(&mut self) {
        self.armed_for = None;
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let mut expirations = [0u8; 8];
            // SAFETY: the buffer is 8 writable bytes, as timerfd reads need;
            // the descriptor is ours and non-blocking, so this cannot hang.
            // Nothing to do on failure: EAGAIN means no expiry was pending.
            let _ = unsafe { libc::read(self.fd.as_raw_fd(), expirations.as_mut_ptr().cast(), expirations.len()) };
        }
    }
}

/// A poll timeout for `wait` without a precise timer: mio rounds it up to a
/// whole millisecond, so block until two milliseconds before the deadline and
/// poll without blocking for the rest.
fn coarse(wait: Duration) -> Duration {
    wait.saturating_sub(Duration::from_millis(2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll};

    #[test]
    fn timer_wakes_the_poll_close_to_its_deadline() {
        let mut poll = Poll::new().unwrap();
        let token = Token(7);
        let mut timer = Timer::new(poll.registry(), token).unwrap();
        let mut events = Events::with_capacity(4);
        let start = Instant::now();
        let deadline = start + Duration::from_micros(300);
        let mut woke = false;
        while Instant::now() < start + Duration::from_secs(2) {
            let now = Instant::now();
            if now >= deadline {
                woke = true;
                break;
            }
            let timeout = timer.poll_timeout(now, deadline);
            poll.poll(&mut events, timeout).unwrap();
            if events.iter().any(|e| e.token() == token) {
                timer.acknowledge();
            }
        }
        assert!(woke);
        // Generous bound: the point is "not a whole millisecond late" on a
        // quiet machine, but CI machines are not quiet.
        assert!(start.elapsed() < Duration::from_millis(50));
    }

    #[test]
    fn a_past_deadline_means_do_not_block() {
        let poll = Poll::new().unwrap();
        let mut timer = Timer::new(poll.registry(), Token(1)).unwrap();
        let now = Instant::now();
        assert_eq!(timer.poll_timeout(now, now), Some(Duration::ZERO));
    }
}
