'use strict'

// Scale-out benchmark: one UDP port served by 1, 2, 4, … receivers (up to the core count), flooded
// by several sender processes; datagrams/s received in total, and how evenly the receivers share.
//
//   npm run bench -- --scale [--seconds=2] [--trials=2] [--senders=8] [--max=<receivers>]
//   (node bench/run.js --scale …; --max defaults to the core count)
//
// Receivers count datagrams in a per-datagram 'message' handler. Setups:
//   node:dgram cluster     cluster workers sharing the primary's socket (a worker's plain bind())
//   dgram-rs cluster       the same with dgram-rs
//   dgram-rs reusePort     worker_threads, each with its own socket ({ reusePort: true })
//   … + balance flow       the same with reusePortBalance { by: 'flow' }
//   … + balance datagram   the same with reusePortBalance { by: 'datagram' }
// Senders: bench/udp_reference's send-mmsg (64 datagrams of 64 B per sendmmsg, each its own
// packet, one connected socket = one flow per process, from a random ephemeral port), built with
// cargo if missing. Traffic is on 127.0.0.1 only; every process stops at its deadline and is
// killed at the end, on error too.

const { fork, spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.resolve(__dirname, '..')
const REFERENCE = path.join(ROOT, 'target', 'release', 'examples', 'udp_reference')
const SIZE = 64
const WARMUP_S = 0.3

const SETUPS = [
  { name: 'node:dgram cluster', impl: 'node:dgram', mode: 'cluster' },
  { name: 'dgram-rs cluster', impl: 'dgram-rs', mode: 'cluster' },
  { name: 'dgram-rs reusePort', impl: 'dgram-rs', mode: 'threads' },
  { name: '+ balance flow', impl: 'dgram-rs', mode: 'threads', balance: 'flow' },
  { name: '+ balance datagram', impl: 'dgram-rs', mode: 'threads', balance: 'datagram' }
]

// ---------------------------------------------------------------------------------------------
// A receiver: one socket on cfg.port, in a cluster worker or a worker thread. Answers 'start'
// (count from now) and 'stop' (report and exit) from its group.

function receiver (cfg, post, listen) {
  const dgram = require(cfg.impl === 'dgram-rs' ? ROOT : 'node:dgram')
  const options = { type: 'udp4' }
  if (cfg.mode === 'threads') {
    options.reusePort = true
    if (cfg.balance) { options.reusePortBalance = { receivers: cfg.receivers, by: cfg.balance } }
  }
  const socket = dgram.createSocket(options)
  let count = 0
  let started = process.hrtime.bigint()
  socket.on('message', () => { count++ })
  socket.on('error', (err) => post({ ev: 'error', message: err.message }))
  socket.bind({ port: cfg.port, address: '127.0.0.1' }, () => post({ ev: 'ready' }))
  listen((m) => {
    if (m === 'start') {
      count = 0
      started = process.hrtime.bigint()
    } else if (m === 'stop') {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      // The socket is not closed: a cluster worker's close() would write to a primary that may
      // have exited already (EPIPE). Every receiver ends with its group.
      post({ ev: 'count', count, seconds })
      socket.removeAllListeners('message')
    }
  })
}

// The group: R receivers, relaying between them and the benchmark process.
function group (cfg) {
  const members = []
  const counts = []
  let ready = 0
  const toParent = (m) => process.send(m)
  const onMember = (i) => (m) => {
    if (m.ev === 'ready' && ++ready === cfg.receivers) toParent({ ev: 'ready' })
    else if (m.ev === 'error') toParent(m)
    else if (m.ev === 'count') {
      counts[i] = m.count / m.seconds
      if (counts.filter((c) => c !== undefined).length === cfg.receivers) {
        toParent({ ev: 'result', rates: counts })
        setTimeout(() => process.exit(0), 100).unref()
      }
    }
  }
  const args = ['receiver', JSON.stringify(cfg)]
  for (let i = 0; i < cfg.receivers; i++) {
    if (cfg.mode === 'cluster') {
      const cluster = require('node:cluster')
      cluster.setupPrimary({ exec: __filename, args, silent: false })
      const w = cluster.fork()
      w.on('message', onMember(i))
      members.push((m) => w.send(m))
    } else {
      const { Worker } = require('node:worker_threads')
      const w = new Worker(__filename, { argv: args })
      w.on('message', onMember(i))
      w.on('error', (err) => toParent({ ev: 'error', message: err.message }))
      members.push((m) => w.postMessage(m))
    }
  }
  process.on('message', (m) => members.forEach((send) => send(m)))
  process.on('disconnect', () => process.exit(0))
}

function child () {
  const role = process.argv[2]
  const cfg = JSON.parse(process.argv[3])
  // Every process of the bench ends by itself.
  setTimeout(() => process.exit(0), cfg.lifetimeMs).unref()
  if (role === 'group') return group(cfg)
  const { isMainThread, parentPort } = require('node:worker_threads')
  if (isMainThread) {
    receiver(cfg, (m) => process.send(m), (fn) => process.on('message', fn))
    process.on('disconnect', () => process.exit(0))
  } else {
    receiver(cfg, (m) => parentPort.postMessage(m), (fn) => parentPort.on('message', fn))
  }
}

// ---------------------------------------------------------------------------------------------
// The benchmark process.

const log = (...a) => console.error(...a)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const live = new Set()
function track (p) {
  live.add(p)
  p.on('exit', () => live.delete(p))
  return p
}
function killAll () {
  for (const p of live) {
    try { p.kill('SIGKILL') } catch { /* already gone */ }
  }
}

function reference () {
  if (fs.existsSync(REFERENCE)) return REFERENCE
  log('building the senders: cargo build --release --example udp_reference')
  const r = spawnSync('cargo', ['build', '--release', '--example', 'udp_reference'], {
    cwd: ROOT, stdio: ['ignore', process.stderr, process.stderr], timeout: 600_000
  })
  if (r.status !== 0 || !fs.existsSync(REFERENCE)) throw new Error('cargo build of udp_reference failed')
  return REFERENCE
}

// A free loopback port (bound, read, closed).
function freePort () {
  const s = require('node:dgram').createSocket('udp4')
  return new Promise((resolve, reject) => {
    s.once('error', reject)
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

// Waits for a message from `p` matching `ev`, at most `ms`.
function expect (p, ev, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { p.off('message', on); reject(new Error(`no ${ev} within ${ms} ms`)) }, ms)
    function on (m) {
      if (m.ev === 'error') {
        clearTimeout(timer)
        p.off('message', on)
        reject(new Error(m.message))
      } else if (m.ev === ev) {
        clearTimeout(timer)
        p.off('message', on)
        resolve(m)
      }
    }
    p.on('message', on)
  })
}

// One trial: rates[i], datagrams/s of receiver i over `seconds`.
async function trial (setup, receivers, opts) {
  const port = await freePort()
  const lifetimeMs = Math.round((opts.seconds + WARMUP_S) * 1000) + 15_000
  const cfg = { ...setup, receivers, port, lifetimeMs }
  const g = track(fork(__filename, ['group', JSON.stringify(cfg)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  try {
    await expect(g, 'ready', 10_000)
    const senderSeconds = String(opts.seconds + WARMUP_S + 0.5)
    for (let i = 0; i < opts.senders; i++) {
      track(spawn(opts.bin, ['send-mmsg', String(port), String(SIZE), senderSeconds], { stdio: 'ignore' }))
    }
    await sleep(WARMUP_S * 1000)
    g.send('start')
    await sleep(opts.seconds * 1000)
    g.send('stop')
    const { rates } = await expect(g, 'result', 5_000)
    return rates
  } finally {
    killAll()
    await sleep(200)
  }
}

function summarize (rates) {
  const total = rates.reduce((a, b) => a + b, 0)
  const mean = total / rates.length
  return {
    total,
    idle: rates.filter((r) => r === 0).length,
    minShare: mean > 0 ? Math.min(...rates) / mean : 0
  }
}

const range = (xs, fmt) => {
  const lo = Math.min(...xs)
  const hi = Math.max(...xs)
  return fmt(lo) === fmt(hi) ? fmt(lo) : `${fmt(lo)}–${fmt(hi)}`
}
const mega = (x) => `${(x / 1e6).toFixed(2)}`

async function main (argv) {
  const opt = (name, dflt) => {
    const a = argv.find((x) => x.startsWith(`--${name}=`))
    if (a === undefined) return dflt
    const n = Number(a.slice(name.length + 3))
    if (!(n > 0)) throw new Error(`--${name} must be a positive number`)
    return n
  }
  for (const a of argv) {
    if (!/^--(seconds|trials|senders|max)=/.test(a)) { throw new Error(`unknown argument ${a}\nusage: node bench/run.js --scale [--seconds=2] [--trials=2] [--senders=8] [--max=N]`) }
  }
  const cores = os.availableParallelism()
  const opts = {
    seconds: opt('seconds', 2),
    trials: Math.round(opt('trials', 2)),
    senders: Math.round(opt('senders', 8)),
    bin: reference()
  }
  const max = Math.round(opt('max', cores))
  const counts = []
  for (let r = 1; r <= max; r *= 2) counts.push(r)
  if (counts[counts.length - 1] !== max) counts.push(max)

  process.on('exit', killAll)
  const results = new Map() // `${setup.name}/${receivers}` → summaries
  for (let t = 1; t <= opts.trials; t++) {
    for (const receivers of counts) {
      for (const setup of SETUPS) {
        const key = `${setup.name}/${receivers}`
        let s
        try {
          s = summarize(await trial(setup, receivers, opts))
          log(`trial ${t}: ${setup.name}, ${receivers} receivers: ${mega(s.total)} M/s, ${s.idle} idle, min share ${s.minShare.toFixed(2)}`)
        } catch (err) {
          log(`trial ${t}: ${setup.name}, ${receivers} receivers: failed: ${err.message}`)
          continue
        }
        if (!results.has(key)) results.set(key, [])
        results.get(key).push(s)
      }
    }
  }

  const cpu = os.cpus()[0] ? os.cpus()[0].model.trim() : 'unknown CPU'
  console.log(`\n${cores} cores (${cpu}), Node ${process.version}, ${opts.senders} sender processes ` +
    `(one flow each, 64 B datagrams), ${opts.seconds} s per trial, ${opts.trials} trials: ranges over trials.\n`)
  const header = `| receivers | ${SETUPS.map((s) => s.name).join(' | ')} |\n|---:|${SETUPS.map(() => '---:').join('|')}|`
  const table = (cell) => {
    console.log(header)
    for (const r of counts) {
      const cells = SETUPS.map((s) => {
        const xs = results.get(`${s.name}/${r}`)
        return xs ? cell(xs, r) : 'failed'
      })
      console.log(`| ${r} | ${cells.join(' | ')} |`)
    }
  }
  console.log('Datagrams/s received in total (M):\n')
  table((xs) => range(xs.map((x) => x.total), mega))
  console.log('\nIdle receivers / smallest share of a receiver (its rate ÷ the mean rate):\n')
  table((xs, r) => `${range(xs.map((x) => x.idle), String)} of ${r} idle, min ${range(xs.map((x) => x.minShare), (v) => v.toFixed(2))}`)
}

if (require.main === module && process.argv[2] !== undefined && !process.argv[2].startsWith('--')) {
  child()
} else if (require.main === module) {
  main(process.argv.slice(2)).catch((err) => { log(err.message); process.exit(1) })
}

module.exports = { main }
