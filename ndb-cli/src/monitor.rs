//! The two watching modes, in the manner of redis-cli: `--latency` (round
//! trips of a cheap command, min/avg/max so far) and `--stat` (a line per
//! interval of the server's counters from `SV_INFO`).
//!
//! Owns: the sampling loops and their output formats (text, JSON lines,
//! CSV). Must not touch: anything but the one connection it is given.

use std::time::{Duration, Instant};

use ndb_client::{Client, Protocol};
use serde_json::{Map, Value};

use crate::emit;
use crate::render::{self, Verdict};

/// The command `--latency` times: `KV_COUNT` reads one counter and writes a
/// reply of a few bytes, the cheapest round trip the protocol has (redis-cli
/// uses `PING`).
const LATENCY_REQUEST: &str = r#"{"KV_COUNT":{}}"#;

/// How often `--latency` prints a new line when it cannot redraw one in
/// place (output not a terminal, or `--json`/`--csv`): once a second keeps
/// a log bounded whatever the sampling interval.
const LINE_EVERY: Duration = Duration::from_secs(1);

/// `--stat` repeats its header after this many lines, as redis-cli does.
const HEADER_EVERY: u64 = 20;

/// How the lines of a mode are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// For people: redrawn in place on a terminal (`--latency`), aligned
    /// columns (`--stat`).
    Text,
    /// One JSON object per line.
    Json,
    /// A header row, then one row per line.
    Csv,
}

/// When sampling stops.
#[derive(Clone, Copy, Debug)]
pub struct Every {
    /// Time from one sample to the next.
    pub interval: Duration,
    /// Stop after this many samples (`--latency`) or lines (`--stat`);
    /// `None` runs until interrupted.
    pub count: Option<u64>,
}

/// Latency so far, in microseconds.
#[derive(Debug, Default)]
struct Latency {
    min: f64,
    max: f64,
    sum: f64,
    samples: u64,
}

impl Latency {
    fn add(&mut self, us: f64) {
        if self.samples == 0 || us < self.min {
            self.min = us;
        }
        self.max = self.max.max(us);
        self.sum += us;
        self.samples += 1;
    }

    fn line(&self, format: Format) -> String {
        let avg = if self.samples == 0 { 0.0 } else { self.sum / self.samples as f64 };
        let (min, max, avg) = (self.min / 1000.0, self.max / 1000.0, avg / 1000.0);
        match format {
            Format::Text => format!("min: {min:.3}, max: {max:.3}, avg: {avg:.3} ms ({} samples)", self.samples),
            Format::Json => {
                format!("{{\"avg_ms\":{avg:.3},\"max_ms\":{max:.3},\"min_ms\":{min:.3},\"samples\":{}}}", self.samples)
            }
            Format::Csv => format!("{min:.3},{max:.3},{avg:.3},{}", self.samples),
        }
    }
}

/// `--latency`: sends [`LATENCY_REQUEST`] every `every.interval` and shows
/// the minimum, maximum and mean round trip so far. On a terminal in text
/// format the line is redrawn after each sample; otherwise a line is added
/// every [`LINE_EVERY`] and once more at the end.
///
/// # Errors
/// The connection failed or the server answered with an error status.
pub fn latency(client: &mut Client, every: Every, format: Format, terminal: bool) -> Result<(), String> {
    let in_place = terminal && format == Format::Text;
    if format == Format::Csv {
        emit("min_ms,max_ms,avg_ms,samples\n");
    }
    let mut stats = Latency::default();
    let mut printed_at = Instant::now();
    let mut printed = 0;
    while every.count.is_none_or(|count| stats.samples < count) {
        if stats.samples > 0 {
            std::thread::sleep(every.interval);
        }
        let sent = Instant::now();
        let reply = client.call_text(LATENCY_REQUEST).map_err(|e| e.to_string())?;
        stats.add(sent.elapsed().as_secs_f64() * 1e6);
        if render::verdict(&reply, Protocol::V07) != Verdict::Success {
            return Err(format!("{LATENCY_REQUEST} answered {reply}"));
        }
        if in_place {
            emit(&format!("\r\x1b[K{}", stats.line(format)));
        } else if printed_at.elapsed() >= LINE_EVERY {
            emit(&format!("{}\n", stats.line(format)));
            (printed_at, printed) = (Instant::now(), stats.samples);
        }
    }
    if in_place {
        emit("\n");
    } else if printed != stats.samples {
        emit(&format!("{}\n", stats.line(format)));
    }
    Ok(())
}

/// One `--stat` line's figures; `None` where the server does not say.
#[derive(Debug, Default)]
struct Stat {
    keys: Option<u64>,
    sessions: Option<u64>,
    connections: Option<u64>,
    requests: Option<u64>,
    per_sec: Option<f64>,
    rss: Option<u64>,
}

