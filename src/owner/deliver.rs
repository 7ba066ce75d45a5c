//! Delivery: what the receive engine read, handed to JavaScript through `onmessage`, one
//! `napi_make_callback` per datagram (or per batch), so that each call's `process.nextTick` and
//! promise jobs run before the next, as in node:dgram.
//!
//! Memory is bounded by construction: nothing is read that JavaScript has not been handed, so a
//! slow `'message'` handler leaves datagrams in the kernel's receive buffer (which drops when
//! full), exactly as with node:dgram. No queue grows in between.

use std::cell::RefCell;
use std::io;

use napi::sys::napi_value;

use super::control::InfoValues;
use super::{staging, Callbacks, Delivery, Owner};
use crate::recv::{self, pacing, Batches, Datagrams, ReadSize};
use crate::sys::addr::Addr;
use crate::sys::mmsg::Reader;
use crate::sys::socket::format_ip;
use crate::sys::{error, gso};
use crate::uv::{CallScope, Callee};

thread_local! {
    /// One JS thread's read buffers (32 × 64 KiB): reads never overlap on a thread, and buffers
    /// per socket would cost 2 MiB for each of possibly thousands of sockets. Made on the
    /// thread's first read; untouched pages cost nothing.
    static READER: RefCell<Option<Reader>> = const { RefCell::new(None) };
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
    /// Reads, again at once while reads come back full (a bounded number of times: other
    /// handles on the loop get their turn), then decides when to read next.
    pub(super) fn read_and_pace(&self) {
        let mut read = ReadSize::default();
        let mut reads = 0;
        // Paused (a consumer fell behind), the read in progress was delivered whole; no more.
        while self.is_receiving() && !self.paused.get() {
            read = self.on_readable();
            reads += 1;
            if !pacing::read_again(read, reads) {
                break;
            }
        }
        self.pace(read);
    }

    /// Reads once and delivers what came. Returns what the kernel had ready.
    pub(super) fn on_readable(&self) -> ReadSize {
        let Some(callbacks) = self.callbacks() else {
            return ReadSize::default();
        };
        let Some(fd) = self.fd() else {
            return ReadSize::default();
        };
        READER.with(|cell| {
            // Taken only if a callback spun the loop re-entrantly; the socket stays readable
            // and is read on the next wakeup. The borrow lasts through the JavaScript calls:
            // datagrams are copied out of the read buffers a few at a time, just before their
            // calls.
            let Ok(mut slot) = cell.try_borrow_mut() else {
                return ReadSize::default();
            };
            let mode = self.control.read_mode.get();
            let read = match slot.as_mut() {
                Some(reader) => recv::read_with(fd, reader, mode),
                None => Reader::new().and_then(|mut reader| {
                    let read = recv::read_with(fd, &mut reader, mode);
                    *slot = Some(reader);
                    read
                }),
            };
            match (read, slot.as_ref()) {
                (Ok(size), Some(reader)) => {
                    if recv::wants_offload(size) && !self.offload.replace(true) {
                        let _ = self.with_socket(|s| {
                            gso::enable_gro(s);
                            Ok(())
                        });
                    }
                    let (datagrams, bytes) = self.received.get();
                    self.received
                        .set((datagrams + size.datagrams as u64, bytes + size.bytes as u64));
                    if self.delivery.get() == Delivery::Each {
                        self.deliver_each(&callbacks, reader);
                    } else {
                        self.deliver_batches(&callbacks, reader);
                    }
                    size
                }
                (Ok(_), None) => ReadSize::default(),
                // Left to the next wakeup: the poll is level-triggered, nothing is lost.
                (Err(e), _)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    ReadSize::default()
                }
                // With receiveErrors, an ICMP error is reported from the error queue.
                (Err(e), _)
                    if self.receives_errors() && crate::sys::control::is_stale_error(&e) =>
                {
                    ReadSize::default()
                }
                (Err(e), _) => {
                    self.report_receive_error(error::errno(&e));
                    ReadSize::default()
                }
            }
        })
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

    /// One `onmessage(buf, address, port)` per datagram, [`AHEAD`] Buffers at a time, while the
    /// socket receives; with `receiveInfo`, `onmessage(buf, address, port, undefined,
    /// localAddress, interfaceIndex, tos, ttl, timestamp, truncated)`.
    fn deliver_each(&self, callbacks: &Callbacks, reader: &Reader) {
        let mut datagrams = Datagrams::new(reader).peekable();
        while datagrams.peek().is_some() {
            let Some(scope) = CallScope::open(self.env) else {
                return;
            };
            let Some(onmessage) = callbacks.callee(&scope, |f| &f.onmessage) else {
                return;
            };
            // The sender's address string is made once per run of datagrams from one sender.
            let mut sender = Sender::default();
            let mut local = InfoValues::default();
            let mut calls = [([std::ptr::null_mut(); ARGS], 3); AHEAD];
            let mut count = 0;
            for (slot, (datagram, call)) in datagrams
                .by_ref()
                .take(AHEAD)
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
                    return;
                };
                call.0[..3].copy_from_slice(&[buf, address, port]);
                if let Some(info) = &datagram.info {
                    // onmessage(buf, address, port, undefined, ...info)
                    let (Some(none), Some(values)) =
                        (scope.undefined(), local.values(&scope, self.family, info))
                    else {
                        return;
                    };
                    call.0[3] = none;
                    call.0[4..].copy_from_slice(&values);
                    call.1 = ARGS;
                }
                count += 1;
            }
            if !self.call_each(&scope, callbacks, &onmessage, &calls[..count]) {
                return;
            }
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
                    // SAFETY: the bytes are in this thread's read buffer, which is not read
                    // into again before `lent` detaches the Buffer (the reader stays borrowed
                    // meanwhile).
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
