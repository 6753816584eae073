//! `SV_INFO`: what the server says about itself.
//!
//! Owns: the settings and counters the reply reports and the reply's
//! layout. The counters are kept by whoever sees the event: the server
//! counts connections and requests, the session table counts expiries, and
//! the data counts (keys, sessions) are read from the store when the reply
//! is written. Must not touch: sockets, the clock (time is passed in).
//!
//! The reply keeps NemesisDB's two members (`persistEnabled`,
//! `serverVersion`) and `st` exactly; the rest are ndb's, among them the
//! number of arrays and lists of each type (`containers`). Members are
//! written in byte-wise name order, like every other reply.

#[cfg(feature = "introspection")]
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::protocol::{CommandName, Family, Reply, Status, Verb};

/// The settings `SV_INFO` reports.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// Whether saves are enabled (`persistEnabled`).
    pub persist_enabled: bool,
    /// Where saves go (`persistPath`).
    pub persist_path: PathBuf,
}

impl From<&Config> for ServerInfo {
    fn from(config: &Config) -> ServerInfo {
        ServerInfo { persist_enabled: config.persist_enabled, persist_path: config.persist_path.clone() }
    }
}

/// Counters since the server started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Connections open now, upgraded or not (kept by the server).
    pub connections_open: u64,
    /// Connections accepted since start, refused ones included (kept by the
    /// server).
    pub connections_total: u64,
    /// Requests answered since start, error replies included (kept by the
    /// server).
    pub requests: u64,
    /// Sessions that expired since start, deleted or cleared (kept by the
    /// session table).
    pub session_expiries: u64,
    /// Commands that changed data and succeeded since start, loads
    /// included (kept by the server; with `session_expiries`, what
    /// `persist.saveEvery`'s `changes` count).
    pub changes: u64,
}

/// The outcome of the most recent save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastSave {
    /// The save's name.
    pub name: String,
    /// Its reply status (`SaveComplete` or an error).
    pub status: Status,
    /// When it finished, in milliseconds since the Unix epoch.
    pub unix_ms: u64,
}
/// The durable log's state, as `SV_INFO`'s `log` reports it (kept by the
/// server, once a turn).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogInfo {
    /// The fsync policy: `always`, `everysec` or `no`.
    pub fsync: &'static str,
    /// Bytes of the log written.
    pub bytes: u64,
    /// When the last fsync finished, milliseconds since the epoch (0: none
    /// yet).
    pub last_fsync_unix_ms: u64,
    /// Why the log cannot be written, while it cannot.
    pub error: Option<String>,
    /// Connections whose replies wait for the log's next fsync.
    pub held_replies: u64,
    /// Bytes of the base snapshot in force (0: none).
    pub base_bytes: u64,
    /// Segments the manifest lists.
    pub segments: u64,
    /// Compactions put in force since start.
    pub compactions: u64,
    /// When the last compaction was put in force, ms since the epoch (0:
    /// none since start).
    pub last_compaction_unix_ms: u64,
    /// How long it took, from the switch to the new manifest, in ms.
    pub last_compaction_ms: u64,
}

/// The scheduled saves' state, as `SV_INFO`'s `scheduledSave` reports it
/// (kept by the server).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleInfo {
    /// The name they are written under.
    pub name: String,
    /// `none` (none yet), `running` (a save, or the deletion of older ones
    /// after it, is under way), `complete` or `failed`: the last one's.
    pub status: &'static str,
    /// When the last one ended, milliseconds since the epoch (0: none
    /// yet).
    pub last_unix_ms: u64,
    /// The count of changes ([`Stats::changes`] plus session expiries)
    /// when the last one began (0 before the first): `SV_INFO` reports the
    /// changes since.
    pub changes_at: u64,
}

/// Everything `SV_INFO` reports that is not counted from the data.
#[derive(Debug, Clone)]
pub(super) struct Info {
    pub settings: ServerInfo,
    pub stats: Stats,
    pub metrics: crate::metrics::Metrics,
    /// The first `now` the server saw.
    pub started: Option<Instant>,
    pub last_save: Option<LastSave>,
    /// `SV_CONFIG`'s `config` object, rendered once at start.
    #[cfg(feature = "introspection")]
    pub settings_json: String,
    /// The durable log's state; `None` while it is off.
    pub log: Option<LogInfo>,
    /// The scheduled saves' state; `None` without `persist.saveEvery`.
    pub schedule: Option<ScheduleInfo>,
}

