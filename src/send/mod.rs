//! The send engine: every datagram a socket sends goes through [`SendEngine::send`], whichever
//! JavaScript call handed it over (`send()`, the sends one tick gathered, `sendBatch` of either
//! form, and the queue's own flush).
//!
//! - **One run splitter.** Consecutive datagrams of one size to one destination leave as one GSO
//!   `sendmsg` (up to 64 datagrams: a `sendmsg` costs about the same for one datagram as for 64);
//!   others, one `sendmsg` each. Order is kept.
//! - **One error policy.** A run the kernel refuses is sent again datagram by datagram, so each
//!   datagram gets the result it would have had alone (a connected socket's pending
//!   `ECONNREFUSED` fails one datagram, not the 63 after it, as with node:dgram). A kernel that
//!   refuses the offload itself is remembered, and the socket sends datagram by datagram from then
//!   on.
//! - **Nothing is lost.** Each datagram is sent ([`Outcome::Sent`]), refused with an errno
//!   ([`Outcome::Failed`]), or queued ([`Outcome::Queued`]) when the socket buffer is full
//!   (`EAGAIN`): libuv's `uv_udp_try_send` + `uv_udp_send`. While anything is queued, new
//!   datagrams queue behind it. The queue drains in order when the socket is writable, and each
//!   queued datagram completes with the id of the request it came from ([`Completion`]). As in
//!   libuv, a queued datagram counts in the queue's size until its completion is taken (that
//!   is, until its callback runs), not merely until the kernel took it.
//!
//! The engine knows nothing of Node-API: it takes a socket and reports through plain closures,
//! so `cargo test` drives it on loopback sockets.

pub mod backoff;
pub mod queue;

use socket2::Socket;
use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::time::Duration;

use crate::sys::addr::{Addr, OwnedAddr};
use crate::sys::control::SendControl;
use crate::sys::error;
use crate::sys::gso::{self, SendError};
use queue::{Queued, SendQueue};

/// One datagram to send: its bytes (one or more parts, back to back), its destination (`None`
/// for the connected peer), and the id of the request it belongs to.
#[derive(Clone, Copy)]
pub struct Datagram<'a> {
    parts: &'a [IoSlice<'a>],
    len: usize,
    to: Option<Addr<'a>>,
    id: u32,
    control: SendControl,
}

impl<'a> Datagram<'a> {
    /// A datagram made of `parts`.
    pub fn new(parts: &'a [IoSlice<'a>], to: Option<Addr<'a>>, id: u32) -> Self {
        let len = parts.iter().map(|p| p.len()).sum();
        Datagram {
            parts,
            len,
            to,
            id,
            control: SendControl::default(),
        }
    }

    /// The datagram with per-send control messages (TOS, source address). Such a datagram
    /// leaves alone, never in a GSO run.
    pub fn with_control(self, control: SendControl) -> Self {
        Datagram { control, ..self }
    }
}

/// What became of one datagram handed to [`SendEngine::send`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The kernel took it: its byte count.
    Sent(usize),
    /// Waiting for writability; it completes later as a [`Completion`].
    Queued,
    /// The kernel refused it: a negative errno.
    Failed(i32),
}

impl Outcome {
    /// Node's encoding of a send's result: bytes + 1 when sent, 0 when queued, or a negative
    /// errno.
    pub fn code(self) -> i64 {
        match self {
            Outcome::Sent(n) => n as i64 + 1,
            Outcome::Queued => 0,
            Outcome::Failed(errno) => i64::from(errno),
        }
    }
}

/// A queued datagram's result: the id of its request, 0 or a negative errno, and bytes sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The request the datagram belongs to.
    pub id: u32,
    /// 0, or a negative errno.
    pub status: i32,
    /// Bytes sent (0 on failure).
    pub bytes: usize,
}

/// A datagram gathered for the next [`SendEngine::flush_gathered`].
struct Gathered {
    data: Vec<u8>,
    to: Option<OwnedAddr>,
    id: u32,
}

