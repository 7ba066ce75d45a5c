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

/// One datagram read (or, in batch mode, one read's datagrams), already copied into a JS Buffer.
struct Datagram {
    buf: napi::sys::napi_value,
    from: SocketAddr,
    /// Batch mode: the size of each datagram in `buf` (the last may be shorter).
    segment: Option<usize>,
}

/// Enables receive offload (`UDP_GRO`) where the kernel has it: a GSO sender's batch then arrives
/// in one read and is split here into its datagrams, with no change visible to JavaScript.
/// Kernels without it simply deliver datagram by datagram.
pub fn enable_gro(socket: &socket2::Socket) {
    let _ = setsockopt(socket, sockopt::UdpGroSegment, &true);
}

impl Core {
    /// Reads one batch and delivers it, datagram by datagram. Returns how many reads the kernel
    /// had ready (what [`Core::pace`] decides by).
    pub(crate) fn on_readable(&self) -> usize {
        let Some(callbacks) = self.callbacks() else {
            return 0;
        };
        let Some(scope) = CallScope::open(self.env) else {
            return 0;
        };
        let (reads, datagrams) = match self.read_batch(&scope) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return 0,
            Err(e) => {
                if let Some(code) = scope.int(error::errno(&e)) {
                    scope.call(&callbacks.context, &callbacks.onerror, &[code]);
                }
                return 0;
            }
        };
        self.deliver(&scope, &callbacks, datagrams);
        reads
    }

    /// One JavaScript call per datagram (per read in batch mode), while the socket receives.
    fn deliver(&self, scope: &CallScope, callbacks: &Callbacks, datagrams: Vec<Datagram>) {
        // The sender's address string is made once per run of datagrams from one sender.
        let mut last: Option<(SocketAddr, napi::sys::napi_value)> = None;
        for d in datagrams {
            // A handler may have closed the socket or stopped receiving.
            if !self.is_receiving() {
                return;
            }
            let address = match last {
                Some((from, value)) if from == d.from => Some(value),
                _ => scope.string(&format_ip(&d.from)),
            };
            let (Some(address), Some(port)) = (address, scope.int(i32::from(d.from.port()))) else {
                return;
            };
            last = Some((d.from, address));
            let segment = d
                .segment
                .and_then(|n| scope.int(i32::try_from(n).unwrap_or(i32::MAX)));
            let args = [d.buf, address, port, segment.unwrap_or(d.buf)];
            let argc = if segment.is_some() { 4 } else { 3 };
            scope.call(&callbacks.context, &callbacks.onmessage, &args[..argc]);
        }
    }

    /// One `recvmmsg` (up to 32 reads); each datagram (each GRO segment) is copied into its own
    /// JS Buffer, as node:dgram gives them, or each read into one Buffer in batch mode.
    fn read_batch(&self, scope: &CallScope) -> io::Result<(usize, Vec<Datagram>)> {
        READER.with(|cell| {
            // Taken only if a callback spun the loop re-entrantly; the socket stays readable
            // and is read on the next wakeup.
            let Ok(mut slot) = cell.try_borrow_mut() else {
                return Err(io::Error::from(io::ErrorKind::WouldBlock));
            };
            // Made on the thread's first read (a thread that never receives maps nothing).
            if slot.is_none() {
                *slot = Some(Reader::new()?);
            }
            let Some(reader) = slot.as_mut() else {
                return Err(io::Error::from_raw_os_error(libc::ENOMEM));
            };
            let fd = self.with_socket(|s| Ok(s.as_raw_fd()))?;
            let count = match reader.recv(fd) {
                // Left to the next wakeup: the poll is level-triggered, nothing is lost.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    return Err(io::Error::from(io::ErrorKind::WouldBlock))
                }
                other => other?,
            };
            let batch = self.batch_receive.get();
            let mut out = Vec::with_capacity(count);
            for received in (0..count).filter_map(|i| reader.slot(i)) {
                let Some(from) = received.from else { continue };
                let payload = received.payload;
                let segment = received.segment.unwrap_or(payload.len());
                // Batch mode: the whole read in one Buffer. An empty datagram: one empty Buffer.
                if batch || payload.is_empty() {
                    let segment = batch.then_some(segment);
                    out.extend(scope.buffer_copy(payload).map(|buf| Datagram {
                        buf,
                        from,
                        segment,
                    }));
                    continue;
                }
                for part in payload.chunks(segment.max(1)) {
                    out.extend(scope.buffer_copy(part).map(|buf| Datagram {
                        buf,
                        from,
                        segment: None,
                    }));
                }
            }
            Ok((count, out))
        })
    }
}
