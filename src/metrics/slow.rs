//! The slow-request log (`SV_SLOWLOG`): the most recent requests whose
//! latency reached a threshold, newest first, each with the start of its
//! text.
//!
//! Latency is the server's own (see [`super::Metrics`]): a request answered
//! in the turn that read it has the turn's length, so every request of a
//! slow turn is a candidate. Copying each request's text would cost every
//! request, so a turn keeps only its [`SAMPLES_PER_TURN`] largest requests
//! (one comparison per request once the samples are full) and a slow turn
//! logs those, each saying how many requests shared the turn. A request
//! answered later (a save, a load, a large search or list) has its own
//! latency and is logged alone.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use crate::config::SLOW_LOG_TEXT_BYTES;
use crate::protocol::CommandName;

/// Requests of one turn kept as candidates: the largest few, which are
/// the likeliest to be the costly ones (a large value set, a long path).
pub const SAMPLES_PER_TURN: usize = 4;

/// One logged request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlowEntry {
    /// Increasing from 1 since start (not reset by `SV_SLOWLOG_RESET`).
    pub id: u64,
    /// When it was logged, in milliseconds since the Unix epoch.
    pub unix_ms: u64,
    /// Its latency.
    pub latency: Duration,
    /// Its command, if it named one ndb serves.
    pub command: Option<CommandName>,
    /// The start of its text, at most [`SLOW_LOG_TEXT_BYTES`] (cut at a
    /// character boundary).
    pub text: String,
    /// The request's full length in bytes.
    pub bytes: usize,
    /// The connection that sent it (its `id` in `SV_CLIENTS`).
    pub conn: usize,
    /// The peer's address, if known.
    pub addr: Option<SocketAddr>,
    /// Requests answered in the same turn (1 for a reply that came later).
    pub turn_requests: u64,
}

/// A request answered after its turn, as [`SlowLog::later`] logs it.
#[derive(Clone, Copy, Debug)]
pub struct LaterRequest<'t> {
    /// Its command.
    pub command: Option<CommandName>,
    /// The connection that sent it.
    pub conn: usize,
    /// The peer's address.
    pub addr: Option<SocketAddr>,
    /// The start of its text (cut again to [`SLOW_LOG_TEXT_BYTES`]).
    pub text: &'t str,
    /// Its full length.
    pub bytes: usize,
}

/// `text` cut to at most [`SLOW_LOG_TEXT_BYTES`] on a character boundary.
pub fn text_prefix(text: &str) -> &str {
    prefix(text)
}

/// A request of the current turn kept as a candidate.
#[derive(Clone, Debug, Default)]
struct Sample {
    bytes: usize,
    command: Option<CommandName>,
    conn: usize,
    addr: Option<SocketAddr>,
    text: String,
}

/// The log and the current turn's candidates.
#[derive(Clone, Debug)]
pub struct SlowLog {
    threshold: Option<Duration>,
    length: usize,
    entries: VecDeque<SlowEntry>,
    next_id: u64,
    samples: Vec<Sample>,
    /// With the samples full, the size of the smallest: a request no
    /// larger is passed over with one comparison.
    floor: usize,
    /// Requests answered in this turn so far.
    turn_requests: u64,
    /// A threshold and a length above 0.
    on: bool,
}

impl Default for SlowLog {
    fn default() -> Self {
        SlowLog::new(Some(Duration::from_millis(10)), 128)
    }
}

