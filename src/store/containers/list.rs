//! [`List`]: one NemesisDB object list, with positional access in
//! O(log n).
//!
//! Owns: the items of one list (each the JSON text of an object, as it
//! arrived) and their order. Knows nothing of names, replies or requests.
//!
//! NemesisDB walks a linked list for every positional operation; ndb keeps
//! the items in chunks of at most [`CHUNK`] and the chunks in an implicit
//! treap: a binary tree ordered by position, each node knowing how many
//! items (and bytes) its subtree holds, balanced by random priorities
//! (heap-ordered: a parent's priority is at least its children's). Finding
//! position p descends from the root by those counts, so `GET`, `ADD` and
//! `RMV` at any position cost O(log n) node visits plus O([`CHUNK`]) work
//! inside one chunk; `SPLICE` and range removals cut the tree in two
//! ([`split`]) and join trees ([`join`]) in O(log n) whatever the number
//! of items moved, so moving a million items costs what moving one does.
//!
//! Chunks stay well filled: an insert that does not fit its chunk goes
//! through a cut and a join, and wherever two trees are joined the two
//! chunks meeting at the seam are rebuilt, into one chunk when their items
//! fit in one, else into two of equal size, each at least half full. Every
//! node counts its own allocation, its chunk's capacity and its items' text
//! toward [`List::bytes`].
//!
//! Recursion depth is the treap's depth: expected under 3·ln(nodes), about
//! 40 for a million items.

use super::{Json, allocation_bytes};

/// The most items one node holds. 128 pointers (2 KiB) keeps an insert's
/// move inside a chunk to a few dozen nanoseconds while a million items
/// need under 16,000 nodes.
pub const CHUNK: usize = 128;

/// What one node costs besides its chunk: its own allocation.
const NODE_BYTES: u64 = allocation_bytes(std::mem::size_of::<Node>());

/// What one item's place in a chunk costs (the pointer to its text).
const ITEM_SLOT_BYTES: u64 = std::mem::size_of::<Json>() as u64;

type Link = Option<Box<Node>>;

/// One chunk of items and the subtree below it.
#[derive(Debug)]
struct Node {
    items: Vec<Json>,
    left: Link,
    right: Link,
    /// Heap priority: at least the children's.
    prio: u64,
    /// Items in this subtree.
    count: usize,
    /// The text bytes of this node's own items.
    own_text: u64,
    /// Bytes this subtree counts: nodes, chunk capacity, item text.
    bytes: u64,
}

impl Node {
    fn new(items: Vec<Json>, prio: u64) -> Box<Node> {
        let own_text = items.iter().map(|item| allocation_bytes(item.len())).sum();
        let mut node = Box::new(Node { items, left: None, right: None, prio, count: 0, own_text, bytes: 0 });
        node.update();
        node
    }

    /// Recomputes `count` and `bytes` from the children and own items.
    fn update(&mut self) {
        self.count = count(&self.left) + self.items.len() + count(&self.right);
        let own = NODE_BYTES + self.items.capacity() as u64 * ITEM_SLOT_BYTES + self.own_text;
        self.bytes = bytes(&self.left) + own + bytes(&self.right);
    }
}

fn count(link: &Link) -> usize {
    link.as_ref().map_or(0, |n| n.count)
}

fn bytes(link: &Link) -> u64 {
    link.as_ref().map_or(0, |n| n.bytes)
}

/// Cuts `link` after its first `k` items: (the first `k`, the rest).
fn split(link: Link, k: usize) -> (Link, Link) {
    let Some(mut node) = link else { return (None, None) };
    let left = count(&node.left);
    let own = node.items.len();
    if k <= left {
        let (a, b) = split(node.left.take(), k);
        node.left = b;
        node.update();
        (a, Some(node))
    } else if k >= left + own {
        let (a, b) = split(node.right.take(), k - left - own);
        node.right = a;
        node.update();
        (Some(node), b)
    } else {
        // The cut falls inside this chunk: its tail becomes a node of the
        // same priority, heading the right part.
        let tail = node.items.split_off(k - left);
        let mut rest = Node::new(tail, node.prio);
        node.own_text -= rest.own_text;
        rest.right = node.right.take();
        rest.update();
        node.update();
        (Some(node), Some(rest))
    }
}

/// Concatenates two trees (every item of `a` before every item of `b`).
fn merge(a: Link, b: Link) -> Link {
    match (a, b) {
        (None, b) => b,
        (a, None) => a,
        (Some(mut a), Some(mut b)) => {
            if a.prio >= b.prio {
                a.right = merge(a.right.take(), Some(b));
                a.update();
                Some(a)
            } else {
                b.left = merge(Some(a), b.left.take());
                b.update();
                Some(b)
            }
        }
    }
}

