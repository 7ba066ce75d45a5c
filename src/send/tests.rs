//! The send engine against real loopback sockets.

use std::io::IoSlice;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

use super::*;
use crate::sys::addr::Addr;

/// A non-blocking sender bound to 127.0.0.1, as the owner makes them.
fn sender() -> Socket {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
    s.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    s.set_nonblocking(true).unwrap();
    s
}

/// A blocking receiver (no GRO: each datagram is its own read) with a read timeout.
fn receiver() -> (UdpSocket, SocketAddr) {
    let r = UdpSocket::bind("127.0.0.1:0").unwrap();
    r.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let addr = r.local_addr().unwrap();
    (r, addr)
}

fn receive(r: &UdpSocket, n: usize) -> Vec<Vec<u8>> {
    let mut buf = [0u8; 65_536];
    (0..n)
        .map(|_| {
            let (len, _) = r.recv_from(&mut buf).unwrap();
            buf[..len].to_vec()
        })
        .collect()
}

/// Sends `payloads` to `to` in one call; returns the outcomes by index.
fn send_all(
    engine: &mut SendEngine,
    s: &Socket,
    payloads: &[Vec<u8>],
    to: Option<SocketAddr>,
) -> Vec<Outcome> {
    let slices: Vec<IoSlice<'_>> = payloads.iter().map(|p| IoSlice::new(p)).collect();
    let datagrams: Vec<Datagram<'_>> = slices
        .iter()
        .enumerate()
        .map(|(i, sl)| Datagram::new(std::slice::from_ref(sl), to.map(Addr::Ip), i as u32))
        .collect();
    let mut outcomes = vec![None; payloads.len()];
    engine.send(s, &datagrams, |i, o| {
        assert!(
            outcomes[i].replace(o).is_none(),
            "datagram {i} reported twice"
        );
    });
    outcomes
        .into_iter()
        .map(|o| o.expect("every datagram gets an outcome"))
        .collect()
}

#[test]
fn runs_leave_as_separate_datagrams_in_order() {
    let (r, addr) = receiver();
    let s = sender();
    let mut engine = SendEngine::default();
    // Two GSO runs (70 of 100 bytes: 64 + 6), a shorter datagram ending the second, a lone size.
    let mut payloads: Vec<Vec<u8>> = (0..70u8).map(|i| vec![i; 100]).collect();
    payloads.push(vec![200; 30]);
    payloads.push(vec![201; 500]);
    payloads.push(Vec::new());
    let outcomes = send_all(&mut engine, &s, &payloads, Some(addr));
    let expected: Vec<Outcome> = payloads.iter().map(|p| Outcome::Sent(p.len())).collect();
    assert_eq!(outcomes, expected);
    assert_eq!(receive(&r, payloads.len()), payloads);
    assert!(!engine.gso_refused, "loopback takes GSO");
}

#[test]
fn split_by_destination() {
    let (r1, a1) = receiver();
    let (r2, a2) = receiver();
    let s = sender();
    let mut engine = SendEngine::default();
    let data = [vec![1u8; 10], vec![2; 10], vec![3; 10]];
    let slices: Vec<IoSlice<'_>> = data.iter().map(|p| IoSlice::new(p)).collect();
    let datagrams = [
        Datagram::new(&slices[0..1], Some(a1.into()), 0),
        Datagram::new(&slices[1..2], Some(a2.into()), 1),
        Datagram::new(&slices[2..3], Some(a1.into()), 2),
    ];
    let mut sent = 0;
    engine.send(&s, &datagrams, |_, o| {
        assert_eq!(o, Outcome::Sent(10));
        sent += 1;
    });
    assert_eq!(sent, 3);
    assert_eq!(receive(&r1, 2), [data[0].clone(), data[2].clone()]);
    assert_eq!(receive(&r2, 1), [data[1].clone()]);
}

