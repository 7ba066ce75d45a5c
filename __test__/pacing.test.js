'use strict'
// Read pacing (src/recv/pacing.rs, src/owner/pacer.rs): a dgram-rs socket whose reads come back
// full (32 datagrams waiting), or that receives one-way at 4 or more datagrams per 50 µs, reads
// again after a short timer instead of at the next wakeup (when that rule applies is pinned by
// the unit tests in src/recv/pacing.rs, which need no clock). None of it may be visible: every
// datagram arrives, in order, a quiet socket answers at once again, close and unref() behave as
// on node:dgram. Bursts sent in one tick are what puts a receiver into the paced state.
const assert = require('node:assert')
const { test } = require('node:test')
const { parity, until, delay, bindLoopback } = require('./helpers/impls')
const { runChild } = require('./helpers/child')

const BURSTS = 20
const PER_BURST = 50

// Sends `bursts` bursts of `perBurst` datagrams (numbered from `first`), one burst per timer tick.
async function sendBursts (s, port, { bursts, perBurst, first = 0 }) {
  let n = first
  for (let b = 0; b < bursts; b++) {
    for (let i = 0; i < perBurst; i++) s.send(String(n++), port, '127.0.0.1')
    await delay(1)
  }
  return n
}

// A receiver with room for every burst, so that neither implementation drops any.
async function receiver (ctx) {
  const r = ctx.socket({ type: 'udp4', recvBufferSize: 1 << 22 })
  const port = await bindLoopback(r)
  const got = []
  r.on('message', (m) => got.push(Number(m)))
  return { r, port, got }
}

parity('pacing: bursts read in paced reads arrive whole and in order', async (ctx) => {
  const { port, got } = await receiver(ctx)
  const s = ctx.node('udp4')
  await bindLoopback(s)
  const total = await sendBursts(s, port, { bursts: BURSTS, perBurst: PER_BURST })
  await until(() => got.length >= total, 5000, 'all datagrams')
  await delay(20)
  return got
}, (got) => {
  assert.deepStrictEqual(got, Array.from({ length: BURSTS * PER_BURST }, (_, i) => i))
})

parity('pacing: after a burst, a lone datagram and a lone reply still go through', async (ctx) => {
  const { r, port, got } = await receiver(ctx)
  r.on('message', (m, rinfo) => { if (String(m) === 'ping') r.send('pong', rinfo.port, rinfo.address) })
  const s = ctx.node('udp4')
  await bindLoopback(s)
  const replies = []
  s.on('message', (m) => replies.push(String(m)))
  await sendBursts(s, port, { bursts: 3, perBurst: PER_BURST })
  await until(() => got.length >= 3 * PER_BURST, 5000, 'the bursts')
  // At once, while the receiver may still be paced: the reply must come long before a 100 ms
  // timer (pacing waits microseconds), which a stuck or slow pacing timer would not do.
  const order = []
  s.send('ping', port, '127.0.0.1')
  const timer = setTimeout(() => order.push('100 ms'), 100)
  await until(() => replies.length === 1, 2000, 'the reply')
  order.push('reply')
  await until(() => order.length === 2, 2000, 'the timer')
  clearTimeout(timer)
  return { count: got.length, last: got[got.length - 1], replies, order }
}, (r) => {
  assert.deepStrictEqual(r, { count: 3 * PER_BURST + 1, last: NaN, replies: ['pong'], order: ['reply', '100 ms'] })
})

