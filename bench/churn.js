'use strict'

// Socket churn, node:dgram beside dgram-rs: what a DNS client, a health checker or a service
// discovery tool pays when it opens a socket per query.
//
//   npm run bench -- --churn [--trials=5] [--only=<regex on workload>]
//   (node bench/run.js --churn …, or node bench/churn.js …)
//
// Workloads, each run in a fresh child process per trial (implementations alternate, so drift in
// the machine hits both alike); the median of the trials is printed with dgram-rs's ratio:
//   create/bind/close      createSocket('udp4'), bind(0, '127.0.0.1'), close(callback), one at a
//                          time, 5,000 cycles
//   round trip             create, bind, send a datagram to itself, receive it, close; 16 at a
//                          time, 5,000 cycles
//   2,000 open sockets     2,000 sockets created and bound at once (time until every 'listening'),
//                          then closed; RSS is taken after gc() before and while all are open
//   10,000 idle sockets    the same with 10,000 (needs `ulimit -n` above 10,000: the child raises
//                          nothing itself, and reports the error if the limit is lower)
//   10,000 received 2      10,000 sockets bound, 2 datagrams sent to each (from one node:dgram
//                          socket, the same for both), every one received; descriptors the process
//                          holds per socket then (1.0: the socket's own; pacing or a reader that
//                          kept one per socket would show here), and RSS growth after gc() then
//                          (what a socket keeps once it has received: a read's leftovers kept per
//                          socket would show here)
//   500 × 10/s in pairs    500 sockets receiving 10 datagrams/s each, in pairs (a node:dgram
//                          sender in another process sends 2 to 5 of the sockets every 2 ms), for
//                          3 s: the receiving process's CPU (% of one core) and descriptors per
//                          socket
// Time is wall-clock within the child (module load excluded: both are loaded before the clock
// starts); memory is RSS growth over the child's baseline after gc(), and the child's peak RSS.
// BENCH_BASE=<path of another dgram-rs checkout, built> adds its figures (a before/after in one
// run).
// Loopback only; every workload is bounded in count and each child in time.

const { spawn } = require('node:child_process')
const path = require('node:path')
const { performance } = require('node:perf_hooks')
const { median } = require('./report')

const ROOT = path.resolve(__dirname, '..')
const CHILD_LIMIT_MS = 60000

const WORKLOADS = {
  'create/bind/close': { count: 5000, run: createBindClose },
  'round trip': { count: 5000, run: roundTrips },
  '2,000 open sockets': { count: 2000, run: openMany },
  '10,000 idle sockets': { count: 10000, run: openMany },
  '10,000 received 2': { count: 10000, run: receivedTwo },
  '500 × 10/s in pairs': { count: 500, run: pairs }
}

// ---------------------------------------------------------------------------------------------
// Child: one workload, one implementation; prints one JSON line.

function gc () {
  global.gc()
  global.gc()
}

const rssMB = () => process.memoryUsage.rss() / 1048576

async function createBindClose (dgram, count) {
  for (let i = 0; i < count; i++) {
    const s = dgram.createSocket('udp4')
    await new Promise((resolve) => s.bind(0, '127.0.0.1', resolve))
    await new Promise((resolve) => s.close(resolve))
  }
  return {}
}

async function roundTrips (dgram, count) {
  let next = 0
  const payload = Buffer.from('ping')
  const cycle = () => new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4')
    s.on('error', reject)
    s.on('message', () => s.close(resolve))
    s.bind(0, '127.0.0.1', () => s.send(payload, s.address().port, '127.0.0.1'))
  })
  const lane = async () => {
    while (next < count) {
      next++
      await cycle()
    }
  }
  await Promise.all(Array.from({ length: 16 }, lane))
  return {}
}

async function openMany (dgram, count) {
  const sockets = []
  await Promise.all(Array.from({ length: count }, () => {
    const s = dgram.createSocket('udp4')
    sockets.push(s)
    return new Promise((resolve) => s.bind(0, '127.0.0.1', resolve))
  }))
  const openMs = performance.now()
  gc()
  const openRss = rssMB()
  await Promise.all(sockets.map((s) => new Promise((resolve) => s.close(resolve))))
  return { openMs, openRss }
}

