//! The store: the single owner of every key, of sessions and of their
//! timers, and of arrays and lists ([`containers`]). [`Store::execute`]
//! runs one validated command and writes its reply; [`Store::expire`]
//! runs active session expiry once per turn, and [`Store::next_deadline`]
//! says when it next has work; [`Store::work`] moves index resizes and
//! load merges on by a step per turn.
//!
//! Time comes in as `Instant`s and is turned into session-clock time (and
//! wheel ticks) against an origin the store keeps: the first `now` it sees.
//!
//! Must not touch: sockets, mio, the clock (time is passed in), JSON syntax
//! (the reply writer of [`crate::protocol`] owns that; only `jsonpath`
//! reads stored values, for the commands that look inside them). Not
//! thread-safe by design: one owner, one thread, no locks.

mod compact;
pub mod containers;
mod exists;
mod info;
mod jobs;
mod jsonpath;
mod kv;
pub mod memory;
mod reclaim;
mod replay;
mod replies;
pub mod sessions;
mod stepped;
mod table;
#[cfg(feature = "internals")]
pub use table::{LoweredMaxLen, lower_max_len};
mod tokens;

use std::borrow::Cow;
use std::collections::HashSet;
use std::time::{Duration, Instant};

pub use compact::CompactSnapshot;
pub use exists::EXISTS_TOKENS_PER_STEP;
pub use info::{LastSave, LogInfo, ScheduleInfo, ServerInfo, Stats};
pub use jobs::{
    Applied, DECODE_OFF_LOOP_BYTES, DEFAULT_MAX_JOBS, DecodeDone, Done, Finished, JOBS_BUSY, Job, JobId,
    LOAD_MERGE_KEYS_PER_STEP, Lane, LoadFailure, Loaded, MAX_SAVE_JOBS, Outcome, RESTORE_WORK_PER_STEP,
    SNAPSHOT_KEYS_PER_STEP, SaveFailure, SaveKind, Snapshot, Work, WorkKind,
};
pub use jsonpath::{
    DEFAULT_SEARCH_TIMEOUT, EDIT_INLINE_MAX_BYTES, EditDone, EditJob, Evaluation, FIND_INLINE_MAX_BYTES, FindJob,
    JsonPath, LOOP_STEPS, MAX_EDIT_ATTEMPTS, MAX_PATH_BRACKETS, MAX_PATH_BYTES, MAX_PATH_NESTING, MAX_REGEXES,
    PathRefused, REGEX_PROGRAM_BYTES, RESULTS_BASE, STEPS_BASE, STEPS_PER_BYTE,
};
pub use kv::{Entry, KeyHasher, KeyMap, MAX_KEYS, Merging};
pub use memory::{ENTRY_OVERHEAD_BYTES, Memory, SESSION_OVERHEAD_BYTES};
pub use reclaim::free_bytes as reclaim_bytes;
use replies::Ran;
pub use replies::{
    INLINE_ENTRIES, INLINE_NAMES, INLINE_REPLY_BYTES, ListJob, PreparedNames, StreamReply, prepare_names,
};
use sessions::{Budget, Sessions, Touch};
pub use sessions::{MAX_SESSIONS, NewSessionError, RESTORE_UNITS_PER_SESSION, Restore, SessionRecord};
pub use stepped::WRITE_KEYS_PER_STEP;

use crate::metrics::Metrics;
use crate::persist::wal::{Journal, Scope};
use crate::protocol::{Command, MapOp, Reply, Status, Verb};

/// What [`Store::execute`] did with a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a job must be run and finished, or its request never gets a reply"]
pub enum Executed {
    /// The reply is written.
    Replied,
    /// No reply yet: the command became the job with this id. Take it from
    /// [`Store::next_job`], run it (off the loop) and pass its result to
    /// [`Store::finish`], which writes the reply.
    Later(JobId),
}

/// Most active-expiry work per [`Store::expire`] call: sessions expired or
/// re-armed plus keys freed. An empty session costs about 100 ns to expire
/// (`benches/expiry_stalls.rs`), so a full budget is a few hundred
/// microseconds; a backlog continues on the next turn.
pub const MAX_EXPIRE_PER_TICK: usize = 2_048;

