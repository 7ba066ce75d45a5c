//! Read pacing, carried out (the decision is `crate::recv::pacing`): a paced socket's readable
//! interest is switched off and the thread's reactor gives it a turn [`DELAY`] later, through
//! the one pacing timer of the thread (a `timerfd` in the reactor's epoll set, because libuv's
//! own timers count in milliseconds). A socket holds nothing for pacing but a few bytes of
//! recent-read state (`pacing::Arrivals`): no descriptor, no handle; the thread's timer is made
//! the first time any of its sockets paces.
//!
//! The paced read happens at the start of the loop iteration after the timer fires (the
//! reactor's prepare), not in the timer's own poll phase. Why: node:dgram reads a datagram in
//! the iteration after the one in which it arrived, when the loop's poll sees the socket
//! readable. Reading from the timer's event would also take datagrams that arrived during this
//! same poll phase (sent, say, by another socket's `'message'` handler a moment earlier) and
//! deliver them before this iteration's `setImmediate` callbacks: pacing may delay a datagram,
//! never reorder it against the loop's phases.

use std::sync::OnceLock;
use std::time::Instant;

use super::Owner;
use crate::recv::pacing::{self, DELAY};
use crate::recv::ReadSize;

/// Microseconds since the first call, wrapping (the one-way rule compares times a few hundred
/// microseconds apart: `crate::recv::pacing`).
fn now_us() -> u32 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    // Truncated on purpose: a wrapping clock, read with wrapping_sub.
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u32
}

impl Owner {
    /// Whether reads wait for the pacing turn rather than for readability.
    pub(super) fn is_paced(&self) -> bool {
        self.paced.get()
    }

    /// The pacing turn came: the read it waited for.
    pub(super) fn paced_turn(&self) {
        if !self.paced.replace(false) {
            return;
        }
        if self.is_receiving() && !self.paused.get() {
            self.after_wait.set(true);
            // This iteration's delivery for the socket is the paced read's: if pacing ends
            // here, readiness is watched again from the next iteration on (`Owner::resting`).
            self.resting.set(true);
            self.read_and_pace();
            if !self.is_paced() && !self.has_backlog() && self.is_receiving() {
                self.request_turn();
                return;
            }
            self.resting.set(false);
        }
        self.update_interest();
    }

    /// After a read: waits [`DELAY`] before the next read while pacing pays (see
    /// `crate::recv::pacing`), or goes back to reading each datagram as it arrives.
    pub(super) fn pace(&self, read: ReadSize) {
        let after_wait = self.after_wait.replace(false);
        let was_paced = self.paced.get();
        // Whether the socket sent since its last read (the one-way rule): the low 32 bits of its
        // count are enough to tell.
        let sent = self.sender.try_borrow().ok().map(|s| s.sent().0 as u32);
        let mut arrivals = self.arrivals.get();
        let worth = pacing::worth_a_wait(
            pacing::Read {
                size: read,
                paced: after_wait,
                sent,
            },
            &mut arrivals,
            now_us,
        );
        self.arrivals.set(arrivals);
        let wait = worth
            && self.is_receiving()
            && !self.paused.get()
            && self
                .watch
                .try_borrow()
                .ok()
                .and_then(|w| w.as_ref().map(|w| w.pace(DELAY).is_ok()))
                .unwrap_or(false);
        self.paced.set(wait);
        // Changing what the socket's poll watches costs syscalls: only on a change.
        if wait != was_paced || after_wait {
            self.update_interest();
        }
    }
}
