//! Session store tests. Time is stepped by hand: `ms(1_000)` is one second
//! after the origin; nothing sleeps.

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn expiry(duration: u64) -> Expiry {
    Expiry { duration, ..Expiry::default() }
}

fn set(sessions: &mut Sessions, token: u64, now: Duration, keys: &[&str]) -> Option<()> {
    sessions.with_keys(token, now, Touch::SetAdd, |map| {
        for key in keys {
            map.set(key, "1");
        }
    })
}

fn count(sessions: &mut Sessions, token: u64, now: Duration) -> Option<usize> {
    sessions.with_keys(token, now, Touch::None, |map| map.len())
}

fn get(sessions: &mut Sessions, token: u64, now: Duration) -> Option<usize> {
    sessions.with_keys(token, now, Touch::Get, |map| map.len())
}

fn expire_all(sessions: &mut Sessions, now: Duration) -> usize {
    sessions.expire(now, &mut Budget::UNLIMITED.clone())
}

#[test]
fn a_session_is_32_bytes_in_its_table() {
    assert_eq!(std::mem::size_of::<Session>(), 32);
    assert_eq!(std::mem::size_of::<Slot>(), 48, "with its token and chain link");
}

#[test]
fn tokens_are_non_zero_and_distinct() {
    let mut sessions = Sessions::new();
    let tokens: std::collections::HashSet<u64> = (0..10_000).map(|_| sessions.create(None, ms(0)).unwrap()).collect();
    assert_eq!(tokens.len(), 10_000);
    assert!(!tokens.contains(&0));
    assert_eq!(sessions.len(), 10_000);
}

#[test]
fn a_session_without_expiry_never_expires() {
    let mut sessions = Sessions::new();
    let plain = sessions.create(None, ms(0)).unwrap();
    let zero =
        sessions.create(Some(Expiry { duration: 0, delete_session: true, extend_on_get: true, ..expiry(0) }), ms(0));
    let zero = zero.unwrap();
    assert!(sessions.wheel.is_empty(), "no timer for a session that never expires");
    assert_eq!(sessions.next_deadline(), None);
    for token in [plain, zero] {
        assert!(sessions.exists(token, ms(u64::MAX / 2)));
        let info = sessions.info(token, ms(1 << 50)).unwrap();
        assert_eq!(info, SessionInfo { key_count: 0, expiry: None }, "flags of duration 0 are dropped");
    }
}

#[test]
fn a_session_expires_at_its_deadline_not_a_millisecond_before() {
    let mut sessions = Sessions::new();
    // Created 0.4 ms into tick 0: the deadline rounds up to tick 1 + 1,000.
    let deleting = Expiry { delete_session: true, ..expiry(1) };
    let token = sessions.create(Some(deleting), Duration::from_micros(400)).unwrap();
    assert_eq!(sessions.map[&token].deadline(), 1_001);
    assert!(sessions.next_deadline().is_some_and(|next| next <= 1_001));
    assert!(sessions.exists(token, Duration::from_micros(1_000_999)));
    assert_eq!(expire_all(&mut sessions, Duration::from_micros(1_000_999)), 0);
    assert!(!sessions.exists(token, ms(1_001)), "gone on access at the deadline");
    assert!(sessions.is_empty());
    assert!(sessions.wheel.is_empty(), "its timer went with it");
}

#[test]
fn active_expiry_removes_a_session_at_its_deadline() {
    let mut sessions = Sessions::new();
    let token = sessions.create(Some(Expiry { delete_session: true, ..expiry(2) }), ms(0)).unwrap();
    set(&mut sessions, token, ms(5), &["a", "b"]).unwrap();
    assert_eq!(sessions.total_keys(), 2);
    // Sleeping until each next deadline, as the server does.
    let mut now = 0;
    let mut wakeups = 0;
    while sessions.len() == 1 {
        now = sessions.next_deadline().unwrap().max(now);
        assert!(now <= 2_000, "woke at {now}, after the deadline");
        expire_all(&mut sessions, ms(now));
        wakeups += 1;
    }
    assert_eq!(now, 2_000);
    assert!(wakeups <= 3, "{wakeups} wake-ups");
    assert_eq!(sessions.total_keys(), 0);
    assert!(!sessions.exists(token, ms(now)));
}