#[test]
fn after_a_refused_offload_datagrams_go_one_by_one() {
    let (r, addr) = receiver();
    let s = sender();
    let mut engine = SendEngine {
        gso_refused: true,
        ..SendEngine::default()
    };
    let payloads: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 64]).collect();
    let outcomes = send_all(&mut engine, &s, &payloads, Some(addr));
    assert!(outcomes.iter().all(|o| *o == Outcome::Sent(64)));
    assert_eq!(receive(&r, 5), payloads);
}

/// A sender whose kernel refuses GSO: UDP segmentation offload needs checksums, and
/// `SO_NO_CHECK` turns them off.
fn sender_without_gso() -> Socket {
    let s = sender();
    let on: libc::c_int = 1;
    // SAFETY: a valid socket and a c_int option value of the declared size.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&s),
            libc::SOL_SOCKET,
            libc::SO_NO_CHECK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    s
}

#[test]
fn a_refused_offload_is_reported_as_such() {
    let (_r, addr) = receiver();
    let s = sender_without_gso();
    let data = vec![0u8; 40];
    let result = gso::send_segments(&s, &[IoSlice::new(&data)], 10, Some(addr));
    assert!(matches!(result, Err(SendError::Refused)), "{result:?}");
}

#[test]
fn a_refused_offload_falls_back_to_one_by_one_and_stays_there() {
    let (r, addr) = receiver();
    let s = sender_without_gso();
    let mut engine = SendEngine::default();
    let payloads: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 64]).collect();
    let outcomes = send_all(&mut engine, &s, &payloads, Some(addr));
    assert!(
        outcomes.iter().all(|o| *o == Outcome::Sent(64)),
        "{outcomes:?}"
    );
    assert!(engine.gso_refused, "the refusal is remembered");
    assert_eq!(receive(&r, 5), payloads);
}

/// A sender connected to a closed port whose first send has gone: the ICMP error it drew is
/// pending, and fails the next `sendmsg` once (`ECONNREFUSED`).
fn with_a_pending_refusal(engine: &mut SendEngine) -> Socket {
    let closed = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let s = sender();
    s.connect(&addr.into()).unwrap();
    let first = send_all(engine, &s, &[vec![0; 8]], None);
    assert_eq!(first, [Outcome::Sent(8)]);
    std::thread::sleep(Duration::from_millis(20));
    s
}

#[test]
fn a_failed_run_gives_each_datagram_its_own_result() {
    // A run must not fail as a whole for a pending refusal, as node:dgram's one-by-one sends
    // would not.
    let mut engine = SendEngine::default();
    let s = with_a_pending_refusal(&mut engine);
    let payloads: Vec<Vec<u8>> = (0..6).map(|_| vec![1; 8]).collect();
    let outcomes = send_all(&mut engine, &s, &payloads, None);
    let allowed = [Outcome::Sent(8), Outcome::Failed(-libc::ECONNREFUSED)];
    assert!(outcomes.iter().all(|o| allowed.contains(o)), "{outcomes:?}");
    assert!(outcomes.contains(&Outcome::Failed(-libc::ECONNREFUSED)));
    assert!(outcomes.contains(&Outcome::Sent(8)), "{outcomes:?}");
    assert!(!engine.gso_refused);
}

/// Takes every completion the engine holds.
fn completions(engine: &mut SendEngine) -> Vec<Completion> {
    std::iter::from_fn(|| engine.take_completion()).collect()
}

