//! The owner of one socket's lifecycle: the OS socket, its watch in the thread's reactor, the
//! JavaScript callbacks, the two engines' state, and the close/teardown rules. Besides `uv.rs`
//! and `fast_calls.rs`, the only module that calls JavaScript.
//!
//! - Readiness has one dispatcher, `Owner::on_ready` (libuv's `uv__udp_io`): writable flushes
//!   the send queue, readable reads and delivers (`deliver.rs`). A reactor turn
//!   (`Owner::on_turn`, at the start of a loop iteration) delivers what an earlier read left
//!   (`deliver.rs`), what the background reader queued (`background.rs`), or the read that
//!   pacing deferred (`pacer.rs`).
//! - Receive offload has one owner, [`Owner::follow_offload`], carrying out
//!   `crate::recv::offload`'s decision.
//! - What the socket polls for follows from its state in one place, [`Owner::update_interest`]:
//!   readable while receiving and not paced, writable while datagrams are queued. Every send
//!   goes through [`Owner::with_sender`], which updates it after the engine has run.
//!
//! Everything runs on the JS thread of one environment. State sits in `Cell`/`RefCell` because
//! JavaScript can re-enter the owner (close it, send again) from inside a callback it is making;
//! no borrow is held across a call into JavaScript, and borrows use `try_borrow*`, so that a
//! mistake becomes an error reported to the caller (`EBUSY`), never a panic. (Where Node-API
//! itself refuses to make a value, out of memory, a datagram's or a completion's call to
//! JavaScript is skipped: there is nothing left to report it with.)
//!
//! Lifetime: the thread's reactor holds a strong `Rc` to the owner while the socket is watched
//! (it may call it until it lets go); the background reader's wake-up handle holds a weak one.
//! `close()` and environment teardown (the reactor's cleanup hook) drop the watch, which breaks
//! that cycle.

mod background;
mod control;
mod deliver;
mod encode;
mod pacer;
mod send_wait;
pub mod staging;
pub(crate) mod thread;

use std::cell::{Cell, RefCell, RefMut};
use std::io::{self, IoSlice};
use std::num::NonZeroU32;
use std::os::fd::AsRawFd;
use std::rc::{Rc, Weak};

use napi::sys::napi_value;
use socket2::Socket;

use crate::reactor::{self, Watch, Watched};
use crate::recv;
use crate::recv::offload::Offload;
use crate::send::{Datagram, Outcome, SendEngine};
use crate::sys::addr::Addr;
use crate::sys::error;
use crate::sys::gso;
use crate::sys::socket::{self, Family, Options};
use crate::uv::{self, AsyncContext, CallScope, Callee, JsRef, RawEnv};

/// The JavaScript functions a socket reports to: one set per thread, shared by the thread's UDP
/// handles (`lib/handle.js` hands them over once), or one set per Unix handle.
pub struct Functions {
    /// `onmessage(buf, address, port[, segment])`.
    onmessage: JsRef,
    /// `onerror(errno)`: a receive error.
    onerror: JsRef,
    /// `onsend(id, status, bytes)`: a queued datagram of request `id` completed.
    onsend: JsRef,
    /// `onwritable()`: the socket became writable after [`Owner::notify_writable`].
    onwritable: Option<JsRef>,
    /// How `onsend` reports completions.
    completions: Completions,
}

/// How the completions of queued sends reach `onsend`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Completions {
    /// One call per datagram, `onsend(id, status, bytes)`, so that the queue's size read from a
    /// callback still counts the datagrams whose callbacks have not run, as libuv counts them
    /// (the UDP handle: node:dgram's behaviour).
    Each,
    /// One call per flush, `onsend([id, status, bytes, ...])`, in the order sent (the Unix
    /// handle: behind a receiver's queue of `net.unix.max_dgram_qlen` datagrams most sends
    /// wait, and a call into JavaScript per completion cost more than the send).
    Batched,
}

impl Functions {
    /// Keeps `[onmessage, onerror, onsend]` and `onwritable`, `onsend` reporting as
    /// `completions` says; `None` if a reference cannot be made (the environment is shutting
    /// down).
    ///
    /// # Safety
    /// The functions are live values of the running call on `raw`'s thread.
    pub unsafe fn new(
        raw: RawEnv,
        [onmessage, onerror, onsend]: [napi_value; 3],
        onwritable: Option<napi_value>,
        completions: Completions,
    ) -> Option<Self> {
        // SAFETY: the caller's promise.
        let reference = |f: napi_value| unsafe { JsRef::new(raw, f) };
        Some(Functions {
            onmessage: reference(onmessage)?,
            onerror: reference(onerror)?,
            onsend: reference(onsend)?,
            onwritable: match onwritable {
                Some(f) => Some(reference(f)?),
                None => None,
            },
            completions,
        })
    }
}