#[test]
fn delete_session_false_clears_and_restarts_from_the_deadline() {
    let mut sessions = Sessions::new();
    let token = sessions.create(Some(expiry(2)), ms(0)).unwrap();
    set(&mut sessions, token, ms(1), &["a", "b", "c"]).unwrap();
    assert_eq!(count(&mut sessions, token, ms(1_999)), Some(3));
    // Active path: emptied at 2,000 and re-armed for 4,000.
    assert_eq!(expire_all(&mut sessions, ms(2_003)), 1);
    assert_eq!(sessions.total_keys(), 0);
    assert_eq!(sessions.len(), 1);
    let info = sessions.info(token, ms(2_003)).unwrap();
    assert_eq!(info.key_count, 0);
    assert_eq!(info.expiry.unwrap().remaining_secs, 1, "3,997 ms left");
    assert_eq!(sessions.wheel.len(), 1);
    // Access path, left alone for several periods: 4,000, 6,000, 8,000 passed.
    set(&mut sessions, token, ms(2_500), &["x"]).unwrap();
    assert_eq!(count(&mut sessions, token, ms(9_000)), Some(0));
    assert_eq!(sessions.info(token, ms(9_000)).unwrap().expiry.unwrap().remaining_secs, 1);
    assert_eq!(count(&mut sessions, token, ms(9_999)), Some(0));
    set(&mut sessions, token, ms(9_999), &["y"]).unwrap();
    assert_eq!(count(&mut sessions, token, ms(10_000)), Some(0), "next expiry at 10,000");
    // The old timer, due long ago, re-arms instead of expiring anything.
    assert_eq!(expire_all(&mut sessions, ms(10_001)), 0);
    assert_eq!(sessions.wheel.len(), 1);
    assert!(sessions.next_deadline().is_some_and(|next| next > 10_001 && next <= 12_000));
}

#[test]
fn extend_on_get_moves_the_deadline_and_the_timer_re_arms_lazily() {
    let mut sessions = Sessions::new();
    let token =
        sessions.create(Some(Expiry { delete_session: true, extend_on_get: true, ..expiry(1) }), ms(0)).unwrap();
    let timer = sessions.map[&token].timer.unwrap();
    assert_eq!(get(&mut sessions, token, ms(900)), Some(0));
    assert_eq!(sessions.map[&token].timer, Some(timer), "a touch does not touch the wheel");
    assert_eq!(sessions.map[&token].deadline(), 1_900);
    assert_eq!(expire_all(&mut sessions, ms(1_000)), 0);
    assert_ne!(sessions.map[&token].timer, Some(timer), "re-armed when the old timer fired");
    assert_eq!(sessions.wheel.len(), 1);
    assert!(sessions.exists(token, ms(1_899)));
    assert_eq!(expire_all(&mut sessions, ms(1_899)), 0);
    assert_eq!(expire_all(&mut sessions, ms(1_900)), 1);
    assert!(!sessions.exists(token, ms(1_900)));
}

#[test]
fn each_extend_flag_answers_only_its_own_commands() {
    let mut sessions = Sessions::new();
    let on_get = sessions.create(Some(Expiry { extend_on_get: true, delete_session: true, ..expiry(1) }), ms(0));
    let on_set = sessions.create(Some(Expiry { extend_on_set_add: true, delete_session: true, ..expiry(1) }), ms(0));
    let (on_get, on_set) = (on_get.unwrap(), on_set.unwrap());
    set(&mut sessions, on_get, ms(500), &["a"]).unwrap();
    get(&mut sessions, on_set, ms(500)).unwrap();
    count(&mut sessions, on_get, ms(600)).unwrap();
    sessions.info(on_set, ms(600)).unwrap();
    assert_eq!(sessions.map[&on_get].deadline(), 1_000);
    assert_eq!(sessions.map[&on_set].deadline(), 1_000);
    get(&mut sessions, on_get, ms(700)).unwrap();
    set(&mut sessions, on_set, ms(800), &["b"]).unwrap();
    assert_eq!(sessions.map[&on_get].deadline(), 1_700);
    assert_eq!(sessions.map[&on_set].deadline(), 1_800);
}

#[test]
fn an_expired_session_is_not_extended_back_to_life() {
    let mut sessions = Sessions::new();
    let token = sessions.create(Some(Expiry { delete_session: true, extend_on_get: true, ..expiry(1) }), ms(0));
    let token = token.unwrap();
    assert_eq!(get(&mut sessions, token, ms(1_000)), None);
    assert!(sessions.is_empty());
}

