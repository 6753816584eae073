//! Work done off the loop as the store sees it: the [`Job`] a save, a load
//! or a large `KV_FIND` turns into, the [`Snapshot`] a save writes and a
//! load reads, the [`Done`] result that comes back, and the replies to all
//! of them.
//!
//! The store never touches files. A save takes a snapshot on the loop (one
//! pointer copy and reference-count increment per key, no key or value
//! bytes) and hands it out as a job; whoever runs jobs (`crate::persist`'s
//! worker thread, or the caller itself at start-up and exit) writes the
//! files and returns a [`Done`], which [`Store::finish`] turns into the
//! reply, applying a load's data at that moment. A `KV_FIND` job carries the
//! entries to search and comes back with its reply already written; an
//! edit job (a large `KV_UPDATE` or `KV_ARR_APPEND`) carries the entry it
//! edits and comes back with the new value, which [`Store::finish`] stores
//! if the key still holds that entry, or else queues the job again under
//! the same id.
//!
//! Jobs wait in two lanes, each in request order, and leave the store
//! through [`Store::next_job`]: saves and loads in one, searches, large
//! edits and list snapshots in the other, so a save never waits behind a
//! queue of searches (the job threads have the same two lanes: see
//! `persist/worker.rs`). A `KV_SAVE`'s snapshot of the top-level keys, and
//! that of a `KV_FIND` over every key, is taken incrementally, at most
//! [`SNAPSHOT_KEYS_PER_STEP`] keys per call (one call per turn of the
//! loop), so that no turn stalls for the whole map; the map keeps the
//! original of every key changed in between (see `kv/snapshot.rs`). The
//! map takes one such snapshot at a time, so a save may wait for the one
//! search snapshot under way, never for more. Jobs behind a snapshot in
//! its lane wait, so a load asked for after a save still runs after it.
//!
//! Neither lane can pile up: past [`MAX_SAVE_JOBS`] saves and loads, or
//! `maxJobs` searches ([`DEFAULT_MAX_JOBS`]), queued or running, a command
//! that would add one is answered 201 (`Busy`) at once and changes
//! nothing. A connection has at most one job by construction: while it
//! waits for a reply that comes later it reads nothing more (`conn.rs`).
//! The search job of a connection that closed is dropped if it has not
//! started ([`Store::drop_job`]), and stops at its next step if it has
//! (its cancel flag); saves, loads and edits of a closed connection still
//! happen, as they would had only the reply been lost.
//!
//! Must not touch: files, threads, sockets, the clock.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use super::Store;
use super::jsonpath::{EditDone, EditJob, FindJob};
use super::kv::{Entry, KeyMap, Merging};
use super::replies::ListJob;
use super::sessions::SessionRecord;
use crate::error::PersistError;
use crate::protocol::{CommandName, Decoded, Rejection, Reply, Shape, Status, Verb};

/// Keys copied per [`Store::next_job`] call while a `KV_SAVE`'s snapshot
/// is taken: 1,024 pointer copies and reference-count increments, about
/// 8 µs (`benches/saves.rs`). A client that waits for each reply before
/// sending the next gets one reply per turn of the loop while a snapshot
/// is taken, so a step must be much shorter than the time between its
/// requests: a million keys take about a thousand turns of a few
/// microseconds each, instead of one 8 ms stall.
pub const SNAPSHOT_KEYS_PER_STEP: usize = 1024;

/// Saves and loads queued or running at once, server-wide; one more is
/// answered 201 (`Busy`). They run one at a time, and each save holds a
/// snapshot of every key (16 bytes per key, 160 MB at ten million) from
/// when it leaves the queue until it is written, so a longer queue holds
/// memory and time no client can use: a client whose save is refused
/// retries once one is written (Redis refuses a `BGSAVE` while one runs).
/// Four leaves room for a `KV_SAVE` and an `SH_SAVE` to wait behind a
/// running pair.
pub const MAX_SAVE_JOBS: usize = 4;

/// The default of `maxJobs`: searches (`KV_FIND` off the loop), large
/// edits and list snapshots queued or running at once, server-wide; one
/// more is answered 201 (`Busy`). They run one at a time, each for up to
/// `searchTimeout` (5 s), so the last of 16 waits at most 75 s, and 16
/// snapshots of a million keys hold 256 MB: enough for every client of a
/// busy application to have a search under way, while 200 clients each
/// asking for a search of every key no longer hold 200 snapshots.
pub const DEFAULT_MAX_JOBS: usize = 16;

/// The default size past which a request is decoded on the search lane
/// instead of on the loop (its `Decode` job then waits in that lane and
/// counts toward `maxJobs`): the decoder reads about 400 MB/s of a long
/// list of names (`cargo bench --bench protocol -- decode_only::large`:
/// 2.6 ns a byte, 49.8 ms for a `KV_GET` of 1,000,000 names), so the
/// largest message decoded on the loop, 256 KiB, costs it about 0.7 ms,
/// well inside the 10 ms turn. Smaller messages, nearly all of them, are
/// decoded in their turn as before, at no hand-over cost.
pub const DECODE_OFF_LOOP_BYTES: usize = 256 * 1024;

/// The `m` of a 201 for a lane at its cap.
pub const JOBS_BUSY: &str = "too many jobs queued; retry later";

/// Which lane a job waits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Saves and loads.
    Saves,
    /// Searches, large edits and list snapshots.
    Searches,
}

pub use loads::{LOAD_MERGE_KEYS_PER_STEP, RESTORE_WORK_PER_STEP};

