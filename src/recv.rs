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

use crate::core::Core;
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

/// Enables receive offload (`UDP_GRO`) where the kernel has it: a GSO sender's batch then arrives
/// in one read and is split here into its datagrams, with no change visible to JavaScript.
/// Kernels without it simply deliver datagram by datagram.
pub fn enable_gro(socket: &socket2::Socket) {
    let _ = setsockopt(socket, sockopt::UdpGroSegment, &true);
}

impl Core {
    /// Reads one batch (one `recvmmsg`, up to 32 reads) and delivers it datagram by datagram
    /// (each GRO segment on its own), or read by read in batch mode.
    ///
    /// Each datagram's Buffer is made just before its own call, in a handle scope of its own, as
    /// libuv and node:dgram do: a Buffer made ahead would outlive a garbage collection that runs
    /// during an earlier datagram's handler, be promoted, and keep its memory until a full
    /// collection.
    pub(crate) fn on_readable(&self) {
        let Some(callbacks) = self.callbacks() else {
            return;
        };
        READER.with(|cell| {
            // Busy only if a handler spun the loop re-entrantly: the socket stays readable and is
            // read on the next wakeup. The borrow is held through the calls below so that such a
            // nested read cannot overwrite datagrams not delivered yet.
            let Ok(mut slot) = cell.try_borrow_mut() else {
                return;
            };
            let Some(outer) = CallScope::open(self.env) else {
                return;
            };
            let reader = match self.read(&mut slot) {
                Ok(Some(reader)) => reader,
                Ok(None) => return,
                Err(e) => {
                    if let Some(code) = outer.int(error::errno(&e)) {
                        outer.call(&callbacks.context, &callbacks.onerror, &[code]);
                    }
                    return;
                }
            };
            let batch = self.batch_receive.get();
            // The sender's address string, made once per run of datagrams from one sender.
            let mut last: Option<(SocketAddr, napi::sys::napi_value)> = None;
            for received in (0..reader.received()).filter_map(|i| reader.slot(i)) {
                let Some(from) = received.from else { continue };
                let address = match last {
                    Some((seen, value)) if seen == from => value,
                    _ => match outer.string(&format_ip(&from)) {
                        Some(value) => value,
                        None => return,
                    },
                };
                last = Some((from, address));
                let payload = received.payload;
                let segment = received.segment.unwrap_or(payload.len());
                // Batch mode: the whole read in one Buffer. An empty datagram: one empty Buffer.
                let size = if batch { payload.len() } else { segment }.max(1);
                let empty = std::iter::once(payload).filter(|p| p.is_empty());
                let parts = payload.chunks(size).chain(empty);
                for part in parts {
                    // A handler may have closed the socket or stopped receiving.
                    if !self.is_receiving() {
                        return;
                    }
                    let Some(scope) = CallScope::open(self.env) else {
                        return;
                    };
                    let (Some(buf), Some(port)) =
                        (scope.buffer_copy(part), scope.int(i32::from(from.port())))
                    else {
                        return;
                    };
                    match batch.then(|| scope.int(i32::try_from(segment).unwrap_or(i32::MAX))) {
                        Some(Some(size)) => scope.call(
                            &callbacks.context,
                            &callbacks.onmessage,
                            &[buf, address, port, size],
                        ),
                        _ => scope.call(
                            &callbacks.context,
                            &callbacks.onmessage,
                            &[buf, address, port],
                        ),
                    }
                }
            }
        });
    }

    /// One `recvmmsg` into the thread's reader (made on the thread's first read: a thread that
    /// never receives maps nothing). `None` when nothing is waiting.
    fn read<'r>(&self, slot: &'r mut Option<Reader>) -> io::Result<Option<&'r Reader>> {
        if slot.is_none() {
            *slot = Some(Reader::new()?);
        }
        let Some(reader) = slot.as_mut() else {
            return Err(io::Error::from_raw_os_error(libc::ENOMEM));
        };
        let fd = self.with_socket(|s| Ok(s.as_raw_fd()))?;
        match reader.recv(fd) {
            Ok(_) => Ok(Some(reader)),
            // Left to the next wakeup: the poll is level-triggered, nothing is lost.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}
