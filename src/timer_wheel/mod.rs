//! A hierarchical timer wheel in millisecond ticks, generic over what it schedules.
//!
//! # What it owns
//!
//! [`TimerWheel<T>`] owns pending timers: a deadline in `u64` ticks and a value `T`.
//! It knows nothing about sessions, connections or clocks. Time is passed in: tick 0
//! is whatever start the caller chose, and [`ticks_ceil`] / [`ticks_floor`] turn a
//! [`Duration`] since that start into ticks. Deadlines round **up** so a timer never
//! fires before its real deadline; `now` rounds **down** for the same reason.
//!
//! # Layout
//!
//! Eleven levels of 64 slots. A slot of level `L` spans `64^L` ticks, so level 0 holds
//! timers to the exact millisecond and level 10 covers the top four bits of a `u64`:
//! every deadline up to `u64::MAX` has a proper slot, with no overflow list and no
//! clamping. A timer lives at the lowest level whose slot width separates its
//! deadline from the wheel's cursor (`elapsed`): the level of the highest bit in which
//! `elapsed ^ deadline` differs, divided by 6. Hierarchical rather than hashed because
//! session lifetimes range from seconds to days: a hashed wheel would rescan
//! long-lived timers on every revolution, a hierarchical one moves each timer down at
//! most once per level.
//!
//! Timers are stored in one `Vec` of nodes with a free list; each wheel slot is an
//! intrusive doubly linked list threaded through it by `u32` index, so insert and
//! cancel are O(1) and need no allocation once the `Vec` has grown. A separate
//! *pending* list holds timers already due (deadline at or before the current tick).
//! Each node carries a generation, bumped when it is freed: a [`TimerKey`] names an
//! index and a generation, so a key whose timer fired or was cancelled never matches
//! the timer that later reuses the node (short of 2^32 reuses of that one node).
//!
//! # Invariants
//!
//! - `elapsed <= now`, where `now` is the latest tick passed to [`TimerWheel::poll`].
//!   Time only moves forward: an earlier `now` is treated as the latest one.
//! - Every timer in the pending list has `deadline <= now`; every timer in a wheel
//!   slot has `deadline > elapsed` and sits at `level_for(elapsed, deadline)`, except
//!   the timers still in the `cascading` slot: that slot starts at `elapsed`, its
//!   timers have `start <= deadline < start + 64^L`, and no insert can land in it
//!   (such a deadline belongs to a lower level).
//!   Hence the occupied slots of a level all lie after the cursor's slot, and every
//!   slot of a lower level starts before any slot of a higher one.
//! - `occupied[level]` has the bit of each non-empty slot, `occupied_levels` the bit
//!   of each non-empty level; both are exact, so [`TimerWheel::next_deadline`] is two
//!   `trailing_zeros`.
//!
//! # Complexity and work per call
//!
//! `insert`, `cancel`, `deadline`, `next_deadline`: O(1). `poll` returns one timer; when
//! the next due slot belongs to level `L > 0` it first *cascades* that slot, moving
//! each of its timers to the pending list (if due) or to a lower level. A timer moves
//! at most once per level in its life, so polling is amortized O(1) per timer. Each
//! move follows a list link, so timers inserted in deadline order (one TTL, steady
//! arrivals) cascade from cache, while randomly ordered ones cost a cache miss per move.
//!
//! A slot can be large: a level-3 slot spans about 4.4 minutes and holds every timer
//! due in that window, so emptying it in one call could stop an event loop for
//! milliseconds. The cascade is therefore *incremental*: [`TimerWheel::poll_bounded`]
//! takes a budget of moves and, when it runs out, leaves the slot half-moved and
//! returns. The half-moved slot is remembered (`cascading`) and finished first by the
//! next poll, before any other slot is looked at; meanwhile
//! [`TimerWheel::next_deadline`] reports the cursor, which is due, so the caller comes
//! back at once. [`TimerWheel::poll`] is `poll_bounded` with no limit.
//!
//! # Memory
//!
//! One node per live timer, reused after it fires or is cancelled: 24 bytes plus `T`
//! rounded up to 8, i.e. 32 bytes for a `u32`, `u64` or `usize` value on a 64-bit
//! target, plus the `Vec`'s spare capacity (up to 2x while growing; use
//! [`TimerWheel::with_capacity`] to avoid it). The fixed part is about 3 KiB of list
//! heads.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