#[test]
fn remaining_is_truncated_whole_seconds_and_never_negative() {
    let mut sessions = Sessions::new();
    let token = sessions.create(Some(expiry(10)), ms(0)).unwrap();
    let remaining = |s: &mut Sessions, at| s.info(token, ms(at)).unwrap().expiry.unwrap().remaining_secs;
    assert_eq!(remaining(&mut sessions, 0), 10);
    assert_eq!(remaining(&mut sessions, 1), 9);
    assert_eq!(remaining(&mut sessions, 8_999), 1);
    assert_eq!(remaining(&mut sessions, 9_001), 0);
    assert_eq!(remaining(&mut sessions, 9_999), 0);
    assert_eq!(remaining(&mut sessions, 10_000), 10, "restarted at its deadline");
}

#[test]
fn a_huge_duration_saturates_and_is_echoed() {
    let mut sessions = Sessions::new();
    let settings = Expiry { duration: u64::MAX, delete_session: true, extend_on_get: true, extend_on_set_add: true };
    let token = sessions.create(Some(settings), ms(5)).unwrap();
    assert_eq!(sessions.map[&token].deadline(), MAX_DEADLINE_TICK);
    get(&mut sessions, token, ms(1 << 40)).unwrap();
    assert_eq!(sessions.map[&token].deadline(), MAX_DEADLINE_TICK);
    let info = sessions.info(token, ms(1 << 40)).unwrap();
    assert_eq!(info.expiry.unwrap().settings, settings, "flags survive a saturated deadline");
    assert_eq!(info.expiry.unwrap().remaining_secs, (MAX_DEADLINE_TICK - (1 << 40)) / 1_000);
    assert_eq!(expire_all(&mut sessions, ms(1 << 50)), 0);
    assert!(sessions.exists(token, ms(MAX_DEADLINE_TICK - 1)));
    assert!(!sessions.exists(token, ms(MAX_DEADLINE_TICK)));
    // Past the end of a millisecond tick count: still no overflow.
    assert_eq!(expire_all(&mut sessions, Duration::MAX), 0);
}

#[test]
fn ending_a_session_frees_its_keys_and_its_timer() {
    let mut sessions = Sessions::new();
    let token = sessions.create(Some(expiry(5)), ms(0)).unwrap();
    let other = sessions.create(None, ms(0)).unwrap();
    set(&mut sessions, token, ms(1), &["a", "b"]).unwrap();
    set(&mut sessions, other, ms(1), &["c"]).unwrap();
    assert!(sessions.end(token, ms(2)));
    assert!(!sessions.end(token, ms(2)));
    assert!(sessions.wheel.is_empty());
    assert_eq!(sessions.total_keys(), 1);
    assert_eq!(sessions.len(), 1);
}

#[test]
fn ending_an_expired_session_reports_it_gone() {
    let mut sessions = Sessions::new();
    let deleting = sessions.create(Some(Expiry { delete_session: true, ..expiry(1) }), ms(0)).unwrap();
    let clearing = sessions.create(Some(expiry(1)), ms(0)).unwrap();
    assert!(!sessions.end(deleting, ms(1_000)));
    assert!(sessions.end(clearing, ms(1_000)), "a clearing session lives on after expiry");
    assert!(sessions.wheel.is_empty());
}

#[test]
fn end_all_counts_only_live_sessions_and_frees_everything() {
    let mut sessions = Sessions::new();
    for _ in 0..3 {
        let token = sessions.create(Some(Expiry { delete_session: true, ..expiry(1) }), ms(0)).unwrap();
        set(&mut sessions, token, ms(1), &["k"]).unwrap();
    }
    sessions.create(Some(expiry(1)), ms(0)).unwrap();
    sessions.create(None, ms(0)).unwrap();
    assert_eq!(sessions.end_all(ms(1_000)), 2);
    assert!(sessions.is_empty());
    assert!(sessions.wheel.is_empty());
    assert_eq!(sessions.total_keys(), 0);
    assert_eq!(sessions.end_all(ms(1_000)), 0);
    // Life goes on after a wipe.
    let token = sessions.create(Some(expiry(1)), ms(2_000)).unwrap();
    assert!(sessions.exists(token, ms(2_999)));
}

