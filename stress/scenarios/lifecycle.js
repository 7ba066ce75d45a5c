'use strict'
// 2a. Lifecycle: many create/bind/send/receive/close cycles leave no file descriptors and no
// memory growth. Each cycle: createSocket, bind(0, 127.0.0.1), send a datagram to itself,
// receive it, close() and wait for the callback. CONCURRENCY cycles run at a time.
// RSS is taken after gc() (run with --expose-gc) after the first WARMUP cycles and at the end.
//   IMPL=... node --expose-gc stress/scenarios/lifecycle.js [impl] [cycles]
const c = require('../lib/common')

const dgram = c.loadDgram()
const CYCLES = Number(process.env.CYCLES || process.argv[3] || 100000)
const WARMUP = Math.min(10000, Math.floor(CYCLES / 10))
const CONCURRENCY = 16
const TIME_LIMIT_MS = Number(process.env.TIME_LIMIT_MS || 100000)

function cycle (i) {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4')
    const payload = Buffer.from(`cycle ${i}`)
    s.on('error', (e) => {
      s.close()
      reject(e)
    })
    s.on('message', (msg) => {
      if (!msg.equals(payload)) return reject(new Error(`cycle ${i}: wrong payload ${msg}`))
      s.close(resolve)
    })
    s.bind(0, '127.0.0.1', () => {
      s.send(payload, s.address().port, '127.0.0.1')
    })
  })
}

async function run (from, to, deadline) {
  let next = from
  let done = 0
  async function lane () {
    while (next < to) {
      if (Date.now() > deadline) throw new Error(`time limit reached after ${from + done} cycles`)
      const i = next++
      await c.withTimeout(cycle(i), 5000, `cycle ${i}`)
      done++
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, lane))
  return done
}

async function main () {
  c.gcNow()
  const fdBefore = await c.fdBaseline(dgram)
  const t0 = Date.now()
  const deadline = t0 + TIME_LIMIT_MS
  let error = null
  let completed = 0
  let rssWarm = NaN
  let rssEnd = NaN
  try {
    completed += await run(0, WARMUP, deadline)
    c.gcNow()
    await c.sleep(50)
    c.gcNow()
    rssWarm = c.rssMB()
    completed += await run(WARMUP, CYCLES, deadline)
  } catch (e) {
    error = e
  }
  const elapsed = (Date.now() - t0) / 1000
  await c.sleep(50)
  c.gcNow()
  await c.sleep(50)
  c.gcNow()
  rssEnd = c.rssMB()
  const fdAfter = c.fdCount()
  const growth = rssEnd - rssWarm

  c.report({
    figures: {
      cycles: completed,
      seconds: c.round(elapsed, 1),
      cyclesPerSec: Math.round(completed / elapsed),
      fdBefore,
      fdAfter,
      [`rssAfter${WARMUP}MB`]: c.round(rssWarm, 1),
      rssEndMB: c.round(rssEnd, 1),
      rssGrowthMB: c.round(growth, 1)
    },
    checks: {
      [`${CYCLES} cycles complete`]: c.check(!error && completed === CYCLES, error ? error.message : `${completed}`),
      'no leaked file descriptors': c.check(fdAfter <= fdBefore, `${fdBefore} -> ${fdAfter}`),
      'gc() available': c.check(typeof global.gc === 'function', 'run with --expose-gc')
    }
  })
  c.exitGuard(5000)
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
