//! Command-line flags, in redis-benchmark's spirit, parsed into a [`Config`].
//!
//! Pure: takes the argument list, returns a validated `Config` or a message
//! for the user. Every limit the rest of the tool relies on (non-zero
//! counts, key numbers that fit in twelve digits, at most one thread per
//! connection) is checked here, once.

use std::ffi::OsString;
use std::fmt;
use std::time::Duration;

use lexopt::prelude::*;

use crate::request::{Body, MAX_KEY_SPACE, Request, SPLICE_ITEMS, ST_OK, Test};

/// Largest `-d`, in bytes: far above any server's message limit, low enough
/// that a typo cannot make the tool allocate gigabytes per connection.
const MAX_VALUE_BYTES: usize = 64 * 1024 * 1024;

/// Largest `-P`: in-flight slots are allocated up front per connection.
const MAX_PIPELINE: usize = 1 << 20;

/// Smallest `--container-size`: room for a splice of [`SPLICE_ITEMS`]
/// from the middle of the list to its first quarter.
const MIN_CONTAINER_SIZE: u64 = 4 * SPLICE_ITEMS;

/// Largest `--container-size`: positions in twelve digits, like keys.
const MAX_CONTAINER_SIZE: u64 = MAX_KEY_SPACE;

/// Largest weight of one request in a mix: far more resolution than a
/// ratio needs, and a total that cannot overflow with any number of entries
/// a command line can hold.
const MAX_WEIGHT: u64 = 1_000_000;

/// One request of the custom test, with its weight in the mix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its share of the requests: `weight` / the sum of all weights.
    pub weight: u64,
    /// What is sent.
    pub request: Request,
}

/// Where the server is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Host name or address, without brackets for IPv6.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Request path, starting with `/`.
    pub path: String,
    /// Who to log in as (`--user`, or the URL's `user:password@`).
    pub credentials: Option<Credentials>,
}

/// A user name and password, sent as HTTP Basic credentials with every
/// connection's upgrade request (a server with users answers 401 without
/// them). Never printed: `Debug` and the target's `Display` leave the
/// password out.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name (no `:`, which HTTP Basic cannot carry in a name).
    pub user: String,
    /// The password, as given (after percent-decoding, from a URL).
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user).finish_non_exhaustive()
    }
}

impl Credentials {
    /// The `Authorization` header value: `Basic` and the base64 of
    /// `user:password`.
    pub fn authorization(&self) -> String {
        use base64::Engine;
        let pair = format!("{}:{}", self.user, self.password);
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    }
}

impl Target {
    /// The `Host` header value: `host:port`, IPv6 in brackets.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ws://{}{}", self.authority(), self.path)
    }
}

/// Everything one run needs to know, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The server.
    pub target: Target,
    /// Connections, across all threads (`-c`).
    pub connections: usize,
    /// Requests in flight per connection (`-P`); in open loop, the most a
    /// connection may have outstanding before due requests wait client-side.
    pub pipeline: usize,
    /// Requests per test (`-n`), unless `duration` is set.
    pub requests: u64,
    /// Length of each test (`--duration`), instead of a request count.
    pub duration: Option<Duration>,
    /// Bytes in each stored value (`-d`).
    pub value_bytes: usize,
    /// Keys are drawn from `[0, key_space)` (`-r`); `None` means one fixed key.
    pub key_space: Option<u64>,
    /// Tests to run, in order (`-t`).
    pub tests: Vec<Test>,
    /// Keys `0..preload` are set before the tests (`--preload`).
    pub preload: u64,
    /// Open loop at this many requests per second in total (`--rate`).
    pub rate: Option<u64>,
    /// Print one JSON document instead of the human summary (`--json`).
    pub json: bool,
    /// One line per test (`-q`).
    pub quiet: bool,
    /// Event-loop threads (`--threads`).
    pub threads: usize,
    /// Only open `-c` connections and hold them idle (`-I`), for `duration`
    /// or until interrupted.
    pub idle: bool,
    /// The custom test's requests (`--body`, `--mix`), drawn by weight; it
    /// runs after the `-t` tests, or alone when `-t` is not given.
    pub custom: Vec<Entry>,
    /// Reply statuses that count as success in the custom test (`--expect`).
    pub expect: Vec<u64>,
    /// Slots of the arrays and items of the list that the array and list
    /// tests set up (`--container-size`).
    pub container_size: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            target: Target { host: "127.0.0.1".to_string(), port: 1987, path: "/".to_string(), credentials: None },
            connections: 50,
            pipeline: 1,
            requests: 100_000,
            duration: None,
            value_bytes: 16,
            key_space: None,
            tests: Test::DEFAULT.to_vec(),
            preload: 0,
            rate: None,
            json: false,
            quiet: false,
            threads: 1,
            idle: false,
            custom: Vec::new(),
            expect: vec![ST_OK],
            container_size: 1_000_000,
        }
    }
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Run the benchmark.
    Run(Box<Config>),
    /// Print [`HELP`] and exit.
    Help,
    /// Print the version and exit.
    Version,
}

