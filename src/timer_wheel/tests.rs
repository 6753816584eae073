use super::*;

/// Polls until `None`, returning what fired in ascending order.
fn drain<T: Ord>(wheel: &mut TimerWheel<T>, now_ms: u64) -> Vec<T> {
    let mut fired: Vec<T> = std::iter::from_fn(|| wheel.poll(now_ms)).collect();
    fired.sort();
    fired
}

/// Sleeps (by hand) until each `next_deadline()` and polls there; returns every
/// `(tick fired, value)` and the number of wake-ups.
fn run_to_empty(wheel: &mut TimerWheel<u64>) -> (Vec<(u64, u64)>, usize) {
    let mut fired = Vec::new();
    let mut wakeups = 0;
    while let Some(at) = wheel.next_deadline() {
        wakeups += 1;
        let now = at.max(wheel.current_tick());
        while let Some(value) = wheel.poll(now) {
            fired.push((now, value));
        }
    }
    (fired, wakeups)
}

/// Deadlines around every level boundary, from 1 ms to `u64::MAX`.
fn boundary_deadlines() -> Vec<u64> {
    let mut deadlines = vec![1, 2, 62];
    for level in 1..LEVELS as u32 {
        let boundary = 1u64 << (level * SLOT_BITS);
        deadlines.extend([boundary - 1, boundary, boundary + 1, 3 * boundary + 5]);
    }
    deadlines.extend([1 << 40, (1 << 40) + 1, u64::MAX - 1, u64::MAX]);
    deadlines
}

#[test]
fn empty_wheel_has_no_deadline_and_polls_none() {
    let mut wheel = TimerWheel::<u32>::new();
    assert!(wheel.is_empty());
    assert_eq!(wheel.len(), 0);
    assert_eq!(wheel.next_deadline(), None);
    assert_eq!(wheel.poll(1_000), None);
    assert_eq!(wheel.next_deadline(), None);
}

#[test]
fn timer_fires_at_its_deadline_and_not_before() {
    let mut wheel = TimerWheel::new();
    wheel.insert(1_001, "a");
    assert_eq!(wheel.poll(1_000), None);
    assert_eq!(wheel.len(), 1);
    assert_eq!(wheel.poll(1_001), Some("a"));
    assert_eq!(wheel.poll(1_001), None);
    assert!(wheel.is_empty());
}

#[test]
fn deadline_at_or_before_current_tick_fires_on_next_poll() {
    let mut wheel = TimerWheel::new();
    assert_eq!(wheel.poll(500), None);
    wheel.insert(500, 1);
    wheel.insert(3, 2);
    wheel.insert(0, 3);
    assert_eq!(wheel.next_deadline(), Some(0));
    assert_eq!(drain(&mut wheel, 500), vec![1, 2, 3]);
    // Even a poll that goes back in time fires what was already due.
    wheel.insert(499, 4);
    assert_eq!(wheel.poll(10), Some(4));
}

#[test]
fn deadline_one_tick_ahead_waits_one_tick() {
    let mut wheel = TimerWheel::new();
    wheel.poll(777);
    wheel.insert(778, ());
    assert_eq!(wheel.next_deadline(), Some(778));
    assert_eq!(wheel.poll(777), None);
    assert_eq!(wheel.poll(778), Some(()));
}

#[test]
fn deadlines_at_level_boundaries_fire_exactly_on_time() {
    for start in [0, 1, 63, 4_000, 262_143, 1 << 36] {
        for deadline in boundary_deadlines() {
            let deadline = deadline.saturating_add(start);
            let mut wheel = TimerWheel::new();
            wheel.poll(start);
            wheel.insert(deadline, deadline);
            let first = wheel.next_deadline().expect("one timer is pending");
            assert!(first <= deadline, "start {start} deadline {deadline}");
            assert_eq!(wheel.poll(deadline - 1), None, "start {start} deadline {deadline}");
            assert_eq!(wheel.poll(deadline), Some(deadline));
        }
    }
}

