//! Server settings: built-in defaults, NemesisDB config files (versions 5 and
//! 6), and the checks a host's own flags go through (as `ndb-server`'s do).
//!
//! Owns: every setting and its default, and reading a config file into them
//! with errors that name the field ([`ConfigError::Field`]). Must not touch: sockets, the
//! store.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::auth::{HEX_PROBLEM, Role, User, Users, parse_sha256_hex};
use crate::error::ConfigError;
use crate::protocol::Protocol;

/// Smallest `maxPayload` accepted, as in NemesisDB.
pub const MIN_MAX_PAYLOAD: usize = 64;
/// Largest `maxPayload` accepted: 64 MiB, ample for any JSON document a
/// store of this kind should take in one message.
pub const MAX_MAX_PAYLOAD: usize = 64 * 1024 * 1024;

/// Longest timeout accepted, in seconds (a day): long enough for any use,
/// short enough that no arithmetic on instants can overflow.
pub const MAX_TIMEOUT_SECS: u64 = 24 * 60 * 60;

/// Every setting of a server.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Address to listen on. Default `127.0.0.1`: reachable from this host
    /// only, until an operator decides otherwise.
    pub ip: String,
    /// Port. Default 1987, NemesisDB's, so clients need no change.
    pub port: u16,
    /// Largest request message in bytes. Default 1 MiB: room for big JSON
    /// values, small enough that one peer cannot make ndb buffer much.
    pub max_payload: usize,
    /// Whether `KV_SAVE`/`SH_SAVE` are allowed. Default on, as `SV_INFO`'s
    /// `persistEnabled` is what clients expect.
    pub persist_enabled: bool,
    /// Where saves go. Default `./data`, created on first save.
    pub persist_path: PathBuf,
    /// Save every key and every session under this name when the server
    /// binary stops on SIGTERM/SIGINT (`persist.saveOnExit`). Default none:
    /// NemesisDB writes nothing on exit.
    pub save_on_exit: Option<String>,
    /// Load the newest complete save under this name at start-up if the
    /// name holds one, and start empty if it holds none
    /// (`persist.loadOnStart`). Default none. A save that exists but cannot
    /// be read still stops the start.
    pub load_on_start: Option<String>,
    /// The durable log of every change (`persist.log`, `--log`). Default
    /// off: ndb then behaves and performs as without it.
    pub log: LogSettings,
    /// Scheduled saves (`persist.saveEvery`, `--save-every`): a KV save and
    /// a session save under [`Config::save_name`] once any rule's interval
    /// has passed with at least its number of changes. Default none.
    pub save_every: Vec<SaveRule>,
    /// The name scheduled saves are written under (`persist.saveName`,
    /// `--save-name`). Default [`DEFAULT_SAVE_NAME`].
    pub save_name: String,
    /// Scheduled saves kept of each kind under [`Config::save_name`], the
    /// newest (`persist.keep`, `--save-keep`); older ones are deleted once
    /// a new one is durable. Default [`DEFAULT_SAVE_KEEP`].
    pub save_keep: usize,
    /// Status numbering of saves. Default 0.7 (save success 121).
    pub protocol: Protocol,
    /// CPU core to pin the server thread to, if any.
    pub core: Option<usize>,
    /// Open connections allowed; past it new ones get HTTP 503. Default
    /// 10,000, well under common descriptor limits once raised.
    pub max_connections: usize,
    /// Browser origins allowed to connect. Default none: a request carrying
    /// an `Origin` header (a web page) is refused unless listed, which stops
    /// cross-site WebSocket hijacking of a server on localhost. Clients that
    /// send no `Origin` (every non-browser client) are unaffected.
    pub allowed_origins: Vec<String>,
    /// Stop reading from a connection while this many reply bytes wait for
    /// it. Default 1 MiB: a peer that does not read cannot make ndb queue
    /// more work for it.
    pub output_pause_bytes: usize,
    /// Close (1008) a connection once this many reply bytes wait for it.
    /// Default 16 MiB.
    pub max_output_bytes: usize,
    /// Messages served per connection per loop turn. Default 64: pipelining
    /// stays cheap and no peer can starve the others.
    pub messages_per_turn: usize,
    /// Largest upgrade request head; bigger gets HTTP 431. Default 8 KiB: a
    /// browser's request is under 2 KiB, with room left for cookies.
    pub max_head_bytes: usize,
    /// Time a connection has to complete its upgrade before it is dropped.
    /// Default 10 s: ample on any network, and a slowloris peer holds a
    /// slot no longer than that.
    pub handshake_timeout: Duration,
    /// Close (1001) an upgraded connection that sends nothing, not even a
    /// ping, for this long. Default off: the Python client pings every 20 s,
    /// but other clients may legitimately stay silent.
    pub idle_timeout: Option<Duration>,
    /// Close (1008) a connection whose pending replies make no progress
    /// (the peer takes none of them) for this long. Default 60 s: a peer
    /// that stopped reading does not hold its buffered replies forever.
    pub send_timeout: Option<Duration>,
    /// The largest capacity `<A>_CREATE` accepts (`arrays.maxCapacity`).
    /// Default 10,000, NemesisDB's shipped value.
    pub array_max_capacity: u64,
    /// The most items one array `GET_RNG` returns
    /// (`arrays.maxResponseSize`, a count). Default 10,000, NemesisDB's
    /// shipped value.
    pub array_max_response_size: u64,
    /// The most items one `OLST_GET_RNG` returns (`lists.maxResponseSize`,
    /// a count). Default 10,000, NemesisDB's shipped value.
    pub list_max_response_size: u64,
    /// Most CPU time a `KV_FIND` search (or the path evaluation of a large
    /// edit) may take on the search thread; past it the command answers
    /// 203 (TimedOut). CPU time, not wall-clock time, because the search
    /// thread runs at a lower priority (nice 10): on a busy host a cheap
    /// search can take long. Default 5 s: a search of a million small
    /// values takes about 0.3 s, and the search thread serves everyone's
    /// searches in turn.
    pub search_timeout: Option<Duration>,
    /// Most bytes all connections together may hold in input not served
    /// yet (partial messages, mostly); past it, the connections holding the
    /// most are closed (1008), largest first, until the total is under it
    /// again. Default 256 MiB: hundreds of maximum-size messages arriving
    /// at once, while thousands of peers each sending most of a message and
    /// then nothing cannot take more. At least `max_payload`.
    pub max_partial_bytes: usize,
    /// Close (1008) a connection that started a message (or a frame) and
    /// has not finished it this long after, while ndb was reading it.
    /// Default 30 s: a slow link still sends a megabyte in that time, and a
    /// peer that stops mid-message gives its buffers back.
    pub message_timeout: Option<Duration>,
    /// Refuse commands that add data (204, `OutOfMemory`) while what the
    /// server holds, as it accounts it (keys and values, sessions,
    /// connection buffers, job snapshots; not RSS), is at or past this many
    /// bytes (`maxMemory`). Default `None`, unlimited, as NemesisDB.
    pub max_memory: Option<usize>,
    /// Searches (`KV_FIND` off the loop), large edits and list snapshots
    /// queued or running at once, server-wide; past it such a command is
    /// answered 201 (`Busy`) at once (`maxJobs`). Default
    /// `DEFAULT_MAX_JOBS` (`store/jobs.rs`), 16.
    pub max_jobs: usize,
    /// Messages longer than this many bytes are decoded on the search
    /// thread instead of the loop, as a job counted toward `max_jobs`.
    /// Default `DECODE_OFF_LOOP_BYTES` (`store/jobs.rs`),
    /// 256 KiB. Not read from a config document: a build setting for
    /// embedders and tests.
    pub decode_off_loop_bytes: usize,
    /// Who may connect, and with which role (`users`). Default none: no
    /// authentication, every connection may do everything, as NemesisDB.
    pub users: Users,
    /// Refuse to listen on an address other than loopback while no user is
    /// configured (`protectedMode`). Default on: a server reachable from
    /// other hosts without a password must be asked for explicitly.
    pub protected_mode: bool,
    /// The certificate and key that turn on TLS (`wss://`) for every
    /// connection. Default none: plain `ws://`. Needs the `tls` feature.
    pub tls: Option<TlsFiles>,
    /// Requests whose latency reaches this go to the slow-request log
    /// (`SV_SLOWLOG`; `slowLogThreshold`). Default 10 ms, a whole turn's
    /// budget; `None` (0) turns the log off.
    pub slow_log_threshold: Option<Duration>,
    /// Entries the slow-request log keeps, newest first (`slowLogLength`).
    /// Default 128; at most [`MAX_SLOW_LOG_LENGTH`]; 0 turns the log off.
    pub slow_log_length: usize,
}

