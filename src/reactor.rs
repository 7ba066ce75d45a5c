//! One readiness watcher per JS thread: the thread's sockets in a private epoll set, whose own
//! descriptor is the only thing watched on Node's loop (one `uv_poll_t`).
//!
//! Why not a `uv_poll_t` per socket: libuv's poll handle costs five system calls over the life of
//! a socket that node:dgram's `uv_udp_t` does not make (it checks the descriptor by adding it to
//! the loop's epoll set and removing it, sets `O_NONBLOCK` again, and removes it at start and at
//! close), plus an allocation and a close callback. A program that opens a socket per query paid
//! them all. Here a socket's registration follows libuv's own watchers:
//!
//! - it reaches the kernel only when the loop is about to poll (a `uv_prepare_t` runs the
//!   pending `EPOLL_CTL_ADD`/`MOD`s, after the sockets' turns, whose JavaScript may have queued
//!   more), so a socket opened and closed within one turn of the loop costs no `epoll_ctl` at
//!   all;
//! - a watch that wants nothing more is taken out of the set only when the kernel next reports
//!   the socket (one `EPOLL_CTL_DEL` then), not at once;
//! - closing removes it (`EPOLL_CTL_DEL`) only if it was added.
//!
//! Readiness is level-triggered, as libuv's. Each event carries a token, never a pointer: an
//! event for a watch dropped meanwhile finds no entry and is ignored.
//!
//! After a socket answered what it read and found nothing more, the loop *lingers*: it polls
//! without blocking for up to 50 µs before it sleeps, while that has been paying
//! ([`Watch::linger`]; the policy and its figures in `linger`). The idle handle keeps the poll
//! from blocking meanwhile, and the prepare handle, which runs before each poll, yields the core
//! and ends the lingering when its time is up.
//!
//! The loop is kept alive while any watch wants events and is referenced (`ref()`), as a
//! per-socket poll handle would: the shared poll handle is referenced exactly then.
//!
//! Besides readiness, a socket can ask for a *turn*: a call to [`Watched::on_turn`] at the start
//! of the loop's next iteration (the reactor's prepare handle, just before the poll). This is how
//! a socket delivers, one loop iteration at a time, what it has read but not yet delivered (at
//! most 32 datagrams per socket per iteration, as libuv), and how read pacing waits: one
//! `timerfd` per thread, in this same epoll set, made the first time a socket paces and kept for
//! the thread, wakes the loop for every paced socket at once ([`Watch::pace`]). While a turn is
//! owed, an idle handle keeps the poll from blocking, and the watch holds the loop as if it
//! wanted readiness.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::rc::Rc;
use std::time::Instant;

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

use crate::uv::{
    Idle, Poll, PollHandler, Prepare, PrepareHandler, RawEnv, Teardown, READABLE, WRITABLE,
};

mod linger;
use linger::Linger;

/// A map keyed by numbers this crate hands out in sequence (a watch's token, a handle's
/// number), hashed with one multiplication. std's default hasher (SipHash) resists keys chosen
/// by an attacker, which these are not, and cost every lookup: a socket per query makes several.
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// The hasher of [`IdMap`]: a multiplication by an odd constant (Fibonacci hashing), which
/// keeps sequential keys apart in the low bits (the bucket) and spreads them in the high bits
/// (hashbrown's tag).
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// The pacing timer's token in the epoll set (sockets' tokens start at 1).
const TIMER: u64 = 0;

/// In [`Watched::on_ready`]'s `events`: the socket has a pending error (`EPOLLERR`). libuv's
/// poll handle reports this as status `EBADF`.
pub const ERROR: i32 = 4;

/// Events read per `epoll_wait`, and how many such reads one wakeup makes at most (libuv's loop
/// takes up to 1,024 events per poll as well); the rest wait for the next turn.
const EVENTS: usize = 64;
const WAITS: usize = 16;
/// Rounds of registrations one flush makes at most (see [`Reactor::flush`]).
const FLUSH_ROUNDS: usize = 16;

