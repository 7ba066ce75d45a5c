//! `UdpHandle`: the one native class JavaScript sees, the counterpart of Node's `UDPWrap`.
//!
//! It takes already-validated, already-resolved input from `lib/` (IP literals, numeric ports,
//! lists of buffers) and answers with numbers: 0 or a negative errno, as libuv does, so that the
//! JavaScript layer builds node:dgram's exact errors. It never emits events and never knows their
//! names: `recvStart` hands it three callbacks once.
//!
//! Sends are requests with an id chosen by JavaScript: a datagram that has to wait for the
//! socket to become writable completes later through `onsend(id, status, bytes)`, so JavaScript
//! finds its request by identity, never by position.

mod control;
pub mod registry;

use std::io::IoSlice;
use std::net::SocketAddr;
use std::rc::Rc;

use napi::bindgen_prelude::{BufferSlice, Float64ArraySlice, JsValue, Unknown};
use napi::{Env, Error, Result, Status};
use napi_derive::napi;

use crate::owner::{Delivery, Owner};
use crate::sys::addr::Addr;
use crate::sys::error::{self, status};
use crate::sys::socket::{self, Family, Options};
use crate::uv::RawEnv;

/// A UDP socket handle bound to one JS environment (see `lib/socket.js` for the semantics).
#[napi]
pub struct UdpHandle {
    core: Rc<Owner>,
    /// The number `fast_calls` finds this handle by (see [`registry`]).
    id: Option<u32>,
}

impl Drop for UdpHandle {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            registry::unregister(id, &self.core);
        }
    }
}

/// Ports arrive validated from JS; anything else is the kernel's `EINVAL`.
fn port16(port: u32) -> std::result::Result<u16, i32> {
    u16::try_from(port).map_err(|_| error::EINVAL)
}

fn truthy(value: Unknown<'_>) -> bool {
    value.coerce_to_bool().unwrap_or(false)
}

#[napi]
impl UdpHandle {
    /// A handle for `family` (4 or 6); the OS socket is created by the first bind, connect or open.
    ///
    /// With `id`, the per-datagram calls find it by that number (see [`registry`]).
    ///
    /// # Errors
    /// `family` is neither 4 nor 6, or a live handle has `id` already.
    #[napi(constructor)]
    pub fn new(env: Env, family: u32, id: Option<u32>) -> Result<Self> {
        let family = Family::from_number(family)
            .ok_or_else(|| Error::new(Status::InvalidArg, "family must be 4 or 6"))?;
        let core = Owner::new(RawEnv::from(&env), family);
        if let Some(id) = id {
            if !registry::register(id, &core) {
                return Err(Error::new(Status::InvalidArg, "the handle id is in use"));
            }
        }
        Ok(UdpHandle { core, id })
    }

    /// Adopts an open UDP descriptor of this handle's family (`bind({ fd })`), or a duplicate
    /// of it when `duplicate` is true (a cluster worker's shared socket, whose original stays
    /// with Node's handle).
    #[napi]
    pub fn open(&self, fd: i32, duplicate: Option<bool>) -> i32 {
        if self.core.has_socket() || self.core.is_closed() {
            return -libc::EBUSY;
        }
        let adopted = match duplicate {
            Some(true) => socket::adopt_duplicate(fd, self.core.family()),
            _ => socket::adopt(fd, self.core.family()),
        };
        match adopted {
            Ok(s) => status(self.core.install(s)),
            Err(e) => error::errno(&e),
        }
    }

    /// Connects to `ip:port`.
    #[napi]
    pub fn connect(&self, ip: String, port: u32) -> i32 {
        let result = self.on_own_socket(&ip, port, socket::connect);
        if result == 0 {
            self.core.set_connected(true);
        }
        result
    }

    /// Dissolves the connection.
    #[napi]
    pub fn disconnect(&self) -> i32 {
        let result = status(self.core.with_socket(socket::disconnect));
        if result == 0 {
            self.core.set_connected(false);
        }
        result
    }

    /// Stops delivering datagrams.
    #[napi]
    pub fn recv_stop(&self) -> i32 {
        self.core.recv_stop()
    }

    /// Sends what `sendLater` gathered, in order, as GSO runs where they form. Writes each
    /// datagram's result into `out`, in the order they were gathered (bytes + 1 when sent, 0
    /// when queued and completed by `onsend` later, or a negative errno), and returns how many
    /// it wrote. A typed array the caller keeps: building a JavaScript array element by element
    /// cost more than the sends themselves.
    ///
    /// # Errors
    /// `out` has no room for one number per gathered datagram (nothing is sent then).
    #[napi]
    pub fn flush_sends(&self, mut out: Float64ArraySlice<'_>) -> Result<u32> {
        // SAFETY: `out` is an argument of this call: its memory stays in place during it, and
        // nothing else here refers to it.
        let out = unsafe { out.as_mut() };
        if out.len() < self.core.gathered_count() {
            return Err(Error::new(
                Status::InvalidArg,
                "flushSends: no room for the results",
            ));
        }
        let mut written = 0;
        self.core.flush_gathered(|result| {
            if let Some(slot) = out.get_mut(written) {
                // Results lie within ±65,508: exact as f64.
                *slot = result as f64;
                written += 1;
            }
        });
        Ok(written as u32)
    }

