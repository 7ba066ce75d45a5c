//! The queue of datagrams waiting for the socket to become writable, in send order.

use crate::sys::addr::OwnedAddr;
use std::collections::VecDeque;

/// A datagram waiting for writability: its own copy of the bytes (the caller's buffers may change
/// or be collected once the send call has returned), its destination, and the request it
/// completes.
pub struct Queued {
    /// The datagram's bytes.
    pub data: Vec<u8>,
    /// The destination, or `None` for the connected peer.
    pub to: Option<OwnedAddr>,
    /// The request this datagram belongs to (JavaScript's id, given back with the result).
    pub id: u32,
    /// Its per-send control messages.
    pub control: crate::sys::control::SendControl,
}

/// Datagrams waiting for writability, in order, with their total size.
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

    /// Datagrams waiting (`getSendQueueCount()`).
    pub fn count(&self) -> usize {
        self.items.len()
    }

    /// Adds a datagram at the back.
    pub fn push(&mut self, item: Queued) {
        self.bytes += item.data.len();
        self.items.push_back(item);
    }

    /// The waiting datagrams, oldest first.
    pub fn items(&self) -> impl Iterator<Item = &Queued> {
        self.items.iter()
    }

    /// Removes the `n` oldest datagrams (those the kernel has taken or refused).
    pub fn pop_front(&mut self, n: usize) {
        for item in self.items.drain(..n.min(self.items.len())) {
            self.bytes -= item.data.len();
        }
    }

    /// Takes everything waiting, oldest first.
    pub fn drain(&mut self) -> Vec<Queued> {
        self.bytes = 0;
        self.items.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(data: &[u8], id: u32) -> Queued {
        Queued {
            data: data.to_vec(),
            to: None,
            id,
            control: Default::default(),
        }
    }

    #[test]
    fn counts_datagrams_and_bytes_in_order() {
        let mut q = SendQueue::default();
        q.push(item(&[1, 2, 3], 7));
        q.push(item(&[4], 8));
        assert_eq!((q.count(), q.bytes()), (2, 4));
        assert_eq!(q.items().map(|i| i.id).collect::<Vec<_>>(), [7, 8]);
        q.pop_front(1);
        assert_eq!((q.count(), q.bytes()), (1, 1));
        assert_eq!(q.items().next().map(|i| i.data.clone()), Some(vec![4]));
    }

    #[test]
    fn draining_empties_it_in_order() {
        let mut q = SendQueue::default();
        for id in [3, 4, 5] {
            q.push(item(b"xy", id));
        }
        let ids: Vec<u32> = q.drain().iter().map(|i| i.id).collect();
        assert_eq!(ids, [3, 4, 5]);
        assert!(q.is_empty());
        assert_eq!(q.bytes(), 0);
    }
}