/// What a socket's calls into JavaScript need: their async context, made with the owner, and,
/// once `recvStart` has given them, the functions and the object they are called on. One
/// allocation per socket: the context and the callbacks in two cost every socket 48 bytes more.
struct Callbacks {
    /// The async context every call runs in.
    context: AsyncContext,
    /// Given by `recvStart`; `None` before.
    given: RefCell<Option<Given>>,
}

/// The functions a socket calls, and what they are called on.
struct Given {
    /// What the functions are called on (`this`): the handle object; the global object if none.
    receiver: Option<JsRef>,
    functions: Rc<Functions>,
}

impl Callbacks {
    /// The function `pick` names, if any, ready to be called (see [`CallScope::callee_on`]).
    /// The borrow ends before the call is made: JavaScript may give new callbacks meanwhile.
    fn callee_with(
        &self,
        scope: &CallScope,
        pick: impl FnOnce(&Functions) -> Option<&JsRef>,
    ) -> Option<Callee> {
        let given = self.given.try_borrow().ok()?;
        let given = given.as_ref()?;
        scope.callee_on(pick(&given.functions)?, given.receiver.as_ref())
    }

    /// The function `pick` names, ready to be called.
    fn callee(&self, scope: &CallScope, pick: fn(&Functions) -> &JsRef) -> Option<Callee> {
        self.callee_with(scope, |f| Some(pick(f)))
    }

    /// Calls the function `pick` names with `args`.
    fn call(&self, scope: &CallScope, pick: fn(&Functions) -> &JsRef, args: &[napi_value]) {
        if let Some(callee) = self.callee(scope, pick) {
            scope.call_callee(&self.context, &callee, args);
        }
    }

    /// How completions are reported, once the functions are given.
    fn completions(&self) -> Option<Completions> {
        let given = self.given.try_borrow().ok()?;
        Some(given.as_ref()?.functions.completions)
    }

    /// Whether `recvStart` has given the functions.
    fn is_given(&self) -> bool {
        self.given
            .try_borrow()
            .map(|g| g.is_some())
            .unwrap_or(false)
    }
}

/// The callbacks with a new async context (named as node:dgram's), whose async resource is
/// `resource` (the handle object, as node:dgram's is its UDPWrap handle; a new object if none);
/// `None` where the environment would not make one (it is shutting down).
///
/// # Safety
/// `resource`, if any, is a live object of the running call on `env`'s thread.
unsafe fn new_callbacks(env: RawEnv, resource: Option<napi_value>) -> Option<Rc<Callbacks>> {
    // SAFETY: the caller's promise.
    unsafe { AsyncContext::new(env, "UDPWRAP", resource) }.map(|context| {
        Rc::new(Callbacks {
            context,
            given: RefCell::new(None),
        })
    })
}

/// How `'message'` datagrams are handed to JavaScript.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// One call per datagram (node:dgram's `'message'`).
    Each,
    /// One call per read and sender, with a copy of the bytes.
    Batch,
    /// One call per read and sender; a one-slot batch is lent from the read buffer itself and
    /// emptied (detached) when the call returns.
    BatchZeroCopy,
}