/// What waits in a socket's send engine: the `EAGAIN` queue, the completions not taken yet, and
/// the sends gathered this tick.
#[derive(Default)]
struct Waiting {
    queue: SendQueue,
    /// Queued datagrams the kernel has taken or refused, whose completions are not taken yet,
    /// with their sizes.
    completed: VecDeque<(Completion, usize)>,
    completed_bytes: usize,
    gathered: Vec<Gathered>,
    /// How long the queue waits before its next try while the socket's writability is not to
    /// be trusted (`crate::send::backoff`); `None` while writability is watched. Here, not in
    /// every socket: only a socket whose sends queued ever waits.
    backoff: Option<Duration>,
}

/// One socket's send state: what waits (the `EAGAIN` queue, the sends gathered this tick), the
/// counts, and whether the kernel takes segmentation offload.
#[derive(Default)]
pub struct SendEngine {
    /// A Unix datagram socket: no segmentation offload (`UDP_SEGMENT` is UDP's), and a full
    /// receiver's `ENOBUFS` waits for writability as `EAGAIN` does.
    unix: bool,
    /// Made by the first datagram that queues or is gathered, and kept: most sockets never
    /// queue, and inline it made every socket 96 bytes larger (10,000 idle sockets took more
    /// memory than node:dgram's).
    waiting: Option<Box<Waiting>>,
    gso_refused: bool,
    queue_every_send: bool,
    /// Datagrams and bytes the kernel has taken.
    sent: (u64, u64),
    /// `receiveErrors`: a send refused with an error an ICMP error left pending is tried once
    /// more (the refusal consumed it; the error itself is reported from the error queue).
    retry_stale_errors: bool,
}

impl SendEngine {
    /// The engine of a Unix datagram socket (`AF_UNIX`, `SOCK_DGRAM`): datagrams leave one by
    /// one, and a full receiver (`EAGAIN`, or `ENOBUFS`) queues them.
    pub fn unix() -> Self {
        SendEngine {
            unix: true,
            gso_refused: true,
            ..SendEngine::default()
        }
    }

    /// Queues every send instead of trying it at once (Node's `--test-udp-no-try-send`, which
    /// Node's own tests of the queue-info methods run under).
    pub fn set_queue_every_send(&mut self, on: bool) {
        self.queue_every_send = on;
    }

    /// Tries a send refused with a pending ICMP error once more (see
    /// [`crate::sys::control::is_stale_error`]): with `receiveErrors` such errors are reported
    /// from the error queue and never fail an unrelated send.
    pub fn set_retry_stale_errors(&mut self, on: bool) {
        self.retry_stale_errors = on;
    }

    /// What waits, made on first use.
    fn waiting_mut(&mut self) -> &mut Waiting {
        self.waiting.get_or_insert_with(Box::default)
    }

    /// How long the queue waits before its next try, while writability is not to be trusted;
    /// `None` while it is watched (and for a socket whose sends never queued).
    pub fn backoff(&self) -> Option<Duration> {
        self.waiting.as_ref().and_then(|w| w.backoff)
    }

    /// Sets how long the queue waits before its next try (see [`SendEngine::backoff`]), and
    /// returns what it was.
    pub fn replace_backoff(&mut self, wait: Option<Duration>) -> Option<Duration> {
        if wait.is_none() && self.waiting.is_none() {
            return None;
        }
        std::mem::replace(&mut self.waiting_mut().backoff, wait)
    }

    /// Whether queued datagrams wait for writability or for their completions to be taken.
    pub fn has_queued(&self) -> bool {
        self.waiting
            .as_ref()
            .is_some_and(|w| !w.queue.is_empty() || !w.completed.is_empty())
    }

    /// Queued datagrams the kernel has not taken (or refused) yet.
    pub fn waiting(&self) -> usize {
        self.waiting.as_ref().map_or(0, |w| w.queue.count())
    }

