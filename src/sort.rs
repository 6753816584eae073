//! One small unstable sort for the cold paths that order a handful to a
//! few thousand items with a total order: a save directory's stamps and
//! data files, the connections closed when unfinished input passes its
//! cap, and a JSONPath edit's node ranges should they ever come out of
//! text order (they do not: `jsonpath::text::ranges` checks). A heapsort: `O(n log n)` comparisons whatever the input, no
//! allocation, and about 250 bytes of code for each element type, where
//! each use of `sort_unstable_by` would link its own copy of core's sort
//! (about 2.9 KB each in the minimal build). Where the order is total, the
//! result is the same as any other sort's.
//!
//! Owns: nothing but the algorithm. Must not touch: anything else.

/// Sorts `v` so that no element is `less` than one before it. Unstable: for
/// a `less` that is a strict total order (no two elements equal), the
/// result is the one every sort gives. 10,000 tuples (the default
/// `maxConnections`) take about 300,000 comparisons, well under a
/// millisecond.
pub(crate) fn heap_sort_by<T>(v: &mut [T], mut less: impl FnMut(&T, &T) -> bool) {
    // Moves `v[node]` down until it is not less than its children.
    fn sift_down<T>(v: &mut [T], mut node: usize, less: &mut impl FnMut(&T, &T) -> bool) {
        loop {
            let mut child = 2 * node + 1;
            if child >= v.len() {
                return;
            }
            if child + 1 < v.len() && less(&v[child], &v[child + 1]) {
                child += 1;
            }
            if !less(&v[node], &v[child]) {
                return;
            }
            v.swap(node, child);
            node = child;
        }
    }
    for node in (0..v.len() / 2).rev() {
        sift_down(v, node, &mut less);
    }
    for end in (1..v.len()).rev() {
        v.swap(0, end);
        sift_down(&mut v[..end], 0, &mut less);
    }
}

#[cfg(test)]
mod tests {
    use super::heap_sort_by;

    #[test]
    fn sorts_as_the_standard_sort_does() {
        // A small linear congruential generator: the same inputs every run.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            state >> 33
        };
        for len in (0..70).chain([255, 256, 257, 1000, 4097]) {
            for modulus in [2, 10, 1 << 31] {
                let items: Vec<(u64, usize)> = (0..len).map(|i| (next() % modulus, i)).collect();
                let mut ours = items.clone();
                heap_sort_by(&mut ours, |a, b| a < b);
                let mut theirs = items.clone();
                theirs.sort_unstable();
                assert_eq!(ours, theirs, "{len} items below {modulus}");
                let mut down = items;
                heap_sort_by(&mut down, |a, b| b < a);
                theirs.reverse();
                assert_eq!(down, theirs, "{len} items below {modulus}, descending");
            }
        }
        let mut sorted: Vec<u32> = (0..100).collect();
        heap_sort_by(&mut sorted, |a, b| a < b);
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }
}
