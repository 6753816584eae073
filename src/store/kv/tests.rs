//! Key map tests: entries as JSON members, order semantics, snapshots
//! (whole, and incremental against a model while the map changes), order
//! and snapshots while the index resizes, and loads merged in steps; then
//! a model (a `Vec` of pairs) against random interleavings of all of it.

use super::*;

fn keys(map: &KeyMap) -> Vec<String> {
    map.entries().map(|e| e.key().into_owned()).collect()
}

fn map_of(names: &[&str]) -> KeyMap {
    let mut map = KeyMap::new();
    for name in names {
        map.set(name, "1");
    }
    map
}

#[test]
fn entries_are_json_members() {
    let long_key = "k".repeat(300);
    for key in ["", "a", "żółw ☃ 𝄞", "q\"uo\\te\n\u{1}", &long_key] {
        let entry = Entry::new(key, "{\"a\":[1,2]}");
        assert_eq!(entry.key(), key);
        assert_eq!(entry.value_json(), b"{\"a\":[1,2]}");
        let member = format!("{{{}}}", String::from_utf8(entry.member_json().to_vec()).unwrap());
        let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&member).unwrap();
        assert_eq!(parsed[key], serde_json::json!({"a": [1, 2]}));
    }
    let big = "x".repeat(70_000);
    let entry = Entry::new("big", &format!("\"{big}\""));
    assert_eq!(entry.value_json().len(), 70_002);
    assert_eq!(entry.key_json(), b"\"big\"");
}

#[test]
fn keys_needing_escapes_are_found_by_their_plain_form() {
    let mut map = KeyMap::new();
    map.set("a\"b", "1");
    map.set("c\\d", "2");
    assert_eq!(map.get("a\"b").map(Entry::value_json), Some(&b"1"[..]));
    assert!(map.contains("c\\d"));
    assert!(!map.contains("a\\\"b"));
    assert!(map.remove("a\"b"));
    assert_eq!(map.len(), 1);
}

#[test]
fn overwrite_keeps_position() {
    let mut map = map_of(&["a", "b", "c"]);
    map.set("b", "\"new\"");
    assert_eq!(keys(&map), ["a", "b", "c"]);
    assert_eq!(map.get("b").map(Entry::value_json), Some(&b"\"new\""[..]));
}

#[test]
fn add_does_not_overwrite() {
    let mut map = map_of(&["a"]);
    assert!(!map.add("a", "2"));
    assert!(map.add("b", "3"));
    assert_eq!(map.get("a").map(Entry::value_json), Some(&b"1"[..]));
    assert_eq!(map.get("b").map(Entry::value_json), Some(&b"3"[..]));
}

#[test]
fn remove_swaps_the_last_key_in() {
    let mut map = map_of(&["a", "b", "c", "d", "e"]);
    assert!(map.remove("b"));
    assert_eq!(keys(&map), ["a", "e", "c", "d"]);
    let mut map = map_of(&["a", "b", "c", "d", "e"]);
    map.remove("a");
    map.remove("c");
    assert_eq!(keys(&map), ["e", "b", "d"]);
    assert!(!map.remove("zz"));
}

#[test]
fn clear_resets_order_and_counts() {
    let mut map = map_of(&["a", "b"]);
    assert_eq!(map.clear(), 2);
    assert!(map.is_empty());
    map.set("z", "1");
    map.set("a", "1");
    assert_eq!(keys(&map), ["z", "a"]);
}

#[test]
fn snapshots_do_not_see_later_writes() {
    let mut map = map_of(&["a", "b"]);
    let snap = map.snapshot();
    map.set("a", "2");
    map.remove("b");
    let members: Vec<&[u8]> = snap.iter().map(Entry::member_json).collect();
    assert_eq!(members, [&b"\"a\":1"[..], b"\"b\":1"]);
}

fn members(entries: &[Entry]) -> Vec<Vec<u8>> {
    entries.iter().map(|e| e.member_json().to_vec()).collect()
}

