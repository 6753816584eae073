//! What the server counts about itself, for `GET /metrics` (and for any
//! other report): requests by command and status, a request latency
//! histogram, saves and their durations, failed logins, bytes in and out,
//! and the text of the Prometheus exposition format.
//!
//! Owns: the counters and histograms and their layout in the exposition
//! text. Must not touch: sockets, the store's data, the clock (durations
//! are handed in; the server measures them with the `now` its host
//! passes).
//!
//! Counting is cheap on the request path by construction: requests are a
//! fixed table indexed by the command's name ([`CommandName::index`]: a
//! key, session or server verb, or an array or list command) and the
//! reply's [`Status`] (no hashing, no allocation), and latency is observed once
//! per loop turn for every request the turn answered
//! ([`Metrics::observe_turn`]), not once per request.

use std::fmt::Write as _;
use std::time::Duration;

use crate::protocol::{CommandName, Status, Verb};
use crate::store::SaveKind;

#[cfg(feature = "introspection")]
mod slow;
#[cfg(feature = "introspection")]
pub use slow::{LaterRequest, SAMPLES_PER_TURN, SlowEntry, SlowLog, text_prefix};

/// Rows of the request table and of the per-command latency histograms:
/// one per command name (every verb, then every array and list type and
/// op), and one for requests that named no command ndb serves (bad JSON,
/// unknown commands, binary frames). About 29 KiB of counters and 27 KiB
/// of histograms.
const COMMAND_ROWS: usize = CommandName::SLOTS + 1;

/// Upper bounds of the request latency buckets: 100 µs to 10 s, about
/// 2.5 x apart, as Prometheus client libraries default to; most requests
/// fall in the first bucket.
pub const LATENCY_BOUNDS: [Duration; 16] = [
    Duration::from_micros(100),
    Duration::from_micros(250),
    Duration::from_micros(500),
    Duration::from_millis(1),
    Duration::from_micros(2_500),
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(25),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_millis(2_500),
    Duration::from_secs(5),
    Duration::from_secs(10),
];

/// Upper bounds of the save duration buckets: 1 ms to 2 min.
pub const SAVE_BOUNDS: [Duration; 12] = [
    Duration::from_millis(1),
    Duration::from_millis(10),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_millis(2_500),
    Duration::from_secs(5),
    Duration::from_secs(10),
    Duration::from_secs(30),
    Duration::from_secs(60),
    Duration::from_secs(120),
];

/// Most buckets a [`Histogram`] holds (besides `+Inf`).
const MAX_BOUNDS: usize = 16;

/// A histogram over fixed bucket bounds, as Prometheus keeps them.
#[derive(Clone, Debug)]
pub struct Histogram {
    bounds: &'static [Duration],
    /// Observations per bucket (not cumulative); `counts[bounds.len()]` is
    /// `+Inf`.
    counts: [u64; MAX_BOUNDS + 1],
    sum_nanos: u128,
    count: u64,
}

impl Histogram {
    /// An empty histogram over `bounds` (ascending, at most 16).
    ///
    /// # Panics
    /// If `bounds` has more than 16 entries (a programming error).
    pub const fn new(bounds: &'static [Duration]) -> Histogram {
        assert!(bounds.len() <= MAX_BOUNDS, "at most 16 bucket bounds");
        Histogram { bounds, counts: [0; MAX_BOUNDS + 1], sum_nanos: 0, count: 0 }
    }

    /// Records `n` observations of `value`.
    #[inline]
    pub fn observe_n(&mut self, value: Duration, n: u64) {
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        self.counts[bucket] += n;
        self.sum_nanos += value.as_nanos() * u128::from(n);
        self.count += n;
    }

    /// Records one observation.
    pub fn observe(&mut self, value: Duration) {
        self.observe_n(value, 1);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The upper bound of the bucket holding the `q` quantile (0 to 1) of
    /// the observations: at least that fraction took at most this long.
    /// `None` with no observation, or when it falls past the last bound.
    pub fn quantile_bound(&self, q: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let rank = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let (bound, _) = self.cumulative().find(|(_, total)| *total >= rank)?;
        bound
    }

    /// The sum of every observation.
    pub fn sum(&self) -> Duration {
        let secs = u64::try_from(self.sum_nanos / 1_000_000_000).unwrap_or(u64::MAX);
        Duration::new(secs, (self.sum_nanos % 1_000_000_000) as u32)
    }

    /// Each bucket's upper bound (`None` for `+Inf`) and how many
    /// observations are at or below it (cumulative, as Prometheus reports
    /// them).
    pub fn cumulative(&self) -> impl Iterator<Item = (Option<Duration>, u64)> + '_ {
        let bounds = self.bounds.iter().copied().map(Some).chain([None]);
        let counts = self.counts[..=self.bounds.len()].iter();
        bounds.zip(counts.scan(0, |total, n| {
            *total += n;
            Some(*total)
        }))
    }
}

