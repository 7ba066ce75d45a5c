//! Raw FFI with libuv and Node-API, wrapped in small safe types: a `uv_poll_t`, a
//! `uv_prepare_t`, a `uv_idle_t` and a `uv_async_t` on Node's own event loop, calls into
//! JavaScript through `napi_make_callback`, and the environment cleanup hook. The other raw
//! Node-API code: `fast_calls.rs` (the calls a socket per query or per datagram makes) and
//! `owner/staging.rs` (the staging area small datagrams reach JavaScript through); napi-rs's
//! generated glue in `handle.rs` and `unix_handle.rs` is the rest.
//!
//! Why Node's own loop: reading on the JS thread when libuv says the socket is readable keeps
//! node:dgram's latency and its tick order (each `'message'` handler's `process.nextTick` and
//! promise jobs run before the next datagram), where a tokio thread handing every datagram over
//! through a threadsafe function measured 1.5× node:dgram's round trip on this project's
//! machines (64 B ping-pong, one core: 27.6 µs against 18.3 µs).
//!
//! libuv's symbols are exported by the `node` binary and resolve when the addon is loaded.

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::io;
use std::marker::PhantomData;
use std::os::fd::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use napi::sys;

/// `UV_POLL` in libuv's `uv_handle_type`.
const UV_POLL: c_int = 8;
/// `UV_PREPARE` in libuv's `uv_handle_type`.
const UV_PREPARE: c_int = 9;
/// `UV_ASYNC` in libuv's `uv_handle_type`.
const UV_ASYNC: c_int = 1;
/// `UV_IDLE` in libuv's `uv_handle_type`.
const UV_IDLE: c_int = 6;
/// Poll for readability.
pub const READABLE: i32 = 1;
/// Poll for writability.
pub const WRITABLE: i32 = 2;

type UvPollCb = unsafe extern "C" fn(handle: *mut c_void, status: c_int, events: c_int);
type UvCloseCb = unsafe extern "C" fn(handle: *mut c_void);
type UvPrepareCb = unsafe extern "C" fn(handle: *mut c_void);
type UvAsyncCb = unsafe extern "C" fn(handle: *mut c_void);

extern "C" {
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_poll_init(event_loop: *mut sys::uv_loop_s, handle: *mut c_void, fd: c_int) -> c_int;
    fn uv_poll_start(handle: *mut c_void, events: c_int, cb: UvPollCb) -> c_int;
    fn uv_poll_stop(handle: *mut c_void) -> c_int;
    fn uv_is_active(handle: *const c_void) -> c_int;
    fn uv_prepare_init(event_loop: *mut sys::uv_loop_s, handle: *mut c_void) -> c_int;
    fn uv_prepare_start(handle: *mut c_void, cb: UvPrepareCb) -> c_int;
    fn uv_prepare_stop(handle: *mut c_void) -> c_int;
    fn uv_idle_init(event_loop: *mut sys::uv_loop_s, handle: *mut c_void) -> c_int;
    fn uv_idle_start(handle: *mut c_void, cb: UvPrepareCb) -> c_int;
    fn uv_idle_stop(handle: *mut c_void) -> c_int;
    fn uv_async_init(event_loop: *mut sys::uv_loop_s, handle: *mut c_void, cb: UvAsyncCb) -> c_int;
    fn uv_async_send(handle: *mut c_void) -> c_int;
    fn uv_close(handle: *mut c_void, cb: UvCloseCb);
    fn uv_ref(handle: *mut c_void);
    fn uv_unref(handle: *mut c_void);
}

/// The environment (JS thread) a handle lives on: a `napi_env` known to be valid, because it can
/// only be made from napi-rs's `Env` of a running call.
#[derive(Clone, Copy)]
pub struct RawEnv(sys::napi_env);

impl RawEnv {
    /// The environment of a running raw Node-API callback.
    ///
    /// # Safety
    /// `env` is the live environment of the running call, on its thread.
    pub unsafe fn from_raw(env: sys::napi_env) -> Self {
        RawEnv(env)
    }

