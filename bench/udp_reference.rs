//! The physical limit for `bench/run.js`: the same UDP workloads as the JavaScript workers, written
//! in plain Rust with batch syscalls, so the benchmark table has a row that no JavaScript binding
//! can beat on this machine.
//!
//! Build with `cargo build --release --example udp_reference`; `bench/run.js` starts it. Modes
//! (all traffic on 127.0.0.1; receivers and the echo bind port 0):
//!
//! - `recv-mmsg <size>` — receive with `recvmmsg`, up to 64 datagrams per call, and count.
//! - `send-mmsg <port> <size> <seconds>` — flood with `sendmmsg`, 64 datagrams per call.
//! - `recv-gro <size>` — receive with `UDP_GRO`: the kernel coalesces a run of datagrams into one
//!   read, and the `UDP_GRO` control message gives the segment size to count them back.
//! - `send-gso <port> <size> <seconds>` — flood with `UDP_SEGMENT` (GSO): one `sendmsg` carries up to
//!   64 datagrams of `size` bytes, split by the kernel.
//! - `echo` — send every datagram back to its sender.
//! - `ping <port> <size> <seconds> <warmup-seconds>` — one datagram in flight; round-trip times.
//!
//! It speaks the workers' protocol: JSON lines on stdout (`{"event":"ready","port":P}` from
//! receivers and the echo, then one `{"event":"result",...}`), and a line `stop` on stdin — or the
//! end of stdin, when the parent dies — stops receivers and the echo. Senders stop at their deadline.

use std::error::Error;
use std::io::{self, BufRead, IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{
    recvmmsg, recvmsg, sendmmsg, sendmsg, setsockopt, sockopt, ControlMessage, ControlMessageOwned,
    MsgFlags, MultiHeaders, SockaddrIn,
};

/// Datagrams per `recvmmsg`/`sendmmsg` call (libuv reads 32 per wake-up; the kernel allows 1024).
const BATCH: usize = 64;
/// Segments per GSO send: `UDP_MAX_SEGMENTS` is 64 on older kernels (128 on newer ones).
const MAX_GSO_SEGMENTS: usize = 64;
/// The largest UDP payload over IPv4.
const MAX_UDP_PAYLOAD: usize = 65_507;
/// How often a blocked receiver wakes up to look at the stop flag.
const POLL_STOP: Duration = Duration::from_millis(20);

type Result<T> = std::result::Result<T, Box<dyn Error>>;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The parent reads stdout line by line: an error line there names the failure in its
            // table, and stderr keeps it for a human.
            println!(
                "{{\"event\":\"error\",\"message\":{}}}",
                json_string(&err.to_string())
            );
            eprintln!("udp_reference: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> Result<&str> {
        args.get(i)
            .map(String::as_str)
            .ok_or_else(|| format!("missing argument {i}; see the module docs for usage").into())
    };
    match arg(0)? {
        "recv-mmsg" => recv_mmsg(arg(1)?.parse()?),
        "send-mmsg" => send_mmsg(arg(1)?.parse()?, arg(2)?.parse()?, seconds(arg(3)?)?),
        "recv-gro" => recv_gro(arg(1)?.parse()?),
        "send-gso" => send_gso(arg(1)?.parse()?, arg(2)?.parse()?, seconds(arg(3)?)?),
        "echo" => echo(),
        "ping" => ping(
            arg(1)?.parse()?,
            arg(2)?.parse()?,
            seconds(arg(3)?)?,
            seconds(arg(4)?)?,
        ),
        other => Err(format!("unknown mode {other:?}").into()),
    }
}

fn seconds(text: &str) -> Result<Duration> {
    Ok(Duration::try_from_secs_f64(text.parse()?)?)
}

/// CPU time (user + system) and peak resident set of this process.
#[derive(Clone, Copy)]
struct Usage {
    cpu_us: f64,
    maxrss_kb: i64,
}

