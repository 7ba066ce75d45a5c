'use strict'
// Fair delivery under a flood (issue 18 item 4, issue 22): a socket delivers at most 32 datagrams
// per loop iteration (libuv reads 32 per readiness), whatever one read took (with receive offload
// on, one read can hold 2,048) and however fast the background reader refills its inbox; the rest
// waits, already read, for the next iteration, and timers, immediates and other sockets run in
// between. Measured as the most datagrams delivered between two consecutive setImmediate turns,
// with a handler slower than the arrival rate, on node:dgram (the oracle: at most 32) and on
// dgram-rs, default path and backgroundReceive. The flood comes from a worker thread sending GSO
// batches (dgram-rs's sendBatch), which turns the receiver's offload on: the worst case.
const assert = require('node:assert')
const { Worker } = require('node:worker_threads')
const { parity, bindLoopback } = require('./helpers/impls')

const FAIR = 32
// Each 'message' handler busy-waits this long: slower than the flood.
const HANDLER_US = 50
// The scenario ends after this many datagrams delivered, or this long.
const ENOUGH = 1500
const MAX_MS = 3000

function busyWait (us) {
  const end = process.hrtime.bigint() + BigInt(us * 1000)
  while (process.hrtime.bigint() < end);
}

// Floods 127.0.0.1:port with GSO batches of 64 × 100 B from a worker thread until stopped (or
// MAX_MS). Resolves with a function that stops it.
function flood (port) {
  const worker = new Worker(`
    const { workerData, parentPort } = require('node:worker_threads')
    const s = require(workerData.module).createSocket('udp4')
    let stop = false
    parentPort.on('message', () => { stop = true })
    const end = Date.now() + workerData.maxMs
    s.bind(0, '127.0.0.1', () => {
      const batch = Buffer.alloc(6400)
      const tick = () => {
        if (stop || Date.now() > end) return s.close(() => parentPort.close())
        for (let i = 0; i < 4; i++) s.sendBatch(batch, 100, workerData.port, '127.0.0.1')
        setImmediate(tick)
      }
      tick()
    })
  `, { eval: true, workerData: { module: require.resolve('dgram-rs'), port, maxMs: MAX_MS } })
  return () => new Promise((resolve) => {
    worker.on('exit', resolve)
    worker.postMessage('stop')
  })
}

// The most datagrams delivered between two setImmediate turns, while `options` receives a flood.
async function mostPerTurn (ctx, options) {
  const r = ctx.socket(options)
  const port = await bindLoopback(r)
  let since = 0
  let most = 0
  let total = 0
  r.on('message', () => {
    since++
    total++
    busyWait(HANDLER_US)
  })
  const stop = flood(port)
  const start = Date.now()
  await new Promise((resolve) => {
    const turn = () => {
      most = Math.max(most, since)
      since = 0
      if (total >= ENOUGH || Date.now() - start > MAX_MS) return resolve()
      setImmediate(turn)
    }
    setImmediate(turn)
  })
  await stop()
  return { most, total }
}

for (const backgroundReceive of [false, true]) {
  parity(`fairness: at most ${FAIR} datagrams per socket between two setImmediate turns under a GSO flood with a slow handler (backgroundReceive: ${backgroundReceive})`, async (ctx) => {
    const { most, total } = await mostPerTurn(ctx, { type: 'udp4', backgroundReceive, recvBufferSize: 1 << 22 })
    return { atMostFair: most <= FAIR, delivered: total > FAIR, most: most <= FAIR ? 'fair' : most }
  }, (r) => {
    assert.deepStrictEqual(r, { atMostFair: true, delivered: true, most: 'fair' })
  }, { timeout: 15000 })
}

