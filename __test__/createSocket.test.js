'use strict'
// createSocket forms, the Socket export, bad socket types (ERR_SOCKET_BAD_TYPE).
const assert = require('node:assert')
const { test } = require('node:test')
const { parity, attempt, IMPLS } = require('./helpers/impls')

test('exports: node:dgram\'s public exports all exist with the same types', () => {
  const node = require('node:dgram')
  const rs = IMPLS[1].load()
  // dgram-rs may add extras; node's own exports must all be there.
  for (const key of ['createSocket', 'Socket']) {
    assert.strictEqual(typeof node[key], 'function')
    assert.strictEqual(typeof rs[key], typeof node[key], key)
  }
  assert.strictEqual(rs.createSocket.length, node.createSocket.length)
})

parity('createSocket: accepted forms give a socket with the right type and listener', (ctx) => {
  const out = []
  const listener = () => {}
  const forms = [
    ['udp4'], ['udp6'], [{ type: 'udp4' }], [{ type: 'udp6' }],
    ['udp4', listener], [{ type: 'udp6' }, listener], ['udp4', 'not a function'],
    [{ type: 'udp4', reuseAddr: true, ipv6Only: false }],
    [{ type: 'udp4', recvBufferSize: 0, sendBufferSize: undefined }]
  ]
  for (const args of forms) {
    const s = ctx.socket(...args)
    out.push({
      type: s.type,
      isSocket: s instanceof ctx.dgram.Socket,
      isEmitter: s instanceof require('node:events').EventEmitter,
      messageListeners: s.listenerCount('message'),
      sameListener: s.listeners('message')[0] === listener
    })
  }
  // new Socket(...) and Socket(...) without new (node's Socket is a plain function).
  const a = ctx.track(new ctx.dgram.Socket('udp4'))
  out.push({ viaNew: a.type, isSocket: a instanceof ctx.dgram.Socket })
  return out
}, (out) => {
  assert.strictEqual(out.length, 10)
  assert.deepStrictEqual(out[0], { type: 'udp4', isSocket: true, isEmitter: true, messageListeners: 0, sameListener: false })
  assert.deepStrictEqual(out[4], { type: 'udp4', isSocket: true, isEmitter: true, messageListeners: 1, sameListener: true })
  assert.strictEqual(out[6].messageListeners, 0)
})

parity('createSocket: bad types throw ERR_SOCKET_BAD_TYPE', (ctx) => {
  const bad = ['udp5', 'UDP4', '', 'tcp', 5, null, undefined, {}, { type: 'udp' }, { type: null }, [], true]
  return bad.map((t) => attempt(() => ctx.socket(t), (s) => s.type))
}, (out) => {
  for (const r of out) {
    assert.ok(r.threw, JSON.stringify(r))
    assert.strictEqual(r.threw.code, 'ERR_SOCKET_BAD_TYPE')
    assert.strictEqual(r.threw.name, 'TypeError')
    assert.strictEqual(r.threw.message, 'Bad socket type specified. Valid types are: udp4, udp6')
    assert.deepStrictEqual(r.threw.instanceOf, ['Error', 'TypeError'])
  }
})

parity('createSocket: option validation (buffer sizes, lookup, signal)', (ctx) => {
  const cases = [
    { type: 'udp4', recvBufferSize: -1 },
    { type: 'udp4', recvBufferSize: 1.5 },
    { type: 'udp4', recvBufferSize: '1024' },
    { type: 'udp4', sendBufferSize: 2 ** 32 },
    { type: 'udp4', sendBufferSize: NaN },
    { type: 'udp4', lookup: 'dns' },
    { type: 'udp4', lookup: null },
    { type: 'udp4', signal: 'nope' },
    { type: 'udp4', signal: {} },
    { type: 'udp4', signal: null },
    { type: 'udp5', lookup: 'dns' } // which check comes first
  ]
  return cases.map((o) => attempt(() => ctx.socket(o), (s) => s.type))
}, (out) => {
  assert.strictEqual(out[0].threw.code, 'ERR_OUT_OF_RANGE')
  assert.strictEqual(out[2].threw.code, 'ERR_INVALID_ARG_TYPE')
  assert.strictEqual(out[5].threw.code, 'ERR_INVALID_ARG_TYPE')
  assert.strictEqual(out[7].threw.code, 'ERR_INVALID_ARG_TYPE')
})
