//! The receive engine against real loopback sockets.

use std::io::IoSlice;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use super::*;
use crate::sys::gso;

/// A non-blocking receiver with GRO on, as the owner makes them.
fn receiver() -> (Socket, SocketAddr) {
    let r = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
    r.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    r.set_nonblocking(true).unwrap();
    gso::enable_gro(&r);
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
                datagrams.extend(Datagrams::new(&reader).map(|d| (d.bytes.to_vec(), d.from)));
                assert_eq!(size.datagrams, datagrams.len() - before, "the read counts its datagrams");
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
