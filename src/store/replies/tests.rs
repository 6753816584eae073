//! Stepped list replies: whatever the room and steps each piece gets, the
//! pieces put together are exactly the text the one-piece writer makes.

use super::*;

/// A map with plain keys, keys that need escaping, and a large value.
fn map() -> KeyMap {
    let mut map = KeyMap::new();
    for i in 0..300 {
        map.set(&format!("key:{i:06}"), &format!("{{\"n\":{i}}}"));
    }
    map.set("quote\"back\\slash", "[1,2]");
    map.set("żółw\u{1}\n", "\"v\"");
    map.set("big", &format!("\"{}\"", "x".repeat(5000)));
    map.remove("key:000007");
    map
}

/// The names a request asks for: some present, some twice, some absent.
fn names() -> Vec<Cow<'static, str>> {
    let mut names: Vec<Cow<'static, str>> = Vec::new();
    for i in (0..320).rev().step_by(3) {
        names.push(format!("key:{i:06}").into());
    }
    names.extend(["big", "quote\"back\\slash", "absent", "key:000003", "żółw\u{1}\n", "big"].map(Cow::Borrowed));
    names
}

/// What the one-piece writer makes of `verb` over `map`.
fn whole(map: &KeyMap, verb: Verb, names: &[Cow<'_, str>], protocol: Protocol) -> Vec<u8> {
    let mut out = Vec::new();
    let mut reply = Reply::new(&mut out, protocol);
    match verb {
        Verb::KvKeys | Verb::ShKeys => reply.object(verb, |o| {
            o.array("keys", map.entries().map(Entry::key_json)).st(Status::Ok);
        }),
        Verb::KvGet | Verb::ShGet => reply.object(verb, |o| {
            let found = crate::store::first_occurrences(names).filter_map(|name| map.get(name));
            o.members("keys", found.map(Entry::member_json)).st(Status::Ok);
        }),
        _ => reply.object(verb, |o| {
            let found = names.iter().filter_map(|name| map.get(name));
            o.array("contains", found.map(Entry::key_json)).st(Status::Ok);
        }),
    }
    out
}

/// Everything `reply` writes, each piece given `room(i)` bytes and
/// `steps(i)` steps; checks no piece overflows its room.
fn drain(mut reply: StreamReply, room: impl Fn(usize) -> usize, steps: impl Fn(usize) -> usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0.. {
        assert!(i < 1_000_000, "the reply never completes");
        let before = out.len();
        let max = room(i);
        let mut left = steps(i);
        let done = reply.fill(&mut out, max, &mut left);
        assert!(out.len() - before <= max, "piece {i} wrote {} bytes into {max}", out.len() - before);
        if done {
            break;
        }
    }
    out
}

fn stepped(map: &KeyMap, verb: Verb, names: &[Cow<'_, str>], protocol: Protocol) -> StreamReply {
    match verb {
        Verb::KvKeys | Verb::ShKeys => StreamReply::new(Frame::new(protocol, verb, Items::Keys), map.snapshot(), None),
        Verb::KvGet | Verb::ShGet => {
            list_job(Box::new(Matcher::new(Names::new(names))), verb, protocol, Items::Members, true)
                .into_reply(map.snapshot())
        }
        _ => list_job(Box::new(Matcher::new(Names::new(names))), verb, protocol, Items::Keys, false)
            .into_reply(map.snapshot()),
    }
}

/// The room or the steps piece `i` gets.
type Budget = dyn Fn(usize) -> usize;

#[test]
fn pieces_put_together_are_the_one_piece_text() {
    let (map, names) = (map(), names());
    let budgets: [(&Budget, &Budget); 4] = [
        (&|_| usize::MAX, &|_| usize::MAX),
        (&|_| 1, &|_| 1),
        (&|i| [7, 1, 300, 64 * 1024][i % 4], &|i| [0, 3, 1, 50][i % 4]),
        (&|i| 1 + i % 13, &|i| i % 5),
    ];
    for protocol in [Protocol::V07, Protocol::V09] {
        for verb in [Verb::KvKeys, Verb::KvGet, Verb::KvContains, Verb::ShKeys, Verb::ShGet, Verb::ShContains] {
            let expected = whole(&map, verb, &names, protocol);
            for (room, steps) in budgets {
                let got = drain(stepped(&map, verb, &names, protocol), room, steps);
                assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&expected), "{verb:?}");
            }
        }
    }
}

#[test]
fn entries_looked_up_at_once_give_the_same_text() {
    let (map, names) = (map(), names());
    let protocol = Protocol::V07;
    let entries: Vec<Entry> =
        crate::store::first_occurrences(&names).filter_map(|name| map.get(name)).cloned().collect();
    let reply = StreamReply::new(Frame::new(protocol, Verb::KvGet, Items::Members), entries, None);
    assert_eq!(drain(reply, |i| 1 + i % 97, |_| 2), whole(&map, Verb::KvGet, &names, protocol));
}

