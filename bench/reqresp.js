'use strict'

// Request/response with a window of requests in flight (issue 21): a client keeps W requests
// outstanding against an echo server (each reply sends the next request), for W = 1, 2, 4, 8, 32,
// both ends node:dgram or both dgram-rs, side by side in one run, each side its own process
// pinned to its own core (taskset; "across cores"). Prints requests/s and the median round trip,
// and the ratio to node:dgram.
//
//   npm run bench -- --reqresp [--seconds=1] [--trials=3] [--windows=1,2,4,8,32] [--ports=1]
//                              [--size=64] [--one-core]
//   (node bench/run.js --reqresp …, or node bench/reqresp.js …)
//
// --ports=N: the client sends from N sockets in turn (the window counts requests in flight over
// all of them): the DNS-shaped server of issue 21 is `--ports=1000 --windows=4,1000` (1,000
// client ports, 4 queries in flight, then all 1,000 in flight). The client's CPU per reply is
// printed too.
// --size=N: request (and reply) size in bytes, 64 by default; issue 21's echo soak is
// `--windows=32 --size=512 --seconds=60`.
// --one-core: client and server pinned to the same core (core 0), where every wake-up of one
// end takes the core from the other; issue 21's "bursts of 2 requests, one core" is
// `--one-core --windows=2`.
// --shared-core: a busy process (a JavaScript loop that never waits) shares the client's core
// for the whole trial, as a build or another service would: a client that gives its core away
// while it waits pays the busy process's time slice.
//
// BENCH_BASE=<path of another dgram-rs checkout, built> adds its rows (a before/after in one run).
// Traffic is on 127.0.0.1 only; every child is bounded in time and killed at the end.

const { lineChild } = require('./line-child')
const path = require('node:path')
const { median } = require('./report')

const ROOT = path.resolve(__dirname, '..')

function load (impl) { return require(impl === 'node' ? 'node:dgram' : impl) }

// --- child roles -------------------------------------------------------------------------------

function echo (impl) {
  const s = load(impl).createSocket('udp4')
  s.on('message', (m, r) => s.send(m, r.port, r.address))
  s.bind(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: s.address().port }) + '\n'))
  process.stdin.on('data', () => process.exit(0)).on('end', () => process.exit(0))
}

function client (impl, port, window, seconds, ports, size) {
  const dgram = load(impl)
  // `ports` client sockets (a DNS-shaped server sees that many client ports); the requests go out
  // from each in turn.
  const sockets = Array.from({ length: ports }, () => dgram.createSocket('udp4'))
  const sentAt = new Map()
  let seq = 0
  let next = 0
  let done = 0
  const rtts = []
  let measuring = false
  const send = () => {
    const id = seq++
    // A Buffer per request: node:dgram (and so dgram-rs) sends after the lookup's next tick, so
    // one Buffer rewritten for every request of a tick would carry the tick's last id W times.
    const payload = Buffer.alloc(size)
    payload.writeUInt32LE(id, 0)
    sentAt.set(id, process.hrtime.bigint())
    sockets[next].send(payload, port, '127.0.0.1')
    next = (next + 1) % ports
  }
  const onMessage = (m) => {
    const id = m.readUInt32LE(0)
    const t0 = sentAt.get(id)
    // A late reply to a request already counted lost and replaced: the window is full.
    if (t0 === undefined) return
    sentAt.delete(id)
    if (measuring) {
      done++
      if (rtts.length < 200000) rtts.push(Number(process.hrtime.bigint() - t0) / 1000)
    }
    send()
  }
  let bound = 0
  for (const s of sockets) {
    s.on('message', onMessage)
    s.bind(0, '127.0.0.1', () => { if (++bound === ports) start() })
  }
  // A request unanswered after 100 ms is counted lost and replaced, so that a lost datagram (on a
  // loaded machine) does not shrink the window for the rest of the trial.
  let lost = 0
  setInterval(() => {
    const old = process.hrtime.bigint() - 100_000_000n
    for (const [id, t] of sentAt) {
      if (t > old) break // in the order sent
      sentAt.delete(id)
      lost++
      send()
    }
  }, 20).unref()
  function start () {
    for (let i = 0; i < window; i++) send()
    // A short warm-up, then the measured period.
    setTimeout(() => {
      measuring = true
      const start = process.hrtime.bigint()
      const cpu0 = process.cpuUsage()
      setTimeout(() => {
        const secs = Number(process.hrtime.bigint() - start) / 1e9
        const cpu = process.cpuUsage(cpu0)
        rtts.sort((a, b) => a - b)
        process.stdout.write(JSON.stringify({
          rate: done / secs,
          p50: rtts[rtts.length >> 1] || null,
          cpuPerReply: done ? (cpu.user + cpu.system) / done : null,
          lost
        }) + '\n')
        process.exit(0)
      }, seconds * 1000)
    }, 200)
  }
}

