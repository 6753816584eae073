//! Scheduled saves (`persist.saveEvery`): once any rule's interval has
//! passed since the last scheduled save began (or since the first turn)
//! with at least its number of changes meanwhile, the server queues a
//! `KV_SAVE` and an `SH_SAVE` of every session under `persist.saveName`,
//! the very jobs a client's two commands make (stepped copy-on-write
//! snapshots, NemesisDB's format, written atomically by the save thread).
//! Once both are durable, a prune job on the same thread deletes the
//! saves of that name beyond the newest `persist.keep` of each kind
//! (`persist/retention.rs`).
//!
//! Changes are what Redis's `dirty` counts, by command: every command
//! that changes data and succeeded (a load counts once), plus every
//! session expiry. Changes made while a save runs count toward the next.
//!
//! The timer runs on the `now` the host passes in: the server never reads
//! the clock for it. Its cost per turn is one comparison per rule (at most
//! [`MAX_SAVE_RULES`](crate::config::MAX_SAVE_RULES)); nothing runs while
//! a scheduled save or prune is under way, while the start-up load runs,
//! or once shutting down. A save that failed (either kind) is tried again
//! no sooner than [`RETRY_DELAY`] later, its changes still counted, as
//! Redis retries a failed `BGSAVE`.
//!
//! Owns: the rules' timer and change baseline, the state `SV_INFO`'s
//! `scheduledSave` reports.

use std::time::{Duration, Instant};

use log::{info, warn};

use super::{Health, Server};
use crate::config::{Config, SaveRule};
use crate::protocol::Status;
use crate::store::{JobId, ScheduleInfo};

/// How long after a failed scheduled save the next one may begin: Redis's
/// `CONFIG_BGSAVE_RETRY_DELAY`, 5 s. A full disk is not retried every
/// turn, and a save that keeps failing costs a snapshot every 5 s at most.
pub const RETRY_DELAY: Duration = Duration::from_secs(5);

/// The scheduler's state.
#[derive(Debug, Default)]
pub(super) struct Schedule {
    rules: Vec<SaveRule>,
    name: String,
    keep: usize,
    /// When the last scheduled save began (or the first turn).
    since: Option<Instant>,
    /// The change count then.
    changes_at: u64,
    /// No save begins before this (after a failure).
    retry_at: Option<Instant>,
    /// The save under way: its two job ids, how each ended (`Some(true)`:
    /// complete), and the baseline to go back to if it fails.
    running: Option<Running>,
    /// The prune job under way.
    prune: Option<JobId>,
    /// For `SV_INFO`: `running` from the start of a save to the end of
    /// the prune after it.
    status: &'static str,
    last_unix_ms: u64,
}

#[derive(Debug)]
struct Running {
    ids: [JobId; 2],
    ended: [Option<bool>; 2],
    since_before: Option<Instant>,
    changes_before: u64,
}

impl Schedule {
    /// The schedule `config` asks for (no rules: it never saves).
    pub(super) fn new(config: &Config) -> Schedule {
        // Saves disabled (a config built in code, unchecked): no schedule.
        let rules = if config.persist_enabled { config.save_every.clone() } else { Vec::new() };
        Schedule {
            rules,
            name: config.save_name.clone(),
            keep: config.save_keep,
            status: "none",
            ..Schedule::default()
        }
    }

    fn info(&self) -> Option<ScheduleInfo> {
        (!self.rules.is_empty()).then(|| ScheduleInfo {
            name: self.name.clone(),
            status: self.status,
            last_unix_ms: self.last_unix_ms,
            changes_at: self.changes_at,
        })
    }
}

impl Server {
    /// Begins a scheduled save at `now` if a rule says one is due (called
    /// once per turn, before jobs are handed to the save thread).
    pub(super) fn schedule_saves(&mut self, now: Instant) {
        let schedule = &mut self.schedule;
        if schedule.rules.is_empty() || self.health != Health::Serving || self.loading.is_some() {
            return;
        }
        let since = *schedule.since.get_or_insert(now);
        if schedule.running.is_some() || schedule.prune.is_some() || schedule.retry_at.is_some_and(|at| now < at) {
            return;
        }
        let stats = self.store.stats();
        let changes = stats.changes + stats.session_expiries;
        let changed = changes.saturating_sub(schedule.changes_at);
        let elapsed = now.saturating_duration_since(since);
        let Some(rule) = schedule.rules.iter().find(|r| elapsed >= r.every && changed >= r.changes) else { return };
        let Some(ids) = self.store.queue_scheduled_saves(&schedule.name, now) else {
            // Clients' saves fill the lane: tried again next turn.
            return;
        };
        info!(
            "scheduled save {:?}: {changed} changes in {} s (rule {} s, {} changes)",
            schedule.name,
            elapsed.as_secs(),
            rule.every.as_secs(),
            rule.changes
        );
        schedule.running = Some(Running {
            ids,
            ended: [None, None],
            since_before: schedule.since,
            changes_before: schedule.changes_at,
        });
        schedule.since = Some(now);
        schedule.changes_at = changes;
        schedule.retry_at = None;
        schedule.status = "running";
        let info = schedule.info();
        self.store.set_schedule_info(info);
    }

    /// Takes the end of job `id` if it is the scheduler's (`status` is its
    /// reply's, `unix_ms` when it ended); returns whether it was.
    pub(super) fn scheduled_job_ended(&mut self, id: JobId, status: Status, unix_ms: u64, now: Instant) -> bool {
        let schedule = &mut self.schedule;
        if schedule.prune == Some(id) {
            // The save was complete already; the prune logged how it went.
            schedule.prune = None;
            schedule.status = "complete";
            let info = schedule.info();
            self.store.set_schedule_info(info);
            return true;
        }
        let Some(running) = schedule.running.as_mut() else { return false };
        let Some(i) = running.ids.iter().position(|&j| j == id) else { return false };
        running.ended[i] = Some(status == Status::SaveComplete);
        let [Some(kv), Some(sessions)] = running.ended else { return true };
        let Some(running) = schedule.running.take() else { return true };
        schedule.last_unix_ms = unix_ms;
        if kv && sessions {
            // Both are durable: older ones may go. `running` until then.
            schedule.prune = Some(self.store.queue_prune(&schedule.name, schedule.keep));
        } else {
            warn!(
                "scheduled save {:?} failed (the KV save {}, the session save {}): trying again in {} s at the \
                 earliest",
                schedule.name,
                if kv { "completed" } else { "failed" },
                if sessions { "completed" } else { "failed" },
                RETRY_DELAY.as_secs()
            );
            schedule.status = "failed";
            schedule.since = running.since_before;
            schedule.changes_at = running.changes_before;
            schedule.retry_at = Some(now + RETRY_DELAY);
        }
        let info = schedule.info();
        self.store.set_schedule_info(info);
        true
    }

    /// When a rule next comes due after `now`, for the poll timeout:
    /// `None` without rules, while a save or prune is under way, or when
    /// every rule's interval has passed already (it then waits for a
    /// change, and every change comes with an event or a session deadline
    /// that wakes the loop).
    pub(super) fn next_scheduled_save(&self, now: Instant) -> Option<Instant> {
        let schedule = &self.schedule;
        if schedule.running.is_some() || schedule.prune.is_some() {
            return None;
        }
        let since = schedule.since?;
        let due = schedule.rules.iter().map(|r| since + r.every).filter(|at| *at > now).min();
        match (due, schedule.retry_at) {
            (_, Some(at)) if at > now => Some(at),
            (due, _) => due,
        }
    }
}
