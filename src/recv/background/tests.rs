//! The background reader against real loopback sockets.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

/// A non-blocking receiver, and a sender.
fn pair() -> (UdpSocket, UdpSocket, SocketAddr) {
    let r = UdpSocket::bind("127.0.0.1:0").unwrap();
    r.set_nonblocking(true).unwrap();
    let addr = r.local_addr().unwrap();
    (r, UdpSocket::bind("127.0.0.1:0").unwrap(), addr)
}

/// The IP sender of a datagram (these tests send over UDP).
fn ip(from: &OwnedAddr) -> SocketAddr {
    from.as_addr().ip().expect("an IP sender")
}

/// Takes from `bg` until `n` datagrams came or 2 s passed.
fn take_datagrams(bg: &Background, n: usize) -> Vec<(Vec<u8>, SocketAddr)> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while got.len() < n && Instant::now() < deadline {
        while let Some(item) = bg.pop() {
            if let Item::Read(read) = item {
                let mut offset = 0;
                for e in read.entries {
                    got.push((read.data[offset..offset + e.len].to_vec(), ip(&e.from)));
                    offset += e.len;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    got
}

/// A reader on `r` whose inbox has room for `datagrams` datagrams of 100 bytes.
fn with_room_for(r: &UdpSocket, datagrams: usize) -> Background {
    Background::start(
        r.as_fd(),
        datagrams * (100 + ENTRY_COST),
        ReadMode::default(),
        || {},
    )
    .unwrap()
}

#[test]
fn reads_in_order_and_wakes() {
    let (r, s, addr) = pair();
    let wakes = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&wakes);
    let bg = Background::start(
        r.as_fd(),
        DEFAULT_MAX_BYTES,
        ReadMode::default(),
        move || {
            counter.fetch_add(1, Ordering::Relaxed);
        },
    )
    .unwrap();
    for i in 0..100u8 {
        s.send_to(&[i; 10], addr).unwrap();
    }
    let got = take_datagrams(&bg, 100);
    let expected: Vec<(Vec<u8>, SocketAddr)> = (0..100u8)
        .map(|i| (vec![i; 10], s.local_addr().unwrap()))
        .collect();
    assert_eq!(got, expected);
    assert!(wakes.load(Ordering::Relaxed) >= 1);
    assert_eq!(
        bg.counts(),
        Counts {
            received: 100,
            received_bytes: 1000,
            dropped: 0
        }
    );
    bg.stop();
}

#[test]
fn a_full_inbox_drops_the_rest_of_its_read_and_stops_the_reader() {
    let (r, s, addr) = pair();
    let bg = with_room_for(&r, 10);
    for _ in 0..50 {
        s.send_to(&[7; 100], addr).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while (bg.counts().received < 10 || bg.counts().dropped == 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let dropped = bg.counts().dropped;
    assert_eq!(bg.counts().received, 10);
    // The rest of the read that filled the inbox, at most one read's slots.
    assert!((1..=SLOTS as u64).contains(&dropped), "dropped {dropped}");
    // The reader reads no more while the inbox is full: the rest waits in the kernel.
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(bg.counts().received, 10);
    assert_eq!(bg.counts().dropped, dropped);
    // Emptying the inbox lets reading go on: what waited in the kernel is read (and what of it
    // does not fit dropped), until all 50 are counted.
    let deadline = Instant::now() + Duration::from_secs(2);
    while bg.counts().received + bg.counts().dropped < 50 && Instant::now() < deadline {
        while bg.pop().is_some() {}
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(bg.counts().received + bg.counts().dropped, 50);
    while bg.pop().is_some() {}
    s.send_to(&[8; 100], addr).unwrap();
    assert_eq!(
        take_datagrams(&bg, 1),
        [(vec![8; 100], s.local_addr().unwrap())]
    );
    bg.stop();
}

/// The budget holds across reads: each read is measured against what the inbox holds (a read
/// copied outside the inbox's lock adds its own cost to the inbox's, never replaces it).
#[test]
fn the_budget_holds_across_reads_queued_one_after_another() {
    let (r, s, addr) = pair();
    // Three reads of 4, nothing taken meanwhile.
    let bg = with_room_for(&r, 10);
    for read in 1..=3u64 {
        for _ in 0..4 {
            s.send_to(&[9; 100], addr).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while bg.counts().received + bg.counts().dropped < 4 * read.min(2) + read / 3
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // The third batch found room for 2; the read that overflowed dropped the rest of itself (1
    // or 2, as the kernel split the batch) and stopped the reader.
    std::thread::sleep(Duration::from_millis(20));
    let dropped = bg.counts().dropped;
    assert_eq!(bg.counts().received, 10);
    assert!((1..=2).contains(&dropped), "dropped {dropped}");
    assert_eq!(take_datagrams(&bg, 10).len(), 10);
    bg.stop();
}

#[test]
fn stopping_lets_go_of_the_socket() {
    let (r, _s, addr) = pair();
    let bg = Background::start(r.as_fd(), DEFAULT_MAX_BYTES, ReadMode::default(), || {}).unwrap();
    bg.stop();
    drop(r);
    // The task's duplicate is closed too: the port can be bound again at once.
    UdpSocket::bind(addr).unwrap();
}

#[test]
fn what_is_put_back_comes_first_and_counts_against_the_budget() {
    let (r, s, addr) = pair();
    let bg = with_room_for(&r, 2);
    s.send_to(&[1; 100], addr).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    let first = loop {
        if let Some(item) = bg.pop() {
            break item;
        }
        assert!(Instant::now() < deadline, "nothing read");
        std::thread::sleep(Duration::from_millis(1));
    };
    bg.push_front(first);
    // Room for one more datagram only: the one put back still counts.
    s.send_to(&[2; 100], addr).unwrap();
    s.send_to(&[3; 100], addr).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while bg.counts().received + bg.counts().dropped < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let got: Vec<u8> = take_datagrams(&bg, 2).iter().map(|(d, _)| d[0]).collect();
    assert_eq!(got, [1, 2]);
    assert_eq!(bg.counts().dropped, 1);
    bg.stop();
}

#[test]
fn offload_turns_on_only_once_a_read_comes_back_full() {
    use nix::sys::socket::{getsockopt, sockopt::UdpGroSegment};
    let start = |r: &UdpSocket| {
        Background::start(r.as_fd(), DEFAULT_MAX_BYTES, ReadMode::default(), || {}).unwrap()
    };
    // A few datagrams at a time: read as they come, offload stays off.
    let (quiet, s, addr) = pair();
    let bg = start(&quiet);
    for i in 0..5u8 {
        s.send_to(&[i; 10], addr).unwrap();
    }
    assert_eq!(take_datagrams(&bg, 5).len(), 5);
    assert!(!getsockopt(&quiet, UdpGroSegment).unwrap());
    bg.stop();
    // A backlog: the first read comes back full (32 reads) and turns offload on.
    let (busy, s, addr) = pair();
    for i in 0..100u8 {
        s.send_to(&[i; 10], addr).unwrap();
    }
    assert!(!getsockopt(&busy, UdpGroSegment).unwrap());
    let bg = start(&busy);
    assert_eq!(take_datagrams(&bg, 100).len(), 100);
    assert!(getsockopt(&busy, UdpGroSegment).unwrap());
    bg.stop();
}

/// Stands in for the owner's read on the JavaScript thread: what the inbox holds first, then
/// (if the reader lets it) the socket, every datagram's first four bytes as a number.
fn js_turn(bg: &Background, r: &UdpSocket, got: &mut Vec<u32>) -> usize {
    js_turn_of(bg, r, got, 32)
}

/// [`js_turn`], reading at most `max` datagrams from the socket.
fn js_turn_of(bg: &Background, r: &UdpSocket, got: &mut Vec<u32>, max: usize) -> usize {
    let mut n = 0;
    while let Some(item) = bg.pop() {
        if let Item::Read(read) = item {
            let mut offset = 0;
            for e in read.entries {
                let bytes = &read.data[offset..offset + e.len];
                got.push(u32::from_le_bytes(bytes[..4].try_into().unwrap()));
                offset += e.len;
                n += 1;
            }
        }
    }
    if bg.begin_js_read() {
        let mut buf = [0u8; 64];
        for _ in 0..max {
            match r.recv(&mut buf) {
                Ok(len) => {
                    assert_eq!(len, 4);
                    got.push(u32::from_le_bytes(buf[..4].try_into().unwrap()));
                    n += 1;
                }
                Err(_) => break,
            }
        }
        bg.end_js_read(n, n * 4);
    }
    n
}

#[test]
fn the_reader_leaves_a_reading_js_thread_alone_and_takes_over_when_it_stops() {
    let (r, s, addr) = pair();
    let bg = Background::start(r.as_fd(), DEFAULT_MAX_BYTES, ReadMode::default(), || {}).unwrap();
    let mut got = Vec::new();
    let mut next = 0u32;
    // 100 ms of traffic that the JavaScript thread reads as fast as it comes, never quite
    // draining the socket (as under a flood): it keeps making progress, so no takeover.
    for _ in 0..10 {
        s.send_to(&next.to_le_bytes(), addr).unwrap();
        next += 1;
    }
    let start = Instant::now();
    let mut sends = 0;
    while start.elapsed() < Duration::from_millis(150) {
        // Every 200 µs, four datagrams sent and four read (ten stay waiting); spinning between.
        if sends * 200 < start.elapsed().as_micros() {
            for _ in 0..4 {
                s.send_to(&next.to_le_bytes(), addr).unwrap();
                next += 1;
            }
            sends += 1;
            js_turn_of(&bg, &r, &mut got, 4);
        }
        std::thread::yield_now();
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while got.len() < next as usize && Instant::now() < deadline {
        js_turn(&bg, &r, &mut got);
    }
    // (A loaded machine may hold this thread off for a millisecond now and then: a takeover or
    // a few; a reader that ignored the thread's progress took over 14 to 17 times.)
    let early = bg.takeovers();
    assert!(
        early <= 8,
        "taken over {early} times from a thread that kept reading"
    );
    let before = bg.counts().received;
    // The JavaScript thread stops: the reader takes over and reads what comes.
    for _ in 0..50 {
        s.send_to(&next.to_le_bytes(), addr).unwrap();
        next += 1;
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while bg.counts().received < before + 50 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(bg.counts().received, before + 50);
    assert_eq!(bg.takeovers(), early + 1);
    assert!(bg.is_taken());
    assert!(
        !bg.begin_js_read(),
        "the JavaScript thread read while the reader owned the socket"
    );
    // The JavaScript thread empties the inbox: the reader hands back.
    js_turn(&bg, &r, &mut got);
    let deadline = Instant::now() + Duration::from_secs(2);
    while bg.is_taken() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
        js_turn(&bg, &r, &mut got);
    }
    assert!(!bg.is_taken(), "never handed back");
    assert_eq!(got, (0..next).collect::<Vec<_>>());
    bg.stop();
}

#[test]
fn repeated_stalls_hand_over_and_back_in_order_counting_every_datagram() {
    use nix::sys::socket::{setsockopt, sockopt::RcvBuf};
    let (r, s, addr) = pair();
    // Room for a late takeover on a loaded machine (capped at net.core.rmem_max).
    setsockopt(&r, RcvBuf, &(1 << 20)).unwrap();
    let bg = Background::start(r.as_fd(), DEFAULT_MAX_BYTES, ReadMode::default(), || {}).unwrap();
    const TOTAL: u32 = 4000;
    let sender = std::thread::spawn(move || {
        // Four datagrams every 200 µs (about 20,000 a second), for about 200 ms.
        for n in (0..TOTAL).step_by(4) {
            for k in n..n + 4 {
                s.send_to(&k.to_le_bytes(), addr).unwrap();
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    });
    let mut got = Vec::new();
    let mut js_read = 0;
    let mut stalls = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    // Reads for 10 ms, stalls for 10 ms, until everything came (or 10 s).
    while got.len() < TOTAL as usize && Instant::now() < deadline {
        let end = Instant::now() + Duration::from_millis(10);
        while Instant::now() < end {
            let before = got.len();
            let was_taken = bg.is_taken();
            js_turn(&bg, &r, &mut got);
            if !was_taken && !bg.is_taken() {
                js_read += got.len() - before;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
        stalls += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    sender.join().unwrap();
    let counts = bg.counts();
    assert_eq!(counts.dropped, 0);
    // In order, none missing, none twice (the kernel dropped none: 10 ms is 200 datagrams).
    assert_eq!(got, (0..TOTAL).collect::<Vec<_>>(), "after {stalls} stalls");
    assert!(counts.received > 0 && js_read > 0);
    assert!(
        bg.takeovers() >= 3,
        "{} takeovers in {stalls} stalls",
        bg.takeovers()
    );
    bg.stop();
}

#[test]
fn has_queued_follows_what_the_inbox_holds() {
    let (r, s, addr) = pair();
    let bg = Background::start(r.as_fd(), DEFAULT_MAX_BYTES, ReadMode::default(), || {}).unwrap();
    assert!(!bg.has_queued());
    // The JavaScript thread is gone: the reader takes over and queues.
    s.send_to(&[1; 10], addr).unwrap();
    s.send_to(&[2; 10], addr).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while !bg.has_queued() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(bg.has_queued(), "nothing queued");
    let mut items = Vec::new();
    while let Some(item) = bg.pop() {
        items.push(item);
    }
    assert!(!items.is_empty());
    assert!(!bg.has_queued(), "the last item taken");
    let last = items.pop().unwrap();
    bg.push_front(last);
    assert!(bg.has_queued(), "an item put back");
    while bg.pop().is_some() {}
    assert!(!bg.has_queued());
    bg.stop();
}

#[test]
fn a_steady_stream_keeps_the_reader_on_its_timer() {
    let (r, s, addr) = pair();
    let bg = Background::start(r.as_fd(), DEFAULT_MAX_BYTES, ReadMode::default(), || {}).unwrap();
    let mut got = Vec::new();
    let mut next = 0u32;
    let start = Instant::now();
    let mut bursts = 0u128;
    // A paced sender and a free JavaScript thread: four datagrams every millisecond for 100 ms,
    // each burst read at once (the socket drained between bursts).
    while start.elapsed() < Duration::from_millis(100) {
        if bursts * 1000 < start.elapsed().as_micros() {
            for _ in 0..4 {
                s.send_to(&next.to_le_bytes(), addr).unwrap();
                next += 1;
            }
            bursts += 1;
            js_turn(&bg, &r, &mut got);
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while got.len() < next as usize && Instant::now() < deadline {
        js_turn(&bg, &r, &mut got);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(got, (0..next).collect::<Vec<_>>());
    // The reader waited for readiness once, and stayed on its timer while the bursts kept coming
    // (a loaded machine may hold this thread off for more than LINGER now and then: a few more).
    // Going back to readiness whenever it found the socket drained, it waited 28 times here.
    let waits = bg.readiness_waits();
    assert!(
        waits <= 10,
        "waited for readiness {waits} times in {bursts} bursts"
    );
    bg.stop();
}

#[test]
fn a_taken_over_stream_is_read_in_batches_not_a_datagram_at_a_time() {
    let (r, s, addr) = pair();
    // When each read ended (the reader wakes the loop after each read that queued something).
    let woken = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = Arc::clone(&woken);
    let bg = Background::start(
        r.as_fd(),
        DEFAULT_MAX_BYTES,
        ReadMode::default(),
        move || {
            record.lock().unwrap().push(Instant::now());
        },
    )
    .unwrap();
    // The JavaScript thread never reads: the reader takes the socket over a millisecond after
    // the first datagram, and keeps it (the inbox is never emptied).
    const TOTAL: u32 = 100;
    let start = Instant::now();
    for n in 0..TOTAL {
        // One datagram every 50 µs (20,000 a second) for 5 ms, spinning between.
        while start.elapsed() < Duration::from_micros(50 * u64::from(n)) {
            std::hint::spin_loop();
        }
        s.send_to(&n.to_le_bytes(), addr).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while bg.counts().received < u64::from(TOTAL) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    // (The last read's wake-up comes right after its count; emptying the inbox below makes the
    // reader hand back, with one more.)
    std::thread::sleep(Duration::from_millis(5));
    let woken = woken.lock().unwrap().clone();
    let mut got = Vec::new();
    let mut sizes = Vec::new();
    while let Some(item) = bg.pop() {
        if let Item::Read(read) = item {
            sizes.push(read.entries.len());
            let mut offset = 0;
            for e in read.entries {
                let bytes = &read.data[offset..offset + e.len];
                got.push(u32::from_le_bytes(bytes[..4].try_into().unwrap()));
                offset += e.len;
            }
        }
    }
    assert_eq!(got, (0..TOTAL).collect::<Vec<_>>());
    assert_eq!(woken.len(), sizes.len(), "a wake-up per read");
    // After a read that did not fill the buffer, the next comes a PACE (200 µs with the default
    // receive buffer) later at the earliest, however slow or loaded the machine: more datagrams a
    // read. Reading at each readiness instead, the reader read again 3-180 µs later, a datagram a
    // read for most.
    let pace = super::pace_of(r.as_fd());
    let soon: Vec<_> = woken
        .windows(2)
        .zip(&sizes)
        .filter(|(pair, &size)| size < crate::sys::mmsg::SLOTS && pair[1] - pair[0] < pace)
        .map(|(pair, _)| pair[1] - pair[0])
        .collect();
    assert!(
        soon.is_empty(),
        "read again after {soon:?} (sizes {sizes:?})"
    );
    bg.stop();
}

#[test]
fn the_pause_is_pace_for_the_default_receive_buffer_and_shorter_for_a_smaller_one() {
    use super::{pace_for, PACE};
    assert_eq!(pace_for(212_992), PACE);
    assert_eq!(pace_for(4 << 20), PACE);
    // SO_RCVBUF set to 4 KiB: the kernel's 8 KiB, under 8 µs.
    assert!(pace_for(8192) < Duration::from_micros(8));
    assert_eq!(pace_for(0), Duration::ZERO);
    assert_eq!(pace_for(106_496), PACE / 2);
}

#[test]
fn the_deadline_is_half_the_time_the_buffer_takes_to_fill_within_its_bounds() {
    use super::{takeover_for, LONGEST_TAKEOVER, TAKEOVER};
    // 200-byte datagrams as estimated (1,488 bytes of kernel memory each), the default buffer.
    let rate = |per_second: f64| per_second * kernel_memory(1, 200) as f64;
    // 30k/s fills it in 4.8 ms (estimated): 2 ms, the longest.
    assert_eq!(takeover_for(rate(30_000.0), 212_992), LONGEST_TAKEOVER);
    // 40k/s: 3.6 ms to fill, half of it 1.8 ms: 1 ms in whole milliseconds. 60k/s likewise.
    assert_eq!(takeover_for(rate(40_000.0), 212_992), TAKEOVER);
    assert_eq!(takeover_for(rate(60_000.0), 212_992), TAKEOVER);
    // 35k/s: 4.1 ms to fill, 2 ms.
    assert_eq!(takeover_for(rate(35_000.0), 212_992), LONGEST_TAKEOVER);
    // Faster, or with the buffer half full already: the shortest.
    assert_eq!(takeover_for(rate(120_000.0), 212_992), TAKEOVER);
    assert_eq!(takeover_for(rate(60_000.0), 106_496), TAKEOVER);
    // A slow stream: the longest; no rate known, or a full buffer: the shortest.
    assert_eq!(takeover_for(rate(100.0), 212_992), LONGEST_TAKEOVER);
    assert_eq!(takeover_for(0.0, 212_992), TAKEOVER);
    assert_eq!(takeover_for(rate(100.0), 0), TAKEOVER);
}

#[test]
fn the_kernel_memory_estimate_is_at_least_what_the_kernel_charges() {
    // What the deadline counts on: the estimate is from above, so that the deadline is never
    // longer than half the real time to fill. Ten datagrams of each size, as the kernel holds
    // them on loopback (a buffer large enough for all).
    for size in [
        0, 1, 64, 200, 512, 1_200, 1_472, 4_000, 9_000, 32_000, 65_000,
    ] {
        let (r, s, addr) = pair();
        socket2::SockRef::from(&r)
            .set_recv_buffer_size(4 << 20)
            .unwrap();
        for _ in 0..10 {
            s.send_to(&vec![7u8; size], addr).unwrap();
        }
        // Loopback queues them within the sends, or in the softirq right after.
        std::thread::sleep(Duration::from_millis(20));
        let queued = crate::sys::socket::receive_queue(r.as_fd()).unwrap().0;
        assert!(queued > 0, "nothing queued for {size} bytes");
        let estimate = kernel_memory(10, 10 * size);
        assert!(
            u64::from(queued) <= estimate,
            "{size}-byte datagrams: the kernel holds {queued} bytes for ten, estimated {estimate}"
        );
    }
}

#[test]
fn the_deadline_follows_the_rate_the_js_thread_reads_at_and_holds_through_a_stall() {
    let (r, _s, _addr) = pair();
    let fd = r.as_fd().try_clone_to_owned().unwrap();
    let shared = Shared::default();
    let mut deadline = Deadline::new(&shared);
    assert_eq!(deadline.takeover, TAKEOVER, "no rate known yet");
    // What the JavaScript thread read in a time: its rate in kernel memory, as end_js_read adds it.
    let read = |datagrams: u64, over: Duration| {
        std::thread::sleep(over);
        shared
            .js_memory
            .fetch_add(datagrams * kernel_memory(1, 200), Ordering::Relaxed);
    };
    // Where the buffer's size is not known, the deadline stays the shortest: qemu-user answers
    // SO_MEMINFO with its first figure only (a length of 4 bytes where the kernel gives 36, seen
    // with a C program under qemu-aarch64), so the buffer reads 0 there, and the reader watches
    // as closely as with no rate known.
    let (_, buffer) = crate::sys::socket::receive_queue(fd.as_fd()).unwrap();
    let slow = if buffer == 0 {
        TAKEOVER
    } else {
        LONGEST_TAKEOVER
    };
    // Not measured before RATE_WINDOW has passed: the shortest deadline still.
    read(20, Duration::from_millis(2));
    deadline.update(&fd, &shared);
    assert_eq!(deadline.takeover, TAKEOVER);
    // Under 2k/s of 200-byte datagrams (at most: the sleeps may be longer): the longest deadline.
    read(0, RATE_WINDOW);
    deadline.update(&fd, &shared);
    assert_eq!(deadline.takeover, slow);
    // A stall: nothing read; the deadline stays what the rate before it gave.
    std::thread::sleep(Duration::from_millis(3));
    deadline.update(&fd, &shared);
    assert_eq!(deadline.takeover, slow);
    // A flood: the shortest.
    read(8_000, RATE_WINDOW);
    // (Over the stall and this time together: 600k/s, and above 60k/s even if the sleeps took
    // ten times as long.)
    deadline.update(&fd, &shared);
    assert_eq!(deadline.takeover, TAKEOVER);
}

/// Whether the runtime's readiness watcher (an epoll set of this process) holds descriptor `fd`.
fn in_a_watcher(fd: RawFd) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let is_epoll = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy() == "anon_inode:[eventpoll]");
        let info = format!("/proc/self/fdinfo/{}", entry.file_name().to_string_lossy());
        is_epoll
            && std::fs::read_to_string(info).is_ok_and(|info| {
                info.lines().any(|line| {
                    line.strip_prefix("tfd:")
                        .and_then(|rest| rest.split_whitespace().next())
                        .is_some_and(|n| n == fd.to_string())
                })
            })
    })
}

#[test]
fn a_pausing_reader_takes_its_socket_out_of_the_watcher_and_misses_nothing_meanwhile() {
    let (r, s, addr) = pair();
    let fd = r.as_fd().try_clone_to_owned().unwrap();
    let raw = fd.as_raw_fd();
    runtime().unwrap().block_on(async {
        // SAFETY: `fd` is an open descriptor that the AsyncFd owns from here on.
        let watched = unsafe { AsyncFd::register_with_interest(fd, WATCHED) }.unwrap();
        let taken = Taken::Watched(watched);
        assert!(in_a_watcher(raw), "a watched socket is in the watcher");
        // Out: datagrams that arrive do not wake the runtime's thread.
        let taken = taken.unwatch();
        assert!(
            !in_a_watcher(raw),
            "an unwatched socket is out of the watcher"
        );
        // A datagram arrives while it is out; back in, its readiness is reported at once.
        s.send_to(b"meanwhile", addr).unwrap();
        std::thread::sleep(Duration::from_millis(10));
        let watched = taken.into_watched().unwrap();
        assert!(in_a_watcher(raw));
        let ready = tokio::time::timeout(Duration::from_secs(1), watched.ready(WATCHED)).await;
        assert!(
            ready.is_ok(),
            "the datagram that came while out was not reported"
        );
    });
}

/// The runtime's thread's slice, where the kernel shows it.
fn reader_slice() -> Option<u64> {
    let task = std::fs::read_dir("/proc/self/task")
        .ok()?
        .flatten()
        .find(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|comm| comm.trim() == "dgram-rs-recv")
        })?;
    crate::sys::thread::slice_of(&task.path())
}

#[test]
fn the_reader_thread_asks_for_the_shortest_slice_while_it_owns_a_socket() {
    // Whether this kernel gives a thread the slice it asks for: asked on this test's own thread.
    // SAFETY: gettid only answers the calling thread's id.
    let tid = unsafe { libc::gettid() };
    let here = std::path::PathBuf::from(format!("/proc/self/task/{tid}"));
    let short = crate::sys::thread::SHORT_SLICE_NS;
    let honoured = crate::sys::thread::request_slice(short).is_ok()
        && crate::sys::thread::slice_of(&here) == Some(short);
    // Back to the default before the reader starts: a thread starts with its parent's slice, and
    // the runtime's thread may be started by this one.
    let _ = crate::sys::thread::request_slice(crate::sys::thread::DEFAULT_SLICE);
    if !honoured {
        eprintln!("this kernel does not give a thread the slice it asks for: not checked");
        return;
    }
    let (r, s, addr) = pair();
    let bg = with_room_for(&r, 100);
    // The JavaScript thread never reads: the reader takes over and keeps the socket while the
    // inbox holds anything.
    for _ in 0..10 {
        s.send_to(&[7; 100], addr).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while bg.counts().received < 10 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(bg.counts().received, 10);
    assert_eq!(
        reader_slice(),
        Some(short),
        "the slice while the reader owns the socket"
    );
    // Emptied, the inbox is handed back: the default slice again (once no other test's reader
    // owns its socket: they share the thread).
    while bg.pop().is_some() {}
    let deadline = Instant::now() + Duration::from_secs(5);
    while reader_slice() == Some(short) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    bg.stop();
    assert_ne!(reader_slice(), Some(short), "the slice after the hand-back");
}
