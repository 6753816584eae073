//! Unit tests of the array and list structures: the rules of §16 and the
//! deliberate differences of `docs/protocol.md`, lazy slots, the work
//! budget, byte accounting, and the list's tree invariants against a
//! plain `Vec`.

use super::*;

fn ints(array: &Array<i64>) -> Vec<i64> {
    (0..array.len()).map(|i| array.get(i).unwrap().copied().unwrap_or(0)).collect()
}

fn used_part<T: Element + Clone>(array: &Array<T>) -> Vec<T> {
    let run = array.range(0, None, u64::MAX).unwrap();
    let mut items = run.stored.to_vec();
    items.extend((0..run.empties).map(|_| T::default()));
    items
}

#[test]
fn new_slots_hold_the_empty_value_and_cost_nothing_until_written() {
    let array: Array<i64> = Array::new(5);
    assert_eq!(ints(&array), [0; 5]);
    assert_eq!(array.get(5).unwrap_err(), Refused::Bounds);
    assert!(array.stored().is_empty());
    assert_eq!(array.bytes(), 40, "the whole capacity counts at once");
    let huge: Array<Text> = Array::new(1 << 40);
    assert_eq!(huge.bytes(), 24 << 40);
    assert_eq!(huge.get((1 << 40) - 1).unwrap(), None);
    let objects: Array<Object> = Array::new(3);
    assert_eq!(objects.bytes(), 48);
}

#[test]
fn unsorted_set_appends_at_used_or_writes_any_slot() {
    let mut array: Array<i64> = Array::new(4);
    array.set(Some(3), 9).unwrap();
    assert_eq!((ints(&array), array.used()), (vec![0, 0, 0, 9], 0), "a positional SET leaves used alone");
    array.set(None, 1).unwrap();
    array.set(None, 2).unwrap();
    assert_eq!((ints(&array), array.used()), (vec![1, 2, 0, 9], 2));
    assert_eq!(array.set(Some(4), 5), Err(Refused::Bounds));
    array.set(None, 3).unwrap();
    array.set(None, 4).unwrap();
    assert_eq!(ints(&array), [1, 2, 3, 4], "an append overwrites what a positional SET left there");
    assert_eq!(array.set(None, 5), Err(Refused::Bounds), "full");
    assert_eq!(array.set(Some(0), 7), Ok(()), "positional writes still work when full");
}

#[test]
fn unsorted_set_range_counts_used_as_nemesisdb_but_never_past_len() {
    let mut array: Array<i64> = Array::new(10);
    array.set_range(Some(2), vec![1, 2, 3, 4, 5]).unwrap();
    assert_eq!(array.used(), 5);
    let run = array.range(2, Some(7), u64::MAX).unwrap();
    assert_eq!((run.stored, run.empties), (&[1, 2, 3][..], 0), "the original suite's GET_RNG [2,7]");
    array.set_range(Some(0), vec![7; 8]).unwrap();
    assert_eq!(array.used(), 10, "capped at len");
    array.set_range(Some(0), Vec::new()).unwrap();
    assert_eq!(array.used(), 10);
    assert_eq!(array.set_range(Some(10), Vec::new()), Err(Refused::Bounds), "pos = len, items [] too");
    assert_eq!(array.set_range(Some(8), vec![1, 2, 3]), Err(Refused::Bounds));

    let mut array: Array<i64> = Array::new(4);
    array.set_range(None, vec![1, 2]).unwrap();
    assert_eq!(array.set_range(None, vec![3, 4, 5]), Err(Refused::Bounds), "more than the free slots");
    assert_eq!((ints(&array), array.used()), (vec![1, 2, 0, 0], 2), "nothing stored");
    array.set_range(None, Vec::new()).unwrap();
    array.set_range(None, vec![3, 4]).unwrap();
    assert_eq!(array.set_range(None, Vec::new()), Err(Refused::Bounds), "full, items [] too");
}