/// The `--help` text.
pub const HELP: &str = "\
ndb-bench: load generator for ndb and other NemesisDB-protocol servers

Usage: ndb-bench [OPTIONS]

Target:
  -h HOST            server host (default 127.0.0.1)
  -p PORT            server port (default 1987)
  -u URL             server URL, ws://HOST:PORT/PATH, instead of -h and -p;
                     ws://USER:PASSWORD@HOST:PORT/ logs in (percent-encode
                     @ : / % in the password)
      --user USER:PASSWORD
                     log in with HTTP Basic credentials, for a server with
                     users (USER needs a role that allows the tests: write
                     for the sets and the array and list tests, which set
                     up their own; read for gets, counts and SV_INFO)

Load:
  -c CONNECTIONS     connections (default 50)
  -P REQUESTS        requests in flight per connection (default 1)
  -n REQUESTS        requests per test (default 100000)
      --duration S   run each test for S seconds instead of -n requests
  -d BYTES           size of each stored value, a JSON string (default 16)
  -r KEYSPACE        use random keys key:000000000000 .. key:KEYSPACE-1;
                     without -r every request uses key:000000000000
  -t TESTS           comma-separated tests (default: the kv_* and sh_* ones
                     and sv_info):
                     kv_set kv_get kv_add kv_contains kv_count kv_rmv sv_info
                     sh_new sh_set sh_get sh_add sh_contains sh_count sh_rmv
                     and, for servers with NemesisDB 0.9's arrays and lists,
                     only when named: iarr_get iarr_set iarr_set_rng
                     iarr_get_rng siarr_intersect olst_add olst_rmv
                     olst_splice
      --container-size N
                     slots of the arrays and items of the list the array and
                     list tests create and fill before each of them
                     (default 1000000; the server's arrays.maxCapacity must
                     allow it)
      --body [WEIGHT:]JSON or [WEIGHT:]@FILE
                     a request of your own, from the command line or a file;
                     repeat it for a mix, each drawn in proportion to its
                     WEIGHT (default 1). Placeholders: __key__ (key:%012d,
                     as -r chooses), __value__ (-d bytes of x), __rand_int__
                     (12 random digits below -r; in a string, or as a number
                     after a digit: 1__rand_int__), __tkn__ (the connection's
                     session token). The requests run as one test, \"custom\",
                     after the -t tests (alone without -t)
      --mix TEST:WEIGHT,...
                     built-in tests' requests in the custom test's mix,
                     e.g. kv_set:80,kv_get:20
      --expect ST,...
                     reply statuses the custom test counts as success
                     (default 1)
      --preload N    KV_SET keys 0..N before the tests, so gets hit
      --rate N       open loop: N requests/s in total, sent on a fixed schedule;
                     latency counts from when each request was due, so time
                     spent queued behind a slow server is not hidden.
                     -P caps each connection's outstanding requests; due
                     requests beyond it wait client-side, and that counts
      --threads N    event-loop threads sharing the connections (default 1)
  -I                 idle mode: open -c connections and hold them, without
                     requests, for --duration S or until interrupted (to
                     measure what idle connections cost the server)

