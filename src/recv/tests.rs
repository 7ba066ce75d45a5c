//! The receive engine against real loopback sockets.

use std::io::IoSlice;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use super::*;
use crate::sys::addr::Addr;
use crate::sys::gso;

/// A non-blocking receiver with GRO on, as the owner makes them.
fn receiver() -> (Socket, SocketAddr) {
    let r = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
    r.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    r.set_nonblocking(true).unwrap();
    gso::set_gro(&r, true).unwrap();
    let addr = r.local_addr().unwrap().as_socket().unwrap();
    (r, addr)
}

/// Each datagram's length in a batch, from its slots' sizes.
fn lengths(batch: &Batch<'_>) -> Vec<usize> {
    batch
        .slots()
        .flat_map(|(bytes, segment)| {
            let segment = segment.max(1);
            let count = bytes.len().div_ceil(segment).max(1);
            (0..count).map(move |i| segment.min(bytes.len() - i * segment))
        })
        .collect()
}

/// Datagrams read, with their senders.
type Read = Vec<(Vec<u8>, SocketAddr)>;

/// Reads until `n` datagrams came or 2 s passed; returns them with their batches' lengths.
fn read_until(r: &Socket, n: usize) -> (Read, Vec<Vec<usize>>) {
    let mut reader = Reader::new().unwrap();
    let mut datagrams = Vec::new();
    let mut batches = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while datagrams.len() < n && Instant::now() < deadline {
        match read(r.as_raw_fd(), &mut reader) {
            Ok(size) => {
                let before = datagrams.len();
                datagrams.extend(
                    Datagrams::new(&reader)
                        .map(|d| (d.bytes.to_vec(), d.from.ip().expect("an IP sender"))),
                );
                assert_eq!(
                    size.datagrams,
                    datagrams.len() - before,
                    "the read counts its datagrams"
                );
                batches.extend(Batches::new(&reader).map(|b| lengths(&b)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => panic!("{e}"),
        }
    }
    (datagrams, batches)
}

#[test]
fn a_gro_read_is_split_into_its_datagrams() {
    let (r, addr) = receiver();
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let from = s.local_addr().unwrap();
    let s = Socket::from(s);
    // 10 datagrams of 100 bytes and a last of 40, in one GSO send: one GRO read.
    let mut data: Vec<u8> = (0..10u8).flat_map(|i| [i; 100]).collect();
    data.extend([99u8; 40]);
    gso::send_segments(&s, &[IoSlice::new(&data)], 100, Some(addr)).unwrap();
    let (datagrams, batches) = read_until(&r, 11);
    let mut expected: Vec<(Vec<u8>, SocketAddr)> =
        (0..10u8).map(|i| (vec![i; 100], from)).collect();
    expected.push((vec![99; 40], from));
    assert_eq!(datagrams, expected);
    let lengths: Vec<usize> = batches.concat();
    assert_eq!(lengths, [vec![100; 10], vec![40]].concat());
}

#[test]
fn one_batch_per_sender_run_and_empty_datagrams_count() {
    let (r, addr) = receiver();
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.send_to(b"one", addr).unwrap();
    a.send_to(b"", addr).unwrap();
    a.send_to(b"three", addr).unwrap();
    b.send_to(b"four", addr).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let (datagrams, batches) = read_until(&r, 4);
    let bytes: Vec<&[u8]> = datagrams.iter().map(|(d, _)| &d[..]).collect();
    assert_eq!(bytes, [&b"one"[..], b"", b"three", b"four"]);
    assert_eq!(batches, [vec![3, 0, 5], vec![4]]);
}

#[test]
fn unix_senders_are_named_by_path_abstract_name_or_nothing() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr as UnixAddr, UnixDatagram};
    let dir = std::env::temp_dir();
    let id = std::process::id();
    let rpath = dir.join(format!("dgram-rs-recv-{id}-r.sock"));
    let spath = dir.join(format!("dgram-rs-recv-{id}-s.sock"));
    for p in [&rpath, &spath] {
        let _ = std::fs::remove_file(p);
    }
    let r = crate::sys::socket::create(crate::sys::socket::Family::Unix).unwrap();
    r.bind(&socket2::SockAddr::unix(&rpath).unwrap()).unwrap();
    let by_path = UnixDatagram::bind(&spath).unwrap();
    let name = format!("dgram-rs-recv-{id}");
    let by_name = UnixDatagram::bind_addr(&UnixAddr::from_abstract_name(&name).unwrap()).unwrap();
    let unnamed = UnixDatagram::unbound().unwrap();
    by_path.send_to(b"path", &rpath).unwrap();
    by_name.send_to(b"abstract", &rpath).unwrap();
    unnamed.send_to(b"", &rpath).unwrap();
    by_path.send_to(b"path again", &rpath).unwrap();
    let mut reader = Reader::new().unwrap();
    let mut got: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while got.len() < 4 && Instant::now() < deadline {
        if read(r.as_raw_fd(), &mut reader).is_ok() {
            got.extend(Datagrams::new(&reader).map(|d| match d.from {
                Addr::Unix(n) => (d.bytes.to_vec(), n.to_vec()),
                Addr::Ip(a) => panic!("{a}"),
            }));
        }
    }
    let abstract_name = format!("\0{name}").into_bytes();
    let spath = spath.to_str().unwrap().as_bytes().to_vec();
    assert_eq!(
        got,
        [
            (b"path".to_vec(), spath.clone()),
            (b"abstract".to_vec(), abstract_name),
            (Vec::new(), Vec::new()),
            (b"path again".to_vec(), spath),
        ]
    );
    for p in [&rpath, &dir.join(format!("dgram-rs-recv-{id}-s.sock"))] {
        std::fs::remove_file(p).unwrap();
    }
}

#[test]
fn an_iteration_resumes_where_it_stopped_even_inside_a_gro_batch() {
    let (r, addr) = receiver();
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let s = Socket::from(s);
    let data: Vec<u8> = (0..10u8).flat_map(|i| [i; 100]).collect();
    gso::send_segments(&s, &[IoSlice::new(&data)], 100, Some(addr)).unwrap();
    s.send_to(b"after", &addr.into()).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let mut reader = Reader::new().unwrap();
    read(r.as_raw_fd(), &mut reader).unwrap();
    let all: Vec<Vec<u8>> = Datagrams::new(&reader).map(|d| d.bytes.to_vec()).collect();
    assert_eq!(all.len(), 11, "one GRO batch of 10 and one datagram");
    for stop in 0..=all.len() {
        let mut first = Datagrams::new(&reader);
        let mut got: Vec<Vec<u8>> = first
            .by_ref()
            .take(stop)
            .map(|d| d.bytes.to_vec())
            .collect();
        let at = first.position();
        got.extend(Datagrams::resume(&reader, at).map(|d| d.bytes.to_vec()));
        assert_eq!(got, all, "stopped after {stop}");
    }
}