/// One UDP socket's native state.
pub struct Owner {
    env: RawEnv,
    family: Family,
    socket: RefCell<Option<Socket>>,
    /// The socket's place in its thread's readiness watcher, once it receives.
    watch: RefCell<Option<Watch>>,
    /// Whether the next read waits for the pacing turn (`pacer.rs`).
    paced: Cell<bool>,
    /// Whether the read in progress came after a pacing wait.
    after_wait: Cell<bool>,
    /// Recent reads, for pacing's one-way rule (`crate::recv::pacing`).
    arrivals: Cell<crate::recv::pacing::Arrivals>,
    /// Whether the socket waits for its next turn before it is read on readiness again: it
    /// delivered in this iteration's turn (a backlog's end, a paced read), and a read in this
    /// iteration's poll phase would deliver more than `deliver::FAIR` in one iteration.
    resting: Cell<bool>,
    /// What the last read left undelivered (`deliver.rs`).
    /// Boxed: a read leaves one only under load, and inline it made every socket 152 bytes
    /// larger.
    backlog: RefCell<Option<Box<deliver::Backlog>>>,
    /// Calls made ready by a delivery in progress and not made yet (`deliver.rs`): a queue the
    /// thread lends while the socket delivers (inline, it took 24 bytes more of every socket).
    pending: RefCell<Option<Box<deliver::Pending>>>,
    /// Whether a delivery to JavaScript is in progress (a nested loop may run meanwhile).
    delivering: Cell<bool>,
    /// Whether a reactor turn is asked for and not given yet.
    turn_owed: Cell<bool>,
    /// Whether a nested loop found the socket readable during a delivery, and left it.
    nested_blocked: Cell<bool>,
    /// This owner itself, weakly, for the background reader's wake-up handle.
    me: Weak<Owner>,
    /// The callbacks, with the async context of every call into JavaScript, made with the owner
    /// as node:dgram's UDPWrap makes its async resource with the socket: async_hooks' `init`
    /// fires at `createSocket()`, and the `'message'` listener sees the AsyncLocalStorage store
    /// of that call, not the one of `bind()`. None where the environment would not make the
    /// context (it is shutting down); `recvStart` then tries again.
    callbacks: RefCell<Option<Rc<Callbacks>>>,
    sender: RefCell<SendEngine>,
    delivery: Cell<Delivery>,
    /// The background reader, once started (`backgroundReceive`; boxed, as the backlog: few
    /// sockets read in the background).
    background: RefCell<Option<Box<background::Receiver>>>,
    /// The background reader's inbox budget in bytes, when asked for before receiving starts
    /// (`maxQueueBytes` is at most 2^32 - 1: a `u32` fits among the flags, where an `usize`
    /// took 16 bytes of every socket).
    background_budget: Cell<Option<NonZeroU32>>,
    /// Reading paused by a consumer that fell behind (the async iterator): the kernel, or the
    /// background inbox, holds what comes meanwhile.
    paused: Cell<bool>,
    /// Datagrams and bytes the default path has read.
    received: Cell<(u64, u64)>,
    /// The opt-in metadata options (`control.rs`).
    control: control::State,
    /// Whether `connect()` succeeded (and no `disconnect()` since).
    connected: Cell<bool>,
    receiving: Cell<bool>,
    /// Whether `onwritable` waits for the socket to become writable.
    writable_wanted: Cell<bool>,
    referenced: Cell<bool>,
    closed: Cell<bool>,
    /// Receive offload's state (`crate::recv::offload`).
    offload: Cell<Offload>,
}

fn busy() -> io::Error {
    io::Error::from_raw_os_error(libc::EBUSY)
}

fn borrow_mut<T>(cell: &RefCell<T>) -> io::Result<RefMut<'_, T>> {
    cell.try_borrow_mut().map_err(|_| busy())
}

impl Owner {
    /// An owner with no OS socket yet (created by the first bind/connect/open, as libuv does),
    /// its calls' async resource `resource` (the handle object; a new object if none). Called
    /// from JavaScript (a handle scope is open on `env`'s thread).
    ///
    /// # Safety
    /// `resource`, if any, is a live object of the running call on `env`'s thread.
    pub unsafe fn new(env: RawEnv, family: Family, resource: Option<napi_value>) -> Rc<Self> {
        // SAFETY: the caller's promise.
        let callbacks = unsafe { new_callbacks(env, resource) };
        Rc::new_cyclic(|me| Owner {
            env,
            family,
            socket: RefCell::new(None),
            watch: RefCell::new(None),
            paced: Cell::new(false),
            after_wait: Cell::new(false),
            arrivals: Cell::new(Default::default()),
            resting: Cell::new(false),
            backlog: RefCell::new(None),
            pending: RefCell::new(None),
            delivering: Cell::new(false),
            turn_owed: Cell::new(false),
            nested_blocked: Cell::new(false),
            me: me.clone(),
            callbacks: RefCell::new(callbacks),
            sender: RefCell::new(match family {
                Family::Unix => SendEngine::unix(),
                Family::V4 | Family::V6 => SendEngine::default(),
            }),
            delivery: Cell::new(Delivery::Each),
            background: RefCell::new(None),
            background_budget: Cell::new(None),
            paused: Cell::new(false),
            received: Cell::new((0, 0)),
            control: control::State::default(),
            connected: Cell::new(false),
            receiving: Cell::new(false),
            writable_wanted: Cell::new(false),
            referenced: Cell::new(true),
            closed: Cell::new(false),
            offload: Cell::new(Offload::default()),
        })
    }

    /// `udp4`, `udp6` or `unix_dgram`.
    pub fn family(&self) -> Family {
        self.family
    }

    // ----- the OS socket -----

    /// Runs `f` on the OS socket; `EBADF` when there is none (before bind, after close).
    pub fn with_socket<R>(&self, f: impl FnOnce(&Socket) -> io::Result<R>) -> io::Result<R> {
        let guard = self.socket.try_borrow().map_err(|_| busy())?;
        match guard.as_ref() {
            Some(s) => f(s),
            None => Err(io::Error::from_raw_os_error(libc::EBADF)),
        }
    }

