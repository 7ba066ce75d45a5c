//! Spreading datagrams evenly over a `SO_REUSEPORT` group (`reusePortBalance`).
//!
//! Without help, the kernel picks a group's receiving socket by a hash of the flow (addresses and
//! ports): with as many flows as sockets, about a third of the sockets get none (balls into bins).
//! This module attaches a classic BPF program to the group with `SO_ATTACH_REUSEPORT_CBPF`; for
//! each incoming datagram the kernel runs it and takes its return value as the index of the socket,
//! in the order the sockets joined the group (an index past the group's size falls back to the
//! hash). Kernel facts the programs rely on (net/core/sock_reuseport.c, `run_bpf_filter`):
//!
//! - for UDP, the skb's data points past the UDP header (at the payload) while the program runs,
//!   so the headers are read with `SKF_NET_OFF`-relative loads (from the IP header);
//! - one program serves the whole group: attaching from any member replaces it for all;
//! - a load that fails (a truncated packet) ends a classic program with 0: socket 0 gets it.
//!
//! Two programs, both stateless (a classic program keeps nothing between packets):
//!
//! - [`Balance::Flow`]: `(source address + source port) % receivers`. A flow always reaches the
//!   same socket (its datagrams stay in order); flows from consecutive ports land on consecutive
//!   sockets, but a few flows from random ports can still collide, as with the kernel's hash.
//! - [`Balance::Datagram`]: a random socket per datagram (per skb: a GSO batch travels whole).
//!   Even for any number of flows, one included; the datagrams of one flow can reach different
//!   sockets, so their order across sockets is not kept.
//!
//! Alternatives considered: `SO_INCOMING_CPU` steers to the socket whose CPU matches the CPU that
//! processed the packet: at most one busy socket per CPU (8 sockets on 2 cores leave 6 idle), and on
//! loopback that CPU is the sender's. `SO_ATTACH_REUSEPORT_EBPF` could keep per-flow state (a map
//! from flow to socket, filled round-robin: even *and* ordered), but loading an eBPF program with
//! maps needs `CAP_BPF` wherever `kernel.unprivileged_bpf_disabled` is set (the default on most
//! distributions), which a Node server should not need.

use std::io;
use std::os::fd::AsRawFd;

/// How a group's datagrams are spread over its sockets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Balance {
    /// Same flow, same socket: `(source address + source port) % receivers`.
    Flow,
    /// A random socket for each datagram.
    Datagram,
}

impl Balance {
    /// The balance named `name` (`"flow"` or `"datagram"`), if it is one.
    pub fn from_name(name: &str) -> Option<Balance> {
        match name {
            "flow" => Some(Balance::Flow),
            "datagram" => Some(Balance::Datagram),
            _ => None,
        }
    }
}

/// The most sockets a program spreads over (the kernel grows a group up to `u16::MAX`).
pub const MAX_RECEIVERS: u32 = 65_535;

/// `SO_ATTACH_REUSEPORT_CBPF` (Linux 4.5+), spelled out: libc exports it for some targets only.
const SO_ATTACH_REUSEPORT_CBPF: libc::c_int = 51;