/// What is counted from the data when the reply is written.
pub(super) struct Counts {
    /// Top-level keys.
    pub keys: usize,
    /// Live sessions.
    pub sessions: usize,
    /// Arrays and lists of each type, in [`Family::ALL`] order.
    pub containers: [usize; 6],
    /// What the memory cap counts (`memoryUsed`).
    pub memory_used: usize,
    /// The memory cap (`maxMemory`), `None` when unlimited.
    pub max_memory: Option<usize>,
}

impl Info {
    pub fn new(settings: ServerInfo) -> Info {
        Info {
            settings,
            stats: Stats::default(),
            metrics: Default::default(),
            started: None,
            last_save: None,
            #[cfg(feature = "introspection")]
            settings_json: "{}".to_owned(),
            log: None,
            schedule: None,
        }
    }

    /// Seconds since the first turn.
    pub fn uptime_secs(&self, now: Instant) -> u64 {
        self.started.map_or(0, |started| now.saturating_duration_since(started).as_secs())
    }

    /// Writes the `SV_INFO` reply; `persistPath` only when `show_paths`
    /// (the asking user is an admin, or no users are configured).
    pub fn write(&self, reply: &mut Reply<'_>, counts: Counts, now: Instant, show_paths: bool) {
        let protocol = reply.protocol();
        let uptime_secs = self.uptime_secs(now);
        let stats = self.stats;
        #[cfg(feature = "introspection")]
        let metrics = &self.metrics;
        let count = |family: Family| {
            let i = Family::ALL.iter().position(|f| *f == family).unwrap_or(0);
            counts.containers[i] as u64
        };
        reply.object(Verb::SvInfo, |o| {
            #[cfg(feature = "introspection")]
            o.raw("commands", &commands_json(metrics));
            o.u64("connections", stats.connections_open).u64("connectionsTotal", stats.connections_total);
            // Byte-wise name order: IARR < OARR < OLST < SIARR < SSTRARR < STRARR.
            o.object("containers", |c| {
                for family in [Family::Iarr, Family::Oarr, Family::Olst, Family::Siarr, Family::Sstrarr, Family::Strarr]
                {
                    c.u64(family.prefix(), count(family));
                }
            });
            #[cfg(feature = "introspection")]
            o.raw("errorsByStatus", &errors_json(metrics))
                .u64("keyHits", metrics.key_hits())
                .u64("keyMisses", metrics.key_misses());
            o.u64("keys", counts.keys as u64);
            match &self.last_save {
                Some(save) => o.object("lastSave", |s| {
                    s.str("name", &save.name)
                        .u64("status", save.status.code(protocol).into())
                        .u64("time", save.unix_ms);
                }),
                None => o.null("lastSave"),
            };
            // Only with the log on: without it the reply is as before.
            if cfg!(feature = "log")
                && let Some(log) = &self.log
            {
                o.object("log", |l| {
                    l.u64("baseBytes", log.base_bytes).u64("bytes", log.bytes).u64("compactions", log.compactions);
                    match &log.error {
                        Some(error) => l.str("error", error),
                        None => l.null("error"),
                    };
                    l.str("fsync", log.fsync)
                        .u64("heldReplies", log.held_replies)
                        .u64("lastCompaction", log.last_compaction_unix_ms)
                        .u64("lastCompactionMs", log.last_compaction_ms)
                        .u64("lastFsync", log.last_fsync_unix_ms)
                        .u64("segments", log.segments);
                });
            }
            match counts.max_memory {
                Some(cap) => o.u64("maxMemory", cap as u64),
                None => o.null("maxMemory"),
            };
            o.u64("memoryUsed", counts.memory_used as u64);
            o.bool("persistEnabled", self.settings.persist_enabled);
            if show_paths {
                o.str("persistPath", &self.settings.persist_path.to_string_lossy());
            }
            o.str("protocol", protocol.as_str());
            o.u64("requests", stats.requests);
            match resident_bytes() {
                Some(bytes) => o.u64("rssBytes", bytes),
                None => o.null("rssBytes"),
            };
            #[cfg(feature = "introspection")]
            match peak_resident_bytes() {
                Some(bytes) => o.u64("rssPeakBytes", bytes),
                None => o.null("rssPeakBytes"),
            };
            // Only with scheduled saves: without them the reply is as before.
            if let Some(schedule) = &self.schedule {
                o.object("scheduledSave", |s| {
                    let changes = stats.changes + stats.session_expiries;
                    s.u64("changes", changes.saturating_sub(schedule.changes_at))
                        .u64("lastTime", schedule.last_unix_ms)
                        .str("name", &schedule.name)
                        .str("status", schedule.status);
                });
            }
            o.str("serverVersion", crate::VERSION);
            o.u64("sessionExpiries", stats.session_expiries).u64("sessions", counts.sessions as u64);
            o.st(Status::Ok).u64("uptimeSecs", uptime_secs);
        });
    }
}

