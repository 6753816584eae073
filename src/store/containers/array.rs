//! [`Array`]: one fixed-capacity NemesisDB array, of any item type.
//!
//! Owns: the slots of one array, its `used` count and what its items hold
//! on the heap. Knows nothing of names, replies or requests.
//!
//! An array has `len` slots, fixed at creation, each holding the type's
//! empty value until written. Slots are materialised lazily: `slots` holds
//! the prefix that has been written (or moved) into, and every slot at or
//! after `slots.len()` holds the empty value without being stored. The
//! capacity is counted in full from creation on ([`Array::bytes`]), so a
//! memory cap sees the array's worst case before anything is allocated,
//! while a large, mostly empty array costs only what was written.
//!
//! Invariants:
//! - `used <= len` and `slots.len() <= len`; `slots.capacity() <= len`.
//! - Sorted arrays: `slots.len() == used` and `slots` is ascending, so
//!   every slot past `used` is empty (CLEAR, SET and SET_RNG keep it so).
//! - `heap` is the sum of [`Element::heap_bytes`] over `slots`.
//!
//! Bounded work: a command whose work would pass [`MAX_WORK_PER_COMMAND`]
//! (slots materialised, moved or compared, at [`Element::MOVE_COST`] each;
//! a sorted `SET_RNG`'s sort and search too, [`merge_work`]; items written
//! into the reply, at [`Element::write_cost`] each; `GET_RNG`, which
//! `maxResponseSize` cuts, at [`Element::WRITE_COST_TYPICAL`]) is refused
//! with [`Refused::OverBudget`] before it changes anything or writes a
//! byte. `INTERSECT` checks its steps before the merge, its steps and
//! turns between the arrays every few thousand steps of it, and its reply
//! after it, so it may do up to the budget's worth of comparisons and
//! still refuse.

use super::{Element, MAX_WORK_PER_COMMAND};

/// Why an array operation did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// A capacity, position or range outside the array, or the array is
    /// full (st 161).
    Bounds,
    /// It would cost more than [`MAX_WORK_PER_COMMAND`] (st 202).
    OverBudget,
}

/// The result of an array operation that may be refused.
pub type Outcome<T> = Result<T, Refused>;

/// Refuses work over the per-command budget.
fn within_budget(work: u64) -> Outcome<()> {
    if work > MAX_WORK_PER_COMMAND { Err(Refused::OverBudget) } else { Ok(()) }
}

/// The work of materialising, moving or comparing `slots` slots.
fn moving<T: Element>(slots: u64) -> u64 {
    slots.saturating_mul(T::MOVE_COST)
}

/// The work of writing `items` into a reply, once their number is known
/// to be within budget.
fn writing<'a, T: Element + 'a>(items: impl Iterator<Item = &'a T>) -> u64 {
    items.map(Element::write_cost).fold(0, u64::saturating_add)
}

/// `⌈log₂(n + 1)⌉`: the levels of a sort of `n` items, or the steps of a
/// binary search over them.
fn levels(n: u64) -> u64 {
    u64::from(u64::BITS - n.leading_zeros())
}

/// Where `item` goes in the ascending `slots` (after its equals), found
/// from the end: probes 1, 2, 4, … slots back, then a binary search
/// between the last two probes, so about `2 · log₂(gap)` comparisons for
/// an item that goes `gap` slots before the end, all near it.
fn gallop_back<T: Ord>(slots: &[T], item: &T) -> usize {
    let n = slots.len();
    let mut bound = 1;
    // Every slot from `n - bound / 2` on is above `item`.
    while bound <= n && slots[n - bound] > *item {
        bound *= 2;
    }
    let low = n.saturating_sub(bound);
    let high = n - bound / 2;
    low + slots[low..high].partition_point(|x| x <= item)
}

/// The work of a sorted `SET_RNG` of `n` items (`in_order`: already
/// ascending) that moves `moved` stored items: the sort, unless in order;
/// finding each new item's place by galloping among the stored items to
/// move (the gaps between those places add up to `moved` at most, so at
/// most `n · (2 · ⌈log₂(moved / n + 1)⌉ + 3)` comparisons); and the moves.
pub fn merge_work<T: Element>(n: u64, moved: u64, in_order: bool) -> u64 {
    let sorting = if in_order { 0 } else { n.saturating_mul(levels(n)).saturating_mul(T::SORT_COST) };
    let searching = match n {
        0 => 0,
        _ if moved == 0 => 0,
        _ => n.saturating_mul(2 * levels(moved / n) + 3).saturating_mul(T::SEARCH_COST),
    };
    moving::<T>(n.saturating_add(moved)).saturating_add(sorting).saturating_add(searching)
}

