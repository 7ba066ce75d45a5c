//! The calls made once per datagram sent (`udpSend`, `udpSendLater`, and the Unix handle's
//! `unixSend` and `unixTrySend`), once per batch (`udpSendBatch`), and those a program that opens a socket per query makes once
//! per query (`udpCreate`, `udpBind`, `udpRecvStart`, `udpClose`, `udpGetsockname`,
//! `udpGetpeername`), as raw Node-API callbacks that `lib/native.js` wraps as the handles'
//! methods.
//!
//! Why not `#[napi]` functions, as the handles' other calls are: napi-rs converts the arguments
//! into a `Vec` and a `String`. These read their arguments straight from Node-API, into the
//! stack, and find their handle by the number `lib/native.js` gave it
//! ([`crate::handle::registry`]).

use std::ffi::{c_char, c_void};
use std::io::IoSlice;
use std::ptr;
use std::rc::Rc;

use napi::bindgen_prelude::JsValue;
use napi::sys;

use crate::handle::{self, registry};
use crate::owner::{Completions, Functions, Owner};
use crate::unix_handle;
use crate::uv::RawEnv;

/// Room on the stack for a Unix socket name (`sun_path` holds 108 bytes); longer names are read
/// into the heap, and refused as too long.
const NAME_ROOM: usize = 128;
/// Buffers of one datagram read onto the stack; more go to the heap.
const STACK_PARTS: usize = 8;
/// Room for any IP literal JavaScript passes (the longest IPv6 with a zone is 61 bytes).
const IP_ROOM: usize = 64;

/// `udpSend(handleId, list, port, ip, id)`: see [`handle::send`].
///
/// # Safety
/// Called by Node-API with a live `env` and `info`, on the env's thread.
pub unsafe extern "C" fn send(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: as promised by the caller.
    unsafe {
        with_send_args(env, info, |core, parts, port, ip, id| {
            handle::send(core, parts, port, ip, id)
        })
    }
}

/// `udpSendLater(handleId, list, port, ip, id)`: see [`handle::send_later`].
///
/// # Safety
/// Called by Node-API with a live `env` and `info`, on the env's thread.
pub unsafe extern "C" fn send_later(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: as promised by the caller.
    unsafe {
        with_send_args(env, info, |core, parts, port, ip, id| {
            handle::send_later(core, parts, port, ip, id)
        })
    }
}

/// `udpSendBatch(handleId, data, segment, port, ip, id, out)`: see [`handle::send_batch`]; its
/// four results are written into `out`, a `Float64Array` of at least 4 (a result array made per
/// call cost as much as a quarter of a 64-datagram GSO send).
///
/// # Safety
/// Called by Node-API with a live `env` and `info`, on the env's thread.
pub unsafe extern "C" fn send_batch(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: as promised by the caller.
    let Some(argv) = (unsafe { arguments::<7>(env, info) }) else {
        return throw(env, c"cannot read the arguments");
    };
    // SAFETY: argv[0] is a live value of this call (`undefined` when not passed).
    let Some(core) = (unsafe { owner_of(env, argv[0]) }) else {
        return throw(env, c"sendBatch: no such UdpHandle");
    };
    // SAFETY: argv[1] is a live value of this call; the slice stays valid during it.
    let Some(data) = (unsafe { buffer(env, argv[1]) }) else {
        return throw(env, c"sendBatch: the data must be a Buffer");
    };
    let (mut segment, mut port, mut id) = (0u32, 0u32, 0u32);
    // SAFETY: argv[2], argv[3] and argv[5] are live values of this call.
    let numbers = unsafe {
        [
            sys::napi_get_value_uint32(env, argv[2], &mut segment),
            sys::napi_get_value_uint32(env, argv[3], &mut port),
            sys::napi_get_value_uint32(env, argv[5], &mut id),
        ]
    };
    if numbers.iter().any(|&status| status != sys::Status::napi_ok) {
        return throw(
            env,
            c"sendBatch: the segment size, port and id must be numbers",
        );
    }
    let mut room = [0u8; IP_ROOM];
    // SAFETY: argv[4] is a live value of this call.
    let Ok(ip) = (unsafe { ip_literal(env, argv[4], &mut room) }) else {
        return throw(env, c"sendBatch: the address must be a string or null");
    };
    // SAFETY: argv[6] is a live value of this call.
    let Some(out) = (unsafe { float64_array(env, argv[6], 4) }) else {
        return throw(env, c"sendBatch: the results need a Float64Array of 4");
    };
    let results = handle::send_batch(&core, data, segment, port, ip, id);
    for (slot, n) in out.iter_mut().zip(results) {
        // Counts of one buffer's datagrams and errnos: exact as f64.
        *slot = n as f64;
    }
    ptr::null_mut()
}

