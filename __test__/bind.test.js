'use strict'
// bind(): argument forms, 'listening' and the bind callback (timing included), return value,
// EADDRINUSE / EADDRNOTAVAIL as 'error' events, ERR_SOCKET_ALREADY_BOUND, odd ports.
const assert = require('node:assert')
const { parity, attempt, until, bindLoopback, describeError } = require('./helpers/impls')

const shape = (a) => ({ address: a.address, family: a.family, portOk: Number.isInteger(a.port) && a.port > 0 })

parity('bind: forms, return value, listening and callback timing', async (ctx) => {
  const out = []
  const forms = [
    [0, '127.0.0.1'],
    [0, '127.0.0.1', 'cb'],
    [{ port: 0, address: '127.0.0.1' }],
    [{ port: 0, address: '127.0.0.1' }, 'cb'],
    [{ address: '127.0.0.1' }, 'cb'],
    [{ port: 0, address: '127.0.0.1', exclusive: true }, 'cb'],
    [0, 'localhost', 'cb'], // goes through dns.lookup(…, 4)
    ['udp6', 0, '::1', 'cb'],
    ['udp6', { port: 0, address: '::1' }]
  ]
  for (const f of forms) {
    const form = f.slice()
    const type = form[0] === 'udp6' ? form.shift() : 'udp4'
    const t = ctx.transcript()
    const s = ctx.socket(type)
    s.on('listening', function () { t.log('listening', this === s, arguments.length, shape(s.address())) })
    s.on('error', (e) => t.log('error', describeError(e)))
    const args = form.map((a) => a === 'cb'
      ? function () { t.log('callback', this === s, arguments.length) }
      : a)
    await ctx.macro(() => {
      t.log('bind returned this', s.bind(...args) === s)
      t.markers('after bind')
    })
    await until(() => t.has('after bind:immediate') && t.count((e) => e[0] === 'listening') > 0)
    // A host name is resolved on the thread pool: where it lands among the markers is a race.
    out.push(f[1] === 'localhost' ? t.entries.filter((e) => typeof e !== 'string') : t.entries)
  }
  return out
}, (out) => {
  // dns.lookup answers an IP literal on a nextTick queued inside bind(), before ours; 'listening'
  // is emitted synchronously in it, and the bind callback is a 'listening' listener.
  assert.deepStrictEqual(out[1], [
    ['bind returned this', true],
    ['listening', true, 0, { address: '127.0.0.1', family: 'IPv4', portOk: true }],
    ['callback', true, 0],
    'after bind:nextTick',
    'after bind:promise',
    'after bind:immediate'
  ])
  assert.deepStrictEqual(out[6], [
    ['bind returned this', true],
    ['listening', true, 0, { address: '127.0.0.1', family: 'IPv4', portOk: true }],
    ['callback', true, 0]
  ])
  assert.deepStrictEqual(out[7].find((e) => e[0] === 'listening')[3], { address: '::1', family: 'IPv6', portOk: true })
})

parity('bind: EADDRINUSE is an \'error\' event with errno/code/syscall/address/port', async (ctx) => {
  const holder = ctx.node('udp4')
  const port = await bindLoopback(holder)
  const t = ctx.transcript()
  const s = ctx.socket('udp4')
  s.on('listening', () => t.log('listening'))
  s.on('error', (e) => {
    const d = describeError(e)
    d.port = d.port === port ? 'PORT' : d.port
    d.message = d.message.replace(String(port), 'PORT')
    d.string = d.string.replace(String(port), 'PORT')
    t.log('error', d)
  })
  t.log('returned this', s.bind(port, '127.0.0.1', () => t.log('callback')) === s)
  t.markers('m')
  await until(() => t.has('m:immediate') && t.count((e) => e[0] === 'error') > 0)
  // The socket is back to unbound: it may be bound again, and the old callback does not fire.
  t.log('rebind', attempt(() => s.bind(0, '127.0.0.1') === s))
  await until(() => t.has('listening'))
  t.log('listeners left', s.listenerCount('listening'), s.listenerCount('error'))
  return t.entries
}, (entries) => {
  const err = entries.find((e) => e[0] === 'error')[1]
  assert.strictEqual(err.code, 'EADDRINUSE')
  assert.strictEqual(err.errno, -98)
  assert.strictEqual(err.syscall, 'bind')
  assert.strictEqual(err.address, '127.0.0.1')
  assert.strictEqual(err.port, 'PORT')
  assert.strictEqual(err.message, 'bind EADDRINUSE 127.0.0.1:PORT')
  assert.strictEqual(err.name, 'Error')
  assert.ok(!entries.includes('callback'))
})

