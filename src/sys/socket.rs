//! UDP socket creation, addresses and options, through socket2.
//!
//! Every function here mirrors what libuv's `uv_udp_*` does on Linux for Node's `UDPWrap`, including
//! the order of its checks (a bad argument is `EINVAL` before a missing socket is `EBADF`), because
//! node:dgram's thrown errors are built from those numbers.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Bind flag: `IPV6_V6ONLY` (libuv's `UV_UDP_IPV6ONLY`).
pub const FLAG_IPV6ONLY: u32 = 1;
/// Bind flag: `SO_REUSEADDR` (libuv's `UV_UDP_REUSEADDR`).
pub const FLAG_REUSEADDR: u32 = 4;
/// Bind flag: `SO_REUSEPORT` (libuv's `UV_UDP_REUSEPORT`; Node 22.12+'s `reusePort`).
pub const FLAG_REUSEPORT: u32 = 8;

/// The address family a handle was created for (`'udp4'` or `'udp6'`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// IPv4 (`'udp4'`).
    V4,
    /// IPv6 (`'udp6'`).
    V6,
    /// Unix datagram sockets (`'unix_dgram'`: `AF_UNIX`, `SOCK_DGRAM`).
    Unix,
}

impl Family {
    /// The family for Node's numeric form (4 or 6), if it is one of them.
    pub fn from_number(n: u32) -> Option<Family> {
        match n {
            4 => Some(Family::V4),
            6 => Some(Family::V6),
            _ => None,
        }
    }

    fn domain(self) -> Domain {
        match self {
            Family::V4 => Domain::IPV4,
            Family::V6 => Domain::IPV6,
            Family::Unix => Domain::UNIX,
        }
    }
}

fn einval() -> io::Error {
    io::Error::from_raw_os_error(libc::EINVAL)
}

fn ebadf() -> io::Error {
    io::Error::from_raw_os_error(libc::EBADF)
}

/// Parses an IP literal of `family` with libuv's rules (`uv_ip4_addr` / `uv_ip6_addr`): an IPv6
/// literal may carry a `%zone` (interface name or index). Anything else is `EINVAL`.
pub fn parse_addr(family: Family, ip: &str, port: u16) -> io::Result<SocketAddr> {
    match family {
        Family::V4 => ip
            .parse::<Ipv4Addr>()
            .map(|a| SocketAddr::new(IpAddr::V4(a), port))
            .map_err(|_| einval()),
        Family::V6 => {
            let (addr, zone) = match ip.split_once('%') {
                Some((addr, zone)) => (addr, Some(zone)),
                None => (ip, None),
            };
            let addr = addr.parse::<Ipv6Addr>().map_err(|_| einval())?;
            let scope = zone.map(interface_index).unwrap_or(0);
            Ok(SocketAddr::V6(SocketAddrV6::new(addr, port, 0, scope)))
        }
        Family::Unix => Err(einval()),
    }
}

/// The index of a network interface given by name or number (0 when unknown, as libuv gives).
fn interface_index(zone: &str) -> u32 {
    if let Ok(n) = zone.parse::<u32>() {
        return n;
    }
    match std::ffi::CString::new(zone) {
        // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
        Ok(name) => unsafe { libc::if_nametoindex(name.as_ptr()) },
        Err(_) => 0,
    }
}

/// Formats an address as Node does for `rinfo` and `address()`: an IPv6 scope is appended as
/// `%name` (or `%index` when the interface has no name).
pub fn format_ip(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) if a.scope_id() == 0 => a.ip().to_string(),
        SocketAddr::V6(a) => format!("{}%{}", a.ip(), interface_name(a.scope_id())),
    }
}