/// Most entries the slow-request log may keep: each holds at most
/// [`SLOW_LOG_TEXT_BYTES`] of its request, so the log stays under 2 MiB.
pub const MAX_SLOW_LOG_LENGTH: usize = 10_000;

/// Bytes of a request's text a slow-request log entry keeps (as Redis
/// keeps 128 bytes of each argument): enough to tell the command, its key
/// and the start of its path or value.
pub const SLOW_LOG_TEXT_BYTES: usize = 128;

/// Where the TLS certificate chain and private key are (PEM files). They
/// are read at start-up and again on [`crate::Server::reload_certificates`]
/// (SIGHUP for `ndb-server`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, the server's own certificate first.
    pub certificate: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// The default of `arrays.maxCapacity`, `arrays.maxResponseSize` and
/// `lists.maxResponseSize`: NemesisDB's shipped value for all three, and
/// what a version-5 config (which has no such sections) gets.
pub const DEFAULT_CONTAINER_LIMIT: u64 = 10_000;

impl Default for Config {
    fn default() -> Self {
        Config {
            ip: "127.0.0.1".to_owned(),
            port: 1987,
            max_payload: 1024 * 1024,
            persist_enabled: true,
            persist_path: PathBuf::from("./data"),
            save_on_exit: None,
            load_on_start: None,
            log: LogSettings::default(),
            save_every: Vec::new(),
            save_name: DEFAULT_SAVE_NAME.to_owned(),
            save_keep: DEFAULT_SAVE_KEEP,
            protocol: Protocol::V07,
            core: None,
            max_connections: 10_000,
            allowed_origins: Vec::new(),
            output_pause_bytes: 1024 * 1024,
            max_output_bytes: 16 * 1024 * 1024,
            messages_per_turn: 64,
            max_head_bytes: crate::http_upgrade::MAX_HEAD_BYTES,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: None,
            send_timeout: Some(Duration::from_secs(60)),
            array_max_capacity: DEFAULT_CONTAINER_LIMIT,
            array_max_response_size: DEFAULT_CONTAINER_LIMIT,
            list_max_response_size: DEFAULT_CONTAINER_LIMIT,
            users: Users::default(),
            protected_mode: true,
            tls: None,
            search_timeout: Some(crate::store::DEFAULT_SEARCH_TIMEOUT),
            max_partial_bytes: DEFAULT_MAX_PARTIAL_BYTES,
            message_timeout: Some(Duration::from_secs(30)),
            max_memory: None,
            max_jobs: crate::store::DEFAULT_MAX_JOBS,
            decode_off_loop_bytes: crate::store::DECODE_OFF_LOOP_BYTES,
            slow_log_threshold: Some(Duration::from_millis(10)),
            slow_log_length: 128,
        }
    }
}

/// The default of `persist.saveName`.
pub const DEFAULT_SAVE_NAME: &str = "auto";

/// The default of `persist.keep`: five scheduled saves of each kind.
pub const DEFAULT_SAVE_KEEP: usize = 5;

/// Most rules `persist.saveEvery` holds: each is looked at once per turn
/// (two comparisons), so 16 cost the loop nothing measurable, and more
/// than Redis's customary three would never be needed.
pub const MAX_SAVE_RULES: usize = 16;

/// One rule of `persist.saveEvery`: save once `every` has passed since the
/// last scheduled save (or the start) with at least `changes` changes to
/// the data meanwhile (Redis's `save <seconds> <changes>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaveRule {
    /// The interval (`seconds`, at least 1).
    pub every: Duration,
    /// The changes needed (`changes`; 0 saves every interval, changed or
    /// not).
    pub changes: u64,
}

impl SaveRule {
    /// Reads `SECONDS:CHANGES` (the form of `--save-every`).
    pub fn parse(text: &str) -> Option<SaveRule> {
        let (seconds, changes) = text.split_once(':')?;
        let seconds: u64 = seconds.trim().parse().ok().filter(|s| *s > 0)?;
        Some(SaveRule { every: Duration::from_secs(seconds), changes: changes.trim().parse().ok()? })
    }
}

