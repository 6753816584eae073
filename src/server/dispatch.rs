//! Answering messages: each goes to the store through [`dispatch`]; a save,
//! a load, a large `KV_FIND` or a large edit becomes a job that the save
//! thread runs, and
//! its connection waits (`ReplyKind::Later`) until [`Server`]'s turn finds
//! the job finished and hands the reply to `Conn::resume`.
//!
//! The save thread wakes the host's `Poll` when it finishes a job, through
//! the server's eventfd (`persist/wake.rs`: the host owns the only
//! `Waker`); should that be lost, while jobs are in flight
//! [`Server::poll_timeout`] is at most [`JOB_POLL_INTERVAL`] all the same,
//! and every [`Server::tick`] collects what finished.
//!
//! A list reply too large for one turn (a `KV_KEYS` of millions of keys,
//! say) is answered later the same way, but the loop itself produces it: the
//! store hands it out as a [`StreamReply`], which the connection writes in
//! pieces as the peer takes them (`conn/stream.rs`). A finished job's reply
//! larger than 1 MiB is sent in pieces too.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::Server;
use crate::auth::Role;
use crate::conn::{Body, Late, Message, ReplyKind};
use crate::error::Error;
#[cfg(feature = "introspection")]
use crate::metrics::LaterRequest;
use crate::protocol::{self, Command, CommandName, Decoded, Protocol, Rejection, Reply, Status, Verb};
use crate::store::{
    DecodeDone, Done, Executed, Finished, JobId, Outcome, PreparedNames, Store, StreamReply, WRITE_KEYS_PER_STEP,
};

/// The `m` of a command the connection's role does not allow.
pub const NOT_PERMITTED: &str = "Not permitted for this user's role";

/// The `m` of a command refused because the durable log cannot be written.
pub const LOG_FAILED: &str = "The durable log cannot be written; nothing changed";

/// Whether the command `name` changes data that the durable log records
/// (and so is refused while the log cannot be written, and under `fsync
/// always` answered only once durable): every command a read role may not
/// run, but saves, which only read, and the admin's `SV_SLOWLOG`,
/// `SV_CLIENTS` and `SV_CONFIG`, which change no data.
pub fn changes_data(name: CommandName) -> bool {
    crate::auth::command_role(name) != Role::Read
        && !matches!(
            name,
            CommandName::Verb(Verb::KvSave | Verb::ShSave | Verb::SvSlowlog | Verb::SvClients | Verb::SvConfig)
        )
}

/// The 206 reply of a command refused while the log cannot be written.
fn log_failed(reply: &mut Reply<'_>, name: CommandName) {
    match name {
        CommandName::Verb(verb) => reply.error(verb, Status::LogFailed, LOG_FAILED),
        CommandName::Container(verb) => reply.container_status(verb, Status::LogFailed),
    }
}

/// Replies held until the durable log has synced the records of their
/// commands (`fsync always`).
#[derive(Debug, Default)]
pub(super) struct Holding {
    /// Whether replies of commands that changed data are held.
    pub hold: bool,
    /// Whether they are held in the socket (a plain one), the connection
    /// serving on; otherwise the connection waits for each.
    pub cork: bool,
    /// The log batch this turn's records go in.
    pub seq: u64,
    /// Replies held in this call: the id the connection waits under, the
    /// reply, its status.
    pub held: Vec<(JobId, Vec<u8>, Status)>,
}

/// How often the loop looks for finished jobs (saves, loads, searches)
/// while some are in flight, should the job thread's wake-up (the eventfd
/// of `persist/wake.rs`) be lost: a reply then waits at most this long
/// after its save is done.
pub(super) const JOB_POLL_INTERVAL: Duration = Duration::from_millis(1);

/// Most connections one `SV_CLIENTS` reply lists: the default
/// `maxConnections`. About 200 bytes and 1 µs each, so the reply is built
/// in about 10 ms at most, on the loop, once per request.
pub const MAX_CLIENTS_LISTED: usize = 10_000;

