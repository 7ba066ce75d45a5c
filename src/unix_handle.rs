//! `UnixHandle`: the native class behind `'unix_dgram'` sockets (`AF_UNIX`, `SOCK_DGRAM`), the
//! counterpart of the UDP handle ([`crate::handle`]) for Unix socket names.
//!
//! It drives the same [`Owner`] and engines as UDP sockets: one poll handle, the read loop and its
//! pacing, the send engine's error policy and its `EAGAIN` queue (where a full receiver's datagram
//! waits for writability, never dropped). What differs is the address: a name (a file-system
//! path, or a Linux abstract name whose first character is NUL) instead of an IP address and port;
//! and there is no segmentation offload. Like the UDP handle, it answers with 0 or a negative errno
//! and JavaScript builds the errors.

use std::io::IoSlice;
use std::rc::Rc;

use napi::bindgen_prelude::{BufferSlice, Function, JsValue, Object};
use napi::{Env, Result};
use napi_derive::napi;

use crate::owner::{Functions, Owner};
use crate::sys::addr::{self, Addr};
use crate::sys::error::{self, status};
use crate::sys::socket::{self, Family};
use crate::uv::RawEnv;

/// A Unix datagram socket handle bound to one JS environment (see `lib/unix-socket.js`).
#[napi]
pub struct UnixHandle {
    core: Rc<Owner>,
}

#[napi]
impl UnixHandle {
    /// A handle with no OS socket yet (made by the first bind, connect or `open`).
    #[napi(constructor)]
    pub fn new(env: Env) -> Self {
        UnixHandle {
            core: Owner::new(RawEnv::from(&env), Family::Unix),
        }
    }

    /// Creates the OS socket if there is none (a socket that sends without a name). Returns 0
    /// or a negative errno.
    #[napi]
    pub fn open(&self) -> i32 {
        status(self.core.ensure_socket())
    }

    /// Binds to `name` (a path, or an abstract name starting with NUL). Returns 0 or a negative
    /// errno (`EADDRINUSE` when a path's socket file exists, whether or not anything still
    /// listens there).
    #[napi]
    pub fn bind(&self, name: String) -> i32 {
        self.on_own_socket(&name, |s, a| s.bind(a))
    }

    /// Connects to `name`: sends without a name go there, and only its datagrams are received.
    #[napi]
    pub fn connect(&self, name: String) -> i32 {
        let result = self.on_own_socket(&name, |s, a| s.connect(a));
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

    /// Fills `out.address` with the socket's own name (`''` when unbound); 0 or a negative errno.
    ///
    /// # Errors
    /// The property cannot be set.
    #[napi]
    pub fn getsockname(&self, out: Object<'_>) -> Result<i32> {
        self.report_name(out, |s| s.local_addr())
    }

    /// Fills `out.address` with the connected peer's name; 0 or a negative errno.
    ///
    /// # Errors
    /// The property cannot be set.
    #[napi]
    pub fn getpeername(&self, out: Object<'_>) -> Result<i32> {
        self.report_name(out, |s| s.peer_addr())
    }

    /// Starts delivering datagrams to `onmessage(buf, name)` and receive errors to
    /// `onerror(errno)`; queued datagrams complete through `onsend(id, status, bytes)`, and
    /// `onwritable()` answers [`UnixHandle::notify_writable`].
    ///
    /// # Errors
    /// A function cannot be referenced (the environment is shutting down).
    #[napi]
    pub fn recv_start(
        &self,
        env: Env,
        onmessage: Function<'_>,
        onerror: Function<'_>,
        onsend: Function<'_>,
        onwritable: Function<'_>,
    ) -> Result<i32> {
        let raw = RawEnv::from(&env);
        // SAFETY: the four functions are arguments of this call, on its env's thread.
        let functions = unsafe {
            Functions::new(
                raw,
                [onmessage.raw(), onerror.raw(), onsend.raw()],
                Some(onwritable.raw()),
            )
        }
        .ok_or_else(|| napi::Error::from_reason("cannot keep the callbacks"))?;
        // SAFETY: no receiver is given.
        unsafe { self.core.recv_start(raw, None, Rc::new(functions)) }
    }

    /// Stops delivering datagrams.
    #[napi]
    pub fn recv_stop(&self) -> i32 {
        self.core.recv_stop()
    }

    /// Sends `data` to `name`, or to the connected peer when `name` is null, for request `id`.
    /// Returns bytes + 1 when sent, 0 when queued behind a full socket or receiver (completed by
    /// `onsend`), or a negative errno.
    #[napi]
    pub fn send(&self, data: BufferSlice<'_>, name: Option<String>, id: u32) -> i64 {
        let parts = [IoSlice::new(&data)];
        match destination(name.as_deref()) {
            Ok(to) => self.core.send(&parts, to, id),
            Err(errno) => i64::from(errno),
        }
    }

    /// Sends `data` now or not at all: as `send`, but where `send` would queue, it answers
    /// `-EAGAIN` (the unix-dgram package's congestion).
    #[napi]
    pub fn try_send(&self, data: BufferSlice<'_>, name: Option<String>) -> i64 {
        let parts = [IoSlice::new(&data)];
        match destination(name.as_deref()) {
            Ok(to) => self.core.try_send(&parts, to),
            Err(errno) => i64::from(errno),
        }
    }

    /// Calls `onwritable()` once, when the socket is next writable. Returns 0 or a negative
    /// errno.
    #[napi]
    pub fn notify_writable(&self) -> i32 {
        self.core.notify_writable()
    }

    /// Closes the handle; returns how its queued datagrams end, as the UDP handle's close.
    #[napi]
    pub fn close(&self) -> Vec<i64> {
        self.core.close()
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

/// A send's destination: `name`, or `None` (the connected peer); a negative errno for a name
/// no socket can have (empty, or too long).
fn destination(name: Option<&str>) -> std::result::Result<Option<Addr<'_>>, i32> {
    match name {
        None => Ok(None),
        Some(name) => match addr::unix_sockaddr(name.as_bytes()) {
            Ok(_) => Ok(Some(Addr::Unix(name.as_bytes()))),
            Err(e) => Err(error::errno(&e)),
        },
    }
}

impl UnixHandle {
    /// Runs `f` (bind, connect) on `name` with the OS socket, created first if need be.
    fn on_own_socket(
        &self,
        name: &str,
        f: impl FnOnce(&socket2::Socket, &socket2::SockAddr) -> std::io::Result<()>,
    ) -> i32 {
        let addr = match addr::unix_sockaddr(name.as_bytes()) {
            Ok(addr) => addr,
            Err(e) => return error::errno(&e),
        };
        match self.core.ensure_socket() {
            Ok(()) => status(self.core.with_socket(|s| f(s, &addr))),
            Err(e) => error::errno(&e),
        }
    }

    /// Fills `out.address` with the name `which` reads off the socket; 0 or a negative errno.
    fn report_name(
        &self,
        mut out: Object<'_>,
        which: impl FnOnce(&socket2::Socket) -> std::io::Result<socket2::SockAddr>,
    ) -> Result<i32> {
        match self.core.with_socket(which) {
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
}