/// What a watched socket's owner does on readiness and at environment teardown.
pub trait Watched {
    /// The socket is ready: `events` is a mask of [`READABLE`], [`WRITABLE`] and [`ERROR`], only
    /// of what was asked for (and `ERROR` whenever something was). A negative `status` (and no
    /// events) says the socket could not be watched at all: the kernel refused it.
    fn on_ready(&self, status: i32, events: i32);

    /// The environment (a worker, or the main thread at exit) is torn down with the socket
    /// still open: stop and close everything it holds on the loop.
    fn teardown(&self);

    /// The turn asked for with [`Watch::turn`] or [`Watch::pace`]: the loop's next iteration has
    /// begun (or the pacing delay has passed).
    fn on_turn(&self);
}

/// One watched socket. 24 bytes (48 with its key and padding in the map, every socket that
/// receives has one): what is wanted and what the kernel's set has are packed into one byte.
struct Entry {
    target: Rc<dyn Watched>,
    fd: RawFd,
    /// What the owner wants now ([`READABLE`] | [`WRITABLE`]), in bits 0-1; what the kernel's
    /// set has for it, in bits 2-3, with bit 4 set while it is in the set.
    interest: u8,
    referenced: bool,
    /// Waiting in `pending` for the next prepare.
    pending: bool,
    /// Owed a turn (in `turns` or `paced`).
    turn: bool,
}

/// The events an [`Entry`]'s interest byte holds ([`READABLE`] | [`WRITABLE`]).
const EVENTS_MASK: u8 = 0b11;
/// Bit of [`Entry::interest`]: in the kernel's set.
const IN_SET: u8 = 0b1_0000;

impl Entry {
    fn holds_loop(&self) -> bool {
        (self.wanted() != 0 || self.turn) && self.referenced
    }

    /// What the owner wants now ([`READABLE`] | [`WRITABLE`]).
    fn wanted(&self) -> i32 {
        i32::from(self.interest & EVENTS_MASK)
    }

    fn set_wanted(&mut self, events: i32) {
        // Only READABLE and WRITABLE are ever asked for.
        let events = (events & i32::from(EVENTS_MASK)) as u8;
        self.interest = (self.interest & !EVENTS_MASK) | events;
    }

    /// What the kernel's set has for it, if it is in the set.
    fn in_kernel(&self) -> Option<i32> {
        (self.interest & IN_SET != 0).then_some(i32::from((self.interest >> 2) & EVENTS_MASK))
    }

    fn set_in_kernel(&mut self, events: Option<i32>) {
        let registered = match events {
            Some(e) => IN_SET | (((e & i32::from(EVENTS_MASK)) as u8) << 2),
            None => 0,
        };
        self.interest = (self.interest & EVENTS_MASK) | registered;
    }
}

/// A thread's epoll set and its handles on Node's loop.
pub struct Reactor {
    epoll: Epoll,
    env: RawEnv,
    poll: RefCell<Option<Poll<Reactor>>>,
    prepare: RefCell<Option<Prepare<Reactor>>>,
    entries: RefCell<IdMap<u64, Entry>>,
    /// Tokens whose registration must change before the loop next polls.
    pending: RefCell<Vec<u64>>,
    next_token: Cell<u64>,
    /// How many entries keep the loop alive ([`Entry::holds_loop`]).
    holding: Cell<usize>,
    /// Keeps the poll from blocking while turns are owed.
    idle: RefCell<Option<Idle>>,
    /// Tokens owed a turn at the next prepare.
    turns: RefCell<Vec<u64>>,
    /// Tokens owed a turn once the pacing timer fires.
    paced: RefCell<Vec<u64>>,
    /// The thread's pacing timer, made on first use, and whether it is armed.
    timer: RefCell<Option<TimerFd>>,
    timer_armed: Cell<bool>,
    /// When the armed timer fires.
    timer_due: Cell<Option<std::time::Instant>>,
    /// Polling without blocking for a while after a socket answered (`linger`).
    linger: RefCell<Linger>,
}