/// How many merge steps `intersect` takes between looks at its meter: the
/// most it can run past the budget (a few microseconds).
const METER_STEPS: usize = 4096;

/// Refuses early a reply of `n` items that cannot fit the budget whatever
/// their size, so that pricing them exactly stays within budget too.
fn countable<T: Element>(n: u64) -> Outcome<()> {
    within_budget(n.saturating_mul(T::WRITE_COST_MIN))
}

/// Roughly how many drops and frees freeing `items` takes.
pub fn drop_work<T>(items: &[T]) -> usize {
    if std::mem::needs_drop::<T>() { items.len() } else { 1 }
}

/// A position the caller has checked against `slots.len()` (and so
/// `usize`-sized), as an index.
fn index(pos: u64) -> usize {
    usize::try_from(pos).unwrap_or(usize::MAX)
}

/// The items a read returns: a run of stored slots, then `empties` slots
/// holding the empty value.
pub struct Run<'a, T> {
    /// The stored slots, in order.
    pub stored: &'a [T],
    /// How many empty values follow them.
    pub empties: u64,
}

/// One fixed-capacity array.
#[derive(Debug, Clone)]
pub struct Array<T> {
    len: u64,
    used: u64,
    slots: Vec<T>,
    heap: u64,
}

impl<T: Element> Array<T> {
    /// An array of `len` empty slots; nothing is allocated yet.
    pub fn new(len: u64) -> Array<T> {
        Array { len, used: 0, slots: Vec::new(), heap: 0 }
    }

    /// The bytes this array counts toward memory: its whole capacity of
    /// slots, whether materialised or not, plus what its items hold on
    /// the heap.
    pub fn bytes(&self) -> u64 {
        Array::<T>::capacity_bytes(self.len).saturating_add(self.heap)
    }

    /// What an array of capacity `len` counts toward memory when created:
    /// all of its slots.
    pub fn capacity_bytes(len: u64) -> u64 {
        len.saturating_mul(std::mem::size_of::<T>() as u64)
    }

    /// Roughly how many drops and frees freeing it takes: one per stored
    /// slot for types with drop glue (strings, objects), else one (for
    /// deciding where to free it: `store/reclaim.rs`).
    pub fn drop_work(&self) -> usize {
        drop_work(&self.slots)
    }

    /// The capacity.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the capacity is 0 (possible only with `maxCapacity` 0).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The used count.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// The slot at `pos`: `None` when it holds the empty value without
    /// storing it.
    ///
    /// # Errors
    /// [`Refused::Bounds`] when `pos` is not below the capacity.
    pub fn get(&self, pos: u64) -> Outcome<Option<&T>> {
        if pos >= self.len {
            return Err(Refused::Bounds);
        }
        Ok(self.slots.get(index(pos)))
    }