/// Most timers the wheel may move between slots per [`Store::expire`] call,
/// so that cascading a crowded slot (tens of thousands of timers due within
/// minutes of each other) is spread over turns too. A move of a randomly
/// placed timer costs up to about 200 ns (a cache miss), so this bounds a
/// cascade to under a millisecond per turn.
pub const MAX_CASCADE_MOVES_PER_TICK: usize = 4_096;

/// Index buckets a resize moves per turn in [`Store::work`], beyond the
/// few every change moves: 1,024, about 0.1 ms at ten million keys (a
/// bucket holds one key on average, a cache miss each). Changes alone
/// finish any resize in time (`store/table.rs`); this finishes it sooner,
/// on turns that only read, giving the old index's memory back.
pub const REHASH_BUCKETS_PER_TURN: usize = 1_024;

/// Every key ndb holds.
#[derive(Debug)]
pub struct Store {
    kv: KeyMap,
    sessions: Sessions,
    info: info::Info,
    /// Tick 0 of the session clock: the first `now` the store was given.
    origin: Option<Instant>,
    /// Save, load and find jobs not handed out yet.
    jobs: jobs::Jobs,
    /// The largest value `KV_UPDATE` and `KV_ARR_APPEND` may leave behind.
    max_value_bytes: usize,
    /// Arrays and lists, in namespaces of their own.
    containers: containers::Containers,
    /// How long a search may run on the save thread.
    search_timeout: Option<Duration>,
    /// List replies to be written in pieces (`replies.rs`).
    lists: replies::Lists,
    /// The names of the next command, copied off the loop
    /// ([`Store::offer_names`]).
    prepared: Option<replies::PreparedNames>,
    /// Where changes to the top-level keys are recorded while the durable
    /// log is on (sessions record theirs in [`Sessions`]).
    journal: Journal,
    /// The durable log cannot be written: commands that change data are
    /// answered 206 (`LogFailed`) and change nothing.
    writes_refused: bool,
    /// The durable log's compaction snapshot being taken (`compact.rs`).
    compacting: Option<Box<compact::Compacting>>,
    /// What a complete compaction snapshot holds toward the memory cap.
    compaction_bytes: usize,
    /// The memory cap and what the maps do not count themselves.
    memory: Memory,
    /// Writes of many keys applied across turns, and what waits for them
    /// (`stepped.rs`).
    stepping: stepped::Stepping,
    /// `SH_EXISTS` requests of many tokens answered across turns
    /// (`exists.rs`).
    exists: exists::Pending,
}

/// The `m` of a 204 (`OutOfMemory`).
pub const OUT_OF_MEMORY: &str = "maxMemory reached";

impl Store {
    /// An empty store.
    pub fn new(info: ServerInfo) -> Store {
        Store {
            kv: KeyMap::new(),
            sessions: Sessions::new(),
            info: info::Info::new(info),
            origin: None,
            jobs: jobs::Jobs::default(),
            max_value_bytes: crate::config::MAX_MAX_PAYLOAD,
            containers: containers::Containers::default(),
            search_timeout: Some(DEFAULT_SEARCH_TIMEOUT),
            lists: replies::Lists::default(),
            prepared: None,
            journal: Journal::default(),
            writes_refused: false,
            compacting: None,
            compaction_bytes: 0,
            memory: Memory::default(),
            stepping: stepped::Stepping::default(),
            exists: exists::Pending::default(),
        }
    }

    /// What the server holds, as the memory cap counts it (see
    /// [`memory`]): keys and values, sessions, arrays and lists (their own
    /// count, [`containers::Containers::bytes`]), the connections' buffers
    /// as last recorded, and the data of jobs.
    pub fn used_memory(&self) -> usize {
        let containers = usize::try_from(self.containers.bytes()).unwrap_or(usize::MAX);
        (self.kv.bytes() + self.sessions.bytes() + self.memory.connections() + self.job_bytes())
            .saturating_add(containers)
            .saturating_add(self.memory.held())
    }

    /// Offers the names of the next command executed, a `KV_GET` or
    /// `KV_CONTAINS` (or `SH_` form) of many names, as copied off the loop
    /// from that very command ([`prepare_names`]); a command that does not
    /// take them drops them.
    pub fn offer_names(&mut self, names: PreparedNames) {
        self.prepared = Some(names);
    }