fn busy() -> io::Error {
    io::Error::from_raw_os_error(libc::EBUSY)
}

fn to_epoll(events: i32) -> EpollFlags {
    let mut flags = EpollFlags::empty();
    if events & READABLE != 0 {
        flags |= EpollFlags::EPOLLIN;
    }
    if events & WRITABLE != 0 {
        flags |= EpollFlags::EPOLLOUT;
    }
    flags
}

impl Reactor {
    /// A reactor for `env`'s thread: its epoll set, watched by one poll handle on the loop. The
    /// thread keeps it, and tears it down at the environment's end (`owner::thread`).
    ///
    /// # Errors
    /// No loop, no memory, no epoll set.
    pub fn new(env: RawEnv) -> io::Result<Rc<Reactor>> {
        let reactor = Rc::new(Reactor {
            epoll: Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?,
            env,
            poll: RefCell::new(None),
            prepare: RefCell::new(None),
            entries: RefCell::new(IdMap::default()),
            pending: RefCell::new(Vec::new()),
            next_token: Cell::new(TIMER + 1),
            holding: Cell::new(0),
            idle: RefCell::new(None),
            turns: RefCell::new(Vec::new()),
            paced: RefCell::new(Vec::new()),
            timer: RefCell::new(None),
            timer_armed: Cell::new(false),
            timer_due: Cell::new(None),
            linger: RefCell::new(Linger::default()),
        });
        let poll = Poll::new(env, reactor.epoll.0.as_raw_fd(), Rc::clone(&reactor))?;
        poll.set_ref(false);
        if poll.watch(READABLE) < 0 {
            return Err(io::Error::other("cannot watch the epoll set"));
        }
        let prepare = Prepare::new(env, Rc::clone(&reactor))?;
        // The shared poll handle alone says whether the loop has to stay alive.
        prepare.set_ref(false);
        *reactor.poll.borrow_mut() = Some(poll);
        *reactor.prepare.borrow_mut() = Some(prepare);
        *reactor.idle.borrow_mut() = Some(Idle::new(env)?);
        Ok(reactor)
    }

    /// The environment whose loop this reactor is on.
    pub fn env(&self) -> RawEnv {
        self.env
    }

    /// References the shared poll handle exactly while some entry holds the loop.
    fn set_holding(&self, holding: usize) {
        let was = self.holding.replace(holding);
        if (was == 0) != (holding == 0) {
            if let Ok(poll) = self.poll.try_borrow() {
                if let Some(poll) = poll.as_ref() {
                    poll.set_ref(holding != 0);
                }
            }
        }
    }

    /// Changes entry `token` with `f`, keeping the holding count, and queues its registration
    /// for the next prepare if the kernel's set must change.
    fn update(&self, token: u64, f: impl FnOnce(&mut Entry)) {
        let Ok(mut entries) = self.entries.try_borrow_mut() else {
            return;
        };
        let Some(entry) = entries.get_mut(&token) else {
            return;
        };
        let held = entry.holds_loop();
        f(entry);
        let holds = entry.holds_loop();
        // Wanting less is left to the next event (see the module's doc); wanting something the
        // set does not have is done before the loop polls.
        let stale = entry.wanted() != 0 && entry.in_kernel() != Some(entry.wanted());
        let queue = stale && !entry.pending;
        if queue {
            entry.pending = true;
        }
        drop(entries);
        if held != holds {
            let holding = self.holding.get();
            self.set_holding(if holds {
                holding + 1
            } else {
                holding.saturating_sub(1)
            });
        }
        if queue {
            if let Ok(mut pending) = self.pending.try_borrow_mut() {
                pending.push(token);
            }
            if let Ok(prepare) = self.prepare.try_borrow() {
                if let Some(prepare) = prepare.as_ref() {
                    prepare.run(true);
                }
            }
        }
    }