/// When the durable log is synced to disk (`persist.log.fsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFsync {
    /// Every turn's records share one fsync, and the replies of the
    /// commands that wrote them are sent only after it: nothing
    /// acknowledged is lost.
    Always,
    /// Records are written every turn and synced about once a second: a
    /// crash loses at most about a second of acknowledged writes. The
    /// default, as Redis's `appendfsync everysec`.
    #[default]
    EverySec,
    /// Records are written every turn and never synced by ndb: the kernel
    /// decides (typically within 30 s).
    No,
}

impl LogFsync {
    /// Reads `always`, `everysec` or `no`.
    pub fn parse(text: &str) -> Option<LogFsync> {
        match text {
            "always" => Some(LogFsync::Always),
            "everysec" => Some(LogFsync::EverySec),
            "no" => Some(LogFsync::No),
            _ => None,
        }
    }

    /// The setting's name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFsync::Always => "always",
            LogFsync::EverySec => "everysec",
            LogFsync::No => "no",
        }
    }
}

/// The durable log's settings (`persist.log`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSettings {
    /// Record every change under `<persist.path>/log/` and replay it at
    /// start-up (`persist.log.enabled`, `--log`). Default off.
    pub enabled: bool,
    /// When records are synced (`persist.log.fsync`, `--log-fsync`).
    pub fsync: LogFsync,
    /// Cut the log at this byte offset before replaying it
    /// (`--log-truncate-at`): the way out of a log damaged before its last
    /// record, dropping what follows. Default none.
    pub truncate_at: Option<u64>,
    /// Compact once the log since the base has grown by this percentage of
    /// the base (`persist.log.rewritePercent`, `--log-rewrite-percent`, as
    /// Redis's `auto-aof-rewrite-percentage`; 0: never). Default 100.
    pub rewrite_percent: u64,
    /// ... and is at least this many bytes (`persist.log.rewriteMinSize`,
    /// `--log-rewrite-min-size`, as Redis's `auto-aof-rewrite-min-size`).
    /// Default 64 MiB.
    pub rewrite_min_size: u64,
}

/// The default of [`LogSettings::rewrite_percent`].
pub const DEFAULT_REWRITE_PERCENT: u64 = 100;

/// The default of [`LogSettings::rewrite_min_size`]: 64 MiB, Redis's
/// default, so a small store never spends a base write on a few records.
pub const DEFAULT_REWRITE_MIN_SIZE: u64 = 64 << 20;

impl Default for LogSettings {
    fn default() -> LogSettings {
        LogSettings {
            enabled: false,
            fsync: LogFsync::default(),
            truncate_at: None,
            rewrite_percent: DEFAULT_REWRITE_PERCENT,
            rewrite_min_size: DEFAULT_REWRITE_MIN_SIZE,
        }
    }
}

/// The default of [`Config::max_partial_bytes`] (256 MiB).
pub const DEFAULT_MAX_PARTIAL_BYTES: usize = 256 * 1024 * 1024;

impl Config {
    /// Sets the listen address.
    pub fn ip(mut self, ip: impl Into<String>) -> Self {
        self.ip = ip.into();
        self
    }

    /// Sets the port (0 picks a free one).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets the largest request message.
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// Enables or disables saves.
    pub fn persist(mut self, enabled: bool, path: impl Into<PathBuf>) -> Self {
        self.persist_enabled = enabled;
        self.persist_path = path.into();
        self
    }

    /// Turns the durable log on or off, with its fsync policy.
    pub fn log(mut self, enabled: bool, fsync: LogFsync) -> Self {
        self.log.enabled = enabled;
        self.log.fsync = fsync;
        self
    }

    /// Sets the save status numbering.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// Sets the connection limit.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Sets the browser origins allowed to connect.
    pub fn allowed_origins(mut self, origins: Vec<String>) -> Self {
        self.allowed_origins = origins;
        self
    }

    /// Sets the output back-pressure thresholds.
    pub fn output_limits(mut self, pause_bytes: usize, max_bytes: usize) -> Self {
        self.output_pause_bytes = pause_bytes;
        self.max_output_bytes = max_bytes;
        self
    }

    /// Sets the messages served per connection per turn.
    pub fn messages_per_turn(mut self, n: usize) -> Self {
        self.messages_per_turn = n;
        self
    }

    /// Sets the largest upgrade request head.
    pub fn max_head_bytes(mut self, bytes: usize) -> Self {
        self.max_head_bytes = bytes;
        self
    }

    /// Sets the time allowed to complete the upgrade.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets (or with `None` turns off) the idle timeout.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets (or with `None` turns off) the send timeout.
    pub fn send_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// Sets `arrays.maxCapacity`, `arrays.maxResponseSize` and
    /// `lists.maxResponseSize`.
    pub fn container_limits(
        mut self,
        array_max_capacity: u64,
        array_max_response: u64,
        list_max_response: u64,
    ) -> Self {
        self.array_max_capacity = array_max_capacity;
        self.array_max_response_size = array_max_response;
        self.list_max_response_size = list_max_response;
        self
    }

    /// Sets the users allowed to connect (none: no authentication).
    pub fn users(mut self, users: Users) -> Self {
        self.users = users;
        self
    }

    /// Turns protected mode on or off.
    pub fn protected_mode(mut self, on: bool) -> Self {
        self.protected_mode = on;
        self
    }

    /// Serves TLS (`wss://`) with this certificate chain and key.
    pub fn tls(mut self, certificate: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls = Some(TlsFiles { certificate: certificate.into(), key: key.into() });
        self
    }