const fds = () => require('node:fs').readdirSync('/proc/self/fd').length

async function bindAll (dgram, count) {
  const sockets = Array.from({ length: count }, () => dgram.createSocket('udp4'))
  await Promise.all(sockets.map((s) => new Promise((resolve, reject) => {
    s.once('error', reject)
    s.bind(0, '127.0.0.1', resolve)
  })))
  return sockets
}

const closeAll = (sockets) => Promise.all(sockets.map((s) => new Promise((resolve) => s.close(resolve))))

// Resolves when `done()`, checking every 10 ms; rejects after `ms`.
async function until (done, ms, what) {
  for (let waited = 0; !done(); waited += 10) {
    if (waited >= ms) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

async function receivedTwo (dgram, count) {
  const fds0 = fds()
  const rss0 = rssMB()
  const sockets = await bindAll(dgram, count)
  let got = 0
  for (const s of sockets) s.on('message', () => { got++ })
  const sender = require('node:dgram').createSocket('udp4')
  await new Promise((resolve) => sender.bind(0, '127.0.0.1', resolve))
  // In slices, so that the sender's queue stays short.
  for (let i = 0; i < count; i += 500) {
    for (const s of sockets.slice(i, i + 500)) {
      const port = s.address().port
      sender.send('a', port, '127.0.0.1')
      sender.send('b', port, '127.0.0.1')
    }
    await new Promise((resolve) => setImmediate(resolve))
  }
  await until(() => got === 2 * count, 30000, 'every datagram')
  // A moment for anything a read leaves behind (a timer's turn) to settle.
  await new Promise((resolve) => setTimeout(resolve, 50))
  const perSocket = (fds() - fds0 - 1) / count // - 1: the sender's socket
  gc()
  const grownMB = rssMB() - rss0
  sender.close()
  await closeAll(sockets)
  return { figures: { 'descriptors per socket': perSocket, 'RSS growth, all received (MB)': grownMB } }
}

// The sender of `pairs`: argv ports (comma-separated), seconds.
function pairSender (ports, seconds) {
  const s = require('node:dgram').createSocket('udp4')
  let next = 0
  const timer = setInterval(() => {
    for (let i = 0; i < 5; i++) {
      const port = ports[next]
      next = (next + 1) % ports.length
      s.send('a', port, '127.0.0.1')
      s.send('b', port, '127.0.0.1')
    }
  }, 2)
  setTimeout(() => { clearInterval(timer); s.close() }, seconds * 1000)
}

async function pairs (dgram, count) {
  const SECONDS = 3
  const fds0 = fds()
  const sockets = await bindAll(dgram, count)
  let got = 0
  for (const s of sockets) s.on('message', () => { got++ })
  const ports = sockets.map((s) => s.address().port).join(',')
  const sender = spawn(process.execPath, [__filename, '--pair-sender', ports, String(SECONDS)], { stdio: 'inherit' })
  const senderDone = new Promise((resolve) => sender.on('exit', resolve))
  const kill = setTimeout(() => sender.kill('SIGKILL'), (SECONDS + 10) * 1000)
  // Measured from the first datagram to the sender's end.
  await until(() => got > 0, 5000, 'the first datagram')
  const t0 = performance.now()
  const cpu0 = process.cpuUsage()
  let fdsMax = 0
  const sample = setInterval(() => { fdsMax = Math.max(fdsMax, fds()) }, 100)
  await senderDone
  clearTimeout(kill)
  clearInterval(sample)
  const cpu = process.cpuUsage(cpu0)
  const wallUs = (performance.now() - t0) * 1000
  await closeAll(sockets)
  return {
    figures: {
      'receiver CPU (% of a core)': 100 * (cpu.user + cpu.system) / wallUs,
      'descriptors per socket (max)': (fdsMax - fds0) / count,
      'datagrams received': got
    }
  }
}

async function child (impl, workload) {
  const dgram = require(impl === 'node' ? 'node:dgram' : impl === 'base' ? path.resolve(process.env.BENCH_BASE) : ROOT)
  const w = WORKLOADS[workload]
  // Warm both the module and the code paths a little, outside the measurement.
  await createBindClose(dgram, 50)
  gc()
  const rss0 = rssMB()
  const t0 = performance.now()
  const extra = await w.run(dgram, w.count)
  const ms = performance.now() - t0
  const out = { ms, peakMB: process.resourceUsage().maxRSS / 1024 }
  if (extra.openMs !== undefined) {
    out.openMs = extra.openMs - t0
    out.openGrowthMB = extra.openRss - rss0
  }
  Object.assign(out, extra.figures)
  process.stdout.write(JSON.stringify(out) + '\n')
}

// ---------------------------------------------------------------------------------------------
// Parent: trials, medians, ratios.

function runChild (impl, workload) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--expose-gc', __filename, '--child', impl, workload], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    p.stdout.on('data', (d) => { out += d })
    const timer = setTimeout(() => p.kill('SIGKILL'), CHILD_LIMIT_MS)
    p.on('exit', (code, signal) => {
      clearTimeout(timer)
      if (code !== 0) return reject(new Error(`${impl} ${workload}: exit ${code ?? signal}`))
      resolve(JSON.parse(out.trim().split('\n').pop()))
    })
  })
}