    /// The used slots of `[start, stop)` (`stop` `None`: to the end), at
    /// most `max` of them.
    ///
    /// # Errors
    /// [`Refused::Bounds`] when `start` is not below the capacity;
    /// [`Refused::OverBudget`] when so many items would cost more than the
    /// budget at [`Element::WRITE_COST_TYPICAL`] each.
    pub fn range(&self, start: u64, stop: Option<u64>, max: u64) -> Outcome<Run<'_, T>> {
        if start >= self.len {
            return Err(Refused::Bounds);
        }
        let end = stop.unwrap_or(self.len).min(self.used).min(start.saturating_add(max));
        if start >= end {
            return Ok(Run { stored: &[], empties: 0 });
        }
        // Priced by count only: `maxResponseSize` is what bounds a
        // GET_RNG, and within the default 10,000 items it never refuses.
        within_budget((end - start).saturating_mul(T::WRITE_COST_TYPICAL))?;
        let stored_end = end.min(self.slots.len() as u64);
        let stored = if start < stored_end { &self.slots[index(start)..index(stored_end)] } else { &[] };
        Ok(Run { stored, empties: end - start - stored.len() as u64 })
    }

    /// The first `min(n, used)` items of a sorted array, ascending.
    ///
    /// # Errors
    /// [`Refused::Bounds`] when nothing is used.
    pub fn smallest(&self, n: u64) -> Outcome<&[T]> {
        let k = self.extremes(n)?;
        let items = &self.slots[..k];
        within_budget(writing(items.iter()))?;
        Ok(items)
    }

    /// The last `min(n, used)` items of a sorted array's used part, still
    /// ascending (the reply reverses them).
    ///
    /// # Errors
    /// [`Refused::Bounds`] when nothing is used.
    pub fn largest(&self, n: u64) -> Outcome<&[T]> {
        let k = self.extremes(n)?;
        let items = &self.slots[self.slots.len() - k..];
        within_budget(writing(items.iter()))?;
        Ok(items)
    }

    fn extremes(&self, n: u64) -> Outcome<usize> {
        if self.used == 0 {
            return Err(Refused::Bounds);
        }
        let k = n.min(self.used);
        countable::<T>(k)?;
        // Sorted: `slots` is the used part.
        Ok(index(k).min(self.slots.len()))
    }

    /// Unsorted `SET`: writes `item` at `pos`, or with `None` at `used`
    /// (then counted as used).
    ///
    /// # Errors
    /// [`Refused::Bounds`] for a position at or past the capacity, or an
    /// append to a full array; [`Refused::OverBudget`] when too many
    /// slots before `pos` would have to be materialised.
    pub fn set(&mut self, pos: Option<u64>, item: T) -> Outcome<()> {
        let at = match pos {
            Some(pos) if pos >= self.len => return Err(Refused::Bounds),
            Some(pos) => pos,
            None if self.used >= self.len => return Err(Refused::Bounds),
            None => self.used,
        };
        self.materialise(at + 1)?;
        self.replace(index(at), item);
        if pos.is_none() {
            self.used += 1;
        }
        Ok(())
    }

    /// Unsorted `SET_RNG`: writes `items` from `pos` on, or with `None`
    /// from `used` on (all then counted as used). With `pos`, `used` grows
    /// by the number of items, as in NemesisDB, but never past the
    /// capacity.
    ///
    /// # Errors
    /// [`Refused::Bounds`] when the items do not fit (nothing is written);
    /// [`Refused::OverBudget`] when too many slots would be materialised.
    pub fn set_range(&mut self, pos: Option<u64>, items: Vec<T>) -> Outcome<()> {
        let n = items.len() as u64;
        let at = match pos {
            Some(pos) if pos >= self.len || n > self.len - pos => return Err(Refused::Bounds),
            Some(pos) => pos,
            None if self.used >= self.len || n > self.len - self.used => return Err(Refused::Bounds),
            None => self.used,
        };
        within_budget(moving::<T>(n))?;
        self.materialise(at + n)?;
        for (i, item) in items.into_iter().enumerate() {
            self.replace(index(at) + i, item);
        }
        self.used = (self.used + n).min(self.len);
        Ok(())
    }

    /// Sorted `SET`: inserts `item` into the used part, in order.
    ///
    /// # Errors
    /// [`Refused::Bounds`] when the array is full; [`Refused::OverBudget`]
    /// when too many items would move.
    pub fn insert_sorted(&mut self, item: T) -> Outcome<()> {
        if self.used >= self.len {
            return Err(Refused::Bounds);
        }
        let at = self.slots.partition_point(|x| x <= &item);
        within_budget(moving::<T>((self.slots.len() - at) as u64))?;
        self.reserve_for(self.slots.len() + 1);
        self.count_in(&item);
        self.slots.insert(at, item);
        self.used += 1;
        Ok(())
    }

    /// Sorted `SET_RNG`: sorts `items` (unless they came in order) and
    /// merges them into the used part (duplicates kept), in
    /// O(n log n + n log(moved / n) + moved) for `moved` stored items above
    /// the smallest new one.
    ///
    /// # Errors
    /// [`Refused::Bounds`] when they do not all fit (nothing is stored);
    /// [`Refused::OverBudget`] when the sort, the search and the moves
    /// would cost too much ([`merge_work`]).
    pub fn merge_sorted(&mut self, mut items: Vec<T>) -> Outcome<()> {
        let n = items.len() as u64;
        if n == 0 {
            return Ok(());
        }
        if n > self.len - self.used {
            return Err(Refused::Bounds);
        }
        // Only the stored items above the smallest new one move; each new
        // item finds its place among them by galloping from the end, after
        // a sort unless they came in order. All priced before anything is
        // done.
        let first_moved = items.iter().min().map_or(self.slots.len(), |min| self.slots.partition_point(|x| x <= min));
        let moved = (self.slots.len() - first_moved) as u64;
        within_budget(merge_work::<T>(n, moved, items.is_sorted()))?;
        items.sort_unstable();
        for item in &items {
            self.count_in(item);
        }
        let old = self.slots.len();
        self.reserve_for(old + items.len());
        self.slots.resize_with(old + items.len(), T::default);
        // Merge from the back: `slots[..i]` are stored items not yet
        // placed, `slots[i..k]` free places, `slots[k..]` the merged tail.
        // Each new item (largest first) finds, galloping back from `i`,
        // the stored items above it, which move up as one block: every
        // stored item moves once, whatever the new items' values, and each
        // search stays near the place of the one before.
        let (mut i, mut k) = (old, old + items.len());
        while let Some(next) = items.pop() {
            let j = first_moved + gallop_back(&self.slots[first_moved..i], &next);
            let moving = i - j;
            if moving > 0 {
                let free = k - i;
                if free <= moving {
                    // Few free places: a rotation, which moves the block
                    // with one memmove.
                    self.slots[j..k].rotate_left(moving);
                } else {
                    // Apart: one vectorised swap of the two blocks.
                    let (low, high) = self.slots.split_at_mut(k - moving);
                    low[j..i].swap_with_slice(&mut high[..moving]);
                }
            }
            i = j;
            k -= moving + 1;
            self.slots[k] = next;
        }
        self.used += n;
        Ok(())
    }

    /// `SWAP`: exchanges the slots at `a` and `b`, used or not.
    ///
    /// # Errors
    /// [`Refused::Bounds`] when either is not below the capacity;
    /// [`Refused::OverBudget`] when too many slots would be materialised.
    pub fn swap(&mut self, a: u64, b: u64) -> Outcome<()> {
        if a >= self.len || b >= self.len {
            return Err(Refused::Bounds);
        }
        let stored = self.slots.len() as u64;
        if a == b || (a >= stored && b >= stored) {
            return Ok(());
        }
        self.materialise(a.max(b) + 1)?;
        self.slots.swap(index(a), index(b));
        Ok(())
    }

    /// `CLEAR`: removes the used items of `[start, stop)` (`stop` `None`:
    /// to the end); every later slot moves down by the number removed and
    /// the last slots become empty. A start at or past `used` removes
    /// nothing. Returns what was removed, for the caller to free.
    ///
    /// # Errors
    /// [`Refused::Bounds`] when `start` is not below the capacity;
    /// [`Refused::OverBudget`] when too many slots would move.
    pub fn clear(&mut self, start: u64, stop: Option<u64>) -> Outcome<Vec<T>> {
        if start >= self.len {
            return Err(Refused::Bounds);
        }
        let end = stop.unwrap_or(u64::MAX).min(self.used);
        if start >= end {
            return Ok(Vec::new());
        }
        let stored = self.slots.len() as u64;
        let mut removed = Vec::new();
        if start < stored {
            within_budget(moving::<T>(stored - start))?;
            removed.extend(self.slots.drain(index(start)..index(end.min(stored))));
            for item in &removed {
                self.count_out(item);
            }
        }
        // The removed slots past `stored` held the empty value, and so do
        // the slots that take their places: nothing to move there.
        self.used -= end - start;
        Ok(removed)
    }

    /// Every stored slot, in order (for tests and intersections).
    pub fn stored(&self) -> &[T] {
        &self.slots
    }

    /// Makes sure slots `[0, upto)` are stored.
    fn materialise(&mut self, upto: u64) -> Outcome<()> {
        let stored = self.slots.len() as u64;
        if upto <= stored {
            return Ok(());
        }
        within_budget(moving::<T>(upto - stored))?;
        self.reserve_for(index(upto));
        self.slots.resize_with(index(upto), T::default);
        Ok(())
    }

    /// Grows `slots` to hold `n`, doubling but never past the capacity.
    fn reserve_for(&mut self, n: usize) {
        if n <= self.slots.capacity() {
            return;
        }
        let target = n.max(self.slots.capacity().saturating_mul(2)).min(index(self.len)).max(n);
        self.slots.reserve_exact(target - self.slots.len());
    }

    /// Writes the stored slot `i`.
    fn replace(&mut self, i: usize, item: T) {
        self.count_in(&item);
        let old = std::mem::replace(&mut self.slots[i], item);
        self.count_out(&old);
    }

    fn count_in(&mut self, item: &T) {
        self.heap += item.heap_bytes();
    }

    fn count_out(&mut self, item: &T) {
        self.heap -= item.heap_bytes();
    }
}

