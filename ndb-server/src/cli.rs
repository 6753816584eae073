//! The `ndb-server` command line: flags over a config file over built-in
//! defaults, checked with the library's own config checks.
//!
//! Owns: flag names, their parsing and the help text. Must not touch:
//! sockets, the store.

use std::ffi::OsString;
use std::path::PathBuf;

use lexopt::prelude::*;

use ndb::config::{
    LogFsync, SaveRule, TlsFiles, check_max_head_bytes, check_max_payload, check_positive, check_save_name,
    check_slow_log_length, check_timeout, parse_memory,
};
use ndb::{Config, ConfigError, Protocol, User};

/// Why the command line cannot be run.
#[derive(Debug)]
pub enum CliError {
    /// The arguments are not well formed: an unknown flag, a missing value.
    Usage(String),
    /// A flag or the config file holds a setting that cannot be used.
    Config(ConfigError),
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Usage(problem) => write!(f, "{problem}; see --help"),
            CliError::Config(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CliError::Usage(_) => None,
            // Transparent: the config error's own text is this one's.
            CliError::Config(e) => e.source(),
        }
    }
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> CliError {
        CliError::Config(e)
    }
}

/// The help text of `ndb-server --help`.
pub const HELP: &str = "\
ndb-server: an in-memory JSON key-value and session store speaking the
NemesisDB WebSocket protocol.

Usage: ndb-server [OPTIONS]

With no options it listens on ws://127.0.0.1:1987/ with built-in defaults.

Options:
      --config <FILE>        read a NemesisDB config file (version 5 or 6);
                             flags below override it
      --ip <ADDRESS>         address to listen on [default: 127.0.0.1]
      --port <PORT>          port to listen on [default: 1987]
      --max-payload <BYTES>  largest request message, 64 to 67108864
                             [default: 1048576]
      --protocol <0.7|0.9>   save status numbering: 0.7 (save success 121,
                             the 0.7.4 Python client) or 0.9 (120, the KV
                             class client) [default: 0.7, or 0.9 with a
                             version 6 config file]
      --core <N>             pin the server thread to CPU core N
                             [default: config core, or unpinned]

Limits (see docs/operations.md; timeouts in seconds, fractions allowed):
      --max-connections <N>  open connections; past it, HTTP 503
                             [default: 10000]
      --allowed-origins <A,B>
                             browser origins allowed to connect; a request
                             with any other Origin gets HTTP 403, one with
                             none is accepted [default: none]
      --max-header-bytes <BYTES>
                             largest upgrade request head, 1024 to 1048576;
                             bigger gets HTTP 431 [default: 8192]
      --handshake-timeout <SECS>
                             time to complete the upgrade [default: 10]
      --idle-timeout <SECS>  close (1001) a connection silent this long;
                             0 is off [default: 0]
      --send-timeout <SECS>  close (1008) a connection that takes none of
                             its pending replies this long; 0 is off
                             [default: 60]
      --search-timeout <SECS>
                             a KV_FIND search off the loop that takes this
                             much CPU time answers 203; 0 is off
                             [default: 5]
      --output-pause-bytes <BYTES>
                             stop reading a connection while this much
                             output waits for it [default: 1048576]
      --max-output-bytes <BYTES>
                             close (1008) a connection once this much
                             output waits for it [default: 16777216]
      --messages-per-turn <N>
                             messages served per connection per loop turn
                             [default: 64]
      --max-partial-bytes <BYTES>
                             input all connections together may hold in
                             unfinished messages; past it, those holding the
                             most are closed (1008); at least --max-payload
                             [default: 268435456]
      --message-timeout <SECS>
                             close (1008) a connection that started a
                             message and has not finished it this long after;
                             0 is off [default: 30]
      --max-memory <BYTES>   refuse commands that add data (204) while
                             what ndb holds (keys, sessions, buffers,
                             snapshots; not RSS) reaches this; kb, mb or gb
                             suffixes; 0 is unlimited [default: 0]
      --max-jobs <N>         searches, large edits and list snapshots queued
                             or running at once; past it, 201 [default: 16]

Arrays and lists (any config version; see docs/operations.md):
      --array-max-capacity <N>
                             largest capacity an array CREATE accepts
                             [default: config arrays.maxCapacity, or 10000]
      --array-max-response-size <N>
                             most items one array GET_RNG returns
                             [default: config arrays.maxResponseSize, or
                             10000]
      --list-max-response-size <N>
                             most items one OLST_GET_RNG returns
                             [default: config lists.maxResponseSize, or
                             10000]

Introspection (SV_SLOWLOG, see docs/operations.md):
      --slow-log-threshold <SECS>
                             log requests whose latency reaches this; 0 is
                             off [default: 0.01]
      --slow-log-length <N>  entries the slow-request log keeps, 0 to 10000
                             [default: 128]

