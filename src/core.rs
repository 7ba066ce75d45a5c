//! The state behind one `UdpHandle`: the OS socket, its poll handle on Node's loop, the JS
//! callbacks, the send queue, and the close/teardown rules.
//!
//! Everything runs on the JS thread of one environment. State sits in `Cell`/`RefCell` because
//! JavaScript can re-enter the handle (close it, send again) from inside a callback the handle is
//! making; no borrow is ever held across a call into JavaScript, and borrows use `try_borrow*`
//! so that a mistake becomes an error, never a panic.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::AsRawFd;
use std::rc::{Rc, Weak};

use socket2::Socket;

use crate::error;
use crate::pacing::Pacer;
use crate::send::SendQueue;
use crate::socket::{self, Family, Options};
use crate::uv::{self, AsyncContext, CleanupHook, JsFunction, Poll, PollHandler, RawEnv, Teardown};

/// The JavaScript functions a socket reports to, handed over once by `recvStart`.
pub struct Callbacks {
    /// The async context every call runs in.
    pub context: AsyncContext,
    /// `onmessage(buf, address, port)`.
    pub onmessage: JsFunction,
    /// `onerror(errno)`: a receive error.
    pub onerror: JsFunction,
    /// `onsend(status, bytes)`: a queued send completed.
    pub onsend: JsFunction,
}

/// One UDP socket's native state.
pub struct Core {
    /// The environment (JS thread) the handle belongs to.
    pub env: RawEnv,
    /// `'udp4'` or `'udp6'`.
    pub family: Family,
    socket: RefCell<Option<Socket>>,
    poll: RefCell<Option<Poll<Core>>>,
    /// The read-pacing timer, made the first time the socket is busy.
    pacer: RefCell<Option<Pacer>>,
    /// This core itself, for the handles that call back into it (they must not keep it alive).
    me: Weak<Core>,
    hook: RefCell<Option<CleanupHook<Core>>>,
    callbacks: RefCell<Option<Rc<Callbacks>>>,
    /// Sends waiting for the socket to become writable, in order.
    pub queue: RefCell<SendQueue>,
    /// Sends gathered in this tick, waiting for the JavaScript layer's flush.
    pub deferred: RefCell<Vec<crate::coalesce::Deferred>>,
    /// Whether the kernel takes UDP segmentation offload on this socket.
    pub offload: crate::batch::Offload,
    /// Batch receive: one callback per read (a GRO batch), not per datagram.
    pub batch_receive: Cell<bool>,
    /// Batch receive without a copy: each read's Buffer is the read buffer itself, emptied
    /// (detached) once the call returns.
    pub batch_zero_copy: Cell<bool>,
    /// Whether `connect()` succeeded (and no `disconnect()` since): libuv refuses a send with
    /// an address on a connected socket (`EISCONN`) and one without on an unconnected socket
    /// (`EDESTADDRREQ`).
    pub connected: Cell<bool>,
    receiving: Cell<bool>,
    referenced: Cell<bool>,
    closed: Cell<bool>,
}

impl Core {
    /// A handle with no OS socket yet (created by the first bind/connect/open, as libuv does).
    pub fn new(env: RawEnv, family: Family) -> Rc<Self> {
        Rc::new_cyclic(|me| Core {
            env,
            family,
            socket: RefCell::new(None),
            poll: RefCell::new(None),
            pacer: RefCell::new(None),
            me: me.clone(),
            hook: RefCell::new(None),
            callbacks: RefCell::new(None),
            queue: RefCell::new(SendQueue::default()),
            deferred: RefCell::new(Vec::new()),
            offload: Default::default(),
            batch_receive: Cell::new(false),
            batch_zero_copy: Cell::new(false),
            connected: Cell::new(false),
            receiving: Cell::new(false),
            referenced: Cell::new(true),
            closed: Cell::new(false),
        })
    }

    /// A weak reference to this core.
    pub fn weak(&self) -> Weak<Core> {
        self.me.clone()
    }

    /// Runs `f` on the pacing timer, made on first use.
    pub(crate) fn with_pacer<R>(&self, f: impl FnOnce(&Pacer) -> io::Result<R>) -> io::Result<R> {
        let mut slot = self.borrow_mut(&self.pacer)?;
        if slot.is_none() {
            if self.closed.get() {
                return Err(io::Error::from_raw_os_error(libc::EBADF));
            }
            *slot = Some(Pacer::new(self)?);
        }
        match slot.as_ref() {
            Some(pacer) => f(pacer),
            None => Err(io::Error::from_raw_os_error(libc::ENOMEM)),
        }
    }

    /// Runs `f` on the pacing timer if there is one.
    pub(crate) fn if_pacer(&self, f: impl FnOnce(&Pacer)) {
        if let Ok(slot) = self.pacer.try_borrow() {
            if let Some(pacer) = slot.as_ref() {
                f(pacer);
            }
        }
    }

    /// Whether reads wait for the pacing timer rather than for readability.
    pub(crate) fn is_paced(&self) -> bool {
        let mut armed = false;
        self.if_pacer(|p| armed = p.is_armed());
        armed
    }