fn usage() -> Usage {
    // SAFETY: `rusage` is plain old data, for which all-zero bytes are a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable `rusage` that outlives the call; RUSAGE_SELF is always valid.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return Usage {
            cpu_us: 0.0,
            maxrss_kb: 0,
        };
    }
    let micros = |tv: libc::timeval| tv.tv_sec as f64 * 1e6 + tv.tv_usec as f64;
    Usage {
        cpu_us: micros(ru.ru_utime) + micros(ru.ru_stime),
        maxrss_kb: ru.ru_maxrss,
    }
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn bind_loopback() -> Result<UdpSocket> {
    Ok(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?)
}

/// Binds the receiving socket, tells the parent its port, and starts watching stdin for `stop`.
fn ready() -> Result<(UdpSocket, Arc<AtomicBool>)> {
    let sock = bind_loopback()?;
    sock.set_read_timeout(Some(POLL_STOP))?;
    let port = sock.local_addr()?.port();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    std::thread::spawn(move || {
        for line in io::stdin().lock().lines() {
            match line {
                Ok(line) if line.trim() == "stop" => break,
                Ok(_) => continue,
                Err(_) => break,
            }
        }
        flag.store(true, Ordering::Release);
    });
    println!("{{\"event\":\"ready\",\"port\":{port}}}");
    Ok((sock, stop))
}

/// Whether a receive or send error only means "nothing now, try again".
fn transient(err: Errno) -> bool {
    matches!(
        err,
        Errno::EAGAIN | Errno::EINTR | Errno::ENOBUFS | Errno::ECONNREFUSED
    )
}

/// Receiver-side counters. The rate is measured from the first read to the last one, as the
/// JavaScript receiver does, so start-up and the drain after the sender stopped are not counted.
#[derive(Default)]
struct RecvStats {
    received: u64,
    bytes: u64,
    first: Option<(Instant, u64, Usage)>,
    last: Option<(Instant, u64)>,
}

impl RecvStats {
    fn add(&mut self, datagrams: u64, bytes: u64) {
        self.received += datagrams;
        self.bytes += bytes;
        let now = Instant::now();
        match self.first {
            None => self.first = Some((now, self.received, usage())),
            Some(_) => self.last = Some((now, self.received)),
        }
    }

    fn report(&self) {
        let end = usage();
        let (rate, cpu_us, counted) = match (self.first, self.last) {
            (Some((t0, c0, u0)), Some((t1, c1))) => {
                let secs = t1.duration_since(t0).as_secs_f64();
                let rate = if secs > 0.0 {
                    (c1 - c0) as f64 / secs
                } else {
                    0.0
                };
                (rate, end.cpu_us - u0.cpu_us, self.received - c0)
            }
            _ => (0.0, 0.0, 0),
        };
        println!(
            "{{\"event\":\"result\",\"role\":\"recv\",\"received\":{},\"bytes\":{},\"rate\":{rate:.1},\"cpu_us\":{cpu_us:.1},\"cpu_datagrams\":{counted},\"maxrss_kb\":{}}}",
            self.received, self.bytes, end.maxrss_kb
        );
    }
}

fn recv_mmsg(size: usize) -> Result<()> {
    let (sock, stop) = ready()?;
    let fd = sock.as_raw_fd();
    // One byte more than expected, so a longer datagram would show as a byte count, not vanish.
    let mut bufs = vec![vec![0u8; size + 1]; BATCH];
    let mut headers = MultiHeaders::<SockaddrIn>::preallocate(BATCH, None);
    let mut stats = RecvStats::default();
    while !stop.load(Ordering::Acquire) {
        let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
            bufs.iter_mut().map(|buf| [IoSliceMut::new(buf)]).collect();
        // MSG_WAITFORONE: block (up to the read timeout) for the first datagram only, then take
        // whatever else is queued.
        match recvmmsg(
            fd,
            &mut headers,
            iovs.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        ) {
            Ok(msgs) => {
                let (mut n, mut bytes) = (0u64, 0u64);
                for msg in msgs {
                    n += 1;
                    bytes += msg.bytes as u64;
                }
                stats.add(n, bytes);
            }
            Err(err) if transient(err) => {}
            Err(err) => return Err(err.into()),
        }
    }
    stats.report();
    Ok(())
}