    /// Drops the names offered and not taken (off the loop: a million
    /// names are tens of MiB of pages to give back).
    pub fn withdraw_names(&mut self) {
        if let Some(names) = self.prepared.take() {
            let bytes = names.heap_bytes();
            reclaim::free_bytes(names, bytes);
        }
    }

    /// The memory cap and its counters, for the server to record what
    /// connections hold.
    pub fn memory_mut(&mut self) -> &mut Memory {
        &mut self.memory
    }

    /// The memory cap (`maxMemory`), `None` when unlimited.
    pub fn max_memory(&self) -> Option<usize> {
        self.memory.cap()
    }

    /// Whether the memory cap is reached (logging when that changes): a
    /// command that adds data is then refused.
    pub fn memory_full(&mut self) -> bool {
        let used = self.used_memory();
        self.memory.check(used)
    }

    /// Whether the array or list command `command` is refused by the
    /// memory cap: one that adds data ([`ContainerVerb::adds_data`]) once
    /// the cap is reached, and a `CREATE` whose whole capacity
    /// ([`containers::create_cost`], counted at once) would pass it.
    ///
    /// [`ContainerVerb::adds_data`]: crate::protocol::ContainerVerb::adds_data
    fn container_over_memory(&mut self, command: &crate::protocol::ContainerCommand<'_>) -> bool {
        let Some(cap) = self.memory.cap() else { return false };
        if !command.verb.adds_data() {
            return false;
        }
        if self.memory_full() {
            return true;
        }
        match &command.args {
            crate::protocol::ContainerArgs::Create { name, len } => {
                let cost = containers::create_cost(command.verb.family, name, *len);
                let cost = usize::try_from(cost).unwrap_or(usize::MAX);
                self.used_memory().saturating_add(cost) > cap
            }
            _ => false,
        }
    }

    /// Sets the limits of arrays and lists (the config's `arrays` and
    /// `lists` sections).
    pub fn set_container_limits(&mut self, limits: containers::Limits) {
        self.containers.set_limits(limits);
    }

    /// The arrays and lists.
    pub fn containers(&self) -> &containers::Containers {
        &self.containers
    }

    /// Notes the server's first turn, from which `SV_INFO` counts uptime.
    /// Later calls change nothing.
    pub fn start(&mut self, now: Instant) {
        self.info.started.get_or_insert(now);
    }

    /// The counters `SV_INFO` reports.
    pub fn stats(&self) -> Stats {
        Stats { session_expiries: self.sessions.expiries(), ..self.info.stats }
    }

    /// The counters, for the server to count connections and requests.
    pub fn stats_mut(&mut self) -> &mut Stats {
        &mut self.info.stats
    }