Running exposed (see docs/operations.md, Running exposed):
      --user <NAME:ROLE:SHA256HEX>
                             let NAME connect with HTTP Basic credentials
                             (ws://NAME:PASSWORD@host:port/) as ROLE (read,
                             write or admin); SHA256HEX is the password's
                             SHA-256 (printf %s PASSWORD | sha256sum);
                             repeat for more users [default: config users,
                             or none: no authentication]
      --protected-mode <yes|no>
                             refuse to listen on an address other than
                             loopback while no user is configured
                             [default: yes]
      --tls-cert <FILE>      serve wss:// with this PEM certificate chain
      --tls-key <FILE>       and this PEM private key; SIGHUP reloads both
                             [default: config tls, or plain ws://]

Persistence (see docs/persistence.md):
      --persist-path <DIR>   where saves go [default: config persist.path,
                             or ./data]
      --persist-enabled <yes|no>
                             allow KV_SAVE and SH_SAVE [default: yes]
      --load-on-start <NAME> load the newest complete save named NAME before
                             serving if there is one, start empty if there
                             is none; exits 1 if it is damaged
                             [default: config persist.loadOnStart, or none]
      --loadName <NAME>      load the newest complete save named NAME before
                             serving (a KV save, a session save, or both);
                             exits 1 if there is none or it is damaged
      --loadPath <DIR>       where to find NAME [default: the persist path]
      --save-on-exit <NAME>  on SIGINT/SIGTERM, after closing clients, save
                             every key and every session under NAME, unless
                             nothing changed since start
                             [default: config persist.saveOnExit, or none]
      --save-every <SECONDS:CHANGES>
                             save every key and every session under the
                             --save-name once SECONDS have passed since the
                             last scheduled save with at least CHANGES
                             changes (repeat for several rules)
                             [default: config persist.saveEvery, or none]
      --save-name <NAME>     the name of scheduled saves
                             [default: config persist.saveName, or auto]
      --save-keep <N>        scheduled saves kept of each kind, the newest
                             [default: config persist.keep, or 5]
      --check-save <PATH>    check the saves under PATH (a persist path, a
                             save name's directory or one save) without
                             starting a server; exit 0 if all are sound,
                             2 if one is damaged, 1 if PATH holds no save
      --log                  record every change in a durable log under the
                             persist path and replay it at start-up
                             [default: config persist.log.enabled, or off]
      --log-fsync <POLICY>   always (a write is answered once on disk),
                             everysec (lose at most about 1 s), or no
                             [default: config persist.log.fsync, or everysec]
      --log-truncate-at <OFFSET>
                             cut a damaged log at this byte offset before
                             replaying it (what follows is lost; the refusal
                             to start names the offset)
      --log-rewrite-percent <PCT>
                             compact the log into a new base once it has
                             grown by PCT % of the last base (0: never)
                             [default: config persist.log.rewritePercent, or 100]
      --log-rewrite-min-size <BYTES>
                             ... and only once it holds at least BYTES (kb,
                             mb, gb suffixes)
                             [default: config persist.log.rewriteMinSize, or 64mb]

  -h, --help                 print this help
  -V, --version              print the version

Logging: RUST_LOG=debug (default info) and RUST_LOG_STYLE=never for plain
output. SIGINT or SIGTERM closes every client (code 1001) and exits 0.
SIGHUP reloads the TLS certificate and key; open connections stay.

Examples:
  ndb-server
  ndb-server --port 2000 --max-payload 65536
  ndb-server --config server.jsonc --ip 0.0.0.0
";

/// What the command line asks for.
#[derive(Debug)]
pub enum Action {
    /// Run a server.
    Run(Box<Options>),
    /// Print [`HELP`].
    Help,
    /// Print the version.
    Version,
    /// Check the saves under a path (`--check-save`) and exit.
    CheckSave(PathBuf),
}

/// The settings of a run.
#[derive(Debug)]
pub struct Options {
    /// The settings to run with.
    pub config: Config,
    /// Where the settings came from, for the start-up log line.
    pub source: String,
    /// A save to load before serving (`--loadName`, or `--load-on-start`).
    pub load: Option<LoadAtStart>,
}

/// What `--loadName` and `--loadPath` ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadAtStart {
    /// The save's name (a valid save name).
    pub name: String,
    /// Where to find it; the persist path when `None`.
    pub path: Option<PathBuf>,
    /// Start empty when the name holds no save (`--load-on-start`,
    /// `persist.loadOnStart`) instead of stopping (`--loadName`).
    pub if_present: bool,
}

/// Parses the arguments (without the program name).
///
/// # Errors
/// [`CliError::Usage`], or a [`ConfigError`] naming the flag or config
/// field that is wrong.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Action, CliError> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut config_file: Option<PathBuf> = None;
    let mut ip = None;
    let mut port = None;
    let mut max_payload = None;
    let mut protocol = None;
    let mut limits = Vec::new();
    let (mut load_name, mut load_path, mut save_on_exit) = (None, None, None);
    let (mut log_on, mut log_fsync, mut log_truncate_at) = (false, None, None);
    let (mut log_rewrite_percent, mut log_rewrite_min_size) = (None, None);
    let (mut save_every, mut save_name, mut save_keep) = (Vec::new(), None, None);
    let (mut users, mut protected_mode, mut tls_cert, mut tls_key) = (Vec::new(), None, None, None);
    let (mut core, mut persist_path, mut persist_enabled, mut load_on_start) = (None, None, None, None);
    while let Some(arg) = parser.next().map_err(flag_error)? {
        match arg {
            Long("check-save") => return Ok(Action::CheckSave(PathBuf::from(parser.value().map_err(flag_error)?))),
            Long("core") => {
                let value = string(&mut parser, "--core")?;
                core = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| ConfigError::field("--core", format!("must be a core number (got {value:?})")))?,
                );
            }
            Long("persist-path") => persist_path = Some(PathBuf::from(parser.value().map_err(flag_error)?)),
            Long("persist-enabled") => persist_enabled = Some(yes_no(&mut parser, "--persist-enabled")?),
            Long("load-on-start") => {
                let name = string(&mut parser, "--load-on-start")?;
                load_on_start = Some(check_save_name("--load-on-start", &name)?);
            }
            Long("user") => {
                let value = string(&mut parser, "--user")?;
                users.push(User::from_flag(&value).map_err(|e| ConfigError::field("--user", e))?);
            }
            Long("protected-mode") => protected_mode = Some(yes_no(&mut parser, "--protected-mode")?),
            Long("tls-cert") => tls_cert = Some(PathBuf::from(parser.value().map_err(flag_error)?)),
            Long("tls-key") => tls_key = Some(PathBuf::from(parser.value().map_err(flag_error)?)),
            Long(flag) if LIMIT_FLAGS.contains(&flag) => {
                let flag = format!("--{flag}");
                let value = string(&mut parser, &flag)?;
                limits.push(limit(&flag, &value)?);
            }
            Long("loadName") => {
                let name = string(&mut parser, "--loadName")?;
                load_name = Some(check_save_name("--loadName", &name)?);
            }
            Long("loadPath") => load_path = Some(PathBuf::from(parser.value().map_err(flag_error)?)),
            Long("save-on-exit") => {
                let name = string(&mut parser, "--save-on-exit")?;
                save_on_exit = Some(check_save_name("--save-on-exit", &name)?);
            }
            Long("save-every") => {
                let value = string(&mut parser, "--save-every")?;
                save_every.push(SaveRule::parse(&value).ok_or_else(|| {
                    ConfigError::field(
                        "--save-every",
                        format!("must be SECONDS:CHANGES, SECONDS at least 1 (got {value:?})"),
                    )
                })?);
            }
            Long("save-name") => {
                let name = string(&mut parser, "--save-name")?;
                save_name = Some(check_save_name("--save-name", &name)?);
            }
            Long("save-keep") => {
                let value = string(&mut parser, "--save-keep")?;
                save_keep = Some(value.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    ConfigError::field("--save-keep", format!("must be a whole number, at least 1 (got {value:?})"))
                })?);
            }
            Long("log") => log_on = true,
            Long("log-fsync") => {
                let value = string(&mut parser, "--log-fsync")?;
                log_fsync = Some(LogFsync::parse(&value).ok_or_else(|| {
                    ConfigError::field("--log-fsync", format!("must be always, everysec or no (got {value:?})"))
                })?);
            }
            Long("log-rewrite-percent") => {
                let value = string(&mut parser, "--log-rewrite-percent")?;
                log_rewrite_percent = Some(value.parse::<u64>().map_err(|_| {
                    ConfigError::field("--log-rewrite-percent", format!("must be a whole percentage (got {value:?})"))
                })?);
            }
            Long("log-rewrite-min-size") => {
                let value = string(&mut parser, "--log-rewrite-min-size")?;
                let bytes = parse_memory("--log-rewrite-min-size", &value)?;
                log_rewrite_min_size = Some(bytes.unwrap_or(0) as u64);
            }
            Long("log-truncate-at") => {
                let value = string(&mut parser, "--log-truncate-at")?;
                log_truncate_at = Some(value.parse::<u64>().map_err(|_| {
                    ConfigError::field("--log-truncate-at", format!("must be a byte offset (got {value:?})"))
                })?);
            }
            Long("config") => config_file = Some(parser.value().map_err(flag_error)?.into()),
            Long("ip") => ip = Some(string(&mut parser, "--ip")?),
            Long("port") => {
                let value = string(&mut parser, "--port")?;
                port = Some(value.parse::<u16>().map_err(|_| {
                    ConfigError::field("--port", format!("must be a port number from 0 to 65535 (got {value:?})"))
                })?);
            }
            Long("max-payload") => {
                let value = string(&mut parser, "--max-payload")?;
                let bytes = value.parse::<u64>().map_err(|_| {
                    ConfigError::field("--max-payload", format!("must be a number of bytes (got {value:?})"))
                })?;
                max_payload = Some(check_max_payload("--max-payload", bytes)?);
            }
            Long("protocol") => {
                protocol = Some(match string(&mut parser, "--protocol")?.as_str() {
                    "0.7" => Protocol::V07,
                    "0.9" => Protocol::V09,
                    other => {
                        let problem = format!("must be 0.7 or 0.9 (got {other:?})");
                        return Err(ConfigError::field("--protocol", problem).into());
                    }
                });
            }
            Short('h') | Long("help") => return Ok(Action::Help),
            Short('V') | Long("version") => return Ok(Action::Version),
            other => return Err(CliError::Usage(other.unexpected().to_string())),
        }
    }
    let (mut config, source) = match &config_file {
        Some(path) => (Config::default().load_file(path)?, format!("config file {}", path.display())),
        None => (Config::default(), "built-in defaults".to_owned()),
    };
    if let Some(ip) = ip {
        config.ip = ip;
    }
    if let Some(port) = port {
        config.port = port;
    }
    if let Some(bytes) = max_payload {
        config.max_payload = bytes;
    }
    if let Some(protocol) = protocol {
        config.protocol = protocol;
    }
    if core.is_some() {
        config.core = core;
    }
    if let Some(path) = persist_path {
        config.persist_path = path;
    }
    if let Some(on) = persist_enabled {
        config.persist_enabled = on;
    }
    if config.persist_enabled && config.persist_path.as_os_str().is_empty() {
        return Err(ConfigError::field("--persist-path", "must not be empty while saves are enabled").into());
    }
    let load_on_start_flag = load_on_start.is_some();
    if load_on_start_flag {
        config.load_on_start = load_on_start;
    }
    config.log.enabled |= log_on;
    if let Some(fsync) = log_fsync {
        config.log.fsync = fsync;
    }
    config.log.truncate_at = log_truncate_at;
    if let Some(percent) = log_rewrite_percent {
        config.log.rewrite_percent = percent;
    }
    if let Some(bytes) = log_rewrite_min_size {
        config.log.rewrite_min_size = bytes;
    }
    if config.log.enabled && config.persist_path.as_os_str().is_empty() {
        return Err(ConfigError::field("--log", "needs a persist path (persist.path)").into());
    }
    if (log_fsync.is_some() || log_truncate_at.is_some()) && !config.log.enabled {
        let flag = if log_fsync.is_some() { "--log-fsync" } else { "--log-truncate-at" };
        return Err(ConfigError::field(flag, "needs --log (or persist.log.enabled true)").into());
    }
    for set in limits {
        set(&mut config);
    }
    for user in users {
        config.users.insert(user);
    }
    if let Some(on) = protected_mode {
        config.protected_mode = on;
    }
    if tls_cert.is_some() || tls_key.is_some() {
        let (certificate, key) = match (tls_cert, tls_key, config.tls.take()) {
            (Some(certificate), Some(key), _) => (certificate, key),
            (certificate, key, Some(files)) => (certificate.unwrap_or(files.certificate), key.unwrap_or(files.key)),
            (Some(_), None, None) => return Err(ConfigError::field("--tls-cert", "needs --tls-key").into()),
            (None, _, None) => return Err(ConfigError::field("--tls-key", "needs --tls-cert").into()),
        };
        config.tls = Some(TlsFiles { certificate, key });
    }
    if !save_every.is_empty() {
        config.save_every = save_every;
    }
    if let Some(name) = save_name {
        config.save_name = name;
    }
    if let Some(keep) = save_keep {
        config.save_keep = keep;
    }
    config.validate()?;
    if save_on_exit.is_some() {
        config.save_on_exit = save_on_exit;
    }
    if config.save_on_exit.is_some() && !config.persist_enabled {
        return Err(ConfigError::field("--save-on-exit", "needs persist.enabled true (saves are disabled)").into());
    }
    let load = match (load_name, load_path) {
        // --loadName wins over persist.loadOnStart (a flag over the file)
        // but not over --load-on-start: two flags asking for two things.
        (Some(_), _) if load_on_start_flag => {
            return Err(ConfigError::field("--load-on-start", "give it or --loadName, not both").into());
        }
        (Some(name), path) => Some(LoadAtStart { name, path, if_present: false }),
        (None, Some(_)) => return Err(ConfigError::field("--loadPath", "needs --loadName").into()),
        (None, None) => config.load_on_start.clone().map(|name| LoadAtStart { name, path: None, if_present: true }),
    };
    Ok(Action::Run(Box::new(Options { config, source, load })))
}

