'use strict'
// address(), ref()/unref() return values, Symbol.asyncDispose, getSendQueueSize/Count.
const assert = require('node:assert')
const { parity, attempt, until, bindLoopback } = require('./helpers/impls')

parity('address(): throws EBADF before bind, the bound address after', async (ctx) => {
  const s = ctx.socket('udp4')
  const before = attempt(() => s.address())
  s.bind(0, '127.0.0.1')
  const binding = attempt(() => s.address())
  await until(() => { try { return s.address().port > 0 } catch { return false } })
  const a = s.address()
  const s6 = ctx.socket('udp6')
  await bindLoopback(s6)
  const a6 = s6.address()
  return { before, binding, keys: Object.keys(a), a: [a.address, a.family, typeof a.port], a6: [a6.address, a6.family, Object.keys(a6)] }
}, (out) => {
  assert.strictEqual(out.before.threw.code, 'EBADF')
  assert.strictEqual(out.before.threw.message, 'getsockname EBADF')
  assert.strictEqual(out.before.threw.syscall, 'getsockname')
  assert.deepStrictEqual(out.keys, ['address', 'family', 'port'])
  assert.deepStrictEqual(out.a, ['127.0.0.1', 'IPv4', 'number'])
  assert.deepStrictEqual(out.a6, ['::1', 'IPv6', ['address', 'family', 'port']])
})

parity('ref()/unref() return this, in every state', async (ctx) => {
  const s = ctx.socket('udp4')
  const out = [s.ref() === s, s.unref() === s]
  await bindLoopback(s)
  out.push(s.ref() === s, s.unref() === s)
  s.close()
  out.push(s.ref() === s, s.unref() === s)
  return out
}, (out) => assert.deepStrictEqual(out, [true, true, true, true, true, true]))

parity('Symbol.asyncDispose closes the socket; a second call resolves without throwing', async (ctx) => {
  const t = ctx.transcript()
  const s = ctx.socket('udp4')
  await bindLoopback(s)
  s.on('close', () => t.log('close'))
  const fn = s[Symbol.asyncDispose]
  t.log('type', typeof fn)
  const p = s[Symbol.asyncDispose]()
  t.log('is promise', p instanceof Promise)
  t.log('resolved', await p)
  t.log('again', await s[Symbol.asyncDispose]())
  t.log('after', attempt(() => s.address()).threw.code)
  const u = ctx.socket('udp4') // never bound
  t.log('unbound', await u[Symbol.asyncDispose]())
  return t.entries
}, (entries) => {
  assert.deepStrictEqual(entries, [
    ['type', 'function'], ['is promise', true], 'close', ['resolved', undefined],
    ['again', undefined], ['after', 'ERR_SOCKET_DGRAM_NOT_RUNNING'], ['unbound', undefined]
  ])
})

parity('getSendQueueSize()/getSendQueueCount(): 0 when nothing is queued; after close they throw', async (ctx) => {
  const s = ctx.socket('udp4')
  const out = [s.getSendQueueSize(), s.getSendQueueCount()]
  const r = ctx.node('udp4')
  const rp = await bindLoopback(r)
  await bindLoopback(s)
  await new Promise((resolve) => s.send('x', rp, '127.0.0.1', resolve))
  out.push(s.getSendQueueSize(), s.getSendQueueCount())
  s.close()
  out.push(attempt(() => s.getSendQueueSize()), attempt(() => s.getSendQueueCount()))
  return out
}, (out) => {
  assert.deepStrictEqual(out.slice(0, 4), [0, 0, 0, 0])
  // Odd but pinned: after close node:dgram dereferences its null handle (a plain TypeError).
  assert.strictEqual(out[4].threw.name, 'TypeError')
})

parity('diagnostics_channel: udp.socket publishes each new socket', async (ctx) => {
  const dc = require('node:diagnostics_channel')
  const seen = []
  const onSocket = ({ socket }) => seen.push(socket)
  dc.subscribe('udp.socket', onSocket)
  try {
    const s = ctx.socket('udp4')
    return { count: seen.length, same: seen[0] === s }
  } finally {
    dc.unsubscribe('udp.socket', onSocket)
  }
}, (r) => assert.deepStrictEqual(r, { count: 1, same: true }))
