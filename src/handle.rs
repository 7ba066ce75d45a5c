//! The UDP handle's calls, the counterpart of Node's `UDPWrap` methods.
//!
//! A handle is a number (see [`registry`]): `lib/native.js` makes a plain JavaScript object
//! that passes its number to each of these functions, and to the raw calls of `fast_calls.rs`.
//! They take already-validated, already-resolved input from `lib/` (IP literals, numeric ports,
//! lists of buffers) and answer with numbers: 0 or a negative errno, as libuv does, so that the
//! JavaScript layer builds node:dgram's exact errors. They never emit events and never know
//! their names: `recvStart` hands the handle three callbacks once.
//!
//! Sends are requests with an id chosen by JavaScript: a datagram that has to wait for the
//! socket to become writable completes later through `onsend(id, status, bytes)`, so JavaScript
//! finds its request by identity, never by position.

pub mod control;
pub mod registry;

use std::io::IoSlice;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::os::fd::IntoRawFd;
use std::rc::Rc;

use napi::bindgen_prelude::{Float64ArraySlice, FromNapiValue, Unknown};
use napi::{Env, Error, JsValue, Result, Status};
use napi_derive::napi;

use crate::owner::{Delivery, Owner};
use crate::sys::addr::Addr;
use crate::sys::error::{self, status};
use crate::sys::socket::{self, Family, Options};
use crate::uv::RawEnv;

/// The owner of handle `id`; a thrown error when no handle has that number.
fn owner(id: u32) -> Result<Rc<Owner>> {
    registry::find(id).ok_or_else(|| Error::new(Status::InvalidArg, "no such UdpHandle"))
}

/// Ports arrive validated from JS; anything else is the kernel's `EINVAL`.
fn port16(port: u32) -> std::result::Result<u16, i32> {
    u16::try_from(port).map_err(|_| error::EINVAL)
}

fn truthy(value: Unknown<'_>) -> bool {
    value.coerce_to_bool().unwrap_or(false)
}

/// Makes a handle for `family` (4 or 6) and returns its number; the OS socket is created by the
/// first bind, connect or open. `handle` (the JavaScript handle object) is its async resource,
/// as node:dgram's UDPWrap handle is.
///
/// # Errors
/// `family` is neither 4 nor 6, or the thread's registry is being torn down.
///
/// # Safety
/// `handle`, if any, is a live object of the running call on `env`'s thread.
pub(crate) unsafe fn create(
    env: RawEnv,
    family: u32,
    handle: Option<napi::sys::napi_value>,
) -> std::result::Result<u32, &'static std::ffi::CStr> {
    let family = Family::from_number(family).ok_or(c"family must be 4 or 6")?;
    // SAFETY: the caller's promise.
    let owner = unsafe { Owner::new(env, family, handle) };
    registry::register(env, owner).ok_or(c"the thread is shutting down")
}

/// Adopts an open UDP descriptor of the handle's family (`bind({ fd })`), or a duplicate of it
/// when `duplicate` is true (a cluster worker's shared socket, whose original stays with Node's
/// handle).
#[napi]
pub fn udp_open(id: u32, fd: i32, duplicate: Option<bool>) -> Result<i32> {
    let core = owner(id)?;
    if core.has_socket() || core.is_closed() {
        return Ok(-libc::EBUSY);
    }
    let adopted = match duplicate {
        Some(true) => socket::adopt_duplicate(fd, core.family()),
        _ => socket::adopt(fd, core.family()),
    };
    Ok(match adopted {
        Ok(s) => status(core.install(s)),
        Err(e) => error::errno(&e),
    })
}

/// Connects to `ip:port`.
#[napi]
pub fn udp_connect(id: u32, ip: String, port: u32) -> Result<i32> {
    let core = owner(id)?;
    let result = on_own_socket(&core, &ip, port, socket::connect);
    if result == 0 {
        core.set_connected(true);
    }
    Ok(result)
}

/// Dissolves the connection.
#[napi]
pub fn udp_disconnect(id: u32) -> Result<i32> {
    let core = owner(id)?;
    let result = status(core.with_socket(socket::disconnect));
    if result == 0 {
        core.set_connected(false);
    }
    Ok(result)
}

