'use strict'
// Receiving: the 'message' arguments (Buffer and rinfo), zero-length and 65507-byte datagrams,
// udp6 over ::1, implicit bind on first send, and the pre-bind send queue.
const assert = require('node:assert')
const { parity, until, bindLoopback } = require('./helpers/impls')

function describeMessage (msg, rinfo, ports) {
  return {
    isBuffer: Buffer.isBuffer(msg),
    ctor: msg.constructor.name,
    length: msg.length,
    byteOffset: msg.byteOffset,
    ownMemory: msg.buffer.byteLength === msg.length, // one ArrayBuffer per datagram
    head: msg.subarray(0, 16).toString('hex'),
    rinfoKeys: Object.keys(rinfo),
    rinfoProto: Object.getPrototypeOf(rinfo) === Object.prototype,
    address: rinfo.address,
    family: rinfo.family,
    port: ports[rinfo.port] || rinfo.port,
    size: rinfo.size
  }
}

for (const [type, addr] of [['udp4', '127.0.0.1'], ['udp6', '::1']]) {
  parity(`receive (${type}): Buffer and rinfo shape and values, listener arguments`, async (ctx) => {
    const t = ctx.transcript()
    const r = ctx.socket(type)
    const s = ctx.socket(type)
    const rp = await bindLoopback(r, addr)
    const sp = await bindLoopback(s, addr)
    const ports = { [sp]: 'SENDER' }
    r.on('message', function (msg, rinfo) {
      t.log('message', this === r, arguments.length, describeMessage(msg, rinfo, ports))
    })
    s.send('hello', rp, addr)
    s.send(Buffer.from([0, 1, 2, 255]), rp, addr)
    await until(() => t.entries.length === 2)
    return t.entries
  }, (entries) => {
    assert.deepStrictEqual(entries[0], ['message', true, 2, {
      isBuffer: true,
      ctor: 'Buffer',
      length: 5,
      byteOffset: 0,
      ownMemory: true,
      head: '68656c6c6f',
      rinfoKeys: ['address', 'family', 'port', 'size'],
      rinfoProto: true,
      address: addr,
      family: type === 'udp4' ? 'IPv4' : 'IPv6',
      port: 'SENDER',
      size: 5
    }])
    assert.strictEqual(entries[1][3].head, '000102ff')
  })
}

parity('receive: zero-length datagrams', async (ctx) => {
  const t = ctx.transcript()
  const r = ctx.socket('udp4')
  const rp = await bindLoopback(r)
  const s = ctx.socket('udp4')
  const sp = await bindLoopback(s)
  r.on('message', (msg, rinfo) => t.log(describeMessage(msg, rinfo, { [sp]: 'SENDER' })))
  s.send('', rp, '127.0.0.1')
  s.send(Buffer.alloc(0), rp, '127.0.0.1')
  s.send([], rp, '127.0.0.1')
  s.send('after', rp, '127.0.0.1')
  await until(() => t.entries.length === 4)
  return t.entries
}, (entries) => {
  assert.strictEqual(entries[0].length, 0)
  assert.strictEqual(entries[0].size, 0)
  assert.strictEqual(entries[0].isBuffer, true)
  assert.strictEqual(entries[2].length, 0)
  assert.strictEqual(entries[3].length, 5)
})

parity('receive: the largest udp4 datagram (65507 bytes) over loopback', async (ctx) => {
  const t = ctx.transcript()
  const r = ctx.socket('udp4')
  const rp = await bindLoopback(r)
  const s = ctx.socket('udp4')
  const sp = await bindLoopback(s)
  const big = Buffer.alloc(65507)
  for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff
  r.on('message', (msg, rinfo) => t.log(describeMessage(msg, rinfo, { [sp]: 'SENDER' }), msg.equals(big)))
  s.send(big, rp, '127.0.0.1', (err, n) => t.log('cb', err, n))
  await until(() => t.entries.length === 2)
  return t.entries.sort((a, b) => String(a[0]).localeCompare(String(b[0])))
}, (entries) => {
  assert.deepStrictEqual(entries[1], ['cb', null, 65507])
  assert.strictEqual(entries[0][0].length, 65507)
  assert.strictEqual(entries[0][0].size, 65507)
  assert.strictEqual(entries[0][1], true)
})

parity('send before bind: implicit bind to the wildcard, queue flushed in order', async (ctx) => {
  const t = ctx.transcript()
  const r = ctx.node('udp4')
  const rp = await bindLoopback(r)
  r.on('message', (m) => t.log('recv', m.toString()))
  const s = ctx.socket('udp4')
  s.on('listening', () => t.log('listening', s.address().address, s.address().family))
  await ctx.macro(() => {
    for (let i = 0; i < 5; i++) {
      s.send(`m${i}`, rp, '127.0.0.1', (err, n) => t.log('cb', i, err, n))
    }
    s.send('no address', rp)
    t.markers('m')
  })
  await until(() => t.count((e) => e[0] === 'recv') === 6 && t.count((e) => e[0] === 'cb') === 5)
  return {
    local: t.entries.filter((e) => e[0] !== 'recv'),
    received: t.entries.filter((e) => e[0] === 'recv')
  }
}, (r) => {
  assert.deepStrictEqual(r.received, ['m0', 'm1', 'm2', 'm3', 'm4', 'no address'].map((m) => ['recv', m]))
  assert.deepStrictEqual(r.local.slice(0, 2), [['listening', '0.0.0.0', 'IPv4'], 'm:nextTick'])
  assert.deepStrictEqual(r.local.filter((e) => e[0] === 'cb').map((e) => e[1]), [0, 1, 2, 3, 4])
})

