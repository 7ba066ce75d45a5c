//! The background receive path, on the owner's side: who may read the socket now, the wake-up
//! handle on Node's loop, and the delivery of what the background reader
//! (`crate::recv::background`) queued.
//!
//! Takeover, not a second reader (issue 22; the reasons and figures are in
//! `crate::recv::background`): while this thread is free it reads the socket itself, on the
//! default path (`deliver.rs`: the same reads, pacing, offload and fairness), and tells the
//! reader at every read ([`Owner::begin_js_read`] / [`Owner::end_js_read`]) and every backlog
//! turn ([`Owner::js_progress`]). The reader takes the socket over when this thread has shown no
//! progress for its deadline (1–2 ms) while datagrams wait. From then on
//! ([`Owner::background_waits`]):
//! readable interest is off; each turn delivers this thread's own last read first (it came
//! first), then the inbox, [`FAIR`] datagrams at a time; and the socket is read here again only
//! once the reader has handed it back and the inbox and the read in progress are delivered. The
//! reader hands back when it finds the inbox empty, and wakes the loop, whose turn turns readable
//! interest on again. One turn comes sooner: where this thread's delivery answered (request and
//! response) and would read again at once (`deliver.rs`), it delivers the inbox then instead, within
//! the iteration's [`FAIR`], since the reader took what that read would have found.
//!
//! The reader's thread wakes the loop through a `uv_async_t` (libuv merges wake-ups that come
//! before the loop gets to them, so a flood costs one wake-up per loop iteration, not one per
//! datagram). On the JavaScript thread, each datagram then goes to `onmessage` through its own
//! `napi_make_callback`, exactly as on the default path: same arguments, same order, each call's
//! `process.nextTick` and promise jobs before the next, nothing after `close()`. The wake-up only
//! asks for a reactor turn at the start of the loop's next iteration, as pacing does: a datagram
//! that arrives during a poll phase is delivered after that phase's `setImmediate` callbacks,
//! where node:dgram would deliver it, even when the reader's thread read it at once.
//!
//! Fairness, as on the default path: a turn delivers at most `deliver::FAIR` datagrams (libuv's
//! 32 per readiness); what is left waits in the inbox for the next turn, which comes at the start
//! of the following iteration without waiting in the poll. Timers, immediates and other sockets
//! run in between, however fast the reader's thread refills the inbox.
//!
//! Re-entry, as on the default path: the read being delivered stays in the receiver's `inbound`
//! slot and is delivered a call at a time, with no borrow held across a call; while it has more,
//! the socket asks for a turn, so that a nested loop run by a listener continues it in order.

use std::cell::RefCell;
use std::io;
use std::os::fd::AsFd;
use std::rc::{Rc, Weak};

use napi::sys::napi_value;

use super::deliver::FAIR;
use super::encode::{Call, Encoder};
use super::{borrow_mut, staging, Callbacks, Delivery, Owner};
use crate::recv;
use crate::recv::background::{Background, Counts, Entry, Inbound, Item};
use crate::sys::addr::OwnedAddr;
use crate::uv::{Async, AsyncHandler, CallScope, Callee};

/// A socket's background reader, its wake-up handle, and the read being delivered (here, not
/// in every socket: few sockets read in the background).
pub(super) struct Receiver {
    reader: Background,
    wake: Async<Wake>,
    inbound: RefCell<Option<Current>>,
}

/// The wake-up handle's target: the owner, weakly (the owner owns the handle).
struct Wake(Weak<Owner>);

impl AsyncHandler for Wake {
    fn on_async(&self) {
        if let Some(owner) = self.0.upgrade() {
            owner.request_turn();
        }
    }
}