    /// Requests by command and status, latency, saves, traffic.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.info.metrics
    }

    /// The metrics, for the server to count what it sees.
    pub fn metrics_mut(&mut self) -> &mut crate::metrics::Metrics {
        &mut self.info.metrics
    }

    /// What `/metrics` reports that the store knows, at `now`.
    pub fn metrics_state(&self, now: Instant) -> crate::metrics::State {
        crate::metrics::State {
            uptime_secs: self.info.uptime_secs(now),
            connections: self.info.stats.connections_open,
            connections_total: self.info.stats.connections_total,
            keys: self.kv.len() as u64,
            sessions: self.sessions.len() as u64,
            session_keys: self.sessions.total_keys() as u64,
            session_expiries: self.sessions.expiries(),
            memory_used: self.used_memory() as u64,
            memory_max: self.max_memory().unwrap_or(0) as u64,
            resident_bytes: info::resident_bytes(),
            last_save_unix_ms: self.info.last_save.as_ref().map(|save| save.unix_ms),
            ..crate::metrics::State::default()
        }
    }

    /// Writes the `SV_INFO` reply at `now`; `persistPath` only when
    /// `show_paths` (see [`crate::auth::Role`]).
    pub fn write_info(&mut self, reply: &mut Reply<'_>, now: Instant, show_paths: bool) {
        let counts = info::Counts {
            keys: self.kv.len(),
            sessions: self.session_count(),
            containers: self.containers.counts(),
            memory_used: self.used_memory(),
            max_memory: self.memory.cap(),
        };
        self.info.stats.session_expiries = self.sessions.expiries();
        self.info.write(reply, counts, now, show_paths);
    }

    /// Sets what `SV_CONFIG` reports (a JSON object) and the slow-request
    /// log's threshold and length.
    #[cfg(feature = "introspection")]
    pub fn set_settings(&mut self, settings_json: String, slow_threshold: Option<Duration>, slow_length: usize) {
        self.info.settings_json = settings_json;
        *self.info.metrics.slow_log_mut() = crate::metrics::SlowLog::new(slow_threshold, slow_length);
    }

    /// Sets the durable log's state, for `SV_INFO`'s `log`.
    pub fn set_log_info(&mut self, log: Option<LogInfo>) {
        self.info.log = log;
    }

    /// Sets what `SV_INFO` reports of scheduled saves (`None`: nothing).
    pub fn set_schedule_info(&mut self, schedule: Option<ScheduleInfo>) {
        self.info.schedule = schedule;
    }

    /// Records the outcome of a save, for `SV_INFO`'s `lastSave`.
    pub fn record_save(&mut self, save: LastSave) {
        self.info.last_save = Some(save);
    }

    /// Live sessions, as `SV_INFO` reports them.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The top-level keys.
    pub fn kv(&self) -> &KeyMap {
        &self.kv
    }

    /// The top-level keys, for loading.
    pub fn kv_mut(&mut self) -> &mut KeyMap {
        &mut self.kv
    }

    /// The sessions.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// The time since the origin, fixing the origin on first use.
    fn since(&mut self, now: Instant) -> Duration {
        now.saturating_duration_since(*self.origin.get_or_insert(now))
    }

    /// When [`Store::expire`] next has work: at or before `now` while a
    /// backlog is left, `None` when no session expires.
    pub fn next_deadline(&self) -> Option<Instant> {
        let tick = self.sessions.next_deadline()?;
        self.origin?.checked_add(Duration::from_millis(tick))
    }

    /// Expires sessions whose deadline passed, within the per-turn budget
    /// ([`MAX_EXPIRE_PER_TICK`], [`MAX_CASCADE_MOVES_PER_TICK`]). Returns how
    /// many expired.
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut budget = Budget { work: MAX_EXPIRE_PER_TICK, moves: MAX_CASCADE_MOVES_PER_TICK };
        self.expire_within(now, &mut budget)
    }

    /// [`Store::expire`] with a caller's budget ([`Budget::UNLIMITED`] runs
    /// everything due).
    pub fn expire_within(&mut self, now: Instant, budget: &mut Budget) -> usize {
        if self.origin.is_none() {
            return 0;
        }
        let since = self.since(now);
        self.sessions.expire(since, budget)
    }

    /// Runs `command` at time `now` and writes its reply, or, for a save, a
    /// load, a large `KV_FIND` or a large edit, returns the [`Job`] that
    /// will produce it.
    pub fn execute(&mut self, command: Command<'_>, now: Instant, reply: &mut Reply<'_>) -> Executed {
        let Some(verb) = command.verb() else {
            if let Command::Container(container) = command {
                if self.container_over_memory(&container) {
                    reply.container_status(container.verb, Status::OutOfMemory);
                    return Executed::Replied;
                }
                return self.container(*container, reply);
            }
            return Executed::Replied;
        };
        if verb.adds_data() && self.memory.cap().is_some() && self.memory_full() {
            reply.error(verb, Status::OutOfMemory, OUT_OF_MEMORY);
            return Executed::Replied;
        }
        match command {
            // Answered above.
            Command::Container(_) => {}
            Command::KvSave(_) | Command::ShSave(_) if !self.info.settings.persist_enabled => {
                Store::saves_disabled(reply, verb);
            }
            Command::KvSave(Err((status, m))) | Command::ShSave(Err((status, m))) => reply.error(verb, status, m),
            Command::KvSave(Ok(save)) => return self.queue_kv_save(verb, save.name.into_owned(), reply),
            Command::ShSave(Ok(save)) => {
                let since = self.since(now);
                let name = save.name.into_owned();
                let Some(tokens) = save.tokens.as_deref() else {
                    return self.queue_session_save(verb, name, since, reply);
                };
                // The listed sessions only: at most what one message can
                // name, copied at once.
                if !self.admit(Lane::Saves, verb, reply) {
                    return Executed::Replied;
                }
                let records = self.sessions.snapshot(Some(tokens), since);
                return self.queue_job(Job { verb, name, work: Work::Save(Snapshot::Sessions(records)) }, reply);
            }
            Command::KvLoad(name) => {
                let job = Job { verb, name: name.into_owned(), work: Work::Load(SaveKind::Kv, self.journal_on()) };
                return self.queue_job(job, reply);
            }
            Command::ShLoad(name) => {
                let job = Job { verb, name: name.into_owned(), work: Work::Load(SaveKind::Sessions, false) };
                return self.queue_job(job, reply);
            }
            Command::Kv(op) => {
                let (metrics, journal, prepared) = (&mut self.info.metrics, &mut self.journal, self.prepared.take());
                match run(&mut self.kv, op, prepared, verb, reply, metrics, journal, Scope::Kv) {
                    Ran::Replied => {}
                    Ran::Stream(body) => return self.ready_reply(body),
                    Ran::Snapshot(job) => return self.queue_list(verb, job, reply),
                }
            }
            Command::KvFind(find) => return self.find(find, reply),
            Command::KvUpdate(update) => return self.update(update, reply),
            Command::KvArrAppend(append) => return self.arr_append(append, reply),
            Command::SvInfo => self.write_info(reply, now, true),
            #[cfg(feature = "introspection")]
            Command::SvSlowlog(reset) => {
                let log = self.info.metrics.slow_log_mut();
                write_slow_log(reply, verb, log);
                if reset {
                    log.reset();
                }
            }
            #[cfg(feature = "introspection")]
            Command::SvConfig => {
                let settings = &self.info.settings_json;
                reply.object(verb, |o| {
                    o.raw("config", settings).st(Status::Ok);
                });
            }
            // Only the server knows its connections: it writes this reply
            // (and `dispatch` alone never answers it).
            #[cfg(feature = "introspection")]
            Command::SvClients => return Executed::Later(self.next_job_id()),
            // Refused by the decoder in a build without them.
            #[cfg(not(feature = "introspection"))]
            Command::SvSlowlog(_) | Command::SvConfig | Command::SvClients => {
                reply.error(verb, Status::CommandDisabled, crate::protocol::NO_INTROSPECTION);
            }
            Command::ShNew(expiry) => {
                let since = self.since(now);
                match self.sessions.create(expiry, since) {
                    Ok(token) => reply.object(verb, |o| {
                        o.st(Status::Ok).u64("tkn", token);
                    }),
                    Err(NewSessionError::Full) => Full::Sessions.reply(reply, verb),
                    Err(e) => {
                        log::error!("SH_NEW: {e}");
                        reply.error(verb, Status::SessionNewFail, "");
                    }
                }
            }
            Command::ShEnd(Some(token)) => {
                let since = self.since(now);
                let status = if self.sessions.end(token, since) { Status::Ok } else { Status::SessionNotExist };
                reply.object(verb, |o| {
                    o.st(status).u64("tkn", token);
                });
            }
            Command::ShEndAll => {
                let since = self.since(now);
                count(reply, verb, self.sessions.end_all(since));
            }
            Command::ShExists(tokens) => return self.sh_exists(tokens, now, reply),
            Command::ShInfo(Some(token)) => {
                let since = self.since(now);
                session_info(reply, verb, token, self.sessions.info(token, since));
            }
            Command::ShInfoAll => {
                let sessions = &self.sessions;
                reply.object(verb, |o| {
                    o.st(Status::Ok)
                        .u64("totalKeys", sessions.total_keys() as u64)
                        .u64("totalSessions", sessions.len() as u64);
                });
            }
            Command::Sh(Some(token), op) => {
                let since = self.since(now);
                let touch = match op {
                    MapOp::Set(_) | MapOp::Add(_) => Touch::SetAdd,
                    MapOp::Get(_) => Touch::Get,
                    _ => Touch::None,
                };
                let metrics = &mut self.info.metrics;
                let scope = Scope::Session(token);
                // Taken only by a session that exists: else withdrawn.
                let prepared = &mut self.prepared;
                match self.sessions.with_keys_logged(token, since, touch, |keys, journal| {
                    run(keys, op, prepared.take(), verb, reply, metrics, journal, scope)
                }) {
                    None => reply.error(verb, Status::SessionNotExist, ""),
                    Some(Ran::Replied) => {}
                    Some(Ran::Stream(body)) => return self.ready_reply(body),
                    Some(Ran::Snapshot(job)) => return self.queue_session_list(verb, token, job, reply),
                }
            }
            Command::ShEnd(None) | Command::ShInfo(None) | Command::Sh(None, _) => {
                reply.error(verb, Status::SessionNotExist, "");
            }
        }
        Executed::Replied
    }

    /// A snapshot of every top-level key, for a save outside a request (at
    /// exit).
    pub fn snapshot_kv(&self) -> Snapshot {
        Snapshot::Kv(self.kv.snapshot())
    }

    /// A snapshot of every live session at `now`, for a save outside a
    /// request (at exit).
    pub fn snapshot_sessions(&mut self, now: Instant) -> Snapshot {
        let since = self.since(now);
        Snapshot::Sessions(self.sessions.snapshot(None, since))
    }

    /// Merges what a load outside a request read (a load at start-up) into
    /// the store at `now`, as `KV_LOAD` or `SH_LOAD` would, at once.
    ///
    /// # Errors
    /// The limit the load would pass; nothing was changed (never at
    /// start-up: see `apply_loaded`).
    pub fn apply(&mut self, loaded: Loaded, now: Instant) -> Result<Applied, Full> {
        let since = self.since(now);
        self.apply_loaded(loaded, since)
    }
}

