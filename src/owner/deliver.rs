//! Delivery: what the receive engine read, handed to JavaScript through `onmessage`, one
//! `napi_make_callback` per datagram (or per batch), so that each call's `process.nextTick` and
//! promise jobs run before the next, as in node:dgram.
//!
//! Fairness, as libuv: at most [`FAIR`] datagrams delivered per socket per loop iteration (where
//! a delivery answered, the socket is read again within that: `read_and_pace`). A read takes at
//! most 32 datagrams, or, with receive offload on, 32 GRO batches of up to 64 datagrams each;
//! what is left of it waits, already read, in the socket's backlog, and is delivered [`FAIR`] at
//! a time at the start of the following iterations (a reactor turn; the loop does not block in
//! its poll meanwhile), before the socket is read again. Timers, immediates and other sockets
//! run in between. `close()` discards the backlog, as node:dgram's close discards what waits in
//! the kernel (it was counted in `datagramsReceived` when read). In batch mode
//! (`receiveBatches`) one read is one turn: its batches are delivered together.
//!
//! Memory stays bounded by construction: nothing more is read while a backlog waits, so a slow
//! `'message'` handler leaves datagrams in the kernel's receive buffer (which drops when full),
//! exactly as with node:dgram.
//!
//! Re-entry: a listener may run the loop itself (`deasync`'s synchronous wait). The read buffers
//! are never borrowed across a call into JavaScript: a read takes a buffer from the thread's pool
//! (making one if a nested read finds it empty), and it becomes the socket's backlog, from which
//! every delivery level takes its datagrams a few at a time. The calls a level has made ready
//! (their Buffers made in its handle scope) wait in the socket's `pending` queue, shared by the
//! levels: a nested delivery to the same socket first makes the calls the outer one made ready,
//! then takes the backlog's next datagrams, so the order is the read's whatever the nesting, and
//! every level makes (or has a nested level make) the calls it made ready before it returns.
//! While datagrams wait behind the call in progress, the socket asks for a reactor turn, which a
//! nested loop gives it at once: node:dgram's nested read takes the next datagram the same way.
//! Without a nested loop that turn finds nothing to do. A nested loop never spins on the socket:
//! readable interest is off while a backlog waits, and a nested delivery of more than [`FAIR`]
//! asks for another turn rather than for readiness. Batches (`receiveBatches`) are not delivered
//! re-entrantly: their socket waits for the outer delivery. (The background path nests as this
//! one does: `background.rs`.)

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;

use napi::sys::napi_value;

use super::encode::{Call, Encoder};
use super::{staging, thread, Callbacks, Delivery, Owner};
use crate::recv::{self, Batches, Datagrams, Position, ReadSize};
use crate::sys::error;
use crate::sys::mmsg::Reader;
use crate::uv::CallScope;

/// Datagrams delivered per socket per loop iteration at most (libuv reads 32 per readiness).
pub const FAIR: usize = 32;

/// Read buffers kept in the thread's pool: one for reads, one for a nested loop's read.
const POOLED: usize = 2;

// One JS thread's spare read buffers (32 × 64 KiB each, in its `thread::Thread`): a read takes
// one for as long as its datagrams are delivered, so that buffers per socket (2 MiB for each of
// possibly thousands of sockets) are not needed. Untouched pages cost nothing.

/// A read buffer from the pool, or a new one.
fn take_reader() -> io::Result<Reader> {
    let pooled =
        thread::with(|t| t.readers.try_borrow_mut().ok().and_then(|mut v| v.pop())).flatten();
    match pooled {
        Some(reader) => Ok(reader),
        None => Reader::new(),
    }
}

/// Returns a read buffer to the pool (or frees it, when the pool is full).
fn give_back(reader: Reader) {
    thread::with(|t| {
        if let Ok(mut v) = t.readers.try_borrow_mut() {
            if v.len() < POOLED {
                v.push(reader);
            }
        }
    });
}

thread_local! {
    /// The thread's spare call queue, empty, with its room: lent to a socket for as long as it
    /// delivers, as a read buffer is. Plain memory (no JavaScript value outlives a delivery), so
    /// it goes with the thread, not with the environment's teardown.
    static SPARE_CALLS: RefCell<Option<Box<Pending>>> = const { RefCell::new(None) };
}