/// What [`Store::finish`] did with a finished job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    /// The reply is written.
    Replied,
    /// An edit whose key changed while it was computed is queued again
    /// under the same id: its reply comes from a later [`Store::finish`].
    Requeued,
    /// A load is merging: its reply comes from [`Store::take_applied`] in
    /// the turn it takes effect.
    Merging,
}

/// Identifies a job (a save, a load, a search) from its request to its
/// reply.
pub type JobId = u64;

/// What a save holds: `saveDataType` 0 or 1 in `md.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SaveKind {
    /// Top-level keys (`KV_SAVE`), `saveDataType` 0.
    Kv,
    /// Sessions (`SH_SAVE`), `saveDataType` 1.
    Sessions,
}

impl SaveKind {
    /// The `saveDataType` number in `md.json`.
    pub fn data_type(self) -> u64 {
        match self {
            SaveKind::Kv => 0,
            SaveKind::Sessions => 1,
        }
    }

    /// The kind a `saveDataType` number stands for.
    pub fn from_data_type(n: u64) -> Option<SaveKind> {
        match n {
            0 => Some(SaveKind::Kv),
            1 => Some(SaveKind::Sessions),
            _ => None,
        }
    }

    /// `KV` or `sessions`, for log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            SaveKind::Kv => "KV",
            SaveKind::Sessions => "sessions",
        }
    }
}

/// The data of one save: what a save writes and what a load reads back.
#[derive(Debug, Clone)]
pub enum Snapshot {
    /// Top-level keys, in map order.
    Kv(Vec<Entry>),
    /// Sessions, each with its keys in map order.
    Sessions(Vec<SessionRecord>),
}

impl Snapshot {
    /// Which kind of save this is.
    pub fn kind(&self) -> SaveKind {
        match self {
            Snapshot::Kv(_) => SaveKind::Kv,
            Snapshot::Sessions(_) => SaveKind::Sessions,
        }
    }

    /// Keys in it (over all sessions for a session save).
    pub fn key_count(&self) -> usize {
        match self {
            Snapshot::Kv(entries) => entries.len(),
            Snapshot::Sessions(records) => records.iter().map(|r| r.keys.len()).sum(),
        }
    }
}

/// A job waiting to leave the store.
#[derive(Debug)]
enum Queued {
    /// Ready to run.
    Ready(Job),
    /// A `KV_SAVE` (no `find`) or a `KV_FIND` over every key whose
    /// snapshot is still being taken.
    KvSnapshot { verb: Verb, name: String, find: Option<FindJob> },
    /// An `SH_SAVE` of every session, asked at `since` (session-clock
    /// time), whose snapshot is still being taken.
    SessionSnapshot { verb: Verb, name: String, since: Duration },
    /// A list reply over the top-level keys (`replies.rs`) whose snapshot
    /// is still being taken; once complete it is handed out by
    /// [`Store::next_reply`], not run as a job.
    List(Box<ListJob>),
}

impl Queued {
    /// The flag that stops the job's search, if it is a search.
    fn cancel_flag(&self) -> Option<Arc<AtomicBool>> {
        match self {
            Queued::Ready(Job { work: Work::Find(find), .. }) | Queued::KvSnapshot { find: Some(find), .. } => {
                Some(find.cancel.clone())
            }
            _ => None,
        }
    }
}

impl Queued {
    /// The lane it waits in.
    fn lane(&self) -> Lane {
        match self {
            Queued::KvSnapshot { find: None, .. } | Queued::SessionSnapshot { .. } => Lane::Saves,
            Queued::Ready(job) => job.work.lane(),
            Queued::KvSnapshot { find: Some(_), .. } | Queued::List(_) => Lane::Searches,
        }
    }

    /// Whether it is dropped when its connection closes: searches and list
    /// replies, which only read.
    fn read_only(&self) -> bool {
        match self {
            Queued::Ready(job) => matches!(job.work, Work::Find(_) | Work::Decode(_)),
            Queued::KvSnapshot { find, .. } => find.is_some(),
            Queued::SessionSnapshot { .. } => false,
            Queued::List(_) => true,
        }
    }
}

/// The jobs not handed out yet, in two lanes of request order, and those
/// handed out and not finished.
#[derive(Debug)]
pub(super) struct Jobs {
    /// Saves and loads.
    saves: VecDeque<(JobId, Queued)>,
    /// Searches, edits and list snapshots of the top-level keys.
    searches: VecDeque<(JobId, Queued)>,
    /// The job whose snapshot of the top-level keys is under way: the map
    /// takes one at a time.
    kv_snapshot: Option<JobId>,
    /// Lanes whose snapshot advanced without completing since
    /// [`Store::next_job`] last returned `None`: one such step per lane
    /// per turn.
    stepped: [bool; 2],
    /// Jobs handed out and not finished: their lane and what their data
    /// holds (counted toward the memory cap).
    out: HashMap<JobId, (Lane, usize)>,
    /// The sum of `out`'s bytes and of ready jobs still queued.
    bytes: usize,
    /// `maxJobs`: the cap of the search lane.
    max_searches: usize,
    /// Messages longer than this are decoded off the loop.
    decode_bytes: usize,
    next_id: JobId,
    /// KV loads read and waiting to be merged in, or merging (the front).
    loads: VecDeque<loads::Merge>,
    /// Session loads read and waiting to be restored, or being restored
    /// (the front).
    restores: VecDeque<loads::Restoring>,
    /// Loads now in effect (or refused) whose replies are not handed out
    /// yet.
    answers: VecDeque<loads::Answer>,
}

