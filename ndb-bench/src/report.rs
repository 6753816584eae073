//! Results: what each thread measured, merged per test, and printed.
//!
//! A worker fills one [`Outcome`] per test (latencies in an HDR histogram of
//! nanoseconds, counts, failures); the main thread merges the threads'
//! outcomes into a [`Summary`] and formats it for people (a block per test,
//! or one line with `-q`) or for scripts (one JSON document for the run).
//! No I/O here: formatting returns strings.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::args::Config;

/// Highest latency the histogram resolves, in ns (one hour). Anything
/// slower is recorded as this value, never dropped.
const MAX_LATENCY_NS: u64 = 3_600 * 1_000_000_000;

/// Significant digits kept by the histogram: 0.1% error at any magnitude.
const SIGNIFICANT_DIGITS: u8 = 3;

/// Longest error reply kept as a sample, in bytes.
const MAX_ERROR_SAMPLE: usize = 200;

/// What one thread measured during one test.
#[derive(Debug)]
pub struct Outcome {
    /// Latency of every reply, in ns.
    pub latency_ns: Histogram<u64>,
    /// Replies whose status was not the expected one, or had none.
    pub errors: u64,
    /// Requests sent that never got a reply because their connection failed.
    pub lost: u64,
    /// The first error reply, shortened, for the report.
    pub first_error: Option<String>,
    /// When the first request was sent.
    pub started: Option<Instant>,
    /// When the last reply arrived.
    pub finished: Option<Instant>,
    /// Connections that failed during the test, one message each.
    pub failures: Vec<String>,
    /// Open loop: how long after its due time each request was sent, in ns.
    pub send_lag_ns: Histogram<u64>,
    /// Why the test did not run, if it did not.
    pub skipped: Option<String>,
    /// Requests sent from each entry of the test's mix (`--body`, `--mix`).
    pub sent: Vec<u64>,
}

impl Outcome {
    /// An empty outcome.
    pub fn new() -> Outcome {
        Outcome {
            latency_ns: latency_histogram(),
            errors: 0,
            lost: 0,
            first_error: None,
            started: None,
            finished: None,
            failures: Vec::new(),
            send_lag_ns: latency_histogram(),
            skipped: None,
            sent: Vec::new(),
        }
    }

    /// Adds one connection's requests sent per mix entry.
    pub fn add_sent(&mut self, sent: &[u64]) {
        add_counts(&mut self.sent, sent);
    }

    /// The outcome of a test that could not run, and why.
    pub fn skipped(reason: String) -> Outcome {
        Outcome { skipped: Some(reason), ..Outcome::new() }
    }

    /// Records a failed reply, keeping the first one's text.
    pub fn record_error(&mut self, text: &[u8]) {
        self.errors += 1;
        if self.first_error.is_none() {
            let cut = &text[..text.len().min(MAX_ERROR_SAMPLE)];
            self.first_error = Some(String::from_utf8_lossy(cut).into_owned());
        }
    }
}

/// Adds `more` to `counts` item by item, growing `counts` as needed.
fn add_counts(counts: &mut Vec<u64>, more: &[u64]) {
    if counts.len() < more.len() {
        counts.resize(more.len(), 0);
    }
    for (count, n) in counts.iter_mut().zip(more) {
        *count += n;
    }
}

/// An empty histogram with this tool's range and precision.
fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, SIGNIFICANT_DIGITS).expect("constant histogram bounds are valid")
}

/// Latency figures of one test, in ns.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    /// Fastest reply.
    pub min: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// 99.99th percentile.
    pub p9999: u64,
    /// Slowest reply.
    pub max: u64,
    /// Arithmetic mean.
    pub mean: f64,
}