#[test]
fn clear_moves_every_later_slot_down_and_empties_the_last() {
    let mut array: Array<Text> = Array::new(5);
    array.set_range(None, ["a", "b", "c", "d", "e"].map(Text::new).to_vec()).unwrap();
    let removed = array.clear(1, Some(3)).unwrap();
    assert_eq!(removed, ["b", "c"].map(Text::new));
    let all: Vec<&str> = (0..5).map(|i| array.get(i).unwrap().map_or("", Text::as_str)).collect();
    assert_eq!(all, ["a", "d", "e", "", ""], "no cleared item is read back");
    assert_eq!(array.used(), 3);

    // Unused slots move too.
    let mut array: Array<i64> = Array::new(6);
    array.set_range(None, vec![1, 2, 3]).unwrap();
    array.set(Some(5), 9).unwrap();
    array.clear(0, Some(2)).unwrap();
    assert_eq!((ints(&array), array.used()), (vec![3, 0, 0, 9, 0, 0], 1));
    assert_eq!(array.clear(1, None).unwrap(), Vec::<i64>::new(), "a start at or past used clears nothing");
    assert_eq!(ints(&array), [3, 0, 0, 9, 0, 0]);
    assert_eq!(array.clear(6, None), Err(Refused::Bounds));
    array.clear(0, None).unwrap();
    assert_eq!((ints(&array), array.used()), (vec![0, 0, 9, 0, 0, 0], 0));
}

#[test]
fn clear_of_used_slots_that_were_never_stored() {
    // SET_RNG with pos counts slots as used that hold the empty value.
    let mut array: Array<i64> = Array::new(10);
    array.set_range(Some(0), vec![1, 2]).unwrap();
    array.set_range(Some(0), vec![3, 4]).unwrap();
    assert_eq!((array.used(), array.stored().len()), (4, 2));
    array.clear(1, Some(4)).unwrap();
    assert_eq!((ints(&array), array.used()), (vec![3, 0, 0, 0, 0, 0, 0, 0, 0, 0], 1));
}

#[test]
fn get_range_reads_the_used_part_cut_by_a_count() {
    let mut array: Array<i64> = Array::new(10);
    array.set_range(None, (0..6).collect()).unwrap();
    let read =
        |a: &Array<i64>, start, stop, max| a.range(start, stop, max).map(|run| (run.stored.to_vec(), run.empties));
    assert_eq!(read(&array, 1, Some(4), 100), Ok((vec![1, 2, 3], 0)));
    assert_eq!(read(&array, 4, None, 100), Ok((vec![4, 5], 0)));
    assert_eq!(read(&array, 2, Some(100), 100), Ok((vec![2, 3, 4, 5], 0)), "a stop past the end is cut");
    assert_eq!(read(&array, 3, Some(3), 100), Ok((vec![], 0)));
    assert_eq!(read(&array, 6, None, 100), Ok((vec![], 0)), "start = used");
    assert_eq!(read(&array, 8, None, 100), Ok((vec![], 0)), "used < start < len");
    assert_eq!(read(&array, 10, None, 100), Err(Refused::Bounds));
    assert_eq!(read(&array, 1, Some(5), 3), Ok((vec![1, 2, 3], 0)), "maxResponseSize is a count");
    assert_eq!(read(&array, 4, None, 3), Ok((vec![4, 5], 0)), "from any start");
    assert_eq!(read(&array, 0, None, 0), Ok((vec![], 0)));
}

#[test]
fn sorted_arrays_insert_and_merge_in_order_with_duplicates() {
    let mut array: Array<i64> = Array::new(10);
    for v in [20, 15, 30] {
        array.insert_sorted(v).unwrap();
    }
    array.merge_sorted(vec![80, 5, 26, 15]).unwrap();
    assert_eq!(used_part(&array), [5, 15, 15, 20, 26, 30, 80]);
    array.merge_sorted(Vec::new()).unwrap();
    assert_eq!(array.used(), 7, "items [] changes nothing on a non-empty array");
    // New items all below the stored largest: the merge NemesisDB gets wrong.
    array.merge_sorted(vec![-1, 16, 0]).unwrap();
    assert_eq!(used_part(&array), [-1, 0, 5, 15, 15, 16, 20, 26, 30, 80]);
    assert_eq!(array.merge_sorted(vec![1]), Err(Refused::Bounds), "full");
    assert_eq!(array.insert_sorted(1), Err(Refused::Bounds));

    let mut strings: Array<Text> = Array::new(6);
    strings.merge_sorted(["a", "b", "c"].map(Text::new).to_vec()).unwrap();
    strings.merge_sorted(["bb", "0"].map(Text::new).to_vec()).unwrap();
    strings.insert_sorted(Text::new("é")).unwrap();
    let got: Vec<String> = used_part(&strings).iter().map(|t| t.as_str().to_owned()).collect();
    assert_eq!(got, ["0", "a", "b", "bb", "c", "é"]);
    assert_eq!(strings.merge_sorted(vec![Text::new("x")]), Err(Refused::Bounds));
    assert_eq!(strings.used(), 6, "nothing stored");
}

