//! The threads that run jobs off the event loop: saves, loads, large
//! `KV_FIND` searches and large edits.
//!
//! Two lanes, each a thread of its own started on its first job, run their
//! jobs one at a time in the order they were submitted: `ndb-save` runs
//! saves and loads, so two saves never write at once, a load submitted
//! after a save sees it, and neither ever waits behind a search;
//! `ndb-search` runs searches and edits. A search whose connection is gone
//! before it starts is not run (its result says so). The loop never blocks
//! on them: results come back over a channel per lane that
//! [`Worker::try_finished`] polls once per turn (the host's `Poll` has no
//! waker for it, so the server shortens its poll timeout while jobs are in
//! flight).
//!
//! Both threads run at a lowered priority (`background.rs`), but never so
//! low that a loop keeping its core busy starves them: a single-core host
//! still finishes its saves.
//!
//! A job that panics is reported as failed and the thread carries on; if
//! a thread itself is gone, every job still in flight on it is reported as
//! failed. Either way each submitted job gets exactly one result.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::wake::Wake;
use crate::protocol::Verb;
use crate::store::{Done, Job, Lane, Outcome, Work, WorkKind};

/// The ticket a job's result is matched to its request by.
pub type Ticket = u64;

/// A job still in flight, enough to report it failed.
struct InFlight {
    ticket: Ticket,
    verb: Verb,
    name: String,
    kind: WorkKind,
}

/// Runs jobs against the saves under one persist path, on two threads of
/// its own (one per [`Lane`]).
pub struct Worker {
    root: PathBuf,
    saves: Thread,
    searches: Thread,
    /// Woken by a thread each time it finishes a job.
    wake: Option<Arc<Wake>>,
}

/// One lane's thread and what is in flight on it.
struct Thread {
    lane: Lane,
    jobs: Option<Sender<(Ticket, Job)>>,
    results: Option<Receiver<(Ticket, Done)>>,
    thread: Option<JoinHandle<()>>,
    in_flight: VecDeque<InFlight>,
    /// Results made on the loop's thread (the lane could not be reached).
    failed: VecDeque<(Ticket, Done)>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("root", &self.root).field("in_flight", &self.in_flight()).finish()
    }
}

impl Worker {
    /// A worker for the saves under `root`; each thread starts with its
    /// first job.
    pub fn new(root: PathBuf) -> Worker {
        Worker { root, saves: Thread::new(Lane::Saves), searches: Thread::new(Lane::Searches), wake: None }
    }

    /// Has the threads started from now on wake `wake` each time they
    /// finish a job, so that the loop takes the result at once.
    pub fn set_wake(&mut self, wake: Arc<Wake>) {
        self.wake = Some(wake);
    }

    /// The persist path jobs run against.
    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    /// Jobs submitted whose results have not been taken yet.
    pub fn in_flight(&self) -> usize {
        self.saves.in_flight() + self.searches.in_flight()
    }

    /// Queues `job` in its lane; its result comes back from
    /// [`Worker::try_finished`] with `ticket`.
    pub fn submit(&mut self, ticket: Ticket, job: Job) {
        match job.work.lane() {
            Lane::Saves => self.saves.submit(&self.root, self.wake.as_ref(), ticket, job),
            Lane::Searches => self.searches.submit(&self.root, self.wake.as_ref(), ticket, job),
        }
    }

    /// The next finished job, if any, without blocking: the saves' lane
    /// first.
    pub fn try_finished(&mut self) -> Option<(Ticket, Done)> {
        self.saves.try_finished().or_else(|| self.searches.try_finished())
    }

    /// The next finished job, waiting up to `timeout` for it (for a host
    /// that is shutting down). `None` if nothing is in flight or the time
    /// ran out.
    pub fn wait_finished(&mut self, timeout: Duration) -> Option<(Ticket, Done)> {
        if let Some(done) = self.try_finished() {
            return Some(done);
        }
        let deadline = std::time::Instant::now() + timeout;
        // Two channels cannot be waited on together: wait on each in turn,
        // a slice at a time.
        const SLICE: Duration = Duration::from_millis(5);
        while std::time::Instant::now() < deadline {
            if self.in_flight() == 0 {
                return None;
            }
            for thread in [&mut self.saves, &mut self.searches] {
                if let Some(done) = thread.wait_finished(SLICE) {
                    return Some(done);
                }
            }
        }
        None
    }
}