    /// The `napi_env` itself.
    pub fn raw(self) -> sys::napi_env {
        self.0
    }
}

impl From<&napi::Env> for RawEnv {
    fn from(env: &napi::Env) -> Self {
        RawEnv(env.raw())
    }
}

/// What a [`Poll`] calls when its descriptor is ready.
pub trait PollHandler {
    /// `status` is 0 or a negative errno; `events` is a mask of [`READABLE`] and [`WRITABLE`].
    fn on_poll(&self, status: i32, events: i32);
}

/// A `uv_poll_t` watching one descriptor on the environment's event loop.
///
/// The handle's `data` holds a strong `Rc` to its target, released in the close callback, so the
/// target outlives every callback libuv can still make. Dropping the `Poll` stops and closes it;
/// its memory is freed in libuv's close callback, never before.
pub struct Poll<T: PollHandler> {
    raw: *mut c_void,
    /// What the handle was last asked to watch.
    events: Cell<i32>,
    _target: PhantomData<T>,
}

impl<T: PollHandler> Poll<T> {
    /// Initialises a poll handle for `fd` on `env`'s loop (not started yet).
    ///
    /// # Errors
    /// The loop cannot be found, memory is short, or libuv refuses the descriptor.
    pub fn new(env: RawEnv, fd: RawFd, target: Rc<T>) -> io::Result<Self> {
        let raw = new_handle(env, UV_POLL, target, |event_loop, raw| {
            // SAFETY: `raw` is a zeroed block of uv_handle_size(UV_POLL) bytes; the loop is live.
            unsafe { uv_poll_init(event_loop, raw, fd) }
        })?;
        Ok(Poll {
            raw,
            events: Cell::new(0),
            _target: PhantomData,
        })
    }

    /// Watches for `events` (starting, or changing what a started handle watches); with no
    /// events, stops watching, which also stops keeping the loop alive. Asking for what is
    /// already watched costs nothing (a stop is a system call): the handle is left alone unless
    /// libuv stopped it meanwhile (it does on a socket error).
    pub fn watch(&self, events: i32) -> i32 {
        // SAFETY: `raw` is an initialised, not yet closed poll handle.
        let active = unsafe { uv_is_active(self.raw) } != 0;
        if events == self.events.get() && active == (events != 0) {
            return 0;
        }
        // SAFETY: as above.
        let status = unsafe {
            if events == 0 {
                uv_poll_stop(self.raw)
            } else {
                uv_poll_start(self.raw, events, on_poll::<T>)
            }
        };
        if status == 0 {
            self.events.set(events);
        }
        status
    }

    /// `uv_ref` / `uv_unref`: whether this handle keeps the process alive while active.
    pub fn set_ref(&self, on: bool) {
        set_handle_ref(self.raw, on);
    }
}

impl<T: PollHandler> Drop for Poll<T> {
    fn drop(&mut self) {
        // SAFETY: `raw` is initialised and closed exactly once, here (closing a poll handle stops
        // it); libuv frees nothing itself, on_close does, after the loop has let go of the handle.
        unsafe { uv_close(self.raw, on_close::<T>) }
    }
}

unsafe extern "C" fn on_poll<T: PollHandler>(handle: *mut c_void, status: c_int, events: c_int) {
    // SAFETY: `data` holds the Rc set in Poll::new, alive until on_close.
    let target = unsafe { &*(*(handle as *mut *const T)) };
    // A panic must not unwind into libuv (and none is expected: the crate denies them); if one
    // happens anyway, this wakeup is dropped rather than the process aborted.
    let _ = catch_unwind(AssertUnwindSafe(|| target.on_poll(status, events)));
}

/// `uv_ref` / `uv_unref` on `raw`, an initialised handle that is not closed yet (every handle
/// type here keeps its `raw` so until its drop closes it).
fn set_handle_ref(raw: *mut c_void, on: bool) {
    // SAFETY: the callers pass their own `raw`, initialised and not yet closed.
    unsafe {
        if on {
            uv_ref(raw)
        } else {
            uv_unref(raw)
        }
    }
}