    /// Bytes of the queued datagrams not completed yet (`getSendQueueSize()`).
    pub fn queued_bytes(&self) -> usize {
        self.waiting
            .as_ref()
            .map_or(0, |w| w.queue.bytes() + w.completed_bytes)
    }

    /// Queued datagrams not completed yet (`getSendQueueCount()`).
    pub fn queued_count(&self) -> usize {
        self.waiting
            .as_ref()
            .map_or(0, |w| w.queue.count() + w.completed.len())
    }

    /// Datagrams and bytes the kernel has taken so far.
    pub fn sent(&self) -> (u64, u64) {
        self.sent
    }

    fn count_sent(&mut self, bytes: usize) {
        self.sent.0 += 1;
        self.sent.1 += bytes as u64;
    }

    /// The oldest completion not taken yet.
    pub fn take_completion(&mut self) -> Option<Completion> {
        let waiting = self.waiting.as_mut()?;
        let (completion, size) = waiting.completed.pop_front()?;
        waiting.completed_bytes -= size;
        Some(completion)
    }

    fn complete(&mut self, completion: Completion, size: usize) {
        let waiting = self.waiting_mut();
        waiting.completed_bytes += size;
        waiting.completed.push_back((completion, size));
    }

    /// Sends `datagrams` in order and reports each one's [`Outcome`] by its index.
    pub fn send(
        &mut self,
        socket: &Socket,
        datagrams: &[Datagram<'_>],
        report: impl FnMut(usize, Outcome),
    ) {
        self.send_runs(socket, datagrams, true, report);
    }

    /// As [`SendEngine::send`], but each datagram in its own `sendmsg`: what follows a GSO send
    /// the kernel refused with an error (see [`SendEngine::send_contiguous`]).
    pub fn send_each(
        &mut self,
        socket: &Socket,
        datagrams: &[Datagram<'_>],
        report: impl FnMut(usize, Outcome),
    ) {
        self.send_runs(socket, datagrams, false, report);
    }

    fn send_runs(
        &mut self,
        socket: &Socket,
        datagrams: &[Datagram<'_>],
        offload: bool,
        mut report: impl FnMut(usize, Outcome),
    ) {
        let queued = self.has_queued();
        // Without offload: as if the kernel had refused it, for this call only.
        let mut no_offload = true;
        let gso_refused = if offload {
            &mut self.gso_refused
        } else {
            &mut no_offload
        };
        let done = if queued {
            0
        } else if self.queue_every_send {
            // libuv's uv_udp_send on an empty queue: the first datagram goes at once, and
            // completes, like the rest, on a later turn of the loop.
            let first = &datagrams[..datagrams.len().min(1)];
            let mut result = None;
            let done = transmit(
                socket,
                self.unix,
                (&mut *gso_refused, self.retry_stale_errors),
                first,
                |_, o| result = Some(o),
            );
            if let (Some(outcome), Some(d)) = (result, first.first()) {
                let (status, bytes) = match outcome {
                    Outcome::Failed(errno) => (errno, 0),
                    _ => {
                        self.count_sent(d.len);
                        (0, d.len)
                    }
                };
                self.complete(
                    Completion {
                        id: d.id,
                        status,
                        bytes,
                    },
                    d.len,
                );
                report(0, Outcome::Queued);
            }
            done
        } else {
            let mut sent = (0, 0);
            let done = transmit(
                socket,
                self.unix,
                (&mut *gso_refused, self.retry_stale_errors),
                datagrams,
                &mut |i, step| {
                    if let Outcome::Sent(n) = step {
                        sent.0 += 1;
                        sent.1 += n as u64;
                    }
                    report(i, step)
                },
            );
            self.sent.0 += sent.0;
            self.sent.1 += sent.1;
            done
        };
        for (i, d) in datagrams.iter().enumerate().skip(done) {
            self.waiting_mut().queue.push(Queued {
                data: concat(d.parts),
                to: d.to.map(|a| a.to_owned()),
                id: d.id,
                control: d.control,
            });
            report(i, Outcome::Queued);
        }
    }

    /// The front of a `sendBatch` buffer sent straight from it: `data` cut into `segment`-byte
    /// datagrams (the last may be shorter), as GSO sends of one iovec each, as many whole
    /// datagrams per send as one carries. No copy and no per-datagram bookkeeping: the
    /// `Datagram` list [`SendEngine::send`] builds costs, at 64 datagrams a call, about as much
    /// as the kernel's own work. Returns the datagrams and the bytes sent; the rest of `data`
    /// (from that byte offset on) is the caller's to hand to [`SendEngine::send`], which queues
    /// it behind a full socket buffer and gives each datagram of a refused send its own result.
    /// Sends nothing where that path must decide for every datagram: anything queued, every
    /// send queued, the offload refused, a Unix socket or address. The third result says that a
    /// GSO send failed with an error (a connected socket's pending `ECONNREFUSED`, say): the
    /// rest then goes through [`SendEngine::send_each`], datagram by datagram, as
    /// [`SendEngine::send`] sends a run the kernel refused.
    pub fn send_contiguous(
        &mut self,
        socket: &Socket,
        data: &[u8],
        segment: usize,
        to: Option<Addr<'_>>,
    ) -> (usize, usize, bool) {
        let to = match to {
            None => None,
            Some(Addr::Ip(ip)) => Some(ip),
            Some(Addr::Unix(_)) => return (0, 0, false),
        };
        if self.has_queued()
            || self.queue_every_send
            || self.gso_refused
            || self.unix
            || segment == 0
            || segment > gso::MAX_PAYLOAD
        {
            return (0, 0, false);
        }
        let per_send = segment * gso::datagrams_per_send(segment);
        let (mut datagrams, mut offset, mut failed) = (0, 0, false);
        for chunk in data.chunks(per_send) {
            // A lone datagram goes through send(): its errors are its own.
            if chunk.len() <= segment {
                break;
            }
            // Within one UDP payload (see datagrams_per_send), so it fits in a u16.
            let segment16 = u16::try_from(segment).unwrap_or(u16::MAX);
            match gso::send_segments(socket, &[IoSlice::new(chunk)], segment16, to) {
                Ok(_) => {
                    datagrams += chunk.len().div_ceil(segment);
                    offset += chunk.len();
                }
                Err(SendError::Refused) => {
                    self.gso_refused = true;
                    break;
                }
                Err(SendError::Io(e)) => {
                    // EAGAIN: the rest queues. Another error: the rest goes datagram by
                    // datagram, each with its own result.
                    failed = e.kind() != io::ErrorKind::WouldBlock;
                    break;
                }
            }
        }
        self.sent.0 += datagrams as u64;
        self.sent.1 += offset as u64;
        (datagrams, offset, failed)
    }

    /// Sends one datagram now or not at all: where [`SendEngine::send`] would queue it (the
    /// socket, or a Unix receiver, is full; or datagrams are queued ahead of it), it fails with
    /// `EAGAIN` instead. The unix-dgram package's `send`, whose caller sends again on
    /// `'writable'`.
    pub fn try_send(&mut self, socket: &Socket, datagram: &Datagram<'_>) -> Outcome {
        if self.has_queued() {
            return Outcome::Failed(-libc::EAGAIN);
        }
        let mut outcome = Outcome::Failed(-libc::EAGAIN);
        transmit(
            socket,
            self.unix,
            (&mut self.gso_refused, self.retry_stale_errors),
            std::slice::from_ref(datagram),
            |_, o| outcome = o,
        );
        outcome
    }

    /// Gathers one datagram (a copy of `parts`) for the next [`SendEngine::flush_gathered`].
    pub fn gather(&mut self, parts: &[IoSlice<'_>], to: Option<Addr<'_>>, id: u32) {
        self.waiting_mut().gathered.push(Gathered {
            data: concat(parts),
            to: to.map(|a| a.to_owned()),
            id,
        });
    }

    /// How many datagrams are gathered.
    pub fn gathered_count(&self) -> usize {
        self.waiting.as_ref().map_or(0, |w| w.gathered.len())
    }

    /// Sends everything gathered, in order, and reports each datagram's [`Outcome`] with its
    /// request's id.
    pub fn flush_gathered(&mut self, socket: &Socket, mut report: impl FnMut(u32, Outcome)) {
        let Some(waiting) = self.waiting.as_mut() else {
            return;
        };
        let mut gathered = std::mem::take(&mut waiting.gathered);
        {
            let slices: Vec<IoSlice<'_>> = gathered.iter().map(|g| IoSlice::new(&g.data)).collect();
            let datagrams: Vec<Datagram<'_>> = gathered
                .iter()
                .zip(&slices)
                .map(|(g, s)| {
                    Datagram::new(
                        std::slice::from_ref(s),
                        g.to.as_ref().map(OwnedAddr::as_addr),
                        g.id,
                    )
                })
                .collect();
            self.send(socket, &datagrams, |i, outcome| {
                report(datagrams[i].id, outcome)
            });
        }
        // Keep the allocation for the next tick's sends.
        gathered.clear();
        self.waiting_mut().gathered = gathered;
    }

    /// Sends what is queued, in order, while the socket takes it. Each datagram the kernel took
    /// or refused becomes a [`Completion`], for [`SendEngine::take_completion`]; what the kernel
    /// cannot take yet stays queued.
    pub fn flush_queue(&mut self, socket: &Socket) {
        let Some(waiting) = self.waiting.as_mut() else {
            return;
        };
        let mut completions = Vec::new();
        let done = {
            let slices: Vec<IoSlice<'_>> = waiting
                .queue
                .items()
                .map(|q| IoSlice::new(&q.data))
                .collect();
            let datagrams: Vec<Datagram<'_>> = waiting
                .queue
                .items()
                .zip(&slices)
                .map(|(q, s)| {
                    Datagram::new(
                        std::slice::from_ref(s),
                        q.to.as_ref().map(OwnedAddr::as_addr),
                        q.id,
                    )
                    .with_control(q.control)
                })
                .collect();
            transmit(
                socket,
                self.unix,
                (&mut self.gso_refused, self.retry_stale_errors),
                &datagrams,
                |i, step| {
                    let d = &datagrams[i];
                    let (status, bytes) = match step {
                        Outcome::Failed(errno) => (errno, 0),
                        Outcome::Sent(n) => (0, n),
                        Outcome::Queued => (0, 0),
                    };
                    completions.push((
                        Completion {
                            id: d.id,
                            status,
                            bytes,
                        },
                        d.len,
                    ));
                },
            )
        };
        waiting.queue.pop_front(done);
        for (completion, size) in completions {
            if completion.status == 0 {
                self.count_sent(completion.bytes);
            }
            self.complete(completion, size);
        }
    }

    /// Drops what was gathered (it can no longer be sent); returns the requests' ids, in order.
    pub fn cancel_gathered(&mut self) -> Vec<u32> {
        self.waiting
            .as_mut()
            .map_or_else(Vec::new, |w| w.gathered.drain(..).map(|g| g.id).collect())
    }

    /// Ends everything (the socket is closing): the completions not taken yet, then every
    /// datagram still queued or gathered, cancelled (`ECANCELED`, with its size), in order.
    pub fn cancel_all(&mut self) -> Vec<Completion> {
        let mut all: Vec<Completion> = std::iter::from_fn(|| self.take_completion()).collect();
        let cancelled = |id, bytes| Completion {
            id,
            status: -libc::ECANCELED,
            bytes,
        };
        if let Some(waiting) = self.waiting.as_mut() {
            all.extend(
                waiting
                    .queue
                    .drain()
                    .into_iter()
                    .map(|q| cancelled(q.id, q.data.len())),
            );
            all.extend(
                waiting
                    .gathered
                    .drain(..)
                    .map(|g| cancelled(g.id, g.data.len())),
            );
        }
        all
    }
}

/// The run splitter and its error policy (see the module docs). Reports each datagram sent
/// ([`Outcome::Sent`]) or refused ([`Outcome::Failed`]) by index; returns how many were handled
/// before the socket buffer filled (`EAGAIN`): the rest are the caller's to queue.
fn transmit(
    socket: &Socket,
    unix: bool,
    (gso_refused, retry): (&mut bool, bool),
    datagrams: &[Datagram<'_>],
    mut report: impl FnMut(usize, Outcome),
) -> usize {
    let mut start = 0;
    while start < datagrams.len() {
        let end = run_end(datagrams, start, *gso_refused);
        let run = &datagrams[start..end];
        if run.len() > 1 {
            let parts: Vec<IoSlice<'_>> =
                run.iter().flat_map(|d| d.parts.iter().copied()).collect();
            // run_end keeps a run's segment within one UDP payload, so it fits in a u16.
            let segment = u16::try_from(run[0].len).unwrap_or(u16::MAX);
            let to = run[0].to.and_then(|a| a.ip());
            match gso::send_segments(socket, &parts, segment, to) {
                Ok(_) => {
                    for (i, d) in run.iter().enumerate() {
                        report(start + i, Outcome::Sent(d.len));
                    }
                    start = end;
                    continue;
                }
                Err(SendError::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => return start,
                Err(SendError::Refused) => *gso_refused = true,
                // Sent again one by one below: each datagram gets its own result.
                Err(SendError::Io(_)) => {}
            }
        }
        for (i, d) in run.iter().enumerate() {
            let send = || -> io::Result<usize> {
                if d.control.is_empty() {
                    let to = d.to.map(|a| a.sockaddr()).transpose()?;
                    gso::send_one(socket, d.parts, to.as_ref())
                } else {
                    let to = d.to.and_then(|a| a.ip());
                    crate::sys::control::send_with_control(socket, d.parts, to, &d.control)
                }
            };
            let mut sent = send();
            if retry && matches!(&sent, Err(e) if crate::sys::control::is_stale_error(e)) {
                sent = send();
            }
            match sent {
                Ok(n) => report(start + i, Outcome::Sent(n)),
                Err(e) if must_wait(&e, unix) => return start + i,
                Err(e) => report(start + i, Outcome::Failed(error::errno(&e))),
            }
        }
        start = end;
    }
    datagrams.len()
}

/// Whether a send's error means the datagram waits for writability: `EAGAIN` (the socket
/// buffer, or a Unix receiver's queue, is full), and on a Unix socket `ENOBUFS` as well.
fn must_wait(e: &io::Error, unix: bool) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || (unix && e.raw_os_error() == Some(libc::ENOBUFS))
}

/// Where the run starting at `start` ends: consecutive datagrams of one size to one destination,
/// within what one GSO send can carry; a shorter datagram may end a run (the kernel allows a
/// shorter last segment). Empty datagrams, datagrams with per-send control messages, and every
/// datagram once the offload is refused, go alone.
fn run_end(datagrams: &[Datagram<'_>], start: usize, gso_refused: bool) -> usize {
    let first = &datagrams[start];
    let size = first.len;
    let ip = first.to.is_none_or(|a| a.ip().is_some());
    if gso_refused || !ip || size == 0 || size > gso::MAX_PAYLOAD || !first.control.is_empty() {
        return start + 1;
    }
    let limit = gso::datagrams_per_send(size);
    let mut end = start + 1;
    while end < datagrams.len() && end - start < limit {
        let next = &datagrams[end];
        if next.to != first.to || next.len == 0 || next.len > size || next.control != first.control
        {
            break;
        }
        end += 1;
        if next.len < size {
            break;
        }
    }
    end
}

/// The bytes of `parts`, one after the other.
fn concat(parts: &[IoSlice<'_>]) -> Vec<u8> {
    let mut data = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        data.extend_from_slice(part);
    }
    data
}

#[cfg(test)]
mod tests;
