//! `io::Error` → negative errno, in one place.
//!
//! napi-rs's own `From<io::Error>` turns every system error into `GenericFailure` and loses the
//! errno; node:dgram's errors carry it (`errno`, `code`, a message like `bind EADDRINUSE
//! 0.0.0.0:1339`). So the handle returns negative errno numbers, as libuv does, and the JavaScript
//! layer builds the error exactly as Node builds it (`util.getSystemErrorName`).

use std::io;

/// The negative errno of `err`, as libuv reports it (`-98` for `EADDRINUSE`).
///
/// Errors that carry no OS code (built by Rust code rather than returned by a syscall) are mapped
/// from their kind, so that nothing is ever reported as 0 (success).
pub fn errno(err: &io::Error) -> i32 {
    if let Some(code) = err.raw_os_error() {
        return -code;
    }
    -match err.kind() {
        io::ErrorKind::WouldBlock => libc::EAGAIN,
        io::ErrorKind::Interrupted => libc::EINTR,
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => libc::EINVAL,
        io::ErrorKind::NotFound => libc::ENOENT,
        io::ErrorKind::PermissionDenied => libc::EACCES,
        io::ErrorKind::AddrInUse => libc::EADDRINUSE,
        io::ErrorKind::AddrNotAvailable => libc::EADDRNOTAVAIL,
        io::ErrorKind::ConnectionRefused => libc::ECONNREFUSED,
        io::ErrorKind::NotConnected => libc::ENOTCONN,
        io::ErrorKind::OutOfMemory => libc::ENOMEM,
        io::ErrorKind::Unsupported => libc::ENOSYS,
        _ => libc::EIO,
    }
}

/// The negative errno of a result: 0 for success.
pub fn status(result: io::Result<()>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => errno(&e),
    }
}

/// `-EBADF`: the operation needs the OS socket, which does not exist yet (or any more).
pub const EBADF: i32 = -libc::EBADF;

/// `-EINVAL`: an argument the kernel (or libuv before it) would refuse.
pub const EINVAL: i32 = -libc::EINVAL;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_keep_their_number() {
        let e = io::Error::from_raw_os_error(libc::EADDRINUSE);
        assert_eq!(errno(&e), -98);
        assert_eq!(errno(&io::Error::from_raw_os_error(libc::EMSGSIZE)), -90);
        assert_eq!(errno(&io::Error::from_raw_os_error(libc::EMFILE)), -24);
    }

    #[test]
    fn errors_without_a_number_map_from_their_kind_and_never_to_zero() {
        let e = io::Error::new(io::ErrorKind::InvalidInput, "bad");
        assert_eq!(errno(&e), -libc::EINVAL);
        assert_eq!(
            errno(&io::Error::from(io::ErrorKind::WouldBlock)),
            -libc::EAGAIN
        );
        assert_eq!(errno(&io::Error::other("x")), -libc::EIO);
    }

    #[test]
    fn status_is_zero_only_for_success() {
        assert_eq!(status(Ok(())), 0);
        assert_eq!(
            status(Err(io::Error::from_raw_os_error(libc::EBADF))),
            EBADF
        );
    }
}