/// Allocates and initialises a handle of `kind` on `env`'s loop with `init`, and stores a strong
/// `Rc` to `target` in its `data` (released by [`on_close`]).
fn new_handle<T>(
    env: RawEnv,
    kind: c_int,
    target: Rc<T>,
    init: impl FnOnce(*mut sys::uv_loop_s, *mut c_void) -> c_int,
) -> io::Result<*mut c_void> {
    let mut event_loop = ptr::null_mut();
    // SAFETY: `env` is the live environment of the calling JS thread.
    let status = unsafe { sys::napi_get_uv_event_loop(env.0, &mut event_loop) };
    if status != sys::Status::napi_ok || event_loop.is_null() {
        return Err(io::Error::other("no libuv loop for this environment"));
    }
    // SAFETY: uv_handle_size only reads a table; calloc returns zeroed memory or null.
    let raw = unsafe { libc::calloc(1, uv_handle_size(kind)) };
    if raw.is_null() {
        return Err(io::Error::from_raw_os_error(libc::ENOMEM));
    }
    let rc = init(event_loop, raw);
    if rc != 0 {
        // SAFETY: libuv did not register the handle, so the memory is still only ours.
        unsafe { libc::free(raw) };
        return Err(io::Error::from_raw_os_error(-rc));
    }
    // SAFETY: `data` is the first field of every uv handle; the Rc is released in on_close.
    unsafe { *(raw as *mut *const T) = Rc::into_raw(target) };
    Ok(raw)
}

/// What a [`Prepare`] calls once per loop iteration while started, just before the loop polls.
pub trait PrepareHandler {
    /// The loop is about to poll.
    fn on_prepare(&self);
}

/// A `uv_prepare_t`: runs its target once per loop iteration, before the poll phase, while
/// started. Dropping it stops and closes it; its memory is freed in libuv's close callback.
pub struct Prepare<T: PrepareHandler> {
    raw: *mut c_void,
    _target: PhantomData<T>,
}

impl<T: PrepareHandler> Prepare<T> {
    /// Initialises a prepare handle on `env`'s loop (not started yet).
    ///
    /// # Errors
    /// The loop cannot be found or memory is short.
    pub fn new(env: RawEnv, target: Rc<T>) -> io::Result<Self> {
        let raw = new_handle(env, UV_PREPARE, target, |event_loop, raw| {
            // SAFETY: `raw` is a zeroed block of uv_handle_size(UV_PREPARE) bytes; the loop is
            // live.
            unsafe { uv_prepare_init(event_loop, raw) }
        })?;
        Ok(Prepare {
            raw,
            _target: PhantomData,
        })
    }

    /// Starts (runs before each poll phase) or stops it.
    pub fn run(&self, on: bool) {
        // SAFETY: `raw` is an initialised, not yet closed prepare handle.
        unsafe {
            if on {
                uv_prepare_start(self.raw, on_prepare::<T>);
            } else {
                uv_prepare_stop(self.raw);
            }
        }
    }

    /// `uv_ref` / `uv_unref`: whether this handle keeps the process alive while started.
    pub fn set_ref(&self, on: bool) {
        set_handle_ref(self.raw, on);
    }
}

impl<T: PrepareHandler> Drop for Prepare<T> {
    fn drop(&mut self) {
        // SAFETY: `raw` is initialised and closed exactly once, here; on_close frees it after
        // the loop has let go of it.
        unsafe {
            uv_prepare_stop(self.raw);
            uv_close(self.raw, on_close::<T>);
        }
    }
}

unsafe extern "C" fn on_prepare<T: PrepareHandler>(handle: *mut c_void) {
    // SAFETY: `data` holds the Rc set in Prepare::new, alive until on_close.
    let target = unsafe { &*(*(handle as *mut *const T)) };
    // As in on_poll: a panic must not unwind into libuv.
    let _ = catch_unwind(AssertUnwindSafe(|| target.on_prepare()));
}

