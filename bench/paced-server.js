'use strict'

// An echo server under requests that come independently of its answers, evenly spaced: its CPU
// per request, node:dgram beside dgram-rs. The shape where lingering after an answer
// (src/reactor/linger.rs) cannot pay (the next request is not an answer to the last reply), so
// that a server there must sleep between requests as node:dgram's does, not poll.
//
//   npm run bench -- --paced-server [--rates=10000,25000,40000,60000] [--seconds=2] [--trials=3]
//   (node bench/run.js --paced-server …, or node bench/paced-server.js …)
//
// The sender (node:dgram, its own process on CPU 0) spaces its requests by a busy wait on the
// clock, 5 ms at a time between turns of its loop, and reads no reply; the server (CPU 1) answers
// each to its sender. The server's process CPU over the run, per request it received, is the
// figure; the median of the trials, implementations interleaved.
//
// BENCH_BASE=<path of another dgram-rs checkout, built> adds its rows (a before/after in one run).
// Traffic is on 127.0.0.1 only; every child is bounded in time and killed at the end.

const path = require('node:path')
const { lineChild } = require('./line-child')
const { median } = require('./report')

const ROOT = path.resolve(__dirname, '..')

// --- child roles -------------------------------------------------------------------------------

function echo (impl) {
  const s = require(impl === 'node' ? 'node:dgram' : impl).createSocket('udp4')
  let received = 0
  let cpu0 = null
  s.on('message', (m, r) => {
    received++
    s.send(m, r.port, r.address)
  })
  s.bind(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: s.address().port }) + '\n'))
  // One line on stdin starts the count, the next ends it.
  let lines = 0
  process.stdin.setEncoding('utf8').on('data', (d) => {
    for (const ch of d) {
      if (ch !== '\n') continue
      if (++lines === 1) {
        cpu0 = process.cpuUsage()
        received = 0
      } else {
        const cpu = process.cpuUsage(cpu0)
        process.stdout.write(JSON.stringify({ received, cpuUs: cpu.user + cpu.system }) + '\n')
        process.exit(0)
      }
    }
  })
}

function sender (port, rate, seconds) {
  const s = require('node:dgram').createSocket('udp4')
  const payload = Buffer.alloc(64)
  const gap = BigInt(Math.round(1e9 / rate))
  s.bind(0, '127.0.0.1', () => {
    const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9))
    let next = process.hrtime.bigint()
    let sent = 0
    const turn = () => {
      const stop = process.hrtime.bigint() + 5000000n
      let now
      while ((now = process.hrtime.bigint()) < stop && now < end) {
        if (now >= next) {
          s.send(payload, port, '127.0.0.1')
          sent++
          next += gap
        }
      }
      if (now < end) return setImmediate(turn)
      // A moment for the last requests to be answered.
      setTimeout(() => { process.stdout.write(JSON.stringify({ sent }) + '\n'); process.exit(0) }, 50)
    }
    turn()
  })
}

// --- parent ------------------------------------------------------------------------------------

const child = (args, cpu, limitMs) => lineChild(__filename, args, { cpu, limitMs })

async function trial (impl, rate, seconds) {
  const server = child(['echo', impl], 1, (seconds + 10) * 1000)
  try {
    const { port } = await server.next()
    server.p.stdin.write('\n')
    const s = child(['sender', String(port), String(rate), String(seconds)], 0, (seconds + 10) * 1000)
    try {
      const { sent } = await s.next()
      server.p.stdin.write('\n')
      const { received, cpuUs } = await server.next()
      return { sent, received, cpuPerRequest: received ? cpuUs / received : null }
    } finally { s.stop() }
  } finally { server.stop() }
}

async function main (argv) {
  const opt = (name, dflt) => {
    const a = argv.find((x) => x.startsWith(`--${name}=`))
    return a ? a.slice(name.length + 3) : dflt
  }
  for (const a of argv) {
    if (!/^--(rates|seconds|trials)=/.test(a)) throw new Error(`unknown argument ${a}\nusage: node bench/paced-server.js [--rates=10000,25000,40000,60000] [--seconds=2] [--trials=3]`)
  }
  const rates = opt('rates', '10000,25000,40000,60000').split(',').map(Number)
  const seconds = Number(opt('seconds', 2))
  const trials = Number(opt('trials', 3))
  const impls = [['node:dgram', 'node'], ['dgram-rs', ROOT]]
  if (process.env.BENCH_BASE) impls.push(['dgram-rs (BENCH_BASE)', path.resolve(process.env.BENCH_BASE)])
  console.log(`echo server, evenly spaced requests from another process, ${trials} trial(s) of ${seconds} s, medians\n`)
  console.log('| requests/s | implementation | requests received | server CPU µs/request | × node:dgram |')
  console.log('|---:|---|---:|---:|---:|')
  for (const rate of rates) {
    const results = impls.map(() => [])
    for (let t = 0; t < trials; t++) {
      for (const [i, [, impl]] of impls.entries()) results[i].push(await trial(impl, rate, seconds))
    }
    const base = median(results[0].map((r) => r.cpuPerRequest))
    for (const [i, [name]] of impls.entries()) {
      const cpu = median(results[i].map((r) => r.cpuPerRequest))
      const received = median(results[i].map((r) => r.received))
      console.log(`| ${rate.toLocaleString('en')} | ${name} | ${received.toLocaleString('en')} | ${cpu.toFixed(2)} | ${(cpu / base).toFixed(2)} |`)
    }
  }
}

module.exports = { main }

if (require.main === module) {
  const [role, ...rest] = process.argv.slice(2)
  if (role === 'echo') echo(rest[0])
  else if (role === 'sender') sender(Number(rest[0]), Number(rest[1]), Number(rest[2]))
  else main(process.argv.slice(2)).catch((e) => { console.error(e); process.exit(1) })
}