#[cfg(test)]
mod tests;

/// Bits of a deadline consumed by one level: 64 slots per level.
const SLOT_BITS: u32 = 6;
/// Slots per level.
const SLOTS: usize = 1 << SLOT_BITS;
/// Levels needed for the 6-bit digits of a `u64` deadline: ceil(64 / 6).
const LEVELS: usize = 11;
/// List id of the pending list; ids below it are `level * SLOTS + slot`.
const PENDING: u16 = (LEVELS * SLOTS) as u16;
/// Number of lists: every wheel slot plus the pending list.
const LISTS: usize = LEVELS * SLOTS + 1;
/// End-of-list and empty-free-list marker; also why at most `u32::MAX - 1` timers fit.
const NIL: u32 = u32::MAX;
/// Nanoseconds in one tick.
const NANOS_PER_TICK: u128 = 1_000_000;

/// Converts a time since the wheel's start into a **deadline** tick, rounding up and
/// saturating at `u64::MAX`: 1.2 ms becomes tick 2, so the timer never fires early.
pub fn ticks_ceil(since_start: Duration) -> u64 {
    u64::try_from(since_start.as_nanos().div_ceil(NANOS_PER_TICK)).unwrap_or(u64::MAX)
}

/// Converts a time since the wheel's start into the **current** tick for
/// [`TimerWheel::poll`], rounding down and saturating at `u64::MAX`: at 1.8 ms the
/// current tick is 1, so a deadline of 1.5 ms (tick 2) is not yet due.
pub fn ticks_floor(since_start: Duration) -> u64 {
    u64::try_from(since_start.as_nanos() / NANOS_PER_TICK).unwrap_or(u64::MAX)
}

/// Names one inserted timer, for [`TimerWheel::cancel`] and [`TimerWheel::deadline`].
///
/// A key goes stale once its timer fires or is cancelled; a stale key matches nothing,
/// even after its node is reused. `Option<TimerKey>` is 8 bytes, like the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerKey {
    index: u32,
    generation: NonZeroU32,
}

/// A live timer, linked into one list (a wheel slot or the pending list).
struct Entry<T> {
    deadline: u64,
    prev: u32,
    next: u32,
    generation: NonZeroU32,
    list: u16,
    value: T,
}

/// One element of the timer storage. `Vacant` keeps the generation of the timer that
/// last lived here, so the next one gets a different generation.
enum Node<T> {
    Occupied(Entry<T>),
    Vacant { generation: u32, next_free: u32 },
}

/// A hierarchical timer wheel over `u64` millisecond ticks. The design is
/// in the module's documentation (`src/timer_wheel/mod.rs`).
///
/// It has no locking and no clock: the event loop that owns it passes the time in.
pub struct TimerWheel<T> {
    nodes: Vec<Node<T>>,
    /// Head of the free list threaded through vacant nodes, or `NIL`.
    free_head: u32,
    len: usize,
    /// Head of each list (`level * SLOTS + slot`, then `PENDING`), or `NIL`.
    heads: Box<[u32; LISTS]>,
    /// Per level, one bit per non-empty slot.
    occupied: [u64; LEVELS],
    /// One bit per level with a non-empty slot.
    occupied_levels: u16,
    /// The cascade cursor: every slot starting at or before it has been processed.
    elapsed: u64,
    /// The latest tick passed to `poll`; deadlines at or before it are due.
    now: u64,
    /// A lower bound on the deadlines in the pending list (`u64::MAX` when empty).
    pending_min: u64,
    /// The slot a bounded poll stopped in the middle of cascading; it starts at
    /// `elapsed` and is finished before anything else.
    cascading: Option<u16>,
    /// The generation of a brand-new node: 1, or after [`TimerWheel::clear`] one
    /// past every generation handed out before, so no earlier key matches.
    fresh_generation: NonZeroU32,
    /// The highest generation handed out so far.
    max_generation: u32,
}