#[test]
fn the_queue_drains_in_order_and_completes_by_id() {
    let (r, addr) = receiver();
    let s = sender();
    let mut engine = SendEngine::default();
    engine.set_queue_every_send(true);
    let payloads: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 20 + usize::from(i)]).collect();
    let outcomes = send_all(&mut engine, &s, &payloads, Some(addr));
    assert!(outcomes.iter().all(|o| *o == Outcome::Queued));
    assert_eq!(engine.queued_count(), 4);
    assert_eq!(engine.queued_bytes(), 20 + 21 + 22 + 23);

    // With the queue busy, a new send waits behind it even when tries are allowed again.
    engine.set_queue_every_send(false);
    let later = send_all(&mut engine, &s, &[vec![9; 5]], Some(addr));
    assert_eq!(later, [Outcome::Queued]);

    engine.flush_queue(&s);
    // Sent, yet counted until each completion is taken (as libuv counts until the callback).
    assert_eq!(engine.queued_count(), 5);
    let first = engine.take_completion();
    assert_eq!(first.map(|c| (c.id, c.bytes)), Some((0, 20)));
    assert_eq!(
        (engine.queued_count(), engine.queued_bytes()),
        (4, 21 + 22 + 23 + 5)
    );
    let rest = completions(&mut engine);
    let ids: Vec<u32> = rest.iter().map(|c| c.id).collect();
    // send_all numbers datagrams from 0 in each call.
    assert_eq!(ids, [1, 2, 3, 0]);
    assert!(rest.iter().all(|c| c.status == 0));
    assert_eq!(rest[2].bytes, 23);
    assert!(!engine.has_queued());
    let mut expected = payloads.clone();
    expected.push(vec![9; 5]);
    assert_eq!(receive(&r, 5), expected);
}

#[test]
fn queueing_every_send_still_sends_the_first_at_once_as_libuv_does() {
    let (r, addr) = receiver();
    let s = sender();
    let mut engine = SendEngine::default();
    engine.set_queue_every_send(true);
    let outcomes = send_all(&mut engine, &s, &[vec![1; 3], vec![2; 4]], Some(addr));
    assert_eq!(outcomes, [Outcome::Queued, Outcome::Queued]);
    assert_eq!(receive(&r, 1), [vec![1; 3]], "the first left at once");
    assert_eq!((engine.queued_count(), engine.queued_bytes()), (2, 7));
    let ended = engine.cancel_all();
    let ended: Vec<(u32, i32, usize)> = ended.iter().map(|c| (c.id, c.status, c.bytes)).collect();
    assert_eq!(ended, [(0, 0, 3), (1, -libc::ECANCELED, 4)]);
    assert!(!engine.has_queued());
}

#[test]
fn gathered_sends_report_by_request_id() {
    let (r, addr) = receiver();
    let s = sender();
    let mut engine = SendEngine::default();
    engine.gather(
        &[IoSlice::new(b"ab"), IoSlice::new(b"cd")],
        Some(addr.into()),
        7,
    );
    engine.gather(&[IoSlice::new(b"efgh")], Some(addr.into()), 8);
    engine.gather(&[IoSlice::new(b"x")], Some(addr.into()), 8);
    let mut reports = Vec::new();
    engine.flush_gathered(&s, |id, o| reports.push((id, o)));
    assert_eq!(
        reports,
        [
            (7, Outcome::Sent(4)),
            (8, Outcome::Sent(4)),
            (8, Outcome::Sent(1))
        ]
    );
    assert_eq!(
        receive(&r, 3),
        [b"abcd".to_vec(), b"efgh".to_vec(), b"x".to_vec()]
    );
}

#[test]
fn cancelling_ends_every_queued_datagram() {
    let (_r, addr) = receiver();
    let s = sender();
    let mut engine = SendEngine::default();
    engine.set_queue_every_send(true);
    engine.flush_queue(&s);
    let payloads = vec![vec![1u8; 3]; 3];
    send_all(&mut engine, &s, &payloads, Some(addr));
    engine.gather(&[IoSlice::new(b"xy")], Some(addr.into()), 9);
    let ended: Vec<(u32, i32)> = engine
        .cancel_all()
        .iter()
        .map(|c| (c.id, c.status))
        .collect();
    let cancelled = -libc::ECANCELED;
    assert_eq!(
        ended,
        [(0, 0), (1, cancelled), (2, cancelled), (9, cancelled)]
    );
    assert!(!engine.has_queued());
}