#[test]
fn sorted_clear_keeps_order_and_later_inserts_stay_in_order() {
    let mut array: Array<i64> = Array::new(5);
    array.merge_sorted(vec![5, 1, 4, 2, 3]).unwrap();
    array.clear(1, Some(3)).unwrap();
    assert_eq!(used_part(&array), [1, 4, 5]);
    assert_eq!(ints(&array), [1, 4, 5, 0, 0]);
    array.insert_sorted(3).unwrap();
    array.merge_sorted(vec![0]).unwrap();
    assert_eq!(used_part(&array), [0, 1, 3, 4, 5]);
}

#[test]
fn min_and_max_read_only_the_used_part() {
    let mut array: Array<i64> = Array::new(5);
    assert_eq!(array.smallest(0), Err(Refused::Bounds), "empty, whatever n");
    assert_eq!(array.largest(3), Err(Refused::Bounds));
    array.merge_sorted(vec![3, 1, 2]).unwrap();
    assert_eq!(array.smallest(2), Ok(&[1, 2][..]));
    assert_eq!(array.smallest(0), Ok(&[][..]));
    assert_eq!(array.smallest(10), Ok(&[1, 2, 3][..]));
    assert_eq!(array.largest(1), Ok(&[3][..]), "not a free slot's 0");
    assert_eq!(array.largest(3), Ok(&[1, 2, 3][..]), "ascending here; the reply reverses it");
}

#[test]
fn intersection_is_the_multiset_one() {
    let mut a: Array<i64> = Array::new(10);
    let mut b: Array<i64> = Array::new(10);
    a.merge_sorted(vec![1, 1, 1, 2, 3, 5]).unwrap();
    b.merge_sorted(vec![0, 1, 1, 2, 2, 5, 9]).unwrap();
    let common: Vec<i64> = intersect(&a, &b).unwrap().into_iter().copied().collect();
    assert_eq!(common, [1, 1, 2, 5]);
    let reversed: Vec<i64> = intersect(&b, &a).unwrap().into_iter().copied().collect();
    assert_eq!(reversed, common);
}

#[test]
fn swap_reaches_any_slot_and_leaves_used_alone() {
    let mut array: Array<i64> = Array::new(5);
    array.set_range(None, vec![1, 2]).unwrap();
    array.swap(0, 4).unwrap();
    assert_eq!((ints(&array), array.used()), (vec![0, 2, 0, 0, 1], 2));
    array.swap(3, 3).unwrap();
    array.swap(2, 3).unwrap();
    assert_eq!(ints(&array), [0, 2, 0, 0, 1]);
    assert_eq!(array.swap(0, 5), Err(Refused::Bounds));
}

#[test]
fn work_past_the_budget_is_refused_before_anything_changes() {
    // Moves: as many i64 slots as the budget has units (1 unit each).
    let slots = MAX_WORK_PER_COMMAND / <i64 as Element>::MOVE_COST;
    let mut array: Array<i64> = Array::new(u64::MAX);
    assert_eq!(array.set(Some(slots + 1), 1), Err(Refused::OverBudget));
    assert!(array.stored().is_empty());
    array.set(Some(slots - 1), 1).unwrap();
    assert_eq!(array.stored().len() as u64, slots);
    assert_eq!(array.swap(0, 2 * slots + 1), Err(Refused::OverBudget));
    array.set_range(Some(0), vec![5; 3]).unwrap();
    assert_eq!(array.used(), 3);
    // Everything after the start moves: at the budget, not past it.
    array.clear(0, Some(1)).unwrap();
    array.set(Some(slots), 1).unwrap();
    assert_eq!(array.clear(0, Some(1)), Err(Refused::OverBudget));
    assert_eq!(array.used(), 2);
    let mut sorted: Array<i64> = Array::new(u64::MAX);
    sorted.merge_sorted((0..slots as i64 / 2).collect()).unwrap();
    sorted.merge_sorted((slots as i64 / 2..slots as i64 + 2).collect()).unwrap();
    assert_eq!(sorted.merge_sorted(vec![-1]), Err(Refused::OverBudget), "every item would move");
    assert_eq!(sorted.insert_sorted(-1), Err(Refused::OverBudget));
    sorted.merge_sorted(vec![i64::MAX]).unwrap();
    assert_eq!(sorted.used(), slots + 3);
}