impl<T> TimerWheel<T> {
    /// Creates an empty wheel whose current tick is 0.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// Creates an empty wheel with room for `capacity` timers before it reallocates.
    pub fn with_capacity(capacity: usize) -> Self {
        TimerWheel {
            nodes: Vec::with_capacity(capacity),
            free_head: NIL,
            len: 0,
            heads: Box::new([NIL; LISTS]),
            occupied: [0; LEVELS],
            occupied_levels: 0,
            elapsed: 0,
            now: 0,
            pending_min: u64::MAX,
            cascading: None,
            fresh_generation: NonZeroU32::MIN,
            max_generation: 0,
        }
    }

    /// Number of timers that have neither fired nor been cancelled.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The wheel's current tick: the latest `now_ms` passed to [`poll`](Self::poll),
    /// or 0 before the first poll.
    pub fn current_tick(&self) -> u64 {
        self.now
    }

    /// Schedules `value` to fire at tick `deadline_ms`, in O(1).
    ///
    /// A deadline at or before [`current_tick`](Self::current_tick) fires on the next
    /// [`poll`](Self::poll), whatever `now` it is given. Any `u64` is accepted;
    /// `u64::MAX` fires only when polled at `u64::MAX`.
    ///
    /// # Panics
    ///
    /// If `u32::MAX - 1` timers are already live: an index limit that 128 GiB of
    /// timers would reach first.
    pub fn insert(&mut self, deadline_ms: u64, value: T) -> TimerKey {
        let (index, generation) = match self.nodes.get(self.free_head as usize) {
            Some(&Node::Vacant { generation, next_free }) => {
                let index = self.free_head;
                self.free_head = next_free;
                let generation = NonZeroU32::new(generation.wrapping_add(1)).unwrap_or(NonZeroU32::MIN);
                (index, generation)
            }
            _ => {
                let index = u32::try_from(self.nodes.len())
                    .ok()
                    .filter(|&index| index != NIL)
                    .expect("fewer than u32::MAX - 1 timers are live");
                (index, self.fresh_generation)
            }
        };
        self.max_generation = self.max_generation.max(generation.get());
        let node =
            Node::Occupied(Entry { deadline: deadline_ms, prev: NIL, next: NIL, generation, list: PENDING, value });
        if index as usize == self.nodes.len() {
            self.nodes.push(node);
        } else {
            self.nodes[index as usize] = node;
        }
        self.link(index, self.list_for(deadline_ms));
        self.len += 1;
        TimerKey { index, generation }
    }

    /// Removes the timer named by `key` and returns its value, in O(1).
    ///
    /// Returns `None` if the key is stale: its timer already fired or was cancelled.
    pub fn cancel(&mut self, key: TimerKey) -> Option<T> {
        self.entry(key)?;
        self.unlink(key.index);
        Some(self.free(key.index))
    }

    /// The deadline of the timer named by `key`, or `None` if the key is stale.
    pub fn deadline(&self, key: TimerKey) -> Option<u64> {
        self.entry(key).map(|entry| entry.deadline)
    }

    /// When to poll next: a tick at or before the earliest pending deadline, or `None`
    /// if the wheel is empty. O(1).
    ///
    /// The answer is exact when the earliest timer sits at level 0 (due within the
    /// cursor's 64 ms block); otherwise it is the start of the slot holding it, a lower
    /// bound up to 64^L ms early. Polling at that tick cascades the slot, after which
    /// the answer is tighter, so a caller that sleeps until `next_deadline()` and polls
    /// reaches each deadline after at most one wake-up per level. After `poll(now)`
    /// returns `None`, the answer is later than `now` (or `None`): no busy loop. After
    /// [`poll_bounded`](Self::poll_bounded) ran out of budget, the answer is at or
    /// before `now` until the work left is done.
    ///
    /// An answer at or before [`current_tick`](Self::current_tick) means due timers are
    /// waiting: poll now.
    pub fn next_deadline(&self) -> Option<u64> {
        // A caller that stopped polling early can leave due timers in both places.
        let wheel = match self.cascading {
            // A half-moved slot starts at the cursor, which is at or before `now`.
            Some(_) => Some(self.elapsed),
            None => self.next_expiration().map(|(_, start)| start),
        };
        if self.heads[PENDING as usize] != NIL {
            Some(wheel.map_or(self.pending_min, |start| start.min(self.pending_min)))
        } else {
            wheel
        }
    }