#[test]
fn end_all_looks_past_due_timers_to_the_deadline() {
    // Extended sessions keep their first timer (lazy re-arm): at 1,500 ms it
    // is due, yet the session lives until 1,900 ms.
    let mut sessions = Sessions::new();
    let extend = Expiry { extend_on_set_add: true, delete_session: true, ..expiry(1) };
    let extended: Vec<u64> = (0..3).map(|_| sessions.create(Some(extend), ms(0)).unwrap()).collect();
    for &token in &extended {
        set(&mut sessions, token, ms(900), &["k"]).unwrap();
    }
    let expired = sessions.create(Some(Expiry { delete_session: true, ..expiry(1) }), ms(0)).unwrap();
    let later = sessions.create(Some(Expiry { delete_session: true, ..expiry(60) }), ms(0)).unwrap();
    assert_eq!(sessions.end_all(ms(1_500)), 4, "the 3 extended and {later}, not {expired}");
    assert!(sessions.is_empty() && sessions.wheel.is_empty());
}

#[test]
fn end_all_of_many_sessions_with_keys_counts_and_frees_them() {
    // More than the reclaimer drops in place: the map goes to its thread.
    let mut sessions = Sessions::new();
    let n = super::super::reclaim::INLINE_MAX + 10;
    for i in 0..n {
        let delete = Expiry { delete_session: true, ..expiry(1) };
        let settings = if i % 10 == 0 { Some(delete) } else { None };
        let token = sessions.create(settings, ms(0)).unwrap();
        set(&mut sessions, token, ms(0), &["a", "b"]).unwrap();
    }
    assert_eq!(sessions.total_keys(), 2 * n);
    assert_eq!(sessions.end_all(ms(1_000)), n - n.div_ceil(10));
    assert!(sessions.is_empty() && sessions.wheel.is_empty());
    assert_eq!(sessions.total_keys(), 0);
    super::super::reclaim::settle();
}

#[test]
fn key_totals_follow_every_change() {
    let mut sessions = Sessions::new();
    let a = sessions.create(Some(Expiry { delete_session: true, ..expiry(1) }), ms(0)).unwrap();
    let b = sessions.create(None, ms(0)).unwrap();
    set(&mut sessions, a, ms(0), &["x", "y"]).unwrap();
    set(&mut sessions, b, ms(0), &["x", "y", "z"]).unwrap();
    assert_eq!(sessions.total_keys(), 5);
    sessions.with_keys(b, ms(0), Touch::None, |m| m.remove("y")).unwrap();
    assert_eq!(sessions.total_keys(), 4);
    sessions.with_keys(b, ms(0), Touch::None, KeyMap::clear).unwrap();
    assert_eq!(sessions.total_keys(), 2);
    assert!(sessions.map[&b].keys.is_none(), "an emptied session gives its map back");
    expire_all(&mut sessions, ms(1_000));
    assert_eq!(sessions.total_keys(), 0);
    assert_eq!(sessions.len(), 1);
}

#[test]
fn a_backlog_is_spread_over_calls_by_the_work_budget() {
    let mut sessions = Sessions::new();
    for _ in 0..5_000 {
        sessions.create(Some(Expiry { delete_session: true, ..expiry(1) }), ms(0)).unwrap();
    }
    let mut calls = 0;
    while !sessions.is_empty() {
        let mut budget = Budget { work: 1_000, moves: usize::MAX };
        let expired = sessions.expire(ms(1_000), &mut budget);
        assert!(expired <= 1_000);
        calls += 1;
        if !sessions.is_empty() {
            assert!(sessions.next_deadline().is_some_and(|next| next <= 1_000), "backlog left but not reported");
        }
    }
    assert_eq!(calls, 5);
    assert_eq!(sessions.next_deadline(), None);
}

#[test]
fn keys_count_against_the_work_budget() {
    let mut sessions = Sessions::new();
    for _ in 0..10 {
        let token = sessions.create(Some(Expiry { delete_session: true, ..expiry(1) }), ms(0)).unwrap();
        let keys: Vec<String> = (0..99).map(|i| format!("k{i}")).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        set(&mut sessions, token, ms(0), &keys).unwrap();
    }
    let mut budget = Budget { work: 250, moves: usize::MAX };
    assert_eq!(sessions.expire(ms(1_000), &mut budget), 3, "100 units per session");
    assert_eq!(budget.work, 0);
}

