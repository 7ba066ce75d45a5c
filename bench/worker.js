'use strict'

// One side of a benchmark workload, in its own process (bench/run.js starts it, pinned to a CPU).
//
//   node bench/worker.js <role> --impl=node|rs [--port=P] [--size=B] [--seconds=S] [--warmup=S] [--burst=N]
//
// The implementation is `require('node:dgram')` (impl=node) or `require('dgram-rs')` (impl=rs; the
// package resolves by name from inside the repo), or impl=base: the dgram-rs checkout at BENCH_BASE
// (bench/workloads.js); DGRAM_IMPL in the environment is the default.
// Only the public node:dgram API is used (createSocket, bind, send, on('message'), close, address),
// so the same code drives both.
//
// Protocol with the parent — the same one bench/udp_reference.rs speaks:
//   - stdout: JSON lines. Receivers and the echo print {"event":"ready","port":P} once bound; every
//     role ends with one {"event":"result",...}; a failure prints {"event":"error","message":...}.
//   - stdin: a line `stop` (or the end of stdin, if the parent dies) stops receivers and the echo.
//     Senders and the ping client stop at their own deadline.
//
// Roles:
//   recv   count datagrams and bytes; the rate runs from the first datagram to the last one counted.
//   send   flood `--size`-byte datagrams to 127.0.0.1:`--port` until `--seconds` have passed, in
//          bursts of `--burst` callback-less send() calls per setImmediate tick: the sends of one
//          burst have all reached the socket before the next burst starts, so nothing queues up in
//          JS without bound, and the loop still yields to I/O between bursts. (If the socket has
//          getSendQueueCount(), a burst is skipped while more than 4 bursts wait there.)
//   send-paced  as send, paced by the callbacks: `--window` sends (default 256) in flight, each
//               send's callback issues the next one, until the deadline.
//   echo   send every datagram back to its sender.
//   ping   one datagram in flight to the echo at `--port`; round-trip times after `--warmup` s.
//
//   recv-batch  as recv, with dgram-rs's batch receive (`receiveBatches: 'segments'`: one event
//               per run of equal-size datagrams, lent; the listener only counts, so it needs no
//               copy of its own).
//   send-batch  as send, with dgram-rs's sendBatch (one full GSO send per call, as the Rust
//               reference: 64 datagrams or as many as fit in 64 KiB, cut from one buffer;
//               `--burst` calls a tick).

const { performance } = require('node:perf_hooks')

const [role, ...rest] = process.argv.slice(2)
const opts = {}
for (const arg of rest) {
  const m = /^--([^=]+)=(.*)$/.exec(arg)
  if (m) opts[m[1]] = m[2]
}
const impl = opts.impl || process.env.DGRAM_IMPL || 'node'
const HOST = '127.0.0.1'
const port = Number(opts.port || 0)
const size = Number(opts.size || 64)
const seconds = Number(opts.seconds || 2)
const warmup = Number(opts.warmup || 0)
const burst = Number(opts.burst || 64)

function emit (obj) {
  // Writes to a pipe are synchronous on Linux, so a line is out before any process.exit() below.
  process.stdout.write(`${JSON.stringify(obj)}\n`)
}

function fail (err) {
  emit({ event: 'error', message: String((err && err.message) || err), stack: err && err.stack })
  process.exit(2)
}

// A worker whose parent vanished without closing our stdin must still end.
setTimeout(() => fail(new Error('worker watchdog: no stop after the deadline')), (seconds + warmup + 120) * 1000).unref()

// The BENCH_BASE checkout, loaded by its package name as 'rs' is (a file inside a package
// requiring its own name): loaded by path instead, the same code ran floods of 1200-byte
// datagrams at 7 MB less peak RSS, since V8 sized its young generation differently from startup
// on (the name's resolution through package.json "exports" allocates first).
function requireBase () {
  const { createRequire } = require('node:module')
  const path = require('node:path')
  return createRequire(path.join(path.resolve(process.env.BENCH_BASE), 'bench', 'worker.js'))('dgram-rs')
}

