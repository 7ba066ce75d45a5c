'use strict'
// dgram-rs's opt-in metadata (no node:dgram counterpart, so no parity): receiveInfo,
// maxMessageSize, receiveErrors, setTOS / getTOS, setDontFragment / getPathMTU. Each field is
// checked against what the kernel or an independent sender did: a datagram to 127.0.0.2 on a
// socket bound to 0.0.0.0 reports that destination; a TOS set by Python's socket module is the
// one read; a datagram longer than maxMessageSize is reported truncated; a send to a closed port
// yields one 'icmp' event, no 'error', and the socket keeps sending and receiving. Without the
// options, rinfo has node:dgram's keys only (the parity suite checks the rest of node:dgram's
// behaviour).
const assert = require('node:assert')
const nodeTest = require('node:test')
// Under DGRAM_RS_FALLBACK=1 every test here is skipped: receive information, send control and ICMP errors need the native addon; the fallback is node:dgram.
const test = process.env.DGRAM_RS_FALLBACK === '1'
  ? (name) => nodeTest.test(name, { skip: 'native addon only' }, () => {})
  : nodeTest.test
const { execFileSync } = require('node:child_process')
const dgram = require('dgram-rs')
const { until, withTimeout } = require('./helpers/impls')

const LOOPBACK = { udp4: '127.0.0.1', udp6: '::1' }
const ANY = { udp4: '0.0.0.0', udp6: '::' }

function bound (ctx, options, address) {
  const s = dgram.createSocket(options)
  ctx.after(() => { try { s.close() } catch {} })
  return withTimeout(new Promise((resolve, reject) => {
    s.once('error', reject)
    s.bind(0, address, () => { s.removeListener('error', reject); resolve(s) })
  }), 2000, 'bind')
}

// The next `n` datagrams' (msg, rinfo) on 'message' (or 'messages', flattened).
function next (s, n = 1, event = 'message') {
  return withTimeout(new Promise((resolve) => {
    const got = []
    s.on(event, function on (msg, rinfo) {
      const msgs = event === 'messages' ? msg : [msg]
      for (const m of msgs) got.push([m, rinfo])
      if (got.length >= n) { s.removeListener(event, on); resolve(got) }
    })
  }), 3000, `${n} ${event}`)
}

// Sends `payload` from Python's socket module with IP_TOS / IPV6_TCLASS set to `tos`.
function pythonSend (type, tos, port, address) {
  const family = type === 'udp4' ? 'AF_INET' : 'AF_INET6'
  const option = type === 'udp4' ? 'IPPROTO_IP, socket.IP_TOS' : 'IPPROTO_IPV6, socket.IPV6_TCLASS'
  execFileSync('python3', ['-c', `
import socket
s = socket.socket(socket.${family}, socket.SOCK_DGRAM)
s.setsockopt(socket.${option}, ${tos})
s.sendto(b'from python', ('${address}', ${port}))
`], { timeout: 5000 })
}

const INFO_KEYS = ['address', 'family', 'port', 'size', 'localAddress', 'interfaceIndex', 'tos', 'ttl',
  'timestamp', 'truncated']

