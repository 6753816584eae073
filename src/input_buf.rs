//! The bytes a connection has received and not served yet (a partial
//! frame, the fragments of a message, a large message lent to the server):
//! a `Vec` while small, an anonymous memory mapping of its own once large.
//!
//! Owns: that memory and how it grows. Growth follows one policy
//! ([`InputBuf::append`]): the capacity at most doubles per growth and never
//! passes the size the buffer is known to reach, so a frame header reserves
//! nothing ahead of the bytes that arrived, and a buffer holds at most twice
//! what arrived (or a kept mapping up to the frame's size, below).
//!
//! Why a mapping: a `Vec` that grows past what the allocator can extend
//! where it is copies everything received so far in one turn. The last
//! doubling of a 64 MiB message copied 32 MiB into fresh pages, 12–55 ms
//! of one turn on the 2-core machine of `docs/performance.md`; the kernel
//! grows a mapping by moving its page tables (`mremap`), copying nothing.
//! A mapping also goes back to the system when freed, where glibc keeps
//! freed heap buffers of up to 32 MiB for reuse (thousands of connections
//! growing their buffers a read at a time left about 100 MiB of them).
//! Unmapping costs by the page (64 MiB: about 4 ms), so a large mapping is
//! unmapped on the `ndb-free` thread (`store::reclaim_bytes`), whoever
//! drops it.
//!
//! Faulting a fresh mapping's pages in costs too (about 1.3 µs a page of
//! 4 KiB, 0.3 ms a MiB): a thread that grows buffers into mappings (the
//! loop) keeps up to [`KEPT_MAPPINGS`] of those it frees, [`KEPT_BYTES`]
//! in all, for its next large messages, as glibc's heap kept them but
//! bounded: a fixed overhead next to the memory cap, not counted in it.
//!
//! Mappings exist on Linux only; elsewhere every buffer is a `Vec`. A
//! mapping that cannot be made or grown falls back to a `Vec`, as every
//! buffer was before.
//!
//! Must not touch: sockets, frames, the store's data.

use std::ops::{Deref, DerefMut};

/// Size from which a buffer is a mapping: glibc's default mmap threshold,
/// above which a system call per growth costs less than copying what
/// arrived, and memory freed should go back to the system at once.
pub const MAPPED_BYTES: usize = 128 * 1024;

/// Freed mappings a thread that grows buffers keeps for reuse: 4, so a
/// few connections sending large messages one after another each find
/// one with its pages in place.
pub const KEPT_MAPPINGS: usize = 4;

/// Bytes of freed mappings a thread keeps at most: 8 MiB (two messages of
/// 3 MiB grown to 4 MiB, or four of 1 MiB). A larger mapping is unmapped.
pub const KEPT_BYTES: usize = 8 << 20;

/// The mappings kept by this thread, and whether it grows buffers into
/// mappings (only such a thread keeps any: one that just frees them, such
/// as a job's, unmaps them as before).
struct Kept {
    grows: bool,
    maps: Vec<Mapping>,
    bytes: usize,
}

thread_local! {
    static KEPT: std::cell::RefCell<Kept> =
        const { std::cell::RefCell::new(Kept { grows: false, maps: Vec::new(), bytes: 0 }) };
}

/// A kept mapping for at least `capacity` bytes and at most `max`,
/// emptied: the smallest that is large enough, else the largest grown to
/// `capacity`; `None` if none is kept. Marks this thread as one that
/// grows buffers.
fn take_kept(capacity: usize, max: usize) -> Option<Mapping> {
    KEPT.try_with(|kept| {
        let mut kept = kept.try_borrow_mut().ok()?;
        kept.grows = true;
        let sizes = kept.maps.iter().map(Mapping::capacity);
        let fits = |&(_, c): &(usize, usize)| c >= capacity && c <= max;
        let i = sizes.clone().enumerate().filter(fits).min_by_key(|&(_, c)| c).map(|(i, _)| i);
        let smaller = sizes.enumerate().filter(|&(_, c)| c < capacity);
        let i = i.or_else(|| smaller.max_by_key(|&(_, c)| c).map(|(i, _)| i))?;
        let mut map = kept.maps.swap_remove(i);
        kept.bytes -= map.capacity();
        map.truncate(0);
        map.grow(capacity).then_some(map)
    })
    .ok()
    .flatten()
}