#[test]
fn runs_stay_within_one_gso_send() {
    let data = vec![0u8; 1];
    let slice = [IoSlice::new(&data)];
    let big = vec![0u8; 40_000];
    let big_slice = [IoSlice::new(&big)];
    let small: Vec<Datagram<'_>> = (0..100).map(|_| Datagram::new(&slice, None, 0)).collect();
    assert_eq!(run_end(&small, 0, false), gso::MAX_SEGMENTS);
    assert_eq!(run_end(&small, 0, true), 1);
    let large: Vec<Datagram<'_>> = (0..3).map(|_| Datagram::new(&big_slice, None, 0)).collect();
    assert_eq!(
        run_end(&large, 0, false),
        1,
        "two 40 kB datagrams exceed one UDP payload"
    );
}

// ----- Unix datagram sockets -----

/// A unique socket path under the temporary directory (removed by the test).
fn unix_path(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("dgram-rs-send-{}-{tag}.sock", std::process::id()))
}

/// A non-blocking Unix datagram sender, as the owner makes them.
fn unix_sender() -> Socket {
    crate::sys::socket::create(crate::sys::socket::Family::Unix).unwrap()
}

#[test]
fn unix_datagrams_leave_one_by_one_in_order_to_paths_and_abstract_names() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr as UnixAddr, UnixDatagram};
    let path = unix_path("order");
    let _ = std::fs::remove_file(&path);
    let by_path = UnixDatagram::bind(&path).unwrap();
    let abstract_name = format!("\0dgram-rs-send-{}", std::process::id());
    let by_name =
        UnixDatagram::bind_addr(&UnixAddr::from_abstract_name(&abstract_name[1..]).unwrap())
            .unwrap();
    for r in [&by_path, &by_name] {
        r.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    }
    let s = unix_sender();
    let mut engine = SendEngine::unix();
    let path_bytes = path.to_str().unwrap().as_bytes();
    // Equal sizes to one destination: UDP would make a GSO run of them.
    let payloads: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; 100]).collect();
    let slices: Vec<IoSlice<'_>> = payloads.iter().map(|p| IoSlice::new(p)).collect();
    let mut datagrams: Vec<Datagram<'_>> = slices
        .iter()
        .enumerate()
        .map(|(i, sl)| {
            Datagram::new(
                std::slice::from_ref(sl),
                Some(Addr::Unix(path_bytes)),
                i as u32,
            )
        })
        .collect();
    datagrams.push(Datagram::new(
        &slices[..1],
        Some(Addr::Unix(abstract_name.as_bytes())),
        9,
    ));
    let mut outcomes = Vec::new();
    engine.send(&s, &datagrams, |i, o| outcomes.push((i, o)));
    let expected: Vec<(usize, Outcome)> = (0..6).map(|i| (i, Outcome::Sent(100))).collect();
    assert_eq!(outcomes, expected);
    let mut buf = [0u8; 256];
    for p in &payloads {
        let n = by_path.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], &p[..]);
    }
    let n = by_name.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], &payloads[0][..]);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_full_unix_receiver_queues_and_the_queue_drains_in_order_once_it_reads() {
    use std::os::unix::net::UnixDatagram;
    let path = unix_path("full");
    let _ = std::fs::remove_file(&path);
    let r = UnixDatagram::bind(&path).unwrap();
    r.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let s = unix_sender();
    s.connect(&socket2::SockAddr::unix(&path).unwrap()).unwrap();
    let mut engine = SendEngine::unix();
    // A connected sender fills the receiver's queue (net.unix.max_dgram_qlen, 10 by default,
    // or its buffer) long before 2,000 datagrams.
    let payloads: Vec<Vec<u8>> = (0..2000u32).map(|i| i.to_be_bytes().to_vec()).collect();
    let outcomes = send_all(&mut engine, &s, &payloads, None);
    let sent = outcomes
        .iter()
        .take_while(|o| matches!(o, Outcome::Sent(4)))
        .count();
    assert!(sent > 0 && sent < payloads.len(), "sent {sent}");
    assert!(outcomes[sent..].iter().all(|o| *o == Outcome::Queued));
    assert_eq!(engine.queued_count(), payloads.len() - sent);
    // Nothing jumps the queue: a try_send is refused while datagrams wait.
    let late = [IoSlice::new(b"late")];
    assert_eq!(
        engine.try_send(&s, &Datagram::new(&late, None, 0)),
        Outcome::Failed(-libc::EAGAIN)
    );
    let mut received = Vec::new();
    let mut buf = [0u8; 16];
    r.set_nonblocking(true).unwrap();
    for _ in 0..10_000 {
        while let Ok(n) = r.recv(&mut buf) {
            received.push(buf[..n].to_vec());
        }
        if received.len() == payloads.len() {
            break;
        }
        engine.flush_queue(&s);
        while engine.take_completion().is_some() {}
    }
    assert_eq!(received, payloads, "every datagram, once, in order");
    assert!(!engine.has_queued());
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn try_send_refuses_instead_of_queueing_when_the_unix_receiver_is_full() {
    use std::os::unix::net::UnixDatagram;
    let (a, b) = UnixDatagram::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let s = Socket::from(std::os::fd::OwnedFd::from(a));
    let mut engine = SendEngine::unix();
    let data = [IoSlice::new(b"x")];
    let datagram = Datagram::new(&data, None, 0);
    let mut refused = None;
    for i in 0..100_000 {
        match engine.try_send(&s, &datagram) {
            Outcome::Sent(1) => {}
            other => {
                refused = Some((i, other));
                break;
            }
        }
    }
    let (count, outcome) = refused.expect("the receiver fills");
    assert_eq!(outcome, Outcome::Failed(-libc::EAGAIN));
    assert!(!engine.has_queued(), "nothing was queued");
    let mut buf = [0u8; 4];
    b.set_nonblocking(true).unwrap();
    let mut read = 0;
    while b.recv(&mut buf).is_ok() {
        read += 1;
    }
    assert_eq!(read, count);
}

#[test]
fn a_contiguous_buffer_leaves_as_whole_gso_sends_and_counts_every_datagram() {
    let (r, addr) = receiver();
    let s = sender();
    let mut engine = SendEngine::default();
    // 150 datagrams of 100 bytes and a short last one: three GSO sends (64, 64, 23).
    let mut data: Vec<u8> = (0..150u8).flat_map(|i| vec![i; 100]).collect();
    data.extend_from_slice(b"short");
    let to = Some(Addr::Ip(addr));
    assert_eq!(
        engine.send_contiguous(&s, &data, 100, to),
        (151, 15_005, false)
    );
    assert_eq!(engine.sent(), (151, 15_005));
    let got = receive(&r, 151);
    assert_eq!(got[149], vec![149; 100]);
    assert_eq!(got[150], b"short");
}

#[test]
fn a_contiguous_buffer_leaves_the_rest_to_send_where_it_must_decide() {
    let (_r, addr) = receiver();
    let to = Some(Addr::Ip(addr));
    let data = vec![7u8; 1000];
    // A lone datagram, every send queued, the offload refused: nothing sent here.
    let mut engine = SendEngine::default();
    assert_eq!(
        engine.send_contiguous(&sender(), &data, 1000, to),
        (0, 0, false)
    );
    engine.set_queue_every_send(true);
    assert_eq!(
        engine.send_contiguous(&sender(), &data, 100, to),
        (0, 0, false)
    );
    let mut engine = SendEngine::default();
    assert_eq!(
        engine.send_contiguous(&sender_without_gso(), &data, 100, to),
        (0, 0, false)
    );
    assert!(engine.gso_refused, "the refusal is remembered");
    assert_eq!(engine.sent(), (0, 0));
}

#[test]
fn a_contiguous_send_the_kernel_fails_leaves_the_rest_to_go_one_by_one() {
    // The pending refusal fails the GSO send.
    let mut engine = SendEngine::default();
    let s = with_a_pending_refusal(&mut engine);
    assert_eq!(engine.send_contiguous(&s, &[1; 32], 8, None), (0, 0, true));
    assert!(!engine.gso_refused, "an error is not a refused offload");
}