    /// Sets (or with `None` turns off) the time limit of searches off the
    /// loop.
    pub fn search_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.search_timeout = timeout;
        self
    }

    /// Sets the server-wide cap on unfinished input.
    pub fn max_partial_bytes(mut self, bytes: usize) -> Self {
        self.max_partial_bytes = bytes;
        self
    }

    /// Sets (or with `None` turns off) the memory cap, in bytes.
    pub fn max_memory(mut self, bytes: Option<usize>) -> Self {
        self.max_memory = bytes;
        self
    }

    /// Sets the server-wide cap on searches and other jobs of the search
    /// lane.
    pub fn max_jobs(mut self, jobs: usize) -> Self {
        self.max_jobs = jobs;
        self
    }

    /// Sets the length past which a message is decoded off the loop.
    pub fn decode_off_loop_bytes(mut self, bytes: usize) -> Self {
        self.decode_off_loop_bytes = bytes;
        self
    }

    /// Sets (or with `None` turns off) the message completion timeout.
    pub fn message_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.message_timeout = timeout;
        self
    }

    /// The settings as a config document would give them (what
    /// `SV_CONFIG` reports): every key of [`KNOWN_MEMBERS`], timeouts in
    /// seconds (0 when off), `users` as names and roles only (never a
    /// password or its hash), `tls` as the two paths or `null`, `core`,
    /// `persist.saveOnExit` and `persist.loadOnStart` `null` when unset.
    #[cfg(feature = "introspection")]
    pub fn effective_json(&self) -> String {
        use serde_json::json;
        let secs = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64());
        let users: Vec<Value> = self.users.iter().map(|u| json!({"name": u.name(), "role": u.role().name()})).collect();
        let doc = json!({
            "allowedOrigins": self.allowed_origins,
            "arrays": {
                "maxCapacity": self.array_max_capacity,
                "maxResponseSize": self.array_max_response_size,
            },
            "core": self.core,
            "handshakeTimeout": self.handshake_timeout.as_secs_f64(),
            "idleTimeout": secs(self.idle_timeout),
            "ip": self.ip,
            "lists": {"maxResponseSize": self.list_max_response_size},
            "maxConnections": self.max_connections,
            "maxHeaderBytes": self.max_head_bytes,
            "maxJobs": self.max_jobs,
            "maxMemory": self.max_memory.unwrap_or(0),
            "maxOutputBytes": self.max_output_bytes,
            "maxPartialBytes": self.max_partial_bytes,
            "maxPayload": self.max_payload,
            "messageTimeout": secs(self.message_timeout),
            "messagesPerTurn": self.messages_per_turn,
            "outputPauseBytes": self.output_pause_bytes,
            "persist": {
                "enabled": self.persist_enabled,
                "loadOnStart": self.load_on_start,
                "log": {
                    "enabled": self.log.enabled,
                    "fsync": self.log.fsync.as_str(),
                    "rewriteMinSize": self.log.rewrite_min_size,
                    "rewritePercent": self.log.rewrite_percent,
                },
                "path": self.persist_path.to_string_lossy(),
                "keep": self.save_keep,
                "saveEvery": self.save_every.iter().map(|r| json!({"changes": r.changes, "seconds": r.every.as_secs()}))
                    .collect::<Vec<_>>(),
                "saveName": self.save_name,
                "saveOnExit": self.save_on_exit,
            },
            "port": self.port,
            "protectedMode": self.protected_mode,
            "searchTimeout": secs(self.search_timeout),
            "sendTimeout": secs(self.send_timeout),
            "slowLogLength": self.slow_log_length,
            "slowLogThreshold": secs(self.slow_log_threshold),
            "tls": self.tls.as_ref().map(|t| json!({
                "certificate": t.certificate.to_string_lossy(),
                "key": t.key.to_string_lossy(),
            })),
            "users": users,
            "version": match self.protocol {
                Protocol::V07 => 5,
                Protocol::V09 => 6,
            },
        });
        doc.to_string()
    }

    /// Checks the settings that depend on each other.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the setting to change.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.output_pause_bytes > self.max_output_bytes {
            return Err(ConfigError::field(
                "outputPauseBytes",
                format!(
                    "must not exceed maxOutputBytes ({} > {}; flags --output-pause-bytes, --max-output-bytes)",
                    self.output_pause_bytes, self.max_output_bytes
                ),
            ));
        }
        if !self.save_every.is_empty() && !self.persist_enabled {
            return Err(ConfigError::field(
                "persist.saveEvery",
                "needs persist.enabled: scheduled saves are saves (flags --save-every, --persist)",
            ));
        }
        if self.save_every.len() > MAX_SAVE_RULES {
            return Err(ConfigError::field("persist.saveEvery", format!("holds at most {MAX_SAVE_RULES} rules")));
        }
        if self.tls.is_some() && !cfg!(feature = "tls") {
            return Err(ConfigError::field(
                "tls",
                "this ndb-server was built without TLS support (rebuild with the cargo feature `tls`)",
            ));
        }
        if self.max_partial_bytes < self.max_payload {
            return Err(ConfigError::field(
                "maxPartialBytes",
                format!(
                    "must be at least maxPayload, or no message of that size could arrive ({} < {}; flags \
                     --max-partial-bytes, --max-payload)",
                    self.max_partial_bytes, self.max_payload
                ),
            ));
        }
        Ok(())
    }

    /// Reads a NemesisDB config file over these settings.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file and the field that is wrong.
    pub fn load_file(self, path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let (config, unknown) = self.apply_document(&text).map_err(|e| e.in_file(path))?;
        for warning in unknown {
            log::warn!("config file {}: {warning}", path.display());
        }
        Ok(config)
    }

    /// Applies the members of a config document (JSON with `//` and `/* */`
    /// comments). Unknown members are ignored, as in NemesisDB, with a
    /// warning each (see [`unknown_members`]).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field that is wrong.
    pub fn apply_json(self, text: &str) -> Result<Config, ConfigError> {
        let (config, unknown) = self.apply_document(text)?;
        for warning in unknown {
            log::warn!("config: {warning}");
        }
        Ok(config)
    }

    /// [`Config::apply_json`], returning the warnings about unknown members
    /// instead of logging them.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field that is wrong.
    pub fn apply_document(mut self, text: &str) -> Result<(Config, Vec<String>), ConfigError> {
        let syntax = |problem: String| ConfigError::Syntax { problem, file: None };
        let value: Value =
            serde_json::from_str(&strip_comments(text)).map_err(|e| syntax(format!("not valid JSON: {e}")))?;
        let Value::Object(root) = value else {
            return Err(syntax("must be a JSON object".to_owned()));
        };
        let unknown = unknown_members(&root);
        let doc = Fields { map: &root, prefix: "" };
        let version = doc.uint("version")?;
        self.protocol = match version {
            Some(5) => Protocol::V07,
            Some(6) => Protocol::V09,
            Some(v) => return Err(ConfigError::field("version", format!("must be 5 or 6 (got {v})"))),
            None => return Err(ConfigError::field("version", "is required (5 or 6)")),
        };
        if let Some(core) = doc.uint("core")? {
            self.core = Some(usize::try_from(core).unwrap_or(usize::MAX));
        }
        if let Some(ip) = doc.string("ip")? {
            self.ip = ip.to_owned();
        }
        if let Some(port) = doc.uint("port")? {
            self.port = u16::try_from(port)
                .map_err(|_| ConfigError::field("port", format!("must be at most 65535 (got {port})")))?;
        }
        if let Some(max) = doc.uint("maxPayload")? {
            self.max_payload = check_max_payload("maxPayload", max)?;
        }
        if let Some(persist) = doc.object("persist")? {
            let persist = Fields { map: persist, prefix: "persist." };
            if let Some(enabled) = persist.bool("enabled")? {
                self.persist_enabled = enabled;
            }
            if let Some(path) = persist.string("path")? {
                self.persist_path = PathBuf::from(path);
            }
            if self.persist_enabled && self.persist_path.as_os_str().is_empty() {
                return Err(ConfigError::field("persist.path", "must not be empty when persist.enabled is true"));
            }
            if let Some(name) = persist.string("saveOnExit")? {
                self.save_on_exit = Some(check_save_name("persist.saveOnExit", name)?);
            }
            if let Some(name) = persist.string("loadOnStart")? {
                self.load_on_start = Some(check_save_name("persist.loadOnStart", name)?);
            }
            if let Some(rules) = persist.map.get("saveEvery") {
                self.save_every = parse_save_rules(rules)?;
            }
            if let Some(name) = persist.string("saveName")? {
                self.save_name = check_save_name("persist.saveName", name)?;
            }
            if let Some(keep) = persist.uint("keep")? {
                self.save_keep = usize::try_from(keep)
                    .ok()
                    .filter(|k| *k >= 1)
                    .ok_or_else(|| ConfigError::field("persist.keep", format!("must be at least 1 (got {keep})")))?;
            }
            if let Some(log) = persist.object("log")? {
                let log = Fields { map: log, prefix: "persist.log." };
                if let Some(enabled) = log.bool("enabled")? {
                    self.log.enabled = enabled;
                }
                if let Some(fsync) = log.string("fsync")? {
                    self.log.fsync = LogFsync::parse(fsync).ok_or_else(|| {
                        ConfigError::field(
                            "persist.log.fsync",
                            format!("must be always, everysec or no (got {fsync:?})"),
                        )
                    })?;
                }
                if let Some(n) = log.uint("rewritePercent")? {
                    self.log.rewrite_percent = n;
                }
                match log.map.get("rewriteMinSize") {
                    None => {}
                    Some(Value::String(text)) => {
                        self.log.rewrite_min_size =
                            parse_memory("persist.log.rewriteMinSize", text)?.unwrap_or(0) as u64;
                    }
                    Some(Value::Number(n)) => {
                        let text = n.as_u64().map(|n| n.to_string()).ok_or_else(|| {
                            ConfigError::field(
                                "persist.log.rewriteMinSize",
                                format!("must be a whole number of bytes (got {n})"),
                            )
                        })?;
                        self.log.rewrite_min_size =
                            parse_memory("persist.log.rewriteMinSize", &text)?.unwrap_or(0) as u64;
                    }
                    Some(_) => {
                        return Err(ConfigError::field(
                            "persist.log.rewriteMinSize",
                            "must be a number of bytes or a string such as \"64mb\"",
                        ));
                    }
                }
            }
        }
        // Version 5 has no `arrays` or `lists` sections: its limits stay
        // at the defaults, NemesisDB's shipped values (docs/operations.md).
        if version == Some(6) {
            if let Some(arrays) = doc.object("arrays")? {
                let arrays = Fields { map: arrays, prefix: "arrays." };
                if let Some(n) = arrays.uint("maxCapacity")? {
                    self.array_max_capacity = n;
                }
                if let Some(n) = arrays.uint("maxResponseSize")? {
                    self.array_max_response_size = n;
                }
            }
            if let Some(lists) = doc.object("lists")? {
                let lists = Fields { map: lists, prefix: "lists." };
                if let Some(n) = lists.uint("maxResponseSize")? {
                    self.list_max_response_size = n;
                }
            }
        }
        if let Some(n) = doc.uint("maxConnections")? {
            self.max_connections = check_positive("maxConnections", n)?;
        }
        if let Some(origins) = doc.strings("allowedOrigins")? {
            self.allowed_origins = origins;
        }
        if let Some(n) = doc.uint("outputPauseBytes")? {
            self.output_pause_bytes = check_positive("outputPauseBytes", n)?;
        }
        if let Some(n) = doc.uint("maxOutputBytes")? {
            self.max_output_bytes = check_positive("maxOutputBytes", n)?;
        }
        if let Some(n) = doc.uint("messagesPerTurn")? {
            self.messages_per_turn = check_positive("messagesPerTurn", n)?;
        }
        if let Some(n) = doc.uint("maxHeaderBytes")? {
            self.max_head_bytes = check_max_head_bytes("maxHeaderBytes", n)?;
        }
        if let Some(secs) = doc.number("handshakeTimeout")? {
            self.handshake_timeout = check_timeout("handshakeTimeout", secs)?.ok_or_else(|| {
                ConfigError::field(
                    "handshakeTimeout",
                    format!("must be more than 0 seconds (got {})", seconds_text(secs)),
                )
            })?;
        }
        if let Some(secs) = doc.number("idleTimeout")? {
            self.idle_timeout = check_timeout("idleTimeout", secs)?;
        }
        if let Some(secs) = doc.number("sendTimeout")? {
            self.send_timeout = check_timeout("sendTimeout", secs)?;
        }
        if let Some(users) = doc.array("users")? {
            self.users = read_users(users)?;
        }
        if let Some(on) = doc.bool("protectedMode")? {
            self.protected_mode = on;
        }
        if let Some(tls) = doc.object("tls")? {
            let tls = Fields { map: tls, prefix: "tls." };
            let path = |name: &str| match tls.string(name)? {
                Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
                _ => Err(ConfigError::field(format!("tls.{name}"), "is required: the path of a PEM file")),
            };
            self.tls = Some(TlsFiles { certificate: path("certificate")?, key: path("key")? });
        }
        if let Some(secs) = doc.number("searchTimeout")? {
            self.search_timeout = check_timeout("searchTimeout", secs)?;
        }
        if let Some(n) = doc.uint("maxPartialBytes")? {
            self.max_partial_bytes = check_positive("maxPartialBytes", n)?;
        }
        if let Some(secs) = doc.number("messageTimeout")? {
            self.message_timeout = check_timeout("messageTimeout", secs)?;
        }
        match doc.map.get("maxMemory") {
            None | Some(Value::Null) => {}
            Some(Value::String(text)) => self.max_memory = parse_memory("maxMemory", text)?,
            Some(Value::Number(n)) => {
                let n = n.as_u64().ok_or_else(|| {
                    ConfigError::field("maxMemory", format!("must be a whole number of bytes (got {n})"))
                })?;
                self.max_memory = parse_memory("maxMemory", &n.to_string())?;
            }
            Some(other) => {
                return Err(ConfigError::field(
                    "maxMemory",
                    format!("must be a number of bytes or a string such as \"512mb\" (got {})", json_text(other)),
                ));
            }
        }
        if let Some(n) = doc.uint("maxJobs")? {
            self.max_jobs = check_positive("maxJobs", n)?;
        }
        if let Some(secs) = doc.number("slowLogThreshold")? {
            self.slow_log_threshold = check_timeout("slowLogThreshold", secs)?;
        }
        if let Some(n) = doc.uint("slowLogLength")? {
            self.slow_log_length = check_slow_log_length("slowLogLength", n)?;
        }
        self.validate()?;
        Ok((self, unknown))
    }
}

