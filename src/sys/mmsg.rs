//! `recvmmsg(2)` over one thread's reusable buffers, with every header reset before each call.
//!
//! Written against libc rather than nix: nix's `MultiHeaders` sets each header's address and
//! control lengths once, and the kernel shrinks them at every call to what it wrote, so a later
//! IPv6 sender's address or GRO segment size would arrive truncated. Resetting them is the whole
//! reason for this module.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use super::addr::{self, Addr};
use std::os::fd::RawFd;

/// Reads per call (libuv reads 32 datagrams per wakeup as well).
pub const SLOTS: usize = 32;
/// Large enough for any UDP payload (65,507 bytes over IPv4, 65,527 over IPv6), and for a GRO
/// batch, which the kernel caps at 64 KiB.
pub const SLOT_SIZE: usize = 65_536;

/// `UDP_GRO` (linux/udp.h): the control message carrying a GRO batch's segment size.
const UDP_GRO: libc::c_int = 104;
/// Room for one `int` control message, in `u64`s for `cmsghdr` alignment: what the kernel is
/// offered unless the socket asked for receive information.
const CONTROL_WORDS: usize = 8;
/// What each slot's control buffer holds: room for the receive information too.
const CONTROL_ROOM: usize = super::control::INFO_CONTROL_WORDS;

/// How one `recvmmsg` reads: the default is node:dgram's (whole datagrams, no metadata).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadMode {
    /// Offer the kernel room for the receive information (`receiveInfo`).
    pub info: bool,
    /// Bytes read of each datagram, at most [`SLOT_SIZE`]; a longer one is cut short (and
    /// flagged truncated). A `u32`, as `maxMessageSize` is: every socket keeps a mode, and a
    /// `usize` made it 8 bytes larger.
    pub size: u32,
}

impl ReadMode {
    /// Bytes read of each datagram, as a length.
    pub fn size(self) -> usize {
        self.size as usize
    }
}

impl Default for ReadMode {
    fn default() -> Self {
        ReadMode {
            info: false,
            size: SLOT_SIZE as u32,
        }
    }
}

/// One read buffer of [`SLOT_SIZE`] bytes in an anonymous mapping of its own: outside malloc's
/// heap, so the long-lived read buffers never pin the heap's top (which would keep the memory of
/// freed Buffers resident), and paged in only where the kernel writes.
struct Block {
    ptr: std::ptr::NonNull<u8>,
}

impl Block {
    fn map() -> io::Result<Block> {
        // SAFETY: an anonymous private mapping: no file, no aliasing; checked for failure.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SLOT_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        std::ptr::NonNull::new(ptr.cast())
            .map(|ptr| Block { ptr })
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))
    }

    /// The start of the buffer, for the kernel to write into.
    fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The first `len` bytes (at most [`SLOT_SIZE`]).
    fn bytes(&self, len: usize) -> &[u8] {
        // SAFETY: the mapping is SLOT_SIZE bytes, readable, and lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), len.min(SLOT_SIZE)) }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        // SAFETY: the mapping was made in `map` with this size and is unmapped once.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), SLOT_SIZE) };
    }
}

/// What one slot received.
pub struct Received<'a> {
    /// The bytes (a datagram, or a GRO batch of `segment`-size datagrams).
    pub payload: &'a [u8],
    /// The sender.
    pub from: Option<Addr<'a>>,
    /// The GRO segment size, when the kernel coalesced several datagrams.
    pub segment: Option<usize>,
    /// The receive information, when the read asked for it.
    pub info: Option<super::control::RecvInfo>,
}

/// Buffers and headers for one `recvmmsg` of up to [`SLOTS`] datagrams.
pub struct Reader {
    // (Raw pointers inside: see the `Send` impl below.)
    slots: Vec<Block>,
    headers: Vec<libc::mmsghdr>,
    iovecs: Vec<libc::iovec>,
    names: Vec<libc::sockaddr_storage>,
    controls: Vec<[u64; CONTROL_ROOM]>,
    received: usize,
    mode: ReadMode,
}

// SAFETY: every raw pointer in a Reader (the headers' name, iovec and control pointers, the
// blocks' mappings) points into memory the Reader itself owns and frees; nothing else refers to
// it. Moving the Reader to another thread (the background reader's) moves that ownership whole.
unsafe impl Send for Reader {}

