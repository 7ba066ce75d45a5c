//! Delivery: what the receive engine read, handed to JavaScript through `onmessage`, one
//! `napi_make_callback` per datagram (or per batch), so that each call's `process.nextTick` and
//! promise jobs run before the next, as in node:dgram.
//!
//! Fairness, as libuv: one read per readiness, and at most [`FAIR`] datagrams delivered per
//! socket per loop iteration. A read takes at most 32 datagrams, or, with receive offload on, 32
//! GRO batches of up to 64 datagrams each; what is left of it waits, already read, in the
//! socket's backlog, and is delivered [`FAIR`] at a time at the start of the following
//! iterations (a reactor turn; the loop does not block in its poll meanwhile), before the socket
//! is read again. Timers, immediates and other sockets run in between. `close()` discards the
//! backlog, as node:dgram's close discards what waits in the kernel (it was counted in
//! `datagramsReceived` when read). In batch mode (`receiveBatches`) one read is one turn: its
//! batches are delivered together.
//!
//! Memory stays bounded by construction: nothing more is read while a backlog waits, so a slow
//! `'message'` handler leaves datagrams in the kernel's receive buffer (which drops when full),
//! exactly as with node:dgram.
//!
//! Re-entry: a listener may run the loop itself (`deasync`'s synchronous wait). The read buffers
//! are never borrowed across a call into JavaScript: each read takes a buffer from the thread's
//! pool (making one if a nested read finds it empty) and keeps it only while its datagrams are
//! delivered. A socket whose delivery is in progress is not read again by a nested loop (its
//! datagrams would overtake the ones still to be delivered): its readable interest goes off until
//! the outer delivery ends, so the nested loop does not spin on it, and other sockets are read
//! and delivered as usual.

use std::cell::RefCell;
use std::io;

use napi::sys::napi_value;

use super::control::InfoValues;
use super::{staging, Callbacks, Delivery, Owner};
use crate::recv::{self, Batches, Datagrams, Position, ReadSize};
use crate::sys::addr::Addr;
use crate::sys::error;
use crate::sys::mmsg::Reader;
use crate::sys::socket::format_ip;
use crate::uv::{CallScope, Callee};

/// Datagrams delivered per socket per loop iteration at most (libuv reads 32 per readiness).
pub const FAIR: usize = 32;

/// Read buffers kept in the thread's pool: one for reads, one for a nested loop's read.
const POOLED: usize = 2;

thread_local! {
    /// One JS thread's spare read buffers (32 × 64 KiB each): a read takes one for as long as
    /// its datagrams are delivered, so that buffers per socket (2 MiB for each of possibly
    /// thousands of sockets) are not needed. Untouched pages cost nothing.
    static READERS: RefCell<Vec<Reader>> = const { RefCell::new(Vec::new()) };
}

/// A read buffer from the pool, or a new one.
fn take_reader() -> io::Result<Reader> {
    let pooled = READERS
        .try_with(|r| r.try_borrow_mut().ok().and_then(|mut v| v.pop()))
        .ok()
        .flatten();
    match pooled {
        Some(reader) => Ok(reader),
        None => Reader::new(),
    }
}

/// Returns a read buffer to the pool (or frees it, when the pool is full).
fn give_back(reader: Reader) {
    let _ = READERS.try_with(|r| {
        if let Ok(mut v) = r.try_borrow_mut() {
            if v.len() < POOLED {
                v.push(reader);
            }
        }
    });
}

/// What a read left undelivered: its buffer and where delivery stopped.
pub(super) struct Backlog {
    reader: Reader,
    at: Position,
}

/// How many datagrams get their Buffers made (or their bytes staged) ahead of their calls, in
/// one handle scope. Few, because a young-generation GC during the calls finds them all alive:
/// a whole GRO read (up to 2,048 datagrams) made ahead made V8 grow its young generation, and
/// the peak RSS by several MB. More than one, because a scope per datagram cost more CPU than it
/// saved.
const AHEAD: usize = staging::SLOTS;

