//! The send queue's wait when writability cannot be trusted (`crate::send::backoff` says when
//! and why): a flush after a writable report that takes nothing waits on the thread's timer
//! (the reactor's pacing timer) instead of on writability, and the first flush that takes
//! something goes back to writability.

use super::Owner;
use crate::send::backoff;

impl Owner {
    /// Flushes the queue (the socket reported writable, or the wait is over) and decides how
    /// the queue waits next.
    pub(super) fn flush_queue_when_writable(&self) {
        let progressed = self.flush_queue();
        let waiting = self
            .sender
            .try_borrow()
            .map(|s| s.waiting() > 0)
            .unwrap_or(false);
        let wait = if progressed || !waiting {
            None
        } else {
            let wait = backoff::next(self.backoff());
            // No timer (no descriptor left, say): writability again, busy as it may be.
            self.watch
                .try_borrow()
                .ok()
                .and_then(|w| w.as_ref().map(|w| w.pace(wait).is_ok()))
                .unwrap_or(false)
                .then_some(wait)
        };
        let before = self
            .sender
            .try_borrow_mut()
            .map(|mut s| s.replace_backoff(wait))
            .unwrap_or(wait);
        if wait != before {
            self.update_interest();
        }
    }

    /// How long the send queue waits before its next try (`None`: it waits for writability).
    pub(super) fn backoff(&self) -> Option<std::time::Duration> {
        self.sender.try_borrow().ok().and_then(|s| s.backoff())
    }
}