    /// Sends `data` as datagrams of `segment` bytes each (the last may be shorter) to `ip:port`,
    /// or to the connected peer when `ip` is null, for request `id`. Returns `[sent, queued,
    /// failed, errno]`: datagrams sent at once, datagrams queued (each completes through
    /// `onsend`), datagrams refused, and the first refusal's negative errno (0 if none).
    #[napi]
    pub fn send_batch(
        &self,
        data: BufferSlice<'_>,
        segment: u32,
        port: u32,
        ip: Option<String>,
        id: u32,
    ) -> Vec<i64> {
        match self.destination(port, ip.as_deref()) {
            Ok(to) => self
                .core
                .send_segments(&data, segment as usize, to.map(Addr::Ip), id)
                .to_vec(),
            Err(errno) => {
                let count = if data.is_empty() || segment == 0 {
                    1
                } else {
                    data.len().div_ceil(segment as usize)
                };
                vec![0, 0, count as i64, i64::from(errno)]
            }
        }
    }

    /// Batch receive on or off: when on, `onmessage` gets one call per read and sender, with a
    /// fourth argument, the size of each datagram in the buffer (a number when they share it, an
    /// array otherwise). With `zero_copy`, a buffer holding one read slot is the read buffer
    /// itself, valid only during the call: it is emptied (detached, length 0) when the call
    /// returns.
    #[napi]
    pub fn set_batch_receive(&self, on: bool, zero_copy: Option<bool>) {
        self.core.set_delivery(match (on, zero_copy) {
            (false, _) => Delivery::Each,
            (true, Some(true)) => Delivery::BatchZeroCopy,
            (true, _) => Delivery::Batch,
        });
    }

    /// Spreads the datagrams of this socket's `SO_REUSEPORT` group evenly over `receivers`
    /// sockets, by `"flow"` or by `"datagram"` (see `sys/reuseport.rs`). The socket must be bound with
    /// `reusePort`. Returns 0 or a negative errno (`EINVAL` for a bad argument or a socket not in
    /// a group, `EBADF` before bind).
    #[napi]
    pub fn set_reuse_port_balance(&self, by: String, receivers: u32) -> i32 {
        let Some(balance) = crate::sys::reuseport::Balance::from_name(&by) else {
            return error::EINVAL;
        };
        status(
            self.core
                .with_socket(|s| crate::sys::reuseport::attach(s, balance, receivers)),
        )
    }

    /// Reads in the background from when receiving starts: a runtime thread reads the socket
    /// into an inbox of at most `max_bytes`, and the loop is woken to deliver from it.
    #[napi]
    pub fn set_background_receive(&self, max_bytes: u32) {
        self.core.set_background(max_bytes as usize);
    }

    /// Pauses reading (a consumer fell behind) or resumes it.
    #[napi]
    pub fn set_paused(&self, paused: bool) {
        self.core.set_paused(paused);
    }

    /// `[datagramsReceived, bytesReceived, datagramsSent, bytesSent, droppedByKernel,
    /// droppedByQueue]`.
    #[napi]
    pub fn get_stats(&self) -> Vec<f64> {
        // f64: exact up to 2^53, far beyond any count a socket reaches.
        self.core.stats().iter().map(|&n| n as f64).collect()
    }

    /// Queue every send instead of trying it at once, as Node does under its
    /// `--test-udp-no-try-send` flag (for Node's own tests of the queue-info methods).
    #[napi]
    pub fn set_queue_every_send(&self, on: bool) {
        self.core.set_queue_every_send(on);
    }

    /// Lets the socket keep the process alive (the default).
    #[napi(js_name = "ref")]
    pub fn ref_(&self) {
        self.core.set_ref(true);
    }

    /// Stops the socket from keeping the process alive.
    #[napi]
    pub fn unref(&self) {
        self.core.set_ref(false);
    }

    /// Whether the socket keeps the process alive while active.
    #[napi]
    pub fn has_ref(&self) -> bool {
        self.core.has_ref()
    }

    /// Reads (`size` 0) or sets the receive (`is_recv`) or send buffer size. Returns the size
    /// or a negative errno.
    #[napi]
    pub fn buffer_size(&self, size: u32, is_recv: bool) -> i64 {
        match self.core.options(|o| o.buffer_size(size, is_recv)) {
            Ok(v) => i64::from(v),
            Err(e) => i64::from(error::errno(&e)),
        }
    }