/// The server's counters. See the module documentation.
#[derive(Clone, Debug)]
pub struct Metrics {
    /// Replies by command row and status (the first `COMMAND_ROWS` rows;
    /// the rest is never touched). On the heap, allocated zeroed: the
    /// table is 27 KB with the array and list commands, and built inline it
    /// was copied through the stack at start-up (132 KiB of stack resident
    /// instead of 40); its pages stay unresident until a command of theirs
    /// is counted ([`REQUEST_TABLE_BYTES`]).
    requests: Box<[u64]>,
    /// Requests answered in this loop turn whose latency is not observed
    /// yet, over all rows and by row.
    unobserved: u64,
    #[cfg(feature = "introspection")]
    unobserved_by_row: [u32; COMMAND_ROWS],
    latency: Histogram,
    /// The latency histogram of each row.
    #[cfg(feature = "introspection")]
    latency_by_row: Box<[Histogram; COMMAND_ROWS]>,
    /// Keys looked up by `KV_GET` and `SH_GET` that were there, and that
    /// were not.
    #[cfg(feature = "introspection")]
    key_hits: u64,
    #[cfg(feature = "introspection")]
    key_misses: u64,
    #[cfg(feature = "introspection")]
    slow_log: SlowLog,
    /// Saves by kind (KV, sessions) and outcome (written, failed).
    saves: [[u64; 2]; 2],
    save_durations: Histogram,
    auth_failures: u64,
    bytes_received: u64,
    bytes_sent: u64,
}

/// Bytes the request table's allocation is rounded up to: 132 KiB, past
/// the size from which musl's allocator (128 KiB - 20 B) and glibc's (128
/// KiB, its initial threshold) take a block straight from the kernel. Such
/// a block is zero pages no one has touched, so a zeroed allocation leaves
/// them alone and only the rows of commands that are counted become
/// resident; a smaller zeroed block is cleared by musl's `calloc`, all 32
/// KiB of it resident from the start (the minimal static build's RSS at
/// start, docs/performance.md).
const REQUEST_TABLE_BYTES: usize = 132 * 1024;

/// Rows allocated for the request table: [`REQUEST_TABLE_BYTES`] worth, and
/// at least `COMMAND_ROWS`.
const TABLE_ROWS: usize = {
    let rows = REQUEST_TABLE_BYTES.div_ceil(Status::COUNT * 8);
    if rows > COMMAND_ROWS { rows } else { COMMAND_ROWS }
};

/// The request table, zeroed on the heap by the allocator (`vec!` of
/// zero counters is a `calloc`), without passing through the stack; one
/// row of `Status::COUNT` counters per command row. (A `vec!` of zero rows
/// would not be: rows of more than 16 counters are written one by one,
/// every page of the table resident at start.)
fn zeroed_rows() -> Box<[u64]> {
    vec![0u64; TABLE_ROWS * Status::COUNT].into_boxed_slice()
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: zeroed_rows(),
            unobserved: 0,
            #[cfg(feature = "introspection")]
            unobserved_by_row: [0; COMMAND_ROWS],
            latency: Histogram::new(&LATENCY_BOUNDS),
            #[cfg(feature = "introspection")]
            latency_by_row: Box::new([const { Histogram::new(&LATENCY_BOUNDS) }; COMMAND_ROWS]),
            #[cfg(feature = "introspection")]
            key_hits: 0,
            #[cfg(feature = "introspection")]
            key_misses: 0,
            #[cfg(feature = "introspection")]
            slow_log: SlowLog::default(),
            saves: [[0; 2]; 2],
            save_durations: Histogram::new(&SAVE_BOUNDS),
            auth_failures: 0,
            bytes_received: 0,
            bytes_sent: 0,
        }
    }
}

fn row(name: Option<CommandName>) -> usize {
    name.map_or(CommandName::SLOTS, CommandName::index)
}

/// The `command` label of a request table row.
fn command_label(row: usize) -> String {
    CommandName::from_index(row).map_or_else(|| "unknown".to_owned(), |name| name.to_string())
}