/// A started `uv_idle_t`: while one is, the loop polls without blocking. It calls nothing: the
/// callback stops it again. Dropping it stops and closes it.
pub struct Idle {
    raw: *mut c_void,
}

/// An idle handle's target: none (its callback only stops it).
struct NoTarget;

impl Idle {
    /// Initialises an idle handle on `env`'s loop (not started, not referenced).
    ///
    /// # Errors
    /// The loop cannot be found or memory is short.
    pub fn new(env: RawEnv) -> io::Result<Self> {
        let raw = new_handle(env, UV_IDLE, Rc::new(NoTarget), |event_loop, raw| {
            // SAFETY: `raw` is a zeroed block of uv_handle_size(UV_IDLE) bytes; the loop is live.
            unsafe { uv_idle_init(event_loop, raw) }
        })?;
        set_handle_ref(raw, false);
        Ok(Idle { raw })
    }

    /// Starts it until the loop's next idle phase, which stops it again: the poll phase in
    /// between does not block.
    pub fn once(&self) {
        // SAFETY: `raw` is an initialised, not yet closed idle handle.
        unsafe { uv_idle_start(self.raw, on_idle) };
    }
}

impl Drop for Idle {
    fn drop(&mut self) {
        // SAFETY: `raw` is initialised and closed exactly once, here; on_close frees it after
        // the loop has let go of it.
        unsafe {
            uv_idle_stop(self.raw);
            uv_close(self.raw, on_close::<NoTarget>);
        }
    }
}

unsafe extern "C" fn on_idle(handle: *mut c_void) {
    // SAFETY: libuv calls this with the started handle, initialised and not yet closed.
    unsafe { uv_idle_stop(handle) };
}

/// What an [`Async`] calls on its loop's thread after [`AsyncSender::send`] (several sends before
/// the loop gets to it make one call).
pub trait AsyncHandler {
    /// Woken.
    fn on_async(&self);
}

/// A `uv_async_t`: lets another thread wake the loop's thread. Active (keeps the process alive
/// while referenced) from creation until dropped. Dropping it closes it; its memory is freed in
/// libuv's close callback.
pub struct Async<T: AsyncHandler> {
    raw: *mut c_void,
    sender: AsyncSender,
    _target: PhantomData<T>,
}

/// The handle's address, for another thread's `uv_async_send`.
struct RawAsync(*mut c_void);

// SAFETY: the address is only used for uv_async_send, which libuv documents as safe to call from
// any thread, and only while the handle is open (see AsyncSender::send).
unsafe impl Send for RawAsync {}

/// Wakes an [`Async`] from any thread; does nothing once the `Async` is dropped.
#[derive(Clone)]
pub struct AsyncSender(Arc<Mutex<Option<RawAsync>>>);

impl AsyncSender {
    /// Wakes the loop's thread, which calls the handle's target soon.
    pub fn send(&self) {
        if let Ok(raw) = self.0.lock() {
            if let Some(raw) = raw.as_ref() {
                // SAFETY: the handle is open: Async's drop clears the address under this same
                // lock before it closes the handle.
                unsafe { uv_async_send(raw.0) };
            }
        }
    }
}

impl<T: AsyncHandler> Async<T> {
    /// Initialises an async handle on `env`'s loop.
    ///
    /// # Errors
    /// The loop cannot be found or memory is short.
    pub fn new(env: RawEnv, target: Rc<T>) -> io::Result<Self> {
        let raw = new_handle(env, UV_ASYNC, target, |event_loop, raw| {
            // SAFETY: `raw` is a zeroed block of uv_handle_size(UV_ASYNC) bytes; the loop is
            // live.
            unsafe { uv_async_init(event_loop, raw, on_async::<T>) }
        })?;
        Ok(Async {
            raw,
            sender: AsyncSender(Arc::new(Mutex::new(Some(RawAsync(raw))))),
            _target: PhantomData,
        })
    }

