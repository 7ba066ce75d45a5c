//! The Unix datagram handle's calls (`AF_UNIX`, `SOCK_DGRAM`), the counterpart of the UDP
//! handle's ([`crate::handle`]) for Unix socket names.
//!
//! A Unix handle is a number, as a UDP handle is: `lib/native.js` makes a plain JavaScript object
//! holding the number `unixCreate` gave it, and each method passes it to one of these functions
//! (or, for the calls made once per datagram sent, to a raw call of `fast_calls.rs`). The owner is
//! filed in the thread's table ([`crate::handle::registry`]) from `unixCreate` to `unixClose`,
//! beside the UDP handles' owners. After close the number names nothing: every call then answers
//! as a closed socket does (`EBADF`, `-1` for the descriptor, nothing queued).
//!
//! It drives the same [`Owner`] and engines as UDP sockets: the read loop and its pacing, the send
//! engine's error policy and its `EAGAIN` queue (where a full receiver's datagram waits for
//! writability, never dropped). What differs is the address: a name (a file-system path, or a
//! Linux abstract name whose first character is NUL) instead of an IP address and port; there is
//! no segmentation offload; and the functions a Unix handle reports to are its own (given by
//! `unixRecvStart`), with the completions of the queued sends one flush made reported in one
//! call (see [`crate::owner::Completions`]). Like the UDP handle, it answers with 0 or a negative
//! errno and JavaScript builds the errors.

use std::io::IoSlice;
use std::rc::Rc;

use napi::bindgen_prelude::{Function, JsValue, Object};
use napi::{Env, Error, Result, Status};
use napi_derive::napi;

use crate::handle::registry;
use crate::owner::{Completions, Functions, Owner};
use crate::sys::addr::{self, Addr};
use crate::sys::error::{self, status};
use crate::sys::socket::{self, Family};
use crate::uv::RawEnv;

/// The owner of the open Unix handle `id`; `None` after its close (or for a UDP handle's number).
pub(crate) fn find(id: u32) -> Option<Rc<Owner>> {
    registry::find(id).filter(|owner| owner.family() == Family::Unix)
}

/// Makes a Unix datagram handle with no OS socket yet (made by the first bind, connect or
/// `unixOpen`) and returns its number.
///
/// # Errors
/// The thread's registry is being torn down.
#[napi]
pub fn unix_create(env: Env) -> Result<u32> {
    let raw = RawEnv::from(&env);
    // SAFETY: no resource is handed over (the context makes its own object).
    registry::register(raw, unsafe { Owner::new(raw, Family::Unix, None) })
        .ok_or_else(|| Error::new(Status::GenericFailure, "the thread is shutting down"))
}

/// Creates the OS socket if there is none (a socket that sends without a name). Returns 0 or a
/// negative errno.
#[napi]
pub fn unix_open(id: u32) -> i32 {
    match find(id) {
        Some(core) => status(core.ensure_socket()),
        None => error::EBADF,
    }
}

/// Binds to `name` (a path, or an abstract name starting with NUL). Returns 0 or a negative
/// errno (`EADDRINUSE` when a path's socket file exists, whether or not anything still listens
/// there).
#[napi]
pub fn unix_bind(id: u32, name: String) -> i32 {
    on_own_socket(id, &name, |s, a| s.bind(a))
}

/// Connects to `name`: sends without a name go there, and only its datagrams are received.
#[napi]
pub fn unix_connect(id: u32, name: String) -> i32 {
    let result = on_own_socket(id, &name, |s, a| s.connect(a));
    if result == 0 {
        if let Some(core) = find(id) {
            core.set_connected(true);
        }
    }
    result
}

/// Dissolves the connection.
#[napi]
pub fn unix_disconnect(id: u32) -> i32 {
    let Some(core) = find(id) else {
        return error::EBADF;
    };
    let result = status(core.with_socket(socket::disconnect));
    if result == 0 {
        core.set_connected(false);
    }
    result
}

/// Fills `out.address` with the socket's own name (`''` when unbound); 0 or a negative errno.
///
/// # Errors
/// The property cannot be set.
#[napi]
pub fn unix_getsockname(id: u32, out: Object<'_>) -> Result<i32> {
    report_name(id, out, |s| s.local_addr())
}

/// Fills `out.address` with the connected peer's name; 0 or a negative errno.
///
/// # Errors
/// The property cannot be set.
#[napi]
pub fn unix_getpeername(id: u32, out: Object<'_>) -> Result<i32> {
    report_name(id, out, |s| s.peer_addr())
}

/// Starts delivering datagrams to `onmessage(buf, name)` and receive errors to `onerror(errno)`;
/// the queued datagrams one flush took or refused complete through one
/// `onsend([id, status, bytes, ...])`, and `onwritable()` answers [`unix_notify_writable`].
/// Returns 0 or a negative errno.
///
/// # Errors
/// A function cannot be referenced (the environment is shutting down).
#[napi]
pub fn unix_recv_start(
    env: Env,
    id: u32,
    onmessage: Function<'_>,
    onerror: Function<'_>,
    onsend: Function<'_>,
    onwritable: Function<'_>,
) -> Result<i32> {
    let Some(core) = find(id) else {
        return Ok(error::EBADF);
    };
    let raw = RawEnv::from(&env);
    // SAFETY: the four functions are arguments of this call, on its env's thread.
    let functions = unsafe {
        Functions::new(
            raw,
            [onmessage.raw(), onerror.raw(), onsend.raw()],
            Some(onwritable.raw()),
            Completions::Batched,
        )
    }
    .ok_or_else(|| Error::from_reason("cannot keep the callbacks"))?;
    // SAFETY: no receiver is given.
    unsafe { core.recv_start(raw, None, Rc::new(functions)) }
}

