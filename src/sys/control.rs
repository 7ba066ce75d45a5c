//! Per-datagram metadata and send control, all opt-in: the socket options that make the kernel
//! attach receive information to each datagram, the parser of those control messages, the
//! per-send control messages (TOS / traffic class, source address), TOS, don't-fragment and
//! path MTU, and ICMP error reporting (`IP_RECVERR`, read from the error queue).
//!
//! Nothing here runs unless a socket asked for it: without `receiveInfo` the read's control
//! buffer is sized for the GRO segment size only, and without per-send options a send carries no
//! control message.
//!
//! A `udp6` socket is dual-stack: IPv4 datagrams reach it as IPv4-mapped addresses and the kernel
//! reports (and takes) their metadata with the IPv4 (`SOL_IP`) messages. So a `udp6` socket gets
//! both families' options, and both families' messages are understood.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};

use nix::sys::socket::{setsockopt, sockopt};
use socket2::Socket;

use super::socket::Family;

/// What the kernel reported about one received datagram (`receiveInfo`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecvInfo {
    /// The datagram's destination address (`IP_PKTINFO` / `IPV6_PKTINFO`).
    pub local: Option<IpAddr>,
    /// The interface it arrived on.
    pub interface: u32,
    /// The whole TOS / traffic-class byte (ECN in its two low bits).
    pub tos: Option<u8>,
    /// The TTL / hop limit it arrived with.
    pub ttl: Option<u8>,
    /// Kernel receive time, nanoseconds since the epoch (`SO_TIMESTAMPNS`).
    pub timestamp: Option<u64>,
    /// Longer than the read buffer: the bytes delivered are its beginning (`MSG_TRUNC`).
    pub truncated: bool,
}

impl RecvInfo {
    /// Whether two datagrams' information is the same but for the receive time (datagrams of
    /// one `'messages'` batch share it; the batch reports its first datagram's time).
    pub fn same_but_time(&self, other: &RecvInfo) -> bool {
        RecvInfo {
            timestamp: None,
            ..*self
        } == RecvInfo {
            timestamp: None,
            ..*other
        }
    }
}

/// Room for the control messages `receiveInfo` brings (packet info, TOS, TTL, timestamp) and the
/// GRO segment size, for either family, in `u64`s: 256 bytes, against the about 160 they need.
pub const INFO_CONTROL_WORDS: usize = 32;

/// Turns the receive information on for `socket`: destination address and interface, TOS /
/// traffic class, TTL / hop limit, receive timestamp.
///
/// # Errors
/// The kernel refuses an option of the socket's own family.
pub fn enable_receive_info(socket: &Socket, family: Family) -> io::Result<()> {
    let v4 = || -> io::Result<()> {
        setsockopt(socket, sockopt::Ipv4PacketInfo, &true)?;
        setsockopt(socket, sockopt::IpRecvTos, &true)?;
        setsockopt(socket, sockopt::Ipv4RecvTtl, &true)?;
        Ok(())
    };
    match family {
        // Unix datagram sockets have no IP options.
        Family::Unix => return Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP)),
        Family::V4 => v4()?,
        Family::V6 => {
            setsockopt(socket, sockopt::Ipv6RecvPacketInfo, &true)?;
            setsockopt(socket, sockopt::Ipv6RecvTClass, &true)?;
            setsockopt(socket, sockopt::Ipv6RecvHopLimit, &true)?;
            // IPv4-mapped traffic on a dual-stack socket; an IPv6-only socket may refuse.
            let _ = v4();
        }
    }
    setsockopt(socket, sockopt::ReceiveTimestampns, &true)?;
    Ok(())
}