/// `unixSend(handleId, data, name, id)`: see [`unix_handle::send`]; `name` null for the
/// connected peer.
///
/// # Safety
/// Called by Node-API with a live `env` and `info`, on the env's thread.
pub unsafe extern "C" fn unix_send(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: as promised by the caller.
    unsafe {
        with_unix_send_args(env, info, |core, parts, name, id| {
            unix_handle::send(core, parts, name, id)
        })
    }
}

/// `unixTrySend(handleId, data, name)`: see [`unix_handle::try_send`].
///
/// # Safety
/// Called by Node-API with a live `env` and `info`, on the env's thread.
pub unsafe extern "C" fn unix_try_send(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: as promised by the caller.
    unsafe {
        with_unix_send_args(env, info, |core, parts, name, _| {
            unix_handle::try_send(core, parts, name)
        })
    }
}

/// Reads `(handleId, data, name[, id])`, runs `f` with the Unix handle's owner, and returns its
/// number. A closed handle's number answers `EBADF`, as a closed socket does; a wrong argument
/// is a thrown `TypeError`, never a crash.
///
/// # Safety
/// Called with a live `env` and `info` of a Node-API callback, on the env's thread.
unsafe fn with_unix_send_args(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    f: impl FnOnce(&Owner, &[IoSlice<'_>], Option<&[u8]>, u32) -> i64,
) -> sys::napi_value {
    // SAFETY: as promised by the caller.
    let Some(argv) = (unsafe { arguments::<4>(env, info) }) else {
        return throw(env, c"cannot read the arguments");
    };
    let mut stack = [IoSlice::new(&[]); STACK_PARTS];
    let mut heap = Vec::new();
    // SAFETY: argv[1] is a live value of this call; the slices stay valid during it.
    let Some(parts) = (unsafe { buffers(env, argv[1], &mut stack, &mut heap) }) else {
        return throw(env, c"send: the data must be a Buffer");
    };
    let mut room = [0u8; NAME_ROOM];
    let mut long = Vec::new();
    // SAFETY: argv[2] is a live value of this call.
    let Ok(name) = (unsafe { unix_name(env, argv[2], &mut room, &mut long) }) else {
        return throw(env, c"send: the name must be a string or null");
    };
    let mut id = 0u32;
    // SAFETY: argv[3] is a live value of this call (`undefined` for unixTrySend: id 0 then).
    let _ = unsafe { sys::napi_get_value_uint32(env, argv[3], &mut id) };
    let mut handle_id = 0u32;
    // SAFETY: argv[0] is a live value of this call.
    if unsafe { sys::napi_get_value_uint32(env, argv[0], &mut handle_id) } != sys::Status::napi_ok {
        return throw(env, c"send: no such UnixHandle");
    }
    match unix_handle::find(handle_id) {
        Some(core) => number(env, f(&core, parts, name, id)),
        None => number(env, i64::from(crate::sys::error::EBADF)),
    }
}

/// `name` as bytes: `None` for null or undefined; a string's UTF-8, in `room` when it fits, else
/// in `long`.
///
/// # Safety
/// `name` is a live value of the running call on `env`'s thread.
unsafe fn unix_name<'a>(
    env: sys::napi_env,
    name: sys::napi_value,
    room: &'a mut [u8; NAME_ROOM],
    long: &'a mut Vec<u8>,
) -> Result<Option<&'a [u8]>, ()> {
    // SAFETY: as promised by the caller.
    let Some(mut len) = (unsafe { optional_string_into(env, name, room)? }) else {
        return Ok(None);
    };
    if len < NAME_ROOM - 1 {
        return Ok(Some(&room[..len]));
    }
    // Perhaps cut short: the whole name, whose length a null buffer asks for.
    // SAFETY: with a null buffer the call only writes the length.
    let status =
        unsafe { sys::napi_get_value_string_utf8(env, name, ptr::null_mut(), 0, &mut len) };
    if status != sys::Status::napi_ok {
        return Err(());
    }
    long.resize(len + 1, 0);
    // SAFETY: `long` has len + 1 bytes, room for the name and its terminating NUL.
    let status = unsafe {
        sys::napi_get_value_string_utf8(
            env,
            name,
            long.as_mut_ptr() as *mut c_char,
            len + 1,
            &mut len,
        )
    };
    if status != sys::Status::napi_ok {
        return Err(());
    }
    Ok(Some(&long[..len]))
}

