'use strict'
// Connected sockets: connect/disconnect/remoteAddress, sends without a destination, the
// ERR_SOCKET_DGRAM_IS_CONNECTED / NOT_CONNECTED errors, and the 'connect' event's timing.
const assert = require('node:assert')
const { parity, attempt, until, delay, bindLoopback, describeError } = require('./helpers/impls')

parity('connect: on an unbound socket (implicit bind), event and callback timing, addresses', async (ctx) => {
  const t = ctx.transcript()
  const peer = ctx.node('udp4')
  const pp = await bindLoopback(peer)
  const s = ctx.socket('udp4')
  s.on('listening', () => t.log('listening', s.address().address))
  s.on('connect', function () { t.log('connect event', this === s, arguments.length) })
  await ctx.macro(() => {
    t.log('connect returned', attempt(() => s.connect(pp, '127.0.0.1', function () { t.log('connect cb', this === s, arguments.length) })))
    t.log('remoteAddress while connecting', attempt(() => s.remoteAddress()))
    t.log('connect again while connecting', attempt(() => s.connect(pp, '127.0.0.1')))
    t.markers('m')
  })
  await until(() => t.has('m:immediate') && t.has(['connect cb', true, 0]))
  const ra = s.remoteAddress()
  t.log('remoteAddress', { ...ra, port: ra.port === pp ? 'PEER' : ra.port }, Object.keys(ra))
  t.log('address', s.address().address)
  t.log('connect again', attempt(() => s.connect(pp, '127.0.0.1')))
  return t.entries
}, (entries) => {
  assert.deepStrictEqual(entries[0], ['connect returned', { returned: undefined }])
  assert.strictEqual(entries[1][1].threw.code, 'ERR_SOCKET_DGRAM_NOT_CONNECTED')
  assert.strictEqual(entries[2][1].threw.code, 'ERR_SOCKET_DGRAM_IS_CONNECTED')
  assert.ok(entries.some((e) => e[0] === 'connect event'))
  assert.deepStrictEqual(entries.find((e) => e[0] === 'remoteAddress'),
    ['remoteAddress', { address: '127.0.0.1', family: 'IPv4', port: 'PEER' }, ['address', 'family', 'port']])
  assert.strictEqual(entries[entries.length - 1][1].threw.message, 'Already connected')
})

parity('connect: sends without a destination; a destination throws; disconnect', async (ctx) => {
  const t = ctx.transcript()
  const peer = ctx.node('udp4')
  const pp = await bindLoopback(peer)
  peer.on('message', (m) => t.log('peer got', m.toString()))
  const s = ctx.socket('udp4')
  await bindLoopback(s)
  await new Promise((resolve) => s.connect(pp, '127.0.0.1', resolve))
  const buf = Buffer.from('abcdef')
  t.log(attempt(() => s.send('one')))
  t.log(attempt(() => s.send('two', (err, n) => t.log('cb two', err, n))))
  t.log(attempt(() => s.send(buf, 1, 2)))
  t.log(attempt(() => s.send(buf, 2, 3, (err, n) => t.log('cb slice', err, n))))
  t.log(attempt(() => s.send([Buffer.from('l'), 'ist'])))
  // Odd but pinned: on a connected socket, without a numeric `length` the 2nd argument is taken as
  // the callback and the 3rd is ignored, so these three do not throw and are sent to the peer.
  t.log(attempt(() => s.send('odd1', pp)))
  t.log(attempt(() => s.send('odd2', pp, '127.0.0.1')))
  t.log(attempt(() => s.send('odd3', undefined, '127.0.0.1')))
  t.log(attempt(() => s.send(buf, 0, 1, pp)))
  t.log(attempt(() => s.send(buf, 0, 1, pp, '127.0.0.1')))
  t.log(attempt(() => s.send(123)))
  await until(() => t.count((e) => e[0] === 'peer got') === 8 && t.count((e) => String(e[0]).startsWith('cb')) === 2)
  t.log('disconnect', attempt(() => s.disconnect()))
  t.log('disconnect again', attempt(() => s.disconnect()))
  t.log('remoteAddress after disconnect', attempt(() => s.remoteAddress()))
  t.log('send with port after disconnect', attempt(() => s.send('after', pp, '127.0.0.1')))
  t.log('send without port after disconnect', attempt(() => s.send('after')))
  await until(() => t.has(['peer got', 'after'])).catch(() => {})
  const peerGot = t.entries.filter((e) => e[0] === 'peer got')
  return { local: t.entries.filter((e) => e[0] !== 'peer got'), peerGot }
}, (r) => {
  assert.deepStrictEqual(r.peerGot.map((e) => e[1]), ['one', 'two', 'bc', 'cde', 'list', 'odd1', 'odd2', 'odd3', 'after'])
  const threw = r.local.filter((e) => e.threw).map((e) => e.threw.code)
  assert.deepStrictEqual(threw, ['ERR_SOCKET_DGRAM_IS_CONNECTED', 'ERR_SOCKET_DGRAM_IS_CONNECTED', 'ERR_INVALID_ARG_TYPE'])
  assert.deepStrictEqual(r.local.find((e) => e[0] === 'disconnect'), ['disconnect', { returned: undefined }])
  assert.strictEqual(r.local.find((e) => e[0] === 'disconnect again')[1].threw.code, 'ERR_SOCKET_DGRAM_NOT_CONNECTED')
  assert.strictEqual(r.local.find((e) => e[0] === 'send without port after disconnect')[1].threw.code, 'ERR_SOCKET_BAD_PORT')
})

