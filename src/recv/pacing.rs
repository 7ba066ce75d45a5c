//! Read pacing, the decision: while reads keep coming back full, the next read waits a few tens
//! of microseconds, so that one wakeup takes a full read's worth of datagrams instead of a few.
//!
//! Why: a receiver woken for every datagram or two spends most of its CPU on the wakeup itself
//! (two `epoll_wait`s, the scheduler, one `recvmmsg`), not on the datagrams. Under a flood a
//! short wait lets one `recvmmsg` take [`SLOTS`] datagrams per wakeup.
//!
//! When not to: pacing delays every datagram by up to [`DELAY`]. Pacing on every read of two or
//! more datagrams made request/response traffic with a few requests in flight 2-3× slower than
//! node:dgram (both ends waited up to 50 µs per round trip, and the reads never grew: 3.7
//! datagrams per `recvmmsg` with 4 requests in flight). So the rule follows what pacing gains:
//!
//! - a socket starts pacing only after a **full** read ([`SLOTS`] datagrams: the kernel had at
//!   least that many waiting, so they arrive faster than the loop wakes);
//! - it keeps pacing while each paced read takes at least [`KEEP`] datagrams (the wait gathered
//!   a worthwhile batch), and stops at once when one takes fewer: the next read then happens as
//!   soon as the socket is readable again;
//! - a read of more than [`MAX_BYTES`] is never followed by a wait: at the rate it came in, a
//!   wait could overflow the receive buffer.
//!
//! So a burst of two (or of anything below a full read) is read as it arrives, with no timer,
//! and request/response with up to 31 in flight never waits.
//!
//! Waiting loses nothing as long as what arrives meanwhile fits in the kernel's receive buffer
//! (208 KiB by default), where datagrams also wait while a `'message'` handler runs.
//!
//! The owner carries the decision out through its thread's reactor (one timer per thread;
//! the reactor).

use std::time::Duration;

use super::ReadSize;
use crate::sys::mmsg::SLOTS;

/// How long a paced socket waits before its next read.
pub const DELAY: Duration = Duration::from_micros(50);
/// A paced read of at least this many datagrams keeps the socket paced.
pub const KEEP: usize = SLOTS / 2;
/// A read of more payload than this is not followed by a wait. Two GRO batches (a GSO
/// sender's) are more; 32 datagrams of 1,200 bytes (38 KiB, about 75 KiB of kernel memory) are
/// not.
pub const MAX_BYTES: usize = 64 * 1024;

/// Whether the read after `read` should wait [`DELAY`]; `paced` says whether `read` itself came
/// after a wait.
pub fn worth_a_wait(read: ReadSize, paced: bool) -> bool {
    let needed = if paced { KEEP } else { SLOTS };
    read.reads >= needed && read.bytes <= MAX_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(reads: usize, bytes: usize) -> ReadSize {
        ReadSize {
            reads,
            datagrams: reads,
            bytes,
        }
    }

    #[test]
    fn a_burst_below_a_full_read_is_never_followed_by_a_wait() {
        assert!(!worth_a_wait(read(0, 0), false));
        assert!(!worth_a_wait(read(1, 64), false));
        assert!(!worth_a_wait(read(2, 128), false));
        assert!(!worth_a_wait(read(SLOTS - 1, (SLOTS - 1) * 64), false));
    }

    #[test]
    fn a_full_read_of_small_datagrams_starts_pacing() {
        assert!(worth_a_wait(read(SLOTS, SLOTS * 64), false));
        assert!(worth_a_wait(read(SLOTS, SLOTS * 1200), false));
    }

    #[test]
    fn pacing_lasts_while_the_wait_gathers_enough() {
        assert!(worth_a_wait(read(KEEP, KEEP * 64), true));
        assert!(!worth_a_wait(read(KEEP - 1, 64), true));
        assert!(!worth_a_wait(read(2, 128), true));
    }

    #[test]
    fn a_large_read_is_followed_by_another_at_once() {
        assert!(!worth_a_wait(read(2, 2 * 65_000), true));
        assert!(!worth_a_wait(read(SLOTS, SLOTS * 4096), false));
    }
}