// dgram-rs only (getStats is dgram-rs's): what a read left for later turns is delivered whole and
// in order, never overtaken or replaced by a later read. A slow handler under a GSO flood keeps
// the backlog non-empty; every datagram counted as received must then be delivered, in sequence.
const NATIVE = { skip: process.env.DGRAM_RS_FALLBACK === '1' && 'getStats of the native addon', timeout: 15000 }
for (const backgroundReceive of [false, true]) {
  require('node:test').test(`fairness: under a GSO flood every datagram read is delivered, in order (backgroundReceive: ${backgroundReceive})`, NATIVE, async () => {
    const dgram = require('dgram-rs')
    const r = dgram.createSocket({ type: 'udp4', backgroundReceive, recvBufferSize: 1 << 22 })
    const s = dgram.createSocket('udp4')
    try {
      const port = await bindLoopback(r)
      await bindLoopback(s)
      const seen = []
      r.on('message', (m) => {
        seen.push(m.readUInt32LE(0))
        busyWait(5)
      })
      // 100 GSO batches of 64 numbered datagrams, 4 per tick.
      const BATCHES = 100
      let n = 0
      for (let b = 0; b < BATCHES; b++) {
        const batch = Buffer.alloc(64 * 100)
        for (let i = 0; i < 64; i++) batch.writeUInt32LE(n++, i * 100)
        s.sendBatch(batch, 100, port, '127.0.0.1')
        if (b % 4 === 3) await new Promise((resolve) => setImmediate(resolve))
      }
      // Until the count stops moving (bounded).
      let last = -1
      for (let i = 0; i < 100 && seen.length !== last; i++) {
        last = seen.length
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      const stats = r.getStats()
      assert.strictEqual(seen.length, stats.datagramsReceived, 'every datagram read was delivered')
      assert.ok(seen.every((v, i) => i === 0 || v > seen[i - 1]), 'in order')
      assert.strictEqual(stats.datagramsReceived + stats.droppedByKernel + stats.droppedByQueue <= n, true)
    } finally {
      r.close()
      s.close()
    }
  })
}

// The iteration whose turn delivers the end of a read's backlog reads nothing more: the socket is
// read again from the next iteration on. A GSO batch of 64 reaches an offload receiver as one
// read (32 delivered, 32 left for the next iteration's turn); a datagram sent from the first
// 'message' handler is then waiting when that turn ends the backlog. Read in the same iteration's
// poll, it made 33 delivered between two setImmediate turns (64 under qemu-user, where the reads
// are smaller and a full one was waiting).
parity('fairness: the iteration that ends a read\'s backlog reads no more (at most 32 datagrams between two setImmediate turns)', async (ctx) => {
  const r = ctx.socket({ type: 'udp4', recvBufferSize: 1 << 22 })
  const port = await bindLoopback(r)
  const s = require('dgram-rs').createSocket('udp4')
  try {
    await bindLoopback(s)
    const batch = Buffer.alloc(64 * 100)
    let received = 0
    let extraSent = false
    r.on('message', () => { received++ })
    const arrived = (n) => new Promise((resolve, reject) => {
      const end = Date.now() + 5000
      const check = () => {
        if (received >= n) return resolve()
        if (Date.now() > end) return reject(new Error(`${received} of ${n} datagrams arrived`))
        setTimeout(check, 5)
      }
      check()
    })
    // 64 datagrams ready at once: dgram-rs's first read comes back full, which turns receive
    // offload on for the next.
    s.sendBatch(batch, 100, port, '127.0.0.1')
    await arrived(64)
    await new Promise((resolve) => setTimeout(resolve, 50))
    // Measured: the next 64 (one read with offload on) and the datagram sent from the first
    // handler.
    received = 0
    let since = 0
    let most = 0
    r.on('message', () => {
      since++
      if (!extraSent) {
        extraSent = true
        s.send('x', port, '127.0.0.1')
      }
    })
    let turning = true
    const turn = () => {
      most = Math.max(most, since)
      since = 0
      if (turning) setImmediate(turn)
    }
    setImmediate(turn)
    s.sendBatch(batch, 100, port, '127.0.0.1')
    await arrived(65)
    await new Promise((resolve) => setImmediate(resolve))
    turning = false
    return { received, most: most <= FAIR ? 'fair' : most }
  } finally {
    s.close()
  }
}, (r) => assert.deepStrictEqual(r, { received: 65, most: 'fair' }), { timeout: 15000 })

// On readiness libuv reads again after each delivered datagram, until the socket is empty (or 32
// were read): a request that arrives while the handler answers the last one is delivered in the
// same iteration, before that handler's setImmediate. dgram-rs does so where the handler sent from
// the socket (request/response); read at the next iteration instead, each request cost a loop
// iteration (0.82-0.86× node:dgram's requests/s with 2 in flight).
// The order of a request 'a', a request 'b' sent (by a connected node:dgram socket, at once)
// from a's handler, which answers a and then works `workUs`, and a setImmediate of that handler.
async function readAgainOrder (ctx, options, workUs) {
  const r = ctx.socket(options)
  const port = await bindLoopback(r)
  const s = ctx.node('udp4')
  const clientPort = await bindLoopback(s)
  await new Promise((resolve) => s.connect(port, '127.0.0.1', resolve))
  const order = []
  r.on('message', (m) => {
    order.push(String(m))
    r.send('answer to ' + m, clientPort, '127.0.0.1')
    if (String(m) === 'a') {
      // 'b' waits in r's buffer when this returns.
      s.send('b')
      setImmediate(() => order.push('immediate'))
      busyWait(workUs)
    }
  })
  s.send('a')
  const end = Date.now() + 3000
  while (order.length < 3 && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 5))
  return order
}