/// Mappings this thread keeps, and their bytes.
#[cfg(test)]
fn kept() -> (usize, usize) {
    KEPT.with(|kept| {
        let kept = kept.borrow();
        (kept.maps.len(), kept.bytes)
    })
}

/// Keeps `map` for reuse if this thread grows buffers and has room for it
/// ([`KEPT_MAPPINGS`], [`KEPT_BYTES`]); else gives it back.
fn keep(map: Mapping) -> Option<Mapping> {
    let mut map = Some(map);
    let _ = KEPT.try_with(|kept| {
        let Ok(mut kept) = kept.try_borrow_mut() else { return };
        let Some(size) = map.as_ref().map(Mapping::capacity) else { return };
        if kept.grows && kept.maps.len() < KEPT_MAPPINGS && kept.bytes + size <= KEPT_BYTES {
            kept.bytes += size;
            kept.maps.extend(map.take());
        }
    });
    map
}

/// Received bytes, contiguous (see the module documentation).
#[derive(Default)]
pub struct InputBuf(Repr);

enum Repr {
    Heap(Vec<u8>),
    Mapped(Mapping),
}

impl Default for Repr {
    fn default() -> Repr {
        Repr::Heap(Vec::new())
    }
}

impl InputBuf {
    /// An empty buffer; allocates nothing.
    pub const fn new() -> InputBuf {
        InputBuf(Repr::Heap(Vec::new()))
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Heap(vec) => vec.len(),
            Repr::Mapped(map) => map.len(),
        }
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes it may hold without growing: what it costs in memory, as the
    /// server's caps count it (a mapping's last page aside).
    pub fn capacity(&self) -> usize {
        match &self.0 {
            Repr::Heap(vec) => vec.capacity(),
            Repr::Mapped(map) => map.capacity(),
        }
    }

    /// Whether the bytes are in a mapping of their own (for tests).
    pub fn is_mapped(&self) -> bool {
        matches!(self.0, Repr::Mapped(_))
    }

    /// Appends `data`, growing as bytes arrive: the capacity at most
    /// doubles per growth (or becomes a kept mapping's, see the module
    /// documentation), and never passes `limit` (the size the buffer is
    /// known to reach, such as the frame being received; 0 when unknown)
    /// unless `data` itself does. Growing to `MAPPED_BYTES` or
    /// more makes it a mapping (one copy of what it held, less than that
    /// size); a mapping grows without copying.
    pub fn append(&mut self, data: &[u8], limit: usize) {
        let needed = self.len() + data.len();
        let capacity = self.capacity();
        if needed > capacity {
            let target = capacity.saturating_mul(2).max(needed);
            // A kept mapping may be taken up to the frame's size: its pages
            // are in memory already.
            let max = if limit == 0 { target } else { limit.max(needed) };
            self.grow_to(target.min(max), max);
        }
        match &mut self.0 {
            Repr::Heap(vec) => vec.extend_from_slice(data),
            Repr::Mapped(map) => map.extend(data),
        }
    }

    /// Makes room for `target` bytes in all (up to `max` when a kept
    /// mapping is taken).
    fn grow_to(&mut self, target: usize, max: usize) {
        match &mut self.0 {
            Repr::Mapped(map) => {
                if map.grow(target) {
                    return;
                }
                // No room for a larger mapping: a `Vec`, as before mappings.
                let mut vec = Vec::with_capacity(target);
                vec.extend_from_slice(map);
                self.replace(Repr::Heap(vec));
            }
            Repr::Heap(vec) => {
                if target >= MAPPED_BYTES
                    && let Some(mut map) = take_kept(target, max).or_else(|| Mapping::new(target))
                {
                    map.extend(vec);
                    self.replace(Repr::Mapped(map));
                    return;
                }
                vec.reserve_exact(target - vec.len());
            }
        }
    }

    /// Puts `repr` in place of what it held, which is dropped as
    /// [`InputBuf`]'s `Drop` says.
    fn replace(&mut self, repr: Repr) {
        drop(InputBuf(std::mem::replace(&mut self.0, repr)));
    }

    /// Removes the first `n` bytes (all if fewer), moving the rest to the
    /// front.
    pub fn drain_front(&mut self, n: usize) {
        let n = n.min(self.len());
        match &mut self.0 {
            Repr::Heap(vec) => drop(vec.drain(..n)),
            Repr::Mapped(map) => {
                map.copy_within(n.., 0);
                map.truncate(map.len() - n);
            }
        }
    }

