//! The receive engine: one `recvmmsg` (up to 32 reads, each a datagram or a GRO batch of them),
//! and the datagrams it took, in arrival order, as slices of the read buffers: nothing is copied
//! or allocated here.
//!
//! - [`Datagrams`]: each datagram on its own, GRO batches split at their segment size, as
//!   node:dgram delivers them (`'message'`).
//! - [`Batches`]: what one read took from one sender, consecutive slots together (`'messages'`).
//! - [`pacing`]: when to read next; [`offload`]: when receive offload is on.
//!
//! The engine knows nothing of Node-API, so `cargo test` drives it on loopback sockets; the
//! socket's owner turns what it yields into JavaScript calls.

pub mod background;
pub mod offload;
pub mod pacing;

use std::io;
use std::ops::Range;
use std::os::fd::RawFd;

use crate::sys::addr::Addr;
use crate::sys::control::RecvInfo;
use crate::sys::mmsg::{ReadMode, Reader};

/// What one `recvmmsg` took from the kernel: what pacing decides by, and what the statistics
/// count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadSize {
    /// Reads (datagrams, or GRO batches).
    pub reads: usize,
    /// Datagrams (a GRO batch counts its segments).
    pub datagrams: usize,
    /// Payload bytes.
    pub bytes: usize,
}

/// One non-blocking `recvmmsg` on `fd` into `reader`.
///
/// # Errors
/// The socket's: `EAGAIN` when nothing waits, a connected socket's pending `ECONNREFUSED`...
pub fn read(fd: RawFd, reader: &mut Reader) -> io::Result<ReadSize> {
    read_with(fd, reader, ReadMode::default())
}

/// [`read`] in `mode`: with the receive information, or a smaller read per datagram.
///
/// # Errors
/// As [`read`].
pub fn read_with(fd: RawFd, reader: &mut Reader, mode: ReadMode) -> io::Result<ReadSize> {
    reader.recv_with(fd, mode)?;
    let datagrams = (0..reader.received())
        .filter_map(|i| reader.slot(i))
        .map(|slot| match slot.segment {
            Some(segment) if segment > 0 => slot.payload.len().div_ceil(segment).max(1),
            _ => 1,
        })
        .sum();
    Ok(ReadSize {
        reads: reader.received(),
        datagrams,
        bytes: reader.bytes(),
    })
}

/// One datagram in the read buffer, and its sender.
#[derive(Debug, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// Its bytes.
    pub bytes: &'a [u8],
    /// Its sender.
    pub from: Addr<'a>,
    /// What the kernel reported about it, when the read asked (a GRO batch's datagrams share
    /// their batch's).
    pub info: Option<RecvInfo>,
}

/// The datagrams of the last read, in order, GRO batches split at their segment size.
pub struct Datagrams<'a> {
    reader: &'a Reader,
    next_slot: usize,
    /// What is left of the current slot's GRO batch, its sender and its segment size.
    rest: Option<(&'a [u8], Addr<'a>, usize)>,
    /// The current slot's receive information.
    info: Option<RecvInfo>,
}

/// Where a [`Datagrams`] iteration stands: the slot, and the bytes of its GRO batch already
/// taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    slot: usize,
    offset: usize,
}

impl<'a> Datagrams<'a> {
    /// The datagrams `reader` holds.
    pub fn new(reader: &'a Reader) -> Self {
        Self::resume(reader, Position::default())
    }

    /// The datagrams `reader` holds from `at` on (a [`Datagrams::position`] of the same read).
    pub fn resume(reader: &'a Reader, at: Position) -> Self {
        let mut datagrams = Datagrams {
            reader,
            next_slot: at.slot,
            rest: None,
            info: None,
        };
        if at.offset > 0 {
            if let Some(slot) = reader.slot(at.slot) {
                if let (Some(from), Some(tail)) = (slot.from, slot.payload.get(at.offset..)) {
                    let segment = slot.segment.unwrap_or(slot.payload.len()).max(1);
                    datagrams.rest = (!tail.is_empty()).then_some((tail, from, segment));
                    datagrams.info = slot.info;
                }
            }
            datagrams.next_slot = at.slot + 1;
        }
        datagrams
    }