impl Reader {
    /// Buffers and headers for [`SLOTS`] reads.
    ///
    /// # Errors
    /// No memory for the read buffers.
    pub fn new() -> io::Result<Reader> {
        let mut reader = Reader {
            slots: (0..SLOTS)
                .map(|_| Block::map())
                .collect::<io::Result<_>>()?,
            // SAFETY: these C structs are plain data for which all-zero is valid.
            headers: (0..SLOTS).map(|_| unsafe { std::mem::zeroed() }).collect(),
            // SAFETY: as above.
            iovecs: (0..SLOTS).map(|_| unsafe { std::mem::zeroed() }).collect(),
            // SAFETY: as above.
            names: (0..SLOTS).map(|_| unsafe { std::mem::zeroed() }).collect(),
            controls: vec![[0; CONTROL_ROOM]; SLOTS],
            received: 0,
            mode: ReadMode::default(),
        };
        for i in 0..SLOTS {
            reader.point(i);
        }
        Ok(reader)
    }
}

impl Reader {
    /// Points header `i` at its buffers, with their full lengths. The pointers never change (the
    /// vectors are never resized); the lengths are what the kernel shrinks.
    fn point(&mut self, i: usize) {
        let iov = &mut self.iovecs[i];
        iov.iov_base = self.slots[i].as_mut_ptr().cast();
        iov.iov_len = self.mode.size().clamp(1, SLOT_SIZE);
        let hdr = &mut self.headers[i].msg_hdr;
        hdr.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
        hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        hdr.msg_iov = iov;
        hdr.msg_iovlen = 1;
        hdr.msg_control = self.controls[i].as_mut_ptr().cast();
        // `as _`: the field is a usize on glibc and a u32 on musl.
        hdr.msg_controllen = (if self.mode.info {
            CONTROL_ROOM * 8
        } else {
            CONTROL_WORDS * 8
        }) as _;
        hdr.msg_flags = 0;
        self.headers[i].msg_len = 0;
    }

    /// One non-blocking `recvmmsg` on `fd` in `mode` (the read buffers are shared by a thread's
    /// sockets, each with its own mode); returns how many slots were filled.
    ///
    /// # Errors
    /// The socket's error (`EAGAIN` when nothing is waiting, a pending `ECONNREFUSED`...).
    pub fn recv_with(&mut self, fd: RawFd, mode: ReadMode) -> io::Result<usize> {
        // The kernel wrote only into the headers it filled last time: reset those (all of
        // them when the mode changed).
        let reset = if mode == self.mode {
            self.received
        } else {
            self.mode = mode;
            SLOTS
        };
        for i in 0..reset {
            self.point(i);
        }
        self.received = 0;
        // SAFETY: every header points into buffers owned by `self`, sized as declared, alive and
        // not otherwise borrowed for the duration of the call.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.headers.as_mut_ptr(),
                SLOTS as libc::c_uint,
                // An int on glibc, an unsigned int on musl. MSG_CMSG_CLOEXEC: a descriptor a
                // Unix peer passes is closed below, and no child process started in between
                // (by another thread) may inherit it.
                (libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC) as _,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        self.received = n as usize;
        for header in &self.headers[..self.received] {
            close_passed_descriptors(&header.msg_hdr);
        }
        Ok(self.received)
    }

    /// How many slots the last call filled.
    pub fn received(&self) -> usize {
        self.received
    }

    /// The payload bytes the last call received, all slots together.
    pub fn bytes(&self) -> usize {
        self.headers[..self.received]
            .iter()
            .map(|h| h.msg_len as usize)
            .sum()
    }

    /// What slot `i` of the last call received.
    pub fn slot(&self, i: usize) -> Option<Received<'_>> {
        if i >= self.received {
            return None;
        }
        let header = &self.headers[i];
        let payload = self.slots[i].bytes(header.msg_len as usize);
        Some(Received {
            payload,
            from: sender(&self.names[i], header.msg_hdr.msg_namelen as usize),
            segment: gro_segment(&header.msg_hdr),
            // SAFETY: the kernel filled this header in the last call.
            info: self
                .mode
                .info
                .then(|| unsafe { super::control::parse_receive_info(&header.msg_hdr) }),
        })
    }
}

/// A sender's address from the kernel's `sockaddr_storage` and the length it wrote. Only a Unix
/// datagram socket reports a sender with no address at all (an unbound sender: length 0), and
/// the storage then holds a previous read's family: it is an unnamed Unix sender.
fn sender(storage: &libc::sockaddr_storage, len: usize) -> Option<Addr<'_>> {
    if len <= std::mem::size_of::<libc::sa_family_t>() {
        return Some(Addr::Unix(&[]));
    }
    match libc::c_int::from(storage.ss_family) {
        libc::AF_UNIX => {
            // SAFETY: the family says the storage holds a sockaddr_un, which it is large and
            // aligned enough for.
            let un =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_un>() };
            Some(Addr::Unix(addr::unix_name(un, len)))
        }
        family => socket_addr(storage, family).map(Addr::Ip),
    }
}