/// Parses the receive information of a header `recvmmsg` filled.
///
/// # Safety
/// `hdr` was filled by the kernel: its control pointer and length describe valid memory.
pub unsafe fn parse_receive_info(hdr: &libc::msghdr) -> RecvInfo {
    let mut info = RecvInfo {
        truncated: hdr.msg_flags & libc::MSG_TRUNC != 0,
        ..RecvInfo::default()
    };
    // SAFETY: the caller's promise; CMSG_* walk only within msg_control/msg_controllen, and each
    // payload is read unaligned, at the size its type has.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(hdr);
        while !cmsg.is_null() {
            let data = libc::CMSG_DATA(cmsg);
            let len = (*cmsg).cmsg_len as usize;
            let int = || std::ptr::read_unaligned(data.cast::<libc::c_int>());
            match ((*cmsg).cmsg_level, (*cmsg).cmsg_type) {
                (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                    let p = std::ptr::read_unaligned(data.cast::<libc::in_pktinfo>());
                    let ip = Ipv4Addr::from(u32::from_be(p.ipi_addr.s_addr));
                    info.local = Some(IpAddr::V4(ip));
                    info.interface = u32::try_from(p.ipi_ifindex).unwrap_or(0);
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                    let p = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                    info.local = Some(IpAddr::V6(Ipv6Addr::from(p.ipi6_addr.s6_addr)));
                    info.interface = p.ipi6_ifindex;
                }
                // IP_TOS is one byte on receive.
                (libc::IPPROTO_IP, libc::IP_TOS) => info.tos = Some(*data),
                (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) => info.tos = u8::try_from(int()).ok(),
                (libc::IPPROTO_IP, libc::IP_TTL) => info.ttl = u8::try_from(int()).ok(),
                (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => info.ttl = u8::try_from(int()).ok(),
                (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS)
                    if len
                        >= libc::CMSG_LEN(std::mem::size_of::<libc::timespec>() as u32)
                            as usize =>
                {
                    let t = std::ptr::read_unaligned(data.cast::<libc::timespec>());
                    info.timestamp = u64::try_from(t.tv_sec)
                        .ok()
                        .zip(u64::try_from(t.tv_nsec).ok())
                        .map(|(s, ns)| s.saturating_mul(1_000_000_000).saturating_add(ns));
                }
                _ => {}
            }
            cmsg = libc::CMSG_NXTHDR(hdr, cmsg);
        }
    }
    info
}

/// An address as a socket of `family` reports it: IPv4 as IPv4-mapped on a `udp6` socket.
pub fn in_family(ip: IpAddr, family: Family) -> IpAddr {
    match (ip, family) {
        (IpAddr::V4(v4), Family::V6) => IpAddr::V6(v4.to_ipv6_mapped()),
        (ip, _) => ip,
    }
}

/// Reads one `int` socket option with `getsockopt`.
fn get_int(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are valid for writes of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}

/// Sets one `int` socket option with `setsockopt` (for the options neither socket2 nor nix
/// has: `IP_MTU_DISCOVER`, `IPV6_MTU_DISCOVER`, `IPV6_MTU`).
fn set_int(fd: RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `value` is a valid `int` for the size given.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the TOS byte (IPv4) or traffic class (IPv6; on a `udp6` socket the IPv4 TOS too, for
/// IPv4-mapped traffic). Values outside 0..=255 are `EINVAL`.
///
/// # Errors
/// `EINVAL` for a bad value, `EBADF` without a socket, or the kernel's.
pub fn set_tos(socket: Option<&Socket>, family: Family, tos: i32) -> io::Result<()> {
    let tos = u32::try_from(tos)
        .ok()
        .filter(|&t| t <= 255)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    let socket = socket.ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
    match family {
        // Unix datagram sockets have no IP options.
        Family::Unix => Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP)),
        Family::V4 => socket.set_tos_v4(tos),
        Family::V6 => {
            socket.set_tclass_v6(tos)?;
            let _ = socket.set_tos_v4(tos);
            Ok(())
        }
    }
}

/// The TOS byte (IPv4) or traffic class (IPv6) the socket sends with.
///
/// # Errors
/// `EBADF` without a socket, or the kernel's.
pub fn tos(socket: &Socket, family: Family) -> io::Result<u32> {
    match family {
        // Unix datagram sockets have no IP options.
        Family::Unix => Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP)),
        Family::V4 => socket.tos_v4(),
        Family::V6 => socket.tclass_v6(),
    }
}

