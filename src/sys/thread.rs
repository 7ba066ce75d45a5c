//! The calling thread's scheduling: asking the kernel for a short time slice.

use std::io;

/// The slice the background reader asks for: the shortest the kernel accepts (0.1 ms).
pub const SHORT_SLICE_NS: u64 = 100_000;

/// Asked for, the scheduler's default slice (`kernel.sched_base_slice_ns`) again.
pub const DEFAULT_SLICE: u64 = 0;

/// Asks the kernel to give the calling thread time slices of `slice_ns` nanoseconds
/// ([`DEFAULT_SLICE`]: the default), at its usual priority (`SCHED_OTHER`, nice unchanged: no
/// privilege needed).
///
/// Why: Linux 6.12 and later (the EEVDF scheduler) let a thread that asked for a slice shorter
/// than the running thread's preempt it when it wakes; with the default slice a waking thread can
/// wait out the running one's whole slice (milliseconds). Older kernels keep the default slice
/// for `SCHED_OTHER` threads, which is what happens without this call.
///
/// # Errors
/// The kernel refuses the request (`ENOSYS`, `EINVAL` on kernels that do not know the call or
/// the field, `EPERM` under a seccomp filter).
pub fn request_slice(slice_ns: u64) -> io::Result<()> {
    // SAFETY: sched_attr is plain data; all zeros is a valid value of it (policy SCHED_OTHER).
    let mut attr: libc::sched_attr = unsafe { std::mem::zeroed() };
    attr.size = std::mem::size_of::<libc::sched_attr>() as u32;
    attr.sched_policy = libc::SCHED_OTHER as u32;
    attr.sched_runtime = slice_ns;
    // The nice value is part of the request: keep the thread's own.
    // SAFETY: getpriority only reads; errno tells an error apart from -1, which nice can be.
    attr.sched_nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    // SAFETY: sched_setattr(0, &attr, 0) reads `attr` (its `size` says how much) for the calling
    // thread; the pointer is valid for the call.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const _, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