impl Server {
    /// Blocks until every save and load asked for so far has finished and
    /// been answered (or dropped, for connections that are gone): for a
    /// host's exit path, after [`Server::shutdown`], so no save is cut off.
    pub fn wait_for_jobs(&mut self, now: Instant) {
        loop {
            while let Some((id, job)) = self.store.next_job() {
                self.worker.submit(id, job);
            }
            while let Some((id, reply)) = self.store.next_reply(now) {
                let status = reply.status();
                self.deliver_late(id, Late::Stream(Box::new(Pieces(reply))), status, now);
            }
            self.store.work(now);
            self.deliver_applied(now);
            if !self.store.has_queued_jobs() && self.worker.in_flight() == 0 {
                return;
            }
            // A load merging keeps this thread busy; otherwise it waits.
            let wait = if self.store.has_queued_jobs() { Duration::ZERO } else { Duration::from_millis(100) };
            if let Some((id, done)) = self.worker.wait_finished(wait) {
                self.deliver(id, done, now);
            }
        }
    }

    /// Saves every key and every session under `name` (two saves, see
    /// `docs/persistence.md`), on the calling thread, once the saves and
    /// loads in flight are done. For a host's exit path, after
    /// [`Server::shutdown`].
    ///
    /// # Errors
    /// [`Error::Save`]: which of the two saves failed, with the
    /// [`PersistError`](crate::PersistError) saying why (the operation, the
    /// path and the operating system's reason). The data is still in
    /// memory; call it again once the cause is fixed.
    pub fn save_all(&mut self, name: &str, now: Instant) -> Result<(), Error> {
        self.wait_for_jobs(now);
        crate::persist::save_all(&mut self.store, self.worker.root(), name, now).map_err(|(kind, source)| Error::Save {
            name: name.to_owned(),
            kind,
            source,
        })
    }

    /// Hands ready jobs to the save thread, starts the list replies that
    /// are ready, answers the finished jobs and the `SV_CLIENTS` asked for
    /// this turn, and moves the store's own work (resizes, load merges) on
    /// by a step.
    pub(super) fn run_jobs(&mut self, now: Instant) {
        while let Some((id, job)) = self.store.next_job() {
            self.worker.submit(id, job);
        }
        while let Some((id, reply)) = self.store.next_reply(now) {
            let status = reply.status();
            self.deliver_late(id, Late::Stream(Box::new(Pieces(reply))), status, now);
        }
        while let Some((id, done)) = self.worker.try_finished() {
            self.deliver(id, done, now);
        }
        #[cfg(feature = "introspection")]
        for id in std::mem::take(&mut self.client_lists) {
            let reply = self.clients_reply(now);
            self.deliver_late(id, Late::Reply(reply), Status::Ok, now);
        }
        self.store.work(now);
        self.deliver_applied(now);
    }

    #[cfg(feature = "introspection")]
    /// `SV_CLIENTS`'s reply: every open connection (at most
    /// [`MAX_CLIENTS_LISTED`], then `truncated` is true), in the order of
    /// their ids.
    fn clients_reply(&self, now: Instant) -> Vec<u8> {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let clients: Vec<serde_json::Value> = self
            .conns
            .iter()
            .filter(|(_, slot)| !slot.dead)
            .take(MAX_CLIENTS_LISTED)
            .map(|(key, slot)| {
                serde_json::json!({
                    "addr": slot.peer.to_string(),
                    "ageMs": millis(now.saturating_duration_since(slot.accepted)),
                    "id": key,
                    "idleMs": millis(now.saturating_duration_since(slot.last_read)),
                    "lastCommand": slot.last_command.map(|name| name.to_string()),
                    "pendingOutputBytes": slot.conn.owed_output(),
                    "role": slot.conn.role().name(),
                    "upgraded": !slot.conn.is_handshaking(),
                })
            })
            .collect();
        let truncated = self.conns.len() > MAX_CLIENTS_LISTED;
        let list = serde_json::to_string(&clients).unwrap_or_else(|_| "[]".to_owned());
        let mut out = Vec::with_capacity(list.len() + 64);
        Reply::new(&mut out, self.protocol).object(Verb::SvClients, |o| {
            o.raw("clients", &list).st(Status::Ok).bool("truncated", truncated);
        });
        out
    }