/// Stops delivering datagrams.
#[napi]
pub fn udp_recv_stop(id: u32) -> Result<i32> {
    Ok(owner(id)?.recv_stop())
}

/// Sends what `sendLater` gathered, in order, as GSO runs where they form. Writes each
/// datagram's result into `out`, in the order they were gathered (bytes + 1 when sent, 0 when
/// queued and completed by `onsend` later, or a negative errno), and returns how many it wrote.
/// A typed array the caller keeps: building a JavaScript array element by element cost more
/// than the sends themselves.
///
/// # Errors
/// No such handle, or `out` has no room for one number per gathered datagram (nothing is sent
/// then).
#[napi]
pub fn udp_flush_sends(id: u32, mut out: Float64ArraySlice<'_>) -> Result<u32> {
    let core = owner(id)?;
    // SAFETY: `out` is an argument of this call: its memory stays in place during it, and
    // nothing else here refers to it.
    let out = unsafe { out.as_mut() };
    if out.len() < core.gathered_count() {
        return Err(Error::new(
            Status::InvalidArg,
            "flushSends: no room for the results",
        ));
    }
    let mut written = 0;
    core.flush_gathered(|result| {
        if let Some(slot) = out.get_mut(written) {
            // Results lie within ±65,508: exact as f64.
            *slot = result as f64;
            written += 1;
        }
    });
    Ok(written as u32)
}

/// Sends `data` as datagrams of `segment` bytes each (the last may be shorter) to `ip:port`, or
/// to the connected peer when `ip` is `None`, for request `request` (`udpSendBatch`, a raw call:
/// see `fast_calls`). Returns `[sent, queued, failed, errno]`: datagrams sent at once, datagrams
/// queued (each completes through `onsend`), datagrams refused, and the first refusal's negative
/// errno (0 if none).
pub fn send_batch(
    core: &Owner,
    data: &[u8],
    segment: u32,
    port: u32,
    ip: Option<&str>,
    request: u32,
) -> [i64; 4] {
    match destination(core, port, ip) {
        Ok(to) => core.send_segments(data, segment as usize, to.map(Addr::Ip), request),
        Err(errno) => {
            let count = if data.is_empty() || segment == 0 {
                1
            } else {
                data.len().div_ceil(segment as usize)
            };
            [0, 0, count as i64, i64::from(errno)]
        }
    }
}

/// Batch receive on or off: when on, `onmessage` gets one call per read and sender, with a
/// fourth argument, the size of each datagram in the buffer (a number when they share it, an
/// array otherwise). With `zero_copy`, a buffer holding one read slot is the read buffer itself,
/// valid only during the call: it is emptied (detached, length 0) when the call returns.
#[napi]
pub fn udp_set_batch_receive(id: u32, on: bool, zero_copy: Option<bool>) -> Result<()> {
    owner(id)?.set_delivery(match (on, zero_copy) {
        (false, _) => Delivery::Each,
        (true, Some(true)) => Delivery::BatchZeroCopy,
        (true, _) => Delivery::Batch,
    });
    Ok(())
}

/// Spreads the datagrams of this socket's `SO_REUSEPORT` group evenly over `receivers` sockets,
/// by `"flow"` or by `"datagram"` (see `sys/reuseport.rs`). The socket must be bound with
/// `reusePort`. Returns 0 or a negative errno (`EINVAL` for a bad argument or a socket not in a
/// group, `EBADF` before bind).
#[napi]
pub fn udp_set_reuse_port_balance(id: u32, by: String, receivers: u32) -> Result<i32> {
    let core = owner(id)?;
    let Some(balance) = crate::sys::reuseport::Balance::from_name(&by) else {
        return Ok(error::EINVAL);
    };
    Ok(status(core.with_socket(|s| {
        crate::sys::reuseport::attach(s, balance, receivers)
    })))
}