Output:
      --json         one JSON document with every test on stdout
  -q                 quiet: one line per test
      --help         this text (-h is the host, as in redis-benchmark)
  -V, --version      version

Latency is per request, in microseconds, from an HDR histogram (3
significant digits): in closed loop from when the request was written, in
open loop from when it was due. A progress line is drawn on stderr when it
is a terminal.

Each array or list test first creates and fills, over a connection of its
own and before its clock starts, what it works on: ndb-bench:iarr (slot i
holds i; iarr_get and iarr_set a random slot, iarr_set_rng and iarr_get_rng
100 slots from a random one), ndb-bench:siarr-a and -b (a tenth in common;
siarr_intersect), ndb-bench:olst (olst_add and olst_rmv one item at the
middle, olst_splice 1000 items from the middle to the first quarter). If
the server refuses to create them, the test is skipped with its reply.

Every connection of an sh_* test works in its own session, created with
SH_NEW when the run starts and kept for the whole run, so sh_get hits the
keys an earlier sh_set wrote. If the server refuses SH_NEW, the sh_* tests
are skipped and the others run.

The exit status is 0 when every reply had st 1 (or a status of --expect in
the custom test), 1 when any request failed, got another status or lost its
connection, and 2 for a bad command line.

Examples:
  ndb-bench                                  all tests, 50 connections, 100000 requests each
  ndb-bench -t kv_set,kv_get -r 100000 --preload 100000 -q
  ndb-bench -p 2000 -n 2000 -t kv_set,kv_get --json
  ndb-bench -t kv_get -r 1000000 --preload 1000000 -P 16 --threads 2
  ndb-bench -t kv_get --rate 50000 --duration 10   open loop, 50000 requests/s for 10 s
  ndb-bench -u ws://10.0.0.5:1987/ -t sh_set,sh_get -d 256
  ndb-bench -t iarr_get,iarr_get_rng,siarr_intersect,olst_splice -n 20000
  ndb-bench --user app:secret -t kv_set,kv_get -r 100000
  ndb-bench --mix kv_set:80,kv_get:20 -r 100000 --preload 100000
  ndb-bench --body '{\"KV_FIND\":{\"path\":\"$[?@.n > 5]\",\"rsp\":\"keys\"}}' -c 4 -n 1000
  ndb-bench --body '3:{\"SH_SET\":{\"tkn\":__tkn__,\"keys\":{\"__key__\":\"__value__\"}}}' \\
            --body '1:{\"SH_INFO\":{\"tkn\":__tkn__}}' -r 1000
";

