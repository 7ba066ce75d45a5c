'use strict'
// close(): 'close' once and on a later tick, the callback, the return value, no 'message' after
// close, ERR_SOCKET_DGRAM_NOT_RUNNING afterwards, close inside a 'message' handler, close while
// binding and with a pre-bind send queue.
const assert = require('node:assert')
const { test } = require('node:test')
const { parity, attempt, until, delay, bindLoopback, describeError, IMPLS } = require('./helpers/impls')

parity('close: returns this, \'close\' once on a later tick, callback is a \'close\' listener', async (ctx) => {
  const t = ctx.transcript()
  const s = ctx.socket('udp4')
  await bindLoopback(s)
  s.on('close', function () { t.log('close event', this === s, arguments.length) })
  await ctx.macro(() => {
    const cb = function () { t.log('close callback', this === s, arguments.length) }
    t.log('returned this', s.close(cb) === s)
    t.log('listeners', s.listenerCount('close'))
    t.log('close again', attempt(() => s.close()))
    t.markers('m')
  })
  await until(() => t.has('m:immediate'))
  await delay(10)
  return t.entries
}, (entries) => {
  assert.deepStrictEqual(entries.slice(0, 2), [['returned this', true], ['listeners', 2]])
  assert.strictEqual(entries[2][1].threw.code, 'ERR_SOCKET_DGRAM_NOT_RUNNING')
  assert.deepStrictEqual(entries.slice(3), [
    ['close event', true, 0], ['close callback', true, 0],
    'm:nextTick', 'm:promise', 'm:immediate'
  ])
})

parity('close: an unbound socket, and a socket whose bind is still resolving', async (ctx) => {
  const out = []
  for (const bindFirst of [false, true]) {
    const t = ctx.transcript()
    const s = ctx.socket('udp4')
    s.on('listening', () => t.log('listening'))
    s.on('error', (e) => t.log('error', describeError(e)))
    s.on('close', () => t.log('close'))
    await ctx.macro(() => {
      if (bindFirst) s.bind(0, '127.0.0.1', () => t.log('bind callback'))
      t.log('close', attempt(() => s.close() === s))
      t.markers('m')
    })
    await until(() => t.has('m:immediate'))
    await delay(10)
    out.push(t.entries)
  }
  return out
}, (out) => {
  for (const e of out) {
    assert.deepStrictEqual(e, [['close', { returned: true }], 'close', 'm:nextTick', 'm:promise', 'm:immediate'])
  }
})

// Odd but pinned: close() is queued behind the pre-bind sends; when the queue is flushed each send
// starts its address lookup (a nextTick) and the queued close() then closes the handle before the
// lookups complete, so the datagram is never sent and its callback never runs.
parity('close: with a pre-bind send queue, close is queued: listening, then close; the send is dropped', async (ctx) => {
  const t = ctx.transcript()
  const r = ctx.node('udp4')
  const rp = await bindLoopback(r)
  r.on('message', (m) => t.log('recv', m.toString()))
  const s = ctx.socket('udp4')
  s.on('listening', () => t.log('listening'))
  s.on('close', () => t.log('close'))
  s.send('queued', rp, '127.0.0.1', (err, n) => t.log('send cb', err, n))
  t.log('close returned this', s.close(() => t.log('close cb')) === s)
  await until(() => t.has('close'))
  await delay(30)
  return t.entries
}, (entries) => {
  assert.deepStrictEqual(entries, [['close returned this', true], 'listening', 'close', 'close cb'])
})

parity('close: no \'message\' after close, even with datagrams already queued in the kernel', async (ctx) => {
  const t = ctx.transcript()
  const r = ctx.socket('udp4')
  const rp = await bindLoopback(r)
  const s = ctx.node('udp4')
  await bindLoopback(s)
  r.on('message', (m) => t.log('message', m.toString()))
  r.on('close', () => t.log('close'))
  await ctx.macro(() => {
    for (let i = 0; i < 3; i++) s.send(`x${i}`, rp, '127.0.0.1')
    // The sends happen in nextTicks queued before this one: by now the datagrams are in r's
    // kernel queue, and the loop has not polled r yet.
    process.nextTick(() => r.close())
  })
  await until(() => t.has('close'))
  await delay(30)
  return t.entries
}, (entries) => {
  assert.deepStrictEqual(entries, ['close'])
})