// A process that keeps its core busy for `ms` (bounded), after one line saying it has begun.
function busy (ms) {
  process.stdout.write('{}\n')
  const end = Date.now() + ms
  while (Date.now() < end);
  process.exit(0)
}

// --- parent ------------------------------------------------------------------------------------

const child = (args, cpu, limitMs) => lineChild(__filename, args, { cpu, limitMs })

async function trial (impl, window, seconds, ports, size, serverCore, sharedCore) {
  const limitMs = (seconds + 10) * 1000
  const hog = sharedCore ? child(['busy', String(limitMs)], 0, limitMs) : null
  try {
    if (hog) await hog.next()
    const server = child(['echo', impl], serverCore, limitMs)
    try {
      const { port } = await server.next()
      const c = child(['client', impl, String(port), String(window), String(seconds), String(ports), String(size)], 0, limitMs)
      try {
        return await c.next()
      } finally { c.stop() }
    } finally { server.stop() }
  } finally { if (hog) hog.stop() }
}

async function main (argv) {
  const opt = (name, dflt) => {
    const a = argv.find((x) => x.startsWith(`--${name}=`))
    return a ? a.slice(name.length + 3) : dflt
  }
  const seconds = Number(opt('seconds', 1))
  const trials = Number(opt('trials', 3))
  const windows = opt('windows', '1,2,4,8,32').split(',').map(Number)
  const ports = Number(opt('ports', 1))
  const size = Number(opt('size', 64))
  if (!Number.isInteger(size) || size < 4 || size > 65507) throw new Error('--size: 4 to 65507 bytes (the request id takes 4)')
  const oneCore = argv.includes('--one-core')
  const sharedCore = argv.includes('--shared-core')
  const impls = [['node:dgram', 'node'], ['dgram-rs', ROOT]]
  if (process.env.BENCH_BASE) impls.push(['dgram-rs (BENCH_BASE)', path.resolve(process.env.BENCH_BASE)])
  const rows = []
  for (const window of windows) {
    const results = impls.map(() => [])
    for (let t = 0; t < trials; t++) {
      // Interleaved: each trial runs every implementation once.
      for (const [i, [, impl]] of impls.entries()) results[i].push(await trial(impl, window, seconds, ports, size, oneCore ? 0 : 1, sharedCore))
    }
    const base = median(results[0].map((r) => r.rate))
    for (const [i, [name]] of impls.entries()) {
      const rate = median(results[i].map((r) => r.rate))
      const p50 = median(results[i].map((r) => r.p50))
      const cpu = median(results[i].map((r) => r.cpuPerReply))
      const lost = results[i].reduce((sum, r) => sum + r.lost, 0)
      rows.push({ window, name, rate, p50, ratio: rate / base, cpu, cpuRatio: cpu / median(results[0].map((r) => r.cpuPerReply)), lost })
    }
  }
  const placement = (oneCore ? 'one core' : 'across cores') + (sharedCore ? ', a busy process on the client\'s core' : '')
  console.log(`request/response, ${size} B, ${placement}, ${ports} client port(s), ${trials} trial(s) of ${seconds} s, medians\n`)
  console.log('| window | implementation | requests/s | p50 µs | × node:dgram | client CPU µs/reply | × node:dgram | lost (all trials) |')
  console.log('|---:|---|---:|---:|---:|---:|---:|---:|')
  for (const r of rows) {
    console.log(`| ${r.window} | ${r.name} | ${Math.round(r.rate).toLocaleString('en')} | ${r.p50 === null ? '-' : r.p50.toFixed(1)} | ${r.ratio.toFixed(2)} | ${r.cpu.toFixed(2)} | ${r.cpuRatio.toFixed(2)} | ${r.lost} |`)
  }
}

module.exports = { main }

if (require.main === module) {
  const [role, ...rest] = process.argv.slice(2)
  if (role === 'echo') echo(rest[0])
  else if (role === 'busy') busy(Number(rest[0]))
  else if (role === 'client') client(rest[0], Number(rest[1]), Number(rest[2]), Number(rest[3]), Number(rest[4] || 1), Number(rest[5] || 64))
  else main(process.argv.slice(2)).catch((e) => { console.error(e); process.exit(1) })
}