    /// Writes a finished job's reply and sends it. A load merging answers
    /// later, once it has taken effect ([`Server::deliver_applied`]); an
    /// edit queued again keeps its connection waiting for a later
    /// [`Store::finish`].
    fn deliver(&mut self, id: JobId, done: Done, now: Instant) {
        if id == crate::persist::wal::COMPACTION_TICKET {
            return self.compaction_done(done, now);
        }
        self.store.job_finished(id);
        let done = match done.outcome {
            Outcome::Decoded(Ok(decoded)) => return self.execute_decoded(id, *decoded, false, now),
            outcome => Done { outcome, ..done },
        };
        let unix_ms = done.unix_ms;
        let mut reply = Vec::new();
        let status = {
            let mut writer = Reply::new(&mut reply, self.protocol);
            if self.store.finish(id, done, now, &mut writer) != Finished::Replied {
                // An edit queued again, or a load applied in steps: its
                // connection keeps waiting.
                return;
            }
            writer.written_status().unwrap_or(Status::Unknown)
        };
        if self.scheduled_job_ended(id, status, unix_ms, now) {
            // A scheduled save or prune: no one waits for a reply.
            return;
        }
        if self.store.seal_journal() && self.holds_replies() {
            // A load or an edit changed data: answered once durable.
            let seq = self.wal().map_or(0, |wal| wal.next_seq());
            self.held.push_back(super::Held { seq, id, reply, status });
            return;
        }
        self.deliver_ready(id, reply, status, now);
    }

    /// [`Server::deliver_late`] of a reply written this turn, counted
    /// toward the memory cap until its connection has taken it: what that
    /// connection serves meanwhile (the requests it queued behind it) sees
    /// it counted, and once the connection is served its output counts it.
    fn deliver_ready(&mut self, id: JobId, reply: Vec<u8>, status: Status, now: Instant) {
        let bytes = reply.capacity();
        self.store.memory_mut().hold(bytes);
        self.deliver_late(id, Late::Reply(reply), status, now);
        self.store.memory_mut().release(bytes);
    }

    /// Executes a large message decoded off the loop, for the connection
    /// waiting under `id`, as it would have been executed in its turn: with
    /// that connection's role, answered now, or later under the id of the
    /// job or list reply it became (the connection waits on). A command
    /// to wait for a write of many keys, or to be one, is taken by
    /// [`Store::take_turns`] (`unparked`: it was waiting, and is first).
    fn execute_decoded(&mut self, id: JobId, done: DecodeDone, unparked: bool, now: Instant) {
        let Some(i) = self.waiting.iter().position(|w| w.id == id) else {
            let bytes = done.decoded.heap_bytes();
            crate::store::reclaim_bytes(done, bytes);
            return;
        };
        let (key, serial) = (self.waiting[i].key, self.waiting[i].serial);
        let Some(role) = self.conns.get(key).filter(|s| s.serial == serial && !s.dead).map(|s| s.conn.role()) else {
            // No one waits for it: given back off the loop.
            self.waiting.swap_remove(i);
            let bytes = done.decoded.heap_bytes();
            crate::store::reclaim_bytes(done, bytes);
            return;
        };
        let DecodeDone { decoded, names } = done;
        let decoded = match self.store.take_turns(id, role, decoded, unparked) {
            Ok((name, _)) => {
                // Answered under the same id once applied.
                self.waiting[i].name = name;
                return;
            }
            Err(decoded) => decoded,
        };
        let held = decoded.heap_bytes() + names.as_ref().map_or(0, PreparedNames::heap_bytes);
        self.store.memory_mut().hold(held);
        if let Some(names) = names {
            self.store.offer_names(names);
        }
        let mut reply = Vec::new();
        let mut writer = Reply::new(&mut reply, self.protocol);
        let store = &mut self.store;
        let ((name, executed), buf) =
            decoded.run(|result, text| run_decoded(store, role, text, result, now, &mut writer));
        self.store.withdraw_names();
        // Dropped here: a mapping is kept for the next large message, or
        // unmapped off the loop (`InputBuf`'s `Drop`).
        drop(buf);
        let status = writer.written_status().unwrap_or(Status::Unknown);
        self.store.memory_mut().release(held);
        self.waiting[i].name = name;
        #[cfg(feature = "introspection")]
        if let Some(slot) = self.conns.get_mut(key) {
            slot.last_command = name.or(slot.last_command);
        }
        match executed {
            Executed::Later(later) => {
                // It became a job or a list reply: the connection waits
                // for that one now.
                self.waiting[i].id = later;
                self.waiting[i].cancel = self.store.cancel_flag(later);
                #[cfg(feature = "introspection")]
                if name == Some(CommandName::Verb(Verb::SvClients)) {
                    self.client_lists.push(later);
                }
            }
            Executed::Replied => {
                if self.store.seal_journal() && self.holds_replies() {
                    let seq = self.wal().map_or(0, |wal| wal.next_seq());
                    self.held.push_back(super::Held { seq, id, reply, status });
                    return;
                }
                self.deliver_ready(id, reply, status, now);
            }
        }
    }