for (const type of ['udp4', 'udp6']) {
  const lo = LOOPBACK[type]
  const second = type === 'udp4' ? '127.0.0.2' : '::1'

  test(`${type} receiveInfo: destination, interface, TTL and receive time per datagram, on 'message'`, async (t) => {
    const r = await bound(t, { type, receiveInfo: true }, ANY[type])
    const s = await bound(t, type, lo)
    const got = next(r)
    const before = BigInt(Date.now()) * 1000000n
    s.send('to second', r.address().port, second)
    const [[msg, rinfo]] = await got
    const after = BigInt(Date.now()) * 1000000n
    assert.strictEqual(msg.toString(), 'to second')
    assert.deepStrictEqual(Object.keys(rinfo), INFO_KEYS)
    assert.strictEqual(rinfo.localAddress, second)
    assert.strictEqual(rinfo.interfaceIndex, 1) // lo
    assert.strictEqual(rinfo.ttl, 64) // the default TTL / hop limit on loopback
    assert.strictEqual(rinfo.tos, 0)
    assert.strictEqual(rinfo.truncated, false)
    assert.strictEqual(typeof rinfo.timestamp, 'bigint')
    assert.ok(rinfo.timestamp >= before - 1000000n && rinfo.timestamp <= after + 1000000n,
      `${rinfo.timestamp} within [${before}, ${after}]`)
  })

  test(`${type} receiveInfo: a sender's TOS set by Python, and setTTL's TTL, are what the receiver reads`, async (t) => {
    for (const event of ['message', 'messages']) {
      const r = await bound(t, { type, receiveInfo: true, receiveBatches: event === 'messages' }, lo)
      let got = next(r, 1, event)
      pythonSend(type, 0xb9, r.address().port, lo) // DSCP 46 (EF), ECN CE... no: ECT(1)
      let [[msg, rinfo]] = await got
      assert.strictEqual(msg.toString(), 'from python')
      assert.strictEqual(rinfo.tos, 0xb9, event)
      assert.strictEqual(rinfo.tos & 3, 1, 'ECN in the low two bits')

      const s = await bound(t, type, lo)
      s.setTTL(7)
      s.setTOS(0x28)
      assert.strictEqual(s.getTOS(), 0x28)
      got = next(r, 1, event)
      s.send('ttl 7', r.address().port, lo);
      [[msg, rinfo]] = await got
      assert.strictEqual(rinfo.ttl, 7, event)
      assert.strictEqual(rinfo.tos, 0x28, event)
      assert.strictEqual(rinfo.localAddress, lo)
    }
  })

  test(`${type} receiveInfo with receiveBatches: each batch's fields, batches split where the TOS changes`, async (t) => {
    const r = await bound(t, { type, receiveInfo: true, receiveBatches: true }, lo)
    const s = await bound(t, type, lo)
    const batches = []
    r.on('messages', (msgs, rinfo) => batches.push([msgs.map(String), rinfo.tos, rinfo.localAddress]))
    // Sent in one tick, read in one recvmmsg: without the TOS change they would be one batch.
    s.setTOS(4)
    s.send('a', r.address().port, lo)
    s.send('b', r.address().port, lo, () => {
      s.setTOS(8)
      s.send('c', r.address().port, lo)
    })
    await until(() => batches.flatMap((b) => b[0]).length === 3, 3000, 'three datagrams')
    for (const [msgs, tos, local] of batches) {
      assert.strictEqual(local, lo)
      for (const m of msgs) assert.strictEqual(tos, m === 'c' ? 8 : 4, `${m} in a batch of TOS ${tos}`)
    }
  })

  test(`${type} maxMessageSize: a longer datagram is cut short and reported truncated`, async (t) => {
    for (const receiveBatches of [false, true]) {
      const r = await bound(t, { type, receiveInfo: true, maxMessageSize: 4, receiveBatches }, lo)
      const s = await bound(t, type, lo)
      const got = next(r, 2, receiveBatches ? 'messages' : 'message')
      s.send('longer than four', r.address().port, lo)
      s.send('abc', r.address().port, lo)
      const [[m1, i1], [m2, i2]] = await got
      assert.strictEqual(m1.toString(), 'long')
      assert.strictEqual(i1.truncated, true)
      assert.strictEqual(m2.toString(), 'abc')
      assert.strictEqual(i2.truncated, false)
    }
  })

  test(`${type} receiveErrors: a send to a closed port is one 'icmp' event, never 'error', and the socket keeps working`, async (t) => {
    const e = await bound(t, { type, receiveErrors: true }, lo)
    const errors = []
    e.on('error', (err) => errors.push(err))
    const closed = await bound(t, type, lo)
    const port = closed.address().port
    closed.close()
    const icmp = []
    e.on('icmp', (ev) => icmp.push(ev))
    await new Promise((resolve, reject) => e.send('x', port, lo, (err) => err ? reject(err) : resolve()))
    await until(() => icmp.length === 1, 3000, "'icmp'")
    assert.deepStrictEqual(icmp[0], {
      code: 'ECONNREFUSED',
      errno: -111,
      origin: type === 'udp4' ? 'icmp' : 'icmp6',
      type: type === 'udp4' ? 3 : 1, // destination unreachable
      icmpCode: type === 'udp4' ? 3 : 4, // port unreachable
      offender: lo,
      address: lo,
      port
    })
    // Still sending (to a live port) and receiving.
    const r = await bound(t, type, lo)
    const got = next(e)
    const echoed = next(r)
    await new Promise((resolve, reject) => e.send('after', r.address().port, lo, (err) => err ? reject(err) : resolve()))
    const [[, from]] = await echoed
    r.send('back', from.port, lo)
    const [[msg]] = await got
    assert.strictEqual(msg.toString(), 'back')
    await new Promise((resolve) => setTimeout(resolve, 50))
    assert.strictEqual(icmp.length, 1)
    assert.deepStrictEqual(errors, [])
  })

  test(`${type} receiveErrors: an ICMP error pending on the socket fails no later send`, async (t) => {
    const e = await bound(t, { type, receiveErrors: true }, lo)
    const closed = await bound(t, type, lo)
    const port = closed.address().port
    closed.close()
    const r = await bound(t, type, lo)
    const icmp = []
    e.on('icmp', (ev) => icmp.push(ev))
    // Sent in one tick, so the second leaves before the loop reads the first one's error (over
    // loopback the ICMP error is queued during the first send): the kernel's pending error
    // (ECONNREFUSED) would fail it, as it does without receiveErrors... once only, and unrelated.
    const results = []
    e.send('x', port, lo, (err, n) => { results.push(err ? err.code : n) })
    e.send('yy', r.address().port, lo, (err, n) => { results.push(err ? err.code : n) })
    await until(() => results.length === 2 && icmp.length === 1, 3000, 'sends and icmp')
    assert.deepStrictEqual(results, [1, 2])
  })

  test(`${type} without the options rinfo is node:dgram's, and no 'icmp' event comes`, async (t) => {
    const r = await bound(t, type, lo)
    const s = await bound(t, type, lo)
    const got = next(r)
    s.send('plain', r.address().port, lo)
    const [[, rinfo]] = await got
    assert.deepStrictEqual(Object.keys(rinfo), ['address', 'family', 'port', 'size'])
  })

  test(`${type} setTOS / getTOS validate as setTTL does; setDontFragment and getPathMTU`, async (t) => {
    const unbound = dgram.createSocket(type)
    t.after(() => unbound.close())
    assert.throws(() => unbound.setTOS('x'), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => unbound.setTOS(256), { code: 'EINVAL', syscall: 'setTOS' })
    assert.throws(() => unbound.setTOS(4), { code: 'EBADF', syscall: 'setTOS' })
    const s = await bound(t, type, lo)
    assert.throws(() => s.setTOS(-1), { code: 'EINVAL', syscall: 'setTOS' })
    assert.strictEqual(s.setTOS(0x10), 0x10)
    assert.strictEqual(s.getTOS(), 0x10)
    assert.throws(() => s.getPathMTU(), { code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' })
    const r = await bound(t, type, lo)
    await new Promise((resolve) => s.connect(r.address().port, lo, resolve))
    const mtu = Number(require('node:fs').readFileSync('/sys/class/net/lo/mtu', 'utf8'))
    // IPv4 caps a path's MTU at its largest packet, 65,535 bytes.
    const pathMtu = type === 'udp4' ? Math.min(mtu, 65535) : mtu
    assert.strictEqual(s.getPathMTU(), pathMtu)
    // One byte over what the path MTU carries: refused with DF on, fragmented with it off. Over
    // IPv4 loopback (MTU 65,536) no datagram is over the path MTU: that half runs on IPv6 only.
    if (type === 'udp4' && pathMtu - 28 >= 65507) {
      s.setDontFragment(true)
      s.setDontFragment(false)
      return
    }
    const over = Buffer.alloc(mtu - (type === 'udp4' ? 20 : 40) - 8 + 1)
    const send = () => new Promise((resolve) => s.send(over, (e) => resolve(e && e.code)))
    s.setDontFragment(true)
    assert.strictEqual(await send(), 'EMSGSIZE')
    s.setDontFragment(false)
    assert.strictEqual(await send(), null)
  })
}

for (const [type, lo, source] of [['udp4', '127.0.0.1', '127.0.0.5'], ['udp6', '::1', '::1'],
  ['udp6', '::ffff:127.0.0.1', '::ffff:127.0.0.6']]) {
  test(`${type} sendWithOptions(msg, { port, address, tos, sourceAddress }, cb) to ${lo}: per-send TOS and source, in order with plain sends`, async (t) => {
    const receiver = lo.startsWith('::ffff:') ? 'udp4' : type
    const r = await bound(t, { type: receiver, receiveInfo: true }, ANY[receiver])
    const s = await bound(t, type, ANY[type])
    const got = next(r, 4)
    const results = []
    const cb = (err, n) => results.push(err ? err.code : n)
    // One tick: the plain sends are gathered; the options send leaves after the first, in order.
    s.send('plain 1', r.address().port, lo, cb)
    s.sendWithOptions('opts', { port: r.address().port, address: lo, tos: 0x48, sourceAddress: source }, cb)
    s.send('plain 2', r.address().port, lo, cb)
    s.sendWithOptions('tos only', { port: r.address().port, address: lo, tos: 0x20 }, cb)
    const datagrams = (await got).map(([m, i]) => [m.toString(), i.tos, i.address.replace('::ffff:', '')])
    const plain = lo.replace('::ffff:', '')
    assert.deepStrictEqual(datagrams, [
      ['plain 1', 0, plain],
      ['opts', 0x48, source.replace('::ffff:', '')],
      ['plain 2', 0, plain],
      ['tos only', 0x20, plain]
    ])
    assert.deepStrictEqual(results, [7, 4, 7, 8])
  })
}

for (const type of ['udp4', 'udp6']) {
  const lo = LOOPBACK[type]
  test(`${type} per-send options: connected sockets, validation, and what node:dgram does with an object`, async (t) => {
    const r = await bound(t, { type, receiveInfo: true }, lo)
    const s = await bound(t, type, lo)
    await new Promise((resolve) => s.connect(r.address().port, lo, resolve))
    const got = next(r)
    await new Promise((resolve, reject) => s.sendWithOptions('connected', { tos: 0x10 }, (e) => e ? reject(e) : resolve()))
    const [[msg, rinfo]] = await got
    assert.strictEqual(msg.toString(), 'connected')
    assert.strictEqual(rinfo.tos, 0x10)
    assert.throws(() => s.sendWithOptions('x', { port: 1 }), { code: 'ERR_SOCKET_DGRAM_IS_CONNECTED' })
    assert.throws(() => s.sendWithOptions('x', { tos: 256 }), { code: 'ERR_OUT_OF_RANGE' })
    assert.throws(() => s.sendWithOptions('x', { tos: '1' }), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => s.sendWithOptions('x', { sourceAddress: 5 }), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => s.sendWithOptions('x', { sourceAddress: type === 'udp4' ? '::1' : '127.0.0.1' }),
      { code: 'ERR_INVALID_ARG_VALUE' })

    const u = await bound(t, type, lo)
    assert.throws(() => u.sendWithOptions('x', { address: lo }), { code: 'ERR_SOCKET_BAD_PORT' })
    // A source address that is not the host's: the kernel refuses the send, reported to the
    // callback as any send error is.
    const foreign = type === 'udp4' ? '192.0.2.1' : '2001:db8::1'
    const err = await new Promise((resolve) =>
      u.sendWithOptions('x', { port: r.address().port, address: lo, sourceAddress: foreign }, resolve))
    assert.ok(err && err.syscall === 'send' && typeof err.code === 'string', String(err))

    assert.throws(() => u.sendWithOptions('x', null), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => u.sendWithOptions('x', { port: r.address().port, address: lo }, 5), { code: 'ERR_INVALID_ARG_TYPE' })
    assert.throws(() => u.sendWithOptions('x', { port: r.address().port, address: 5 }), { code: 'ERR_INVALID_ARG_TYPE' })
    // send() keeps node:dgram's meaning for an object in second place (send.test.js compares
    // every such shape with node:dgram's).
  })
}

// Issue 18 item 1: a full read turned receive offload (UDP_GRO) on whatever maxMessageSize said,
// after which a GSO sender's batch was read as one payload, cut at maxMessageSize: 10 of 64
// datagrams arrived, each flagged truncated. maxMessageSize below 65536 pins offload off on
// both receive paths.
for (const backgroundReceive of [false, true]) {
  test(`maxMessageSize pins receive offload off (backgroundReceive: ${backgroundReceive}): a GSO batch after a full read arrives whole`, async (t) => {
    const r = await bound(t, { type: 'udp4', maxMessageSize: 1000, receiveInfo: true, backgroundReceive, recvBufferSize: 1 << 22 }, '127.0.0.1')
    const s = await bound(t, 'udp4', '127.0.0.1')
    const port = r.address().port
    const got = []
    r.on('message', (m, rinfo) => got.push([m.length, rinfo.truncated]))
    // 200 single datagrams sent in one tick: the receiver's first read comes back full.
    for (let i = 0; i < 200; i++) s.send(Buffer.alloc(100), port, '127.0.0.1')
    await until(() => got.length === 200, 3000, 'the single datagrams')
    s.sendBatch(Buffer.alloc(6400), 100, port, '127.0.0.1')
    await until(() => got.length >= 264, 3000, 'the batch')
    await new Promise((resolve) => setTimeout(resolve, 20))
    assert.deepStrictEqual(got.slice(200), Array.from({ length: 64 }, () => [100, false]))
    assert.strictEqual(got.length, 264)
  })
}

// Where the metadata meets the batch API: a 'segments' run carries the receive information of
// its datagrams, and a datagram cut at maxMessageSize is a run of its own flagged truncated; the
// sender is sendBatch's buffer form (whole GSO sends straight from the buffer), on both families.
for (const type of ['udp4', 'udp6']) {
  for (const backgroundReceive of [false, true]) {
    test(`${type} receiveInfo and maxMessageSize with receiveBatches 'segments' (backgroundReceive: ${backgroundReceive}): every datagram, with its information`, async (t) => {
      const r = await bound(t, { type, receiveBatches: 'segments', receiveInfo: true, maxMessageSize: 1000, backgroundReceive }, LOOPBACK[type])
      const s = await bound(t, type, LOOPBACK[type])
      const got = []
      r.on('segments', (data, segmentSize, rinfo) => {
        for (let offset = 0; offset < data.length; offset += segmentSize) {
          got.push([data.subarray(offset, offset + segmentSize).toString(), rinfo.localAddress, rinfo.truncated, rinfo.size === data.length])
        }
      })
      const datagrams = Array.from({ length: 70 }, (_, i) => String(i).padEnd(100, '.'))
      datagrams.push('end')
      s.sendBatch(Buffer.from(datagrams.join('')), 100, r.address().port, LOOPBACK[type])
      await until(() => got.length === 71, 3000, 'the batch')
      s.send(Buffer.alloc(1500, 0x61), r.address().port, LOOPBACK[type])
      await until(() => got.length === 72, 3000, 'the long datagram')
      assert.deepStrictEqual(got.slice(0, 71), datagrams.map((d) => [d, LOOPBACK[type], false, true]))
      assert.deepStrictEqual(got[71], ['a'.repeat(1000), LOOPBACK[type], true, true])
    })
  }
}

test('receiveInfo, maxMessageSize, receiveErrors are validated', () => {
  assert.throws(() => dgram.createSocket({ type: 'udp4', receiveInfo: 1 }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => dgram.createSocket({ type: 'udp4', receiveErrors: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' })
  assert.throws(() => dgram.createSocket({ type: 'udp4', maxMessageSize: 0 }), { code: 'ERR_OUT_OF_RANGE' })
  assert.throws(() => dgram.createSocket({ type: 'udp4', maxMessageSize: 65537 }), { code: 'ERR_OUT_OF_RANGE' })
  assert.throws(() => dgram.createSocket({ type: 'udp4', maxMessageSize: 1.5 }), { code: 'ERR_OUT_OF_RANGE' })
  dgram.createSocket({ type: 'udp4', receiveInfo: false, receiveErrors: false, maxMessageSize: 65536 }).close()
})