#[cfg(feature = "introspection")]
/// `SV_SLOWLOG`'s reply: the entries newest first (at most
/// [`crate::config::MAX_SLOW_LOG_LENGTH`], each at most 128 bytes of text),
/// and the log's settings.
fn write_slow_log(reply: &mut Reply<'_>, verb: Verb, log: &crate::metrics::SlowLog) {
    let entries: Vec<serde_json::Value> = log
        .entries()
        .map(|e| {
            serde_json::json!({
                "addr": e.addr.map(|a| a.to_string()),
                "bytes": e.bytes,
                "command": e.command.map(|name| name.to_string()),
                "conn": e.conn,
                "id": e.id,
                "latencyUs": u64::try_from(e.latency.as_micros()).unwrap_or(u64::MAX),
                "request": e.text,
                "time": e.unix_ms,
                "turnRequests": e.turn_requests,
            })
        })
        .collect();
    let entries = serde_json::to_string(&entries).unwrap_or_else(|_| "[]".to_owned());
    reply.object(verb, |o| {
        o.raw("entries", &entries).u64("length", log.length() as u64).st(Status::Ok);
        match log.threshold() {
            Some(t) => o.u64("thresholdUs", u64::try_from(t.as_micros()).unwrap_or(u64::MAX)),
            None => o.null("thresholdUs"),
        };
    });
}