/// Concatenates two trees like [`merge`], first rebuilding the two chunks
/// that meet at the seam: into one chunk when their items fit in one,
/// else into two of equal size (each at least half full). So a join never
/// leaves two small chunks side by side.
fn join(a: Link, b: Link, priorities: &mut Priorities) -> Link {
    match (a, b) {
        (Some(a), Some(b)) => {
            let (a, mut seam) = pop_last_chunk(a);
            let (first, b) = pop_first_chunk(b);
            seam.extend(first);
            merge(merge(a, chunks(seam, priorities)), b)
        }
        (a, b) => merge(a, b),
    }
}
/// Removes the first chunk of a tree: (its items, the rest of the tree).
fn pop_first_chunk(mut node: Box<Node>) -> (Vec<Json>, Link) {
    match node.left.take() {
        None => {
            let items = std::mem::take(&mut node.items);
            (items, node.right.take())
        }
        Some(left) => {
            let (items, rest) = pop_first_chunk(left);
            node.left = rest;
            node.update();
            (items, Some(node))
        }
    }
}

/// Removes the last chunk of a tree: (the rest of the tree, its items).
fn pop_last_chunk(mut node: Box<Node>) -> (Link, Vec<Json>) {
    match node.right.take() {
        None => {
            let items = std::mem::take(&mut node.items);
            (node.left.take(), items)
        }
        Some(right) => {
            let (rest, items) = pop_last_chunk(right);
            node.right = rest;
            node.update();
            (Some(node), items)
        }
    }
}

/// A tree of `items` in order, in as few chunks as hold them, all of about
/// the same size.
fn chunks(items: Vec<Json>, priorities: &mut Priorities) -> Link {
    let n = items.len();
    if n == 0 {
        return None;
    }
    let parts = n.div_ceil(CHUNK);
    let mut root: Link = None;
    let mut items = items.into_iter();
    for part in 0..parts {
        // Sizes differ by at most one: the first `n % parts` get one more.
        let size = n / parts + usize::from(part < n % parts);
        let chunk: Vec<Json> = items.by_ref().take(size).collect();
        root = merge(root, Some(Node::new(chunk, priorities.next())));
    }
    root
}

/// The item at position `pos` (which must be below the subtree's count).
fn get(mut link: &Link, mut pos: usize) -> Option<&Json> {
    while let Some(node) = link {
        let left = count(&node.left);
        if pos < left {
            link = &node.left;
        } else if pos - left < node.items.len() {
            return node.items.get(pos - left);
        } else {
            pos -= left + node.items.len();
            link = &node.right;
        }
    }
    None
}

/// Calls `f` on the items `[start, start + n)` in order.
fn visit<'a>(link: &'a Link, start: usize, n: usize, f: &mut impl FnMut(&'a Json)) {
    let Some(node) = link else { return };
    if n == 0 {
        return;
    }
    let left = count(&node.left);
    if start < left {
        visit(&node.left, start, n.min(left - start), f);
    }
    let own_start = start.saturating_sub(left);
    let end = start + n;
    let own_end = end.saturating_sub(left).min(node.items.len());
    if own_start < own_end {
        node.items[own_start..own_end].iter().for_each(&mut *f);
    }
    let right_start = left + node.items.len();
    if end > right_start {
        let from = start.max(right_start) - right_start;
        visit(&node.right, from, end - start.max(right_start), f);
    }
}

/// Inserts `items` before position `pos` when they fit in the chunk there;
/// gives them back otherwise.
fn insert_in_chunk(node: &mut Node, pos: usize, items: Vec<Json>) -> Result<(), Vec<Json>> {
    let left = count(&node.left);
    let own = node.items.len();
    let result = if pos < left || (pos == left && node.left.is_some() && own == CHUNK) {
        match &mut node.left {
            Some(child) => insert_in_chunk(child, pos, items),
            None => Err(items),
        }
    } else if pos <= left + own && own + items.len() <= CHUNK {
        node.own_text += items.iter().map(|item| allocation_bytes(item.len())).sum::<u64>();
        let at = pos - left;
        node.items.splice(at..at, items);
        Ok(())
    } else if pos > left + own {
        match &mut node.right {
            Some(child) => insert_in_chunk(child, pos - left - own, items),
            None => Err(items),
        }
    } else {
        Err(items)
    };
    if result.is_ok() {
        node.update();
    }
    result
}

/// Removes `[start, end)` when it lies inside one chunk and leaves that
/// chunk non-empty; returns the removed items, or `None` (nothing changed).
fn remove_in_chunk(node: &mut Node, start: usize, end: usize) -> Option<Vec<Json>> {
    let left = count(&node.left);
    let own = node.items.len();
    let removed = if end <= left {
        remove_in_chunk(node.left.as_mut()?, start, end)
    } else if start >= left + own {
        remove_in_chunk(node.right.as_mut()?, start - left - own, end - left - own)
    } else if start >= left && end <= left + own && end - start < own {
        let removed: Vec<Json> = node.items.drain(start - left..end - left).collect();
        node.own_text -= removed.iter().map(|item| allocation_bytes(item.len())).sum::<u64>();
        Some(removed)
    } else {
        None
    };
    if removed.is_some() {
        node.update();
    }
    removed
}

/// Small deterministic priorities (xorshift64*): a peer never sees them
/// and cannot choose them, which is all a treap needs.
#[derive(Debug, Clone)]
struct Priorities(u64);

