'use strict'
// createSocket options: reuseAddr, ipv6Only, lookup (called as node:dgram calls it), signal.
const assert = require('node:assert')
const { parity, attempt, until, delay, bindLoopback, describeError } = require('./helpers/impls')

parity('reuseAddr: two sockets with reuseAddr share a port; without it, EADDRINUSE', async (ctx) => {
  const a = ctx.socket({ type: 'udp4', reuseAddr: true })
  const port = await bindLoopback(a)
  const b = ctx.socket({ type: 'udp4', reuseAddr: true })
  const shared = await new Promise((resolve) => {
    b.on('error', (e) => resolve(describeError(e, { [port]: 'PORT' })))
    b.bind(port, '127.0.0.1', () => resolve(b.address().port === port))
  })
  const c = ctx.socket({ type: 'udp4' })
  const refused = await new Promise((resolve) => {
    c.on('error', (e) => resolve(describeError(e, { [port]: 'PORT' })))
    c.bind(port, '127.0.0.1', () => resolve('bound'))
  })
  // reuseAddr on the second socket only is not enough on Linux.
  const held = ctx.node('udp4')
  const p2 = await bindLoopback(held)
  const d = ctx.socket({ type: 'udp4', reuseAddr: true })
  const onlyOne = await new Promise((resolve) => {
    d.on('error', (e) => resolve(describeError(e, { [p2]: 'PORT' }).code))
    d.bind(p2, '127.0.0.1', () => resolve('bound'))
  })
  return { shared, refused, onlyOne }
}, (out) => {
  assert.strictEqual(out.shared, true)
  assert.strictEqual(out.refused.code, 'EADDRINUSE')
  assert.strictEqual(out.refused.message, 'bind EADDRINUSE 127.0.0.1:PORT')
  assert.strictEqual(out.onlyOne, 'EADDRINUSE')
})

// These two bind wildcard addresses (the only way to observe IPV6_V6ONLY); nothing is sent.
parity('ipv6Only: a udp6 socket on :: with ipv6Only leaves the port free for udp4', async (ctx) => {
  const out = {}
  for (const ipv6Only of [true, false]) {
    const a = ctx.socket({ type: 'udp6', ipv6Only })
    const port = await new Promise((resolve, reject) => {
      a.once('error', reject)
      a.bind(0, '::', () => resolve(a.address().port))
    })
    const b = ctx.node('udp4')
    out[ipv6Only] = await new Promise((resolve) => {
      b.once('error', (e) => resolve(e.code))
      b.bind(port, '0.0.0.0', () => resolve('udp4 bound'))
    })
  }
  return out
}, (out) => {
  assert.deepStrictEqual(out, { true: 'udp4 bound', false: 'EADDRINUSE' })
})

parity('lookup option: called as lookup(address, family, callback) for bind, send and connect', async (ctx) => {
  const t = ctx.transcript()
  const lookup = function (...args) {
    t.log('lookup', args.length, args[0], args[1], typeof args[2], this === undefined ? 'undefined this' : typeof this)
    if (args[0] === 'fail.invalid') {
      const err = new Error('getaddrinfo ENOTFOUND fail.invalid')
      err.code = 'ENOTFOUND'
      return process.nextTick(args[2], err)
    }
    process.nextTick(args[2], null, '127.0.0.1', 4)
  }
  const r = ctx.node('udp4')
  const rp = await bindLoopback(r)
  r.on('message', (m) => t.log('recv', m.toString()))
  const s = ctx.socket({ type: 'udp4', lookup })
  await new Promise((resolve) => s.bind(0, 'my-host.invalid', resolve))
  t.log('bound', s.address().address)
  await new Promise((resolve) => s.send('a', rp, 'peer.invalid', resolve))
  await new Promise((resolve) => s.send('b', rp, resolve)) // no address: lookup('127.0.0.1', 4, …)
  t.log('send fails', await new Promise((resolve) => s.send('c', rp, 'fail.invalid', (e) => resolve(describeError(e)))))
  const u = ctx.socket({ type: 'udp4', lookup })
  await new Promise((resolve) => u.connect(rp, 'peer.invalid', resolve))
  u.send('d')
  const v = ctx.socket({ type: 'udp4', lookup })
  t.log('bind fails', await new Promise((resolve) => { v.on('error', (e) => resolve(describeError(e))); v.bind(0, 'fail.invalid') }))
  const w = ctx.socket({ type: 'udp6', lookup: (...args) => { t.log('lookup6', args[0], args[1]); args[2](null, '::1', 6) } })
  await new Promise((resolve) => w.bind(0, resolve)) // no address: lookup('::', 6, …)
  t.log('bound6', w.address().address)
  await until(() => t.count((e) => e[0] === 'recv') === 3)
  return t.entries.filter((e) => e[0] !== 'recv').concat(t.entries.filter((e) => e[0] === 'recv'))
}, (entries) => {
  assert.deepStrictEqual(entries[0], ['lookup', 3, 'my-host.invalid', 4, 'function', 'undefined this'])
  assert.ok(entries.some((e) => e[0] === 'lookup' && e[2] === '127.0.0.1'))
  assert.deepStrictEqual(entries.find((e) => e[0] === 'lookup6'), ['lookup6', '::', 6])
  assert.strictEqual(entries.find((e) => e[0] === 'send fails')[1].code, 'ENOTFOUND')
  assert.strictEqual(entries.find((e) => e[0] === 'bind fails')[1].code, 'ENOTFOUND')
})

parity('signal: aborting closes the socket; an already-aborted signal closes it at creation', async (ctx) => {
  const t = ctx.transcript()
  const ac = new AbortController()
  const s = ctx.socket({ type: 'udp4', signal: ac.signal })
  s.on('close', () => t.log('close s'))
  await bindLoopback(s)
  await ctx.macro(() => {
    ac.abort()
    t.log('after abort', attempt(() => s.address()).threw.code)
    t.markers('m')
  })
  await until(() => t.has('close s') && t.has('m:immediate'))
  ac.abort() // again: nothing more
  const aborted = AbortSignal.abort()
  let u
  await ctx.macro(() => {
    u = ctx.socket({ type: 'udp4', signal: aborted })
    u.on('close', () => t.log('close u'))
    t.log('u created', attempt(() => u.bind(0, '127.0.0.1')))
    t.markers('n')
  })
  await until(() => t.has('n:immediate'))
  // Unbound socket aborted
  const ac2 = new AbortController()
  const v = ctx.socket({ type: 'udp4', signal: ac2.signal })
  v.on('close', () => t.log('close v'))
  ac2.abort()
  await delay(20)
  t.log('close listeners', s.listenerCount('close'))
  return t.entries
}, (entries) => {
  assert.deepStrictEqual(entries.slice(0, 2), [['after abort', 'ERR_SOCKET_DGRAM_NOT_RUNNING'], 'close s'])
  assert.strictEqual(entries.find((e) => e[0] === 'u created')[1].threw.code, 'ERR_SOCKET_DGRAM_NOT_RUNNING')
  assert.ok(entries.includes('close v'))
  // An already-aborted signal closes in the constructor; 'close' comes on a later tick.
  assert.ok(entries.indexOf('close u') > entries.findIndex((e) => e[0] === 'u created'))
})