impl Owner {
    /// Starts the background reader with an inbox of `budget` bytes (once; the socket exists).
    pub(super) fn start_background(self: &Rc<Self>, budget: usize) -> io::Result<()> {
        if self
            .background
            .try_borrow()
            .map(|b| b.is_some())
            .unwrap_or(true)
        {
            return Ok(());
        }
        let wake = Async::new(self.env, Rc::new(Wake(self.me.clone())))?;
        wake.set_ref(self.referenced.get());
        let sender = wake.sender();
        let mode = self.control.read_mode.get();
        let reader = self.with_socket(|socket| {
            Background::start(socket.as_fd(), budget, mode, move || sender.send())
        })?;
        *borrow_mut(&self.background)? = Some(Box::new(Receiver {
            reader,
            wake,
            inbound: RefCell::new(None),
        }));
        Ok(())
    }

    /// Whether a background reader reads this socket.
    pub(super) fn is_background(&self) -> bool {
        self.background
            .try_borrow()
            .map(|b| b.is_some())
            .unwrap_or(false)
    }

    /// Stops the reader (waiting until it has let go of the socket), then closes the wake-up
    /// handle.
    pub(super) fn stop_background(&self) {
        if let Some(receiver) = self
            .background
            .try_borrow_mut()
            .ok()
            .and_then(|mut b| b.take())
        {
            receiver.reader.stop();
            drop(receiver.wake);
        }
    }

    /// `ref()` / `unref()` on the wake-up handle.
    pub(super) fn set_background_ref(&self, on: bool) {
        if let Ok(b) = self.background.try_borrow() {
            if let Some(receiver) = b.as_ref() {
                receiver.wake.set_ref(on);
            }
        }
    }

    /// Wakes the loop to deliver what waits (after a pause: from a JavaScript call, delivery
    /// must wait for the loop, so that each datagram's ticks run as usual).
    pub(super) fn wake_background(&self) {
        if let Ok(b) = self.background.try_borrow() {
            if let Some(receiver) = b.as_ref() {
                receiver.wake.sender().send();
            }
        }
    }

    /// The reader's counts (zero without one).
    pub(super) fn background_counts(&self) -> Counts {
        self.background
            .try_borrow()
            .ok()
            .and_then(|b| b.as_ref().map(|r| r.reader.counts()))
            .unwrap_or_default()
    }

    /// Whether what the background reader took waits for delivery before the socket may be
    /// read again on this thread: the reader owns the socket, its inbox holds something, or
    /// one of its reads is being delivered.
    pub(super) fn background_waits(&self) -> bool {
        let Ok(b) = self.background.try_borrow() else {
            return true;
        };
        b.as_ref()
            .is_some_and(|r| r.has_inbound() || r.reader.is_taken() || r.reader.has_queued())
    }

    /// Runs `f` on the slot of the background read being delivered; `None` without a reader, or
    /// while the slot is in use.
    fn with_inbound<R>(&self, f: impl FnOnce(&mut Option<Current>) -> R) -> Option<R> {
        let b = self.background.try_borrow().ok()?;
        let mut slot = b.as_ref()?.inbound.try_borrow_mut().ok()?;
        Some(f(&mut slot))
    }

    /// Before this thread reads the socket: whether it may (always, without a background
    /// reader). True keeps the reader from taking over until [`Owner::end_js_read`].
    pub(super) fn begin_js_read(&self) -> bool {
        let Ok(b) = self.background.try_borrow() else {
            return false;
        };
        match b.as_ref() {
            None => true,
            Some(r) => !r.has_inbound() && r.reader.begin_js_read(),
        }
    }

    /// After this thread's read (one that [`Owner::begin_js_read`] allowed), of what it read
    /// (none where it failed).
    pub(super) fn end_js_read(&self, read: Option<&recv::ReadSize>) {
        if let Ok(b) = self.background.try_borrow() {
            if let Some(r) = b.as_ref() {
                let (reads, bytes) = read.map_or((0, 0), |size| (size.reads, size.bytes));
                r.reader.end_js_read(reads, bytes);
            }
        }
    }

    /// This thread delivered part of its own backlog: it is alive, the reader need not take
    /// over yet.
    pub(super) fn js_progress(&self) {
        if let Ok(b) = self.background.try_borrow() {
            if let Some(r) = b.as_ref() {
                r.reader.js_progress();
            }
        }
    }