    /// Makes the kernel's registration of `fd` say `wanted` (0: out of the set), with `token`
    /// as the events' data.
    fn register(
        &self,
        fd: RawFd,
        token: u64,
        in_kernel: Option<i32>,
        wanted: i32,
    ) -> nix::Result<()> {
        // SAFETY: an entry's descriptor is open while the entry exists: the owner drops its
        // Watch (which removes the entry) before it closes the socket.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let event = EpollEvent::new(to_epoll(wanted), token);
        match (in_kernel, wanted) {
            (None, 0) => Ok(()),
            (Some(_), 0) => self.epoll.delete(fd),
            (None, _) => self.epoll.add(fd, event),
            (Some(_), _) => self.epoll.modify(fd, &mut { event }),
        }
    }

    /// Brings entry `token`'s registration in line with what it wants. On a refusal, returns
    /// the target to tell and the negative errno.
    fn sync(&self, token: u64) -> Option<(Rc<dyn Watched>, i32)> {
        let mut entries = self.entries.try_borrow_mut().ok()?;
        let entry = entries.get_mut(&token)?;
        entry.pending = false;
        if entry.wanted() == 0 || entry.in_kernel() == Some(entry.wanted()) {
            return None;
        }
        match self.register(entry.fd, token, entry.in_kernel(), entry.wanted()) {
            Ok(()) => {
                entry.set_in_kernel(Some(entry.wanted()));
                None
            }
            Err(errno) => {
                // Not watched: wanting it again (a later change) tries again.
                if entry.holds_loop() {
                    self.set_holding(self.holding.get().saturating_sub(1));
                }
                entry.set_wanted(0);
                Some((Rc::clone(&entry.target), -(errno as i32)))
            }
        }
    }

    /// Reads what the set has ready and hands each event to its target.
    fn dispatch(&self) {
        let mut events = [EpollEvent::empty(); EVENTS];
        for _ in 0..WAITS {
            let n = match self.epoll.wait(&mut events, 0u8) {
                Ok(n) => n,
                Err(_) => return,
            };
            for event in &events[..n] {
                self.deliver(event.data(), event.events());
            }
            if n < EVENTS {
                return;
            }
        }
    }

    /// One event for `token`: what was asked for goes to the target; what was not takes the
    /// registration back to what is wanted.
    fn deliver(&self, token: u64, flags: EpollFlags) {
        if token == TIMER {
            self.on_timer();
            return;
        }
        let (target, ready) = {
            let Ok(mut entries) = self.entries.try_borrow_mut() else {
                return;
            };
            let Some(entry) = entries.get_mut(&token) else {
                return;
            };
            let mut got = 0;
            if flags.contains(EpollFlags::EPOLLIN) {
                got |= READABLE;
            }
            if flags.contains(EpollFlags::EPOLLOUT) {
                got |= WRITABLE;
            }
            if flags.contains(EpollFlags::EPOLLHUP) && got == 0 {
                // As libuv: a hang-up alone wakes whatever is watched, so the read or send
                // finds out.
                got = entry.wanted();
            }
            let wanted = entry.wanted();
            if got & !wanted != 0 || wanted == 0 {
                let _ = self.register(entry.fd, token, entry.in_kernel(), wanted);
                entry.set_in_kernel((wanted != 0).then_some(wanted));
            }
            let mut ready = got & wanted;
            if wanted != 0 && flags.contains(EpollFlags::EPOLLERR) {
                ready |= ERROR;
            }
            if ready == 0 {
                return;
            }
            (Rc::clone(&entry.target), ready)
        };
        target.on_ready(0, ready);
    }
}

impl PollHandler for Reactor {
    fn on_poll(&self, _status: i32, _events: i32) {
        if let Ok(mut linger) = self.linger.try_borrow_mut() {
            if linger.is_on() {
                linger.hit(Instant::now());
            }
        }
        self.dispatch();
    }
}