/// `udpCreate(family, handle)`: makes a handle for `family` (4 or 6), `handle` (the JavaScript
/// handle object) its async resource, and returns its number; see [`handle::create`]. A bad
/// family is a thrown error.
///
/// # Safety
/// Called by Node-API with a live `env` and `info`, on the env's thread.
pub unsafe extern "C" fn create(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: as promised by the caller.
    let Some([family, handle]) = (unsafe { arguments::<2>(env, info) }) else {
        return throw(env, c"cannot read the arguments");
    };
    let mut kind = sys::ValueType::napi_undefined;
    // SAFETY: a live value of this call.
    let typed = unsafe { sys::napi_typeof(env, handle, &mut kind) };
    let handle =
        (typed == sys::Status::napi_ok && kind == sys::ValueType::napi_object).then_some(handle);
    let mut family_number = 0u32;
    // SAFETY: a live value of this call.
    let read = unsafe { sys::napi_get_value_uint32(env, family, &mut family_number) };
    if read != sys::Status::napi_ok {
        return throw(env, c"udpCreate: expected (family)");
    }
    // SAFETY: `env` is the environment of the running call.
    let raw = unsafe { RawEnv::from_raw(env) };
    // SAFETY: `handle` is a live object of this call.
    match unsafe { handle::create(raw, family_number, handle) } {
        Ok(id) => number(env, i64::from(id)),
        Err(reason) => throw_error(env, reason),
    }
}

/// `udpBind(handleId, ip, port, flags)`: see [`handle::bind`]. Made once per socket, but a
/// socket per query makes it once per query.
///
/// # Safety
/// Called by Node-API with a live `env` and `info`, on the env's thread.
pub unsafe extern "C" fn bind(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: as promised by the caller.
    let Some(argv) = (unsafe { arguments::<4>(env, info) }) else {
        return throw(env, c"cannot read the arguments");
    };
    // SAFETY: argv[0] is a live value of this call.
    let Some(core) = (unsafe { owner_of(env, argv[0]) }) else {
        return throw(env, c"bind: no such UdpHandle");
    };
    let mut room = [0u8; IP_ROOM];
    let (mut port, mut flags) = (0u32, 0u32);
    // SAFETY: argv[1..4] are live values of this call.
    let (ip, port_ok, flags_ok) = unsafe {
        (
            ip_literal(env, argv[1], &mut room),
            sys::napi_get_value_uint32(env, argv[2], &mut port),
            sys::napi_get_value_uint32(env, argv[3], &mut flags),
        )
    };
    let (Ok(Some(ip)), sys::Status::napi_ok, sys::Status::napi_ok) = (ip, port_ok, flags_ok) else {
        return throw(env, c"bind: expected (handleId, ip string, port, flags)");
    };
    number(env, i64::from(handle::bind(&core, ip, port, flags)))
}