#[test]
fn empty_results_and_empty_maps() {
    let empty = KeyMap::new();
    let absent: Vec<Cow<'_, str>> = vec!["a".into(), "b".into(), "a".into()];
    for verb in [Verb::KvKeys, Verb::KvGet, Verb::KvContains] {
        let got = drain(stepped(&empty, verb, &absent, Protocol::V07), |_| 3, |_| 1);
        assert_eq!(got, whole(&empty, verb, &absent, Protocol::V07));
    }
    assert_eq!(
        String::from_utf8(whole(&empty, Verb::KvGet, &absent, Protocol::V07)).unwrap(),
        r#"{"KV_GET_RSP":{"keys":{},"st":1}}"#
    );
}

#[test]
fn a_snapshot_shows_the_map_as_it_was_when_it_began() {
    let mut map = map();
    let names = names();
    let before = whole(&map, Verb::KvGet, &names, Protocol::V07);
    assert!(map.begin_snapshot());
    map.set("key:000003", "\"changed\"");
    map.remove("big");
    map.set("absent", "1");
    let mut snapshot = None;
    while snapshot.is_none() {
        snapshot = map.snapshot_step(17);
        map.remove(&format!("key:{:06}", 300 - map.len() % 50));
    }
    let reply = list_job(Box::new(Matcher::new(Names::new(&names))), Verb::KvGet, Protocol::V07, Items::Members, true)
        .into_reply(snapshot.unwrap());
    assert_eq!(drain(reply, |_| 100, |_| 10), before);
}

#[test]
fn small_replies_are_written_at_once_and_large_ones_are_not() {
    let map = map();
    let names = names();
    let mut out = Vec::new();
    let mut reply = Reply::new(&mut out, Protocol::V07);
    let mut metrics = crate::metrics::Metrics::default();
    assert!(matches!(get(&map, &names, None, Verb::KvGet, &mut reply, &mut metrics), Ran::Replied));
    assert_eq!(out, whole(&map, Verb::KvGet, &names, Protocol::V07));
    let first = super::super::first_occurrences(&names).count() as u64;
    let found = super::super::first_occurrences(&names).filter(|n| map.get(n).is_some()).count() as u64;
    assert_eq!((metrics.key_hits(), metrics.key_misses()), (found, first - found));

    // A reply longer than INLINE_REPLY_BYTES: nothing written, the entries kept.
    let mut huge = KeyMap::new();
    for i in 0..3 {
        huge.set(&format!("h{i}"), &format!("\"{}\"", "y".repeat(INLINE_REPLY_BYTES / 2)));
    }
    let three: Vec<Cow<'_, str>> = vec!["h0".into(), "h1".into(), "h2".into(), "h0".into()];
    let mut out = b"before".to_vec();
    let mut reply = Reply::new(&mut out, Protocol::V07);
    let mut metrics = crate::metrics::Metrics::default();
    let Ran::Stream(stream) = get(&huge, &three, None, Verb::KvGet, &mut reply, &mut metrics) else {
        panic!("not streamed")
    };
    assert_eq!((metrics.key_hits(), metrics.key_misses()), (3, 0), "h0 once");
    assert_eq!(out, b"before", "nothing of it was left in the output");
    assert_eq!(drain(stream, |_| 64 * 1024, |_| 100), whole(&huge, Verb::KvGet, &three, Protocol::V07));
    let mut long_keys = KeyMap::new();
    for i in 0..3 {
        long_keys.set(&format!("{i}{}", "k".repeat(INLINE_REPLY_BYTES / 2)), "0");
    }
    let mut out = Vec::new();
    let Ran::Stream(stream) = keys(&long_keys, Verb::KvKeys, &mut Reply::new(&mut out, Protocol::V07)) else {
        panic!("not streamed")
    };
    assert!(out.is_empty());
    assert_eq!(drain(stream, |_| 64 * 1024, |_| 1), whole(&long_keys, Verb::KvKeys, &[], Protocol::V07));

    // More names than INLINE_NAMES, or more keys than INLINE_ENTRIES: a snapshot first.
    let many: Vec<Cow<'_, str>> = (0..=INLINE_NAMES).map(|i| Cow::Owned(format!("n{i}"))).collect();
    assert!(matches!(
        contains(&map, &many, None, Verb::KvContains, &mut Reply::new(&mut out, Protocol::V07)),
        Ran::Snapshot(_)
    ));
    let mut wide = KeyMap::new();
    for i in 0..=INLINE_ENTRIES {
        wide.set(&format!("w{i}"), "0");
    }
    assert!(matches!(keys(&wide, Verb::KvKeys, &mut Reply::new(&mut out, Protocol::V07)), Ran::Snapshot(_)));
    assert!(out.is_empty());
}