/// `text` cut to at most [`SLOW_LOG_TEXT_BYTES`] on a character boundary.
fn prefix(text: &str) -> &str {
    let mut end = text.len().min(SLOW_LOG_TEXT_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl SlowLog {
    /// A log of at most `length` entries for requests of at least
    /// `threshold` (`None` or a length of 0: off).
    pub fn new(threshold: Option<Duration>, length: usize) -> SlowLog {
        SlowLog {
            threshold,
            length,
            entries: VecDeque::new(),
            next_id: 1,
            samples: Vec::with_capacity(SAMPLES_PER_TURN),
            floor: 0,
            turn_requests: 0,
            on: threshold.is_some() && length > 0,
        }
    }

    /// Notes a request answered in this turn: kept as a candidate if it is
    /// among the turn's [`SAMPLES_PER_TURN`] largest.
    #[inline]
    pub fn note(&mut self, command: Option<CommandName>, conn: usize, addr: Option<SocketAddr>, text: &str) {
        if !self.on {
            return;
        }
        self.turn_requests += 1;
        let bytes = text.len();
        if bytes <= self.floor {
            return;
        }
        if self.samples.len() < SAMPLES_PER_TURN {
            self.samples.push(Sample { bytes, command, conn, addr, text: prefix(text).to_owned() });
        } else if let Some(smallest) = self.samples.iter_mut().min_by_key(|s| s.bytes) {
            smallest.bytes = bytes;
            smallest.command = command;
            smallest.conn = conn;
            smallest.addr = addr;
            smallest.text.clear();
            smallest.text.push_str(prefix(text));
        }
        if self.samples.len() == SAMPLES_PER_TURN {
            self.floor = self.samples.iter().map(|s| s.bytes).min().unwrap_or(0);
        }
    }

    /// Ends the turn that took `latency`: logs its candidates if that
    /// reached the threshold, and forgets them either way. `unix_ms` is
    /// asked for only when something is logged.
    pub fn end_turn(&mut self, latency: Duration, unix_ms: impl FnOnce() -> u64) {
        if self.threshold.is_some_and(|t| latency >= t) && !self.samples.is_empty() {
            let at = unix_ms();
            let turn_requests = self.turn_requests;
            let mut samples = std::mem::take(&mut self.samples);
            samples.sort_by_key(|s| std::cmp::Reverse(s.bytes));
            for sample in samples.drain(..) {
                self.push(SlowEntry {
                    id: 0,
                    unix_ms: at,
                    latency,
                    command: sample.command,
                    text: sample.text,
                    bytes: sample.bytes,
                    conn: sample.conn,
                    addr: sample.addr,
                    turn_requests,
                });
            }
            self.samples = samples;
        }
        self.samples.clear();
        self.floor = 0;
        self.turn_requests = 0;
    }

    /// Logs a request answered after its turn, if `latency` reached the
    /// threshold.
    pub fn later(&mut self, request: LaterRequest<'_>, latency: Duration, unix_ms: u64) {
        if self.on && self.threshold.is_some_and(|t| latency >= t) {
            let LaterRequest { command, conn, addr, text, bytes } = request;
            let text = prefix(text).to_owned();
            self.push(SlowEntry { id: 0, unix_ms, latency, command, text, bytes, conn, addr, turn_requests: 1 });
        }
    }

    fn push(&mut self, mut entry: SlowEntry) {
        entry.id = self.next_id;
        self.next_id += 1;
        self.entries.push_front(entry);
        self.entries.truncate(self.length);
    }

    /// The entries, newest first.
    pub fn entries(&self) -> impl Iterator<Item = &SlowEntry> {
        self.entries.iter()
    }

    /// Empties the log; returns how many entries it held.
    pub fn reset(&mut self) -> usize {
        let n = self.entries.len();
        self.entries = VecDeque::new();
        n
    }

    /// The threshold (`None`: off).
    pub fn threshold(&self) -> Option<Duration> {
        self.threshold
    }

    /// Most entries kept.
    pub fn length(&self) -> usize {
        self.length
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Verb;

    #[test]
    fn a_slow_turn_logs_its_largest_requests_newest_first_within_the_length() {
        let mut log = SlowLog::new(Some(Duration::from_millis(10)), 5);
        for i in 0..10 {
            log.note(Some(Verb::KvGet.into()), i, None, &"x".repeat(i + 1));
        }
        log.end_turn(Duration::from_millis(9), || panic!("nothing is logged"));
        assert_eq!(log.entries().count(), 0, "under the threshold");
        for i in 0..10 {
            log.note(Some(Verb::KvSet.into()), i, None, &"y".repeat(i + 1));
        }
        log.end_turn(Duration::from_millis(10), || 7);
        let got: Vec<_> = log.entries().map(|e| (e.id, e.conn, e.bytes, e.turn_requests, e.unix_ms)).collect();
        assert_eq!(got, [(4, 6, 7, 10, 7), (3, 7, 8, 10, 7), (2, 8, 9, 10, 7), (1, 9, 10, 10, 7)]);
        let text = "é".repeat(100);
        let save = |text| LaterRequest { command: Some(Verb::KvSave.into()), conn: 3, addr: None, text, bytes: 200 };
        log.later(save(&text), Duration::from_secs(1), 9);
        log.later(save("z"), Duration::from_millis(1), 9);
        let newest = log.entries().next().unwrap();
        assert_eq!((newest.id, newest.text.len(), newest.turn_requests), (5, 128, 1));
        assert_eq!(log.entries().count(), 5);
        log.note(None, 0, None, "a");
        log.end_turn(Duration::from_secs(1), || 10);
        assert_eq!(log.entries().count(), 5, "at most the length");
        assert_eq!(log.entries().last().unwrap().id, 2, "the oldest went");
        assert_eq!(log.reset(), 5);
        assert_eq!(log.entries().count(), 0);
    }

    #[test]
    fn requests_no_larger_than_the_kept_ones_are_passed_over() {
        let mut log = SlowLog::new(Some(Duration::ZERO), 10);
        for conn in 0..8 {
            log.note(Some(Verb::KvGet.into()), conn, None, "same size");
        }
        log.note(Some(Verb::KvSet.into()), 9, None, "a larger one");
        log.end_turn(Duration::from_millis(1), || 1);
        let mut kept: Vec<_> = log.entries().map(|e| (e.conn, e.turn_requests)).collect();
        kept.sort_unstable();
        assert_eq!(kept, [(1, 9), (2, 9), (3, 9), (9, 9)], "the first of equals stay, the smallest went");
    }

    #[test]
    fn off_logs_nothing() {
        for mut log in [SlowLog::new(None, 5), SlowLog::new(Some(Duration::ZERO), 0)] {
            log.note(Some(Verb::KvGet.into()), 0, None, "x");
            log.end_turn(Duration::from_secs(5), || 1);
            let request = LaterRequest { command: None, conn: 0, addr: None, text: "x", bytes: 1 };
            log.later(request, Duration::from_secs(5), 1);
            assert_eq!(log.entries().count(), 0);
        }
    }
}