/// `udpClose(handleId, stats)`: closes the handle (see [`crate::owner::Owner::close`]), writes
/// its statistics at close into `stats` (a `Float64Array` of 6, see `Owner::stats`), and forgets
/// its number; returns the close's `[id, status, bytes, ...]` as an array.
///
/// # Safety
/// Called by Node-API with a live `env` and `info`, on the env's thread.
pub unsafe extern "C" fn close(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: as promised by the caller.
    let Some([id, stats]) = (unsafe { arguments::<2>(env, info) }) else {
        return throw(env, c"cannot read the arguments");
    };
    let mut handle_id = 0u32;
    // SAFETY: `id` is a live value of this call.
    let Some(core) = (unsafe { sys::napi_get_value_uint32(env, id, &mut handle_id) }
        == sys::Status::napi_ok)
        .then(|| registry::find(handle_id))
        .flatten()
    else {
        return throw(env, c"close: no such UdpHandle");
    };
    // SAFETY: `stats` is a live value of this call.
    let Some(out) = (unsafe { float64_array(env, stats, 6) }) else {
        return throw(env, c"close: the statistics need a Float64Array of 6");
    };
    // Read before closing: close lets go of what holds some of the counts.
    for (slot, n) in out.iter_mut().zip(core.stats()) {
        *slot = n as f64;
    }
    let ended = core.close();
    registry::forget(handle_id);
    let mut array = ptr::null_mut();
    // SAFETY: a live env on its thread; every value made here belongs to this call's scope.
    unsafe {
        if sys::napi_create_array_with_length(env, ended.len(), &mut array) != sys::Status::napi_ok
        {
            return throw(env, c"close: cannot make the result");
        }
        for (i, &n) in ended.iter().enumerate() {
            // A result left out would leave a send's callback never called.
            if sys::napi_set_element(env, array, i as u32, number(env, n)) != sys::Status::napi_ok {
                return throw(env, c"close: cannot fill the result");
            }
        }
    }
    array
}

