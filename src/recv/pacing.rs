//! Read pacing, the decision: while datagrams keep arriving faster than the loop wakes, the next
//! read waits a few tens of microseconds, so that one wakeup takes several datagrams, up to a
//! full read's worth, instead of one or two.
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
//! That alone left one case unpaced: a one-way stream from a sender that is fast but not fast
//! enough to fill a read. A node:dgram sender at 160 k datagrams/s across cores gives the
//! receiver reads of 1-3 datagrams, one wakeup each, never 32: the receiver's CPU per datagram
//! went from 0.43× node:dgram's (when every read of 2 or more paced) to 1.00×. So, besides full
//! reads, a socket also paces when its traffic is **one-way and fast**:
//!
//! - **one-way**: the socket sent nothing since its previous read. Request/response (either
//!   end) sends between its reads, and there a wait only delays the round trip: the next
//!   requests do not come until the replies have gone, so a wait gathers at most the window
//!   (bench/reqresp.js windows 2-8 measured 0.39-0.58× node:dgram's requests/s when every read
//!   of two or more paced). A one-way sender does not wait for the receiver, so what arrives
//!   during the wait is the sender's rate × [`DELAY`], whatever the receiver does;
//! - **fast**: the last [`WINDOW`] datagrams arrived at [`GATHER`] or more per [`DELAY`] (80 k/s),
//!   so a wait gathers a read of [`GATHER`] or more instead of one wakeup per datagram or two;
//! - it keeps pacing while a paced read takes [`KEEP_ONE_WAY`] or more and the socket still
//!   sends nothing; below that (or on a send) it stops at once, and measures a new window.
//!
//! So a burst of two (or of anything below a full read) is read as it arrives, with no timer,
//! as is any stream slower than [`GATHER`] per [`DELAY`] (500 sockets × 10 datagrams/s arriving
//! in pairs: no timer, no extra syscall), and request/response with up to 31 in flight never
//! waits. The one-way rule reads the clock only on unpaced reads of a socket that sends nothing.
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
/// One-way traffic paces when a wait of [`DELAY`] would gather at least this many datagrams,
/// and keeps pacing while paced reads take this many: four datagrams per wakeup instead of one
/// or two is most of what pacing saves (the wakeup costs about as much as three datagrams'
/// reads and calls).
pub const GATHER: usize = 4;
/// A paced one-way read of at least this many datagrams keeps the socket paced: fewer than the
/// [`GATHER`] that starts it, so that a rate near the threshold does not flap in and out (with
/// [`GATHER`] to keep, a node:dgram sender at 86 k/s got 9,200 timer arms for 173 k datagrams,
/// 2.1 per read), and still more than the one or two per wakeup of reading as they arrive.
pub const KEEP_ONE_WAY: usize = GATHER - 1;
/// A one-way read of more payload than this neither starts nor keeps pacing. The one-way rule
/// saves wakeups per datagram; a stream that brings this much per read gains little from fewer
/// wakeups, and at its rate a wait could gather much of the receive buffer: GRO batches of a GSO
/// sender's 1,200-byte datagrams (64 KiB a read, 3 M datagrams/s) were paced by the rule and
/// lost 21 % to the kernel, against 4-6 % read as they came (bench/run.js, rs-batch rows).
pub const ONE_WAY_MAX_BYTES: usize = 16 * 1024;
/// How many datagrams the one-way rule measures the arrival rate over.
pub const WINDOW: u32 = SLOTS as u32;

/// A socket's recent reads, for the one-way rule: a few bytes per socket, no descriptor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Arrivals {
    /// When the current window began, in microseconds of a wrapping clock.
    since_us: u32,
    /// Datagrams read in the window since it began (1 more, saturating); 0: no window yet.
    datagrams: u16,
    /// The socket's count of datagrams sent at its previous read, its low 16 bits: only whether
    /// it changed matters (65,536 sends between two reads look like none: one wait, at worst).
    /// Small, as every socket has one.
    sent: u16,
}

/// One read, as the decision sees it.
#[derive(Clone, Copy, Debug)]
pub struct Read {
    pub size: ReadSize,
    /// Whether the read came after a wait.
    pub paced: bool,
    /// The socket's count of datagrams sent so far (low 32 bits); `None` if it could not be
    /// read, taken as "it sent".
    pub sent: Option<u32>,
}