    /// Sends the replies of loads that took effect (or were refused) and
    /// of writes of many keys done this turn (held until durable under
    /// `fsync always` if they changed data), then runs the commands that
    /// waited for such a write, in order, about [`WRITE_KEYS_PER_STEP`]
    /// keys' worth per turn.
    fn deliver_applied(&mut self, now: Instant) {
        loop {
            let mut reply = Vec::new();
            let mut writer = Reply::new(&mut reply, self.protocol);
            let Some((id, changed)) = self
                .store
                .take_applied(&mut writer)
                .map(|id| (id, false))
                .or_else(|| self.store.take_written(&mut writer))
            else {
                break;
            };
            let status = writer.written_status().unwrap_or(Status::Unknown);
            if changed && self.holds_replies() {
                let seq = self.wal().map_or(0, |wal| wal.next_seq());
                self.held.push_back(super::Held { seq, id, reply, status });
                continue;
            }
            self.deliver_ready(id, reply, status, now);
        }
        let mut budget = WRITE_KEYS_PER_STEP;
        while budget > 0
            && let Some((id, decoded)) = self.store.unpark()
        {
            budget = budget.saturating_sub(decoded.write_keys().max(1));
            self.execute_decoded(id, DecodeDone { decoded, names: None }, true, now);
        }
    }

    /// Sends the reply that came later for `id` to the connection waiting
    /// for it, which then serves what it has queued; drops it if that
    /// connection is gone. Counts it in the metrics with its `status`, its
    /// latency running from the turn the request was read in to now (for a
    /// reply written in pieces, to when its first piece is handed over).
    pub(super) fn deliver_late(&mut self, id: JobId, late: Late, status: Status, now: Instant) {
        let Some(i) = self.waiting.iter().position(|w| w.id == id) else { return };
        let waiting = self.waiting.swap_remove(i);
        let latency = now.saturating_duration_since(waiting.since);
        if waiting.name.is_some_and(changes_data) && status.is_success() {
            self.store.stats_mut().changes += 1;
        }
        #[cfg(feature = "introspection")]
        let addr = self.conns.get(waiting.key).filter(|s| s.serial == waiting.serial).map(|s| s.peer);
        let metrics = self.store.metrics_mut();
        metrics.count_later(waiting.name, status, latency);
        #[cfg(feature = "introspection")]
        let request =
            LaterRequest { command: waiting.name, conn: waiting.key, addr, text: &waiting.text, bytes: waiting.bytes };
        #[cfg(feature = "introspection")]
        if metrics.slow_log().threshold().is_some_and(|t| latency >= t) {
            metrics.slow_log_mut().later(request, latency, crate::metrics::unix_millis());
        }
        if self.conns.get(waiting.key).is_some_and(|s| s.serial == waiting.serial && !s.dead) {
            self.drive(waiting.key, now, Some(late));
        }
    }
}

/// A list reply of the store, as the connection's [`Body`].
struct Pieces(StreamReply);

impl Body for Pieces {
    fn fill(&mut self, out: &mut Vec<u8>, max: usize, steps: &mut usize) -> bool {
        self.0.fill(out, max, steps)
    }

    fn heap_bytes(&self) -> usize {
        self.0.heap_bytes()
    }
}

/// What [`handle`] needs besides the store and the message, and what it
/// leaves for the server: the connection's settings going in, the job a
/// request became and the last command seen coming out.
#[derive(Debug)]
pub struct Context {
    /// The status numbering.
    pub protocol: Protocol,
    /// The connection's role.
    pub role: Role,
    /// The host's clock for this turn.
    pub now: Instant,
    /// The connection's number (`SV_CLIENTS`'s `id`).
    pub conn: usize,
    /// The peer's address.
    pub addr: Option<SocketAddr>,
    /// A request that will be answered later, once one is met.
    pub later: Option<Later>,
    /// The name of the last command ndb serves that a request named.
    pub last_command: Option<CommandName>,
    /// Replies held for the durable log, for the server.
    pub(super) holding: Holding,
}