/// The elements of `value`, a `Float64Array` of at least `min` elements.
///
/// # Safety
/// `value` is a live value of the running call on `env`'s thread; the slice must not outlive
/// that call (the array stays alive and in place during it).
unsafe fn float64_array<'a>(
    env: sys::napi_env,
    value: sys::napi_value,
    min: usize,
) -> Option<&'a mut [f64]> {
    let (mut kind, mut length, mut data) = (0, 0usize, ptr::null_mut());
    // SAFETY: the caller's promise; the call only writes the out-parameters.
    let status = unsafe {
        sys::napi_get_typedarray_info(
            env,
            value,
            &mut kind,
            &mut length,
            &mut data,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if status != sys::Status::napi_ok
        || kind != sys::TypedarrayType::float64_array
        || length < min
        || data.is_null()
    {
        return None;
    }
    // SAFETY: a Float64Array's data is `length` aligned f64s, alive and in place during the call.
    Some(unsafe { std::slice::from_raw_parts_mut(data.cast::<f64>(), length) })
}

/// `udpRecvStart(handleId, handle)`: starts delivering datagrams to `onmessage(buf, address,
/// port)` and receive errors to `onerror(errno)`; queued datagrams complete through
/// `onsend(id, status, bytes)`: the thread's functions (`udpSetCallbacks`), called on `handle`,
/// which the handle keeps until `close()`. Returns 0 or a negative errno.
///
/// # Safety
/// Called by Node-API with a live `env` and `info`, on the env's thread.
pub unsafe extern "C" fn recv_start(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: as promised by the caller.
    let Some([id, receiver]) = (unsafe { arguments::<2>(env, info) }) else {
        return throw(env, c"cannot read the arguments");
    };
    // SAFETY: `id` is a live value of this call.
    let Some(core) = (unsafe { owner_of(env, id) }) else {
        return throw(env, c"recvStart: no such UdpHandle");
    };
    let Some(functions) = registry::functions() else {
        return throw(env, c"recvStart: udpSetCallbacks has not been called");
    };
    // SAFETY: `receiver` is an argument of this call; `env` is its environment.
    match unsafe { core.recv_start(RawEnv::from_raw(env), Some(receiver), functions) } {
        Ok(status) => number(env, i64::from(status)),
        Err(_) => throw(env, c"recvStart: cannot keep the callbacks"),
    }
}

/// `udpSetCallbacks(onmessage, onerror, onsend)`: what every UDP handle of this thread reports
/// to, each call made on the handle (`this`); see [`recv_start`]. `lib/handle.js` calls it
/// once, when it loads.
///
/// # Safety
/// Called by Node-API with a live `env` and `info`, on the env's thread.
pub unsafe extern "C" fn set_callbacks(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: as promised by the caller.
    let Some(callbacks) = (unsafe { arguments::<3>(env, info) }) else {
        return throw(env, c"cannot read the arguments");
    };
    let is_function = |value| {
        let mut kind = 0;
        // SAFETY: `value` is a live value of this call.
        let status = unsafe { sys::napi_typeof(env, value, &mut kind) };
        status == sys::Status::napi_ok && kind == sys::ValueType::napi_function
    };
    if !callbacks.into_iter().all(is_function) {
        return throw(
            env,
            c"udpSetCallbacks: the three callbacks must be functions",
        );
    }
    // SAFETY: `env` is the environment of the running call.
    let raw = unsafe { RawEnv::from_raw(env) };
    // SAFETY: the functions are arguments of this call.
    match unsafe { Functions::new(raw, callbacks, None, Completions::Each) } {
        Some(functions) => {
            registry::set_functions(raw, functions);
            number(env, 0)
        }
        None => throw(env, c"udpSetCallbacks: cannot keep the callbacks"),
    }
}

/// `udpGetsockname(handleId, info)` / `udpGetpeername(handleId, info)`: the address as a
/// string, with its family (4 or 6) and port written into `info` (a `Float64Array` of 2); or a
/// negative errno. `lib/native.js` fills `{ address, family, port }` from them, as Node's
/// getsockname fills its object: setting the three properties from here made V8 look each name
/// up in its string table on every call.
///
/// # Safety
/// Called by Node-API with a live `env` and `info`, on the env's thread.
pub unsafe extern "C" fn getsockname(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: as promised by the caller.
    unsafe { address_of(env, info, false) }
}

/// See [`getsockname`].
///
/// # Safety
/// Called by Node-API with a live `env` and `info`, on the env's thread.
pub unsafe extern "C" fn getpeername(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: as promised by the caller.
    unsafe { address_of(env, info, true) }
}

/// [`getsockname`] and [`getpeername`].
///
/// # Safety
/// Called with a live `env` and `info` of a Node-API callback, on the env's thread.
unsafe fn address_of(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    peer: bool,
) -> sys::napi_value {
    // SAFETY: as promised by the caller.
    let Some([id, info_out]) = (unsafe { arguments::<2>(env, info) }) else {
        return throw(env, c"cannot read the arguments");
    };
    let name = if peer { c"getpeername" } else { c"getsockname" };
    // SAFETY: `id` is a live value of this call.
    let Some(core) = (unsafe { owner_of(env, id) }) else {
        return throw_with(env, name, c"no such UdpHandle");
    };
    // SAFETY: `info_out` is a live value of this call.
    let Some(out) = (unsafe { float64_array(env, info_out, 2) }) else {
        return throw_with(
            env,
            name,
            c"the address information needs a Float64Array of 2",
        );
    };
    let (ip, family, port) = match handle::socket_address(&core, peer) {
        Ok(found) => found,
        Err(errno) => return number(env, i64::from(errno)),
    };
    out[0] = if family == "IPv4" { 4.0 } else { 6.0 };
    out[1] = f64::from(port);
    let mut address = ptr::null_mut();
    // SAFETY: a live env on its thread; the string is valid for its length.
    let status = unsafe {
        sys::napi_create_string_utf8(env, ip.as_ptr().cast(), ip.len() as isize, &mut address)
    };
    if status != sys::Status::napi_ok {
        return throw_with(env, name, c"the address cannot be made a string");
    }
    address
}

/// The first `N` arguments of the running call (`undefined` where fewer were passed).
///
/// # Safety
/// `env` and `info` are those of the running Node-API callback, on the env's thread.
unsafe fn arguments<const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> Option<[sys::napi_value; N]> {
    let mut argc = N;
    let mut argv = [ptr::null_mut(); N];
    // SAFETY: `argv` has room for `argc` values; the call only writes what it reports.
    let status = unsafe {
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    (status == sys::Status::napi_ok).then_some(argv)
}

/// The owner of the live handle whose number `id` is.
///
/// # Safety
/// `id` is a live value of the running call on `env`'s thread.
unsafe fn owner_of(env: sys::napi_env, id: sys::napi_value) -> Option<Rc<Owner>> {
    let mut number = 0u32;
    // SAFETY: the caller's promise.
    match unsafe { sys::napi_get_value_uint32(env, id, &mut number) } {
        sys::Status::napi_ok => registry::find(number),
        _ => None,
    }
}

/// `n` as a JavaScript number of the running call's scope (null if it cannot be made).
fn number(env: sys::napi_env, n: i64) -> sys::napi_value {
    let mut value = ptr::null_mut();
    // SAFETY: a live env on its thread, inside a call.
    unsafe { sys::napi_create_int64(env, n, &mut value) };
    value
}

/// Reads `(handleId, list, port, ip, id)`, runs `f` with the handle's owner, and returns its
/// number; a wrong argument is a thrown `TypeError` (as the `#[napi]` conversions threw), never
/// a crash.
///
/// # Safety
/// Called with a live `env` and `info` of a Node-API callback, on the env's thread.
unsafe fn with_send_args(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    f: impl FnOnce(&Owner, &[IoSlice<'_>], u32, Option<&str>, u32) -> i64,
) -> sys::napi_value {
    // SAFETY: as promised by the caller.
    let Some(argv) = (unsafe { arguments::<5>(env, info) }) else {
        return throw(env, c"cannot read the arguments");
    };
    // SAFETY: argv[0] is a live value of this call (`undefined` when not passed).
    let Some(core) = (unsafe { owner_of(env, argv[0]) }) else {
        return throw(env, c"send: no such UdpHandle");
    };
    let mut stack = [IoSlice::new(&[]); STACK_PARTS];
    let mut heap = Vec::new();
    // SAFETY: argv[1] is a live value of this call; the slices stay valid during it.
    let Some(parts) = (unsafe { buffers(env, argv[1], &mut stack, &mut heap) }) else {
        return throw(
            env,
            c"send: the first argument must be a Buffer or an array of Buffers",
        );
    };
    let mut port = 0u32;
    // SAFETY: argv[2] is a live value of this call.
    if unsafe { sys::napi_get_value_uint32(env, argv[2], &mut port) } != sys::Status::napi_ok {
        return throw(env, c"send: the port must be a number");
    }
    let mut room = [0u8; IP_ROOM];
    // SAFETY: argv[3] is a live value of this call.
    let Ok(ip) = (unsafe { ip_literal(env, argv[3], &mut room) }) else {
        return throw(env, c"send: the address must be a string or null");
    };
    let mut id = 0u32;
    // SAFETY: argv[4] is a live value of this call (`undefined` when not passed).
    if unsafe { sys::napi_get_value_uint32(env, argv[4], &mut id) } != sys::Status::napi_ok {
        return throw(env, c"send: the request id must be a number");
    }
    number(env, f(&core, parts, port, ip, id))
}

/// The bytes of `value`, a Buffer (or any Uint8Array), or `None` for anything else.
///
/// # Safety
/// `value` is a live value of the running call on `env`'s thread; the slice must not outlive
/// that call (the Buffer stays alive and in place during it).
unsafe fn buffer<'a>(env: sys::napi_env, value: sys::napi_value) -> Option<&'a [u8]> {
    let mut data: *mut c_void = ptr::null_mut();
    let mut size = 0usize;
    // SAFETY: the caller's promise; the call only writes the out-parameters.
    if unsafe { sys::napi_get_buffer_info(env, value, &mut data, &mut size) }
        != sys::Status::napi_ok
    {
        return None;
    }
    Some(if size == 0 || data.is_null() {
        &[]
    } else {
        // SAFETY: a Buffer's memory is `size` bytes, alive and in place during the call.
        unsafe { std::slice::from_raw_parts(data as *const u8, size) }
    })
}

/// The bytes of `list`, a Buffer (the common case: one read, no array to walk) or an array of
/// Buffers, as the `sendmsg` parts of one datagram.
///
/// # Safety
/// `list` is a live value of the running call on `env`'s thread; the slices must not outlive
/// that call (the Buffers stay alive and in place during it).
unsafe fn buffers<'a>(
    env: sys::napi_env,
    list: sys::napi_value,
    stack: &'a mut [IoSlice<'a>; STACK_PARTS],
    heap: &'a mut Vec<IoSlice<'a>>,
) -> Option<&'a [IoSlice<'a>]> {
    // SAFETY: `value` is a value of this call's scope, and a Buffer's memory stays put while it
    // is alive.
    let bytes = |value: sys::napi_value| unsafe { buffer(env, value) }.map(IoSlice::new);
    if let Some(one) = bytes(list) {
        stack[0] = one;
        return Some(&stack[..1]);
    }
    let mut len = 0u32;
    // SAFETY: `list` is a live value of this call.
    if unsafe { sys::napi_get_array_length(env, list, &mut len) } != sys::Status::napi_ok {
        return None;
    }
    let len = len as usize;
    let part = |i: usize| -> Option<IoSlice<'a>> {
        let mut element = ptr::null_mut();
        // SAFETY: `list` is a live array; the element is a value of this call's scope.
        if unsafe { sys::napi_get_element(env, list, i as u32, &mut element) }
            != sys::Status::napi_ok
        {
            return None;
        }
        bytes(element)
    };
    if len <= STACK_PARTS {
        for (i, slot) in stack.iter_mut().take(len).enumerate() {
            *slot = part(i)?;
        }
        Some(&stack[..len])
    } else {
        for i in 0..len {
            heap.push(part(i)?);
        }
        Some(&heap[..])
    }
}