/// Every member ndb reads from a config file, those of a section as
/// `persist.path` (the members of each user are [`USER_MEMBERS`]). Each has
/// a flag of `ndb-server` too (see `docs/operations.md`).
pub const KNOWN_MEMBERS: [&str; 44] = [
    "version",
    "core",
    "ip",
    "port",
    "maxPayload",
    "persist",
    "persist.enabled",
    "persist.path",
    "persist.saveOnExit",
    "persist.loadOnStart",
    "persist.saveEvery",
    "persist.saveName",
    "persist.keep",
    "persist.log",
    "persist.log.enabled",
    "persist.log.fsync",
    "persist.log.rewritePercent",
    "persist.log.rewriteMinSize",
    "maxConnections",
    "allowedOrigins",
    "outputPauseBytes",
    "maxOutputBytes",
    "messagesPerTurn",
    "maxHeaderBytes",
    "handshakeTimeout",
    "idleTimeout",
    "sendTimeout",
    "searchTimeout",
    "maxPartialBytes",
    "messageTimeout",
    "maxMemory",
    "maxJobs",
    "slowLogThreshold",
    "slowLogLength",
    "users",
    "protectedMode",
    "tls",
    "tls.certificate",
    "tls.key",
    "arrays",
    "arrays.maxCapacity",
    "arrays.maxResponseSize",
    "lists",
    "lists.maxResponseSize",
];