#[test]
fn a_crowded_slot_cascades_within_the_move_budget() {
    let mut sessions = Sessions::new();
    // Deadlines spread over a minute land in a few high wheel slots.
    for i in 0..20_000u64 {
        let created = ms(i * 3);
        sessions.create(Some(Expiry { delete_session: true, ..expiry(60) }), created).unwrap();
    }
    let mut now = 0;
    let mut calls = 0;
    while !sessions.is_empty() {
        now = sessions.next_deadline().unwrap().max(now);
        let mut budget = Budget { work: usize::MAX, moves: 500 };
        sessions.expire(ms(now), &mut budget);
        calls += 1;
        assert!(calls < 100_000);
    }
    assert!(now <= 60_000 + 60_000, "{now}");
    assert!(calls > 20_000 / 500, "{calls}");
}

/// Every session of a snapshot, in token order (steps and copy-on-write
/// produce them in no particular order).
fn sorted(mut records: Vec<SessionRecord>) -> Vec<SessionRecord> {
    records.sort_by_key(|r| r.token);
    records
}

/// Steps the snapshot under way to completion, `work` units at a time.
fn finish_snapshot(sessions: &mut Sessions, work: usize) -> Vec<SessionRecord> {
    loop {
        if let Some(records) = sessions.snapshot_step(work) {
            return sorted(records);
        }
        assert!(sessions.is_snapshotting());
    }
}

#[test]
fn a_stepped_snapshot_holds_the_sessions_as_they_were_when_it_began() {
    let mut sessions = Sessions::new();
    let delete = Expiry { delete_session: true, ..expiry(1) };
    let kept = sessions.create(None, ms(0)).unwrap();
    let changed = sessions.create(None, ms(0)).unwrap();
    let ended = sessions.create(None, ms(0)).unwrap();
    let cleared = sessions.create(None, ms(0)).unwrap();
    let expiring = sessions.create(Some(delete), ms(0)).unwrap();
    let restarting = sessions.create(Some(expiry(1)), ms(0)).unwrap();
    let already_due = sessions.create(Some(delete), ms(0)).unwrap();
    for token in [kept, changed, ended, cleared, expiring, restarting] {
        set(&mut sessions, token, ms(0), &["a", "b"]).unwrap();
    }
    // `already_due` expires at 1,000 ms, the others are fresh: begin at
    // 1,000 ms with every key written at 0 or later.
    for token in [expiring, restarting] {
        set(&mut sessions, token, ms(999), &["c"]).unwrap();
    }
    let _ = already_due;
    let expected = sorted(sessions.snapshot(None, ms(999)));
    assert_eq!(expected.len(), 7);
    assert!(sessions.begin_snapshot(ms(999)));
    assert!(!sessions.begin_snapshot(ms(999)), "one at a time");

    // Every kind of change, before the steps reach the sessions.
    set(&mut sessions, changed, ms(999), &["new"]).unwrap();
    assert!(sessions.end(ended, ms(999)));
    sessions.with_keys(cleared, ms(999), Touch::None, KeyMap::clear).unwrap();
    let created = sessions.create(None, ms(999)).unwrap();
    set(&mut sessions, created, ms(999), &["x"]).unwrap();
    // 1,000 ms: `expiring`, `restarting` and `already_due` reach their
    // deadline; the first by active expiry, the second on access.
    expire_all(&mut sessions, ms(1_000));
    assert_eq!(count(&mut sessions, restarting, ms(1_000)), Some(0));

    assert_eq!(finish_snapshot(&mut sessions, 2), expected);
    assert!(!sessions.is_snapshotting());
    // The marks are gone: the next snapshot sees the sessions as they are.
    let now = sorted(sessions.snapshot(None, ms(1_000)));
    assert!(sessions.begin_snapshot(ms(1_000)));
    assert_eq!(finish_snapshot(&mut sessions, 1), now);
}

#[test]
fn ending_every_session_mid_snapshot_copies_them_first() {
    let mut sessions = Sessions::new();
    for _ in 0..50 {
        let token = sessions.create(None, ms(0)).unwrap();
        set(&mut sessions, token, ms(0), &["a"]).unwrap();
    }
    let expected = sorted(sessions.snapshot(None, ms(0)));
    assert!(sessions.begin_snapshot(ms(0)));
    assert!(sessions.snapshot_step(10).is_none());
    assert_eq!(sessions.end_all(ms(0)), 50);
    assert_eq!(finish_snapshot(&mut sessions, 10), expected);
}