    /// Keeps the first `at` bytes and returns the rest in a buffer of its
    /// own (a copy of them: meant for a short tail).
    ///
    /// # Panics
    /// If `at` is past the end, as `Vec::split_off`.
    pub fn split_off(&mut self, at: usize) -> InputBuf {
        assert!(at <= self.len(), "split_off at {at} of {}", self.len());
        let tail = InputBuf::from(self[at..].to_vec());
        match &mut self.0 {
            Repr::Heap(vec) => vec.truncate(at),
            Repr::Mapped(map) => map.truncate(at),
        }
        tail
    }

    /// Gives back the capacity it holds beyond its length when that is
    /// more than `SHRINK_OVER` (64 KiB) and four times the length (what a large
    /// frame grew it to, once the frame is served): the bytes left are
    /// copied to a buffer of their size.
    pub fn shrink(&mut self) {
        let (len, capacity) = (self.len(), self.capacity());
        if capacity <= SHRINK_OVER || capacity <= 4 * len {
            return;
        }
        match &mut self.0 {
            Repr::Heap(vec) => vec.shrink_to(len),
            Repr::Mapped(map) => {
                let mut smaller = InputBuf::new();
                smaller.append(map, len);
                self.replace(std::mem::take(&mut smaller.0));
            }
        }
    }
}

/// Capacity below which [`InputBuf::shrink`] keeps a buffer as it is: a
/// read's worth (`conn::READ_CHUNK_BYTES`).
pub const SHRINK_OVER: usize = 64 * 1024;

impl Drop for InputBuf {
    /// A mapping is kept for reuse or unmapped off the loop (see the
    /// module documentation); a `Vec` is freed here.
    fn drop(&mut self) {
        if let Repr::Mapped(_) = self.0 {
            let Repr::Mapped(map) = std::mem::take(&mut self.0) else { return };
            if let Some(map) = keep(map) {
                let bytes = map.capacity();
                crate::store::reclaim_bytes(map, bytes);
            }
        }
    }
}

impl From<Vec<u8>> for InputBuf {
    fn from(vec: Vec<u8>) -> InputBuf {
        InputBuf(Repr::Heap(vec))
    }
}

impl Deref for InputBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.0 {
            Repr::Heap(vec) => vec,
            Repr::Mapped(map) => map,
        }
    }
}

impl DerefMut for InputBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        match &mut self.0 {
            Repr::Heap(vec) => vec,
            Repr::Mapped(map) => map,
        }
    }
}

impl PartialEq for InputBuf {
    fn eq(&self, other: &InputBuf) -> bool {
        self[..] == other[..]
    }
}

impl std::fmt::Debug for InputBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputBuf")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

#[cfg(target_os = "linux")]
use linux::Mapping;

/// Private anonymous mappings, grown with `mremap`.
#[cfg(target_os = "linux")]
mod linux {
    use std::ops::{Deref, DerefMut};
    use std::ptr::NonNull;

    /// Bytes in a mapping of their own: `len` of them written, room for
    /// `capacity` (the kernel rounds the mapping up to whole pages).
    pub struct Mapping {
        ptr: NonNull<u8>,
        len: usize,
        capacity: usize,
    }

    // SAFETY: the mapping is owned by this value alone (nothing else has
    // its address), like a `Vec`'s memory; `&Mapping` only reads it.
    unsafe impl Send for Mapping {}
    // SAFETY: as above.
    unsafe impl Sync for Mapping {}

    impl Mapping {
        /// A mapping with room for `capacity` bytes (more than 0), or `None`
        /// when the system refuses one.
        pub fn new(capacity: usize) -> Option<Mapping> {
            if capacity == 0 {
                return None;
            }
            // SAFETY: a new private anonymous mapping at an address the
            // kernel chooses; it aliases nothing.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    capacity,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if ptr == libc::MAP_FAILED {
                return None;
            }
            Some(Mapping { ptr: NonNull::new(ptr.cast())?, len: 0, capacity })
        }

        /// Grows it to room for `capacity` bytes, keeping its bytes (the
        /// kernel moves its pages, if it moves it at all); false if it
        /// cannot, and it is left as it was.
        pub fn grow(&mut self, capacity: usize) -> bool {
            if capacity <= self.capacity {
                return true;
            }
            // SAFETY: `ptr` and `self.capacity` are this mapping, which no
            // reference outlives (`&mut self`); on failure it is unchanged.
            let ptr = unsafe { libc::mremap(self.ptr.as_ptr().cast(), self.capacity, capacity, libc::MREMAP_MAYMOVE) };
            if ptr == libc::MAP_FAILED {
                return false;
            }
            let Some(ptr) = NonNull::new(ptr.cast()) else { return false };
            self.ptr = ptr;
            self.capacity = capacity;
            true
        }

