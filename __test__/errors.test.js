'use strict'
// Error objects in full: own keys in their exact order, class, toString, stack head; and what the
// methods that do not check for a closed socket throw after close (node:dgram reads a property of
// its null handle: a plain TypeError).
const assert = require('node:assert')
const { parity, attempt, until, bindLoopback } = require('./helpers/impls')

function exact (e) {
  return {
    keys: Object.keys(e),
    ownNames: Object.getOwnPropertyNames(e).filter((k) => k !== 'stack').sort(),
    ctor: e.constructor.name,
    instanceOf: ['Error', 'TypeError', 'RangeError'].filter((n) => e instanceof globalThis[n]),
    stackHead: String(e.stack).split('\n')[0],
    string: String(e),
    name: e.name
  }
}

parity('errors: exact own keys, prototype chain and stack head of each kind of error', async (ctx) => {
  const out = {}
  const grab = (name, fn) => { try { fn() } catch (e) { out[name] = exact(e) } }
  grab('badType', () => ctx.socket('udp5'))
  const s = ctx.socket('udp4')
  grab('ebadf', () => s.setTTL(64))
  grab('bufferSize', () => s.getRecvBufferSize())
  grab('badBufferSize', () => s.setRecvBufferSize(-1))
  grab('badPort', () => s.send('x', 0, '127.0.0.1'))
  grab('invalidArgType', () => s.send(1, 9, '127.0.0.1'))
  grab('outOfBounds', () => s.send('x', 5, 1, 9, '127.0.0.1'))
  grab('notConnected', () => s.remoteAddress())
  grab('missingArgs', () => s.addMembership())
  await bindLoopback(s)
  grab('alreadyBound', () => s.bind(0, '127.0.0.1'))
  grab('einval', () => s.setTTL(0))
  const holder = ctx.node('udp4')
  const port = await bindLoopback(holder)
  const u = ctx.socket('udp4')
  out.eaddrinuse = await new Promise((resolve) => { u.on('error', (e) => resolve(exact(e))); u.bind(port, '127.0.0.1') })
  out.eaddrinuse.stackHead = out.eaddrinuse.stackHead.replace(String(port), 'PORT')
  out.eaddrinuse.string = out.eaddrinuse.string.replace(String(port), 'PORT')
  s.close()
  grab('notRunning', () => s.address())
  return out
}, (out) => {
  assert.deepStrictEqual(out.badType.keys, ['code'])
  assert.deepStrictEqual(out.badType.instanceOf, ['Error', 'TypeError'])
  assert.strictEqual(out.badType.stackHead, 'TypeError [ERR_SOCKET_BAD_TYPE]: Bad socket type specified. Valid types are: udp4, udp6')
  assert.deepStrictEqual(out.ebadf.keys, ['errno', 'code', 'syscall'])
  assert.strictEqual(out.ebadf.stackHead, 'Error: setTTL EBADF')
  assert.deepStrictEqual(out.bufferSize.keys, ['code', 'info', 'errno', 'syscall'])
  assert.deepStrictEqual(out.eaddrinuse.keys, ['errno', 'code', 'syscall', 'address', 'port'])
  assert.strictEqual(out.eaddrinuse.stackHead, 'Error: bind EADDRINUSE 127.0.0.1:PORT')
})

parity('errors: methods on a closed socket that node:dgram does not guard', async (ctx) => {
  const s = ctx.socket('udp4')
  await bindLoopback(s)
  s.close()
  const calls = {
    setBroadcast: () => s.setBroadcast(true),
    setTTL: () => s.setTTL(1),
    setMulticastTTL: () => s.setMulticastTTL(1),
    setMulticastLoopback: () => s.setMulticastLoopback(true),
    getRecvBufferSize: () => s.getRecvBufferSize(),
    setSendBufferSize: () => s.setSendBufferSize(1024),
    getSendQueueSize: () => s.getSendQueueSize(),
    getSendQueueCount: () => s.getSendQueueCount(),
    setTTLBadArg: () => s.setTTL('x') // validation comes first
  }
  const out = {}
  for (const [k, fn] of Object.entries(calls)) out[k] = attempt(fn)
  return out
}, (out) => {
  assert.strictEqual(out.setTTL.threw.name, 'TypeError')
  assert.strictEqual(out.setTTL.threw.message, "Cannot read properties of null (reading 'setTTL')")
  assert.strictEqual(out.setTTLBadArg.threw.code, 'ERR_INVALID_ARG_TYPE')
})

parity('errors: a failing lookup during bind is an \'error\' event with the lookup\'s error', async (ctx) => {
  const t = ctx.transcript()
  const s = ctx.socket({ type: 'udp4', lookup: (a, f, cb) => process.nextTick(cb, Object.assign(new Error('nope'), { code: 'ENOTFOUND' })) })
  s.on('error', (e) => t.log('error event', e.message))
  s.bind({ port: 0, address: '127.0.0.1' }) // the lookup fails too: 'error'
  await until(() => t.entries.length === 1)
  return t.entries
}, (entries) => {
  assert.deepStrictEqual(entries, [['error event', 'nope']])
})