/// `ip` as text: `None` for null or undefined; an IP literal copied into `room`. A string too
/// long for any IP literal is returned cut short, which no address parses.
///
/// # Safety
/// `ip` is a live value of the running call on `env`'s thread.
unsafe fn ip_literal(
    env: sys::napi_env,
    ip: sys::napi_value,
    room: &mut [u8; IP_ROOM],
) -> Result<Option<&str>, ()> {
    // SAFETY: as promised by the caller.
    let Some(len) = (unsafe { optional_string_into(env, ip, room)? }) else {
        return Ok(None);
    };
    // A cut-off multi-byte character is left out: the text then fails to parse as an address.
    let text = &room[..len.min(IP_ROOM - 1)];
    Ok(Some(std::str::from_utf8(text).unwrap_or("")))
}

/// Copies the string `value` into `room` (UTF-8, cut short and NUL-terminated when too long):
/// its full length in bytes, or `None` for null or undefined.
///
/// # Safety
/// `value` is a live value of the running call on `env`'s thread.
unsafe fn optional_string_into(
    env: sys::napi_env,
    value: sys::napi_value,
    room: &mut [u8],
) -> Result<Option<usize>, ()> {
    let mut kind = 0;
    // SAFETY: `value` is a live value of this call.
    if unsafe { sys::napi_typeof(env, value, &mut kind) } != sys::Status::napi_ok {
        return Err(());
    }
    if kind == sys::ValueType::napi_null || kind == sys::ValueType::napi_undefined {
        return Ok(None);
    }
    let mut len = 0usize;
    // SAFETY: `room` has room.len() bytes; the call writes at most that, with its terminating NUL.
    let status = unsafe {
        sys::napi_get_value_string_utf8(
            env,
            value,
            room.as_mut_ptr() as *mut c_char,
            room.len(),
            &mut len,
        )
    };
    if status != sys::Status::napi_ok {
        return Err(());
    }
    Ok(Some(len))
}

