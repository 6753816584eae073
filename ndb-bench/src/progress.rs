//! The live progress line, redrawn in place on stderr about four times a
//! second while a phase runs, and only when stderr is a terminal.
//!
//! Reads nothing by itself: the main thread passes the reply count it sums
//! from the workers' progress slots, so this module has no shared state.

use std::io::Write;
use std::time::{Duration, Instant};

/// Time between redraws.
pub const INTERVAL: Duration = Duration::from_millis(250);

/// The progress line's state.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    shown: bool,
    phase: Option<usize>,
    phase_started: Instant,
    last: Instant,
    last_replies: u64,
}

impl Progress {
    /// A progress line that draws only if `enabled` (stderr is a terminal).
    pub fn new(enabled: bool) -> Progress {
        let now = Instant::now();
        Progress { enabled, shown: false, phase: None, phase_started: now, last: now, last_replies: 0 }
    }

    /// Redraws the line for phase number `phase` called `name`, at `replies`
    /// so far, if [`INTERVAL`] has passed since the last redraw.
    pub fn tick(&mut self, now: Instant, phase: usize, name: &str, replies: u64) {
        if !self.enabled {
            return;
        }
        if self.phase != Some(phase) {
            self.phase = Some(phase);
            self.phase_started = now;
            self.last = now;
            // The phase may have started a little before this first look.
            self.last_replies = replies;
            return;
        }
        let since = now.saturating_duration_since(self.last);
        if since < INTERVAL {
            return;
        }
        let rate = replies.saturating_sub(self.last_replies) as f64 / since.as_secs_f64();
        let elapsed = now.saturating_duration_since(self.phase_started);
        self.last = now;
        self.last_replies = replies;
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K{}", line(name, replies, rate, elapsed));
        let _ = err.flush();
        self.shown = true;
    }

    /// Erases the line, before a result is printed.
    pub fn clear(&mut self) {
        if self.shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            self.shown = false;
        }
    }
}

/// The text of the progress line.
fn line(name: &str, replies: u64, rate: f64, elapsed: Duration) -> String {
    format!("{name}: {replies} requests in {:.1} s, {rate:.0} requests/s", elapsed.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_name_count_time_and_rate() {
        assert_eq!(
            line("kv_get", 51_234, 204_936.4, Duration::from_millis(1300)),
            "kv_get: 51234 requests in 1.3 s, 204936 requests/s"
        );
    }

    #[test]
    fn disabled_progress_never_draws() {
        let mut p = Progress::new(false);
        let t = Instant::now();
        p.tick(t, 0, "kv_set", 1);
        p.tick(t + Duration::from_secs(1), 0, "kv_set", 100);
        assert!(!p.shown);
    }
}