    /// A sender for other threads.
    pub fn sender(&self) -> AsyncSender {
        self.sender.clone()
    }

    /// `uv_ref` / `uv_unref`: whether this handle keeps the process alive.
    pub fn set_ref(&self, on: bool) {
        set_handle_ref(self.raw, on);
    }
}

impl<T: AsyncHandler> Drop for Async<T> {
    fn drop(&mut self) {
        // No other thread can wake the handle once this returns (a poisoned lock still guards
        // the address: take it all the same).
        let mut raw = match self.sender.0.lock() {
            Ok(raw) => raw,
            Err(poisoned) => poisoned.into_inner(),
        };
        raw.take();
        drop(raw);
        // SAFETY: `raw` is initialised and closed exactly once, here; on_close frees it after
        // the loop has let go of it.
        unsafe { uv_close(self.raw, on_close::<T>) };
    }
}

unsafe extern "C" fn on_async<T: AsyncHandler>(handle: *mut c_void) {
    // SAFETY: `data` holds the Rc set in Async::new, alive until on_close.
    let target = unsafe { &*(*(handle as *mut *const T)) };
    // As in on_poll: a panic must not unwind into libuv.
    let _ = catch_unwind(AssertUnwindSafe(|| target.on_async()));
}

unsafe extern "C" fn on_close<T>(handle: *mut c_void) {
    // SAFETY: libuv is done with the handle; we take back the Rc and the memory given in new().
    unsafe {
        drop(Rc::from_raw(*(handle as *mut *const T)));
        libc::free(handle);
    }
}

/// A strong reference to a JavaScript value (a function, or the object functions are called on),
/// deleted on drop (on the JS thread, where all of this crate's handles live).
pub struct JsRef {
    env: sys::napi_env,
    reference: sys::napi_ref,
}

impl JsRef {
    /// Keeps `value` alive until this is dropped.
    ///
    /// # Safety
    /// `value` must be a live value of `env`, on `env`'s thread.
    pub unsafe fn new(env: RawEnv, value: sys::napi_value) -> Option<Self> {
        let mut reference = ptr::null_mut();
        // SAFETY: guaranteed by the caller.
        let status = unsafe { sys::napi_create_reference(env.0, value, 1, &mut reference) };
        (status == sys::Status::napi_ok).then_some(JsRef {
            env: env.0,
            reference,
        })
    }
}

impl Drop for JsRef {
    fn drop(&mut self) {
        // SAFETY: the reference was created on this env and is deleted once.
        unsafe { sys::napi_delete_reference(self.env, self.reference) };
    }
}

/// The async context JS callbacks run in (what `AsyncWrap` gives node:dgram's handle).
pub struct AsyncContext {
    env: sys::napi_env,
    context: sys::napi_async_context,
}

impl AsyncContext {
    /// A context named `name` (an async resource type, as async_hooks reports it), with
    /// `resource` as its async resource (what async_hooks' `init` and
    /// `executionAsyncResource()` see; Node-API holds it weakly), or a new object if none.
    ///
    /// # Safety
    /// `resource`, if any, is a live object of the running call on `env`'s thread.
    pub unsafe fn new(env: RawEnv, name: &str, resource: Option<sys::napi_value>) -> Option<Self> {
        let env = env.0;
        let mut name_value = ptr::null_mut();
        let mut context = ptr::null_mut();
        // SAFETY: called on the env's thread inside a napi call (a handle scope is open);
        // `resource` is live, as the caller promised.
        let ok = unsafe {
            sys::napi_create_string_utf8(
                env,
                name.as_ptr().cast(),
                name.len() as isize,
                &mut name_value,
            ) == sys::Status::napi_ok
                && sys::napi_async_init(
                    env,
                    resource.unwrap_or(ptr::null_mut()),
                    name_value,
                    &mut context,
                ) == sys::Status::napi_ok
        };
        ok.then_some(AsyncContext { env, context })
    }
}

