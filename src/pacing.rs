//! Read pacing: under load, the next read waits a few tens of microseconds, so that one wakeup
//! takes many datagrams instead of one or two.
//!
//! Why: a receiver woken for every datagram or two spends most of its CPU on the wakeup itself
//! (two `epoll_wait`s, the scheduler, one `recvmmsg`), not on the datagrams. When a read finds
//! several datagrams waiting, they are arriving faster than the loop wakes: the socket's readable
//! interest is then switched off and a timer wakes the reader after [`DELAY`], when one
//! `recvmmsg` takes everything that came meanwhile. With a node:dgram sender at 64 B this cut
//! the receiver's CPU per datagram by about half (see the README's benchmark).
//!
//! Once a read finds fewer than [`BUSY`] datagrams, the socket is watched again and each datagram
//! is read the moment it arrives: one request in flight (a ping-pong, a DNS query) never waits.
//!
//! Waiting loses nothing as long as what arrives meanwhile fits in the kernel's receive buffer
//! (208 KiB by default), where datagrams also wait while a `'message'` handler runs. So a full
//! read ([`SLOTS`] datagrams) is followed by another at once (up to [`DRAIN`] in a row) before
//! the wait, and a large one ([`MAX_BYTES`]: a GSO sender's batches arrive at gigabytes a second)
//! by no wait at all.
//!
//! Staying paced through full reads matters most when sender and receiver share one core: there
//! every datagram sent would otherwise wake the receiver, one context switch per datagram (this
//! took the receiver from 3.9 to 2.9 µs of CPU per datagram, node:dgram's being 4.5).
//!
//! The timer is a `timerfd` watched on Node's loop, because libuv's own timers count in
//! milliseconds. It is made the first time a socket is busy; a quiet socket has none.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::rc::{Rc, Weak};
use std::time::Duration;

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

use crate::core::Core;
use crate::mmsg::SLOTS;
use crate::recv::ReadSize;
use crate::uv::{self, Poll, PollHandler};

/// How long a busy socket waits before its next read.
pub const DELAY: Duration = Duration::from_micros(50);
/// A read of at least this many datagrams means they arrive faster than the loop wakes.
pub const BUSY: usize = 2;
/// Reads in a row while they come back full ([`SLOTS`] datagrams each).
pub const DRAIN: usize = 4;
/// A read of more payload than this is not followed by a wait: at the rate it came in, a wait
/// could overflow the receive buffer. Two GRO batches (a GSO sender's) are more; 32 datagrams of
/// 1,200 bytes (38 KiB, about 75 KiB of kernel memory) are not.
pub const MAX_BYTES: usize = 64 * 1024;

/// A socket's pacing timer.
pub struct Pacer {
    // Declared before `timer`: dropped first, so the poll handle stops watching the descriptor
    // before the descriptor closes.
    poll: Poll<Wake>,
    timer: TimerFd,
    /// Whether the timer is armed (and the socket's readable interest off).
    armed: Cell<bool>,
}

/// The timer's poll target: the socket, weakly (the socket owns its pacer).
struct Wake(Weak<Core>);

impl PollHandler for Wake {
    fn on_poll(&self, _status: i32, _events: i32) {
        if let Some(core) = self.0.upgrade() {
            core.on_pace_timer();
        }
    }
}

impl Pacer {
    /// A disarmed timer for `core`'s socket on its loop.
    pub fn new(core: &Core) -> io::Result<Self> {
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        let fd = timer.as_fd().as_raw_fd();
        let poll = Poll::new(core.env, fd, Rc::new(Wake(core.weak())))?;
        poll.set_ref(core.has_ref());
        Ok(Pacer {
            poll,
            timer,
            armed: Cell::new(false),
        })
    }

    /// Arms the timer for one [`DELAY`]. Re-arming also resets an expired timer, so the loop
    /// stops reporting it without a `read`.
    fn arm(&self) -> io::Result<()> {
        self.timer.set(
            Expiration::OneShot(TimeSpec::from_duration(DELAY)),
            TimerSetTimeFlags::empty(),
        )?;
        if !self.armed.replace(true) && self.poll.watch(uv::READABLE) < 0 {
            self.disarm();
            return Err(io::Error::other("cannot watch the pacing timer"));
        }
        Ok(())
    }

    /// Stops the timer and stops watching it.
    pub fn disarm(&self) {
        if self.armed.replace(false) {
            let _ = self.timer.unset();
            self.poll.watch(0);
        }
    }

    /// Whether the socket is waiting for the timer.
    pub fn is_armed(&self) -> bool {
        self.armed.get()
    }

    /// `ref()` / `unref()`: an armed timer keeps the process alive exactly when the socket would.
    pub fn set_ref(&self, on: bool) {
        self.poll.set_ref(on);
    }
}

/// Whether a read shows datagrams arriving faster than the loop wakes, yet slowly enough that
/// [`DELAY`]'s worth of them fits in the receive buffer.
fn worth_a_wait(read: ReadSize) -> bool {
    read.reads >= BUSY && read.bytes <= MAX_BYTES
}

impl Core {
    /// After a read: waits [`DELAY`] before the next read if datagrams are arriving faster than
    /// the loop wakes, or goes back to reading each one as it arrives. After a large read, more
    /// are waiting: read again at once.
    pub(crate) fn pace(&self, read: ReadSize) {
        let was_armed = self.is_paced();
        let busy = worth_a_wait(read) && self.is_receiving();
        let armed = busy && self.with_pacer(Pacer::arm).is_ok();
        if !armed {
            self.if_pacer(Pacer::disarm);
        }
        // Changing what the socket's poll watches costs two syscalls: only on a change.
        if armed != was_armed {
            self.update_interest();
        }
    }

    /// The timer fired: read what came meanwhile, and pace again.
    fn on_pace_timer(&self) {
        self.read_and_pace();
    }

    /// Reads, again at once while reads come back full (at most [`DRAIN`] reads: other handles
    /// on the loop get their turn), then decides when to read next.
    pub(crate) fn read_and_pace(&self) {
        let mut read = ReadSize::default();
        for _ in 0..DRAIN {
            if !self.is_receiving() {
                break;
            }
            read = self.on_readable();
            if read.reads < SLOTS {
                break;
            }
        }
        self.pace(read);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(reads: usize, bytes: usize) -> ReadSize {
        ReadSize { reads, bytes }
    }

    #[test]
    fn a_lone_datagram_is_never_followed_by_a_wait() {
        assert!(!worth_a_wait(read(0, 0)));
        assert!(!worth_a_wait(read(1, 64)));
    }

    #[test]
    fn several_small_datagrams_are() {
        assert!(worth_a_wait(read(2, 128)));
        assert!(worth_a_wait(read(12, 12 * 1200)));
    }

    #[test]
    fn a_full_read_of_small_datagrams_is_too() {
        assert!(worth_a_wait(read(SLOTS, SLOTS * 64)));
        assert!(worth_a_wait(read(SLOTS, SLOTS * 1200)));
    }

    #[test]
    fn a_large_read_is_followed_by_another_at_once() {
        assert!(!worth_a_wait(read(2, 2 * 65_000)));
        assert!(!worth_a_wait(read(17, 17 * 4096)));
    }
}
