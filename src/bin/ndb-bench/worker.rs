//! One event-loop thread: its share of the connections, run through every
//! phase (the preload, then each test) in step with the other threads.
//!
//! The worker owns a mio `Poll`, its connections and the open-loop timer,
//! and decides what each connection sends and when:
//! - closed loop: every connection keeps `-P` requests in flight; a reply
//!   frees a slot, which is refilled at once, stamped with the send time;
//! - open loop: requests are due on a fixed [`Schedule`] and go to the next
//!   connection with a free slot, stamped with their due time, so waiting
//!   for a slot counts as latency.
//!
//! Threads meet at a barrier before each phase, so phases never overlap,
//! and report each phase's [`Outcome`] to the main thread over a channel.
//! A connection that fails is reported and dropped; the others go on.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex, mpsc::Sender};
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};

use crate::args::Config;
use crate::conn::{Conn, nanos_since};
use crate::frame;
use crate::reader::Reader;
use crate::report::Outcome;
use crate::request::{self, MAX_KEY_SPACE, ST_OK, Test};
use crate::rng::Rng;
use crate::schedule::Schedule;
use crate::timer::Timer;
use crate::ws;

/// The open-loop timer's token; connections use `Token(0..conns)`.
const TIMER: Token = Token(usize::MAX);

/// How long requests may go without any reply before their connections
/// are declared stuck, so a hung server ends the run instead of hanging it.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest poll wait, so stalls are noticed while nothing happens.
const HOUSEKEEPING: Duration = Duration::from_millis(100);

/// Initial read buffer per connection: holds hundreds of small replies, so
/// one `read` usually drains the socket.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Most keys in one preload request, and most bytes in one preload message:
/// well under the 8 KiB message limit of the original server.
const PRELOAD_KEYS_PER_REQUEST: usize = 100;
const PRELOAD_MESSAGE_BYTES: usize = 7 * 1024;

/// How long closing the connections may take at the end of the run.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(200);

/// One step of the run, the same for every thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `KV_SET` of keys `0..--preload`, several per request.
    Preload,
    /// One test.
    Test(Test),
}

impl Phase {
    /// Name used in progress lines and reports.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Preload => "preload",
            Phase::Test(test) => test.name(),
        }
    }
}

/// Keys each preload request sets, for values of `value_bytes`.
pub fn preload_keys_per_request(value_bytes: usize, preload: u64) -> usize {
    // "key:000000000000":"…", plus a comma.
    let per_key = request::KEY_DIGITS + 10 + value_bytes;
    (PRELOAD_MESSAGE_BYTES / per_key)
        .clamp(1, PRELOAD_KEYS_PER_REQUEST)
        .min(usize::try_from(preload).unwrap_or(usize::MAX).max(1))
}

/// A thread's running count of replies, on its own cache line so threads
/// never contend. Holds the phase number in the top 16 bits.
#[repr(align(128))]
#[derive(Debug, Default)]
pub struct ProgressSlot(AtomicU64);

impl ProgressSlot {
    fn store(&self, phase: usize, replies: u64) {
        let packed = ((phase as u64 & 0xFFFF) << 48) | (replies & ((1 << 48) - 1));
        self.0.store(packed, Ordering::Relaxed);
    }

    /// Replies so far in `phase`, or 0 if the thread is on another phase.
    pub fn replies_in(&self, phase: usize) -> u64 {
        let packed = self.0.load(Ordering::Relaxed);
        if packed >> 48 == phase as u64 & 0xFFFF { packed & ((1 << 48) - 1) } else { 0 }
    }
}

/// State shared by the worker threads and the main thread.
#[derive(Debug)]
pub struct Shared {
    barrier: Barrier,
    setup_failed: AtomicBool,
    live_conns: AtomicUsize,
    /// Set during setup when the server refuses to create sessions: why.
    sessions_refused: Mutex<Option<String>>,
    /// One progress slot per thread.
    pub progress: Vec<ProgressSlot>,
}

impl Shared {
    /// Shared state for `threads` workers.
    pub fn new(threads: usize) -> Shared {
        Shared {
            barrier: Barrier::new(threads),
            setup_failed: AtomicBool::new(false),
            live_conns: AtomicUsize::new(0),
            sessions_refused: Mutex::new(None),
            progress: (0..threads).map(|_| ProgressSlot::default()).collect(),
        }
    }
}