impl Metrics {
    /// Counts a request answered in this turn: its command (`None` when it
    /// named none that ndb serves) and its reply's status. Its latency is
    /// observed by the turn's [`Metrics::observe_turn`].
    #[inline]
    pub fn count(&mut self, name: Option<CommandName>, status: Status) {
        let row = row(name);
        self.requests[row * Status::COUNT + status as usize] += 1;
        self.unobserved += 1;
        #[cfg(feature = "introspection")]
        {
            self.unobserved_by_row[row] += 1;
        }
    }

    /// Counts a request whose reply came later than its turn (a save, a
    /// load, a large search), with its latency.
    pub fn count_later(&mut self, name: Option<CommandName>, status: Status, latency: Duration) {
        self.requests[row(name) * Status::COUNT + status as usize] += 1;
        self.latency.observe(latency);
        #[cfg(feature = "introspection")]
        self.latency_by_row[row(name)].observe(latency);
    }

    /// Observes `latency` (the turn's length) for every request counted by
    /// [`Metrics::count`] since the last call, overall and per command (one
    /// pass over the rows, only after a turn that answered requests), and
    /// ends the turn of the slow-request log.
    pub fn observe_turn(&mut self, latency: Duration) {
        if self.unobserved > 0 {
            self.latency.observe_n(latency, self.unobserved);
            self.unobserved = 0;
            #[cfg(feature = "introspection")]
            for (histogram, n) in self.latency_by_row.iter_mut().zip(&mut self.unobserved_by_row) {
                if *n > 0 {
                    histogram.observe_n(latency, u64::from(std::mem::take(n)));
                }
            }
        }
        #[cfg(feature = "introspection")]
        self.slow_log.end_turn(latency, unix_millis);
    }

    #[cfg(feature = "introspection")]
    /// The latency histogram of the requests for the command `name`
    /// (`None`: no command ndb serves).
    pub fn latency_of(&self, name: Option<CommandName>) -> &Histogram {
        &self.latency_by_row[row(name)]
    }

    /// Counts keys a get found (`hits`) and did not find (`misses`).
    /// (Nothing without the `introspection` feature.)
    #[inline]
    pub fn count_lookups(&mut self, hits: u64, misses: u64) {
        #[cfg(feature = "introspection")]
        {
            self.key_hits += hits;
            self.key_misses += misses;
        }
        #[cfg(not(feature = "introspection"))]
        let _ = (hits, misses);
    }

    #[cfg(feature = "introspection")]
    /// Keys gets found so far.
    pub fn key_hits(&self) -> u64 {
        self.key_hits
    }

    #[cfg(feature = "introspection")]
    /// Keys gets did not find so far.
    pub fn key_misses(&self) -> u64 {
        self.key_misses
    }

    #[cfg(feature = "introspection")]
    /// The slow-request log.
    pub fn slow_log(&self) -> &SlowLog {
        &self.slow_log
    }

    #[cfg(feature = "introspection")]
    /// The slow-request log, to feed or reset it.
    pub fn slow_log_mut(&mut self) -> &mut SlowLog {
        &mut self.slow_log
    }

    /// The request table's rows, one per command row.
    fn rows(&self) -> &[[u64; Status::COUNT]] {
        &self.requests.as_chunks::<{ Status::COUNT }>().0[..COMMAND_ROWS]
    }

    /// Requests answered with `status` for the command `name` (`None`: no
    /// command ndb serves).
    pub fn requests(&self, name: Option<CommandName>, status: Status) -> u64 {
        self.requests[row(name) * Status::COUNT + status as usize]
    }

    /// Requests that may have changed keys or sessions: successful replies
    /// to every key, session or server command a `read` user may not run,
    /// saves and the introspection commands excepted (the data stays as it
    /// was). Array and list commands are not counted: arrays and lists are
    /// not part of any save (`KV_SAVE` and `SH_SAVE` write keys and
    /// sessions only), so writing them gives a save on exit nothing new to
    /// write. Counts what [`Metrics::count`] already counted, so it costs
    /// the request path nothing.
    pub fn changes(&self) -> u64 {
        Verb::ALL
            .iter()
            .filter(|verb| {
                crate::auth::required_role(**verb) != crate::auth::Role::Read
                    && !matches!(verb, Verb::KvSave | Verb::ShSave | Verb::SvSlowlog | Verb::SvClients | Verb::SvConfig)
            })
            .map(|verb| {
                let counts = &self.rows()[CommandName::Verb(*verb).index()];
                Status::ALL.iter().zip(counts).filter(|(s, _)| s.is_success()).map(|(_, n)| n).sum::<u64>()
            })
            .sum()
    }