#[test]
fn prepared_names_stand_for_the_commands_own() {
    // More than INLINE_NAMES names (some absent, some twice), so that they
    // are prepared, as the thread that decodes a large request does.
    let mut map = KeyMap::new();
    for i in 0..20_000 {
        map.set(&format!("p{i}"), &i.to_string());
    }
    let names: Vec<Cow<'_, str>> =
        (0..INLINE_NAMES + 500).map(|i| Cow::Owned(format!("p{}", (i * 7) % 23_000))).collect();
    for verb in [Verb::KvGet, Verb::KvContains] {
        let expected = whole(&map, verb, &names, Protocol::V09);
        let run = |names: &[Cow<'_, str>], prepared| {
            let mut out = Vec::new();
            let mut reply = Reply::new(&mut out, Protocol::V09);
            let mut metrics = crate::metrics::Metrics::default();
            let ran = match verb {
                Verb::KvGet => get(&map, names, prepared, verb, &mut reply, &mut metrics),
                _ => contains(&map, names, prepared, verb, &mut reply),
            };
            let Ran::Snapshot(job) = ran else { panic!("{verb:?} of {} names: no snapshot", names.len()) };
            drain(job.into_reply(map.snapshot()), |_| 64 * 1024, |_| STREAM_STEPS)
        };
        // The command's list given whole, or emptied with its copy given.
        assert_eq!(run(&names, None), expected, "{verb:?}");
        assert_eq!(run(&[], prepare_names(&names)), expected, "{verb:?}, prepared");
    }
    assert!(prepare_names(&names[..INLINE_NAMES]).is_none(), "fewer are looked up in their turn");
}

#[test]
fn the_table_of_names_is_zeroed_and_filled_a_step_at_a_time() {
    let names: Vec<Cow<'_, str>> = (0..100_000).map(|i| Cow::Owned(format!("t{i}"))).collect();
    let mut matcher = Matcher::new(Names::new(&names));
    assert_eq!(matcher.table, 256 * 1024, "a power of two at least twice the names");
    assert_eq!(matcher.slots.len(), 0, "reserved, not written");
    let mut turns = 0;
    loop {
        let mut steps = STREAM_STEPS;
        let (slots, indexed) = (matcher.slots.len(), matcher.canon.len());
        let done = matcher.index(&mut steps);
        turns += 1;
        // What a turn's steps may touch: the slots they zero, then the names.
        assert!(matcher.slots.len() - slots <= STREAM_STEPS * TABLE_SLOTS_PER_STEP);
        assert!(matcher.canon.len() - indexed <= STREAM_STEPS.div_ceil(MATCH_STEPS));
        if done {
            break;
        }
        assert_eq!(steps, 0, "stopped only when its steps were spent");
    }
    assert_eq!(matcher.canon.len(), names.len());
    // 256 Ki slots at 16 a step (half a turn), then 100,000 names at 3
    // steps (9.2 turns): 10 turns.
    assert_eq!(turns, 10);
    // Prepared off the loop: all of it at once, the same index.
    let prepared = prepare_names(&names).unwrap().0;
    assert_eq!((prepared.slots.len(), prepared.canon.len()), (matcher.table, names.len()));
    assert_eq!(prepared.raw.len(), 0, "the copy as requested is dropped once indexed");
}

/// The steps a connection's turn gives a reply.
const STREAM_STEPS: usize = crate::conn::STREAM_STEPS_PER_TURN;

#[test]
fn a_turn_spends_no_more_steps_than_it_is_given() {
    let mut map = KeyMap::new();
    for i in 0..5000 {
        map.set(&format!("k{i}"), "1");
    }
    let names: Vec<Cow<'_, str>> = (0..4000).map(|i| Cow::Owned(format!("k{}", i * 2))).collect();
    let mut reply =
        list_job(Box::new(Matcher::new(Names::new(&names))), Verb::KvContains, Protocol::V07, Items::Keys, false)
            .into_reply(map.snapshot());
    let mut out = Vec::new();
    let mut calls = 0;
    loop {
        calls += 1;
        let mut steps = 100;
        let done = reply.fill(&mut out, usize::MAX, &mut steps);
        assert!(steps <= 100);
        if done {
            break;
        }
        assert_eq!(steps, 0, "a piece stops early only when its steps are spent");
    }
    // 4,000 names indexed, 5,000 entries matched, 4,000 names written.
    assert!(calls >= 130, "{calls} calls");
    assert_eq!(out, whole(&map, Verb::KvContains, &names, Protocol::V07));
}

#[test]
fn a_written_text_comes_out_from_its_start_in_pieces_of_any_size() {
    let text: Vec<u8> = (0..10_000u32).flat_map(|i| i.to_le_bytes()).collect();
    for (start, max) in [(0, 1), (7, 4096), (123, 100_000)] {
        let mut reply = StreamReply::text(text.clone(), start, Status::Bounds);
        assert_eq!(reply.status(), Status::Bounds);
        let mut out = Vec::new();
        let mut pieces = 0;
        loop {
            let mut steps = 1;
            let before = out.len();
            let done = reply.fill(&mut out, max, &mut steps);
            assert!(out.len() - before <= max);
            pieces += 1;
            if done {
                break;
            }
            assert!(pieces <= text.len() + 2, "it ends");
        }
        assert_eq!(out, &text[start..], "from {start}, pieces of {max}");
    }
}