/// The thread's spare call queue (see [`Pending`]), or a new one.
fn take_calls_room() -> Box<Pending> {
    SPARE_CALLS
        .try_with(|q| q.try_borrow_mut().ok().and_then(|mut q| q.take()))
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Keeps `room`, a call queue, emptied, for the thread's next delivery (or frees it, when the
/// thread has one).
fn give_calls_room(mut room: Box<Pending>) {
    room.clear();
    // At thread exit the spare may be gone already: the room is freed then.
    let _ = SPARE_CALLS.try_with(|q| {
        if let Ok(mut spare) = q.try_borrow_mut() {
            if spare.is_none() {
                *spare = Some(room);
            }
        }
    });
}

/// What a read left undelivered: its buffer and where delivery stopped.
pub(super) struct Backlog {
    reader: Reader,
    at: Position,
}

impl Backlog {
    /// Drops what is left undelivered; the read buffer goes back to the thread's pool.
    pub(super) fn discard(self) {
        give_back(self.reader);
    }
}

/// `onmessage` calls made ready (in a delivery's handle scope) and not made yet.
pub(super) type Pending = VecDeque<Call>;

/// How many datagrams get their Buffers made (or their bytes staged) ahead of their calls, in
/// one handle scope. Few, because a young-generation GC during the calls finds them all alive:
/// a whole GRO read (up to 2,048 datagrams) made ahead made V8 grow its young generation, and
/// the peak RSS by several MB. More than one, because a scope per datagram cost more CPU than it
/// saved.
const AHEAD: usize = staging::SLOTS;

impl Owner {
    /// Reads on readiness, then decides when to read next (each read's size goes to the pacing
    /// decision). Where a read's delivery sent from the socket (request/response), it reads
    /// again, as libuv does, until a read finds nothing, [`FAIR`] datagrams were delivered (a
    /// read that takes more leaves the rest in the backlog), or pacing decides to wait.
    ///
    /// Why read again: with a few requests in flight, the next request has often arrived while
    /// the handler answered the last one. Read at once, it costs one `recvmmsg`; left to the next
    /// loop iteration, it cost a poll of the loop and one of the reactor besides (2 requests in
    /// flight: 0.82-0.86x node:dgram's requests/s, at one loop iteration per datagram, where
    /// libuv's reads took about ten per iteration). Why only then: a socket that only receives a
    /// stream (one to three datagrams a wakeup) mostly found nothing on the second read, one
    /// empty `recvmmsg` per wakeup (node:dgram's sender to dgram-rs, 64 B across cores: 0.90x
    /// node:dgram's rate, receiver CPU 1.06x, against 1.02x and 0.91x); there pacing gathers
    /// instead (`crate::recv::pacing`).
    pub(super) fn read_and_pace(&self) {
        let sent = || self.sender.try_borrow().ok().map(|s| s.sent().0);
        let mut delivered = 0;
        loop {
            if delivered > 0 && self.background_waits() {
                // The background reader took the socket over while the handler answered (it
                // ran past the takeover deadline): what it read is what this read would have
                // found, and goes now, within the iteration's budget, as libuv's read would
                // deliver it before this phase's setImmediate callbacks. Read at the next
                // iteration's turn instead, a slow handler's next request came after them.
                self.drain_background_within(FAIR - delivered);
                return;
            }
            let sent_before = sent();
            let read = self.read_once(FAIR - delivered);
            if self.has_backlog() {
                return;
            }
            self.pace(read);
            delivered += read.datagrams;
            let answered = sent_before.is_some() && sent() != sent_before;
            if read.datagrams == 0 && delivered > 0 {
                // What was read before was answered (else no read again), and nothing more
                // came yet: the answers' answers are on their way.
                self.linger();
            }
            if !answered
                || read.datagrams == 0
                || delivered >= FAIR
                || self.is_paced()
                || !self.is_receiving()
                || self.paused.get()
                || self.delivery.get() != Delivery::Each
            {
                return;
            }
        }
    }

    /// Whether datagrams read earlier are still to be delivered (in the backlog, or made ready
    /// for their calls by a delivery in progress).
    pub(super) fn has_backlog(&self) -> bool {
        let pending = self
            .pending
            .try_borrow()
            .map(|p| p.as_ref().is_some_and(|q| !q.is_empty()))
            .unwrap_or(true);
        pending
            || self
                .backlog
                .try_borrow()
                .map(|b| {
                    b.as_ref()
                        .is_some_and(|b| Datagrams::resume(&b.reader, b.at).next().is_some())
                })
                .unwrap_or(true)
    }

    /// Gives the socket's call queue back to the thread, emptied: the calls still in it are
    /// discarded.
    pub(super) fn return_calls_room(&self) {
        let room = self
            .pending
            .try_borrow_mut()
            .ok()
            .and_then(|mut p| p.take());
        if let Some(room) = room {
            give_calls_room(room);
        }
    }

    /// Whether the backlog holds datagrams not yet made ready for their calls.
    fn has_backlog_beyond_pending(&self) -> bool {
        self.backlog
            .try_borrow()
            .map(|b| {
                b.as_ref()
                    .is_some_and(|b| Datagrams::resume(&b.reader, b.at).next().is_some())
            })
            .unwrap_or(false)
    }

    /// A turn of the loop: delivers the next [`FAIR`] datagrams of the backlog. Once it is
    /// empty the socket is read again on readiness, from the next iteration on.
    pub(super) fn deliver_backlog(&self) {
        if !self.is_receiving() || self.paused.get() {
            // Kept for when receiving resumes (closing drops it).
            return;
        }
        let Some(callbacks) = self.callbacks() else {
            return;
        };
        self.js_progress();
        self.deliver_level(&callbacks, FAIR);
        if !self.has_backlog() && self.is_receiving() && !self.delivering.get() {
            // Read again from the next iteration on (see `Owner::resting`). The delivery just
            // made turned readable interest back on (no backlog, not resting yet): off again,
            // or this iteration's poll would read and deliver up to [`FAIR`] more.
            self.resting.set(true);
            self.update_interest();
            self.request_turn();
        }
    }

    /// Reads once and delivers what came (at most `budget` datagrams now, the rest wait in the
    /// backlog). Returns what the kernel had ready.
    pub(super) fn read_once(&self, budget: usize) -> ReadSize {
        let (Some(callbacks), Some(fd)) = (self.callbacks(), self.fd()) else {
            return ReadSize::default();
        };
        if self.has_backlog() {
            // What was read earlier goes first (its turn is asked for): reading now would
            // overtake it.
            return ReadSize::default();
        }
        if !self.begin_js_read() {
            // The background reader owns the socket, or what it read waits: delivered first,
            // in a turn; readable interest stays off meanwhile.
            self.update_interest();
            self.request_turn();
            return ReadSize::default();
        }
        let mode = self.control.read_mode.get();
        let mut reader = match take_reader() {
            Ok(reader) => reader,
            Err(e) => {
                self.end_js_read(None);
                self.report_receive_error(error::errno(&e));
                return ReadSize::default();
            }
        };
        let read = recv::read_with(fd, &mut reader, mode);
        self.end_js_read(read.as_ref().ok());
        match read {
            Ok(size) => {
                // A refusal only means datagram-by-datagram reads, just as correct.
                let _ = self.follow_offload(Some(size));
                let (datagrams, bytes) = self.received.get();
                self.received
                    .set((datagrams + size.datagrams as u64, bytes + size.bytes as u64));
                if self.delivery.get() == Delivery::Each {
                    // The read becomes the socket's backlog (a read left over by an outer
                    // delivery was all delivered: see the check above).
                    let old = self.backlog.try_borrow_mut().ok().and_then(|mut slot| {
                        slot.replace(Box::new(Backlog {
                            reader,
                            at: Position::default(),
                        }))
                    });
                    if let Some(old) = old {
                        give_back(old.reader);
                    }
                    self.deliver_level(&callbacks, budget);
                } else {
                    self.deliver_batch_read(&callbacks, reader);
                }
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

    /// A nested loop (a listener running the loop) found the socket ready, or gave it a turn,
    /// while a delivery to it is in progress: delivers what is still to be delivered, in order
    /// (as node:dgram's nested read takes the next datagram), or reads anew once all is; more
    /// than [`FAIR`] left asks for another turn, so that the nested loop does not spin.
    pub(super) fn deliver_nested(&self) {
        if !self.is_receiving() || self.paused.get() || self.delivery.get() != Delivery::Each {
            // Batches (and a paused socket) wait for the outer delivery to end.
            self.nested_blocked.set(true);
            self.update_interest();
            return;
        }
        if self.has_backlog() {
            if let Some(callbacks) = self.callbacks() {
                self.deliver_level(&callbacks, FAIR);
            }
        } else {
            self.read_once(FAIR);
        }
        if self.has_backlog() {
            self.request_turn();
        }
    }

    /// One delivery level: at most `budget` datagrams from the backlog to `onmessage`. The
    /// outermost level then keeps what is left for the next turn (readable interest off), or
    /// gives the read buffer back to the pool.
    fn deliver_level(&self, callbacks: &Callbacks, budget: usize) {
        let nested = self.delivering.replace(true);
        {
            let _delivering = staging::Delivering::begin();
            self.deliver_each(callbacks, budget);
        }
        self.delivering.set(nested);
        if nested {
            return;
        }
        if !self.is_receiving() {
            // Stopped or closed meanwhile: what is left is discarded (counted as received when
            // read).
            self.return_calls_room();
        }
        if self.has_backlog() {
            if self.is_receiving() {
                self.request_turn();
            }
        } else {
            if let Some(backlog) = self
                .backlog
                .try_borrow_mut()
                .ok()
                .and_then(|mut b| b.take())
            {
                give_back(backlog.reader);
            }
            // The call queue too (empty here), back to the thread: kept by the socket, its room
            // held 352 bytes in every socket that ever received, more than the socket's own
            // state.
            self.return_calls_room();
        }
        self.nested_blocked.set(false);
        // Readable again once nothing waits (a backlog, or a nested loop, turned it off).
        self.update_interest();
    }

    /// One read's batches (`receiveBatches`): delivered together, not re-entrantly (a nested
    /// loop leaves the socket until they are).
    fn deliver_batch_read(&self, callbacks: &Callbacks, reader: Reader) {
        let nested = self.delivering.replace(true);
        {
            let _delivering = staging::Delivering::begin();
            self.deliver_batches(callbacks, &reader);
        }
        give_back(reader);
        self.delivering.set(nested);
        if !nested && self.nested_blocked.replace(false) {
            self.update_interest();
        }
    }

    /// Up to `budget` calls `onmessage(buf, address, port)`, one per datagram, in order: first
    /// those an outer delivery made ready and did not make yet (a nested loop runs inside one of
    /// its calls), then the backlog's next datagrams, [`AHEAD`] Buffers made at a time; with
    /// `receiveInfo`, `onmessage(buf, address, port, undefined, localAddress, interfaceIndex,
    /// tos, ttl, timestamp, truncated)`. Every call this level makes ready, it makes (or a level
    /// nested in it does) before it returns: their values live in its handle scope.
    fn deliver_each(&self, callbacks: &Callbacks, budget: usize) {
        let mut left = budget;
        let mut fill = false;
        loop {
            let Some(scope) = CallScope::open(self.env) else {
                return;
            };
            let Some(onmessage) = callbacks.callee(&scope, |f| &f.onmessage) else {
                return;
            };
            if fill {
                let made = self.make_ready(&scope, AHEAD.min(left));
                if made == 0 {
                    return;
                }
            }
            fill = true;
            loop {
                if !self.is_receiving() {
                    return;
                }
                let (next, more) = match self.pending.try_borrow_mut().as_deref_mut() {
                    Ok(Some(q)) => (q.pop_front(), !q.is_empty()),
                    _ => (None, false),
                };
                let Some((args, argc)) = next else { break };
                if more || self.has_backlog_beyond_pending() {
                    // Should the listener run the loop (deasync), the nested loop gives this
                    // socket a turn that delivers the rest in order, as node:dgram's nested read
                    // takes the next datagram. Otherwise the turn finds nothing to do.
                    self.request_turn();
                }
                scope.call_callee(&callbacks.context, &onmessage, &args[..argc]);
                left = left.saturating_sub(1);
            }
            if left == 0 {
                return;
            }
        }
    }

    /// Makes the backlog's next `count` datagrams ready for their calls (their Buffers, or their
    /// bytes staged, and their arguments), in `scope`. Returns how many.
    fn make_ready(&self, scope: &CallScope, count: usize) -> usize {
        let Ok(mut slot) = self.backlog.try_borrow_mut() else {
            return 0;
        };
        let Some(backlog) = slot.as_mut() else {
            return 0;
        };
        let Ok(mut pending) = self.pending.try_borrow_mut() else {
            return 0;
        };
        let pending = pending.get_or_insert_with(take_calls_room);
        let mut datagrams = Datagrams::resume(&backlog.reader, backlog.at);
        let mut encoder = Encoder::default();
        let mut made = 0;
        for (slot, datagram) in datagrams.by_ref().take(count).enumerate() {
            let Some(call) =
                Encoder::datagram(scope, self.env, slot, datagram.bytes).and_then(|buf| {
                    let info = datagram.info.as_ref();
                    encoder.call(scope, self.family, buf, None, datagram.from, info)
                })
            else {
                break;
            };
            pending.push_back(call);
            made += 1;
        }
        backlog.at = datagrams.position();
        made
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
            let Some((buf, size)) = args else {
                return;
            };
            let info = batch.info.as_ref();
            let Some((call, argc)) =
                Encoder::default().call(&scope, self.family, buf, Some(size), batch.from, info)
            else {
                return;
            };
            scope.call_callee(&callbacks.context, &onmessage, &call[..argc]);
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
