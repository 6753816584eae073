//! Table tests: positions and lookups against a model (a `Vec`) under random
//! pushes, swap-removes, replaces, unlinks and rehash steps; and the
//! incremental property itself: no operation moves more than
//! [`REHASH_BUCKETS_PER_OP`] old buckets, no resize completes in one
//! operation, and no chunk is ever reallocated.

use proptest::prelude::*;

use super::*;

/// A slot holding a key, whose hash is chosen by the test.
#[derive(Clone, Debug, PartialEq, Eq)]
struct T {
    key: u64,
    hash: u32,
    next: u32,
}

impl Slot for T {
    fn hash(&self) -> u32 {
        self.hash
    }
    fn next(&self) -> u32 {
        self.next
    }
    fn set_next(&mut self, next: u32) {
        self.next = next;
    }
}

/// A well-spread hash of `key`.
fn spread(key: u64) -> u32 {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32
}

fn slot(key: u64, hash: u32) -> T {
    T { key, hash, next: NONE }
}

fn find(table: &Table<T>, key: u64, hash: u32) -> Option<usize> {
    table.find(hash, |s| s.key == key)
}

/// Every slot is found at its position, and the positions are the model's.
fn check(table: &Table<T>, model: &[(u64, u32)]) {
    assert_eq!(table.len(), model.len());
    let keys: Vec<u64> = table.iter().map(|s| s.key).collect();
    assert_eq!(keys, model.iter().map(|m| m.0).collect::<Vec<_>>());
    for (i, &(key, hash)) in model.iter().enumerate() {
        assert_eq!(find(table, key, hash), Some(i), "key {key}");
    }
    let sliced: Vec<u64> = table.slices(0, usize::MAX).flatten().map(|s| s.key).collect();
    assert_eq!(sliced, keys);
}

/// The buckets of the new index filled so far, in old buckets moved.
fn old_buckets_moved(table: &Table<T>) -> usize {
    match table.old {
        None => 0,
        Some(_) if table.bits > table.old_bits => table.heads.len() / 2,
        Some(_) => table.heads.len() * 2,
    }
}

#[test]
fn grows_a_few_buckets_per_push_and_never_reallocates_a_chunk() {
    let mut table = Table::default();
    let mut resizes = 0;
    let mut ops_in_resize = 0;
    let mut longest_resize = 0;
    for key in 0..200_000u64 {
        let before = (table.is_resizing(), old_buckets_moved(&table), table.bits);
        table.push(slot(key, spread(key)));
        let after = old_buckets_moved(&table);
        if table.is_resizing() {
            ops_in_resize += 1;
            let moved = if before.0 && before.2 == table.bits { after - before.1 } else { after };
            assert!(moved <= REHASH_BUCKETS_PER_OP, "push {key} moved {moved} old buckets");
        } else if before.0 {
            // The resize just ended: this push moved only what was left.
            assert!((1 << table.old_bits) - before.1 <= REHASH_BUCKETS_PER_OP);
            longest_resize = longest_resize.max(ops_in_resize + 1);
            ops_in_resize = 0;
            resizes += 1;
        }
        assert!(table.len() <= 1 << table.bits, "at most one slot per bucket of the new index");
        assert!(table.first.capacity() <= CHUNK);
        assert!(table.rest.iter().all(|chunk| chunk.capacity() == CHUNK));
    }
    // 4 buckets to 2^18: each doubling to 2^k moved 2^(k-1) old buckets,
    // 4 per push, so the last took 2^15 pushes.
    assert_eq!(table.bits, 18);
    assert!(resizes >= 15, "{resizes} resizes");
    assert!(longest_resize >= (1 << 17) / REHASH_BUCKETS_PER_OP, "{longest_resize}");
    let model: Vec<(u64, u32)> = (0..200_000).map(|k| (k, spread(k))).collect();
    check(&table, &model);
}

