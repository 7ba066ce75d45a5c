//! The calling thread's scheduling: asking the kernel for a short time slice.

use std::io;

/// The slice the background reader asks for: the shortest the kernel accepts (0.1 ms).
pub const SHORT_SLICE_NS: u64 = 100_000;

/// Asked for, the scheduler's default slice (`kernel.sched_base_slice_ns`) again.
pub const DEFAULT_SLICE: u64 = 0;

/// Asks the kernel to give the calling thread time slices of `slice_ns` nanoseconds
/// ([`DEFAULT_SLICE`]: the default), keeping its policy, nice value and flags as they are (read
/// first): no privilege needed. Only for the fair policies (`SCHED_OTHER`, `SCHED_BATCH`); a
/// thread the application gave another policy (idle, real-time) is left alone.
///
/// Why: Linux 6.12 and later (the EEVDF scheduler) let a thread that asked for a slice shorter
/// than the running thread's preempt it when it wakes; with the default slice a waking thread can
/// wait out the running one's whole slice (milliseconds). Older kernels ignore the field for the
/// fair policies, which is what happens without this call.
///
/// # Errors
/// The thread's policy is not a fair one (`Unsupported`), or the kernel refuses the request
/// (`ENOSYS` or `EINVAL` where it does not know the calls, `EPERM` under a seccomp filter).
pub fn request_slice(slice_ns: u64) -> io::Result<()> {
    // SAFETY: sched_attr is plain data; all zeros is a valid value of it.
    let mut attr: libc::sched_attr = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::sched_attr>() as u32;
    // SAFETY: sched_getattr(0, &attr, size, 0) writes at most `size` bytes of the calling
    // thread's attributes into `attr`, which is that large and valid for the call.
    let rc = unsafe { libc::syscall(libc::SYS_sched_getattr, 0, &mut attr as *mut _, size, 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let policy = attr.sched_policy as libc::c_int;
    if policy != libc::SCHED_OTHER && policy != libc::SCHED_BATCH {
        return Err(io::ErrorKind::Unsupported.into());
    }
    attr.size = size;
    // Of the flags read, only reset-on-fork is the thread's own setting to keep.
    attr.sched_flags &= libc::SCHED_FLAG_RESET_ON_FORK as u64;
    attr.sched_runtime = slice_ns;
    // SAFETY: sched_setattr(0, &attr, 0) reads `attr` (its `size` says how much) for the calling
    // thread; the pointer is valid for the call.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const _, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The slice the scheduler gives thread `task` of this process (its `/proc/self/task/<tid>`
/// folder), where the kernel shows it (EEVDF's `se.slice`, Linux 6.6 and later, with the
/// scheduler's debug information).
#[cfg(test)]
pub fn slice_of(task: &std::path::Path) -> Option<u64> {
    let sched = std::fs::read_to_string(task.join("sched")).ok()?;
    let line = sched.lines().find(|line| line.starts_with("se.slice"))?;
    line.split(':').nth(1)?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calling thread's policy and, where the kernel shows it, its slice.
    fn policy_and_slice() -> (libc::c_int, Option<u64>) {
        // SAFETY: sched_getscheduler only reads the calling thread's policy.
        let policy = unsafe { libc::sched_getscheduler(0) } & !libc::SCHED_RESET_ON_FORK;
        // SAFETY: gettid only answers the calling thread's id.
        let tid = unsafe { libc::gettid() };
        (policy, slice_of(format!("/proc/self/task/{tid}").as_ref()))
    }

    /// Sets the calling thread's policy (priority 0: the fair and idle ones).
    fn set_policy(policy: libc::c_int) {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: sched_setscheduler reads `param`, valid for the call, for the calling thread.
        assert_eq!(unsafe { libc::sched_setscheduler(0, policy, &param) }, 0);
    }

    #[test]
    fn a_batch_thread_keeps_its_policy_and_an_idle_one_is_left_alone() {
        // Each on a thread of its own: going back from the idle policy may need a privilege.
        std::thread::spawn(|| {
            set_policy(libc::SCHED_BATCH);
            let asked = request_slice(SHORT_SLICE_NS);
            let (policy, slice) = policy_and_slice();
            assert_eq!(policy, libc::SCHED_BATCH, "the policy was changed");
            if asked.is_ok() && slice.is_some_and(|s| s != SHORT_SLICE_NS) {
                eprintln!("this kernel does not give a thread the slice it asks for");
            }
        })
        .join()
        .unwrap();
        std::thread::spawn(|| {
            set_policy(libc::SCHED_IDLE);
            let asked = request_slice(SHORT_SLICE_NS);
            assert_eq!(asked.map_err(|e| e.kind()), Err(io::ErrorKind::Unsupported));
            assert_eq!(policy_and_slice().0, libc::SCHED_IDLE);
        })
        .join()
        .unwrap();
    }
}