parity('connect: a connected socket only receives from its peer', async (ctx) => {
  const t = ctx.transcript()
  const peer = ctx.node('udp4')
  const pp = await bindLoopback(peer)
  const other = ctx.node('udp4')
  await bindLoopback(other)
  const s = ctx.socket('udp4')
  const sp = await bindLoopback(s)
  s.on('message', (m) => t.log('got', m.toString()))
  await new Promise((resolve) => s.connect(pp, '127.0.0.1', resolve))
  other.send('from other', sp, '127.0.0.1')
  await delay(20)
  peer.send('from peer', sp, '127.0.0.1')
  await until(() => t.entries.length > 0)
  await delay(20)
  return t.entries
}, (entries) => {
  assert.deepStrictEqual(entries, [['got', 'from peer']])
})

parity('connect: argument errors, default address, failures to the callback or \'error\'', async (ctx) => {
  const out = {}
  const s = ctx.socket('udp4')
  out.noPort = attempt(() => s.connect())
  out.zero = attempt(() => s.connect(0))
  out.big = attempt(() => s.connect(65536, '127.0.0.1'))
  out.str = attempt(() => s.connect('abc', '127.0.0.1'))
  out.badAddress = attempt(() => s.connect(9, 123))
  out.badAddressObj = attempt(() => s.connect(9, {}))
  out.stillUnbound = attempt(() => s.address())
  // No address: 127.0.0.1 (lookup4's default); callback as 2nd argument.
  const peer = ctx.node('udp4')
  const pp = await bindLoopback(peer)
  const a = ctx.socket('udp4')
  await new Promise((resolve) => a.connect(pp, resolve))
  const ra = a.remoteAddress()
  out.defaultAddress = [ra.address, ra.port === pp]
  const b = ctx.socket('udp4')
  await new Promise((resolve) => b.connect(String(pp), '', resolve))
  out.emptyAddressStringPort = b.remoteAddress().address
  // A connect that fails (an IPv6 address on a udp4 socket): to the callback...
  const c = ctx.socket('udp4')
  out.failCb = await new Promise((resolve) => c.connect(pp, '::1', (err) => resolve(describeError(err, { [pp]: 'PEER' }))))
  out.afterFail = attempt(() => c.remoteAddress())
  // ...or, without one, as an 'error' event.
  const d = ctx.socket('udp4')
  out.failEvent = await new Promise((resolve) => { d.on('error', (err) => resolve(describeError(err, { [pp]: 'PEER' }))); d.connect(pp, '::1') })
  return out
}, (out) => {
  assert.strictEqual(out.noPort.threw.code, 'ERR_SOCKET_BAD_PORT')
  assert.strictEqual(out.zero.threw.code, 'ERR_SOCKET_BAD_PORT')
  assert.strictEqual(out.badAddress.threw.code, 'ERR_INVALID_ARG_TYPE')
  assert.strictEqual(out.stillUnbound.threw.code, 'EBADF')
  assert.deepStrictEqual(out.defaultAddress, ['127.0.0.1', true])
  assert.strictEqual(out.emptyAddressStringPort, '127.0.0.1')
  assert.strictEqual(out.failCb.syscall, 'connect')
  assert.strictEqual(out.failEvent.syscall, 'connect')
})

parity('connect: udp6 over ::1', async (ctx) => {
  const t = ctx.transcript()
  const peer = ctx.node('udp6')
  const pp = await bindLoopback(peer, '::1')
  peer.on('message', (m, rinfo) => { t.log('peer got', m.toString()); peer.send('back', rinfo.port, rinfo.address) })
  const s = ctx.socket('udp6')
  s.on('message', (m) => t.log('got', m.toString()))
  await new Promise((resolve) => s.connect(pp, resolve)) // no address: ::1
  const ra = s.remoteAddress()
  t.log('remote', ra.address, ra.family, ra.port === pp)
  s.send('six')
  await until(() => t.has(['got', 'back']))
  return t.entries
}, (entries) => {
  assert.deepStrictEqual(entries, [['remote', '::1', 'IPv6', true], ['peer got', 'six'], ['got', 'back']])
})