parity('fairness: a request that arrives while the handler answers is read in the same iteration, as libuv reads until empty',
  (ctx) => readAgainOrder(ctx, 'udp4', 0),
  (order) => assert.deepStrictEqual(order, ['a', 'b', 'immediate']))

// The same with a handler that works 5 ms after answering: with backgroundReceive, the reader
// takes the socket over after a millisecond without progress while the next request waits, and
// reads it into its inbox. That request is still what libuv's read again would have found: it is
// delivered in the same iteration, from the inbox (before, at the next iteration's turn: after
// the handler's setImmediate, 2 runs of 3).
for (const backgroundReceive of [false, true]) {
  parity(`fairness: a request that arrives while a slow handler (5 ms) answers is read in the same iteration (backgroundReceive: ${backgroundReceive})`,
    (ctx) => readAgainOrder(ctx, { type: 'udp4', backgroundReceive }, 5000),
    (order) => assert.deepStrictEqual(order, ['a', 'b', 'immediate']))
}

// Reading again after an answer stays within the 32 of an iteration: a chain of requests, each
// sent (by a node:dgram socket, at once) from the handler of the one before, which it also
// answers, arrives a request per read without end. libuv stops after 32 reads and lets the loop
// go on; so must dgram-rs.
parity(`fairness: a chain of requests, each arriving while the last is answered, gets at most ${FAIR} per iteration`, async (ctx) => {
  const r = ctx.socket('udp4')
  const port = await bindLoopback(r)
  const s = ctx.node('udp4')
  const clientPort = await bindLoopback(s)
  await new Promise((resolve) => s.connect(port, '127.0.0.1', resolve))
  const CHAIN = 200
  let total = 0
  let since = 0
  let most = 0
  r.on('message', (m) => {
    total++
    since++
    r.send('answer', clientPort, '127.0.0.1')
    const n = Number(m)
    if (n + 1 < CHAIN) s.send(String(n + 1))
  })
  s.send('0')
  await new Promise((resolve) => {
    const end = Date.now() + 3000
    const turn = () => {
      most = Math.max(most, since)
      since = 0
      if (total >= CHAIN || Date.now() > end) return resolve()
      setImmediate(turn)
    }
    setImmediate(turn)
  })
  return { total, most: most <= FAIR ? 'at most 32' : most, moreThanOne: most > 1 }
}, (r) => {
  assert.deepStrictEqual(r, { total: 200, most: 'at most 32', moreThanOne: true })
})