/// Parses the arguments after the program name.
///
/// # Errors
/// A message for the user when an argument is unknown, malformed or out of range.
pub fn parse<I>(args: I) -> Result<Action, String>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let mut config = Config::default();
    let mut host = None;
    let mut port = None;
    let mut url = None;
    let mut user = None;
    let mut requests_given = false;
    let mut tests_given = false;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') => host = Some(string(&mut parser, "-h")?),
            Short('p') => port = Some(number::<u16>(&mut parser, "-p")?),
            Short('u') => url = Some(string(&mut parser, "-u")?),
            Long("user") => user = Some(credentials(&string(&mut parser, "--user")?)?),
            Short('c') => config.connections = number(&mut parser, "-c")?,
            Short('P') => config.pipeline = number(&mut parser, "-P")?,
            Short('n') => {
                config.requests = number(&mut parser, "-n")?;
                requests_given = true;
            }
            Long("duration") => {
                let secs: f64 = number(&mut parser, "--duration")?;
                config.duration = Duration::try_from_secs_f64(secs).ok().filter(|d| !d.is_zero());
                if config.duration.is_none() {
                    return Err(format!("--duration must be a positive number of seconds, not {secs}"));
                }
            }
            Short('d') => config.value_bytes = number(&mut parser, "-d")?,
            Short('r') => config.key_space = Some(number(&mut parser, "-r")?),
            Short('t') => {
                config.tests = tests(&string(&mut parser, "-t")?)?;
                tests_given = true;
            }
            Long("body") => config.custom.push(body(&string(&mut parser, "--body")?)?),
            Long("mix") => config.custom.extend(mix(&string(&mut parser, "--mix")?)?),
            Long("expect") => config.expect = statuses(&string(&mut parser, "--expect")?)?,
            Long("preload") => config.preload = number(&mut parser, "--preload")?,
            Long("container-size") => config.container_size = number(&mut parser, "--container-size")?,
            Long("rate") => config.rate = Some(number(&mut parser, "--rate")?),
            Long("threads") => config.threads = number(&mut parser, "--threads")?,
            Long("json") => config.json = true,
            Short('I') => config.idle = true,
            Short('q') => config.quiet = true,
            Long("help") => return Ok(Action::Help),
            Short('V') | Long("version") => return Ok(Action::Version),
            other => return Err(other.unexpected().to_string()),
        }
    }
    if url.is_some() && (host.is_some() || port.is_some()) {
        return Err("use either -u or -h/-p, not both".to_string());
    }
    if let Some(url) = url {
        config.target = parse_url(&url)?;
    }
    if let Some(user) = user {
        if config.target.credentials.is_some() {
            return Err("give credentials either in -u or with --user, not both".to_string());
        }
        config.target.credentials = Some(user);
    }
    if let Some(host) = host {
        config.target.host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    }
    if let Some(port) = port {
        config.target.port = port;
    }
    if !config.custom.is_empty() && !tests_given {
        config.tests.clear();
    }
    if requests_given && config.duration.is_some() {
        return Err("use either -n or --duration, not both".to_string());
    }
    validate(&config)?;
    Ok(Action::Run(Box::new(config)))
}

fn validate(config: &Config) -> Result<(), String> {
    let positive = [
        ("-c", config.connections as u64),
        ("-P", config.pipeline as u64),
        ("-n", config.requests),
        ("--threads", config.threads as u64),
        ("-r", config.key_space.unwrap_or(1)),
        ("--rate", config.rate.unwrap_or(1)),
    ];
    if let Some((flag, _)) = positive.iter().find(|(_, v)| *v == 0) {
        return Err(format!("{flag} must be at least 1"));
    }
    if config.threads > config.connections {
        return Err(format!("--threads ({}) must not exceed -c ({})", config.threads, config.connections));
    }
    if config.pipeline > MAX_PIPELINE {
        return Err(format!("-P must be at most {MAX_PIPELINE}"));
    }
    if config.value_bytes > MAX_VALUE_BYTES {
        return Err(format!("-d must be at most {MAX_VALUE_BYTES} bytes"));
    }
    if config.key_space.unwrap_or(1) > MAX_KEY_SPACE {
        return Err(format!("-r must be at most {MAX_KEY_SPACE} (twelve-digit keys)"));
    }
    if !(MIN_CONTAINER_SIZE..=MAX_CONTAINER_SIZE).contains(&config.container_size) {
        return Err(format!("--container-size must be from {MIN_CONTAINER_SIZE} to {MAX_CONTAINER_SIZE}"));
    }
    // Each olst_rmv request takes one item from the middle: past half the
    // list, the middle is gone and the requests would remove nothing.
    if config.tests.contains(&Test::OlstRmv) && config.duration.is_none() && config.rate.is_none() {
        let half = config.container_size / 2;
        if config.requests > half {
            return Err(format!(
                "olst_rmv removes one item a request from the middle of a list of {}: -n must be at most {half}",
                config.container_size
            ));
        }
    }
    if config.preload > config.key_space.unwrap_or(MAX_KEY_SPACE) {
        return Err("--preload must not exceed -r: keys beyond the key space are never read".to_string());
    }
    Ok(())
}

fn string(parser: &mut lexopt::Parser, flag: &str) -> Result<String, String> {
    parser.value().map_err(|e| e.to_string())?.into_string().map_err(|_| format!("{flag} needs valid UTF-8"))
}

fn number<T: std::str::FromStr>(parser: &mut lexopt::Parser, flag: &str) -> Result<T, String> {
    let text = string(parser, flag)?;
    text.trim().replace('_', "").parse().map_err(|_| format!("{flag} needs a number, not {text:?}"))
}