/// What a worker tells the main thread.
#[derive(Debug)]
pub enum Msg {
    /// Connecting or creating sessions failed; the run stops.
    SetupFailed(String),
    /// One thread's results of phase number `phase`.
    Done {
        /// Index into the run's phases.
        phase: usize,
        /// What the thread measured (boxed: a histogram is large).
        outcome: Box<Outcome>,
    },
}

/// A thread's part of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    /// Thread number.
    pub index: usize,
    /// Run-wide number of this thread's first connection.
    pub first_conn: usize,
    /// Connections on this thread.
    pub conns: usize,
    /// Connections in the whole run.
    pub all_conns: usize,
}

impl Share {
    /// The shares of `threads` threads in `connections` connections, as even as possible.
    pub fn split(connections: usize, threads: usize) -> Vec<Share> {
        let mut first_conn = 0;
        (0..threads)
            .map(|index| {
                let conns = connections / threads + usize::from(index < connections % threads);
                let share = Share { index, first_conn, conns, all_conns: connections };
                first_conn += conns;
                share
            })
            .collect()
    }

    /// This thread's part of `total` requests, in proportion to its
    /// connections: `(first request number, count)`. The parts of all
    /// threads add up to `total` exactly.
    pub fn requests(&self, total: u64) -> (u64, u64) {
        let at = |conns: usize| (u128::from(total) * conns as u128 / self.all_conns as u128) as u64;
        let first = at(self.first_conn);
        (first, at(self.first_conn + self.conns) - first)
    }
}

/// How the keys of each request are chosen.
#[derive(Clone, Copy, Debug)]
enum Keys {
    /// Always `key:000000000000`.
    Fixed,
    /// Uniformly random in `[0, n)`.
    Random(u64),
    /// Consecutive from a cursor, wrapping at the given space (preload).
    Sequential { next: u64, space: u64 },
}

/// What is left to send in the current phase.
#[derive(Debug)]
struct Plan {
    keys: Keys,
    sent: u64,
    total: u64,
    /// Closed loop with `--duration`: no new request from this ns on.
    stop_ns: u64,
    schedule: Option<Schedule>,
    pipeline: usize,
}

impl Plan {
    fn is_exhausted(&self, now_ns: u64) -> bool {
        self.sent >= self.total || now_ns >= self.stop_ns
    }

    /// Chooses the keys of the next request: `(first key, key space)`.
    fn keys(&mut self, conn: &mut Conn) -> (u64, u64) {
        match &mut self.keys {
            Keys::Fixed => (0, 1),
            Keys::Random(n) => (conn.random_key(*n), *n),
            Keys::Sequential { next, space } => {
                let first = *next;
                *next = (*next + conn.keys_per_request() as u64) % *space;
                (first, *space)
            }
        }
    }
}

/// Runs one thread of the benchmark: connect, then every phase in step
/// with the other threads, reporting over `tx`.
pub fn run(share: Share, config: &Config, addrs: &[SocketAddr], phases: &[Phase], shared: &Shared, tx: Sender<Msg>) {
    let sessions = phases.iter().any(|p| matches!(p, Phase::Test(t) if t.needs_session()));
    let worker = Worker::connect(share, config, addrs, sessions, shared);
    if let Err(msg) = &worker {
        shared.setup_failed.store(true, Ordering::SeqCst);
        let _ = tx.send(Msg::SetupFailed(msg.clone()));
    }
    shared.barrier.wait();
    let Ok(mut worker) = worker else { return };
    if !shared.setup_failed.load(Ordering::SeqCst) {
        shared.live_conns.fetch_add(share.conns, Ordering::SeqCst);
        for (number, &phase) in phases.iter().enumerate() {
            shared.barrier.wait();
            // Every thread reads the same count here: changes happen only
            // inside a phase, and all threads have left it.
            if shared.live_conns.load(Ordering::SeqCst) == 0 {
                break;
            }
            let refused = shared.sessions_refused.lock().ok().and_then(|r| r.clone());
            let outcome = match (phase, refused) {
                (Phase::Test(test), Some(reason)) if test.needs_session() => {
                    Outcome::skipped(format!("no session: {reason}"))
                }
                _ => {
                    let live_before = worker.live();
                    let outcome = worker.run_phase(number, phase, config, shared);
                    shared.live_conns.fetch_sub(live_before - worker.live(), Ordering::SeqCst);
                    outcome
                }
            };
            if tx.send(Msg::Done { phase: number, outcome: Box::new(outcome) }).is_err() {
                break;
            }
        }
    }
    worker.close_all();
}