/// Reads in the background from when receiving starts: a runtime thread reads the socket into
/// an inbox of at most `max_bytes`, and the loop is woken to deliver from it.
#[napi]
pub fn udp_set_background_receive(id: u32, max_bytes: u32) -> Result<()> {
    // JavaScript gives at least 1 (lib/background.js validates it).
    owner(id)?.set_background(NonZeroU32::new(max_bytes).unwrap_or(NonZeroU32::MIN));
    Ok(())
}

/// Pauses reading (a consumer fell behind) or resumes it.
#[napi]
pub fn udp_set_paused(id: u32, paused: bool) -> Result<()> {
    owner(id)?.set_paused(paused);
    Ok(())
}

/// `[datagramsReceived, bytesReceived, datagramsSent, bytesSent, droppedByKernel,
/// droppedByQueue]` of an open handle (after close, the handle answers with what `udpClose`
/// wrote).
#[napi]
pub fn udp_get_stats(id: u32) -> Result<Vec<f64>> {
    // f64: exact up to 2^53, far beyond any count a socket reaches.
    Ok(owner(id)?.stats().iter().map(|&n| n as f64).collect())
}

/// Queue every send instead of trying it at once, as Node does under its
/// `--test-udp-no-try-send` flag (for Node's own tests of the queue-info methods).
#[napi]
pub fn udp_set_queue_every_send(id: u32, on: bool) -> Result<()> {
    owner(id)?.set_queue_every_send(on);
    Ok(())
}

/// `ref()` (true: the socket keeps the process alive while active, the default) or `unref()`.
#[napi]
pub fn udp_set_ref(id: u32, on: bool) -> Result<()> {
    owner(id)?.set_ref(on);
    Ok(())
}

/// Whether the socket keeps the process alive while active.
#[napi]
pub fn udp_has_ref(id: u32) -> Result<bool> {
    Ok(owner(id)?.has_ref())
}

/// Reads (`size` 0) or sets the receive (`is_recv`) or send buffer size. Returns the size or a
/// negative errno.
#[napi]
pub fn udp_buffer_size(id: u32, size: u32, is_recv: bool) -> Result<i64> {
    Ok(match owner(id)?.options(|o| o.buffer_size(size, is_recv)) {
        Ok(v) => i64::from(v),
        Err(e) => i64::from(error::errno(&e)),
    })
}

/// `SO_BROADCAST`.
#[napi]
pub fn udp_set_broadcast(id: u32, on: Unknown<'_>) -> Result<i32> {
    let on = truthy(on);
    with_options(id, |o| o.set_broadcast(on))
}

/// `IP_TTL` / `IPV6_UNICAST_HOPS` (1..=255).
#[napi(js_name = "udpSetTTL")]
pub fn udp_set_ttl(id: u32, ttl: i32) -> Result<i32> {
    with_options(id, |o| o.set_ttl(ttl))
}

/// `IP_MULTICAST_TTL` / `IPV6_MULTICAST_HOPS` (0..=255).
#[napi(js_name = "udpSetMulticastTTL")]
pub fn udp_set_multicast_ttl(id: u32, ttl: i32) -> Result<i32> {
    with_options(id, |o| o.set_multicast_ttl(ttl))
}

/// `IP_MULTICAST_LOOP` / `IPV6_MULTICAST_LOOP`.
#[napi]
pub fn udp_set_multicast_loopback(id: u32, on: Unknown<'_>) -> Result<i32> {
    let on = truthy(on);
    with_options(id, |o| o.set_multicast_loopback(on))
}

/// The outgoing multicast interface.
#[napi]
pub fn udp_set_multicast_interface(id: u32, interface: String) -> Result<i32> {
    with_options(id, |o| o.set_multicast_interface(&interface))
}

/// Joins (`join`) or leaves a multicast group (joining binds first to the any address, port 0,
/// when unbound, as libuv does).
#[napi]
pub fn udp_membership(
    id: u32,
    group: String,
    interface: Option<String>,
    join: bool,
) -> Result<i32> {
    with_group(id, &group, |o| {
        o.membership(&group, interface.as_deref(), join)
    })
}

