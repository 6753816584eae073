//! The open-loop schedule: when each request is due.
//!
//! With `--rate R`, request `k` of a thread is due at a fixed time computed
//! from `k` alone, never from when earlier replies came back. Latency is
//! measured from that due time, so time a request spends waiting (for a free
//! connection slot, or in a socket buffer) is counted, not hidden: this is
//! what avoids coordinated omission, as wrk2 does.
//!
//! A thread with `c_t` of the `c` connections takes `R * c_t / c` of the
//! rate. Periods are kept as exact fractions of nanoseconds, so a long run
//! does not drift, and threads are offset by `1/R` so their requests
//! interleave instead of arriving in bursts of one per thread.
//!
//! Pure arithmetic on nanosecond offsets from the start of a test.

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Due times of one thread's requests, as nanoseconds after the test start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Request `k` is due `offset_ns + floor(k * num / den)` ns after start.
    num: u128,
    den: u128,
    offset_ns: u64,
}

impl Schedule {
    /// The schedule of thread `index` holding `thread_conns` of
    /// `total_conns` connections, for `rate` requests per second in total.
    /// All counts must be non-zero.
    pub fn new(rate: u64, total_conns: usize, thread_conns: usize, index: usize) -> Schedule {
        let rate = u128::from(rate.max(1));
        Schedule {
            num: NANOS_PER_SEC * total_conns.max(1) as u128,
            den: rate * thread_conns.max(1) as u128,
            offset_ns: u64::try_from(index as u128 * NANOS_PER_SEC / rate).unwrap_or(u64::MAX),
        }
    }

    /// When request `k` is due, in ns after the start.
    #[inline]
    pub fn due_ns(&self, k: u64) -> u64 {
        let at = u128::from(self.offset_ns) + u128::from(k) * self.num / self.den;
        u64::try_from(at).unwrap_or(u64::MAX)
    }

    /// How many requests are due at or before `now_ns`: the `k` with
    /// `due_ns(k) <= now_ns`.
    #[inline]
    pub fn due_count(&self, now_ns: u64) -> u64 {
        let Some(elapsed) = now_ns.checked_sub(self.offset_ns) else {
            return 0;
        };
        // k is due iff floor(k * num / den) <= elapsed iff k * num < (elapsed + 1) * den.
        let bound = (u128::from(elapsed) + 1) * self.den;
        u64::try_from(bound.div_ceil(self.num)).unwrap_or(u64::MAX)
    }

    /// How many requests are due strictly before `end_ns`: the thread's
    /// share of a `--duration` run.
    pub fn count_before(&self, end_ns: u64) -> u64 {
        end_ns.checked_sub(1).map_or(0, |last| self.due_count(last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_thread_at_1000_per_second_is_due_every_millisecond() {
        let s = Schedule::new(1000, 10, 10, 0);
        assert_eq!(s.due_ns(0), 0);
        assert_eq!(s.due_ns(1), 1_000_000);
        assert_eq!(s.due_ns(1000), 1_000_000_000);
        assert_eq!(s.due_count(0), 1);
        assert_eq!(s.due_count(999_999), 1);
        assert_eq!(s.due_count(1_000_000), 2);
        assert_eq!(s.count_before(1_000_000_000), 1000);
    }

    #[test]
    fn due_count_is_the_inverse_of_due_ns() {
        for (rate, total, mine, index) in [(3, 1, 1, 0), (7, 5, 2, 1), (100_000, 50, 17, 2), (1, 3, 1, 2)] {
            let s = Schedule::new(rate, total, mine, index);
            for k in 0..2000u64 {
                let at = s.due_ns(k);
                assert!(s.due_count(at) > k, "k {k} due at {at}");
                if at > 0 {
                    assert!(s.due_count(at - 1) <= k, "k {k} not due before {at}");
                }
            }
        }
    }

    #[test]
    fn threads_share_the_rate_by_connections_and_interleave() {
        // 3 connections on thread 0, 1 on thread 1, 400/s in total.
        let a = Schedule::new(400, 4, 3, 0);
        let b = Schedule::new(400, 4, 1, 1);
        let second = 1_000_000_000;
        assert_eq!(a.count_before(second), 300);
        assert_eq!(b.count_before(second + b.due_ns(0)), 100);
        assert_eq!(b.due_ns(0), 2_500_000, "offset by 1/rate");
    }

    #[test]
    fn schedule_does_not_drift_over_long_runs() {
        // 3 per second has a period of 333_333_333.3 ns; rounding it would
        // lose a request every few years of requests, exact fractions never.
        let s = Schedule::new(3, 1, 1, 0);
        assert_eq!(s.due_ns(3_000_000), 1_000_000 * 1_000_000_000);
        assert_eq!(s.count_before(3600 * 1_000_000_000), 3 * 3600);
    }

    #[test]
    fn nothing_is_due_before_the_offset() {
        let s = Schedule::new(10, 2, 1, 1);
        assert_eq!(s.due_count(s.due_ns(0) - 1), 0);
        assert_eq!(s.count_before(0), 0);
    }
}