/// A thread's poll, timer and connections.
struct Worker {
    share: Share,
    poll: Poll,
    events: Events,
    timer: Timer,
    conns: Vec<Conn>,
    dirty: Vec<usize>,
    /// Where the open loop looks for a free connection next.
    cursor: usize,
}

impl Worker {
    /// Opens the thread's connections and, if `sessions`, creates one
    /// session on each. A server that refuses `SH_NEW` is noted in
    /// `shared` (the session tests are skipped); any other failure is fatal.
    fn connect(
        share: Share,
        config: &Config,
        addrs: &[SocketAddr],
        sessions: bool,
        shared: &Shared,
    ) -> Result<Worker, String> {
        let poll = Poll::new().map_err(|e| format!("cannot create a poll: {}", ws::describe(&e)))?;
        let timer =
            Timer::new(poll.registry(), TIMER).map_err(|e| format!("cannot create a timer: {}", ws::describe(&e)))?;
        let mut conns = Vec::with_capacity(share.conns);
        for i in 0..share.conns {
            let id = share.first_conn + i;
            let mut reader = Reader::with_capacity(READ_BUFFER_BYTES);
            let mut stream = ws::open(&config.target, addrs, &mut reader)?;
            let mut rng = Rng::from_os(id as u64);
            let refused = || shared.sessions_refused.lock().map_or(true, |r| r.is_some());
            let session = if sessions && !refused() {
                match new_session(&mut stream, &mut reader, &mut rng) {
                    Ok(token) => Some(token),
                    Err(SessionError::Refused(reply)) => {
                        if let Ok(mut slot) = shared.sessions_refused.lock() {
                            slot.get_or_insert(format!("SH_NEW answered {reply}"));
                        }
                        None
                    }
                    Err(SessionError::Failed(e)) => return Err(format!("{}: creating a session: {e}", config.target)),
                }
            } else {
                None
            };
            let conn = Conn::new(id, stream, reader, rng, session)
                .and_then(|mut c| c.register(poll.registry(), Token(i)).map(|()| c))
                .map_err(|e| format!("{}: {}", config.target, ws::describe(&e)))?;
            conns.push(conn);
        }
        Ok(Worker {
            share,
            poll,
            events: Events::with_capacity(share.conns + 2),
            timer,
            dirty: Vec::with_capacity(share.conns),
            conns,
            cursor: 0,
        })
    }

    /// Connections that have not failed.
    fn live(&self) -> usize {
        self.conns.iter().filter(|c| !c.is_failed()).count()
    }

    fn plan(&self, phase: Phase, config: &Config) -> Plan {
        let unlimited = Plan {
            keys: Keys::Fixed,
            sent: 0,
            total: u64::MAX,
            stop_ns: u64::MAX,
            schedule: None,
            pipeline: config.pipeline,
        };
        if phase == Phase::Preload {
            let per_request = preload_keys_per_request(config.value_bytes, config.preload) as u64;
            let space = config.preload.max(1);
            let (first, count) = self.share.requests(config.preload.div_ceil(per_request));
            return Plan {
                keys: Keys::Sequential { next: (first * per_request) % space, space },
                total: count,
                ..unlimited
            };
        }
        let keys = match config.key_space {
            Some(n) => Keys::Random(n.min(MAX_KEY_SPACE)),
            None => Keys::Fixed,
        };
        let duration_ns = config.duration.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        match (config.rate, duration_ns) {
            (Some(rate), _) => {
                let schedule = Schedule::new(rate, self.share.all_conns, self.share.conns, self.share.index);
                let total = match duration_ns {
                    Some(ns) => schedule.count_before(ns),
                    None => self.share.requests(config.requests).1,
                };
                Plan { keys, total, schedule: Some(schedule), ..unlimited }
            }
            (None, Some(ns)) => Plan { keys, stop_ns: ns, ..unlimited },
            (None, None) => Plan { keys, total: self.share.requests(config.requests).1, ..unlimited },
        }
    }