    /// Removes and returns one timer whose deadline is at or before `now_ms`, or
    /// `None` when no timer is due. Call it until `None` to fire everything due; stop
    /// early to bound the work of one loop turn, and the rest stays due.
    ///
    /// Timers due at the same time come out in no particular order. A `now_ms`
    /// earlier than a previous one is treated as that previous one: the wheel's time
    /// never goes back, so such a call is harmless.
    ///
    /// It returns the value rather than the key: the key is stale once the timer
    /// fires, and the value already says what the timer was for.
    pub fn poll(&mut self, now_ms: u64) -> Option<T> {
        let mut unlimited = usize::MAX;
        self.poll_bounded(now_ms, &mut unlimited)
    }

    /// Like [`poll`](Self::poll), but moves at most `*moves` timers between slots on
    /// the way, counting them off `*moves`. Returns `None` when nothing is due **or**
    /// when the budget ran out first; the two are told apart by
    /// [`next_deadline`](Self::next_deadline), which stays at or before `now_ms` while
    /// work is left. Handing out one budget per event-loop turn bounds the longest
    /// stall a cascade can cause, whatever the number of timers in a slot.
    ///
    /// Taking a due timer off the pending list is not counted: the caller bounds that
    /// by how many timers it takes per turn.
    pub fn poll_bounded(&mut self, now_ms: u64, moves: &mut usize) -> Option<T> {
        self.now = self.now.max(now_ms);
        loop {
            let head = self.heads[PENDING as usize];
            if head != NIL {
                self.unlink(head);
                return Some(self.free(head));
            }
            if *moves == 0 {
                return None;
            }
            if let Some(list) = self.cascading {
                self.cascade_some(list, moves);
                continue;
            }
            match self.next_expiration() {
                Some((list, start)) if start <= self.now => {
                    debug_assert!(self.elapsed <= start);
                    self.elapsed = start;
                    self.cascading = Some(list);
                }
                _ => {
                    self.elapsed = self.now;
                    return None;
                }
            }
        }
    }

    /// Makes room for at least `additional` more timers than are live, so
    /// that inserting them never reallocates: one copy of the nodes now
    /// (none when the wheel is empty) instead of one per doubling on the
    /// way (a doubling may copy every node: 16 MB at half a million
    /// timers).
    pub fn reserve(&mut self, additional: usize) {
        self.nodes.reserve(additional.saturating_add(self.len).saturating_sub(self.nodes.len()));
    }

    /// Removes every timer and gives their memory back, keeping the wheel's time.
    /// Every key issued so far goes stale, as if its timer had been cancelled.
    pub fn clear(&mut self) {
        self.fresh_generation = NonZeroU32::new(self.max_generation.wrapping_add(1)).unwrap_or(NonZeroU32::MIN);
        self.nodes = Vec::new();
        self.free_head = NIL;
        self.len = 0;
        self.heads.fill(NIL);
        self.occupied = [0; LEVELS];
        self.occupied_levels = 0;
        self.pending_min = u64::MAX;
        self.cascading = None;
    }

    /// The live entry named by `key`, if the key is not stale.
    fn entry(&self, key: TimerKey) -> Option<&Entry<T>> {
        match self.nodes.get(key.index as usize) {
            Some(Node::Occupied(entry)) if entry.generation == key.generation => Some(entry),
            _ => None,
        }
    }

    fn linked(&mut self, index: u32) -> &mut Entry<T> {
        match self.nodes.get_mut(index as usize) {
            Some(Node::Occupied(entry)) => entry,
            _ => unreachable!("every linked timer index refers to an occupied node"),
        }
    }

    /// The list a timer with this deadline belongs in, given `now` and `elapsed`.
    fn list_for(&self, deadline: u64) -> u16 {
        if deadline <= self.now {
            return PENDING;
        }
        let level = level_for(self.elapsed, deadline);
        let slot = (deadline >> (level as u32 * SLOT_BITS)) as usize % SLOTS;
        // Both factors are bounded by LEVELS and SLOTS, so the id fits below PENDING.
        (level * SLOTS + slot) as u16
    }

    /// Pushes the (unlinked) timer at `index` onto the front of `list`.
    fn link(&mut self, index: u32, list: u16) {
        let head = self.heads[list as usize];
        let entry = self.linked(index);
        entry.prev = NIL;
        entry.next = head;
        entry.list = list;
        let deadline = entry.deadline;
        if head != NIL {
            self.linked(head).prev = index;
        }
        self.heads[list as usize] = index;
        if list == PENDING {
            self.pending_min = self.pending_min.min(deadline);
        } else {
            let (level, slot) = (list as usize / SLOTS, list as usize % SLOTS);
            self.occupied[level] |= 1 << slot;
            self.occupied_levels |= 1 << level;
        }
    }