#[test]
fn an_incremental_snapshot_is_the_map_when_it_began() {
    let mut map = map_of(&["a", "b", "c", "d", "e"]);
    let before = members(&map.snapshot());
    assert!(map.begin_snapshot());
    assert!(!map.begin_snapshot(), "one at a time");
    assert_eq!(map.snapshot_step(2), None);
    map.set("a", "2"); // taken already
    map.set("d", "2"); // not taken yet
    map.remove("c"); // "e" moves into its place
    map.add("f", "1"); // appended at the end, where "e" was
    assert_eq!(map.snapshot_step(1), None);
    map.remove("e");
    assert!(map.is_snapshotting());
    let snap = map.snapshot_step(usize::MAX).unwrap();
    assert_eq!(members(&snap), before);
    assert!(!map.is_snapshotting());
    assert_eq!(map.snapshot_step(1), None);
    assert_eq!(keys(&map), ["a", "b", "f", "d"]);
}

#[test]
fn clearing_hands_the_rest_of_the_snapshot_over_instead_of_copying_it() {
    let mut map = map_of(&["a", "b", "c"]);
    map.begin_snapshot();
    map.snapshot_step(1);
    map.clear();
    assert!(map.is_snapshotting(), "the clear copied nothing");
    map.set("z", "9");
    map.set("a", "8");
    map.remove("z");
    assert_eq!(map.snapshot_step(1), None);
    map.clear();
    assert_eq!(members(&map.snapshot_step(1).unwrap()), members(&map_of(&["a", "b", "c"]).snapshot()));
    assert!(map.is_empty());
}

mod model {
    use proptest::prelude::*;

    use super::super::*;
    use super::members;

    #[derive(Debug, Clone)]
    enum Op {
        Set(u8, u8),
        Add(u8, u8),
        Remove(u8),
        Clear,
        Step(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..24u8, any::<u8>()).prop_map(|(k, v)| Op::Set(k, v)),
            2 => (0..24u8, any::<u8>()).prop_map(|(k, v)| Op::Add(k, v)),
            4 => (0..24u8).prop_map(Op::Remove),
            1 => Just(Op::Clear),
            3 => (0..6usize).prop_map(Op::Step),
        ]
    }

    fn apply(map: &mut KeyMap, op: &Op) {
        match *op {
            Op::Set(k, v) => drop(map.set(&format!("k{k}"), &v.to_string())),
            Op::Add(k, v) => drop(map.add(&format!("k{k}"), &v.to_string())),
            Op::Remove(k) => drop(map.remove(&format!("k{k}"))),
            Op::Clear => drop(map.clear()),
            Op::Step(_) => {}
        }
    }

    proptest! {
        /// Whatever happens to the map while a snapshot is taken, the
        /// snapshot equals a whole copy made when it began, and the map ends
        /// as it would have without one.
        #[test]
        fn incremental_snapshots_match_whole_copies(
            setup in proptest::collection::vec(op(), 0..40),
            during in proptest::collection::vec(op(), 0..80),
        ) {
            let mut map = KeyMap::new();
            let mut plain = KeyMap::new();
            for op in &setup {
                apply(&mut map, op);
                apply(&mut plain, op);
            }
            let expected = members(&map.snapshot());
            map.begin_snapshot();
            let mut done = None;
            for op in &during {
                apply(&mut map, op);
                apply(&mut plain, op);
                if let (Op::Step(n), None) = (op, &done) {
                    done = map.snapshot_step(*n);
                }
            }
            let snapshot = done.or_else(|| map.snapshot_step(usize::MAX)).unwrap();
            prop_assert_eq!(members(&snapshot), expected);
            prop_assert_eq!(members(&map.snapshot()), members(&plain.snapshot()));
        }
    }
}

/// The map's keys and values, in map order.
fn pairs(map: &KeyMap) -> Vec<(String, String)> {
    map.entries().map(|e| (e.key().into_owned(), String::from_utf8_lossy(e.value_json()).into_owned())).collect()
}