    fn run_phase(&mut self, number: usize, phase: Phase, config: &Config, shared: &Shared) -> Outcome {
        let mut plan = self.plan(phase, config);
        for conn in self.conns.iter_mut().filter(|c| !c.is_failed()) {
            let template = match phase {
                Phase::Preload => request::preload_template(
                    preload_keys_per_request(config.value_bytes, config.preload),
                    config.value_bytes,
                ),
                Phase::Test(test) => test.template(config.value_bytes, conn.session),
            };
            conn.prepare(template, config.pipeline);
        }
        let progress = &shared.progress[self.share.index];
        progress.store(number, 0);
        let mut outcome = Outcome::new();
        let mut replies = 0u64;
        let mut last_reply_ns = 0u64;
        let epoch = Instant::now();
        outcome.started = Some(epoch);
        self.cursor = 0;
        if plan.schedule.is_none() {
            for conn in &mut self.conns {
                fill(conn, self.poll.registry(), &mut plan, 0, &mut outcome);
            }
        }
        loop {
            let now = Instant::now();
            let now_ns = nanos_since(epoch);
            let mut blocked = false;
            if plan.schedule.is_some() {
                blocked = self.dispatch(&mut plan, now_ns, &mut outcome);
            }
            let in_flight: usize = self.conns.iter().filter(|c| !c.is_failed()).map(Conn::in_flight).sum();
            let live = self.conns.iter().any(|c| !c.is_failed());
            if !live || (in_flight == 0 && plan.is_exhausted(now_ns)) {
                break;
            }
            let limit_ns = REPLY_TIMEOUT.as_nanos() as u64;
            if in_flight > 0 && now_ns.saturating_sub(last_reply_ns) > limit_ns {
                let why = format!("no reply for {} s", REPLY_TIMEOUT.as_secs());
                let stuck = |c: &Conn| c.oldest_stamp().is_some_and(|t| now_ns.saturating_sub(t) > limit_ns);
                for conn in self.conns.iter_mut().filter(|c| stuck(c)) {
                    conn.fail(self.poll.registry(), &mut outcome, &why);
                }
            }
            let mut timeout = Some(HOUSEKEEPING);
            if let Some(schedule) = &plan.schedule
                && !blocked
                && plan.sent < plan.total
            {
                let due = epoch + Duration::from_nanos(schedule.due_ns(plan.sent));
                // The timer wakes the poll at `due` by itself; the housekeeping
                // timeout still bounds the wait.
                timeout = self.timer.poll_timeout(now, due).map_or(Some(HOUSEKEEPING), |t| Some(t.min(HOUSEKEEPING)));
            }
            if let Err(e) = self.poll.poll(&mut self.events, timeout) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                let why = format!("poll failed: {}", ws::describe(&e));
                for conn in &mut self.conns {
                    conn.fail(self.poll.registry(), &mut outcome, &why);
                }
                break;
            }
            let woke = Instant::now();
            let before = replies;
            for event in self.events.iter() {
                if event.token() == TIMER {
                    self.timer.acknowledge(woke);
                    continue;
                }
                let i = event.token().0;
                let Some(conn) = self.conns.get_mut(i) else {
                    continue;
                };
                if conn.is_failed() {
                    continue;
                }
                let mut result = Ok(());
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    result = conn.read(epoch, &mut outcome).map(|n| replies += n);
                }
                if result.is_ok() && (event.is_writable() || conn.wants_flush()) {
                    result = conn.flush();
                }
                if let Err(why) = result {
                    conn.fail(self.poll.registry(), &mut outcome, &why);
                    continue;
                }
                if plan.schedule.is_none() {
                    let now_ns = nanos_since(epoch);
                    fill(conn, self.poll.registry(), &mut plan, now_ns, &mut outcome);
                }
            }
            if replies != before {
                last_reply_ns = nanos_since(epoch);
                progress.store(number, replies);
            }
        }
        outcome.finished = Some(epoch + Duration::from_nanos(last_reply_ns));
        progress.store(number, replies);
        outcome
    }

    /// Open loop: hands every request due by `now_ns` to a connection with
    /// a free slot, stamped with its due time, then writes each connection's
    /// batch in one call. Returns true when due requests are left waiting
    /// because every connection is full.
    fn dispatch(&mut self, plan: &mut Plan, now_ns: u64, outcome: &mut Outcome) -> bool {
        let Some(schedule) = plan.schedule else {
            return false;
        };
        let due = schedule.due_count(now_ns).min(plan.total);
        let n = self.conns.len();
        let mut blocked = false;
        while plan.sent < due {
            let free = (0..n)
                .map(|step| (self.cursor + step) % n)
                .find(|&i| !self.conns[i].is_failed() && self.conns[i].in_flight() < plan.pipeline);
            let Some(i) = free else {
                blocked = true;
                break;
            };
            self.cursor = (i + 1) % n;
            let due_ns = schedule.due_ns(plan.sent);
            outcome.send_lag_ns.saturating_record(now_ns.saturating_sub(due_ns).max(1));
            let conn = &mut self.conns[i];
            let (first, space) = plan.keys(conn);
            conn.push(first, space, due_ns);
            plan.sent += 1;
            if !conn.dirty {
                conn.dirty = true;
                self.dirty.push(i);
            }
        }
        for i in self.dirty.drain(..) {
            let conn = &mut self.conns[i];
            conn.dirty = false;
            if let Err(why) = conn.flush() {
                conn.fail(self.poll.registry(), outcome, &why);
            }
        }
        blocked
    }

    /// Sends a close frame on every live connection and waits briefly for
    /// the server to close its side, so it sees a clean close, not a reset.
    fn close_all(&mut self) {
        for conn in &mut self.conns {
            conn.start_close();
        }
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        let mut open: Vec<usize> = (0..self.conns.len()).collect();
        while !open.is_empty() && Instant::now() < deadline {
            open.retain(|&i| !self.conns[i].finish_close());
            let wait = deadline.saturating_duration_since(Instant::now()).min(Duration::from_millis(10));
            if !open.is_empty() && self.poll.poll(&mut self.events, Some(wait)).is_err() {
                break;
            }
        }
    }
}