/// Joins (`join`) or leaves a source-specific multicast group.
#[napi]
pub fn udp_source_membership(
    id: u32,
    source: String,
    group: String,
    interface: Option<String>,
    join: bool,
) -> Result<i32> {
    with_group(id, &group, |o| {
        o.source_membership(&source, &group, interface.as_deref(), join)
    })
}

/// Runs `f` on handle `id`'s socket options once libuv's deferred bind for `group` is done; 0
/// or a negative errno.
fn with_group(
    id: u32,
    group: &str,
    f: impl FnOnce(&Options<'_>) -> std::io::Result<()>,
) -> Result<i32> {
    let core = owner(id)?;
    Ok(match deferred_bind(&core, group) {
        0 => status(core.options(f)),
        err => err,
    })
}

/// Bytes and datagrams waiting in the send queue: `[bytes, count]`.
#[napi]
pub fn udp_send_queue(id: u32) -> Result<Vec<u32>> {
    let (bytes, count) = owner(id)?.send_queue();
    Ok(vec![
        u32::try_from(bytes).unwrap_or(u32::MAX),
        u32::try_from(count).unwrap_or(u32::MAX),
    ])
}

/// The OS descriptor, or -1 before the socket exists and after close.
#[napi]
pub fn udp_fd(id: u32) -> Result<i32> {
    Ok(owner(id)?.fd().unwrap_or(-1))
}

/// A duplicate of handle `id`'s descriptor (close-on-exec), or a negative errno (`EBADF` before
/// bind and after close). Node sends only its own handles to a child process
/// (`subprocess.send(message, socket)`): `lib/child-handle.js` has one of Node's UDP handles
/// carry the duplicate, and closes it.
#[napi]
pub fn udp_dup_fd(id: u32) -> Result<i32> {
    Ok(match owner(id)?.with_socket(|s| s.try_clone()) {
        Ok(copy) => copy.into_raw_fd(),
        Err(e) => error::errno(&e),
    })
}

/// Runs `f` on handle `id`'s socket options; 0 or a negative errno.
fn with_options(id: u32, f: impl FnOnce(&Options<'_>) -> std::io::Result<()>) -> Result<i32> {
    Ok(status(owner(id)?.options(f)))
}

/// libuv's `uv__udp_maybe_deferred_bind`: joining a group on an unbound socket binds it to the
/// any address, port 0, with SO_REUSEADDR.
fn deferred_bind(core: &Owner, group: &str) -> i32 {
    if core.has_socket() || socket::parse_any(group).is_err() {
        return 0;
    }
    let any = match core.family() {
        Family::V4 => "0.0.0.0",
        Family::V6 => "::",
        Family::Unix => return error::EINVAL,
    };
    bind(core, any, 0, socket::FLAG_REUSEADDR)
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
    to_destination(core, port, ip, |to| core.send(parts, to, id))
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
    to_destination(core, port, ip, |to| i64::from(core.gather(parts, to, id)))
}

/// Runs `f` with the send's destination (see [`destination`]), or answers the negative errno
/// that refuses it.
fn to_destination(
    core: &Owner,
    port: u32,
    ip: Option<&str>,
    f: impl FnOnce(Option<Addr<'_>>) -> i64,
) -> i64 {
    match destination(core, port, ip) {
        Ok(to) => f(to.map(Addr::Ip)),
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

/// Returns this thread's staging area for small received datagrams (see `owner::staging`): the
/// one registered before, or else `area` (a `Uint8Array` of at least 1,024 bytes), which
/// becomes it. Each copy of `lib/staging.js` calls it once, when it loads, and reads the area
/// it returns.
///
/// # Errors
/// `area` is not a `Uint8Array`, or is too short.
#[napi]
pub fn set_staging_area<'env>(env: &'env Env, area: Unknown<'env>) -> Result<Unknown<'env>> {
    // SAFETY: `area` is an argument of this call, on its env's thread.
    let value = unsafe { crate::owner::staging::register(RawEnv::from(env), area.raw())? };
    // SAFETY: `value` is a live value of this call's scope on `env`.
    unsafe { Unknown::from_napi_value(env.raw(), value) }
}
