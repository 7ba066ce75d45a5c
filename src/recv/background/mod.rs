//! The background receive engine: a reader on a tokio runtime that takes over reading a socket
//! whenever the JavaScript thread has stopped reading it, into a bounded inbox that the
//! JavaScript thread empties when it can, and hands the socket back once it has.
//!
//! Why: a receiver whose JavaScript stalls (a 100 ms garbage collection, a synchronous parse)
//! stops reading, and the kernel's receive buffer (208 KiB by default) overflows within
//! milliseconds at tens of thousands of datagrams a second. Here a runtime thread reads during
//! the stall; the inbox holds up to its byte budget, and what of a read does not fit is dropped
//! and counted, so memory stays bounded and every loss is visible. The reader then reads no more
//! until the inbox is empty (see [`read_while_taken`]): the kernel's buffer takes what comes
//! meanwhile, and its own count takes what that buffer cannot hold.
//!
//! Why a takeover, not a reader that is always on: an always-on reader made every datagram cross
//! threads (a copy into the inbox, a lock, a wake-up of the loop) even while the JavaScript thread
//! was free to read it itself. On the 2-vCPU machine of issue 22 it received at 0.60× the default
//! path's maximum rate, for 1.63× its process CPU per datagram, and made ping-pong 1.5× slower
//! than node:dgram. The JavaScript thread reads efficiently whenever it is free (batched reads,
//! pacing, offload); the thread is needed only while it is not. So:
//!
//! - **The JavaScript thread reads** (the default path, `crate::owner`), and stamps the time of
//!   each read and each delivery turn ([`Background::end_js_read`], [`Background::js_progress`]:
//!   a clock read and a store, tens of nanoseconds).
//! - **The reader watches**: it waits for the socket's readiness once, then lets go of the
//!   registration (which would wake it for every datagram that arrives) and sleeps until a
//!   deadline after the JavaScript thread's last progress, again and again while datagrams keep
//!   coming: if the JavaScript thread has made no progress meanwhile and datagrams wait in the
//!   kernel, it takes over. The deadline ([`Deadline`]) is [`TAKEOVER`], or up to
//!   [`LONGEST_TAKEOVER`] where the receive buffer takes long to fill at the rate the JavaScript
//!   thread has been reading (it stamps what each read took). While the traffic goes on the
//!   reader stays on its timer, even when it finds the socket drained (a look a deadline); only
//!   once the JavaScript thread has made no progress for [`LINGER`] with the socket drained does
//!   it wait for readiness again. A free loop costs the reader about one wake-up per deadline of
//!   traffic, and nothing while the socket is idle. Against an always-on reader that is a
//!   fraction of the crossing it saved, and the price of a takeover a millisecond or two into a
//!   stall. (Waiting for readiness again at every drained look woke the reader at the first
//!   datagram of every burst of a paced sender, just when the JavaScript thread and the sender
//!   were busy with it: see `watch`.)
//! - **The deadline stays on tokio's timer**, which rounds it up to its next millisecond: in
//!   the stalls bench's traces (60k/s, 100 ms stalls) takeovers came 1.3–1.9 ms after the last
//!   progress at the median, 2.1–2.6 ms at the 90th percentile, up to 4–5 ms, where the default
//!   receive buffer (208 KiB) holds 2.8 ms of 200-byte datagrams at 60k/s from empty (1,280 bytes
//!   of kernel memory each on loopback). But datagrams dropped before a late takeover were only
//!   0–3 % of that bench's loss before the pause below, 17–27 % after (two traced runs), and a
//!   deadline kept on a `timerfd` (takeovers 1.03 ms after the last progress at the median) did
//!   not lower the loss measurably (0.56 % against 0.62 %, medians of ten paired quiet runs at
//!   60k/s), while it cost the reader 0.1–0.4 µs more CPU per datagram at paced 30–60k/s (a
//!   wake-up every millisecond instead of every 1.5 on average): not kept.
//! - **The reader reads** into the inbox, waking the loop after each read, until the inbox is
//!   empty at one of its checks (the JavaScript thread has caught up: it took the last item, or
//!   the socket ran dry), and then **hands back**. After a read that did not fill its buffer it
//!   waits [`PACE`] before the next, rather than reading each datagram as it comes, with the
//!   socket out of the runtime's readiness watcher meanwhile: see `read_while_taken` for why
//!   (most of the loss under stalls came from there).
//! - **While it owns a socket, the runtime's thread asks for the scheduler's shortest slice**
//!   (0.1 ms, `crate::sys::thread`, `ShortSlice`), so that on Linux 6.12 and later a reader
//!   whose pause ends gets the core from a sender in the middle of its slice instead of after it
//!   (see `read_while_taken`).
//!
//! One reader at a time: the owner of the socket's reads is one atomic state. The JavaScript
//! thread reads only after switching it from idle to reading ([`Background::begin_js_read`],
//! refused while the reader owns it or the inbox holds anything); the reader takes over only by
//! switching it from idle to taken, never during a JavaScript read. It hands back under the
//! inbox's lock, only when the inbox is empty, so every datagram the reader read is in the inbox
//! before the JavaScript thread reads again, and the JavaScript thread delivers its own last read
//! and the inbox before it reads the socket again: arrival order is kept. Every datagram read is
//! counted once: by the owner (its reads) or here ([`Counts`]).
//!
//! One runtime serves the whole process (every socket, every worker thread): one worker thread,
//! started on first use. The runtime's thread keeps no Node loop alive; the owner's wake-up handle
//! does. The task owns what it touches: a duplicate of the socket's descriptor and an `Arc` of the
//! inbox, so nothing it uses can be freed under it. [`Background::stop`] cancels the task and waits
//! until it has let go of the descriptor, so that closing the socket really closes it.
//!
//! Like the rest of the receive engine, this knows nothing of Node-API: it reports through a plain
//! `wake` closure, and `cargo test` drives it on loopback sockets (standing in for the JavaScript
//! thread with [`Background::begin_js_read`] and [`Background::end_js_read`]).

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::runtime::Runtime;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::offload::Offload;
use super::{read_with, Datagrams};
use crate::sys::addr::OwnedAddr;
use crate::sys::control::RecvInfo;
use crate::sys::gso;
use crate::sys::mmsg::{ReadMode, Reader, SLOTS};

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