// Classic BPF opcodes (linux/filter.h), as the 16-bit codes `sock_filter` holds.
const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const LD_H_ABS: u16 = (libc::BPF_LD | libc::BPF_H | libc::BPF_ABS) as u16;
const LD_B_ABS: u16 = (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16;
const LD_H_IND: u16 = (libc::BPF_LD | libc::BPF_H | libc::BPF_IND) as u16;
const LDX_B_MSH: u16 = (libc::BPF_LDX | libc::BPF_B | libc::BPF_MSH) as u16;
const LDX_MEM: u16 = (libc::BPF_LDX | libc::BPF_W | libc::BPF_MEM) as u16;
const ST: u16 = libc::BPF_ST as u16;
const RSH_K: u16 = (libc::BPF_ALU | libc::BPF_RSH | libc::BPF_K) as u16;
const ADD_X: u16 = (libc::BPF_ALU | libc::BPF_ADD | libc::BPF_X) as u16;
const MOD_K: u16 = (libc::BPF_ALU | libc::BPF_MOD | libc::BPF_K) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const RET_A: u16 = (libc::BPF_RET | libc::BPF_A) as u16;

/// An offset from the IP header (`SKF_NET_OFF + offset`), as a load's `k`.
const fn net(offset: i32) -> u32 {
    (libc::SKF_NET_OFF + offset) as u32
}

const fn op(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The classic BPF program for `balance` over `receivers` sockets.
///
/// # Errors
/// `EINVAL` when `receivers` is 0 or more than [`MAX_RECEIVERS`].
pub fn program(balance: Balance, receivers: u32) -> io::Result<Vec<libc::sock_filter>> {
    if receivers == 0 || receivers > MAX_RECEIVERS {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(match balance {
        Balance::Flow => vec![
            // A = IP version (the high nibble of the IP header's first byte): a dual-stack
            // IPv6 socket also receives IPv4 datagrams.
            op(LD_B_ABS, net(0)),
            op(RSH_K, 4),
            jump(JEQ_K, 6, 5, 0),
            // IPv4: M[0] = source address; X = header length (IHL * 4); A = source port.
            op(LD_W_ABS, net(12)),
            op(ST, 0),
            op(LDX_B_MSH, net(0)),
            op(LD_H_IND, net(0)),
            jump(JA, 3, 0, 0),
            // IPv6: M[0] = the source address's last 32 bits; A = source port (after the fixed
            // 40-byte header: extension headers are not followed).
            op(LD_W_ABS, net(20)),
            op(ST, 0),
            op(LD_H_ABS, net(40)),
            // A = (M[0] + A) % receivers.
            op(LDX_MEM, 0),
            op(ADD_X, 0),
            op(MOD_K, receivers),
            op(RET_A, 0),
        ],
        Balance::Datagram => vec![
            op(LD_W_ABS, (libc::SKF_AD_OFF + libc::SKF_AD_RANDOM) as u32),
            op(MOD_K, receivers),
            op(RET_A, 0),
        ],
    })
}

/// Attaches the program for `balance` over `receivers` sockets to the `SO_REUSEPORT` group of
/// `socket`, which must be bound with `SO_REUSEPORT`. It replaces the group's program, whichever
/// member attached it.
///
/// # Errors
/// `EINVAL` for a bad `receivers` or a socket bound without `SO_REUSEPORT` (or not bound); what
/// `setsockopt` reports otherwise (`ENOPROTOOPT` before Linux 4.5).
pub fn attach(socket: &impl AsRawFd, balance: Balance, receivers: u32) -> io::Result<()> {
    let mut filter = program(balance, receivers)?;
    let prog = libc::sock_fprog {
        len: u16::try_from(filter.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: `prog` points at `filter`, `len` instructions that outlive the call; the kernel
    // copies the program before returning and reads `optlen` bytes of `prog`, a `sock_fprog`.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_ATTACH_REUSEPORT_CBPF,
            std::ptr::addr_of!(prog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use socket2::{Domain, Protocol, Socket, Type};
    use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
    use std::time::{Duration, Instant};

    /// `n` sockets in one SO_REUSEPORT group on 127.0.0.1, in the order they joined.
    fn group(n: usize) -> (Vec<UdpSocket>, SocketAddr) {
        let mut sockets = Vec::new();
        let mut addr: SocketAddr = (Ipv4Addr::LOCALHOST, 0).into();
        for _ in 0..n {
            let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
            s.set_reuse_port(true).unwrap();
            s.bind(&addr.into()).unwrap();
            addr = s.local_addr().unwrap().as_socket().unwrap();
            s.set_nonblocking(true).unwrap();
            sockets.push(UdpSocket::from(s));
        }
        (sockets, addr)
    }

    /// `n` sockets on 127.0.0.1 bound to consecutive ports.
    fn consecutive_senders(n: usize) -> Vec<UdpSocket> {
        for base in (20_000u16..60_000).step_by(997) {
            let bound: Vec<_> = (0..n)
                .map_while(|i| UdpSocket::bind((Ipv4Addr::LOCALHOST, base + i as u16)).ok())
                .collect();
            if bound.len() == n {
                return bound;
            }
        }
        panic!("no {n} consecutive free ports");
    }

    /// The datagrams each socket holds: polls all until `expected` arrived in total or 2 s passed.
    fn drain(sockets: &[UdpSocket], expected: usize) -> Vec<Vec<(SocketAddr, Vec<u8>)>> {
        let mut got = vec![Vec::new(); sockets.len()];
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut buf = [0u8; 64];
        while got.iter().map(Vec::len).sum::<usize>() < expected && Instant::now() < deadline {
            for (i, s) in sockets.iter().enumerate() {
                while let Ok((n, from)) = s.recv_from(&mut buf) {
                    got[i].push((from, buf[..n].to_vec()));
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        got
    }

    #[test]
    fn rejects_zero_and_too_many_receivers() {
        for bad in [0, MAX_RECEIVERS + 1] {
            let err = program(Balance::Flow, bad).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
        }
        assert_eq!(program(Balance::Datagram, MAX_RECEIVERS).unwrap().len(), 3);
    }

    #[test]
    fn names() {
        assert_eq!(Balance::from_name("flow"), Some(Balance::Flow));
        assert_eq!(Balance::from_name("datagram"), Some(Balance::Datagram));
        assert_eq!(Balance::from_name("Flow"), None);
    }

    #[test]
    fn attach_needs_a_reuseport_socket() {
        let plain = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let err = attach(&plain, Balance::Flow, 2).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    }

    /// Flow: N sources on consecutive ports reach N different sockets, each the one at index
    /// (source address + port) % N in joining order, every time.
    #[test]
    fn flow_spreads_consecutive_sources_one_per_socket() {
        const N: usize = 8;
        let (receivers, addr) = group(N);
        // Attached from the last member: the program serves the whole group.
        attach(&receivers[N - 1], Balance::Flow, N as u32).unwrap();
        let senders = consecutive_senders(N);
        for round in 0..3u8 {
            for (i, s) in senders.iter().enumerate() {
                s.send_to(&[i as u8, round], addr).unwrap();
            }
        }
        let got = drain(&receivers, 3 * N);
        for (index, datagrams) in got.iter().enumerate() {
            assert_eq!(datagrams.len(), 3, "socket {index} got {datagrams:?}");
            for (from, _) in datagrams {
                let SocketAddr::V4(from) = from else { panic!() };
                let key = u32::from(*from.ip()).wrapping_add(u32::from(from.port()));
                assert_eq!(key as usize % N, index);
            }
            // One source per socket.
            assert!(datagrams.iter().all(|(from, _)| *from == datagrams[0].0));
        }
    }

    /// Datagram: one flow's datagrams reach every socket, each at least half the mean; without
    /// the program, the kernel's hash sends that flow to one socket only.
    #[test]
    fn datagram_spreads_one_flow_over_all_sockets() {
        const N: usize = 8;
        const SENT: usize = 800;
        // (Fewer datagrams for the unbalanced group: its one socket's buffer must hold them all.)
        let send = |addr, count: usize| {
            let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            for i in 0..count {
                s.send_to(&(i as u32).to_le_bytes(), addr).unwrap();
            }
        };

        let (plain, addr) = group(N);
        send(addr, SENT / N);
        let counts: Vec<usize> = drain(&plain, SENT / N).iter().map(Vec::len).collect();
        assert_eq!(counts.iter().filter(|&&c| c > 0).count(), 1, "{counts:?}");

        let (balanced, addr) = group(N);
        attach(&balanced[0], Balance::Datagram, N as u32).unwrap();
        send(addr, SENT);
        let counts: Vec<usize> = drain(&balanced, SENT).iter().map(Vec::len).collect();
        assert_eq!(counts.iter().sum::<usize>(), SENT);
        assert!(
            counts.iter().all(|&c| c >= SENT / N / 2),
            "each socket at least half the mean: {counts:?}"
        );
    }

    /// An IPv6 socket's flow program reads the port after the IPv6 header.
    #[test]
    fn flow_over_ipv6() {
        const N: usize = 4;
        let mut receivers = Vec::new();
        let mut addr: SocketAddr = "[::1]:0".parse().unwrap();
        for _ in 0..N {
            let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP)).unwrap();
            s.set_reuse_port(true).unwrap();
            s.bind(&addr.into()).unwrap();
            addr = s.local_addr().unwrap().as_socket().unwrap();
            s.set_nonblocking(true).unwrap();
            receivers.push(UdpSocket::from(s));
        }
        attach(&receivers[0], Balance::Flow, N as u32).unwrap();
        let senders: Vec<_> = (0..4 * N)
            .map(|_| UdpSocket::bind("[::1]:0").unwrap())
            .collect();
        for s in &senders {
            s.send_to(b"x", addr).unwrap();
        }
        let got = drain(&receivers, senders.len());
        assert_eq!(got.iter().map(Vec::len).sum::<usize>(), senders.len());
        for (index, datagrams) in got.iter().enumerate() {
            for (from, _) in datagrams {
                // ::1's last 32 bits are 1.
                let key = 1u32.wrapping_add(u32::from(from.port()));
                assert_eq!(key as usize % N, index, "from {from}");
            }
        }
    }
}