impl Drop for AsyncContext {
    fn drop(&mut self) {
        // SAFETY: created by napi_async_init on this env; destroyed once.
        unsafe { sys::napi_async_destroy(self.env, self.context) };
    }
}

/// A handle scope opened from a libuv callback, to create values and call into JavaScript.
pub struct CallScope {
    env: sys::napi_env,
    scope: sys::napi_handle_scope,
}

impl CallScope {
    /// Opens a scope on `env` (from the env's own thread).
    pub fn open(env: RawEnv) -> Option<Self> {
        let env = env.0;
        let mut scope = ptr::null_mut();
        // SAFETY: called on the env's thread, outside any other napi call of this crate.
        let status = unsafe { sys::napi_open_handle_scope(env, &mut scope) };
        (status == sys::Status::napi_ok).then_some(CallScope { env, scope })
    }

    /// A new Buffer with its own copy of `data` (byteOffset 0, as node:dgram's).
    pub fn buffer_copy(&self, data: &[u8]) -> Option<sys::napi_value> {
        let mut value = ptr::null_mut();
        let mut copy = ptr::null_mut();
        // SAFETY: `data` is valid for its length; the scope is open.
        let status = unsafe {
            sys::napi_create_buffer_copy(
                self.env,
                data.len(),
                data.as_ptr().cast(),
                &mut copy,
                &mut value,
            )
        };
        (status == sys::Status::napi_ok).then_some(value)
    }

    /// A new ArrayBuffer with its own copy of `data`, for JavaScript to view as a Buffer
    /// (`lib/staging.js`'s `datagramBuffer`). A Buffer that Node-API makes (`buffer_copy`) costs
    /// a C++ typed array and a prototype change on V8's slow path; a view made in JavaScript is
    /// the optimized code's, and the Buffer is the same: its own ArrayBuffer, at offset 0.
    pub fn arraybuffer_copy(&self, data: &[u8]) -> Option<sys::napi_value> {
        let mut value = ptr::null_mut();
        let mut memory: *mut c_void = ptr::null_mut();
        // SAFETY: the scope is open; `memory` receives the new ArrayBuffer's bytes.
        let status =
            unsafe { sys::napi_create_arraybuffer(self.env, data.len(), &mut memory, &mut value) };
        if status != sys::Status::napi_ok {
            return None;
        }
        if !data.is_empty() && !memory.is_null() {
            // SAFETY: `memory` holds `data.len()` bytes of the new ArrayBuffer, which nothing
            // else can see yet; `data` is another allocation, valid for its length.
            unsafe { ptr::copy_nonoverlapping(data.as_ptr(), memory.cast::<u8>(), data.len()) };
        }
        Some(value)
    }

    /// A Buffer over `data` itself, with no copy. Falls back to a copy where Node refuses
    /// external memory. [`CallScope::detach`] must empty it before `data` changes.
    ///
    /// # Safety
    /// `data` must stay valid and unchanged until `detach` has been called on the result.
    pub unsafe fn buffer_borrowed(&self, data: &[u8]) -> Option<(sys::napi_value, bool)> {
        if data.is_empty() {
            return self.buffer_copy(data).map(|b| (b, false));
        }
        let mut value = ptr::null_mut();
        // SAFETY: `data` is valid for its length until detached (the caller's promise); no
        // finalizer, since the memory is not Node's to free.
        let status = unsafe {
            sys::napi_create_external_buffer(
                self.env,
                data.len(),
                data.as_ptr() as *mut c_void,
                None,
                ptr::null_mut(),
                &mut value,
            )
        };
        if status == sys::Status::napi_ok {
            Some((value, true))
        } else {
            self.buffer_copy(data).map(|b| (b, false))
        }
    }

