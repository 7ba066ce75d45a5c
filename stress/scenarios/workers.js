'use strict'
// 4. worker_threads. The main thread keeps a ping-pong going on its own sockets the whole time.
// 20 rounds: a worker loads the implementation, creates sockets that flood each other and the
// main thread's sink, and is terminate()d while that traffic flows (every other round with slow
// 'message' handlers, so terminate() lands inside a callback). Then workers that: call
// process.exit() with a socket open; end with an unref()'d socket open; throw in 'message';
// call process.exit(7) in 'message'.
// Afterwards the main thread's sockets must still work and the process must exit by itself.
//   IMPL=... node stress/scenarios/workers.js [impl] [rounds]
const { Worker, isMainThread, workerData, parentPort } = require('node:worker_threads')
const c = require('../lib/common')

const ROUNDS = Number(process.env.ROUNDS || process.argv[3] || 20)

if (!isMainThread) {
  workerMain()
} else {
  main().catch((e) => {
    console.error(e)
    process.exitCode = 1
  })
}

function workerMain () {
  const dgram = c.loadDgram(workerData.impl)
  const { mode, sinkPort } = workerData
  const a = dgram.createSocket('udp4')
  const b = dgram.createSocket('udp4')
  let got = 0
  // In 'terminate-slow' the handlers busy-wait, so terminate() mostly lands while the native
  // side is inside a 'message' callback.
  const slow = mode === 'terminate-slow' ? () => c.busyWaitMicros(300) : () => {}
  a.on('message', () => {
    got++
    slow()
  })
  b.on('message', () => {
    got++
    slow()
  })
  a.on('error', () => {})
  b.on('error', () => {})
  a.bind(0, '127.0.0.1', () => {
    b.bind(0, '127.0.0.1', () => {
      if (mode === 'exit-open') {
        parentPort.postMessage('ready')
        process.exit(0)
      }
      if (mode === 'throw') {
        a.removeAllListeners('message')
        a.on('message', () => {
          throw new Error('boom in a worker')
        })
        b.send('x', a.address().port, '127.0.0.1')
        return
      }
      if (mode === 'exit-in-message') {
        a.on('message', () => process.exit(7))
        b.send('x', a.address().port, '127.0.0.1')
        return
      }
      if (mode === 'end-unref') {
        a.unref()
        b.close()
        parentPort.postMessage('ready')
        return // the script ends; the unref'd socket must not keep the worker alive
      }
      // 'terminate': flood each other and the main thread until terminated.
      const buf = Buffer.alloc(512, 7)
      let told = false
      const pump = () => {
        for (let i = 0; i < 64; i++) {
          a.send(buf, b.address().port, '127.0.0.1')
          b.send(buf, a.address().port, '127.0.0.1')
          a.send(buf, sinkPort, '127.0.0.1')
        }
        if (!told && got > 0) {
          told = true
          parentPort.postMessage('ready')
        }
        setImmediate(pump)
      }
      pump()
    })
  })
}

async function main () {
  const dgram = c.loadDgram()
  // The main thread's ping-pong: `ping` sends to `pong` every 5 ms, which echoes it back.
  const ping = dgram.createSocket('udp4')
  const pong = dgram.createSocket('udp4')
  const sink = dgram.createSocket('udp4')
  let pings = 0
  let sinkGot = 0
  const mainErrors = []
  for (const s of [ping, pong, sink]) s.on('error', (e) => mainErrors.push(`${e.code} ${e.syscall}`))
  sink.on('message', () => sinkGot++)
  pong.on('message', (m, r) => pong.send(m, r.port, r.address))
  ping.on('message', () => pings++)
  await Promise.all([ping, pong, sink].map((s) => new Promise((resolve) => s.bind(0, '127.0.0.1', resolve))))
  const pinger = setInterval(() => ping.send('p', pong.address().port, '127.0.0.1'), 5)

  const t0 = performance.now()
  let terminated = 0
  const workerErrors = []
  const pingsAtStart = pings
  for (let i = 0; i < ROUNDS; i++) {
    const mode = i % 2 ? 'terminate-slow' : 'terminate'
    const w = new Worker(__filename, { workerData: { impl: c.implName(), mode, sinkPort: sink.address().port } })
    w.on('error', (e) => workerErrors.push(`round ${i}: ${e.message}`))
    try {
      await c.withTimeout(new Promise((resolve) => w.once('message', resolve)), 5000, `worker ${i} traffic`)
    } catch (e) {
      workerErrors.push(e.message)
    }
    await c.sleep(20 + (i % 5) * 10) // traffic flowing for a little while
    try {
      await c.withTimeout(w.terminate(), 5000, `terminate worker ${i}`)
      terminated++
    } catch (e) {
      workerErrors.push(e.message)
    }
  }

  const exitCodes = {}
  const thrown = []
  for (const mode of ['exit-open', 'end-unref', 'throw', 'exit-in-message']) {
    const w = new Worker(__filename, { workerData: { impl: c.implName(), mode, sinkPort: sink.address().port } })
    w.on('error', (e) => (mode === 'throw' ? thrown.push(e.message) : workerErrors.push(`${mode}: ${e.message}`)))
    try {
      exitCodes[mode] = await c.withTimeout(new Promise((resolve) => w.once('exit', resolve)), 5000, `${mode} worker exit`)
    } catch (e) {
      workerErrors.push(e.message)
      exitCodes[mode] = 'timeout'
      await w.terminate()
    }
  }
  const elapsed = performance.now() - t0

  // The main thread's sockets still work: the ping-pong keeps going.
  const pingsAtEnd = pings
  await c.sleep(200)
  const stillPinging = pings > pingsAtEnd
  clearInterval(pinger)
  await c.sleep(20)
  await Promise.all([ping, pong, sink].map((s) => new Promise((resolve) => s.close(resolve))))

  c.report({
    figures: {
      rounds: ROUNDS,
      terminated,
      seconds: c.round(elapsed / 1000, 1),
      mainPingPongs: pings,
      datagramsFromWorkersAtMainSink: sinkGot
    },
    checks: {
      [`${ROUNDS} workers terminated mid-traffic`]: c.check(terminated === ROUNDS && workerErrors.length === 0, workerErrors.slice(0, 3).join('; ') || `${terminated}`),
      'worker process.exit() with a socket open': c.check(exitCodes['exit-open'] === 0, `exit ${exitCodes['exit-open']}`),
      'worker ends with an unref()d socket open': c.check(exitCodes['end-unref'] === 0, `exit ${exitCodes['end-unref']}`),
      "throw in a worker's 'message': worker 'error', exit 1": c.check(exitCodes.throw === 1 && thrown.length === 1 && /boom in a worker/.test(thrown[0]), `exit ${exitCodes.throw}, errors: ${thrown.join('; ')}`),
      "process.exit(7) in a worker's 'message'": c.check(exitCodes['exit-in-message'] === 7, `exit ${exitCodes['exit-in-message']}`),
      "main thread's sockets keep working": c.check(
        pingsAtEnd > pingsAtStart && stillPinging && mainErrors.length === 0,
        `${pingsAtEnd - pingsAtStart} ping-pongs during the workers, ${pings - pingsAtEnd} after; errors: ${mainErrors.slice(0, 3).join('; ') || 'none'}`
      )
    }
  })
  c.exitGuard(5000)
}