/// The multiset intersection of two sorted arrays' used parts, ascending:
/// one linear merge.
///
/// # Errors
/// [`Refused::OverBudget`] when comparing the two, or the comparisons and
/// the reply together, would cost more than [`MAX_WORK_PER_COMMAND`]:
/// before the merge when its steps alone would, during it as soon as
/// its steps and turns do.
pub fn intersect<'a, T: Element>(a: &'a Array<T>, b: &'a Array<T>) -> Outcome<Vec<&'a T>> {
    within_budget(moving::<T>(a.used.saturating_add(b.used)))?;
    let (a, b) = (a.stored(), b.stored());
    let mut common = Vec::new();
    let (mut i, mut j) = (0, 0);
    // Each step costs MOVE_COST; each turn from one array to the other
    // (the end of a run) SWITCH_COST more, counted as it happens and
    // looked at every METER_STEPS steps or so.
    let mut switches = 0u64;
    let compared = |i: usize, j: usize, switches: u64| {
        moving::<T>((i + j) as u64).saturating_add(switches.saturating_mul(T::SWITCH_COST))
    };
    while i < a.len() && j < b.len() {
        // A stretch of fewer than 2 · METER_STEPS steps: until i or j has
        // moved METER_STEPS on (or reached its end).
        let (a, b) = (&a[..a.len().min(i + METER_STEPS)], &b[..b.len().min(j + METER_STEPS)]);
        while i < a.len() && j < b.len() {
            // One run at a time: of `a` below `b[j]`, of `b` below `a[i]`,
            // or of matches; each run ends in one turn.
            match a[i].cmp(&b[j]) {
                std::cmp::Ordering::Less => {
                    i += 1;
                    while i < a.len() && a[i] < b[j] {
                        i += 1;
                    }
                }
                std::cmp::Ordering::Greater => {
                    j += 1;
                    while j < b.len() && b[j] < a[i] {
                        j += 1;
                    }
                }
                std::cmp::Ordering::Equal => {
                    common.push(&a[i]);
                    i += 1;
                    j += 1;
                    while i < a.len() && j < b.len() && a[i] == b[j] {
                        common.push(&a[i]);
                        i += 1;
                        j += 1;
                    }
                }
            }
            switches += 1;
        }
        within_budget(compared(i, j, switches))?;
    }
    countable::<T>(common.len() as u64)?;
    within_budget(compared(i, j, switches).saturating_add(writing(common.iter().copied())))?;
    Ok(common)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_count_binary_digits() {
        let cases = [(0, 0), (1, 1), (2, 2), (3, 2), (4, 3), (1_000_000, 20), (u64::MAX, 64)];
        for (n, expected) in cases {
            assert_eq!(levels(n), expected, "{n}");
        }
    }

    #[test]
    fn galloping_finds_the_place_a_binary_search_does() {
        let mut state = 0x5eed_u64;
        for len in 0..70usize {
            let slots: Vec<i64> = {
                let mut v: Vec<i64> = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        (state % 40) as i64
                    })
                    .collect();
                v.sort_unstable();
                v
            };
            for item in -1..=41 {
                assert_eq!(gallop_back(&slots, &item), slots.partition_point(|x| *x <= item), "{item} in {slots:?}");
            }
        }
    }
}
