//! The background receive engine: a task on a tokio runtime reads a socket as soon as it is
//! readable, whatever the JavaScript thread is doing, into a bounded inbox that the JavaScript
//! thread empties when it can.
//!
//! Why: a receiver whose JavaScript stalls (a 100 ms garbage collection, a synchronous parse)
//! stops reading, and the kernel's receive buffer (208 KiB by default) overflows within
//! milliseconds at tens of thousands of datagrams a second. Here a runtime thread keeps reading
//! during the stall; the inbox holds up to its byte budget, and what does not fit is dropped and
//! counted, so memory stays bounded and every loss is visible.
//!
//! One runtime serves the whole process (every socket, every worker thread): one worker thread,
//! started on first use. The runtime's thread keeps no Node loop alive; the owner's wake-up handle
//! does. The task owns what it touches: a duplicate of the socket's descriptor and an `Arc` of the
//! inbox, so nothing it uses can be freed under it. [`Background::stop`] cancels the task and waits
//! until it has let go of the descriptor, so that closing the socket really closes it.
//!
//! Like the rest of the receive engine, this knows nothing of Node-API: it reports through a plain
//! `wake` closure, and `cargo test` drives it on loopback sockets.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

use super::offload::Offload;
use super::{read_with, Datagrams};
use crate::sys::addr::OwnedAddr;
use crate::sys::control::RecvInfo;
use crate::sys::gso;
use crate::sys::mmsg::{ReadMode, Reader};

/// What each queued datagram costs the budget beyond its bytes (its entry, the read's buffer
/// header), so that a flood of empty datagrams is bounded too.
const ENTRY_COST: usize = 64;

/// The default inbox budget: 100 ms of 200-byte datagrams at 40,000 a second, with room to spare.
pub const DEFAULT_MAX_BYTES: usize = 8 << 20;

/// What the task waits for: datagrams, and errors (a connected socket's ICMP error, or one the
/// error queue holds with `receiveErrors`), which the next read reports.
const WATCHED: Interest = Interest::READABLE.add(Interest::ERROR);

/// How long [`Background::stop`] waits for the task to let go of the socket.
const STOP_TIMEOUT: Duration = Duration::from_secs(2);

/// One datagram in an [`Inbound`] read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its sender.
    pub from: OwnedAddr,
    /// Its length; datagrams follow each other in [`Inbound::data`].
    pub len: usize,
    /// What the kernel reported about it, when the read asked (`receiveInfo`).
    pub info: Option<RecvInfo>,
}

/// What one read put in the inbox: datagrams back to back, in arrival order.
#[derive(Debug, Default)]
pub struct Inbound {
    /// The datagrams' bytes.
    pub data: Vec<u8>,
    /// Each datagram's sender and length.
    pub entries: Vec<Entry>,
}

/// What the JavaScript thread takes from the inbox.
#[derive(Debug)]
pub enum Item {
    /// Datagrams.
    Read(Inbound),
    /// A receive error (a negative errno), in its place among the datagrams.
    Error(i32),
}

/// The inbox and its counters, shared by the task and the owner.
#[derive(Default)]
struct Shared {
    inbox: Mutex<Inbox>,
    received: AtomicU64,
    received_bytes: AtomicU64,
    dropped: AtomicU64,
}

#[derive(Default)]
struct Inbox {
    items: VecDeque<Item>,
    cost: usize,
}

/// Datagrams read and dropped by a background reader.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Datagrams put in the inbox.
    pub received: u64,
    /// Their bytes.
    pub received_bytes: u64,
    /// Datagrams read but dropped because the inbox was full.
    pub dropped: u64,
}

/// A socket's background reader: the task and its inbox.
pub struct Background {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
    stopped: mpsc::Receiver<()>,
}

/// The process's runtime, started on first use.
fn runtime() -> io::Result<&'static Runtime> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    let built = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("dgram-rs-recv")
            .enable_io()
            .build()
            .map_err(|e| e.to_string())
    });
    built.as_ref().map_err(|e| io::Error::other(e.clone()))
}

impl Background {
    /// Starts reading `socket` (non-blocking) in `mode` into an inbox of at most `max_bytes`;
    /// `wake` is called (from the runtime's thread) after each read that put something in it.
    ///
    /// # Errors
    /// The runtime cannot start, the descriptor cannot be duplicated, or the kernel refuses to
    /// watch it.
    pub fn start(
        socket: BorrowedFd<'_>,
        max_bytes: usize,
        mode: ReadMode,
        wake: impl Fn() + Send + Sync + 'static,
    ) -> io::Result<Self> {
        let runtime = runtime()?;
        let fd: OwnedFd = socket.try_clone_to_owned()?;
        // AsyncFd registers with the runtime's reactor: only inside the runtime's context.
        let watched = {
            let _context = runtime.enter();
            // SAFETY: `fd` is an open descriptor that the AsyncFd owns from here on (an OwnedFd
            // always answers the same descriptor, and only its drop closes it).
            unsafe { AsyncFd::register_with_interest(fd, WATCHED) }.map_err(|e| e.into_parts().1)?
        };
        let shared = Arc::new(Shared::default());
        let (done, stopped) = mpsc::channel();
        let task = runtime.spawn(run(
            watched,
            Arc::clone(&shared),
            (max_bytes, mode),
            wake,
            done,
        ));
        Ok(Background {
            shared,
            task,
            stopped,
        })
    }

    /// Takes the oldest item from the inbox.
    pub fn pop(&self) -> Option<Item> {
        let mut inbox = self.shared.inbox.lock().ok()?;
        let item = inbox.items.pop_front()?;
        inbox.cost = inbox.cost.saturating_sub(cost_of(&item));
        Some(item)
    }

