'use strict'

// A Unix datagram flood, bounded in time: one sender process, one receiver
// process, 64-byte datagrams over a connected socket to a path, for each
// implementation; prints datagrams/s received and CPU µs per datagram on each
// side (process.cpuUsage() over the timed window / datagrams).
//
//   node bench/unix.js [--seconds 2] [--trials 3] [--unix-dgram <path to the unix-dgram package>]
//                      [--base <another checkout, built>]
//
// With --base, the dgram-rs rows are also run from that checkout (its own
// bench/unix.js as the child), for a before/after in one run; trials of the
// rows alternate, so that a load that comes and goes hits both alike.
//
// Rows: dgram-rs's unix-dgram drop-in and the unix-dgram package (when given or
// installed), both through that package's API (the sender resends on
// 'writable' after congestion); dgram-rs's createSocket('unix_dgram') (the
// sender's datagrams queue behind a full receiver; bursts of 64 per tick, the
// next burst once the queue is empty); and Python's socket module as a peer
// that is not Node.

const { spawn } = require('child_process')
const os = require('os')
const path = require('path')
const fs = require('fs')

const SIZE = 64
const BURST = 64

function arg (name, fallback) {
  const i = process.argv.indexOf(name)
  return i > 0 ? process.argv[i + 1] : fallback
}

const PY_RECV = `import socket, sys, time, resource
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); print('ready', flush=True)
secs = float(sys.argv[2]); n = 0
s.settimeout(5); s.recv(65536)
r0 = resource.getrusage(resource.RUSAGE_SELF); t0 = time.time(); end = t0 + secs
s.settimeout(0.2)
while time.time() < end:
    try:
        s.recv(65536); n += 1
    except socket.timeout:
        pass
r1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1e6
print('{"count": %d, "cpu": %f, "secs": %f}' % (n, cpu, time.time() - t0), flush=True)
`

const PY_SEND = `import socket, sys, time, resource, select
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(sys.argv[1]); s.setblocking(False)
secs = float(sys.argv[2]); n = 0; msg = b'x' * ${SIZE}
r0 = resource.getrusage(resource.RUSAGE_SELF); end = time.time() + secs
while time.time() < end:
    try:
        s.send(msg); n += 1
    except BlockingIOError:
        select.select([], [s], [], 0.1)
    except ConnectionRefusedError:
        break
r1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1e6
print('{"count": %d, "cpu": %f}' % (n, cpu), flush=True)
`

function child (role, impl, sockPath, seconds) {
  if (impl === 'python') {
    return spawn('python3', ['-c', role === 'recv' ? PY_RECV : PY_SEND, sockPath, String(seconds)])
  }
  // 'base:<impl>': the same role from the --base checkout.
  const base = impl.startsWith('base:') ? path.resolve(arg('--base'), 'bench', 'unix.js') : null
  return spawn(process.execPath, [base ?? __filename, role, base ? impl.slice(5) : impl, sockPath, String(seconds)])
}

function lines (proc) {
  const out = []
  let buf = ''
  const waiters = []
  proc.stdout.on('data', (d) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      out.push(buf.slice(0, i))
      buf = buf.slice(i + 1)
      waiters.splice(0).forEach((w) => w())
    }
  })
  proc.stderr.on('data', (d) => process.stderr.write(d))
  return async (n) => {
    const deadline = Date.now() + 20000
    while (out.length < n && Date.now() < deadline) await new Promise((resolve) => { waiters.push(resolve); setTimeout(resolve, 100) })
    return out[n - 1]
  }
}

async function trial (sendImpl, recvImpl, seconds) {
  const sockPath = path.join(os.tmpdir(), `dgram-rs-bench-unix-${process.pid}.sock`)
  try { fs.unlinkSync(sockPath) } catch { /* none */ }
  const recv = child('recv', recvImpl, sockPath, seconds)
  const recvLine = lines(recv)
  await recvLine(1)
  // The sender runs a little longer than the receiver's window.
  const send = child('send', sendImpl, sockPath, seconds + 0.5)
  const sendLine = lines(send)
  const r = JSON.parse(await recvLine(2))
  const s = JSON.parse(await sendLine(1))
  recv.kill()
  send.kill()
  try { fs.unlinkSync(sockPath) } catch { /* none */ }
  return { rate: r.count / (r.secs ?? seconds), recvCpu: r.cpu / r.count, sendCpu: s.cpu / s.count }
}

// ----- the child roles (Node implementations) -----

