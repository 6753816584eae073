//! What evaluating a JSONPath may cost, and the counter that enforces it.
//!
//! Work is counted in *steps*. One step is one node a selector produces,
//! one node a descendant segment walks through, one node a filter tests,
//! one selector applied to one node, one segment of a singular query, one
//! pair of nodes a comparison looks at (plus one per 64 bytes of strings
//! compared or measured); a regular expression's compilation and each of
//! its runs cost steps in proportion to their work (`regex.rs`). A step is
//! 15 to 55 ns (`eval::tests::step_cost`, release).
//!
//! Evaluating one path against one stored value may take at most
//! [`STEPS_BASE`] + [`STEPS_PER_BYTE`] × the value's length steps, and no
//! list of nodes along the way may hold more than [`RESULTS_BASE`] + one
//! node per two bytes of the value. Both grow with the value because every
//! path that visits each node a few times must fit whatever the value's
//! size (a value of n bytes has at most about n/2 nodes), while a path
//! whose cost multiplies with each segment, such as `$[0,0,0,0][0,0,0,0]…`
//! or filters nested in filters, stops after a constant factor of the
//! value's own size. Past either, the command answers 202 (OverBudget) and
//! changes nothing.
//!
//! On the loop a command also has a [`Budget::on_loop`] allowance shared by
//! all the values it looks at: when it runs out the command is started
//! again on the search thread with the full budget, so where it ran never
//! changes its answer. Off the loop, a time limit and a cancel flag are
//! looked at on the first step and then every [`CHECK_EVERY_STEPS`] steps
//! (the flag also before each value). The time limit is in CPU time of the
//! thread doing the work: the search thread runs at a lower priority, so
//! on a busy host its wall-clock time says how busy the host is, not how much
//! the search costs, while its CPU time is the same however loaded the
//! host.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Steps one evaluation may always take, whatever the value's size:
/// 2 to 5 ms of work, far more than any real path on a small value needs
/// (a filter over 1,000 items takes a few thousand).
pub const STEPS_BASE: u64 = 100_000;

/// Steps one evaluation may take per byte of the value: 8 visits of each
/// of its nodes, at the densest (a node per two bytes). A path visiting
/// every node once or twice (`$..*`, `$..[?@.n > 1]`) fits with room.
pub const STEPS_PER_BYTE: u64 = 4;

/// Nodes a list may always hold (a segment's results, the final ones
/// included): room for selectors that repeat nodes (`$[0,0,1]`) on small
/// values.
pub const RESULTS_BASE: usize = 10_000;

/// How often, in steps, the evaluation off the loop looks at its time
/// limit and cancel flag: every 100 to 200 µs of work (reading a thread's
/// CPU clock is a system call of a few hundred nanoseconds).
pub const CHECK_EVERY_STEPS: u64 = 4_096;

/// Why an evaluation stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// Past the value's budget: status 202.
    OverBudget,
    /// The loop's allowance ran out: the command moves to the save thread.
    Yield,
    /// Past the search's time limit: status 203.
    TimedOut,
    /// The connection that asked is gone.
    Cancelled,
}

/// When work off the loop must stop: a deadline in the calling thread's
/// CPU time, and a cancel flag.
#[derive(Debug, Clone, Default)]
pub(super) struct Watch {
    deadline: Option<Duration>,
    cancel: Option<Arc<AtomicBool>>,
}

impl Watch {
    /// A watch for work starting now on the calling thread: at most
    /// `limit` of its CPU time, and until `cancel` is set.
    pub fn starting(limit: Option<Duration>, cancel: Option<Arc<AtomicBool>>) -> Watch {
        Watch { deadline: limit.map(|limit| thread_cpu_time().saturating_add(limit)), cancel }
    }

    fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed))
    }

    /// Whether the work must stop now, and why.
    pub fn check(&self) -> Result<(), Stop> {
        crate::background::yield_point();
        if self.cancelled() {
            return Err(Stop::Cancelled);
        }
        if self.deadline.is_some_and(|d| thread_cpu_time() >= d) {
            return Err(Stop::TimedOut);
        }
        Ok(())
    }
}

/// The CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into the valid pointer given.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0;
    if !ok {
        return Duration::ZERO;
    }
    Duration::new(u64::try_from(ts.tv_sec).unwrap_or(0), u32::try_from(ts.tv_nsec).unwrap_or(0))
}

/// The step counter of one command's evaluations.
#[derive(Debug)]
pub(super) struct Budget {
    /// Steps left for the value being evaluated.
    steps: u64,
    /// Steps left on the loop, over every value (`u64::MAX` off the loop).
    loop_steps: u64,
    /// Most nodes a list may hold for the value being evaluated.
    max_results: usize,
    watch: Watch,
    /// Steps until the watch is looked at again.
    until_check: u64,
    /// Steps taken over every value, for measurements.
    used: u64,
}