impl Default for Jobs {
    fn default() -> Self {
        Jobs {
            saves: VecDeque::new(),
            searches: VecDeque::new(),
            kv_snapshot: None,
            stepped: [false; 2],
            out: HashMap::new(),
            bytes: 0,
            max_searches: DEFAULT_MAX_JOBS,
            decode_bytes: DECODE_OFF_LOOP_BYTES,
            next_id: 0,
            loads: VecDeque::new(),
            restores: VecDeque::new(),
            answers: VecDeque::new(),
        }
    }
}

impl Jobs {
    fn lane_mut(&mut self, lane: Lane) -> &mut VecDeque<(JobId, Queued)> {
        match lane {
            Lane::Saves => &mut self.saves,
            Lane::Searches => &mut self.searches,
        }
    }

    /// Jobs of `lane` queued here or handed out and not finished.
    fn count(&self, lane: Lane) -> usize {
        let queued = match lane {
            Lane::Saves => self.saves.len(),
            Lane::Searches => self.searches.len(),
        };
        queued + self.out.values().filter(|(l, _)| *l == lane).count()
    }
}

/// What a load read, ready to apply.
#[derive(Debug)]
pub enum Loaded {
    /// Top-level keys, already in a map of their own (built off the loop),
    /// and how many keys the files held (a key repeated counts each time,
    /// as NemesisDB counts them).
    Kv {
        /// The keys, in file order, the last value of a repeated key kept.
        map: KeyMap,
        /// Members read from the files.
        read: usize,
        /// The keys encoded as sealed log frames
        /// ([`encode_load`](crate::persist::wal::encode_load)), made off the
        /// loop when the durable log is on; empty otherwise.
        frames: Vec<u8>,
    },
    /// Sessions, each with its keys.
    Sessions(Vec<SessionRecord>),
}

impl Loaded {
    /// Which kind of save it came from.
    pub fn kind(&self) -> SaveKind {
        match self {
            Loaded::Kv { .. } => SaveKind::Kv,
            Loaded::Sessions(_) => SaveKind::Sessions,
        }
    }

    /// Keys in it.
    pub fn key_count(&self) -> usize {
        match self {
            Loaded::Kv { map, .. } => map.len(),
            Loaded::Sessions(records) => records.iter().map(|r| r.keys.len()).sum(),
        }
    }
}

/// Work a save or load command leaves to be done off the loop.
#[derive(Debug)]
pub struct Job {
    /// The command (`KV_SAVE`, `SH_SAVE`, `KV_LOAD` or `SH_LOAD`).
    pub verb: Verb,
    /// The save's name (valid: see `protocol::is_valid_save_name`).
    pub name: String,
    /// What to do.
    pub work: Work,
}

/// What a [`Job`] does.
#[derive(Debug)]
pub enum Work {
    /// Write this snapshot as a new save.
    Save(Snapshot),
    /// Read the newest complete save of this kind; with `true` (the durable
    /// log is on) also encode a KV load's keys as log frames, off the loop
    /// ([`Loaded::Kv`]'s `frames`).
    Load(SaveKind, bool),
    /// Search these entries and write the `KV_FIND` reply.
    Find(FindJob),
    /// Compute a `KV_UPDATE` or `KV_ARR_APPEND` of a large value.
    Edit(Box<EditJob>),
    /// Write a base of the durable log (its compaction).
    Compact(Box<crate::persist::wal::CompactJob>),
    /// Delete the scheduled saves of the job's name beyond the newest this
    /// many of each kind (`persist.keep`), after a scheduled save.
    Prune(usize),
    /// Decode a message larger than the decode threshold
    /// ([`DECODE_OFF_LOOP_BYTES`]): the connection's buffer holding it and
    /// where its text starts, handed over by the server
    /// ([`Store::attach_message`]) in the turn it was queued. The server
    /// then executes the command.
    Decode(Option<(crate::input_buf::InputBuf, usize)>),
}

impl Work {
    /// The lane it waits and runs in.
    pub fn lane(&self) -> Lane {
        match self {
            Work::Save(_) | Work::Load(..) | Work::Prune(_) | Work::Compact(_) => Lane::Saves,
            Work::Find(_) | Work::Edit(_) | Work::Decode(_) => Lane::Searches,
        }
    }

    /// What its data holds, as the memory cap counts it: the entry
    /// pointers of a snapshot or a search (the values are the store's).
    fn heap_bytes(&self) -> usize {
        use super::memory::SNAPSHOT_BYTES_PER_ENTRY as ENTRY;
        match self {
            Work::Save(Snapshot::Kv(entries)) => entries.capacity() * ENTRY,
            Work::Save(Snapshot::Sessions(records)) => {
                records.capacity() * std::mem::size_of::<SessionRecord>()
                    + records.iter().map(|r| r.keys.capacity() * ENTRY).sum::<usize>()
            }
            Work::Find(find) => find.entries.capacity() * ENTRY,
            Work::Compact(job) => job.heap_bytes(),
            // The message's copy (the decoded command's lists are counted
            // once it is back, `Decoded::heap_bytes`).
            Work::Decode(message) => message.as_ref().map_or(0, |(buf, _)| buf.capacity()),
            Work::Load(..) | Work::Edit(_) | Work::Prune(_) => 0,
        }
    }

    /// Whether it is a search whose connection is gone: it need not start.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Work::Find(find) if find.is_cancelled())
    }

    /// What the work does, to report it failed if it cannot run.
    pub fn kind(&self) -> WorkKind {
        match self {
            Work::Save(_) => WorkKind::Save,
            Work::Load(..) => WorkKind::Load,
            Work::Find(_) => WorkKind::Find,
            Work::Edit(_) => WorkKind::Edit,
            Work::Prune(_) => WorkKind::Prune,
            Work::Compact(_) => WorkKind::Compact,
            Work::Decode(_) => WorkKind::Decode,
        }
    }
}