    /// Every request counted, whatever its command or status.
    pub fn requests_total(&self) -> u64 {
        self.rows().iter().flatten().sum()
    }

    /// The request latency histogram.
    pub fn latency(&self) -> &Histogram {
        &self.latency
    }

    /// Records a finished save of `kind`: `Ok` with how long writing it
    /// took, or `Err` if it failed.
    pub fn record_save(&mut self, kind: SaveKind, result: Result<Duration, ()>) {
        let kind = kind as usize;
        match result {
            Ok(duration) => {
                self.saves[kind][0] += 1;
                self.save_durations.observe(duration);
            }
            Err(()) => self.saves[kind][1] += 1,
        }
    }

    /// Saves written (`ok`) or failed, of `kind`.
    pub fn saves(&self, kind: SaveKind, ok: bool) -> u64 {
        self.saves[kind as usize][usize::from(!ok)]
    }

    /// The save duration histogram.
    pub fn save_durations(&self) -> &Histogram {
        &self.save_durations
    }

    /// Counts a refused login (HTTP 401).
    pub fn count_auth_failure(&mut self) {
        self.auth_failures += 1;
    }

    /// Refused logins so far.
    pub fn auth_failures(&self) -> u64 {
        self.auth_failures
    }

    /// Adds bytes read from and written to sockets (TLS records included).
    pub fn add_io(&mut self, received: u64, sent: u64) {
        self.bytes_received += received;
        self.bytes_sent += sent;
    }

    /// Bytes read from sockets so far.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// Bytes written to sockets so far.
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent
    }

    /// Writes every metric in the Prometheus text exposition format
    /// (version 0.0.4), with the server's current `state`.
    pub fn render(&self, state: &State, out: &mut String) {
        let mut w = Writer { out };
        w.family("ndb_info", "gauge", "The server's version and status numbering (always 1).");
        w.sample("ndb_info", &[("version", crate::VERSION), ("protocol", state.protocol)], 1);
        w.single(
            "ndb_up",
            "gauge",
            "1 while serving, 0 while loading saves at start-up or shutting down.",
            u64::from(state.serving),
        );
        w.single("ndb_uptime_seconds", "gauge", "Seconds since the server's first turn.", state.uptime_secs);

        w.single("ndb_connections_open", "gauge", "Connections open now, upgraded or not.", state.connections);
        w.single(
            "ndb_connections_total",
            "counter",
            "Connections accepted, refused ones included.",
            state.connections_total,
        );
        w.single(
            "ndb_auth_failures_total",
            "counter",
            "Upgrades and requests refused with HTTP 401.",
            self.auth_failures,
        );
        w.single("ndb_received_bytes_total", "counter", "Bytes read from client sockets.", self.bytes_received);
        w.single("ndb_sent_bytes_total", "counter", "Bytes written to client sockets.", self.bytes_sent);

        w.family("ndb_requests_total", "counter", "Requests answered, by command and reply status.");
        for (row, counts) in self.rows().iter().enumerate() {
            if counts.iter().all(|&n| n == 0) {
                continue;
            }
            let command = command_label(row);
            for (status, &n) in Status::ALL.iter().zip(counts) {
                if n > 0 {
                    w.sample("ndb_requests_total", &[("command", &command), ("status", status.name())], n);
                }
            }
        }
        w.family("ndb_request_errors_total", "counter", "Requests answered with a status other than success.");
        for (row, counts) in self.rows().iter().enumerate() {
            let errors: u64 = Status::ALL.iter().zip(counts).filter(|(s, _)| !s.is_success()).map(|(_, n)| n).sum();
            if errors > 0 {
                w.sample("ndb_request_errors_total", &[("command", &command_label(row))], errors);
            }
        }
        w.histogram(
            "ndb_request_duration_seconds",
            "Request latency on the host's clock: from the start of the loop turn that read a request to the end \
             of the turn that answered it.",
            &self.latency,
        );

        w.single("ndb_keys", "gauge", "Top-level keys.", state.keys);
        w.single("ndb_sessions", "gauge", "Live sessions.", state.sessions);
        w.single("ndb_session_keys", "gauge", "Keys held in sessions.", state.session_keys);
        w.single(
            "ndb_session_expiries_total",
            "counter",
            "Sessions that expired, deleted or cleared.",
            state.session_expiries,
        );
        w.single("ndb_memory_used_bytes", "gauge", "Memory held as the maxMemory cap counts it.", state.memory_used);
        w.single("ndb_memory_max_bytes", "gauge", "The maxMemory cap (0: unlimited).", state.memory_max);
        if let Some(bytes) = state.resident_bytes {
            w.single("ndb_memory_resident_bytes", "gauge", "Resident memory of the process.", bytes);
        }

        w.family("ndb_saves_total", "counter", "Saves finished, by kind and result.");
        for kind in [SaveKind::Kv, SaveKind::Sessions] {
            let name = match kind {
                SaveKind::Kv => "kv",
                SaveKind::Sessions => "sessions",
            };
            w.sample("ndb_saves_total", &[("kind", name), ("result", "ok")], self.saves(kind, true));
            w.sample("ndb_saves_total", &[("kind", name), ("result", "error")], self.saves(kind, false));
        }
        w.histogram("ndb_save_duration_seconds", "Time to write a save that succeeded.", &self.save_durations);
        if let Some(ms) = state.last_save_unix_ms {
            w.family("ndb_last_save_timestamp_seconds", "gauge", "When the last save finished (Unix time).");
            w.millis_as_seconds("ndb_last_save_timestamp_seconds", &[], ms);
        }
    }
}

