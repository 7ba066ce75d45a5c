//! The receive path: on readability, read a bounded number of datagrams on the JS thread and make
//! one JavaScript call per datagram.
//!
//! Memory is bounded by construction: nothing is read that JavaScript has not been handed, so a
//! slow `'message'` handler leaves datagrams in the kernel's receive buffer (which drops when
//! full), exactly as with node:dgram. No queue grows in between.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;

use nix::sys::socket::{recvfrom, SockaddrStorage};

use crate::core::Core;
use crate::error;
use crate::socket::format_ip;
use crate::uv::CallScope;

/// Datagrams read per readiness event before yielding to the loop (libuv reads 32 as well), so a
/// flood on one socket cannot starve timers and other sockets.
const READS_PER_WAKEUP: usize = 32;

/// Large enough for any UDP payload (65,507 bytes over IPv4, 65,527 over IPv6).
const MAX_DATAGRAM: usize = 65_536;

thread_local! {
    /// One read buffer per JS thread: reads never overlap on a thread, and a buffer per socket
    /// would cost 64 KiB for each of possibly thousands of sockets.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; MAX_DATAGRAM]);
}

/// What one read gave.
enum Read {
    /// A datagram, already copied into a JS Buffer.
    Datagram(napi::sys::napi_value, SocketAddr),
    /// Nothing more to read now.
    Empty,
    /// A receive error (negative errno).
    Failed(i32),
}

impl Core {
    /// Reads and delivers up to [`READS_PER_WAKEUP`] datagrams.
    pub(crate) fn on_readable(&self) {
        let Some(callbacks) = self.callbacks() else {
            return;
        };
        for _ in 0..READS_PER_WAKEUP {
            // A handler may have closed the socket or stopped receiving.
            if !self.is_receiving() {
                return;
            }
            let Some(scope) = CallScope::open(self.env) else {
                return;
            };
            match self.read_one(&scope) {
                Read::Datagram(buf, from) => {
                    let (Some(address), Some(port)) = (
                        scope.string(&format_ip(&from)),
                        scope.int(i32::from(from.port())),
                    ) else {
                        return;
                    };
                    scope.call(
                        &callbacks.context,
                        &callbacks.onmessage,
                        &[buf, address, port],
                    );
                }
                Read::Empty => return,
                Read::Failed(errno) => {
                    if let Some(code) = scope.int(errno) {
                        scope.call(&callbacks.context, &callbacks.onerror, &[code]);
                    }
                    return;
                }
            }
        }
    }

    /// Reports a receive error to JavaScript (`'error'` with syscall `recvmsg`).
    pub(crate) fn report_recv_error(&self, errno: i32) {
        let (Some(callbacks), Some(scope)) = (self.callbacks(), CallScope::open(self.env)) else {
            return;
        };
        if let Some(code) = scope.int(errno) {
            scope.call(&callbacks.context, &callbacks.onerror, &[code]);
        }
    }

    /// One `recvfrom` into the thread's scratch buffer, copied into a new JS Buffer.
    fn read_one(&self, scope: &CallScope) -> Read {
        let received = SCRATCH.with(|scratch| {
            let Ok(mut buf) = scratch.try_borrow_mut() else {
                return Err(io::Error::from_raw_os_error(libc::EBUSY));
            };
            loop {
                let result = self.with_socket(|s| {
                    use std::os::fd::AsRawFd;
                    recvfrom::<SockaddrStorage>(s.as_raw_fd(), &mut buf).map_err(io::Error::from)
                });
                match result {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                    Ok((n, from)) => {
                        let from = from.as_ref().and_then(to_socket_addr);
                        let data = buf.get(..n).unwrap_or_default();
                        return Ok(scope.buffer_copy(data).zip(from));
                    }
                }
            }
        });
        match received {
            Ok(Some((buf, from))) => Read::Datagram(buf, from),
            // A datagram from a non-IP address cannot happen on a UDP socket; skip it.
            Ok(None) => Read::Empty,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Read::Empty,
            Err(e) => Read::Failed(error::errno(&e)),
        }
    }
}

/// The sender's address as a std `SocketAddr` (IPv6 keeps its scope id).
fn to_socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    if let Some(v6) = addr.as_sockaddr_in6() {
        return Some(SocketAddr::V6((*v6).into()));
    }
    None
}