/// The process's resident memory in bytes (`VmRSS` of `/proc/self/status`),
/// or `None` where that cannot be read.
pub fn resident_bytes() -> Option<u64> {
    proc_status_bytes("VmRSS:")
}

#[cfg(feature = "introspection")]
/// The most resident memory the process has had, in bytes (`VmHWM`, the
/// high-water mark), or `None` where that cannot be read. ndb does not
/// account its allocations itself: this peak is the one the OS keeps.
pub fn peak_resident_bytes() -> Option<u64> {
    proc_status_bytes("VmHWM:")
}

/// A `kB` line of `/proc/self/status`, in bytes.
#[cfg(target_os = "linux")]
fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix(field))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    kib.checked_mul(1024)
}

/// Not known on this OS.
#[cfg(not(target_os = "linux"))]
fn proc_status_bytes(_field: &str) -> Option<u64> {
    None
}

#[cfg(feature = "introspection")]
/// A latency in whole microseconds (at most `u64::MAX`).
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(feature = "introspection")]
/// Every row of the metrics' request table: each command name ndb
/// serves (key, session and server verbs, then array and list commands),
/// then `None` for requests that named none.
fn command_rows() -> impl Iterator<Item = Option<CommandName>> {
    (0..CommandName::SLOTS).filter_map(CommandName::from_index).map(Some).chain([None])
}

#[cfg(feature = "introspection")]
/// `SV_INFO`'s `commands`: for each command answered at least once, by
/// its name (`KV_SET`, `IARR_SET_RNG`, ...; `unknown` for requests naming
/// none ndb serves), its calls, its error replies, and the 50th, 99th and
/// 99.9th latency percentiles in microseconds as the upper bounds of their
/// histogram buckets (`null` past the last bound, 10 s). It reads the
/// metrics' own per-command table ([`Metrics::requests`],
/// [`Metrics::latency_of`]). At most one member per command name: a
/// bounded reply.
fn commands_json(metrics: &Metrics) -> String {
    let mut out = BTreeMap::new();
    for name in command_rows() {
        let calls: u64 = Status::ALL.iter().map(|s| metrics.requests(name, *s)).sum();
        if calls == 0 {
            continue;
        }
        let errors: u64 = Status::ALL.iter().filter(|s| !s.is_success()).map(|s| metrics.requests(name, *s)).sum();
        let latency = metrics.latency_of(name);
        let quantile = |q| latency.quantile_bound(q).map(micros);
        let label = name.map_or_else(|| "unknown".to_owned(), |name| name.to_string());
        out.insert(
            label,
            serde_json::json!({
                "calls": calls,
                "errors": errors,
                "p50Us": quantile(0.5),
                "p999Us": quantile(0.999),
                "p99Us": quantile(0.99),
            }),
        );
    }
    serde_json::to_string(&out).unwrap_or_default()
}