impl PrepareHandler for Reactor {
    fn on_prepare(&self) {
        if let Ok(prepare) = self.prepare.try_borrow() {
            if let Some(prepare) = prepare.as_ref() {
                prepare.run(false);
            }
        }
        self.run_turns();
        self.flush();
        self.keep_lingering();
    }
}

impl Reactor {
    /// A socket answered what it read and found nothing more: the loop polls without blocking
    /// for a while, where that has been paying (see `linger`).
    fn linger(&self) {
        let begun = self
            .linger
            .try_borrow_mut()
            .is_ok_and(|mut l| l.begin(Instant::now()));
        if begun {
            self.no_block();
        }
    }

    /// Before the loop polls: while lingering, the poll does not block, and the thread yields
    /// its core first (a peer on the same core answers meanwhile), unless yields have been
    /// giving the core to a busy process (see `linger`).
    fn keep_lingering(&self) {
        let Ok(mut linger) = self.linger.try_borrow_mut() else {
            return;
        };
        let before = Instant::now();
        if !(linger.is_on() && linger.keep(before)) {
            return;
        }
        if linger.may_yield(before) {
            // SAFETY: sched_yield takes no arguments and has no preconditions.
            unsafe { libc::sched_yield() };
            linger.yielded(before, Instant::now());
        }
        drop(linger);
        self.no_block();
    }

    /// The next poll does not block, and the prepare handle runs before it.
    fn no_block(&self) {
        self.wake_prepare();
        if let Ok(idle) = self.idle.try_borrow() {
            if let Some(idle) = idle.as_ref() {
                idle.once();
            }
        }
    }

    /// Runs the prepare handle at the next prepare phase.
    fn wake_prepare(&self) {
        if let Ok(prepare) = self.prepare.try_borrow() {
            if let Some(prepare) = prepare.as_ref() {
                prepare.run(true);
            }
        }
    }

    /// Marks entry `token` as owed a turn (or not), keeping the holding count. Returns whether
    /// it exists.
    fn set_turn(&self, token: u64, on: bool) -> bool {
        let mut found = false;
        self.update(token, |e| {
            e.turn = on;
            found = true;
        });
        found
    }

    /// Queues a turn for `token` at the next prepare, with a poll that does not block before it.
    fn queue_turn(&self, token: u64) {
        if let Ok(mut turns) = self.turns.try_borrow_mut() {
            if !turns.contains(&token) {
                turns.push(token);
            }
        }
        self.wake_prepare();
        if let Ok(idle) = self.idle.try_borrow() {
            if let Some(idle) = idle.as_ref() {
                idle.once();
            }
        }
    }

    /// Gives each socket owed a turn its turn, in the order they asked. A socket that asks again
    /// from its turn gets the next iteration's.
    fn run_turns(&self) {
        let tokens = match self.turns.try_borrow_mut() {
            Ok(mut turns) => std::mem::take(&mut *turns),
            Err(_) => return,
        };
        for token in tokens {
            let target = match self.entries.try_borrow() {
                Ok(entries) => entries.get(&token).map(|e| Rc::clone(&e.target)),
                Err(_) => None,
            };
            if let Some(target) = target {
                self.set_turn(token, false);
                target.on_turn();
            }
        }
    }

    /// The pacing timer fired: every paced socket gets its turn at the next prepare (not now:
    /// see the owner's pacing, which must not read ahead of this poll phase's
    /// `setImmediate` callbacks).
    fn on_timer(&self) {
        self.timer_armed.set(false);
        if let Ok(timer) = self.timer.try_borrow() {
            if let Some(timer) = timer.as_ref() {
                // Disarming also clears the expiry, which the level-triggered set would
                // otherwise report again.
                let _ = timer.unset();
            }
        }
        let tokens = match self.paced.try_borrow_mut() {
            Ok(mut paced) => std::mem::take(&mut *paced),
            Err(_) => return,
        };
        for token in tokens {
            self.queue_turn(token);
        }
    }