#[test]
fn a_removal_behind_the_walk_does_not_hide_the_session_it_moves() {
    let mut sessions = Sessions::new();
    // Positions follow creation while nothing is removed.
    let tokens: Vec<u64> = (0..10).map(|_| sessions.create(None, ms(0)).unwrap()).collect();
    let expected = sorted(sessions.snapshot(None, ms(0)));
    assert!(sessions.begin_snapshot(ms(0)));
    assert!(sessions.snapshot_step(3).is_none(), "positions 0 to 2 looked at");
    // Ending the session at position 0 moves the last one, not looked at
    // yet, into it: it is looked at first.
    assert!(sessions.end(tokens[0], ms(0)));
    // So is one that a later removal moves into a position looked at.
    assert!(sessions.end(tokens[1], ms(0)));
    assert_eq!(finish_snapshot(&mut sessions, 3), expected);
}

#[test]
fn a_snapshot_step_is_bounded_by_sessions_and_keys() {
    let mut sessions = Sessions::new();
    let tokens: Vec<u64> = (0..100).map(|_| sessions.create(None, ms(0)).unwrap()).collect();
    for &token in &tokens {
        set(&mut sessions, token, ms(0), &["a", "b", "c"]).unwrap();
    }
    assert!(sessions.begin_snapshot(ms(0)));
    // 4 units per session (itself and three keys): 100 units is 25 sessions.
    let mut steps = 1;
    while sessions.snapshot_step(100).is_none() {
        steps += 1;
    }
    assert_eq!(steps, 4);
}

mod stepped_snapshot_model {
    //! Random changes interleaved with snapshot steps: the finished
    //! snapshot always equals a copy taken at once when it began.
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Set(usize, u8),
        Clear(usize),
        End(usize),
        New(bool),
        Advance(u64),
        Expire,
        Step(usize),
        EndAll,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<usize>(), any::<u8>()).prop_map(|(i, k)| Op::Set(i, k)),
            1 => any::<usize>().prop_map(Op::Clear),
            1 => any::<usize>().prop_map(Op::End),
            1 => any::<bool>().prop_map(Op::New),
            2 => (0u64..700).prop_map(Op::Advance),
            1 => Just(Op::Expire),
            3 => (1usize..6).prop_map(Op::Step),
            1 => Just(Op::EndAll),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn the_snapshot_is_the_moment_it_began(initial in 0usize..20, ops in proptest::collection::vec(op(), 0..60)) {
            let mut sessions = Sessions::new();
            let mut tokens = Vec::new();
            let mut now = 0;
            for i in 0..initial {
                let settings = Expiry { delete_session: i % 2 == 0, ..expiry(1) };
                let token = sessions.create((i % 3 != 0).then_some(settings), ms(0)).unwrap();
                set(&mut sessions, token, ms(0), &["a", "b"]).unwrap();
                tokens.push(token);
            }
            now += 500;
            let expected = sorted(sessions.snapshot(None, ms(now)));
            prop_assert!(sessions.begin_snapshot(ms(now)));
            let mut result = None;
            for op in ops {
                let pick = |i: usize| tokens.get(i % tokens.len().max(1)).copied().unwrap_or(0);
                match op {
                    Op::Set(i, k) => drop(set(&mut sessions, pick(i), ms(now), &[&k.to_string()])),
                    Op::Clear(i) => drop(sessions.with_keys(pick(i), ms(now), Touch::None, KeyMap::clear)),
                    Op::End(i) => drop(sessions.end(pick(i), ms(now))),
                    Op::New(expires) => {
                        let settings = expires.then_some(Expiry { delete_session: true, ..expiry(1) });
                        tokens.push(sessions.create(settings, ms(now)).unwrap());
                    }
                    Op::Advance(by) => now += by,
                    Op::Expire => drop(expire_all(&mut sessions, ms(now))),
                    Op::Step(work) => {
                        if let Some(records) = sessions.snapshot_step(work) {
                            prop_assert!(result.is_none());
                            result = Some(sorted(records));
                        }
                    }
                    Op::EndAll => drop(sessions.end_all(ms(now))),
                }
            }
            let result = match result {
                Some(records) => records,
                None => finish_snapshot(&mut sessions, 3),
            };
            prop_assert_eq!(result, expected);
        }
    }
}