    fn pop_background(&self) -> Option<Item> {
        self.background.try_borrow().ok()?.as_ref()?.reader.pop()
    }

    /// A turn: delivers what the reader queued, oldest first, [`FAIR`] datagrams at most, while
    /// the socket receives and is not paused; what is left waits for the next turn (what a
    /// pause leaves, for the resume).
    pub(super) fn drain_background(&self) {
        self.drain_background_within(FAIR);
    }

    /// [`Owner::drain_background`] with `budget` datagrams at most (what is left of the
    /// iteration's [`FAIR`] where this thread's own reads delivered some: `read_and_pace`).
    /// Returns how many it delivered.
    pub(super) fn drain_background_within(&self, budget: usize) -> usize {
        let Some(callbacks) = self.callbacks() else {
            return 0;
        };
        let nested = self.delivering.replace(true);
        let (more, delivered) = {
            let _delivering = staging::Delivering::begin();
            self.drain_some(&callbacks, budget)
        };
        self.delivering.set(nested);
        let missed = !nested && self.nested_blocked.replace(false);
        if (more || missed) && self.is_receiving() && !self.paused.get() {
            self.request_turn();
        }
        if !nested {
            // The inbox delivered and the socket handed back: readable again (and off while
            // the reader owns it), from the next iteration on where this turn delivered
            // anything, as after a backlog (`Owner::deliver_backlog`): the reader may hand back
            // before this line, and this iteration's poll phase would then read and deliver up
            // to `FAIR` more (34 in one iteration under qemu-user, where takeovers are common).
            if delivered > 0 && !more && self.is_receiving() {
                self.resting.set(true);
                self.request_turn();
            }
            self.update_interest();
        }
        delivered
    }

    /// Delivers up to `budget` datagrams from the inbox; returns whether more may wait, and how
    /// many it delivered. The read in progress stays in the socket's `inbound` slot, a call at a
    /// time: a nested loop (a listener running the loop) gives the socket a turn that continues
    /// it, in order, before it takes the next read from the inbox. The turn's calls share one
    /// handle scope, as on the default path (`deliver.rs`): `onmessage` is looked up once, and
    /// the sender's address and port are made again only when the sender changes.
    fn drain_some(&self, callbacks: &Callbacks, budget: usize) -> (bool, usize) {
        let Some(scope) = CallScope::open(self.env) else {
            return (false, 0);
        };
        let Some(onmessage) = callbacks.callee(&scope, |f| &f.onmessage) else {
            return (false, 0);
        };
        let mut sender = None;
        let mut left = budget;
        let more = loop {
            if !self.is_receiving() || self.paused.get() {
                break false;
            }
            if left == 0 {
                break true;
            }
            if self.with_inbound(|slot| slot.is_some()).unwrap_or(false) {
                // Should the listener run the loop, its nested loop continues from here.
                self.request_turn();
                match self.call_next_inbound(&scope, callbacks, &onmessage, &mut sender) {
                    Some(n) => left = left.saturating_sub(n),
                    None => break false,
                }
                continue;
            }
            let Some(item) = self.pop_background() else {
                break false;
            };
            match item {
                // receiveErrors: an ICMP error the reader met is reported from the error queue,
                // as 'icmp', never as 'error' (as on the default path).
                Item::Error(_) if self.receives_errors() => self.report_errors(),
                Item::Error(errno) => {
                    if let Some(code) = scope.int(errno) {
                        callbacks.call(&scope, |f| &f.onerror, &[code]);
                    }
                }
                Item::Read(read) => {
                    self.with_inbound(|slot| {
                        *slot = Some(Current {
                            read,
                            i: 0,
                            offset: 0,
                        })
                    });
                }
            }
        };
        (more, budget - left)
    }