#[test]
fn sleeping_until_next_deadline_reaches_each_deadline_exactly() {
    let mut wheel = TimerWheel::new();
    let deadlines = boundary_deadlines();
    for &deadline in &deadlines {
        wheel.insert(deadline, deadline);
    }
    let (fired, _) = run_to_empty(&mut wheel);
    assert_eq!(fired.len(), deadlines.len());
    for (tick, deadline) in fired {
        assert_eq!(tick, deadline, "fired neither early nor late");
    }
}

#[test]
fn reaching_a_deadline_takes_at_most_one_wakeup_per_level() {
    for deadline in boundary_deadlines() {
        let mut wheel = TimerWheel::new();
        wheel.insert(deadline, deadline);
        let (fired, wakeups) = run_to_empty(&mut wheel);
        assert_eq!(fired, vec![(deadline, deadline)]);
        let levels = level_for(0, deadline) + 1;
        assert!(wakeups <= levels, "deadline {deadline}: {wakeups} wake-ups");
    }
}

#[test]
fn next_deadline_is_after_now_once_poll_returns_none() {
    let mut wheel = TimerWheel::new();
    for (i, &deadline) in boundary_deadlines().iter().enumerate() {
        wheel.insert(deadline, i);
    }
    for now in [0, 1, 63, 64, 5_000, 262_144, 1 << 30, 1 << 50] {
        while wheel.poll(now).is_some() {}
        if let Some(next) = wheel.next_deadline() {
            assert!(next > now, "next {next} now {now}");
        }
    }
}

#[test]
fn cancel_before_firing_returns_the_value_and_it_never_fires() {
    let mut wheel = TimerWheel::new();
    let key = wheel.insert(100_000, "gone");
    let other = wheel.insert(100_000, "kept");
    assert_eq!(wheel.deadline(key), Some(100_000));
    assert_eq!(wheel.cancel(key), Some("gone"));
    assert_eq!(wheel.len(), 1);
    assert_eq!(wheel.cancel(key), None);
    assert_eq!(wheel.deadline(key), None);
    assert_eq!(drain(&mut wheel, u64::MAX), vec!["kept"]);
    assert_eq!(wheel.cancel(other), None);
}

#[test]
fn cancel_after_firing_returns_none() {
    let mut wheel = TimerWheel::new();
    let key = wheel.insert(5, 5);
    assert_eq!(wheel.poll(5), Some(5));
    assert_eq!(wheel.cancel(key), None);
    assert_eq!(wheel.deadline(key), None);
}

#[test]
fn cancel_while_due_but_not_yet_polled_out() {
    let mut wheel = TimerWheel::new();
    let keys: Vec<_> = (0..10).map(|i| wheel.insert(4_096, i)).collect();
    // The first poll cascades the level-2 slot; the rest are due but still inside.
    assert!(wheel.poll(5_000).is_some());
    let cancelled = keys.iter().filter_map(|&key| wheel.cancel(key)).count();
    assert_eq!(cancelled, 9);
    assert_eq!(wheel.poll(5_000), None);
    assert_eq!(wheel.next_deadline(), None);
}

#[test]
fn stale_key_never_matches_the_timer_reusing_its_node() {
    let mut wheel = TimerWheel::new();
    let old = wheel.insert(10, "old");
    assert_eq!(wheel.cancel(old), Some("old"));
    let new = wheel.insert(20, "new");
    assert_eq!(new.index, old.index, "the node is reused");
    assert_ne!(new, old);
    assert_eq!(wheel.cancel(old), None);
    assert_eq!(wheel.deadline(old), None);
    assert_eq!(wheel.deadline(new), Some(20));

    assert_eq!(wheel.poll(20), Some("new"));
    let newest = wheel.insert(30, "newest");
    assert_eq!(wheel.cancel(new), None);
    assert_eq!(wheel.cancel(old), None);
    assert_eq!(wheel.cancel(newest), Some("newest"));
}