/// The members of each object of `users`.
pub const USER_MEMBERS: [&str; 4] = ["name", "role", "passwordSha256", "password"];

/// Members of NemesisDB config files that ndb reads nothing from, on
/// purpose, and so does not warn about: `sessionsEnabled` (0.6.x; sessions
/// are always on).
pub const NEMESISDB_MEMBERS: [&str; 1] = ["sessionsEnabled"];

/// The sections only a version 6 file has (NemesisDB 0.7.4 has no arrays
/// or lists): in a version 5 file they are ignored, with a warning.
const VERSION_6_SECTIONS: [&str; 2] = ["arrays", "lists"];

/// One warning per member of `root` (and of its `persist`, `tls`,
/// `arrays` and `lists` objects, and of each user) that ndb does not know
/// and NemesisDB does not define either, naming it and the nearest known
/// member:
/// `unknown member "maxPayLoad" ignored (the nearest known one is "maxPayload")`;
/// and one per version 6 section (`arrays`, `lists`) of a version 5 file,
/// which ignores them.
pub fn unknown_members(root: &Map<String, Value>) -> Vec<String> {
    let top: Vec<&str> = KNOWN_MEMBERS.iter().copied().filter(|m| !m.contains(['.', '['])).collect();
    let in_section = |section: &str| -> Vec<&'static str> {
        KNOWN_MEMBERS.iter().filter_map(|m| m.strip_prefix(section)?.strip_prefix('.')).collect()
    };
    let mut warnings = Vec::new();
    let mut check = |map: &Map<String, Value>, prefix: &str, known: &[&str]| {
        for name in map.keys() {
            if known.contains(&name.as_str()) || (prefix.is_empty() && NEMESISDB_MEMBERS.contains(&name.as_str())) {
                continue;
            }
            let nearest = known.iter().min_by_key(|k| distance(&fold(name), &fold(k))).copied().unwrap_or("");
            warnings.push(format!(
                "unknown member \"{prefix}{name}\" ignored (the nearest known one is \"{prefix}{nearest}\")"
            ));
        }
    };
    check(root, "", &top);
    let version_5 = root.get("version").and_then(Value::as_u64) == Some(5);
    for section in ["persist", "tls", "arrays", "lists"] {
        if let Some(Value::Object(map)) = root.get(section) {
            if version_5 && VERSION_6_SECTIONS.contains(&section) {
                continue;
            }
            check(map, &format!("{section}."), &in_section(section));
        }
    }
    if let Some(Value::Object(log)) = root.get("persist").and_then(|persist| persist.get("log")) {
        check(log, "persist.log.", &in_section("persist.log"));
    }
    if let Some(Value::Array(users)) = root.get("users") {
        for (i, user) in users.iter().enumerate() {
            if let Value::Object(map) = user {
                check(map, &format!("users[{i}]."), &USER_MEMBERS);
            }
        }
    }
    if version_5 {
        for section in VERSION_6_SECTIONS.iter().filter(|s| root.contains_key(**s)) {
            warnings.push(format!(
                "member \"{section}\" ignored: version 5 files have no arrays or lists sections (use \"version\": 6, \
                 or the flags --array-max-capacity, --array-max-response-size, --list-max-response-size)"
            ));
        }
    }
    warnings
}

/// A member name compared without case, `_` or `-`: `idle_timeout` is
/// `idleTimeout` misspelled.
fn fold(name: &str) -> Vec<char> {
    name.chars().filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect()
}