#[test]
fn replies_past_the_budget_are_refused() {
    // Integers cost 12 units each in a reply.
    let fit = MAX_WORK_PER_COMMAND / 12;
    let mut ints: Array<i64> = Array::new(u64::MAX);
    ints.merge_sorted((0..fit as i64 + 1).collect()).unwrap();
    assert_eq!(ints.range(0, None, u64::MAX).err(), Some(Refused::OverBudget));
    assert_eq!(ints.range(1, None, u64::MAX).map(|run| run.stored.len() as u64).ok(), Some(fit));
    assert_eq!(ints.smallest(fit + 1).err(), Some(Refused::OverBudget));
    assert_eq!(ints.largest(fit).map(<[i64]>::len).ok(), Some(fit as usize));
    assert_eq!(ints.range(0, None, fit).map(|run| run.stored.len() as u64).ok(), Some(fit), "cut first");
    // Strings cost 22 units plus a quarter of their length in MIN and MAX:
    // 400 bytes, 122. GET_RNG is priced by count (maxResponseSize cuts it).
    let long = "x".repeat(400);
    let fit = MAX_WORK_PER_COMMAND / 122;
    let mut texts: Array<Text> = Array::new(u64::MAX);
    texts.merge_sorted((0..=fit).map(|_| Text::new(&long)).collect()).unwrap();
    assert_eq!(texts.smallest(fit + 1).err(), Some(Refused::OverBudget));
    assert_eq!(texts.smallest(fit).map(<[Text]>::len).ok(), Some(fit as usize));
    assert!(texts.range(0, None, u64::MAX).is_ok());
    // Two sorted arrays of a million: comparing them fits; a tenth of
    // them in common fits in the reply too, all of them does not.
    let mut a: Array<i64> = Array::new(1 << 20);
    let mut b: Array<i64> = Array::new(1 << 20);
    let mut c: Array<i64> = Array::new(1 << 20);
    a.merge_sorted((0..1_000_000).collect()).unwrap();
    b.merge_sorted((900_000..1_900_000).collect()).unwrap();
    c.merge_sorted((0..1_000_000).collect()).unwrap();
    assert_eq!(intersect(&a, &b).map(|common| common.len()).ok(), Some(100_000));
    assert_eq!(intersect(&a, &c).err(), Some(Refused::OverBudget));
}

/// An `INTERSECT` of arrays that interleave is charged for each turn
/// from one to the other as it goes: the same number of steps in runs
/// fits, interleaved item by item it is refused part of the way.
#[test]
fn intersect_charges_the_turns_between_the_arrays() {
    let steps = MAX_WORK_PER_COMMAND / <i64 as Element>::MOVE_COST / 2;
    let (mut runs_a, mut runs_b) = (Array::<i64>::new(steps), Array::<i64>::new(steps));
    runs_a.merge_sorted((0..steps as i64 / 2).map(|i| 2 * i).collect()).unwrap();
    runs_b.merge_sorted((steps as i64..steps as i64 * 3 / 2).map(|i| 2 * i + 1).collect()).unwrap();
    assert_eq!(intersect(&runs_a, &runs_b).map(|common| common.len()).ok(), Some(0));
    let (mut even, mut odd) = (Array::<i64>::new(steps), Array::<i64>::new(steps));
    even.merge_sorted((0..steps as i64 / 2).map(|i| 2 * i).collect()).unwrap();
    odd.merge_sorted((0..steps as i64 / 2).map(|i| 2 * i + 1).collect()).unwrap();
    assert_eq!(intersect(&even, &odd).err(), Some(Refused::OverBudget));
    // Few enough turns fit: 2 units each step and turn together.
    let fit = MAX_WORK_PER_COMMAND / (<i64 as Element>::MOVE_COST + <i64 as Element>::SWITCH_COST) / 2;
    let (mut even, mut odd) = (Array::<i64>::new(fit), Array::<i64>::new(fit));
    even.merge_sorted((0..fit as i64).map(|i| 2 * i).collect()).unwrap();
    odd.merge_sorted((0..fit as i64).map(|i| 2 * i + 1).collect()).unwrap();
    assert_eq!(intersect(&even, &odd).map(|common| common.len()).ok(), Some(0));
}