let dgram
try {
  dgram = impl === 'rs'
    ? require('dgram-rs')
    : impl === 'base' ? requireBase() : require('node:dgram')
} catch (err) {
  fail(err)
}

function cpuSince (start) {
  const d = process.cpuUsage(start)
  return d.user + d.system
}

function maxRssKb () {
  return process.resourceUsage().maxRSS
}

function onStop (fn) {
  let done = false
  let text = ''
  const stop = () => {
    if (done) return
    done = true
    fn()
  }
  process.stdin.setEncoding('utf8')
  process.stdin.on('data', (chunk) => {
    text += chunk
    if (/^stop$/m.test(text)) stop()
  })
  process.stdin.on('end', stop)
  process.stdin.on('error', stop)
}

function socket (options = {}) {
  const sock = dgram.createSocket({ type: 'udp4', ...options })
  sock.on('error', fail)
  return sock
}

function finish (sock, result) {
  emit({ event: 'result', role, impl, ...result, maxrss_kb: maxRssKb() })
  try {
    sock.close()
  } catch {
    // Already closed: nothing to do, we are leaving.
  }
  process.exit(0)
}

// Counts what arrives ('message' per datagram, or with `batched` 'segments' per run of one read).
function receive (batched) {
  const sock = socket(batched ? { receiveBatches: 'segments' } : {})
  let received = 0
  let bytes = 0
  let t0 = 0
  let cpu0 = null
  // The clock is read once per 256 datagrams, not per datagram; the rate runs to the last stamp.
  let stampT = 0
  let stampCount = 0
  // Datagrams counted before the clock started (the first delivery: one datagram, or one read).
  let first = 0
  const count = (n, len) => {
    const before = received
    received += n
    bytes += len
    if (before === 0) {
      t0 = performance.now()
      cpu0 = process.cpuUsage()
      first = n
    } else if ((received >> 8) !== (before >> 8)) {
      stampT = performance.now()
      stampCount = received
    }
  }
  if (batched) {
    // The datagrams are data's segmentSize-byte slices (an empty data is one empty datagram).
    sock.on('segments', (data, segmentSize, rinfo) => count(data.length === 0 ? 1 : Math.ceil(data.length / segmentSize), rinfo.size))
  } else {
    sock.on('message', (msg) => count(1, msg.length))
  }
  sock.bind(0, HOST, () => emit({ event: 'ready', port: sock.address().port }))
  onStop(() => {
    const secs = (stampT - t0) / 1000
    finish(sock, {
      received,
      bytes,
      rate: stampCount > first && secs > 0 ? (stampCount - first) / secs : 0,
      cpu_us: cpu0 ? cpuSince(cpu0) : 0,
      cpu_datagrams: Math.max(received - first, 0)
    })
  })
}

// Floods `port` until the deadline: `sendTick(sock, buf)` sends one tick's worth and returns how
// many datagrams that was.
function flood (sendTick) {
  const sock = socket()
  const buf = Buffer.alloc(size, 0x61)
  sock.bind(0, HOST, () => {
    let sent = 0
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const deadline = t0 + seconds * 1000
    const done = () => {
      finish(sock, {
        sent,
        errors: 0,
        elapsed_s: (performance.now() - t0) / 1000,
        cpu_us: cpuSince(cpu0)
      })
    }
    // Sends refused with EAGAIN wait in the socket's queue (libuv's, or dgram-rs's own); if that
    // queue ever grows past a few bursts, skip a burst rather than let it grow without bound.
    const queued = typeof sock.getSendQueueCount === 'function' ? () => sock.getSendQueueCount() : () => 0
    const tick = () => {
      if (queued() <= 4 * burst) sent += sendTick(sock, buf)
      // The sends just issued complete on this tick's nextTick queue (lookup, then the send);
      // the next burst, or the report, comes after them.
      setImmediate(performance.now() < deadline ? tick : done)
    }
    tick()
  })
}