    /// `SO_BROADCAST`.
    #[napi]
    pub fn set_broadcast(&self, on: Unknown<'_>) -> i32 {
        let on = truthy(on);
        self.with_options(|o| o.set_broadcast(on))
    }

    /// `IP_TTL` / `IPV6_UNICAST_HOPS` (1..=255).
    #[napi(js_name = "setTTL")]
    pub fn set_ttl(&self, ttl: i32) -> i32 {
        self.with_options(|o| o.set_ttl(ttl))
    }

    /// `IP_MULTICAST_TTL` / `IPV6_MULTICAST_HOPS` (0..=255).
    #[napi(js_name = "setMulticastTTL")]
    pub fn set_multicast_ttl(&self, ttl: i32) -> i32 {
        self.with_options(|o| o.set_multicast_ttl(ttl))
    }

    /// `IP_MULTICAST_LOOP` / `IPV6_MULTICAST_LOOP`.
    #[napi]
    pub fn set_multicast_loopback(&self, on: Unknown<'_>) -> i32 {
        let on = truthy(on);
        self.with_options(|o| o.set_multicast_loopback(on))
    }

    /// The outgoing multicast interface.
    #[napi]
    pub fn set_multicast_interface(&self, interface: String) -> i32 {
        self.with_options(|o| o.set_multicast_interface(&interface))
    }

    /// Joins a multicast group (binding first to the any address, port 0, when unbound, as libuv
    /// does).
    #[napi]
    pub fn add_membership(&self, group: String, interface: Option<String>) -> i32 {
        self.membership(&group, interface.as_deref(), true)
    }

    /// Leaves a multicast group.
    #[napi]
    pub fn drop_membership(&self, group: String, interface: Option<String>) -> i32 {
        self.membership(&group, interface.as_deref(), false)
    }

    /// Joins a source-specific multicast group.
    #[napi]
    pub fn add_source_specific_membership(
        &self,
        source: String,
        group: String,
        interface: Option<String>,
    ) -> i32 {
        self.source_membership(&source, &group, interface.as_deref(), true)
    }

    /// Leaves a source-specific multicast group.
    #[napi]
    pub fn drop_source_specific_membership(
        &self,
        source: String,
        group: String,
        interface: Option<String>,
    ) -> i32 {
        self.source_membership(&source, &group, interface.as_deref(), false)
    }

    /// Bytes waiting in the send queue.
    #[napi]
    pub fn get_send_queue_size(&self) -> u32 {
        u32::try_from(self.core.send_queue().0).unwrap_or(u32::MAX)
    }

    /// Sends waiting in the send queue.
    #[napi]
    pub fn get_send_queue_count(&self) -> u32 {
        u32::try_from(self.core.send_queue().1).unwrap_or(u32::MAX)
    }

    /// The OS descriptor, or -1 before the socket exists and after close.
    #[napi(getter)]
    pub fn fd(&self) -> i32 {
        self.core.fd().unwrap_or(-1)
    }
}

/// The local address (`peer` false) or the connected peer's, as Node's `getsockname` /
/// `getpeername` report them: `(address, family, port)`; a negative errno when there is none.
/// JavaScript calls them as `handle.getsockname(out)` / `handle.getpeername(out)` (see
/// `fast_calls.rs`).
pub(crate) fn socket_address(
    core: &Owner,
    peer: bool,
) -> std::result::Result<(String, &'static str, u16), i32> {
    let addr = core
        .with_socket(|s| if peer { s.peer_addr() } else { s.local_addr() })
        .and_then(|a| socket::split_sockaddr(&a))
        .map_err(|e| error::errno(&e))?;
    let family = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
    Ok((socket::format_ip(&addr), family, addr.port()))
}

/// Binds `core`'s socket (created first if need be) to `ip:port` with libuv's flags (1
/// ipv6Only, 4 reuseAddr, 8 reusePort). Returns 0 or a negative errno. JavaScript calls it as
/// `handle.bind(ip, port, flags)` (see `fast_calls.rs`).
pub(crate) fn bind(core: &Owner, ip: &str, port: u32, flags: u32) -> i32 {
    on_own_socket(core, ip, port, |s, addr| socket::bind(s, addr, flags))
}

/// Runs `f` (bind, connect) on `ip:port` with `core`'s OS socket, created first if need be.
fn on_own_socket(
    core: &Owner,
    ip: &str,
    port: u32,
    f: impl FnOnce(&socket2::Socket, SocketAddr) -> std::io::Result<()>,
) -> i32 {
    let addr = match address(core, ip, port) {
        Ok(addr) => addr,
        Err(errno) => return errno,
    };
    match core.ensure_socket() {
        Ok(()) => status(core.with_socket(|s| f(s, addr))),
        Err(e) => error::errno(&e),
    }
}