/// `onmessage`'s arguments at most: `buf, address, port, sizes` and the six of the receive
/// information.
const ARGS: usize = 10;

impl Owner {
    /// Reads once (at most [`FAIR`] datagrams are delivered now, the rest wait in the backlog),
    /// then decides when to read next.
    pub(super) fn read_and_pace(&self) {
        let read = self.read_once();
        if self.has_backlog() {
            return;
        }
        self.pace(read);
    }

    /// Whether datagrams read earlier wait for a later turn (or are being delivered from the
    /// backlog now).
    pub(super) fn has_backlog(&self) -> bool {
        self.draining.get()
            || self
                .backlog
                .try_borrow()
                .map(|b| b.is_some())
                .unwrap_or(true)
    }

    /// A turn of the loop: delivers the next [`FAIR`] datagrams of the backlog. Once it is
    /// empty the socket is read again on readiness.
    pub(super) fn deliver_backlog(&self) {
        if !self.is_receiving() || self.paused.get() {
            // Kept for when receiving resumes (closing drops it).
            return;
        }
        let (Some(callbacks), Some(backlog)) = (
            self.callbacks(),
            self.backlog
                .try_borrow_mut()
                .ok()
                .and_then(|mut b| b.take()),
        ) else {
            return;
        };
        self.draining.set(true);
        let Backlog { reader, at } = *backlog;
        self.deliver_from(&callbacks, reader, at);
        self.draining.set(false);
        if !self.has_backlog() && self.is_receiving() {
            // Read again from the next iteration on (see `Owner::resting`).
            self.resting.set(true);
            self.request_turn();
        }
    }

    /// Reads once and delivers what came (at most [`FAIR`] datagrams now). Returns what the
    /// kernel had ready.
    pub(super) fn read_once(&self) -> ReadSize {
        let (Some(callbacks), Some(fd)) = (self.callbacks(), self.fd()) else {
            return ReadSize::default();
        };
        if self.has_backlog() {
            // What was read earlier goes first (its turn is asked for): reading now would
            // overtake it.
            return ReadSize::default();
        }
        let mode = self.control.read_mode.get();
        let mut reader = match take_reader() {
            Ok(reader) => reader,
            Err(e) => {
                self.report_receive_error(error::errno(&e));
                return ReadSize::default();
            }
        };
        match recv::read_with(fd, &mut reader, mode) {
            Ok(size) => {
                // A refusal only means datagram-by-datagram reads, just as correct.
                let _ = self.follow_offload(Some(size));
                let (datagrams, bytes) = self.received.get();
                self.received
                    .set((datagrams + size.datagrams as u64, bytes + size.bytes as u64));
                self.deliver_from(&callbacks, reader, Position::default());
                size
            }
            Err(e) => {
                give_back(reader);
                match e.kind() {
                    // Left to the next wakeup: the poll is level-triggered, nothing is lost.
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => {}
                    // With receiveErrors, an ICMP error is reported from the error queue.
                    _ if self.receives_errors() && crate::sys::control::is_stale_error(&e) => {}
                    _ => self.report_receive_error(error::errno(&e)),
                }
                ReadSize::default()
            }
        }
    }

    /// Delivers `reader`'s datagrams from `at` on, at most [`FAIR`] of them; what is left goes
    /// to the backlog with a turn asked for, while the socket receives.
    fn deliver_from(&self, callbacks: &Callbacks, reader: Reader, at: Position) {
        let nested = self.delivering.replace(true);
        let rest = {
            let _delivering = staging::Delivering::begin();
            if self.delivery.get() == Delivery::Each {
                self.deliver_each(callbacks, &reader, at)
            } else {
                self.deliver_batches(callbacks, &reader);
                None
            }
        };
        self.delivering.set(nested);
        match rest {
            Some(at) if self.is_receiving() => {
                if let Ok(mut slot) = self.backlog.try_borrow_mut() {
                    *slot = Some(Box::new(Backlog { reader, at }));
                }
                self.request_turn();
                // Not read on readiness until the backlog is delivered.
                self.update_interest();
            }
            _ => give_back(reader),
        }
        if !nested && self.nested_blocked.replace(false) {
            // A nested loop found this socket readable meanwhile and left it: watch it again.
            self.update_interest();
        }
    }