impl Latency {
    /// The figures of a histogram of ns; all zero when it is empty.
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            min: h.min(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            p9999: h.value_at_quantile(0.9999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

/// One test's results across all threads.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Test name.
    pub test: &'static str,
    /// Replies received, errors included.
    pub requests: u64,
    /// Replies with the wrong status.
    pub errors: u64,
    /// Requests whose connection failed before the reply.
    pub lost: u64,
    /// From the first request sent to the last reply received.
    pub elapsed: Duration,
    /// Latency figures.
    pub latency: Latency,
    /// The first error reply, if any.
    pub first_error: Option<String>,
    /// Connection failures during the test.
    pub failures: Vec<String>,
    /// Open loop: how late requests were sent after their due time, in ns.
    pub send_lag: Latency,
    /// Why the test did not run, if it did not.
    pub skipped: Option<String>,
    /// Requests sent from each entry of the test's mix.
    pub sent: Vec<u64>,
}

impl Summary {
    /// Merges the threads' outcomes of one test.
    pub fn merge(test: &'static str, outcomes: Vec<Outcome>) -> Summary {
        let mut all = latency_histogram();
        let mut lag = latency_histogram();
        let mut summary = Summary {
            test,
            requests: 0,
            errors: 0,
            lost: 0,
            elapsed: Duration::ZERO,
            latency: Latency::default(),
            first_error: None,
            failures: Vec::new(),
            send_lag: Latency::default(),
            skipped: None,
            sent: Vec::new(),
        };
        let mut started: Option<Instant> = None;
        let mut finished: Option<Instant> = None;
        for outcome in outcomes {
            // Same bounds on both sides, so adding cannot fail.
            let _ = all.add(&outcome.latency_ns);
            summary.errors += outcome.errors;
            summary.lost += outcome.lost;
            summary.first_error = summary.first_error.or(outcome.first_error);
            summary.failures.extend(outcome.failures);
            let _ = lag.add(&outcome.send_lag_ns);
            summary.skipped = summary.skipped.or(outcome.skipped);
            add_counts(&mut summary.sent, &outcome.sent);
            started = match (started, outcome.started) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            finished = finished.max(outcome.finished);
        }
        summary.requests = all.len();
        summary.latency = Latency::of(&all);
        summary.send_lag = Latency::of(&lag);
        if let (Some(started), Some(finished)) = (started, finished) {
            summary.elapsed = finished.saturating_duration_since(started);
        }
        summary
    }

    /// Replies per second over the test.
    pub fn rps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { self.requests as f64 / secs } else { 0.0 }
    }

    /// Whether every request got a successful reply.
    pub fn is_ok(&self) -> bool {
        self.errors == 0 && self.lost == 0 && self.failures.is_empty() && self.skipped.is_none()
    }
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// The line printed once before the tests.
pub fn banner(config: &Config) -> String {
    let amount = match config.duration {
        Some(d) => format!("{} s per test", d.as_secs_f64()),
        None => format!("{} requests per test", config.requests),
    };
    let keys = match config.key_space {
        Some(r) => format!("random keys in [0, {r})"),
        None => "one fixed key".to_string(),
    };
    let mode = match config.rate {
        Some(rate) => format!("open loop at {rate} requests/s"),
        None => "closed loop".to_string(),
    };
    let threads = if config.threads == 1 { "thread" } else { "threads" };
    let containers = if config.tests.iter().any(|t| t.fixture().is_some()) {
        format!(", arrays and lists of {}", config.container_size)
    } else {
        String::new()
    };
    format!(
        "ndb-bench {}: {}, {} connections on {} {threads}, {} in flight each, {mode}, {amount}, \
         {}-byte values, {keys}{containers}",
        env!("CARGO_PKG_VERSION"),
        config.target,
        config.connections,
        config.threads,
        config.pipeline,
        config.value_bytes,
    )
}

/// The human summary of one test, as a block of lines.
pub fn human(s: &Summary, open_loop: bool) -> String {
    let mut out = String::new();
    let l = &s.latency;
    let _ = writeln!(out, "====== {} ======", s.test);
    if let Some(reason) = &s.skipped {
        let _ = writeln!(out, "  skipped: {reason}");
        return out;
    }
    let _ = writeln!(
        out,
        "  {} requests in {:.3} s: {:.1} requests/s, {} errors",
        s.requests,
        s.elapsed.as_secs_f64(),
        s.rps(),
        s.errors
    );
    let _ = writeln!(
        out,
        "  latency (usec) {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "min", "p50", "p90", "p99", "p99.9", "p99.99", "max", "mean"
    );
    let _ = writeln!(
        out,
        "                 {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
        us(l.min),
        us(l.p50),
        us(l.p90),
        us(l.p99),
        us(l.p999),
        us(l.p9999),
        us(l.max),
        l.mean / 1000.0
    );
    if open_loop {
        let lag = &s.send_lag;
        let _ = writeln!(
            out,
            "  send lag (usec) {:>8} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            "",
            us(lag.p50),
            us(lag.p90),
            us(lag.p99),
            us(lag.p999),
            us(lag.p9999),
            us(lag.max),
            lag.mean / 1000.0
        );
        let _ = writeln!(
            out,
            "  open loop: latency counts from each request's due time; send lag is how late requests left, \
             waiting for the timer or a free connection"
        );
    }
    if let Some(first) = &s.first_error {
        let _ = writeln!(out, "  first error reply: {first}");
    }
    if s.lost > 0 {
        let _ = writeln!(out, "  {} requests lost with their connection", s.lost);
    }
    for failure in &s.failures {
        let _ = writeln!(out, "  connection failed: {failure}");
    }
    out
}

/// The lines after the custom test's block: each entry of the mix, its
/// weight and how many of its requests were sent.
pub fn mix(config: &Config, s: &Summary) -> String {
    let mut out = String::new();
    let total: u64 = config.custom.iter().map(|e| e.weight).sum();
    for (i, entry) in config.custom.iter().enumerate() {
        let sent = s.sent.get(i).copied().unwrap_or(0);
        let _ = writeln!(out, "  {sent:>10} sent, weight {}/{total}: {}", entry.weight, entry.request.label());
    }
    out
}

/// The `-q` line of one test.
pub fn quiet(s: &Summary) -> String {
    if let Some(reason) = &s.skipped {
        return format!("{}: skipped: {reason}", s.test);
    }
    let mut line = format!(
        "{}: {:.1} requests/s, p50 {:.1} usec, p99 {:.1} usec, p99.9 {:.1} usec, max {:.1} usec, {} errors",
        s.test,
        s.rps(),
        us(s.latency.p50),
        us(s.latency.p99),
        us(s.latency.p999),
        us(s.latency.max),
        s.errors
    );
    if s.lost > 0 || !s.failures.is_empty() {
        let _ = write!(line, ", {} lost, {} connection failures", s.lost, s.failures.len());
        if let Some(first) = s.failures.first() {
            let _ = write!(line, " ({first})");
        }
    }
    line
}

#[derive(Serialize)]
struct JsonReport<'a> {
    tool: &'static str,
    version: &'static str,
    url: String,
    config: JsonConfig<'a>,
    preload: Option<JsonPreload>,
    tests: Vec<JsonTest<'a>>,
    errors: &'a [String],
    ok: bool,
}

#[derive(Serialize)]
struct JsonConfig<'a> {
    connections: usize,
    pipeline: usize,
    requests: Option<u64>,
    duration_s: Option<f64>,
    value_bytes: usize,
    key_space: Option<u64>,
    preload: u64,
    rate: Option<u64>,
    threads: usize,
    tests: Vec<&'a str>,
    expect: &'a [u64],
    container_size: u64,
}

