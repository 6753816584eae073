//! The helper threads' place beside the event loop: they run on CPU time
//! the loop does not want, without ever being starved of it.
//!
//! Owns: nothing but the scheduling call. Used by the save and search
//! threads (`persist::worker`) and the thread that frees large maps
//! (`store::reclaim`).

/// The nice value of helper threads. Under Linux's scheduler a nice-10
/// thread weighs 110 against a normal thread's 1,024: when the loop keeps
/// a core busy, a helper sharing that core still gets about a tenth of it
/// (a save on a single-core host under load finishes, about ten times
/// slower), and a waking loop thread preempts it within one scheduler
/// slice (under a millisecond on this kernel's defaults). `SCHED_IDLE`,
/// used before, weighs 3: a helper behind a busy loop got a third of a
/// percent, and a save of a million keys took minutes.
pub const HELPER_NICE: i32 = 10;

/// Lowers the calling thread's CPU priority to [`HELPER_NICE`]. `thread`
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
}

/// Lowers the calling thread's CPU priority where the OS allows it.
#[cfg(not(target_os = "linux"))]
pub(crate) fn lower_priority(_thread: &str) {}
