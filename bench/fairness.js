'use strict'

// Fairness under a flood (issues 18 and 22): a receiver whose 'message' handler is slower than
// the arrival rate (it busy-waits --handler-us per datagram) while a GSO sender (dgram-rs's
// sendBatch, which turns the receiver's offload on) floods it. A 10 ms interval timer runs beside
// it; the figure is the longest gap between two of its ticks (node:dgram delivers at most 32
// datagrams per loop iteration, so its timers keep ticking), with the datagrams delivered per
// second. node:dgram, dgram-rs default and dgram-rs backgroundReceive, side by side in one run,
// each receiver its own process (the sender another); a backgroundReceive row's rate is also given
// against its own build's default path, paired trial by trial.
//
//   npm run bench -- --fairness [--seconds=2] [--trials=3] [--handler-us=20]
//   (node bench/run.js --fairness …, or node bench/fairness.js …)
//
// BENCH_BASE=<path of another dgram-rs checkout, built> adds its rows (a before/after in one run).
// Traffic is on 127.0.0.1 only; every child is bounded in time and killed at the end.

const { lineChild } = require('./line-child')
const path = require('node:path')
const { median } = require('./report')

const ROOT = path.resolve(__dirname, '..')

function load (impl) { return require(impl === 'node' ? 'node:dgram' : impl) }

function receiver (impl, bg, handlerUs, seconds) {
  const options = { type: 'udp4' }
  if (bg === '1') options.backgroundReceive = true
  const s = load(impl).createSocket(options)
  let got = 0
  s.on('message', () => {
    got++
    const end = process.hrtime.bigint() + BigInt(handlerUs * 1000)
    while (process.hrtime.bigint() < end);
  })
  s.bind(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: s.address().port }) + '\n')
    process.stdin.once('data', () => {
      // The sender has started: measure.
      let last = performance.now()
      let longest = 0
      const start = got
      const t0 = performance.now()
      const tick = setInterval(() => {
        const now = performance.now()
        longest = Math.max(longest, now - last)
        last = now
      }, 10)
      setTimeout(() => {
        clearInterval(tick)
        const rate = (got - start) / ((performance.now() - t0) / 1000)
        process.stdout.write(JSON.stringify({ longest, rate }) + '\n')
        process.exit(0)
      }, seconds * 1000)
    })
  })
}

function sender (port, seconds) {
  const s = require(ROOT).createSocket('udp4')
  const batch = Buffer.alloc(6400)
  const end = Date.now() + seconds * 1000
  s.bind(0, '127.0.0.1', () => {
    process.stdout.write('{}\n')
    const tick = () => {
      if (Date.now() > end) return process.exit(0)
      if (s.getSendQueueCount() < 64) {
        for (let i = 0; i < 4; i++) s.sendBatch(batch, 100, port, '127.0.0.1')
      }
      setImmediate(tick)
    }
    tick()
  })
}

const child = (args, limitMs) => lineChild(__filename, args, { limitMs })

async function trial (impl, bg, handlerUs, seconds) {
  const limit = (seconds + 10) * 1000
  const r = child(['receiver', impl, bg ? '1' : '0', String(handlerUs), String(seconds)], limit)
  try {
    const { port } = await r.next()
    const s = child(['sender', String(port), String(seconds + 1)], limit)
    try {
      await s.next()
      r.p.stdin.write('go\n')
      return await r.next()
    } finally { s.stop() }
  } finally { r.stop() }
}

async function main (argv) {
  const opt = (name, dflt) => {
    const a = argv.find((x) => x.startsWith(`--${name}=`))
    return a ? a.slice(name.length + 3) : dflt
  }
  const seconds = Number(opt('seconds', 2))
  const trials = Number(opt('trials', 3))
  const handlerUs = Number(opt('handler-us', 20))
  const configs = [['node:dgram', 'node', false], ['dgram-rs default', ROOT, false], ['dgram-rs backgroundReceive', ROOT, true]]
  if (process.env.BENCH_BASE) {
    const base = path.resolve(process.env.BENCH_BASE)
    configs.push(['dgram-rs default (BENCH_BASE)', base, false], ['dgram-rs backgroundReceive (BENCH_BASE)', base, true])
  }
  const results = configs.map(() => [])
  for (let t = 0; t < trials; t++) {
    for (const [i, [, impl, bg]] of configs.entries()) results[i].push(await trial(impl, bg, handlerUs, seconds))
  }
  const baseGap = median(results[0].map((r) => r.longest))
  console.log(`GSO flood, handler ${handlerUs} µs per datagram, ${trials} trial(s) of ${seconds} s, medians\n`)
  // A backgroundReceive row's rate against its own build's default path, trial by trial (the
  // two ran one right after the other): the flood's rate moves by a tenth or more between trials.
  console.log('Rate against the default path, paired: each trial\'s ratio to the same build\'s default-path run, median and range.\n')
  console.log('| receiver | longest 10 ms-timer gap (ms) | × node:dgram | delivered/s | rate against the default path, paired |')
  console.log('|---|---:|---:|---:|---:|')
  for (const [i, [name, impl, bg]] of configs.entries()) {
    const gap = median(results[i].map((r) => r.longest))
    const rate = median(results[i].map((r) => r.rate))
    const d = configs.findIndex(([, other, otherBg]) => other === impl && !otherBg)
    let paired = '–'
    if (bg && d >= 0) {
      const ratios = results[i].map((r, t) => r.rate / results[d][t].rate)
      paired = `${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`
    }
    console.log(`| ${name} | ${gap.toFixed(1)} | ${(gap / baseGap).toFixed(2)} | ${Math.round(rate).toLocaleString('en')} | ${paired} |`)
  }
}

module.exports = { main }

if (require.main === module) {
  const [role, ...rest] = process.argv.slice(2)
  if (role === 'receiver') receiver(rest[0], rest[1], Number(rest[2]), Number(rest[3]))
  else if (role === 'sender') sender(Number(rest[0]), Number(rest[1]))
  else main(process.argv.slice(2)).catch((e) => { console.error(e); process.exit(1) })
}