/// How long the JavaScript thread may make no progress while datagrams wait before the reader
/// takes over. Short, because the kernel's default receive buffer holds only about 3 ms of
/// 200-byte datagrams at 60,000 a second; long against a free loop's iteration under a flood (a
/// read and a delivery of 32 datagrams: about 100 µs), so that a loop that keeps up is rarely
/// taken over (a takeover costs nothing but the crossing of the datagrams read meanwhile).
///
/// The shortest such time: where the receive buffer takes longer to fill at the rate the
/// JavaScript thread has been reading, the reader gives it up to [`LONGEST_TAKEOVER`] (see
/// [`Deadline`]).
pub const TAKEOVER: Duration = Duration::from_millis(1);

/// The longest time the JavaScript thread may make no progress while datagrams wait, where the
/// receive buffer fills slowly (see [`Deadline`]): below [`LINGER`], so that a reader whose look
/// finds the socket drained stays on its timer while the traffic goes on.
pub const LONGEST_TAKEOVER: Duration = Duration::from_millis(2);

/// How long the reader waits to look again when the JavaScript thread was reading at its look,
/// and between its looks while it lingers.
const TICK: Duration = Duration::from_millis(1);

/// How long the reader stays on its timer after the JavaScript thread's last progress once the
/// socket is found drained, before it waits for readiness again: longer than the gaps of a paced
/// sender's bursts (a millisecond or so), so that a steady stream keeps it on its timer.
pub const LINGER: Duration = Duration::from_millis(4);

/// How long the reader waits, while it owns the socket, after a read that did not fill its
/// buffer, before it reads again (see [`read_while_taken`]), where the receive buffer is the
/// kernel's default ([`DEFAULT_RCVBUF`]); in proportion to it where it is smaller ([`pace_for`]).
pub const PACE: Duration = Duration::from_micros(200);

/// The receive buffer [`PACE`] is measured for: Linux's default (`net.core.rmem_default`,
/// 212,992 bytes of kernel memory, as `SO_MEMINFO` reports it).
const DEFAULT_RCVBUF: u32 = 212_992;

/// Who reads the socket ([`Shared::state`]).
const JS_IDLE: u8 = 0;
const JS_READING: u8 = 1;
const TAKEN: u8 = 2;

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

/// The inbox, its counters and the socket's read ownership, shared by the task and the owner.
#[derive(Default)]
struct Shared {
    inbox: Mutex<Inbox>,
    /// Whether the inbox holds anything: changed only under its lock, read without it (the
    /// JavaScript thread asks before every read and at every change of its interest; the lock
    /// there was 0.3 % of its CPU at 30k/s paced).
    queued: AtomicBool,
    /// Who reads the socket: [`JS_IDLE`], [`JS_READING`] or [`TAKEN`] (the reader). Changed from
    /// [`TAKEN`] only under the inbox's lock, with the inbox empty.
    state: AtomicU8,
    /// When the JavaScript thread last read or delivered (nanoseconds since [`epoch`]): the
    /// reader's sign of life.
    progress: AtomicU64,
    /// What the JavaScript thread's reads have taken from the receive buffer so far, in bytes
    /// of kernel memory as [`kernel_memory`] estimates it: the reader's measure of the rate the
    /// buffer fills at (see [`Deadline`]).
    js_memory: AtomicU64,
    /// The JavaScript thread found the inbox empty while the reader owned the socket.
    drained: Notify,
    received: AtomicU64,
    received_bytes: AtomicU64,
    dropped: AtomicU64,
    takeovers: AtomicU64,
    /// How many times the reader has waited for the socket's readiness.
    readiness_waits: AtomicU64,
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

/// The clock of [`Shared::progress`]: the first time it was read.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since [`epoch`] (a monotonic clock read through the vDSO: tens of nanoseconds,
/// on the JavaScript thread at each read).
fn now() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The process's runtime, started on first use.
fn runtime() -> io::Result<&'static Runtime> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    let built = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("dgram-rs-recv")
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| e.to_string())
    });
    built.as_ref().map_err(|e| io::Error::other(e.clone()))
}

impl Background {
    /// Starts watching `socket` (non-blocking), to read it in `mode` into an inbox of at most
    /// `max_bytes` whenever the JavaScript thread stops reading it; `wake` is called (from the
    /// runtime's thread) after each read that put something in the inbox, and when the reader
    /// hands the socket back.
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