    /// Takes a Buffer's memory away from JavaScript: the Buffer and every view of it become
    /// empty (length 0), and no JavaScript can read or write that memory any more. Returns
    /// whether it did.
    pub(crate) fn detach(&self, buffer: sys::napi_value) -> bool {
        let mut arraybuffer = ptr::null_mut();
        // SAFETY: `buffer` is a live Buffer (a Uint8Array) of this scope.
        unsafe {
            sys::napi_get_typedarray_info(
                self.env,
                buffer,
                ptr::null_mut(),
                ptr::null_mut(),
                ptr::null_mut(),
                &mut arraybuffer,
                ptr::null_mut(),
            ) == sys::Status::napi_ok
                && sys::napi_detach_arraybuffer(self.env, arraybuffer) == sys::Status::napi_ok
        }
    }

    /// An array of `values`.
    pub fn array(&self, values: &[sys::napi_value]) -> Option<sys::napi_value> {
        let mut array = ptr::null_mut();
        // SAFETY: the scope is open.
        let status =
            unsafe { sys::napi_create_array_with_length(self.env, values.len(), &mut array) };
        if status != sys::Status::napi_ok {
            return None;
        }
        for (i, &value) in values.iter().enumerate() {
            let i = u32::try_from(i).ok()?;
            // SAFETY: `array` and `value` are live values of this scope.
            if unsafe { sys::napi_set_element(self.env, array, i, value) } != sys::Status::napi_ok {
                return None;
            }
        }
        Some(array)
    }

    /// A string from ASCII text (IP addresses).
    pub fn string(&self, text: &str) -> Option<sys::napi_value> {
        let mut value = ptr::null_mut();
        // SAFETY: `text` is valid for its length; the scope is open.
        let status = unsafe {
            sys::napi_create_string_utf8(
                self.env,
                text.as_ptr().cast(),
                text.len() as isize,
                &mut value,
            )
        };
        (status == sys::Status::napi_ok).then_some(value)
    }

    /// A number from an unsigned integer (request ids).
    pub fn uint(&self, n: u32) -> Option<sys::napi_value> {
        let mut value = ptr::null_mut();
        // SAFETY: the scope is open.
        let status = unsafe { sys::napi_create_uint32(self.env, n, &mut value) };
        (status == sys::Status::napi_ok).then_some(value)
    }

    /// A number.
    pub fn int(&self, n: i32) -> Option<sys::napi_value> {
        let mut value = ptr::null_mut();
        // SAFETY: the scope is open.
        let status = unsafe { sys::napi_create_int32(self.env, n, &mut value) };
        (status == sys::Status::napi_ok).then_some(value)
    }

    /// A `bigint` from an unsigned 64-bit integer (receive timestamps).
    pub fn bigint_u64(&self, n: u64) -> Option<sys::napi_value> {
        let mut value = ptr::null_mut();
        // SAFETY: the scope is open.
        let status = unsafe { sys::napi_create_bigint_uint64(self.env, n, &mut value) };
        (status == sys::Status::napi_ok).then_some(value)
    }

    /// `true` or `false`.
    pub fn boolean(&self, b: bool) -> Option<sys::napi_value> {
        let mut value = ptr::null_mut();
        // SAFETY: the scope is open.
        let status = unsafe { sys::napi_get_boolean(self.env, b, &mut value) };
        (status == sys::Status::napi_ok).then_some(value)
    }

    /// `undefined`.
    pub fn undefined(&self) -> Option<sys::napi_value> {
        let mut value = ptr::null_mut();
        // SAFETY: the scope is open.
        let status = unsafe { sys::napi_get_undefined(self.env, &mut value) };
        (status == sys::Status::napi_ok).then_some(value)
    }

    /// The function `function` holds, and the receiver it is called on, for [`Self::call_callee`]:
    /// looked up once for all the calls a scope makes to it.
    pub fn callee(&self, function: &JsRef) -> Option<Callee> {
        self.callee_on(function, None)
    }