#[cfg(feature = "introspection")]
/// The wall clock in milliseconds since the Unix epoch, for the time of a
/// slow-log entry (read only when one is logged).
pub fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// What the server and the store report about themselves at the moment of
/// a scrape.
#[derive(Clone, Debug, Default)]
pub struct State {
    /// The status numbering (`0.7` or `0.9`).
    pub protocol: &'static str,
    /// Serving (not loading saves at start-up, not shutting down).
    pub serving: bool,
    /// Seconds since the server's first turn.
    pub uptime_secs: u64,
    /// Connections open.
    pub connections: u64,
    /// Connections accepted since start.
    pub connections_total: u64,
    /// Top-level keys.
    pub keys: u64,
    /// Live sessions.
    pub sessions: u64,
    /// Keys in sessions.
    pub session_keys: u64,
    /// Sessions expired since start.
    pub session_expiries: u64,
    /// Memory held as the `maxMemory` cap counts it.
    pub memory_used: u64,
    /// The `maxMemory` cap in bytes, 0 when unlimited.
    pub memory_max: u64,
    /// Resident memory, where the OS tells it.
    pub resident_bytes: Option<u64>,
    /// When the last save finished, in milliseconds since the Unix epoch.
    pub last_save_unix_ms: Option<u64>,
}

/// Appends exposition-format lines.
struct Writer<'o> {
    out: &'o mut String,
}

impl Writer<'_> {
    /// A family of one sample without labels.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: u64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn labels(&mut self, name: &str, labels: &[(&str, &str)]) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                // Values here are names ndb chose: no quote, backslash or
                // line break to escape.
                let _ = write!(self.out, "{label}=\"{value}\"");
            }
            self.out.push('}');
        }
        self.out.push(' ');
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.labels(name, labels);
        let _ = writeln!(self.out, "{value}");
    }

    /// A sample of `ms` milliseconds written as seconds, as short as it is
    /// exact (`1764650000.123`, `1764650000.5`, `1764650000`): integers
    /// only, so that no build links `f64`'s formatting for it.
    fn millis_as_seconds(&mut self, name: &str, labels: &[(&str, &str)], ms: u64) {
        self.labels(name, labels);
        let _ = write!(self.out, "{}", ms / 1000);
        let fraction = format!("{:03}", ms % 1000);
        let fraction = fraction.trim_end_matches('0');
        if !fraction.is_empty() {
            let _ = write!(self.out, ".{fraction}");
        }
        let _ = writeln!(self.out);
    }

    fn histogram(&mut self, name: &str, help: &str, histogram: &Histogram) {
        self.family(name, "histogram", help);
        let bucket = format!("{name}_bucket");
        for (bound, count) in histogram.cumulative() {
            let le = bound.map_or_else(|| "+Inf".to_owned(), seconds);
            self.sample(&bucket, &[("le", &le)], count);
        }
        self.labels(&format!("{name}_sum"), &[]);
        let _ = writeln!(self.out, "{}", seconds(histogram.sum()));
        self.sample(&format!("{name}_count"), &[], histogram.count());
    }
}

/// A duration in seconds, as short as it is exact (`0.0001`, `2.5`, `10`).
fn seconds(d: Duration) -> String {
    let text = format!("{}.{:09}", d.as_secs(), d.subsec_nanos());
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests;