/// Closed loop: tops `conn` up to `-P` requests in flight, stamped
/// `now_ns`, and writes them in one call.
fn fill(conn: &mut Conn, registry: &mio::Registry, plan: &mut Plan, now_ns: u64, outcome: &mut Outcome) {
    if conn.is_failed() {
        return;
    }
    while conn.in_flight() < plan.pipeline && !plan.is_exhausted(now_ns) {
        let (first, space) = plan.keys(conn);
        conn.push(first, space, now_ns);
        plan.sent += 1;
    }
    if conn.wants_flush()
        && let Err(why) = conn.flush()
    {
        conn.fail(registry, outcome, &why);
    }
}

/// Why no session was created.
enum SessionError {
    /// The server answered, but not with a session: its reply.
    Refused(String),
    /// The connection failed.
    Failed(String),
}

/// Creates a session on a blocking connection; returns its token.
fn new_session(stream: &mut std::net::TcpStream, reader: &mut Reader, rng: &mut Rng) -> Result<u64, SessionError> {
    let reply = ws::call(stream, reader, rng, br#"{"SH_NEW":{}}"#).map_err(SessionError::Failed)?;
    match (frame::scan_status(&reply), frame::scan_token(&reply)) {
        (Some(ST_OK), Some(token)) => Ok(token),
        _ => Err(SessionError::Refused(String::from_utf8_lossy(&reply).into_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_and_requests_split_evenly_and_completely() {
        let shares = Share::split(50, 3);
        assert_eq!(shares.iter().map(|s| s.conns).collect::<Vec<_>>(), vec![17, 17, 16]);
        assert_eq!(shares.iter().map(|s| s.first_conn).collect::<Vec<_>>(), vec![0, 17, 34]);
        for total in [0, 1, 7, 100_000, 1_000_003] {
            let parts: Vec<(u64, u64)> = shares.iter().map(|s| s.requests(total)).collect();
            assert_eq!(parts.iter().map(|p| p.1).sum::<u64>(), total);
            assert_eq!(parts[0].0, 0);
            assert_eq!(parts[1].0, parts[0].1);
            assert_eq!(parts[2].0, parts[0].1 + parts[1].1);
        }
    }

    #[test]
    fn preload_batches_stay_small_and_never_exceed_the_key_count() {
        assert_eq!(preload_keys_per_request(16, 1_000_000), 100);
        assert_eq!(preload_keys_per_request(1000, 1_000_000), 7);
        assert_eq!(preload_keys_per_request(100_000, 1_000_000), 1);
        assert_eq!(preload_keys_per_request(16, 3), 3);
    }

    #[test]
    fn progress_slot_ignores_other_phases() {
        let slot = ProgressSlot::default();
        slot.store(3, 12_345);
        assert_eq!(slot.replies_in(3), 12_345);
        assert_eq!(slot.replies_in(2), 0);
    }
}