parity('bind: EADDRNOTAVAIL for an address that is not local', async (ctx) => {
  const t = ctx.transcript()
  const s = ctx.socket('udp4')
  s.on('error', (e) => t.log('error', describeError(e)))
  s.bind(0, '192.0.2.1') // TEST-NET-1: never assigned to this host, nothing is sent
  await until(() => t.entries.length > 0)
  return t.entries
}, (entries) => {
  assert.strictEqual(entries[0][1].code, 'EADDRNOTAVAIL')
  assert.strictEqual(entries[0][1].message, 'bind EADDRNOTAVAIL 192.0.2.1')
})

parity('bind: address of the other family', async (ctx) => {
  const out = []
  for (const [type, addr] of [['udp4', '::1'], ['udp6', '127.0.0.1']]) {
    const t = ctx.transcript()
    const s = ctx.socket(type)
    s.on('error', (e) => t.log('error', describeError(e)))
    s.on('listening', () => t.log('listening', shape(s.address())))
    s.bind(0, addr)
    await until(() => t.entries.length > 0)
    out.push(t.entries)
  }
  return out
}, (out) => {
  assert.strictEqual(out.length, 2)
  for (const e of out) assert.strictEqual(e[0][0], 'error')
})

parity('bind: ERR_SOCKET_ALREADY_BOUND while binding and once bound', async (ctx) => {
  const s = ctx.socket('udp4')
  const out = []
  s.bind(0, '127.0.0.1')
  out.push(attempt(() => s.bind(0, '127.0.0.1')))
  await until(() => { try { return s.address().port > 0 } catch { return false } })
  out.push(attempt(() => s.bind(0, '127.0.0.1')))
  out.push(attempt(() => s.bind({ port: 0 })))
  s.close()
  out.push(attempt(() => s.bind(0, '127.0.0.1'))) // after close: not running wins
  return out
}, (out) => {
  assert.strictEqual(out[0].threw.code, 'ERR_SOCKET_ALREADY_BOUND')
  assert.strictEqual(out[0].threw.message, 'Socket is already bound')
  assert.strictEqual(out[1].threw.code, 'ERR_SOCKET_ALREADY_BOUND')
  assert.strictEqual(out[3].threw.code, 'ERR_SOCKET_DGRAM_NOT_RUNNING')
})

// node:dgram (v20) does not validate bind()'s port: it is coerced to uint16 by the native layer
// (so 65536 binds port 0, i.e. an ephemeral port; '0', NaN, null and 'abc' too). Pinned with the
// values that end on port 0 only, so that no fixed port is ever bound here.
parity('bind: unvalidated ports that coerce to 0 bind an ephemeral port', async (ctx) => {
  const out = []
  for (const port of ['0', NaN, null, 'abc', 65536, -65536, 131072, undefined, false]) {
    const t = ctx.transcript()
    const s = ctx.socket('udp4')
    s.on('error', (e) => t.log('error', describeError(e)))
    s.on('listening', () => t.log('listening', shape(s.address())))
    const r = attempt(() => s.bind(port, '127.0.0.1') === s)
    t.log('returned', r)
    if (!r.threw) await until(() => t.entries.length > 1)
    out.push(t.entries)
  }
  const t = ctx.transcript()
  const s = ctx.socket('udp4')
  s.on('listening', () => t.log('listening', shape(s.address())))
  s.bind({ port: 'x', address: '127.0.0.1' })
  await until(() => t.entries.length > 0)
  out.push(t.entries)
  return out
}, (out) => {
  for (const e of out) assert.deepStrictEqual(e[e.length - 1], ['listening', { address: '127.0.0.1', family: 'IPv4', portOk: true }])
})