fn interface_name(index: u32) -> String {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has IF_NAMESIZE bytes, as if_indextoname requires; on success it holds a
    // NUL-terminated name.
    let name = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if name.is_null() {
        return index.to_string();
    }
    // SAFETY: if_indextoname returned `buf`, now NUL-terminated.
    unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// A socket address as `(ip, port, is_ipv6)`, or `EINVAL` for a non-IP address.
pub fn split_sockaddr(addr: &SockAddr) -> io::Result<SocketAddr> {
    addr.as_socket().ok_or_else(einval)
}

/// Creates a non-blocking, close-on-exec datagram socket of `family` (UDP, or `AF_UNIX`).
pub fn create(family: Family) -> io::Result<Socket> {
    let protocol = match family {
        Family::Unix => None,
        Family::V4 | Family::V6 => Some(Protocol::UDP),
    };
    Socket::new(
        family.domain(),
        Type::DGRAM.nonblocking().cloexec(),
        protocol,
    )
}

/// Applies libuv's bind flags, then binds.
pub fn bind(socket: &Socket, addr: SocketAddr, flags: u32) -> io::Result<()> {
    if flags & FLAG_REUSEADDR != 0 {
        socket.set_reuse_address(true)?;
    }
    if flags & FLAG_REUSEPORT != 0 {
        socket.set_reuse_port(true)?;
    }
    if flags & FLAG_IPV6ONLY != 0 {
        if addr.is_ipv4() {
            // libuv refuses the flag on an IPv4 bind.
            return Err(einval());
        }
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())
}

/// Adopts an existing descriptor (`bind({ fd })`): it must be a UDP socket of `family`. A
/// descriptor that is not stays open and the caller's.
pub fn adopt(fd: RawFd, family: Family) -> io::Result<Socket> {
    check_udp(fd, family)?;
    // SAFETY: the caller hands the descriptor over (as libuv's uv_udp_open does).
    Ok(Socket::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Adopts a close-on-exec duplicate of `fd` (a cluster worker's shared socket, whose original
/// stays with Node's own handle). A duplicate that is refused is closed again.
pub fn adopt_duplicate(fd: RawFd, family: Family) -> io::Result<Socket> {
    // SAFETY: F_DUPFD_CLOEXEC only reads `fd`; an invalid one gives EBADF.
    let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if copy < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `copy` is a new descriptor that nothing else owns.
    let copy = unsafe { OwnedFd::from_raw_fd(copy) };
    check_udp(copy.as_raw_fd(), family)?;
    Ok(Socket::from(copy))
}

/// Checks that `fd` is an open UDP socket of `family` and makes it non-blocking.
fn check_udp(fd: RawFd, family: Family) -> io::Result<()> {
    // SAFETY: fcntl only inspects the descriptor; an invalid one gives EBADF.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // Borrow the descriptor to inspect it without taking ownership.
    // SAFETY: `fd` is open (checked above); ManuallyDrop keeps it open whatever happens here.
    let probe = std::mem::ManuallyDrop::new(unsafe { Socket::from_raw_fd(fd) });
    if probe.r#type()? != Type::DGRAM || probe.domain()? != family.domain() {
        return Err(einval());
    }
    probe.set_nonblocking(true)
}

/// `connect(2)`.
pub fn connect(socket: &Socket, addr: SocketAddr) -> io::Result<()> {
    socket.connect(&addr.into())
}

/// Dissolves a connection by connecting to `AF_UNSPEC`, as libuv's `uv_udp_connect(NULL)` does.
pub fn disconnect(socket: &Socket) -> io::Result<()> {
    // SAFETY: an all-zero sockaddr is a valid AF_UNSPEC address of the given length.
    let mut addr: libc::sockaddr = unsafe { std::mem::zeroed() };
    addr.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
    let len = std::mem::size_of::<libc::sockaddr>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr of `len` bytes for the duration of the call.
    let rc = unsafe { libc::connect(socket.as_raw_fd(), &addr, len) };
    match rc {
        0 => Ok(()),
        _ => match io::Error::last_os_error() {
            // Linux answers AF_UNSPEC with EAFNOSUPPORT on some kernels; libuv ignores it.
            e if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => Ok(()),
            e => Err(e),
        },
    }
}

/// `SO_MEMINFO` (asm-generic/socket.h: x86-64, aarch64 and most architectures; libc does not
/// export it).
const SO_MEMINFO: libc::c_int = 55;
/// Entries in `SO_MEMINFO`'s answer (`SK_MEMINFO_VARS`).
const SK_MEMINFO_VARS: usize = 9;

/// How many datagrams the kernel has dropped for this socket since it was created (`sk_drops`:
/// a full receive buffer, mostly). The same counter `SO_RXQ_OVFL` attaches to received
/// datagrams, read here at any moment and at no cost per datagram.
///
/// # Errors
/// The kernel refuses the query.
pub fn kernel_drops(socket: &Socket) -> io::Result<u32> {
    let info = meminfo(socket.as_fd())?;
    Ok(info[libc::SK_MEMINFO_DROPS as usize])
}

/// What waits in the socket's receive queue and its receive buffer, in bytes of kernel memory
/// (`SK_MEMINFO_RMEM_ALLOC`, `SK_MEMINFO_RCVBUF`).
///
/// # Errors
/// The kernel refuses the query.
pub fn receive_queue(fd: BorrowedFd<'_>) -> io::Result<(u32, u32)> {
    let info = meminfo(fd)?;
    Ok((
        info[libc::SK_MEMINFO_RMEM_ALLOC as usize],
        info[libc::SK_MEMINFO_RCVBUF as usize],
    ))
}

/// The socket's memory figures (`SO_MEMINFO`), indexed by the kernel's `SK_MEMINFO_*`.
fn meminfo(fd: BorrowedFd<'_>) -> io::Result<[u32; SK_MEMINFO_VARS]> {
    let mut info = [0u32; SK_MEMINFO_VARS];
    let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: `info` has room for `len` bytes, and the kernel writes at most `len` and updates it.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_MEMINFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info)
}

/// The socket options node:dgram exposes, with libuv's argument checks.
pub struct Options<'a> {
    socket: Option<&'a Socket>,
    family: Family,
}

impl<'a> Options<'a> {
    /// Options of `socket` (None before it exists: every setter then fails with `EBADF`).
    pub fn new(socket: Option<&'a Socket>, family: Family) -> Self {
        Options { socket, family }
    }

    fn socket(&self) -> io::Result<&'a Socket> {
        self.socket.ok_or_else(ebadf)
    }

    /// `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.socket()?.set_broadcast(on)
    }

    /// `IP_TTL` / `IPV6_UNICAST_HOPS`: 1..=255.
    pub fn set_ttl(&self, ttl: i32) -> io::Result<()> {
        if !(1..=255).contains(&ttl) {
            return Err(einval());
        }
        let s = self.socket()?;
        match self.family {
            Family::V4 => s.set_ttl_v4(ttl as u32),
            Family::V6 => s.set_unicast_hops_v6(ttl as u32),
            Family::Unix => Err(einval()),
        }
    }

    /// `IP_MULTICAST_TTL` / `IPV6_MULTICAST_HOPS`: 0..=255.
    pub fn set_multicast_ttl(&self, ttl: i32) -> io::Result<()> {
        if !(0..=255).contains(&ttl) {
            return Err(einval());
        }
        let s = self.socket()?;
        match self.family {
            Family::V4 => s.set_multicast_ttl_v4(ttl as u32),
            Family::V6 => s.set_multicast_hops_v6(ttl as u32),
            Family::Unix => Err(einval()),
        }
    }

    /// `IP_MULTICAST_LOOP` / `IPV6_MULTICAST_LOOP`.
    pub fn set_multicast_loopback(&self, on: bool) -> io::Result<()> {
        let s = self.socket()?;
        match self.family {
            Family::V4 => s.set_multicast_loop_v4(on),
            Family::V6 => s.set_multicast_loop_v6(on),
            Family::Unix => Err(einval()),
        }
    }

    /// `IP_MULTICAST_IF` / `IPV6_MULTICAST_IF` from an interface address of either family (an
    /// IPv6 one by its `%zone`); the option follows the address's family, as in libuv, so an IPv6
    /// address on an IPv4 socket is the kernel's `ENOPROTOOPT`.
    pub fn set_multicast_interface(&self, interface: &str) -> io::Result<()> {
        let addr = parse_addr(Family::V4, interface, 0)
            .or_else(|_| parse_addr(Family::V6, interface, 0))?;
        let s = self.socket()?;
        match addr {
            SocketAddr::V4(a) => s.set_multicast_if_v4(a.ip()),
            SocketAddr::V6(a) => s.set_multicast_if_v6(a.scope_id()),
        }
    }

    /// `IP_ADD_MEMBERSHIP` / `IP_DROP_MEMBERSHIP` (and the IPv6 pair).
    pub fn membership(&self, group: &str, interface: Option<&str>, join: bool) -> io::Result<()> {
        let group = parse_any(group)?;
        let s = self.socket()?;
        match group {
            IpAddr::V4(g) => {
                let iface = match interface {
                    Some(i) => i.parse::<Ipv4Addr>().map_err(|_| einval())?,
                    None => Ipv4Addr::UNSPECIFIED,
                };
                if join {
                    s.join_multicast_v4(&g, &iface)
                } else {
                    s.leave_multicast_v4(&g, &iface)
                }
            }
            IpAddr::V6(g) => {
                let index = match interface {
                    Some(i) => scope_of(i)?,
                    None => 0,
                };
                if join {
                    s.join_multicast_v6(&g, index)
                } else {
                    s.leave_multicast_v6(&g, index)
                }
            }
        }
    }

    /// Source-specific membership (`IP_ADD_SOURCE_MEMBERSHIP`, or `MCAST_JOIN_SOURCE_GROUP` for IPv6).
    pub fn source_membership(
        &self,
        source: &str,
        group: &str,
        interface: Option<&str>,
        join: bool,
    ) -> io::Result<()> {
        let (source, group) = (parse_any(source)?, parse_any(group)?);
        let s = self.socket()?;
        match (source, group) {
            (IpAddr::V4(src), IpAddr::V4(g)) => {
                let iface = match interface {
                    Some(i) => i.parse::<Ipv4Addr>().map_err(|_| einval())?,
                    None => Ipv4Addr::UNSPECIFIED,
                };
                if join {
                    s.join_ssm_v4(&src, &g, &iface)
                } else {
                    s.leave_ssm_v4(&src, &g, &iface)
                }
            }
            (IpAddr::V6(src), IpAddr::V6(g)) => {
                let index = match interface {
                    Some(i) => scope_of(i)?,
                    None => 0,
                };
                source_group_v6(s, src, g, index, join)
            }
            _ => Err(einval()),
        }
    }

    /// `SO_RCVBUF` / `SO_SNDBUF`: `size` 0 reads (the kernel reports twice what was set), else sets.
    pub fn buffer_size(&self, size: u32, recv: bool) -> io::Result<u32> {
        // libuv passes the size as a C int: larger ones are refused.
        if i32::try_from(size).is_err() {
            return Err(einval());
        }
        let s = self.socket()?;
        if size == 0 {
            let v = if recv {
                s.recv_buffer_size()?
            } else {
                s.send_buffer_size()?
            };
            return Ok(u32::try_from(v).unwrap_or(u32::MAX));
        }
        if recv {
            s.set_recv_buffer_size(size as usize)?;
        } else {
            s.set_send_buffer_size(size as usize)?;
        }
        Ok(size)
    }
}