    /// The JavaScript thread is about to read the socket: false when it must not (the reader
    /// owns the socket, or the inbox holds what was read before: deliver that first). When true,
    /// the reader cannot take over until [`Background::end_js_read`], right after the read.
    pub fn begin_js_read(&self) -> bool {
        !self.has_queued()
            && self
                .shared
                .state
                .compare_exchange(JS_IDLE, JS_READING, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    /// The JavaScript thread's read (after a [`Background::begin_js_read`] that answered true)
    /// is over, having taken `reads` datagrams (or GRO batches) of `bytes` in all; it counts as
    /// progress.
    pub fn end_js_read(&self, reads: usize, bytes: usize) {
        if reads > 0 {
            // Only this thread writes it: a load and a store, no read-modify-write.
            let memory = self.shared.js_memory.load(Ordering::Relaxed);
            self.shared.js_memory.store(
                memory.saturating_add(kernel_memory(reads, bytes)),
                Ordering::Relaxed,
            );
        }
        self.shared.progress.store(now(), Ordering::Relaxed);
        // Only from JS_READING (a stray call must not hand the reader's socket over).
        let _ = self.shared.state.compare_exchange(
            JS_READING,
            JS_IDLE,
            Ordering::Release,
            Ordering::Relaxed,
        );
    }

    /// The JavaScript thread delivered what it read earlier (a backlog's turn): it is alive, and
    /// will read again; the reader's deadline starts again.
    pub fn js_progress(&self) {
        self.shared.progress.store(now(), Ordering::Relaxed);
    }

    /// Whether the reader owns the socket now (the JavaScript thread must not read it).
    pub fn is_taken(&self) -> bool {
        self.shared.state.load(Ordering::Acquire) == TAKEN
    }

    /// Whether the inbox holds anything.
    pub fn has_queued(&self) -> bool {
        self.shared.queued.load(Ordering::Acquire)
    }

    /// How many times the reader has taken the socket over.
    pub fn takeovers(&self) -> u64 {
        self.shared.takeovers.load(Ordering::Relaxed)
    }

    /// How many times the reader has waited for the socket's readiness (once, then once after
    /// each time the traffic stopped or the reader handed back).
    pub fn readiness_waits(&self) -> u64 {
        self.shared.readiness_waits.load(Ordering::Relaxed)
    }

    /// Takes the oldest item from the inbox. Finding it empty while the reader owns the socket
    /// tells the reader that the JavaScript thread has caught up (it hands the socket back).
    pub fn pop(&self) -> Option<Item> {
        let mut inbox = self.shared.inbox.lock().ok()?;
        let Some(item) = inbox.items.pop_front() else {
            self.shared.queued.store(false, Ordering::Release);
            drop(inbox);
            if self.is_taken() {
                self.shared.drained.notify_one();
            }
            return None;
        };
        inbox.cost = inbox.cost.saturating_sub(cost_of(&item));
        self.shared
            .queued
            .store(!inbox.items.is_empty(), Ordering::Release);
        Some(item)
    }

    /// Puts back an item (what was left of one) at the front, to be taken first next time.
    pub fn push_front(&self, item: Item) {
        if let Ok(mut inbox) = self.shared.inbox.lock() {
            inbox.cost += cost_of(&item);
            inbox.items.push_front(item);
            self.shared.queued.store(true, Ordering::Release);
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

/// Whether datagrams (or an error) wait in the socket, without taking them.
fn pending(fd: &OwnedFd) -> bool {
    let mut poll = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, for an open descriptor (the AsyncFd's), with a zero timeout.
    let n = unsafe { libc::poll(&mut poll, 1, 0) };
    // A failed poll (EINTR, ENOMEM) answers yes: at worst the reader takes over, reads nothing
    // and hands back.
    n != 0
}

/// The task: watch while the JavaScript thread reads; take over when it stops; read, queue and
/// wake until it has caught up; hand back. Until cancelled or the socket fails.
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
    let mut watched = watched;
    let mut offload = Offload::default();
    loop {
        // The JavaScript thread reads: wait for datagrams, then watch it by timer alone (the
        // registration would wake this thread for every datagram that arrives).
        shared.readiness_waits.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = watched.ready(WATCHED).await {
            shared.push(Item::Error(crate::sys::error::errno(&e)), 0);
            wake();
            return;
        }
        let fd = watched.into_inner();
        let taken = watch(&fd, &shared).await;
        // SAFETY: as in `Background::start`: the AsyncFd owns the open descriptor from here on.
        watched = match unsafe { AsyncFd::register_with_interest(fd, WATCHED) }
            .map_err(|e| e.into_parts().1)
        {
            Ok(watched) => watched,
            Err(e) => {
                shared.give_up(&e);
                wake();
                return;
            }
        };
        if !taken {
            continue;
        }
        shared.takeovers.fetch_add(1, Ordering::Relaxed);
        // Until the hand-back (or a failure's return).
        let _slice = ShortSlice::hold();
        // A read buffer only while the reader owns the socket: back to the spares at the
        // hand-back, so that a loop that never stalls holds none.
        let mut pooled = match PooledReader::take() {
            Ok(pooled) => pooled,
            Err(e) => {
                shared.give_up(&e);
                wake();
                return;
            }
        };
        // Some from `take` until it is dropped.
        let Some(reader) = pooled.0.as_mut() else {
            shared.state.store(JS_IDLE, Ordering::Release);
            return;
        };
        let read = read_while_taken(
            watched,
            &shared,
            reader,
            &mut offload,
            (max_bytes, mode),
            &wake,
        );
        watched = match read.await {
            Ok(watched) => watched,
            Err(e) => {
                shared.give_up(&e);
                wake();
                return;
            }
        };
    }
}

/// While the JavaScript thread reads and datagrams keep coming: sleeps until the deadline
/// ([`Deadline`]: [`TAKEOVER`], or up to [`LONGEST_TAKEOVER`] where the receive buffer fills
/// slowly) after the JavaScript thread's last progress (or after the call, if later), and takes
/// over if it made none meanwhile and datagrams wait (else sleeps until the deadline after the
/// new last progress). Returns true once it has taken over, false once the socket is found
/// drained and the JavaScript thread has made no progress for [`LINGER`] (the traffic stopped:
/// the task then waits for readiness again). So a free loop costs this thread a wake-up per
/// deadline of traffic (tokio's timer rounds up to the next millisecond: 1–2 ms at 60k/s, 2–3 at
/// 30k/s of 200-byte datagrams), nothing per datagram, and nothing while the socket is idle; a
/// stall is taken over that long after the last progress (why not sooner: the module's
/// documentation).
///
/// Why it stays on its timer while the socket is drained but the traffic goes on: going back to
/// readiness then made the reader wake at the first datagram of every burst of a paced sender
/// (a readiness, a sleep, a `poll` and two `epoll_ctl` per burst), at the very moment the
/// JavaScript thread and the sender were busy with it, and that cost the JavaScript thread
/// 1.11–1.21× the default path's CPU per datagram at 30–60k/s, where the same reader waking once
/// a millisecond on its timer cost it 0.97–1.09× (docs/benchmarks.md). What readiness gave is
/// when the datagrams came, so that the JavaScript thread gets its full deadline from then:
/// on the timer, datagrams found waiting at a look after a look that found none came at a
/// moment unknown, so they get a full deadline from this look, unless they already fill a
/// sixteenth of the receive buffer (about ten 200-byte datagrams in the default 208 KiB: more than
/// a free loop leaves waiting, and a stall under a fast stream has no time to give). With a
/// quarter instead, a stall that began between two bursts was taken over up to a millisecond
/// later, and lost more (0.93 % against 0.19 % at 30k/s with 100 ms stalls, in one run).
/// The price, measured and not explained yet: the ping-pong with the option at both ends is
/// 3–9 % slower (p50 and p99, docs/benchmarks.md).
async fn watch(fd: &OwnedFd, shared: &Shared) -> bool {
    let linger = u64::try_from(LINGER.as_nanos()).unwrap_or(u64::MAX);
    let mut deadline = Deadline::new(shared);
    // Datagrams just became ready (after an idle time, or the hand-back): the JavaScript thread
    // gets its full deadline from now to read them, however long ago it last had to.
    let mut since = now();
    // The last look found the socket drained.
    let mut drained = false;
    loop {
        let last = shared.progress.load(Ordering::Relaxed).max(since);
        let due = epoch() + Duration::from_nanos(last) + deadline.takeover;
        if due > Instant::now() {
            tokio::time::sleep_until(due.into()).await;
        } else if drained {
            // Lingering: a look a tick.
            tokio::time::sleep(TICK).await;
        }
        deadline.update(fd, shared);
        if !pending(fd) {
            let progress = shared.progress.load(Ordering::Relaxed);
            if now().saturating_sub(progress) >= linger {
                return false;
            }
            drained = true;
            continue;
        }
        if std::mem::take(&mut drained) && !filling(fd) {
            // They came since the last look: the JavaScript thread's full deadline from now.
            since = now();
            continue;
        }
        let last = shared.progress.load(Ordering::Relaxed).max(since);
        let limit = u64::try_from(deadline.takeover.as_nanos()).unwrap_or(u64::MAX);
        if now().saturating_sub(last) >= limit {
            if shared
                .state
                .compare_exchange(JS_IDLE, TAKEN, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return true;
            }
            // The JavaScript thread is reading (its progress is stamped when the read ends):
            // look again a tick later.
            tokio::time::sleep(TICK).await;
        }
    }
}

/// What `reads` datagrams (or GRO batches) of `bytes` in all took of the receive buffer, in bytes
/// of kernel memory, estimated from above: twice the bytes and 1,088 a read. On loopback the
/// kernel charged (`SO_MEMINFO`, ten datagrams each) 832 bytes for an empty datagram, 1,280 for
/// 200 bytes, 2,304 for 1,200, 8,448 for 4,000 and 16,640 for 9,000: each under this estimate.
/// Too high an estimate only shortens the takeover deadline.
pub fn kernel_memory(reads: usize, bytes: usize) -> u64 {
    let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
    let reads = u64::try_from(reads).unwrap_or(u64::MAX);
    bytes
        .saturating_mul(2)
        .saturating_add(reads.saturating_mul(1_088))
}

/// How long the JavaScript thread may make no progress, while datagrams wait, before the reader
/// takes over: half the time the receive buffer's room (`room` bytes of kernel memory) takes to
/// fill at `rate` bytes of kernel memory a second, in whole milliseconds (tokio's timer counts in
/// them), within [`TAKEOVER`]..=[`LONGEST_TAKEOVER`].
///
/// Why half: tokio's timer wakes the reader up to a millisecond after its deadline, so the
/// takeover comes before the buffer fills wherever the deadline is above [`TAKEOVER`] (the time
/// to fill is then 4 ms or more). Why not always [`TAKEOVER`]: each wake-up costs the reader's
/// thread, and on two cores now and then the JavaScript thread's core. At 30k/s paced the reader
/// looked about 400 times a second instead of 560, and the process's CPU per datagram was 2–4 %
/// lower in three paired runs; the JavaScript thread's own CPU did not differ beyond the noise
/// (0.98–1.01× the default path's, against 0.99–1.01× with 1 ms). Why not longer at 60k/s, which
/// fills the default buffer in under 3 ms: a deadline of 1.2 ms there (half the time to fill, not
/// rounded down) lost 1.42 % with 100 ms stalls in one run, against 0.51 % with 1 ms in the same
/// run.
pub fn takeover_for(rate: f64, room: u32) -> Duration {
    if rate <= 0.0 {
        return TAKEOVER;
    }
    let half_fill_ms = f64::from(room) / rate * 1_000.0 / 2.0;
    let longest = LONGEST_TAKEOVER.as_millis() as f64;
    // In whole milliseconds: `as` rounds down (and a NaN to 0).
    let ms = half_fill_ms.min(longest) as u64;
    Duration::from_millis(ms).clamp(TAKEOVER, LONGEST_TAKEOVER)
}

/// The shortest time the JavaScript thread's rate is measured over: ten bursts of a sender that
/// paces itself by a 1 ms timer. Over a millisecond or two, such a sender's 60k/s can read as
/// half that (one burst in a window of two milliseconds), which gives a deadline of 2 ms. Measured
/// over such windows, 60k/s with 100 ms stalls lost more than with a fixed 1 ms in three paired
/// runs (1.08, 2.72, 2.67 % against 0.88, 2.25, 2.09 %); over 10 ms, no more in four (1.68,
/// 1.12, 2.48, 2.24 % against 1.65, 1.86, 4.09, 2.23 %), a slow phase of the machine.
const RATE_WINDOW: Duration = Duration::from_millis(10);

/// The reader's takeover deadline while it watches ([`takeover_for`]), from the rate the
/// JavaScript thread has been reading at: measured over each time of [`RATE_WINDOW`] or more in
/// which it read ([`Shared::js_memory`]), and kept through times in which it read nothing (a
/// stall: the rate before it is what fills the buffer). [`TAKEOVER`] until it has one, so that a
/// new stream (after an idle time, or a hand-back) is watched as closely as before.
struct Deadline {
    /// When the rate was last measured, and the JavaScript thread's [`Shared::js_memory`] then.
    at: u64,
    memory: u64,
    takeover: Duration,
}

impl Deadline {
    fn new(shared: &Shared) -> Self {
        Deadline {
            at: now(),
            memory: shared.js_memory.load(Ordering::Relaxed),
            takeover: TAKEOVER,
        }
    }

    /// At a look: a new deadline where the JavaScript thread has read since the last measure,
    /// [`RATE_WINDOW`] or more ago, from its rate and the room left in the receive buffer now.
    fn update(&mut self, fd: &OwnedFd, shared: &Shared) {
        let (at, memory) = (now(), shared.js_memory.load(Ordering::Relaxed));
        let elapsed = at.saturating_sub(self.at);
        if memory == self.memory || elapsed < u64::try_from(RATE_WINDOW.as_nanos()).unwrap_or(0) {
            return;
        }
        let rate = (memory.saturating_sub(self.memory)) as f64 * 1e9 / elapsed as f64;
        self.takeover = match crate::sys::socket::receive_queue(fd.as_fd()) {
            Ok((queued, buffer)) => takeover_for(rate, buffer.saturating_sub(queued)),
            Err(_) => TAKEOVER,
        };
        (self.at, self.memory) = (at, memory);
    }
}

/// The pause after a read that did not fill the read buffer, for a receive buffer of `rcvbuf`
/// bytes of kernel memory: [`PACE`], and less in proportion for a smaller buffer, which fills
/// sooner (one set to 4 KiB holds three or four datagrams: a 200 µs pause lost them under load in
/// the takeover test of `__test__/background.test.js`).
pub fn pace_for(rcvbuf: u32) -> Duration {
    PACE.mul_f64(f64::from(rcvbuf.min(DEFAULT_RCVBUF)) / f64::from(DEFAULT_RCVBUF))
}

/// [`pace_for`] the socket's receive buffer; [`PACE`] where the kernel does not say.
pub fn pace_of(fd: BorrowedFd<'_>) -> Duration {
    crate::sys::socket::receive_queue(fd).map_or(PACE, |(_, rcvbuf)| pace_for(rcvbuf))
}

/// Whether what waits in the socket fills a sixteenth of its receive buffer (or the kernel does
/// not say).
fn filling(fd: &OwnedFd) -> bool {
    crate::sys::socket::receive_queue(fd.as_fd())
        .map(|(queued, buffer)| queued.saturating_mul(16) >= buffer)
        .unwrap_or(true)
}

/// The runtime's thread asks for the scheduler's shortest slice while it owns at least one
/// socket, and for the default one otherwise (see `read_while_taken` for why). The readers' tasks
/// all run on that one thread, and a cancelled task is dropped there too (tokio cancels on the
/// worker that polls it), so a count of this thread's holders says when.
///
/// Why not always: while the reader only watches, its look at a deadline would then preempt a
/// JavaScript thread at once rather than wait for an idle core or the end of that thread's slice,
/// and a look is a few microseconds that a round trip in progress would wait for.
struct ShortSlice;

thread_local! {
    /// How many of this thread's readers own their socket.
    static HOLDERS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl ShortSlice {
    fn hold() -> Self {
        if HOLDERS.replace(HOLDERS.get() + 1) == 0 {
            // A kernel that refuses (before Linux 6.12 the request changes nothing) leaves the
            // default slice: the reader works as without it.
            let _ = crate::sys::thread::request_slice(crate::sys::thread::SHORT_SLICE_NS);
        }
        ShortSlice
    }
}

impl Drop for ShortSlice {
    fn drop(&mut self) {
        let left = HOLDERS.get().saturating_sub(1);
        HOLDERS.set(left);
        if left == 0 {
            let _ = crate::sys::thread::request_slice(crate::sys::thread::DEFAULT_SLICE);
        }
    }
}

/// What woke the reader while it owns the socket.
enum Woken<'a> {
    /// The JavaScript thread found the inbox empty.
    Drained,
    /// The pause ended (no guard), or the socket is ready.
    Read(Option<tokio::io::unix::AsyncFdReadyGuard<'a, OwnedFd>>),
}

/// The socket while the reader owns it: in the runtime's readiness watcher (the reader waits for
/// a datagram), or out of it (the reader pauses between two reads, or waits for the inbox to
/// empty). Why out: a socket in the watcher wakes the runtime's thread at every datagram that
/// arrives, whether or not the reader waits for it (the registration is edge-triggered: each
/// arrival is an edge).
enum Taken {
    Watched(AsyncFd<OwnedFd>),
    Unwatched(OwnedFd),
}

impl Taken {
    fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Taken::Watched(watched) => watched.get_ref().as_fd(),
            Taken::Unwatched(fd) => fd.as_fd(),
        }
    }

    /// Out of the watcher (a no-op where it is out).
    fn unwatch(self) -> Self {
        match self {
            Taken::Watched(watched) => Taken::Unwatched(watched.into_inner()),
            unwatched => unwatched,
        }
    }

    /// In the watcher; its registration's readiness starts from what the socket holds now.
    fn watch(self) -> io::Result<Self> {
        match self {
            // SAFETY: as in `Background::start`: the AsyncFd owns the open descriptor from here
            // on.
            Taken::Unwatched(fd) => unsafe { AsyncFd::register_with_interest(fd, WATCHED) }
                .map(Taken::Watched)
                .map_err(|e| e.into_parts().1),
            watched => Ok(watched),
        }
    }

    /// The socket back in the watcher, as the task's outer loop waits on it.
    fn into_watched(self) -> io::Result<AsyncFd<OwnedFd>> {
        match self.watch()? {
            Taken::Watched(watched) => Ok(watched),
            Taken::Unwatched(_) => Err(io::Error::other("the socket is not watched")),
        }
    }
}

/// A `timerfd` (tokio's timer counts in whole milliseconds, and rounds a deadline up to the
/// next one: a pause of 1–2 ms).
struct Clock(TimerFd);

impl AsRawFd for Clock {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// The timer of the reader's [`PACE`]: a `timerfd` watched by the runtime's reactor, made at
/// the first pause of a takeover and closed at the hand-back.
struct Timer(AsyncFd<Clock>);

impl Timer {
    fn new() -> io::Result<Timer> {
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )?;
        // SAFETY: `Clock` answers the timer's open descriptor, the same one until its drop closes
        // it, and the AsyncFd owns it from here on.
        let watched = unsafe { AsyncFd::register_with_interest(Clock(timer), Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(Timer(watched))
    }

    /// Waits `delay` (give or take the thread's timer slack, 50 µs).
    async fn wait(&self, delay: Duration) -> io::Result<()> {
        if delay.is_zero() {
            return Ok(());
        }
        // Arming resets the count of expirations: one left from a wait cut short (the
        // JavaScript thread's word during a pause) does not end this one (its readiness is
        // cleared below).
        self.0.get_ref().0.set(
            Expiration::OneShot(TimeSpec::from_duration(delay)),
            TimerSetTimeFlags::empty(),
        )?;
        loop {
            let mut ready = self.0.readable().await?;
            match ready.get_inner().0.wait() {
                Ok(()) => return Ok(()),
                Err(Errno::EAGAIN) => ready.clear_ready(),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// The pause's timer, made on first use; none when it cannot be made (no descriptors left).
fn timer(slot: &mut Option<io::Result<Timer>>) -> Option<&Timer> {
    slot.get_or_insert_with(Timer::new).as_ref().ok()
}

/// Waits `pace`; at once without a timer (the reader then reads at each readiness).
async fn pause(slot: &mut Option<io::Result<Timer>>, pace: Duration) {
    if let Some(timer) = timer(slot) {
        let _ = timer.wait(pace).await;
    }
}

/// While the reader owns the socket: reads, queues and wakes, until the inbox is found empty at
/// a check (the JavaScript thread took the last item, or the socket ran dry with the inbox
/// empty); then hands back. The first read comes at once: datagrams were waiting.
///
/// After a read that did not fill the read buffer, the next read waits [`PACE`] (less for a
/// receive buffer smaller than the default: [`pace_for`]; or the JavaScript thread's word that it
/// emptied the inbox), rather than the next datagram's readiness; after a full one it comes at
/// once. While it waits, and while the inbox is full, the socket is out of the runtime's readiness
/// watcher ([`Taken`]); it goes back in only when a read finds the socket dry.
///
/// Why, from traces (`perf` of the scheduler's switches and wake-ups and of the kernel's drops)
/// on the 2-vCPU machine of issue 22, where the stalled JavaScript thread holds one core and the
/// reader and the sender share the other:
/// - **Reading each datagram as it came** (before the pause): the reader read one datagram per
///   wake-up, 20–25 µs apart (reader and sender taking turns), then nothing for a millisecond or
///   more while the sender's burst went on, as if the scheduler stopped letting a thread that
///   woke that often preempt the sender; most of the stalls bench's loss came from there.
/// - **The pause alone** batched the reads (32 datagrams a read at 60k/s) but not the wake-ups:
///   a socket in the watcher wakes the runtime's thread at every datagram that arrives (its
///   registration is edge-triggered), whether or not the reader waits for it. The traces still
///   showed the reader woken by the sender every 20 µs during a pause, and then woken (by its
///   pause's timer) but not run for 1.2–3 ms, about the sender's slice, while the buffer
///   overflowed: every drop inside a stall came in such a gap.
/// - **Out of the watcher during the pause**, the reader wakes only at its timer; and with the
///   shortest slice asked for ([`crate::sys::thread`]), the scheduler runs it within about
///   10 µs of the timer (EEVDF lets a waking thread with a shorter slice preempt). Traced over
///   five stalls: no drop inside a stall; the loss left came while the JavaScript thread read
///   (the sender's own worker threads held its core for milliseconds), as node:dgram loses
///   there too. In that traced script (60k/s, five 100 ms stalls, `perf` running) the kernel
///   dropped 3,361–4,525 datagrams with the pause alone, 1,995–2,557 with the short slice
///   added, 1,086–1,366 with the socket out of the watcher, 675–1,340 with both.
///
/// [`PACE`] is 200 µs: 12 datagrams at 60k/s, 7 % of the default receive buffer. Measured
/// (bench/stalls.js, 100 ms stalls every 500 ms, the build before run beside it): with the pause
/// alone, 0.65 % lost at 60k/s at the median of 16 quiet runs against 1.69 % without it; with
/// the socket out of the watcher and the short slice while the reader owns a socket, 0.28–0.53 %
/// in four runs of a slower phase of the machine, against 0.65–1.69 % for the pause alone in the
/// same runs (with the short slice always on, 0.20–0.43 % against 1.58–2.81 %).
async fn read_while_taken(
    watched: AsyncFd<OwnedFd>,
    shared: &Shared,
    reader: &mut Reader,
    offload: &mut Offload,
    (max_bytes, mode): (usize, ReadMode),
    wake: &(impl Fn() + Send + Sync + 'static),
) -> io::Result<AsyncFd<OwnedFd>> {
    let mut socket = Taken::Watched(watched);
    let mut first = true;
    // Whether the next read waits [`PACE`] first, and the timer it waits on.
    let mut paced = false;
    // The timer of the pauses: made at the first, closed at the hand-back.
    let mut timer = None;
    // The pause, for this socket's receive buffer.
    let pace = pace_of(socket.fd());
    // Whether the last read did not all fit in the inbox: the JavaScript thread is behind the
    // traffic (a flood it cannot keep up with, or a stall longer than the budget). Reading on
    // would take datagrams only to drop them at the inbox, on a core the JavaScript thread and
    // the sender need (under a GSO flood on two cores the delivered rate fell to 0.46x the
    // default path's). So the reader then waits for the inbox to empty and hands back; meanwhile
    // the kernel's buffer fills and drops what does not fit, counted as the default path's
    // drops are.
    let mut full = false;
    // Whether the last read found the socket dry: the next waits for its readiness.
    let mut dry = false;
    loop {
        let mut ready = None;
        if !std::mem::take(&mut first) {
            let pausing = !full && std::mem::take(&mut paced);
            // Out of the watcher, a read after a full one comes at once (more likely wait); the
            // reader goes back to the watcher only once a read finds the socket dry.
            let for_readiness = !full
                && !pausing
                && (std::mem::take(&mut dry) || matches!(socket, Taken::Watched(_)));
            let at_once = !full && !pausing && !for_readiness;
            // In the watcher only while the reader waits for the socket's readiness.
            socket = if for_readiness {
                socket.watch()?
            } else if at_once {
                socket
            } else {
                socket.unwatch()
            };
            let woken = {
                let watched = match &socket {
                    Taken::Watched(watched) if for_readiness => Some(watched),
                    _ => None,
                };
                let mut drained = pin!(shared.drained.notified());
                let mut paused = pin!(pause(&mut timer, pace));
                let mut readiness = pin!(async move {
                    match watched {
                        Some(watched) => watched.ready(WATCHED).await,
                        None => std::future::pending().await,
                    }
                });
                poll_fn(|cx| {
                    // The JavaScript thread's word first: under a flood the socket is always
                    // ready.
                    if drained.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Ok(Woken::Drained));
                    }
                    if at_once {
                        return Poll::Ready(Ok(Woken::Read(None)));
                    }
                    if pausing {
                        return paused.as_mut().poll(cx).map(|()| Ok(Woken::Read(None)));
                    }
                    readiness
                        .as_mut()
                        .poll(cx)
                        .map(|r| r.map(|guard| Woken::Read(Some(guard))))
                })
                .await?
            };
            match woken {
                Woken::Drained => {
                    if shared.hand_back() {
                        wake();
                        return socket.into_watched();
                    }
                    continue;
                }
                Woken::Read(guard) => ready = guard,
            }
        }
        match read_with(socket.fd().as_raw_fd(), reader, mode) {
            Ok(size) => {
                // The same decision as the owner's (`Owner::follow_offload`); a refusal only
                // means datagram-by-datagram reads.
                if let Some(on) = offload.decide(mode, Some(size)) {
                    let ok = gso::set_gro(&socket.fd(), on).is_ok();
                    offload.switched(on, ok);
                }
                paced = size.reads < SLOTS;
                full = shared.queue_read(reader, max_bytes) > 0;
                wake();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                dry = true;
                if let Some(mut ready) = ready.take() {
                    ready.clear_ready();
                }
                if shared.hand_back() {
                    wake();
                    return socket.into_watched();
                }
            }
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
    /// The task cannot go on (a registration, a read buffer or a watch failed): the failure is
    /// reported in its place, and the JavaScript thread reads from now on.
    fn give_up(&self, e: &io::Error) {
        self.push(Item::Error(crate::sys::error::errno(e)), 0);
        self.state.store(JS_IDLE, Ordering::Release);
    }

    fn push(&self, item: Item, cost: usize) {
        if let Ok(mut inbox) = self.inbox.lock() {
            inbox.cost += cost;
            inbox.items.push_back(item);
            self.queued.store(true, Ordering::Release);
        }
    }

    /// Gives the socket back to the JavaScript thread if the inbox is empty (checked and
    /// switched under its lock, between two reads of the reader: everything the reader read has
    /// been taken). Returns whether it did.
    fn hand_back(&self) -> bool {
        let Ok(inbox) = self.inbox.lock() else {
            return false;
        };
        if !inbox.items.is_empty() {
            return false;
        }
        self.state.store(JS_IDLE, Ordering::Release);
        true
    }

    /// Copies the read's datagrams into the inbox while the budget allows; counts the rest as
    /// dropped, and returns how many that was.
    ///
    /// The copy is made outside the inbox's lock, against what the inbox held when it began: the
    /// JavaScript thread only takes from the inbox meanwhile, so the read never overfills it.
    /// Made under the lock, as it was, a GRO read's copy (up to 2,048 datagrams) held up every
    /// `pop` of the JavaScript thread for its whole length. Its two buffers are sized first,
    /// from a pass that only counts, so that neither grows by copying itself as it fills.
    fn queue_read(&self, reader: &Reader, max_bytes: usize) -> u64 {
        let Ok(held) = self.inbox.lock().map(|inbox| inbox.cost) else {
            return 0;
        };
        // Which datagrams fit: the first that fit, in order, skipping those that do not.
        let fits = |cost: &mut usize, len: usize| {
            let datagram_cost = len + ENTRY_COST;
            let fit = *cost + datagram_cost <= max_bytes;
            if fit {
                *cost += datagram_cost;
            }
            fit
        };
        let (mut cost, mut count, mut bytes) = (held, 0usize, 0usize);
        for datagram in Datagrams::new(reader) {
            if fits(&mut cost, datagram.bytes.len()) {
                count += 1;
                bytes += datagram.bytes.len();
            }
        }
        let mut read = Inbound {
            data: Vec::with_capacity(bytes),
            entries: Vec::with_capacity(count),
        };
        let mut cost = held;
        let mut dropped = 0u64;
        for datagram in Datagrams::new(reader) {
            if !fits(&mut cost, datagram.bytes.len()) {
                dropped += 1;
                continue;
            }
            read.data.extend_from_slice(datagram.bytes);
            read.entries.push(Entry {
                from: datagram.from.to_owned(),
                len: datagram.bytes.len(),
                info: datagram.info,
            });
        }
        self.dropped.fetch_add(dropped, Ordering::Relaxed);
        if read.entries.is_empty() {
            return dropped;
        }
        let Ok(mut inbox) = self.inbox.lock() else {
            return dropped;
        };
        self.received
            .fetch_add(read.entries.len() as u64, Ordering::Relaxed);
        self.received_bytes
            .fetch_add(read.data.len() as u64, Ordering::Relaxed);
        inbox.cost += cost - held;
        inbox.items.push_back(Item::Read(read));
        self.queued.store(true, Ordering::Release);
        dropped
    }
}

#[cfg(test)]
mod tests;
