//! The send path: a non-blocking send on the JS thread, and a queue for when the socket is not
//! writable (`EAGAIN`), flushed in order when libuv reports it writable.
//!
//! This is libuv's `uv_udp_try_send` + `uv_udp_send` as Node's `UDPWrap` uses them: a send that
//! completes at once returns its byte count (+1, Node's encoding); one that must wait is queued and
//! completed later through `onsend(status, bytes)`. While anything is queued, new sends queue
//! behind it, so datagrams leave in the order they were sent.

use std::collections::VecDeque;
use std::io::{self, IoSlice};

use socket2::{SockAddr, Socket};

use crate::core::Core;
use crate::error;
use crate::uv::CallScope;

/// A datagram waiting for the socket to become writable.
struct Queued {
    /// The datagram's bytes (the send's buffers, concatenated: the caller's buffers may change
    /// or be collected once `send` has returned).
    data: Vec<u8>,
    /// The destination, or `None` on a connected socket.
    to: Option<SockAddr>,
}

/// Sends waiting for writability, in order, with their total size.
#[derive(Default)]
pub struct SendQueue {
    items: VecDeque<Queued>,
    bytes: usize,
}

impl SendQueue {
    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes waiting (`getSendQueueSize()`).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Sends waiting (`getSendQueueCount()`).
    pub fn count(&self) -> usize {
        self.items.len()
    }

    /// Drops everything queued and returns how many sends that cancels.
    pub fn clear(&mut self) -> u32 {
        let n = self.items.len();
        self.items.clear();
        self.bytes = 0;
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    fn push(&mut self, data: Vec<u8>, to: Option<SockAddr>) {
        self.bytes += data.len();
        self.items.push_back(Queued { data, to });
    }

    fn pop(&mut self) -> Option<Queued> {
        let item = self.items.pop_front()?;
        self.bytes -= item.data.len();
        Some(item)
    }
}

/// The bytes of `parts`, one after the other.
pub(crate) fn concat(parts: &[IoSlice<'_>]) -> Vec<u8> {
    let mut data = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        data.extend_from_slice(part);
    }
    data
}

/// One `sendmsg`, retried on `EINTR`.
pub(crate) fn send_once(
    socket: &Socket,
    bufs: &[IoSlice<'_>],
    to: Option<&SockAddr>,
) -> io::Result<usize> {
    loop {
        let result = match to {
            Some(addr) => socket.send_to_vectored(bufs, addr),
            None => socket.send_vectored(bufs),
        };
        match result {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

impl Core {
    /// Sends one datagram made of `parts` to `to` (or the connected peer).
    ///
    /// Returns bytes + 1 when sent at once, 0 when queued (completed later by `onsend`), or a
    /// negative errno.
    pub fn send(&self, parts: &[IoSlice<'_>], to: Option<SockAddr>) -> i64 {
        if !self.queue_is_busy() {
            match self.with_socket(|s| send_once(s, parts, to.as_ref())) {
                Ok(n) => return n as i64 + 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return i64::from(error::errno(&e)),
            }
        }
        self.enqueue(&concat(parts), to);
        self.update_interest();
        0
    }

    /// Whether sends are waiting (a new send must then queue behind them, to keep order).
    pub fn queue_is_busy(&self) -> bool {
        self.queue
            .try_borrow()
            .map(|q| !q.is_empty())
            .unwrap_or(true)
    }

    /// Queues one datagram (the caller then updates the poll interest).
    pub fn enqueue(&self, data: &[u8], to: Option<SockAddr>) {
        if let Ok(mut queue) = self.queue.try_borrow_mut() {
            queue.push(data.to_vec(), to);
        }
    }

    /// Sends what is queued, in order, while the socket takes it; completes each through
    /// `onsend(status, bytes)`.
    pub(crate) fn flush_queue(&self) {
        let callbacks = self.callbacks();
        loop {
            if self.is_closed() {
                return;
            }
            let attempt = {
                let Ok(queue) = self.queue.try_borrow() else {
                    return;
                };
                let Some(front) = queue.items.front() else {
                    break;
                };
                let slices = [IoSlice::new(&front.data)];
                self.with_socket(|s| send_once(s, &slices, front.to.as_ref()))
            };
            let (status, bytes) = match attempt {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Ok(n) => (0, i32::try_from(n).unwrap_or(i32::MAX)),
                Err(e) => (error::errno(&e), 0),
            };
            if let Ok(mut queue) = self.queue.try_borrow_mut() {
                queue.pop();
            }
            if let (Some(cb), Some(scope)) = (&callbacks, CallScope::open(self.env)) {
                if let (Some(status), Some(bytes)) = (scope.int(status), scope.int(bytes)) {
                    scope.call(&cb.context, &cb.onsend, &[status, bytes]);
                }
            }
        }
        self.update_interest();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_counts_sends_and_bytes_in_order() {
        let mut q = SendQueue::default();
        q.push(vec![1, 2, 3], None);
        q.push(vec![4], None);
        assert_eq!((q.count(), q.bytes()), (2, 4));
        assert_eq!(q.pop().map(|i| i.data), Some(vec![1, 2, 3]));
        assert_eq!((q.count(), q.bytes()), (1, 1));
        assert_eq!(q.clear(), 1);
        assert!(q.is_empty());
        assert_eq!(q.bytes(), 0);
    }
}