    /// `onerror(errno)`: a receive error (`'error'` on the socket).
    pub(super) fn report_receive_error(&self, errno: i32) {
        let (Some(callbacks), Some(scope)) = (self.callbacks(), CallScope::open(self.env)) else {
            return;
        };
        if let Some(code) = scope.int(errno) {
            callbacks.call(&scope, |f| &f.onerror, &[code]);
        }
    }

    /// One `onmessage(buf, address, port)` per datagram from `at` on, [`AHEAD`] Buffers at a
    /// time, while the socket receives, [`FAIR`] at most; with `receiveInfo`,
    /// `onmessage(buf, address, port, undefined, localAddress, interfaceIndex, tos, ttl,
    /// timestamp, truncated)`. Returns where it stopped if datagrams are left.
    fn deliver_each(
        &self,
        callbacks: &Callbacks,
        reader: &Reader,
        at: Position,
    ) -> Option<Position> {
        let mut datagrams = Datagrams::resume(reader, at);
        let mut left = FAIR;
        loop {
            if left == 0 {
                let at = datagrams.position();
                return Datagrams::resume(reader, at).next().map(|_| at);
            }
            let scope = CallScope::open(self.env)?;
            let onmessage = callbacks.callee(&scope, |f| &f.onmessage)?;
            // The sender's address string is made once per run of datagrams from one sender.
            let mut sender = Sender::default();
            let mut local = InfoValues::default();
            let mut calls = [([std::ptr::null_mut(); ARGS], 3); AHEAD];
            let mut count = 0;
            for (slot, (datagram, call)) in datagrams
                .by_ref()
                .take(AHEAD.min(left))
                .zip(calls.iter_mut())
                .enumerate()
            {
                // A small datagram goes through the staging area (see `staging`), a number in
                // place of its Buffer.
                let buf = match staging::stage(self.env, slot, datagram.bytes) {
                    Some(code) => scope.int(code),
                    None => scope.buffer_copy(datagram.bytes),
                };
                let (Some((address, port)), Some(buf)) =
                    (sender.values(&scope, datagram.from), buf)
                else {
                    return None;
                };
                call.0[..3].copy_from_slice(&[buf, address, port]);
                if let Some(info) = &datagram.info {
                    // onmessage(buf, address, port, undefined, ...info)
                    let (Some(none), Some(values)) =
                        (scope.undefined(), local.values(&scope, self.family, info))
                    else {
                        return None;
                    };
                    call.0[3] = none;
                    call.0[4..].copy_from_slice(&values);
                    call.1 = ARGS;
                }
                count += 1;
            }
            if count == 0 || !self.call_each(&scope, callbacks, &onmessage, &calls[..count]) {
                return None;
            }
            left -= count;
        }
    }

