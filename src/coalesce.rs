//! Send coalescing on the default path: the sends a tick makes are gathered (`sendLater`) and
//! handed to the kernel together when the JavaScript layer flushes them (`flushSends`), as one GSO
//! `sendmsg` per run of equal-size datagrams to one destination.
//!
//! A `sendmsg` costs about the same for one datagram as for 64, so a program that sends many
//! datagrams in one tick (a game server's broadcast, a media relay's burst) pays one syscall per
//! run instead of one per datagram. Order is kept: runs go out in the order the sends were made,
//! behind anything already queued. Each datagram still gets its own result, so each send callback
//! sees its own byte count; a run the kernel fails reports that error to every datagram in it.

use std::io::{self, IoSlice};
use std::net::SocketAddr;

use socket2::SockAddr;

use crate::batch::datagrams_per_send;
use crate::core::Core;
use crate::error;
use crate::send::concat;

/// A send gathered in this tick.
pub struct Deferred {
    data: Vec<u8>,
    to: Option<SocketAddr>,
}

impl Core {
    /// Gathers one datagram (its buffers, concatenated) for the next flush.
    pub fn send_later(&self, parts: &[IoSlice<'_>], to: Option<SocketAddr>) {
        if let Ok(mut pending) = self.deferred.try_borrow_mut() {
            pending.push(Deferred {
                data: concat(parts),
                to,
            });
        }
    }

    /// Sends everything gathered, in order. Returns one result per datagram, in Node's encoding:
    /// bytes + 1 when sent, 0 when queued behind a full socket buffer (completed by `onsend`),
    /// or a negative errno.
    pub fn flush_sends(&self) -> Vec<i64> {
        let items = match self.deferred.try_borrow_mut() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => return Vec::new(),
        };
        let mut results = Vec::with_capacity(items.len());
        let mut start = 0;
        while start < items.len() {
            let end = run_end(&items, start);
            let run: Vec<&[u8]> = items[start..end].iter().map(|d| &d.data[..]).collect();
            let (segment, to) = (run[0].len(), items[start].to);
            let mut sent = 0;
            while sent < run.len() {
                if self.queue_is_busy() {
                    break;
                }
                match self.send_run(&run[sent..], segment, to) {
                    Ok(n) => {
                        results.extend((0..n).map(|_| segment as i64 + 1));
                        sent += n;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        let errno = i64::from(error::errno(&e));
                        results.extend((sent..run.len()).map(|_| errno));
                        sent = run.len();
                    }
                }
            }
            if sent < run.len() || self.queue_is_busy() {
                // The socket buffer is full: queue this run's rest and everything after it.
                for item in items[start + sent..].iter() {
                    self.enqueue(&item.data, item.to.map(SockAddr::from));
                    results.push(0);
                }
                self.update_interest();
                return results;
            }
            start = end;
        }
        results
    }
}

/// Where the run starting at `start` ends: consecutive datagrams of one size to one destination,
/// within the kernel's limits for one GSO send. Empty datagrams are never merged.
fn run_end(items: &[Deferred], start: usize) -> usize {
    let first = &items[start];
    let size = first.data.len();
    if size == 0 {
        return start + 1;
    }
    let limit = datagrams_per_send(size);
    let mut end = start + 1;
    while end < items.len()
        && end - start < limit
        && items[end].to == first.to
        && items[end].data.len() == size
    {
        end += 1;
    }
    end
}