/// Don't-fragment on (`IP_PMTUDISC_DO`: the DF bit set, sends larger than the path MTU fail with
/// `EMSGSIZE`) or off (`IP_PMTUDISC_DONT`: the kernel may fragment). IPv6 likewise
/// (`IPV6_MTU_DISCOVER`), and the IPv4 option too on a `udp6` socket.
///
/// # Errors
/// The kernel's.
pub fn set_dont_fragment(socket: &Socket, family: Family, on: bool) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    let v4 = if on {
        libc::IP_PMTUDISC_DO
    } else {
        libc::IP_PMTUDISC_DONT
    };
    let v6 = if on {
        libc::IPV6_PMTUDISC_DO
    } else {
        libc::IPV6_PMTUDISC_DONT
    };
    match family {
        // Unix datagram sockets have no IP options.
        Family::Unix => Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP)),
        Family::V4 => set_int(fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, v4),
        Family::V6 => {
            set_int(fd, libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER, v6)?;
            let _ = set_int(fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, v4);
            Ok(())
        }
    }
}

/// The path MTU the kernel knows for a connected socket's peer (`IP_MTU` / `IPV6_MTU`).
///
/// # Errors
/// `ENOTCONN` on an unconnected socket, or the kernel's.
pub fn path_mtu(socket: &Socket, family: Family) -> io::Result<u32> {
    let fd = socket.as_raw_fd();
    let mtu = match family {
        // Unix datagram sockets have no path MTU.
        Family::Unix => return Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP)),
        Family::V4 => get_int(fd, libc::IPPROTO_IP, libc::IP_MTU)?,
        Family::V6 => match socket.peer_addr()?.as_socket() {
            Some(SocketAddr::V6(a)) if a.ip().to_ipv4_mapped().is_some() => {
                get_int(fd, libc::IPPROTO_IP, libc::IP_MTU)?
            }
            _ => get_int(fd, libc::IPPROTO_IPV6, libc::IPV6_MTU)?,
        },
    };
    u32::try_from(mtu).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Turns ICMP error reporting on (`IP_RECVERR`; `IPV6_RECVERR` and, for IPv4-mapped traffic,
/// `IP_RECVERR` on a `udp6` socket): errors queue on the socket's error queue, for
/// [`read_error`].
///
/// # Errors
/// The kernel refuses the option of the socket's own family.
pub fn enable_receive_errors(socket: &Socket, family: Family) -> io::Result<()> {
    match family {
        // Unix datagram sockets have no IP options.
        Family::Unix => return Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP)),
        Family::V4 => setsockopt(socket, sockopt::Ipv4RecvErr, &true)?,
        Family::V6 => {
            setsockopt(socket, sockopt::Ipv6RecvErr, &true)?;
            let _ = setsockopt(socket, sockopt::Ipv4RecvErr, &true);
        }
    }
    Ok(())
}

/// One error from the socket's error queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueuedError {
    /// The error (`ECONNREFUSED` for a port unreachable...), positive.
    pub errno: i32,
    /// Where it came from: `SO_EE_ORIGIN_ICMP` (2), `SO_EE_ORIGIN_ICMP6` (3), `SO_EE_ORIGIN_LOCAL`
    /// (1)...
    pub origin: u8,
    /// The ICMP message's type.
    pub kind: u8,
    /// The ICMP message's code.
    pub code: u8,
    /// Who sent the ICMP message (the router or host that refused the datagram).
    pub offender: Option<IpAddr>,
    /// The failed datagram's destination.
    pub destination: Option<SocketAddr>,
}