parity('close: inside a \'message\' handler with more datagrams pending', async (ctx) => {
  const t = ctx.transcript()
  const r = ctx.socket('udp4')
  const rp = await bindLoopback(r)
  const s = ctx.node('udp4')
  await bindLoopback(s)
  r.on('message', (m) => {
    t.log('message', m.toString())
    t.log('close', attempt(() => r.close() === r))
    process.nextTick(() => t.log('tick after close'))
  })
  r.on('close', () => t.log('close event'))
  await ctx.macro(() => {
    for (let i = 0; i < 5; i++) s.send(`d${i}`, rp, '127.0.0.1')
  })
  await until(() => t.has('close event'))
  await delay(30)
  return t.entries
}, (entries) => {
  // 'close' is queued (nextTick) inside close(), before the handler's own nextTick.
  assert.deepStrictEqual(entries, [['message', 'd0'], ['close', { returned: true }], 'close event', 'tick after close'])
})

parity('close: methods on a closed socket throw ERR_SOCKET_DGRAM_NOT_RUNNING (or what node throws)', async (ctx) => {
  const s = ctx.socket('udp4')
  await bindLoopback(s)
  s.close()
  const calls = {
    close: () => s.close(),
    closeWithCallback: () => s.close(() => {}),
    bind: () => s.bind(0, '127.0.0.1'),
    address: () => s.address(),
    remoteAddress: () => s.remoteAddress(),
    send: () => s.send('x', 9, '127.0.0.1'),
    connect: () => s.connect(9, '127.0.0.1'),
    disconnect: () => s.disconnect(),
    setMulticastInterface: () => s.setMulticastInterface('127.0.0.1'),
    addMembership: () => s.addMembership('224.0.0.114'),
    dropMembership: () => s.dropMembership('224.0.0.114'),
    addSourceSpecificMembership: () => s.addSourceSpecificMembership('127.0.0.1', '232.1.1.1'),
    dropSourceSpecificMembership: () => s.dropSourceSpecificMembership('127.0.0.1', '232.1.1.1'),
    ref: () => s.ref() === s,
    unref: () => s.unref() === s
  }
  const out = {}
  for (const [k, fn] of Object.entries(calls)) out[k] = attempt(fn)
  return out
}, (out) => {
  for (const k of ['close', 'closeWithCallback', 'bind', 'address', 'remoteAddress', 'send', 'setMulticastInterface', 'addMembership', 'dropMembership']) {
    assert.strictEqual(out[k].threw && out[k].threw.code, 'ERR_SOCKET_DGRAM_NOT_RUNNING', k)
  }
  assert.deepStrictEqual(out.ref, { returned: true })
  assert.deepStrictEqual(out.unref, { returned: true })
})

// A socket per query (DNS clients, health checks) closes from its 'message' handler. The read
// buffer the datagram came in goes back to the thread's pool: freed instead, every query mapped and
// unmapped 32 read blocks again (a socket per query took 4.7x node:dgram's time). Counted by the
// page faults of 2,000 such queries in a child process (a block mapped anew faults when first read
// into), against 2,000 queries that close a moment later (setImmediate), after the delivery gave
// the buffer back: the same or fewer (1,750-2,000 against 2,000-2,300 on Node 20 and 24); with the
// buffer freed, about 2,000 more. dgram-rs only: node:dgram's page faults differ by Node version.
// Not on the fallback, which has no read buffers of its own.
const NATIVE_ONLY = process.env.DGRAM_RS_FALLBACK === '1' ? 'the fallback reads with node:dgram' : false
test('close() in the \'message\' handler, a socket per query: the read buffer is pooled, not mapped again per query', { timeout: 60000, skip: NATIVE_ONLY }, async () => {
  const { runChild } = require('./helpers/child')
  const body = (inside) => `
const cycle = () => new Promise((resolve, reject) => {
  const s = dgram.createSocket('udp4')
  s.on('error', reject)
  s.on('message', () => ${inside ? 's.close(resolve)' : 'setImmediate(() => s.close(resolve))'})
  s.bind(0, '127.0.0.1', () => s.send('ping', s.address().port, '127.0.0.1'))
})
;(async () => {
  for (let i = 0; i < 50; i++) await cycle()
  const before = process.resourceUsage().minorPageFault
  for (let i = 0; i < 2000; i++) await cycle()
  console.log(process.resourceUsage().minorPageFault - before)
})()`
  const faults = {}
  for (const inside of [true, false]) {
    const r = await runChild(IMPLS[1].module, body(inside), { timeout: 50000 })
    assert.strictEqual(r.code, 0, r.stderr)
    faults[inside ? 'in the handler' : 'a moment later'] = Number(r.stdout.trim())
  }
  assert.ok(faults['in the handler'] < faults['a moment later'] + 1000, JSON.stringify(faults))
})