/// A map of `pairs`, set in order.
fn loaded(pairs: &[(&str, &str)]) -> KeyMap {
    let mut map = KeyMap::new();
    for (key, value) in pairs {
        map.set(key, value);
    }
    map
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn order_and_snapshots_hold_while_the_index_resizes() {
    let mut map = KeyMap::new();
    let mut model: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    // Fill until a doubling is under way with plenty left to move.
    while !(map.keys.table.is_resizing() && map.len() > 1_000) {
        map.set(&format!("k{i}"), "1");
        model.push((format!("k{i}"), "1".into()));
        i += 1;
    }
    assert!(map.begin_snapshot());
    let expected = model.clone();
    let mut snapshot = None;
    let mut ops = 0;
    while map.keys.table.is_resizing() {
        ops += 1;
        match ops % 4 {
            0 => {
                let at = (ops * 7) % model.len();
                let (key, _) = model.swap_remove(at);
                assert!(map.remove(&key));
            }
            1 => {
                let at = (ops * 13) % model.len();
                model[at].1 = ops.to_string();
                map.set(&model[at].0, &ops.to_string());
            }
            _ => {
                map.set(&format!("k{i}"), "2");
                model.push((format!("k{i}"), "2".into()));
                i += 1;
            }
        }
        assert_eq!(pairs(&map), model, "after {ops} operations");
        if snapshot.is_none() {
            snapshot = map.snapshot_step(16);
        }
    }
    assert!(ops >= 100, "the resize lasted {ops} operations");
    let snapshot = snapshot.or_else(|| map.snapshot_step(usize::MAX)).unwrap();
    assert_eq!(snapshot.iter().map(|e| e.key().into_owned()).collect::<Vec<_>>(), keys_of(&expected));
    for (key, value) in &model {
        assert_eq!(map.get(key).map(|e| e.value_json().to_vec()), Some(value.as_bytes().to_vec()));
    }
}

fn keys_of(pairs: &[(String, String)]) -> Vec<String> {
    pairs.iter().map(|p| p.0.clone()).collect()
}

#[test]
fn a_merge_reads_as_before_until_checked_then_as_after() {
    let mut map = loaded(&[("a", "1"), ("b", "2"), ("c", "3")]);
    map.begin_merge(loaded(&[("b", "20"), ("d", "40"), ("a", "10"), ("e", "50")]));
    assert_eq!(map.merging(), Merging::Checking);
    assert_eq!(map.merge_step(3), Merging::Checking);
    assert_eq!(pairs(&map), owned(&[("a", "1"), ("b", "2"), ("c", "3")]));
    assert_eq!(map.get("b").map(Entry::value_json), Some(&b"2"[..]));
    assert!(!map.contains("d"));
    let after = owned(&[("a", "10"), ("b", "20"), ("c", "3"), ("d", "40"), ("e", "50")]);
    assert_eq!(map.merge_step(1), Merging::Applying, "the check ends: the load is in");
    assert_eq!((pairs(&map), map.len()), (after.clone(), 5));
    assert_eq!(map.get("e").map(Entry::value_json), Some(&b"50"[..]));
    assert_eq!(map.merge_step(2), Merging::Applying);
    assert_eq!(pairs(&map), after);
    assert_eq!(map.keys.table.len(), 4, "two steps moved b (in place) and d (appended)");
    assert_eq!(map.merge_step(2), Merging::Done);
    assert_eq!(pairs(&map), after);
    assert!(map.merge.is_none());
}

#[test]
fn while_a_load_applies_changes_act_on_the_loaded_view() {
    let start = || {
        let mut map = loaded(&[("a", "1"), ("b", "2"), ("c", "3")]);
        map.begin_merge(loaded(&[("b", "20"), ("n1", "1"), ("n2", "2"), ("n3", "3")]));
        assert_eq!(map.merge_step(3), Merging::Checking);
        assert_eq!(map.merge_step(1), Merging::Applying, "checking the last key ends the check");
        map
    };
    // Removing a key of the map moves the view's last key (the last new
    // loaded key) into its place.
    let mut map = start();
    assert!(map.remove("a"));
    let view = owned(&[("n3", "3"), ("b", "20"), ("c", "3"), ("n1", "1"), ("n2", "2")]);
    assert_eq!(pairs(&map), view);
    while map.merge_step(1) != Merging::Done {
        assert_eq!(pairs(&map), view);
    }
    assert_eq!(pairs(&map), view);
    // Removing a new loaded key moves the last new one into its place;
    // removing a shared one drops its loaded value with it.
    let mut map = start();
    assert!(map.remove("n1") && map.remove("b") && !map.remove("zz"));
    let view = owned(&[("a", "1"), ("n2", "2"), ("c", "3"), ("n3", "3")]);
    assert_eq!((pairs(&map), map.len()), (view.clone(), 4));
    while map.merge_step(1) != Merging::Done {}
    assert_eq!(pairs(&map), view);
    // A new key goes after the loaded new keys; setting a loaded key keeps
    // its place; adding either fails.
    let mut map = start();
    map.set("z", "9");
    map.set("n2", "22");
    map.set("b", "200");
    assert!(!map.add("n3", "0") && !map.add("b", "0") && !map.add("a", "0") && map.add("y", "8"));
    let view =
        owned(&[("a", "1"), ("b", "200"), ("c", "3"), ("n1", "1"), ("n2", "22"), ("n3", "3"), ("z", "9"), ("y", "8")]);
    assert_eq!(pairs(&map), view);
    assert_eq!(map.merge_step(2), Merging::Applying);
    assert!(map.remove("c"));
    let view = owned(&[("a", "1"), ("b", "200"), ("y", "8"), ("n1", "1"), ("n2", "22"), ("n3", "3"), ("z", "9")]);
    assert_eq!(pairs(&map), view);
    while map.merge_step(1) != Merging::Done {}
    assert_eq!(pairs(&map), view);
    // Clearing drops the rest of the load.
    let mut map = start();
    assert_eq!(map.clear(), 6);
    assert_eq!(map.merging(), Merging::Done);
    map.set("q", "1");
    assert_eq!(pairs(&map), owned(&[("q", "1")]));
}

#[test]
fn while_a_load_is_checked_changes_are_made_before_it() {
    let mut map = loaded(&[("a", "1"), ("b", "2")]);
    map.begin_merge(loaded(&[("x", "10"), ("b", "20"), ("y", "30")]));
    assert_eq!(map.merge_step(2), Merging::Checking);
    // After the check passed them: x becomes shared, b new; y is checked
    // later, after it was added.
    map.set("x", "1");
    assert!(map.remove("b"));
    assert!(map.add("y", "3"));
    assert!(!map.add("x", "0"));
    assert_eq!(pairs(&map), owned(&[("a", "1"), ("x", "1"), ("y", "3")]));
    assert_eq!(map.merge_step(1), Merging::Applying);
    assert_eq!(pairs(&map), owned(&[("a", "1"), ("x", "10"), ("y", "30"), ("b", "20")]));
    while map.merge_step(1) != Merging::Done {}
    assert_eq!(pairs(&map), owned(&[("a", "1"), ("x", "10"), ("y", "30"), ("b", "20")]));
    // Clearing while checking: the load applies to the empty map.
    let mut map = loaded(&[("a", "1"), ("b", "2")]);
    map.begin_merge(loaded(&[("b", "20"), ("c", "30")]));
    map.merge_step(1);
    map.clear();
    map.set("c", "3");
    assert_eq!(map.merge_step(usize::MAX), Merging::Done);
    assert_eq!(pairs(&map), owned(&[("c", "30"), ("b", "20")]));
}

#[test]
fn merges_and_snapshots() {
    // Into an empty map: moved whole.
    let mut map = KeyMap::new();
    map.begin_merge(loaded(&[("a", "1")]));
    assert_eq!(map.merging(), Merging::Done);
    // A snapshot begun before (or while checking) is of the map before
    // the load, even as the load applies; none begins while it applies.
    let mut map = loaded(&[("a", "1"), ("b", "2"), ("c", "3")]);
    assert!(map.begin_snapshot());
    map.begin_merge(loaded(&[("c", "30"), ("d", "40")]));
    assert_eq!(map.merge_step(1), Merging::Checking);
    assert_eq!(map.merge_step(1), Merging::Applying);
    assert!(map.remove("a"));
    assert!(map.snapshot_step(1).is_none());
    assert!(!map.begin_snapshot(), "one at a time");
    assert_eq!(map.merge_step(usize::MAX), Merging::Done);
    let snapshot = map.snapshot_step(usize::MAX).unwrap();
    assert_eq!(members(&snapshot), members(&loaded(&[("a", "1"), ("b", "2"), ("c", "3")]).snapshot()));
    assert_eq!(pairs(&map), owned(&[("d", "40"), ("b", "2"), ("c", "30")]));
    let mut map = loaded(&[("a", "1")]);
    map.begin_merge(loaded(&[("b", "2")]));
    map.merge_step(1);
    assert_eq!(map.merging(), Merging::Applying);
    assert!(!map.begin_snapshot());
    assert_eq!(members(&map.snapshot()), members(&loaded(&[("a", "1"), ("b", "2")]).snapshot()));
}

#[test]
fn a_merge_step_moves_at_most_its_budget() {
    let mut map = KeyMap::new();
    for i in 0..5_000 {
        map.set(&format!("k{i}"), "1");
    }
    let mut load = KeyMap::new();
    for i in 2_500..12_500 {
        load.set(&format!("k{i}"), "2");
    }
    map.begin_merge(load);
    let mut steps = 0;
    loop {
        let before = map.keys.table.len();
        let state = map.merge_step(100);
        steps += 1;
        assert!(map.keys.table.len() - before <= 100);
        assert!(map.keys.table.len() == before || state != Merging::Checking, "checking changes nothing");
        if state == Merging::Done {
            break;
        }
    }
    assert_eq!(steps, 200, "10,000 checks and 10,000 moves, 100 a step");
    assert_eq!(map.len(), 12_500);
}

mod merged_model {
    //! The map against a model under random interleavings of changes,
    //! resize steps, snapshots and merges.

    use proptest::prelude::*;

    use super::super::*;
    use super::pairs;

    #[derive(Debug, Clone)]
    enum Op {
        Set(u8, u8),
        Add(u8, u8),
        Remove(u8),
        Clear,
        Rehash(usize),
        BeginSnapshot,
        SnapshotStep(usize),
        Load(Vec<(u8, u8)>),
        MergeStep(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0..40u8, any::<u8>()).prop_map(|(k, v)| Op::Set(k, v)),
            2 => (0..40u8, any::<u8>()).prop_map(|(k, v)| Op::Add(k, v)),
            5 => (0..40u8).prop_map(Op::Remove),
            1 => Just(Op::Clear),
            1 => (0..4usize).prop_map(Op::Rehash),
            1 => Just(Op::BeginSnapshot),
            2 => (0..6usize).prop_map(Op::SnapshotStep),
            1 => proptest::collection::vec((0..40u8, any::<u8>()), 0..30).prop_map(Op::Load),
            3 => (0..5usize).prop_map(Op::MergeStep),
        ]
    }

    type Model = Vec<(String, String)>;

    fn set(model: &mut Model, key: String, value: String) {
        match model.iter_mut().find(|p| p.0 == key) {
            Some(pair) => pair.1 = value,
            None => model.push((key, value)),
        }
    }

    /// The test's record of what the map should hold.
    #[derive(Default)]
    struct Expected {
        model: Model,
        /// A load whose check is not over: it applies when it ends.
        load: Option<Model>,
        /// What the snapshot under way must hold.
        snapshot: Option<Model>,
    }

    impl Expected {
        /// The merge has ended its check (or finished): the load is in.
        fn catch_up(&mut self, map: &KeyMap) {
            if map.merging() != Merging::Checking
                && let Some(load) = self.load.take()
            {
                for (key, value) in load {
                    set(&mut self.model, key, value);
                }
            }
        }
    }

    fn apply(map: &mut KeyMap, expected: &mut Expected, op: &Op) -> Result<(), TestCaseError> {
        let model = &mut expected.model;
        match op {
            Op::Set(k, v) => {
                map.set(&format!("k{k}"), &v.to_string());
                set(model, format!("k{k}"), v.to_string());
            }
            Op::Add(k, v) => {
                let absent = !model.iter().any(|p| p.0 == format!("k{k}"));
                prop_assert_eq!(map.add(&format!("k{k}"), &v.to_string()), absent);
                if absent {
                    model.push((format!("k{k}"), v.to_string()));
                }
            }
            Op::Remove(k) => {
                let at = model.iter().position(|p| p.0 == format!("k{k}"));
                prop_assert_eq!(map.remove(&format!("k{k}")), at.is_some());
                if let Some(at) = at {
                    model.swap_remove(at);
                }
            }
            Op::Clear => {
                prop_assert_eq!(map.clear(), model.len());
                model.clear();
            }
            Op::Rehash(n) => drop(map.rehash(*n)),
            Op::BeginSnapshot => {
                if map.begin_snapshot() {
                    prop_assert!(expected.snapshot.is_none());
                    expected.snapshot = Some(model.clone());
                }
            }
            Op::SnapshotStep(n) => {
                if let Some(snapshot) = map.snapshot_step(*n) {
                    let got: Model = snapshot
                        .iter()
                        .map(|e| (e.key().into_owned(), String::from_utf8_lossy(e.value_json()).into_owned()))
                        .collect();
                    prop_assert_eq!(Some(got), expected.snapshot.take());
                }
            }
            Op::Load(pairs) => {
                let mut load = KeyMap::new();
                let mut load_model = Model::new();
                for (k, v) in pairs {
                    load.set(&format!("k{k}"), &v.to_string());
                    set(&mut load_model, format!("k{k}"), v.to_string());
                }
                // A merge under way is finished first.
                if let Some(previous) = expected.load.take() {
                    for (key, value) in previous {
                        set(&mut expected.model, key, value);
                    }
                }
                expected.load = Some(load_model);
                map.begin_merge(load);
            }
            Op::MergeStep(n) => drop(map.merge_step(*n)),
        }
        expected.catch_up(map);
        // The memory cap's count: the map's own entries, and a load's not
        // moved in yet, each counted once, whatever the merge did.
        let table: usize = map.keys.table.iter().map(|slot| cost(&slot.entry)).sum();
        let loaded = map.merge.as_deref().map_or(0, merge::Merge::recount);
        prop_assert_eq!(map.bytes(), table + loaded);
        if map.merge.is_none() {
            prop_assert_eq!(map.bytes(), map.entries().map(cost).sum::<usize>());
        }
        prop_assert_eq!(map.len(), expected.model.len());
        prop_assert_eq!(pairs(map), expected.model.clone());
        for k in 0..40u8 {
            let want = expected.model.iter().find(|p| p.0 == format!("k{k}")).map(|p| p.1.as_bytes().to_vec());
            prop_assert_eq!(map.get(&format!("k{k}")).map(|e| e.value_json().to_vec()), want);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Whatever happens, the map reads as the model: its order
        /// (insertion, overwrite in place, swap-remove, clear), a load's
        /// effect from the end of its check on, and every snapshot equal to
        /// the model when it began.
        #[test]
        fn the_map_reads_as_its_model(ops in proptest::collection::vec(op(), 0..150)) {
            let mut map = KeyMap::new();
            let mut expected = Expected::default();
            for op in &ops {
                apply(&mut map, &mut expected, op)?;
            }
            apply(&mut map, &mut expected, &Op::MergeStep(usize::MAX))?;
            apply(&mut map, &mut expected, &Op::SnapshotStep(usize::MAX))?;
            prop_assert!(expected.snapshot.is_none() && expected.load.is_none());
        }
    }
}
