'use strict'
// 1. Flood against a slow consumer.
// A receiver whose 'message' handler busy-waits ~20 µs per datagram is flooded for 10 s by a
// node:dgram sender in another process (150,000 datagrams/s, 3x what the handler can take). Reports peak RSS growth, the event loop's worst timer
// lateness (a 10 ms setInterval), what was received, and that close() completes and the
// process then exits by itself.
//   IMPL=node:dgram|dgram-rs node stress/scenarios/flood.js [impl] [durationMs]
const { spawn } = require('node:child_process')
const path = require('node:path')
const c = require('../lib/common')

const dgram = c.loadDgram()
const FLOOD_MS = Number(process.env.FLOOD_MS || process.argv[3] || 10000)
const HANDLER_US = 20
const TICK_MS = 10
const RATE = Number(process.env.FLOOD_RATE || 150000)

async function main () {
  const recv = dgram.createSocket('udp4')
  let received = 0
  let bytes = 0
  let closed = false
  let afterClose = 0
  const errors = []
  recv.on('message', (msg) => {
    if (closed) afterClose++
    received++
    bytes += msg.length
    c.busyWaitMicros(HANDLER_US)
  })
  recv.on('error', (e) => errors.push(`${e.code} ${e.syscall}`))
  await new Promise((resolve) => recv.bind(0, '127.0.0.1', resolve))
  const port = recv.address().port

  c.gcNow()
  await c.sleep(100)
  const baseline = c.rssMB()

  // Timer lag: how late each 10 ms tick fires, and RSS sampled on the same ticks.
  const lags = []
  let rssMax = baseline
  let last = performance.now()
  const ticker = setInterval(() => {
    const now = performance.now()
    lags.push(Math.max(0, now - last - TICK_MS))
    last = now
    const rss = c.rssMB()
    if (rss > rssMax) rssMax = rss
  }, TICK_MS)

  const sender = spawn(process.execPath, [path.join(__dirname, '../lib/flood-sender.js'), String(port), String(FLOOD_MS), '64', String(RATE)], {
    stdio: ['ignore', 'pipe', 'inherit']
  })
  let senderOut = ''
  sender.stdout.on('data', (d) => (senderOut += d))
  const senderDone = new Promise((resolve) => sender.on('exit', resolve))
  const killer = setTimeout(() => sender.kill('SIGKILL'), FLOOD_MS + 10000)
  await senderDone
  clearTimeout(killer)
  clearInterval(ticker)

  let senderStats = { sent: NaN }
  try {
    senderStats = JSON.parse(senderOut.trim())
  } catch {}

  const peakGrowth = Math.max(rssMax, c.peakRssMB()) - baseline
  lags.sort((a, b) => a - b)
  const lagMax = lags.length ? lags[lags.length - 1] : Infinity
  const lagP99 = lags.length ? lags[Math.floor(lags.length * 0.99)] : Infinity

  // close() must complete ('close' and the callback), and no 'message' may follow it.
  const t0 = performance.now()
  let closeEvents = 0
  recv.on('close', () => closeEvents++)
  let closeOk = true
  try {
    await c.withTimeout(
      new Promise((resolve) => {
        recv.close(resolve)
        closed = true
      }),
      5000,
      'close() callback'
    )
  } catch {
    closeOk = false
  }
  const closeMs = performance.now() - t0
  await c.sleep(50)

  c.report({
    figures: {
      floodSeconds: FLOOD_MS / 1000,
      senderRatePerSec: RATE,
      sent: senderStats.sent,
      received,
      receivedPerSec: Math.round(received / (FLOOD_MS / 1000)),
      rssBaselineMB: c.round(baseline, 1),
      rssPeakGrowthMB: c.round(peakGrowth, 1),
      timerLagMaxMs: c.round(lagMax, 1),
      timerLagP99Ms: c.round(lagP99, 1),
      closeMs: c.round(closeMs, 2)
    },
    checks: {
      'received datagrams': c.check(received > 0 && bytes === received * 64, `${received} datagrams, ${bytes} bytes`),
      'timer lag < 100 ms': c.check(lagMax < 100, `${c.round(lagMax, 1)} ms`),
      'close() completes': c.check(closeOk && closeEvents === 1, `callback ${closeOk}, 'close' x${closeEvents}`),
      "no 'message' after close()": c.check(afterClose === 0, `${afterClose}`),
      "no 'error' on the receiver": c.check(errors.length === 0, errors.slice(0, 3).join('; '))
    }
  })
  c.exitGuard(5000)
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