/// Whether the read after `read` should wait [`DELAY`]. `arrivals` is the socket's state for the
/// one-way rule; `now_us` (a wrapping microsecond clock) is called only when that rule needs it.
pub fn worth_a_wait(read: Read, arrivals: &mut Arrivals, now_us: impl FnOnce() -> u32) -> bool {
    let size = read.size;
    // Truncated on purpose (see `Arrivals::sent`).
    let sent = read.sent.map(|sent| sent as u16);
    let one_way = sent == Some(arrivals.sent);
    if let Some(sent) = sent {
        arrivals.sent = sent;
    }
    if size.bytes > MAX_BYTES {
        arrivals.datagrams = 0;
        return false;
    }
    if read.paced {
        let one_way_kept =
            one_way && size.datagrams >= KEEP_ONE_WAY && size.bytes <= ONE_WAY_MAX_BYTES;
        if size.reads >= KEEP || one_way_kept {
            return true;
        }
        arrivals.datagrams = 0;
        return false;
    }
    if size.reads >= SLOTS {
        return true;
    }
    if !one_way || size.datagrams == 0 || size.bytes > ONE_WAY_MAX_BYTES {
        arrivals.datagrams = 0;
        return false;
    }
    let now = now_us();
    if arrivals.datagrams == 0 {
        // The window begins after this read: what this read took arrived before `now`.
        *arrivals = Arrivals {
            since_us: now,
            datagrams: 1,
            ..*arrivals
        };
        return false;
    }
    let datagrams = u16::try_from(size.datagrams).unwrap_or(u16::MAX);
    arrivals.datagrams = arrivals.datagrams.saturating_add(datagrams);
    if u32::from(arrivals.datagrams) <= WINDOW {
        return false;
    }
    // `datagrams - 1`: the window's first read is not counted (see above).
    let counted = u64::from(arrivals.datagrams - 1);
    let elapsed = u64::from(now.wrapping_sub(arrivals.since_us));
    arrivals.datagrams = 0;
    // Fast: `counted` datagrams in `elapsed` µs is GATHER or more per DELAY.
    elapsed * GATHER as u64 <= counted * DELAY.as_micros() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(reads: usize, bytes: usize) -> ReadSize {
        ReadSize {
            reads,
            datagrams: reads,
            bytes,
        }
    }

    /// One read of `reads` datagrams of 64 bytes by a socket that has sent `sent` datagrams,
    /// at `at` µs; whether it is followed by a wait.
    fn step(arrivals: &mut Arrivals, reads: usize, paced: bool, sent: u32, at: u32) -> bool {
        let read = Read {
            size: size(reads, reads * 64),
            paced,
            sent: Some(sent),
        };
        worth_a_wait(read, arrivals, || at)
    }

    /// Unpaced reads of `per_read` datagrams every `gap` µs from `at` on, sending `sends` per
    /// read; the index of the first read followed by a wait, if any within `reads` reads.
    fn stream(per_read: usize, gap: u32, sends: u32, reads: u32) -> Option<u32> {
        let mut arrivals = Arrivals::default();
        (0..reads).find(|&i| step(&mut arrivals, per_read, false, i * sends, 1000 + i * gap))
    }

    fn worth(reads: usize, bytes: usize, paced: bool) -> bool {
        let read = Read {
            size: size(reads, bytes),
            paced,
            sent: None,
        };
        worth_a_wait(read, &mut Arrivals::default(), || 0)
    }

    #[test]
    fn a_burst_below_a_full_read_is_never_followed_by_a_wait() {
        assert!(!worth(0, 0, false));
        assert!(!worth(1, 64, false));
        assert!(!worth(2, 128, false));
        assert!(!worth(SLOTS - 1, (SLOTS - 1) * 64, false));
        // Nor by a one-way socket's first reads: one read says nothing about a rate.
        let mut arrivals = Arrivals::default();
        assert!(!step(&mut arrivals, 2, false, 0, 0));
        assert!(!step(&mut arrivals, SLOTS - 1, false, 0, 1));
    }

    #[test]
    fn a_full_read_of_small_datagrams_starts_pacing() {
        assert!(worth(SLOTS, SLOTS * 64, false));
        assert!(worth(SLOTS, SLOTS * 1200, false));
    }

    #[test]
    fn pacing_lasts_while_the_wait_gathers_enough() {
        assert!(worth(KEEP, KEEP * 64, true));
        assert!(!worth(KEEP - 1, 64, true));
        assert!(!worth(2, 128, true));
    }

    #[test]
    fn a_large_read_is_followed_by_another_at_once() {
        assert!(!worth(2, 2 * 65_000, true));
        assert!(!worth(SLOTS, SLOTS * 4096, false));
    }

    #[test]
    fn a_fast_one_way_stream_paces_though_no_read_is_full() {
        // node:dgram's sender across cores: 160 k/s, the receiver reading one or two per wakeup.
        assert_eq!(stream(1, 6, 0, 100), Some(WINDOW));
        assert_eq!(stream(2, 12, 0, 100), Some(WINDOW / 2));
        // Just at GATHER per DELAY (80 k/s), and just below it.
        assert!(stream(1, 12, 0, 200).is_some());
        assert_eq!(stream(1, 13, 0, 200), None);
    }

    #[test]
    fn a_one_way_stream_of_large_reads_never_paces() {
        // GRO batches of 54 datagrams of 1,200 bytes, one a read, every 20 µs.
        let gro = |arrivals: &mut Arrivals, paced: bool, at: u32| {
            let read = Read {
                size: ReadSize {
                    reads: 1,
                    datagrams: 54,
                    bytes: 54 * 1200,
                },
                paced,
                sent: Some(0),
            };
            worth_a_wait(read, arrivals, || at)
        };
        let mut arrivals = Arrivals::default();
        assert_eq!((0..200).find(|&i| gro(&mut arrivals, false, i * 20)), None);
        // Nor does such a read keep a paced socket waiting.
        assert!(!gro(&mut arrivals, true, 5000));
        // Datagrams of 4 KiB at 160 k/s, one or two a read: still paced.
        let mut arrivals = Arrivals::default();
        let small = |arrivals: &mut Arrivals, at: u32| {
            let read = Read {
                size: ReadSize {
                    reads: 1,
                    datagrams: 1,
                    bytes: 4096,
                },
                paced: false,
                sent: Some(0),
            };
            worth_a_wait(read, arrivals, || at)
        };
        assert!((0..200).any(|i| small(&mut arrivals, i * 6)));
    }

    #[test]
    fn a_socket_that_sends_between_reads_paces_only_on_full_reads() {
        // Request/response, either end: as fast as the stream above, never paced.
        assert_eq!(stream(1, 6, 1, 200), None);
        assert_eq!(stream(4, 6, 4, 200), None);
        assert_eq!(stream(SLOTS - 1, 6, 1, 200), None);
        let mut arrivals = Arrivals::default();
        assert!(step(&mut arrivals, SLOTS, false, 7, 0));
    }

    #[test]
    fn a_slow_stream_never_paces() {
        // 500 sockets × 10 datagrams/s in pairs: one socket reads 2 every 100 ms.
        assert_eq!(stream(2, 100_000, 0, 1000), None);
        // A burst of 2 every millisecond (__test__/pacing.test.js).
        assert_eq!(stream(2, 1000, 0, 1000), None);
    }

    #[test]
    fn one_way_pacing_lasts_while_each_wait_gathers_enough_and_nothing_is_sent() {
        let mut arrivals = Arrivals::default();
        assert_eq!(
            (0..=WINDOW).find(|&i| step(&mut arrivals, 1, false, 0, i * 6)),
            Some(WINDOW)
        );
        assert!(step(&mut arrivals, GATHER, true, 0, 0));
        assert!(step(&mut arrivals, 8, true, 0, 0));
        assert!(step(&mut arrivals, KEEP_ONE_WAY, true, 0, 0));
        // Fewer than KEEP_ONE_WAY: the wait did not pay.
        assert!(!step(&mut arrivals, KEEP_ONE_WAY - 1, true, 0, 0));
        // A send ends it too, as it would for request/response.
        let mut arrivals = Arrivals::default();
        (0..=WINDOW).for_each(|i| {
            step(&mut arrivals, 1, false, 0, i * 6);
        });
        assert!(!step(&mut arrivals, 8, true, 1, 0));
        // And the rate is measured anew afterwards.
        assert!(!step(&mut arrivals, 1, false, 1, 1000));
        assert!(!step(&mut arrivals, 1, false, 1, 1006));
    }

    #[test]
    fn the_clock_wraps() {
        let mut arrivals = Arrivals::default();
        let start = u32::MAX - 100;
        let paced =
            (0..=WINDOW).find(|&i| step(&mut arrivals, 1, false, 0, start.wrapping_add(i * 6)));
        assert_eq!(paced, Some(WINDOW));
    }

    #[test]
    fn the_clock_is_read_only_by_the_one_way_rule() {
        let read = |reads: usize, paced: bool, sent: u32| Read {
            size: size(reads, reads * 64),
            paced,
            sent: Some(sent),
        };
        let mut arrivals = Arrivals::default();
        worth_a_wait(read(1, false, 0), &mut arrivals, || 0);
        let no_clock = || -> u32 { panic!("clock read") };
        // Sent since, paced, full, empty: no clock.
        worth_a_wait(read(1, false, 1), &mut arrivals, no_clock);
        worth_a_wait(read(4, true, 1), &mut arrivals, no_clock);
        worth_a_wait(read(SLOTS, false, 1), &mut arrivals, no_clock);
        worth_a_wait(read(0, false, 1), &mut arrivals, no_clock);
    }
}