    /// Takes the timer at `index` out of its list, keeping the bitmaps exact.
    fn unlink(&mut self, index: u32) {
        let entry = self.linked(index);
        let (prev, next, list) = (entry.prev, entry.next, entry.list);
        if prev == NIL {
            self.heads[list as usize] = next;
        } else {
            self.linked(prev).next = next;
        }
        if next != NIL {
            self.linked(next).prev = prev;
        }
        if self.heads[list as usize] == NIL {
            self.mark_empty(list);
        }
    }

    fn mark_empty(&mut self, list: u16) {
        if self.cascading == Some(list) {
            self.cascading = None;
        }
        if list == PENDING {
            self.pending_min = u64::MAX;
        } else {
            let (level, slot) = (list as usize / SLOTS, list as usize % SLOTS);
            self.occupied[level] &= !(1 << slot);
            if self.occupied[level] == 0 {
                self.occupied_levels &= !(1 << level);
            }
        }
    }

    /// Frees the (unlinked) node at `index` and returns its value.
    fn free(&mut self, index: u32) -> T {
        let vacant = Node::Vacant { generation: self.linked(index).generation.get(), next_free: self.free_head };
        match std::mem::replace(&mut self.nodes[index as usize], vacant) {
            Node::Occupied(entry) => {
                self.free_head = index;
                self.len -= 1;
                entry.value
            }
            Node::Vacant { .. } => unreachable!("a timer being freed occupies its node"),
        }
    }

    /// The first non-empty wheel slot as `(list id, start tick)`. By the invariants it
    /// is the lowest occupied slot of the lowest occupied level.
    fn next_expiration(&self) -> Option<(u16, u64)> {
        if self.occupied_levels == 0 {
            return None;
        }
        let level = self.occupied_levels.trailing_zeros() as usize;
        let shift = level as u32 * SLOT_BITS;
        let occupied = self.occupied[level];
        debug_assert!(
            occupied & !(u64::MAX << ((self.elapsed >> shift) % SLOTS as u64)) == 0,
            "no occupied slot lies before the cursor's slot"
        );
        let slot = u64::from(occupied.trailing_zeros());
        let start = block_start(self.elapsed, level) + (slot << shift);
        Some(((level * SLOTS) as u16 + slot as u16, start))
    }

    /// Moves up to `*moves` timers out of the slot being cascaded, the due ones to the
    /// pending list and the others to a lower level. The cascade ends when the slot
    /// empties (see `mark_empty`), by this or by a cancel. The cursor already sits at
    /// the slot's start.
    fn cascade_some(&mut self, list: u16, moves: &mut usize) {
        while *moves > 0 {
            let index = self.heads[list as usize];
            if index == NIL {
                break;
            }
            *moves -= 1;
            self.unlink(index);
            let deadline = self.linked(index).deadline;
            let target = self.list_for(deadline);
            debug_assert!(target == PENDING || (target as usize) < (list as usize / SLOTS) * SLOTS);
            self.link(index, target);
        }
    }
}

/// The level a timer belongs to: that of the highest bit in which its deadline differs
/// from the cursor. Bits 0..6 count as level 0 even when equal.
fn level_for(elapsed: u64, deadline: u64) -> usize {
    let masked = (elapsed ^ deadline) | (SLOTS as u64 - 1);
    let significant = u64::BITS - 1 - masked.leading_zeros();
    (significant / SLOT_BITS) as usize
}

/// The first tick of the `64^(level + 1)`-tick block that contains `elapsed`.
fn block_start(elapsed: u64, level: usize) -> u64 {
    let bits = (level as u32 + 1) * SLOT_BITS;
    elapsed.checked_shr(bits).map_or(0, |high| high << bits)
}

impl<T> Default for TimerWheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for TimerWheel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerWheel")
            .field("len", &self.len)
            .field("current_tick", &self.now)
            .field("next_deadline", &self.next_deadline())
            .finish_non_exhaustive()
    }
}
