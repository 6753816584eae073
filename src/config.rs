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
    /// The durable log of every change (`persist.log`, `--log`). Default
    /// off: ndb then behaves and performs as without it.
    pub log: LogSettings,
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
}

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
            log: LogSettings::default(),
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
        }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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

    /// Sets (or with `None` turns off) the message completion timeout.
    pub fn message_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.message_timeout = timeout;
        self
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
        self.apply_json(&text).map_err(|e| e.in_file(path))
    }

    /// Applies the members of a config document (JSON with `//` and `/* */`
    /// comments). Unknown members are ignored, as in NemesisDB.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field that is wrong.
    pub fn apply_json(mut self, text: &str) -> Result<Config, ConfigError> {
        let syntax = |problem: String| ConfigError::Syntax { problem, file: None };
        let value: Value =
            serde_json::from_str(&strip_comments(text)).map_err(|e| syntax(format!("not valid JSON: {e}")))?;
        let Value::Object(root) = value else {
            return Err(syntax("must be a JSON object".to_owned()));
        };
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
                ConfigError::field("handshakeTimeout", format!("must be more than 0 seconds (got {secs})"))
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
                    format!("must be a number of bytes or a string such as \"512mb\" (got {other})"),
                ));
            }
        }
        if let Some(n) = doc.uint("maxJobs")? {
            self.max_jobs = check_positive("maxJobs", n)?;
        }
        self.validate()?;
        Ok(self)
    }
}

/// Reads the `users` array: each member an object with `name`, `role`
/// and either `passwordSha256` or (for development) `password`.
fn read_users(items: &[Value]) -> Result<Users, ConfigError> {
    let mut users = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("users[{i}]");
        let Value::Object(map) = item else {
            return Err(ConfigError::field(
                &prefix,
                format!("must be an object with name, role and passwordSha256 (got {item})"),
            ));
        };
        let field = |name: &str| -> Result<Option<&str>, ConfigError> {
            match map.get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(other) => {
                    Err(ConfigError::field(format!("{prefix}.{name}"), format!("must be a string (got {other})")))
                }
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
        return Err(ConfigError::field(field, format!("must be from 0 to {MAX_TIMEOUT_SECS} seconds (got {secs})")));
    }
    let ms = (secs * 1000.0).round() as u64;
    Ok((ms > 0).then(|| Duration::from_millis(ms)))
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

impl<'a> Fields<'a> {
    fn wrong(&self, name: &str, expected: &str, got: &Value) -> ConfigError {
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