/// A sorted `SET_RNG` is priced for its sort unless the items came in
/// order, and for finding each new item's place among the stored ones.
#[test]
fn sorted_merges_are_priced_for_sorting_and_searching() {
    let n = 250_000u64;
    assert!(merge_work::<i64>(n, 0, true) < MAX_WORK_PER_COMMAND);
    assert!(merge_work::<i64>(n, 0, false) > MAX_WORK_PER_COMMAND, "{}", merge_work::<i64>(n, 0, false));
    let mut array: Array<i64> = Array::new(2 * n);
    let backwards: Vec<i64> = (0..n as i64).rev().collect();
    assert_eq!(array.merge_sorted(backwards.clone()), Err(Refused::OverBudget));
    assert_eq!(array.used(), 0);
    let mut ascending = backwards;
    ascending.reverse();
    array.merge_sorted(ascending).unwrap();
    assert_eq!(array.used(), n);
    // Appending above every stored item searches nothing; placing items
    // among them is priced by the gaps between their places.
    assert_eq!(merge_work::<i64>(10, 0, true), 10);
    assert_eq!(merge_work::<i64>(1, 1_000_000, true), 1_000_001 + 43 * <i64 as Element>::SEARCH_COST);
    assert_eq!(merge_work::<i64>(1_000, 1_000_000, true), 1_001_000 + 1_000 * 23 * <i64 as Element>::SEARCH_COST);
    assert_eq!(merge_work::<Text>(0, 5, false), 20);
}