/// The edit distance of two short names (two rows of the classic table).
fn distance(a: &[char], b: &[char]) -> usize {
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// Checks a slow-log length given in the setting `field`: 0 (off) to
/// [`MAX_SLOW_LOG_LENGTH`].
///
/// # Errors
/// A [`ConfigError::Field`] naming `field`.
pub fn check_slow_log_length(field: &str, n: u64) -> Result<usize, ConfigError> {
    usize::try_from(n)
        .ok()
        .filter(|n| *n <= MAX_SLOW_LOG_LENGTH)
        .ok_or_else(|| ConfigError::field(field, format!("must be from 0 to {MAX_SLOW_LOG_LENGTH} entries (got {n})")))
}

/// Reads the `users` array: each member an object with `name`, `role`
/// and either `passwordSha256` or (for development) `password`.
/// Without the `auth` feature, a non-empty array is refused.
fn read_users(items: &[Value]) -> Result<Users, ConfigError> {
    if !cfg!(feature = "auth") && !items.is_empty() {
        return Err(ConfigError::field("users", crate::auth::NO_AUTH));
    }
    let mut users = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("users[{i}]");
        let Value::Object(map) = item else {
            return Err(ConfigError::field(
                &prefix,
                format!("must be an object with name, role and passwordSha256 (got {})", json_text(item)),
            ));
        };
        let field = |name: &str| -> Result<Option<&str>, ConfigError> {
            match map.get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(other) => Err(ConfigError::field(
                    format!("{prefix}.{name}"),
                    format!("must be a string (got {})", json_text(other)),
                )),
            }
        };
        let required =
            |name: &str| field(name)?.ok_or_else(|| ConfigError::field(format!("{prefix}.{name}"), "is required"));
        let name = required("name")?;
        let role_name = required("role")?;
        let role = Role::from_name(role_name).ok_or_else(|| {
            ConfigError::field(format!("{prefix}.role"), format!("must be read, write or admin (got {role_name:?})"))
        })?;
        let user = match (field("passwordSha256")?, field("password")?) {
            (Some(hex), None) => {
                let hash = parse_sha256_hex(hex).ok_or_else(|| {
                    ConfigError::field(
                        format!("{prefix}.passwordSha256"),
                        format!("{HEX_PROBLEM} (got {} characters)", hex.len()),
                    )
                })?;
                User::new(name, hash, role)
            }
            (None, Some(password)) => User::with_password(name, password, role),
            (Some(_), Some(_)) => {
                return Err(ConfigError::field(prefix, "give passwordSha256 or password, not both"));
            }
            (None, None) => {
                return Err(ConfigError::field(format!("{prefix}.passwordSha256"), "is required"));
            }
        };
        users.push(user.map_err(|e| ConfigError::field(format!("{prefix}.name"), e))?);
    }
    Users::new(users).map_err(|e| ConfigError::field("users", e))
}

/// Checks a save name given in the setting `field` (`persist.saveOnExit`,
/// `--loadName`): not empty, not `.`, and without `/`, `\`, `..` or a NUL
/// byte, so that it is always one directory of its own inside the persist
/// path.
///
/// # Errors
/// A [`ConfigError::Field`] naming `field`.
pub fn check_save_name(field: &str, name: &str) -> Result<String, ConfigError> {
    if crate::protocol::is_valid_save_name(name) {
        Ok(name.to_owned())
    } else {
        Err(ConfigError::field(
            field,
            format!("must be a save name: not empty, not \".\", without /, \\, .. or NUL (got {name:?})"),
        ))
    }
}

/// Reads `persist.saveEvery`: one `{"seconds": S, "changes": C}` object
/// or an array of them.
///
/// # Errors
/// A [`ConfigError::Field`] naming the member at fault.
fn parse_save_rules(value: &Value) -> Result<Vec<SaveRule>, ConfigError> {
    let field = "persist.saveEvery";
    let rule = |i: usize, item: &Value| {
        let at = |what: &str| ConfigError::field(field, format!("rule {i}: {what}"));
        let Value::Object(map) = item else {
            return Err(at("must be an object {\"seconds\": S, \"changes\": C}"));
        };
        if let Some(other) = map.keys().find(|k| !matches!(k.as_str(), "seconds" | "changes")) {
            return Err(at(&format!("unknown member {other:?} (the members are \"seconds\" and \"changes\")")));
        }
        let seconds = map.get("seconds").and_then(Value::as_u64).filter(|s| *s > 0);
        let seconds = seconds.ok_or_else(|| at("\"seconds\" must be a whole number of seconds, at least 1"))?;
        let changes = map.get("changes").map_or(Some(0), Value::as_u64);
        let changes = changes.ok_or_else(|| at("\"changes\" must be a non-negative integer"))?;
        Ok(SaveRule { every: Duration::from_secs(seconds), changes })
    };
    match value {
        Value::Array(items) => items.iter().enumerate().map(|(i, item)| rule(i, item)).collect(),
        Value::Object(_) => Ok(vec![rule(0, value)?]),
        _ => Err(ConfigError::field(field, "must be an object {\"seconds\": S, \"changes\": C} or an array of them")),
    }
}

/// Checks a `maxPayload` value given in the setting `field`.
///
/// # Errors
/// A [`ConfigError::Field`] naming `field`.
pub fn check_max_payload(field: &str, bytes: u64) -> Result<usize, ConfigError> {
    usize::try_from(bytes).ok().filter(|b| (MIN_MAX_PAYLOAD..=MAX_MAX_PAYLOAD).contains(b)).ok_or_else(|| {
        ConfigError::field(field, format!("must be from {MIN_MAX_PAYLOAD} to {MAX_MAX_PAYLOAD} bytes (got {bytes})"))
    })
}

/// Smallest `maxHeaderBytes` accepted: room for any real upgrade request.
pub const MIN_MAX_HEAD_BYTES: usize = 1024;
/// Largest `maxHeaderBytes` accepted (1 MiB).
pub const MAX_MAX_HEAD_BYTES: usize = 1024 * 1024;

/// Checks a `maxHeaderBytes` value given in the setting `field`.
///
/// # Errors
/// A [`ConfigError::Field`] naming `field`.
pub fn check_max_head_bytes(field: &str, bytes: u64) -> Result<usize, ConfigError> {
    usize::try_from(bytes).ok().filter(|b| (MIN_MAX_HEAD_BYTES..=MAX_MAX_HEAD_BYTES).contains(b)).ok_or_else(|| {
        ConfigError::field(
            field,
            format!("must be from {MIN_MAX_HEAD_BYTES} to {MAX_MAX_HEAD_BYTES} bytes (got {bytes})"),
        )
    })
}