    /// Runs `f` on the OS socket; `EBADF` when there is none (before bind, after close).
    pub fn with_socket<R>(&self, f: impl FnOnce(&Socket) -> io::Result<R>) -> io::Result<R> {
        let guard = self
            .socket
            .try_borrow()
            .map_err(|_| io::Error::from_raw_os_error(libc::EBUSY))?;
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

    /// Creates the OS socket if there is none yet (libuv's deferred creation).
    pub fn ensure_socket(&self) -> io::Result<()> {
        if self.closed.get() {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        if self.has_socket() {
            return Ok(());
        }
        self.install(socket::create(self.family)?)
    }

    /// Takes `socket` as this handle's OS socket.
    pub fn install(&self, socket: Socket) -> io::Result<()> {
        crate::recv::enable_gro(&socket);
        *self.borrow_mut(&self.socket)? = Some(socket);
        Ok(())
    }

    /// Watches the socket on the loop (created on first use, once the socket receives: a socket
    /// that never does holds nothing on the loop and can be garbage-collected).
    fn ensure_poll(self: &Rc<Self>) -> io::Result<()> {
        if self.poll.try_borrow().map(|p| p.is_some()).unwrap_or(true) {
            return Ok(());
        }
        let fd = self.with_socket(|s| Ok(s.as_raw_fd()))?;
        let poll = Poll::new(self.env, fd, Rc::clone(self))?;
        if !self.referenced.get() {
            poll.set_ref(false);
        }
        *self.borrow_mut(&self.poll)? = Some(poll);
        *self.borrow_mut(&self.hook)? = CleanupHook::add(self.env, Rc::clone(self));
        Ok(())
    }

    fn borrow_mut<'a, T>(&self, cell: &'a RefCell<T>) -> io::Result<std::cell::RefMut<'a, T>> {
        cell.try_borrow_mut()
            .map_err(|_| io::Error::from_raw_os_error(libc::EBUSY))
    }

    /// Starts reading and keeps `callbacks` until close.
    pub fn recv_start(self: &Rc<Self>, callbacks: Callbacks) -> i32 {
        if self.closed.get() || !self.has_socket() {
            return error::EBADF;
        }
        if let Err(e) = self.ensure_poll() {
            return error::errno(&e);
        }
        if let Ok(mut slot) = self.callbacks.try_borrow_mut() {
            *slot = Some(Rc::new(callbacks));
        }
        self.receiving.set(true);
        self.update_interest()
    }

    /// Stops reading (sends still complete).
    pub fn recv_stop(&self) -> i32 {
        self.receiving.set(false);
        self.update_interest()
    }

    /// Whether `'message'` delivery is on (checked between datagrams: a handler may close).
    pub fn is_receiving(&self) -> bool {
        self.receiving.get() && !self.closed.get()
    }

    /// Whether `close()` (or environment teardown) has happened.
    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// The callbacks, if `recvStart` has given them (a clone of the Rc, so no borrow is held
    /// while JavaScript runs).
    pub fn callbacks(&self) -> Option<Rc<Callbacks>> {
        self.callbacks.try_borrow().ok().and_then(|c| c.clone())
    }

    /// Polls for what is wanted now: readable while receiving, writable while sends are queued.
    /// With neither, the poll handle stops, and with it stops keeping the process alive.
    pub fn update_interest(&self) -> i32 {
        let mut events = 0;
        if self.is_receiving() && !self.is_paced() {
            events |= uv::READABLE;
        }
        if self
            .queue
            .try_borrow()
            .map(|q| !q.is_empty())
            .unwrap_or(false)
        {
            events |= uv::WRITABLE;
        }
        match self.poll.try_borrow() {
            Ok(p) => p.as_ref().map_or(0, |p| p.watch(events)),
            Err(_) => 0,
        }
    }

    /// `ref()` / `unref()`; remembered before the socket exists and applied when it does.
    pub fn set_ref(&self, on: bool) {
        self.referenced.set(on);
        if let Ok(p) = self.poll.try_borrow() {
            if let Some(p) = p.as_ref() {
                p.set_ref(on);
            }
        }
        self.if_pacer(|p| p.set_ref(on));
    }

    /// `hasRef()`.
    pub fn has_ref(&self) -> bool {
        self.referenced.get()
    }

    /// Closes the socket: no callback is made after this. Returns how many queued sends were
    /// cancelled (JavaScript completes them with `ECANCELED`, as libuv does on close).
    pub fn close(&self) -> u32 {
        if self.closed.replace(true) {
            return 0;
        }
        self.receiving.set(false);
        if let Some(hook) = self.hook.try_borrow_mut().ok().and_then(|mut h| h.take()) {
            hook.remove();
        }
        self.release()
    }

    /// Drops the poll handle (uv_close), the socket and the callbacks.
    fn release(&self) -> u32 {
        let cancelled = self
            .queue
            .try_borrow_mut()
            .map(|mut q| q.clear())
            .unwrap_or(0);
        // Order matters: the poll handle stops watching the descriptor before it is closed.
        if let Ok(mut p) = self.poll.try_borrow_mut() {
            p.take();
        }
        if let Ok(mut p) = self.pacer.try_borrow_mut() {
            p.take();
        }
        if let Ok(mut s) = self.socket.try_borrow_mut() {
            s.take();
        }
        if let Ok(mut c) = self.callbacks.try_borrow_mut() {
            c.take();
        }
        cancelled
    }
}

impl PollHandler for Core {
    fn on_poll(&self, status: i32, events: i32) {
        if status < 0 {
            // libuv stops a poll handle and reports EBADF when the socket has a pending error
            // (an ICMP port unreachable on a connected socket, say). Read to take the real
            // error (ECONNREFUSED) as node:dgram's read would, then watch again.
            self.on_readable();
            self.update_interest();
            return;
        }
        if events & uv::WRITABLE != 0 {
            self.flush_queue();
        }
        if events & uv::READABLE != 0 {
            self.read_and_pace();
        }
    }
}

impl Teardown for Core {
    fn teardown(&self) {
        // Node has unregistered the hook and run_hook releases its Rc: forget ours.
        if let Some(hook) = self.hook.try_borrow_mut().ok().and_then(|mut h| h.take()) {
            hook.forget_after_run();
        }
        if !self.closed.replace(true) {
            self.receiving.set(false);
            self.release();
        }
    }
}
