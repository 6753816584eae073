//! One event-loop thread: its share of the connections, run through every
//! phase (the preload, then each test) in step with the other threads.
//!
//! The worker owns a mio `Poll`, its connections and the open-loop timer,
//! and decides what each connection sends and when:
//! - closed loop: every connection keeps `-P` requests in flight; a reply
//!   frees a slot, which is refilled at once, stamped with the send time;
//! - open loop: requests are due on a fixed [`Schedule`](crate::schedule::Schedule) and go to the next
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
use crate::fixture;
use crate::frame;
use crate::plan::{Phase, Plan, Share, preload_keys_per_request};
use crate::reader::Reader;
use crate::report::Outcome;
use crate::request::{self, MAX_KEY_SPACE, ST_OK};
use crate::rng::Rng;
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

/// How long closing the connections may take at the end of the run.
const CLOSE_TIMEOUT: Duration = Duration::from_millis(200);

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
    /// Set by thread 0 when the current phase's array or list could not be
    /// set up: why.
    fixture_failed: Mutex<Option<String>>,
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
            fixture_failed: Mutex::new(None),
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

/// Runs one thread of the benchmark: connect, then every phase in step
/// with the other threads, reporting over `tx`.
pub fn run(share: Share, config: &Config, addrs: &[SocketAddr], phases: &[Phase], shared: &Shared, tx: Sender<Msg>) {
    let sessions = phases.iter().any(|p| p.needs_session(config));
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
            // An array or list test's data is set up by thread 0 over a
            // connection of its own, the others waiting, before any clock
            // starts.
            let mut unset = None;
            if let Phase::Test(test) = phase
                && let Some(fixture) = test.fixture()
            {
                if share.index == 0 {
                    let failed = fixture::prepare(fixture, config, addrs).err();
                    if let Ok(mut slot) = shared.fixture_failed.lock() {
                        *slot = failed;
                    }
                }
                shared.barrier.wait();
                unset = shared.fixture_failed.lock().ok().and_then(|r| r.clone());
            }
            let refused = shared.sessions_refused.lock().ok().and_then(|r| r.clone());
            let outcome = match (phase, refused, unset) {
                (_, _, Some(reason)) => Outcome::skipped(reason),
                (phase, Some(reason), None) if phase.needs_session(config) => {
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

    fn run_phase(&mut self, number: usize, phase: Phase, config: &Config, shared: &Shared) -> Outcome {
        let mut plan = Plan::new(phase, config, self.share);
        let rand_space = config.key_space.unwrap_or(MAX_KEY_SPACE);
        for conn in self.conns.iter_mut().filter(|c| !c.is_failed()) {
            let (mix, ok) = match phase {
                Phase::Preload => {
                    let per_request = preload_keys_per_request(config.value_bytes, config.preload);
                    (vec![(request::preload_template(per_request, config.value_bytes), 1)], &[ST_OK][..])
                }
                Phase::Test(test) => {
                    let template = test.template(config.value_bytes, conn.session, config.container_size);
                    (vec![(template, 1)], &[ST_OK][..])
                }
                Phase::Custom => {
                    let mix = config
                        .custom
                        .iter()
                        .map(|entry| {
                            (entry.request.template(config.value_bytes, conn.session, rand_space), entry.weight)
                        })
                        .collect();
                    (mix, config.expect.as_slice())
                }
            };
            conn.prepare(mix, ok, config.pipeline);
        }
        let progress = &shared.progress[self.share.index];
        progress.store(number, 0);
        let mut outcome = Outcome::new();
        let mut replies = 0u64;
        let mut last_reply_ns = 0u64;
        let epoch = Instant::now();
        outcome.started = Some(epoch);
        self.cursor = 0;
        let live_at_start = self.live();
        if plan.schedule.is_none() {
            for conn in &mut self.conns {
                fill(&mut plan, conn, self.poll.registry(), nanos_since(epoch), &mut outcome);
            }
        }
        loop {
            let now = Instant::now();
            let now_ns = nanos_since(epoch);
            let mut blocked = false;
            if plan.schedule.is_some() {
                blocked = self.dispatch(&mut plan, now_ns, &mut outcome);
            }
            // Every request sent is answered, lost with its connection, or in
            // flight; each failure is one connection less. No scan needed.
            let in_flight = plan.sent.saturating_sub(replies + outcome.lost);
            let live = live_at_start > outcome.failures.len();
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
                    fill(&mut plan, conn, self.poll.registry(), now_ns, &mut outcome);
                }
            }
            if replies != before {
                last_reply_ns = nanos_since(epoch);
                progress.store(number, replies);
            }
        }
        outcome.finished = Some(epoch + Duration::from_nanos(last_reply_ns));
        progress.store(number, replies);
        for conn in &self.conns {
            outcome.add_sent(conn.sent());
        }
        outcome
    }

    /// Open loop: hands every request due by `now_ns` (or within the timer's
    /// lead after it) to a connection with a free slot, stamped with its due
    /// time (or `now_ns` if sooner), then writes each connection's batch in
    /// one call. Returns true when due requests are left waiting
    /// because every connection is full.
    fn dispatch(&mut self, plan: &mut Plan, now_ns: u64, outcome: &mut Outcome) -> bool {
        let Some(schedule) = plan.schedule else {
            return false;
        };
        // Requests due within the timer's lead leave now: waiting for them
        // would need a wake-up the timer cannot deliver any sooner.
        let due = schedule.due_count(now_ns + self.timer.lead_ns()).min(plan.total);
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
            let (first, space) = plan.keys(conn.keys_per_request(), |n| conn.random_key(n));
            // A late request is timed from its due time, so the wait counts;
            // an early one from when it left, never from a time to come.
            conn.push(first, space, due_ns.min(now_ns));
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
fn fill(plan: &mut Plan, conn: &mut Conn, registry: &mio::Registry, now_ns: u64, outcome: &mut Outcome) {
    if conn.is_failed() {
        return;
    }
    while conn.in_flight() < plan.pipeline && !plan.is_exhausted(now_ns) {
        let (first, space) = plan.keys(conn.keys_per_request(), |n| conn.random_key(n));
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
    fn progress_slot_ignores_other_phases() {
        let slot = ProgressSlot::default();
        slot.store(3, 12_345);
        assert_eq!(slot.replies_in(3), 12_345);
        assert_eq!(slot.replies_in(2), 0);
    }
}