#[cfg(feature = "introspection")]
/// `SV_INFO`'s `errorsByStatus`: replies by status name, for every status
/// other than success that was answered at least once, over every command.
fn errors_json(metrics: &Metrics) -> String {
    let mut out = BTreeMap::new();
    for status in Status::ALL.iter().filter(|s| !s.is_success()) {
        let n: u64 = command_rows().map(|name| metrics.requests(name, *status)).sum();
        if n > 0 {
            out.insert(status.name(), n);
        }
    }
    serde_json::to_string(&out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Protocol;

    fn reply(info: &Info, protocol: Protocol, now: Instant) -> serde_json::Value {
        let mut out = Vec::new();
        info.write(
            &mut Reply::new(&mut out, protocol),
            Counts { keys: 3, sessions: 2, containers: [0; 6], memory_used: 5000, max_memory: None },
            now,
            true,
        );
        serde_json::from_slice(&out).unwrap()
    }

    fn names_in_order(text: &str) -> Vec<String> {
        // The members of the reply body, in the order written.
        let body = &text[text.find(":{").unwrap() + 1..];
        let mut names = Vec::new();
        let mut depth = 0;
        let mut chars = body.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                '"' => {
                    let end = body[i + 1..].find('"').unwrap() + i + 1;
                    if depth == 1 && body[end + 1..].starts_with(':') {
                        names.push(body[i + 1..end].to_owned());
                    }
                    while chars.peek().is_some_and(|&(j, _)| j <= end) {
                        chars.next();
                    }
                }
                _ => {}
            }
        }
        names
    }

    #[test]
    fn members_are_in_byte_wise_name_order_and_typed() {
        let start = Instant::now();
        let mut info = Info::new(ServerInfo { persist_enabled: true, persist_path: PathBuf::from("/var/lib/ndb") });
        info.started = Some(start);
        info.stats = Stats { connections_open: 2, connections_total: 5, requests: 9, session_expiries: 1, changes: 0 };
        let mut out = Vec::new();
        let containers = [1, 2, 3, 4, 5, 6];
        info.write(
            &mut Reply::new(&mut out, Protocol::V07),
            Counts { keys: 3, sessions: 2, containers, memory_used: 5000, max_memory: None },
            start,
            true,
        );
        let text = String::from_utf8(out).unwrap();
        let names = names_in_order(&text);
        let mut sorted = names.clone();
        sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        assert_eq!(names, sorted, "{text}");
        assert_eq!(names.len(), 22);
        let expected = r#""containers":{"IARR":2,"OARR":1,"OLST":6,"SIARR":4,"SSTRARR":5,"STRARR":3},"#;
        assert!(text.contains(expected), "{text}");
        let mut out = Vec::new();
        info.write(
            &mut Reply::new(&mut out, Protocol::V07),
            Counts { keys: 3, sessions: 2, containers, memory_used: 5000, max_memory: None },
            start,
            false,
        );
        let hidden = names_in_order(&String::from_utf8(out).unwrap());
        assert_eq!(hidden, names.iter().filter(|n| *n != "persistPath").cloned().collect::<Vec<_>>());

        let got = reply(&info, Protocol::V07, start + std::time::Duration::from_millis(61_500));
        let body = &got["SV_INFO_RSP"];
        assert_eq!(body["connections"], 2);
        assert_eq!(body["connectionsTotal"], 5);
        assert_eq!(body["keys"], 3);
        assert_eq!(body["lastSave"], serde_json::Value::Null);
        assert_eq!(body["maxMemory"], serde_json::Value::Null);
        assert_eq!(body["memoryUsed"], 5000);
        assert_eq!(body["persistEnabled"], true);
        assert_eq!(body["persistPath"], "/var/lib/ndb");
        assert_eq!(body["protocol"], "0.7");
        assert_eq!(body["requests"], 9);
        assert_eq!(body["serverVersion"], crate::VERSION);
        assert_eq!(body["sessionExpiries"], 1);
        assert_eq!(body["sessions"], 2);
        assert_eq!(body["st"], 1);
        assert_eq!(body["uptimeSecs"], 61);
        if cfg!(target_os = "linux") {
            assert!(body["rssBytes"].as_u64().is_some_and(|b| b > 0), "{body}");
        }
    }

    #[test]
    fn last_save_reports_its_status_in_the_protocol_numbering() {
        let mut info = Info::new(ServerInfo { persist_enabled: true, persist_path: PathBuf::from("d") });
        info.last_save =
            Some(LastSave { name: "nightly".into(), status: Status::SaveComplete, unix_ms: 1_733_400_000_456 });
        let now = Instant::now();
        let v07 = reply(&info, Protocol::V07, now);
        assert_eq!(
            v07["SV_INFO_RSP"]["lastSave"],
            serde_json::json!({"name": "nightly", "status": 121, "time": 1_733_400_000_456u64})
        );
        let v09 = reply(&info, Protocol::V09, now);
        assert_eq!(v09["SV_INFO_RSP"]["lastSave"]["status"], 120);
        assert_eq!(v09["SV_INFO_RSP"]["protocol"], "0.9");
        assert_eq!(v09["SV_INFO_RSP"]["uptimeSecs"], 0, "not started yet");
    }
}