    /// Makes the next call of the read in progress, in `scope`: one datagram, or (batch mode) a
    /// run of one sender's datagrams (a batch is never split). `sender` carries the last
    /// sender's values from call to call. Returns how many datagrams it delivered; `None` when
    /// the call could not be made (the read is dropped then).
    fn call_next_inbound(
        &self,
        scope: &CallScope,
        callbacks: &Callbacks,
        onmessage: &Callee,
        sender: &mut Option<SenderValues>,
    ) -> Option<usize> {
        let batch = self.delivery.get() != Delivery::Each;
        let (args, argc, count) = self.with_inbound(|slot| {
            let current = slot.as_mut()?;
            let (i, offset) = (current.i, current.offset);
            let entries = &current.read.entries;
            // In batch mode, one call per run of one sender's datagrams; else one per
            // datagram. A batch holds datagrams of one sender whose information matches but
            // for the time, as on the default path.
            let first = entries.get(i)?;
            let end = if batch {
                i + entries[i..]
                    .iter()
                    .take_while(|e| {
                        e.from == first.from
                            && recv::same_batch_info(e.info.as_ref(), first.info.as_ref())
                    })
                    .count()
            } else {
                i + 1
            };
            let group = &entries[i..end];
            let len: usize = group.iter().map(|e| e.len).sum();
            let made = current
                .read
                .data
                .get(offset..offset + len)
                .and_then(|bytes| self.inbound_args(scope, bytes, group, batch, sender));
            current.i = end;
            current.offset += len;
            if made.is_none() || current.i >= current.read.entries.len() {
                *slot = None;
            }
            let (args, argc) = made?;
            Some((args, argc, end - i))
        })??;
        scope.call_callee(&callbacks.context, onmessage, &args[..argc]);
        Some(count)
    }

    /// `onmessage`'s arguments for `bytes`: a datagram, or (batch mode) a run of datagrams of
    /// one sender, with their sizes (a number when all but the last share it, else an array).
    /// The sender's values come from `sender` when it is the same, and are left there.
    fn inbound_args(
        &self,
        scope: &CallScope,
        bytes: &[u8],
        group: &[Entry],
        batch: bool,
        sender: &mut Option<SenderValues>,
    ) -> Option<Call> {
        let first = group.first()?;
        let (buf, sizes) = if batch {
            let size = |n: usize| scope.int(i32::try_from(n).unwrap_or(i32::MAX));
            let common = first.len;
            let uniform = common > 0
                && group.iter().rev().skip(1).all(|e| e.len == common)
                && group.last().is_some_and(|e| e.len > 0 && e.len <= common);
            let sizes = if uniform {
                size(common)?
            } else {
                let values: Option<Vec<napi_value>> = group.iter().map(|e| size(e.len)).collect();
                scope.array(&values?)?
            };
            (scope.buffer_copy(bytes)?, Some(sizes))
        } else {
            // Each call stages its own small datagram, just before it is made.
            (Encoder::datagram(scope, self.env, 0, bytes)?, None)
        };
        let info = first.info.as_ref();
        let from = first.from.as_addr();
        let known = sender
            .as_ref()
            .filter(|known| known.from == first.from)
            .map(|known| (known.address, known.port));
        let mut encoder = match known {
            Some((address, port)) => Encoder::knowing(from, address, port),
            None => Encoder::default(),
        };
        let call = encoder.call(scope, self.family, buf, sizes, from, info)?;
        // A new sender's values, kept for its next datagrams (its address copied only then).
        if let (None, Some((address, port))) = (known, encoder.sender_values()) {
            *sender = Some(SenderValues {
                from: first.from.clone(),
                address,
                port,
            });
        }
        Some(call)
    }
}

/// The last sender of a turn and its `onmessage` values, made in the turn's handle scope.
struct SenderValues {
    from: OwnedAddr,
    address: napi_value,
    port: napi_value,
}

impl Receiver {
    /// Whether a read is being delivered (true while that cannot be told).
    fn has_inbound(&self) -> bool {
        self.inbound
            .try_borrow()
            .map(|c| c.is_some())
            .unwrap_or(true)
    }
}

/// The background read being delivered: its datagrams, and the next one's index and offset.
struct Current {
    read: Inbound,
    i: usize,
    offset: usize,
}