        /// Bytes written.
        pub fn len(&self) -> usize {
            self.len
        }

        /// Room, in bytes.
        pub fn capacity(&self) -> usize {
            self.capacity
        }

        /// Appends `data`, which must fit.
        ///
        /// # Panics
        /// If it does not.
        pub fn extend(&mut self, data: &[u8]) {
            assert!(data.len() <= self.capacity - self.len, "a mapping overflowed");
            // SAFETY: the destination, `len..len + data.len()`, is within
            // the mapping (checked just above) and `data` cannot overlap
            // it (`&mut self` excludes any borrow of the mapping).
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(self.len), data.len()) };
            self.len += data.len();
        }

        /// Keeps the first `len` bytes (all if fewer).
        pub fn truncate(&mut self, len: usize) {
            self.len = self.len.min(len);
        }
    }

    impl Deref for Mapping {
        type Target = [u8];

        fn deref(&self) -> &[u8] {
            // SAFETY: the first `len` bytes are mapped and written.
            unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
        }
    }

    impl DerefMut for Mapping {
        fn deref_mut(&mut self) -> &mut [u8] {
            // SAFETY: as in `deref`, and `&mut self` makes it unique.
            unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
        }
    }

    impl Drop for Mapping {
        fn drop(&mut self) {
            // SAFETY: the mapping is ours and nothing refers to it any more.
            // A failure would leave address space mapped, nothing worse.
            unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.capacity) };
        }
    }
}

/// No mappings outside Linux: a type with no values.
#[cfg(not(target_os = "linux"))]
enum Mapping {}

#[cfg(not(target_os = "linux"))]
impl Mapping {
    fn new(_capacity: usize) -> Option<Mapping> {
        None
    }
    fn grow(&mut self, _capacity: usize) -> bool {
        match *self {}
    }
    fn len(&self) -> usize {
        match *self {}
    }
    fn capacity(&self) -> usize {
        match *self {}
    }
    fn extend(&mut self, _data: &[u8]) {
        match *self {}
    }
    fn truncate(&mut self, _len: usize) {
        match *self {}
    }
}

#[cfg(not(target_os = "linux"))]
impl Deref for Mapping {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match *self {}
    }
}