const roles = {
  recv () {
    receive(false)
  },

  'recv-batch' () {
    receive(true)
  },

  send () {
    flood((sock, buf) => {
      for (let i = 0; i < burst; i++) sock.send(buf, port, HOST)
      return burst
    })
  },

  'send-paced' () {
    const sock = socket()
    const buf = Buffer.alloc(size, 0x61)
    const window = Number(opts.window || 256)
    sock.bind(0, HOST, () => {
      let sent = 0
      let inFlight = 0
      const cpu0 = process.cpuUsage()
      const t0 = performance.now()
      const deadline = t0 + seconds * 1000
      const next = (err) => {
        if (err) fail(err)
        inFlight--
        sent++
        if (performance.now() < deadline) {
          inFlight++
          sock.send(buf, port, HOST, next)
        } else if (inFlight === 0) {
          finish(sock, { sent, errors: 0, elapsed_s: (performance.now() - t0) / 1000, cpu_us: cpuSince(cpu0) })
        }
      }
      for (let i = 0; i < window; i++) {
        inFlight++
        sock.send(buf, port, HOST, next)
      }
    })
  },

  'send-batch' () {
    // One full GSO send per call, as the Rust reference sends: 64 datagrams, or as many as fit
    // in one UDP payload (54 at 1200 B), cut from one buffer (the zero-copy form of sendBatch).
    const perCall = Math.max(1, Math.min(64, Math.floor(65507 / size)))
    let batch = null
    flood((sock, buf) => {
      batch ??= Buffer.concat(Array(perCall).fill(buf))
      for (let i = 0; i < burst; i++) sock.sendBatch(batch, buf.length, port, HOST)
      return burst * perCall
    })
  },

  echo () {
    const sock = socket()
    let echoed = 0
    let cpu0 = null
    sock.on('message', (msg, rinfo) => {
      if (cpu0 === null) cpu0 = process.cpuUsage()
      sock.send(msg, rinfo.port, rinfo.address)
      echoed++
    })
    sock.bind(0, HOST, () => emit({ event: 'ready', port: sock.address().port }))
    onStop(() => finish(sock, { echoed, errors: 0, cpu_us: cpu0 ? cpuSince(cpu0) : 0 }))
  },

  ping () {
    const sock = socket()
    const buf = Buffer.alloc(size, 0x61)
    const samples = new Float64Array(Math.ceil(Math.min(seconds * 300_000, 20_000_000)) + 1)
    const hr = process.hrtime.bigint
    let n = 0
    let lost = 0
    let cpu0 = null
    let sentAt = 0n
    let warmEnd = 0n
    let deadline = 0n
    let timer = null
    const sendOne = () => {
      sentAt = hr()
      sock.send(buf, port, HOST)
    }
    const done = () => {
      clearInterval(timer)
      const sorted = samples.subarray(0, n).sort()
      const pct = (p) => (n ? sorted[Math.min(n, Math.max(1, Math.ceil((p / 100) * n))) - 1] : 0)
      let sum = 0
      for (let i = 0; i < n; i++) sum += sorted[i]
      finish(sock, {
        samples: n,
        lost,
        p50_us: pct(50),
        p99_us: pct(99),
        mean_us: n ? sum / n : 0,
        cpu_us: cpu0 ? cpuSince(cpu0) : 0
      })
    }
    sock.on('message', () => {
      const now = hr()
      if (sentAt >= warmEnd) {
        samples[n++] = Number(now - sentAt) / 1000
        if (cpu0 === null) cpu0 = process.cpuUsage()
      }
      if (now >= deadline || n >= samples.length) done()
      else sendOne()
    })
    sock.bind(0, HOST, () => {
      const start = hr()
      warmEnd = start + BigInt(Math.round(warmup * 1e9))
      deadline = warmEnd + BigInt(Math.round(seconds * 1e9))
      // A datagram lost on loopback is rare; if it happens, send the next one after 100 ms.
      timer = setInterval(() => {
        const now = hr()
        if (now >= deadline) done()
        else if (now - sentAt > 100_000_000n) {
          lost++
          sendOne()
        }
      }, 50)
      sendOne()
    })
  }
}

if (!Object.hasOwn(roles, role)) fail(new Error(`unknown role ${JSON.stringify(role)}`))
roles[role]()
