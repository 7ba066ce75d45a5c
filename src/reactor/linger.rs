//! Lingering: after a socket answered what it read (its `'message'` handler sent) and found
//! nothing more to read, the loop keeps polling without blocking for [`LINGER`] before it
//! sleeps, while that has been paying.
//!
//! Why: with a few requests in flight between two processes (request/response with a window of
//! 3 to 5, a DNS-shaped server with a few queries in flight), each side answers what it read in
//! a few microseconds and goes to sleep before the other side's answers come back; each round
//! of the window then costs both sides a wake-up. Where a wake-up is slow (30-35 µs on the
//! project's 2-vCPU VM in its slow phases) that bound the window to 0.51-0.56x node:dgram's
//! requests/s at 4 and 5 in flight (2026-12-08): node:dgram, slower per datagram, was still busy
//! with the last of a round when the first answers came back, and never slept. Polling a little
//! longer keeps both sides awake the same way.
//!
//! What it costs: a loop iteration (a poll that does not block, and a `sched_yield`, so that a
//! peer on the same core gets it) every microsecond or two for at most [`LINGER`], on the thread
//! of a socket that answered. (Without the yield, client and server on one core ran at 1.04-1.35x
//! node:dgram's requests/s for 1-4 in flight, no better than before lingering; with it, 1.21-1.51x.
//! Its price: a process that shares the core with a busy one gives it the core at each poll while
//! lingering; a datagram that comes meanwhile is late, and so a miss.) It pays only where the next datagram comes within [`EARLY`] (the
//! peer was awake: a wake-up costs a thread about that much CPU); a lingering that ends with
//! nothing ready, or with a datagram that came later, is a miss. After [`CREDIT`] misses in a
//! row lingering stops, and is tried again once every [`PROBE`] answers: less than a
//! microsecond per answer then. So a server whose requests come independently of its answers
//! (sparse, or spaced by more than [`EARLY`]) sleeps between them as before, and a peer that
//! sleeps between answers (node:dgram's, or a handler that works long) is not waited for.

use std::time::{Duration, Instant};

/// How long the loop polls without blocking after an answer: above a slow wake-up of the peer
/// and its answer (30-45 µs in the VM's slow phases).
pub const LINGER: Duration = Duration::from_micros(50);

/// A datagram that comes within this of the lingering's start shows the peer awake: lingering
/// paid. Later, it would have woken the thread at less CPU than the polls cost.
pub const EARLY: Duration = Duration::from_micros(20);

/// Misses in a row (lingerings that ended with nothing ready, or with a datagram later than
/// [`EARLY`]) after which lingering stops. Not fewer: a fresh process's first exchanges run before
/// V8 has compiled the handlers, and come late (20 in a row in one trace of a ping-pong between
/// two processes); with 4, both sides had stopped before they were warm, and did not come back
/// (a probe pays only while the other side lingers too, and both then probed alone).
pub const CREDIT: u8 = 32;

/// While lingering is stopped, one answer in this many lingers again, to find out whether it
/// pays again.
pub const PROBE: u8 = 64;

/// A thread's lingering: whether the loop is lingering now, until when, and whether it has been
/// paying.
#[derive(Debug)]
pub struct Linger {
    /// When the lingering began (its latest answer), and when it ends.
    since: Option<Instant>,
    until: Option<Instant>,
    credit: u8,
    skipped: u8,
}

impl Default for Linger {
    fn default() -> Self {
        Linger {
            since: None,
            until: None,
            credit: CREDIT,
            skipped: 0,
        }
    }
}

impl Linger {
    /// A socket answered and found nothing more to read, at `now`: whether to linger (until
    /// `now` + [`LINGER`]).
    pub fn begin(&mut self, now: Instant) -> bool {
        if self.credit == 0 {
            self.skipped = self.skipped.saturating_add(1);
            if self.skipped < PROBE {
                return false;
            }
            self.skipped = 0;
        }
        let until = now + LINGER;
        self.until = Some(self.until.map_or(until, |u| u.max(until)));
        self.since = Some(now);
        true
    }

    /// The loop is about to poll, at `now`: whether it should not block (still lingering). A
    /// lingering that ran out with nothing ready is a miss.
    pub fn keep(&mut self, now: Instant) -> bool {
        match self.until {
            Some(until) if now < until => true,
            Some(_) => {
                self.until = None;
                self.since = None;
                self.credit = self.credit.saturating_sub(1);
                false
            }
            None => false,
        }
    }

    /// Something became ready at `now`: lingering (if any) ends (the delivery that follows
    /// lingers again if it answers); it paid if that came within [`EARLY`].
    pub fn hit(&mut self, now: Instant) {
        if self.until.take().is_none() {
            return;
        }
        let early = self
            .since
            .take()
            .is_some_and(|since| now.saturating_duration_since(since) <= EARLY);
        if early {
            self.credit = CREDIT;
            self.skipped = 0;
        } else {
            self.credit = self.credit.saturating_sub(1);
        }
    }

    /// Whether the loop is lingering.
    pub fn is_on(&self) -> bool {
        self.until.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer lingers for [`LINGER`]; a hit ends it; its end with nothing ready is a miss.
    #[test]
    fn an_answer_lingers_until_something_comes_or_the_time_is_up() {
        let mut linger = Linger::default();
        let t = Instant::now();
        assert!(!linger.keep(t), "nothing to linger for before an answer");
        assert!(linger.begin(t));
        assert!(linger.keep(t + EARLY));
        linger.hit(t + EARLY);
        assert!(!linger.is_on());
        assert!(!linger.keep(t + EARLY), "a hit ends it");
        assert_eq!(linger.credit, CREDIT, "an early hit paid");
        assert!(linger.begin(t));
        assert!(!linger.keep(t + LINGER), "the time is up");
        assert_eq!(linger.credit, CREDIT - 1, "nothing came: a miss");
        assert!(linger.begin(t));
        linger.hit(t + EARLY * 2);
        assert!(!linger.is_on());
        assert_eq!(linger.credit, CREDIT - 2, "a late hit is a miss");
    }

    /// Misses in a row stop lingering; then one answer in [`PROBE`] lingers; a hit restores it.
    #[test]
    fn lingering_that_does_not_pay_stops_and_is_probed() {
        let mut linger = Linger::default();
        let mut t = Instant::now();
        for _ in 0..CREDIT {
            assert!(linger.begin(t));
            t += LINGER;
            assert!(!linger.keep(t));
        }
        let lingered = (0..u32::from(PROBE) * 2)
            .filter(|_| {
                let on = linger.begin(t);
                t += LINGER;
                linger.keep(t);
                on
            })
            .count();
        assert_eq!(lingered, 2, "one answer in PROBE");
        assert!(!linger.begin(t));
        // A probe that pays brings lingering back for every answer.
        for _ in 0..PROBE {
            linger.begin(t);
        }
        assert!(linger.is_on());
        linger.hit(t);
        assert_eq!(linger.credit, CREDIT);
        assert!(linger.begin(t));
        linger.hit(t);
        assert!(linger.begin(t));
    }
}