impl Priorities {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Items cut out of a list ([`List::take`]): keep them, move them into
/// another list ([`List::put`]), or drop them.
#[derive(Debug, Default)]
pub struct Piece(Link);

impl Piece {
    /// How many items it holds.
    pub fn len(&self) -> usize {
        count(&self.0)
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The bytes it counts (see [`List::bytes`]).
    pub fn bytes(&self) -> u64 {
        bytes(&self.0)
    }
}

/// One list of JSON objects.
#[derive(Debug)]
pub struct List {
    root: Link,
    priorities: Priorities,
}

impl List {
    /// An empty list; `seed` varies the tree's shape from list to list.
    pub fn new(seed: u64) -> List {
        // Any non-zero state works; splitmix the seed so that consecutive
        // seeds give unrelated sequences.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        List { root: None, priorities: Priorities((z ^ (z >> 31)) | 1) }
    }

    /// How many items it holds.
    pub fn len(&self) -> usize {
        count(&self.root)
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.root.is_none()
    }

    /// The bytes it counts toward memory: each node's allocation, each
    /// chunk's capacity (a pointer per item) and each item's text.
    pub fn bytes(&self) -> u64 {
        bytes(&self.root)
    }

    /// The item at `pos`, if there is one.
    pub fn get(&self, pos: usize) -> Option<&Json> {
        get(&self.root, pos)
    }

    /// The items `[start, end)` (cut to the list), in order.
    pub fn range(&self, start: usize, end: usize) -> Vec<&Json> {
        let end = end.min(self.len());
        let mut items = Vec::with_capacity(end.saturating_sub(start));
        if start < end {
            visit(&self.root, start, end - start, &mut |item| items.push(item));
        }
        items
    }

    /// Inserts `items`, in order, before position `pos` (cut to the
    /// length: past the tail appends).
    pub fn insert(&mut self, pos: usize, items: Vec<Json>) {
        if items.is_empty() {
            return;
        }
        let pos = pos.min(self.len());
        let items = match self.root.as_mut() {
            Some(root) => match insert_in_chunk(root, pos, items) {
                Ok(()) => return,
                Err(items) => items,
            },
            None => items,
        };
        let piece = Piece(chunks(items, &mut self.priorities));
        self.put(pos, piece);
    }

    /// Replaces the items from `pos` on with `items` (which must fit
    /// before the tail); returns the old ones.
    pub fn overwrite(&mut self, pos: usize, items: Vec<Json>) -> Piece {
        let n = items.len();
        let old = self.take(pos, pos + n);
        let new = Piece(chunks(items, &mut self.priorities));
        self.put(pos, new);
        old
    }

    /// Removes the items `[start, end)` (cut to the list) and returns them.
    pub fn take(&mut self, start: usize, end: usize) -> Piece {
        let end = end.min(self.len());
        if start >= end {
            return Piece(None);
        }
        if let Some(removed) = self.root.as_mut().and_then(|root| remove_in_chunk(root, start, end)) {
            let priority = self.priorities.next();
            return Piece(Some(Node::new(removed, priority)));
        }
        let (left, rest) = split(self.root.take(), start);
        let (middle, right) = split(rest, end - start);
        self.root = join(left, right, &mut self.priorities);
        Piece(middle)
    }

    /// Inserts every item of `piece` before position `pos` (cut to the
    /// length).
    pub fn put(&mut self, pos: usize, piece: Piece) {
        let pos = pos.min(self.len());
        let (left, right) = split(self.root.take(), pos);
        let left = join(left, piece.0, &mut self.priorities);
        self.root = join(left, right, &mut self.priorities);
    }

    /// Every item, taken out (the list is left empty).
    pub fn take_all(&mut self) -> Piece {
        Piece(self.root.take())
    }

    /// Checks every invariant of the tree (for tests): counts, bytes, heap
    /// order, no empty or oversized chunk.
    #[cfg(test)]
    pub fn check(&self) {
        fn walk(link: &Link, max_prio: u64) -> (usize, u64) {
            let Some(node) = link else { return (0, 0) };
            assert!(node.prio <= max_prio, "heap order");
            assert!(!node.items.is_empty() && node.items.len() <= CHUNK, "chunk of {}", node.items.len());
            let text: u64 = node.items.iter().map(|i| allocation_bytes(i.len())).sum();
            assert_eq!(text, node.own_text);
            let (lc, lb) = walk(&node.left, node.prio);
            let (rc, rb) = walk(&node.right, node.prio);
            assert_eq!(node.count, lc + node.items.len() + rc);
            let own = NODE_BYTES + node.items.capacity() as u64 * ITEM_SLOT_BYTES + node.own_text;
            assert_eq!(node.bytes, lb + own + rb);
            (node.count, node.bytes)
        }
        walk(&self.root, u64::MAX);
    }

    /// How many chunks it has (for tests of fill).
    #[cfg(test)]
    pub fn chunks(&self) -> usize {
        fn walk(link: &Link) -> usize {
            link.as_ref().map_or(0, |n| 1 + walk(&n.left) + walk(&n.right))
        }
        walk(&self.root)
    }
}