fn cell(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn json(value: Option<u64>) -> String {
    value.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

/// Bytes as redis-cli writes memory: `3.56M`.
fn human_bytes(bytes: u64) -> String {
    let mut value = bytes as f64;
    for unit in ["B", "K", "M", "G"] {
        if value < 1024.0 {
            return if unit == "B" { format!("{bytes}B") } else { format!("{value:.2}{unit}") };
        }
        value /= 1024.0;
    }
    format!("{value:.2}T")
}

impl Stat {
    fn header() -> String {
        let names = ["keys", "sessions", "connections", "requests", "requests/s", "rss"];
        format!("{:<10} {:<10} {:<11} {:<14} {:<11} {}", names[0], names[1], names[2], names[3], names[4], names[5])
    }

    fn line(&self, format: Format) -> String {
        let rate = |none: &str| self.per_sec.map_or_else(|| none.to_owned(), |r| format!("{r:.0}"));
        match format {
            Format::Text => format!(
                "{:<10} {:<10} {:<11} {:<14} {:<11} {}",
                cell(self.keys),
                cell(self.sessions),
                cell(self.connections),
                cell(self.requests),
                rate("-"),
                self.rss.map_or_else(|| "-".to_owned(), human_bytes)
            ),
            Format::Json => format!(
                "{{\"connections\":{},\"keys\":{},\"requests\":{},\"requests_per_sec\":{},\"rss_bytes\":{},\"sessions\":{}}}",
                json(self.connections),
                json(self.keys),
                json(self.requests),
                rate("null"),
                json(self.rss),
                json(self.sessions)
            ),
            Format::Csv => format!(
                "{},{},{},{},{},{}",
                json(self.keys).replace("null", ""),
                json(self.sessions).replace("null", ""),
                json(self.connections).replace("null", ""),
                json(self.requests).replace("null", ""),
                rate(""),
                json(self.rss).replace("null", "")
            ),
        }
    }
}

/// The members of an `SV_INFO` reply's body.
fn info(client: &mut Client) -> Result<Map<String, Value>, String> {
    let reply = client.call_text(r#"{"SV_INFO":{}}"#).map_err(|e| e.to_string())?;
    if render::verdict(&reply, Protocol::V07) != Verdict::Success {
        return Err(format!("SV_INFO answered {reply}"));
    }
    match serde_json::from_str::<Value>(&reply) {
        Ok(Value::Object(mut doc)) => match doc.remove("SV_INFO_RSP") {
            Some(Value::Object(body)) => Ok(body),
            _ => Err(format!("SV_INFO answered {reply}")),
        },
        _ => Err(format!("SV_INFO answered {reply}")),
    }
}

/// `--stat`: a line every `every.interval` with the server's keys,
/// sessions, connections (this one included), requests answered, requests
/// per second since the line before (this tool's own `SV_INFO` left out)
/// and memory, from `SV_INFO`. A NemesisDB server reports none of these:
/// its cells are `-`.
///
/// # Errors
/// The connection failed or `SV_INFO` answered with an error status.
pub fn stat(client: &mut Client, every: Every, format: Format) -> Result<(), String> {
    if format == Format::Csv {
        emit("keys,sessions,connections,requests,requests_per_sec,rss_bytes\n");
    }
    let start = Instant::now();
    let mut before: Option<(Instant, u64)> = None;
    let mut lines = 0u64;
    while every.count.is_none_or(|count| lines < count) {
        let due = start + every.interval.saturating_mul(u32::try_from(lines).unwrap_or(u32::MAX));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let members = info(client)?;
        let now = Instant::now();
        let get = |name: &str| members.get(name).and_then(Value::as_u64);
        let requests = get("requests");
        let per_sec = match (before, requests) {
            (Some((then, earlier)), Some(now_count)) => {
                let secs = now.duration_since(then).as_secs_f64();
                // The newer count includes this tool's own SV_INFO.
                Some(now_count.saturating_sub(earlier).saturating_sub(1) as f64 / secs.max(1e-9))
            }
            _ => None,
        };
        before = requests.map(|r| (now, r));
        let line = Stat {
            keys: get("keys"),
            sessions: get("sessions"),
            connections: get("connections"),
            requests,
            per_sec,
            rss: get("rssBytes"),
        };
        if format == Format::Text && lines.is_multiple_of(HEADER_EVERY) {
            emit(&format!("{}\n", Stat::header()));
        }
        emit(&format!("{}\n", line.line(format)));
        lines += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_lines() {
        let mut l = Latency::default();
        for us in [120.0, 80.0, 400.0] {
            l.add(us);
        }
        assert_eq!(l.line(Format::Text), "min: 0.080, max: 0.400, avg: 0.200 ms (3 samples)");
        assert_eq!(l.line(Format::Json), r#"{"avg_ms":0.200,"max_ms":0.400,"min_ms":0.080,"samples":3}"#);
        assert_eq!(l.line(Format::Csv), "0.080,0.400,0.200,3");
    }

    #[test]
    fn stat_lines() {
        let s = Stat {
            keys: Some(1204),
            sessions: Some(0),
            connections: Some(2),
            requests: Some(90211),
            per_sec: Some(1203.4),
            rss: Some(8437760),
        };
        assert_eq!(s.line(Format::Text), "1204       0          2           90211          1203        8.05M");
        assert_eq!(
            s.line(Format::Json),
            r#"{"connections":2,"keys":1204,"requests":90211,"requests_per_sec":1203,"rss_bytes":8437760,"sessions":0}"#
        );
        assert_eq!(s.line(Format::Csv), "1204,0,2,90211,1203,8437760");
        let none = Stat::default();
        assert_eq!(none.line(Format::Text), "-          -          -           -              -           -");
        assert_eq!(none.line(Format::Csv), ",,,,,");
        assert_eq!(human_bytes(512), "512B");
        assert_eq!(human_bytes(3 * 1024 * 1024 / 2), "1.50M");
    }
}
