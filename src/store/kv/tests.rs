//! Key map tests: entries as JSON members, order semantics, and snapshots
//! (whole, and incremental against a model while the map changes).

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
fn clearing_finishes_the_snapshot_first() {
    let mut map = map_of(&["a", "b", "c"]);
    map.begin_snapshot();
    map.snapshot_step(1);
    map.clear();
    map.set("z", "9");
    assert_eq!(members(&map.snapshot_step(0).unwrap()), members(&map_of(&["a", "b", "c"]).snapshot()));
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
            Op::Set(k, v) => map.set(&format!("k{k}"), &v.to_string()),
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
