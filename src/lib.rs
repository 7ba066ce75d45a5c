//! dgram-rs: node:dgram's UDP socket as a Node.js native addon.
//!
//! The JavaScript layer (`lib/`) owns node:dgram's semantics: validation, the bind/connect state
//! machine, DNS lookup, events and their ticks. This crate owns the syscalls: one native class,
//! [`handle::UdpHandle`], whose methods take resolved input and answer with libuv-style numbers.
//!
//! - [`socket`]: socket creation, addresses and options (socket2).
//! - [`uv`]: the only raw FFI: a `uv_poll_t` on Node's own loop, `napi_make_callback`, cleanup.
//! - [`recv`] / [`send`]: the receive and send paths; [`coalesce`]: a tick's sends gathered
//!   into GSO sends; [`batch`]: the opt-in batch sends.
//! - [`core`]: one socket's state and its close/teardown rules.
//! - [`mmsg`]: `recvmmsg` over reusable per-thread buffers.
//! - [`error`]: `io::Error` → negative errno.
//! - [`reuseport`]: `reusePortBalance`, a BPF program spreading a `SO_REUSEPORT` group's datagrams.

pub mod batch;
pub mod coalesce;
pub mod core;
pub mod error;
pub mod fast_calls;
pub mod handle;
pub mod mmsg;
pub mod pacing;
pub mod recv;
pub mod reuseport;
pub mod send;
pub mod socket;
pub mod uv;