impl Thread {
    fn new(lane: Lane) -> Thread {
        Thread { lane, jobs: None, results: None, thread: None, in_flight: VecDeque::new(), failed: VecDeque::new() }
    }

    fn in_flight(&self) -> usize {
        self.in_flight.len() + self.failed.len()
    }

    fn submit(&mut self, root: &std::path::Path, wake: Option<&Arc<Wake>>, ticket: Ticket, job: Job) {
        let record = InFlight { ticket, verb: job.verb, name: job.name.clone(), kind: job.work.kind() };
        let sent = self.sender(root, wake).map(|jobs| jobs.send((ticket, job)));
        match sent {
            Some(Ok(())) => self.in_flight.push_back(record),
            _ => {
                log::error!(
                    "the {} thread is not running: {} {:?} fails",
                    self.name(),
                    record.verb.name(),
                    record.name
                );
                self.failed.push_back(failure(record));
            }
        }
    }

    fn name(&self) -> &'static str {
        match self.lane {
            Lane::Saves => "save",
            Lane::Searches => "search",
        }
    }

    fn try_finished(&mut self) -> Option<(Ticket, Done)> {
        if let Some(done) = self.failed.pop_front() {
            return Some(done);
        }
        let results = self.results.as_ref()?;
        match results.try_recv() {
            Ok((ticket, done)) => {
                self.in_flight.retain(|job| job.ticket != ticket);
                Some((ticket, done))
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => self.thread_gone(),
        }
    }

    fn wait_finished(&mut self, timeout: Duration) -> Option<(Ticket, Done)> {
        if let Some(done) = self.failed.pop_front() {
            return Some(done);
        }
        if self.in_flight.is_empty() {
            return None;
        }
        let results = self.results.as_ref()?;
        match results.recv_timeout(timeout) {
            Ok((ticket, done)) => {
                self.in_flight.retain(|job| job.ticket != ticket);
                Some((ticket, done))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => self.thread_gone(),
        }
    }

    /// The job channel, starting the thread if it is not running.
    fn sender(&mut self, root: &std::path::Path, wake: Option<&Arc<Wake>>) -> Option<&Sender<(Ticket, Job)>> {
        if self.jobs.is_none() {
            let wake = wake.cloned();
            let (job_tx, job_rx) = mpsc::channel::<(Ticket, Job)>();
            let (done_tx, done_rx) = mpsc::channel();
            let root = root.to_owned();
            let name = self.name();
            let spawned = std::thread::Builder::new().name(format!("ndb-{name}")).spawn(move || {
                crate::background::lower_priority(name);
                for (ticket, job) in job_rx {
                    let (verb, name, kind) = (job.verb, job.name.clone(), job.work.kind());
                    let done = if let Work::Find(find) = &job.work
                        && find.is_cancelled()
                    {
                        // Its connection is gone: not run.
                        let outcome = Outcome::Found(Ok(find.cancelled_reply()));
                        Done { verb, name, outcome, unix_ms: super::files::unix_millis() }
                    } else {
                        catch_unwind(AssertUnwindSafe(|| super::run(&root, job))).unwrap_or_else(|_| {
                            log::error!("{} {name:?} panicked", verb.name());
                            failure(InFlight { ticket, verb, name, kind }).1
                        })
                    };
                    if done_tx.send((ticket, done)).is_err() {
                        return;
                    }
                    if let Some(wake) = &wake {
                        wake.wake();
                    }
                }
            });
            match spawned {
                Ok(thread) => {
                    self.jobs = Some(job_tx);
                    self.results = Some(done_rx);
                    self.thread = Some(thread);
                }
                Err(e) => {
                    log::error!("cannot start the {} thread: {e}", self.name());
                    return None;
                }
            }
        }
        self.jobs.as_ref()
    }

    /// The thread ended: every job in flight fails, and the next job starts
    /// a new thread.
    fn thread_gone(&mut self) -> Option<(Ticket, Done)> {
        self.jobs = None;
        self.results = None;
        self.thread = None;
        self.failed.extend(self.in_flight.drain(..).map(failure));
        self.failed.pop_front()
    }
}

impl Drop for Thread {
    /// Lets queued jobs finish: closing the job channel ends the thread
    /// after its last job, and the drop waits for that.
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The result of a job that could not run.
fn failure(job: InFlight) -> (Ticket, Done) {
    let outcome = Outcome::failed(job.kind, "the save thread failed".to_owned());
    (job.ticket, Done { verb: job.verb, name: job.name, outcome, unix_ms: super::files::unix_millis() })
}