    /// As [`Self::callee`], called on `receiver` (`this`) where given, else on the global object.
    pub fn callee_on(&self, function: &JsRef, receiver: Option<&JsRef>) -> Option<Callee> {
        let mut func = ptr::null_mut();
        let mut this = ptr::null_mut();
        // SAFETY: the references belong to this env; the scope is open.
        let ok = unsafe {
            sys::napi_get_reference_value(self.env, function.reference, &mut func)
                == sys::Status::napi_ok
                && !func.is_null()
                && match receiver {
                    Some(r) => {
                        sys::napi_get_reference_value(self.env, r.reference, &mut this)
                            == sys::Status::napi_ok
                            && !this.is_null()
                    }
                    None => sys::napi_get_global(self.env, &mut this) == sys::Status::napi_ok,
                }
        };
        ok.then_some(Callee { func, this })
    }

    /// Calls `callee` through `napi_make_callback`, so that process.nextTick and microtasks
    /// queued by it run when it returns, as after any libuv callback in Node.
    ///
    /// An exception thrown by the function becomes an ordinary uncaught exception
    /// (`'uncaughtException'`, or exit code 1 with the stack on stderr), as in node:dgram.
    pub fn call_callee(&self, context: &AsyncContext, callee: &Callee, args: &[sys::napi_value]) {
        let mut result = ptr::null_mut();
        // SAFETY: the callee and context belong to this env and this scope; `args` outlives the
        // call.
        unsafe {
            let status = sys::napi_make_callback(
                self.env,
                context.context,
                callee.this,
                callee.func,
                args.len(),
                args.as_ptr(),
                &mut result,
            );
            if status == sys::Status::napi_pending_exception {
                let mut exception = ptr::null_mut();
                if sys::napi_get_and_clear_last_exception(self.env, &mut exception)
                    == sys::Status::napi_ok
                {
                    sys::napi_fatal_exception(self.env, exception);
                }
            }
        }
    }
}

/// A function to call and its receiver, valid in the [`CallScope`] that made them.
pub struct Callee {
    func: sys::napi_value,
    this: sys::napi_value,
}

impl Drop for CallScope {
    fn drop(&mut self) {
        // SAFETY: opened in `open` on this env, closed once, in LIFO order (scopes are locals).
        unsafe { sys::napi_close_handle_scope(self.env, self.scope) };
    }
}

/// What an environment cleanup hook does when its environment (a worker, or the main thread at
/// exit) is torn down with the target still open.
pub trait Teardown {
    /// Stops and closes everything the target holds on the environment's loop.
    fn teardown(&self);
}

/// An environment cleanup hook holding a strong `Rc` to its target, registered for good: its
/// target (a thread's state, `owner/thread.rs`, the one hook of a thread) lives as long as its
/// environment, so the hook is never removed, and runs once, at the environment's teardown.
///
/// Without it, a worker terminated with a socket open aborts the whole process (`uv_loop_close()
/// while having open handles`): Node closes only the handles it knows about.
pub struct CleanupHook<T: Teardown>(std::marker::PhantomData<*const T>);

impl<T: Teardown> CleanupHook<T> {
    /// Registers `target` for teardown of `env`.
    pub fn add(env: RawEnv, target: Rc<T>) -> Option<Self> {
        let env = env.0;
        let arg = Rc::into_raw(target);
        // SAFETY: `arg` stays valid until the hook runs, which releases it once.
        let status =
            unsafe { sys::napi_add_env_cleanup_hook(env, Some(run_hook::<T>), arg as *mut c_void) };
        if status == sys::Status::napi_ok {
            Some(CleanupHook(std::marker::PhantomData))
        } else {
            // SAFETY: not registered: the Rc is still ours to release.
            drop(unsafe { Rc::from_raw(arg) });
            None
        }
    }

    /// For the hook's own run: Node has already unregistered it and `run_hook` releases the Rc,
    /// so this only lets go of the registration without undoing it.
    pub fn forget_after_run(self) {}
}

unsafe extern "C" fn run_hook<T: Teardown>(arg: *mut c_void) {
    // SAFETY: `arg` is the Rc registered in CleanupHook::add; Node runs a hook once.
    let target = unsafe { Rc::from_raw(arg as *const T) };
    let _ = catch_unwind(AssertUnwindSafe(|| target.teardown()));
}