#[test]
fn generation_wraps_without_reaching_zero() {
    let mut wheel = TimerWheel::new();
    let key = wheel.insert(1, 0u8);
    wheel.cancel(key);
    wheel.nodes[key.index as usize] = Node::Vacant { generation: u32::MAX, next_free: NIL };
    let wrapped = wheel.insert(1, 1u8);
    assert_eq!(wrapped.generation, NonZeroU32::MIN);
    assert_eq!(wheel.cancel(wrapped), Some(1));
}

#[test]
fn fired_timer_can_be_rearmed_from_its_value() {
    let mut wheel = TimerWheel::new();
    wheel.insert(1_000, 1_000u64);
    let mut fired_at = Vec::new();
    let mut now = 0;
    while fired_at.len() < 5 {
        now += 250;
        while let Some(deadline) = wheel.poll(now) {
            fired_at.push(now);
            wheel.insert(deadline + 1_000, deadline + 1_000);
        }
    }
    assert_eq!(fired_at, vec![1_000, 2_000, 3_000, 4_000, 5_000]);
    assert_eq!(wheel.len(), 1);
}

#[test]
fn far_future_deadlines_fire_only_when_reached() {
    let mut wheel = TimerWheel::new();
    wheel.insert(u64::MAX, "max");
    wheel.insert(1 << 40, "2^40");
    assert!(wheel.next_deadline().is_some_and(|next| next <= 1 << 40));
    assert_eq!(wheel.poll((1 << 40) - 1), None);
    assert_eq!(wheel.poll(1 << 40), Some("2^40"));
    assert_eq!(wheel.poll(u64::MAX - 1), None);
    assert!(wheel.next_deadline().is_some_and(|next| next > u64::MAX - 1));
    assert_eq!(wheel.poll(u64::MAX), Some("max"));
    // At the end of time, everything inserted is already due.
    wheel.insert(u64::MAX, "again");
    wheel.insert(0, "past");
    assert_eq!(drain(&mut wheel, 0), vec!["again", "past"]);
}

#[test]
fn ten_thousand_timers_in_one_slot_all_fire() {
    for deadline in [1_000, 300_000] {
        let mut wheel = TimerWheel::new();
        for i in 0..10_000u32 {
            wheel.insert(deadline, i);
        }
        assert_eq!(wheel.poll(deadline - 1), None);
        assert_eq!(wheel.len(), 10_000);
        assert_eq!(drain(&mut wheel, deadline), (0..10_000).collect::<Vec<_>>());
        assert!(wheel.is_empty());
    }
}

#[test]
fn one_large_jump_fires_everything_due_and_nothing_else() {
    let mut wheel = TimerWheel::new();
    let deadlines: Vec<u64> = (0..20_000u64).map(|i| i * 7_919 % 10_000_000).collect();
    for &deadline in &deadlines {
        wheel.insert(deadline, deadline);
    }
    let mut due: Vec<u64> = deadlines.iter().copied().filter(|&d| d <= 6_000_000).collect();
    due.sort();
    assert_eq!(drain(&mut wheel, 6_000_000), due);
    assert_eq!(wheel.len(), deadlines.len() - due.len());
    assert!(wheel.next_deadline().is_some_and(|next| next > 6_000_000));
    assert_eq!(drain(&mut wheel, u64::MAX).len(), deadlines.len() - due.len());
}

#[test]
fn polling_backwards_in_time_is_harmless() {
    let mut wheel = TimerWheel::new();
    wheel.insert(2_000, "later");
    assert_eq!(wheel.poll(1_000), None);
    assert_eq!(wheel.poll(10), None);
    assert_eq!(wheel.current_tick(), 1_000);
    wheel.insert(1_005, "soon");
    assert_eq!(wheel.poll(500), None);
    assert_eq!(wheel.poll(1_005), Some("soon"));
    assert_eq!(wheel.poll(0), None);
    assert_eq!(wheel.poll(2_000), Some("later"));
}

