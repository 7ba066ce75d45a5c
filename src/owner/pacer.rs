//! Read pacing, carried out (the decision is `crate::recv::pacing`): a busy socket's readable
//! interest is switched off and a timer wakes the reader [`DELAY`] later.
//!
//! The timer is a `timerfd` watched on Node's loop, because libuv's own timers count in
//! milliseconds. It is made the first time a socket is busy; a quiet socket has none.
//!
//! When the timer fires, the read waits for the loop's next iteration (a `uv_prepare_t`, which
//! runs just before the loop polls), instead of happening at once. Why: node:dgram reads a
//! datagram in the iteration after the one in which it arrived, when the loop's poll sees the
//! socket readable. Reading from the timer's callback would also take datagrams that arrived
//! during this same poll phase (sent, say, by another socket's `'message'` handler a moment
//! earlier) and deliver them before this iteration's `setImmediate` callbacks: pacing may delay a
//! datagram, never reorder it against the loop's phases.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::rc::{Rc, Weak};

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

use super::Owner;
use crate::reactor;
use crate::recv::pacing::{self, DELAY};
use crate::recv::ReadSize;
use crate::uv::{self, Poll, PollHandler, Prepare, PrepareHandler};

/// A socket's pacing timer, and the prepare handle that runs the deferred read.
pub(super) struct Pacer {
    // Declared before `timer`: dropped first, so the poll handle stops watching the descriptor
    // before the descriptor closes.
    poll: Poll<Wake>,
    prepare: Prepare<Wake>,
    timer: TimerFd,
    /// Whether the timer is armed (and the socket's readable interest off).
    armed: Cell<bool>,
}

/// The timer's and the prepare handle's target: the owner, weakly (the owner owns its pacer).
struct Wake(Weak<Owner>);

impl PollHandler for Wake {
    fn on_poll(&self, _status: i32, _events: i32) {
        if let Some(owner) = self.0.upgrade() {
            owner.if_pacer(|p| p.prepare.run(true));
        }
    }
}

impl PrepareHandler for Wake {
    fn on_prepare(&self) {
        if let Some(owner) = self.0.upgrade() {
            owner.if_pacer(|p| p.prepare.run(false));
            owner.read_and_pace();
            // Before this iteration polls: the read may have ended the pacing (the socket then
            // waits for readability again), and its handlers may have opened sockets.
            reactor::flush_pending();
        }
    }
}

impl Pacer {
    /// A disarmed timer for `owner`'s socket on its loop.
    fn new(owner: &Owner) -> io::Result<Self> {
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        let fd = timer.as_fd().as_raw_fd();
        let wake = Rc::new(Wake(owner.me.clone()));
        let poll = Poll::new(owner.env, fd, Rc::clone(&wake))?;
        let prepare = Prepare::new(owner.env, wake)?;
        poll.set_ref(owner.has_ref());
        prepare.set_ref(owner.has_ref());
        Ok(Pacer {
            poll,
            prepare,
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

    /// Stops the timer, the deferred read and the watching.
    fn disarm(&self) {
        self.prepare.run(false);
        if self.armed.replace(false) {
            let _ = self.timer.unset();
            self.poll.watch(0);
        }
    }

    /// `ref()` / `unref()`: an armed timer keeps the process alive exactly when the socket would.
    pub(super) fn set_ref(&self, on: bool) {
        self.poll.set_ref(on);
        self.prepare.set_ref(on);
    }
}

impl Owner {
    /// Runs `f` on the pacing timer, made on first use.
    fn with_pacer<R>(&self, f: impl FnOnce(&Pacer) -> io::Result<R>) -> io::Result<R> {
        let mut slot = super::borrow_mut(&self.pacer)?;
        if slot.is_none() {
            if self.closed.get() {
                return Err(io::Error::from_raw_os_error(libc::EBADF));
            }
            *slot = Some(Pacer::new(self)?);
        }
        match slot.as_ref() {
            Some(pacer) => f(pacer),
            None => Err(io::Error::from_raw_os_error(libc::ENOMEM)),
        }
    }

    /// Runs `f` on the pacing timer if there is one.
    pub(super) fn if_pacer(&self, f: impl FnOnce(&Pacer)) {
        if let Ok(slot) = self.pacer.try_borrow() {
            if let Some(pacer) = slot.as_ref() {
                f(pacer);
            }
        }
    }

    /// Whether reads wait for the pacing timer rather than for readability.
    pub(super) fn is_paced(&self) -> bool {
        let mut armed = false;
        self.if_pacer(|p| armed = p.armed.get());
        armed
    }

    /// After a read: waits [`DELAY`] before the next read if datagrams are arriving faster than
    /// the loop wakes, or goes back to reading each one as it arrives.
    pub(super) fn pace(&self, read: ReadSize) {
        let was_armed = self.is_paced();
        let busy = pacing::worth_a_wait(read) && self.is_receiving() && !self.paused.get();
        let armed = busy && self.with_pacer(Pacer::arm).is_ok();
        if !armed {
            self.if_pacer(Pacer::disarm);
        }
        // Changing what the socket's poll watches costs two syscalls: only on a change.
        if armed != was_armed {
            self.update_interest();
        }
    }
}
