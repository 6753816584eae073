//! Freeing large structures off the event loop.
//!
//! Owns: the `ndb-free` thread and the channel to it. Dropping a map of a
//! million keys frees a million allocations, about 35 ms; a million
//! sessions holding keys, most of a second. That is work no client is
//! waiting for, so `KV_CLEAR`, `KV_CLEAR_SET`, `SH_END_ALL` and the end or
//! expiry of a session with many keys hand what they remove to
//! [`free`], which passes anything holding more than [`INLINE_MAX`]
//! allocations to a thread of its own that drops it (as Redis's `lazyfree`
//! does). Smaller things are dropped at once, where the cost is less than
//! the hand-over. A key map's old hash index, left behind when a resize
//! ends, is one allocation but up to hundreds of MiB of pages to unmap: it
//! goes by size ([`free_bytes`]).
//!
//! The thread is started on first use and shared by every store in the
//! process; it holds nothing but what it is given, drops it in order, and
//! lives as long as the process. Like the save thread it runs at idle
//! priority, so freeing never takes CPU time from the loop. If it cannot be started, or has gone,
//! things are dropped where they are: slower, never lost or leaked.
//!
//! Must not touch: anything a client can see. What is handed over has
//! already left the store, so a reply never depends on whether it has been
//! freed yet.

use std::sync::OnceLock;
use std::sync::mpsc::{self, Sender};

/// The most allocations a structure may hold and still be dropped where it
/// is: about 0.1 ms of `free`s.
pub const INLINE_MAX: usize = 4_096;

/// The most bytes of one large allocation (a hash index) that may be given
/// back where it is: 1 MiB. Giving back memory costs by the page (256 here,
/// about 50 µs for the kernel to unmap), not by the allocation: an index of
/// 32 MiB takes milliseconds.
pub const INLINE_MAX_BYTES: usize = 1 << 20;

/// Anything the thread can drop.
type Garbage = Box<dyn Send>;

/// The channel to the thread; `None` once starting it failed.
static THREAD: OnceLock<Option<Sender<Garbage>>> = OnceLock::new();

/// Drops `garbage`, which holds about `allocations` heap allocations: here
/// when that is at most [`INLINE_MAX`], otherwise on the `ndb-free` thread.
pub fn free<T: Send + 'static>(garbage: T, allocations: usize) {
    if allocations <= INLINE_MAX {
        return;
    }
    hand_over(Box::new(garbage));
}

/// Drops `garbage`, a few allocations of `bytes` in all: here when that is
/// at most `INLINE_MAX_BYTES`, otherwise on the `ndb-free` thread.
pub fn free_bytes<T: Send + 'static>(garbage: T, bytes: usize) {
    if bytes <= INLINE_MAX_BYTES {
        return;
    }
    hand_over(Box::new(garbage));
}

/// Sends `garbage` to the thread, or drops it here if there is none.
fn hand_over(garbage: Garbage) {
    let Some(sender) = THREAD.get_or_init(start) else { return };
    // A send fails only if the thread is gone; the garbage comes back and
    // is dropped here.
    drop(sender.send(garbage));
}

/// Starts the thread; `None` (and a log line) if it cannot be started.
fn start() -> Option<Sender<Garbage>> {
    let (sender, receiver) = mpsc::channel::<Garbage>();
    let started = std::thread::Builder::new().name("ndb-free".into()).spawn(move || {
        crate::background::lower_priority("ndb-free");
        for garbage in receiver {
            drop(garbage);
        }
    });
    match started {
        Ok(_) => Some(sender),
        Err(e) => {
            log::warn!("cannot start the thread that frees large maps; they are freed on the loop: {e}");
            None
        }
    }
}

/// Blocks until everything handed to the thread before this call has been
/// dropped (for tests that count memory).
#[cfg(test)]
pub fn settle() {
    /// Signals when dropped, i.e. when the thread reaches it.
    struct Marker(Sender<()>);
    impl Drop for Marker {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
    let (sender, receiver) = mpsc::channel();
    hand_over(Box::new(Marker(sender)));
    let _ = receiver.recv();
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Counts its drops, and on which thread they happened.
    struct Counted {
        drops: Arc<AtomicUsize>,
        off_thread: Arc<AtomicUsize>,
        owner: std::thread::ThreadId,
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
            if std::thread::current().id() != self.owner {
                self.off_thread.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    fn counted(n: usize) -> (Vec<Counted>, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let drops = Arc::new(AtomicUsize::new(0));
        let off_thread = Arc::new(AtomicUsize::new(0));
        let owner = std::thread::current().id();
        let items =
            (0..n).map(|_| Counted { drops: Arc::clone(&drops), off_thread: Arc::clone(&off_thread), owner }).collect();
        (items, drops, off_thread)
    }

    #[test]
    fn small_things_are_dropped_at_once_here() {
        let (items, drops, off_thread) = counted(10);
        free(items, 10);
        assert_eq!(drops.load(Ordering::SeqCst), 10);
        assert_eq!(off_thread.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn large_things_are_dropped_on_the_thread_in_full() {
        let n = INLINE_MAX + 1;
        let (items, drops, off_thread) = counted(n);
        free(items, n);
        settle();
        assert_eq!(drops.load(Ordering::SeqCst), n);
        assert_eq!(off_thread.load(Ordering::SeqCst), n);
    }
}