impl Context {
    /// The context of connection `conn` at `now`.
    pub fn new(protocol: Protocol, role: Role, now: Instant, conn: usize, addr: Option<SocketAddr>) -> Context {
        Context { protocol, role, now, conn, addr, later: None, last_command: None, holding: Holding::default() }
    }
}

/// A request answered [`ReplyKind::Later`]: a job (a save, a load, a large
/// `KV_FIND` or list) or an `SV_CLIENTS`, which only the server can write.
#[derive(Debug)]
pub struct Later {
    /// The id its reply will come with.
    pub id: JobId,
    /// Its command's name.
    pub name: Option<CommandName>,
    /// The start of its text (the slow-request log's), and its length.
    pub text: Box<str>,
    /// Its length in bytes.
    pub bytes: usize,
}

/// The server's message handler: counts the request, notes it for the
/// slow-request log, and dispatches it as `context.role` may; a job (a
/// save, a load, a large `KV_FIND`) is noted in `context.later` and
/// answered [`ReplyKind::Later`] (it is counted when its reply is
/// delivered).
pub fn handle(store: &mut Store, context: &mut Context, message: Message<'_>, out: &mut Vec<u8>) -> ReplyKind {
    store.stats_mut().requests += 1;
    let text = match message {
        Message::Text(text) => text,
        Message::Binary(_) => "",
    };
    let start = out.len();
    let mut reply = Reply::new(out, context.protocol);
    if let Message::Text(text) = message
        && store.decodes_off_loop(text.len())
    {
        // Decoded on the search lane, executed when it is back
        // (`Server::deliver`): the connection waits as for any job.
        return match store.queue_decode(text, &mut reply) {
            Executed::Later(id) => {
                context.later = Some(Later { id, name: None, text: Box::default(), bytes: text.len() });
                ReplyKind::Later
            }
            Executed::Replied => {
                store.metrics_mut().count(None, Status::Busy);
                ReplyKind::Text
            }
        };
    }
    let (name, executed) = match message {
        Message::Text(text) if store.may_take_turns(text) => {
            run_owned(store, context.role, text, context.now, &mut reply)
        }
        _ => dispatch_as(store, context.role, message, context.now, &mut reply),
    };
    let changed = store.seal_journal();
    if name.is_some() {
        context.last_command = name;
    }
    let later = |id| {
        // The start of the text, for the slow-request log.
        #[cfg(feature = "introspection")]
        let prefix = crate::metrics::text_prefix(text).into();
        #[cfg(not(feature = "introspection"))]
        let prefix = Box::default();
        Some(Later { id, name, text: prefix, bytes: text.len() })
    };
    match executed {
        Executed::Replied => {
            let status = reply.written_status().unwrap_or(Status::Unknown);
            let holding = &mut context.holding;
            // A read that changed data (an `SH_GET` extending its session
            // under `extendOnGet`, a session found expired) is held like a
            // write, so that its reply never tells of a state a crash could
            // take back; while the log is failing, reads are answered at
            // once all the same (their records wait in the log thread).
            let data_command = name.is_some_and(changes_data);
            let writes = data_command || !store.writes_refused();
            if changed && holding.hold && holding.cork && writes {
                // Written to the socket, which sends it (and what follows)
                // once the turn's group commit is durable.
                super::socket::cork_next_write(holding.seq);
            } else if changed && holding.hold && writes {
                // Sent once the log's next group commit is durable.
                let id = store.next_job_id();
                holding.held.push((id, out[start..].to_vec(), status));
                context.later = later(id);
                return ReplyKind::Later;
            }
            if data_command && status.is_success() {
                store.stats_mut().changes += 1;
            }
            let metrics = store.metrics_mut();
            metrics.count(name, status);
            #[cfg(feature = "introspection")]
            metrics.slow_log_mut().note(name, context.conn, context.addr, text);
            ReplyKind::Text
        }
        Executed::Later(id) => {
            context.later = later(id);
            ReplyKind::Later
        }
    }
}

