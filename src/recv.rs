//! The receive path: on readability, read a bounded number of datagrams on the JS thread and make
//! one JavaScript call per datagram.
//!
//! Memory is bounded by construction: nothing is read that JavaScript has not been handed, so a
//! slow `'message'` handler leaves datagrams in the kernel's receive buffer (which drops when
//! full), exactly as with node:dgram. No queue grows in between.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use nix::sys::socket::{setsockopt, sockopt};

use crate::core::{Callbacks, Core};
use crate::error;
use crate::mmsg::Reader;
use crate::socket::format_ip;
use crate::uv::CallScope;

thread_local! {
    /// One JS thread's read buffers (32 × 64 KiB): reads never overlap on a thread, and buffers
    /// per socket would cost 2 MiB for each of possibly thousands of sockets. Untouched pages
    /// cost nothing.
    static READER: RefCell<Option<Reader>> = const { RefCell::new(None) };
}

/// How many datagrams get their Buffers made ahead of their calls, in one handle scope. Few,
/// because a young-generation GC during the calls finds them all alive: a whole GRO read (up to
/// 2,048 datagrams) made ahead made V8 grow its young generation, and the peak RSS by several MB.
/// More than one, because a scope per datagram cost more CPU than it saved.
const AHEAD: usize = 16;

/// What one `recvmmsg` took from the kernel.
#[derive(Clone, Copy, Default)]
pub struct ReadSize {
    /// Reads (datagrams, or GRO batches).
    pub reads: usize,
    /// Payload bytes.
    pub bytes: usize,
}

/// One datagram (or, in batch mode, one read) still in the read buffer.
struct Piece<'a> {
    bytes: &'a [u8],
    from: SocketAddr,
    /// Batch mode: the size of each datagram in `bytes` (the last may be shorter).
    segment: Option<usize>,
}

/// Enables receive offload (`UDP_GRO`) where the kernel has it: a GSO sender's batch then arrives
/// in one read and is split here into its datagrams, with no change visible to JavaScript.
/// Kernels without it simply deliver datagram by datagram.
pub fn enable_gro(socket: &socket2::Socket) {
    let _ = setsockopt(socket, sockopt::UdpGroSegment, &true);
}

