//! The syscall layer: everything that talks to the kernel about one socket, and nothing else.
//! No Node-API here, no state beyond what a call needs.
//!
//! - [`addr`]: a datagram's address, IP or Unix socket name.
//! - [`socket`]: creation, addresses and options (socket2).
//! - [`mmsg`]: `recvmmsg` over reusable buffers, with each read's sender and GRO segment size.
//! - [`gso`]: one `sendmsg` (retried on `EINTR`), with or without UDP segmentation offload, and
//!   the receive offload (`UDP_GRO`) switch.
//! - [`control`]: per-datagram metadata and send control (receive information, TOS,
//!   don't-fragment, path MTU, ICMP errors), all opt-in.
//! - [`error`]: `io::Error` → negative errno, as libuv reports it.
//! - [`reuseport`]: BPF programs that spread a `SO_REUSEPORT` group's datagrams evenly.
//! - [`thread`]: the calling thread's scheduler slice (the background reader asks for a short one).

pub mod addr;
pub mod control;
pub mod error;
pub mod gso;
pub mod mmsg;
pub mod reuseport;
pub mod socket;
pub mod thread;
