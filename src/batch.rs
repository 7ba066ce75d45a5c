//! The opt-in batch send path: many equal-size datagrams to one destination in as few syscalls as
//! the kernel allows, with UDP segmentation offload (`UDP_SEGMENT`, "GSO": one `sendmsg` carries
//! up to 64 datagrams) and a per-datagram fallback where the kernel refuses the offload.
//!
//! It runs on the JS thread, like the per-datagram path: a `sendmsg` costs the same ~4 µs whether
//! it carries one datagram or 64, so one syscall per 64 datagrams is already past what a thread
//! hand-off (~25 µs across cores on these machines) could buy back.

use std::cell::Cell;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, SockaddrStorage};
use socket2::SockAddr;

use crate::core::Core;
use crate::send::send_once;

/// The kernel's cap on segments in one GSO send (`UDP_MAX_SEGMENTS` on older kernels).
const MAX_SEGMENTS: usize = 64;
/// The largest payload one UDP send can carry (IPv4).
const MAX_PAYLOAD: usize = 65_507;

/// How many datagrams of `segment` bytes one GSO send can carry.
pub(crate) fn datagrams_per_send(segment: usize) -> usize {
    (MAX_PAYLOAD / segment.max(1)).clamp(1, MAX_SEGMENTS)
}

/// Whether GSO works for a socket: unknown until tried, then remembered.
#[derive(Default)]
pub struct Offload {
    refused: Cell<bool>,
}

/// How a batch went: datagrams sent now, and datagrams left queued behind a full socket buffer.
pub struct BatchResult {
    /// Datagrams handed to the kernel.
    pub sent: usize,
    /// Datagrams queued (each completes through `onsend`, in order).
    pub queued: usize,
}

fn is_offload_refusal(e: &nix::errno::Errno) -> bool {
    use nix::errno::Errno;
    matches!(
        e,
        Errno::EIO | Errno::EINVAL | Errno::ENOPROTOOPT | Errno::EOPNOTSUPP
    )
}

impl Core {
    /// Sends `data` as consecutive datagrams of `segment` bytes (the last may be shorter) to `to`,
    /// or to the connected peer.
    ///
    /// # Errors
    /// The first datagram could not be sent (nothing was sent); later failures end the batch
    /// early and are reported the same way, with the count of what was sent lost to the caller
    /// only if the very first send failed.
    pub fn send_batch(
        &self,
        data: &[u8],
        segment: usize,
        to: Option<SocketAddr>,
    ) -> io::Result<BatchResult> {
        if segment == 0 || segment > MAX_PAYLOAD {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // An empty buffer is one empty datagram, as with send().
        let datagrams: Vec<&[u8]> = if data.is_empty() {
            vec![data]
        } else {
            data.chunks(segment).collect()
        };
        let mut sent = 0;
        while sent < datagrams.len() {
            if self.queue_is_busy() {
                break;
            }
            let end = (sent + datagrams_per_send(segment)).min(datagrams.len());
            let run = &datagrams[sent..end];
            match self.send_run(run, segment, to) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if sent == 0 => return Err(e),
                Err(_) => return Ok(BatchResult { sent, queued: 0 }),
            }
        }
        let rest = &datagrams[sent..];
        let to = to.map(SockAddr::from);
        for d in rest {
            self.enqueue(d, to.clone());
        }
        if !rest.is_empty() {
            self.update_interest();
        }
        Ok(BatchResult {
            sent,
            queued: rest.len(),
        })
    }

    /// One GSO `sendmsg` for a run of datagrams (or a plain send for a single one, or when the
    /// kernel refused the offload before). Returns how many datagrams left.
    pub(crate) fn send_run(
        &self,
        run: &[&[u8]],
        segment: usize,
        to: Option<SocketAddr>,
    ) -> io::Result<usize> {
        let plain = |d: &[u8]| {
            let to = to.map(SockAddr::from);
            self.with_socket(|s| send_once(s, &[IoSlice::new(d)], to.as_ref()))
                .map(|_| 1)
        };
        let gso_size = u16::try_from(segment).ok();
        let (Some(gso_size), false) = (gso_size, run.len() == 1 || self.offload.refused.get())
        else {
            return match run.first() {
                Some(d) => plain(d),
                None => Ok(0),
            };
        };
        let whole: Vec<IoSlice<'_>> = run.iter().map(|d| IoSlice::new(d)).collect();
        let addr = to.map(SockaddrStorage::from);
        let cmsg = [ControlMessage::UdpGsoSegments(&gso_size)];
        let fd = self.with_socket(|s| Ok(s.as_raw_fd()))?;
        match sendmsg(fd, &whole, &cmsg, MsgFlags::empty(), addr.as_ref()) {
            Ok(_) => Ok(run.len()),
            Err(nix::errno::Errno::EINTR) => Ok(0),
            Err(e) if is_offload_refusal(&e) => {
                // Degrade at run time instead of failing: this kernel (or route) refuses GSO.
                self.offload.refused.set(true);
                run.first().map_or(Ok(0), |d| plain(d))
            }
            Err(e) => Err(io::Error::from(e)),
        }
    }
}
