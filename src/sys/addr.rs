//! A datagram's address, whichever family the socket is: an IP address and port (UDP), or a Unix
//! socket name (`AF_UNIX`, `SOCK_DGRAM`).
//!
//! [`Addr`] is a borrowed view, `Copy` and small (a Unix name is a slice of someone else's
//! bytes: the caller's path, or the read buffer's `sockaddr_un`), so the UDP hot path moves no
//! more than it did with `SocketAddr`. [`OwnedAddr`] keeps a copy for datagrams that outlive the
//! call (gathered, or queued behind a full socket buffer).

use std::ffi::OsStr;
use std::io;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;

use socket2::SockAddr;

/// The longest Unix socket name (`sun_path`), abstract names' leading NUL included.
pub const UNIX_NAME_MAX: usize = 108;

/// A destination or a sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addr<'a> {
    /// An IP address and port.
    Ip(SocketAddr),
    /// A Unix socket name: a file-system path, a Linux abstract name (its first byte NUL), or
    /// empty for an unnamed (unbound) sender. No terminating NUL.
    Unix(&'a [u8]),
}

impl Addr<'_> {
    /// The kernel's form of this address.
    ///
    /// # Errors
    /// A Unix name too long for `sun_path` (`ENAMETOOLONG`, as the kernel and libuv's pipes
    /// report it).
    pub fn sockaddr(&self) -> io::Result<SockAddr> {
        match *self {
            Addr::Ip(a) => Ok(SockAddr::from(a)),
            Addr::Unix(name) => unix_sockaddr(name),
        }
    }

    /// The IP address, if this is one.
    pub fn ip(&self) -> Option<SocketAddr> {
        match *self {
            Addr::Ip(a) => Some(a),
            Addr::Unix(_) => None,
        }
    }

    /// A copy that owns its bytes.
    pub fn to_owned(&self) -> OwnedAddr {
        match *self {
            Addr::Ip(a) => OwnedAddr::Ip(a),
            Addr::Unix(name) => OwnedAddr::Unix(name.into()),
        }
    }
}

impl From<SocketAddr> for Addr<'_> {
    fn from(a: SocketAddr) -> Self {
        Addr::Ip(a)
    }
}

/// An [`Addr`] that owns its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedAddr {
    /// An IP address and port.
    Ip(SocketAddr),
    /// A Unix socket name, as in [`Addr::Unix`].
    Unix(Box<[u8]>),
}

impl OwnedAddr {
    /// The borrowed view.
    pub fn as_addr(&self) -> Addr<'_> {
        match self {
            OwnedAddr::Ip(a) => Addr::Ip(*a),
            OwnedAddr::Unix(name) => Addr::Unix(name),
        }
    }
}

/// `sockaddr_un` for `name` (a leading NUL makes it a Linux abstract name, which has no
/// terminator and may hold further NULs).
///
/// # Errors
/// `ENAMETOOLONG` when it does not fit; `EINVAL` for an empty name (binding or sending to
/// nothing).
pub fn unix_sockaddr(name: &[u8]) -> io::Result<SockAddr> {
    if name.is_empty() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let fits = if name[0] == 0 {
        name.len() <= UNIX_NAME_MAX
    } else {
        name.len() < UNIX_NAME_MAX
    };
    if !fits {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    SockAddr::unix(OsStr::from_bytes(name))
        .map_err(|_| io::Error::from_raw_os_error(libc::ENAMETOOLONG))
}

/// The name in a Unix `sockaddr` the kernel reported with length `len`: empty for an unnamed
/// socket; a path without its terminating NUL; an abstract name whole (leading NUL included).
pub fn unix_name(addr: &libc::sockaddr_un, len: usize) -> &[u8] {
    let offset = std::mem::size_of::<libc::sa_family_t>();
    let path = &addr.sun_path[..len.saturating_sub(offset).min(addr.sun_path.len())];
    // SAFETY: c_char and u8 have the same size and alignment; the slice stays within `addr`.
    let bytes = unsafe { std::slice::from_raw_parts(path.as_ptr().cast::<u8>(), path.len()) };
    match bytes.first() {
        Some(0) => bytes,
        _ => bytes.split(|&b| b == 0).next().unwrap_or(&[]),
    }
}

/// The name of a socket2 Unix address (from `getsockname` / `getpeername`), as [`unix_name`].
pub fn unix_name_of(addr: &SockAddr) -> Option<Vec<u8>> {
    if addr.family() != libc::AF_UNIX as libc::sa_family_t {
        return None;
    }
    // SAFETY: the family is AF_UNIX, so the storage holds a sockaddr_un, which it is large and
    // aligned enough for.
    let un = unsafe { &*addr.as_ptr().cast::<libc::sockaddr_un>() };
    Some(unix_name(un, addr.len() as usize).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_names_round_trip_through_the_kernel_form() {
        for name in [&b"/tmp/x.sock"[..], b"\0abstract\0with nul"] {
            let sa = unix_sockaddr(name).unwrap();
            assert_eq!(unix_name_of(&sa).as_deref(), Some(name));
        }
        let ip: SocketAddr = "127.0.0.1:5".parse().unwrap();
        assert_eq!(unix_name_of(&SockAddr::from(ip)), None);
    }

    #[test]
    fn names_that_do_not_fit_are_refused() {
        let code = |n: &[u8]| unix_sockaddr(n).err().and_then(|e| e.raw_os_error());
        assert_eq!(code(&[b'a'; 107]), None);
        assert_eq!(code(&[b'a'; 108]), Some(libc::ENAMETOOLONG));
        let mut abstract_name = vec![b'a'; 108];
        abstract_name[0] = 0;
        assert_eq!(code(&abstract_name), None);
        assert_eq!(code(b""), Some(libc::EINVAL));
    }

    #[test]
    fn unnamed_and_path_names_read_as_the_kernel_writes_them() {
        // SAFETY: sockaddr_un is plain data; all-zero is valid.
        let mut un: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        un.sun_family = libc::AF_UNIX as libc::sa_family_t;
        assert_eq!(unix_name(&un, 0), b"");
        assert_eq!(unix_name(&un, 2), b"");
        for (i, b) in b"/a\0".iter().enumerate() {
            un.sun_path[i] = *b as libc::c_char;
        }
        // A path's length counts its terminator.
        assert_eq!(unix_name(&un, 2 + 3), b"/a");
    }
}