#[test]
fn shrinks_in_steps_as_keys_go_and_grows_again() {
    let mut table = Table::default();
    let mut model: Vec<(u64, u32)> = Vec::new();
    for key in 0..50_000u64 {
        table.push(slot(key, spread(key)));
        model.push((key, spread(key)));
    }
    while table.rehash(1 << 20) {}
    let grown = table.bits;
    while model.len() > 10 {
        let before = (table.is_resizing(), old_buckets_moved(&table), table.bits);
        let i = model.len() / 3;
        assert_eq!(table.swap_remove(i).map(|s| s.key), Some(model.swap_remove(i).0));
        if table.is_resizing() && before.0 && before.2 == table.bits {
            assert!(old_buckets_moved(&table) - before.1 <= REHASH_BUCKETS_PER_OP);
        }
    }
    check(&table, &model);
    while table.rehash(1 << 20) {}
    assert!(table.bits < grown && table.bits >= MIN_BITS, "{} -> {}", grown, table.bits);
    assert!(table.rest.len() <= 1, "emptied chunks are given back but one");
    for key in 100_000..120_000u64 {
        table.push(slot(key, spread(key)));
        model.push((key, spread(key)));
    }
    check(&table, &model);
}

#[test]
fn colliding_hashes_share_a_chain_through_resizes() {
    let mut table = Table::default();
    let mut model = Vec::new();
    for key in 0..3_000u64 {
        // Only 8 distinct hashes: chains of hundreds.
        let hash = spread(key % 8);
        table.push(slot(key, hash));
        model.push((key, hash));
    }
    check(&table, &model);
    for i in (0..3_000).step_by(7).rev() {
        table.swap_remove(i);
        model.swap_remove(i);
    }
    check(&table, &model);
}

#[test]
fn unlinked_slots_stay_but_are_not_found_and_replace_relinks() {
    let mut table = Table::default();
    for key in 0..10u64 {
        table.push(slot(key, spread(key)));
    }
    table.unlink(3);
    assert_eq!(find(&table, 3, spread(3)), None);
    assert_eq!(table.get(3).map(|s| s.key), Some(3));
    table.unlink(3);
    assert_eq!(table.replace(5, slot(50, spread(50))).map(|s| s.key), Ok(5));
    assert_eq!(find(&table, 5, spread(5)), None);
    assert_eq!(find(&table, 50, spread(50)), Some(5));
    assert!(table.replace(10, slot(60, 0)).is_err());
    assert!(table.swap_remove(10).is_none());
}

#[derive(Debug, Clone)]
enum Op {
    Push(u64),
    Remove(usize),
    Replace(usize, u64),
    Rehash(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..400u64).prop_map(Op::Push),
        4 => any::<usize>().prop_map(Op::Remove),
        1 => (any::<usize>(), 1_000..1_400u64).prop_map(|(i, k)| Op::Replace(i, k)),
        1 => (0..8usize).prop_map(Op::Rehash),
    ]
}

proptest! {
    /// Whatever the operations and however far a resize has come, the table
    /// holds exactly the model's slots at the model's positions, and finds
    /// each one. Hashes come from a small set (`hash_bits`), so chains are
    /// long and resizes split and merge them.
    #[test]
    fn positions_and_lookups_match_a_vec(ops in proptest::collection::vec(op(), 0..600), hash_bits in 1..32u32) {
        let hash = |key: u64| spread(key) >> (32 - hash_bits);
        let mut table = Table::default();
        let mut model: Vec<(u64, u32)> = Vec::new();
        for op in ops {
            match op {
                Op::Push(key) if !model.iter().any(|m| m.0 == key) => {
                    table.push(slot(key, hash(key)));
                    model.push((key, hash(key)));
                }
                Op::Push(_) => {}
                Op::Remove(i) if !model.is_empty() => {
                    let i = i % model.len();
                    prop_assert_eq!(table.swap_remove(i).map(|s| s.key), Some(model.swap_remove(i).0));
                }
                Op::Remove(_) => {}
                Op::Replace(i, key) if !model.is_empty() && !model.iter().any(|m| m.0 == key) => {
                    let i = i % model.len();
                    prop_assert_eq!(table.replace(i, slot(key, hash(key))).map(|s| s.key), Ok(model[i].0));
                    model[i] = (key, hash(key));
                }
                Op::Replace(..) => {}
                Op::Rehash(n) => drop(table.rehash(n)),
            }
            prop_assert_eq!(table.len(), model.len());
        }
        check(&table, &model);
        for key in 0..400 {
            prop_assert_eq!(find(&table, key, hash(key)).is_some(), model.iter().any(|m| m.0 == key));
        }
    }
}