/// Checks a timeout in seconds given in the setting `field` (fractions
/// allowed, millisecond precision): `None` for 0 (off).
///
/// # Errors
/// A [`ConfigError::Field`] naming `field`.
pub fn check_timeout(field: &str, secs: f64) -> Result<Option<Duration>, ConfigError> {
    if !(0.0..=MAX_TIMEOUT_SECS as f64).contains(&secs) {
        let got = seconds_text(secs);
        return Err(ConfigError::field(field, format!("must be from 0 to {MAX_TIMEOUT_SECS} seconds (got {got})")));
    }
    let ms = (secs * 1000.0).round() as u64;
    Ok((ms > 0).then(|| Duration::from_millis(ms)))
}

/// A number of seconds as an error message shows it (`0`, `-0.5`, `1e300`,
/// `NaN`), written by serde_json's float writer (linked anyway) rather than
/// `f64`'s `Display`, which would add about 14 KB of formatting code to
/// every build.
fn seconds_text(secs: f64) -> String {
    match serde_json::Number::from_f64(secs) {
        Some(number) => {
            let text = number.to_string();
            text.strip_suffix(".0").map_or(text.clone(), str::to_owned)
        }
        None if secs.is_nan() => "NaN".to_owned(),
        None if secs > 0.0 => "inf".to_owned(),
        None => "-inf".to_owned(),
    }
}

/// Reads a memory size: bytes, or a whole number with a `kb`, `mb` or `gb`
/// suffix (powers of 1,024, any case, spaces allowed before it); `0`
/// means unlimited (`None`).
///
/// # Errors
/// A [`ConfigError`] for `field` naming what is wrong.
pub fn parse_memory(field: &str, text: &str) -> Result<Option<usize>, ConfigError> {
    let problem = || {
        ConfigError::field(
            field,
            format!(
                "must be a number of bytes, optionally with kb, mb or gb (such as 512mb; 0: unlimited; got {text:?})"
            ),
        )
    };
    let lower = text.trim().to_ascii_lowercase();
    let (digits, unit) = match lower.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&lower[..i], lower[i..].trim()),
        None => (&lower[..], ""),
    };
    let shift = match unit {
        "" | "b" => 0,
        "k" | "kb" => 10,
        "m" | "mb" => 20,
        "g" | "gb" => 30,
        _ => return Err(problem()),
    };
    let n: u64 = digits.parse().map_err(|_| problem())?;
    let bytes = n.checked_mul(1 << shift).and_then(|b| usize::try_from(b).ok()).ok_or_else(problem)?;
    Ok((bytes != 0).then_some(bytes))
}

/// Checks a count or size given in the setting `field` that must be
/// positive.
///
/// # Errors
/// A [`ConfigError::Field`] naming `field`.
pub fn check_positive(field: &str, n: u64) -> Result<usize, ConfigError> {
    usize::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ConfigError::field(field, format!("must be a positive integer (got {n})")))
}

/// Typed access to the members of one config object.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: &'static str,
}

/// A value as an error message shows it: `Value`'s `Display` without its
/// pretty-printing branch (`{:#}`), which would link a second serializer of
/// `Value` for these messages alone.
fn json_text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

impl<'a> Fields<'a> {
    fn wrong(&self, name: &str, expected: &str, got: &Value) -> ConfigError {
        let got = json_text(got);
        ConfigError::field(format!("{}{name}", self.prefix), format!("must be {expected} (got {got})"))
    }

    fn uint(&self, name: &str) -> Result<Option<u64>, ConfigError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) if n.is_u64() => Ok(n.as_u64()),
            Some(other) => Err(self.wrong(name, "a non-negative integer", other)),
        }
    }

    fn number(&self, name: &str) -> Result<Option<f64>, ConfigError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(other) => Err(self.wrong(name, "a number of seconds", other)),
        }
    }

    fn bool(&self, name: &str) -> Result<Option<bool>, ConfigError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.wrong(name, "true or false", other)),
        }
    }

    fn string(&self, name: &str) -> Result<Option<&'a str>, ConfigError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(name, "a string", other)),
        }
    }

    fn object(&self, name: &str) -> Result<Option<&'a Map<String, Value>>, ConfigError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Object(o)) => Ok(Some(o)),
            Some(other) => Err(self.wrong(name, "an object", other)),
        }
    }

    fn array(&self, name: &str) -> Result<Option<&'a [Value]>, ConfigError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(self.wrong(name, "an array", other)),
        }
    }

    fn strings(&self, name: &str) -> Result<Option<Vec<String>>, ConfigError> {
        match self.map.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str().map(str::to_owned).ok_or_else(|| self.wrong(name, "an array of strings", item))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(self.wrong(name, "an array of strings", other)),
        }
    }
}

/// Replaces `//` and `/* */` comments outside strings with spaces, keeping
/// line breaks so parse errors point at the right line.
fn strip_comments(text: &str) -> String {
    #[derive(PartialEq)]
    enum State {
        Code,
        Str,
        StrEscape,
        Line,
        Block,
        BlockStar,
    }
    let mut out = String::with_capacity(text.len());
    let mut state = State::Code;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let keep = match state {
            State::Code if c == '"' => {
                state = State::Str;
                true
            }
            State::Code if c == '/' && matches!(chars.peek(), Some('/' | '*')) => {
                state = if chars.next() == Some('/') { State::Line } else { State::Block };
                out.push(' ');
                false
            }
            State::Code => true,
            State::Str if c == '\\' => {
                state = State::StrEscape;
                true
            }
            State::Str if c == '"' => {
                state = State::Code;
                true
            }
            State::Str => true,
            State::StrEscape => {
                state = State::Str;
                true
            }
            State::Line if c == '\n' => {
                state = State::Code;
                true
            }
            State::Line => false,
            State::Block | State::BlockStar if c == '/' && state == State::BlockStar => {
                state = State::Code;
                false
            }
            State::Block | State::BlockStar => {
                state = if c == '*' { State::BlockStar } else { State::Block };
                false
            }
        };
        out.push(if keep || c == '\n' { c } else { ' ' });
    }
    out
}

#[cfg(test)]
mod tests;