/// Reads one error from `fd`'s error queue (`MSG_ERRQUEUE`, non-blocking); `None` when the queue
/// is empty. Reading it also clears the socket's pending error when no other is queued.
pub fn read_error(fd: RawFd) -> Option<QueuedError> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrStorage};
    // The failed datagram's beginning comes back as the payload: not reported.
    let mut payload = [0u8; 512];
    let mut iov = [io::IoSliceMut::new(&mut payload)];
    let mut space = nix::cmsg_space!(libc::sock_extended_err, libc::sockaddr_in6);
    let msg = recvmsg::<SockaddrStorage>(
        fd,
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
    )
    .ok()?;
    let destination = msg.address.and_then(|a| {
        a.as_sockaddr_in()
            .map(|a| SocketAddr::from(std::net::SocketAddrV4::from(*a)))
            .or_else(|| {
                a.as_sockaddr_in6()
                    .map(|a| SocketAddr::from(std::net::SocketAddrV6::from(*a)))
            })
    });
    let cmsgs = msg.cmsgs().ok()?;
    for cmsg in cmsgs {
        let (ee, offender) = match cmsg {
            ControlMessageOwned::Ipv4RecvErr(ee, offender) => (
                ee,
                offender.map(|o| IpAddr::V4(Ipv4Addr::from(u32::from_be(o.sin_addr.s_addr)))),
            ),
            ControlMessageOwned::Ipv6RecvErr(ee, offender) => (
                ee,
                offender.map(|o| {
                    let ip = Ipv6Addr::from(o.sin6_addr.s6_addr);
                    ip.to_ipv4_mapped().map_or(IpAddr::V6(ip), IpAddr::V4)
                }),
            ),
            _ => continue,
        };
        return Some(QueuedError {
            errno: i32::try_from(ee.ee_errno).unwrap_or(libc::EIO),
            origin: ee.ee_origin,
            kind: ee.ee_type,
            code: ee.ee_code,
            // An unspecified address is "no offender" (a local error).
            offender: offender.filter(|ip| !ip.is_unspecified()),
            destination,
        });
    }
    // A message without an error control message: nothing to report, but it was taken.
    Some(QueuedError {
        errno: libc::EIO,
        origin: 0,
        kind: 0,
        code: 0,
        offender: None,
        destination,
    })
}

/// Whether a read's or send's error may be one an ICMP error left pending on the socket (which
/// the failed call consumed): with `receiveErrors` such errors are reported from the error
/// queue instead, and a send is tried once more (a real error fails it again).
pub fn is_stale_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ECONNREFUSED
                | libc::EHOSTUNREACH
                | libc::ENETUNREACH
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EMSGSIZE
                | libc::EPROTO
                | libc::ETIMEDOUT
                | libc::EACCES
                | libc::EPERM
        )
    )
}

/// Per-send control (`send(msg, { tos, sourceAddress })`): carried by the datagram as control
/// messages. The default carries none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendControl {
    /// The TOS byte / traffic class of this datagram.
    pub tos: Option<u8>,
    /// The source address of this datagram (one of the host's).
    pub source: Option<IpAddr>,
}

impl SendControl {
    /// Whether the datagram carries no control message.
    pub fn is_empty(&self) -> bool {
        self.tos.is_none() && self.source.is_none()
    }
}