/// Which kind of [`Work`] a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkKind {
    /// [`Work::Save`]
    Save,
    /// [`Work::Load`]
    Load,
    /// [`Work::Find`]
    Find,
    /// [`Work::Edit`]
    Edit,
    /// [`Work::Prune`]
    Prune,
    /// [`Work::Compact`]
    Compact,
    /// [`Work::Decode`]
    Decode,
}

/// A finished [`Job`].
#[derive(Debug)]
pub struct Done {
    /// The job's command.
    pub verb: Verb,
    /// The job's save name.
    pub name: String,
    /// How it went.
    pub outcome: Outcome,
    /// When it finished, in milliseconds since the Unix epoch.
    pub unix_ms: u64,
}

/// How a [`Job`] went.
#[derive(Debug)]
pub enum Outcome {
    /// A save: how long writing took, or why it failed.
    Saved(Result<Duration, SaveFailure>),
    /// A load: the data read and how long reading took, or why it failed.
    Loaded(Result<(Loaded, Duration), LoadFailure>),
    /// A `KV_FIND`: the whole reply document, or why the search could not
    /// run (the reply is then status 1000).
    Found(Result<Vec<u8>, String>),
    /// An edit: the job with its result, or why it could not run (status
    /// 1000).
    Edited(Result<Box<EditDone>, String>),
    /// A prune of old scheduled saves: how many stamps were deleted, or
    /// why it stopped (what was deleted before stays deleted).
    Pruned(Result<usize, PersistError>),
    /// A base of the durable log: written and durable, or why not.
    Compacted(Result<crate::persist::wal::BaseWritten, String>),
    /// A large message: the text with its command or rejection (the server
    /// executes it, as it would have in the request's turn), or why it
    /// could not be decoded (the reply is then status 1000).
    Decoded(Result<Box<DecodeDone>, String>),
}

/// A large message decoded off the loop ([`Work::Decode`]).
#[derive(Debug)]
pub struct DecodeDone {
    /// The text with its command or rejection.
    pub decoded: Decoded,
    /// The names of a `KV_GET` or `KV_CONTAINS` of many, copied as its
    /// reply keeps them ([`Store::offer_names`]).
    pub names: Option<super::PreparedNames>,
}

impl Outcome {
    /// The outcome of a job of `kind` that could not run, for `reason`.
    pub fn failed(kind: WorkKind, reason: String) -> Outcome {
        match kind {
            WorkKind::Save => Outcome::Saved(Err(SaveFailure::Data {
                error: PersistError::WorkerFailed { reason },
                duration: Duration::ZERO,
            })),
            WorkKind::Load => Outcome::Loaded(Err(LoadFailure::Data(PersistError::WorkerFailed { reason }))),
            WorkKind::Find => Outcome::Found(Err(reason)),
            WorkKind::Edit => Outcome::Edited(Err(reason)),
            WorkKind::Prune => Outcome::Pruned(Err(PersistError::WorkerFailed { reason })),
            WorkKind::Compact => Outcome::Compacted(Err(reason)),
            WorkKind::Decode => Outcome::Decoded(Err(reason)),
        }
    }
}

/// Why a save failed, sorted by the status its reply gets. Nothing was
/// marked complete either way.
#[derive(Debug)]
pub enum SaveFailure {
    /// The save's directories or metadata could not be written (steps 1–3
    /// of `docs/persistence.md`; `SaveDirWriteFail`).
    Directory(PersistError),
    /// Writing the data or finishing the save failed after it had started
    /// (steps 4–6; `SaveError`).
    Data {
        /// What failed, naming the file.
        error: PersistError,
        /// How long the save ran before failing.
        duration: Duration,
    },
}

impl SaveFailure {
    /// Why the save failed.
    pub fn error(&self) -> &PersistError {
        match self {
            SaveFailure::Directory(error) | SaveFailure::Data { error, .. } => error,
        }
    }

    /// Why the save failed, by value.
    pub fn into_error(self) -> PersistError {
        match self {
            SaveFailure::Directory(error) | SaveFailure::Data { error, .. } => error,
        }
    }
}

/// Why a load failed, sorted by the shape of its reply (both get
/// `LoadError`). Nothing was applied either way.
#[derive(Debug)]
pub enum LoadFailure {
    /// No complete save of the wanted kind could be chosen: the name does
    /// not exist or holds none, or its directory, the newest stamp or that
    /// stamp's metadata is unreadable, damaged or not what a save holds
    /// there, or that save has no data directory.
    NoSave(PersistError),
    /// The chosen save's data is corrupt or unreadable, or holds something
    /// other than regular files (the error names the file).
    Data(PersistError),
}

impl LoadFailure {
    /// Why the load failed.
    pub fn error(&self) -> &PersistError {
        match self {
            LoadFailure::NoSave(error) | LoadFailure::Data(error) => error,
        }
    }
}

/// What a load added to the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Sessions created (records whose token was live are skipped, not
    /// counted).
    pub sessions: usize,
    /// Keys stored: top-level keys read, or keys of the created sessions.
    pub keys: usize,
}