    /// One `onmessage(buf, address, port, size)` per [`recv::Batch`] (what one read took from
    /// one sender): for a batch of one slot, its Buffer and the size of its datagrams; for more,
    /// an array of each slot's Buffer and an array of their sizes.
    fn deliver_batches(&self, callbacks: &Callbacks, reader: &Reader) {
        /// Room for every slot of one read.
        const MAX: usize = crate::sys::mmsg::SLOTS;
        for batch in Batches::new(reader) {
            if !self.is_receiving() {
                return;
            }
            let Some(scope) = CallScope::open(self.env) else {
                return;
            };
            let Some(onmessage) = callbacks.callee(&scope, |f| &f.onmessage) else {
                return;
            };
            // Buffers lent without a copy: emptied when this iteration ends, on every path,
            // before the read buffer can be read into again.
            let mut lent = Lent {
                scope: &scope,
                owner: self,
                buffers: [std::ptr::null_mut(); MAX],
                count: 0,
            };
            let mut buffers = [std::ptr::null_mut(); MAX];
            let mut sizes = [std::ptr::null_mut(); MAX];
            let mut count = 0;
            for ((bytes, segment), (buf, size)) in
                batch.slots().zip(buffers.iter_mut().zip(sizes.iter_mut()))
            {
                let made = if self.delivery.get() == Delivery::BatchZeroCopy {
                    // SAFETY: the bytes are in this delivery's read buffer, which goes back to
                    // the pool (to be read into again) only after `lent` has detached the
                    // Buffer, when this iteration ends.
                    unsafe { scope.buffer_borrowed(bytes) }.map(|(buf, borrowed)| {
                        if borrowed {
                            lent.keep(buf);
                        }
                        buf
                    })
                } else {
                    scope.buffer_copy(bytes)
                };
                let (Some(made), Some(segment)) =
                    (made, scope.int(i32::try_from(segment).unwrap_or(i32::MAX)))
                else {
                    return;
                };
                (*buf, *size) = (made, segment);
                count += 1;
            }
            let args = if batch.slot_count() == 1 {
                Some((buffers[0], sizes[0]))
            } else {
                scope
                    .array(&buffers[..count])
                    .zip(scope.array(&sizes[..count]))
            };
            let (Some((buf, size)), Some((address, port))) =
                (args, Sender::default().values(&scope, batch.from))
            else {
                return;
            };
            let mut call = [buf, address, port, size, buf, buf, buf, buf, buf, buf];
            let mut argc = 4;
            if let Some(info) = &batch.info {
                let Some(values) = InfoValues::default().values(&scope, self.family, info) else {
                    return;
                };
                call[4..].copy_from_slice(&values);
                argc = ARGS;
            }
            scope.call_callee(&callbacks.context, &onmessage, &call[..argc]);
        }
    }

    /// Makes the calls of one chunk; returns false once the socket has stopped receiving (a
    /// handler may close it).
    fn call_each(
        &self,
        scope: &CallScope,
        callbacks: &Callbacks,
        onmessage: &Callee,
        calls: &[([napi_value; ARGS], usize)],
    ) -> bool {
        for (args, argc) in calls {
            if !self.is_receiving() {
                return false;
            }
            scope.call_callee(&callbacks.context, onmessage, &args[..*argc]);
        }
        true
    }
}

/// The last sender's address and port as JavaScript values, made again only when it changes. A
/// Unix sender is its name (empty when unnamed; lossy UTF-8) and port 0.
#[derive(Default)]
pub(super) struct Sender<'a>(Option<(Addr<'a>, napi_value, napi_value)>);

impl<'a> Sender<'a> {
    pub(super) fn values(
        &mut self,
        scope: &CallScope,
        from: Addr<'a>,
    ) -> Option<(napi_value, napi_value)> {
        match self.0 {
            Some((last, address, port)) if last == from => Some((address, port)),
            _ => {
                let (address, port) = match from {
                    Addr::Ip(ip) => (scope.string(&format_ip(&ip))?, ip.port()),
                    Addr::Unix(name) => (scope.string(&String::from_utf8_lossy(name))?, 0),
                };
                let port = scope.int(i32::from(port))?;
                self.0 = Some((from, address, port));
                Some((address, port))
            }
        }
    }
}

/// Buffers lent to JavaScript over the read buffer, detached on drop.
struct Lent<'a> {
    scope: &'a CallScope,
    owner: &'a Owner,
    buffers: [napi_value; crate::sys::mmsg::SLOTS],
    count: usize,
}

impl Lent<'_> {
    fn keep(&mut self, buffer: napi_value) {
        if let Some(slot) = self.buffers.get_mut(self.count) {
            *slot = buffer;
            self.count += 1;
        }
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        for &buf in &self.buffers[..self.count] {
            if !self.scope.detach(buf) {
                // The memory could not be taken back: later reads would overwrite what
                // JavaScript may still hold. Lend no more; from now on each read is copied.
                self.owner.delivery.set(Delivery::Batch);
            }
        }
    }
}