#[test]
fn heap_bytes_follow_writes_and_removals() {
    let mut array: Array<Object> = Array::new(4);
    let base = array.bytes();
    let long = "x".repeat(100);
    array.set(None, Some(format!(r#"{{"a":"{long}"}}"#).into())).unwrap();
    assert_eq!(array.bytes(), base + allocation_bytes(108));
    array.set(Some(0), Some("{}".into())).unwrap();
    assert_eq!(array.bytes(), base + 32);
    array.clear(0, None).unwrap();
    assert_eq!(array.bytes(), base);

    let mut texts: Array<Text> = Array::new(4);
    let base = texts.bytes();
    texts.set_range(None, vec![Text::new("short"), Text::new(&long)]).unwrap();
    assert_eq!(texts.bytes(), base + allocation_bytes(100), "short strings are inline");
    texts.swap(0, 1).unwrap();
    texts.clear(0, Some(1)).unwrap();
    assert_eq!(texts.bytes(), base);
}

#[test]
fn capacity_follows_nemesisdb_including_max_capacity_zero() {
    let limits = Limits { max_capacity: 3, ..Limits::default() };
    assert_eq!([0, 1, 3, 4, u64::MAX].map(|n| limits.allows_capacity(n)), [false, true, true, false, false]);
    let zero = Limits { max_capacity: 0, ..Limits::default() };
    assert_eq!([0, 1].map(|n| zero.allows_capacity(n)), [true, false]);
    let array: Array<i64> = Array::new(0);
    assert_eq!(array.get(0), Err(Refused::Bounds));
    let mut array: Array<i64> = Array::new(0);
    assert_eq!(array.set(None, 1), Err(Refused::Bounds));
}

#[test]
fn allocation_bytes_model_malloc() {
    assert_eq!([0, 1, 24, 25, 40, 41, 100].map(allocation_bytes), [0, 32, 32, 48, 48, 64, 112]);
}

/// A deterministic xorshift for the list tests.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

fn item(i: usize) -> Json {
    format!(r#"{{"i":{i}}}"#).into()
}

fn contents(list: &List) -> Vec<Json> {
    list.range(0, usize::MAX).into_iter().cloned().collect()
}

#[test]
fn list_matches_a_vec_under_random_positional_operations() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut list = List::new(7);
    let mut model: Vec<Json> = Vec::new();
    let mut next = 0;
    for round in 0..4_000 {
        let len = model.len();
        match rng.below(6) {
            0 | 1 => {
                let pos = rng.below(len + 2);
                let n = if rng.below(8) == 0 { rng.below(3 * CHUNK) } else { 1 + rng.below(3) };
                let items: Vec<Json> = (0..n)
                    .map(|_| {
                        next += 1;
                        item(next)
                    })
                    .collect();
                let at = pos.min(len);
                model.splice(at..at, items.iter().cloned());
                list.insert(pos, items);
            }
            2 => {
                let start = rng.below(len + 1);
                let span = if rng.below(4) == 0 { 2 * CHUNK } else { 3 };
                let end = start + rng.below(span);
                let removed = list.take(start, end);
                let end = end.min(len);
                assert_eq!(removed.len(), end.saturating_sub(start));
                if start < end {
                    model.drain(start..end);
                }
            }
            3 if len > 0 => {
                let pos = rng.below(len);
                let n = 1 + rng.below((len - pos).min(5));
                let items: Vec<Json> = (0..n)
                    .map(|_| {
                        next += 1;
                        item(next)
                    })
                    .collect();
                let old = list.overwrite(pos, items.clone());
                assert_eq!(old.len(), n);
                model.splice(pos..pos + n, items);
            }
            4 if len > 0 => {
                // A move within the list, as a splice does it.
                let start = rng.below(len);
                let end = (start + 1 + rng.below(2 * CHUNK)).min(len);
                let piece = list.take(start, end);
                let moved: Vec<Json> = model.drain(start..end).collect();
                let target = rng.below(model.len() + 1);
                list.put(target, piece);
                model.splice(target..target, moved);
            }
            _ => {
                let pos = rng.below(len + 1);
                assert_eq!(list.get(pos), model.get(pos), "round {round}");
            }
        }
        assert_eq!(list.len(), model.len(), "round {round}");
        if round % 97 == 0 {
            list.check();
            assert_eq!(contents(&list), model, "round {round}");
            let start = rng.below(model.len() + 1);
            let got: Vec<Json> = list.range(start, start + 10).into_iter().cloned().collect();
            assert_eq!(got, model[start..(start + 10).min(model.len())]);
        }
    }
    list.check();
    assert_eq!(contents(&list), model);
}

#[test]
fn list_pieces_move_between_lists_whole() {
    let mut a = List::new(1);
    let mut b = List::new(2);
    a.insert(0, (0..10_000).map(item).collect());
    b.insert(0, (0..3).map(|i| item(100_000 + i)).collect());
    let bytes = a.bytes() + b.bytes();
    let piece = a.take(100, 9_100);
    assert_eq!((piece.len(), a.len()), (9_000, 1_000));
    b.put(1, piece);
    a.check();
    b.check();
    assert_eq!(b.len(), 9_003);
    assert_eq!(b.get(0), Some(&item(100_000)));
    assert_eq!(b.get(1), Some(&item(100)));
    assert_eq!(b.get(9_000), Some(&item(9_099)));
    assert_eq!(b.get(9_001), Some(&item(100_001)));
    assert_eq!(a.get(100), Some(&item(9_100)));
    let moved = (a.bytes() + b.bytes()) as i64 - bytes as i64;
    assert!(moved.abs() < 4 * 1024, "bytes move with the items ({moved})");
    let all = a.take_all();
    assert_eq!((all.len(), a.len(), a.bytes()), (1_000, 0, 0));
}

#[test]
fn list_chunks_stay_filled_under_single_inserts_and_removals() {
    let mut rng = Rng(99);
    let mut list = List::new(3);
    for i in 0..50_000 {
        let pos = rng.below(list.len() + 1);
        list.insert(pos, vec![item(i)]);
    }
    list.check();
    let half_full = list.len().div_ceil(CHUNK / 2);
    assert!(list.chunks() <= half_full + 1, "{} chunks for {} items", list.chunks(), list.len());
    for _ in 0..25_000 {
        let pos = rng.below(list.len());
        drop(list.take(pos, pos + 1));
    }
    list.check();
    assert_eq!(list.len(), 25_000);
    // Removals never add chunks.
    assert!(list.chunks() <= half_full + 1, "{} chunks for {} items", list.chunks(), list.len());
}

#[test]
fn merges_of_many_items_match_a_sort() {
    let mut rng = Rng(0xfeed);
    for (stored, new) in [(0, 50), (1_000, 1), (1_000, 3), (1_000, 1_000), (5, 2_000), (3_000, 700)] {
        let mut array: Array<i64> = Array::new(10_000);
        let mut model: Vec<i64> = (0..stored).map(|_| rng.below(500) as i64 - 250).collect();
        array.merge_sorted(model.clone()).unwrap();
        let items: Vec<i64> = (0..new).map(|_| rng.below(700) as i64 - 350).collect();
        array.merge_sorted(items.clone()).unwrap();
        model.extend(items);
        model.sort_unstable();
        assert_eq!(used_part(&array), model, "{stored} + {new}");
        let mut texts: Array<Text> = Array::new(10_000);
        let mut model: Vec<String> = model.iter().map(|v| format!("t{v:+}")).collect();
        let (first, second) = model.split_at(stored.min(model.len()));
        texts.merge_sorted(second.iter().map(|s| Text::new(s)).collect()).unwrap();
        texts.merge_sorted(first.iter().map(|s| Text::new(s)).collect()).unwrap();
        model.sort_unstable();
        let got: Vec<String> = used_part(&texts).iter().map(|t| t.as_str().to_owned()).collect();
        assert_eq!(got, model, "{stored} + {new} strings");
    }
}
