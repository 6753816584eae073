//! The wheel against a sorted-map model (`proptest`): random inserts, cancels
//! and polls, some with small move budgets, must fire exactly what the model
//! says is due, never early, and never leave a due timer unreported.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Offsets that land on and around level boundaries.
fn boundary_offset() -> impl Strategy<Value = u64> {
    let boundaries: Vec<u64> = (1..LEVELS as u32).map(|l| 1 << (l * SLOT_BITS)).collect();
    (proptest::sample::select(boundaries), -2i64..=2)
        .prop_map(|(boundary, nudge)| boundary.saturating_add_signed(nudge))
}

/// A deadline relative to the model's current tick.
#[derive(Clone, Debug)]
enum When {
    Past(u64),
    Ahead(u64),
    Absolute(u64),
}

fn when() -> impl Strategy<Value = When> {
    prop_oneof![
        1 => (0..2_000u64).prop_map(When::Past),
        4 => (0..70u64).prop_map(When::Ahead),
        3 => (0..300_000u64).prop_map(When::Ahead),
        2 => boundary_offset().prop_map(When::Ahead),
        1 => (0..u64::MAX).prop_map(When::Ahead),
        1 => any::<u64>().prop_map(When::Absolute),
        1 => Just(When::Absolute(u64::MAX)),
    ]
}

/// How far `now` moves before a poll.
#[derive(Clone, Debug)]
enum Step {
    Forward(u64),
    Back(u64),
    ToNextDeadline,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..70u64).prop_map(Step::Forward),
        3 => (0..20_000u64).prop_map(Step::Forward),
        2 => boundary_offset().prop_map(Step::Forward),
        1 => (1u64 << 20..1 << 42).prop_map(Step::Forward),
        1 => any::<u64>().prop_map(Step::Forward),
        1 => (0..5_000u64).prop_map(Step::Back),
        3 => Just(Step::ToNextDeadline),
    ]
}

#[derive(Clone, Debug)]
enum Op {
    Insert(When),
    /// Cancels the n-th key ever issued (modulo their count), live or stale.
    Cancel(usize),
    /// Polls at the new time, at most `limit` times if given, else until `None`;
    /// with a move budget, through `poll_bounded` until the budget runs out.
    Poll(Step, Option<usize>, Option<usize>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => when().prop_map(Op::Insert),
        2 => any::<usize>().prop_map(Op::Cancel),
        3 => (step(), proptest::option::of(1..8usize), proptest::option::of(0..6usize))
            .prop_map(|(s, l, m)| Op::Poll(s, l, m)),
    ]
}

struct Model {
    wheel: TimerWheel<u64>,
    /// Live timers by `(deadline, sequence number)`; the value is the sequence number.
    due: BTreeMap<(u64, u64), u64>,
    keys: Vec<(TimerKey, u64, u64)>,
    now: u64,
    seq: u64,
}

impl Model {
    fn run(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Insert(when) => {
                let deadline = match when {
                    When::Past(back) => self.now.saturating_sub(back),
                    When::Ahead(ahead) => self.now.saturating_add(ahead),
                    When::Absolute(at) => at,
                };
                self.seq += 1;
                let key = self.wheel.insert(deadline, self.seq);
                self.due.insert((deadline, self.seq), self.seq);
                self.keys.push((key, deadline, self.seq));
            }
            Op::Cancel(n) => {
                if self.keys.is_empty() {
                    return Ok(());
                }
                let (key, deadline, seq) = self.keys[n % self.keys.len()];
                let live = self.due.contains_key(&(deadline, seq));
                prop_assert_eq!(self.wheel.deadline(key), live.then_some(deadline));
                prop_assert_eq!(self.wheel.cancel(key), self.due.remove(&(deadline, seq)));
            }
            Op::Poll(step, limit, moves) => {
                let now = match step {
                    Step::Forward(ahead) => self.now.saturating_add(ahead),
                    Step::Back(back) => self.now.saturating_sub(back),
                    Step::ToNextDeadline => self.wheel.next_deadline().unwrap_or(self.now),
                };
                self.now = self.now.max(now);
                let mut polls = 0;
                let mut budget = moves.unwrap_or(usize::MAX);
                loop {
                    if limit.is_some_and(|limit| polls == limit) {
                        return Ok(());
                    }
                    polls += 1;
                    let Some(seq) = self.wheel.poll_bounded(now, &mut budget) else {
                        break;
                    };
                    let (&(deadline, _), _) = self
                        .due
                        .iter()
                        .find(|&(_, &live)| live == seq)
                        .ok_or_else(|| TestCaseError::fail(format!("{seq} fired twice")))?;
                    prop_assert!(deadline <= self.now, "{seq} fired early at {now}");
                    self.due.remove(&(deadline, seq));
                }
                if budget == 0 && self.wheel.next_deadline().is_some_and(|next| next <= self.now) {
                    // Out of budget with work left: the rest stays due.
                    return Ok(());
                }
                let first = self.due.keys().next().map(|&(deadline, _)| deadline);
                prop_assert!(
                    first.is_none_or(|first| first > self.now),
                    "{first:?} is due at {} but did not fire",
                    self.now
                );
                let next = self.wheel.next_deadline();
                prop_assert!(next.is_none_or(|next| next > self.now), "busy loop");
            }
        }
        Ok(())
    }

    fn check(&self) -> Result<(), TestCaseError> {
        prop_assert_eq!(self.wheel.len(), self.due.len());
        prop_assert_eq!(self.wheel.is_empty(), self.due.is_empty());
        let first = self.due.keys().next().map(|&(deadline, _)| deadline);
        let next = self.wheel.next_deadline();
        prop_assert_eq!(next.is_some(), first.is_some());
        if let (Some(next), Some(first)) = (next, first) {
            prop_assert!(next <= first, "next_deadline {next} after {first}");
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn wheel_fires_exactly_what_a_sorted_map_says_is_due(
        ops in proptest::collection::vec(op(), 1..300),
    ) {
        let mut model = Model {
            wheel: TimerWheel::new(),
            due: BTreeMap::new(),
            keys: Vec::new(),
            now: 0,
            seq: 0,
        };
        for op in ops {
            model.run(op)?;
            model.check()?;
        }
        let remaining = model.due.len();
        let fired = std::iter::from_fn(|| model.wheel.poll(u64::MAX)).count();
        prop_assert_eq!(fired, remaining);
        prop_assert!(model.wheel.is_empty());
    }
}