#[test]
fn stopping_early_leaves_the_rest_due() {
    let mut wheel = TimerWheel::new();
    for i in 0..100u32 {
        wheel.insert(70_000 + u64::from(i), i);
    }
    let first: Vec<u32> = (0..30).filter_map(|_| wheel.poll(80_000)).collect();
    assert_eq!(first.len(), 30);
    assert!(wheel.next_deadline().is_some_and(|next| next <= 80_000));
    // Inserting between turns neither loses nor duplicates anything.
    wheel.insert(80_000, 1_000);
    wheel.insert(80_001, 1_001);
    let mut all: Vec<u32> = first.into_iter().chain(drain(&mut wheel, 80_000)).collect();
    all.sort();
    assert_eq!(all, (0..100).chain([1_000]).collect::<Vec<_>>());
    assert_eq!(wheel.next_deadline(), Some(80_001));
}

#[test]
fn next_deadline_sees_due_timers_left_in_the_wheel_by_an_early_stop() {
    let mut wheel = TimerWheel::new();
    wheel.insert(0, 0);
    wheel.insert(1, 1);
    assert_eq!(wheel.poll(1_000), Some(0));
    // Stopped before the slot of tick 1 was reached; a later insert is already due.
    wheel.insert(2, 2);
    assert_eq!(wheel.next_deadline(), Some(1));
    assert_eq!(drain(&mut wheel, 1_000), vec![1, 2]);
}

#[test]
fn bounded_poll_spreads_a_large_cascade_over_many_calls() {
    let mut wheel = TimerWheel::new();
    // One level-2 slot (4096 ticks wide) holding 10,000 timers, none due yet at
    // its start: an unbounded poll would move all of them in one call.
    for i in 0..10_000u64 {
        wheel.insert(300_000 + i % 4_000, i);
    }
    let start = wheel.next_deadline().unwrap();
    assert!(start <= 300_000);
    let mut calls = 0;
    loop {
        let mut moves = 100;
        assert_eq!(wheel.poll_bounded(start, &mut moves), None);
        calls += 1;
        assert!(moves <= 100);
        if wheel.next_deadline().is_some_and(|next| next > start) {
            break;
        }
        assert!(calls < 1_000, "the cascade never finishes");
    }
    assert!(calls >= 100, "10,000 moves took only {calls} calls of 100");
    assert_eq!(wheel.len(), 10_000);
    let fired = drain(&mut wheel, 304_000);
    assert_eq!(fired, (0..10_000).collect::<Vec<_>>());
}

#[test]
fn bounded_poll_returns_due_timers_found_mid_cascade() {
    let mut wheel = TimerWheel::new();
    for i in 0..1_000u64 {
        wheel.insert(5_000 + i, i);
    }
    let mut fired = Vec::new();
    let mut calls = 0;
    while wheel.next_deadline().is_some_and(|next| next <= 10_000) {
        let mut moves = 7;
        while let Some(value) = wheel.poll_bounded(10_000, &mut moves) {
            fired.push(value);
        }
        calls += 1;
    }
    fired.sort();
    assert_eq!(fired, (0..1_000).collect::<Vec<_>>());
    assert!(calls >= 1_000 / 7, "{calls}");
    assert!(wheel.is_empty());
}

#[test]
fn inserts_and_cancels_during_a_cascade_are_kept_exact() {
    let mut wheel = TimerWheel::new();
    let keys: Vec<TimerKey> = (0..1_000u64).map(|i| wheel.insert(300_000 + i, i)).collect();
    let start = wheel.next_deadline().unwrap();
    let mut moves = 10;
    assert_eq!(wheel.poll_bounded(start, &mut moves), None);
    assert_eq!(moves, 0);
    assert_eq!(wheel.next_deadline(), Some(start));
    // Cancel some moved and some unmoved timers; insert into the half-moved range.
    for key in keys.iter().step_by(3) {
        assert!(wheel.cancel(*key).is_some());
    }
    wheel.insert(300_500, 5_000);
    wheel.insert(start, 5_001);
    let mut moves = 0;
    assert_eq!(wheel.poll_bounded(start, &mut moves), Some(5_001), "a due timer needs no moves");
    let mut expected: Vec<u64> = (0..1_000).filter(|i| i % 3 != 0).chain([5_000]).collect();
    expected.sort();
    assert_eq!(drain(&mut wheel, 301_000), expected);
}