impl Budget {
    /// A budget for work on the loop: at most `loop_steps` over every value,
    /// then [`Stop::Yield`].
    pub fn on_loop(loop_steps: u64) -> Budget {
        Budget { loop_steps, ..Budget::off_loop(Watch::default()) }
    }

    /// A budget for work off the loop, stopping when `watch` says so.
    pub fn off_loop(watch: Watch) -> Budget {
        let check = watch.deadline.is_some() || watch.cancel.is_some();
        Budget {
            steps: 0,
            loop_steps: u64::MAX,
            max_results: 0,
            watch,
            // The first step looks at the watch.
            until_check: if check { 1 } else { u64::MAX },
            used: 0,
        }
    }

    /// Starts the evaluation of a value of `bytes` bytes of text: its own
    /// step and result limits.
    pub fn start_value(&mut self, bytes: usize) -> Result<(), Stop> {
        let bytes64 = u64::try_from(bytes).unwrap_or(u64::MAX);
        self.steps = STEPS_BASE.saturating_add(STEPS_PER_BYTE.saturating_mul(bytes64));
        self.max_results = RESULTS_BASE.saturating_add(bytes / 2);
        if self.watch.cancelled() { Err(Stop::Cancelled) } else { Ok(()) }
    }

    /// Takes `n` steps, or says why not.
    #[inline]
    pub fn spend(&mut self, n: u64) -> Result<(), Stop> {
        if n > self.steps {
            return Err(Stop::OverBudget);
        }
        if n > self.loop_steps {
            return Err(Stop::Yield);
        }
        self.steps -= n;
        self.loop_steps -= n;
        self.used += n;
        if n >= self.until_check {
            self.until_check = CHECK_EVERY_STEPS;
            return self.watch.check();
        }
        self.until_check -= n;
        Ok(())
    }

    /// Most nodes a list may hold.
    pub fn max_results(&self) -> usize {
        self.max_results
    }

    /// Most locations a located evaluation may keep: twice
    /// [`Budget::max_results`] (each result's and those of its parents).
    pub fn max_locations(&self) -> usize {
        self.max_results.saturating_mul(2)
    }

    /// Steps taken so far, over every value.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Steps left for the value being evaluated.
    #[cfg(test)]
    pub fn left(&self) -> u64 {
        self.steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_grows_with_the_value() {
        let mut budget = Budget::off_loop(Watch::default());
        budget.start_value(1000).unwrap();
        assert_eq!(budget.left(), STEPS_BASE + 4000);
        assert_eq!(budget.max_results(), RESULTS_BASE + 500);
        assert_eq!(budget.spend(STEPS_BASE + 4000), Ok(()));
        assert_eq!(budget.spend(1), Err(Stop::OverBudget));
        budget.start_value(0).unwrap();
        assert_eq!(budget.spend(1), Ok(()));
        assert_eq!(budget.used(), STEPS_BASE + 4001);
    }

    #[test]
    fn the_loop_allowance_spans_values_and_yields() {
        let mut budget = Budget::on_loop(150_000);
        budget.start_value(0).unwrap();
        assert_eq!(budget.spend(90_000), Ok(()));
        budget.start_value(0).unwrap();
        assert_eq!(budget.spend(60_001), Err(Stop::Yield));
        // The value's own limit wins: its answer does not depend on where it ran.
        assert_eq!(budget.spend(STEPS_BASE + 1), Err(Stop::OverBudget));
    }

    #[test]
    fn off_the_loop_the_watch_is_looked_at() {
        let cancel = Arc::new(AtomicBool::new(false));
        let mut budget = Budget::off_loop(Watch::starting(None, Some(cancel.clone())));
        budget.start_value(1 << 20).unwrap();
        for _ in 0..CHECK_EVERY_STEPS * 2 {
            budget.spend(1).unwrap();
        }
        cancel.store(true, Ordering::Relaxed);
        let stopped = (0..=CHECK_EVERY_STEPS).map(|_| budget.spend(1)).find(Result::is_err);
        assert_eq!(stopped, Some(Err(Stop::Cancelled)));
        assert_eq!(budget.start_value(10), Err(Stop::Cancelled));
        // A time limit of CPU time: the first step looks, then every few thousand.
        let mut budget = Budget::off_loop(Watch::starting(Some(Duration::ZERO), None));
        budget.start_value(10).unwrap();
        assert_eq!(budget.spend(1), Err(Stop::TimedOut));
        let mut budget = Budget::off_loop(Watch::starting(Some(Duration::from_millis(20)), None));
        budget.start_value(1 << 30).unwrap();
        let started = std::time::Instant::now();
        let stopped = loop {
            // Busy work, so the thread's CPU clock moves.
            std::hint::black_box((0..100u64).sum::<u64>());
            if let Err(stop) = budget.spend(1) {
                break stop;
            }
        };
        assert_eq!(stopped, Stop::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(20));
    }
}