/// An IP literal of either family (multicast groups are typed by their own literal, as in libuv).
pub fn parse_any(ip: &str) -> io::Result<IpAddr> {
    match parse_addr(Family::V4, ip, 0) {
        Ok(a) => Ok(a.ip()),
        Err(_) => parse_addr(Family::V6, ip, 0).map(|a| a.ip()),
    }
}

/// The scope (interface index) of an IPv6 interface address such as `::%lo`.
fn scope_of(interface: &str) -> io::Result<u32> {
    match parse_addr(Family::V6, interface, 0)? {
        SocketAddr::V6(a) => Ok(a.scope_id()),
        SocketAddr::V4(_) => Err(einval()),
    }
}

/// IPv6 source-specific membership: socket2 has no call for it, so this is the one setsockopt
/// written by hand (`MCAST_JOIN_SOURCE_GROUP` with a `group_source_req`, as libuv does).
fn source_group_v6(
    s: &Socket,
    source: Ipv6Addr,
    group: Ipv6Addr,
    interface: u32,
    join: bool,
) -> io::Result<()> {
    // SAFETY: group_source_req is plain old data; all-zero is a valid value.
    let mut req: libc::group_source_req = unsafe { std::mem::zeroed() };
    req.gsr_interface = interface;
    write_sockaddr_in6(&mut req.gsr_group, group);
    write_sockaddr_in6(&mut req.gsr_source, source);
    let opt = if join {
        libc::MCAST_JOIN_SOURCE_GROUP
    } else {
        libc::MCAST_LEAVE_SOURCE_GROUP
    };
    // SAFETY: `req` is a valid group_source_req of the given size for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IPV6,
            opt,
            (&req as *const libc::group_source_req).cast(),
            std::mem::size_of::<libc::group_source_req>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn write_sockaddr_in6(storage: &mut libc::sockaddr_storage, ip: Ipv6Addr) {
    let sa: SockAddr = SocketAddr::V6(SocketAddrV6::new(ip, 0, 0, 0)).into();
    let len = (sa.len() as usize).min(std::mem::size_of::<libc::sockaddr_storage>());
    // SAFETY: both regions are valid for `len` bytes and do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(
            sa.as_ptr().cast::<u8>(),
            (storage as *mut libc::sockaddr_storage).cast::<u8>(),
            len,
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_literals_of_the_handle_family_only() {
        assert!(parse_addr(Family::V4, "127.0.0.1", 1).is_ok());
        assert_eq!(
            parse_addr(Family::V4, "::1", 1).map_err(|e| e.raw_os_error()),
            Err(Some(libc::EINVAL))
        );
        assert!(parse_addr(Family::V6, "::1", 1).is_ok());
        assert!(parse_addr(Family::V6, "localhost", 1).is_err());
        let scoped = parse_addr(Family::V6, "fe80::1%1", 7).map_err(|e| e.kind());
        assert_eq!(scoped.map(|a| a.port()), Ok(7));
    }

    #[test]
    fn formats_addresses_as_node_does() {
        let format = |text: &str| text.parse::<SocketAddr>().map(|a| format_ip(&a)).ok();
        assert_eq!(format("10.1.2.3:5").as_deref(), Some("10.1.2.3"));
        assert_eq!(
            format("[::ffff:127.0.0.1]:5").as_deref(),
            Some("::ffff:127.0.0.1")
        );
    }

    #[test]
    fn options_before_the_socket_exists_check_arguments_first() {
        let opts = Options::new(None, Family::V4);
        let code = |r: io::Result<()>| r.err().and_then(|e| e.raw_os_error());
        assert_eq!(code(opts.set_ttl(0)), Some(libc::EINVAL));
        assert_eq!(code(opts.set_ttl(64)), Some(libc::EBADF));
        assert_eq!(code(opts.set_broadcast(true)), Some(libc::EBADF));
    }
}