function recvRole (impl, sockPath, seconds) {
  let count = 0
  let cpu0
  let t0
  const onMessage = () => {
    if (count++ === 0) {
      cpu0 = process.cpuUsage()
      t0 = process.hrtime.bigint()
      setTimeout(() => {
        const c = process.cpuUsage(cpu0)
        const secs = Number(process.hrtime.bigint() - t0) / 1e9
        console.log(JSON.stringify({ count: count - 1, cpu: c.user + c.system, secs }))
        process.exit(0)
      }, seconds * 1000)
    }
  }
  let sock
  if (impl === 'node-style') {
    sock = require('..').createSocket('unix_dgram', onMessage)
  } else {
    sock = loadImpl(impl).createSocket('unix_dgram', onMessage)
  }
  sock.bind(sockPath)
  console.log('ready')
}

function loadImpl (impl) {
  return impl === 'drop-in' ? require('../lib/unix-dgram') : require(impl)
}

function sendRole (impl, sockPath, seconds) {
  const msg = Buffer.alloc(SIZE, 120)
  let sent = 0
  const cpu0 = process.cpuUsage()
  const end = Date.now() + seconds * 1000
  const finish = () => {
    const c = process.cpuUsage(cpu0)
    console.log(JSON.stringify({ count: sent, cpu: c.user + c.system }))
    process.exit(0)
  }
  if (impl === 'node-style') {
    const s = require('..').createSocket('unix_dgram')
    s.connect(sockPath, () => {
      const burst = () => {
        if (Date.now() > end) return finish()
        let left = BURST
        for (let i = 0; i < BURST; i++) {
          s.send(msg, (err) => {
            if (err) return finish()
            sent++
            if (--left === 0) setImmediate(burst)
          })
        }
      }
      burst()
    })
    return
  }
  const s = loadImpl(impl).createSocket('unix_dgram')
  // The receiver's window closed first: its socket is gone (ECONNREFUSED).
  s.on('error', finish)
  s.on('connect', () => {
    let congested = false
    s.on('congestion', () => { congested = true })
    s.on('writable', () => { congested = false; setImmediate(burst) })
    const burst = () => {
      if (Date.now() > end) return finish()
      // The 'congestion' listener sets `congested`, synchronously inside send().
      // eslint-disable-next-line no-unmodified-loop-condition
      for (let i = 0; i < BURST && !congested; i++) {
        s.send(msg)
        if (!congested) sent++
      }
      if (!congested) setImmediate(burst)
    }
    burst()
  })
  s.connect(sockPath)
}

async function main () {
  const seconds = Number(arg('--seconds', 2))
  const trials = Number(arg('--trials', 3))
  let oracle = arg('--unix-dgram')
  if (!oracle) {
    try { oracle = path.dirname(require.resolve('unix-dgram/package.json')) } catch { /* absent */ }
  }
  const base = arg('--base')
  const pairs = [
    ['dgram-rs unix-dgram drop-in', 'drop-in', 'drop-in'],
    ...(base ? [['  the same, --base', 'base:drop-in', 'base:drop-in']] : []),
    ...(oracle ? [['unix-dgram package (node-gyp)', oracle, oracle]] : []),
    ["dgram-rs createSocket('unix_dgram')", 'node-style', 'node-style'],
    ...(base ? [['  the same, --base', 'base:node-style', 'base:node-style']] : []),
    ['Python socket (both sides)', 'python', 'python']
  ]
  console.log(`Unix datagram flood: ${SIZE}-byte datagrams, connected sender, ${seconds} s × ${trials} trials, medians`)
  const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1]
  const runs = pairs.map(() => [])
  for (let i = 0; i < trials; i++) {
    for (const [j, [, sendImpl, recvImpl]] of pairs.entries()) runs[j].push(await trial(sendImpl, recvImpl, seconds))
  }
  console.log('| pairing | datagrams/s | sender CPU µs/dgram | receiver CPU µs/dgram | datagrams/s of each trial |')
  console.log('|---|---:|---:|---:|---|')
  for (const [j, [label]] of pairs.entries()) {
    const rate = median(runs[j].map((r) => r.rate))
    const each = runs[j].map((r) => `${Math.round(r.rate / 1000)}`).join(', ')
    console.log(`| ${label} | ${Math.round(rate / 1000)} k | ${median(runs[j].map((r) => r.sendCpu)).toFixed(2)} | ${median(runs[j].map((r) => r.recvCpu)).toFixed(2)} | ${each} |`)
  }
}

const [role, impl, sockPath, seconds] = process.argv.slice(2)
if (role === 'recv') recvRole(impl, sockPath, Number(seconds))
else if (role === 'send') sendRole(impl, sockPath, Number(seconds))
else main()