parity('send before bind: udp6 implicit bind, no address goes to ::1', async (ctx) => {
  const t = ctx.transcript()
  const r = ctx.node('udp6')
  const rp = await bindLoopback(r, '::1')
  r.on('message', (m, rinfo) => t.log('recv', m.toString(), rinfo.family))
  const s = ctx.socket('udp6')
  s.on('listening', () => t.log('listening', s.address().address, s.address().family))
  s.send('six', rp)
  await until(() => t.entries.length === 2)
  return t.entries
}, (entries) => {
  assert.deepStrictEqual(entries, [['listening', '::', 'IPv6'], ['recv', 'six', 'IPv6']])
})

parity('send while binding (explicit bind in progress) is queued and flushed in order', async (ctx) => {
  const t = ctx.transcript()
  const r = ctx.node('udp4')
  const rp = await bindLoopback(r)
  r.on('message', (m) => t.log('recv', m.toString()))
  const s = ctx.socket('udp4')
  s.bind(0, '127.0.0.1', () => t.log('bound'))
  s.send('a', rp, '127.0.0.1', (err, n) => t.log('cb a', err, n))
  s.send('b', rp, '127.0.0.1', (err, n) => t.log('cb b', err, n))
  await until(() => t.entries.length === 5)
  return t.entries.filter((e) => e[0] !== 'recv').concat(t.entries.filter((e) => e[0] === 'recv'))
}, (entries) => {
  assert.deepStrictEqual(entries, ['bound', ['cb a', null, 1], ['cb b', null, 1], ['recv', 'a'], ['recv', 'b']])
})

// Regression: the sender address of a udp6 datagram must be complete even when a udp4 socket
// received before it in the same process (a reused sockaddr buffer with a stale, IPv4-sized
// length would truncate the IPv6 address).
parity('receive: udp6 rinfo.address after a udp4 socket received first', async (ctx) => {
  const out = []
  for (const [type, addr] of [['udp4', '127.0.0.1'], ['udp6', '::1'], ['udp4', '127.0.0.1'], ['udp6', '::1']]) {
    const r = ctx.socket(type)
    const s = ctx.socket(type)
    const rp = await bindLoopback(r, addr)
    await bindLoopback(s, addr)
    const got = []
    r.on('message', (m, rinfo) => got.push([type, rinfo.address, rinfo.family]))
    s.send('a', rp, addr)
    s.send('b', rp, addr)
    await until(() => got.length === 2)
    out.push(...got)
    r.close()
    s.close()
  }
  return out
}, (out) => {
  assert.deepStrictEqual(out, [
    ['udp4', '127.0.0.1', 'IPv4'], ['udp4', '127.0.0.1', 'IPv4'], ['udp6', '::1', 'IPv6'], ['udp6', '::1', 'IPv6'],
    ['udp4', '127.0.0.1', 'IPv4'], ['udp4', '127.0.0.1', 'IPv4'], ['udp6', '::1', 'IPv6'], ['udp6', '::1', 'IPv6']
  ])
})

// Small datagrams (up to 64 bytes) reach JavaScript another way than larger ones in dgram-rs
// (through a staging area, copied into a Buffer made in JavaScript): a burst of sizes around
// that limit, more than one group of calls long, must arrive byte for byte, each in its own
// memory, as from node:dgram, even when a handler writes into the Buffer it was given.
parity('receive: bursts of datagrams around 64 bytes keep their bytes and their own memory', async (ctx) => {
  const t = ctx.transcript()
  const r = ctx.socket('udp4')
  const s = ctx.socket('udp4')
  const rp = await bindLoopback(r)
  await bindLoopback(s)
  const sizes = [0, 1, 63, 64, 65, 128]
  const count = 60
  const seen = new Set()
  r.on('message', (msg, rinfo) => {
    t.log(msg.toString('hex'), rinfo.size, msg.byteOffset, msg.buffer.byteLength === msg.length, seen.has(msg.buffer))
    seen.add(msg.buffer)
    msg.fill(0xee) // must not reach any other datagram
  })
  for (let i = 0; i < count; i++) {
    const size = sizes[i % sizes.length]
    s.send(Buffer.alloc(size, i + 1), rp, '127.0.0.1')
  }
  await until(() => t.entries.length === count)
  return t.entries
}, (entries) => {
  assert.strictEqual(entries.length, 60)
  assert.deepStrictEqual(entries[3], [Buffer.alloc(64, 4).toString('hex'), 64, 0, true, false])
})
