//! What evaluating a JSONPath may cost, and the counter that enforces it.
//!
//! Work is counted in *steps*. One step is one node a selector produces,
//! one node a descendant segment walks through, one node a filter tests,
//! one selector applied to one node, one segment of a singular query, one
//! pair of nodes a comparison looks at (plus one per 64 bytes of strings
//! compared or measured); a regular expression's compilation and each of
//! its runs cost steps in proportion to their work (`regex.rs`). A step is
//! a few tens of nanoseconds at most (`benches/jsonpath.rs`).
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
//! again on the save thread with the full budget, so where it ran never
//! changes its answer. Off the loop, a deadline and a cancel flag are
//! looked at every [`CHECK_EVERY_STEPS`] steps.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Steps one evaluation may always take, whatever the value's size:
/// about 2 ms of work, far more than any real path on a small value needs
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

/// How often, in steps, the evaluation off the loop looks at its deadline
/// and cancel flag: about every 100 µs.
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

/// When work off the loop must stop: a deadline and a cancel flag.
#[derive(Debug, Clone, Default)]
pub(super) struct Watch {
    pub deadline: Option<Instant>,
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Watch {
    /// Whether the work must stop now, and why.
    pub fn check(&self) -> Result<(), Stop> {
        if self.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(Stop::Cancelled);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Stop::TimedOut);
        }
        Ok(())
    }
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
            until_check: if check { CHECK_EVERY_STEPS } else { u64::MAX },
            used: 0,
        }
    }

    /// Starts the evaluation of a value of `bytes` bytes of text: its own
    /// step and result limits.
    pub fn start_value(&mut self, bytes: usize) -> Result<(), Stop> {
        let bytes64 = u64::try_from(bytes).unwrap_or(u64::MAX);
        self.steps = STEPS_BASE.saturating_add(STEPS_PER_BYTE.saturating_mul(bytes64));
        self.max_results = RESULTS_BASE.saturating_add(bytes / 2);
        self.watch.check()
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
        let mut budget = Budget::off_loop(Watch { deadline: None, cancel: Some(cancel.clone()) });
        budget.start_value(1 << 20).unwrap();
        for _ in 0..CHECK_EVERY_STEPS * 2 {
            budget.spend(1).unwrap();
        }
        cancel.store(true, Ordering::Relaxed);
        let stopped = (0..=CHECK_EVERY_STEPS).map(|_| budget.spend(1)).find(Result::is_err);
        assert_eq!(stopped, Some(Err(Stop::Cancelled)));
        let past = Instant::now().checked_sub(std::time::Duration::from_millis(1));
        let mut budget = Budget::off_loop(Watch { deadline: past, cancel: None });
        assert_eq!(budget.start_value(10), Err(Stop::TimedOut));
    }
}