fn tests(list: &str) -> Result<Vec<Test>, String> {
    let mut tests = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let test = Test::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = Test::ALL.iter().map(|t| t.name()).collect();
            format!("unknown test {name:?}; known tests: {}", known.join(","))
        })?;
        tests.push(test);
    }
    if tests.is_empty() {
        return Err("-t needs at least one test".to_string());
    }
    Ok(tests)
}

/// A weight: 1 to [`MAX_WEIGHT`].
fn weight(text: &str, flag: &str) -> Result<u64, String> {
    text.trim()
        .parse()
        .ok()
        .filter(|w| (1..=MAX_WEIGHT).contains(w))
        .ok_or_else(|| format!("{flag}: a weight is a whole number from 1 to {MAX_WEIGHT}, not {text:?}"))
}

/// `--body [WEIGHT:]JSON` or `--body [WEIGHT:]@FILE`.
fn body(arg: &str) -> Result<Entry, String> {
    let (weight, text) = match arg.split_once(':') {
        Some((w, rest)) if !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) => (self::weight(w, "--body")?, rest),
        _ => (1, arg),
    };
    let text = match text.strip_prefix('@') {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| format!("--body @{path}: {e}"))?;
            if bytes.len() > MAX_VALUE_BYTES {
                return Err(format!("--body @{path}: larger than {MAX_VALUE_BYTES} bytes"));
            }
            let text = String::from_utf8(bytes).map_err(|_| format!("--body @{path}: not UTF-8 text"))?;
            text.trim_end().to_owned()
        }
        None => text.to_owned(),
    };
    Ok(Entry { weight, request: Request::Body(Body::parse(&text)?) })
}

/// `--mix TEST:WEIGHT,...` (a test without a weight weighs 1).
fn mix(list: &str) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, weight) = match item.split_once(':') {
            Some((name, w)) => (name.trim(), self::weight(w, "--mix")?),
            None => (item, 1),
        };
        let test = Test::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = Test::DEFAULT.iter().map(|t| t.name()).collect();
            format!("--mix: unknown test {name:?}; known tests: {}", known.join(","))
        })?;
        if test.fixture().is_some() {
            return Err(format!("--mix: {name} sets up its own array or list and runs only with -t"));
        }
        entries.push(Entry { weight, request: Request::Test(test) });
    }
    if entries.is_empty() {
        return Err("--mix needs at least one TEST:WEIGHT".to_string());
    }
    Ok(entries)
}

/// `--expect ST,...`
fn statuses(list: &str) -> Result<Vec<u64>, String> {
    let statuses = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| format!("--expect: {s:?} is not a status number")))
        .collect::<Result<Vec<u64>, _>>()?;
    if statuses.is_empty() {
        return Err("--expect needs at least one status".to_string());
    }
    Ok(statuses)
}

/// Parses `--user USER:PASSWORD` (the password may hold `:`).
fn credentials(value: &str) -> Result<Credentials, String> {
    match value.split_once(':') {
        Some((user, password)) if !user.is_empty() => {
            Ok(Credentials { user: user.to_string(), password: password.to_string() })
        }
        _ => Err("--user must be USER:PASSWORD".to_string()),
    }
}