/// Milliseconds, for replies.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl Store {
    /// A fresh id for a reply that comes later.
    pub(crate) fn next_job_id(&mut self) -> JobId {
        self.jobs.next_id += 1;
        self.jobs.next_id
    }

    /// Whether `lane` has room for one more job: otherwise writes the 201
    /// (`Busy`) reply of `verb`.
    pub(super) fn admit(&mut self, lane: Lane, verb: Verb, reply: &mut Reply<'_>) -> bool {
        let cap = match lane {
            Lane::Saves => MAX_SAVE_JOBS,
            Lane::Searches => self.jobs.max_searches,
        };
        let mut count = self.jobs.count(lane);
        if lane == Lane::Searches {
            count += self.lists.waiting_snapshots();
        }
        if count < cap {
            return true;
        }
        log::debug!("{}: {count} jobs in the {lane:?} lane, at its cap ({cap}): 201", verb.name());
        reply.error(verb, Status::Busy, JOBS_BUSY);
        false
    }

    /// Queues the job of a command and says so, or answers 201 when its
    /// lane is at its cap.
    fn queue(&mut self, verb: Verb, queued: Queued, reply: &mut Reply<'_>) -> super::Executed {
        if !self.admit(queued.lane(), verb, reply) {
            return super::Executed::Replied;
        }
        let id = self.next_job_id();
        self.push(id, queued);
        super::Executed::Later(id)
    }

    /// Puts a job at the back of its lane.
    fn push(&mut self, id: JobId, queued: Queued) {
        if let Queued::Ready(job) = &queued {
            self.jobs.bytes += job.work.heap_bytes();
        }
        let lane = queued.lane();
        self.jobs.lane_mut(lane).push_back((id, queued));
    }

    /// Queues a list reply over the top-level keys, whose snapshot
    /// [`Store::next_job`] takes in turn with those of searches.
    pub(super) fn queue_list(&mut self, verb: Verb, job: Box<ListJob>, reply: &mut Reply<'_>) -> super::Executed {
        self.queue(verb, Queued::List(job), reply)
    }

    /// Queues a job that is ready to run.
    pub(super) fn queue_job(&mut self, job: Job, reply: &mut Reply<'_>) -> super::Executed {
        self.queue(job.verb, Queued::Ready(job), reply)
    }

    /// Queues an edit computed off the loop.
    pub(super) fn queue_edit(&mut self, verb: Verb, mut job: EditJob, reply: &mut Reply<'_>) -> super::Executed {
        job.id = self.jobs.next_id + 1;
        self.queue_job(Job { verb, name: String::new(), work: Work::Edit(Box::new(job)) }, reply)
    }

    /// Queues an edit again, under its id, after the key changed while it
    /// was computed (it keeps its place under the cap).
    pub(super) fn requeue_edit(&mut self, verb: Verb, job: EditJob) {
        let id = job.id;
        self.push(id, Queued::Ready(Job { verb, name: String::new(), work: Work::Edit(Box::new(job)) }));
    }

    /// The flag that stops the search job `id` (queued here, or handed
    /// out already) when the connection that asked is gone.
    pub fn cancel_flag(&self, id: JobId) -> Option<Arc<AtomicBool>> {
        self.jobs.searches.iter().rev().find(|(i, _)| *i == id).and_then(|(_, queued)| queued.cancel_flag())
    }

    /// Drops the job `id` if it only reads and has not left the store: its
    /// connection is gone, so no one waits for it. A snapshot it was
    /// taking is abandoned. Returns whether it was dropped; a job handed
    /// out already stops at its next step instead (its cancel flag).
    pub fn drop_job(&mut self, id: JobId) -> bool {
        let Some(i) = self.jobs.searches.iter().position(|(i, q)| *i == id && q.read_only()) else {
            return self.lists.drop_waiting(id) || self.drop_exists(id);
        };
        if let Some((_, Queued::Ready(job))) = self.jobs.searches.remove(i) {
            self.jobs.bytes -= job.work.heap_bytes();
            // A search's entries: a large list is freed off the loop.
            if let Work::Find(find) = job.work {
                let n = find.key_count();
                super::reclaim::free(find, n);
            }
        }
        if self.jobs.kv_snapshot == Some(id) {
            self.kv.abandon_snapshot();
            self.jobs.kv_snapshot = None;
        }
        true
    }

    /// Notes that the job `id`, handed out by [`Store::next_job`], has
    /// finished (call it before [`Store::finish`]): it no longer counts
    /// toward its lane's cap or the memory cap.
    pub fn job_finished(&mut self, id: JobId) {
        if let Some((_, bytes)) = self.jobs.out.remove(&id) {
            self.jobs.bytes -= bytes;
        }
    }

    /// Sets the length past which a message is decoded off the loop
    /// (default [`DECODE_OFF_LOOP_BYTES`]).
    pub fn set_decode_threshold(&mut self, bytes: usize) {
        self.jobs.decode_bytes = bytes;
    }

    /// Whether a message of `len` bytes is decoded off the loop.
    pub fn decodes_off_loop(&self, len: usize) -> bool {
        len > self.jobs.decode_bytes
    }

    /// Queues the decoding of `text` (longer than the decode threshold) on
    /// the search lane; its [`Done`] comes back as [`Outcome::Decoded`],
    /// which the server executes. The text itself is handed over, without
    /// a copy, by [`Store::attach_message`] once the connection kept it
    /// (in the same turn). While the lane is at `maxJobs` the
    /// message is answered 201 (`Busy`) at once, in the shape of the
    /// command named at its start (`ERR` if none can be read there
    /// cheaply), and nothing changes.
    pub fn queue_decode(&mut self, text: &str, reply: &mut Reply<'_>) -> super::Executed {
        let named = crate::protocol::named_command(text);
        if self.jobs_in(Lane::Searches) >= self.jobs.max_searches {
            log::debug!("a message of {} bytes to decode, the search lane at its cap: 201", text.len());
            match named {
                Some(CommandName::Verb(verb)) => reply.error(verb, Status::Busy, JOBS_BUSY),
                Some(CommandName::Container(verb)) => reply.container_status(verb, Status::Busy),
                None => reply.rejection(&Rejection { status: Status::Busy, shape: Shape::Err }),
            }
            return super::Executed::Replied;
        }
        // Only log lines show a decode job's verb.
        let verb = match named {
            Some(CommandName::Verb(verb)) => verb,
            _ => Verb::SvInfo,
        };
        let id = self.next_job_id();
        self.push(id, Queued::Ready(Job { verb, name: String::new(), work: Work::Decode(None) }));
        super::Executed::Later(id)
    }

    /// Hands the decode job `id` its message: `buf` holds the text from
    /// `start` on. Dropped if no such job waits (its connection is gone).
    pub fn attach_message(&mut self, id: JobId, buf: crate::input_buf::InputBuf, start: usize) {
        let found = self.jobs.searches.iter_mut().rev().find(|(i, _)| *i == id);
        if let Some((_, Queued::Ready(Job { work: Work::Decode(slot @ None), .. }))) = found {
            self.jobs.bytes += buf.capacity();
            *slot = Some((buf, start));
        }
    }

    /// Sets `maxJobs`, the cap of the search lane (at least 1).
    pub fn set_max_jobs(&mut self, max: usize) {
        self.jobs.max_searches = max.max(1);
    }

    /// Jobs of `lane` queued or running.
    pub fn jobs_in(&self, lane: Lane) -> usize {
        self.jobs.count(lane) + if lane == Lane::Searches { self.lists.waiting_snapshots() } else { 0 }
    }

    /// What jobs hold, as the memory cap counts it: the data of jobs
    /// handed out or ready, the snapshots being taken, and loads read and
    /// waiting to be applied (a KV load merging counts in
    /// [`KeyMap::bytes`]).
    pub(super) fn job_bytes(&self) -> usize {
        self.jobs.bytes
            + self.kv.snapshot_bytes()
            + self.sessions.snapshot_bytes()
            + self.waiting_load_bytes()
            + self.compaction_heap_bytes()
    }

    /// Queues a `KV_SAVE`, whose snapshot [`Store::next_job`] takes.
    pub(super) fn queue_kv_save(&mut self, verb: Verb, name: String, reply: &mut Reply<'_>) -> super::Executed {
        self.queue(verb, Queued::KvSnapshot { verb, name, find: None }, reply)
    }

    /// Queues an `SH_SAVE` of every session asked at `since`, whose
    /// snapshot [`Store::next_job`] takes.
    pub(super) fn queue_session_save(
        &mut self,
        verb: Verb,
        name: String,
        since: Duration,
        reply: &mut Reply<'_>,
    ) -> super::Executed {
        self.queue(verb, Queued::SessionSnapshot { verb, name, since }, reply)
    }

    /// Queues a scheduled save (`persist.saveEvery`) at `now`: a `KV_SAVE`
    /// and an `SH_SAVE` of every session under `name`, exactly as a
    /// client's two commands would be (stepped copy-on-write snapshots,
    /// the same files), and returns their ids. `None`, with nothing
    /// queued, while the saves' lane has no room for both
    /// ([`MAX_SAVE_JOBS`]): clients' saves come first.
    pub fn queue_scheduled_saves(&mut self, name: &str, now: std::time::Instant) -> Option<[JobId; 2]> {
        if self.jobs.count(Lane::Saves) + 2 > MAX_SAVE_JOBS {
            return None;
        }
        let since = self.since(now);
        let kv = self.next_job_id();
        self.push(kv, Queued::KvSnapshot { verb: Verb::KvSave, name: name.to_owned(), find: None });
        let sessions = self.next_job_id();
        self.push(sessions, Queued::SessionSnapshot { verb: Verb::ShSave, name: name.to_owned(), since });
        Some([kv, sessions])
    }

    /// Queues the deletion of scheduled saves of `name` beyond the newest
    /// `keep` of each kind, on the saves' lane (so it never runs beside a
    /// save or a load), and returns its id. Past the lane's cap: it is one
    /// job at most, queued only after a scheduled save ends.
    pub fn queue_prune(&mut self, name: &str, keep: usize) -> JobId {
        let id = self.next_job_id();
        self.push(id, Queued::Ready(Job { verb: Verb::KvSave, name: name.to_owned(), work: Work::Prune(keep) }));
        id
    }

    /// Queues a `KV_FIND` over every key, whose snapshot [`Store::next_job`]
    /// takes into `find`'s entries.
    pub(super) fn queue_kv_find(&mut self, find: FindJob, reply: &mut Reply<'_>) -> super::Executed {
        self.queue(
            Verb::KvFind,
            Queued::KvSnapshot { verb: Verb::KvFind, name: String::new(), find: Some(find) },
            reply,
        )
    }

    /// The next job to run, if one is ready: the saves' lane first, then
    /// the searches', each in request order. A `KV_SAVE`, a `KV_FIND` over
    /// every key, a list reply or an `SH_SAVE` of every session at the
    /// front of its lane has its snapshot advanced by up to
    /// [`SNAPSHOT_KEYS_PER_STEP`] keys (and sessions) per turn, and is
    /// ready once it is complete. Call it until `None` once per turn.
    pub fn next_job(&mut self) -> Option<(JobId, Job)> {
        let next = self.next_in(Lane::Saves).or_else(|| self.next_in(Lane::Searches));
        if let Some((id, job)) = &next {
            let bytes = job.work.heap_bytes();
            self.jobs.out.insert(*id, (job.work.lane(), bytes));
        } else {
            self.jobs.stepped = [false; 2];
        }
        next
    }

    /// The next ready job of `lane` (its data already counted in
    /// `jobs.bytes`), advancing the snapshot at its front once per turn.
    fn next_in(&mut self, lane: Lane) -> Option<(JobId, Job)> {
        let step = lane as usize;
        let compacting_sessions = self.compacting_sessions();
        let queue = match lane {
            Lane::Saves => &mut self.jobs.saves,
            Lane::Searches => &mut self.jobs.searches,
        };
        let (id, front) = queue.front_mut()?;
        let id = *id;
        if let Queued::KvSnapshot { find: slot, .. } = front
            && slot.as_ref().is_some_and(|find| find.is_cancelled())
            && let Some(find) = slot.take()
        {
            // Its connection is gone (the peer's end of stream while it
            // waited): no snapshot, and the search is answered at once.
            if self.jobs.kv_snapshot == Some(id) {
                self.kv.abandon_snapshot();
                self.jobs.kv_snapshot = None;
            }
            *front = Queued::Ready(Job { verb: Verb::KvFind, name: String::new(), work: Work::Find(find) });
        }
        match front {
            Queued::KvSnapshot { .. } | Queued::List(_) => {
                if self.jobs.stepped[step] || self.jobs.kv_snapshot.is_some_and(|owner| owner != id) {
                    // Stepped this turn, or the map's one snapshot is another
                    // lane's: its turn comes.
                    return None;
                }
                if self.jobs.kv_snapshot.is_none() {
                    if self.stepping.write.is_some() || !self.kv.begin_snapshot() {
                        // A load is being moved in, or a write of many keys
                        // (`stepped.rs`): its snapshot begins once it is in.
                        self.jobs.stepped[step] = true;
                        return None;
                    }
                    self.jobs.kv_snapshot = Some(id);
                }
                let Some(entries) = self.kv.snapshot_step(SNAPSHOT_KEYS_PER_STEP) else {
                    self.jobs.stepped[step] = true;
                    return None;
                };
                self.jobs.kv_snapshot = None;
                let jobs = &mut self.jobs;
                let queue = match lane {
                    Lane::Saves => &mut jobs.saves,
                    Lane::Searches => &mut jobs.searches,
                };
                let (_, front) = queue.front_mut()?;
                match front {
                    Queued::KvSnapshot { verb, name, find } => {
                        let work = match find.take() {
                            Some(find) => Work::Find(FindJob { entries, ..find }),
                            None => Work::Save(Snapshot::Kv(entries)),
                        };
                        jobs.bytes += work.heap_bytes();
                        *front = Queued::Ready(Job { verb: *verb, name: std::mem::take(name), work });
                    }
                    _ => {
                        if let Some((id, Queued::List(job))) = queue.pop_front() {
                            self.lists.push_ready(id, job.into_reply(entries));
                        }
                        // The jobs behind it wait for the next turn.
                        return None;
                    }
                }
            }
            Queued::SessionSnapshot { verb, name, since } => {
                if self.jobs.stepped[step] || compacting_sessions {
                    return None;
                }
                if !self.sessions.is_snapshotting() && (!self.jobs.restores.is_empty() || self.stepping.write.is_some())
                {
                    // A save holds all of a session load or none of it.
                    self.jobs.stepped[step] = true;
                    return None;
                }
                self.sessions.begin_snapshot(*since);
                let Some(records) = self.sessions.snapshot_step(SNAPSHOT_KEYS_PER_STEP) else {
                    self.jobs.stepped[step] = true;
                    return None;
                };
                let work = Work::Save(Snapshot::Sessions(records));
                self.jobs.bytes += work.heap_bytes();
                *front = Queued::Ready(Job { verb: *verb, name: std::mem::take(name), work });
            }
            Queued::Ready(_) => {}
        }
        match self.jobs.lane_mut(lane).pop_front() {
            Some((id, Queued::Ready(job))) => Some((id, job)),
            _ => None,
        }
    }

    /// Whether a load is being applied, or waits to be (`jobs/loads.rs`).
    pub(super) fn applying_loads(&self) -> bool {
        !self.jobs.loads.is_empty() || !self.jobs.restores.is_empty()
    }

    /// Whether jobs are queued: [`Store::next_job`] (or
    /// [`Store::next_reply`]) has work to do, or a load is merging
    /// ([`Store::work`]) or has a reply to hand out ([`Store::take_applied`]).
    pub fn has_queued_jobs(&self) -> bool {
        !self.jobs.saves.is_empty()
            || !self.jobs.searches.is_empty()
            || !self.lists.is_empty()
            || !self.jobs.loads.is_empty()
            || !self.jobs.restores.is_empty()
            || !self.jobs.answers.is_empty()
            || self.stepping_busy()
            || !self.exists.is_empty()
    }

    /// Merges what a load read into the store at `since` (session-clock
    /// time), at once: top-level keys with set semantics (a key already
    /// present is overwritten in place), sessions only where the token is
    /// not live. Loads of the same kind still applying in steps are
    /// finished first.
    ///
    /// Loaded keys come as a map built off the loop: into an empty map (and
    /// no snapshot under way) it is moved in whole, at no cost to the loop;
    /// otherwise its entries are merged one by one (about 0.3 µs each; see
    /// [`Store::finish`] for the way that does not stop the loop).
    ///
    /// # Errors
    /// The limit the load would pass ([`Full`](super::Full)); nothing was
    /// changed. A load at start-up never meets it: the store is empty, and
    /// the save thread refuses files holding more than a map holds.
    pub(super) fn apply_loaded(&mut self, loaded: Loaded, since: Duration) -> Result<Applied, super::Full> {
        match loaded {
            Loaded::Kv { map, read, frames } => {
                self.merge_loads(usize::MAX);
                let frames = self.load_frames(&map, frames);
                if !self.kv.begin_merge(map) {
                    return Err(super::Full::Keys);
                }

                loop {
                    match self.kv.merge_step(usize::MAX) {
                        Merging::Done => {
                            // Applied whole, before any other command.
                            self.journal_sealed(frames);
                            return Ok(Applied { sessions: 0, keys: read });
                        }
                        Merging::Refused => return Err(super::Full::Keys),
                        Merging::Checking | Merging::Applying => {}
                    }
                }
            }
            Loaded::Sessions(records) => {
                self.restore_sessions(usize::MAX, since);
                let mut restore = self.sessions.begin_restore(records)?;
                self.sessions.restore_step(&mut restore, usize::MAX, since);
                Ok(Applied { sessions: restore.sessions, keys: restore.keys })
            }
        }
    }

    /// Takes in the finished job `id` at `now`: writes its reply, records a
    /// save's outcome for `SV_INFO`, applies a load, stores an edit. Says
    /// whether the reply is written ([`Finished::Replied`]) or comes later:
    /// an edit whose key changed while it was computed is queued again under
    /// the same id ([`Finished::Requeued`]: its reply comes from a later
    /// call), and a KV load into a store that has keys, or a session load
    /// too large for one step, or either behind a load of its kind still
    /// under way, is applied in steps by [`Store::work`]
    /// ([`Finished::Merging`]: its reply comes from [`Store::take_applied`]
    /// in the turn it takes effect). A host that runs no turns calls
    /// [`Store::work`] and [`Store::take_applied`] until
    /// [`Store::has_queued_jobs`] is false.
    pub fn finish(&mut self, id: JobId, done: Done, now: std::time::Instant, reply: &mut Reply<'_>) -> Finished {
        let Done { verb, name, outcome, unix_ms } = done;
        match outcome {
            Outcome::Saved(result) => {
                let status = match &result {
                    Ok(_) => Status::SaveComplete,
                    Err(SaveFailure::Directory(_)) => Status::SaveDirWriteFail,
                    Err(SaveFailure::Data { .. }) => Status::SaveError,
                };
                match &result {
                    Ok(duration) | Err(SaveFailure::Data { duration, .. }) => reply.object(verb, |o| {
                        o.u64("duration", millis(*duration)).str("name", &name).st(status);
                    }),
                    Err(SaveFailure::Directory(_)) => reply.object(verb, |o| {
                        o.str("name", &name).st(status);
                    }),
                }
                let kind = if verb == Verb::ShSave { SaveKind::Sessions } else { SaveKind::Kv };
                self.info.metrics.record_save(kind, result.as_ref().map(|d| *d).map_err(|_| ()));
                self.record_save(super::LastSave { name, status, unix_ms });
            }
            Outcome::Loaded(Ok((Loaded::Kv { map, read, frames }, duration))) => {
                let applied = Applied { sessions: 0, keys: read };
                let answer = loads::Answer { id, verb, name, applied, duration, refused: None };
                return self.finish_kv_load(answer, map, frames, reply);
            }
            Outcome::Loaded(Ok((Loaded::Sessions(records), duration))) => {
                let answer = loads::Answer { id, verb, name, applied: Applied::default(), duration, refused: None };
                return self.finish_session_load(answer, records, now, reply);
            }
            Outcome::Loaded(Err(LoadFailure::NoSave(_))) => reply.object(verb, |o| {
                o.str("name", &name).st(Status::LoadError);
            }),
            Outcome::Loaded(Err(LoadFailure::Data(_))) => {
                load_reply(reply, verb, &name, Status::LoadError, Applied::default(), Duration::ZERO);
            }
            Outcome::Found(Ok(document)) => reply.document(&document, Status::Ok),
            Outcome::Found(Err(_)) => reply.status(verb, Status::Unknown),
            Outcome::Edited(Ok(done)) => return self.apply_edit(verb, *done, reply),
            // The server takes it in before it gets here.
            Outcome::Compacted(_) => {}
            // The server executes decoded messages; one that reaches the
            // store could not be decoded.
            Outcome::Decoded(_) => reply.rejection(&Rejection { status: Status::Unknown, shape: Shape::Err }),
            Outcome::Edited(Err(_)) => match verb {
                Verb::KvUpdate => reply.object(verb, |o| {
                    o.u64("cnt", 0).st(Status::Unknown);
                }),
                _ => reply.status(verb, Status::Unknown),
            },
            // The scheduler's: no reply, nothing to record.
            Outcome::Pruned(_) => {}
        }
        Finished::Replied
    }

    /// The reply of a save command while persistence is disabled:
    /// `{"<CMD>_RSP":{"m":"","st":14}}`.
    pub(super) fn saves_disabled(reply: &mut Reply<'_>, verb: Verb) {
        reply.object(verb, |o| {
            o.str("m", "").st(Status::CommandDisabled);
        });
    }
}

/// `KV_LOAD_RSP` has `duration`, `keys`, `name`, `sessions` (always 0) and
/// `st`; `SH_LOAD_RSP` exactly `keys`, `name`, `sessions` and `st`.
fn load_reply(reply: &mut Reply<'_>, verb: Verb, name: &str, status: Status, applied: Applied, duration: Duration) {
    reply.object(verb, |o| {
        if verb == Verb::KvLoad {
            o.u64("duration", millis(duration));
        }
        o.u64("keys", applied.keys as u64).str("name", name).u64("sessions", applied.sessions as u64).st(status);
    });
}

mod loads;
#[cfg(test)]
mod tests;