/// Throws an `Error` and returns no value.
fn throw_error(env: sys::napi_env, message: &std::ffi::CStr) -> sys::napi_value {
    // SAFETY: a live env; `message` is NUL-terminated.
    unsafe { sys::napi_throw_error(env, ptr::null(), message.as_ptr()) };
    ptr::null_mut()
}

/// Throws a `TypeError` saying `call: problem` and returns no value.
fn throw_with(
    env: sys::napi_env,
    call: &std::ffi::CStr,
    problem: &std::ffi::CStr,
) -> sys::napi_value {
    let mut message = call.to_bytes().to_vec();
    message.extend_from_slice(b": ");
    message.extend_from_slice(problem.to_bytes());
    match std::ffi::CString::new(message) {
        Ok(message) => throw(env, &message),
        Err(_) => throw(env, problem),
    }
}

/// Throws a `TypeError` and returns no value.
fn throw(env: sys::napi_env, message: &std::ffi::CStr) -> sys::napi_value {
    // SAFETY: a live env; `message` is NUL-terminated.
    unsafe { sys::napi_throw_type_error(env, ptr::null(), message.as_ptr()) };
    ptr::null_mut()
}

/// Adds the calls above to the addon's exports, for `lib/native.js` to make them the handle's
/// methods.
///
/// # Errors
/// Node-API refuses to make or set a function.
#[napi_derive::napi(module_exports)]
pub fn fast_calls(exports: napi::bindgen_prelude::Object, env: napi::Env) -> napi::Result<()> {
    type Callback = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;
    let calls: [(&std::ffi::CStr, Callback); 12] = [
        (c"udpCreate", create),
        (c"udpSetCallbacks", set_callbacks),
        (c"udpSend", send),
        (c"udpSendLater", send_later),
        (c"udpSendBatch", send_batch),
        (c"udpBind", bind),
        (c"udpClose", close),
        (c"udpRecvStart", recv_start),
        (c"udpGetsockname", getsockname),
        (c"udpGetpeername", getpeername),
        (c"unixSend", unix_send),
        (c"unixTrySend", unix_try_send),
    ];
    for (name, callback) in calls {
        let mut function = ptr::null_mut();
        // SAFETY: a live env during module registration; `name` is NUL-terminated.
        let status = unsafe {
            sys::napi_create_function(
                env.raw(),
                name.as_ptr(),
                name.to_bytes().len() as isize,
                Some(callback),
                ptr::null_mut(),
                &mut function,
            )
        };
        napi::check_status!(status, "cannot make {:?}", name)?;
        // SAFETY: `exports` is the live exports object; `function` was just made.
        let status = unsafe {
            sys::napi_set_named_property(env.raw(), exports.raw(), name.as_ptr(), function)
        };
        napi::check_status!(status, "cannot export {:?}", name)?;
    }
    Ok(())
}