/// `_size` is accepted for symmetry with `recv-mmsg`: GRO reads need a 64 KiB buffer whatever the
/// datagram size, and the control message tells the segment size.
fn recv_gro(_size: usize) -> Result<()> {
    let (sock, stop) = ready()?;
    setsockopt(&sock, sockopt::UdpGroSegment, &true)?;
    let fd = sock.as_raw_fd();
    let mut buf = vec![0u8; 65_536];
    let mut cmsg_buf = nix::cmsg_space!(i32);
    let mut stats = RecvStats::default();
    while !stop.load(Ordering::Acquire) {
        let mut iov = [IoSliceMut::new(&mut buf)];
        match recvmsg::<SockaddrIn>(fd, &mut iov, Some(&mut cmsg_buf), MsgFlags::empty()) {
            Ok(msg) => {
                // Without the control message the read is a single datagram; with it, every
                // segment has the given size but the last, which may be shorter.
                let mut segment = 0usize;
                if let Ok(cmsgs) = msg.cmsgs() {
                    for cmsg in cmsgs {
                        if let ControlMessageOwned::UdpGroSegments(s) = cmsg {
                            segment = usize::try_from(s).unwrap_or(0);
                        }
                    }
                }
                let n = if segment > 0 {
                    msg.bytes.div_ceil(segment)
                } else {
                    1
                };
                stats.add(n as u64, msg.bytes as u64);
            }
            Err(err) if transient(err) => {}
            Err(err) => return Err(err.into()),
        }
    }
    stats.report();
    Ok(())
}

fn send_report(sent: u64, errors: u64, started: Instant, u0: Usage) {
    let end = usage();
    println!(
        "{{\"event\":\"result\",\"role\":\"send\",\"sent\":{sent},\"errors\":{errors},\"elapsed_s\":{:.6},\"cpu_us\":{:.1},\"maxrss_kb\":{}}}",
        started.elapsed().as_secs_f64(),
        end.cpu_us - u0.cpu_us,
        end.maxrss_kb
    );
}

fn connected_sender(port: u16) -> Result<UdpSocket> {
    let sock = bind_loopback()?;
    sock.connect((Ipv4Addr::LOCALHOST, port))?;
    Ok(sock)
}