    /// Arms the thread's pacing timer for `delay` unless it is armed to fire sooner already (a
    /// socket that paces later in the same window waits less, never more; a sender's longer
    /// wait, `crate::send::backoff`, never delays a read), making it on first use.
    fn arm_timer(&self, delay: std::time::Duration) -> io::Result<()> {
        let due = std::time::Instant::now() + delay;
        if self.timer_armed.get() && self.timer_due.get().is_some_and(|armed| armed <= due) {
            return Ok(());
        }
        let mut slot = self.timer.try_borrow_mut().map_err(|_| busy())?;
        if slot.is_none() {
            let timer = TimerFd::new(
                ClockId::CLOCK_MONOTONIC,
                TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
            )?;
            self.epoll
                .add(&timer, EpollEvent::new(EpollFlags::EPOLLIN, TIMER))?;
            *slot = Some(timer);
        }
        if let Some(timer) = slot.as_ref() {
            timer.set(
                Expiration::OneShot(TimeSpec::from_duration(delay)),
                TimerSetTimeFlags::empty(),
            )?;
            self.timer_armed.set(true);
            self.timer_due.set(Some(due));
        }
        Ok(())
    }
}

impl Reactor {
    /// Makes the kernel's set what the entries want, for every registration queued. A refusal
    /// is reported to its target, whose JavaScript may queue more: those are done too, up to
    /// [`FLUSH_ROUNDS`] times (the rest wait for the next prepare).
    fn flush(&self) {
        for _ in 0..FLUSH_ROUNDS {
            let tokens = match self.pending.try_borrow_mut() {
                Ok(mut pending) => std::mem::take(&mut *pending),
                Err(_) => return,
            };
            if tokens.is_empty() {
                return;
            }
            for token in tokens {
                if let Some((target, status)) = self.sync(token) {
                    target.on_ready(status, 0);
                }
            }
        }
    }
}

impl Teardown for Reactor {
    /// Tears down whatever the reactor still watches, then closes its handles on the loop and
    /// its timer (the thread's cleanup hook calls this, after closing the thread's sockets).
    fn teardown(&self) {
        let targets: Vec<Rc<dyn Watched>> = match self.entries.try_borrow() {
            Ok(entries) => entries.values().map(|e| Rc::clone(&e.target)).collect(),
            Err(_) => Vec::new(),
        };
        for target in targets {
            target.teardown();
        }
        if let Ok(mut entries) = self.entries.try_borrow_mut() {
            entries.clear();
        }
        // Closing the handles releases their strong references to this reactor.
        if let Ok(mut poll) = self.poll.try_borrow_mut() {
            poll.take();
        }
        if let Ok(mut prepare) = self.prepare.try_borrow_mut() {
            prepare.take();
        }
        if let Ok(mut idle) = self.idle.try_borrow_mut() {
            idle.take();
        }
        if let Ok(mut timer) = self.timer.try_borrow_mut() {
            timer.take();
        }
    }
}

/// One socket's place in its thread's reactor. Dropping it takes the socket out of the set
/// (before the socket closes: the owner drops this first).
pub struct Watch {
    reactor: Rc<Reactor>,
    token: u64,
}

impl Watch {
    /// Watches `fd` (for nothing yet) in `reactor` (its thread's) for `target`, which the
    /// reactor keeps alive until this is dropped or the environment is torn down.
    ///
    /// # Errors
    /// The reactor is busy (a re-entrant call).
    pub fn new(reactor: Rc<Reactor>, fd: RawFd, target: Rc<dyn Watched>) -> io::Result<Watch> {
        let token = reactor.next_token.get();
        reactor.next_token.set(token + 1);
        reactor
            .entries
            .try_borrow_mut()
            .map_err(|_| busy())?
            .insert(
                token,
                Entry {
                    target,
                    fd,
                    interest: 0,
                    referenced: true,
                    pending: false,
                    turn: false,
                },
            );
        Ok(Watch { reactor, token })
    }