impl Store {
    /// Runs an array or list command. Its reply is built whole in this
    /// turn (its work budget bounds how long that takes); one longer than
    /// [`INLINE_REPLY_BYTES`] (a large `GET_RNG`, `MIN`, `MAX` or
    /// `INTERSECT`) is taken back out of `reply` and sent in pieces as the
    /// connection takes them, like a long key list, so it never holds more
    /// than `outputPauseBytes` of the connection's output.
    fn container(&mut self, command: crate::protocol::ContainerCommand<'_>, reply: &mut Reply<'_>) -> Executed {
        let mark = reply.mark();
        self.containers.execute(command, reply);
        if reply.mark() - mark <= INLINE_REPLY_BYTES {
            return Executed::Replied;
        }
        let status = reply.written_status().unwrap_or(Status::Unknown);
        let (text, start) = reply.take_since(mark);
        self.ready_reply(StreamReply::text(text, start, status))
    }
}

/// A limit on what the store holds that a command or a load would pass:
/// it is refused with status 204 ([`Status::OutOfMemory`]) and changes
/// nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Full {
    /// A key map (the top-level one or a session's) holds at most
    /// [`MAX_KEYS`] keys.
    Keys,
    /// The session table holds at most [`MAX_SESSIONS`] sessions.
    Sessions,
}