    /// Where the iteration stands: [`Datagrams::resume`] there yields what this one would yield
    /// next.
    pub fn position(&self) -> Position {
        match (&self.rest, self.next_slot.checked_sub(1)) {
            (Some((tail, _, _)), Some(slot)) => {
                let len = self.reader.slot(slot).map_or(0, |s| s.payload.len());
                Position {
                    slot,
                    offset: len - tail.len(),
                }
            }
            _ => Position {
                slot: self.next_slot,
                offset: 0,
            },
        }
    }
}

impl<'a> Iterator for Datagrams<'a> {
    type Item = Datagram<'a>;

    fn next(&mut self) -> Option<Datagram<'a>> {
        loop {
            if let Some((bytes, from, segment)) = self.rest.take() {
                let (head, tail) = bytes.split_at(segment.min(bytes.len()));
                if !tail.is_empty() {
                    self.rest = Some((tail, from, segment));
                }
                return Some(Datagram {
                    bytes: head,
                    from,
                    info: self.info,
                });
            }
            let received = self.reader.slot(self.next_slot)?;
            self.next_slot += 1;
            let Some(from) = received.from else { continue };
            self.info = received.info;
            if received.payload.is_empty() {
                // An empty datagram is a datagram too.
                return Some(Datagram {
                    bytes: received.payload,
                    from,
                    info: received.info,
                });
            }
            let segment = received.segment.unwrap_or(received.payload.len());
            self.rest = Some((received.payload, from, segment.max(1)));
        }
    }
}

/// What one read took from one sender: consecutive slots with the same sender (and, when the
/// read asked for receive information, the same information but for the receive time).
pub struct Batch<'a> {
    reader: &'a Reader,
    slots: Range<usize>,
    /// The sender.
    pub from: Addr<'a>,
    /// The receive information of its datagrams (the receive time is the first one's).
    pub info: Option<RecvInfo>,
}

impl<'a> Batch<'a> {
    /// Each slot's bytes and the size of its datagrams (a GRO batch's segment size, the last
    /// datagram possibly shorter; a lone datagram's own length), in order.
    pub fn slots(&self) -> impl Iterator<Item = (&'a [u8], usize)> + '_ {
        self.slots
            .clone()
            .filter_map(|i| self.reader.slot(i))
            .map(|slot| {
                let segment = slot.segment.unwrap_or(slot.payload.len());
                (slot.payload, segment)
            })
    }

    /// How many slots (reads) the batch holds.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }
}

/// Whether datagrams with this receive information may share a batch (`receiveBatches`): it is
/// equal but for the receive time, or both have none. A batch reports its first datagram's.
pub fn same_batch_info(a: Option<&RecvInfo>, b: Option<&RecvInfo>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.same_but_time(b),
        (a, b) => a.is_none() && b.is_none(),
    }
}

/// The last read's [`Batch`]es, in order.
pub struct Batches<'a> {
    reader: &'a Reader,
    next_slot: usize,
}

impl<'a> Batches<'a> {
    /// The batches `reader` holds.
    pub fn new(reader: &'a Reader) -> Self {
        Batches {
            reader,
            next_slot: 0,
        }
    }
}

impl<'a> Iterator for Batches<'a> {
    type Item = Batch<'a>;

    fn next(&mut self) -> Option<Batch<'a>> {
        let (start, from, info) = loop {
            let slot = self.reader.slot(self.next_slot)?;
            self.next_slot += 1;
            if let Some(from) = slot.from {
                break (self.next_slot - 1, from, slot.info);
            }
        };
        while let Some(slot) = self.reader.slot(self.next_slot) {
            if slot.from != Some(from) || !same_batch_info(slot.info.as_ref(), info.as_ref()) {
                break;
            }
            self.next_slot += 1;
        }
        Some(Batch {
            reader: self.reader,
            slots: start..self.next_slot,
            from,
            info,
        })
    }
}

#[cfg(test)]
mod tests;