    /// Watches for `events` ([`READABLE`] | [`WRITABLE`]); with none, stops watching, which
    /// also stops keeping the loop alive. Asking for what is already watched costs nothing.
    pub fn watch(&self, events: i32) {
        self.reactor.update(self.token, |e| e.set_wanted(events));
    }

    /// `ref()` / `unref()`: whether this watch keeps the loop alive while it wants events.
    pub fn set_ref(&self, on: bool) {
        self.reactor.update(self.token, |e| e.referenced = on);
    }

    /// Asks for one [`Watched::on_turn`] at the start of the loop's next iteration; meanwhile
    /// the loop does not block in its poll, and is kept alive as by readable interest.
    pub fn turn(&self) {
        if self.reactor.set_turn(self.token, true) {
            self.reactor.queue_turn(self.token);
        }
    }

    /// Asks for one [`Watched::on_turn`] at the start of the loop iteration after `delay` (at
    /// most) has passed, through the thread's one pacing timer.
    ///
    /// # Errors
    /// The timer cannot be made or armed (no descriptors left, say): no turn is owed then.
    pub fn pace(&self, delay: std::time::Duration) -> io::Result<()> {
        self.reactor.arm_timer(delay)?;
        if self.reactor.set_turn(self.token, true) {
            if let Ok(mut paced) = self.reactor.paced.try_borrow_mut() {
                if !paced.contains(&self.token) {
                    paced.push(self.token);
                }
            }
        }
        Ok(())
    }

    /// The socket answered what it read (its handler sent) and found nothing more to read: the
    /// thread's loop lingers before it sleeps, where that has been paying (see `linger`).
    pub fn linger(&self) {
        self.reactor.linger();
    }

    /// Takes back a turn asked for and not yet given (the socket stopped receiving, say).
    pub fn cancel_turn(&self) {
        self.reactor.set_turn(self.token, false);
        if let Ok(mut paced) = self.reactor.paced.try_borrow_mut() {
            paced.retain(|&t| t != self.token);
        }
        if let Ok(mut turns) = self.reactor.turns.try_borrow_mut() {
            turns.retain(|&t| t != self.token);
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.cancel_turn();
        self.reactor.update(self.token, |e| e.set_wanted(0));
        let entry = match self.reactor.entries.try_borrow_mut() {
            Ok(mut entries) => entries.remove(&self.token),
            Err(_) => None,
        };
        if let Some(entry) = entry {
            // Out of the set before the descriptor closes: closing alone would not take it out
            // while another descriptor shares the socket (a cluster worker's, an adopted fd).
            let _ = self
                .reactor
                .register(entry.fd, self.token, entry.in_kernel(), 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;

    impl Watched for Nothing {
        fn on_ready(&self, _: i32, _: i32) {}
        fn teardown(&self) {}
        fn on_turn(&self) {}
    }

    /// The packed interest byte keeps what is wanted and what the kernel has apart, for every
    /// combination; and an entry stays 24 bytes (64-bit targets).
    #[test]
    fn an_entry_keeps_wanted_and_registered_apart() {
        let mut entry = Entry {
            target: Rc::new(Nothing),
            fd: -1,
            interest: 0,
            referenced: true,
            pending: false,
            turn: false,
        };
        assert_eq!((entry.wanted(), entry.in_kernel()), (0, None));
        for wanted in 0..4 {
            for in_kernel in [None, Some(0), Some(READABLE), Some(WRITABLE), Some(3)] {
                entry.set_wanted(wanted);
                entry.set_in_kernel(in_kernel);
                assert_eq!((entry.wanted(), entry.in_kernel()), (wanted, in_kernel));
                entry.set_in_kernel(in_kernel);
                entry.set_wanted(wanted);
                assert_eq!((entry.wanted(), entry.in_kernel()), (wanted, in_kernel));
            }
        }
        #[cfg(target_pointer_width = "64")]
        assert_eq!(std::mem::size_of::<Entry>(), 24);
    }
}
