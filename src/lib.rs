//! dgram-rs: node:dgram's UDP socket as a Node.js native addon.
//!
//! The JavaScript layer (`lib/`) owns node:dgram's semantics: validation, the bind/connect state
//! machine, DNS lookup, events and their ticks. This crate owns the syscalls. Its modules form a
//! one-way graph, each using only those listed after it:
//!
//! - [`fast_calls`]: the per-send calls and those of a socket's lifecycle as raw Node-API
//!   callbacks, into [`handle`].
//! - [`handle`]: the UDP handle's calls, by the number `lib/native.js` gives each handle:
//!   converts arguments, answers with libuv-style numbers, into [`owner`]; the numbering of
//!   every handle (`handle::registry`).
//! - [`unix_handle`]: the Unix handle's calls, by number as well, for `'unix_dgram'` sockets
//!   (Unix socket names for addresses), into [`owner`].
//! - [`owner`]: one socket's lifecycle, its readiness dispatcher, pacing, and every call into
//!   JavaScript, over the two engines; and each JS thread's state (`owner::thread`: the
//!   handles' table, the reactor, the read buffers, the staging area) with its one cleanup
//!   hook.
//! - [`send`]: the send engine: the run splitter (GSO), its error policy, the `EAGAIN` queue.
//! - [`recv`]: the receive engine: a `recvmmsg` read and its datagrams; the pacing decision.
//! - [`sys`]: the syscalls: socket options, `recvmmsg`, GSO/GRO, errno, reuseport balancing.
//! - [`reactor`]: one readiness watcher per JS thread: the thread's sockets in a private epoll
//!   set, watched by one poll handle on Node's loop; and when its loop lingers after an answer
//!   (`reactor::linger`).
//! - [`uv`]: the libuv and Node-API FFI the owner uses (poll and prepare handles, calls, the
//!   cleanup hook).
//!
//! The engines and `sys` know nothing of Node-API, so `cargo test` drives them on loopback
//! sockets.

pub mod fast_calls;
pub mod handle;
pub mod owner;
pub mod reactor;
pub mod recv;
pub mod send;
pub mod sys;
pub mod unix_handle;
pub mod uv;
