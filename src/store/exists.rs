//! `SH_EXISTS` of many tokens, answered across turns: a request naming
//! more than [`EXISTS_TOKENS_PER_STEP`] tokens has at most that many looked
//! up (and their text written) per turn, in [`Store::work`], and its reply,
//! built in request order as it goes, is sent in pieces like any other long
//! list reply ([`Store::next_reply`]). The connection that asked waits for
//! it as for a job, so its replies stay in order; others are served
//! between the steps.
//!
//! **Point in time.** Each token is looked up at the turn of its step: a
//! session that another connection ends, or that expires, while the reply
//! is being built is reported as it was at that step (a smaller request,
//! answered in one turn, reports every token as of its turn).
//!
//! Must not touch: sockets; the sessions' insides (only
//! [`Sessions::exists`](super::Sessions::exists)).

use std::collections::VecDeque;
use std::time::Instant;

use super::replies::StreamReply;
use super::{Executed, JobId, Store};
use crate::protocol::{Reply, Status, Verb};

/// Most tokens one `SH_EXISTS` looks up in a turn, and the size past which
/// it is answered across turns: 16,384, as many as the names a `KV_GET`
/// looks up in its request's turn (`replies::INLINE_NAMES`). A token costs
/// a probe of the session table (a cache miss or two in a table of
/// millions, up to about 200 ns) and its text in the reply (about 20 ns):
/// 3.6 ms at most, well under the 10 ms turn budget. Answered whole, an
/// `SH_EXISTS` of 3,000,000 tokens (59 MB, under the largest `maxPayload`)
/// over a million sessions took a turn of 258 ms; in steps, no turn of it
/// took over 3.9 ms of CPU (`tests/attack_stalls.rs`,
/// `docs/performance.md`).
pub const EXISTS_TOKENS_PER_STEP: usize = 16 * 1024;

/// The `SH_EXISTS` requests being answered, in arrival order (only the
/// first is stepped).
#[derive(Debug, Default)]
pub(super) struct Pending(VecDeque<Exists>);

impl Pending {
    /// Whether none is under way.
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One `SH_EXISTS` being answered.
#[derive(Debug)]
struct Exists {
    id: JobId,
    tokens: Vec<u64>,
    /// Tokens looked up so far.
    done: usize,
    /// The reply so far: its prefix and the live tokens found.
    text: Vec<u8>,
    /// Whether a token is in `text` (the next needs a comma).
    wrote: bool,
    /// The reply's text after its last token.
    suffix: Vec<u8>,
    /// What it holds toward the memory cap.
    held: usize,
}

impl Exists {
    fn heap_bytes(&self) -> usize {
        self.tokens.capacity() * size_of::<u64>() + self.text.capacity() + self.suffix.capacity()
    }
}

impl Store {
    /// Answers `SH_EXISTS` of `tokens` at once if they are at most
    /// [`EXISTS_TOKENS_PER_STEP`]; otherwise queues it to be answered across
    /// turns, under a new id.
    pub(super) fn sh_exists(&mut self, mut tokens: Vec<u64>, now: Instant, reply: &mut Reply<'_>) -> Executed {
        if tokens.len() <= EXISTS_TOKENS_PER_STEP {
            let since = self.since(now);
            tokens.retain(|&token| self.sessions.exists(token, since));
            reply.object(Verb::ShExists, |o| {
                o.u64s("exist", tokens).st(Status::Ok);
            });
            return Executed::Replied;
        }
        let (text, suffix) = Reply::list_parts(reply.protocol(), Verb::ShExists, "exist", false);
        let mut exists = Exists { id: self.next_job_id(), tokens, done: 0, text, wrote: false, suffix, held: 0 };
        exists.held = exists.heap_bytes();
        self.memory.hold(exists.held);
        let id = exists.id;
        self.exists.0.push_back(exists);
        Executed::Later(id)
    }

    /// Looks up the next [`EXISTS_TOKENS_PER_STEP`] tokens of the first
    /// `SH_EXISTS` under way at `now`; once its last one is done, its reply
    /// is ready to go ([`Store::next_reply`]).
    pub(super) fn step_exists(&mut self, now: Instant) {
        if self.exists.is_empty() {
            return;
        }
        let since = self.since(now);
        let Some(exists) = self.exists.0.front_mut() else { return };
        let end = exists.done.saturating_add(EXISTS_TOKENS_PER_STEP).min(exists.tokens.len());
        let mut digits = itoa::Buffer::new();
        for &token in &exists.tokens[exists.done..end] {
            if self.sessions.exists(token, since) {
                if exists.wrote {
                    exists.text.push(b',');
                }
                exists.text.extend_from_slice(digits.format(token).as_bytes());
                exists.wrote = true;
            }
        }
        exists.done = end;
        self.memory.release(exists.held);
        exists.held = exists.heap_bytes();
        self.memory.hold(exists.held);
        if exists.done < exists.tokens.len() {
            return;
        }
        let Some(mut exists) = self.exists.0.pop_front() else { return };
        self.memory.release(exists.held);
        exists.text.extend_from_slice(&exists.suffix);
        let tokens = std::mem::take(&mut exists.tokens);
        let bytes = tokens.capacity() * size_of::<u64>();
        super::reclaim::free_bytes(tokens, bytes);
        self.lists.push_ready(exists.id, StreamReply::text(exists.text, 0, Status::Ok));
    }

    /// Drops the `SH_EXISTS` under way as `id` (its connection is gone);
    /// returns whether there was one.
    pub(super) fn drop_exists(&mut self, id: JobId) -> bool {
        let Some(i) = self.exists.0.iter().position(|e| e.id == id) else { return false };
        let Some(exists) = self.exists.0.remove(i) else { return false };
        self.memory.release(exists.held);
        let bytes = exists.heap_bytes();
        super::reclaim::free_bytes(exists, bytes);
        true
    }
}

#[cfg(test)]
mod tests;
