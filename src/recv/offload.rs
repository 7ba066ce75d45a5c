//! Receive offload (`UDP_GRO`), the decision: whether a socket should have it on, from its read
//! options and what its last read saw. The one place that decides; both readers (the owner's on
//! Node's loop, the background reader's) carry it out with `crate::sys::gso::set_gro` and report
//! the result back.
//!
//! - Off while `maxMessageSize` is below the full size ([`SLOT_SIZE`]), for good: the kernel
//!   would hand a coalesced batch of small datagrams over as one payload, which the short read
//!   buffer would cut short (the whole batch lost but for its first bytes, flagged truncated).
//! - Otherwise off until a read comes back full ([`SLOTS`] reads: datagrams arrive faster than
//!   they are read), then on. Not on from the start: the kernel's first offload socket (in a
//!   network namespace) turns a static key on, and its last one turns it off, each time
//!   rewriting kernel code on every CPU (tens of µs, more with more CPUs), which a program
//!   opening a socket per query would pay twice per socket.
//! - A kernel that refuses it (no `UDP_GRO`, a Unix socket) is not asked again: datagram by
//!   datagram is just as correct.

use super::ReadSize;
use crate::sys::mmsg::{ReadMode, SLOTS, SLOT_SIZE};

/// One socket's offload state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offload {
    on: bool,
    refused: bool,
}

impl Offload {
    /// Whether offload is on.
    pub fn is_on(self) -> bool {
        self.on
    }

    /// The switch to make now, if any (`Some(true)`: turn it on), given the socket's read
    /// `mode` and its last read (`None` when the options changed, no read).
    pub fn decide(self, mode: ReadMode, read: Option<ReadSize>) -> Option<bool> {
        let wanted = if mode.size() < SLOT_SIZE {
            false
        } else {
            self.on || (!self.refused && read.is_some_and(|r| r.reads >= SLOTS))
        };
        (wanted != self.on).then_some(wanted)
    }

    /// Records the result of switching to `on`: on success the new state; a refused switch on
    /// is not tried again (a refused switch off leaves it on, and the caller reports it).
    pub fn switched(&mut self, on: bool, ok: bool) {
        if ok {
            self.on = on;
        } else if on {
            self.refused = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Option<ReadSize> {
        Some(ReadSize {
            reads: SLOTS,
            datagrams: SLOTS,
            bytes: SLOTS * 100,
        })
    }

    fn part() -> Option<ReadSize> {
        Some(ReadSize {
            reads: 3,
            datagrams: 3,
            bytes: 300,
        })
    }

    fn small(size: usize) -> ReadMode {
        ReadMode {
            size: size as u32,
            ..ReadMode::default()
        }
    }

    #[test]
    fn a_full_read_turns_it_on_and_it_stays_on() {
        let mut o = Offload::default();
        assert_eq!(o.decide(ReadMode::default(), part()), None);
        assert_eq!(o.decide(ReadMode::default(), full()), Some(true));
        o.switched(true, true);
        assert!(o.is_on());
        assert_eq!(o.decide(ReadMode::default(), part()), None);
    }

    #[test]
    fn a_short_max_message_size_pins_it_off() {
        let mut o = Offload::default();
        assert_eq!(o.decide(small(1000), full()), None);
        // Turned on before the option came: the option turns it off.
        o.switched(true, true);
        assert_eq!(o.decide(small(1000), None), Some(false));
        o.switched(false, true);
        assert_eq!(o.decide(small(1000), full()), None);
        // The full size is not a short one.
        assert_eq!(o.decide(small(SLOT_SIZE), full()), Some(true));
    }

    #[test]
    fn a_refusal_is_not_tried_again() {
        let mut o = Offload::default();
        o.switched(true, false);
        assert!(!o.is_on());
        assert_eq!(o.decide(ReadMode::default(), full()), None);
    }

    #[test]
    fn a_refused_switch_off_is_asked_again() {
        let mut o = Offload::default();
        o.switched(true, true);
        o.switched(false, false);
        assert_eq!(o.decide(small(100), None), Some(false));
    }
}