/// Answers one message: decodes it, runs the command on `store` at `now`,
/// and appends exactly one reply document to `out` (a JSON object keyed
/// `ERR` or `<CMD>_RSP`), or, for a save, a load or a large `KV_FIND`,
/// nothing: the command became a job (see [`Store::next_job`]) whose reply
/// [`Store::finish`] writes. A binary message gets `ERR` status 2. An
/// `SV_CLIENTS` is answered later too, with no job: only a [`Server`],
/// which knows the connections, writes its reply.
pub fn dispatch(
    store: &mut Store,
    protocol: Protocol,
    message: Message<'_>,
    now: Instant,
    out: &mut Vec<u8>,
) -> Executed {
    dispatch_as(store, Role::Admin, message, now, &mut Reply::new(out, protocol)).1
}

/// [`dispatch`] for a connection whose user has `role`: a command the role
/// does not allow is answered 205 (`NotPermitted`) and changes nothing,
/// and `SV_INFO` leaves out the persist path unless the role is admin.
/// Also returns the command's name (`None` when the message named no
/// command ndb serves), for the metrics.
///
/// Every command is checked: [`Command::name`] names every kind of
/// command, and [`crate::auth::command_role`] gives every name its role.
pub fn dispatch_as(
    store: &mut Store,
    role: Role,
    message: Message<'_>,
    now: Instant,
    reply: &mut Reply<'_>,
) -> (Option<CommandName>, Executed) {
    match message {
        Message::Text(text) => run_decoded(store, role, text, protocol::decode(text), now, reply),
        Message::Binary(_) => {
            reply.rejection(&Rejection::binary_frame());
            (None, Executed::Replied)
        }
    }
}

/// [`dispatch_as`] of a message that may wait for a write of many keys, or
/// be one ([`Store::may_take_turns`]): copied (it is at most the decode
/// threshold, 256 KiB by default) and decoded so that it can outlive the
/// turn; answered later under a new id if [`Store::take_turns`] takes it,
/// else run at once as any other.
fn run_owned(
    store: &mut Store,
    role: Role,
    text: &str,
    now: Instant,
    reply: &mut Reply<'_>,
) -> (Option<CommandName>, Executed) {
    let Ok(decoded) = Decoded::new(text.as_bytes().to_vec(), 0) else {
        return run_decoded(store, role, text, protocol::decode(text), now, reply);
    };
    let id = store.next_job_id();
    match store.take_turns(id, role, decoded, false) {
        Ok((name, id)) => (name, Executed::Later(id)),
        Err(decoded) => decoded.run(|result, text| run_decoded(store, role, text, result, now, reply)).0,
    }
}

/// The rest of [`dispatch_as`] once `text` is decoded (in the request's
/// turn, or off the loop for a large message): the role check, the
/// durable log's refusal, the store's execution, the journal.
pub fn run_decoded(
    store: &mut Store,
    role: Role,
    text: &str,
    decoded: Result<Command<'_>, Rejection<'_>>,
    now: Instant,
    reply: &mut Reply<'_>,
) -> (Option<CommandName>, Executed) {
    match decoded {
        Ok(command) => {
            let name = command.name();
            // Without users every connection is admin: one branch.
            if role != Role::Admin {
                if !role.allows(name) {
                    not_permitted(reply, name);
                    return (Some(name), Executed::Replied);
                }
                if matches!(command, Command::SvInfo) {
                    store.write_info(reply, now, false);
                    return (Some(name), Executed::Replied);
                }
            }
            let writes = changes_data(name);
            if writes && store.writes_refused() {
                log_failed(reply, name);
                return (Some(name), Executed::Replied);
            }
            let executed = store.execute(command, now, reply);
            if writes && matches!(name, CommandName::Container(_)) {
                // Arrays and lists are recorded as the command itself.
                store.journal_container(text);
            }
            (Some(name), executed)
        }
        Err(rejection) => {
            let name = rejection.command();
            // A command outside the role is refused as such, whatever
            // else is wrong with it.
            match name {
                Some(name) if !role.allows(name) => not_permitted(reply, name),
                _ => reply.rejection(&rejection),
            }
            (name, Executed::Replied)
        }
    }
}

/// The 205 reply to `name` in its family's error shape: `m`, `st` and
/// `tkn` for a key, session or server command, `st` alone for an array or
/// list command (as every error of theirs).
fn not_permitted(reply: &mut Reply<'_>, name: CommandName) {
    match name {
        CommandName::Verb(verb) => reply.error(verb, Status::NotPermitted, NOT_PERMITTED),
        CommandName::Container(verb) => reply.container_status(verb, Status::NotPermitted),
    }
}
