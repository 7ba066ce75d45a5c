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
// Time is wall-clock within the child (module load excluded: both are loaded before the clock
// starts); memory is RSS growth over the child's baseline after gc(), and the child's peak RSS.
// Loopback only; every workload is bounded in count and each child in time.

const { spawn } = require('node:child_process')
const path = require('node:path')
const { performance } = require('node:perf_hooks')

const ROOT = path.resolve(__dirname, '..')
const CHILD_LIMIT_MS = 60000

const WORKLOADS = {
  'create/bind/close': { count: 5000, run: createBindClose },
  'round trip': { count: 5000, run: roundTrips },
  '2,000 open sockets': { count: 2000, run: openMany }
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

async function child (impl, workload) {
  const dgram = require(impl === 'node' ? 'node:dgram' : ROOT)
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

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
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
    const got = { node: [], rs: [] }
    for (let t = 0; t < trials; t++) {
      for (const impl of t % 2 ? ['rs', 'node'] : ['node', 'rs']) got[impl].push(await runChild(impl, workload))
    }
    const pick = (impl, key) => median(got[impl].map((r) => r[key]))
    const figures = [['ms', 'time'], ['openMs', 'time to all open'], ['openGrowthMB', 'RSS growth, all open (MB)'], ['peakMB', 'peak RSS (MB)']]
    for (const [key, label] of figures) {
      if (got.node[0][key] === undefined) continue
      const node = pick('node', key)
      const rs = pick('rs', key)
      const range = (impl) => {
        const xs = got[impl].map((r) => r[key])
        return `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`
      }
      rows.push({ workload, figure: label, node: +node.toFixed(1), rs: +rs.toFixed(1), ratio: +(rs / node).toFixed(2), 'node range': range('node'), 'rs range': range('rs') })
    }
  }
  console.log(`socket churn, median of ${trials} trials per implementation (ratio = dgram-rs / node:dgram; ranges: min–max over the trials)`)
  console.table(rows)
  return rows
}

if (process.argv[2] === '--child') {
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
