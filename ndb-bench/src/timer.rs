//! Precise wake-ups for the open-loop schedule.
//!
//! mio rounds a poll timeout up to whole milliseconds (`epoll_wait` takes
//! milliseconds). At thousands of requests per second that would send
//! requests up to a millisecond late, and the open loop, which measures from
//! the due time, would report that lateness as server latency. On Linux a
//! timerfd registered in the same `Poll` wakes the loop instead.
//!
//! Even a timerfd fires late by the machine's wake-up latency (tens of
//! microseconds on a virtual machine, about what a fast server needs to
//! answer). So the timer learns that latency (a moving average of how late
//! it fired) and is armed that much before the deadline: the *lead*. The
//! worker, once awake, also sends the requests due within the lead, timing
//! each from the earlier of its due time and when it left. Nothing spins,
//! and requests leave within the wake-up jitter of their due time.
//!
//! Elsewhere, waits shorter than two milliseconds poll without blocking,
//! which is precise but busy.
//!
//! The timer is one-shot and only ever a wake-up: a stale expiry is harmless
//! because the loop recomputes what is due every time it wakes.

use std::io;
use std::time::{Duration, Instant};

use mio::{Registry, Token};

/// Most the timer is armed ahead of a deadline, in ns: bounds how early a
/// request may leave when wake-ups are unusually slow for a while.
const MAX_EARLY_NS: u64 = 200_000;

/// Weight of a new observation in the wake-up latency average: 1/8.
const EARLY_SHIFT: u32 = 3;

/// A one-shot wake-up at a chosen instant, driven through the loop's `Poll`.
#[derive(Debug)]
pub struct Timer {
    #[cfg(target_os = "linux")]
    fd: std::os::fd::OwnedFd,
    /// The instant the timer is armed for (ahead of the deadline), if armed.
    armed_for: Option<Instant>,
    /// How long before a deadline to arm the timer, in ns: the learned
    /// wake-up latency.
    early_ns: u64,
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
        Ok(Timer { fd, armed_for: None, early_ns: 0 })
    }

    /// A timer that relies on short non-blocking polls (no timerfd here).
    ///
    /// # Errors
    /// Never; the signature matches the Linux one.
    #[cfg(not(target_os = "linux"))]
    pub fn new(_registry: &Registry, _token: Token) -> io::Result<Timer> {
        Ok(Timer { armed_for: None, early_ns: 0 })
    }

    /// The learned wake-up latency, in ns: how long before a deadline the
    /// timer is armed, and so how early a request may be sent.
    pub fn lead_ns(&self) -> u64 {
        if cfg!(target_os = "linux") { self.early_ns } else { 0 }
    }

    /// The poll timeout to use for waking at `deadline`, arming the timer
    /// if needed. `None` means the timer will wake the poll by itself;
    /// `Some(ZERO)` means the deadline is within the lead already.
    pub fn poll_timeout(&mut self, now: Instant, deadline: Instant) -> Option<Duration> {
        let target = deadline.checked_sub(Duration::from_nanos(self.early_ns)).unwrap_or(deadline);
        if now >= target {
            return Some(Duration::ZERO);
        }
        self.arm(target, target - now)
    }

    #[cfg(target_os = "linux")]
    fn arm(&mut self, target: Instant, wait: Duration) -> Option<Duration> {
        use std::os::fd::AsRawFd;
        if self.armed_for == Some(target) {
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
            self.armed_for = Some(target);
            None
        } else {
            self.armed_for = None;
            Some(coarse(wait))
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn arm(&mut self, _target: Instant, wait: Duration) -> Option<Duration> {
        Some(coarse(wait))
    }

    /// Consumes an expiry, learning from how late it came; call when the
    /// timer's token is readable, with the time the poll returned.
    pub fn acknowledge(&mut self, now: Instant) {
        if let Some(target) = self.armed_for.take() {
            let late_ns = u64::try_from(now.saturating_duration_since(target).as_nanos()).unwrap_or(u64::MAX);
            self.early_ns = learn(self.early_ns, late_ns);
        }
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

/// The new wake-up latency estimate after a wake-up `late_ns` after its
/// target: a moving average, capped at [`MAX_EARLY_NS`].
fn learn(early_ns: u64, late_ns: u64) -> u64 {
    let late_ns = late_ns.min(MAX_EARLY_NS);
    let updated = if late_ns >= early_ns {
        early_ns + ((late_ns - early_ns) >> EARLY_SHIFT)
    } else {
        early_ns - ((early_ns - late_ns) >> EARLY_SHIFT)
    };
    updated.min(MAX_EARLY_NS)
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
                timer.acknowledge(Instant::now());
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

    #[test]
    fn wake_up_latency_is_learned_and_capped() {
        let mut early = 0;
        for _ in 0..100 {
            early = learn(early, 40_000);
        }
        assert!((39_000..=40_000).contains(&early), "{early}");
        for _ in 0..100 {
            early = learn(early, 10_000);
        }
        assert!((10_000..=11_000).contains(&early), "{early}");
        for _ in 0..100 {
            early = learn(early, u64::MAX);
        }
        assert!(early <= MAX_EARLY_NS);
    }

    #[test]
    fn within_the_lead_the_loop_does_not_block() {
        let poll = Poll::new().unwrap();
        let mut timer = Timer::new(poll.registry(), Token(1)).unwrap();
        timer.early_ns = 50_000;
        let now = Instant::now();
        assert_eq!(timer.poll_timeout(now, now + Duration::from_micros(30)), Some(Duration::ZERO));
    }
}