async function main (argv) {
  const opt = (name, fallback) => {
    const a = argv.find((x) => x.startsWith(`--${name}=`))
    return a ? a.slice(name.length + 3) : fallback
  }
  const trials = Number(opt('trials', 5))
  const only = new RegExp(opt('only', '.'))
  const rows = []
  for (const workload of Object.keys(WORKLOADS).filter((w) => only.test(w))) {
    const impls = process.env.BENCH_BASE ? ['node', 'rs', 'base'] : ['node', 'rs']
    const got = Object.fromEntries(impls.map((impl) => [impl, []]))
    for (let t = 0; t < trials; t++) {
      for (const impl of t % 2 ? [...impls].reverse() : impls) got[impl].push(await runChild(impl, workload))
    }
    const pick = (impl, key) => median(got[impl].map((r) => r[key]))
    const figures = [['ms', 'time'], ['openMs', 'time to all open'], ['openGrowthMB', 'RSS growth, all open (MB)'], ['peakMB', 'peak RSS (MB)'],
      ...Object.keys(got.node[0]).filter((k) => !['ms', 'openMs', 'openGrowthMB', 'peakMB'].includes(k)).map((k) => [k, k])]
    for (const [key, label] of figures) {
      if (got.node[0][key] === undefined) continue
      const node = pick('node', key)
      const rs = pick('rs', key)
      const range = (impl) => {
        const xs = got[impl].map((r) => r[key])
        return `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`
      }
      const digits = Math.abs(node) < 10 ? 2 : 1
      const row = { workload, figure: label, node: +node.toFixed(digits), rs: +rs.toFixed(digits), ratio: +(rs / node).toFixed(2), 'node range': range('node'), 'rs range': range('rs') }
      if (got.base) {
        const base = pick('base', key)
        Object.assign(row, { 'rs (BENCH_BASE)': +base.toFixed(digits), 'ratio (BENCH_BASE)': +(base / node).toFixed(2) })
      }
      rows.push(row)
    }
  }
  console.log(`socket churn, median of ${trials} trials per implementation (ratio = dgram-rs / node:dgram; ranges: min–max over the trials)`)
  console.table(rows)
  return rows
}

if (process.argv[2] === '--pair-sender') {
  pairSender(process.argv[3].split(',').map(Number), Number(process.argv[4]))
} else if (process.argv[2] === '--child') {
  child(process.argv[3], process.argv[4]).catch((e) => {
    console.error(e)
    process.exit(1)
  })
} else if (require.main === module) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(e)
    process.exitCode = 1
  })
}

module.exports = { main }
