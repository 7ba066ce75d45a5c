'use strict'
// Socket options before and after bind: what each setter returns or throws (EBADF before bind for
// most; some multicast calls make libuv bind the socket implicitly first, as node:dgram does),
// buffer sizes (ERR_SOCKET_BUFFER_SIZE before bind), send queue size/count.
// Multicast groups are joined on the loopback interface only (127.0.0.1): nothing leaves the host.
const assert = require('node:assert')
const { parity, attempt, bindLoopback } = require('./helpers/impls')

const CALLS4 = {
  'setBroadcast(true)': (s) => s.setBroadcast(true),
  'setBroadcast()': (s) => s.setBroadcast(),
  'setTTL(64)': (s) => s.setTTL(64),
  'setTTL(1.5)': (s) => s.setTTL(1.5),
  'setTTL(0)': (s) => s.setTTL(0),
  'setTTL(256)': (s) => s.setTTL(256),
  'setTTL(NaN)': (s) => s.setTTL(NaN),
  "setTTL('64')": (s) => s.setTTL('64'),
  'setMulticastTTL(2)': (s) => s.setMulticastTTL(2),
  'setMulticastTTL(300)': (s) => s.setMulticastTTL(300),
  'setMulticastTTL(-1)': (s) => s.setMulticastTTL(-1),
  'setMulticastTTL(null)': (s) => s.setMulticastTTL(null),
  'setMulticastLoopback(true)': (s) => s.setMulticastLoopback(true),
  "setMulticastLoopback('x')": (s) => s.setMulticastLoopback('x'),
  'setMulticastLoopback(0)': (s) => s.setMulticastLoopback(0),
  "setMulticastInterface('127.0.0.1')": (s) => s.setMulticastInterface('127.0.0.1'),
  "setMulticastInterface('192.0.2.1')": (s) => s.setMulticastInterface('192.0.2.1'),
  "setMulticastInterface('abc')": (s) => s.setMulticastInterface('abc'),
  'setMulticastInterface(1)': (s) => s.setMulticastInterface(1),
  "addMembership('239.255.0.1', '127.0.0.1')": (s) => s.addMembership('239.255.0.1', '127.0.0.1'),
  "add+dropMembership('239.255.0.1', '127.0.0.1')": (s) => { s.addMembership('239.255.0.1', '127.0.0.1'); return s.dropMembership('239.255.0.1', '127.0.0.1') },
  "dropMembership('239.255.0.1', '127.0.0.1') not joined": (s) => s.dropMembership('239.255.0.1', '127.0.0.1'),
  "addMembership('127.0.0.1', '127.0.0.1') not multicast": (s) => s.addMembership('127.0.0.1', '127.0.0.1'),
  'addMembership()': (s) => s.addMembership(),
  "addMembership('')": (s) => s.addMembership(''),
  'dropMembership()': (s) => s.dropMembership(),
  "addMembership('239.255.0.1', 'abc')": (s) => s.addMembership('239.255.0.1', 'abc'),
  "addSourceSpecificMembership('127.0.0.1', '232.1.1.1', '127.0.0.1')": (s) => s.addSourceSpecificMembership('127.0.0.1', '232.1.1.1', '127.0.0.1'),
  'addSourceSpecificMembership(1, 2)': (s) => s.addSourceSpecificMembership(1, 2),
  "dropSourceSpecificMembership('127.0.0.1', '232.1.1.1', '127.0.0.1') not joined": (s) => s.dropSourceSpecificMembership('127.0.0.1', '232.1.1.1', '127.0.0.1'),
  'getSendQueueSize()': (s) => s.getSendQueueSize(),
  'getSendQueueCount()': (s) => s.getSendQueueCount(),
  'getRecvBufferSize()': (s) => typeof s.getRecvBufferSize(),
  'getSendBufferSize()': (s) => typeof s.getSendBufferSize(),
  'setRecvBufferSize(8192)': (s) => s.setRecvBufferSize(8192),
  'setSendBufferSize(8192)': (s) => s.setSendBufferSize(8192),
  'setRecvBufferSize(-1)': (s) => s.setRecvBufferSize(-1),
  'setSendBufferSize(1.5)': (s) => s.setSendBufferSize(1.5),
  "setRecvBufferSize('1')": (s) => s.setRecvBufferSize('1'),
  'setSendBufferSize(2 ** 32)': (s) => s.setSendBufferSize(2 ** 32),
  'address()': (s) => typeof s.address()
}

const CALLS6 = {
  'setTTL(64)': (s) => s.setTTL(64),
  'setMulticastTTL(2)': (s) => s.setMulticastTTL(2),
  "setMulticastInterface('::%lo')": (s) => s.setMulticastInterface('::%lo'),
  "setMulticastInterface('::1')": (s) => s.setMulticastInterface('::1'),
  "addMembership('ff12::1:3', '::1')": (s) => s.addMembership('ff12::1:3', '::1'),
  "addMembership('127.0.0.1')": (s) => s.addMembership('127.0.0.1')
}