/// `text` as `str::parse::<f64>` reads it: an optional sign, then digits
/// with an optional `.` and fraction (either side may be empty, not both)
/// and an optional exponent, or `inf`, `infinity` or `nan` in any case;
/// `None` for anything else. The number goes through serde_json's reader
/// (rewritten to JSON's spelling: no `+`, no leading zeros, no bare `.`),
/// which the server links anyway, so core's float parser (13 KB with its
/// tables) stays out of the minimal build. Both round exactly for up to 15
/// significant digits and exponents within ±22, so for every number of
/// seconds a flag is given in practice; past `f64`'s range it is infinite.
fn parse_f64(text: &str) -> Option<f64> {
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = if rest.eq_ignore_ascii_case("inf") || rest.eq_ignore_ascii_case("infinity") {
        f64::INFINITY
    } else if rest.eq_ignore_ascii_case("nan") {
        f64::NAN
    } else {
        let (mantissa, exponent) = rest.split_at(rest.find(['e', 'E']).unwrap_or(rest.len()));
        let (int, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let exponent_digits = exponent.get(1..).map(|e| e.strip_prefix(['+', '-']).unwrap_or(e));
        if (int.is_empty() && fraction.is_empty())
            || !digits(int)
            || !digits(fraction)
            || exponent_digits.is_some_and(|e| e.is_empty() || !digits(e))
        {
            return None;
        }
        let int = int.trim_start_matches('0');
        let mut json = String::with_capacity(rest.len() + 1);
        json.push_str(if int.is_empty() { "0" } else { int });
        if !fraction.is_empty() {
            json.push('.');
            json.push_str(fraction);
        }
        json.push_str(exponent);
        // The spelling is JSON's now, so the reader's only refusal is a
        // number past `f64`'s range, which `str::parse` reads as infinite.
        serde_json::from_str(&json).unwrap_or(f64::INFINITY)
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// The flags that set limits (config keys of the same name in camelCase,
/// but for the array and list limits: `arrays.maxCapacity`, ...).
const LIMIT_FLAGS: [&str; 19] = [
    "max-connections",
    "allowed-origins",
    "max-header-bytes",
    "handshake-timeout",
    "idle-timeout",
    "send-timeout",
    "search-timeout",
    "output-pause-bytes",
    "max-output-bytes",
    "messages-per-turn",
    "max-partial-bytes",
    "message-timeout",
    "max-memory",
    "max-jobs",
    "slow-log-threshold",
    "slow-log-length",
    "array-max-capacity",
    "array-max-response-size",
    "list-max-response-size",
];

/// A change to `Config` one limit flag asks for, checked as the config file
/// field of the same name is.
type SetLimit = Box<dyn FnOnce(&mut Config)>;

fn limit(flag: &str, value: &str) -> Result<SetLimit, CliError> {
    let count = || {
        let n = value
            .parse::<u64>()
            .map_err(|_| ConfigError::field(flag, format!("must be a positive integer (got {value:?})")))?;
        check_positive(flag, n)
    };
    let seconds = || {
        let secs = parse_f64(value)
            .ok_or_else(|| ConfigError::field(flag, format!("must be a number of seconds (got {value:?})")))?;
        check_timeout(flag, secs)
    };
    Ok(match flag {
        "--max-connections" => {
            let n = count()?;
            Box::new(move |c| c.max_connections = n)
        }
        "--allowed-origins" => {
            let origins: Vec<String> =
                value.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned).collect();
            Box::new(move |c| c.allowed_origins = origins)
        }
        "--max-header-bytes" => {
            let n = value
                .parse::<u64>()
                .map_err(|_| ConfigError::field(flag, format!("must be a number of bytes (got {value:?})")))?;
            let bytes = check_max_head_bytes(flag, n)?;
            Box::new(move |c| c.max_head_bytes = bytes)
        }
        "--handshake-timeout" => {
            let timeout = seconds()?
                .ok_or_else(|| ConfigError::field(flag, format!("must be more than 0 seconds (got {value:?})")))?;
            Box::new(move |c| c.handshake_timeout = timeout)
        }
        "--idle-timeout" => {
            let timeout = seconds()?;
            Box::new(move |c| c.idle_timeout = timeout)
        }
        "--send-timeout" => {
            let timeout = seconds()?;
            Box::new(move |c| c.send_timeout = timeout)
        }
        "--search-timeout" => {
            let timeout = seconds()?;
            Box::new(move |c| c.search_timeout = timeout)
        }
        "--output-pause-bytes" => {
            let n = count()?;
            Box::new(move |c| c.output_pause_bytes = n)
        }
        "--max-output-bytes" => {
            let n = count()?;
            Box::new(move |c| c.max_output_bytes = n)
        }
        "--max-partial-bytes" => {
            let n = count()?;
            Box::new(move |c| c.max_partial_bytes = n)
        }
        "--message-timeout" => {
            let timeout = seconds()?;
            Box::new(move |c| c.message_timeout = timeout)
        }
        "--max-memory" => {
            let bytes = parse_memory(flag, value)?;
            Box::new(move |c| c.max_memory = bytes)
        }
        "--max-jobs" => {
            let n = count()?;
            Box::new(move |c| c.max_jobs = n)
        }
        "--slow-log-threshold" => {
            let threshold = seconds()?;
            Box::new(move |c| c.slow_log_threshold = threshold)
        }
        "--slow-log-length" => {
            let n = value
                .parse::<u64>()
                .map_err(|_| ConfigError::field(flag, format!("must be a number of entries (got {value:?})")))?;
            let n = check_slow_log_length(flag, n)?;
            Box::new(move |c| c.slow_log_length = n)
        }
        "--array-max-capacity" | "--array-max-response-size" | "--list-max-response-size" => {
            // Any uint, as the config keys take: a capacity of 0 allows
            // only `len: 0`.
            let n = value
                .parse::<u64>()
                .map_err(|_| ConfigError::field(flag, format!("must be an unsigned integer (got {value:?})")))?;
            match flag {
                "--array-max-capacity" => Box::new(move |c| c.array_max_capacity = n),
                "--array-max-response-size" => Box::new(move |c| c.array_max_response_size = n),
                _ => Box::new(move |c| c.list_max_response_size = n),
            }
        }
        _ => {
            let n = count()?;
            Box::new(move |c| c.messages_per_turn = n)
        }
    })
}

/// The value of a `yes|no` flag.
fn yes_no(parser: &mut lexopt::Parser, flag: &str) -> Result<bool, CliError> {
    match string(parser, flag)?.as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        other => Err(ConfigError::field(flag, format!("must be yes or no (got {other:?})")).into()),
    }
}

fn string(parser: &mut lexopt::Parser, flag: &str) -> Result<String, CliError> {
    let value = parser.value().map_err(flag_error)?;
    Ok(value.into_string().map_err(|_| ConfigError::field(flag, "must be valid UTF-8"))?)
}

fn flag_error(e: lexopt::Error) -> CliError {
    CliError::Usage(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn run(args: &[&str]) -> Result<Config, String> {
        match parse(args.iter().map(OsString::from)) {
            Ok(Action::Run(options)) => Ok(options.config),
            Ok(other) => Err(format!("{other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn no_arguments_gives_the_defaults() {
        assert_eq!(run(&[]).unwrap(), Config::default());
    }

    #[test]
    fn scheduled_save_flags() {
        let config =
            run(&["--save-every", "900:1", "--save-every=60:10000", "--save-name", "b", "--save-keep=2"]).unwrap();
        let rules: Vec<(u64, u64)> = config.save_every.iter().map(|r| (r.every.as_secs(), r.changes)).collect();
        assert_eq!(rules, [(900, 1), (60, 10000)]);
        assert_eq!((config.save_name.as_str(), config.save_keep), ("b", 2));
        for (args, error) in [
            (&["--save-every", "60"][..], "--save-every: must be SECONDS:CHANGES"),
            (&["--save-every", "0:1"][..], "--save-every: must be SECONDS:CHANGES"),
            (&["--save-keep", "0"][..], "--save-keep: must be a whole number, at least 1"),
            (&["--save-name", ".."][..], "--save-name: must be a save name"),
            (&["--persist-enabled", "no", "--save-every", "1:1"][..], "persist.saveEvery: needs persist.enabled"),
        ] {
            let err = run(args).unwrap_err();
            assert!(err.contains(error), "{args:?}: {err}");
        }
    }

    #[test]
    fn numbers_read_as_str_parse_reads_them() {
        let texts = [
            "0",
            "1",
            "30",
            "0.5",
            ".5",
            "5.",
            "007",
            "00.25",
            "+2",
            "-1",
            "-0",
            "1e3",
            "1E3",
            "1e+3",
            "2.5e-3",
            "1e05",
            "0.0005",
            "0.001",
            "0.1",
            "86400",
            "1e400",
            "-1e400",
            "1e-400",
            "0e999999999999999999999",
            "123456789012345678901234567890",
            "inf",
            "-Infinity",
            "+INF",
            "NaN",
            "-nan",
            "",
            ".",
            "-",
            "+",
            "e5",
            "1e",
            "1e+",
            "1e+-5",
            "1.2.3",
            "+-5",
            "--5",
            "1_0",
            " 1",
            "1 ",
            "0x10",
            "1f",
            "infinit",
            "nan1",
            "١",
        ];
        for text in texts {
            let ours = parse_f64(text);
            let core = text.parse::<f64>().ok();
            assert_eq!(ours.is_some(), core.is_some(), "{text:?}: {ours:?} / {core:?}");
            if let (Some(a), Some(b)) = (ours, core) {
                assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "{text:?}: {a} / {b}");
            }
        }
        for millis in 0..=10_000u64 {
            let text = format!("{}.{:03}", millis / 1000, millis % 1000);
            assert_eq!(parse_f64(&text), text.parse().ok(), "{text}");
        }
    }

    #[test]
    fn fractional_seconds_in_flags() {
        let config = run(&["--idle-timeout", ".5", "--send-timeout", "+2.", "--handshake-timeout", "1e1"]).unwrap();
        assert_eq!(config.idle_timeout, Some(std::time::Duration::from_millis(500)));
        assert_eq!(config.send_timeout, Some(std::time::Duration::from_secs(2)));
        assert_eq!(config.handshake_timeout, std::time::Duration::from_secs(10));
        let err = run(&["--idle-timeout", "1e400"]).unwrap_err();
        assert!(err.contains("--idle-timeout: must be from 0 to") && err.ends_with("(got inf)"), "{err}");
        let err = run(&["--idle-timeout", "soon"]).unwrap_err();
        assert!(err.contains("--idle-timeout: must be a number of seconds (got \"soon\")"), "{err}");
    }

    #[test]
    fn flags_in_both_spellings() {
        let config = run(&["--port=2000", "--ip", "0.0.0.0", "--max-payload", "4096", "--protocol=0.9"]).unwrap();
        assert_eq!((config.port, config.ip.as_str(), config.max_payload), (2000, "0.0.0.0", 4096));
        assert_eq!(config.protocol, Protocol::V09);
    }

    #[test]
    fn flags_override_the_config_file_wherever_they_appear() {
        let dir = std::env::temp_dir().join(format!("ndb-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.json");
        std::fs::write(&file, r#"{"version":6,"port":1111,"maxPayload":2048}"#).unwrap();
        let config = run(&["--port", "2222", &format!("--config={}", file.display())]).unwrap();
        assert_eq!((config.port, config.max_payload, config.protocol), (2222, 2048, Protocol::V09));
        let config = run(&["--config", file.to_str().unwrap(), "--protocol", "0.7"]).unwrap();
        assert_eq!(config.protocol, Protocol::V07);
        std::fs::write(&file, r#"{"version":5,"persist":{"enabled":false,"path":"d"}}"#).unwrap();
        let err = run(&["--config", file.to_str().unwrap(), "--save-on-exit", "bye"]).unwrap_err();
        assert_eq!(err, "--save-on-exit: needs persist.enabled true (saves are disabled)");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn load_and_save_on_exit_flags() {
        let parsed = |args: &[&str]| match parse(args.iter().map(OsString::from)) {
            Ok(Action::Run(options)) => (options.load, options.config.save_on_exit),
            other => panic!("{other:?}"),
        };
        assert_eq!(parsed(&[]), (None, None));
        let load = |name: &str, path: Option<&str>| LoadAtStart {
            name: name.into(),
            path: path.map(PathBuf::from),
            if_present: false,
        };
        assert_eq!(parsed(&["--loadName", "n"]), (Some(load("n", None)), None));
        assert_eq!(
            parsed(&["--loadName=n", "--loadPath=/srv/saves", "--save-on-exit=bye"]),
            (Some(load("n", Some("/srv/saves"))), Some("bye".into()))
        );
        assert_eq!(parsed(&["--loadPath", "p", "--loadName", "n"]).0, Some(load("n", Some("p"))));
        assert!(HELP.contains("--loadName <NAME>") && HELP.contains("--save-on-exit <NAME>"));
    }

    #[test]
    fn limit_flags() {
        let config = run(&[
            "--max-connections=5",
            "--allowed-origins",
            "https://a.example, https://b.example",
            "--max-header-bytes=4096",
            "--handshake-timeout=0.25",
            "--idle-timeout=30",
            "--send-timeout=0",
            "--search-timeout=0.5",
            "--output-pause-bytes=1000",
            "--max-output-bytes=2000",
            "--messages-per-turn=3",
            "--max-partial-bytes=2097152",
            "--message-timeout=2.5",
        ])
        .unwrap();
        assert_eq!(config.max_connections, 5);
        assert_eq!(config.allowed_origins, ["https://a.example", "https://b.example"]);
        assert_eq!(config.max_head_bytes, 4096);
        assert_eq!(config.handshake_timeout, std::time::Duration::from_millis(250));
        assert_eq!(config.idle_timeout, Some(std::time::Duration::from_secs(30)));
        assert_eq!(config.send_timeout, None);
        assert_eq!(config.search_timeout, Some(std::time::Duration::from_millis(500)));
        assert_eq!((config.output_pause_bytes, config.max_output_bytes, config.messages_per_turn), (1000, 2000, 3));
        assert_eq!(config.max_partial_bytes, 2 << 20);
        assert_eq!(config.message_timeout, Some(std::time::Duration::from_millis(2500)));
        assert_eq!(run(&["--message-timeout=0"]).unwrap().message_timeout, None);
        assert_eq!(run(&[]).unwrap().max_memory, None, "unlimited by default");
        for (value, bytes) in
            [("1000", 1000), ("64kb", 64 << 10), ("512MB", 512 << 20), ("2 gb", 2 << 30), ("3m", 3 << 20)]
        {
            assert_eq!(run(&["--max-memory", value]).unwrap().max_memory, Some(bytes), "{value}");
        }
        assert_eq!(run(&["--max-memory=0"]).unwrap().max_memory, None);
        assert_eq!(run(&["--max-jobs=3"]).unwrap().max_jobs, 3);
        assert_eq!(run(&[]).unwrap().max_jobs, 16);
        for flag in LIMIT_FLAGS {
            assert!(HELP.contains(&format!("--{flag} ")), "--{flag} is in the help");
        }
    }

    #[test]
    fn exposure_flags() {
        let hex = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";
        let config = run(&[
            &format!("--user=app:write:{hex}"),
            "--user",
            &format!("ops:admin:{hex}"),
            &format!("--user=app:read:{hex}"),
            "--protected-mode",
            "no",
        ])
        .unwrap();
        let users: Vec<_> = config.users.iter().map(|u| (u.name().to_owned(), u.role())).collect();
        use ndb::Role;
        assert_eq!(
            users,
            [("ops".to_owned(), Role::Admin), ("app".to_owned(), Role::Read)],
            "the last --user of a name wins"
        );
        assert!(!config.protected_mode);
        assert!(run(&[]).unwrap().protected_mode);
        if cfg!(feature = "tls") {
            let config = run(&["--tls-cert", "c.pem", "--tls-key=k.pem"]).unwrap();
            assert_eq!(config.tls, Some(TlsFiles { certificate: "c.pem".into(), key: "k.pem".into() }));
        }
        for flag in
            ["--user <NAME:ROLE:SHA256HEX>", "--protected-mode <yes|no>", "--tls-cert <FILE>", "--tls-key <FILE>"]
        {
            assert!(HELP.contains(flag), "{flag}");
        }
    }

    /// The flag of each config member: the member in kebab case unless
    /// listed here.
    fn flag_of(member: &str) -> Option<String> {
        let named = [
            ("version", "--protocol"),
            ("persist", ""),
            ("tls", ""),
            ("users", "--user"),
            ("persist.enabled", "--persist-enabled"),
            ("persist.path", "--persist-path"),
            ("persist.saveOnExit", "--save-on-exit"),
            ("persist.loadOnStart", "--load-on-start"),
            ("persist.keep", "--save-keep"),
            ("persist.saveEvery", "--save-every"),
            ("persist.saveName", "--save-name"),
            ("persist.log", ""),
            ("persist.log.enabled", "--log"),
            ("persist.log.fsync", "--log-fsync"),
            ("persist.log.rewritePercent", "--log-rewrite-percent"),
            ("persist.log.rewriteMinSize", "--log-rewrite-min-size"),
            ("tls.certificate", "--tls-cert"),
            ("tls.key", "--tls-key"),
            ("maxHeaderBytes", "--max-header-bytes"),
            ("arrays", ""),
            ("lists", ""),
            ("arrays.maxCapacity", "--array-max-capacity"),
            ("arrays.maxResponseSize", "--array-max-response-size"),
            ("lists.maxResponseSize", "--list-max-response-size"),
        ];
        if let Some((_, flag)) = named.iter().find(|(m, _)| *m == member) {
            return (!flag.is_empty()).then(|| flag.to_string());
        }
        let mut flag = "--".to_owned();
        for c in member.chars() {
            if c.is_ascii_uppercase() {
                flag.push('-');
            }
            flag.push(c.to_ascii_lowercase());
        }
        Some(flag)
    }

    #[test]
    fn every_config_member_has_a_flag_in_the_help() {
        for member in ndb::config::KNOWN_MEMBERS {
            let Some(flag) = flag_of(member) else { continue };
            assert!(HELP.contains(&format!("{flag} ")), "config member {member}: no {flag} in the help");
            let docs = include_str!("../../docs/operations.md");
            assert!(docs.contains(&format!("`{flag}")), "config member {member}: {flag} is not in operations.md");
        }
    }

    #[test]
    fn core_persist_and_slow_log_flags() {
        let config = run(&[
            "--core=1",
            "--persist-path",
            "/srv/ndb",
            "--persist-enabled=no",
            "--slow-log-threshold=0.5",
            "--slow-log-length",
            "7",
        ])
        .unwrap();
        assert_eq!(config.core, Some(1));
        assert_eq!(config.persist_path, PathBuf::from("/srv/ndb"));
        assert!(!config.persist_enabled);
        assert_eq!(config.slow_log_threshold, Some(std::time::Duration::from_millis(500)));
        assert_eq!(config.slow_log_length, 7);
        let config =
            run(&["--array-max-capacity=0", "--array-max-response-size", "5", "--list-max-response-size=6"]).unwrap();
        assert_eq!(
            (config.array_max_capacity, config.array_max_response_size, config.list_max_response_size),
            (0, 5, 6)
        );
        assert_eq!(run(&[]).unwrap().array_max_capacity, 10_000);
        assert_eq!(run(&["--slow-log-threshold=0"]).unwrap().slow_log_threshold, None);
        let load = |args: &[&str]| match parse(args.iter().map(OsString::from)) {
            Ok(Action::Run(options)) => options.load,
            other => panic!("{other:?}"),
        };
        let present = |name: &str| Some(LoadAtStart { name: name.into(), path: None, if_present: true });
        assert_eq!(load(&["--load-on-start", "nightly"]), present("nightly"));
        assert_eq!(run(&["--load-on-start=nightly"]).unwrap().load_on_start.as_deref(), Some("nightly"));
        assert!(matches!(parse([OsString::from("--check-save=d")]), Ok(Action::CheckSave(p)) if p == Path::new("d")));
    }

    #[test]
    fn help_and_version() {
        assert!(matches!(parse([OsString::from("--help")]), Ok(Action::Help)));
        assert!(matches!(parse([OsString::from("-V")]), Ok(Action::Version)));
    }

    #[test]
    fn bad_flags_are_one_line_naming_the_flag() {
        let cases = [
            (&["--port", "x"][..], "--port: must be a port number"),
            (&["--port", "70000"], "--port: must be a port number"),
            (&["--max-payload", "10"], "--max-payload: must be from 64"),
            (&["--protocol", "1.0"], "--protocol: must be 0.7 or 0.9"),
            (&["--bogus"], "invalid option '--bogus'"),
            (&["--max-memory", "12tb"], "--max-memory: must be a number of bytes, optionally with kb, mb or gb"),
            (&["--max-memory", "-1"], "--max-memory: must be a number of bytes"),
            (&["--max-jobs", "0"], "--max-jobs: must be"),
            (&["--port"], "missing argument for option '--port'"),
            (&["--config", "/nonexistent/ndb.json"], "cannot read config file /nonexistent/ndb.json"),
            (&["--loadName", "a/b"], "--loadName: must be a save name"),
            (&["--loadName", ""], "--loadName: must be a save name"),
            (&["--loadPath", "p"], "--loadPath: needs --loadName"),
            (&["--save-on-exit", ".."], "--save-on-exit: must be a save name"),
            (&["--max-connections", "0"], "--max-connections: must be a positive integer (got 0)"),
            (&["--messages-per-turn", "x"], "--messages-per-turn: must be a positive integer (got \"x\")"),
            (&["--idle-timeout", "nan"], "--idle-timeout: must be from 0 to 86400 seconds"),
            (&["--search-timeout", "5s"], "--search-timeout: must be a number of seconds (got \"5s\")"),
            (&["--handshake-timeout", "0"], "--handshake-timeout: must be more than 0 seconds"),
            (&["--max-header-bytes", "10"], "--max-header-bytes: must be from 1024"),
            (&["--max-output-bytes", "1000"], "outputPauseBytes: must not exceed maxOutputBytes"),
            (&["--user", "app:write"], "--user: must be NAME:ROLE:SHA256HEX"),
            (&["--user", "app:owner:00"], "--user: role must be read, write or admin"),
            (&["--protected-mode", "off"], "--protected-mode: must be yes or no (got \"off\")"),
            (&["--tls-cert", "c.pem"], "--tls-cert: needs --tls-key"),
            (&["--tls-key", "k.pem"], "--tls-key: needs --tls-cert"),
            (&["--max-partial-bytes", "1000"], "maxPartialBytes: must be at least maxPayload"),
            (&["--message-timeout", "-1"], "--message-timeout: must be from 0 to 86400 seconds"),
            (&["--core", "x"], "--core: must be a core number"),
            (&["--persist-enabled", "true"], "--persist-enabled: must be yes or no"),
            (&["--persist-path", ""], "--persist-path: must not be empty"),
            (&["--load-on-start", "a/b"], "--load-on-start: must be a save name"),
            (&["--load-on-start", "a", "--loadName", "b"], "--load-on-start: give it or --loadName, not both"),
            (&["--slow-log-length", "10001"], "--slow-log-length: must be from 0 to 10000"),
            (&["--slow-log-threshold", "x"], "--slow-log-threshold: must be a number of seconds"),
            (&["--array-max-capacity", "-1"], "--array-max-capacity: must be an unsigned integer (got \"-1\")"),
        ];
        for (args, expected) in cases {
            let err = run(args).unwrap_err();
            assert!(err.contains(expected), "{args:?}: {err}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn errors_say_which_flag_or_that_the_usage_is_wrong() {
        let parse_err = |args: &[&str]| parse(args.iter().map(OsString::from)).unwrap_err();
        for (args, field) in [
            (&["--port", "x"][..], "--port"),
            (&["--max-payload", "10"], "--max-payload"),
            (&["--idle-timeout", "-1"], "--idle-timeout"),
            (&["--search-timeout", "1e9"], "--search-timeout"),
            (&["--loadName", "a/b"], "--loadName"),
            (&["--loadPath", "p"], "--loadPath"),
            (&["--max-output-bytes", "1000"], "outputPauseBytes"),
        ] {
            match parse_err(args) {
                CliError::Config(e) => assert_eq!(e.field_name(), Some(field), "{args:?}: {e}"),
                other => panic!("{args:?}: {other}"),
            }
        }
        for args in [&["--bogus"][..], &["--port"]] {
            assert!(matches!(parse_err(args), CliError::Usage(_)), "{args:?}");
        }
        match parse_err(&["--config", "/nonexistent/ndb.json"]) {
            CliError::Config(ConfigError::Read { source, .. }) => {
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound)
            }
            other => panic!("{other}"),
        }
    }
}