/// An IP sender's address from the kernel's `sockaddr_storage`.
fn socket_addr(storage: &libc::sockaddr_storage, family: libc::c_int) -> Option<SocketAddr> {
    match family {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large and
            // aligned enough for.
            let a =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                u32::from_be(a.sin6_flowinfo),
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Closes every descriptor a Unix peer passed (`SCM_RIGHTS`) with a datagram: the kernel
/// installs them in this process as it reads, and none is ever used here. Kept, they were a
/// local peer's way to exhaust the process's descriptors (any local process can send to an
/// abstract name), and children inherited them. Descriptors that did not fit the control
/// buffer (`MSG_CTRUNC`) were never installed: the kernel drops them itself.
fn close_passed_descriptors(hdr: &libc::msghdr) {
    if hdr.msg_controllen == 0 {
        return;
    }
    // SAFETY: `hdr` was filled by recvmmsg; CMSG_* walk only within msg_control/msg_controllen,
    // and an SCM_RIGHTS message's data is its cmsg_len minus the header, in whole ints.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(hdr);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg).cast::<libc::c_int>();
                let len = ((*cmsg).cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
                for i in 0..len / std::mem::size_of::<libc::c_int>() {
                    libc::close(std::ptr::read_unaligned(data.add(i)));
                }
            }
            cmsg = libc::CMSG_NXTHDR(hdr, cmsg);
        }
    }
}

/// The `UDP_GRO` segment size among a header's control messages.
fn gro_segment(hdr: &libc::msghdr) -> Option<usize> {
    if hdr.msg_flags & libc::MSG_CTRUNC != 0 {
        return None;
    }
    // SAFETY: `hdr` was filled by recvmmsg; CMSG_* walk only within msg_control/msg_controllen.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(hdr);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_UDP && (*cmsg).cmsg_type == UDP_GRO {
                let size = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>());
                return usize::try_from(size).ok().filter(|&s| s > 0);
            }
            cmsg = libc::CMSG_NXTHDR(hdr, cmsg);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::IoSlice;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    use nix::sys::socket::{
        sendmsg, socketpair, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
    };

    /// How many of this process's descriptors name the memfd called `name`.
    fn open_copies(name: &str) -> usize {
        std::fs::read_dir("/proc/self/fd")
            .map(|dir| {
                dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                    .filter(|target| target.to_string_lossy().contains(name))
                    .count()
            })
            .unwrap_or(0)
    }

    /// Proves a read closes every descriptor a Unix peer passes with its datagrams: the memfd
    /// sent (under a name no other test uses) has no descriptor left in this process once its
    /// datagrams are read, whatever the read buffers held before.
    #[test]
    fn descriptors_passed_over_unix_sockets_are_closed() {
        let (tx, rx) = socketpair(
            AddressFamily::Unix,
            SockType::Datagram,
            None,
            SockFlag::SOCK_NONBLOCK,
        )
        .expect("socketpair");
        let name = "dgram-rs-scm-rights-test";
        let cname = std::ffi::CString::new(name).expect("name");
        // SAFETY: a valid NUL-terminated name; the result is checked.
        let memfd = unsafe { libc::memfd_create(cname.as_ptr(), 0) };
        assert!(memfd >= 0, "memfd_create");
        // SAFETY: memfd_create returned a new descriptor that nothing else owns.
        let memfd = unsafe { OwnedFd::from_raw_fd(memfd) };
        let fds = [memfd.as_raw_fd(); 4];
        for _ in 0..3 {
            sendmsg::<()>(
                tx.as_raw_fd(),
                &[IoSlice::new(b"x")],
                &[ControlMessage::ScmRights(&fds)],
                MsgFlags::empty(),
                None,
            )
            .expect("sendmsg");
        }
        drop(memfd);
        assert_eq!(open_copies(name), 0, "only the queued datagrams hold it");
        let mut reader = Reader::new().expect("reader");
        assert_eq!(
            reader
                .recv_with(rx.as_raw_fd(), ReadMode::default())
                .expect("recv"),
            3
        );
        assert_eq!(
            reader.slot(0).map(|s| s.payload.to_vec()),
            Some(b"x".to_vec())
        );
        assert_eq!(open_copies(name), 0, "every passed descriptor was closed");
    }
}