/// Stops delivering datagrams.
#[napi]
pub fn unix_recv_stop(id: u32) -> i32 {
    find(id).map_or(error::EBADF, |core| core.recv_stop())
}

/// Sends `parts` (one datagram) to `name`, or to the connected peer when `name` is `None`, for
/// request `id`. Returns bytes + 1 when sent, 0 when queued behind a full socket or receiver
/// (completed by `onsend`), or a negative errno. (`unixSend`, a raw call of `fast_calls.rs`.)
pub(crate) fn send(core: &Owner, parts: &[IoSlice<'_>], name: Option<&[u8]>, id: u32) -> i64 {
    match destination(name) {
        Ok(to) => core.send(parts, to, id),
        Err(errno) => i64::from(errno),
    }
}

/// Sends `parts` now or not at all: as [`send`], but where `send` would queue, it answers
/// `-EAGAIN` (the unix-dgram package's congestion). (`unixTrySend`, a raw call.)
pub(crate) fn try_send(core: &Owner, parts: &[IoSlice<'_>], name: Option<&[u8]>) -> i64 {
    match destination(name) {
        Ok(to) => core.try_send(parts, to),
        Err(errno) => i64::from(errno),
    }
}

/// Calls `onwritable()` once, when the socket is next writable. Returns 0 or a negative errno.
#[napi]
pub fn unix_notify_writable(id: u32) -> i32 {
    find(id).map_or(error::EBADF, |core| core.notify_writable())
}

/// Closes the handle and forgets its number; returns how its queued datagrams end, as the UDP
/// handle's close (`[id, status, bytes, ...]`). A number already closed: nothing.
#[napi]
pub fn unix_close(id: u32) -> Vec<i64> {
    let Some(core) = find(id) else {
        return Vec::new();
    };
    let ended = core.close();
    registry::forget(id);
    ended
}

/// `ref()` (`on` true, the default: the socket keeps the process alive while active) and
/// `unref()`.
#[napi]
pub fn unix_set_ref(id: u32, on: bool) {
    if let Some(core) = find(id) {
        core.set_ref(on);
    }
}

/// Whether the socket keeps the process alive while active (false once closed).
#[napi]
pub fn unix_has_ref(id: u32) -> bool {
    find(id).is_some_and(|core| core.has_ref())
}

/// Reads (`size` 0) or sets the receive (`is_recv`) or send buffer size. Returns the size or a
/// negative errno.
#[napi]
pub fn unix_buffer_size(id: u32, size: u32, is_recv: bool) -> i64 {
    let Some(core) = find(id) else {
        return i64::from(error::EBADF);
    };
    match core.options(|o| o.buffer_size(size, is_recv)) {
        Ok(v) => i64::from(v),
        Err(e) => i64::from(error::errno(&e)),
    }
}

/// `[bytes, datagrams]` waiting in the send queue.
#[napi]
pub fn unix_send_queue(id: u32) -> Vec<u32> {
    let (bytes, count) = find(id).map_or((0, 0), |core| core.send_queue());
    [bytes, count]
        .into_iter()
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
        .collect()
}

/// The OS descriptor, or -1 before the socket exists and after close.
#[napi]
pub fn unix_fd(id: u32) -> i32 {
    find(id).and_then(|core| core.fd()).unwrap_or(-1)
}

/// A send's destination: `name`, or `None` (the connected peer); a negative errno for a name no
/// socket can have (empty, or too long).
fn destination(name: Option<&[u8]>) -> std::result::Result<Option<Addr<'_>>, i32> {
    match name {
        None => Ok(None),
        Some(name) => match addr::unix_sockaddr(name) {
            Ok(_) => Ok(Some(Addr::Unix(name))),
            Err(e) => Err(error::errno(&e)),
        },
    }
}

/// Runs `f` (bind, connect) on `name` with the OS socket of handle `id`, created first if need
/// be.
fn on_own_socket(
    id: u32,
    name: &str,
    f: impl FnOnce(&socket2::Socket, &socket2::SockAddr) -> std::io::Result<()>,
) -> i32 {
    let addr = match addr::unix_sockaddr(name.as_bytes()) {
        Ok(addr) => addr,
        Err(e) => return error::errno(&e),
    };
    let Some(core) = find(id) else {
        return error::EBADF;
    };
    match core.ensure_socket() {
        Ok(()) => status(core.with_socket(|s| f(s, &addr))),
        Err(e) => error::errno(&e),
    }
}

/// Fills `out.address` with the name `which` reads off the socket; 0 or a negative errno.
fn report_name(
    id: u32,
    mut out: Object<'_>,
    which: impl FnOnce(&socket2::Socket) -> std::io::Result<socket2::SockAddr>,
) -> Result<i32> {
    let Some(core) = find(id) else {
        return Ok(error::EBADF);
    };
    match core.with_socket(which) {
        Ok(a) => match addr::unix_name_of(&a) {
            Some(name) => {
                out.set("address", String::from_utf8_lossy(&name).into_owned())?;
                Ok(0)
            }
            None => Ok(error::EINVAL),
        },
        Err(e) => Ok(error::errno(&e)),
    }
}