for (const [type, calls] of [['udp4', CALLS4], ['udp6', CALLS6]]) {
  for (const bound of [false, true]) {
    parity(`options (${type}, ${bound ? 'bound' : 'before bind'}): each call on a fresh socket`, async (ctx) => {
      const out = {}
      for (const [name, fn] of Object.entries(calls)) {
        const s = ctx.socket(type)
        if (bound) await bindLoopback(s)
        out[name] = attempt(() => fn(s))
      }
      return out
    }, (out) => {
      if (type !== 'udp4') return assert.ok(Object.keys(out).length > 0)
      if (!bound) {
        assert.strictEqual(out['setTTL(64)'].threw.code, 'EBADF')
        assert.strictEqual(out['setTTL(64)'].threw.message, 'setTTL EBADF')
        assert.strictEqual(out['setBroadcast(true)'].threw.code, 'EBADF')
        assert.strictEqual(out['getRecvBufferSize()'].threw.code, 'ERR_SOCKET_BUFFER_SIZE')
        assert.strictEqual(out['getRecvBufferSize()'].threw.name, 'SystemError')
        assert.strictEqual(out['address()'].threw.code, 'EBADF')
        assert.deepStrictEqual(out['getSendQueueSize()'], { returned: 0 })
      } else {
        assert.deepStrictEqual(out['setTTL(64)'], { returned: 64 })
        assert.deepStrictEqual(out['setTTL(1.5)'], { returned: 1.5 })
        assert.strictEqual(out['setTTL(0)'].threw.code, 'EINVAL')
        assert.strictEqual(out["setTTL('64')"].threw.code, 'ERR_INVALID_ARG_TYPE')
        assert.deepStrictEqual(out["setMulticastLoopback('x')"], { returned: 'x' })
        assert.deepStrictEqual(out['setBroadcast(true)'], { returned: undefined })
        assert.deepStrictEqual(out['getRecvBufferSize()'], { returned: 'number' })
        assert.strictEqual(out['setRecvBufferSize(-1)'].threw.code, 'ERR_SOCKET_BAD_BUFFER_SIZE')
        assert.strictEqual(out['addMembership()'].threw.code, 'ERR_MISSING_ARGS')
      }
    })
  }
}

parity('options: buffer sizes round-trip as the kernel reports them', async (ctx) => {
  const s = ctx.socket('udp4')
  await bindLoopback(s)
  const out = []
  for (const size of [4096, 65536, 1 << 20]) {
    s.setRecvBufferSize(size)
    s.setSendBufferSize(size)
    out.push([size, s.getRecvBufferSize(), s.getSendBufferSize()])
  }
  return out
}, (out) => {
  // Linux doubles the requested value (for bookkeeping) and caps it at rmem_max/wmem_max.
  assert.strictEqual(out[0][1], 8192)
  assert.strictEqual(out[1][1], 131072)
})

parity('options: recvBufferSize/sendBufferSize createSocket options are applied at bind', async (ctx) => {
  const s = ctx.socket({ type: 'udp4', recvBufferSize: 10000, sendBufferSize: 20000 })
  const before = attempt(() => s.getRecvBufferSize())
  await bindLoopback(s)
  return { before: before.threw && before.threw.code, recv: s.getRecvBufferSize(), send: s.getSendBufferSize() }
}, (out) => {
  assert.deepStrictEqual(out, { before: 'ERR_SOCKET_BUFFER_SIZE', recv: 20000, send: 40000 })
})

parity('options: ERR_SOCKET_BUFFER_SIZE carries the libuv error in .info', async (ctx) => {
  const s = ctx.socket('udp4')
  return [
    attempt(() => s.getRecvBufferSize()),
    attempt(() => s.setSendBufferSize(1024))
  ]
}, (out) => {
  assert.deepStrictEqual(out[0].threw.info, { errno: -9, code: 'EBADF', message: 'bad file descriptor', syscall: 'uv_recv_buffer_size' })
  assert.strictEqual(out[0].threw.message, 'Could not get or set buffer size: uv_recv_buffer_size returned EBADF (bad file descriptor)')
  assert.strictEqual(out[1].threw.info.syscall, 'uv_send_buffer_size')
})

parity('options: buffer sizes on a closed socket, -0 included, fail as every size does there', async (ctx) => {
  const s = ctx.socket('udp4')
  await bindLoopback(s)
  s.close()
  const out = {}
  for (const size of [-0, 0, 8192, -1]) {
    out[`setRecvBufferSize(${Object.is(size, -0) ? '-0' : size})`] = attempt(() => s.setRecvBufferSize(size))
    out[`setSendBufferSize(${Object.is(size, -0) ? '-0' : size})`] = attempt(() => s.setSendBufferSize(size))
  }
  return out
}, (out) => {
  assert.strictEqual(out['setRecvBufferSize(-0)'].threw.name, 'TypeError')
  assert.deepStrictEqual(out['setRecvBufferSize(-0)'], out['setRecvBufferSize(8192)'])
  assert.strictEqual(out['setSendBufferSize(-1)'].threw.code, 'ERR_SOCKET_BAD_BUFFER_SIZE')
})