#[derive(Serialize)]
struct JsonPreload {
    keys: u64,
    requests: u64,
    errors: u64,
    lost: u64,
    elapsed_s: f64,
}

#[derive(Serialize)]
struct JsonTest<'a> {
    name: &'a str,
    requests: u64,
    errors: u64,
    lost: u64,
    elapsed_s: f64,
    rps: f64,
    latency_us: JsonLatency,
    #[serde(skip_serializing_if = "Option::is_none")]
    send_lag_us: Option<JsonLatency>,
    first_error: Option<&'a str>,
    connection_failures: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mix: Option<Vec<JsonEntry<'a>>>,
}

/// One entry of the custom test's mix.
#[derive(Serialize)]
struct JsonEntry<'a> {
    request: &'a str,
    weight: u64,
    sent: u64,
}

#[derive(Serialize)]
struct JsonLatency {
    min: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    p99_9: f64,
    p99_99: f64,
    max: f64,
    mean: f64,
}

/// The `--json` document: the configuration, the preload, every test run,
/// and the run-level `errors` (setup failures, tests not run). `ok` is the
/// exit status as a boolean.
pub fn json(config: &Config, preload: Option<&Summary>, summaries: &[Summary], errors: &[String]) -> String {
    let report = JsonReport {
        tool: "ndb-bench",
        version: env!("CARGO_PKG_VERSION"),
        url: config.target.to_string(),
        config: JsonConfig {
            connections: config.connections,
            pipeline: config.pipeline,
            requests: config.duration.is_none().then_some(config.requests),
            duration_s: config.duration.map(|d| d.as_secs_f64()),
            value_bytes: config.value_bytes,
            key_space: config.key_space,
            preload: config.preload,
            rate: config.rate,
            threads: config.threads,
            tests: config
                .tests
                .iter()
                .map(|t| t.name())
                .chain((!config.custom.is_empty()).then_some("custom"))
                .collect(),
            expect: &config.expect,
            container_size: config.container_size,
        },
        preload: preload.map(|p| JsonPreload {
            keys: config.preload,
            requests: p.requests,
            errors: p.errors,
            lost: p.lost,
            elapsed_s: round(p.elapsed.as_secs_f64(), 6),
        }),
        tests: summaries
            .iter()
            .map(|s| JsonTest {
                name: s.test,
                requests: s.requests,
                errors: s.errors,
                lost: s.lost,
                elapsed_s: round(s.elapsed.as_secs_f64(), 6),
                rps: round(s.rps(), 1),
                latency_us: JsonLatency::of(&s.latency),
                send_lag_us: config.rate.map(|_| JsonLatency::of(&s.send_lag)),
                first_error: s.first_error.as_deref(),
                connection_failures: &s.failures,
                skipped: s.skipped.as_deref(),
                mix: (s.test == "custom").then(|| {
                    config
                        .custom
                        .iter()
                        .enumerate()
                        .map(|(i, e)| JsonEntry {
                            request: e.request.label(),
                            weight: e.weight,
                            sent: s.sent.get(i).copied().unwrap_or(0),
                        })
                        .collect()
                }),
            })
            .collect(),
        errors,
        ok: errors.is_empty() && summaries.iter().chain(preload).all(Summary::is_ok),
    };
    serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

impl JsonLatency {
    fn of(l: &Latency) -> JsonLatency {
        JsonLatency {
            min: us(l.min),
            p50: us(l.p50),
            p90: us(l.p90),
            p99: us(l.p99),
            p99_9: us(l.p999),
            p99_99: us(l.p9999),
            max: us(l.max),
            mean: round(l.mean / 1000.0, 3),
        }
    }
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(latencies_us: &[u64], start: Instant, secs: u64) -> Outcome {
        let mut o = Outcome::new();
        for &l in latencies_us {
            o.latency_ns.record(l * 1000).unwrap();
        }
        o.started = Some(start);
        o.finished = Some(start + Duration::from_secs(secs));
        o
    }

    #[test]
    fn merge_adds_threads_and_spans_their_times() {
        let t0 = Instant::now();
        let a = outcome(&[10, 20, 30], t0, 1);
        let mut b = outcome(&[40], t0 + Duration::from_secs(1), 1);
        b.record_error(br#"{"KV_GET_RSP":{"m":"","st":26,"tkn":null}}"#);
        b.record_error(b"second");
        let s = Summary::merge("kv_get", vec![a, b]);
        assert_eq!(s.requests, 4);
        assert_eq!(s.errors, 2);
        assert_eq!(s.elapsed, Duration::from_secs(2));
        assert_eq!(s.rps(), 2.0);
        assert_eq!(s.first_error.as_deref(), Some(r#"{"KV_GET_RSP":{"m":"","st":26,"tkn":null}}"#));
        assert_eq!(s.latency.min, 10_000);
        assert!((s.latency.mean - 25_000.0).abs() < 25.0, "{}", s.latency.mean);
        assert!(s.latency.max >= 40_000 && s.latency.max < 40_100, "3 significant digits");
        assert!(!s.is_ok());
    }

    #[test]
    fn percentiles_are_within_histogram_precision() {
        let t0 = Instant::now();
        let values: Vec<u64> = (1..=10_000).collect();
        let s = Summary::merge("kv_set", vec![outcome(&values, t0, 1)]);
        let near = |got: u64, want: u64| (got as f64 - want as f64).abs() <= want as f64 * 0.001 + 1.0;
        let l = s.latency;
        for (got, want) in [(l.p50, 5_000_000), (l.p90, 9_000_000), (l.p99, 9_900_000), (l.p999, 9_990_000)] {
            assert!(near(got, want), "{got} vs {want}");
        }
        assert!(l.p9999 >= l.p999 && l.max >= l.p9999 && l.min == 1000);
    }

    #[test]
    fn empty_test_reports_zeros_not_garbage() {
        let s = Summary::merge("sv_info", vec![Outcome::new()]);
        assert_eq!((s.requests, s.rps()), (0, 0.0));
        assert_eq!(s.latency, Latency::default());
        assert!(s.is_ok());
    }

    #[test]
    fn human_and_quiet_output_show_the_figures() {
        let t0 = Instant::now();
        // 100 and 150 usec sit exactly on histogram buckets, so print exactly.
        let s = Summary::merge("kv_set", vec![outcome(&[100, 150], t0, 2)]);
        let text = human(&s, false);
        assert!(text.starts_with("====== kv_set ======\n"), "{text}");
        assert!(text.contains("  2 requests in 2.000 s: 1.0 requests/s, 0 errors\n"), "{text}");
        assert!(text.contains("p99.99"), "{text}");
        assert!(text.contains("    100.0     100.0"), "{text}");
        assert!(!text.contains("open loop"));
        assert!(human(&s, true).contains("open loop"));
        assert_eq!(
            quiet(&s),
            "kv_set: 1.0 requests/s, p50 100.0 usec, p99 150.0 usec, p99.9 150.0 usec, max 150.0 usec, 0 errors"
        );
    }

    #[test]
    fn skipped_test_says_why_and_is_not_ok() {
        let s = Summary::merge("sh_get", vec![Outcome::skipped("no session".to_string())]);
        assert!(!s.is_ok());
        assert_eq!(human(&s, false), "====== sh_get ======\n  skipped: no session\n");
        assert_eq!(quiet(&s), "sh_get: skipped: no session");
        let doc: serde_json::Value = serde_json::from_str(&json(&Config::default(), None, &[s], &[])).unwrap();
        assert_eq!(doc["tests"][0]["skipped"], "no session");
        assert_eq!(doc["ok"], false);
    }

    #[test]
    fn quiet_line_names_the_first_connection_failure() {
        let mut o = Outcome::new();
        o.lost = 2;
        o.failures.push("connection 3: server closed the connection".to_string());
        let line = quiet(&Summary::merge("kv_set", vec![o]));
        assert!(
            line.ends_with(", 2 lost, 1 connection failures (connection 3: server closed the connection)"),
            "{line}"
        );
    }

    #[test]
    fn json_document_parses_and_carries_every_field() {
        let t0 = Instant::now();
        let s = Summary::merge("kv_get", vec![outcome(&[5, 7], t0, 1)]);
        let config = Config { rate: Some(100), ..Config::default() };
        let doc: serde_json::Value = serde_json::from_str(&json(&config, None, &[s], &[])).unwrap();
        assert_eq!(doc["tool"], "ndb-bench");
        assert_eq!(doc["url"], "ws://127.0.0.1:1987/");
        assert_eq!(doc["ok"], true);
        assert_eq!(doc["config"]["connections"], 50);
        let test = &doc["tests"][0];
        assert_eq!(test["name"], "kv_get");
        assert_eq!(test["requests"], 2);
        assert_eq!(test["rps"], 2.0);
        assert_eq!(test["latency_us"]["min"], 5.0);
        let mean = test["latency_us"]["mean"].as_f64().unwrap();
        assert!((mean - 6.0).abs() < 0.01, "{mean}");
        for key in ["p50", "p90", "p99", "p99_9", "p99_99", "max"] {
            assert!(test["latency_us"][key].is_f64(), "{key}");
        }
        assert_eq!(test["send_lag_us"]["max"], 0.0);
        let failed = json(&Config::default(), None, &[], &["cannot connect".to_string()]);
        let doc: serde_json::Value = serde_json::from_str(&failed).unwrap();
        assert_eq!(doc["ok"], false);
        assert_eq!(doc["preload"], serde_json::Value::Null);
        assert_eq!(doc["tests"], serde_json::json!([]));
    }
}