parity('pacing: a datagram sent during a poll phase reaches a paced socket after that phase\'s setImmediate', async (ctx) => {
  // B reads a full read of 32 datagrams at once (so dgram-rs paces it), answers A, and keeps the thread busy
  // past the pacing delay: A's wakeup and B's pacing timer then come in one poll phase. A answers
  // B and queues an immediate. node:dgram reads B's datagram in a later iteration (B was not
  // readable when the loop polled), after the immediate; pacing must not read it earlier.
  const t = ctx.transcript()
  const a = ctx.socket('udp4')
  const b = ctx.socket('udp4')
  const aPort = await bindLoopback(a)
  const bPort = await bindLoopback(b)
  b.on('message', (m) => {
    t.log(`B:${m}`)
    if (String(m) === '32') {
      b.send('go', aPort, '127.0.0.1')
      const end = process.hrtime.bigint() + 2_000_000n
      while (process.hrtime.bigint() < end);
    }
  })
  a.on('message', (m) => {
    t.log(`A:${m}`)
    a.send('x', bPort, '127.0.0.1')
    setImmediate(() => t.log('immediate'))
  })
  const s = ctx.node('udp4')
  await bindLoopback(s)
  for (let i = 1; i <= 32; i++) s.send(String(i), bPort, '127.0.0.1')
  await until(() => t.has('B:x') && t.has('immediate'), 2000, 'the exchange')
  return t.entries
}, (entries) => {
  assert.deepStrictEqual(entries, [...Array.from({ length: 32 }, (_, i) => `B:${i + 1}`), 'A:go', 'immediate', 'B:x'])
})

parity('pacing: close() in a handler in the middle of a burst stops delivery at once', async (ctx) => {
  const t = []
  const { r, port } = await receiver(ctx)
  r.on('message', (m) => {
    t.push(Number(m))
    if (t.length === 70) r.close(() => t.push('closed'))
  })
  const s = ctx.node('udp4')
  await bindLoopback(s)
  await sendBursts(s, port, { bursts: 4, perBurst: PER_BURST })
  await until(() => t.includes('closed'), 3000, 'close')
  await delay(30)
  return t
}, (t) => {
  assert.deepStrictEqual(t, [...Array.from({ length: 70 }, (_, i) => i), 'closed'])
})

// A receiver that has read bursts and gone quiet must still keep the process alive (it is bound
// and referenced), and unref() must still let it go.
for (const [name, tail, alive] of [
  ['a bound socket stays alive after reading bursts', '', true],
  ['unref() after reading bursts lets the process exit', 's.unref(); r.unref()', false]
]) {
  parity(`pacing: exit: ${name}`, async (ctx) => {
    const result = await runChild(ctx.module, `
const r = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 22 })
const s = dgram.createSocket('udp4')
let n = 0
r.on('message', () => {
  if (++n === 200) { console.log('all read'); setTimeout(() => { ${tail} }, 20) }
})
r.bind(0, '127.0.0.1', () => {
  const port = r.address().port
  let sent = 0
  const burst = () => { for (let i = 0; i < 50; i++) s.send('x', port, '127.0.0.1'); if ((sent += 50) < 200) setTimeout(burst, 1) }
  burst()
})`, { killAfter: alive ? 1500 : undefined, timeout: 8000 })
    return { stdout: result.stdout, stderr: result.stderr, stillRunning: result.stillRunning, timedOut: result.timedOut, code: result.code }
  }, (r) => {
    assert.strictEqual(r.stdout, 'all read\n')
    assert.strictEqual(r.stderr, '')
    assert.strictEqual(r.stillRunning, alive)
    assert.strictEqual(r.timedOut, false)
    if (!alive) assert.strictEqual(r.code, 0)
  }, { timeout: 20000 })
}

// White-box (dgram-rs only: node:dgram has no pacing), each in a child process of its own, so
// that no earlier socket of the test runner made the thread's pacing timer.
const NO_FALLBACK = { skip: process.env.DGRAM_RS_FALLBACK === '1' && 'the native addon\'s pacing; the fallback is node:dgram' }
const FD_HELPERS = `
const fds = () => fs.readdirSync('/proc/self/fd').length
const timerfds = () => fs.readdirSync('/proc/self/fd').filter((fd) => {
  try { return fs.readlinkSync('/proc/self/fd/' + fd) === 'anon_inode:[timerfd]' } catch { return false }
}).length
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const sender = dgram.createSocket('udp4')
// Bursts of 'size' datagrams, one burst per timer tick, until 'done()' or 'max' bursts.
async function bursts (port, size, count) {
  for (let b = 0; b < count; b++) {
    for (let i = 0; i < size; i++) sender.send('x', port, '127.0.0.1')
    await delay(1)
  }
}
function receiver () {
  const r = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 22 })
  r.got = 0
  r.on('message', () => { r.got++ })
  return new Promise((resolve) => r.bind(0, '127.0.0.1', () => resolve(r)))
}
async function until (cond) {
  for (let i = 0; i < 500 && !cond(); i++) await delay(10)
  if (!cond()) throw new Error('timed out')
}
`

