//! The helper threads' place beside the event loop: they run on CPU time
//! the loop does not want.
//!
//! Owns: nothing but the scheduling call. Used by the save thread
//! (`persist::worker`) and the thread that frees large maps
//! (`store::reclaim`).

/// Puts the calling thread in Linux's `SCHED_IDLE` class: it runs only on
/// CPU time no other thread wants, and any waking thread of the normal
/// class (the event loop, a client) takes its CPU at once. On a busy
/// machine the helper's work then takes longer instead of delaying replies.
/// If that is refused, it falls back to the lowest normal priority
/// (nice 19). `thread` names the thread in the log line of a failure.
#[cfg(target_os = "linux")]
pub(crate) fn lower_priority(thread: &str) {
    // SAFETY: `param` is a plain C struct owned by this frame, all zeroes
    // (priority 0, the only one SCHED_IDLE takes; musl's has more fields
    // than glibc's, all zero here too); the calls only read it and change the
    // calling thread's own scheduling.
    let lowered = unsafe {
        let param: libc::sched_param = std::mem::zeroed();
        libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_IDLE, &param) == 0
            || libc::setpriority(libc::PRIO_PROCESS, libc::syscall(libc::SYS_gettid) as libc::id_t, 19) == 0
    };
    if !lowered {
        log::debug!("cannot lower the {thread} thread's priority: {}", std::io::Error::last_os_error());
    }
}

/// Lowers the calling thread's CPU priority where the OS allows it.
#[cfg(not(target_os = "linux"))]
pub(crate) fn lower_priority(_thread: &str) {}