impl Full {
    /// Writes the refusal: `{"<CMD>_RSP":{"m":"<the limit>","st":204,"tkn":null}}`.
    pub fn reply(self, reply: &mut Reply<'_>, verb: Verb) {
        reply.error(verb, Status::OutOfMemory, &self.to_string());
    }
}

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Full::Keys => write!(f, "a key map holds at most {} keys", table::max_len()),
            Full::Sessions => write!(f, "the session table holds at most {} sessions", table::max_len()),
        }
    }
}

/// Runs a `KV_*`/`SH_*` data operation on one key map. The reply of a
/// list (`KEYS`, `GET`, `CONTAINS`) may be too large for one turn: then
/// it comes in pieces, or after a snapshot (`replies.rs`).
/// Changes are recorded in `journal` (a no-op while the log is off) as
/// changes to `scope`; gets count their hits and misses in `metrics`.
// One argument per part of the store it needs, each borrowed apart.
#[allow(clippy::too_many_arguments)]
fn run(
    map: &mut KeyMap,
    op: MapOp<'_>,
    prepared: Option<replies::PreparedNames>,
    verb: Verb,
    reply: &mut Reply<'_>,
    metrics: &mut Metrics,
    journal: &mut Journal,
    scope: Scope,
) -> Ran {
    match op {
        MapOp::Set(pairs) | MapOp::Add(pairs) if !map.fits(pairs.iter().map(|(key, _)| key.as_ref())) => {
            Full::Keys.reply(reply, verb);
        }
        MapOp::ClearSet(pairs) if !KeyMap::new().fits(pairs.iter().map(|(key, _)| key.as_ref())) => {
            Full::Keys.reply(reply, verb);
        }
        // A write of many keys is applied in steps of the same code
        // (`stepped.rs`); here all at once.
        MapOp::ClearSet(_) => count(reply, verb, stepped::apply(map, &op, 0, usize::MAX, journal, scope)),
        MapOp::Set(_) | MapOp::Add(_) | MapOp::Rmv(_) => {
            stepped::apply(map, &op, 0, usize::MAX, journal, scope);
            reply.status(verb, Status::Ok);
        }
        MapOp::Get(names) => return replies::get(map, &names, prepared, verb, reply, metrics),
        MapOp::Clear => {
            let removed = map.clear();
            if removed > 0 {
                journal.clear(scope);
            }
            count(reply, verb, removed);
        }
        MapOp::Contains(names) => return replies::contains(map, &names, prepared, verb, reply),
        MapOp::Count => count(reply, verb, map.len()),
        MapOp::Keys => return replies::keys(map, verb, reply),
    }
    Ran::Replied
}

/// The `SH_INFO` reply for a well-formed token.
fn session_info(reply: &mut Reply<'_>, verb: Verb, token: u64, info: Option<sessions::SessionInfo>) {
    reply.object(verb, |o| {
        let Some(info) = info else {
            o.null("keyCnt").null("shared").st(Status::SessionNotExist).u64("tkn", token);
            return;
        };
        o.bool("expires", info.expiry.is_some());
        if let Some(expiry) = info.expiry {
            let settings = expiry.settings;
            o.object("expiry", |e| {
                e.bool("deleteSession", settings.delete_session)
                    .u64("duration", settings.duration)
                    .bool("extendOnGet", settings.extend_on_get)
                    .bool("extendOnSetAdd", settings.extend_on_set_add)
                    .u64("remaining", expiry.remaining_secs);
            });
        }
        o.u64("keyCnt", info.key_count as u64).bool("shared", false).st(Status::Ok).u64("tkn", token);
    });
}

/// `{"<verb>_RSP":{"cnt":n,"st":1}}`
fn count(reply: &mut Reply<'_>, verb: Verb, n: usize) {
    reply.object(verb, |o| {
        o.u64("cnt", n as u64).st(Status::Ok);
    });
}

/// The names in order, each only at its first occurrence.
fn first_occurrences<'n>(names: &'n [Cow<'_, str>]) -> impl Iterator<Item = &'n str> {
    const LINEAR_SCAN_MAX: usize = 16;
    let mut seen = (names.len() > LINEAR_SCAN_MAX).then(|| HashSet::with_capacity(names.len()));
    names.iter().enumerate().filter_map(move |(i, name)| {
        let first = match &mut seen {
            Some(seen) => seen.insert(name.as_ref()),
            None => !names[..i].contains(name),
        };
        first.then_some(name.as_ref())
    })
}

#[cfg(test)]
mod tests;
