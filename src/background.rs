//! The helper threads' place beside the event loop: they run on CPU time
//! the loop does not want, without ever being starved of it.
//!
//! Owns: nothing but the scheduling calls. Used by the save and search
//! threads (`persist::worker`), the thread that frees large maps
//! (`store::reclaim`) and the durable log's thread (`persist::wal`).

/// The nice value of helper threads. Under Linux's scheduler a nice-10
/// thread weighs 110 against a normal thread's 1,024: when the loop keeps
/// a core busy, a helper sharing that core still gets about a tenth of it
/// (a save on a single-core host under load finishes, about ten times
/// slower), and a waking loop thread preempts it within one scheduler
/// slice (under a millisecond on this kernel's defaults). `SCHED_IDLE`,
/// used before, weighs 3: a helper behind a busy loop got a third of a
/// percent, and a save of a million keys took minutes.
pub const HELPER_NICE: i32 = 10;

/// Most time a helper thread works before it offers its core to whatever
/// else is runnable there ([`yield_point`]): 0.5 ms. At nice 10 a helper
/// that the scheduler picks runs until the next scheduler tick (4 ms at
/// `HZ=250`) even when the loop is waiting for that core: `perf sched`
/// showed the loop runnable behind the save thread for 1.8–4.4 ms at a
/// time while 200 searches ran (docs/performance.md).
pub const HELPER_RUN_BEFORE_YIELD: std::time::Duration = std::time::Duration::from_micros(500);

thread_local! {
    /// When the calling helper thread last offered its core.
    static LAST_YIELD: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
}

/// Offers the calling thread's core to any other runnable thread if this
/// thread has worked [`HELPER_RUN_BEFORE_YIELD`] since it last did: a
/// `sched_yield`, which returns at once when nothing else waits. For the
/// loops of helper threads (saves, searches), called every few hundred
/// microseconds of work or more often (it reads the clock, about 20 ns).
pub(crate) fn yield_point() {
    let now = std::time::Instant::now();
    LAST_YIELD.with(|last| match last.get() {
        Some(at) if now.saturating_duration_since(at) < HELPER_RUN_BEFORE_YIELD => {}
        Some(_) => {
            std::thread::yield_now();
            last.set(Some(std::time::Instant::now()));
        }
        None => last.set(Some(now)),
    });
}

/// Items a helper thread drops between two [`yield_point`]s in
/// [`drop_in_steps`]: 4,096 entries of a snapshot are 4,096 reference
/// counts released, cache misses most of them, about 0.2–0.4 ms.
const DROP_ITEMS_PER_STEP: usize = 4096;

/// Drops `items` from the end, [`DROP_ITEMS_PER_STEP`] at a time, with a
/// [`yield_point`] between: for a helper thread done with a snapshot of
/// millions of entries, whose release in one piece held its core for
/// milliseconds. Never on the loop.
pub(crate) fn drop_in_steps<T>(mut items: Vec<T>) {
    while !items.is_empty() {
        items.truncate(items.len().saturating_sub(DROP_ITEMS_PER_STEP));
        yield_point();
    }
}

/// The CPUs helper threads run on, when the host pinned the loop's thread
/// to a core of its own ([`set_helper_cpus`]).
static HELPER_CPUS: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();

/// Runs the helper threads started from now on (save, search, freeing, log) on
/// `cpus` instead of the CPUs of the thread that starts them. For a host
/// that pins its loop thread to one core before starting the server:
/// threads inherit their starter's affinity, so the helpers would otherwise
/// share that one core with the loop. Give the CPUs the process may use
/// minus the loop's (`ndb-server` does, with `core` set). Only the first
/// call counts; an empty list changes nothing.
pub fn set_helper_cpus(cpus: Vec<usize>) {
    if !cpus.is_empty() {
        let _ = HELPER_CPUS.set(cpus);
    }
}

/// Lowers the calling thread's CPU priority to [`HELPER_NICE`], and moves
/// it to the helpers' CPUs if [`set_helper_cpus`] named some. `thread`
/// names the thread in the log line of a failure.
#[cfg(target_os = "linux")]
pub(crate) fn lower_priority(thread: &str) {
    // SAFETY: the call changes only the calling thread's own nice value;
    // gettid takes no arguments.
    let lowered = unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::syscall(libc::SYS_gettid) as libc::id_t, HELPER_NICE) == 0
    };
    if !lowered {
        log::debug!("cannot lower the {thread} thread's priority: {}", std::io::Error::last_os_error());
    }
    move_to_helper_cpus(thread);
}

/// Places the durable log's thread (the calling one): on the helpers' CPUs
/// if [`set_helper_cpus`] named some, at the loop's priority (under
/// `fsync always` the loop's replies wait for it), and, when `batch` (the
/// `everysec` and `no` policies, whose frames wait up to 20 ms anyway), in
/// `SCHED_BATCH`: it keeps its fair share of CPU, but no longer preempts the
/// thread running when it wakes. Sharing a core with the loop (a server
/// pinned whole, as `scripts/bench-log.sh` pins it), it had preempted the
/// loop once per hand-over: about 420 times per 2M SETs, 200 in batch
/// (docs/performance.md).
#[cfg(all(target_os = "linux", feature = "log"))]
pub(crate) fn place_log_thread(batch: bool) {
    move_to_helper_cpus("log");
    if batch {
        // SAFETY: an all-zero `sched_param` is valid (priority 0, the only
        // one SCHED_BATCH takes; musl's has more fields, all zero too); the
        // call is a plain system call on the calling thread (pid 0) with a
        // parameter block owned by this frame.
        let rc = unsafe {
            let param: libc::sched_param = std::mem::zeroed();
            libc::sched_setscheduler(0, libc::SCHED_BATCH, &param)
        };
        if rc != 0 {
            log::debug!("cannot put the log thread in SCHED_BATCH: {}", std::io::Error::last_os_error());
        }
    }
}

/// Places the durable log's thread where the OS allows it.
#[cfg(all(not(target_os = "linux"), feature = "log"))]
pub(crate) fn place_log_thread(_batch: bool) {}

/// Moves the calling thread to the helpers' CPUs if [`set_helper_cpus`]
/// named some.
#[cfg(target_os = "linux")]
fn move_to_helper_cpus(thread: &str) {
    let Some(cpus) = HELPER_CPUS.get() else { return };
    // SAFETY: `set` is a plain bit mask owned by this frame; the call only
    // reads it, and 0 names the calling thread.
    let moved = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus.iter().filter(|&&cpu| cpu < libc::CPU_SETSIZE as usize) {
            libc::CPU_SET(cpu, &mut set);
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    };
    if !moved {
        log::debug!("cannot move the {thread} thread to CPUs {cpus:?}: {}", std::io::Error::last_os_error());
    }
}

/// Lowers the calling thread's CPU priority where the OS allows it.
#[cfg(not(target_os = "linux"))]
pub(crate) fn lower_priority(_thread: &str) {
    let _ = HELPER_CPUS.get();
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    #[test]
    fn dropping_in_steps_drops_every_item() {
        let counter = Rc::new(());
        let items: Vec<Rc<()>> = (0..3 * super::DROP_ITEMS_PER_STEP + 7).map(|_| Rc::clone(&counter)).collect();
        assert_eq!(Rc::strong_count(&counter), items.len() + 1);
        super::drop_in_steps(items);
        assert_eq!(Rc::strong_count(&counter), 1);
    }
}