/// Decodes `%XX` escapes (a `%` not followed by two hex digits stays as it
/// is); `None` if the result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| bytes.get(at).and_then(|&b| char::from(b).to_digit(16));
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Parses `ws://[user:password@]host[:port][/path]`; the port defaults to
/// 1987 (the server's), the path to `/`.
fn parse_url(url: &str) -> Result<Target, String> {
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("ws") => rest,
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("wss") => {
            return Err(format!("{url}: wss:// (TLS) is not supported by ndb-bench; benchmark over ws://"));
        }
        Some(_) => return Err(format!("{url}: the URL must start with ws://")),
        None => url,
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let bad = || format!("{url}: expected ws://HOST:PORT/PATH");
    let (credentials, authority) = match authority.rsplit_once('@') {
        Some((userinfo, authority)) => {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            let decoded = percent_decode(user).zip(percent_decode(password));
            let (user, password) = decoded.ok_or_else(|| format!("{url}: the credentials are not UTF-8"))?;
            if user.is_empty() || user.contains(':') {
                return Err(format!("{url}: expected ws://USER:PASSWORD@HOST:PORT/PATH"));
            }
            (Some(Credentials { user, password }), authority)
        }
        None => (None, authority),
    };
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or_else(bad)?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(bad()),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = match port {
        Some(port) => port.parse().map_err(|_| bad())?,
        None => 1987,
    };
    Ok(Target { host: host.to_string(), port, path: path.to_string(), credentials })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &str) -> Result<Config, String> {
        match parse(args.split_whitespace())? {
            Action::Run(config) => Ok(*config),
            other => panic!("expected a run, got {other:?}"),
        }
    }

    #[test]
    fn defaults_match_redis_benchmark_habits() {
        let config = run("").unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.target.to_string(), "ws://127.0.0.1:1987/");
        assert_eq!((config.connections, config.pipeline, config.requests), (50, 1, 100_000));
        assert_eq!(config.value_bytes, 16);
        assert_eq!(config.key_space, None);
        assert_eq!(config.tests, Test::DEFAULT);
        assert_eq!(config.container_size, 1_000_000);
    }

    #[test]
    fn every_flag_is_read() {
        let config = run("-h 10.1.2.3 -p 2000 -c 8 -P 4 -n 500 -d 100 -r 1000 -t kv_set,KV_GET \
             --preload 1000 --rate 5000 --json -q --threads 2")
        .unwrap();
        assert_eq!(config.target.to_string(), "ws://10.1.2.3:2000/");
        assert_eq!((config.connections, config.pipeline, config.requests), (8, 4, 500));
        assert_eq!((config.value_bytes, config.key_space), (100, Some(1000)));
        assert_eq!(config.tests, vec![Test::KvSet, Test::KvGet]);
        assert_eq!((config.preload, config.rate), (1000, Some(5000)));
        assert!(config.json && config.quiet);
        assert_eq!(config.threads, 2);
        assert_eq!(run("-c10 -P2").unwrap().pipeline, 2);
        assert_eq!(run("--duration 2.5").unwrap().duration, Some(Duration::from_millis(2500)));
        let idle = run("-I -c 2000 --duration 30").unwrap();
        assert!(idle.idle && idle.connections == 2000);
    }

    #[test]
    fn urls_give_host_port_and_path() {
        let t = run("-u ws://example.net:99/db").unwrap().target;
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("example.net", 99, "/db"));
        let t = run("-u ws://[::1]:7/").unwrap().target;
        assert_eq!((t.host.as_str(), t.port), ("::1", 7));
        assert_eq!(t.to_string(), "ws://[::1]:7/");
        assert_eq!(run("-u ws://localhost").unwrap().target.to_string(), "ws://localhost:1987/");
        assert_eq!(run("-h ::1 -p 5").unwrap().target.to_string(), "ws://[::1]:5/");
    }

    #[test]
    fn credentials_come_from_the_url_or_user() {
        let t = run("-u ws://app:p%40ss%3Aw%2Frd@example.net:99/db").unwrap().target;
        let c = t.credentials.clone().unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("app", "p@ss:w/rd"));
        assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("example.net", 99, "/db"));
        // Neither the target's text nor its debug form shows the password.
        assert_eq!(t.to_string(), "ws://example.net:99/db");
        assert!(!format!("{t:?}").contains("p@ss"), "{t:?}");
        let c = run("--user ops:a:b -p 5").unwrap().target.credentials.unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("ops", "a:b"));
        // app:secret, as the server's tests spell it.
        let c = Credentials { user: "app".into(), password: "secret".into() };
        assert_eq!(c.authorization(), "Basic YXBwOnNlY3JldA==");
        assert_eq!(run("-u ws://[::1]:7/").unwrap().target.credentials, None);
        let t = run("-u ws://u@[::1]:7/").unwrap().target;
        assert_eq!((t.host.as_str(), t.credentials.unwrap().password.as_str()), ("::1", ""));
    }

    #[test]
    fn help_and_version_win() {
        assert_eq!(parse(["--help"]), Ok(Action::Help));
        assert_eq!(parse(["-c", "5", "--version"]), Ok(Action::Version));
        assert_eq!(parse(["-V"]), Ok(Action::Version));
    }

    #[test]
    fn custom_requests_and_mixes() {
        let config = parse([
            "--body",
            r#"3:{"KV_SET":{"keys":{"__key__":"__value__"}}}"#,
            "--body",
            r#"{"SH_INFO":{"tkn":__tkn__}}"#,
            "--mix",
            "kv_get:20, sv_info",
            "--expect",
            "1,22",
        ]);
        let Ok(Action::Run(config)) = config else { panic!("{config:?}") };
        assert!(config.tests.is_empty(), "without -t only the custom test runs");
        let weights: Vec<u64> = config.custom.iter().map(|e| e.weight).collect();
        assert_eq!(weights, [3, 1, 20, 1]);
        assert_eq!(config.custom[0].request.label(), r#"{"KV_SET":{"keys":{"__key__":"__value__"}}}"#);
        assert!(config.custom[1].request.needs_session() && !config.custom[0].request.needs_session());
        assert_eq!(config.custom[2].request, Request::Test(Test::KvGet));
        assert_eq!(config.expect, [1, 22]);
        let with_tests = run("-t kv_set --mix kv_get:1").unwrap();
        assert_eq!((with_tests.tests.len(), with_tests.custom.len()), (1, 1));
        assert_eq!(Config::default().expect, [1]);
    }

    #[test]
    fn bodies_come_from_files_too() {
        let path = std::env::temp_dir().join(format!("ndb-bench-body-{}.json", std::process::id()));
        std::fs::write(&path, "{\"KV_COUNT\":{}}\n").unwrap();
        let arg = format!("7:@{}", path.display());
        let Ok(Action::Run(config)) = parse(["--body", arg.as_str()]) else { panic!() };
        assert_eq!((config.custom[0].weight, config.custom[0].request.label()), (7, r#"{"KV_COUNT":{}}"#));
        std::fs::remove_file(&path).unwrap();
        let missing = format!("@{}", path.display());
        assert!(parse(["--body", missing.as_str()]).unwrap_err().starts_with(&format!("--body {missing}: ")));
    }

    #[test]
    fn bad_command_lines_are_explained() {
        let cases = [
            ("-c 0", "-c must be at least 1"),
            ("-c 2 --threads 3", "--threads (3) must not exceed -c (2)"),
            ("-n 10 --duration 1", "either -n or --duration"),
            ("--duration 0", "--duration must be a positive"),
            ("-t kv_set,nope", "unknown test \"nope\""),
            ("-t ,", "-t needs at least one test"),
            ("-u wss://h/", "TLS"),
            ("--user app", "--user must be USER:PASSWORD"),
            ("--user :pw", "--user must be USER:PASSWORD"),
            ("-u ws://a:b@h/ --user c:d", "either in -u or with --user"),
            ("-u ws://:pw@h/", "expected ws://USER:PASSWORD@HOST:PORT/PATH"),
            ("-u http://h/", "must start with ws://"),
            ("-u ws://h:x/", "expected ws://HOST:PORT/PATH"),
            ("-u ws://h/ -p 1", "either -u or -h/-p"),
            ("-r 1000000000001", "-r must be at most"),
            ("-r 10 --preload 11", "--preload must not exceed -r"),
            ("-p 70000", "-p needs a number"),
            ("--body {", "not JSON once its placeholders are filled in"),
            ("--body 0:{}", "a weight is a whole number from 1 to"),
            ("--mix kv_set:x", "a weight is a whole number"),
            ("--mix nope:1", "--mix: unknown test \"nope\""),
            ("--mix ,", "--mix needs at least one"),
            ("--expect x", "--expect: \"x\" is not a status number"),
            ("-x", "-x"),
        ];
        for (args, expected) in cases {
            let err = run(args).unwrap_err();
            assert!(err.contains(expected), "{args}: {err}");
        }
    }
}
