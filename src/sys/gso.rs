//! One `sendmsg`, plain or with UDP segmentation offload (`UDP_SEGMENT`, "GSO": one call carries
//! up to 64 datagrams of one size to one destination), and the receive offload switch (`UDP_GRO`).
//!
//! A `sendmsg` costs about the same for one datagram as for 64, which is why the send engine
//! gathers runs for this. Kernels (or routes) without GSO refuse it with one of a few errnos;
//! [`SendError::Refused`] tells the engine to fall back to plain sends from then on.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};

use nix::errno::Errno;
use nix::sys::socket::{sendmsg, setsockopt, sockopt, ControlMessage, MsgFlags, SockaddrStorage};
use socket2::{SockAddr, Socket};

/// The kernel's cap on segments in one GSO send (`UDP_MAX_SEGMENTS` on older kernels).
pub const MAX_SEGMENTS: usize = 64;
/// The largest payload one UDP send can carry (IPv4).
pub const MAX_PAYLOAD: usize = 65_507;

/// How many datagrams of `segment` bytes one GSO send can carry.
pub fn datagrams_per_send(segment: usize) -> usize {
    (MAX_PAYLOAD / segment.max(1)).clamp(1, MAX_SEGMENTS)
}

/// One plain `sendmsg` of one datagram made of `parts`, to `to` or the connected peer; retried on
/// `EINTR`. Returns the bytes sent.
///
/// # Errors
/// The kernel's: `EAGAIN` when the socket buffer is full, `EMSGSIZE`, `ECONNREFUSED` (a connected
/// socket's pending ICMP error)...
pub fn send_one(
    socket: &Socket,
    parts: &[IoSlice<'_>],
    to: Option<&SockAddr>,
) -> io::Result<usize> {
    loop {
        let result = match to {
            Some(addr) => socket.send_to_vectored(parts, addr),
            None => socket.send_vectored(parts),
        };
        match result {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Why a GSO send did not go out.
#[derive(Debug)]
pub enum SendError {
    /// This kernel or route does not take segmentation offload: send datagram by datagram.
    Refused,
    /// The kernel's own error for the send (nothing of it was sent).
    Io(io::Error),
}

/// One GSO `sendmsg`: `parts`, all datagrams of one run back to back, cut by the kernel into
/// datagrams of `segment` bytes (the last may be shorter), to `to` or the connected peer.
///
/// # Errors
/// [`SendError::Refused`] where the kernel refuses the offload itself; the kernel's error
/// otherwise (`EAGAIN` included).
pub fn send_segments(
    socket: &Socket,
    parts: &[IoSlice<'_>],
    segment: u16,
    to: Option<SocketAddr>,
) -> Result<usize, SendError> {
    let addr = to.map(SockaddrStorage::from);
    let cmsg = [ControlMessage::UdpGsoSegments(&segment)];
    loop {
        match sendmsg(
            socket.as_raw_fd(),
            parts,
            &cmsg,
            MsgFlags::empty(),
            addr.as_ref(),
        ) {
            Ok(n) => return Ok(n),
            Err(Errno::EINTR) => continue,
            Err(Errno::EIO | Errno::EINVAL | Errno::ENOPROTOOPT | Errno::EOPNOTSUPP) => {
                return Err(SendError::Refused)
            }
            Err(e) => return Err(SendError::Io(io::Error::from(e))),
        }
    }
}

/// Turns receive offload (`UDP_GRO`) on or off: on, a GSO sender's batch arrives in one read,
/// which the receive engine splits into its datagrams (when to is the receive engine's offload
/// decision).
///
/// # Errors
/// The kernel's: `ENOPROTOOPT` where it has no receive offload (or for a Unix socket).
pub fn set_gro(socket: &impl AsFd, on: bool) -> io::Result<()> {
    setsockopt(socket, sockopt::UdpGroSegment, &on).map_err(io::Error::from)
}