#[cfg(not(target_os = "linux"))]
impl DerefMut for Mapping {
    fn deref_mut(&mut self) -> &mut [u8] {
        match *self {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends `total` bytes (a counting pattern) in pieces of `piece`,
    /// with `limit`, checking the policy after each.
    fn grown(total: usize, piece: usize, limit: usize) -> InputBuf {
        let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        let mut buf = InputBuf::new();
        for chunk in data.chunks(piece) {
            let before = buf.capacity();
            buf.append(chunk, limit);
            let len = buf.len();
            assert!(buf.capacity() >= len);
            if buf.capacity() != before && limit == 0 {
                // Grown: at most doubled, or to what was needed (with a
                // known size, a kept mapping may be taken up to it: below).
                assert!(buf.capacity() <= (2 * before).max(len), "{before} → {}", buf.capacity());
            }
            if limit != 0 {
                assert!(buf.capacity() <= limit.max(len), "past the limit {limit}");
            }
        }
        assert_eq!(buf[..], data[..]);
        buf
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_freed_mapping_is_taken_again_by_the_next_large_frame_of_its_size() {
        let first = grown(600_000, 65_536, 600_000);
        let (at, capacity) = (first.as_ptr(), first.capacity());
        drop(first);
        assert_eq!(kept(), (1, capacity));
        // Taken at the first growth into a mapping: its pages in place,
        // within the frame's size.
        let second = grown(600_000, 65_536, 600_000);
        assert_eq!((second.as_ptr(), second.capacity()), (at, capacity));
        assert_eq!(kept(), (0, 0));
        drop(second);
        // Larger than the frame: not taken.
        let small = grown(300_000, 65_536, 300_000);
        assert!(small.capacity() <= 300_000);
        assert_eq!(kept(), (1, capacity));
        // Smaller than the frame: taken and grown.
        let large = grown(2_000_000, 65_536, 2_000_000);
        assert_eq!(large.capacity(), 2_000_000);
        assert_eq!(kept(), (0, 0));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn at_most_four_mappings_and_eight_mib_are_kept_by_a_thread_that_grows_them() {
        let bufs: Vec<InputBuf> = (0..6).map(|_| grown(1 << 20, 65_536, 1 << 20)).collect();
        drop(bufs);
        assert_eq!(kept(), (KEPT_MAPPINGS, KEPT_MAPPINGS << 20));
        let (_, bytes) = kept();
        assert!(bytes <= KEPT_BYTES);
        // Past the bytes: unmapped.
        for _ in 0..KEPT_MAPPINGS {
            drop(grown(1 << 20, 65_536, 1 << 20));
        }
        let huge = grown(KEPT_BYTES, 1 << 20, KEPT_BYTES);
        drop(huge);
        assert!(kept().1 <= KEPT_BYTES);
        // A thread that only frees mappings keeps none.
        let buf = grown(1 << 20, 65_536, 1 << 20);
        let elsewhere = std::thread::spawn(move || {
            drop(buf);
            kept()
        });
        assert_eq!(elsewhere.join().unwrap(), (0, 0));
    }

    #[test]
    fn it_grows_as_bytes_arrive_to_at_most_twice_them() {
        let buf = grown(3_000_000, 16 * 1024, 0);
        assert!(buf.capacity() <= 2 * buf.len());
        // A known size is never passed: the frame's, exactly.
        let buf = grown(3_000_000, 65_536, 3_000_000);
        assert_eq!(buf.capacity(), 3_000_000);
        // Small ones stay on the heap.
        let small = grown(MAPPED_BYTES / 2, 1000, 0);
        assert!(!small.is_mapped());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn large_ones_are_mappings_grown_in_place_of_a_copy() {
        let mut buf = grown(MAPPED_BYTES, 4096, 0);
        assert!(buf.is_mapped(), "{buf:?}");
        // Growing a mapping leaves its bytes where the kernel puts them,
        // unchanged, however large it gets.
        let more = vec![7u8; 40 << 20];
        buf.append(&more, 0);
        assert!(buf.is_mapped());
        assert_eq!(buf.len(), MAPPED_BYTES + more.len());
        assert!(buf[MAPPED_BYTES..].iter().all(|&b| b == 7));
        assert_eq!(buf[1], 1);
    }

    #[test]
    fn the_front_goes_and_the_tail_splits_off() {
        for total in [1000, 3 * MAPPED_BYTES] {
            let mut buf = grown(total, 10_000, 0);
            let tail = buf.split_off(total - 100);
            assert_eq!(tail.len(), 100);
            assert_eq!(tail[0], ((total - 100) % 251) as u8);
            assert_eq!(buf.len(), total - 100);
            buf.drain_front(50);
            assert_eq!(buf.len(), total - 150);
            assert_eq!(buf[0], 50);
            buf.drain_front(usize::MAX);
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn a_large_buffer_left_with_little_shrinks_to_it() {
        let mut buf = grown(4 * MAPPED_BYTES, 64 * 1024, 0);
        buf.drain_front(4 * MAPPED_BYTES - 1000);
        buf.shrink();
        assert_eq!(buf.capacity(), 1000);
        assert!(!buf.is_mapped());
        assert_eq!(buf[0], ((4 * MAPPED_BYTES - 1000) % 251) as u8);
        // Still well used, or small: kept as it is.
        let mut full = grown(4 * MAPPED_BYTES, 64 * 1024, 0);
        let capacity = full.capacity();
        full.drain_front(MAPPED_BYTES);
        full.shrink();
        assert_eq!(full.capacity(), capacity);
        let mut small = grown(SHRINK_OVER / 2, 1000, 0);
        assert!(small.capacity() <= SHRINK_OVER);
        small.drain_front(SHRINK_OVER / 2 - 1);
        let capacity = small.capacity();
        small.shrink();
        assert_eq!(small.capacity(), capacity);
    }

    #[test]
    fn buffers_compare_by_their_bytes() {
        let mapped = grown(2 * MAPPED_BYTES, 50_000, 0);
        let heap = InputBuf::from(mapped.to_vec());
        assert_eq!(mapped, heap);
        assert_ne!(InputBuf::from(vec![1]), InputBuf::new());
    }
}