fn send_mmsg(port: u16, size: usize, duration: Duration) -> Result<()> {
    let sock = connected_sender(port)?;
    let fd = sock.as_raw_fd();
    let payload = vec![0x61u8; size];
    let iovs: Vec<[IoSlice<'_>; 1]> = (0..BATCH).map(|_| [IoSlice::new(&payload)]).collect();
    let addrs: [Option<SockaddrIn>; BATCH] = [None; BATCH];
    let no_cmsgs: [ControlMessage<'_>; 0] = [];
    let mut headers = MultiHeaders::<SockaddrIn>::preallocate(BATCH, None);
    let (mut sent, mut errors) = (0u64, 0u64);
    let u0 = usage();
    let started = Instant::now();
    let deadline = started + duration;
    while Instant::now() < deadline {
        match sendmmsg(fd, &mut headers, &iovs, addrs, no_cmsgs, MsgFlags::empty()) {
            Ok(done) => sent += done.count() as u64,
            Err(err) if transient(err) => errors += 1,
            Err(err) => return Err(err.into()),
        }
    }
    send_report(sent, errors, started, u0);
    Ok(())
}

fn send_gso(port: u16, size: usize, duration: Duration) -> Result<()> {
    let sock = connected_sender(port)?;
    let fd = sock.as_raw_fd();
    let segment = u16::try_from(size)?;
    let segments = (MAX_UDP_PAYLOAD / size.max(1)).clamp(1, MAX_GSO_SEGMENTS);
    let payload = vec![0x61u8; segments * size];
    let iov = [IoSlice::new(&payload)];
    let cmsgs = [ControlMessage::UdpGsoSegments(&segment)];
    let (mut sent, mut errors) = (0u64, 0u64);
    let u0 = usage();
    let started = Instant::now();
    let deadline = started + duration;
    while Instant::now() < deadline {
        match sendmsg::<SockaddrIn>(fd, &iov, &cmsgs, MsgFlags::empty(), None) {
            Ok(_) => sent += segments as u64,
            Err(err) if transient(err) => errors += 1,
            Err(err) => return Err(err.into()),
        }
    }
    send_report(sent, errors, started, u0);
    Ok(())
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn echo() -> Result<()> {
    let (sock, stop) = ready()?;
    let mut buf = vec![0u8; 65_536];
    let (mut echoed, mut errors) = (0u64, 0u64);
    let mut u0 = None;
    while !stop.load(Ordering::Acquire) {
        match sock.recv_from(&mut buf) {
            Ok((len, from)) => {
                u0.get_or_insert_with(usage);
                match sock.send_to(&buf[..len], from) {
                    Ok(_) => echoed += 1,
                    Err(_) => errors += 1,
                }
            }
            Err(err) if is_timeout(&err) => {}
            Err(err) => return Err(err.into()),
        }
    }
    let end = usage();
    let cpu_us = u0.map_or(0.0, |u: Usage| end.cpu_us - u.cpu_us);
    println!(
        "{{\"event\":\"result\",\"role\":\"echo\",\"echoed\":{echoed},\"errors\":{errors},\"cpu_us\":{cpu_us:.1},\"maxrss_kb\":{}}}",
        end.maxrss_kb
    );
    Ok(())
}

/// Nearest-rank percentile of sorted samples (the JavaScript workers use the same definition).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ping(port: u16, size: usize, duration: Duration, warmup: Duration) -> Result<()> {
    let sock = connected_sender(port)?;
    // A datagram lost on loopback is rare; if it happens, send the next one after this long.
    sock.set_read_timeout(Some(Duration::from_millis(100)))?;
    let payload = vec![0x61u8; size];
    let mut buf = vec![0u8; 65_536];
    let mut samples: Vec<f64> = Vec::with_capacity(1 << 20);
    let (mut lost, mut total) = (0u64, 0u64);
    let started = Instant::now();
    let warm = started + warmup;
    let deadline = warm + duration;
    let mut u0 = None;
    loop {
        let sent_at = Instant::now();
        if sent_at >= deadline {
            break;
        }
        if sent_at >= warm {
            u0.get_or_insert_with(usage);
        }
        sock.send(&payload)?;
        match sock.recv(&mut buf) {
            Ok(_) => {
                let rtt = sent_at.elapsed();
                if sent_at >= warm {
                    samples.push(rtt.as_secs_f64() * 1e6);
                    total += 1;
                }
            }
            Err(err) if is_timeout(&err) => lost += 1,
            Err(err) => return Err(err.into()),
        }
    }
    let end = usage();
    let cpu_us = u0.map_or(0.0, |u: Usage| end.cpu_us - u.cpu_us);
    samples.sort_by(f64::total_cmp);
    let mean = if samples.is_empty() {
        0.0
    } else {
        samples.iter().sum::<f64>() / samples.len() as f64
    };
    println!(
        "{{\"event\":\"result\",\"role\":\"ping\",\"samples\":{total},\"lost\":{lost},\"p50_us\":{:.2},\"p99_us\":{:.2},\"mean_us\":{mean:.2},\"cpu_us\":{cpu_us:.1},\"maxrss_kb\":{}}}",
        percentile(&samples, 50.0),
        percentile(&samples, 99.0),
        end.maxrss_kb
    );
    Ok(())
}