/// One `sendmsg` of one datagram with `control`'s messages, to `to` or the connected peer;
/// retried on `EINTR`. The IPv4 and IPv6 forms of each message both go: the kernel takes the
/// ones of the path the datagram leaves by (IPv4, or IPv4-mapped on a `udp6` socket, reads
/// `SOL_IP`; IPv6 reads `SOL_IPV6`) and ignores the others.
///
/// # Errors
/// The kernel's (`EINVAL` for a source address of the wrong family, `EADDRNOTAVAIL` for one
/// that is not the host's, `EAGAIN`...).
pub fn send_with_control(
    socket: &Socket,
    parts: &[io::IoSlice<'_>],
    to: Option<SocketAddr>,
    control: &SendControl,
) -> io::Result<usize> {
    use nix::errno::Errno;
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, SockaddrStorage};
    let addr = to.map(SockaddrStorage::from);
    let tos4: u8;
    let tos6: i32;
    let mut v4_info: libc::in_pktinfo;
    let mut v6_info: libc::in6_pktinfo;
    let mut cmsgs = Vec::with_capacity(3);
    if let Some(tos) = control.tos {
        tos4 = tos;
        tos6 = i32::from(tos);
        cmsgs.push(ControlMessage::Ipv4Tos(&tos4));
        cmsgs.push(ControlMessage::Ipv6TClass(&tos6));
    }
    match control.source.map(|ip| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        ip => ip,
    }) {
        Some(IpAddr::V4(v4)) => {
            // SAFETY: a plain C struct for which all-zero is valid.
            v4_info = unsafe { std::mem::zeroed() };
            v4_info.ipi_spec_dst.s_addr = u32::from(v4).to_be();
            cmsgs.push(ControlMessage::Ipv4PacketInfo(&v4_info));
        }
        Some(IpAddr::V6(v6)) => {
            // SAFETY: as above.
            v6_info = unsafe { std::mem::zeroed() };
            v6_info.ipi6_addr.s6_addr = v6.octets();
            cmsgs.push(ControlMessage::Ipv6PacketInfo(&v6_info));
        }
        None => {}
    }
    loop {
        match sendmsg(
            socket.as_raw_fd(),
            parts,
            &cmsgs,
            MsgFlags::empty(),
            addr.as_ref(),
        ) {
            Ok(n) => return Ok(n),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(io::Error::from(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::mmsg::{ReadMode, Reader};
    use socket2::{Domain, Type};
    use std::time::{Duration, Instant};

    fn socket(bind: &str) -> (Socket, SocketAddr) {
        let addr: SocketAddr = bind.parse().unwrap();
        let s = Socket::new(Domain::for_address(addr), Type::DGRAM, None).unwrap();
        s.bind(&addr.into()).unwrap();
        s.set_nonblocking(true).unwrap();
        let local = s.local_addr().unwrap().as_socket().unwrap();
        (s, local)
    }

    /// Reads (for at most 2 s) until a datagram comes; returns its bytes and information.
    fn read_one(r: &Socket, mode: ReadMode) -> (Vec<u8>, Option<RecvInfo>) {
        let mut reader = Reader::new().unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            if reader.recv_with(r.as_raw_fd(), mode).is_ok() {
                if let Some(slot) = reader.slot(0) {
                    return (slot.payload.to_vec(), slot.info);
                }
            }
            assert!(Instant::now() < deadline, "nothing came");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn the_kernel_reports_destination_tos_ttl_time_and_truncation() {
        let (r, at) = socket("0.0.0.0:0");
        enable_receive_info(&r, Family::V4).unwrap();
        let (s, _) = socket("127.0.0.1:0");
        s.set_tos_v4(0x2a).unwrap();
        s.set_ttl_v4(9).unwrap();
        let to: SocketAddr = format!("127.0.0.2:{}", at.port()).parse().unwrap();
        s.send_to(b"hello", &to.into()).unwrap();
        let (bytes, info) = read_one(
            &r,
            ReadMode {
                info: true,
                size: 3,
            },
        );
        let info = info.unwrap();
        assert_eq!(bytes, b"hel");
        assert_eq!(info.local, Some("127.0.0.2".parse().unwrap()));
        assert_eq!(
            (info.tos, info.ttl, info.truncated),
            (Some(0x2a), Some(9), true)
        );
        assert_eq!(info.interface, 1);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let t = info.timestamp.unwrap();
        assert!(t <= now && now - t < 2_000_000_000, "{t} vs {now}");
        // The default mode asks for nothing: no information, whole datagrams.
        s.send_to(b"again", &to.into()).unwrap();
        assert_eq!(read_one(&r, ReadMode::default()), (b"again".to_vec(), None));
    }

    #[test]
    fn a_queued_icmp_error_is_read_once_and_clears_the_pending_error() {
        let (e, _) = socket("127.0.0.1:0");
        enable_receive_errors(&e, Family::V4).unwrap();
        let (closed, port) = socket("127.0.0.1:0");
        drop(closed);
        e.send_to(b"x", &port.into()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        let found = loop {
            if let Some(found) = read_error(e.as_raw_fd()) {
                break found;
            }
            assert!(Instant::now() < deadline, "no error queued");
            std::thread::sleep(Duration::from_millis(1));
        };
        assert_eq!(found.errno, libc::ECONNREFUSED);
        assert_eq!((found.origin, found.kind, found.code), (2, 3, 3));
        assert_eq!(found.destination, Some(port));
        assert_eq!(found.offender, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(read_error(e.as_raw_fd()), None);
        assert!(
            e.take_error().unwrap().is_none(),
            "the pending error is cleared"
        );
    }
}