    /// Runs `f` on the socket's options; before the socket exists they check their arguments
    /// first (`EINVAL`), then fail with `EBADF`, in libuv's order.
    pub fn options<R>(&self, f: impl FnOnce(&Options<'_>) -> R) -> R {
        match self.socket.try_borrow() {
            Ok(guard) => f(&Options::new(guard.as_ref(), self.family)),
            Err(_) => f(&Options::new(None, self.family)),
        }
    }

    /// Whether the OS socket exists.
    pub fn has_socket(&self) -> bool {
        self.socket
            .try_borrow()
            .map(|s| s.is_some())
            .unwrap_or(true)
    }

    /// The OS descriptor, if the socket exists.
    pub fn fd(&self) -> Option<i32> {
        self.with_socket(|s| Ok(s.as_raw_fd())).ok()
    }

    /// Creates the OS socket if there is none yet (libuv's deferred creation).
    ///
    /// # Errors
    /// The socket is closed (`EBADF`), or the kernel refuses a socket.
    pub fn ensure_socket(&self) -> io::Result<()> {
        if self.closed.get() {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        if self.has_socket() {
            return Ok(());
        }
        self.install(socket::create(self.family)?)
    }

    /// Takes `socket` as this owner's OS socket.
    ///
    /// # Errors
    /// The socket is in use (`EBUSY`).
    pub fn install(&self, socket: Socket) -> io::Result<()> {
        *borrow_mut(&self.socket)? = Some(socket);
        Ok(())
    }

    /// Records a successful `connect()` (true) or `disconnect()` (false).
    pub fn set_connected(&self, on: bool) {
        self.connected.set(on);
    }

    /// Whether the socket is connected: libuv refuses a send with an address on a connected
    /// socket (`EISCONN`) and one without on an unconnected socket (`EDESTADDRREQ`).
    pub fn is_connected(&self) -> bool {
        self.connected.get()
    }

    /// Whether `close()` (or environment teardown) has happened.
    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    // ----- receiving -----

    /// Starts reading, and keeps what it reports to until close: `functions`, called on
    /// `receiver` (the global object if none). Returns 0 or a negative errno.
    ///
    /// # Errors
    /// The receiver or the async context cannot be kept (the environment is shutting down).
    ///
    /// # Safety
    /// `receiver` is a live value of the running call on `raw`'s thread.
    pub unsafe fn recv_start(
        self: &Rc<Self>,
        raw: RawEnv,
        receiver: Option<napi_value>,
        functions: Rc<Functions>,
    ) -> napi::Result<i32> {
        let cannot = || napi::Error::from_reason("cannot keep the callbacks");
        let receiver_value = receiver;
        let receiver = match receiver {
            // SAFETY: the caller's promise.
            Some(r) => Some(unsafe { JsRef::new(raw, r) }.ok_or_else(cannot)?),
            None => None,
        };
        let callbacks = self.callbacks.try_borrow_mut().ok().and_then(|mut slot| {
            if slot.is_none() {
                // SAFETY: the receiver is a live value of this call (the caller's promise).
                *slot = unsafe { new_callbacks(raw, receiver_value) };
            }
            slot.clone()
        });
        let callbacks = callbacks.ok_or_else(cannot)?;
        if self.closed.get() || !self.has_socket() {
            return Ok(error::EBADF);
        }
        if let Err(e) = self.ensure_poll() {
            return Ok(error::errno(&e));
        }
        if let Some(budget) = self.background_budget.get() {
            if let Err(e) = self.start_background(budget.get() as usize) {
                return Ok(error::errno(&e));
            }
        }
        if let Ok(mut given) = callbacks.given.try_borrow_mut() {
            *given = Some(Given {
                receiver,
                functions,
            });
        }
        self.receiving.set(true);
        Ok(self.update_interest())
    }

    /// Stops reading (queued sends still complete).
    pub fn recv_stop(&self) -> i32 {
        self.receiving.set(false);
        self.update_interest()
    }

    /// How datagrams are handed to JavaScript.
    pub fn set_delivery(&self, delivery: Delivery) {
        self.delivery.set(delivery);
    }

    /// Reads in the background (a runtime thread, into an inbox of `budget` bytes) once
    /// receiving starts, instead of on Node's loop.
    pub fn set_background(&self, budget: NonZeroU32) {
        self.background_budget.set(Some(budget));
    }

    /// Pauses reading (the consumer fell behind; what the current read took is still
    /// delivered) or resumes it.
    pub fn set_paused(&self, paused: bool) {
        if self.paused.replace(paused) == paused {
            return;
        }
        if !paused {
            self.wake_background();
            if self.has_backlog() {
                self.request_turn();
            }
        }
        self.update_interest();
    }

    /// Switches receive offload as `crate::recv::offload` decides from the read options and
    /// `read` (the last read; `None` when the options changed).
    ///
    /// # Errors
    /// The kernel refused the switch (a refusal to turn it on is remembered, and not tried
    /// again).
    pub(crate) fn follow_offload(&self, read: Option<recv::ReadSize>) -> io::Result<()> {
        let mut offload = self.offload.get();
        let Some(on) = offload.decide(self.control.read_mode.get(), read) else {
            return Ok(());
        };
        let result = self.with_socket(|s| gso::set_gro(s, on));
        offload.switched(on, result.is_ok());
        self.offload.set(offload);
        result
    }

    /// Asks the thread's reactor for a turn at the start of the loop's next iteration.
    pub(super) fn request_turn(&self) {
        if self.turn_owed.replace(true) {
            return;
        }
        if let Ok(watch) = self.watch.try_borrow() {
            if let Some(watch) = watch.as_ref() {
                watch.turn();
            }
        }
    }

    /// Asks the thread's reactor to linger before its loop sleeps: this socket answered what it
    /// read and found nothing more (`deliver.rs`).
    pub(super) fn linger(&self) {
        if let Ok(watch) = self.watch.try_borrow() {
            if let Some(watch) = watch.as_ref() {
                watch.linger();
            }
        }
    }

    /// `[datagramsReceived, bytesReceived, datagramsSent, bytesSent, droppedByKernel,
    /// droppedByQueue]`, while open: close lets go of the socket and the background reader, and
    /// their counts with them, so `udpClose` reads these just before closing (the handle keeps
    /// them for `getStats()` after close; the owner no longer keeps a copy, which every socket
    /// paid 56 bytes for).
    pub fn stats(&self) -> [u64; 6] {
        let (received, received_bytes) = self.received.get();
        let background = self.background_counts();
        let (sent, sent_bytes) = self
            .sender
            .try_borrow()
            .map(|s| s.sent())
            .unwrap_or_default();
        let kernel = self
            .with_socket(socket::kernel_drops)
            .map(u64::from)
            .unwrap_or(0);
        [
            received + background.received,
            received_bytes + background.received_bytes,
            sent,
            sent_bytes,
            kernel,
            background.dropped,
        ]
    }

    /// Whether `'message'` delivery is on (checked between datagrams: a handler may close).
    fn is_receiving(&self) -> bool {
        self.receiving.get() && !self.closed.get()
    }

    /// The callbacks, if `recvStart` has given them (a clone of the Rc, so no borrow is held
    /// while JavaScript runs).
    fn callbacks(&self) -> Option<Rc<Callbacks>> {
        let callbacks = self.callbacks.try_borrow().ok()?.clone()?;
        callbacks.is_given().then_some(callbacks)
    }

    /// Watches the socket on the loop (from the first `recvStart`: a socket that never receives
    /// holds nothing on the loop).
    fn ensure_poll(self: &Rc<Self>) -> io::Result<()> {
        if self.watch.try_borrow().map(|w| w.is_some()).unwrap_or(true) {
            return Ok(());
        }
        let fd = self.with_socket(|s| Ok(s.as_raw_fd()))?;
        let target: Rc<dyn Watched> = Rc::clone(self) as Rc<dyn Watched>;
        let reactor = thread::with(|t| t.reactor(self.env))
            .unwrap_or_else(|| Err(io::Error::from_raw_os_error(libc::EBADF)))?;
        let watch = Watch::new(reactor, fd, target)?;
        if !self.referenced.get() {
            watch.set_ref(false);
        }
        *borrow_mut(&self.watch)? = Some(watch);
        Ok(())
    }

    /// Watches for what is wanted now: readable while receiving and not paced, writable while
    /// datagrams are queued. With neither, the watch stops, and with it stops keeping the
    /// process alive.
    fn update_interest(&self) -> i32 {
        let mut events = 0;
        if self.is_receiving()
            && !self.paused.get()
            && !self.is_paced()
            && !self.background_waits()
            && !self.has_backlog()
            && !self.resting.get()
            && !self.nested_blocked.get()
        {
            events |= uv::READABLE;
        }
        if self
            .sender
            .try_borrow()
            .map(|s| s.backoff().is_none() && s.has_queued())
            .unwrap_or(false)
        {
            events |= uv::WRITABLE;
        }
        if self.writable_wanted.get() && !self.closed.get() {
            events |= uv::WRITABLE;
        }
        if let Ok(watch) = self.watch.try_borrow() {
            if let Some(watch) = watch.as_ref() {
                watch.watch(events);
            }
        }
        0
    }

    // ----- sending -----

    /// Calls `onwritable()` once, the next time the socket is writable (the unix-dgram
    /// package's `'writable'` after a congested send). Returns 0 or a negative errno.
    pub fn notify_writable(&self) -> i32 {
        if self.closed.get() {
            return error::EBADF;
        }
        self.writable_wanted.set(true);
        self.update_interest()
    }

    /// Calls `onwritable()` if it was waited for.
    fn on_writable(&self) {
        if !self.writable_wanted.replace(false) {
            return;
        }
        self.update_interest();
        let Some(callbacks) = self.callbacks() else {
            return;
        };
        if let Some(scope) = CallScope::open(self.env) {
            if let Some(callee) = callbacks.callee_with(&scope, |f| f.onwritable.as_ref()) {
                scope.call_callee(&callbacks.context, &callee, &[]);
            }
        }
    }

    /// Sends one datagram now or not at all (see [`SendEngine::try_send`]): bytes + 1 when
    /// sent, or a negative errno (`EAGAIN` where a full socket or receiver would have queued it).
    pub fn try_send(&self, parts: &[IoSlice<'_>], to: Option<Addr<'_>>) -> i64 {
        let datagram = Datagram::new(parts, to, 0);
        match self.with_sender(|engine, socket| engine.try_send(socket, &datagram)) {
            Ok(outcome) => outcome.code(),
            Err(e) => i64::from(error::errno(&e)),
        }
    }

    /// Runs `f` with the send engine and the socket, then polls for writability if datagrams
    /// are queued (or stops, once none are).
    fn with_sender<R>(&self, f: impl FnOnce(&mut SendEngine, &Socket) -> R) -> io::Result<R> {
        let result = {
            let mut engine = borrow_mut(&self.sender)?;
            self.with_socket(|socket| Ok(f(&mut engine, socket)))?
        };
        self.update_interest();
        Ok(result)
    }

    /// Sends one datagram made of `parts` to `to` (or the connected peer) for request `id`.
    /// Returns bytes + 1 when sent at once, 0 when queued (completed later by `onsend`), or a
    /// negative errno.
    pub fn send(&self, parts: &[IoSlice<'_>], to: Option<Addr<'_>>, id: u32) -> i64 {
        self.send_one(Datagram::new(parts, to, id))
    }

    /// Sends one datagram, with or without per-send control: the one path of [`Owner::send`]
    /// and `Owner::send_with_control`, with their result encoding.
    fn send_one(&self, datagram: Datagram<'_>) -> i64 {
        let datagram = [datagram];
        let mut code = i64::from(error::EBADF);
        match self.with_sender(|engine, socket| {
            engine.send(socket, &datagram, |_, outcome| code = outcome.code())
        }) {
            Ok(()) => code,
            Err(e) => i64::from(error::errno(&e)),
        }
    }

    /// How many datagrams wait for the next [`Owner::flush_gathered`].
    pub fn gathered_count(&self) -> usize {
        self.sender
            .try_borrow()
            .map(|s| s.gathered_count())
            .unwrap_or(0)
    }

    /// Gathers one datagram of request `id` for the next [`Owner::flush_gathered`]. Returns 0 or
    /// a negative errno.
    pub fn gather(&self, parts: &[IoSlice<'_>], to: Option<Addr<'_>>, id: u32) -> i32 {
        if self.closed.get() {
            return error::EBADF;
        }
        match borrow_mut(&self.sender) {
            Ok(mut engine) => {
                engine.gather(parts, to, id);
                0
            }
            Err(e) => error::errno(&e),
        }
    }

    /// Sends what was gathered, in order, and reports each datagram's result (in
    /// [`Owner::send`]'s encoding) in that order. Should the socket be gone, every gathered
    /// datagram is reported failed.
    pub fn flush_gathered(&self, mut report: impl FnMut(i64)) {
        let flushed = self.with_sender(|engine, socket| {
            engine.flush_gathered(socket, |_, outcome| report(outcome.code()))
        });
        if let Err(e) = flushed {
            let errno = i64::from(error::errno(&e));
            if let Ok(mut engine) = self.sender.try_borrow_mut() {
                for _ in engine.cancel_gathered() {
                    report(errno);
                }
            }
        }
    }

    /// Sends `data` as datagrams of `segment` bytes (the last may be shorter) for request `id`.
    /// Returns `[sent, queued, failed, first errno]`: datagrams the kernel took, datagrams
    /// queued (each completes through `onsend`), datagrams refused and the first refusal's errno
    /// (0 if none).
    pub fn send_segments(
        &self,
        data: &[u8],
        segment: usize,
        to: Option<Addr<'_>>,
        id: u32,
    ) -> [i64; 4] {
        if segment == 0 || segment > gso::MAX_PAYLOAD {
            // Every datagram of the batch refused, counted as JavaScript counts them (it waits
            // for that many results before its callback).
            let count = data.len().div_ceil(segment.max(1)).max(1);
            return [0, 0, count as i64, i64::from(error::EINVAL)];
        }
        let mut summary = [0i64; 4];
        let sent = self.with_sender(|engine, socket| {
            // Whole GSO sends straight from the buffer first; what they leave (the socket
            // buffer filled, a refusal, a lone last datagram) goes datagram by datagram.
            let (sent, offset, failed) = engine.send_contiguous(socket, data, segment, to);
            summary[0] = sent as i64;
            let rest = &data[offset..];
            if offset > 0 && rest.is_empty() {
                return;
            }
            let slices: Vec<IoSlice<'_>> = if rest.is_empty() {
                // An empty buffer is one empty datagram, as with send().
                vec![IoSlice::new(rest)]
            } else {
                rest.chunks(segment).map(IoSlice::new).collect()
            };
            let datagrams: Vec<Datagram<'_>> = slices
                .iter()
                .map(|s| Datagram::new(std::slice::from_ref(s), to, id))
                .collect();
            let report = |_, outcome: Outcome| match outcome.code() {
                0 => summary[1] += 1,
                n if n > 0 => summary[0] += 1,
                errno => {
                    summary[2] += 1;
                    if summary[3] == 0 {
                        summary[3] = errno;
                    }
                }
            };
            if failed {
                engine.send_each(socket, &datagrams, report);
            } else {
                engine.send(socket, &datagrams, report);
            }
        });
        match sent {
            Ok(()) => summary,
            Err(e) => {
                let count = data.len().div_ceil(segment).max(1);
                [0, 0, count as i64, i64::from(error::errno(&e))]
            }
        }
    }

    /// Queue every send instead of trying it at once (Node's `--test-udp-no-try-send`).
    pub fn set_queue_every_send(&self, on: bool) {
        if let Ok(mut engine) = self.sender.try_borrow_mut() {
            engine.set_queue_every_send(on);
        }
    }

    /// Bytes and datagrams waiting in the send queue.
    pub fn send_queue(&self) -> (usize, usize) {
        self.sender
            .try_borrow()
            .map(|s| (s.queued_bytes(), s.queued_count()))
            .unwrap_or((0, 0))
    }

    /// Sends what is queued while the socket takes it, then completes each datagram the kernel
    /// took or refused through `onsend(id, status, bytes)`: one at a time, so that the queue's
    /// size, read from a callback, still counts the datagrams whose callbacks have not run (as
    /// libuv counts them). All of them, even if a callback closes the socket: they were sent (or
    /// refused) before it closed. Returns whether the kernel took or refused any.
    fn flush_queue(&self) -> bool {
        let progressed = self
            .with_sender(|engine, socket| {
                let before = engine.waiting();
                engine.flush_queue(socket);
                engine.waiting() != before
            })
            .unwrap_or(false);
        let (Some(callbacks), Some(scope)) = (self.callbacks(), CallScope::open(self.env)) else {
            return progressed;
        };
        let Some(onsend) = callbacks.callee(&scope, |f| &f.onsend) else {
            return progressed;
        };
        if callbacks.completions() == Some(Completions::Batched) {
            let mut values = Vec::new();
            while let Some(c) = self
                .sender
                .try_borrow_mut()
                .ok()
                .and_then(|mut engine| engine.take_completion())
            {
                let bytes = i32::try_from(c.bytes).unwrap_or(i32::MAX);
                // A completion that cannot be made a value (the environment is going) ends the
                // flush's report: no callback runs after that anyway.
                match (scope.uint(c.id), scope.int(c.status), scope.int(bytes)) {
                    (Some(id), Some(status), Some(bytes)) => values.extend([id, status, bytes]),
                    _ => break,
                }
            }
            if !values.is_empty() {
                if let Some(list) = scope.array(&values) {
                    scope.call_callee(&callbacks.context, &onsend, &[list]);
                }
            }
            self.update_interest();
            return progressed;
        }
        loop {
            let next = match self.sender.try_borrow_mut() {
                Ok(mut engine) => engine.take_completion(),
                Err(_) => None,
            };
            let Some(c) = next else { break };
            let bytes = i32::try_from(c.bytes).unwrap_or(i32::MAX);
            if let (Some(id), Some(status), Some(bytes)) =
                (scope.uint(c.id), scope.int(c.status), scope.int(bytes))
            {
                scope.call_callee(&callbacks.context, &onsend, &[id, status, bytes]);
            }
        }
        self.update_interest();
        progressed
    }

    // ----- lifetime -----

    /// `ref()` / `unref()`; remembered before the socket exists and applied when it does.
    pub fn set_ref(&self, on: bool) {
        self.referenced.set(on);
        if let Ok(watch) = self.watch.try_borrow() {
            if let Some(watch) = watch.as_ref() {
                watch.set_ref(on);
            }
        }
        self.set_background_ref(on);
    }

    /// `hasRef()`.
    pub fn has_ref(&self) -> bool {
        self.referenced.get()
    }

    /// Closes the socket: no callback is made after this. Returns what ends the queued
    /// datagrams, for JavaScript to complete as libuv does on close: `[id, status, bytes, ...]`,
    /// first the completions not reported yet, then every datagram still queued, cancelled
    /// (`ECANCELED`).
    pub fn close(&self) -> Vec<i64> {
        if self.closed.get() {
            return Vec::new();
        }
        self.closed.set(true);
        self.receiving.set(false);
        self.release()
    }

    /// Drops the watch, the backlog, the socket and the callbacks; returns how
    /// the queued datagrams end, as [`Owner::close`] does.
    fn release(&self) -> Vec<i64> {
        let cancelled = self
            .sender
            .try_borrow_mut()
            .map(|mut s| s.cancel_all())
            .unwrap_or_default()
            .into_iter()
            .flat_map(|c| [i64::from(c.id), i64::from(c.status), c.bytes as i64])
            .collect();
        // Order matters: the background reader lets go of its duplicate of the descriptor, and
        // the watch stops watching the descriptor, before it is closed.
        self.stop_background();
        if let Ok(mut w) = self.watch.try_borrow_mut() {
            w.take();
        }
        self.paced.set(false);
        self.resting.set(false);
        // Read but not delivered: discarded, as node:dgram's close discards what waits in the
        // kernel (these were counted as received when read).
        if let Some(backlog) = self
            .backlog
            .try_borrow_mut()
            .ok()
            .and_then(|mut b| b.take())
        {
            // Its read buffer goes back to the thread's pool: a socket per query closes from its
            // 'message' handler, and freeing the buffer there cost every query 32 mmap/munmap
            // pairs (a socket per query ran at 4.7x node:dgram's time).
            backlog.discard();
        }
        self.return_calls_room();
        if let Ok(mut s) = self.socket.try_borrow_mut() {
            s.take();
        }
        if let Ok(mut c) = self.callbacks.try_borrow_mut() {
            c.take();
        }
        cancelled
    }
}

impl Watched for Owner {
    fn on_ready(&self, status: i32, events: i32) {
        if status < 0 {
            // The kernel would not watch the socket (out of epoll watches, say): a receive
            // error, as a failed read would be; receiving stops.
            self.receiving.set(false);
            self.update_interest();
            self.report_receive_error(status);
            return;
        }
        if self.receives_errors() {
            // Before the read: taking the queued errors clears the pending one, which would
            // otherwise fail the read.
            self.report_errors();
        }
        if events & reactor::ERROR != 0 {
            // The socket has a pending error (an ICMP port unreachable on a connected socket,
            // say). Read to take the real error (ECONNREFUSED) as node:dgram's read would.
            if !self.delivering.get() {
                self.read_once(deliver::FAIR);
            }
            self.update_interest();
            return;
        }
        if events & uv::WRITABLE != 0 {
            self.flush_queue_when_writable();
            self.on_writable();
        }
        if events & uv::READABLE != 0 {
            if self.delivering.get() {
                // A nested loop (a listener running the loop): what the outer delivery holds
                // goes first.
                self.deliver_nested();
                return;
            }
            self.read_and_pace();
        }
    }

    fn on_turn(&self) {
        self.turn_owed.set(false);
        if self.delivering.get() {
            // As for readiness above. A pacing or rest turn is moot meanwhile.
            self.paced.set(false);
            self.resting.set(false);
            // This thread's own read first: it came before what the background reader took.
            if self.has_backlog() {
                self.deliver_nested();
            } else if self.background_waits() {
                self.drain_background();
            }
            return;
        }
        if self.backoff().is_some() {
            // The queue's next try (`send_wait.rs`); a turn owed for receiving comes with it.
            self.flush_queue_when_writable();
        }
        // This thread's own read first: it came before what the background reader took.
        if self.has_backlog() {
            self.resting.set(false);
            self.deliver_backlog();
        } else if self.background_waits() {
            // A pacing wait is moot while the background reader owns the socket (left on, it
            // would keep readable interest off after the hand-back, with no pacing turn to come).
            self.paced.set(false);
            self.drain_background();
        } else if self.resting.replace(false) {
            self.update_interest();
        } else {
            self.paced_turn();
            if self.is_background() {
                // The reader handed the socket back (its wake-up): readable again.
                self.update_interest();
            }
        }
    }

    fn teardown(&self) {
        if !self.closed.replace(true) {
            self.receiving.set(false);
            self.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Owner;

    /// Every socket has an owner: 10,000 idle sockets took more memory than node:dgram's while
    /// it was 528 bytes (the send queues, the background reader and the statistics at close
    /// inline), and it was 304 until the send queue's wait and the background read in delivery
    /// moved to what only sockets that use them have. What few sockets use is boxed or made on
    /// first use; this fails if a field makes it grow again (64-bit targets).
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn an_owner_stays_small() {
        let size = std::mem::size_of::<Owner>();
        assert!(size <= 232, "Owner is {size} bytes");
    }
}
