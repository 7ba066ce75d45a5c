//! The receive path: on readability, read a bounded number of datagrams on the JS thread and make
//! one JavaScript call per datagram.
//!
//! Memory is bounded by construction: nothing is read that JavaScript has not been handed, so a
//! slow `'message'` handler leaves datagrams in the kernel's receive buffer (which drops when
//! full), exactly as with node:dgram. No queue grows in between.

use std::cell::RefCell;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use nix::cmsg_space;
use nix::sys::socket::{
    recvmmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage,
};

use crate::core::Core;
use crate::error;
use crate::socket::{format_ip, Family};
use crate::uv::CallScope;

/// Datagrams (or GRO batches) read per readiness event, in one `recvmmsg`, before yielding to the
/// loop (libuv reads 32 as well), so a flood on one socket cannot starve timers and other sockets.
const READS_PER_WAKEUP: usize = 32;

/// Large enough for any UDP payload (65,507 bytes over IPv4, 65,527 over IPv6), and for a GRO
/// batch, which the kernel caps at 64 KiB.
const MAX_DATAGRAM: usize = 65_536;

/// The read buffers and `recvmmsg` headers of one JS thread: reads never overlap on a thread, and
/// buffers per socket would cost 2 MiB for each of possibly thousands of sockets.
///
/// There is one set of headers per address family because nix sets each header's address length
/// once, when it preallocates them, and the kernel then shrinks it to the length of the address
/// it wrote: an IPv4 read would leave too little room for a later IPv6 sender's address.
struct Scratch {
    data: Vec<u8>,
    headers_v4: MultiHeaders<SockaddrStorage>,
    headers_v6: MultiHeaders<SockaddrStorage>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch {
        data: vec![0; MAX_DATAGRAM * READS_PER_WAKEUP],
        headers_v4: MultiHeaders::preallocate(READS_PER_WAKEUP, Some(cmsg_space!(i32))),
        headers_v6: MultiHeaders::preallocate(READS_PER_WAKEUP, Some(cmsg_space!(i32))),
    });
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
    /// Reads one batch and delivers it, datagram by datagram.
    pub(crate) fn on_readable(&self) {
        let Some(callbacks) = self.callbacks() else {
            return;
        };
        let Some(scope) = CallScope::open(self.env) else {
            return;
        };
        let datagrams = match self.read_batch(&scope) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => {
                if let Some(code) = scope.int(error::errno(&e)) {
                    scope.call(&callbacks.context, &callbacks.onerror, &[code]);
                }
                return;
            }
        };
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

    /// One `recvmmsg` into the thread's scratch buffers; each datagram (each GRO segment) is
    /// copied into its own JS Buffer, as node:dgram gives them.
    fn read_batch(&self, scope: &CallScope) -> io::Result<Vec<Datagram>> {
        SCRATCH.with(|cell| {
            // Taken only if a callback spun the loop re-entrantly; the socket stays readable
            // and is read on the next wakeup.
            let Ok(mut scratch) = cell.try_borrow_mut() else {
                return Err(io::Error::from(io::ErrorKind::WouldBlock));
            };
            let Scratch {
                data,
                headers_v4,
                headers_v6,
            } = &mut *scratch;
            let headers = match self.family {
                Family::V4 => headers_v4,
                Family::V6 => headers_v6,
            };
            let mut slices: Vec<[IoSliceMut<'_>; 1]> = data
                .chunks_mut(MAX_DATAGRAM)
                .map(|chunk| [IoSliceMut::new(chunk)])
                .collect();
            let fd = self.with_socket(|s| Ok(s.as_raw_fd()))?;
            // What each read gave: (bytes, sender, GRO segment size). EINTR is left to the next
            // wakeup: the poll is level-triggered, so the datagrams are not lost.
            let reads: Vec<(usize, Option<SocketAddr>, Option<usize>)> =
                recvmmsg(fd, headers, slices.iter_mut(), MsgFlags::MSG_DONTWAIT, None)
                    .map_err(|e| match e {
                        nix::errno::Errno::EINTR => io::Error::from(io::ErrorKind::WouldBlock),
                        e => io::Error::from(e),
                    })?
                    .map(|msg| {
                        let from = msg.address.as_ref().and_then(to_socket_addr);
                        (msg.bytes, from, gro_segment_size(&msg))
                    })
                    .collect();
            let batch = self.batch_receive.get();
            let mut out = Vec::with_capacity(reads.len());
            for ((bytes, from, segment), slot) in reads.into_iter().zip(data.chunks(MAX_DATAGRAM)) {
                let Some(from) = from else { continue };
                let payload = slot.get(..bytes).unwrap_or_default();
                let segment = segment.unwrap_or(payload.len());
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
            Ok(out)
        })
    }
}

/// The segment size of a GRO batch (absent for a plain datagram).
fn gro_segment_size<S>(msg: &nix::sys::socket::RecvMsg<'_, '_, S>) -> Option<usize> {
    msg.cmsgs().ok()?.find_map(|c| match c {
        ControlMessageOwned::UdpGroSegments(size) => usize::try_from(size).ok(),
        _ => None,
    })
}

/// The sender's address as a std `SocketAddr` (IPv6 keeps its scope id).
fn to_socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    addr.as_sockaddr_in6()
        .map(|v6| SocketAddr::V6((*v6).into()))
}