#[test]
fn clear_drops_every_timer_and_keeps_the_time() {
    let mut wheel = TimerWheel::new();
    let key = wheel.insert(10, 1);
    for i in 0..100 {
        wheel.insert(5_000 + i, 2);
    }
    assert_eq!(wheel.poll(20), Some(1));
    wheel.insert(300_000, 3);
    let mut moves = 1;
    // Stops mid-cascade; whatever it returns, `clear` must drop the rest.
    let _ = wheel.poll_bounded(6_000, &mut moves);
    wheel.clear();
    assert!(wheel.is_empty());
    assert_eq!(wheel.next_deadline(), None);
    assert_eq!(wheel.cancel(key), None);
    // A key from before the clear never names a timer inserted after it,
    // even one that lands in the same node.
    let fresh = wheel.insert(1_000_000, 9);
    assert_eq!(wheel.cancel(key), None);
    assert_eq!(wheel.deadline(key), None);
    assert_eq!(wheel.cancel(fresh), Some(9));
    assert_eq!(wheel.current_tick(), 6_000);
    wheel.insert(6_001, 4);
    assert_eq!(wheel.poll(6_000), None);
    assert_eq!(wheel.poll(6_001), Some(4));
}

#[test]
fn ticks_ceil_rounds_deadlines_up_and_saturates() {
    assert_eq!(ticks_ceil(Duration::ZERO), 0);
    assert_eq!(ticks_ceil(Duration::from_nanos(1)), 1);
    assert_eq!(ticks_ceil(Duration::from_millis(1)), 1);
    assert_eq!(ticks_ceil(Duration::from_micros(1_200)), 2);
    assert_eq!(ticks_ceil(Duration::from_secs(3)), 3_000);
    assert_eq!(ticks_ceil(Duration::MAX), u64::MAX);
}

#[test]
fn ticks_floor_rounds_now_down_and_saturates() {
    assert_eq!(ticks_floor(Duration::from_micros(999)), 0);
    assert_eq!(ticks_floor(Duration::from_micros(1_800)), 1);
    assert_eq!(ticks_floor(Duration::from_secs(3)), 3_000);
    assert_eq!(ticks_floor(Duration::MAX), u64::MAX);
}

#[test]
fn timer_costs_32_bytes_for_a_word_sized_value() {
    if cfg!(target_pointer_width = "64") {
        assert!(std::mem::size_of::<Node<u64>>() <= 32);
        assert!(std::mem::size_of::<Node<usize>>() <= 32);
    }
    assert_eq!(std::mem::size_of::<Option<TimerKey>>(), 8);
}

#[test]
fn debug_output_needs_no_debug_values() {
    struct Opaque;
    let mut wheel = TimerWheel::new();
    wheel.insert(7, Opaque);
    let shown = format!("{wheel:?}");
    assert!(shown.contains("len: 1"), "{shown}");
    assert!(shown.contains("next_deadline: Some(7)"), "{shown}");
}

#[test]
fn reserved_room_takes_that_many_timers_without_reallocating_and_counts_vacant_nodes() {
    let mut wheel = TimerWheel::new();
    let keys: Vec<TimerKey> = (0..100u64).map(|i| wheel.insert(1_000 + i, i)).collect();
    for &key in &keys[..40] {
        wheel.cancel(key);
    }
    // 60 live, 40 vacant nodes: 1,000 more need room for 960 new nodes.
    wheel.reserve(1_000);
    let (capacity, at) = (wheel.nodes.capacity(), wheel.nodes.as_ptr());
    assert!(capacity >= 1_060, "{capacity}");
    for i in 0..1_000u64 {
        wheel.insert(5_000 + i, 100 + i);
    }
    assert_eq!((wheel.nodes.capacity(), wheel.nodes.as_ptr()), (capacity, at), "no reallocation");
    assert_eq!(wheel.len(), 1_060);
    let fired = drain(&mut wheel, 10_000);
    assert_eq!(fired, (40..1_100).collect::<Vec<_>>());
}

/// The wheel against a sorted-map model, under random inserts, cancels and polls.
mod model_check;