test('pacing: a socket that paced holds no descriptor for it afterwards: one timer per thread', NO_FALLBACK, async () => {
  // Issue 21: pacing state was a timerfd, a poll and a prepare handle per socket, released only
  // by close(): 2 descriptors for every socket that ever had a burst waiting.
  const result = await runChild('dgram-rs', FD_HELPERS + `
;(async () => {
  await new Promise((resolve) => sender.bind(0, '127.0.0.1', resolve))
  const a = await receiver()
  await bursts(a.address().port, 200, 10)
  await until(() => a.got === 2000)
  const timersAfterA = timerfds()
  const withA = fds()
  const b = await receiver()
  const withB = fds()
  await bursts(b.address().port, 200, 10)
  await until(() => b.got === 2000)
  console.log(JSON.stringify({ timersAfterA, bOwn: withB - withA, bPacing: fds() - withB, timers: timerfds() }))
  a.close(); b.close(); sender.close()
})()`, { timeout: 15000 })
  assert.strictEqual(result.stderr, '')
  assert.deepStrictEqual(JSON.parse(result.stdout), {
    timersAfterA: 1, // the thread's timer, made when the first socket paced
    bOwn: 1, // the second receiver's own socket
    bPacing: 0, // and nothing more once it has paced
    timers: 1
  })
})

test('pacing: bursts of 2 are delivered without a timer', NO_FALLBACK, async () => {
  // Issue 21: every read of 2 or more datagrams armed a 50 µs timer (request/response with a
  // few in flight waited on it at every round trip). Only full reads pace now, or a one-way
  // stream of 4 or more datagrams per 50 µs: 2 a millisecond is far below.
  const result = await runChild('dgram-rs', FD_HELPERS + `
;(async () => {
  await new Promise((resolve) => sender.bind(0, '127.0.0.1', resolve))
  const r = await receiver()
  await bursts(r.address().port, 2, 100)
  await until(() => r.got === 200)
  console.log(JSON.stringify({ got: r.got, timers: timerfds() }))
  r.close(); sender.close()
})()`, { timeout: 15000 })
  assert.strictEqual(result.stderr, '')
  assert.deepStrictEqual(JSON.parse(result.stdout), { got: 200, timers: 0 })
})

// In a child process of its own: the test runner's own I/O would wake this loop.
parity('pacing: after a paced burst is read to the end, the next datagram is heard at once, with nothing else to wake the loop', async (ctx) => {
  const result = await runChild(ctx.module, `
const { Worker } = require('node:worker_threads')
const BURST = 200
const r = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 22 })
let n = 0
let deadline
r.on('message', () => {
  if (++n === BURST + 1) { clearTimeout(deadline); console.log('heard', n); process.exit(0) }
})
r.bind(0, '127.0.0.1', () => {
  // The sender is a worker thread: it sends a burst at once (the receiver's reads find it
  // waiting, so dgram-rs paces them, the last paced read finding nothing left), waits, then
  // sends one more datagram. It posts nothing: only that datagram can wake this thread's loop,
  // besides the deadline.
  new Worker(\`
    const { workerData } = require('node:worker_threads')
    const s = require('node:dgram').createSocket('udp4')
    s.bind(0, '127.0.0.1', () => {
      for (let i = 0; i < \${BURST}; i++) s.send(String(i), workerData.port, '127.0.0.1')
      setTimeout(() => {
        s.send('last', workerData.port, '127.0.0.1', () => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10000))
      }, 300)
    })
  \`, { eval: true, workerData: { port: r.address().port } })
  deadline = setTimeout(() => { console.log('deadline', n); process.exit(0) }, 3000)
})`, { timeout: 8000 })
  return { stdout: result.stdout, stderr: result.stderr, timedOut: result.timedOut }
}, (result) => {
  assert.deepStrictEqual(result, { stdout: 'heard 201\n', stderr: '', timedOut: false })
}, { timeout: 20000 })