/// Sends one datagram made of `parts` to `ip:port`, or to the connected peer when `ip` is
/// `None`, for request `id`. Returns bytes + 1 when sent at once, 0 when queued (completed by
/// `onsend`), or a negative errno. JavaScript calls it as `handle.send(list, port, ip, id)` (see
/// `fast_calls.rs`).
pub(crate) fn send(
    core: &Owner,
    parts: &[IoSlice<'_>],
    port: u32,
    ip: Option<&str>,
    id: u32,
) -> i64 {
    match destination(core, port, ip) {
        Ok(to) => core.send(parts, to.map(Addr::Ip), id),
        Err(errno) => i64::from(errno),
    }
}

/// Gathers one datagram of request `id` for the next `flushSends()`: `parts` to `ip:port`, or to
/// the connected peer when `ip` is `None`. Returns 0, or a negative errno for a destination the
/// socket cannot send to (reported at once, as `send` would). JavaScript calls it as
/// `handle.sendLater(list, port, ip, id)` (see `fast_calls.rs`).
pub(crate) fn send_later(
    core: &Owner,
    parts: &[IoSlice<'_>],
    port: u32,
    ip: Option<&str>,
    id: u32,
) -> i64 {
    match destination(core, port, ip) {
        Ok(to) => i64::from(core.gather(parts, to.map(Addr::Ip), id)),
        Err(errno) => i64::from(errno),
    }
}

/// A send's destination: `ip:port`, or `None` (the connected peer) when `ip` is null; a negative
/// errno for an address this socket cannot send to.
fn destination(
    core: &Owner,
    port: u32,
    ip: Option<&str>,
) -> std::result::Result<Option<SocketAddr>, i32> {
    let connected = core.is_connected();
    let Some(ip) = ip else {
        return if connected {
            Ok(None)
        } else {
            Err(-libc::EDESTADDRREQ)
        };
    };
    if connected {
        return Err(-libc::EISCONN);
    }
    address(core, ip, port).map(Some)
}

/// `ip:port` for the handle's family, or a negative errno (`EINVAL`, as libuv).
fn address(core: &Owner, ip: &str, port: u32) -> std::result::Result<SocketAddr, i32> {
    let port = port16(port)?;
    socket::parse_addr(core.family(), ip, port).map_err(|e| error::errno(&e))
}

impl UdpHandle {
    /// See [`destination`].
    fn destination(
        &self,
        port: u32,
        ip: Option<&str>,
    ) -> std::result::Result<Option<SocketAddr>, i32> {
        destination(&self.core, port, ip)
    }

    /// See [`on_own_socket`].
    fn on_own_socket(
        &self,
        ip: &str,
        port: u32,
        f: impl FnOnce(&socket2::Socket, SocketAddr) -> std::io::Result<()>,
    ) -> i32 {
        on_own_socket(&self.core, ip, port, f)
    }

    /// Fills `out` with the address `which` reads off the socket; 0 or a negative errno.
    fn with_options(&self, f: impl FnOnce(&Options<'_>) -> std::io::Result<()>) -> i32 {
        status(self.core.options(f))
    }

    /// libuv's `uv__udp_maybe_deferred_bind`: joining a group on an unbound socket binds it to
    /// the any address, port 0, with SO_REUSEADDR.
    fn deferred_bind(&self, group: &str) -> i32 {
        if self.core.has_socket() || socket::parse_any(group).is_err() {
            return 0;
        }
        let any = match self.core.family() {
            Family::V4 => "0.0.0.0",
            Family::V6 => "::",
            Family::Unix => return error::EINVAL,
        };
        bind(&self.core, any, 0, socket::FLAG_REUSEADDR)
    }

    fn membership(&self, group: &str, interface: Option<&str>, join: bool) -> i32 {
        match self.deferred_bind(group) {
            0 => self.with_options(|o| o.membership(group, interface, join)),
            err => err,
        }
    }

    fn source_membership(&self, source: &str, group: &str, iface: Option<&str>, join: bool) -> i32 {
        match self.deferred_bind(group) {
            0 => self.with_options(|o| o.source_membership(source, group, iface, join)),
            err => err,
        }
    }
}

/// Takes `area` (a `Uint8Array` of at least 1,024 bytes that the caller keeps) as this thread's
/// staging area for small received datagrams: see `owner::staging`. `lib/handle.js` calls it
/// once, when it loads.
///
/// # Errors
/// `area` is not a `Uint8Array`, or is too short.
#[napi]
pub fn set_staging_area(env: Env, area: Unknown<'_>) -> Result<()> {
    // SAFETY: `area` is an argument of this call, on its env's thread.
    unsafe { crate::owner::staging::register(RawEnv::from(&env), area.raw()) }
}
