//! Read pacing, the decision: under load, the next read waits a few tens of microseconds, so that
//! one wakeup takes many datagrams instead of one or two.
//!
//! Why: a receiver woken for every datagram or two spends most of its CPU on the wakeup itself
//! (two `epoll_wait`s, the scheduler, one `recvmmsg`), not on the datagrams. When a read finds
//! several datagrams waiting, they are arriving faster than the loop wakes: the next read then
//! waits [`DELAY`] and one `recvmmsg` takes everything that came meanwhile. With a node:dgram
//! sender at 64 B this cut the receiver's CPU per datagram by about half.
//!
//! Once a read finds fewer than [`BUSY`] datagrams, each datagram is read the moment it arrives:
//! one request in flight (a ping-pong, a DNS query) never waits.
//!
//! Waiting loses nothing as long as what arrives meanwhile fits in the kernel's receive buffer
//! (208 KiB by default), where datagrams also wait while a `'message'` handler runs. So a full
//! read ([`SLOTS`] datagrams) is followed by another at once (up to [`DRAIN`] in a row) before
//! the wait, and a large one ([`MAX_BYTES`]: a GSO sender's batches arrive at gigabytes a second)
//! by no wait at all. Staying paced through full reads matters most when sender and receiver
//! share one core, where every datagram sent would otherwise wake the receiver.
//!
//! The owner carries the decision out (a timer on Node's loop; `crate::owner`).

use std::time::Duration;

use super::ReadSize;
use crate::sys::mmsg::SLOTS;

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

/// Whether to read again at once after `read`, the `reads_so_far`-th read of this wakeup.
pub fn read_again(read: ReadSize, reads_so_far: usize) -> bool {
    read.reads >= SLOTS && reads_so_far < DRAIN
}

/// Whether the next read should wait [`DELAY`]: datagrams arrive faster than the loop wakes,
/// yet slowly enough that [`DELAY`]'s worth of them fits in the receive buffer.
pub fn worth_a_wait(read: ReadSize) -> bool {
    read.reads >= BUSY && read.bytes <= MAX_BYTES
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

    #[test]
    fn full_reads_repeat_a_bounded_number_of_times() {
        assert!(read_again(read(SLOTS, 64 * SLOTS), 1));
        assert!(!read_again(read(SLOTS, 64 * SLOTS), DRAIN));
        assert!(!read_again(read(SLOTS - 1, 64), 1));
    }
}
