//! Small datagrams reach JavaScript through a staging area instead of a Buffer made here.
//!
//! A Buffer made through Node-API has its bytes in memory of its own (`malloc`), which V8 frees
//! on another thread after a young-generation collection; for a 64-byte datagram that costs
//! several times the rest of its delivery. A Buffer of up to [`SMALL`] bytes made by JavaScript
//! (`Buffer.alloc`) lives in V8's heap instead, and is the same to its user: its own
//! `ArrayBuffer` of exactly its length, at offset 0, as node:dgram's. So a small datagram is
//! copied into a slot of a per-thread `Uint8Array` that `lib/handle.js` registers once, and
//! `onmessage` gets a number in place of the Buffer (`offset * 128 + length`); the JavaScript
//! side copies the bytes out into a Buffer of its own before anything else runs.
//!
//! The slots are written only just before the calls that read them: a group of at most
//! [`SLOTS`] datagrams is staged, then delivered. A delivery can nest in another (a `'message'`
//! listener that runs the loop, as `deasync` does); only the outermost one stages
//! ([`Delivering`]), so a nested one never overwrites slots whose calls are still to come.

use std::ptr;

use napi::sys;

use super::thread::{self, Area};
use crate::uv::RawEnv;

/// The largest datagram staged: V8 keeps typed arrays up to this size in its heap.
pub const SMALL: usize = 64;
/// Datagrams staged at once (one group of calls).
pub const SLOTS: usize = 16;

/// A delivery in progress on this thread, for as long as it lives.
pub struct Delivering(());

impl Delivering {
    /// Marks a delivery as begun.
    pub fn begin() -> Self {
        thread::with(|t| t.depth.set(t.depth.get() + 1));
        Delivering(())
    }
}

impl Drop for Delivering {
    fn drop(&mut self) {
        thread::with(|t| t.depth.set(t.depth.get().saturating_sub(1)));
    }
}

// This thread's staging area, and how many deliveries are in progress on it (more than one:
// nested), are kept in its `thread::Thread`.

/// Returns the staging area of `env` on this thread: the one registered before, or else
/// `array`, a `Uint8Array` of at least `SLOTS * SMALL` bytes, which becomes it. It is kept
/// alive (a reference never deleted: the environment frees it at its teardown).
///
/// One area per thread, whoever asks: every copy of the package's JavaScript loaded in the
/// thread (Jest makes one per test file) reads the datagrams the addon stages, and a copy that
/// brought an area of its own would read another copy's datagrams from the wrong bytes.
///
/// # Errors
/// `array` is not a `Uint8Array`, or is too short.
///
/// # Safety
/// `array` is a live value of the running call on `env`'s thread.
pub unsafe fn register(env: RawEnv, array: sys::napi_value) -> napi::Result<sys::napi_value> {
    let env = env.raw();
    if let Some(known) = thread::with(|t| t.area.get())
        .flatten()
        .filter(|known| known.env == env)
    {
        let mut value = ptr::null_mut();
        // SAFETY: the reference was made on this env and is never deleted.
        let status = unsafe { sys::napi_get_reference_value(env, known.array, &mut value) };
        napi::check_status!(status, "cannot read the staging area")?;
        return Ok(value);
    }
    let mut kind = 0;
    let mut length = 0usize;
    let mut data: *mut std::ffi::c_void = ptr::null_mut();
    let mut buffer = ptr::null_mut();
    let mut offset = 0usize;
    // SAFETY: the caller's promise.
    let status = unsafe {
        sys::napi_get_typedarray_info(
            env,
            array,
            &mut kind,
            &mut length,
            &mut data,
            &mut buffer,
            &mut offset,
        )
    };
    if status != sys::Status::napi_ok
        || kind != sys::TypedarrayType::uint8_array
        || length < SLOTS * SMALL
        || data.is_null()
    {
        return Err(napi::Error::from_reason(
            "the staging area must be a Uint8Array of at least 1,024 bytes",
        ));
    }
    let mut reference = ptr::null_mut();
    // SAFETY: as above; the reference keeps the array (and so its bytes, which V8 never moves
    // once they are outside its heap, as they are at this size) alive.
    let status = unsafe { sys::napi_create_reference(env, array, 1, &mut reference) };
    napi::check_status!(status, "cannot keep the staging area")?;
    thread::with(|t| {
        t.area.set(Some(Area {
            env,
            bytes: data.cast(),
            array: reference,
        }))
    });
    Ok(array)
}

/// Copies `bytes` into staging slot `slot` for `env`, and returns the number that tells
/// JavaScript where they are; `None` when they are too long, the slot does not exist, or `env`
/// has no staging area on this thread, or when the delivery is nested in another
/// (see [`Delivering`]).
pub fn stage(env: RawEnv, slot: usize, bytes: &[u8]) -> Option<i32> {
    if bytes.len() > SMALL || slot >= SLOTS || thread::with(|t| t.depth.get()).unwrap_or(2) > 1 {
        return None;
    }
    let Area {
        env: owner,
        bytes: area,
        ..
    } = thread::with(|t| t.area.get()).flatten()?;
    if owner != env.raw() {
        return None;
    }
    let offset = slot * SMALL;
    // SAFETY: the area has SLOTS * SMALL bytes (checked at registration) and is kept alive by
    // its reference; nothing reads it while this runs (JavaScript is not running), and
    // `offset + bytes.len()` stays within it.
    unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), area.add(offset), bytes.len()) };
    // At most 15 * 64 * 128 + 64: well within an i32.
    Some((offset * 128 + bytes.len()) as i32)
}