    /// Puts back an item (what was left of one) at the front, to be taken first next time.
    pub fn push_front(&self, item: Item) {
        if let Ok(mut inbox) = self.shared.inbox.lock() {
            inbox.cost += cost_of(&item);
            inbox.items.push_front(item);
        }
    }

    /// The reader's counts so far.
    pub fn counts(&self) -> Counts {
        Counts {
            received: self.shared.received.load(Ordering::Relaxed),
            received_bytes: self.shared.received_bytes.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
        }
    }

    /// Stops the task and waits (at most a couple of seconds) until it has dropped its duplicate
    /// of the descriptor, so that closing the socket closes it.
    pub fn stop(self) {
        self.task.abort();
        let _ = self.stopped.recv_timeout(STOP_TIMEOUT);
    }
}

/// What an item counts against the inbox's budget.
fn cost_of(item: &Item) -> usize {
    match item {
        Item::Read(read) => read.data.len() + read.entries.len() * ENTRY_COST,
        Item::Error(_) => 0,
    }
}

/// Sends on drop: the task has ended and dropped what it held (locals drop before this guard,
/// which is declared first).
struct Done(mpsc::Sender<()>);

impl Drop for Done {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Read buffers the process's background readers are done with (32 × 64 KiB each, mapped):
/// a socket per query with `backgroundReceive` mapped and unmapped a reader's 32 blocks for
/// every socket (about 2,200 page faults per 1,000 queries, against node:dgram's 1,050).
static SPARE_READERS: Mutex<Vec<Reader>> = Mutex::new(Vec::new());
/// Spare read buffers kept at most (their untouched pages cost nothing).
const SPARE: usize = 4;

/// A background reader's read buffer, from the spares or new, back to the spares when the task
/// ends or is cancelled.
struct PooledReader(Option<Reader>);

impl PooledReader {
    fn take() -> io::Result<PooledReader> {
        let spare = SPARE_READERS
            .lock()
            .ok()
            .and_then(|mut spares| spares.pop());
        Ok(PooledReader(Some(match spare {
            Some(reader) => reader,
            None => Reader::new()?,
        })))
    }
}

impl Drop for PooledReader {
    fn drop(&mut self) {
        if let (Some(reader), Ok(mut spares)) = (self.0.take(), SPARE_READERS.lock()) {
            if spares.len() < SPARE {
                spares.push(reader);
            }
        }
    }
}

/// The task: wait for readability, read, queue, wake; until cancelled or the socket fails.
async fn run(
    watched: AsyncFd<OwnedFd>,
    shared: Arc<Shared>,
    (max_bytes, mode): (usize, ReadMode),
    wake: impl Fn() + Send + Sync + 'static,
    done: mpsc::Sender<()>,
) {
    let _done = Done(done);
    // Moved into the body, so that it drops before `_done` says the task let go of it: an async
    // fn's parameters drop after its body's locals, and a duplicate descriptor still open keeps
    // the port bound (a close() followed at once by a bind of the same port failed with
    // EADDRINUSE now and then).
    let watched = watched;
    let mut pooled = match PooledReader::take() {
        Ok(pooled) => pooled,
        Err(e) => {
            shared.push(Item::Error(crate::sys::error::errno(&e)), 0);
            wake();
            return;
        }
    };
    // Some from `take` until the task lets go of it.
    let Some(reader) = pooled.0.as_mut() else {
        return;
    };
    let mut offload = Offload::default();
    loop {
        let mut ready = match watched.ready(WATCHED).await {
            Ok(ready) => ready,
            Err(e) => {
                shared.push(Item::Error(crate::sys::error::errno(&e)), 0);
                wake();
                return;
            }
        };
        match read_with(watched.get_ref().as_raw_fd(), reader, mode) {
            Ok(size) => {
                // The same decision as the owner's (`Owner::follow_offload`); a refusal only
                // means datagram-by-datagram reads.
                if let Some(on) = offload.decide(mode, Some(size)) {
                    let ok = gso::set_gro(watched.get_ref(), on).is_ok();
                    offload.switched(on, ok);
                }
                shared.queue_read(reader, max_bytes);
                wake();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready.clear_ready(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A connected socket's pending ICMP error, say: reported in its place; the socket
            // keeps working, as on the default path.
            Err(e) => {
                shared.push(Item::Error(crate::sys::error::errno(&e)), 0);
                wake();
            }
        }
    }
}

impl Shared {
    fn push(&self, item: Item, cost: usize) {
        if let Ok(mut inbox) = self.inbox.lock() {
            inbox.cost += cost;
            inbox.items.push_back(item);
        }
    }

    /// Copies the read's datagrams into the inbox while the budget allows; counts the rest as
    /// dropped.
    fn queue_read(&self, reader: &Reader, max_bytes: usize) {
        let Ok(mut inbox) = self.inbox.lock() else {
            return;
        };
        let mut read = Inbound::default();
        let mut cost = inbox.cost;
        let mut dropped = 0u64;
        for datagram in Datagrams::new(reader) {
            let datagram_cost = datagram.bytes.len() + ENTRY_COST;
            if cost + datagram_cost > max_bytes {
                dropped += 1;
                continue;
            }
            cost += datagram_cost;
            read.data.extend_from_slice(datagram.bytes);
            read.entries.push(Entry {
                from: datagram.from.to_owned(),
                len: datagram.bytes.len(),
                info: datagram.info,
            });
        }
        self.dropped.fetch_add(dropped, Ordering::Relaxed);
        if read.entries.is_empty() {
            return;
        }
        self.received
            .fetch_add(read.entries.len() as u64, Ordering::Relaxed);
        self.received_bytes
            .fetch_add(read.data.len() as u64, Ordering::Relaxed);
        inbox.cost = cost;
        inbox.items.push_back(Item::Read(read));
    }
}

#[cfg(test)]
mod tests;
