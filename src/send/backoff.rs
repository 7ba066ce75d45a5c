//! How long a sender waits before trying its queue again when the socket said "writable" and
//! still took nothing.
//!
//! An unconnected Unix datagram socket is always reported writable: its own buffer has room,
//! and the kernel cannot know which receiver the next datagram is for. A send to a full
//! receiver (whose queue holds `net.unix.max_dgram_qlen` datagrams, 10 by default) then fails
//! with `EAGAIN` however often it is tried, and waiting on writability tried it as fast as the
//! loop could turn: a whole core while the receiver was busy. So a flush that takes nothing
//! after a writable report waits on a timer instead, doubling from [`FIRST`] up to [`LONGEST`],
//! and goes back to writability as soon as a flush takes something. A connected socket, or a
//! UDP socket, reports writability truly and never gets here.

use std::time::Duration;

/// The first wait: the receive pacing delay, short enough that a receiver that drains at once
/// loses little.
pub const FIRST: Duration = Duration::from_micros(50);
/// The longest wait: about 100 tries a second while a receiver stays full.
pub const LONGEST: Duration = Duration::from_millis(10);

/// The wait after `previous` (none: the first).
pub fn next(previous: Option<Duration>) -> Duration {
    match previous {
        None => FIRST,
        Some(wait) => (wait * 2).min(LONGEST),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves the waits double from the first to the longest and stay there.
    #[test]
    fn waits_double_up_to_the_longest() {
        let mut wait = next(None);
        assert_eq!(wait, FIRST);
        let mut seen = vec![wait];
        for _ in 0..20 {
            wait = next(Some(wait));
            seen.push(wait);
        }
        assert_eq!(seen[1], FIRST * 2);
        assert!(seen.windows(2).all(|w| w[1] >= w[0] && w[1] <= LONGEST));
        assert_eq!(*seen.last().unwrap(), LONGEST);
    }
}
