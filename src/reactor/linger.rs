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
//!
//! A core shared with a busy process: there a yield can give that process the core for its
//! whole time slice (1-4 ms in 35 % of 2,000 yields against a busy loop on the VM's core, the
//! rest at once), where a thread that blocked would have had the core back as soon as its
//! datagram came. A client with 2 in flight on such a core ran at 0.14-0.42x node:dgram's
//! requests/s (2026-12-08). So after [`CONTENDED_RUN`] yields in a row (each within
//! [`CONTENDED_GAP`] of the last) that took longer than [`CONTENDED`], lingering goes on without
//! yielding for [`QUIET`], doubled at each such run up to [`QUIET_MAX`], and back to [`QUIET`]
//! once [`QUIET_MAX`] has passed without one: the busy process then gets the core when the
//! scheduler takes it from the thread, its fair share, not at every poll. Lingering itself is not
//! stopped: yields that long also come without a busy process (at a process's start, its
//! compiler threads, pinned to the same core, took 0.3-4 ms at a time), and a side that stops
//! lingering in a ping-pong makes the other side's lingerings miss (its answers come late), until
//! that side stops too: stopping at a single such yield cost a ping-pong 30 % of its rate.

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

/// A yield that took longer than this gave the core to another process for its time slice (a
/// busy loop on the VM's core kept it 2-5 ms at a time), not to a peer that answers (a window of
/// 4 on one core: 0.25-0.45 ms, and longer only while its compiler or collector ran).
pub const CONTENDED: Duration = Duration::from_millis(1);

/// Contended yields in a row that show the core shared with a busy process, each within
/// [`CONTENDED_GAP`] of the one before (a busy process makes them one after another, 0.1-0.3 ms
/// apart, while the thread lingers).
pub const CONTENDED_RUN: u8 = 3;
/// How soon after the one before a contended yield counts as in a row.
pub const CONTENDED_GAP: Duration = Duration::from_millis(5);

/// After a run of contended yields, no yield for this long; doubled at each run, up to
/// [`QUIET_MAX`].
pub const QUIET: Duration = Duration::from_millis(50);

/// The longest pause of yields after contended ones; a run that comes longer than this after the
/// last pause ended pauses for [`QUIET`] again.
pub const QUIET_MAX: Duration = Duration::from_millis(1600);

/// A thread's lingering: whether the loop is lingering now, until when, and whether it has been
/// paying.
#[derive(Debug)]
pub struct Linger {
    /// When the lingering began (its latest answer), and when it ends.
    since: Option<Instant>,
    until: Option<Instant>,
    credit: u8,
    skipped: u8,
    /// The latest contended yield's end, and how many came in a row before it.
    contended_at: Option<Instant>,
    contended: u8,
    /// After a run of contended yields: no yield before this.
    quiet_until: Option<Instant>,
    /// The pause after the next run.
    quiet: Duration,
}

impl Default for Linger {
    fn default() -> Self {
        Linger {
            since: None,
            until: None,
            credit: CREDIT,
            skipped: 0,
            contended_at: None,
            contended: 0,
            quiet_until: None,
            quiet: QUIET,
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

    /// Whether the thread may yield its core at `now` while lingering: not during a pause after
    /// a run of contended yields.
    pub fn may_yield(&self, now: Instant) -> bool {
        self.quiet_until.is_none_or(|q| now >= q)
    }

    /// The thread yielded its core while lingering, from `before` to `after`: the
    /// [`CONTENDED_RUN`]th contended yield in a row pauses yields (see the module's docs).
    pub fn yielded(&mut self, before: Instant, after: Instant) {
        if after.saturating_duration_since(before) <= CONTENDED {
            return;
        }
        let in_a_row = self
            .contended_at
            .is_some_and(|last| before.saturating_duration_since(last) <= CONTENDED_GAP);
        self.contended = if in_a_row { self.contended + 1 } else { 1 };
        self.contended_at = Some(after);
        if self.contended < CONTENDED_RUN {
            return;
        }
        self.contended = 0;
        if self
            .quiet_until
            .is_some_and(|q| after.saturating_duration_since(q) > QUIET_MAX)
        {
            self.quiet = QUIET;
        }
        self.quiet_until = Some(after + self.quiet);
        self.quiet = (self.quiet * 2).min(QUIET_MAX);
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

    /// Contended `CONTENDED_RUN` times in a row, starting at `t`, the next one
    /// `CONTENDED_GAP` after the last; returns when the last ended.
    fn contend(linger: &mut Linger, t: Instant) -> Instant {
        let mut t = t;
        for _ in 0..CONTENDED_RUN {
            assert!(linger.may_yield(t), "yields until the run's last");
            linger.yielded(t, t + CONTENDED * 2);
            t += CONTENDED * 2 + CONTENDED_GAP;
        }
        t - CONTENDED_GAP
    }

    /// Short yields, contended ones alone, or contended ones further apart than `CONTENDED_GAP`
    /// change nothing: a process's own threads make a few a second.
    #[test]
    fn a_few_contended_yields_change_nothing() {
        let mut linger = Linger::default();
        let mut t = Instant::now();
        assert!(linger.begin(t));
        linger.yielded(t, t + CONTENDED);
        for _ in 0..u32::from(CONTENDED_RUN) * 4 {
            linger.yielded(t, t + CONTENDED * 2);
            t += CONTENDED_GAP * 2;
            assert!(linger.may_yield(t));
        }
        assert_eq!(linger.credit, CREDIT);
        assert!(linger.is_on());
    }

    /// A run of `CONTENDED_RUN` contended yields pauses yields for `QUIET`, and leaves lingering
    /// on; a second run pauses them twice as long; after `QUIET_MAX` without one, a run pauses
    /// them for `QUIET` again.
    #[test]
    fn a_run_of_contended_yields_pauses_yields_not_lingering() {
        let mut linger = Linger::default();
        let t = Instant::now();
        assert!(linger.begin(t));
        let end = contend(&mut linger, t);
        assert!(!linger.may_yield(end), "no yield after the run");
        assert!(linger.is_on(), "lingering goes on");
        assert_eq!(linger.credit, CREDIT);
        assert!(!linger.may_yield(end + QUIET / 2));
        assert!(linger.may_yield(end + QUIET), "yields again after QUIET");
        let end = contend(&mut linger, end + QUIET);
        assert!(!linger.may_yield(end + QUIET));
        assert!(
            linger.may_yield(end + QUIET * 2),
            "then after twice as long"
        );
        let later = end + QUIET * 2 + QUIET_MAX * 2;
        let end = contend(&mut linger, later);
        assert!(linger.may_yield(end + QUIET), "long after: QUIET again");
    }

    /// The pause grows no longer than `QUIET_MAX`.
    #[test]
    fn the_pause_after_contended_yields_is_bounded() {
        let mut linger = Linger::default();
        let mut t = Instant::now();
        for _ in 0..20 {
            t = contend(&mut linger, t);
            assert!(!linger.may_yield(t));
            t += linger.quiet.min(QUIET_MAX);
        }
        assert_eq!(linger.quiet, QUIET_MAX);
        assert!(linger.may_yield(t));
    }
}