impl Core {
    /// Reads one batch and delivers it, datagram by datagram. Returns what the kernel had ready
    /// (what [`Core::pace`] decides by).
    pub(crate) fn on_readable(&self) -> ReadSize {
        let Some(callbacks) = self.callbacks() else {
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
            match self.read(&mut slot) {
                Ok(reader) => {
                    self.deliver(&callbacks, reader);
                    ReadSize {
                        reads: reader.received(),
                        bytes: reader.bytes(),
                    }
                }
                // Left to the next wakeup: the poll is level-triggered, nothing is lost.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    ReadSize::default()
                }
                Err(e) => {
                    if let Some(scope) = CallScope::open(self.env) {
                        if let Some(code) = scope.int(error::errno(&e)) {
                            scope.call(&callbacks.context, &callbacks.onerror, &[code]);
                        }
                    }
                    ReadSize::default()
                }
            }
        })
    }

    /// One `recvmmsg` (up to 32 reads) into this thread's reader, which is made on the thread's
    /// first read (a thread that never receives maps nothing).
    fn read<'a>(&self, slot: &'a mut Option<Reader>) -> io::Result<&'a Reader> {
        if slot.is_none() {
            *slot = Some(Reader::new()?);
        }
        let Some(reader) = slot.as_mut() else {
            return Err(io::Error::from_raw_os_error(libc::ENOMEM));
        };
        let fd = self.with_socket(|s| Ok(s.as_raw_fd()))?;
        reader.recv(fd)?;
        Ok(reader)
    }

    /// One JavaScript call per datagram (each GRO segment on its own, as node:dgram gives them),
    /// or per read in batch mode, while the socket receives.
    fn deliver(&self, callbacks: &Callbacks, reader: &Reader) {
        let batch = self.batch_receive.get();
        // A read in batch mode is up to 64 KiB: one at a time.
        let ahead = if batch { 1 } else { AHEAD };
        let mut pieces = Pieces::new(reader, batch).peekable();
        while pieces.peek().is_some() {
            if !self.deliver_chunk(callbacks, pieces.by_ref().take(ahead)) {
                return;
            }
        }
    }

    /// Makes the chunk's Buffers (at most [`AHEAD`]), then calls
    /// `onmessage(buf, address, port[, segment])` for each. Returns false once the socket has
    /// stopped receiving (a handler may close it).
    fn deliver_chunk<'a>(
        &self,
        callbacks: &Callbacks,
        chunk: impl Iterator<Item = Piece<'a>>,
    ) -> bool {
        let Some(scope) = CallScope::open(self.env) else {
            return false;
        };
        let Some(onmessage) = scope.callee(&callbacks.onmessage) else {
            return false;
        };
        // Buffers lent without a copy: emptied when this returns, on every path, before the
        // read buffer can be read into again.
        let mut lent = Lent {
            scope: &scope,
            core: self,
            buffers: Vec::new(),
        };
        // The sender's address string is made once per run of datagrams from one sender.
        let mut sender: Option<(SocketAddr, napi::sys::napi_value)> = None;
        let mut calls = [([std::ptr::null_mut(); 4], 0); AHEAD];
        let mut count = 0;
        for (piece, call) in chunk.zip(calls.iter_mut()) {
            let address = match sender {
                Some((last, value)) if last == piece.from => Some(value),
                _ => scope.string(&format_ip(&piece.from)),
            };
            let buf = if piece.segment.is_some() && self.batch_zero_copy.get() {
                // SAFETY: the bytes are in this thread's read buffer, which is not read into
                // again before `lent` detaches the Buffer (the reader stays borrowed meanwhile).
                unsafe { scope.buffer_borrowed(piece.bytes) }.map(|(buf, borrowed)| {
                    if borrowed {
                        lent.buffers.push(buf);
                    }
                    buf
                })
            } else {
                scope.buffer_copy(piece.bytes)
            };
            let (Some(buf), Some(address), Some(port)) =
                (buf, address, scope.int(i32::from(piece.from.port())))
            else {
                return false;
            };
            sender = Some((piece.from, address));
            *call = match piece.segment {
                Some(n) => match scope.int(i32::try_from(n).unwrap_or(i32::MAX)) {
                    Some(segment) => ([buf, address, port, segment], 4),
                    None => return false,
                },
                None => ([buf, address, port, buf], 3),
            };
            count += 1;
        }
        for (args, argc) in &calls[..count] {
            if !self.is_receiving() {
                return false;
            }
            scope.call_callee(&callbacks.context, &onmessage, &args[..*argc]);
        }
        true
    }
}

/// The datagrams of one read, in order: each GRO segment on its own, or (batch mode) each read
/// whole, with its segment size. Slices of the read buffer: nothing is copied or allocated.
struct Pieces<'a> {
    reader: &'a Reader,
    batch: bool,
    /// The next slot to look at.
    next_slot: usize,
    /// What is left of the current slot's GRO batch, its sender and its segment size.
    rest: Option<(&'a [u8], SocketAddr, usize)>,
}

impl<'a> Pieces<'a> {
    fn new(reader: &'a Reader, batch: bool) -> Self {
        Pieces {
            reader,
            batch,
            next_slot: 0,
            rest: None,
        }
    }
}

impl<'a> Iterator for Pieces<'a> {
    type Item = Piece<'a>;

    fn next(&mut self) -> Option<Piece<'a>> {
        loop {
            if let Some((bytes, from, segment)) = self.rest.take() {
                let (head, tail) = bytes.split_at(segment.min(bytes.len()));
                if !tail.is_empty() {
                    self.rest = Some((tail, from, segment));
                }
                return Some(Piece {
                    bytes: head,
                    from,
                    segment: None,
                });
            }
            let received = self.reader.slot(self.next_slot)?;
            self.next_slot += 1;
            let Some(from) = received.from else { continue };
            let bytes = received.payload;
            let segment = received.segment.unwrap_or(bytes.len());
            // Batch mode: the whole read in one Buffer. An empty datagram: one empty Buffer.
            if self.batch || bytes.is_empty() {
                return Some(Piece {
                    bytes,
                    from,
                    segment: self.batch.then_some(segment),
                });
            }
            self.rest = Some((bytes, from, segment.max(1)));
        }
    }
}

/// Buffers lent to JavaScript over the read buffer, detached on drop.
struct Lent<'a> {
    scope: &'a CallScope,
    core: &'a Core,
    buffers: Vec<napi::sys::napi_value>,
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        for &buf in &self.buffers {
            if !self.scope.detach(buf) {
                // The memory could not be taken back: later reads overwrite what JavaScript
                // may still hold. Lend no more; from now on each read is copied.
                self.core.batch_zero_copy.set(false);
            }
        }
    }
}
